/*
 * test_ref_ops.c — every kernel of the compute core against PyTorch
 * (tests/ref/gen_ops.py).
 *
 * Each reference file is one case of one op: conv2d, batchnorm (2-D and 1-D,
 * train and eval), maxpool, avgpool, linear, relu or add. The test runs the
 * op's forward kernel on the reference inputs and compares the output (and
 * for BatchNorm the running statistics: updated in train mode, unchanged in
 * eval mode), then runs the backward kernel with the reference upstream
 * gradient. Backward kernels accumulate (dinp += ..., dweight += ...), so
 * every gradient starts from random values of the reference's size and must
 * end as that start plus the reference gradient. ReLU is also checked in
 * place (forward with out == inp, backward with dinp == dout, which
 * overwrites). The error of a tensor is max|a−b| / max|b|, b the reference
 * (forward output or gradient, without the start), a ours (minus the start);
 * for train-mode BatchNorm dx max|a−b| / max(max|b|, max|γ·rstd·dy|), see
 * bn_dx_scale. It must be within its op's tolerance (table below). Every op
 * must have at least one case file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "nn/ops.h"
#include "ref_util.h"
#include "rng.h"

#define MAX_BUFS 40
#define MAX_STARTS 4

struct ref_case;

static void run_conv2d(struct ref_case *rc);
static void run_linear(struct ref_case *rc);
static void run_batchnorm(struct ref_case *rc);
static void run_relu(struct ref_case *rc);
static void run_maxpool(struct ref_case *rc);
static void run_avgpool(struct ref_case *rc);
static void run_add(struct ref_case *rc);

/*
 * Tolerance of max|a−b| / max|b| per op: GEMMs and reductions sum in another
 * order than PyTorch; the others are exact up to rounding of one add or divide.
 */
static const struct op_spec {
	const char *op;
	double tol;
	void (*run)(struct ref_case *rc);
} OPS[] = {
	{ "conv2d", 1e-4, run_conv2d },
	{ "linear", 1e-4, run_linear },
	{ "batchnorm", 1e-4, run_batchnorm },
	{ "relu", 1e-6, run_relu },
	{ "maxpool", 1e-6, run_maxpool },
	{ "avgpool", 1e-6, run_avgpool },
	{ "add", 1e-6, run_add },
};

#define N_OPS (sizeof OPS / sizeof OPS[0])

/* One case under test: its file and dims, our buffers, the worst error so far. */
struct ref_case {
	struct st_file f;
	cJSON *dims;
	struct pool *pool;
	struct rng rng;
	double tol, worst;
	const char *worst_name;
	int failed;
	void *bufs[MAX_BUFS];
	int n_bufs;
	struct { const float *grad, *start; } starts[MAX_STARTS]; /* see start_grad */
	int n_starts;
};

/* A zeroed array of n elements of size bytes, freed with the case. */
static void *alloc(struct ref_case *rc, size_t n, size_t size)
{
	assert_true(rc->n_bufs < MAX_BUFS);
	void *p = calloc(n ? n : 1, size);
	assert_non_null(p);
	rc->bufs[rc->n_bufs++] = p;
	return p;
}

static float *zeros(struct ref_case *rc, size_t n)
{
	return alloc(rc, n, sizeof(float));
}

/* Reference tensor `name`, which must have exactly n elements. */
static float *ref(struct ref_case *rc, const char *name, size_t n)
{
	float *t = zeros(rc, n);
	assert_int_equal(ref_copy(t, &rc->f, name, n), 0);
	return t;
}

static int dim(const struct ref_case *rc, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(rc->dims, key);
	if (!cJSON_IsNumber(v))
		fail_msg("dims lack the integer %s", key);
	return v->valueint;
}

/* Elements of the (n, c, h, w) image the dims describe. */
static size_t image_len(const struct ref_case *rc)
{
	return (size_t)dim(rc, "n") * dim(rc, "c") * dim(rc, "h") * dim(rc, "w");
}

/*
 * A gradient buffer for reference gradient `name`, holding random values up to
 * max|reference| in size: the backward kernels add to it, and check_as then
 * compares it with those values plus the reference.
 */
