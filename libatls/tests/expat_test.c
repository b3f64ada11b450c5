// SPDX-License-Identifier: Apache-2.0
/*
 * The exporter-bound attestation mode (cfg.binding, libatls/src/expat.c,
 * Documentation/protocol.rst "Exporter-bound attestation") end to end with
 * real OpenSSL and one swtpm per side over TCP loopback:
 *  - matrix: binding handshake / exporter x server-only / client-only /
 *    mutual x key mode tpm / software (x the three suites), plus batched
 *    quotes: verdicts, claims, binders agreeing at both ends, and the record
 *    sequence numbers of the keys: a record written right after the
 *    exchange at the exported sequence number is read by the other side;
 *  - negotiation: a peer that does not support the mode (plain OpenSSL, an
 *    atls peer configured for the handshake binder) fails cleanly with
 *    -EPROTONOSUPPORT, reason binding-unsupported, when the policy
 *    requires it; a default server accepts a client that asks for it;
 *  - adversaries (white-box: a plain OpenSSL server speaking the exchange
 *    with libatls's own codec and the genuine server's TPM): a genuine
 *    authenticator is accepted (the server is a correct peer), the same
 *    authenticator replayed on a new connection, genuine evidence of an
 *    earlier connection in a fresh authenticator, and tampered
 *    authenticators are refused;
 *  - security.rst, "Evidence before the peer is authenticated": a client
 *    the server does not trust obtains the server's evidence under the
 *    handshake binder, not under the exporter binding.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* OpenSSL callback signatures: most parameters are unused here. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include "harness.h"
#include <atls/provision.h>
#include <atls/atls.h>
#include <atls/wire.h>
#include "../src/evidence.h"
#include "../src/exported_auth.h"
#include "../src/internal.h"
#include "../src/tpm_int.h"
#include "adversary.h"
#include "certs.h"
#include "net.h"
#include "peer.h"
#include "record.h"
#include "swtpm.h"
#include "util.h"

static const char *const suites[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
				      "TLS_CHACHA20_POLY1305_SHA256" };

/* ------------------------------------------------- the binding extension */

TEST(binding_ext_parsers)
{
	static const uint8_t ch_ok[] = { 1, ATLS_BINDING_MODE_EXPORTER };
	static const uint8_t ch_other[] = { 2, 7, 9 };		/* unknown modes only */
	static const uint8_t ch_both[] = { 3, 9, ATLS_BINDING_MODE_EXPORTER, 0 };
	static const uint8_t ch_empty[] = { 0 };
	static const uint8_t ch_short[] = { 2, 1 };
	static const uint8_t ch_long[] = { 1, 1, 2 };
	static const uint8_t ch_dup[] = { 3, 1, 5, 1 };
	uint8_t ch_many[2 + ATLS_BINDING_MODES_MAX], ee[2] = { ATLS_BINDING_MODE_EXPORTER, 0 };
	uint8_t *b;
	size_t n, i;
	bool ex;

	EXPECT_EQ(0, atls_ext_parse_binding_ch(ch_ok, sizeof(ch_ok), &ex));
	EXPECT_TRUE(ex);
	EXPECT_EQ(0, atls_ext_parse_binding_ch(ch_other, sizeof(ch_other), &ex));
	EXPECT_FALSE(ex);
	EXPECT_EQ(0, atls_ext_parse_binding_ch(ch_both, sizeof(ch_both), &ex));
	EXPECT_TRUE(ex);
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ch(NULL, 0, &ex));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ch(ch_empty, sizeof(ch_empty), &ex));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ch(ch_short, sizeof(ch_short), &ex));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ch(ch_long, sizeof(ch_long), &ex));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ch(ch_dup, sizeof(ch_dup), &ex));
	EXPECT_FALSE(ex);
	/* At most ATLS_BINDING_MODES_MAX modes. */
	ch_many[0] = ATLS_BINDING_MODES_MAX;
	for (i = 0; i <= ATLS_BINDING_MODES_MAX; i++)
		ch_many[1 + i] = (uint8_t)(i + 1);
	EXPECT_EQ(0, atls_ext_parse_binding_ch(ch_many, 1 + ATLS_BINDING_MODES_MAX, &ex));
	ch_many[0] = ATLS_BINDING_MODES_MAX + 1;
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ch(ch_many, 2 + ATLS_BINDING_MODES_MAX, &ex));
	/* EncryptedExtensions: exactly one byte. */
	EXPECT_EQ(ATLS_BINDING_MODE_EXPORTER, atls_ext_parse_binding_ee(ee, 1));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ee(ee, 0));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_binding_ee(ee, 2));
	/* Our builders' bytes (protocol.rst). */
	ASSERT_EQ(0, atls_ext_build_binding_ch(&b, &n));
	EXPECT_EQ(sizeof(ch_ok), n);
	EXPECT_EQ(0, memcmp(b, ch_ok, n));
	free(b);
	ASSERT_EQ(0, atls_ext_build_binding_ee(&b, &n));
	EXPECT_EQ(1, n);
	EXPECT_EQ(ATLS_BINDING_MODE_EXPORTER, b[0]);
	free(b);
}

