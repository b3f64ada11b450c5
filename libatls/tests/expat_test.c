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

/* ------------------------------------------------------------ adversaries */

/*
 * A plain OpenSSL server with the genuine server H's certificate, software
 * key and TPM (a party holding H's leaked key and able to use H's TPM, or
 * the genuine server itself when mode is GENUINE) that chooses TPM evidence
 * and the exporter binding and then answers the client's authenticator
 * request with libatls's own codec, as told by mode.
 */
enum adv_mode {
	ADV_GENUINE,		/* a correct authenticator with fresh evidence */
	ADV_REPLAY_AUTH,	/* the authenticator of an earlier connection, as is */
	ADV_REPLAY_CMW,		/* a correct authenticator carrying earlier evidence */
	ADV_TAMPER_AUTH,	/* a correct authenticator, one byte of its Finished flipped */
	ADV_TAMPER_SIG_CV,	/* ... one byte of its CertificateVerify signature flipped */
	ADV_TAMPER_CMW,		/* a correct authenticator over evidence with a byte flipped */
	ADV_OTHER_CERT,		/* a correct authenticator for another certificate and key */
	ADV_SILENT,		/* reads the request, never answers */
};

struct adv {
	int fd;
	enum adv_mode mode;
	const char *cert, *key, *tcti;
	const char *other_cert, *other_key;
	uint8_t scheme[TL_TPM_SCHEME_LEN];
	/* GENUINE keeps what it sent for the replays */
	uint8_t *auth, *cmw;
	size_t auth_len, cmw_len;
	int sent;		/* -1 until an authenticator was written */
};

static int adv_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		   size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	static const uint8_t exporter = ATLS_BINDING_MODE_EXPORTER;
	struct adv *a = arg;

	if (context != SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS)
		return 0;
	if (type == ATLS_EXT_BINDING) {
		*out = &exporter;
		*outlen = 1;
	} else {
		*out = a->scheme;
		*outlen = sizeof(a->scheme);
	}
	return 1;
}

static int adv_accept(SSL *s, unsigned int type, unsigned int context, const unsigned char *in,
		      size_t inlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	return 1;
}

