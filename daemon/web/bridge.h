/*
 * web/bridge.h — one dashboard client's JSON-RPC, carried to byold's own Unix
 * socket: the browser speaks the same protocol, through the same dispatch,
 * limits and subscriptions as byolctl, and the web thread never touches the
 * store or the scheduler.
 *
 * The bridge is a connection on the web thread's loop. Lines the browser sends
 * are written to byold; each line byold sends is handed to on_line. While more
 * than BRIDGE_BACKLOG bytes wait for the browser, the bridge stops reading, so
 * byold's own output limits apply to a slow browser as to a slow byolctl.
 */
#ifndef BYOL_WEB_BRIDGE_H
#define BYOL_WEB_BRIDGE_H

#include <stddef.h>

#include <uv.h>

#define BRIDGE_BACKLOG ((size_t)1 << 20)

struct bridge;

struct bridge_hooks {
	/* A line from byold (without "\n"; NUL-terminated, valid during the call). */
	void (*on_line)(void *ctx, const char *line, size_t len);
	/* byold closed the connection, or it failed: no more lines come. */
	void (*on_closed)(void *ctx);
};

/* Connect to socket_path; lines may be sent at once (they wait for the connect). */
struct bridge *bridge_open(uv_loop_t *loop, const char *socket_path, size_t max_line,
			   const struct bridge_hooks *h, void *ctx);

/* Send one line (a "\n" is added). -1 once the bridge is closed or out of memory. */
int bridge_send(struct bridge *b, const char *line, size_t len);

/* The browser's side holds this many bytes not yet delivered (its own queue):
   above BRIDGE_BACKLOG reading from byold pauses, below it resumes. */
void bridge_backlog(struct bridge *b, size_t bytes);

/* Close and free (no hook is called after this). */
void bridge_close(struct bridge *b);

#endif
