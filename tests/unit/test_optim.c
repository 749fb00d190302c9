/*
 * test_optim.c — the optimizer updates against the formulas of optim.h and
 * the BYOL paper computed here in double: LARS (weight decay and the per-tensor
 * trust ratio η‖p‖/‖g‖ on weights, 1 when a norm is 0; biases and BN
 * parameters plain) and momentum SGD, over five steps with changing
 * gradients and learning rates so the momentum accumulates; the EMA; and the
 * lr and τ schedules at their end points.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "byol/optim.h"

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

/*
 * The net of the update cases: fc (3→2, weight and bias) → bn (weight, bias)
 * → head (2→2, weight only). Two decayed tensors with different norms (the
 * trust ratio is per tensor), head.weight starting at 0 (‖p‖ = 0: ratio 1 on
 * the first step), and three excluded ones (a linear bias, BN's γ and β).
 */
#define NP 16
static void build_steps(struct nn_net *net, struct pool *pool)
{
	struct err e;
	nn_net_init(net, pool, 3, 1, 1);
	int x = nn_linear(net, "fc", 0, 2, 1);
	x = nn_batchnorm(net, "bn", x);
	assert_true(nn_linear(net, "head", x, 2, 0) >= 0);
	assert_int_equal(nn_net_finalize(net, &e), 0);
	assert_int_equal(net->param_len, NP);
	assert_int_equal(net->n_params, 5);
	for (size_t i = 0; i < NP; i++)
		net->param[i] = 0.6f - 0.13f * (float)i;
	const struct nn_tensor *h = nn_net_param(net, "head.weight");
	assert_non_null(h);
	memset(net->param + h->offset, 0, h->len * sizeof(float));
}

/* Step k's gradient: its sign and size change from step to step. */
static float grad_at(int k, size_t i)
{
	return (float)(0.3 * sin(1.0 + 0.7 * (double)i + 1.9 * k) + 0.05 * k);
}

/* Decayed or not, by name as optim.h has it: biases and BN parameters are not. */
static int decays(const struct nn_tensor *t)
{
	size_t n = strlen(t->name);
	return !(n >= 5 && strcmp(t->name + n - 5, ".bias") == 0) && strncmp(t->name, "bn.", 3);
}

static double norm(const double *x, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += x[i] * x[i];
	return sqrt(s);
}

/*
 * Five updates from zero momentum, each checked against a reference that
 * keeps its own state in double, per tensor:
 *   g' = g + wd·p (decayed), g' *= η‖p‖/‖g'‖ (LARS, decayed; 1 if a norm is 0),
 *   μ = m·μ + g', p −= lr·μ.
 * The code stores p, μ and g' in float, so it drifts from the reference by
 * float32 rounding only. Tolerance: a first-order bound on that drift, run
 * beside the reference (u = 2⁻²⁴, each float operation a relative error ≤ u):
 *   eμ ← m·eμ + u·(2·m|μ| + |μ'|) + (u + ε)·|g'| + ratio·wd·ep
 *        (m rounded to float, m·μ, the sum; g' rounded, the ratio perturbed
 *        by ε, the p error through wd·p)
 *   ep ← ep + lr·eμ + u·(2·lr|μ| + |p'|)     (lr rounded, lr·μ, the difference)
 *   ε  = ‖ep‖/‖p‖ + wd·‖ep‖/‖g'‖ (LARS on a decayed tensor; else 0): how far
 *        the code's p, off by ep, moves the trust ratio.
 * Checked: |p − p_ref| ≤ 2·ep and |μ − μ_ref| ≤ 2·eμ (2: for second-order
 * terms). That comes to 2e-10 to 1e-6 here (the observed error stays under
 * half the bound); every defect tried (μ without m·μ, lr folded into μ,
 * dampening, Nesterov, the ratio on ‖g‖ without wd·p or without η, decay or
 * the ratio on biases and BN, ratio 0 at ‖p‖ = 0) is off by > 100× that.
 */
