/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal interface of the TPM owner (tpm.c) for the other evidence files.
 *
 * Two kinds of functions:
 *  - request functions (atls_tpm_quote() ...) callable from any thread: they
 *    queue a request to the worker thread and wait for its answer;
 *  - worker-only functions (atls_tpm_esys(), atls_tpm_object()) that may be
 *    used only inside a callback run by atls_tpm_call(), i.e. on the worker.
 */
#ifndef ATLS_TPM_INT_H
#define ATLS_TPM_INT_H

#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <tss2/tss2_esys.h>

#include "evidence.h"

/*
 * Run fn(t, arg) on the worker thread and return its result.  Every TPM
 * request of libatls goes through here; each completed call is counted with
 * its queue + command time, read with atls_tpm_stats() (<atls/tpm.h>: atlsd
 * reports it), after the delay of the test seam atls_tpm_set_delay().
 */
int atls_tpm_call(struct atls_tpm *t, int (*fn)(struct atls_tpm *t, void *arg), void *arg);

/*
 * The calling thread's deadline for its TPM requests, CLOCK_MONOTONIC in
 * microseconds (0 = none; the handshake sets its own and clears it again).
 * A request still queued when it passes is withdrawn and atls_tpm_call()
 * returns -ETIMEDOUT without counting it; one already running is waited for.
 */
void atls_tpm_set_thread_deadline(unsigned long long mono_deadline_us);
/* The calling thread's deadline as set above (0 = none). */
unsigned long long atls_tpm_thread_deadline(void);

/*
 * Requests queued or running right now (0 = the TPM is idle).  Advisory: a
 * relaxed atomic read, never waits (batch.c: group commit).
 */
unsigned int atls_tpm_outstanding(struct atls_tpm *t);

/*
 * The head of the list of batchers shared by the contexts borrowing t, and
 * the lock guarding it (batch.c, atls_batcher_get(): only it uses them).
 */
struct atls_batcher;
struct atls_batcher **atls_tpm_shared_batchers(struct atls_tpm *t, pthread_mutex_t **lock);

/* Worker only: the ESYS context. */
ESYS_CONTEXT *atls_tpm_esys(struct atls_tpm *t);
/* Worker only: ESYS_TR of a persistent handle (cached; -ENOENT if absent). */
int atls_tpm_object(struct atls_tpm *t, uint32_t handle, ESYS_TR *tr);
/* Worker only: forget a cached persistent handle (after EvictControl). */
void atls_tpm_forget(struct atls_tpm *t, uint32_t handle);

/* Map a TSS2 return code to -errno. */
int atls_tpm_rc_errno(TSS2_RC rc);

/* Read the public area of a persistent object.  -ENOENT if absent. */
int atls_tpm_read_public(struct atls_tpm *t, uint32_t handle, TPM2B_PUBLIC *pub);

/*
 * TPM2_Quote with the AK over (bank, mask); TPM2_Certify of key_handle by the
 * AK.  attest/sig receive the marshalled TPMS_ATTEST and TPMT_SIGNATURE
 * (malloc'ed, caller frees).
 */
int atls_tpm_quote(struct atls_tpm *t, uint32_t ak_handle, const uint8_t *qd, size_t qdlen,
		   uint16_t bank, uint32_t mask, uint8_t **attest, size_t *alen, uint8_t **sig,
		   size_t *slen);
int atls_tpm_certify(struct atls_tpm *t, uint32_t key_handle, uint32_t ak_handle,
		     const uint8_t *qd, size_t qdlen, uint8_t **attest, size_t *alen,
		     uint8_t **sig, size_t *slen);

/* TPM2_PCR_Extend of one PCR in the SHA-256 bank with a 32-byte digest. */
int atls_tpm_pcr_extend(struct atls_tpm *t, unsigned int pcr, const uint8_t dgst[32]);
/* atls_tpm_pcr_read(), atls_tpm_key_present(): <atls/tpm.h>. */

#endif /* ATLS_TPM_INT_H */
