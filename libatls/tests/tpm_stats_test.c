// SPDX-License-Identifier: Apache-2.0
/*
 * atls_tpm_stats() against a real swtpm: the TPM owner counts every request
 * it completes, exactly, and the time callers spent on them.
 *
 * The expected counts come from the code, one atls_tpm_call() per request
 * function (libatls/src/tpm_ops.c), whatever the callback does inside:
 *  - atls_tpm_quote(), atls_tpm_read_public(), atls_tpm_pcr_read(): 1 each
 *    (a PCR read of 24 PCRs is 3 PCR_Read commands in one request);
 *  - atls_tpm_quote() with an empty PCR mask: refused before queueing, 0;
 *  - a request that fails at the TPM (absent handle): completed, 1;
 *  - atls_evidence_produce() (evidence.c): key mode software = ReadPublic
 *    of the AK (its kid) + Quote = 2; key mode tpm = those + ReadPublic of
 *    the TLS key + Certify = 4;
 *  - one attested handshake, per attesting side, quote per handshake
 *    (attest.c, tpmkey.c): software = evidence 2; tpm = CertificateVerify
 *    Sign + evidence 4 = 5.  Appraising the peer needs no TPM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "kselftest_harness.h"
#include <atls/provision.h>
#include <atls/tpm.h>
#include <atls/atls.h>

#include "net.h"
#include "peer.h"
#include "swtpm.h"
#include "util.h"
#include "../src/tpm_int.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT
#define MASK 0x83u		/* PCR 0, 1, 7 */
#define ABSENT 0x81010077u	/* no object there */

static unsigned long calls_of(struct atls_tpm *t)
{
	unsigned long c = 0;

	return atls_tpm_stats(t, &c, NULL) ? (unsigned long)-1 : c;
}

static unsigned long long busy_of(struct atls_tpm *t)
{
	unsigned long long b = 0;

	return atls_tpm_stats(t, NULL, &b) ? (unsigned long long)-1 : b;
}

static int quote(struct atls_tpm *t, uint32_t ak, uint32_t mask)
{
	uint8_t qd[32], *a = NULL, *s = NULL;
	size_t alen, slen;
	int err;

	if (RAND_bytes(qd, sizeof(qd)) != 1)
		return -EIO;
	err = atls_tpm_quote(t, ak, qd, sizeof(qd), 0x0b, mask, &a, &alen, &s, &slen);
	free(a);
	free(s);
	return err;
}

FIXTURE(st)
{
	struct tl_swtpm sw;
	struct atls_tpm *tpm;
};

FIXTURE_SETUP(st)
{
	ASSERT_EQ(0, tl_swtpm_start(&self->sw));
	ASSERT_EQ(0, atls_tpm_open(self->sw.tcti, &self->tpm));
	ASSERT_EQ(0, atls_provision_ak(self->tpm, AK));
	ASSERT_EQ(0, atls_provision_tls_key(self->tpm, TK));
}

FIXTURE_TEARDOWN(st)
{
	atls_tpm_close(self->tpm);
	tl_swtpm_stop(&self->sw);
}

TEST_F(st, counts_each_request)
{
	struct atls_evidence_params p = { .ak_handle = AK, .tls_key_handle = TK,
					  .pcr_bank_alg = 0x0b, .pcr_mask = MASK };
	unsigned long c0, c;
	unsigned long long b0, b;
	uint8_t vals[24][32], binder[32] = { 1 }, *cmw;
	unsigned int n, i;
	size_t len;

	EXPECT_EQ(-EINVAL, atls_tpm_stats(NULL, &c, &b));
	EXPECT_EQ(0, atls_tpm_stats(self->tpm, NULL, NULL));
	ASSERT_EQ(0, atls_tpm_stats(self->tpm, &c0, &b0));
	/* Provisioning went through the owner too. */
	EXPECT_LT(0ul, c0);

	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, quote(self->tpm, AK, MASK));
	ASSERT_EQ(0, atls_tpm_stats(self->tpm, &c, &b));
	EXPECT_EQ(c0 + 5, c);
	EXPECT_LT(b0, b);	/* five TPM signatures take more than a microsecond */

	/* Refused before the queue: not counted. */
	EXPECT_EQ(-EINVAL, quote(self->tpm, AK, 0));
	EXPECT_EQ(c0 + 5, calls_of(self->tpm));
	/* Failed at the TPM: the request completed, counted. */
	EXPECT_EQ(-ENOENT, quote(self->tpm, ABSENT, MASK));
	EXPECT_EQ(c0 + 6, calls_of(self->tpm));
	EXPECT_EQ(-ENOENT, atls_tpm_key_present(self->tpm, ABSENT));
	EXPECT_EQ(0, atls_tpm_key_present(self->tpm, TK));
	EXPECT_EQ(c0 + 8, calls_of(self->tpm));
	/* Three PCR_Read commands, one request. */
	ASSERT_EQ(0, atls_tpm_pcr_read(self->tpm, 0xffffff, vals, &n));
	EXPECT_EQ(24u, n);
	EXPECT_EQ(c0 + 9, calls_of(self->tpm));

	p.key_mode = ATLS_KEY_SOFTWARE;
	ASSERT_EQ(0, atls_evidence_produce(self->tpm, &p, binder, sizeof(binder), &cmw, &len));
	free(cmw);
	EXPECT_EQ(c0 + 11, calls_of(self->tpm));
	p.key_mode = ATLS_KEY_TPM;
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, atls_evidence_produce(self->tpm, &p, binder, sizeof(binder), &cmw,
						   &len));
		free(cmw);
	}
	EXPECT_EQ(c0 + 23, calls_of(self->tpm));
	EXPECT_LE(b, busy_of(self->tpm));
}

