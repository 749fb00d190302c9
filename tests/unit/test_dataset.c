/*
 * test_dataset.c — the dataset API and the in-memory formats: Fashion-MNIST
 * as installed by Debian, then synthetic IDX (gzip and plain) and CIFAR-10/100
 * files written into a temporary directory, good and bad (wrong magic,
 * truncation, count and size mismatches, labels out of range, missing files),
 * pixel round trips and channel conversion; dataset_probe on each (headers
 * only, what it sees and what it cannot), files that are not regular (FIFOs,
 * devices, directories, /proc and /sys files) refused without blocking, and
 * the pixel bound: a gzip bomb refused by its header, a lying header stopped
 * at its claimed size. JPEG folders: test_imagefolder.c.
 */
#include <sys/resource.h>
#include <zlib.h>

#include "dataset_test_util.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

/* ---- IDX writer -------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* An IDX file: magic, then dims (big-endian u32), then data; gz or plain. */
static void write_idx(const char *path, int gz, uint32_t magic, const uint32_t *dims, int ndim,
		      const uint8_t *data, size_t n)
{
	uint8_t hdr[16];
	size_t len = 4 + 4 * (size_t)ndim;

	put_be32(hdr, magic);
	for (int i = 0; i < ndim; i++)
		put_be32(hdr + 4 + 4 * i, dims[i]);
	if (!gz) {
		uint8_t *buf = malloc(len + n);
		memcpy(buf, hdr, len);
		memcpy(buf + len, data, n);
		write_bytes(path, buf, len + n);
		free(buf);
		return;
	}
	gzFile f = gzopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(gzwrite(f, hdr, (unsigned)len), (int)len);
	if (n)
		assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
	assert_int_equal(gzclose(f), Z_OK);
}

/* ---- Fashion-MNIST ----------------------------------------------------- */

static void test_format_parse(void **state)
{
	(void)state;
	enum dataset_format f;
	assert_int_equal(dataset_format_parse("idx", &f), 0);
	assert_int_equal(f, DATASET_IDX);
	assert_int_equal(dataset_format_parse("cifar100", &f), 0);
	assert_int_equal(f, DATASET_CIFAR100);
	assert_int_equal(dataset_format_parse("imagefolder", &f), 0);
	assert_int_equal(f, DATASET_IMAGEFOLDER);
	assert_int_equal(dataset_format_parse("cifar10", &f), 0);
	assert_int_equal(f, DATASET_CIFAR10);
	assert_int_equal(dataset_format_parse("IDX", &f), -1);
	assert_int_equal(dataset_format_parse("", &f), -1);
}

