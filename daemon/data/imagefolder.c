/*
 * imagefolder.c — folders of JPEG, PNG and WebP files, one sub-folder per
 * class: the listing and the images (file kinds: file_kind.c; decoding:
 * decode.c, which hands each kind to jpeg.c, png.c or webp.c).
 *
 * The root is <path>/<split>/ (for split "train" only: <path> itself when
 * there is no train/; any other split must exist, so a missing test/ never
 * evaluates on the training images). Class folders sorted by name get labels
 * 0..K-1; within each class the files ending in .jpg, .jpeg, .png or .webp
 * (any case), sorted by name, are the images. Every other entry of a class
 * folder that is not hidden or a sub-folder (another image type, a text
 * file, a FIFO, a dangling link) is a skipped file with its reason: named in
 * the log (the first DATASET_LOG_MAX_NAMED), counted, or under on_error fail
 * the error.
 *
 * Two readers of the same listing rules:
 *   imagefolder_probe  the directory entries alone (names and d_type; a
 *                      fstatat for links and unknown types): no file is
 *                      opened, nothing is kept per file, so memory is
 *                      O(class folders) and time one pass over the entries,
 *                      both bounded by DATASET_MAX_CLASSES and
 *                      DATASET_MAX_FOLDER_ENTRIES;
 *   imagefolder_open   also reads each image's header (on the job's thread),
 *                      so bad files are found before training; pixels are
 *                      decoded only by imagefolder_load, on the loader threads.
 * Directories are opened O_DIRECTORY|O_NONBLOCK and files through
 * dataset_open_file: a FIFO never blocks either.

 */
#include "data/dataset_impl.h"
#include "data/decode.h"
#include "data/file_kind.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>


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
	uint8_t kind;    /* KIND_JPEG, KIND_PNG or KIND_WEBP: its decoder */
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
	if (type == ENTRY_FILE && file_kind_by_name(name) <= KIND_LAST_TYPE)
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
				 file_kind_names[k], t->n[k] == 1 ? "" : "s");
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
				 seen == 1 ? "" : seen == (int)n_types ? " and " : ", ", file_kind_names[k]);
		len += w > 0 ? (size_t)w : 0;
	}
	size_t others = t->total;
	for (int k = KIND_FIRST_TYPE; k <= KIND_LAST_TYPE; k++)
		others -= t->n[k];
	char why[160] = "";
	if (n_types)
		snprintf(why, sizeof why, " (%s %s not supported yet; " KINDS_READ " files are read)",
			 types, n_types == 1 ? "is" : "are");
	if (!others)
		return err_set(e, ERR_INVALID, "%s: no usable images: %s%s", root, what, why);
	return err_set(e, ERR_INVALID, "%s: no usable images: %s%s; first: %s", root, what, why,
		       t->first);
}

/* ======================================================================== */
/* The probe: entries only                                                  */
/* ======================================================================== */

struct probe_class {
	size_t images;              /* candidates: files named as a kind read */
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
	enum file_kind k = type == ENTRY_FILE ? file_kind_by_name(name) : KIND_NOT_REGULAR;

	(void)e;
	if (type == ENTRY_DIR) {
		p->subfolders++;
		return 0;
	}
	if (file_kind_read(k)) {
		p->images++;
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
	if (type == ENTRY_FILE && file_kind_read(file_kind_by_name(name)) &&
	    strcmp(name, p->below) < 0)
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
		return file_kind_error(e, path, p->min_kind);
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
			int reached = !limit || total + p.images < limit;
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
		total += p.images;
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
/* Opening: the listing with each image's header                           */
/* ======================================================================== */

/* Append "class/file" with its label and header to the folder's list. */
static int folder_add(struct imagefolder *f, const char *cls, const char *file, int32_t label,
		      enum file_kind k, const struct decode_job *job)
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
	ff->kind = (uint8_t)k;
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

/* Why a file not named as a kind read (or not regular) is skipped, into e; its kind. */
static int other_file(const char *path, const struct entry *en, enum file_kind *k,
		      struct err *e)
{
	struct stat st;
	uint8_t head[SNIFF_BYTES];
	int fd = dataset_open_file(path, &st, e); /* refuses a FIFO without opening it */

	*k = en->type == ENTRY_FILE ? file_kind_by_name(en->name) : KIND_NOT_REGULAR;
	if (fd < 0) /* the reason is dataset_open_file's; a bad entry, as the probe says */
		return fd == ERR_NOMEM ? fd : (e->code = ERR_INVALID);
	enum file_kind magic = file_kind_by_magic(head, file_kind_sniff(fd, head, sizeof head));
	close(fd);
	if (magic != KIND_OTHER)
		return file_kind_mismatch(e, path, *k, magic, k);
	if (*k == KIND_NOT_REGULAR)
		*k = KIND_OTHER; /* listed as not regular, but it is by now */
	return file_kind_error(e, path, *k);
}

/* Read one file's header and list it, or skip it / fail as configured. */
static int add_file(struct dataset *ds, const char *cls, const struct entry *en, int32_t label,
		    struct err *e)
{
	struct imagefolder *f = ds->folder;
	char path[PATH_MAX];
	enum file_kind k = en->type == ENTRY_FILE ? file_kind_by_name(en->name) : KIND_NOT_REGULAR;
	int len = snprintf(path, sizeof path, "%s/%s/%s", f->root, cls, en->name), rc;

	if (len < 0 || (size_t)len >= sizeof path)
		return err_set(e, ERR_RANGE, "%s/%s: path too long", f->root, cls);
	if (file_kind_read(k)) {
		struct decode_job job = { .path = path, .e = e };
		rc = decode_file(&job, k);
		if (rc == 0 && folder_add(f, cls, en->name, label, k, &job) < 0)
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

int imagefolder_load(const struct dataset *ds, size_t i, int scale, struct image *img,
		     struct err *e)
{
	const struct imagefolder *f = ds->folder;
	char path[PATH_MAX];
	int len = snprintf(path, sizeof path, "%s/%s", f->root, f->names + f->files[i].name);

	if (len < 0 || (size_t)len >= sizeof path)
		return err_set(e, ERR_RANGE, "%s: path too long", f->root);
	struct decode_job job = { .path = path, .img = img, .channels = ds->channels,
				  .scale = scale, .e = e };
	return decode_file(&job, (enum file_kind)f->files[i].kind);
}

/* Here, not in dataset.c: only an image folder's JPEGs decode at reduced scales. */
int dataset_scalable(const struct dataset *ds, size_t i)
{
	if (ds->base && i < ds->n) { /* a view (subset.c): its base's image */
		i = ds->index[i];
		ds = ds->base;
	}
	return ds->folder && i < ds->n && ds->folder->files[i].kind == KIND_JPEG;
}
