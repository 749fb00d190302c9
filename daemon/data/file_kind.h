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
	KIND_JPEG,        /* the kinds read: a .jpg / .jpeg, .png or .webp regular file */
	KIND_PNG, KIND_WEBP,
	KIND_GIF,         /* image types told apart but not read */
	KIND_BMP, KIND_TIFF, KIND_HEIF, KIND_AVIF, KIND_JXL, KIND_JP2, KIND_PNM,
	KIND_BAD_JPEG,    /* a file of a kind read whose header cannot be read (open only), */
	KIND_BAD_PNG, KIND_BAD_WEBP, /* in the order of the kinds read */
	KIND_NOT_REGULAR, /* a FIFO, device, socket or dangling link */
	KIND_OTHER,       /* any other file */
	KIND_N
};
#define KIND_LAST_READ KIND_WEBP
#define KIND_FIRST_TYPE KIND_GIF
#define KIND_LAST_TYPE KIND_PNM
/* The kind a bad file of kind k (one that is read) is counted as. */
#define KIND_BAD(k) ((enum file_kind)(KIND_BAD_JPEG + (k)))
/* What the kinds read are, for messages. */
#define KINDS_READ "JPEG, PNG and WebP"

/* "JPEG", "PNG", ... for each kind. */
extern const char *const file_kind_names[KIND_N];

/* 1 if k is a kind that is read (an image): JPEG, PNG or WebP. */
static inline int file_kind_read(enum file_kind k)
{
	return k <= KIND_LAST_READ;
}
/* The kind a regular file's name says: a kind read, an image type, or KIND_OTHER. */
enum file_kind file_kind_by_name(const char *name);
/* The kind a file's first n bytes say: a kind read, an image type, or KIND_OTHER. */
enum file_kind file_kind_by_magic(const uint8_t *p, size_t n);
/* The error (ERR_INVALID) of a skipped file of kind k (by its name) at path. */
int file_kind_error(struct err *e, const char *path, enum file_kind k);
/* The error of a file at path whose magic says `magic` (a kind read or an image
   type) while its name says `named`; *count is the kind to count it as. */
int file_kind_mismatch(struct err *e, const char *path, enum file_kind named,
		       enum file_kind magic, enum file_kind *count);
/* The first bytes of an open file: how many (0 if unreadable) into p. */
size_t file_kind_sniff(int fd, uint8_t *p, size_t n);

#endif
