// SPDX-License-Identifier: Apache-2.0
/*
 * Batches across contexts (libatls/src/batch.c, "Sharing"; protocol.rst,
 * "Batching (attester)"), against a real swtpm.
 *
 * Contexts that borrow one TPM handle and would sign byte-for-byte the same
 * evidence apart from the leaves (same AK, PCR selection and bank, key mode,
 * TLS key in key mode tpm, window and batch_max) share one batcher, so the
 * client-role and server-role contexts of a host (atlsd's (policy, role)
 * contexts) fill one quote together.  As in batch_form_test, every assertion
 * is about events and counts: the TPM is held by a command of the test's own
 * while batch 1 is at it, and what arrives meanwhile forms the next batch.
 *
 *  - roles_share_one_quote: a server-role and a client-role context on one
 *    TPM handle; a server leaf is at the (held) TPM, then a server leaf and
 *    a client leaf arrive: the two share ONE quote (the same CMW bytes,
 *    depth 1), each proof verifies against its own binder only, and the
 *    contexts report one batcher (same counters id, 2 quotes for 3 leaves).
 *    With a batcher per context the client leaf gets a quote of its own.
 *  - other_pcr_selection_never_shares: the same with the client context
 *    quoting other PCRs: its own batcher, its own quote.
 *  - other_tpm_never_shares: the same with the client context on another
 *    TPM handle (identical parameters): its own batcher, its own quote.
 *  - what_decides_sharing: atls_batcher_get() directly: the AK handle, key
 *    mode, window and max each make another batcher, and so does the TLS
 *    key's handle in key mode tpm (another Certify), not in key mode
 *    software (no Certify).
 *  - shared_batcher_outlives_contexts: contexts made and freed while
 *    another context keeps the batcher (atlsd's reload): a new context
 *    joins the live batcher, the survivor keeps producing, and once the
 *    last context is gone the next one starts a fresh batcher.
 */
#include <errno.h>
#include <pthread.h>
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
#include "peer.h"
#include "swtpm.h"
#include "util.h"
#include "batch_tl.h"

static struct atls_batch_stats counters(struct atls_ctx *ctx)
{
	struct atls_batch_stats st;

	atls_batcher_counters(ctx->batcher, &st);
	return st;
}

/* Leaves submitted to the batchers of a and b (counted once if shared). */
static unsigned long leaves(struct atls_ctx *a, struct atls_ctx *b)
{
	return counters(a).leaves + (a->batcher == b->batcher ? 0 : counters(b).leaves);
}

FIXTURE(share)
{
	struct tl_side srv, cli;
	struct atls_tpm *tpm, *tpm2;
	struct atls_policy *pol;
	struct atls_ctx *sctx, *cctx;
	struct tl_prod p[3];
};

FIXTURE_SETUP(share)
{
	char err[256];

	ASSERT_EQ(0, tl_side_server_client(&self->srv, &self->cli, "ssrv", "scli"));
	ASSERT_EQ(0, atls_policy_load(tl_path(self->cli.dir, "policy.conf"), &self->pol,
				      err, sizeof(err)));
	ASSERT_EQ(0, atls_tpm_open(self->srv.sw.tcti, &self->tpm));
	memset(self->p, 0, sizeof(self->p));
}

FIXTURE_TEARDOWN(share)
{
	int i;

	for (i = 0; i < 3; i++)
		free(self->p[i].out);
	/* Contexts first: the TPM handle outlives every context using it. */
	atls_ctx_free(self->sctx);
	atls_ctx_free(self->cctx);
	if (self->tpm)
		atls_tpm_close(self->tpm);
	if (self->tpm2)
		atls_tpm_close(self->tpm2);
	if (self->pol)
		atls_policy_free(self->pol);
	tl_side_free(&self->srv);
	tl_side_free(&self->cli);
}

/* An attesting, batching context in key mode software on TPM handle t,
 * with the server side's certificate and key (the AK is the TPM's). */
static int ctx_on(FIXTURE_DATA(share) * self, struct atls_tpm *t, enum atls_role role,
		  uint32_t pcr_mask, struct atls_ctx **out)
{
	struct atls_config c;

	tl_side_config(&c, &self->srv, role, ATLS_KEY_SOFTWARE, true, false);
	c.cert_file = tl_path(self->srv.dir, "sw.pem");
	c.key_file = tl_path(self->srv.dir, "sw.key");
	c.tpm = t;
	c.pcr_mask = pcr_mask;
	c.batch = true;
	c.batch_window_us = ATLS_BATCH_WINDOW_US_MAX;
	return atls_ctx_new(&c, out);
}

static int appraise(FIXTURE_DATA(share) * self, const struct tl_prod *ev, const uint8_t *binder,
		    struct atls_appraisal *out)
{
	struct atls_claims cl;

