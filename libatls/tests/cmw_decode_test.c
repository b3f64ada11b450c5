// SPDX-License-Identifier: Apache-2.0
/*
 * CMW / CBOR decoder against hostile input.  A small CBOR writer in this file
 * builds the valid evidence record byte by byte (independently of the
 * libcbor-based encoder, so the two cross-check each other) and one variant
 * per malformation: wrong types, unknown/duplicate/missing keys, key order,
 * non-minimal heads, indefinite lengths, tags, floats, negative integers,
 * oversize and truncated input, huge declared counts, deep nesting, and the
 * CMW forms we do not accept (JSON, tag, collection, content format, ind).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atls/wire.h>

#include "kselftest_harness.h"
#include "../src/cmw.h"

struct w {
	uint8_t b[70000];
	size_t n;
};

static void put(struct w *w, uint8_t c)
{
	if (w->n < sizeof(w->b))
		w->b[w->n++] = c;
}

/* Head with a forced argument width: ai 0 = immediate, 24..27 = 1..8 bytes. */
static void head_ai(struct w *w, int mt, uint64_t v, int ai)
{
	int i, n;

	if (ai == 0) {
		put(w, mt << 5 | (uint8_t)v);
		return;
	}
	put(w, mt << 5 | ai);
	n = 1 << (ai - 24);
	for (i = n - 1; i >= 0; i--)
		put(w, (uint8_t)(v >> (8 * i)));
}

static void head(struct w *w, int mt, uint64_t v)
{
	head_ai(w, mt, v, v < 24 ? 0 : v <= 0xff ? 24 : v <= 0xffff ? 25 : v <= 0xffffffffu ? 26
										: 27);
}

static void tstr(struct w *w, const char *s)
{
	head(w, 3, strlen(s));
	while (*s)
		put(w, (uint8_t)*s++);
}

static void bstr(struct w *w, uint8_t fill, size_t len)
{
	head(w, 2, len);
	while (len--)
		put(w, fill);
}

enum variant {
	V_OK,
	V_UNSORTED,
	V_DUP_KEY,
	V_UNKNOWN_KEY,
	V_MISSING_SIG,
	V_NO_PAT,
	V_KID_SHORT,
	V_KID_LONG,
	V_VER_12,
	V_VER_BYTES,
	V_SIG_TEXT,
	V_SIG_EMPTY,
	V_BLOB_TOO_BIG,
	V_NONMIN_LEN,
	V_NONMIN_MAPCOUNT,
	V_INDEF_MAP,
	V_INDEF_BSTR,
	V_TAG,
	V_NEGINT,
	V_FLOAT,
	V_PAT_CERTINFO,
	V_KAT_ATTESTINFO,
	V_EXTRA_TOP,
	V_TOP_ARRAY,
	V_TOP_DUP_PAT,
	V_HUGE_MAP,
	V_HUGE_BSTR,
	V_DEEP,
	V_TRAILING_INNER,
	V_MAX
};

