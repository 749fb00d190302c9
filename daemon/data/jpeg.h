/*
 * jpeg.h — one JPEG file read with libjpeg(-turbo): its header, and with an
 * image its pixels, under bounds on scans and working memory. Internal to
 * daemon/data (image folders).
 */
#ifndef BYOL_DATA_JPEG_H
#define BYOL_DATA_JPEG_H

#include "data/decode.h"

/* Read the header of (and, with job->img, decode at job->scale) the file
   job->path (decode.h: opened without blocking, refused when its first bytes
   are another image type's, rather than libjpeg's "Not a JPEG file").
   0 or an ERR_*. Decoding uses libjpeg's defaults (JDCT_ISLOW, fancy
   upsampling): the accurate ones, and what Pillow uses, so its pixels are
   Pillow's. */
int jpeg_file(struct decode_job *job);

#endif
