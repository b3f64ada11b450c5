// SPDX-License-Identifier: Apache-2.0
/*
 * Appraisal of a peer's TPM evidence against the policy
 * (Documentation/evidence.rst, "Appraisal").
 *
 * Order (the first failure decides the reason):
 *  1. CMW and evidence map decode (cmw.c)             -> malformed-evidence,
 *     media type                                      -> evidence-type-rejected
 *  2. evidence type accepted by the policy            -> evidence-type-rejected
 *  3. TPM structures parse, magic and type            -> malformed-evidence
 *  4. kid names a trusted AK (both tokens the same)   -> untrusted-ak
 *  5. every signature verifies with that AK           -> bad-signature
 *  6. extraData == qualifying data of our binder      -> binder-mismatch
 *  7. (KAT) certified name == name(pubArea), pubArea
 *     fixedTPM + sensitiveDataOrigin, and its key is
 *     the certificate's key                           -> key-binding-mismatch
 *  8. quoted bank/selection == policy, pcrDigest one
 *     of that AK's own digests (or, for an AK without
 *     them, of the policy's)                          -> pcr-mismatch
 * Everything is checked before anything is trusted: claims are filled from
 * the parsed quote for the caller's information, but the status is
 * affirming only when all checks passed.  The EAR tiers used are affirming
 * and contraindicated; warning is reserved for softer future checks.
 *
 * The policy is read-only here, so concurrent appraisals need no locking.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "cmw.h"
#include "evidence.h"
#include "policy_int.h"
#include "tpm_parse.h"

struct parsed {
	struct atls_evidence_map ev;
	TPMS_ATTEST quote, cert;
	TPMT_SIGNATURE qsig, csig;
	TPMT_PUBLIC pub;
};

static int verdict(struct atls_appraisal *out, enum atls_reason r, int err, const char *fmt,
		   ...)
{
	va_list ap;

	out->status = r == ATLS_REASON_NONE ? ATLS_EAR_AFFIRMING : ATLS_EAR_CONTRAINDICATED;
	out->reason = r;
	va_start(ap, fmt);
	vsnprintf(out->text, sizeof(out->text), fmt, ap);
	va_end(ap);
	return err;
}

static const struct atls_policy_ak *find_ak(const struct atls_policy *pol, const uint8_t *kid)
{
	unsigned int i;

	if (kid[0] != 0x01)
		return NULL;
	for (i = 0; i < pol->n_aks; i++)
		if (!CRYPTO_memcmp(pol->aks[i].spki_sha256, kid + 1, 32))
			return &pol->aks[i];
	return NULL;
}

static bool extra_is(const TPMS_ATTEST *a, const uint8_t *qd, size_t qdlen)
{
	return a->extraData.size == qdlen && !CRYPTO_memcmp(a->extraData.buffer, qd, qdlen);
}

static int check_key_binding(const struct parsed *ps, const uint8_t *spki, size_t spki_len,
			     const char **why)
{
	const TPMS_CERTIFY_INFO *ci = &ps->cert.attested.certify;
	const TPMA_OBJECT need = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_SENSITIVEDATAORIGIN;
	uint8_t name[34];
	EVP_PKEY *tik = NULL, *peer = NULL;
	const unsigned char *p = spki;
	int err = -EKEYREJECTED;

	atls_tpm_name_sha256(ps->ev.kat.pub_area.b, ps->ev.kat.pub_area.len, name);
	if (ci->name.size != sizeof(name) || CRYPTO_memcmp(ci->name.name, name, sizeof(name))) {
		*why = "certified name is not the name of the presented public area";
		return err;
	}
	if ((ps->pub.objectAttributes & need) != need) {
		*why = "certified key is not fixedTPM + sensitiveDataOrigin";
		return err;
	}
	if (atls_tpm_public_to_pkey(&ps->pub, &tik)) {
		*why = "certified key is not a valid P-256 point";
		return err;
	}
	peer = spki && spki_len ? d2i_PUBKEY(NULL, &p, spki_len) : NULL;
	if (!peer || p != spki + spki_len || EVP_PKEY_eq(tik, peer) != 1)
		*why = "certified key is not the certificate's key";
	else
		err = 0;
	EVP_PKEY_free(peer);
	EVP_PKEY_free(tik);
	return err;
}

/* The quote's PCRs against the policy's selection and the AK's reference values. */
static int check_pcrs(const struct atls_policy *pol, const struct atls_policy_ak *ak,
		      const TPMS_QUOTE_INFO *q, const char **why)
{
	/* An attester with its own reference values is held to those only. */
	const uint8_t (*ref)[32] = ak->n_digests ? ak->digests : pol->digests;
	unsigned int n_ref = ak->n_digests ? ak->n_digests : pol->n_digests;
	const TPMS_PCR_SELECTION *s = &q->pcrSelect.pcrSelections[0];
	uint32_t mask = 0;
	unsigned int i;

	if (q->pcrSelect.count != 1 || s->hash != pol->bank) {
		*why = "quoted PCR bank differs from the policy's";
		return -EKEYREJECTED;
	}
	for (i = 0; i < s->sizeofSelect; i++) {
		if (i >= 3 && s->pcrSelect[i]) {
			*why = "quote selects PCRs above 23";
			return -EKEYREJECTED;
		}
		if (i < 3)
			mask |= (uint32_t)s->pcrSelect[i] << (8 * i);
	}
	if (mask != pol->mask) {
		*why = "quoted PCR selection differs from the policy's";
		return -EKEYREJECTED;
	}
	if (q->pcrDigest.size != 32) {
		*why = "PCR digest has the wrong size";
		return -EKEYREJECTED;
	}
	for (i = 0; i < n_ref; i++)
		if (!CRYPTO_memcmp(q->pcrDigest.buffer, ref[i], 32))
			return 0;
	*why = ak->n_digests ? "PCR digest matches none of this AK's reference values"
			     : "PCR digest matches no reference value";
	return -EKEYREJECTED;
}

