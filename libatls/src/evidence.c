// SPDX-License-Identifier: Apache-2.0
/*
 * Evidence production: the attester side of Documentation/evidence.rst, "Evidence".
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
 * holds malloc'ed copies of the outputs until they are CBOR-encoded. The
 * record is built in two steps (attester.h) that the batcher (batch.c)
 * shares: ids once, then a quote (+ certify) per batch root.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include "attester.h"
#include "cmw.h"
#include "evidence.h"
#include "tpm_int.h"
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

/* An attestation structure and its signature, as the TPM returned them. */
static int blob_take_pair(struct atls_blob *info, uint8_t *a, size_t alen,
			  struct atls_blob *sig, uint8_t *s, size_t slen)
{
	int err = blob_take(info, a, alen);

	return blob_take(sig, s, slen) ?: err;
}

int atls_attester_check(const struct atls_evidence_params *p)
{
	if (!p || (p->key_mode != ATLS_KEY_TPM && p->key_mode != ATLS_KEY_SOFTWARE) ||
	    p->pcr_bank_alg != TPM2_ALG_SHA256 || !p->pcr_mask || p->pcr_mask >> 24)
		return -EINVAL;
	return 0;
}

int atls_attester_ids(struct atls_tpm *t, const struct atls_evidence_params *p,
		      struct atls_attester_ids *ids)
{
	TPM2B_PUBLIC pub;
	EVP_PKEY *k;
	size_t off = 0;
	int err;

	memset(ids, 0, sizeof(*ids));
	err = atls_tpm_read_public(t, p->ak_handle, &pub);
	if (err)
		return err;
	if (!(pub.publicArea.objectAttributes & TPMA_OBJECT_RESTRICTED) ||
	    !(pub.publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
		return -EINVAL;	/* not an AK: quotes would be forgeable */
	if (atls_tpm_public_to_pkey(&pub.publicArea, &k))
		return -EINVAL;
	ids->kid[0] = 0x01;		/* UEID type RAND */
	err = atls_pkey_spki_sha256(k, ids->kid + 1);
	EVP_PKEY_free(k);
	if (err || p->key_mode != ATLS_KEY_TPM)
		return err;
	err = atls_tpm_read_public(t, p->tls_key_handle, &pub);
	if (err)
		return err;
	if (Tss2_MU_TPMT_PUBLIC_Marshal(&pub.publicArea, ids->pub_area.b,
					sizeof(ids->pub_area.b), &off))
		return -EIO;
	ids->pub_area.len = off;
	return 0;
}

int atls_attester_record(struct atls_tpm *t, const struct atls_evidence_params *p,
			 const struct atls_attester_ids *ids, const uint8_t *qd, size_t qdlen,
			 uint8_t **cmw, size_t *cmw_len)
{
	struct atls_evidence_map *ev;
	uint8_t *a, *s;
	size_t alen, slen;
	int err;

	*cmw = NULL;
	*cmw_len = 0;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	memcpy(ev->pat.kid, ids->kid, ATLS_KID_LEN);
	err = atls_tpm_quote(t, p->ak_handle, qd, qdlen, p->pcr_bank_alg, p->pcr_mask, &a, &alen,
			     &s, &slen);
	if (err)
		goto out_ev;
	err = blob_take_pair(&ev->pat.attest_info, a, alen, &ev->pat.sig, s, slen);
	if (err)
		goto out_ev;
	if (p->key_mode == ATLS_KEY_TPM) {
		ev->has_kat = true;
		memcpy(ev->kat.kid, ids->kid, ATLS_KID_LEN);
		ev->kat.pub_area = ids->pub_area;
		err = atls_tpm_certify(t, p->tls_key_handle, p->ak_handle, qd, qdlen, &a, &alen,
				       &s, &slen);
		if (err)
			goto out_ev;
		err = blob_take_pair(&ev->kat.cert_info, a, alen, &ev->kat.sig, s, slen);
		if (err)
			goto out_ev;
	}
	err = atls_cmw_encode(ev, cmw, cmw_len);
out_ev:
	free(ev);
	return err;
}

int atls_evidence_produce(struct atls_tpm *t, const struct atls_evidence_params *p,
			  const uint8_t *binder, size_t blen, uint8_t **cmw, size_t *cmw_len)
{
	struct atls_attester_ids ids;
	uint8_t qd[32];
	size_t qdlen;
	int err;

	*cmw = NULL;
	*cmw_len = 0;
	if (!t || atls_attester_check(p))
		return -EINVAL;
	err = atls_qualifying_data(binder, blen, qd, &qdlen);
	if (err)
		return err;
	err = atls_attester_ids(t, p, &ids);
	if (err)
		return err;
	return atls_attester_record(t, p, &ids, qd, qdlen, cmw, cmw_len);
}
