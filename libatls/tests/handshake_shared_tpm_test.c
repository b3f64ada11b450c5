// SPDX-License-Identifier: Apache-2.0
/*
 * One TPM owner shared by several contexts, as atlsd runs it: each side opens
 * its swtpm once (atls_tpm_open()) and builds two contexts (two "policies":
 * one with quotes per handshake, one batched) that borrow that handle through
 * struct atls_config.tpm, with no TCTI at all.  Handshakes on both contexts
 * run concurrently in threads; each must succeed with mutual attestation
 * affirmed and keys that work on a record.  swtpm serves one client
 * connection at a time, so a context that opened a second connection of its
 * own would hang instead of passing.  Freeing the contexts must leave the
 * shared handle open and usable; closing it is the owner's job.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <atls/provision.h>
#include <atls/tpm.h>
#include <atls/atls.h>

#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define PAIRS 4		/* per context pair */
#define ROUNDS 2

static void cfg_side(struct atls_config *c, struct tl_side *s, struct atls_tpm *tpm,
		     enum atls_role role, bool batch)
{
	tl_side_config(c, s, role, ATLS_KEY_TPM, true, true);
	c->tpm = tpm;
	c->tcti = NULL;		/* the shared handle is the only way to the TPM */
	c->batch = batch;
}

TEST(two_contexts_share_one_tpm_concurrently)
{
	struct tl_side srv, cli;
	struct atls_tpm *stpm, *ctpm;
	struct atls_config sc, cc;
	struct atls_ctx *sctx[2], *cctx[2];
	static struct tl_exchange jobs[4 * PAIRS][ROUNDS];
	uint8_t pcrs[24][32];
	unsigned int n = 0;
	int i, k, p, fds[2];

	ASSERT_EQ(0, tl_side_pair(&srv, &cli, "tsrv", "tcli"));
	ASSERT_EQ(0, atls_tpm_open(srv.sw.tcti, &stpm));
	ASSERT_EQ(0, atls_tpm_open(cli.sw.tcti, &ctpm));

	for (p = 0; p < 2; p++) {
		cfg_side(&sc, &srv, stpm, ATLS_ROLE_SERVER, p == 1);
		cfg_side(&cc, &cli, ctpm, ATLS_ROLE_CLIENT, p == 1);
		ASSERT_EQ(0, atls_ctx_new(&sc, &sctx[p]));
		ASSERT_EQ(0, atls_ctx_new(&cc, &cctx[p]));
	}
	/* Jobs 4i, 4i+1: a pair on contexts 0; 4i+2, 4i+3: a pair on contexts 1. */
	for (i = 0; i < 2 * PAIRS; i++) {
		p = i & 1;
		for (k = 0; k < ROUNDS; k++) {
			ASSERT_EQ(0, tl_tcp_pair(AF_INET, &fds[0], &fds[1]));
			jobs[2 * i][k] = (struct tl_exchange){ .ctx = cctx[p], .fd = fds[0],
							       .client = true };
			jobs[2 * i + 1][k] = (struct tl_exchange){ .ctx = sctx[p], .fd = fds[1] };
		}
	}
	EXPECT_EQ(0, tl_exchanges_run(&jobs[0][0], 4 * PAIRS, ROUNDS, 30000, "shared tpm"));
	for (p = 0; p < 2; p++) {
		atls_ctx_free(sctx[p]);
		atls_ctx_free(cctx[p]);
	}
	/* The contexts borrowed the handles: still open, still answering. */
	EXPECT_EQ(0, atls_tpm_pcr_read(stpm, 0xff, pcrs, &n));
	EXPECT_EQ(8, n);
	EXPECT_EQ(0, atls_tpm_key_present(ctpm, ATLS_AK_HANDLE_DEFAULT));
	EXPECT_EQ(-ENOENT, atls_tpm_key_present(ctpm, 0x81010077u));
	atls_tpm_close(stpm);
	atls_tpm_close(ctpm);
	tl_side_free(&srv);
	tl_side_free(&cli);
}

/* A context needing the TPM with neither a shared handle nor a TCTI is refused. */
TEST(no_tpm_no_tcti_refused)
{
	struct tl_side s;
	struct atls_config c;
	struct atls_ctx *ctx = NULL;

	ASSERT_EQ(0, tl_side_provision(&s, "tnone"));
	cfg_side(&c, &s, NULL, ATLS_ROLE_SERVER, false);
	c.peer_attest = ATLS_PEER_NONE;
	c.policy_file = NULL;
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));
	EXPECT_EQ(NULL, ctx);
	tl_side_free(&s);
}

TEST_HARNESS_MAIN
