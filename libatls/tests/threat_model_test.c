// SPDX-License-Identifier: Apache-2.0
/*
 * The adversaries of Documentation/security.rst that a host test can play,
 * against a real libatls client, with real libatls or plain OpenSSL peers
 * and one swtpm per host:
 *  - a leaked TLS key (key mode software) and a relay of evidence taken from
 *    a live handshake with the genuine server, made in parallel: refused,
 *    binder-mismatch (second adversary, step b);
 *  - a process other than atlsd with access to a trusted host's TPM, quoting
 *    the binder of its own key: accepted, and the result shows the foreign
 *    certificate (third adversary: nothing in atls stops it);
 *  - diversion to another trusted host: accepted when the policy trusts
 *    both hosts, with the result naming the host that answered; refused,
 *    untrusted-ak, by a policy for the intended host only (first adversary,
 *    step d, and the fourth).
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

/* OpenSSL callback signatures: most parameters are unused here. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#include <atls/provision.h>
#include <atls/wire.h>
#include "../src/evidence.h"
#include "../src/internal.h"
#include "../src/tpm_int.h"
#include "testutil.h"
#include "tlspeer.h"

#define AK ATLS_AK_HANDLE_DEFAULT

FIXTURE(tm)
{
	struct atls_test_side h, h2, cli;
};

FIXTURE_SETUP(tm)
{
	setenv("TSS2_LOG", "all+none", 1);
	ASSERT_EQ(0, atls_test_side_provision(&self->h, "tmh"));
	ASSERT_EQ(0, atls_test_side_provision(&self->h2, "tmh2"));
	ASSERT_EQ(0, atls_test_side_provision(&self->cli, "tmc"));
	/* policy.conf: the intended server H only */
	ASSERT_EQ(0, atls_test_side_policy(&self->cli, &self->h, "\"server\""));
}

FIXTURE_TEARDOWN(tm)
{
	atls_test_side_free(&self->h);
	atls_test_side_free(&self->h2);
	atls_test_side_free(&self->cli);
}

/* A genuine atls server of side s, key mode software. */
static struct atls_ctx *server_ctx(struct atls_test_side *s)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&c, ATLS_ROLE_SERVER);
	c.key_mode = ATLS_KEY_SOFTWARE;
	c.cert_file = atls_test_path(s->dir, "sw.pem");
	c.key_file = atls_test_path(s->dir, "sw.key");
	c.tcti = s->sw.tcti;
	c.ak_handle = AK;
	c.attest_self = true;
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

static struct atls_ctx *client_ctx(struct atls_test_side *cli, const char *policy)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&c, ATLS_ROLE_CLIENT);
	c.key_mode = ATLS_KEY_SOFTWARE;
	c.peer_attest = ATLS_PEER_REQUIRED;
	c.policy_file = atls_test_path(cli->dir, policy);
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

struct srv_arg {
	struct atls_ctx *ctx;
	int fd, ret;
	struct atls_result res;
};

static int srv_main(void *arg)
{
	struct srv_arg *a = arg;

	a->ret = atls_handshake(a->ctx, a->fd, 10000, &a->res);
	return a->ret;
}

/* Client cctx against server thread fn(arg) on a fresh TCP pair. */
static int against(struct atls_ctx *cctx, int (*fn)(void *), void *arg, int *sfd_out,
		   struct atls_result *cres)
{
	struct atls_test_thread th;
	int cfd, sfd, ret;

	if (atls_test_tcp_pair(&cfd, &sfd))
		return -1;
	*sfd_out = sfd;
	atls_test_spawn(&th, fn, arg);
	ret = atls_handshake(cctx, cfd, 10000, cres);
	shutdown(cfd, SHUT_RDWR);
	atls_test_join(&th);
	close(cfd);
	close(sfd);
	return ret;
}

/* SHA-256 of the DER SPKI in a PEM public-key file (an AK's identity). */
static int ak_hash(const char *pem, uint8_t out[32])
{
	FILE *f = fopen(pem, "r");
	EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL;
	int n = k ? i2d_PUBKEY(k, &der) : -1;

	if (f)
		fclose(f);
	EVP_PKEY_free(k);
	if (n <= 0)
		return -1;
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
	return 0;
}

