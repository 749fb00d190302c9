/*
 * idx.c — MNIST-style IDX files, gzip-compressed or plain (zlib reads both).
 *
 * A directory holds {train,t10k}-images-idx3-ubyte[.gz] and
 * {train,t10k}-labels-idx1-ubyte[.gz]; the .gz file wins when both exist.
 * Images: magic 0x00000803 (u8 data, 3 dims), then big-endian u32 count,
 * rows, cols, then count·rows·cols bytes. Labels: magic 0x00000801, count,
 * then count bytes. Sizes in the header are checked before anything is
 * allocated (count·rows·cols at most DATASET_MAX_PIXEL_BYTES), and buffers
 * grow only as the file actually delivers data, up to the size the header
 * claims and never beyond: a gzip bomb is refused by its header, a lying
 * header is caught when the stream ends early ("truncated") or goes on past
 * the claimed size ("more data than its header claims"). A plain file's size
 * must be exactly what its header says. The probe (idx_probe) reads only the
 * two headers: for a gzip file by inflating the first bytes, from at most
 * PROBE_INPUT bytes of compressed input.
 */
#include "data/dataset_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define FIRST_CHUNK ((size_t)1 << 20)  /* initial read buffer, bytes */
#define MAX_GZREAD ((size_t)1 << 30)   /* gzread takes an unsigned length */
#define PROBE_INPUT ((size_t)1 << 20)  /* compressed bytes a probe reads for a header */
#define PROBE_CHUNK ((size_t)16 << 10) /* ... this many at a time */
#define IMAGES_HEADER 16
#define LABELS_HEADER 8

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "<dir>/<stem>.gz" if it exists, else "<dir>/<stem>" if that exists (what
   either is gets checked when it is opened). */
static int find_file(char *buf, size_t size, const char *dir, const char *stem,
		     struct err *e)
{
	struct stat st;
	int len = snprintf(buf, size, "%s/%s.gz", dir, stem);

	if (len < 0 || (size_t)len >= size)
		return err_set(e, ERR_RANGE, "%s: path too long", dir);
	if (lstat(buf, &st) == 0)
		return 0;
	buf[len - 3] = '\0';
	if (lstat(buf, &st) == 0)
		return 0;
	return err_set(e, ERR_NOTFOUND, "%s: no %s[.gz]", dir, stem);
}

/* The two files of cfg's split, after checking the directory. */
static int find_files(const struct dataset_config *cfg, char *ipath, char *lpath, size_t size,
		      struct err *e)
{
	const char *set = dataset_split_is_test(cfg->split) ? "t10k" : "train";
	char stem[64];
	int rc = dataset_check_dir(cfg->path, e);

	if (rc < 0)
		return rc;
	snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", set);
	if ((rc = find_file(ipath, size, cfg->path, stem, e)) < 0)
		return rc;
	snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", set);
	return find_file(lpath, size, cfg->path, stem, e);
}

/* ---- header checks, shared by the probe and the reader ------------------ */

struct idx_dims {
	uint32_t n, rows, cols;
};

/* hdr holds got of the len header bytes a file starts with; magic first. */
static int check_magic(const char *path, const uint8_t *hdr, size_t got, size_t len,
		       uint32_t magic, struct err *e)
{
	if (got >= 4 && be32(hdr) != magic)
		return err_set(e, ERR_INVALID, "%s: bad magic 0x%08" PRIx32 ", expected 0x%08" PRIx32,
			       path, be32(hdr), magic);
	if (got < len)
		return err_set(e, ERR_INVALID, "%s: truncated header (%zu of %zu bytes)", path,
			       got, len);
	return 0;
}

/* The images header: dims in range, the claim within bounds, and a plain file
   (size known) exactly as long as the header says. */
static int check_images(const char *path, const uint8_t *hdr, int plain, off_t size,
			struct idx_dims *d, struct err *e)
{
	d->n = be32(hdr + 4), d->rows = be32(hdr + 8), d->cols = be32(hdr + 12);
	if (d->rows < 1 || d->rows > DATASET_MAX_IDX_SIDE || d->cols < 1 ||
	    d->cols > DATASET_MAX_IDX_SIDE)
		return err_set(e, ERR_INVALID, "%s: image size %" PRIu32 "x%" PRIu32
			       " out of range (1..%d)", path, d->rows, d->cols, DATASET_MAX_IDX_SIDE);
	if (d->n == 0)
		return err_set(e, ERR_INVALID, "%s: holds no images", path);
	uint64_t px = (uint64_t)d->rows * d->cols;
	int rc = dataset_check_claim(path, d->n, px, "header claims", e);
	if (rc < 0)
		return rc;
	uint64_t want = IMAGES_HEADER + (uint64_t)d->n * px;
	if (plain && (uint64_t)size != want)
		return err_set(e, ERR_INVALID, "%s: %jd bytes, but its header claims %" PRIu32
			       " images of %" PRIu32 "x%" PRIu32 ", %" PRIu64 " bytes with the header",
			       path, (intmax_t)size, d->n, d->rows, d->cols, want);
	return 0;
}

