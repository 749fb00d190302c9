/*
 * safetensors.c — safetensors reader (strict, for untrusted files) and an
 * atomic writer. See safetensors.h for the format and the rules enforced.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utf8.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c stores tensor data in host order: little-endian only"
#endif

#define NAME_FMT "%.80s"                /* tensor names in messages */

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[ST_F32] = { "F32", 4 },  [ST_F64] = { "F64", 8 },
	[ST_I64] = { "I64", 8 },  [ST_I32] = { "I32", 4 },
	[ST_I16] = { "I16", 2 },  [ST_I8] = { "I8", 1 },
	[ST_U8] = { "U8", 1 },    [ST_U16] = { "U16", 2 },
	[ST_U32] = { "U32", 4 },  [ST_U64] = { "U64", 8 },
	[ST_F16] = { "F16", 2 },  [ST_BF16] = { "BF16", 2 },
	[ST_BOOL] = { "BOOL", 1 },
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

size_t st_dtype_size(enum st_dtype dtype)
{
	return (size_t)dtype < N_DTYPES ? dtypes[dtype].size : 0;
}

const char *st_dtype_name(enum st_dtype dtype)
{
	return (size_t)dtype < N_DTYPES ? dtypes[dtype].name : "invalid";
}

static int dtype_from_name(const char *s, enum st_dtype *out)
{
	for (size_t i = 0; i < N_DTYPES; i++) {
		if (strcmp(s, dtypes[i].name) == 0) {
			*out = (enum st_dtype)i;
			return 0;
		}
	}
	return -1;
}

int st_shape_nbytes(const int64_t *shape, int ndim, size_t elsize,
			size_t *out)
{
	size_t n = elsize;

	for (int i = 0; i < ndim; i++)
		if (shape[i] == 0)
			n = 0; /* empty, whatever the other dims are */
	for (int i = 0; i < ndim && n > 0; i++)
		if (__builtin_mul_overflow(n, (size_t)shape[i], &n))
			return -1;
	*out = n;
	return 0;
}

/* ---- text checks ---- */

/*
 * cJSON keeps no lexical form, so scan the (already parsed) header text:
 * strings hold no raw control bytes or \u0000 (cJSON would cut the string
 * there), and numbers, which only appear in shapes and offsets, are plain
 * non-negative integers: no '-', fraction or exponent. Returns the offset of
 * the first offending byte, or n.
 */
static size_t scan_header(const unsigned char *s, size_t n)
{
	int in_str = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (in_str) {
			if (c < 0x20)
				return i;
			if (c == '\\' && n - i >= 6 &&
			    memcmp(s + i + 1, "u0000", 5) == 0)
				return i;
			if (c == '\\')
				i++; /* skip the escaped byte */
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '-' || c == '.' ||
			   ((c == 'e' || c == 'E') && i > 0 &&
			    s[i - 1] >= '0' && s[i - 1] <= '9')) {
			return i;
		}
	}
	return n;
}

static int check_scan(const unsigned char *hdr, size_t n, struct err *e)
{
	size_t bad = scan_header(hdr, n);

	if (bad == n)
		return 0;
	if (hdr[bad] < 0x20)
		return err_set(e, ERR_INVALID,
			       "header byte %zu: control character in a string",
			       bad);
	if (hdr[bad] == '\\')
		return err_set(e, ERR_INVALID,
			       "header byte %zu: \\u0000 in a string", bad);
	return err_set(e, ERR_INVALID,
		       "header byte %zu: number is not a plain non-negative integer",
		       bad);
}

/* ---- JSON helpers ---- */

/* v as an integer in [0, 2^53 - 1] into *out; -1 if it is not one. */
static int json_uint(const cJSON *v, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble;
	if (!(d >= 0 && d <= ST_MAX_JSON_INT) || (double)(uint64_t)d != d)
		return -1;
	*out = (uint64_t)d;
	return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reject an object with a repeated key (cJSON keeps both). what names it. */
static int check_unique_keys(const cJSON *obj, const char *what,
			     struct err *e)
{
	int n = cJSON_GetArraySize(obj), i = 0, rc = 0;
	const char **keys;
	const cJSON *c;

	if (n < 2)
		return 0;
	keys = malloc((size_t)n * sizeof *keys);
	if (!keys)
		return err_set(e, ERR_NOMEM, "out of memory checking %s keys",
			       what);
	cJSON_ArrayForEach(c, obj)
		keys[i++] = c->string ? c->string : "";
	qsort(keys, (size_t)n, sizeof *keys, cmp_str_ptr);
	for (i = 1; i < n && rc == 0; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			rc = err_set(e, ERR_INVALID,
				     "duplicate key '" NAME_FMT "' in %s",
				     keys[i], what);
	free(keys);
	return rc;
}

/* ---- parsing ---- */

static int parse_dtype(const cJSON *v, const char *name, struct st_tensor *t,
		       struct err *e)
{
	if (!cJSON_IsString(v))
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': dtype is not a string",
			       name);
	if (dtype_from_name(v->valuestring, &t->dtype))
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': unknown dtype '%.16s'",
			       name, v->valuestring);
	return 0;
}

