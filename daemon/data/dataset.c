/*
 * dataset.c — the common dataset API: config checks, dispatch to the format
 * readers, labels and shapes, in-memory image access with channel
 * conversion, and the process-wide logger.
 */
#include "dataset_impl.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- logger ------------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*log_fn)(void *ctx, const char *msg);
static void *log_ctx;

void dataset_set_logger(void (*log)(void *ctx, const char *msg), void *ctx)
{
	pthread_mutex_lock(&log_lock);
	log_fn = log;
	log_ctx = ctx;
	pthread_mutex_unlock(&log_lock);
}

void dataset_log(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	/* Copy the pair under the lock so a concurrent set never mixes them. */
	pthread_mutex_lock(&log_lock);
	void (*fn)(void *, const char *) = log_fn;
	void *ctx = log_ctx;
	pthread_mutex_unlock(&log_lock);
	if (fn)
		fn(ctx, msg);
	else
		fprintf(stderr, "%s\n", msg);
}

/* ---- small helpers ----------------------------------------------------- */

int dataset_format_parse(const char *name, enum dataset_format *out)
{
	static const struct {
		const char *name;
		enum dataset_format format;
	} names[] = {
		{ "idx", DATASET_IDX },
		{ "cifar10", DATASET_CIFAR10 },
		{ "cifar100", DATASET_CIFAR100 },
		{ "imagefolder", DATASET_IMAGEFOLDER },
	};

	for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(name, names[i].name) == 0) {
			*out = names[i].format;
			return 0;
		}
	}
	return -1;
}

int dataset_split_is_test(const char *split)
{
	if (!split || strcmp(split, "train") == 0)
		return 0;
	if (strcmp(split, "test") == 0)
		return 1;
	return -1;
}

int dataset_image_reserve(struct image *img, size_t n, struct err *e)
{
	if (!img->owned) {
		/* px was borrowed from a dataset (or NULL): start a buffer of our own. */
		img->px = NULL;
		img->cap = 0;
		img->owned = 1;
	}
	if (n <= img->cap)
		return 0;
	uint8_t *p = realloc(img->px, n);
	if (!p)
		return err_set(e, ERR_NOMEM, "out of memory for a %zu-byte image", n);
	img->px = p;
	img->cap = n;
	return 0;
}

void image_free(struct image *img)
{
	if (!img)
		return;
	if (img->owned)
		free(img->px);
	memset(img, 0, sizeof *img);
}

/* ---- open and free ----------------------------------------------------- */

static int check_config(const struct dataset_config *cfg, struct err *e)
{
	if (!cfg->path || !cfg->path[0])
		return err_set(e, ERR_INVALID, "data.path is empty");
	if (cfg->channels != 1 && cfg->channels != 3)
		return err_set(e, ERR_INVALID, "data.channels is %d, must be 1 or 3",
			       cfg->channels);
	if (cfg->format != DATASET_IMAGEFOLDER && dataset_split_is_test(cfg->split) < 0)
		return err_set(e, ERR_INVALID, "data.split \"%.64s\": must be train or test",
			       cfg->split);
	return 0;
}

int dataset_open(struct dataset **out, const struct dataset_config *cfg, struct err *e)
{
	struct dataset *ds = NULL;
	int rc;

	*out = NULL;
	rc = check_config(cfg, e);
	if (rc < 0)
		return rc;
	ds = calloc(1, sizeof *ds);
	if (!ds)
		return err_set(e, ERR_NOMEM, "out of memory");
	ds->format = cfg->format;
	ds->channels = cfg->channels;
	ds->skip_bad = cfg->skip_bad;

	switch (cfg->format) {
	case DATASET_IDX:
		rc = idx_open(ds, cfg, e);
		break;
	case DATASET_CIFAR10:
	case DATASET_CIFAR100:
		rc = cifar_open(ds, cfg, e);
		break;
	case DATASET_IMAGEFOLDER:
		rc = imagefolder_open(ds, cfg, e);
		break;
	default:
		rc = err_set(e, ERR_INVALID, "unknown data.format %d", (int)cfg->format);
	}
	if (rc < 0)
		goto out_free;
	if (ds->n == 0) {
		rc = err_set(e, ERR_INVALID, "%s: no usable images", cfg->path);
		goto out_free;
	}
	*out = ds;
	return 0;

out_free:
	dataset_free(ds);
	return rc;
}

void dataset_free(struct dataset *ds)
{
	if (!ds)
		return;
	imagefolder_free(ds->folder);
	free(ds->pixels);
	free(ds->labels);
	free(ds);
}

/* ---- queries ----------------------------------------------------------- */

size_t dataset_size(const struct dataset *ds)
{
	return ds->n;
}

int dataset_classes(const struct dataset *ds)
{
	return ds->classes;
}

size_t dataset_skipped(const struct dataset *ds)
{
	return ds->skipped;
}

int dataset_label(const struct dataset *ds, size_t i)
{
	return i < ds->n ? ds->labels[i] : -1;
}

void dataset_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w)
{
	if (i >= ds->n) {
		*c = *h = *w = 0;
	} else if (ds->folder) {
		imagefolder_shape(ds, i, c, h, w);
	} else {
		*c = ds->c;
		*h = ds->h;
		*w = ds->w;
	}
}

/* ---- loading ----------------------------------------------------------- */

/* Planar src of sc channels -> planar dst of dc channels, plane = h·w. */
static void convert_planar(uint8_t *dst, int dc, const uint8_t *src, int sc, size_t plane)
{
	if (sc == 3 && dc == 1) {
		const uint8_t *r = src, *g = src + plane, *b = src + 2 * plane;
		for (size_t k = 0; k < plane; k++)
			dst[k] = dataset_luma(r[k], g[k], b[k]);
	} else if (sc == 1 && dc == 3) {
		for (int ch = 0; ch < 3; ch++)
			memcpy(dst + (size_t)ch * plane, src, plane);
	} else {
		memcpy(dst, src, plane * (size_t)dc);
	}
}

/* IDX and CIFAR: borrow the image when the channels match, else convert. */
static int load_memory(const struct dataset *ds, size_t i, struct image *img, struct err *e)
{
	size_t plane = (size_t)ds->h * (size_t)ds->w;
	const uint8_t *src = ds->pixels + i * plane * (size_t)ds->c;

	if (ds->channels == ds->c) {
		image_free(img);
		img->px = (uint8_t *)src; /* read-only by contract: owned = 0 */
	} else {
		int rc = dataset_image_reserve(img, plane * (size_t)ds->channels, e);
		if (rc < 0)
			return rc;
		convert_planar(img->px, ds->channels, src, ds->c, plane);
	}
	img->c = ds->channels;
	img->h = ds->h;
	img->w = ds->w;
	return 0;
}

int dataset_load(const struct dataset *ds, size_t i, struct image *img, struct err *e)
{
	if (i >= ds->n)
		return err_set(e, ERR_RANGE, "image %zu out of range (dataset has %zu)", i,
			       ds->n);
	if (ds->folder)
		return imagefolder_load(ds, i, img, e);
	return load_memory(ds, i, img, e);
}
