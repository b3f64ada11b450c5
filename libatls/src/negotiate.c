// SPDX-License-Identifier: Apache-2.0
/*
 * The remoteAttestation extension inside OpenSSL's handshake: one custom
 * extension registered for CH, EE, CR and Certificate
 * (Documentation/protocol.rst, "Negotiation"), a ClientHello callback (to notice an *absent* extension) and the
 * certificate verification hook (to notice absent evidence and to verify
 * the peer chain when a CA is configured).
 *
 * Who attests (draft §"Negotiating"):
 *  - client CH: server_attester_schemes = [ours] if it asks the server
 *    (peer_attest != NONE); client_attester_schemes = [ours] if it may
 *    attest (attest_self).  Extension omitted when both are empty.
 *  - server EE: [ours] if the client asked and the server attests; no common
 *    scheme while the server would attest -> handshake_failure.
 *  - server CR: [ours] if it wants client evidence and the client offered.
 *  - Certificate entry 0 of whoever was chosen: u24 len || CMW.
 *
 * OpenSSL ordering facts relied on (OpenSSL 3.0 statem):
 *  - add_cb for EE/Certificate (server) runs only if the extension was in
 *    CH, for the client Certificate only if it was in CR; free_cb runs
 *    right after the bytes are copied.
 *  - parse_cb of EE rejects an extension we did not send (unsupported_
 *    extension) before calling us; CR and Certificate are not checked by
 *    OpenSSL, we do it.
 *  - Certificate parse_cb runs per entry with x = that entry's certificate
 *    and chainidx; all entries are parsed before the cert verify callback.
 *  - A failing parse/add callback makes OpenSSL send the alert in *al.
 *
 * All state is per connection (struct atls_conn via ex_data); add_arg/
 * parse_arg are unused because they are per SSL_CTX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "internal.h"

#define EXT_CONTEXTS                                                                    \
	(SSL_EXT_TLS_ONLY | SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |                \
	 SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS | SSL_EXT_TLS1_3_CERTIFICATE_REQUEST |     \
	 SSL_EXT_TLS1_3_CERTIFICATE)

static int fail_al(struct atls_conn *c, int *al, enum atls_reason r, uint8_t alert,
		   const char *what)
{
	if (!c) {
		*al = ATLS_ALERT_INTERNAL_ERROR;
		return -1;
	}
	atls_fail(c, 0, r, alert, "%s", what);
	*al = c->alert;
	return -1;
}

/* Our own evidence for Certificate entry 0 (x = our end-entity certificate). */
static int add_cert_evidence(struct atls_conn *c, X509 *x, const unsigned char **out,
			     size_t *outlen, int *al)
{
	uint8_t binder[ATLS_MAX_HASH], *spki = NULL, *cmw = NULL, *ext = NULL;
	size_t blen, spki_len, cmw_len, ext_len;
	int ret;

	ret = atls_conn_binder(c, x, binder, &blen, &spki, &spki_len);
	if (ret)
		return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "cannot compute own binder");
	OPENSSL_free(spki);
	ret = atls_attest_produce(c, binder, blen, &cmw, &cmw_len);
	OPENSSL_cleanse(binder, sizeof(binder));
	if (ret) {
		/* atls_attest_produce() recorded the precise reason. */
		*al = c->alert ? c->alert : ATLS_ALERT_INTERNAL_ERROR;
		return -1;
	}
	ret = atls_ext_build_cert(cmw, cmw_len, &ext, &ext_len);
	free(cmw);
	if (ret)
		return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "own evidence too large for the extension");
	c->res->self_attested = true;
	c->res->self_batched = c->self_batch;
	*out = ext;
	*outlen = ext_len;
	return 1;
}

/* The one scheme chosen, in EncryptedExtensions (the one we attest with) or
 * in CertificateRequest (the one we ask of the client); *chosen set. */
static int add_chosen(struct atls_conn *c, bool batch, bool *chosen, uint8_t **buf, size_t *len,
		      int *al)
{
	if ((batch ? atls_ext_build_scheme_batch : atls_ext_build_scheme)(buf, len))
		return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "out of memory");
	*chosen = true;
	return 1;
}

