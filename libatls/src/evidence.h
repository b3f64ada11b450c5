/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seam between the TLS handshake half of libatls and its TPM/evidence
 * half.  The handshake code (ext.c, binder, keys) calls only what is declared
 * here; everything TPM, CMW, CBOR and policy related lives behind it.
 *
 * struct atls_tpm is the one owner of the ESYS context: a worker thread with
 * a request queue (tpm.c); its public half, the evidence helpers and the
 * sharing/lifetime rules are in <atls/tpm.h>.
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

/* The TPM owner, atls_evidence_produce/appraise, atls_qualifying_data. */
#include <atls/tpm.h>

/* ECDSA P-256 signature by the persistent key at key_handle over a digest of
 * dlen (32) bytes; DER ECDSA-Sig-Value into sig_der (*sig_len in: room,
 * out: length; 72 bytes always suffice).  -errno. */
int atls_tpm_sign_digest(struct atls_tpm *t, uint32_t key_handle, const uint8_t *dgst,
			 size_t dlen, uint8_t *sig_der, size_t *sig_len);

#endif /* ATLS_EVIDENCE_H */
