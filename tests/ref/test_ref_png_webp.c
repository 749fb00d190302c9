/*
 * test_ref_png_webp.c — PNG and WebP files of image folders against Pillow.
 *
 * tests/ref/png_webp_ref.py writes one file of each mode (grey, grey +
 * alpha, RGB, RGBA, palette with and without tRNS, 1/2/4-bit grey, 16-bit
 * grey, RGB, RGBA and grey + alpha, Adam7-interlaced ones, every PNG
 * filter; WebP lossless, lossy, with alpha, animated) and Pillow's
 * convert("L") and convert("RGB") of each. byol's pixels must equal them
 * exactly, at 1 and 3 channels: PNG is lossless, and Pillow decodes WebP
 * with the same libwebp and options. The one departure is 16-bit grey,
 * which Pillow clips; its reference is numpy's v >> 8 (see the script).
 * Then: PNG and WebP images never scale, and the loader resizes them from
 * their full size; damaged and misnamed files, each skipped (named, with
 * its reason) under on_error skip and failing the data set under fail,
 * whether found at open (the header) or at load (the data).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "folder_ref.h"

#define MAX_CASES 64

/* ref/manifest: one line per file of train/a, in name order. */
struct ref_case {
	char name[64];
	int w, h, c;
};

static struct ref_case cases[MAX_CASES];
static size_t n_cases;

static int setup(void **state)
{
	char path[1024];
	(void)state;
	if (folder_ref_setup("tests/ref/png_webp_ref.py") < 0)
		return -1;
	snprintf(path, sizeof path, "%s/ref/manifest", folder_ref_dir);
	FILE *f = fopen(path, "r");
	struct ref_case *r = cases;
	while (f && n_cases < MAX_CASES &&
	       fscanf(f, "%63s %d %d %d", r->name, &r->w, &r->h, &r->c) == 4)
		r = &cases[++n_cases];
	if (f)
		fclose(f);
	return n_cases > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return folder_ref_teardown();
}

/* Every file, at 1 and 3 channels: its header's shape and Pillow's pixels
   (all compared before failing, so that a failure shows which modes differ). */
static void test_pillow_equal(void **state)
{
	struct image img = { 0 };
	struct err e;
	int differ = 0;
	(void)state;
	for (int channels = 1; channels <= 3; channels += 2) {
		struct dataset *ds = folder_ref_open("train", channels);
		assert_int_equal(dataset_size(ds), n_cases);
		for (size_t i = 0; i < n_cases; i++) {
			const struct ref_case *r = &cases[i];
			char rel[128];
			int c, h, w;
			dataset_shape(ds, i, &c, &h, &w);
			if (c != r->c || h != r->h || w != r->w)
				fail_msg("%s: %dx%dx%d, want %dx%dx%d", r->name, c, h, w, r->c, r->h,
					 r->w);
			if (dataset_load(ds, i, &img, &e))
				fail_msg("%s", e.msg);
			assert_true(img.c == channels && img.h == r->h && img.w == r->w);
			snprintf(rel, sizeof rel, "ref/%.63s-%d.raw", r->name, channels);
			uint8_t *ref = folder_ref_read(rel, (size_t)r->h * r->w * channels);
			int worst = folder_ref_worst(&img, ref);
			printf("%-24s %3dx%-3d %d channel%s: max |byol - Pillow| = %d\n", r->name, r->w,
			       r->h, channels, channels == 1 ? " " : "s", worst);
			differ += worst != 0;
			free(ref);
		}
		dataset_free(ds);
	}
	image_free(&img);
	assert_int_equal(differ, 0);
}

#define SIDE 24 /* the loader's output side */

/* Steps 0..3 of a loader over ds (batches of `batch`) into out: 4 × 2 views. */
static void run_loader(const struct dataset *ds, int batch, float *out, int dct)
{
	const size_t view_len = (size_t)batch * 3 * SIDE * SIDE;
	struct loader_config c = { .ds = ds, .batch = batch, .size = SIDE, .channels = 3,
				   .seed = 9, .threads = 2, .depth = 2, .dct_scale = dct,
				   .mean = { 0.5f, 0.5f, 0.5f }, .std = { 0.25f, 0.25f, 0.25f } };
	struct loader *l;
	struct err e;
	augment_view_default(&c.view[0], 1);
	augment_view_default(&c.view[1], 2);
	if (loader_start(&l, &c, 0, &e))
		fail_msg("%s", e.msg);
	for (long s = 0; s < 4; s++) {
		struct loader_batch b;
		if (loader_next(l, &b, &e))
			fail_msg("step %ld: %s", s, e.msg);
		memcpy(out + (size_t)s * 2 * view_len, b.view1, 2 * view_len * sizeof *out);
		loader_release(l);
	}
	assert_int_equal(loader_skipped(l), 0);
	loader_stop(l);
}