static void test_fmnist(void **state)
{
	(void)state;
	struct dataset *ds;
	struct image img = { 0 }, rgb = { 0 };
	struct err e;
	int c, h, w;

	if (access(FMNIST "/train-images-idx3-ubyte.gz", R_OK) != 0)
		skip();
	assert_int_equal(open_ds(&ds, DATASET_IDX, FMNIST, "train", 0, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 60000);
	assert_int_equal(dataset_classes(ds), 10);
	assert_int_equal(dataset_label(ds, 0), 9);
	assert_int_equal(dataset_label(ds, 60000), -1);
	dataset_shape(ds, 59999, &c, &h, &w);
	assert_true(c == 1 && h == 28 && w == 28);
	assert_int_equal(dataset_load(ds, 0, &img, &e), 0);
	assert_true(img.c == 1 && img.h == 28 && img.w == 28 && !img.owned);
	unsigned long sum = 0, wsum = 0;
	for (int k = 0; k < 784; k++) {
		sum += img.px[k];
		wsum += (unsigned long)(k + 1) * img.px[k];
	}
	assert_int_equal(sum, 76247); /* computed with Python's gzip module */
	assert_int_equal(wsum, 35954273);
	uint8_t first[784];
	memcpy(first, img.px, sizeof first);
	assert_int_equal(dataset_load(ds, 60000, &img, &e), ERR_RANGE);
	image_free(&img);
	dataset_free(ds);

	/* channels 3 replicates the plane; limit keeps the first images. */
	assert_int_equal(open_ds(&ds, DATASET_IDX, FMNIST, "train", 100, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 100);
	assert_int_equal(dataset_classes(ds), 10);
	assert_int_equal(dataset_load(ds, 0, &rgb, &e), 0);
	assert_true(rgb.c == 3 && rgb.owned);
	for (int ch = 0; ch < 3; ch++)
		assert_memory_equal(rgb.px + ch * 784, first, 784);
	image_free(&rgb);
	dataset_free(ds);

	assert_int_equal(open_ds(&ds, DATASET_IDX, FMNIST, "test", 0, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 10000);
	assert_int_equal(dataset_classes(ds), 10);
	assert_int_equal(dataset_label(ds, 0), 9);
	assert_int_equal(dataset_label(ds, 1), 2);
	dataset_free(ds);
}

/* The probe reads two headers: the counts, at once. */
static void test_fmnist_probe(void **state)
{
	(void)state;
	if (access(FMNIST "/train-images-idx3-ubyte.gz", R_OK) != 0)
		skip();
	double t0 = now_seconds();
	expect_probe(DATASET_IDX, FMNIST, "train", 0, 0, 60000);
	double t1 = now_seconds();
	expect_probe(DATASET_IDX, FMNIST, "test", 0, 1, 10000);
	expect_probe(DATASET_IDX, FMNIST, "train", 100, 0, 100);
	expect_probe(DATASET_IDX, FMNIST, "test", 20000, 0, 10000);
	print_message("probe of Fashion-MNIST train: %.3f ms\n", 1e3 * (t1 - t0));
	assert_true(t1 - t0 < 0.05);
	/* Bad configs are the probe's errors too. */
	expect_probe_error(DATASET_IDX, FMNIST, "valid", 0, ERR_INVALID, "must be train or test");
	struct dataset_config cfg = { .format = DATASET_IDX, .path = FMNIST, .channels = 2 };
	struct err e;
	size_t n = 5;
	assert_int_equal(dataset_probe(&cfg, &n, &e), ERR_INVALID);
	assert_int_equal(n, 0);
	assert_non_null(strstr(e.msg, "channels"));
}

/* ---- synthetic IDX ----------------------------------------------------- */

static const uint8_t idx_labels[5] = { 3, 0, 7, 1, 2 };

/* Five 3×4 images and their labels in dir, for split "train" or "t10k". */
static void write_idx_set(const char *dir, const char *set, int gz, uint8_t base)
{
	uint8_t px[5 * 12];
	uint32_t idims[3] = { 5, 3, 4 }, ldims[1] = { 5 };
	char path[512];

	for (int i = 0; i < 60; i++)
		px[i] = (uint8_t)(base + i);
	snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, set, gz ? ".gz" : "");
	write_idx(path, gz, 0x803, idims, 3, px, sizeof px);
	snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, set, gz ? ".gz" : "");
	write_idx(path, gz, 0x801, ldims, 1, idx_labels, 5);
}

static void test_idx_synthetic(void **state)
{
	(void)state;
	char dir[512];
	struct dataset *ds;
	struct image img = { 0 };
	struct err e;

	tmp_dir(dir, sizeof dir, "idx");
	write_idx_set(dir, "train", 1, 0);
	write_idx_set(dir, "train", 0, 100); /* plain twin: .gz must win */
	write_idx_set(dir, "t10k", 0, 50);
	expect_probe(DATASET_IDX, dir, "train", 0, 0, 5);
	expect_probe(DATASET_IDX, dir, "test", 2, 0, 2);
	expect_probe(DATASET_IDX, dir, "test", 9, 1, 5);
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 0, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 5);
	assert_int_equal(dataset_classes(ds), 8);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(dataset_label(ds, (size_t)i), idx_labels[i]);
		assert_int_equal(dataset_load(ds, (size_t)i, &img, &e), 0);
		assert_true(img.h == 3 && img.w == 4 && img.c == 1);
		for (int k = 0; k < 12; k++)
			assert_int_equal(img.px[k], i * 12 + k);
	}
	dataset_free(ds);

	/* Plain file, split test, limit: classes still come from every label. */
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "test", 2, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 2);
	assert_int_equal(dataset_classes(ds), 8);
	assert_int_equal(dataset_load(ds, 1, &img, &e), 0);
	assert_int_equal(img.px[0], 62);
	dataset_free(ds);
	image_free(&img);
}

