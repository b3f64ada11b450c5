// SPDX-License-Identifier: GPL-2.0
/*
 * The one instantiation of atls.ko's tracepoints (atls_trace.h). Every other
 * file includes atls_trace.h plainly and calls trace_atls_*().
 */
#define CREATE_TRACE_POINTS
#include "atls_trace.h"