static void check_steps(int lars)
{
	struct pool *pool;
	struct err e;
	struct nn_net net;
	assert_int_equal(pool_init(&pool, 1, &e), 0);
	build_steps(&net, pool);
	const double wd = 0.1, m = 0.9, eta = 0.02, u = FLT_EPSILON / 2;
	const double lrs[] = { 0.5, 0.2, 0.4, 0.1, 0.3 }; /* changing: lr·μ ≠ μ of lr·g' */
	const int steps = (int)(sizeof lrs / sizeof lrs[0]);
	struct byol_optim o = { .lars = lars, .weight_decay = wd, .momentum = m, .eta = eta };
	float mom[NP] = { 0 };
	double p[NP], mu[NP] = { 0 }, ep[NP] = { 0 }, em[NP] = { 0 }, worst = 0;
	for (size_t i = 0; i < NP; i++)
		p[i] = net.param[i];
	int excluded = 0;
	for (int k = 0; k < steps; k++) {
		for (size_t i = 0; i < NP; i++)
			net.grad[i] = grad_at(k, i);
		for (int t = 0; t < net.n_params; t++) {
			const struct nn_tensor *tn = &net.params[t];
			const int decay = decays(tn);
			assert_int_equal(!(tn->flags & NN_PARAM_NO_DECAY), decay);
			excluded += k == 0 && !decay;
			double *pt = p + tn->offset, *mt = mu + tn->offset;
			double *ept = ep + tn->offset, *emt = em + tn->offset, d[NP];
			const float *g = net.grad + tn->offset;
			const size_t n = tn->len;
			for (size_t i = 0; i < n; i++)
				d[i] = g[i] + (decay ? wd * pt[i] : 0);
			double pn = norm(pt, n), gn = norm(d, n), ratio = 1, eps = 0;
			if (lars && decay && pn > 0 && gn > 0) {
				ratio = eta * pn / gn;
				eps = norm(ept, n) / pn + wd * norm(ept, n) / gn;
			}
			if (lars && decay && k == 0 && strcmp(tn->name, "head.weight") == 0)
				assert_true(pn == 0); /* the ‖p‖ = 0 rule is exercised */
			for (size_t i = 0; i < n; i++) {
				double gi = ratio * d[i], mu1 = m * mt[i] + gi;
				emt[i] = m * emt[i] + u * (2 * m * fabs(mt[i]) + fabs(mu1)) +
					 (u + eps) * fabs(gi) +
					 (decay ? ratio * wd * ept[i] : 0);
				mt[i] = mu1;
				pt[i] -= lrs[k] * mu1;
				ept[i] += lrs[k] * emt[i] +
					  u * (2 * lrs[k] * fabs(mu1) + fabs(pt[i]));
			}
		}
		byol_optim_update(&net, mom, &o, lrs[k]);
		for (size_t i = 0; i < NP; i++) {
			double dp = fabs(net.param[i] - p[i]), dm = fabs(mom[i] - mu[i]);
			if (dp > 2 * ep[i] || dm > 2 * em[i])
				fail_msg("%s step %d, parameter %zu: p %.9g, want %.9g ± %.2g; "
					 "μ %.9g, want %.9g ± %.2g", lars ? "LARS" : "SGD", k + 1, i,
					 net.param[i], p[i], 2 * ep[i], mom[i], mu[i], 2 * em[i]);
			worst = fmax(worst, fmax(dp / ep[i], dm / em[i]));
		}
	}
	assert_int_equal(excluded, 3);
	print_message("%s: %d steps, largest error %.2f of its first-order bound\n",
		      lars ? "LARS" : "SGD", steps, worst);
	nn_net_free(&net);
	pool_free(pool);
}

static void test_lars(void **state)
{
	(void)state;
	check_steps(1);
}

static void test_sgd(void **state)
{
	(void)state;
	check_steps(0);
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
