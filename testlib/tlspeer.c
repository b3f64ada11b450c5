// SPDX-License-Identifier: Apache-2.0
/*
 * Plain OpenSSL peer and raw TLS 1.3 record protection (RFC 8446 §5.2-5.3)
 * for the tests: nonce = iv XOR seq (left-padded), AAD = the 5-byte record
 * header, inner plaintext = data || content type.  Uses the kTLS
 * crypto_info layout (AES-GCM: salt || iv; ChaCha20: 12-byte iv).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include <atls/atls.h>
#include "tlspeer.h"

SSL_CTX *atls_test_peer_ctx(int server, const char *suites, const char *cert, const char *key)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!c)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_num_tickets(c, 0);
	if ((suites && SSL_CTX_set_ciphersuites(c, suites) != 1) ||
	    (cert && SSL_CTX_use_certificate_chain_file(c, cert) != 1) ||
	    (key && SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1)) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

int atls_test_peer_handshake(SSL *ssl, int fd, int server)
{
	if (!SSL_set_fd(ssl, fd))
		return 0;
	return (server ? SSL_accept(ssl) : SSL_connect(ssl)) == 1;
}

static int params(const union atls_crypto_info *ci, const EVP_CIPHER **cipher, uint8_t key[32],
		  size_t *klen, uint8_t iv[12])
{
	switch (ci->info.cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		*cipher = EVP_aes_128_gcm();
		*klen = 16;
		memcpy(key, ci->aes_gcm_128.key, 16);
		memcpy(iv, ci->aes_gcm_128.salt, 4);
		memcpy(iv + 4, ci->aes_gcm_128.iv, 8);
		break;
	case TLS_CIPHER_AES_GCM_256:
		*cipher = EVP_aes_256_gcm();
		*klen = 32;
		memcpy(key, ci->aes_gcm_256.key, 32);
		memcpy(iv, ci->aes_gcm_256.salt, 4);
		memcpy(iv + 4, ci->aes_gcm_256.iv, 8);
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		*cipher = EVP_chacha20_poly1305();
		*klen = 32;
		memcpy(key, ci->chacha20_poly1305.key, 32);
		memcpy(iv, ci->chacha20_poly1305.iv, 12);
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

static void nonce(uint8_t iv[12], uint64_t seq)
{
	int i;

	for (i = 0; i < 8; i++)
		iv[11 - i] ^= (uint8_t)(seq >> (8 * i));
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int atls_test_record_read(int fd, const union atls_crypto_info *ci, uint64_t seq, uint8_t *out,
			  size_t room, uint8_t *type)
{
	uint8_t hdr[5], body[16384 + 256 + 16], key[32], iv[12], pt[sizeof(body)];
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *x;
	size_t blen, klen;
	int n, fin, ret;

	ret = params(ci, &cipher, key, &klen, iv);
	if (ret)
		return ret;
	nonce(iv, seq);
	ret = read_full(fd, hdr, 5);
	if (ret)
		return ret;
	blen = (size_t)hdr[3] << 8 | hdr[4];
	if (hdr[0] != 23 || blen < 17 || blen > sizeof(body))
		return -EPROTO;
	ret = read_full(fd, body, blen);
	if (ret)
		return ret;
	x = EVP_CIPHER_CTX_new();
	if (!x)
		return -ENOMEM;
	ret = -EBADMSG;
	if (EVP_DecryptInit_ex(x, cipher, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_DecryptInit_ex(x, NULL, NULL, key, iv) != 1 ||
	    EVP_DecryptUpdate(x, NULL, &n, hdr, 5) != 1 ||
	    EVP_DecryptUpdate(x, pt, &n, body, (int)(blen - 16)) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, body + blen - 16) != 1 ||
	    EVP_DecryptFinal_ex(x, pt + n, &fin) != 1)
		goto out;
	n += fin;
	while (n > 0 && pt[n - 1] == 0)	/* strip padding */
		n--;
	if (n < 1 || (size_t)(n - 1) > room)
		goto out;
	*type = pt[n - 1];
	memcpy(out, pt, (size_t)(n - 1));
	ret = n - 1;
out:
	EVP_CIPHER_CTX_free(x);
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

int atls_test_record_write(int fd, const union atls_crypto_info *ci, uint64_t seq,
			   const uint8_t *data, size_t len)
{
	uint8_t rec[5 + 1024 + 1 + 16], key[32], iv[12], pt[1024 + 1];
	const EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *x;
	size_t klen, clen = len + 1 + 16;
	int n, fin, ret;

	if (len > 1024)
		return -EMSGSIZE;
	ret = params(ci, &cipher, key, &klen, iv);
	if (ret)
		return ret;
	nonce(iv, seq);
	memcpy(pt, data, len);
	pt[len] = 23;	/* application_data */
	rec[0] = 23;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (uint8_t)(clen >> 8);
	rec[4] = (uint8_t)clen;
	x = EVP_CIPHER_CTX_new();
	if (!x)
		return -ENOMEM;
	ret = -EINVAL;
	if (EVP_EncryptInit_ex(x, cipher, NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_EncryptInit_ex(x, NULL, NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(x, NULL, &n, rec, 5) != 1 ||
	    EVP_EncryptUpdate(x, rec + 5, &n, pt, (int)len + 1) != 1 ||
	    EVP_EncryptFinal_ex(x, rec + 5 + n, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + len + 1) != 1)
		goto out;
	ret = write(fd, rec, 5 + clen) == (ssize_t)(5 + clen) ? 0 : -EIO;
out:
	EVP_CIPHER_CTX_free(x);
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

int atls_test_attested_exchange(struct atls_ctx *ctx, int fd, int client, int timeout_ms,
				 const char *msg)
{
	size_t len = strlen(msg) + 1;
	struct atls_result res;
	uint8_t buf[64], type;
	int r;

	if (len > sizeof(buf))
		return -1;
	r = atls_handshake(ctx, fd, timeout_ms, &res);
	if (r)
		return r;
	if (res.appraisal.status != ATLS_EAR_AFFIRMING || !res.self_attested ||
	    !res.peer_attested)
		r = -1;
	else if (client)
		r = atls_test_record_write(fd, &res.tx, 0, (const uint8_t *)msg, len);
	else
		r = atls_test_record_read(fd, &res.rx, 0, buf, sizeof(buf), &type) == (int)len &&
		    !memcmp(buf, msg, len) ? 0 : -1;
	atls_result_release(&res);
	return r;
}
