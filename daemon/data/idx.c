/*
 * idx.c — MNIST-style IDX files, gzip-compressed or plain (zlib reads both).
 *
 * A directory holds {train,t10k}-images-idx3-ubyte[.gz] and
 * {train,t10k}-labels-idx1-ubyte[.gz]; the .gz file wins when both exist.
 * Images: magic 0x00000803 (u8 data, 3 dims), then big-endian u32 count,
 * rows, cols, then count·rows·cols bytes. Labels: magic 0x00000801, count,
 * then count bytes. Sizes in the header are checked before anything is
 * allocated, and buffers grow only as the file actually delivers data, so a
 * lying header cannot make us allocate more than the file justifies.
 */
#include "dataset_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define FIRST_CHUNK ((size_t)1 << 20)  /* initial read buffer, bytes */
#define MAX_GZREAD ((size_t)1 << 30)   /* gzread takes an unsigned length */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "<dir>/<stem>.gz" if it exists, else "<dir>/<stem>" if that exists. */
static int find_file(char *buf, size_t size, const char *dir, const char *stem,
		     struct err *e)
{
	struct stat st;
	int len = snprintf(buf, size, "%s/%s.gz", dir, stem);

	if (len < 0 || (size_t)len >= size)
		return err_set(e, ERR_RANGE, "%s: path too long", dir);
	if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
		return 0;
	buf[len - 3] = '\0';
	if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
		return 0;
	return err_set(e, ERR_NOTFOUND, "%s: no %s[.gz]", dir, stem);
}

