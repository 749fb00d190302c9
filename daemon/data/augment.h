/*
 * augment.h — BYOL's image augmentations (Grill et al. 2020: T for view 1, T' for view 2): one
 * random view of a source image, as float32 CHW normalised by the dataset's
 * mean and std, and the unaugmented centre view used for evaluation.
 *
 * Work is split in two so that every random choice is visible and testable:
 *
 *   augment_draw   draws ALL parameters of one view from an RNG stream into a
 *                  struct augment_draw (crop box, flip, jitter factors and
 *                  order, grayscale, blur sigma, solarize);
 *   augment_apply  applies a draw to an image. It is deterministic and does
 *                  not allocate: the caller passes an output buffer and a
 *                  scratch buffer of augment_scratch_floats() floats.
 *
 * The stream of one (seed, epoch, image index, view) comes from augment_rng,
 * so a view can be recomputed from its coordinates alone, whatever the order
 * or the thread in which images are processed, and a resumed run sees the
 * same views as an uninterrupted one.
 *
 * Example — view 1 of image i in epoch e, 32×32 output:
 *
 *	struct augment_view v1;
 *	struct augment_draw d;
 *	augment_view_default(&v1, 1);
 *	struct rng r = augment_rng(seed, e, i, 1);
 *	augment_draw(&d, &v1, img.h, img.w, &r);
 *	augment_apply(out, scratch, &img, &d, 32, mean, std);
 *
 * Pipeline of augment_apply, in this order (images have C = 1 or 3):
 *   1. crop the box, resize it to size×size: bicubic (Keys, a = −0.75),
 *      source coordinate scale·(x + 0.5) − 0.5 with source indices clamped
 *      to the box — torch's upsample_bicubic2d with align_corners=False, as
 *      torchvision's resize with antialias=False; then clip to [0,1]
 *      (bicubic overshoots; BYOL's TF pipeline clips after its resize);
 *   2. horizontal flip;
 *   3. colour jitter (if drawn), its four ops in d->order, each followed by a
 *      clip to [0,1]: brightness x + δ; contrast (x − m_c)·f + m_c with m_c
 *      the channel's mean (TF adjust_contrast); saturation f·x + (1 − f)·gray;
 *      hue: RGB → HSV, h += shift (mod 1), → RGB;
 *   4. grayscale: 0.2989 R + 0.5870 G + 0.1140 B into every channel;
 *   5. Gaussian blur: kernel 2·int(size/20) + 1 taps of exp(−x²/2σ²),
 *      normalised, separable, reflect padding (no blur when that is 1 tap);
 *   6. solarize: x ≥ 0.5 → 1 − x;
 *   7. normalise: (x − mean[c]) / std[c].
 * On 1-channel images saturation, hue and grayscale are identities.
 */
#ifndef BYOL_AUGMENT_H
#define BYOL_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "err.h"
#include "rng.h"

#define AUGMENT_MAX_SIZE 1024 /* largest output side (the job spec's image_size bound) */

/* One VIEW of the job spec's "augment" object (byol-spec(5)). */
struct augment_view {
	float scale[2], ratio[2];  /* crop area fraction and aspect ratio (w/h) ranges */
	float flip;                /* probability */
	float jitter_p;            /* probability of the colour jitter group */
	float brightness;          /* δ ~ U(−b, b), additive */
	float contrast;            /* factor ~ U(max(0, 1 − c), 1 + c) */
	float saturation;          /* factor ~ U(max(0, 1 − s), 1 + s) */
	float hue;                 /* shift ~ U(−h, h) of the hue circle, h ≤ 0.5 */
	float grayscale;           /* probability */
	float blur_p, sigma[2];    /* probability, σ ~ U(sigma[0], sigma[1]) */
	float solarize;            /* probability */
};

/* The colour jitter ops, as numbered in augment_draw.order. */
enum augment_jitter_op {
	AUGMENT_BRIGHTNESS,
	AUGMENT_CONTRAST,
	AUGMENT_SATURATION,
	AUGMENT_HUE,
};

/*
 * Every random choice for one image and view. The jitter factors and order
 * are drawn and recorded even when jitter is 0 (they are then unused).
 */
struct augment_draw {
	int crop_x, crop_y, crop_w, crop_h; /* box in source pixels */
	int flip;
	int jitter;                         /* apply the jitter group */
	float brightness, contrast, saturation, hue;
	int order[4];                       /* enum augment_jitter_op, in application order */
	int grayscale;
	float sigma;                        /* blur σ; 0 = no blur */
	int solarize;
};

/*
 * Number of RNG draws augment_draw consumes, always, whatever the coins say:
 * crop 10 attempts × (area, log-ratio) + top + left = 22; flip 1; jitter
 * coin, brightness, contrast, saturation, hue, 3 for the permutation = 8;
 * grayscale 1; blur coin, σ = 2; solarize 1.
 */
