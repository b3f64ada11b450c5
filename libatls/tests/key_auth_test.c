// SPDX-License-Identifier: Apache-2.0
/*
 * Only the holder of the key secret can use atls's TPM keys
 * (Documentation/evidence.rst, "Key authorization").
 *
 * The attacker is another process with access to the same TPM: it opens
 * its own TCTI/ESYS connection, as tpm2-tools or any tss2 program would,
 * and tries to quote with the AK, certify with it and sign with the TLS key
 * at their persistent handles, first with the empty password, then with a
 * wrong one.  The TPM must refuse each with TPM_RC_BAD_AUTH (the keys are
 * noDA, so it is BAD_AUTH and not AUTH_FAIL, and a flood of guesses cannot
 * lock the TPM out).  It also re-creates the AK from the template in our
 * source (a primary key is a function of the owner seed and the template,
 * and the owner hierarchy has no password on most hosts): the key it gets
 * must not be the AK.  Then the owner that holds the secret still quotes,
 * certifies and signs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <atls/provision.h>
#include <atls/tpm.h>

#include "kselftest_harness.h"
#include "swtpm.h"
#include "util.h"
#include "../src/evidence.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT

/* The attacker's own connection to the TPM. */
struct attacker {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
};

static int att_open(struct attacker *a, const char *tcti)
{
	memset(a, 0, sizeof(*a));
	if (Tss2_TctiLdr_Initialize(tcti, &a->tcti) != TSS2_RC_SUCCESS)
		return -1;
	if (Esys_Initialize(&a->esys, a->tcti, NULL) != TSS2_RC_SUCCESS) {
		Tss2_TctiLdr_Finalize(&a->tcti);
		return -1;
	}
	return 0;
}

static void att_close(struct attacker *a)
{
	if (a->esys)
		Esys_Finalize(&a->esys);
	if (a->tcti)
		Tss2_TctiLdr_Finalize(&a->tcti);
}

/* The response code without its parameter/handle/session number. */
static TSS2_RC base_rc(TSS2_RC rc)
{
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f) & 0xfff;
	return rc & 0xfff;
}

static TSS2_RC att_obj(struct attacker *a, uint32_t handle, const char *pw, ESYS_TR *tr)
{
	TPM2B_AUTH auth = { .size = (uint16_t)strlen(pw) };
	TSS2_RC rc;

	memcpy(auth.buffer, pw, auth.size);
	rc = Esys_TR_FromTPMPublic(a->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, tr);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_TR_SetAuth(a->esys, *tr, &auth);
	return rc;
}

static TSS2_RC att_quote(struct attacker *a, const char *pw)
{
	TPML_PCR_SELECTION sel = { .count = 1, .pcrSelections[0] = {
		.hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0xff } } };
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_DATA qd = { .size = 32 };
	TPM2B_ATTEST *q = NULL;
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR ak;
	TSS2_RC rc;

	memset(qd.buffer, 0x5a, 32);	/* a binder relayed from another machine */
	rc = att_obj(a, AK, pw, &ak);
	if (rc)
		return rc;
	rc = Esys_Quote(a->esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd, &scheme,
			&sel, &q, &s);
	Esys_Free(q);
	Esys_Free(s);
	Esys_TR_Close(a->esys, &ak);
	return base_rc(rc);
}

static TSS2_RC att_sign(struct attacker *a, const char *pw)
{
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA,
				   .details.ecdsa.hashAlg = TPM2_ALG_SHA256 };
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPM2B_DIGEST d = { .size = 32 };
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR tk;
	TSS2_RC rc;

	rc = att_obj(a, TK, pw, &tk);
	if (rc)
		return rc;
	rc = Esys_Sign(a->esys, tk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, &scheme,
		       &check, &s);
	Esys_Free(s);
	Esys_TR_Close(a->esys, &tk);
	return base_rc(rc);
}

