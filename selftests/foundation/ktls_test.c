// SPDX-License-Identifier: GPL-2.0
/*
 * kTLS exists in the test VM and really encrypts.
 *
 * A TCP loopback pair; the client side gets TCP_ULP "tls" and TLS_TX with
 * fixed TLS 1.3 keys for each cipher atls supports. The server reads the raw
 * stream and checks it is one TLS record (17 03 03 len) that does not contain
 * the plaintext, then opens it with OpenSSL's AEAD (nonce = iv XOR seq, AAD =
 * the record header) to prove the kernel used exactly those keys. Finally the
 * server installs TLS_RX with the same keys and the kernel decrypts a second
 * record for it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static const char plaintext[] = "atls-foundation: this must never be on the wire in clear";

static int tcp_pair(int *cli, int *srv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, c, s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (void *)&a, &alen))
		return -1;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&a, sizeof(a)))
		return -1;
	s = accept(l, NULL, NULL);
	close(l);
	if (s < 0)
		return -1;
	*cli = c;
	*srv = s;
	return 0;
}

/* Read exactly n bytes, waiting at most 5 s. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) != 1)
			return -1;
		r = read(fd, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return got;
}

FIXTURE(ktls) {
	int cli, srv;
	union {
		struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
		struct tls12_crypto_info_chacha20_poly1305 cc;
	} ci;
	size_t ci_len;
	unsigned char key[32], iv12[12];
	size_t key_len;
	const EVP_CIPHER *evp;
};

FIXTURE_VARIANT(ktls) {
	unsigned short cipher;
	const char *name;
};

FIXTURE_VARIANT_ADD(ktls, aes_gcm_128) { .cipher = TLS_CIPHER_AES_GCM_128, .name = "AES-128-GCM" };
FIXTURE_VARIANT_ADD(ktls, aes_gcm_256) { .cipher = TLS_CIPHER_AES_GCM_256, .name = "AES-256-GCM" };
FIXTURE_VARIANT_ADD(ktls, chacha20_poly1305) { .cipher = TLS_CIPHER_CHACHA20_POLY1305, .name = "ChaCha20-Poly1305" };

FIXTURE_SETUP(ktls)
{
	unsigned int i;

	ASSERT_EQ(0, tcp_pair(&self->cli, &self->srv));
	for (i = 0; i < sizeof(self->key); i++)
		self->key[i] = 0x40 + i;
	for (i = 0; i < sizeof(self->iv12); i++)
		self->iv12[i] = 0xa0 + i;
	memset(&self->ci, 0, sizeof(self->ci));

	switch (variant->cipher) {
	case TLS_CIPHER_AES_GCM_128:
		self->ci.g128.info.version = TLS_1_3_VERSION;
		self->ci.g128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(self->ci.g128.key, self->key, 16);
		memcpy(self->ci.g128.salt, self->iv12, 4);
		memcpy(self->ci.g128.iv, self->iv12 + 4, 8);
		self->ci_len = sizeof(self->ci.g128);
		self->key_len = 16;
		self->evp = EVP_aes_128_gcm();
		break;
	case TLS_CIPHER_AES_GCM_256:
		self->ci.g256.info.version = TLS_1_3_VERSION;
		self->ci.g256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(self->ci.g256.key, self->key, 32);
		memcpy(self->ci.g256.salt, self->iv12, 4);
		memcpy(self->ci.g256.iv, self->iv12 + 4, 8);
		self->ci_len = sizeof(self->ci.g256);
		self->key_len = 32;
		self->evp = EVP_aes_256_gcm();
		break;
	default:
		self->ci.cc.info.version = TLS_1_3_VERSION;
		self->ci.cc.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(self->ci.cc.key, self->key, 32);
		memcpy(self->ci.cc.iv, self->iv12, 12);
		self->ci_len = sizeof(self->ci.cc);
		self->key_len = 32;
		self->evp = EVP_chacha20_poly1305();
		break;
	}
}

FIXTURE_TEARDOWN(ktls)
{
	close(self->cli);
	close(self->srv);
}

/* Open one TLS 1.3 record (header + ciphertext + tag) sent with sequence seq. */
static int open_record(const EVP_CIPHER *evp, const unsigned char *key,
		       const unsigned char *iv12, unsigned long long seq,
		       const unsigned char *rec, size_t rec_len,
		       unsigned char *out, size_t *out_len)
{
	unsigned char nonce[12];
	size_t ct_len = rec_len - 5 - 16;
	EVP_CIPHER_CTX *c;
	int len, ok = 0, i;

	memcpy(nonce, iv12, 12);
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= (seq >> (8 * i)) & 0xff;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	if (EVP_DecryptInit_ex(c, evp, NULL, NULL, NULL) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
	    EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) &&
	    EVP_DecryptUpdate(c, NULL, &len, rec, 5) &&
	    EVP_DecryptUpdate(c, out, &len, rec + 5, ct_len) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + ct_len)) &&
	    EVP_DecryptFinal_ex(c, out + len, &len))
		ok = 1;
	EVP_CIPHER_CTX_free(c);
	*out_len = ct_len;
	return ok ? 0 : -1;
}

