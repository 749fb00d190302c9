/*
 * imagefolder.c — folders of JPEG files, one sub-folder per class, decoded
 * with libjpeg(-turbo).
 *
 * The root is <path>/<split>/ (for split "train" only: <path> itself when
 * there is no train/; any other split must exist, so a missing test/ never
 * evaluates on the training images). Class folders sorted by name get labels
 * 0..K-1; within each class the files ending in .jpg or .jpeg (any case),
 * sorted by name, are the images. Every other entry of a class folder that
 * is not hidden or a sub-folder (another image type, a text file, a FIFO, a
 * dangling link) is a skipped file with its reason: named in the log (the
 * first DATASET_LOG_MAX_NAMED), counted, or under on_error fail the error.
 *
 * Two readers of the same listing rules:
 *   imagefolder_probe  the directory entries alone (names and d_type; a
 *                      fstatat for links and unknown types): no file is
 *                      opened, nothing is kept per file, so memory is
 *                      O(class folders) and time one pass over the entries,
 *                      both bounded by DATASET_MAX_CLASSES and
 *                      DATASET_MAX_FOLDER_ENTRIES;
 *   imagefolder_open   also reads each JPEG's header (on the job's thread),
 *                      so bad files are found before training; pixels are
 *                      decoded only by imagefolder_load, on the loader threads.
 * Directories are opened O_DIRECTORY|O_NONBLOCK and files through
 * dataset_open_file: a FIFO never blocks either.
 *
 * libjpeg reports fatal errors through error_exit, which must not return:
 * ours longjmps back to the one function that called setjmp (jpeg_run), so
 * a corrupt file becomes an ERR_INVALID, never an exit. Warnings mean
 * corrupt data too (a truncated file decodes to grey otherwise), so they
 * are fatal as well, except for stray bytes between markers, which many
 * cameras write and every decoder accepts.
 */
#include "data/dataset_impl.h"

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
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>

#define MAX_SCANS 256 /* progressive scans per file: guards against scan bombs */
/* libjpeg's working memory per decode (a progressive 16384² RGB file would want
   1.5 GiB of coefficients): a larger need fails the file, not the machine. */
#define MAX_DECODE_BYTES (512L << 20)
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

static const char *const kind_names[KIND_N] = {
	[KIND_JPEG] = "JPEG", [KIND_PNG] = "PNG", [KIND_GIF] = "GIF", [KIND_WEBP] = "WebP",
	[KIND_BMP] = "BMP", [KIND_TIFF] = "TIFF", [KIND_HEIF] = "HEIF", [KIND_AVIF] = "AVIF",
	[KIND_JXL] = "JPEG XL", [KIND_JP2] = "JPEG 2000", [KIND_PNM] = "PNM",
	[KIND_BAD_JPEG] = "unreadable JPEG", [KIND_NOT_REGULAR] = "non-regular",
	[KIND_OTHER] = "non-image",
};

/* Skipped files of one listing, by kind; the first one's message. */
struct skip_tally {
	size_t n[KIND_N];
	size_t total;
	char first[256];
};

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
	/* open only */
	size_t entries;             /* directory entries read, against the bound */
	size_t subfolders;          /* sub-folders of class folders, ignored */
	struct skip_tally skips;
};

/* A directory entry, as the listing sees it. */
enum entry_type { ENTRY_DIR, ENTRY_FILE, ENTRY_OTHER };

struct entry {
	char *name;
	enum entry_type type;
};

/* A sorted list of directory entries. */
struct name_list {
	struct entry *v;
	size_t n, cap;
};

/* ======================================================================== */
/* Kinds of files                                                           */
/* ======================================================================== */

static int has_jpeg_suffix(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
}

