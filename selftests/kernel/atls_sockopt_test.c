// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: the opt-in and every misuse of it, each with its documented errno
 * (include/uapi/linux/atls.h, Documentation/atls.7.rst).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "harness.h"
#include "net.h"
#include "sock.h"

/* A helper that only listens (so ATLS_START finds one) until told to go. */
static void idle_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	(void)h; (void)out; (void)arg;
	tl_wait_go(ctl, 60000);
}

FIXTURE(opt) {
	int cli, srv;
};

FIXTURE_SETUP(opt)
{
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->cli, &self->srv));
}

FIXTURE_TEARDOWN(opt)
{
	close(self->cli);
	close(self->srv);
}

TEST(ulp_needs_established)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-ENOTCONN, tl_ulp(fd));
	close(fd);
}

/*
 * The ULP needs an ESTABLISHED connection, or a listening socket (an
 * attested listener, ATLS_LISTEN: atls_listen_test covers what follows):
 * a socket that is neither gets ENOTCONN.
 */
TEST(ulp_needs_connection_or_listener)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOTCONN, tl_ulp(fd));
	ASSERT_EQ(0, bind(fd, (void *)&a, sizeof(a)));
	EXPECT_EQ(-ENOTCONN, tl_ulp(fd));
	ASSERT_EQ(0, listen(fd, 1));
	EXPECT_EQ(0, tl_ulp(fd));
	close(fd);
}

TEST_F(opt, ulp_name_and_twice)
{
	char name[16] = "";
	socklen_t len = sizeof(name);
	struct atls_status st;

	ASSERT_EQ(0, tl_ulp(self->cli));
	ASSERT_EQ(0, getsockopt(self->cli, SOL_TCP, TCP_ULP, name, &len));
	EXPECT_STREQ("atls", name);
	EXPECT_EQ(-EEXIST, tl_ulp(self->cli));
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", 4));
	EXPECT_EQ(EEXIST, errno);
	ASSERT_EQ(0, tl_status(self->cli, &st));
	EXPECT_EQ(ATLS_STATE_NONE, st.state);
	EXPECT_EQ(0, st.error);
}

TEST_F(opt, ulp_after_other_ulp)
{
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", 4));
	EXPECT_EQ(-EEXIST, tl_ulp(self->cli));
}

TEST_F(opt, ulp_after_data_sent)
{
	ASSERT_EQ(1, send(self->cli, "x", 1, 0));
	EXPECT_EQ(-EBUSY, tl_ulp(self->cli));
}

TEST_F(opt, ulp_after_data_read)
{
	char c;

	ASSERT_EQ(1, send(self->srv, "x", 1, 0));
	ASSERT_EQ(1, recv(self->cli, &c, 1, 0));
	EXPECT_EQ(-EBUSY, tl_ulp(self->cli));
}

TEST_F(opt, ulp_with_unread_peer_data)
{
	ASSERT_EQ(5, send(self->srv, "hello", 5, 0));
	usleep(20000);
	EXPECT_EQ(0, tl_ulp(self->cli));
}

TEST_F(opt, sol_atls_needs_ulp)
{
	struct atls_status st;

	EXPECT_EQ(-ENOPROTOOPT, tl_start(self->cli, ATLS_ROLE_CLIENT, 1000, 0));
	EXPECT_EQ(-EOPNOTSUPP, tl_status(self->cli, &st));	/* ip_getsockopt */
}

TEST_F(opt, start_without_helper)
{
	struct atls_status st;
	long before = tl_proc_stat("no_helper");

	ASSERT_EQ(0, tl_ulp(self->cli));
	EXPECT_EQ(-ESRCH, tl_start(self->cli, ATLS_ROLE_CLIENT, 1000, 0));
	ASSERT_EQ(0, tl_status(self->cli, &st));
	EXPECT_EQ(ATLS_STATE_NONE, st.state);
	EXPECT_EQ(before + 1, tl_proc_stat("no_helper"));
}

TEST_F(opt, start_malformed)
{
	unsigned char big[sizeof(struct atls_start) + 16];
	struct atls_start st;
	void *unmapped;

	ASSERT_EQ(0, tl_ulp(self->cli));

#define BAD(len, want) do {						\
		EXPECT_EQ(-1, setsockopt(self->cli, SOL_ATLS, ATLS_START, &st, len)); \
		EXPECT_EQ(want, errno);					\
	} while (0)

	tl_start_init(&st, ATLS_ROLE_CLIENT, 1000);
	BAD(0, EINVAL);
	BAD(ATLS_START_SIZE_VER0 - 1, EINVAL);
	st.size = 12;
	BAD(sizeof(st), EINVAL);			/* size != optlen */
	tl_start_init(&st, ATLS_ROLE_CLIENT, 1000);
	st.flags = 0x80;
	BAD(sizeof(st), EINVAL);			/* unknown flag */
	tl_start_init(&st, 0, 1000);
	BAD(sizeof(st), EINVAL);			/* role 0 */
	tl_start_init(&st, 3, 1000);
	BAD(sizeof(st), EINVAL);			/* role 3 */
	tl_start_init(&st, ATLS_ROLE_CLIENT, ATLS_TIMEOUT_MAX_MS + 1);
	BAD(sizeof(st), EINVAL);
	tl_start_init(&st, ATLS_ROLE_CLIENT, 1000);
	memset(st.policy, 'p', sizeof(st.policy));
	BAD(sizeof(st), EINVAL);			/* policy not terminated */
	tl_start_init(&st, ATLS_ROLE_SERVER, 1000);
	memset(st.peer, 'n', sizeof(st.peer));
	BAD(sizeof(st), EINVAL);			/* peer not terminated */
