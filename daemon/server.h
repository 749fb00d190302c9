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

#include "methods.h"

struct server_config {
	const char *socket_path;
	const char *listen;      /* "HOST:PORT" or NULL: no TCP */
	size_t max_line;         /* bytes per request line */
	size_t max_output;       /* bytes queued to one client before it is cut off */
	int max_clients;
	double idle_timeout_s;   /* a client silent this long is closed; 0 = never */
};

/* Run until SIGTERM or SIGINT: then running jobs checkpoint, their end events are
   stored, and the function returns 0. ready(ctx, tcp_port) is called once listening. */
int server_run(struct daemon_ctx *d, const struct server_config *cfg,
	       void (*ready)(void *ctx, int tcp_port), void *ctx, struct err *e);

#endif
