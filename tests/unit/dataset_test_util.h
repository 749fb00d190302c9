/*
 * dataset_test_util.h — helpers shared by the tests that need data files
 * (test_dataset.c, test_imagefolder.c, test_engine.c): a temporary directory
 * per test binary, file and JPEG writers, the synthetic pixel pattern and
 * checks on open errors.
 */
#ifndef BYOL_DATASET_TEST_UTIL_H
#define BYOL_DATASET_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <math.h>
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
#include <jpeglib.h> /* after stdio.h, which it needs */

#include "dataset.h"

static char tmp_root[] = "/tmp/byol-dataset-XXXXXX";

/* ---- fixtures and helpers ---------------------------------------------- */

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static inline int group_setup(void **state)
{
	(void)state;
	return mkdtemp(tmp_root) ? 0 : -1;
}

static inline int group_teardown(void **state)
{
	(void)state;
	dataset_set_logger(NULL, NULL);
	return nftw(tmp_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmp_root/<fmt...> into buf (sized for it); makes every directory on the way. */
static inline char *tmp_vpath(char *buf, size_t size, const char *fmt, va_list ap)
{
	char rel[256];

	vsnprintf(rel, sizeof rel, fmt, ap);
	assert_true((size_t)snprintf(buf, size, "%s/%s", tmp_root, rel) < size);
	for (char *p = buf + strlen(tmp_root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
	return buf;
}

/* A file's path under tmp_root; its directories are created. */
static inline char *tmp_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tmp_vpath(buf, size, fmt, ap);
	va_end(ap);
	return buf;
}

/* A directory under tmp_root, created with its parents. */
static inline char *tmp_dir(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tmp_vpath(buf, size, fmt, ap);
	va_end(ap);
	mkdir(buf, 0755);
	return buf;
}

static inline void write_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Encode interleaved pixels (1 grey, 3 RGB or 4 CMYK components) as a JPEG,
 * without chroma subsampling so flat colours survive quality 100. */
static inline void write_jpeg_mode(const char *path, const uint8_t *px, int w, int h, int comps,
				   int quality, int progressive)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr jerr;
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = comps;
	c.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	for (int i = 0; i < c.num_components; i++)
		c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
	if (progressive)
		jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)(w * comps));
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	assert_int_equal(fclose(f), 0);
}

static inline void write_jpeg(const char *path, const uint8_t *px, int w, int h, int comps, int quality)
{
	write_jpeg_mode(path, px, w, h, comps, quality, 0);
}

/* A deterministic byte for synthetic pixels. */
static inline uint8_t pix(unsigned a, unsigned b)
{
	return (uint8_t)((a * 2654435761u + b * 40503u + (a ^ b) * 97u) >> 7);
}

/* The luminance rule in floating point (ties nudged up, as the rule rounds). */
static inline uint8_t luma_ref(int r, int g, int b)
{
	return (uint8_t)floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5 + 1e-9);
}

/* Open a dataset with e cleared first. */
static inline int open_ds(struct dataset **ds, enum dataset_format fmt, const char *path,
			  const char *split, size_t limit, int channels, int skip, struct err *e)
{
	struct dataset_config cfg = { .format = fmt, .path = path, .split = split,
				      .limit = limit, .channels = channels, .skip_bad = skip };
	memset(e, 0, sizeof *e);
	return dataset_open(ds, &cfg, e);
}

/* Opening (on_error fail) must fail with code and a message containing want. */
static inline void expect_open_error(enum dataset_format fmt, const char *path,
				     const char *split, int code, const char *want)
{
	struct dataset *ds = (struct dataset *)1;
	struct err e;

	assert_int_equal(open_ds(&ds, fmt, path, split, 0, 1, 0, &e), code);
	assert_null(ds);
	if (!strstr(e.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
}

#endif
