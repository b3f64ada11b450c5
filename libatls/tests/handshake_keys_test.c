// SPDX-License-Identifier: Apache-2.0
/*
 * The handshake completes for each kTLS suite, and the exported TX/RX
 * crypto_info is right: the peer (plain OpenSSL, another thread, real TCP
 * loopback) writes one application record with SSL_write() which we decrypt
 * from the raw socket with our RX keys at sequence 0, and we write one record
 * with our TX keys that the peer's SSL_read() accepts.  Both roles.
 */
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>

#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <atls/atls.h>

#include "certs.h"
#include "harness.h"
#include "net.h"
#include "peer.h"
#include "record.h"
#include "util.h"
#include "../src/internal.h"

static const char from_peer[] = "record written by OpenSSL after the handshake";
static const char from_us[] = "record written with the exported TX keys";

struct peer {
	int fd, server;
	const char *suite, *cert, *key;
	int ok;
};

static int peer_main(void *arg)
{
	struct peer *p = arg;
	SSL_CTX *c = tl_peer_ctx(p->server, p->suite, p->cert, p->key);
	char buf[256];
	SSL *s;
	int n;

	if (!c)
		return -1;
	s = SSL_new(c);
	if (!s || !tl_peer_handshake(s, p->fd, p->server))
		goto out;
	if (SSL_write(s, from_peer, sizeof(from_peer)) != sizeof(from_peer))
		goto out;
	n = SSL_read(s, buf, sizeof(buf));
	if (n == sizeof(from_us) && !memcmp(buf, from_us, sizeof(from_us)))
		p->ok = 1;
out:
	SSL_free(s);
	SSL_CTX_free(c);
	return p->ok ? 0 : -1;
}

TL_DIR_FIXTURE(keys)
{
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "a", "atls-side", false, NULL));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "p", "openssl-peer", false, NULL));
}

FIXTURE_VARIANT(keys)
{
	const char *suite;
	uint16_t id;
	int cipher_type;
	enum atls_role role;
};

FIXTURE_VARIANT_ADD(keys, aes128_client) { "TLS_AES_128_GCM_SHA256", 0x1301, TLS_CIPHER_AES_GCM_128, ATLS_ROLE_CLIENT };
FIXTURE_VARIANT_ADD(keys, aes256_client) { "TLS_AES_256_GCM_SHA384", 0x1302, TLS_CIPHER_AES_GCM_256, ATLS_ROLE_CLIENT };
FIXTURE_VARIANT_ADD(keys, chacha_client) { "TLS_CHACHA20_POLY1305_SHA256", 0x1303, TLS_CIPHER_CHACHA20_POLY1305, ATLS_ROLE_CLIENT };
FIXTURE_VARIANT_ADD(keys, aes128_server) { "TLS_AES_128_GCM_SHA256", 0x1301, TLS_CIPHER_AES_GCM_128, ATLS_ROLE_SERVER };
FIXTURE_VARIANT_ADD(keys, aes256_server) { "TLS_AES_256_GCM_SHA384", 0x1302, TLS_CIPHER_AES_GCM_256, ATLS_ROLE_SERVER };
FIXTURE_VARIANT_ADD(keys, chacha_server) { "TLS_CHACHA20_POLY1305_SHA256", 0x1303, TLS_CIPHER_CHACHA20_POLY1305, ATLS_ROLE_SERVER };