	return atls_batch_appraise(NULL, self->pol, ATLS_ROLE_SERVER, ev->out, ev->len, binder,
				   32, NULL, 0, &cl, out);
}

static bool same_cmw(const struct tl_prod *a, const struct tl_prod *b)
{
	struct atls_batch_proof pa, pb;

	if (atls_batch_parse(a->out, a->len, &pa) || atls_batch_parse(b->out, b->len, &pb))
		return false;
	return pa.cmw_len == pb.cmw_len && !memcmp(pa.cmw, pb.cmw, pa.cmw_len);
}

/*
 * The TPM (self->tpm) held: p[0] (server context) closes batch 1, which
 * queues at the TPM; then p[1] (server) and p[2] (client) arrive while it is
 * there.  Returns when all three have their evidence (the TPM released once
 * both later leaves are submitted).
 */
static void race(struct __test_metadata *_metadata, FIXTURE_DATA(share) * self)
{
	struct tl_tpm_hold bl = { .tpm = self->tpm };
	struct tl_thread tb, th[3];
	int i;

	for (i = 0; i < 3; i++)
		memset(self->p[i].binder, 0x90 + i, 32);
	self->p[0].b = self->p[1].b = self->sctx->batcher;
	self->p[2].b = self->cctx->batcher;
	tl_tpm_hold(&bl, &tb);
	ASSERT_EQ(0, tl_spawn(&th[0], tl_prod_main, &self->p[0]));
	while (counters(self->sctx).quoting != 1)
		usleep(1000);
	ASSERT_EQ(0, tl_spawn(&th[1], tl_prod_main, &self->p[1]));
	ASSERT_EQ(0, tl_spawn(&th[2], tl_prod_main, &self->p[2]));
	while (leaves(self->sctx, self->cctx) != 3)
		usleep(1000);
	EXPECT_EQ(0, tl_tpm_release(&bl, &tb));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, tl_join(&th[i]));
}

TEST_F(share, roles_share_one_quote)
{
	struct atls_batch_counters sc, cc;
	struct atls_batch_proof pr;
	struct atls_batch_stats st;
	struct atls_appraisal a;
	int i;

	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_SERVER, 0xff, &self->sctx));
	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_CLIENT, 0xff, &self->cctx));
	race(_metadata, self);

	st = counters(self->sctx);
	TH_LOG("server context: %lu quotes for %lu leaves; client context's batcher %s",
	       st.batches, st.leaves,
	       self->sctx->batcher == self->cctx->batcher ? "the same" : "its own");
	EXPECT_TRUE(self->sctx->batcher == self->cctx->batcher);
	/* p[1] (server role) and p[2] (client role): one quote, two leaves. */
	EXPECT_TRUE(same_cmw(&self->p[1], &self->p[2]));
	EXPECT_FALSE(same_cmw(&self->p[0], &self->p[1]));
	for (i = 1; i < 3; i++) {
		ASSERT_EQ(0, atls_batch_parse(self->p[i].out, self->p[i].len, &pr));
		EXPECT_EQ(1, pr.depth);
	}
	EXPECT_EQ(2, st.batches);
	EXPECT_EQ(3, st.leaves);
	EXPECT_EQ(2, st.largest);
	/* Each proof verifies against its own binder and no other. */
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, appraise(self, &self->p[i], self->p[i].binder, &a))
			TH_LOG("%d: %s", i, a.text);
		EXPECT_EQ(ATLS_EAR_AFFIRMING, a.status);
	}
	EXPECT_EQ(-EKEYREJECTED, appraise(self, &self->p[1], self->p[0].binder, &a));
	EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
	EXPECT_EQ(-EKEYREJECTED, appraise(self, &self->p[0], self->p[2].binder, &a));
	EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
	/* The contexts report one batcher: a sum over contexts counts it once. */
	ASSERT_EQ(0, atls_ctx_batch_counters(self->sctx, &sc));
	ASSERT_EQ(0, atls_ctx_batch_counters(self->cctx, &cc));
	EXPECT_NE(0, sc.batcher);
	EXPECT_EQ(sc.batcher, cc.batcher);
	EXPECT_EQ(sc.quotes, cc.quotes);
}

TEST_F(share, other_pcr_selection_never_shares)
{
	struct atls_batch_counters sc, cc;

	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_SERVER, 0xff, &self->sctx));
	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_CLIENT, 0x7f, &self->cctx));
	EXPECT_FALSE(self->sctx->batcher == self->cctx->batcher);
	race(_metadata, self);
	EXPECT_FALSE(same_cmw(&self->p[1], &self->p[2]));
	EXPECT_EQ(2, counters(self->sctx).batches);
	EXPECT_EQ(1, counters(self->cctx).batches);
	ASSERT_EQ(0, atls_ctx_batch_counters(self->sctx, &sc));
	ASSERT_EQ(0, atls_ctx_batch_counters(self->cctx, &cc));
	EXPECT_NE(sc.batcher, cc.batcher);
}

