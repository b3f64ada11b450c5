/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seam between the TLS handshake half of libatls and its TPM/evidence
 * half.  The handshake code (ext.c, binder, keys) calls only what is declared
 * here; everything TPM, CMW, CBOR and policy related lives behind it.
 *
 * struct atls_tpm is the one owner of the ESYS context: a worker thread with
 * a request queue (tpm.c).  Every function taking a struct atls_tpm * may be
 * called from any thread; calls are serialised by the queue and block until
 * the TPM has answered.  atls_tpm_close() must not race with other calls.
 *
 * Qualifying data: the binder when it is at most 32 bytes long, else
 * SHA-256(binder) (a SHA-384 suite gives a 48-byte binder, larger than
 * TPM_PT_MAX_DIGEST on SHA-256-only TPMs).  Producer and appraiser apply the
 * same rule (atls_qualifying_data()).
 */
#ifndef ATLS_EVIDENCE_H
#define ATLS_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include <atls/atls.h>
#include <atls/policy.h>

struct atls_tpm;

/* Open the TPM behind a TCTI string ("swtpm:host=127.0.0.1,port=2321",
 * "device:/dev/tpmrm0") and start its worker thread.  -errno. */
int atls_tpm_open(const char *tcti, struct atls_tpm **out);
void atls_tpm_close(struct atls_tpm *t);

/* ECDSA P-256 signature by the persistent key at key_handle over a digest of
 * dlen (32) bytes; DER ECDSA-Sig-Value into sig_der (*sig_len in: room,
 * out: length; 72 bytes always suffice).  -errno. */
int atls_tpm_sign_digest(struct atls_tpm *t, uint32_t key_handle, const uint8_t *dgst,
			 size_t dlen, uint8_t *sig_der, size_t *sig_len);

struct atls_evidence_params {
	int key_mode;			/* enum atls_key_mode */
	uint32_t ak_handle, tls_key_handle;
	uint8_t pcr_bank_alg;		/* TPM_ALG_ID (only SHA-256, 0x0B, supported) */
	uint32_t pcr_mask;		/* bit i = PCR i (0..23) */
};

/* Produce the CMW record (malloc'ed, caller frees) for this handshake's
 * binder: key mode tpm = Certify(TLS key) + Quote; software = Quote only. */
int atls_evidence_produce(struct atls_tpm *t, const struct atls_evidence_params *p,
			  const uint8_t *binder, size_t blen, uint8_t **cmw, size_t *cmw_len);

/*
 * Appraise the peer's CMW against pol for a peer in peer_role.  The binder is
 * the one this side computed for the peer; peer_spki_der is the DER
 * SubjectPublicKeyInfo of the peer's end-entity certificate.
 * Returns 0 when the evidence is affirmed, -EBADMSG when it does not parse,
 * -EKEYREJECTED when it parses but fails a check (out->reason says which),
 * -ENOMEM/-EINVAL otherwise.  out is always filled; claims when it parsed.
 */
int atls_evidence_appraise(const struct atls_policy *pol, int peer_role, const uint8_t *cmw,
			   size_t len, const uint8_t *binder, size_t blen,
			   const uint8_t *peer_spki_der, size_t spki_len, struct atls_claims *claims,
			   struct atls_appraisal *out);

/* The qualifying data for a binder (rule above): qd gets 1..32 bytes. */
int atls_qualifying_data(const uint8_t *binder, size_t blen, uint8_t qd[32], size_t *qdlen);

#endif /* ATLS_EVIDENCE_H */
