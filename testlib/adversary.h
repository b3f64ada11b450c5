/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: plain OpenSSL servers that speak atls's attestation extension
 * the way an adversary would, for libatls's own tests.  White-box: built on
 * libatls's internal API (binder, transcript hash, extension framing), so
 * nothing but libatls/tests uses it (benchmarks stay on the public API).
 */
#ifndef TL_ADVERSARY_H
#define TL_ADVERSARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <atls/tpm.h>
#include <atls/wire.h>

/* The server's EncryptedExtensions answer choosing TPM evidence. */
#define TL_TPM_SCHEME_LEN (4 + sizeof(ATLS_MT_TPM_EVIDENCE) - 1)
void tl_tpm_scheme(uint8_t s[TL_TPM_SCHEME_LEN]);

/*
 * A server (thread body tl_replay_server_main, on fd) with cert and key that
 * chooses TPM evidence and presents ext, a Certificate extension obtained
 * elsewhere (a replay of stored or relayed evidence).  Always returns 0.
 */
struct tl_replay_server {
	int fd;
	const char *cert, *key;
	const uint8_t *ext;
	size_t ext_len;
	uint8_t scheme[TL_TPM_SCHEME_LEN];	/* private */
};
int tl_replay_server_main(void *arg);

/*
 * A server (thread body tl_quoting_server_main, on fd) with cert and key
 * (and suites, NULL: OpenSSL's) that makes genuine evidence itself: it opens
 * the TPM at tcti, as any process with access to it could, and has libatls's
 * own producer quote with params for the binder of this very handshake and
 * of its certificate's key.  produced: the producer's result (set it to -1
 * before; stays so if the handshake never got that far).
 */
struct tl_quoting_server {
	int fd;
	const char *cert, *key, *suites, *tcti;
	struct atls_evidence_params params;
	int produced;
	/* private: the handshake messages up to ServerHello, for the binder */
	uint8_t msgs[8192];
	size_t len;
	bool done;
	uint8_t scheme[TL_TPM_SCHEME_LEN];
};
int tl_quoting_server_main(void *arg);

#endif /* TL_ADVERSARY_H */