TEST_F(share, other_tpm_never_shares)
{
	ASSERT_EQ(0, atls_tpm_open(self->cli.sw.tcti, &self->tpm2));
	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_SERVER, 0xff, &self->sctx));
	/* Identical parameters (the cli side has an AK at the same handle). */
	ASSERT_EQ(0, ctx_on(self, self->tpm2, ATLS_ROLE_CLIENT, 0xff, &self->cctx));
	EXPECT_FALSE(self->sctx->batcher == self->cctx->batcher);
	race(_metadata, self);
	EXPECT_FALSE(same_cmw(&self->p[1], &self->p[2]));
	EXPECT_EQ(2, counters(self->sctx).batches);
	EXPECT_EQ(1, counters(self->cctx).batches);
}

TEST_F(share, shared_batcher_outlives_contexts)
{
	struct atls_ctx *s2 = NULL, *s3 = NULL;
	struct atls_batch_counters c1, c2;
	struct tl_thread th;
	struct atls_appraisal a;

	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_SERVER, 0xff, &self->sctx));
	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_CLIENT, 0xff, &self->cctx));
	ASSERT_EQ(0, atls_ctx_batch_counters(self->cctx, &c1));
	/* The server context goes (a reload); the client's keeps the batcher. */
	atls_ctx_free(self->sctx);
	self->sctx = NULL;
	memset(self->p[0].binder, 0xa0, 32);
	self->p[0].b = self->cctx->batcher;
	ASSERT_EQ(0, tl_spawn(&th, tl_prod_main, &self->p[0]));
	EXPECT_EQ(0, tl_join(&th));
	EXPECT_EQ(0, appraise(self, &self->p[0], self->p[0].binder, &a)) TH_LOG("%s", a.text);
	/* A new server context joins the live batcher. */
	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_SERVER, 0xff, &s2));
	EXPECT_TRUE(s2->batcher == self->cctx->batcher);
	ASSERT_EQ(0, atls_ctx_batch_counters(s2, &c2));
	EXPECT_EQ(c1.batcher, c2.batcher);
	EXPECT_EQ(1, c2.leaves);
	/* Every context gone: the next one starts afresh. */
	atls_ctx_free(self->cctx);
	self->cctx = NULL;
	atls_ctx_free(s2);
	ASSERT_EQ(0, ctx_on(self, self->tpm, ATLS_ROLE_SERVER, 0xff, &s3));
	ASSERT_EQ(0, atls_ctx_batch_counters(s3, &c2));
	EXPECT_NE(c1.batcher, c2.batcher);
	EXPECT_EQ(0, c2.leaves);
	atls_ctx_free(s3);
}

TEST_F(share, what_decides_sharing)
{
	struct atls_evidence_params sw = { .key_mode = ATLS_KEY_SOFTWARE, .ak_handle =
						   ATLS_AK_HANDLE_DEFAULT, .tls_key_handle = 1,
					   .pcr_bank_alg = 0x0B, .pcr_mask = 0xff };
	struct atls_evidence_params q = sw;
	struct atls_batcher *a, *b;

	ASSERT_EQ(0, atls_batcher_get(self->tpm, &sw, 0, 0, &a));
	/* Key mode software certifies no key: its handle does not matter, and
	 * 0 means the default window and max. */
	q.tls_key_handle = 2;
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &q, ATLS_BATCH_WINDOW_US_DEFAULT,
				      ATLS_BATCH_MAX_DEFAULT, &b));
	EXPECT_TRUE(a == b);
	atls_batcher_put(b);
	/* Everything the CMW or the batch's shape depends on does. */
	q = sw;
	q.ak_handle++;
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &q, 0, 0, &b));
	EXPECT_FALSE(a == b);
	atls_batcher_put(b);
	q = sw;
	q.key_mode = ATLS_KEY_TPM;
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &q, 0, 0, &b));
	EXPECT_FALSE(a == b);
	atls_batcher_put(b);
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &sw, 500000, 0, &b));
	EXPECT_FALSE(a == b);
	atls_batcher_put(b);
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &sw, 0, 8, &b));
	EXPECT_FALSE(a == b);
	atls_batcher_put(b);
	/* Key mode tpm: the certified key (its handle) decides too. */
	sw.key_mode = q.key_mode = ATLS_KEY_TPM;
	q.tls_key_handle = 2;
	atls_batcher_put(a);
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &sw, 0, 0, &a));
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &q, 0, 0, &b));
	EXPECT_FALSE(a == b);
	atls_batcher_put(b);
	ASSERT_EQ(0, atls_batcher_get(self->tpm, &sw, 0, 0, &b));
	EXPECT_TRUE(a == b);
	atls_batcher_put(b);
	atls_batcher_put(a);
}

TEST_HARNESS_MAIN
