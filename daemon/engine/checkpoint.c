/*
 * checkpoint.c — writing and reading BYOL checkpoints (see checkpoint.h).
 */
#include "engine/checkpoint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "sha256.h"

#define CKPT_MAX_BYTES ((size_t)16 << 30)
#define CKPT_NAME_MAX (NN_NAME_MAX + 48)

void checkpoint_meta_free(struct checkpoint_meta *meta)
{
	free(meta->spec);
	meta->spec = NULL;
}

/* Visit every tensor of a checkpoint: fn(ctx, name, data, len, ndim, shape, is_count). */
typedef int (*visit_fn)(void *ctx, const char *name, float *data, size_t len, int ndim,
			const int *shape, int is_count);

static int visit(const struct byol_model *m, visit_fn fn, void *ctx)
{
	char name[CKPT_NAME_MAX];
	for (int p = 0; p < BYOL_PARTS; p++) {
		const struct nn_net *net = &m->net[p];
		for (int i = 0; i < net->n_params + net->n_buffers; i++) {
			int is_param = i < net->n_params;
			const struct nn_tensor *t = is_param ? &net->params[i]
							     : &net->buffers[i - net->n_params];
			float *data = (is_param ? net->param : net->buffer) + t->offset;
			int is_count = !is_param && t->ndim == 0; /* num_batches_tracked */
			snprintf(name, sizeof name, "%s%s", byol_part_prefix(p), t->name);
			int rc = fn(ctx, name, data, t->len, t->ndim, t->shape, is_count);
			if (rc)
				return rc;
			if (is_param && p <= BYOL_PREDICTOR) {
				snprintf(name, sizeof name, "optim.momentum.%s%s", byol_part_prefix(p),
					 t->name);
				rc = fn(ctx, name, m->momentum[p] + t->offset, t->len, t->ndim,
					t->shape, 0);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/* ---- writing ------------------------------------------------------------ */

struct write_ctx {
	struct st_writer *w;
	int64_t *counts; /* num_batches_tracked as int64, one per BN */
	int n_counts;
	int pass;        /* 0: counts (int64, first for alignment), 1: float tensors */
	struct err *e;
};

static int add_tensor(void *arg, const char *name, float *data, size_t len, int ndim,
		      const int *shape, int is_count)
{
	struct write_ctx *c = arg;
	int64_t dims[4];
	(void)len;
	for (int i = 0; i < ndim; i++)
		dims[i] = shape[i];
	if (is_count != (c->pass == 0))
		return 0;
	if (!is_count)
		return st_writer_add(c->w, name, ST_F32, ndim, dims, data, c->e);
	c->counts[c->n_counts] = (int64_t)data[0];
	return st_writer_add(c->w, name, ST_I64, 0, dims, &c->counts[c->n_counts++], c->e);
}

static int count_bn(void *arg, const char *name, float *data, size_t len, int ndim,
		    const int *shape, int is_count)
{
	(void)name, (void)data, (void)len, (void)ndim, (void)shape;
	*(int *)arg += is_count;
	return 0;
}

static int add_meta(struct st_writer *w, const char *spec_json, long step, int epoch,
		    struct err *e)
{
	char num[32];
	int rc = st_writer_meta(w, "format", "pt", e);
	if (!rc)
		rc = st_writer_meta(w, "spec", spec_json ? spec_json : "{}", e);
	snprintf(num, sizeof num, "%ld", step);
	if (!rc)
		rc = st_writer_meta(w, "step", num, e);
	snprintf(num, sizeof num, "%d", epoch);
	if (!rc)
		rc = st_writer_meta(w, "epoch", num, e);
	return rc;
}

int checkpoint_write(const struct byol_model *m, const char *path, const char *spec_json,
		     long step, int epoch, char sha256[65], size_t *bytes, struct err *e)
{
	struct write_ctx c = { .e = e };
	int n_bn = 0, rc;
	visit(m, count_bn, &n_bn);
	c.counts = calloc((size_t)n_bn + 1, sizeof *c.counts);
	if (!c.counts)
		return err_set(e, ERR_NOMEM, "checkpoint: out of memory");
	rc = st_writer_init(&c.w, e);
	for (c.pass = 0; !rc && c.pass < 2; c.pass++)
		rc = visit(m, add_tensor, &c);
	if (!rc)
		rc = add_meta(c.w, spec_json, step, epoch, e);
	if (!rc)
		rc = st_writer_write(c.w, path, e);
	st_writer_free(c.w);
	free(c.counts);
	if (!rc)
		rc = sha256_file(path, sha256, e);
	if (!rc && bytes) {
		FILE *f = fopen(path, "rb");
		*bytes = 0;
		if (f && fseek(f, 0, SEEK_END) == 0)
			*bytes = (size_t)ftell(f);
		if (f)
			fclose(f);
	}
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

struct read_ctx {
	const struct st_file *f;
	const char *path;
	int found;
	struct err *e;
};

static int load_tensor(void *arg, const char *name, float *data, size_t len, int ndim,
		       const int *shape, int is_count)
{
	struct read_ctx *c = arg;
	const struct st_tensor *t = st_find(c->f, name);
	if (!t)
		return err_set(c->e, ERR_INVALID, "%s: tensor %s missing", c->path, name);
	int same = t->ndim == ndim && t->dtype == (is_count ? ST_I64 : ST_F32);
	for (int i = 0; same && i < ndim; i++)
		same = t->shape[i] == shape[i];
	if (!same)
		return err_set(c->e, ERR_INVALID, "%s: tensor %s has dtype %s and another shape "
			       "than this model's", c->path, name, st_dtype_name(t->dtype));
	const unsigned char *src = st_tensor_data(c->f, t);
	if (is_count) {
		int64_t v;
		memcpy(&v, src, sizeof v);
		data[0] = (float)v;
	} else {
		memcpy(data, src, len * sizeof(float));
	}
	c->found++;
	return 0;
}

/* name is all digits (and not empty). */
static int all_digits(const char *name)
{
	if (!*name)
		return 0;
	for (; *name; name++)
		if (!isdigit((unsigned char)*name))
			return 0;
	return 1;
}

/* A count written by checkpoint_write: plain decimal digits, at most max. */
static int parse_count(const char *text, long max, long *out)
{
	if (!all_digits(text) || strlen(text) > 18)
		return -1;
	*out = strtol(text, NULL, 10);
	return *out <= max ? 0 : -1;
}

static int read_meta(const struct st_file *f, const char *path, struct checkpoint_meta *meta,
		     struct err *e)
{
	const char *spec = st_meta(f, "spec"), *step = st_meta(f, "step");
	const char *epoch = st_meta(f, "epoch"), *format = st_meta(f, "format");
	if (!spec || !step || !epoch || !format || strcmp(format, "pt") != 0)
		return err_set(e, ERR_INVALID, "%s: not a byol checkpoint (metadata format, spec, "
			       "step and epoch expected)", path);
	long ep;
	if (parse_count(step, LONG_MAX, &meta->step) != 0)
		return err_set(e, ERR_INVALID, "%s: bad step \"%.40s\"", path, step);
	if (parse_count(epoch, INT_MAX, &ep) != 0)
		return err_set(e, ERR_INVALID, "%s: bad epoch \"%.40s\"", path, epoch);
	meta->epoch = (int)ep;
	meta->spec = strdup(spec);
	return meta->spec ? 0 : err_set(e, ERR_NOMEM, "checkpoint: out of memory");
}

int checkpoint_read(struct byol_model *m, const char *path, struct checkpoint_meta *meta,
		    struct err *e)
{
	struct st_file f;
	int rc = st_read(&f, path, CKPT_MAX_BYTES, e);
	if (rc)
		return rc;
	struct read_ctx c = { .f = &f, .path = path, .e = e };
	struct checkpoint_meta local = { 0 };
	rc = read_meta(&f, path, meta ? meta : &local, e);
	if (!rc)
		rc = visit(m, load_tensor, &c);
	if (!rc && c.found != f.n_tensors)
		rc = err_set(e, ERR_INVALID, "%s: %d tensors that this model does not have", path,
			     f.n_tensors - c.found);
	checkpoint_meta_free(&local);
	if (rc && meta)
		checkpoint_meta_free(meta);
	st_free(&f);
	return rc;
}

int checkpoint_verify(const char *path, const char *sha256, struct err *e)
{
	char actual[65];
	int rc = sha256_file(path, actual, e);
	if (!rc && strcmp(actual, sha256) != 0)
		rc = err_set(e, ERR_INVALID, "%s: sha256 %s, expected %s", path, actual, sha256);
	return rc;
}

/* ---- start-up cleanup ----------------------------------------------------- */

#define TEMP_MARK ".safetensors.tmp."

/* name is "<something>.safetensors.tmp.<digits>": st_writer_write's temp name. */
static int temp_name(const char *name)
{
	const char *mark = strstr(name, TEMP_MARK);
	if (!mark || mark == name)
		return 0;
	while (strstr(mark + 1, TEMP_MARK)) /* the last occurrence */
		mark = strstr(mark + 1, TEMP_MARK);
	return all_digits(mark + strlen(TEMP_MARK));
}

/* The temp files in one job's directory (an open fd, closed here). */
static int clean_job_dir(int fd, const char *path, int *removed, struct err *e)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	}
	int rc = 0;
	struct dirent *ent;
	while (!rc && (errno = 0, ent = readdir(d))) {
		struct stat st;
		if (!temp_name(ent->d_name) ||
		    fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), ent->d_name, 0) != 0 && errno != ENOENT)
			rc = err_set(e, ERR_IO, "%s/%s: cannot remove: %s", path, ent->d_name,
				     strerror(errno));
		else
			(*removed)++;
	}
	if (!rc && errno)
		rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
	closedir(d);
	return rc;
}

int checkpoint_clean_temps(const char *state_dir, int *removed, struct err *e)
{
	char root[4200], path[4500];
	int count = 0, rc = 0;
	if (removed)
		*removed = 0;
	snprintf(root, sizeof root, "%s/checkpoints", state_dir);
	DIR *d = opendir(root);
	if (!d)
		return errno == ENOENT ? 0 : err_set(e, ERR_IO, "%s: %s", root, strerror(errno));
	struct dirent *ent;
	while (!rc && (errno = 0, ent = readdir(d))) {
		if (!all_digits(ent->d_name))
			continue;
		snprintf(path, sizeof path, "%s/%s", root, ent->d_name);
		int fd = openat(dirfd(d), ent->d_name,
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOTDIR || errno == ELOOP || errno == ENOENT)
				continue; /* a file or a symlink named like a job: not ours */
			rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
			break;
		}
		rc = clean_job_dir(fd, path, &count, e);
	}
	if (!rc && errno)
		rc = err_set(e, ERR_IO, "%s: %s", root, strerror(errno));
	closedir(d);
	if (removed)
		*removed = count;
	return rc;
}
