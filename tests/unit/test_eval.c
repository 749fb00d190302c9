/*
 * test_eval.c — the kNN monitor and the linear probe: separable clusters give
 * ~100%, random labels give chance, kNN matches a brute-force reference across
 * several similarity blocks, edge cases (k > n_train, fewer than 5 classes),
 * argument errors, determinism, and the reference numbers on raw
 * Fashion-MNIST pixels (logistic regression 84.2%, Xiao et al. 2017).
 */
#include <math.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <zlib.h>

#include "byol/eval.h"
#include "rng.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#ifndef FMNIST_EPOCHS
#define FMNIST_EPOCHS 2 /* 1 already reaches 84%; 2 crosses an epoch boundary */
#endif

static struct pool *pool;

static int setup(void **state)
{
	(void)state;
	struct err e;
	return pool_init(&pool, 2, &e);
}

static int teardown(void **state)
{
	(void)state;
	pool_free(pool);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- synthetic sets ---------------------------------------------------- */

struct set {
	float *x;
	int *y;
	size_t n;
};

static struct set set_alloc(size_t n, int dim)
{
	struct set s = { malloc(n * dim * sizeof(float)), malloc(n * sizeof(int)), n };
	assert_non_null(s.x);
	assert_non_null(s.y);
	return s;
}

static void set_free(struct set *s)
{
	free(s->x);
	free(s->y);
}

static struct eval_set view(const struct set *s)
{
	return (struct eval_set){ s->x, s->y, s->n };
}

/*
 * Gaussian clusters: class c has centre `sep`·N(0, I) (the same centres for every
 * set made with the same centre_seed) and unit noise. labels_random draws the
 * label independently of the point instead (chance-level data).
 */
static struct set clusters(size_t n, int dim, int classes, double sep, uint64_t centre_seed,
			   uint64_t seed, int labels_random)
{
	struct set s = set_alloc(n, dim);
	struct rng rc, r;
	rng_init(&r, seed, 1);
	for (size_t i = 0; i < n; i++) {
		int c = (int)(rng_u64(&r) % (uint64_t)classes);
		rng_init(&rc, centre_seed, (uint64_t)c);
		for (int j = 0; j < dim; j++)
			s.x[i * dim + j] = (float)(sep * rng_normal(&rc) + rng_normal(&r));
		s.y[i] = labels_random ? (int)(rng_u64(&r) % (uint64_t)classes) : c;
	}
	return s;
}

/* ---- synthetic tests --------------------------------------------------- */

static void test_separable(void **state)
{
	(void)state;
	struct set tr = clusters(2000, 32, 10, 4.0, 7, 1, 0);
	struct set te = clusters(500, 32, 10, 4.0, 7, 2, 0);
	struct eval_set a = view(&tr), b = view(&te);
	struct eval_result r;
	struct err e;
	assert_int_equal(eval_knn(&r, &a, &b, 32, 10, 200, 0.1, pool, &e), 0);
	print_message("clusters kNN    top-1 %.2f top-5 %.2f\n", r.top1, r.top5);
	assert_true(r.top1 >= 99.0);
	assert_true(r.top5 >= r.top1);
	assert_int_equal(eval_linear(&r, &a, &b, 32, 10, 5, 42, pool, NULL, &e), 0);
	print_message("clusters probe  top-1 %.2f top-5 %.2f (lr %g, wd %g)\n", r.top1, r.top5,
		      r.lr, r.wd);
	assert_true(r.top1 >= 99.0);
	assert_true(r.top5 >= r.top1);
	set_free(&tr);
	set_free(&te);
}

/* A raised stop flag ends the probe with ERR_STOPPED, not a result. */
static void test_stop(void **state)
{
	(void)state;
	struct set tr = clusters(400, 8, 4, 4.0, 3, 1, 0);
	struct eval_set a = view(&tr);
	struct eval_result r = { .top1 = -1 };
	struct err e = { 0 };
	atomic_int stop = 1;
	assert_int_equal(eval_linear(&r, &a, &a, 8, 4, 50, 1, pool, &stop, &e), ERR_STOPPED);
	assert_non_null(strstr(e.msg, "stopped"));
	assert_true(r.top1 == -1);
	set_free(&tr);
}

/* Random labels: top-1 within 5σ of chance, σ = sqrt(p(1−p)/n). */
static void test_chance(void **state)
{
	(void)state;
	const int classes = 10;
	const size_t n_test = 2000;
	struct set tr = clusters(4000, 16, classes, 1.0, 3, 5, 1);
	struct set te = clusters(n_test, 16, classes, 1.0, 3, 6, 1);
	struct eval_set a = view(&tr), b = view(&te);
	const double p = 1.0 / classes, tol = 500.0 * sqrt(p * (1 - p) / (double)n_test);
	const double p5 = 5.0 / classes, tol5 = 500.0 * sqrt(p5 * (1 - p5) / (double)n_test);
	struct eval_result r;
	struct err e;
	assert_int_equal(eval_knn(&r, &a, &b, 16, classes, 200, 0.1, pool, &e), 0);
	print_message("random labels kNN   top-1 %.2f top-5 %.2f (chance 10 ± %.2f)\n", r.top1,
		      r.top5, tol);
	assert_true(fabs(r.top1 - 100.0 * p) <= tol);
	assert_true(fabs(r.top5 - 100.0 * p5) <= tol5);
	assert_int_equal(eval_linear(&r, &a, &b, 16, classes, 3, 9, pool, NULL, &e), 0);
	print_message("random labels probe top-1 %.2f top-5 %.2f\n", r.top1, r.top5);
	assert_true(fabs(r.top1 - 100.0 * p) <= tol);
	assert_true(r.top5 >= r.top1);
	set_free(&tr);
	set_free(&te);
}

/* k larger than n_train (every train row votes) and 3 classes (top-5 = top-3 = 100%). */
static void test_small(void **state)
{
	(void)state;
	struct set tr = clusters(40, 4, 3, 3.0, 11, 1, 0), te = clusters(30, 4, 3, 3.0, 11, 2, 0);
	struct eval_set a = view(&tr), b = view(&te);
	struct eval_result r;
	struct err e;
	assert_int_equal(eval_knn(&r, &a, &b, 4, 3, 1000, 0.1, pool, &e), 0);
	assert_true(r.top1 >= 80.0);
	assert_true(r.top5 == 100.0);
	assert_int_equal(eval_knn(&r, &a, &b, 4, 3, 1, 0.1, pool, &e), 0); /* 1-NN */
	assert_true(r.top1 >= 80.0);
	assert_int_equal(eval_linear(&r, &a, &b, 4, 3, 20, 1, pool, NULL, &e), 0);
	assert_true(r.top1 >= 80.0);
	assert_true(r.top5 == 100.0);
	/* One train row, two test rows: kNN votes for its class; the probe has nothing
	   to hold out and keeps the default setting. */
	struct eval_set one = { tr.x, tr.y, 1 };
	assert_int_equal(eval_knn(&r, &one, &b, 4, 3, 200, 0.1, pool, &e), 0);
	assert_int_equal(eval_linear(&r, &one, &b, 4, 3, 2, 1, pool, NULL, &e), 0);
	assert_true(r.lr == 0.1 && r.wd == 0.0);
	set_free(&tr);
	set_free(&te);
}

/* Brute-force kNN in double: cosine similarities, the k best, exp(sim/t) votes. */
static void knn_reference(double *top1, double *top5, const struct set *tr, const struct set *te,
			  int dim, int classes, int k, double t)
{
	double *sim = malloc(tr->n * sizeof(double)), votes[16];
	size_t h1 = 0, h5 = 0;
	assert_true(sim && classes <= 16);
	for (size_t i = 0; i < te->n; i++) {
		const float *q = te->x + i * dim;
		double qq = 0;
		for (int d = 0; d < dim; d++)
			qq += (double)q[d] * q[d];
		for (size_t j = 0; j < tr->n; j++) {
			const float *x = tr->x + j * dim;
			double xx = 0, qx = 0;
			for (int d = 0; d < dim; d++)
				xx += (double)x[d] * x[d], qx += (double)q[d] * x[d];
			sim[j] = qx / sqrt(qq * xx);
		}
		memset(votes, 0, sizeof votes);
		for (int m = 0; m < k; m++) { /* selection of the k best, O(k·n) */
			size_t b = 0;
			for (size_t j = 1; j < tr->n; j++)
				if (sim[j] > sim[b])
					b = j;
			votes[tr->y[b]] += exp(sim[b] / t);
			sim[b] = -INFINITY;
		}
		int rank = 0, y = te->y[i];
		for (int c = 0; c < classes; c++)
			rank += votes[c] > votes[y] || (votes[c] == votes[y] && c < y);
		h1 += rank == 0, h5 += rank < 5;
	}
	*top1 = 100.0 * (double)h1 / (double)te->n;
	*top5 = 100.0 * (double)h5 / (double)te->n;
	free(sim);
}

/* 70,000 train rows make 119-row similarity blocks: 300 test rows span three blocks. */
static void test_knn_reference(void **state)
{
	(void)state;
	const int dim = 6, classes = 8, k = 15;
	struct set tr = clusters(70000, dim, classes, 0.7, 21, 1, 0);
	struct set te = clusters(300, dim, classes, 0.7, 21, 2, 0);
	struct eval_set a = view(&tr), b = view(&te);
	struct eval_result r;
	struct err e;
	double top1, top5;
	assert_int_equal(eval_knn(&r, &a, &b, dim, classes, k, 0.1, pool, &e), 0);
	knn_reference(&top1, &top5, &tr, &te, dim, classes, k, 0.1);
	print_message("kNN vs reference: top-1 %.2f / %.2f, top-5 %.2f / %.2f\n", r.top1, top1,
		      r.top5, top5);
	assert_true(top1 > 20.0 && top1 < 95.0); /* neither trivial nor chance */
	/* float vs double similarities may swap a near-tie at the k-th place: one row at most. */
	assert_true(fabs(r.top1 - top1) <= 100.0 / 300 + 1e-9);
	assert_true(fabs(r.top5 - top5) <= 100.0 / 300 + 1e-9);
	set_free(&tr);
	set_free(&te);
}

static void test_deterministic(void **state)
{
	(void)state;
	struct set tr = clusters(1500, 12, 5, 0.6, 4, 1, 0);
	struct set te = clusters(400, 12, 5, 0.6, 4, 2, 0);
	struct eval_set a = view(&tr), b = view(&te);
	struct eval_result r1, r2, r3;
	struct err e;
	assert_int_equal(eval_linear(&r1, &a, &b, 12, 5, 4, 77, pool, NULL, &e), 0);
	assert_int_equal(eval_linear(&r2, &a, &b, 12, 5, 4, 77, pool, NULL, &e), 0);
	assert_memory_equal(&r1, &r2, sizeof r1);
	assert_int_equal(eval_knn(&r1, &a, &b, 12, 5, 50, 0.07, pool, &e), 0);
	assert_int_equal(eval_knn(&r3, &a, &b, 12, 5, 50, 0.07, pool, &e), 0);
	assert_memory_equal(&r1, &r3, sizeof r1);
	print_message("overlapping clusters: probe %.2f (lr %g wd %g), kNN %.2f\n", r2.top1, r2.lr,
		      r2.wd, r1.top1);
	set_free(&tr);
	set_free(&te);
}

static void expect_invalid(int rc, const struct err *e, const char *what)
{
	assert_int_equal(rc, ERR_INVALID);
	assert_non_null(strstr(e->msg, what));
}

static void test_errors(void **state)
{
	(void)state;
	float x[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	int y[4] = { 0, 1, 0, 1 }, bad_y[4] = { 0, 1, 2, 0 }, neg_y[4] = { 0, -1, 0, 1 };
	struct eval_set s = { x, y, 4 }, empty = { x, y, 0 }, nox = { NULL, y, 4 };
	struct eval_set out = { x, bad_y, 4 }, neg = { x, neg_y, 4 };
	struct eval_result r;
	struct err e;
	expect_invalid(eval_knn(&r, &empty, &s, 2, 2, 5, 0.1, pool, &e), &e, "empty");
	expect_invalid(eval_knn(&r, &s, &empty, 2, 2, 5, 0.1, pool, &e), &e, "test set is empty");
	expect_invalid(eval_knn(&r, &nox, &s, 2, 2, 5, 0.1, pool, &e), &e, "missing");
	expect_invalid(eval_knn(&r, &s, &s, 0, 2, 5, 0.1, pool, &e), &e, "dim");
	expect_invalid(eval_knn(&r, &s, &s, 2, 1, 5, 0.1, pool, &e), &e, "classes");
	expect_invalid(eval_knn(&r, &out, &s, 2, 2, 5, 0.1, pool, &e), &e, "label 2 of row 2");
	expect_invalid(eval_knn(&r, &s, &neg, 2, 2, 5, 0.1, pool, &e), &e, "test label -1");
	expect_invalid(eval_knn(&r, &s, &s, 2, 2, 0, 0.1, pool, &e), &e, "k >= 1");
	expect_invalid(eval_knn(&r, &s, &s, 2, 2, 5, 0.0, pool, &e), &e, "t > 0");
	expect_invalid(eval_knn(&r, &s, &s, 2, 2, 5, NAN, pool, &e), &e, "t > 0");
	expect_invalid(eval_knn(NULL, &s, &s, 2, 2, 5, 0.1, pool, &e), &e, "missing");
	expect_invalid(eval_knn(&r, &s, &s, 2, 2, 5, 0.1, NULL, &e), &e, "missing");
	expect_invalid(eval_linear(&r, &empty, &s, 2, 2, 1, 0, pool, NULL, &e), &e, "empty");
	expect_invalid(eval_linear(&r, &s, &s, 2, 2, 0, 0, pool, NULL, &e), &e, "epochs");
	expect_invalid(eval_linear(&r, &s, &out, 2, 2, 1, 0, pool, NULL, &e), &e, "label 2");
	expect_invalid(eval_linear(&r, &s, &s, 2, 1, 1, 0, pool, NULL, &e), &e, "classes");
	x[5] = NAN;
	expect_invalid(eval_linear(&r, &s, &s, 2, 2, 1, 0, pool, NULL, &e), &e, "feature 1 of row 2");
	x[5] = INFINITY;
	expect_invalid(eval_knn(&r, &s, &s, 2, 2, 5, 0.1, pool, &e), &e, "not finite");
	x[5] = 6;
	/* A zero row is legal: its similarities are 0. */
	x[0] = x[1] = 0;
	assert_int_equal(eval_knn(&r, &s, &s, 2, 2, 5, 0.1, pool, &e), 0);
	assert_int_equal(eval_linear(&r, &s, &s, 2, 2, 1, 0, pool, NULL, &e), 0);
}

/* ---- Fashion-MNIST ------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read a gzip IDX file: header of `hdr` bytes (magic, counts), then n·per bytes. */
static unsigned char *read_idx(const char *name, size_t hdr, uint32_t magic, size_t per,
			       size_t *n)
{
	char path[256];
	unsigned char h[16];
	snprintf(path, sizeof path, "%s/%s", FMNIST_DIR, name);
	gzFile f = gzopen(path, "rb");
	if (!f)
		return NULL;
	assert_int_equal(gzread(f, h, (unsigned)hdr), (int)hdr);
	assert_int_equal(be32(h), magic);
	*n = be32(h + 4);
	unsigned char *buf = malloc(*n * per);
	assert_non_null(buf);
	assert_int_equal(gzread(f, buf, (unsigned)(*n * per)), (int)(*n * per));
	gzclose(f);
	return buf;
}

/* Raw pixels / 255 as features; returns 0 if the data set is not installed. */
static int load_fmnist(struct set *s, const char *prefix)
{
	char img[64], lab[64];
	size_t n, nl;
	snprintf(img, sizeof img, "%s-images-idx3-ubyte.gz", prefix);
	snprintf(lab, sizeof lab, "%s-labels-idx1-ubyte.gz", prefix);
	unsigned char *px = read_idx(img, 16, 0x803, 784, &n);
	if (!px)
		return 0;
	unsigned char *ly = read_idx(lab, 8, 0x801, 1, &nl);
	assert_non_null(ly);
	assert_int_equal(n, nl);
	*s = set_alloc(n, 784);
	for (size_t i = 0; i < n * 784; i++)
		s->x[i] = px[i] / 255.0f;
	for (size_t i = 0; i < n; i++)
		s->y[i] = ly[i];
	free(px);
	free(ly);
	return 1;
}

static void test_fashion_mnist(void **state)
{
	(void)state;
	struct set tr, te;
	if (!load_fmnist(&tr, "train") || !load_fmnist(&te, "t10k")) {
		print_message("Fashion-MNIST not found under %s\n", FMNIST_DIR);
		skip();
	}
	assert_int_equal(tr.n, 60000);
	assert_int_equal(te.n, 10000);
	struct eval_set a = view(&tr), b = view(&te);
	struct eval_result r;
	struct err e;
	double t0 = now();
	assert_int_equal(eval_knn(&r, &a, &b, 784, 10, 200, 0.1, pool, &e), 0);
	print_message("Fashion-MNIST raw pixels, kNN k=200 t=0.1: top-1 %.2f top-5 %.2f (%.1f s)\n",
		      r.top1, r.top5, now() - t0);
	assert_true(r.top1 >= 78.0);
	/* numpy, float32, the same recipe: 78.85 / 99.63; allow a few near-ties to flip. */
	assert_true(fabs(r.top1 - 78.85) <= 0.1 && fabs(r.top5 - 99.63) <= 0.1);
	t0 = now();
	assert_int_equal(eval_linear(&r, &a, &b, 784, 10, FMNIST_EPOCHS, 1, pool, NULL, &e), 0);
	print_message("Fashion-MNIST raw pixels, probe %d epochs: top-1 %.2f top-5 %.2f "
		      "(lr %g, wd %g; %.1f s)\n",
		      FMNIST_EPOCHS, r.top1, r.top5, r.lr, r.wd, now() - t0);
	assert_true(r.top1 >= 83.0);
	set_free(&tr);
	set_free(&te);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),	      cmocka_unit_test(test_separable),
		cmocka_unit_test(test_chance),	      cmocka_unit_test(test_small),
		cmocka_unit_test(test_knn_reference), cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_stop),	      cmocka_unit_test(test_fashion_mnist),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
