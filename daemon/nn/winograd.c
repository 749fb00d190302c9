/*
 * winograd.c — Winograd F(2×2, 3×3) for 3×3, stride 1, pad 1 convolutions.
 *
 * A plane of H×W is cut into ⌈H/2⌉×⌈W/2⌉ output tiles of 2×2; tile (ty, tx)
 * reads the 4×4 input window at rows 2ty−1.., columns 2tx−1.. (zero outside
 * the plane: that is the padding, and the partial tiles of odd sides). With
 *
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
 *   G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]        Aᵀ = [1 1 1 0; 0 1 −1 −1]
 *
 * the forward is Y = Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A: the weights are
 * transformed once per call into U[ξ][OC][C] (ξ = the 16 positions of a 4×4
 * tile), each thread transforms its images' tiles into V[ξ][C][tiles], runs
 * 16 sgemms M_ξ = U_ξ·V_ξ and folds M back with Aᵀ·A into the output. The
 * transforms are fused into the packing and scattering loops; they work on a
 * tile row at a time, the input columns split into even and odd so that
 * every loop is contiguous (and vectorised by the compiler).
 *
 * Backward-data is the same computation on dout with the weights flipped and
 * transposed (the adjoint of a 3×3 pad-1 conv is one), accumulated into dinp.
 * Backward-weights transforms the input tiles (Bᵀ d B) and the output
 * gradient tiles (A dY Aᵀ, the adjoint of the output transform), accumulates
 * dU_ξ += dM_ξ·V_ξᵀ per thread, and at the end reduces the threads' dU and
 * applies the adjoint of the weight transform, dW += Gᵀ dU G.
 *
 * Threads take their share of the batch in groups of G images, G chosen so
 * a group's transformed tiles stay near TILE_BUDGET floats per buffer.
 *
 * Workspace: U (16·OC·C, shared), then per thread two tile buffers
 * (16·max(C,OC)·G·tiles each), row scratch, and the dU (16·OC·C) and dbias
 * (OC) partials.
 */
#include "nn/winograd.h"

#include <cblas.h>
#include <string.h>

#ifndef TILE_BUDGET
#define TILE_BUDGET (1 << 18) /* floats of each tile buffer a group aims for */
#endif
#define XI 16                 /* positions of a transformed tile */

int conv2d_winograd_supported(const struct conv2d_dims *d)
{
	return d->k == 3 && d->stride == 1 && d->pad == 1 && d->oh == d->h && d->ow == d->w;
}

static size_t round16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

struct wino_layout {
	int th, tw;      /* tile rows and columns of a plane */
	size_t tpi;      /* tiles per image */
	int g;           /* images per group */
	size_t u;        /* floats of U */
	size_t buf;      /* floats of each tile buffer */
	size_t scratch;  /* floats of row scratch */
	size_t dw;       /* floats of the dU partial (then OC of dbias) */
	size_t per_thread;
};

static struct wino_layout layout(const struct conv2d_dims *d, int nth)
{
	struct wino_layout l = { .th = (d->h + 1) / 2, .tw = (d->w + 1) / 2 };
	l.tpi = (size_t)l.th * l.tw;
	const size_t cmax = (size_t)(d->c > d->oc ? d->c : d->oc);
	const size_t per_thread = ((size_t)d->n + (size_t)nth - 1) / (size_t)nth;
	size_t g = TILE_BUDGET / (XI * cmax * l.tpi);
	g = g < 1 ? 1 : g > per_thread ? per_thread : g;
	l.g = (int)(g ? g : 1);
	l.u = round16((size_t)XI * d->oc * d->c);
	l.buf = round16((size_t)XI * cmax * l.tpi * (size_t)l.g);
	l.scratch = round16(16 * ((size_t)l.tw + 1));
	l.dw = round16((size_t)XI * d->oc * d->c + (size_t)d->oc);
	l.per_thread = 2 * l.buf + l.scratch + l.dw;
	return l;
}

size_t conv2d_winograd_work_floats(const struct conv2d_dims *d, int nth)
{
	if (!conv2d_winograd_supported(d))
		return 0;
	struct wino_layout l = layout(d, nth);
	return l.u + l.per_thread * (size_t)nth;
}

/* ---- transforms --------------------------------------------------------- */

/*
 * u[ξ·us] ← (G g Gᵀ)[ξ] for the 3×3 g(a, b) = src[a·sa + b·sb] (sa, sb < 0 flip it).
 * Two roundings per stage: ½((g0 + g2) ± g1).
 */
