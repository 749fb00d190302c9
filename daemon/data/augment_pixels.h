/*
 * augment_pixels.h — private to augment*.c: the per-pixel ops augment_apply
 * runs after the crop + resize, on x (C, size, size) floats in [0, 1] with
 * planes of n = size² floats. Semantics in augment.h.
 */
#ifndef BYOL_AUGMENT_PIXELS_H
#define BYOL_AUGMENT_PIXELS_H

#include <stddef.h>

#include "data/augment.h"

/* The colour jitter group: d's four ops in d->order, each clipped to [0, 1]. */
void augment_jitter(float *x, int c, size_t n, const struct augment_draw *d);
/* Luminance 0.2989 R + 0.5870 G + 0.1140 B into the three planes. */
void augment_grayscale(float *x, size_t n);
/* Floats of scratch augment_blur needs for this output side. */
size_t augment_blur_floats(int size);
/* Gaussian blur of each plane: 2·int(size/20) + 1 taps, reflect padding. */
void augment_blur(float *x, float *scratch, int c, int size, float sigma);
/* x ≥ 0.5 → 1 − x over len floats. */
void augment_solarize(float *x, size_t len);
/* (x − mean[c]) / std[c] per plane. */
void augment_normalise(float *x, int c, size_t n, const float *mean, const float *std);

#endif
