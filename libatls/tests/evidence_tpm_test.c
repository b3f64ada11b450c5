// SPDX-License-Identifier: Apache-2.0
/*
 * Evidence production and appraisal against a real swtpm (one per test):
 * round trips in both key modes, each rejection with its reason, the
 * qualifying-data rule for 48-byte binders, interoperability with
 * tpm2_checkquote, TPM signatures, and TPM operation latencies.
 *
 * Tampering is done on the decoded evidence map and re-encoded, so the CMW
 * stays well-formed and the check under test (not the decoder) rejects it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include <atls/policy.h>
#include <atls/provision.h>
#include <atls/wire.h>

#include "kselftest_harness.h"
#include "certs.h"
#include "swtpm.h"
#include "util.h"
#include "../src/cmw.h"
#include "../src/evidence.h"
#include "../src/tpm_int.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT
#define MASK 0x83u	/* PCR 0, 1, 7 */

static const char *const types_both = "\"tpm-kat-pat\", \"tpm-pat\"";

/* Policy text trusting ak_pem over the current values of the PCRs in mask. */
static struct atls_policy *make_policy(struct atls_tpm *t, uint32_t mask, const char *ak_pem,
				       const char *types, bool as_digest)
{
	uint8_t v[24][32], dg[32];
	char vals[24 * 70 + 1] = "", text[8192], sel[100] = "", err[200] = "";
	struct atls_policy *p = NULL;
	unsigned int n = 0, i, j;

	if (atls_tpm_pcr_read(t, mask, v, &n))
		return NULL;
	for (i = 0, j = 0; i < 24; i++)
		if (mask & (1u << i))
			snprintf(sel + strlen(sel), sizeof(sel) - strlen(sel), "%s%u", j++ ? "," : "",
				 i);
	if (as_digest) {
		SHA256(&v[0][0], n * 32, dg);
		strcat(vals, "\"");
		for (j = 0; j < 32; j++)
			sprintf(vals + strlen(vals), "%02x", dg[j]);
		strcat(vals, "\"");
	} else {
		for (i = 0; i < n; i++) {
			strcat(vals, i ? ", \"" : "\"");
			for (j = 0; j < 32; j++)
				sprintf(vals + strlen(vals), "%02x", v[i][j]);
			strcat(vals, "\"");
		}
	}
	snprintf(text, sizeof(text),
		 "version = 1;\n"
		 "trusted-aks = ( { name = \"test-ak\"; pem-file = \"%s\"; } );\n"
		 "pcrs = { bank = \"sha256\"; selection = [ %s ]; %s = [ %s ]; };\n"
		 "require = [ \"server\" ];\n"
		 "evidence-types = [ %s ];\n",
		 ak_pem, sel, as_digest ? "digests" : "values", vals, types);
	if (atls_policy_parse(text, NULL, &p, err, sizeof(err)))
		fprintf(stderr, "policy: %s\n", err);
	return p;
}

FIXTURE(ev)
{
	struct tl_swtpm sw;
	struct atls_tpm *tpm;
	char *dir;
	uint8_t binder[32];
	unsigned char *spki;
	int spki_len;
	struct atls_policy *pol;
	struct atls_claims claims;
	struct atls_appraisal ap;
};

FIXTURE_SETUP(ev)
{
	struct atls_cert_params cp = { .common_name = "tpm-node" };
	X509 *x;

	self->dir = tl_tmpdir("ev");
	ASSERT_NE(NULL, self->dir);
	ASSERT_EQ(0, tl_swtpm_start(&self->sw));
	ASSERT_EQ(0, atls_tpm_open(self->sw.tcti, &self->tpm));
	ASSERT_EQ(0, atls_provision_ak(self->tpm, AK));
	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
	ASSERT_EQ(0, atls_provision_export_pub(self->tpm, AK, tl_path(self->dir, "ak.pem")));
	ASSERT_EQ(0, atls_provision_cert_tpm(self->tpm, TK, &cp,
					     tl_path(self->dir, "tls.pem")));
	x = tl_load_cert(tl_path(self->dir, "tls.pem"));
	ASSERT_NE(NULL, x);
	self->spki = NULL;
	self->spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &self->spki);
	X509_free(x);
	ASSERT_LT(0, self->spki_len);
	self->pol = make_policy(self->tpm, MASK, tl_path(self->dir, "ak.pem"), types_both,
				false);
	ASSERT_NE(NULL, self->pol);
	ASSERT_EQ(1, RAND_bytes(self->binder, sizeof(self->binder)));
}

