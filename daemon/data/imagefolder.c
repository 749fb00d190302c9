/*
 * imagefolder.c — folders of JPEG files, one sub-folder per class, decoded
 * with libjpeg(-turbo).
 *
 * Open lists <path>/<split>/ (or <path> when that does not exist): class
 * folders sorted by name get labels 0..K-1, and within each class the files
 * ending in .jpg or .jpeg (any case) sorted by name; hidden entries and
 * anything else are ignored. Each file's JPEG header is read then, so bad
 * files are found before training; pixels are decoded only by
 * imagefolder_load, on the loader threads.
 *
 * libjpeg reports fatal errors through error_exit, which must not return:
 * ours longjmps back to the one function that called setjmp (jpeg_run), so
 * a corrupt file becomes an ERR_INVALID, never an exit. Warnings mean
 * corrupt data too (a truncated file decodes to grey otherwise), so they
 * are fatal as well, except for stray bytes between markers, which many
 * cameras write and every decoder accepts.
 */
#include "dataset_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>

#define MAX_SCANS 256 /* progressive scans per file: guards against scan bombs */
/* libjpeg's working memory per decode (a progressive 16384² RGB file would want
   1.5 GiB of coefficients): a larger need fails the file, not the machine. */
#define MAX_DECODE_BYTES (512L << 20)

/* One listed file: where its name is and what its header said. */
struct folder_file {
	size_t name;     /* offset of "class/file" in imagefolder.names */
	uint16_t h, w;   /* at most DATASET_MAX_SIDE */
	uint8_t c;       /* 1 or 3 */
};

struct imagefolder {
	char *root;                 /* the directory holding the class folders */
	char *names;                /* "class/file\0" strings, back to back */
	size_t names_len, names_cap;
	struct folder_file *files;  /* (n_files) */
	int32_t *labels;            /* (n_files), moved to the dataset at the end */
	size_t n_files, files_cap;
};

/* A sorted list of directory entry names. */
struct name_list {
	char **v;
	size_t n, cap;
};

/* ======================================================================== */
/* JPEG decoding                                                            */
/* ======================================================================== */

struct jpeg_err {
	struct jpeg_error_mgr pub; /* first: libjpeg hands us &pub */
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
};

/* What to do with one file, and what its header said. */
struct jpeg_job {
	const char *path;
	FILE *f;
	struct image *img; /* NULL: read the header only */
	int channels;      /* wanted in img */
	int c, h, w;       /* native, from the header */
	struct err *e;
};

static void jump_out(j_common_ptr cinfo)
{
	struct jpeg_err *je = (struct jpeg_err *)cinfo->err;
	longjmp(je->jump, 1);
}

static void on_error_exit(j_common_ptr cinfo)
{
	struct jpeg_err *je = (struct jpeg_err *)cinfo->err;
	if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) /* over MAX_DECODE_BYTES */
		snprintf(je->msg, sizeof je->msg, "needs more than %ld MiB to decode",
			 MAX_DECODE_BYTES >> 20);
	else
		cinfo->err->format_message(cinfo, je->msg);
	jump_out(cinfo);
}

/* Level -1 is a warning (corrupt data): fatal, see the file comment.
 * Levels >= 0 are trace messages: dropped. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
	if (level < 0 && cinfo->err->msg_code != JWRN_EXTRANEOUS_DATA)
		on_error_exit(cinfo);
}

static void on_output_message(j_common_ptr cinfo)
{
	(void)cinfo; /* messages reach the caller through struct err instead */
}

/* A progressive file may hold any number of scans, each a full pass over
 * the coefficients; a few bytes per scan can cost minutes. Stop early. */
static void on_progress(j_common_ptr cinfo)
{
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	if (d->input_scan_number > MAX_SCANS) {
		struct jpeg_err *je = (struct jpeg_err *)cinfo->err;
		snprintf(je->msg, sizeof je->msg, "more than %d progressive scans", MAX_SCANS);
		jump_out(cinfo);
	}
}

