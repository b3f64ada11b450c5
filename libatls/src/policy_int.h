/* SPDX-License-Identifier: Apache-2.0 */
/* The in-memory policy (policy.c builds it, appraise.c reads it). */
#ifndef ATLS_POLICY_INT_H
#define ATLS_POLICY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <atls/policy.h>

#define ATLS_POLICY_MAX_AKS 64
#define ATLS_POLICY_MAX_DIGESTS 64
#define ATLS_POLICY_MAX_AK_DIGESTS 16

struct atls_policy_ak {
	char name[64];
	EVP_PKEY *key;			/* ECC P-256 public key */
	uint8_t spki_sha256[32];	/* = kid without its UEID type byte */
	/*
	 * This attester's own allowed pcrDigest values.  When there are any,
	 * they are the only ones its quotes may carry (the policy-wide list
	 * of struct atls_policy does not apply to it).
	 */
	uint8_t digests[ATLS_POLICY_MAX_AK_DIGESTS][32];
	unsigned int n_digests;
};

struct atls_policy {
	struct atls_policy_ak aks[ATLS_POLICY_MAX_AKS];
	unsigned int n_aks;

	uint16_t bank;			/* TPM2_ALG_SHA256 */
	uint32_t mask;			/* selected PCRs */
	/* Allowed pcrDigest values of AKs without their own: SHA-256 of the
	 * reference "values" (if given) followed by the "digests" list. */
	uint8_t digests[ATLS_POLICY_MAX_DIGESTS + 1][32];
	unsigned int n_digests;

	unsigned int required_roles;	/* bit (1 << enum atls_role) */
	unsigned int accepted_types;	/* bit (1 << enum atls_evidence) */
	bool exporter_required;		/* binding = "exporter" */
};

#endif /* ATLS_POLICY_INT_H */
