/*
 * conv_direct.c — 3×3 "same" and 1×1 stride-1 convolutions computed directly,
 * with no im2col: each thread copies a group of G images into "flat" planes
 * and runs register-blocked vector loops (conv_direct_kern.h) over them. A
 * 1×1 layer's planes are the images packed densely, and its loop has one tap.
 *
 * A flat plane lays the group's images of one channel one below the other,
 * each row followed by one zero column and each image by one zero row, with
 * a zero row and column in front: pixel (g, y, x) sits at
 *
 *     base + (g·Hp + y)·Wp + x,   Wp = W + 1, Hp = H + 1, base ≥ Wp + 1,
 *
 * so the zero column is both the right pad of a row and the left pad of the
 * next, and the zero row both the bottom pad of an image and the top pad of
 * the next. Tap (ky, kx) of every output is then the input at the fixed
 * offset (ky−1)·Wp + (kx−1): the convolution is a sum of 9 shifted
 * multiply-adds along one contiguous axis, vectorised without masks.
 * Outputs are computed at every flat position (those in pad positions are
 * discarded); the weight gradient reads gradients whose pad positions are
 * zero, so they add nothing.
 *
 * Forward sums each output over (c, tap) in one accumulator, as im2col's
 * GEMM does; backward-data is the same loop on the output gradient with
 * transposed weights and negated offsets; backward-weights reduces over the
 * flat axis in VW lanes, then across lanes, groups and threads.
 */
#include "nn/conv_direct.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/blas.h"
#include "nn/isa.h"

#define TAPS 9
#define BLOCK_O 4               /* output channels per register block */
#define MAX_BLOCK_J 96          /* widest forward block: 6 vectors of 16 */
#define GROUP_LEN 2048          /* flat positions a group aims for */
#define GROUP_BUDGET (1024 << 10) /* at most this many floats of flat planes per thread */

/* ---- the vector loops, one variant per instruction set --------------------- */

#define VW 4
#define KJ 3
#define DW_O 4
#define KERN(name) generic_##name
#define KERN_TARGET
#include "nn/conv_direct_kern.h"
#undef VW
#undef KJ
#undef DW_O
#undef KERN
#undef KERN_TARGET

#define VW 8
#define KJ 3
#define DW_O 4
#define KERN(name) avx2_##name
#define KERN_TARGET __attribute__((target("avx2,fma")))
#include "nn/conv_direct_kern.h"
#undef VW
#undef KJ
#undef DW_O
#undef KERN
#undef KERN_TARGET

#define VW 16
#define KJ 6
#define KERN(name) avx512_##name
#define KERN_TARGET __attribute__((target("avx512f")))
#define FWD_ONLY
#include "nn/conv_direct_kern.h"
#undef FWD_ONLY
#undef VW
#undef KJ
#undef DW_O
#undef KERN
#undef KERN_TARGET


/*
 * The weight-gradient loop at 512 bits for blocks of 8 output channels (see
 * conv_direct_kern.h's dw_row). The row x is read as aligned vectors a
 * sliding window of three, and each tap's vector is cut from two of them
 * with vpermt2ps: unaligned 512-bit loads would cross a cache line each time.
 */
__attribute__((target("avx512f"), always_inline)) static inline void
avx512_dw_row8_loop(__m512 acc[8][3], const float *restrict dout, size_t s,
		    const float *restrict xa, size_t len, size_t mis)
{
	const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
	/* tap k starts at lane mis + k − 1 of the aligned vector at j; −1 is lane 15 of the one before */
	const __m512i i0 = _mm512_add_epi32(iota, _mm512_set1_epi32(mis ? (int)mis - 1 : 15));
	const __m512i i1 = _mm512_add_epi32(iota, _mm512_set1_epi32((int)mis));
	const __m512i i2 = _mm512_add_epi32(iota, _mm512_set1_epi32((int)mis + 1));
	__m512 p = _mm512_load_ps(xa - 16), a = _mm512_load_ps(xa);
	for (size_t j = 0; j < len; j += 16) {
		__m512 b = _mm512_load_ps(xa + j + 16);
		__m512 xv[3];
		xv[0] = mis ? _mm512_permutex2var_ps(a, i0, b) : _mm512_permutex2var_ps(p, i0, a);
		xv[1] = _mm512_permutex2var_ps(a, i1, b);
		xv[2] = _mm512_permutex2var_ps(a, i2, b);
		for (int o = 0; o < 8; o++) {
			__m512 d = _mm512_loadu_ps(dout + (size_t)o * s + j);
			for (int k = 0; k < 3; k++)
				acc[o][k] = _mm512_fmadd_ps(d, xv[k], acc[o][k]);
		}
		p = a;
		a = b;
	}
}

