// SPDX-License-Identifier: Apache-2.0
/*
 * Evidence production: the attester side of protocol.md §7.6.
 *
 * For one handshake binder:
 *   key mode tpm:      KAT = TPM2_Certify(TLS key, AK, qd) + PAT = TPM2_Quote(AK, qd, PCRs)
 *   key mode software: PAT only; the binder already covers the certificate's
 *                      SPKI, so the quote binds the in-memory key.
 * qd is the binder, or SHA-256(binder) when the binder is longer than 32
 * bytes (SHA-384 suites): TPM_PT_MAX_DIGEST is 32 on SHA-256-only TPMs.
 * kid = 0x01 || SHA-256(DER SPKI of the AK) is how the appraiser finds the AK
 * in its policy; it is only a hint, the signatures decide.
 *
 * All TPM work goes through the TPM owner's queue (tpm_ops.c); this file only
 * holds malloc'ed copies of the outputs until they are CBOR-encoded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include "cmw.h"
#include "evidence.h"
#include "tpm.h"
#include "tpm_parse.h"

int atls_qualifying_data(const uint8_t *binder, size_t blen, uint8_t qd[32], size_t *qdlen)
{
	if (!binder || !blen)
		return -EINVAL;
	if (blen <= 32) {
		memcpy(qd, binder, blen);
		*qdlen = blen;
	} else {
		SHA256(binder, blen, qd);
		*qdlen = 32;
	}
	return 0;
}

static int blob_take(struct atls_blob *dst, uint8_t *src, size_t len)
{
	int err = 0;

	if (len > sizeof(dst->b))
		err = -E2BIG;
	else
		memcpy(dst->b, src, len), dst->len = len;
	free(src);
	return err;
}

static int ak_kid(struct atls_tpm *t, uint32_t ak_handle, uint8_t kid[ATLS_KID_LEN])
{
	TPM2B_PUBLIC pub;
	EVP_PKEY *k;
	int err;

	err = atls_tpm_read_public(t, ak_handle, &pub);
	if (err)
		return err;
	if (!(pub.publicArea.objectAttributes & TPMA_OBJECT_RESTRICTED) ||
	    !(pub.publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
		return -EINVAL;	/* not an AK: quotes would be forgeable */
	err = atls_tpm_public_to_pkey(&pub.publicArea, &k);
	if (err)
		return -EINVAL;
	kid[0] = 0x01;		/* UEID type RAND */
	err = atls_pkey_spki_sha256(k, kid + 1);
	EVP_PKEY_free(k);
	return err;
}

int atls_evidence_produce(struct atls_tpm *t, const struct atls_evidence_params *p,
			  const uint8_t *binder, size_t blen, uint8_t **cmw, size_t *cmw_len)
{
	struct atls_evidence_map *ev;
	uint8_t qd[32], *a, *s;
	size_t qdlen, alen, slen;
	int err;

	*cmw = NULL;
	*cmw_len = 0;
	if (!t || !p || (p->key_mode != ATLS_KEY_TPM && p->key_mode != ATLS_KEY_SOFTWARE) ||
	    p->pcr_bank_alg != TPM2_ALG_SHA256 || !p->pcr_mask || p->pcr_mask >> 24)
		return -EINVAL;
	err = atls_qualifying_data(binder, blen, qd, &qdlen);
	if (err)
		return err;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;

	err = ak_kid(t, p->ak_handle, ev->pat.kid);
	if (err)
		goto out_ev;
	err = atls_tpm_quote(t, p->ak_handle, qd, qdlen, p->pcr_bank_alg, p->pcr_mask, &a, &alen,
			     &s, &slen);
	if (err)
		goto out_ev;
	err = blob_take(&ev->pat.attest_info, a, alen);
	err = blob_take(&ev->pat.sig, s, slen) ?: err;
	if (err)
		goto out_ev;

	if (p->key_mode == ATLS_KEY_TPM) {
		TPM2B_PUBLIC pub;
		size_t off = 0;

		ev->has_kat = true;
		memcpy(ev->kat.kid, ev->pat.kid, ATLS_KID_LEN);
		err = atls_tpm_read_public(t, p->tls_key_handle, &pub);
		if (err)
			goto out_ev;
		if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, ev->kat.pub_area.b,
						sizeof(ev->kat.pub_area.b), &off)) {
			err = -EIO;
			goto out_ev;
		}
		ev->kat.pub_area.len = off;
		err = atls_tpm_certify(t, p->tls_key_handle, p->ak_handle, qd, qdlen, &a, &alen,
				       &s, &slen);
		if (err)
			goto out_ev;
		err = blob_take(&ev->kat.cert_info, a, alen);
		err = blob_take(&ev->kat.sig, s, slen) ?: err;
		if (err)
			goto out_ev;
	}
	err = atls_cmw_encode(ev, cmw, cmw_len);
out_ev:
	free(ev);
	return err;
}