static int cert_hash(const char *pem, uint8_t out[32])
{
	X509 *x = atls_test_load_cert(pem);
	unsigned char *der = NULL;
	int n = x ? i2d_X509(x, &der) : -1;

	X509_free(x);
	if (n <= 0)
		return -1;
	SHA256(der, (size_t)n, out);
	OPENSSL_free(der);
	return 0;
}

static void tpm_scheme(uint8_t *s)
{
	size_t mt = sizeof(ATLS_MT_TPM_EVIDENCE) - 1;

	s[0] = ATLS_MECH_EVIDENCE;
	s[1] = ATLS_ENC_MEDIA_TYPE;
	s[2] = 0;
	s[3] = (uint8_t)mt;
	memcpy(s + 4, ATLS_MT_TPM_EVIDENCE, mt);
}

/* ------------------------------------------------ second adversary: relay */

/*
 * The relay M: first a plain OpenSSL client of the genuine server H, asking
 * for its evidence and keeping the Certificate extension it receives; then a
 * plain OpenSSL server to the victim with H's leaked certificate and key,
 * presenting that (live, genuine) evidence.
 */
struct relay {
	int fd;
	const char *cert, *key;
	uint8_t *ch;
	size_t ch_len;
	uint8_t *ext;
	size_t ext_len;
	uint8_t scheme[4 + sizeof(ATLS_MT_TPM_EVIDENCE) - 1];
};

static int m_client_add(SSL *s, unsigned int type, unsigned int context,
			const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
			int *al, void *arg)
{
	struct relay *r = arg;

	if (context != SSL_EXT_CLIENT_HELLO)
		return 0;
	*out = r->ch;
	*outlen = r->ch_len;
	return 1;
}

static int m_client_parse(SSL *s, unsigned int type, unsigned int context,
			  const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
			  void *arg)
{
	struct relay *r = arg;

	if (context == SSL_EXT_TLS1_3_CERTIFICATE && chainidx == 0 && !r->ext && inlen) {
		r->ext = malloc(inlen);
		if (!r->ext)
			return 0;
		memcpy(r->ext, in, inlen);
		r->ext_len = inlen;
	}
	return 1;
}