/* ---------------------------------------------------------------- matrix */

TL_SIDES_FIXTURE(mx, tl_side_pair, "exs", "exc", struct atls_ctx *sctx, *cctx;);

FIXTURE_VARIANT(mx)
{
	bool server_attests, client_attests;
	enum atls_key_mode mode;
	enum atls_binding binding;
	bool batch;
};

FIXTURE_VARIANT_ADD(mx, hs_server_only_tpm) { true, false, ATLS_KEY_TPM, ATLS_BINDING_HANDSHAKE, false };
FIXTURE_VARIANT_ADD(mx, hs_client_only_tpm) { false, true, ATLS_KEY_TPM, ATLS_BINDING_HANDSHAKE, false };
FIXTURE_VARIANT_ADD(mx, hs_mutual_tpm) { true, true, ATLS_KEY_TPM, ATLS_BINDING_HANDSHAKE, false };
FIXTURE_VARIANT_ADD(mx, hs_server_only_sw) { true, false, ATLS_KEY_SOFTWARE,
					     ATLS_BINDING_HANDSHAKE, false };
FIXTURE_VARIANT_ADD(mx, hs_client_only_sw) { false, true, ATLS_KEY_SOFTWARE,
					     ATLS_BINDING_HANDSHAKE, false };
FIXTURE_VARIANT_ADD(mx, hs_mutual_sw) { true, true, ATLS_KEY_SOFTWARE, ATLS_BINDING_HANDSHAKE, false };
FIXTURE_VARIANT_ADD(mx, ex_server_only_tpm) { true, false, ATLS_KEY_TPM, ATLS_BINDING_EXPORTER, false };
FIXTURE_VARIANT_ADD(mx, ex_client_only_tpm) { false, true, ATLS_KEY_TPM, ATLS_BINDING_EXPORTER, false };
FIXTURE_VARIANT_ADD(mx, ex_mutual_tpm) { true, true, ATLS_KEY_TPM, ATLS_BINDING_EXPORTER, false };
FIXTURE_VARIANT_ADD(mx, ex_server_only_sw) { true, false, ATLS_KEY_SOFTWARE,
					     ATLS_BINDING_EXPORTER, false };
FIXTURE_VARIANT_ADD(mx, ex_client_only_sw) { false, true, ATLS_KEY_SOFTWARE,
					     ATLS_BINDING_EXPORTER, false };
FIXTURE_VARIANT_ADD(mx, ex_mutual_sw) { true, true, ATLS_KEY_SOFTWARE, ATLS_BINDING_EXPORTER, false };
FIXTURE_VARIANT_ADD(mx, ex_mutual_tpm_batched) { true, true, ATLS_KEY_TPM, ATLS_BINDING_EXPORTER,
						 true };
FIXTURE_VARIANT_ADD(mx, ex_mutual_sw_batched) { true, true, ATLS_KEY_SOFTWARE,
						ATLS_BINDING_EXPORTER, true };
/* No attestation either way: the mode is negotiated, nothing is exchanged. */
FIXTURE_VARIANT_ADD(mx, ex_none_sw) { false, false, ATLS_KEY_SOFTWARE, ATLS_BINDING_EXPORTER, false };

static void check_peer(struct __test_metadata *_metadata, const struct atls_result *r,
		       const struct tl_side *peer, enum atls_key_mode mode)
{
	uint8_t id[32];

	EXPECT_TRUE(r->peer_attested);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, r->appraisal.status);
	EXPECT_EQ(mode == ATLS_KEY_TPM ? ATLS_EVIDENCE_TPM2_KAT_PAT : ATLS_EVIDENCE_TPM2_PAT,
		  r->peer_claims.evidence_type);
	ASSERT_EQ(0, tl_pubkey_sha256(tl_path(peer->dir, "ak.pem"), id));
	EXPECT_EQ(0, memcmp(r->peer_claims.ak_sha256, id, 32));
}

