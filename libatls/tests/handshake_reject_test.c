// SPDX-License-Identifier: Apache-2.0
/*
 * Real evidence that must be rejected, end to end through the handshake,
 * each with its reason and alert: PCR changed after the policy was written,
 * evidence replayed from an earlier handshake, a policy that does not trust
 * the peer's AK.  Both sides use their own swtpm; the replay is played by a
 * plain OpenSSL server holding the genuine server's software key and a
 * genuine quote made by the genuine TPM for an earlier handshake's binder.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT

FIXTURE(rej)
{
	struct atls_test_side srv, cli;
};

FIXTURE_SETUP(rej)
{
	setenv("TSS2_LOG", "all+none", 1);
	ASSERT_EQ(0, atls_test_side_provision(&self->srv, "rsrv"));
	ASSERT_EQ(0, atls_test_side_provision(&self->cli, "rcli"));
	ASSERT_EQ(0, atls_test_side_policy(&self->cli, &self->srv, "\"server\""));
}

FIXTURE_TEARDOWN(rej)
{
	atls_test_side_free(&self->srv);
	atls_test_side_free(&self->cli);
}

static struct atls_ctx *server_ctx(FIXTURE_DATA(rej) * self)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&c, ATLS_ROLE_SERVER);
	c.key_mode = ATLS_KEY_SOFTWARE;
	c.cert_file = atls_test_path(self->srv.dir, "sw.pem");
	c.key_file = atls_test_path(self->srv.dir, "sw.key");
	c.tcti = self->srv.sw.tcti;
	c.ak_handle = AK;
	c.attest_self = true;
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

static struct atls_ctx *client_ctx(FIXTURE_DATA(rej) * self)
{
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&c, ATLS_ROLE_CLIENT);
	c.key_mode = ATLS_KEY_SOFTWARE;
	c.peer_attest = ATLS_PEER_REQUIRED;
	c.policy_file = atls_test_path(self->cli.dir, "policy.conf");
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

struct srv_arg {
	struct atls_ctx *ctx;
	int fd;
	struct atls_result res;
};

static int srv_main(void *arg)
{
	struct srv_arg *a = arg;

	return atls_handshake(a->ctx, a->fd, 10000, &a->res);
}

/* libatls client vs libatls server; returns the client's result code. */
static int handshake(struct atls_ctx *cctx, struct atls_ctx *sctx, struct atls_result *cres,
		     struct atls_result *sres)
{
	struct atls_test_thread th;
	struct srv_arg sa = { .ctx = sctx };
	int cfd, sfd, ret;

	if (atls_test_tcp_pair(&cfd, &sfd))
		return -1;
	sa.fd = sfd;
	atls_test_spawn(&th, srv_main, &sa);
	ret = atls_handshake(cctx, cfd, 10000, cres);
	shutdown(cfd, SHUT_RDWR);
	atls_test_join(&th);
	*sres = sa.res;
	close(cfd);
	close(sfd);
	return ret;
}

