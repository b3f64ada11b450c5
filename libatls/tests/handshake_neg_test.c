// SPDX-License-Identifier: Apache-2.0
/*
 * Hostile and non-conforming peers.  The peer is plain OpenSSL in another
 * thread (real TCP loopback) that registers the same extension codepoint and
 * sends bytes chosen by the test: malformed scheme lists, schemes we never
 * offered, evidence on certificate entry 1, bad u24 framing, unsolicited or
 * garbage evidence, or no extension at all.  Each case checks the reason
 * libatls reports and the alert it sent.  Plus: the binder libatls reports
 * equals an independent recomputation on the peer with OpenSSL's TLS13-KDF.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>

/* OpenSSL callback signatures: most parameters are unused here. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include <atls/wire.h>
#include <atls/atls.h>

#include "certs.h"
#include "harness.h"
#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define MT ATLS_MT_TPM_EVIDENCE
#define MT_LEN (sizeof(MT) - 1)

struct evil {
	int server;
	int fd;
	const char *cert, *key;
	bool register_ext;
	const uint8_t *ch, *ee, *cr, *cert_ext;
	size_t ch_len, ee_len, cr_len, cert_len;
	size_t cert_idx;
	const char *groups;	/* server key-share groups (forces HRR) */
	/* transcript capture for the binder recomputation */
	uint8_t th[8192];
	size_t th_len, ch1_len;
	bool th_done, hrr;
	uint8_t binder[32];
	int ok;
};

static int evil_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		    size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	struct evil *e = arg;

	switch (context) {
	case SSL_EXT_CLIENT_HELLO:
		*out = e->ch;
		*outlen = e->ch_len;
		return e->ch != NULL;
	case SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS:
		*out = e->ee;
		*outlen = e->ee_len;
		return e->ee != NULL;
	case SSL_EXT_TLS1_3_CERTIFICATE_REQUEST:
		*out = e->cr;
		*outlen = e->cr_len;
		return e->cr != NULL;
	case SSL_EXT_TLS1_3_CERTIFICATE:
		if (!e->cert_ext || chainidx != e->cert_idx)
			return 0;
		*out = e->cert_ext;
		*outlen = e->cert_len;
		return 1;
	default:
		return 0;
	}
}

static int evil_parse(SSL *s, unsigned int type, unsigned int context, const unsigned char *in,
		      size_t inlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	return 1;
}

static void evil_msg(int write_p, int version, int ct, const void *buf, size_t len, SSL *ssl,
		     void *arg)
{
	struct evil *e = arg;
	const uint8_t *m = buf;

	if (e->th_done || ct != SSL3_RT_HANDSHAKE || e->th_len + len > sizeof(e->th))
		return;
	memcpy(e->th + e->th_len, m, len);
	if (m[0] == 1 && e->th_len == 0)
		e->ch1_len = len;
	e->th_len += len;
	if (m[0] == 2) {
		static const uint8_t hrr_random[8] = { 0xcf, 0x21, 0xad, 0x74,
						       0xe5, 0x9a, 0x61, 0x11 };

		if (len >= 38 && !memcmp(m + 6, hrr_random, sizeof(hrr_random)))
			e->hrr = true;	/* HelloRetryRequest: keep capturing */
		else
			e->th_done = true;
	}
}

/* RFC 8446 4.4.1: with HRR, CH1 is replaced by message_hash(Hash(CH1)). */
static int transcript_hash(struct evil *e, uint8_t th[32])
{
	uint8_t mh[4 + 32];
	EVP_MD_CTX *h;
	int ok;

	if (!e->hrr)
		return SHA256(e->th, e->th_len, th) != NULL;
	mh[0] = 254;
	mh[1] = 0;
	mh[2] = 0;
	mh[3] = 32;
	if (!SHA256(e->th, e->ch1_len, mh + 4))
		return 0;
	h = EVP_MD_CTX_new();
	ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) && EVP_DigestUpdate(h, mh, sizeof(mh)) &&
	     EVP_DigestUpdate(h, e->th + e->ch1_len, e->th_len - e->ch1_len) &&
	     EVP_DigestFinal_ex(h, th, NULL);
	EVP_MD_CTX_free(h);
	return ok;
}

