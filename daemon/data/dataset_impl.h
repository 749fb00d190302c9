/*
 * dataset_impl.h — private to daemon/data: the dataset object shared by the
 * format readers (idx.c, cifar.c, imagefolder.c) and the dispatch in
 * dataset.c, plus the helpers they share. Not part of the public API.
 */
#ifndef BYOL_DATASET_IMPL_H
#define BYOL_DATASET_IMPL_H

#include "data/dataset.h"

#include <sys/stat.h>

struct imagefolder; /* imagefolder.c */

struct dataset {
	enum dataset_format format;
	int channels;            /* requested output channels, 1 or 3 */
	int skip_bad;
	void (*log)(void *ctx, const char *msg); /* cfg's; NULL: stderr */
	void *log_ctx;
	size_t n;                /* usable images */
	int classes;
	size_t skipped;          /* files left out at open */
	int32_t *labels;         /* (n) */
	/* IDX and CIFAR: n images of c×h×w planar bytes, one after another. */
	uint8_t *pixels;         /* (n, c, h, w) */
	int c, h, w;
	/* imagefolder only */
	struct imagefolder *folder;
	/* A view (subset.c): images index[0..n) of base, which owns the pixels. */
	const struct dataset *base;
	size_t *index;
};

/* Format readers: fill ds (zeroed, with format, channels and skip_bad set)
 * from cfg. On failure they may leave ds half-filled; dataset_free cleans up. */
int idx_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e);
int cifar_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e);
int imagefolder_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e);
/* Probes (see dataset_probe): the image count after cfg->limit into *n. */
int idx_probe(const struct dataset_config *cfg, size_t *n, struct err *e);
int cifar_probe(const struct dataset_config *cfg, size_t *n, struct err *e);
int imagefolder_probe(const struct dataset_config *cfg, size_t *n, struct err *e);
void imagefolder_free(struct imagefolder *f);
void imagefolder_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w);
/* Image i decoded at scale/8 (1..8) of its native size. */
int imagefolder_load(const struct dataset *ds, size_t i, int scale, struct image *img,
		     struct err *e);

/* "split" as a train/test choice: 1 for test, 0 for train (or NULL), -1 else. */
int dataset_split_is_test(const char *split);
/* Make img own a buffer of at least n bytes (contents not kept). */
int dataset_image_reserve(struct image *img, size_t n, struct err *e);
/* Send one log line to ds's logger (printf-style). */
void dataset_log(const struct dataset *ds, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Open path for reading without ever blocking: stat first (a FIFO or device
 * is never opened), then open O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC, fstat
 * and fstatfs. Anything but a regular file outside the kernel's pseudo file
 * systems (/proc, /sys, debugfs...) is refused (ERR_INVALID) saying what it
 * is; a missing file is ERR_NOTFOUND, another failure ERR_IO. Returns the
 * descriptor (>= 0) with its stat in *st, or the negative error code.
 */
int dataset_open_file(const char *path, struct stat *st, struct err *e);
/* The same for a directory: 0 if path is a directory outside the pseudo file
   systems, else ERR_NOTFOUND ("PATH: no such directory") or ERR_INVALID. */
int dataset_check_dir(const char *path, struct err *e);
/* What a non-regular mode is, for messages ("a FIFO", "a directory", ...). */
const char *dataset_mode_name(mode_t mode);
/* The pixel bound: ERR_RANGE naming path if n images of px bytes exceed
   DATASET_MAX_IMAGES or DATASET_MAX_PIXEL_BYTES; what says what was counted. */
int dataset_check_claim(const char *path, uint64_t n, uint64_t px, const char *what,
			struct err *e);

/* Luminance 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2) as Pillow's
   convert("L") computes it, to the bit: weights in 1/65536 (19595, 38470,
   7471, summing to 65536, so grey stays grey) and the sum rounded half up.
   It differs from rounding the exact value in 9040 of the 2^24 colours, by 1
   (those whose exact value is a half, which the slightly low weights put
   just under it). */
static inline uint8_t dataset_luma(unsigned r, unsigned g, unsigned b)
{
	return (uint8_t)((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16);
}

#endif