FIXTURE_TEARDOWN(ev)
{
	atls_policy_free(self->pol);
	OPENSSL_free(self->spki);
	atls_tpm_close(self->tpm);
	tl_swtpm_stop(&self->sw);
	tl_rmtree(self->dir);
	free(self->dir);
}

static int produce(struct __test_metadata *_metadata, FIXTURE_DATA(ev) *self, int mode,
		   uint32_t mask, const uint8_t *binder, size_t blen, uint8_t **cmw, size_t *len)
{
	struct atls_evidence_params p = { .key_mode = mode, .ak_handle = AK, .tls_key_handle = TK,
					  .pcr_bank_alg = 0x0b, .pcr_mask = mask };
	int err = atls_evidence_produce(self->tpm, &p, binder, blen, cmw, len);

	(void)_metadata;
	return err;
}

static int appraise(FIXTURE_DATA(ev) *self, const struct atls_policy *pol, const uint8_t *cmw,
		    size_t len, const uint8_t *binder, size_t blen)
{
	return atls_evidence_appraise(pol, ATLS_ROLE_SERVER, cmw, len, binder, blen, self->spki,
				      self->spki_len, &self->claims, &self->ap);
}

/* Produce, decode, let mutate() edit the map, re-encode, appraise. */
static int tampered(struct __test_metadata *_metadata, FIXTURE_DATA(ev) *self, int mode,
		    void (*mutate)(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev))
{
	struct atls_evidence_map *ev = calloc(1, sizeof(*ev));
	uint8_t *cmw = NULL, *cmw2 = NULL;
	size_t len, len2;
	int err = -ENOMEM;

	if (!ev)
		return err;
	err = produce(_metadata, self, mode, MASK, self->binder, 32, &cmw, &len);
	if (!err)
		err = atls_cmw_decode(cmw, len, ev);
	if (!err) {
		mutate(self, ev);
		err = atls_cmw_encode(ev, &cmw2, &len2);
	}
	if (!err)
		err = appraise(self, self->pol, cmw2, len2, self->binder, 32);
	free(cmw);
	free(cmw2);
	free(ev);
	return err;
}

#define EXPECT_REJECT(err, reason_)						\
	do {									\
		EXPECT_EQ(-EKEYREJECTED, err);					\
		EXPECT_EQ(reason_, self->ap.reason);				\
		EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, self->ap.status);		\
		TH_LOG("%s", self->ap.text);					\
	} while (0)

TEST_F(ev, tpm_mode_round_trip)
{
	uint8_t *cmw, ak_hash[32];
	EVP_PKEY *ak;
	size_t len;
	FILE *f;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	EXPECT_EQ(0, appraise(self, self->pol, cmw, len, self->binder, 32));
	EXPECT_EQ(ATLS_EAR_AFFIRMING, self->ap.status);
	EXPECT_EQ(ATLS_REASON_NONE, self->ap.reason);
	EXPECT_EQ(ATLS_EVIDENCE_TPM2_KAT_PAT, self->claims.evidence_type);
	EXPECT_EQ(0x000b, self->claims.pcr_bank);
	EXPECT_EQ(MASK, self->claims.pcr_mask);
	EXPECT_EQ(32, self->claims.pcr_digest_len);
	f = fopen(tl_path(self->dir, "ak.pem"), "r");
	ASSERT_NE(NULL, f);
	ak = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ASSERT_NE(NULL, ak);
	{
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(ak, &der);

		SHA256(der, n, ak_hash);
		OPENSSL_free(der);
	}
	EVP_PKEY_free(ak);
	EXPECT_EQ(0, memcmp(ak_hash, self->claims.ak_sha256, 32));
	free(cmw);
}

