// SPDX-License-Identifier: Apache-2.0
/*
 * RFC 9261 Exported Authenticators with cmw_attestation (exported_auth.h),
 * on real TLS 1.3 connections made by OpenSSL in this process (a BIO pair,
 * the three kTLS suites):
 *  - both ends derive the same exporter keys and binder; the labels and the
 *    Finished / binder formulas are recomputed here independently;
 *  - round trips: server attests to the client (ClientCertificateRequest),
 *    client attests to the server (CertificateRequest), chain of two, no
 *    evidence, Ed25519, empty authenticator (refusal);
 *  - relay and replay: an authenticator from another connection, for
 *    another request, or checked with the other direction's keys is
 *    refused;
 *  - every malformed field of a request and of an authenticator (each
 *    truncation, every length, type, duplicate, misplaced or unrequested
 *    extension, trailing bytes) is refused with its alert.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atls/wire.h>

#include "kselftest_harness.h"
#include "../src/exported_auth.h"

#define CMW_EXT ATLS_EA_EXT_CMW_ATTESTATION

/* ------------------------------------------------------------ identities, connections */

struct ident {
	EVP_PKEY *key;
	X509 *cert;
};

static int ident_make(struct ident *id, const char *alg, const char *cn, const struct ident *issuer)
{
	const EVP_MD *md;
	X509_NAME *name;

	memset(id, 0, sizeof(*id));
	if (!strcmp(alg, "P-256"))
		id->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		id->key = EVP_PKEY_Q_keygen(NULL, NULL, alg);
	id->cert = X509_new();
	if (!id->key || !id->cert)
		return -1;
	name = X509_NAME_new();
	if (!name || !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
						 (const unsigned char *)cn, -1, -1, 0))
		return -1;
	md = EVP_PKEY_get_base_id(issuer ? issuer->key : id->key) == EVP_PKEY_ED25519 ?
		     NULL : EVP_sha256();
	if (!X509_set_version(id->cert, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(id->cert), 7) ||
	    !X509_set_subject_name(id->cert, name) ||
	    !X509_set_issuer_name(id->cert, issuer ? X509_get_subject_name(issuer->cert) : name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(id->cert), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(id->cert), 3600) ||
	    !X509_set_pubkey(id->cert, id->key) ||
	    !X509_sign(id->cert, issuer ? issuer->key : id->key, md)) {
		X509_NAME_free(name);
		return -1;
	}
	X509_NAME_free(name);
	return 0;
}

static void ident_free(struct ident *id)
{
	EVP_PKEY_free(id->key);
	X509_free(id->cert);
}

struct conn {
	SSL_CTX *cctx, *sctx;
	SSL *c, *s;
};

