/*
 * augment_test_util.h — what the augmentation tests share: images over given
 * pixels, plain and single-op draws, applying a draw, and near / 5σ checks.
 */
#ifndef BYOL_AUGMENT_TEST_UTIL_H
#define BYOL_AUGMENT_TEST_UTIL_H

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

static const float zero3[3] __attribute__((unused)) = { 0, 0, 0 };
static const float one3[3] __attribute__((unused)) = { 1, 1, 1 };

/* ---- helpers ----------------------------------------------------------- */

static inline struct image image_of(int c, int h, int w, uint8_t *px)
{
	return (struct image){ .c = c, .h = h, .w = w, .px = px };
}

/* A draw that crops the whole image and does nothing else. */
static inline struct augment_draw plain(int h, int w)
{
	return (struct augment_draw){ .crop_w = w, .crop_h = h, .contrast = 1, .saturation = 1,
				      .order = { 0, 1, 2, 3 } };
}

/* A plain draw with the jitter group on and only op `op` away from its identity. */
static inline struct augment_draw jitter_only(int h, int w, int op, float factor)
{
	struct augment_draw d = plain(h, w);
	d.jitter = 1;
	d.brightness = op == AUGMENT_BRIGHTNESS ? factor : 0;
	d.contrast = op == AUGMENT_CONTRAST ? factor : 1;
	d.saturation = op == AUGMENT_SATURATION ? factor : 1;
	d.hue = op == AUGMENT_HUE ? factor : 0;
	return d;
}

/* augment_apply with a scratch buffer of exactly augment_scratch_floats floats (for ASan). */
static inline void apply(float *out, const struct image *img, const struct augment_draw *d, int size,
		  const float *mean, const float *std)
{
	float *scratch = malloc(augment_scratch_floats(size, img) * sizeof *scratch);
	assert_non_null(scratch);
	augment_apply(out, scratch, img, d, size, mean, std);
	free(scratch);
}

static inline void apply01(float *out, const struct image *img, const struct augment_draw *d, int size)
{
	apply(out, img, d, size, zero3, one3);
}

static inline void assert_near(double got, double want, double tol)
{
	if (fabs(got - want) > tol)
		fail_msg("got %.9g, want %.9g (tolerance %g)", got, want, tol);
}

static inline void assert_all_near(const float *got, const double *want, int n, double tol)
{
	for (int i = 0; i < n; i++) {
		if (fabs(got[i] - want[i]) > tol)
			fail_msg("[%d]: got %.9g, want %.9g (tolerance %g)", i, got[i], want[i], tol);
	}
}

/* |x − want| ≤ 5·se, with the numbers in the failure message. */
static inline void assert_5sigma(const char *what, double x, double want, double se)
{
	if (fabs(x - want) > 5 * se)
		fail_msg("%s = %.6g, want %.6g ± 5·%.3g", what, x, want, se);
}

static inline void fill_random(uint8_t *px, size_t n, uint64_t seed)
{
	struct rng r;
	rng_init(&r, seed, 0);
	for (size_t i = 0; i < n; i++)
		px[i] = (uint8_t)(rng_u64(&r) >> 56);
}

static inline void assert_box(const struct augment_draw *d, int x, int y, int w, int h)
{
	if (d->crop_x != x || d->crop_y != y || d->crop_w != w || d->crop_h != h)
		fail_msg("box (%d, %d, %d×%d), want (%d, %d, %d×%d)", d->crop_x, d->crop_y,
			 d->crop_w, d->crop_h, x, y, w, h);
}

#endif
