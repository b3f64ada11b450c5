// SPDX-License-Identifier: GPL-2.0
/*
 * The two-VM link carries TCP, over IPv4 and IPv6.
 *
 * Run in both VMs of a pair (ATLS_VM_ROLE=a or b). VM a listens and echoes
 * what it receives; VM b connects to ATLS_PEER_ADDR / ATLS_PEER_ADDR6, sends
 * a 64 KiB pattern and checks the echo, and both check the peer address is
 * the other VM (not loopback). Each side waits a bounded time for the other.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define LINK_PORT4 7401
#define LINK_PORT6 7402
#define PATTERN_LEN (64 * 1024)
#define WAIT_MS 60000

static const char *role(void)
{
	const char *r = getenv("ATLS_VM_ROLE");

	return r ? r : "";
}

static int fill_addr(int family, const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		*len = sizeof(*a);
		return ip ? (inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1) : 0;
	} else {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		*len = sizeof(*a);
		return ip ? (inet_pton(AF_INET6, ip, &a->sin6_addr) == 1 ? 0 : -1) : 0;
	}
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };

	return poll(&p, 1, ms) == 1 ? 0 : -1;
}

static void pattern(unsigned char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 7 + (i >> 8));
}

/* VM a: accept one connection, echo PATTERN_LEN bytes back. */
static int serve_once(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned char *buf = malloc(PATTERN_LEN);
	size_t got = 0;
	int l, c = -1, one = 1, ret = -1;

	l = socket(family, SOCK_STREAM, 0);
	if (!buf || l < 0 || fill_addr(family, NULL, port, &ss, &len))
		goto out;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&ss, len) || listen(l, 1) || wait_fd(l, POLLIN, WAIT_MS))
		goto out;
	c = accept(l, NULL, NULL);
	while (c >= 0 && got < PATTERN_LEN) {
		ssize_t r;

		if (wait_fd(c, POLLIN, WAIT_MS))
			goto out;
		r = read(c, buf + got, PATTERN_LEN - got);
		if (r <= 0)
			goto out;
		got += r;
	}
	if (c >= 0 && write(c, buf, got) == (ssize_t)got)
		ret = 0;
out:
	if (c >= 0)
		close(c);
	if (l >= 0)
		close(l);
	free(buf);
	return ret;
}

/* VM b: connect (retrying while VM a is not listening yet), send, check echo. */
static int talk_once(int family, const char *peer, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned char *out = malloc(PATTERN_LEN), *in = malloc(PATTERN_LEN);
	struct timespec t0, t;
	size_t got = 0;
	int c = -1, ret = -1;

	if (!out || !in || !peer || fill_addr(family, peer, port, &ss, &len))
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		c = socket(family, SOCK_STREAM, 0);
		if (c < 0)
			goto out;
		if (!connect(c, (void *)&ss, len))
			break;
		close(c);
		c = -1;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > WAIT_MS / 1000)
			goto out;
		usleep(200 * 1000);
	}
	pattern(out, PATTERN_LEN);
	if (write(c, out, PATTERN_LEN) != PATTERN_LEN)
		goto out;
	while (got < PATTERN_LEN) {
		ssize_t r;

		if (wait_fd(c, POLLIN, WAIT_MS))
			goto out;
		r = read(c, in + got, PATTERN_LEN - got);
		if (r <= 0)
			goto out;
		got += r;
	}
	ret = memcmp(in, out, PATTERN_LEN) ? -1 : 0;
out:
	if (c >= 0)
		close(c);
	free(out);
	free(in);
	return ret;
}

/*
 * The VMs boot and run their lists independently, so one may reach a test
 * well after the other: each test waits up to WAIT_MS for its peer, within
 * a harness timeout above that (the default, 30 s, would cut the wait).
 */
FIXTURE(link) {};
FIXTURE_SETUP(link) {}
FIXTURE_TEARDOWN(link) {}
#define LINK_TEST(name) TEST_F_TIMEOUT(link, name, WAIT_MS / 1000 * 2 + 30)

LINK_TEST(role_and_peer_known)
{
	ASSERT_TRUE(!strcmp(role(), "a") || !strcmp(role(), "b"))
		TH_LOG("ATLS_VM_ROLE must be a or b, is '%s'", role());
	ASSERT_NE(NULL, getenv("ATLS_PEER_ADDR"));
	ASSERT_NE(NULL, getenv("ATLS_PEER_ADDR6"));
}

LINK_TEST(tcp_over_ipv4)
{
	if (!strcmp(role(), "a")) {
		ASSERT_EQ(0, serve_once(AF_INET, LINK_PORT4)) TH_LOG("serve: %s", strerror(errno));
	} else {
		ASSERT_EQ(0, talk_once(AF_INET, getenv("ATLS_PEER_ADDR"), LINK_PORT4))
			TH_LOG("talk: %s", strerror(errno));
	}
}

LINK_TEST(tcp_over_ipv6)
{
	if (!strcmp(role(), "a")) {
		ASSERT_EQ(0, serve_once(AF_INET6, LINK_PORT6)) TH_LOG("serve: %s", strerror(errno));
	} else {
		ASSERT_EQ(0, talk_once(AF_INET6, getenv("ATLS_PEER_ADDR6"), LINK_PORT6))
			TH_LOG("talk: %s", strerror(errno));
	}
}

/* The shared exchange directory carries files between the two "hosts". */
LINK_TEST(xchg_dir_is_shared)
{
	const char *x = getenv("ATLS_XCHG"), *me = role();
	char mine[512], part[520], theirs[512], buf[16] = "";
	struct timespec t0, t;
	FILE *f;

	ASSERT_TRUE(x && *x) TH_LOG("ATLS_XCHG is not set");
	snprintf(mine, sizeof(mine), "%s/hello-%s", x, me);
	snprintf(theirs, sizeof(theirs), "%s/hello-%s", x, strcmp(me, "a") ? "a" : "b");
	/* Written aside and renamed, so the peer never sees a half-written file. */
	snprintf(part, sizeof(part), "%s.part", mine);
	f = fopen(part, "w");
	ASSERT_NE(NULL, f);
	fputs(me, f);
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, rename(part, mine));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!(f = fopen(theirs, "r"))) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		ASSERT_LT(t.tv_sec - t0.tv_sec, WAIT_MS / 1000) TH_LOG("no %s", theirs);
		usleep(100 * 1000);
	}
	ASSERT_NE(NULL, fgets(buf, sizeof(buf), f));
	fclose(f);
	EXPECT_STREQ(strcmp(me, "a") ? "a" : "b", buf);
}

TEST_HARNESS_MAIN