/* A finished TLS 1.3 handshake between two SSL objects over a BIO pair. */
static int conn_open(struct conn *k, const char *suite, const struct ident *srv)
{
	BIO *bc = NULL, *bs = NULL;
	int i, rc = 0, rs = 0;

	memset(k, 0, sizeof(*k));
	k->cctx = SSL_CTX_new(TLS_client_method());
	k->sctx = SSL_CTX_new(TLS_server_method());
	if (!k->cctx || !k->sctx ||
	    !SSL_CTX_set_min_proto_version(k->cctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_min_proto_version(k->sctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(k->cctx, suite) || !SSL_CTX_set_ciphersuites(k->sctx, suite) ||
	    !SSL_CTX_set_num_tickets(k->sctx, 0) ||
	    SSL_CTX_use_certificate(k->sctx, srv->cert) != 1 ||
	    SSL_CTX_use_PrivateKey(k->sctx, srv->key) != 1)
		return -1;
	k->c = SSL_new(k->cctx);
	k->s = SSL_new(k->sctx);
	if (!k->c || !k->s || !BIO_new_bio_pair(&bc, 0, &bs, 0))
		return -1;
	SSL_set_bio(k->c, bc, bc);
	SSL_set_bio(k->s, bs, bs);
	SSL_set_connect_state(k->c);
	SSL_set_accept_state(k->s);
	for (i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(k->c);
		if (rs != 1)
			rs = SSL_do_handshake(k->s);
	}
	return rc == 1 && rs == 1 ? 0 : -1;
}

static void conn_close(struct conn *k)
{
	SSL_free(k->c);
	SSL_free(k->s);
	SSL_CTX_free(k->cctx);
	SSL_CTX_free(k->sctx);
}

static const uint16_t sigalgs_default[] = { 0x0804, 0x0403, 0x0807 };
static const uint8_t cmw_sample[] = { 0x82, 0x78, 0x05, 'h', 'e', 'l', 'l', 'o', 0x43, 1, 2, 3 };

/* ------------------------------------------------------------ byte assembly */

static size_t put(uint8_t *o, size_t n, const void *b, size_t l)
{
	if (l)
		memcpy(o + n, b, l);
	return n + l;
}

static size_t put8(uint8_t *o, size_t n, size_t v)
{
	o[n] = (uint8_t)v;
	return n + 1;
}

static size_t put16(uint8_t *o, size_t n, size_t v)
{
	o[n] = (uint8_t)(v >> 8);
	o[n + 1] = (uint8_t)v;
	return n + 2;
}

static size_t put24(uint8_t *o, size_t n, size_t v)
{
	o[n] = (uint8_t)(v >> 16);
	o[n + 1] = (uint8_t)(v >> 8);
	o[n + 2] = (uint8_t)v;
	return n + 3;
}

/* A handshake message: type, u24 (body length + delta), body. */
static size_t put_msg(uint8_t *o, size_t n, uint8_t type, const uint8_t *body, size_t len,
		      long delta)
{
	n = put8(o, n, type);
	n = put24(o, n, (size_t)((long)len + delta));
	return put(o, n, body, len);
}

/* A request from raw parts: type, context, extension block bytes. */
static size_t mk_req(uint8_t *o, uint8_t type, const uint8_t *ctx, size_t clen,
		     const uint8_t *exts, size_t elen)
{
	uint8_t body[4096];
	size_t n = 0;

	n = put8(body, n, clen);
	n = put(body, n, ctx, clen);
	n = put16(body, n, elen);
	n = put(body, n, exts, elen);
	return put_msg(o, 0, type, body, n, 0);
}

/* One extension: type, u16 (length + delta), data. */
static size_t put_ext(uint8_t *o, size_t n, uint16_t type, const uint8_t *d, size_t l, long delta)
{
	n = put16(o, n, type);
	n = put16(o, n, (size_t)((long)l + delta));
	return put(o, n, d, l);
}

static size_t sigalgs_ext(uint8_t *o, size_t n)
{
	static const uint8_t sa[] = { 0x00, 0x04, 0x04, 0x03, 0x08, 0x07 };

	return put_ext(o, n, ATLS_EA_EXT_SIGNATURE_ALGORITHMS, sa, sizeof(sa), 0);
}

/* The cmw_attestation extension of a Certificate entry. */
static size_t cmw_ext(uint8_t *o, size_t n, const uint8_t *cmw, size_t l, long inner_delta)
{
	uint8_t d[256];
	size_t m = put16(d, 0, (size_t)((long)l + inner_delta));

	m = put(d, m, cmw, l);
	return put_ext(o, n, CMW_EXT, d, m, 0);
}

/* ------------------------------------------------------------ request: pure */

TEST(request_round_trip)
{
	static const uint16_t sa[] = { 0x0403, 0x0807 };
	struct atls_ea_request rq;
	uint8_t ctx[32], *b, alert = 99;
	size_t n;

	memset(ctx, 0x5a, sizeof(ctx));
	ASSERT_EQ(0, atls_ea_request_build(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, ctx, 32, sa, 2,
					   true, &b, &n));
	ASSERT_EQ(0, atls_ea_request_parse(b, n, &rq, &alert));
	EXPECT_EQ(0, alert);
	EXPECT_EQ(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, rq.type);
	EXPECT_EQ(32, rq.context_len);
	EXPECT_EQ(0, memcmp(ctx, rq.context, 32));
	EXPECT_EQ(2, rq.n_sigalgs);
	EXPECT_EQ(0x04, rq.sigalgs[0]);
	EXPECT_EQ(0x07, rq.sigalgs[3]);
	EXPECT_TRUE(rq.cmw_requested);
	EXPECT_EQ(2, rq.n_ext);
	/* 4 header + 1 + 32 context + 2 + (4 + 2 + 4) sigalgs + 4 cmw */
	EXPECT_EQ(4 + 1 + 32 + 2 + 10 + 4, n);
	free(b);

	ASSERT_EQ(0, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE_REQUEST, NULL, 0, sa, 1, false,
					   &b, &n));
	ASSERT_EQ(0, atls_ea_request_parse(b, n, &rq, NULL));
	EXPECT_EQ(ATLS_EA_HS_CERTIFICATE_REQUEST, rq.type);
	EXPECT_EQ(0, rq.context_len);
	EXPECT_FALSE(rq.cmw_requested);
	free(b);
}

TEST(request_build_rejects_bad_arguments)
{
	static const uint16_t sa[] = { 0x0403 };
	uint8_t ctx[256] = { 0 }, *b;
	size_t n;

	EXPECT_EQ(-EINVAL, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE, ctx, 32, sa, 1, true, &b, &n));
	EXPECT_EQ(-EINVAL, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 256, sa, 1,
						 true, &b, &n));
	EXPECT_EQ(-EINVAL, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 32, sa, 0,
						 true, &b, &n));
	EXPECT_EQ(-EINVAL, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE_REQUEST, NULL, 3, sa, 1,
						 true, &b, &n));
	EXPECT_EQ(-EINVAL, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 32, sa,
						 ATLS_EA_MAX_SIGALGS + 1, true, &b, &n));
}

TEST(request_every_truncation_and_trailing_byte)
{
	static const uint16_t sa[] = { 0x0403 };
	struct atls_ea_request rq;
	uint8_t ctx[8] = { 1 }, *b, *t;
	size_t n, i;

	ASSERT_EQ(0, atls_ea_request_build(ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 8, sa, 1, true,
					   &b, &n));
	for (i = 0; i < n; i++)
		EXPECT_EQ(-EBADMSG, atls_ea_request_parse(b, i, &rq, NULL)) TH_LOG("prefix %zu", i);
	t = malloc(n + 1);
	ASSERT_NE(NULL, t);
	memcpy(t, b, n);
	t[n] = 0;
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(t, n + 1, &rq, NULL));	/* after the message */
	t[3]++;	/* inside the body, after the extensions */
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(t, n + 1, &rq, NULL));
	free(t);
	free(b);
}