/* The rec_seq field of a crypto_info, as a number. */
static uint64_t rec_seq(const union atls_crypto_info *ci)
{
	const unsigned char *p = ci->info.cipher_type == TLS_CIPHER_CHACHA20_POLY1305
					 ? ci->chacha20_poly1305.rec_seq
				 : ci->info.cipher_type == TLS_CIPHER_AES_GCM_256
					 ? ci->aes_gcm_256.rec_seq
					 : ci->aes_gcm_128.rec_seq;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void one(struct __test_metadata *_metadata, struct atls_ctx *cctx, struct atls_ctx *sctx,
		const FIXTURE_VARIANT(mx) * variant, const struct tl_side *srv,
		const struct tl_side *cli)
{
	static const char c2s[] = "client, right after the exchange";
	static const char s2c[] = "server, right after the exchange";
	bool ex = variant->binding == ATLS_BINDING_EXPORTER;
	struct tl_hs sa = { .ctx = sctx };
	struct atls_result cres;
	struct tl_thread th;
	uint8_t buf[64], type;
	/* Records each way: a request from each relying party, an authenticator back. */
	uint64_t c_tx = ex ? (uint64_t)variant->server_attests + variant->client_attests : 0;
	uint64_t s_tx = c_tx;
	int cfd, sfd, ret;

	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
	sa.fd = sfd;
	ASSERT_EQ(0, tl_spawn(&th, tl_hs_main, &sa));
	ret = atls_handshake(cctx, cfd, 10000, &cres);
	EXPECT_EQ(0, tl_join(&th)) TH_LOG("server: %s: %s", atls_reason_name(sa.res.reason),
					  sa.res.reason_text);
	ASSERT_EQ(0, ret) TH_LOG("client: %s: %s", atls_reason_name(cres.reason), cres.reason_text);
	ASSERT_EQ(0, sa.res.err);
	EXPECT_EQ(variant->binding, cres.binding);
	EXPECT_EQ(variant->binding, sa.res.binding);
	EXPECT_EQ(variant->server_attests, cres.peer_attested);
	EXPECT_EQ(variant->server_attests, sa.res.self_attested);
	EXPECT_EQ(variant->client_attests, sa.res.peer_attested);
	EXPECT_EQ(variant->client_attests, cres.self_attested);
	if (variant->server_attests)
		check_peer(_metadata, &cres, srv, variant->mode);
	if (variant->client_attests)
		check_peer(_metadata, &sa.res, cli, variant->mode);
	if (variant->batch) {
		EXPECT_TRUE(cres.self_batched && cres.peer_batched);
		EXPECT_TRUE(sa.res.self_batched && sa.res.peer_batched);
	}
	/* Binders agree across the ends (exporter binders in that mode). */
	EXPECT_EQ(cres.binder_peer_len, sa.res.binder_self_len);
	EXPECT_EQ(0, memcmp(cres.binder_peer, sa.res.binder_self, cres.binder_peer_len));
	EXPECT_EQ(sa.res.binder_peer_len, cres.binder_self_len);
	EXPECT_EQ(0, memcmp(sa.res.binder_peer, cres.binder_self, sa.res.binder_peer_len));
	if (ex && variant->server_attests)
		EXPECT_NE(0, cres.binder_peer_len);
	/* Sequence numbers: as many records as the exchange used, both ends agree. */
	EXPECT_EQ(c_tx, cres.tx_records);
	EXPECT_EQ(s_tx, cres.rx_records);
	EXPECT_EQ(s_tx, sa.res.tx_records);
	EXPECT_EQ(c_tx, sa.res.rx_records);
	EXPECT_EQ(cres.tx_records, rec_seq(&cres.tx));
	EXPECT_EQ(cres.rx_records, rec_seq(&cres.rx));
	EXPECT_EQ(sa.res.tx_records, rec_seq(&sa.res.tx));
	EXPECT_EQ(sa.res.rx_records, rec_seq(&sa.res.rx));
	/* A transfer right after the exchange, each way, at those numbers. */
	EXPECT_EQ(0, tl_record_write(cfd, &cres.tx, rec_seq(&cres.tx), (const uint8_t *)c2s,
				     sizeof(c2s)));
	EXPECT_EQ(sizeof(c2s), tl_record_read(sfd, &sa.res.rx, rec_seq(&sa.res.rx), buf,
					      sizeof(buf), &type));
	EXPECT_EQ(0, memcmp(buf, c2s, sizeof(c2s)));
	EXPECT_EQ(0, tl_record_write(sfd, &sa.res.tx, rec_seq(&sa.res.tx), (const uint8_t *)s2c,
				     sizeof(s2c)));
	EXPECT_EQ(sizeof(s2c), tl_record_read(cfd, &cres.rx, rec_seq(&cres.rx), buf, sizeof(buf),
					      &type));
	EXPECT_EQ(0, memcmp(buf, s2c, sizeof(s2c)));
	atls_result_release(&cres);
	atls_result_release(&sa.res);
	close(cfd);
	close(sfd);
}

TEST_F(mx, matrix)
{
	struct atls_config sc, cc;
	int i;

	for (i = 0; i < 3; i++) {
		tl_side_config(&sc, &self->srv, ATLS_ROLE_SERVER, variant->mode,
			       variant->server_attests, variant->client_attests);
		tl_side_config(&cc, &self->cli, ATLS_ROLE_CLIENT, variant->mode,
			       variant->client_attests, variant->server_attests);
		sc.ciphersuites = cc.ciphersuites = suites[i];
		sc.binding = cc.binding = variant->binding;
		sc.batch = cc.batch = variant->batch;
		ASSERT_EQ(0, atls_ctx_new(&sc, &self->sctx));
		ASSERT_EQ(0, atls_ctx_new(&cc, &self->cctx));
		one(_metadata, self->cctx, self->sctx, variant, &self->srv, &self->cli);
		TH_LOG("suite %s done", suites[i]);
		atls_ctx_free(self->sctx);
		atls_ctx_free(self->cctx);
	}
}

/* ----------------------------------------------------------- negotiation */

TL_SIDES_FIXTURE(neg, tl_side_pair, "exns", "exnc");

/* A plain OpenSSL TLS 1.3 peer (knows no atls extension) on *fd. */
struct plain_peer {
	int fd, server;
	const char *cert, *key;
};

static int plain_peer_main(void *arg)
{
	struct plain_peer *p = arg;
	SSL_CTX *c = tl_peer_ctx(p->server, NULL, p->cert, p->key);
	SSL *s = c ? SSL_new(c) : NULL;

	if (s)
		tl_peer_handshake(s, p->fd, p->server);
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

static struct atls_ctx *ctx_of(struct tl_side *s, enum atls_role role, bool attests,
			       bool checks_peer, enum atls_binding b)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	tl_side_config(&c, s, role, ATLS_KEY_SOFTWARE, attests, checks_peer);
	c.binding = b;
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

TEST_F(neg, config_rejects_unknown_binding)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	tl_side_config(&c, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, false, false);
	c.binding = (enum atls_binding)2;
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));
	EXPECT_STREQ("binding-unsupported", atls_reason_name(ATLS_REASON_BINDING_UNSUPPORTED));
}