static int ssl_read_all(SSL *s, uint8_t *p, size_t n)
{
	size_t r;

	while (n) {
		if (SSL_read_ex(s, p, n, &r) != 1)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

static int load_key_cert(const char *cert, const char *key, X509 **x, EVP_PKEY **k)
{
	FILE *f = fopen(cert, "r");

	*x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	f = fopen(key, "r");
	*k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return *x && *k ? 0 : -1;
}

/* After the handshake: read the request, answer it as a->mode says. */
static int adv_answer(struct adv *a, SSL *s)
{
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_SOFTWARE,
					  .ak_handle = ATLS_AK_HANDLE_DEFAULT,
					  .pcr_bank_alg = 0x0b, .pcr_mask = 0xff };
	uint8_t req[1024], binder[64], *spki = NULL, *cmw = NULL, *auth = NULL;
	size_t req_len, blen, cmw_len = 0, auth_len = 0;
	X509 *cert = SSL_get_certificate(s), *ocert = NULL;
	EVP_PKEY *key = SSL_get_privatekey(s), *okey = NULL;
	struct atls_ea_request rq;
	struct atls_ea_keys k;
	struct atls_tpm *t;
	int n, ret = -1;

	if (ssl_read_all(s, req, 4))
		return -1;
	req_len = 4 + ((size_t)req[1] << 16 | (size_t)req[2] << 8 | req[3]);
	if (req_len > sizeof(req) || ssl_read_all(s, req + 4, req_len - 4) ||
	    atls_ea_request_parse(req, req_len, &rq, NULL) || atls_ea_keys_derive(s, true, &k))
		return -1;
	if (a->mode == ADV_SILENT) {
		ret = 0;
		goto out;
	}
	if (a->mode == ADV_REPLAY_AUTH) {
		ret = SSL_write(s, a->auth, (int)a->auth_len) > 0 ? 0 : -1;
		goto out;
	}
	if (a->mode == ADV_OTHER_CERT) {
		if (load_key_cert(a->other_cert, a->other_key, &ocert, &okey))
			goto out;
		cert = ocert;
		key = okey;
	}
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
	if (n <= 0 || atls_ea_binder(s, rq.context, rq.context_len, spki, (size_t)n, binder, &blen))
		goto out;
	if (a->mode == ADV_REPLAY_CMW) {
		cmw = malloc(a->cmw_len);
		if (!cmw)
			goto out;
		memcpy(cmw, a->cmw, a->cmw_len);
		cmw_len = a->cmw_len;
	} else {
		if (atls_tpm_open(a->tcti, &t))
			goto out;
		n = atls_evidence_produce(t, &p, binder, blen, &cmw, &cmw_len);
		atls_tpm_close(t);
		if (n)
			goto out;
	}
	if (a->mode == ADV_TAMPER_CMW)
		cmw[cmw_len - 5] ^= 0x01;	/* in the quote's signed attestInfo (last) */
	if (atls_ea_authenticator_build(&k, req, req_len, &cert, 1, key, cmw, cmw_len, &auth,
					&auth_len))
		goto out;
	if (a->mode == ADV_TAMPER_AUTH)
		auth[auth_len - 1] ^= 0x80;	/* last byte of the Finished MAC */
	if (a->mode == ADV_TAMPER_SIG_CV) {
		struct atls_ea_authenticator pa;

		if (atls_ea_authenticator_parse(auth, auth_len, &pa, NULL))
			goto out;
		auth[pa.signature - auth + pa.signature_len / 2] ^= 0x01;
	}
	ret = SSL_write(s, auth, (int)auth_len) > 0 ? 0 : -1;
	if (!ret && a->mode == ADV_GENUINE) {
		free(a->auth);
		free(a->cmw);
		a->auth = auth;
		a->auth_len = auth_len;
		a->cmw = cmw;
		a->cmw_len = cmw_len;
		auth = cmw = NULL;
	}
out:
	atls_ea_keys_wipe(&k);
	OPENSSL_free(spki);
	X509_free(ocert);
	EVP_PKEY_free(okey);
	free(cmw);
	free(auth);
	return ret;
}

static int adv_main(void *arg)
{
	struct adv *a = arg;
	SSL_CTX *c = tl_peer_ctx(1, "TLS_AES_128_GCM_SHA256", a->cert, a->key);
	unsigned int ctxs = SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
			    SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS;
	uint8_t b;
	SSL *s;

	tl_tpm_scheme(a->scheme);
	a->sent = -1;
	if (!c || SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE, ctxs, adv_add, NULL, a, adv_accept,
					 a) != 1 ||
	    SSL_CTX_add_custom_ext(c, ATLS_EXT_BINDING, ctxs, adv_add, NULL, a, adv_accept,
				   a) != 1) {
		SSL_CTX_free(c);
		return -1;
	}
	s = SSL_new(c);
	if (s && tl_peer_handshake(s, a->fd, 1)) {
		a->sent = adv_answer(a, s);
		/* Until the client is done with us. */
		while (SSL_read(s, &b, 1) > 0)
			;
	}
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

TL_SIDES_FIXTURE(adv, tl_side_server_client, "exas", "exac", struct atls_ctx *cctx;
		 struct adv a; struct tl_side other;);

/* The victim: a client requiring H's evidence, exporter-bound. */
static int victim(FIXTURE_DATA(adv) *self, struct atls_result *res)
{
	return tl_handshake_with(self->cctx, 5000, res, adv_main, &self->a, &self->a.fd);
}

static void advx_begin(FIXTURE_DATA(adv) *self, struct __test_metadata *_metadata)
{
	struct atls_result res;

	self->cctx = ctx_of(&self->cli, ATLS_ROLE_CLIENT, false, true, ATLS_BINDING_EXPORTER);
	ASSERT_NE(NULL, self->cctx);
	self->a = (struct adv){ .cert = tl_path(self->srv.dir, "sw.pem"),
				.key = tl_path(self->srv.dir, "sw.key"),
				.tcti = self->srv.sw.tcti, .mode = ADV_GENUINE };
	/* The adversary's server is a correct peer: its genuine answer is affirmed. */
	ASSERT_EQ(0, victim(self, &res)) TH_LOG("%s: %s", atls_reason_name(res.reason),
						res.reason_text);
	EXPECT_EQ(0, self->a.sent);
	EXPECT_EQ(ATLS_BINDING_EXPORTER, res.binding);
	EXPECT_TRUE(res.peer_attested);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, res.appraisal.status);
	atls_result_release(&res);
	ASSERT_NE(NULL, self->a.auth);
}