/* Reject what we cannot or will not decode, before any pixel work. */
static int check_header(j_decompress_ptr cinfo, struct jpeg_job *job)
{
	if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK)
		return err_set(job->e, ERR_INVALID, "%s: CMYK JPEGs are not supported",
			       job->path);
	if (cinfo->num_components != 1 && cinfo->num_components != 3)
		return err_set(job->e, ERR_INVALID, "%s: %d colour components not supported",
			       job->path, cinfo->num_components);
	if (cinfo->image_width > DATASET_MAX_SIDE || cinfo->image_height > DATASET_MAX_SIDE)
		return err_set(job->e, ERR_INVALID, "%s: %ux%u pixels exceeds %dx%d", job->path,
			       (unsigned)cinfo->image_width, (unsigned)cinfo->image_height,
			       DATASET_MAX_SIDE, DATASET_MAX_SIDE);
	job->c = cinfo->num_components;
	job->h = (int)cinfo->image_height;
	job->w = (int)cinfo->image_width;
	return 0;
}

/* Interleaved scanline y of c components -> planar img of img->c channels. */
static void scatter_row(struct image *img, const uint8_t *row, int c, size_t y)
{
	size_t w = (size_t)img->w, plane = w * (size_t)img->h;
	uint8_t *dst = img->px + y * w;

	if (c == 3 && img->c == 3) {
		for (size_t x = 0; x < w; x++) {
			dst[x] = row[3 * x];
			dst[plane + x] = row[3 * x + 1];
			dst[2 * plane + x] = row[3 * x + 2];
		}
	} else if (c == 3) {
		for (size_t x = 0; x < w; x++)
			dst[x] = dataset_luma(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
	} else {
		for (int ch = 0; ch < img->c; ch++)
			memcpy(dst + (size_t)ch * plane, row, w);
	}
}

/* After the header: decode every scanline into job->img. */
static int decode_pixels(j_decompress_ptr cinfo, struct jpeg_job *job)
{
	struct image *img = job->img;
	size_t bytes = (size_t)job->h * (size_t)job->w * (size_t)job->channels;
	int rc = dataset_image_reserve(img, bytes, job->e);

	if (rc < 0)
		return rc;
	img->c = job->channels;
	img->h = job->h;
	img->w = job->w;
	cinfo->out_color_space = job->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_start_decompress(cinfo);
	if (cinfo->output_components != job->c || (int)cinfo->output_width != job->w ||
	    (int)cinfo->output_height != job->h)
		return err_set(job->e, ERR_INVALID, "%s: unexpected decoder output", job->path);
	JSAMPARRAY row = cinfo->mem->alloc_sarray((j_common_ptr)cinfo, JPOOL_IMAGE,
						  (JDIMENSION)job->w * (JDIMENSION)job->c, 1);
	while (cinfo->output_scanline < cinfo->output_height) {
		size_t y = cinfo->output_scanline;
		if (jpeg_read_scanlines(cinfo, row, 1) != 1)
			return err_set(job->e, ERR_INVALID, "%s: decoder stalled at row %zu",
				       job->path, y);
		scatter_row(img, row[0], job->c, y);
	}
	jpeg_finish_decompress(cinfo);
	return 0;
}

/*
 * The only function that calls setjmp: everything that may reach
 * error_exit runs below it, and it changes no local after setjmp, so the
 * longjmp back here is well defined. The caller destroys cinfo.
 */
static int jpeg_run(j_decompress_ptr cinfo, struct jpeg_err *je,
		    struct jpeg_progress_mgr *progress, struct jpeg_job *job)
{
	if (setjmp(je->jump))
		return err_set(job->e, ERR_INVALID, "%s: %s", job->path, je->msg);
	jpeg_create_decompress(cinfo);
	cinfo->mem->max_memory_to_use = MAX_DECODE_BYTES;
	cinfo->progress = progress;
	jpeg_stdio_src(cinfo, job->f);
	jpeg_read_header(cinfo, TRUE);
	int rc = check_header(cinfo, job);
	if (rc < 0 || !job->img)
		return rc;
	return decode_pixels(cinfo, job);
}

/* Read the header of (and, with job->img, decode) the file job->path. */
static int jpeg_file(struct jpeg_job *job)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_progress_mgr progress = { .progress_monitor = on_progress };
	struct jpeg_err je;

	job->f = fopen(job->path, "rb");
	if (!job->f)
		return err_set(job->e, errno == ENOMEM ? ERR_NOMEM : ERR_IO, "%s: %s",
			       job->path, strerror(errno));
	memset(&cinfo, 0, sizeof cinfo); /* so destroy is safe whatever failed */
	cinfo.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = on_error_exit;
	je.pub.emit_message = on_emit_message;
	je.pub.output_message = on_output_message;
	je.msg[0] = '\0';

	int rc = jpeg_run(&cinfo, &je, &progress, job);
	jpeg_destroy_decompress(&cinfo);
	fclose(job->f);
	return rc;
}