static void weight_transform(float *restrict u, size_t us, const float *src, int sa, int sb)
{
	float r[4][3];
	for (int b = 0; b < 3; b++) {
		float g0 = src[b * sb], g1 = src[sa + b * sb], g2 = src[2 * sa + b * sb];
		float s = g0 + g2;
		r[0][b] = g0;
		r[1][b] = 0.5f * (s + g1);
		r[2][b] = 0.5f * (s - g1);
		r[3][b] = g2;
	}
	for (int i = 0; i < 4; i++) {
		float s = r[i][0] + r[i][2];
		u[(size_t)(4 * i + 0) * us] = r[i][0];
		u[(size_t)(4 * i + 1) * us] = 0.5f * (s + r[i][1]);
		u[(size_t)(4 * i + 2) * us] = 0.5f * (s - r[i][1]);
		u[(size_t)(4 * i + 3) * us] = r[i][2];
	}
}

/* dst[a·3 + b] += (Gᵀ dU G)[a][b] for the 4×4 du[ξ] (its adjoint). */
static void weight_transform_adjoint(float *restrict dst, const float *restrict du)
{
	float r[3][4];
	for (int j = 0; j < 4; j++) {
		float u0 = du[j], u1 = du[4 + j], u2 = du[8 + j], u3 = du[12 + j];
		float p = 0.5f * (u1 + u2);
		r[0][j] = u0 + p;
		r[1][j] = 0.5f * (u1 - u2);
		r[2][j] = p + u3;
	}
	for (int a = 0; a < 3; a++) {
		float p = 0.5f * (r[a][1] + r[a][2]);
		dst[3 * a + 0] += r[a][0] + p;
		dst[3 * a + 1] += 0.5f * (r[a][1] - r[a][2]);
		dst[3 * a + 2] += p + r[a][3];
	}
}

/* Row y of a plane split in evens e[k] = x[2k−1] and odds o[k] = x[2k], k < tw+1, zero outside. */
static void split_row(float *restrict e, float *restrict o, const float *restrict plane, int y,
		      int h, int w, int tw)
{
	const int n = tw + 1;
	if (y < 0 || y >= h) {
		for (int k = 0; k < n; k++)
			e[k] = o[k] = 0.0f;
		return;
	}
	const float *x = plane + (size_t)y * w;
	const int ne = w / 2, no = (w - 1) / 2; /* last k with 2k−1 < w, with 2k < w */
	e[0] = 0.0f;
	for (int k = 1; k <= ne; k++)
		e[k] = x[2 * k - 1];
	for (int k = ne + 1; k < n; k++)
		e[k] = 0.0f;
	for (int k = 0; k <= no; k++)
		o[k] = x[2 * k];
	for (int k = no + 1; k < n; k++)
		o[k] = 0.0f;
}

/*
 * v[ξ·vs + t] ← (Bᵀ d B)[ξ] of the tiles t = ty·tw + tx of one (H, W) plane.
 * One rounding per stage; s holds 16·(tw+1) floats.
 */
static void input_transform(float *restrict v, size_t vs, const float *restrict plane, int h,
			    int w, int th, int tw, float *restrict s)
{
	const int n = tw + 1;
	float *e = s, *o = s + 4 * n, *se = s + 8 * n, *so = s + 12 * n;
	for (int ty = 0; ty < th; ty++) {
		for (int r = 0; r < 4; r++)
			split_row(e + r * n, o + r * n, plane, 2 * ty - 1 + r, h, w, tw);
		for (int k = 0; k < n; k++) { /* Bᵀ on the rows */
			float e0 = e[k], e1 = e[n + k], e2 = e[2 * n + k], e3 = e[3 * n + k];
			float o0 = o[k], o1 = o[n + k], o2 = o[2 * n + k], o3 = o[3 * n + k];
			se[k] = e0 - e2, se[n + k] = e1 + e2, se[2 * n + k] = e2 - e1,
			se[3 * n + k] = e1 - e3;
			so[k] = o0 - o2, so[n + k] = o1 + o2, so[2 * n + k] = o2 - o1,
			so[3 * n + k] = o1 - o3;
		}
		float *vt = v + (size_t)ty * tw;
		for (int i = 0; i < 4; i++) { /* B on the columns: x[2tx−1..2tx+2] = e, o, e', o' */
			const float *ei = se + i * n, *oi = so + i * n;
			float *v0 = vt + (size_t)(4 * i) * vs, *v1 = v0 + vs, *v2 = v1 + vs,
			      *v3 = v2 + vs;
			for (int tx = 0; tx < tw; tx++) {
				v0[tx] = ei[tx] - ei[tx + 1];
				v1[tx] = oi[tx] + ei[tx + 1];
				v2[tx] = ei[tx + 1] - oi[tx];
				v3[tx] = oi[tx] - oi[tx + 1];
			}
		}
	}
}

