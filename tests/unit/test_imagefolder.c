/*
 * test_imagefolder.c — folders of JPEG files: listing rules (sorted classes
 * and files, hidden entries and sub-folders ignored, every other file named
 * and counted, empty classes counted, the split folder or — for "train" only
 * — the path itself), headers, pixel round trips of JPEGs the test encodes
 * itself (colour and grey, odd sizes), channel conversion, bad files
 * (garbage, truncated header or data, CMYK, oversized, GIF, BMP, TIFF, a PNG
 * named .jpg, text, a FIFO, a dangling link) under skip and fail, the
 * per-dataset log and its cap, dataset_probe (entries only), and concurrent
 * decoding and opening from several threads. PNG and WebP files against
 * Pillow: test_png_webp.c.
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

	/* notes.txt is named and skipped; sub/ and loose.jpg are not images of a class. */
	struct log_buf log = { .all_skipping = 1 };
	assert_int_equal(open_logged(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 1, &log, &e), 0);
	assert_int_equal(dataset_classes(ds), 4); /* bird, cat, empty, zebra */
	assert_int_equal(dataset_size(ds), 5);
	assert_int_equal(dataset_skipped(ds), 1);
	assert_int_equal(log.lines, 2);
	snprintf(p, sizeof p, "skipping %s/train/bird/notes.txt: not an image file (only .jpg, "
		 ".jpeg, .png and .webp files are read)\n", root);
	expect_log(&log, p);
	expect_log(&log, "/train: 1 sub-folder of class folders ignored");
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 0, 1, 5);
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 4, 1, 4);
	/* on_error fail: that file fails the data set, named, at probe and at open. */
	snprintf(p, sizeof p, "%s/train/bird/notes.txt: not an image file", root);
	expect_both_error(DATASET_IMAGEFOLDER, root, "train", ERR_INVALID, p);
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
	 * A path without the split's folder is the root itself (split "train"
	 * only); limit 3. */
	struct dataset *ds1;
	snprintf(p, sizeof p, "%s/train", root);
	assert_int_equal(open_ds(&ds1, DATASET_IMAGEFOLDER, p, "train", 3, 1, 1, &e), 0);
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

	expect_both_error(DATASET_IMAGEFOLDER, "/nonexistent/if", "train", ERR_NOTFOUND,
			  "/nonexistent/if: no such directory");
	tmp_dir(p, sizeof p, "if/train/empty");
	expect_both_error(DATASET_IMAGEFOLDER, p, "train", ERR_INVALID, "no class folders");
	/* Images beside where the class folders should be: said so. */
	snprintf(p, sizeof p, "%s/train/cat", root);
	expect_both_error(DATASET_IMAGEFOLDER, p, "train", ERR_INVALID,
			  "no class folders (2 image files directly in it");
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
	assert_int_equal(open_logged(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 1, &log, &e), 0);
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

	/* fail: the first bad file in order is named, with its reason, not the folder.
	   The probe reads no JPEG: it counts all seven .jpg files. */
	snprintf(p, sizeof p, "%s/train/a/2_garbage.jpg: Not a JPEG file", root);
	expect_open_error(DATASET_IMAGEFOLDER, root, "train", ERR_INVALID, p);
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 0, 0, 7);
	/* A limit that stops before the bad files never sees them. */
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 1, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 1);
	dataset_free(ds);

	/* Nothing usable at all. */
	tmp_path(p, sizeof p, "ifbad2/c/bad.jpg");
	write_bytes(p, junk, sizeof junk);
	tmp_dir(p, sizeof p, "ifbad2");
	assert_int_equal(open_logged(&ds, DATASET_IMAGEFOLDER, p, "train", 0, 1, &log, &e),
			 ERR_INVALID);
	assert_null(ds);
	char want[1200];
	snprintf(want, sizeof want, "%s: no usable images: 1 unreadable JPEG file; first: "
		 "%s/c/bad.jpg: Not a JPEG file", p, p);
	if (!strstr(e.msg, want))
		fail_msg("\"%s\" lacks \"%s\"", e.msg, want);
	assert_int_equal(log.lines, 5);
}

/* A minimal file of another image type (its magic), or text. */
static void write_magic(const char *path, const char *magic, size_t n)
{
	char buf[64] = { 0 };
	memcpy(buf, magic, n);
	write_bytes(path, buf, sizeof buf);
}

