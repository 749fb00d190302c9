/*
 * safetensors.h — read and write tensors in the safetensors format.
 *
 * Layout: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * mapping tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}
 * (plus an optional "__metadata__" object of strings), then the data buffer.
 * Offsets are relative to the start of the data buffer. Tensor data is raw
 * little-endian; this module only builds on little-endian hosts.
 *
 * Functions return 0 or a negative ERR_* code with the message in struct err
 * (e may be NULL). Reading validates everything, since files come from users.
 */
#ifndef BYOL_SAFETENSORS_H
#define BYOL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum st_dtype {
	ST_F32, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8,
	ST_U16, ST_U32, ST_U64, ST_F16, ST_BF16, ST_BOOL
};

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER ((size_t)100 << 20) /* largest accepted header, bytes */

struct st_tensor {
	char *name;
	enum st_dtype dtype;
	int ndim;                     /* 0 for a scalar */
	int64_t shape[ST_MAX_DIMS];
	size_t offset;                /* within st_file.data */
	size_t nbytes;                /* The header's metadata key. */
#define ST_META_KEY "__metadata__"
/* 2^53 - 1: the largest integer N such that every integer literal > N parses
 * to a double > N (2^53 + 1 rounds to 2^53), so the bound is exact. */
#define ST_MAX_JSON_INT 9007199254740991.0

/* product(shape) * st_dtype_size(dtype) */
};

struct st_file {
	struct st_tensor *tensors;
	int n_tensors;                /* in header order */
	char **meta_keys;
	char **meta_values;
	int n_meta;                   /* in header order */
	unsigned char *buf;           /* owned copy of the whole file or buffer */
	size_t buf_len;
	const unsigned char *data;    /* points into buf after the header */
	size_t data_len;
};

/* Bytes per element (BOOL is 1); 0 for an invalid value. */
size_t st_dtype_size(enum st_dtype dtype);
/* The format's name ("F32", "BF16", ...); "invalid" for an invalid value. */
const char *st_dtype_name(enum st_dtype dtype);

/* product(shape) * elsize into *out; -1 on size_t overflow (a 0 dim: 0 bytes). */
int st_shape_nbytes(const int64_t *shape, int ndim, size_t elsize, size_t *out);

/*
 * Parse a whole safetensors image from memory; buf is copied, so it may be
 * freed afterwards. f is overwritten (st_free it before reusing it); on
 * failure f is left zeroed and nothing is leaked. Rejects: short input, a
 * header longer than the input or ST_MAX_HEADER, invalid UTF-8, non-JSON or
 * non-object JSON, trailing non-space bytes, duplicate keys at any level,
 * empty names, unknown dtypes or entry keys, shapes that are not arrays of at
 * most ST_MAX_DIMS integers in [0, 2^53 - 1] (2.0, 1e3 and -0 count as
 * non-integers; the same goes for offsets), offsets outside the data buffer,
 * a byte range that does not match the shape, overlapping non-empty tensors,
 * and a "__metadata__" that is not an object of strings. Gaps between
 * tensors are allowed.
 */
int st_parse(struct st_file *f, const void *buf, size_t len, struct err *e);

/*
 * Read and parse the regular file at path. Files larger than max_bytes are
 * refused with ERR_RANGE (0 = no limit). Error messages start with the path.
 */
int st_read(struct st_file *f, const char *path, size_t max_bytes,
	    struct err *e);

/* The tensor called name, or NULL. Linear search. */
const struct st_tensor *st_find(const struct st_file *f, const char *name);

/*
 * Start of t's bytes inside f->data. The data buffer starts 16-byte aligned
 * when 8 + N is a multiple of 8 (true for st_writer and common writers), so
 * the pointer is aligned for the dtype iff t->offset is a multiple of its
 * size; st_writer lays data out contiguously in add order, so add tensors in
 * descending dtype size (or use one dtype) to keep them aligned. Otherwise
 * copy with memcpy rather than casting.
 */
const void *st_tensor_data(const struct st_file *f, const struct st_tensor *t);

/* The metadata value for key, or NULL if absent. */
const char *st_meta(const struct st_file *f, const char *key);

/* Free everything f owns and zero it; safe on a zeroed struct and twice. */
void st_free(struct st_file *f);

/*
 * Writer (opaque). Tensors are written in add order, their data contiguous in
 * the same order (the layout tests/ref/stio.py expects); "__metadata__", if
 * any metadata was added, comes first in the header. The header is padded
 * with spaces so that 8 + N is a multiple of 8. Not thread-safe.
 */
struct st_writer;

int st_writer_init(struct st_writer **w, struct err *e);

/*
 * Add a tensor. name is copied and must be non-empty valid UTF-8, unique and
 * not "__metadata__"; 0 <= ndim <= ST_MAX_DIMS; every dim, and the total
 * data size, in [0, 2^53 - 1].
 * data (product(shape) * st_dtype_size(dtype) bytes; may be NULL when that
 * is 0) is NOT copied: it must stay valid until st_writer_write returns.
 */
int st_writer_add(struct st_writer *w, const char *name, enum st_dtype dtype,
		  int ndim, const int64_t *shape, const void *data,
		  struct err *e);

/* Add a metadata entry; both strings are copied, must be valid UTF-8, and
 * key must be unique. */
int st_writer_meta(struct st_writer *w, const char *key, const char *value,
		   struct err *e);

/*
 * Atomic write: create PATH.tmp.<pid> in the same directory, write everything,
 * fsync it, rename it over path, fsync the directory. Before the rename any
 * failure removes the temp file and leaves an existing path untouched; a
 * failure of the final directory fsync is reported as ERR_IO although path
 * has already been replaced. May be called more than once.
 */
int st_writer_write(struct st_writer *w, const char *path, struct err *e);

/* Free the writer (not the tensor data); NULL is fine. */
void st_writer_free(struct st_writer *w);

#endif
