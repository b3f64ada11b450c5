// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: the request lifecycle fails closed. Timeouts (pending and
 * accepted), helper failure statuses, helper death mid-request, pending
 * requests surviving a helper restart, the application closing before
 * ACCEPT (ended by the close itself, also when racing ACCEPT) and after it,
 * refused keys, late DONE, non-blocking start with poll, a blocking start
 * interrupted by a signal, and the peer resetting the TCP connection while
 * a request is pending (it fails at once) or accepted (left to the helper;
 * POLLERR never comes before ATLS_STATUS says FAILED; SO_ERROR then gives the
 * helper's errno, not the reset's; a poller asleep since the reset wakes
 * at the failure). Every failure must abort the TCP
 * connection (the peer sees a reset) and stay sticky on the socket.
 */
#include <errno.h>
#include <linux/net_tstamp.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "harness.h"
#include "net.h"
#include "record.h"
#include "sock.h"
#include "util.h"

static void idle_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	(void)h; (void)out; (void)arg;
	tl_wait_go(ctl, 60000);
}

/*
 * Accept one, send arg's bytes (a string, if any) through the socket as a
 * handshake would, report, then wait for go and DONE (result reported).
 */
static void accept_hold_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	const char *bytes = arg;
	struct tl_req r;
	int err;

	err = tl_helper_accept_wait(h, &r, 20000);
	if (!err && bytes && send(r.fd, bytes, strlen(bytes), 0) != (ssize_t)strlen(bytes))
		err = -errno;
	tl_put_result(out, err);
	if (err || tl_wait_go(ctl, 60000))
		return;
	tl_put_result(out, tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128));
}

/* READY rings, ACCEPT, then the timeout's ABORT names our request. */
static void mcast_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	uint64_t id = 0;
	uint32_t val = 0;
	struct tl_req r;

	(void)ctl; (void)arg;
	tl_put_result(out, tl_wait_mcast(h, ATLS_CMD_READY, NULL, &val, 10000));
	tl_put_result(out, (int)val);
	tl_put_result(out, tl_helper_accept(h, &r));
	tl_put_result(out, tl_wait_mcast(h, ATLS_CMD_ABORT, &id, &val, 10000));
	tl_put_result(out, id == r.id ? 0 : -ESRCH);
	tl_put_result(out, (int)val);
}

/* DONE with TLS 1.2 keys: refused. */
static void bad_keys_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct tl_keys k;
	struct nl_msg *msg;
	struct tl_req r;
	int err;

	(void)ctl; (void)arg;
	err = tl_helper_accept_wait(h, &r, 20000);
	if (err) {
		tl_put_result(out, err);
		return;
	}
	tl_keys_fixed(&k, TLS_CIPHER_AES_GCM_128, 0);
	k.ci.g128.info.version = TLS_1_2_VERSION;
	msg = tl_msg(h, ATLS_CMD_DONE);
	nla_put_u64(msg, ATLS_A_REQ_ID, r.id);
	nla_put_u32(msg, ATLS_A_SOCKFD, r.fd);
	nla_put_s32(msg, ATLS_A_STATUS, 0);
	nla_put(msg, ATLS_A_CRYPTO_TX, k.len, &k.ci);
	nla_put(msg, ATLS_A_CRYPTO_RX, k.len, &k.ci);
	tl_put_result(out, tl_send(h, msg, NULL));
}

