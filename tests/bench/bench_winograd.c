/*
 * bench_winograd.c — Winograd F(2×2, 3×3) (nn/winograd.h) against conv2d_*
 * on the 3×3 stride-1 layers of ResNet-18 at widths 0.25 (28 px input, batch
 * 256) and 1 (32 px, batch 128).
 *
 *   bench_winograd [--threads N] [--min-time S]
 *
 * conv2d_* is the im2col path: BYOL_CONV is set to "im2col" unless the
 * environment already sets it (BYOL_CONV=direct, or anything else, lets
 * conv2d_* take whatever path it chooses). Each case runs one warm-up, then
 * repeats conv2d and Winograd alternately until 2·min-time has passed (at
 * least 5 times each) and reports each one's median. GFLOP/s are the direct convolution's FLOPs (2·N·OC·OH·OW·C·9, the
 * same for forward, backward-data and backward-weights) over the time;
 * speedup is conv2d's time over Winograd's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/blas.h"
#include "nn/ops.h"
#include "nn/winograd.h"
#include "rng.h"

#define MAX_REPS 1000

struct bshape {
	int n, c, h;
};

static const struct bshape SHAPES[] = {
	{ 256, 16, 28 }, { 256, 32, 14 }, { 256, 64, 7 },  { 256, 128, 4 },
	{ 128, 64, 32 }, { 128, 128, 16 }, { 128, 256, 8 }, { 128, 512, 4 },
};

struct bufs {
	float *x, *w, *b, *y, *dy, *dx, *dw, *work;
	struct conv2d_dims d;
	struct pool *p;
};

enum op { FWD, BWD_DATA, BWD_WEIGHTS, NOPS };
static const char *const OP_NAME[NOPS] = { "forward", "bwd-data", "bwd-weights" };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void run(struct bufs *s, enum op op, int wino)
{
	const struct conv2d_dims *d = &s->d;
	switch (op) {
	case FWD:
		if (wino)
			conv2d_winograd_forward(s->p, s->y, s->work, s->x, s->w, s->b, d);
		else
			conv2d_forward(s->p, s->y, s->work, s->x, s->w, s->b, d);
		break;
	case BWD_DATA:
		if (wino)
			conv2d_winograd_backward(s->p, s->dx, NULL, NULL, s->work, s->dy, s->x, s->w, d);
		else
			conv2d_backward(s->p, s->dx, NULL, NULL, s->work, s->dy, s->x, s->w, d);
		break;
	default:
		if (wino)
			conv2d_winograd_backward(s->p, NULL, s->dw, NULL, s->work, s->dy, s->x, s->w, d);
		else
			conv2d_backward(s->p, NULL, s->dw, NULL, s->work, s->dy, s->x, s->w, d);
		break;
	}
}

static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Median seconds of op by conv2d (*tc) and by Winograd (*tw), run alternately so
   that a load on the machine weighs on both alike. */
static void time_op(struct bufs *s, enum op op, double min_time, double *tc, double *tw)
{
	static double a[MAX_REPS], b[MAX_REPS];
	run(s, op, 0);
	run(s, op, 1);
	int n = 0;
	double start = now();
	while (n < MAX_REPS && (n < 5 || now() - start < 2 * min_time)) {
		double t0 = now();
		run(s, op, 0);
		double t1 = now();
		run(s, op, 1);
		a[n] = t1 - t0;
		b[n++] = now() - t1;
	}
	*tc = median(a, n);
	*tw = median(b, n);
}

static float *fill(struct rng *r, size_t n)
{
	float *p = malloc(n * sizeof *p);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (size_t j = 0; j < n; j++)
		p[j] = (float)rng_normal(r);
	return p;
}

int main(int argc, char **argv)
{
	blas_select_core(argv);
	setenv("BYOL_CONV", "im2col", 0);
	int threads = 2;
	double min_time = 1.0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
			min_time = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--threads N] [--min-time S]\n", argv[0]);
			return 2;
		}
	}
	struct pool *p;
	struct err e;
	if (pool_init(&p, threads, &e)) {
		fprintf(stderr, "pool: %s\n", e.msg);
		return 1;
	}
	printf("threads %d, OpenBLAS core %s, conv2d_* path BYOL_CONV=%s\n", threads,
	       blas_core_name(), getenv("BYOL_CONV"));
	printf("%-22s %-11s %10s %8s %10s %8s %8s\n", "shape N×C→OC @ H×W", "op", "conv2d ms",
	       "GFLOP/s", "wino ms", "GFLOP/s", "speedup");
	struct rng r;
	rng_init(&r, 7, 0);
	for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
		const struct bshape *sh = &SHAPES[i];
		struct bufs s = { .p = p };
		conv2d_dims_init(&s.d, sh->n, sh->c, sh->h, sh->h, sh->c, 3, 1, 1);
		const size_t nx = (size_t)sh->n * sh->c * sh->h * sh->h, nw = (size_t)sh->c * sh->c * 9;
		size_t wf = conv2d_work_floats(&s.d, threads);
		size_t ww = conv2d_winograd_work_floats(&s.d, threads);
		s.x = fill(&r, nx), s.dy = fill(&r, nx), s.y = fill(&r, nx), s.dx = fill(&r, nx);
		s.w = fill(&r, nw), s.dw = fill(&r, nw), s.b = fill(&r, (size_t)sh->c);
		s.work = fill(&r, wf > ww ? wf : ww);
		const double flops = conv2d_flops(&s.d);
		char name[64];
		snprintf(name, sizeof name, "%d×%d→%d @ %d×%d", sh->n, sh->c, sh->c, sh->h, sh->h);
		for (int op = 0; op < NOPS; op++) {
			double tc, tw;
			time_op(&s, (enum op)op, min_time, &tc, &tw);
			printf("%-24s %-11s %10.2f %8.1f %10.2f %8.1f %7.2fx\n", name, OP_NAME[op],
			       1e3 * tc, flops / tc * 1e-9, 1e3 * tw, flops / tw * 1e-9, tc / tw);
			fflush(stdout);
		}
		free(s.x), free(s.dy), free(s.y), free(s.dx), free(s.w), free(s.dw), free(s.b);
		free(s.work);
	}
	pool_free(p);
	return 0;
}
