// SPDX-License-Identifier: Apache-2.0
/*
 * TPM work is bounded by the handshake's deadline (libatls/src/tpm.c,
 * "Deadlines"), against a real swtpm slowed by the test seam
 * atls_tpm_set_delay() (Documentation/testing.rst, "Test seams").
 *
 *  - queued_request_gives_up: a request queued behind a slow one, with a
 *    deadline shorter than the slow one, returns -ETIMEDOUT at its deadline
 *    (not when the TPM gets to it), is not counted, and the queue still works.
 *  - handshakes_fail_on_time: HANDSHAKES attesting server handshakes share one
 *    TPM whose every request takes DELAY_MS; together they need far more TPM
 *    time than their timeout.  Each returns within its timeout plus one
 *    running request plus slack (BOUND_MS); those that could not get the TPM
 *    in time fail with -ETIMEDOUT and reason timeout (the first one starts
 *    alone and succeeds).  Before the deadline
 *    reached the TPM queue, the last of them returned after all the TPM work
 *    queued before it (about HANDSHAKES * 2 * DELAY_MS).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "kselftest_harness.h"
#include <atls/provision.h>
#include <atls/tpm.h>
#include <atls/atls.h>

#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"
#include "../src/tpm_int.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define MASK 0x83u

#define DELAY_MS 400
#define HANDSHAKES 6
#define TIMEOUT_MS 1500
/* timeout + one request already running on the TPM + scheduling slack */
#define BOUND_MS (TIMEOUT_MS + DELAY_MS + 600)

static int quote(struct atls_tpm *t)
{
	uint8_t qd[32], *a = NULL, *s = NULL;
	size_t alen, slen;
	int err;

	if (RAND_bytes(qd, sizeof(qd)) != 1)
		return -EIO;
	err = atls_tpm_quote(t, AK, qd, sizeof(qd), 0x0b, MASK, &a, &alen, &s, &slen);
	free(a);
	free(s);
	return err;
}

static int slow_quote(void *arg)
{
	return quote(arg);
}

TEST(queued_request_gives_up)
{
	struct tl_swtpm sw;
	struct atls_tpm *t;
	struct tl_thread th;
	unsigned long c0, c1;
	long t0, el;

	ASSERT_EQ(0, tl_swtpm_start(&sw));
	ASSERT_EQ(0, atls_tpm_open(sw.tcti, &t));
	ASSERT_EQ(0, atls_provision_ak(t, AK));
	ASSERT_EQ(0, atls_tpm_stats(t, &c0, NULL));
	ASSERT_EQ(0, atls_tpm_set_delay(t, 1000 * 1000));	/* 1 s per request */
	ASSERT_EQ(0, tl_spawn(&th, slow_quote, t));
	usleep(100 * 1000);	/* the slow request is on the worker now */

	t0 = tl_now_ms();
	atls_tpm_set_thread_deadline((unsigned long long)tl_now_us() + 200 * 1000);
	EXPECT_EQ(-ETIMEDOUT, quote(t));
	atls_tpm_set_thread_deadline(0);
	el = tl_now_ms() - t0;
	EXPECT_GE(el, 150);
	EXPECT_LT(el, 600) TH_LOG("gave up after %ld ms, deadline was 200 ms", el);

	EXPECT_EQ(0, tl_join(&th));
	/* The withdrawn request never ran: only the slow one counted. */
	ASSERT_EQ(0, atls_tpm_stats(t, &c1, NULL));
	EXPECT_EQ(c0 + 1, c1);
	/* The queue is intact: requests without a deadline still complete. */
	ASSERT_EQ(0, atls_tpm_set_delay(t, 0));
	EXPECT_EQ(0, quote(t));
	EXPECT_EQ(0, quote(t));
	ASSERT_EQ(0, atls_tpm_stats(t, &c1, NULL));
	EXPECT_EQ(c0 + 3, c1);
	atls_tpm_close(t);
	tl_swtpm_stop(&sw);
}

struct srv_job {
	struct atls_ctx *ctx;
	int fd;
	long elapsed_ms;
	struct atls_result res;
};

static int srv_main(void *arg)
{
	struct srv_job *j = arg;
	long t0 = tl_now_ms();
	int ret;

	ret = atls_handshake(j->ctx, j->fd, TIMEOUT_MS, &j->res);
	j->elapsed_ms = tl_now_ms() - t0;
	/* Let the client see the end at once. */
	shutdown(j->fd, SHUT_RDWR);
	return ret;
}

TEST(handshakes_fail_on_time)
{
	static struct srv_job sj[HANDSHAKES];
	static struct tl_hs ch[HANDSHAKES];
	struct tl_thread sth[HANDSHAKES], cth[HANDSHAKES];
	struct tl_side srv, cli;
	struct atls_config sc, cc;
	struct atls_ctx *sctx, *cctx;
	struct atls_tpm *stpm;
	int i, fds[HANDSHAKES][2], ok = 0, timed_out = 0, ret;

	ASSERT_EQ(0, tl_side_pair(&srv, &cli, "dsrv", "dcli"));
	ASSERT_EQ(0, atls_tpm_open(srv.sw.tcti, &stpm));
	/* Server: attests (software key: ReadPublic + Quote per handshake). */
	tl_side_config(&sc, &srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
	sc.tpm = stpm;
	sc.tcti = NULL;
	/* Client: no TPM, appraises the server's evidence. */
	tl_side_config(&cc, &cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));
	ASSERT_EQ(0, atls_tpm_set_delay(stpm, DELAY_MS * 1000));

	for (i = 0; i < HANDSHAKES; i++) {
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &fds[i][0], &fds[i][1]));
		sj[i] = (struct srv_job){ .ctx = sctx, .fd = fds[i][1] };
		ch[i] = (struct tl_hs){ .ctx = cctx, .fd = fds[i][0], .timeout_ms = 30000 };
		ASSERT_EQ(0, tl_spawn(&cth[i], tl_hs_main, &ch[i]));
		ASSERT_EQ(0, tl_spawn(&sth[i], srv_main, &sj[i]));
		/* The first one has the TPM to itself for 1.5 requests: it succeeds. */
		if (!i)
			usleep(DELAY_MS * 1500);
	}
	for (i = 0; i < HANDSHAKES; i++) {
		ret = tl_join(&sth[i]);
		tl_join(&cth[i]);
		EXPECT_LT(sj[i].elapsed_ms, BOUND_MS)
			TH_LOG("handshake %d returned %d after %ld ms (timeout %d ms)", i, ret,
			       sj[i].elapsed_ms, TIMEOUT_MS);
		if (!ret) {
			ok++;
		} else {
			EXPECT_EQ(-ETIMEDOUT, ret) TH_LOG("handshake %d: %s", i,
							  sj[i].res.reason_text);
			EXPECT_EQ(ATLS_REASON_TIMEOUT, sj[i].res.reason);
			timed_out++;
		}
		atls_result_release(&sj[i].res);
		atls_result_release(&ch[i].res);
		close(fds[i][0]);
		close(fds[i][1]);
	}
	/* A head start, then TPM time needed (2 * DELAY_MS each): both outcomes. */
	EXPECT_LT(0, ok);
	EXPECT_LT(0, timed_out);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
	atls_tpm_close(stpm);
	tl_side_free(&srv);
	tl_side_free(&cli);
}

TEST_HARNESS_MAIN
