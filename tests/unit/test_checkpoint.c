/*
 * test_checkpoint.c — SHA-256 vectors; checkpoints round-trip every tensor
 * bit for bit; a resumed run is bit-identical to one that never stopped;
 * damaged files and mismatched models are refused with their reason; the
 * start-up cleanup removes checkpoint temp files and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/checkpoint.h"
#include "rng.h"
#include "sha256.h"

static struct pool *pool;
static char dir[64];

static int setup(void **state)
{
	(void)state;
	struct err e;
	snprintf(dir, sizeof dir, "/tmp/byol-ckpt-XXXXXX");
	return !mkdtemp(dir) || pool_init(&pool, 2, &e);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	pool_free(pool);
	return system(cmd);
}

static void test_sha256(void **state)
{
	(void)state;
	static const char *const in[] = { "", "abc",
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" };
	static const char *const want[] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" };
	char out[65];
	struct sha256 s;
	for (int i = 0; i < 3; i++) {
		sha256_init(&s);
		sha256_update(&s, in[i], strlen(in[i]));
		sha256_hex(&s, out);
		assert_string_equal(out, want[i]);
	}
	sha256_init(&s);
	for (int i = 0; i < 1000000; i++)
		sha256_update(&s, "a", 1);
	sha256_hex(&s, out);
	assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static const struct byol_config cfg = {
	.encoder = { .arch = ENCODER_RESNET18, .width = 0.125 }, .channels = 3, .size = 8,
	.proj_hidden = 32, .proj_out = 16, .pred_hidden = 32, .pred_out = 16, .batch = 6,
};
static const struct byol_optim optim = { .lars = 1, .weight_decay = 1e-4, .momentum = 0.9,
					 .eta = 0.02 };
static const struct byol_schedule sched = { .peak_lr = 0.5, .warmup_steps = 2,
					    .total_steps = 8, .tau_base = 0.9 };

static void init(struct byol_model *m)
{
	struct err e;
	assert_int_equal(byol_model_init(m, &cfg, &optim, pool, 3, &e), 0);
}

/* Steps [from, to) on views drawn from the step index alone. */
static void train(struct byol_model *m, long from, long to)
{
	size_t n = (size_t)cfg.batch * cfg.channels * cfg.size * cfg.size;
	float *v = malloc(2 * n * sizeof *v);
	for (long k = from; k < to; k++) {
		struct rng r;
		rng_init(&r, 1, (uint64_t)k);
		for (size_t i = 0; i < 2 * n; i++)
			v[i] = rng_uniform(&r);
		struct byol_hyper h = byol_hyper_at(&sched, k);
		struct byol_stats st;
		byol_step(m, v, v + n, &h, &st);
	}
	free(v);
}

static void assert_same(const struct byol_model *a, const struct byol_model *b)
{
	for (int p = 0; p < BYOL_PARTS; p++) {
		assert_memory_equal(a->net[p].param, b->net[p].param,
				    a->net[p].param_len * sizeof(float));
		assert_memory_equal(a->net[p].buffer, b->net[p].buffer,
				    a->net[p].buffer_len * sizeof(float));
	}
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		assert_memory_equal(a->momentum[p], b->momentum[p],
				    a->net[p].param_len * sizeof(float));
}

static void test_round_trip_and_resume(void **state)
{
	(void)state;
	struct byol_model straight, first, resumed;
	struct checkpoint_meta meta = { 0 };
	struct err e;
	char path[128], sha[65];
	size_t bytes;
	snprintf(path, sizeof path, "%s/step-00000004.safetensors", dir);
	init(&straight);
	train(&straight, 0, 8);
	init(&first);
	train(&first, 0, 4);
	assert_int_equal(checkpoint_write(&first, path, "{\"seed\":3}", 4, 1, sha, &bytes, &e), 0);
	assert_int_equal(checkpoint_verify(path, sha, &e), 0);
	assert_true(bytes > 0);
	init(&resumed);
	assert_int_equal(checkpoint_read(&resumed, path, &meta, &e), 0);
	assert_int_equal(meta.step, 4);
	assert_int_equal(meta.epoch, 1);
	assert_string_equal(meta.spec, "{\"seed\":3}");
	assert_same(&first, &resumed);
	train(&resumed, 4, 8);
	assert_same(&straight, &resumed);
	checkpoint_meta_free(&meta);
	byol_model_free(&straight);
	byol_model_free(&first);
	byol_model_free(&resumed);
}

/* Rewrite path with one byte flipped at offset, or truncated to len. */
static void damage(const char *path, long offset, long len)
{
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	if (offset >= 0) {
		fseek(f, offset, SEEK_SET);
		int c = fgetc(f);
		fseek(f, offset, SEEK_SET);
		fputc(c ^ 0x5a, f);
	}
	fclose(f);
	if (len >= 0)
		assert_int_equal(truncate(path, len), 0);
}