TEST_F(rej, pcr_changed_after_policy)
{
	static const uint8_t dg[32] = { 0x42 };
	struct atls_result cres, sres;
	struct atls_ctx *cctx, *sctx;
	struct atls_tpm *t;

	/* The server's platform state changes after the client's policy was made. */
	ASSERT_EQ(0, atls_tpm_open(self->srv.sw.tcti, &t));
	ASSERT_EQ(0, atls_tpm_pcr_extend(t, 7, dg));
	atls_tpm_close(t);

	sctx = server_ctx(self);
	cctx = client_ctx(self);
	ASSERT_NE(NULL, sctx);
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, handshake(cctx, sctx, &cres, &sres));
	EXPECT_EQ(ATLS_REASON_PCR_MISMATCH, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, cres.appraisal.status);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	EXPECT_EQ(0, cres.crypto_info_len);
	/* The server learns it through the alert. */
	EXPECT_NE(0, sres.err);
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, sres.reason);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_F(rej, untrusted_ak)
{
	struct atls_result cres, sres;
	struct atls_ctx *cctx, *sctx;

	/* The client's policy trusts only its own AK, not the server's. */
	ASSERT_EQ(0, atls_test_side_policy(&self->cli, &self->cli, "\"server\""));
	sctx = server_ctx(self);
	cctx = client_ctx(self);
	ASSERT_NE(NULL, sctx);
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, handshake(cctx, sctx, &cres, &sres));
	EXPECT_EQ(ATLS_REASON_AK_UNTRUSTED, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

/* A plain OpenSSL server replaying a stored Certificate extension. */
struct replay {
	int fd;
	const char *cert, *key;
	uint8_t *ext;
	size_t ext_len;
	uint8_t scheme[4 + sizeof(ATLS_MT_TPM_EVIDENCE) - 1];
};

static int rp_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		  size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	struct replay *r = arg;

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

static int rp_parse(SSL *s, unsigned int type, unsigned int context, const unsigned char *in,
		    size_t inlen, X509 *x, size_t chainidx, int *al, void *arg)
{
	return 1;
}

static int replay_main(void *arg)
{
	struct replay *r = arg;
	SSL_CTX *c = atls_test_peer_ctx(1, NULL, r->cert, r->key);
	SSL *s;

	if (!c || SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE,
					 SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						 SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						 SSL_EXT_TLS1_3_CERTIFICATE,
					 rp_add, NULL, r, rp_parse, r) != 1)
		return -1;
	s = SSL_new(c);
	atls_test_peer_handshake(s, r->fd, 1);
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

TEST_F(rej, evidence_replayed_from_earlier_handshake)
{
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_SOFTWARE, .ak_handle = AK,
					  .pcr_bank_alg = 0x0b, .pcr_mask = 0xff };
	struct replay r = { .cert = atls_test_path(self->srv.dir, "sw.pem"),
			    .key = atls_test_path(self->srv.dir, "sw.key") };
	struct atls_result cres, sres;
	struct atls_ctx *cctx, *sctx;
	struct atls_test_thread th;
	uint8_t old_binder[64], *cmw = NULL;
	size_t cmw_len, mt = sizeof(ATLS_MT_TPM_EVIDENCE) - 1;
	struct atls_tpm *t;
	int cfd, sfd;

	/* 1. A genuine attested handshake; remember the server's binder. */
	sctx = server_ctx(self);
	cctx = client_ctx(self);
	ASSERT_NE(NULL, sctx);
	ASSERT_NE(NULL, cctx);
	ASSERT_EQ(0, handshake(cctx, sctx, &cres, &sres)) TH_LOG("%s", cres.reason_text);
	ASSERT_EQ(32, cres.binder_peer_len);
	memcpy(old_binder, cres.binder_peer, 32);
	atls_result_release(&cres);
	atls_result_release(&sres);
	atls_ctx_free(sctx);	/* frees the server's TPM connection */

	/* 2. Genuine evidence of the genuine TPM for that earlier binder. */
	ASSERT_EQ(0, atls_tpm_open(self->srv.sw.tcti, &t));
	ASSERT_EQ(0, atls_evidence_produce(t, &p, old_binder, 32, &cmw, &cmw_len));
	atls_tpm_close(t);
	r.ext = malloc(cmw_len + 3);
	ASSERT_NE(NULL, r.ext);
	r.ext[0] = (uint8_t)(cmw_len >> 16);
	r.ext[1] = (uint8_t)(cmw_len >> 8);
	r.ext[2] = (uint8_t)cmw_len;
	memcpy(r.ext + 3, cmw, cmw_len);
	r.ext_len = cmw_len + 3;
	free(cmw);
	r.scheme[0] = ATLS_MECH_EVIDENCE;
	r.scheme[1] = ATLS_ENC_MEDIA_TYPE;
	r.scheme[2] = 0;
	r.scheme[3] = (uint8_t)mt;
	memcpy(r.scheme + 4, ATLS_MT_TPM_EVIDENCE, mt);

	/* 3. Replayed in a new handshake by someone holding the server's key. */
	ASSERT_EQ(0, atls_test_tcp_pair(&cfd, &sfd));
	r.fd = sfd;
	atls_test_spawn(&th, replay_main, &r);
	EXPECT_EQ(-EKEYREJECTED, atls_handshake(cctx, cfd, 10000, &cres));
	EXPECT_EQ(ATLS_REASON_FRESHNESS, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	shutdown(cfd, SHUT_RDWR);
	atls_test_join(&th);
	close(cfd);
	close(sfd);
	free(r.ext);
	atls_ctx_free(cctx);
}

/*
 * Key substitution: a server presenting its software-key certificate but
 * evidence that certifies the TPM-resident TLS key (key mode tpm evidence,
 * fresh binder for the presented certificate).  Quote and binder are right;
 * the certified key is not the certificate's: key-binding-mismatch.
 */
struct subst {
	int fd;
	const char *cert, *key, *tcti;
	uint8_t msgs[8192];
	size_t len;
	bool done;
	uint8_t scheme[4 + sizeof(ATLS_MT_TPM_EVIDENCE) - 1];
	int produced;
};

static void subst_msg(int write_p, int version, int ct, const void *buf, size_t len, SSL *ssl,
		      void *arg)
{
	struct subst *x = arg;

	if (x->done || ct != SSL3_RT_HANDSHAKE || x->len + len > sizeof(x->msgs))
		return;
	memcpy(x->msgs + x->len, buf, len);
	x->len += len;
	if (((const uint8_t *)buf)[0] == 2)
		x->done = true;
}

static int subst_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		     size_t *outlen, X509 *cert, size_t chainidx, int *al, void *arg)
{
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_TPM, .ak_handle = AK,
					  .tls_key_handle = TK, .pcr_bank_alg = 0x0b,
					  .pcr_mask = 0xff };
	struct subst *x = arg;
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
	    atls_binder_compute(EVP_sha256(), th, thl, spki, (size_t)n, binder, &bl))
		return 0;
	OPENSSL_free(spki);
	if (atls_tpm_open(x->tcti, &t))
		return 0;
	x->produced = atls_evidence_produce(t, &p, binder, bl, &cmw, &cl);
	atls_tpm_close(t);
	if (x->produced || atls_ext_build_cert(cmw, cl, &ext, outlen))
		return 0;
	free(cmw);
	*out = ext;
	return 1;
}