/* PNG and WebP never scale: a scaled load is the native image, and the
   loader's batches are the same with DCT scaling on and off; beside a JPEG,
   which does scale, in a folder of all three kinds. */
static void test_never_scaled(void **state)
{
	struct dataset *ds = folder_ref_open("train", 3);
	const size_t all = 4 * 2 * 4 * 3 * SIDE * SIDE, mixed = 4 * 2 * 3 * 3 * SIDE * SIDE;
	float *x = calloc(all, sizeof *x), *y = calloc(all, sizeof *y);
	struct image img = { 0 };
	struct err e;
	(void)state;
	for (size_t i = 0; i < n_cases; i++) {
		int scale = 1;
		assert_false(dataset_scalable(ds, i));
		assert_int_equal(dataset_load_scaled(ds, i, &scale, &img, &e), 0);
		assert_true(img.h == cases[i].h && img.w == cases[i].w);
	}
	assert_false(dataset_scalable(ds, n_cases));
	run_loader(ds, 4, x, 1);
	run_loader(ds, 4, y, 0);
	assert_memory_equal(x, y, all * sizeof *x);
	dataset_free(ds);

	ds = folder_ref_open("mixed", 3); /* a/1.jpg, a/2.PNG, b/3.WebP */
	static const int labels[] = { 0, 0, 1 }, scalable[] = { 1, 0, 0 };
	assert_int_equal(dataset_size(ds), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(dataset_label(ds, i), labels[i]);
		assert_int_equal(dataset_scalable(ds, i), scalable[i]);
	}
	run_loader(ds, 3, x, 1);
	run_loader(ds, 3, y, 0);
	assert_true(memcmp(x, y, mixed * sizeof *x) != 0); /* the JPEG was scaled */
	struct dataset *view; /* a subset's images are its base's */
	const size_t pick[] = { 2, 0 };
	assert_int_equal(dataset_subset(&view, ds, pick, 2, &e), 0);
	assert_false(dataset_scalable(view, 0));
	assert_true(dataset_scalable(view, 1));
	assert_false(dataset_scalable(view, 2));
	dataset_free(view);
	image_free(&img);
	free(x), free(y);
	dataset_free(ds);
}

/* What each damaged or misnamed file of bad/a gives, found at open (the
   header) or only at load (the pixels). */
static const struct bad_case {
	const char *name, *reason;
	int at_load;
} bad[] = {
	{ "b01_head.png", "b01_head.png: PNG: end of stream", 0 },
	{ "b02_crc.png", "b02_crc.png: PNG: invalid chunk checksum", 0 },
	{ "b03_noplte.png", "b03_noplte.png: PNG: missing PLTE for indexed image", 0 },
	{ "b04_huge.png", "b04_huge.png: 20000x1 pixels exceeds 16384x16384", 0 },
	{ "b05_cut.png", "b05_cut.png: PNG: end of stream", 1 },
	{ "b06_zlib.png", "b06_zlib.png: PNG: IDAT stream error", 1 },
	{ "b07_lace_huge.png", "b07_lace_huge.png: needs more than 512 MiB to decode", 1 },
	{ "b08_head.webp", "b08_head.webp: WebP header: truncated", 0 },
	{ "b09_cut.webp", "b09_cut.webp: WebP image data: truncated", 1 },
	{ "b10_corrupt.webp", "b10_corrupt.webp: WebP image data: corrupt", 1 },
	{ "b11_huge.webp", "b11_huge.webp: needs more than 512 MiB to decode", 1 },
	{ "b12_anim_cut.webp", "b12_anim_cut.webp: WebP animation: corrupt or truncated", 1 },
	{ "c01_png.webp", "c01_png.webp: a PNG file named .webp: rename it to use it", 0 },
	{ "c02_webp.png", "c02_webp.png: a WebP file named .png: rename it to use it", 0 },
	{ "c03_jpeg.png", "c03_jpeg.png: a JPEG file named .png: rename it to use it", 0 },
	{ "c04_gif.png", "c04_gif.png: unsupported image type: GIF (named .png)", 0 },
	{ "c05_png.txt", "c05_png.txt: a PNG file not named .png: rename it to use it", 0 },
	{ "c06_webp", "c06_webp: a WebP file not named .webp: rename it to use it", 0 },
};
#define N_BAD (sizeof bad / sizeof bad[0])

