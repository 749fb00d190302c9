/*
 * dataset_test_util.h — helpers shared by the tests that need data files
 * (test_dataset.c, test_imagefolder.c, test_engine.c): a temporary directory
 * per test binary, file and JPEG writers, the synthetic pixel pattern,
 * checks on open and probe errors, a log capture for the per-dataset logger
 * and a watchdog for calls that must not block.
 */
#ifndef BYOL_DATASET_TEST_UTIL_H
#define BYOL_DATASET_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jpeglib.h> /* after stdio.h, which it needs */

#include "data/dataset.h"

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

/* The luminance rule, Pillow's convert("L"): ITU-R 601-2 weights in 1/65536,
   rounded half up (not the exact value rounded: they part at 9040 colours;
   test_png_webp checks the rule against Pillow itself). */
static inline uint8_t luma_ref(int r, int g, int b)
{
	return (uint8_t)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
}

/* ---- log capture (dataset_config.log) ----------------------------------- */

/* Every line a data set logged, joined with newlines. */
struct log_buf {
	int lines, all_skipping;
	char text[16384];
};

static inline void log_to_buf(void *ctx, const char *msg)
{
	struct log_buf *b = ctx;
	size_t len = strlen(b->text);
	b->lines++;
	if (strncmp(msg, "skipping ", 9) != 0)
		b->all_skipping = 0;
	snprintf(b->text + len, sizeof b->text - len, "%s\n", msg);
}

static inline void expect_log(const struct log_buf *b, const char *want)
{
	if (!strstr(b->text, want))
		fail_msg("log lacks \"%s\":\n%s", want, b->text);
}

/* ---- calls that must not block ----------------------------------------- */

/* A call under test that blocks (open() on a FIFO) ends the test binary with
   a message instead of hanging it: arm before, disarm after. */
static inline void watchdog_fired(int sig)
{
	static const char msg[] = "watchdog: a call blocked (FIFO opened for reading?)\n";
	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	_exit(3);
}

static inline void watchdog_arm(unsigned seconds)
{
	signal(SIGALRM, watchdog_fired);
	alarm(seconds);
}

static inline void watchdog_disarm(void)
{
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

static inline double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

/* The same, with the log lines captured in log (appended). */
static inline int open_logged(struct dataset **ds, enum dataset_format fmt, const char *path,
			      const char *split, size_t limit, int skip, struct log_buf *log,
			      struct err *e)
{
	struct dataset_config cfg = { .format = fmt, .path = path, .split = split,
				      .limit = limit, .channels = 3, .skip_bad = skip,
				      .log = log_to_buf, .log_ctx = log };
	memset(e, 0, sizeof *e);
	return dataset_open(ds, &cfg, e);
}

/* Probe a dataset with e cleared first; *n is set to a marker before. */
static inline int probe_ds(size_t *n, enum dataset_format fmt, const char *path,
			   const char *split, size_t limit, int skip, struct err *e)
{
	struct dataset_config cfg = { .format = fmt, .path = path, .split = split,
				      .limit = limit, .channels = 1, .skip_bad = skip };
	memset(e, 0, sizeof *e);
	*n = (size_t)-7;
	return dataset_probe(&cfg, n, e);
}

/* Probing must succeed with n images. */
static inline void expect_probe(enum dataset_format fmt, const char *path, const char *split,
				size_t limit, int skip, size_t want)
{
	struct err e;
	size_t n;
	int rc = probe_ds(&n, fmt, path, split, limit, skip, &e);
	if (rc != 0)
		fail_msg("probe of %s failed: %s", path, e.msg);
	assert_int_equal(n, want);
}

/* Probing must fail with code and a message containing want. */
static inline void expect_probe_error(enum dataset_format fmt, const char *path,
				      const char *split, int skip, int code, const char *want)
{
	struct err e;
	size_t n;
	int rc = probe_ds(&n, fmt, path, split, 0, skip, &e);
	if (rc != code)
		fail_msg("probe of %s: %d (%s), want %d", path, rc, rc ? e.msg : "ok", code);
	assert_int_equal(n, 0);
	if (!strstr(e.msg, want))
		fail_msg("probe message \"%s\" lacks \"%s\"", e.msg, want);
}

/* Opening (on_error fail) must fail with code and a message containing want. */
static inline void expect_open_error(enum dataset_format fmt, const char *path,
				     const char *split, int code, const char *want)
{
	struct dataset *ds = (struct dataset *)1;
	struct err e;

	int rc = open_ds(&ds, fmt, path, split, 0, 1, 0, &e);
	if (rc != code)
		fail_msg("open of %s: %d (%s), want %d", path, rc, rc ? e.msg : "ok", code);
	assert_null(ds);
	if (!strstr(e.msg, want))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
}

/* Both probe and open (on_error fail) must fail so. */
static inline void expect_both_error(enum dataset_format fmt, const char *path,
				     const char *split, int code, const char *want)
{
	expect_probe_error(fmt, path, split, 0, code, want);
	expect_open_error(fmt, path, split, code, want);
}

#endif
