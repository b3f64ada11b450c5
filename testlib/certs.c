// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Certificate and policy fixtures: ECDSA P-256 keys and X.509 v3 certificates
 * made with the OpenSSL API (no openssl(1) invocations), and the policy file
 * trusting an attesting side.  See certs.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "swtpm.h"
#include "util.h"

X509 *tl_load_cert(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return x;
}

EVP_PKEY *tl_load_key(const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	BIO_free(b);
	return k;
}

/* out = SHA-256 of der (len n, freed here); 0 or -1 if n <= 0. */
static int sha256_der(unsigned char *der, int n, uint8_t out[32])
{
	if (n <= 0)
		return -1;
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
	return 0;
}

int tl_pubkey_sha256(const char *pem, uint8_t out[32])
{
	BIO *b = BIO_new_file(pem, "r");
	EVP_PKEY *k = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = k ? i2d_PUBKEY(k, &der) : -1;

	BIO_free(b);
	EVP_PKEY_free(k);
	return sha256_der(der, n, out);
}

int tl_cert_sha256(const char *pem, uint8_t out[32])
{
	X509 *x = tl_load_cert(pem);
	unsigned char *der = NULL;
	int n = x ? i2d_X509(x, &der) : -1;

	X509_free(x);
	return sha256_der(der, n, out);
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ex;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ex = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ex)
		return -EINVAL;
	ok = X509_add_ext(x, ex, -1);
	X509_EXTENSION_free(ex);
	return ok ? 0 : -ENOMEM;
}

int tl_make_cert(const char *certpath, const char *keypath, const char *cn, bool is_ca,
		 const char *ca_cert, const char *ca_key, EVP_PKEY *pub)
{
	EVP_PKEY *key = NULL, *ikey = NULL;
	X509 *x = NULL, *issuer = NULL;
	FILE *f = NULL;
	int ret = -EINVAL;
	static long serial = 1;

	if (pub) {
		key = pub;
		EVP_PKEY_up_ref(key);
	} else {
		key = EVP_EC_gen("P-256");
		if (!key)
			goto out;
	}
	if (ca_cert) {
		issuer = tl_load_cert(ca_cert);
		ikey = tl_load_key(ca_key);
		if (!issuer || !ikey)
			goto out;
	}
	x = X509_new();
	if (!x || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), __atomic_add_fetch(&serial, 1, 0) + getpid()) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 30) || !X509_set_pubkey(x, key))
		goto out;
	if (!X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
					    : X509_get_subject_name(x)))
		goto out;
	if (add_ext(x, issuer ? issuer : x, NID_basic_constraints,
		    is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash"))
		goto out;
	if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
		goto out;
	ret = -EIO;
	f = fopen(certpath, "w");
	if (!f || !PEM_write_X509(f, x))
		goto out;
	fclose(f);
	f = NULL;
	if (!pub) {
		f = fopen(keypath, "w");
		if (!f || !PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
			goto out;
	}
	ret = 0;
out:
	if (f)
		fclose(f);
	X509_free(x);
	X509_free(issuer);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(key);
	return ret;
}

int tl_make_cert_in(const char *dir, const char *name, const char *cn, bool is_ca,
		    const char *issuer)
{
	char cert[512], key[512], icert[512], ikey[512];

	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(icert, sizeof(icert), "%s/%s.pem", dir, issuer ?: "");
	snprintf(ikey, sizeof(ikey), "%s/%s.key", dir, issuer ?: "");
	return tl_make_cert(cert, key, cn, is_ca, issuer ? icert : NULL, issuer ? ikey : NULL,
			    NULL);
}

int tl_cat(const char *out, const char *a, const char *b)
{
	const char *in[2] = { a, b };
	char buf[4096];
	FILE *o = fopen(out, "w");
	size_t n;
	int i;

	if (!o)
		return -errno;
	for (i = 0; i < 2; i++) {
		FILE *f = fopen(in[i], "r");

		if (!f) {
			fclose(o);
			return -ENOENT;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, o);
		fclose(f);
	}
	return fclose(o) ? -EIO : 0;
}

int tl_side_policy(struct tl_side *self, const struct tl_side *peer,
		   const char *require)
{
	FILE *f = fopen(tl_path(self->dir, "policy.conf"), "w");

	if (!f)
		return -1;
	fprintf(f,
		"version = 1;\n"
		"trusted-aks = ( { name = \"peer-ak\"; pem-file = \"%s\"; } );\n"
		"pcrs = { bank = \"sha256\"; selection = [ 0, 1, 2, 3, 4, 5, 6, 7 ]; values = [ %s ]; };\n"
		"require = [ %s ];\n"
		"evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n",
		tl_path(peer->dir, "ak.pem"), peer->pcrs, require);
	return fclose(f);
}

int tl_policy_unsatisfiable(const char *dir)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	FILE *f = k ? fopen(tl_path(dir, "ak.pem"), "w") : NULL;
	int ok;

	ok = f && PEM_write_PUBKEY(f, k);
	EVP_PKEY_free(k);
	if (!f || fclose(f) || !ok)
		return -EIO;
	f = fopen(tl_path(dir, "policy.conf"), "w");
	if (!f)
		return -errno;
	fprintf(f, "version = 1;\ntrusted-aks = ( { name = \"x\"; pem-file = \"%s\"; } );\n"
		   "pcrs = { bank = \"sha256\"; selection = [ 0 ]; values = [ \"%064d\" ]; };\n"
		   "require = [ ];\nevidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n",
		tl_path(dir, "ak.pem"), 0);
	return fclose(f) ? -EIO : 0;
}
