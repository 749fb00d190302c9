/*
 * fuzz_dataset.h — what the dataset fuzz targets (fuzz_idx.c, fuzz_cifar.c,
 * and the image-folder ones: fuzz_jpeg.c, fuzz_png.c, fuzz_webp.c) share:
 * the input's first byte read as the dataset config, and a run that probes
 * and opens the temp directory as a dataset through the public API, loads
 * every image and checks what dataset.h promises: among them, that the
 * probe never refuses what open accepts and counts what open gives (exactly
 * for IDX and CIFAR, at least for imagefolder).
 *
 * The flag byte: bit 0 three channels (else one), bit 1 on_error skip, bit 2
 * split "test" (else "train"), bits 3 and 4 the target's own variants,
 * bits 5-7 the limit, 0..7.
 */
#ifndef BYOL_FUZZ_DATASET_H
#define BYOL_FUZZ_DATASET_H

#include "data/dataset.h"
#include "fuzz_util.h"

#define FUZZ_VARIANT_A 0x08u
#define FUZZ_VARIANT_B 0x10u

static volatile unsigned fuzz_pixel_sum; /* keeps the pixel reads */

static inline void fuzz_log_nothing(void *ctx, const char *msg)
{
	(void)ctx, (void)msg; /* "skipping ..." lines would only slow the fuzzer */
}

/* The dataset config of a flag byte, for the files in the temp directory. */
static inline struct dataset_config fuzz_dataset_config(enum dataset_format format,
							uint8_t flags)
{
	struct dataset_config cfg = {
		.format = format, .path = fuzz_dir, .split = flags & 4 ? "test" : "train",
		.limit = flags >> 5, .channels = flags & 1 ? 3 : 1, .skip_bad = flags >> 1 & 1,
		.log = fuzz_log_nothing,
	};
	return cfg;
}

/* Image i: label, shape and pixels agree with the API; the pixel buffer holds
 * c·h·w bytes (ASan sees a short one). Only lazily decoded files (imagefolder)
 * may fail to load, and only as invalid. */
static inline void fuzz_dataset_image(const struct dataset *ds, const struct dataset_config *cfg,
				      size_t i, struct image *img)
{
	int c, h, w, label = dataset_label(ds, i);
	struct err e;
	dataset_shape(ds, i, &c, &h, &w);
	if (label < 0 || label >= dataset_classes(ds) || (c != 1 && c != 3) || h < 1 || w < 1)
		abort();
	int rc = dataset_load(ds, i, img, &e);
	if (rc < 0) {
		if (cfg->format != DATASET_IMAGEFOLDER || rc != ERR_INVALID)
			abort();
		return;
	}
	if (img->c != cfg->channels || img->h != h || img->w != w || !img->px)
		abort();
	unsigned sum = 0;
	for (size_t k = 0, n = (size_t)img->c * (size_t)h * (size_t)w; k < n; k++)
		sum += img->px[k];
	fuzz_pixel_sum = sum;
}

/* Open the dataset cfg names, read every image, free everything. */
static inline void fuzz_dataset_run(const struct dataset_config *cfg)
{
	struct dataset *ds;
	struct image img = { 0 };
	struct err e, pe;
	size_t probed = 1;
	int prc = dataset_probe(cfg, &probed, &pe);
	if (prc < 0 ? pe.code != prc || probed != 0 : prc != 0 || probed == 0)
		abort();
	if (dataset_open(&ds, cfg, &e) < 0) {
		if (ds || e.code >= 0)
			abort();
		return;
	}
	size_t n = dataset_size(ds);
	if (n == 0 || (cfg->limit && n > cfg->limit) || dataset_classes(ds) < 1)
		abort();
	if (prc != 0 || (cfg->format == DATASET_IMAGEFOLDER ? n > probed : n != probed))
		abort(); /* the probe refused, or miscounted, what open accepts */
	for (size_t i = 0; i < n; i++)
		fuzz_dataset_image(ds, cfg, i, &img);
	if (dataset_load(ds, n, &img, &e) != ERR_RANGE || dataset_label(ds, n) != -1)
		abort();
	image_free(&img);
	dataset_free(ds);
}

/*
 * An image-folder target's input: a flag byte, then one file in one class
 * folder, named `name` ("a.png"). Variant A puts the class folder under the
 * split's sub-folder, else the split is "train" (no train/: the path
 * itself) or, with the test bit, NULL (the path itself); variant B names
 * the file `upper` ("b.PNG") beside a hidden copy, which must be ignored,
 * and a copy named notes.txt, which is skipped or, under on_error fail,
 * fails the data set. The folder is probed and opened through dataset_probe
 * and dataset_open (headers) and the image decoded by dataset_load.
 */
static inline void fuzz_image_folder(const uint8_t *data, size_t size, const char *name,
				     const char *upper)
{
	if (size < 1)
		return;
	uint8_t flags = data[0];
	const char *root = !(flags & FUZZ_VARIANT_A) ? "" : flags & 4 ? "test/" : "train/";
	const char *names[3] = { flags & FUZZ_VARIANT_B ? upper : name, ".hidden", "notes.txt" };
	char rel[64];

	fuzz_dir_fresh();
	for (int k = 0; k < (flags & FUZZ_VARIANT_B ? 3 : 1); k++) {
		snprintf(rel, sizeof rel, "%scls/%s", root, names[k]);
		fuzz_write(rel, data + 1, size - 1);
	}
	struct dataset_config cfg = fuzz_dataset_config(DATASET_IMAGEFOLDER, flags);
	if (!(flags & FUZZ_VARIANT_A))
		cfg.split = flags & 4 ? NULL : "train"; /* a missing test/ is only an error */
	fuzz_dataset_run(&cfg);
}

#endif
