// SPDX-License-Identifier: Apache-2.0
/*
 * RFC 9261 Exported Authenticators with the cmw_attestation extension of
 * draft-fossati-seat-expat: message codec, exporter keys, signature and
 * Finished, attestation binder.  Formats and error conventions are in
 * exported_auth.h.
 *
 * Everything here is stateless: the caller keeps the request it sent (or
 * received) and the connection.  Buffers built here are malloc'ed; the
 * Finished MAC Key lives in struct atls_ea_keys (wiped by
 * atls_ea_keys_wipe()) and transient MAC/transcript values are wiped on
 * every path.  Parsers only read within the given buffer: every length is
 * checked against the bytes left before it is used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atls/wire.h>

#include "buf.h"
#include "exported_auth.h"

#define ALERT_UNEXPECTED_MESSAGE 10

static const char label_ctx_client[] = "EXPORTER-client authenticator handshake context";
static const char label_ctx_server[] = "EXPORTER-server authenticator handshake context";
static const char label_fin_client[] = "EXPORTER-client authenticator finished key";
static const char label_fin_server[] = "EXPORTER-server authenticator finished key";
static const char label_binder[] = "Attestation";
static const char cv_context[] = "Exported Authenticator";

/* ------------------------------------------------------------ reading */

struct rd {
	const uint8_t *p;
	size_t n;
};

/* Read a big-endian integer of width bytes (1..3). */
static bool rd_be(struct rd *r, size_t width, size_t *v)
{
	size_t i;

	*v = 0;
	if (r->n < width)
		return false;
	for (i = 0; i < width; i++)
		*v = *v << 8 | r->p[i];
	r->p += width;
	r->n -= width;
	return true;
}

static bool rd_u8(struct rd *r, uint8_t *v)
{
	size_t x;
	bool ok = rd_be(r, 1, &x);

	*v = (uint8_t)x;
	return ok;
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	size_t x;
	bool ok = rd_be(r, 2, &x);

	*v = (uint16_t)x;
	return ok;
}

static bool rd_u24(struct rd *r, size_t *v)
{
	return rd_be(r, 3, v);
}

/* Take len bytes as a sub-reader. */
static bool rd_sub(struct rd *r, size_t len, struct rd *sub)
{
	if (r->n < len)
		return false;
	sub->p = r->p;
	sub->n = len;
	r->p += len;
	r->n -= len;
	return true;
}

/* One handshake message: type, and its body as a sub-reader. */
static bool rd_msg(struct rd *r, uint8_t *type, struct rd *body)
{
	size_t len;

	return rd_u8(r, type) && rd_u24(r, &len) && rd_sub(r, len, body);
}

/* Add t to a set of extension types; false if present or full. */
static bool type_add(uint16_t *types, size_t *n, uint16_t t)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (types[i] == t)
			return false;
	if (*n >= ATLS_EA_MAX_EXT)
		return false;
	types[(*n)++] = t;
	return true;
}

static bool type_has(const uint16_t *types, size_t n, uint16_t t)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (types[i] == t)
			return true;
	return false;
}

/* ------------------------------------------------------------ writing */

/* A message being written; after the first failure to grow, oom and no more writes. */
struct wb {
	struct atls_buf b;
	bool oom;
};

static void wb_bytes(struct wb *w, const void *b, size_t n)
{
	if (!w->oom && atls_buf_append(&w->b, b, n))
		w->oom = true;
}

static void wb_u8(struct wb *w, uint8_t v)
{
	wb_bytes(w, &v, 1);
}

static void wb_u16(struct wb *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	wb_bytes(w, b, 2);
}