/* The socket failed with @err: sticky on every path, peer got a reset. */
static void expect_dead(struct __test_metadata *_metadata, int app, int wire,
			int err, uint32_t reason)
{
	struct atls_status st;
	char buf[16];

	ASSERT_EQ(0, tl_status(app, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(err, st.error);
	EXPECT_EQ(reason, st.reason);
	EXPECT_EQ(-1, send(app, "x", 1, MSG_DONTWAIT));
	EXPECT_EQ(err, errno);
	EXPECT_EQ(-1, recv(app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(err, errno);
	EXPECT_EQ(-1, send(app, "x", 1, MSG_DONTWAIT));
	EXPECT_EQ(err, errno);
	{
		struct pollfd p = { .fd = app, .events = POLLIN | POLLOUT };

		EXPECT_EQ(1, poll(&p, 1, 10000));
		EXPECT_TRUE(p.revents & POLLERR);
	}
	/* The raw peer never saw a byte, then a reset. */
	EXPECT_EQ(-ECONNRESET, tl_read_full(wire, buf, 1, 10000));
}

FIXTURE(life) {
	int app, wire;
	struct tl_child helper;
	bool have_helper;
};

FIXTURE_SETUP(life)
{
	self->have_helper = false;
}

FIXTURE_TEARDOWN(life)
{
	if (self->have_helper) {
		kill(self->helper.pid, SIGKILL);
		tl_helper_reap(&self->helper);
	}
	close(self->app);
	close(self->wire);
	EXPECT_EQ(0, tl_wait_idle(30000));
}

static void setup_pair(struct __test_metadata *_metadata,
		       FIXTURE_DATA(life) *self, tl_helper_fn fn, void *arg)
{
	if (fn) {
		ASSERT_EQ(0, tl_fork_helper(&self->helper, fn, arg));
		self->have_helper = true;
	}
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->app, &self->wire));
	ASSERT_EQ(0, tl_ulp(self->app));
}

/* setup_pair(), then an ATLS_START (client, timeout_ms) left pending. */
static void start_pending(struct __test_metadata *_metadata, FIXTURE_DATA(life) *self,
			  tl_helper_fn fn, void *arg, uint32_t timeout_ms)
{
	setup_pair(_metadata, self, fn, arg);
	EXPECT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, timeout_ms,
					 ATLS_START_F_NONBLOCK));
}

/*
 * The application has closed its last descriptor of a pending request: one
 * more abandoned (before: the count until then), nothing live, the peer
 * reset, and the helper's ACCEPT, on go, finds nothing.
 */
static void expect_abandoned(struct __test_metadata *_metadata, FIXTURE_DATA(life) *self,
			     long before)
{
	char buf[16];

	EXPECT_EQ(before + 1, tl_proc_stat("abandoned"));
	EXPECT_EQ(0, tl_proc_stat("live_requests"));
	EXPECT_EQ(-ECONNRESET, tl_read_full(self->wire, buf, 1, 10000));
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, -EAGAIN);
}

TEST_F(life, timeout_while_pending)
{
	long before = tl_proc_stat("timeouts");

	setup_pair(_metadata, self, idle_fn, NULL);
	EXPECT_EQ(-ETIMEDOUT, tl_start(self->app, ATLS_ROLE_CLIENT, 300, 0));
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	EXPECT_EQ(before + 1, tl_proc_stat("timeouts"));
}

TEST_F(life, timeout_while_accepted_then_late_done)
{
	setup_pair(_metadata, self, accept_hold_fn, NULL);
	/*
	 * The helper must ACCEPT before the timer fires for this to test a
	 * timeout while accepted: it polls every few ms, but the VM may not
	 * run it for a while, so the timeout leaves it seconds (the test
	 * waits them out).
	 */
	EXPECT_EQ(-ETIMEDOUT, tl_start(self->app, ATLS_ROLE_CLIENT, 3000, 0));
	TL_EXPECT_RESULT(&self->helper, 5000, 0);
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, -ESTALE);
}

TEST_F(life, ready_and_abort_multicast)
{
	long before = tl_proc_stat("aborts_sent");
	int v;

	setup_pair(_metadata, self, mcast_fn, NULL);
	/* The helper's one ACCEPT must beat the timer (then ABORT names the
	 * request): seconds, as in timeout_while_accepted_then_late_done. */
	EXPECT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, 3000,
					 ATLS_START_F_NONBLOCK));
	TL_EXPECT_RESULT(&self->helper, 10000, 0);		/* READY seen */
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 10000));
	EXPECT_GE(v, 1);		/* ATLS_A_PENDING */
	TL_EXPECT_RESULT(&self->helper, 5000, 0);		/* ACCEPT */
	TL_EXPECT_RESULT(&self->helper, 10000, 0);		/* ABORT seen */
	TL_EXPECT_RESULT(&self->helper, 10000, 0);		/* for our request */
	TL_EXPECT_RESULT(&self->helper, 10000, ATLS_REASON_TIMEOUT);
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	EXPECT_EQ(before + 1, tl_proc_stat("aborts_sent"));
}

