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

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c stores tensor data in host order: little-endian only"
#endif

#define META_KEY "__metadata__"
/* 2^53 - 1: the largest integer N such that every integer literal > N parses
 * to a double > N (2^53 + 1 rounds to 2^53), so the bound is exact. */
#define MAX_JSON_INT 9007199254740991.0
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

/* product(shape) * elsize into *out; -1 on size_t overflow. */
static int shape_nbytes(const int64_t *shape, int ndim, size_t elsize,
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

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 if invalid:
 * no overlong forms, surrogates or code points above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* Offset of the first invalid UTF-8 byte in s, or n if it is all valid. */
static size_t utf8_check(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq_len(s + i, n - i);
		if (k == 0)
			return i;
		i += k;
	}
	return i;
}

static int utf8_valid(const char *s)
{
	size_t n = strlen(s);

	return utf8_check((const unsigned char *)s, n) == n;
}

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
	if (!(d >= 0 && d <= MAX_JSON_INT) || (double)(uint64_t)d != d)
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
	if (shape_nbytes(t->shape, t->ndim, st_dtype_size(t->dtype), &nbytes))
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
		return err_set(e, ERR_INVALID, META_KEY " is not an object");
	if ((rc = check_unique_keys(m, META_KEY, e)) || n == 0)
		return rc;
	f->meta_keys = calloc((size_t)n, sizeof *f->meta_keys);
	f->meta_values = calloc((size_t)n, sizeof *f->meta_values);
	if (!f->meta_keys || !f->meta_values)
		return err_set(e, ERR_NOMEM, "out of memory");
	f->n_meta = n; /* all NULL so far; st_free copes */
	cJSON_ArrayForEach(c, m) {
		if (!cJSON_IsString(c))
			return err_set(e, ERR_INVALID,
				       META_KEY " value for '" NAME_FMT "' is not a string",
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
		if (strcmp(c->string, META_KEY) == 0)
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
	size_t bad = utf8_check(hdr, n);
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
	uint64_t total; /* sum of nbytes, kept <= MAX_JSON_INT */
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
	if (strcmp(name, META_KEY) == 0)
		return err_set(e, ERR_INVALID,
			       "tensor name '" META_KEY "' is reserved");
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
		if (shape[i] < 0 || shape[i] > (int64_t)MAX_JSON_INT)
			return err_set(e, ERR_INVALID,
				       "tensor '" NAME_FMT "': shape[%d] = %" PRId64 " not in [0, 2^53 - 1]",
				       name, i, shape[i]);
	if (shape_nbytes(shape, ndim, st_dtype_size(dtype), nbytes) ||
	    *nbytes > (uint64_t)MAX_JSON_INT - w->total)
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
		if (!(meta = cJSON_AddObjectToObject(root, META_KEY)))
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

static int write_all(int fd, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n > 0) {
		ssize_t k = write(fd, s, n > (1u << 30) ? (1u << 30) : n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = ENOSPC;
			return -1;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Write length, header and tensor data to fd; -1 with errno on failure. */
static int write_image(int fd, const struct st_writer *w, const char *hdr,
		       size_t hlen)
{
	unsigned char len8[8];

	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
	if (write_all(fd, len8, 8) || write_all(fd, hdr, hlen))
		return -1;
	for (int i = 0; i < w->n; i++)
		if (write_all(fd, w->t[i].data, w->t[i].nbytes))
			return -1;
	return 0;
}

/* Create tmp, write the image and fsync it; remove tmp on failure. */
static int write_tmp(const struct st_writer *w, const char *path,
		     const char *tmp, const char *hdr, size_t hlen,
		     struct err *e)
{
	int fd, rc = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s: cannot create %s: %s", path, tmp,
			       strerror(errno));
	if (write_image(fd, w, hdr, hlen))
		rc = err_set(e, ERR_IO, "%s: write failed: %s", path,
			     strerror(errno));
	else if (fsync(fd))
		rc = err_set(e, ERR_IO, "%s: fsync failed: %s", path,
			     strerror(errno));
	if (close(fd) && rc == 0)
		rc = err_set(e, ERR_IO, "%s: close failed: %s", path,
			     strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* fsync the directory holding path so the rename is durable. */
static int fsync_dir(const char *path, struct err *e)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = 0;

	if (!slash)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir)
		return err_set(e, ERR_NOMEM, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = err_set(e, ERR_IO, "%s: fsync of directory %s failed: %s",
			     path, dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int st_writer_write(struct st_writer *w, const char *path, struct err *e)
{
	char *hdr = NULL, *tmp;
	size_t hlen = 0, tmp_len;
	int rc;

	if (!w || !path || !path[0])
		return err_set(e, ERR_INVALID, "NULL writer or empty path");
	tmp_len = strlen(path) + 32;
	tmp = malloc(tmp_len);
	if (!tmp)
		return err_set(e, ERR_NOMEM, "out of memory");
	snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
	rc = build_header(w, &hdr, &hlen, e);
	if (!rc)
		rc = write_tmp(w, path, tmp, hdr, hlen, e);
	if (!rc && rename(tmp, path) != 0) {
		rc = err_set(e, ERR_IO, "%s: rename from %s failed: %s", path,
			     tmp, strerror(errno));
		unlink(tmp);
	}
	if (!rc)
		rc = fsync_dir(path, e);
	free(hdr);
	free(tmp);
	return rc;
}
