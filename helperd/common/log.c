// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd logging: one line per event on stderr, tagged with the request id
 * when the event concerns a request ("req 17: ...").
 *
 * Under systemd, stderr is a journal stream (JOURNAL_STREAM is set): each
 * line then starts with the syslog priority in angle brackets ("<3>"), which
 * journald turns into the entry's priority; otherwise lines carry a
 * timestamp and a level word.  A line is formatted in one buffer and written
 * with one write() so lines of concurrent workers never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "atlsd";
static int log_max = ATLSD_LOG_INFO;
static int log_journal;

void atlsd_log_init(const char *ident, int max_level)
{
	log_ident = ident;
	log_max = max_level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void atlsd_log_set_level(int max_level)
{
	log_max = max_level;
}

static const char *level_word(int level)
{
	switch (level) {
	case ATLSD_LOG_ERR: return "error";
	case ATLSD_LOG_WARN: return "warning";
	case ATLSD_LOG_INFO: return "info";
	default: return "debug";
	}
}

void atlsd_log(int level, uint64_t req_id, const char *fmt, ...)
{
	char line[1024];
	size_t n = 0;
	va_list ap;
	int saved = errno;

	if (level > log_max)
		return;
	if (log_journal) {
		n = snprintf(line, sizeof(line), "<%d>", level);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %s[%d] %s: ", tm.tm_hour,
			     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_ident, (int)getpid(),
			     level_word(level));
	}
	if (req_id && n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - n, "req %llu: ",
			      (unsigned long long)req_id);
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		(void)0;	/* nowhere left to report it */
	errno = saved;
}

void atlsd_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = 0;
}

uint64_t atlsd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