/*
 * The output transform of one plane's tiles m[ξ·ms + t]: plane = (Aᵀ M A) + bias,
 * or plane += (Aᵀ M A) if acc. Two roundings per stage; s holds 4·tw floats.
 */
static void output_transform(float *restrict plane, const float *restrict m, size_t ms, int h,
			     int w, int th, int tw, float bias, int acc, float *restrict s)
{
	float *y00 = s, *y01 = s + tw, *y10 = s + 2 * tw, *y11 = s + 3 * tw;
	const int pairs = w / 2;
	for (int ty = 0; ty < th; ty++) {
		const float *mt = m + (size_t)ty * tw;
		for (int tx = 0; tx < tw; tx++) {
			float r0[4], r1[4];
			for (int j = 0; j < 4; j++) { /* Aᵀ on the rows */
				float m0 = mt[(size_t)j * ms + tx], m1 = mt[(size_t)(4 + j) * ms + tx];
				float m2 = mt[(size_t)(8 + j) * ms + tx], m3 = mt[(size_t)(12 + j) * ms + tx];
				r0[j] = (m0 + m1) + m2;
				r1[j] = (m1 - m2) - m3;
			}
			y00[tx] = (r0[0] + r0[1]) + r0[2];
			y01[tx] = (r0[1] - r0[2]) - r0[3];
			y10[tx] = (r1[0] + r1[1]) + r1[2];
			y11[tx] = (r1[1] - r1[2]) - r1[3];
		}
		for (int a = 0; a < 2 && 2 * ty + a < h; a++) {
			float *row = plane + (size_t)(2 * ty + a) * w;
			const float *ye = a ? y10 : y00, *yo = a ? y11 : y01;
			if (acc) {
				for (int k = 0; k < pairs; k++) {
					row[2 * k] += ye[k];
					row[2 * k + 1] += yo[k];
				}
				if (w & 1)
					row[w - 1] += ye[pairs];
			} else {
				for (int k = 0; k < pairs; k++) {
					row[2 * k] = ye[k] + bias;
					row[2 * k + 1] = yo[k] + bias;
				}
				if (w & 1)
					row[w - 1] = ye[pairs] + bias;
			}
		}
	}
}

/* A applied along a row of tiles: m0..m3 (stride ms) from the tiles' two columns a and b. */
static void dm_columns(float *restrict m0, size_t ms, const float *restrict a,
		       const float *restrict b, int tw)
{
	float *m1 = m0 + ms, *m2 = m1 + ms, *m3 = m2 + ms;
	for (int tx = 0; tx < tw; tx++) { /* A on the columns of a row (a, b) */
		m0[tx] = a[tx];
		m1[tx] = a[tx] + b[tx];
		m2[tx] = a[tx] - b[tx];
		m3[tx] = -b[tx];
	}
}

/*
 * dm[ξ·ms + t] ← (A dY Aᵀ)[ξ] of the 2×2 output-gradient tiles of one plane
 * (zero outside it): the adjoint of the output transform. One rounding per
 * stage; s holds 8·tw floats.
 */
static void dout_transform(float *restrict dm, size_t ms, const float *restrict plane, int h,
			   int w, int th, int tw, float *restrict s)
{
	float *e0 = s, *o0 = s + tw, *e1 = s + 2 * tw, *o1 = s + 3 * tw;
	float *ps = s + 4 * tw, *po = s + 5 * tw, *ms_ = s + 6 * tw, *mo = s + 7 * tw;
	const int pairs = w / 2;
	for (int ty = 0; ty < th; ty++) {
		for (int a = 0; a < 2; a++) {
			float *e = a ? e1 : e0, *o = a ? o1 : o0;
			int y = 2 * ty + a;
			if (y >= h) {
				for (int k = 0; k < tw; k++)
					e[k] = o[k] = 0.0f;
				continue;
			}
			const float *x = plane + (size_t)y * w;
			for (int k = 0; k < pairs; k++) {
				e[k] = x[2 * k];
				o[k] = x[2 * k + 1];
			}
			if (w & 1) {
				e[pairs] = x[w - 1];
				o[pairs] = 0.0f;
			}
		}
		/* A on the rows: R0 = Y0, R1 = Y0 + Y1, R2 = Y0 − Y1, R3 = −Y1 */
		for (int k = 0; k < tw; k++) {
			float a = e0[k], b = e1[k], c = o0[k], e = o1[k];
			e0[k] = a, e1[k] = -b, o0[k] = c, o1[k] = -e;
			ps[k] = a + b, po[k] = c + e, ms_[k] = a - b, mo[k] = c - e;
		}
		float *mt = dm + (size_t)ty * tw;
		dm_columns(mt, ms, e0, o0, tw);
		dm_columns(mt + 4 * ms, ms, ps, po, tw);
		dm_columns(mt + 8 * ms, ms, ms_, mo, tw);
		dm_columns(mt + 12 * ms, ms, e1, o1, tw);
	}
}

