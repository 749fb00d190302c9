/*
 * test_net.c — the network graph and model builders: layer names and counts,
 * torchvision-style initialisation statistics, deterministic seeding, build
 * and allocation errors, the thread pool, and the replica seam.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/models.h"
#include "rng.h"

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

static void build(struct nn_net *net, enum encoder_arch arch, double width, int imagenet,
		  int ch, int size)
{
	struct encoder_config cfg = { .arch = arch, .width = width, .imagenet_stem = imagenet };
	struct err e;
	nn_net_init(net, pool, ch, size, size);
	assert_true(encoder_build(net, "", 0, &cfg) >= 0);
	assert_int_equal(nn_net_finalize(net, &e), 0);
}

static void test_names_and_sizes(void **state)
{
	(void)state;
	struct nn_net net;
	build(&net, ENCODER_RESNET50, 1.0, 1, 3, 64);
	assert_int_equal(nn_net_out_dim(&net), 2048);
	assert_int_equal(net.param_len, 23454912 + 53120); /* torchvision resnet50 minus fc */
	const struct nn_tensor *t = nn_net_param(&net, "layer2.0.downsample.0.weight");
	assert_non_null(t);
	assert_int_equal(t->shape[0], 512);
	assert_int_equal(t->shape[1], 256);
	assert_non_null(nn_net_buffer(&net, "layer4.2.bn3.num_batches_tracked"));
	assert_null(nn_net_param(&net, "layer1.0.downsample.2.weight"));
	nn_net_free(&net);

	build(&net, ENCODER_RESNET18, 1.0, 0, 3, 32);
	assert_int_equal(nn_net_out_dim(&net), 512);
	assert_int_equal(net.param_len, 11168832); /* with the 3×3 CIFAR stem */
	assert_null(nn_net_param(&net, "layer1.0.downsample.0.weight"));
	assert_int_equal(nn_net_param(&net, "conv1.weight")->shape[2], 3);
	/* Gradients with disjoint lifetimes share slots: a few activations' worth in all. */
	size_t act_total = 0;
	for (int i = 0; i < net.n_acts; i++)
		act_total += (size_t)net.acts[i].c * net.acts[i].h * net.acts[i].w;
	assert_true(net.grad_len * 4 < act_total);
	nn_net_free(&net);

	build(&net, ENCODER_CONVNET, 0.5, 0, 1, 28);
	assert_int_equal(nn_net_out_dim(&net), 128);
	assert_non_null(nn_net_param(&net, "features.12.weight"));
	assert_int_equal(nn_net_param(&net, "features.1.weight")->flags, NN_PARAM_NO_DECAY);
	assert_int_equal(nn_net_param(&net, "features.0.weight")->flags, 0);
	nn_net_free(&net);
}

static void test_width_rounding(void **state)
{
	(void)state;
	assert_int_equal(model_channels(64, 0.25), 16);
	assert_int_equal(model_channels(64, 0.3), 19);
	assert_int_equal(model_channels(256, 0.3), 77);
	assert_int_equal(model_channels(32, 0.001), 1);
	assert_int_equal(model_channels(2, 0.75), 2); /* 1.5 rounds half up */
}

/* Mean and standard deviation of a tensor. */
static void moments(const float *x, size_t n, double *mean, double *sd)
{
	double s = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		s += x[i];
		s2 += (double)x[i] * x[i];
	}
	*mean = s / (double)n;
	*sd = sqrt(s2 / (double)n - *mean * *mean);
}

