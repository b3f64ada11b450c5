// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: the gate and key installation, seen from the wire.
 *
 * The client end of a loopback pair opts in (ULP + ATLS_START); the server
 * end stays a raw TCP socket, our "wire": everything it reads is what the
 * client put on the wire. A forked test helper accepts the request, writes
 * fake handshake bytes through its fd, and completes it with fixed keys.
 * Application bytes must reach the raw peer only inside TLS 1.3 records that
 * open with those keys (userspace AEAD), including the bytes the app wrote
 * while gated; nothing may be read from the wire by the app while gated.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "harness.h"
#include "net.h"
#include "record.h"
#include "sock.h"
#include "util.h"

static const char hs_bytes[] = "HANDSHAKE-BYTES-FROM-HELPER";
static const char gated_msg[] = "GATED-PLAINTEXT-MUST-BE-ENCRYPTED";
static const char after_msg[] = "AFTER-READY-PLAINTEXT";

/* Helper: accept, write handshake bytes raw, wait for go, DONE with keys. */
static void hs_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	unsigned short cipher = *(unsigned short *)arg;
	struct tl_req r;
	int err;

	err = tl_helper_accept_wait(h, &r, 20000);
	tl_put_result(out, err);
	if (err)
		return;
	tl_put_result(out, write(r.fd, hs_bytes, sizeof(hs_bytes) - 1) ==
			   (ssize_t)sizeof(hs_bytes) - 1 ? 0 : -errno);
	if (tl_wait_go(ctl, 20000))
		return;
	tl_put_result(out, tl_done_keys(h, &r, cipher));
	/* The kernel closed our fd in DONE. */
	tl_put_result(out, fcntl(r.fd, F_GETFD) == -1 && errno == EBADF ? 0 : -EEXIST);
}

/* Helper that reads the peer's handshake bytes through the gate. */
static void reader_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	char buf[64];
	struct tl_req r;
	ssize_t n;
	int err;

	(void)arg;
	err = tl_helper_accept_wait(h, &r, 20000);
	tl_put_result(out, err);
	if (err || tl_wait_go(ctl, 20000))
		return;
	n = tl_read_full(r.fd, buf, 9, 3000);
	tl_put_result(out, n == 9 && !memcmp(buf, "PEER-HELO", 9) ? 0 : -EIO);
	tl_put_result(out, tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128));
}

