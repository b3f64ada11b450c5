// SPDX-License-Identifier: Apache-2.0
/*
 * Key mode tpm: the TLS identity key never leaves the TPM.  OpenSSL 3.0 gets
 * an EVP_PKEY holding only the public point of the certificate's key plus an
 * EC_KEY_METHOD whose sign operation hands the digest to the TPM owner
 * (atls_tpm_sign_digest(), serialised on the TPM thread) and returns the
 * DER ECDSA-Sig-Value it made.  OpenSSL 3.0 treats an EC_KEY with a
 * non-default method as a "foreign" legacy key and routes CertificateVerify
 * signing through it; nothing else (verify, key exchange) uses this key.
 *
 * Lifetime: the EC_KEY's ex_data points at the struct atls_ctx that owns
 * both the TPM handle and the EVP_PKEY (freed in atls_ctx_free()), so the
 * pointer is valid whenever OpenSSL signs.  The EC_KEY_METHOD is created
 * once per process and never freed.
 *
 * The EC_KEY_METHOD API is deprecated in OpenSSL 3.0 (a provider is the
 * future-proof replacement) but it is the only in-process way there that
 * needs no extra package.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"

#if __has_include("evidence.h") && __has_include(<atls/policy.h>)
#include "evidence.h"

static pthread_once_t meth_once = PTHREAD_ONCE_INIT;
static EC_KEY_METHOD *tpm_meth;
static int ctx_idx = -1;

static int tpm_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
		    unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey)
{
	struct atls_ctx *ctx = EC_KEY_get_ex_data(eckey, ctx_idx);
	size_t len = (size_t)ECDSA_size(eckey);

	(void)type;
	(void)kinv;
	(void)r;
	if (!ctx || !ctx->tpm || dlen <= 0)
		return 0;
	if (atls_tpm_sign_digest(ctx->tpm, ctx->cfg.tls_key_handle, dgst, (size_t)dlen, sig, &len))
		return 0;
	*siglen = (unsigned int)len;
	return 1;
}

static ECDSA_SIG *tpm_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
			       const BIGNUM *r, EC_KEY *eckey)
{
	unsigned char der[80];
	const unsigned char *p = der;
	unsigned int len = 0;

	if (ECDSA_size(eckey) > (int)sizeof(der) ||
	    !tpm_sign(0, dgst, dlen, der, &len, kinv, r, eckey))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, len);
}

static void meth_init(void)
{
	int (*vsig)(int, const unsigned char *, int, const unsigned char *, int, EC_KEY *);
	int (*vsig_sig)(const unsigned char *, int, const ECDSA_SIG *, EC_KEY *);
	EC_KEY_METHOD *m;

	ctx_idx = EC_KEY_get_ex_new_index(0, "atls_ctx", NULL, NULL, NULL);
	m = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
	if (!m || ctx_idx < 0)
		return;
	EC_KEY_METHOD_get_verify(EC_KEY_OpenSSL(), &vsig, &vsig_sig);
	EC_KEY_METHOD_set_sign(m, tpm_sign, NULL, tpm_sign_sig);
	EC_KEY_METHOD_set_verify(m, vsig, vsig_sig);
	tpm_meth = m;
}

int atls_tpmkey_load(struct atls_ctx *ctx, X509 *cert, EVP_PKEY **out)
{
	EVP_PKEY *pub = cert ? X509_get0_pubkey(cert) : NULL;
	const EC_KEY *src;
	EC_KEY *ec = NULL;
	EVP_PKEY *pk;

	pthread_once(&meth_once, meth_init);
	if (!tpm_meth)
		return -ENOMEM;
	if (!ctx->tpm)
		return -ENODEV;
	if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC)
		return -EKEYREJECTED;
	src = EVP_PKEY_get0_EC_KEY(pub);
	if (!src)
		return -EKEYREJECTED;
	ec = EC_KEY_new();
	if (!ec)
		return -ENOMEM;
	if (!EC_KEY_set_method(ec, tpm_meth) || !EC_KEY_set_group(ec, EC_KEY_get0_group(src)) ||
	    !EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(src)) ||
	    !EC_KEY_set_ex_data(ec, ctx_idx, ctx))
		goto err_ec;
	pk = EVP_PKEY_new();
	if (!pk)
		goto err_ec;
	if (!EVP_PKEY_assign_EC_KEY(pk, ec)) {
		EVP_PKEY_free(pk);
		goto err_ec;
	}
	*out = pk;
	return 0;

err_ec:
	EC_KEY_free(ec);
	return -ENOMEM;
}

#else /* no evidence half: no TPM */

int atls_tpmkey_load(struct atls_ctx *ctx, X509 *cert, EVP_PKEY **out)
{
	(void)ctx;
	(void)cert;
	(void)out;
	return -ENOSYS;
}

#endif
