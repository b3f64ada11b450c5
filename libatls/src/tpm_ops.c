// SPDX-License-Identifier: Apache-2.0
/*
 * The TPM commands libatls issues at handshake time: Sign (CertificateVerify
 * in key mode tpm), Quote and Certify (evidence), ReadPublic, and PCR
 * Read/Extend (tests and tools).  Each public function packs its arguments
 * into a struct on the caller's stack and hands a callback to the worker
 * (atls_tpm_call()); the callback runs on the worker thread, the only one
 * that touches the ESYS context.  Output buffers allocated by ESYS are freed
 * on the worker before returning; what the caller receives is malloc'ed
 * marshalled bytes it owns.
 *
 * All keys are persistent and authorised with a password session: the
 * empty value, or the one set with atls_tpm_set_key_auth() (tpm.c applies it
 * to the key's ESYS_TR), so no transient object or session is created here
 * and nothing needs flushing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "tpm_int.h"

static int marshal_attest(const TPM2B_ATTEST *a, const TPMT_SIGNATURE *s, uint8_t **attest,
			  size_t *alen, uint8_t **sig, size_t *slen)
{
	uint8_t buf[sizeof(TPMT_SIGNATURE)];
	size_t off = 0;

	if (Tss2_MU_TPMT_SIGNATURE_Marshal(s, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
		return -EIO;
	*attest = malloc(a->size ? a->size : 1);
	*sig = malloc(off);
	if (!*attest || !*sig) {
		free(*attest);
		free(*sig);
		*attest = *sig = NULL;
		return -ENOMEM;
	}
	memcpy(*attest, a->attestationData, a->size);
	*alen = a->size;
	memcpy(*sig, buf, off);
	*slen = off;
	return 0;
}

static int fill_qd(TPM2B_DATA *d, const uint8_t *qd, size_t qdlen)
{
	if (qdlen > sizeof(d->buffer))
		return -EINVAL;
	d->size = qdlen;
	if (qdlen)
		memcpy(d->buffer, qd, qdlen);
	return 0;
}

/* ------------------------------------------------------------------ sign */

struct sign_args {
	uint32_t handle;
	const uint8_t *dgst;
	size_t dlen;
	uint8_t *out;
	size_t *outlen;
};

static int do_sign(struct atls_tpm *t, void *arg)
{
	struct sign_args *a = arg;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA,
				   .details.ecdsa.hashAlg = TPM2_ALG_SHA256 };
	TPMT_TK_HASHCHECK check = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_DIGEST d = { .size = a->dlen };
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p;
	ESYS_TR key;
	int len, err;

	memcpy(d.buffer, a->dgst, a->dlen);
	err = atls_tpm_object(t, a->handle, &key);
	if (err)
		return err;
	err = atls_tpm_rc_errno(Esys_Sign(atls_tpm_esys(t), key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					  ESYS_TR_NONE, &d, &scheme, &check, &sig));
	if (err)
		return err;
	if (sig->sigAlg != TPM2_ALG_ECDSA) {
		err = -EIO;
		goto out_sig;
	}
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig->signature.ecdsa.signatureR.buffer, sig->signature.ecdsa.signatureR.size,
		      NULL);
	s = BN_bin2bn(sig->signature.ecdsa.signatureS.buffer, sig->signature.ecdsa.signatureS.size,
		      NULL);
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
		BN_free(r);
		BN_free(s);
		err = -ENOMEM;
		goto out_es;
	}
	len = i2d_ECDSA_SIG(es, NULL);
	if (len <= 0 || (size_t)len > *a->outlen) {
		err = -ENOSPC;
		goto out_es;
	}
	p = a->out;
	*a->outlen = i2d_ECDSA_SIG(es, &p);
out_es:
	ECDSA_SIG_free(es);
out_sig:
	Esys_Free(sig);
	return err;
}

int atls_tpm_sign_digest(struct atls_tpm *t, uint32_t key_handle, const uint8_t *dgst,
			 size_t dlen, uint8_t *sig_der, size_t *sig_len)
{
	struct sign_args a = { key_handle, dgst, dlen, sig_der, sig_len };

	if (dlen != 32 || !sig_der || !sig_len)
		return -EINVAL;
	return atls_tpm_call(t, do_sign, &a);
}

