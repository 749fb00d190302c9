/*
 * test_ref_nets.c — whole networks against PyTorch (tests/ref/gen_nets.py).
 *
 * For each reference file: build the same network, load every parameter and
 * buffer by its PyTorch name (the name sets must be equal), run a training
 * forward and backward and an eval forward, and compare the output, the
 * input gradient, every parameter gradient and every updated running
 * statistic with the exact (float64) result computed from the same float32
 * weights and input. The error max|a−b| / max|b| of every tensor must be
 * ≤ 1e-3 or, in a network where float32 itself cannot reach that (PyTorch's
 * float32 result is stored beside the exact one), at most three times
 * PyTorch's worst error on that network: ReLU gates that lie within float32
 * rounding of zero open differently in every float32 run, and in a deep net
 * (ResNet-50 above all) a few such flips dominate the largest error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "models.h"
#include "ref_util.h"

#define NET_TOL 1e-3
#define MAX_KEYS 1024

/* One compared tensor: byol's values and the errors of byol and of PyTorch float32. */
struct compared {
	char key[NN_NAME_MAX + 16];
	const float *ours;
	size_t n;
	double err, err_torch; /* byol's and PyTorch float32's error against the exact result */
	double err_vs_torch;   /* byol against PyTorch float32 directly */
};

struct comparison {
	struct compared c[MAX_KEYS];
	int n;
};

static void add(struct comparison *cmp, const char *key, const float *ours, size_t n)
{
	assert_true(cmp->n < MAX_KEYS);
	struct compared *c = &cmp->c[cmp->n++];
	snprintf(c->key, sizeof c->key, "%s", key);
	c->ours = ours;
	c->n = n;
}

/* max|b| of the exact gradients: the floor below which a gradient counts as zero. */
static double grad_scale(const struct comparison *cmp, const struct st_file *f)
{
	double scale = 0;
	for (int i = 0; i < cmp->n; i++) {
		const struct compared *c = &cmp->c[i];
		if (strncmp(c->key, "grad.", 5) != 0)
			continue;
		float *b = malloc(c->n * sizeof *b);
		assert_int_equal(ref_copy(b, f, c->key, c->n), 0);
		for (size_t j = 0; j < c->n; j++)
			scale = fmax(scale, fabs(b[j]));
		free(b);
	}
	return scale;
}

/*
 * Errors max|a−b| / max(max|b|, floor) of byol and of PyTorch float32 against
 * the exact result; floor is 1e-3 of the largest gradient for gradients (a
 * bias just before BN has an exactly zero gradient) and 0 otherwise. Returns
 * PyTorch's worst error.
 */
static double measure(struct comparison *cmp, const struct st_file *f)
{
	const double floor = 1e-3 * grad_scale(cmp, f);
	double worst_torch = 0;
	char f32[NN_NAME_MAX + 32];
	for (int i = 0; i < cmp->n; i++) {
		struct compared *c = &cmp->c[i];
		float *exact = malloc(c->n * sizeof *exact), *torch = malloc(c->n * sizeof *torch);
		snprintf(f32, sizeof f32, "f32.%s", c->key);
		assert_int_equal(ref_copy(exact, f, c->key, c->n), 0);
		assert_int_equal(ref_copy(torch, f, f32, c->n), 0);
		double fl = strncmp(c->key, "grad.", 5) == 0 ? floor : 0;
		c->err = ref_error_floor(c->ours, exact, c->n, fl);
		c->err_torch = ref_error_floor(torch, exact, c->n, fl);
		c->err_vs_torch = ref_error_floor(c->ours, torch, c->n, fl);
		worst_torch = fmax(worst_torch, c->err_torch);
		free(exact);
		free(torch);
	}
	return worst_torch;
}

static const char *meta(const struct st_file *f, const char *key)
{
	const char *v = st_meta(f, key);
	assert_non_null(v);
	return v;
}

/* Build the network a reference file describes; returns its output activation. */
static int build(struct nn_net *net, struct pool *pool, const struct st_file *f)
{
	const char *model = meta(f, "model");
	int ch = atoi(meta(f, "channels")), size = atoi(meta(f, "size"));
	if (strcmp(model, "mlp") == 0) {
		nn_net_init(net, pool, ch, 1, 1);
		return mlp_build(net, "", 0, atoi(meta(f, "hidden")), atoi(meta(f, "out")));
	}
	struct encoder_config cfg = { .width = atof(meta(f, "width")),
				      .imagenet_stem = strcmp(meta(f, "stem"), "imagenet") == 0 };
	assert_int_equal(encoder_arch_parse(model, &cfg.arch), 0);
	nn_net_init(net, pool, ch, size, size);
	return encoder_build(net, "", 0, &cfg);
}

