// SPDX-License-Identifier: Apache-2.0
/*
 * Batched quotes against a real swtpm.
 *
 * Evidence level (batcher + appraisal, no TLS): binders of three concurrent
 * "handshakes" share one quote; each proof verifies against its own binder
 * and the relying party verifies the quote's signature once (cache); another
 * handshake's leaf, a wrong path, a wrong index, a tampered root (quote
 * bytes), a proof spliced onto a cached quote, every truncation and an
 * untrusted AK are rejected.
 *
 * Handshake level (atls_handshake over TCP loopback): concurrent batched
 * handshakes in key mode software and tpm (mutual) succeed and share quotes;
 * a peer without batching on either side gets per-handshake quotes.
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
#include "net.h"
#include "peer.h"
#include "record.h"
#include "swtpm.h"
#include "util.h"

#define AK ATLS_AK_HANDLE_DEFAULT

/* ------------------------------------------------------ evidence level */

struct producer {
	struct atls_batcher *b;
	pthread_barrier_t *go;
	uint8_t binder[32];
	uint8_t *out;
	size_t len;
	int ret;
};

static int produce_main(void *arg)
{
	struct producer *p = arg;

	/*
	 * The batch's window runs from its first leaf: a producer thread that
	 * was merely slow to be scheduled after pthread_create() (a loaded CI
	 * machine) would miss it and land in a second batch. All three
	 * submit together once they all run.
	 */
	pthread_barrier_wait(p->go);
	p->ret = atls_batcher_produce(p->b, p->binder, sizeof(p->binder), &p->out, &p->len);
	atls_batcher_leave(p->b);
	return p->ret;
}

FIXTURE(ev)
{
	struct tl_side srv, cli;
	struct atls_tpm *tpm;
	struct atls_batcher *b;
	struct atls_policy *pol;
	struct atls_batch_cache *cache;
	struct producer p[3];
};

FIXTURE_SETUP(ev)
{
	struct atls_evidence_params ep = {
		.key_mode = ATLS_KEY_SOFTWARE,
		.ak_handle = AK,
		.pcr_bank_alg = 0x0B,
		.pcr_mask = 0xff,
	};
	struct tl_thread th[3];
	pthread_barrier_t go;
	char err[256];
	int i;

	ASSERT_EQ(0, tl_side_server_client(&self->srv, &self->cli, "bsrv", "bcli"));
	ASSERT_EQ(0, atls_policy_load(tl_path(self->cli.dir, "policy.conf"), &self->pol,
				      err, sizeof(err)));
	ASSERT_EQ(0, atls_batch_cache_new(&self->cache));
	ASSERT_EQ(0, atls_tpm_open(self->srv.sw.tcti, &self->tpm));
	/* Window 1 s (the maximum), at most 3 leaves: with three handshakes in
	 * flight the batch closes when the third leaf is in. */
	ASSERT_EQ(0, atls_batcher_new(self->tpm, &ep, ATLS_BATCH_WINDOW_US_MAX, 3, &self->b));
	ASSERT_EQ(0, pthread_barrier_init(&go, NULL, 3));
	for (i = 0; i < 3; i++) {
		memset(self->p[i].binder, 0x30 + i, 32);
		self->p[i].b = self->b;
		self->p[i].go = &go;
		atls_batcher_enter(self->b);
	}
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tl_spawn(&th[i], produce_main, &self->p[i]));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tl_join(&th[i]));
	pthread_barrier_destroy(&go);
}

FIXTURE_TEARDOWN(ev)
{
	int i;

	for (i = 0; i < 3; i++)
		free(self->p[i].out);
	atls_batcher_free(self->b);
	if (self->tpm)
		atls_tpm_close(self->tpm);
	atls_batch_cache_free(self->cache);
	if (self->pol)
		atls_policy_free(self->pol);
	tl_side_free(&self->srv);
	tl_side_free(&self->cli);
}