/* A bad IDX case in its own directory: images header dims, labels count. */
static void idx_case(const char *name, uint32_t magic, const uint32_t *idims, size_t npx,
		     uint32_t nlabels, char *dir, size_t size)
{
	uint8_t px[256] = { 0 };
	uint32_t ldims[1] = { nlabels };
	char path[600];

	tmp_dir(dir, size, "idxbad/%s", name);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	write_idx(path, 1, magic, idims, 3, px, npx);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	write_idx(path, 1, 0x801, ldims, 1, px, nlabels < 256 ? nlabels : 256);
}

static void test_idx_bad(void **state)
{
	(void)state;
	char dir[256], want[700];
	uint8_t zeros[60] = { 0 };
	uint32_t ok[3] = { 5, 3, 4 }, zero_rows[3] = { 5, 0, 4 }, wide[3] = { 5, 3, 5000 };
	uint32_t huge[3] = { 0xffffffffu, 4096, 4096 };

	idx_case("magic", 0x804, ok, 60, 5, dir, sizeof dir);
	snprintf(want, sizeof want,
		 "%s/train-images-idx3-ubyte.gz: bad magic 0x00000804, expected 0x00000803", dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, want);

	/* A gzip file's data is not read by the probe: only open sees it short. */
	idx_case("truncated", 0x803, ok, 40, 5, dir, sizeof dir);
	expect_open_error(DATASET_IDX, dir, "train", ERR_INVALID, "truncated: 40 of 60 bytes");
	expect_probe(DATASET_IDX, dir, "train", 0, 0, 5);

	idx_case("count", 0x803, ok, 60, 4, dir, sizeof dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "4 labels for 5 images");

	idx_case("dims", 0x803, zero_rows, 0, 5, dir, sizeof dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "image size 0x4 out of range");
	idx_case("wide", 0x803, wide, 0, 5, dir, sizeof dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "out of range");

	/* A header claiming 2^32 images of 16 MB is refused by the pixel bound. */
	idx_case("huge", 0x803, huge, 100, 5, dir, sizeof dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_RANGE, "(67108864.0 GiB), over the 8 GiB");
	/* ... and so is one claiming more images than any data set may have. */
	uint32_t dots[3] = { 300000000u, 1, 1 };
	idx_case("many", 0x803, dots, 100, 5, dir, sizeof dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_RANGE,
			  "header claims 300000000 images, over the limit of 268435456");

	uint32_t none[3] = { 0, 3, 4 };
	idx_case("empty", 0x803, none, 0, 0, dir, sizeof dir);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "holds no images");

	/* Files cut inside the header: a gzip stream, then a plain file. */
	char path[600];
	idx_case("gzcut", 0x803, ok, 60, 5, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	assert_int_equal(truncate(path, 12), 0);
	snprintf(want, sizeof want, "%s: truncated header (", path);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, want);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
	write_bytes(path, "\0\0\x08\x03\0\0", 6);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	assert_int_equal(unlink(path), 0);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-images-idx3-ubyte: truncated header (6 of 16 bytes)");

	/* Images where the labels should be. */
	idx_case("swapped", 0x803, ok, 60, 5, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	write_idx(path, 1, 0x803, ok, 3, zeros, sizeof zeros);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-labels-idx1-ubyte.gz: bad magic 0x00000803, expected 0x00000801");

	/* Missing files and directories, bad config. */
	expect_both_error(DATASET_IDX, dir, "test", ERR_NOTFOUND, "t10k-images-idx3-ubyte[.gz]");
	expect_both_error(DATASET_IDX, "/nonexistent/byol", "train", ERR_NOTFOUND,
			  "/nonexistent/byol: no such directory");
	expect_both_error(DATASET_IDX, dir, "valid", ERR_INVALID, "must be train or test");
	struct dataset *ds;
	struct err e;
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 0, 2, 0, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "channels"));
}


