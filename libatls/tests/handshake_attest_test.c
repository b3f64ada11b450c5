// SPDX-License-Identifier: Apache-2.0
/*
 * Attested handshakes end to end: two swtpm instances (one per side), keys
 * provisioned in them, each side's policy trusting the other's AK and PCR
 * 0-7 values; client and server libatls in two threads over TCP loopback.
 * Matrix: server-only / client-only / mutual x key mode tpm / software x the
 * three suites.  The exported keys are checked on a real record each time.
 *
 * ATLS_BENCH_N=<n> additionally measures n handshakes per variant and prints
 * the median latency ("# latency ...").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/sha.h>

#include "kselftest_harness.h"
#include "harness.h"
#include <atls/provision.h>
#include <atls/atls.h>

#include "certs.h"
#include "net.h"
#include "peer.h"
#include "record.h"
#include "swtpm.h"
#include "util.h"

TL_SIDES_FIXTURE(att, tl_side_pair, "srv", "cli", struct atls_ctx *sctx, *cctx;);

FIXTURE_VARIANT(att)
{
	bool server_attests, client_attests;
	enum atls_key_mode mode;
};

FIXTURE_VARIANT_ADD(att, server_only_tpm) { true, false, ATLS_KEY_TPM };
FIXTURE_VARIANT_ADD(att, client_only_tpm) { false, true, ATLS_KEY_TPM };
FIXTURE_VARIANT_ADD(att, mutual_tpm) { true, true, ATLS_KEY_TPM };
FIXTURE_VARIANT_ADD(att, server_only_sw) { true, false, ATLS_KEY_SOFTWARE };
FIXTURE_VARIANT_ADD(att, client_only_sw) { false, true, ATLS_KEY_SOFTWARE };
FIXTURE_VARIANT_ADD(att, mutual_sw) { true, true, ATLS_KEY_SOFTWARE };
/* Baseline: the same handshake without attestation (plain TLS 1.3 + our bookkeeping). */
FIXTURE_VARIANT_ADD(att, none_sw) { false, false, ATLS_KEY_SOFTWARE };

static void side_cfg(struct atls_config *c, struct tl_side *s, enum atls_role role, bool attests,
		     bool checks_peer, enum atls_key_mode mode, const char *suite)
{
	tl_side_config(c, s, role, mode, attests, checks_peer);
	c->ciphersuites = suite;
}

static void check_claims(struct __test_metadata *_metadata, const struct atls_claims *cl,
			 const struct tl_side *peer)
{
	uint8_t id[32];

	ASSERT_EQ(0, tl_pubkey_sha256(tl_path(peer->dir, "ak.pem"), id));
	EXPECT_EQ(0, memcmp(cl->ak_sha256, id, 32));
	EXPECT_EQ(0x000B, cl->pcr_bank);
	EXPECT_EQ(0xffu, cl->pcr_mask);
	EXPECT_EQ(32, cl->pcr_digest_len);
}

