// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: the generic-netlink upcall is strict. Every malformed DONE
 * (missing, wrong type, wrong length, out of range, kernel-only or unknown
 * attributes, bad nests), unknown and stale ids, a foreign netlink port, a
 * wrong socket fd, and ACCEPT without CAP_NET_ADMIN, each with its errno.
 * None of them may disturb the request: a correct DONE afterwards succeeds.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "harness.h"
#include "net.h"
#include "sock.h"

enum { ATTR_U64, ATTR_U32, ATTR_S32 };

struct case_ {
	const char *name;
	int want;
};

/* The expected errno of each step of abuse_fn, in order. */
static const struct case_ cases[] = {
	{ "ACCEPT with nothing pending", -EAGAIN },
	{ "ACCEPT", 0 },
	{ "reply fields", 0 },
	{ "DONE without attributes", -EINVAL },
	{ "DONE without STATUS", -EINVAL },
	{ "REQ_ID as u32", -EINVAL },
	{ "STATUS positive", -ERANGE },
	{ "STATUS below -4095", -ERANGE },
	{ "STATUS as u64", -EINVAL },
	{ "kernel-only attribute POLICY", -EINVAL },
	{ "unknown attribute type", -EINVAL },
	{ "CRYPTO_TX too long", -ERANGE },
	{ "CRYPTO_TX too short", -ERANGE },
	{ "PEER_INFO cert 31 bytes", -ERANGE },
	{ "PEER_INFO verdict out of range", -ERANGE },
	{ "PEER_INFO not a nest", -EINVAL },
	{ "REASON out of range", -ERANGE },
	{ "unknown request id", -ENOENT },
	{ "request id 0", -ENOENT },
	{ "fd of another socket", -EBADF },
	{ "fd not open", -EBADF },
	{ "foreign netlink port", -EPERM },
	{ "valid DONE", 0 },
	{ "DONE again", -ESTALE },
};

static struct nl_msg *done_base(struct tl_helper *h, const struct tl_req *r,
				bool id, bool fd, bool status)
{
	struct nl_msg *m = tl_msg(h, ATLS_CMD_DONE);

	if (id)
		nla_put_u64(m, ATLS_A_REQ_ID, r->id);
	if (fd)
		nla_put_u32(m, ATLS_A_SOCKFD, r->fd);
	if (status)
		nla_put_s32(m, ATLS_A_STATUS, -EACCES);
	return m;
}

/*
 * The request of malformed_done must outlive every refused DONE and take the
 * last, good one: some twenty netlink round trips, a second helper socket
 * and the results read back. Milliseconds normally; generous for a stalled
 * VM (the helper also checks the kernel passes this value on).
 */
#define MALFORMED_TIMEOUT_MS 20000

