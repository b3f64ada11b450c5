// SPDX-License-Identifier: Apache-2.0
/*
 * The exporter-bound attestation exchange (draft-fossati-seat-expat;
 * Documentation/protocol.rst, "Exporter-bound attestation"): after the TLS
 * 1.3 handshake and before the keys leave libatls, each side that asked for
 * its peer's evidence sends an RFC 9261 authenticator request, and each side
 * asked answers with an Exported Authenticator whose Certificate entry 0
 * carries the evidence in cmw_attestation.  The evidence's qualifying data
 * is the expat binder Hash(SPKI || TLS-Exporter("Attestation", request
 * context, 32)) (exported_auth.c), so it is bound to this connection's
 * exporter master secret, i.e. to the whole handshake up to the server's
 * Finished (binding level 3, security.rst).
 *
 * A step of its own: it needs only an established connection (c->ssl after
 * SSL_do_handshake()) and who attests to whom (c->self_chosen: we were
 * asked, c->peer_chosen: we asked; negotiated in the handshake exactly as
 * for the handshake binder, negotiate.c).  A later re-attestation of a
 * long-lived connection runs the same function on the same connection.
 *
 * Steps (both sides run them at once):
 *   1. peer_chosen: send our request (server: CertificateRequest 13,
 *      client: ClientCertificateRequest 17), context = 32 random bytes,
 *      signature_algorithms, an empty cmw_attestation;
 *   2. self_chosen: read the peer's request, make evidence for the binder
 *      of its context and our certificate (TPM, or a batched quote), send
 *      the authenticator (our handshake certificate and key);
 *   3. peer_chosen: read the authenticator, verify it (RFC 9261: context,
 *      CertificateVerify, Finished MAC), require its certificate to be the
 *      one of the handshake, appraise the evidence against our own binder.
 * The client runs 1, 2, 3; the server 1, reads the request of 2, then 3,
 * and answers (2) only once the client's evidence was affirmed: a server
 * that requires client attestation gives its own evidence to attested
 * clients only (security.rst).  Deadlock-free: the client writes all it
 * sends before it waits for the server's authenticator, the server's
 * request goes out before it waits, and the messages are a few KiB, far
 * below the socket buffers.
 *
 * Framing: each message in TLS handshake framing (u8 type, u24 length), in
 * application-data records; an authenticator is Certificate,
 * CertificateVerify, Finished (or Finished alone: declined).  Nothing may
 * follow the last message expected: handshake.c checks SSL_has_pending().
 * The records used here move the sequence numbers kTLS starts at; the
 * message callback of handshake.c counts them (c->tx_recs, c->rx_recs).
 *
 * After a failure of ours the caller (handshake.c) sends a fatal alert
 * record itself (OpenSSL 3.0 has no call to send one after the handshake;
 * keys.c, atls_keys_send_alert()), unless a write failed part-way; the
 * peer's read then fails with that alert (-EPROTO, peer aborted).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "internal.h"
#include "exported_auth.h"

#define EXPAT_CONTEXT_LEN 32

/* The schemes we accept for an authenticator's CertificateVerify. */
static const uint16_t expat_sigalgs[] = { 0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806,
					  0x0807 };

