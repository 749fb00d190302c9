/*
 * test_ref_jpeg_scale.c — DCT-domain scaled JPEG decoding (dataset_load_scaled,
 * augment_decode_scale, the loader's dct_scale) against Pillow.
 *
 * tests/ref/jpeg_scale_ref.py writes JPEGs (4:2:0, 4:2:2, 4:4:4, odd sizes,
 * grey, progressive) and Pillow's Image.draft("RGB", ...) decodes of them at
 * 1/8, 2/8, 4/8 and 8/8, the scales draft offers. Pillow calls the same
 * libjpeg-turbo (libjpeg.so.62) with the same settings (draft passes only
 * scale_denom; JDCT_ISLOW and fancy upsampling stay libjpeg's defaults, as
 * in jpeg.c), so the pixels must be equal: exactly, not within 1.
 *
 * The crop + resize from a scaled decode must stay close to the one from the
 * full decode, within the bound of resize_bound() (derived there), and the
 * loader's batches must stay a function of (seed, step) with scaling on.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "folder_ref.h"

/* As written by jpeg_scale_ref.py, in file-name order. */
static const struct { const char *name; int w, h; } files[] = {
	{ "a_420", 500, 375 }, { "b_odd", 333, 251 }, { "c_444", 264, 200 },
	{ "d_422", 301, 203 }, { "e_gray", 250, 190 }, { "f_prog", 420, 317 },
};
#define N_FILES (sizeof files / sizeof *files)
/* The smooth image: 0.5 + A sin(2πx/PX + c) cos(2πy/PY + 2c) in channel c. */
#define SMOOTH_A 0.3
#define SMOOTH_PX 128.0
#define SMOOTH_PY 96.0

static int setup(void **state)
{
	(void)state;
	return folder_ref_setup("tests/ref/jpeg_scale_ref.py");
}

static int teardown(void **state)
{
	(void)state;
	return folder_ref_teardown();
}

/* Every file at every scale Pillow's draft offers: equal to Pillow's pixels. */
static void test_pillow_equal(void **state)
{
	struct dataset *ds = folder_ref_open("train", 3);
	struct image img = { 0 };
	struct err e;
	(void)state;
	assert_int_equal(dataset_size(ds), N_FILES);
	for (size_t i = 0; i < N_FILES; i++) {
		for (int m = 1; m <= 8; m *= 2) {
			char path[512];
			int scale = m, h = dataset_scaled_side(files[i].h, m),
			    w = dataset_scaled_side(files[i].w, m);
			assert_int_equal(dataset_load_scaled(ds, i, &scale, &img, &e), 0);
			assert_int_equal(scale, m);
			assert_int_equal(img.h, h);
			assert_int_equal(img.w, w);
			snprintf(path, sizeof path, "ref/%s-%d.rgb", files[i].name, m);
			uint8_t *ref = folder_ref_read(path, (size_t)h * w * 3);
			int worst = folder_ref_worst(&img, ref);
			printf("%s at %d/8 (%dx%d): max |byol - Pillow| = %d\n", files[i].name, m, w, h,
			       worst);
			assert_int_equal(worst, 0);
			free(ref);
		}
	}
	int bad = 0;
	assert_int_equal(dataset_load_scaled(ds, 0, &bad, &img, &e), ERR_RANGE);
	image_free(&img);
	dataset_free(ds);
}

/* The view of the tests below: the crop (and flip) alone. */
static struct augment_view crop_view(void)
{
	struct augment_view v;
	augment_view_default(&v, 1);
	v.jitter_p = v.grayscale = v.blur_p = v.solarize = 0;
	return v;
}

