// SPDX-License-Identifier: Apache-2.0
/*
 * atlsctl's file writes: a whole file replaced atomically (a temporary file
 * beside it, then rename), so atlsd never reads a half-written policy,
 * certificate or export.
 *
 * The directory may be one the caller named (export DIR, evidence --out), so
 * nothing in it is trusted: the temporary file is created by mkstemp()
 * (a fresh random name, O_EXCL: a link planted there is never followed),
 * its mode set on the open file, and rename() replaces the final name itself
 * (a link there is replaced, not followed).  A directory that others may
 * write to (group or world writable without the sticky bit, or owned by
 * another user than us or root) is refused: whoever can write there could
 * swap the file between our write and its reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atlsctl.h"

static int check_dir(const char *path)
{
	char copy[1024], *dir;
	struct stat st;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	dir = dirname(copy);
	if (stat(dir, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_uid != geteuid() && st.st_uid != 0) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
		fprintf(stderr, "atlsctl: %s: directory writable by others (or not ours); "
			"refusing to write %s there\n", dir, path);
		return -EPERM;
	}
	return 0;
}

int atlsctl_write_file(const char *path, const void *data, size_t len, unsigned int mode)
{
	char tmp[1100];
	ssize_t n;
	size_t off = 0;
	int fd, err;

	err = check_dir(path);
	if (err)
		return err;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = fchmod(fd, mode) ? -errno : 0;
	while (!err && off < len) {
		n = write(fd, (const char *)data + off, len - off);
		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