static int ext_add(SSL *s, unsigned int ext_type, unsigned int context,
		   const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx, int *al,
		   void *arg)
{
	struct atls_conn *c = atls_conn_of(s);
	const struct atls_config *cfg;
	uint8_t *buf;
	size_t len;
	int ret = 1;

	(void)ext_type;
	(void)arg;
	if (!c)
		return 0;
	cfg = &c->ctx->cfg;
	switch (context) {
	case SSL_EXT_CLIENT_HELLO: {
		bool ask = cfg->peer_attest != ATLS_PEER_NONE, offer = cfg->attest_self;

		if (!ask && !offer)
			return 0;
		if (atls_ext_build_ch_batch(ask, offer, cfg->batch, &buf, &len))
			return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "out of memory");
		break;
	}
	case SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS:
		if (!cfg->attest_self)
			return 0;
		if (!c->peer_asks_us) {
			if (c->peer_asks_us_other)
				return fail_al(c, al, ATLS_REASON_EVIDENCE_TYPE_REJECTED, 0,
					       "no common server attestation scheme");
			return 0;
		}
		ret = add_chosen(c, c->self_batch, &c->self_chosen, &buf, &len, al);
		break;
	case SSL_EXT_TLS1_3_CERTIFICATE_REQUEST:
		if (cfg->peer_attest == ATLS_PEER_NONE || !c->peer_offers)
			return 0;
		ret = add_chosen(c, c->peer_batch, &c->peer_chosen, &buf, &len, al);
		break;
	case SSL_EXT_TLS1_3_CERTIFICATE:
		/* Exporter-bound mode: the evidence follows the handshake (expat.c). */
		if (chainidx != 0 || !c->self_chosen || !x || c->expat)
			return 0;
		return add_cert_evidence(c, x, out, outlen, al);
	default:
		return 0;
	}
	if (ret != 1)
		return ret;
	*out = buf;
	*outlen = len;
	return 1;
}

static void ext_free(SSL *s, unsigned int ext_type, unsigned int context,
		     const unsigned char *out, void *arg)
{
	(void)s;
	(void)ext_type;
	(void)context;
	(void)arg;
	free((void *)out);
}

/* Peer's Certificate entry: evidence at entry 0 only, and only if negotiated. */
static int parse_cert_evidence(struct atls_conn *c, const unsigned char *in, size_t inlen,
			       X509 *x, size_t chainidx, int *al)
{
	uint8_t binder[ATLS_MAX_HASH], *spki = NULL;
	size_t blen, spki_len, cmw_len;
	const uint8_t *cmw;
	int ret;

	if (chainidx != 0)
		return fail_al(c, al, ATLS_REASON_WRONG_CERT_ENTRY, 0,
			       "attestation extension on a certificate entry other than 0");
	if (!c->peer_chosen)
		return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, ATLS_ALERT_ILLEGAL_PARAMETER,
			       "evidence in Certificate although not negotiated");
	if (c->peer_evidence_seen)
		return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, ATLS_ALERT_ILLEGAL_PARAMETER,
			       "second evidence");
	if (c->expat)
		return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, ATLS_ALERT_ILLEGAL_PARAMETER,
			       "evidence in Certificate although the exporter binding was chosen");
	if (atls_ext_parse_cert(in, inlen, &cmw, &cmw_len))
		return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, 0,
			       "malformed Certificate attestation extension");
	if (!x)
		return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "no certificate for entry 0");
	ret = atls_conn_binder(c, x, binder, &blen, &spki, &spki_len);
	if (ret)
		return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "cannot compute peer binder");
	ret = atls_attest_appraise(c, cmw, cmw_len, binder, blen, spki, spki_len);
	OPENSSL_free(spki);
	OPENSSL_cleanse(binder, sizeof(binder));
	if (ret) {
		*al = c->alert;
		return -1;
	}
	c->peer_evidence_seen = true;
	return 1;
}

/*
 * The one scheme the server chose: in EncryptedExtensions (ee) its own, which
 * we must have asked for; in CertificateRequest the one it asks of us, which
 * we must have offered.  Batched only if we take (ee) or make batched quotes.
 */
