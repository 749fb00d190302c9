/*
 * test_augment.c — BYOL's augmentations (daemon/data/augment.h): each op on
 * small images with hand-computed outputs and the whole pipeline on assorted
 * shapes with exactly-sized scratch (run it under ASan too). The drawn
 * parameters: test_augment_draws.c.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "data/augment.h"
#include "data/augment_pixels.h"
#include "rng.h"

#include "augment_test_util.h"

/* ---- crop + resize, flip ----------------------------------------------- */

/* Full crop at the same size: bicubic weights are (0, 1, 0, 0), the image comes back. */
static void test_resize_identity(void **state)
{
	(void)state;
	uint8_t px[3 * 8 * 8];
	float out[3 * 8 * 8];
	fill_random(px, sizeof px, 1);
	struct image img = image_of(3, 8, 8, px);
	struct augment_draw d = plain(8, 8);
	apply01(out, &img, &d, 8);
	for (int i = 0; i < 3 * 8 * 8; i++)
		assert_near(out[i], px[i] / 255.0, 1e-6);
}

/* A box inside a larger image picks exactly its pixels. */
static void test_resize_crop_box(void **state)
{
	(void)state;
	uint8_t px[3 * 10 * 12];
	float out[3 * 4 * 4];
	fill_random(px, sizeof px, 2);
	struct image img = image_of(3, 10, 12, px);
	struct augment_draw d = plain(4, 4);
	d.crop_x = 5;
	d.crop_y = 3;
	apply01(out, &img, &d, 4);
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 4; y++)
			for (int x = 0; x < 4; x++)
				assert_near(out[(c * 4 + y) * 4 + x],
					    px[(c * 10 + 3 + y) * 12 + 5 + x] / 255.0, 1e-6);
}

/*
 * 2× downscale, 8 → 4. Output i samples 2i + 0.5: t = 0.5, taps 2i−1..2i+2
 * with weights (−0.09375, 0.59375, 0.59375, −0.09375) (Keys, a = −0.75), so a
 * constant stays constant and a ramp f(k) = k gives 2i + 0.5 inside; at the
 * edges the clamped taps give 0.40625 (taps 0,0,1,2) and 6.59375 (5,6,7,7).
 */
static void test_resize_downscale(void **state)
{
	(void)state;
	uint8_t px[8 * 8];
	float out[4 * 4];
	struct image img = image_of(1, 8, 8, px);
	struct augment_draw d = plain(8, 8);
	memset(px, 200, sizeof px);
	apply01(out, &img, &d, 4);
	for (int i = 0; i < 16; i++)
		assert_near(out[i], 200 / 255.0, 1e-6);

	const double e[4] = { 0.40625, 2.5, 4.5, 6.59375 };
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 8; x++)
			px[y * 8 + x] = (uint8_t)(16 * x + 8 * y);
	apply01(out, &img, &d, 4);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			assert_near(out[y * 4 + x], (16 * e[x] + 8 * e[y]) / 255.0, 1e-6);
}

/* Upscaling a 1×1 box gives a constant. */
static void test_resize_tiny_box(void **state)
{
	(void)state;
	uint8_t px[3 * 5 * 5];
	float out[3 * 32 * 32];
	fill_random(px, sizeof px, 3);
	struct image img = image_of(3, 5, 5, px);
	struct augment_draw d = plain(1, 1);
	d.crop_x = 4;
	d.crop_y = 2;
	apply01(out, &img, &d, 32);
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < 32 * 32; i++)
			assert_near(out[c * 1024 + i], px[c * 25 + 2 * 5 + 4] / 255.0, 1e-6);
}

/* Keys' kernel, a = −0.75, in double. */
static double keys(double x)
{
	const double a = -0.75;
	x = fabs(x);
	return x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1
	     : x < 2  ? ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
		      : 0;
}

/*
 * torch's upsample_bicubic2d (align_corners=False) written out directly in
 * double: 16 taps at floor(real) − 1 .. + 2 per axis, each index clamped to
 * the box, no folding — an independent check of augment.c's tap folding.
 */
