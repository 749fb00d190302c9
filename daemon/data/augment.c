/*
 * augment.c — the views (defaults, bounds), the RNG stream of a view, the
 * parameter draws, the centre crop, and augment_apply's pipeline with its
 * first stage, crop + bicubic resize (+ flip). The per-pixel ops after the
 * resize live in augment_pixels.c. See augment.h for the semantics.
 */
#include "data/augment.h"
#include "data/augment_pixels.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

/* ---- views ------------------------------------------------------------- */

void augment_view_default(struct augment_view *v, int view)
{
	*v = (struct augment_view){
		.scale = { 0.08f, 1.0f },
		.ratio = { 3.0f / 4.0f, 4.0f / 3.0f },
		.flip = 0.5f,
		.jitter_p = 0.8f,
		.brightness = 0.4f,
		.contrast = 0.4f,
		.saturation = 0.2f,
		.hue = 0.1f,
		.grayscale = 0.2f,
		.blur_p = view == 2 ? 0.1f : 1.0f,
		.sigma = { 0.1f, 2.0f },
		.solarize = view == 2 ? 0.2f : 0.0f,
	};
}

/* Bounds of every number of a view: lo < x (open_lo) or lo ≤ x, and x ≤ hi. */
static const struct view_bound {
	const char *field; /* the job spec's name under augment.viewN */
	size_t offset;
	float lo, hi;
	int open_lo;
} view_bounds[] = {
	{ "crop.scale[0]", offsetof(struct augment_view, scale[0]), 0, 1, 1 },
	{ "crop.scale[1]", offsetof(struct augment_view, scale[1]), 0, 1, 1 },
	{ "crop.ratio[0]", offsetof(struct augment_view, ratio[0]), 0, 1e6f, 1 },
	{ "crop.ratio[1]", offsetof(struct augment_view, ratio[1]), 0, 1e6f, 1 },
	{ "flip", offsetof(struct augment_view, flip), 0, 1, 0 },
	{ "jitter.p", offsetof(struct augment_view, jitter_p), 0, 1, 0 },
	{ "jitter.brightness", offsetof(struct augment_view, brightness), 0, 1e6f, 0 },
	{ "jitter.contrast", offsetof(struct augment_view, contrast), 0, 1e6f, 0 },
	{ "jitter.saturation", offsetof(struct augment_view, saturation), 0, 1e6f, 0 },
	{ "jitter.hue", offsetof(struct augment_view, hue), 0, 0.5f, 0 },
	{ "grayscale", offsetof(struct augment_view, grayscale), 0, 1, 0 },
	{ "blur.p", offsetof(struct augment_view, blur_p), 0, 1, 0 },
	{ "blur.sigma[0]", offsetof(struct augment_view, sigma[0]), 0, 1e6f, 1 },
	{ "blur.sigma[1]", offsetof(struct augment_view, sigma[1]), 0, 1e6f, 1 },
	{ "solarize", offsetof(struct augment_view, solarize), 0, 1, 0 },
};

/* 0 if range[0] ≤ range[1], else ERR_RANGE naming the range. */
static int check_order(const float *range, const char *field, struct err *e)
{
	if (range[0] <= range[1])
		return 0;
	return err_set(e, ERR_RANGE, "augment %s = [%g, %g]: the lower bound exceeds the upper",
		       field, range[0], range[1]);
}

int augment_view_check(const struct augment_view *v, struct err *e)
{
	for (size_t i = 0; i < sizeof view_bounds / sizeof *view_bounds; i++) {
		const struct view_bound *b = &view_bounds[i];
		float x = *(const float *)((const char *)v + b->offset);
		if ((b->open_lo ? x > b->lo : x >= b->lo) && x <= b->hi) /* NaN fails */
			continue;
		return err_set(e, ERR_RANGE, "augment %s = %g is outside %c%g, %g]", b->field, x,
			       b->open_lo ? '(' : '[', b->lo, b->hi);
	}
	int rc = check_order(v->scale, "crop.scale", e);
	rc = rc ? rc : check_order(v->ratio, "crop.ratio", e);
	return rc ? rc : check_order(v->sigma, "blur.sigma", e);
}

/* ---- draws ------------------------------------------------------------- */

