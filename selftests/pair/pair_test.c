// SPDX-License-Identifier: GPL-2.0
/*
 * Attested sockets between two VMs, end to end: real atls.ko, real atlsd,
 * each VM with its own swtpm, AK public keys exchanged as an operator would.
 * VM a serves, VM b connects; both run this program and check their own
 * side of every test.
 *
 *  mutual / server_only / client_only    who attests is chosen by policy
 *  peer_info_matches_quote               the verdict's claims are the other
 *                                        VM's AK and PCR digest
 *  client_rejects / server_rejects       a policy failure on either side:
 *                                        EACCES with the reason, the other
 *                                        side fails too, nothing sent in clear
 *  unknown_policy                        ENOENT, POLICY_UNKNOWN
 *  concurrent_50                         50 connections at once
 *  batched_quotes                        a policy with batched quotes
 *                                        (atlsd.conf batch): concurrent
 *                                        mutual handshakes, claims checked,
 *                                        both daemons used the batched scheme
 *  exporter_mutual / _server_only /      atlsd.conf binding = "exporter": the
 *  _client_only                          evidence in Exported Authenticators
 *                                        after the handshake, kTLS continuing
 *                                        at the records the exchange used
 *                                        (echo both ways), atlsd logged the
 *                                        mode
 *  exporter_required_peer_without        an exporter-bound server refuses a
 *                                        client on the handshake binder:
 *                                        EACCES, EVIDENCE_MISSING
 *  sendfile_content                      sendfile both ways, content checked
 *  ipv6_mutual                           the same over IPv6
 *  helper_killed / after_restart         atlsd dies mid-handshake: the app
 *                                        gets ECONNABORTED (HELPER_DIED),
 *                                        nothing in clear; restarted, new
 *                                        connections succeed
 *  reload_keeps_connections              SIGHUP while a connection is up
 *  echo_example                          examples/atls-echo, message and sendfile
 *  timeout_releases_worker               ETIMEDOUT/TIMEOUT, the daemon idle again
 *  reload_adds_policy                    SIGHUP reads a changed atlsd.conf
 *  dropped_privileges                    atlsd as user tss with only
 *                                        CAP_NET_ADMIN serves as before
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "capture.h"
#include "net.h"
#include "sock.h"
#include "util.h"
#include "vm.h"

static int setup_ok;

#define IS_A (tl_vm.role == 'a')
#define MSG "attested hello"

TL_PAIR_FIXTURE(pair, setup_ok);

/* Server side of one connection: accept, ATLS_START; returns fd or -1 and
 * sets *err to the errno of ATLS_START (0 = ready). */
static int serve_one(int port, const char *policy, int *err)
{
	return tl_serve_one(port, policy, TL_PEER_WAIT_MS, err);
}

static int connect_one(const char *addr, int port, const char *policy, int *err)
{
	int fd = tl_connect_to(addr, port, TL_PEER_WAIT_MS);

	*err = -1;
	if (fd < 0)
		return -1;
	*err = tl_atls(fd, ATLS_ROLE_CLIENT, policy, 0);
	return fd;
}

/* This VM's end of one connection: VM a serves on pol_a, VM b connects to
 * addr on pol_b. */
static int open_one(const char *addr, int port, const char *pol_a, const char *pol_b, int *err)
{
	return IS_A ? serve_one(port, pol_a, err) : connect_one(addr, port, pol_b, err);
}

/* A connection inside this VM on port: listener l, client end c, server end s. */
static void local_pair(struct __test_metadata *_metadata, int port, int *l, int *c, int *s)
{
	*l = tl_listen_any(port);
	ASSERT_LE(0, *l);
	*c = tl_connect_to("127.0.0.1", port, 10000);
	ASSERT_LE(0, *c);
	*s = tl_accept(*l, 10000);
	ASSERT_LE(0, *s);
}

/* Echo one message: the client sends, the server echoes. */
static int echo(int fd, bool server)
{
	char buf[sizeof(MSG)];
	int err;

	if (server) {
		err = tl_recv_all(fd, buf, sizeof(buf), 60000);
		return err ? err : tl_send_all(fd, buf, sizeof(buf));
	}
	err = tl_send_all(fd, MSG, sizeof(MSG));
	if (!err)
		err = tl_recv_all(fd, buf, sizeof(buf), 60000);
	return err ? err : memcmp(buf, MSG, sizeof(MSG)) ? EBADMSG : 0;
}