static int appraise(FIXTURE_DATA(ev) * self, struct atls_batch_cache *cache, const uint8_t *in,
		    size_t len, const uint8_t *binder, struct atls_appraisal *out)
{
	struct atls_claims cl;

	return atls_batch_appraise(cache, self->pol, ATLS_ROLE_SERVER, in, len, binder, 32, NULL,
				   0, &cl, out);
}

TEST_F(ev, one_quote_three_proofs_cache)
{
	unsigned long batches, leaves, full, hits;
	struct atls_appraisal a;
	int i;

	atls_batcher_stats(self->b, &batches, &leaves);
	EXPECT_EQ(1, batches);
	EXPECT_EQ(3, leaves);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, appraise(self, self->cache, self->p[i].out, self->p[i].len,
				      self->p[i].binder, &a))
			TH_LOG("%d: %s", i, a.text);
		EXPECT_EQ(ATLS_EAR_AFFIRMING, a.status);
		/* Without a cache: the same verdict from a full appraisal. */
		EXPECT_EQ(0, appraise(self, NULL, self->p[i].out, self->p[i].len,
				      self->p[i].binder, &a));
	}
	atls_batch_cache_stats(self->cache, &full, &hits);
	EXPECT_EQ(1, full);
	EXPECT_EQ(2, hits);
}

TEST_F(ev, another_handshakes_leaf_rejected)
{
	struct atls_appraisal a;
	int i, cached;

	for (cached = 0; cached < 2; cached++)
		for (i = 0; i < 3; i++) {
			EXPECT_EQ(-EKEYREJECTED,
				  appraise(self, cached ? self->cache : NULL, self->p[i].out,
					   self->p[i].len, self->p[(i + 1) % 3].binder, &a));
			EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
			EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, a.status);
		}
}

TEST_F(ev, wrong_path_or_index_rejected)
{
	struct atls_batch_proof pr;
	struct atls_appraisal a;
	uint8_t *m = malloc(self->p[0].len);
	size_t off;
	int cached;

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, atls_batch_parse(self->p[0].out, self->p[0].len, &pr));
	ASSERT_EQ(2, pr.depth) TH_LOG("the three leaves did not share one batch");
	for (cached = 0; cached < 2; cached++) {
		struct atls_batch_cache *c = cached ? self->cache : NULL;

		/* Prime the cache with the genuine proof first. */
		EXPECT_EQ(0, appraise(self, c, self->p[0].out, self->p[0].len, self->p[0].binder,
				      &a));
		for (off = 4; off < 4 + 64; off += 13) {	/* a byte of each sibling */
			memcpy(m, self->p[0].out, self->p[0].len);
			m[off] ^= 0x01;
			EXPECT_EQ(-EKEYREJECTED,
				  appraise(self, c, m, self->p[0].len, self->p[0].binder, &a));
			EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
		}
		/* The sibling slot's index (still in range). The producers ran
		 * concurrently, so p[0] holds whichever index its thread got:
		 * flip the low bit rather than assume it was 0. */
		memcpy(m, self->p[0].out, self->p[0].len);
		m[3] ^= 1;
		ASSERT_NE(pr.index, (uint16_t)(m[2] << 8 | m[3]));
		EXPECT_EQ(-EKEYREJECTED, appraise(self, c, m, self->p[0].len, self->p[0].binder, &a));
		EXPECT_EQ(ATLS_REASON_FRESHNESS, a.reason);
		/* Proof of leaf 1 with leaf 0's binder. */
		EXPECT_EQ(-EKEYREJECTED, appraise(self, c, self->p[1].out, self->p[1].len,
						  self->p[0].binder, &a));
	}
	free(m);
}