static int parse_shape(const cJSON *v, const char *name, struct st_tensor *t,
		       struct err *e)
{
	const cJSON *c;
	uint64_t dim;

	if (!cJSON_IsArray(v))
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': shape is not an array",
			       name);
	t->ndim = 0;
	cJSON_ArrayForEach(c, v) {
		if (t->ndim == ST_MAX_DIMS)
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': more than %d dims",
				       name, ST_MAX_DIMS);
		if (json_uint(c, &dim))
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': shape[%d] is not an integer in [0, 2^53 - 1]",
				       name, t->ndim);
		t->shape[t->ndim++] = (int64_t)dim;
	}
	return 0;
}

/* data_offsets must be [begin, end], begin <= end <= data_len, and match the
 * size implied by dtype and shape (already parsed into t). */
static int parse_offsets(const cJSON *v, const char *name,
			 struct st_tensor *t, size_t data_len, struct err *e)
{
	uint64_t begin, end;
	size_t nbytes;

	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
	    json_uint(v->child, &begin) || json_uint(v->child->next, &end))
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': data_offsets is not two integers in [0, 2^53 - 1]",
			       name);
	if (begin > end || end > data_len)
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': data_offsets [%" PRIu64 ", %" PRIu64 "] outside the %zu-byte data buffer",
			       name, begin, end, data_len);
	if (st_shape_nbytes(t->shape, t->ndim, st_dtype_size(t->dtype), &nbytes))
		return err_set(e, ERR_RANGE,
			       "tensor '" NAME_FMT "': shape size overflows",
			       name);
	if (nbytes != end - begin)
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': shape needs %zu bytes but data_offsets span %" PRIu64,
			       name, nbytes, end - begin);
	t->offset = (size_t)begin;
	t->nbytes = nbytes;
	return 0;
}

/* Collect the entry's three fields in order dtype, shape, data_offsets;
 * reject unknown, repeated and missing keys. */
static int entry_fields(const cJSON *ent, const char *name,
			const cJSON *out[3], struct err *e)
{
	static const char *const keys[3] = { "dtype", "shape", "data_offsets" };
	const cJSON *c;
	int k;

	out[0] = out[1] = out[2] = NULL;
	cJSON_ArrayForEach(c, ent) {
		for (k = 0; k < 3 && strcmp(c->string, keys[k]) != 0; k++)
			;
		if (k == 3)
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': unknown key '%.40s'",
				       name, c->string);
		if (out[k])
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': duplicate key '%s'",
				       name, keys[k]);
		out[k] = c;
	}
	for (k = 0; k < 3; k++)
		if (!out[k])
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': missing '%s'",
				       name, keys[k]);
	return 0;
}

static int parse_tensor(const cJSON *ent, struct st_tensor *t,
			size_t data_len, struct err *e)
{
	const char *name = ent->string;
	const cJSON *v[3];
	int rc;

	if (name[0] == '\0')
		return err_set(e, ERR_INVALID, "empty tensor name");
	if (!cJSON_IsObject(ent))
		return err_set(e, ERR_INVALID,
			       "tensor '" NAME_FMT "': entry is not an object",
			       name);
	if ((rc = entry_fields(ent, name, v, e)) ||
	    (rc = parse_dtype(v[0], name, t, e)) ||
	    (rc = parse_shape(v[1], name, t, e)) ||
	    (rc = parse_offsets(v[2], name, t, data_len, e)))
		return rc;
	t->name = strdup(name);
	if (!t->name)
		return err_set(e, ERR_NOMEM, "out of memory");
	return 0;
}