#define THREADS 4
#define PER_THREAD 6

static int quoter(void *arg)
{
	struct atls_tpm *t = arg;
	int i, err;

	for (i = 0; i < PER_THREAD; i++) {
		err = quote(t, AK, MASK);
		if (err)
			return err;
	}
	return 0;
}

/* Callers racing on the queue: no count lost, none doubled. */
TEST_F(st, concurrent_callers_counted_exactly)
{
	struct tl_thread th[THREADS];
	unsigned long c0 = calls_of(self->tpm);
	unsigned long long b0 = busy_of(self->tpm);
	int i;

	for (i = 0; i < THREADS; i++)
		ASSERT_EQ(0, tl_spawn(&th[i], quoter, self->tpm));
	for (i = 0; i < THREADS; i++)
		EXPECT_EQ(0, tl_join(&th[i]));
	EXPECT_EQ(c0 + THREADS * PER_THREAD, calls_of(self->tpm));
	EXPECT_LT(b0, busy_of(self->tpm));
}

/* ------------------------------------------- handshakes, per attesting side */

struct hs {
	struct atls_ctx *ctx;
	int fd;
};

static int serve(void *arg)
{
	struct hs *h = arg;

	return tl_attested_exchange(h->ctx, h->fd, 0, 30000, "stats");
}

static void cfg_side(struct atls_config *c, struct tl_side *s, struct atls_tpm *tpm,
		     enum atls_role role, bool sw)
{
	tl_side_config(c, s, role, sw ? ATLS_KEY_SOFTWARE : ATLS_KEY_TPM, true, true);
	c->tpm = tpm;
	c->tcti = NULL;
}

/* rounds mutual attested handshakes; each side's TPM must count per_side each. */
static void handshakes(struct __test_metadata *_metadata, bool sw, unsigned long per_side)
{
	struct tl_side srv, cli;
	struct atls_tpm *stpm, *ctpm;
	struct atls_ctx *sctx, *cctx;
	struct atls_config sc, cc;
	struct tl_thread th;
	unsigned long s0, c0;
	struct hs h;
	int i, fds[2];
	const int rounds = 3;

	ASSERT_EQ(0, tl_side_pair(&srv, &cli, "ssrv", "scli"));
	ASSERT_EQ(0, atls_tpm_open(srv.sw.tcti, &stpm));
	ASSERT_EQ(0, atls_tpm_open(cli.sw.tcti, &ctpm));
	cfg_side(&sc, &srv, stpm, ATLS_ROLE_SERVER, sw);
	cfg_side(&cc, &cli, ctpm, ATLS_ROLE_CLIENT, sw);
	ASSERT_EQ(0, atls_ctx_new(&sc, &sctx));
	ASSERT_EQ(0, atls_ctx_new(&cc, &cctx));
	/* Whatever the contexts did at set-up is before the baseline. */
	s0 = calls_of(stpm);
	c0 = calls_of(ctpm);
	for (i = 0; i < rounds; i++) {
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &fds[0], &fds[1]));
		h = (struct hs){ sctx, fds[1] };
		ASSERT_EQ(0, tl_spawn(&th, serve, &h));
		EXPECT_EQ(0, tl_attested_exchange(cctx, fds[0], 1, 30000, "stats"));
		EXPECT_EQ(0, tl_join(&th));
		close(fds[0]);
		close(fds[1]);
		EXPECT_EQ(s0 + per_side * (i + 1), calls_of(stpm)) TH_LOG("server, round %d", i);
		EXPECT_EQ(c0 + per_side * (i + 1), calls_of(ctpm)) TH_LOG("client, round %d", i);
	}
	EXPECT_LT(0ull, busy_of(stpm));
	EXPECT_LT(0ull, busy_of(ctpm));
	atls_ctx_free(sctx);
	atls_ctx_free(cctx);
	atls_tpm_close(stpm);
	atls_tpm_close(ctpm);
	tl_side_free(&srv);
	tl_side_free(&cli);
}

TEST(handshake_key_mode_software_two_per_side)
{
	handshakes(_metadata, true, 2);
}

TEST(handshake_key_mode_tpm_five_per_side)
{
	handshakes(_metadata, false, 5);
}

TEST_HARNESS_MAIN
