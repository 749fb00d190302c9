/*
 * conv.c — 2-D convolution: the dispatch, and im2col + sgemm (darknet's scheme).
 *
 * A layer's forward, input gradient and weight gradient each take the direct
 * kernels (conv_direct.c) where conv_direct_use_* says they are faster here,
 * Winograd (winograd.c) for 3×3 stride-1 layers when the net asks for it
 * (model.conv), and im2col otherwise.
 *
 * Each thread takes its share of the batch in groups of G images: it
 * unfolds a group into its own column buffer (C·K·K × G·OH·OW) and runs one
 * single-threaded sgemm for the whole group, so the weights are packed once
 * per group rather than once per image and small feature maps still make a
 * wide product. G is chosen so a group's columns and product stay near
 * COL_BUDGET floats. With G = 1 the product writes straight into the output,
 * and 1×1 stride-1 convs skip the unfolding. Weight gradients go to per-thread
 * partial sums reduced at the end, so threads never write the same memory.
 *
 * Workspace per thread: col (C·K·K × G·OH·OW), tmp (OC × G·OH·OW),
 * dweight partial (OC·C·K·K), dbias partial (OC).
 */
#include "nn/ops.h"

#include "nn/conv_direct.h"
#include "nn/winograd.h"

#include <cblas.h>
#include <string.h>

/* Floats of column buffer and product a group aims for (4 MiB): 512 channels at
   4×4 still group 12 images, where one alone makes a product 16 columns wide. */
#define COL_BUDGET (1 << 20)

int conv2d_dims_init(struct conv2d_dims *d, int n, int c, int h, int w, int oc, int k, int stride,
		     int pad)
{
	*d = (struct conv2d_dims){ .n = n, .c = c, .h = h, .w = w, .oc = oc, .k = k,
				   .stride = stride, .pad = pad };
	d->oh = pool2d_out(h, k, stride, pad);
	d->ow = pool2d_out(w, k, stride, pad);
	return d->oh > 0 && d->ow > 0 ? 0 : -1;
}

static int is_pointwise(const struct conv2d_dims *d)
{
	return d->k == 1 && d->stride == 1 && d->pad == 0;
}

static size_t ckk(const struct conv2d_dims *d)
{
	return (size_t)d->c * d->k * d->k;
}

static size_t ohw(const struct conv2d_dims *d)
{
	return (size_t)d->oh * d->ow;
}

/* Images per group for nth threads. */
static int group_size(const struct conv2d_dims *d, int nth)
{
	size_t per_thread = ((size_t)d->n + (size_t)nth - 1) / (size_t)nth;
	size_t cols = (ckk(d) + (size_t)d->oc) * ohw(d); /* col and tmp per image */
	size_t g = cols ? COL_BUDGET / cols : 1;
	g = g < 1 ? 1 : g > per_thread ? per_thread : g;
	return (int)conv_even_group(per_thread, g);
}

struct conv_layout {
	int g;            /* images per group */
	size_t ld;        /* row stride of col and tmp: G·OH·OW */
	size_t col, tmp;  /* floats of each buffer per thread */
	size_t per_thread;
};

static struct conv_layout layout(const struct conv2d_dims *d, int nth)
{
	struct conv_layout l = { .g = group_size(d, nth) };
	l.ld = (size_t)l.g * ohw(d);
	l.col = l.g == 1 && is_pointwise(d) ? 0 : ckk(d) * l.ld;
	l.tmp = l.g == 1 ? 0 : (size_t)d->oc * l.ld;
	l.per_thread = l.col + l.tmp + (size_t)d->oc * ckk(d) + (size_t)d->oc;
	return l;
}

static int use_winograd(const struct conv2d_dims *d)
{
	return d->winograd && conv2d_winograd_supported(d);
}

/* The most any path may take: the choice is made per call (conv_direct_use_*), so a
   workspace sized now stays enough if the instruction set or the switches change. */