/* A plain file must be exactly as long as its header says: both ways. */
static void test_idx_plain_sizes(void **state)
{
	(void)state;
	char dir[512], path[600];
	uint8_t px[61] = { 0 };
	uint32_t dims[3] = { 5, 3, 4 }, ldims[1] = { 5 };

	tmp_dir(dir, sizeof dir, "idxsize");
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
	write_idx(path, 0, 0x801, ldims, 1, idx_labels, 5);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
	write_idx(path, 0, 0x803, dims, 3, px, 60);
	expect_probe(DATASET_IDX, dir, "train", 0, 0, 5);

	write_idx(path, 0, 0x803, dims, 3, px, 59); /* one byte short */
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-images-idx3-ubyte: 75 bytes, but its header claims 5 images of "
			  "3x4, 76 bytes with the header");
	write_idx(path, 0, 0x803, dims, 3, px, 61); /* one byte over */
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "77 bytes, but its header");
	/* A limit does not excuse a short file. */
	struct dataset *ds;
	struct err e;
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 2, 1, 0, &e), ERR_INVALID);

	write_idx(path, 0, 0x803, dims, 3, px, 60);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
	uint8_t labs[6] = { 1, 2, 3, 4, 5, 6 };
	write_idx(path, 0, 0x801, ldims, 1, labs, 6);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-labels-idx1-ubyte: 14 bytes, but its header claims 5 labels");
}

/* Peak RSS of the process so far, MiB. */
static double peak_rss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

/* A gzip'd IDX images file: header (count of rows×cols), then `zeros` zero bytes. */
static void write_zeros_gz(const char *path, uint32_t count, uint32_t rows, uint32_t cols,
			   size_t zeros)
{
	static const uint8_t block[1 << 16];
	uint8_t hdr[16];
	gzFile f = gzopen(path, "wb9");

	assert_non_null(f);
	put_be32(hdr, 0x803), put_be32(hdr + 4, count), put_be32(hdr + 8, rows);
	put_be32(hdr + 12, cols);
	assert_int_equal(gzwrite(f, hdr, 16), 16);
	for (size_t done = 0; done < zeros; done += sizeof block) {
		unsigned n = (unsigned)(zeros - done < sizeof block ? zeros - done : sizeof block);
		assert_int_equal(gzwrite(f, block, n), (int)n);
	}
	assert_int_equal(gzclose(f), Z_OK);
}

/* A gzip'd labels file holding only its header. */
static void write_labels_header_gz(const char *path, uint32_t count)
{
	uint32_t dims[1] = { count };
	write_idx(path, 1, 0x801, dims, 1, NULL, 0);
}

/*
 * The bomb: a header claiming 10^9 images of 28×28 (730 GiB) over 64 MiB of
 * zeros (64 KiB compressed). Probe and open refuse it by its header, at once
 * and without memory. A header that lies (1000 images, then the 64 MiB) is
 * stopped where the claim ends: open fails naming the file, having kept no
 * more than the 784000 bytes claimed.
 */
