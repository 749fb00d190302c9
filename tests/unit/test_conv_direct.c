/*
 * test_conv_direct.c — the direct 3×3 convolution (nn/conv_direct.c) on
 * every instruction set this CPU has, against a float64 convolution.
 *
 * Each output of forward, backward-data and backward-weights is a sum of n
 * float32 products (n = C·9, OC·9 or N·H·W) added onto a start value
 * (backward accumulates). Summed in any order, with or without fused
 * multiply-adds, its error is at most γ(n+1)·Σ|terms|, γ(n) = n·u/(1−n·u),
 * u = 2⁻²⁴ (Higham, Accuracy and Stability of Numerical Algorithms, §3.1):
 * every element must hold that bound, computed beside the float64 value.
 * The shapes cover single images and groups, batches that split unevenly
 * over two threads, planes from 1×1 to 28×28, non-square planes, one input
 * channel, more channels than a register block, and 1×1 layers (forward and
 * input gradient; their weight gradient is im2col's).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/conv_direct.h"
#include "nn/isa.h"
#include "rng.h"

#define U 0x1p-24

struct shape {
	int n, c, h, w, oc, bias, k;
};

static const struct shape SHAPES[] = {
	{ 1, 4, 5, 5, 4, 0, 3 },     { 5, 16, 28, 28, 16, 1, 3 }, { 3, 4, 7, 7, 8, 1, 3 },
	{ 7, 8, 4, 4, 12, 0, 3 },    { 2, 1, 9, 11, 4, 1, 3 },    { 3, 32, 14, 14, 32, 0, 3 },
	{ 2, 4, 5, 13, 8, 1, 3 },    { 3, 4, 1, 1, 4, 0, 3 },     { 4, 128, 4, 4, 128, 0, 3 },
	{ 2, 12, 2, 3, 20, 1, 3 },   { 5, 64, 8, 8, 16, 1, 1 },   { 3, 16, 7, 5, 64, 0, 1 },
	{ 9, 256, 2, 2, 32, 0, 1 },  { 2, 1, 6, 6, 4, 1, 1 },
};

static double gamma_n(double n)
{
	return n * U / (1 - n * U);
}

struct bufs {
	struct conv2d_dims d;
	size_t nin, nout, nw;
	float *x, *w, *b, *y, *dy, *dx, *dw, *db, *work;
	float *dx0, *dw0, *db0; /* the starts backward accumulates onto */
};

static float *randn(struct rng *r, size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_normal(r);
	return p;
}

static float *copy(const float *src, size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	memcpy(p, src, n * sizeof *p);
	return p;
}

static void bufs_init(struct bufs *b, const struct shape *s, int nth, struct rng *r)
{
	assert_int_equal(conv2d_dims_init(&b->d, s->n, s->c, s->h, s->w, s->oc, s->k, 1, s->k / 2), 0);
	b->nin = (size_t)s->n * s->c * s->h * s->w;
	b->nout = (size_t)s->n * s->oc * s->h * s->w;
	b->nw = (size_t)s->oc * s->c * s->k * s->k;
	b->x = randn(r, b->nin);
	b->w = randn(r, b->nw);
	b->b = s->bias ? randn(r, (size_t)s->oc) : NULL;
	b->dy = randn(r, b->nout);
	b->y = randn(r, b->nout); /* forward must overwrite it */
	b->dx0 = randn(r, b->nin);
	b->dw0 = randn(r, b->nw);
	b->db0 = randn(r, (size_t)s->oc);
	b->dx = copy(b->dx0, b->nin);
	b->dw = copy(b->dw0, b->nw);
	b->db = copy(b->db0, (size_t)s->oc);
	b->work = malloc(conv_direct_work_floats(&b->d, nth) * sizeof(float));
}

static void bufs_free(struct bufs *b)
{
	float *all[] = { b->x, b->w, b->b, b->y, b->dy, b->dx, b->dw, b->db, b->work,
			 b->dx0, b->dw0, b->db0 };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		free(all[i]);
}