/* Every malformed field of a request, built from parts. */
TEST(request_malformed_fields)
{
	uint8_t ctx[4] = { 9, 9, 9, 9 }, e[512], r[1024], alert;
	struct atls_ea_request rq;
	size_t en, rn, i;

	/* valid baseline */
	en = sigalgs_ext(e, 0);
	en = put_ext(e, en, CMW_EXT, NULL, 0, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	ASSERT_EQ(0, atls_ea_request_parse(r, rn, &rq, &alert));

	/* wrong message type */
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	EXPECT_EQ(10, alert);	/* unexpected_message */

	/* message length one more / one less than the body */
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	r[3]++;
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	EXPECT_EQ(50, alert);	/* decode_error */
	r[3] -= 2;
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* context length beyond the body */
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	r[4] = 200;
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* extension block: length 0 (below the minimum of 2), +1, -1 */
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, NULL, 0);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	r[4 + 1 + 4 + 1]++;
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	r[4 + 1 + 4 + 1] -= 2;
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* an extension whose data runs past the block */
	en = sigalgs_ext(e, 0);
	en = put_ext(e, en, 0x1234, (const uint8_t *)"ab", 2, 1);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	/* a truncated extension header (3 bytes) */
	en = sigalgs_ext(e, 0);
	en = put(e, en, "\x12\x34\x00", 3);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* duplicate extension */
	en = sigalgs_ext(e, 0);
	en = sigalgs_ext(e, en);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	EXPECT_EQ(47, alert);	/* illegal_parameter */
	en = sigalgs_ext(e, 0);
	en = put_ext(e, en, CMW_EXT, NULL, 0, 0);
	en = put_ext(e, en, CMW_EXT, NULL, 0, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* no signature_algorithms */
	en = put_ext(e, 0, CMW_EXT, NULL, 0, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	EXPECT_EQ(109, alert);	/* missing_extension */

	/* signature_algorithms: odd, empty, inner length disagreeing, too many */
	en = put_ext(e, 0, ATLS_EA_EXT_SIGNATURE_ALGORITHMS,
		     (const uint8_t *)"\x00\x03\x04\x03\x08", 5, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	en = put_ext(e, 0, ATLS_EA_EXT_SIGNATURE_ALGORITHMS, (const uint8_t *)"\x00\x00", 2, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	en = put_ext(e, 0, ATLS_EA_EXT_SIGNATURE_ALGORITHMS,
		     (const uint8_t *)"\x00\x04\x04\x03", 4, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	en = put_ext(e, 0, ATLS_EA_EXT_SIGNATURE_ALGORITHMS,
		     (const uint8_t *)"\x00\x02\x04\x03\x08\x07", 6, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	{
		uint8_t sa[2 + 2 * (ATLS_EA_MAX_SIGALGS + 1)];

		put16(sa, 0, 2 * (ATLS_EA_MAX_SIGALGS + 1));
		for (i = 0; i <= ATLS_EA_MAX_SIGALGS; i++)
			put16(sa, 2 + 2 * i, 0x0403);
		en = put_ext(e, 0, ATLS_EA_EXT_SIGNATURE_ALGORITHMS, sa, sizeof(sa), 0);
		rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
		EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));
	}

	/* cmw_attestation must be empty in a request */
	en = sigalgs_ext(e, 0);
	en = put_ext(e, en, CMW_EXT, (const uint8_t *)"\x00", 1, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* more distinct extensions than the parser keeps */
	en = sigalgs_ext(e, 0);
	for (i = 0; i < ATLS_EA_MAX_EXT; i++)
		en = put_ext(e, en, (uint16_t)(0x2000 + i), NULL, 0, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	EXPECT_EQ(-EBADMSG, atls_ea_request_parse(r, rn, &rq, &alert));

	/* unknown extensions are ignored, but remembered */
	en = sigalgs_ext(e, 0);
	en = put_ext(e, en, 0x1234, (const uint8_t *)"xyz", 3, 0);
	rn = mk_req(r, ATLS_EA_HS_CERTIFICATE_REQUEST, ctx, 4, e, en);
	ASSERT_EQ(0, atls_ea_request_parse(r, rn, &rq, &alert));
	EXPECT_EQ(2, rq.n_ext);
	EXPECT_EQ(0x1234, rq.ext_types[1]);
	EXPECT_FALSE(rq.cmw_requested);
}

/* ------------------------------------------------------------ on a connection */

FIXTURE(ea)
{
	struct ident srv, cli, ca, ed;
	struct conn k, k2;
};

FIXTURE_VARIANT(ea)
{
	const char *suite;
	size_t hash_len;
};

FIXTURE_VARIANT_ADD(ea, aes128)
{
	.suite = "TLS_AES_128_GCM_SHA256",
	.hash_len = 32,
};

FIXTURE_VARIANT_ADD(ea, aes256)
{
	.suite = "TLS_AES_256_GCM_SHA384",
	.hash_len = 48,
};

FIXTURE_VARIANT_ADD(ea, chacha20)
{
	.suite = "TLS_CHACHA20_POLY1305_SHA256",
	.hash_len = 32,
};

FIXTURE_SETUP(ea)
{
	ASSERT_EQ(0, ident_make(&self->ca, "P-256", "ca", NULL));
	ASSERT_EQ(0, ident_make(&self->srv, "P-256", "server", &self->ca));
	ASSERT_EQ(0, ident_make(&self->cli, "P-256", "client", NULL));
	ASSERT_EQ(0, ident_make(&self->ed, "ED25519", "ed", NULL));
	ASSERT_EQ(0, conn_open(&self->k, variant->suite, &self->srv));
	ASSERT_EQ(0, conn_open(&self->k2, variant->suite, &self->srv));
}

FIXTURE_TEARDOWN(ea)
{
	conn_close(&self->k);
	conn_close(&self->k2);
	ident_free(&self->srv);
	ident_free(&self->cli);
	ident_free(&self->ca);
	ident_free(&self->ed);
}

/* A fresh random 32-byte request of type from the other side. */
static int new_request(uint8_t type, bool cmw, const uint16_t *sa, size_t nsa, uint8_t **req,
		       size_t *len)
{
	uint8_t ctx[32];

	if (RAND_bytes(ctx, sizeof(ctx)) != 1)
		return -1;
	return atls_ea_request_build(type, ctx, sizeof(ctx), sa, nsa, cmw, req, len);
}

/* The server's authenticator for a client request (keys of the server as sender). */
static int server_answers(SSL *s, const struct ident *id, X509 *const *chain, size_t n,
			  const uint8_t *req, size_t rlen, const uint8_t *cmw, size_t clen,
			  uint8_t **auth, size_t *alen)
{
	struct atls_ea_keys k;
	int err;

	err = atls_ea_keys_derive(s, true, &k);
	if (!err)
		err = atls_ea_authenticator_build(&k, req, rlen, chain, n, id->key, cmw, clen,
						  auth, alen);
	atls_ea_keys_wipe(&k);
	return err;
}

static int client_checks(SSL *c, const uint8_t *req, size_t rlen, const uint8_t *auth,
			 size_t alen, struct atls_ea_authenticator *a, X509 **leaf,
			 uint8_t *alert)
{
	struct atls_ea_keys k;
	int err;

	err = atls_ea_keys_derive(c, true, &k);
	if (!err)
		err = atls_ea_authenticator_verify(&k, req, rlen, auth, alen, a, leaf, alert);
	atls_ea_keys_wipe(&k);
	return err;
}

TEST_F(ea, keys_agree_on_both_ends)
{
	struct atls_ea_keys cc, sc, cs, ss;
	uint8_t want[ATLS_EA_MAX_HASH];

	ASSERT_EQ(0, atls_ea_keys_derive(self->k.c, false, &cc));
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.s, false, &sc));
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.c, true, &cs));
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.s, true, &ss));
	EXPECT_EQ(variant->hash_len, cc.len);
	EXPECT_EQ(0, memcmp(cc.hs_context, sc.hs_context, cc.len));
	EXPECT_EQ(0, memcmp(cc.finished_key, sc.finished_key, cc.len));
	EXPECT_EQ(0, memcmp(cs.hs_context, ss.hs_context, cs.len));
	EXPECT_EQ(0, memcmp(cs.finished_key, ss.finished_key, cs.len));
	EXPECT_NE(0, memcmp(cc.hs_context, cs.hs_context, cc.len));
	EXPECT_NE(0, memcmp(cc.finished_key, cs.finished_key, cc.len));
	/* The RFC 9261 labels, independently (empty context). */
	ASSERT_EQ(1, SSL_export_keying_material(self->k.s, want, cc.len,
						"EXPORTER-client authenticator handshake context",
						47, NULL, 0, 0));
	EXPECT_EQ(0, memcmp(want, cc.hs_context, cc.len));
	ASSERT_EQ(1, SSL_export_keying_material(self->k.c, want, cc.len,
						"EXPORTER-server authenticator finished key", 42,
						NULL, 0, 0));
	EXPECT_EQ(0, memcmp(want, ss.finished_key, cc.len));
	/* Another connection: other keys. */
	ASSERT_EQ(0, atls_ea_keys_derive(self->k2.c, false, &sc));
	EXPECT_NE(0, memcmp(cc.hs_context, sc.hs_context, cc.len));
	atls_ea_keys_wipe(&cc);
	EXPECT_EQ(0, cc.len);
	EXPECT_EQ(NULL, cc.md);
	atls_ea_keys_wipe(&sc);
	atls_ea_keys_wipe(&cs);
	atls_ea_keys_wipe(&ss);
}