/* binder = TLS13-KDF("attestation", TLS13-KDF("attestation base", 0^32, TH), SHA256(spki)) */
static int recompute_binder(struct evil *e, SSL *s)
{
	uint8_t zero[32] = { 0 }, th[32], base[32], hs[32];
	unsigned char *spki = NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, n, ok = 0, i;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS13-KDF", NULL);
	const char *labels[2] = { "attestation base", "attestation" };
	const uint8_t *keys[2] = { zero, base }, *datas[2] = { th, hs };
	uint8_t *outs[2] = { base, e->binder };

	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(SSL_get_certificate(s)), &spki);
	if (!kdf || n <= 0 || !transcript_hash(e, th) || !SHA256(spki, (size_t)n, hs))
		goto out;
	for (i = 0; i < 2; i++) {
		EVP_KDF_CTX *k = EVP_KDF_CTX_new(kdf);
		OSSL_PARAM p[] = {
			OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
			OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)keys[i], 32),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, "tls13 ", 6),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)labels[i],
							  strlen(labels[i])),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)datas[i], 32),
			OSSL_PARAM_construct_end(),
		};
		int r = k && EVP_KDF_derive(k, outs[i], 32, p) == 1;

		EVP_KDF_CTX_free(k);
		if (!r)
			goto out;
	}
	ok = 1;
out:
	EVP_KDF_free(kdf);
	OPENSSL_free(spki);
	return ok;
}

static int evil_main(void *arg)
{
	struct evil *e = arg;
	SSL_CTX *c = tl_peer_ctx(e->server, "TLS_AES_128_GCM_SHA256", e->cert, e->key);
	SSL *s = NULL;

	if (!c)
		return -1;
	if (e->groups && SSL_CTX_set1_groups_list(c, e->groups) != 1)
		goto out;
	if (e->cr)	/* a CertificateRequest is only sent when verifying the peer */
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (e->register_ext &&
	    SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE,
				   SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
					   SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
					   SSL_EXT_TLS1_3_CERTIFICATE_REQUEST |
					   SSL_EXT_TLS1_3_CERTIFICATE,
				   evil_add, NULL, e, evil_parse, e) != 1)
		goto out;
	s = SSL_new(c);
	if (!s)
		goto out;
	SSL_set_msg_callback(s, evil_msg);
	SSL_set_msg_callback_arg(s, e);
	e->ok = tl_peer_handshake(s, e->fd, e->server);
	if (e->ok && e->server)
		e->ok = recompute_binder(e, s);
out:
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

TL_DIR_FIXTURE(neg)
{
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "ca", "test-ca", true, NULL));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "leaf", "leaf", false, "ca"));
	ASSERT_EQ(0, tl_cat(tl_path(self->dir, "chain.pem"),
			    tl_path(self->dir, "leaf.pem"),
			    tl_path(self->dir, "ca.pem")));
	/* A policy (never satisfied: its AK is not in any TPM) so peers may be asked. */
	ASSERT_EQ(0, tl_policy_unsatisfiable(self->dir));
}

/* Run our side (role, peer_attest) against the evil peer e; return our result. */
static int run(FIXTURE_DATA(neg) * self, enum atls_role role, enum atls_peer_attest pa,
	       struct evil *e, struct atls_result *res)
{
	struct atls_config cfg;
	struct atls_ctx *ctx;
	int ret;

	atls_config_init(&cfg, role);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	cfg.peer_attest = pa;
	if (pa != ATLS_PEER_NONE)
		cfg.policy_file = tl_path(self->dir, "policy.conf");
	if (role == ATLS_ROLE_SERVER) {
		cfg.cert_file = tl_path(self->dir, "leaf.pem");
		cfg.key_file = tl_path(self->dir, "leaf.key");
	}
	ret = atls_ctx_new(&cfg, &ctx);
	if (ret)
		return ret;
	e->server = role == ATLS_ROLE_CLIENT;
	if (e->server && !e->cert) {
		e->cert = tl_path(self->dir, "chain.pem");
		e->key = tl_path(self->dir, "leaf.key");
	}
	ret = tl_handshake_with(ctx, 5000, res, evil_main, e, &e->fd);
	atls_ctx_free(ctx);
	return ret;
}

static uint8_t scheme[4 + MT_LEN];
static uint8_t other_scheme[4 + 9];