TEST_F(life, helper_rejects)
{
	struct tl_serve s = { .n = 1, .status = -EACCES, .reason = ATLS_REASON_PCR_MISMATCH };
	struct atls_peer_info pi;
	socklen_t len = sizeof(pi);

	setup_pair(_metadata, self, tl_serve_fn, &s);
	EXPECT_EQ(-EACCES, tl_start(self->app, ATLS_ROLE_CLIENT, 30000, 0));
	TL_EXPECT_RESULT(&self->helper, 5000, 0);
	expect_dead(_metadata, self->app, self->wire, EACCES, ATLS_REASON_PCR_MISMATCH);
	EXPECT_EQ(0, getsockopt(self->app, SOL_ATLS, ATLS_PEER_INFO, &pi, &len));
}

TEST_F(life, helper_status_outside_vocabulary)
{
	struct tl_serve s = { .n = 1, .status = -ENOMEM, .reason = ATLS_REASON_HELPER_ERROR };
	int v;

	setup_pair(_metadata, self, tl_serve_fn, &s);
	EXPECT_EQ(-EPROTO, tl_start(self->app, ATLS_ROLE_SERVER, 30000, 0));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	expect_dead(_metadata, self->app, self->wire, EPROTO, ATLS_REASON_HELPER_ERROR);
}

TEST_F(life, helper_killed_mid_request)
{
	long before = tl_proc_stat("helper_died");
	int v;

	start_pending(_metadata, self, accept_hold_fn, NULL, 30000);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	kill(self->helper.pid, SIGKILL);
	tl_helper_reap(&self->helper);
	self->have_helper = false;
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_FAILED, 10000));
	expect_dead(_metadata, self->app, self->wire, ECONNABORTED, ATLS_REASON_HELPER_DIED);
	EXPECT_EQ(before + 1, tl_proc_stat("helper_died"));
}

TEST_F(life, pending_survives_helper_restart)
{
	struct tl_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_128 };
	struct tl_child second;

	start_pending(_metadata, self, idle_fn, NULL, 30000);
	kill(self->helper.pid, SIGKILL);
	tl_helper_reap(&self->helper);
	self->have_helper = false;
	usleep(100000);
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_PENDING, 100));
	ASSERT_EQ(0, tl_fork_helper(&second, tl_serve_fn, &s));
	TL_EXPECT_RESULT(&second, 10000, 0);
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 10000));
	tl_helper_reap(&second);
}

/*
 * The slab counts of app_closes_before_accept are exact with or without the
 * VM's memory-error detection (tools/vm/memdbg.sh): tl_slab_in_use() shrinks
 * the cache first, so /proc/slabinfo's active count is not rounded up to
 * whole per-CPU slabs, and adds the objects KFENCE serves for the cache from
 * its own pool. With KFENCE sampling (6.12 and later, ATLS_MEMDBG=1) the first
 * allocation after each sample interval is such an object, in no slab: when
 * it was this test's atls_sock or one of its TCP sockets, slabinfo alone read
 * one object short (0 atls_sock while the socket was open). Slab merging
 * plays no part: neither cache is ever merged (atls_sock has a usercopy
 * region, TCP is SLAB_TYPESAFE_BY_RCU), so slabinfo names both, with or
 * without slub_debug, and the shrink flushes per-CPU slabs either way.
 */
/* Counters that app_closes_before_accept checks, read at one instant. */
struct close_stats {
	long abandoned, failed, app_closed, timeouts, active, live, requests;
};

static void close_stats(struct close_stats *c)
{
	char reason[32];

	snprintf(reason, sizeof(reason), "reason_%d", ATLS_REASON_APP_CLOSED);
	c->abandoned = tl_proc_stat("abandoned");
	c->failed = tl_proc_stat("failed");
	c->app_closed = tl_proc_stat(reason);
	c->timeouts = tl_proc_stat("timeouts");
	c->active = tl_proc_stat("active_sockets");
	c->live = tl_proc_stat("live_requests");
	c->requests = tl_proc_stat("requests");
}

/*
 * The app closes a socket whose request no helper has taken yet: the close
 * itself ends the request (the pending request holds the sk, not the file).
 * Once close() has returned: the request is gone and counted as abandoned
 * (APP_CLOSED), the atls socket is freed, the peer has a reset and not a
 * byte, the request's timer never fires, and a helper's ACCEPT finds
 * nothing. The atls_sock and TCP slabs return to their baseline.
 */
/* The request's timeout there: the close must end the request well before
 * it, and the test then waits past it to see the timer never fires. */
#define CLOSE_TEST_TIMEOUT_MS 3000