static void advx_end(FIXTURE_DATA(adv) *self)
{
	atls_ctx_free(self->cctx);
	free(self->a.auth);
	free(self->a.cmw);
}

/* Refused with reason and errno, nothing handed out. */
static void expect_refused(struct __test_metadata *_metadata, FIXTURE_DATA(adv) *self,
			   enum adv_mode mode, int err, enum atls_reason reason)
{
	struct atls_result res;

	self->a.mode = mode;
	EXPECT_EQ(err, victim(self, &res)) TH_LOG("mode %d: %s: %s", mode,
						  atls_reason_name(res.reason), res.reason_text);
	EXPECT_EQ(0, self->a.sent);	/* the adversary did get its answer out */
	EXPECT_EQ(reason, res.reason) TH_LOG("mode %d: %s", mode, res.reason_text);
	EXPECT_FALSE(res.peer_attested);
	EXPECT_EQ(0, res.crypto_info_len);
}

TEST_F(adv, authenticator_replayed_on_another_connection_refused)
{
	advx_begin(self, _metadata);
	/* Finished MAC and context are those of the earlier connection. */
	expect_refused(_metadata, self, ADV_REPLAY_AUTH, -EKEYREJECTED, ATLS_REASON_BAD_SIGNATURE);
	advx_end(self);
}

TEST_F(adv, evidence_of_an_earlier_connection_refused)
{
	advx_begin(self, _metadata);
	/* A valid authenticator, but the quote carries the old exporter binder. */
	expect_refused(_metadata, self, ADV_REPLAY_CMW, -EKEYREJECTED, ATLS_REASON_FRESHNESS);
	advx_end(self);
}

TEST_F(adv, tampered_authenticator_refused)
{
	advx_begin(self, _metadata);
	expect_refused(_metadata, self, ADV_TAMPER_AUTH, -EKEYREJECTED, ATLS_REASON_BAD_SIGNATURE);
	expect_refused(_metadata, self, ADV_TAMPER_SIG_CV, -EKEYREJECTED,
		       ATLS_REASON_BAD_SIGNATURE);
	advx_end(self);
}

TEST_F(adv, tampered_evidence_refused)
{
	advx_begin(self, _metadata);
	expect_refused(_metadata, self, ADV_TAMPER_CMW, -EKEYREJECTED, ATLS_REASON_BAD_SIGNATURE);
	advx_end(self);
}

TEST_F(adv, authenticator_for_another_certificate_refused)
{
	ASSERT_EQ(0, tl_side_provision(&self->other, "exao"));
	advx_begin(self, _metadata);
	/* A genuine quote for the other key, in a valid authenticator of the other key. */
	self->a.other_cert = tl_path(self->other.dir, "sw.pem");
	self->a.other_key = tl_path(self->other.dir, "sw.key");
	expect_refused(_metadata, self, ADV_OTHER_CERT, -EKEYREJECTED,
		       ATLS_REASON_KEY_BINDING_MISMATCH);
	advx_end(self);
	tl_side_free(&self->other);
}

/* The exchange shares the handshake's deadline: a silent attester times out. */
TEST_F(adv, silent_attester_times_out)
{
	struct atls_result res;

	advx_begin(self, _metadata);
	self->a.mode = ADV_SILENT;
	EXPECT_EQ(-ETIMEDOUT, tl_handshake_with(self->cctx, 1500, &res, adv_main, &self->a,
						&self->a.fd));
	EXPECT_EQ(ATLS_REASON_TIMEOUT, res.reason) TH_LOG("%s", res.reason_text);
	EXPECT_EQ(0, res.crypto_info_len);
	advx_end(self);
}

