// SPDX-License-Identifier: Apache-2.0
/*
 * Batched quotes, the pure parts (batch.h): leaf and node hashing against an
 * independent computation of the formulas, inclusion paths of a hand-built
 * tree, BatchEvidence encode/parse round trip, and hostile BatchEvidence:
 * every truncation, bad version/depth/index, cmw length that disagrees with
 * the bytes, trailing bytes.  No TPM is involved here (batch_tpm_test.c
 * covers quotes and handshakes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "kselftest_harness.h"
#include "../src/batch.h"
#include "../src/internal.h"

/* The formulas of batch.h, written out again. */
static void ref_leaf(const uint8_t *b, size_t n, uint8_t out[32])
{
	uint8_t buf[1 + 64];

	buf[0] = 0x00;
	memcpy(buf + 1, b, n);
	SHA256(buf, 1 + n, out);
}

static void ref_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 0x01;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	SHA256(buf, sizeof(buf), out);
}

static void binder_of(int i, uint8_t b[32])
{
	memset(b, 0xa0 + i, 32);
	b[0] = (uint8_t)i;
}

TEST(leaf_formula)
{
	uint8_t b[48], want[32], got[32];

	memset(b, 7, sizeof(b));
	ref_leaf(b, 32, want);
	ASSERT_EQ(0, atls_batch_leaf(b, 32, got));
	EXPECT_EQ(0, memcmp(want, got, 32));
	ref_leaf(b, 48, want);	/* SHA-384 suites: 48-byte binders */
	ASSERT_EQ(0, atls_batch_leaf(b, 48, got));
	EXPECT_EQ(0, memcmp(want, got, 32));
	EXPECT_EQ(-EINVAL, atls_batch_leaf(b, 0, got));
	EXPECT_EQ(-EINVAL, atls_batch_leaf(NULL, 32, got));
	EXPECT_EQ(-EINVAL, atls_batch_leaf(b, 65, got));
}

/* Three leaves in a depth-2 tree (slot 3 padded): every path leads to the root. */
TEST(paths_of_a_tree)
{
	uint8_t b[3][32], lf[4][32], n01[32], n23[32], root[32], pad[32], path[2][32], got[32];
	uint8_t p2 = 0x02;
	struct atls_batch_proof pr = { .depth = 2, .path = &path[0][0] };
	int i;

	for (i = 0; i < 3; i++) {
		binder_of(i, b[i]);
		ref_leaf(b[i], 32, lf[i]);
	}
	SHA256(&p2, 1, pad);
	memcpy(lf[3], pad, 32);
	ref_node(lf[0], lf[1], n01);
	ref_node(lf[2], lf[3], n23);
	ref_node(n01, n23, root);

	for (i = 0; i < 3; i++) {
		memcpy(path[0], lf[i ^ 1], 32);
		memcpy(path[1], i < 2 ? n23 : n01, 32);
		pr.index = (uint16_t)i;
		ASSERT_EQ(0, atls_batch_root(lf[i], &pr, got));
		EXPECT_EQ(0, memcmp(root, got, 32)) TH_LOG("leaf %d", i);
		/* Another handshake's leaf with this path: another root. */
		ASSERT_EQ(0, atls_batch_root(lf[(i + 1) % 3], &pr, got));
		EXPECT_NE(0, memcmp(root, got, 32));
	}
	/* Wrong index (left/right swapped at the bottom): another root. */
	memcpy(path[0], lf[1], 32);
	memcpy(path[1], n23, 32);
	pr.index = 1;
	ASSERT_EQ(0, atls_batch_root(lf[0], &pr, got));
	EXPECT_NE(0, memcmp(root, got, 32));
	/* Index out of range for the depth. */
	pr.index = 4;
	EXPECT_EQ(-EINVAL, atls_batch_root(lf[0], &pr, got));
	/* Depth 0: the root is the leaf. */
	pr.depth = 0;
	pr.index = 0;
	ASSERT_EQ(0, atls_batch_root(lf[0], &pr, got));
	EXPECT_EQ(0, memcmp(lf[0], got, 32));
}

TEST(encode_parse_round_trip)
{
	uint8_t path[ATLS_BATCH_MAX_DEPTH * 32], cmw[300], *out;
	struct atls_batch_proof pr;
	size_t len;
	unsigned int d;

	memset(cmw, 0x5c, sizeof(cmw));
	for (d = 0; d <= ATLS_BATCH_MAX_DEPTH; d++) {
		memset(path, (int)d, sizeof(path));
		ASSERT_EQ(0, atls_batch_encode((uint8_t)d, (uint16_t)((1u << d) - 1), path, cmw,
					       sizeof(cmw), &out, &len));
		ASSERT_EQ(4 + d * 32 + 3 + sizeof(cmw), len);
		ASSERT_EQ(0, atls_batch_parse(out, len, &pr));
		EXPECT_EQ(d, pr.depth);
		EXPECT_EQ((1u << d) - 1, pr.index);
		EXPECT_EQ(sizeof(cmw), pr.cmw_len);
		EXPECT_EQ(0, memcmp(pr.cmw, cmw, sizeof(cmw)));
		if (d)
			EXPECT_EQ(0, memcmp(pr.path, path, d * 32));
		free(out);
	}
	/* The encoder refuses what the parser would refuse. */
	EXPECT_EQ(-EINVAL, atls_batch_encode(ATLS_BATCH_MAX_DEPTH + 1, 0, path, cmw, 1, &out, &len));
	EXPECT_EQ(-EINVAL, atls_batch_encode(2, 4, path, cmw, 1, &out, &len));
	EXPECT_EQ(-EMSGSIZE, atls_batch_encode(0, 0, path, cmw, 0, &out, &len));
}