/* The peer's claims are what the other VM's TPM holds. */
static void check_claims(struct __test_metadata *_metadata, const struct atls_peer_info *pi)
{
	EXPECT_EQ(ATLS_VERDICT_AFFIRMING, pi->verdict);
	EXPECT_EQ(ATLS_REASON_OK, pi->reason);
	EXPECT_EQ(ATLS_EVIDENCE_TPM2_KAT_PAT, pi->evidence_type);
	EXPECT_TRUE(pi->flags & ATLS_PEER_F_PEER_ATTESTED);
	EXPECT_EQ(0, memcmp(pi->ak_digest, tl_vm.peer_ak_sha256, 32));
	EXPECT_EQ(0x000B, pi->pcr_bank);
	EXPECT_EQ(0xffu, pi->pcr_select);
	EXPECT_EQ(32, pi->pcr_digest_len);
	EXPECT_EQ(0, memcmp(pi->pcr_digest, tl_vm.peer_pcr_digest, 32));
}

static void check_common(struct __test_metadata *_metadata, int fd, struct atls_peer_info *pi,
			 bool peer_has_cert)
{
	static const uint8_t zero[32];
	struct atls_status st;

	ASSERT_EQ(0, tl_status(fd, &st));
	EXPECT_EQ(ATLS_STATE_READY, st.state);
	EXPECT_EQ(0, st.error);
	ASSERT_EQ(0, tl_peer_info(fd, pi));
	EXPECT_EQ(0x0304, pi->tls_version);
	EXPECT_NE(0, pi->cipher);
	/* A client that does not attest is not asked for a certificate. */
	EXPECT_EQ(peer_has_cert, !!memcmp(pi->peer_cert_sha256, zero, 32));
}

/* Lines of our atlsd's log (all its runs: the file is appended to) matching
 * the basic regular expression re; -1 if grep could not run. */
static int log_count(const char *re)
{
	char path[400];
	int n;

	snprintf(path, sizeof(path), "%s/log-count", tl_vm.dir);
	if (tl_sh("grep -c -- '%s' '%s' > '%s'", re, tl_vm.log, path) > 1)
		return -1;
	return tl_read_int(path, &n) ? -1 : n;
}

/*
 * Wait (generously: TCG) until the log has at least want lines matching re;
 * returns the last count. atlsd writes each line with one write() after the
 * event it reports, so a line that is there means the event happened.
 */
static int log_count_reaches(const char *re, int want)
{
	int i, n = -1;

	for (i = 0; i < 600; i++) {
		n = log_count(re);
		if (n >= want)
			break;
		usleep(100 * 1000);
	}
	return n;
}

/*
 * SIGHUP our atlsd and wait until it has switched to the re-read
 * configuration ("configuration reloaded" is logged after new requests
 * already use it): a fixed pause is a guess on a slow or stalled VM.
 */
static int reload_atlsd(void)
{
	const char *re = "configuration reloaded";
	int before = log_count(re);

	if (before < 0 || kill(tl_atlsd_pid(), SIGHUP))
		return -1;
	return log_count_reaches(re, before + 1) > before ? 0 : -1;
}

/* One attested connection with the given policies on each side. */
static void run_pair(struct __test_metadata *_metadata, int port, const char *addr,
		     const char *pol_a, const char *pol_b, bool a_attests, bool b_attests)
{
	struct atls_peer_info pi;
	int fd, err;
	bool self = IS_A ? a_attests : b_attests, peer = IS_A ? b_attests : a_attests;

	fd = open_one(addr, port, pol_a, pol_b, &err);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, err) TH_LOG("ATLS_START: %s", strerror(err));
	check_common(_metadata, fd, &pi, !IS_A || peer);
	EXPECT_EQ(self, !!(pi.flags & ATLS_PEER_F_SELF_ATTESTED));
	EXPECT_EQ(peer, !!(pi.flags & ATLS_PEER_F_PEER_ATTESTED));
	if (peer)
		check_claims(_metadata, &pi);
	else
		EXPECT_EQ(ATLS_EVIDENCE_NONE, pi.evidence_type);
	EXPECT_EQ(0, echo(fd, IS_A));
	close(fd);
}

