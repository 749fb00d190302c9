/*
 * replica.h — the seam where data-parallel replicas must agree.
 *
 * Two things are summed across replicas: gradients after backward, and the
 * BatchNorm batch statistics (count, sum, sum of squares; and the two sums of
 * BN's backward) in training mode. A single process passes NULL, which is the
 * identity; an MPI build will supply an allreduce here and nothing else changes.
 */
#ifndef BYOL_NN_REPLICA_H
#define BYOL_NN_REPLICA_H

#include <stddef.h>

struct replica {
	void (*sum_f64)(void *ctx, double *buf, size_t len); /* in-place allreduce */
	void (*sum_f32)(void *ctx, float *buf, size_t len);
	void *ctx;
};

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

#endif
