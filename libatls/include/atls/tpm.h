/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared TPM handle and the evidence helpers built on it.
 *
 * struct atls_tpm is the one owner of a TPM connection: the TCTI and ESYS
 * contexts plus a worker thread with a request queue
 * (Documentation/evidence.rst, "The TPM owner").  Every function taking a struct
 * atls_tpm * may be called from any thread; the calls are queued, run one at a
 * time by the worker and block until the TPM has answered.  Nothing else ever
 * touches the connection.
 *
 * Sharing: a process that runs several libatls contexts (atlsd runs one per
 * named policy and role) opens the TPM once with atls_tpm_open() and passes
 * the handle in struct atls_config.tpm to every atls_ctx_new().  Such a
 * context borrows the handle: it queues its signatures, certifies and quotes
 * on it and never closes it.  Without a handle in the configuration, a
 * context that needs the TPM opens (and later closes) a connection of its own
 * from cfg.tcti, as before.
 *
 * Lifetime: the caller that opened a shared handle keeps it open longer than
 * every context using it, i.e. it calls atls_tpm_close() only after the
 * atls_ctx_free() of the last such context has returned (and after every
 * handshake on those contexts has returned, which atls_ctx_free() already
 * requires).  atls_tpm_close() must not race with any other call on the same
 * handle; it drains the queue and joins the worker.
 */
#ifndef ATLS_TPM_PUBLIC_H
#define ATLS_TPM_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#include <atls/atls.h>
#include <atls/policy.h>

#ifdef __cplusplus
extern "C" {
#endif

struct atls_tpm;

/* Open the TPM behind a TCTI string ("device:/dev/tpmrm0",
 * "swtpm:host=127.0.0.1,port=2321") and start its worker thread.  -errno
 * (-ENODEV: the TCTI cannot be loaded or the TPM does not answer). */
int atls_tpm_open(const char *tcti, struct atls_tpm **out);
void atls_tpm_close(struct atls_tpm *t);

/*
 * What this TPM owner has done since atls_tpm_open().  *calls = requests
 * completed, whatever their result.  A request is one TPM operation: at
 * handshake time one command (Sign, Quote, Certify or ReadPublic), preceded
 * by a ReadPublic when its persistent key is not in the owner's handle cache
 * yet (the first use of each key); a PCR read of more than 8 PCRs and a key
 * creation (provisioning) are several commands in one request.  Requests
 * refused before they were queued (owner closing) are not counted.
 * *busy_us = the sum over those requests of queue wait + command time, in
 * microseconds, as each caller saw it (with concurrent callers it can exceed
 * the elapsed time).  Either pointer may be NULL.  Callable from any thread
 * between open and close; it never waits for the TPM.  The two values are
 * read one after the other and may be a request apart.  -EINVAL if t is NULL.
 */
int atls_tpm_stats(struct atls_tpm *t, unsigned long *calls, unsigned long long *busy_us);

/*
 * Test seam (Documentation/testing.rst, "Test seams"): from now on every
 * request on this handle first waits delay_us microseconds on the owner's
 * worker thread, so the delay is serialised exactly like a slow TPM's
 * command time.  The benchmark models a hardware TPM (20-200 ms per
 * signature) this way with swtpm underneath; atls_tpm_stats() counts the
 * requests and includes the delay in busy_us.  0 (the default) turns it off.
 * Callable from any thread between open and close.  -EINVAL if t is NULL.
 */
int atls_tpm_set_delay(struct atls_tpm *t, unsigned int delay_us);

/*
 * The authorization value of the persistent key at handle (1..32 bytes; 0
 * bytes: forget it, back to the empty value), used by every later command
 * with that key on this handle (Documentation/evidence.rst, "Key
 * authorization").  atls_tpm_use_key_secret() (<atls/provision.h>) sets the
 * values derived from the key secret.  -EINVAL for a handle that is not
 * persistent or a value over 32 bytes; -ENOSPC past 4 keys.
 */
int atls_tpm_set_key_auth(struct atls_tpm *t, uint32_t handle, const uint8_t *auth, size_t len);

/* Is there an object at the persistent handle?  0 = yes, -ENOENT = no,
 * other -errno = the TPM failed. */
int atls_tpm_key_present(struct atls_tpm *t, uint32_t handle);

/* TPM2_PCR_Read of the SHA-256 bank for the PCRs in mask (bits 0..23), in
 * ascending PCR order: *n values of 32 bytes into vals (room for 24). */
int atls_tpm_pcr_read(struct atls_tpm *t, uint32_t mask, uint8_t (*vals)[32], unsigned int *n);

/* What atls_evidence_produce() quotes, and with which keys. */
struct atls_evidence_params {
	int key_mode;			/* enum atls_key_mode */
	uint32_t ak_handle, tls_key_handle;
	uint8_t pcr_bank_alg;		/* TPM_ALG_ID (only SHA-256, 0x0B, supported) */
	uint32_t pcr_mask;		/* bit i = PCR i (0..23) */
};

/*
 * Produce the CMW record (malloc'ed, caller frees) for a binder: key mode
 * tpm = TPM2_Certify(TLS key) + TPM2_Quote; software = TPM2_Quote only.  The
 * qualifying data is the binder when it is at most 32 bytes long, else
 * SHA-256(binder) (atls_qualifying_data()).
 */
int atls_evidence_produce(struct atls_tpm *t, const struct atls_evidence_params *p,
			  const uint8_t *binder, size_t blen, uint8_t **cmw, size_t *cmw_len);

/*
 * Appraise a peer's CMW record against pol for a peer in peer_role (enum
 * atls_role).  binder is the one the relying party computed for the peer;
 * peer_spki_der is the DER SubjectPublicKeyInfo of the peer's end-entity
 * certificate.  Returns 0 when the evidence is affirmed, -EBADMSG when it
 * does not parse, -EKEYREJECTED when it parses but fails a check
 * (out->reason says which), -ENOMEM/-EINVAL otherwise.  out is always
 * filled; claims when the evidence parsed.  The input is treated as hostile.
 * Needs no TPM.
 */
int atls_evidence_appraise(const struct atls_policy *pol, int peer_role, const uint8_t *cmw,
			   size_t len, const uint8_t *binder, size_t blen,
			   const uint8_t *peer_spki_der, size_t spki_len, struct atls_claims *claims,
			   struct atls_appraisal *out);

/* The qualifying data for a binder (rule above): qd gets 1..32 bytes. */
int atls_qualifying_data(const uint8_t *binder, size_t blen, uint8_t qd[32], size_t *qdlen);

#ifdef __cplusplus
}
#endif
#endif /* ATLS_TPM_PUBLIC_H */