TEST_F_TIMEOUT(pair, mutual, 300)
{
	struct tl_capture cap;

	if (IS_A)
		ASSERT_EQ(0, tl_capture_start(&cap, 7501));
	run_pair(_metadata, 7501, tl_vm.peer4, "default", "default", true, true);
	if (IS_A) {
		/* The echo crossed the link both ways, never in clear. */
		tl_capture_stop(&cap);
		EXPECT_LT(sizeof(MSG), cap.len[0]);
		EXPECT_LT(sizeof(MSG), cap.len[1]);
		/* The capture sees TCP payload from its first byte: each side
		 * starts with a TLS handshake record (ClientHello, ServerHello). */
		if (cap.len[0] && cap.len[1]) {
			EXPECT_EQ(0x16, cap.buf[0][0]);
			EXPECT_EQ(0x16, cap.buf[1][0]);
		}
		EXPECT_FALSE(tl_capture_has(&cap, MSG, sizeof(MSG) - 1));
		tl_capture_free(&cap);
	}
}

TEST_F_TIMEOUT(pair, server_only, 300)
{
	run_pair(_metadata, 7502, tl_vm.peer4, "attest-only", "verify-only", true, false);
}

TEST_F_TIMEOUT(pair, client_only, 300)
{
	run_pair(_metadata, 7503, tl_vm.peer4, "verify-only", "attest-only", false, true);
}

TEST_F_TIMEOUT(pair, ipv6_mutual, 300)
{
	ASSERT_TRUE(tl_vm.peer6 && *tl_vm.peer6);
	run_pair(_metadata, 7504, tl_vm.peer6, "default", "default", true, true);
}