TEST_F(life, app_closes_before_accept)
{
	long base_atls, base_tcp, t_start, t0, elapsed, end;
	struct close_stats b, a;
	char buf[16];

	/* Baseline: earlier tests' socket states have left RCU. */
	ASSERT_EQ(0, tl_wait_idle(30000));
	end = tl_now_ms() + 10000;
	while (tl_slab_in_use("atls_sock") != tl_proc_stat("active_sockets") &&
	       tl_now_ms() < end)
		usleep(20000);
	base_atls = tl_slab_in_use("atls_sock");
	base_tcp = tl_slab_in_use("TCP");
	close_stats(&b);
	EXPECT_EQ(b.active, base_atls);
	setup_pair(_metadata, self, tl_accept_on_go_fn, NULL);
	EXPECT_EQ(b.active + 1, tl_proc_stat("active_sockets"));
	/* The slab counts see this test's sockets (app, wire). */
	EXPECT_EQ(base_atls + 1, tl_slab_in_use("atls_sock"));
	EXPECT_LT(base_tcp, tl_slab_in_use("TCP"));
	TH_LOG("in use with the socket open: atls_sock %ld, TCP %ld (of them KFENCE objects: %ld, %ld)",
	       tl_slab_in_use("atls_sock"), tl_slab_in_use("TCP"),
	       tl_kfence_in_use("atls_sock"), tl_kfence_in_use("TCP"));
	/* A short timeout: it must not fire after the close. */
	t_start = tl_now_ms();
	EXPECT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, CLOSE_TEST_TIMEOUT_MS,
					 ATLS_START_F_NONBLOCK));
	EXPECT_EQ(b.live + 1, tl_proc_stat("live_requests"));

	t0 = tl_now_ms();
	close(self->app);
	self->app = -1;
	close_stats(&a);	/* no wait: the close itself ended the request */
	elapsed = tl_now_ms() - t0;
	TH_LOG("close() to request gone: %ld ms", elapsed);
	EXPECT_EQ(b.live, a.live);
	EXPECT_EQ(b.abandoned + 1, a.abandoned);
	EXPECT_EQ(b.failed + 1, a.failed);
	EXPECT_EQ(b.app_closed + 1, a.app_closed);
	EXPECT_EQ(b.active, a.active);
	EXPECT_EQ(b.requests + 1, a.requests);
	/*
	 * The close, not the timer, ended it. (The counters above already
	 * say so; this bounds the close itself. Milliseconds normally; the
	 * bound is the request's timeout, not a tighter guess, because the
	 * VM can be descheduled on a loaded host at any instant.)
	 */
	EXPECT_LT(elapsed, CLOSE_TEST_TIMEOUT_MS);

	/* The peer: a reset and no byte (sent by the close itself). */
	EXPECT_EQ(-ECONNRESET, tl_read_full(self->wire, buf, 1, 10000));

	/* Past the request's timeout: its timer was cancelled. */
	while (tl_now_ms() < t_start + CLOSE_TEST_TIMEOUT_MS + 300)
		usleep(50000);
	EXPECT_EQ(a.timeouts, tl_proc_stat("timeouts"));
	EXPECT_EQ(a.abandoned, tl_proc_stat("abandoned"));

	/* A helper coming now finds nothing to accept. */
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, -EAGAIN);
	EXPECT_EQ(b.live, tl_proc_stat("live_requests"));

	/* Nothing left behind: socket state freed (after RCU), TCP sockets. */
	close(self->wire);
	self->wire = -1;
	end = tl_now_ms() + 10000;
	while ((tl_slab_in_use("atls_sock") > base_atls ||
		tl_slab_in_use("TCP") > base_tcp) && tl_now_ms() < end)
		usleep(20000);
	TH_LOG("slab in use: atls_sock %ld (baseline %ld), TCP %ld (baseline %ld)",
	       tl_slab_in_use("atls_sock"), base_atls, tl_slab_in_use("TCP"), base_tcp);
	EXPECT_LE(tl_slab_in_use("atls_sock"), base_atls);
	EXPECT_LE(tl_slab_in_use("TCP"), base_tcp);
}

