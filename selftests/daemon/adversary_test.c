// SPDX-License-Identifier: GPL-2.0
/*
 * The adversaries of Documentation/security.rst played against the real
 * atlsd of this VM (atls.ko, kTLS, the VM's TPM at /dev/tpmrm0, key mode
 * software), each from a program of its own kind that is not atlsd:
 *
 *  handshake_binding_gives_evidence_to_untrusted_client
 *  exporter_binding_withholds_evidence_from_untrusted_client
 *      fifth adversary: an intruder, a libatls client with a TPM of its own
 *      (a second swtpm started in the VM) whose AK atlsd does not trust,
 *      connects to atlsd serving a policy that requires client attestation.
 *      atlsd refuses it in both bindings (EACCES to the application), but
 *      with the handshake binder atlsd has already quoted for it and sent
 *      its evidence: the intruder holds atlsd's AK identity and PCR digest
 *      (and atlsd's TPM counted the quote).  With binding = "exporter"
 *      atlsd appraises the intruder first: no claims reach the intruder,
 *      atlsd's TPM issues no command for it, and the intruder's read ends
 *      with atlsd's fatal alert (bad_certificate), sent after the handshake
 *      as a record of libatls's own (keys.c).
 *  exporter_binding_server_not_checking_clients_answers_any
 *      the limit of that answer: atlsd serving an exporter-bound policy with
 *      verify-peer = "none" gives the same intruder its evidence.
 *  other_tpm_user_cannot_quote_with_atlsds_ak
 *      third adversary: a plain OpenSSL server that is not atlsd, with a
 *      key and certificate of its own, opens the VM's TPM itself (as root)
 *      and tries to quote the binder of its own handshake with atlsd's AK.
 *      The AK needs the authorization value derived from atlsd's key
 *      secret (evidence.rst, "Key authorization"): the TPM answers
 *      TPM_RC_BAD_AUTH (-EACCES), P has no evidence to send and atlsd, as
 *      the client, refuses it.
 *
 * The other claims of security.rst are shown by host tests against
 * libatls (libatls/tests/threat_model_test.c, expat_test.c,
 * handshake_reject_test.c); security.rst, "Where each claim is shown",
 * lists which.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <atls/atls.h>
#include <atls/provision.h>
#include "adversary.h"
#include "certs.h"
#include "net.h"
#include "peer.h"
#include "sock.h"
#include "swtpm.h"
#include "util.h"
#include "vm.h"

/* The intruder's own TPM and keys, made once in setup() (its swtpm is a
 * child of the test program, reached over TCP from the forked tests). */
static struct tl_side intruder;
static char state[400];		/* atlsd's state directory */

FIXTURE(adv) {};
FIXTURE_SETUP(adv) {}
FIXTURE_TEARDOWN(adv) {}

static const char *state_file(const char *name)
{
	static char p[500];

	snprintf(p, sizeof(p), "%s/%s", state, name);
	return p;
}

struct app_server {
	int l, err;
	const char *policy;
};

