/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging and small helpers shared by atlsd and atlsctl (log.c).
 */
#ifndef ATLSD_LOG_H
#define ATLSD_LOG_H

#include <stddef.h>
#include <stdint.h>

enum atlsd_log_level { ATLSD_LOG_ERR = 3, ATLSD_LOG_WARN = 4, ATLSD_LOG_INFO = 6,
		       ATLSD_LOG_DEBUG = 7 };

void atlsd_log_init(const char *ident, int max_level);
void atlsd_log_set_level(int max_level);
/* req_id 0: not about a request. */
void atlsd_log(int level, uint64_t req_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define log_err(id, ...) atlsd_log(ATLSD_LOG_ERR, id, __VA_ARGS__)
#define log_warn(id, ...) atlsd_log(ATLSD_LOG_WARN, id, __VA_ARGS__)
#define log_info(id, ...) atlsd_log(ATLSD_LOG_INFO, id, __VA_ARGS__)
#define log_dbg(id, ...) atlsd_log(ATLSD_LOG_DEBUG, id, __VA_ARGS__)

/* Hex of n bytes into out (2n+1 bytes). */
void atlsd_hex(const uint8_t *in, size_t n, char *out);
/* CLOCK_MONOTONIC in nanoseconds (the latency split's clock). */
uint64_t atlsd_now_ns(void);

#endif /* ATLSD_LOG_H */