/* Certify our own new key with the AK (what a relay needs for KAT). */
static TSS2_RC att_certify(struct attacker *a, const char *pw)
{
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPM2B_DATA qd = { .size = 32 };
	TPM2B_ATTEST *c = NULL;
	TPMT_SIGNATURE *s = NULL;
	ESYS_TR ak, tk;
	TSS2_RC rc;

	rc = att_obj(a, AK, pw, &ak);
	if (rc)
		return rc;
	rc = att_obj(a, TK, pw, &tk);
	if (!rc)
		rc = Esys_Certify(a->esys, tk, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				  &qd, &scheme, &c, &s);
	Esys_Free(c);
	Esys_Free(s);
	Esys_TR_Close(a->esys, &ak);
	Esys_TR_Close(a->esys, &tk);
	return base_rc(rc);
}

/* CreatePrimary under the owner hierarchy with the template as published
 * in provision.c before key secrets (and with noDA added): the attacker's
 * copy of "the AK" if the template alone determined the key. */
static TSS2_RC att_recreate(struct attacker *a, bool noda, TPM2B_PUBLIC **out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC in = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	TPMT_PUBLIC *p = &in.publicArea;
	ESYS_TR obj = ESYS_TR_NONE;
	TSS2_RC rc;

	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_RESTRICTED |
			      (noda ? TPMA_OBJECT_NODA : 0);
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	rc = Esys_CreatePrimary(a->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &in, &outside, &pcrs, &obj, out, NULL, NULL,
				NULL);
	if (obj != ESYS_TR_NONE)
		Esys_FlushContext(a->esys, obj);
	return rc;
}

static bool same_point(const TPM2B_PUBLIC *x, const TPM2B_PUBLIC *y)
{
	const TPMS_ECC_POINT *a = &x->publicArea.unique.ecc, *b = &y->publicArea.unique.ecc;

	return a->x.size == b->x.size && !memcmp(a->x.buffer, b->x.buffer, a->x.size) &&
	       a->y.size == b->y.size && !memcmp(a->y.buffer, b->y.buffer, a->y.size);
}

static TSS2_RC read_pub(struct attacker *a, uint32_t handle, TPM2B_PUBLIC **out)
{
	ESYS_TR tr;
	TSS2_RC rc;

	rc = Esys_TR_FromTPMPublic(a->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   &tr);
	if (rc)
		return rc;
	rc = Esys_ReadPublic(a->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, out, NULL,
			     NULL);
	Esys_TR_Close(a->esys, &tr);
	return rc;
}

FIXTURE(keyauth)
{
	struct tl_swtpm sw;
	struct attacker att;
	char *dir;
	char secret_path[600];
	uint8_t secret[ATLS_KEY_SECRET_LEN];
};

FIXTURE_SETUP(keyauth)
{
	struct atls_tpm *t;

	self->dir = tl_tmpdir("keyauth");
	ASSERT_NE(NULL, self->dir);
	ASSERT_EQ(0, tl_swtpm_start(&self->sw));
	/* Provisioned as atlsctl provisions, then the owner closes: swtpm
	 * serves one connection at a time. */
	snprintf(self->secret_path, sizeof(self->secret_path), "%s/tpm-key-secret", self->dir);
	ASSERT_EQ(0, atls_key_secret_create(self->secret_path, (uid_t)-1, (gid_t)-1));
	ASSERT_EQ(0, atls_key_secret_load(self->secret_path, self->secret, NULL, 0));
	ASSERT_EQ(0, atls_tpm_open(self->sw.tcti, &t));
	ASSERT_EQ(0, atls_provision_ak_secret(t, AK, self->secret, 0));
	ASSERT_EQ(0, atls_provision_tls_key_secret(t, TK, self->secret, 0));
	atls_tpm_close(t);
	ASSERT_EQ(0, att_open(&self->att, self->sw.tcti));
}