static void init_schemes(void)
{
	scheme[0] = 0;
	scheme[1] = 1;
	scheme[2] = 0;
	scheme[3] = MT_LEN;
	memcpy(scheme + 4, MT, MT_LEN);
	memcpy(other_scheme, "\x00\x01\x00\x09text/x-no", 13);
}

/*
 * run() must fail with ret, the reason and the alert (ANY_ALERT: some alert).
 * res keeps the result for further checks.
 */
#define ANY_ALERT -1
static void run_fails(struct __test_metadata *_metadata, FIXTURE_DATA(neg) * self,
		      enum atls_role role, enum atls_peer_attest pa, struct evil *e,
		      struct atls_result *res, int ret, int reason, int alert)
{
	EXPECT_EQ(ret, run(self, role, pa, e, res));
	EXPECT_EQ(reason, res->reason) TH_LOG("%s", res->reason_text);
	if (alert == ANY_ALERT) {
		EXPECT_NE(0, res->alert);
	} else {
		EXPECT_EQ(alert, res->alert);
	}
}

/* Bytes an evil peer sends, and what they break. */
struct bad_bytes {
	const char *what;
	uint8_t b[16];
	size_t n;
};

/* run() must fail as malformed evidence with a decode_error alert; what: the case. */
static void run_malformed(struct __test_metadata *_metadata, FIXTURE_DATA(neg) * self,
			  enum atls_role role, struct evil *e, const char *what,
			  struct atls_result *res)
{
	EXPECT_EQ(-EBADMSG, run(self, role, ATLS_PEER_OPTIONAL, e, res)) TH_LOG("%s", what);
	EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, res->reason) TH_LOG("%s", what);
	EXPECT_EQ(ATLS_ALERT_DECODE_ERROR, res->alert) TH_LOG("%s", what);
}

TEST_F(neg, clienthello_malformed)
{
	static const struct bad_bytes cases[] = {
		{ "list overruns", { 0x00, 0x05, 0x00, 0x00 }, 4 },
		{ "truncated scheme", { 0x00, 0x03, 0x00, 0x00, 0x07, 0x00, 0x00 }, 7 },
		{ "trailing byte", { 0x00, 0x04, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0xff }, 9 },
		{ "unknown mechanism", { 0x00, 0x01, 0x07, 0x00, 0x00 }, 5 },
		{ "unknown encoding", { 0x00, 0x04, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00 }, 8 },
		{ "empty media type", { 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00 }, 8 },
		{ "both lists empty", { 0x00, 0x00, 0x00, 0x00 }, 4 },
		{ "empty extension", { 0 }, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evil e = { .register_ext = true, .ch = cases[i].b, .ch_len = cases[i].n };
		struct atls_result res;

		run_malformed(_metadata, self, ATLS_ROLE_SERVER, &e, cases[i].what, &res);
		EXPECT_EQ(0, e.ok);
	}
}

TEST_F(neg, ee_malformed_and_unoffered)
{
	uint8_t trailing[sizeof(scheme) + 1];
	struct atls_result res;
	struct evil e1 = { .register_ext = true }, e2 = { .register_ext = true };

	init_schemes();
	memcpy(trailing, scheme, sizeof(scheme));
	trailing[sizeof(scheme)] = 0;
	e1.ee = trailing;
	e1.ee_len = sizeof(trailing);
	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_OPTIONAL, &e1, &res, -EBADMSG,
		  ATLS_REASON_MALFORMED_EVIDENCE, ATLS_ALERT_DECODE_ERROR);

	e2.ee = other_scheme;
	e2.ee_len = sizeof(other_scheme);
	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_OPTIONAL, &e2, &res, -EKEYREJECTED,
		  ATLS_REASON_EVIDENCE_TYPE_REJECTED, ATLS_ALERT_ILLEGAL_PARAMETER);
}

TEST_F(neg, evidence_on_entry_1)
{
	static const uint8_t ext[] = { 0x00, 0x00, 0x04, 0x82, 0x61, 0x61, 0x40 };
	struct evil e = { .register_ext = true, .cert_ext = ext, .cert_len = sizeof(ext),
			  .cert_idx = 1, .ee = scheme, .ee_len = sizeof(scheme) };
	struct atls_result res;

	init_schemes();
	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_OPTIONAL, &e, &res, -EBADMSG,
		  ATLS_REASON_WRONG_CERT_ENTRY, ATLS_ALERT_ILLEGAL_PARAMETER);
}

