/*
 * server/rpc.h — byold's JSON-RPC 2.0 dispatch, without any I/O.
 *
 * byold(8), "JSON-RPC PROTOCOL". The server owns the sockets; this
 * layer turns bytes into lines and lines into responses:
 *
 *   rpc_framer      bytes of one connection → complete lines ("\n"; a trailing
 *                   "\r" is dropped; empty lines are ignored), each at most
 *                   max_line bytes. A longer line poisons the framer: it reports
 *                   RPC_FRAME_OVERSIZE, keeps nothing, and the server replies
 *                   −32600 and closes.
 *   rpc_handle_line one line → zero or one response line, through a method table
 *                   that is data (Redis): name, handler, flags, parameter schema.
 *
 * One dispatch path checks every request in this order, and a handler only
 * ever runs on a request that passed all of it:
 *
 *   line is UTF-8, has no control byte but tab/CR/LF and no \u0000,
 *     and is one JSON value (whitespace around it allowed)         else −32700
 *   request shape: an object with exactly the members jsonrpc ("2.0"),
 *     method (string), id (string, number or null; optional), params
 *     (object or array; optional), none repeated                   else −32600
 *   auth: an unauthenticated connection may call only RPC_BEFORE_AUTH
 *     methods, and nothing at all after too many failed auth calls else −32001
 *   the method exists                                              else −32601
 *   params match the method's table (named, known, typed, bounded) else −32602
 *                                                with data {field, reason}
 *   the handler: result, or its error (−32602/3, −32001/4/5/9; anything
 *     else becomes −32603)
 *
 * A request without "id" is a notification and is never answered, not even
 * with an error. A malformed request (one that is not a valid Request object)
 * is answered whether or not it has an id, with its id when that is a valid id
 * and null otherwise, as the specification's examples do. Batches: an array of
 * 1..RPC_BATCH_MAX requests, handled in order (an auth early in a batch
 * authenticates the rest), answered by an array of the non-notification
 * responses, or by nothing when there are none.
 *
 *	static int m_hello(struct rpc_conn *c, const cJSON *params, cJSON **result,
 *			   struct rpc_error *err) { ... *result = obj; return 0; }
 *	static const struct rpc_param job_id_only[] = {
 *		{ "job_id", RPC_INT, 1, 1, RPC_ID_MAX }, { 0 } };
 *	static const struct rpc_method methods[] = {
 *		{ "server.hello", m_hello, RPC_BEFORE_AUTH, NULL, 0 },
 *		{ "job.get", m_job_get, 0, job_id_only, 0 }, };
 *
 *	on_line(ctx, line, len):              (from rpc_framer_feed)
 *		char *out;
 *		int rc = rpc_handle_line(methods, 2, &conn->rpc, line, len, &out);
 *		if (out) send(out + "\n"), free(out);
 *		if (rc != 0) close after the send;
 *
 * Response lines are malloc'd (free()), compact, one line: cJSON escapes
 * control characters, so no response contains a raw "\n". Strings the
 * dispatcher echoes (ids, keys, method names) come from validated UTF-8, and
 * error messages, fields and reasons are made valid UTF-8 ('?' for bad bytes);
 * a handler's result is sent as the handler built it.
 */
#ifndef BYOL_RPC_H
#define BYOL_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "rpc_frame.h"

/* rpc_handle_line's result when the server must close after sending the reply. */
#define RPC_CLOSE 1

/* ---- the method table ------------------------------------------------- */

/* Per-connection state; the server owns it and zero-initialises it. */
struct rpc_conn {
	int authed;                 /* may call every method: set by the server for Unix
				       sockets, by rpc_auth_check for TCP */
	unsigned auth_failures;     /* failed auth calls while unauthenticated */
	unsigned max_auth_failures; /* lock-out threshold; 0 means RPC_AUTH_MAX_FAILURES */
	void *user;                 /* the server's per-connection data */
	void *prepared;             /* while a handler with a prepare step runs: what it made */
};

/* An error a handler reports (or the dispatcher builds). field/reason, when
 * set, become the error's data {field, reason}. An empty message gets the
 * code's standard one ("Not found"). */
struct rpc_error {
	int code;
	char message[256];
	char field[128];
	char reason[256];
};

/* A handler sees only params that passed its table: an object, or NULL when
 * the request had none. It returns 0 and sets *result (a new cJSON value the
 * dispatcher owns; NULL is an internal error), or a negative value with err
 * set (rpc_error_set and friends return err->code for `return`). */
typedef int (*rpc_handler)(struct rpc_conn *c, const cJSON *params, cJSON **result,
			   struct rpc_error *err);

enum rpc_type {
	RPC_INT = 1, /* an integral number, |v| ≤ RPC_INT_MAX; bounds: min..max */
	RPC_NUMBER,  /* a finite number; bounds: min..max */
	RPC_STRING,  /* bounds: length in bytes, min..max */
	RPC_BOOL,
	RPC_OBJECT,  /* contents are the handler's to check */
	RPC_ARRAY,   /* bounds: element count, min..max */
};

/* One named parameter. Bounds apply unless min and max are both 0. A JSON
 * null is a value of the wrong type, not an absent parameter. Positive ids:
 * { "job_id", RPC_INT, 1, 1, RPC_ID_MAX }. */
struct rpc_param {
	const char *name;
	enum rpc_type type;
	int required;
	double min, max;
};

