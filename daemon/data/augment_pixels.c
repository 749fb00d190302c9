/*
 * augment_pixels.c — the per-pixel ops of augment_apply after the crop and
 * resize: colour jitter (brightness, contrast, saturation, hue), grayscale,
 * Gaussian blur, solarize, normalisation. Each works in place on planar
 * floats; none allocates. Semantics in augment.h.
 */
#include "data/augment_pixels.h"

#include <math.h>

/* torchvision's rgb_to_grayscale weights (ITU-R 601-2 luma). */
#define LUMA_R 0.2989f
#define LUMA_G 0.587f
#define LUMA_B 0.114f

/* Clip to [0, 1]. Comparisons rather than fminf/fmaxf, which GCC calls in libm
 * unless NaNs are ruled out; these compile to maxss/minss. */
static float clip01(float x)
{
	x = x > 0.0f ? x : 0.0f;
	return x < 1.0f ? x : 1.0f;
}

static float max3(float a, float b, float c)
{
	float m = a > b ? a : b;
	return m > c ? m : c;
}

static float min3(float a, float b, float c)
{
	float m = a < b ? a : b;
	return m < c ? m : c;
}

/* ---- colour jitter ----------------------------------------------------- */

/* x + δ, clipped. */
static void brightness(float *x, size_t len, float delta)
{
	for (size_t i = 0; i < len; i++)
		x[i] = clip01(x[i] + delta);
}

/* (x − m)·f + m with m each channel's mean (TF adjust_contrast), clipped. */
static void contrast(float *x, int c, size_t n, float f)
{
	for (int ch = 0; ch < c; ch++) {
		float *p = x + ch * n;
		double sum = 0;
		for (size_t i = 0; i < n; i++)
			sum += p[i];
		float m = (float)(sum / (double)n);
		for (size_t i = 0; i < n; i++)
			p[i] = clip01((p[i] - m) * f + m);
	}
}

/* Blend with the grayscale image: f·x + (1 − f)·gray (torchvision's _blend), clipped. */
static void saturation(float *x, size_t n, float f)
{
	float *r = x, *g = x + n, *b = x + 2 * n;
	for (size_t i = 0; i < n; i++) {
		float gray = (1.0f - f) * (LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i]);
		r[i] = clip01(f * r[i] + gray);
		g[i] = clip01(f * g[i] + gray);
		b[i] = clip01(f * b[i] + gray);
	}
}

/* Hue in [0, 1) of an RGB pixel with max mx and range cr > 0 (torchvision's _rgb2hsv). */
static float rgb_hue(float r, float g, float b, float mx, float cr)
{
	float inv = 1.0f / cr;
	float rc = (mx - r) * inv, gc = (mx - g) * inv, bc = (mx - b) * inv;
	float h = mx == r ? bc - gc : mx == g ? 2.0f + rc - bc : 4.0f + gc - rc;
	float h1 = h / 6.0f + 1.0f; /* in (0.8, 1.9): fmod(h1, 1) = h1 − floor(h1), exactly */
	return h1 - floorf(h1);
}

/*
 * One channel of HSV → RGB without torchvision's six-way switch: with
 * k = (n + 6h) mod 6 (n = 5, 3, 1 for R, G, B) the channel is
 * v·(1 − s·w), w = clamp(min(k, 4 − k), 0, 1), which is v, q = v(1 − sf),
 * p = v(1 − s) or t = v(1 − s(1 − f)) on the sectors where _hsv2rgb picks them.
 */
static float hsv_channel(float n, float h6, float s, float v)
{
	float k = n + h6;
	k = k >= 6.0f ? k - 6.0f : k;
	float w = k < 4.0f - k ? k : 4.0f - k;
	return v * (1.0f - s * clip01(w));
}

/* Rotate the hue by shift (fraction of the circle): RGB → HSV, h += shift mod 1, → RGB. */
static void hue(float *x, size_t n, float shift)
{
	float *r = x, *g = x + n, *b = x + 2 * n;
	for (size_t i = 0; i < n; i++) {
		float mx = max3(r[i], g[i], b[i]), cr = mx - min3(r[i], g[i], b[i]);
		if (cr == 0)
			continue; /* gray: no hue to turn */
		float h = rgb_hue(r[i], g[i], b[i], mx, cr) + shift;
		float h6 = (h - floorf(h)) * 6.0f, s = cr / mx;
		r[i] = hsv_channel(5.0f, h6, s, mx);
		g[i] = hsv_channel(3.0f, h6, s, mx);
		b[i] = hsv_channel(1.0f, h6, s, mx);
	}
}