/* ----------------------------------------------------------- read public */

struct pub_args {
	uint32_t handle;
	TPM2B_PUBLIC *pub;
};

static int do_read_public(struct atls_tpm *t, void *arg)
{
	struct pub_args *a = arg;
	TPM2B_PUBLIC *pub = NULL;
	ESYS_TR obj;
	int err;

	err = atls_tpm_object(t, a->handle, &obj);
	if (err)
		return err;
	err = atls_tpm_rc_errno(Esys_ReadPublic(atls_tpm_esys(t), obj, ESYS_TR_NONE, ESYS_TR_NONE,
						ESYS_TR_NONE, &pub, NULL, NULL));
	if (err)
		return err;
	*a->pub = *pub;
	Esys_Free(pub);
	return 0;
}

int atls_tpm_read_public(struct atls_tpm *t, uint32_t handle, TPM2B_PUBLIC *pub)
{
	struct pub_args a = { handle, pub };

	return atls_tpm_call(t, do_read_public, &a);
}

int atls_tpm_key_present(struct atls_tpm *t, uint32_t handle)
{
	TPM2B_PUBLIC pub;

	return atls_tpm_read_public(t, handle, &pub);
}

/* ------------------------------------------------------- quote / certify */

struct attest_args {
	uint32_t key, ak;
	const uint8_t *qd;
	size_t qdlen;
	uint16_t bank;
	uint32_t mask;
	uint8_t **attest, **sig;
	size_t *alen, *slen;
};

/* The TPM's answer rc to a Quote or a Certify: the attest structure and the
 * signature marshalled into a's buffers.  Frees both. */
static int attest_out(TSS2_RC rc, TPM2B_ATTEST *att, TPMT_SIGNATURE *sig, struct attest_args *a)
{
	int err = atls_tpm_rc_errno(rc);

	if (!err)
		err = marshal_attest(att, sig, a->attest, a->alen, a->sig, a->slen);
	Esys_Free(att);
	Esys_Free(sig);
	return err;
}

static int do_quote(struct atls_tpm *t, void *arg)
{
	struct attest_args *a = arg;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPML_PCR_SELECTION sel = { .count = 1 };
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_ATTEST *quoted = NULL;
	TPM2B_DATA qd;
	TSS2_RC rc;
	ESYS_TR ak;
	int err;

	err = fill_qd(&qd, a->qd, a->qdlen);
	if (err)
		return err;
	sel.pcrSelections[0].hash = a->bank;
	sel.pcrSelections[0].sizeofSelect = 3;
	sel.pcrSelections[0].pcrSelect[0] = a->mask & 0xff;
	sel.pcrSelections[0].pcrSelect[1] = (a->mask >> 8) & 0xff;
	sel.pcrSelections[0].pcrSelect[2] = (a->mask >> 16) & 0xff;
	err = atls_tpm_object(t, a->ak, &ak);
	if (err)
		return err;
	rc = Esys_Quote(atls_tpm_esys(t), ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qd,
			&scheme, &sel, &quoted, &sig);
	return attest_out(rc, quoted, sig, a);
}

int atls_tpm_quote(struct atls_tpm *t, uint32_t ak_handle, const uint8_t *qd, size_t qdlen,
		   uint16_t bank, uint32_t mask, uint8_t **attest, size_t *alen, uint8_t **sig,
		   size_t *slen)
{
	struct attest_args a = { .ak = ak_handle, .qd = qd, .qdlen = qdlen, .bank = bank,
				 .mask = mask, .attest = attest, .alen = alen, .sig = sig,
				 .slen = slen };

	if (mask == 0 || mask >> 24)
		return -EINVAL;
	return atls_tpm_call(t, do_quote, &a);
}

static int do_certify(struct atls_tpm *t, void *arg)
{
	struct attest_args *a = arg;
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL };
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_ATTEST *info = NULL;
	TPM2B_DATA qd;
	ESYS_TR key, ak;
	TSS2_RC rc;
	int err;

	err = fill_qd(&qd, a->qd, a->qdlen);
	if (err)
		return err;
	err = atls_tpm_object(t, a->key, &key);
	if (!err)
		err = atls_tpm_object(t, a->ak, &ak);
	if (err)
		return err;
	/* Certify needs the ADMIN role of the object and USER of the signer. */
	rc = Esys_Certify(atls_tpm_esys(t), key, ak, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD,
			  ESYS_TR_NONE, &qd, &scheme, &info, &sig);
	return attest_out(rc, info, sig, a);
}