FIXTURE_TEARDOWN(keyauth)
{
	att_close(&self->att);
	tl_swtpm_stop(&self->sw);
	tl_rmtree(self->dir);
	free(self->dir);
}

TEST_F(keyauth, other_process_cannot_quote)
{
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_quote(&self->att, ""));
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_quote(&self->att, "guess"));
}

TEST_F(keyauth, other_process_cannot_certify)
{
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_certify(&self->att, ""));
}

TEST_F(keyauth, other_process_cannot_sign_with_tls_key)
{
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_sign(&self->att, ""));
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_sign(&self->att, "guess"));
}

/* Many wrong guesses do not put the TPM into lockout (noDA keys). */
TEST_F(keyauth, guessing_does_not_lock_out)
{
	int i;

	for (i = 0; i < 40; i++)
		ASSERT_EQ(TPM2_RC_BAD_AUTH, att_quote(&self->att, "guess"));
}

TEST_F(keyauth, template_does_not_recreate_the_ak)
{
	TPM2B_PUBLIC *ak = NULL, *copy = NULL;

	ASSERT_EQ(TSS2_RC_SUCCESS, read_pub(&self->att, AK, &ak));
	ASSERT_EQ(TSS2_RC_SUCCESS, att_recreate(&self->att, false, &copy));
	EXPECT_FALSE(same_point(ak, copy));
	Esys_Free(copy);
	copy = NULL;
	ASSERT_EQ(TSS2_RC_SUCCESS, att_recreate(&self->att, true, &copy));
	EXPECT_FALSE(same_point(ak, copy));
	Esys_Free(copy);
	Esys_Free(ak);
}

/* The owner holding the secret: evidence and signatures as before. */
static int owner_works(const struct tl_swtpm *sw, const uint8_t *secret)
{
	struct atls_evidence_params ep = { .key_mode = 0, .ak_handle = AK, .tls_key_handle = TK,
					   .pcr_bank_alg = 0x0B, .pcr_mask = 0xff };
	uint8_t binder[32] = { 1 }, *cmw = NULL, sig[80];
	size_t cmw_len = 0, slen = sizeof(sig);
	struct atls_tpm *t;
	int err;

	err = atls_tpm_open(sw->tcti, &t);
	if (err)
		return err;
	if (secret && ((err = atls_tpm_use_key_secret(t, AK, true, secret)) ||
		       (err = atls_tpm_use_key_secret(t, TK, false, secret))))
		goto out;
	err = atls_evidence_produce(t, &ep, binder, sizeof(binder), &cmw, &cmw_len);
	free(cmw);
	if (!err)
		err = atls_tpm_sign_digest(t, TK, binder, sizeof(binder), sig, &slen);
out:
	atls_tpm_close(t);
	return err;
}

TEST_F(keyauth, owner_with_secret_still_works)
{
	att_close(&self->att);
	EXPECT_EQ(0, owner_works(&self->sw, self->secret));
	/* Without the secret libatls gets the TPM's refusal, as -EACCES. */
	EXPECT_EQ(-EACCES, owner_works(&self->sw, NULL));
	ASSERT_EQ(0, att_open(&self->att, self->sw.tcti));
}

/* Provisioning again with the same secret keeps the keys; another
 * secret's keys are not taken for ours. */