__attribute__((target("avx512f"))) static void avx512_dw_row8(float *restrict dw, size_t dw_stride,
							      const float *restrict dout, size_t s,
							      const float *restrict x, size_t len)
{
	const size_t mis = ((uintptr_t)x / sizeof(float)) % 16;
	__m512 acc[8][3];
	for (int o = 0; o < 8; o++)
		for (int k = 0; k < 3; k++)
			acc[o][k] = _mm512_setzero_ps();
	if (mis) /* two copies of the loop, so the tap-0 choice is not made per vector */
		avx512_dw_row8_loop(acc, dout, s, x - mis, len, mis);
	else
		avx512_dw_row8_loop(acc, dout, s, x, len, 0);
	for (int o = 0; o < 8; o++)
		for (int k = 0; k < 3; k++)
			dw[(size_t)o * dw_stride + (size_t)k] += _mm512_reduce_add_ps(acc[o][k]);
}

typedef void (*fwd_block_fn)(float *, const float *, size_t, const float *, int, const long *,
			     size_t);

struct kernels {
	fwd_block_fn fwd_block, fwd1_block; /* 9 taps (3×3), 1 tap (1×1) */
	void (*dw_row)(float *, size_t, const float *, size_t, const float *, size_t);
	size_t block_j, dw_vw; /* floats per forward block, per weight-gradient vector */
	int dw_o;              /* output channels per weight-gradient block */
};

/* AVX-512 CPUs take the 256-bit weight-gradient loop for channels not in blocks of 8. */
static struct kernels kernels(const struct conv2d_dims *d)
{
	switch (nn_isa()) {
	case NN_ISA_AVX512:
		if (d->oc % 8 == 0)
			return (struct kernels){ avx512_fwd_block, avx512_fwd1_block, avx512_dw_row8, 96, 16, 8 };
		return (struct kernels){ avx512_fwd_block, avx512_fwd1_block, avx2_dw_row, 96, 8, 4 };
	case NN_ISA_AVX2:
		return (struct kernels){ avx2_fwd_block, avx2_fwd1_block, avx2_dw_row, 24, 8, 4 };
	default:
		return (struct kernels){ generic_fwd_block, generic_fwd1_block, generic_dw_row, 12, 4, 4 };
	}
}

/* ---- geometry ------------------------------------------------------------ */

struct flat {
	int g;            /* images per group */
	size_t wp, hp;    /* padded row length, rows per image */
	size_t base;      /* offset of pixel (0, 0, 0) */
	size_t len;       /* flat positions of a group: G·Hp·Wp */
	size_t s;         /* floats per plane */
	int taps;         /* 9 (3×3) or 1 (1×1) */
	long off[TAPS];   /* offset of each tap */
};

static size_t round_up(size_t x, size_t m)
{
	return (x + m - 1) / m * m;
}

/*
 * Zero floats in front of pixel (0, 0, 0): a zero row and column, rounded so
 * it is aligned, and two vectors more, so the aligned loads around a tap of
 * the first row (avx512_dw_row8) stay in the plane; as many behind the last.
 */
#define PLANE_SLACK 32

/* 1×1 layers read no neighbours: their planes are the images packed densely. */
static size_t pad_of(const struct conv2d_dims *d)
{
	return d->k == 3;
}

static size_t front(const struct conv2d_dims *d)
{
	return pad_of(d) ? round_up((size_t)d->w + 2, 16) + PLANE_SLACK : 0;
}

