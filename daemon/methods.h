/*
 * methods.h — byold's JSON-RPC methods (DESIGN.md's table) over the store and
 * the scheduler, and the persistence of job events.
 *
 * The table is data (rpc.h): each entry names its handler and its parameter
 * checks, so handlers only ever see valid params. Handlers run on the loop
 * thread; they reach the daemon through the connection's user pointer.
 * job.subscribe registers with the stream module (stream.h), which sends
 * through the connection's sink.
 */
#ifndef BYOL_METHODS_H
#define BYOL_METHODS_H

#include <time.h>

#include "rpc.h"
#include "scheduler.h"
#include "store.h"
#include "stream.h"

struct daemon_ctx {
	struct store *store;
	struct scheduler *sched;
	struct streams *streams;
	char state_dir[4096];
	char token[RPC_TOKEN_LEN + 1];
	time_t started;
	int workers;
};

/* What a connection's rpc_conn.user points at. */
struct methods_conn {
	struct daemon_ctx *d;
	void *client;                        /* the server's connection, for streaming */
	const struct stream_sink_ops *sink;
};

const struct rpc_method *methods_table(size_t *n);

/* Persist one scheduler event of a job: step points as metrics, checkpoints into the
   index, evals, log lines, and the end state with its final metrics. The ids the store
   gives are added to ev (checkpoint_id, eval_id), and a job stopped by the daemon's
   shutdown ends "interrupted", so ev is what subscribers are sent. */
int methods_apply_event(struct daemon_ctx *d, long job_id, cJSON *ev, struct err *e);

/* At start-up: every job found running (its daemon was killed) is marked interrupted;
   those and the queued ones go back to the scheduler, an interrupted job resuming from
   its newest checkpoint whose sha256 still matches (damaged ones are dropped from the
   index), with its metrics after that step deleted so none are duplicated. */
int methods_recover(struct daemon_ctx *d, int *requeued, struct err *e);

#endif
