/*
 * dataset.h — the training images: MNIST-style IDX files, CIFAR-10/100
 * binary batches and folders of JPEG, PNG and WebP files, behind one API.
 *
 * Two entry points take the job spec's "data" object:
 *   dataset_probe  headers and sizes only, bounded in time and memory: what a
 *                  submit checks (on any thread; it never decodes pixels and
 *                  never reads an image file);
 *   dataset_open   what the job's worker runs: the fixed-size formats (IDX,
 *                  CIFAR) are loaded into memory; an image folder keeps only
 *                  the file list and each file's header, and decodes on
 *                  demand (dataset_load, on the loader threads).
 * Images are indexed 0..dataset_size()-1 in file order:
 *   IDX         the records of {train,t10k}-images-idx3-ubyte[.gz]
 *   CIFAR-10    data_batch_1..5.bin (train) or test_batch.bin (test)
 *   CIFAR-100   train.bin or test.bin (the fine label is the label)
 *   imagefolder class folders sorted by name (labels 0..K-1), files sorted
 *               by name within a class; the images are the *.jpg / *.jpeg,
 *               *.png and *.webp files (any case), converted as Pillow's
 *               convert("RGB") / convert("L") converts them (alpha dropped,
 *               16-bit samples to their high byte). Every other file of a
 *               class folder (GIF, BMP, TIFF, text, a FIFO...) is a skipped
 *               file (see on_error below), never ignored in silence. Hidden
 *               entries (".*"), sub-folders of a class and files beside the
 *               class folders are ignored.
 * Names sort by bytes (strcmp), which for UTF-8 is code-point order, as
 * torchvision's ImageFolder sorts them.
 *
 * Files: every data file is opened with O_NONBLOCK and must be a regular file
 * (fstat) outside the kernel's pseudo file systems: a FIFO, a device, a
 * socket, a directory where a file is expected, or a file of /proc, /sys
 * (and debugfs, tracefs, cgroupfs...) is refused with a message saying what
 * it is, without blocking. The path itself must be a directory outside them.
 *
 * Bounds, whatever the input (checked by dataset_probe and dataset_open
 * alike, so a submit refuses what the job would refuse):
 *   DATASET_MAX_PIXEL_BYTES  the pixels an IDX or CIFAR header (or CIFAR
 *                            file sizes) may claim: a gzip bomb is refused
 *                            by its header; one whose header lies is stopped
 *                            when its stream passes the claimed size. IDX
 *                            decoding never allocates more than the header
 *                            claims (nor more than twice what the file
 *                            really delivers).
 *   DATASET_MAX_IMAGES       images an IDX header or CIFAR files may claim
 *   DATASET_MAX_CLASSES      class folders of an image folder
 *   DATASET_MAX_FOLDER_ENTRIES  directory entries an image folder's listing
 *                            may read (root and class folders together):
 *                            the probe's time and the listing's memory
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
 * aborts or asserts on file content. No function here touches global
 * mutable state: all may run on several threads at once.
 *
 * on_error (skip_bad) concerns single image files, i.e. the files of an
 * image folder's class folders: with skip, a file that is not an image of a
 * kind read (by its name, and at open by its first bytes: "unsupported image
 * type: GIF", "not an image file (only .jpg, .jpeg, .png and .webp files are
 * read)", "unsupported image type: GIF (named .png)", "a PNG file named
 * .jpg: rename it to use it"), is not a regular file ("is a FIFO, not a
 * regular file"), or whose header is bad is logged through cfg->log
 * ("skipping PATH: reason"; the first DATASET_LOG_MAX_NAMED of a data set
 * named, then one line with the total), counted in dataset_skipped() and
 * left out; with fail, dataset_open (and dataset_probe, for what it can see
 * without reading files) fails naming the first such file in order and the
 * reason. A malformed IDX or CIFAR file is always an error: it holds all the
 * images, so there is nothing sensible to skip.
 */
#ifndef BYOL_DATASET_H
#define BYOL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "spec.h"

#define DATASET_MAX_SIDE 16384 /* largest image width or height accepted (folders) */
#define DATASET_MAX_IDX_SIDE 4096 /* largest IDX row or column count */
/* Largest pixel store an IDX header (count·rows·cols) or the CIFAR files
   (records·3072) may claim: 8 GiB. */
