/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: kernel tracing from a VM test, through tracefs: the module's own
 * events (events/atls) and kprobe events a test adds. Root only.
 */
#ifndef TL_TRACE_H
#define TL_TRACE_H

#include <stdbool.h>

#include "util.h"		/* tl_write_file() */

#define TL_TRACEFS "/sys/kernel/tracing"

/*
 * tracefs mounted at TL_TRACEFS (here, if the VM has not), tracing off, the
 * global clock (events of both CPUs in one order), the buffer cleared and,
 * unless @buffer_kb is NULL, resized to that many KiB per CPU. 0 or -errno.
 */
int tl_trace_reset(const char *buffer_kb);

/* events/@event/enable ("atls", "atls/atls_req_failed", ...): 0 or -errno. */
int tl_trace_event(const char *event, bool on);

/* tracing_on: 0 or -errno. */
int tl_trace_on(bool on);

#endif
