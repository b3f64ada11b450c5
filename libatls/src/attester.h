/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attester's evidence record in two steps, shared by the per-handshake
 * path (atls_evidence_produce(), evidence.c) and the batcher (batch.c):
 *
 *  1. atls_attester_ids(): what the record carries besides fresh
 *     signatures: the AK's key id (kid = 0x01 || SHA-256(DER SPKI of the
 *     AK)) and, in key mode tpm, the TLS key's TPMT_PUBLIC. Two ReadPublic
 *     commands (one in key mode software). The AK must be a restricted
 *     signing key: an unrestricted key could sign a forged TPMS_ATTEST.
 *     Nothing here changes unless the TPM is re-provisioned, so a batcher
 *     reads it once and reuses it.
 *  2. atls_attester_record(): TPM2_Quote over the PCRs (and, key mode tpm,
 *     TPM2_Certify of the TLS key) with qd as qualifying data, wrapped with
 *     the ids into the CMW record (cmw.h). qd is a handshake's qualifying
 *     data (atls_qualifying_data()) or a batch's tree root.
 *
 * Both go through the TPM owner's queue; neither keeps state.
 */
#ifndef ATLS_ATTESTER_H
#define ATLS_ATTESTER_H

#include <stddef.h>
#include <stdint.h>

#include "cmw.h"
#include "evidence.h"

struct atls_attester_ids {
	uint8_t kid[ATLS_KID_LEN];
	struct atls_blob pub_area;	/* key mode tpm: marshalled TPMT_PUBLIC */
};

/* 0 when p names a supported evidence configuration, else -EINVAL. */
int atls_attester_check(const struct atls_evidence_params *p);

int atls_attester_ids(struct atls_tpm *t, const struct atls_evidence_params *p,
		      struct atls_attester_ids *ids);

/* *cmw is malloc'ed (free() it); -errno, TPM errors as atls_tpm_quote(). */
int atls_attester_record(struct atls_tpm *t, const struct atls_evidence_params *p,
			 const struct atls_attester_ids *ids, const uint8_t *qd, size_t qdlen,
			 uint8_t **cmw, size_t *cmw_len);

#endif /* ATLS_ATTESTER_H */