/* The scale is the smallest that keeps the mapped box ≥ size, and full size when the box is small. */
static void test_scale_choice(void **state)
{
	struct augment_view v = crop_view();
	(void)state;
	v.scale[0] = 0.01f;
	for (int k = 0; k < 4000; k++) {
		int h = 20 + k % 613, w = 20 + (k * 7) % 977, size = 8 + k % 230;
		struct rng r = augment_rng(5, 0, (uint64_t)k, 1);
		struct augment_draw d, s;
		augment_draw(&d, &v, h, w, &r);
		int m = augment_decode_scale(&d, h, w, size);
		assert_true(m >= 1 && m <= 8);
		s = d;
		augment_scale_draw(&s, h, w, m);
		int sh = dataset_scaled_side(h, m), sw = dataset_scaled_side(w, m);
		assert_true(s.crop_x >= 0 && s.crop_w >= 1 && s.crop_x + s.crop_w <= sw);
		assert_true(s.crop_y >= 0 && s.crop_h >= 1 && s.crop_y + s.crop_h <= sh);
		if (m < 8) {
			assert_true(s.crop_w >= size && s.crop_h >= size);
			struct augment_draw t = d;
			augment_scale_draw(&t, h, w, m - 1 ? m - 1 : 1);
			assert_true(m == 1 || t.crop_w < size || t.crop_h < size);
		} else {
			assert_memory_equal(&s, &d, sizeof d); /* 8/8 leaves the draw alone */
			struct augment_draw t = d;
			augment_scale_draw(&t, h, w, AUGMENT_MAX_DECODE_SCALE);
			assert_true(t.crop_w < size || t.crop_h < size);
		}
		assert_true(m <= AUGMENT_MAX_DECODE_SCALE || m == 8);
		int side = d.crop_w < d.crop_h ? d.crop_w : d.crop_h;
		if (side < 2 * (size - 1)) /* a box under twice the size: never scaled */
			assert_int_equal(m, 8);
	}
}

/*
 * The bound on |crop+resize from the M/8 decode − from the full decode| for
 * the smooth image, in [0, 1] units, summing what can differ:
 *   geometry   each box edge moves by ≤ ½ scaled pixel = 4/M native pixels
 *              when mapped, and every sample position is an affine mix of
 *              the edges, so by ≤ 4/M on each axis: ≤ |∇I|₁·4/M with
 *              |∂x I| ≤ 2πA/PX, |∂y I| ≤ 2πA/PY;
 *   low-pass   the scaled IDCT keeps the block's low frequencies; at worst it
 *              averages L = 8/M pixels, which damps a sinusoid of period P by
 *              ≤ (πL/P)²/6 of A per axis;
 *   resampling bicubic on a grid L times coarser: Keys' cubic is exact to
 *              second order, error ≤ A·(2πL/P)³/8 per axis (a generous
 *              constant);
 *   coding     the full decode is off the smooth source by up to 6/255
 *              (quantisation and 4:2:0 chroma of this q95 file, measured
 *              with Pillow: max 6, mean 0.7), noise the scaled IDCT mostly
 *              averages away, plus 1/255 of uint8 rounding: 7/255.
 */
static double resize_bound(int m)
{
	double l = 8.0 / m, a = SMOOTH_A, px = SMOOTH_PX, py = SMOOTH_PY;
	double geom = 2 * M_PI * a * (1 / px + 1 / py) * 4 / m;
	double lowpass = a * (pow(M_PI * l / px, 2) + pow(M_PI * l / py, 2)) / 6;
	double resample = a * (pow(2 * M_PI * l / px, 3) + pow(2 * M_PI * l / py, 3)) / 8;
	return geom + lowpass + resample + 7.0 / 255;
}