TEST_F(ev, software_mode_round_trip)
{
	uint8_t *cmw;
	size_t len;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_SOFTWARE, MASK, self->binder, 32, &cmw,
			     &len));
	EXPECT_EQ(0, appraise(self, self->pol, cmw, len, self->binder, 32));
	EXPECT_EQ(ATLS_EAR_AFFIRMING, self->ap.status);
	EXPECT_EQ(ATLS_EVIDENCE_TPM2_PAT, self->claims.evidence_type);
	free(cmw);
}

TEST_F(ev, binder_48_bytes_is_hashed)
{
	struct atls_evidence_map ev;
	uint8_t b48[48], *cmw, h[32];
	TPMS_ATTEST a;
	size_t len, off = 0;

	ASSERT_EQ(1, RAND_bytes(b48, sizeof(b48)));
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, b48, 48, &cmw, &len));
	EXPECT_EQ(0, appraise(self, self->pol, cmw, len, b48, 48));
	ASSERT_EQ(0, atls_cmw_decode(cmw, len, &ev));
	ASSERT_EQ(0, Tss2_MU_TPMS_ATTEST_Unmarshal(ev.pat.attest_info.b, ev.pat.attest_info.len,
						   &off, &a));
	SHA256(b48, 48, h);
	ASSERT_EQ(32, a.extraData.size);
	EXPECT_EQ(0, memcmp(h, a.extraData.buffer, 32));
	/* The first 32 bytes of the binder are not an acceptable binder. */
	EXPECT_REJECT(appraise(self, self->pol, cmw, len, b48, 32), ATLS_REASON_FRESHNESS);
	free(cmw);
}

TEST_F(ev, replay_with_other_binder)
{
	uint8_t *cmw, other[32];
	size_t len;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	memcpy(other, self->binder, 32);
	other[31] ^= 0x01;
	EXPECT_REJECT(appraise(self, self->pol, cmw, len, other, 32), ATLS_REASON_FRESHNESS);
	free(cmw);
}

TEST_F(ev, replay_software_mode)
{
	uint8_t *cmw, other[32];
	size_t len;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_SOFTWARE, MASK, self->binder, 32, &cmw,
			     &len));
	ASSERT_EQ(1, RAND_bytes(other, sizeof(other)));
	EXPECT_REJECT(appraise(self, self->pol, cmw, len, other, 32), ATLS_REASON_FRESHNESS);
	free(cmw);
}

/* The last byte of the marshalled TPMT_SIGNATURE is the last byte of S. */
static void flip_quote_sig(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	(void)self;
	ev->pat.sig.b[ev->pat.sig.len - 1] ^= 0x01;
}

static void flip_quote_body(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	(void)self;
	ev->pat.attest_info.b[ev->pat.attest_info.len - 1] ^= 0x01;	/* pcrDigest */
}

static void flip_certify_sig(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	(void)self;
	ev->kat.sig.b[ev->kat.sig.len - 1] ^= 0x80;
}

static void swap_sigs(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	struct atls_blob tmp = ev->pat.sig;

	(void)self;
	ev->pat.sig = ev->kat.sig;
	ev->kat.sig = tmp;
}

TEST_F(ev, tampered_quote_signature)
{
	EXPECT_REJECT(tampered(_metadata, self, ATLS_KEY_TPM, flip_quote_sig),
		      ATLS_REASON_BAD_SIGNATURE);
}

TEST_F(ev, tampered_quote_body)
{
	EXPECT_REJECT(tampered(_metadata, self, ATLS_KEY_SOFTWARE, flip_quote_body),
		      ATLS_REASON_BAD_SIGNATURE);
}

TEST_F(ev, tampered_certify_signature)
{
	EXPECT_REJECT(tampered(_metadata, self, ATLS_KEY_TPM, flip_certify_sig),
		      ATLS_REASON_BAD_SIGNATURE);
}