static int parse_meta(struct st_file *f, const cJSON *m, struct err *e)
{
	int n = cJSON_GetArraySize(m), i = 0, rc;
	const cJSON *c;

	if (!cJSON_IsObject(m))
		return err_set(e, ERR_INVALID, ST_META_KEY " is not an object");
	if ((rc = check_unique_keys(m, ST_META_KEY, e)) || n == 0)
		return rc;
	f->meta_keys = calloc((size_t)n, sizeof *f->meta_keys);
	f->meta_values = calloc((size_t)n, sizeof *f->meta_values);
	if (!f->meta_keys || !f->meta_values)
		return err_set(e, ERR_NOMEM, "out of memory");
	f->n_meta = n; /* all NULL so far; st_free copes */
	cJSON_ArrayForEach(c, m) {
		if (!cJSON_IsString(c))
			return err_set(e, ERR_INVALID,
				       ST_META_KEY " value for '" NAME_FMT "' is not a string",
				       c->string);
		f->meta_keys[i] = strdup(c->string);
		f->meta_values[i] = strdup(c->valuestring);
		if (!f->meta_keys[i] || !f->meta_values[i])
			return err_set(e, ERR_NOMEM, "out of memory");
		i++;
	}
	return 0;
}

static int cmp_tensor_offset(const void *a, const void *b)
{
	const struct st_tensor *x = *(const struct st_tensor *const *)a;
	const struct st_tensor *y = *(const struct st_tensor *const *)b;

	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Non-empty tensors must not share bytes; empty ones overlap nothing. */
static int check_overlap(const struct st_file *f, struct err *e)
{
	const struct st_tensor **v, *prev = NULL;
	int n = 0, rc = 0;

	if (f->n_tensors < 2)
		return 0;
	v = malloc((size_t)f->n_tensors * sizeof *v);
	if (!v)
		return err_set(e, ERR_NOMEM, "out of memory");
	for (int i = 0; i < f->n_tensors; i++)
		if (f->tensors[i].nbytes > 0)
			v[n++] = &f->tensors[i];
	qsort(v, (size_t)n, sizeof *v, cmp_tensor_offset);
	for (int i = 0; i < n && rc == 0; i++) {
		if (prev && v[i]->offset < prev->offset + prev->nbytes)
			rc = err_set(e, ERR_INVALID,
				     "tensors '" NAME_FMT "' and '" NAME_FMT "' overlap",
				     prev->name, v[i]->name);
		prev = v[i];
	}
	free(v);
	return rc;
}

/* Fill f's tensors and metadata from the parsed header object. */
static int parse_root(struct st_file *f, const cJSON *root, struct err *e)
{
	const cJSON *c, *meta = NULL;
	int n = 0, i = 0, rc;

	if (!cJSON_IsObject(root))
		return err_set(e, ERR_INVALID, "header is not a JSON object");
	if ((rc = check_unique_keys(root, "the header", e)))
		return rc;
	cJSON_ArrayForEach(c, root) {
		if (strcmp(c->string, ST_META_KEY) == 0)
			meta = c;
		else
			n++;
	}
	if (meta && (rc = parse_meta(f, meta, e)))
		return rc;
	if (n > 0) {
		f->tensors = calloc((size_t)n, sizeof *f->tensors);
		if (!f->tensors)
			return err_set(e, ERR_NOMEM, "out of memory");
		f->n_tensors = n; /* names all NULL so far; st_free copes */
	}
	cJSON_ArrayForEach(c, root) {
		if (c != meta &&
		    (rc = parse_tensor(c, &f->tensors[i++], f->data_len, e)))
			return rc;
	}
	return check_overlap(f, e);
}

static int is_json_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parse the n header bytes at hdr (not NUL-terminated) into f. */
static int parse_header(struct st_file *f, const unsigned char *hdr,
			size_t n, struct err *e)
{
	const char *text = (const char *)hdr, *end = text;
	size_t bad = utf8_check(text, n);
	cJSON *root;
	int rc;

	if (bad < n)
		return err_set(e, ERR_INVALID,
			       "header byte %zu: invalid UTF-8", bad);
	root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
	if (!root)
		return err_set(e, ERR_INVALID,
			       "header is not valid JSON (near byte %td)",
			       end - text);
	for (bad = (size_t)(end - text); bad < n && is_json_space(hdr[bad]);)
		bad++;
	if (bad < n)
		rc = err_set(e, ERR_INVALID,
			     "header byte %zu: data after the JSON value", bad);
	else
		rc = parse_root(f, root, e);
	cJSON_Delete(root);
	return rc ? rc : check_scan(hdr, n, e);
}

/* Validate the image f->buf[0..buf_len) and fill the rest of f. */
static int parse_image(struct st_file *f, struct err *e)
{
	uint64_t hlen = 0;

	if (f->buf_len < 8)
		return err_set(e, ERR_INVALID,
			       "file is %zu bytes, too short for the 8-byte header length",
			       f->buf_len);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | f->buf[i];
	if (hlen > ST_MAX_HEADER)
		return err_set(e, ERR_RANGE,
			       "header length %" PRIu64 " exceeds the %zu-byte limit",
			       hlen, ST_MAX_HEADER);
	if (hlen > f->buf_len - 8)
		return err_set(e, ERR_INVALID,
			       "header length %" PRIu64 " exceeds the %zu bytes that follow it",
			       hlen, f->buf_len - 8);
	f->data = f->buf + 8 + hlen;
	f->data_len = f->buf_len - 8 - (size_t)hlen;
	return parse_header(f, f->buf + 8, (size_t)hlen, e);
}

/* Take ownership of buf (malloc'd, len bytes) and parse it into f. */
static int parse_owned(struct st_file *f, unsigned char *buf, size_t len,
		       struct err *e)
{
	int rc;

	memset(f, 0, sizeof *f);
	f->buf = buf;
	f->buf_len = len;
	rc = parse_image(f, e);
	if (rc)
		st_free(f);
	return rc;
}

int st_parse(struct st_file *f, const void *buf, size_t len, struct err *e)
{
	unsigned char *copy;

	memset(f, 0, sizeof *f);
	if (!buf && len > 0)
		return err_set(e, ERR_INVALID, "NULL buffer");
	copy = malloc(len ? len : 1);
	if (!copy)
		return err_set(e, ERR_NOMEM, "out of memory copying %zu bytes",
			       len);
	if (len)
		memcpy(copy, buf, len);
	return parse_owned(f, copy, len, e);
}

/* ---- reading files ---- */

static int read_fd(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t k = read(fd, buf + got, len - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO; /* file shrank under us */
			return -1;
		}
		got += (size_t)k;
	}
	return 0;
}

