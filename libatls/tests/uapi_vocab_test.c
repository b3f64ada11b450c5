// SPDX-License-Identifier: Apache-2.0
/*
 * One vocabulary: the uAPI header and libatls's public header meet in this
 * translation unit, and what libatls reports is a uAPI value as it is.
 *
 * Roles are the uAPI's (ATLS_ROLE_CLIENT = 1, ATLS_ROLE_SERVER = 2; the old
 * libatls client value 0 is refused); a failed handshake's reason goes into
 * the uAPI structures unconverted and keeps its stable name; a handshake the
 * peer ends (a real TLS alert record, or a close) is reported by code
 * (abort_reason = ATLS_REASON_PEER_ABORTED), one we end ourselves is not.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/atls.h>
#include <atls/atls.h>

#include "kselftest_harness.h"
#include "net.h"
#include "util.h"

/* Finer reasons never collide with the ones the kernel reports. */
_Static_assert(ATLS_REASON_NO_EVIDENCE >= __ATLS_REASON_MAX, "reason ranges overlap");

static struct atls_ctx *client_ctx(void)
{
	struct atls_config cfg;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&cfg, ATLS_ROLE_CLIENT);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	if (atls_ctx_new(&cfg, &ctx))
		return NULL;
	return ctx;
}

/*
 * A client handshake of at most timeout_ms against a peer that sends the n
 * bytes at peer, then nothing more: the handshake's return value, or -EIO
 * (which no test expects) if the set-up fails.
 */
static int client_against(const void *peer, size_t n, int timeout_ms, struct atls_result *res)
{
	struct atls_ctx *ctx = client_ctx();
	int cfd, sfd, ret = -EIO;

	if (!ctx)
		return -EIO;
	if (!tl_tcp_pair(AF_INET, &cfd, &sfd)) {
		if (send(sfd, peer, n, 0) == (ssize_t)n)
			ret = atls_handshake(ctx, cfd, timeout_ms, res);
		close(cfd);
		close(sfd);
	}
	atls_ctx_free(ctx);
	return ret;
}

TEST(roles_are_the_uapi_values)
{
	struct atls_start st = { .size = sizeof(st) };
	struct atls_config cfg;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&cfg, ATLS_ROLE_SERVER);
	EXPECT_EQ(2, cfg.role);
	st.role = cfg.role;	/* what an application hands the kernel */
	EXPECT_EQ(ATLS_ROLE_SERVER, st.role);
	atls_config_init(&cfg, ATLS_ROLE_CLIENT);
	EXPECT_EQ(1, cfg.role);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	ASSERT_EQ(0, atls_ctx_new(&cfg, &ctx));
	atls_ctx_free(ctx);
	/* 0 was libatls's client before; it is no role now. */
	cfg.role = 0;
	EXPECT_EQ(-EINVAL, atls_ctx_new(&cfg, &ctx));
}

TEST(reason_names_by_uapi_value)
{
	enum atls_reason r;

	EXPECT_STREQ("pcr-mismatch", atls_reason_name(13));
	EXPECT_EQ(13, ATLS_REASON_PCR_MISMATCH);
	EXPECT_STREQ("binder-mismatch", atls_reason_name(ATLS_REASON_FRESHNESS));
	EXPECT_STREQ("untrusted-ak", atls_reason_name(ATLS_REASON_AK_UNTRUSTED));
	EXPECT_STREQ("tls-failure", atls_reason_name(ATLS_REASON_HANDSHAKE));
	EXPECT_STREQ("peer-aborted", atls_reason_name(ATLS_REASON_PEER_ABORTED));
	for (r = ATLS_REASON_NONE; r < __ATLS_REASON_MAX; r++)
		EXPECT_STRNE("unknown", atls_reason_name(r));
}

/* The peer answers the ClientHello with a fatal handshake_failure alert. */
TEST(peer_alert_is_peer_aborted)
{
	static const unsigned char alert[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28 };
	struct atls_peer_info pi;
	struct atls_status st;
	struct atls_result res;

	EXPECT_EQ(-EPROTO, client_against(alert, sizeof(alert), 20000, &res));
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, res.reason) TH_LOG("%s", res.reason_text);
	EXPECT_EQ(ATLS_REASON_PEER_ABORTED, res.abort_reason);
	/* Into the uAPI structures and back, as atlsd's DONE carries them. */
	memset(&st, 0, sizeof(st));
	memset(&pi, 0, sizeof(pi));
	st.reason = res.abort_reason;
	pi.reason = res.reason;
	EXPECT_EQ(8, st.reason);
	EXPECT_STREQ("peer-aborted", atls_reason_name(st.reason));
	EXPECT_STREQ("tls-failure", atls_reason_name(pi.reason));
}

/* Reads the ClientHello, then resets the connection. */
static int reset_after_hello(void *arg)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int fd = *(int *)arg;
	char buf[512];

	if (recv(fd, buf, sizeof(buf), 0) <= 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}

TEST(peer_reset_is_peer_aborted)
{
	struct tl_thread t;
	struct atls_result res;
	struct atls_ctx *ctx = client_ctx();
	int cfd, sfd;

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
	ASSERT_EQ(0, tl_spawn(&t, reset_after_hello, &sfd));
	EXPECT_EQ(-ECONNRESET, atls_handshake(ctx, cfd, 20000, &res));
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, res.reason) TH_LOG("%s", res.reason_text);
	EXPECT_EQ(ATLS_REASON_PEER_ABORTED, res.abort_reason);
	EXPECT_EQ(0, tl_join(&t));
	close(cfd);
	atls_ctx_free(ctx);
}

/* Garbage from the peer is our protocol failure, not the peer ending it. */
TEST(peer_garbage_is_not_peer_aborted)
{
	static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
	struct atls_result res;

	EXPECT_EQ(-EPROTO, client_against(junk, strlen(junk), 20000, &res));
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, res.reason);
	EXPECT_EQ(ATLS_REASON_NONE, res.abort_reason) TH_LOG("%s", res.reason_text);
}

TEST(timeout_is_not_peer_aborted)
{
	struct atls_result res;

	EXPECT_EQ(-ETIMEDOUT, client_against("", 0, 200, &res));
	EXPECT_EQ(ATLS_REASON_TIMEOUT, res.reason);
	EXPECT_EQ(3, res.reason);
	EXPECT_EQ(ATLS_REASON_NONE, res.abort_reason);
}

TEST_HARNESS_MAIN