size_t conv2d_work_floats(const struct conv2d_dims *d, int nth)
{
	size_t need = layout(d, nth).per_thread * (size_t)nth;
	if (conv_direct_supported(d)) {
		size_t direct = conv_direct_work_floats(d, nth);
		need = direct > need ? direct : need;
	}
	if (use_winograd(d)) {
		size_t wino = conv2d_winograd_work_floats(d, nth);
		need = wino > need ? wino : need;
	}
	return need;
}

double conv2d_flops(const struct conv2d_dims *d)
{
	return 2.0 * d->n * d->oc * ohw(d) * (double)ckk(d);
}

/* Output positions [*lo, *hi) whose input position o·stride − pad + tap lies in [0, n). */
static void valid_range(int n, int n_out, int stride, int pad, int tap, int *lo, int *hi)
{
	int a = pad - tap, b = n + pad - tap; /* need a <= o·stride < b */
	*lo = a <= 0 ? 0 : (a + stride - 1) / stride;
	*hi = b <= 0 ? 0 : (b + stride - 1) / stride;
	if (*hi > n_out)
		*hi = n_out;
	if (*lo > *hi)
		*lo = *hi;
}

/* Stride 1 with "same" padding: every tap's plane is the input plane shifted. */
static int is_same_stride1(const struct conv2d_dims *d)
{
	return d->stride == 1 && d->oh == d->h && d->ow == d->w;
}

/*
 * The shift of tap (ky, kx) in a same-padded stride-1 conv: output rows
 * [y0, y1) and columns [x0, x1) read input; the output element j of the row
 * block starting at row y0 reads plane[base + j]; [j0, j1) of those lie
 * inside the plane (the others fall in invalid columns).
 */
struct tap_shift {
	int y0, y1, x0, x1;
	long base, j0, j1;
};

static struct tap_shift tap_shift(const struct conv2d_dims *d, int ky, int kx)
{
	struct tap_shift t;
	const long n = (long)d->h * d->w;
	valid_range(d->h, d->oh, 1, d->pad, ky, &t.y0, &t.y1);
	valid_range(d->w, d->ow, 1, d->pad, kx, &t.x0, &t.x1);
	t.base = (long)(t.y0 + ky - d->pad) * d->w + (kx - d->pad);
	long count = (long)(t.y1 - t.y0) * d->w;
	t.j0 = t.base < 0 ? -t.base : 0;
	t.j1 = t.base + count > n ? n - t.base : count;
	return t;
}

/* Zero the columns of rows [y0, y1) outside [x0, x1) in an (H, W) row block. */
static void zero_invalid_columns(float *row, const struct conv2d_dims *d, const struct tap_shift *t)
{
	for (int y = t->y0; y < t->y1; y++) {
		float *r = row + (size_t)y * d->w;
		for (int x = 0; x < t->x0; x++)
			r[x] = 0.0f;
		for (int x = t->x1; x < d->w; x++)
			r[x] = 0.0f;
	}
}

/* One tap's row of im2col for a same-padded stride-1 conv: one shifted block copy. */
static void im2col_shifted(float *restrict row, const float *restrict plane,
			   const struct conv2d_dims *d, int ky, int kx)
{
	const struct tap_shift t = tap_shift(d, ky, kx);
	const size_t hw = (size_t)d->h * d->w;
	float *blk = row + (size_t)t.y0 * d->w;
	for (size_t j = 0; j < (size_t)t.y0 * d->w; j++)
		row[j] = 0.0f;
	for (size_t j = (size_t)t.y1 * d->w; j < hw; j++)
		row[j] = 0.0f;
	for (long j = 0; j < t.j0; j++)
		blk[j] = 0.0f;
	for (long j = t.j0; j < t.j1; j++)
		blk[j] = plane[t.base + j];
	for (long j = t.j1; j < (long)(t.y1 - t.y0) * d->w; j++)
		blk[j] = 0.0f;
	zero_invalid_columns(row, d, &t);
}