TEST(helper_reads_app_cannot)
{
	struct timeval tv = { .tv_usec = 200000 };
	struct timespec t0, t1;
	struct tl_child c;
	int app, wire, v, q;
	char buf[16];

	ASSERT_EQ(0, tl_fork_helper(&c, reader_fn, NULL));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &app, &wire));
	ASSERT_EQ(0, tl_ulp(app));
	ASSERT_EQ(-EINPROGRESS, tl_start(app, ATLS_ROLE_SERVER, 10000, ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_helper_result(&c, &v, 10000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(9, write(wire, "PEER-HELO", 9));
	/* The bytes are in app's receive queue, so the gate is what stops
	 * the reads below (not their not having arrived yet). */
	ASSERT_EQ(0, tl_wait_acked(wire, 10000));
	/* Nothing a read could return: FIONREAD says 0, as poll says not
	 * readable. */
	q = -1;
	EXPECT_EQ(0, ioctl(app, FIONREAD, &q));
	EXPECT_EQ(0, q);
	/* SO_RCVTIMEO / SO_SNDTIMEO bound the wait in the gate: EAGAIN. */
	ASSERT_EQ(0, setsockopt(app, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	ASSERT_EQ(0, setsockopt(app, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)));
	EXPECT_EQ(-1, recv(app, buf, sizeof(buf), 0));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, send(app, "x", 1, 0));
	EXPECT_EQ(EAGAIN, errno);
	tl_helper_go(&c);
	TL_EXPECT_RESULT(&c, 5000, 0);	/* the helper read the peer's bytes */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (tl_helper_result(&c, &v, 20000)) {
		char path[64], stack[2048] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stack", c.pid);
		f = fopen(path, "r");
		if (f) {
			fread(stack, 1, sizeof(stack) - 1, f);
			fclose(f);
		}
		TH_LOG("DONE stuck; helper stack:\n%s", stack);
		ASSERT_TRUE(0);
	}
	EXPECT_EQ(0, v);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TH_LOG("DONE took %ld ms", (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	EXPECT_EQ(0, tl_wait_state(app, ATLS_STATE_READY, 2000));
	tl_helper_reap(&c);
	close(app);
	close(wire);
}

struct sender {
	int fd;
	ssize_t ret;
	int err;
	volatile pid_t tid;
};

static void *send_thread(void *arg)
{
	struct sender *s = arg;

	s->tid = gettid();
	s->ret = send(s->fd, gated_msg, sizeof(gated_msg) - 1, 0);
	s->err = errno;
	return NULL;
}

/* Read records from the raw peer and open them with k; returns payload length. */
static ssize_t read_records(int fd, const struct tl_keys *k, uint64_t *seq,
			    unsigned char *payload, size_t cap, int nrec)
{
	unsigned char rec[17000], pt[17000];
	size_t got = 0, n;
	uint8_t type;
	int i, len;

	for (i = 0; i < nrec; i++) {
		if (tl_read_full(fd, rec, 5, 3000) != 5 || rec[0] != 0x17 ||
		    rec[1] != 3 || rec[2] != 3)
			return -1;
		len = (rec[3] << 8) | rec[4];
		if (tl_read_full(fd, rec + 5, len, 3000) != len)
			return -1;
		if (tl_record_open(k, (*seq)++, rec, 5 + len, pt, &n, &type) ||
		    type != 0x17 || got + n > cap)
			return -1;
		memcpy(payload + got, pt, n);
		got += n;
	}
	return got;
}

FIXTURE(gate) {
	int app, wire;
	struct tl_child helper;
	unsigned short cipher;
};

FIXTURE_VARIANT(gate) {
	int family;
	unsigned short cipher;
};

FIXTURE_VARIANT_ADD(gate, ipv4_aes128) { .family = AF_INET, .cipher = TLS_CIPHER_AES_GCM_128 };
FIXTURE_VARIANT_ADD(gate, ipv6_aes256) { .family = AF_INET6, .cipher = TLS_CIPHER_AES_GCM_256 };
FIXTURE_VARIANT_ADD(gate, ipv4_chacha) { .family = AF_INET, .cipher = TLS_CIPHER_CHACHA20_POLY1305 };

FIXTURE_SETUP(gate)
{
	self->cipher = variant->cipher;
	ASSERT_EQ(0, tl_fork_helper(&self->helper, hs_fn, &self->cipher));
	ASSERT_EQ(0, tl_tcp_pair(variant->family, &self->app, &self->wire));
	ASSERT_EQ(0, tl_ulp(self->app));
}

FIXTURE_TEARDOWN(gate)
{
	kill(self->helper.pid, SIGKILL);
	tl_helper_reap(&self->helper);
	close(self->app);
	close(self->wire);
}

TEST_F(gate, wire_carries_only_records)
{
	unsigned char buf[4096], payload[4096];
	struct sender s = { .fd = self->app };
	struct atls_peer_info pi;
	struct atls_status st;
	struct tl_keys c2s, s2c;
	socklen_t len;
	uint64_t seq = 0;
	pthread_t th;
	int i, v, pipefd[2], tmp;
	ssize_t n;

	tl_keys_fixed(&c2s, self->cipher, 0);
	tl_keys_fixed(&s2c, self->cipher, 1);

	ASSERT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, 20000,
					 ATLS_START_F_NONBLOCK));

	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, v) TH_LOG("ACCEPT: %s", strerror(-v));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);

	/* Gated: every path refuses, nothing reaches the wire. */
	EXPECT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_ACCEPTED, st.state);
	EXPECT_EQ(-1, send(self->app, "X", 1, MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-1, splice(self->app, NULL, pipefd[1], NULL, 100, SPLICE_F_NONBLOCK));
	EXPECT_EQ(EAGAIN, errno);
	{
		char path[] = "/tmp/atls-gate-XXXXXX";

		tmp = mkstemp(path);
		ASSERT_GE(tmp, 0);
		unlink(path);
		ASSERT_EQ(16, write(tmp, "SENDFILE-LEAK-16", 16));
		lseek(tmp, 0, SEEK_SET);
	}
	fcntl(self->app, F_SETFL, O_NONBLOCK);
	EXPECT_EQ(-1, sendfile(self->app, tmp, NULL, 16));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(4, write(pipefd[1], "PIPE", 4));
	EXPECT_EQ(-1, splice(pipefd[0], NULL, self->app, NULL, 4, SPLICE_F_NONBLOCK));
	EXPECT_EQ(EAGAIN, errno);
	fcntl(self->app, F_SETFL, 0);
	close(tmp);
	{
		struct pollfd p = { .fd = self->app, .events = POLLIN | POLLOUT };

		EXPECT_EQ(0, poll(&p, 1, 50)) TH_LOG("revents %#x", p.revents);
	}
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->app, SOL_TLS, TLS_TX, buf, &len));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, setsockopt(self->app, SOL_TLS, TLS_TX, &c2s.ci, c2s.len));
	EXPECT_EQ(EPERM, errno);
	len = sizeof(pi);
	EXPECT_EQ(-1, getsockopt(self->app, SOL_ATLS, ATLS_PEER_INFO, &pi, &len));
	EXPECT_EQ(ENODATA, errno);

	/*
	 * A blocking send parks in the gate: wait until the thread sleeps in
	 * sendto (a fixed pause could end before it got there, and the send
	 * would then only test the ready socket).
	 */
	ASSERT_EQ(0, pthread_create(&th, NULL, send_thread, &s));
	for (i = 0; !s.tid && i < 10000; i++)
		usleep(1000);
	ASSERT_NE(0, s.tid);
	ASSERT_EQ(0, tl_wait_in_syscall(s.tid, SYS_sendto, 10000));

	/*
	 * The wire so far: only the helper's handshake bytes (written before
	 * it reported, so all there), then nothing more.
	 */
	n = tl_read_full(self->wire, buf, sizeof(hs_bytes) - 1, 10000);
	ASSERT_EQ((ssize_t)sizeof(hs_bytes) - 1, n);
	EXPECT_EQ(0, memcmp(buf, hs_bytes, n));
	EXPECT_EQ(0, tl_read_avail(self->wire, buf, sizeof(buf), 100));

	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, v) TH_LOG("DONE: %s", strerror(-v));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(0, v) TH_LOG("the helper's fd is still open after DONE");
	pthread_join(th, NULL);
	ASSERT_EQ((ssize_t)sizeof(gated_msg) - 1, s.ret) TH_LOG("parked send: %s", strerror(s.err));

	EXPECT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_READY, st.state);
	EXPECT_EQ(0, st.error);
	ASSERT_EQ((ssize_t)sizeof(after_msg) - 1, send(self->app, after_msg, sizeof(after_msg) - 1, 0));

	/* The parked bytes and the later ones, each in a record with our keys. */
	n = read_records(self->wire, &c2s, &seq, payload, sizeof(payload), 2);
	ASSERT_EQ((ssize_t)(sizeof(gated_msg) + sizeof(after_msg) - 2), n);
	EXPECT_EQ(0, memcmp(payload, gated_msg, sizeof(gated_msg) - 1));
	EXPECT_EQ(0, memcmp(payload + sizeof(gated_msg) - 1, after_msg, sizeof(after_msg) - 1));

	/* The keys never go back to the application. */
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->app, SOL_TLS, TLS_TX, buf, &len));
	EXPECT_EQ(EPERM, errno);
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->app, SOL_TLS, TLS_RX, buf, &len));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, setsockopt(self->app, SOL_TLS, TLS_TX, &c2s.ci, c2s.len));
	EXPECT_EQ(EPERM, errno);
	len = sizeof(pi);
	ASSERT_EQ(0, getsockopt(self->app, SOL_ATLS, ATLS_PEER_INFO, &pi, &len));
	EXPECT_EQ(sizeof(pi), len);
	EXPECT_EQ(ATLS_VERDICT_AFFIRMING, pi.verdict);
	EXPECT_EQ(self->cipher, pi.cipher);
	EXPECT_EQ(TLS_1_3_VERSION, pi.tls_version);
	EXPECT_EQ(0xce, pi.peer_cert_sha256[0]);
	EXPECT_EQ(0x80u, pi.pcr_select);
	EXPECT_EQ(32, pi.pcr_digest_len);
	close(pipefd[0]);
	close(pipefd[1]);
	(void)s2c;
}

