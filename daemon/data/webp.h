/*
 * webp.h — one WebP file read with libwebp: its header, and with an image
 * its pixels (an animation's first frame), under bounds on size and working
 * memory. Internal to daemon/data (image folders).
 */
#ifndef BYOL_DATA_WEBP_H
#define BYOL_DATA_WEBP_H

#include "data/decode.h"

/* Read the header (the RIFF header and the VP8X, VP8 or VP8L one: its first
   WEBP_HEAD_BYTES) of, and with job->img decode at its native size, the file
   job->path (decode.h: opened without blocking, refused when its first bytes
   are another image type's). job->c is 3: WebP has no grey. 0 or an ERR_*. */
int webp_file(struct decode_job *job);

#define WEBP_HEAD_BYTES 64

#endif
