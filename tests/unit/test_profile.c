/*
 * test_profile.c — profile mode (nn_net_profile, byol_model_profile) changes
 * no result: outputs, every gradient, BN statistics and whole BYOL steps are
 * bit for bit those of an unprofiled run, although profiling splits conv and
 * linear backward into two calls. Also the node descriptions of profile.h:
 * labels, FLOPs consistent with nn_net_flops, call counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "byol/model.h"
#include "nn/profile.h"
#include "rng.h"

#define BATCH 4
#define SIZE 32

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

/* A narrow ResNet-18 with the ImageNet stem and an MLP head: every op of the core. */
static void build(struct nn_net *net, enum nn_grad_mode mode)
{
	struct encoder_config cfg = { .arch = ENCODER_RESNET18, .width = 0.125, .imagenet_stem = 1 };
	struct err e;
	nn_net_init(net, pool, 3, SIZE, SIZE);
	int x = encoder_build(net, "", 0, &cfg);
	assert_true(mlp_build(net, "head.", x, 32, 16) >= 0);
	assert_int_equal(nn_net_finalize(net, &e), 0);
	assert_int_equal(nn_net_set_batch(net, BATCH, mode, &e), 0);
	nn_net_reset_params(net, 7);
}

static float *randn(size_t n, uint64_t seed)
{
	struct rng r;
	rng_init(&r, seed, 0);
	float *p = malloc(n * sizeof *p);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)rng_normal(&r);
	return p;
}

static void assert_same(const float *a, const float *b, size_t n)
{
	assert_memory_equal(a, b, n * sizeof(float));
}

/* Two training steps' forward and backward on both nets, compared after each. */
static void test_net_results_unchanged(void **state)
{
	(void)state;
	struct nn_net plain, prof;
	build(&plain, NN_GRAD_INPUT);
	build(&prof, NN_GRAD_INPUT);
	assert_null(plain.prof);
	assert_int_equal(nn_net_profile(&prof, 1), 0);
	const size_t in_len = (size_t)BATCH * 3 * SIZE * SIZE;
	const size_t out_len = (size_t)BATCH * nn_net_out_dim(&plain);
	for (int step = 0; step < 2; step++) {
		float *x = randn(in_len, 10 + step), *dy = randn(out_len, 20 + step);
		assert_same(nn_net_forward(&plain, x, 1), nn_net_forward(&prof, x, 1), out_len);
		nn_net_zero_grad(&plain);
		nn_net_zero_grad(&prof);
		nn_net_backward(&plain, dy);
		nn_net_backward(&prof, dy);
		assert_same(plain.grad, prof.grad, plain.param_len);
		assert_same(plain.acts[0].grad, prof.acts[0].grad, in_len);
		assert_same(plain.buffer, prof.buffer, plain.buffer_len);
		free(x);
		free(dy);
	}
	double total = 0;
	for (int i = 0; i < prof.n_nodes; i++) {
		assert_int_equal(prof.prof[i].fwd_calls, 2);
		assert_int_equal(prof.prof[i].bwd_calls, 2);
		total += prof.prof[i].fwd_s + prof.prof[i].bwd_data_s + prof.prof[i].bwd_weights_s;
		if (prof.nodes[i].op != NN_OP_CONV2D && prof.nodes[i].op != NN_OP_LINEAR)
			assert_true(prof.prof[i].bwd_weights_s == 0);
	}
	assert_true(total > 0);
	assert_int_equal(nn_net_profile(&prof, 0), 0);
	assert_null(prof.prof);
	nn_net_free(&plain);
	nn_net_free(&prof);
}

static int find_label(const struct nn_net *net, const char *label)
{
	for (int i = 0; i < net->n_nodes; i++) {
		struct nn_node_info info;
		nn_node_describe(net, i, &info);
		if (strcmp(info.label, label) == 0)
			return i;
	}
	return -1;
}