/* After a failed start: the documented errno forever, nothing goes out. */
static void check_dead(struct __test_metadata *_metadata, int fd, int want_err,
		       uint32_t want_reason)
{
	struct atls_status st;
	ssize_t n;

	ASSERT_EQ(0, tl_status(fd, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	if (want_err)
		EXPECT_EQ(want_err, st.error);
	if (want_reason)
		EXPECT_EQ(want_reason, st.reason);
	n = send(fd, "PLAINTEXT-MUST-NOT-LEAK", 23, MSG_NOSIGNAL | MSG_DONTWAIT);
	EXPECT_EQ(-1, n);
}

/* One side's policy refuses the other: rejecter gets EACCES + reason. */
static void run_reject(struct __test_metadata *_metadata, int port, bool a_rejects,
		       const char *bad_policy, uint32_t reason)
{
	bool me = IS_A == a_rejects;
	const char *pol = me ? bad_policy : "default";
	struct tl_capture cap;
	int fd, err;

	if (IS_A)
		ASSERT_EQ(0, tl_capture_start(&cap, port));
	fd = open_one(tl_vm.peer4, port, pol, pol, &err);
	ASSERT_LE(0, fd);
	if (me) {
		EXPECT_EQ(EACCES, err) TH_LOG("ATLS_START: %s", strerror(err));
		check_dead(_metadata, fd, EACCES, reason);
	} else if (err || IS_A) {
		/* The other side sees the handshake end: alert or reset. */
		EXPECT_TRUE(err == ECONNRESET || err == EPROTO)
			TH_LOG("ATLS_START: %s", strerror(err));
		check_dead(_metadata, fd, 0, 0);
	} else {
		/*
		 * TLS 1.3: the client is done before the server has judged the
		 * client's evidence, so its start may succeed; the server's
		 * refusal then ends the connection on the first read.
		 */
		char b[16];
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* What it sends now is encrypted (and dropped by the peer). */
		send(fd, "PLAINTEXT-MUST-NOT-LEAK", 23, MSG_NOSIGNAL);
		ASSERT_EQ(1, poll(&p, 1, 60000));
		EXPECT_GE(0, recv(fd, b, sizeof(b), 0));
	}
	close(fd);
	if (IS_A) {
		tl_capture_stop(&cap);
		EXPECT_LT(0, cap.len[0] + cap.len[1]);	/* the handshake was seen */
		EXPECT_FALSE(tl_capture_has(&cap, "PLAINTEXT", 9));
		tl_capture_free(&cap);
	}
}

TEST_F_TIMEOUT(pair, client_rejects, 300)
{
	run_reject(_metadata, 7505, false, "untrusting", ATLS_REASON_AK_UNTRUSTED);
}

TEST_F_TIMEOUT(pair, server_rejects, 300)
{
	run_reject(_metadata, 7506, true, "wrong-pcr", ATLS_REASON_PCR_MISMATCH);
}

/*
 * b's start fails locally (atlsd knows no such policy) and aborts the
 * connection with a RST at once. a must have its own start under way by
 * then: a RST that beats a's accept + TCP_ULP + ATLS_START (a VM the host
 * did not schedule for a moment) leaves a a socket that is no longer
 * ESTABLISHED, where ATLS_START is refused (ENOTCONN) instead of failing
 * the way this test checks. So a starts non-blocking, then both meet at a
 * barrier before b starts, then a waits for its verdict. (It polls the
 * status: poll() on the gated socket already reports the RST as POLLERR,
 * before atlsd has told the kernel how the handshake ended.)
 */
TEST_F_TIMEOUT(pair, unknown_policy, 300)
{
	struct atls_status st;
	int l, fd, err, i;

	if (IS_A) {
		l = tl_listen_any(7507);
		ASSERT_LE(0, l);
		fd = tl_accept(l, TL_PEER_WAIT_MS);
		close(l);
		ASSERT_LE(0, fd);
		EXPECT_EQ(EINPROGRESS, tl_atls(fd, ATLS_ROLE_SERVER, "default",
					       ATLS_START_F_NONBLOCK));
		ASSERT_EQ(0, tl_barrier("unknown-policy-started"));
		for (i = 0; i < TL_PEER_WAIT_MS / 50; i++) {
			ASSERT_EQ(0, tl_status(fd, &st));
			if (st.state == ATLS_STATE_FAILED || st.state == ATLS_STATE_READY)
				break;
			usleep(50 * 1000);
		}
		EXPECT_NE(0, st.error);
		check_dead(_metadata, fd, 0, 0);
	} else {
		fd = tl_connect_to(tl_vm.peer4, 7507, TL_PEER_WAIT_MS);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, tl_barrier("unknown-policy-started"));
		err = tl_atls(fd, ATLS_ROLE_CLIENT, "no-such-policy", 0);
		EXPECT_EQ(ENOENT, err);
		check_dead(_metadata, fd, ENOENT, ATLS_REASON_POLICY_UNKNOWN);
	}
	close(fd);
}

#define NCONC 50

/* One of n concurrent connections between the VMs (VM a the server). */
struct conc {
	int fd, err, echo, info;
	bool server;
	const char *policy;
	struct atls_peer_info pi;
	pthread_t th;
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;

	c->err = tl_atls(c->fd, c->server ? ATLS_ROLE_SERVER : ATLS_ROLE_CLIENT, c->policy, 0);
	c->info = c->err ? -1 : tl_peer_info(c->fd, &c->pi);
	c->echo = c->err ? -1 : echo(c->fd, c->server);
	return NULL;
}

/* n connections on port, each started on policy and echoed in a thread of
 * its own, all at once; returns when every thread is done (fds left open). */
static void conc_run(struct __test_metadata *_metadata, struct conc *c, int n, int port,
		     const char *policy)
{
	int i, l = -1;

	if (IS_A) {
		l = tl_listen_any(port);
		ASSERT_LE(0, l);
	}
	for (i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].server = IS_A;
		c[i].policy = policy;
		c[i].fd = IS_A ? tl_accept(l, TL_PEER_WAIT_MS)
			       : tl_connect_to(tl_vm.peer4, port, TL_PEER_WAIT_MS);
		ASSERT_LE(0, c[i].fd);
		ASSERT_EQ(0, pthread_create(&c[i].th, NULL, conc_main, &c[i]));
	}
	for (i = 0; i < n; i++)
		pthread_join(c[i].th, NULL);
	if (l >= 0)
		close(l);
}

TEST_F_TIMEOUT(pair, concurrent_50, 600)
{
	struct conc c[NCONC];
	int i, ok = 0;

	conc_run(_metadata, c, NCONC, 7508, "default");
	for (i = 0; i < NCONC; i++) {
		if (!c[i].err && !c[i].echo)
			ok++;
		else
			TH_LOG("connection %d: start %s, echo %d", i, strerror(c[i].err), c[i].echo);
		close(c[i].fd);
	}
	EXPECT_EQ(NCONC, ok);
}

#define NBATCH 8

/*
 * Batched quotes end to end: both daemons run the policy "batched"
 * (testlib/vm.c: batch = true, a 50 ms window), so they offer the batched scheme
 * and choose it for each other.  Every connection must be ready with the
 * other VM's real claims (the batched evidence carries the same quote
 * contents), and each daemon must have logged that it used batched quotes
 * both ways.  How many handshakes share one quote depends on timing, so
 * that is not checked; the tree and its checks are covered by
 * libatls/tests/batch_*_test.
 */