/* Its adjoint: plane += the shifted block, invalid columns zeroed first (row is scratch). */
static void col2im_shifted(float *restrict plane, float *restrict row,
			   const struct conv2d_dims *d, int ky, int kx)
{
	const struct tap_shift t = tap_shift(d, ky, kx);
	zero_invalid_columns(row, d, &t);
	const float *blk = row + (size_t)t.y0 * d->w;
	for (long j = t.j0; j < t.j1; j++)
		plane[t.base + j] += blk[j];
}

/* col (C·K·K rows of stride ld, OH·OW used) ← the receptive fields of one image (C,H,W). */
static void im2col(float *restrict col, size_t ld, const float *restrict img,
		   const struct conv2d_dims *d)
{
	const int k = d->k, s = d->stride, oh = d->oh, ow = d->ow;
	for (int c = 0; c < d->c; c++) {
		const float *plane = img + (size_t)c * d->h * d->w;
		for (int ky = 0; ky < k; ky++) {
			for (int kx = 0; kx < k; kx++) {
				float *row = col + (((size_t)c * k + ky) * k + kx) * ld;
				if (is_same_stride1(d)) {
					im2col_shifted(row, plane, d, ky, kx);
					continue;
				}
				int x0, x1;
				valid_range(d->w, ow, s, d->pad, kx, &x0, &x1);
				for (int y = 0; y < oh; y++) {
					int iy = y * s - d->pad + ky;
					float *dst = row + (size_t)y * ow;
					if (iy < 0 || iy >= d->h) {
						for (int x = 0; x < ow; x++)
							dst[x] = 0.0f;
						continue;
					}
					const float *src = plane + (size_t)iy * d->w - d->pad + kx;
					/* Rows are short (≤ a few dozen): plain loops beat libc calls. */
					for (int x = 0; x < x0; x++)
						dst[x] = 0.0f;
					for (int x = x0; x < x1; x++)
						dst[x] = src[x * s];
					for (int x = x1; x < ow; x++)
						dst[x] = 0.0f;
				}
			}
		}
	}
}

/* img (C,H,W) += the column buffer (rows of stride ld) folded back: the adjoint of
   im2col. col is scratch: the shifted path zeroes its invalid columns. */
static void col2im(float *restrict img, float *restrict col, size_t ld,
		   const struct conv2d_dims *d)
{
	const int k = d->k, s = d->stride, oh = d->oh, ow = d->ow;
	for (int c = 0; c < d->c; c++) {
		float *plane = img + (size_t)c * d->h * d->w;
		for (int ky = 0; ky < k; ky++) {
			for (int kx = 0; kx < k; kx++) {
				float *row = col + (((size_t)c * k + ky) * k + kx) * ld;
				if (is_same_stride1(d)) {
					col2im_shifted(plane, row, d, ky, kx);
					continue;
				}
				int x0, x1;
				valid_range(d->w, ow, s, d->pad, kx, &x0, &x1);
				for (int y = 0; y < oh; y++) {
					int iy = y * s - d->pad + ky;
					if (iy < 0 || iy >= d->h)
						continue;
					float *dst = plane + (size_t)iy * d->w - d->pad + kx;
					const float *src = row + (size_t)y * ow;
					for (int x = x0; x < x1; x++)
						dst[x * s] += src[x];
				}
			}
		}
	}
}

struct conv_task {
	float *out, *dinp, *dweight, *dbias, *work;
	const float *inp, *weight, *bias, *dout;
	const struct conv2d_dims *d;
	struct conv_layout l;
};

/* This thread's buffers. */
static void thread_buffers(const struct conv_task *t, int tid, float **col, float **tmp,
			   float **dw, float **db)
{
	*col = t->work + t->l.per_thread * (size_t)tid;
	*tmp = *col + t->l.col;
	*dw = *tmp + t->l.tmp;
	*db = *dw + (size_t)t->d->oc * ckk(t->d);
}