/* The application on atlsd's side: accept one connection, ATLS_START. */
static void *app_serve(void *arg)
{
	struct app_server *s = arg;
	int fd = tl_accept(s->l, 60000);

	s->err = fd < 0 ? -1 : tl_atls(fd, ATLS_ROLE_SERVER, s->policy, 0);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/*
 * The fifth adversary against atlsd serving policy (binding b): the
 * intruder requires atlsd's evidence and trusts atlsd's AK (it copied a
 * genuine client's peers.policy); atlsd requires client evidence and does
 * not trust the intruder's AK.
 */
static void harvest(struct __test_metadata *_metadata, int port, const char *policy,
		    enum atls_binding b, bool server_checks)
{
	struct app_server s = { .policy = policy };
	struct atls_result ires;
	struct atls_config c;
	struct atls_ctx *ictx;
	long long tpm0, tpm1;
	uint8_t ak[32];
	pthread_t th;
	int fd, ret;

	ASSERT_EQ(0, tl_pubkey_sha256(state_file("ak.pem"), ak));
	tl_side_config(&c, &intruder, ATLS_ROLE_CLIENT, ATLS_KEY_TPM, true, true);
	c.policy_file = state_file("peers.policy");
	c.binding = b;
	ASSERT_EQ(0, atls_ctx_new(&c, &ictx));

	s.l = tl_listen_any(port);
	ASSERT_LE(0, s.l);
	tpm0 = tl_atlsd_counter("tpm_commands");
	ASSERT_LE(0, tpm0);
	ASSERT_EQ(0, pthread_create(&th, NULL, app_serve, &s));
	fd = tl_connect_to("127.0.0.1", port, 10000);
	ASSERT_LE(0, fd);
	ret = atls_handshake(ictx, fd, 60000, &ires);
	/* The intruder's last flight is read before its socket goes. */
	shutdown(fd, SHUT_WR);
	pthread_join(th, NULL);
	close(fd);
	close(s.l);
	tpm1 = tl_atlsd_counter("tpm_commands");

	ASSERT_LE(0, tpm1);
	if (!server_checks) {
		/* Nothing to refuse: atlsd answers any client, in both bindings. */
		EXPECT_EQ(0, s.err) TH_LOG("ATLS_START: %s", strerror(s.err));
		EXPECT_EQ(0, ret) TH_LOG("%s", ires.reason_text);
		EXPECT_LT(tpm0, tpm1) TH_LOG("no TPM command for the client");
		EXPECT_TRUE(ires.peer_attested);
		EXPECT_EQ(0, memcmp(ires.peer_claims.ak_sha256, ak, 32));
		goto out;
	}
	/* atlsd refuses the intruder in both bindings. */
	EXPECT_EQ(EACCES, s.err) TH_LOG("ATLS_START: %s", strerror(s.err));
	if (b == ATLS_BINDING_HANDSHAKE) {
		/* ... but has quoted for it, and it holds the evidence. */
		EXPECT_LT(tpm0, tpm1) TH_LOG("no TPM command for the intruder");
		EXPECT_TRUE(ires.peer_attested) TH_LOG("%d %s", ret, ires.reason_text);
		EXPECT_EQ(ATLS_EVIDENCE_TPM2_PAT, ires.peer_claims.evidence_type);
		EXPECT_EQ(0, memcmp(ires.peer_claims.ak_sha256, ak, 32));
		EXPECT_EQ(32, ires.peer_claims.pcr_digest_len);
	} else {
		/* atlsd's refusal arrives as its alert (bad_certificate). */
		EXPECT_EQ(-EPROTO, ret);
		EXPECT_EQ(ATLS_REASON_PEER_ABORTED, ires.abort_reason);
		EXPECT_NE(NULL, strstr(ires.reason_text, "alert 42 (bad certificate)"))
			TH_LOG("%s", ires.reason_text);
		EXPECT_EQ(tpm0, tpm1) TH_LOG("atlsd used its TPM for the intruder");
		EXPECT_FALSE(ires.peer_attested);
		EXPECT_EQ(ATLS_EVIDENCE_NONE, ires.peer_claims.evidence_type);
		EXPECT_NE(0, memcmp(ires.peer_claims.ak_sha256, ak, 32));
		EXPECT_EQ(0, ires.peer_claims.pcr_digest_len);
	}
out:
	atls_result_release(&ires);
	atls_ctx_free(ictx);
}

/*
 * One genuine loopback connection under policy first: atlsd builds the
 * policy's contexts (and reads its AK) then, not during the counted one.
 */
static void warm_up(struct __test_metadata *_metadata, int port, const char *policy)
{
	struct tl_conn k = { .port = port, .policy = policy };

	ASSERT_EQ(0, tl_conn_run(&k));
	ASSERT_EQ(0, k.err_c) TH_LOG("client: %s", strerror(k.err_c));
	ASSERT_EQ(0, k.err_s) TH_LOG("server: %s", strerror(k.err_s));
}

/*
 * atlsd started, one genuine connection under policy (port), the intruder
 * against it (port + 1), atlsd stopped.
 */
static void intruder_run(struct __test_metadata *_metadata, int port, const char *policy,
			 enum atls_binding b, bool server_checks)
{
	ASSERT_EQ(0, tl_atlsd_start());
	warm_up(_metadata, port, policy);
	harvest(_metadata, port + 1, policy, b, server_checks);
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

TEST_F_TIMEOUT(adv, handshake_binding_gives_evidence_to_untrusted_client, 300)
{
	intruder_run(_metadata, 7701, "default", ATLS_BINDING_HANDSHAKE, true);
}

TEST_F_TIMEOUT(adv, exporter_binding_withholds_evidence_from_untrusted_client, 300)
{
	intruder_run(_metadata, 7703, "expat", ATLS_BINDING_EXPORTER, true);
}

/*
 * The limit of the fifth adversary's answer (security.rst): a server that
 * does not check clients (verify-peer = "none") answers any client with
 * its evidence in the exporter binding too.
 */
TEST_F_TIMEOUT(adv, exporter_binding_server_not_checking_clients_answers_any, 300)
{
	intruder_run(_metadata, 7706, "expat-attest-only", ATLS_BINDING_EXPORTER, false);
}

/*
 * The third adversary: P, a plain OpenSSL server (testlib/adversary.c)
 * with a key of its own, opens the VM's TPM as any root or tss process can
 * and tries to quote its own handshake's binder with atlsd's AK.  Without
 * atlsd's key secret the TPM refuses (TPM_RC_BAD_AUTH, -EACCES in
 * libatls); atlsd, the client (policy verify-only: atlsd's AK and PCRs),
 * gets no evidence and refuses P.  With keys of the empty authorization of
 * older atlsctl versions the quote was made and atlsd affirmed P.
 */
TEST_F_TIMEOUT(adv, other_tpm_user_cannot_quote_with_atlsds_ak, 300)
{
	struct tl_quoting_server p = {
		.suites = "TLS_AES_128_GCM_SHA256", .tcti = "device:/dev/tpmrm0", .produced = -1,
		.params = { .key_mode = ATLS_KEY_SOFTWARE, .ak_handle = ATLS_AK_HANDLE_DEFAULT,
			    .pcr_bank_alg = 0x0b, .pcr_mask = 0xff },
	};
	char cert[500], key[500];
	struct atls_peer_info pi;
	struct tl_thread pt;
	int l, c, err;

	snprintf(cert, sizeof(cert), "%s/p.pem", tl_vm.dir);
	snprintf(key, sizeof(key), "%s/p.key", tl_vm.dir);
	p.cert = cert;
	p.key = key;
	ASSERT_EQ(0, tl_make_cert(cert, key, "not-atlsd", false, NULL, NULL, NULL));
	ASSERT_EQ(0, tl_atlsd_start());

	l = tl_listen_any(7705);
	ASSERT_LE(0, l);
	c = tl_connect_to("127.0.0.1", 7705, 10000);
	ASSERT_LE(0, c);
	p.fd = tl_accept(l, 10000);
	ASSERT_LE(0, p.fd);
	tl_spawn(&pt, tl_quoting_server_main, &p);
	err = tl_atls(c, ATLS_ROLE_CLIENT, "verify-only", 0);
	EXPECT_EQ(EACCES, err) TH_LOG("ATLS_START: %s", strerror(err));
	shutdown(c, SHUT_WR);
	tl_join(&pt);
	/* the TPM's answer to P: the AK's authorization failed */
	EXPECT_EQ(-EACCES, p.produced) TH_LOG("P's quote: %s", strerror(-p.produced));
	if (!tl_peer_info(c, &pi))
		EXPECT_NE(ATLS_VERDICT_AFFIRMING, pi.verdict);
	close(c);
	close(p.fd);
	close(l);
	EXPECT_EQ(0, tl_atlsd_kill(SIGTERM));
}

/* At the program's exit (forked tests leave with _exit()): the swtpm goes. */
static void intruder_free(void)
{
	tl_side_free(&intruder);
}

/*
 * atlsd's state: provisioned (key mode software) on the VM's TPM, trusting
 * itself; atlsd's configuration with the exporter-bound policy "expat".
 * The intruder: a fresh swtpm with its own AK, which atlsd does not trust.
 */
static int setup(void)
{
	const char *d = tl_vm.dir;

	if (tl_vm_local_env("e2e-adv", "adv"))
		return -1;
	snprintf(state, sizeof(state), "%s/state", d);
	setenv("ATLS_STATE_DIR", state, 1);
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/adv.conf", d);
	if (tl_vm_self_trusting("state", "exp", true) ||
	    tl_sh("printf 'key-mode = \"software\";\\nlog-level = \"debug\";\\n"
		  "policies = { expat = { binding = \"exporter\"; };\\n"
		  "  expat-attest-only = { verify-peer = \"none\"; binding = \"exporter\"; }; };\\n'"
		  " > %s",
		  tl_vm.conf))
		return -1;
	if (tl_side_provision(&intruder, "intruder")) {
		fprintf(stderr, "adversary_test: no swtpm for the intruder\n");
		return -1;
	}
	atexit(intruder_free);
	return 0;
}

int main(int argc, char **argv)
{
	if (tl_vm_local_begin("adversary", setup))
		return 1;
	return test_harness_run(argc, argv);
}