TEST_F(ev, swapped_signatures)
{
	EXPECT_REJECT(tampered(_metadata, self, ATLS_KEY_TPM, swap_sigs), ATLS_REASON_BAD_SIGNATURE);
}

TEST_F(ev, untrusted_ak)
{
	const char *other = tl_path(self->dir, "other-ak.pem");
	struct atls_policy *pol;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	uint8_t *cmw;
	size_t len;
	FILE *f;

	ASSERT_NE(NULL, k);
	f = fopen(other, "w");
	ASSERT_NE(NULL, f);
	ASSERT_EQ(1, PEM_write_PUBKEY(f, k));
	fclose(f);
	EVP_PKEY_free(k);
	pol = make_policy(self->tpm, MASK, other, types_both, false);
	ASSERT_NE(NULL, pol);
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	EXPECT_REJECT(appraise(self, pol, cmw, len, self->binder, 32), ATLS_REASON_AK_UNTRUSTED);
	atls_policy_free(pol);
	free(cmw);
}

TEST_F(ev, pcr_mismatch_after_extend)
{
	uint8_t *cmw, d[32] = { 0x42 };
	size_t len;

	ASSERT_EQ(0, atls_tpm_pcr_extend(self->tpm, 7, d));
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	EXPECT_REJECT(appraise(self, self->pol, cmw, len, self->binder, 32), ATLS_REASON_PCR_MISMATCH);
	free(cmw);
}

TEST_F(ev, pcr_selection_differs)
{
	uint8_t *cmw;
	size_t len;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, 0x3, self->binder, 32, &cmw, &len));
	EXPECT_REJECT(appraise(self, self->pol, cmw, len, self->binder, 32), ATLS_REASON_PCR_MISMATCH);
	free(cmw);
}

TEST_F(ev, allowed_digest_list)
{
	struct atls_policy *pol;
	uint8_t *cmw, d[32] = { 0x17 };
	size_t len;

	pol = make_policy(self->tpm, MASK, tl_path(self->dir, "ak.pem"), types_both, true);
	ASSERT_NE(NULL, pol);
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	EXPECT_EQ(0, appraise(self, pol, cmw, len, self->binder, 32));
	free(cmw);
	ASSERT_EQ(0, atls_tpm_pcr_extend(self->tpm, 0, d));
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	EXPECT_REJECT(appraise(self, pol, cmw, len, self->binder, 32), ATLS_REASON_PCR_MISMATCH);
	free(cmw);
	atls_policy_free(pol);
}

TEST_F(ev, certify_key_is_not_the_cert_key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	unsigned char *spki = NULL;
	uint8_t *cmw;
	size_t len;
	int n;

	ASSERT_NE(NULL, k);
	n = i2d_PUBKEY(k, &spki);
	ASSERT_LT(0, n);
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	EXPECT_REJECT(atls_evidence_appraise(self->pol, ATLS_ROLE_CLIENT, cmw, len, self->binder,
					     32, spki, n, &self->claims, &self->ap),
		      ATLS_REASON_KEY_BINDING_MISMATCH);
	OPENSSL_free(spki);
	EVP_PKEY_free(k);
	free(cmw);
}

/* Present the AK's public area as the certified key: its name differs. */
static void swap_pub_area(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	TPM2B_PUBLIC pub;
	size_t off = 0;

	if (atls_tpm_read_public(self->tpm, AK, &pub))
		return;
	Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, ev->kat.pub_area.b,
				    sizeof(ev->kat.pub_area.b), &off);
	ev->kat.pub_area.len = off;
}

TEST_F(ev, certify_name_mismatch)
{
	EXPECT_REJECT(tampered(_metadata, self, ATLS_KEY_TPM, swap_pub_area),
		      ATLS_REASON_KEY_BINDING_MISMATCH);
}

