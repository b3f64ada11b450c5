// SPDX-License-Identifier: Apache-2.0
/*
 * The remoteAttestation extension bodies (draft-fossati-seat-early-attestation-07
 * §"Remote Attestation Extension"), as pure functions over byte buffers so the
 * parser can be fuzzed without a TLS stack (libatls/fuzz/fuzz_ext.c).
 *
 *   AttestationScheme = u8 mechanism ||
 *       mechanism 0 (evidence): u8 type_encoding ||
 *              encoding 0: u16 content_format
 *              encoding 1: u16 len || media_type[len]    (1..255 bytes)
 *       mechanism 1 (result):   u16 len || verifier_identity[len]  (1..255 bytes)
 *   ClientHello:        u16 len || server_attester_schemes[]
 *                       u16 len || client_attester_schemes[]
 *   EE / CR:            exactly one AttestationScheme
 *   Certificate entry:  u24 len || cmw_payload[len]      (1..ATLS_CMW_MAX)
 *
 * Every length is checked against the bytes that remain; trailing bytes,
 * unknown mechanisms/encodings and empty identifiers are malformed
 * (-EBADMSG).  An unknown but well-formed scheme is not an error: it is
 * simply not ours.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MT_LEN (sizeof(ATLS_MT_TPM_EVIDENCE) - 1)
#define MT_BATCH_LEN (sizeof(ATLS_MT_TPM_BATCH) - 1)

struct rd {
	const uint8_t *p;
	size_t n;
};

static int rd_u8(struct rd *r, uint8_t *v)
{
	if (r->n < 1)
		return -EBADMSG;
	*v = r->p[0];
	r->p++;
	r->n--;
	return 0;
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (r->n < 2)
		return -EBADMSG;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->n -= 2;
	return 0;
}

static int rd_bytes(struct rd *r, size_t len, const uint8_t **b)
{
	if (r->n < len)
		return -EBADMSG;
	*b = r->p;
	r->p += len;
	r->n -= len;
	return 0;
}

/* Parse one scheme; 1 = our TPM evidence media type, 2 = batched, 0 = other, -EBADMSG. */
static int parse_scheme(struct rd *r)
{
	const uint8_t *b;
	uint8_t mech, enc;
	uint16_t v;

	if (rd_u8(r, &mech))
		return -EBADMSG;
	switch (mech) {
	case ATLS_MECH_EVIDENCE:
		if (rd_u8(r, &enc))
			return -EBADMSG;
		if (enc == ATLS_ENC_CONTENT_FORMAT)
			return rd_u16(r, &v) ? -EBADMSG : 0;
		if (enc != ATLS_ENC_MEDIA_TYPE)
			return -EBADMSG;
		if (rd_u16(r, &v) || v == 0 || v > ATLS_MEDIA_TYPE_MAX || rd_bytes(r, v, &b))
			return -EBADMSG;
		if (v == MT_BATCH_LEN && !memcmp(b, ATLS_MT_TPM_BATCH, MT_BATCH_LEN))
			return 2;
		return v == MT_LEN && !memcmp(b, ATLS_MT_TPM_EVIDENCE, MT_LEN);
	case ATLS_MECH_RESULT:
		if (rd_u16(r, &v) || v == 0 || v > ATLS_MEDIA_TYPE_MAX || rd_bytes(r, v, &b))
			return -EBADMSG;
		return 0;	/* passport mode is not implemented: never ours */
	default:
		return -EBADMSG;
	}
}

/* Parse a u16-framed scheme list into *n / *ours / *batch. */
static int parse_list(struct rd *r, unsigned int *n, bool *ours, bool *batch)
{
	struct rd l;
	uint16_t len;
	int ret;

	if (rd_u16(r, &len) || rd_bytes(r, len, &l.p))
		return -EBADMSG;
	l.n = len;
	*n = 0;
	*ours = false;
	*batch = false;
	while (l.n) {
		ret = parse_scheme(&l);
		if (ret < 0)
			return ret;
		if (++*n > ATLS_SCHEMES_MAX)
			return -EBADMSG;
		if (ret == 1)
			*ours = true;
		if (ret == 2)
			*batch = true;
	}
	return 0;
}

int atls_ext_parse_ch(const uint8_t *in, size_t len, struct atls_ch_offer *out)
{
	struct rd r = { in, len };

	memset(out, 0, sizeof(*out));
	if (parse_list(&r, &out->n_server, &out->server_tpm, &out->server_batch) ||
	    parse_list(&r, &out->n_client, &out->client_tpm, &out->client_batch) || r.n)
		return -EBADMSG;
	/* The draft requires at least one scheme overall. */
	if (!out->n_server && !out->n_client)
		return -EBADMSG;
	out->server_list_present = out->n_server > 0;
	out->client_list_present = out->n_client > 0;
	return 0;
}

int atls_ext_parse_chosen(const uint8_t *in, size_t len)
{
	struct rd r = { in, len };
	int ret;

	ret = parse_scheme(&r);
	if (ret < 0 || r.n)
		return -EBADMSG;
	return ret;
}