TEST_F_TIMEOUT(pair, batched_quotes, 600)
{
	struct conc c[NBATCH];
	int i, ok = 0;

	conc_run(_metadata, c, NBATCH, 7520, "batched");
	for (i = 0; i < NBATCH; i++) {
		if (!c[i].err && !c[i].echo && !c[i].info) {
			ok++;
			check_claims(_metadata, &c[i].pi);
			EXPECT_TRUE(c[i].pi.flags & ATLS_PEER_F_SELF_ATTESTED);
		} else {
			TH_LOG("connection %d: start %s, info %d, echo %d", i, strerror(c[i].err),
			       c[i].info, c[i].echo);
		}
		close(c[i].fd);
	}
	EXPECT_EQ(NBATCH, ok);
	/*
	 * Our evidence and the peer's were batched quotes (atlsd's log line).
	 * atlsd logs a request after handing its DONE to the kernel, so the
	 * last lines may follow our ATLS_START's return: wait for them.
	 */
	EXPECT_LE(NBATCH, log_count_reaches("ready after.*batched quotes both ways", NBATCH))
		TH_LOG("log %s", tl_vm.log);
}

/*
 * The exporter-bound mode end to end (testlib/vm.c: policies expat,
 * expat-attest-only, expat-verify-only; Documentation/protocol.rst,
 * "Exporter-bound attestation").  The exchange sends records under the
 * application keys before kTLS takes over; the echo right after the start
 * shows the kernel continues at the right sequence numbers both ways.
 */
static void run_expat(struct __test_metadata *_metadata, int port, const char *pol_a,
		      const char *pol_b, bool a_attests, bool b_attests)
{
	int before = log_count("ready after.*exporter-bound");

	ASSERT_LE(0, before);
	run_pair(_metadata, port, tl_vm.peer4, pol_a, pol_b, a_attests, b_attests);
	/* atlsd logs after DONE: wait for the line. */
	EXPECT_LE(before + 1, log_count_reaches("ready after.*exporter-bound", before + 1))
		TH_LOG("log %s", tl_vm.log);
}

TEST_F_TIMEOUT(pair, exporter_mutual, 300)
{
	run_expat(_metadata, 7531, "expat", "expat", true, true);
}

TEST_F_TIMEOUT(pair, exporter_server_only, 300)
{
	run_expat(_metadata, 7532, "expat-attest-only", "expat-verify-only", true, false);
}

TEST_F_TIMEOUT(pair, exporter_client_only, 300)
{
	run_expat(_metadata, 7533, "expat-verify-only", "expat-attest-only", false, true);
}

TEST_F_TIMEOUT(pair, exporter_required_peer_without, 300)
{
	int fd, err;

	/* a serves with binding = "exporter", b connects with the handshake binder. */
	fd = open_one(tl_vm.peer4, 7534, "expat", "default", &err);
	ASSERT_LE(0, fd);
	if (IS_A) {
		EXPECT_EQ(EACCES, err) TH_LOG("ATLS_START: %s", strerror(err));
		check_dead(_metadata, fd, EACCES, ATLS_REASON_EVIDENCE_MISSING);
	} else {
		/* The server's alert ends b's handshake at its ServerHello. */
		EXPECT_TRUE(err == ECONNRESET || err == EPROTO)
			TH_LOG("ATLS_START: %s", strerror(err));
		check_dead(_metadata, fd, 0, 0);
	}
	close(fd);
}

#define FILE_LEN (256 * 1024)

static int sendfile_all(int sock, int ffd, size_t len)
{
	off_t off = 0;

	while ((size_t)off < len)
		if (sendfile(sock, ffd, &off, len - off) <= 0)
			return errno ? errno : EIO;
	return 0;
}

