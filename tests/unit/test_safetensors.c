/*
 * test_safetensors.c — unit tests for common/safetensors: writer/reader round
 * trips, header padding, atomic replace, rejection of malformed images, and a
 * random-mutation smoke fuzz of st_parse (run under ASan to catch overreads).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"

static char tmpdir[] = "/tmp/test_safetensors.XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

/* Remove every file left in tmpdir, then tmpdir itself. */
static int teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	char p[512];

	(void)state;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
			unlink(p);
		}
	}
	closedir(d);
	return rmdir(tmpdir);
}

static void path_in_tmp(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *b;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return b;
}

static uint64_t get_le64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void put_le64(unsigned char *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

/* An image: length field, n header bytes, data_len zero bytes. */
static unsigned char *image_n(const char *hdr, size_t n, size_t data_len,
			      size_t *len)
{
	unsigned char *b = calloc(1, 8 + n + data_len + 1);

	assert_non_null(b);
	put_le64(b, n);
	memcpy(b + 8, hdr, n);
	*len = 8 + n + data_len;
	return b;
}

static unsigned char *image(const char *json, size_t data_len, size_t *len)
{
	return image_n(json, strlen(json), data_len, len);
}

static void assert_zeroed(const struct st_file *f)
{
	assert_null(f->tensors);
	assert_null(f->buf);
	assert_null(f->meta_keys);
	assert_int_equal(f->n_tensors, 0);
	assert_int_equal(f->n_meta, 0);
}

/* ---- round trip ---- */

static const float f32[6] = { 1, -2, 3.5f, 4, 5, 6e10f };
static const double f64[4] = { 1e-300, 2, -3, 4.25 };
static const int64_t i64_scalar = -1234567890123LL;
static const uint16_t bf16[3] = { 0x3f80, 0xc000, 0x7fc0 };
static const int32_t i32[2] = { -7, 1 << 30 };
static const uint8_t u8_bool[3] = { 1, 0, 1 };
static const int8_t i8[5] = { -128, -1, 0, 1, 127 };

static void write_sample(const char *path)
{
	struct st_writer *w;
	struct err e = { 0 };
	const int64_t s23[] = { 2, 3 }, s4[] = { 4 }, s3[] = { 3 },
		      s2[] = { 2 }, s0[] = { 3, 0, 5 }, s5[] = { 5 };

	assert_int_equal(st_writer_init(&w, &e), 0);
	assert_int_equal(st_writer_add(w, "f64", ST_F64, 1, s4, f64, &e), 0);
	assert_int_equal(st_writer_add(w, "scalar", ST_I64, 0, NULL, &i64_scalar, &e), 0);
	assert_int_equal(st_writer_add(w, "layer.0.weight", ST_F32, 2, s23, f32, &e), 0);
	assert_int_equal(st_writer_add(w, "i32", ST_I32, 1, s2, i32, &e), 0);
	assert_int_equal(st_writer_add(w, "empty", ST_F32, 3, s0, NULL, &e), 0);
	assert_int_equal(st_writer_add(w, "bf16", ST_BF16, 1, s3, bf16, &e), 0);
	assert_int_equal(st_writer_add(w, "mask", ST_BOOL, 1, s3, u8_bool, &e), 0);
	assert_int_equal(st_writer_add(w, "i8", ST_I8, 1, s5, i8, &e), 0);
	assert_int_equal(st_writer_meta(w, "epoch", "12", &e), 0);
	assert_int_equal(st_writer_meta(w, "note", "quote \" and \xc3\xa9\n", &e), 0);
	assert_int_equal(st_writer_meta(w, "empty", "", &e), 0);
	assert_int_equal(st_writer_write(w, path, &e), 0);
	st_writer_free(w);
}

static void check_tensor(const struct st_file *f, const char *name,
			 enum st_dtype dt, int ndim, const int64_t *shape,
			 const void *data, size_t nbytes)
{
	const struct st_tensor *t = st_find(f, name);

	assert_non_null(t);
	assert_string_equal(t->name, name);
	assert_int_equal(t->dtype, dt);
	assert_int_equal(t->ndim, ndim);
	for (int i = 0; i < ndim; i++)
		assert_int_equal(t->shape[i], shape[i]);
	assert_int_equal(t->nbytes, nbytes);
	assert_true(t->offset + t->nbytes <= f->data_len);
	if (nbytes)
		assert_memory_equal(st_tensor_data(f, t), data, nbytes);
}

static void test_roundtrip(void **state)
{
	struct st_file f;
	struct err e = { 0 };
	char path[512];
	const int64_t s23[] = { 2, 3 }, s4[] = { 4 }, s3[] = { 3 },
		      s2[] = { 2 }, s0[] = { 3, 0, 5 }, s5[] = { 5 };

	(void)state;
	path_in_tmp(path, sizeof path, "rt.safetensors");
	write_sample(path);
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	assert_int_equal(f.n_tensors, 8);
	assert_string_equal(f.tensors[0].name, "f64"); /* header order */
	assert_string_equal(f.tensors[7].name, "i8");
	check_tensor(&f, "f64", ST_F64, 1, s4, f64, sizeof f64);
	check_tensor(&f, "scalar", ST_I64, 0, NULL, &i64_scalar, 8);
	check_tensor(&f, "layer.0.weight", ST_F32, 2, s23, f32, sizeof f32);
	check_tensor(&f, "i32", ST_I32, 1, s2, i32, sizeof i32);
	check_tensor(&f, "bf16", ST_BF16, 1, s3, bf16, sizeof bf16);
	check_tensor(&f, "empty", ST_F32, 3, s0, NULL, 0);
	check_tensor(&f, "mask", ST_BOOL, 1, s3, u8_bool, 3);
	check_tensor(&f, "i8", ST_I8, 1, s5, i8, 5);
	/* descending dtype sizes were added, so every tensor is aligned */
	for (int i = 0; i < f.n_tensors; i++)
		assert_int_equal((uintptr_t)st_tensor_data(&f, &f.tensors[i]) %
				 st_dtype_size(f.tensors[i].dtype), 0);
	assert_int_equal(f.n_meta, 3);
	assert_string_equal(st_meta(&f, "epoch"), "12");
	assert_string_equal(st_meta(&f, "note"), "quote \" and \xc3\xa9\n");
	assert_string_equal(st_meta(&f, "empty"), "");
	st_free(&f);
}

/* Data is contiguous in header order (what tests/ref/stio.py expects). */
static void test_layout_contiguous(void **state)
{
	struct st_file f;
	struct err e = { 0 };
	char path[512];
	size_t expected = 0;

	(void)state;
	path_in_tmp(path, sizeof path, "layout.safetensors");
	write_sample(path);
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	for (int i = 0; i < f.n_tensors; i++) {
		assert_int_equal(f.tensors[i].offset, expected);
		expected += f.tensors[i].nbytes;
	}
	assert_int_equal(expected, f.data_len);
	st_free(&f);
}

static void test_find_missing(void **state)
{
	struct st_file f;
	struct err e = { 0 };
	char path[512];

	(void)state;
	path_in_tmp(path, sizeof path, "find.safetensors");
	write_sample(path);
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	assert_null(st_find(&f, "nope"));
	assert_null(st_find(&f, ""));
	assert_null(st_find(&f, "f6"));
	assert_null(st_find(&f, "__metadata__"));
	assert_null(st_meta(&f, "nope"));
	assert_null(st_find(&f, NULL));
	st_free(&f);
	assert_null(st_find(&f, "f64")); /* freed struct is empty */
}

/* 8 + N is a multiple of 8 for every header length mod 8. */
static void test_header_padding(void **state)
{
	char path[512], name[16];
	const float x = 1;

	(void)state;
	path_in_tmp(path, sizeof path, "pad.safetensors");
	for (int k = 1; k <= 9; k++) {
		struct st_writer *w;
		struct err e = { 0 };
		struct st_file f;
		unsigned char *b;
		size_t len;
		uint64_t n;

		memset(name, 'x', (size_t)k);
		name[k] = '\0';
		assert_int_equal(st_writer_init(&w, &e), 0);
		assert_int_equal(st_writer_add(w, name, ST_F32, 0, NULL, &x, &e), 0);
		assert_int_equal(st_writer_write(w, path, &e), 0);
		st_writer_free(w);
		b = slurp(path, &len);
		n = get_le64(b);
		assert_int_equal((8 + n) % 8, 0);
		assert_int_equal(len, 8 + n + 4);
		assert_int_equal(b[8], '{');
		assert_true(b[8 + n - 1] == '}' || b[8 + n - 1] == ' ');
		assert_int_equal((uintptr_t)(b + 8 + n) % 8, 0);
		assert_int_equal(st_parse(&f, b, len, &e), 0);
		assert_int_equal((uintptr_t)f.data % 8, 0);
		st_free(&f);
		free(b);
	}
}

/* Files like tests/ref/stio.py writes them: metadata last, spaces. */
static void test_accepts_foreign(void **state)
{
	struct st_file f;
	struct err e = { 0 };
	size_t len;
	unsigned char *b;

	(void)state;
	b = image(" {\"w\": {\"dtype\": \"U8\", \"shape\": [2, 1],\n"
		  "\"data_offsets\": [1, 3]}, \"__metadata__\": {}}  ", 4, &len);
	b[8 + get_le64(b) + 1] = 7;
	assert_int_equal(st_parse(&f, b, len, &e), 0);
	assert_int_equal(f.n_tensors, 1);
	assert_int_equal(f.n_meta, 0);
	assert_int_equal(f.tensors[0].offset, 1); /* gaps are allowed */
	assert_int_equal(*(const uint8_t *)st_tensor_data(&f, &f.tensors[0]), 7);
	st_free(&f);
	free(b);

	b = image("{\"big\":{\"dtype\":\"I8\",\"shape\":[9007199254740991,0],"
		  "\"data_offsets\":[0,0]}}", 0, &len); /* largest dim */
	assert_int_equal(st_parse(&f, b, len, &e), 0);
	assert_int_equal(f.tensors[0].shape[0], 9007199254740991LL);
	assert_int_equal(f.tensors[0].nbytes, 0);
	st_free(&f);
	free(b);

	b = image("{}", 0, &len); /* no tensors at all */
	assert_int_equal(st_parse(&f, b, len, &e), 0);
	assert_int_equal(f.n_tensors, 0);
	assert_int_equal(f.data_len, 0);
	st_free(&f);
	free(b);
}

/* ---- atomic write ---- */

static int count_temp_files(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += strstr(de->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

static void test_atomic_replace(void **state)
{
	struct st_writer *w;
	struct st_file f;
	struct err e = { 0 };
	char path[512];
	const int32_t v = 42;

	(void)state;
	path_in_tmp(path, sizeof path, "replace.safetensors");
	write_sample(path);
	assert_int_equal(st_writer_init(&w, &e), 0);
	assert_int_equal(st_writer_add(w, "only", ST_I32, 0, NULL, &v, &e), 0);
	assert_int_equal(st_writer_write(w, path, &e), 0);
	assert_int_equal(st_writer_write(w, path, &e), 0); /* again is fine */
	st_writer_free(w);
	assert_int_equal(count_temp_files(), 0);
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	assert_int_equal(f.n_tensors, 1);
	assert_int_equal(f.n_meta, 0);
	assert_memory_equal(st_tensor_data(&f, st_find(&f, "only")), &v, 4);
	st_free(&f);
}

/* A failure before the rename leaves the old file as it was. */
static void test_failed_write_keeps_old(void **state)
{
	struct st_writer *w;
	struct err e = { 0 };
	char path[512], tmp[600];
	unsigned char *before, *after;
	size_t n1, n2;
	const int32_t v = 1;

	(void)state;
	path_in_tmp(path, sizeof path, "keep.safetensors");
	write_sample(path);
	before = slurp(path, &n1);
	/* a directory where the temp file should go makes open() fail */
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(st_writer_init(&w, &e), 0);
	assert_int_equal(st_writer_add(w, "x", ST_I32, 0, NULL, &v, &e), 0);
	assert_int_equal(st_writer_write(w, path, &e), ERR_IO);
	assert_non_null(strstr(e.msg, path));
	st_writer_free(w);
	assert_int_equal(rmdir(tmp), 0);
	after = slurp(path, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(before);
	free(after);
}

static void test_write_missing_dir(void **state)
{
	struct st_writer *w;
	struct err e = { 0 };
	char path[512];
	struct stat sb;
	const float x = 0;

	(void)state;
	path_in_tmp(path, sizeof path, "no/such/dir/x.safetensors");
	assert_int_equal(st_writer_init(&w, &e), 0);
	assert_int_equal(st_writer_add(w, "x", ST_F32, 0, NULL, &x, &e), 0);
	assert_int_equal(st_writer_write(w, path, &e), ERR_IO);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "No such file"));
	st_writer_free(w);
	assert_int_not_equal(stat(path, &sb), 0);
	assert_int_equal(count_temp_files(), 0);
}

static void test_writer_rejects(void **state)
{
	struct st_writer *w;
	struct err e = { 0 };
	const float x[4] = { 0 };
	const int64_t neg[] = { -1 }, big[] = { (int64_t)1 << 54 },
		      nine[9] = { 1, 1, 1, 1, 1, 1, 1, 1, 1 },
		      huge[] = { ((int64_t)1 << 53) - 1, ((int64_t)1 << 53) - 1 },
		      half[] = { (int64_t)1 << 52 };

	(void)state;
	assert_int_equal(st_writer_init(&w, &e), 0);
	assert_int_equal(st_writer_add(w, "a", ST_F32, 0, NULL, x, &e), 0);
	assert_true(st_writer_add(w, "a", ST_F32, 0, NULL, x, &e) < 0);
	assert_non_null(strstr(e.msg, "duplicate"));
	assert_true(st_writer_add(w, "", ST_F32, 0, NULL, x, &e) < 0);
	assert_true(st_writer_add(w, NULL, ST_F32, 0, NULL, x, &e) < 0);
	assert_true(st_writer_add(w, "__metadata__", ST_F32, 0, NULL, x, &e) < 0);
	assert_true(st_writer_add(w, "bad\xff", ST_F32, 0, NULL, x, &e) < 0);
	assert_true(st_writer_add(w, "b", (enum st_dtype)99, 0, NULL, x, &e) < 0);
	assert_true(st_writer_add(w, "b", ST_F32, 1, neg, x, &e) < 0);
	assert_true(st_writer_add(w, "b", ST_F32, 1, big, x, &e) < 0);
	assert_true(st_writer_add(w, "b", ST_F32, 9, nine, x, &e) < 0);
	assert_true(st_writer_add(w, "b", ST_F32, -1, NULL, x, &e) < 0);
	assert_int_equal(st_writer_add(w, "b", ST_F64, 2, huge, x, &e), ERR_RANGE);
	/* the total must stay below 2^53 too (data is not read until write) */
	assert_int_equal(st_writer_add(w, "h1", ST_U8, 1, half, x, &e), 0);
	assert_int_equal(st_writer_add(w, "h2", ST_U8, 1, half, x, &e), ERR_RANGE);
	assert_true(st_writer_add(w, "b", ST_F32, 0, NULL, NULL, &e) < 0);
	assert_int_equal(st_writer_meta(w, "k", "v", &e), 0);
	assert_true(st_writer_meta(w, "k", "w", &e) < 0);
	assert_true(st_writer_meta(w, "k2", "\xc0\xaf", &e) < 0);
	assert_true(st_writer_meta(w, "k3", NULL, &e) < 0);
	assert_true(st_writer_write(w, "", &e) < 0);
	st_writer_free(w);
	st_writer_free(NULL);
}

/* ---- reading ---- */

static void test_read_errors(void **state)
{
	struct st_file f;
	struct err e = { 0 };
	char path[512];
	FILE *fp;

	(void)state;
	path_in_tmp(path, sizeof path, "missing.safetensors");
	assert_int_equal(st_read(&f, path, 0, &e), ERR_IO);
	assert_non_null(strstr(e.msg, path));
	assert_zeroed(&f);

	path_in_tmp(path, sizeof path, "limit.safetensors");
	write_sample(path);
	assert_int_equal(st_read(&f, path, 64, &e), ERR_RANGE);
	assert_non_null(strstr(e.msg, path));
	assert_zeroed(&f);

	assert_int_equal(st_read(&f, tmpdir, 0, &e), ERR_INVALID);
	assert_zeroed(&f);

	path_in_tmp(path, sizeof path, "garbage.safetensors");
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite("\x02\0\0\0\0\0\0\0[]", 1, 10, fp), 10);
	fclose(fp);
	assert_int_equal(st_read(&f, path, 0, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "not a JSON object"));
	assert_zeroed(&f);
}

static void test_free_safe(void **state)
{
	struct st_file f;
	struct err e = { 0 };
	char path[512];

	(void)state;
	memset(&f, 0, sizeof f);
	st_free(&f);
	st_free(&f);
	st_free(NULL);
	path_in_tmp(path, sizeof path, "free.safetensors");
	write_sample(path);
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	st_free(&f);
	st_free(&f);
	assert_zeroed(&f);
}

static void test_dtype_names(void **state)
{
	(void)state;
	assert_string_equal(st_dtype_name(ST_BF16), "BF16");
	assert_string_equal(st_dtype_name(ST_BOOL), "BOOL");
	assert_int_equal(st_dtype_size(ST_F64), 8);
	assert_int_equal(st_dtype_size(ST_U16), 2);
	assert_int_equal(st_dtype_size(ST_BOOL), 1);
	assert_int_equal(st_dtype_size((enum st_dtype)77), 0);
	assert_string_equal(st_dtype_name((enum st_dtype)77), "invalid");
}

/* ---- malformed images ---- */

struct bad_case {
	const char *json;
	size_t data_len;
	const char *msg_part; /* expected in the error message */
};

static const struct bad_case bad_cases[] = {
	{ "not json", 0, "not valid JSON" },
	{ "", 0, "not valid JSON" },
	{ "[1,2]", 0, "not a JSON object" },
	{ "\"str\"", 0, "not a JSON object" },
	{ "{}x", 0, "after the JSON" },
	{ "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype" },
	{ "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype" },
	{ "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "'a'" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0]" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "'a'" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "integer" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "integer" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0, "integer" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape[0]" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740993],\"data_offsets\":[0,4]}}", 4, "shape[0]" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,0],\"data_offsets\":[0,0]}}", 0, "shape[0]" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,9007199254740993]}}", 4, "two integers" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "dims" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "not an array" },
	{ "{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "overflow" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[5,5]}}", 4, "outside" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "outside" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "two integers" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8, "two integers" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8, "two integers" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", 8, "two integers" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 8, "needs 8 bytes" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, "needs 4 bytes" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap" },
	{ "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]},"
	  "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "overlap" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate key 'a'" },
	{ "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty" },
	{ "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "duplicate" },
	{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown key" },
	{ "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing 'shape'" },
	{ "{\"a\":5}", 0, "not an object" },
	{ "{\"a\":[]}", 0, "not an object" },
	{ "{\"a\":null}", 0, "not an object" },
	{ "{\"__metadata__\":{\"k\":1}}", 0, "not a string" },
	{ "{\"__metadata__\":{\"k\":null}}", 0, "not a string" },
	{ "{\"__metadata__\":{\"k\":{}}}", 0, "not a string" },
	{ "{\"__metadata__\":\"x\"}", 0, "not an object" },
	{ "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate" },
	{ "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate" },
	{ "{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "u0000" },
	{ "{\"__metadata__\":{\"k\":\"a\tb\"}}", 0, "control" },
	{ "{\"\xff\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "UTF-8" },
	{ "{\"\xed\xa0\x80\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0, "UTF-8" },
	{ "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}", 0, "not valid JSON" },
};

static void expect_reject(const unsigned char *b, size_t len,
			  const char *msg_part)
{
	struct st_file f;
	struct err e = { 0 };
	int rc = st_parse(&f, b, len, &e);

	if (rc == 0 || (msg_part && !strstr(e.msg, msg_part)))
		print_error("rc %d msg '%s', wanted '%s'\n", rc, e.msg,
			    msg_part ? msg_part : "");
	assert_true(rc < 0);
	assert_int_equal(rc, e.code);
	assert_true(e.msg[0] != '\0');
	if (msg_part)
		assert_non_null(strstr(e.msg, msg_part));
	assert_zeroed(&f);
}

static void test_malformed_json(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		size_t len;
		unsigned char *b = image(bad_cases[i].json,
					 bad_cases[i].data_len, &len);

		expect_reject(b, len, bad_cases[i].msg_part);
		free(b);
	}
}

static void test_malformed_framing(void **state)
{
	static const char ok[] =
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
	static const char nul[] = "{\"a\0\":{}}";
	unsigned char *b;
	size_t len;

	(void)state;
	b = image(ok, 8, &len);
	for (size_t n = 0; n < 8; n++) /* truncated length field */
		expect_reject(b, n, "too short");
	expect_reject(NULL, 0, "too short");
	expect_reject(b, len - 1, "outside"); /* truncated data */
	expect_reject(b, 8 + strlen(ok) - 1, "exceeds"); /* truncated header */
	put_le64(b, len - 8 + 1);
	expect_reject(b, len, "exceeds");
	put_le64(b, (uint64_t)1 << 63);
	expect_reject(b, len, "exceeds");
	put_le64(b, UINT64_MAX);
	expect_reject(b, len, "exceeds");
	put_le64(b, ((uint64_t)100 << 20) + 1);
	expect_reject(b, len, "limit");
	free(b);
	b = image_n(nul, sizeof nul - 1, 0, &len); /* raw NUL in a name */
	expect_reject(b, len, NULL);
	free(b);
}

/* ---- fuzz ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static volatile unsigned sink;

/* Touch everything a successful parse hands out. */
static void check_parsed(const struct st_file *f)
{
	for (int i = 0; i < f->n_tensors; i++) {
		const struct st_tensor *t = &f->tensors[i];
		const unsigned char *p = st_tensor_data(f, t);

		assert_true(t->offset <= f->data_len &&
			    t->nbytes <= f->data_len - t->offset);
		assert_true(t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
		assert_true(t->name[0] != '\0');
		assert_ptr_equal(st_find(f, t->name), t);
		for (size_t k = 0; k < t->nbytes; k++)
			sink += p[k];
	}
	for (int i = 0; i < f->n_meta; i++)
		assert_non_null(st_meta(f, f->meta_keys[i]));
}

static void mutate(unsigned char *b, size_t *len)
{
	static const char special[] = "\"{}[],:0123456789-.e\\ \x80\xff";
	int ops = 1 + (int)(rnd() % 4);

	for (int k = 0; k < ops && *len > 0; k++) {
		size_t pos = rnd() % *len;

		switch (rnd() % 6) {
		case 0: b[pos] ^= (unsigned char)(1u << (rnd() % 8)); break;
		case 1: b[pos] = (unsigned char)rnd(); break;
		case 2: b[pos] = (unsigned char)special[rnd() % (sizeof special - 1)]; break;
		case 3: *len = pos; break; /* truncate */
		case 4: if (*len >= 8) put_le64(b, rnd() % (*len - 7)); break;
		default: if (*len > 8 && pos >= 8) /* delete one byte */
				memmove(b + pos, b + pos + 1, --*len - pos);
			break;
		}
	}
}

/* Mutate base repeatedly; every mutant is parsed from an exact-size heap
 * copy so ASan catches any read past the end. */
static int fuzz_base(const unsigned char *base, size_t base_len, int iters)
{
	int accepted = 0;

	for (int i = 0; i < iters; i++) {
		unsigned char *b = malloc(base_len);
		struct st_file f;
		struct err e = { 0 };
		size_t len = base_len;

		assert_non_null(b);
		memcpy(b, base, base_len);
		mutate(b, &len);
		if (st_parse(&f, b, len, &e) == 0) {
			check_parsed(&f);
			accepted++;
		} else {
			assert_true(e.msg[0] != '\0');
			assert_zeroed(&f);
		}
		st_free(&f);
		free(b);
	}
	return accepted;
}

static void test_fuzz(void **state)
{
	static const char no_data[] =
		"{\"__metadata__\":{\"k\":\"v\\n\\u00e9\"},"
		"\"e\":{\"dtype\":\"BF16\",\"shape\":[0,3],\"data_offsets\":[0,0]}}";
	char path[512];
	unsigned char *b;
	size_t len;
	int accepted;

	(void)state;
	path_in_tmp(path, sizeof path, "fuzz.safetensors");
	write_sample(path);
	b = slurp(path, &len);
	accepted = fuzz_base(b, len, 4000);
	free(b);
	/* header ends at the end of the buffer: overreads hit the redzone */
	b = image(no_data, 0, &len);
	accepted += fuzz_base(b, len, 2000);
	free(b);
	print_message("fuzz: %d of 6000 mutants accepted\n", accepted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_layout_contiguous),
		cmocka_unit_test(test_find_missing),
		cmocka_unit_test(test_header_padding),
		cmocka_unit_test(test_accepts_foreign),
		cmocka_unit_test(test_atomic_replace),
		cmocka_unit_test(test_failed_write_keeps_old),
		cmocka_unit_test(test_write_missing_dir),
		cmocka_unit_test(test_writer_rejects),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_free_safe),
		cmocka_unit_test(test_dtype_names),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_malformed_framing),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
