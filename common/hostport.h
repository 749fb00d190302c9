/*
 * hostport.h — "HOST:PORT" as byold's --listen and byolctl's --host take it:
 * a non-empty host (an IPv6 address in brackets, "[::1]:7070"), a colon, and
 * a decimal port 0..65535 (0: any free port, for a listener).
 */
#ifndef BYOL_HOSTPORT_H
#define BYOL_HOSTPORT_H

#include <stddef.h>

#include "err.h"

/* Splits s into host (brackets removed, host_cap bytes) and *port; ERR_INVALID with
   a message naming s if it is not HOST:PORT. */
int hostport_parse(const char *s, char *host, size_t host_cap, int *port, struct err *e);

#endif