#define RPC_BEFORE_AUTH 1u /* callable before auth (server.hello, auth) */

/* Work a method does before its handler, off the loop thread: it sees only the
 * params (no daemon state), and what it makes reaches the handler as c->prepared,
 * then release. A failure (negative, err set) is the request's error. */
typedef int (*rpc_prepare_fn)(const cJSON *params, void **prepared, struct rpc_error *err);

struct rpc_method {
	const char *name;
	rpc_handler fn;
	unsigned flags;                /* RPC_BEFORE_AUTH */
	const struct rpc_param *params; /* terminated by a NULL name; NULL: none */
	int open_params;               /* keys not listed are allowed (job.submit's spec) */
	rpc_prepare_fn prepare;        /* NULL: none */
	void (*release)(void *prepared);
};

/* Handles one request line (need not be NUL-terminated). *out receives a
 * malloc'd response line without "\n", or NULL when nothing is to be sent.
 * Returns 0; RPC_CLOSE when the server must close after sending *out (the
 * connection is locked out after too many failed auth calls); or ERR_NOMEM
 * when not even an error line could be built. When memory runs out midway,
 * *out is a −32603 line with id null. */
int rpc_handle_line(const struct rpc_method *table, size_t n, struct rpc_conn *c,
		    const char *line, size_t len, char **out);

/* ---- calls: a line answered one request at a time ---------------------- */

/* The server answers a line in steps so that a batch never holds the loop for
 * long, its output is counted as it is built, and a method's prepare step can
 * run on another thread:
 *
 *	rpc_call_begin(&k, table, n, conn, line, len);
 *	while ((step = rpc_call_step(k)) != RPC_STEP_DONE) {
 *		if (step == RPC_STEP_PREPARE) rpc_call_prepare(k);  // off the loop
 *		if (rpc_call_bytes(k) > limit) { rpc_call_free(k); close; }
 *		if (time is up) come back later;
 *	}
 *	rc = rpc_call_finish(k, &out);  // like rpc_handle_line's
 *
 * rpc_handle_line does exactly this with no limits, preparing inline. */
struct rpc_call;

enum rpc_step {
	RPC_STEP_DONE = 0,    /* every request answered: rpc_call_finish */
	RPC_STEP_MORE = 1,    /* step again */
	RPC_STEP_PREPARE = 2, /* run rpc_call_prepare (any thread), then step again */
};

/* Parses the line; 0 or ERR_NOMEM. The line need not outlive the call. */
int rpc_call_begin(struct rpc_call **call, const struct rpc_method *table, size_t n,
		   struct rpc_conn *c, const char *line, size_t len);
/* Answers the next request (or the line's parse error); an enum rpc_step. */
int rpc_call_step(struct rpc_call *call);
/* The pending request's prepare step; touches nothing but the call. */
void rpc_call_prepare(struct rpc_call *call);
/* Bytes of the responses built so far. */
size_t rpc_call_bytes(const struct rpc_call *call);
/* *out and the result as rpc_handle_line gives them; frees the call. */
int rpc_call_finish(struct rpc_call *call, char **out);
/* Abandons a call (its client closed); NULL is allowed. */
void rpc_call_free(struct rpc_call *call);

/* ---- helpers for the server and handlers ------------------------------ */

/* Sets err's code and printf-style message (field and reason cleared); returns code. */
int rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A −32602 naming field, reason printf-style; returns RPC_INVALID_PARAMS. */
int rpc_error_param(struct rpc_error *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Maps an ERR_* error to its JSON-RPC code (NOTFOUND −32004, BUSY −32005, STATE −32009,
 * INVALID and RANGE −32602, others −32603) keeping the message; returns the code. */
int rpc_error_from_err(struct rpc_error *err, const struct err *e);

/* A complete error line {"jsonrpc":"2.0","error":{code,message},"id":null}
 * (malloc'd, no "\n"), e.g. for RPC_FRAME_OVERSIZE; NULL if out of memory. */
char *rpc_error_line(int code, const char *message);

/* Values of params that passed their table, or dflt when absent. */
int64_t rpc_param_int(const cJSON *params, const char *name, int64_t dflt);
double rpc_param_number(const cJSON *params, const char *name, double dflt);
const char *rpc_param_string(const cJSON *params, const char *name, const char *dflt);
int rpc_param_bool(const cJSON *params, const char *name, int dflt);

/* {"jsonrpc":"2.0","method":method,"params":params} — a notification the
 * server pushes (job.event). Takes params (deleted on failure); NULL if out of memory. */
cJSON *rpc_notification(const char *method, cJSON *params);

/* msg as one compact line without "\n" (malloc'd); NULL if out of memory. */
char *rpc_format(const cJSON *msg);

/* 1 if a and b are equal tokens of RPC_TOKEN_LEN characters, else 0. Takes the
 * same time whatever the contents and wherever they differ; a length mismatch
 * fails after the full comparison (NULL fails at once). */
int rpc_token_equal(const char *a, const char *b);

/* For the server's auth handler: compares presented with expected in constant
 * time. On a match, authenticates c and returns 0. Otherwise sets err (−32001),
 * counts a failure if c is not authenticated (an authenticated connection
 * stays so), and returns RPC_UNAUTHORIZED; rpc_handle_line then returns
 * RPC_CLOSE once the failures reach the threshold. */
int rpc_auth_check(struct rpc_conn *c, const char *expected, const char *presented,
		   struct rpc_error *err);

#endif
