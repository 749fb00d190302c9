/*
 * file_kind.h — what a file of an image folder is: told by its extension
 * (the probe reads no file) and, at open, by its magic bytes too. Internal
 * to daemon/data.
 */
#ifndef BYOL_DATA_FILE_KIND_H
#define BYOL_DATA_FILE_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SNIFF_BYTES 16 /* bytes read to tell an image type by its magic */

/* What an entry of a class folder is. The image types are told by extension
   (the probe reads no file) and, at open, by their magic too. */
enum file_kind {
	KIND_JPEG,        /* a .jpg / .jpeg regular file: an image */
	KIND_PNG, KIND_GIF, KIND_WEBP, KIND_BMP, KIND_TIFF, KIND_HEIF, KIND_AVIF, KIND_JXL,
	KIND_JP2, KIND_PNM,
	KIND_BAD_JPEG,    /* a .jpg whose header cannot be read (open only) */
	KIND_NOT_REGULAR, /* a FIFO, device, socket or dangling link */
	KIND_OTHER,       /* any other file */
	KIND_N
};
#define KIND_FIRST_TYPE KIND_PNG
#define KIND_LAST_TYPE KIND_PNM

/* "JPEG", "PNG", ... for each kind. */
extern const char *const file_kind_names[KIND_N];

/* 1 if name ends in .jpg or .jpeg (any case). */
int file_kind_jpeg_suffix(const char *name);
/* The kind a regular file's name says: KIND_JPEG, an image type, or KIND_OTHER. */
enum file_kind file_kind_by_name(const char *name);
/* The kind a file's first n bytes say: KIND_JPEG, an image type, or KIND_OTHER. */
enum file_kind file_kind_by_magic(const uint8_t *p, size_t n);
/* The error (ERR_INVALID) of a skipped file of kind k at path. */
int file_kind_error(struct err *e, const char *path, enum file_kind k);
/* The first bytes of an open file: how many (0 if unreadable) into p. */
size_t file_kind_sniff(int fd, uint8_t *p, size_t n);

#endif