static double ref_bicubic(const uint8_t *plane, int w, const struct augment_draw *d, int size,
			  int oy, int ox)
{
	double ry = (double)d->crop_h / size * (oy + 0.5) - 0.5;
	double rx = (double)d->crop_w / size * (ox + 0.5) - 0.5;
	int fy = (int)floor(ry), fx = (int)floor(rx);
	double acc = 0;
	for (int j = -1; j <= 2; j++) {
		int y = fy + j < 0 ? 0 : fy + j >= d->crop_h ? d->crop_h - 1 : fy + j;
		for (int i = -1; i <= 2; i++) {
			int x = fx + i < 0 ? 0 : fx + i >= d->crop_w ? d->crop_w - 1 : fx + i;
			acc += keys(ry - (fy + j)) * keys(rx - (fx + i)) *
			       plane[(d->crop_y + y) * w + d->crop_x + x];
		}
	}
	return acc / 255.0;
}

/* Random boxes, down and up, boxes narrower than 4 taps included, against the direct formula. */
static void test_resize_reference(void **state)
{
	(void)state;
	enum { H = 23, W = 31 };
	static uint8_t px[2 * H * W];
	static float out[2 * 40 * 40];
	fill_random(px, sizeof px, 5);
	struct image img = image_of(2, H, W, px);
	struct rng r;
	rng_init(&r, 99, 0);
	for (int rep = 0; rep < 200; rep++) {
		struct augment_draw d = plain(1 + (int)(rng_u64(&r) % H), 1 + (int)(rng_u64(&r) % W));
		d.crop_y = (int)(rng_u64(&r) % (uint64_t)(H - d.crop_h + 1));
		d.crop_x = (int)(rng_u64(&r) % (uint64_t)(W - d.crop_w + 1));
		int size = 1 + (int)(rng_u64(&r) % 40);
		apply01(out, &img, &d, size);
		for (int c = 0; c < 2; c++)
			for (int y = 0; y < size; y++)
				for (int x = 0; x < size; x++) {
					double want = ref_bicubic(px + c * H * W, W, &d, size, y, x);
					want = want < 0 ? 0 : want > 1 ? 1 : want;
					assert_near(out[(c * size + y) * size + x], want, 3e-6);
				}
	}
}

/* Bicubic overshoots on a step; the result is clipped to [0, 1]. */
static void test_resize_clips(void **state)
{
	(void)state;
	uint8_t px[1 * 8 * 8];
	float out[16 * 16];
	for (int i = 0; i < 64; i++)
		px[i] = (i % 8) < 4 ? 0 : 255;
	struct image img = image_of(1, 8, 8, px);
	struct augment_draw d = plain(8, 8);
	apply01(out, &img, &d, 16);
	float lo = 1, hi = 0;
	for (int i = 0; i < 256; i++) {
		lo = fminf(lo, out[i]);
		hi = fmaxf(hi, out[i]);
	}
	assert_true(lo == 0.0f && hi == 1.0f);
}

static void test_flip(void **state)
{
	(void)state;
	uint8_t px[2 * 4 * 4];
	float out[2 * 4 * 4];
	for (int i = 0; i < 32; i++)
		px[i] = (uint8_t)(10 * (i % 4) + 50 * (i / 16));
	struct image img = image_of(2, 4, 4, px);
	struct augment_draw d = plain(4, 4);
	d.flip = 1;
	apply01(out, &img, &d, 4);
	for (int c = 0; c < 2; c++)
		for (int y = 0; y < 4; y++)
			for (int x = 0; x < 4; x++)
				assert_near(out[(c * 4 + y) * 4 + x], (10 * (3 - x) + 50 * c) / 255.0,
					    1e-6);
}

/* ---- colour jitter ----------------------------------------------------- */