/* Labels are unique and readable; FLOPs add up to nn_net_flops in both gradient modes. */
static void test_describe(void **state)
{
	(void)state;
	for (int mode = NN_GRAD_PARAMS; mode <= NN_GRAD_INPUT; mode++) {
		struct nn_net net;
		build(&net, (enum nn_grad_mode)mode);
		float *x = randn((size_t)BATCH * 3 * SIZE * SIZE, 1);
		nn_net_forward(&net, x, 1); /* BN bytes are those of the last forward's mode */
		free(x);
		double fwd = 0, bwd = 0, want_fwd, want_bwd;
		for (int i = 0; i < net.n_nodes; i++) {
			struct nn_node_info a, b;
			nn_node_describe(&net, i, &a);
			fwd += a.flops_fwd;
			bwd += a.flops_bwd_data + a.flops_bwd_weights;
			for (int j = 0; j < i; j++) {
				nn_node_describe(&net, j, &b);
				assert_string_not_equal(a.label, b.label);
			}
		}
		nn_net_flops(&net, &want_fwd, &want_bwd);
		assert_true(fwd == want_fwd && bwd == want_bwd);
		struct nn_node_info c1;
		nn_node_describe(&net, 0, &c1);
		assert_string_equal(c1.label, "conv1");
		assert_string_equal(c1.op, "conv2d");
		assert_string_equal(c1.shape, "b4 3x32x32>8x16x16 k7/2");
		assert_true(c1.flops_bwd_data == (mode == NN_GRAD_INPUT ? c1.flops_fwd : 0));
		assert_int_equal(find_label(&net, "bn1+relu"), 2);
		assert_int_equal(find_label(&net, "bn1+maxpool"), 3);
		assert_true(find_label(&net, "layer1.0.bn2+add") > 0);
		assert_true(find_label(&net, "layer2.0.downsample.1+add") > 0);
		int bn = find_label(&net, "head.1");
		struct nn_node_info info;
		nn_node_describe(&net, bn, &info);
		assert_string_equal(info.shape, "b4 32");
		assert_true(info.bytes_fwd == 3.0 * 4 * BATCH * 32); /* statistics + normalise */
		nn_net_free(&net);
	}
}

/* Whole BYOL steps: the profiled model's weights, target and momenta end up identical. */
static void test_byol_step_unchanged(void **state)
{
	(void)state;
	struct byol_config cfg = {
		.encoder = { .arch = ENCODER_RESNET18, .width = 0.125, .imagenet_stem = 0 },
		.channels = 3, .size = 16, .proj_hidden = 32, .proj_out = 8, .pred_hidden = 32,
		.pred_out = 8, .batch = BATCH,
	};
	struct byol_optim optim = { .lars = 1, .weight_decay = 1e-4, .momentum = 0.9, .eta = 0.02 };
	struct byol_hyper h = { .lr = 0.1, .tau = 0.99 };
	struct byol_model plain, prof;
	struct err e;
	assert_int_equal(byol_model_init(&plain, &cfg, &optim, pool, 3, &e), 0);
	assert_int_equal(byol_model_init(&prof, &cfg, &optim, pool, 3, &e), 0);
	assert_int_equal(byol_model_profile(&prof, 1), 0);
	const size_t n = (size_t)BATCH * 3 * 16 * 16;
	float *v1 = randn(n, 1), *v2 = randn(n, 2);
	for (int step = 0; step < 3; step++) {
		struct byol_stats a, b;
		byol_step(&plain, v1, v2, &h, &a);
		byol_step(&prof, v1, v2, &h, &b);
		assert_true(a.loss == b.loss && a.z_std == b.z_std);
	}
	for (int p = 0; p < BYOL_PARTS; p++) {
		assert_same(plain.net[p].param, prof.net[p].param, plain.net[p].param_len);
		assert_same(plain.net[p].buffer, prof.net[p].buffer, plain.net[p].buffer_len);
		if (p <= BYOL_PREDICTOR)
			assert_same(plain.momentum[p], prof.momentum[p], plain.net[p].param_len);
		assert_non_null(prof.net[p].prof);
	}
	assert_int_equal(prof.prof->steps, 3);
	assert_true(prof.prof->step_s > 0 && prof.prof->optim_s > 0 && prof.prof->loss_s > 0);
	assert_int_equal(prof.net[BYOL_ENCODER].prof[0].fwd_calls, 6); /* two views a step */
	free(v1);
	free(v2);
	byol_model_free(&plain);
	byol_model_free(&prof);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_results_unchanged),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_byol_step_unchanged),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