#undef BAD

	/* A larger (future) struct: non-zero tail E2BIG, zero tail accepted
	 * (then ESRCH: no helper is listening in this test). */
	memset(big, 0, sizeof(big));
	tl_start_init(&st, ATLS_ROLE_CLIENT, 1000);
	st.size = sizeof(big);
	memcpy(big, &st, sizeof(st));
	big[sizeof(big) - 1] = 1;
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_ATLS, ATLS_START, big, sizeof(big)));
	EXPECT_EQ(E2BIG, errno);
	big[sizeof(big) - 1] = 0;
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_ATLS, ATLS_START, big, sizeof(big)));
	EXPECT_EQ(ESRCH, errno);

	unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, unmapped);
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_ATLS, ATLS_START, unmapped, sizeof(st)));
	EXPECT_EQ(EFAULT, errno);
	munmap(unmapped, 4096);
}

TEST_F(opt, options_and_levels)
{
	struct atls_peer_info pi;
	struct atls_status st;
	unsigned char buf[64];
	socklen_t len;
	int one = 1;

	ASSERT_EQ(0, tl_ulp(self->cli));
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_ATLS, 99, &one, sizeof(one)));
	EXPECT_EQ(ENOPROTOOPT, errno);
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_ATLS, ATLS_STATUS, &one, sizeof(one)));
	EXPECT_EQ(ENOPROTOOPT, errno);
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->cli, SOL_ATLS, 99, buf, &len));
	EXPECT_EQ(ENOPROTOOPT, errno);
	len = sizeof(st) - 1;
	EXPECT_EQ(-1, getsockopt(self->cli, SOL_ATLS, ATLS_STATUS, &st, &len));
	EXPECT_EQ(EINVAL, errno);
	len = sizeof(pi);
	EXPECT_EQ(-1, getsockopt(self->cli, SOL_ATLS, ATLS_PEER_INFO, &pi, &len));
	EXPECT_EQ(ENODATA, errno);
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->cli, SOL_TLS, TLS_TX, buf, &len));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, setsockopt(self->cli, SOL_TLS, TLS_RX, buf, 40));
	EXPECT_EQ(EPERM, errno);
	/* Zero-copy receive would map the raw queue: refused while gated. */
	len = sizeof(buf);
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(-1, getsockopt(self->cli, SOL_TCP, 35 /* TCP_ZEROCOPY_RECEIVE */, buf, &len));
	EXPECT_EQ(EPERM, errno);
	/* Other levels still reach TCP. */
	EXPECT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_NODELAY, &one, sizeof(one)));
	len = sizeof(one);
	EXPECT_EQ(0, getsockopt(self->cli, SOL_TCP, TCP_NODELAY, &one, &len));
	EXPECT_EQ(1, one);
}

TEST(start_twice)
{
	struct tl_child c;
	struct atls_status st;
	int cli, srv;

	ASSERT_EQ(0, tl_fork_helper(&c, idle_fn, NULL));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cli, &srv));
	ASSERT_EQ(0, tl_ulp(cli));
	/* The first request must still be pending when its status is read
	 * below: a timeout far beyond any stall of the VM (the close ends it). */
	EXPECT_EQ(-EINPROGRESS, tl_start(cli, ATLS_ROLE_CLIENT, 30000, ATLS_START_F_NONBLOCK));
	EXPECT_EQ(-EALREADY, tl_start(cli, ATLS_ROLE_CLIENT, 30000, ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_status(cli, &st));
	EXPECT_EQ(ATLS_STATE_PENDING, st.state);
	tl_helper_go(&c);
	tl_helper_reap(&c);
	close(cli);
	close(srv);
	EXPECT_EQ(0, tl_wait_idle(30000));
}

/*
 * Requests belong to their socket's network namespace: a helper in another
 * namespace never gets them (ACCEPT: EAGAIN) and the request times out.
 * The namespace has its own registered helper that never accepts (without
 * one, ATLS_START fails with ESRCH: atls_netns_test).
 */
