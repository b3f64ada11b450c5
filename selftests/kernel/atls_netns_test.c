// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers serve their own network namespace; caps per namespace and per
 * user (Documentation/netlink.rst "Namespaces and caps").
 *
 *  no_helper_in_netns_is_esrch   a helper runs in the initial netns only: an
 *                                ATLS_START in another netns fails with
 *                                ESRCH at once, not at its timeout
 *  helper_dies_with_its_socket   the registration ends when the helper's
 *                                socket closes: ESRCH again
 *  register_rules                REGISTER needs CAP_NET_ADMIN over the netns
 *                                (EPERM as nobody), twice is EALREADY
 *  container_helper              a helper in its own network namespace
 *                                serves that namespace's request; READY
 *                                counts that namespace's
 *                                requests only; the initial netns's helper
 *                                gets no READY for it and cannot take it
 *  user_cap                      one user filling max_pending_user gets
 *                                EDQUOT, another user still starts
 *  netns_cap                     one netns filling max_pending_net gets
 *                                ENOBUFS, the initial netns still starts
 *  users_served_in_turn          ACCEPT takes the pending requests of the
 *                                users in turn: one user's flood does not
 *                                make another user's request wait behind it
 *  bystander_sees_nothing        a socket that joined multicast group
 *                                "helper" without registering gets neither
 *                                READY nor ABORT of a request
 *
 * Nothing here waits for time to pass: an event that must not arrive is
 * checked after one that comes from the same kernel call (READY and ABORT
 * are sent to every registered socket before ATLS_START, or the ending of
 * the request, returns).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "harness.h"
#include "net.h"
#include "sock.h"
#include "util.h"

#define CIPHER TLS_CIPHER_AES_GCM_128

/* Something is waiting on h->mc (a message, or an overrun): 1, else 0. */
static int has_event(struct tl_helper *h)
{
	struct pollfd p = { .fd = nl_socket_get_fd(h->mc), .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* A client socket of a loopback pair with the ULP; its server end in *srv. */
static int ulp_pair(int *cli, int *srv)
{
	if (tl_tcp_pair(AF_INET, cli, srv))
		return -1;
	return tl_ulp(*cli);
}

/* A registered helper that only waits for go (never takes a request). */
static void idle_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	(void)h; (void)out; (void)arg;
	tl_wait_go(ctl, 60000);
}

TEST(no_helper_in_netns_is_esrch)
{
	struct tl_child c;
	int cli, srv;

	ASSERT_EQ(0, tl_fork_helper(&c, idle_fn, NULL));	/* initial netns */
	ASSERT_EQ(0, tl_new_netns());
	ASSERT_EQ(0, ulp_pair(&cli, &srv));
	/* Non-blocking: before, the request was queued (EINPROGRESS). */
	EXPECT_EQ(-ESRCH, tl_start(cli, ATLS_ROLE_CLIENT, 2000, ATLS_START_F_NONBLOCK));
	close(cli);
	close(srv);
	tl_helper_go(&c);
	EXPECT_EQ(0, tl_helper_reap(&c));
}

TEST(helper_dies_with_its_socket)
{
	struct tl_child c;
	int cli, srv;

	ASSERT_EQ(0, tl_new_netns());
	ASSERT_EQ(0, tl_fork_helper(&c, idle_fn, NULL));
	ASSERT_EQ(0, ulp_pair(&cli, &srv));
	EXPECT_EQ(-EINPROGRESS, tl_start(cli, ATLS_ROLE_CLIENT, 2000, ATLS_START_F_NONBLOCK));
	close(cli);
	close(srv);
	tl_helper_go(&c);
	EXPECT_EQ(0, tl_helper_reap(&c));	/* its sockets are closed */
	ASSERT_EQ(0, ulp_pair(&cli, &srv));
	EXPECT_EQ(-ESRCH, tl_start(cli, ATLS_ROLE_CLIENT, 2000, ATLS_START_F_NONBLOCK));
	close(cli);
	close(srv);
}

TEST(register_rules)
{
	struct tl_helper h;
	pid_t pid;
	int st;

	ASSERT_EQ(0, tl_new_netns());
	ASSERT_EQ(0, tl_helper_open(&h, true));
	EXPECT_EQ(-EALREADY, tl_helper_register(&h));
	tl_helper_close(&h);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		_exit(tl_helper_open(&h, true) == -EPERM ? 0 : 11);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

/* Initial netns's helper: READY of its own request, then (on go) report
 * whether anything more came and what ACCEPT takes. */
static void home_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	uint32_t pending = 0;
	struct tl_req r;
	int err;

	(void)arg;
	err = tl_wait_mcast(h, ATLS_CMD_READY, NULL, &pending, 10000);
	tl_put_result(out, err ? err : (int)pending);
	if (tl_wait_go(ctl, 30000))
		return;
	tl_put_result(out, has_event(h));
	err = tl_helper_accept(h, &r);
	tl_put_result(out, err ? err : (int)r.app_pid);
	if (!err)
		tl_put_result(out, tl_done_status(h, &r, -EACCES, ATLS_REASON_NOT_AUTHORIZED));
}

/* The container's helper: READY (its count), ACCEPT, DONE with keys. */
static void guest_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	uint32_t pending = 0;
	struct tl_req r;
	int err;

	(void)ctl; (void)arg;
	err = tl_wait_mcast(h, ATLS_CMD_READY, NULL, &pending, 10000);
	tl_put_result(out, err ? err : (int)pending);
	err = tl_helper_accept(h, &r);
	tl_put_result(out, err ? err : (int)r.app_pid);
	if (!err)
		tl_put_result(out, tl_done_keys(h, &r, CIPHER));
}

