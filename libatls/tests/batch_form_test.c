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
 *  - stalled_peers_never_waited_for: over TCP, two server handshakes whose
 *    peers send nothing or a partial ClientHello (they wait for their peer)
 *    while a third handshake gets its quote: its batch is closed at once
 *    (closed_all_in, no deadline close, no leader sleep), the same as with
 *    no stalled peer at all.  On a batcher that waited for every handshake
 *    in progress, it would wait for the window.
 *  - member_gives_up_at_its_deadline: the TPM held; a batch's leader whose
 *    TPM deadline passes while its batch waits returns -ETIMEDOUT at once;
 *    another member takes the batch over and gets a valid quote after the
 *    TPM is released.
 *  - batched_quote_withdrawn_at_deadline: the TPM held; a batch whose only
 *    member's deadline passes is never quoted: the member gets -ETIMEDOUT
 *    while the TPM is still held, and no TPM command runs for it after.
 *  - batched_evidence_only: a server handshake with
 *    atls_handshake_opts.batched_evidence_only refuses a client that asks
 *    for its evidence without offering the batched scheme (reason
 *    evidence-type-rejected, no TPM command), and serves one that offers
 *    it with a batched quote.
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
#include "batch_tl.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define NP 6

/* Wait (no time limit of its own: the harness's timeout is the bound) until
 * the batcher's counters satisfy what. */
enum until { QUOTING_1, OPEN_1, OPEN_2, OPEN_5, TWO_WAIT_FOR_PEER };