TEST_F(ea, keys_need_a_finished_tls13_handshake)
{
	struct atls_ea_keys k;
	SSL *fresh = SSL_new(self->k.cctx);
	uint8_t b[64];
	size_t n;

	ASSERT_NE(NULL, fresh);
	EXPECT_EQ(-EPROTO, atls_ea_keys_derive(fresh, false, &k));
	EXPECT_EQ(-EPROTO, atls_ea_keys_derive(NULL, false, &k));
	EXPECT_EQ(-EINVAL, atls_ea_keys_derive(self->k.c, false, NULL));
	EXPECT_EQ(-EPROTO, atls_ea_binder(fresh, b, 32, b, 32, b, &n));
	SSL_free(fresh);
}

TEST_F(ea, server_attests_to_client)
{
	struct atls_ea_authenticator a;
	uint8_t *req, *auth, alert = 99;
	size_t rlen, alen;
	X509 *leaf = NULL;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req, &rlen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->srv, &self->srv.cert, 1, req, rlen,
				    cmw_sample, sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, client_checks(self->k.c, req, rlen, auth, alen, &a, &leaf, &alert));
	EXPECT_EQ(0, alert);
	EXPECT_FALSE(a.empty);
	EXPECT_EQ(1, a.n_certs);
	EXPECT_EQ(0x0403, a.scheme);	/* first offered scheme the P-256 key can do */
	ASSERT_EQ(sizeof(cmw_sample), a.cmw_len);
	EXPECT_EQ(0, memcmp(cmw_sample, a.cmw, sizeof(cmw_sample)));
	ASSERT_NE(NULL, leaf);
	EXPECT_EQ(0, X509_cmp(leaf, self->srv.cert));
	EXPECT_EQ(variant->hash_len, a.finished_len);
	X509_free(leaf);
	free(auth);
	free(req);
}

TEST_F(ea, client_attests_to_server)
{
	struct atls_ea_authenticator a;
	struct atls_ea_keys kc, ks;
	uint8_t *req, *auth, alert = 99;
	size_t rlen, alen;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CERTIFICATE_REQUEST, true, sigalgs_default, 3, &req,
				 &rlen));
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.c, false, &kc));
	ASSERT_EQ(0, atls_ea_authenticator_build(&kc, req, rlen, &self->cli.cert, 1, self->cli.key,
						 cmw_sample, sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.s, false, &ks));
	EXPECT_EQ(0, atls_ea_authenticator_verify(&ks, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(0, alert);
	EXPECT_EQ(sizeof(cmw_sample), a.cmw_len);
	/* Checked with the server-sender keys: the wrong direction. */
	atls_ea_keys_wipe(&ks);
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.s, true, &ks));
	EXPECT_EQ(-EKEYREJECTED, atls_ea_authenticator_verify(&ks, req, rlen, auth, alen, &a, NULL,
							     &alert));
	EXPECT_EQ(ATLS_EA_ALERT_DECRYPT_ERROR, alert);
	atls_ea_keys_wipe(&kc);
	atls_ea_keys_wipe(&ks);
	free(auth);
	free(req);
}

