// SPDX-License-Identifier: GPL-2.0
/*
 * A container with its own atlsd (VM_TESTS, every kernel): atlsd serves the
 * network namespace it runs in (Documentation/netlink.rst, "Namespaces and
 * caps"; atlsd(8)).  The real atls.ko, two real atlsd and the
 * VM's TPM; each case is one mutually attested loopback connection inside
 * the container.
 *
 *  netns_atlsd             a second atlsd in its own network namespace: a
 *                          START there is ESRCH before it runs, its
 *                          connection is served by it (its counters), the
 *                          initial namespace's atlsd sees nothing of it, and
 *                          once it is gone START there is ESRCH again
 *  unprivileged_container  the same in a user namespace that an
 *                          unprivileged user (uid 65534) made, as a
 *                          rootless container runtime does: atlsd runs as
 *                          the container's root (no capability outside
 *                          it) with a copy of the state that user owns and
 *                          the TPM the administrator passed in
 *
 * tl_vm describes "the" atlsd of testlib's calls: each case points it (and
 * ATLS_RUN_DIR, which atlsctl reads) at the inner atlsd while it runs, and
 * back at the initial namespace's to read that one's counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "net.h"
#include "sock.h"
#include "util.h"
#include "vm.h"

#define NOBODY 65534
#define TPM_DEV "/dev/tpmrm0"

/* Where testlib's atlsd calls point: its dir (pidfile, counters), config,
 * log, and the run dir atlsctl finds its control socket in. */
struct where {
	char dir[sizeof(tl_vm.dir)], conf[sizeof(tl_vm.conf)], log[sizeof(tl_vm.log)];
	char run[300];
};

static void where_save(struct where *w)
{
	const char *r = getenv("ATLS_RUN_DIR");

	memcpy(w->dir, tl_vm.dir, sizeof(w->dir));
	memcpy(w->conf, tl_vm.conf, sizeof(w->conf));
	memcpy(w->log, tl_vm.log, sizeof(w->log));
	snprintf(w->run, sizeof(w->run), "%s", r ? r : "");
}

static void where_use(const struct where *w)
{
	memcpy(tl_vm.dir, w->dir, sizeof(w->dir));
	memcpy(tl_vm.conf, w->conf, sizeof(w->conf));
	memcpy(tl_vm.log, w->log, sizeof(w->log));
	setenv("ATLS_RUN_DIR", w->run, 1);
}

/* An inner atlsd's place: dir (made here, owned by uid), run dir in it,
 * the outer's configuration copied, log in it. */
static int where_make(struct where *w, const struct where *outer, const char *dir, uid_t uid)
{
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snprintf(w->conf, sizeof(w->conf), "%s/atlsd.conf", dir);
	snprintf(w->log, sizeof(w->log), "%s/atlsd.log", dir);
	snprintf(w->run, sizeof(w->run), "%s/run", dir);
	return tl_sh("rm -rf '%s' && mkdir -m 0700 '%s' && cp '%s' '%s' && "
		     "chown -R %u:%u '%s'", dir, dir, outer->conf, w->conf,
		     (unsigned int)uid, (unsigned int)uid, dir);
}

/* ATLS_START as a client of a loopback pair here: its errno (0: ready). */
static int start_errno(void)
{
	int c, s, err;

	if (tl_tcp_pair(AF_INET, &c, &s))
		return -1;
	err = tl_atls(c, ATLS_ROLE_CLIENT, "default", 0);
	close(c);
	close(s);
	return err;
}

/*
 * In the container (the caller is in its namespaces; tl_vm points at it):
 * ESRCH without a helper, start atlsd, one connection it serves, stop it,
 * ESRCH again.  EXPECTs only: this runs in a child of the test (an ASSERT
 * would unwind into the test's own teardown).
 */
static void serve_inside(struct __test_metadata *_metadata, int port)
{
	struct tl_conn k = { .port = port, .policy = "default" };

	EXPECT_EQ(ESRCH, start_errno());
	EXPECT_EQ(0, tl_atlsd_start()) {
		TH_LOG("inner atlsd did not start, log %s", tl_vm.log);
		return;
	}
	EXPECT_EQ(0, tl_conn_run(&k));
	EXPECT_EQ(0, k.err_c) TH_LOG("client: %s", strerror(k.err_c));
	EXPECT_EQ(0, k.err_s) TH_LOG("server: %s", strerror(k.err_s));
	EXPECT_EQ(2, tl_atlsd_counter("succeeded")) TH_LOG("log %s", tl_vm.log);
	EXPECT_EQ(0, tl_atlsd_counter_in_last("failed"));
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
	EXPECT_EQ(ESRCH, start_errno());
}

