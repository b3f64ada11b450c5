// SPDX-License-Identifier: Apache-2.0
/*
 * How the batcher forms batches (libatls/src/batch.c, lead(); the rules in
 * Documentation/protocol.rst, "Batching"), against a real swtpm.
 *
 * Every assertion is about events and counts, never about elapsed time: the
 * TPM is made busy by a command of the test's own that blocks until the
 * test releases it, and the test waits for the batcher's counters (quoting,
 * leaves in the open batch) to reach a value before its next step.
 *
 *  - group_commit: while a batch is at the TPM, everything that arrives
 *    forms ONE next batch, however long the TPM takes and however short
 *    the window; the late leaves are never covered by the earlier quote
 *    (its root was fixed before they existed), and every proof verifies
 *    against its own binder only (freshness, protocol.rst).
 *  - lone_handshake_never_waits: one handshake at a time, idle TPM: each
 *    batch is closed by its own leader without sleeping once, so the added
 *    latency is the quote alone (the c=1 bound).
 *  - lone_handshakes_over_tls: the same through atls_handshake() over TCP.
 *  - stuck_handshake_bounded: a handshake in progress that never reaches
 *    its leaf holds a batch only until the window, then the batch is
 *    quoted without it.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "harness.h"
#include <atls/policy.h>
#include <atls/provision.h>
#include "../src/batch.h"
#include "../src/internal.h"
#include "../src/tpm_int.h"
#include <atls/atls.h>

#include "certs.h"
#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define NP 6

/* A TPM command of the test's own that holds the TPM until released. */
struct blocker {
	struct atls_tpm *tpm;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool entered, release;
};

static int block_fn(struct atls_tpm *t, void *arg)
{
	struct blocker *bl = arg;

	(void)t;
	pthread_mutex_lock(&bl->lock);
	bl->entered = true;
	pthread_cond_broadcast(&bl->cv);
	while (!bl->release)
		pthread_cond_wait(&bl->cv, &bl->lock);
	pthread_mutex_unlock(&bl->lock);
	return 0;
}

static int block_main(void *arg)
{
	struct blocker *bl = arg;

	return atls_tpm_call(bl->tpm, block_fn, bl);
}

/* One "handshake": enter, submit its binder, leave, all in its own thread
 * (as atls_handshake() does). */
struct prod {
	struct atls_batcher *b;
	uint8_t binder[32];
	uint8_t *out;
	size_t len;
	int ret;
};

static int prod_main(void *arg)
{
	struct prod *p = arg;

	atls_batcher_enter(p->b);
	p->ret = atls_batcher_produce(p->b, p->binder, sizeof(p->binder), &p->out, &p->len);
	atls_batcher_leave(p->b);
	return p->ret;
}

/* Wait (no time limit of its own: the harness's timeout is the bound) until
 * the batcher's counters satisfy what. */
enum until { QUOTING_1, OPEN_5 };

static void wait_for(struct atls_batcher *b, enum until what)
{
	struct atls_batch_stats st;

	for (;;) {
		atls_batcher_counters(b, &st);
		if (what == QUOTING_1 && st.quoting == 1)
			return;
		if (what == OPEN_5 && st.open_leaves == 5)
			return;
		usleep(1000);
	}
}

FIXTURE(form)
{
	struct tl_side srv, cli;
	struct atls_tpm *tpm;
	struct atls_policy *pol;
	struct atls_evidence_params ep;
	struct prod p[NP];
};

FIXTURE_SETUP(form)
{
	char err[256];

	ASSERT_EQ(0, tl_side_server_client(&self->srv, &self->cli, "fsrv", "fcli"));
	ASSERT_EQ(0, atls_policy_load(tl_path(self->cli.dir, "policy.conf"), &self->pol,
				      err, sizeof(err)));
	ASSERT_EQ(0, atls_tpm_open(self->srv.sw.tcti, &self->tpm));
	self->ep = (struct atls_evidence_params){
		.key_mode = ATLS_KEY_SOFTWARE,
		.ak_handle = AK,
		.pcr_bank_alg = 0x0B,
		.pcr_mask = 0xff,
	};
	memset(self->p, 0, sizeof(self->p));
}

