/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict unmarshalling of the TPM structures carried in evidence
 * (tpm_parse.c).  Every function consumes its whole input (trailing bytes are
 * an error), checks the fields libatls depends on, and returns -EBADMSG on
 * anything else: the bytes come from the network.
 */
#ifndef ATLS_TPM_PARSE_H
#define ATLS_TPM_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

/* TPMS_ATTEST with magic TPM_GENERATED_VALUE and the given type
 * (TPM2_ST_ATTEST_QUOTE or TPM2_ST_ATTEST_CERTIFY). */
int atls_tpm_parse_attest(const uint8_t *b, size_t len, uint16_t type, TPMS_ATTEST *out);
/* TPMT_SIGNATURE: ECDSA with SHA-256, r and s of 1..32 bytes. */
int atls_tpm_parse_sig(const uint8_t *b, size_t len, TPMT_SIGNATURE *out);
/* TPMT_PUBLIC: ECC NIST P-256, nameAlg SHA-256, points of 32 bytes. */
int atls_tpm_parse_public(const uint8_t *b, size_t len, TPMT_PUBLIC *out);

/* EVP_PKEY of an ECC P-256 TPMT_PUBLIC. */
int atls_tpm_public_to_pkey(const TPMT_PUBLIC *pub, EVP_PKEY **out);
/* SHA-256 of the DER SubjectPublicKeyInfo of pkey. */
int atls_pkey_spki_sha256(EVP_PKEY *pkey, uint8_t out[32]);
/* TPM name of a public area given as its marshalled bytes: 0x000B || SHA-256. */
void atls_tpm_name_sha256(const uint8_t *pub, size_t len, uint8_t name[34]);
/* Verify an ECDSA-SHA256 TPMT_SIGNATURE over msg with key: 0 or -EKEYREJECTED. */
int atls_tpm_verify_sig(EVP_PKEY *key, const TPMT_SIGNATURE *sig, const uint8_t *msg,
			size_t len);

#endif /* ATLS_TPM_PARSE_H */
