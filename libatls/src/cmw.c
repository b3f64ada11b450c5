// SPDX-License-Identifier: Apache-2.0
/*
 * CMW record and TPM evidence map: encoding and hostile-input decoding
 * (layout in cmw.h).
 *
 * Decoding happens in three steps:
 *  1. atls_cbor_strict_check() walks the CBOR heads of the input without
 *     allocating: only the major types we use, definite lengths, minimal
 *     heads, bounded nesting, and every declared length or element count
 *     backed by enough remaining input.  This is what makes it safe to give
 *     the bytes to libcbor: cbor_load() allocates element arrays from the
 *     declared counts, so a 9-byte "array of 2^32 items" would otherwise ask
 *     for 32 GiB.
 *  2. cbor_load() builds the item tree; we check exact types and keys and
 *     copy the byte strings (bounded by ATLS_EV_BLOB_MAX) into the caller's
 *     struct atls_evidence_map, so no libcbor item outlives this file.
 *  3. The result is encoded again and compared with the input: anything but
 *     the one deterministic encoding (key order, duplicates, head widths) is
 *     rejected.
 *
 * libcbor items are reference counted; every build/load result is released
 * with cbor_decref() on every path (labels named after what they release).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include <atls/wire.h>

#include "cmw.h"

#define CMW_DEPTH 2	/* [type, bstr] and { "kat": { ... } } */

/* ------------------------------------------------------------ strict scan */

static int cbor_head(const uint8_t *b, size_t len, size_t *off, uint8_t *mt, uint64_t *arg)
{
	uint8_t ib, ai;
	size_t n, i;
	uint64_t v = 0;

	if (*off >= len)
		return -EBADMSG;
	ib = b[(*off)++];
	*mt = ib >> 5;
	ai = ib & 0x1f;
	if (ai < 24) {
		*arg = ai;
		return 0;
	}
	if (ai > 27)		/* 28..30 reserved, 31 indefinite length */
		return -EBADMSG;
	n = (size_t)1 << (ai - 24);
	if (len - *off < n)
		return -EBADMSG;
	for (i = 0; i < n; i++)
		v = v << 8 | b[(*off)++];
	/* Minimal ("preferred") serialisation of the argument. */
	if ((ai == 24 && v < 24) || (ai == 25 && v <= 0xff) || (ai == 26 && v <= 0xffff) ||
	    (ai == 27 && v <= 0xffffffffull))
		return -EBADMSG;
	*arg = v;
	return 0;
}

static int cbor_item_scan(const uint8_t *b, size_t len, size_t *off, unsigned int depth)
{
	uint64_t arg, i;
	uint8_t mt;
	int err;

	err = cbor_head(b, len, off, &mt, &arg);
	if (err)
		return err;
	switch (mt) {
	case 0:			/* unsigned integer */
		return 0;
	case 2:			/* byte string */
	case 3:			/* text string */
		if (arg > len - *off)
			return -EBADMSG;
		*off += arg;
		return 0;
	case 4:			/* array: each element needs at least one byte */
		if (!depth || arg > len - *off)
			return -EBADMSG;
		for (i = 0; i < arg; i++) {
			err = cbor_item_scan(b, len, off, depth - 1);
			if (err)
				return err;
		}
		return 0;
	case 5:			/* map: two items per entry */
		if (!depth || arg > (len - *off) / 2)
			return -EBADMSG;
		for (i = 0; i < 2 * arg; i++) {
			err = cbor_item_scan(b, len, off, depth - 1);
			if (err)
				return err;
		}
		return 0;
	default:		/* negative ints, tags, floats/simple: not in our profile */
		return -EBADMSG;
	}
}

int atls_cbor_strict_check(const uint8_t *b, size_t len, unsigned int depth)
{
	size_t off = 0;
	int err;

	if (!b || !len)
		return -EBADMSG;
	err = cbor_item_scan(b, len, &off, depth);
	if (err)
		return err;
	return off == len ? 0 : -EBADMSG;
}

static cbor_item_t *cbor_load_strict(const uint8_t *b, size_t len)
{
	struct cbor_load_result res;
	cbor_item_t *item;

	if (atls_cbor_strict_check(b, len, CMW_DEPTH))
		return NULL;
	item = cbor_load(b, len, &res);
	if (item && (res.error.code != CBOR_ERR_NONE || res.read != len))
		cbor_decref(&item);
	return item;
}

/* ---------------------------------------------------------------- encode */

static bool map_put(cbor_item_t *map, const char *key, cbor_item_t *val)
{
	cbor_item_t *k = cbor_build_string(key);
	bool ok = false;

	if (k && val)
		ok = cbor_map_add(map, (struct cbor_pair){ .key = k, .value = val });
	if (k)
		cbor_decref(&k);
	if (val)
		cbor_decref(&val);
	return ok;
}

static bool map_put_bytes(cbor_item_t *map, const char *key, const uint8_t *b, size_t len)
{
	return map_put(map, key, cbor_build_bytestring(b, len));
}

