/*
 * cifar.c — CIFAR-10 and CIFAR-100 binary batches.
 *
 * CIFAR-10: data_batch_1..5.bin (train) or test_batch.bin (test), records of
 * 1 label byte + 3072 pixel bytes. CIFAR-100: train.bin or test.bin, records
 * of 2 label bytes (coarse, fine; the fine one is the label) + 3072 bytes.
 * Pixels are the R, G and B planes of a 32×32 image, i.e. already planar
 * CHW. The path is the directory holding the files, or its parent when they
 * sit in the sub-folder the official archive unpacks to. Sizes come from
 * fstat and must be whole records, at most DATASET_MAX_PIXEL_BYTES of pixels
 * in all; memory is allocated for the records the files hold, never for
 * more. The probe (cifar_probe) stops after the sizes.
 */
#include "data/dataset_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_MAX_FILES 5

struct cifar_layout {
	const char *subdir;                    /* the archive's folder name */
	const char *files[CIFAR_MAX_FILES];    /* NULL-terminated if fewer */
	int label_bytes;                       /* bytes before the pixels */
	int label_at;                          /* which of them is the label */
	int classes;
	int coarse_classes;                    /* CIFAR-100's first byte; 0 if none */
};

static const struct cifar_layout cifar10_train = {
	"cifar-10-batches-bin",
	{ "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
	  "data_batch_5.bin" },
	1, 0, 10, 0,
};
static const struct cifar_layout cifar10_test = {
	"cifar-10-batches-bin", { "test_batch.bin" }, 1, 0, 10, 0,
};
static const struct cifar_layout cifar100_train = {
	"cifar-100-binary", { "train.bin" }, 2, 1, 100, 20,
};
static const struct cifar_layout cifar100_test = {
	"cifar-100-binary", { "test.bin" }, 2, 1, 100, 20,
};

static int join(char *buf, size_t size, const char *a, const char *b, struct err *e)
{
	int len = snprintf(buf, size, "%s/%s", a, b);

	if (len < 0 || (size_t)len >= size)
		return err_set(e, ERR_RANGE, "%s: path too long", a);
	return 0;
}

/* Does path name anything (what it is gets checked when it is opened)? */
static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* The directory that holds the batches: path itself or path/<subdir>. */
static int find_dir(char *dir, size_t size, const char *path, const struct cifar_layout *l,
		    struct err *e)
{
	char probe[PATH_MAX];
	int rc;

	if ((rc = dataset_check_dir(path, e)) < 0)
		return rc;
	if ((rc = join(probe, sizeof probe, path, l->files[0], e)) < 0)
		return rc;
	if (exists(probe)) {
		snprintf(dir, size, "%s", path); /* fits: probe held more */
		return 0;
	}
	if ((rc = join(dir, size, path, l->subdir, e)) < 0)
		return rc;
	if ((rc = join(probe, sizeof probe, dir, l->files[0], e)) < 0)
		return rc;
	if (exists(probe))
		return 0;
	return err_set(e, ERR_NOTFOUND, "%s: no %s (nor %s/%s)", path, l->files[0], l->subdir,
		       l->files[0]);
}

/* Records in every file of the layout; each must be a regular file of whole
   records, and all of them together within the pixel bound. */
static int count_records(const char *dir, const struct cifar_layout *l, size_t *counts,
			 size_t *total, struct err *e)
{
	size_t rec = (size_t)l->label_bytes + CIFAR_PIXELS;
	char path[PATH_MAX];
	struct stat st;
	int rc;

	*total = 0;
	for (int f = 0; f < CIFAR_MAX_FILES && l->files[f]; f++) {
		if ((rc = join(path, sizeof path, dir, l->files[f], e)) < 0)
			return rc;
		int fd = dataset_open_file(path, &st, e);
		if (fd < 0)
			return fd;
		close(fd);
		if (st.st_size == 0 || (uintmax_t)st.st_size % rec != 0)
			return err_set(e, ERR_INVALID,
				       "%s: size %jd is not a positive multiple of the %zu-byte record",
				       path, (intmax_t)st.st_size, rec);
		counts[f] = (size_t)((uintmax_t)st.st_size / rec);
		if ((rc = dataset_check_claim(path, *total + counts[f], CIFAR_PIXELS,
					      "the files hold", e)) < 0)
			return rc;
		*total += counts[f];
	}
	return 0;
}