TEST_F(neg, certificate_ext_bad_framing)
{
	static const struct bad_bytes cases[] = {
		{ "u24 longer than data", { 0x00, 0x00, 0x09, 0x82, 0x61 }, 5 },
		{ "u24 shorter than data", { 0x00, 0x00, 0x01, 0x82, 0x61 }, 5 },
		{ "empty cmw", { 0x00, 0x00, 0x00 }, 3 },
		{ "truncated length", { 0x00, 0x01 }, 2 },
	};
	size_t i;

	init_schemes();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evil e = { .register_ext = true, .ee = scheme, .ee_len = sizeof(scheme),
				  .cert_ext = cases[i].b, .cert_len = cases[i].n };
		struct atls_result res;

		run_malformed(_metadata, self, ATLS_ROLE_CLIENT, &e, cases[i].what, &res);
		/* Rejected by the framing check itself, not later by the CMW decoder. */
		EXPECT_NE(NULL, strstr(res.reason_text, "Certificate attestation extension"))
			TH_LOG("%s: %s", cases[i].what, res.reason_text);
	}
}

TEST_F(neg, evidence_garbage_cmw)
{
	static const uint8_t ext[] = { 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef };
	struct evil e = { .register_ext = true, .cert_ext = ext, .cert_len = sizeof(ext),
			  .ee = scheme, .ee_len = sizeof(scheme) };
	struct atls_result res;

	init_schemes();
	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_OPTIONAL, &e, &res, -EBADMSG,
		  ATLS_REASON_MALFORMED_EVIDENCE, ANY_ALERT);
}

TEST_F(neg, evidence_not_negotiated)
{
	static const uint8_t ext[] = { 0x00, 0x00, 0x02, 0x82, 0x61 };
	struct evil e = { .register_ext = true, .cert_ext = ext, .cert_len = sizeof(ext) };
	struct atls_result res;

	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_OPTIONAL, &e, &res, -EBADMSG,
		  ATLS_REASON_MALFORMED_EVIDENCE, ATLS_ALERT_ILLEGAL_PARAMETER);
}

TEST_F(neg, server_requires_client_without_extension)
{
	struct evil e = { .register_ext = false };
	struct atls_result res;

	EXPECT_EQ(-EACCES, run(self, ATLS_ROLE_SERVER, ATLS_PEER_REQUIRED, &e, &res));
	EXPECT_EQ(ATLS_REASON_EVIDENCE_MISSING, res.reason);
	/* OpenSSL 3.0 sends handshake_failure for any ClientHello-callback error. */
	EXPECT_EQ(ATLS_ALERT_HANDSHAKE_FAILURE, res.alert);
}

TEST_F(neg, client_requires_server_ignoring_extension)
{
	struct evil e = { .register_ext = false };
	struct atls_result res;

	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_REQUIRED, &e, &res, -EACCES,
		  ATLS_REASON_EVIDENCE_MISSING, ATLS_ALERT_HANDSHAKE_FAILURE);
	EXPECT_EQ(0, res.crypto_info_len);
}

TEST_F(neg, binder_matches_recomputation)
{
	struct evil e = { .register_ext = false };
	struct atls_result res;

	ASSERT_EQ(0, run(self, ATLS_ROLE_CLIENT, ATLS_PEER_NONE, &e, &res))
		TH_LOG("%s", res.reason_text);
	ASSERT_EQ(1, e.ok);
	EXPECT_EQ(32, res.binder_peer_len);
	EXPECT_EQ(0, memcmp(res.binder_peer, e.binder, 32));
	EXPECT_EQ(0, res.binder_self_len);	/* the client has no certificate */
	atls_result_release(&res);
}

/* The server asks the client for a scheme the client never offered. */
TEST_F(neg, certificate_request_unoffered_scheme)
{
	struct evil e = { .register_ext = true };
	struct atls_result res;

	init_schemes();
	e.cr = scheme;	/* ours, but our client did not offer to attest */
	e.cr_len = sizeof(scheme);
	run_fails(_metadata, self, ATLS_ROLE_CLIENT, ATLS_PEER_OPTIONAL, &e, &res, -EKEYREJECTED,
		  ATLS_REASON_EVIDENCE_TYPE_REJECTED, ATLS_ALERT_ILLEGAL_PARAMETER);
}

