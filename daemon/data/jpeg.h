/*
 * jpeg.h — one JPEG file read with libjpeg(-turbo): its header, and with an
 * image its pixels, under bounds on scans and working memory. Internal to
 * daemon/data (image folders).
 */
#ifndef BYOL_DATA_JPEG_H
#define BYOL_DATA_JPEG_H

#include <stdio.h>

#include "data/dataset.h"
#include "data/file_kind.h"

/* What to do with one file, and what its header said. */
struct jpeg_job {
	const char *path;
	FILE *f;
	struct image *img; /* NULL: read the header only */
	int channels;      /* wanted in img */
	int scale;         /* decode at scale/8 of the native size (libjpeg's DCT
			      scaling), 1..8; 0 means 8. img is then
			      dataset_scaled_side(h, scale) × ..(w, scale) */
	int c, h, w;       /* native, from the header */
	enum file_kind kind; /* on failure: another image type, if its magic says so */
	struct err *e;
};

/* Read the header of (and, with job->img, decode) the file job->path, opened without
   blocking (dataset_open_file). A file whose first bytes are another image type's
   says so (job->kind), rather than libjpeg's "Not a JPEG file". 0 or an ERR_*.
   Decoding uses libjpeg's defaults (JDCT_ISLOW, fancy upsampling): the
   accurate ones, and what Pillow uses, so its pixels are Pillow's. */
int jpeg_file(struct jpeg_job *job);

#endif
