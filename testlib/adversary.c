// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Plain OpenSSL servers that speak atls's attestation extension as an
 * adversary would.  See adversary.h.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atls/atls.h>

#include "../libatls/src/internal.h"
#include "adversary.h"
#include "peer.h"

void tl_tpm_scheme(uint8_t s[TL_TPM_SCHEME_LEN])
{
	size_t mt = sizeof(ATLS_MT_TPM_EVIDENCE) - 1;

	s[0] = ATLS_MECH_EVIDENCE;
	s[1] = ATLS_ENC_MEDIA_TYPE;
	s[2] = 0;
	s[3] = (uint8_t)mt;
	memcpy(s + 4, ATLS_MT_TPM_EVIDENCE, mt);
}

static int accept_any(SSL *s, unsigned int type, unsigned int context, const unsigned char *in,
		      size_t inlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	(void)s, (void)type, (void)context, (void)in, (void)inlen, (void)x, (void)chainidx;
	(void)al, (void)arg;
	return 1;
}

/* Run a server handshake on fd with our extension's add_cb/free_cb(arg),
 * msg_cb(arg) watching the messages if given. */
static int ext_server(int fd, const char *suites, const char *cert, const char *key,
		      SSL_custom_ext_add_cb_ex add_cb, SSL_custom_ext_free_cb_ex free_cb,
		      void (*msg_cb)(int, int, int, const void *, size_t, SSL *, void *), void *arg)
{
	SSL_CTX *c = tl_peer_ctx(1, suites, cert, key);
	SSL *s;

	if (!c || SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE,
					 SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						 SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						 SSL_EXT_TLS1_3_CERTIFICATE,
					 add_cb, free_cb, arg, accept_any, arg) != 1) {
		SSL_CTX_free(c);
		return -1;
	}
	s = SSL_new(c);
	if (s && msg_cb) {
		SSL_set_msg_callback(s, msg_cb);
		SSL_set_msg_callback_arg(s, arg);
	}
	if (s)
		tl_peer_handshake(s, fd, 1);
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

static int replay_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		      size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	struct tl_replay_server *r = arg;

	(void)s, (void)type, (void)x, (void)al;
	if (context == SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) {
		*out = r->scheme;
		*outlen = sizeof(r->scheme);
		return 1;
	}
	if (context == SSL_EXT_TLS1_3_CERTIFICATE && chainidx == 0) {
		*out = r->ext;
		*outlen = r->ext_len;
		return 1;
	}
	return 0;
}

int tl_replay_server_main(void *arg)
{
	struct tl_replay_server *r = arg;

	tl_tpm_scheme(r->scheme);
	ext_server(r->fd, NULL, r->cert, r->key, replay_add, NULL, NULL, r);
	return 0;
}

/* Keep the handshake messages up to ServerHello (the binder's transcript). */
static void quoting_msg(int write_p, int version, int ct, const void *buf, size_t len, SSL *ssl,
			void *arg)
{
	struct tl_quoting_server *x = arg;

	(void)write_p, (void)version, (void)ssl;
	if (x->done || ct != SSL3_RT_HANDSHAKE || x->len + len > sizeof(x->msgs))
		return;
	memcpy(x->msgs + x->len, buf, len);
	x->len += len;
	if (((const uint8_t *)buf)[0] == 2)
		x->done = true;
}

static int quoting_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		       size_t *outlen, X509 *cert, size_t chainidx, int *al, void *arg)
{
	struct tl_quoting_server *x = arg;
	uint8_t th[32], binder[32], *cmw, *ext;
	unsigned char *spki = NULL;
	size_t thl, bl, cl;
	struct atls_tpm *t;
	int n;

	(void)s, (void)type, (void)al;
	if (context == SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) {
		*out = x->scheme;
		*outlen = sizeof(x->scheme);
		return 1;
	}
	if (context != SSL_EXT_TLS1_3_CERTIFICATE || chainidx != 0)
		return 0;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &spki);
	if (n <= 0 || atls_transcript_hash(EVP_sha256(), x->msgs, x->len, th, &thl) ||
	    atls_binder_compute(EVP_sha256(), th, thl, spki, (size_t)n, binder, &bl)) {
		OPENSSL_free(spki);
		return 0;
	}
	OPENSSL_free(spki);
	if (atls_tpm_open(x->tcti, &t))
		return 0;
	x->produced = atls_evidence_produce(t, &x->params, binder, bl, &cmw, &cl);
	atls_tpm_close(t);
	if (x->produced)
		return 0;
	n = atls_ext_build_cert(cmw, cl, &ext, outlen);
	free(cmw);
	if (n)
		return 0;
	*out = ext;
	return 1;
}

static void quoting_free(SSL *s, unsigned int type, unsigned int context,
			 const unsigned char *out, void *arg)
{
	struct tl_quoting_server *x = arg;

	(void)s, (void)type, (void)context;
	if (out != x->scheme)
		free((void *)out);
}

int tl_quoting_server_main(void *arg)
{
	struct tl_quoting_server *x = arg;

	tl_tpm_scheme(x->scheme);
	return ext_server(x->fd, x->suites, x->cert, x->key, quoting_add, quoting_free,
			  quoting_msg, x);
}