/* Every "param.*" tensor of the file is a parameter or buffer of net, and vice versa. */
static void load_state(struct nn_net *net, const struct st_file *f)
{
	char key[NN_NAME_MAX + 16];
	int in_file = 0;
	for (int i = 0; i < f->n_tensors; i++) {
		const char *name = f->tensors[i].name;
		if (strncmp(name, "param.", 6) != 0)
			continue;
		in_file++;
		if (!nn_net_param(net, name + 6) && !nn_net_buffer(net, name + 6))
			fail_msg("PyTorch has %s, byol does not", name + 6);
	}
	assert_int_equal(in_file, net->n_params + net->n_buffers);
	for (int i = 0; i < net->n_params + net->n_buffers; i++) {
		int is_param = i < net->n_params;
		const struct nn_tensor *t = is_param ? &net->params[i] : &net->buffers[i - net->n_params];
		snprintf(key, sizeof key, "param.%s", t->name);
		float *dst = (is_param ? net->param : net->buffer) + t->offset;
		assert_int_equal(ref_copy(dst, f, key, t->len), 0);
	}
}

static void check_file(void **state)
{
	const char *path = *state;
	struct st_file f;
	struct err e;
	struct pool *pool;
	struct nn_net net;
	char key[NN_NAME_MAX + 16];
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	assert_int_equal(pool_init(&pool, 2, &e), 0);
	assert_true(build(&net, pool, &f) >= 0);
	int batch = atoi(meta(&f, "batch"));
	assert_int_equal(nn_net_finalize(&net, &e), 0);
	assert_int_equal(nn_net_set_batch(&net, batch, NN_GRAD_INPUT, &e), 0);
	load_state(&net, &f);

	size_t nx = (size_t)batch * net.acts[0].c * net.acts[0].h * net.acts[0].w;
	size_t ny = (size_t)batch * nn_net_out_dim(&net);
	float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
	assert_int_equal(ref_copy(x, &f, "input", nx), 0);
	assert_int_equal(ref_copy(dy, &f, "dout", ny), 0);

	static struct comparison cmp;
	cmp.n = 0;
	const float *y = nn_net_forward(&net, x, 1);
	float *y_train = malloc(ny * sizeof *y_train);
	memcpy(y_train, y, ny * sizeof *y);
	add(&cmp, "output", y_train, ny);
	nn_net_zero_grad(&net);
	nn_net_backward(&net, dy);
	add(&cmp, "dinput", net.acts[0].grad, nx);
	for (int i = 0; i < net.n_params; i++) {
		snprintf(key, sizeof key, "grad.%s", net.params[i].name);
		add(&cmp, key, net.grad + net.params[i].offset, net.params[i].len);
	}
	for (int i = 0; i < net.n_buffers; i++) {
		snprintf(key, sizeof key, "buffer.%s", net.buffers[i].name);
		add(&cmp, key, net.buffer + net.buffers[i].offset, net.buffers[i].len);
	}
	add(&cmp, "output_eval", nn_net_forward(&net, x, 0), ny);

	const double tol = fmax(NET_TOL, 3 * measure(&cmp, &f));
	int over = 0, over_torch = 0, failed = 0, worst = 0;
	double worst_vs_torch = 0;
	for (int i = 0; i < cmp.n; i++) {
		const struct compared *c = &cmp.c[i];
		over += c->err > NET_TOL;
		over_torch += c->err_torch > NET_TOL;
		worst = c->err > cmp.c[worst].err ? i : worst;
		worst_vs_torch = fmax(worst_vs_torch, c->err_vs_torch);
		if (getenv("REF_VERBOSE") || !(c->err <= tol))
			fprintf(stderr, "%-48s byol %.3e  PyTorch float32 %.3e  byol vs PyTorch %.3e\n",
				c->key, c->err, c->err_torch, c->err_vs_torch);
		failed |= !(c->err <= tol);
	}
	print_message("%-36s %3d tensors; over %.0e: byol %3d, PyTorch float32 %3d; worst %.2e "
		      "(%s); tolerance %.1e; byol vs PyTorch float32 worst %.2e\n",
		      strrchr(path, '/') + 1, cmp.n, NET_TOL, over, over_torch, cmp.c[worst].err,
		      cmp.c[worst].key, tol, worst_vs_torch);
	assert_false(failed);
	free(y_train);
	free(x);
	free(dy);
	nn_net_free(&net);
	pool_free(pool);
	st_free(&f);
}

int main(void)
{
	return ref_run_cases("ref_nets", "nets", check_file, NULL);
}
