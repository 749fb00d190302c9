/*
 * rpc_frame.h — what byold and its clients share of JSON-RPC 2.0 (byold(8),
 * "JSON-RPC PROTOCOL"): the error codes, the limits, and the framing of
 * a byte stream into lines (one compact JSON value per "\n"-terminated line).
 * byold's dispatch (daemon/server/rpc.h) and byolctl both build on it.
 */
#ifndef BYOL_RPC_FRAME_H
#define BYOL_RPC_FRAME_H

#include <stddef.h>

#include "err.h"

/* JSON-RPC error codes: the specification's, then byold's own. */
enum rpc_code {
	RPC_PARSE_ERROR = -32700,      /* not JSON (id null) */
	RPC_INVALID_REQUEST = -32600,  /* not a Request object; also an oversize line */
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,   /* data: {field, reason} */
	RPC_INTERNAL_ERROR = -32603,
	RPC_UNAUTHORIZED = -32001,
	RPC_NOT_FOUND = -32004,        /* no such job, checkpoint, eval, subscription */
	RPC_BUSY = -32005,             /* busy or a limit reached */
	RPC_BAD_STATE = -32009,        /* not allowed in the object's current state */
};

/* Limits and defaults. */
#define RPC_MAX_LINE_DEFAULT ((size_t)1 << 20) /* bytes per line, "\n" excluded */
#define RPC_PREAUTH_MAX_LINE ((size_t)4096)    /* suggested cap until a TCP client authenticates */
#define RPC_BATCH_MAX 1000                     /* requests per batch */
#define RPC_AUTH_MAX_FAILURES 3u               /* failed auth calls before disconnecting */
#define RPC_TOKEN_LEN 64                       /* hex characters in the state dir's token */
#define RPC_INT_MAX 9007199254740991.0         /* 2^53 − 1: |RPC_INT| values a double holds exactly */
#define RPC_ID_MAX 999999999999999.0           /* 10^15 − 1: the largest id cJSON 1.7.15 prints
						  exactly (it may print 15 significant digits) */

/* rpc_framer_feed's result when a line passes the cap (distinct from ERR_*). */
#define RPC_FRAME_OVERSIZE (-64)

/* ---- framing ---------------------------------------------------------- */

struct rpc_framer;

/* A framer for one connection; max_line 0 means RPC_MAX_LINE_DEFAULT. The line
 * buffer grows with the longest partial line (never past max_line + 1) and is
 * released after a line longer than 64 KiB. 0, ERR_RANGE (max_line > 1 GiB) or
 * ERR_NOMEM. */
int rpc_framer_init(struct rpc_framer **f, size_t max_line, struct err *e);

/* Frees the framer; NULL is allowed. */
void rpc_framer_free(struct rpc_framer *f);

/* Changes the cap for bytes not yet framed (e.g. RPC_PREAUTH_MAX_LINE until
 * auth succeeds, then the configured cap; an on_line callback may call it). A
 * partial line already past the new cap makes the next feed report oversize. */
void rpc_framer_set_max_line(struct rpc_framer *f, size_t max_line);

/* Feeds len bytes (len 0 is not an error). Calls on_line(ctx, line, len) for
 * each complete non-empty line in order; line is NUL-terminated, writable, and
 * valid until the callback returns; len excludes the "\n" and a stripped "\r".
 * The cap counts the bytes before "\n" ("\r" included), so a line is refused
 * as soon as its partial length passes max_line, without waiting for "\n".
 * Returns 0; RPC_FRAME_OVERSIZE once a line passes the cap (lines before it
 * were delivered; this and every later feed drop their bytes and return it);
 * or ERR_NOMEM (also sticky). To stop mid-feed, have on_line ignore lines. */
int rpc_framer_feed(struct rpc_framer *f, const char *buf, size_t len,
		    void (*on_line)(void *ctx, char *line, size_t len), void *ctx);

/* Bytes of the incomplete line held (0 after oversize). */
size_t rpc_framer_buffered(const struct rpc_framer *f);

/* Bytes of line buffer allocated (≤ max_line + 1). */
size_t rpc_framer_allocated(const struct rpc_framer *f);

#endif