/* One handshake; on success checks the keys on a record in each direction. */
static int one(struct __test_metadata *_metadata, struct atls_ctx *cctx, struct atls_ctx *sctx,
	       const FIXTURE_VARIANT(att) * variant, bool check, long long *us,
	       const struct tl_side *srv, const struct tl_side *cli)
{
	static const char msg[] = "attested record";
	struct tl_thread th;
	struct tl_hs sa = { .ctx = sctx };
	struct atls_result cres;
	uint8_t buf[64], type;
	long long t0;
	int cfd, sfd, ret, n;

	if (tl_tcp_pair(AF_INET, &cfd, &sfd))
		return -1;
	sa.fd = sfd;
	t0 = tl_now_us();
	if (tl_spawn(&th, tl_hs_main, &sa))
		return -1;
	ret = atls_handshake(cctx, cfd, 10000, &cres);
	EXPECT_EQ(0, tl_join(&th)) TH_LOG("server: %s: %s",
					  atls_reason_name(sa.res.reason),
					  sa.res.reason_text);
	if (us)
		*us = tl_now_us() - t0;
	EXPECT_EQ(0, ret) TH_LOG("client: %s: %s", atls_reason_name(cres.reason),
				 cres.reason_text);
	if (check && !ret && !sa.res.err) {
		EXPECT_EQ(variant->server_attests, cres.peer_attested);
		EXPECT_EQ(variant->server_attests, sa.res.self_attested);
		EXPECT_EQ(variant->client_attests, sa.res.peer_attested);
		EXPECT_EQ(variant->client_attests, cres.self_attested);
		if (variant->server_attests) {
			EXPECT_EQ(ATLS_EAR_AFFIRMING, cres.appraisal.status);
			EXPECT_EQ(variant->mode == ATLS_KEY_TPM ? ATLS_EVIDENCE_TPM2_KAT_PAT
								: ATLS_EVIDENCE_TPM2_PAT,
				  cres.peer_claims.evidence_type);
			check_claims(_metadata, &cres.peer_claims, srv);
		}
		if (variant->client_attests) {
			EXPECT_EQ(ATLS_EAR_AFFIRMING, sa.res.appraisal.status);
			check_claims(_metadata, &sa.res.peer_claims, cli);
		}
		/* Both binders agree across the two ends. */
		EXPECT_EQ(cres.binder_peer_len, sa.res.binder_self_len);
		EXPECT_EQ(0, memcmp(cres.binder_peer, sa.res.binder_self, cres.binder_peer_len));
		/* Keys: client TX -> server RX. */
		EXPECT_EQ(0, tl_record_write(cfd, &cres.tx, 0, (const uint8_t *)msg,
					     sizeof(msg)));
		n = tl_record_read(sfd, &sa.res.rx, 0, buf, sizeof(buf), &type);
		EXPECT_EQ(sizeof(msg), n);
	}
	atls_result_release(&cres);
	atls_result_release(&sa.res);
	close(cfd);
	close(sfd);
	return ret ? ret : sa.res.err;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

TEST_F(att, matrix)
{
	static const char *const suites[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
					      "TLS_CHACHA20_POLY1305_SHA256" };
	struct atls_config sc, cc;
	const char *bench = getenv("ATLS_BENCH_N");
	int i, k, n = bench ? atoi(bench) : 0;

	for (i = 0; i < 3; i++) {
		side_cfg(&sc, &self->srv, ATLS_ROLE_SERVER, variant->server_attests,
			 variant->client_attests, variant->mode, suites[i]);
		side_cfg(&cc, &self->cli, ATLS_ROLE_CLIENT, variant->client_attests,
			 variant->server_attests, variant->mode, suites[i]);
		ASSERT_EQ(0, atls_ctx_new(&sc, &self->sctx));
		ASSERT_EQ(0, atls_ctx_new(&cc, &self->cctx));
		EXPECT_EQ(0, one(_metadata, self->cctx, self->sctx, variant, true, NULL, &self->srv,
				 &self->cli))
			TH_LOG("suite %s", suites[i]);
		if (i == 0 && n > 0) {
			long long *t = calloc((size_t)n, sizeof(*t));

			ASSERT_NE(NULL, t);
			for (k = 0; k < n; k++)
				ASSERT_EQ(0, one(_metadata, self->cctx, self->sctx, variant, false,
						 &t[k], &self->srv, &self->cli));
			qsort(t, (size_t)n, sizeof(*t), cmp_ll);
			fprintf(stderr, "# latency %s mode=%s suite=%s n=%d median=%.1f ms p90=%.1f ms\n",
			       variant->server_attests && variant->client_attests ? "mutual"
			       : variant->server_attests			  ? "server-only"
			       : variant->client_attests			  ? "client-only"
										  : "none",
			       variant->mode == ATLS_KEY_TPM ? "tpm" : "software", suites[i], n,
			       t[n / 2] / 1000.0, t[n * 9 / 10] / 1000.0);
			free(t);
		}
		atls_ctx_free(self->sctx);
		atls_ctx_free(self->cctx);
	}
}

TEST_HARNESS_MAIN