TEST_F_TIMEOUT(pair, sendfile_content, 300)
{
	char path[300];
	unsigned char *want = malloc(FILE_LEN), *got = malloc(FILE_LEN);
	int fd, ffd, err;
	size_t i;

	struct tl_capture cap;
	static const size_t probe[] = { 0, 4096, 65536 + 17, 131072 + 5, FILE_LEN - 32 };

	ASSERT_TRUE(want && got);
	for (i = 0; i < FILE_LEN; i++)
		want[i] = (unsigned char)(i * 131 + (i >> 9));
	if (IS_A)
		ASSERT_EQ(0, tl_capture_start(&cap, 7509));
	fd = open_one(tl_vm.peer4, 7509, "default", "default", &err);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, err);
	snprintf(path, sizeof(path), "%s/sendfile.%c", tl_vm.dir, tl_vm.role);
	if (IS_A) {
		/* Receive the file, check it, store it, sendfile it back. */
		ASSERT_EQ(0, tl_recv_all(fd, got, FILE_LEN, 120000));
		EXPECT_EQ(0, memcmp(got, want, FILE_LEN));
		ffd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		ASSERT_LE(0, ffd);
		ASSERT_EQ(FILE_LEN, write(ffd, got, FILE_LEN));
		EXPECT_EQ(0, sendfile_all(fd, ffd, FILE_LEN));
		close(ffd);
		/* Both directions crossed the link (records: a bit more than the
		 * file) and no piece of the file is in clear. */
		EXPECT_EQ(0, tl_barrier("sendfile-received"));
		close(fd);
		fd = -1;
		tl_capture_stop(&cap);
		EXPECT_LT(FILE_LEN, cap.len[0]);
		EXPECT_LT(FILE_LEN, cap.len[1]);
		for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++)
			EXPECT_FALSE(tl_capture_has(&cap, want + probe[i], 32))
				TH_LOG("file bytes at %zu on the wire in clear", probe[i]);
		tl_capture_free(&cap);
	} else {
		ffd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		ASSERT_LE(0, ffd);
		ASSERT_EQ(FILE_LEN, write(ffd, want, FILE_LEN));
		EXPECT_EQ(0, sendfile_all(fd, ffd, FILE_LEN));
		close(ffd);
		ASSERT_EQ(0, tl_recv_all(fd, got, FILE_LEN, 120000));
		EXPECT_EQ(0, memcmp(got, want, FILE_LEN));
		EXPECT_EQ(0, tl_barrier("sendfile-received"));
	}
	if (fd >= 0)
		close(fd);
	free(want);
	free(got);
}

/*
 * Local in each VM: a client talks to a plain TCP listener that never
 * answers, so atlsd is stuck after its ClientHello; atlsd is killed.
 */
