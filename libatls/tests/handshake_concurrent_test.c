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
#include "testutil.h"
#include "tlspeer.h"

#define PAIRS 8
#define ROUNDS 3

struct job {
	struct atls_ctx *ctx;
	int fd;
	bool client;
	int ok;
};

static int job_main(void *arg)
{
	struct job *j = arg;
	int r, i;

	for (i = 0; i < ROUNDS; i++) {
		/* One connection per round: the peer job uses the same fd index. */
		r = atls_test_attested_exchange(j[i].ctx, j[i].fd, j[i].client, 20000,
						"concurrent");
		if (r)
			return r;
		j[i].ok = 1;
	}
	return 0;
}

static void cfg_side(struct atls_config *c, struct atls_test_side *s, enum atls_role role)
{
	atls_config_init(c, role);
	c->key_mode = ATLS_KEY_TPM;
	c->tcti = s->sw.tcti;
	c->ak_handle = ATLS_AK_HANDLE_DEFAULT;
	c->tls_key_handle = ATLS_TLS_KEY_HANDLE_DEFAULT;
	c->attest_self = true;
	c->peer_attest = ATLS_PEER_REQUIRED;
	c->policy_file = atls_test_path(s->dir, "policy.conf");
	c->cert_file = atls_test_path(s->dir, "tpm.pem");
}

TEST(shared_ctx_parallel_mutual_tpm)
{
	struct atls_test_side srv, cli;
	struct atls_config sc, cc;
	struct atls_ctx *sctx, *cctx;
	static struct job jobs[2 * PAIRS][ROUNDS];
	struct atls_test_thread th[2 * PAIRS];
	int i, k, fds[2];

	setenv("TSS2_LOG", "all+none", 1);
	ASSERT_EQ(0, atls_test_side_provision(&srv, "csrv"));
	ASSERT_EQ(0, atls_test_side_provision(&cli, "ccli"));
	ASSERT_EQ(0, atls_test_side_policy(&cli, &srv, "\"server\""));
	ASSERT_EQ(0, atls_test_side_policy(&srv, &cli, "\"client\""));
	cfg_side(&sc, &srv, ATLS_ROLE_SERVER);
	cfg_side(&cc, &cli, ATLS_ROLE_CLIENT);
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));

	for (i = 0; i < PAIRS; i++) {
		for (k = 0; k < ROUNDS; k++) {
			ASSERT_EQ(0, atls_test_tcp_pair(&fds[0], &fds[1]));
			jobs[2 * i][k] = (struct job){ .ctx = cctx, .fd = fds[0], .client = true };
			jobs[2 * i + 1][k] = (struct job){ .ctx = sctx, .fd = fds[1] };
		}
	}
	for (i = 0; i < 2 * PAIRS; i++)
		ASSERT_EQ(0, atls_test_spawn(&th[i], job_main, jobs[i]));
	for (i = 0; i < 2 * PAIRS; i++)
		EXPECT_EQ(0, atls_test_join(&th[i])) TH_LOG("job %d", i);
	for (i = 0; i < 2 * PAIRS; i++)
		for (k = 0; k < ROUNDS; k++) {
			EXPECT_EQ(1, jobs[i][k].ok);
			close(jobs[i][k].fd);
		}
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
	atls_test_side_free(&srv);
	atls_test_side_free(&cli);
}

TEST_HARNESS_MAIN