static void test_init(void **state)
{
	(void)state;
	struct nn_net net, twin;
	struct err e;
	nn_net_init(&net, pool, 3, 8, 8);
	int x = nn_conv2d(&net, "conv", 0, 256, 3, 1, 1, 0);
	x = nn_batchnorm(&net, "bn", x);
	x = nn_linear(&net, "fc", nn_avgpool(&net, x), 512, 1);
	assert_true(x >= 0);
	assert_int_equal(nn_net_finalize(&net, &e), 0);
	nn_net_reset_params(&net, 7);
	double mean, sd;
	const struct nn_tensor *w = nn_net_param(&net, "conv.weight");
	moments(net.param + w->offset, w->len, &mean, &sd);
	double want = sqrt(2.0 / (256 * 9)); /* kaiming normal, fan_out, gain √2 */
	double se = want / sqrt((double)w->len);
	assert_true(fabs(mean) < 5 * se);
	assert_true(fabs(sd - want) < 5 * want / sqrt(2.0 * (double)w->len));
	const struct nn_tensor *fc = nn_net_param(&net, "fc.weight");
	float lo = 1, hi = -1;
	for (size_t i = 0; i < fc->len; i++) {
		lo = fminf(lo, net.param[fc->offset + i]);
		hi = fmaxf(hi, net.param[fc->offset + i]);
	}
	float bound = 1.0f / sqrtf(256.0f);
	assert_true(lo >= -bound && hi <= bound && hi > 0.99f * bound && lo < -0.99f * bound);
	assert_true(net.param[nn_net_param(&net, "bn.weight")->offset] == 1.0f);
	assert_true(net.param[nn_net_param(&net, "bn.bias")->offset] == 0.0f);
	assert_true(net.buffer[nn_net_buffer(&net, "bn.running_var")->offset] == 1.0f);

	/* Same seed, same weights; another seed, others. */
	nn_net_init(&twin, pool, 3, 8, 8);
	x = nn_conv2d(&twin, "conv", 0, 256, 3, 1, 1, 0);
	x = nn_linear(&twin, "fc", nn_avgpool(&twin, nn_batchnorm(&twin, "bn", x)), 512, 1);
	assert_int_equal(nn_net_finalize(&twin, &e), 0);
	nn_net_reset_params(&twin, 7);
	assert_memory_equal(net.param, twin.param, net.param_len * sizeof(float));
	nn_net_reset_params(&twin, 8);
	assert_memory_not_equal(net.param, twin.param, w->len * sizeof(float));
	nn_net_free(&twin);
	nn_net_free(&net);
}

static void test_errors(void **state)
{
	(void)state;
	struct nn_net net;
	struct err e = { 0 };
	struct encoder_config cfg = { .arch = ENCODER_CONVNET, .width = 1.0 };
	nn_net_init(&net, pool, 1, 4, 4); /* three 2×2 pools leave nothing */
	assert_int_equal(encoder_build(&net, "", 0, &cfg), -1);
	assert_int_equal(nn_net_finalize(&net, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "empty activation"));
	nn_net_free(&net);

	nn_net_init(&net, pool, 3, 8, 8);
	int x = nn_conv2d(&net, "c", 0, 4, 3, 1, 1, 0);
	assert_int_equal(nn_add(&net, x, 0), -1); /* 4 channels + 3 channels */
	assert_int_equal(nn_net_finalize(&net, &e), ERR_INVALID);
	nn_net_free(&net);

	nn_net_init(&net, pool, 3, 8, 8);
	nn_relu(&net, nn_conv2d(&net, "c", 0, 4, 3, 1, 1, 0));
	assert_int_equal(nn_net_set_batch(&net, 2, NN_GRAD_PARAMS, &e), ERR_BAD_STATE);
	assert_int_equal(nn_net_finalize(&net, &e), 0);
	assert_int_equal(nn_net_set_batch(&net, 0, NN_GRAD_PARAMS, &e), ERR_RANGE);
	assert_int_equal(nn_net_set_batch(&net, 65537, NN_GRAD_PARAMS, &e), ERR_RANGE);
	assert_int_equal(nn_conv2d(&net, "late", 0, 4, 3, 1, 1, 0), -1);
	assert_int_equal(nn_net_set_batch(&net, 3, NN_GRAD_NONE, &e), 0);
	assert_null(net.acts[1].grad);
	nn_net_free(&net);
}

/* A replica whose peers are k identical copies of this process: sums scale by k. */
static void sum_copies(void *ctx, double *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] *= *(int *)ctx;
}

/*
 * Every BN layer's running statistics after the first training forward from
 * the reset ones (mean 0, variance 1), against batchnorm.c's and replica.h's
 * definition computed here in double from the layer's input x (n samples, C
 * channels of HW values, held for backward): with the count M = copies·n·HW
 * summed over the replicas (each replica's batch is this one),
 *   running_mean = 0.1·mean(x),
 *   running_var  = 0.9·1 + 0.1·var(x)·M/(M − 1)   (var(x) the biased variance).
 * Tolerance: the code sums Σx and Σx² of a row in 8 float lanes, the first
 * taking L = ⌊HW/8⌋ + HW mod 8 terms (HW = 1 sums in double: L = 1), then
 * in double, so var(x) is off by ≤ (L + 1)·u·(mean(x²) + 2·|mean(x)|·mean(|x|))
 * with u = 2⁻²⁴ (the shift is the running mean, 0 here, so x is exact); the
 * running values add 4·u of themselves (the float constants 0.9 and 0.1, the
 * float result). That is 2e-7 to 5e-7 here (the error seen stays under a
 * third of it); the Bessel factor of the local count n·HW instead of M
 * moves running_var by 0.1·var·|n·HW/(n·HW − 1) − M/(M − 1)|, over 400×
 * the tolerance in every channel of every layer.
 */
