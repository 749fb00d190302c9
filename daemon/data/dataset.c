/*
 * dataset.c — the common dataset API: config checks, dispatch to the format
 * readers, labels and shapes, in-memory image access with channel
 * conversion, the per-dataset logger, and opening files without blocking.
 */
#include "data/dataset_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

/* ---- logger and safe opening ----------------------------------------- */

void dataset_log(const struct dataset *ds, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ds->log)
		ds->log(ds->log_ctx, msg);
	else
		fprintf(stderr, "%s\n", msg);
}

const char *dataset_mode_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	case S_IFSOCK: return "a socket";
	case S_IFLNK: return "a symbolic link";
	}
	return "not a regular file";
}

#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570 /* not in every linux/magic.h */
#endif

/* The kernel's pseudo file systems: their "files" are not data (a read may
   never end, block, or have side effects). NULL for a real file system. */
static const char *pseudo_fs(long type)
{
	switch (type) {
	case PROC_SUPER_MAGIC: return "/proc (procfs)";
	case SYSFS_MAGIC: return "/sys (sysfs)";
	case DEBUGFS_MAGIC: return "debugfs";
	case TRACEFS_MAGIC: return "tracefs";
	case SECURITYFS_MAGIC: return "securityfs";
	case CGROUP_SUPER_MAGIC: return "cgroupfs";
	case CGROUP2_SUPER_MAGIC: return "cgroup2fs";
	case CONFIGFS_MAGIC: return "configfs";
	case BPF_FS_MAGIC: return "bpffs";
	case EFIVARFS_MAGIC: return "efivarfs";
	case PSTOREFS_MAGIC: return "pstore";
	case DEVPTS_SUPER_MAGIC: return "devpts";
	}
	return NULL;
}

static int not_found(const char *path, int err, struct err *e)
{
	return err_set(e, err == ENOENT || err == ENOTDIR ? ERR_NOTFOUND : ERR_IO, "%s: %s", path,
		       strerror(err));
}

int dataset_open_file(const char *path, struct stat *st, struct err *e)
{
	struct statfs sf;
	const char *fs;

	if (stat(path, st) < 0)
		return not_found(path, errno, e);
	if (!S_ISREG(st->st_mode))
		return err_set(e, ERR_INVALID, "%s: is %s, not a regular file", path,
			       dataset_mode_name(st->st_mode));
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOMEM ? err_set(e, ERR_NOMEM, "%s: out of memory", path)
				       : not_found(path, errno, e);
	int rc = 0;
	if (fstat(fd, st) < 0) /* it may have been replaced since the stat */
		rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st->st_mode))
		rc = err_set(e, ERR_INVALID, "%s: is %s, not a regular file", path,
			     dataset_mode_name(st->st_mode));
	else if (fstatfs(fd, &sf) == 0 && (fs = pseudo_fs((long)sf.f_type)))
		rc = err_set(e, ERR_INVALID, "%s: is a file of %s, not a data file", path, fs);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

int dataset_check_dir(const char *path, struct err *e)
{
	struct stat st;
	struct statfs sf;
	const char *fs;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return err_set(e, ERR_NOTFOUND, "%s: no such directory", path);
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return err_set(e, ERR_INVALID, "%s: is %s, not a directory", path,
			       dataset_mode_name(st.st_mode));
	if (statfs(path, &sf) == 0 && (fs = pseudo_fs((long)sf.f_type)))
		return err_set(e, ERR_INVALID, "%s: is a directory of %s, not a data directory",
			       path, fs);
	return 0;
}

int dataset_check_claim(const char *path, uint64_t n, uint64_t px, const char *what,
			struct err *e)
{
	uint64_t bytes;

	if (__builtin_mul_overflow(n, px, &bytes) || bytes > DATASET_MAX_PIXEL_BYTES)
		return err_set(e, ERR_RANGE,
			       "%s: %s %" PRIu64 " images of %" PRIu64 " bytes (%.1f GiB), over the "
			       "%" PRIu64 " GiB limit for data sets held in memory",
			       path, what, n, px, (double)n * (double)px / (double)(1u << 30),
			       DATASET_MAX_PIXEL_BYTES >> 30);
	if (n > DATASET_MAX_IMAGES)
		return err_set(e, ERR_RANGE, "%s: %s %" PRIu64 " images, over the limit of %zu",
			       path, what, n, DATASET_MAX_IMAGES);
	return 0;
}

/* ---- small helpers ----------------------------------------------------- */

int dataset_config_of(struct dataset_config *c, const struct spec_data *d)
{
	*c = (struct dataset_config){ .path = d->path, .split = d->split,
				      .limit = (size_t)d->limit, .channels = d->channels,
				      .skip_bad = d->skip_bad };
	return dataset_format_parse(d->format, &c->format);
}

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
	ds->log = cfg->log;
	ds->log_ctx = cfg->log_ctx;

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

int dataset_probe(const struct dataset_config *cfg, size_t *n_images, struct err *e)
{
	size_t n = 0;
	int rc = check_config(cfg, e);

	*n_images = 0;
	if (rc < 0)
		return rc;
	switch (cfg->format) {
	case DATASET_IDX:
		rc = idx_probe(cfg, &n, e);
		break;
	case DATASET_CIFAR10:
	case DATASET_CIFAR100:
		rc = cifar_probe(cfg, &n, e);
		break;
	case DATASET_IMAGEFOLDER:
		rc = imagefolder_probe(cfg, &n, e);
		break;
	default:
		rc = err_set(e, ERR_INVALID, "unknown data.format %d", (int)cfg->format);
	}
	if (rc < 0)
		return rc;
	if (n == 0)
		return err_set(e, ERR_INVALID, "%s: no usable images", cfg->path);
	*n_images = n;
	return 0;
}

void dataset_free(struct dataset *ds)
{
	if (!ds)
		return;
	imagefolder_free(ds->folder);
	free(ds->index);
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

/* A view's image i as its base's: the data set and index that hold it. */
static const struct dataset *resolve(const struct dataset *ds, size_t *i)
{
	if (ds->base && *i < ds->n) {
		*i = ds->index[*i];
		return ds->base;
	}
	return ds;
}

int dataset_label(const struct dataset *ds, size_t i)
{
	ds = resolve(ds, &i);
	return i < ds->n ? ds->labels[i] : -1;
}

void dataset_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w)
{
	ds = resolve(ds, &i);
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
	int full = 8;
	return dataset_load_scaled(ds, i, &full, img, e);
}

int dataset_load_scaled(const struct dataset *ds, size_t i, int *scale, struct image *img,
			struct err *e)
{
	if (*scale < 1 || *scale > 8)
		return err_set(e, ERR_RANGE, "decode scale %d/8 outside 1/8..8/8", *scale);
	if (i >= ds->n)
		return err_set(e, ERR_RANGE, "image %zu out of range (dataset has %zu)", i,
			       ds->n);
	ds = resolve(ds, &i);
	if (ds->folder)
		return imagefolder_load(ds, i, *scale, img, e);
	*scale = 8;
	return load_memory(ds, i, img, e);
}