/* Input pixel of tap (ky, kx) for output (y, x), or NULL in the padding. */
static const float *tap(const float *plane, const struct conv2d_dims *d, int y, int x, int ky,
			int kx)
{
	int iy = y + ky - d->pad, ix = x + kx - d->pad;
	return iy < 0 || iy >= d->h || ix < 0 || ix >= d->w ? NULL : plane + iy * d->w + ix;
}

/* Fails unless |got − (start + sum)| ≤ γ(n+1)·(|start| + mag). */
static int within(const char *what, size_t i, double got, double start, double sum, double mag,
		  double n, double *worst)
{
	double err = fabs(got - (start + sum)), bound = gamma_n(n + 1) * (fabs(start) + mag);
	if (bound > 0 && err / bound > *worst)
		*worst = err / bound;
	if (err <= bound)
		return 0;
	fprintf(stderr, "%s[%zu]: %.9g, want %.9g, error %.3g over bound %.3g\n", what, i, got,
		start + sum, err, bound);
	return 1;
}

static int check_forward(const struct bufs *b, double *worst)
{
	const struct conv2d_dims *d = &b->d;
	const int kk = d->k * d->k;
	int bad = 0;
	for (int i = 0; i < d->n; i++)
		for (int o = 0; o < d->oc; o++)
			for (int y = 0; y < d->h; y++)
				for (int x = 0; x < d->w; x++) {
					double sum = 0, mag = 0;
					for (int c = 0; c < d->c; c++)
						for (int t = 0; t < kk; t++) {
							const float *p = tap(b->x + ((size_t)i * d->c + c) * d->h * d->w, d, y, x, t / d->k, t % d->k);
							double v = p ? (double)*p * b->w[((size_t)o * d->c + c) * kk + t] : 0;
							sum += v;
							mag += fabs(v);
						}
					size_t k = (((size_t)i * d->oc + o) * d->h + y) * d->w + x;
					double bias = b->b ? b->b[o] : 0;
					bad |= within("y", k, b->y[k], bias, sum, mag, (double)d->c * kk, worst);
				}
	return bad;
}

static int check_dinp(const struct bufs *b, double *worst)
{
	const struct conv2d_dims *d = &b->d;
	const int kk = d->k * d->k;
	const size_t hw = (size_t)d->h * d->w;
	int bad = 0;
	for (int i = 0; i < d->n; i++)
		for (int c = 0; c < d->c; c++)
			for (int y = 0; y < d->h; y++)
				for (int x = 0; x < d->w; x++) {
					double sum = 0, mag = 0;
					for (int o = 0; o < d->oc; o++)
						for (int t = 0; t < kk; t++) {
							/* output (y−ky+pad, x−kx+pad) reads this pixel at tap t */
							int oy = y - t / d->k + d->pad, ox = x - t % d->k + d->pad;
							if (oy < 0 || oy >= d->h || ox < 0 || ox >= d->w)
								continue;
							double v = (double)b->dy[((size_t)i * d->oc + o) * hw + (size_t)oy * d->w + ox] *
								   b->w[((size_t)o * d->c + c) * kk + t];
							sum += v;
							mag += fabs(v);
						}
					size_t k = ((size_t)i * d->c + c) * hw + (size_t)y * d->w + x;
					bad |= within("dx", k, b->dx[k], b->dx0[k], sum, mag, (double)d->oc * kk, worst);
				}
	return bad;
}

