// SPDX-License-Identifier: Apache-2.0
/*
 * Traffic secrets -> kTLS crypto_info.
 *
 * OpenSSL 3.0 exposes the TLS 1.3 application traffic secrets only through
 * the key-log callback (NSS key log lines).  atls_keylog_cb() keeps
 * CLIENT_TRAFFIC_SECRET_0 and SERVER_TRAFFIC_SECRET_0 in the connection
 * (never written anywhere else; wiped by atls_conn_cleanup()), ignores every
 * other line, and atls_keys_derive() expands them per RFC 8446 §7.3:
 *
 *   key = HKDF-Expand-Label(secret, "key", "", key_len)
 *   iv  = HKDF-Expand-Label(secret, "iv",  "", 12)
 *
 * and lays them out as the kernel wants (include/uapi/linux/tls.h): AES-GCM
 * salt = iv[0..4), iv = iv[4..12); ChaCha20-Poly1305 iv = all 12 bytes.
 * rec_seq: the records sent / received under the application keys before
 * the keys are handed out.  0 after a handshake alone (no tickets, nothing
 * read past Finished); in the exporter-bound mode the records of the
 * attestation exchange, counted by handshake.c's message callback.
 * The two secrets themselves are returned too (tx_secret, rx_secret), for
 * a kernel that derives the keys of a TLS 1.3 KeyUpdate from them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode the hex secret at the end of a key-log line into out. */
static size_t unhex_secret(const char *hex, uint8_t *out, size_t room)
{
	size_t n = 0;

	while (hex[0] && hex[1] && n < room) {
		int hi = hexval(hex[0]), lo = hexval(hex[1]);

		if (hi < 0 || lo < 0)
			return 0;
		out[n++] = (uint8_t)(hi << 4 | lo);
		hex += 2;
	}
	return hex[0] ? 0 : n;
}

void atls_keylog_cb(const SSL *ssl, const char *line)
{
	struct atls_conn *c = atls_conn_of(ssl);
	const char *sp;
	uint8_t *dst;
	size_t *dlen;

	if (!c)
		return;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24)) {
		dst = c->c_secret;
		dlen = &c->c_len;
	} else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24)) {
		dst = c->s_secret;
		dlen = &c->s_len;
	} else {
		return;
	}
	sp = strrchr(line, ' ');
	if (!sp)
		return;
	*dlen = unhex_secret(sp + 1, dst, ATLS_MAX_HASH);
}

/* The 8-byte big-endian record sequence number of kTLS. */
static void put_seq(unsigned char *p, uint64_t seq)
{
	int i;

	for (i = 7; i >= 0; i--, seq >>= 8)
		p[i] = (unsigned char)seq;
}