FIXTURE_TEARDOWN(form)
{
	int i;

	for (i = 0; i < NP; i++)
		free(self->p[i].out);
	if (self->tpm)
		atls_tpm_close(self->tpm);
	if (self->pol)
		atls_policy_free(self->pol);
	tl_side_free(&self->srv);
	tl_side_free(&self->cli);
}

static int appraise(FIXTURE_DATA(form) * self, const struct prod *ev, const uint8_t *binder,
		    struct atls_appraisal *out)
{
	struct atls_claims cl;

	return atls_batch_appraise(NULL, self->pol, ATLS_ROLE_SERVER, ev->out, ev->len, binder,
				   32, NULL, 0, &cl, out);
}

TEST_F(form, group_commit)
{
	struct blocker bl = { .tpm = self->tpm };
	struct atls_batch_stats st;
	struct atls_batch_proof pr0, pr;
	struct tl_thread tb, th[NP];
	struct atls_appraisal a;
	struct atls_batcher *b;
	int i;

	pthread_mutex_init(&bl.lock, NULL);
	pthread_cond_init(&bl.cv, NULL);
	/* A window of 1 us: whatever batch 2 collects below, it collects
	 * because batch 1 is at the TPM, not because of the window. */
	ASSERT_EQ(0, atls_batcher_new(self->tpm, &self->ep, 1, 64, &b));
	for (i = 0; i < NP; i++) {
		memset(self->p[i].binder, 0x40 + i, 32);
		self->p[i].b = b;
	}
	/* The TPM is busy with someone else's command. */
	ASSERT_EQ(0, tl_spawn(&tb, block_main, &bl));
	pthread_mutex_lock(&bl.lock);
	while (!bl.entered)
		pthread_cond_wait(&bl.cv, &bl.lock);
	pthread_mutex_unlock(&bl.lock);

	/* Batch 1: one leaf, closed (its root fixed), queued behind it. */
	ASSERT_EQ(0, tl_spawn(&th[0], prod_main, &self->p[0]));
	wait_for(b, QUOTING_1);
	/* Five more arrive while batch 1 is at the TPM: one batch. */
	for (i = 1; i < NP; i++)
		ASSERT_EQ(0, tl_spawn(&th[i], prod_main, &self->p[i]));
	wait_for(b, OPEN_5);
	atls_batcher_counters(b, &st);
	EXPECT_EQ(0, st.batches);	/* nothing quoted yet: the TPM is held */
	EXPECT_EQ(1, st.quoting);

	pthread_mutex_lock(&bl.lock);
	bl.release = true;
	pthread_cond_broadcast(&bl.cv);
	pthread_mutex_unlock(&bl.lock);
	EXPECT_EQ(0, tl_join(&tb));
	for (i = 0; i < NP; i++)
		EXPECT_EQ(0, tl_join(&th[i]));

	atls_batcher_counters(b, &st);
	TH_LOG("%lu quotes for %lu leaves, largest %u", st.batches, st.leaves, st.largest);
	EXPECT_EQ(2, st.batches);
	EXPECT_EQ(NP, st.leaves);
	EXPECT_EQ(NP - 1, st.largest);

	/* Batch 1 covers p[0] alone; p[1..5] share batch 2's quote. */
	ASSERT_EQ(0, atls_batch_parse(self->p[0].out, self->p[0].len, &pr0));
	EXPECT_EQ(0, pr0.depth);
	for (i = 1; i < NP; i++) {
		ASSERT_EQ(0, atls_batch_parse(self->p[i].out, self->p[i].len, &pr));
		EXPECT_EQ(3, pr.depth);	/* 5 leaves: 8 slots */
		EXPECT_FALSE(pr.cmw_len == pr0.cmw_len && !memcmp(pr.cmw, pr0.cmw, pr.cmw_len));
	}
	/* Each proof verifies against its own binder ... */
	for (i = 0; i < NP; i++) {
		EXPECT_EQ(0, appraise(self, &self->p[i], self->p[i].binder, &a))
			TH_LOG("%d: %s", i, a.text);
		EXPECT_EQ(ATLS_EAR_AFFIRMING, a.status);
	}
	/* ... and a leaf that arrived after batch 1's root was fixed is not
	 * covered by batch 1's quote, nor p[0]'s by batch 2's. */
	for (i = 1; i < NP; i++) {
		EXPECT_EQ(-EKEYREJECTED, appraise(self, &self->p[0], self->p[i].binder, &a));
		EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
		EXPECT_EQ(-EKEYREJECTED, appraise(self, &self->p[i], self->p[0].binder, &a));
		EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
	}
	atls_batcher_free(b);
	pthread_cond_destroy(&bl.cv);
	pthread_mutex_destroy(&bl.lock);
}