TEST_F(ev, tampered_root_rejected)
{
	struct atls_batch_proof pr;
	struct atls_appraisal a;
	uint8_t leaf[32], root[32], *m;
	size_t i, len = self->p[0].len, hits = 0;

	ASSERT_EQ(0, atls_batch_parse(self->p[0].out, len, &pr));
	ASSERT_EQ(0, atls_batch_leaf(self->p[0].binder, 32, leaf));
	ASSERT_EQ(0, atls_batch_root(leaf, &pr, root));
	m = malloc(len);
	ASSERT_NE(NULL, m);
	EXPECT_EQ(0, appraise(self, self->cache, self->p[0].out, len, self->p[0].binder, &a));
	/* The root sits in the quote as qualifying data (extraData): change it. */
	for (i = 0; i + 32 <= len; i++) {
		if (memcmp(self->p[0].out + i, root, 32))
			continue;
		hits++;
		memcpy(m, self->p[0].out, len);
		m[i + 31] ^= 0x80;
		EXPECT_EQ(-EKEYREJECTED, appraise(self, self->cache, m, len, self->p[0].binder, &a));
		EXPECT_NE(ATLS_REASON_NONE, a.reason);
		EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, a.status);
	}
	EXPECT_EQ(1, hits);
	free(m);
}

TEST_F(ev, truncated_and_untrusted_rejected)
{
	struct atls_appraisal a;
	struct atls_policy *own;
	char err[256];
	size_t n;

	for (n = 0; n < self->p[0].len; n += 7)
		EXPECT_EQ(-EBADMSG, appraise(self, self->cache, self->p[0].out, n,
					     self->p[0].binder, &a));
	/* A policy that trusts another AK (the client's own). */
	ASSERT_EQ(0, tl_side_policy(&self->srv, &self->cli, "\"client\""));
	ASSERT_EQ(0, atls_policy_load(tl_path(self->srv.dir, "policy.conf"), &own, err,
				      sizeof(err)));
	{
		struct atls_claims cl;

		EXPECT_EQ(-EKEYREJECTED,
			  atls_batch_appraise(NULL, own, ATLS_ROLE_SERVER, self->p[0].out,
					      self->p[0].len, self->p[0].binder, 32, NULL, 0, &cl,
					      &a));
		EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, a.reason);
	}
	atls_policy_free(own);
}

/* ----------------------------------------------------- handshake level */

#define N_PAR 6

TL_SIDES_FIXTURE(hs, tl_side_pair, "hsrv", "hcli");

static void cfg(struct atls_config *c, struct tl_side *s, enum atls_role role,
		enum atls_key_mode mode, bool attests, bool checks, bool batch)
{
	tl_side_config(c, s, role, mode, attests, checks);
	c->batch = batch;
	c->batch_window_us = 500000;	/* generous: the leader closes when all are in */
}

/* A server and a client context in key mode mode: the server attests, the
 * client appraises it (and with mutual the reverse too); each may batch. */
static void contexts(struct __test_metadata *_metadata, FIXTURE_DATA(hs) * self,
		     enum atls_key_mode mode, bool mutual, bool srv_batch, bool cli_batch,
		     struct atls_ctx **sctx, struct atls_ctx **cctx)
{
	struct atls_config sc, cc;

	cfg(&sc, &self->srv, ATLS_ROLE_SERVER, mode, true, mutual, srv_batch);
	cfg(&cc, &self->cli, ATLS_ROLE_CLIENT, mode, mutual, true, cli_batch);
	ASSERT_EQ(0, atls_ctx_new(&sc, sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, cctx));
}

/* n handshakes at once; all must succeed and be affirmed as configured. */
static void run_par(struct __test_metadata *_metadata, struct atls_ctx *sctx,
		    struct atls_ctx *cctx, int n, bool mutual)
{
	struct tl_thread ts[N_PAR], tc[N_PAR];
	struct tl_hs s[N_PAR], c[N_PAR];
	int i;