static int check_dweight(const struct bufs *b, double *worst)
{
	const struct conv2d_dims *d = &b->d;
	const size_t hw = (size_t)d->h * d->w;
	const double n = (double)d->n * hw;
	const int kk = d->k * d->k;
	int bad = 0;
	for (int o = 0; o < d->oc; o++) {
		double sb = 0, mb = 0;
		for (int c = 0; c < d->c; c++)
			for (int t = 0; t < kk; t++) {
				double sum = 0, mag = 0;
				for (int i = 0; i < d->n; i++)
					for (int y = 0; y < d->h; y++)
						for (int x = 0; x < d->w; x++) {
							const float *p = tap(b->x + ((size_t)i * d->c + c) * hw, d, y, x, t / d->k, t % d->k);
							double v = p ? (double)*p * b->dy[((size_t)i * d->oc + o) * hw + (size_t)y * d->w + x] : 0;
							sum += v;
							mag += fabs(v);
						}
				size_t k = ((size_t)o * d->c + c) * kk + t;
				bad |= within("dw", k, b->dw[k], b->dw0[k], sum, mag, n, worst);
			}
		for (int i = 0; i < d->n; i++)
			for (size_t j = 0; j < hw; j++) {
				double v = b->dy[((size_t)i * d->oc + o) * hw + j];
				sb += v;
				mb += fabs(v);
			}
		if (b->b)
			bad |= within("db", (size_t)o, b->db[o], b->db0[o], sb, mb, n, worst);
	}
	return bad;
}

/* Workspace full of NaN: a value the kernels read without writing it first shows. */
static void poison(float *work, size_t n)
{
	for (size_t i = 0; i < n; i++)
		work[i] = NAN;
}

/* Every shape on one instruction set with nth threads; returns the worst error ÷ bound. */
static double run_isa(enum nn_isa isa, int nth)
{
	struct pool *pool;
	struct err e = { 0 };
	assert_int_equal(pool_init(&pool, nth, &e), 0);
	assert_int_equal(nn_isa_set(isa), 0);
	struct rng r;
	rng_init(&r, 7, (uint64_t)isa);
	double worst = 0;
	for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
		struct bufs b;
		bufs_init(&b, &SHAPES[s], nth, &r);
		assert_true(conv_direct_supported(&b.d));
		poison(b.work, conv_direct_work_floats(&b.d, nth));
		conv_direct_forward(pool, b.y, b.work, b.x, b.w, b.b, &b.d);
		poison(b.work, conv_direct_work_floats(&b.d, nth));
		int with_dinp = conv_direct_supported_dinp(&b.d);
		int with_dw = conv_direct_supported_weights(&b.d);
		conv_direct_backward(pool, with_dinp ? b.dx : NULL, with_dw ? b.dw : NULL,
				     b.b && with_dw ? b.db : NULL, b.work, b.dy, b.x, b.w, &b.d);
		int bad = check_forward(&b, &worst);
		if (with_dw)
			bad |= check_dweight(&b, &worst);
		if (with_dinp)
			bad |= check_dinp(&b, &worst);
		if (bad)
			fail_msg("%s, %d threads: shape %zu (n=%d c=%d %dx%d oc=%d) out of bounds",
				 nn_isa_name(isa), nth, s, b.d.n, b.d.c, b.d.h, b.d.w, b.d.oc);
		bufs_free(&b);
	}
	pool_free(pool);
	return worst;
}

static void test_every_isa(void **state)
{
	(void)state;
	enum nn_isa before = nn_isa();
	for (int isa = NN_ISA_GENERIC; isa <= NN_ISA_AVX512; isa++) {
		if (!nn_isa_supported((enum nn_isa)isa)) {
			print_message("%-8s not on this CPU: not run\n", nn_isa_name((enum nn_isa)isa));
			continue;
		}
		for (int nth = 1; nth <= 2; nth++)
			print_message("%-8s %d thread(s): worst error %.3f of its bound\n",
				      nn_isa_name((enum nn_isa)isa), nth, run_isa((enum nn_isa)isa, nth));
	}
	nn_isa_set(before);
}

/*
 * Through conv2d_* (conv.c): every layer, whichever paths its directions take
 * on this instruction set (direct, im2col, or a split of the two), within the
 * same bounds; the workspace is sized with the direct path off and poisoned,
 * then used with it on, as when the switches change after a net is sized.
 */
