/*
 * pooling.c — max-pool (with saved argmax for backward) and global average
 * pool, split over the (N·C) planes so no two threads touch one plane.
 */
#include "nn/ops.h"

#include <math.h>

int pool2d_out(int in, int k, int stride, int pad)
{
	if (k <= 0 || stride <= 0 || pad < 0 || in + 2 * pad < k)
		return 0;
	return (in + 2 * pad - k) / stride + 1;
}

struct pool2d_task {
	float *out, *dinp;
	int32_t *argmax;
	const int32_t *cargmax;
	const float *inp, *dout;
	int planes, h, w, k, stride, pad, oh, ow;
};

/* The window taps [*lo, *hi) of output position o that fall inside [0, n). */
static void window(int o, int stride, int pad, int k, int n, int *lo, int *hi)
{
	int start = o * stride - pad;
	*lo = start < 0 ? -start : 0;
	*hi = start + k > n ? n - start : k;
}

/* One output: the maximum of its window and where it is (the first maximum).
   Branch-free, since on real data the branches mispredict half the time. A NaN
   is kept only as a window's first tap; a NaN loss is caught at the loss. */
static void max_window(const float *x, int w, int iy0, int ky0, int ky1, int ix0, int kx0,
		       int kx1, float *best_out, int32_t *at_out)
{
	int32_t at = (iy0 + ky0) * w + ix0 + kx0;
	float best = x[at];
	for (int ky = ky0; ky < ky1; ky++) {
		const int row = (iy0 + ky) * w + ix0;
		for (int kx = kx0; kx < kx1; kx++) {
			float v = x[row + kx];
			int32_t m = -(int32_t)(v > best); /* all ones where v wins */
			best = v > best ? v : best;
			at = (at & ~m) | ((row + kx) & m);
		}
	}
	*best_out = best;
	*at_out = at;
}

/* max_window for 2×2 windows at stride 2 without padding (convnet's pools), on
   one output row: the same result, in a loop the compiler vectorises. */
static void max2x2_row(const float *restrict x, int w, int iy, int ow, float *restrict y,
		       int32_t *restrict am)
{
	const float *r0 = x + (size_t)iy * w, *r1 = r0 + w;
	for (int ox = 0; ox < ow; ox++) {
		const int32_t i0 = iy * w + 2 * ox;
		float best = r0[2 * ox];
		int32_t at = i0;
		const float v[3] = { r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1] };
		const int32_t iv[3] = { i0 + 1, i0 + w, i0 + w + 1 };
		for (int k = 0; k < 3; k++) {
			at = v[k] > best ? iv[k] : at;
			best = v[k] > best ? v[k] : best;
		}
		y[ox] = best;
		am[ox] = at;
	}
}

static void maxpool_planes(void *arg, int tid, int nth)
{
	const struct pool2d_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->planes, tid, nth, &lo, &hi);
	const int fast = t->k == 2 && t->stride == 2 && t->pad == 0;
	for (size_t pl = lo; pl < hi; pl++) {
		const float *x = t->inp + pl * t->h * t->w;
		float *y = t->out + pl * t->oh * t->ow;
		int32_t *am = t->argmax + pl * t->oh * t->ow;
		if (fast) {
			for (int oy = 0; oy < t->oh; oy++)
				max2x2_row(x, t->w, 2 * oy, t->ow, y + oy * t->ow, am + oy * t->ow);
			continue;
		}
		for (int oy = 0; oy < t->oh; oy++) {
			int ky0, ky1;
			window(oy, t->stride, t->pad, t->k, t->h, &ky0, &ky1);
			for (int ox = 0; ox < t->ow; ox++) {
				int kx0, kx1, o = oy * t->ow + ox;
				window(ox, t->stride, t->pad, t->k, t->w, &kx0, &kx1);
				max_window(x, t->w, oy * t->stride - t->pad, ky0, ky1,
					   ox * t->stride - t->pad, kx0, kx1, &y[o], &am[o]);
			}
		}
	}
}

void maxpool2d_forward(struct pool *p, float *out, int32_t *argmax, const float *inp, int n, int c,
		       int h, int w, int k, int stride, int pad)
{
	struct pool2d_task t = { .out = out, .argmax = argmax, .inp = inp, .planes = n * c,
				 .h = h, .w = w, .k = k, .stride = stride, .pad = pad,
				 .oh = pool2d_out(h, k, stride, pad),
				 .ow = pool2d_out(w, k, stride, pad) };
	pool_run(p, maxpool_planes, &t);
}

static void maxpool_grad_planes(void *arg, int tid, int nth)
{
	const struct pool2d_task *t = arg;
	const size_t ohw = (size_t)t->oh * t->ow;
	size_t lo, hi;
	pool_split((size_t)t->planes, tid, nth, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		float *dx = t->dinp + pl * t->h * t->w;
		const float *dy = t->dout + pl * ohw;
		const int32_t *am = t->cargmax + pl * ohw;
		for (size_t j = 0; j < ohw; j++)
			if (am[j] >= 0)
				dx[am[j]] += dy[j];
	}
}

void maxpool2d_backward(struct pool *p, float *dinp, const float *dout, const int32_t *argmax,
			int n, int c, int h, int w, int oh, int ow)
{
	struct pool2d_task t = { .dinp = dinp, .dout = dout, .cargmax = argmax, .planes = n * c,
				 .h = h, .w = w, .oh = oh, .ow = ow };
	pool_run(p, maxpool_grad_planes, &t);
}

static void avgpool_planes(void *arg, int tid, int nth)
{
	const struct pool2d_task *t = arg;
	const int hw = t->h;
	size_t lo, hi;
	pool_split((size_t)t->planes, tid, nth, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		const float *x = t->inp + pl * hw;
		float s = 0;
		for (int j = 0; j < hw; j++)
			s += x[j];
		t->out[pl] = s / (float)hw;
	}
}

void avgpool_forward(struct pool *p, float *out, const float *inp, int n, int c, int hw)
{
	struct pool2d_task t = { .out = out, .inp = inp, .planes = n * c, .h = hw };
	pool_run(p, avgpool_planes, &t);
}

static void avgpool_grad_planes(void *arg, int tid, int nth)
{
	const struct pool2d_task *t = arg;
	const int hw = t->h;
	size_t lo, hi;
	pool_split((size_t)t->planes, tid, nth, &lo, &hi);
	for (size_t pl = lo; pl < hi; pl++) {
		float g = t->dout[pl] / (float)hw;
		float *dx = t->dinp + pl * hw;
		for (int j = 0; j < hw; j++)
			dx[j] += g;
	}
}

void avgpool_backward(struct pool *p, float *dinp, const float *dout, int n, int c, int hw)
{
	struct pool2d_task t = { .dinp = dinp, .dout = dout, .planes = n * c, .h = hw };
	pool_run(p, avgpool_grad_planes, &t);
}