/* The labels header: as many as images, and a plain file exactly that long. */
static int check_labels(const char *path, const uint8_t *hdr, int plain, off_t size,
			size_t count, struct err *e)
{
	if (be32(hdr + 4) != count)
		return err_set(e, ERR_INVALID, "%s: %" PRIu32 " labels for %zu images", path,
			       be32(hdr + 4), count);
	if (plain && (uint64_t)size != LABELS_HEADER + (uint64_t)count)
		return err_set(e, ERR_INVALID, "%s: %jd bytes, but its header claims %zu labels, "
			       "%zu bytes with the header", path, (intmax_t)size, count,
			       LABELS_HEADER + count);
	return 0;
}

/* ---- the probe ---------------------------------------------------------- */

/* Read up to n bytes at off into buf, retrying short reads; *got receives them. */
static int pread_some(int fd, const char *path, uint8_t *buf, size_t n, off_t off, size_t *got,
		      struct err *e)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = pread(fd, buf + *got, n - *got, off + (off_t)*got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

/*
 * The first len (<= 16) bytes of fd's content into out (*got of them; fewer
 * only at its end), as gzread would give them: inflated if the file starts
 * with the gzip magic (*plain = 0; members one after another, as gzip
 * concatenates them), else the bytes themselves (*plain = 1). Reads at most
 * PROBE_INPUT bytes: the memory and time are bounded whatever the file.
 */
static int peek(int fd, const char *path, uint8_t *out, size_t len, size_t *got, int *plain,
		struct err *e)
{
	uint8_t *in = malloc(PROBE_CHUNK);
	size_t have;
	int rc;

	*got = 0;
	if (!in)
		return err_set(e, ERR_NOMEM, "%s: out of memory", path);
	if ((rc = pread_some(fd, path, in, PROBE_CHUNK, 0, &have, e)) < 0)
		goto out;
	*plain = !(have >= 2 && in[0] == 0x1f && in[1] == 0x8b);
	if (*plain) {
		*got = have < len ? have : len;
		memcpy(out, in, *got);
		goto out;
	}
	z_stream z = { .next_in = in, .avail_in = (uInt)have, .next_out = out,
		       .avail_out = (uInt)len };
	if (inflateInit2(&z, 15 + 16) != Z_OK) { /* gzip only: the magic says so */
		rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	off_t off = (off_t)have;
	size_t read_in = have;
	while (z.avail_out > 0) {
		int zr = inflate(&z, Z_NO_FLUSH);
		if (z.avail_out == 0)
			break;
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			rc = err_set(e, ERR_INVALID, "%s: bad gzip data: %s", path,
				     z.msg ? z.msg : "inflate failed");
			break;
		}
		if (zr == Z_BUF_ERROR && z.avail_in > 0) { /* no progress possible */
			rc = err_set(e, ERR_INVALID, "%s: bad gzip data", path);
			break;
		}
		if (zr == Z_STREAM_END || z.avail_in == 0) {
			/* Keep what is left, top up the buffer, and go on. */
			size_t left = z.avail_in, more = 0;
			memmove(in, z.next_in, left);
			if (read_in < PROBE_INPUT &&
			    (rc = pread_some(fd, path, in + left, PROBE_CHUNK - left, off, &more, e)) < 0)
				break;
			off += (off_t)more, read_in += more;
			z.next_in = in, z.avail_in = (uInt)(left + more);
			if (zr == Z_STREAM_END) { /* another member, or the end of the data */
				if (!(z.avail_in >= 2 && in[0] == 0x1f && in[1] == 0x8b))
					break;
				inflateReset(&z);
			} else if (more == 0) {
				if (read_in >= PROBE_INPUT)
					rc = err_set(e, ERR_INVALID, "%s: no IDX header in its first %zu "
						     "KiB of gzip data", path, PROBE_INPUT >> 10);
				break; /* else the end of the file: a truncated header */
			}
		}
	}
	*got = len - z.avail_out;
	inflateEnd(&z);
out:
	free(in);
	return rc;
}

/* Open one file and check its header: images (d filled) or labels (count). */
static int probe_file(const char *path, int images, struct idx_dims *d, size_t count,
		      struct err *e)
{
	uint8_t hdr[IMAGES_HEADER];
	size_t len = images ? IMAGES_HEADER : LABELS_HEADER, got;
	struct stat st;
	int plain = 0, fd = dataset_open_file(path, &st, e), rc;

	if (fd < 0)
		return fd;
	rc = peek(fd, path, hdr, len, &got, &plain, e);
	close(fd);
	if (rc == 0)
		rc = check_magic(path, hdr, got, len, images ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC,
				 e);
	if (rc == 0)
		rc = images ? check_images(path, hdr, plain, st.st_size, d, e)
			    : check_labels(path, hdr, plain, st.st_size, count, e);
	return rc;
}

int idx_probe(const struct dataset_config *cfg, size_t *n, struct err *e)
{
	char ipath[PATH_MAX], lpath[PATH_MAX];
	struct idx_dims d;
	int rc = find_files(cfg, ipath, lpath, sizeof ipath, e);

	if (rc == 0)
		rc = probe_file(ipath, 1, &d, 0, e);
	if (rc == 0)
		rc = probe_file(lpath, 0, NULL, d.n, e);
	if (rc == 0)
		*n = cfg->limit && cfg->limit < d.n ? cfg->limit : d.n;
	return rc;
}

/* ---- the reader ----------------------------------------------------------- */

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

/* Open path (checked: a regular file, never blocking) for gzread; its size in *size. */
static int open_gz(gzFile *gz, const char *path, off_t *size, struct err *e)
{
	struct stat st;
	int fd = dataset_open_file(path, &st, e);

	if (fd < 0)
		return fd;
	*size = st.st_size;
	*gz = gzdopen(fd, "rb");
	if (!*gz) {
		close(fd);
		return err_set(e, ERR_NOMEM, "%s: cannot open: out of memory", path);
	}
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
	return check_magic(path, hdr, got, len, magic, e);
}

/* Open path and read its header (len bytes, which must start with magic); on failure
   the file is closed. */
static int open_header(gzFile *gz, const char *path, uint32_t magic, uint8_t *hdr, size_t len,
		       off_t *size, struct err *e)
{
	int rc = open_gz(gz, path, size, e);
	if (rc < 0)
		return rc;
	rc = read_header(*gz, path, magic, hdr, len, e);
	if (rc < 0)
		gzclose(*gz);
	return rc;
}

/* After the claimed data: the stream must end here (a lying header is caught
   before anything more is read, let alone kept). */
static int expect_end(gzFile gz, const char *path, const char *claim, struct err *e)
{
	uint8_t extra;
	size_t got;
	int rc = gz_read_all(gz, path, &extra, 1, &got, e);

	if (rc == 0 && got)
		rc = err_set(e, ERR_INVALID, "%s: more data than its header claims (%s): the "
			     "header is wrong", path, claim);
	return rc;
}

/* The images file: header checks, then the first min(count, limit) images. */
static int read_images(struct dataset *ds, const char *path, size_t limit, size_t *count,
		       struct err *e)
{
	uint8_t hdr[IMAGES_HEADER];
	struct idx_dims d;
	off_t size;
	gzFile gz;
	int rc = open_header(&gz, path, IDX_IMAGES_MAGIC, hdr, sizeof hdr, &size, e);

	if (rc < 0)
		return rc;
	rc = check_images(path, hdr, gzdirect(gz), size, &d, e);
	if (rc < 0)
		goto out_close;
	/* Bounded by check_images: at most DATASET_MAX_PIXEL_BYTES. */
	size_t use = limit && limit < d.n ? limit : d.n;
	size_t bytes = use * (size_t)d.rows * d.cols;
	rc = read_grow(gz, path, bytes, "image data", &ds->pixels, e);
	if (rc == 0 && use == d.n) {
		char claim[96];
		snprintf(claim, sizeof claim, "%" PRIu32 " images of %" PRIu32 "x%" PRIu32, d.n,
			 d.rows, d.cols);
		rc = expect_end(gz, path, claim, e);
	}
	if (rc < 0)
		goto out_close;
	ds->n = use;
	ds->c = 1;
	ds->h = (int)d.rows;
	ds->w = (int)d.cols;
	*count = d.n;

out_close:
	gzclose(gz);
	return rc;
}

/* The labels file: its count must match the images'; classes = max + 1. */
static int read_labels(struct dataset *ds, const char *path, size_t count, struct err *e)
{
	uint8_t hdr[LABELS_HEADER], *lab = NULL;
	off_t size;
	gzFile gz;
	int rc = open_header(&gz, path, IDX_LABELS_MAGIC, hdr, sizeof hdr, &size, e);

	if (rc < 0)
		return rc;
	rc = check_labels(path, hdr, gzdirect(gz), size, count, e);
	if (rc < 0)
		goto out_close;
	/* Read every label (count bytes, cheap) so classes do not depend on limit. */
	rc = read_grow(gz, path, count, "labels", &lab, e);
	if (rc == 0) {
		char claim[64];
		snprintf(claim, sizeof claim, "%zu labels", count);
		rc = expect_end(gz, path, claim, e);
	}
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
	char ipath[PATH_MAX], lpath[PATH_MAX];
	size_t count = 0;
	int rc = find_files(cfg, ipath, lpath, sizeof ipath, e);

	if (rc < 0)
		return rc;
	rc = read_images(ds, ipath, cfg->limit, &count, e);
	if (rc < 0)
		return rc;
	return read_labels(ds, lpath, count, e);
}