static void test_gzip_bomb(void **state)
{
	(void)state;
	char dir[512], path[1024];
	struct dataset *ds = (struct dataset *)1;
	struct err e;

	tmp_dir(dir, sizeof dir, "bomb");
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	write_zeros_gz(path, 1000000000u, 28, 28, (size_t)64 << 20);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	write_labels_header_gz(path, 1000000000u);

	double rss0 = peak_rss_mb(), t0 = now_seconds();
	expect_probe_error(DATASET_IDX, dir, "train", 1, ERR_RANGE,
			   "header claims 1000000000 images of 784 bytes (730.2 GiB), over the 8 "
			   "GiB limit");
	double t1 = now_seconds();
	expect_open_error(DATASET_IDX, dir, "train", ERR_RANGE, "over the 8 GiB limit");
	double t2 = now_seconds(), rss1 = peak_rss_mb();
	print_message("bomb: probe %.3f ms, open %.3f ms, peak RSS +%.1f MiB\n", 1e3 * (t1 - t0),
		      1e3 * (t2 - t1), rss1 - rss0);
	assert_true(t1 - t0 < 0.1 && t2 - t1 < 0.1);
	assert_true(rss1 - rss0 < 16);

	/* The lying header. The probe cannot know (it reads no data). */
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	write_zeros_gz(path, 1000, 28, 28, (size_t)64 << 20);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	uint8_t labs[1000] = { 0 };
	uint32_t ldims[1] = { 1000 };
	write_idx(path, 1, 0x801, ldims, 1, labs, sizeof labs);
	expect_probe(DATASET_IDX, dir, "train", 0, 0, 1000);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz: more data than its header "
		 "claims (1000 images of 28x28): the header is wrong", dir);
	rss0 = peak_rss_mb();
	expect_open_error(DATASET_IDX, dir, "train", ERR_INVALID, path);
	rss1 = peak_rss_mb();
	assert_true(rss1 - rss0 < 16);
	/* With a limit only the first images are read, and the rest is not looked at. */
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 10, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 10);
	dataset_free(ds);

	/* The bound itself: 8 GiB of 28×28 images is 10956549 of them. */
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	write_zeros_gz(path, 10956549u, 28, 28, 0);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	write_labels_header_gz(path, 10956549u);
	expect_probe(DATASET_IDX, dir, "train", 0, 0, 10956549u);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	write_zeros_gz(path, 10956550u, 28, 28, 0);
	expect_probe_error(DATASET_IDX, dir, "train", 0, ERR_RANGE, "over the 8 GiB limit");
}

/* gzip members one after another (as `cat a.gz b.gz` makes): the header may
   straddle them; and a header beyond the probe's 1 MiB of input is refused
   by the probe (only), which therefore never reads more. */
static void test_gzip_members(void **state)
{
	(void)state;
	char dir[512], path[600];
	uint8_t hdr[16], px[60];
	uint32_t ldims[1] = { 5 };

	tmp_dir(dir, sizeof dir, "members");
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	write_idx(path, 1, 0x801, ldims, 1, idx_labels, 5);
	put_be32(hdr, 0x803), put_be32(hdr + 4, 5), put_be32(hdr + 8, 3), put_be32(hdr + 12, 4);
	for (int i = 0; i < 60; i++)
		px[i] = (uint8_t)i;
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	gzFile f = gzopen(path, "wb");
	assert_int_equal(gzwrite(f, hdr, 6), 6);
	assert_int_equal(gzclose(f), Z_OK);
	f = gzopen(path, "ab");
	assert_int_equal(gzclose(f), Z_OK); /* an empty member between */
	f = gzopen(path, "ab");
	assert_int_equal(gzwrite(f, hdr + 6, 10), 10);
	assert_int_equal(gzwrite(f, px, 60), 60);
	assert_int_equal(gzclose(f), Z_OK);
	expect_probe(DATASET_IDX, dir, "train", 0, 0, 5);
	struct dataset *ds;
	struct image img = { 0 };
	struct err e;
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 0, 1, 0, &e), 0);
	assert_int_equal(dataset_load(ds, 4, &img, &e), 0);
	assert_int_equal(img.px[11], 59);
	dataset_free(ds);

	/* A gzip header with a 2 MiB file name before the data (FNAME). */
	size_t name = (size_t)2 << 20;
	uint8_t *buf = malloc(10 + name + 1 + 256);
	static const uint8_t gzhead[10] = { 0x1f, 0x8b, 8, 8, 0, 0, 0, 0, 0, 3 };
	memcpy(buf, gzhead, 10);
	memset(buf + 10, 'a', name);
	buf[10 + name] = 0;
	uint8_t raw[16 + 60];
	memcpy(raw, hdr, 16);
	memcpy(raw + 16, px, 60);
	z_stream z = { 0 };
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = raw, z.avail_in = sizeof raw;
	z.next_out = buf + 11 + name, z.avail_out = 240;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = 11 + name + z.total_out;
	deflateEnd(&z);
	uLong crc = crc32(0, raw, sizeof raw);
	for (int i = 0; i < 4; i++)
		buf[len++] = (uint8_t)(crc >> (8 * i));
	for (int i = 0; i < 4; i++)
		buf[len++] = (uint8_t)(sizeof raw >> (8 * i));
	write_bytes(path, buf, len);
	free(buf);
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 0, 1, 0, &e), 0);
	dataset_free(ds);
	expect_probe_error(DATASET_IDX, dir, "train", 0, ERR_INVALID,
			   "no IDX header in its first 1024 KiB of gzip data");
}