static int parse_chosen(struct atls_conn *c, const unsigned char *in, size_t inlen, int *al,
			bool ee)
{
	const struct atls_config *cfg = &c->ctx->cfg;
	bool offered = ee ? cfg->peer_attest != ATLS_PEER_NONE : cfg->attest_self;
	bool batch_ok = ee ? cfg->batch : c->ctx->batcher != NULL;
	int r = atls_ext_parse_chosen(in, inlen);

	if (r < 0)
		return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, 0,
			       ee ? "malformed EncryptedExtensions attestation extension"
				  : "malformed CertificateRequest attestation extension");
	if (r == 0 || (r == 2 && !batch_ok) || !offered)
		return fail_al(c, al, ATLS_REASON_EVIDENCE_TYPE_REJECTED,
			       ATLS_ALERT_ILLEGAL_PARAMETER,
			       ee ? "server chose a scheme we did not offer"
				  : "server asked for a scheme we did not offer");
	if (ee) {
		c->peer_chosen = true;
		c->peer_batch = r == 2;
	} else {
		c->self_chosen = true;
		c->self_batch = r == 2;
	}
	return 1;
}

static int ext_parse(SSL *s, unsigned int ext_type, unsigned int context,
		     const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
		     void *arg)
{
	struct atls_conn *c = atls_conn_of(s);
	const struct atls_config *cfg;
	struct atls_ch_offer off;

	(void)ext_type;
	(void)arg;
	if (!c)
		return fail_al(NULL, al, ATLS_REASON_INTERNAL, ATLS_ALERT_INTERNAL_ERROR, "no state");
	cfg = &c->ctx->cfg;
	switch (context) {
	case SSL_EXT_CLIENT_HELLO:
		if (atls_ext_parse_ch(in, inlen, &off))
			return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, 0,
				       "malformed ClientHello attestation extension");
		c->ch_seen = true;
		/* Batched quotes (batch.h) when both sides have them, else per handshake. */
		c->self_batch = c->ctx->batcher && off.server_batch;
		c->peer_batch = c->ctx->batch_cache && off.client_batch;
		c->peer_asks_us = off.server_tpm || c->self_batch;
		c->peer_asks_us_other = off.n_server > 0 && !c->peer_asks_us;
		c->peer_offers = off.client_tpm || c->peer_batch;
		/* The caller's bound on quotes of their own (atls.h). */
		if (c->batch_only && c->ctx->batcher && c->peer_asks_us && !c->self_batch)
			return fail_al(c, al, ATLS_REASON_EVIDENCE_TYPE_REJECTED,
				       ATLS_ALERT_HANDSHAKE_FAILURE,
				       "client asks for our evidence without offering batched "
				       "quotes; only batched evidence is served to it now");
		if (cfg->peer_attest == ATLS_PEER_REQUIRED && !c->peer_offers)
			return fail_al(c, al, ATLS_REASON_EVIDENCE_MISSING, 0,
				       "client attestation required; client offers no scheme of ours");
		return 1;
	case SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS:
		return parse_chosen(c, in, inlen, al, true);
	case SSL_EXT_TLS1_3_CERTIFICATE_REQUEST:
		return parse_chosen(c, in, inlen, al, false);
	case SSL_EXT_TLS1_3_CERTIFICATE:
		return parse_cert_evidence(c, in, inlen, x, chainidx, al);
	default:
		return 1;
	}
}