TEST_F(ea, chain_without_evidence)
{
	X509 *chain[2] = { self->srv.cert, self->ca.cert };
	struct atls_ea_authenticator a;
	uint8_t *req, *auth, alert;
	size_t rlen, alen;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, false, sigalgs_default, 3,
				 &req, &rlen));
	/* evidence that was not asked for is refused by the builder */
	EXPECT_EQ(-EINVAL, server_answers(self->k.s, &self->srv, chain, 2, req, rlen, cmw_sample,
					  sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->srv, chain, 2, req, rlen, NULL, 0, &auth,
				    &alen));
	ASSERT_EQ(0, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(2, a.n_certs);
	EXPECT_EQ(NULL, a.cmw);
	EXPECT_EQ(0, a.n_ext);
	free(auth);
	free(req);
}

TEST_F(ea, ed25519_identity)
{
	static const uint16_t sa[] = { 0x0807 };
	struct atls_ea_authenticator a;
	uint8_t *req, *auth, alert;
	size_t rlen, alen;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sa, 1, &req, &rlen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->ed, &self->ed.cert, 1, req, rlen, cmw_sample,
				    sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(0x0807, a.scheme);
	/* a P-256 key cannot answer a request that offers only Ed25519 */
	EXPECT_EQ(-EOPNOTSUPP, server_answers(self->k.s, &self->srv, &self->srv.cert, 1, req, rlen,
					      NULL, 0, &auth, &alen));
	/* nor sign for a certificate that is not its own */
	EXPECT_EQ(-EINVAL, server_answers(self->k.s, &self->ed, &self->srv.cert, 1, req, rlen,
					  NULL, 0, &auth, &alen));
	free(auth);
	free(req);
}

TEST_F(ea, empty_authenticator_declines)
{
	struct atls_ea_authenticator a;
	struct atls_ea_keys ks;
	uint8_t *req, *req2, *auth, alert = 99;
	size_t rlen, rlen2, alen;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req, &rlen));
	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req2, &rlen2));
	ASSERT_EQ(0, atls_ea_keys_derive(self->k.s, true, &ks));
	ASSERT_EQ(0, atls_ea_empty_authenticator_build(&ks, req, rlen, &auth, &alen));
	EXPECT_EQ(4 + variant->hash_len, alen);
	EXPECT_EQ(ATLS_EA_HS_FINISHED, auth[0]);
	EXPECT_EQ(-EACCES, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_TRUE(a.empty);
	EXPECT_EQ(0, alert);
	/* for another request, or altered: not a valid refusal either */
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req2, rlen2, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_EA_ALERT_DECRYPT_ERROR, alert);
	auth[alen - 1] ^= 1;
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	auth[alen - 1] ^= 1;
	/* Finished of the wrong length */
	auth[3]--;
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, auth, alen - 1, &a, NULL,
					       &alert));
	atls_ea_keys_wipe(&ks);
	free(auth);
	free(req);
	free(req2);
}

/* Finished and the binder, recomputed here from their definitions. */
TEST_F(ea, formulas_recomputed_independently)
{
	struct atls_ea_authenticator a;
	uint8_t *req, *auth, alert, hsc[64], fk[64], th[64], mac[64], exp[32];
	uint8_t b1[64], b2[64], b3[64], want[64], ctx[32];
	unsigned char *spki = NULL;
	unsigned int ml = 0;
	size_t rlen, alen, n1, n2, n3, L = variant->hash_len;
	const EVP_MD *md = L == 48 ? EVP_sha384() : EVP_sha256();
	EVP_MD_CTX *c;
	int slen;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req, &rlen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->srv, &self->srv.cert, 1, req, rlen,
				    cmw_sample, sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, atls_ea_authenticator_parse(auth, alen, &a, &alert));
	ASSERT_EQ(1, SSL_export_keying_material(self->k.c, hsc, L,
						"EXPORTER-server authenticator handshake context",
						47, NULL, 0, 0));
	ASSERT_EQ(1, SSL_export_keying_material(self->k.c, fk, L,
						"EXPORTER-server authenticator finished key", 42,
						NULL, 0, 0));
	c = EVP_MD_CTX_new();
	ASSERT_NE(NULL, c);
	ASSERT_EQ(1, EVP_DigestInit_ex(c, md, NULL));
	EVP_DigestUpdate(c, hsc, L);
	EVP_DigestUpdate(c, req, rlen);
	EVP_DigestUpdate(c, auth, a.certificate_msg_len + a.certificate_verify_msg_len);
	ASSERT_EQ(1, EVP_DigestFinal_ex(c, th, NULL));
	ASSERT_NE(NULL, HMAC(md, fk, (int)L, th, L, mac, &ml));
	ASSERT_EQ(L, ml);
	ASSERT_EQ(L, a.finished_len);
	EXPECT_EQ(0, memcmp(mac, a.finished, L));

	/* CertificateVerify: 64 spaces, the context string, 0, Hash(HC || req || Certificate) */
	{
		uint8_t tbs[64 + 22 + 1 + 64];
		EVP_MD_CTX *v = EVP_MD_CTX_new();

		ASSERT_NE(NULL, v);
		ASSERT_EQ(1, EVP_DigestInit_ex(c, md, NULL));
		EVP_DigestUpdate(c, hsc, L);
		EVP_DigestUpdate(c, req, rlen);
		EVP_DigestUpdate(c, auth, a.certificate_msg_len);
		ASSERT_EQ(1, EVP_DigestFinal_ex(c, th, NULL));
		memset(tbs, ' ', 64);
		memcpy(tbs + 64, "Exported Authenticator", 22);
		tbs[86] = 0;
		memcpy(tbs + 87, th, L);
		ASSERT_EQ(0x0403, a.scheme);
		ASSERT_EQ(1, EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL,
						  X509_get0_pubkey(self->srv.cert)));
		EXPECT_EQ(1, EVP_DigestVerify(v, a.signature, a.signature_len, tbs, 87 + L));
		EVP_MD_CTX_free(v);
	}

	/* binder = Hash(SPKI || Exporter("Attestation", context, 32)) */
	slen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(self->srv.cert), &spki);
	ASSERT_LT(0, slen);
	memcpy(ctx, req + 5, 32);
	ASSERT_EQ(1, SSL_export_keying_material(self->k.s, exp, 32, "Attestation", 11, ctx, 32, 1));
	ASSERT_EQ(1, EVP_DigestInit_ex(c, md, NULL));
	EVP_DigestUpdate(c, spki, (size_t)slen);
	EVP_DigestUpdate(c, exp, 32);
	ASSERT_EQ(1, EVP_DigestFinal_ex(c, want, NULL));
	ASSERT_EQ(0, atls_ea_binder(self->k.c, ctx, 32, spki, (size_t)slen, b1, &n1));
	ASSERT_EQ(0, atls_ea_binder(self->k.s, ctx, 32, spki, (size_t)slen, b2, &n2));
	ASSERT_EQ(L, n1);
	ASSERT_EQ(L, n2);
	EXPECT_EQ(0, memcmp(want, b1, L));
	EXPECT_EQ(0, memcmp(b1, b2, L));
	/* bound to the context, the key and the connection */
	ctx[0] ^= 1;
	ASSERT_EQ(0, atls_ea_binder(self->k.c, ctx, 32, spki, (size_t)slen, b3, &n3));
	EXPECT_NE(0, memcmp(b1, b3, L));
	ctx[0] ^= 1;
	spki[slen - 1] ^= 1;
	ASSERT_EQ(0, atls_ea_binder(self->k.c, ctx, 32, spki, (size_t)slen, b3, &n3));
	EXPECT_NE(0, memcmp(b1, b3, L));
	spki[slen - 1] ^= 1;
	ASSERT_EQ(0, atls_ea_binder(self->k2.c, ctx, 32, spki, (size_t)slen, b3, &n3));
	EXPECT_NE(0, memcmp(b1, b3, L));
	EXPECT_EQ(-EINVAL, atls_ea_binder(self->k.c, NULL, 3, spki, (size_t)slen, b3, &n3));
	EXPECT_EQ(-EINVAL, atls_ea_binder(self->k.c, ctx, 32, NULL, 0, b3, &n3));
	EVP_MD_CTX_free(c);
	OPENSSL_free(spki);
	free(auth);
	free(req);
}