static int appraise(const struct atls_policy *pol, struct parsed *ps, const uint8_t *cmw,
		    size_t len, const uint8_t *binder, size_t blen, const uint8_t *spki,
		    size_t spki_len, struct atls_claims *claims, struct atls_appraisal *out)
{
	const struct atls_policy_ak *ak;
	const char *why = NULL;
	uint8_t qd[32];
	size_t qdlen;
	int err;

	/* 1-3: structure. */
	err = atls_cmw_decode(cmw, len, &ps->ev);
	if (err == -EMEDIUMTYPE)
		return verdict(out, ATLS_REASON_EVIDENCE_TYPE_REJECTED, -EKEYREJECTED,
			       "CMW is not %s", "TPM key+platform attestation");
	if (err)
		return verdict(out, ATLS_REASON_MALFORMED_EVIDENCE, -EBADMSG,
			       "CMW/CBOR evidence does not decode (%s)", strerror(-err));
	claims->evidence_type = ps->ev.has_kat ? ATLS_EVIDENCE_TPM2_KAT_PAT : ATLS_EVIDENCE_TPM2_PAT;
	if (!atls_policy_accepts(pol, claims->evidence_type))
		return verdict(out, ATLS_REASON_EVIDENCE_TYPE_REJECTED, -EKEYREJECTED,
			       "evidence type %s not accepted by policy",
			       ps->ev.has_kat ? "tpm-kat-pat" : "tpm-pat");
	if (atls_tpm_parse_attest(ps->ev.pat.attest_info.b, ps->ev.pat.attest_info.len,
				  TPM2_ST_ATTEST_QUOTE, &ps->quote) ||
	    atls_tpm_parse_sig(ps->ev.pat.sig.b, ps->ev.pat.sig.len, &ps->qsig))
		return verdict(out, ATLS_REASON_MALFORMED_EVIDENCE, -EBADMSG,
			       "quote or its signature does not parse");
	if (ps->ev.has_kat &&
	    (atls_tpm_parse_attest(ps->ev.kat.cert_info.b, ps->ev.kat.cert_info.len,
				   TPM2_ST_ATTEST_CERTIFY, &ps->cert) ||
	     atls_tpm_parse_sig(ps->ev.kat.sig.b, ps->ev.kat.sig.len, &ps->csig) ||
	     atls_tpm_parse_public(ps->ev.kat.pub_area.b, ps->ev.kat.pub_area.len, &ps->pub)))
		return verdict(out, ATLS_REASON_MALFORMED_EVIDENCE, -EBADMSG,
			       "certify info, signature or public area does not parse");
	if (ps->ev.has_kat && memcmp(ps->ev.kat.kid, ps->ev.pat.kid, ATLS_KID_LEN))
		return verdict(out, ATLS_REASON_MALFORMED_EVIDENCE, -EBADMSG,
			       "key and platform attestation name different AKs");

	/* Claims: informational until the checks below pass. */
	memcpy(claims->ak_sha256, ps->ev.pat.kid + 1, 32);
	if (ps->quote.attested.quote.pcrSelect.count >= 1) {
		const TPMS_PCR_SELECTION *s = &ps->quote.attested.quote.pcrSelect.pcrSelections[0];

		claims->pcr_bank = s->hash;
		claims->pcr_mask = s->pcrSelect[0] | s->pcrSelect[1] << 8 |
				   (uint32_t)s->pcrSelect[2] << 16;
	}
	claims->pcr_digest_len = ps->quote.attested.quote.pcrDigest.size;
	if (claims->pcr_digest_len > sizeof(claims->pcr_digest))
		claims->pcr_digest_len = sizeof(claims->pcr_digest);
	memcpy(claims->pcr_digest, ps->quote.attested.quote.pcrDigest.buffer,
	       claims->pcr_digest_len);

	/* 4-5: who signed. */
	ak = find_ak(pol, ps->ev.pat.kid);
	if (!ak)
		return verdict(out, ATLS_REASON_AK_UNTRUSTED, -EKEYREJECTED,
			       "evidence is signed by an AK the policy does not trust");
	if (atls_tpm_verify_sig(ak->key, &ps->qsig, ps->ev.pat.attest_info.b,
				ps->ev.pat.attest_info.len))
		return verdict(out, ATLS_REASON_BAD_SIGNATURE, -EKEYREJECTED,
			       "quote signature does not verify with AK %s", ak->name);
	if (ps->ev.has_kat && atls_tpm_verify_sig(ak->key, &ps->csig, ps->ev.kat.cert_info.b,
						  ps->ev.kat.cert_info.len))
		return verdict(out, ATLS_REASON_BAD_SIGNATURE, -EKEYREJECTED,
			       "certify signature does not verify with AK %s", ak->name);

	/* 6: freshness and channel binding. */
	err = atls_qualifying_data(binder, blen, qd, &qdlen);
	if (err)
		return verdict(out, ATLS_REASON_INTERNAL, err, "no binder to appraise against");
	if (!extra_is(&ps->quote, qd, qdlen) ||
	    (ps->ev.has_kat && !extra_is(&ps->cert, qd, qdlen)))
		return verdict(out, ATLS_REASON_FRESHNESS, -EKEYREJECTED,
			       "qualifying data is not this handshake's binder (replay?)");

	/* 7: the TLS key is the certified TPM key. */
	if (ps->ev.has_kat && check_key_binding(ps, spki, spki_len, &why))
		return verdict(out, ATLS_REASON_KEY_BINDING_MISMATCH, -EKEYREJECTED, "%s", why);

	/* 8: platform state. */
	if (check_pcrs(pol, ak, &ps->quote.attested.quote, &why))
		return verdict(out, ATLS_REASON_PCR_MISMATCH, -EKEYREJECTED, "%s", why);

	return verdict(out, ATLS_REASON_NONE, 0, "evidence affirmed (AK %s, %s)", ak->name,
		       ps->ev.has_kat ? "tpm-kat-pat" : "tpm-pat");
}

int atls_evidence_appraise(const struct atls_policy *pol, int peer_role, const uint8_t *cmw,
			   size_t len, const uint8_t *binder, size_t blen,
			   const uint8_t *peer_spki_der, size_t spki_len, struct atls_claims *claims,
			   struct atls_appraisal *out)
{
	struct atls_claims scratch;
	struct parsed *ps;
	int err;

	(void)peer_role;	/* which roles must attest is decided by the caller */
	if (!claims)
		claims = &scratch;
	memset(claims, 0, sizeof(*claims));
	memset(out, 0, sizeof(*out));
	if (!pol || !cmw)
		return verdict(out, ATLS_REASON_INTERNAL, -EINVAL, "no policy or no evidence");
	ps = malloc(sizeof(*ps));
	if (!ps)
		return verdict(out, ATLS_REASON_INTERNAL, -ENOMEM, "out of memory");
	err = appraise(pol, ps, cmw, len, binder, blen, peer_spki_der, spki_len, claims, out);
	free(ps);
	return err;
}