TEST_F_TIMEOUT(pair, helper_killed, 300)
{
	unsigned char buf[4096];
	struct pollfd p;
	size_t total = 0;
	int l, c, s, err, i;
	bool leaked = false;

	local_pair(_metadata, 7510, &l, &c, &s);
	err = tl_atls(c, ATLS_ROLE_CLIENT, "default", ATLS_START_F_NONBLOCK);
	ASSERT_EQ(EINPROGRESS, err);
	/* The ClientHello arrives: the daemon is in the handshake. */
	p.fd = s;
	p.events = POLLIN;
	ASSERT_EQ(1, poll(&p, 1, 90000));
	ASSERT_LT(0, recv(s, buf, sizeof(buf), 0));
	EXPECT_EQ(0x16, buf[0]);
	/* The application has queued data behind the gate. */
	EXPECT_EQ(-1, send(c, "PLAINTEXT-MUST-NOT-LEAK", 23, MSG_DONTWAIT | MSG_NOSIGNAL));
	ASSERT_EQ(0, tl_atlsd_kill(SIGKILL));

	p.fd = c;
	p.events = POLLOUT;
	ASSERT_EQ(1, poll(&p, 1, 30000));
	EXPECT_TRUE(p.revents & POLLERR);
	check_dead(_metadata, c, ECONNABORTED, ATLS_REASON_HELPER_DIED);
	close(c);
	/* Whatever reached the wire: never the application's bytes. */
	for (i = 0; i < 50; i++) {
		ssize_t n;

		p.fd = s;
		p.events = POLLIN;
		if (poll(&p, 1, 200) != 1)
			break;
		n = recv(s, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		total += n;
		if (memmem(buf, n, "PLAINTEXT", 9))
			leaked = true;
	}
	EXPECT_FALSE(leaked);
	close(s);
	close(l);
	ASSERT_EQ(0, tl_atlsd_start());
}

TEST_F_TIMEOUT(pair, after_restart, 300)
{
	ASSERT_EQ(0, tl_barrier("after-restart"));
	run_pair(_metadata, 7511, tl_vm.peer4, "default", "default", true, true);
}

/* SIGTERM mid-handshake: ECONNABORTED with reason SHUTDOWN or HELPER_DIED. */
TEST_F_TIMEOUT(pair, helper_stopped, 300)
{
	unsigned char buf[4096];
	struct atls_status st;
	struct pollfd p;
	int l, c, s;

	local_pair(_metadata, 7512, &l, &c, &s);
	ASSERT_EQ(EINPROGRESS, tl_atls(c, ATLS_ROLE_CLIENT, "default", ATLS_START_F_NONBLOCK));
	p.fd = s;
	p.events = POLLIN;
	ASSERT_EQ(1, poll(&p, 1, 90000));
	ASSERT_LT(0, recv(s, buf, sizeof(buf), 0));
	ASSERT_EQ(0, tl_atlsd_kill(SIGTERM));
	p.fd = c;
	p.events = POLLOUT;
	ASSERT_EQ(1, poll(&p, 1, 30000));
	ASSERT_EQ(0, tl_status(c, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ECONNABORTED, st.error);
	EXPECT_TRUE(st.reason == ATLS_REASON_SHUTDOWN || st.reason == ATLS_REASON_HELPER_DIED);
	close(c);
	close(s);
	close(l);
	ASSERT_EQ(0, tl_atlsd_start());
}

TEST_F_TIMEOUT(pair, reload_keeps_connections, 300)
{
	int fd, err;

	fd = open_one(tl_vm.peer4, 7513, "default", "default", &err);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, err);
	ASSERT_EQ(0, reload_atlsd());
	EXPECT_EQ(0, echo(fd, IS_A));
	close(fd);
	/* And the reloaded daemon serves new connections. */
	run_pair(_metadata, 7514, tl_vm.peer4, "default", "default", true, true);
}

/*
 * Local: the kernel's timer fires while atlsd waits for a silent peer; the
 * app gets ETIMEDOUT (reason TIMEOUT) and atlsd lets go of the request
 * (ABORT, or its own handshake timeout) instead of holding a worker.
 */
TEST_F_TIMEOUT(pair, timeout_releases_worker, 300)
{
	struct atls_start st = { .size = sizeof(st), .role = ATLS_ROLE_CLIENT,
				 .timeout_ms = 3000, .policy = "default" };
	struct atls_status as;
	int l, c, s, i, active = -1;

	local_pair(_metadata, 7516, &l, &c, &s);
	ASSERT_EQ(0, setsockopt(c, SOL_TCP, TCP_ULP, ATLS_ULP_NAME, sizeof(ATLS_ULP_NAME)));
	EXPECT_EQ(-1, setsockopt(c, SOL_ATLS, ATLS_START, &st, sizeof(st)));
	EXPECT_EQ(ETIMEDOUT, errno);
	ASSERT_EQ(0, tl_status(c, &as));
	EXPECT_EQ(ATLS_STATE_FAILED, as.state);
	EXPECT_EQ(ETIMEDOUT, as.error);
	EXPECT_EQ(ATLS_REASON_TIMEOUT, as.reason);
	/*
	 * atlsd lets go at the kernel's ABORT or at its own handshake timeout
	 * (200 ms before the kernel's): either way within moments, but this
	 * VM may be descheduled; a worker held for good still fails here.
	 */
	for (i = 0; i < 600; i++) {
		active = tl_atlsd_active();
		if (!active)
			break;
		usleep(100 * 1000);
	}
	EXPECT_EQ(0, active);
	close(c);
	close(s);
	close(l);
}

/* SIGHUP picks up a policy added to atlsd.conf. */
TEST_F_TIMEOUT(pair, reload_adds_policy, 300)
{
	int fd, err;

	ASSERT_EQ(0, tl_sh("sed -i 's/^policies = {$/policies = {\\n  added-later = { attest = "
			   "true; verify-peer = \"required\"; };/' '%s' && grep -q added-later '%s'",
			   tl_vm.conf, tl_vm.conf));
	ASSERT_EQ(0, reload_atlsd());
	ASSERT_EQ(0, tl_barrier("reloaded"));
	fd = open_one(tl_vm.peer4, 7517, "added-later", "added-later", &err);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, err) TH_LOG("ATLS_START: %s", strerror(err));
	if (!err)
		EXPECT_EQ(0, echo(fd, IS_A));
	close(fd);
}