TEST_F(keyauth, provisioning_checks_the_secret)
{
	uint8_t other[ATLS_KEY_SECRET_LEN];
	struct atls_tpm *t;

	att_close(&self->att);
	memcpy(other, self->secret, sizeof(other));
	other[0] ^= 1;
	ASSERT_EQ(0, atls_tpm_open(self->sw.tcti, &t));
	EXPECT_EQ(1, atls_provision_ak_secret(t, AK, self->secret, 0));
	EXPECT_EQ(1, atls_provision_tls_key_secret(t, TK, self->secret, 0));
	EXPECT_EQ(-ENOKEY, atls_provision_ak_secret(t, AK, other, 0));
	EXPECT_EQ(-ENOKEY, atls_provision_tls_key_secret(t, TK, other, 0));
	EXPECT_EQ(0, atls_provision_key_check(t, AK, true, self->secret));
	/* The AK's handle holds no TLS key and vice versa. */
	EXPECT_EQ(-EEXIST, atls_provision_key_check(t, AK, false, self->secret));
	EXPECT_EQ(-EEXIST, atls_provision_tls_key_secret(t, AK, self->secret, 0));
	EXPECT_EQ(-EINVAL, atls_provision_ak_secret(t, AK, NULL, 0));
	EXPECT_EQ(-EINVAL, atls_provision_ak_secret(t, AK, self->secret, 2));
	EXPECT_EQ(-EINVAL, atls_tpm_set_key_auth(t, 0x80000001, self->secret, 32));
	EXPECT_EQ(-EINVAL, atls_tpm_set_key_auth(t, AK, self->secret, 33));
	atls_tpm_close(t);
	ASSERT_EQ(0, att_open(&self->att, self->sw.tcti));
}

/*
 * Keys provisioned before key secrets (empty authorization): refused with
 * -EKEYREVOKED (atlsctl and atlsd name the fix), replaced only on request;
 * the replacement is a new key that the attacker cannot use.
 */
TEST(legacy_keys_are_refused_then_replaced)
{
	TPM2B_PUBLIC *before = NULL, *after = NULL;
	uint8_t secret[ATLS_KEY_SECRET_LEN];
	struct attacker att;
	struct tl_swtpm sw;
	struct atls_tpm *t;

	memset(secret, 0x42, sizeof(secret));
	ASSERT_EQ(0, tl_swtpm_start(&sw));
	ASSERT_EQ(0, atls_tpm_open(sw.tcti, &t));
	ASSERT_EQ(0, atls_provision_ak(t, AK));
	ASSERT_EQ(0, atls_provision_tls_key(t, TK));
	EXPECT_EQ(-EKEYREVOKED, atls_provision_key_check(t, AK, true, secret));
	EXPECT_EQ(-EKEYREVOKED, atls_provision_key_check(t, TK, false, secret));
	EXPECT_EQ(-EKEYREVOKED, atls_provision_ak_secret(t, AK, secret, 0));
	EXPECT_EQ(-EKEYREVOKED, atls_provision_tls_key_secret(t, TK, secret, 0));
	atls_tpm_close(t);

	ASSERT_EQ(0, att_open(&att, sw.tcti));
	EXPECT_EQ(TSS2_RC_SUCCESS, read_pub(&att, AK, &before));
	EXPECT_EQ(0, att_quote(&att, ""));	/* what the replacement stops */
	att_close(&att);

	ASSERT_EQ(0, atls_tpm_open(sw.tcti, &t));
	EXPECT_EQ(0, atls_provision_ak_secret(t, AK, secret, ATLS_PROVISION_REPLACE_LEGACY));
	EXPECT_EQ(0, atls_provision_tls_key_secret(t, TK, secret, ATLS_PROVISION_REPLACE_LEGACY));
	EXPECT_EQ(0, atls_provision_key_check(t, AK, true, secret));
	EXPECT_EQ(1, atls_provision_ak_secret(t, AK, secret, ATLS_PROVISION_REPLACE_LEGACY));
	atls_tpm_close(t);

	ASSERT_EQ(0, att_open(&att, sw.tcti));
	EXPECT_EQ(TSS2_RC_SUCCESS, read_pub(&att, AK, &after));
	if (before && after)
		EXPECT_FALSE(same_point(before, after));
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_quote(&att, ""));
	EXPECT_EQ(TPM2_RC_BAD_AUTH, att_sign(&att, ""));
	att_close(&att);
	EXPECT_EQ(0, owner_works(&sw, secret));
	Esys_Free(before);
	Esys_Free(after);
	tl_swtpm_stop(&sw);
}

