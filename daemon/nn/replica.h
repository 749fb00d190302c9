/*
 * replica.h — the seam where data-parallel replicas must agree.
 *
 * Each of n replicas (MPI ranks, daemon/dist) trains on its slice of every
 * global batch, and its loss is the mean over its slice. Two things are
 * summed across replicas: the gradients after backward (then divided by n:
 * the mean of the slices' gradients is the global batch's), and, in training
 * mode with synchronised BatchNorm, the batch statistics (count, sum, sum of
 * squares; and the two sums of BN's backward). Replicas also agree on
 * whether to stop (any), and check that their parameters are equal (same).
 * A single process passes NULL, which is the identity.
 */
#ifndef BYOL_NN_REPLICA_H
#define BYOL_NN_REPLICA_H

#include <stddef.h>
#include <stdint.h>

struct replica {
	int rank, n;                                         /* this replica, of n */
	void (*sum_f64)(void *ctx, double *buf, size_t len); /* in-place allreduce */
	void (*sum_f32)(void *ctx, float *buf, size_t len);
	/* Non-blocking sums: start one (buf must stay untouched), let the started ones
	   progress, wait until all are done. NULL: sum_f32 at once. */
	void (*start_sum_f32)(void *ctx, float *buf, size_t len);
	void (*progress)(void *ctx);
	void (*wait_sums)(void *ctx);
	int (*any)(void *ctx, int flag);                     /* flag OR-ed over replicas */
	int (*same)(void *ctx, uint64_t value);              /* value equal on every replica? */
	void (*wait_all)(void *ctx); /* until every replica is here, without a time limit */
	void *ctx;
};

static inline int replica_count(const struct replica *r)
{
	return r && r->n > 1 ? r->n : 1;
}

static inline void replica_sum_f64(const struct replica *r, double *buf, size_t len)
{
	if (r && r->sum_f64)
		r->sum_f64(r->ctx, buf, len);
}

static inline void replica_sum_f32(const struct replica *r, float *buf, size_t len)
{
	if (r && r->sum_f32)
		r->sum_f32(r->ctx, buf, len);
}

/* Start summing buf (the sum is there after replica_wait_sums). */
static inline void replica_start_sum_f32(const struct replica *r, float *buf, size_t len)
{
	if (r && r->start_sum_f32)
		r->start_sum_f32(r->ctx, buf, len);
	else
		replica_sum_f32(r, buf, len);
}

static inline void replica_progress(const struct replica *r)
{
	if (r && r->progress)
		r->progress(r->ctx);
}

static inline void replica_wait_sums(const struct replica *r)
{
	if (r && r->wait_sums)
		r->wait_sums(r->ctx);
}

static inline void replica_wait_all(const struct replica *r)
{
	if (r && r->wait_all)
		r->wait_all(r->ctx);
}

static inline int replica_any(const struct replica *r, int flag)
{
	return r && r->any ? r->any(r->ctx, flag) : flag;
}

static inline int replica_same(const struct replica *r, uint64_t value)
{
	return r && r->same ? r->same(r->ctx, value) : 1;
}

#endif
