/*
 * conv.c — 2-D convolution as im2col + sgemm (darknet's scheme), one image
 * per thread at a time: a thread unfolds its image into its own column
 * buffer and multiplies with a single-threaded sgemm. 1×1 stride-1 convs
 * skip the unfolding. Weight gradients go to per-thread partial sums that
 * are reduced at the end, so threads never write the same memory.
 *
 * Workspace per thread: col (C·K·K × OH·OW) then dweight partial (OC·C·K·K)
 * then dbias partial (OC).
 */
#include "ops.h"

#include <cblas.h>
#include <string.h>

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

static size_t col_floats(const struct conv2d_dims *d)
{
	return is_pointwise(d) ? 0 : (size_t)d->c * d->k * d->k * d->oh * d->ow;
}

static size_t weight_floats(const struct conv2d_dims *d)
{
	return (size_t)d->oc * d->c * d->k * d->k;
}

static size_t thread_floats(const struct conv2d_dims *d)
{
	return col_floats(d) + weight_floats(d) + (size_t)d->oc;
}

size_t conv2d_work_floats(const struct conv2d_dims *d, int nth)
{
	return thread_floats(d) * (size_t)nth;
}

double conv2d_flops(const struct conv2d_dims *d)
{
	return 2.0 * d->n * d->oc * d->oh * d->ow * (double)d->c * d->k * d->k;
}

/* Output columns [*x0, *x1) whose input column x·stride − pad + kx lies inside [0, w). */
static void valid_columns(const struct conv2d_dims *d, int kx, int *x0, int *x1)
{
	int lo = d->pad - kx, hi = d->w + d->pad - kx; /* need lo <= x·s < hi */
	*x0 = lo <= 0 ? 0 : (lo + d->stride - 1) / d->stride;
	*x1 = hi <= 0 ? 0 : (hi + d->stride - 1) / d->stride;
	if (*x1 > d->ow)
		*x1 = d->ow;
	if (*x0 > *x1)
		*x0 = *x1;
}

/* col (C·K·K, OH·OW) ← the receptive fields of one image (C,H,W). */
static void im2col(float *restrict col, const float *restrict img, const struct conv2d_dims *d)
{
	const int k = d->k, s = d->stride, oh = d->oh, ow = d->ow;
	for (int c = 0; c < d->c; c++) {
		const float *plane = img + (size_t)c * d->h * d->w;
		for (int ky = 0; ky < k; ky++) {
			for (int kx = 0; kx < k; kx++) {
				float *row = col + (((size_t)c * k + ky) * k + kx) * oh * ow;
				int x0, x1;
				valid_columns(d, kx, &x0, &x1);
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
					if (s == 1)
						for (int x = x0; x < x1; x++)
							dst[x] = src[x];
					else
						for (int x = x0; x < x1; x++)
							dst[x] = src[x * s];
					for (int x = x1; x < ow; x++)
						dst[x] = 0.0f;
				}
			}
		}
	}
}

