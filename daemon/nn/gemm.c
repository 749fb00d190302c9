/*
 * gemm.c — row-major sgemm split over the pool: each thread multiplies its
 * own band of C's rows (or columns, when C is short and wide) with a
 * single-threaded OpenBLAS call.
 */
#include "nn/ops.h"

#include <cblas.h>

struct gemm_task {
	int ta, tb, m, n, k;
	float alpha, beta;
	const float *a, *b;
	float *c;
	int lda, ldb, ldc;
	int by_rows;
};

static void gemm_band(void *arg, int tid, int nth)
{
	const struct gemm_task *g = arg;
	size_t lo, hi;
	pool_split((size_t)(g->by_rows ? g->m : g->n), tid, nth, &lo, &hi);
	if (lo == hi)
		return;
	const float *a = g->a, *b = g->b;
	float *c = g->c;
	int m = g->m, n = g->n;
	if (g->by_rows) {
		a += g->ta ? lo : lo * (size_t)g->lda;
		c += lo * (size_t)g->ldc;
		m = (int)(hi - lo);
	} else {
		b += g->tb ? lo * (size_t)g->ldb : lo;
		c += lo;
		n = (int)(hi - lo);
	}
	cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
		    g->tb ? CblasTrans : CblasNoTrans, m, n, g->k, g->alpha, a, g->lda, b, g->ldb,
		    g->beta, c, g->ldc);
}

void gemm(struct pool *p, int trans_a, int trans_b, int m, int n, int k, float alpha,
	  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
	struct gemm_task g = {
		.ta = trans_a, .tb = trans_b, .m = m, .n = n, .k = k, .alpha = alpha, .beta = beta,
		.a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc,
	};
	int nth = pool_threads(p);
	if (nth == 1 || (double)m * n * k < 65536.0) {
		gemm_band(&g, 0, 1);
		return;
	}
	g.by_rows = m >= n || m >= 16 * nth;
	pool_run(p, gemm_band, &g);
}