#define AUGMENT_DRAWS 35

/* The paper's parameters: view 1 (blur p 1.0, solarize 0) or view 2 (blur p 0.1, solarize 0.2). */
void augment_view_default(struct augment_view *v, int view);

/*
 * Check v's bounds: 0 < scale[0] ≤ scale[1] ≤ 1, 0 < ratio[0] ≤ ratio[1],
 * probabilities in [0, 1], brightness, contrast and saturation ≥ 0,
 * 0 ≤ hue ≤ 0.5, 0 < sigma[0] ≤ sigma[1]. Returns 0 or ERR_RANGE with the
 * field named in e. augment_draw assumes a view that passes.
 */
int augment_view_check(const struct augment_view *v, struct err *e);

/*
 * The RNG stream of (seed, epoch, image index, view): a stream keyed by seed
 * and an "augment" domain tag, forked by epoch, then index, then view. The
 * domain tag keeps it apart from other users of the seed (init, shuffling).
 */
struct rng augment_rng(uint64_t seed, uint64_t epoch, uint64_t index, int view);

/*
 * Draw all parameters of view v for a source image of h×w (h, w ≥ 1) from r.
 * Exactly AUGMENT_DRAWS values are taken from r, in this fixed order, each
 * whether or not it ends up used, so no parameter depends on an earlier coin
 * or on how many crop attempts were needed:
 *   1. crop: 10 attempts of (area fraction ~ U(scale), log ratio ~
 *      U(log ratio)), w = round(√(area·ratio)), h = round(√(area/ratio))
 *      (half to even, as Python's round), the first with 0 < w ≤ W and
 *      0 < h ≤ H wins; then top ~ U{0..H−h}, left ~ U{0..W−w}. If no attempt
 *      fits, torchvision's fallback: a central crop with the image's ratio
 *      clamped to the range. (torchvision's RandomResizedCrop.get_params.)
 *   2. flip coin;
 *   3. jitter coin, brightness, contrast, saturation, hue, and a uniform
 *      permutation of the four ops (Fisher–Yates, 3 draws);
 *   4. grayscale coin;
 *   5. blur coin, σ;
 *   6. solarize coin.
 * A coin with probability p is u < p for u ~ U[0, 1).
 */
void augment_draw(struct augment_draw *d, const struct augment_view *v, int h, int w,
		  struct rng *r);

/* The evaluation view's draw: centre crop (side = round(short edge·224/256)
 * when the short edge is > 64 px, else the whole image), no other op. */
void augment_center_draw(struct augment_draw *d, int h, int w);

/*
 * DCT-domain scaling (dataset_load_scaled): the smallest M in
 * 1..AUGMENT_MAX_DECODE_SCALE at which d's box of an h×w image, mapped into
 * the image decoded at M/8 (augment_scale_draw), is still at least size
 * pixels in both dimensions; 8 (full size, no scaling) when none is, e.g. for
 * a box under twice the size. M stops at 4 because libjpeg-turbo's IDCTs of
 * 5..7 (and their chroma at 10..14) have no SIMD code: on 500×375 q90 4:2:0
 * files, decoding at 5/8..7/8 took 1.1–1.7× the full decode's time, at 4/8
 * 0.8×, at 1/8 0.6× (Huffman decoding, the same at every scale, is the rest).
 * The box itself was drawn on the native size, so the draws do not depend on
 * the scale: only the resolution the crop is resized from does.
 */
#define AUGMENT_MAX_DECODE_SCALE 4
int augment_decode_scale(const struct augment_draw *d, int h, int w, int size);

/* Map d's box from an h×w image into the image decoded at scale/8 (h and w
 * per dataset_scaled_side): each edge u → round(u·scale/8), halves up, kept
 * inside and at least 1 pixel wide. scale 8 leaves d as it is. */
void augment_scale_draw(struct augment_draw *d, int h, int w, int scale);

/* Floats of scratch augment_apply and augment_center need for this output size and image. */
size_t augment_scratch_floats(int size, const struct image *img);

/*
 * Apply draw d to img (C = 1 or 3) into out (C, size, size), normalised by
 * mean[C] and std[C]; 1 ≤ size ≤ AUGMENT_MAX_SIZE, d's box inside the image.
 * scratch holds augment_scratch_floats(size, img) floats. No allocation;
 * safe to call from several threads with their own out and scratch.
 */
void augment_apply(float *out, float *scratch, const struct image *img,
		   const struct augment_draw *d, int size, const float *mean, const float *std);

/* Evaluation view: augment_center_draw, then augment_apply. */
void augment_center(float *out, float *scratch, const struct image *img, int size,
		    const float *mean, const float *std);

#endif
