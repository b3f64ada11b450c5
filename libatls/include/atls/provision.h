/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Provisioning: create and persist the attestation key (AK) and the TLS
 * identity key in the TPM, issue an X.509 certificate for the TLS key, and
 * export the AK public key that peers put into their policy.
 *
 * The key functions are idempotent: when the persistent handle already holds
 * a key with the expected template they keep it and return 1 (0 = created);
 * a different object at the handle is -EEXIST and is never overwritten.
 * All keys are ECC NIST P-256, ECDSA with SHA-256, empty authorisation,
 * primary keys of the owner hierarchy made persistent with EvictControl:
 *   AK:      fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted sign
 *   TLS key: fixedTPM fixedParent sensitiveDataOrigin userWithAuth sign
 */
#ifndef ATLS_PROVISION_H
#define ATLS_PROVISION_H

#include <stdint.h>

#include <atls/tpm.h>

#ifdef __cplusplus
extern "C" {
#endif

/* struct atls_tpm, atls_tpm_open(), atls_tpm_close(): <atls/tpm.h>. */

/* Default persistent handles (TCG "owner" range). */
#define ATLS_AK_HANDLE_DEFAULT 0x81010010u
#define ATLS_TLS_KEY_HANDLE_DEFAULT 0x81010011u

int atls_provision_ak(struct atls_tpm *t, uint32_t handle);
int atls_provision_tls_key(struct atls_tpm *t, uint32_t handle);

/* Write the public key of the persistent key at handle as a PEM
 * SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") to path. */
int atls_provision_export_pub(struct atls_tpm *t, uint32_t handle, const char *path);

/* Software key mode: ECC P-256 private key, PKCS#8 PEM, mode 0600.
 * Idempotent like the TPM keys (an existing file is kept: 1). */
int atls_provision_sw_key(const char *path);

struct atls_cert_params {
	const char *common_name;	/* subject CN (required) */
	unsigned int days;		/* validity from now (0 = 365) */
	/* Issuer: both NULL = self-signed by the certified key itself (in key
	 * mode tpm inside the TPM); else PEM certificate + private key of a CA. */
	const char *ca_cert_file;
	const char *ca_key_file;
};

/* Certificate (PEM, to cert_path) for the TPM key at key_handle. */
int atls_provision_cert_tpm(struct atls_tpm *t, uint32_t key_handle,
			    const struct atls_cert_params *cp, const char *cert_path);
/* Certificate (PEM, to cert_path) for the software key in key_file. */
int atls_provision_cert_sw(const char *key_file, const struct atls_cert_params *cp,
			   const char *cert_path);

#ifdef __cplusplus
}
#endif
#endif /* ATLS_PROVISION_H */