/* The secret file: what create writes, what load refuses. */
TEST(secret_file_is_checked)
{
	char *dir = tl_tmpdir("keysecret"), p[600], q[600];
	uint8_t s1[ATLS_KEY_SECRET_LEN], s2[ATLS_KEY_SECRET_LEN];
	char err[300];
	struct stat st;
	static const char *const bad[] = {
		"",					/* empty */
		"0123",					/* short */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef\n",	/* 63 */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff0\n",	/* 65 */
		"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n",	/* upper */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeegg\n",	/* not hex */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\r",	/* CR */
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n",
		" 0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		"+0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
	};
	unsigned int i;
	FILE *f;

	ASSERT_NE(NULL, dir);
	snprintf(p, sizeof(p), "%s/s", dir);
	ASSERT_EQ(0, atls_key_secret_create(p, (uid_t)-1, (gid_t)-1));
	ASSERT_EQ(0, stat(p, &st));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(65, st.st_size);
	ASSERT_EQ(0, atls_key_secret_load(p, s1, err, sizeof(err))) TH_LOG("%s", err);
	/* kept, not replaced */
	EXPECT_EQ(1, atls_key_secret_create(p, (uid_t)-1, (gid_t)-1));
	ASSERT_EQ(0, atls_key_secret_load(p, s2, NULL, 0));
	EXPECT_EQ(0, memcmp(s1, s2, sizeof(s1)));
	/* the good format without the newline is fine too */
	snprintf(q, sizeof(q), "%s/nonl", dir);
	f = fopen(q, "w");
	ASSERT_NE(NULL, f);
	fputs("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", f);
	fclose(f);
	ASSERT_EQ(0, chmod(q, 0600));
	EXPECT_EQ(0, atls_key_secret_load(q, s2, NULL, 0));
	EXPECT_EQ(0xff, s2[31]);

	/* others may read it: refused, and create does not bless it */
	ASSERT_EQ(0, chmod(p, 0640));
	EXPECT_EQ(-EPERM, atls_key_secret_load(p, s2, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "0600"));
	EXPECT_EQ(-EPERM, atls_key_secret_create(p, (uid_t)-1, (gid_t)-1));
	ASSERT_EQ(0, chmod(p, 0604));
	EXPECT_EQ(-EPERM, atls_key_secret_load(p, s2, NULL, 0));
	ASSERT_EQ(0, chmod(p, 0600));
	/* a link to a good secret: refused */
	snprintf(q, sizeof(q), "%s/link", dir);
	ASSERT_EQ(0, symlink(p, q));
	EXPECT_EQ(-ELOOP, atls_key_secret_load(q, s2, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "link"));
	/* a directory, a missing file */
	EXPECT_EQ(-EINVAL, atls_key_secret_load(dir, s2, NULL, 0));
	snprintf(q, sizeof(q), "%s/none", dir);
	EXPECT_EQ(-ENOENT, atls_key_secret_load(q, s2, NULL, 0));
	/* bad contents */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(q, sizeof(q), "%s/bad%u", dir, i);
		f = fopen(q, "w");
		ASSERT_NE(NULL, f);
		fputs(bad[i], f);
		fclose(f);
		ASSERT_EQ(0, chmod(q, 0600));
		EXPECT_EQ(-EINVAL, atls_key_secret_load(q, s2, err, sizeof(err))) TH_LOG("bad[%u]", i);
	}
	/* create never writes through a link planted at the path */
	snprintf(q, sizeof(q), "%s/planted", dir);
	ASSERT_EQ(0, symlink("/nonexistent-victim", q));
	EXPECT_NE(0, atls_key_secret_create(q, (uid_t)-1, (gid_t)-1));
	EXPECT_NE(0, access("/nonexistent-victim", F_OK));
	tl_rmtree(dir);
	free(dir);
}

TEST_HARNESS_MAIN