int atls_tpm_certify(struct atls_tpm *t, uint32_t key_handle, uint32_t ak_handle,
		     const uint8_t *qd, size_t qdlen, uint8_t **attest, size_t *alen,
		     uint8_t **sig, size_t *slen)
{
	struct attest_args a = { .key = key_handle, .ak = ak_handle, .qd = qd, .qdlen = qdlen,
				 .attest = attest, .alen = alen, .sig = sig, .slen = slen };

	return atls_tpm_call(t, do_certify, &a);
}

/* ------------------------------------------------------------------ PCRs */

struct pcr_args {
	unsigned int pcr;
	const uint8_t *dgst;
	uint32_t mask;
	uint8_t (*vals)[32];
	unsigned int *n;
};

static int do_pcr_extend(struct atls_tpm *t, void *arg)
{
	struct pcr_args *a = arg;
	TPML_DIGEST_VALUES v = { .count = 1 };

	v.digests[0].hashAlg = TPM2_ALG_SHA256;
	memcpy(v.digests[0].digest.sha256, a->dgst, 32);
	return atls_tpm_rc_errno(Esys_PCR_Extend(atls_tpm_esys(t), ESYS_TR_PCR0 + a->pcr,
						 ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &v));
}

int atls_tpm_pcr_extend(struct atls_tpm *t, unsigned int pcr, const uint8_t dgst[32])
{
	struct pcr_args a = { .pcr = pcr, .dgst = dgst };

	if (pcr > 23)
		return -EINVAL;
	return atls_tpm_call(t, do_pcr_extend, &a);
}

/*
 * PCR_Read returns at most 8 digests per call: read in rounds, clearing from
 * the request what each round returned.
 */
static int do_pcr_read(struct atls_tpm *t, void *arg)
{
	struct pcr_args *a = arg;
	uint32_t want = a->mask;
	unsigned int n = 0;

	while (want) {
		TPML_PCR_SELECTION in = { .count = 1 }, *out = NULL;
		TPML_DIGEST *vals = NULL;
		uint32_t got, i, k = 0;
		int err;

		in.pcrSelections[0].hash = TPM2_ALG_SHA256;
		in.pcrSelections[0].sizeofSelect = 3;
		in.pcrSelections[0].pcrSelect[0] = want & 0xff;
		in.pcrSelections[0].pcrSelect[1] = (want >> 8) & 0xff;
		in.pcrSelections[0].pcrSelect[2] = (want >> 16) & 0xff;
		err = atls_tpm_rc_errno(Esys_PCR_Read(atls_tpm_esys(t), ESYS_TR_NONE, ESYS_TR_NONE,
						      ESYS_TR_NONE, &in, NULL, &out, &vals));
		if (err)
			return err;
		got = 0;
		if (out->count == 1)
			got = out->pcrSelections[0].pcrSelect[0] |
			      out->pcrSelections[0].pcrSelect[1] << 8 |
			      out->pcrSelections[0].pcrSelect[2] << 16;
		got &= want;
		for (i = 0; i < 24; i++) {
			if (!(got & (1u << i)))
				continue;
			if (k >= vals->count || vals->digests[k].size != 32) {
				err = -EIO;
				break;
			}
			memcpy(a->vals[n++], vals->digests[k++].buffer, 32);
		}
		Esys_Free(out);
		Esys_Free(vals);
		if (err)
			return err;
		if (!got)
			return -EIO;
		want &= ~got;
	}
	*a->n = n;
	return 0;
}

int atls_tpm_pcr_read(struct atls_tpm *t, uint32_t mask, uint8_t (*vals)[32], unsigned int *n)
{
	struct pcr_args a = { .mask = mask, .vals = vals, .n = n };

	if (mask >> 24)
		return -EINVAL;
	return atls_tpm_call(t, do_pcr_read, &a);
}