/*
 * A hostile client against a libatls server in the exporter-bound mode: a
 * plain OpenSSL client asking for the server's evidence and the exporter
 * binding, which then sends the given bytes as its "request".
 */
struct bad_client {
	int fd;
	const uint8_t *req;
	size_t req_len;
	uint8_t *ch;
	size_t ch_len;
};

static int bc_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		  size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	static const uint8_t binding[] = { 1, ATLS_BINDING_MODE_EXPORTER };
	struct bad_client *b = arg;

	if (context != SSL_EXT_CLIENT_HELLO)
		return 0;
	if (type == ATLS_EXT_BINDING) {
		*out = binding;
		*outlen = sizeof(binding);
	} else {
		*out = b->ch;
		*outlen = b->ch_len;
	}
	return 1;
}

static int bad_client_main(void *arg)
{
	struct bad_client *b = arg;
	SSL_CTX *c = tl_peer_ctx(0, NULL, NULL, NULL);
	unsigned int ctxs = SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
			    SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS;
	uint8_t x;
	SSL *s;

	if (!c || atls_ext_build_ch(true, false, &b->ch, &b->ch_len) ||
	    SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE, ctxs, bc_add, NULL, b, adv_accept, b) != 1 ||
	    SSL_CTX_add_custom_ext(c, ATLS_EXT_BINDING, ctxs, bc_add, NULL, b, adv_accept, b) != 1) {
		SSL_CTX_free(c);
		return -1;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	s = SSL_new(c);
	if (s && tl_peer_handshake(s, b->fd, 0)) {
		if (b->req_len)
			SSL_write(s, b->req, (int)b->req_len);
		while (SSL_read(s, &x, 1) > 0)
			;
	}
	SSL_free(s);
	SSL_CTX_free(c);
	free(b->ch);
	return 0;
}

TEST_F(neg, server_refuses_malformed_requests)
{
	static const uint16_t sa[] = { 0x0403 };
	uint8_t ctx[32] = { 1 }, *good, *bad;
	size_t n;
	struct atls_ctx *sctx = ctx_of(&self->srv, ATLS_ROLE_SERVER, true, false,
				       ATLS_BINDING_EXPORTER);
	struct bad_client b = { 0 };
	struct atls_result res;
	size_t i;

	ASSERT_NE(NULL, sctx);
	/* A request of the wrong type (the server's own kind), one without
	 * cmw_attestation, and truncated or garbled ones. */
	struct { uint8_t type; bool cmw; size_t cut; uint8_t flip; } cases[] = {
		{ ATLS_EA_HS_CERTIFICATE_REQUEST, true, 0, 0 },
		{ ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, false, 0, 0 },
		{ ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, 1, 0 },
		{ ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, 0, 5 },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ASSERT_EQ(0, atls_ea_request_build(cases[i].type, ctx, sizeof(ctx), sa, 1,
						   cases[i].cmw, &good, &n));
		bad = good;
		if (cases[i].flip)	/* the context length byte: framing no longer adds up */
			bad[4] ^= cases[i].flip;
		/* Cut: the header announces one byte more than follows, then the
		 * client waits; the server fails at its deadline. */
		if (cases[i].cut)
			bad[3] += (uint8_t)cases[i].cut;
		b.req = bad;
		b.req_len = n;
		EXPECT_NE(0, tl_handshake_with(sctx, 1500, &res, bad_client_main, &b, &b.fd));
		EXPECT_EQ(cases[i].cut ? ATLS_REASON_TIMEOUT : ATLS_REASON_MALFORMED_EVIDENCE,
			  res.reason) TH_LOG("case %zu: %s", i, res.reason_text);
		EXPECT_FALSE(res.self_attested);	/* no evidence left the server */
		EXPECT_EQ(0, res.crypto_info_len);
		free(good);
	}
	atls_ctx_free(sctx);
}