/* img (C,H,W) += the column buffer folded back (the adjoint of im2col). */
static void col2im(float *restrict img, const float *restrict col, const struct conv2d_dims *d)
{
	const int k = d->k, s = d->stride, oh = d->oh, ow = d->ow;
	for (int c = 0; c < d->c; c++) {
		float *plane = img + (size_t)c * d->h * d->w;
		for (int ky = 0; ky < k; ky++) {
			for (int kx = 0; kx < k; kx++) {
				const float *row = col + (((size_t)c * k + ky) * k + kx) * oh * ow;
				int x0, x1;
				valid_columns(d, kx, &x0, &x1);
				for (int y = 0; y < oh; y++) {
					int iy = y * s - d->pad + ky;
					if (iy < 0 || iy >= d->h)
						continue;
					float *dst = plane + (size_t)iy * d->w - d->pad + kx;
					const float *src = row + (size_t)y * ow;
					if (s == 1)
						for (int x = x0; x < x1; x++)
							dst[x] += src[x];
					else
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
};

static void conv_forward_images(void *arg, int tid, int nth)
{
	const struct conv_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const int ckk = d->c * d->k * d->k, ohw = d->oh * d->ow;
	float *col = t->work + thread_floats(d) * (size_t)tid;
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		const float *img = t->inp + i * (size_t)d->c * d->h * d->w;
		float *out = t->out + i * (size_t)d->oc * ohw;
		const float *b = img;
		if (!is_pointwise(d)) {
			im2col(col, img, d);
			b = col;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->oc, ohw, ckk, 1.0f,
			    t->weight, ckk, b, ohw, 0.0f, out, ohw);
		if (t->bias)
			for (int o = 0; o < d->oc; o++)
				for (int j = 0; j < ohw; j++)
					out[(size_t)o * ohw + j] += t->bias[o];
	}
}

void conv2d_forward(struct pool *p, float *out, float *work, const float *inp,
		    const float *weight, const float *bias, const struct conv2d_dims *d)
{
	struct conv_task t = { .out = out, .work = work, .inp = inp, .weight = weight,
			       .bias = bias, .d = d };
	pool_run(p, conv_forward_images, &t);
}

/* Per image: dW_t += dout·colᵀ, db_t += Σ dout, dcol = Wᵀ·dout folded into dinp. */
static void conv_backward_images(void *arg, int tid, int nth)
{
	const struct conv_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const int ckk = d->c * d->k * d->k, ohw = d->oh * d->ow;
	float *col = t->work + thread_floats(d) * (size_t)tid;
	float *dw = col + col_floats(d);
	float *db = dw + weight_floats(d);
	memset(dw, 0, sizeof(float) * (weight_floats(d) + (size_t)d->oc));
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		const float *img = t->inp + i * (size_t)d->c * d->h * d->w;
		const float *dout = t->dout + i * (size_t)d->oc * ohw;
		float *dimg = t->dinp ? t->dinp + i * (size_t)d->c * d->h * d->w : NULL;
		if (t->dweight) {
			const float *b = img;
			if (!is_pointwise(d)) {
				im2col(col, img, d);
				b = col;
			}
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->oc, ckk, ohw, 1.0f,
				    dout, ohw, b, ohw, 1.0f, dw, ckk);
		}
		if (t->dbias)
			for (int o = 0; o < d->oc; o++)
				for (int j = 0; j < ohw; j++)
					db[o] += dout[(size_t)o * ohw + j];
		if (!dimg)
			continue;
		if (is_pointwise(d)) {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw, d->oc, 1.0f,
				    t->weight, ckk, dout, ohw, 1.0f, dimg, ohw);
		} else {
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, ohw, d->oc, 1.0f,
				    t->weight, ckk, dout, ohw, 0.0f, col, ohw);
			col2im(dimg, col, d);
		}
	}
}

/* dweight and dbias += the sum of the threads' partials, split by element. */
static void conv_reduce_partials(void *arg, int tid, int nth)
{
	const struct conv_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const size_t wn = weight_floats(d), stride = thread_floats(d), skip = col_floats(d);
	size_t lo, hi;
	pool_split(wn + (size_t)d->oc, tid, nth, &lo, &hi);
	for (int s = 0; s < nth; s++) {
		const float *part = t->work + stride * (size_t)s + skip;
		for (size_t j = lo; j < hi; j++) {
			if (j < wn) {
				if (t->dweight)
					t->dweight[j] += part[j];
			} else if (t->dbias) {
				t->dbias[j - wn] += part[j];
			}
		}
	}
}

void conv2d_backward(struct pool *p, float *dinp, float *dweight, float *dbias, float *work,
		     const float *dout, const float *inp, const float *weight,
		     const struct conv2d_dims *d)
{
	struct conv_task t = { .dinp = dinp, .dweight = dweight, .dbias = dbias, .work = work,
			       .inp = inp, .weight = weight, .dout = dout, .d = d };
	pool_run(p, conv_backward_images, &t);
	if (dweight || dbias)
		pool_run(p, conv_reduce_partials, &t);
}
