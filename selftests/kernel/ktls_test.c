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
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "net.h"
#include "record.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static const char plaintext[] = "atls-foundation: this must never be on the wire in clear";

FIXTURE(ktls) {
	int cli, srv;
	struct tl_keys k;
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
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->cli, &self->srv));
	tl_keys_fixed(&self->k, variant->cipher, 0);
	ASSERT_EQ(variant->cipher, self->k.cipher);
}

FIXTURE_TEARDOWN(ktls)
{
	close(self->cli);
	close(self->srv);
}

TEST_F(ktls, wire_is_a_tls_record)
{
	size_t pt_len = sizeof(plaintext) - 1;
	size_t rec_len = 5 + pt_len + 1 + 16;	/* header, data, content type, tag */
	unsigned char rec[256], inner[256];
	size_t inner_len;
	uint8_t type;

	ASSERT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", sizeof("tls")))
		TH_LOG("TCP_ULP tls: %s (is tls.ko loaded?)", strerror(errno));
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TLS, TLS_TX, &self->k.ci, self->k.len))
		TH_LOG("TLS_TX %s: %s", variant->name, strerror(errno));
	ASSERT_EQ((ssize_t)pt_len, send(self->cli, plaintext, pt_len, 0));

	ASSERT_EQ((ssize_t)rec_len, tl_read_full(self->srv, rec, rec_len, 5000));
	EXPECT_EQ(0x17, rec[0]);	/* opaque_type application_data */
	EXPECT_EQ(0x03, rec[1]);
	EXPECT_EQ(0x03, rec[2]);
	EXPECT_EQ(rec_len - 5, (size_t)((rec[3] << 8) | rec[4]));
	EXPECT_EQ(NULL, memmem(rec, rec_len, "never be on the wire", 20));

	ASSERT_EQ(0, tl_record_open(&self->k, 0, rec, rec_len, inner, &inner_len, &type))
		TH_LOG("record does not open with the fixed keys");
	ASSERT_EQ(pt_len, inner_len);
	EXPECT_EQ(0, memcmp(inner, plaintext, pt_len));
	EXPECT_EQ(0x17, type);	/* inner content type application_data */
}

TEST_F(ktls, kernel_decrypts_on_rx)
{
	char buf[256];
	ssize_t n;

	ASSERT_EQ(0, setsockopt(self->cli, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TLS, TLS_TX, &self->k.ci, self->k.len));
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TLS, TLS_RX, &self->k.ci, self->k.len))
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
	ASSERT_EQ(0, setsockopt(self->cli, SOL_TLS, TLS_TX, &self->k.ci, self->k.len));
	((unsigned char *)&self->k.ci)[sizeof(struct tls_crypto_info) + 8] ^= 0xff;
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TCP, TCP_ULP, "tls", sizeof("tls")));
	ASSERT_EQ(0, setsockopt(self->srv, SOL_TLS, TLS_RX, &self->k.ci, self->k.len));
	ASSERT_EQ((ssize_t)sizeof(plaintext), send(self->cli, plaintext, sizeof(plaintext), 0));
	EXPECT_EQ(-1, recv(self->srv, buf, sizeof(buf), 0));
	EXPECT_EQ(EBADMSG, errno);
}

TEST_HARNESS_MAIN