/* Relay and replay at the authenticator level. */
TEST_F(ea, relayed_or_replayed_authenticator_refused)
{
	struct atls_ea_authenticator a;
	uint8_t *req, *req2, *auth, alert;
	size_t rlen, rlen2, alen;

	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req, &rlen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->srv, &self->srv.cert, 1, req, rlen,
				    cmw_sample, sizeof(cmw_sample), &auth, &alen));
	/* the same request bytes asked on another connection: the relay */
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k2.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_EA_ALERT_DECRYPT_ERROR, alert);
	/* a later request on the same connection: the replay */
	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req2, &rlen2));
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req2, rlen2, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_ALERT_ILLEGAL_PARAMETER, alert);
	/* still good for its own request */
	EXPECT_EQ(0, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	free(auth);
	free(req);
	free(req2);
}

/* Checks that need a well-formed authenticator against another request. */
TEST_F(ea, request_mismatches_refused)
{
	static const uint16_t both[] = { 0x0403, 0x0503 }, p384[] = { 0x0503 };
	struct atls_ea_authenticator a;
	uint8_t *req, *other, *auth, alert, ctx[32];
	size_t rlen, olen, alen, cv;

	memset(ctx, 0x33, sizeof(ctx));
	ASSERT_EQ(0, atls_ea_request_build(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, ctx, 32, both, 2,
					   true, &req, &rlen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->srv, &self->srv.cert, 1, req, rlen,
				    cmw_sample, sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));

	/* same context, but evidence was not requested: unsupported_extension */
	ASSERT_EQ(0, atls_ea_request_build(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, ctx, 32, both, 2,
					   false, &other, &olen));
	EXPECT_EQ(-EBADMSG, client_checks(self->k.c, other, olen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_EA_ALERT_UNSUPPORTED_EXTENSION, alert);
	free(other);

	/* same context, the scheme used was not offered */
	ASSERT_EQ(0, atls_ea_request_build(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, ctx, 32, p384, 1,
					   true, &other, &olen));
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, other, olen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_ALERT_ILLEGAL_PARAMETER, alert);
	free(other);

	/* an offered scheme that does not fit the certificate's key (P-384 for P-256) */
	ASSERT_EQ(0, atls_ea_authenticator_parse(auth, alen, &a, &alert));
	cv = a.certificate_msg_len + 4;
	EXPECT_EQ(0x04, auth[cv]);
	auth[cv] = 0x05;
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_ALERT_ILLEGAL_PARAMETER, alert);
	auth[cv] = 0x04;

	/* a signature byte, a Finished byte */
	auth[a.certificate_msg_len + a.certificate_verify_msg_len - 1] ^= 0x40;
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_EA_ALERT_DECRYPT_ERROR, alert);
	auth[a.certificate_msg_len + a.certificate_verify_msg_len - 1] ^= 0x40;
	auth[alen - 1] ^= 1;
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	EXPECT_EQ(ATLS_EA_ALERT_DECRYPT_ERROR, alert);
	auth[alen - 1] ^= 1;
	/* the evidence itself (covered by the signature) */
	auth[a.cmw - auth] ^= 1;
	EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	auth[a.cmw - auth] ^= 1;
	EXPECT_EQ(0, client_checks(self->k.c, req, rlen, auth, alen, &a, NULL, &alert));
	free(auth);
	free(req);
}

/* The parts of a valid authenticator, for rebuilding it with one field wrong. */
struct parts {
	uint8_t ctx[32];
	const uint8_t *der;
	size_t der_len;
	const uint8_t *cv_body;
	size_t cv_len;
	const uint8_t *fin;
	size_t fin_len;
};

