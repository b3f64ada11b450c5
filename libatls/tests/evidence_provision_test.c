// SPDX-License-Identifier: Apache-2.0
/*
 * Provisioning against a real swtpm: AK and TLS key creation is idempotent
 * and never overwrites a foreign object, exported keys and certificates are
 * what they claim to be (a self-signed certificate of a TPM key is signed
 * inside the TPM and verifies with that key), software keys likewise, and
 * the TPM owner survives concurrent callers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <atls/provision.h>

#include "kselftest_harness.h"
#include "certs.h"
#include "swtpm.h"
#include "util.h"
#include "../src/evidence.h"
#include "../src/tpm_int.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT

FIXTURE(prov)
{
	struct tl_swtpm sw;
	struct atls_tpm *tpm;
	char *dir;
};

FIXTURE_SETUP(prov)
{
	self->dir = tl_tmpdir("prov");
	ASSERT_NE(NULL, self->dir);
	ASSERT_EQ(0, tl_swtpm_start(&self->sw));
	ASSERT_EQ(0, atls_tpm_open(self->sw.tcti, &self->tpm));
}

FIXTURE_TEARDOWN(prov)
{
	atls_tpm_close(self->tpm);
	tl_swtpm_stop(&self->sw);
	tl_rmtree(self->dir);
	free(self->dir);
}

static char *slurp(const char *path)
{
	char *b = calloc(1, 8192);
	FILE *f = fopen(path, "r");

	if (f && b)
		(void)!fread(b, 1, 8191, f);
	if (f)
		fclose(f);
	return b;
}

static EVP_PKEY *pem_pub(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (!f)
		return NULL;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

TEST_F(prov, keys_are_idempotent)
{
	const char *a = tl_path(self->dir, "ak1.pem");
	const char *b = tl_path(self->dir, "ak2.pem");
	char *x, *y;

	EXPECT_EQ(0, atls_provision_ak(self->tpm, AK));
	EXPECT_EQ(1, atls_provision_ak(self->tpm, AK));
	EXPECT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	EXPECT_EQ(1, atls_provision_tls_key(self->tpm, TK));
	EXPECT_EQ(0, atls_provision_export_pub(self->tpm, AK, a));
	/* Reopening the TPM (a new process would) finds the same keys. */
	atls_tpm_close(self->tpm);
	ASSERT_EQ(0, atls_tpm_open(self->sw.tcti, &self->tpm));
	EXPECT_EQ(1, atls_provision_ak(self->tpm, AK));
	EXPECT_EQ(0, atls_provision_export_pub(self->tpm, AK, b));
	x = slurp(a);
	y = slurp(b);
	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, y);
	EXPECT_NE(0, strlen(x));
	EXPECT_STREQ(x, y);
	free(x);
	free(y);
}

TEST_F(prov, foreign_object_is_not_overwritten)
{
	ASSERT_EQ(0, atls_provision_ak(self->tpm, AK));
	/* The AK's handle holds a restricted key: not a TLS key. */
	EXPECT_EQ(-EEXIST, atls_provision_tls_key(self->tpm, AK));
	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	EXPECT_EQ(-EEXIST, atls_provision_ak(self->tpm, TK));
	/* Not a persistent handle. */
	EXPECT_EQ(-EINVAL, atls_provision_ak(self->tpm, 0x80000001));
	EXPECT_EQ(-ENOENT, atls_provision_export_pub(self->tpm, 0x81010077,
						     tl_path(self->dir, "x.pem")));
}

TEST_F(prov, ak_and_tls_key_differ)
{
	EVP_PKEY *a, *t;

	ASSERT_EQ(0, atls_provision_ak(self->tpm, AK));
	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	ASSERT_EQ(0, atls_provision_export_pub(self->tpm, AK, tl_path(self->dir, "a.pem")));
	ASSERT_EQ(0, atls_provision_export_pub(self->tpm, TK, tl_path(self->dir, "t.pem")));
	a = pem_pub(tl_path(self->dir, "a.pem"));
	t = pem_pub(tl_path(self->dir, "t.pem"));
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, t);
	EXPECT_NE(1, EVP_PKEY_eq(a, t));
	EVP_PKEY_free(a);
	EVP_PKEY_free(t);
}

