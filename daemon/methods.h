/*
 * methods.h — byold's JSON-RPC methods (DESIGN.md's table) over the store and
 * the scheduler, and the persistence of job events.
 *
 * The table is data (rpc.h): each entry names its handler and its parameter
 * checks, so handlers only ever see valid params. Handlers run on the loop
 * thread; they reach the daemon through the connection's user pointer.
 * Streaming (job.subscribe) belongs to the server and is not here.
 */
#ifndef BYOL_METHODS_H
#define BYOL_METHODS_H

#include <time.h>

#include "rpc.h"
#include "scheduler.h"
#include "store.h"

struct daemon_ctx {
	struct store *store;
	struct scheduler *sched;
	char state_dir[4096];
	char token[RPC_TOKEN_LEN + 1];
	time_t started;
	int workers;
};

/* What a connection's rpc_conn.user points at. */
struct methods_conn {
	struct daemon_ctx *d;
};

const struct rpc_method *methods_table(size_t *n);

/* Persist one scheduler event of a job: step points as metrics, checkpoints into the
   index, evals, log lines, and the end state with its final metrics. */
int methods_apply_event(struct daemon_ctx *d, long job_id, const cJSON *ev, struct err *e);

/* At start-up: every job found running (its daemon was killed) is marked interrupted;
   those and the queued ones go back to the scheduler, an interrupted job resuming from
   its newest checkpoint whose sha256 still matches (damaged ones are dropped from the
   index), with its metrics after that step deleted so none are duplicated. */
int methods_recover(struct daemon_ctx *d, int *requeued, struct err *e);

#endif