/* Closing one of two descriptors of the socket is not closing the socket. */
TEST_F(life, app_closes_one_of_two_fds)
{
	long before = tl_proc_stat("abandoned");
	char buf[16];
	int dupfd;

	start_pending(_metadata, self, tl_accept_on_go_fn, NULL, 30000);
	dupfd = dup(self->app);
	ASSERT_LE(0, dupfd);
	close(self->app);
	self->app = dupfd;
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_PENDING, 100));
	EXPECT_EQ(before, tl_proc_stat("abandoned"));
	EXPECT_EQ(1, tl_proc_stat("live_requests"));
	EXPECT_EQ(-ETIMEDOUT, tl_read_full(self->wire, buf, 1, 200));

	close(self->app);	/* the last one */
	self->app = -1;
	expect_abandoned(_metadata, self, before);
}

/*
 * Accept everything until told to stop, completing each with keys at once;
 * then report how many were accepted.
 */
static void accept_all_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct tl_req r;
	int n = 0, err;

	(void)arg;
	for (;;) {
		err = tl_helper_accept(h, &r);
		if (!err) {
			n++;
			if (tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128))
				n = -100000;	/* reported as a failure */
			continue;
		}
		if (err != -EAGAIN) {
			tl_put_result(out, err);
			return;
		}
		if (!tl_wait_go(ctl, 1))
			break;
	}
	tl_put_result(out, n);
}

/*
 * The app's close races a helper's ACCEPT: each request is either taken by
 * the helper (and completed) or ended by the close, never both, never lost.
 * Whichever wins, the peer gets no byte: only a reset or an end of file.
 */
TEST_F(life, app_close_races_accept)
{
	const int n = 64;
	long abandoned = tl_proc_stat("abandoned"), ready = tl_proc_stat("ready");
	long requests = tl_proc_stat("requests");
	long active = tl_proc_stat("active_sockets");
	int i, app, wire, accepted, clean = 0;
	char buf[16];
	ssize_t r;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, accept_all_fn, NULL));
	self->have_helper = true;
	self->app = self->wire = -1;
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, tl_tcp_pair(i & 1 ? AF_INET6 : AF_INET, &app, &wire));
		ASSERT_EQ(0, tl_ulp(app));
		ASSERT_EQ(-EINPROGRESS, tl_start(app, ATLS_ROLE_CLIENT, 30000,
						 ATLS_START_F_NONBLOCK));
		if (i % 4)
			usleep((i * 250) % 4000);
		close(app);
		r = tl_read_full(wire, buf, 1, 5000);
		if (r == 0 || r == -ECONNRESET)
			clean++;
		else
			TH_LOG("round %d: peer read %zd", i, r);
		close(wire);
	}
	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &accepted, 10000));
	ASSERT_EQ(0, tl_wait_idle(30000));
	TH_LOG("%d closes: %d won by ACCEPT, %ld by the close", n, accepted,
	       tl_proc_stat("abandoned") - abandoned);
	EXPECT_EQ(n, clean);
	EXPECT_LE(0, accepted);
	EXPECT_EQ(requests + n, tl_proc_stat("requests"));
	EXPECT_EQ(abandoned + n - accepted, tl_proc_stat("abandoned"));
	EXPECT_EQ(ready + accepted, tl_proc_stat("ready"));
	EXPECT_EQ(active, tl_proc_stat("active_sockets"));
}

/*
 * The helper's fd table is full: ACCEPT fails with EMFILE and puts the
 * request back. On each go: free one fd if arg says so, ACCEPT, report, and
 * complete an accepted request with keys (DONE's result reported too).
 */
static void emfile_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct rlimit rl = { .rlim_cur = 64, .rlim_max = 64 };
	struct tl_req r;
	int fd, last = -1, err;

	(void)arg;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return;
	while ((fd = open("/dev/null", O_RDONLY)) >= 0)
		last = fd;
	if (tl_wait_go(ctl, 60000))
		return;
	tl_put_result(out, tl_helper_accept(h, &r));
	if (tl_wait_go(ctl, 60000))
		return;
	close(last);
	err = tl_helper_accept(h, &r);
	tl_put_result(out, err);
	if (!err)
		tl_put_result(out, tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128));
}

/* ACCEPT without a free fd requeues the request; a later ACCEPT takes it. */
TEST_F(life, accept_emfile_requeues)
{
	long active = tl_proc_stat("active_sockets");

	start_pending(_metadata, self, emfile_fn, NULL, 30000);
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, -EMFILE);
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_PENDING, 100));
	EXPECT_EQ(1, tl_proc_stat("live_requests"));
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, 0);		/* ACCEPT */
	TL_EXPECT_RESULT(&self->helper, 5000, 0);		/* DONE */
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 2000));
	close(self->app);		/* the socket really closes */
	self->app = -1;
	EXPECT_EQ(active, tl_proc_stat("active_sockets"));
}

