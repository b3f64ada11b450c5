/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 9261 Exported Authenticators carrying attestation evidence in the
 * cmw_attestation extension of draft-fossati-seat-expat (codec; the
 * exchange that uses it after the handshake is expat.c).
 *
 * Messages (each a TLS handshake message: u8 type, u24 length, body; no
 * record framing, not encrypted by this layer):
 *
 *   authenticator request   CertificateRequest (13, sent by the server) or
 *                           ClientCertificateRequest (17, sent by the client):
 *       opaque certificate_request_context<0..2^8-1>;
 *       Extension extensions<2..2^16-1>;   signature_algorithms required,
 *                                          an empty cmw_attestation asks
 *                                          for evidence
 *   authenticator           Certificate (11) || CertificateVerify (15) ||
 *                           Finished (20); an empty authenticator (refusal)
 *                           is Finished alone
 *       Certificate:       the request's context, certificate_list<0..2^24-1>
 *                          of { cert_data<1..2^24-1>, extensions<0..2^16-1> };
 *                          cmw_attestation only in entry 0:
 *                          struct { opaque cmw_data<1..2^16-1>; }
 *       CertificateVerify: u16 scheme, opaque signature<0..2^16-1>, over
 *                          0x20 x 64 || "Exported Authenticator" || 0x00 ||
 *                          Hash(Handshake Context || request || Certificate)
 *       Finished:          HMAC(Finished MAC Key, Hash(Handshake Context ||
 *                          request || Certificate || CertificateVerify));
 *                          empty authenticator: HMAC over Hash(Handshake
 *                          Context || request || Certificate with no entry)
 *
 * Keys (RFC 9261 §5.1, TLS 1.3 exporter of RFC 8446 §7.5, empty context,
 * length = the suite's hash length), named after the *sender* of the
 * authenticator:
 *   Handshake Context  "EXPORTER-client|server authenticator handshake context"
 *   Finished MAC Key   "EXPORTER-client|server authenticator finished key"
 *
 * Attestation binder (draft-fossati-seat-expat, "Attestation Binder"), the
 * evidence's qualifying data before the TPM size rule of evidence.rst:
 *   Hash(SPKI || TLS-Exporter("Attestation", certificate_request_context, 32))
 * with SPKI the DER SubjectPublicKeyInfo of the authenticator's end-entity
 * certificate (the draft says "public key" without an encoding).
 *
 * Parsing is strict: every length must be backed by the bytes that follow
 * and consumed exactly, nothing may trail, no extension type twice in a
 * block.  Parsers never allocate and point into the caller's buffer;
 * builders return malloc'ed buffers (free()).  Errors are -errno:
 * -EBADMSG (malformed), -EKEYREJECTED (well formed but not valid for this
 * request or connection), -EACCES (a valid empty authenticator: the peer
 * declined), -EINVAL/-ENOMEM/-EPROTO (caller, allocation, connection state),
 * -EOPNOTSUPP (no signature scheme both sides support).  Where a TLS alert
 * applies (RFC 8446 §6.2, RFC 9261, the expat draft) it is stored in *alert.
 */
#ifndef ATLS_EXPORTED_AUTH_H
#define ATLS_EXPORTED_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atls/wire.h>

/* Handshake message types (RFC 8446 §4, RFC 9261 §8). */
#define ATLS_EA_HS_CERTIFICATE 11
#define ATLS_EA_HS_CERTIFICATE_REQUEST 13
#define ATLS_EA_HS_CERTIFICATE_VERIFY 15
#define ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST 17
#define ATLS_EA_HS_FINISHED 20

/* Extension types. */
#define ATLS_EA_EXT_SIGNATURE_ALGORITHMS 13
/* cmw_attestation: private use, in wire.h with the other codepoints. */
#define ATLS_EA_EXT_CMW_ATTESTATION ATLS_EXT_CMW_ATTESTATION

/* TLS alerts used here that wire.h does not name. */
#define ATLS_EA_ALERT_DECRYPT_ERROR 51
#define ATLS_EA_ALERT_UNSUPPORTED_EXTENSION 110

#define ATLS_EA_MAX_EXT 32		/* extensions in one block */
#define ATLS_EA_MAX_CERTS 10		/* entries of a certificate_list */
#define ATLS_EA_MAX_SIGALGS 64		/* schemes in signature_algorithms */
#define ATLS_EA_MAX_LEN (256 * 1024)	/* whole request or authenticator */
#define ATLS_EA_MAX_HASH 64
#define ATLS_EA_BINDER_EXPORT_LEN 32

/* Exporter-derived keys for authenticators of one sender on one connection. */
struct atls_ea_keys {
	const EVP_MD *md;			/* the suite's hash (authenticator hash) */
	size_t len;				/* its output length */
	uint8_t hs_context[ATLS_EA_MAX_HASH];	/* Handshake Context */
	uint8_t finished_key[ATLS_EA_MAX_HASH];	/* Finished MAC Key (secret) */
};

/*
 * Derive the keys of authenticators sent by the client (sender_is_server
 * false) or the server, from an established TLS 1.3 connection (the same
 * values on both ends).  -EPROTO if ssl is not a finished TLS 1.3 handshake.
 */
int atls_ea_keys_derive(SSL *ssl, bool sender_is_server, struct atls_ea_keys *k);
/* Wipe k (the Finished MAC Key is secret). */
void atls_ea_keys_wipe(struct atls_ea_keys *k);

/* A parsed authenticator request; pointers into the parsed buffer. */
struct atls_ea_request {
	uint8_t type;				/* 13 or 17 */
	const uint8_t *context;
	size_t context_len;
	const uint8_t *sigalgs;			/* u16 scheme list, big-endian */
	size_t n_sigalgs;
	bool cmw_requested;			/* an (empty) cmw_attestation is present */
	uint16_t ext_types[ATLS_EA_MAX_EXT];	/* every extension type present */
	size_t n_ext;
};

/*
 * Build a request: type 13 or 17, context 0..255 bytes (unique per connection
 * and unpredictable: use 32 random bytes), 1..ATLS_EA_MAX_SIGALGS schemes,
 * want_cmw adds the empty cmw_attestation extension.
 */
int atls_ea_request_build(uint8_t type, const uint8_t *context, size_t context_len,
			  const uint16_t *sigalgs, size_t n_sigalgs, bool want_cmw, uint8_t **out,
			  size_t *out_len);
/* Parse a request (whole buffer).  -EBADMSG with *alert set when malformed. */
int atls_ea_request_parse(const uint8_t *buf, size_t len, struct atls_ea_request *req,
			  uint8_t *alert);

/* A parsed authenticator; pointers into the parsed buffer. */
struct atls_ea_authenticator {
	bool empty;				/* Finished only: the peer declined */
	const uint8_t *context;			/* from Certificate (not for empty) */
	size_t context_len;
	size_t n_certs;
	const uint8_t *cert[ATLS_EA_MAX_CERTS];	/* DER of each entry, entry 0 first */
	size_t cert_len[ATLS_EA_MAX_CERTS];
	const uint8_t *cmw;			/* cmw_data of entry 0, or NULL */
	size_t cmw_len;
	uint16_t ext_types[ATLS_EA_MAX_EXT];	/* every extension type in any entry */
	size_t n_ext;
	uint16_t scheme;			/* CertificateVerify algorithm */
	const uint8_t *signature;
	size_t signature_len;
	const uint8_t *finished;		/* Finished body */
	size_t finished_len;
	size_t certificate_msg_len;		/* Certificate message (header included) */
	size_t certificate_verify_msg_len;	/* follows it in the buffer */
};

/* Parse the framing of an authenticator (no cryptography).  -EBADMSG, *alert. */
int atls_ea_authenticator_parse(const uint8_t *buf, size_t len,
				struct atls_ea_authenticator *a, uint8_t *alert);

/*
 * Build the authenticator answering request req (a request this side
 * received): chain[0] is the end-entity certificate (key's certificate),
 * further entries are sent as given; key signs CertificateVerify with the
 * first scheme of the request that fits it; cmw (1..65533 bytes) goes into
 * entry 0 and is allowed only if the request asked for it.  k: the keys of
 * this side as sender.
 */
int atls_ea_authenticator_build(const struct atls_ea_keys *k, const uint8_t *req, size_t req_len,
				X509 *const *chain, size_t n_chain, EVP_PKEY *key,
				const uint8_t *cmw, size_t cmw_len, uint8_t **out, size_t *out_len);
/* Build an empty authenticator (refusal) for request req. */
int atls_ea_empty_authenticator_build(const struct atls_ea_keys *k, const uint8_t *req,
				      size_t req_len, uint8_t **out, size_t *out_len);

/*
 * Validate authenticator auth against the request req this side sent, with
 * the keys of the peer as sender: framing, the echoed context, extensions a
 * subset of the request's, every certificate DER-decodes, the scheme was
 * offered and fits the end-entity key, the signature and the Finished MAC
 * (constant time).  On success returns 0, fills *a and, if leaf is not NULL,
 * returns the end-entity certificate in *leaf (caller frees; its chain and
 * name are for the caller to check, as for a handshake certificate).  A
 * valid empty authenticator returns -EACCES with a->empty set.
 */
int atls_ea_authenticator_verify(const struct atls_ea_keys *k, const uint8_t *req, size_t req_len,
				 const uint8_t *auth, size_t auth_len,
				 struct atls_ea_authenticator *a, X509 **leaf, uint8_t *alert);

/*
 * The expat attestation binder of an authenticator for request context
 * ctx and end-entity SPKI (DER): out gets the suite hash length (32 or 48)
 * bytes.  Same value on both ends of the connection.
 */
int atls_ea_binder(SSL *ssl, const uint8_t *ctx, size_t ctx_len, const uint8_t *spki,
		   size_t spki_len, uint8_t *out, size_t *out_len);

#endif /* ATLS_EXPORTED_AUTH_H */