/* The kind a regular file's name says: KIND_JPEG, an image type, or KIND_OTHER. */
static enum file_kind kind_by_name(const char *name)
{
	static const struct {
		const char *ext;
		enum file_kind kind;
	} exts[] = {
		{ ".png", KIND_PNG },   { ".apng", KIND_PNG },  { ".gif", KIND_GIF },
		{ ".webp", KIND_WEBP }, { ".bmp", KIND_BMP },   { ".dib", KIND_BMP },
		{ ".tif", KIND_TIFF },  { ".tiff", KIND_TIFF }, { ".heic", KIND_HEIF },
		{ ".heif", KIND_HEIF }, { ".avif", KIND_AVIF }, { ".jxl", KIND_JXL },
		{ ".jp2", KIND_JP2 },   { ".j2k", KIND_JP2 },   { ".jpx", KIND_JP2 },
		{ ".ppm", KIND_PNM },   { ".pgm", KIND_PNM },   { ".pbm", KIND_PNM },
		{ ".pnm", KIND_PNM },
	};
	const char *dot = strrchr(name, '.');

	if (has_jpeg_suffix(name))
		return KIND_JPEG;
	for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
		if (strcasecmp(dot, exts[i].ext) == 0)
			return exts[i].kind;
	return KIND_OTHER;
}

/* The kind a file's first bytes say: KIND_JPEG, an image type, or KIND_OTHER. */
static enum file_kind kind_by_magic(const uint8_t *p, size_t n)
{
	if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return KIND_JPEG;
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return KIND_PNG;
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return KIND_GIF;
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return KIND_WEBP;
	if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
		return KIND_TIFF;
	if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0) {
		if (memcmp(p + 8, "avif", 4) == 0 || memcmp(p + 8, "avis", 4) == 0)
			return KIND_AVIF;
		if (memcmp(p + 8, "heic", 4) == 0 || memcmp(p + 8, "heix", 4) == 0 ||
		    memcmp(p + 8, "mif1", 4) == 0 || memcmp(p + 8, "msf1", 4) == 0)
			return KIND_HEIF;
	}
	if ((n >= 2 && p[0] == 0xFF && p[1] == 0x0A) ||
	    (n >= 12 && memcmp(p, "\0\0\0\x0cJXL \r\n\x87\n", 12) == 0))
		return KIND_JXL;
	if (n >= 12 && memcmp(p, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0)
		return KIND_JP2;
	if (n >= 2 && p[0] == 'B' && p[1] == 'M')
		return KIND_BMP;
	return KIND_OTHER;
}

/* The reason a skipped file of kind k (told by name) gives; name is its name. */
static int kind_error(struct err *e, const char *path, enum file_kind k)
{
	if (k >= KIND_FIRST_TYPE && k <= KIND_LAST_TYPE)
		return err_set(e, ERR_INVALID, "%s: unsupported image type: %s", path,
			       kind_names[k]);
	return err_set(e, ERR_INVALID, "%s: not a JPEG file (only .jpg and .jpeg files are read)",
		       path);
}

/* The first bytes of an open file: how many (0 if unreadable) into p. */
static size_t sniff(int fd, uint8_t *p, size_t n)
{
	ssize_t got = pread(fd, p, n, 0);
	return got > 0 ? (size_t)got : 0;
}

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
	enum file_kind kind; /* on failure: another image type, if its magic says so */
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

/* Read the header of (and, with job->img, decode) the file job->path, opened
   without blocking (dataset_open_file). A file whose first bytes are another
   image type's says so, rather than libjpeg's "Not a JPEG file". */
static int jpeg_file(struct jpeg_job *job)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_progress_mgr progress = { .progress_monitor = on_progress };
	struct jpeg_err je;
	struct stat st;
	uint8_t head[SNIFF_BYTES];
	int fd = dataset_open_file(job->path, &st, job->e);

	if (fd < 0)
		return fd;
	enum file_kind k = kind_by_magic(head, sniff(fd, head, sizeof head));
	if (k != KIND_JPEG && k != KIND_OTHER) {
		close(fd);
		job->kind = k;
		return err_set(job->e, ERR_INVALID, "%s: unsupported image type: %s (named %s)",
			       job->path, kind_names[k], strrchr(job->path, '.'));
	}
	job->f = fdopen(fd, "rb");
	if (!job->f) {
		close(fd);
		return err_set(job->e, ERR_NOMEM, "%s: %s", job->path, strerror(errno));
	}
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
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int names_push(struct name_list *l, const char *name, enum entry_type type)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct entry *v = reallocarray(l->v, cap, sizeof *v);
		if (!v)
			return ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n].name = strdup(name)))
		return ERR_NOMEM;
	l->v[l->n++].type = type;
	return 0;
}

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void names_sort(struct name_list *l)
{
	if (l->n) /* qsort's base must not be NULL, even for 0 items */
		qsort(l->v, l->n, sizeof *l->v, cmp_entries);
}

