/*
 * rpcclient.h — byolctl's JSON-RPC 2.0 connection to byold over its Unix
 * socket, or over TCP after `auth` with the state directory's token.
 *
 * One compact JSON value per line each way (byold(8), "JSON-RPC
 * PROTOCOL"). Calls are made one at a time; job.event notifications may
 * arrive between a request and its reply, so the reader routes every line by
 * the presence of "id": replies complete the call, notifications wait in a
 * queue for rpcc_next_note.
 *
 *	struct rpcc r;
 *	struct ctl_err e;
 *	cJSON *res;
 *	if (rpcc_open(&r, &target, &e) || rpcc_call(&r, "job.get", params, &res, &e))
 *		fail with e.exit and e.msg;
 *	while (rpcc_next_note(&r, 1000, &note, &e) == 0) { if (note) ...; }
 *	rpcc_close(&r);
 */
#ifndef BYOLCTL_RPCCLIENT_H
#define BYOLCTL_RPCCLIENT_H

#include <cjson/cJSON.h>

#include "util.h"

#define RPCC_MAX_LINE ((size_t)256 << 20) /* the longest reply line accepted */
#define RPCC_CALL_TIMEOUT_MS 120000       /* no reply this long: the daemon is stuck */

/* Where byold listens: a Unix socket path, or a TCP host and port with the token file. */
struct rpcc_target {
	char socket[4096];     /* "" for TCP */
	char host[256], port[16];
	char token_file[4096];
	int tls;               /* TCP over TLS (tls_client.h) */
	char tls_ca[4096];     /* verify against this CA file; "" = pin the fingerprint */
	char where[4400];      /* "unix:PATH", "tcp:HOST:PORT" or "tls:HOST:PORT", for messages */
};

struct rpcc_note; /* a queued notification */
struct tlsc;

struct rpcc {
	int fd;                     /* -1 when closed */
	struct tlsc *tls;           /* the TLS session over fd, or NULL */
	struct rpc_framer *framer;
	long next_id;
	long want_id;               /* the id of the call in flight */
	cJSON *reply;               /* its response, once read */
	struct rpcc_note *head, *tail;
	int eof;                    /* the daemon closed the connection */
	const struct rpcc_target *target;
};

/* Connects (and authenticates over TCP). Exit codes: 69 unreachable, 77 token refused. */
int rpcc_open(struct rpcc *r, const struct rpcc_target *t, struct ctl_err *e);

/* Closes the connection and drops queued notifications; safe twice. */
void rpcc_close(struct rpcc *r);

/* Sends method(params) — params (may be NULL) is consumed — and waits for its
 * reply, queueing notifications that arrive first. On success *result is the
 * result (the caller's to delete); on a JSON-RPC error, the exit code its code
 * maps to, with the daemon's message (and data {field, reason}) in e. */
int rpcc_call(struct rpcc *r, const char *method, cJSON *params, cJSON **result,
	      struct ctl_err *e);

/* The next notification's params (the caller's to delete; the method is not
 * kept: byold only sends job.event), waiting up to timeout_ms (−1: forever).
 * 0 with *note NULL on timeout or EINTR; CTL_UNAVAILABLE once the daemon has
 * closed the connection and the queue is empty. */
int rpcc_next_note(struct rpcc *r, int timeout_ms, cJSON **note, struct ctl_err *e);

#endif