void augment_jitter(float *x, int c, size_t n, const struct augment_draw *d)
{
	for (int k = 0; k < 4; k++) {
		switch (d->order[k]) {
		case AUGMENT_BRIGHTNESS:
			brightness(x, c * n, d->brightness);
			break;
		case AUGMENT_CONTRAST:
			contrast(x, c, n, d->contrast);
			break;
		case AUGMENT_SATURATION:
			if (c == 3)
				saturation(x, n, d->saturation);
			break;
		case AUGMENT_HUE:
			if (c == 3)
				hue(x, n, d->hue);
			break;
		}
	}
}

/* ---- grayscale, blur, solarize, normalise ------------------------------ */

void augment_grayscale(float *x, size_t n)
{
	float *r = x, *g = x + n, *b = x + 2 * n;
	for (size_t i = 0; i < n; i++) {
		float l = clip01(LUMA_R * r[i] + LUMA_G * g[i] + LUMA_B * b[i]);
		r[i] = g[i] = b[i] = l;
	}
}

/* Mirror index i into [0, n) without repeating the edge (torch's "reflect"); |overhang| < n. */
static int reflect(int i, int n)
{
	return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i;
}

size_t augment_blur_floats(int size)
{
	return (size_t)size * size + (size_t)size + 2 * (size_t)(size / 20);
}

/*
 * o = a·t and o += a·t over n floats. Blocks of a constant 8 let GCC's -O2
 * (very cheap) vectoriser turn each block into whole vector operations; the
 * tail is scalar.
 */
static void scale_row(float *restrict o, float a, const float *restrict t, int n)
{
	int x = 0;
	for (; x + 8 <= n; x += 8)
		for (int j = 0; j < 8; j++)
			o[x + j] = a * t[x + j];
	for (; x < n; x++)
		o[x] = a * t[x];
}

static void axpy_row(float *restrict o, float a, const float *restrict t, int n)
{
	int x = 0;
	for (; x + 8 <= n; x += 8)
		for (int j = 0; j < 8; j++)
			o[x + j] += a * t[x + j];
	for (; x < n; x++)
		o[x] += a * t[x];
}

/* Horizontal pass of one plane: tmp = p ⋆ g along rows, via a reflect-padded row copy. */
static void blur_rows(float *tmp, float *pad, const float *p, const float *g, int rad, int size)
{
	for (int y = 0; y < size; y++) {
		const float *row = p + (size_t)y * size;
		float *t = tmp + (size_t)y * size;
		for (int j = -rad; j < size + rad; j++)
			pad[j + rad] = row[reflect(j, size)];
		scale_row(t, g[0], pad, size);
		for (int k = 1; k <= 2 * rad; k++)
			axpy_row(t, g[k], pad + k, size);
	}
}

/* Vertical pass of one plane: p = tmp ⋆ g along columns, rows mirrored at the edges. */
static void blur_cols(float *p, const float *tmp, const float *g, int rad, int size)
{
	for (int y = 0; y < size; y++) {
		float *o = p + (size_t)y * size;
		scale_row(o, g[0], tmp + (size_t)reflect(y - rad, size) * size, size);
		for (int k = 1; k <= 2 * rad; k++)
			axpy_row(o, g[k], tmp + (size_t)reflect(y + k - rad, size) * size, size);
	}
}

void augment_blur(float *x, float *scratch, int c, int size, float sigma)
{
	int rad = size / 20;
	if (rad == 0)
		return;
	double w[AUGMENT_MAX_SIZE / 20 * 2 + 1], sum = 0;
	float g[AUGMENT_MAX_SIZE / 20 * 2 + 1];
	for (int k = -rad; k <= rad; k++) {
		double u = k / (double)sigma;
		sum += w[k + rad] = exp(-0.5 * u * u);
	}
	for (int k = 0; k <= 2 * rad; k++)
		g[k] = (float)(w[k] / sum);
	float *tmp = scratch, *pad = scratch + (size_t)size * size;
	size_t n = (size_t)size * size;
	for (int ch = 0; ch < c; ch++) {
		blur_rows(tmp, pad, x + ch * n, g, rad, size);
		blur_cols(x + ch * n, tmp, g, rad, size);
	}
}

void augment_solarize(float *x, size_t len)
{
	for (size_t i = 0; i < len; i++)
		x[i] = x[i] >= 0.5f ? 1.0f - x[i] : x[i];
}

void augment_normalise(float *x, int c, size_t n, const float *mean, const float *std)
{
	for (int ch = 0; ch < c; ch++) {
		float m = mean[ch], s = std[ch];
		float *p = x + ch * n;
		for (size_t i = 0; i < n; i++)
			p[i] = (p[i] - m) / s;
	}
}
