// SPDX-License-Identifier: Apache-2.0
/*
 * The attestation binder (draft-fossati-seat-early-attestation-07,
 * "Attestation Binder Definition"):
 *
 *   TH          = Transcript-Hash(ClientHello .. ServerHello)
 *   attest_base = HKDF-Expand-Label(0^L, "attestation base", TH, L)
 *   binder_X    = HKDF-Expand-Label(attest_base, "attestation", Hash(SPKI_X), L)
 *
 * with Hash/L the handshake hash of the negotiated suite and SPKI_X the DER
 * SubjectPublicKeyInfo of X's end-entity certificate.
 *
 * OpenSSL 3.0 has no transcript API, so atls_transcript_msg_cb() (installed
 * with SSL_set_msg_callback) copies every handshake message (type 22, with
 * its 4-byte header, both directions) into the connection's buffer until the
 * real ServerHello; a HelloRetryRequest (ServerHello with the RFC 8446 magic
 * random) does not stop the capture.  The hash is computed when needed, once
 * the suite is known, replacing ClientHello1 by the synthetic message_hash
 * message when a HRR occurred (RFC 8446 §4.4.1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

#include "internal.h"

#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define HS_MESSAGE_HASH 254
#define TRANSCRIPT_MAX (256 * 1024)	/* CH+HRR+CH2+SH; far above any real size */

static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65,
	0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
	0xc8, 0xa8, 0x33, 0x9c,
};

static bool is_hrr(const uint8_t *msg, size_t len)
{
	/* header(4) legacy_version(2) random(32) */
	return len >= 38 && !memcmp(msg + 6, hrr_random, sizeof(hrr_random));
}

void atls_transcript_msg_cb(int write_p, int version, int content_type, const void *buf,
			    size_t len, SSL *ssl, void *arg)
{
	struct atls_conn *c = atls_conn_of(ssl);
	struct atls_buf *b;
	const uint8_t *m = buf;

	(void)version;
	(void)arg;
	if (!c)
		return;
	/* Remember alerts for the result (level, description). */
	if (content_type == SSL3_RT_ALERT && len == 2) {
		if (write_p)
			c->alert_sent = m[1];
		else
			c->alert_received = m[1];
		return;
	}
	if (c->th_done || content_type != SSL3_RT_HANDSHAKE || len < 4)
		return;
	b = &c->th_msgs;
	if (b->len + len > TRANSCRIPT_MAX || atls_buf_append(b, m, len)) {
		c->th_overflow = true;
		return;
	}
	if (m[0] == HS_SERVER_HELLO && !is_hrr(m, len))
		c->th_done = true;
}

int atls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen,
			   const char *label, const uint8_t *hctx, size_t hctx_len, uint8_t *out,
			   size_t olen)
{
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t ll = strlen(label), off = 0;
	OSSL_PARAM params[5], *p = params;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int ret = -EINVAL;

	if (6 + ll > 255 || hctx_len > 255 || olen > 0xffff)
		return -EINVAL;
	info[off++] = (uint8_t)(olen >> 8);
	info[off++] = (uint8_t)olen;
	info[off++] = (uint8_t)(6 + ll);
	memcpy(info + off, "tls13 ", 6);
	off += 6;
	memcpy(info + off, label, ll);
	off += ll;
	info[off++] = (uint8_t)hctx_len;
	if (hctx_len)
		memcpy(info + off, hctx, hctx_len);
	off += hctx_len;

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		return -ENOSYS;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)EVP_MD_get0_name(md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, slen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, off);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, olen, params) == 1)
		ret = 0;
	EVP_KDF_CTX_free(kctx);
	return ret;
}

static int digest(const EVP_MD *md, const uint8_t *a, size_t alen, const uint8_t *b,
		  size_t blen, uint8_t *out, unsigned int *olen)
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int ok;

	if (!h)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(h, md, NULL) && EVP_DigestUpdate(h, a, alen) &&
	     (!blen || EVP_DigestUpdate(h, b, blen)) && EVP_DigestFinal_ex(h, out, olen);
	EVP_MD_CTX_free(h);
	return ok ? 0 : -EINVAL;
}

/*
 * msgs holds CH [HRR CH2] SH as captured.  Without HRR the hash is over all
 * of it; with HRR, CH1 is replaced by message_hash = FE 00 00 L || Hash(CH1).
 */
