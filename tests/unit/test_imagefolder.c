/*
 * test_imagefolder.c — folders of JPEG files: listing rules (sorted classes
 * and files, hidden and non-JPEG entries ignored, empty classes counted, the
 * split folder or the path itself), headers, pixel round trips of JPEGs the
 * test encodes itself (colour and grey, odd sizes), channel conversion, bad
 * files (garbage, truncated header or data, CMYK, oversized) under skip and
 * fail, and concurrent decoding from several threads.
 */
#include <pthread.h>

#include "dataset_test_util.h"

/* ---- JPEG folders ------------------------------------------------------ */

/* A w×h image of one colour (comps values from rgb). */
static void write_flat(const char *path, int w, int h, int comps, const uint8_t *colour)
{
	uint8_t *px = malloc((size_t)w * (size_t)h * (size_t)comps);
	for (int k = 0; k < w * h; k++)
		memcpy(px + (size_t)k * (size_t)comps, colour, (size_t)comps);
	write_jpeg(path, px, w, h, comps, 100);
	free(px);
}

/* Pixel (x, y) of the smooth colour ramp used for round trips. */
static void ramp(int x, int y, uint8_t *rgb)
{
	rgb[0] = (uint8_t)(x * 8), rgb[1] = (uint8_t)(y * 50), rgb[2] = (uint8_t)((x + y) * 6);
}

/* A w×h image of noise (or the ramp), grey or colour, at the given quality. */
static void write_pattern(const char *path, int w, int h, int comps, int quality, int seed,
			  int smooth)
{
	uint8_t *px = malloc((size_t)w * (size_t)h * (size_t)comps), rgb[3];
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int ch = 0; ch < comps; ch++) {
				ramp(x, y, rgb);
				px[((size_t)y * (size_t)w + (size_t)x) * (size_t)comps + (size_t)ch] =
					smooth ? rgb[ch] : pix((unsigned)seed, (unsigned)((y * w + x) * 3 + ch));
			}
	write_jpeg(path, px, w, h, comps, quality);
	free(px);
}

static void expect_near(const uint8_t *px, size_t n, int want, int tol)
{
	for (size_t k = 0; k < n; k++)
		if (abs(px[k] - want) > tol)
			fail_msg("pixel %zu is %d, want %d +- %d", k, px[k], want, tol);
}

static void expect_shape(const struct dataset *ds, size_t i, int c, int h, int w)
{
	int cc, hh, ww;
	dataset_shape(ds, i, &cc, &hh, &ww);
	if (cc != c || hh != h || ww != w)
		fail_msg("image %zu is %dx%dx%d, want %dx%dx%d", i, cc, hh, ww, c, h, w);
}