static void test_damage(void **state)
{
	(void)state;
	struct byol_model m, other;
	struct err e;
	char path[128], sha[65];
	size_t bytes;
	snprintf(path, sizeof path, "%s/damaged.safetensors", dir);
	init(&m);
	assert_int_equal(checkpoint_write(&m, path, "{}", 0, 0, sha, &bytes, &e), 0);
	damage(path, (long)bytes - 3, -1); /* a flipped byte in the data */
	assert_int_equal(checkpoint_verify(path, sha, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "sha256"));
	damage(path, -1, (long)bytes / 2); /* truncated */
	assert_true(checkpoint_read(&m, path, NULL, &e) < 0);
	damage(path, 0, -1); /* the header length */
	assert_true(checkpoint_read(&m, path, NULL, &e) < 0);
	/* A model of another shape is refused, naming a tensor. */
	assert_int_equal(checkpoint_write(&m, path, "{}", 0, 0, sha, &bytes, &e), 0);
	struct byol_config wide = cfg;
	wide.encoder.width = 0.25;
	assert_int_equal(byol_model_init(&other, &wide, &optim, pool, 3, &e), 0);
	assert_int_equal(checkpoint_read(&other, path, NULL, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "online.encoder."));
	byol_model_free(&other);
	byol_model_free(&m);
}

/* Replace the first `from` in the file by `to` (of the same length). */
static void patch(const char *path, const char *from, const char *to)
{
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	char head[4096];
	size_t n = fread(head, 1, sizeof head - 1, f);
	head[n] = 0;
	char *at = memmem(head, n, from, strlen(from));
	assert_non_null(at);
	assert_int_equal(fseek(f, at - head, SEEK_SET), 0);
	assert_int_equal(fwrite(to, 1, strlen(to), f), strlen(to));
	fclose(f);
}

/* The step and epoch in the metadata are plain digits: strtol's leniencies
   (spaces, signs, nothing at all) are refused. */
static void test_bad_metadata(void **state)
{
	(void)state;
	static const char *const bad[][2] = { { "\"step\":\"12\"", "\"step\":\" 1\"" },
					      { "\"step\":\"12\"", "\"step\":\"+1\"" },
					      { "\"step\":\"12\"", "\"step\":\"\"  " },
					      { "\"epoch\":\"34\"", "\"epoch\":\"-3\"" } };
	struct byol_model m;
	struct checkpoint_meta meta;
	struct err e;
	char path[128], sha[65];
	size_t bytes;
	snprintf(path, sizeof path, "%s/meta.safetensors", dir);
	init(&m);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(checkpoint_write(&m, path, "{}", 12, 34, sha, &bytes, &e), 0);
		assert_int_equal(checkpoint_read(&m, path, &meta, &e), 0);
		assert_int_equal(meta.step, 12);
		checkpoint_meta_free(&meta);
		patch(path, bad[i][0], bad[i][1]);
		assert_int_equal(checkpoint_read(&m, path, &meta, &e), ERR_INVALID);
		assert_non_null(strstr(e.msg, i < 3 ? "bad step" : "bad epoch"));
	}
	byol_model_free(&m);
}

static void touch(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static int exists(const char *name)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static void test_clean_temps(void **state)
{
	(void)state;
	struct err e;
	char path[256], target[256];
	int removed = -1;
	assert_int_equal(checkpoint_clean_temps(dir, &removed, &e), 0); /* no checkpoints/ */
	assert_int_equal(removed, 0);
	snprintf(path, sizeof path, "%s/checkpoints", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/checkpoints/7", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/checkpoints/8", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/checkpoints/other", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	static const char *const gone[] = {
		"checkpoints/7/step-00000004.safetensors.tmp.1234",
		"checkpoints/8/step-00000008.safetensors.tmp.99",
		"checkpoints/8/x.safetensors.tmp.safetensors.tmp.5",
	};
	static const char *const kept[] = {
		"checkpoints/7/step-00000004.safetensors",
		"checkpoints/7/step-00000005.safetensors.tmp.",
		"checkpoints/7/step-00000006.safetensors.tmp.12a",
		"checkpoints/7/.safetensors.tmp.3",
		"checkpoints/7/notes.tmp.3",
		"checkpoints/other/step-00000004.safetensors.tmp.1",
		"checkpoints/step-00000004.safetensors.tmp.1",
	};
	for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
		touch(gone[i]);
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		touch(kept[i]);
	/* A symlink and a directory named like temp files stay, and so does the target. */
	snprintf(target, sizeof target, "%s/checkpoints/7/step-00000004.safetensors", dir);
	snprintf(path, sizeof path, "%s/checkpoints/8/step-00000009.safetensors.tmp.1", dir);
	assert_int_equal(symlink(target, path), 0);
	snprintf(path, sizeof path, "%s/checkpoints/8/step-00000010.safetensors.tmp.2", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(checkpoint_clean_temps(dir, &removed, &e), 0);
	assert_int_equal(removed, 3);
	for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
		assert_false(exists(gone[i]));
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
		assert_true(exists(kept[i]));
	assert_true(exists("checkpoints/8/step-00000009.safetensors.tmp.1"));
	assert_true(exists("checkpoints/8/step-00000010.safetensors.tmp.2"));
	assert_int_equal(checkpoint_clean_temps(dir, NULL, &e), 0); /* nothing left to do */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_round_trip_and_resume),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_bad_metadata),
		cmocka_unit_test(test_clean_temps),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