#define PNG_MAGIC "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16
#define GIF_MAGIC "GIF89a", 6

/* Files that are not images of a kind read are never ignored in silence. */
static void test_non_jpeg(void **state)
{
	(void)state;
	static const uint8_t grey[1] = { 50 };
	char p[512], root[256], want[700];
	struct dataset *ds;
	struct err e;

	write_flat(tmp_path(p, sizeof p, "nj/train/a/0_good.jpg"), 4, 4, 1, grey);
	write_magic(tmp_path(p, sizeof p, "nj/train/a/a.bmp"), "BM", 2);
	write_magic(tmp_path(p, sizeof p, "nj/train/a/b.gif"), GIF_MAGIC);
	write_magic(tmp_path(p, sizeof p, "nj/train/a/c.tif"), "II*\0", 4);
	write_bytes(tmp_path(p, sizeof p, "nj/train/a/d.txt"), "hello\n", 6);
	write_flat(tmp_path(p, sizeof p, "nj/train/a/e_noext"), 4, 4, 1, grey);
	write_magic(tmp_path(p, sizeof p, "nj/train/a/f.jpg"), PNG_MAGIC);
	assert_int_equal(mkfifo(tmp_path(p, sizeof p, "nj/train/a/g.jpg"), 0600), 0);
	assert_int_equal(symlink("nowhere.jpg", tmp_path(p, sizeof p, "nj/train/a/h.jpg")), 0);
	write_flat(tmp_path(p, sizeof p, "nj/train/a/z.JPG"), 4, 4, 1, grey);
	write_flat(tmp_path(p, sizeof p, "nj/train/b/x.jpg"), 4, 4, 1, grey);
	tmp_dir(root, sizeof root, "nj");

	watchdog_arm(10); /* g.jpg is a FIFO: nothing may wait on it */
	struct log_buf log = { .all_skipping = 1 };
	assert_int_equal(open_logged(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 1, &log, &e), 0);
	assert_int_equal(dataset_size(ds), 3);
	assert_int_equal(dataset_skipped(ds), 8);
	assert_int_equal(log.lines, 8);
	assert_true(log.all_skipping);
	static const char *const reasons[] = {
		"a/a.bmp: unsupported image type: BMP\n",
		"a/b.gif: unsupported image type: GIF\n",
		"a/c.tif: unsupported image type: TIFF\n",
		"a/d.txt: not an image file (only .jpg, .jpeg, .png and .webp files are read)\n",
		"a/e_noext: a JPEG file not named .jpg or .jpeg: rename it to use it\n",
		"a/f.jpg: a PNG file named .jpg: rename it to use it\n",
		"a/g.jpg: is a FIFO, not a regular file\n",
		"a/h.jpg: No such file or directory\n",
	};
	for (size_t k = 0; k < sizeof reasons / sizeof reasons[0]; k++) {
		snprintf(want, sizeof want, "skipping %s/train/%s", root, reasons[k]);
		expect_log(&log, want);
	}
	dataset_free(ds);

	/* The probe counts the .jpg regular files (f.jpg too: it reads no file). */
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 0, 1, 4);
	/* fail: the first in name order, named with its reason, by probe and open. */
	snprintf(want, sizeof want, "%s/train/a/a.bmp: unsupported image type: BMP", root);
	expect_both_error(DATASET_IMAGEFOLDER, root, "train", ERR_INVALID, want);
	/* ... unless a limit stops before it: limit 1 lists 0_good.jpg only. */
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 1, 0, 1);
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 1, 1, 0, &e), 0);
	dataset_free(ds);
	size_t n;
	assert_int_equal(probe_ds(&n, DATASET_IMAGEFOLDER, root, "train", 2, 0, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, want));
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 2, 1, 0, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, want));
	watchdog_disarm();
}

