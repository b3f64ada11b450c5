// SPDX-License-Identifier: Apache-2.0
/*
 * The adversaries of Documentation/security.rst that a host test can play,
 * against a real libatls client, with real libatls or plain OpenSSL peers
 * and one swtpm per host:
 *  - a leaked TLS key (key mode software) and a relay of evidence taken from
 *    a live handshake with the genuine server, made in parallel: refused,
 *    binder-mismatch (second adversary, step b);
 *  - a process other than atlsd with access to a trusted host's TPM, quoting
 *    the binder of its own key: accepted, and the result shows the foreign
 *    certificate (third adversary: nothing in atls stops it);
 *  - diversion to another trusted host: accepted when the policy trusts
 *    both hosts, with the result naming the host that answered; refused,
 *    untrusted-ak, by a policy for the intended host only (first adversary,
 *    step d, and the fourth).
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

/* OpenSSL callback signatures: most parameters are unused here. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include <atls/provision.h>
#include <atls/wire.h>
#include "../src/evidence.h"
#include "../src/internal.h"
#include "../src/tpm_int.h"
#include "adversary.h"
#include "certs.h"
#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define AK ATLS_AK_HANDLE_DEFAULT

FIXTURE(tm)
{
	struct tl_side h, h2, cli;
};

FIXTURE_SETUP(tm)
{
	ASSERT_EQ(0, tl_side_provision(&self->h, "tmh"));
	ASSERT_EQ(0, tl_side_provision(&self->h2, "tmh2"));
	ASSERT_EQ(0, tl_side_provision(&self->cli, "tmc"));
	/* policy.conf: the intended server H only */
	ASSERT_EQ(0, tl_side_policy(&self->cli, &self->h, "\"server\""));
}

FIXTURE_TEARDOWN(tm)
{
	tl_side_free(&self->h);
	tl_side_free(&self->h2);
	tl_side_free(&self->cli);
}

