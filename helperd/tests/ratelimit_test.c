// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd's per-source log rate limit (helperd/common/ratelimit.c): burst
 * lines per source and interval, the rest counted and reported with the
 * first line let through afterwards; sources do not share a budget.
 */
#include "kselftest_harness.h"

#include "../common/ratelimit.h"

#define SEC 1000000000ull

TEST(burst_then_suppressed_then_count_reported)
{
	struct atlsd_ratelimit rl;
	unsigned long sup;
	int i;

	atlsd_ratelimit_init(&rl, 5 * SEC, 10);
	for (i = 0; i < 10; i++) {
		EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 1000, 1 * SEC, &sup));
		EXPECT_EQ(0ul, sup);
	}
	for (i = 0; i < 25; i++)
		EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 1000, 2 * SEC, &sup));
	/* Another source has its own budget. */
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 1001, 2 * SEC, &sup));
	EXPECT_EQ(0ul, sup);
	/* Still the same window for 1000. */
	EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 1000, 5 * SEC, &sup));
	/* The window has passed: let through, with the 26 suppressed. */
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 1000, 6 * SEC, &sup));
	EXPECT_EQ(26ul, sup);
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 1000, 6 * SEC, &sup));
	EXPECT_EQ(0ul, sup);
}

TEST(many_sources_bounded_table)
{
	struct atlsd_ratelimit rl;
	unsigned long sup;
	uint64_t k;

	atlsd_ratelimit_init(&rl, 5 * SEC, 1);
	/* More sources than slots: each new one still gets its first line. */
	for (k = 0; k < 3 * ATLSD_RL_SLOTS; k++)
		EXPECT_TRUE(atlsd_ratelimit_allow(&rl, k, SEC, &sup));
	EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 3 * ATLSD_RL_SLOTS - 1, SEC, &sup));
}

TEST(burst_zero_is_no_limit_and_set_applies)
{
	struct atlsd_ratelimit rl;
	unsigned long sup;
	int i;

	atlsd_ratelimit_init(&rl, 5 * SEC, 2);
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 7, SEC, &sup));
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 7, SEC, &sup));
	for (i = 0; i < 3; i++)
		EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 7, SEC, &sup));
	/* A reload to burst 0: everything through, and the 3 suppressed are
	 * still reported once, in the same window. */
	atlsd_ratelimit_set(&rl, 5 * SEC, 0);
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 7, SEC, &sup));
	EXPECT_EQ(3ul, sup);
	for (i = 0; i < 100; i++) {
		EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 7, SEC, &sup));
		EXPECT_EQ(0ul, sup);
	}
	/* And back to a limit: the window's count went on while unlimited. */
	atlsd_ratelimit_set(&rl, 5 * SEC, 2);
	EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 7, 2 * SEC, &sup));
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 7, 7 * SEC, &sup));
	EXPECT_EQ(1ul, sup);
}

/*
 * Callers read the clock before they take the lock, so two workers can
 * arrive out of order: the one with the earlier time second.  That time is
 * before the window's start and belongs to the same window, not a new one
 * (an unsigned difference would wrap and open one, letting a third line of
 * a burst of 2 through).
 */
TEST(earlier_time_than_window_start_is_same_window)
{
	struct atlsd_ratelimit rl;
	unsigned long sup;

	atlsd_ratelimit_init(&rl, 600 * SEC, 2);
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 0, 10 * SEC + 1, &sup));
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 0, 10 * SEC, &sup));
	EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 0, 10 * SEC - 5, &sup));
	EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 0, 11 * SEC, &sup));
	EXPECT_FALSE(atlsd_ratelimit_allow(&rl, 0, 11 * SEC - 7, &sup));
	/* The window still ends 600 s after its start. */
	EXPECT_TRUE(atlsd_ratelimit_allow(&rl, 0, 610 * SEC + 1, &sup));
	EXPECT_EQ(3ul, sup);
}

TEST_HARNESS_MAIN