static int io_failed(struct atls_conn *c, int ssl_err, const char *what)
{
	unsigned long e = ERR_peek_error();
	char buf[160];

	if (c->reason != ATLS_REASON_NONE)	/* e.g. the message callback's */
		return c->err;
	if (c->alert_received) {
		c->abort_reason = ATLS_REASON_PEER_ABORTED;
		atls_fail(c, -EPROTO, ATLS_REASON_HANDSHAKE, 0,
			  "peer sent alert %u (%s) during the attestation exchange", c->alert_received,
			  SSL_alert_desc_string_long(c->alert_received));
		return c->err;
	}
	if (ssl_err == SSL_ERROR_ZERO_RETURN || (ssl_err == SSL_ERROR_SYSCALL && !e)) {
		c->abort_reason = ATLS_REASON_PEER_ABORTED;
		atls_fail(c, -ECONNRESET, ATLS_REASON_HANDSHAKE, 0,
			  "peer ended the connection during the attestation exchange (%s)", what);
		return c->err;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	atls_fail(c, -EPROTO, ATLS_REASON_HANDSHAKE, 0, "attestation exchange, %s: %s", what,
		  buf);
	return c->err;
}

/*
 * Write wp (read into rp, when wp is NULL) n bytes of application data
 * through OpenSSL, waiting for the socket within io's deadlines.  A write
 * that fails part-way may leave part of a record on the wire: tx_broken.
 */
static int xfer(struct atls_conn *c, struct atls_io *io, const uint8_t *wp, uint8_t *rp,
		size_t n)
{
	size_t off = 0, done;
	int ok, e;

	while (off < n) {
		ERR_clear_error();
		ok = wp ? SSL_write_ex(c->ssl, wp + off, n - off, &done) :
			  SSL_read_ex(c->ssl, rp + off, n - off, &done);
		if (ok == 1) {
			off += done;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			c->tx_broken |= wp != NULL;
			return io_failed(c, e, wp ? "write" : "read");
		}
		if (atls_io_wait(c, io, e)) {
			c->tx_broken |= wp != NULL;
			return c->err;
		}
	}
	/* A post-handshake message from the peer (message callback) fails it. */
	return c->reason != ATLS_REASON_NONE ? c->err : 0;
}

static int xwrite(struct atls_conn *c, struct atls_io *io, const uint8_t *p, size_t n)
{
	return xfer(c, io, p, NULL, n);
}

static int xread(struct atls_conn *c, struct atls_io *io, uint8_t *p, size_t n)
{
	return xfer(c, io, NULL, p, n);
}

static int bad_msg(struct atls_conn *c, const char *what)
{
	atls_fail(c, -EBADMSG, ATLS_REASON_MALFORMED_EVIDENCE, 0, "attestation exchange: %s", what);
	return c->err;
}

/* Append one handshake message to b; its type in *type. */
static int read_msg(struct atls_conn *c, struct atls_io *io, struct atls_buf *b, uint8_t *type)
{
	uint8_t h[4];
	size_t len;
	int ret;

	ret = xread(c, io, h, sizeof(h));
	if (ret)
		return ret;
	len = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	if (b->len + sizeof(h) + len > ATLS_EA_MAX_LEN)
		return bad_msg(c, "message too long");
	if (atls_buf_reserve(b, sizeof(h) + len)) {
		atls_fail(c, -ENOMEM, ATLS_REASON_INTERNAL, 0, "out of memory");
		return c->err;
	}
	memcpy(b->p + b->len, h, sizeof(h));
	ret = xread(c, io, b->p + b->len + sizeof(h), len);
	if (ret)
		return ret;
	b->len += sizeof(h) + len;
	*type = h[0];
	return 0;
}

/* An authenticator: Certificate, CertificateVerify, Finished, or Finished alone. */
static int read_authenticator(struct atls_conn *c, struct atls_io *io, struct atls_buf *b)
{
	static const uint8_t order[] = { ATLS_EA_HS_CERTIFICATE, ATLS_EA_HS_CERTIFICATE_VERIFY,
					 ATLS_EA_HS_FINISHED };
	uint8_t type;
	size_t i;
	int ret;

	for (i = 0; i < sizeof(order); i++) {
		ret = read_msg(c, io, b, &type);
		if (ret)
			return ret;
		if (type == ATLS_EA_HS_FINISHED && (i == 0 || i == 2))
			return 0;
		if (type != order[i])
			return bad_msg(c, "unexpected message in an authenticator");
	}
	return bad_msg(c, "authenticator without Finished");
}

/* DER SubjectPublicKeyInfo exactly as encoded in cert (OPENSSL_free it). */
static int cert_spki(X509 *cert, uint8_t **spki, size_t *len)
{
	int n;

	*spki = NULL;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), spki);
	if (n <= 0)
		return -EINVAL;
	*len = (size_t)n;
	return 0;
}

