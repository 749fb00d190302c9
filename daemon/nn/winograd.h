/*
 * winograd.h — Winograd F(2×2, 3×3) convolution, an alternative to the
 * im2col path of conv2d_forward/conv2d_backward for 3×3, stride 1, pad 1.
 *
 * Same semantics as those (ops.h): NCHW float32, the forward writes out, the
 * backward ACCUMULATES into dinp, dweight and dbias, any of which may be NULL;
 * the work is split over the pool's threads by images and nothing is
 * allocated. work holds conv2d_winograd_work_floats(d, pool_threads(p)) floats.
 *
 * Accuracy: the transforms are exact-coefficient (0, ±1, ±½), so every output
 * element is within τ(n)·S of the exact result, where S is the same
 * computation carried out on the absolute values of the transformed operands
 * and n counts the roundings on a term's path (see tests/ref/test_winograd.c):
 * n = C+11 forward, OC+11 backward-data, N·⌈H/2⌉·⌈W/2⌉+9 backward-weights.
 * S can exceed the direct path's Σ|w||x| (the transforms' cross terms cancel
 * only in exact arithmetic), so Winograd is an option, not a drop-in.
 */
#ifndef BYOL_NN_WINOGRAD_H
#define BYOL_NN_WINOGRAD_H

#include <stddef.h>

#include "nn/ops.h"
#include "nn/pool.h"

/* 1 if d is a 3×3, stride 1, pad 1 convolution (the only shape handled). */
int conv2d_winograd_supported(const struct conv2d_dims *d);
/* Floats of workspace the forward and backward need with nth threads. */
size_t conv2d_winograd_work_floats(const struct conv2d_dims *d, int nth);

void conv2d_winograd_forward(struct pool *p, float *out, float *work, const float *inp,
			     const float *weight, const float *bias, const struct conv2d_dims *d);
void conv2d_winograd_backward(struct pool *p, float *dinp, float *dweight, float *dbias,
			      float *work, const float *dout, const float *inp, const float *weight,
			      const struct conv2d_dims *d);

#endif
