/*
 * atomic_file.c — durable whole-file replacement (see atomic_file.h).
 */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int atomic_write_all(int fd, const void *p, size_t n)
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

/* Create tmp, fill it and fsync it; remove tmp on failure. */
static int write_tmp(const char *path, const char *tmp, mode_t mode,
		     int (*fill)(int fd, void *ctx), void *ctx, struct err *e)
{
	int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return err_set(e, ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
	if (fill(fd, ctx))
		rc = err_set(e, ERR_IO, "%s: write failed: %s", path, strerror(errno));
	else if (fsync(fd))
		rc = err_set(e, ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
	if (close(fd) && rc == 0)
		rc = err_set(e, ERR_IO, "%s: close failed: %s", path, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* fsync the directory holding path so the rename is durable. */
static int fsync_dir(const char *path, struct err *e)
{
	const char *slash = strrchr(path, '/');
	char *dir = !slash ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
	int fd, rc = 0;
	if (!dir)
		return err_set(e, ERR_NOMEM, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		rc = err_set(e, ERR_IO, "%s: fsync of directory %s failed: %s", path, dir,
			     strerror(errno));
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int atomic_file_write(const char *path, mode_t mode, int (*fill)(int fd, void *ctx), void *ctx,
		      struct err *e)
{
	size_t tmp_len = strlen(path) + 32;
	char *tmp = malloc(tmp_len);
	int rc;
	if (!tmp)
		return err_set(e, ERR_NOMEM, "out of memory");
	snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
	rc = write_tmp(path, tmp, mode, fill, ctx, e);
	if (!rc && rename(tmp, path) != 0) {
		rc = err_set(e, ERR_IO, "%s: rename from %s failed: %s", path, tmp, strerror(errno));
		unlink(tmp);
	}
	if (!rc)
		rc = fsync_dir(path, e);
	free(tmp);
	return rc;
}