/* Server: a ClientHello without the extension at all. */
static int client_hello_cb(SSL *s, int *al, void *arg)
{
	struct atls_conn *c = atls_conn_of(s);
	const unsigned char *p;
	size_t len;

	(void)arg;
	if (!c)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (c->ctx->cfg.peer_attest == ATLS_PEER_REQUIRED &&
	    !SSL_client_hello_get0_ext(s, ATLS_EXT_TYPE, &p, &len)) {
		atls_fail(c, 0, ATLS_REASON_EVIDENCE_MISSING, ATLS_ALERT_MISSING_EXTENSION,
			  "client attestation required; ClientHello has no attestation extension");
		*al = ATLS_ALERT_MISSING_EXTENSION;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (c->ctx->cfg.binding == ATLS_BINDING_EXPORTER &&
	    !SSL_client_hello_get0_ext(s, ATLS_EXT_BINDING, &p, &len)) {
		atls_fail(c, 0, ATLS_REASON_BINDING_UNSUPPORTED, ATLS_ALERT_MISSING_EXTENSION,
			  "exporter binding required; ClientHello does not ask for it");
		*al = ATLS_ALERT_MISSING_EXTENSION;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* The peer's Certificate lacks the evidence we need: the chain fails. */
static int evidence_missing(struct atls_conn *c, X509_STORE_CTX *xs, const char *why)
{
	atls_fail(c, 0, ATLS_REASON_EVIDENCE_MISSING, ATLS_ALERT_HANDSHAKE_FAILURE, "%s", why);
	X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/*
 * Replaces OpenSSL's chain verification (called once, after every entry of
 * the peer's Certificate was parsed).  Chain: verified against ca_file if one
 * is configured (with the expected peer name, if any: handshake.c), otherwise
 * the peer's key is vouched for by its evidence (or
 * by nothing, if attestation is optional and absent: the caller sees
 * have_peer_cert + verdict none).
 */
static int cert_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	SSL *s = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct atls_conn *c = s ? atls_conn_of(s) : NULL;
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	unsigned int mdlen;

	(void)arg;
	if (!c)
		return 0;
	if (c->reason != ATLS_REASON_NONE)
		return 0;
	if (leaf && X509_digest(leaf, EVP_sha256(), c->res->peer_cert_sha256, &mdlen))
		c->res->have_peer_cert = true;
	if (c->ctx->cfg.ca_file && X509_verify_cert(xs) <= 0) {
		int e = X509_STORE_CTX_get_error(xs);

		/* The expected peer name (SSL_set1_host in handshake.c) did not match. */
		if (e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH)
			atls_fail(c, 0, ATLS_REASON_PEER_NAME_MISMATCH, ATLS_ALERT_BAD_CERTIFICATE,
				  "peer certificate does not match the expected name \"%.100s\"",
				  c->peer_name ? c->peer_name : "?");
		else
			atls_fail(c, 0, ATLS_REASON_HANDSHAKE, ATLS_ALERT_BAD_CERTIFICATE,
				  "peer certificate does not verify: %s",
				  X509_verify_cert_error_string(e));
		return 0;
	}
	/* The client asked for the exporter binding: the server must have chosen it. */
	if (c->ctx->cfg.role == ATLS_ROLE_CLIENT &&
	    c->ctx->cfg.binding == ATLS_BINDING_EXPORTER && !c->expat) {
		atls_fail(c, 0, ATLS_REASON_BINDING_UNSUPPORTED, ATLS_ALERT_HANDSHAKE_FAILURE,
			  "exporter binding required; the server did not choose it");
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	/* Exporter-bound mode: evidence comes after the handshake (expat.c). */
	if (c->expat) {
		X509_STORE_CTX_set_error(xs, X509_V_OK);
		return 1;
	}
	if (c->peer_chosen && !c->peer_evidence_seen)
		return evidence_missing(c, xs, "peer negotiated attestation but its Certificate "
					       "carries no evidence");
	if (c->ctx->cfg.peer_attest == ATLS_PEER_REQUIRED && !c->peer_evidence_seen)
		return evidence_missing(c, xs, "peer attestation required but the peer declined");
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	return 1;
}

/*
 * The atls_binding extension (wire.h): the client asks for the exporter
 * binding in its ClientHello when configured so; a server (whatever its own
 * setting) chooses it in EncryptedExtensions when asked.  OpenSSL rejects
 * the extension in EE when the client did not send it (unsupported_
 * extension) before our parse callback runs.  Absence is checked in
 * client_hello_cb (server) and cert_verify_cb (client).
 */
static int binding_add(SSL *s, unsigned int ext_type, unsigned int context,
		       const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
		       int *al, void *arg)
{
	struct atls_conn *c = atls_conn_of(s);
	uint8_t *buf;
	size_t len;
	int ret;

	(void)ext_type;
	(void)x;
	(void)chainidx;
	(void)arg;
	if (!c)
		return 0;
	if (context == SSL_EXT_CLIENT_HELLO) {
		if (c->ctx->cfg.binding != ATLS_BINDING_EXPORTER)
			return 0;
		ret = atls_ext_build_binding_ch(&buf, &len);
	} else if (context == SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) {
		if (!c->expat)
			return 0;
		ret = atls_ext_build_binding_ee(&buf, &len);
	} else {
		return 0;
	}
	if (ret)
		return fail_al(c, al, ATLS_REASON_INTERNAL, 0, "out of memory");
	*out = buf;
	*outlen = len;
	return 1;
}

static int binding_parse(SSL *s, unsigned int ext_type, unsigned int context,
			 const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
			 void *arg)
{
	struct atls_conn *c = atls_conn_of(s);
	bool exporter;
	int mode;

	(void)ext_type;
	(void)x;
	(void)chainidx;
	(void)arg;
	if (!c)
		return fail_al(NULL, al, ATLS_REASON_INTERNAL, ATLS_ALERT_INTERNAL_ERROR, "no state");
	if (context == SSL_EXT_CLIENT_HELLO) {
		if (atls_ext_parse_binding_ch(in, inlen, &exporter))
			return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, 0,
				       "malformed ClientHello binding extension");
		c->expat = exporter;
		if (!exporter && c->ctx->cfg.binding == ATLS_BINDING_EXPORTER)
			return fail_al(c, al, ATLS_REASON_BINDING_UNSUPPORTED,
				       ATLS_ALERT_HANDSHAKE_FAILURE,
				       "exporter binding required; ClientHello does not ask for it");
		return 1;
	}
	if (context == SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) {
		mode = atls_ext_parse_binding_ee(in, inlen);
		if (mode < 0)
			return fail_al(c, al, ATLS_REASON_MALFORMED_EVIDENCE, 0,
				       "malformed EncryptedExtensions binding extension");
		if (mode != ATLS_BINDING_MODE_EXPORTER ||
		    c->ctx->cfg.binding != ATLS_BINDING_EXPORTER)
			return fail_al(c, al, ATLS_REASON_BINDING_UNSUPPORTED,
				       ATLS_ALERT_ILLEGAL_PARAMETER,
				       "server chose a binding mode we did not ask for");
		c->expat = true;
		return 1;
	}
	return 1;
}

int atls_negotiate_register(SSL_CTX *sctx, const struct atls_config *cfg)
{
	int mode;

	if (SSL_extension_supported(ATLS_EXT_TYPE) || SSL_extension_supported(ATLS_EXT_BINDING))
		return -EEXIST;	/* OpenSSL handles this codepoint itself */
	if (SSL_CTX_add_custom_ext(sctx, ATLS_EXT_TYPE, EXT_CONTEXTS, ext_add, ext_free, NULL,
				   ext_parse, NULL) != 1)
		return -EINVAL;
	if (SSL_CTX_add_custom_ext(sctx, ATLS_EXT_BINDING,
				   SSL_EXT_TLS_ONLY | SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
					   SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS,
				   binding_add, ext_free, NULL, binding_parse, NULL) != 1)
		return -EINVAL;
	SSL_CTX_set_cert_verify_callback(sctx, cert_verify_cb, NULL);
	if (cfg->role == ATLS_ROLE_SERVER) {
		SSL_CTX_set_client_hello_cb(sctx, client_hello_cb, NULL);
		mode = SSL_VERIFY_NONE;
		if (cfg->peer_attest != ATLS_PEER_NONE || cfg->ca_file)
			mode = SSL_VERIFY_PEER;
		if (cfg->peer_attest == ATLS_PEER_REQUIRED || cfg->ca_file)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	} else {
		/* The client always runs cert_verify_cb; it decides. */
		mode = SSL_VERIFY_PEER;
	}
	SSL_CTX_set_verify(sctx, mode, NULL);
	return 0;
}

int atls_negotiate_finish(struct atls_conn *c)
{
	const struct atls_config *cfg = &c->ctx->cfg;

	/* Backstop of the checks in the callbacks: never hand out keys without it. */
	if (cfg->binding == ATLS_BINDING_EXPORTER && !c->expat) {
		atls_fail(c, 0, ATLS_REASON_BINDING_UNSUPPORTED, 0,
			  "exporter binding required; the peer did not agree to it");
		return c->err;
	}

	if (cfg->peer_attest == ATLS_PEER_REQUIRED && !c->peer_evidence_seen) {
		atls_fail(c, 0, ATLS_REASON_EVIDENCE_MISSING, 0,
			  "peer attestation required but the peer declined");
		return c->err;
	}
	/* E.g. a client that offered, was asked (CR) and sent no certificate. */
	if (c->peer_chosen && !c->peer_evidence_seen) {
		atls_fail(c, 0, ATLS_REASON_EVIDENCE_MISSING, 0,
			  "peer negotiated attestation but sent no evidence");
		return c->err;
	}
	if (!c->peer_evidence_seen) {
		c->res->appraisal.status = ATLS_EAR_NONE;
		c->res->appraisal.reason = ATLS_REASON_NO_EVIDENCE;
		snprintf(c->res->appraisal.text, sizeof(c->res->appraisal.text), "%s",
			 cfg->peer_attest == ATLS_PEER_NONE ? "peer not asked to attest"
							    : "peer declined to attest");
	}
	return 0;
}
