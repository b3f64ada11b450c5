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

#include "kselftest_harness.h"
#include "harness.h"
#include <atls/provision.h>
#include <atls/wire.h>
#include "../src/evidence.h"
#include "../src/internal.h"
#include "../src/tpm_int.h"
#include <atls/atls.h>

#include "adversary.h"
#include "certs.h"
#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT

/* The server trusts no one; the client trusts the server alone. */
TL_SIDES_FIXTURE(rej, tl_side_server_client, "rsrv", "rcli");

/* A genuine server (key mode software) and a client requiring its evidence. */
static struct atls_ctx *server_ctx(FIXTURE_DATA(rej) * self)
{
	return tl_side_ctx(&self->srv, ATLS_ROLE_SERVER, ATLS_KEY_SOFTWARE, true, false);
}

static struct atls_ctx *client_ctx(FIXTURE_DATA(rej) * self)
{
	return tl_side_ctx(&self->cli, ATLS_ROLE_CLIENT, ATLS_KEY_SOFTWARE, false, true);
}

/* libatls client vs libatls server; returns the client's result code. */
static int handshake(struct atls_ctx *cctx, struct atls_ctx *sctx, struct atls_result *cres,
		     struct atls_result *sres)
{
	struct tl_hs sa = { .ctx = sctx };
	int ret;

	ret = tl_handshake_with(cctx, 10000, cres, tl_hs_main, &sa, &sa.fd);
	*sres = sa.res;
	return ret;
}

/* A genuine server and the client: the client refuses it for reason, with a
 * bad_certificate alert; both results are left for further checks. */
static void refused(struct __test_metadata *_metadata, FIXTURE_DATA(rej) * self, int reason,
		    struct atls_result *cres, struct atls_result *sres)
{
	struct atls_ctx *sctx = server_ctx(self), *cctx = client_ctx(self);

	ASSERT_NE(NULL, sctx);
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, handshake(cctx, sctx, cres, sres));
	EXPECT_EQ(reason, cres->reason) TH_LOG("%s", cres->reason_text);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres->alert);
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
}

TEST_F(rej, pcr_changed_after_policy)
{
	static const uint8_t dg[32] = { 0x42 };
	struct atls_result cres, sres;
	struct atls_tpm *t;

	/* The server's platform state changes after the client's policy was made. */
	ASSERT_EQ(0, atls_tpm_open(self->srv.sw.tcti, &t));
	ASSERT_EQ(0, atls_tpm_pcr_extend(t, 7, dg));
	atls_tpm_close(t);

	refused(_metadata, self, ATLS_REASON_PCR_MISMATCH, &cres, &sres);
	EXPECT_EQ(ATLS_EAR_CONTRAINDICATED, cres.appraisal.status);
	EXPECT_EQ(0, cres.crypto_info_len);
	/* The server learns it through the alert. */
	EXPECT_NE(0, sres.err);
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, sres.reason);
}

TEST_F(rej, untrusted_ak)
{
	struct atls_result cres, sres;

	/* The client's policy trusts only its own AK, not the server's. */
	ASSERT_EQ(0, tl_side_policy(&self->cli, &self->cli, "\"server\""));
	refused(_metadata, self, ATLS_REASON_AK_UNTRUSTED, &cres, &sres);
}

TEST_F(rej, evidence_replayed_from_earlier_handshake)
{
	struct atls_evidence_params p = { .key_mode = ATLS_KEY_SOFTWARE, .ak_handle = AK,
					  .pcr_bank_alg = 0x0b, .pcr_mask = 0xff };
	struct tl_replay_server r = { .cert = tl_path(self->srv.dir, "sw.pem"),
				      .key = tl_path(self->srv.dir, "sw.key") };
	struct atls_result cres, sres;
	struct atls_ctx *cctx, *sctx;
	uint8_t old_binder[64], *cmw = NULL, *ext;
	size_t cmw_len;
	struct atls_tpm *t;

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
	ext = malloc(cmw_len + 3);
	ASSERT_NE(NULL, ext);
	ext[0] = (uint8_t)(cmw_len >> 16);
	ext[1] = (uint8_t)(cmw_len >> 8);
	ext[2] = (uint8_t)cmw_len;
	memcpy(ext + 3, cmw, cmw_len);
	r.ext = ext;
	r.ext_len = cmw_len + 3;
	free(cmw);

	/* 3. Replayed in a new handshake by someone holding the server's key. */
	EXPECT_EQ(-EKEYREJECTED, tl_handshake_with(cctx, 10000, &cres, tl_replay_server_main, &r,
						   &r.fd));
	EXPECT_EQ(ATLS_REASON_FRESHNESS, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	free(ext);
	atls_ctx_free(cctx);
}

/*
 * Key substitution: a server presenting its software-key certificate but
 * evidence that certifies the TPM-resident TLS key (key mode tpm evidence,
 * fresh binder for the presented certificate).  Quote and binder are right;
 * the certified key is not the certificate's: key-binding-mismatch.
 */
TEST_F(rej, certified_key_is_not_the_certificate_key)
{
	struct tl_quoting_server x = {
		.cert = tl_path(self->srv.dir, "sw.pem"), .key = tl_path(self->srv.dir, "sw.key"),
		.suites = "TLS_AES_128_GCM_SHA256", .tcti = self->srv.sw.tcti, .produced = -1,
		.params = { .key_mode = ATLS_KEY_TPM, .ak_handle = AK, .tls_key_handle = TK,
			    .pcr_bank_alg = 0x0b, .pcr_mask = 0xff },
	};
	struct atls_result cres;
	struct atls_ctx *cctx;

	cctx = client_ctx(self);
	ASSERT_NE(NULL, cctx);
	EXPECT_EQ(-EKEYREJECTED, tl_handshake_with(cctx, 10000, &cres, tl_quoting_server_main, &x,
						   &x.fd));
	EXPECT_EQ(ATLS_REASON_KEY_BINDING_MISMATCH, cres.reason) TH_LOG("%s", cres.reason_text);
	EXPECT_EQ(ATLS_ALERT_BAD_CERTIFICATE, cres.alert);
	EXPECT_EQ(0, x.produced);	/* the evidence itself was genuine */
	atls_ctx_free(cctx);
}

TEST_HARNESS_MAIN
