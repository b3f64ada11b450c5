// SPDX-License-Identifier: GPL-2.0
/*
 * Who may use which policy (VM_TESTS, both kernels): atlsd's "allow"
 * (Documentation/atls.conf.5.rst) decided on the identity atls.ko took at
 * ATLS_START (Documentation/netlink.rst, ACCEPT's APP_* attributes).
 *
 *  default_refuses_unprivileged
 *               uid 65534 (no groups) asks for "default": EACCES, reason
 *               NOT_AUTHORIZED in ATLS_STATUS, nothing reaches the peer, no
 *               TPM command, atlsd counts it (not_authorized) and logs why
 *  named_user_allowed
 *               the same uid is served by a policy whose allow names it
 *  cgroup_allowed_and_not
 *               a root process in cgroup /atls-ok is served by a policy that
 *               allows cgroup:/atls-ok only; one in /atls-no is refused
 *  uid_change_after_start_changes_nothing
 *               euid 65534 calls ATLS_START while atlsd is stopped, becomes
 *               root (setresuid) while the request is pending: still refused
 *
 * Each application runs in a child process (its own credentials and
 * cgroup); the parent is the server side (root, policy "unauthenticated").
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "net.h"
#include "sock.h"
#include "util.h"
#include "vm.h"

#define NOBODY 65534

FIXTURE(authz) {};
FIXTURE_SETUP(authz) {}
FIXTURE_TEARDOWN(authz) {}

/* What a child application saw. */
struct app_result {
	int stage;		/* 0 = got to the end; else where it stopped */
	int err;		/* ATLS_START's errno (0 = ready) */
	struct atls_status st;
};

struct app_args {
	int port;
	const char *policy;
	const char *cgroup;	/* move there first (NULL: stay) */
	bool drop;		/* become uid/gid 65534 without groups */
	bool regain;		/* drop with saved uid 0, start, then become root */
	int go[2];		/* regain: parent -> child, after the uid change */
	int told[2];		/* regain: child -> parent, uid changed */
};

static int child_app(struct app_args *a, struct app_result *r)
{
	int c;

	r->stage = 1;
	if (a->cgroup) {
		char path[300];
		FILE *f;

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.procs", a->cgroup);
		f = fopen(path, "w");
		if (!f)
			return -1;
		fprintf(f, "%d\n", (int)getpid());
		if (fclose(f))
			return -1;
	}
	r->stage = 2;
	if (a->drop || a->regain) {
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, a->regain ? 0 : NOBODY))
			return -1;
	}
	r->stage = 3;
	c = tl_connect_to("127.0.0.1", a->port, 10000);
	if (c < 0)
		return -1;
	r->stage = 4;
	if (!a->regain) {
		r->err = tl_atls(c, ATLS_ROLE_CLIENT, a->policy, 0);
	} else {
		char b = 0;

		r->err = tl_atls(c, ATLS_ROLE_CLIENT, a->policy, ATLS_START_F_NONBLOCK);
		if (r->err != EINPROGRESS)
			return -1;
		r->stage = 5;
		/* Root again, all three ids, while the request is pending. */
		if (setresuid(0, 0, 0) || geteuid() != 0)
			return -1;
		if (write(a->told[1], &b, 1) != 1 || read(a->go[0], &b, 1) != 1)
			return -1;
		r->stage = 6;
		tl_wait_state(c, ATLS_STATE_FAILED, 60000);
		r->err = 0;
	}
	r->stage = 7;
	if (tl_status(c, &r->st))
		return -1;
	if (a->regain)
		r->err = r->st.error;
	close(c);
	r->stage = 0;
	return 0;
}

