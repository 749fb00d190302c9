/*
 * notify.h — systemd's readiness protocol without libsystemd: one datagram
 * to $NOTIFY_SOCKET ("READY=1", "STOPPING=1", "STATUS=..."). A no-op when
 * the variable is unset (not started by systemd).
 */
#ifndef BYOL_NOTIFY_H
#define BYOL_NOTIFY_H

/* Send msg; returns 0, or -1 if $NOTIFY_SOCKET is set but the send failed. */
int notify_systemd(const char *msg);

#endif
