// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: the request lifecycle fails closed. Timeouts (pending and
 * accepted), helper failure statuses, helper death mid-request, pending
 * requests surviving a helper restart, the application closing before and
 * after ACCEPT, refused keys, late DONE, non-blocking start with poll, and a
 * blocking start interrupted by a signal. Every failure must abort the TCP
 * connection (the peer sees a reset) and stay sticky on the socket.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kutil.h"

static void idle_fn(struct ku_helper *h, int out, int ctl, void *arg)
{
	(void)h; (void)out; (void)arg;
	ku_wait_go(ctl, 60000);
}

/* Accept one, report, then wait for go and DONE (result reported). */
static void accept_hold_fn(struct ku_helper *h, int out, int ctl, void *arg)
{
	struct ku_req r;
	int err;

	(void)arg;
	err = ku_accept_wait(h, &r, 20000);
	ku_put_result(out, err);
	if (err || ku_wait_go(ctl, 60000))
		return;
	ku_put_result(out, ku_done_keys(h, &r, TLS_CIPHER_AES_GCM_128));
}

/* READY rings, ACCEPT, then the timeout's ABORT names our request. */
static void mcast_fn(struct ku_helper *h, int out, int ctl, void *arg)
{
	uint64_t id = 0;
	uint32_t val = 0;
	struct ku_req r;

	(void)ctl; (void)arg;
	ku_put_result(out, ku_wait_mcast(h, ATLS_CMD_READY, NULL, &val, 10000));
	ku_put_result(out, (int)val);
	ku_put_result(out, ku_accept(h, &r));
	ku_put_result(out, ku_wait_mcast(h, ATLS_CMD_ABORT, &id, &val, 10000));
	ku_put_result(out, id == r.id ? 0 : -ESRCH);
	ku_put_result(out, (int)val);
}

/* Wait for go, then try ACCEPT once and report its errno. */
static void late_accept_fn(struct ku_helper *h, int out, int ctl, void *arg)
{
	struct ku_req r;

	(void)arg;
	if (ku_wait_go(ctl, 60000))
		return;
	ku_put_result(out, ku_accept(h, &r));
}

/* DONE with TLS 1.2 keys: refused. */
static void bad_keys_fn(struct ku_helper *h, int out, int ctl, void *arg)
{
	struct ku_keys k;
	struct nl_msg *msg;
	struct ku_req r;
	int err;

	(void)ctl; (void)arg;
	err = ku_accept_wait(h, &r, 20000);
	if (err) {
		ku_put_result(out, err);
		return;
	}
	ku_keys(&k, TLS_CIPHER_AES_GCM_128, 0);
	k.ci.g128.info.version = TLS_1_2_VERSION;
	msg = ku_msg(h, ATLS_CMD_DONE);
	nla_put_u64(msg, ATLS_A_REQ_ID, r.id);
	nla_put_u32(msg, ATLS_A_SOCKFD, r.fd);
	nla_put_s32(msg, ATLS_A_STATUS, 0);
	nla_put(msg, ATLS_A_CRYPTO_TX, k.len, &k.ci);
	nla_put(msg, ATLS_A_CRYPTO_RX, k.len, &k.ci);
	ku_put_result(out, ku_send(h, msg, NULL));
}

/* The socket failed with @err: sticky on every path, peer got a reset. */
static void expect_dead(struct __test_metadata *_metadata, int app, int wire,
			int err, uint32_t reason)
{
	struct atls_status st;
	char buf[16];

	ASSERT_EQ(0, ku_status(app, &st));
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

		EXPECT_EQ(1, poll(&p, 1, 1000));
		EXPECT_TRUE(p.revents & POLLERR);
	}
	/* The raw peer never saw a byte, then a reset. */
	EXPECT_EQ(-ECONNRESET, ku_read_full(wire, buf, 1, 2000));
}

FIXTURE(life) {
	int app, wire;
	struct ku_child helper;
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
		ku_helper_reap(&self->helper);
	}
	close(self->app);
	close(self->wire);
	EXPECT_EQ(0, ku_wait_idle(5000));
}