/* Unfold images [i0, i0+gn) into col, one block of OH·OW columns per image;
   returns the B operand of the group's product. */
static const float *unfold(const struct conv_task *t, float *col, size_t i0, int gn)
{
	const struct conv2d_dims *d = t->d;
	const size_t in_size = (size_t)d->c * d->h * d->w;
	if (t->l.g == 1 && is_pointwise(d))
		return t->inp + i0 * in_size;
	for (int g = 0; g < gn; g++)
		im2col(col + (size_t)g * ohw(d), t->l.ld, t->inp + (i0 + g) * in_size, d);
	return col;
}

static void conv_forward_groups(void *arg, int tid, int nth)
{
	const struct conv_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const size_t hw = ohw(d), out_size = (size_t)d->oc * hw;
	float *col, *tmp, *dw, *db;
	thread_buffers(t, tid, &col, &tmp, &dw, &db);
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i0 = lo; i0 < hi; i0 += (size_t)t->l.g) {
		int gn = (int)(hi - i0 < (size_t)t->l.g ? hi - i0 : (size_t)t->l.g);
		const float *b = unfold(t, col, i0, gn);
		float *c = t->l.g == 1 ? t->out + i0 * out_size : tmp;
		size_t ldc = t->l.g == 1 ? hw : t->l.ld;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->oc, gn * (int)hw,
			    (int)ckk(d), 1.0f, t->weight, (int)ckk(d), b, (int)t->l.ld, 0.0f, c,
			    (int)ldc);
		for (int g = 0; g < gn; g++) {
			float *out = t->out + (i0 + g) * out_size;
			for (int o = 0; o < d->oc; o++) {
				const float *src = c + o * ldc + (size_t)g * hw;
				float *dst = out + o * hw, bias = t->bias ? t->bias[o] : 0.0f;
				for (size_t j = 0; j < hw; j++)
					dst[j] = src[j] + bias;
			}
		}
	}
}

void conv2d_forward(struct pool *p, float *out, float *work, const float *inp,
		    const float *weight, const float *bias, const struct conv2d_dims *d)
{
	if (use_winograd(d)) {
		conv2d_winograd_forward(p, out, work, inp, weight, bias, d);
		return;
	}
	if (conv_direct_use_forward(d)) {
		conv_direct_forward(p, out, work, inp, weight, bias, d);
		return;
	}
	struct conv_task t = { .out = out, .work = work, .inp = inp, .weight = weight,
			       .bias = bias, .d = d, .l = layout(d, pool_threads(p)) };
	pool_run(p, conv_forward_groups, &t);
}

/* Gather dout of images [i0, i0+gn) into tmp (OC × gn·OH·OW), or point at it when G = 1. */
static const float *gather_dout(const struct conv_task *t, float *tmp, size_t i0, int gn)
{
	const struct conv2d_dims *d = t->d;
	const size_t hw = ohw(d), out_size = (size_t)d->oc * hw;
	if (t->l.g == 1)
		return t->dout + i0 * out_size;
	for (int g = 0; g < gn; g++)
		for (int o = 0; o < d->oc; o++)
			memcpy(tmp + o * t->l.ld + (size_t)g * hw, t->dout + (i0 + g) * out_size + o * hw,
			       hw * sizeof(float));
	return tmp;
}

