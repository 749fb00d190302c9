/*
 * dataset_impl.h — private to daemon/data: the dataset object shared by the
 * format readers (idx.c, cifar.c, imagefolder.c) and the dispatch in
 * dataset.c, plus the helpers they share. Not part of the public API.
 */
#ifndef BYOL_DATASET_IMPL_H
#define BYOL_DATASET_IMPL_H

#include "dataset.h"

struct imagefolder; /* imagefolder.c */

struct dataset {
	enum dataset_format format;
	int channels;            /* requested output channels, 1 or 3 */
	int skip_bad;
	size_t n;                /* usable images */
	int classes;
	size_t skipped;          /* files left out at open */
	int32_t *labels;         /* (n) */
	/* IDX and CIFAR: n images of c×h×w planar bytes, one after another. */
	uint8_t *pixels;         /* (n, c, h, w) */
	int c, h, w;
	/* imagefolder only */
	struct imagefolder *folder;
};

/* Format readers: fill ds (zeroed, with format, channels and skip_bad set)
 * from cfg. On failure they may leave ds half-filled; dataset_free cleans up. */
int idx_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e);
int cifar_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e);
int imagefolder_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e);
void imagefolder_free(struct imagefolder *f);
void imagefolder_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w);
int imagefolder_load(const struct dataset *ds, size_t i, struct image *img, struct err *e);

/* "split" as a train/test choice: 1 for test, 0 for train (or NULL), -1 else. */
int dataset_split_is_test(const char *split);
/* Make img own a buffer of at least n bytes (contents not kept). */
int dataset_image_reserve(struct image *img, size_t n, struct err *e);
/* Send one log line to the process-wide logger (printf-style). */
void dataset_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Luminance 0.299 R + 0.587 G + 0.114 B rounded half up, in integers. */
static inline uint8_t dataset_luma(unsigned r, unsigned g, unsigned b)
{
	return (uint8_t)((299 * r + 587 * g + 114 * b + 500) / 1000);
}

#endif