TEST_F(neg, client_requires_exporter_plain_openssl_server)
{
	struct atls_ctx *cctx = ctx_of(&self->cli, ATLS_ROLE_CLIENT, false, true,
				       ATLS_BINDING_EXPORTER);
	struct plain_peer p = { .server = 1, .cert = tl_path(self->srv.dir, "sw.pem"),
				.key = tl_path(self->srv.dir, "sw.key") };
	struct atls_result res;

	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EPROTONOSUPPORT,
		  tl_handshake_with(cctx, 5000, &res, plain_peer_main, &p, &p.fd));
	EXPECT_EQ(ATLS_REASON_BINDING_UNSUPPORTED, res.reason) TH_LOG("%s", res.reason_text);
	EXPECT_EQ(ATLS_ALERT_HANDSHAKE_FAILURE, res.alert);
	EXPECT_EQ(0, res.crypto_info_len);
	atls_ctx_free(cctx);
}

TEST_F(neg, server_requires_exporter_plain_openssl_client)
{
	struct atls_ctx *sctx = ctx_of(&self->srv, ATLS_ROLE_SERVER, true, false,
				       ATLS_BINDING_EXPORTER);
	struct plain_peer p = { .server = 0 };
	struct atls_result res;

	ASSERT_NE(NULL, sctx);
	EXPECT_EQ(-EPROTONOSUPPORT,
		  tl_handshake_with(sctx, 5000, &res, plain_peer_main, &p, &p.fd));
	EXPECT_EQ(ATLS_REASON_BINDING_UNSUPPORTED, res.reason) TH_LOG("%s", res.reason_text);
	atls_ctx_free(sctx);
}

/* A server handshake that, like atlsd, closes the connection when it fails. */
static int closing_server_main(void *arg)
{
	struct tl_hs *h = arg;
	int ret = atls_handshake(h->ctx, h->fd, h->timeout_ms, &h->res);

	if (ret)
		shutdown(h->fd, SHUT_RDWR);
	return ret;
}

