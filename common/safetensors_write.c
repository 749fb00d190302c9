/*
 * safetensors_write.c — the safetensors writer (see safetensors.h): tensors
 * and metadata collected, a header built with its padding, the file written
 * atomically (atomic_file.h).
 */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "utf8.h"

#define NAME_FMT "%.80s" /* tensor names in messages */

/* ---- writer ---- */

struct st_wtensor {
	char *name;
	enum st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	const void *data; /* borrowed */
	size_t nbytes;
};

struct st_wmeta {
	char *key;
	char *value;
};

struct st_writer {
	struct st_wtensor *t;
	int n, cap;
	struct st_wmeta *m;
	int n_meta, cap_meta;
	uint64_t total; /* sum of nbytes, kept <= ST_MAX_JSON_INT */
};

int st_writer_init(struct st_writer **w, struct err *e)
{
	*w = calloc(1, sizeof **w);
	return *w ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

void st_writer_free(struct st_writer *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->n; i++)
		free(w->t[i].name);
	for (int i = 0; i < w->n_meta; i++) {
		free(w->m[i].key);
		free(w->m[i].value);
	}
	free(w->t);
	free(w->m);
	free(w);
}

/* arr grown to hold n + 1 elements (capacity *cap), or NULL when out of
 * memory (arr is then still valid). */
static void *grow(void *arr, int n, int *cap, size_t elsize)
{
	void *p;
	int ncap;

	if (n < *cap)
		return arr;
	if (*cap > INT_MAX / 2)
		return NULL;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(arr, (size_t)ncap * elsize);
	if (p)
		*cap = ncap;
	return p;
}

static int check_name(const struct st_writer *w, const char *name,
		      struct err *e)
{
	if (!name || !name[0])
		return err_set(e, ERR_INVALID, "empty tensor name");
	if (!utf8_valid(name))
		return err_set(e, ERR_INVALID,
			       "tensor name is not valid UTF-8");
	if (strcmp(name, ST_META_KEY) == 0)
		return err_set(e, ERR_INVALID,
			       "tensor name '" ST_META_KEY "' is reserved");
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->t[i].name, name) == 0)
			return err_set(e, ERR_INVALID,
				       "duplicate tensor '" NAME_FMT "'", name);
	return 0;
}

/* Validate dtype, shape and data of a new tensor; size into *nbytes. */
static int check_tensor(const struct st_writer *w, const char *name,
			enum st_dtype dtype, int ndim, const int64_t *shape,
			const void *data, size_t *nbytes, struct err *e)
{
	if (st_dtype_size(dtype) == 0)
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': invalid dtype %d", name,
			       (int)dtype);
	if (ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape))
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': bad ndim %d", name, ndim);
	for (int i = 0; i < ndim; i++)
		if (shape[i] < 0 || shape[i] > (int64_t)ST_MAX_JSON_INT)
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': shape[%d] = %" PRId64 " not in [0, 2^53 - 1]",
				       name, i, shape[i]);
	if (st_shape_nbytes(shape, ndim, st_dtype_size(dtype), nbytes) ||
	    *nbytes > (uint64_t)ST_MAX_JSON_INT - w->total)
		return err_set(e, ERR_RANGE,
			       "tensor '" NAME_FMT "': data too large", name);
	if (*nbytes > 0 && !data)
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': NULL data", name);
	return 0;
}

int st_writer_add(struct st_writer *w, const char *name, enum st_dtype dtype,
		  int ndim, const int64_t *shape, const void *data,
		  struct err *e)
{
	struct st_wtensor *t;
	size_t nbytes = 0;
	int rc;

	if (!w)
		return err_set(e, ERR_INVALID, "NULL writer");
	if ((rc = check_name(w, name, e)) ||
	    (rc = check_tensor(w, name, dtype, ndim, shape, data, &nbytes, e)))
		return rc;
	t = grow(w->t, w->n, &w->cap, sizeof *w->t);
	if (!t)
		return err_set(e, ERR_NOMEM, "out of memory");
	w->t = t;
	t = &w->t[w->n];
	memset(t, 0, sizeof *t);
	t->name = strdup(name);
	if (!t->name)
		return err_set(e, ERR_NOMEM, "out of memory");
	t->dtype = dtype;
	t->ndim = ndim;
	if (ndim > 0)
		memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
	t->data = data;
	t->nbytes = nbytes;
	w->total += nbytes;
	w->n++;
	return 0;
}

int st_writer_meta(struct st_writer *w, const char *key, const char *value,
		   struct err *e)
{
	struct st_wmeta *m;