static void pat(struct w *w, enum variant v)
{
	bool dup = v == V_DUP_KEY, unk = v == V_UNKNOWN_KEY, miss = v == V_MISSING_SIG;

	if (v == V_INDEF_MAP)
		put(w, 0xbf);
	else if (v == V_NONMIN_MAPCOUNT)
		head_ai(w, 5, 4, 24);
	else
		head(w, 5, 4 + dup + unk - miss);
	if (v == V_UNSORTED) {
		tstr(w, "tpmVer");
		tstr(w, "2.0");
	}
	tstr(w, "kid");
	if (v == V_NONMIN_LEN) {
		head_ai(w, 2, ATLS_KID_LEN, 25);
		for (int i = 0; i < ATLS_KID_LEN; i++)
			put(w, 0x01);
	} else if (v == V_INDEF_BSTR) {
		put(w, 0x5f);
		bstr(w, 0x01, ATLS_KID_LEN);
		put(w, 0xff);
	} else {
		bstr(w, 0x01, v == V_KID_SHORT ? 32 : v == V_KID_LONG ? 34 : ATLS_KID_LEN);
	}
	if (dup) {
		tstr(w, "kid");
		bstr(w, 0x01, ATLS_KID_LEN);
	}
	if (!miss) {
		tstr(w, "sig");
		if (v == V_SIG_TEXT)
			tstr(w, "signature");
		else if (v == V_TAG) {
			head(w, 6, 24);
			bstr(w, 0x22, 72);
		} else if (v == V_NEGINT)
			head(w, 1, 5);
		else if (v == V_FLOAT) {
			put(w, 0xfa);
			put(w, 0x3f);
			put(w, 0x80);
			put(w, 0);
			put(w, 0);
		} else if (v == V_HUGE_BSTR)
			head_ai(w, 2, 0xffffffffffull, 27);
		else if (v == V_DEEP) {
			for (int i = 0; i < 200; i++)
				put(w, 0x81);
			put(w, 0x00);
		} else
			bstr(w, 0x22, v == V_SIG_EMPTY ? 0 : v == V_BLOB_TOO_BIG ? 1025 : 72);
	}
	if (v != V_UNSORTED) {
		tstr(w, "tpmVer");
		if (v == V_VER_BYTES)
			bstr(w, '2', 3);
		else
			tstr(w, v == V_VER_12 ? "1.2" : "2.0");
	}
	if (unk) {
		tstr(w, "nonce");
		bstr(w, 0, 8);
	}
	tstr(w, v == V_PAT_CERTINFO ? "certInfo" : "attestInfo");
	bstr(w, 0x33, 129);
	if (v == V_INDEF_MAP)
		put(w, 0xff);
}

static void kat(struct w *w, enum variant v)
{
	head(w, 5, 5);
	tstr(w, "kid");
	bstr(w, 0x01, ATLS_KID_LEN);
	tstr(w, "sig");
	bstr(w, 0x44, 70);
	tstr(w, "tpmVer");
	tstr(w, "2.0");
	tstr(w, "pubArea");
	bstr(w, 0x55, 90);
	tstr(w, v == V_KAT_ATTESTINFO ? "attestInfo" : "certInfo");
	bstr(w, 0x66, 150);
}

static void inner(struct w *w, enum variant v)
{
	if (v == V_TOP_ARRAY) {
		head(w, 4, 2);
		kat(w, v);
		pat(w, v);
		return;
	}
	if (v == V_HUGE_MAP) {
		head_ai(w, 5, 0xffffffffu, 26);
		kat(w, v);
		return;
	}
	head(w, 5, v == V_NO_PAT ? 1 : 2 + (v == V_EXTRA_TOP) + (v == V_TOP_DUP_PAT));
	tstr(w, "kat");
	kat(w, v);
	if (v == V_NO_PAT)
		goto out;
	tstr(w, "pat");
	pat(w, v);
	if (v == V_TOP_DUP_PAT) {
		tstr(w, "pat");
		pat(w, V_OK);
	}
	if (v == V_EXTRA_TOP) {
		tstr(w, "xyz");
		bstr(w, 0, 1);
	}
out:
	if (v == V_TRAILING_INNER)
		put(w, 0x00);
}

/* A byte string holding what in holds. */
static void bstr_of(struct w *w, const struct w *in)
{
	head(w, 2, in->n);
	memcpy(w->b + w->n, in->b, in->n);
	w->n += in->n;
}

/* Scratch buffers, static for their size; each test runs in its own process. */
static struct w rec, in_rec;
static struct atls_evidence_map ev;

/* [ media type, bstr(inner) ] */
static void record(struct w *out, enum variant v)
{
	in_rec.n = 0;
	inner(&in_rec, v);
	out->n = 0;
	head(out, 4, 2);
	tstr(out, ATLS_MT_TPM_EVIDENCE);
	bstr_of(out, &in_rec);
}

TEST(valid_record_decodes_and_matches_encoder)
{
	struct w *w = &rec;
	uint8_t *enc;
	size_t len;

	record(w, V_OK);
	ASSERT_EQ(0, atls_cmw_decode(w->b, w->n, &ev));
	EXPECT_TRUE(ev.has_kat);
	EXPECT_EQ(72, ev.pat.sig.len);
	EXPECT_EQ(129, ev.pat.attest_info.len);
	EXPECT_EQ(90, ev.kat.pub_area.len);
	EXPECT_EQ(150, ev.kat.cert_info.len);
	EXPECT_EQ(0x33, ev.pat.attest_info.b[128]);
	/* The libcbor encoder produces exactly these bytes. */
	ASSERT_EQ(0, atls_cmw_encode(&ev, &enc, &len));
	ASSERT_EQ(w->n, len);
	EXPECT_EQ(0, memcmp(enc, w->b, len));
	free(enc);
}