static int send_request(struct atls_conn *c, struct atls_io *io, uint8_t *context,
			uint8_t **req, size_t *req_len)
{
	uint8_t type = c->ctx->cfg.role == ATLS_ROLE_SERVER ? ATLS_EA_HS_CERTIFICATE_REQUEST
							     : ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST;

	if (RAND_bytes(context, EXPAT_CONTEXT_LEN) != 1 ||
	    atls_ea_request_build(type, context, EXPAT_CONTEXT_LEN, expat_sigalgs,
				  sizeof(expat_sigalgs) / sizeof(expat_sigalgs[0]), true, req,
				  req_len)) {
		atls_fail(c, -ENOMEM, ATLS_REASON_INTERNAL, 0, "cannot build the authenticator request");
		return c->err;
	}
	return xwrite(c, io, *req, *req_len);
}

/* Step 2a: the peer's request for our evidence, into rb. */
static int read_request(struct atls_conn *c, struct atls_io *io, struct atls_buf *rb)
{
	uint8_t want = c->ctx->cfg.role == ATLS_ROLE_SERVER ? ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST
							     : ATLS_EA_HS_CERTIFICATE_REQUEST;
	struct atls_ea_request rq;
	uint8_t type, alert = 0;
	int ret;

	ret = read_msg(c, io, rb, &type);
	if (ret)
		return ret;
	if (type != want)
		return bad_msg(c, "expected the peer's authenticator request");
	if (atls_ea_request_parse(rb->p, rb->len, &rq, &alert))
		return bad_msg(c, "malformed authenticator request");
	if (!rq.cmw_requested)
		return bad_msg(c, "authenticator request without cmw_attestation");
	return 0;
}

/* Step 2b: answer the peer's request rb (read_request()) with our evidence. */
static int answer_request(struct atls_conn *c, struct atls_io *io, const struct atls_buf *rb)
{
	bool server = c->ctx->cfg.role == ATLS_ROLE_SERVER;
	X509 *cert = SSL_get_certificate(c->ssl);
	EVP_PKEY *key = SSL_get_privatekey(c->ssl);
	struct atls_ea_request rq;
	struct atls_ea_keys k = { 0 };
	uint8_t *spki = NULL, *cmw = NULL, *auth = NULL;
	size_t spki_len, cmw_len = 0, auth_len, blen;
	int ret;

	if (atls_ea_request_parse(rb->p, rb->len, &rq, NULL))
		return bad_msg(c, "malformed authenticator request");
	if (!cert || !key || cert_spki(cert, &spki, &spki_len)) {
		atls_fail(c, -EINVAL, ATLS_REASON_INTERNAL, 0, "no own certificate or key");
		return c->err;
	}
	ret = atls_ea_binder(c->ssl, rq.context, rq.context_len, spki, spki_len,
			     c->ea_binder_self, &blen);
	if (ret) {
		atls_fail(c, ret, ATLS_REASON_INTERNAL, 0, "cannot derive the exporter binder");
		ret = c->err;
		goto out;
	}
	c->ea_binder_self_len = blen;
	atls_io_tpm_deadline(io, true);
	ret = atls_attest_produce(c, c->ea_binder_self, blen, &cmw, &cmw_len);
	if (!ret) {
		ret = atls_ea_keys_derive(c->ssl, server, &k);
		if (!ret)
			ret = atls_ea_authenticator_build(&k, rb->p, rb->len, &cert, 1, key, cmw,
							  cmw_len, &auth, &auth_len);
		if (ret)	/* atls_attest_produce() records its own failures */
			atls_fail(c, ret, ret == -ETIMEDOUT ? ATLS_REASON_TIMEOUT
							    : ATLS_REASON_INTERNAL, 0,
				  "cannot build the authenticator: %s", strerror(-ret));
	}
	atls_io_tpm_deadline(io, false);
	if (ret) {
		ret = c->err ? c->err : ret;
		goto out;
	}
	ret = xwrite(c, io, auth, auth_len);
	if (!ret) {
		c->res->self_attested = true;
		c->res->self_batched = c->self_batch;
	}
out:
	atls_ea_keys_wipe(&k);
	OPENSSL_free(spki);
	free(cmw);
	free(auth);
	return ret;
}

