/*
 * png.c — PNG files through libspng (see png.h).
 *
 * libspng rather than libpng: its errors are return codes (libpng's are a
 * longjmp, as libjpeg's), it bounds ancillary chunks' memory (a zTXt bomb
 * otherwise inflates without limit), and it converts every bit depth and
 * colour type to 8-bit grey or RGB itself, in the ways Pillow does.
 *
 * The pixels are Pillow's Image.open(path).convert("RGB") (or "L") of the
 * same file, measured with Pillow 9.4 (tests/ref/png_webp_ref.py):
 *   alpha      dropped, not composited (GA, RGBA, a tRNS chunk, a palette's
 *              tRNS alike): convert("RGB") does the same;
 *   1, 2, 4    grey bits scaled to 8 as v·255/(2^d − 1) (libspng's G8; Pillow's
 *              "1", "L;2", "L;4");
 *   16 bits    the high byte of each sample (libspng's RGB8; Pillow's RGB;16B,
 *              RGBA;16B, LA;16B). 16-bit grey too, where Pillow differs: it
 *              opens it as mode "I" and convert clips it, every value over 255
 *              becoming 255, so a real 16-bit image comes out nearly white;
 *   palette    its colours (any tRNS dropped);
 *   RGB -> 1   dataset_luma, Pillow's convert("L") to the bit;
 *   gAMA, cHRM, iCCP, sBIT: ignored, as by convert.
 * An interlaced file is deinterlaced into a whole interleaved image first
 * (at most DECODE_MAX_BYTES); any other is converted a row at a time.
 */
#include "data/png.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <spng.h>

/* Ancillary chunks (text, ICC profile, EXIF...): each at most CHUNK_MAX
   bytes, all of them (inflated) at most CACHE_MAX; more fails the file.
   Pillow's bound on text is also 64 MiB in all. */
#define CHUNK_MAX ((size_t)16 << 20)
#define CACHE_MAX ((size_t)64 << 20)

static int spng_fail(const struct decode_job *job, int rc)
{
	if (rc == SPNG_ECHUNK_LIMITS)
		return err_set(job->e, ERR_INVALID, "%s: PNG: ancillary chunks over %zu MiB each or "
			       "%zu MiB in all", job->path, CHUNK_MAX >> 20, CACHE_MAX >> 20);
	return err_set(job->e, ERR_INVALID, "%s: PNG: %s", job->path, spng_strerror(rc));
}

/* IHDR, then every chunk before the first IDAT (spng_get_plte reads them). */
static int read_header(spng_ctx *ctx, struct spng_ihdr *ih, struct decode_job *job)
{
	struct spng_plte plte;
	int rc = spng_get_ihdr(ctx, ih);

	if (rc)
		return spng_fail(job, rc);
	int grey = ih->color_type == SPNG_COLOR_TYPE_GRAYSCALE ||
		   ih->color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
	if ((rc = decode_header(job, grey ? 1 : 3, ih->width, ih->height)) < 0)
		return rc;
	rc = spng_get_plte(ctx, &plte); /* none: SPNG_ECHUNKAVAIL, unless indexed */
	return rc && rc != SPNG_ECHUNKAVAIL ? spng_fail(job, rc) : 0;
}

/* Decode every row (libspng deinterlaces: rows arrive pass by pass, each
   written into its place in buf) and convert them into job->img. */
static int decode_rows(spng_ctx *ctx, const struct spng_ihdr *ih, struct decode_job *job)
{
	/* 8-bit and lower grey as 8-bit grey; anything else as RGB */
	int c = ih->color_type == SPNG_COLOR_TYPE_GRAYSCALE && ih->bit_depth <= 8 ? 1 : 3;
	int laced = ih->interlace_method != SPNG_INTERLACE_NONE;
	size_t row = (size_t)job->w * (size_t)c, rows = laced ? (size_t)job->h : 1;
	struct spng_row_info ri;
	int rc = decode_check_memory(job, (uint64_t)row * rows);

	if (rc < 0 || (rc = decode_start(job, job->h, job->w)) < 0)
		return rc;
	uint8_t *buf = malloc(row * rows);
	if (!buf)
		return err_set(job->e, ERR_NOMEM, "%s: out of memory", job->path);
	rc = spng_decode_image(ctx, NULL, 0, c == 1 ? SPNG_FMT_G8 : SPNG_FMT_RGB8,
			       SPNG_DECODE_PROGRESSIVE);
	while (rc == 0 && (rc = spng_get_row_info(ctx, &ri)) == 0) {
		uint8_t *at = buf + (laced ? ri.row_num * row : 0);
		rc = spng_decode_row(ctx, at, row);
		if ((rc == 0 || rc == SPNG_EOI) && !laced)
			decode_row(job->img, at, c, c, ri.row_num);
	}
	for (size_t y = 0; rc == SPNG_EOI && laced && y < rows; y++)
		decode_row(job->img, buf + y * row, c, c, y);
	free(buf);
	return rc == SPNG_EOI ? 0 : spng_fail(job, rc);
}

int png_file(struct decode_job *job)
{
	struct stat st;
	struct spng_ihdr ih;
	int fd = decode_open(job, KIND_PNG, &st), rc;

	if (fd < 0)
		return fd;
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return err_set(job->e, ERR_NOMEM, "%s: out of memory", job->path);
	}
	spng_ctx *ctx = spng_ctx_new(0);
	if (!ctx) {
		fclose(f);
		return err_set(job->e, ERR_NOMEM, "%s: out of memory", job->path);
	}
	rc = spng_set_chunk_limits(ctx, CHUNK_MAX, CACHE_MAX);
	rc = rc ? rc : spng_set_png_file(ctx, f);
	rc = rc ? spng_fail(job, rc) : read_header(ctx, &ih, job);
	if (rc == 0 && job->img)
		rc = decode_rows(ctx, &ih, job);
	spng_ctx_free(ctx);
	fclose(f);
	return rc;
}