/* What entry d of the directory fd is, following symlinks; *mode its type
   (0 when it cannot be stat'ed: a dangling link), *err the stat's errno. */
static enum entry_type entry_type(int fd, const struct dirent *d, mode_t *mode, int *err)
{
	struct stat st;

	*err = 0;
	switch (d->d_type) {
	case DT_DIR: *mode = S_IFDIR; return ENTRY_DIR;
	case DT_REG: *mode = S_IFREG; return ENTRY_FILE;
	case DT_FIFO: *mode = S_IFIFO; return ENTRY_OTHER;
	case DT_CHR: *mode = S_IFCHR; return ENTRY_OTHER;
	case DT_BLK: *mode = S_IFBLK; return ENTRY_OTHER;
	case DT_SOCK: *mode = S_IFSOCK; return ENTRY_OTHER;
	}
	/* A symlink or an unknown type: ask (stat never opens, so never blocks). */
	if (fstatat(fd, d->d_name, &st, 0) < 0) {
		*mode = 0;
		*err = errno;
		return ENTRY_OTHER;
	}
	*mode = st.st_mode & S_IFMT;
	return S_ISDIR(st.st_mode) ? ENTRY_DIR : S_ISREG(st.st_mode) ? ENTRY_FILE : ENTRY_OTHER;
}

/* Called for each entry of a directory that is not hidden; nonzero stops. */
typedef int (*visit_fn)(void *ctx, const char *name, enum entry_type type, mode_t mode,
			int stat_err, struct err *e);

/*
 * Read the entries of dir one at a time (nothing is kept here), each counted
 * in *entries against DATASET_MAX_FOLDER_ENTRIES (NULL: not counted), and
 * visit the ones not hidden (".*"). The directory is opened O_DIRECTORY |
 * O_NONBLOCK: a FIFO in its place is refused, never waited on.
 */
static int walk(const char *dir, size_t *entries, visit_fn visit, void *ctx, struct err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		if (errno == ENOTDIR)
			return err_set(e, ERR_INVALID, "%s: not a directory", dir);
		return err_set(e, errno == ENOENT ? ERR_NOTFOUND : errno == ENOMEM ? ERR_NOMEM
			       : ERR_IO, "%s: %s", dir, strerror(errno));
	}
	DIR *dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return err_set(e, ERR_NOMEM, "%s: %s", dir, strerror(errno));
	}
	for (;;) {
		errno = 0;
		struct dirent *d = readdir(dp);
		if (!d) {
			if (errno)
				rc = err_set(e, ERR_IO, "%s: %s", dir, strerror(errno));
			break;
		}
		if (entries && ++*entries > DATASET_MAX_FOLDER_ENTRIES) {
			rc = err_set(e, ERR_RANGE, "%s: the image folder has more than %zu directory "
				     "entries, the most it may have", dir, DATASET_MAX_FOLDER_ENTRIES);
			break;
		}
		if (d->d_name[0] == '.')
			continue; /* hidden, "." and ".." */
		mode_t mode;
		int err;
		enum entry_type type = entry_type(dirfd(dp), d, &mode, &err);
		if ((rc = visit(ctx, d->d_name, type, mode, err, e)) != 0)
			break;
	}
	closedir(dp);
	return rc;
}

/* ---- the root: class folders --------------------------------------------- */

struct root_list {
	const char *root;
	struct name_list classes;
	size_t loose; /* image files beside the class folders */
};

