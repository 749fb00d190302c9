/*
 * notify.h — systemd integration without libsystemd.
 *
 * Readiness: one datagram to $NOTIFY_SOCKET ("READY=1", "STOPPING=1",
 * "STATUS=...", "WATCHDOG=1"); a no-op when the variable is unset (not started
 * by systemd). Watchdog: $WATCHDOG_USEC (for this process if $WATCHDOG_PID
 * names it). Socket activation: the listening sockets passed from fd 3 when
 * $LISTEN_PID is this process.
 */
#ifndef BYOL_NOTIFY_H
#define BYOL_NOTIFY_H

#include <stdint.h>

/* Send msg; returns 0, or -1 if $NOTIFY_SOCKET is set but the send failed. */
int notify_systemd(const char *msg);

/* The watchdog interval in microseconds systemd expects WATCHDOG=1 within, or 0 if none. */
uint64_t notify_watchdog_usec(void);

/* Socket activation: the first passed listening stream socket of family AF_UNIX
   (*unix_fd) and AF_INET or AF_INET6 (*tcp_fd), -1 where there is none. The fds
   are made close-on-exec and the LISTEN_* variables unset, so this answers once. */
void notify_listen_fds(int *unix_fd, int *tcp_fd);

#endif