/*
 * security.rst, "Evidence before the peer is authenticated": a client that
 * the server's policy does not trust (its AK is unknown there) asks a
 * server requiring client attestation for its evidence.  With the handshake
 * binder the server's evidence is in its Certificate, sent before the client
 * has said who it is: the client holds (and has appraised) it although the
 * server refuses the client.  With the exporter binding the server appraises
 * the client first: nothing of its evidence leaves it.
 */
TL_SIDES_FIXTURE(harvest, tl_side_pair, "exhs", "exhc", struct tl_side intruder;);

static void harvest(struct __test_metadata *_metadata, FIXTURE_DATA(harvest) *self,
		    enum atls_binding b)
{
	struct atls_ctx *sctx, *ictx;
	struct atls_result ires, sres;
	struct atls_config c;
	uint8_t id[32];
	int ret;

	ASSERT_EQ(0, tl_side_provision(&self->intruder, "exhi"));
	/* The intruder trusts the server's AK (it copied the genuine client's policy). */
	ASSERT_EQ(0, tl_side_policy(&self->intruder, &self->srv, "\"server\""));
	tl_side_config(&c, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_TPM, true, true);
	c.binding = b;
	ASSERT_EQ(0, atls_ctx_new(&c, &sctx));
	tl_side_config(&c, &self->intruder, ATLS_ROLE_CLIENT, ATLS_KEY_TPM, true, true);
	c.binding = b;
	ASSERT_EQ(0, atls_ctx_new(&c, &ictx));
	/*
	 * With the handshake binder the intruder's own handshake even completes
	 * (a TLS 1.3 client is done when it has sent Finished, before the
	 * server has checked its certificate); not with the exporter binding.
	 */
	ret = pair_run(ictx, sctx, &ires, &sres);
	if (b == ATLS_BINDING_EXPORTER)
		EXPECT_NE(0, ret);
	/* The server refuses the intruder in both modes. */
	EXPECT_EQ(-EKEYREJECTED, sres.err);
	EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, sres.reason) TH_LOG("%s", sres.reason_text);
	ASSERT_EQ(0, tl_pubkey_sha256(tl_path(self->srv.dir, "ak.pem"), id));
	if (b == ATLS_BINDING_HANDSHAKE) {
		/* ... but the intruder already has the server's evidence. */
		EXPECT_TRUE(ires.peer_attested);
		EXPECT_EQ(0, memcmp(ires.peer_claims.ak_sha256, id, 32));
		EXPECT_EQ(32, ires.peer_claims.pcr_digest_len);
	} else {
		EXPECT_FALSE(ires.peer_attested);
		EXPECT_EQ(ATLS_EVIDENCE_NONE, ires.peer_claims.evidence_type);
		EXPECT_NE(0, memcmp(ires.peer_claims.ak_sha256, id, 32));
		EXPECT_EQ(ATLS_REASON_HANDSHAKE, ires.reason) TH_LOG("%s", ires.reason_text);
		/* The refusal reaches the intruder as the server's alert. */
		EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, sres.alert);
		EXPECT_EQ(-EPROTO, ires.err);
		EXPECT_EQ(ATLS_REASON_PEER_ABORTED, ires.abort_reason);
		EXPECT_NE(NULL, strstr(ires.reason_text, "alert 42 (bad certificate)"))
			TH_LOG("%s", ires.reason_text);
	}
	atls_result_release(&ires);
	atls_result_release(&sres);
	atls_ctx_free(sctx);
	atls_ctx_free(ictx);
	tl_side_free(&self->intruder);
}

TEST_F(harvest, handshake_binding_gives_evidence_to_untrusted_client)
{
	harvest(_metadata, self, ATLS_BINDING_HANDSHAKE);
}

TEST_F(harvest, exporter_binding_withholds_evidence_from_untrusted_client)
{
	harvest(_metadata, self, ATLS_BINDING_EXPORTER);
}