/* A folder of GIFs only says so, and which kinds are read. */
static void test_only_gif(void **state)
{
	(void)state;
	char p[512], root[256], want[700];

	for (int i = 0; i < 12; i++)
		write_magic(tmp_path(p, sizeof p, "gif/train/cat/%02d.gif", i), GIF_MAGIC);
	tmp_dir(root, sizeof root, "gif");
	snprintf(want, sizeof want, "%s/train: no usable images: 12 GIF files (GIF is not supported "
		 "yet; JPEG, PNG and WebP files are read)", root);
	expect_probe_error(DATASET_IMAGEFOLDER, root, "train", 1, ERR_INVALID, want);
	struct dataset *ds;
	struct err e;
	struct log_buf log = { .all_skipping = 1 };
	assert_int_equal(open_logged(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 1, &log, &e),
			 ERR_INVALID);
	assert_string_equal(e.msg, want);
	assert_int_equal(log.lines, 12);
	snprintf(want, sizeof want, "%s/train/cat/00.gif: unsupported image type: GIF", root);
	expect_both_error(DATASET_IMAGEFOLDER, root, "train", ERR_INVALID, want);

	/* With a BMP and a text file. */
	write_magic(tmp_path(p, sizeof p, "gif/train/dog/a.bmp"), "BM", 2);
	write_bytes(tmp_path(p, sizeof p, "gif/train/dog/notes.txt"), "x", 1);
	snprintf(want, sizeof want, "%s/train: no usable images: 12 GIF files, 1 BMP file, 1 "
		 "non-image file (GIF and BMP are not supported yet; JPEG, PNG and WebP files are "
		 "read); first: %s/train/cat/00.gif", root, root);
	expect_probe_error(DATASET_IMAGEFOLDER, root, "train", 1, ERR_INVALID, want);
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 1, 1, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, want));
	/* Empty class folders. */
	tmp_dir(p, sizeof p, "gif2/x");
	tmp_dir(p, sizeof p, "gif2");
	expect_probe_error(DATASET_IMAGEFOLDER, p, "train", 1, ERR_INVALID,
			   "no usable images: its 1 class folder holds no files");
}

/* Only "train" falls back to the path itself: test/ must exist. */
static void test_split_rule(void **state)
{
	(void)state;
	static const uint8_t grey[1] = { 50 };
	char p[512], root[256], want[700];
	struct dataset *ds;
	struct err e;

	write_flat(tmp_path(p, sizeof p, "split/train/c/x.jpg"), 4, 4, 1, grey);
	tmp_dir(root, sizeof root, "split");
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 0, 0, 1);
	snprintf(want, sizeof want, "%s has no test/ folder: evaluation would use the training "
		 "images; set eval_data.path to a labelled folder, or eval_data.split to \"train\" "
		 "to evaluate on the training images", root);
	expect_both_error(DATASET_IMAGEFOLDER, root, "test", ERR_NOTFOUND, want);
	expect_both_error(DATASET_IMAGEFOLDER, root, "val", ERR_NOTFOUND, "has no val/ folder");

	/* Once it exists, it is used. */
	write_flat(tmp_path(p, sizeof p, "split/test/c/y.jpg"), 4, 4, 1, grey);
	write_flat(tmp_path(p, sizeof p, "split/test/d/z.jpg"), 4, 4, 1, grey);
	expect_probe(DATASET_IMAGEFOLDER, root, "test", 0, 0, 2);
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "test", 0, 1, 0, &e), 0);
	assert_int_equal(dataset_classes(ds), 2);
	dataset_free(ds);

	/* No train/: "train" is the path itself; "test" is still an error. */
	write_flat(tmp_path(p, sizeof p, "split2/c/x.jpg"), 4, 4, 1, grey);
	tmp_dir(root, sizeof root, "split2");
	expect_probe(DATASET_IMAGEFOLDER, root, "train", 0, 0, 1);
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 1, 0, &e), 0);
	dataset_free(ds);
	expect_both_error(DATASET_IMAGEFOLDER, root, "test", ERR_NOTFOUND, "has no test/ folder");

	/* A test that is not a directory: said what it is; a FIFO is not waited on. */
	write_bytes(tmp_path(p, sizeof p, "split2/test"), "x", 1);
	expect_both_error(DATASET_IMAGEFOLDER, root, "test", ERR_INVALID,
			  "split2/test: is a regular file, not a directory");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0600), 0);
	watchdog_arm(10);
	expect_both_error(DATASET_IMAGEFOLDER, root, "test", ERR_INVALID, "is a FIFO, not a directory");
	watchdog_disarm();
}

/* ---- the log ----------------------------------------------------------- */