static void test_brightness(void **state)
{
	(void)state;
	uint8_t px[4] = { 51, 102, 153, 230 }; /* 0.2, 0.4, 0.6, 0.902 */
	float out[4];
	struct image img = image_of(1, 2, 2, px);
	struct augment_draw d = jitter_only(2, 2, AUGMENT_BRIGHTNESS, 0.25f);
	apply01(out, &img, &d, 2);
	assert_all_near(out, (const double[]){ 0.45, 0.65, 0.85, 1.0 }, 4, 1e-6);
	d.brightness = -0.3f;
	apply01(out, &img, &d, 2);
	assert_all_near(out, (const double[]){ 0.0, 0.1, 0.3, 230 / 255.0 - 0.3 }, 4, 1e-6);
}

/* Around each channel's own mean (TF), not the grayscale mean (torchvision). */
static void test_contrast(void **state)
{
	(void)state;
	uint8_t px[8] = { 51, 102, 153, 204, 100, 100, 100, 100 };
	float out[8];
	struct image img = image_of(2, 2, 2, px);
	struct augment_draw d = jitter_only(2, 2, AUGMENT_CONTRAST, 1.5f);
	apply01(out, &img, &d, 2);
	double c1 = 100 / 255.0;
	assert_all_near(out, (const double[]){ 0.05, 0.35, 0.65, 0.95, c1, c1, c1, c1 }, 8, 1e-6);
	d.contrast = 3;
	apply01(out, &img, &d, 2);
	assert_all_near(out, (const double[]){ 0, 0.2, 0.8, 1, c1, c1, c1, c1 }, 8, 1e-6);
	d.contrast = 0;
	apply01(out, &img, &d, 2);
	assert_all_near(out, (const double[]){ 0.5, 0.5, 0.5, 0.5, c1, c1, c1, c1 }, 8, 1e-6);
}

/* f·x + (1 − f)·gray with gray(0.8, 0.4, 0.2) = 0.2989·0.8 + 0.587·0.4 + 0.114·0.2 = 0.49672. */
static void test_saturation(void **state)
{
	(void)state;
	uint8_t px[3] = { 204, 102, 51 };
	float out[3];
	struct image img = image_of(3, 1, 1, px);
	struct augment_draw d = jitter_only(1, 1, AUGMENT_SATURATION, 0);
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 0.49672, 0.49672, 0.49672 }, 3, 1e-6);
	d.saturation = 0.5f;
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 0.64836, 0.44836, 0.34836 }, 3, 1e-6);
	d.saturation = 2;
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 1.0, 0.30328, 0.0 }, 3, 1e-6);

	/* One channel: identity. */
	struct image gray = image_of(1, 1, 1, px);
	apply01(out, &gray, &d, 1);
	assert_near(out[0], 0.8, 1e-6);
}

static void test_hue(void **state)
{
	(void)state;
	uint8_t red[3] = { 255, 0, 0 }, px[3] = { 204, 102, 51 };
	float out[3];
	struct image img = image_of(3, 1, 1, red);
	struct augment_draw d = jitter_only(1, 1, AUGMENT_HUE, 1.0f / 3);
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 0, 1, 0 }, 3, 1e-6); /* red + 1/3 = green */
	d.hue = -1.0f / 3;
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 0, 0, 1 }, 3, 1e-6); /* red − 1/3 = blue */

	/* (0.8, 0.4, 0.2): h = 1/18, s = 0.75, v = 0.8; +0.5 is the complement (0.2, 0.6, 0.8). */
	img = image_of(3, 1, 1, px);
	d.hue = 0.5f;
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 0.2, 0.6, 0.8 }, 3, 1e-6);
	d.hue = 0;
	apply01(out, &img, &d, 1);
	assert_all_near(out, (const double[]){ 0.8, 0.4, 0.2 }, 3, 1e-6);
	d.hue = 0.1f; /* h = 1/18 + 0.1 = 0.1556: h6 = 0.9333 → (v, t, p), t = v(1 − s(1 − f)) */
	apply01(out, &img, &d, 1);
	double f = 6 * (1.0 / 18 + 0.1);
	assert_all_near(out, (const double[]){ 0.8, 0.8 * (1 - 0.75 * (1 - f)), 0.2 }, 3, 1e-6);

	struct image gray = image_of(1, 1, 1, px);
	d.hue = 0.3f;
	apply01(out, &gray, &d, 1);
	assert_near(out[0], 0.8, 1e-6);
}