/* After a requeue the request holds no file again: the app's close ends it. */
TEST_F(life, accept_emfile_then_app_closes)
{
	long before = tl_proc_stat("abandoned");

	start_pending(_metadata, self, emfile_fn, NULL, 30000);
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, -EMFILE);
	close(self->app);
	self->app = -1;
	expect_abandoned(_metadata, self, before);
}

TEST_F(life, app_closes_after_accept)
{
	int v;

	start_pending(_metadata, self, accept_hold_fn, NULL, 30000);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	close(self->app);
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, 0);	/* keys go to a socket nobody reads; then closed */
	self->app = socket(AF_INET, SOCK_STREAM, 0);
}

TEST_F(life, refused_keys)
{
	long before = tl_proc_stat("done_rejected");

	setup_pair(_metadata, self, bad_keys_fn, NULL);
	EXPECT_EQ(-EPROTO, tl_start(self->app, ATLS_ROLE_CLIENT, 30000, 0));
	TL_EXPECT_RESULT(&self->helper, 5000, -EINVAL);
	expect_dead(_metadata, self->app, self->wire, EPROTO, ATLS_REASON_BAD_KEYS);
	EXPECT_EQ(before + 1, tl_proc_stat("done_rejected"));
}

TEST_F(life, nonblocking_start_and_poll)
{
	int v;

	start_pending(_metadata, self, accept_hold_fn, NULL, 30000);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 1000));
	{
		struct pollfd p = { .fd = self->app, .events = POLLIN | POLLOUT };

		EXPECT_EQ(0, poll(&p, 1, 100));
	}
	tl_helper_go(&self->helper);
	{
		struct pollfd p = { .fd = self->app, .events = POLLOUT };

		EXPECT_EQ(1, poll(&p, 1, 30000));	/* woken by completion */
		EXPECT_EQ(POLLOUT, p.revents);
	}
	TL_EXPECT_RESULT(&self->helper, 5000, 0);
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 100));
}

TEST_F(life, nonblocking_failure_reports_pollerr)
{
	start_pending(_metadata, self, idle_fn, NULL, 300);
	{
		struct pollfd p = { .fd = self->app, .events = POLLOUT };

		EXPECT_EQ(1, poll(&p, 1, 30000));
		EXPECT_TRUE(p.revents & POLLERR);
	}
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(life, blocking_start_interrupted)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	/*
	 * SIGALRM after 200 ms and then every 100 ms until the start returns:
	 * one signal is enough, but a single one can land before the start
	 * has gone to sleep if the VM stalls for the 200 ms (it then
	 * interrupts nothing and the start would wait for its timeout).
	 */
	struct itimerval it = { .it_interval = { .tv_usec = 100000 },
				.it_value = { .tv_usec = 200000 } };
	struct itimerval off = { 0 };
	int v, err;

	setup_pair(_metadata, self, accept_hold_fn, NULL);
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART */
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	err = tl_start(self->app, ATLS_ROLE_CLIENT, 30000, 0);
	setitimer(ITIMER_REAL, &off, NULL);
	EXPECT_EQ(-EINTR, err);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 5000, 0);
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 2000));
}

/* The raw peer aborts the connection: TCP sends a RST. */
static void reset_wire(FIXTURE_DATA(life) *self)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(self->wire, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(self->wire);
	self->wire = -1;
}

/*
 * After a reset under a request that has a minute left: POLLERR within
 * seconds, and at that moment already FAILED with ECONNRESET/PEER_ABORTED;
 * the socket then fails every call with ECONNRESET.
 */
static void expect_reset_failure(struct __test_metadata *_metadata,
				 FIXTURE_DATA(life) *self)
{
	struct pollfd p = { .fd = self->app, .events = POLLIN | POLLOUT };
	struct atls_status st;
	char buf[8];

	ASSERT_EQ(1, poll(&p, 1, 20000)) TH_LOG("no POLLERR after the peer's reset");
	EXPECT_TRUE(p.revents & POLLERR);
	ASSERT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ECONNRESET, st.error);
	EXPECT_EQ(ATLS_REASON_PEER_ABORTED, st.reason);
	EXPECT_EQ(-1, send(self->app, "x", 1, MSG_DONTWAIT));
	EXPECT_EQ(ECONNRESET, errno);
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(ECONNRESET, errno);
}