/* Read up to n bytes; *got receives how many (short only at end of file). */
static int gz_read_all(gzFile gz, const char *path, uint8_t *buf, size_t n, size_t *got,
		       struct err *e)
{
	*got = 0;
	while (*got < n) {
		size_t want = n - *got < MAX_GZREAD ? n - *got : MAX_GZREAD;
		int r = gzread(gz, buf + *got, (unsigned)want);
		if (r < 0) {
			int zerr;
			const char *msg = gzerror(gz, &zerr);
			return err_set(e, zerr == Z_ERRNO ? ERR_IO : ERR_INVALID, "%s: %s", path,
				       zerr == Z_ERRNO ? strerror(errno) : msg);
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/*
 * Read exactly n bytes into a new buffer *out. The buffer starts small and
 * doubles as data arrives, so a header claiming more than the file holds
 * costs at most twice what the file really has.
 */
static int read_grow(gzFile gz, const char *path, size_t n, const char *what, uint8_t **out,
		     struct err *e)
{
	uint8_t *buf = NULL;
	size_t have = 0, cap = 0;
	int rc;

	*out = NULL;
	while (have < n) {
		size_t next = cap ? (cap > n / 2 ? n : cap * 2) : (n < FIRST_CHUNK ? n : FIRST_CHUNK);
		uint8_t *p = realloc(buf, next);
		if (!p) {
			rc = err_set(e, ERR_NOMEM, "%s: out of memory for %zu bytes", path, next);
			goto out_free;
		}
		buf = p;
		cap = next;
		size_t got;
		rc = gz_read_all(gz, path, buf + have, cap - have, &got, e);
		if (rc < 0)
			goto out_free;
		have += got;
		if (have < cap) {
			rc = err_set(e, ERR_INVALID, "%s: truncated: %zu of %zu bytes of %s", path,
				     have, n, what);
			goto out_free;
		}
	}
	*out = buf;
	return 0;

out_free:
	free(buf);
	return rc;
}

static int open_gz(gzFile *gz, const char *path, struct err *e)
{
	errno = 0;
	*gz = gzopen(path, "rb");
	if (!*gz)
		return err_set(e, errno ? ERR_IO : ERR_NOMEM, "%s: cannot open: %s", path,
			       errno ? strerror(errno) : "out of memory");
	gzbuffer(*gz, 1 << 17);
	return 0;
}

/* Read and check a header of `len` bytes (8 or 16) starting with `magic`. */
static int read_header(gzFile gz, const char *path, uint32_t magic, uint8_t *hdr, size_t len,
		       struct err *e)
{
	size_t got;
	int rc = gz_read_all(gz, path, hdr, len, &got, e);

	if (rc < 0)
		return rc;
	if (got >= 4 && be32(hdr) != magic)
		return err_set(e, ERR_INVALID, "%s: bad magic 0x%08" PRIx32 ", expected 0x%08" PRIx32,
			       path, be32(hdr), magic);
	if (got < len)
		return err_set(e, ERR_INVALID, "%s: truncated header (%zu of %zu bytes)", path,
			       got, len);
	return 0;
}

/* The images file: header checks, then the first min(count, limit) images. */
static int read_images(struct dataset *ds, const char *path, size_t limit, size_t *count,
		       struct err *e)
{
	uint8_t hdr[16];
	gzFile gz;
	int rc = open_gz(&gz, path, e);

	if (rc < 0)
		return rc;
	rc = read_header(gz, path, IDX_IMAGES_MAGIC, hdr, sizeof hdr, e);
	if (rc < 0)
		goto out_close;
	uint32_t n = be32(hdr + 4), rows = be32(hdr + 8), cols = be32(hdr + 12);
	if (rows < 1 || rows > DATASET_MAX_IDX_SIDE || cols < 1 || cols > DATASET_MAX_IDX_SIDE) {
		rc = err_set(e, ERR_INVALID, "%s: image size %" PRIu32 "x%" PRIu32
			     " out of range (1..%d)", path, rows, cols, DATASET_MAX_IDX_SIDE);
		goto out_close;
	}
	if (n == 0) {
		rc = err_set(e, ERR_INVALID, "%s: holds no images", path);
		goto out_close;
	}
	size_t use = limit && limit < n ? limit : n, bytes;
	if (__builtin_mul_overflow(use, (size_t)rows * cols, &bytes)) {
		rc = err_set(e, ERR_RANGE, "%s: %zu images of %" PRIu32 "x%" PRIu32
			     " overflow size_t", path, use, rows, cols);
		goto out_close;
	}
	rc = read_grow(gz, path, bytes, "image data", &ds->pixels, e);
	if (rc < 0)
		goto out_close;
	ds->n = use;
	ds->c = 1;
	ds->h = (int)rows;
	ds->w = (int)cols;
	*count = n;

out_close:
	gzclose(gz);
	return rc;
}

/* The labels file: its count must match the images'; classes = max + 1. */
static int read_labels(struct dataset *ds, const char *path, size_t count, struct err *e)
{
	uint8_t hdr[8], *lab = NULL;
	gzFile gz;
	int rc = open_gz(&gz, path, e);

	if (rc < 0)
		return rc;
	rc = read_header(gz, path, IDX_LABELS_MAGIC, hdr, sizeof hdr, e);
	if (rc < 0)
		goto out_close;
	if (be32(hdr + 4) != count) {
		rc = err_set(e, ERR_INVALID, "%s: %" PRIu32 " labels for %zu images", path,
			     be32(hdr + 4), count);
		goto out_close;
	}
	/* Read every label (count bytes, cheap) so classes do not depend on limit. */
	rc = read_grow(gz, path, count, "labels", &lab, e);
	if (rc < 0)
		goto out_close;
	ds->labels = malloc(ds->n * sizeof *ds->labels);
	if (!ds->labels) {
		rc = err_set(e, ERR_NOMEM, "%s: out of memory for %zu labels", path, ds->n);
		goto out_close;
	}
	int max = 0;
	for (size_t i = 0; i < count; i++)
		max = lab[i] > max ? lab[i] : max;
	for (size_t i = 0; i < ds->n; i++)
		ds->labels[i] = lab[i];
	ds->classes = max + 1; /* at most 256: labels are bytes */

out_close:
	free(lab);
	gzclose(gz);
	return rc;
}

int idx_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e)
{
	const char *set = dataset_split_is_test(cfg->split) ? "t10k" : "train";
	char stem[64], ipath[PATH_MAX], lpath[PATH_MAX];
	struct stat st;
	size_t count = 0;
	int rc;

	if (stat(cfg->path, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(e, ERR_NOTFOUND, "%s: no such directory", cfg->path);
	snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", set);
	rc = find_file(ipath, sizeof ipath, cfg->path, stem, e);
	if (rc < 0)
		return rc;
	snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", set);
	rc = find_file(lpath, sizeof lpath, cfg->path, stem, e);
	if (rc < 0)
		return rc;
	rc = read_images(ds, ipath, cfg->limit, &count, e);
	if (rc < 0)
		return rc;
	return read_labels(ds, lpath, count, e);
}
