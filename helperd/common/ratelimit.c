// SPDX-License-Identifier: Apache-2.0
/*
 * Per-source log rate limit (ratelimit.h).
 *
 * A fixed table of ATLSD_RL_SLOTS sources, each with a window start, the
 * lines let through in that window and the lines suppressed since the last
 * line let through.  A source not in the table takes a free slot or, when
 * all are used, the round-robin victim (whose suppressed count is then lost:
 * the table bounds memory, not accuracy for more than 64 noisy sources).
 * rl->lock protects everything; callers are atlsd's workers.
 */
#include <string.h>

#include "ratelimit.h"

void atlsd_ratelimit_init(struct atlsd_ratelimit *rl, uint64_t interval_ns, unsigned int burst)
{
	memset(rl, 0, sizeof(*rl));
	pthread_mutex_init(&rl->lock, NULL);
	rl->interval_ns = interval_ns;
	rl->burst = burst;
}

void atlsd_ratelimit_set(struct atlsd_ratelimit *rl, uint64_t interval_ns, unsigned int burst)
{
	pthread_mutex_lock(&rl->lock);
	rl->interval_ns = interval_ns;
	rl->burst = burst;
	pthread_mutex_unlock(&rl->lock);
}

bool atlsd_ratelimit_allow(struct atlsd_ratelimit *rl, uint64_t key, uint64_t now_ns,
			   unsigned long *suppressed)
{
	unsigned int i, s = ATLSD_RL_SLOTS;
	bool ok;

	*suppressed = 0;
	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < ATLSD_RL_SLOTS; i++) {
		if (rl->slot[i].used && rl->slot[i].key == key) {
			s = i;
			break;
		}
		if (!rl->slot[i].used && s == ATLSD_RL_SLOTS)
			s = i;
	}
	if (s == ATLSD_RL_SLOTS)
		s = rl->next++ % ATLSD_RL_SLOTS;
	if (!rl->slot[s].used || rl->slot[s].key != key) {
		memset(&rl->slot[s], 0, sizeof(rl->slot[s]));
		rl->slot[s].used = true;
		rl->slot[s].key = key;
		rl->slot[s].start_ns = now_ns;
	}
	/*
	 * Callers read the clock before the lock, so a caller can arrive with
	 * a time before the window's start: that is the same window (an
	 * unsigned difference would wrap and open a new one).
	 */
	if (now_ns > rl->slot[s].start_ns &&
	    now_ns - rl->slot[s].start_ns >= rl->interval_ns) {
		rl->slot[s].start_ns = now_ns;	/* a new window */
		rl->slot[s].count = 0;
	}
	ok = !rl->burst || rl->slot[s].count < rl->burst;	/* 0: no limit */
	if (ok) {
		rl->slot[s].count++;
		*suppressed = rl->slot[s].suppressed;
		rl->slot[s].suppressed = 0;
	} else {
		rl->slot[s].suppressed++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