static int visit_root(void *ctx, const char *name, enum entry_type type, mode_t mode,
		      int stat_err, struct err *e)
{
	struct root_list *r = ctx;

	(void)mode, (void)stat_err;
	if (type == ENTRY_FILE && kind_by_name(name) <= KIND_LAST_TYPE)
		r->loose++;
	if (type != ENTRY_DIR)
		return 0;
	if (r->classes.n >= DATASET_MAX_CLASSES)
		return err_set(e, ERR_RANGE, "%s: more than %d class folders", r->root,
			       DATASET_MAX_CLASSES);
	if (names_push(&r->classes, name, type) < 0)
		return err_set(e, ERR_NOMEM, "%s: out of memory listing class folders", r->root);
	return 0;
}

/* The sorted class folders of root (at least one). */
static int list_classes(struct root_list *r, size_t *entries, struct err *e)
{
	int rc = walk(r->root, entries, visit_root, r, e);

	if (rc < 0)
		return rc;
	names_sort(&r->classes);
	if (r->classes.n == 0 && r->loose)
		return err_set(e, ERR_INVALID, "%s: no class folders (%zu image files directly in "
			       "it: an image folder holds one sub-folder of images per class)",
			       r->root, r->loose);
	if (r->classes.n == 0)
		return err_set(e, ERR_INVALID, "%s: no class folders", r->root);
	return 0;
}

/*
 * The directory holding the class folders, into root: <path>/<split> if it
 * is a directory; else, for split "train" only, <path> itself. Any other
 * split must exist: a missing test/ must not make the training images the
 * test images. NULL or "": <path>.
 */
static int find_root(char *root, size_t size, const struct dataset_config *cfg,
		     struct err *e)
{
	struct stat st;
	int rc = dataset_check_dir(cfg->path, e), len;

	if (rc < 0)
		return rc;
	if (!cfg->split || !cfg->split[0]) {
		len = snprintf(root, size, "%s", cfg->path);
		return len < 0 || (size_t)len >= size ? err_set(e, ERR_RANGE, "%s: path too long",
								cfg->path) : 0;
	}
	len = snprintf(root, size, "%s/%s", cfg->path, cfg->split);
	if (len < 0 || (size_t)len >= size)
		return err_set(e, ERR_RANGE, "%s: path too long", cfg->path);
	if (stat(root, &st) == 0 || errno != ENOENT)
		return dataset_check_dir(root, e); /* there: it must be a directory */
	if (strcmp(cfg->split, "train") == 0) {
		snprintf(root, size, "%s", cfg->path); /* fits: root held more */
		return 0;
	}
	if (strcmp(cfg->split, "test") == 0)
		return err_set(e, ERR_NOTFOUND, "%s has no test/ folder: evaluation would use the "
			       "training images; set eval_data.path to a labelled folder, or "
			       "eval_data.split to \"train\" to evaluate on the training images",
			       cfg->path);
	return err_set(e, ERR_NOTFOUND, "%s has no %s/ folder (only split \"train\" falls back to "
		       "the folder itself)", cfg->path, cfg->split);
}

/* ---- what was skipped ------------------------------------------------------ */

/* "12 PNG files, 1 non-image file" into buf, from the counts of t. */
static void tally_text(char *buf, size_t size, const struct skip_tally *t)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int k = 0; k < KIND_N && len < size; k++) {
		if (!t->n[k])
			continue;
		int w = snprintf(buf + len, size - len, "%s%zu %s file%s", len ? ", " : "", t->n[k],
				 kind_names[k], t->n[k] == 1 ? "" : "s");
		len += w > 0 ? (size_t)w : 0;
	}
}