static int m_server_add(SSL *s, unsigned int type, unsigned int context,
			const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
			int *al, void *arg)
{
	struct relay *r = arg;

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

static int m_server_parse(SSL *s, unsigned int type, unsigned int context,
			  const unsigned char *in, size_t inlen, X509 *x, size_t chainidx, int *al,
			  void *arg)
{
	return 1;
}

static int m_server_main(void *arg)
{
	struct relay *r = arg;
	SSL_CTX *c = atls_test_peer_ctx(1, NULL, r->cert, r->key);
	SSL *s;

	if (!c || SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE,
					 SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						 SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						 SSL_EXT_TLS1_3_CERTIFICATE,
					 m_server_add, NULL, r, m_server_parse, r) != 1)
		return -1;
	s = SSL_new(c);
	atls_test_peer_handshake(s, r->fd, 1);
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

TEST_F(tm, leaked_key_relay_of_live_evidence_refused)
{
	struct relay r = { .cert = atls_test_path(self->h.dir, "sw.pem"),
			   .key = atls_test_path(self->h.dir, "sw.key") };
	struct srv_arg h = { 0 };
	struct atls_test_thread th;
	struct atls_result cres;
	struct atls_ctx *cctx;
	SSL_CTX *mc;
	SSL *ms;
	int cfd, sfd;

	/* 1. M asks the genuine H for its evidence, in a handshake of its own. */
	ASSERT_EQ(0, atls_ext_build_ch(true, false, &r.ch, &r.ch_len));
	h.ctx = server_ctx(&self->h);
	ASSERT_NE(NULL, h.ctx);
	mc = atls_test_peer_ctx(0, NULL, NULL, NULL);
	ASSERT_NE(NULL, mc);
	ASSERT_EQ(1, SSL_CTX_add_custom_ext(mc, ATLS_EXT_TYPE,
					    SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						    SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						    SSL_EXT_TLS1_3_CERTIFICATE,
					    m_client_add, NULL, &r, m_client_parse, &r));
	ASSERT_EQ(0, atls_test_tcp_pair(&cfd, &sfd));
	h.fd = sfd;
	atls_test_spawn(&th, srv_main, &h);
	ms = SSL_new(mc);
	ASSERT_NE(NULL, ms);
	EXPECT_EQ(1, atls_test_peer_handshake(ms, cfd, 0));
	atls_test_join(&th);
	EXPECT_EQ(0, h.ret) TH_LOG("%s", h.res.reason_text);
	EXPECT_TRUE(h.res.self_attested);	/* H made fresh genuine evidence */
	SSL_free(ms);
	SSL_CTX_free(mc);
	close(cfd);
	close(sfd);
	atls_result_release(&h.res);
	atls_ctx_free(h.ctx);
	ASSERT_NE(NULL, r.ext);
	ASSERT_LT(100, r.ext_len);

	/* 2. M presents it to the victim, as H, with H's leaked software key. */
	tpm_scheme(r.scheme);
	cctx = client_ctx(&self->cli, "policy.conf");
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, against(cctx, m_server_main, &r, &r.fd, &cres));
	EXPECT_EQ(ATLS_REASON_FRESHNESS, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_STREQ("binder-mismatch", atls_reason_name(cres.reason));
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	atls_ctx_free(cctx);
	free(r.ext);
	free(r.ch);
}

/* ------------------------------------------------ third adversary: other TPM user */

/*
 * P: a plain OpenSSL server with a key and certificate of its own, which
 * opens the trusted host's TPM itself (as any root or tss process can) and
 * quotes the binder of its own handshake and key, exactly as atlsd would.
 */
struct tpmuser {
	int fd;
	const char *cert, *key, *tcti;
	uint8_t msgs[8192];
	size_t len;
	bool done;
	uint8_t scheme[4 + sizeof(ATLS_MT_TPM_EVIDENCE) - 1];
	int produced;
};

static void p_msg(int write_p, int version, int ct, const void *buf, size_t len, SSL *ssl,
		  void *arg)
{
	struct tpmuser *x = arg;

	if (x->done || ct != SSL3_RT_HANDSHAKE || x->len + len > sizeof(x->msgs))
		return;
	memcpy(x->msgs + x->len, buf, len);
	x->len += len;
	if (((const uint8_t *)buf)[0] == 2)
		x->done = true;
}

static int p_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		 size_t *outlen, X509 *cert, size_t chainidx, int *al, void *arg)
{
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_SOFTWARE, .ak_handle = AK,
					  .pcr_bank_alg = 0x0b, .pcr_mask = 0xff };
	struct tpmuser *x = arg;
	uint8_t th[32], binder[32], *cmw, *ext;
	unsigned char *spki = NULL;
	size_t thl, bl, cl;
	struct atls_tpm *t;
	int n;

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
	x->produced = atls_evidence_produce(t, &p, binder, bl, &cmw, &cl);
	atls_tpm_close(t);
	if (x->produced)
		return 0;
	if (atls_ext_build_cert(cmw, cl, &ext, outlen)) {
		free(cmw);
		return 0;
	}
	free(cmw);
	*out = ext;
	return 1;
}

static void p_free(SSL *s, unsigned int type, unsigned int context, const unsigned char *out,
		   void *arg)
{
	struct tpmuser *x = arg;

	if (out != x->scheme)
		free((void *)out);
}

static int p_main(void *arg)
{
	struct tpmuser *x = arg;
	SSL_CTX *c = atls_test_peer_ctx(1, "TLS_AES_128_GCM_SHA256", x->cert, x->key);
	SSL *s;

	if (!c || SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE,
					 SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						 SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						 SSL_EXT_TLS1_3_CERTIFICATE,
					 p_add, p_free, x, m_server_parse, x) != 1)
		return -1;
	s = SSL_new(c);
	SSL_set_msg_callback(s, p_msg);
	SSL_set_msg_callback_arg(s, x);
	atls_test_peer_handshake(s, x->fd, 1);
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

