/*
 * test_ref_byol.c — whole BYOL training steps against PyTorch
 * (tests/ref/gen_byol.py, computed in float64 from the same float32 start).
 *
 * From the same initial weights and the same two views per step, byol must
 * give the same loss and the same gradient of every online parameter at
 * every step (loss relative 1e-5), and after the last step (LARS, warm-up
 * and cosine learning rate, τ schedule, EMA) the same online and target
 * parameters, BN statistics and LARS momenta. Errors are ‖a−b‖ / ‖b‖ per
 * tensor: ≤ 5e-4 for parameters and statistics, ≤ 1e-3 for gradients and
 * momenta. (An element-wise bound would not do: a ReLU input within float32
 * rounding of zero opens its gate differently from the exact run now and
 * then, which moves single gradient elements by whole percents and is no
 * fault of either implementation.) Each of the mistakes tried against it
 * (decay on BN parameters, a trust ratio without the decay term, τ off by
 * 0.1%) fails it.
 */
#include "byol/model.h"
#include "ref_util.h"

#define LOSS_TOL 1e-5
#define TENSOR_TOL 5e-4
#define GRAD_TOL 5e-4
#define MOMENTUM_TOL 1e-3

static const char *meta(const struct st_file *f, const char *key)
{
	const char *v = st_meta(f, key);
	assert_non_null(v);
	return v;
}

static void config_from(const struct st_file *f, struct byol_config *c, struct byol_optim *o,
			struct byol_schedule *s)
{
	*c = (struct byol_config){ .channels = atoi(meta(f, "channels")),
				   .size = atoi(meta(f, "size")),
				   .batch = atoi(meta(f, "batch")) };
	assert_int_equal(encoder_arch_parse(meta(f, "model"), &c->encoder.arch), 0);
	c->encoder.width = atof(meta(f, "width"));
	c->encoder.imagenet_stem = strcmp(meta(f, "stem"), "imagenet") == 0;
	c->proj_hidden = c->pred_hidden = atoi(meta(f, "hidden"));
	c->proj_out = c->pred_out = atoi(meta(f, "out"));
	*o = (struct byol_optim){ .lars = 1, .weight_decay = atof(meta(f, "weight_decay")),
				  .momentum = atof(meta(f, "momentum")),
				  .eta = atof(meta(f, "eta")) };
	*s = (struct byol_schedule){ .peak_lr = atof(meta(f, "base_lr")) * c->batch / 256.0,
				     .warmup_steps = atol(meta(f, "warmup_steps")),
				     .total_steps = atol(meta(f, "steps")),
				     .tau_base = atof(meta(f, "tau_base")) };
}

/* Tolerance of a comparison: ‖a−b‖ / max(‖b‖, floor) (l2) or max|a−b| / max(max|b|, floor). */
struct bound {
	double tol, floor;
	int l2;
};

/* Visit every parameter (and unless params_only, buffer) of part p as "<stage>.<prefix><name>",
   reading parameters from arena_override when given (gradients, momentum). */
typedef void (*tensor_fn)(const struct st_file *f, const char *key, float *data, size_t n,
			  const struct bound *b);

static void each_tensor(struct byol_model *m, int p, const char *stage, int params_only,
			float *arena_override, const struct st_file *f, tensor_fn fn,
			const struct bound *b)
{
	struct nn_net *net = &m->net[p];
	char key[NN_NAME_MAX + 64];
	for (int i = 0; i < net->n_params + (params_only ? 0 : net->n_buffers); i++) {
		int is_param = i < net->n_params;
		const struct nn_tensor *t = is_param ? &net->params[i] : &net->buffers[i - net->n_params];
		float *arena = is_param ? (arena_override ? arena_override : net->param) : net->buffer;
		snprintf(key, sizeof key, "%s.%s%s", stage, byol_part_prefix(p), t->name);
		fn(f, key, arena + t->offset, t->len, b);
	}
}

static void load(const struct st_file *f, const char *key, float *data, size_t n,
		 const struct bound *b)
{
	(void)b;
	assert_int_equal(ref_copy(data, f, key, n), 0);
}

static void compare(const struct st_file *f, const char *key, float *data, size_t n,
		    const struct bound *b)
{
	float *want = malloc(n * sizeof *want);
	assert_int_equal(ref_copy(want, f, key, n), 0);
	double e = b->l2 ? ref_error_l2(data, want, n, b->floor) : ref_error_floor(data, want, n, b->floor);
	if (getenv("REF_VERBOSE") || !(e <= b->tol))
		fprintf(stderr, "%-56s error %.3e\n", key, e);
	assert_true(e <= b->tol);
	free(want);
}