static void setup_pair(struct __test_metadata *_metadata,
		       FIXTURE_DATA(life) *self, ku_helper_fn fn, void *arg)
{
	if (fn) {
		ASSERT_EQ(0, ku_fork_helper(&self->helper, fn, arg));
		self->have_helper = true;
	}
	ASSERT_EQ(0, ku_tcp_pair(AF_INET, &self->app, &self->wire));
	ASSERT_EQ(0, ku_ulp(self->app));
}

TEST_F(life, timeout_while_pending)
{
	long before = ku_proc_stat("timeouts");

	setup_pair(_metadata, self, idle_fn, NULL);
	EXPECT_EQ(-ETIMEDOUT, ku_start(self->app, ATLS_ROLE_CLIENT, 300, 0));
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	EXPECT_EQ(before + 1, ku_proc_stat("timeouts"));
}

TEST_F(life, timeout_while_accepted_then_late_done)
{
	int v;

	setup_pair(_metadata, self, accept_hold_fn, NULL);
	EXPECT_EQ(-ETIMEDOUT, ku_start(self->app, ATLS_ROLE_CLIENT, 400, 0));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v);
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	ku_helper_go(&self->helper);
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(-ESTALE, v);
}

TEST_F(life, ready_and_abort_multicast)
{
	long before = ku_proc_stat("aborts_sent");
	int v;

	setup_pair(_metadata, self, mcast_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 500,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 10000));
	EXPECT_EQ(0, v);		/* READY seen */
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 1000));
	EXPECT_GE(v, 1);		/* ATLS_A_PENDING */
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v);		/* ACCEPT */
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 10000));
	EXPECT_EQ(0, v);		/* ABORT seen */
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 1000));
	EXPECT_EQ(0, v);		/* for our request */
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 1000));
	EXPECT_EQ(ATLS_REASON_TIMEOUT, v);
	expect_dead(_metadata, self->app, self->wire, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	EXPECT_EQ(before + 1, ku_proc_stat("aborts_sent"));
}

TEST_F(life, helper_rejects)
{
	struct ku_serve s = { .n = 1, .status = -EACCES, .reason = ATLS_REASON_PCR_MISMATCH };
	struct atls_peer_info pi;
	socklen_t len = sizeof(pi);
	int v;

	setup_pair(_metadata, self, ku_serve_fn, &s);
	EXPECT_EQ(-EACCES, ku_start(self->app, ATLS_ROLE_CLIENT, 5000, 0));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v);
	expect_dead(_metadata, self->app, self->wire, EACCES, ATLS_REASON_PCR_MISMATCH);
	EXPECT_EQ(0, getsockopt(self->app, SOL_ATLS, ATLS_PEER_INFO, &pi, &len));
}

TEST_F(life, helper_status_outside_vocabulary)
{
	struct ku_serve s = { .n = 1, .status = -ENOMEM, .reason = ATLS_REASON_HELPER_ERROR };
	int v;

	setup_pair(_metadata, self, ku_serve_fn, &s);
	EXPECT_EQ(-EPROTO, ku_start(self->app, ATLS_ROLE_SERVER, 5000, 0));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	expect_dead(_metadata, self->app, self->wire, EPROTO, ATLS_REASON_HELPER_ERROR);
}

