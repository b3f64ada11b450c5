/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: certificate and policy fixtures.
 */
#ifndef TL_CERTS_H
#define TL_CERTS_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct tl_side;

/*
 * Write an ECDSA P-256 key (keypath, PEM) and a certificate for it
 * (certpath, PEM) with subject CN=cn, issued by (ca_cert, ca_key) or
 * self-signed when they are NULL.  is_ca adds basicConstraints CA:TRUE.
 * If pub is given the certificate is issued for that public key instead
 * (keypath is then not written), e.g. a TPM-resident key.
 */
int tl_make_cert(const char *certpath, const char *keypath, const char *cn, bool is_ca,
		 const char *ca_cert, const char *ca_key, EVP_PKEY *pub);
/* The same in dir: dir/name.pem and dir/name.key, issued by dir/issuer.pem
 * and dir/issuer.key (or self-signed when issuer is NULL). */
int tl_make_cert_in(const char *dir, const char *name, const char *cn, bool is_ca,
		    const char *issuer);
/* SHA-256 of the DER SubjectPublicKeyInfo in a PEM public key file (an
 * AK's identity in the claims), of the DER certificate in a PEM file: 0 or -1. */
int tl_pubkey_sha256(const char *pem, uint8_t out[32]);
int tl_cert_sha256(const char *pem, uint8_t out[32]);
/* Concatenate PEM files into out (a chain file). */
int tl_cat(const char *out, const char *a, const char *b);
X509 *tl_load_cert(const char *path);
EVP_PKEY *tl_load_key(const char *path);

/* Write self->dir/policy.conf trusting peer's AK and PCR 0-7 (swtpm.h); require
 * is the libconfig list body, e.g. "\"server\"" or "".  self may be peer. */
int tl_side_policy(struct tl_side *self, const struct tl_side *peer, const char *require);

/* dir/policy.conf that no peer satisfies (it trusts only dir/ak.pem, a fresh
 * key in no TPM), so that a context may ask its peer for evidence. */
int tl_policy_unsatisfiable(const char *dir);

#endif /* TL_CERTS_H */
