/*
 * tls_client.h — byolctl's TLS to byold (--tls, OpenSSL): TLS 1.3 over the
 * connected TCP socket, the certificate either verified against a CA file
 * (--tls-ca: the chain and the host name) or pinned like ssh's known_hosts:
 * its SHA-256 fingerprint recorded for HOST:PORT on first use, and a changed
 * one refused.
 *
 * The known_hosts file is $BYOLCTL_KNOWN_HOSTS, else
 * $XDG_CONFIG_HOME/byolctl/known_hosts, else ~/.config/byolctl/known_hosts;
 * one line per daemon: "HOST:PORT SHA256-FINGERPRINT".
 */
#ifndef BYOLCTL_TLS_CLIENT_H
#define BYOLCTL_TLS_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

#include "util.h"

struct tlsc;

/* The handshake on fd (connected to host:port). Exit codes: 69 no TLS there,
   77 the certificate is not the pinned one or fails verification. */
int tlsc_open(struct tlsc **t, int fd, const char *host, const char *port, const char *ca_file,
	      struct ctl_err *e);

/* Bytes read (> 0), 0 when byold closed, -1 on an error. */
ssize_t tlsc_read(struct tlsc *t, void *buf, size_t n);

/* Whether decrypted bytes wait to be read (poll would not see them). */
int tlsc_pending(const struct tlsc *t);

/* 0 when all n bytes went, else -1. */
int tlsc_write(struct tlsc *t, const void *buf, size_t n);

/* Ends the session (not the fd); NULL is allowed. */
void tlsc_close(struct tlsc *t);

#endif