/* d->order is honoured: brightness +0.4 and contrast ×2 with a clip after each. */
static void test_jitter_order(void **state)
{
	(void)state;
	uint8_t px[4] = { 51, 102, 153, 204 };
	float out[4];
	struct image img = image_of(1, 2, 2, px);
	struct augment_draw d = plain(2, 2);
	d.jitter = 1;
	d.brightness = 0.4f;
	d.contrast = 2;
	memcpy(d.order, (int[]){ AUGMENT_BRIGHTNESS, AUGMENT_HUE, AUGMENT_CONTRAST, AUGMENT_SATURATION },
	       sizeof d.order);
	apply01(out, &img, &d, 2); /* (0.6, 0.8, 1, 1), mean 0.85 → (0.35, 0.75, 1, 1) */
	assert_all_near(out, (const double[]){ 0.35, 0.75, 1, 1 }, 4, 1e-6);
	memcpy(d.order, (int[]){ AUGMENT_CONTRAST, AUGMENT_SATURATION, AUGMENT_BRIGHTNESS, AUGMENT_HUE },
	       sizeof d.order);
	apply01(out, &img, &d, 2); /* (0, 0.3, 0.7, 1) → (0.4, 0.7, 1, 1) */
	assert_all_near(out, (const double[]){ 0.4, 0.7, 1, 1 }, 4, 1e-6);
	d.jitter = 0; /* factors present but the group is off */
	apply01(out, &img, &d, 2);
	assert_all_near(out, (const double[]){ 0.2, 0.4, 0.6, 0.8 }, 4, 1e-6);
}

/* ---- grayscale, blur, solarize, normalise ------------------------------ */

static void test_grayscale(void **state)
{
	(void)state;
	uint8_t px[3 * 4] = { 255, 0, 0, 204, 0, 255, 0, 102, 0, 0, 255, 51 };
	float out[3 * 4];
	struct image img = image_of(3, 2, 2, px);
	struct augment_draw d = plain(2, 2);
	d.grayscale = 1;
	apply01(out, &img, &d, 2);
	const double l[4] = { 0.2989, 0.587, 0.114, 0.2989 * 0.8 + 0.587 * 0.4 + 0.114 * 0.2 };
	for (int c = 0; c < 3; c++)
		assert_all_near(out + 4 * c, l, 4, 1e-6);
	struct image gray = image_of(1, 2, 2, px);
	apply01(out, &gray, &d, 2);
	assert_all_near(out, (const double[]){ 1, 0, 0, 0.8 }, 4, 1e-6);
}

/* The normalised 1-D Gaussian of 2·rad + 1 taps. */
static void gaussian(double *g, int rad, double sigma)
{
	double sum = 0;
	for (int k = -rad; k <= rad; k++)
		sum += g[k + rad] = exp(-k * k / (2 * sigma * sigma));
	for (int k = 0; k <= 2 * rad; k++)
		g[k] /= sum;
}