/* ======================================================================== */
/* Listing                                                                  */
/* ======================================================================== */

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int names_push(struct name_list *l, const char *name)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		char **v = reallocarray(l->v, cap, sizeof *v);
		if (!v)
			return ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n] = strdup(name)))
		return ERR_NOMEM;
	l->n++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_jpeg_suffix(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

/* Does entry d of directory fd pass the filter (directories or JPEG files)? */
static int keep_entry(int fd, const struct dirent *d, int want_dirs)
{
	struct stat st;
	int is_dir, is_reg;

	if (d->d_name[0] == '.')
		return 0; /* hidden, "." and ".." */
	if (!want_dirs && !has_jpeg_suffix(d->d_name))
		return 0;
	if (d->d_type == DT_DIR || d->d_type == DT_REG) {
		is_dir = d->d_type == DT_DIR;
		is_reg = d->d_type == DT_REG;
	} else { /* unknown type or a symlink: ask, following links */
		if (fstatat(fd, d->d_name, &st, 0) < 0)
			return 0;
		is_dir = S_ISDIR(st.st_mode);
		is_reg = S_ISREG(st.st_mode);
	}
	return want_dirs ? is_dir : is_reg;
}

/* The sorted names of dir's sub-folders (want_dirs) or JPEG files. */
static int list_dir(const char *dir, int want_dirs, struct name_list *out, struct err *e)
{
	struct dirent *d;
	int rc = 0;
	DIR *dp = opendir(dir);

	if (!dp)
		return err_set(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "%s: %s", dir,
			       strerror(errno));
	errno = 0;
	while ((d = readdir(dp))) {
		if (keep_entry(dirfd(dp), d, want_dirs) && names_push(out, d->d_name) < 0) {
			rc = err_set(e, ERR_NOMEM, "%s: out of memory listing files", dir);
			goto out_close;
		}
		errno = 0;
	}
	if (errno)
		rc = err_set(e, ERR_IO, "%s: %s", dir, strerror(errno));
	if (out->n) /* qsort's base must not be NULL, even for 0 items */
		qsort(out->v, out->n, sizeof *out->v, cmp_names);

out_close:
	closedir(dp);
	return rc;
}

/* Append "class/file" with its label and header to the folder's list. */
static int folder_add(struct imagefolder *f, const char *cls, const char *file, int32_t label,
		      const struct jpeg_job *job)
{
	size_t len = strlen(cls) + 1 + strlen(file) + 1;

	if (f->n_files == f->files_cap) {
		size_t cap = f->files_cap ? 2 * f->files_cap : 256;
		struct folder_file *v = reallocarray(f->files, cap, sizeof *v);
		int32_t *l = v ? reallocarray(f->labels, cap, sizeof *l) : NULL;
		if (v)
			f->files = v;
		if (!l)
			return ERR_NOMEM;
		f->labels = l;
		f->files_cap = cap;
	}
	if (f->names_cap - f->names_len < len) {
		size_t cap = f->names_cap ? 2 * f->names_cap : 4096;
		while (cap - f->names_len < len)
			cap *= 2;
		char *p = realloc(f->names, cap);
		if (!p)
			return ERR_NOMEM;
		f->names = p;
		f->names_cap = cap;
	}
	struct folder_file *ff = &f->files[f->n_files];
	ff->name = f->names_len;
	ff->c = (uint8_t)job->c;
	ff->h = (uint16_t)job->h;
	ff->w = (uint16_t)job->w;
	f->labels[f->n_files++] = label;
	snprintf(f->names + f->names_len, len, "%s/%s", cls, file);
	f->names_len += len;
	return 0;
}

/* Probe one file's header and list it, or skip it / fail as configured. */
static int add_file(struct dataset *ds, const char *cls, const char *file, int32_t label,
		    struct err *e)
{
	struct imagefolder *f = ds->folder;
	char path[PATH_MAX];
	int len = snprintf(path, sizeof path, "%s/%s/%s", f->root, cls, file);

	if (len < 0 || (size_t)len >= sizeof path)
		return err_set(e, ERR_RANGE, "%s/%s: path too long", f->root, cls);
	struct jpeg_job job = { .path = path, .e = e };
	int rc = jpeg_file(&job);
	if (rc == ERR_NOMEM || (rc < 0 && !ds->skip_bad))
		return rc;
	if (rc < 0) {
		dataset_log("skipping %s", e->msg);
		ds->skipped++;
		return 0;
	}
	if (folder_add(f, cls, file, label, &job) < 0)
		return err_set(e, ERR_NOMEM, "%s: out of memory listing files", f->root);
	return 0;
}

/* List one class folder, adding files until `limit` are listed (0: all). */
static int add_class(struct dataset *ds, const char *cls, int32_t label, size_t limit,
		     struct err *e)
{
	struct imagefolder *f = ds->folder;
	struct name_list files = { 0 };
	char dir[PATH_MAX];
	int len = snprintf(dir, sizeof dir, "%s/%s", f->root, cls);
	int rc;

	if (len < 0 || (size_t)len >= sizeof dir)
		return err_set(e, ERR_RANGE, "%s: path too long", f->root);
	rc = list_dir(dir, 0, &files, e);
	for (size_t i = 0; rc == 0 && i < files.n && !(limit && f->n_files >= limit); i++)
		rc = add_file(ds, cls, files.v[i], label, e);
	names_free(&files);
	return rc;
}

/* <path>/<split> if it is a directory, else <path>. */
static int find_root(struct imagefolder *f, const struct dataset_config *cfg, struct err *e)
{
	struct stat st;
	char *root = NULL;

	if (cfg->split && cfg->split[0] && asprintf(&root, "%s/%s", cfg->path, cfg->split) < 0)
		return err_set(e, ERR_NOMEM, "out of memory");
	if (root && stat(root, &st) == 0 && S_ISDIR(st.st_mode)) {
		f->root = root;
		return 0;
	}
	free(root);
	if (stat(cfg->path, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(e, ERR_NOTFOUND, "%s: no such directory", cfg->path);
	if (!(f->root = strdup(cfg->path)))
		return err_set(e, ERR_NOMEM, "out of memory");
	return 0;
}

int imagefolder_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e)
{
	struct name_list classes = { 0 };
	struct imagefolder *f;
	int rc;

	if (!(f = ds->folder = calloc(1, sizeof *f)))
		return err_set(e, ERR_NOMEM, "out of memory");
	if ((rc = find_root(f, cfg, e)) < 0)
		return rc;
	if ((rc = list_dir(f->root, 1, &classes, e)) < 0)
		goto out_names;
	if (classes.n == 0 || classes.n > INT32_MAX) {
		rc = err_set(e, ERR_INVALID, "%s: %s class folders", f->root,
			     classes.n ? "too many" : "no");
		goto out_names;
	}
	ds->classes = (int)classes.n;
	for (size_t k = 0; k < classes.n && !(cfg->limit && f->n_files >= cfg->limit); k++)
		if ((rc = add_class(ds, classes.v[k], (int32_t)k, cfg->limit, e)) < 0)
			goto out_names;
	if (f->n_files == 0) {
		rc = err_set(e, ERR_INVALID, "%s: no usable JPEG files (%zu skipped)", f->root,
			     ds->skipped);
		goto out_names;
	}
	/* The dataset owns the labels, as for the other formats. */
	ds->labels = f->labels;
	f->labels = NULL;
	ds->n = f->n_files;

out_names:
	names_free(&classes);
	return rc;
}

void imagefolder_free(struct imagefolder *f)
{
	if (!f)
		return;
	free(f->root);
	free(f->names);
	free(f->files);
	free(f->labels);
	free(f);
}

void imagefolder_shape(const struct dataset *ds, size_t i, int *c, int *h, int *w)
{
	const struct folder_file *ff = &ds->folder->files[i];
	*c = ff->c;
	*h = ff->h;
	*w = ff->w;
}

int imagefolder_load(const struct dataset *ds, size_t i, struct image *img, struct err *e)
{
	const struct imagefolder *f = ds->folder;
	char path[PATH_MAX];
	int len = snprintf(path, sizeof path, "%s/%s", f->root, f->names + f->files[i].name);

	if (len < 0 || (size_t)len >= sizeof path)
		return err_set(e, ERR_RANGE, "%s: path too long", f->root);
	struct jpeg_job job = { .path = path, .img = img, .channels = ds->channels, .e = e };
	return jpeg_file(&job);
}