/* ---- tasks ---------------------------------------------------------------- */

struct wino_task {
	float *out, *dinp, *dweight, *dbias, *work;
	const float *inp, *weight, *bias, *dout;
	const struct conv2d_dims *d;
	struct wino_layout l;
	int flip; /* weight transform: U[ξ][OC][C] (0) or flipped, transposed U[ξ][C][OC] (1) */
};

struct wino_bufs {
	float *a, *b, *scratch, *du, *db;
};

static struct wino_bufs thread_bufs(const struct wino_task *t, int tid)
{
	struct wino_bufs b;
	b.a = t->work + t->l.u + t->l.per_thread * (size_t)tid;
	b.b = b.a + t->l.buf;
	b.scratch = b.b + t->l.buf;
	b.du = b.scratch + t->l.scratch;
	b.db = b.du + (size_t)XI * t->d->oc * t->d->c;
	return b;
}

/* U ← the transformed weights, split over the (oc, c) pairs. */
static void weights_task(void *arg, int tid, int nth)
{
	const struct wino_task *t = arg;
	const int oc_n = t->d->oc, c_n = t->d->c;
	const size_t us = (size_t)oc_n * c_n;
	size_t lo, hi;
	pool_split(us, tid, nth, &lo, &hi);
	for (size_t j = lo; j < hi; j++) {
		const size_t oc = j / (size_t)c_n, c = j % (size_t)c_n;
		const float *g = t->weight + j * 9;
		if (t->flip)
			weight_transform(t->work + c * oc_n + oc, us, g + 8, -3, -1);
		else
			weight_transform(t->work + j, us, g, 3, 1);
	}
}

static void forward_task(void *arg, int tid, int nth)
{
	const struct wino_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const struct wino_layout *l = &t->l;
	const struct wino_bufs b = thread_bufs(t, tid);
	const size_t hw = (size_t)d->h * d->w;
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i0 = lo; i0 < hi; i0 += (size_t)l->g) {
		const int gn = (int)(hi - i0 < (size_t)l->g ? hi - i0 : (size_t)l->g);
		const size_t nt = (size_t)gn * l->tpi;
		for (int g = 0; g < gn; g++)
			for (int c = 0; c < d->c; c++)
				input_transform(b.a + c * nt + g * l->tpi, (size_t)d->c * nt,
						t->inp + ((i0 + g) * d->c + c) * hw, d->h, d->w, l->th,
						l->tw, b.scratch);
		for (int xi = 0; xi < XI; xi++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->oc, (int)nt, d->c,
				    1.0f, t->work + (size_t)xi * d->oc * d->c, d->c,
				    b.a + (size_t)xi * d->c * nt, (int)nt, 0.0f,
				    b.b + (size_t)xi * d->oc * nt, (int)nt);
		for (int g = 0; g < gn; g++)
			for (int o = 0; o < d->oc; o++)
				output_transform(t->out + ((i0 + g) * d->oc + o) * hw,
						 b.b + o * nt + g * l->tpi, (size_t)d->oc * nt, d->h,
						 d->w, l->th, l->tw, t->bias ? t->bias[o] : 0.0f, 0,
						 b.scratch);
	}
}

void conv2d_winograd_forward(struct pool *p, float *out, float *work, const float *inp,
			     const float *weight, const float *bias, const struct conv2d_dims *d)
{
	struct wino_task t = { .out = out, .work = work, .inp = inp, .weight = weight,
			       .bias = bias, .d = d, .l = layout(d, pool_threads(p)) };
	pool_run(p, weights_task, &t);
	pool_run(p, forward_task, &t);
}