/*
 * protocol.rst, "Exporter-bound attestation", failures: a side that fails
 * the exchange after the handshake sends a fatal alert record of its own
 * (keys.c; OpenSSL 3.0 has no call for it), under each of the three
 * suites:
 *  - the server refuses an untrusted client: the client's OpenSSL opens
 *    the record and reports the alert (-EPROTO, peer aborted, "alert 42");
 *  - the client refuses the server's evidence (its policy trusts no AK):
 *    the server was done first (nothing more to read, its keys are out);
 *    the next record, opened with the server's exported receive keys at
 *    the exported sequence number (testlib's own AEAD, not OpenSSL's), is
 *    the alert: inner type 21, level fatal, bad_certificate.
 */
TEST_F(harvest, failed_exchange_ends_with_an_alert)
{
	struct atls_ctx *sctx, *ictx, *cctx;
	struct atls_result ires, sres, cres;
	struct tl_hs sa = { .timeout_ms = 5000 };
	struct tl_thread th;
	struct atls_config c;
	char *dir = tl_tmpdir("exal");
	uint8_t buf[64], type;
	unsigned int i;
	int cfd, sfd, ret;

	ASSERT_NE(NULL, dir);
	ASSERT_EQ(0, tl_policy_unsatisfiable(dir));
	ASSERT_EQ(0, tl_side_provision(&self->intruder, "exai"));
	ASSERT_EQ(0, tl_side_policy(&self->intruder, &self->srv, "\"server\""));
	for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		/* 1. server to client */
		tl_side_config(&c, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, true);
		c.binding = ATLS_BINDING_EXPORTER;
		c.ciphersuites = suites[i];
		ASSERT_EQ(0, atls_ctx_new(&c, &sctx));
		tl_side_config(&c, &self->intruder, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, true, true);
		c.binding = ATLS_BINDING_EXPORTER;
		c.ciphersuites = suites[i];
		ASSERT_EQ(0, atls_ctx_new(&c, &ictx));
		EXPECT_EQ(-EPROTO, pair_run(ictx, sctx, &ires, &sres)) TH_LOG("%s", suites[i]);
		EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, sres.reason) TH_LOG("%s", sres.reason_text);
		EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, sres.alert);
		EXPECT_EQ(ATLS_REASON_PEER_ABORTED, ires.abort_reason);
		EXPECT_NE(NULL, strstr(ires.reason_text, "alert 42 (bad certificate)"))
			TH_LOG("%s: %s", suites[i], ires.reason_text);
		atls_result_release(&ires);
		atls_result_release(&sres);
		atls_ctx_free(ictx);

		/* 2. client to server (server-only attestation) */
		tl_side_config(&c, &self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
		c.binding = ATLS_BINDING_EXPORTER;
		c.ciphersuites = suites[i];
		atls_ctx_free(sctx);
		ASSERT_EQ(0, atls_ctx_new(&c, &sctx));
		tl_side_config(&c, &self->cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
		c.policy_file = tl_path(dir, "policy.conf");
		c.binding = ATLS_BINDING_EXPORTER;
		c.ciphersuites = suites[i];
		ASSERT_EQ(0, atls_ctx_new(&c, &cctx));
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
		sa.ctx = sctx;
		sa.fd = sfd;
		ASSERT_EQ(0, tl_spawn(&th, tl_hs_main, &sa));
		ret = atls_handshake(cctx, cfd, 5000, &cres);
		EXPECT_EQ(0, tl_join(&th)) TH_LOG("%s", sa.res.reason_text);
		EXPECT_EQ(-EKEYREJECTED, ret);
		EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, cres.reason) TH_LOG("%s", cres.reason_text);
		EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
		if (!sa.res.err) {
			EXPECT_EQ(1, sa.res.rx_records);	/* the client's request */
			EXPECT_EQ(2, tl_record_read(sfd, &sa.res.rx, sa.res.rx_records, buf,
						    sizeof(buf), &type)) TH_LOG("%s", suites[i]);
			EXPECT_EQ(21, type);
			EXPECT_EQ(2, buf[0]);
			EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, buf[1]);
		}
		atls_result_release(&cres);
		atls_result_release(&sa.res);
		close(cfd);
		close(sfd);
		atls_ctx_free(cctx);
		atls_ctx_free(sctx);
	}
	tl_side_free(&self->intruder);
	tl_rmtree(dir);
	free(dir);
}

TEST_HARNESS_MAIN