static void abuse_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	pid_t app = *(pid_t *)arg;
	struct tl_helper foreign;
	unsigned char blob[200];
	struct nlattr *nest;
	struct tl_req r, bad;
	struct nl_msg *m;
	int other, ok;

	tl_put_result(out, tl_helper_accept(h, &r));
	tl_wait_go(ctl, 10000);
	tl_put_result(out, tl_helper_accept_wait(h, &r, 10000));
	ok = r.role == ATLS_ROLE_CLIENT && r.timeout_ms == MALFORMED_TIMEOUT_MS &&
	     !strcmp(r.policy, "test") && !strcmp(r.peer, "peer.test") &&
	     r.family == AF_INET && r.app_pid == (uint32_t)app && r.app_uid == 0 &&
	     r.comm[0] && r.fd >= 0 && r.id;
	tl_put_result(out, ok ? 0 : -EBADMSG);

	tl_put_result(out, tl_send(h, tl_msg(h, ATLS_CMD_DONE), NULL));
	tl_put_result(out, tl_send(h, done_base(h, &r, true, true, false), NULL));
	m = done_base(h, &r, false, true, true);
	nla_put_u32(m, ATLS_A_REQ_ID, 1);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, false);
	nla_put_s32(m, ATLS_A_STATUS, 1);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, false);
	nla_put_s32(m, ATLS_A_STATUS, -4096);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, false);
	nla_put_u64(m, ATLS_A_STATUS, 0);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nla_put_string(m, ATLS_A_POLICY, "x");
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nla_put_u32(m, ATLS_A_MAX + 5, 1);
	tl_put_result(out, tl_send(h, m, NULL));
	memset(blob, 0, sizeof(blob));
	m = done_base(h, &r, true, true, true);
	nla_put(m, ATLS_A_CRYPTO_TX, sizeof(blob), blob);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nla_put(m, ATLS_A_CRYPTO_TX, 2, blob);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nest = nla_nest_start(m, ATLS_A_PEER_INFO);
	nla_put(m, ATLS_PEER_A_CERT_SHA256, 31, blob);
	nla_nest_end(m, nest);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nest = nla_nest_start(m, ATLS_A_PEER_INFO);
	nla_put_u32(m, ATLS_PEER_A_VERDICT, 9);
	nla_nest_end(m, nest);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nla_put_u32(m, ATLS_A_PEER_INFO, 1);
	tl_put_result(out, tl_send(h, m, NULL));
	m = done_base(h, &r, true, true, true);
	nla_put_u32(m, ATLS_A_REASON, 9999);
	tl_put_result(out, tl_send(h, m, NULL));

	bad = r;
	bad.id = r.id + 100000;
	tl_put_result(out, tl_done_status(h, &bad, -EACCES, ATLS_REASON_PCR_MISMATCH));
	bad.id = 0;
	tl_put_result(out, tl_done_status(h, &bad, -EACCES, ATLS_REASON_PCR_MISMATCH));
	bad = r;
	other = socket(AF_INET, SOCK_STREAM, 0);
	bad.fd = other;
	tl_put_result(out, tl_done_status(h, &bad, -EACCES, ATLS_REASON_PCR_MISMATCH));
	close(other);
	bad.fd = 4000;
	tl_put_result(out, tl_done_status(h, &bad, -EACCES, ATLS_REASON_PCR_MISMATCH));
	if (tl_helper_open(&foreign, false))
		tl_put_result(out, -ENOTCONN);
	else
		tl_put_result(out, tl_done_keys(&foreign, &r, TLS_CIPHER_AES_GCM_128));
	tl_helper_close(&foreign);

	tl_put_result(out, tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128));
	tl_put_result(out, tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128));
}

TEST(malformed_done)
{
	pid_t me = getpid();
	struct tl_child c;
	unsigned int i;
	int cli, srv, v;

	ASSERT_EQ(0, tl_fork_helper(&c, abuse_fn, &me));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cli, &srv));
	ASSERT_EQ(0, tl_ulp(cli));
	TL_EXPECT_RESULT(&c, 5000, cases[0].want);
	EXPECT_EQ(-EINPROGRESS, tl_start(cli, ATLS_ROLE_CLIENT, MALFORMED_TIMEOUT_MS,
					 ATLS_START_F_NONBLOCK));
	tl_helper_go(&c);
	for (i = 1; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(0, tl_helper_result(&c, &v, 5000)) TH_LOG("step %s", cases[i].name);
		EXPECT_EQ(cases[i].want, v) TH_LOG("%s: got %s", cases[i].name, strerror(-v));
	}
	EXPECT_EQ(0, tl_wait_state(cli, ATLS_STATE_READY, 1000));
	tl_helper_reap(&c);
	close(cli);
	close(srv);
}

TEST(accept_needs_net_admin)
{
	pid_t pid = fork();
	int st;

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct tl_helper h;
		struct tl_req r;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		if (tl_helper_open(&h, false))
			_exit(11);
		_exit(tl_helper_accept(&h, &r) == -EPERM ? 0 : 12);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST_HARNESS_MAIN