static size_t plane_floats(const struct conv2d_dims *d, int g)
{
	size_t wp = (size_t)d->w + pad_of(d), len = (size_t)g * (d->h + pad_of(d)) * wp;
	size_t back = pad_of(d) ? wp + 1 + 16 + PLANE_SLACK : 0;
	return round_up(front(d) + round_up(len, MAX_BLOCK_J) + back, 16);
}

/* Channels of flat planes a thread holds: input, output (or input gradient), output gradient. */
static size_t planes(const struct conv2d_dims *d)
{
	return (size_t)d->c + (size_t)(d->c > d->oc ? d->c : d->oc) + (size_t)d->oc;
}

/*
 * Images per group: enough for GROUP_LEN flat positions, so the vector
 * loops run long and little is lost to rounding, unless the planes would
 * pass GROUP_BUDGET floats; then evened out over a thread's images.
 */
static int group_images(const struct conv2d_dims *d, int nth)
{
	size_t per_thread = ((size_t)d->n + (size_t)nth - 1) / (size_t)nth;
	size_t img = (size_t)(d->h + pad_of(d)) * (d->w + pad_of(d));
	size_t g = (GROUP_LEN + img - 1) / img;
	if (g > per_thread)
		g = per_thread;
	while (g > 1 && planes(d) * plane_floats(d, (int)g) > GROUP_BUDGET)
		g--;
	return (int)conv_even_group(per_thread, g < 1 ? 1 : g);
}

static struct flat flat_of(const struct conv2d_dims *d, int nth)
{
	struct flat f = { .wp = (size_t)d->w + pad_of(d), .hp = (size_t)d->h + pad_of(d),
			  .taps = d->k * d->k };
	f.g = group_images(d, nth);
	f.base = front(d);
	f.len = (size_t)f.g * f.hp * f.wp;
	f.s = plane_floats(d, f.g);
	f.off[0] = 0;
	for (int t = 0; f.taps == TAPS && t < TAPS; t++)
		f.off[t] = (long)(t / 3 - 1) * (long)f.wp + (t % 3 - 1);
	return f;
}

int conv_direct_supported(const struct conv2d_dims *d)
{
	int shape = (d->k == 3 && d->pad == 1) || (d->k == 1 && d->pad == 0);
	return shape && d->stride == 1 && d->oc % BLOCK_O == 0;
}

int conv_direct_supported_weights(const struct conv2d_dims *d)
{
	return conv_direct_supported(d) && d->k == 3;
}

int conv_direct_supported_dinp(const struct conv2d_dims *d)
{
	return conv_direct_supported(d) && d->c % BLOCK_O == 0;
}

/* Whether OpenBLAS runs its AVX-512 sgemm kernels. */
static int blas_is_wide(void)
{
	const char *core = blas_core_name();
	return strcmp(core, "SkylakeX") == 0 || strcmp(core, "Cooperlake") == 0 ||
	       strcmp(core, "SapphireRapids") == 0;
}

/*
 * Where the direct path beats im2col + OpenBLAS (per-core rates on Zen 4
 * and 5, tests/bench): at 512 bits its 3×3 forward loop (also
 * backward-data's) up to 256 channels, or 128 against OpenBLAS's own AVX-512
 * kernels, its 1×1 loop against OpenBLAS's AVX2 kernels only, and its
 * weight-gradient loop up to 128 input channels; at 256 bits 3×3 layers up
 * to 32 channels, the weight gradient up to 16 against AVX-512 OpenBLAS.
 */
static int direct_wins_forward(const struct conv2d_dims *d, int c, int oc)
{
	int widest = c > oc ? c : oc;
	switch (nn_isa()) {
	case NN_ISA_AVX512:
		if (d->k == 1)
			return !blas_is_wide();
		return widest <= (blas_is_wide() ? 128 : 256);
	case NN_ISA_AVX2: return d->k == 3 && widest <= 32;
	default: return 0; /* the portable loops are for tests and odd CPUs */
	}
}

static int direct_wins_weights(int c)
{
	switch (nn_isa()) {
	case NN_ISA_AVX512: return c <= 128;
	case NN_ISA_AVX2: return c <= (blas_is_wide() ? 16 : 32);
	default: return 0;
	}
}

