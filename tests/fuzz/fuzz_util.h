/*
 * fuzz_util.h — what the fuzz targets share for files: one private temp
 * directory per process (mkdtemp under $TMPDIR or /tmp), emptied before each
 * input and removed at exit, and files written into it. Targets never write
 * anywhere else. Header-only, so each target stays one .c file for both
 * builds: libFuzzer (clang, make fuzz) and the corpus replay (replay_main.c).
 *
 *	const char *dir = fuzz_dir_fresh();          (empty, for this input)
 *	fuzz_write("cls/a.jpg", data, size);         (makes cls/ on the way)
 *	fuzz_path(path, sizeof path, "cls/a.jpg");   (the absolute name)
 *
 * A failure here is the harness's, not the code's under test: abort().
 */
#ifndef BYOL_FUZZ_UTIL_H
#define BYOL_FUZZ_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[4096];

/* nftw callback: remove everything below the root, children first. */
static inline int fuzz_rm_below(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag;
	if (ftw->level > 0 && remove(path) < 0)
		abort();
	return 0;
}

static inline void fuzz_dir_remove(void)
{
	nftw(fuzz_dir, fuzz_rm_below, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(fuzz_dir);
}

/* The process's temp directory, created on first use and emptied on every call. */
static inline const char *fuzz_dir_fresh(void)
{
	if (!fuzz_dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(fuzz_dir, sizeof fuzz_dir, "%s/byol-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(fuzz_dir))
			abort();
		atexit(fuzz_dir_remove);
	} else if (nftw(fuzz_dir, fuzz_rm_below, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		abort();
	}
	return fuzz_dir;
}

/* "<temp dir>/<rel>" into buf. */
static inline void fuzz_path(char *buf, size_t size, const char *rel)
{
	if ((size_t)snprintf(buf, size, "%s/%s", fuzz_dir, rel) >= size)
		abort();
}

/* Write size bytes to <temp dir>/<rel>, making the directories of rel first. */
static inline void fuzz_write(const char *rel, const void *data, size_t size)
{
	char path[4200];
	size_t root = strlen(fuzz_dir) + 1;
	fuzz_path(path, sizeof path, rel);
	for (char *p = strchr(path + root, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, 0700) < 0 && access(path, F_OK) < 0)
			abort();
		*p = '/';
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	for (size_t done = 0; done < size;) {
		ssize_t n = write(fd, (const char *)data + done, size - done);
		if (n <= 0)
			abort();
		done += (size_t)n;
	}
	close(fd);
}

#endif
