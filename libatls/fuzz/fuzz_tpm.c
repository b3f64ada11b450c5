// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: TPM structure parsing (tpm_parse.c) and the whole
 * appraisal path (appraise.c) behind it.
 *
 * LLVMFuzzerInitialize() makes a software "AK" and "TLS key", a policy
 * trusting that AK, and a fully valid KAT+PAT evidence record signed with it
 * (marshalled with Tss2_MU exactly as a TPM would), and checks that it is
 * affirmed: so the fuzzer starts from input that reaches every check.
 * The first input byte selects the target:
 *   0: atls_evidence_appraise() of the rest   1: TPMS_ATTEST (quote)
 *   2: TPMS_ATTEST (certify)   3: TPMT_SIGNATURE   4: TPMT_PUBLIC (+ to EVP_PKEY)
 * With ATLS_FUZZ_SEED_DIR set, one valid seed per selector is written there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include <atls/policy.h>

#include "../src/cmw.h"
#include "../src/evidence.h"
#include "../src/tpm_parse.h"
#include "fuzz.h"

static struct atls_policy *pol;
static uint8_t binder[32] = { 0xb1, 0xd2 };
static unsigned char *spki;
static int spki_len;
static uint8_t seed_q[1024], seed_c[1024], seed_s[256], seed_p[512], *seed_cmw;
static size_t seed_q_len, seed_c_len, seed_s_len, seed_p_len, seed_cmw_len;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_tpm init: %s\n", what);
	abort();
}

static void sign(EVP_PKEY *ak, const uint8_t *msg, size_t len, uint8_t *out, size_t *olen)
{
	unsigned char der[80];
	const unsigned char *p = der;
	size_t dlen = sizeof(der), off = 0;
	TPMT_SIGNATURE s = { .sigAlg = TPM2_ALG_ECDSA };
	const BIGNUM *r, *ss;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es;

	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ak) != 1 ||
	    EVP_DigestSign(md, der, &dlen, msg, len) != 1)
		die("sign");
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, dlen);
	if (!es)
		die("sig der");
	ECDSA_SIG_get0(es, &r, &ss);
	s.signature.ecdsa.hash = TPM2_ALG_SHA256;
	s.signature.ecdsa.signatureR.size = BN_bn2bin(r, s.signature.ecdsa.signatureR.buffer);
	s.signature.ecdsa.signatureS.size = BN_bn2bin(ss, s.signature.ecdsa.signatureS.buffer);
	ECDSA_SIG_free(es);
	if (Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out, 256, &off))
		die("sig marshal");
	*olen = off;
}

static void tpm_public(EVP_PKEY *k, uint8_t *out, size_t *olen)
{
	TPMT_PUBLIC p = { .type = TPM2_ALG_ECC, .nameAlg = TPM2_ALG_SHA256 };
	BIGNUM *x = NULL, *y = NULL;
	size_t off = 0;

	p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
			     TPMA_OBJECT_SIGN_ENCRYPT;
	p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	if (!EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
		die("point");
	p.unique.ecc.x.size = 32;
	p.unique.ecc.y.size = 32;
	BN_bn2binpad(x, p.unique.ecc.x.buffer, 32);
	BN_bn2binpad(y, p.unique.ecc.y.buffer, 32);
	BN_free(x);
	BN_free(y);
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&p, out, 512, &off))
		die("public marshal");
	*olen = off;
}

static void attest(uint16_t type, const uint8_t *name, uint8_t *out, size_t *olen)
{
	TPMS_ATTEST a = { .magic = TPM2_GENERATED_VALUE, .type = type };
	size_t off = 0;

	a.qualifiedSigner.size = 34;
	a.extraData.size = 32;
	memcpy(a.extraData.buffer, binder, 32);
	a.clockInfo.clock = 12345;
	a.clockInfo.safe = 1;
	if (type == TPM2_ST_ATTEST_QUOTE) {
		a.attested.quote.pcrSelect.count = 1;
		a.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
		a.attested.quote.pcrSelect.pcrSelections[0].sizeofSelect = 3;
		a.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[0] = 0x01;
		a.attested.quote.pcrDigest.size = 32;	/* all zero = the policy digest */
	} else {
		a.attested.certify.name.size = 34;
		memcpy(a.attested.certify.name.name, name, 34);
		a.attested.certify.qualifiedName.size = 34;
	}
	if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out, 1024, &off))
		die("attest marshal");
	*olen = off;
}