	memset(s, 0, sizeof(s));
	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &c[i].fd, &s[i].fd));
		s[i].ctx = sctx;
		c[i].ctx = cctx;
		s[i].timeout_ms = c[i].timeout_ms = 20000;
	}
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, tl_spawn(&ts[i], tl_hs_main, &s[i]));
		ASSERT_EQ(0, tl_spawn(&tc[i], tl_hs_main, &c[i]));
	}
	for (i = 0; i < n; i++) {
		tl_join(&ts[i]);
		tl_join(&tc[i]);
		EXPECT_EQ(0, s[i].ret) TH_LOG("server %d: %s", i, s[i].res.reason_text);
		EXPECT_EQ(0, c[i].ret) TH_LOG("client %d: %s", i, c[i].res.reason_text);
		EXPECT_TRUE(c[i].res.peer_attested);
		EXPECT_EQ(ATLS_EAR_AFFIRMING, c[i].res.appraisal.status);
		if (mutual) {
			EXPECT_TRUE(s[i].res.peer_attested);
			EXPECT_EQ(ATLS_EAR_AFFIRMING, s[i].res.appraisal.status);
		}
		/* The result says which evidence was a batched quote: exactly
		 * when the attester batches and the relying party accepts it. */
		EXPECT_EQ(sctx->batcher && cctx->batch_cache, c[i].res.peer_batched);
		EXPECT_EQ(c[i].res.peer_batched, s[i].res.self_batched);
		if (mutual) {
			EXPECT_EQ(cctx->batcher && sctx->batch_cache, s[i].res.peer_batched);
			EXPECT_EQ(s[i].res.peer_batched, c[i].res.self_batched);
		}
		/* The exported keys work: client TX -> server RX. */
		if (!s[i].ret && !c[i].ret) {
			static const uint8_t msg[] = "batched";
			uint8_t buf[32], type;

			EXPECT_EQ(0, tl_record_write(c[i].fd, &c[i].res.tx, 0, msg,
						     sizeof(msg)));
			EXPECT_EQ((int)sizeof(msg), tl_record_read(s[i].fd, &s[i].res.rx, 0,
								   buf, sizeof(buf), &type));
		}
		tl_hs_end(&s[i]);
		tl_hs_end(&c[i]);
	}
}

