/*
 * linear.c — fully connected layer, PyTorch layout: weight (OUT,IN).
 * The three products run on the pool-split gemm.
 */
#include "nn/ops.h"

#include <string.h>

void linear_forward(struct pool *p, float *out, const float *inp, const float *weight,
		    const float *bias, int n, int in, int out_dim)
{
	float beta = 0.0f;
	if (bias) {
		for (int i = 0; i < n; i++)
			memcpy(out + (size_t)i * out_dim, bias, sizeof(float) * (size_t)out_dim);
		beta = 1.0f;
	}
	gemm(p, 0, 1, n, out_dim, in, 1.0f, inp, in, weight, in, beta, out, out_dim);
}

struct colsum_task {
	float *dst;
	const float *src;
	int rows, cols;
};

/* dst[j] += Σ_i src[i][j], split over column bands. */
static void colsum_band(void *arg, int tid, int nth)
{
	const struct colsum_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->cols, tid, nth, &lo, &hi);
	for (int i = 0; i < t->rows; i++) {
		const float *row = t->src + (size_t)i * t->cols;
		for (size_t j = lo; j < hi; j++)
			t->dst[j] += row[j];
	}
}

void linear_backward(struct pool *p, float *dinp, float *dweight, float *dbias,
		     const float *dout, const float *inp, const float *weight, int n, int in,
		     int out_dim)
{
	if (dinp)
		gemm(p, 0, 0, n, in, out_dim, 1.0f, dout, out_dim, weight, in, 1.0f, dinp, in);
	if (dweight)
		gemm(p, 1, 0, out_dim, in, n, 1.0f, dout, out_dim, inp, in, 1.0f, dweight, in);
	if (dbias) {
		struct colsum_task t = { .dst = dbias, .src = dout, .rows = n, .cols = out_dim };
		pool_run(p, colsum_band, &t);
	}
}
