// SPDX-License-Identifier: GPL-2.0
/*
 * Peers that never answer do not starve atlsd (VM_TESTS, every kernel):
 * the step deadline of Documentation/atlsd.8.rst ("LIMITS").
 *
 *  stalled_peers_then_legitimate
 *      atlsd with workers-max = 64 and step-timeout-ms = 10000 (longer
 *      than starting the 64 takes, so all of them hold a worker at once).  64 atls
 *      clients (timeout 100 s each) connect to a TCP server that accepts
 *      nothing and answers nothing: their requests hold all 64 workers.
 *      Then one legitimate loopback connection (two more requests) starts.
 *      Each stalled request ends after the step deadline with ETIMEDOUT,
 *      reason TIMEOUT, which frees the workers, and the legitimate
 *      connection is ready on both ends within BOUND_S of its start.
 *      The bound: 10 s of step deadline, plus 64 failed handshakes and one
 *      good one under emulation (a few seconds here), with a wide margin;
 *      without the step deadline the workers stay taken for the stalled
 *      requests' 100 s and the check fails.
 *
 *  one_address_flood_leaves_others_served
 *      atlsd with workers-max = 64, workers-per-peer = 8 and a step
 *      deadline (60 s) longer than the test.  70 TCP connections from
 *      127.0.0.2 that never send a byte become atls server requests: 8 are
 *      taken and wait for a ClientHello, the other 62 are refused at once
 *      with ECONNABORTED, reason PEER_LIMIT, and counted (peer_limited).
 *      A connection from 127.0.0.3 is then ready on both ends within
 *      BOUND_S while the 8 still wait.  Without the share the 70 would
 *      hold all 64 workers for the step deadline and the legitimate
 *      connection would wait for it.
 *
 * Software key mode: no TPM command per handshake, so what is measured is
 * the pool, not the TPM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "net.h"
#include "sock.h"
#include "util.h"
#include "vm.h"

#define NSTALL 64
#define STEP_MS 10000
#define BOUND_S 40
#define NFLOOD 70
#define SHARE 8

FIXTURE(starve) {};
FIXTURE_SETUP(starve) {}
FIXTURE_TEARDOWN(starve) {}

static void use_conf(const char *name, const char *text)
{
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/%s", tl_vm.dir, name);
	tl_sh("printf '%%s\\n' %s > %s", text, tl_vm.conf);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* A loopback connection from src (NULL: any), ready on both ends in BOUND_S. */
static void legitimate(struct __test_metadata *_metadata, int port, const char *src,
		       const char *what)
{
	struct tl_conn k = { .port = port, .policy = "unauthenticated", .src = src };
	double t0 = now_s(), took;

	ASSERT_EQ(0, tl_conn_run(&k));
	took = now_s() - t0;
	EXPECT_EQ(0, k.err_c) TH_LOG("client: %s", strerror(k.err_c));
	EXPECT_EQ(0, k.err_s) TH_LOG("server: %s", strerror(k.err_s));
	EXPECT_GT(BOUND_S, took) TH_LOG("legitimate connection ready after %.1f s", took);
	TH_LOG("legitimate connection %s: ready after %.1f s", what, took);
}

