/*
 * decode.h — one image file of an image folder read by the decoder of its
 * kind (jpeg.c, png.c, webp.c), and what those decoders share: the job they
 * are given, the file opened without blocking and checked against its
 * kind's magic, the bounds on size and working memory, and rows of
 * interleaved samples into the planar struct image with the channels
 * wanted. Internal to daemon/data (image folders).
 */
#ifndef BYOL_DATA_DECODE_H
#define BYOL_DATA_DECODE_H

#include <stdint.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/file_kind.h"

/* Working memory one decode may use beside the image it fills (libjpeg's
   coefficient buffers, an interlaced PNG's rows, a WebP file and its
   pixels): a larger need fails the file, not the machine. */
#define DECODE_MAX_BYTES (512L << 20)

/* What to do with one file, and what its header said. */
struct decode_job {
	const char *path;
	struct image *img; /* NULL: read the header only */
	int channels;      /* wanted in img: 1 or 3 */
	int scale;         /* JPEG: decode at scale/8 of the native size (libjpeg's
			      DCT scaling), 1..8; 0 means 8. img is then
			      dataset_scaled_side(h, scale) × ..(w, scale).
			      PNG and WebP ignore it: always the native size */
	int c, h, w;       /* native, from the header (c: 1 grey, 3 colour) */
	enum file_kind kind; /* on failure: the kind to count the file as */
	struct err *e;
};

/* Read the header of (and, with job->img, decode) job->path as a file of
   kind k, one of the kinds read. 0 or an ERR_*. */
int decode_file(struct decode_job *job, enum file_kind k);

/* ---- for the decoders ---------------------------------------------------- */

/* Open job->path for the decoder of kind k (dataset_open_file: never
   blocking); a file whose first bytes are another kind read or image type
   is refused saying so (job->kind: that type). The descriptor, or ERR_*. */
int decode_open(struct decode_job *job, enum file_kind k, struct stat *st);
/* Note the header's components (1 or 3) and size in job; ERR_INVALID
   naming the file when a side is 0 or over DATASET_MAX_SIDE. */
int decode_header(struct decode_job *job, int c, uint64_t w, uint64_t h);
/* ERR_INVALID naming the file when a decode needs more than DECODE_MAX_BYTES. */
int decode_check_memory(const struct decode_job *job, uint64_t bytes);
/* Make job->img an h × w image of job->channels channels (contents unset). */
int decode_start(struct decode_job *job, int h, int w);
/* Row y of interleaved pixels `step` bytes apart, each c samples (1 grey or
   3 RGB; any further one, alpha, dropped), into the planar img: grey
   replicated to 3 channels, RGB to 1 by its luma (dataset_luma). */
void decode_row(struct image *img, const uint8_t *row, int c, int step, size_t y);

#endif
