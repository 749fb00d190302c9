/*
 * conv_direct.h — direct 3×3 and 1×1 stride-1 convolutions without im2col (conv_direct.c).
 *
 * conv2d_forward/backward (ops.h) take this path for the layers and
 * directions where it is faster (conv_direct_use_*), unless it is switched
 * off (BYOL_CONV=im2col, or conv_direct_enable(0)); same semantics as theirs.
 */
#ifndef BYOL_NN_CONV_DIRECT_H
#define BYOL_NN_CONV_DIRECT_H

#include "nn/ops.h"

/* 3×3 pad 1 or 1×1 pad 0, stride 1, output channels a multiple of 4 (and, for
   dinp, input channels too); the weight gradient for 3×3 only (dweight must be
   NULL otherwise). */
int conv_direct_supported(const struct conv2d_dims *d);
int conv_direct_supported_dinp(const struct conv2d_dims *d);
int conv_direct_supported_weights(const struct conv2d_dims *d);
/* Whether conv2d_* may use the direct path at all (default yes). */
int conv_direct_enabled(void);
void conv_direct_enable(int on);
/* Whether conv2d_* take it for this layer's forward, input gradient, weight gradient:
   enabled, supported, and faster than im2col on this CPU and OpenBLAS core. */
int conv_direct_use_forward(const struct conv2d_dims *d);
int conv_direct_use_dinp(const struct conv2d_dims *d);
int conv_direct_use_weights(const struct conv2d_dims *d);

/* dweight[j] += part[j] for j < wn and dbias[j − wn] += part[j] beyond, j in
   [lo, hi): one thread's partial sums (weights then bias) added in (conv.c). */
void conv_add_partial(float *dweight, float *dbias, size_t wn, const float *part, size_t lo,
		      size_t hi);

/* At most g images per group, in as many groups of equal size as that
   takes for n images, so no group at the end is short (conv.c). */
size_t conv_even_group(size_t n, size_t g);

size_t conv_direct_work_floats(const struct conv2d_dims *d, int nth);
void conv_direct_forward(struct pool *p, float *out, float *work, const float *inp,
			 const float *weight, const float *bias, const struct conv2d_dims *d);
void conv_direct_backward(struct pool *p, float *dinp, float *dweight, float *dbias, float *work,
			  const float *dout, const float *inp, const float *weight,
			  const struct conv2d_dims *d);

#endif
