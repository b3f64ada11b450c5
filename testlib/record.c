// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * TLS 1.3 record protection in userspace, fixed test keys.  See record.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "record.h"

#ifndef TLS_1_3_VERSION
#define TLS_1_3_VERSION 0x0304
#endif

/*
 * Where a kTLS crypto_info keeps the key and the 12-byte nonce base (salt ||
 * iv; ChaCha20 has no salt), per cipher.
 */
#define CI_LAYOUT(c, t, klen, salt_off, slen)					\
	{ c, sizeof(struct t), offsetof(struct t, key), klen, salt_off, slen,	\
	  offsetof(struct t, iv) }
static const struct ci_layout {
	unsigned short cipher;
	size_t size, key, key_len, salt, salt_len, iv;
} layouts[] = {
	CI_LAYOUT(TLS_CIPHER_AES_GCM_128, tls12_crypto_info_aes_gcm_128, 16,
		  offsetof(struct tls12_crypto_info_aes_gcm_128, salt), 4),
	CI_LAYOUT(TLS_CIPHER_AES_GCM_256, tls12_crypto_info_aes_gcm_256, 32,
		  offsetof(struct tls12_crypto_info_aes_gcm_256, salt), 4),
	CI_LAYOUT(TLS_CIPHER_CHACHA20_POLY1305, tls12_crypto_info_chacha20_poly1305, 32, 0, 0),
};

static const struct ci_layout *layout_of(unsigned short cipher)
{
	size_t i;

	for (i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (layouts[i].cipher == cipher)
			return &layouts[i];
	return NULL;
}

/* Copy between k's key and nonce base and the crypto_info ci of layout l. */
static void ci_copy(const struct ci_layout *l, struct tl_keys *k, unsigned char *ci, bool to_ci)
{
	struct { unsigned char *ci, *k; size_t len; } f[] = {
		{ ci + l->key, k->key, l->key_len },
		{ ci + l->salt, k->iv12, l->salt_len },
		{ ci + l->iv, k->iv12 + l->salt_len, 12 - l->salt_len },
	};
	size_t i;

	for (i = 0; i < 3; i++)
		memcpy(to_ci ? f[i].ci : f[i].k, to_ci ? f[i].k : f[i].ci, f[i].len);
}

/* Fill the crypto_info of k from k->cipher, k->key and k->iv12. */
static int keys_to_info(struct tl_keys *k)
{
	const struct ci_layout *l = layout_of(k->cipher);

	if (!l)
		return -EINVAL;
	memset(&k->ci, 0, sizeof(k->ci));
	ci_copy(l, k, (unsigned char *)&k->ci, true);
	k->ci.info.version = TLS_1_3_VERSION;
	k->ci.info.cipher_type = k->cipher;
	k->len = l->size;
	k->key_len = l->key_len;
	return 0;
}

void tl_keys_fixed(struct tl_keys *k, unsigned short cipher, int dir)
{
	unsigned int i;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < sizeof(k->key); i++)
		k->key[i] = 0x40 + i + 0x20 * dir;
	for (i = 0; i < sizeof(k->iv12); i++)
		k->iv12[i] = 0xa0 + i + 0x20 * dir;
	k->cipher = layout_of(cipher) ? cipher : TLS_CIPHER_AES_GCM_128;
	keys_to_info(k);
}

int tl_keys_from(struct tl_keys *k, const void *crypto_info)
{
	const struct tls_crypto_info *info = crypto_info;
	const struct ci_layout *l = layout_of(info->cipher_type);

	memset(k, 0, sizeof(*k));
	if (!l)
		return -EINVAL;
	k->cipher = info->cipher_type;
	ci_copy(l, k, (unsigned char *)crypto_info, false);
	return keys_to_info(k);
}

static const EVP_CIPHER *evp(const struct tl_keys *k)
{
	switch (k->cipher) {
	case TLS_CIPHER_AES_GCM_256:
		return EVP_aes_256_gcm();
	case TLS_CIPHER_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	default:
		return EVP_aes_128_gcm();
	}
}

static void nonce(const struct tl_keys *k, uint64_t seq, unsigned char *n)
{
	int i;

	memcpy(n, k->iv12, 12);
	for (i = 0; i < 8; i++)
		n[11 - i] ^= (seq >> (8 * i)) & 0xff;
}

