/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: TLS 1.3 record protection in userspace (RFC 8446 5.2-5.3), the one
 * AEAD of the tests, with OpenSSL's EVP: nonce = iv XOR seq (left-padded),
 * AAD = the 5-byte record header, inner plaintext = data || content type ||
 * zero padding.  Keys are kept in the kTLS crypto_info layout (AES-GCM:
 * salt || iv; ChaCha20: 12-byte iv), as setsockopt(SOL_TLS) takes them and
 * libatls exports them.
 */
#ifndef TL_RECORD_H
#define TL_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <linux/tls.h>

/* One direction's keys. */
struct tl_keys {
	unsigned short cipher;
	union {
		struct tls_crypto_info info;
		struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
		struct tls12_crypto_info_chacha20_poly1305 cc;
	} ci;
	size_t len;			/* sizeof the crypto_info (setsockopt optlen) */
	unsigned char key[32], iv12[12];
	size_t key_len;
};

/* Fixed test keys for cipher (TLS_CIPHER_*; others: AES-GCM-128);
 * dir 0: client -> server, 1: server -> client. */
void tl_keys_fixed(struct tl_keys *k, unsigned short cipher, int dir);
/* The keys of a kTLS crypto_info (any of the three structs, e.g. a member of
 * libatls's union atls_crypto_info).  0 or -EINVAL (unknown cipher). */
int tl_keys_from(struct tl_keys *k, const void *crypto_info);

/* Open one record (header included): 0 with the content in out (room for
 * rec_len bytes), its length and inner type; -1 if it does not authenticate. */
int tl_record_open(const struct tl_keys *k, uint64_t seq, const unsigned char *rec,
		   size_t rec_len, unsigned char *out, size_t *out_len, uint8_t *type);
/* Seal data as one record of type at seq into rec (room for len + 22 + pad
 * bytes): the record's length, 0 on failure (or data over 16 KiB). */
size_t tl_record_seal(const struct tl_keys *k, uint64_t seq, uint8_t type,
		      const void *data, size_t len, unsigned char *rec);
/* The same with @pad zero bytes after the content type (RFC 8446 5.4). */
size_t tl_record_seal_pad(const struct tl_keys *k, uint64_t seq, uint8_t type,
			  const void *data, size_t len, size_t pad, unsigned char *rec);

/*
 * Read one record from fd and open it with the keys of crypto_info at seq:
 * plaintext into out (room bytes), its inner type in *type.  The plaintext
 * length or -errno (-EBADMSG: it does not authenticate, -EPROTO: not an
 * application_data record, -ECONNRESET: EOF).
 */
int tl_record_read(int fd, const void *crypto_info, uint64_t seq, uint8_t *out,
		   size_t room, uint8_t *type);
/* Seal and write one application_data record (at most 1 KiB) at seq. */
int tl_record_write(int fd, const void *crypto_info, uint64_t seq,
		    const uint8_t *data, size_t len);

#endif /* TL_RECORD_H */