TEST_F(tm, other_tpm_user_quoting_its_own_key_is_not_stopped)
{
	struct tpmuser x = { .cert = atls_test_path(self->cli.dir, "p.pem"),
			     .key = atls_test_path(self->cli.dir, "p.key"),
			     .tcti = self->h.sw.tcti, .produced = -1 };
	uint8_t want_ak[32], want_cert[32];
	struct atls_result cres;
	struct atls_ctx *cctx;

	ASSERT_EQ(0, atls_test_make_cert(x.cert, x.key, "not-atlsd", false, NULL, NULL, NULL));
	ASSERT_EQ(0, ak_hash(atls_test_path(self->h.dir, "ak.pem"), want_ak));
	ASSERT_EQ(0, cert_hash(x.cert, want_cert));
	tpm_scheme(x.scheme);
	cctx = client_ctx(&self->cli, "policy.conf");
	ASSERT_NE(NULL, cctx);
	/* Every check passes: the quote is genuine, fresh, bound to P's key. */
	EXPECT_EQ(0, against(cctx, p_main, &x, &x.fd, &cres)) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(0, x.produced);
	EXPECT_TRUE(cres.peer_attested);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, cres.appraisal.status);
	EXPECT_EQ(ATLS_EVIDENCE_TPM2_PAT, cres.peer_claims.evidence_type);
	/* What the result does tell: H's AK, and a certificate that is not H's. */
	EXPECT_EQ(0, memcmp(want_ak, cres.peer_claims.ak_sha256, 32));
	EXPECT_TRUE(cres.have_peer_cert);
	EXPECT_EQ(0, memcmp(want_cert, cres.peer_cert_sha256, 32));
	atls_result_release(&cres);
	atls_ctx_free(cctx);
}

/* ------------------------------------------------ diversion to another trusted host */

TEST_F(tm, diversion_to_other_trusted_host)
{
	uint8_t ak_h[32], ak_h2[32];
	struct srv_arg s = { 0 };
	struct atls_result cres;
	struct atls_ctx *cctx;
	FILE *f;

	/* both.conf: trusts H and H2 (fresh swtpms: the same PCR values) */
	ASSERT_STREQ(self->h.pcrs, self->h2.pcrs);
	f = fopen(atls_test_path(self->cli.dir, "both.conf"), "w");
	ASSERT_NE(NULL, f);
	fprintf(f,
		"version = 1;\n"
		"trusted-aks = ( { name = \"h\"; pem-file = \"%s\"; },\n"
		"                { name = \"h2\"; pem-file = \"%s\"; } );\n"
		"pcrs = { bank = \"sha256\"; selection = [ 0, 1, 2, 3, 4, 5, 6, 7 ]; values = [ %s ]; };\n"
		"require = [ \"server\" ];\n"
		"evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n",
		atls_test_path(self->h.dir, "ak.pem"), atls_test_path(self->h2.dir, "ak.pem"),
		self->h.pcrs);
	ASSERT_EQ(0, fclose(f));
	ASSERT_EQ(0, ak_hash(atls_test_path(self->h.dir, "ak.pem"), ak_h));
	ASSERT_EQ(0, ak_hash(atls_test_path(self->h2.dir, "ak.pem"), ak_h2));
	ASSERT_NE(0, memcmp(ak_h, ak_h2, 32));

	/* A policy trusting both: H2 answers and is accepted; the result names H2. */
	cctx = client_ctx(&self->cli, "both.conf");
	ASSERT_NE(NULL, cctx);
	s.ctx = server_ctx(&self->h2);
	ASSERT_NE(NULL, s.ctx);
	EXPECT_EQ(0, against(cctx, srv_main, &s, &s.fd, &cres)) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_EAR_AFFIRMING, cres.appraisal.status);
	EXPECT_EQ(0, memcmp(ak_h2, cres.peer_claims.ak_sha256, 32));
	atls_result_release(&cres);
	atls_result_release(&s.res);
	atls_ctx_free(cctx);

	/* A policy for H alone: H2 is refused. */
	cctx = client_ctx(&self->cli, "policy.conf");
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, against(cctx, srv_main, &s, &s.fd, &cres));
	EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_STREQ("untrusted-ak", atls_reason_name(cres.reason));
	atls_result_release(&s.res);
	atls_ctx_free(cctx);
	atls_ctx_free(s.ctx);
}

TEST_HARNESS_MAIN
