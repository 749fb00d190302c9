/*
 * server/conn.h — one client connection of byold: bytes framed into lines,
 * lines answered in order through the dispatch (server/rpc.h), replies and
 * events queued under the client's output limits.
 *
 * A line is answered at once, or queued behind the one being answered while
 * reads pause, so a client holds at most one read's worth of lines. A line
 * is answered a request at a time: after SLICE_NS of loop time the rest
 * waits for the next loop turn, so other clients are served meanwhile; a
 * method's prepare step runs in libuv's thread pool while the client waits.
 * Replies count against the output limit as they are built. Once a client
 * is closing, nothing more it sent is run, and its memory goes only when its
 * handles are closed and no prepare step still uses it.
 */
#ifndef BYOL_SERVER_CONN_H
#define BYOL_SERVER_CONN_H

#include <sys/socket.h>

#include <uv.h>

#include "server/methods.h"
#include "server/server.h"

struct tls_server;

struct client;

/* What the connections share: the server (or a test) sets it up. */
struct conn_server {
	uv_loop_t *loop;
	struct daemon_ctx *d;
	const struct server_config *cfg;
	struct tls_server *tls;  /* TCP clients speak TLS (NULL: plaintext) */
	struct client *clients;  /* open connections */
	int n_clients;
	int n_alive;             /* connections whose memory is not yet freed (closing too) */
};

/* Accept a connection from listener; tcp: it must auth first. Past max_clients it is
   closed at once. */
void conn_accept(struct conn_server *s, uv_stream_t *listener, int tcp);

/* Close one client (idempotent), or every client. */
void conn_close(struct client *c);
void conn_close_all(struct conn_server *s);

/* "host:port" of an IPv4 or IPv6 address. */
void conn_addr_name(const struct sockaddr_storage *a, char *out, size_t cap);

#endif