/* Two libatls ends; returns the client's result, the server's in *sres. */
static int pair_run(struct atls_ctx *cctx, struct atls_ctx *sctx, struct atls_result *cres,
		    struct atls_result *sres)
{
	struct tl_hs sa = { .ctx = sctx, .timeout_ms = 5000 };
	struct tl_thread th;
	int cfd, sfd, ret;

	if (tl_tcp_pair(AF_INET, &cfd, &sfd))
		return -1;
	sa.fd = sfd;
	if (tl_spawn(&th, closing_server_main, &sa))
		return -1;
	ret = atls_handshake(cctx, cfd, 5000, cres);
	/* A failed side closes: the other sees the end of the connection. */
	if (ret)
		shutdown(cfd, SHUT_RDWR);
	tl_join(&th);
	*sres = sa.res;
	close(cfd);
	close(sfd);
	return ret;
}

TEST_F(neg, server_requires_exporter_handshake_binding_client)
{
	struct atls_ctx *sctx = ctx_of(&self->srv, ATLS_ROLE_SERVER, true, false,
				       ATLS_BINDING_EXPORTER);
	struct atls_ctx *cctx = ctx_of(&self->cli, ATLS_ROLE_CLIENT, false, true,
				       ATLS_BINDING_HANDSHAKE);
	struct atls_result cres, sres;

	ASSERT_NE(NULL, sctx);
	ASSERT_NE(NULL, cctx);
	EXPECT_NE(0, pair_run(cctx, sctx, &cres, &sres));
	EXPECT_EQ(-EPROTONOSUPPORT, sres.err);
	EXPECT_EQ(ATLS_REASON_BINDING_UNSUPPORTED, sres.reason) TH_LOG("%s", sres.reason_text);
	EXPECT_FALSE(cres.peer_attested);	/* no evidence left the server */
	atls_result_release(&cres);
	atls_result_release(&sres);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_F(neg, default_server_accepts_exporter_client)
{
	struct atls_ctx *sctx = ctx_of(&self->srv, ATLS_ROLE_SERVER, true, true,
				       ATLS_BINDING_HANDSHAKE);
	struct atls_ctx *cctx = ctx_of(&self->cli, ATLS_ROLE_CLIENT, true, true,
				       ATLS_BINDING_EXPORTER);
	struct atls_result cres, sres;

	ASSERT_NE(NULL, sctx);
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(0, pair_run(cctx, sctx, &cres, &sres)) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(0, sres.err) TH_LOG("%s", sres.reason_text);
	EXPECT_EQ(ATLS_BINDING_EXPORTER, cres.binding);
	EXPECT_EQ(ATLS_BINDING_EXPORTER, sres.binding);
	EXPECT_TRUE(cres.peer_attested && sres.peer_attested);
	EXPECT_EQ(2, cres.tx_records);
	atls_result_release(&cres);
	atls_result_release(&sres);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

/* The appraisal policy (policy.5) can demand the exporter binding itself. */
TEST_F(neg, policy_file_binding_exporter)
{
	struct plain_peer p = { .server = 1, .cert = tl_path(self->srv.dir, "sw.pem"),
				.key = tl_path(self->srv.dir, "sw.key") };
	struct atls_ctx *sctx, *cctx;
	struct atls_result cres, sres;
	FILE *f = fopen(tl_path(self->cli.dir, "policy.conf"), "a");

	ASSERT_NE(NULL, f);
	fputs("binding = \"exporter\";\n", f);
	fclose(f);
	cctx = ctx_of(&self->cli, ATLS_ROLE_CLIENT, false, true, ATLS_BINDING_HANDSHAKE);
	sctx = ctx_of(&self->srv, ATLS_ROLE_SERVER, true, false, ATLS_BINDING_HANDSHAKE);
	ASSERT_NE(NULL, cctx);
	ASSERT_NE(NULL, sctx);
	EXPECT_EQ(0, pair_run(cctx, sctx, &cres, &sres)) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_BINDING_EXPORTER, cres.binding);
	EXPECT_TRUE(cres.peer_attested);
	atls_result_release(&cres);
	atls_result_release(&sres);
	EXPECT_EQ(-EPROTONOSUPPORT,
		  tl_handshake_with(cctx, 5000, &cres, plain_peer_main, &p, &p.fd));
	EXPECT_EQ(ATLS_REASON_BINDING_UNSUPPORTED, cres.reason);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_HARNESS_MAIN