/*
 * Keys in deterministic order (RFC 8949 §4.2.1: shorter encoding first, then
 * bytewise): "kid" "sig" "tpmVer" "pubArea" "certInfo" / "attestInfo".
 */
static cbor_item_t *build_kat(const struct atls_evidence_map *ev)
{
	cbor_item_t *m = cbor_new_definite_map(5);

	if (m && map_put_bytes(m, "kid", ev->kat.kid, ATLS_KID_LEN) &&
	    map_put_bytes(m, "sig", ev->kat.sig.b, ev->kat.sig.len) &&
	    map_put(m, "tpmVer", cbor_build_string("2.0")) &&
	    map_put_bytes(m, "pubArea", ev->kat.pub_area.b, ev->kat.pub_area.len) &&
	    map_put_bytes(m, "certInfo", ev->kat.cert_info.b, ev->kat.cert_info.len))
		return m;
	if (m)
		cbor_decref(&m);
	return NULL;
}

static cbor_item_t *build_pat(const struct atls_evidence_map *ev)
{
	cbor_item_t *m = cbor_new_definite_map(4);

	if (m && map_put_bytes(m, "kid", ev->pat.kid, ATLS_KID_LEN) &&
	    map_put_bytes(m, "sig", ev->pat.sig.b, ev->pat.sig.len) &&
	    map_put(m, "tpmVer", cbor_build_string("2.0")) &&
	    map_put_bytes(m, "attestInfo", ev->pat.attest_info.b, ev->pat.attest_info.len))
		return m;
	if (m)
		cbor_decref(&m);
	return NULL;
}

static int serialize(cbor_item_t *item, uint8_t **out, size_t *len)
{
	unsigned char *buf = NULL;
	size_t cap = 0, n;

	n = cbor_serialize_alloc(item, &buf, &cap);
	if (!n) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = n;
	return 0;
}

int atls_cmw_encode(const struct atls_evidence_map *ev, uint8_t **out, size_t *len)
{
	cbor_item_t *map, *rec = NULL;
	uint8_t *inner = NULL;
	size_t ilen;
	int err = -ENOMEM;

	*out = NULL;
	map = cbor_new_definite_map(ev->has_kat ? 2 : 1);
	if (!map)
		return -ENOMEM;
	if (ev->has_kat && !map_put(map, "kat", build_kat(ev)))
		goto out_map;
	if (!map_put(map, "pat", build_pat(ev)))
		goto out_map;
	err = serialize(map, &inner, &ilen);
	if (err)
		goto out_map;

	err = -ENOMEM;
	rec = cbor_new_definite_array(2);
	if (!rec)
		goto out_inner;
	{
		cbor_item_t *type = cbor_build_string(ATLS_MT_TPM_EVIDENCE);
		cbor_item_t *val = cbor_build_bytestring(inner, ilen);
		bool ok = type && val && cbor_array_push(rec, type) && cbor_array_push(rec, val);

		if (type)
			cbor_decref(&type);
		if (val)
			cbor_decref(&val);
		if (!ok)
			goto out_rec;
	}
	err = serialize(rec, out, len);
	if (!err && *len > ATLS_CMW_MAX) {
		free(*out);
		*out = NULL;
		err = -E2BIG;
	}
out_rec:
	cbor_decref(&rec);
out_inner:
	free(inner);
out_map:
	cbor_decref(&map);
	return err;
}

/* ---------------------------------------------------------------- decode */

static bool str_is(const cbor_item_t *s, const char *want)
{
	size_t n = strlen(want);

	return cbor_isa_string(s) && cbor_string_length(s) == n &&
	       !memcmp(cbor_string_handle(s), want, n);
}

static int get_blob(const cbor_item_t *v, uint8_t *dst, size_t min, size_t max, size_t *len)
{
	size_t n;

	if (!cbor_isa_bytestring(v))
		return -EBADMSG;
	n = cbor_bytestring_length(v);
	if (n < min || n > max)
		return -EBADMSG;
	memcpy(dst, cbor_bytestring_handle(v), n);
	if (len)
		*len = n;
	return 0;
}

/* Decode one of the inner maps: names[] are the allowed keys, all required. */
enum { K_KID, K_SIG, K_VER, K_INFO, K_PUB, K_MAX };

static int decode_inner(const cbor_item_t *m, bool kat, uint8_t *kid, struct atls_blob *sig,
			struct atls_blob *info, struct atls_blob *pub)
{
	const char *info_key = kat ? "certInfo" : "attestInfo";
	unsigned int seen = 0, want = kat ? 0x1f : 0x0f;
	struct cbor_pair *p;
	size_t i, n;
	int k, err;

