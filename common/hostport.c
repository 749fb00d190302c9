/*
 * hostport.c — HOST:PORT (see hostport.h).
 */
#include "hostport.h"

#include <string.h>

int hostport_parse(const char *s, char *host, size_t host_cap, int *port, struct err *e)
{
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hl = colon ? (size_t)(colon - s) : 0, digits = colon ? strlen(colon + 1) : 0;
	long p = 0;
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	for (size_t i = 0; i < digits && digits <= 5; i++)
		p = colon[1 + i] >= '0' && colon[1 + i] <= '9' ? p * 10 + (colon[1 + i] - '0') : -1;
	if (!colon || hl == 0 || hl >= host_cap || digits == 0 || digits > 5 || p < 0 ||
	    p > 65535)
		return err_set(e, ERR_INVALID, "expected HOST:PORT, got \"%.100s\"", s);
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (int)p;
	return 0;
}
