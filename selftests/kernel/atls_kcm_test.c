// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: the in-kernel readers and writers that bypass the socket's
 * struct proto. KCM (SIOCKCMATTACH) takes over a TCP socket's receive path
 * (its strparser reads through proto_ops .read_sock, under the socket's own
 * callbacks) and writes through the kernel socket calls: an atls socket is
 * refused, before the handshake, during it and once ready, and a socket KCM
 * already holds cannot become an atls socket. What an unprivileged caller
 * gets is written down too: no BPF program to attach, so no attach at all.
 * (The lock-holding senders, .sendmsg_locked, are reached only through
 * sockmap, which atls sockets refuse: atls.7.)
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/kcm.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "net.h"
#include "sock.h"

#ifndef AF_KCM
#define AF_KCM 41
#endif

/* A KCM parser that calls every byte a message: r0 = 1; exit. */
static int kcm_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (unsigned long)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (unsigned long)"GPL";
	fd = syscall(__NR_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

static int kcm_socket(void)
{
	int fd = socket(AF_KCM, SOCK_DGRAM, KCMPROTO_CONNECTED);

	return fd < 0 ? -errno : fd;
}

/* SIOCKCMATTACH of @fd to @kcm with @prog: 0 or -errno. */
static int kcm_attach(int kcm, int fd, int prog)
{
	struct kcm_attach at = { .fd = fd, .bpf_fd = prog };

	return ioctl(kcm, SIOCKCMATTACH, &at) ? -errno : 0;
}

FIXTURE(kcm) {
	int kcm, prog;
	int app, wire;
	struct tl_child helper;
	bool have_helper;
};

FIXTURE_SETUP(kcm)
{
	self->have_helper = false;
	self->app = self->wire = -1;
	self->kcm = kcm_socket();
	if (self->kcm == -EAFNOSUPPORT)
		SKIP(return, "no AF_KCM in this kernel");
	ASSERT_LE(0, self->kcm) TH_LOG("KCM socket: %s", strerror(-self->kcm));
	self->prog = kcm_prog();
	ASSERT_LE(0, self->prog) TH_LOG("BPF program: %s", strerror(-self->prog));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->app, &self->wire));
}

FIXTURE_TEARDOWN(kcm)
{
	if (self->have_helper)
		tl_helper_reap(&self->helper);
	if (self->app >= 0) {
		close(self->app);
		close(self->wire);
	}
	if (self->kcm >= 0) {
		close(self->kcm);
		close(self->prog);
	}
}

/* The control: the same program and KCM socket take a plain TCP socket. */
TEST_F(kcm, plain_tcp_attaches)
{
	EXPECT_EQ(0, kcm_attach(self->kcm, self->app, self->prog));
}

/* Gated from the ULP attach on: before any request. */
TEST_F(kcm, refused_before_start)
{
	ASSERT_EQ(0, tl_ulp(self->app));
	EXPECT_EQ(-EALREADY, kcm_attach(self->kcm, self->app, self->prog));
}

/* While the helper runs the handshake, and once ready. */
TEST_F(kcm, refused_in_handshake_and_ready)
{
	struct tl_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_128, .hold = 1 };
	char buf[8];
	int v;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, tl_serve_fn, &s));
	self->have_helper = true;
	ASSERT_EQ(0, tl_ulp(self->app));
	ASSERT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, 10000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_ACCEPTED, 5000));
	/* Handshake bytes from the peer: KCM must not get to read them. */
	ASSERT_EQ(4, write(self->wire, "hs-1", 4));
	EXPECT_EQ(-EALREADY, kcm_attach(self->kcm, self->app, self->prog));
	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 5000));
	EXPECT_EQ(-EALREADY, kcm_attach(self->kcm, self->app, self->prog));
	/* The socket is still the application's: a send goes out. */
	EXPECT_EQ(1, send(self->app, "x", 1, 0));
	EXPECT_LT(0, tl_read_avail(self->wire, buf, sizeof(buf), 2000));
}

/* A socket KCM holds cannot take the atls ULP. */
TEST_F(kcm, ulp_refused_on_kcm_socket)
{
	ASSERT_EQ(0, kcm_attach(self->kcm, self->app, self->prog));
	EXPECT_EQ(-EBUSY, tl_ulp(self->app));
}

/*
 * Unprivileged (uid and gid 65534, no capabilities): whatever this kernel
 * lets such a caller do with KCM and BPF, an atls socket is not attached.
 * With kernel.unprivileged_bpf_disabled set (Debian's default) there is no
 * program to attach: BPF_PROG_LOAD fails with EPERM.
 */
TEST_F(kcm, unprivileged_caller)
{
	int st, ubpf = -1;
	FILE *f;
	pid_t pid;

	f = fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "r");
	if (f) {
		if (fscanf(f, "%d", &ubpf) != 1)
			ubpf = -1;
		fclose(f);
	}
	ASSERT_EQ(0, tl_ulp(self->app));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int kcm, prog, err;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		kcm = kcm_socket();
		prog = kcm_prog();
		fprintf(stderr, "# unprivileged: KCM socket %s, BPF program %s\n",
			kcm < 0 ? strerror(-kcm) : "ok",
			prog < 0 ? strerror(-prog) : "ok");
		if (ubpf > 0 && prog != -EPERM)
			_exit(11);
		if (kcm < 0 || prog < 0)
			_exit(0);
		err = kcm_attach(kcm, self->app, prog);
		fprintf(stderr, "# unprivileged: SIOCKCMATTACH %s\n",
			err ? strerror(-err) : "attached");
		_exit(err == -EALREADY ? 0 : 12);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

TEST_HARNESS_MAIN