TEST(pat_only_round_trip)
{
	struct atls_evidence_map e2;
	uint8_t *enc;
	size_t len;

	memset(&ev, 0, sizeof(ev));
	memset(ev.pat.kid, 1, ATLS_KID_LEN);
	ev.pat.sig.len = 10;
	ev.pat.attest_info.len = 300;	/* two-byte length head */
	ASSERT_EQ(0, atls_cmw_encode(&ev, &enc, &len));
	ASSERT_EQ(0, atls_cmw_decode(enc, len, &e2));
	EXPECT_FALSE(e2.has_kat);
	EXPECT_EQ(300, e2.pat.attest_info.len);
	free(enc);
}

TEST(every_malformed_variant_is_rejected)
{
	struct w *w = &rec;
	int v;

	for (v = V_OK + 1; v < V_MAX; v++) {
		record(w, v);
		EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev)) {
			TH_LOG("variant %d accepted or wrong error", v);
		}
		/* A rejected decode leaves nothing behind. */
		EXPECT_FALSE(ev.has_kat);
		EXPECT_EQ(0, ev.pat.sig.len);
	}
}

TEST(every_truncation_is_rejected)
{
	struct w *w = &rec;
	size_t cut;

	record(w, V_OK);
	for (cut = 0; cut < w->n; cut++)
		ASSERT_EQ(-EBADMSG, atls_cmw_decode(w->b, cut, &ev)) {
			TH_LOG("prefix of %zu bytes accepted", cut);
		}
}

TEST(trailing_byte_is_rejected)
{
	struct w *w = &rec;

	record(w, V_OK);
	w->b[w->n++] = 0x00;
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
}

TEST(oversize_is_rejected_before_parsing)
{
	uint8_t *big = calloc(1, ATLS_CMW_MAX + 1);

	big[0] = 0x82;
	EXPECT_EQ(-E2BIG, atls_cmw_decode(big, ATLS_CMW_MAX + 1, &ev));
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(big, 0, &ev));
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(NULL, 10, &ev));
	free(big);
}

TEST(single_bit_flips_never_crash_and_mostly_fail)
{
	struct w *w = &rec;
	size_t i, accepted = 0;
	int bit, rc;

	record(w, V_OK);
	for (i = 0; i < w->n; i++) {
		for (bit = 0; bit < 8; bit++) {
			w->b[i] ^= 1 << bit;
			rc = atls_cmw_decode(w->b, w->n, &ev);
			/* Flips inside byte-string payloads still decode (the TPM
			 * layer rejects them); anything else must not. */
			if (!rc)
				accepted++;
			else
				EXPECT_TRUE(rc == -EBADMSG || rc == -EMEDIUMTYPE);
			w->b[i] ^= 1 << bit;
		}
	}
	/* Payload bytes: 33*2 + 72 + 70 + 90 + 129 + 150 = 577 of the record. */
	EXPECT_GE(577 * 8, accepted);
}

