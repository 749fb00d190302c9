/*
 * web/web.h — the dashboard: byold's HTTP listener (--http HOST:PORT), on a
 * thread and libuv loop of its own, serving the embedded front-end bundle and
 * carrying the browser's JSON-RPC to byold's Unix socket (web/bridge.h), so
 * the pages read the same store and events, under the same limits, as byolctl.
 *
 * HTTP and WebSocket come from libwebsockets (its libuv event library, on this
 * loop). Routes:
 *
 *   GET  /, /app.js, /app.css   the bundle (nothing else is a file)
 *   POST /api/login             {"token": T} → a session cookie (HttpOnly,
 *                               SameSite=Strict, Path=/) and {"csrf": C}
 *   GET  /api/session           {"csrf": C} of the cookie's session, else 401
 *   POST /api/logout            ends the session
 *   POST /api/rpc               one JSON-RPC request → its response
 *   WS   /api/ws?csrf=C         JSON-RPC, one request or response or
 *                               notification per text message (subprotocol
 *                               "byol-rpc"): subscriptions stream here
 *
 * Every request's Host must name this listener (its host, localhost, a
 * loopback address, or one of cfg->names) at its port, against DNS rebinding;
 * an Origin, when sent (always for a WebSocket), must be this Host. Everything
 * under /api/ but login needs the session cookie, and everything that changes
 * state (POSTs, the WebSocket) its CSRF token too (header X-CSRF-Token, or the
 * csrf query argument). No CORS headers are sent; every response carries a
 * Content-Security-Policy that allows only the bundle's own script and style.
 */
#ifndef BYOL_WEB_H
#define BYOL_WEB_H

#include <stddef.h>

#include "err.h"

struct web_config {
	const char *listen;       /* "HOST:PORT" (port 0: any free one) */
	const char *names;        /* more Host names to accept, comma-separated ("" none) */
	const char *socket_path;  /* byold's Unix socket, where the RPC goes */
	const char *token;        /* what a login must present */
	int max_conns;            /* HTTP and WebSocket connections at once */
	double timeout_s;         /* a request's headers and body must arrive within this */
	size_t max_line;          /* bytes of one JSON-RPC message */
	const char *tls_cert;     /* HTTPS with this certificate and tls_key (NULL: HTTP) */
	const char *tls_key;
};

struct web_server;

/* Bind cfg->listen and start the web thread. Errors: the address, the bind. */
int web_start(struct web_server **w, const struct web_config *cfg, struct err *e);

/* The port bound (the one chosen when 0 was asked). */
int web_port(const struct web_server *w);

/* Stop the thread, close every connection, free; NULL is allowed. */
void web_stop(struct web_server *w);

#endif