static void wb_u24(struct wb *w, size_t v)
{
	uint8_t b[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	wb_bytes(w, b, 3);
}

/* Patch a length field of `bytes` bytes at off with the bytes written since. */
static bool wb_patch(struct wb *w, size_t off, unsigned int bytes)
{
	size_t v, i;

	if (w->oom)
		return false;
	v = w->b.len - off - bytes;
	if (bytes < sizeof(size_t) && v >> (8 * bytes))
		return false;
	for (i = 0; i < bytes; i++)
		w->b.p[off + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	return true;
}

static void wb_free(struct wb *w)
{
	if (w->b.p)
		OPENSSL_clear_free(w->b.p, w->b.cap);
	memset(w, 0, sizeof(*w));
}

/* Hand the buffer to the caller (or free it and fail). */
static int wb_finish(struct wb *w, uint8_t **out, size_t *out_len)
{
	if (w->oom) {
		wb_free(w);
		return -ENOMEM;
	}
	if (w->b.len > ATLS_EA_MAX_LEN) {
		wb_free(w);
		return -EMSGSIZE;
	}
	*out = w->b.p;
	*out_len = w->b.len;
	return 0;
}

/* ------------------------------------------------------------ signature schemes */

struct scheme {
	uint16_t id;
	int type;		/* EVP_PKEY_EC, EVP_PKEY_RSA, EVP_PKEY_ED25519 */
	int bits;		/* EC: curve size; RSA: minimum; 0: any */
	const char *md;		/* NULL for Ed25519 */
	bool pss;
};

/* TLS 1.3 schemes (RFC 8446 §4.2.3) OpenSSL 3.0 can do with one key. */
static const struct scheme schemes[] = {
	{ 0x0403, EVP_PKEY_EC, 256, "SHA256", false },	/* ecdsa_secp256r1_sha256 */
	{ 0x0503, EVP_PKEY_EC, 384, "SHA384", false },	/* ecdsa_secp384r1_sha384 */
	{ 0x0603, EVP_PKEY_EC, 521, "SHA512", false },	/* ecdsa_secp521r1_sha512 */
	{ 0x0804, EVP_PKEY_RSA, 2048, "SHA256", true },	/* rsa_pss_rsae_sha256 */
	{ 0x0805, EVP_PKEY_RSA, 2048, "SHA384", true },	/* rsa_pss_rsae_sha384 */
	{ 0x0806, EVP_PKEY_RSA, 2048, "SHA512", true },	/* rsa_pss_rsae_sha512 */
	{ 0x0807, EVP_PKEY_ED25519, 0, NULL, false },	/* ed25519 */
};

static const struct scheme *scheme_find(uint16_t id)
{
	size_t i;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (schemes[i].id == id)
			return &schemes[i];
	return NULL;
}

static bool scheme_fits(const struct scheme *s, EVP_PKEY *key)
{
	int bits;

	if (!s || !key || EVP_PKEY_get_base_id(key) != s->type)
		return false;
	bits = EVP_PKEY_get_bits(key);
	if (s->type == EVP_PKEY_EC)
		return bits == s->bits;
	if (s->type == EVP_PKEY_RSA)
		return bits >= s->bits;
	return true;
}

/* Initialise mctx for signing (sign) or verifying with scheme s. */
static int scheme_init(EVP_MD_CTX *mctx, const struct scheme *s, EVP_PKEY *key, bool sign)
{
	const EVP_MD *md = s->md ? EVP_get_digestbyname(s->md) : NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (s->md && !md)
		return -EINVAL;
	if (sign)
		ok = EVP_DigestSignInit(mctx, &pctx, md, NULL, key) == 1;
	else
		ok = EVP_DigestVerifyInit(mctx, &pctx, md, NULL, key) == 1;
	if (ok && s->pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
	return ok ? 0 : -EINVAL;
}

/* ------------------------------------------------------------ transcript */

/* Hash(Handshake Context || parts...) with the authenticator hash. */
static int transcript_hash(const struct atls_ea_keys *k, const uint8_t *const *part,
			   const size_t *part_len, size_t n, uint8_t *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int olen = 0;
	int ok;
	size_t i;

	if (!c)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(c, k->md, NULL) == 1 &&
	     EVP_DigestUpdate(c, k->hs_context, k->len) == 1;
	for (i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(c, part[i], part_len[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(c, out, &olen) == 1 && olen == k->len;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -EINVAL;
}

/* The CertificateVerify input for a transcript hash th (k->len bytes). */
static size_t cv_tbs(const struct atls_ea_keys *k, const uint8_t *th, uint8_t *tbs)
{
	size_t n = 0;

	memset(tbs, 0x20, 64);
	n = 64;
	memcpy(tbs + n, cv_context, sizeof(cv_context) - 1);
	n += sizeof(cv_context) - 1;
	tbs[n++] = 0;
	memcpy(tbs + n, th, k->len);
	return n + k->len;
}

#define TBS_MAX (64 + sizeof(cv_context) + ATLS_EA_MAX_HASH)

static int finished_mac(const struct atls_ea_keys *k, const uint8_t *th, uint8_t *mac)
{
	unsigned int mlen = 0;

	if (!HMAC(k->md, k->finished_key, (int)k->len, th, k->len, mac, &mlen) || mlen != k->len)
		return -EINVAL;
	return 0;
}

static bool keys_ok(const struct atls_ea_keys *k)
{
	return k && k->md && k->len && k->len <= ATLS_EA_MAX_HASH &&
	       (size_t)EVP_MD_get_size(k->md) == k->len;
}

/* ------------------------------------------------------------ keys, binder */

static int connection_md(SSL *ssl, const EVP_MD **md, size_t *len)
{
	const SSL_CIPHER *c;
	int n;

	if (!ssl || SSL_version(ssl) != TLS1_3_VERSION || !SSL_is_init_finished(ssl))
		return -EPROTO;
	c = SSL_get_current_cipher(ssl);
	*md = c ? SSL_CIPHER_get_handshake_digest(c) : NULL;
	n = *md ? EVP_MD_get_size(*md) : 0;
	if (n <= 0 || n > ATLS_EA_MAX_HASH)
		return -EPROTO;
	*len = (size_t)n;
	return 0;
}

int atls_ea_keys_derive(SSL *ssl, bool sender_is_server, struct atls_ea_keys *k)
{
	const char *lc = sender_is_server ? label_ctx_server : label_ctx_client;
	const char *lf = sender_is_server ? label_fin_server : label_fin_client;
	int err;

	if (!k)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	err = connection_md(ssl, &k->md, &k->len);
	if (err)
		return err;
	/* TLS 1.3: no context and an empty context are the same (RFC 8446 §7.5). */
	if (SSL_export_keying_material(ssl, k->hs_context, k->len, lc, strlen(lc), NULL, 0, 0) != 1 ||
	    SSL_export_keying_material(ssl, k->finished_key, k->len, lf, strlen(lf), NULL, 0, 0) != 1) {
		atls_ea_keys_wipe(k);
		return -EPROTO;
	}
	return 0;
}

void atls_ea_keys_wipe(struct atls_ea_keys *k)
{
	if (k)
		OPENSSL_cleanse(k, sizeof(*k));
}

int atls_ea_binder(SSL *ssl, const uint8_t *ctx, size_t ctx_len, const uint8_t *spki,
		   size_t spki_len, uint8_t *out, size_t *out_len)
{
	uint8_t exp[ATLS_EA_BINDER_EXPORT_LEN];
	const EVP_MD *md;
	EVP_MD_CTX *c;
	unsigned int olen = 0;
	size_t len;
	int err, ok;

	if ((!ctx && ctx_len) || ctx_len > 255 || !spki || !spki_len || !out || !out_len)
		return -EINVAL;
	err = connection_md(ssl, &md, &len);
	if (err)
		return err;
	if (SSL_export_keying_material(ssl, exp, sizeof(exp), label_binder, sizeof(label_binder) - 1,
				       ctx_len ? ctx : (const uint8_t *)"", ctx_len, 1) != 1)
		return -EPROTO;
	c = EVP_MD_CTX_new();
	ok = c && EVP_DigestInit_ex(c, md, NULL) == 1 && EVP_DigestUpdate(c, spki, spki_len) == 1 &&
	     EVP_DigestUpdate(c, exp, sizeof(exp)) == 1 && EVP_DigestFinal_ex(c, out, &olen) == 1 &&
	     olen == len;
	EVP_MD_CTX_free(c);
	OPENSSL_cleanse(exp, sizeof(exp));
	if (!ok)
		return c ? -EINVAL : -ENOMEM;
	*out_len = len;
	return 0;
}

/* ------------------------------------------------------------ request */

int atls_ea_request_build(uint8_t type, const uint8_t *context, size_t context_len,
			  const uint16_t *sigalgs, size_t n_sigalgs, bool want_cmw, uint8_t **out,
			  size_t *out_len)
{
	struct wb w = { 0 };
	size_t i, ext;

	if ((type != ATLS_EA_HS_CERTIFICATE_REQUEST && type != ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST) ||
	    (!context && context_len) || context_len > 255 || !sigalgs || !n_sigalgs ||
	    n_sigalgs > ATLS_EA_MAX_SIGALGS || !out || !out_len)
		return -EINVAL;
	wb_u8(&w, type);
	wb_u24(&w, 0);
	wb_u8(&w, (uint8_t)context_len);
	wb_bytes(&w, context, context_len);
	ext = w.b.len;
	wb_u16(&w, 0);
	wb_u16(&w, ATLS_EA_EXT_SIGNATURE_ALGORITHMS);
	wb_u16(&w, (uint16_t)(2 + 2 * n_sigalgs));
	wb_u16(&w, (uint16_t)(2 * n_sigalgs));
	for (i = 0; i < n_sigalgs; i++)
		wb_u16(&w, sigalgs[i]);
	if (want_cmw) {
		wb_u16(&w, ATLS_EA_EXT_CMW_ATTESTATION);
		wb_u16(&w, 0);
	}
	if ((!wb_patch(&w, ext, 2) || !wb_patch(&w, 1, 3)) && !w.oom) {
		wb_free(&w);
		return -EMSGSIZE;
	}
	return wb_finish(&w, out, out_len);
}

/* The extensions of a request (body after the context). */
static int request_exts(struct rd *r, struct atls_ea_request *req, uint8_t *alert)
{
	struct rd exts, data, list;
	uint16_t elen, type, dlen, llen;
	bool sigalgs = false;

	if (!rd_u16(r, &elen) || elen < 2 || !rd_sub(r, elen, &exts) || r->n)
		return -EBADMSG;
	while (exts.n) {
		if (!rd_u16(&exts, &type) || !rd_u16(&exts, &dlen) || !rd_sub(&exts, dlen, &data))
			return -EBADMSG;
		if (!type_add(req->ext_types, &req->n_ext, type)) {
			*alert = ATLS_ALERT_ILLEGAL_PARAMETER;	/* duplicate (or too many) */
			return -EBADMSG;
		}
		if (type == ATLS_EA_EXT_SIGNATURE_ALGORITHMS) {
			if (!rd_u16(&data, &llen) || llen < 2 || llen % 2 ||
			    llen / 2 > ATLS_EA_MAX_SIGALGS || !rd_sub(&data, llen, &list) || data.n)
				return -EBADMSG;
			req->sigalgs = list.p;
			req->n_sigalgs = llen / 2;
			sigalgs = true;
		} else if (type == ATLS_EA_EXT_CMW_ATTESTATION) {
			if (data.n)	/* empty in a request (expat draft §3.1) */
				return -EBADMSG;
			req->cmw_requested = true;
		}
		/* Other extensions are ignored (RFC 9261 §5.2.1). */
	}
	if (!sigalgs) {
		*alert = ATLS_ALERT_MISSING_EXTENSION;
		return -EBADMSG;
	}
	return 0;
}

/*
 * The start of both parsers: *alert preset to decode_error, out cleared, the
 * first handshake message of buf read into *type and *body (*r: the rest).
 */
static int parse_start(const uint8_t *buf, size_t len, void *out, size_t out_len,
		       uint8_t *alert, struct rd *r, uint8_t *type, struct rd *body)
{
	*alert = ATLS_ALERT_DECODE_ERROR;
	if (!buf || !out)
		return -EINVAL;
	memset(out, 0, out_len);
	r->p = buf;
	r->n = len;
	if (len > ATLS_EA_MAX_LEN || !rd_msg(r, type, body))
		return -EBADMSG;
	return 0;
}

/* A message of another type than the one expected here. */
static int unexpected(uint8_t *alert)
{
	*alert = ALERT_UNEXPECTED_MESSAGE;
	return -EBADMSG;
}

int atls_ea_request_parse(const uint8_t *buf, size_t len, struct atls_ea_request *req,
			  uint8_t *alert)
{
	struct rd r, body, ctx;
	uint8_t type, clen, dummy;
	int err;

	if (!alert)
		alert = &dummy;
	err = parse_start(buf, len, req, sizeof(*req), alert, &r, &type, &body);
	if (err || r.n)
		return err ? err : -EBADMSG;
	if (type != ATLS_EA_HS_CERTIFICATE_REQUEST && type != ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST)
		return unexpected(alert);
	if (!rd_u8(&body, &clen) || !rd_sub(&body, clen, &ctx))
		return -EBADMSG;
	req->type = type;
	req->context = ctx.p;
	req->context_len = ctx.n;
	err = request_exts(&body, req, alert);
	if (err)
		return err;
	*alert = 0;
	return 0;
}

/* ------------------------------------------------------------ authenticator */

/* The extensions of certificate entry idx. */
static int entry_exts(struct rd *r, size_t idx, struct atls_ea_authenticator *a, uint8_t *alert)
{
	uint16_t seen[ATLS_EA_MAX_EXT], elen, type, dlen, clen;
	struct rd exts, data, cmw;
	size_t n_seen = 0;

	if (!rd_u16(r, &elen) || !rd_sub(r, elen, &exts))
		return -EBADMSG;
	while (exts.n) {
		if (!rd_u16(&exts, &type) || !rd_u16(&exts, &dlen) || !rd_sub(&exts, dlen, &data))
			return -EBADMSG;
		if (!type_add(seen, &n_seen, type)) {
			*alert = ATLS_ALERT_ILLEGAL_PARAMETER;
			return -EBADMSG;
		}
		if (!type_has(a->ext_types, a->n_ext, type) &&
		    !type_add(a->ext_types, &a->n_ext, type))
			return -EBADMSG;
		if (type != ATLS_EA_EXT_CMW_ATTESTATION)
			continue;	/* the verifier checks it was requested */
		if (idx) {
			/* entry 0 only (expat draft §3) */
			*alert = ATLS_ALERT_ILLEGAL_PARAMETER;
			return -EBADMSG;
		}
		if (!rd_u16(&data, &clen) || !clen || !rd_sub(&data, clen, &cmw) || data.n)
			return -EBADMSG;
		a->cmw = cmw.p;
		a->cmw_len = cmw.n;
	}
	return 0;
}

static int certificate_body(struct rd *body, struct atls_ea_authenticator *a, uint8_t *alert)
{
	struct rd ctx, list, cert;
	size_t llen, clen;
	uint8_t cl;
	int err;

	if (!rd_u8(body, &cl) || !rd_sub(body, cl, &ctx) || !rd_u24(body, &llen) ||
	    !rd_sub(body, llen, &list) || body->n)
		return -EBADMSG;
	a->context = ctx.p;
	a->context_len = ctx.n;
	if (!list.n)	/* an authenticator that declines is Finished alone */
		return -EBADMSG;
	while (list.n) {
		if (a->n_certs >= ATLS_EA_MAX_CERTS)
			return -EBADMSG;
		if (!rd_u24(&list, &clen) || !clen || !rd_sub(&list, clen, &cert))
			return -EBADMSG;
		a->cert[a->n_certs] = cert.p;
		a->cert_len[a->n_certs] = cert.n;
		err = entry_exts(&list, a->n_certs, a, alert);
		if (err)
			return err;
		a->n_certs++;
	}
	return 0;
}

int atls_ea_authenticator_parse(const uint8_t *buf, size_t len,
				struct atls_ea_authenticator *a, uint8_t *alert)
{
	struct rd r, body, sig;
	uint8_t type, dummy;
	uint16_t slen;
	int err;

	if (!alert)
		alert = &dummy;
	err = parse_start(buf, len, a, sizeof(*a), alert, &r, &type, &body);
	if (err)
		return err;
	if (type == ATLS_EA_HS_FINISHED) {
		if (r.n || !body.n || body.n > ATLS_EA_MAX_HASH)
			return -EBADMSG;
		a->empty = true;
		a->finished = body.p;
		a->finished_len = body.n;
		*alert = 0;
		return 0;
	}
	if (type != ATLS_EA_HS_CERTIFICATE)
		return unexpected(alert);
	err = certificate_body(&body, a, alert);
	if (err)
		return err;
	a->certificate_msg_len = len - r.n;

	if (!rd_msg(&r, &type, &body))
		return -EBADMSG;
	if (type != ATLS_EA_HS_CERTIFICATE_VERIFY)
		return unexpected(alert);
	if (!rd_u16(&body, &a->scheme) || !rd_u16(&body, &slen) || !slen ||
	    !rd_sub(&body, slen, &sig) || body.n)
		return -EBADMSG;
	a->signature = sig.p;
	a->signature_len = sig.n;
	a->certificate_verify_msg_len = len - r.n - a->certificate_msg_len;

	if (!rd_msg(&r, &type, &body))
		return -EBADMSG;
	if (type != ATLS_EA_HS_FINISHED)
		return unexpected(alert);
	if (!body.n || body.n > ATLS_EA_MAX_HASH || r.n)
		return -EBADMSG;
	a->finished = body.p;
	a->finished_len = body.n;
	*alert = 0;
	return 0;
}

/*
 * The Finished MAC of an empty authenticator answering request req (parsed:
 * rq): over Hash(Handshake Context || request || a Certificate message with
 * no entry), that Certificate hashed, never sent.
 */
static int empty_finished_mac(const struct atls_ea_keys *k, const uint8_t *req, size_t req_len,
			      const struct atls_ea_request *rq, uint8_t *mac)
{
	uint8_t th[ATLS_EA_MAX_HASH];
	struct wb cert = { 0 };
	const uint8_t *part[2];
	size_t plen[2];
	int err;

	wb_u8(&cert, ATLS_EA_HS_CERTIFICATE);
	wb_u24(&cert, 1 + rq->context_len + 3);
	wb_u8(&cert, (uint8_t)rq->context_len);
	wb_bytes(&cert, rq->context, rq->context_len);
	wb_u24(&cert, 0);
	part[0] = req;
	plen[0] = req_len;
	part[1] = cert.b.p;
	plen[1] = cert.b.len;
	err = cert.oom ? -ENOMEM : transcript_hash(k, part, plen, 2, th);
	if (!err)
		err = finished_mac(k, th, mac);
	wb_free(&cert);
	return err;
}

int atls_ea_empty_authenticator_build(const struct atls_ea_keys *k, const uint8_t *req,
				      size_t req_len, uint8_t **out, size_t *out_len)
{
	struct atls_ea_request rq;
	uint8_t mac[ATLS_EA_MAX_HASH];
	struct wb w = { 0 };
	int err;

	if (!keys_ok(k) || !req || !out || !out_len)
		return -EINVAL;
	err = atls_ea_request_parse(req, req_len, &rq, NULL);
	if (err)
		return err;
	err = empty_finished_mac(k, req, req_len, &rq, mac);
	if (!err) {
		wb_u8(&w, ATLS_EA_HS_FINISHED);
		wb_u24(&w, k->len);
		wb_bytes(&w, mac, k->len);
		err = wb_finish(&w, out, out_len);
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	return err;
}

/* First scheme of the request's list that key can sign with. */
static const struct scheme *choose_scheme(const struct atls_ea_request *rq, EVP_PKEY *key)
{
	const struct scheme *s;
	size_t i;

	for (i = 0; i < rq->n_sigalgs; i++) {
		s = scheme_find((uint16_t)(rq->sigalgs[2 * i] << 8 | rq->sigalgs[2 * i + 1]));
		if (s && scheme_fits(s, key))
			return s;
	}
	return NULL;
}

static int write_certificate(struct wb *w, const struct atls_ea_request *rq, X509 *const *chain,
			     size_t n_chain, const uint8_t *cmw, size_t cmw_len)
{
	size_t i, msg, list, ext;
	unsigned char *der;
	int dlen;

	wb_u8(w, ATLS_EA_HS_CERTIFICATE);
	msg = w->b.len;
	wb_u24(w, 0);
	wb_u8(w, (uint8_t)rq->context_len);
	wb_bytes(w, rq->context, rq->context_len);
	list = w->b.len;
	wb_u24(w, 0);
	for (i = 0; i < n_chain; i++) {
		der = NULL;
		dlen = i2d_X509(chain[i], &der);
		if (dlen <= 0 || dlen >= 1 << 24)
			return dlen < 0 ? -EINVAL : -EMSGSIZE;
		wb_u24(w, (size_t)dlen);
		wb_bytes(w, der, (size_t)dlen);
		OPENSSL_free(der);
		ext = w->b.len;
		wb_u16(w, 0);
		if (!i && cmw) {
			wb_u16(w, ATLS_EA_EXT_CMW_ATTESTATION);
			wb_u16(w, (uint16_t)(2 + cmw_len));
			wb_u16(w, (uint16_t)cmw_len);
			wb_bytes(w, cmw, cmw_len);
		}
		if (!wb_patch(w, ext, 2))
			return w->oom ? -ENOMEM : -EMSGSIZE;
	}
	if (!wb_patch(w, list, 3) || !wb_patch(w, msg, 3))
		return w->oom ? -ENOMEM : -EMSGSIZE;
	return 0;
}

int atls_ea_authenticator_build(const struct atls_ea_keys *k, const uint8_t *req, size_t req_len,
				X509 *const *chain, size_t n_chain, EVP_PKEY *key,
				const uint8_t *cmw, size_t cmw_len, uint8_t **out, size_t *out_len)
{
	uint8_t th[ATLS_EA_MAX_HASH], mac[ATLS_EA_MAX_HASH], tbs[TBS_MAX], *sig = NULL;
	const struct scheme *s;
	struct atls_ea_request rq;
	struct wb w = { 0 };
	EVP_MD_CTX *mctx = NULL;
	const uint8_t *part[2];
	size_t plen[2], i, tlen, slen = 0, cert_end, cv;
	int err;

	if (!keys_ok(k) || !req || !chain || !n_chain || n_chain > ATLS_EA_MAX_CERTS || !key ||
	    (cmw && (!cmw_len || cmw_len > 0xffff - 2)) || (!cmw && cmw_len) || !out || !out_len)
		return -EINVAL;
	for (i = 0; i < n_chain; i++)
		if (!chain[i])
			return -EINVAL;
	err = atls_ea_request_parse(req, req_len, &rq, NULL);
	if (err)
		return err;
	if (cmw && !rq.cmw_requested)
		return -EINVAL;	/* only extensions the request named (RFC 9261 §5.2.1) */
	if (EVP_PKEY_eq(X509_get0_pubkey(chain[0]), key) != 1)
		return -EINVAL;
	s = choose_scheme(&rq, key);
	if (!s)
		return -EOPNOTSUPP;

	err = write_certificate(&w, &rq, chain, n_chain, cmw, cmw_len);
	if (err)
		goto out;
	cert_end = w.b.len;
	part[0] = req;
	plen[0] = req_len;
	part[1] = w.b.p;
	plen[1] = cert_end;
	err = transcript_hash(k, part, plen, 2, th);
	if (err)
		goto out;
	tlen = cv_tbs(k, th, tbs);
	mctx = EVP_MD_CTX_new();
	err = mctx ? scheme_init(mctx, s, key, true) : -ENOMEM;
	if (err)
		goto out;
	if (EVP_DigestSign(mctx, NULL, &slen, tbs, tlen) != 1 || !slen || slen > 0xffff ||
	    !(sig = malloc(slen)) || EVP_DigestSign(mctx, sig, &slen, tbs, tlen) != 1) {
		err = sig || !slen ? -EIO : -ENOMEM;
		goto out;
	}
	wb_u8(&w, ATLS_EA_HS_CERTIFICATE_VERIFY);
	cv = w.b.len;
	wb_u24(&w, 0);
	wb_u16(&w, s->id);
	wb_u16(&w, (uint16_t)slen);
	wb_bytes(&w, sig, slen);
	if (!wb_patch(&w, cv, 3)) {
		err = w.oom ? -ENOMEM : -EMSGSIZE;
		goto out;
	}
	plen[1] = w.b.len;	/* Certificate || CertificateVerify */
	part[1] = w.b.p;
	err = transcript_hash(k, part, plen, 2, th);
	if (!err)
		err = finished_mac(k, th, mac);
	if (err)
		goto out;
	wb_u8(&w, ATLS_EA_HS_FINISHED);
	wb_u24(&w, k->len);
	wb_bytes(&w, mac, k->len);
	err = wb_finish(&w, out, out_len);
	w.b.p = NULL;	/* owned by the caller now (or freed by wb_finish) */
out:
	if (w.b.p)
		wb_free(&w);
	free(sig);
	EVP_MD_CTX_free(mctx);
	OPENSSL_cleanse(mac, sizeof(mac));
	return err;
}

/* Decode every certificate; the first into *leaf. */
static int decode_chain(const struct atls_ea_authenticator *a, X509 **leaf)
{
	const unsigned char *p;
	X509 *x;
	size_t i;

	*leaf = NULL;
	for (i = 0; i < a->n_certs; i++) {
		p = a->cert[i];
		x = d2i_X509(NULL, &p, (long)a->cert_len[i]);
		if (!x || p != a->cert[i] + a->cert_len[i]) {
			X509_free(x);
			X509_free(*leaf);
			*leaf = NULL;
			return -EBADMSG;
		}
		if (i)
			X509_free(x);
		else
			*leaf = x;
	}
	return 0;
}

static bool scheme_offered(const struct atls_ea_request *rq, uint16_t id)
{
	size_t i;

	for (i = 0; i < rq->n_sigalgs; i++)
		if ((uint16_t)(rq->sigalgs[2 * i] << 8 | rq->sigalgs[2 * i + 1]) == id)
			return true;
	return false;
}

static int verify_empty(const struct atls_ea_keys *k, const uint8_t *req, size_t req_len,
			const struct atls_ea_request *rq, const struct atls_ea_authenticator *a,
			uint8_t *alert)
{
	uint8_t mac[ATLS_EA_MAX_HASH];
	int err;

	err = empty_finished_mac(k, req, req_len, rq, mac);
	if (!err && (a->finished_len != k->len || CRYPTO_memcmp(mac, a->finished, k->len))) {
		*alert = ATLS_EA_ALERT_DECRYPT_ERROR;
		err = -EKEYREJECTED;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	if (err)
		return err;
	*alert = 0;
	return -EACCES;
}

int atls_ea_authenticator_verify(const struct atls_ea_keys *k, const uint8_t *req, size_t req_len,
				 const uint8_t *auth, size_t auth_len,
				 struct atls_ea_authenticator *a, X509 **leaf, uint8_t *alert)
{
	uint8_t th[ATLS_EA_MAX_HASH], mac[ATLS_EA_MAX_HASH], tbs[TBS_MAX], dummy;
	const struct scheme *s;
	struct atls_ea_request rq;
	EVP_MD_CTX *mctx = NULL;
	const uint8_t *part[2];
	size_t plen[2], i, tlen;
	X509 *x = NULL;
	int err;

	if (!alert)
		alert = &dummy;
	*alert = ATLS_ALERT_INTERNAL_ERROR;
	if (leaf)
		*leaf = NULL;
	if (!keys_ok(k) || !req || !auth || !a)
		return -EINVAL;
	err = atls_ea_request_parse(req, req_len, &rq, alert);
	if (err)
		return err == -EBADMSG ? -EINVAL : err;	/* our own request */
	err = atls_ea_authenticator_parse(auth, auth_len, a, alert);
	if (err)
		return err;
	if (a->empty)
		return verify_empty(k, req, req_len, &rq, a, alert);

	*alert = ATLS_ALERT_ILLEGAL_PARAMETER;
	if (a->context_len != rq.context_len ||
	    (rq.context_len && memcmp(a->context, rq.context, rq.context_len)))
		return -EKEYREJECTED;	/* not the answer to this request */
	for (i = 0; i < a->n_ext; i++)
		if (!type_has(rq.ext_types, rq.n_ext, a->ext_types[i])) {
			*alert = ATLS_EA_ALERT_UNSUPPORTED_EXTENSION;
			return -EBADMSG;
		}
	*alert = ATLS_ALERT_BAD_CERTIFICATE;
	err = decode_chain(a, &x);
	if (err)
		return err;

	*alert = ATLS_ALERT_ILLEGAL_PARAMETER;
	s = scheme_find(a->scheme);
	if (!scheme_offered(&rq, a->scheme) || !scheme_fits(s, X509_get0_pubkey(x))) {
		err = -EKEYREJECTED;
		goto out;
	}
	part[0] = req;
	plen[0] = req_len;
	part[1] = auth;
	plen[1] = a->certificate_msg_len;
	*alert = ATLS_ALERT_INTERNAL_ERROR;
	err = transcript_hash(k, part, plen, 2, th);
	if (err)
		goto out;
	tlen = cv_tbs(k, th, tbs);
	mctx = EVP_MD_CTX_new();
	err = mctx ? scheme_init(mctx, s, X509_get0_pubkey(x), false) : -ENOMEM;
	if (err)
		goto out;
	*alert = ATLS_EA_ALERT_DECRYPT_ERROR;
	if (EVP_DigestVerify(mctx, a->signature, a->signature_len, tbs, tlen) != 1) {
		err = -EKEYREJECTED;
		goto out;
	}
	plen[1] = a->certificate_msg_len + a->certificate_verify_msg_len;
	*alert = ATLS_ALERT_INTERNAL_ERROR;
	err = transcript_hash(k, part, plen, 2, th);
	if (!err)
		err = finished_mac(k, th, mac);
	if (err)
		goto out;
	*alert = ATLS_EA_ALERT_DECRYPT_ERROR;
	if (a->finished_len != k->len || CRYPTO_memcmp(mac, a->finished, k->len)) {
		err = -EKEYREJECTED;
		goto out;
	}
	*alert = 0;
	if (leaf) {
		*leaf = x;
		x = NULL;
	}
out:
	X509_free(x);
	EVP_MD_CTX_free(mctx);
	OPENSSL_cleanse(mac, sizeof(mac));
	return err;
}
