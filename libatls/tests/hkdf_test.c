// SPDX-License-Identifier: Apache-2.0
/*
 * HKDF-Expand-Label against RFC 8448 §3 (Simple 1-RTT Handshake), the
 * transcript hash with and without HelloRetryRequest, and binder properties.
 */
#include <string.h>
#include <openssl/evp.h>

/* The harness itself trips -Wextra; keep our own code under it elsewhere. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include "../src/internal.h"

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	unsigned int v;

	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		sscanf(s, "%2x", &v);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

struct vec {
	const char *secret, *label, *ctx, *out;
};

/* RFC 8448 §3: {server} derive secret ..., derive write traffic keys ... */
static const struct vec vecs[] = {
	{ "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac",
	  "c hs traffic",
	  "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8",
	  "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21" },
	{ "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac",
	  "s hs traffic",
	  "86 0c 06 ed c0 78 58 ee 8e 78 f0 e7 42 8c 58 ed d6 b4 3f 2c a3 e6 e9 5f 02 ed 06 3c f0 e1 ca d8",
	  "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38" },
	{ "33 ad 0a 1c 60 7e c0 3b 09 e6 cd 98 93 68 0c e2 10 ad f3 00 aa 1f 26 60 e1 b2 2e 10 f1 70 f9 2a",
	  "derived",
	  "e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55",
	  "6f 26 15 a1 08 c7 02 c5 67 8f 54 fc 9d ba b6 97 16 c0 76 18 9c 48 25 0c eb ea c3 57 6c 36 11 ba" },
	{ "1d c8 26 e9 36 06 aa 6f dc 0a ad c1 2f 74 1b 01 04 6a a6 b9 9f 69 1e d2 21 a9 f0 ca 04 3f be ac",
	  "derived",
	  "e3 b0 c4 42 98 fc 1c 14 9a fb f4 c8 99 6f b9 24 27 ae 41 e4 64 9b 93 4c a4 95 99 1b 78 52 b8 55",
	  "43 de 77 e0 c7 77 13 85 9a 94 4d b9 db 25 90 b5 31 90 a6 5b 3e e2 e4 f1 2d d7 a0 bb 7c e2 54 b4" },
	{ "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
	  "key", "", "3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc" },
	{ "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
	  "iv", "", "5d 31 3e b2 67 12 76 ee 13 00 0b 30" },
};

TEST(rfc8448_expand_label)
{
	uint8_t secret[64], ctx[64], want[64], got[64];
	size_t i, sl, cl, wl;

	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		sl = unhex(vecs[i].secret, secret);
		cl = unhex(vecs[i].ctx, ctx);
		wl = unhex(vecs[i].out, want);
		ASSERT_EQ(0, atls_hkdf_expand_label(EVP_sha256(), secret, sl, vecs[i].label, ctx, cl,
						    got, wl));
		EXPECT_EQ(0, memcmp(got, want, wl)) TH_LOG("vector %zu (%s)", i, vecs[i].label);
	}
}

/*
 * "traffic upd" (RFC 8446 7.2), the next application traffic secret of a
 * KeyUpdate: the values atls.ko checks its own derivation against at load
 * (kmod/rekey.c), here from OpenSSL's HKDF. SHA-256 on the RFC 8448 secret
 * above, SHA-384 on the secret 00 01 .. 2f.
 */
TEST(traffic_update_matches_kernel_vectors)
{
	uint8_t s[48], want[48], got[48];
	size_t i;

	unhex(vecs[4].secret, s);
	unhex("c5 84 7f fa 1b fe a2 d5 c4 09 ee e4 5d 28 13 18 13 27 a7 8a 52 ee 6d 02 d8 a5 e1 0f bf 0f fa ce",
	      want);
	ASSERT_EQ(0, atls_hkdf_expand_label(EVP_sha256(), s, 32, "traffic upd", NULL, 0, got, 32));
	EXPECT_EQ(0, memcmp(got, want, 32));
	for (i = 0; i < 48; i++)
		s[i] = (uint8_t)i;
	unhex("40 13 31 b6 3e 9d 59 f2 02 e8 f0 41 04 2d 95 16 f4 cd 7f a2 e2 ee 14 63 "
	      "1d 3b 49 fc 34 0d 7a f3 7f c2 c0 c9 f2 52 d8 03 6f 81 ec 5b 85 cb e5 db", want);
	ASSERT_EQ(0, atls_hkdf_expand_label(EVP_sha384(), s, 48, "traffic upd", NULL, 0, got, 48));
	EXPECT_EQ(0, memcmp(got, want, 48));
}