/* The largest tensor norm of the gradients (momentum 0) or momenta (1) of the online
   nets. A bias just before BN has an exactly zero gradient, so its rounding noise is
   measured against a thousandth of this instead. */
static double online_scale(const struct byol_model *m, int momentum)
{
	double s = 0;
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++) {
		const struct nn_net *net = &m->net[p];
		for (int i = 0; i < net->n_params; i++) {
			const struct nn_tensor *t = &net->params[i];
			const float *x = (momentum ? m->momentum[p] : net->grad) + t->offset;
			double n2 = 0;
			for (size_t j = 0; j < t->len; j++)
				n2 += (double)x[j] * x[j];
			s = fmax(s, sqrt(n2));
		}
	}
	return s;
}

static void check_file(void **state)
{
	const char *path = *state;
	struct st_file f;
	struct err e = { 0 };
	struct pool *pool;
	struct byol_config cfg;
	struct byol_optim optim;
	struct byol_schedule sched;
	struct byol_model m;
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	config_from(&f, &cfg, &optim, &sched);
	assert_int_equal(pool_init(&pool, 2, &e), 0);
	assert_int_equal(byol_model_init(&m, &cfg, &optim, pool, 0, &e), 0);
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		each_tensor(&m, p, "init", 0, NULL, &f, load, NULL);
	byol_model_reset_target(&m);

	const size_t nview = (size_t)cfg.batch * cfg.channels * cfg.size * cfg.size;
	float *v1 = malloc(nview * sizeof *v1), *v2 = malloc(nview * sizeof *v2);
	float loss[16], lr[16], tau[16];
	const int steps = (int)sched.total_steps;
	assert_int_equal(ref_copy(loss, &f, "loss", (size_t)steps), 0);
	assert_int_equal(ref_copy(lr, &f, "lr", (size_t)steps), 0);
	assert_int_equal(ref_copy(tau, &f, "tau", (size_t)steps), 0);
	const struct bound tensors = { TENSOR_TOL, 1e-6, 1 };
	double worst_loss = 0;
	char key[32];
	for (int k = 0; k < steps; k++) {
		snprintf(key, sizeof key, "view1.%d", k);
		assert_int_equal(ref_copy(v1, &f, key, nview), 0);
		snprintf(key, sizeof key, "view2.%d", k);
		assert_int_equal(ref_copy(v2, &f, key, nview), 0);
		struct byol_hyper h = byol_hyper_at(&sched, k);
		assert_float_equal(h.lr, lr[k], 1e-6 * (1 + lr[k]));
		assert_float_equal(h.tau, tau[k], 1e-6);
		struct byol_stats st;
		byol_step(&m, v1, v2, &h, &st);
		double rel = fabs(st.loss - loss[k]) / loss[k];
		if (getenv("REF_VERBOSE") || !(rel <= LOSS_TOL))
			fprintf(stderr, "step %d loss %.7f, PyTorch %.7f\n", k, st.loss, loss[k]);
		worst_loss = fmax(worst_loss, rel);
		assert_true(rel <= LOSS_TOL);
		const struct bound grads = { GRAD_TOL, 1e-3 * online_scale(&m, 0), 1 };
		snprintf(key, sizeof key, "grad%d", k);
		for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
			each_tensor(&m, p, key, 1, m.net[p].grad, &f, compare, &grads);
	}
	for (int p = 0; p < BYOL_PARTS; p++)
		each_tensor(&m, p, "final", 0, NULL, &f, compare, &tensors);
	const struct bound momenta = { MOMENTUM_TOL, 1e-3 * online_scale(&m, 1), 1 };
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		each_tensor(&m, p, "momentum", 1, m.momentum[p], &f, compare, &momenta);
	print_message("%s: %d steps, losses %.4f → %.4f, worst relative loss error %.1e\n",
		      strrchr(path, '/') + 1, steps, loss[0], loss[steps - 1], worst_loss);
	free(v1);
	free(v2);
	byol_model_free(&m);
	pool_free(pool);
	st_free(&f);
}

int main(void)
{
	return ref_run_cases("ref_byol", "byol", check_file, NULL);
}
