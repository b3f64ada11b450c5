// SPDX-License-Identifier: Apache-2.0
/*
 * libatls never changes the file status flags of the socket it runs a
 * handshake on.  atlsd's socket is the application's own open file (the
 * kernel installs the same struct file in atlsd's table), so a flag libatls
 * set would be the application's too: a blocking recv() of the application
 * would return EAGAIN during the handshake, and a flag the application set
 * meanwhile would be overwritten when libatls restored its own copy.
 *
 * Here the "application" holds a dup() of the socket (the same open file)
 * while another thread runs a handshake on it against a peer that stays
 * silent until the handshake times out.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atls/atls.h>

#include "kselftest_harness.h"
#include "net.h"
#include "util.h"

#define HS_TIMEOUT_MS 600

struct hs {
	struct atls_ctx *ctx;
	int fd;
	struct atls_result res;
};

static int run_hs(void *arg)
{
	struct hs *h = arg;

	return atls_handshake(h->ctx, h->fd, HS_TIMEOUT_MS, &h->res);
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

FIXTURE(flags)
{
	struct tl_thread t;
	struct hs h;
	int sfd, appfd;
};

FIXTURE_SETUP(flags)
{
	struct atls_config cfg;

	atls_config_init(&cfg, ATLS_ROLE_CLIENT);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	ASSERT_EQ(0, atls_ctx_new(&cfg, &self->h.ctx));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->h.fd, &self->sfd));
	self->appfd = dup(self->h.fd);
	ASSERT_LE(0, self->appfd);
	ASSERT_EQ(0, fcntl(self->appfd, F_GETFL) & O_NONBLOCK);
	ASSERT_EQ(0, tl_spawn(&self->t, run_hs, &self->h));
	sleep_ms(50);	/* the ClientHello is out, libatls waits for the peer */
}

FIXTURE_TEARDOWN(flags)
{
	close(self->appfd);
	close(self->h.fd);
	close(self->sfd);
	atls_ctx_free(self->h.ctx);
}

/* The open file stays blocking for the whole handshake. */
TEST_F(flags, not_changed_during_handshake)
{
	long long end = now_ms() + HS_TIMEOUT_MS - 150;
	int seen = 0;

	while (now_ms() < end) {
		seen |= fcntl(self->appfd, F_GETFL) & O_NONBLOCK;
		sleep_ms(5);
	}
	EXPECT_EQ(-ETIMEDOUT, tl_join(&self->t));
	EXPECT_EQ(0, seen);
	EXPECT_EQ(0, fcntl(self->appfd, F_GETFL) & O_NONBLOCK);
}

/* A blocking recv() of the application blocks (here up to SO_RCVTIMEO). */
TEST_F(flags, app_recv_still_blocks)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	long long t0;
	char c;

	ASSERT_EQ(0, setsockopt(self->appfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	t0 = now_ms();
	EXPECT_EQ(-1, recv(self->appfd, &c, 1, MSG_PEEK));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_LE(150, now_ms() - t0);	/* waited: not an immediate EAGAIN */
	EXPECT_EQ(-ETIMEDOUT, tl_join(&self->t));
}

/* What the application sets meanwhile is still set afterwards. */
TEST_F(flags, app_fcntl_during_handshake_kept)
{
	int fl = fcntl(self->appfd, F_GETFL);

	ASSERT_LE(0, fl);
	ASSERT_EQ(0, fcntl(self->appfd, F_SETFL, fl | O_NONBLOCK));
	EXPECT_EQ(-ETIMEDOUT, tl_join(&self->t));
	EXPECT_NE(0, fcntl(self->appfd, F_GETFL) & O_NONBLOCK);
}

TEST_HARNESS_MAIN