/* An authenticator from parts: entries (DER, extension block bytes) etc. */
static size_t mk_auth(uint8_t *o, const struct parts *p, size_t ctx_len,
		      const uint8_t *const *ders, const size_t *der_lens, const uint8_t *const *exts,
		      const size_t *ext_lens, size_t n, long list_delta, long cert_delta,
		      uint8_t cv_type, uint8_t fin_type)
{
	uint8_t *body = malloc(1 << 17);
	size_t b = 0, list, i, m = 0;

	if (!body)
		return 0;
	b = put8(body, b, ctx_len);
	b = put(body, b, p->ctx, ctx_len);
	list = b;
	b += 3;
	for (i = 0; i < n; i++) {
		b = put24(body, b, der_lens[i]);
		b = put(body, b, ders[i], der_lens[i]);
		b = put(body, b, exts[i], ext_lens[i]);
	}
	put24(body, list, (size_t)((long)(b - list - 3) + list_delta));
	m = put_msg(o, m, ATLS_EA_HS_CERTIFICATE, body, b, cert_delta);
	m = put_msg(o, m, cv_type, p->cv_body, p->cv_len, 0);
	m = put_msg(o, m, fin_type, p->fin, p->fin_len, 0);
	free(body);
	return m;
}

/* Extension block of entry 0 carrying the CMW. */
static size_t ext_block(uint8_t *o, const uint8_t *body, size_t l, long delta)
{
	size_t n = put16(o, 0, (size_t)((long)l + delta));

	return put(o, n, body, l);
}