/* A delta comes out as the outer product of the 1-D weights; at the border, reflected. */
static void test_blur_delta(void **state)
{
	(void)state;
	enum { S = 60, R = 3 }; /* 2·int(60/20) + 1 = 7 taps */
	static uint8_t px[S * S];
	static float out[S * S];
	double g[2 * R + 1];
	gaussian(g, R, 1.5);
	struct image img = image_of(1, S, S, px);
	struct augment_draw d = plain(S, S);
	d.sigma = 1.5f;
	px[30 * S + 30] = 255;
	apply01(out, &img, &d, S);
	double sum = 0;
	for (int y = 0; y < S; y++) {
		for (int x = 0; x < S; x++) {
			int dy = y - 30, dx = x - 30;
			double want = abs(dy) <= R && abs(dx) <= R ? g[dy + R] * g[dx + R] : 0;
			assert_near(out[y * S + x], want, 1e-7);
			assert_near(out[y * S + x], out[(60 - y) % S * S + (60 - x) % S], 1e-7);
			assert_near(out[y * S + x], out[x * S + y], 1e-7);
			sum += out[y * S + x];
		}
	}
	assert_near(sum, 1.0, 1e-5);
	assert_near(g[R + 1], exp(-1 / (2 * 1.5 * 1.5)) * g[R], 1e-12);

	/*
	 * Delta at (1, 1), reflect padding (index −1 mirrors to 1): pixel 0 sees
	 * it at offsets +1 and −1, pixel 1 at offsets 0 and −2, pixel 4 at −3.
	 */
	memset(px, 0, sizeof px);
	px[1 * S + 1] = 255;
	apply01(out, &img, &d, S);
	double edge0 = 2 * g[R + 1], edge1 = g[R] + g[R - 2];
	assert_near(out[0], edge0 * edge0, 1e-7);
	assert_near(out[1 * S + 1], edge1 * edge1, 1e-7);
	assert_near(out[1 * S + 0], edge1 * edge0, 1e-7);
	assert_near(out[4 * S + 1], g[0] * edge1, 1e-7);
	assert_near(out[5 * S + 1], 0, 1e-7);

	/* Below 40 px the kernel is 1 tap: no blur. */
	struct image small = image_of(1, 19, 19, px);
	struct augment_draw d19 = plain(19, 19);
	d19.sigma = 2;
	apply01(out, &small, &d19, 19);
	for (int i = 0; i < 19 * 19; i++)
		assert_near(out[i], px[i] / 255.0, 1e-6);
}

static void test_solarize(void **state)
{
	(void)state;
	float x[6] = { 0, 0.25f, 0.4999f, 0.5f, 0.8f, 1 };
	augment_solarize(x, 6);
	assert_all_near(x, (const double[]){ 0, 0.25, 0.4999, 0.5, 0.2, 0 }, 6, 1e-7);

	uint8_t px[4] = { 127, 128, 204, 255 };
	float out[4];
	struct image img = image_of(1, 2, 2, px);
	struct augment_draw d = plain(2, 2);
	d.solarize = 1;
	apply01(out, &img, &d, 2);
	assert_all_near(out, (const double[]){ 127 / 255.0, 127 / 255.0, 0.2, 0 }, 4, 1e-6);
}

static void test_normalise(void **state)
{
	(void)state;
	uint8_t px[3] = { 51, 102, 153 };
	float out[3];
	struct image img = image_of(3, 1, 1, px);
	struct augment_draw d = plain(1, 1);
	apply(out, &img, &d, 1, (const float[]){ 0.1f, 0.2f, 0.3f }, (const float[]){ 0.5f, 0.25f, 2 });
	assert_all_near(out, (const double[]){ 0.2, 0.8, 0.15 }, 3, 1e-6);
}

/* ---- evaluation view --------------------------------------------------- */


static void test_center(void **state)
{
	(void)state;
	struct augment_draw d;
	augment_center_draw(&d, 256, 320);
	assert_box(&d, 48, 16, 224, 224);
	assert_true(!d.flip && !d.jitter && !d.grayscale && d.sigma == 0 && !d.solarize);
	augment_center_draw(&d, 28, 28);
	assert_box(&d, 0, 0, 28, 28);
	augment_center_draw(&d, 64, 100); /* short edge not > 64: the whole image */
	assert_box(&d, 0, 0, 100, 64);
	augment_center_draw(&d, 300, 200); /* 175; offsets 12.5 and 62.5 round half to even */
	assert_box(&d, 12, 62, 175, 175);

	/* The 224 crop of 256×320 at 224 is the image's centre, pixel for pixel. */
	uint8_t *px = malloc(3 * 256 * 320);
	float *out = malloc(3 * 224 * 224 * sizeof *out);
	struct image img = image_of(3, 256, 320, px);
	float *scratch = malloc(augment_scratch_floats(224, &img) * sizeof *scratch);
	assert_true(px && out && scratch);
	fill_random(px, 3 * 256 * 320, 4);
	augment_center(out, scratch, &img, 224, (const float[]){ 0.5f, 0.5f, 0.5f },
		       (const float[]){ 0.25f, 0.25f, 0.25f });
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < 224; y += 7)
			for (int x = 0; x < 224; x += 3)
				assert_near(out[(c * 224 + y) * 224 + x],
					    (px[(c * 256 + 16 + y) * 320 + 48 + x] / 255.0 - 0.5) / 0.25,
					    1e-5);
	free(scratch);
	free(out);
	free(px);
}

