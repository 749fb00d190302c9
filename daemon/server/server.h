/*
 * server.h — byold's libuv loop: the Unix socket (and TCP when configured),
 * one line-framed JSON-RPC connection per client, the scheduler's events
 * persisted as they arrive, and the signals that stop the daemon.
 *
 * One loop thread owns every handle, every connection and the store. Workers
 * reach it only through the scheduler's event queue and uv_async_send.
 * Unix-socket clients are trusted (the socket is 0660 in the state or runtime
 * directory); TCP clients must `auth` with the state directory's token before
 * anything but server.hello.
 */
#ifndef BYOL_SERVER_H
#define BYOL_SERVER_H

#include "server/methods.h"

struct server_config {
	const char *socket_path;
	int unix_fd, tcp_fd;     /* sockets systemd passed (notify_listen_fds), else -1 */
	const char *listen;      /* "HOST:PORT" or NULL: no TCP */
	const char *tls_cert, *tls_key; /* TCP over TLS with these PEM files (NULL: plaintext) */
	size_t max_line;         /* bytes per request line */
	size_t max_output;       /* bytes queued to one client before it is cut off */
	size_t output_soft;      /* above this backlog a subscriber's step points are dropped */
	double output_soft_s;    /* a backlog above output_soft this long cuts the client off */
	int max_clients;
	double idle_timeout_s;   /* no complete request this long closes a client (not a
				    subscriber reading its events); 0 = never */
};

/* Calls into byold's main, on the loop thread; either may be NULL. */
struct server_hooks {
	/* Once listening: the Unix socket's path and the TCP "HOST:PORT" (NULL: none). */
	void (*ready)(void *ctx, const char *unix_path, const char *tcp_addr);
	/* SIGHUP: the owner of cfg may change its limits in place. */
	void (*reload)(void *ctx);
	void *ctx;
};

/* Makes path free to bind byold's Unix socket at: it is free already, or a stale
   socket of a killed byold (nothing answers it), which is removed. A running byold's
   socket (another state dir) and anything that is not a socket are left alone:
   ERR_BAD_STATE naming the path. byold calls it before it starts any job. */
int server_claim_socket(const char *path, struct err *e);

/* Run until SIGTERM or SIGINT (SIGPIPE is ignored: a client gone mid-reply is an
   error of that client alone): then running jobs checkpoint, their end events are
   stored, and the function returns 0. Under systemd socket activation the passed
   sockets are used instead of binding; with $WATCHDOG_USEC the loop sends WATCHDOG=1
   at half the interval, and STATUS= tells how many jobs run and wait. */
int server_run(struct daemon_ctx *d, const struct server_config *cfg,
	       const struct server_hooks *hooks, struct err *e);

#endif