/* Many random crops of the smooth image at 32, 96 and 160 px: close with and without scaling. */
static void test_resize_close(void **state)
{
	struct dataset *ds = folder_ref_open("smooth", 3);
	struct augment_view v = crop_view();
	struct image full = { 0 }, part = { 0 };
	struct err e;
	const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
	static const int sizes[] = { 32, 96, 160 };
	(void)state;
	int one = 8, h, w, c;
	assert_int_equal(dataset_load_scaled(ds, 0, &one, &full, &e), 0);
	dataset_shape(ds, 0, &c, &h, &w);
	float *a = malloc(3 * 224 * 224 * sizeof *a), *b = malloc(3 * 224 * 224 * sizeof *b);
	float *scratch = malloc(augment_scratch_floats(224, &full) * sizeof *scratch);
	int scaled = 0;
	for (size_t si = 0; si < 3; si++) {
		int size = sizes[si];
		double worst[9] = { 0 }, sum = 0, ratio = 0, bsum = 0;
		long n = 0;
		for (int k = 0; k < 150; k++) {
			struct rng r = augment_rng(11, si, (uint64_t)k, 1);
			struct augment_draw d, s;
			augment_draw(&d, &v, h, w, &r);
			int m = augment_decode_scale(&d, h, w, size);
			assert_int_equal(dataset_load_scaled(ds, 0, &m, &part, &e), 0);
			s = d;
			augment_scale_draw(&s, h, w, m);
			augment_apply(a, scratch, &full, &d, size, mean, std);
			augment_apply(b, scratch, &part, &s, size, mean, std);
			scaled += m < 8;
			for (size_t p = 0; p < 3 * (size_t)size * size; p++) {
				double diff = fabs(a[p] - b[p]);
				worst[m] = diff > worst[m] ? diff : worst[m];
				sum += diff, bsum += resize_bound(m), n++;
			}
			ratio = fmax(ratio, worst[m] / resize_bound(m));
		}
		for (int m = 1; m <= 8; m++)
			if (worst[m] > 0)
				printf("size %d, scale %d/8: max |diff| %.4f (bound %.4f)\n", size, m,
				       worst[m], resize_bound(m));
		printf("size %d: mean |diff| %.5f (bound %.5f), worst / bound %.2f\n", size,
		       sum / n, 0.5 * bsum / n, ratio);
		/* Edge rounding is spread over ±½ scaled pixel: on average half the worst. */
		assert_true(ratio <= 1.0);
		assert_true(sum <= 0.5 * bsum);
	}
	assert_true(scaled > 100); /* the test exercised scaling */
	free(a), free(b), free(scratch);
	image_free(&full);
	image_free(&part);
	dataset_free(ds);
}

/* Steps 0..5 of a loader: into out (6 × 2 views). */
static void run_loader(float *out, size_t view_len, int threads, long first, int dct)
{
	struct dataset *ds = folder_ref_open("train", 3);
	struct loader_config c = { .ds = ds, .batch = 2, .size = 40, .channels = 3, .seed = 3,
				   .threads = threads, .depth = 3, .dct_scale = dct,
				   .mean = { 0.5f, 0.5f, 0.5f }, .std = { 0.25f, 0.25f, 0.25f } };
	struct loader *l;
	struct err e;
	augment_view_default(&c.view[0], 1);
	augment_view_default(&c.view[1], 2);
	assert_int_equal(loader_start(&l, &c, first, &e), 0);
	for (long s = first; s < 6; s++) {
		struct loader_batch b;
		assert_int_equal(loader_next(l, &b, &e), 0);
		assert_int_equal(b.step, s);
		memcpy(out + (size_t)s * 2 * view_len, b.view1, view_len * sizeof *out);
		memcpy(out + ((size_t)s * 2 + 1) * view_len, b.view2, view_len * sizeof *out);
		loader_release(l);
	}
	loader_stop(l);
	dataset_free(ds);
}

/* With scaling the batches stay a function of (seed, step): threads and resume change nothing. */
static void test_loader_deterministic(void **state)
{
	const size_t view_len = 2 * 3 * 40 * 40, all = 6 * 2 * view_len;
	float *x = calloc(all, sizeof *x), *y = calloc(all, sizeof *y), *z = calloc(all, sizeof *z);
	(void)state;
	run_loader(x, view_len, 1, 0, 1);
	run_loader(y, view_len, 2, 0, 1);
	assert_memory_equal(x, y, all * sizeof *x);
	run_loader(y, view_len, 2, 3, 1);
	assert_memory_equal(x + 3 * 2 * view_len, y + 3 * 2 * view_len, 3 * 2 * view_len * sizeof *x);
	run_loader(z, view_len, 1, 0, 0);
	assert_true(memcmp(x, z, all * sizeof *x) != 0); /* scaling was used */
	free(x), free(y), free(z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pillow_equal),
		cmocka_unit_test(test_scale_choice),
		cmocka_unit_test(test_resize_close),
		cmocka_unit_test(test_loader_deterministic),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