/* Per group: dU_t += (A dY Aᵀ)·(Bᵀ d B)ᵀ, db_t += Σ dY, dinp += the flipped conv of dY. */
static void backward_task(void *arg, int tid, int nth)
{
	const struct wino_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const struct wino_layout *l = &t->l;
	const struct wino_bufs b = thread_bufs(t, tid);
	const size_t hw = (size_t)d->h * d->w;
	if (t->dweight)
		memset(b.du, 0, sizeof(float) * (size_t)XI * d->oc * d->c);
	if (t->dbias)
		memset(b.db, 0, sizeof(float) * (size_t)d->oc);
	size_t lo, hi;
	pool_split((size_t)d->n, tid, nth, &lo, &hi);
	for (size_t i0 = lo; i0 < hi; i0 += (size_t)l->g) {
		const int gn = (int)(hi - i0 < (size_t)l->g ? hi - i0 : (size_t)l->g);
		const size_t nt = (size_t)gn * l->tpi;
		const float *dout = t->dout + i0 * d->oc * hw, *inp = t->inp + i0 * d->c * hw;
		if (t->dweight) {
			for (int g = 0; g < gn; g++) {
				for (int c = 0; c < d->c; c++)
					input_transform(b.a + c * nt + g * l->tpi, (size_t)d->c * nt,
							inp + ((size_t)g * d->c + c) * hw, d->h, d->w,
							l->th, l->tw, b.scratch);
				for (int o = 0; o < d->oc; o++)
					dout_transform(b.b + o * nt + g * l->tpi, (size_t)d->oc * nt,
						       dout + ((size_t)g * d->oc + o) * hw, d->h, d->w,
						       l->th, l->tw, b.scratch);
			}
			for (int xi = 0; xi < XI; xi++)
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->oc, d->c, (int)nt,
					    1.0f, b.b + (size_t)xi * d->oc * nt, (int)nt,
					    b.a + (size_t)xi * d->c * nt, (int)nt, 1.0f,
					    b.du + (size_t)xi * d->oc * d->c, d->c);
		}
		if (t->dbias)
			for (int g = 0; g < gn; g++)
				for (int o = 0; o < d->oc; o++) {
					const float *x = dout + ((size_t)g * d->oc + o) * hw;
					float s = 0.0f;
					for (size_t j = 0; j < hw; j++)
						s += x[j];
					b.db[o] += s;
				}
		if (!t->dinp)
			continue;
		for (int g = 0; g < gn; g++)
			for (int o = 0; o < d->oc; o++)
				input_transform(b.a + o * nt + g * l->tpi, (size_t)d->oc * nt,
						dout + ((size_t)g * d->oc + o) * hw, d->h, d->w, l->th,
						l->tw, b.scratch);
		for (int xi = 0; xi < XI; xi++)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->c, (int)nt, d->oc,
				    1.0f, t->work + (size_t)xi * d->oc * d->c, d->oc,
				    b.a + (size_t)xi * d->oc * nt, (int)nt, 0.0f,
				    b.b + (size_t)xi * d->c * nt, (int)nt);
		for (int g = 0; g < gn; g++)
			for (int c = 0; c < d->c; c++)
				output_transform(t->dinp + ((i0 + g) * d->c + c) * hw,
						 b.b + c * nt + g * l->tpi, (size_t)d->c * nt, d->h,
						 d->w, l->th, l->tw, 0.0f, 1, b.scratch);
	}
}

/* dweight += Gᵀ (Σ_threads dU_t) G and dbias += Σ_threads db_t, split by (oc, c) pair. */
static void reduce_task(void *arg, int tid, int nth)
{
	const struct wino_task *t = arg;
	const struct conv2d_dims *d = t->d;
	const size_t pairs = (size_t)d->oc * d->c;
	size_t lo, hi;
	pool_split(pairs + (size_t)d->oc, tid, nth, &lo, &hi);
	for (size_t j = lo; j < hi; j++) {
		if (j >= pairs) {
			if (!t->dbias)
				continue;
			float s = 0.0f;
			for (int k = 0; k < nth; k++)
				s += thread_bufs(t, k).db[j - pairs];
			t->dbias[j - pairs] += s;
			continue;
		}
		if (!t->dweight)
			continue;
		float du[XI];
		for (int xi = 0; xi < XI; xi++) {
			float s = 0.0f;
			for (int k = 0; k < nth; k++)
				s += thread_bufs(t, k).du[(size_t)xi * pairs + j];
			du[xi] = s;
		}
		weight_transform_adjoint(t->dweight + j * 9, du);
	}
}

void conv2d_winograd_backward(struct pool *p, float *dinp, float *dweight, float *dbias,
			      float *work, const float *dout, const float *inp, const float *weight,
			      const struct conv2d_dims *d)
{
	struct wino_task t = { .dinp = dinp, .dweight = dweight, .dbias = dbias, .work = work,
			       .inp = inp, .weight = weight, .dout = dout, .d = d,
			       .l = layout(d, pool_threads(p)), .flip = 1 };
	if (!dinp && !dweight && !dbias)
		return;
	if (dinp)
		pool_run(p, weights_task, &t);
	pool_run(p, backward_task, &t);
	if (dweight || dbias)
		pool_run(p, reduce_task, &t);
}
