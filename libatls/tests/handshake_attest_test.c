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
#include <atls/provision.h>
#include "testutil.h"
#include "tlspeer.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT

FIXTURE(att)
{
	struct atls_test_side srv, cli;
	struct atls_ctx *sctx, *cctx;
};

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

FIXTURE_SETUP(att)
{
	setenv("TSS2_LOG", "all+none", 1);
	ASSERT_EQ(0, atls_test_side_provision(&self->srv, "srv"));
	ASSERT_EQ(0, atls_test_side_provision(&self->cli, "cli"));
	ASSERT_EQ(0, atls_test_side_policy(&self->cli, &self->srv, "\"server\""));
	ASSERT_EQ(0, atls_test_side_policy(&self->srv, &self->cli, "\"client\""));
}

FIXTURE_TEARDOWN(att)
{
	atls_test_side_free(&self->srv);
	atls_test_side_free(&self->cli);
}

static void side_cfg(struct atls_config *c, struct atls_test_side *s, enum atls_role role, bool attests,
		     bool checks_peer, enum atls_key_mode mode, const char *suite)
{
	atls_config_init(c, role);
	c->key_mode = mode;
	c->ciphersuites = suite;
	c->tcti = s->sw.tcti;
	c->ak_handle = AK;
	c->tls_key_handle = TK;
	c->attest_self = attests;
	c->peer_attest = checks_peer ? ATLS_PEER_REQUIRED : ATLS_PEER_NONE;
	c->policy_file = checks_peer ? atls_test_path(s->dir, "policy.conf") : NULL;
	if (role == ATLS_ROLE_SERVER || attests) {
		c->cert_file = atls_test_path(s->dir, mode == ATLS_KEY_TPM ? "tpm.pem" : "sw.pem");
		c->key_file = mode == ATLS_KEY_TPM ? NULL : atls_test_path(s->dir, "sw.key");
	}
}

struct srv_arg {
	struct atls_ctx *ctx;
	int fd;
	struct atls_result res;
};

static int srv_main(void *arg)
{
	struct srv_arg *a = arg;

	return atls_handshake(a->ctx, a->fd, 10000, &a->res);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* SHA-256 of the DER SPKI in a PEM public key file (the claims' AK identity). */
static int ak_id(const char *pem, uint8_t out[32])
{
	unsigned char *der = NULL;
	EVP_PKEY *k;
	FILE *f;
	int n;

	f = fopen(pem, "r");
	if (!f)
		return -1;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	n = k ? i2d_PUBKEY(k, &der) : -1;
	EVP_PKEY_free(k);
	if (n <= 0)
		return -1;
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
	return 0;
}

static void check_claims(struct __test_metadata *_metadata, const struct atls_claims *cl,
			 const struct atls_test_side *peer)
{
	uint8_t id[32];

	ASSERT_EQ(0, ak_id(atls_test_path(peer->dir, "ak.pem"), id));
	EXPECT_EQ(0, memcmp(cl->ak_sha256, id, 32));
	EXPECT_EQ(0x000B, cl->pcr_bank);
	EXPECT_EQ(0xffu, cl->pcr_mask);
	EXPECT_EQ(32, cl->pcr_digest_len);
}

/* One handshake; on success checks the keys on a record in each direction. */
static int one(struct __test_metadata *_metadata, struct atls_ctx *cctx, struct atls_ctx *sctx,
	       const FIXTURE_VARIANT(att) * variant, bool check, long long *us,
	       const struct atls_test_side *srv, const struct atls_test_side *cli)
{
	static const char msg[] = "attested record";
	struct atls_test_thread th;
	struct srv_arg sa = { .ctx = sctx };
	struct atls_result cres;
	uint8_t buf[64], type;
	long long t0;
	int cfd, sfd, ret, n;

	if (atls_test_tcp_pair(&cfd, &sfd))
		return -1;
	sa.fd = sfd;
	t0 = now_us();
	if (atls_test_spawn(&th, srv_main, &sa))
		return -1;
	ret = atls_handshake(cctx, cfd, 10000, &cres);
	EXPECT_EQ(0, atls_test_join(&th)) TH_LOG("server: %s: %s",
						 atls_reason_name(sa.res.reason),
						 sa.res.reason_text);
	if (us)
		*us = now_us() - t0;
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
		EXPECT_EQ(0, atls_test_record_write(cfd, &cres.tx, 0, (const uint8_t *)msg,
						    sizeof(msg)));
		n = atls_test_record_read(sfd, &sa.res.rx, 0, buf, sizeof(buf), &type);
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
