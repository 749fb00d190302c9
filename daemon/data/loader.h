/*
 * loader.h — background threads that decode and augment the next training
 * batches while the current step trains.
 *
 * Step k of a run belongs to epoch k / steps_per_epoch; each epoch visits the
 * images in a permutation drawn from (seed, epoch), batch after batch (the
 * last incomplete batch is dropped), and each image's two views come from
 * augment_rng(seed, epoch, index, view). A batch is therefore a function of
 * (seed, step) alone: any thread may build it, and a run resumed at step k
 * sees exactly the batches the uninterrupted run saw; replicas that each
 * build their slice of it see together the batch one process sees. Batches
 * are handed out strictly in step order from a ring of `depth` slots.
 *
 * Both views' crops are drawn on the image's native size (dataset_shape,
 * from the JPEG header) before it is decoded; with dct_scale the image is
 * then decoded once at the larger of the two views' decode scales, and the
 * crops are mapped into it: the draws are those of a full-size decode, only
 * the resolution the crops are resized from changes.
 *
 *     struct loader *l;
 *     loader_start(&l, &cfg, first_step, &err);
 *     for (...) {
 *         struct loader_batch b;
 *         if (loader_next(l, &b, &err)) break;   // a bad image under on_error "fail"
 *         byol_step(m, b.view1, b.view2, ...);
 *         loader_release(l);
 *     }
 *     loader_stop(l);
 */
#ifndef BYOL_LOADER_H
#define BYOL_LOADER_H

#include "data/augment.h"
#include "data/dataset.h"

struct loader_config {
	const struct dataset *ds;
	int batch, size;          /* (global) batch size; output side */
	int slice_lo, slice_n;    /* build only images [lo, lo + n) of each batch (a
				     replica's slice, replica.h); n = 0: all */
	int channels;             /* of the images the data set hands out */
	float mean[3], std[3];    /* normalisation per channel */
	struct augment_view view[2];
	uint64_t seed;
	int threads;              /* loader threads, ≥ 1 */
	int depth;                /* batches prepared ahead, ≥ 2 */
	int skip_bad;             /* a bad image: 1 = use the next good one, 0 = fail */
	int dct_scale;            /* 1: decode each JPEG at the smallest scale M/8 that
				     keeps both views' crops at least size pixels
				     (augment_decode_scale); 0: always at full size.
				     Images that do not scale (dataset_scalable: PNG,
				     WebP) are always decoded at full size */
};

struct loader_batch {
	long step;
	int epoch;
	const float *view1, *view2; /* slice × C × size × size each */
	const int *labels;          /* slice: the images' labels (fine-tuning) */
};

struct loader;

/* Batches per epoch for n images (n / batch, at least 1 when n ≥ batch). */
long loader_steps_per_epoch(size_t n, int batch);

int loader_start(struct loader **out, const struct loader_config *cfg, long first_step,
		 struct err *e);
/* The next step's batch, waiting for it if needed. Fails (with the file named) when
   an image is bad and skip_bad is 0. */
int loader_next(struct loader *l, struct loader_batch *b, struct err *e);
/* Give the batch returned by the last loader_next back for reuse. */
void loader_release(struct loader *l);
/* Images replaced because they could not be decoded so far (skip_bad), each
   counted once however often it was drawn. */
size_t loader_skipped(struct loader *l);
/* The first LOADER_MAX_REPORTS of those images are reported, one line each
   ("PATH: reason"): the next report not yet taken into buf and 1, or 0 when
   none is waiting. Any thread; the loader threads never log themselves. */
#define LOADER_MAX_REPORTS DATASET_LOG_MAX_NAMED
int loader_take_report(struct loader *l, char *buf, size_t size);
/* Milliseconds loader_next has spent waiting for data so far. */
double loader_wait_ms(struct loader *l);
void loader_stop(struct loader *l);

#endif
