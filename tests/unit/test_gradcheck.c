/*
 * test_gradcheck.c — every kernel's backward against central finite
 * differences of its forward, on tiny shapes in float32.
 *
 * The loss is L = Σ y·r for a fixed random r, accumulated in double; each
 * checked gradient entry g is compared with (L(x+ε) − L(x−ε)) / 2ε. Backward
 * kernels accumulate, so the gradients start from random values and g is
 * what the kernel added to them. The
 * error of a tensor is max|g − fd| / max|g|, required ≤ 1e-2 (float32
 * forward passes limit finite differences to about that).
 *
 * Whole networks are checked against PyTorch instead (tests/ref): there,
 * ReLU and max-pool kinks crossed by any finite step make differences too
 * noisy to tell a wrong gradient from rounding.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/ops.h"
#include "rng.h"

#define GC_EPS 1e-2f
#define GC_TOL 1e-2
#define GC_SAMPLES 40

struct gc_case {
	void (*forward)(struct gc_case *c);
	void (*backward)(struct gc_case *c);
	float *t[3], *g[3]; /* x, w, b and their gradients (NULL if absent) */
	size_t n[3];
	float *y, *dy;
	size_t ny;
	struct pool *pool;
	struct rng rng;
	int dims[12];
	float *work;
	double *dwork;
	float *saved;
	int32_t *argmax;
};