struct log_lines {
	char text[8192];
};

static void log_line(void *ctx, const char *msg)
{
	struct log_lines *l = ctx;
	size_t len = strlen(l->text);
	snprintf(l->text + len, sizeof l->text - len, "%s\n", msg);
}

static int open_bad(struct dataset **ds, const char *root, int skip, struct log_lines *log,
		    struct err *e)
{
	struct dataset_config c = { .format = DATASET_IMAGEFOLDER, .path = root, .split = NULL,
				    .channels = 3, .skip_bad = skip, .log = log_line,
				    .log_ctx = log };
	return dataset_open(ds, &c, e);
}

/* on_error skip: bad headers are logged and left out, bad data fails its load. */
static void test_bad_skipped(void **state)
{
	char root[1024], want[1200];
	struct log_lines log = { "" };
	struct dataset *ds;
	struct image img = { 0 };
	struct err e;
	size_t at_load = 0, i = 1;
	(void)state;
	snprintf(root, sizeof root, "%s/bad", folder_ref_dir);
	if (open_bad(&ds, root, 1, &log, &e))
		fail_msg("%s", e.msg);
	for (size_t k = 0; k < N_BAD; k++)
		at_load += (size_t)bad[k].at_load;
	assert_int_equal(dataset_size(ds), 1 + at_load);
	assert_int_equal(dataset_skipped(ds), N_BAD - at_load);
	assert_int_equal(dataset_load(ds, 0, &img, &e), 0); /* 00_good.png */
	for (size_t k = 0; k < N_BAD; k++) {
		snprintf(want, sizeof want, "%s/a/%s", root, bad[k].reason);
		if (!bad[k].at_load) {
			char line[1300];
			snprintf(line, sizeof line, "skipping %s", want);
			if (!strstr(log.text, line))
				fail_msg("log lacks \"%s\":\n%s", line, log.text);
			continue;
		}
		assert_int_equal(dataset_load(ds, i++, &img, &e), ERR_INVALID);
		if (!strstr(e.msg, want))
			fail_msg("load: \"%s\" lacks \"%s\"", e.msg, want);
	}
	image_free(&img);
	dataset_free(ds);
}

/* A folder one/<name>/a holding only bad/a/<name> (a hard link), into root. */
static void folder_of(char *root, size_t size, const char *name)
{
	char from[1024], to[1200];
	snprintf(root, size, "%s/one/%s", folder_ref_dir, name);
	snprintf(to, sizeof to, "%s/a", root);
	snprintf(from, sizeof from, "%s/one", folder_ref_dir);
	mkdir(from, 0755);
	mkdir(root, 0755);
	mkdir(to, 0755);
	snprintf(from, sizeof from, "%s/bad/a/%s", folder_ref_dir, name);
	snprintf(to, sizeof to, "%s/a/%s", root, name);
	if (link(from, to) < 0 && errno != EEXIST)
		fail_msg("link %s: %s", to, strerror(errno));
}

/* on_error fail: each bad file alone fails the data set, named with its
   reason: at open, or (bad data) in the loader that meets it. */
static void test_bad_fail(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_BAD; k++) {
		char root[1024], want[1200];
		struct log_lines log = { "" };
		struct dataset *ds;
		struct err e;
		folder_of(root, sizeof root, bad[k].name);
		snprintf(want, sizeof want, "%s/a/%s", root, bad[k].reason);
		int rc = open_bad(&ds, root, 0, &log, &e);
		if (!bad[k].at_load) {
			assert_int_equal(rc, ERR_INVALID);
			assert_null(ds);
			if (!strstr(e.msg, want))
				fail_msg("open: \"%s\" lacks \"%s\"", e.msg, want);
			continue;
		}
		if (rc)
			fail_msg("%s", e.msg);
		struct loader_config c = { .ds = ds, .batch = 1, .size = 8, .channels = 3,
					   .threads = 1, .depth = 2, .dct_scale = 1,
					   .std = { 1, 1, 1 } };
		struct loader *l;
		struct loader_batch b;
		augment_view_default(&c.view[0], 1);
		augment_view_default(&c.view[1], 2);
		assert_int_equal(loader_start(&l, &c, 0, &e), 0);
		assert_int_equal(loader_next(l, &b, &e), ERR_INVALID);
		if (!strstr(e.msg, want))
			fail_msg("loader: \"%s\" lacks \"%s\"", e.msg, want);
		loader_stop(l);
		dataset_free(ds);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pillow_equal),
		cmocka_unit_test(test_never_scaled),
		cmocka_unit_test(test_bad_skipped),
		cmocka_unit_test(test_bad_fail),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
