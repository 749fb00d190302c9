/*
 * web/bridge.c — a dashboard client's connection to byold's socket (see bridge.h).
 */
#include "web/bridge.h"

#include <stdlib.h>
#include <string.h>

#include "rpc_frame.h"

struct bridge {
	uv_pipe_t pipe;
	uv_connect_t connect;
	struct rpc_framer *framer;
	struct bridge_hooks h;
	void *ctx;
	int closed;   /* bridge_close called: no hooks */
	int ended;    /* byold's side ended: on_closed called */
	int connected;
	int paused;   /* the browser's backlog is too long */
	int reading;
};

struct send {
	uv_write_t req;
	char buf[];
};

static void on_handle_closed(uv_handle_t *h)
{
	struct bridge *b = h->data;
	rpc_framer_free(b->framer);
	free(b);
}

static void end(struct bridge *b)
{
	if (b->ended)
		return;
	b->ended = 1;
	if (b->reading)
		uv_read_stop((uv_stream_t *)&b->pipe);
	b->reading = 0;
	if (!b->closed && b->h.on_closed)
		b->h.on_closed(b->ctx);
}

static void alloc_read(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	static char space[65536]; /* one loop thread: the bytes are framed before the next read */
	*buf = uv_buf_init(space, sizeof space);
}

static void deliver(void *ctx, char *line, size_t len)
{
	struct bridge *b = ctx;
	if (!b->closed && !b->ended && b->h.on_line)
		b->h.on_line(b->ctx, line, len);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct bridge *b = s->data;
	if (n < 0) {
		end(b);
		return;
	}
	if (n > 0 && rpc_framer_feed(b->framer, buf->base, (size_t)n, deliver, b) != 0)
		end(b); /* a line past the cap: byold never sends one */
}

static void start_reading(struct bridge *b)
{
	if (b->connected && !b->paused && !b->reading && !b->ended && !b->closed)
		b->reading = uv_read_start((uv_stream_t *)&b->pipe, alloc_read, on_read) == 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct bridge *b = req->data;
	b->connected = status == 0;
	if (status < 0)
		end(b);
	else
		start_reading(b);
}

struct bridge *bridge_open(uv_loop_t *loop, const char *socket_path, size_t max_line,
			   const struct bridge_hooks *h, void *ctx)
{
	struct bridge *b = calloc(1, sizeof *b);
	struct err e;
	if (!b)
		return NULL;
	if (rpc_framer_init(&b->framer, max_line, &e) != 0 || uv_pipe_init(loop, &b->pipe, 0) != 0) {
		rpc_framer_free(b->framer);
		free(b);
		return NULL;
	}
	b->h = *h;
	b->ctx = ctx;
	b->pipe.data = b;
	b->connect.data = b;
	uv_pipe_connect(&b->connect, &b->pipe, socket_path, on_connect);
	return b;
}

static void on_sent(uv_write_t *req, int status)
{
	struct send *s = (struct send *)req;
	struct bridge *b = req->handle->data;
	free(s);
	if (status < 0)
		end(b);
}

int bridge_send(struct bridge *b, const char *line, size_t len)
{
	if (b->closed || b->ended)
		return -1;
	struct send *s = malloc(sizeof *s + len + 1);
	if (!s)
		return -1;
	memcpy(s->buf, line, len);
	s->buf[len] = '\n';
	uv_buf_t buf = uv_buf_init(s->buf, (unsigned)(len + 1));
	if (uv_write(&s->req, (uv_stream_t *)&b->pipe, &buf, 1, on_sent) != 0) {
		free(s);
		end(b);
		return -1;
	}
	return 0;
}

void bridge_backlog(struct bridge *b, size_t bytes)
{
	if (bytes > BRIDGE_BACKLOG)
		b->paused = 1;
	else if (bytes <= BRIDGE_BACKLOG / 2)
		b->paused = 0;
	if (b->paused && b->reading) {
		uv_read_stop((uv_stream_t *)&b->pipe);
		b->reading = 0;
	}
	start_reading(b);
}

void bridge_close(struct bridge *b)
{
	if (!b || b->closed)
		return;
	b->closed = 1;
	if (!uv_is_closing((uv_handle_t *)&b->pipe))
		uv_close((uv_handle_t *)&b->pipe, on_handle_closed);
}