TEST_F(life, peer_reset_while_pending)
{
	long before = tl_proc_stat("reason_8");

	start_pending(_metadata, self, idle_fn, NULL, 60000);	/* listens, never accepts */
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_PENDING, 5000));
	reset_wire(self);
	expect_reset_failure(_metadata, self);
	EXPECT_EQ(before + 1, tl_proc_stat("reason_8"));
}

/*
 * A reset under an ACCEPTED request is the helper's to report (it sees the
 * reset on its own socket and knows the real reason): the request stays
 * ACCEPTED, poll says nothing meanwhile, and the helper's failure DONE
 * ends it with its reason.
 */
TEST_F(life, peer_reset_while_accepted_left_to_helper)
{
	struct tl_serve sv = { .n = 1, .status = -ECONNRESET,
			       .reason = ATLS_REASON_PEER_ABORTED, .hold = 1 };
	struct pollfd p = { .events = POLLIN | POLLOUT };
	int v;

	start_pending(_metadata, self, tl_serve_fn, &sv, 60000);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 20000));
	reset_wire(self);
	p.fd = self->app;
	EXPECT_EQ(0, poll(&p, 1, 1000)) TH_LOG("revents %#x while accepted", p.revents);
	EXPECT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 100));
	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	expect_reset_failure(_metadata, self);
}

/* TCP has closed the connection (the peer's reset was processed): 0 or -1. */
static int wait_tcp_closed(int fd, int ms)
{
	long end = tl_now_ms() + ms;
	struct tcp_info ti;
	socklen_t l;

	do {
		l = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l))
			return -1;
		if (ti.tcpi_state == TCP_CLOSE)
			return 0;
		usleep(10 * 1000);
	} while (tl_now_ms() < end);
	return -1;
}

/*
 * The peer gave up first (it rejected us, or we rejected it and its reset
 * came before our helper's verdict): the helper's failure, not the reset,
 * is what SO_ERROR says, as after a failed connect(). Non-blocking clients
 * (curl under atls-run) read SO_ERROR after POLLERR. Kernels with "tcp:
 * Avoid closing the same socket twice" (6.12.y, 6.13+) leave the reset's
 * ECONNRESET in sk_err unless atls.ko sets it.
 */
TEST_F(life, so_error_is_helper_failure_after_peer_reset)
{
	struct tl_serve sv = { .n = 1, .status = -EACCES,
			       .reason = ATLS_REASON_PCR_MISMATCH, .hold = 1 };
	struct pollfd p = { .events = POLLOUT };
	struct atls_status st;
	socklen_t l = sizeof(int);
	int v, soerr = -1;

	start_pending(_metadata, self, tl_serve_fn, &sv, 60000);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 20000));
	reset_wire(self);
	ASSERT_EQ(0, wait_tcp_closed(self->app, 20000)) TH_LOG("the reset never closed TCP");
	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	p.fd = self->app;
	ASSERT_EQ(1, poll(&p, 1, 20000)) TH_LOG("no POLLERR after the helper's failure");
	EXPECT_TRUE(p.revents & POLLERR);
	ASSERT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(EACCES, st.error);
	EXPECT_EQ(ATLS_REASON_PCR_MISMATCH, st.reason);
	ASSERT_EQ(0, getsockopt(self->app, SOL_SOCKET, SO_ERROR, &soerr, &l));
	EXPECT_EQ(EACCES, soerr) TH_LOG("SO_ERROR: %s", strerror(soerr));
	EXPECT_EQ(-1, send(self->app, "x", 1, MSG_DONTWAIT));
	EXPECT_EQ(EACCES, errno);
}

struct poller {
	int fd;
	int ret;
	short revents;
	long ms;		/* how long poll() took */
};

static void *poll_thread(void *arg)
{
	struct poller *pl = arg;
	struct pollfd p = { .fd = pl->fd, .events = POLLIN | POLLOUT };
	long t0 = tl_now_ms();

	pl->ret = poll(&p, 1, 20000);
	pl->revents = p.revents;
	pl->ms = tl_now_ms() - t0;
	return NULL;
}