TEST_F(life, helper_killed_mid_request)
{
	long before = ku_proc_stat("helper_died");
	int v;

	setup_pair(_metadata, self, accept_hold_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 10000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	kill(self->helper.pid, SIGKILL);
	ku_helper_reap(&self->helper);
	self->have_helper = false;
	ASSERT_EQ(0, ku_wait_state(self->app, ATLS_STATE_FAILED, 3000));
	expect_dead(_metadata, self->app, self->wire, ECONNABORTED, ATLS_REASON_HELPER_DIED);
	EXPECT_EQ(before + 1, ku_proc_stat("helper_died"));
}

TEST_F(life, pending_survives_helper_restart)
{
	struct ku_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_128 };
	struct ku_child second;
	int v;

	setup_pair(_metadata, self, idle_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 10000,
					 ATLS_START_F_NONBLOCK));
	kill(self->helper.pid, SIGKILL);
	ku_helper_reap(&self->helper);
	self->have_helper = false;
	usleep(100000);
	EXPECT_EQ(0, ku_wait_state(self->app, ATLS_STATE_PENDING, 100));
	ASSERT_EQ(0, ku_fork_helper(&second, ku_serve_fn, &s));
	ASSERT_EQ(0, ku_helper_result(&second, &v, 10000));
	EXPECT_EQ(0, v);
	EXPECT_EQ(0, ku_wait_state(self->app, ATLS_STATE_READY, 3000));
	ku_helper_reap(&second);
}

TEST_F(life, app_closes_before_accept)
{
	long before = ku_proc_stat("abandoned");
	int v;

	setup_pair(_metadata, self, late_accept_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 10000,
					 ATLS_START_F_NONBLOCK));
	close(self->app);
	ku_helper_go(&self->helper);
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(-EAGAIN, v);	/* skipped: nobody to hand the socket to */
	EXPECT_EQ(before + 1, ku_proc_stat("abandoned"));
	self->app = socket(AF_INET, SOCK_STREAM, 0);	/* for teardown */
}

TEST_F(life, app_closes_after_accept)
{
	int v;

	setup_pair(_metadata, self, accept_hold_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 10000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	close(self->app);
	ku_helper_go(&self->helper);
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v);	/* keys go to a socket nobody reads; then closed */
	self->app = socket(AF_INET, SOCK_STREAM, 0);
}

TEST_F(life, refused_keys)
{
	long before = ku_proc_stat("done_rejected");
	int v;

	setup_pair(_metadata, self, bad_keys_fn, NULL);
	EXPECT_EQ(-EPROTO, ku_start(self->app, ATLS_ROLE_CLIENT, 5000, 0));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(-EINVAL, v);
	expect_dead(_metadata, self->app, self->wire, EPROTO, ATLS_REASON_BAD_KEYS);
	EXPECT_EQ(before + 1, ku_proc_stat("done_rejected"));
}

TEST_F(life, nonblocking_start_and_poll)
{
	int v;

	setup_pair(_metadata, self, accept_hold_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 10000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, ku_wait_state(self->app, ATLS_STATE_ACCEPTED, 1000));
	{
		struct pollfd p = { .fd = self->app, .events = POLLIN | POLLOUT };

		EXPECT_EQ(0, poll(&p, 1, 100));
	}
	ku_helper_go(&self->helper);
	{
		struct pollfd p = { .fd = self->app, .events = POLLOUT };

		EXPECT_EQ(1, poll(&p, 1, 5000));	/* woken by completion */
		EXPECT_EQ(POLLOUT, p.revents);
	}
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v);
	EXPECT_EQ(0, ku_wait_state(self->app, ATLS_STATE_READY, 100));
}

TEST_F(life, nonblocking_failure_reports_pollerr)
{
	setup_pair(_metadata, self, idle_fn, NULL);
	EXPECT_EQ(-EINPROGRESS, ku_start(self->app, ATLS_ROLE_CLIENT, 300,
					 ATLS_START_F_NONBLOCK));
	{
		struct pollfd p = { .fd = self->app, .events = POLLOUT };

		EXPECT_EQ(1, poll(&p, 1, 5000));
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
	int v;

	setup_pair(_metadata, self, accept_hold_fn, NULL);
	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART */
	ualarm(200000, 0);
	EXPECT_EQ(-EINTR, ku_start(self->app, ATLS_ROLE_CLIENT, 10000, 0));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	ku_helper_go(&self->helper);
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v);
	EXPECT_EQ(0, ku_wait_state(self->app, ATLS_STATE_READY, 2000));
}

TEST_HARNESS_MAIN
