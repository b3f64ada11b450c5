// SPDX-License-Identifier: Apache-2.0
/*
 * TPM structures from the network: TPMS_ATTEST, TPMT_SIGNATURE, TPMT_PUBLIC.
 *
 * The unmarshalling itself is tpm2-tss's Tss2_MU (bounds-checked against the
 * buffer and the TPM2B maximum sizes).  On top of it we insist that the whole
 * buffer is consumed and that every field we later rely on has exactly the
 * value or range our profile allows, so the appraiser never sees a structure
 * it did not expect: ECDSA/SHA-256 signatures, ECC P-256 keys, the
 * TPM_GENERATED magic and the attestation type asked for.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "tpm_parse.h"

/*
 * Tss2_MU_<type>_Unmarshal() of the len bytes at b into *out (zeroed first):
 * true when tpm2-tss accepts them and they are all used.
 */
#define UNMARSHAL_WHOLE(type, b, len, out)						\
	({										\
		size_t off_ = 0;							\
											\
		memset((out), 0, sizeof(*(out)));					\
		(b) && (len) &&								\
			Tss2_MU_##type##_Unmarshal((b), (len), &off_, (out)) ==		\
				TSS2_RC_SUCCESS &&					\
			off_ == (len);							\
	})

int atls_tpm_parse_attest(const uint8_t *b, size_t len, uint16_t type, TPMS_ATTEST *out)
{
	if (!UNMARSHAL_WHOLE(TPMS_ATTEST, b, len, out))
		return -EBADMSG;
	if (out->magic != TPM2_GENERATED_VALUE || out->type != type)
		return -EBADMSG;
	if (type == TPM2_ST_ATTEST_QUOTE && out->attested.quote.pcrSelect.count > TPM2_NUM_PCR_BANKS)
		return -EBADMSG;
	return 0;
}

int atls_tpm_parse_sig(const uint8_t *b, size_t len, TPMT_SIGNATURE *out)
{
	if (!UNMARSHAL_WHOLE(TPMT_SIGNATURE, b, len, out))
		return -EBADMSG;
	if (out->sigAlg != TPM2_ALG_ECDSA || out->signature.ecdsa.hash != TPM2_ALG_SHA256)
		return -EBADMSG;
	if (out->signature.ecdsa.signatureR.size == 0 || out->signature.ecdsa.signatureR.size > 32 ||
	    out->signature.ecdsa.signatureS.size == 0 || out->signature.ecdsa.signatureS.size > 32)
		return -EBADMSG;
	return 0;
}

int atls_tpm_parse_public(const uint8_t *b, size_t len, TPMT_PUBLIC *out)
{
	if (!UNMARSHAL_WHOLE(TPMT_PUBLIC, b, len, out))
		return -EBADMSG;
	if (out->type != TPM2_ALG_ECC || out->nameAlg != TPM2_ALG_SHA256 ||
	    out->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
	    out->unique.ecc.x.size != 32 || out->unique.ecc.y.size != 32)
		return -EBADMSG;
	return 0;
}

int atls_tpm_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **out)
{
	unsigned char point[65];
	char group[] = "prime256v1";
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx, *chk;
	EVP_PKEY *pkey = NULL;
	int err = -EBADMSG;

	*out = NULL;
	if (pub->type != TPM2_ALG_ECC || pub->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
	    pub->unique.ecc.x.size != 32 || pub->unique.ecc.y.size != 32)
		return -EBADMSG;
	point[0] = POINT_CONVERSION_UNCOMPRESSED;
	memcpy(point + 1, pub->unique.ecc.x.buffer, 32);
	memcpy(point + 33, pub->unique.ecc.y.buffer, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
						       sizeof(point));
	params[2] = OSSL_PARAM_construct_end();

	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx)
		return -ENOMEM;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out_ctx;
	/* A hostile point off the curve must not reach signature verification. */
	chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!chk || EVP_PKEY_public_check(chk) != 1) {
		EVP_PKEY_CTX_free(chk);
		EVP_PKEY_free(pkey);
		goto out_ctx;
	}
	EVP_PKEY_CTX_free(chk);
	*out = pkey;
	err = 0;
out_ctx:
	EVP_PKEY_CTX_free(ctx);
	return err;
}

int atls_pkey_spki_sha256(EVP_PKEY *pkey, uint8_t out[32])
{
	unsigned char *der = NULL;
	int len;

	len = i2d_PUBKEY(pkey, &der);
	if (len <= 0)
		return -EINVAL;
	SHA256(der, len, out);
	OPENSSL_free(der);
	return 0;
}

void atls_tpm_name_sha256(const uint8_t *pub, size_t len, uint8_t name[34])
{
	name[0] = TPM2_ALG_SHA256 >> 8;
	name[1] = TPM2_ALG_SHA256 & 0xff;
	SHA256(pub, len, name + 2);
}

int atls_tpm_verify_sig(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const uint8_t *msg,
			size_t len)
{
	const TPMS_SIGNATURE_ECDSA *e = &sig->signature.ecdsa;
	unsigned char der[80], *p = der;
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	EVP_MD_CTX *md;
	int dlen, err = -EKEYREJECTED;

	if (sig->sigAlg != TPM2_ALG_ECDSA || e->hash != TPM2_ALG_SHA256)
		return -EKEYREJECTED;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
	s = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -ENOMEM;
	}
	dlen = i2d_ECDSA_SIG(es, NULL);
	if (dlen <= 0 || dlen > (int)sizeof(der)) {
		ECDSA_SIG_free(es);
		return -EKEYREJECTED;
	}
	dlen = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);

	md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, der, dlen, msg, len) == 1)
		err = 0;
	EVP_MD_CTX_free(md);
	return err;
}