/* The CMW forms and media types that are well-formed but not ours. */
TEST(other_cmw_forms_are_wrong_media_type)
{
	static const uint8_t json_rec[] = "[\"application/eat+jwt\",\"eyJ\"]";
	static const uint8_t json_col[] = "{\"a\":[\"b\",\"c\"]}";
	static const uint8_t tag_form[] = { 0xda, 0x63, 0x74, 0x01, 0x01, 0x41, 0x00 };
	static const uint8_t collection[] = { 0xa1, 0x61, 0x61, 0x82, 0x61, 0x62, 0x41, 0x00 };
	/* [273, h'00'] : a CoAP content format instead of a media type. */
	static const uint8_t cf[] = { 0x82, 0x19, 0x01, 0x11, 0x41, 0x00 };
	/* ["application/eat+cwt", h'00'] */
	struct w *w = &rec;

	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(json_rec, sizeof(json_rec) - 1, &ev));
	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(json_col, sizeof(json_col) - 1, &ev));
	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(tag_form, sizeof(tag_form), &ev));
	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(collection, sizeof(collection), &ev));
	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(cf, sizeof(cf), &ev));
	head(w, 4, 2);
	tstr(w, "application/eat+cwt");
	bstr(w, 0, 1);
	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(w->b, w->n, &ev));
	/* Media type differing only in case is still another media type. */
	w->n = 0;
	head(w, 4, 2);
	tstr(w, "application/vnd.parallaxsecond.key-attestation.TPM");
	bstr(w, 0, 1);
	EXPECT_EQ(-EMEDIUMTYPE, atls_cmw_decode(w->b, w->n, &ev));
}

TEST(malformed_records_are_rejected)
{
	struct w *w = &rec, *in = &in_rec;

	inner(in, V_OK);
	/* [type, bstr, ind=4]: our profile never sends ind. */
	head(w, 4, 3);
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	bstr_of(w, in);
	head(w, 0, 4);
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	/* Indefinite-length outer array. */
	w->n = 0;
	put(w, 0x9f);
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	bstr_of(w, in);
	put(w, 0xff);
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	/* Value as a text string. */
	w->n = 0;
	head(w, 4, 2);
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	tstr(w, "not bytes");
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	/* Type as a byte string. */
	w->n = 0;
	head(w, 4, 2);
	bstr(w, 'a', 10);
	bstr(w, 0, 1);
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	/* Non-minimal length of the value byte string. */
	w->n = 0;
	head(w, 4, 2);
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	head_ai(w, 2, in->n, 26);
	memcpy(w->b + w->n, in->b, in->n);
	w->n += in->n;
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	/* Declared length far beyond the input. */
	w->n = 0;
	head(w, 4, 2);
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	head_ai(w, 2, 0xffffffffull, 26);
	put(w, 0);
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	/* A one-element record and a bare text string. */
	w->n = 0;
	head(w, 4, 1);
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
	w->n = 0;
	tstr(w, ATLS_MT_TPM_EVIDENCE);
	EXPECT_EQ(-EBADMSG, atls_cmw_decode(w->b, w->n, &ev));
}

TEST(strict_check_units)
{
	static const struct {
		uint8_t b[12];
		size_t n;
		int ok;
	} c[] = {
		{ { 0x00 }, 1, 1 },
		{ { 0x17 }, 1, 1 },
		{ { 0x18, 0x17 }, 2, 0 },		/* non-minimal uint */
		{ { 0x18, 0x18 }, 2, 1 },
		{ { 0x19, 0x00, 0xff }, 3, 0 },
		{ { 0x1a, 0x00, 0x00, 0xff, 0xff }, 5, 0 },
		{ { 0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff }, 9, 0 },
		{ { 0x1c }, 1, 0 },			/* reserved */
		{ { 0x5f, 0xff }, 2, 0 },		/* indefinite bstr */
		{ { 0x20 }, 1, 0 },			/* negative int */
		{ { 0xc1, 0x00 }, 2, 0 },		/* tag */
		{ { 0xf6 }, 1, 0 },			/* null */
		{ { 0x80 }, 1, 1 },
		{ { 0x81, 0x81, 0x80 }, 3, 0 },		/* depth 3 > 2 */
		{ { 0x82, 0x00 }, 2, 0 },		/* missing element */
		{ { 0xa1, 0x00 }, 2, 0 },		/* map missing value */
		{ { 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9, 0 },
		{ { 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9, 0 },
		{ { 0x43, 0x01, 0x02 }, 3, 0 },		/* short bstr */
		{ { 0x00, 0x00 }, 2, 0 },		/* two items */
	};
	unsigned int i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		EXPECT_EQ(c[i].ok ? 0 : -EBADMSG, atls_cbor_strict_check(c[i].b, c[i].n, 2)) {
			TH_LOG("case %u", i);
		}
	EXPECT_EQ(-EBADMSG, atls_cbor_strict_check(NULL, 0, 2));
}

TEST_HARNESS_MAIN