TEST(helper_of_another_netns_cannot_accept)
{
	struct tl_child c;
	int sync[2], st;
	pid_t pid;
	char b;

	ASSERT_EQ(0, tl_fork_helper(&c, tl_accept_on_go_fn, NULL));	/* our netns */
	ASSERT_EQ(0, pipe(sync));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct atls_status as;
		struct ifreq ifr = { 0 };
		struct tl_child inner;
		int fd, cli, srv;

		if (unshare(CLONE_NEWNET))
			_exit(10);
		fd = socket(AF_INET, SOCK_DGRAM, 0);
		strcpy(ifr.ifr_name, "lo");
		if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
			_exit(11);
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			_exit(12);
		if (tl_fork_helper(&inner, idle_fn, NULL))
			_exit(18);
		if (tl_tcp_pair(AF_INET, &cli, &srv) || tl_ulp(cli))
			_exit(13);
		/*
		 * Long enough that the other namespace's helper tries its
		 * ACCEPT while this request is still pending (after it, an
		 * EAGAIN would prove nothing); then it times out.
		 */
		if (tl_start(cli, ATLS_ROLE_CLIENT, 3000, ATLS_START_F_NONBLOCK) != -EINPROGRESS)
			_exit(14);
		if (write(sync[1], "s", 1) != 1)
			_exit(15);
		if (tl_wait_state(cli, ATLS_STATE_FAILED, 30000) || tl_status(cli, &as))
			_exit(16);
		_exit(as.error == ETIMEDOUT ? 0 : 17);
	}
	ASSERT_EQ(1, read(sync[0], &b, 1));
	tl_helper_go(&c);
	TL_EXPECT_RESULT(&c, 5000, -EAGAIN);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	tl_helper_reap(&c);
	close(sync[0]);
	close(sync[1]);
}

/*
 * TCP_ZEROCOPY_RECEIVE maps and consumes the raw receive queue: refused to
 * the application until the socket is READY, by state, also in the window
 * of the key installation where the ready proto is already in (after TLS_TX,
 * before TLS_RX). The application spins on it through many installations;
 * any call that reached TCP while ATLS_STATUS still said "not READY" fails.
 * That holds in the instant atls.7 names too (kTLS switched its own
 * operations in, the module has not wrapped them yet): ATLS_STATUS must
 * answer there as well (it failed with EOPNOTSUPP when kTLS passed SOL_ATLS
 * to TCP), and calls that got another answer than 0 or EPERM are counted.
 */
#define ZC_INSTALLS 150

TEST(zerocopy_receive_refused_until_ready)
{
	struct tl_serve s = { .n = ZC_INSTALLS, .cipher = TLS_CIPHER_AES_GCM_128 };
	long refused = 0, early = 0, other = 0, no_status = 0;
	struct atls_status st;
	struct tl_child c;
	int i, cli, srv, v;

	ASSERT_EQ(0, tl_fork_helper(&c, tl_serve_fn, &s));
	for (i = 0; i < ZC_INSTALLS; i++) {
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cli, &srv));
		ASSERT_EQ(0, tl_ulp(cli));
		ASSERT_EQ(-EINPROGRESS, tl_start(cli, ATLS_ROLE_CLIENT, 10000,
						 ATLS_START_F_NONBLOCK));
		for (;;) {
			unsigned char zc[16] = { 0 };
			socklen_t len = sizeof(zc);

			if (getsockopt(cli, SOL_TCP, 35 /* TCP_ZEROCOPY_RECEIVE */,
				       zc, &len) == 0) {
				v = tl_status(cli, &st);
				if (v) {
					no_status++;
					continue;
				}
				if (st.state == ATLS_STATE_READY)
					break;
				early++;
			} else if (errno == EPERM) {
				/* now and then: a failed request ends the loop */
				if (++refused % 256 == 0) {
					ASSERT_EQ(0, tl_status(cli, &st));
					ASSERT_NE(ATLS_STATE_FAILED, st.state);
				}
			} else {
				other++;
				v = tl_status(cli, &st);
				if (v) {
					no_status++;
					continue;
				}
				if (st.state != ATLS_STATE_PENDING &&
				    st.state != ATLS_STATE_ACCEPTED)
					break;
			}
		}
		ASSERT_EQ(0, tl_helper_result(&c, &v, 10000));
		ASSERT_EQ(0, v);
		close(cli);
		close(srv);
	}
	tl_helper_reap(&c);
	TH_LOG("%d installs: %ld calls refused, %ld reached TCP before READY, %ld other errors, %ld ATLS_STATUS failed",
	       ZC_INSTALLS, refused, early, other, no_status);
	EXPECT_EQ(0, early);
	EXPECT_EQ(0, other);
	EXPECT_EQ(0, no_status);
}

TEST_HARNESS_MAIN