/*
 * A poller asleep on the socket when the request fails on a connection
 * that TCP has already closed wakes with POLLERR at the failure, not at its
 * poll timeout. Here the peer resets under an ACCEPTED request: TCP wakes
 * the poller at the reset, the gate still says nothing (the request is the
 * helper's), the poller sleeps again, and then the helper's failure DONE
 * ends the request. tcp_abort() cannot be the one to wake it: on a closed
 * socket it returns early on kernels with "tcp: Avoid closing the same
 * socket twice" (6.12.y, 6.13+).
 */
TEST_F(life, failure_on_closed_tcp_wakes_poller)
{
	struct tl_serve sv = { .n = 1, .status = -ECONNRESET,
			       .reason = ATLS_REASON_PEER_ABORTED, .hold = 1 };
	struct poller pl = { .ret = -2 };
	pthread_t th;
	int v;

	start_pending(_metadata, self, tl_serve_fn, &sv, 60000);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 20000));
	pl.fd = self->app;
	ASSERT_EQ(0, pthread_create(&th, NULL, poll_thread, &pl));
	usleep(100 * 1000);		/* the poller asleep */
	reset_wire(self);
	ASSERT_EQ(0, wait_tcp_closed(self->app, 20000)) TH_LOG("the reset never closed TCP");
	usleep(100 * 1000);		/* woken by TCP, asleep again */
	EXPECT_EQ(-2, pl.ret) TH_LOG("poll returned %d (revents %#x) while accepted",
				     pl.ret, pl.revents);
	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	pthread_join(th, NULL);
	EXPECT_EQ(1, pl.ret);
	EXPECT_TRUE(pl.revents & POLLERR);
	EXPECT_GT(5000, pl.ms) TH_LOG("poll woke after %ld ms of its 20000", pl.ms);
	expect_reset_failure(_metadata, self);
}

struct resetter {
	FIXTURE_DATA(life) *self;
	int err;
};

static void *reset_when_pending(void *arg)
{
	struct resetter *r = arg;

	r->err = tl_wait_state(r->self->app, ATLS_STATE_PENDING, 20000);
	reset_wire(r->self);
	return NULL;
}

/*
 * Not every error report is a dead connection: with TX timestamps on, the
 * helper's handshake bytes queue a timestamp on the error queue (an error
 * report, and POLLERR from TCP). The request must go on and complete, and
 * poll must not say POLLERR meanwhile (that means "failed" while a request
 * is in flight). The timestamp is readable once the socket is ready.
 */
TEST_F(life, error_queue_report_is_not_a_reset)
{
	int flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
		    SOF_TIMESTAMPING_OPT_TSONLY;
	struct pollfd p = { .events = 0 };
	unsigned char cbuf[256];
	struct msghdr m = { .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	char buf[4];
	ssize_t n;
	int v;

	setup_pair(_metadata, self, accept_hold_fn, "hs");
	ASSERT_EQ(0, setsockopt(self->app, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags)));
	EXPECT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, 60000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(2, tl_read_full(self->wire, buf, 2, 10000));
	p.fd = self->app;
	EXPECT_EQ(0, poll(&p, 1, 500)) TH_LOG("revents %#x while accepted", p.revents);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 1000));
	tl_helper_go(&self->helper);
	TL_EXPECT_RESULT(&self->helper, 10000, 0);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 5000));
	/* The report did happen while accepted: its timestamp is queued. */
	n = recvmsg(self->app, &m, MSG_ERRQUEUE | MSG_DONTWAIT);
	ASSERT_LE(0, n) TH_LOG("no TX timestamp was queued: %s", strerror(errno));
	EXPECT_NE(NULL, CMSG_FIRSTHDR(&m));
}

/* A blocking ATLS_START returns ECONNRESET at the reset, not at its timeout. */
TEST_F(life, blocking_start_returns_on_peer_reset)
{
	struct resetter r = { .self = self };
	pthread_t th;
	long t0;
	int err;

	setup_pair(_metadata, self, idle_fn, NULL);
	ASSERT_EQ(0, pthread_create(&th, NULL, reset_when_pending, &r));
	t0 = tl_now_ms();
	err = tl_start(self->app, ATLS_ROLE_CLIENT, 120000, 0);
	pthread_join(th, NULL);
	ASSERT_EQ(0, r.err);
	EXPECT_EQ(-ECONNRESET, err);
	EXPECT_GT(60000, tl_now_ms() - t0) TH_LOG("start waited like its timeout");
	expect_reset_failure(_metadata, self);
}

TEST_HARNESS_MAIN