static void make_policy(EVP_PKEY *ak)
{
	char text[4096], pem[1024], esc[1200], *s, *d, err[200];
	BIO *b = BIO_new(BIO_s_mem());
	long n;

	if (!b || !PEM_write_bio_PUBKEY(b, ak))
		die("pem");
	n = BIO_get_mem_data(b, &s);
	memcpy(pem, s, n);
	pem[n] = 0;
	BIO_free(b);
	for (s = pem, d = esc; *s; s++) {
		if (*s == '\n')
			*d++ = '\\', *d++ = 'n';
		else
			*d++ = *s;
	}
	*d = 0;
	snprintf(text, sizeof(text),
		 "version = 1;\ntrusted-aks = ( { name = \"fuzz\"; pem = \"%s\"; } );\n"
		 "pcrs = { bank = \"sha256\"; selection = [0]; digests = [ \"%064d\" ]; };\n"
		 "evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n", esc, 0);
	if (atls_policy_parse(text, NULL, &pol, err, sizeof(err)))
		die(err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *ak = EVP_EC_gen("P-256"), *tik = EVP_EC_gen("P-256");
	struct atls_evidence_map ev = { .has_kat = true };
	struct atls_appraisal ap;
	struct atls_claims cl;
	const char *dir;
	uint8_t name[34];

	(void)argc;
	(void)argv;
	/* Tss2_MU logs every rejected structure; that is the normal case here. */
	setenv("TSS2_LOG", "all+none", 0);
	if (!ak || !tik)
		die("keygen");
	make_policy(ak);
	spki_len = i2d_PUBKEY(tik, &spki);

	ev.pat.kid[0] = 0x01;
	if (atls_pkey_spki_sha256(ak, ev.pat.kid + 1))
		die("kid");
	memcpy(ev.kat.kid, ev.pat.kid, ATLS_KID_LEN);
	tpm_public(tik, seed_p, &seed_p_len);
	atls_tpm_name_sha256(seed_p, seed_p_len, name);
	attest(TPM2_ST_ATTEST_QUOTE, NULL, seed_q, &seed_q_len);
	attest(TPM2_ST_ATTEST_CERTIFY, name, seed_c, &seed_c_len);
	sign(ak, seed_q, seed_q_len, seed_s, &seed_s_len);
	memcpy(ev.pat.attest_info.b, seed_q, seed_q_len);
	ev.pat.attest_info.len = seed_q_len;
	memcpy(ev.pat.sig.b, seed_s, seed_s_len);
	ev.pat.sig.len = seed_s_len;
	memcpy(ev.kat.cert_info.b, seed_c, seed_c_len);
	ev.kat.cert_info.len = seed_c_len;
	sign(ak, seed_c, seed_c_len, ev.kat.sig.b, &ev.kat.sig.len);
	memcpy(ev.kat.pub_area.b, seed_p, seed_p_len);
	ev.kat.pub_area.len = seed_p_len;
	if (atls_cmw_encode(&ev, &seed_cmw, &seed_cmw_len))
		die("encode");
	if (atls_evidence_appraise(pol, ATLS_ROLE_SERVER, seed_cmw, seed_cmw_len, binder, 32, spki,
				   spki_len, &cl, &ap))
		die(ap.text);	/* the seed must reach the end of the appraisal */
	EVP_PKEY_free(ak);
	EVP_PKEY_free(tik);

	dir = getenv("ATLS_FUZZ_SEED_DIR");
	if (dir) {
		tl_fuzz_seed(dir, "seed-appraise", 0, seed_cmw, seed_cmw_len);
		tl_fuzz_seed(dir, "seed-quote", 1, seed_q, seed_q_len);
		tl_fuzz_seed(dir, "seed-certify", 2, seed_c, seed_c_len);
		tl_fuzz_seed(dir, "seed-sig", 3, seed_s, seed_s_len);
		tl_fuzz_seed(dir, "seed-public", 4, seed_p, seed_p_len);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atls_appraisal ap;
	struct atls_claims cl;
	TPMT_SIGNATURE sig;
	TPMT_PUBLIC pub;
	TPMS_ATTEST a;
	EVP_PKEY *k;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (!atls_evidence_appraise(pol, ATLS_ROLE_SERVER, data + 1, size - 1, binder, 32,
					    spki, spki_len, &cl, &ap) &&
		    ap.status != ATLS_EAR_AFFIRMING)
			abort();
		break;
	case 1:
		(void)atls_tpm_parse_attest(data + 1, size - 1, TPM2_ST_ATTEST_QUOTE, &a);
		break;
	case 2:
		(void)atls_tpm_parse_attest(data + 1, size - 1, TPM2_ST_ATTEST_CERTIFY, &a);
		break;
	case 3:
		(void)atls_tpm_parse_sig(data + 1, size - 1, &sig);
		break;
	default:
		if (!atls_tpm_parse_public(data + 1, size - 1, &pub) &&
		    !atls_tpm_public_to_pkey(&pub, &k))
			EVP_PKEY_free(k);
		break;
	}
	return 0;
}