static void test_dispatch(void **state)
{
	(void)state;
	enum nn_isa before = nn_isa();
	struct pool *pool;
	struct err e = { 0 };
	assert_int_equal(pool_init(&pool, 2, &e), 0);
	struct rng r;
	rng_init(&r, 13, 0);
	double worst = 0;
	for (int isa = NN_ISA_GENERIC; isa <= NN_ISA_AVX512; isa++) {
		if (nn_isa_set((enum nn_isa)isa))
			continue;
		for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
			struct bufs b;
			bufs_init(&b, &SHAPES[s], 2, &r);
			conv_direct_enable(0);
			size_t need = conv2d_work_floats(&b.d, 2);
			conv_direct_enable(1);
			float *work = malloc(need * sizeof(float));
			poison(work, need);
			conv2d_forward(pool, b.y, work, b.x, b.w, b.b, &b.d);
			poison(work, need);
			conv2d_backward(pool, b.dx, b.dw, b.b ? b.db : NULL, work, b.dy, b.x, b.w, &b.d);
			if (check_forward(&b, &worst) | check_dinp(&b, &worst) | check_dweight(&b, &worst))
				fail_msg("%s: shape %zu out of bounds through conv2d_*",
					 nn_isa_name((enum nn_isa)isa), s);
			free(work);
			bufs_free(&b);
		}
	}
	print_message("through conv2d_*: worst error %.3f of its bound\n", worst);
	nn_isa_set(before);
	pool_free(pool);
}

/* The backward products are independent: computed apart they give the same bits. */
static void test_backward_parts_apart(void **state)
{
	(void)state;
	struct pool *pool;
	struct err e = { 0 };
	assert_int_equal(pool_init(&pool, 2, &e), 0);
	struct rng r;
	rng_init(&r, 11, 0);
	struct bufs b;
	bufs_init(&b, &SHAPES[1], 2, &r);
	conv_direct_backward(pool, b.dx, b.dw, b.db, b.work, b.dy, b.x, b.w, &b.d);
	float *dx = copy(b.dx0, b.nin), *dw = copy(b.dw0, b.nw), *db = copy(b.db0, 16);
	conv_direct_backward(pool, dx, NULL, NULL, b.work, b.dy, b.x, b.w, &b.d);
	conv_direct_backward(pool, NULL, dw, db, b.work, b.dy, b.x, b.w, &b.d);
	assert_memory_equal(dx, b.dx, b.nin * sizeof(float));
	assert_memory_equal(dw, b.dw, b.nw * sizeof(float));
	assert_memory_equal(db, b.db, 16 * sizeof(float));
	free(dx);
	free(dw);
	free(db);
	bufs_free(&b);
	pool_free(pool);
}

static void test_supported_shapes(void **state)
{
	(void)state;
	struct conv2d_dims d;
	conv2d_dims_init(&d, 2, 16, 8, 8, 16, 3, 1, 1);
	assert_true(conv_direct_supported(&d) && conv_direct_supported_dinp(&d));
	conv2d_dims_init(&d, 2, 3, 8, 8, 16, 3, 1, 1);
	assert_true(conv_direct_supported(&d) && !conv_direct_supported_dinp(&d));
	conv2d_dims_init(&d, 2, 16, 8, 8, 10, 3, 1, 1);
	assert_false(conv_direct_supported(&d));
	conv2d_dims_init(&d, 2, 16, 8, 8, 16, 3, 2, 1);
	assert_false(conv_direct_supported(&d));
	conv2d_dims_init(&d, 2, 16, 8, 8, 16, 1, 1, 0);
	assert_true(conv_direct_supported(&d) && conv_direct_supported_dinp(&d));
	assert_false(conv_direct_supported_weights(&d));
	conv2d_dims_init(&d, 2, 16, 8, 8, 16, 1, 2, 0);
	assert_false(conv_direct_supported(&d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_isa),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_backward_parts_apart),
		cmocka_unit_test(test_supported_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