/* A genuine atls server of side s, key mode software. */
static struct atls_ctx *server_ctx(struct tl_side *s)
{
	return tl_side_ctx(s, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
}

/* The victim: a client requiring the server's evidence under policy. */
static struct atls_ctx *client_ctx(struct tl_side *cli, const char *policy)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	tl_side_config(&c, cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
	c.policy_file = tl_path(cli->dir, policy);
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

/* ------------------------------------------------ second adversary: relay */

/*
 * The relay M: first a plain OpenSSL client of the genuine server H, asking
 * for its evidence and keeping the Certificate extension it receives; then a
 * plain OpenSSL server to the victim with H's leaked certificate and key,
 * presenting that (live, genuine) evidence.
 */
struct relay {
	int fd;
	const char *cert, *key;
	uint8_t *ch;
	size_t ch_len;
	uint8_t *ext;
	size_t ext_len;
};

static int m_client_add(SSL *s, unsigned int type, unsigned int context,
			const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
			int *al, void *arg)
{
	struct relay *r = arg;

	if (context != SSL_EXT_CLIENT_HELLO)
		return 0;
	*out = r->ch;
	*outlen = r->ch_len;
	return 1;
}

static int m_client_parse(SSL *s, unsigned int type, unsigned int context,
			  const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
			  void *arg)
{
	struct relay *r = arg;

	if (context == SSL_EXT_TLS1_3_CERTIFICATE && chainidx == 0 && !r->ext && inlen) {
		r->ext = malloc(inlen);
		if (!r->ext)
			return 0;
		memcpy(r->ext, in, inlen);
		r->ext_len = inlen;
	}
	return 1;
}

TEST_F(tm, leaked_key_relay_of_live_evidence_refused)
{
	struct relay r = { .cert = tl_path(self->h.dir, "sw.pem"),
			   .key = tl_path(self->h.dir, "sw.key") };
	struct tl_replay_server m = { .cert = tl_path(self->h.dir, "sw.pem"),
				      .key = tl_path(self->h.dir, "sw.key") };
	struct tl_hs h = { 0 };
	struct tl_thread th;
	struct atls_result cres;
	struct atls_ctx *cctx;
	SSL_CTX *mc;
	SSL *ms;
	int cfd, sfd;

	/* 1. M asks the genuine H for its evidence, in a handshake of its own. */
	ASSERT_EQ(0, atls_ext_build_ch(true, false, &r.ch, &r.ch_len));
	h.ctx = server_ctx(&self->h);
	ASSERT_NE(NULL, h.ctx);
	mc = tl_peer_ctx(0, NULL, NULL, NULL);
	ASSERT_NE(NULL, mc);
	ASSERT_EQ(1, SSL_CTX_add_custom_ext(mc, ATLS_EXT_TYPE,
					    SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						    SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						    SSL_EXT_TLS1_3_CERTIFICATE,
					    m_client_add, NULL, &r, m_client_parse, &r));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
	h.fd = sfd;
	tl_spawn(&th, tl_hs_main, &h);
	ms = SSL_new(mc);
	ASSERT_NE(NULL, ms);
	EXPECT_EQ(1, tl_peer_handshake(ms, cfd, 0));
	EXPECT_EQ(0, tl_join(&th)) TH_LOG("%s", h.res.reason_text);
	EXPECT_TRUE(h.res.self_attested);	/* H made fresh genuine evidence */
	SSL_free(ms);
	SSL_CTX_free(mc);
	close(cfd);
	close(sfd);
	atls_result_release(&h.res);
	atls_ctx_free(h.ctx);
	ASSERT_NE(NULL, r.ext);
	ASSERT_LT(100, r.ext_len);

	/* 2. M presents it to the victim, as H, with H's leaked software key. */
	m.ext = r.ext;
	m.ext_len = r.ext_len;
	cctx = client_ctx(&self->cli, "policy.conf");
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, tl_handshake_with(cctx, 10000, &cres, tl_replay_server_main, &m,
						   &m.fd));
	EXPECT_EQ(ATLS_REASON_FRESHNESS, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_STREQ("binder-mismatch", atls_reason_name(cres.reason));
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	atls_ctx_free(cctx);
	free(r.ext);
	free(r.ch);
}

/* ------------------------------------------------ third adversary: other TPM user */

/*
 * P: a plain OpenSSL server with a key and certificate of its own, which
 * opens the trusted host's TPM itself (as any root or tss process can) and
 * quotes the binder of its own handshake and key, exactly as atlsd would.
 * The host's keys here are testlib's, of the empty authorization that
 * older atlsctl versions made: what this shows is why atlsctl now makes
 * them from a key secret (key_auth_test; the daemon VM suite's
 * other_tpm_user_cannot_quote_with_atlsds_ak plays P against atlsd's keys).
 */
TEST_F(tm, other_tpm_user_quoting_its_own_key_is_not_stopped)
{
	struct tl_quoting_server x = {
		.cert = tl_path(self->cli.dir, "p.pem"), .key = tl_path(self->cli.dir, "p.key"),
		.suites = "TLS_AES_128_GCM_SHA256", .tcti = self->h.sw.tcti, .produced = -1,
		.params = { .key_mode = ATLS_KEY_SOFTWARE, .ak_handle = AK, .pcr_bank_alg = 0x0b,
			    .pcr_mask = 0xff },
	};
	uint8_t want_ak[32], want_cert[32];
	struct atls_result cres;
	struct atls_ctx *cctx;

	ASSERT_EQ(0, tl_make_cert(x.cert, x.key, "not-atlsd", false, NULL, NULL, NULL));
	ASSERT_EQ(0, tl_pubkey_sha256(tl_path(self->h.dir, "ak.pem"), want_ak));
	ASSERT_EQ(0, tl_cert_sha256(x.cert, want_cert));
	cctx = client_ctx(&self->cli, "policy.conf");
	ASSERT_NE(NULL, cctx);
	/* Every check passes: the quote is genuine, fresh, bound to P's key. */
	EXPECT_EQ(0, tl_handshake_with(cctx, 10000, &cres, tl_quoting_server_main, &x, &x.fd))
		TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(0, x.produced);
	EXPECT_TRUE(cres.peer_attested);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, cres.appraisal.status);
	EXPECT_EQ(ATLS_EVIDENCE_TPM2_PAT, cres.peer_claims.evidence_type);
	/* What the result does tell: H's AK, and a certificate that is not H's. */
	EXPECT_EQ(0, memcmp(want_ak, cres.peer_claims.ak_sha256, 32));
	EXPECT_TRUE(cres.have_peer_cert);
	EXPECT_EQ(0, memcmp(want_cert, cres.peer_cert_sha256, 32));
	atls_result_release(&cres);
	atls_ctx_free(cctx);
}

/* ------------------------------------------------ diversion to another trusted host */

TEST_F(tm, diversion_to_other_trusted_host)
{
	uint8_t ak_h[32], ak_h2[32];
	struct tl_hs s = { 0 };
	struct atls_result cres;
	struct atls_ctx *cctx;
	FILE *f;

	/* both.conf: trusts H and H2 (fresh swtpms: the same PCR values) */
	ASSERT_STREQ(self->h.pcrs, self->h2.pcrs);
	f = fopen(tl_path(self->cli.dir, "both.conf"), "w");
	ASSERT_NE(NULL, f);
	fprintf(f,
		"version = 1;\n"
		"trusted-aks = ( { name = \"h\"; pem-file = \"%s\"; },\n"
		"                { name = \"h2\"; pem-file = \"%s\"; } );\n"
		"pcrs = { bank = \"sha256\"; selection = [ 0, 1, 2, 3, 4, 5, 6, 7 ]; values = [ %s ]; };\n"
		"require = [ \"server\" ];\n"
		"evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n",
		tl_path(self->h.dir, "ak.pem"), tl_path(self->h2.dir, "ak.pem"),
		self->h.pcrs);
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, tl_pubkey_sha256(tl_path(self->h.dir, "ak.pem"), ak_h));
	ASSERT_EQ(0, tl_pubkey_sha256(tl_path(self->h2.dir, "ak.pem"), ak_h2));
	ASSERT_NE(0, memcmp(ak_h, ak_h2, 32));

	/* A policy trusting both: H2 answers and is accepted; the result names H2. */
	cctx = client_ctx(&self->cli, "both.conf");
	ASSERT_NE(NULL, cctx);
	s.ctx = server_ctx(&self->h2);
	ASSERT_NE(NULL, s.ctx);
	EXPECT_EQ(0, tl_handshake_with(cctx, 10000, &cres, tl_hs_main, &s, &s.fd))
		TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, cres.appraisal.status);
	EXPECT_EQ(0, memcmp(ak_h2, cres.peer_claims.ak_sha256, 32));
	atls_result_release(&cres);
	atls_result_release(&s.res);
	atls_ctx_free(cctx);

	/* A policy for H alone: H2 is refused. */
	cctx = client_ctx(&self->cli, "policy.conf");
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, tl_handshake_with(cctx, 10000, &cres, tl_hs_main, &s, &s.fd));
	EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_STREQ("untrusted-ak", atls_reason_name(cres.reason));
	atls_result_release(&s.res);
	atls_ctx_free(cctx);
	atls_ctx_free(s.ctx);
}

TEST_HARNESS_MAIN