/* Not regular files: refused by what they are, and never opened for reading
   when that could block (a FIFO) — the watchdog ends the binary otherwise. */
static void test_special_files(void **state)
{
	(void)state;
	char dir[512], path[600], want[700];
	uint32_t ok[3] = { 5, 3, 4 };

	idx_case("special", 0x803, ok, 60, 5, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(want, sizeof want, "%s: is a FIFO, not a regular file", path);
	watchdog_arm(10);
	double t0 = now_seconds();
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, want);
	double t1 = now_seconds();
	watchdog_disarm();
	assert_true(t1 - t0 < 0.5);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/dev/zero", path), 0);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-images-idx3-ubyte.gz: is a character device, not a regular file");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-images-idx3-ubyte.gz: is a directory, not a regular file");
	assert_int_equal(rmdir(path), 0);

	/* Regular files of /proc and /sys: stat calls them regular; they are not data. */
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
	assert_int_equal(symlink("/proc/self/status", path), 0);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID,
			  "train-images-idx3-ubyte: is a file of /proc (procfs), not a data file");
	assert_int_equal(unlink(path), 0);
	if (access("/sys/kernel/address_bits", R_OK) == 0) {
		assert_int_equal(symlink("/sys/kernel/address_bits", path), 0);
		expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "is a file of /sys (sysfs)");
		assert_int_equal(unlink(path), 0);
	}

	/* The labels file, and the directory itself. */
	idx_case("special2", 0x803, ok, 60, 5, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	watchdog_arm(10);
	expect_both_error(DATASET_IDX, dir, "train", ERR_INVALID, "is a FIFO, not a regular file");
	struct dataset *ds;
	struct err e;
	assert_int_equal(open_ds(&ds, DATASET_IDX, dir, "train", 0, 1, 1, &e), ERR_INVALID);
	watchdog_disarm();
	expect_both_error(DATASET_IDX, path, "train", ERR_INVALID, "is a FIFO, not a directory");
	expect_both_error(DATASET_IDX, "/proc/self", "train", ERR_INVALID,
			  "/proc/self: is a directory of /proc (procfs), not a data directory");
	expect_both_error(DATASET_CIFAR10, "/proc/self", "test", ERR_INVALID, "not a data directory");

	/* CIFAR: a FIFO batch. */
	tmp_dir(dir, sizeof dir, "specialcifar");
	snprintf(path, sizeof path, "%s/test_batch.bin", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	watchdog_arm(10);
	expect_both_error(DATASET_CIFAR10, dir, "test", ERR_INVALID,
			  "test_batch.bin: is a FIFO, not a regular file");
	watchdog_disarm();
}

/* ---- CIFAR ------------------------------------------------------------- */

/* A CIFAR file of n records; record r of file f gets label lab(f, r). */
static void write_cifar(const char *path, int f, int n, int label_bytes, int classes)
{
	size_t rec = (size_t)label_bytes + 3072;
	uint8_t *buf = malloc(rec * (size_t)n);

	for (int r = 0; r < n; r++) {
		uint8_t *p = buf + rec * (size_t)r;
		p[0] = (uint8_t)((f * 7 + r) % (label_bytes == 2 ? 20 : classes));
		if (label_bytes == 2)
			p[1] = (uint8_t)((f * 31 + r * 13) % classes);
		for (int k = 0; k < 3072; k++)
			p[label_bytes + k] = pix((unsigned)(f * 1000 + r), (unsigned)k);
	}
	write_bytes(path, buf, rec * (size_t)n);
	free(buf);
}

static void check_cifar_image(const struct dataset *ds, size_t i, int f, int r, int fine)
{
	struct image img = { 0 };
	struct err e;

	assert_int_equal(dataset_label(ds, i), fine ? (f * 31 + r * 13) % 100 : (f * 7 + r) % 10);
	assert_int_equal(dataset_load(ds, i, &img, &e), 0);
	assert_true(img.c == 3 && img.h == 32 && img.w == 32 && !img.owned);
	for (int k = 0; k < 3072; k++)
		assert_int_equal(img.px[k], pix((unsigned)(f * 1000 + r), (unsigned)k));
	image_free(&img);
}

static void test_cifar10(void **state)
{
	(void)state;
	static const int counts[5] = { 2, 3, 1, 2, 2 };
	char dir[512], path[600];
	struct dataset *ds;
	struct image gray = { 0 }, rgb = { 0 };
	struct err e;

	tmp_dir(dir, sizeof dir, "cifar10/cifar-10-batches-bin");
	for (int f = 0; f < 5; f++) {
		snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f + 1);
		write_cifar(path, f, counts[f], 1, 10);
	}
	snprintf(path, sizeof path, "%s/test_batch.bin", dir);
	write_cifar(path, 9, 3, 1, 10);

	/* The parent of the archive's folder works too. */
	tmp_dir(path, sizeof path, "cifar10");
	expect_probe(DATASET_CIFAR10, path, "train", 0, 0, 10);
	expect_probe(DATASET_CIFAR10, dir, "train", 4, 0, 4);
	expect_probe(DATASET_CIFAR10, dir, "test", 0, 1, 3);
	assert_int_equal(open_ds(&ds, DATASET_CIFAR10, path, "train", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 10);
	assert_int_equal(dataset_classes(ds), 10);
	for (int f = 0, i = 0; f < 5; f++)
		for (int r = 0; r < counts[f]; r++)
			check_cifar_image(ds, (size_t)i++, f, r, 0);
	dataset_free(ds);

	/* Grey: rounded luminance; limit spans the first two files. */
	assert_int_equal(open_ds(&ds, DATASET_CIFAR10, dir, "train", 4, 1, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 4);
	assert_int_equal(dataset_load(ds, 3, &gray, &e), 0);
	assert_true(gray.c == 1 && gray.owned);
	for (int k = 0; k < 1024; k++) {
		const uint8_t r = pix(1001, (unsigned)k), g = pix(1001, 1024u + (unsigned)k);
		const uint8_t b = pix(1001, 2048u + (unsigned)k);
		assert_int_equal(gray.px[k], luma_ref(r, g, b));
	}
	dataset_free(ds);

	assert_int_equal(open_ds(&ds, DATASET_CIFAR10, dir, "test", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 3);
	check_cifar_image(ds, 2, 9, 2, 0);
	/* An owned buffer is given up when the next image is borrowed. */
	assert_int_equal(dataset_load(ds, 0, &gray, &e), 0);
	assert_true(!gray.owned && gray.c == 3);
	assert_int_equal(dataset_load(ds, 0, &rgb, &e), 0);
	assert_ptr_equal(gray.px, rgb.px);
	dataset_free(ds);
	image_free(&gray);
}

static void test_cifar100(void **state)
{
	(void)state;
	char dir[512], path[600];
	struct dataset *ds;
	struct err e;

	tmp_dir(dir, sizeof dir, "cifar100");
	snprintf(path, sizeof path, "%s/train.bin", dir);
	write_cifar(path, 0, 9, 2, 100);
	snprintf(path, sizeof path, "%s/test.bin", dir);
	write_cifar(path, 1, 4, 2, 100);
	expect_probe(DATASET_CIFAR100, dir, "train", 0, 0, 9);
	expect_probe(DATASET_CIFAR100, dir, "test", 0, 0, 4);
	assert_int_equal(open_ds(&ds, DATASET_CIFAR100, dir, "train", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 9);
	assert_int_equal(dataset_classes(ds), 100);
	for (int r = 0; r < 9; r++)
		check_cifar_image(ds, (size_t)r, 0, r, 1);
	dataset_free(ds);
	assert_int_equal(open_ds(&ds, DATASET_CIFAR100, dir, "test", 0, 3, 0, &e), 0);
	assert_int_equal(dataset_size(ds), 4);
	check_cifar_image(ds, 3, 1, 3, 1);
	dataset_free(ds);
}

static void test_cifar_bad(void **state)
{
	(void)state;
	char dir[512], path[600], want[700];
	uint8_t rec[3074 * 2 + 1] = { 0 };

	tmp_dir(dir, sizeof dir, "cifarbad/size");
	snprintf(path, sizeof path, "%s/test_batch.bin", dir);
	write_bytes(path, rec, 3073 * 2 + 1);
	snprintf(want, sizeof want, "%s: size 6147 is not a positive multiple of the 3073-byte record",
		 path);
	expect_both_error(DATASET_CIFAR10, dir, "test", ERR_INVALID, want);
	write_bytes(path, rec, 0);
	expect_both_error(DATASET_CIFAR10, dir, "test", ERR_INVALID, "size 0");

	/* A sparse file claiming 9 GiB of records: refused by its size, never read. */
	assert_int_equal(truncate(path, (off_t)3073 * 3200000), 0);
	expect_both_error(DATASET_CIFAR10, dir, "test", ERR_RANGE, "over the 8 GiB limit");

	/* Labels out of range: only open reads them. */
	rec[0] = 10;
	write_bytes(path, rec, 3073);
	expect_open_error(DATASET_CIFAR10, dir, "test", ERR_INVALID, "record 0: label 10 out of range");
	expect_probe(DATASET_CIFAR10, dir, "test", 0, 0, 1);
	snprintf(path, sizeof path, "%s/test.bin", dir);
	rec[0] = 3, rec[1] = 100;
	write_bytes(path, rec, 3074);
	expect_open_error(DATASET_CIFAR100, dir, "test", ERR_INVALID, "label 100 out of range 0..99");

	/* A missing batch is named; so is a missing directory. */
	tmp_dir(dir, sizeof dir, "cifarbad/missing");
	for (int f = 1; f <= 5; f++) {
		snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, f);
		if (f != 3)
			write_cifar(path, f, 1, 1, 10);
	}
	expect_both_error(DATASET_CIFAR10, dir, "train", ERR_NOTFOUND, "data_batch_3.bin");
	expect_both_error(DATASET_CIFAR100, dir, "train", ERR_NOTFOUND, "no train.bin");
	expect_both_error(DATASET_CIFAR10, "/nonexistent/c", "train", ERR_NOTFOUND, "no such dir");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),    cmocka_unit_test(test_fmnist),
		cmocka_unit_test(test_fmnist_probe),    cmocka_unit_test(test_idx_synthetic),
		cmocka_unit_test(test_idx_bad),         cmocka_unit_test(test_idx_plain_sizes),
		cmocka_unit_test(test_gzip_bomb),       cmocka_unit_test(test_gzip_members),
		cmocka_unit_test(test_special_files),   cmocka_unit_test(test_cifar10),
		cmocka_unit_test(test_cifar100),        cmocka_unit_test(test_cifar_bad),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