TEST(container_helper)
{
	struct tl_child home, guest;
	int hcli, hsrv, cli, srv;

	/* A request of the initial netns, pending with its helper. */
	ASSERT_EQ(0, tl_fork_helper(&home, home_fn, NULL));
	ASSERT_EQ(0, ulp_pair(&hcli, &hsrv));
	ASSERT_EQ(-EINPROGRESS, tl_start(hcli, ATLS_ROLE_CLIENT, 20000, ATLS_START_F_NONBLOCK));
	TL_EXPECT_RESULT(&home, 10000, 1);

	/* A container's network namespace with its own helper. */
	ASSERT_EQ(0, tl_new_netns());
	ASSERT_EQ(0, tl_fork_helper(&guest, guest_fn, NULL));
	ASSERT_EQ(0, ulp_pair(&cli, &srv));
	EXPECT_EQ(0, tl_start(cli, ATLS_ROLE_CLIENT, 10000, 0));
	TL_EXPECT_RESULT(&guest, 10000, 1);	/* its namespace's request only */
	TL_EXPECT_RESULT(&guest, 10000, getpid());
	TL_EXPECT_RESULT(&guest, 10000, 0);
	EXPECT_EQ(0, tl_wait_state(cli, ATLS_STATE_READY, 1000));

	/* The initial netns's helper heard nothing of it and takes its own. */
	tl_helper_go(&home);
	TL_EXPECT_RESULT(&home, 10000, 0);
	TL_EXPECT_RESULT(&home, 10000, getpid());
	TL_EXPECT_RESULT(&home, 10000, 0);
	EXPECT_EQ(0, tl_wait_state(hcli, ATLS_STATE_FAILED, 5000));
	EXPECT_EQ(0, tl_helper_reap(&guest));
	EXPECT_EQ(0, tl_helper_reap(&home));
	close(cli);
	close(srv);
	close(hcli);
	close(hsrv);
}

/*
 * Start n requests as the caller; 0 if all queued and the next one failed
 * with @want, else the step that differed (1-based) * 100 + its -errno.
 * The server ends stay open (a closed connection would end a request).
 */
static int fill_and_probe(int n, int want, int *fds, int *srvs)
{
	int i, err;

	for (i = 0; i <= n; i++) {
		if (ulp_pair(&fds[i], &srvs[i]))
			return (i + 1) * 100 + 99;
		err = tl_start(fds[i], ATLS_ROLE_CLIENT, 30000, ATLS_START_F_NONBLOCK);
		if (err != (i < n ? -EINPROGRESS : want))
			return (i + 1) * 100 - err;
	}
	return 0;
}

#define CAP 3

/* The other tenant of a cap test: user 1000 (0, or -1). */
static int become_user_1000(void)
{
	return setgid(1000) || setuid(1000) ? -1 : 0;
}

/* The other tenant of a cap test: a netns with its own helper (it follows
 * the child that forked it: PR_SET_PDEATHSIG). */
static int enter_netns_with_helper(void)
{
	static struct tl_child inner;

	return tl_new_netns() || tl_fork_helper(&inner, idle_fn, NULL) ? -1 : 0;
}

/*
 * Module parameter @param set to CAP; a child that became the other tenant
 * (@enter) fills the cap and holds it, its next request failing with
 * @want; then this process (root, initial netns) still gets its request
 * queued.  @param is set back to @dflt.
 */
static void cap_leaves_others(struct __test_metadata *_metadata, const char *param,
			      long dflt, int want, int (*enter)(void))
{
	int fds[CAP + 1], srvs[CAP + 1], p[2], v = -1, st, cli, srv;
	struct tl_child c;
	pid_t pid;

	ASSERT_EQ(0, tl_atls_param(param, CAP));
	ASSERT_EQ(0, tl_fork_helper(&c, idle_fn, NULL));
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (enter())
			_exit(10);
		v = fill_and_probe(CAP, want, fds, srvs);
		tl_put_result(p[1], v);
		pause();
		_exit(0);
	}
	close(p[1]);
	EXPECT_EQ(sizeof(v), read(p[0], &v, sizeof(v)));
	EXPECT_EQ(0, v);
	ASSERT_EQ(0, ulp_pair(&cli, &srv));
	EXPECT_EQ(-EINPROGRESS, tl_start(cli, ATLS_ROLE_CLIENT, 30000, ATLS_START_F_NONBLOCK));
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	close(cli);
	close(srv);
	close(p[0]);
	tl_helper_go(&c);
	EXPECT_EQ(0, tl_helper_reap(&c));
	EXPECT_EQ(0, tl_atls_param(param, dflt));
	EXPECT_EQ(0, tl_wait_idle(10000));
}

