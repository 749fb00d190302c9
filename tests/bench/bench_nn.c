/*
 * bench_nn.c — timings of the compute core on the shapes of
 * tests/bench/shapes.json, printed as JSON lines that tests/bench/report.py
 * sets beside PyTorch's (tests/bench/bench_torch.py).
 *
 *   bench_nn [--threads N] [--machine] [--ops] [--encoder NAME] [--min-time S]
 *            [--min-reps N] [--warmup N] [--shapes FILE]
 *
 * --machine prints one "machine" line: the CPU's vector extensions, OpenBLAS's
 * kernel family, the best of several 2048³ sgemms (split over the pool as the
 * compute core runs them, and OpenBLAS's own threading on the same thread
 * count) and a STREAM-like copy and triad over arrays far larger than the
 * caches (the bandwidth elementwise ops can hope for).
 *
 * Each case runs --warmup (2) iterations, then repeats until min-time has
 * passed (at least --min-reps, 5, times) and reports the median. GFLOP/s count the
 * multiply-adds of convolutions and linear layers (2 FLOPs each); backward
 * counts both the input and the weight gradient. Peak RSS is the process's,
 * so run one encoder per process.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>
#include <cjson/cJSON.h>

#include "nn/blas.h"
#include "nn/isa.h"
#include "nn/models.h"
#include "rng.h"

#define MAX_REPS 10000

struct options {
	int threads;
	int machine;
	int ops;
	int min_reps, warmup;
	const char *encoder;
	double min_time;
	const char *shapes;
};

/* Median forward, backward and total milliseconds of a case, and its FLOPs. */
struct timing {
	double fwd_ms, bwd_ms, total_ms;
	double flops_fwd, flops_bwd;
};

typedef void (*step_fn)(void *ctx, int backward);

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

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Time step(ctx, 0) (forward) then step(ctx, 1) (backward), repeatedly. */
static void measure(struct timing *t, step_fn step, void *ctx, const struct options *opt)
{
	static double fwd[MAX_REPS], bwd[MAX_REPS], total[MAX_REPS];
	for (int i = 0; i < opt->warmup; i++) {
		step(ctx, 0);
		step(ctx, 1);
	}
	int n = 0;
	double start = now();
	while (n < MAX_REPS && (n < opt->min_reps || now() - start < opt->min_time)) {
		double t0 = now();
		step(ctx, 0);
		double t1 = now();
		step(ctx, 1);
		double t2 = now();
		fwd[n] = 1e3 * (t1 - t0);
		bwd[n] = 1e3 * (t2 - t1);
		total[n++] = 1e3 * (t2 - t0);
	}
	t->fwd_ms = median(fwd, n);
	t->bwd_ms = median(bwd, n);
	t->total_ms = median(total, n);
}

static void print_record(const char *kind, const char *name, const struct timing *t, int threads)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"impl\": \"byol\", \"kind\": \"%s\", \"name\": \"%s\", \"fwd_ms\": %.4f, "
	       "\"bwd_ms\": %.4f, \"total_ms\": %.4f, \"peak_rss_mb\": %.1f, \"threads\": %d, "
	       "\"blas_core\": \"%s\"",
	       kind, name, t->fwd_ms, t->bwd_ms, t->total_ms, (double)ru.ru_maxrss / 1024.0,
	       threads, blas_core_name());
	if (t->flops_fwd > 0)
		printf(", \"gflops_fwd\": %.2f, \"gflops_bwd\": %.2f, \"gflops_total\": %.2f",
		       t->flops_fwd / t->fwd_ms * 1e-6, t->flops_bwd / t->bwd_ms * 1e-6,
		       (t->flops_fwd + t->flops_bwd) / t->total_ms * 1e-6);
	printf("}\n");
	fflush(stdout);
}