TEST(expand_label_limits)
{
	uint8_t s[32] = { 0 }, out[32], big[256] = { 0 };
	char label[260];

	memset(label, 'a', sizeof(label) - 1);
	label[sizeof(label) - 1] = 0;
	EXPECT_EQ(-EINVAL, atls_hkdf_expand_label(EVP_sha256(), s, 32, label, NULL, 0, out, 32));
	EXPECT_EQ(-EINVAL, atls_hkdf_expand_label(EVP_sha256(), s, 32, "x", big, 256, out, 32));
}

/* Build a fake handshake message of type t with body length n (filled with f). */
static size_t msg(uint8_t *p, uint8_t t, size_t n, uint8_t f)
{
	p[0] = t;
	p[1] = (uint8_t)(n >> 16);
	p[2] = (uint8_t)(n >> 8);
	p[3] = (uint8_t)n;
	memset(p + 4, f, n);
	return n + 4;
}

static const uint8_t hrr_magic[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65,
	0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
	0xc8, 0xa8, 0x33, 0x9c,
};

TEST(transcript_plain_and_hrr)
{
	uint8_t buf[2048], th[64], want[64], mh[4 + 32];
	unsigned int wl;
	size_t n = 0, ch1, tl;
	EVP_MD_CTX *h;

	/* Plain: hash over CH || SH. */
	n += msg(buf + n, 1, 100, 0x11);
	n += msg(buf + n, 2, 80, 0x22);
	ASSERT_EQ(0, atls_transcript_hash(EVP_sha256(), buf, n, th, &tl));
	ASSERT_EQ(1, EVP_Digest(buf, n, want, &wl, EVP_sha256(), NULL));
	EXPECT_EQ(0, memcmp(th, want, 32));

	/* HRR: CH1 replaced by message_hash(FE 00 00 20 || H(CH1)). */
	n = 0;
	ch1 = msg(buf, 1, 100, 0x11);
	n = ch1;
	n += msg(buf + n, 2, 60, 0x33);
	memcpy(buf + ch1 + 6, hrr_magic, 32);
	n += msg(buf + n, 1, 120, 0x44);
	n += msg(buf + n, 2, 80, 0x22);
	ASSERT_EQ(0, atls_transcript_hash(EVP_sha256(), buf, n, th, &tl));
	mh[0] = 0xfe;
	mh[1] = 0;
	mh[2] = 0;
	mh[3] = 32;
	ASSERT_EQ(1, EVP_Digest(buf, ch1, mh + 4, &wl, EVP_sha256(), NULL));
	h = EVP_MD_CTX_new();
	ASSERT_EQ(1, EVP_DigestInit_ex(h, EVP_sha256(), NULL));
	EVP_DigestUpdate(h, mh, sizeof(mh));
	EVP_DigestUpdate(h, buf + ch1, n - ch1);
	EVP_DigestFinal_ex(h, want, &wl);
	EVP_MD_CTX_free(h);
	EXPECT_EQ(0, memcmp(th, want, 32));
}

TEST(transcript_rejects_bad_framing)
{
	uint8_t buf[512], th[64];
	size_t n, tl;

	n = msg(buf, 1, 10, 0);
	EXPECT_EQ(-EBADMSG, atls_transcript_hash(EVP_sha256(), buf, n, th, &tl)); /* CH only */
	n += msg(buf + n, 2, 10, 0);
	EXPECT_EQ(-EBADMSG, atls_transcript_hash(EVP_sha256(), buf, n - 1, th, &tl)); /* short */
	buf[0] = 2;
	EXPECT_EQ(-EBADMSG, atls_transcript_hash(EVP_sha256(), buf, n, th, &tl)); /* no CH first */
}

TEST(binder_depends_on_transcript_and_spki)
{
	uint8_t th1[32], th2[32], b1[64], b2[64], b3[64];
	const uint8_t spki1[] = "spki-one", spki2[] = "spki-two";
	size_t l1, l2, l3;

	memset(th1, 1, sizeof(th1));
	memset(th2, 2, sizeof(th2));
	ASSERT_EQ(0, atls_binder_compute(EVP_sha256(), th1, 32, spki1, 8, b1, &l1));
	ASSERT_EQ(0, atls_binder_compute(EVP_sha256(), th2, 32, spki1, 8, b2, &l2));
	ASSERT_EQ(0, atls_binder_compute(EVP_sha256(), th1, 32, spki2, 8, b3, &l3));
	EXPECT_EQ(32, l1);
	EXPECT_NE(0, memcmp(b1, b2, 32));
	EXPECT_NE(0, memcmp(b1, b3, 32));
	/* L must match the hash. */
	EXPECT_EQ(-EINVAL, atls_binder_compute(EVP_sha384(), th1, 32, spki1, 8, b1, &l1));
}

TEST_HARNESS_MAIN
