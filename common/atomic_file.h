/*
 * atomic_file.h — a file replaced whole or not at all, durably: written to
 * "<path>.tmp.<pid>", fsync'd, renamed over path, then its directory
 * fsync'd (the order PostgreSQL and etcd use). A crash leaves the old file
 * or the new one, and at worst a temp file that checkpoint_clean_temps
 * recognises by that name.
 */
#ifndef BYOL_ATOMIC_FILE_H
#define BYOL_ATOMIC_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* fill(fd, ctx) writes the contents (0, or -1 with errno set). When writing, fsync
   or the rename fails, the temp file is removed and path is untouched; when only the
   directory's fsync fails, path already holds the new contents but the rename may
   not survive a crash. Either way e names path and the step that failed. The temp
   file is created with O_NOFOLLOW and mode. */
int atomic_file_write(const char *path, mode_t mode, int (*fill)(int fd, void *ctx), void *ctx,
		      struct err *e);

/* write(2) until all n bytes are written (EINTR retried); 0, or -1 with errno
   (ENOSPC for a write that wrote nothing). */
int atomic_write_all(int fd, const void *p, size_t n);

#endif