static float *randn(size_t n, uint64_t seed)
{
	struct rng r;
	rng_init(&r, seed, n);
	float *p = malloc((n + 1) * sizeof *p);
	if (!p) {
		fprintf(stderr, "bench_nn: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_normal(&r);
	return p;
}

static int dim(const cJSON *spec, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
	return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* ---- ops -------------------------------------------------------------- */

/* One op case: every buffer an op may need, sized for its shapes. */
struct op_case {
	struct pool *pool;
	const char *op;
	int n, c, h, w, oc, k, stride, pad, in, out, bias;
	struct conv2d_dims conv;
	float *x, *x2, *w_, *b, *y, *dy, *dx, *dw, *db, *work, *saved, *rm, *rv;
	double *dwork;
	int32_t *argmax;
	size_t nx, ny;
};

static void op_step(void *arg, int backward)
{
	struct op_case *o = arg;
	struct pool *p = o->pool;
	const int hw = o->h * o->w;
	if (strcmp(o->op, "conv2d") == 0) {
		if (!backward)
			conv2d_forward(p, o->y, o->work, o->x, o->w_, o->bias ? o->b : NULL, &o->conv);
		else
			conv2d_backward(p, o->dx, o->dw, o->bias ? o->db : NULL, o->work, o->dy, o->x,
					o->w_, &o->conv);
	} else if (strcmp(o->op, "batchnorm") == 0) {
		if (!backward)
			batchnorm_forward(p, o->y, o->saved, o->saved + o->c, o->dwork, o->x, o->w_,
					  o->b, o->rm, o->rv, o->n, o->c, hw, 1, NULL);
		else
			batchnorm_backward(p, o->dx, o->dw, o->db, o->dwork, o->dy, o->x, o->w_,
					   o->saved, o->saved + o->c, o->n, o->c, hw, 1, NULL);
	} else if (strcmp(o->op, "relu") == 0) {
		if (!backward)
			relu_forward(p, o->y, o->x, o->nx);
		else
			relu_backward(p, o->dx, o->dy, o->y, o->nx);
	} else if (strcmp(o->op, "maxpool") == 0) {
		if (!backward)
			maxpool2d_forward(p, o->y, o->argmax, o->x, o->n, o->c, o->h, o->w, o->k,
					  o->stride, o->pad);
		else
			maxpool2d_backward(p, o->dx, o->dy, o->argmax, o->n, o->c, o->h, o->w,
					   pool2d_out(o->h, o->k, o->stride, o->pad),
					   pool2d_out(o->w, o->k, o->stride, o->pad));
	} else if (strcmp(o->op, "avgpool") == 0) {
		if (!backward)
			avgpool_forward(p, o->y, o->x, o->n, o->c, hw);
		else
			avgpool_backward(p, o->dx, o->dy, o->n, o->c, hw);
	} else if (strcmp(o->op, "linear") == 0) {
		if (!backward)
			linear_forward(p, o->y, o->x, o->w_, o->bias ? o->b : NULL, o->n, o->in, o->out);
		else
			linear_backward(p, o->dx, o->dw, o->bias ? o->db : NULL, o->dy, o->x, o->w_,
					o->n, o->in, o->out);
	} else if (strcmp(o->op, "add") == 0) {
		if (!backward) {
			add_forward(p, o->y, o->x, o->x2, o->nx);
		} else {
			add_backward(p, o->dx, o->dy, o->nx);
			add_backward(p, o->x2, o->dy, o->nx); /* second operand's gradient */
		}
	}
}

/* Output elements and FLOPs of an op case; fills the conv dims. */
static void op_shapes(struct op_case *o, struct timing *t)
{
	if (strcmp(o->op, "conv2d") == 0) {
		conv2d_dims_init(&o->conv, o->n, o->c, o->h, o->w, o->oc, o->k, o->stride, o->pad);
		o->ny = (size_t)o->n * o->oc * o->conv.oh * o->conv.ow;
		t->flops_fwd = conv2d_flops(&o->conv);
		t->flops_bwd = 2 * t->flops_fwd;
	} else if (strcmp(o->op, "linear") == 0) {
		o->nx = (size_t)o->n * o->in;
		o->ny = (size_t)o->n * o->out;
		t->flops_fwd = 2.0 * o->n * o->in * o->out;
		t->flops_bwd = 2 * t->flops_fwd;
	} else if (strcmp(o->op, "maxpool") == 0) {
		o->ny = (size_t)o->n * o->c * pool2d_out(o->h, o->k, o->stride, o->pad) *
			pool2d_out(o->w, o->k, o->stride, o->pad);
	} else if (strcmp(o->op, "avgpool") == 0) {
		o->ny = (size_t)o->n * o->c;
	}
}

static void bench_op(const cJSON *spec, struct pool *pool, const struct options *opt)
{
	struct op_case o = { .pool = pool };
	struct timing t = { 0 };
	o.op = cJSON_GetObjectItemCaseSensitive(spec, "op")->valuestring;
	o.n = dim(spec, "n"), o.c = dim(spec, "c"), o.h = dim(spec, "h"), o.w = dim(spec, "w");
	o.oc = dim(spec, "oc"), o.k = dim(spec, "k"), o.stride = dim(spec, "stride");
	o.pad = dim(spec, "pad"), o.in = dim(spec, "in"), o.out = dim(spec, "out");
	o.bias = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "bias"));
	o.nx = o.ny = (size_t)o.n * o.c * o.h * o.w;
	op_shapes(&o, &t);
	size_t nw = strcmp(o.op, "linear") == 0 ? (size_t)o.in * o.out
		  : strcmp(o.op, "conv2d") == 0 ? (size_t)o.oc * o.c * o.k * o.k : (size_t)o.c;
	size_t nb = (size_t)(o.oc > o.out ? o.oc : o.out) + (size_t)o.c;
	o.x = randn(o.nx, 1), o.x2 = randn(o.nx, 2), o.dx = randn(o.nx, 3);
	o.y = randn(o.ny, 4), o.dy = randn(o.ny, 5);
	o.w_ = randn(nw, 6), o.dw = randn(nw, 7), o.b = randn(nb, 8), o.db = randn(nb, 9);
	o.saved = randn(2 * (size_t)o.c, 10), o.rm = randn((size_t)o.c, 11);
	o.rv = randn((size_t)o.c, 12);
	size_t work = o.conv.n ? conv2d_work_floats(&o.conv, pool_threads(pool)) : 0;
	o.work = malloc((work + 1) * sizeof(float));
	o.dwork = malloc(batchnorm_work_doubles(o.c) * sizeof(double));
	o.argmax = calloc(o.ny + 1, sizeof(int32_t));
	measure(&t, op_step, &o, opt);
	print_record("op", cJSON_GetObjectItemCaseSensitive(spec, "name")->valuestring, &t,
		     opt->threads);
	float *bufs[] = { o.x, o.x2, o.dx, o.y, o.dy, o.w_, o.dw, o.b, o.db, o.saved, o.rm, o.rv,
			  o.work };
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
		free(bufs[i]);
	free(o.dwork);
	free(o.argmax);
}

/* ---- encoders --------------------------------------------------------- */

struct encoder_case {
	struct nn_net net;
	float *x, *dy;
};

static void encoder_step(void *arg, int backward)
{
	struct encoder_case *e = arg;
	if (!backward) {
		nn_net_forward(&e->net, e->x, 1);
	} else {
		nn_net_zero_grad(&e->net);
		nn_net_backward(&e->net, e->dy);
	}
}

static int bench_encoder(const cJSON *spec, struct pool *pool, const struct options *opt)
{
	struct encoder_case ec;
	struct encoder_config cfg = { 0 };
	struct err err = { 0 };
	const char *model = cJSON_GetObjectItemCaseSensitive(spec, "model")->valuestring;
	const char *stem = cJSON_GetObjectItemCaseSensitive(spec, "stem")->valuestring;
	if (encoder_arch_parse(model, &cfg.arch) != 0) {
		fprintf(stderr, "bench_nn: unknown model %s\n", model);
		return 1;
	}
	cfg.width = cJSON_GetObjectItemCaseSensitive(spec, "width")->valuedouble;
	cfg.imagenet_stem = strcmp(stem, "imagenet") == 0;
	int ch = dim(spec, "channels"), size = dim(spec, "size"), batch = dim(spec, "batch");
	nn_net_init(&ec.net, pool, ch, size, size);
	encoder_build(&ec.net, "", 0, &cfg);
	if (nn_net_finalize(&ec.net, &err) || nn_net_set_batch(&ec.net, batch, NN_GRAD_PARAMS, &err)) {
		fprintf(stderr, "bench_nn: %s\n", err.msg);
		return 1;
	}
	nn_net_reset_params(&ec.net, 0);
	ec.x = randn((size_t)batch * ch * size * size, 1);
	ec.dy = randn((size_t)batch * nn_net_out_dim(&ec.net), 2);
	struct timing t = { 0 };
	nn_net_flops(&ec.net, &t.flops_fwd, &t.flops_bwd);
	measure(&t, encoder_step, &ec, opt);
	print_record("encoder", cJSON_GetObjectItemCaseSensitive(spec, "name")->valuestring, &t,
		     opt->threads);
	free(ec.x);
	free(ec.dy);
	nn_net_free(&ec.net);
	return 0;
}

/* ---- machine ---------------------------------------------------------- */

#define SGEMM_N 2048
#define SGEMM_REPS 5
#define STREAM_FLOATS ((size_t)48 << 20) /* 192 MiB per array */
#define STREAM_REPS 5

struct stream_task {
	float *a, *b, *c;
	size_t n;
	int triad;
};

/* b = a (copy) or a = b + 3·c (triad) over this thread's slice. */
static void stream_slice(void *arg, int tid, int nth)
{
	const struct stream_task *t = arg;
	size_t lo, hi;
	pool_split(t->n, tid, nth, &lo, &hi);
	float *restrict a = t->a, *restrict b = t->b;
	const float *restrict c = t->c;
	if (t->triad)
		for (size_t i = lo; i < hi; i++)
			a[i] = b[i] + 3.0f * c[i];
	else
		for (size_t i = lo; i < hi; i++)
			b[i] = a[i];
}

/* Best GB/s of copy (2 arrays moved) and triad (3), counting reads and writes. */
static void stream(struct pool *pool, double *copy_gbs, double *triad_gbs)
{
	struct stream_task t = { .n = STREAM_FLOATS };
	t.a = malloc(t.n * sizeof(float));
	t.b = malloc(t.n * sizeof(float));
	t.c = malloc(t.n * sizeof(float));
	*copy_gbs = *triad_gbs = 0;
	if (!t.a || !t.b || !t.c)
		goto out;
	for (size_t i = 0; i < t.n; i++) /* touch every page before timing */
		t.a[i] = t.b[i] = t.c[i] = 1.0f;
	for (int rep = 0; rep < 2 * STREAM_REPS; rep++) {
		t.triad = rep % 2;
		double t0 = now();
		pool_run(pool, stream_slice, &t);
		double gbs = (t.triad ? 3.0 : 2.0) * 4.0 * (double)t.n / (now() - t0) * 1e-9;
		double *best = t.triad ? triad_gbs : copy_gbs;
		*best = gbs > *best ? gbs : *best;
	}
out:
	free(t.a);
	free(t.b);
	free(t.c);
}

/* Best GFLOP/s of C = A·B at 2048³: pool-split (blas_threads 0) or OpenBLAS-threaded. */
static double sgemm_gflops(struct pool *pool, int blas_threads)
{
	const size_t nn = (size_t)SGEMM_N * SGEMM_N;
	float *a = randn(nn, 1), *b = randn(nn, 2), *c = randn(nn, 3);
	double best = 0, flops = 2.0 * SGEMM_N * SGEMM_N * SGEMM_N;
	if (blas_threads)
		openblas_set_num_threads(blas_threads);
	for (int rep = 0; rep < SGEMM_REPS + 1; rep++) { /* the first is a warm-up */
		double t0 = now();
		if (blas_threads)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, SGEMM_N, SGEMM_N,
				    SGEMM_N, 1.0f, a, SGEMM_N, b, SGEMM_N, 0.0f, c, SGEMM_N);
		else
			gemm(pool, 0, 0, SGEMM_N, SGEMM_N, SGEMM_N, 1.0f, a, SGEMM_N, b, SGEMM_N,
			     0.0f, c, SGEMM_N);
		double g = flops / (now() - t0) * 1e-9;
		if (rep > 0 && g > best)
			best = g;
	}
	openblas_set_num_threads(1); /* as pool_init left it */
	free(a);
	free(b);
	free(c);
	return best;
}