TEST_F(prov, tpm_cert_self_signed_in_tpm)
{
	struct atls_cert_params cp = { .common_name = "node-1", .days = 30 };
	const char *cert = tl_path(self->dir, "tls.pem");
	EVP_PKEY *k;
	X509 *x;

	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	ASSERT_EQ(0, atls_provision_export_pub(self->tpm, TK, tl_path(self->dir, "k.pem")));
	ASSERT_EQ(0, atls_provision_cert_tpm(self->tpm, TK, &cp, cert));
	x = tl_load_cert(cert);
	k = pem_pub(tl_path(self->dir, "k.pem"));
	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, k);
	EXPECT_EQ(1, EVP_PKEY_eq(k, X509_get0_pubkey(x)));
	EXPECT_EQ(1, X509_verify(x, k));
	EXPECT_EQ(0, X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)));
	EXPECT_EQ(NID_ecdsa_with_SHA256, X509_get_signature_nid(x));
	/* openssl(1) agrees. */
	EXPECT_EQ(0, tl_sh("openssl verify -CAfile %s %s >/dev/null 2>&1", cert, cert));
	X509_free(x);
	EVP_PKEY_free(k);
	/* No TLS key at that handle. */
	EXPECT_EQ(-ENOENT, atls_provision_cert_tpm(self->tpm, 0x81010077, &cp, cert));
	cp.common_name = NULL;
	EXPECT_EQ(-EINVAL, atls_provision_cert_tpm(self->tpm, TK, &cp, cert));
}

TEST_F(prov, tpm_cert_issued_by_ca)
{
	struct atls_cert_params cp = { .common_name = "node-2" };
	const char *cacert = tl_path(self->dir, "ca.pem");
	const char *cakey = tl_path(self->dir, "ca.key");
	const char *cert = tl_path(self->dir, "tls.pem");

	ASSERT_EQ(0, tl_make_cert(cacert, cakey, "test-ca", true, NULL, NULL, NULL));
	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	cp.ca_cert_file = cacert;
	cp.ca_key_file = cakey;
	ASSERT_EQ(0, atls_provision_cert_tpm(self->tpm, TK, &cp, cert));
	EXPECT_EQ(0, tl_sh("openssl verify -CAfile %s %s >/dev/null 2>&1", cacert, cert));
	/* Half a CA is a configuration error. */
	cp.ca_key_file = NULL;
	EXPECT_EQ(-EINVAL, atls_provision_cert_tpm(self->tpm, TK, &cp, cert));
}

TEST_F(prov, software_key_and_cert)
{
	struct atls_cert_params cp = { .common_name = "sw-node" };
	const char *key = tl_path(self->dir, "sw.key");
	const char *cert = tl_path(self->dir, "sw.pem");
	struct stat st;
	EVP_PKEY *k;
	X509 *x;

	EXPECT_EQ(0, atls_provision_sw_key(key));
	EXPECT_EQ(1, atls_provision_sw_key(key));
	ASSERT_EQ(0, stat(key, &st));
	EXPECT_EQ(0600, st.st_mode & 0777);
	ASSERT_EQ(0, atls_provision_cert_sw(key, &cp, cert));
	x = tl_load_cert(cert);
	k = tl_load_key(key);
	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, k);
	EXPECT_EQ(1, X509_check_private_key(x, k));
	EXPECT_EQ(1, X509_verify(x, k));
	X509_free(x);
	EVP_PKEY_free(k);
	/* A file that is not a key is never overwritten. */
	ASSERT_EQ(0, tl_sh("echo garbage > %s", tl_path(self->dir, "bad.key")));
	EXPECT_EQ(-EEXIST, atls_provision_sw_key(tl_path(self->dir, "bad.key")));
}

TEST_F(prov, open_failures)
{
	struct atls_tpm *t = NULL;

	EXPECT_NE(0, atls_tpm_open("", &t));
	EXPECT_EQ(NULL, t);
	EXPECT_NE(0, atls_tpm_open("nosuchtcti:foo", &t));
	EXPECT_EQ(NULL, t);
	EXPECT_NE(0, atls_tpm_open("swtpm:host=127.0.0.1,port=1", &t));
	EXPECT_EQ(NULL, t);
}

struct hammer {
	struct atls_tpm *tpm;
	int fails;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	uint8_t d[32] = { 1 }, sig[80];
	int i;

	for (i = 0; i < 40; i++) {
		size_t sl = sizeof(sig);

		if (atls_tpm_sign_digest(h->tpm, TK, d, 32, sig, &sl))
			__atomic_add_fetch(&h->fails, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Many threads share one TPM owner; the queue serialises them. */
TEST_F(prov, concurrent_callers)
{
	struct hammer h = { .tpm = self->tpm };
	pthread_t th[8];
	int i;

	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, hammer_fn, &h));
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(0, h.fails);
}

TEST_HARNESS_MAIN