int conv_direct_use_forward(const struct conv2d_dims *d)
{
	return conv_direct_enabled() && conv_direct_supported(d) && direct_wins_forward(d, d->c, d->oc);
}

int conv_direct_use_dinp(const struct conv2d_dims *d)
{
	return conv_direct_enabled() && conv_direct_supported_dinp(d) &&
	       direct_wins_forward(d, d->oc, d->c);
}

int conv_direct_use_weights(const struct conv2d_dims *d)
{
	return conv_direct_enabled() && conv_direct_supported_weights(d) && direct_wins_weights(d->c);
}

static size_t weights(const struct conv2d_dims *d)
{
	return (size_t)d->oc * d->c * (size_t)(d->k * d->k);
}

/* A thread's share of the workspace, rounded to whole cache lines: the flat
   planes, the packed weights (both orders), the weight and bias partials. */
static size_t thread_floats(const struct conv2d_dims *d, const struct flat *f)
{
	return round_up(planes(d) * f->s + 3 * weights(d) + (size_t)d->oc, 16);
}

size_t conv_direct_work_floats(const struct conv2d_dims *d, int nth)
{
	struct flat f = flat_of(d, nth);
	return thread_floats(d, &f) * (size_t)nth + 16;
}

/* ---- packing --------------------------------------------------------------- */

/* Planes (C of stride s) ← images [0, gn) of src (C,H,W each); pads and tail zero. */
static void pack_flat(float *dst, const float *src, int gn, int c, const struct conv2d_dims *d,
		      const struct flat *f)
{
	const size_t hw = (size_t)d->h * d->w;
	for (int ch = 0; ch < c; ch++) {
		float *p = dst + (size_t)ch * f->s;
		for (size_t j = 0; j < f->base; j++)
			p[j] = 0.0f;
		p += f->base;
		for (int g = 0; g < gn; g++) {
			const float *img = src + ((size_t)g * c + ch) * hw;
			if (f->taps == 1) { /* dense */
				for (size_t j = 0; j < hw; j++)
					p[j] = img[j];
				p += hw;
				continue;
			}
			for (int y = 0; y < d->h; y++, p += f->wp) {
				for (int x = 0; x < d->w; x++)
					p[x] = img[(size_t)y * d->w + x];
				p[d->w] = 0.0f;
			}
			for (size_t x = 0; x < f->wp; x++) /* the zero row below */
				p[x] = 0.0f;
			p += f->wp;
		}
		for (float *end = dst + (size_t)(ch + 1) * f->s; p < end; p++)
			*p = 0.0f;
	}
}

/* Images [0, gn) of dst (C,H,W each) ← (or += when accumulate) the planes, plus bias. */
static void unpack_flat(float *dst, const float *src, int gn, int c, const float *bias,
			int accumulate, const struct conv2d_dims *d, const struct flat *f)
{
	for (int ch = 0; ch < c; ch++) {
		const float b = bias ? bias[ch] : 0.0f;
		for (int g = 0; g < gn; g++) {
			float *img = dst + ((size_t)g * c + ch) * d->h * d->w;
			const float *p = src + (size_t)ch * f->s + f->base + (size_t)g * f->hp * f->wp;
			for (int y = 0; y < d->h; y++) {
				float *o = img + (size_t)y * d->w;
				const float *r = p + (size_t)y * f->wp;
				if (accumulate)
					for (int x = 0; x < d->w; x++)
						o[x] += r[x];
				else
					for (int x = 0; x < d->w; x++)
						o[x] = r[x] + b;
			}
		}
	}
}

/*
 * dst[rb][o][t][q] = w[(rb·4 + q)·row_stride + o·other_stride + t]: blocks of 4
 * rows (the loop's output channels) by every other index and tap.
 */
static void pack_blocks(float *dst, const float *w, int rows, size_t row_stride, int others,
			size_t other_stride, int nt)
{
	for (int rb = 0; rb < rows / BLOCK_O; rb++)
		for (int o = 0; o < others; o++)
			for (int t = 0; t < nt; t++)
				for (int q = 0; q < BLOCK_O; q++)
					dst[(((size_t)rb * others + o) * nt + t) * BLOCK_O + q] =
						w[((size_t)rb * BLOCK_O + q) * row_stride +
						  (size_t)o * other_stride + (size_t)t];
}