/* Read n records of one file into ds at image index first. */
static int read_file(struct dataset *ds, const char *path, const struct cifar_layout *l,
		     size_t first, size_t n, struct err *e)
{
	uint8_t lab[2];
	struct stat st;
	int rc = 0, fd = dataset_open_file(path, &st, e);

	if (fd < 0)
		return fd;
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return err_set(e, ERR_NOMEM, "%s: cannot open: %s", path, strerror(errno));
	}
	for (size_t r = 0; r < n; r++) {
		uint8_t *px = ds->pixels + (first + r) * CIFAR_PIXELS;
		if (fread(lab, 1, (size_t)l->label_bytes, f) != (size_t)l->label_bytes ||
		    fread(px, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
			rc = err_set(e, ferror(f) ? ERR_IO : ERR_INVALID,
				     "%s: truncated at record %zu of %zu", path, r, n);
			goto out_close;
		}
		if (l->coarse_classes && lab[0] >= l->coarse_classes) {
			rc = err_set(e, ERR_INVALID, "%s: record %zu: coarse label %d out of range 0..%d",
				     path, r, lab[0], l->coarse_classes - 1);
			goto out_close;
		}
		if (lab[l->label_at] >= l->classes) {
			rc = err_set(e, ERR_INVALID, "%s: record %zu: label %d out of range 0..%d",
				     path, r, lab[l->label_at], l->classes - 1);
			goto out_close;
		}
		ds->labels[first + r] = lab[l->label_at];
	}

out_close:
	fclose(f);
	return rc;
}

static const struct cifar_layout *layout(const struct dataset_config *cfg)
{
	int test = dataset_split_is_test(cfg->split);
	return cfg->format == DATASET_CIFAR100 ? (test ? &cifar100_test : &cifar100_train)
					       : (test ? &cifar10_test : &cifar10_train);
}

int cifar_probe(const struct dataset_config *cfg, size_t *n, struct err *e)
{
	const struct cifar_layout *l = layout(cfg);
	char dir[PATH_MAX];
	size_t counts[CIFAR_MAX_FILES] = { 0 }, total;
	int rc;

	if ((rc = find_dir(dir, sizeof dir, cfg->path, l, e)) < 0)
		return rc;
	if ((rc = count_records(dir, l, counts, &total, e)) < 0)
		return rc;
	*n = cfg->limit && cfg->limit < total ? cfg->limit : total;
	return 0;
}

int cifar_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e)
{
	const struct cifar_layout *l = layout(cfg);
	char dir[PATH_MAX], path[PATH_MAX];
	size_t counts[CIFAR_MAX_FILES] = { 0 }, total, bytes;
	int rc;

	if ((rc = find_dir(dir, sizeof dir, cfg->path, l, e)) < 0)
		return rc;
	if ((rc = count_records(dir, l, counts, &total, e)) < 0)
		return rc;
	ds->n = cfg->limit && cfg->limit < total ? cfg->limit : total;
	if (__builtin_mul_overflow(ds->n, (size_t)CIFAR_PIXELS, &bytes))
		return err_set(e, ERR_RANGE, "%s: %zu records overflow size_t", dir, ds->n);
	ds->pixels = malloc(bytes);
	ds->labels = malloc(ds->n * sizeof *ds->labels);
	if (!ds->pixels || !ds->labels)
		return err_set(e, ERR_NOMEM, "%s: out of memory for %zu images", dir, ds->n);
	ds->c = 3;
	ds->h = ds->w = CIFAR_SIDE;
	ds->classes = l->classes;

	size_t done = 0;
	for (int f = 0; f < CIFAR_MAX_FILES && l->files[f] && done < ds->n; f++) {
		size_t n = counts[f] < ds->n - done ? counts[f] : ds->n - done;
		if ((rc = join(path, sizeof path, dir, l->files[f], e)) < 0)
			return rc;
		if ((rc = read_file(ds, path, l, done, n, e)) < 0)
			return rc;
		done += n;
	}
	return 0;
}