/* The error when nothing is usable: what the class folders hold instead. */
static int no_usable(const char *root, const struct skip_tally *t, size_t classes,
		     size_t subfolders, struct err *e)
{
	char what[160], types[96] = "";
	size_t n_types = 0, len = 0;

	if (t->total == 0 && subfolders)
		return err_set(e, ERR_INVALID, "%s: no usable images: its %zu class folders hold "
			       "only sub-folders (%zu), which are not read", root, classes, subfolders);
	if (t->total == 0)
		return err_set(e, ERR_INVALID, "%s: no usable images: its %zu class folder%s hold%s "
			       "no files", root, classes, classes == 1 ? "" : "s",
			       classes == 1 ? "s" : "");
	tally_text(what, sizeof what, t);
	for (int k = KIND_FIRST_TYPE; k <= KIND_LAST_TYPE; k++)
		n_types += t->n[k] != 0;
	for (int k = KIND_FIRST_TYPE, seen = 0; k <= KIND_LAST_TYPE && len < sizeof types; k++) {
		if (!t->n[k])
			continue;
		seen++;
		int w = snprintf(types + len, sizeof types - len, "%s%s",
				 seen == 1 ? "" : seen == (int)n_types ? " and " : ", ", kind_names[k]);
		len += w > 0 ? (size_t)w : 0;
	}
	size_t others = t->total;
	for (int k = KIND_FIRST_TYPE; k <= KIND_LAST_TYPE; k++)
		others -= t->n[k];
	if (n_types && !others)
		return err_set(e, ERR_INVALID, "%s: no usable images: %s (%s %s not supported yet)",
			       root, what, types, n_types == 1 ? "is" : "are");
	return err_set(e, ERR_INVALID, "%s: no usable images: %s%s%s%s; first: %s", root, what,
		       n_types ? " (" : "", types, n_types ? (n_types == 1 ? " is not supported yet)"
								 : " are not supported yet)") : "",
		       t->first);
}

/* ======================================================================== */
/* The probe: entries only                                                  */
/* ======================================================================== */

struct probe_class {
	size_t jpeg;                /* JPEG candidates */
	size_t subfolders;
	struct skip_tally *tally;
	/* The first non-candidate by name: what dataset_open meets first. */
	int has_min;
	char min[NAME_MAX + 1];
	enum entry_type min_type;
	enum file_kind min_kind;
	mode_t min_mode;
	int min_err;
	const char *below;          /* pass 2: count the candidates before this name */
	size_t n_below;
};

static int visit_probe(void *ctx, const char *name, enum entry_type type, mode_t mode,
		       int stat_err, struct err *e)
{
	struct probe_class *p = ctx;
	enum file_kind k = type == ENTRY_FILE ? kind_by_name(name) : KIND_NOT_REGULAR;

	(void)e;
	if (type == ENTRY_DIR) {
		p->subfolders++;
		return 0;
	}
	if (k == KIND_JPEG) {
		p->jpeg++;
		return 0;
	}
	p->tally->n[k]++;
	p->tally->total++;
	if (!p->has_min || strcmp(name, p->min) < 0) {
		p->has_min = 1;
		snprintf(p->min, sizeof p->min, "%s", name);
		p->min_type = type, p->min_kind = k, p->min_mode = mode, p->min_err = stat_err;
	}
	return 0;
}

static int visit_below(void *ctx, const char *name, enum entry_type type, mode_t mode,
		       int stat_err, struct err *e)
{
	struct probe_class *p = ctx;

	(void)mode, (void)stat_err, (void)e;
	if (type == ENTRY_FILE && kind_by_name(name) == KIND_JPEG && strcmp(name, p->below) < 0)
		p->n_below++;
	return 0;
}

/* The message dataset_open would give for the probe's first non-candidate. */
static int probe_reason(struct err *e, const char *root, const char *cls,
			const struct probe_class *p)
{
	char path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s/%s", root, cls, p->min);
	if (p->min_type == ENTRY_FILE)
		return kind_error(e, path, p->min_kind);
	if (p->min_mode == 0)
		return err_set(e, ERR_INVALID, "%s: %s", path, strerror(p->min_err));
	return err_set(e, ERR_INVALID, "%s: is %s, not a regular file", path,
		       dataset_mode_name(p->min_mode));
}

