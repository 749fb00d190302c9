/*
 * rpc_frame.c — line framing for JSON-RPC connections, without I/O.
 *
 * Bytes arrive in arbitrary pieces; complete lines leave through a callback.
 * The only memory is the current partial line, bounded by the cap: a line that
 * passes it is dropped at once (an endless line costs nothing more), and the
 * framer stays in that state so the server replies −32600 and closes.
 */
#include "rpc_frame.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_MAX_CAP ((size_t)1 << 30) /* the largest max_line accepted */
#define FRAME_MIN_ALLOC 256
#define FRAME_KEEP_ALLOC (64 * 1024)    /* larger buffers are released after their line */

struct rpc_framer {
	char *buf;       /* the partial line; NUL-terminated before delivery */
	size_t len;      /* bytes in buf */
	size_t alloc;    /* bytes allocated, ≤ max_line + 1 */
	size_t max_line; /* bytes before "\n" */
	int state;       /* 0, or the sticky RPC_FRAME_OVERSIZE / ERR_NOMEM */
};

int rpc_framer_init(struct rpc_framer **f, size_t max_line, struct err *e)
{
	*f = NULL;
	if (max_line == 0)
		max_line = RPC_MAX_LINE_DEFAULT;
	if (max_line > FRAME_MAX_CAP)
		return err_set(e, ERR_RANGE, "max line %zu bytes is over %zu", max_line,
			       FRAME_MAX_CAP);
	*f = calloc(1, sizeof **f);
	if (!*f)
		return err_set(e, ERR_NOMEM, "out of memory for a line framer");
	(*f)->max_line = max_line;
	return 0;
}

void rpc_framer_free(struct rpc_framer *f)
{
	if (!f)
		return;
	free(f->buf);
	free(f);
}

void rpc_framer_set_max_line(struct rpc_framer *f, size_t max_line)
{
	if (max_line == 0)
		max_line = RPC_MAX_LINE_DEFAULT;
	f->max_line = max_line < FRAME_MAX_CAP ? max_line : FRAME_MAX_CAP;
}

size_t rpc_framer_buffered(const struct rpc_framer *f)
{
	return f->len;
}

size_t rpc_framer_allocated(const struct rpc_framer *f)
{
	return f->alloc;
}

/* Drops the partial line and its buffer, entering the sticky state. */
static int framer_fail(struct rpc_framer *f, int state)
{
	free(f->buf);
	f->buf = NULL;
	f->len = f->alloc = 0;
	f->state = state;
	return state;
}

/* Appends n bytes (the caller checked the cap), growing buf geometrically up to
 * max_line + 1 so the terminating NUL always fits. */
static int framer_append(struct rpc_framer *f, const char *p, size_t n)
{
	size_t need = f->len + n + 1;
	if (n == 0)
		return 0;
	if (need > f->alloc) {
		size_t alloc = f->alloc ? f->alloc : FRAME_MIN_ALLOC;
		while (alloc < need)
			alloc *= 2;
		if (alloc > f->max_line + 1)
			alloc = need > f->max_line + 1 ? need : f->max_line + 1;
		char *buf = realloc(f->buf, alloc);
		if (!buf)
			return framer_fail(f, ERR_NOMEM);
		f->buf = buf;
		f->alloc = alloc;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return 0;
}

/* Hands the complete line in buf to on_line (unless it is empty) and starts
 * the next one, releasing a large buffer. */
static void framer_deliver(struct rpc_framer *f,
			   void (*on_line)(void *ctx, char *line, size_t len), void *ctx)
{
	size_t len = f->len;
	if (len > 0 && f->buf[len - 1] == '\r')
		len--;
	if (len > 0) {
		f->buf[len] = '\0';
		on_line(ctx, f->buf, len);
	}
	f->len = 0;
	if (f->alloc > FRAME_KEEP_ALLOC) {
		free(f->buf);
		f->buf = NULL;
		f->alloc = 0;
	}
}

int rpc_framer_feed(struct rpc_framer *f, const char *buf, size_t len,
		    void (*on_line)(void *ctx, char *line, size_t len), void *ctx)
{
	while (len > 0 && f->state == 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t take = nl ? (size_t)(nl - buf) : len;
		if (f->len > f->max_line || take > f->max_line - f->len)
			return framer_fail(f, RPC_FRAME_OVERSIZE);
		if (framer_append(f, buf, take) < 0)
			return f->state;
		if (!nl)
			break;
		framer_deliver(f, on_line, ctx);
		buf += take + 1;
		len -= take + 1;
	}
	return f->state;
}
