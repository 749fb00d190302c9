/*
 * ops.h — the kernels of the compute core: float32, NCHW, forward and backward.
 *
 * Conventions (after llm.c): outputs first, then cached values and workspace,
 * then inputs and weights, dimensions last. A `d` prefix is dL/dx. Backward
 * kernels ACCUMULATE (+=) into every gradient they write (dinp, dweight,
 * dbias), so the caller zeroes gradients once per step and fan-out needs no
 * special case; a NULL gradient pointer skips that gradient. Every kernel
 * splits its work over the pool's threads; none allocates.
 */
#ifndef BYOL_NN_OPS_H
#define BYOL_NN_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/pool.h"
#include "nn/replica.h"

/* ---- GEMM ------------------------------------------------------------- */

/* Row-major C[m×n] = alpha·op(A)·op(B) + beta·C, split over the pool's threads. */
void gemm(struct pool *p, int trans_a, int trans_b, int m, int n, int k, float alpha,
	  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- conv2d ----------------------------------------------------------- */

/* Square kernel, symmetric zero padding, no groups or dilation. */
struct conv2d_dims {
	int n, c, h, w;    /* input (N,C,H,W) */
	int oc, k, stride, pad;
	int oh, ow;        /* output (N,OC,OH,OW), set by conv2d_dims_init */
	int winograd;      /* 1: 3×3 stride-1 layers by Winograd F(2×2,3×3) (nn/winograd.h);
			      0 (conv2d_dims_init's): the exact paths */
};

/* Fill d and compute the output size; returns -1 if the output would be empty. */
int conv2d_dims_init(struct conv2d_dims *d, int n, int c, int h, int w, int oc, int k, int stride,
		     int pad);
/* Floats of workspace conv2d_forward/backward need with nth threads. */
size_t conv2d_work_floats(const struct conv2d_dims *d, int nth);
/* Multiply-add FLOPs of the forward pass (2 per multiply-add). */
double conv2d_flops(const struct conv2d_dims *d);

/* out (N,OC,OH,OW) = inp (N,C,H,W) ⋆ weight (OC,C,K,K) + bias (OC) or NULL. */
void conv2d_forward(struct pool *p, float *out, float *work, const float *inp,
		    const float *weight, const float *bias, const struct conv2d_dims *d);
void conv2d_backward(struct pool *p, float *dinp, float *dweight, float *dbias, float *work,
		     const float *dout, const float *inp, const float *weight,
		     const struct conv2d_dims *d);

/* ---- batchnorm -------------------------------------------------------- */

#define BN_MOMENTUM 0.1f /* running ← (1−m)·running + m·batch: decay 0.9 */
#define BN_EPS 1e-5f

/* Doubles of workspace batchnorm_forward/backward need for c channels. */
size_t batchnorm_work_doubles(int c);

/*
 * inp/out (N,C,HW); 2-D BN has HW = H·W, 1-D BN has HW = 1 on (N,C).
 * train: normalise with the batch statistics (biased variance) reduced over
 * the replica, and update running_mean/var (unbiased variance, as PyTorch).
 * eval: normalise with the running statistics. mean and rstd (C) are saved
 * for backward in both modes.
 */
void batchnorm_forward(struct pool *p, float *out, float *mean, float *rstd, double *work,
		       const float *inp, const float *weight, const float *bias,
		       float *running_mean, float *running_var, int n, int c, int hw, int train,
		       const struct replica *r);
void batchnorm_backward(struct pool *p, float *dinp, float *dweight, float *dbias, double *work,
			const float *dout, const float *inp, const float *weight, const float *mean,
			const float *rstd, int n, int c, int hw, int train,
			const struct replica *r);

/* ---- pooling ---------------------------------------------------------- */

/* Output side of a k×k/stride pooling window with padding (floor mode). */
int pool2d_out(int in, int k, int stride, int pad);

/* out (N,C,OH,OW); argmax (N,C,OH,OW) holds each maximum's index in its input plane. */
void maxpool2d_forward(struct pool *p, float *out, int32_t *argmax, const float *inp, int n, int c,
		       int h, int w, int k, int stride, int pad);
void maxpool2d_backward(struct pool *p, float *dinp, const float *dout, const int32_t *argmax,
			int n, int c, int h, int w, int oh, int ow);

/* Global average pool: inp (N,C,HW) → out (N,C). */
void avgpool_forward(struct pool *p, float *out, const float *inp, int n, int c, int hw);
void avgpool_backward(struct pool *p, float *dinp, const float *dout, int n, int c, int hw);

/* ---- linear ----------------------------------------------------------- */

/* out (N,OUT) = inp (N,IN) · weight (OUT,IN)ᵀ + bias (OUT) or NULL. */
void linear_forward(struct pool *p, float *out, const float *inp, const float *weight,
		    const float *bias, int n, int in, int out_dim);
void linear_backward(struct pool *p, float *dinp, float *dweight, float *dbias,
		     const float *dout, const float *inp, const float *weight, int n, int in,
		     int out_dim);

/* ---- elementwise ------------------------------------------------------ */

/* out = max(inp, 0); out may alias inp. */
void relu_forward(struct pool *p, float *out, const float *inp, size_t len);
/* dinp += dout where out > 0; if dinp == dout (in place), zero it where out <= 0. */
void relu_backward(struct pool *p, float *dinp, const float *dout, const float *out, size_t len);
/* out = a + b (residual add). */
void add_forward(struct pool *p, float *out, const float *a, const float *b, size_t len);
/* dst += src: the backward of add for each operand. */
void add_backward(struct pool *p, float *dst, const float *src, size_t len);

#endif