int imagefolder_probe(const struct dataset_config *cfg, size_t *n, struct err *e)
{
	char root[PATH_MAX], dir[PATH_MAX];
	struct root_list r = { .root = root };
	struct skip_tally tally = { 0 };
	size_t entries = 0, total = 0, subfolders = 0;
	const size_t limit = cfg->limit;
	int rc;

	if ((rc = find_root(root, sizeof root, cfg, e)) < 0)
		return rc;
	if ((rc = list_classes(&r, &entries, e)) < 0)
		goto out;
	for (size_t k = 0; k < r.classes.n && !(limit && total >= limit); k++) {
		const char *cls = r.classes.v[k].name;
		struct probe_class p = { .tally = &tally };
		int len = snprintf(dir, sizeof dir, "%s/%s", root, cls);
		if (len < 0 || (size_t)len >= sizeof dir) {
			rc = err_set(e, ERR_RANGE, "%s: path too long", root);
			goto out;
		}
		if ((rc = walk(dir, &entries, visit_probe, &p, e)) < 0)
			goto out;
		subfolders += p.subfolders;
		if (p.has_min && !cfg->skip_bad) {
			/* dataset_open goes through the class in name order until `limit`
			   images are listed: does it meet this file first? */
			int reached = !limit || total + p.jpeg < limit;
			if (!reached) {
				p.below = p.min;
				if ((rc = walk(dir, NULL, visit_below, &p, e)) < 0)
					goto out;
				reached = total + p.n_below < limit;
			}
			if (reached) {
				rc = probe_reason(e, root, cls, &p);
				goto out;
			}
		}
		if (p.has_min && !tally.first[0]) {
			struct err first;
			probe_reason(&first, root, cls, &p);
			snprintf(tally.first, sizeof tally.first, "%s", first.msg);
		}
		total += p.jpeg;
	}
	if (total == 0) {
		rc = no_usable(root, &tally, r.classes.n, subfolders, e);
		goto out;
	}
	*n = limit && limit < total ? limit : total;

out:
	names_free(&r.classes);
	return rc;
}

/* ======================================================================== */
/* Opening: the listing with each JPEG's header                             */
/* ======================================================================== */

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

/* Count a skipped file (message in e) or, under on_error fail, fail with it. */
static int skip_or_fail(struct dataset *ds, enum file_kind k, int rc, struct err *e)
{
	struct skip_tally *t = &ds->folder->skips;

	if (rc == 0 || rc == ERR_NOMEM || !ds->skip_bad)
		return rc;
	if (t->total++ == 0)
		snprintf(t->first, sizeof t->first, "%s", e->msg);
	t->n[k]++;
	if (++ds->skipped <= DATASET_LOG_MAX_NAMED)
		dataset_log(ds, "skipping %s", e->msg);
	return 0;
}

/* Why a file not named .jpg/.jpeg (or not regular) is skipped, into e; its kind. */
static int other_file(const char *path, const struct entry *en, enum file_kind *k,
		      struct err *e)
{
	struct stat st;
	uint8_t head[SNIFF_BYTES];
	int fd = dataset_open_file(path, &st, e); /* refuses a FIFO without opening it */

	*k = en->type == ENTRY_FILE ? kind_by_name(en->name) : KIND_NOT_REGULAR;
	if (fd < 0) /* the reason is dataset_open_file's; a bad entry, as the probe says */
		return fd == ERR_NOMEM ? fd : (e->code = ERR_INVALID);
	enum file_kind magic = kind_by_magic(head, sniff(fd, head, sizeof head));
	close(fd);
	if (magic == KIND_JPEG) {
		*k = KIND_OTHER;
		return err_set(e, ERR_INVALID, "%s: a JPEG file not named .jpg or .jpeg: rename it "
			       "to use it", path);
	}
	if (magic != KIND_OTHER)
		*k = magic;
	if (*k == KIND_NOT_REGULAR)
		*k = KIND_OTHER; /* listed as not regular, but it is by now */
	return kind_error(e, path, *k);
}

/* Read one file's header and list it, or skip it / fail as configured. */
static int add_file(struct dataset *ds, const char *cls, const struct entry *en, int32_t label,
		    struct err *e)
{
	struct imagefolder *f = ds->folder;
	char path[PATH_MAX];
	enum file_kind k = KIND_BAD_JPEG;
	int len = snprintf(path, sizeof path, "%s/%s/%s", f->root, cls, en->name), rc;

