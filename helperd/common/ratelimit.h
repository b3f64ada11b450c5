/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-source log rate limit (ratelimit.c): at most burst lines per source in
 * each interval; what is suppressed is counted and reported when the
 * source's next interval lets a line through.
 */
#ifndef ATLSD_RATELIMIT_H
#define ATLSD_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define ATLSD_RL_SLOTS 64

struct atlsd_ratelimit {
	pthread_mutex_t lock;
	uint64_t interval_ns;
	unsigned int burst;
	struct {
		uint64_t key, start_ns;
		unsigned int count;
		unsigned long suppressed;
		bool used;
	} slot[ATLSD_RL_SLOTS];
	unsigned int next;		/* round-robin victim when all are used */
};

/* burst 0: no limit (every line is let through). */
void atlsd_ratelimit_init(struct atlsd_ratelimit *rl, uint64_t interval_ns, unsigned int burst);
/* New interval and burst (a reload); windows already open keep their start. */
void atlsd_ratelimit_set(struct atlsd_ratelimit *rl, uint64_t interval_ns, unsigned int burst);
/*
 * May a line about source key be logged at now_ns?  true: yes, and
 * *suppressed is how many lines of this source were suppressed before it
 * (to be logged once, now); false: suppressed and counted.  Thread-safe.
 */
bool atlsd_ratelimit_allow(struct atlsd_ratelimit *rl, uint64_t key, uint64_t now_ns,
			   unsigned long *suppressed);

#endif /* ATLSD_RATELIMIT_H */