/* Run the application in a child; its result through a pipe. */
static pid_t spawn_app(struct app_args *a, int *rfd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct app_result r;

		memset(&r, 0, sizeof(r));
		close(p[0]);
		child_app(a, &r);
		if (write(p[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

static int reap_app(pid_t pid, int rfd, struct app_result *r)
{
	ssize_t n = read(rfd, r, sizeof(*r));
	int ws = 0;

	close(rfd);
	waitpid(pid, &ws, 0);
	return n == sizeof(*r) ? 0 : -1;
}

/* The server side: accept one connection; serve it with "unauthenticated"
 * (serve) or check that not one byte arrives (refused client). */
struct srv {
	int l, err;
	bool serve;
	ssize_t got;		/* bytes that arrived (refused client) */
};

static void *server(void *arg)
{
	struct srv *s = arg;
	int fd = tl_accept(s->l, 60000);
	char buf[64];

	s->err = -1;
	if (fd < 0)
		return NULL;
	if (s->serve) {
		s->err = tl_atls(fd, ATLS_ROLE_SERVER, "unauthenticated", 0);
	} else {
		s->got = tl_read_avail(fd, buf, sizeof(buf), 3000);
		s->err = 0;
	}
	close(fd);
	return NULL;
}

/*
 * A counter once it stopped moving: atlsd warms the "default" policy's
 * contexts in the background after start (TPM reads), so the TPM count of a
 * fresh daemon settles a moment after its control socket answers.
 */
static long long settled_counter(const char *name)
{
	long long v = tl_atlsd_counter(name), w;
	int i;

	for (i = 0; i < 60; i++) {
		usleep(500 * 1000);
		w = tl_atlsd_counter(name);
		if (w == v)
			break;
		v = w;
	}
	return v;
}

/* One application (child) against the server thread; its result in r. */
static void one(struct __test_metadata *_metadata, struct app_args *a, bool serve,
		struct app_result *r, struct srv *s)
{
	pthread_t th;
	pid_t pid;
	int rfd;

	s->l = tl_listen_any(a->port);
	ASSERT_LE(0, s->l);
	s->serve = serve;
	ASSERT_EQ(0, pthread_create(&th, NULL, server, s));
	pid = spawn_app(a, &rfd);
	ASSERT_LT(0, pid);
	EXPECT_EQ(0, reap_app(pid, rfd, r));
	EXPECT_EQ(0, r->stage) TH_LOG("application stopped at stage %d", r->stage);
	pthread_join(th, NULL);
	close(s->l);
}

static void start_atlsd(struct __test_metadata *_metadata)
{
	ASSERT_EQ(0, tl_atlsd_start());
}

TEST_F_TIMEOUT(authz, default_refuses_unprivileged, 300)
{
	struct app_args a = { .port = 7701, .policy = "default", .drop = true };
	struct app_result r;
	struct srv s = { 0 };
	long long tpm0, na0;

	start_atlsd(_metadata);
	tpm0 = settled_counter("tpm_commands");
	na0 = tl_atlsd_counter("not_authorized");
	EXPECT_EQ(0, na0);
	one(_metadata, &a, false, &r, &s);
	EXPECT_EQ(EACCES, r.err) TH_LOG("ATLS_START: %s", strerror(r.err));
	EXPECT_EQ(ATLS_STATE_FAILED, r.st.state);
	EXPECT_EQ(EACCES, r.st.error);
	EXPECT_EQ(ATLS_REASON_NOT_AUTHORIZED, r.st.reason);
	EXPECT_EQ(0, s.err);
	EXPECT_GE(0, s.got) TH_LOG("%zd bytes reached the peer", s.got);
	EXPECT_EQ(na0 + 1, tl_atlsd_counter("not_authorized"));
	EXPECT_EQ(tpm0, tl_atlsd_counter("tpm_commands")) TH_LOG("TPM used for a refused request");
	EXPECT_EQ(0, tl_sh("grep -q 'euid 65534 .*may not use policy \"default\"' %s",
			   tl_vm.log)) TH_LOG("no refusal in %s", tl_vm.log);
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

TEST_F_TIMEOUT(authz, named_user_allowed, 300)
{
	struct app_args a = { .port = 7702, .policy = "for-nobody", .drop = true };
	struct app_result r;
	struct srv s = { 0 };

	start_atlsd(_metadata);
	one(_metadata, &a, true, &r, &s);
	EXPECT_EQ(0, r.err) TH_LOG("ATLS_START: %s, reason %u", strerror(r.err), r.st.reason);
	EXPECT_EQ(ATLS_STATE_READY, r.st.state);
	EXPECT_EQ(0, s.err) TH_LOG("server: %s", strerror(s.err));
	EXPECT_EQ(0, tl_atlsd_counter("not_authorized"));
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

/* cgroup v2 mounted at /sys/fs/cgroup (the VM's init may not have). */
static int cgroups(void)
{
	if (access("/sys/fs/cgroup/cgroup.procs", F_OK) &&
	    tl_sh("mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup"))
		return -1;
	return tl_sh("mkdir -p /sys/fs/cgroup/atls-ok /sys/fs/cgroup/atls-no");
}

TEST_F_TIMEOUT(authz, cgroup_allowed_and_not, 300)
{
	struct app_args in = { .port = 7703, .policy = "for-cgroup", .cgroup = "/atls-ok" };
	struct app_args out = { .port = 7704, .policy = "for-cgroup", .cgroup = "/atls-no" };
	struct app_result r;
	struct srv s = { 0 };

	ASSERT_EQ(0, cgroups());
	start_atlsd(_metadata);
	one(_metadata, &in, true, &r, &s);
	EXPECT_EQ(0, r.err) TH_LOG("in /atls-ok: %s, reason %u", strerror(r.err), r.st.reason);
	EXPECT_EQ(ATLS_STATE_READY, r.st.state);
	EXPECT_EQ(0, s.err);

	memset(&s, 0, sizeof(s));
	one(_metadata, &out, false, &r, &s);
	EXPECT_EQ(EACCES, r.err) TH_LOG("in /atls-no: %s", strerror(r.err));
	EXPECT_EQ(ATLS_REASON_NOT_AUTHORIZED, r.st.reason);
	EXPECT_GE(0, s.got);
	EXPECT_EQ(1, tl_atlsd_counter("not_authorized"));
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

TEST_F_TIMEOUT(authz, uid_change_after_start_changes_nothing, 300)
{
	struct app_args a = { .port = 7705, .policy = "default", .regain = true };
	struct app_result r;
	struct srv s = { .serve = false };
	pthread_t th;
	pid_t pid, d;
	int rfd;
	char b = 0;

	start_atlsd(_metadata);
	d = tl_atlsd_pid();
	ASSERT_LT(0, d);
	ASSERT_EQ(0, pipe(a.go));
	ASSERT_EQ(0, pipe(a.told));
	s.l = tl_listen_any(a.port);
	ASSERT_LE(0, s.l);
	ASSERT_EQ(0, pthread_create(&th, NULL, server, &s));
	/* atlsd stopped: the request stays pending in the kernel. */
	ASSERT_EQ(0, kill(d, SIGSTOP));
	pid = spawn_app(&a, &rfd);
	ASSERT_LT(0, pid);
	close(a.told[1]);	/* the child's: EOF if it stops early */
	close(a.go[0]);
	EXPECT_EQ(1, read(a.told[0], &b, 1)) TH_LOG("the application did not get to root");
	kill(d, SIGCONT);
	EXPECT_EQ(1, write(a.go[1], &b, 1));
	EXPECT_EQ(0, reap_app(pid, rfd, &r));
	EXPECT_EQ(0, r.stage) TH_LOG("application stopped at stage %d", r.stage);
	pthread_join(th, NULL);
	close(s.l);
	EXPECT_EQ(ATLS_STATE_FAILED, r.st.state);
	EXPECT_EQ(EACCES, r.err);
	EXPECT_EQ(ATLS_REASON_NOT_AUTHORIZED, r.st.reason);
	EXPECT_GE(0, s.got);
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

static void __attribute__((constructor)) order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

/* A provisioned state dir (software key: no TPM key needed per handshake)
 * and the configuration of the tests above. */
static int setup(void)
{
	const char *b, *d = tl_vm.dir;

	if (tl_vm_local_env("e2e-authz", "authz"))
		return -1;
	b = tl_vm.build;
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/authz.conf", d);
	setenv("ATLS_STATE_DIR", tl_path(d, "state"), 1);
	return tl_sh("%s/helperd/atlsctl provision --software >&2 && "
		     "printf '%%s\\n' 'key-mode = \"software\"; log-level = \"debug\";' "
		     "'policies = {' "
		     "'  for-nobody = { attest = false; verify-peer = \"none\"; "
		     "allow = [ \"user:65534\" ]; };' "
		     "'  for-cgroup = { attest = false; verify-peer = \"none\"; "
		     "allow = [ \"cgroup:/atls-ok\" ]; };' "
		     "'};' > %s", b, tl_vm.conf) ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (tl_vm_local_begin("authz", setup))
		return 1;
	return test_harness_run(argc, argv);
}