TEST(hostile_input)
{
	uint8_t path[3 * 32], cmw[64], *good, *bad;
	struct atls_batch_proof pr;
	size_t len, i;

	memset(path, 1, sizeof(path));
	memset(cmw, 2, sizeof(cmw));
	ASSERT_EQ(0, atls_batch_encode(3, 5, path, cmw, sizeof(cmw), &good, &len));
	ASSERT_EQ(0, atls_batch_parse(good, len, &pr));
	/* Every truncation. */
	for (i = 0; i < len; i++)
		EXPECT_EQ(-EBADMSG, atls_batch_parse(good, i, &pr)) TH_LOG("len %zu", i);
	EXPECT_EQ(-EBADMSG, atls_batch_parse(NULL, len, &pr));
	bad = malloc(len + 1);
	ASSERT_NE(NULL, bad);
	/* Trailing byte. */
	memcpy(bad, good, len);
	bad[len] = 0;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len + 1, &pr));
	/* Version. */
	memcpy(bad, good, len);
	bad[0] = 2;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[0] = 0;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	/* Depth above the maximum, and a depth the bytes do not back. */
	memcpy(bad, good, len);
	bad[1] = ATLS_BATCH_MAX_DEPTH + 1;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[1] = 4;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[1] = 2;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	/* Index beyond 2^depth. */
	memcpy(bad, good, len);
	bad[3] = 8;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[2] = 0x80;
	bad[3] = 0;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	/* cmw length: zero, one too many, one too few, over the maximum. */
	memcpy(bad, good, len);
	bad[4 + 96] = 0, bad[5 + 96] = 0, bad[6 + 96] = 0;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[6 + 96] = sizeof(cmw) + 1;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[6 + 96] = sizeof(cmw) - 1;
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	bad[4 + 96] = 0xff;
	bad[6 + 96] = sizeof(cmw);
	EXPECT_EQ(-EBADMSG, atls_batch_parse(bad, len, &pr));
	free(bad);
	free(good);
}

/* The batched scheme in the extension bodies (ext.c): offered first, both
 * schemes in each list; chosen alone; a list with only the batched one. */
TEST(extension_schemes)
{
	static const char mt[] = ATLS_MT_TPM_BATCH;
	struct atls_ch_offer off;
	uint8_t *b, one[4 + sizeof(mt) - 1 + 4];
	size_t n, ml = sizeof(mt) - 1;

	ASSERT_EQ(0, atls_ext_build_ch_batch(true, true, true, &b, &n));
	ASSERT_EQ(0, atls_ext_parse_ch(b, n, &off));
	EXPECT_TRUE(off.server_tpm && off.server_batch && off.client_tpm && off.client_batch);
	EXPECT_EQ(2, off.n_server);
	EXPECT_EQ(2, off.n_client);
	free(b);
	ASSERT_EQ(0, atls_ext_build_ch_batch(true, false, true, &b, &n));
	ASSERT_EQ(0, atls_ext_parse_ch(b, n, &off));
	EXPECT_TRUE(off.server_tpm && off.server_batch);
	EXPECT_FALSE(off.client_tpm || off.client_batch);
	free(b);
	/* Without batch: exactly the bytes of the per-handshake builder. */
	{
		uint8_t *a;
		size_t an;

		ASSERT_EQ(0, atls_ext_build_ch_batch(true, true, false, &b, &n));
		ASSERT_EQ(0, atls_ext_build_ch(true, true, &a, &an));
		ASSERT_EQ(an, n);
		EXPECT_EQ(0, memcmp(a, b, n));
		free(a);
		free(b);
	}
	ASSERT_EQ(0, atls_ext_build_scheme_batch(&b, &n));
	EXPECT_EQ(2, atls_ext_parse_chosen(b, n));
	free(b);
	/* ClientHello whose server list holds only the batched scheme. */
	one[0] = 0;
	one[1] = (uint8_t)(4 + ml);
	one[2] = ATLS_MECH_EVIDENCE;
	one[3] = ATLS_ENC_MEDIA_TYPE;
	one[4] = 0;
	one[5] = (uint8_t)ml;
	memcpy(one + 6, mt, ml);
	one[6 + ml] = 0;
	one[7 + ml] = 0;
	ASSERT_EQ(0, atls_ext_parse_ch(one, 8 + ml, &off));
	EXPECT_TRUE(off.server_batch);
	EXPECT_FALSE(off.server_tpm);
	/* A media type one byte short of ours is another scheme. */
	one[5] = (uint8_t)(ml - 1);
	one[1] = (uint8_t)(4 + ml - 1);
	one[5 + ml] = 0;
	one[6 + ml] = 0;
	ASSERT_EQ(0, atls_ext_parse_ch(one, 7 + ml, &off));
	EXPECT_FALSE(off.server_batch);
	EXPECT_EQ(1, off.n_server);
}

TEST_HARNESS_MAIN