static float *start_grad(struct ref_case *rc, const char *name, size_t n)
{
	const float *want = ref(rc, name, n);
	float *g = zeros(rc, n), *start = zeros(rc, n);
	double scale = 0;
	for (size_t i = 0; i < n; i++)
		scale = fmax(scale, fabs(want[i]));
	for (size_t i = 0; i < n; i++)
		g[i] = start[i] = (float)((scale > 0 ? scale : 1.0) * (2 * rng_uniform_f64(&rc->rng) - 1));
	assert_true(rc->n_starts < MAX_STARTS);
	rc->starts[rc->n_starts].grad = g;
	rc->starts[rc->n_starts++].start = start;
	return g;
}

/* The start values of gradient buffer g (start_grad), or NULL. */
static const float *start_of(const struct ref_case *rc, const float *g)
{
	for (int i = 0; i < rc->n_starts; i++)
		if (rc->starts[i].grad == g)
			return rc->starts[i].start;
	return NULL;
}

/* Compare ours (minus its start, if a gradient) with reference tensor `name`, reported
   as `label`; floor as in ref_error_floor. */
static void check_as(struct ref_case *rc, const char *label, const char *name,
		     const float *ours, size_t n, double floor)
{
	float *want = malloc((n ? n : 1) * sizeof *want);
	assert_non_null(want);
	assert_int_equal(ref_copy(want, &rc->f, name, n), 0);
	const float *start = start_of(rc, ours);
	double num = 0, den = floor > 1e-30 ? floor : 1e-30;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)ours[i] - (start ? start[i] : 0.0) - want[i]);
		num = d > num || isnan(d) ? d : num;
		den = fmax(den, fabs(want[i]));
	}
	double err = num / den;
	free(want);
	if (!(err <= rc->tol)) {
		fprintf(stderr, "%s: error %.3e over tolerance %.0e\n", label, err, rc->tol);
		rc->failed = 1;
	}
	if (!rc->worst_name || !(err <= rc->worst)) {
		rc->worst = err;
		rc->worst_name = label;
	}
}

static void check(struct ref_case *rc, const char *name, const float *ours, size_t n)
{
	check_as(rc, name, name, ours, n, 0);
}

static void run_conv2d(struct ref_case *rc)
{
	struct conv2d_dims d;
	assert_int_equal(conv2d_dims_init(&d, dim(rc, "n"), dim(rc, "c"), dim(rc, "h"),
					  dim(rc, "w"), dim(rc, "oc"), dim(rc, "k"),
					  dim(rc, "stride"), dim(rc, "pad")), 0);
	const int bias = dim(rc, "bias");
	const size_t nx = (size_t)d.n * d.c * d.h * d.w, nw = (size_t)d.oc * d.c * d.k * d.k;
	const size_t ny = (size_t)d.n * d.oc * d.oh * d.ow, nb = (size_t)d.oc;
	float *x = ref(rc, "x", nx), *w = ref(rc, "w", nw), *b = bias ? ref(rc, "b", nb) : NULL;
	float *work = zeros(rc, conv2d_work_floats(&d, pool_threads(rc->pool)));
	float *y = zeros(rc, ny);
	conv2d_forward(rc->pool, y, work, x, w, b, &d);
	check(rc, "y", y, ny);

	float *dx = start_grad(rc, "dx", nx), *dw = start_grad(rc, "dw", nw);
	float *db = bias ? start_grad(rc, "db", nb) : NULL;
	conv2d_backward(rc->pool, dx, dw, db, work, ref(rc, "dy", ny), x, w, &d);
	check(rc, "dx", dx, nx);
	check(rc, "dw", dw, nw);
	if (bias)
		check(rc, "db", db, nb);
}

static void run_linear(struct ref_case *rc)
{
	const int n = dim(rc, "n"), in = dim(rc, "in"), out = dim(rc, "out");
	const int bias = dim(rc, "bias");
	const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
	float *x = ref(rc, "x", nx), *w = ref(rc, "w", nw), *b = bias ? ref(rc, "b", out) : NULL;
	float *y = zeros(rc, ny);
	linear_forward(rc->pool, y, x, w, b, n, in, out);
	check(rc, "y", y, ny);

	float *dx = start_grad(rc, "dx", nx), *dw = start_grad(rc, "dw", nw);
	float *db = bias ? start_grad(rc, "db", out) : NULL;
	linear_backward(rc->pool, dx, dw, db, ref(rc, "dy", ny), x, w, n, in, out);
	check(rc, "dx", dx, nx);
	check(rc, "dw", dw, nw);
	if (bias)
		check(rc, "db", db, out);
}