static void check_running_stats(const struct nn_net *net, int n, int copies)
{
	const double u = 1.0 / (1 << 24);
	int layers = 0;
	for (int k = 0; k < net->n_nodes; k++) {
		const struct nn_node *nd = &net->nodes[k];
		if (nd->op != NN_OP_BATCHNORM)
			continue;
		layers++;
		const struct nn_act *in = &net->acts[nd->in];
		const int c = in->c, hw = in->h * in->w;
		const double count = (double)copies * n * hw;
		const float *rmean = net->buffer + net->buffers[nd->stats].offset;
		const float *rvar = net->buffer + net->buffers[nd->stats + 1].offset;
		assert_string_equal(strrchr(net->buffers[nd->stats + 1].name, '.'), ".running_var");
		for (int ch = 0; ch < c; ch++) {
			double s = 0, sa = 0, s2 = 0;
			for (int i = 0; i < n; i++)
				for (int j = 0; j < hw; j++) {
					double v = in->data[((size_t)i * c + ch) * hw + j];
					s += v;
					sa += fabs(v);
					s2 += v * v;
				}
			const double local = (double)n * hw, mean = s / local;
			const double var = s2 / local - mean * mean;
			const int lanes = hw == 1 ? 1 : hw / 8 + hw % 8;
			const double var_err = (lanes + 1) * u * (s2 / local + 2 * fabs(mean) * sa / local);
			const double bessel = count / (count - 1);
			const double want_var = 0.9 + 0.1 * var * bessel;
			const double tol_var = 0.1 * bessel * var_err + 4 * u * want_var;
			if (fabs(rvar[ch] - want_var) > tol_var)
				fail_msg("%s[%d] = %.9g, want %.9g ± %.2g (count %.0f)",
					 net->buffers[nd->stats + 1].name, ch, rvar[ch], want_var, tol_var,
					 count);
			const double tol_mean = 0.1 * (lanes + 1) * u * sa / local + 4 * u * fabs(0.1 * mean);
			if (fabs(rmean[ch] - 0.1 * mean) > tol_mean)
				fail_msg("%s[%d] = %.9g, want %.9g ± %.2g", net->buffers[nd->stats].name,
					 ch, rmean[ch], 0.1 * mean, tol_mean);
		}
	}
	assert_int_equal(layers, 20); /* ResNet-18: bn1, 2 per block, 3 downsamples */
}

/* n standard normal floats (malloc'd). */
static float *normal_floats(struct rng *r, size_t n)
{
	float *v = malloc(n * sizeof *v);
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)rng_normal(r);
	return v;
}

static void test_replica_seam(void **state)
{
	(void)state;
	struct nn_net a, b;
	struct err e;
	int copies = 4;
	struct replica rep = { .sum_f64 = sum_copies, .ctx = &copies };
	build(&a, ENCODER_RESNET18, 0.125, 0, 3, 8);
	build(&b, ENCODER_RESNET18, 0.125, 0, 3, 8);
	b.replica = &rep;
	assert_int_equal(nn_net_set_batch(&a, 4, NN_GRAD_INPUT, &e), 0);
	assert_int_equal(nn_net_set_batch(&b, 4, NN_GRAD_INPUT, &e), 0);
	nn_net_reset_params(&a, 1);
	nn_net_reset_params(&b, 1);
	struct rng r;
	rng_init(&r, 3, 0);
	size_t nx = 4 * 3 * 8 * 8, ny = 4 * (size_t)nn_net_out_dim(&a);
	float *x = normal_floats(&r, nx), *dy = normal_floats(&r, ny);
	/* Identical replicas see the same statistics as one process. */
	const float *ya = nn_net_forward(&a, x, 1), *yb = nn_net_forward(&b, x, 1);
	for (size_t i = 0; i < ny; i++)
		assert_float_equal(ya[i], yb[i], 1e-5);
	nn_net_zero_grad(&a);
	nn_net_zero_grad(&b);
	nn_net_backward(&a, dy);
	nn_net_backward(&b, dy);
	for (size_t i = 0; i < nx; i++)
		assert_float_equal(a.acts[0].grad[i], b.acts[0].grad[i], 1e-5);
	/* The unbiased running variance uses the global count: 4× the samples. */
	check_running_stats(&a, 4, 1);
	check_running_stats(&b, 4, copies);
	free(x);
	free(dy);
	nn_net_free(&a);
	nn_net_free(&b);
}

/* What nn_net_backward_each reported: each `from` and the gradients as they were then. */
struct ready_log {
	const struct nn_net *net;
	size_t from[256];
	float *snap[256];
	int n;
};

static void log_ready(void *ctx, size_t from)
{
	struct ready_log *l = ctx;
	assert_true(l->n < 256);
	l->from[l->n] = from;
	l->snap[l->n] = malloc(l->net->param_len * sizeof(float));
	memcpy(l->snap[l->n], l->net->grad, l->net->param_len * sizeof(float));
	l->n++;
}