TEST_F(ktls, wire_is_a_tls_record)
{
	size_t pt_len = sizeof(plaintext) - 1;
	size_t rec_len = 5 + pt_len + 1 + 16;	/* header, data, content type, tag */
	unsigned char rec[256], inner[256];
	size_t inner_len;

	ASSERT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", sizeof("tls")))
		TH_LOG("TCP_ULP tls: %s (is tls.ko loaded?)", strerror(errno));
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TLS, TLS_TX, &self->ci, self->ci_len))
		TH_LOG("TLS_TX %s: %s", variant->name, strerror(errno));
	ASSERT_EQ((ssize_t)pt_len, send(self->cli, plaintext, pt_len, 0));

	ASSERT_EQ((ssize_t)rec_len, read_full(self->srv, rec, rec_len));
	EXPECT_EQ(0x17, rec[0]);	/* opaque_type application_data */
	EXPECT_EQ(0x03, rec[1]);
	EXPECT_EQ(0x03, rec[2]);
	EXPECT_EQ(rec_len - 5, (size_t)((rec[3] << 8) | rec[4]));
	EXPECT_EQ(NULL, memmem(rec, rec_len, "never be on the wire", 20));

	ASSERT_EQ(0, open_record(self->evp, self->key, self->iv12, 0, rec, rec_len,
				 inner, &inner_len)) TH_LOG("record does not open with the fixed keys");
	ASSERT_EQ(pt_len + 1, inner_len);
	EXPECT_EQ(0, memcmp(inner, plaintext, pt_len));
	EXPECT_EQ(0x17, inner[pt_len]);	/* inner content type application_data */
}

TEST_F(ktls, kernel_decrypts_on_rx)
{
	char buf[256];
	ssize_t n;

	ASSERT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TLS, TLS_TX, &self->ci, self->ci_len));
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TLS, TLS_RX, &self->ci, self->ci_len))
		TH_LOG("TLS_RX %s: %s", variant->name, strerror(errno));
	ASSERT_EQ((ssize_t)sizeof(plaintext), send(self->cli, plaintext, sizeof(plaintext), 0));
	n = recv(self->srv, buf, sizeof(plaintext), MSG_WAITALL);
	ASSERT_EQ((ssize_t)sizeof(plaintext), n);
	EXPECT_EQ(0, memcmp(buf, plaintext, sizeof(plaintext)));
}

TEST_F(ktls, wrong_key_fails_to_decrypt)
{
	char buf[256];

	/* Same record, but the receiver has a different key: the kernel must
	 * refuse it (EBADMSG), never hand out garbage or the ciphertext. */
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TLS, TLS_TX, &self->ci, self->ci_len));
	((unsigned char *)&self->ci)[sizeof(struct tls_crypto_info) + 8] ^= 0xff;
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TLS, TLS_RX, &self->ci, self->ci_len));
	ASSERT_EQ((ssize_t)sizeof(plaintext), send(self->cli, plaintext, sizeof(plaintext), 0));
	EXPECT_EQ(-1, recv(self->srv, buf, sizeof(buf), 0));
	EXPECT_EQ(EBADMSG, errno);
}

TEST_HARNESS_MAIN