/*
 * Largest |γ·rstd·dy|: the size of the terms of train-mode
 * dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)). With N·HW = 2 (x̂ ≈ ±1) they
 * cancel to ~1e-3 of that (batchnorm-05), leaving float32 dx (ours and
 * PyTorch's alike) with ~1e-4 relative error, so dx is measured against
 * this scale when it exceeds max|dx|.
 */
static double bn_dx_scale(const float *w, const float *rstd, const float *dy, int n, int c,
			  int hw)
{
	double scale = 0;
	for (size_t i = 0; i < (size_t)n * c * hw; i++) {
		size_t ch = i / (size_t)hw % (size_t)c;
		scale = fmax(scale, fabs((double)w[ch] * rstd[ch] * dy[i]));
	}
	return scale;
}

/* "one" is 1-D BN on (N,C); "train" uses batch statistics and updates the running ones. */
static void run_batchnorm(struct ref_case *rc)
{
	const int n = dim(rc, "n"), c = dim(rc, "c"), train = dim(rc, "train");
	const int hw = dim(rc, "one") ? 1 : dim(rc, "h") * dim(rc, "w");
	const size_t nx = (size_t)n * c * hw;
	float *x = ref(rc, "x", nx), *w = ref(rc, "w", c), *b = ref(rc, "b", c);
	float *rmean = ref(rc, "running_mean", c), *rvar = ref(rc, "running_var", c);
	float *mean = zeros(rc, c), *rstd = zeros(rc, c), *y = zeros(rc, nx);
	double *work = alloc(rc, batchnorm_work_doubles(c), sizeof(double));
	batchnorm_forward(rc->pool, y, mean, rstd, work, x, w, b, rmean, rvar, n, c, hw, train,
			  NULL);
	check(rc, "y", y, nx);
	check(rc, "running_mean_out", rmean, c);
	check(rc, "running_var_out", rvar, c);

	float *dx = start_grad(rc, "dx", nx), *dw = start_grad(rc, "dw", c);
	float *db = start_grad(rc, "db", c), *dy = ref(rc, "dy", nx);
	batchnorm_backward(rc->pool, dx, dw, db, work, dy, x, w, mean, rstd, n, c, hw, train,
			   NULL);
	check_as(rc, "dx", "dx", dx, nx, train ? bn_dx_scale(w, rstd, dy, n, c, hw) : 0);
	check(rc, "dw", dw, c);
	check(rc, "db", db, c);
}

static void run_relu(struct ref_case *rc)
{
	const size_t n = image_len(rc);
	float *x = ref(rc, "x", n), *y = zeros(rc, n), *dx = start_grad(rc, "dx", n);
	relu_forward(rc->pool, y, x, n);
	check(rc, "y", y, n);
	relu_backward(rc->pool, dx, ref(rc, "dy", n), y, n);
	check(rc, "dx", dx, n);

	float *buf = ref(rc, "dy", n);
	relu_backward(rc->pool, buf, buf, y, n);
	check_as(rc, "dx in place", "dx", buf, n, 0);
	relu_forward(rc->pool, x, x, n);
	check_as(rc, "y in place", "y", x, n, 0);
}

static void run_maxpool(struct ref_case *rc)
{
	const int n = dim(rc, "n"), c = dim(rc, "c"), h = dim(rc, "h"), w = dim(rc, "w");
	const int k = dim(rc, "k"), stride = dim(rc, "stride"), pad = dim(rc, "pad");
	const int oh = pool2d_out(h, k, stride, pad), ow = pool2d_out(w, k, stride, pad);
	const size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * oh * ow;
	float *x = ref(rc, "x", nx), *y = zeros(rc, ny), *dx = start_grad(rc, "dx", nx);
	int32_t *argmax = alloc(rc, ny, sizeof *argmax);
	maxpool2d_forward(rc->pool, y, argmax, x, n, c, h, w, k, stride, pad);
	check(rc, "y", y, ny);
	maxpool2d_backward(rc->pool, dx, ref(rc, "dy", ny), argmax, n, c, h, w, oh, ow);
	check(rc, "dx", dx, nx);
}

