/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader and the
 * checkpoint loader (common/safetensors.c, daemon/engine/checkpoint.c),
 * Reliability test 14.
 *
 * The input is written to a file in the temp directory and read the ways
 * checkpoints are: st_read (checked against st_parse of the same bytes, and
 * every tensor's bytes touched so ASan sees one outside the file),
 * checkpoint_read into a tiny model built once (the config below; the
 * corpus's ckpt-tiny seed is a valid checkpoint of it, make_corpus.py), and
 * checkpoint_verify with the bytes' digest (a wrong one is test_checkpoint's;
 * hashing twice would halve the executions on 15 KB inputs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/checkpoint.h"
#include "fuzz_util.h"
#include "nn/pool.h"
#include "safetensors.h"
#include "sha256.h"

/* Must match TINY in make_corpus.py. */
static const struct byol_config tiny = {
	.encoder = { .arch = ENCODER_CONVNET, .width = 0.03 }, .channels = 1, .size = 8,
	.proj_hidden = 4, .proj_out = 2, .pred_hidden = 4, .pred_out = 2, .batch = 2,
};
static const struct byol_optim tiny_optim = { .lars = 1, .momentum = 0.9, .eta = 0.02 };

static struct pool *pool;
static struct byol_model model;
static volatile unsigned char fuzz_byte_sink;

static void model_free(void)
{
	byol_model_free(&model);
	pool_free(pool);
}

static void model_init_once(void)
{
	struct err e;
	if (pool)
		return;
	if (pool_init(&pool, 1, &e) || byol_model_init(&model, &tiny, &tiny_optim, pool, 1, &e))
		abort();
	atexit(model_free);
}

/* A parsed file keeps its promises: sizes within the data, names found. */
static void check_file(const struct st_file *f, size_t size)
{
	if (f->buf_len != size || f->data_len > size || f->data + f->data_len != f->buf + size)
		abort();
	for (int i = 0; i < f->n_tensors; i++) {
		const struct st_tensor *t = &f->tensors[i];
		const unsigned char *p = st_tensor_data(f, t);
		if (t->offset > f->data_len || t->nbytes > f->data_len - t->offset ||
		    st_find(f, t->name) != t || t->ndim < 0 || t->ndim > ST_MAX_DIMS)
			abort();
		if (t->nbytes)
			fuzz_byte_sink = p[0] ^ p[t->nbytes - 1];
	}
	for (int i = 0; i < f->n_meta; i++)
		if (st_meta(f, f->meta_keys[i]) != f->meta_values[i])
			abort();
}

/* st_read of the file and st_parse of the bytes agree. */
static void check_reader(const char *path, const uint8_t *data, size_t size)
{
	struct st_file a, b;
	struct err e;
	int ra = st_read(&a, path, 0, &e), rb = st_parse(&b, data, size, &e);
	if (ra != rb || (ra == 0 && a.n_tensors != b.n_tensors) || (ra < 0 && a.n_tensors))
		abort();
	if (ra == 0)
		check_file(&a, size);
	st_free(&a);
	st_free(&b);
}

static void check_checkpoint(const char *path, const uint8_t *data, size_t size)
{
	struct checkpoint_meta meta = { 0 };
	struct sha256 s;
	struct err e;
	char sha[65];
	model_init_once();
	if (checkpoint_read(&model, path, &meta, &e) == 0 ? !meta.spec : meta.spec != NULL)
		abort();
	checkpoint_meta_free(&meta);
	sha256_init(&s);
	sha256_update(&s, data, size);
	sha256_hex(&s, sha);
	if (checkpoint_verify(path, sha, &e) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[4200];
	fuzz_dir_fresh();
	fuzz_write("step.safetensors", data, size);
	fuzz_path(path, sizeof path, "step.safetensors");
	check_reader(path, data, size);
	check_checkpoint(path, data, size);
	return 0;
}