TEST_F_TIMEOUT(starve, stalled_peers_then_legitimate, 400)
{
	int mute, fd[NSTALL], i, n;
	struct atls_status st;
	char conf[200];

	snprintf(conf, sizeof(conf), "'key-mode = \"software\";' 'workers-max = %d;' "
		 "'step-timeout-ms = %d;'", NSTALL, STEP_MS);
	use_conf("stall.conf", conf);
	ASSERT_EQ(0, tl_atlsd_start());
	mute = tl_listen_any(7801);	/* accepts in the kernel, never reads */
	ASSERT_LE(0, mute);
	for (i = 0; i < NSTALL; i++) {
		fd[i] = tl_connect_to("127.0.0.1", 7801, 10000);
		ASSERT_LE(0, fd[i]);
		ASSERT_EQ(EINPROGRESS, tl_atls(fd[i], ATLS_ROLE_CLIENT, "unauthenticated",
					       ATLS_START_F_NONBLOCK));
	}
	/* Every worker the pool may have is on a stalled request. */
	for (i = 0; i < 600 && tl_atlsd_counter("active") < NSTALL; i++)
		usleep(100 * 1000);
	ASSERT_EQ(NSTALL, tl_atlsd_counter("active"));
	ASSERT_EQ(NSTALL, tl_atlsd_counter("workers"));

	legitimate(_metadata, 7802, NULL, "behind 64 stalled peers");

	/* The stalled ones: dropped by the step deadline, not their 100 s. */
	for (i = 0, n = 0; i < NSTALL; i++) {
		if (!tl_wait_state(fd[i], ATLS_STATE_FAILED, 60000) && !tl_status(fd[i], &st) &&
		    st.error == ETIMEDOUT && st.reason == ATLS_REASON_TIMEOUT)
			n++;
		close(fd[i]);
	}
	EXPECT_EQ(NSTALL, n);
	close(mute);
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

TEST_F_TIMEOUT(starve, one_address_flood_leaves_others_served, 400)
{
	int l, raw[NFLOOD], srv[NFLOOD], i, refused = 0, waiting = 0;
	struct atls_status st;
	char conf[200];

	snprintf(conf, sizeof(conf), "'key-mode = \"software\";' 'workers-max = 64;' "
		 "'workers-per-peer = %d;' 'step-timeout-ms = 60000;'", SHARE);
	use_conf("share.conf", conf);
	ASSERT_EQ(0, tl_atlsd_start());
	EXPECT_EQ(0, tl_atlsd_counter("peer_limited"));
	l = tl_listen_any(7803);
	ASSERT_LE(0, l);
	for (i = 0; i < NFLOOD; i++) {
		raw[i] = tl_connect_from("127.0.0.2", "127.0.0.1", 7803, 10000); /* silent */
		ASSERT_LE(0, raw[i]);
		srv[i] = tl_accept(l, 10000);
		ASSERT_LE(0, srv[i]);
		ASSERT_EQ(EINPROGRESS, tl_atls(srv[i], ATLS_ROLE_SERVER, "unauthenticated",
					       ATLS_START_F_NONBLOCK));
	}
	/* All but the share refused, as atlsd takes them. */
	for (i = 0; i < 600 && tl_atlsd_counter("peer_limited") < NFLOOD - SHARE; i++)
		usleep(100 * 1000);
	EXPECT_EQ(NFLOOD - SHARE, tl_atlsd_counter("peer_limited"));

	legitimate(_metadata, 7804, "127.0.0.3", "from 127.0.0.3 beside the flood");

	for (i = 0; i < NFLOOD; i++) {
		ASSERT_EQ(0, tl_status(srv[i], &st));
		if (st.state == ATLS_STATE_FAILED && st.error == ECONNABORTED &&
		    st.reason == ATLS_REASON_PEER_LIMIT)
			refused++;
		else if (st.state != ATLS_STATE_FAILED && st.state != ATLS_STATE_READY)
			waiting++;
	}
	EXPECT_EQ(NFLOOD - SHARE, refused);
	EXPECT_EQ(SHARE, waiting);
	EXPECT_EQ(0, tl_sh("grep -q 'refused: remote address ::ffff:127.0.0.2 already has 8 of "
			   "its 8 server requests' %s", tl_vm.log)) TH_LOG("log %s", tl_vm.log);
	for (i = 0; i < NFLOOD; i++) {
		close(srv[i]);
		close(raw[i]);
	}
	close(l);
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

static int setup(void)
{
	const char *d = tl_vm.dir;

	if (tl_vm_local_env("e2e-starve", "starve"))
		return -1;
	setenv("ATLS_STATE_DIR", tl_path(d, "state"), 1);
	return tl_sh("%s/helperd/atlsctl provision --software >&2", tl_vm.build) ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (tl_vm_local_begin("starve", setup))
		return 1;
	return test_harness_run(argc, argv);
}
