// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the RFC 9261 Exported Authenticator codec
 * (exported_auth.c).  The first input byte chooses what the rest is:
 *  - even: an authenticator request, parsed;
 *  - odd: an authenticator, parsed and then fully verified against a fixed
 *    request with fixed keys (context, extension subset, certificate DER,
 *    scheme, signature, Finished), so inputs derived from the valid seed
 *    reach the cryptographic checks.
 * Whatever a parser accepts must describe the input exactly (the messages'
 * lengths add up to the input, every pointer lies inside it); a verify that
 * succeeds must be on an authenticator the parser accepted.
 *
 * Seeds: with ATLS_FUZZ_SEED_DIR set, LLVMFuzzerInitialize() writes a valid
 * request and a valid authenticator for it (made with this run's key, so
 * the authenticator verifies in this run only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../src/exported_auth.h"
#include "fuzz.h"

static struct atls_ea_keys keys;
static uint8_t *req;
static size_t req_len;

static X509 *self_signed(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (!x || !n || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
						    (const unsigned char *)"fuzz", -1, -1, 0) ||
	    !X509_set_version(x, 2) || !X509_set_subject_name(x, n) ||
	    !X509_set_issuer_name(x, n) || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || !X509_set_pubkey(x, key) ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		x = NULL;
	}
	X509_NAME_free(n);
	return x;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint16_t sa[] = { 0x0403, 0x0807 };
	static const uint8_t cmw[] = { 0x82, 0x61, 'x', 0x41, 0 };
	const char *dir = getenv("ATLS_FUZZ_SEED_DIR");
	uint8_t ctx[32], *auth;
	size_t alen;
	EVP_PKEY *key;
	X509 *cert;

	(void)argc;
	(void)argv;
	keys.md = EVP_sha256();
	keys.len = 32;
	memset(keys.hs_context, 0x11, sizeof(keys.hs_context));
	memset(keys.finished_key, 0x22, sizeof(keys.finished_key));
	memset(ctx, 0x33, sizeof(ctx));
	if (atls_ea_request_build(ATLS_EA_HS_CLIENT_CERTIFICATE_REQUEST, ctx, sizeof(ctx), sa, 2,
				  true, &req, &req_len))
		abort();
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cert = key ? self_signed(key) : NULL;
	if (!cert)
		abort();
	if (dir) {
		tl_fuzz_seed(dir, "seed-request", 0, req, req_len);
		if (!atls_ea_authenticator_build(&keys, req, req_len, &cert, 1, key, cmw,
						 sizeof(cmw), &auth, &alen)) {
			tl_fuzz_seed(dir, "seed-authenticator", 1, auth, alen);
			free(auth);
		}
		if (!atls_ea_empty_authenticator_build(&keys, req, req_len, &auth, &alen)) {
			tl_fuzz_seed(dir, "seed-empty", 1, auth, alen);
			free(auth);
		}
	}
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

static bool inside(const uint8_t *p, size_t n, const uint8_t *b, size_t len)
{
	return !n || (p >= b && p + n <= b + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atls_ea_authenticator a, v;
	struct atls_ea_request rq;
	const uint8_t *b = data + 1;
	size_t n = size - 1, i, total;
	uint8_t alert;
	X509 *leaf = NULL;
	int pe, ve;

	if (!size)
		return 0;
	if (!(data[0] & 1)) {
		if (atls_ea_request_parse(b, n, &rq, &alert))
			return 0;
		if (!inside(rq.context, rq.context_len, b, n) ||
		    !inside(rq.sigalgs, 2 * rq.n_sigalgs, b, n) || !rq.n_sigalgs || alert)
			abort();
		return 0;
	}
	pe = atls_ea_authenticator_parse(b, n, &a, &alert);
	if (!pe) {
		total = a.empty ? 4 + a.finished_len :
				  a.certificate_msg_len + a.certificate_verify_msg_len + 4 +
					  a.finished_len;
		if (total != n || !inside(a.finished, a.finished_len, b, n) ||
		    !inside(a.cmw, a.cmw_len, b, n) || !inside(a.context, a.context_len, b, n) ||
		    a.n_certs > ATLS_EA_MAX_CERTS || (!a.empty && !a.n_certs))
			abort();
		for (i = 0; i < a.n_certs; i++)
			if (!a.cert_len[i] || !inside(a.cert[i], a.cert_len[i], b, n))
				abort();
	}
	ve = atls_ea_authenticator_verify(&keys, req, req_len, b, n, &v, &leaf, &alert);
	if ((ve == 0 || ve == -EACCES) && pe)
		abort();
	if (ve == 0 && (!leaf || alert))
		abort();
	X509_free(leaf);
	return 0;
}