/* Step 3: the peer's authenticator for our request, and its evidence. */
static int check_authenticator(struct atls_conn *c, struct atls_io *io, const uint8_t *context,
			       const uint8_t *req, size_t req_len)
{
	bool peer_is_server = c->ctx->cfg.role == ATLS_ROLE_CLIENT;
	X509 *hs_cert = SSL_get0_peer_certificate(c->ssl), *leaf = NULL;
	struct atls_ea_authenticator a;
	struct atls_ea_keys k = { 0 };
	struct atls_buf ab = { 0 };
	uint8_t *spki = NULL, alert = 0;
	size_t spki_len, blen;
	int ret;

	ret = read_authenticator(c, io, &ab);
	if (ret)
		goto out;
	ret = atls_ea_keys_derive(c->ssl, peer_is_server, &k);
	if (ret) {
		atls_fail(c, ret, ATLS_REASON_INTERNAL, 0, "cannot derive the authenticator keys");
		goto out;
	}
	ret = atls_ea_authenticator_verify(&k, req, req_len, ab.p, ab.len, &a, &leaf, &alert);
	if (ret == -EACCES) {
		atls_fail(c, -EACCES, ATLS_REASON_EVIDENCE_MISSING, 0,
			  "peer negotiated attestation but declined in its authenticator");
		goto out;
	}
	if (ret == -EBADMSG) {
		ret = bad_msg(c, "malformed authenticator");
		goto out;
	}
	if (ret) {
		atls_fail(c, ret == -EKEYREJECTED ? ret : -EKEYREJECTED, ATLS_REASON_BAD_SIGNATURE, 0,
			  "authenticator does not verify for this request and connection");
		ret = c->err;
		goto out;
	}
	/* The identity the handshake checked (CA, name, CertificateVerify) is the one attested. */
	if (!hs_cert || !leaf || X509_cmp(hs_cert, leaf)) {
		atls_fail(c, -EKEYREJECTED, ATLS_REASON_KEY_BINDING_MISMATCH, 0,
			  "authenticator certificate is not the handshake certificate");
		ret = c->err;
		goto out;
	}
	if (!a.cmw) {
		atls_fail(c, -EACCES, ATLS_REASON_EVIDENCE_MISSING, 0,
			  "peer authenticator carries no evidence");
		ret = c->err;
		goto out;
	}
	if (cert_spki(leaf, &spki, &spki_len) ||
	    atls_ea_binder(c->ssl, context, EXPAT_CONTEXT_LEN, spki, spki_len, c->ea_binder_peer,
			   &blen)) {
		atls_fail(c, -EINVAL, ATLS_REASON_INTERNAL, 0, "cannot derive the exporter binder");
		ret = c->err;
		goto out;
	}
	c->ea_binder_peer_len = blen;
	ret = atls_attest_appraise(c, a.cmw, a.cmw_len, c->ea_binder_peer, blen, spki, spki_len);
	if (!ret)
		c->peer_evidence_seen = true;
out:
	atls_ea_keys_wipe(&k);
	X509_free(leaf);
	OPENSSL_free(spki);
	free(ab.p);
	return ret;
}

int atls_expat_exchange(struct atls_conn *c, struct atls_io *io)
{
	bool server = c->ctx->cfg.role == ATLS_ROLE_SERVER;
	uint8_t context[EXPAT_CONTEXT_LEN], *req = NULL;
	struct atls_buf rb = { 0 };
	size_t req_len = 0;
	int ret = 0;

	if (c->reason != ATLS_REASON_NONE)
		return c->err;
	if (c->peer_chosen)
		ret = send_request(c, io, context, &req, &req_len);
	if (!ret && c->self_chosen)
		ret = read_request(c, io, &rb);
	/* The server appraises the client before its own evidence leaves it. */
	if (!ret && server && c->peer_chosen)
		ret = check_authenticator(c, io, context, req, req_len);
	if (!ret && c->self_chosen)
		ret = answer_request(c, io, &rb);
	if (!ret && !server && c->peer_chosen)
		ret = check_authenticator(c, io, context, req, req_len);
	free(req);
	free(rb.p);
	if (ret && c->reason == ATLS_REASON_NONE)
		atls_fail(c, ret, ATLS_REASON_INTERNAL, 0, "attestation exchange failed");
	return ret ? c->err : 0;
}