TEST_F(ev, evidence_type_not_accepted)
{
	struct atls_policy *pol;
	uint8_t *cmw;
	size_t len;

	pol = make_policy(self->tpm, MASK, tl_path(self->dir, "ak.pem"),
			  "\"tpm-kat-pat\"", false);
	ASSERT_NE(NULL, pol);
	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_SOFTWARE, MASK, self->binder, 32, &cmw,
			     &len));
	EXPECT_REJECT(appraise(self, pol, cmw, len, self->binder, 32),
		      ATLS_REASON_EVIDENCE_TYPE_REJECTED);
	atls_policy_free(pol);
	free(cmw);
}

TEST_F(ev, wrong_media_type)
{
	static const char mt[] = "application/vnd.parallaxsecond.key-attestation.cca";
	uint8_t *cmw;
	size_t len;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	/* Same length media type: patch it in place ("82 78 32 <50 bytes>"). */
	ASSERT_EQ(0x78, cmw[1]);
	ASSERT_EQ(sizeof(mt) - 1, cmw[2]);
	memcpy(cmw + 3, mt, sizeof(mt) - 1);
	EXPECT_REJECT(appraise(self, self->pol, cmw, len, self->binder, 32),
		      ATLS_REASON_EVIDENCE_TYPE_REJECTED);
	free(cmw);
}

static void kid_mismatch(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	(void)self;
	ev->kat.kid[5] ^= 1;
}

TEST_F(ev, kid_mismatch_is_malformed)
{
	EXPECT_EQ(-EBADMSG, tampered(_metadata, self, ATLS_KEY_TPM, kid_mismatch));
	EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, self->ap.reason);
	EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, self->ap.status);
}

static void garbage_attest(FIXTURE_DATA(ev) *self, struct atls_evidence_map *ev)
{
	(void)self;
	ev->pat.attest_info.b[0] ^= 0xff;	/* magic */
}

TEST_F(ev, bad_magic_is_malformed)
{
	EXPECT_EQ(-EBADMSG, tampered(_metadata, self, ATLS_KEY_TPM, garbage_attest));
	EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, self->ap.reason);
}

TEST_F(ev, truncated_cmw_is_malformed)
{
	uint8_t *cmw;
	size_t len, cut;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	for (cut = 0; cut < len; cut += 7) {
		EXPECT_EQ(-EBADMSG, appraise(self, self->pol, cmw, cut, self->binder, 32));
		EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, self->ap.reason);
	}
	free(cmw);
}

TEST_F(ev, oversize_and_garbage_cmw_are_malformed)
{
	static const uint8_t garbage[][8] = {
		{ 0xff }, { 0x82, 0x00, 0x00 }, { 0x9f, 0xff }, { 0x83, 0x60, 0x40, 0x04 },
	};
	uint8_t *cmw, *big;
	size_t len, i;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	/* A valid record followed by padding up to one byte over the limit. */
	big = calloc(1, ATLS_CMW_MAX + 1);
	ASSERT_NE(NULL, big);
	memcpy(big, cmw, len);
	EXPECT_EQ(-EBADMSG, appraise(self, self->pol, big, ATLS_CMW_MAX + 1, self->binder, 32));
	EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, self->ap.reason);
	/* ... and with one trailing byte. */
	EXPECT_EQ(-EBADMSG, appraise(self, self->pol, big, len + 1, self->binder, 32));
	EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, self->ap.reason);
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		EXPECT_EQ(-EBADMSG, appraise(self, self->pol, garbage[i], 4, self->binder, 32));
		EXPECT_EQ(ATLS_REASON_MALFORMED_EVIDENCE, self->ap.reason);
		EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, self->ap.status);
	}
	free(big);
	free(cmw);
}

