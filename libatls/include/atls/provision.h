/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Provisioning: create and persist the attestation key (AK) and the TLS
 * identity key in the TPM, issue an X.509 certificate for the TLS key, and
 * export the AK public key that peers put into their policy.
 *
 * The key functions are idempotent: when the persistent handle already holds
 * a key with the expected template they keep it and return 1 (0 = created);
 * a different object at the handle is -EEXIST and is never overwritten.
 * All keys are ECC NIST P-256, ECDSA with SHA-256, primary keys of the owner
 * hierarchy made persistent with EvictControl:
 *   AK:      fixedTPM fixedParent sensitiveDataOrigin userWithAuth restricted sign
 *   TLS key: fixedTPM fixedParent sensitiveDataOrigin userWithAuth sign
 *
 * Key secret (Documentation/evidence.rst, "Key authorization"): the keys of
 * atlsd are made from a 256-bit secret in a file only atlsd's user can
 * read.  Each key's authorization value and the unique field of its
 * template are derived from it, and the keys are noDA: a process that
 * cannot read the file can neither use the keys (TPM_RC_BAD_AUTH) nor
 * re-create them with CreatePrimary.  atls_provision_ak() and
 * atls_provision_tls_key() without a secret make keys with the empty
 * authorization that anyone with TPM access can use (tests, tools owning a
 * TPM alone); atlsd refuses them.
 */
#ifndef ATLS_PROVISION_H
#define ATLS_PROVISION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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

#define ATLS_KEY_SECRET_LEN 32

/*
 * The key secret file: 64 lower-case hex digits and a newline, mode 0600.
 * create: a new random secret at path owned by owner:group ((uid_t)-1 /
 * (gid_t)-1: the caller's), written through a temporary file and link(2)
 * (never through a link planted at path, never replacing a secret); an
 * existing good file is kept and given that owner (1).  load: the file must
 * be a regular file (not a symbolic link), with no group or other
 * permission bits, owned by the caller's effective uid (or the caller is
 * root), holding exactly the secret: else -EPERM (permissions, owner),
 * -ELOOP (a link), -EINVAL (content); err (may be NULL) says which.
 */
int atls_key_secret_create(const char *path, uid_t owner, gid_t group);
int atls_key_secret_load(const char *path, uint8_t secret[ATLS_KEY_SECRET_LEN], char *err,
			 size_t errlen);

/*
 * Keys made from the secret.  An existing key is kept (1) only when it is
 * the key this secret makes (re-derived with a transient CreatePrimary and
 * compared): another secret's key is -ENOKEY.  A key of the empty-auth
 * template (made by atls_provision_ak()/_tls_key(), i.e. by atlsctl before
 * key secrets) is -EKEYREVOKED, or, with ATLS_PROVISION_REPLACE_LEGACY,
 * evicted and replaced by the new key (0; its public key changes).
 */
#define ATLS_PROVISION_REPLACE_LEGACY 1u
int atls_provision_ak_secret(struct atls_tpm *t, uint32_t handle,
			     const uint8_t secret[ATLS_KEY_SECRET_LEN], unsigned int flags);
int atls_provision_tls_key_secret(struct atls_tpm *t, uint32_t handle,
				  const uint8_t secret[ATLS_KEY_SECRET_LEN], unsigned int flags);

/*
 * Without creating anything: 0 = the key at handle has the protected
 * template (whether of this secret shows at its first use: -EACCES),
 * -EKEYREVOKED = the empty-auth template, -EEXIST = another object,
 * -ENOENT = none.  ak: the AK (restricted) or the TLS key.
 */
int atls_provision_key_check(struct atls_tpm *t, uint32_t handle, bool ak,
			     const uint8_t secret[ATLS_KEY_SECRET_LEN]);

/* Use the key at handle (ak: the AK, else the TLS key) with the
 * authorization value derived from the secret (atls_tpm_set_key_auth()). */
int atls_tpm_use_key_secret(struct atls_tpm *t, uint32_t handle, bool ak,
			    const uint8_t secret[ATLS_KEY_SECRET_LEN]);

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