static void test_imagefolder(void **state)
{
	(void)state;
	static const uint8_t red[3] = { 200, 30, 90 }, grey[1] = { 77 }, light[1] = { 250 };
	static const uint8_t green[3] = { 0, 255, 0 };
	char p[512], root[256];
	struct dataset *ds;
	struct image img = { 0 }, g1 = { 0 };
	struct err e;

	write_flat(tmp_path(p, sizeof p, "if/train/bird/a.JPG"), 17, 9, 3, red);
	write_flat(tmp_path(p, sizeof p, "if/train/bird/b.jpeg"), 13, 7, 1, grey);
	write_flat(tmp_path(p, sizeof p, "if/train/bird/.hidden.jpg"), 4, 4, 1, grey);
	write_flat(tmp_path(p, sizeof p, "if/train/bird/sub/c.jpg"), 4, 4, 1, grey);
	write_bytes(tmp_path(p, sizeof p, "if/train/bird/notes.txt"), "hi", 2);
	write_pattern(tmp_path(p, sizeof p, "if/train/cat/01.jpg"), 31, 5, 3, 100, 0, 1);
	write_flat(tmp_path(p, sizeof p, "if/train/cat/02.Jpeg"), 1, 1, 1, light);
	tmp_dir(p, sizeof p, "if/train/empty");
	write_flat(tmp_path(p, sizeof p, "if/train/.git/h.jpg"), 4, 4, 1, grey);
	write_flat(tmp_path(p, sizeof p, "if/train/zebra/z.jpg"), 8, 8, 3, green);
	write_flat(tmp_path(p, sizeof p, "if/train/loose.jpg"), 4, 4, 1, grey);
	tmp_dir(root, sizeof root, "if");

	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_classes(ds), 4); /* bird, cat, empty, zebra */
	assert_int_equal(dataset_size(ds), 5);
	assert_int_equal(dataset_skipped(ds), 0);
	static const int labels[5] = { 0, 0, 1, 1, 3 };
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(dataset_label(ds, i), labels[i]);
	expect_shape(ds, 0, 3, 9, 17);
	expect_shape(ds, 1, 1, 7, 13);
	expect_shape(ds, 2, 3, 5, 31);
	expect_shape(ds, 3, 1, 1, 1);
	expect_shape(ds, 4, 3, 8, 8);

	/* Flat colours at quality 100 come back within rounding of the colour. */
	assert_int_equal(dataset_load(ds, 0, &img, &e), 0);
	assert_true(img.c == 3 && img.h == 9 && img.w == 17 && img.owned);
	for (int ch = 0; ch < 3; ch++)
		expect_near(img.px + ch * 153, 153, red[ch], 2);
	/* Grey replicated to three equal planes. */
	assert_int_equal(dataset_load(ds, 1, &img, &e), 0);
	assert_true(img.c == 3 && img.h == 7 && img.w == 13);
	expect_near(img.px, 91, 77, 1);
	assert_memory_equal(img.px, img.px + 91, 91);
	assert_memory_equal(img.px, img.px + 182, 91);
	/* The ramp, pixel by pixel. */
	assert_int_equal(dataset_load(ds, 2, &img, &e), 0);
	for (int y = 0; y < 5; y++)
		for (int x = 0; x < 31; x++) {
			uint8_t rgb[3];
			ramp(x, y, rgb);
			for (int ch = 0; ch < 3; ch++)
				expect_near(img.px + ch * 155 + y * 31 + x, 1, rgb[ch], 6);
		}
	assert_int_equal(dataset_load(ds, 4, &img, &e), 0);
	expect_near(img.px + 64, 64, 255, 2);

	/* channels 1: the luminance of the decoded colour, exactly; grey as is.
	 * A path without the split's folder is the root itself; limit 3. */
	struct dataset *ds1;
	snprintf(p, sizeof p, "%s/train", root);
	assert_int_equal(open_ds(&ds1, DATASET_IMAGEFOLDER, p, "test", 3, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds1), 3);
	assert_int_equal(dataset_classes(ds1), 4);
	assert_int_equal(dataset_label(ds1, 2), 1);
	assert_int_equal(dataset_load(ds, 2, &img, &e), 0);
	assert_int_equal(dataset_load(ds1, 2, &g1, &e), 0);
	assert_true(g1.c == 1 && g1.h == 5 && g1.w == 31 && g1.owned);
	for (int k = 0; k < 155; k++)
		assert_int_equal(g1.px[k], luma_ref(img.px[k], img.px[155 + k], img.px[310 + k]));
	assert_int_equal(dataset_load(ds1, 1, &g1, &e), 0);
	expect_near(g1.px, 91, 77, 1);
	dataset_free(ds1);
	dataset_free(ds);
	image_free(&g1);
	image_free(&img);

	/* No split: the path holds the class folders ("train" is one). */
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, NULL, 0, 1, 0, &e), 0);
	assert_int_equal(dataset_classes(ds), 1);
	assert_int_equal(dataset_size(ds), 1); /* loose.jpg */
	dataset_free(ds);

	expect_open_error(DATASET_IMAGEFOLDER, "/nonexistent/if", "train", ERR_NOTFOUND,
			  "/nonexistent/if: no such directory");
	tmp_dir(p, sizeof p, "if/train/empty");
	expect_open_error(DATASET_IMAGEFOLDER, p, "train", ERR_INVALID, "no class folders");
}

/* All log lines, joined. */
struct log_buf {
	int lines, all_skipping;
	char text[4096];
};