TEST_F(ev, produce_rejects_bad_params)
{
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_TPM, .ak_handle = AK,
					  .tls_key_handle = TK, .pcr_bank_alg = 0x0b,
					  .pcr_mask = MASK };
	uint8_t *cmw;
	size_t len;

	p.pcr_mask = 0;
	EXPECT_EQ(-EINVAL, atls_evidence_produce(self->tpm, &p, self->binder, 32, &cmw, &len));
	p.pcr_mask = MASK;
	p.pcr_bank_alg = 0x04;
	EXPECT_EQ(-EINVAL, atls_evidence_produce(self->tpm, &p, self->binder, 32, &cmw, &len));
	p.pcr_bank_alg = 0x0b;
	EXPECT_EQ(-EINVAL, atls_evidence_produce(self->tpm, &p, self->binder, 0, &cmw, &len));
	/* A non-restricted key must never serve as the AK. */
	p.ak_handle = TK;
	EXPECT_EQ(-EINVAL, atls_evidence_produce(self->tpm, &p, self->binder, 32, &cmw, &len));
	p.ak_handle = 0x81010099;
	EXPECT_EQ(-ENOENT, atls_evidence_produce(self->tpm, &p, self->binder, 32, &cmw, &len));
}

static int write_file(const char *path, const void *b, size_t n)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fwrite(b, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

TEST_F(ev, tpm2_checkquote_verifies)
{
	struct atls_evidence_map ev;
	uint8_t *cmw, v[24][32];
	char hex[65], bad[65];
	unsigned int n, i;
	size_t len;

	ASSERT_EQ(0, produce(_metadata, self, ATLS_KEY_TPM, MASK, self->binder, 32, &cmw, &len));
	ASSERT_EQ(0, atls_cmw_decode(cmw, len, &ev));
	free(cmw);
	ASSERT_EQ(0, atls_tpm_pcr_read(self->tpm, MASK, v, &n));
	ASSERT_EQ(0, write_file(tl_path(self->dir, "q.msg"), ev.pat.attest_info.b,
				ev.pat.attest_info.len));
	ASSERT_EQ(0, write_file(tl_path(self->dir, "q.sig"), ev.pat.sig.b, ev.pat.sig.len));
	ASSERT_EQ(0, write_file(tl_path(self->dir, "q.pcrs"), v, n * 32));
	ASSERT_EQ(0, write_file(tl_path(self->dir, "c.msg"), ev.kat.cert_info.b,
				ev.kat.cert_info.len));
	ASSERT_EQ(0, write_file(tl_path(self->dir, "c.sig"), ev.kat.sig.b, ev.kat.sig.len));
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", self->binder[i]);
	memcpy(bad, hex, sizeof(bad));
	bad[0] = bad[0] == '0' ? '1' : '0';

	/* Quote: signature, qualifying data and PCR digest. */
	EXPECT_EQ(0, tl_sh("cd %s && tpm2_checkquote -u ak.pem -m q.msg -s q.sig -g sha256 "
			   "-q %s -f q.pcrs -l sha256:0,1,7 >/dev/null 2>&1",
			   self->dir, hex));
	/* ... and tpm2_checkquote itself rejects another nonce and other PCRs. */
	EXPECT_NE(0, tl_sh("cd %s && tpm2_checkquote -u ak.pem -m q.msg -s q.sig -g sha256 "
			   "-q %s >/dev/null 2>&1", self->dir, bad));
	v[0][0] ^= 1;
	ASSERT_EQ(0, write_file(tl_path(self->dir, "q.pcrs"), v, n * 32));
	EXPECT_NE(0, tl_sh("cd %s && tpm2_checkquote -u ak.pem -m q.msg -s q.sig -g sha256 "
			   "-q %s -f q.pcrs -l sha256:0,1,7 >/dev/null 2>&1",
			   self->dir, hex));
	/* The certify info (same AK, same qualifying data) verifies as well. */
	EXPECT_EQ(0, tl_sh("cd %s && tpm2_checkquote -u ak.pem -m c.msg -s c.sig -g sha256 "
			   "-q %s >/dev/null 2>&1", self->dir, hex));
}

TEST_F(ev, sign_digest_verifies_with_cert_key)
{
	const unsigned char *p = self->spki;
	uint8_t dg[32], sig[80];
	size_t slen = sizeof(sig);
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, self->spki_len);
	EVP_PKEY_CTX *ctx;

	ASSERT_NE(NULL, pub);
	ASSERT_EQ(1, RAND_bytes(dg, sizeof(dg)));
	ASSERT_EQ(0, atls_tpm_sign_digest(self->tpm, TK, dg, 32, sig, &slen));
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(1, EVP_PKEY_verify_init(ctx));
	EXPECT_EQ(1, EVP_PKEY_verify(ctx, sig, slen, dg, 32));
	dg[0] ^= 1;
	EXPECT_NE(1, EVP_PKEY_verify(ctx, sig, slen, dg, 32));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	slen = 8;
	EXPECT_EQ(-ENOSPC, atls_tpm_sign_digest(self->tpm, TK, dg, 32, sig, &slen));
	EXPECT_EQ(-EINVAL, atls_tpm_sign_digest(self->tpm, TK, dg, 31, sig, &slen));
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 50

TEST_F(ev, latency)
{
	double q[ROUNDS], c[ROUNDS], s[ROUNDS], pt[ROUNDS], ps[ROUNDS], ap[ROUNDS], t0;
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_TPM, .ak_handle = AK,
					  .tls_key_handle = TK, .pcr_bank_alg = 0x0b,
					  .pcr_mask = MASK };
	uint8_t *a, *g, sig[80];
	size_t al, gl, sl;
	int i;

	for (i = 0; i < ROUNDS; i++) {
		t0 = now_ms();
		ASSERT_EQ(0, atls_tpm_quote(self->tpm, AK, self->binder, 32, 0x0b, MASK, &a, &al,
					    &g, &gl));
		q[i] = now_ms() - t0;
		free(a);
		free(g);
		t0 = now_ms();
		ASSERT_EQ(0, atls_tpm_certify(self->tpm, TK, AK, self->binder, 32, &a, &al, &g,
					      &gl));
		c[i] = now_ms() - t0;
		free(a);
		free(g);
		sl = sizeof(sig);
		t0 = now_ms();
		ASSERT_EQ(0, atls_tpm_sign_digest(self->tpm, TK, self->binder, 32, sig, &sl));
		s[i] = now_ms() - t0;
		p.key_mode = ATLS_KEY_TPM;
		t0 = now_ms();
		ASSERT_EQ(0, atls_evidence_produce(self->tpm, &p, self->binder, 32, &a, &al));
		pt[i] = now_ms() - t0;
		t0 = now_ms();
		ASSERT_EQ(0, appraise(self, self->pol, a, al, self->binder, 32));
		ap[i] = now_ms() - t0;
		free(a);
		p.key_mode = ATLS_KEY_SOFTWARE;
		t0 = now_ms();
		ASSERT_EQ(0, atls_evidence_produce(self->tpm, &p, self->binder, 32, &a, &al));
		ps[i] = now_ms() - t0;
		free(a);
	}
	qsort(q, ROUNDS, sizeof(double), cmp_d);
	qsort(c, ROUNDS, sizeof(double), cmp_d);
	qsort(s, ROUNDS, sizeof(double), cmp_d);
	qsort(pt, ROUNDS, sizeof(double), cmp_d);
	qsort(ps, ROUNDS, sizeof(double), cmp_d);
	qsort(ap, ROUNDS, sizeof(double), cmp_d);
	TH_LOG("swtpm latency, median of %d (max): quote %.2f (%.2f) ms, certify %.2f "
		       "(%.2f) ms, sign %.2f (%.2f) ms", ROUNDS, q[ROUNDS / 2], q[ROUNDS - 1],
		       c[ROUNDS / 2], c[ROUNDS - 1], s[ROUNDS / 2], s[ROUNDS - 1]);
	TH_LOG("evidence produce: tpm mode %.2f ms, software mode %.2f ms; "
		       "appraise (tpm mode) %.2f ms", pt[ROUNDS / 2], ps[ROUNDS / 2],
		       ap[ROUNDS / 2]);
}

TEST_HARNESS_MAIN