static float *randn(struct rng *r, size_t n, float scale)
{
	float *p = malloc((n + 1) * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = scale * (float)rng_normal(r);
	return p;
}

static double loss(struct gc_case *c)
{
	c->forward(c);
	double s = 0;
	for (size_t i = 0; i < c->ny; i++)
		s += (double)c->y[i] * c->dy[i];
	return s;
}

/* Compare each present gradient with finite differences at sampled entries. */
static void gc_check(struct gc_case *c, const char *what)
{
	float *start[3] = { NULL };
	c->dy = randn(&c->rng, c->ny, 1.0f);
	c->forward(c);
	for (int k = 0; k < 3; k++)
		if (c->g[k]) {
			start[k] = randn(&c->rng, c->n[k], 1.0f);
			memcpy(c->g[k], start[k], c->n[k] * sizeof(float));
		}
	c->backward(c);
	for (int k = 0; k < 3; k++) {
		if (!c->g[k])
			continue;
		for (size_t i = 0; i < c->n[k]; i++) /* what the kernel added, to 2^-24 of the start */
			c->g[k][i] -= start[k][i];
		free(start[k]);
		double gmax = 1e-6, emax = 0;
		for (size_t i = 0; i < c->n[k]; i++)
			gmax = fmax(gmax, fabs(c->g[k][i]));
		size_t samples = c->n[k] < GC_SAMPLES ? c->n[k] : GC_SAMPLES;
		for (size_t s = 0; s < samples; s++) {
			size_t i = c->n[k] <= GC_SAMPLES ? s : rng_u64(&c->rng) % c->n[k];
			float keep = c->t[k][i];
			c->t[k][i] = keep + GC_EPS;
			double lp = loss(c);
			c->t[k][i] = keep - GC_EPS;
			double lm = loss(c);
			c->t[k][i] = keep;
			double fd = (lp - lm) / (2.0 * GC_EPS);
			emax = fmax(emax, fabs(fd - c->g[k][i]));
		}
		double rel = emax / gmax;
		static const char *const names[] = { "input", "weight", "bias" };
		print_message("%-32s %-6s max|g-fd|/max|g| = %.2e\n", what, names[k], rel);
		assert_true(rel <= GC_TOL);
	}
	free(c->dy);
}

static void gc_free(struct gc_case *c)
{
	for (int k = 0; k < 3; k++) {
		free(c->t[k]);
		free(c->g[k]);
	}
	free(c->y);
	free(c->work);
	free(c->dwork);
	free(c->saved);
	free(c->argmax);
	pool_free(c->pool);
}

static void gc_setup(struct gc_case *c, uint64_t seed, size_t nx, size_t nw, size_t nb, size_t ny)
{
	memset(c, 0, sizeof *c);
	struct err e;
	assert_int_equal(pool_init(&c->pool, 2, &e), 0);
	rng_init(&c->rng, seed, 0);
	size_t n[3] = { nx, nw, nb };
	for (int k = 0; k < 3; k++) {
		c->n[k] = n[k];
		if (n[k]) {
			c->t[k] = randn(&c->rng, n[k], 1.0f);
			c->g[k] = calloc(n[k], sizeof(float));
		}
	}
	c->ny = ny;
	c->y = calloc(ny, sizeof(float));
}

/* ---- conv2d ----------------------------------------------------------- */

static void conv_fwd(struct gc_case *c)
{
	struct conv2d_dims d;
	int *v = c->dims;
	conv2d_dims_init(&d, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
	conv2d_forward(c->pool, c->y, c->work, c->t[0], c->t[1], c->t[2], &d);
}

static void conv_bwd(struct gc_case *c)
{
	struct conv2d_dims d;
	int *v = c->dims;
	conv2d_dims_init(&d, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
	conv2d_backward(c->pool, c->g[0], c->g[1], c->g[2], c->work, c->dy, c->t[0], c->t[1], &d);
}

static void check_conv(int n, int ch, int h, int w, int oc, int k, int stride, int pad, int bias)
{
	struct gc_case c;
	struct conv2d_dims d;
	assert_int_equal(conv2d_dims_init(&d, n, ch, h, w, oc, k, stride, pad), 0);
	gc_setup(&c, 1, (size_t)n * ch * h * w, (size_t)oc * ch * k * k, bias ? (size_t)oc : 0,
		 (size_t)n * oc * d.oh * d.ow);
	int dims[8] = { n, ch, h, w, oc, k, stride, pad };
	memcpy(c.dims, dims, sizeof dims);
	c.work = malloc(conv2d_work_floats(&d, 2) * sizeof(float));
	c.forward = conv_fwd;
	c.backward = conv_bwd;
	char what[64];
	snprintf(what, sizeof what, "conv %dx%d/%d p%d %dx%d", k, k, stride, pad, h, w);
	gc_check(&c, what);
	gc_free(&c);
}

static void test_conv(void **state)
{
	(void)state;
	check_conv(2, 3, 7, 5, 4, 3, 1, 1, 1);
	check_conv(3, 2, 9, 9, 3, 3, 2, 1, 0);
	check_conv(1, 4, 6, 7, 5, 1, 1, 0, 1);
	check_conv(2, 3, 8, 8, 2, 1, 2, 0, 0);
	check_conv(2, 2, 11, 9, 3, 5, 2, 2, 1);
	check_conv(1, 1, 13, 13, 2, 7, 2, 3, 0);
	check_conv(2, 2, 3, 2, 3, 5, 1, 2, 1); /* "same" padding, kernel larger than the image */
	check_conv(3, 2, 1, 6, 2, 3, 1, 1, 0); /* one row */
}

/* ---- batchnorm -------------------------------------------------------- */

static void bn_fwd(struct gc_case *c)
{
	int n = c->dims[0], ch = c->dims[1], hw = c->dims[2], train = c->dims[3];
	float *rm = c->saved + 2 * ch, *rv = rm + ch;
	batchnorm_forward(c->pool, c->y, c->saved, c->saved + ch, c->dwork, c->t[0], c->t[1],
			  c->t[2], rm, rv, n, ch, hw, train, NULL);
}

static void bn_bwd(struct gc_case *c)
{
	int n = c->dims[0], ch = c->dims[1], hw = c->dims[2], train = c->dims[3];
	batchnorm_backward(c->pool, c->g[0], c->g[1], c->g[2], c->dwork, c->dy, c->t[0], c->t[1],
			   c->saved, c->saved + ch, n, ch, hw, train, NULL);
}

static void check_bn(int n, int ch, int hw, int train)
{
	struct gc_case c;
	gc_setup(&c, 2, (size_t)n * ch * hw, (size_t)ch, (size_t)ch, (size_t)n * ch * hw);
	c.dims[0] = n, c.dims[1] = ch, c.dims[2] = hw, c.dims[3] = train;
	c.saved = malloc(4 * (size_t)ch * sizeof(float));
	for (int i = 0; i < ch; i++) {
		c.saved[2 * ch + i] = 0.1f * (float)i;   /* running mean */
		c.saved[3 * ch + i] = 0.5f + 0.1f * (float)i; /* running var */
	}
	c.dwork = malloc(batchnorm_work_doubles(ch) * sizeof(double));
	c.forward = bn_fwd;
	c.backward = bn_bwd;
	char what[64];
	snprintf(what, sizeof what, "batchnorm n%d c%d hw%d %s", n, ch, hw, train ? "train" : "eval");
	gc_check(&c, what);
	gc_free(&c);
}

static void test_batchnorm(void **state)
{
	(void)state;
	check_bn(3, 4, 5, 1);
	check_bn(6, 5, 1, 1);
	check_bn(2, 3, 9, 0);
	check_bn(4, 7, 1, 0);
}

/* ---- pooling, linear, relu, add -------------------------------------- */

static void maxpool_fwd(struct gc_case *c)
{
	int *v = c->dims;
	maxpool2d_forward(c->pool, c->y, c->argmax, c->t[0], v[0], v[1], v[2], v[3], v[4], v[5], v[6]);
}

static void maxpool_bwd(struct gc_case *c)
{
	int *v = c->dims;
	maxpool2d_backward(c->pool, c->g[0], c->dy, c->argmax, v[0], v[1], v[2], v[3],
			   pool2d_out(v[2], v[4], v[5], v[6]), pool2d_out(v[3], v[4], v[5], v[6]));
}

static void check_maxpool(int n, int ch, int h, int w, int k, int stride, int pad)
{
	struct gc_case c;
	size_t ny = (size_t)n * ch * pool2d_out(h, k, stride, pad) * pool2d_out(w, k, stride, pad);
	gc_setup(&c, 3, (size_t)n * ch * h * w, 0, 0, ny);
	/* Distinct values 0.1 apart so ±ε never changes a window's winner. */
	size_t nx = c.n[0];
	for (size_t i = 0; i < nx; i++)
		c.t[0][i] = 0.1f * (float)((i * 7919) % nx);
	int dims[7] = { n, ch, h, w, k, stride, pad };
	memcpy(c.dims, dims, sizeof dims);
	c.argmax = malloc(ny * sizeof(int32_t));
	c.forward = maxpool_fwd;
	c.backward = maxpool_bwd;
	char what[64];
	snprintf(what, sizeof what, "maxpool %dx%d/%d p%d %dx%d", k, k, stride, pad, h, w);
	gc_check(&c, what);
	gc_free(&c);
}

static void test_maxpool(void **state)
{
	(void)state;
	check_maxpool(2, 3, 7, 6, 2, 2, 0);
	check_maxpool(1, 2, 9, 9, 3, 2, 1);
}

static void avgpool_fwd(struct gc_case *c)
{
	avgpool_forward(c->pool, c->y, c->t[0], c->dims[0], c->dims[1], c->dims[2]);
}

static void avgpool_bwd(struct gc_case *c)
{
	avgpool_backward(c->pool, c->g[0], c->dy, c->dims[0], c->dims[1], c->dims[2]);
}

static void linear_fwd(struct gc_case *c)
{
	linear_forward(c->pool, c->y, c->t[0], c->t[1], c->t[2], c->dims[0], c->dims[1], c->dims[2]);
}

static void linear_bwd(struct gc_case *c)
{
	linear_backward(c->pool, c->g[0], c->g[1], c->g[2], c->dy, c->t[0], c->t[1], c->dims[0],
			c->dims[1], c->dims[2]);
}

static void relu_fwd(struct gc_case *c)
{
	relu_forward(c->pool, c->y, c->t[0], c->ny);
}

static void relu_bwd(struct gc_case *c)
{
	relu_backward(c->pool, c->g[0], c->dy, c->y, c->ny);
}

/* add: y = x + w, with w playing the second operand. */
static void add_fwd(struct gc_case *c)
{
	add_forward(c->pool, c->y, c->t[0], c->t[1], c->ny);
}

static void add_bwd(struct gc_case *c)
{
	add_backward(c->pool, c->g[0], c->dy, c->ny);
	add_backward(c->pool, c->g[1], c->dy, c->ny);
}

static void test_small_ops(void **state)
{
	(void)state;
	struct gc_case c;
	gc_setup(&c, 4, 2 * 3 * 5 * 7, 0, 0, 2 * 3);
	c.dims[0] = 2, c.dims[1] = 3, c.dims[2] = 35;
	c.forward = avgpool_fwd;
	c.backward = avgpool_bwd;
	gc_check(&c, "avgpool 5x7");
	gc_free(&c);

	gc_setup(&c, 5, 3 * 7, 5 * 7, 5, 3 * 5);
	c.dims[0] = 3, c.dims[1] = 7, c.dims[2] = 5;
	c.forward = linear_fwd;
	c.backward = linear_bwd;
	gc_check(&c, "linear 7>5");
	gc_free(&c);

	gc_setup(&c, 6, 64, 0, 0, 64);
	for (int i = 0; i < 64; i++) /* keep away from the kink at 0 */
		c.t[0][i] += c.t[0][i] >= 0 ? 0.1f : -0.1f;
	c.forward = relu_fwd;
	c.backward = relu_bwd;
	gc_check(&c, "relu");
	gc_free(&c);

	gc_setup(&c, 7, 50, 50, 0, 50);
	c.forward = add_fwd;
	c.backward = add_bwd;
	gc_check(&c, "add");
	gc_free(&c);
}

/* Ties go to a window's first tap in row-major order, on the 2×2/2 fast path as on the
   general one (3×3/2 padded): a plane of equal values. */
static void test_maxpool_ties(void **state)
{
	(void)state;
	struct pool *pool;
	struct err e;
	assert_int_equal(pool_init(&pool, 1, &e), 0);
	float x[16], y[4];
	int32_t at[4];
	for (int i = 0; i < 16; i++)
		x[i] = 1.0f;
	maxpool2d_forward(pool, y, at, x, 1, 1, 4, 4, 2, 2, 0);
	const int32_t first2[4] = { 0, 2, 8, 10 };
	assert_memory_equal(at, first2, sizeof first2);
	maxpool2d_forward(pool, y, at, x, 1, 1, 4, 4, 3, 2, 1);
	const int32_t first3[4] = { 0, 1, 4, 5 };
	assert_memory_equal(at, first3, sizeof first3);
	pool_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conv),
		cmocka_unit_test(test_batchnorm),
		cmocka_unit_test(test_maxpool),
		cmocka_unit_test(test_maxpool_ties),
		cmocka_unit_test(test_small_ops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
