// SPDX-License-Identifier: Apache-2.0
/*
 * atls-run on the host (no atls.ko needed): the rules file parser and
 * matcher, and what the launcher refuses before it runs anything.
 *
 *  parse_ok / parse_errors    every rule form; every malformed line refused
 *                             with its line number
 *  match                      listen by port or "*", connect by IPv4, IPv6,
 *                             IPv4-mapped and "*" address, first rule wins
 *  refuses_static / refuses_setuid / refuses_bad_rules
 *                             exit 126 / 126 / 2 with a message, the program
 *                             never runs
 *  runs_dynamic               a dynamic program runs with the library
 *                             preloaded, the rules path exported and io_uring
 *                             off (seccomp filter, no_new_privs)
 *  listen_fails_closed        without atls.ko (the host), a listen() on a
 *                             rule's port fails and the port is not served
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "util.h"
#include "../rules.h"

static char dir[] = "/tmp/atls-run-test.XXXXXX";
static const char *build;

static const char *write_rules(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

TEST(parse_ok)
{
	struct atls_run_rules r;
	char err[256];
	const char *p = write_rules("ok.conf",
		"# comment\n\n"
		"listen 8080 policy=web timeout=5000   # trailing comment\n"
		"listen *\n"
		"connect 10.0.0.2:443 policy=db peer=db.example\n"
		"connect [fd00::2]:8443\n"
		"connect *:5432 timeout=120000\n");

	ASSERT_EQ(0, atls_run_parse(p, &r, err, sizeof(err))) TH_LOG("%s", err);
	ASSERT_EQ(5, r.n);
	EXPECT_EQ(ATLS_RUN_LISTEN, r.r[0].kind);
	EXPECT_EQ(8080, r.r[0].port);
	EXPECT_STREQ("web", r.r[0].policy);
	EXPECT_EQ(5000, r.r[0].timeout_ms);
	EXPECT_EQ(3, r.r[0].line);
	EXPECT_EQ(0, r.r[1].port);
	EXPECT_STREQ("default", r.r[1].policy);
	EXPECT_EQ(ATLS_RUN_CONNECT, r.r[2].kind);
	EXPECT_EQ(AF_INET, r.r[2].family);
	EXPECT_EQ(443, r.r[2].port);
	EXPECT_STREQ("db.example", r.r[2].peer);
	EXPECT_EQ(AF_INET6, r.r[3].family);
	EXPECT_TRUE(r.r[4].any_addr);
	EXPECT_EQ(120000, r.r[4].timeout_ms);
}

TEST(parse_errors)
{
	static const char *const bad[] = {
		"listen\n", "listen 0\n", "listen 65536\n", "listen 80x\n",
		"listen 80 policy=\n", "listen 80 peer=x\n", "listen 80 bogus=1\n",
		"listen 80 timeout=0\n", "listen 80 timeout=120001\n",
		"connect 10.0.0.1\n", "connect 10.0.0.1:\n", "connect 10.0.0.300:80\n",
		"connect fd00::1:80\n", "connect [fd00::1]80\n", "accept 80\n",
		"listen 80 policy=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	};
	struct atls_run_rules r;
	char err[256];
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];

		snprintf(text, sizeof(text), "# line 1\n%s", bad[i]);
		EXPECT_EQ(-1, atls_run_parse(write_rules("bad.conf", text), &r, err,
					     sizeof(err))) TH_LOG("accepted: %s", bad[i]);
		EXPECT_TRUE(strstr(err, "bad.conf:2:") != NULL) TH_LOG("%s", err);
	}
	EXPECT_EQ(-1, atls_run_parse("/nonexistent/rules", &r, err, sizeof(err)));
}

TEST(match)
{
	struct atls_run_rules r;
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	const struct atls_run_rule *m;
	char err[256];

	ASSERT_EQ(0, atls_run_parse(write_rules("m.conf",
		"listen 8080 policy=a\nlisten * policy=b\n"
		"connect 10.0.0.2:443 policy=c\nconnect [fd00::2]:443 policy=d\n"
		"connect *:443 policy=e\n"), &r, err, sizeof(err)));
	a4.sin_port = htons(8080);
	m = atls_run_match(&r, ATLS_RUN_LISTEN, (void *)&a4, sizeof(a4));
	ASSERT_TRUE(m != NULL);
	EXPECT_STREQ("a", m->policy);
	a6.sin6_port = htons(9090);
	m = atls_run_match(&r, ATLS_RUN_LISTEN, (void *)&a6, sizeof(a6));
	ASSERT_TRUE(m != NULL);
	EXPECT_STREQ("b", m->policy);
	inet_pton(AF_INET, "10.0.0.2", &a4.sin_addr);
	a4.sin_port = htons(443);
	m = atls_run_match(&r, ATLS_RUN_CONNECT, (void *)&a4, sizeof(a4));
	ASSERT_TRUE(m != NULL);
	EXPECT_STREQ("c", m->policy);
	inet_pton(AF_INET6, "::ffff:10.0.0.2", &a6.sin6_addr);
	a6.sin6_port = htons(443);
	m = atls_run_match(&r, ATLS_RUN_CONNECT, (void *)&a6, sizeof(a6));
	ASSERT_TRUE(m != NULL);
	EXPECT_STREQ("c", m->policy);
	inet_pton(AF_INET6, "fd00::2", &a6.sin6_addr);
	m = atls_run_match(&r, ATLS_RUN_CONNECT, (void *)&a6, sizeof(a6));
	ASSERT_TRUE(m != NULL);
	EXPECT_STREQ("d", m->policy);
	inet_pton(AF_INET, "192.0.2.1", &a4.sin_addr);
	m = atls_run_match(&r, ATLS_RUN_CONNECT, (void *)&a4, sizeof(a4));
	ASSERT_TRUE(m != NULL);
	EXPECT_STREQ("e", m->policy);
	a4.sin_port = htons(80);
	EXPECT_TRUE(atls_run_match(&r, ATLS_RUN_CONNECT, (void *)&a4, sizeof(a4)) == NULL);
	EXPECT_TRUE(atls_run_match(&r, ATLS_RUN_CONNECT, (void *)&a4, 4) == NULL);
}

TEST(refuses_static)
{
	write_rules("r.conf", "listen 8080\n");
	/* busybox-static is a build dependency (VM initramfs). */
	EXPECT_EQ(126, tl_sh("%s/run/atls-run --config %s/r.conf /bin/busybox "
			  "touch %s/ran 2> %s/err", build, dir, dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q 'statically linked' %s/err", dir));
	EXPECT_NE(0, tl_sh("test -e %s/ran", dir));
}

TEST(refuses_setuid)
{
	write_rules("r.conf", "listen 8080\n");
	EXPECT_EQ(0, tl_sh("cp /bin/true %s/suid && chmod 4755 %s/suid", dir, dir));
	EXPECT_EQ(126, tl_sh("%s/run/atls-run --config %s/r.conf %s/suid 2> %s/err",
			  build, dir, dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q 'setuid or setgid' %s/err", dir));
}

TEST(refuses_bad_rules)
{
	write_rules("bad.conf", "listen 80 polcy=x\n");
	EXPECT_EQ(2, tl_sh("%s/run/atls-run --config %s/bad.conf touch %s/ran2 2> %s/err",
			build, dir, dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q 'bad.conf:1: bad option' %s/err", dir));
	EXPECT_NE(0, tl_sh("test -e %s/ran2", dir));
	EXPECT_EQ(2, tl_sh("%s/run/atls-run --config %s/none.conf true 2>/dev/null", build, dir));
	EXPECT_EQ(2, tl_sh("%s/run/atls-run 2>/dev/null", build));
}

TEST(runs_dynamic)
{
	write_rules("r.conf", "listen 8080\n");
	EXPECT_EQ(0, tl_sh("%s/run/atls-run --config %s/r.conf sh -c "
			"'echo \"$LD_PRELOAD|$ATLS_RUN_CONFIG\"; grep -E \"^(Seccomp|NoNewPrivs):\" "
			"/proc/self/status' > %s/out", build, dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q 'libatls-run.so|%s/r.conf' %s/out", dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q 'Seccomp:.*2' %s/out && grep -q 'NoNewPrivs:.*1' %s/out",
			dir, dir));
	EXPECT_EQ(0, tl_sh("test \"$(%s/run/atls-run --config %s/r.conf python3 -c "
			"'import ctypes,errno; l=ctypes.CDLL(None,use_errno=True); "
			"r=l.syscall(425,8,ctypes.c_void_p(0)); print(r, ctypes.get_errno())')\" "
			"= \"-1 %d\"", build, dir, ENOSYS));
}

TEST(listen_fails_closed)
{
	/* The host has no atls.ko: the rule's port cannot be made attested. */
	write_rules("r.conf", "listen 18080\n");
	EXPECT_EQ(0, tl_sh("%s/run/atls-run --config %s/r.conf python3 -c "
			"'import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, "
			"socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", 18080)); "
			"exec(\"try: s.listen(); print(\\\"served\\\")\\nexcept OSError as e: "
			"print(\\\"refused\\\", e.errno)\")' > %s/out 2> %s/err", build, dir,
			dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q '^refused' %s/out", dir));
	EXPECT_EQ(0, tl_sh("grep -q 'cannot make an attested listener' %s/err", dir));
	/* A port without a rule is served as usual. */
	EXPECT_EQ(0, tl_sh("%s/run/atls-run --config %s/r.conf python3 -c "
			"'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); "
			"s.listen(); print(\"served\")' > %s/out", build, dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q '^served' %s/out", dir));
}

static void __attribute__((constructor)) setup(void)
{
	build = getenv("B");	/* the runner exports it */
	if (!build)
		build = "build";
	if (!mkdtemp(dir))
		abort();
}

static void __attribute__((destructor)) cleanup(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		return;
}

TEST_HARNESS_MAIN
