// SPDX-License-Identifier: Apache-2.0
/*
 * Test identities: ECDSA P-256 keys and X.509 v3 certificates made with the
 * OpenSSL API (no openssl(1) invocations), plus temp-dir helpers.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"

char *atls_test_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/atls-%s.XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void atls_test_rmtree(const char *dir)
{
	if (dir && *dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *atls_test_path(const char *dir, const char *name)
{
	static __thread char bufs[8][512];
	static __thread unsigned int n;
	char *b = bufs[n++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

X509 *atls_test_load_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (!f)
		return NULL;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return x;
}

EVP_PKEY *atls_test_load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (!f)
		return NULL;
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
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

int atls_test_make_cert(const char *certpath, const char *keypath, const char *cn, bool is_ca,
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
		issuer = atls_test_load_cert(ca_cert);
		ikey = atls_test_load_key(ca_key);
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

int atls_test_cat(const char *out, const char *a, const char *b)
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