/* A client asking the (attesting) server only for schemes we do not support. */
TEST_F(neg, no_common_server_scheme)
{
	static uint8_t ch[2 + 13 + 2];
	struct tl_swtpm sw;
	struct atls_config cfg;
	struct atls_result res;
	struct atls_ctx *ctx;
	struct evil e = { .register_ext = true, .server = 0 };

	init_schemes();
	ch[0] = 0;
	ch[1] = sizeof(other_scheme);
	memcpy(ch + 2, other_scheme, sizeof(other_scheme));
	e.ch = ch;
	e.ch_len = sizeof(ch);	/* trailing 00 00: empty client list */
	ASSERT_EQ(0, tl_swtpm_start(&sw));
	atls_config_init(&cfg, ATLS_ROLE_SERVER);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	cfg.attest_self = true;
	cfg.tcti = sw.tcti;
	cfg.cert_file = tl_path(self->dir, "leaf.pem");
	cfg.key_file = tl_path(self->dir, "leaf.key");
	ASSERT_EQ(0, atls_ctx_new(&cfg, &ctx));
	EXPECT_EQ(-EKEYREJECTED, tl_handshake_with(ctx, 5000, &res, evil_main, &e, &e.fd));
	EXPECT_EQ(ATLS_REASON_EVIDENCE_TYPE_REJECTED, res.reason) TH_LOG("%s", res.reason_text);
	EXPECT_EQ(ATLS_ALERT_HANDSHAKE_FAILURE, res.alert);
	EXPECT_EQ(0, e.ok);
	atls_ctx_free(ctx);
	tl_swtpm_stop(&sw);
}

/* Server accepts only P-256 key shares: our client's X25519 share draws a HRR. */
TEST_F(neg, binder_matches_recomputation_after_hrr)
{
	struct evil e = { .register_ext = false, .groups = "P-256" };
	struct atls_result res;

	ASSERT_EQ(0, run(self, ATLS_ROLE_CLIENT, ATLS_PEER_NONE, &e, &res))
		TH_LOG("%s", res.reason_text);
	ASSERT_EQ(1, e.ok);
	EXPECT_TRUE(e.hrr);
	EXPECT_EQ(32, res.binder_peer_len);
	EXPECT_EQ(0, memcmp(res.binder_peer, e.binder, 32));
	atls_result_release(&res);
}

/* A software-key client context without attestation, and a loopback pair. */
static void plain_client(struct __test_metadata *_metadata, struct atls_ctx **ctx, int *cfd,
			 int *sfd)
{
	struct atls_config cfg;

	atls_config_init(&cfg, ATLS_ROLE_CLIENT);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	ASSERT_EQ(0, atls_ctx_new(&cfg, ctx));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, cfd, sfd));
}

/* A peer that accepts the connection and never answers: -ETIMEDOUT. */
TEST_F(neg, timeout)
{
	struct atls_result res;
	struct atls_ctx *ctx;
	int cfd, sfd;

	plain_client(_metadata, &ctx, &cfd, &sfd);
	EXPECT_EQ(-ETIMEDOUT, atls_handshake(ctx, cfd, 200, &res));
	EXPECT_EQ(ATLS_REASON_TIMEOUT, res.reason);
	EXPECT_EQ(0, res.crypto_info_len);
	close(cfd);
	close(sfd);
	atls_ctx_free(ctx);
}

/* The peer closes after reading our ClientHello: a clean error, no SIGPIPE death. */
TEST_F(neg, peer_closes)
{
	struct atls_result res;
	struct atls_ctx *ctx;
	int cfd, sfd;

	plain_client(_metadata, &ctx, &cfd, &sfd);
	close(sfd);
	/* Fails at once (reset); the timeout is only a bound, far from it. */
	EXPECT_GT(0, atls_handshake(ctx, cfd, 20000, &res));
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, res.reason);
	close(cfd);
	atls_ctx_free(ctx);
}

TEST_HARNESS_MAIN