/* The example application, as shipped: atls-echo server in a, client in b. */
TEST_F_TIMEOUT(pair, echo_example, 300)
{
	if (IS_A) {
		EXPECT_EQ(0, tl_sh("%s/examples/atls-echo server -n 2 -p 7518 > %s/echo.out 2>&1",
				   tl_vm.build, tl_vm.dir));
		EXPECT_EQ(2, tl_sh("exit $(grep -c 'verdict:  affirming (reason ok), peer attested, "
				   "we attested' %s/echo.out)", tl_vm.dir));
	} else {
		EXPECT_EQ(0, tl_sh("head -c 100000 /dev/urandom > %s/echo.bin", tl_vm.dir));
		/* Until VM a listens (connect refused before). */
		EXPECT_EQ(0, tl_sh("for i in $(seq 60); do %s/examples/atls-echo client -p 7518 "
				   "-m hi %s > %s/echo.out 2>&1 && exit 0; "
				   "grep -q 'connect.*refused' %s/echo.out || exit 1; sleep 1; done; "
				   "exit 1", tl_vm.build, tl_vm.peer4, tl_vm.dir, tl_vm.dir));
		EXPECT_EQ(0, tl_sh("grep -q 'echo: \"hi\"' %s/echo.out", tl_vm.dir));
		EXPECT_EQ(0, tl_sh("%s/examples/atls-echo client -p 7518 -f %s/echo.bin %s "
				   "> %s/echo2.out 2>&1", tl_vm.build, tl_vm.dir, tl_vm.peer4, tl_vm.dir));
		EXPECT_EQ(0, tl_sh("grep -q '100000 bytes back, identical' %s/echo2.out", tl_vm.dir));
	}
}

/* Read "Name:\tvalue" from /proc/PID/status. */
static int proc_status(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64], line[256];
	FILE *f;
	int ret = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) && line[strlen(name)] == ':') {
			snprintf(out, len, "%s", line + strlen(name) + 2);
			out[strcspn(out, "\n")] = 0;
			ret = 0;
			break;
		}
	fclose(f);
	return ret;
}

/*
 * atlsd as the unprivileged user "tss" (Debian's TPM user), as udev would
 * set up /dev/tpmrm0 (group tss, 0660): only CAP_NET_ADMIN is left, and the
 * attested connections still work.
 */
TEST_F_TIMEOUT(pair, dropped_privileges, 300)
{
	char v[128], uid[32];
	struct passwd *pw = getpwnam("tss");
	pid_t pid;

	ASSERT_TRUE(pw != NULL) TH_LOG("no user tss (Debian package tpm2-tools / libtss2)");
	ASSERT_EQ(0, tl_atlsd_kill(SIGTERM));
	/* The key secret goes to atlsd's user too (atlsd.8, KEYS), wherever
	 * it is (the guest's one for all state dirs on this TPM). */
	ASSERT_EQ(0, tl_sh("chgrp tss /dev/tpmrm0 && chmod 0660 /dev/tpmrm0 && "
			   "chown -R tss:tss '%s/state' && chmod 0755 '%s' && "
			   "chown tss:tss \"${ATLS_KEY_SECRET:-%s/state/tpm-key-secret}\"",
			   tl_vm.dir, tl_vm.dir, tl_vm.dir));
	ASSERT_EQ(0, tl_atlsd_start_as("tss"));
	pid = tl_atlsd_pid();
	ASSERT_EQ(0, proc_status(pid, "Uid", v, sizeof(v)));
	snprintf(uid, sizeof(uid), "%u\t%u\t%u\t%u", pw->pw_uid, pw->pw_uid, pw->pw_uid,
		 pw->pw_uid);
	EXPECT_STREQ(uid, v);
	ASSERT_EQ(0, proc_status(pid, "CapEff", v, sizeof(v)));
	EXPECT_STREQ("0000000000001000", v);	/* CAP_NET_ADMIN only */
	ASSERT_EQ(0, proc_status(pid, "CapPrm", v, sizeof(v)));
	EXPECT_STREQ("0000000000001000", v);
	ASSERT_EQ(0, proc_status(pid, "NoNewPrivs", v, sizeof(v)));
	EXPECT_STREQ("1", v);
	ASSERT_EQ(0, tl_barrier("dropped"));
	run_pair(_metadata, 7515, tl_vm.peer4, "default", "default", true, true);
}

static void __attribute__((constructor)) order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

int main(int argc, char **argv)
{
	setup_ok = !tl_vm_setup("pair");
	atexit(tl_vm_teardown);	/* test_harness_run() exits; forked cases _exit */
	return test_harness_run(argc, argv);
}