#define DATASET_MAX_PIXEL_BYTES ((uint64_t)8 << 30)
#define DATASET_MAX_IMAGES ((size_t)1 << 28)  /* images of an IDX or CIFAR set: 268435456 */
#define DATASET_MAX_CLASSES 65536             /* class folders of an image folder */
/* Directory entries an image folder's listing reads, root and class folders
   together: 2097152 (ImageNet-1k's training set has 1.28 million files). The
   probe's cost is the kernel's readdir, about 0.35 s per 10^6 entries on
   ext4, so at most about 0.75 s. */
#define DATASET_MAX_FOLDER_ENTRIES ((size_t)1 << 21)
#define DATASET_LOG_MAX_NAMED 20  /* skipped files named in the log, per data set */

enum dataset_format { DATASET_IDX, DATASET_CIFAR10, DATASET_CIFAR100, DATASET_IMAGEFOLDER };

/* The job spec's "data" object, already type-checked. */
struct dataset_config {
	enum dataset_format format;
	const char *path;   /* directory */
	const char *split;  /* IDX, CIFAR: "train" or "test"; NULL means "train".
			       imagefolder: the sub-folder <path>/<split>, which must
			       exist, except for "train": <path>/train if it is a
			       directory, else <path> itself (a missing test/ is an
			       error, never the training images); NULL or "":
			       <path> itself */
	size_t limit;       /* 0 = all; else the first `limit` usable images in file
			       order (fewer if the dataset has fewer) */
	int channels;       /* 1 or 3: images are converted to this many channels */
	int skip_bad;       /* on_error: 1 = skip (log + count), 0 = fail */
	/* Where dataset_open's log lines go ("skipping PATH: reason", at most
	   DATASET_LOG_MAX_NAMED + 2 lines per data set): log(log_ctx, msg), msg
	   without a trailing newline, called on the thread running dataset_open,
	   before it returns. NULL: one line on stderr. dataset_probe never logs. */
	void (*log)(void *ctx, const char *msg);
	void *log_ctx;
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
 * Check the data set cfg describes from its headers and sizes only, and count
 * its images: what a submit should run. *n_images (on success) is the number
 * of images dataset_open will give, after cfg->limit: exact for IDX and
 * CIFAR; for imagefolder an upper bound, the regular files named as an
 * image (their headers are not read: under on_error skip dataset_open may
 * skip more).
 * What it reads, per format:
 *   IDX          the images and labels files' headers (magic, dims, count):
 *                for a gzip file by inflating just its first bytes, reading at
 *                most 1 MiB of it; for a plain file its size must be what the
 *                header says. Header bounds, DATASET_MAX_PIXEL_BYTES (a bomb
 *                is refused here), labels count = images count.
 *   CIFAR        each batch file's size: a positive multiple of the record.
 *   imagefolder  the directory listings (names and entry types, a stat only
 *                for symlinks and unknown types); no file is opened. It
 *                counts the image candidates, refuses (under on_error fail)
 *                the first other file dataset_open would reach with limit,
 *                and says what it found when nothing is usable ("no usable
 *                images: 12 GIF files (GIF is not supported yet; JPEG, PNG
 *                and WebP files are read)").
 * Every data file it opens is checked as the file comment says (no FIFO,
 * device, /proc or /sys file...), without blocking. Cost: well under a
 * millisecond for IDX and CIFAR (Fashion-MNIST: 0.1 ms; at most 1 MiB read
 * per file, 16 KiB for a normal gzip file); for imagefolder
 * one pass over the entries (about 0.35 s and 2 MiB per 10^6 entries on
 * ext4; memory O(class folders), nothing kept per file), at most
 * DATASET_MAX_FOLDER_ENTRIES entries: a larger folder is refused (ERR_RANGE).
 * A limit stops the listing after the class folder that reaches it. Errors
 * as dataset_open's. Thread-safe; it never calls cfg->log.
 */
int dataset_probe(const struct dataset_config *cfg, size_t *n_images, struct err *e);

/*
 * Open the dataset cfg describes. Checks what dataset_probe checks; IDX and
 * CIFAR load all pixels into memory; imagefolder lists the files and reads
 * only their headers (size and components), handling a bad one (or a file
 * of another kind) as cfg->skip_bad says. Fails with ERR_NOTFOUND (missing
 * directory, file or split folder), ERR_INVALID (bad content, bad config, no
 * usable image), ERR_RANGE (a size out of bounds), ERR_IO or ERR_NOMEM.
 * *out is NULL on failure. Runs on the job's thread: it reads whole IDX and
 * CIFAR files and every image header of a folder.
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
/* Native size of image i (imagefolder: from its header; c is 1 or 3);
 * zeros if i is out of range. */
void dataset_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w);

/*
 * Image i with cfg->channels channels into img. IDX and CIFAR: img->px points
 * into the dataset (owned = 0, no copy) when no channel conversion is needed
 * (a buffer img owned is freed first), else the image is converted into
 * img's own buffer. imagefolder: decodes the file into img's own buffer
 * (grown with realloc as needed, reused across calls; owned = 1).
 * Channel conversion: 3 -> 1 is the luminance 0.299 R + 0.587 G + 0.114 B
 * as Pillow's convert("L") computes it (weights in 1/65536, rounded half
 * up); 1 -> 3 replicates the plane.
 * Thread-safe: several threads may call it at once, each with its own img.
 * Returns ERR_RANGE for i out of range, ERR_INVALID for a corrupt file (the
 * path and reason in e; the caller decides to skip or fail), ERR_IO if the
 * file cannot be read, ERR_NOMEM. On failure img stays valid for image_free
 * but its contents are unspecified.
 */
int dataset_load(const struct dataset *ds, size_t i, struct image *img, struct err *e);
/*
 * dataset_load at a reduced size, for a caller that will shrink the image
 * anyway: *scale (1..8, else ERR_RANGE) asks for scale/8 of the native size.
 * imagefolder decodes a JPEG at that scale in libjpeg's IDCT (DCT-domain
 * scaling: dataset_scaled_side(h, *scale) × dataset_scaled_side(w, *scale)
 * pixels, a native pixel u at u·scale/8); IDX and CIFAR give the native
 * image and set *scale to 8. An image folder's PNG or WebP image comes at its
 * native size whatever *scale asks (*scale is left as it was): ask
 * dataset_scalable first. Deterministic: the same file and scale give the
 * same pixels.
 */
int dataset_load_scaled(const struct dataset *ds, size_t i, int *scale, struct image *img,
			struct err *e);
/* 1 if dataset_load_scaled decodes image i at reduced scales (a JPEG of an
   image folder), 0 if it always gives its native size (PNG, WebP, and the
   IDX and CIFAR images); 0 if i is out of range. */
int dataset_scalable(const struct dataset *ds, size_t i);
/* A side of n native pixels decoded at scale/8: ceil(n·scale/8), as libjpeg. */
static inline int dataset_scaled_side(int n, int scale)
{
	return (int)(((long)n * scale + 7) / 8);
}
/* Free img's buffer if it owns one and zero it; safe on a zeroed image. */
void image_free(struct image *img);

/* Number of files skipped at open (on_error skip): every skipped file of the
   class folders, named in the log or not. 0 for IDX and CIFAR. */
size_t dataset_skipped(const struct dataset *ds);

/* A job spec's data (or eval_data) object as a dataset config; the strings stay the
 * spec's. 0, or -1 if its format is unknown (the spec module checks it). */
int dataset_config_of(struct dataset_config *c, const struct spec_data *d);

/* "idx", "cifar10", "cifar100", "imagefolder" -> *out and 0; -1 if unknown. */
int dataset_format_parse(const char *name, enum dataset_format *out);

/* ---- views: subsets of a data set (subset.c) ------------------------------ */

/*
 * A view of base: its images index[0..n) (each < dataset_size(base)), in that
 * order, with base's classes and channels. The view copies index and borrows
 * base, which must outlive it; dataset_skipped of a view is 0 (base counts its
 * files). Views serve the fine-tuning subsets and held-out splits.
 */
int dataset_subset(struct dataset **out, const struct dataset *base, const size_t *index,
		   size_t n, struct err *e);

/* A class-balanced draw: the images picked and the rest, each in file order. */
struct dataset_draw {
	size_t *picked, *rest;
	size_t n_picked, n_rest;
};

/*
 * Draw from ds, class by class: with fraction f in (0, 1), round(f·n_c)
 * images of each class of n_c images (at least one; so the draw keeps the
 * classes' proportions); with count > 0 instead (fraction 0), count / classes
 * of each class (the remainder going to the first classes), at most n_c.
 * Within a class the images are a seeded shuffle's first ones: the draw is a
 * function of (labels, seed, stream) alone, and a smaller draw with the same
 * seed is not a subset of a larger one's. ERR_INVALID when the draw would
 * leave a class of ds without an image in picked, ERR_NOMEM.
 */
int dataset_draw_balanced(struct dataset_draw *d, const struct dataset *ds, double fraction,
			  size_t count, uint64_t seed, uint64_t stream, struct err *e);
void dataset_draw_free(struct dataset_draw *d);

#endif