static void bench_machine(struct pool *pool, const struct options *opt)
{
	__builtin_cpu_init();
	double copy, triad;
	double pooled = sgemm_gflops(pool, 0), threaded = sgemm_gflops(pool, opt->threads);
	stream(pool, &copy, &triad);
	const char *env = getenv("OPENBLAS_CORETYPE");
	printf("{\"impl\": \"byol\", \"kind\": \"machine\", \"threads\": %d, \"avx2\": %d, "
	       "\"fma\": %d, \"avx512f\": %d, \"avx512bw\": %d, \"avx512vl\": %d, "
	       "\"blas_core\": \"%s\", \"openblas_coretype_env\": \"%s\", \"byol_isa\": \"%s\", "
	       "\"sgemm_n\": %d, \"sgemm_gflops\": %.2f, \"sgemm_openblas_threads_gflops\": %.2f, "
	       "\"stream_mib\": %zu, \"copy_gbs\": %.2f, \"triad_gbs\": %.2f}\n",
	       opt->threads, !!__builtin_cpu_supports("avx2"), !!__builtin_cpu_supports("fma"),
	       !!__builtin_cpu_supports("avx512f"), !!__builtin_cpu_supports("avx512bw"),
	       !!__builtin_cpu_supports("avx512vl"), blas_core_name(), env ? env : "", nn_isa_name(nn_isa()),
	       SGEMM_N, pooled, threaded, STREAM_FLOATS * 4 >> 20, copy, triad);
	fflush(stdout);
}