TEST_F(gate, receive_after_ready)
{
	unsigned char rec[256], buf[256];
	struct tl_keys s2c;
	size_t rl;
	int v, pipefd[2];

	tl_keys_fixed(&s2c, self->cipher, 1);
	ASSERT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, 20000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ((ssize_t)sizeof(hs_bytes) - 1,
		  tl_read_full(self->wire, buf, sizeof(hs_bytes) - 1, 10000));
	EXPECT_EQ(0, tl_read_avail(self->wire, buf, sizeof(buf), 100));

	/*
	 * A record from the peer while gated: the app cannot read it yet.
	 * Wait until it is queued at the app's socket: then the gate is what
	 * refuses the reads, and kTLS finds it there when the keys go in.
	 */
	rl = tl_record_seal(&s2c, 0, 0x17, "FROM-PEER-1", 11, rec);
	ASSERT_EQ((ssize_t)rl, write(self->wire, rec, rl));
	ASSERT_EQ(0, tl_wait_acked(self->wire, 10000));
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, pipe(pipefd));
	EXPECT_EQ(-1, splice(self->app, NULL, pipefd[1], NULL, 100, SPLICE_F_NONBLOCK));
	EXPECT_EQ(EAGAIN, errno);

	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, v);
	{
		struct pollfd p = { .fd = self->app, .events = POLLIN | POLLOUT };

		ASSERT_EQ(1, poll(&p, 1, 10000));
		EXPECT_TRUE(p.revents & POLLOUT);
		EXPECT_TRUE(p.revents & POLLIN);
	}
	EXPECT_EQ(11, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "FROM-PEER-1", 11));

	/* splice from the socket after ready: kTLS decrypts. */
	rl = tl_record_seal(&s2c, 1, 0x17, "FROM-PEER-2", 11, rec);
	ASSERT_EQ((ssize_t)rl, write(self->wire, rec, rl));
	EXPECT_EQ(11, splice(self->app, NULL, pipefd[1], NULL, 100, 0));
	EXPECT_EQ(11, read(pipefd[0], buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "FROM-PEER-2", 11));
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST_F(gate, sendfile_after_ready_is_encrypted)
{
	unsigned char payload[8192], buf[256];
	struct tl_keys c2s;
	uint64_t seq = 0;
	char path[] = "/tmp/atls-sendfile-XXXXXX";
	int v, tmp;
	ssize_t n;

	tl_keys_fixed(&c2s, self->cipher, 0);
	tmp = mkstemp(path);
	ASSERT_GE(tmp, 0);
	unlink(path);
	memset(payload, 'S', 3000);
	ASSERT_EQ(3000, write(tmp, payload, 3000));
	ASSERT_EQ(-EINPROGRESS, tl_start(self->app, ATLS_ROLE_CLIENT, 20000,
					 ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ((ssize_t)sizeof(hs_bytes) - 1,
		  tl_read_full(self->wire, buf, sizeof(hs_bytes) - 1, 10000));
	EXPECT_EQ(0, tl_read_avail(self->wire, buf, sizeof(buf), 100));
	tl_helper_go(&self->helper);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 20000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, tl_wait_state(self->app, ATLS_STATE_READY, 2000));
	ASSERT_EQ(3000, sendfile(self->app, tmp, &(off_t){0}, 3000));
	n = read_records(self->wire, &c2s, &seq, payload, sizeof(payload), 1);
	ASSERT_EQ(3000, n);
	EXPECT_EQ('S', payload[0]);
	EXPECT_EQ('S', payload[2999]);
	close(tmp);
}

TEST_HARNESS_MAIN