TEST_F(keys, record_roundtrip)
{
	struct tl_thread th;
	struct atls_config cfg;
	struct atls_result res;
	struct atls_ctx *ctx;
	struct peer p = { 0 };
	uint8_t buf[256], type;
	int cfd, sfd, our, n, ret;

	atls_config_init(&cfg, variant->role);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	cfg.ciphersuites = variant->suite;
	if (variant->role == ATLS_ROLE_SERVER) {
		cfg.cert_file = tl_path(self->dir, "a.pem");
		cfg.key_file = tl_path(self->dir, "a.key");
	}
	ASSERT_EQ(0, atls_ctx_new(&cfg, &ctx));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
	our = variant->role == ATLS_ROLE_CLIENT ? cfd : sfd;
	p.fd = variant->role == ATLS_ROLE_CLIENT ? sfd : cfd;
	p.server = variant->role == ATLS_ROLE_CLIENT;
	p.suite = variant->suite;
	p.cert = tl_path(self->dir, "p.pem");
	p.key = tl_path(self->dir, "p.key");
	ASSERT_EQ(0, tl_spawn(&th, peer_main, &p));

	ret = atls_handshake(ctx, our, 5000, &res);
	EXPECT_EQ(0, ret) TH_LOG("%s: %s", atls_reason_name(res.reason), res.reason_text);
	if (!ret) {
		EXPECT_EQ(variant->id, res.cipher_suite);
		EXPECT_EQ(variant->cipher_type, res.tx.info.cipher_type);
		EXPECT_EQ(TLS_1_3_VERSION, res.rx.info.version);
		EXPECT_EQ(variant->role == ATLS_ROLE_CLIENT, res.have_peer_cert);
		EXPECT_EQ(ATLS_EAR_NONE, res.appraisal.status);
		/* The peer's first application record, decrypted with RX at seq 0. */
		n = tl_record_read(our, &res.rx, 0, buf, sizeof(buf), &type);
		EXPECT_EQ(sizeof(from_peer), n);
		EXPECT_EQ(23, type);
		if (n == sizeof(from_peer))
			EXPECT_EQ(0, memcmp(buf, from_peer, sizeof(from_peer)));
		/* Ours, encrypted with TX at seq 0, accepted by OpenSSL. */
		EXPECT_EQ(0, tl_record_write(our, &res.tx, 0, (const uint8_t *)from_us,
					     sizeof(from_us)));
		/*
		 * The traffic secrets handed to the kernel for KeyUpdate are
		 * those the keys came from: key = HKDF-Expand-Label(secret,
		 * "key"), in each direction.
		 */
		{
			const EVP_MD *md = variant->id == 0x1302 ? EVP_sha384() : EVP_sha256();
			size_t kl = variant->id == 0x1301 ? 16 : 32;
			uint8_t k[32];

			EXPECT_EQ(variant->id == 0x1302 ? 48u : 32u, res.secret_len);
			ASSERT_EQ(0, atls_hkdf_expand_label(md, res.tx_secret, res.secret_len, "key",
							    NULL, 0, k, kl));
			EXPECT_EQ(0, memcmp(k, variant->id == 0x1303 ? res.tx.chacha20_poly1305.key :
					    kl == 16 ? res.tx.aes_gcm_128.key : res.tx.aes_gcm_256.key, kl));
			ASSERT_EQ(0, atls_hkdf_expand_label(md, res.rx_secret, res.secret_len, "key",
							    NULL, 0, k, kl));
			EXPECT_EQ(0, memcmp(k, variant->id == 0x1303 ? res.rx.chacha20_poly1305.key :
					    kl == 16 ? res.rx.aes_gcm_128.key : res.rx.aes_gcm_256.key, kl));
		}
	}
	EXPECT_EQ(0, tl_join(&th));
	EXPECT_EQ(1, p.ok);
	atls_result_release(&res);
	{
		static const uint8_t zero[sizeof(res.tx)];
		static const uint8_t zs[sizeof(res.tx_secret)];

		EXPECT_EQ(0, memcmp(&res.tx, zero, sizeof(zero)));
		EXPECT_EQ(0, memcmp(&res.rx, zero, sizeof(zero)));
		EXPECT_EQ(0, memcmp(res.tx_secret, zs, sizeof(zs)));
		EXPECT_EQ(0, memcmp(res.rx_secret, zs, sizeof(zs)));
		EXPECT_EQ(0u, res.secret_len);
	}
	close(cfd);
	close(sfd);
	atls_ctx_free(ctx);
}

TEST_HARNESS_MAIN
