// SPDX-License-Identifier: GPL-2.0
/*
 * The VM's TPM (swtpm behind /dev/tpmrm0) quotes through tpm2-tss, and the
 * quote verifies with tpm2_checkquote, an implementation that is not ours.
 *
 * An ECC P-256 restricted signing key (an attestation key) is created under
 * the owner hierarchy, TPM2_Quote signs sha256 PCRs 0,1,2,16 with random
 * qualifying data, and the attest structure, signature and public key are
 * written in the formats tpm2-tools reads. Negative checks: a different
 * nonce and a tampered attest structure must both be refused.
 */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#include "kselftest_harness.h"

static const char *tcti_conf(void)
{
	const char *t = getenv("ATLS_TCTI");

	return t && *t ? t : "device:/dev/tpmrm0";
}

static int write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* The TPM's ECC public point as a PEM SubjectPublicKeyInfo. */
static int write_pub_pem(const char *path, const TPM2B_PUBLIC *pub)
{
	const TPMS_ECC_POINT *p = &pub->publicArea.unique.ecc;
	unsigned char pt[65];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *kctx = NULL;
	EVP_PKEY *pkey = NULL;
	FILE *f = NULL;
	int ret = -1;

	if (p->x.size != 32 || p->y.size != 32)
		return -1;
	pt[0] = 0x04;
	memcpy(pt + 1, p->x.buffer, 32);
	memcpy(pt + 33, p->y.buffer, 32);
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !kctx || EVP_PKEY_fromdata_init(kctx) <= 0 ||
	    EVP_PKEY_fromdata(kctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	f = fopen(path, "w");
	if (f && PEM_write_PUBKEY(f, pkey))
		ret = 0;
out:
	if (f)
		fclose(f);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ret;
}

static int checkquote(const char *dir, const char *msg, const unsigned char *nonce, size_t n)
{
	char cmd[1024], hex[2 * 64 + 1];
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", nonce[i]);
	snprintf(cmd, sizeof(cmd),
		 "tpm2_checkquote -u %s/ak.pem -m %s/%s -s %s/quote.sig -g sha256 -q %s >%s/checkquote.log 2>&1",
		 dir, dir, msg, dir, hex, dir);
	return system(cmd);
}

FIXTURE(quote) {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR ak;
	TPM2B_PUBLIC *ak_pub;
	char dir[256];
};

FIXTURE_SETUP(quote)
{
	TPM2B_SENSITIVE_CREATE in_sens = { 0 };
	TPM2B_PUBLIC tmpl = {
		.publicArea = {
			.type = TPM2_ALG_ECC,
			.nameAlg = TPM2_ALG_SHA256,
			.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
			.parameters.eccDetail = {
				.symmetric.algorithm = TPM2_ALG_NULL,
				.scheme = { .scheme = TPM2_ALG_ECDSA,
					    .details.ecdsa.hashAlg = TPM2_ALG_SHA256 },
				.curveID = TPM2_ECC_NIST_P256,
				.kdf.scheme = TPM2_ALG_NULL,
			},
		},
	};
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION none = { 0 };
	const char *tmp = getenv("TMPDIR");
	char path[300];
	TSS2_RC rc;

	snprintf(self->dir, sizeof(self->dir), "%s/atls-quote-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	rc = Tss2_TctiLdr_Initialize(tcti_conf(), &self->tcti);
	ASSERT_EQ(TSS2_RC_SUCCESS, rc) TH_LOG("TCTI %s: 0x%x", tcti_conf(), rc);
	rc = Esys_Initialize(&self->esys, self->tcti, NULL);
	ASSERT_EQ(TSS2_RC_SUCCESS, rc);
	rc = Esys_CreatePrimary(self->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, &in_sens, &tmpl, &outside,
				&none, &self->ak, &self->ak_pub, NULL, NULL, NULL);
	ASSERT_EQ(TSS2_RC_SUCCESS, rc) TH_LOG("CreatePrimary: 0x%x", rc);
	snprintf(path, sizeof(path), "%s/ak.pem", self->dir);
	ASSERT_EQ(0, write_pub_pem(path, self->ak_pub));
}

FIXTURE_TEARDOWN(quote)
{
	char cmd[300];

	if (self->esys) {
		Esys_FlushContext(self->esys, self->ak);
		Esys_Finalize(&self->esys);
	}
	Esys_Free(self->ak_pub);
	Tss2_TctiLdr_Finalize(&self->tcti);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* What both tests quote: the AK's own scheme, SHA-256 PCRs 0, 1, 2 and 16. */
static TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
static TPML_PCR_SELECTION sel = {
	.count = 1,
	.pcrSelections[0] = { .hash = TPM2_ALG_SHA256, .sizeofSelect = 3,
			      .pcrSelect = { 0x07, 0x00, 0x01 } },
};

TEST_F(quote, verifies_with_tpm2_checkquote)
{
	TPM2B_DATA nonce = { .size = 32 };
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TPMS_ATTEST attest;
	uint8_t sigbuf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0, sig_len = 0;
	char path[300];
	TSS2_RC rc;

	ASSERT_EQ(1, RAND_bytes(nonce.buffer, nonce.size));
	rc = Esys_Quote(self->esys, self->ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
			&nonce, &scheme, &sel, &quoted, &sig);
	ASSERT_EQ(TSS2_RC_SUCCESS, rc) TH_LOG("Quote: 0x%x", rc);

	/* Our own reading of the attest structure first. */
	ASSERT_EQ(TSS2_RC_SUCCESS, Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData,
								quoted->size, &off, &attest));
	EXPECT_EQ(TPM2_GENERATED_VALUE, attest.magic);
	EXPECT_EQ(TPM2_ST_ATTEST_QUOTE, attest.type);
	ASSERT_EQ(nonce.size, attest.extraData.size);
	EXPECT_EQ(0, memcmp(nonce.buffer, attest.extraData.buffer, nonce.size));
	EXPECT_EQ(32, attest.attested.quote.pcrDigest.size);
	EXPECT_EQ(TPM2_ALG_ECDSA, sig->sigAlg);

	ASSERT_EQ(TSS2_RC_SUCCESS, Tss2_MU_TPMT_SIGNATURE_Marshal(sig, sigbuf, sizeof(sigbuf), &sig_len));
	snprintf(path, sizeof(path), "%s/quote.msg", self->dir);
	ASSERT_EQ(0, write_file(path, quoted->attestationData, quoted->size));
	snprintf(path, sizeof(path), "%s/quote.sig", self->dir);
	ASSERT_EQ(0, write_file(path, sigbuf, sig_len));

	EXPECT_EQ(0, checkquote(self->dir, "quote.msg", nonce.buffer, nonce.size))
		TH_LOG("tpm2_checkquote refused our quote (see %s/checkquote.log)", self->dir);

	/* A different nonce must be refused: the quote is bound to this one. */
	nonce.buffer[0] ^= 1;
	EXPECT_NE(0, checkquote(self->dir, "quote.msg", nonce.buffer, nonce.size));
	nonce.buffer[0] ^= 1;

	/* A tampered attest structure must be refused. */
	quoted->attestationData[quoted->size - 1] ^= 0x80;
	snprintf(path, sizeof(path), "%s/bad.msg", self->dir);
	ASSERT_EQ(0, write_file(path, quoted->attestationData, quoted->size));
	EXPECT_NE(0, checkquote(self->dir, "bad.msg", nonce.buffer, nonce.size));

	Esys_Free(quoted);
	Esys_Free(sig);
}

TEST_F(quote, pcr_digest_matches_pcr_values)
{
	TPM2B_DATA nonce = { .size = 16 };
	TPML_PCR_SELECTION *sel_out = NULL;
	TPML_DIGEST *values = NULL;
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TPMS_ATTEST attest;
	unsigned char md[32];
	unsigned int mdlen = 0, i;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	UINT32 counter;
	size_t off = 0;

	ASSERT_NE(NULL, h);
	ASSERT_EQ(TSS2_RC_SUCCESS, Esys_PCR_Read(self->esys, ESYS_TR_NONE, ESYS_TR_NONE,
						 ESYS_TR_NONE, &sel, &counter, &sel_out, &values));
	ASSERT_EQ(4, values->count);
	ASSERT_EQ(TSS2_RC_SUCCESS, Esys_Quote(self->esys, self->ak, ESYS_TR_PASSWORD,
					      ESYS_TR_NONE, ESYS_TR_NONE, &nonce, &scheme,
					      &sel, &quoted, &sig));
	ASSERT_EQ(TSS2_RC_SUCCESS, Tss2_MU_TPMS_ATTEST_Unmarshal(quoted->attestationData,
								quoted->size, &off, &attest));
	EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	for (i = 0; i < values->count; i++)
		EVP_DigestUpdate(h, values->digests[i].buffer, values->digests[i].size);
	EVP_DigestFinal_ex(h, md, &mdlen);
	ASSERT_EQ(32, mdlen);
	/* PCRs do not change between the read and the quote here (nothing extends). */
	EXPECT_EQ(0, memcmp(md, attest.attested.quote.pcrDigest.buffer, 32));
	EVP_MD_CTX_free(h);
	Esys_Free(sel_out);
	Esys_Free(values);
	Esys_Free(quoted);
	Esys_Free(sig);
}

TEST_HARNESS_MAIN