/* The forward loop's order: wp[ob][c][t][q] = w[ob·4 + q][c][t]. */
static void pack_weights(float *wp, const float *w, const struct conv2d_dims *d)
{
	const int nt = d->k * d->k;
	pack_blocks(wp, w, d->oc, (size_t)d->c * nt, d->c, (size_t)nt, nt);
}

/* Backward-data's (C and OC swapped): wt[cb][o][t][q] = w[o][cb·4 + q][t]. */
static void pack_weights_transposed(float *wt, const float *w, const struct conv2d_dims *d)
{
	const int nt = d->k * d->k;
	pack_blocks(wt, w, d->c, (size_t)nt, d->oc, (size_t)d->c * nt, nt);
}

/* ---- per-thread work ------------------------------------------------------------ */

struct direct_task {
	float *out, *dinp, *dweight, *dbias, *work;
	const float *inp, *weight, *bias, *dout;
	const struct conv2d_dims *d;
	struct flat f;
	struct kernels k;
};

struct thread_buf {
	float *in, *out, *dout, *wfwd, *wbwd, *dw, *db;
};

static struct thread_buf thread_buf(const struct direct_task *t, int tid)
{
	const struct conv2d_dims *d = t->d;
	/* Planes start on a cache line (s and base are multiples of 16 floats), so the
	   loops' output-gradient loads and their stores are aligned. */
	float *work = (float *)round_up((size_t)t->work, 64);
	struct thread_buf b;
	b.in = work + thread_floats(d, &t->f) * (size_t)tid;
	b.out = b.in + (size_t)d->c * t->f.s;
	b.dout = b.out + (size_t)(d->c > d->oc ? d->c : d->oc) * t->f.s;
	b.wfwd = b.dout + (size_t)d->oc * t->f.s;
	b.wbwd = b.wfwd + weights(d);
	b.dw = b.wbwd + weights(d);
	b.db = b.dw + weights(d);
	return b;
}

/* out planes (n_out channels) = the tap sums of in planes (n_in) with packed weights w. */
static void conv_planes(const struct direct_task *t, float *out, const float *in, const float *w,
			int n_in, int n_out, const long *off)
{
	const struct flat *f = &t->f;
	const size_t len = round_up(f->len, t->k.block_j);
	const fwd_block_fn block = f->taps == 1 ? t->k.fwd1_block : t->k.fwd_block;
	for (int ob = 0; ob < n_out / BLOCK_O; ob++)
		for (size_t j0 = 0; j0 < len; j0 += t->k.block_j)
			block(out + (size_t)ob * BLOCK_O * f->s + f->base, in + f->base, f->s,
			      w + (size_t)ob * n_in * f->taps * BLOCK_O, n_in, off, j0);
}

static void direct_forward_groups(void *arg, int tid, int nth)
{
	const struct direct_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const size_t in_size = (size_t)d->c * d->h * d->w, out_size = (size_t)d->oc * d->h * d->w;
	struct thread_buf b = thread_buf(t, tid);
	pack_weights(b.wfwd, t->weight, d);
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i0 = lo; i0 < hi; i0 += (size_t)t->f.g) {
		int gn = (int)(hi - i0 < (size_t)t->f.g ? hi - i0 : (size_t)t->f.g);
		pack_flat(b.in, t->inp + i0 * in_size, gn, d->c, d, &t->f);
		conv_planes(t, b.out, b.in, b.wfwd, d->c, d->oc, t->f.off);
		unpack_flat(t->out + i0 * out_size, b.out, gn, d->oc, t->bias, 0, d, &t->f);
	}
}

void conv_direct_forward(struct pool *p, float *out, float *work, const float *inp,
			 const float *weight, const float *bias, const struct conv2d_dims *d)
{
	struct direct_task t = { .out = out, .work = work, .inp = inp, .weight = weight,
				 .bias = bias, .d = d, .f = flat_of(d, pool_threads(p)),
				 .k = kernels(d) };
	pool_run(p, direct_forward_groups, &t);
}

