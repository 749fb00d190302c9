/*
 * eltwise.c — ReLU and the residual add, split into contiguous ranges.
 * The loops are branch-free so the compiler vectorises them.
 */
#include "nn/ops.h"

struct eltwise_task {
	float *out;
	const float *a, *b;
	size_t len;
};

static void relu_range(void *arg, int tid, int nth)
{
	const struct eltwise_task *t = arg;
	size_t lo, hi;
	pool_split(t->len, tid, nth, &lo, &hi);
	float *out = t->out;
	const float *x = t->a;
	for (size_t i = lo; i < hi; i++) {
		float v = x[i];
		out[i] = v > 0.0f ? v : 0.0f;
	}
}

/* out += a where b > 0. */
static void relu_grad_range(void *arg, int tid, int nth)
{
	const struct eltwise_task *t = arg;
	size_t lo, hi;
	pool_split(t->len, tid, nth, &lo, &hi);
	float *restrict out = t->out;
	const float *restrict dy = t->a, *restrict y = t->b;
	for (size_t i = lo; i < hi; i++) {
		float d = dy[i]; /* loaded unconditionally so the select vectorises */
		out[i] += y[i] > 0.0f ? d : 0.0f;
	}
}

/* out = 0 where b <= 0 (in-place gradient). */
static void relu_mask_range(void *arg, int tid, int nth)
{
	const struct eltwise_task *t = arg;
	size_t lo, hi;
	pool_split(t->len, tid, nth, &lo, &hi);
	float *restrict g = t->out;
	const float *restrict y = t->b;
	for (size_t i = lo; i < hi; i++) {
		float v = g[i];
		g[i] = y[i] > 0.0f ? v : 0.0f;
	}
}

static void add_range(void *arg, int tid, int nth)
{
	const struct eltwise_task *t = arg;
	size_t lo, hi;
	pool_split(t->len, tid, nth, &lo, &hi);
	float *out = t->out;
	const float *a = t->a, *b = t->b;
	for (size_t i = lo; i < hi; i++)
		out[i] = a[i] + b[i];
}

static void accumulate_range(void *arg, int tid, int nth)
{
	const struct eltwise_task *t = arg;
	size_t lo, hi;
	pool_split(t->len, tid, nth, &lo, &hi);
	float *restrict out = t->out;
	const float *restrict a = t->a;
	for (size_t i = lo; i < hi; i++)
		out[i] += a[i];
}

/* Small tensors are not worth waking the team for. */
static void eltwise_run(struct pool *p, pool_task_fn fn, struct eltwise_task *t)
{
	if (t->len < 32768)
		fn(t, 0, 1);
	else
		pool_run(p, fn, t);
}

void relu_forward(struct pool *p, float *out, const float *inp, size_t len)
{
	struct eltwise_task t = { .out = out, .a = inp, .len = len };
	eltwise_run(p, relu_range, &t);
}

void relu_backward(struct pool *p, float *dinp, const float *dout, const float *out, size_t len)
{
	struct eltwise_task t = { .out = dinp, .a = dout, .b = out, .len = len };
	eltwise_run(p, dinp == dout ? relu_mask_range : relu_grad_range, &t);
}

void add_forward(struct pool *p, float *out, const float *a, const float *b, size_t len)
{
	struct eltwise_task t = { .out = out, .a = a, .b = b, .len = len };
	eltwise_run(p, add_range, &t);
}

void add_backward(struct pool *p, float *dst, const float *src, size_t len)
{
	struct eltwise_task t = { .out = dst, .a = src, .len = len };
	eltwise_run(p, accumulate_range, &t);
}
