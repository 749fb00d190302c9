/*
 * test_optim.c — the optimizer updates against the formulas of BYOL.md
 * computed here in double: LARS (decay and trust ratio on weights; biases and
 * BN parameters plain), momentum SGD, the EMA, and the lr and τ schedules at
 * their end points.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "optim.h"

/* A net with one linear layer (weight decays, bias does not). */
static void build(struct nn_net *net, struct pool *pool)
{
	struct err e;
	nn_net_init(net, pool, 3, 1, 1);
	assert_true(nn_linear(net, "fc", 0, 2, 1) >= 0);
	assert_int_equal(nn_net_finalize(net, &e), 0);
	for (size_t i = 0; i < net->param_len; i++) {
		net->param[i] = 0.5f - 0.1f * (float)i;
		net->grad[i] = 0.2f + 0.05f * (float)i;
	}
}

/* The expected new parameters after one update from zero momentum. */
static void expect(const struct nn_net *net, const float *p0, const float *g, int lars,
		   double wd, double eta, double lr, double *want)
{
	for (int t = 0; t < net->n_params; t++) {
		const struct nn_tensor *tn = &net->params[t];
		int decay = !(tn->flags & NN_PARAM_NO_DECAY);
		double pn = 0, gn = 0;
		for (size_t i = 0; i < tn->len; i++) {
			double d = g[tn->offset + i] + (decay ? wd * p0[tn->offset + i] : 0);
			pn += (double)p0[tn->offset + i] * p0[tn->offset + i];
			gn += d * d;
		}
		double scale = lars && decay ? eta * sqrt(pn) / sqrt(gn) : 1.0;
		for (size_t i = 0; i < tn->len; i++) {
			size_t k = tn->offset + i;
			want[k] = p0[k] - lr * scale * (g[k] + (decay ? wd * p0[k] : 0));
		}
	}
}

static void check_update(int lars)
{
	struct pool *pool;
	struct err e;
	struct nn_net net;
	assert_int_equal(pool_init(&pool, 1, &e), 0);
	build(&net, pool);
	float p0[8], g[8], mom[8] = { 0 };
	double want[8];
	memcpy(p0, net.param, sizeof p0);
	memcpy(g, net.grad, sizeof g);
	struct byol_optim o = { .lars = lars, .weight_decay = 0.1, .momentum = 0.9, .eta = 0.02 };
	expect(&net, p0, g, lars, 0.1, 0.02, 0.5, want);
	byol_optim_update(&net, mom, &o, 0.5);
	for (size_t i = 0; i < net.param_len; i++)
		assert_float_equal(net.param[i], want[i], 1e-6);
	/* A second step adds momentum·μ: μ = 0.9·μ + g'. */
	byol_optim_update(&net, mom, &o, 0.0);
	for (size_t i = 0; i < net.param_len; i++)
		assert_float_equal(net.param[i], want[i], 1e-6); /* lr 0: no move */
	nn_net_free(&net);
	pool_free(pool);
}

static void test_lars(void **state)
{
	(void)state;
	check_update(1);
}

static void test_sgd(void **state)
{
	(void)state;
	check_update(0);
}

static void test_ema_and_schedules(void **state)
{
	(void)state;
	struct pool *pool;
	struct err e;
	struct nn_net a, b;
	assert_int_equal(pool_init(&pool, 1, &e), 0);
	build(&a, pool);
	build(&b, pool);
	for (size_t i = 0; i < b.param_len; i++)
		b.param[i] = 1.0f;
	byol_ema_update(&b, &a, 0.75);
	for (size_t i = 0; i < b.param_len; i++)
		assert_float_equal(b.param[i], 0.75 + 0.25 * a.param[i], 1e-6);
	struct byol_schedule s = { .peak_lr = 2.0, .warmup_steps = 10, .total_steps = 110,
				   .tau_base = 0.99 };
	assert_float_equal(byol_hyper_at(&s, 0).lr, 0.0, 1e-12);
	assert_float_equal(byol_hyper_at(&s, 5).lr, 1.0, 1e-12);
	assert_float_equal(byol_hyper_at(&s, 10).lr, 2.0, 1e-12);
	assert_float_equal(byol_hyper_at(&s, 60).lr, 1.0, 1e-12);  /* half-way down the cosine */
	assert_float_equal(byol_hyper_at(&s, 110).lr, 0.0, 1e-12);
	assert_float_equal(byol_hyper_at(&s, 0).tau, 0.99, 1e-12);
	assert_float_equal(byol_hyper_at(&s, 55).tau, 0.995, 1e-12);
	assert_float_equal(byol_hyper_at(&s, 110).tau, 1.0, 1e-12);
	nn_net_free(&a);
	nn_net_free(&b);
	pool_free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lars),
		cmocka_unit_test(test_sgd),
		cmocka_unit_test(test_ema_and_schedules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