TEST_F(ea, authenticator_malformed_fields)
{
	uint8_t *req, *auth, *o = malloc(1 << 17), alert, e0[512], x[512], e1[64];
	struct atls_ea_authenticator a;
	const uint8_t *ders[ATLS_EA_MAX_CERTS + 1], *exts[ATLS_EA_MAX_CERTS + 1];
	size_t dl[ATLS_EA_MAX_CERTS + 1], el[ATLS_EA_MAX_CERTS + 1];
	size_t rlen, alen, n, xn, i, e0n, e1n;
	struct parts p;

#define REJECT(len, want_alert)                                                               \
	do {                                                                                  \
		EXPECT_EQ(-EBADMSG, atls_ea_authenticator_parse(o, (len), &a, &alert));      \
		EXPECT_EQ((want_alert), alert);                                               \
		EXPECT_EQ(-EBADMSG, client_checks(self->k.c, req, rlen, o, (len), &a, NULL,  \
						  &alert));                                   \
		EXPECT_EQ((want_alert), alert);                                               \
	} while (0)

	ASSERT_NE(NULL, o);
	ASSERT_EQ(0, new_request(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, true, sigalgs_default, 3,
				 &req, &rlen));
	ASSERT_EQ(0, server_answers(self->k.s, &self->srv, &self->srv.cert, 1, req, rlen,
				    cmw_sample, sizeof(cmw_sample), &auth, &alen));
	ASSERT_EQ(0, atls_ea_authenticator_parse(auth, alen, &a, &alert));
	memcpy(p.ctx, a.context, 32);
	p.der = a.cert[0];
	p.der_len = a.cert_len[0];
	p.cv_body = auth + a.certificate_msg_len + 4;
	p.cv_len = a.certificate_verify_msg_len - 4;
	p.fin = a.finished;
	p.fin_len = a.finished_len;

	/* the parts rebuild the very same bytes */
	xn = cmw_ext(x, 0, cmw_sample, sizeof(cmw_sample), 0);
	e0n = ext_block(e0, x, xn, 0);
	ders[0] = p.der;
	dl[0] = p.der_len;
	exts[0] = e0;
	el[0] = e0n;
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	ASSERT_EQ(alen, n);
	ASSERT_EQ(0, memcmp(o, auth, n));
	ASSERT_EQ(0, client_checks(self->k.c, req, rlen, o, n, &a, NULL, &alert));

	/* every truncation, a byte after Finished, a message after Finished */
	for (i = 0; i < alen; i++) {
		EXPECT_EQ(-EBADMSG, atls_ea_authenticator_parse(auth, i, &a, NULL))
			TH_LOG("prefix %zu", i);
		EXPECT_EQ(-EBADMSG, client_checks(self->k.c, req, rlen, auth, i, &a, NULL,
						  &alert));
	}
	memcpy(o, auth, alen);
	o[alen] = 0;
	REJECT(alen + 1, 50);
	n = put_msg(o, alen, 20, p.fin, p.fin_len, 0);
	REJECT(n, 50);

	/* first message of the wrong type */
	n = put_msg(o, 0, 15, p.cv_body, p.cv_len, 0);
	REJECT(n, 10);
	/* Certificate length one past the end, one short (CV header then misread) */
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 1, 15, 20);
	REJECT(n, 50);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, -1, 15, 20);
	REJECT(n, 50);
	/* context length beyond the message */
	n = put_msg(o, 0, 11, (const uint8_t *)"\xc8" "0123456789", 11, 0);
	REJECT(n, 50);
	/* certificate_list length +1 / -1 */
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 1, 0, 15, 20);
	REJECT(n, 50);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, -1, 0, 15, 20);
	REJECT(n, 50);
	/* empty certificate_list (a refusal is Finished alone) */
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 0, 0, 0, 15, 20);
	REJECT(n, 50);
	/* cert_data of length 0 */
	dl[0] = 0;
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	dl[0] = p.der_len;
	/* entry extension block longer than what follows, shorter */
	el[0] = e0n = ext_block(e0, x, xn, 1);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	e0n = ext_block(e0, x, xn, -1);
	el[0] = e0n;
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	/* an extension whose data runs past its block */
	xn = put_ext(x, 0, 0x1234, (const uint8_t *)"ab", 2, 1);
	el[0] = e0n = ext_block(e0, x, xn, 0);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	/* the same extension twice in entry 0 */
	xn = cmw_ext(x, 0, cmw_sample, sizeof(cmw_sample), 0);
	xn = cmw_ext(x, xn, cmw_sample, sizeof(cmw_sample), 0);
	el[0] = e0n = ext_block(e0, x, xn, 0);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 47);
	/* cmw_data of length 0; inner length +1 / -1 */
	xn = cmw_ext(x, 0, cmw_sample, 0, 0);
	el[0] = e0n = ext_block(e0, x, xn, 0);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	xn = cmw_ext(x, 0, cmw_sample, sizeof(cmw_sample), 1);
	el[0] = e0n = ext_block(e0, x, xn, 0);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	xn = cmw_ext(x, 0, cmw_sample, sizeof(cmw_sample), -1);
	el[0] = e0n = ext_block(e0, x, xn, 0);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	REJECT(n, 50);
	/* evidence on entry 1 */
	xn = cmw_ext(x, 0, cmw_sample, sizeof(cmw_sample), 0);
	el[0] = e0n = ext_block(e0, x, xn, 0);
	e1n = ext_block(e1, NULL, 0, 0);
	{
		uint8_t e1c[512];
		size_t e1cn = ext_block(e1c, x, xn, 0);

		ders[1] = p.der;
		dl[1] = p.der_len;
		exts[1] = e1c;
		el[1] = e1cn;
		n = mk_auth(o, &p, 32, ders, dl, exts, el, 2, 0, 0, 15, 20);
		REJECT(n, 47);
	}
	/* more entries than allowed */
	for (i = 1; i <= ATLS_EA_MAX_CERTS; i++) {
		ders[i] = p.der;
		dl[i] = p.der_len;
		exts[i] = e1;
		el[i] = e1n;
	}
	n = mk_auth(o, &p, 32, ders, dl, exts, el, ATLS_EA_MAX_CERTS + 1, 0, 0, 15, 20);
	REJECT(n, 50);
	/* a trailing byte inside the Certificate body, after the list */
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
	{
		size_t clen = 4 + (size_t)(o[1] << 16 | o[2] << 8 | o[3]);

		memmove(o + clen + 1, o + clen, n - clen);
		o[clen] = 0;
		put24(o, 1, clen - 4 + 1);
		REJECT(n + 1, 50);
	}
	/* CertificateVerify / Finished of the wrong type */
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 20, 20);
	REJECT(n, 10);
	n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 15);
	REJECT(n, 10);
	/* CertificateVerify: signature length +1 / -1 / 0 */
	{
		uint8_t cvb[600];
		struct parts q = p;

		ASSERT_LT(p.cv_len, sizeof(cvb));
		memcpy(cvb, p.cv_body, p.cv_len);
		q.cv_body = cvb;
		put16(cvb, 2, p.cv_len - 4 + 1);
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		REJECT(n, 50);
		put16(cvb, 2, p.cv_len - 4 - 1);
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		REJECT(n, 50);
		put16(cvb, 2, 0);
		q.cv_len = 4;
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		REJECT(n, 50);
		q.cv_len = 3;	/* no room for the signature length */
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		REJECT(n, 50);
	}
	/* Finished empty, or longer than any hash */
	{
		uint8_t fb[ATLS_EA_MAX_HASH + 1] = { 0 };
		struct parts q = p;

		q.fin = fb;
		q.fin_len = 0;
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		REJECT(n, 50);
		q.fin_len = sizeof(fb);
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		REJECT(n, 50);
		/* empty authenticator: empty, too long, or followed by a byte */
		n = put_msg(o, 0, 20, fb, 0, 0);
		REJECT(n, 50);
		n = put_msg(o, 0, 20, fb, sizeof(fb), 0);
		REJECT(n, 50);
		n = put_msg(o, 0, 20, fb, 32, 0);
		o[n] = 0;
		REJECT(n + 1, 50);
	}
	/* Finished of a valid length for another suite: well formed, wrong MAC */
	{
		uint8_t fb[ATLS_EA_MAX_HASH] = { 0 };
		struct parts q = p;

		q.fin = fb;
		q.fin_len = variant->hash_len == 32 ? 48 : 32;
		n = mk_auth(o, &q, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		EXPECT_EQ(0, atls_ea_authenticator_parse(o, n, &a, &alert));
		EXPECT_EQ(-EKEYREJECTED, client_checks(self->k.c, req, rlen, o, n, &a, NULL,
						       &alert));
		EXPECT_EQ(ATLS_EA_ALERT_DECRYPT_ERROR, alert);
	}
	/* a certificate that is not DER, and DER followed by a byte */
	{
		uint8_t *bad = malloc(p.der_len + 1);

		ASSERT_NE(NULL, bad);
		memcpy(bad, p.der, p.der_len);
		bad[0] = 0x31;	/* SET instead of SEQUENCE */
		ders[0] = bad;
		xn = cmw_ext(x, 0, cmw_sample, sizeof(cmw_sample), 0);
		el[0] = e0n = ext_block(e0, x, xn, 0);
		n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		EXPECT_EQ(0, atls_ea_authenticator_parse(o, n, &a, &alert));
		EXPECT_EQ(-EBADMSG, client_checks(self->k.c, req, rlen, o, n, &a, NULL, &alert));
		EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, alert);
		memcpy(bad, p.der, p.der_len);
		bad[p.der_len] = 0;
		dl[0] = p.der_len + 1;
		n = mk_auth(o, &p, 32, ders, dl, exts, el, 1, 0, 0, 15, 20);
		EXPECT_EQ(-EBADMSG, client_checks(self->k.c, req, rlen, o, n, &a, NULL, &alert));
		EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, alert);
		free(bad);
	}
#undef REJECT
	free(o);
	free(auth);
	free(req);
}

TEST_HARNESS_MAIN