static int fill(const EVP_MD *md, const uint8_t *secret, size_t slen, int cipher_type,
		uint64_t seq, union atls_crypto_info *ci, size_t *ci_len)
{
	uint8_t key[32], iv[12];
	size_t klen = cipher_type == TLS_CIPHER_AES_GCM_128 ? 16 : 32;
	int ret;

	ret = atls_hkdf_expand_label(md, secret, slen, "key", NULL, 0, key, klen);
	if (!ret)
		ret = atls_hkdf_expand_label(md, secret, slen, "iv", NULL, 0, iv, sizeof(iv));
	if (ret)
		goto out;
	memset(ci, 0, sizeof(*ci));
	ci->info.version = TLS_1_3_VERSION;
	ci->info.cipher_type = (uint16_t)cipher_type;
	switch (cipher_type) {
	case TLS_CIPHER_AES_GCM_128:
		memcpy(ci->aes_gcm_128.key, key, 16);
		memcpy(ci->aes_gcm_128.salt, iv, 4);
		memcpy(ci->aes_gcm_128.iv, iv + 4, 8);
		put_seq(ci->aes_gcm_128.rec_seq, seq);
		*ci_len = sizeof(ci->aes_gcm_128);
		break;
	case TLS_CIPHER_AES_GCM_256:
		memcpy(ci->aes_gcm_256.key, key, 32);
		memcpy(ci->aes_gcm_256.salt, iv, 4);
		memcpy(ci->aes_gcm_256.iv, iv + 4, 8);
		put_seq(ci->aes_gcm_256.rec_seq, seq);
		*ci_len = sizeof(ci->aes_gcm_256);
		break;
	default:
		memcpy(ci->chacha20_poly1305.key, key, 32);
		memcpy(ci->chacha20_poly1305.iv, iv, 12);
		put_seq(ci->chacha20_poly1305.rec_seq, seq);
		*ci_len = sizeof(ci->chacha20_poly1305);
		break;
	}
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

/*
 * The negotiated suite as a kTLS cipher type (*type), its hash (*md) and
 * hash length (*L), checked against the two secrets the key log delivered.
 * 0, -EPROTO (no suite or secrets yet) or -EOPNOTSUPP.
 */
static int suite_of(const struct atls_conn *c, const SSL_CIPHER *ciph, int *type,
		    const EVP_MD **md, size_t *L)
{
	if (!ciph)
		return -EPROTO;
	switch (SSL_CIPHER_get_id(ciph) & 0xffff) {
	case 0x1301:
		*type = TLS_CIPHER_AES_GCM_128;
		break;
	case 0x1302:
		*type = TLS_CIPHER_AES_GCM_256;
		break;
	case 0x1303:
		*type = TLS_CIPHER_CHACHA20_POLY1305;
		break;
	default:
		return -EOPNOTSUPP;
	}
	*md = SSL_CIPHER_get_handshake_digest(ciph);
	*L = *md ? (size_t)EVP_MD_get_size(*md) : 0;
	if (!*L || c->c_len != *L || c->s_len != *L)
		return -EPROTO;	/* key log did not deliver both secrets */
	return 0;
}

int atls_keys_derive(struct atls_conn *c, struct atls_result *res)
{
	const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
	const uint8_t *tx, *rx;
	const EVP_MD *md;
	size_t L, len;
	int type, ret;

	if (!ciph)
		return -EPROTO;
	res->cipher_suite = (uint16_t)(SSL_CIPHER_get_id(ciph) & 0xffff);
	snprintf(res->cipher_name, sizeof(res->cipher_name), "%s", SSL_CIPHER_standard_name(ciph));
	ret = suite_of(c, ciph, &type, &md, &L);
	if (ret)
		return ret;
	tx = c->ctx->cfg.role == ATLS_ROLE_CLIENT ? c->c_secret : c->s_secret;
	rx = c->ctx->cfg.role == ATLS_ROLE_CLIENT ? c->s_secret : c->c_secret;
	ret = fill(md, tx, L, type, c->tx_recs, &res->tx, &len);
	if (!ret)
		ret = fill(md, rx, L, type, c->rx_recs, &res->rx, &res->crypto_info_len);
	res->tx_records = c->tx_recs;
	res->rx_records = c->rx_recs;
	if (ret) {
		atls_result_release(res);
		return ret;
	}
	memcpy(res->tx_secret, tx, L);
	memcpy(res->rx_secret, rx, L);
	res->secret_len = L;
	return 0;
}

/*
 * A fatal alert after the handshake (protocol.rst, "Exporter-bound
 * attestation", failures).  OpenSSL 3.0 sends alerts only from within its
 * own state machine and has no call to send one on an established
 * connection, so the record is made here, exactly as OpenSSL would have
 * made it (RFC 8446 §5.2): TLSInnerPlaintext = level 2, description,
 * content type alert (21), no padding; the outer header 23, 0x0303, length
 * 3 + 16 is the AEAD's additional data; nonce = iv XOR the 64-bit sequence
 * number c->tx_recs (the next record OpenSSL would have written: the
 * message callback counts them), under our application traffic key.  The
 * caller guarantees that OpenSSL wrote only whole records so far.  One send
 * without blocking (24 bytes: a full socket buffer means a peer that reads
 * nothing, which would not read the alert either); no retry, no wait.
 * 0, or -errno (nothing or part of it sent: the peer then sees a bad record
 * or the connection closed).
 */
int atls_keys_send_alert(struct atls_conn *c, int fd, uint8_t alert)
{
	const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
	uint8_t key[32], iv[12], rec[5 + 3 + 16];
	const uint8_t inner[3] = { 2, alert, 21 };
	const EVP_CIPHER *aead;
	EVP_CIPHER_CTX *x = NULL;
	const uint8_t *tx;
	const EVP_MD *md;
	size_t L, klen;
	int type, n, i, ret;
	ssize_t w;

	ret = suite_of(c, ciph, &type, &md, &L);
	if (ret)
		return ret;
	aead = type == TLS_CIPHER_AES_GCM_128 ? EVP_aes_128_gcm() :
	       type == TLS_CIPHER_AES_GCM_256 ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
	klen = type == TLS_CIPHER_AES_GCM_128 ? 16 : 32;
	tx = c->ctx->cfg.role == ATLS_ROLE_CLIENT ? c->c_secret : c->s_secret;
	ret = atls_hkdf_expand_label(md, tx, L, "key", NULL, 0, key, klen);
	if (!ret)
		ret = atls_hkdf_expand_label(md, tx, L, "iv", NULL, 0, iv, sizeof(iv));
	if (ret)
		goto out;
	for (i = 0; i < 8; i++)
		iv[4 + i] ^= (uint8_t)(c->tx_recs >> (56 - 8 * i));
	rec[0] = 23;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = 0;
	rec[4] = sizeof(inner) + 16;
	ret = -EIO;
	x = EVP_CIPHER_CTX_new();
	if (!x || EVP_EncryptInit_ex(x, aead, NULL, key, iv) != 1 ||
	    EVP_EncryptUpdate(x, NULL, &n, rec, 5) != 1 ||
	    EVP_EncryptUpdate(x, rec + 5, &n, inner, sizeof(inner)) != 1 || n != sizeof(inner) ||
	    EVP_EncryptFinal_ex(x, rec + 5 + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + sizeof(inner)) != 1)
		goto out;
	w = send(fd, rec, sizeof(rec), MSG_DONTWAIT | MSG_NOSIGNAL);
	ret = w == (ssize_t)sizeof(rec) ? 0 : w < 0 ? -errno : -EAGAIN;
	if (!ret) {
		c->tx_recs++;
		c->alert_sent = alert;
	}
out:
	EVP_CIPHER_CTX_free(x);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

void atls_result_release(struct atls_result *res)
{
	if (!res)
		return;
	OPENSSL_cleanse(&res->tx, sizeof(res->tx));
	OPENSSL_cleanse(&res->rx, sizeof(res->rx));
	res->crypto_info_len = 0;
	OPENSSL_cleanse(res->tx_secret, sizeof(res->tx_secret));
	OPENSSL_cleanse(res->rx_secret, sizeof(res->rx_secret));
	res->secret_len = 0;
}