static void log_to_buf(void *ctx, const char *msg)
{
	struct log_buf *b = ctx;
	size_t len = strlen(b->text);
	b->lines++;
	if (strncmp(msg, "skipping ", 9) != 0)
		b->all_skipping = 0;
	snprintf(b->text + len, sizeof b->text - len, "%s\n", msg);
}

static void test_imagefolder_bad(void **state)
{
	(void)state;
	static const uint8_t cmyk[4] = { 10, 20, 30, 40 }, grey[1] = { 9 };
	char p[512], root[256];
	uint8_t junk[200];
	struct dataset *ds;
	struct image img = { 0 };
	struct err e;
	struct stat st;

	write_pattern(tmp_path(p, sizeof p, "ifbad/train/a/1_good.jpg"), 9, 9, 3, 90, 1, 0);
	for (size_t k = 0; k < sizeof junk; k++)
		junk[k] = pix(7, (unsigned)k);
	write_bytes(tmp_path(p, sizeof p, "ifbad/train/a/2_garbage.jpg"), junk, sizeof junk);
	/* A valid file cut inside its header, and one cut inside its data. */
	write_pattern(tmp_path(p, sizeof p, "ifbad/train/a/3_head.jpg"), 64, 64, 3, 90, 2, 0);
	assert_int_equal(truncate(p, 40), 0);
	write_flat(tmp_path(p, sizeof p, "ifbad/train/a/4_cmyk.jpg"), 8, 8, 4, cmyk);
	write_flat(tmp_path(p, sizeof p, "ifbad/train/a/5_huge.jpg"), 16385, 1, 1, grey);
	write_pattern(tmp_path(p, sizeof p, "ifbad/train/a/6_cut.jpg"), 64, 64, 3, 90, 3, 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(truncate(p, st.st_size / 2), 0);
	write_pattern(tmp_path(p, sizeof p, "ifbad/train/b/x.jpg"), 5, 3, 1, 90, 4, 0);
	tmp_dir(root, sizeof root, "ifbad");

	/* skip: four files are logged and counted; the cut one fails at load. */
	struct log_buf log = { .all_skipping = 1 };
	dataset_set_logger(log_to_buf, &log);
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 3, 1, &e), 0);
	dataset_set_logger(NULL, NULL);
	assert_int_equal(dataset_skipped(ds), 4);
	assert_int_equal(dataset_size(ds), 3);
	assert_int_equal(dataset_label(ds, 2), 1);
	assert_int_equal(log.lines, 4);
	assert_true(log.all_skipping);
	const char *wants[] = { "2_garbage.jpg: Not a JPEG file", "3_head.jpg: Premature end",
				"4_cmyk.jpg: CMYK JPEGs are not supported",
				"5_huge.jpg: 16385x1 pixels exceeds 16384x16384" };
	for (int k = 0; k < 4; k++)
		if (!strstr(log.text, wants[k]))
			fail_msg("log lacks \"%s\":\n%s", wants[k], log.text);
	assert_int_equal(dataset_load(ds, 0, &img, &e), 0);
	assert_int_equal(dataset_load(ds, 1, &img, &e), ERR_INVALID);
	snprintf(p, sizeof p, "%s/train/a/6_cut.jpg: Premature end of JPEG file", root);
	assert_string_equal(e.msg, p);
	assert_int_equal(dataset_load(ds, 2, &img, &e), 0);
	assert_true(img.c == 3 && img.h == 3 && img.w == 5);
	image_free(&img);
	dataset_free(ds);

	/* fail: the first bad file in order is named. */
	snprintf(p, sizeof p, "%s/train/a/2_garbage.jpg: Not a JPEG file", root);
	expect_open_error(DATASET_IMAGEFOLDER, root, "train", ERR_INVALID, p);
	/* A limit that stops before the bad files never sees them. */
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 1, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 1);
	dataset_free(ds);

	/* Nothing usable at all. */
	tmp_path(p, sizeof p, "ifbad2/c/bad.jpg");
	write_bytes(p, junk, sizeof junk);
	tmp_dir(p, sizeof p, "ifbad2");
	dataset_set_logger(log_to_buf, &log);
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, p, "train", 0, 3, 1, &e), ERR_INVALID);
	dataset_set_logger(NULL, NULL);
	assert_null(ds);
	assert_non_null(strstr(e.msg, "no usable JPEG files (1 skipped)"));
	assert_int_equal(log.lines, 5);
}

