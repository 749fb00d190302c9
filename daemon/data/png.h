/*
 * png.h — one PNG file read with libspng: its header, and with an image its
 * pixels, converted as Pillow converts them, under bounds on size, metadata
 * and working memory. Internal to daemon/data (image folders).
 */
#ifndef BYOL_DATA_PNG_H
#define BYOL_DATA_PNG_H

#include "data/decode.h"

/* Read the header (IHDR and the chunks before the first IDAT) of, and with
   job->img decode at its native size, the file job->path (decode.h: opened
   without blocking, refused when its first bytes are another image type's).
   job->c is 1 for grey and grey + alpha, 3 for RGB, RGBA and palette files.
   0 or an ERR_*. */
int png_file(struct decode_job *job);

#endif
