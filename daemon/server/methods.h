/*
 * methods.h — byold's JSON-RPC methods (byold(8), "JSON-RPC PROTOCOL") over the store and
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

#include "jobs/jobs.h"
#include "server/rpc.h"
#include "server/stream.h"

struct daemon_ctx {
	struct jobs jobs;   /* the store, the scheduler, the state dir */
	struct streams *streams;
	char token[RPC_TOKEN_LEN + 1];
	time_t started;
	int workers;
	int max_queued;     /* submits past this many waiting jobs are refused (-32005) */
};

/* What a connection's rpc_conn.user points at. */
struct methods_conn {
	struct daemon_ctx *d;
	void *client;                        /* the server's connection, for streaming */
	const struct stream_sink_ops *sink;
};

const struct rpc_method *methods_table(size_t *n);

#endif