/* Gradients called final are final: nothing after changes them, and the span grows
   to the whole arena by the last node. ResNet-18 with downsamples (the add's second
   branch) and the ImageNet stem's max-pool. */
static void test_backward_each_final_gradients(void **state)
{
	(void)state;
	struct nn_net net;
	struct err e;
	build(&net, ENCODER_RESNET18, 0.125, 1, 3, 32);
	assert_int_equal(nn_net_set_batch(&net, 2, NN_GRAD_PARAMS, &e), 0);
	nn_net_reset_params(&net, 5);
	struct rng r;
	rng_init(&r, 4, 0);
	size_t nx = 2 * 3 * 32 * 32, ny = 2 * (size_t)nn_net_out_dim(&net);
	float *x = normal_floats(&r, nx), *dy = normal_floats(&r, ny);
	nn_net_forward(&net, x, 1);
	nn_net_zero_grad(&net);
	struct ready_log l = { .net = &net };
	nn_net_backward_each(&net, dy, log_ready, &l);
	assert_int_equal(l.n, net.n_nodes);
	assert_int_equal(l.from[l.n - 1], 0);
	int partial = 0;
	for (int k = 0; k < l.n; k++) {
		if (k > 0)
			assert_true(l.from[k] <= l.from[k - 1]);
		partial += l.from[k] > 0 && l.from[k] < net.param_len;
		for (size_t i = l.from[k]; i < net.param_len; i++)
			if (l.snap[k][i] != net.grad[i])
				fail_msg("gradient %zu changed after node %d called it final", i,
					 net.n_nodes - 1 - k);
		free(l.snap[k]);
	}
	assert_true(partial > 10); /* most nodes free a part early */
	free(x);
	free(dy);
	nn_net_free(&net);
}

struct count_task {
	int hits[64];
};

static void count_rows(void *arg, int tid, int nth)
{
	struct count_task *t = arg;
	size_t lo, hi;
	pool_split(64, tid, nth, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		t->hits[i]++;
}

static void test_pool(void **state)
{
	(void)state;
	struct count_task t = { { 0 } };
	for (int rep = 0; rep < 1000; rep++)
		pool_run(pool, count_rows, &t);
	for (int i = 0; i < 64; i++)
		assert_int_equal(t.hits[i], 1000);
	assert_int_equal(pool_threads(pool), 2);
	struct pool *big;
	struct err e;
	assert_int_equal(pool_init(&big, 7, &e), 0);
	memset(&t, 0, sizeof t);
	pool_run(big, count_rows, &t);
	for (int i = 0; i < 64; i++)
		assert_int_equal(t.hits[i], 1);
	pool_free(big);
}

/* model.conv = winograd reaches the 3×3 stride-1 layers: outputs close to the
   exact path's but not its bits (the kernels' bound is test_winograd's). */
static void test_winograd_option(void **state)
{
	(void)state;
	struct nn_net exact, wino;
	struct err e;
	build(&exact, ENCODER_RESNET18, 0.25, 0, 1, 12);
	struct encoder_config cfg = { .arch = ENCODER_RESNET18, .width = 0.25, .winograd = 1 };
	nn_net_init(&wino, pool, 1, 12, 12);
	assert_true(encoder_build(&wino, "", 0, &cfg) >= 0);
	assert_int_equal(wino.conv_winograd, 1);
	assert_int_equal(nn_net_finalize(&wino, &e), 0);
	assert_int_equal(nn_net_set_batch(&exact, 4, NN_GRAD_NONE, &e), 0);
	assert_int_equal(nn_net_set_batch(&wino, 4, NN_GRAD_NONE, &e), 0);
	nn_net_reset_params(&exact, 3);
	nn_net_reset_params(&wino, 3);
	float x[4 * 12 * 12];
	for (size_t i = 0; i < sizeof x / sizeof *x; i++)
		x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
	const int n = 4 * nn_net_out_dim(&exact);
	const float *a = nn_net_forward(&exact, x, 1), *b = nn_net_forward(&wino, x, 1);
	double worst = 0, scale = 0;
	int differ = 0;
	for (int i = 0; i < n; i++) {
		worst = fmax(worst, fabs((double)a[i] - b[i]));
		scale = fmax(scale, fabs((double)a[i]));
		differ |= a[i] != b[i];
	}
	assert_true(differ);
	assert_true(worst <= 1e-4 * scale);
	nn_net_free(&exact);
	nn_net_free(&wino);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_sizes), cmocka_unit_test(test_width_rounding),
		cmocka_unit_test(test_init),		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_replica_seam),	cmocka_unit_test(test_pool),
		cmocka_unit_test(test_winograd_option), cmocka_unit_test(test_backward_each_final_gradients),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
