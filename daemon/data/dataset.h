/*
 * dataset.h — the training images: MNIST-style IDX files, CIFAR-10/100
 * binary batches and folders of JPEG files, behind one API.
 *
 * A dataset is opened from the job spec's "data" object. Opening checks
 * everything that can be checked cheaply: the files exist, their headers and
 * sizes agree. The fixed-size formats (IDX, CIFAR) are then held in memory;
 * an image folder keeps only the file list and each file's JPEG header, and
 * decodes on demand. Images are indexed 0..dataset_size()-1 in file order:
 *   IDX         the records of {train,t10k}-images-idx3-ubyte[.gz]
 *   CIFAR-10    data_batch_1..5.bin (train) or test_batch.bin (test)
 *   CIFAR-100   train.bin or test.bin (the fine label is the label)
 *   imagefolder class folders sorted by name (labels 0..K-1), files sorted
 *               by name within a class; only *.jpg / *.jpeg (any case),
 *               hidden entries and sub-folders of a class are ignored
 * Names sort by bytes (strcmp), which for UTF-8 is code-point order, as
 * torchvision's ImageFolder sorts them.
 *
 * Example — every image of Fashion-MNIST's test split as 3 channels:
 *
 *	struct dataset_config cfg = { .format = DATASET_IDX,
 *		.path = "/usr/share/datasets/fashion-mnist", .split = "test",
 *		.channels = 3, .skip_bad = 1 };
 *	struct dataset *ds;
 *	struct image img = { 0 };
 *	struct err e;
 *	if (dataset_open(&ds, &cfg, &e) < 0)
 *		return fail(e.msg);
 *	for (size_t i = 0; i < dataset_size(ds); i++) {
 *		if (dataset_load(ds, i, &img, &e) < 0)
 *			return fail(e.msg);
 *		use(img.px, img.c, img.h, img.w, dataset_label(ds, i));
 *	}
 *	image_free(&img);
 *	dataset_free(ds);
 *
 * Errors: functions return 0 or a negative ERR_* code (err.h) with a message
 * in e that names the file and what is wrong with it. Nothing here exits,
 * aborts or asserts on file content.
 *
 * on_error (skip_bad) concerns single image files, i.e. the JPEGs of an
 * image folder: with skip, a file whose header is bad is logged ("skipping
 * PATH: reason"), counted in dataset_skipped() and left out; with fail,
 * dataset_open fails naming it. A malformed IDX or CIFAR file is always an
 * error: it holds all the images, so there is nothing sensible to skip.
 */
#ifndef BYOL_DATASET_H
#define BYOL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DATASET_MAX_SIDE 16384 /* largest JPEG width or height accepted */
#define DATASET_MAX_IDX_SIDE 4096 /* largest IDX row or column count */

enum dataset_format { DATASET_IDX, DATASET_CIFAR10, DATASET_CIFAR100, DATASET_IMAGEFOLDER };

/* The job spec's "data" object, already type-checked. */
struct dataset_config {
	enum dataset_format format;
	const char *path;   /* directory */
	const char *split;  /* "train" or "test"; NULL means "train". imagefolder:
			       any sub-folder name, used when <path>/<split> is a
			       directory; else (or NULL) <path> itself */
	size_t limit;       /* 0 = all; else the first `limit` usable images in file
			       order (fewer if the dataset has fewer) */
	int channels;       /* 1 or 3: images are converted to this many channels */
	int skip_bad;       /* on_error: 1 = skip (log + count), 0 = fail */
};

/*
 * One decoded image, planar uint8 CHW: c planes of h·w bytes, rows top to
 * bottom. Start from a zeroed struct; reuse it across dataset_load calls and
 * release it with image_free. When owned is 0, px points into the dataset
 * (valid until dataset_free) and cap is 0.
 */
struct image {
	int c, h, w;
	uint8_t *px;
	size_t cap;  /* px capacity in bytes when owned */
	int owned;
};

struct dataset; /* opaque */

/*
 * Open the dataset cfg describes. Checks that the files exist and that their
 * headers and sizes are right; IDX and CIFAR load all pixels into memory;
 * imagefolder lists the files and reads only their JPEG headers (size and
 * components), handling a bad one as cfg->skip_bad says. Fails with
 * ERR_NOTFOUND (missing directory or file), ERR_INVALID (bad content, bad
 * config, no usable image), ERR_RANGE (a size out of bounds), ERR_IO or
 * ERR_NOMEM. *out is NULL on failure.
 */
int dataset_open(struct dataset **out, const struct dataset_config *cfg, struct err *e);
/* Release ds; NULL is a no-op. */
void dataset_free(struct dataset *ds);

/* Number of usable images (after limit and skipped files). */
size_t dataset_size(const struct dataset *ds);
/* 10 for (Fashion-)MNIST-style IDX (generally: largest label in the labels
 * file + 1) and CIFAR-10, 100 for CIFAR-100 (fine labels), the number of
 * class folders for imagefolder (empty ones included, so labels agree
 * between splits). */
int dataset_classes(const struct dataset *ds);
/* Label of image i in 0..dataset_classes()-1; -1 if i is out of range. */
int dataset_label(const struct dataset *ds, size_t i);
/* Native size of image i (imagefolder: from its JPEG header; c is 1 or 3);
 * zeros if i is out of range. */
void dataset_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w);

/*
 * Image i with cfg->channels channels into img. IDX and CIFAR: img->px points
 * into the dataset (owned = 0, no copy) when no channel conversion is needed
 * (a buffer img owned is freed first), else the image is converted into
 * img's own buffer. imagefolder: decodes the JPEG into img's own buffer
 * (grown with realloc as needed, reused across calls; owned = 1).
 * Channel conversion: 3 -> 1 is the luminance 0.299 R + 0.587 G + 0.114 B
 * rounded to nearest (halves up); 1 -> 3 replicates the plane.
 * Thread-safe: several threads may call it at once, each with its own img.
 * Returns ERR_RANGE for i out of range, ERR_INVALID for a corrupt file (the
 * path and reason in e; the caller decides to skip or fail), ERR_IO if the
 * file cannot be read, ERR_NOMEM. On failure img stays valid for image_free
 * but its contents are unspecified.
 */
int dataset_load(const struct dataset *ds, size_t i, struct image *img, struct err *e);
/* Free img's buffer if it owns one and zero it; safe on a zeroed image. */
void image_free(struct image *img);

/* Number of image files skipped at open (on_error skip). */
size_t dataset_skipped(const struct dataset *ds);
/*
 * Where log lines ("skipping PATH: reason") go: log(ctx, msg) with msg
 * without a trailing newline. Process-wide; may be called from any thread,
 * and log may be called from any thread that opens a dataset. NULL restores
 * the default, one line on stderr.
 */
void dataset_set_logger(void (*log)(void *ctx, const char *msg), void *ctx);

/* "idx", "cifar10", "cifar100", "imagefolder" -> *out and 0; -1 if unknown. */
int dataset_format_parse(const char *name, enum dataset_format *out);

#endif