/* Read the whole regular file at path into a new buffer. */
static int slurp(const char *path, size_t max_bytes, unsigned char **out,
		 size_t *len, struct err *e)
{
	struct stat sb;
	unsigned char *buf = NULL;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s: cannot open: %s", path,
			       strerror(errno));
	if (fstat(fd, &sb) != 0)
		rc = err_set(e, ERR_IO, "%s: cannot stat: %s", path,
			     strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		rc = err_set(e, ERR_INVALID, "%s: not a regular file", path);
	else if ((uintmax_t)sb.st_size > SIZE_MAX ||
		 (max_bytes && (uintmax_t)sb.st_size > max_bytes))
		rc = err_set(e, ERR_RANGE, "%s: file is %jd bytes, limit %zu",
			     path, (intmax_t)sb.st_size, max_bytes);
	else if (!(buf = malloc(sb.st_size ? (size_t)sb.st_size : 1)))
		rc = err_set(e, ERR_NOMEM, "%s: out of memory for %jd bytes",
			     path, (intmax_t)sb.st_size);
	else if (read_fd(fd, buf, (size_t)sb.st_size) != 0)
		rc = err_set(e, ERR_IO, "%s: read failed: %s", path,
			     strerror(errno));
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = (size_t)sb.st_size;
	return 0;
}

int st_read(struct st_file *f, const char *path, size_t max_bytes,
	    struct err *e)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	memset(f, 0, sizeof *f);
	if ((rc = slurp(path, max_bytes, &buf, &len, e)))
		return rc;
	rc = parse_owned(f, buf, len, e);
	if (rc && e) {
		char msg[sizeof e->msg];

		memcpy(msg, e->msg, sizeof msg);
		err_set(e, rc, "%s: %s", path, msg);
	}
	return rc;
}

/* ---- accessors ---- */

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	if (!f || !name)
		return NULL;
	for (int i = 0; i < f->n_tensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

const void *st_tensor_data(const struct st_file *f, const struct st_tensor *t)
{
	return f && t ? f->data + t->offset : NULL;
}

const char *st_meta(const struct st_file *f, const char *key)
{
	if (!f || !key)
		return NULL;
	for (int i = 0; i < f->n_meta; i++)
		if (strcmp(f->meta_keys[i], key) == 0)
			return f->meta_values[i];
	return NULL;
}

void st_free(struct st_file *f)
{
	if (!f)
		return;
	for (int i = 0; f->tensors && i < f->n_tensors; i++)
		free(f->tensors[i].name);
	for (int i = 0; i < f->n_meta; i++) {
		if (f->meta_keys)
			free(f->meta_keys[i]);
		if (f->meta_values)
			free(f->meta_values[i]);
	}
	free(f->tensors);
	free(f->meta_keys);
	free(f->meta_values);
	free(f->buf);
	memset(f, 0, sizeof *f);
}