static void subst_free(SSL *s, unsigned int type, unsigned int context,
		       const unsigned char *out, void *arg)
{
	struct subst *x = arg;

	if (out != x->scheme)
		free((void *)out);
}

static int subst_main(void *arg)
{
	struct subst *x = arg;
	SSL_CTX *c = atls_test_peer_ctx(1, "TLS_AES_128_GCM_SHA256", x->cert, x->key);
	SSL *s;

	if (!c || SSL_CTX_add_custom_ext(c, ATLS_EXT_TYPE,
					 SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
						 SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS |
						 SSL_EXT_TLS1_3_CERTIFICATE,
					 subst_add, subst_free, x, rp_parse, x) != 1)
		return -1;
	s = SSL_new(c);
	SSL_set_msg_callback(s, subst_msg);
	SSL_set_msg_callback_arg(s, x);
	atls_test_peer_handshake(s, x->fd, 1);
	SSL_free(s);
	SSL_CTX_free(c);
	return 0;
}

TEST_F(rej, certified_key_is_not_the_certificate_key)
{
	struct subst x = { .cert = atls_test_path(self->srv.dir, "sw.pem"),
			   .key = atls_test_path(self->srv.dir, "sw.key"),
			   .tcti = self->srv.sw.tcti, .produced = -1 };
	size_t mt = sizeof(ATLS_MT_TPM_EVIDENCE) - 1;
	struct atls_test_thread th;
	struct atls_result cres;
	struct atls_ctx *cctx;
	int cfd, sfd;

	x.scheme[0] = ATLS_MECH_EVIDENCE;
	x.scheme[1] = ATLS_ENC_MEDIA_TYPE;
	x.scheme[2] = 0;
	x.scheme[3] = (uint8_t)mt;
	memcpy(x.scheme + 4, ATLS_MT_TPM_EVIDENCE, mt);
	cctx = client_ctx(self);
	ASSERT_NE(NULL, cctx);
	ASSERT_EQ(0, atls_test_tcp_pair(&cfd, &sfd));
	x.fd = sfd;
	atls_test_spawn(&th, subst_main, &x);
	EXPECT_EQ(-EKEYREJECTED, atls_handshake(cctx, cfd, 10000, &cres));
	EXPECT_EQ(ATLS_REASON_KEY_BINDING_MISMATCH, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	shutdown(cfd, SHUT_RDWR);
	atls_test_join(&th);
	EXPECT_EQ(0, x.produced);	/* the evidence itself was genuine */
	close(cfd);
	close(sfd);
	atls_ctx_free(cctx);
}

TEST_HARNESS_MAIN