	if (!w || !key || !value)
		return err_set(e, ERR_INVALID, "NULL metadata argument");
	if (!utf8_valid(key) || !utf8_valid(value))
		return err_set(e, ERR_INVALID,
			       "metadata '" NAME_FMT "' is not valid UTF-8", key);
	for (int i = 0; i < w->n_meta; i++)
		if (strcmp(w->m[i].key, key) == 0)
			return err_set(e, ERR_INVALID,
				       "duplicate metadata key '" NAME_FMT "'",
				       key);
	m = grow(w->m, w->n_meta, &w->cap_meta, sizeof *w->m);
	if (!m)
		return err_set(e, ERR_NOMEM, "out of memory");
	w->m = m;
	m = &w->m[w->n_meta];
	m->key = strdup(key);
	m->value = strdup(value);
	if (!m->key || !m->value) {
		free(m->key);
		free(m->value);
		return err_set(e, ERR_NOMEM, "out of memory");
	}
	w->n_meta++;
	return 0;
}

/* Append an integer as a raw JSON number (cJSON would print 1e+15). */
static int add_uint(cJSON *arr, uint64_t v)
{
	char num[24];
	cJSON *r;

	snprintf(num, sizeof num, "%" PRIu64, v);
	r = cJSON_CreateRaw(num);
	if (!r)
		return -1;
	if (!cJSON_AddItemToArray(arr, r)) {
		cJSON_Delete(r);
		return -1;
	}
	return 0;
}

/* Add t's header entry to root; -1 on allocation failure. */
static int add_tensor_json(cJSON *root, const struct st_wtensor *t,
			   uint64_t begin)
{
	cJSON *o = cJSON_AddObjectToObject(root, t->name), *sh, *off;

	if (!o || !cJSON_AddStringToObject(o, "dtype", st_dtype_name(t->dtype)))
		return -1;
	if (!(sh = cJSON_AddArrayToObject(o, "shape")))
		return -1;
	for (int i = 0; i < t->ndim; i++)
		if (add_uint(sh, (uint64_t)t->shape[i]))
			return -1;
	if (!(off = cJSON_AddArrayToObject(o, "data_offsets")) ||
	    add_uint(off, begin) || add_uint(off, begin + t->nbytes))
		return -1;
	return 0;
}

static cJSON *header_json(const struct st_writer *w)
{
	cJSON *root = cJSON_CreateObject(), *meta;
	uint64_t off = 0;

	if (!root)
		return NULL;
	if (w->n_meta > 0) {
		if (!(meta = cJSON_AddObjectToObject(root, ST_META_KEY)))
			goto fail;
		for (int i = 0; i < w->n_meta; i++)
			if (!cJSON_AddStringToObject(meta, w->m[i].key,
						     w->m[i].value))
				goto fail;
	}
	for (int i = 0; i < w->n; off += w->t[i].nbytes, i++)
		if (add_tensor_json(root, &w->t[i], off))
			goto fail;
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

/* The header text padded with spaces so that 8 + *len is a multiple of 8. */
static int build_header(const struct st_writer *w, char **out, size_t *len,
			struct err *e)
{
	cJSON *root = header_json(w);
	char *text = root ? cJSON_PrintUnformatted(root) : NULL;
	size_t n, pad;

	cJSON_Delete(root);
	if (!text)
		return err_set(e, ERR_NOMEM, "out of memory building header");
	n = strlen(text);
	pad = (8 - n % 8) % 8;
	if (n + pad > ST_MAX_HEADER) {
		cJSON_free(text);
		return err_set(e, ERR_RANGE, "header of %zu bytes too large",
			       n + pad);
	}
	*out = malloc(n + pad);
	if (*out) {
		memcpy(*out, text, n);
		memset(*out + n, ' ', pad);
	}
	cJSON_free(text);
	*len = n + pad;
	return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

struct image {
	const struct st_writer *w;
	const char *hdr;
	size_t hlen;
};

/* Write length, header and tensor data to fd; -1 with errno on failure. */
static int write_image(int fd, void *ctx)
{
	const struct image *im = ctx;
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)im->hlen >> (8 * i));
	if (atomic_write_all(fd, len8, 8) || atomic_write_all(fd, im->hdr, im->hlen))
		return -1;
	for (int i = 0; i < im->w->n; i++)
		if (atomic_write_all(fd, im->w->t[i].data, im->w->t[i].nbytes))
			return -1;
	return 0;
}

int st_writer_write(struct st_writer *w, const char *path, struct err *e)
{
	struct image im = { w, NULL, 0 };
	char *hdr = NULL;
	if (!w || !path || !path[0])
		return err_set(e, ERR_INVALID, "NULL writer or empty path");
	int rc = build_header(w, &hdr, &im.hlen, e);
	im.hdr = hdr;
	if (!rc)
		rc = atomic_file_write(path, 0644, write_image, &im, e);
	free(hdr);
	return rc;
}