	if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
		return -EBADMSG;
	n = cbor_map_size(m);
	p = cbor_map_handle(m);
	for (i = 0; i < n; i++) {
		if (str_is(p[i].key, "kid"))
			k = K_KID;
		else if (str_is(p[i].key, "sig"))
			k = K_SIG;
		else if (str_is(p[i].key, "tpmVer"))
			k = K_VER;
		else if (str_is(p[i].key, info_key))
			k = K_INFO;
		else if (kat && str_is(p[i].key, "pubArea"))
			k = K_PUB;
		else
			return -EBADMSG;	/* unknown key */
		if (seen & (1u << k))
			return -EBADMSG;	/* duplicate key */
		seen |= 1u << k;
		switch (k) {
		case K_KID:
			err = get_blob(p[i].value, kid, ATLS_KID_LEN, ATLS_KID_LEN, NULL);
			break;
		case K_SIG:
			err = get_blob(p[i].value, sig->b, 1, ATLS_EV_BLOB_MAX, &sig->len);
			break;
		case K_VER:
			err = str_is(p[i].value, "2.0") ? 0 : -EBADMSG;
			break;
		case K_INFO:
			err = get_blob(p[i].value, info->b, 1, ATLS_EV_BLOB_MAX, &info->len);
			break;
		default:
			err = get_blob(p[i].value, pub->b, 1, ATLS_EV_BLOB_MAX, &pub->len);
			break;
		}
		if (err)
			return err;
	}
	return seen == want ? 0 : -EBADMSG;	/* missing key */
}

static int decode_map(const uint8_t *b, size_t len, struct atls_evidence_map *ev)
{
	bool seen_kat = false, seen_pat = false;
	struct cbor_pair *p;
	cbor_item_t *m;
	size_t i, n;
	int err = -EBADMSG;

	m = cbor_load_strict(b, len);
	if (!m)
		return -EBADMSG;
	if (!cbor_isa_map(m) || !cbor_map_is_definite(m))
		goto out_map;
	n = cbor_map_size(m);
	p = cbor_map_handle(m);
	for (i = 0; i < n; i++) {
		if (str_is(p[i].key, "kat") && !seen_kat) {
			seen_kat = true;
			err = decode_inner(p[i].value, true, ev->kat.kid, &ev->kat.sig,
					   &ev->kat.cert_info, &ev->kat.pub_area);
		} else if (str_is(p[i].key, "pat") && !seen_pat) {
			seen_pat = true;
			err = decode_inner(p[i].value, false, ev->pat.kid, &ev->pat.sig,
					   &ev->pat.attest_info, NULL);
		} else {
			err = -EBADMSG;
		}
		if (err)
			goto out_map;
	}
	ev->has_kat = seen_kat;
	err = seen_pat ? 0 : -EBADMSG;
out_map:
	cbor_decref(&m);
	return err;
}

int atls_cmw_decode(const uint8_t *cmw, size_t len, struct atls_evidence_map *ev)
{
	cbor_item_t *rec, *type, *val;
	uint8_t *again = NULL;
	size_t alen;
	int err;

	memset(ev, 0, sizeof(*ev));
	if (!cmw || !len)
		return -EBADMSG;
	if (len > ATLS_CMW_MAX)
		return -E2BIG;
	/* Demultiplex on the first byte (CMW §"Demuxing"). */
	switch (cmw[0]) {
	case 0x82:		/* CBOR record [type, value] */
		break;
	case 0x83:		/* CBOR record with ind: our profile never sends one */
	case 0x9f:		/* indefinite-length array: not deterministic */
		return -EBADMSG;
	case '[':		/* JSON record */
	case '{':		/* JSON collection */
	case 0xda:		/* CBOR tag form */
		return -EMEDIUMTYPE;
	default:
		if ((cmw[0] >= 0xa0 && cmw[0] <= 0xbb) || cmw[0] == 0xbf)
			return -EMEDIUMTYPE;	/* CBOR collection */
		return -EBADMSG;
	}

	rec = cbor_load_strict(cmw, len);
	if (!rec)
		return -EBADMSG;
	err = -EBADMSG;
	if (!cbor_isa_array(rec) || !cbor_array_is_definite(rec) || cbor_array_size(rec) != 2)
		goto out_rec;
	type = cbor_array_get(rec, 0);
	val = cbor_array_get(rec, 1);
	if (cbor_isa_uint(type))
		err = -EMEDIUMTYPE;	/* a CoAP content format: none is ours */
	else if (!cbor_isa_string(type))
		err = -EBADMSG;
	else if (!str_is(type, ATLS_MT_TPM_EVIDENCE))
		err = -EMEDIUMTYPE;
	else if (!cbor_isa_bytestring(val) || !cbor_bytestring_is_definite(val))
		err = -EBADMSG;
	else
		err = decode_map(cbor_bytestring_handle(val), cbor_bytestring_length(val), ev);
	cbor_decref(&type);
	cbor_decref(&val);
	if (err)
		goto out_rec;

	/* Only the deterministic encoding of this content is accepted. */
	err = atls_cmw_encode(ev, &again, &alen);
	if (!err && (alen != len || memcmp(again, cmw, len)))
		err = -EBADMSG;
	free(again);
out_rec:
	cbor_decref(&rec);
	if (err)
		memset(ev, 0, sizeof(*ev));
	return err;
}
