/*
 * pool.h — a fixed team of compute threads for one job.
 *
 * Every kernel of the compute core takes a pool and splits its work with
 * pool_run: the caller runs as thread 0, the pool's other threads run the
 * rest, and pool_run returns when all are done. OpenBLAS is set to one
 * thread by pool_init, so each team member calls sgemm on its own slice and
 * the machine is never oversubscribed; a job's thread budget is the team size.
 *
 *     static void task(void *ctx, int tid, int nth) { ... rows tid*n/nth .. }
 *     struct pool *p; pool_init(&p, 2, &err); pool_run(p, task, &ctx); pool_free(p);
 */
#ifndef BYOL_POOL_H
#define BYOL_POOL_H

#include <stddef.h>

#include "err.h"

struct pool;

typedef void (*pool_task_fn)(void *ctx, int tid, int nth);

/* threads <= 0 means one per online core. */
int pool_init(struct pool **out, int threads, struct err *e);
void pool_free(struct pool *p);
int pool_threads(const struct pool *p);

/* Run fn(ctx, tid, nth) for tid = 0..nth-1 in parallel; returns when all finished. */
void pool_run(struct pool *p, pool_task_fn fn, void *ctx);

/* The half-open slice [*lo, *hi) of n items that thread tid of nth owns. */
static inline void pool_split(size_t n, int tid, int nth, size_t *lo, size_t *hi)
{
	*lo = n * (size_t)tid / (size_t)nth;
	*hi = n * (size_t)(tid + 1) / (size_t)nth;
}

/* Number of online cores. */
int pool_cores(void);

#endif