int atls_ext_parse_cert(const uint8_t *in, size_t len, const uint8_t **cmw, size_t *cmw_len)
{
	size_t l;

	if (len < 3)
		return -EBADMSG;
	l = (size_t)in[0] << 16 | (size_t)in[1] << 8 | in[2];
	if (l == 0 || l > ATLS_CMW_MAX || l != len - 3)
		return -EBADMSG;
	*cmw = in + 3;
	*cmw_len = l;
	return 0;
}

/*
 * A scheme: evidence, media type mt (mt_len bytes): ATLS_MT_TPM_EVIDENCE
 * (our one per-handshake scheme) or ATLS_MT_TPM_BATCH (the batched one,
 * batch.h).
 */
static size_t put_scheme(uint8_t *p, const char *mt, size_t mt_len)
{
	p[0] = ATLS_MECH_EVIDENCE;
	p[1] = ATLS_ENC_MEDIA_TYPE;
	p[2] = (uint8_t)(mt_len >> 8);
	p[3] = (uint8_t)mt_len;
	memcpy(p + 4, mt, mt_len);
	return 4 + mt_len;
}

/* A u16-length scheme list of sl bytes (batched scheme first), or an empty one. */
static size_t put_scheme_list(uint8_t *p, bool on, bool batch, size_t sl)
{
	size_t off = 2;

	p[0] = 0;
	p[1] = on ? (uint8_t)sl : 0;
	if (on && batch)
		off += put_scheme(p + off, ATLS_MT_TPM_BATCH, MT_BATCH_LEN);
	if (on)
		off += put_scheme(p + off, ATLS_MT_TPM_EVIDENCE, MT_LEN);
	return off;
}

int atls_ext_build_ch(bool ask_server, bool offer_client, uint8_t **out, size_t *len)
{
	return atls_ext_build_ch_batch(ask_server, offer_client, false, out, len);
}

int atls_ext_build_ch_batch(bool ask_server, bool offer_client, bool batch, uint8_t **out,
			    size_t *len)
{
	size_t sl = 4 + MT_LEN + (batch ? 4 + MT_BATCH_LEN : 0), off = 0;
	uint8_t *p;

	if (!ask_server && !offer_client)
		return -EINVAL;
	p = malloc(4 + 2 * sl);
	if (!p)
		return -ENOMEM;
	off += put_scheme_list(p + off, ask_server, batch, sl);
	off += put_scheme_list(p + off, offer_client, batch, sl);
	*out = p;
	*len = off;
	return 0;
}

static int build_one_scheme(const char *mt, size_t mt_len, uint8_t **out, size_t *len)
{
	uint8_t *p = malloc(4 + mt_len);

	if (!p)
		return -ENOMEM;
	*len = put_scheme(p, mt, mt_len);
	*out = p;
	return 0;
}

int atls_ext_build_scheme_batch(uint8_t **out, size_t *len)
{
	return build_one_scheme(ATLS_MT_TPM_BATCH, MT_BATCH_LEN, out, len);
}

int atls_ext_build_scheme(uint8_t **out, size_t *len)
{
	return build_one_scheme(ATLS_MT_TPM_EVIDENCE, MT_LEN, out, len);
}

int atls_ext_build_cert(const uint8_t *cmw, size_t cmw_len, uint8_t **out, size_t *len)
{
	uint8_t *p;

	if (cmw_len == 0 || cmw_len > ATLS_CMW_MAX)
		return -EMSGSIZE;
	p = malloc(cmw_len + 3);
	if (!p)
		return -ENOMEM;
	p[0] = (uint8_t)(cmw_len >> 16);
	p[1] = (uint8_t)(cmw_len >> 8);
	p[2] = (uint8_t)cmw_len;
	memcpy(p + 3, cmw, cmw_len);
	*out = p;
	*len = cmw_len + 3;
	return 0;
}

/*
 * atls_binding extension (wire.h, protocol.rst "Exporter-bound attestation").
 *
 *   ClientHello:          u8 len || modes[len]    1..ATLS_BINDING_MODES_MAX
 *                         modes, unknown ones skipped, none twice
 *   EncryptedExtensions:  u8 mode                 exactly one byte
 */
int atls_ext_parse_binding_ch(const uint8_t *in, size_t len, bool *exporter)
{
	uint8_t seen[256] = { 0 };
	size_t i, n;

	*exporter = false;
	if (len < 1)
		return -EBADMSG;
	n = in[0];
	if (n == 0 || n > ATLS_BINDING_MODES_MAX || n != len - 1)
		return -EBADMSG;
	for (i = 0; i < n; i++)
		if (seen[in[1 + i]]++)
			return -EBADMSG;
	*exporter = seen[ATLS_BINDING_MODE_EXPORTER] != 0;
	return 0;
}

int atls_ext_parse_binding_ee(const uint8_t *in, size_t len)
{
	if (len != 1)
		return -EBADMSG;
	return in[0];
}

int atls_ext_build_binding_ch(uint8_t **out, size_t *len)
{
	uint8_t *p = malloc(2);

	if (!p)
		return -ENOMEM;
	p[0] = 1;
	p[1] = ATLS_BINDING_MODE_EXPORTER;
	*out = p;
	*len = 2;
	return 0;
}

int atls_ext_build_binding_ee(uint8_t **out, size_t *len)
{
	uint8_t *p = malloc(1);

	if (!p)
		return -ENOMEM;
	p[0] = ATLS_BINDING_MODE_EXPORTER;
	*out = p;
	*len = 1;
	return 0;
}