/* ---- views and the whole pipeline -------------------------------------- */

static void test_view_check(void **state)
{
	(void)state;
	struct augment_view v;
	struct err e = { 0 };
	for (int view = 1; view <= 2; view++) {
		augment_view_default(&v, view);
		assert_int_equal(augment_view_check(&v, &e), 0);
	}
	assert_true(v.blur_p == 0.1f && v.solarize == 0.2f);
	augment_view_default(&v, 1);
	assert_true(v.blur_p == 1.0f && v.solarize == 0.0f && v.ratio[1] == 4.0f / 3);
	v.scale[0] = 1.5f;
	assert_int_equal(augment_view_check(&v, &e), ERR_RANGE);
	assert_non_null(strstr(e.msg, "crop.scale"));
	augment_view_default(&v, 1);
	v.hue = 0.6f;
	assert_int_equal(augment_view_check(&v, &e), ERR_RANGE);
	assert_non_null(strstr(e.msg, "jitter.hue"));
	augment_view_default(&v, 1);
	v.sigma[0] = 3;
	assert_int_equal(augment_view_check(&v, &e), ERR_RANGE);
	assert_non_null(strstr(e.msg, "blur.sigma"));
	augment_view_default(&v, 1);
	v.flip = NAN;
	assert_int_equal(augment_view_check(&v, &e), ERR_RANGE);
	assert_non_null(strstr(e.msg, "flip"));
}

/* Random views of assorted shapes and sizes: finite, within the normalised [0, 1]. */
static void test_pipeline(void **state)
{
	(void)state;
	const int shapes[][4] = { /* c, h, w, size */
		{ 1, 28, 28, 28 }, { 3, 32, 32, 32 }, { 3, 37, 53, 32 }, { 3, 300, 200, 64 },
		{ 1, 5, 3, 24 },   { 3, 96, 96, 96 }, { 3, 2, 2, 1 },
	};
	const float mean[3] = { 0.4f, 0.5f, 0.6f }, std[3] = { 0.2f, 0.3f, 0.25f };
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int c = shapes[s][0], h = shapes[s][1], w = shapes[s][2], size = shapes[s][3];
		uint8_t *px = malloc((size_t)c * h * w);
		float *out = malloc((size_t)c * size * size * sizeof *out);
		assert_true(px && out);
		fill_random(px, (size_t)c * h * w, s);
		struct image img = image_of(c, h, w, px);
		for (int i = 0; i < 40; i++) {
			struct augment_view v;
			struct augment_draw d;
			augment_view_default(&v, 1 + i % 2);
			struct rng r = augment_rng(5, 0, (uint64_t)i, 1 + i % 2);
			augment_draw(&d, &v, h, w, &r);
			d.sigma = i % 3 ? d.sigma : 1.0f;
			apply(out, &img, &d, size, mean, std);
			for (int k = 0; k < c * size * size; k++) {
				int ch = k / (size * size);
				float lo = (0 - mean[ch]) / std[ch], hi = (1 - mean[ch]) / std[ch];
				assert_true(out[k] >= lo - 1e-5f && out[k] <= hi + 1e-5f);
			}
		}
		free(out);
		free(px);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resize_identity),
		cmocka_unit_test(test_resize_crop_box),
		cmocka_unit_test(test_resize_downscale),
		cmocka_unit_test(test_resize_tiny_box),
		cmocka_unit_test(test_resize_reference),
		cmocka_unit_test(test_resize_clips),
		cmocka_unit_test(test_flip),
		cmocka_unit_test(test_brightness),
		cmocka_unit_test(test_contrast),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_hue),
		cmocka_unit_test(test_jitter_order),
		cmocka_unit_test(test_grayscale),
		cmocka_unit_test(test_blur_delta),
		cmocka_unit_test(test_solarize),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_center),
		cmocka_unit_test(test_view_check),
		cmocka_unit_test(test_pipeline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