static void wait_for(struct atls_batcher *b, enum until what)
{
	struct atls_batch_stats st;

	for (;;) {
		atls_batcher_counters(b, &st);
		if (what == QUOTING_1 && st.quoting == 1)
			return;
		if (what == OPEN_5 && st.open_leaves == 5)
			return;
		if (what == OPEN_1 && st.open_leaves == 1)
			return;
		if (what == OPEN_2 && st.open_leaves == 2)
			return;
		/* Two handshakes in progress, neither on its way to its leaf. */
		if (what == TWO_WAIT_FOR_PEER && st.inflight == 2 && st.on_way == 0 &&
		    st.peer_waits >= 2)
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
	struct tl_prod p[NP];
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

static int appraise(FIXTURE_DATA(form) * self, const struct tl_prod *ev, const uint8_t *binder,
		    struct atls_appraisal *out)
{
	struct atls_claims cl;

	return atls_batch_appraise(NULL, self->pol, ATLS_ROLE_SERVER, ev->out, ev->len, binder,
				   32, NULL, 0, &cl, out);
}

TEST_F(form, group_commit)
{
	struct tl_tpm_hold bl = { .tpm = self->tpm };
	struct atls_batch_stats st;
	struct atls_batch_proof pr0, pr;
	struct tl_thread tb, th[NP];
	struct atls_appraisal a;
	struct atls_batcher *b;
	int i;

	/* A window of 1 us: whatever batch 2 collects below, it collects
	 * because batch 1 is at the TPM, not because of the window. */
	ASSERT_EQ(0, atls_batcher_new(self->tpm, &self->ep, 1, 64, &b));
	for (i = 0; i < NP; i++) {
		memset(self->p[i].binder, 0x40 + i, 32);
		self->p[i].b = b;
	}
	/* The TPM is busy with someone else's command. */
	tl_tpm_hold(&bl, &tb);

	/* Batch 1: one leaf, closed (its root fixed), queued behind it. */
	ASSERT_EQ(0, tl_spawn(&th[0], tl_prod_main, &self->p[0]));
	wait_for(b, QUOTING_1);
	/* Five more arrive while batch 1 is at the TPM: one batch. */
	for (i = 1; i < NP; i++)
		ASSERT_EQ(0, tl_spawn(&th[i], tl_prod_main, &self->p[i]));
	wait_for(b, OPEN_5);
	atls_batcher_counters(b, &st);
	EXPECT_EQ(0, st.batches);	/* nothing quoted yet: the TPM is held */
	EXPECT_EQ(1, st.quoting);

	EXPECT_EQ(0, tl_tpm_release(&bl, &tb));
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
		ASSERT_EQ(0, tl_spawn(&th, tl_prod_main, &self->p[i]));
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
	ASSERT_EQ(0, tl_spawn(&th, tl_prod_main, &self->p[0]));
	EXPECT_EQ(0, tl_join(&th));
	atls_batcher_counters(b, &st);
	EXPECT_EQ(1, st.batches);
	EXPECT_EQ(1, st.closed_deadline);
	EXPECT_EQ(0, st.closed_all_in);
	atls_batcher_leave(b);
	atls_batcher_free(b);
}

TEST_F(form, member_gives_up_at_its_deadline)
{
	struct tl_tpm_hold bl = { .tpm = self->tpm };
	struct atls_batch_stats st;
	struct tl_thread tb, th[3];
	struct atls_appraisal a;
	struct atls_batcher *b;
	int i;

	ASSERT_EQ(0, atls_batcher_new(self->tpm, &self->ep, 1, 64, &b));
	for (i = 0; i < 3; i++) {
		memset(self->p[i].binder, 0x70 + i, 32);
		self->p[i].b = b;
	}
	self->p[1].deadline_ms = 1000;	/* A: leads batch 2, gives up */
	tl_tpm_hold(&bl, &tb);
	/* Batch 1 (p[0], no deadline) at the TPM; batch 2 collects behind it. */
	ASSERT_EQ(0, tl_spawn(&th[0], tl_prod_main, &self->p[0]));
	wait_for(b, QUOTING_1);
	ASSERT_EQ(0, tl_spawn(&th[1], tl_prod_main, &self->p[1]));
	wait_for(b, OPEN_1);
	ASSERT_EQ(0, tl_spawn(&th[2], tl_prod_main, &self->p[2]));	/* B: no deadline */
	/* A returns at its deadline while the TPM is still held. */
	EXPECT_EQ(-ETIMEDOUT, tl_join(&th[1]));
	atls_batcher_counters(b, &st);
	EXPECT_EQ(1, st.timed_out);
	EXPECT_EQ(0, st.batches);
	EXPECT_EQ(0, tl_tpm_release(&bl, &tb));
	EXPECT_EQ(0, tl_join(&th[0]));
	EXPECT_EQ(0, tl_join(&th[2]));	/* B took batch 2 over */
	atls_batcher_counters(b, &st);
	TH_LOG("%lu quotes, %lu leaves, %lu abandoned", st.batches, st.leaves, st.abandoned);
	EXPECT_EQ(2, st.batches);
	EXPECT_EQ(1, st.timed_out);
	EXPECT_EQ(0, appraise(self, &self->p[2], self->p[2].binder, &a)) TH_LOG("%s", a.text);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, a.status);
	EXPECT_EQ(0, appraise(self, &self->p[0], self->p[0].binder, &a)) TH_LOG("%s", a.text);
	atls_batcher_free(b);
}

TEST_F(form, batched_quote_withdrawn_at_deadline)
{
	struct tl_tpm_hold bl = { .tpm = self->tpm };
	unsigned long calls0, calls1;
	struct atls_batch_stats st;
	struct tl_thread tb, th;
	struct atls_batcher *b;

	ASSERT_EQ(0, atls_batcher_new(self->tpm, &self->ep, 1, 64, &b));
	memset(self->p[0].binder, 0x78, 32);
	self->p[0].b = b;
	self->p[0].deadline_ms = 2000;
	tl_tpm_hold(&bl, &tb);
	ASSERT_EQ(0, atls_tpm_stats(self->tpm, &calls0, NULL));
	ASSERT_EQ(0, tl_spawn(&th, tl_prod_main, &self->p[0]));
	/* Its quote (or the AK read before it) queued behind the held TPM is
	 * withdrawn at the deadline: the member returns while the TPM is held. */
	EXPECT_EQ(-ETIMEDOUT, tl_join(&th));
	EXPECT_EQ(0, tl_tpm_release(&bl, &tb));
	ASSERT_EQ(0, atls_tpm_stats(self->tpm, &calls1, NULL));
	atls_batcher_counters(b, &st);
	TH_LOG("quotes %lu, timed out %lu, abandoned %lu, TPM calls %lu", st.batches,
	       st.timed_out, st.abandoned, calls1 - calls0);
	EXPECT_EQ(0, st.batches);
	EXPECT_EQ(1, calls1 - calls0);	/* the blocker's own: nothing ran for the batch */
	EXPECT_EQ(0, st.quoting);
	EXPECT_EQ(0, st.open_leaves);
	atls_batcher_free(b);
}

/* ------------------------------------------------------- over TLS */

#define HS_MS 20000

/* Both handshakes succeeded, the client's with a batched quote. */
static void expect_batched(struct __test_metadata *_metadata, const struct tl_hs *s,
			   const struct tl_hs *c)
{
	EXPECT_EQ(0, s->ret) TH_LOG("server: %s", s->res.reason_text);
	EXPECT_EQ(0, c->ret) TH_LOG("client: %s", c->res.reason_text);
	EXPECT_TRUE(c->res.peer_batched);
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
		struct tl_hs s = { .ctx = sctx, .timeout_ms = HS_MS };
		struct tl_hs c = { .ctx = cctx, .timeout_ms = HS_MS };

		ASSERT_EQ(0, tl_hs_pair(&s, &c));
		expect_batched(_metadata, &s, &c);
		tl_hs_end(&s);
		tl_hs_end(&c);
	}
	atls_batcher_counters(sctx->batcher, &st);
	EXPECT_EQ(3, st.batches);
	EXPECT_EQ(3, st.closed_all_in);
	EXPECT_EQ(0, st.leader_waits);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_F(form, batched_evidence_only)
{
	static const struct atls_handshake_opts o = { .batched_evidence_only = true };
	struct atls_ctx *sctx, *solo, *batching;
	struct atls_config sc, cc;
	unsigned long calls0, calls1;
	int round;

	tl_side_config(&sc, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
	sc.batch = true;
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	tl_side_config(&cc, &self->cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
	ASSERT_EQ(0, atls_ctx_new(&cc, &solo));		/* offers per-handshake quotes only */
	cc.batch = true;
	ASSERT_EQ(0, atls_ctx_new(&cc, &batching));
	for (round = 0; round < 2; round++) {
		struct tl_hs s = { .ctx = sctx, .timeout_ms = HS_MS, .opts = &o };
		struct tl_hs c = { .ctx = round ? batching : solo, .timeout_ms = HS_MS };

		ASSERT_EQ(0, atls_tpm_stats(sctx->tpm, &calls0, NULL));
		ASSERT_EQ(0, tl_hs_pair(&s, &c));
		ASSERT_EQ(0, atls_tpm_stats(sctx->tpm, &calls1, NULL));
		if (!round) {
			EXPECT_EQ(-EKEYREJECTED, s.ret);
			EXPECT_EQ(ATLS_REASON_EVIDENCE_TYPE_REJECTED, s.res.reason)
				TH_LOG("%s", s.res.reason_text);
			EXPECT_EQ(ATLS_ALERT_HANDSHAKE_FAILURE, s.res.alert);
			EXPECT_NE(0, c.ret);
			EXPECT_EQ(calls0, calls1);	/* no TPM work for it */
		} else {
			expect_batched(_metadata, &s, &c);
			EXPECT_LE(1, calls1 - calls0);
		}
		tl_hs_end(&s);
		tl_hs_end(&c);
	}
	atls_ctx_free(sctx);
	atls_ctx_free(solo);
	atls_ctx_free(batching);
}

/* A server handshake whose client end sends only head (may be empty). */
struct stalled {
	struct tl_hs s;
	int cfd;
	struct tl_thread th;
};

TEST_F(form, stalled_peers_never_waited_for)
{
	static const uint8_t part[] = { 0x16, 0x03, 0x01 };	/* a record header, cut */
	struct atls_ctx *sctx, *cctx;
	struct atls_config sc, cc;
	struct atls_batch_stats st;
	struct stalled z[2];
	struct tl_hs s = { .timeout_ms = HS_MS }, c = { .timeout_ms = HS_MS };
	int i;

	tl_side_config(&sc, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
	tl_side_config(&cc, &self->cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
	sc.batch = cc.batch = true;
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));
	/* Two handshakes in progress whose peers do not go on. */
	for (i = 0; i < 2; i++) {
		memset(&z[i], 0, sizeof(z[i]));
		z[i].s.ctx = sctx;
		z[i].s.timeout_ms = HS_MS;
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &z[i].cfd, &z[i].s.fd));
		if (i == 1)
			ASSERT_EQ((ssize_t)sizeof(part), write(z[i].cfd, part, sizeof(part)));
		ASSERT_EQ(0, tl_spawn(&z[i].th, tl_hs_main, &z[i].s));
	}
	wait_for(sctx->batcher, TWO_WAIT_FOR_PEER);

	/* A handshake whose peer goes on: its quote waits for neither. */
	s.ctx = sctx;
	c.ctx = cctx;
	ASSERT_EQ(0, tl_hs_pair(&s, &c));
	expect_batched(_metadata, &s, &c);
	atls_batcher_counters(sctx->batcher, &st);
	TH_LOG("quotes %lu, closed all-in %lu, deadline %lu, leader sleeps %lu, in progress %u",
	       st.batches, st.closed_all_in, st.closed_deadline, st.leader_waits, st.inflight);
	EXPECT_EQ(1, st.batches);
	EXPECT_EQ(1, st.closed_all_in);
	EXPECT_EQ(0, st.closed_deadline);
	EXPECT_EQ(0, st.leader_waits);
	EXPECT_EQ(2, st.inflight);	/* the stalled ones were in progress all along */
	tl_hs_end(&s);
	tl_hs_end(&c);

	for (i = 0; i < 2; i++) {
		close(z[i].cfd);	/* their peers go: the handshakes fail */
		tl_join(&z[i].th);
		EXPECT_NE(0, z[i].s.ret);
		tl_hs_end(&z[i].s);
	}
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_HARNESS_MAIN