/* Per group: dW_t += dout·colᵀ, db_t += Σ dout, dcol = Wᵀ·dout folded into dinp. */
static void conv_backward_groups(void *arg, int tid, int nth)
{
	const struct conv_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const int k = (int)ckk(d), ld = (int)t->l.ld;
	const size_t hw = ohw(d), in_size = (size_t)d->c * d->h * d->w;
	float *col, *tmp, *dw, *db;
	thread_buffers(t, tid, &col, &tmp, &dw, &db);
	memset(dw, 0, sizeof(float) * ((size_t)d->oc * ckk(d) + (size_t)d->oc));
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i0 = lo; i0 < hi; i0 += (size_t)t->l.g) {
		int gn = (int)(hi - i0 < (size_t)t->l.g ? hi - i0 : (size_t)t->l.g);
		const float *dout = gather_dout(t, tmp, i0, gn);
		const int ldd = t->l.g == 1 ? (int)hw : ld, cols = gn * (int)hw;
		if (t->dweight) {
			const float *b = unfold(t, col, i0, gn);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->oc, k, cols, 1.0f,
				    dout, ldd, b, ld, 1.0f, dw, k);
		}
		if (t->dbias)
			for (int o = 0; o < d->oc; o++)
				for (int j = 0; j < cols; j++)
					db[o] += dout[(size_t)o * ldd + j];
		if (!t->dinp)
			continue;
		if (t->l.col == 0) { /* pointwise, G = 1: straight into dinp */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, cols, d->oc, 1.0f,
				    t->weight, k, dout, ldd, 1.0f, t->dinp + i0 * in_size, ld);
			continue;
		}
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, cols, d->oc, 1.0f, t->weight,
			    k, dout, ldd, 0.0f, col, ld);
		for (int g = 0; g < gn; g++)
			col2im(t->dinp + (i0 + g) * in_size, col + (size_t)g * hw, t->l.ld, d);
	}
}

/* dweight and dbias += the sum of the threads' partials, split by element. */
static void conv_reduce_partials(void *arg, int tid, int nth)
{
	const struct conv_task *t = arg;
	const size_t wn = (size_t)t->d->oc * ckk(t->d);
	size_t lo, hi;
	pool_split(wn + (size_t)t->d->oc, tid, nth, &lo, &hi);
	for (int s = 0; s < nth; s++) {
		float *col, *tmp, *dw, *db;
		thread_buffers(t, s, &col, &tmp, &dw, &db);
		conv_add_partial(t->dweight, t->dbias, wn, dw, lo, hi);
	}
}

size_t conv_even_group(size_t n, size_t g)
{
	size_t groups = (n + g - 1) / g;
	return groups ? (n + groups - 1) / groups : 1;
}

void conv_add_partial(float *dweight, float *dbias, size_t wn, const float *part, size_t lo,
		      size_t hi)
{
	for (size_t j = lo; j < hi; j++) {
		if (j < wn) {
			if (dweight)
				dweight[j] += part[j];
		} else if (dbias) {
			dbias[j - wn] += part[j];
		}
	}
}

void conv2d_backward(struct pool *p, float *dinp, float *dweight, float *dbias, float *work,
		     const float *dout, const float *inp, const float *weight,
		     const struct conv2d_dims *d)
{
	if (use_winograd(d)) {
		conv2d_winograd_backward(p, dinp, dweight, dbias, work, dout, inp, weight, d);
		return;
	}
	const int direct_dinp = dinp && conv_direct_use_dinp(d);
	const int direct_weights = (dweight || dbias) && conv_direct_use_weights(d);
	if (direct_dinp || direct_weights) {
		conv_direct_backward(p, direct_dinp ? dinp : NULL, direct_weights ? dweight : NULL,
				     direct_weights ? dbias : NULL, work, dout, inp, weight, d);
		if (direct_dinp)
			dinp = NULL;
		if (direct_weights)
			dweight = dbias = NULL;
		if (!dinp && !dweight && !dbias)
			return;
	}
	struct conv_task t = { .dinp = dinp, .dweight = dweight, .dbias = dbias, .work = work,
			       .inp = inp, .weight = weight, .dout = dout, .d = d,
			       .l = layout(d, pool_threads(p)) };
	pool_run(p, conv_backward_groups, &t);
	if (dweight || dbias)
		pool_run(p, conv_reduce_partials, &t);
}