#define AUGMENT_DOMAIN 0x6175676d656e74ULL /* "augment" */
#define CROP_ATTEMPTS 10

struct rng augment_rng(uint64_t seed, uint64_t epoch, uint64_t index, int view)
{
	struct rng r;
	rng_init(&r, seed, AUGMENT_DOMAIN);
	r = rng_fork(&r, epoch);
	r = rng_fork(&r, index);
	return rng_fork(&r, (uint64_t)view);
}

/* u < p for u ~ U[0, 1): true with probability p (0 never, 1 always). */
static int draw_coin(struct rng *r, float p)
{
	return rng_uniform(r) < p;
}

static float draw_uniform(struct rng *r, float lo, float hi)
{
	return lo + (hi - lo) * rng_uniform(r);
}

/* Uniform integer in [0, n), n ≥ 1: multiply-shift of 32 random bits (bias < n/2³²). */
static int draw_int(struct rng *r, int n)
{
	return (int)(((rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

/* Python's round(): nearest, halves to even (rint in the default rounding mode). */
static int round_even(double x)
{
	return (int)rint(x);
}

/* torchvision's fallback when no attempt fits: central crop, ratio clamped to the range. */
static void crop_fallback(struct augment_draw *d, const struct augment_view *v, int h, int w)
{
	double in_ratio = (double)w / h;
	int cw = w, ch = h;
	if (in_ratio < v->ratio[0])
		ch = round_even(w / (double)v->ratio[0]);
	else if (in_ratio > v->ratio[1])
		cw = round_even(h * (double)v->ratio[1]);
	d->crop_w = cw < 1 ? 1 : cw > w ? w : cw;
	d->crop_h = ch < 1 ? 1 : ch > h ? h : ch;
	d->crop_x = (w - d->crop_w) / 2;
	d->crop_y = (h - d->crop_h) / 2;
}

/*
 * torchvision's RandomResizedCrop.get_params with a fixed budget of draws:
 * all 10 attempts are drawn, the first that fits is used; top and left are
 * drawn even when the fallback is taken.
 */
static void draw_crop(struct augment_draw *d, const struct augment_view *v, int h, int w,
		      struct rng *r)
{
	double area = (double)h * w;
	double lr0 = log(v->ratio[0]), lr1 = log(v->ratio[1]);
	int cw = 0, ch = 0;
	for (int i = 0; i < CROP_ATTEMPTS; i++) {
		double a = area * (v->scale[0] + (v->scale[1] - v->scale[0]) * rng_uniform_f64(r));
		double ratio = exp(lr0 + (lr1 - lr0) * rng_uniform_f64(r));
		int tw = round_even(sqrt(a * ratio)), th = round_even(sqrt(a / ratio));
		if (cw == 0 && tw > 0 && tw <= w && th > 0 && th <= h) {
			cw = tw;
			ch = th;
		}
	}
	int top = draw_int(r, cw ? h - ch + 1 : 1);
	int left = draw_int(r, cw ? w - cw + 1 : 1);
	if (cw == 0) {
		crop_fallback(d, v, h, w);
		return;
	}
	d->crop_x = left;
	d->crop_y = top;
	d->crop_w = cw;
	d->crop_h = ch;
}

/* The jitter coin, its four factors and a uniform order (Fisher–Yates), 8 draws. */
static void draw_jitter(struct augment_draw *d, const struct augment_view *v, struct rng *r)
{
	d->jitter = draw_coin(r, v->jitter_p);
	d->brightness = draw_uniform(r, -v->brightness, v->brightness);
	d->contrast = draw_uniform(r, fmaxf(0, 1 - v->contrast), 1 + v->contrast);
	d->saturation = draw_uniform(r, fmaxf(0, 1 - v->saturation), 1 + v->saturation);
	d->hue = draw_uniform(r, -v->hue, v->hue);
	for (int i = 0; i < 4; i++)
		d->order[i] = i;
	for (int i = 3; i > 0; i--) {
		int j = draw_int(r, i + 1), t = d->order[i];
		d->order[i] = d->order[j];
		d->order[j] = t;
	}
}

void augment_draw(struct augment_draw *d, const struct augment_view *v, int h, int w,
		  struct rng *r)
{
	draw_crop(d, v, h, w, r);
	d->flip = draw_coin(r, v->flip);
	draw_jitter(d, v, r);
	d->grayscale = draw_coin(r, v->grayscale);
	int blur = draw_coin(r, v->blur_p);
	float sigma = draw_uniform(r, v->sigma[0], v->sigma[1]);
	d->sigma = blur ? sigma : 0.0f;
	d->solarize = draw_coin(r, v->solarize);
}

void augment_center_draw(struct augment_draw *d, int h, int w)
{
	*d = (struct augment_draw){
		.crop_w = w, .crop_h = h, .contrast = 1, .saturation = 1, .order = { 0, 1, 2, 3 },
	};
	int short_edge = h < w ? h : w;
	if (short_edge <= 64)
		return;
	int side = round_even(short_edge * 224.0 / 256.0);
	d->crop_w = d->crop_h = side;
	d->crop_x = round_even((w - side) / 2.0); /* torchvision's center_crop offsets */
	d->crop_y = round_even((h - side) / 2.0);
}

/* ---- decode scale ------------------------------------------------------- */

/* The span [*x, *x + *len) of an axis of n pixels, mapped to the axis decoded at m/8. */
static void scale_span(int *x, int *len, int n, int m)
{
	int n2 = dataset_scaled_side(n, m);
	int a = (int)(((long)*x * m + 4) / 8), b = (int)(((long)(*x + *len) * m + 4) / 8);
	b = b < n2 ? b : n2;
	if (b - a < 1) {
		a = a < n2 - 1 ? a : n2 - 1;
		b = a + 1;
	}
	*x = a;
	*len = b - a;
}

int augment_decode_scale(const struct augment_draw *d, int h, int w, int size)
{
	for (int m = 1; m <= AUGMENT_MAX_DECODE_SCALE; m++) {
		struct augment_draw s = *d;
		augment_scale_draw(&s, h, w, m);
		if (s.crop_w >= size && s.crop_h >= size)
			return m;
	}
	return 8;
}

void augment_scale_draw(struct augment_draw *d, int h, int w, int scale)
{
	if (scale >= 8)
		return;
	scale_span(&d->crop_x, &d->crop_w, w, scale);
	scale_span(&d->crop_y, &d->crop_h, h, scale);
}

/* ---- crop + bicubic resize ---------------------------------------------- */

#define CUBIC_A (-0.75f)

/* Keys' cubic convolution kernel for |x| ≤ 1 and 1 < |x| < 2 (torch's cubic_convolution1/2). */
static float cubic1(float x)
{
	return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
}

static float cubic2(float x)
{
	return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
}

/*
 * Taps of one axis: n source pixels → size outputs. Output i samples
 * scale·(i + 0.5) − 0.5 with the 4 Keys weights of torch's
 * get_cubic_upsample_coefficients on source pixels floor − 1 .. floor + 2,
 * clamped to [0, n − 1]. Clamped taps are folded into a window of
 * L = min(4, n) consecutive pixels starting at start[i], weights w[4i..4i+L),
 * each multiplied by gain. Returns L.
 */
static int axis_taps(int *start, float *w, int n, int size, float gain)
{
	int len = n < 4 ? n : 4;
	float scale = (float)n / (float)size; /* torch: float scale, source index in double */
	for (int i = 0; i < size; i++) {
		double real = scale * (i + 0.5) - 0.5, fl = floor(real);
		float t = (float)(real - fl);
		float k[4] = { cubic2(t + 1.0f), cubic1(t), cubic1(1.0f - t), cubic2((1.0f - t) + 1.0f) };
		int first = (int)fl - 1;
		int s = first < 0 ? 0 : first > n - len ? n - len : first;
		start[i] = s;
		memset(w + 4 * i, 0, 4 * sizeof *w);
		for (int j = 0; j < 4; j++) {
			int idx = first + j < 0 ? 0 : first + j > n - 1 ? n - 1 : first + j;
			w[4 * i + idx - s] += k[j] * gain;
		}
	}
	return len;
}

/* Vertical pass of one channel: tmp (size, cw) from the crop's rows of src (uint8, row stride sw). */
static void resize_rows(float *restrict tmp, const uint8_t *restrict src, int sw, int cw,
			const int *sy, const float *restrict wy, int ly, int size)
{
	for (int y = 0; y < size; y++) {
		float *t = tmp + (size_t)y * cw;
		const float *wk = wy + 4 * y;
		const uint8_t *row = src + (size_t)sy[y] * sw;
		for (int x = 0; x < cw; x++)
			t[x] = wk[0] * row[x];
		for (int k = 1; k < ly; k++) {
			row += sw;
			for (int x = 0; x < cw; x++)
				t[x] += wk[k] * row[x];
		}
	}
}

/* Horizontal pass of one channel: out (size, size) from tmp (size, cw), mirrored if flip, clipped. */
static void resize_cols(float *restrict out, const float *restrict tmp, int cw, const int *sx,
			const float *restrict wx, int lx, int size, int flip)
{
	for (int y = 0; y < size; y++) {
		const float *t = tmp + (size_t)y * cw;
		float *o = out + (size_t)y * size;
		for (int x = 0; x < size; x++) {
			const float *wk = wx + 4 * x, *p = t + sx[x];
			float acc = wk[0] * p[0];
			for (int k = 1; k < lx; k++)
				acc += wk[k] * p[k];
			acc = acc > 0.0f ? acc : 0.0f;
			o[flip ? size - 1 - x : x] = acc < 1.0f ? acc : 1.0f;
		}
	}
}

/*
 * Crop d's box from img and resize it to size×size into out (C, size, size),
 * flipped if d says so, in [0, 1]. Separable: rows first (only the rows the
 * taps reach are read), then columns. The 1/255 of the uint8 → [0, 1]
 * conversion rides on the row weights. scratch: 8·size + size·crop_w.
 */
static void crop_resize(float *out, float *scratch, const struct image *img,
			const struct augment_draw *d, int size)
{
	int sx[AUGMENT_MAX_SIZE], sy[AUGMENT_MAX_SIZE];
	float *wx = scratch, *wy = scratch + 4 * size, *tmp = scratch + 8 * size;
	int lx = axis_taps(sx, wx, d->crop_w, size, 1.0f);
	int ly = axis_taps(sy, wy, d->crop_h, size, 1.0f / 255.0f);
	size_t plane = (size_t)img->h * img->w, n = (size_t)size * size;
	for (int c = 0; c < img->c; c++) {
		const uint8_t *src = img->px + c * plane + (size_t)d->crop_y * img->w + d->crop_x;
		resize_rows(tmp, src, img->w, d->crop_w, sy, wy, ly, size);
		resize_cols(out + c * n, tmp, d->crop_w, sx, wx, lx, size, d->flip);
	}
}

/* ---- the pipeline ------------------------------------------------------ */

size_t augment_scratch_floats(int size, const struct image *img)
{
	size_t s = (size_t)size;
	size_t resize = s * (size_t)img->w; /* one channel at a time; crop_w ≤ w */
	size_t blur = augment_blur_floats(size);
	return 8 * s + (resize > blur ? resize : blur);
}

void augment_apply(float *out, float *scratch, const struct image *img,
		   const struct augment_draw *d, int size, const float *mean, const float *std)
{
	int c = img->c;
	size_t n = (size_t)size * size;
	assert(size >= 1 && size <= AUGMENT_MAX_SIZE); /* the job spec bounds image_size */
	assert(d->crop_x >= 0 && d->crop_w >= 1 && d->crop_x + d->crop_w <= img->w);
	assert(d->crop_y >= 0 && d->crop_h >= 1 && d->crop_y + d->crop_h <= img->h);
	crop_resize(out, scratch, img, d, size);
	if (d->jitter)
		augment_jitter(out, c, n, d);
	if (d->grayscale && c == 3)
		augment_grayscale(out, n);
	if (d->sigma > 0)
		augment_blur(out, scratch, c, size, d->sigma);
	if (d->solarize)
		augment_solarize(out, c * n);
	augment_normalise(out, c, n, mean, std);
}

void augment_center(float *out, float *scratch, const struct image *img, int size,
		    const float *mean, const float *std)
{
	struct augment_draw d;
	augment_center_draw(&d, img->h, img->w);
	augment_apply(out, scratch, img, &d, size, mean, std);
}