int atls_transcript_hash(const EVP_MD *md, const uint8_t *msgs, size_t len, uint8_t *th,
			 size_t *th_len)
{
	uint8_t mh[4 + EVP_MAX_MD_SIZE];
	unsigned int hl = 0, ol = 0;
	size_t ch1_len, off = 0, n_msgs = 0;
	bool hrr = false;
	int ret;

	/* Walk the messages: well-formed framing, CH first, SH (or HRR) second. */
	while (off < len) {
		size_t ml;

		if (len - off < 4)
			return -EBADMSG;
		ml = 4 + ((size_t)msgs[off + 1] << 16 | (size_t)msgs[off + 2] << 8 | msgs[off + 3]);
		if (ml > len - off)
			return -EBADMSG;
		if (n_msgs == 0 && msgs[off] != HS_CLIENT_HELLO)
			return -EBADMSG;
		if (n_msgs == 1 && msgs[off] == HS_SERVER_HELLO && is_hrr(msgs + off, ml))
			hrr = true;
		off += ml;
		n_msgs++;
	}
	if (n_msgs < 2 || (hrr && n_msgs < 4))
		return -EBADMSG;
	if (!hrr)
		ret = digest(md, msgs, len, NULL, 0, th, &ol);
	else {
		ch1_len = 4 + ((size_t)msgs[1] << 16 | (size_t)msgs[2] << 8 | msgs[3]);
		ret = digest(md, msgs, ch1_len, NULL, 0, mh + 4, &hl);
		if (ret)
			return ret;
		mh[0] = HS_MESSAGE_HASH;
		mh[1] = 0;
		mh[2] = 0;
		mh[3] = (uint8_t)hl;
		ret = digest(md, mh, 4 + hl, msgs + ch1_len, len - ch1_len, th, &ol);
	}
	if (ret)
		return ret;
	*th_len = ol;
	return 0;
}

int atls_binder_compute(const EVP_MD *md, const uint8_t *th, size_t th_len,
			const uint8_t *spki, size_t spki_len, uint8_t *binder, size_t *blen)
{
	uint8_t zero[EVP_MAX_MD_SIZE] = { 0 }, base[EVP_MAX_MD_SIZE], hs[EVP_MAX_MD_SIZE];
	size_t L = (size_t)EVP_MD_get_size(md);
	unsigned int hl;
	int ret;

	if (L == 0 || L > EVP_MAX_MD_SIZE || th_len != L)
		return -EINVAL;
	ret = atls_hkdf_expand_label(md, zero, L, ATLS_LABEL_ATTEST_BASE, th, th_len, base, L);
	if (ret)
		goto out;
	ret = digest(md, spki, spki_len, NULL, 0, hs, &hl);
	if (ret)
		goto out;
	ret = atls_hkdf_expand_label(md, base, L, ATLS_LABEL_ATTEST, hs, hl, binder, L);
	if (!ret)
		*blen = L;
out:
	OPENSSL_cleanse(base, sizeof(base));
	return ret;
}

const EVP_MD *atls_conn_md(struct atls_conn *c)
{
	const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);

	if (!ciph)
		ciph = SSL_get_pending_cipher(c->ssl);
	return ciph ? SSL_CIPHER_get_handshake_digest(ciph) : NULL;
}

/*
 * The binder of the party owning cert, for this connection.  On success
 * *spki is the malloc'ed DER SPKI of cert (caller frees with OPENSSL_free).
 */
int atls_conn_binder(struct atls_conn *c, X509 *cert, uint8_t *binder, size_t *blen,
		     uint8_t **spki, size_t *spki_len)
{
	uint8_t th[EVP_MAX_MD_SIZE];
	const EVP_MD *md = atls_conn_md(c);
	unsigned char *der = NULL;
	size_t th_len;
	int dlen, ret;

	if (!md || !cert)
		return -EINVAL;
	if (!c->th_done || c->th_overflow)
		return -EPROTO;
	ret = atls_transcript_hash(md, c->th_msgs.p, c->th_msgs.len, th, &th_len);
	if (ret)
		return ret;
	/* i2d of the certificate's own X509_PUBKEY keeps its original encoding. */
	dlen = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (dlen <= 0)
		return -EINVAL;
	ret = atls_binder_compute(md, th, th_len, der, (size_t)dlen, binder, blen);
	if (ret) {
		OPENSSL_free(der);
		return ret;
	}
	*spki = der;
	*spki_len = (size_t)dlen;
	return 0;
}
