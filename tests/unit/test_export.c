/*
 * test_export.c — a checkpoint's online encoder loads into PyTorch
 * (tests/ref/check_export.py: json + struct + torch, torchvision's layout,
 * strict load_state_dict) and gives the features byol computes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/checkpoint.h"
#include "rng.h"
#include "safetensors.h"

#define N 6

static void check(enum encoder_arch arch, double width, int imagenet, int channels, int size,
		  const char *model, const char *stem)
{
	char dir[] = "/tmp/byol-export-XXXXXX", ckpt[128], case_path[128], cmd[512], spec[256];
	struct err e = { 0 };
	struct pool *pool;
	struct byol_model m;
	assert_non_null(mkdtemp(dir));
	struct byol_config cfg = { .encoder = { .arch = arch, .width = width,
						.imagenet_stem = imagenet },
				   .channels = channels, .size = size, .proj_hidden = 32,
				   .proj_out = 16, .pred_hidden = 32, .pred_out = 16, .batch = N };
	struct byol_optim optim = { .lars = 1, .momentum = 0.9, .eta = 0.02 };
	assert_int_equal(pool_init(&pool, 2, &e), 0);
	assert_int_equal(byol_model_init(&m, &cfg, &optim, pool, 1, &e), 0);
	size_t n = (size_t)N * channels * size * size;
	float *images = malloc(n * sizeof *images);
	struct rng r;
	rng_init(&r, 5, 0);
	for (size_t i = 0; i < n; i++)
		images[i] = (float)rng_normal(&r);
	/* One training step moves the BN statistics off their initial values. */
	struct byol_hyper h = { .lr = 0.1, .tau = 0.99 };
	struct byol_stats st;
	byol_step(&m, images, images, &h, &st);
	const float *features = byol_features(&m, images);

	snprintf(spec, sizeof spec, "{\"model\":{\"encoder\":\"%s\",\"width\":%g,\"stem\":\"%s\"},"
		 "\"data\":{\"channels\":%d}}", model, width, stem, channels);
	snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
	char sha[65];
	assert_int_equal(checkpoint_write(&m, ckpt, spec, 1, 0, sha, NULL, &e), 0);
	struct st_writer *w;
	int64_t ishape[4] = { N, channels, size, size };
	int64_t fshape[2] = { N, nn_net_out_dim(&m.net[BYOL_ENCODER]) };
	snprintf(case_path, sizeof case_path, "%s/case.safetensors", dir);
	assert_int_equal(st_writer_init(&w, &e), 0);
	assert_int_equal(st_writer_add(w, "images", ST_F32, 4, ishape, images, &e), 0);
	assert_int_equal(st_writer_add(w, "features", ST_F32, 2, fshape, features, &e), 0);
	assert_int_equal(st_writer_write(w, case_path, &e), 0);
	st_writer_free(w);

	snprintf(cmd, sizeof cmd, "cd tests/ref && /usr/bin/python3 check_export.py %s %s", ckpt,
		 case_path);
	int rc = system(cmd);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(rc, 0);
	free(images);
	byol_model_free(&m);
	pool_free(pool);
}

static void test_exports(void **state)
{
	(void)state;
	check(ENCODER_CONVNET, 0.5, 0, 1, 16, "convnet", "cifar");
	check(ENCODER_RESNET18, 0.25, 0, 3, 16, "resnet18", "cifar");
	check(ENCODER_RESNET50, 0.125, 1, 3, 32, "resnet50", "imagenet");
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_exports) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