/* dw partial += the group's weight gradient; db partial += its bias gradient. */
static void group_weight_grad(const struct direct_task *t, const struct thread_buf *b)
{
	const struct conv2d_dims *d = t->d;
	const struct flat *f = &t->f;
	const size_t len = round_up(f->len, t->k.dw_vw), stride = (size_t)d->c * TAPS;
	const int bo = t->k.dw_o;
	for (int ob = 0; t->dweight && ob < d->oc / bo; ob++) {
		const float *dout = b->dout + (size_t)ob * bo * f->s + f->base;
		for (int c = 0; c < d->c; c++) {
			float *dw = b->dw + (size_t)ob * bo * stride + (size_t)c * TAPS;
			const float *x = b->in + (size_t)c * f->s + f->base;
			for (int ky = 0; ky < 3; ky++)
				t->k.dw_row(dw + ky * 3, stride, dout, f->s,
					    x + (long)(ky - 1) * (long)f->wp, len);
		}
	}
	if (!t->dbias)
		return;
	for (int o = 0; o < d->oc; o++) {
		const float *r = b->dout + (size_t)o * f->s + f->base;
		float sum = 0.0f;
		for (size_t j = 0; j < f->len; j++)
			sum += r[j];
		b->db[o] += sum;
	}
}

static void direct_backward_groups(void *arg, int tid, int nth)
{
	const struct direct_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const size_t in_size = (size_t)d->c * d->h * d->w, out_size = (size_t)d->oc * d->h * d->w;
	struct thread_buf b = thread_buf(t, tid);
	long back[TAPS];
	for (int i = 0; i < TAPS; i++)
		back[i] = -t->f.off[i];
	memset(b.dw, 0, (weights(d) + (size_t)d->oc) * sizeof(float));
	if (t->dinp)
		pack_weights_transposed(b.wbwd, t->weight, d);
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i0 = lo; i0 < hi; i0 += (size_t)t->f.g) {
		int gn = (int)(hi - i0 < (size_t)t->f.g ? hi - i0 : (size_t)t->f.g);
		pack_flat(b.dout, t->dout + i0 * out_size, gn, d->oc, d, &t->f);
		if (t->dweight || t->dbias) {
			if (t->dweight)
				pack_flat(b.in, t->inp + i0 * in_size, gn, d->c, d, &t->f);
			group_weight_grad(t, &b);
		}
		if (t->dinp) {
			conv_planes(t, b.out, b.dout, b.wbwd, d->oc, d->c, back);
			unpack_flat(t->dinp + i0 * in_size, b.out, gn, d->c, NULL, 1, d, &t->f);
		}
	}
}

/* dweight and dbias += the threads' partials, split by element. */
static void direct_reduce_partials(void *arg, int tid, int nth)
{
	const struct direct_task *t = arg;
	const size_t wn = weights(t->d);
	size_t lo, hi;
	pool_split(wn + (size_t)t->d->oc, tid, nth, &lo, &hi);
	for (int s = 0; s < nth; s++)
		conv_add_partial(t->dweight, t->dbias, wn, thread_buf(t, s).dw, lo, hi);
}

void conv_direct_backward(struct pool *p, float *dinp, float *dweight, float *dbias, float *work,
			  const float *dout, const float *inp, const float *weight,
			  const struct conv2d_dims *d)
{
	struct direct_task t = { .dinp = dinp, .dweight = dweight, .dbias = dbias, .work = work,
				 .inp = inp, .weight = weight, .dout = dout, .d = d,
				 .f = flat_of(d, pool_threads(p)), .k = kernels(d) };
	pool_run(p, direct_backward_groups, &t);
	if (dweight || dbias)
		pool_run(p, direct_reduce_partials, &t);
}

static atomic_int enabled = -1;

int conv_direct_enabled(void)
{
	int on = atomic_load_explicit(&enabled, memory_order_relaxed);
	if (on < 0) {
		const char *v = getenv("BYOL_CONV");
		on = !(v && strcmp(v, "im2col") == 0);
		atomic_store_explicit(&enabled, on, memory_order_relaxed);
	}
	return on;
}

void conv_direct_enable(int on)
{
	atomic_store_explicit(&enabled, on != 0, memory_order_relaxed);
}
