// SPDX-License-Identifier: Apache-2.0
/*
 * atlsctl's file writes: a whole file replaced atomically (a temporary file
 * beside it, then rename), so atlsd never reads a half-written policy,
 * certificate or export.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atlsctl.h"

int atlsctl_write_file(const char *path, const void *data, size_t len, unsigned int mode)
{
	char tmp[1100];
	FILE *f;
	int err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	chmod(tmp, mode);
	if (fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