/* n bad files (prefix%02d.gif) and one good file in <dir>/train/c. */
static void bad_folder(char *root, size_t size, const char *dir, const char *prefix, int n)
{
	static const uint8_t grey[1] = { 50 };
	char p[512];
	write_flat(tmp_path(p, sizeof p, "%s/train/c/zz.jpg", dir), 4, 4, 1, grey);
	for (int i = 0; i < n; i++)
		write_magic(tmp_path(p, sizeof p, "%s/train/c/%s%02d.gif", dir, prefix, i), GIF_MAGIC);
	tmp_dir(root, size, "%s", dir);
}

struct open_arg {
	const char *root;
	struct log_buf log;
	size_t size, skipped;
	int rc;
};

static void *open_thread(void *p)
{
	struct open_arg *a = p;
	struct dataset *ds;
	struct err e;
	for (int round = 0; round < 20 && a->rc == 0; round++) {
		a->log.text[0] = 0, a->log.lines = 0;
		a->rc = open_logged(&ds, DATASET_IMAGEFOLDER, a->root, "train", 0, 1, &a->log, &e);
		if (a->rc == 0) {
			a->size = dataset_size(ds), a->skipped = dataset_skipped(ds);
			dataset_free(ds);
		}
	}
	return NULL;
}

/* The first DATASET_LOG_MAX_NAMED skipped files are named, then one line with
   the total; each data set logs to its own logger, also on threads at once. */
static void test_log_cap(void **state)
{
	(void)state;
	char a[256], b[256], want[600];
	bad_folder(a, sizeof a, "cap1", "b", 50);
	bad_folder(b, sizeof b, "cap2", "q", 3);

	struct open_arg args[2] = { { .root = a }, { .root = b } };
	pthread_t th[2];
	for (int t = 0; t < 2; t++)
		assert_int_equal(pthread_create(&th[t], NULL, open_thread, &args[t]), 0);
	for (int t = 0; t < 2; t++) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_int_equal(args[t].rc, 0);
		assert_int_equal(args[t].size, 1);
	}
	assert_int_equal(args[0].skipped, 50);
	assert_int_equal(args[1].skipped, 3);
	const struct log_buf *la = &args[0].log, *lb = &args[1].log;
	assert_int_equal(la->lines, DATASET_LOG_MAX_NAMED + 1);
	snprintf(want, sizeof want, "skipping %s/train/c/b19.gif: unsupported image type: GIF\n", a);
	expect_log(la, want);
	assert_null(strstr(la->text, "b20.gif"));
	snprintf(want, sizeof want, "%s/train: 30 more files skipped, not named (50 skipped in all: "
		 "50 GIF files)\n", a);
	expect_log(la, want);
	assert_int_equal(lb->lines, 3);
	assert_null(strstr(lb->text, "/b0"));
	assert_null(strstr(la->text, "/q0"));
}

/* on_error fail with one bad file among good ones: the file and the reason. */
static void test_fail_names_file(void **state)
{
	(void)state;
	char p[512], root[256];
	uint8_t junk[64];
	struct dataset *ds;
	struct err e;

	for (int i = 0; i < 5; i++)
		write_pattern(tmp_path(p, sizeof p, "onebad/train/c/%d.jpg", i), 6, 6, 3, 90, i, 0);
	memset(junk, 0x42, sizeof junk);
	write_bytes(tmp_path(p, sizeof p, "onebad/train/c/2_bad.jpg"), junk, sizeof junk);
	tmp_dir(root, sizeof root, "onebad");
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 3, 0, &e), ERR_INVALID);
	snprintf(p, sizeof p, "%s/train/c/2_bad.jpg: Not a JPEG file: starts with 0x42 0x42", root);
	assert_string_equal(e.msg, p);
	/* With skip it is one skipped file of six. */
	assert_int_equal(open_ds(&ds, DATASET_IMAGEFOLDER, root, "train", 0, 3, 1, &e), 0);
	assert_int_equal(dataset_size(ds), 5);
	assert_int_equal(dataset_skipped(ds), 1);
	dataset_free(ds);
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
		cmocka_unit_test(test_non_jpeg),
		cmocka_unit_test(test_only_gif),
		cmocka_unit_test(test_split_rule),
		cmocka_unit_test(test_log_cap),
		cmocka_unit_test(test_fail_names_file),
		cmocka_unit_test(test_decode_memory_cap),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