/* ---- main ------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr, "usage: bench_nn [--threads N] [--machine] [--ops] [--encoder NAME] "
			"[--min-time S] [--min-reps N] [--warmup N] [--shapes FILE]\n");
	return 64;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	*o = (struct options){ .threads = pool_cores(), .min_time = 1.0, .min_reps = 5,
			       .warmup = 2, .shapes = "tests/bench/shapes.json" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--ops") == 0)
			o->ops = 1;
		else if (strcmp(a, "--machine") == 0)
			o->machine = 1;
		else if (strcmp(a, "--min-reps") == 0 && v && ++i)
			o->min_reps = atoi(v) < 1 ? 1 : atoi(v);
		else if (strcmp(a, "--warmup") == 0 && v && ++i)
			o->warmup = atoi(v) < 0 ? 0 : atoi(v);
		else if (strcmp(a, "--threads") == 0 && v && ++i)
			o->threads = atoi(v);
		else if (strcmp(a, "--encoder") == 0 && v && ++i)
			o->encoder = v;
		else if (strcmp(a, "--min-time") == 0 && v && ++i)
			o->min_time = atof(v);
		else if (strcmp(a, "--shapes") == 0 && v && ++i)
			o->shapes = v;
		else
			return -1;
	}
	return o->machine || o->ops || o->encoder ? 0 : -1;
}

static cJSON *read_json(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	return cJSON_Parse(buf);
}

int main(int argc, char **argv)
{
	blas_select_core(argv);
	struct options opt;
	if (parse_options(&opt, argc, argv))
		return usage();
	cJSON *shapes = read_json(opt.shapes);
	if (!shapes) {
		fprintf(stderr, "bench_nn: cannot read %s\n", opt.shapes);
		return 66;
	}
	struct pool *pool;
	struct err err;
	if (pool_init(&pool, opt.threads, &err)) {
		fprintf(stderr, "bench_nn: %s\n", err.msg);
		return 1;
	}
	int rc = 0, found = !opt.encoder;
	const cJSON *spec;
	if (opt.machine)
		bench_machine(pool, &opt);
	if (opt.ops)
		cJSON_ArrayForEach(spec, cJSON_GetObjectItemCaseSensitive(shapes, "ops"))
			bench_op(spec, pool, &opt);
	cJSON_ArrayForEach(spec, cJSON_GetObjectItemCaseSensitive(shapes, "encoders")) {
		const char *name = cJSON_GetObjectItemCaseSensitive(spec, "name")->valuestring;
		if (opt.encoder && strcmp(name, opt.encoder) == 0) {
			found = 1;
			rc |= bench_encoder(spec, pool, &opt);
		}
	}
	if (!found) {
		fprintf(stderr, "bench_nn: unknown encoder %s\n", opt.encoder);
		rc = 64;
	}
	pool_free(pool);
	cJSON_Delete(shapes);
	return rc;
}
