// SPDX-License-Identifier: Apache-2.0
/*
 * Concurrency as atlsd uses libatls: one struct atls_ctx per side shared by
 * many handshakes running at once in different threads (mutual attestation,
 * key mode tpm, so every handshake queues signatures, certifies and quotes
 * at each side's single TPM owner).  Every handshake must succeed, be
 * affirmed, and export keys that work on a record.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <atls/provision.h>
#include <atls/atls.h>

#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"

#define PAIRS 8
#define ROUNDS 3

TEST(shared_ctx_parallel_mutual_tpm)
{
	struct tl_side srv, cli;
	struct atls_config sc, cc;
	struct atls_ctx *sctx, *cctx;
	static struct tl_exchange jobs[2 * PAIRS][ROUNDS];
	int i, k, fds[2];

	ASSERT_EQ(0, tl_side_pair(&srv, &cli, "csrv", "ccli"));
	tl_side_config(&sc, &srv, ATLS_ROLE_SERVER, ATLS_KEY_TPM, true, true);
	tl_side_config(&cc, &cli, ATLS_ROLE_CLIENT, ATLS_KEY_TPM, true, true);
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));

	for (i = 0; i < PAIRS; i++) {
		for (k = 0; k < ROUNDS; k++) {
			ASSERT_EQ(0, tl_tcp_pair(AF_INET, &fds[0], &fds[1]));
			jobs[2 * i][k] = (struct tl_exchange){ .ctx = cctx, .fd = fds[0],
							       .client = true };
			jobs[2 * i + 1][k] = (struct tl_exchange){ .ctx = sctx, .fd = fds[1] };
		}
	}
	EXPECT_EQ(0, tl_exchanges_run(&jobs[0][0], 2 * PAIRS, ROUNDS, 20000, "concurrent"));
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
	tl_side_free(&srv);
	tl_side_free(&cli);
}

TEST_HARNESS_MAIN