static void run_avgpool(struct ref_case *rc)
{
	const int n = dim(rc, "n"), c = dim(rc, "c"), hw = dim(rc, "h") * dim(rc, "w");
	const size_t nx = (size_t)n * c * hw, ny = (size_t)n * c;
	float *x = ref(rc, "x", nx), *y = zeros(rc, ny), *dx = start_grad(rc, "dx", nx);
	avgpool_forward(rc->pool, y, x, n, c, hw);
	check(rc, "y", y, ny);
	avgpool_backward(rc->pool, dx, ref(rc, "dy", ny), n, c, hw);
	check(rc, "dx", dx, nx);
}

static void run_add(struct ref_case *rc)
{
	const size_t n = image_len(rc);
	float *y = zeros(rc, n), *dy = ref(rc, "dy", n);
	float *dx = start_grad(rc, "dx", n), *dx2 = start_grad(rc, "dx2", n);
	add_forward(rc->pool, y, ref(rc, "x", n), ref(rc, "x2", n), n);
	check(rc, "y", y, n);
	add_backward(rc->pool, dx, dy, n);
	add_backward(rc->pool, dx2, dy, n);
	check(rc, "dx", dx, n);
	check(rc, "dx2", dx2, n);
}

static const struct op_spec *find_op(const char *op)
{
	for (size_t i = 0; i < N_OPS; i++)
		if (strcmp(OPS[i].op, op) == 0)
			return &OPS[i];
	return NULL;
}

/* "n=2 c=3 ..." from the dims object. */
static void describe(const cJSON *dims, char *out, size_t cap)
{
	size_t len = 0;
	const cJSON *d;
	out[0] = '\0';
	cJSON_ArrayForEach(d, dims)
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, "%s%s=%d", len ? " " : "",
						d->string, d->valueint);
}

static void free_case(struct ref_case *rc)
{
	for (int i = 0; i < rc->n_bufs; i++)
		free(rc->bufs[i]);
	cJSON_Delete(rc->dims);
	pool_free(rc->pool);
	st_free(&rc->f);
}

static void check_file(void **state)
{
	const char *path = *state;
	struct ref_case rc = { 0 };
	struct err e;
	char desc[160];
	if (st_read(&rc.f, path, 0, &e) != 0)
		fail_msg("%s", e.msg);
	const char *op = st_meta(&rc.f, "op"), *dims = st_meta(&rc.f, "dims");
	assert_non_null(op);
	assert_non_null(dims);
	const struct op_spec *spec = find_op(op);
	if (!spec)
		fail_msg("%s: unknown op %s", path, op);
	rc.dims = cJSON_Parse(dims);
	assert_true(cJSON_IsObject(rc.dims));
	rc.tol = spec->tol;
	rng_init(&rc.rng, 20240611, 0);
	assert_int_equal(pool_init(&rc.pool, 2, &e), 0);
	spec->run(&rc);

	describe(rc.dims, desc, sizeof desc);
	print_message("%-24s %-9s %-46s worst %.2e (%s), tolerance %.0e\n",
		      strrchr(path, '/') + 1, op, desc, rc.worst, rc.worst_name, rc.tol);
	const int failed = rc.failed;
	free_case(&rc);
	assert_false(failed);
}

/* The first op of OPS without a case file (<op>-NN.safetensors), or NULL. */
static const char *missing_op(char **paths, int n)
{
	for (size_t i = 0; i < N_OPS; i++) {
		const size_t len = strlen(OPS[i].op);
		int found = 0;
		for (int j = 0; j < n && !found; j++) {
			const char *base = strrchr(paths[j], '/') + 1;
			found = strncmp(base, OPS[i].op, len) == 0 && base[len] == '-';
		}
		if (!found)
			return OPS[i].op;
	}
	return NULL;
}

int main(void)
{
	return ref_run_cases("ref_ops", "ops", check_file, missing_op);
}