TEST_F(hs, batched_software_server)
{
	struct atls_ctx *sctx, *cctx;
	unsigned long batches, leaves, full, hits;

	contexts(_metadata, self, ATLS_KEY_SOFTWARE, false, true, true, &sctx, &cctx);
	/*
	 * Hold the batch open for its whole window even on a loaded machine
	 * (where the threads might otherwise arrive one by one): one more
	 * handshake "in flight" on the server that never submits a leaf.
	 */
	atls_batcher_enter(sctx->batcher);
	run_par(_metadata, sctx, cctx, N_PAR, false);
	atls_batcher_leave(sctx->batcher);
	atls_batcher_stats(sctx->batcher, &batches, &leaves);
	atls_batch_cache_stats(cctx->batch_cache, &full, &hits);
	TH_LOG("%lu leaves in %lu quotes; relying party: %lu full, %lu cached", leaves, batches,
	       full, hits);
	EXPECT_EQ(N_PAR, leaves);
	EXPECT_LT(batches, leaves);	/* at least two handshakes shared a quote */
	EXPECT_EQ(N_PAR, full + hits);
	/* Each quote verified at least once, and only once: concurrent first
	 * sightings of a quote wait for the first one's appraisal (batch.c,
	 * cache_lookup()) instead of all verifying it. */
	EXPECT_LE(batches, full);
	EXPECT_EQ(batches, full);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_F(hs, batched_tpm_mutual)
{
	struct atls_ctx *sctx, *cctx;
	unsigned long sb, sl, cb, cl;

	contexts(_metadata, self, ATLS_KEY_TPM, true, true, true, &sctx, &cctx);
	run_par(_metadata, sctx, cctx, 4, true);
	atls_batcher_stats(sctx->batcher, &sb, &sl);
	atls_batcher_stats(cctx->batcher, &cb, &cl);
	TH_LOG("server %lu leaves / %lu quotes, client %lu / %lu", sl, sb, cl, cb);
	EXPECT_EQ(4, sl);
	EXPECT_EQ(4, cl);
	EXPECT_GE(sb, 1);
	EXPECT_GE(cb, 1);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

/*
 * Batching on one side only (server-only attestation): per-handshake quotes.
 * The batching side's batcher (server) or cache (client) exists and nothing
 * goes through it.
 */
static void fallback(struct __test_metadata *_metadata, FIXTURE_DATA(hs) * self, bool srv_batch,
		     bool cli_batch)
{
	struct atls_ctx *sctx, *cctx;
	unsigned long batches, leaves, full, hits;

	contexts(_metadata, self, ATLS_KEY_SOFTWARE, false, srv_batch, cli_batch, &sctx, &cctx);
	EXPECT_EQ(srv_batch, sctx->batcher != NULL);
	EXPECT_EQ(cli_batch, cctx->batch_cache != NULL);
	run_par(_metadata, sctx, cctx, 3, false);
	if (sctx->batcher) {
		atls_batcher_stats(sctx->batcher, &batches, &leaves);
		EXPECT_EQ(0, leaves);
		EXPECT_EQ(0, batches);
	}
	if (cctx->batch_cache) {
		atls_batch_cache_stats(cctx->batch_cache, &full, &hits);
		EXPECT_EQ(0, full + hits);	/* nothing came through the batched scheme */
	}
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

/* Client offers batching, server does not. */
TEST_F(hs, fallback_server_without_batching)
{
	fallback(_metadata, self, false, true);
}

/* Server batches, client does not offer it. */
TEST_F(hs, fallback_client_without_batching)
{
	fallback(_metadata, self, true, false);
}

/* A server (plain OpenSSL) that picks the batched scheme although the
 * client did not offer it: the client must refuse. */
static int rogue_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		     size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	uint8_t *b;

	(void)s, (void)type, (void)x, (void)chainidx, (void)al, (void)arg;
	if (context != SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS || atls_ext_build_scheme_batch(&b, outlen))
		return 0;
	*out = b;
	return 1;
}

static void rogue_free(SSL *s, unsigned int type, unsigned int context, const unsigned char *out,
		       void *arg)
{
	(void)s, (void)type, (void)context, (void)arg;
	free((void *)out);
}

static int rogue_parse(SSL *s, unsigned int type, unsigned int context, const unsigned char *in,
		       size_t inlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	(void)s, (void)type, (void)context, (void)in, (void)inlen, (void)x, (void)chainidx;
	(void)al, (void)arg;
	return 1;
}

struct rogue {
	SSL *ssl;
	int fd;
};

static int rogue_main(void *arg)
{
	struct rogue *r = arg;

	tl_peer_handshake(r->ssl, r->fd, 1);
	return 0;
}

TEST_F(hs, unoffered_batched_scheme_refused)
{
	struct atls_config cc;
	struct atls_ctx *cctx;
	struct atls_result res;
	struct tl_thread th;
	struct rogue r;
	SSL_CTX *sx;
	int cfd;

	sx = tl_peer_ctx(1, NULL, tl_path(self->srv.dir, "sw.pem"),
			 tl_path(self->srv.dir, "sw.key"));
	ASSERT_NE(NULL, sx);
	ASSERT_EQ(1, SSL_CTX_add_custom_ext(sx, ATLS_EXT_TYPE,
					    SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						    SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS,
					    rogue_add, rogue_free, NULL, rogue_parse, NULL));
	cfg(&cc, &self->cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true, false);
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &r.fd));
	r.ssl = SSL_new(sx);
	ASSERT_NE(NULL, r.ssl);
	ASSERT_EQ(0, tl_spawn(&th, rogue_main, &r));
	EXPECT_NE(0, atls_handshake(cctx, cfd, 10000, &res));
	EXPECT_EQ(ATLS_REASON_EVIDENCE_TYPE_REJECTED, res.reason) TH_LOG("%s", res.reason_text);
	close(cfd);
	tl_join(&th);
	SSL_free(r.ssl);
	close(r.fd);
	SSL_CTX_free(sx);
	atls_ctx_free(cctx);
}

TEST_HARNESS_MAIN