	if (len < 0 || (size_t)len >= sizeof path)
		return err_set(e, ERR_RANGE, "%s/%s: path too long", f->root, cls);
	if (en->type == ENTRY_FILE && kind_by_name(en->name) == KIND_JPEG) {
		struct jpeg_job job = { .path = path, .e = e, .kind = KIND_BAD_JPEG };
		rc = jpeg_file(&job);
		if (rc == 0 && folder_add(f, cls, en->name, label, &job) < 0)
			return err_set(e, ERR_NOMEM, "%s: out of memory listing files", f->root);
		k = job.kind;
	} else {
		rc = other_file(path, en, &k, e);
	}
	return skip_or_fail(ds, k, rc, e);
}

struct class_list {
	struct imagefolder *f;
	struct name_list files;
};

static int visit_class(void *ctx, const char *name, enum entry_type type, mode_t mode,
		       int stat_err, struct err *e)
{
	struct class_list *c = ctx;

	(void)mode, (void)stat_err;
	if (type == ENTRY_DIR) {
		c->f->subfolders++;
		return 0;
	}
	if (names_push(&c->files, name, type) < 0)
		return err_set(e, ERR_NOMEM, "%s: out of memory listing files", c->f->root);
	return 0;
}

/* List one class folder, adding files until `limit` are listed (0: all). */
static int add_class(struct dataset *ds, const char *cls, int32_t label, size_t limit,
		     struct err *e)
{
	struct imagefolder *f = ds->folder;
	struct class_list c = { .f = f };
	char dir[PATH_MAX];
	int len = snprintf(dir, sizeof dir, "%s/%s", f->root, cls);
	int rc;

	if (len < 0 || (size_t)len >= sizeof dir)
		return err_set(e, ERR_RANGE, "%s: path too long", f->root);
	rc = walk(dir, &f->entries, visit_class, &c, e);
	names_sort(&c.files);
	for (size_t i = 0; rc == 0 && i < c.files.n && !(limit && f->n_files >= limit); i++)
		rc = add_file(ds, cls, &c.files.v[i], label, e);
	names_free(&c.files);
	return rc;
}

int imagefolder_open(struct dataset *ds, const struct dataset_config *cfg, struct err *e)
{
	char root[PATH_MAX];
	struct root_list r = { .root = root };
	struct imagefolder *f;
	int rc;

	if (!(f = ds->folder = calloc(1, sizeof *f)))
		return err_set(e, ERR_NOMEM, "out of memory");
	if ((rc = find_root(root, sizeof root, cfg, e)) < 0)
		return rc;
	if (!(f->root = strdup(root)))
		return err_set(e, ERR_NOMEM, "out of memory");
	if ((rc = list_classes(&r, &f->entries, e)) < 0)
		goto out_names;
	ds->classes = (int)r.classes.n;
	for (size_t k = 0; k < r.classes.n && !(cfg->limit && f->n_files >= cfg->limit); k++)
		if ((rc = add_class(ds, r.classes.v[k].name, (int32_t)k, cfg->limit, e)) < 0)
			goto out_names;
	if (ds->skipped > DATASET_LOG_MAX_NAMED) {
		char what[160];
		tally_text(what, sizeof what, &f->skips);
		dataset_log(ds, "%s: %zu more files skipped, not named (%zu skipped in all: %s)",
			    f->root, ds->skipped - DATASET_LOG_MAX_NAMED, ds->skipped, what);
	}
	if (f->subfolders)
		dataset_log(ds, "%s: %zu sub-folder%s of class folders ignored (images are read "
			    "from the class folders themselves only)", f->root, f->subfolders,
			    f->subfolders == 1 ? "" : "s");
	if (f->n_files == 0) {
		rc = no_usable(f->root, &f->skips, r.classes.n, f->subfolders, e);
		goto out_names;
	}
	/* The dataset owns the labels, as for the other formats. */
	ds->labels = f->labels;
	f->labels = NULL;
	ds->n = f->n_files;

out_names:
	names_free(&r.classes);
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
