// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko under load: 200 sockets opt in at once (non-blocking), one helper
 * completes them all, each then carries encrypted data end to end (both ends
 * are atls sockets with mirrored keys), and the counters return to their
 * baseline once everything is closed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "net.h"
#include "sock.h"

#define NPAIRS 100	/* 200 atls sockets: both ends of each pair */

TEST(two_hundred_sockets)
{
	struct tl_serve s = { .n = 2 * NPAIRS, .cipher = TLS_CIPHER_AES_GCM_128 };
	struct rlimit rl = { 4096, 4096 };
	static int cli[NPAIRS], srv[NPAIRS];
	long active0 = tl_proc_stat("active_sockets");
	long ready0 = tl_proc_stat("ready");
	struct tl_child c;
	char buf[32];
	int i, v, ok = 0;

	struct timespec t0, t1;

	setrlimit(RLIMIT_NOFILE, &rl);
	ASSERT_EQ(0, tl_fork_helper(&c, tl_serve_fn, &s));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < NPAIRS; i++) {
		ASSERT_EQ(0, tl_tcp_pair(i % 2 ? AF_INET6 : AF_INET, &cli[i], &srv[i]));
		ASSERT_EQ(0, tl_ulp(cli[i]));
		ASSERT_EQ(0, tl_ulp(srv[i]));
		ASSERT_EQ(-EINPROGRESS, tl_start(cli[i], ATLS_ROLE_CLIENT, 60000,
						 ATLS_START_F_NONBLOCK));
		ASSERT_EQ(-EINPROGRESS, tl_start(srv[i], ATLS_ROLE_SERVER, 60000,
						 ATLS_START_F_NONBLOCK));
	}
	EXPECT_EQ(active0 + 2 * NPAIRS, tl_proc_stat("active_sockets"));
	for (i = 0; i < 2 * NPAIRS; i++) {
		ASSERT_EQ(0, tl_helper_result(&c, &v, 60000)) TH_LOG("result %d", i);
		if (!v)
			ok++;
	}
	EXPECT_EQ(2 * NPAIRS, ok);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("%d sockets: start + ACCEPT + DONE (keys installed) in %ld ms",
	       2 * NPAIRS, (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	for (i = 0; i < NPAIRS; i++) {
		ASSERT_EQ(0, tl_wait_state(cli[i], ATLS_STATE_READY, 5000));
		ASSERT_EQ(0, tl_wait_state(srv[i], ATLS_STATE_READY, 5000));
		ASSERT_EQ(8, send(cli[i], "ping-123", 8, 0));
		ASSERT_EQ(8, tl_read_full(srv[i], buf, 8, 5000));
		EXPECT_EQ(0, memcmp(buf, "ping-123", 8));
		ASSERT_EQ(4, send(srv[i], "pong", 4, 0));
		ASSERT_EQ(4, tl_read_full(cli[i], buf, 4, 5000));
		EXPECT_EQ(0, memcmp(buf, "pong", 4));
	}
	EXPECT_EQ(ready0 + 2 * NPAIRS, tl_proc_stat("ready"));
	for (i = 0; i < NPAIRS; i++) {
		close(cli[i]);
		close(srv[i]);
	}
	tl_helper_reap(&c);
	EXPECT_EQ(0, tl_wait_idle(30000));
	/* Closed sockets are destroyed as TCP finishes with them: moments,
	 * but give a stalled VM seconds. */
	for (i = 0; i < 500 && tl_proc_stat("active_sockets") != active0; i++)
		usleep(20000);
	EXPECT_EQ(active0, tl_proc_stat("active_sockets"));
}

TEST_HARNESS_MAIN
