/*
 * folder_ref.h — what the tests of image folders against Pillow share
 * (test_ref_jpeg_scale.c, test_ref_png_webp.c): a temporary directory that
 * a script of tests/ref, run by Debian's /usr/bin/python3 (its Pillow),
 * fills with image folders and Pillow's pixels; a folder of it opened; a
 * reference file read; a decoded image compared with Pillow's.
 *
 *	static int setup(void **s) { return folder_ref_setup("tests/ref/x_ref.py"); }
 *	struct dataset *ds = folder_ref_open("train", 3);
 *	uint8_t *ref = folder_ref_read("ref/a-3.raw", n);
 *	assert_int_equal(folder_ref_worst(&img, ref), 0);
 */
#ifndef BYOL_FOLDER_REF_H
#define BYOL_FOLDER_REF_H

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/dataset.h"

static char folder_ref_dir[] = "/tmp/byol-folder-ref-XXXXXX";

static inline int folder_ref_rm(const char *path, const struct stat *st, int flag,
				struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

/* A fresh directory, filled by `/usr/bin/python3 script DIR`; 0 or -1. */
static inline int folder_ref_setup(const char *script)
{
	char cmd[512];
	if (!mkdtemp(folder_ref_dir))
		return -1;
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", script, folder_ref_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static inline int folder_ref_teardown(void)
{
	return nftw(folder_ref_dir, folder_ref_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* The image folder DIR/<split> (on_error fail) with `channels` channels. */
static inline struct dataset *folder_ref_open(const char *split, int channels)
{
	struct dataset_config c = { .format = DATASET_IMAGEFOLDER, .path = folder_ref_dir,
				    .split = split, .channels = channels };
	struct dataset *ds;
	struct err e;
	if (dataset_open(&ds, &c, &e))
		fail_msg("%s", e.msg);
	return ds;
}

/* DIR/<rel>, which must hold exactly n bytes. */
static inline uint8_t *folder_ref_read(const char *rel, size_t n)
{
	char path[1024];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", folder_ref_dir, rel) >= sizeof path)
		fail_msg("%s: path too long", rel);
	FILE *f = fopen(path, "rb");
	uint8_t *p = malloc(n + 1);
	if (!f)
		fail_msg("%s: cannot open", path);
	assert_int_equal(fread(p, 1, n + 1, f), n); /* exactly n bytes */
	fclose(f);
	return p;
}

/* max |img − ref| over every sample: img planar, ref interleaved (Pillow's
   tobytes()) with img->c samples a pixel. */
static inline int folder_ref_worst(const struct image *img, const uint8_t *ref)
{
	size_t plane = (size_t)img->h * (size_t)img->w;
	int worst = 0;
	for (size_t p = 0; p < plane; p++)
		for (int c = 0; c < img->c; c++) {
			int d = abs(img->px[(size_t)c * plane + p] - ref[(size_t)img->c * p + c]);
			worst = d > worst ? d : worst;
		}
	return worst;
}

#endif