/* A small progressive file whose frame header claims 16000x16000: decoding it
   would need 1.5 GiB of coefficient buffers, so it fails at load with the reason
   and the data set stays usable. */
static void test_decode_memory_cap(void **state)
{
	(void)state;
	uint8_t px[16 * 16 * 3];
	char p[512], root[256];
	struct dataset *ds;
	struct image img = { 0 };
	struct err e;
	for (size_t k = 0; k < sizeof px; k++)
		px[k] = pix(3, (unsigned)k);
	write_pattern(tmp_path(p, sizeof p, "ifbomb/train/a/1_good.jpg"), 9, 9, 3, 90, 1, 0);
	write_jpeg_mode(tmp_path(p, sizeof p, "ifbomb/train/a/2_bomb.jpg"), px, 16, 16, 3, 90, 1);
	FILE *f = fopen(p, "r+b");
	assert_non_null(f);
	uint8_t head[1024];
	size_t n = fread(head, 1, sizeof head, f), sof = 0;
	for (size_t k = 0; k + 8 < n && !sof; k++)
		if (head[k] == 0xFF && head[k + 1] == 0xC2) /* SOF2: progressive */
			sof = k;
	assert_true(sof > 0);
	const uint8_t dims[4] = { 16000 >> 8, 16000 & 255, 16000 >> 8, 16000 & 255 };
	assert_int_equal(fseek(f, (long)sof + 5, SEEK_SET), 0); /* marker, length, precision */
	assert_int_equal(fwrite(dims, 1, 4, f), 4);
	assert_int_equal(fclose(f), 0);
	tmp_dir(root, sizeof root, "ifbomb");
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 2);
	assert_int_equal(dataset_load(ds, 1, &img, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "2_bomb.jpg: needs more than 512 MiB to decode"));
	assert_int_equal(dataset_load(ds, 0, &img, &e), 0);
	image_free(&img);
	dataset_free(ds);
}

/* ---- concurrency ------------------------------------------------------- */

#define MT_IMAGES 24
#define MT_THREADS 4

struct mt_arg {
	const struct dataset *ds;
	struct image *want;
	int tid;
	int mismatches;
};

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	struct image img = { 0 };
	struct err e;

	for (int round = 0; round < 5; round++)
		for (int k = 0; k < MT_IMAGES; k++) {
			size_t i = (size_t)((k + a->tid * 5 + round) % MT_IMAGES);
			const struct image *w = &a->want[i];
			if (dataset_load(a->ds, i, &img, &e) != 0 || img.c != w->c || img.h != w->h ||
			    img.w != w->w ||
			    memcmp(img.px, w->px, (size_t)w->c * (size_t)w->h * (size_t)w->w) != 0)
				a->mismatches++;
		}
	image_free(&img);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	char p[512];
	struct dataset *ds;
	struct image want[MT_IMAGES] = { 0 };
	struct mt_arg args[MT_THREADS];
	pthread_t th[MT_THREADS];
	struct err e;

	for (int i = 0; i < MT_IMAGES; i++) {
		tmp_path(p, sizeof p, "ifmt/c%d/%02d.jpg", i % 3, i);
		write_pattern(p, 5 + (7 * i) % 40, 3 + (5 * i) % 30, i % 2 ? 3 : 1, 85, i, 0);
	}
	tmp_dir(p, sizeof p, "ifmt");
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, p, "train", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), MT_IMAGES);
	for (size_t i = 0; i < MT_IMAGES; i++)
		assert_int_equal(dataset_load(ds, i, &want[i], &e), 0);
	for (int t = 0; t < MT_THREADS; t++) {
		args[t] = (struct mt_arg){ .ds = ds, .want = want, .tid = t };
		assert_int_equal(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
	}
	for (int t = 0; t < MT_THREADS; t++) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_int_equal(args[t].mismatches, 0);
	}
	for (int i = 0; i < MT_IMAGES; i++)
		image_free(&want[i]);
	dataset_free(ds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imagefolder),
		cmocka_unit_test(test_imagefolder_bad),
		cmocka_unit_test(test_decode_memory_cap),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