/* The container's process ended with every EXPECT of it passed. */
static int contained(pid_t pid)
{
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

FIXTURE(container) {
	struct where outer;
	long long outer_accepted;
};

FIXTURE_SETUP(container)
{
	where_save(&self->outer);
	ASSERT_EQ(0, tl_atlsd_start()) TH_LOG("log %s", tl_vm.log);
	self->outer_accepted = tl_atlsd_counter("accepted");
	ASSERT_LE(0, self->outer_accepted);
}

/* The initial namespace's atlsd took no request of the container's. */
FIXTURE_TEARDOWN(container)
{
	where_use(&self->outer);
	EXPECT_EQ(self->outer_accepted, tl_atlsd_counter("accepted"));
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

TEST_F_TIMEOUT(container, netns_atlsd, 180)
{
	struct where in;
	char dir[300];
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/netns", self->outer.dir);
	ASSERT_EQ(0, where_make(&in, &self->outer, dir, 0));
	pid = fork();
	if (!pid) {
		EXPECT_EQ(0, tl_new_netns());
		if (_metadata->passed) {
			where_use(&in);
			serve_inside(_metadata, 7801);
		}
		_exit(_metadata->passed ? 0 : 1);
	}
	EXPECT_EQ(0, contained(pid));
}

/* This process's user namespace maps only its root to the caller's own
 * uid and gid (what an unprivileged user may write; setgroups denied
 * first).  0 or -errno. */
static int map_self(uid_t uid, gid_t gid)
{
	char m[64];
	int err;

	err = tl_write_file("/proc/self/setgroups", "deny", false);
	snprintf(m, sizeof(m), "0 %u 1", (unsigned int)uid);
	if (!err)
		err = tl_write_file("/proc/self/uid_map", m, false);
	snprintf(m, sizeof(m), "0 %u 1", (unsigned int)gid);
	if (!err)
		err = tl_write_file("/proc/self/gid_map", m, false);
	return err;
}

TEST_F_TIMEOUT(container, unprivileged_container, 180)
{
	char dir[300], state[400], secret[400];
	struct stat tpm;
	struct where in;
	pid_t pid;

	/*
	 * As root, the administrator's part: a directory the container's
	 * user owns, outside ours (0700: that user cannot cross it), with a
	 * copy of the state; the TPM passed in (its group; restored after).
	 */
	snprintf(dir, sizeof(dir), "/tmp/atls-container-%d", (int)getpid());
	snprintf(state, sizeof(state), "%s/state", dir);
	ASSERT_EQ(0, where_make(&in, &self->outer, dir, NOBODY));
	ASSERT_EQ(0, tl_sh("cp -r \"$ATLS_STATE_DIR\" '%s' && chown -R %u:%u '%s'",
			   state, NOBODY, NOBODY, state));
	/* The TPM keys' secret (atls.conf(5) key-secret) where the VM keeps
	 * one for every state dir: a copy the container's user owns. */
	snprintf(secret, sizeof(secret), "%s/key-secret", dir);
	if (getenv("ATLS_KEY_SECRET"))
		ASSERT_EQ(0, tl_sh("cp \"$ATLS_KEY_SECRET\" '%s' && chown %u:%u '%s' && "
				   "chmod 0600 '%s'", secret, NOBODY, NOBODY, secret, secret));
	ASSERT_EQ(0, stat(TPM_DEV, &tpm));
	ASSERT_EQ(0, chown(TPM_DEV, -1, NOBODY));
	ASSERT_EQ(0, chmod(TPM_DEV, (tpm.st_mode & 07777) | 0060));

	/* The container's user makes the namespaces, as a runtime does. */
	pid = fork();
	if (!pid) {
		EXPECT_EQ(0, tl_own_root());	/* not a chroot: see there */
		EXPECT_EQ(0, setgroups(0, NULL));
		EXPECT_EQ(0, setgid(NOBODY));
		EXPECT_EQ(0, setuid(NOBODY));
		/* A uid change made us undumpable: /proc/self would stay root's. */
		EXPECT_EQ(0, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
		EXPECT_EQ(0, unshare(CLONE_NEWUSER)) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(0, map_self(NOBODY, NOBODY));
		EXPECT_EQ(0, tl_new_netns());
		if (_metadata->passed) {
			EXPECT_EQ(0, getuid());		/* the container's root */
			setenv("ATLS_STATE_DIR", state, 1);
			if (getenv("ATLS_KEY_SECRET"))
				setenv("ATLS_KEY_SECRET", secret, 1);
			where_use(&in);
			serve_inside(_metadata, 7802);
		}
		_exit(_metadata->passed ? 0 : 1);
	}
	EXPECT_EQ(0, contained(pid)) TH_LOG("inner atlsd's log: %s", in.log);
	EXPECT_EQ(0, chown(TPM_DEV, -1, tpm.st_gid));
	EXPECT_EQ(0, chmod(TPM_DEV, tpm.st_mode & 07777));
}

static int setup(void)
{
	const char *d = tl_vm.dir;
	char state[400];

	if (tl_vm_local_env("e2e-container", "container"))
		return -1;
	snprintf(state, sizeof(state), "%s/state", d);
	setenv("ATLS_STATE_DIR", state, 1);
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/atlsd.conf", d);
	if (tl_vm_self_trusting("state", "exp", true))
		return -1;
	return tl_sh("printf 'key-mode = \"software\";\\nlog-burst = 0;\\n' > %s",
		     tl_vm.conf) ? -1 : 0;
}

int main(int argc, char **argv)
{
	if (tl_vm_local_begin("container", setup))
		return 1;
	return test_harness_run(argc, argv);
}