int tl_record_open(const struct tl_keys *k, uint64_t seq, const unsigned char *rec,
		   size_t rec_len, unsigned char *out, size_t *out_len, uint8_t *type)
{
	unsigned char n[12];
	EVP_CIPHER_CTX *c;
	size_t ct_len;
	int len, ok = 0;

	if (rec_len < 5 + 16 + 1)
		return -1;
	ct_len = rec_len - 5 - 16;
	nonce(k, seq, n);
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	if (EVP_DecryptInit_ex(c, evp(k), NULL, NULL, NULL) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
	    EVP_DecryptInit_ex(c, NULL, NULL, k->key, n) &&
	    EVP_DecryptUpdate(c, NULL, &len, rec, 5) &&
	    EVP_DecryptUpdate(c, out, &len, rec + 5, ct_len) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + ct_len)) &&
	    EVP_DecryptFinal_ex(c, out + len, &len))
		ok = 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return -1;
	while (ct_len && out[ct_len - 1] == 0)	/* TLS 1.3 padding */
		ct_len--;
	if (!ct_len)
		return -1;
	*type = out[ct_len - 1];
	*out_len = ct_len - 1;
	return 0;
}

size_t tl_record_seal(const struct tl_keys *k, uint64_t seq, uint8_t type,
		      const void *data, size_t len, unsigned char *rec)
{
	return tl_record_seal_pad(k, seq, type, data, len, 0, rec);
}

size_t tl_record_seal_pad(const struct tl_keys *k, uint64_t seq, uint8_t type,
			  const void *data, size_t len, size_t pad, unsigned char *rec)
{
	unsigned char n[12], inner[17000];
	size_t ilen = len + 1 + pad;
	EVP_CIPHER_CTX *c;
	int outl, ok = 0;

	if (len + pad > 16384)
		return 0;
	memcpy(inner, data, len);
	inner[len] = type;
	memset(inner + len + 1, 0, pad);
	rec[0] = 0x17;
	rec[1] = 0x03;
	rec[2] = 0x03;
	rec[3] = (ilen + 16) >> 8;
	rec[4] = (ilen + 16) & 0xff;
	nonce(k, seq, n);
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return 0;
	if (EVP_EncryptInit_ex(c, evp(k), NULL, NULL, NULL) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
	    EVP_EncryptInit_ex(c, NULL, NULL, k->key, n) &&
	    EVP_EncryptUpdate(c, NULL, &outl, rec, 5) &&
	    EVP_EncryptUpdate(c, rec + 5, &outl, inner, ilen) &&
	    EVP_EncryptFinal_ex(c, rec + 5 + outl, &outl) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + ilen))
		ok = 1;
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(inner, ilen);
	return ok ? 5 + ilen + 16 : 0;
}

static int read_exact(int fd, uint8_t *p, size_t n)
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

int tl_record_read(int fd, const void *crypto_info, uint64_t seq, uint8_t *out,
		   size_t room, uint8_t *type)
{
	uint8_t rec[5 + 16384 + 256 + 16], pt[sizeof(rec)];
	struct tl_keys k;
	size_t blen, n;
	int ret;

	ret = tl_keys_from(&k, crypto_info);
	if (ret)
		return ret;
	ret = read_exact(fd, rec, 5);
	if (ret)
		goto out;
	blen = (size_t)rec[3] << 8 | rec[4];
	ret = -EPROTO;
	if (rec[0] != 23 || blen < 17 || blen > sizeof(rec) - 5)
		goto out;
	ret = read_exact(fd, rec + 5, blen);
	if (ret)
		goto out;
	ret = -EBADMSG;
	if (tl_record_open(&k, seq, rec, 5 + blen, pt, &n, type) || n > room)
		goto out;
	memcpy(out, pt, n);
	ret = (int)n;
out:
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}

int tl_record_write(int fd, const void *crypto_info, uint64_t seq,
		    const uint8_t *data, size_t len)
{
	uint8_t rec[5 + 1024 + 1 + 16];
	struct tl_keys k;
	size_t rlen;
	int ret;

	if (len > 1024)
		return -EMSGSIZE;
	ret = tl_keys_from(&k, crypto_info);
	if (ret)
		return ret;
	rlen = tl_record_seal(&k, seq, 23 /* application_data */, data, len, rec);
	if (!rlen)
		ret = -EINVAL;
	else
		ret = write(fd, rec, rlen) == (ssize_t)rlen ? 0 : -EIO;
	OPENSSL_cleanse(&k, sizeof(k));
	return ret;
}