/* User 1000 fills its cap: EDQUOT; another user (root) still starts. */
TEST(user_cap)
{
	cap_leaves_others(_metadata, "max_pending_user", ATLS_MAX_PENDING_USER, -EDQUOT,
			  become_user_1000);
}

/* A netns fills its cap: ENOBUFS; the same user in the initial netns
 * still starts. */
TEST(netns_cap)
{
	cap_leaves_others(_metadata, "max_pending_net", ATLS_MAX_PENDING, -ENOBUFS,
			  enter_netns_with_helper);
}

/*
 * ACCEPT serves the users with pending requests in turn, not in the order
 * of their requests: root queues FLOOD requests, then user 1000 queues
 * one; of the helper's first two ACCEPTs one is user 1000's.  (In arrival
 * order it would wait behind all FLOOD.)
 */
#define FLOOD 40

TEST(users_served_in_turn)
{
	int fds[FLOOD], srvs[FLOOD], p[2], v = -1, st, i, cli, srv;
	struct tl_req r[2];
	struct tl_helper h;
	pid_t pid;

	ASSERT_EQ(0, tl_helper_open(&h, true));
	for (i = 0; i < FLOOD; i++) {
		ASSERT_EQ(0, ulp_pair(&fds[i], &srvs[i]));
		ASSERT_EQ(-EINPROGRESS, tl_start(fds[i], ATLS_ROLE_CLIENT, 30000,
						 ATLS_START_F_NONBLOCK));
	}
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {		/* user 1000: one request, held open */
		if (become_user_1000())
			_exit(10);
		v = ulp_pair(&cli, &srv) ? -1 :
		    tl_start(cli, ATLS_ROLE_CLIENT, 30000, ATLS_START_F_NONBLOCK);
		tl_put_result(p[1], v);
		pause();
		_exit(0);
	}
	close(p[1]);
	EXPECT_EQ(sizeof(v), read(p[0], &v, sizeof(v)));
	EXPECT_EQ(-EINPROGRESS, v);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, tl_helper_accept(&h, &r[i]));
	EXPECT_TRUE(r[0].app_uid == 1000 || r[1].app_uid == 1000)
		TH_LOG("first two ACCEPTs: uid %u, uid %u", r[0].app_uid, r[1].app_uid);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	for (i = 0; i < 2; i++)
		close(r[i].fd);
	tl_helper_close(&h);	/* the accepted ones fail: HELPER_DIED */
	for (i = 0; i < FLOOD; i++) {
		close(fds[i]);	/* the pending ones end with their socket */
		close(srvs[i]);
	}
	close(p[0]);
	EXPECT_EQ(0, tl_wait_idle(10000));
}

/* READY, ACCEPT, then wait for the request's ABORT (its timeout). */
static void abort_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	uint64_t id = 0;
	struct tl_req r;
	int err;

	(void)ctl; (void)arg;
	err = tl_ready_accept(h, &r, 10000);
	tl_put_result(out, err);
	if (err)
		return;
	err = tl_wait_mcast(h, ATLS_CMD_ABORT, &id, NULL, 10000);
	tl_put_result(out, err ? err : id == r.id ? 1 : -EPROTO);
	close(r.fd);
}

TEST(bystander_sees_nothing)
{
	struct tl_helper by;
	struct tl_child c;
	int cli, srv;

	ASSERT_EQ(0, tl_new_netns());
	ASSERT_EQ(0, tl_helper_open(&by, false));
	ASSERT_EQ(0, tl_group_join(&by));	/* anyone may join the group */
	ASSERT_EQ(0, tl_fork_helper(&c, abort_fn, NULL));
	ASSERT_EQ(0, ulp_pair(&cli, &srv));
	/* The timeout ends it after the ACCEPT: ABORT (3 s for the helper to
	 * take it, a margin, not a wait: it comes at once on READY). */
	EXPECT_EQ(-EINPROGRESS, tl_start(cli, ATLS_ROLE_CLIENT, 3000, ATLS_START_F_NONBLOCK));
	TL_EXPECT_RESULT(&c, 10000, 0);		/* READY came, accepted */
	EXPECT_EQ(0, has_event(&by));		/* no READY */
	TL_EXPECT_RESULT(&c, 10000, 1);		/* ABORT (timeout) came */
	EXPECT_EQ(0, has_event(&by));		/* no ABORT either */
	EXPECT_EQ(0, tl_wait_state(cli, ATLS_STATE_FAILED, 5000));
	EXPECT_EQ(0, tl_helper_reap(&c));
	tl_helper_close(&by);
	close(cli);
	close(srv);
}

TEST_HARNESS_MAIN