TEST_F(form, lone_handshake_never_waits)
{
	struct atls_batch_stats st;
	struct atls_appraisal a;
	struct atls_batcher *b;
	struct tl_thread th;
	int i;

	/* The largest window: nothing below depends on it being short. */
	ASSERT_EQ(0, atls_batcher_new(self->tpm, &self->ep, ATLS_BATCH_WINDOW_US_MAX, 0, &b));
	for (i = 0; i < 3; i++) {
		memset(self->p[i].binder, 0x50 + i, 32);
		self->p[i].b = b;
		ASSERT_EQ(0, tl_spawn(&th, prod_main, &self->p[i]));
		EXPECT_EQ(0, tl_join(&th));
		EXPECT_EQ(0, appraise(self, &self->p[i], self->p[i].binder, &a)) TH_LOG("%s", a.text);
	}
	atls_batcher_counters(b, &st);
	EXPECT_EQ(3, st.batches);
	EXPECT_EQ(3, st.closed_all_in);
	EXPECT_EQ(0, st.closed_deadline);
	EXPECT_EQ(0, st.leader_waits);	/* no leader slept: the quote is all it added */
	EXPECT_GT(st.reach_us, 0);	/* measured from enter to produce */
	EXPECT_GT(st.quote_us, 0);
	atls_batcher_free(b);
}

TEST_F(form, stuck_handshake_bounded)
{
	struct atls_batch_stats st;
	struct atls_batcher *b;
	struct tl_thread th;

	ASSERT_EQ(0, atls_batcher_new(self->tpm, &self->ep, 2000, 0, &b));
	/* In progress, never submits (a peer that went quiet). */
	atls_batcher_enter(b);
	memset(self->p[0].binder, 0x60, 32);
	self->p[0].b = b;
	ASSERT_EQ(0, tl_spawn(&th, prod_main, &self->p[0]));
	EXPECT_EQ(0, tl_join(&th));
	atls_batcher_counters(b, &st);
	EXPECT_EQ(1, st.batches);
	EXPECT_EQ(1, st.closed_deadline);
	EXPECT_EQ(0, st.closed_all_in);
	atls_batcher_leave(b);
	atls_batcher_free(b);
}

/* ------------------------------------------------------- over TLS */

struct hs {
	struct atls_ctx *ctx;
	int fd;
	struct atls_result res;
	int ret;
};

static int hs_main(void *arg)
{
	struct hs *h = arg;

	h->ret = atls_handshake(h->ctx, h->fd, 20000, &h->res);
	return 0;
}

TEST_F(form, lone_handshakes_over_tls)
{
	struct atls_ctx *sctx, *cctx;
	struct atls_config sc, cc;
	struct atls_batch_stats st;
	int i;

	tl_side_config(&sc, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
	tl_side_config(&cc, &self->cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
	sc.batch = cc.batch = true;	/* the library's defaults otherwise */
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));
	ASSERT_NE(NULL, sctx->batcher);
	for (i = 0; i < 3; i++) {
		struct hs s = { .ctx = sctx }, c = { .ctx = cctx };
		struct tl_thread ts, tc;

		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &c.fd, &s.fd));
		ASSERT_EQ(0, tl_spawn(&ts, hs_main, &s));
		ASSERT_EQ(0, tl_spawn(&tc, hs_main, &c));
		tl_join(&ts);
		tl_join(&tc);
		EXPECT_EQ(0, s.ret) TH_LOG("server: %s", s.res.reason_text);
		EXPECT_EQ(0, c.ret) TH_LOG("client: %s", c.res.reason_text);
		EXPECT_TRUE(c.res.peer_batched);
		atls_result_release(&s.res);
		atls_result_release(&c.res);
		close(s.fd);
		close(c.fd);
	}
	atls_batcher_counters(sctx->batcher, &st);
	EXPECT_EQ(3, st.batches);
	EXPECT_EQ(3, st.closed_all_in);
	EXPECT_EQ(0, st.leader_waits);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_HARNESS_MAIN
