/*
 * eltwise.c — ReLU and the residual add, split into contiguous ranges.
 */
#include "ops.h"

struct eltwise_task {
	float *out;
	const float *a, *b, *c;
	size_t len;
};

#define ELTWISE_LOOP(name, body)                                        \
	static void name(void *arg, int tid, int nth)                   \
	{                                                               \
		const struct eltwise_task *t = arg;                     \
		size_t lo, hi;                                          \
		pool_split(t->len, tid, nth, &lo, &hi);                 \
		float *out = t->out;                                    \
		const float *a = t->a, *b = t->b, *c = t->c;            \
		(void)a;                                                \
		(void)b;                                                \
		(void)c;                                                \
		for (size_t i = lo; i < hi; i++)                        \
			body;                                           \
	}

ELTWISE_LOOP(relu_range, out[i] = a[i] > 0.0f ? a[i] : 0.0f)
ELTWISE_LOOP(relu_grad_range, out[i] += c[i] > 0.0f ? a[i] : 0.0f)
ELTWISE_LOOP(relu_mask_range, out[i] = c[i] > 0.0f ? out[i] : 0.0f)
ELTWISE_LOOP(add_range, out[i] = a[i] + b[i])
ELTWISE_LOOP(accumulate_range, out[i] += a[i])

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
	struct eltwise_task t = { .out = dinp, .a = dout, .c = out, .len = len };
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
