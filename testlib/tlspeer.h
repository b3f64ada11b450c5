/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A plain OpenSSL TLS 1.3 peer for the libatls tests (the "other side" that
 * no libatls code runs in): set-up helpers, and raw record I/O with the kTLS
 * keys libatls exported, done with EVP AEAD exactly as the kernel would.
 */
#ifndef ATLS_TLSPEER_H
#define ATLS_TLSPEER_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include <atls/atls.h>

/* A TLS 1.3-only SSL_CTX, no tickets; cert/key optional (PEM files). */
SSL_CTX *atls_test_peer_ctx(int server, const char *suites, const char *cert, const char *key);
/* Run the handshake on fd (blocking); 1 = ok. */
int atls_test_peer_handshake(SSL *ssl, int fd, int server);

/*
 * Read one TLS record from fd and decrypt it with ci at sequence seq:
 * plaintext (without the inner content type) into out, its type in *type.
 * Returns the plaintext length or -errno (-EBADMSG: authentication failed).
 */
int atls_test_record_read(int fd, const union atls_crypto_info *ci, uint64_t seq, uint8_t *out,
			  size_t room, uint8_t *type);
/* Encrypt and write one application_data record with ci at sequence seq. */
int atls_test_record_write(int fd, const union atls_crypto_info *ci, uint64_t seq,
			   const uint8_t *data, size_t len);

struct atls_ctx;
/*
 * One mutually attested connection: handshake on fd within timeout_ms, require
 * an affirming appraisal with evidence sent both ways, then prove the exported
 * keys work: the client writes msg as record 0 with its TX keys and the server
 * reads it back with its RX keys. The result is always released.
 * 0 on success, the handshake's -errno, or -1 on a failed check.
 */
int atls_test_attested_exchange(struct atls_ctx *ctx, int fd, int client, int timeout_ms,
				 const char *msg);

#endif /* ATLS_TLSPEER_H */
