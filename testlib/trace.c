// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* testlib: tracefs from a VM test (trace.h). */
#include <errno.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

#include "trace.h"

int tl_trace_reset(const char *buffer_kb)
{
	int err;

	if (access(TL_TRACEFS "/events", F_OK) &&
	    mount("tracefs", TL_TRACEFS, "tracefs", 0, NULL))
		return -errno;
	err = tl_write_file(TL_TRACEFS "/tracing_on", "0", false);
	if (!err)
		err = tl_write_file(TL_TRACEFS "/trace_clock", "global", false);
	if (!err && buffer_kb)
		err = tl_write_file(TL_TRACEFS "/buffer_size_kb", buffer_kb, false);
	if (!err)
		err = tl_write_file(TL_TRACEFS "/trace", "", false);	/* clears it */
	return err;
}

int tl_trace_event(const char *event, bool on)
{
	char path[256];

	if (snprintf(path, sizeof(path), TL_TRACEFS "/events/%s/enable", event) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	return tl_write_file(path, on ? "1" : "0", false);
}

int tl_trace_on(bool on)
{
	return tl_write_file(TL_TRACEFS "/tracing_on", on ? "1" : "0", false);
}
