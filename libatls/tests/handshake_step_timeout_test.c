// SPDX-License-Identifier: Apache-2.0
/*
 * Per-step handshake deadline (struct atls_handshake_opts.step_timeout_ms,
 * libatls/src/handshake.c run()): a peer that connects and stays silent is
 * dropped after the step timeout, with -ETIMEDOUT and reason timeout, long
 * before the overall timeout.  Without a step timeout the same handshake
 * runs to the overall timeout (control).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <atls/atls.h>

#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define STEP_MS 400
#define OVERALL_MS 5000

static long silent_server_handshake(struct __test_metadata *_metadata, int step_ms,
				    int timeout_ms, int *ret, struct atls_result *res)
{
	struct tl_side s;
	struct atls_ctx *ctx;
	struct atls_handshake_opts ho = { .step_timeout_ms = step_ms };
	int cli, srv;
	long t0, el;

	if (tl_side_provision(&s, "step")) {
		*ret = -1;
		return -1;
	}
	ctx = tl_side_ctx(&s, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, false, false);
	EXPECT_TRUE(ctx != NULL);
	EXPECT_EQ(0, tl_tcp_pair(AF_INET, &cli, &srv));
	/* The client end connects and never sends a ClientHello. */
	t0 = tl_now_ms();
	*ret = ctx ? atls_handshake_ex(ctx, srv, timeout_ms, &ho, res) : -1;
	el = tl_now_ms() - t0;
	close(cli);
	close(srv);
	atls_ctx_free(ctx);
	tl_side_free(&s);
	return el;
}

TEST(silent_peer_dropped_after_step_timeout)
{
	struct atls_result res;
	int ret;
	long el = silent_server_handshake(_metadata, STEP_MS, OVERALL_MS, &ret, &res);

	EXPECT_EQ(-ETIMEDOUT, ret);
	EXPECT_EQ(ATLS_REASON_TIMEOUT, res.reason);
	EXPECT_TRUE(strstr(res.reason_text, "step timeout") != NULL) TH_LOG("%s", res.reason_text);
	EXPECT_GE(el, STEP_MS - 50);
	EXPECT_LT(el, STEP_MS + 600) TH_LOG("dropped after %ld ms, step %d ms", el, STEP_MS);
	atls_result_release(&res);
}

/* Control: no step timeout, the overall one ends it. */
TEST(no_step_timeout_runs_to_overall)
{
	struct atls_result res;
	int ret;
	long el = silent_server_handshake(_metadata, 0, 1200, &ret, &res);

	EXPECT_EQ(-ETIMEDOUT, ret);
	EXPECT_EQ(ATLS_REASON_TIMEOUT, res.reason);
	EXPECT_GE(el, 1150);
	atls_result_release(&res);
}

TEST_HARNESS_MAIN
