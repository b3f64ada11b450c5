// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko after key installation: control records never surface as EIO from
 * a plain recv(). A raw peer holding the fixed keys seals TLS 1.3 records of
 * every kind: close_notify is end of file, other alerts ECONNRESET,
 * NewSessionTicket is dropped, KeyUpdate ends the connection with
 * EKEYEXPIRED, other handshake messages EPROTO; an application passing its
 * own control buffer sees kTLS's record types. And the record limit stops a
 * direction (lowered through the record_limit module parameter). Ready
 * sockets read padded records right with the TLS_RX_EXPECT_NO_PAD the module
 * sets, and the application can tune exactly the two kTLS options that hold
 * no key. splice(2) from a ready socket reads the same records as recv:
 * tickets dropped, close_notify end of file, alerts and the record limit the
 * same errors.
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "net.h"
#include "record.h"
#include "sock.h"

FIXTURE(rec) {
	int app, wire;
	struct tl_keys s2c, c2s;
	uint64_t seq;
	struct tl_child helper;
};

/* A ready atls socket (app) whose peer end (wire) the test writes raw. */
static void open_ready(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self)
{
	struct tl_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_256 };
	int v;

	tl_keys_fixed(&self->s2c, TLS_CIPHER_AES_GCM_256, 1);
	tl_keys_fixed(&self->c2s, TLS_CIPHER_AES_GCM_256, 0);
	self->seq = 0;
	ASSERT_EQ(0, tl_fork_helper(&self->helper, tl_serve_fn, &s));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->app, &self->wire));
	ASSERT_EQ(0, tl_ulp(self->app));
	ASSERT_EQ(0, tl_start(self->app, ATLS_ROLE_CLIENT, 10000, 0));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
}

static void close_ready(FIXTURE_DATA(rec) *self)
{
	tl_helper_reap(&self->helper);
	close(self->app);
	close(self->wire);
}

FIXTURE_SETUP(rec)
{
	open_ready(_metadata, self);
}

FIXTURE_TEARDOWN(rec)
{
	close_ready(self);
}

static void inject_pad(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self,
		       uint8_t type, const void *data, size_t len, size_t pad)
{
	unsigned char rec[17000];
	size_t n = tl_record_seal_pad(&self->s2c, self->seq++, type, data, len, pad, rec);

	ASSERT_NE(0, n);
	ASSERT_EQ((ssize_t)n, write(self->wire, rec, n));
}

static void inject(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self,
		   uint8_t type, const void *data, size_t len)
{
	inject_pad(_metadata, self, type, data, len, 0);
}

/*
 * A NewSessionTicket handshake message of @len bytes in all (4-byte header,
 * then a body of 0x5a bytes): what kTLS must drop, whatever its content.
 */
static void make_nst(unsigned char *nst, size_t len)
{
	memset(nst, 0x5a, len);
	nst[0] = 4;			/* new_session_ticket */
	nst[1] = 0;
	nst[2] = (len - 4) >> 8;
	nst[3] = (len - 4) & 0xff;
}

/* n NewSessionTickets of 300 bytes from the peer, a record each. */
static void inject_tickets(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self, int n)
{
	unsigned char nst[300];

	make_nst(nst, sizeof(nst));
	while (n--)
		inject(_metadata, self, 22, nst, sizeof(nst));
}

/*
 * n tickets, then data: read_in (recv, splice) on the app's socket gets the
 * data and nothing of the tickets, which kTLS counts as dropped.
 */
static void tickets_dropped(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self, int n,
			    ssize_t (*read_in)(int fd, char *buf, size_t len))
{
	long before = tl_proc_stat("tickets_dropped");
	char buf[64];

	inject_tickets(_metadata, self, n);
	inject(_metadata, self, 23, "after-ticket", 12);
	EXPECT_EQ(12, read_in(self->app, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "after-ticket", 12));
	EXPECT_EQ(before + n, tl_proc_stat("tickets_dropped"));
}

/* recv(2) as splice_in() below: the byte count, 0 at end of file, or -errno. */
static ssize_t recv_in(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len, 0);

	return n < 0 ? -errno : n;
}

TEST_F(rec, data_then_close_notify_is_eof)
{
	char buf[64];

	inject(_metadata, self, 23, "hello", 5);
	inject(_metadata, self, 21, "\x01\x00", 2);
	EXPECT_EQ(5, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(0, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(0, recv(self->app, buf, sizeof(buf), 0));
	/* Half close: the app may still send. */
	EXPECT_EQ(3, send(self->app, "bye", 3, 0));
	EXPECT_EQ(1, tl_proc_stat("close_notify") >= 1);
}

TEST_F(rec, alert_is_connreset)
{
	struct atls_status st;
	char buf[64];

	inject(_metadata, self, 21, "\x02\x28", 2);	/* fatal handshake_failure */
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(ECONNRESET, errno);
	EXPECT_EQ(-1, send(self->app, "x", 1, 0));
	EXPECT_EQ(ECONNRESET, errno);
	ASSERT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ATLS_REASON_PEER_ALERT, st.reason);
}

TEST_F(rec, session_ticket_dropped)
{
	tickets_dropped(_metadata, self, 1, recv_in);
}

/*
 * Control records are parsed whole: a KeyUpdate after a ticket longer than
 * a few hundred bytes, in the same record, still ends the connection.
 */
TEST_F(rec, key_update_after_long_ticket)
{
	unsigned char hs[405];
	char buf[64];

	memset(hs, 0x5a, sizeof(hs));
	hs[0] = 4;			/* new_session_ticket, 396 bytes */
	hs[1] = 0;
	hs[2] = 396 >> 8;
	hs[3] = 396 & 0xff;
	memcpy(hs + 400, "\x18\x00\x00\x01\x00", 5);	/* KeyUpdate */
	inject(_metadata, self, 22, hs, sizeof(hs));
	inject(_metadata, self, 23, "x", 1);
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(EKEYEXPIRED, errno);
}

/*
 * Two readers at once, a ticket before every data byte: every data byte
 * arrives exactly once, and no read fails (a control record handled by one
 * reader must never make the other one consume, or be refused, data).
 */
#define TWO_READERS_ROUNDS 1500

struct reader {
	int fd;
	int bytes, errors, last_errno, eintr;
};

static void *reader_fn(void *arg)
{
	struct reader *r = arg;
	unsigned char c;
	ssize_t n;

	for (;;) {
		n = recv(r->fd, &c, 1, 0);
		if (n == 1) {
			r->bytes++;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			break;		/* SO_RCVTIMEO: all read */
		if (n < 0 && errno == EINTR) {
			/* Seen once on 7.3.4 with no signal sent (kTLS's
			 * reader wait); an application retries: counted and
			 * logged, not a failure. */
			r->eintr++;
			continue;
		}
		r->errors++;
		r->last_errno = n < 0 ? errno : 0;
		break;
	}
	return NULL;
}

TEST_F(rec, two_readers_and_tickets)
{
	struct timeval tv = { .tv_sec = 3 };
	struct reader a = { 0 }, b = { 0 };
	unsigned char nst[40];
	pthread_t ta, tb;
	int i;

	make_nst(nst, sizeof(nst));
	ASSERT_EQ(0, setsockopt(self->app, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	a.fd = b.fd = self->app;
	ASSERT_EQ(0, pthread_create(&ta, NULL, reader_fn, &a));
	ASSERT_EQ(0, pthread_create(&tb, NULL, reader_fn, &b));
	for (i = 0; i < TWO_READERS_ROUNDS; i++) {
		unsigned char d = 'a' + i % 26;

		inject(_metadata, self, 22, nst, sizeof(nst));
		inject(_metadata, self, 23, &d, 1);
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	TH_LOG("reader a: %d bytes, %d errors (%s); reader b: %d bytes, %d errors (%s); EINTR %d",
	       a.bytes, a.errors, strerror(a.last_errno), b.bytes, b.errors,
	       strerror(b.last_errno), a.eintr + b.eintr);
	EXPECT_EQ(0, a.errors + b.errors);
	EXPECT_EQ(TWO_READERS_ROUNDS, a.bytes + b.bytes);
}

TEST_F(rec, key_update_ends_connection)
{
	char buf[64];

	inject(_metadata, self, 22, "\x18\x00\x00\x01\x00", 5);	/* KeyUpdate */
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(EKEYEXPIRED, errno);
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(EKEYEXPIRED, errno);
	EXPECT_EQ(-1, send(self->app, "x", 1, 0));
	EXPECT_EQ(EKEYEXPIRED, errno);
}

TEST_F(rec, other_handshake_is_eproto)
{
	char buf[64];

	inject(_metadata, self, 22, "\x01\x00\x00\x00", 4);	/* ClientHello */
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(EPROTO, errno);
}

TEST_F(rec, own_cmsg_buffer_gets_record_type)
{
	char buf[64], cbuf[CMSG_SPACE(1)];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;

	inject(_metadata, self, 21, "\x01\x00", 2);
	ASSERT_EQ(2, recvmsg(self->app, &m, 0));
	cm = CMSG_FIRSTHDR(&m);
	ASSERT_NE(NULL, cm);
	EXPECT_EQ(SOL_TLS, cm->cmsg_level);
	EXPECT_EQ(TLS_GET_RECORD_TYPE, cm->cmsg_type);
	EXPECT_EQ(21, *CMSG_DATA(cm));
}

/*
 * Readiness counts whole records only. kTLS leaves records in TCP's queue
 * until they are complete, so TCP's poll and SIOCINQ count the bytes of a
 * partial record too, and a non-blocking read then gets EAGAIN: an event
 * loop that trusts poll or FIONREAD (wrk does both) takes that EAGAIN for
 * an error. An atls socket reports readable, and FIONREAD counts, only
 * what a read returns now.
 */
static int fionread(int fd)
{
	int q = -1;

	return ioctl(fd, FIONREAD, &q) ? -errno : q;
}

static void seal(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self,
		 const void *data, size_t len, unsigned char *rec, size_t *n)
{
	*n = tl_record_seal_pad(&self->s2c, self->seq++, 23, data, len, 0, rec);
	ASSERT_NE(0, *n);
}

TEST_F(rec, partial_record_is_not_readable)
{
	unsigned char a[300], b[300], buf[600];
	struct epoll_event ev = { .events = EPOLLIN };
	struct pollfd p = { .fd = self->app, .events = POLLIN };
	size_t na, nb;
	int ep;

	memset(buf, 'a', 100);
	seal(_metadata, self, buf, 100, a, &na);
	memset(buf, 'b', 200);
	seal(_metadata, self, buf, 200, b, &nb);

	ep = epoll_create1(0);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->app, &ev));
	/* One whole record and the first half of the next one. */
	ASSERT_EQ((ssize_t)na, write(self->wire, a, na));
	ASSERT_EQ((ssize_t)(nb / 2), write(self->wire, b, nb / 2));
	ASSERT_EQ(0, tl_wait_acked(self->wire, 10000));
	EXPECT_EQ(1, epoll_wait(ep, &ev, 1, 10000));
	EXPECT_EQ(100, fionread(self->app));
	EXPECT_EQ(100, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	/* Half a record left: not readable, nothing to count, EAGAIN. */
	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(0, fionread(self->app));
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	/* The rest of it: readable again, and counted whole. */
	ASSERT_EQ((ssize_t)(nb - nb / 2), write(self->wire, b + nb / 2, nb - nb / 2));
	EXPECT_EQ(1, epoll_wait(ep, &ev, 1, 10000));
	EXPECT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(200, fionread(self->app));
	EXPECT_EQ(200, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ('b', buf[199]);
	EXPECT_EQ(0, fionread(self->app));
	close(ep);
}

TEST_F(rec, fionread_counts_whole_records_not_tickets)
{
	unsigned char nst[300], a[300], buf[700];
	size_t n;
	int i;

	make_nst(nst, sizeof(nst));
	inject(_metadata, self, 22, nst, sizeof(nst));
	ASSERT_EQ(0, tl_wait_acked(self->wire, 10000));
	/* Only a ticket: a read would drop it and find nothing. */
	EXPECT_EQ(0, fionread(self->app));
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	/* Three whole records: FIONREAD counts them all, as one read gets them. */
	for (i = 1; i <= 3; i++) {
		memset(buf, '0' + i, 100 * i);
		seal(_metadata, self, buf, 100 * i, a, &n);
		ASSERT_EQ((ssize_t)n, write(self->wire, a, n));
	}
	ASSERT_EQ(0, tl_wait_acked(self->wire, 10000));
	EXPECT_EQ(600, fionread(self->app));
	EXPECT_EQ(600, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ('3', buf[599]);
	/* close_notify: end of file, nothing to count. */
	inject(_metadata, self, 21, "\x01\x00", 2);
	ASSERT_EQ(0, tl_wait_acked(self->wire, 10000));
	EXPECT_EQ(0, fionread(self->app));
	EXPECT_EQ(0, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
}

static int set_limit(long v)
{
	return tl_atls_param("record_limit", v);
}

TEST_F(rec, record_limit_stops_tx)
{
	struct atls_status st;
	int i;

	ASSERT_EQ(0, set_limit(3));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(1, send(self->app, "r", 1, 0));
	EXPECT_EQ(-1, send(self->app, "r", 1, 0));
	EXPECT_EQ(EKEYEXPIRED, errno);
	ASSERT_EQ(0, set_limit(0));
	ASSERT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_REASON_RECORD_LIMIT, st.reason);
}

/*
 * The limit holds per record, not per call: one large send stops at the
 * limit (a short count, then EKEYEXPIRED) instead of sending every record
 * it holds. Counted on the wire, by TLS record header.
 */
TEST_F(rec, record_limit_per_record_tx)
{
	static char big[10 * 16384];
	static unsigned char wire[12 * 17000];
	ssize_t n, got;
	size_t off;
	int recs = 0;

	ASSERT_EQ(0, set_limit(3));
	/* Non-blocking: the wire end reads nothing until the end. */
	n = send(self->app, big, sizeof(big), MSG_DONTWAIT);
	if (n >= 0)
		EXPECT_EQ(-1, send(self->app, big, sizeof(big), MSG_DONTWAIT));
	ASSERT_EQ(0, set_limit(0));
	EXPECT_LE(n, 3 * 16384) TH_LOG("one send passed the limit: %zd bytes", n);
	got = tl_read_avail(self->wire, wire, sizeof(wire), 500);
	ASSERT_GE(got, 0);
	for (off = 0; off + 5 <= (size_t)got; off += 5 + (wire[off + 3] << 8 | wire[off + 4]))
		recs++;
	EXPECT_LE(recs, 3) TH_LOG("%d records on the wire past a limit of 3", recs);
}

/* A limit of 2 records: read_in (recv, splice) gets two, then EKEYEXPIRED. */
static void limit_stops_rx(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self,
			   ssize_t (*read_in)(int fd, char *buf, size_t len))
{
	char buf[16];
	int i;

	ASSERT_EQ(0, set_limit(2));
	for (i = 0; i < 3; i++)
		inject(_metadata, self, 23, "d", 1);
	EXPECT_EQ(1, read_in(self->app, buf, 1));
	EXPECT_EQ(1, read_in(self->app, buf, 1));
	EXPECT_EQ(-EKEYEXPIRED, read_in(self->app, buf, 1));
	ASSERT_EQ(0, set_limit(0));
}

TEST_F(rec, record_limit_stops_rx)
{
	limit_stops_rx(_metadata, self, recv_in);
}

/*
 * splice(2) from the socket once READY: what recv does. Each call moves at
 * most @len bytes through a pipe into @buf: the byte count, 0 at end of
 * file, or -errno. The socket's receive timeout bounds a splice that would
 * wait for good.
 */
static ssize_t splice_in(int fd, char *buf, size_t len)
{
	struct timeval tv = { .tv_sec = 5 };
	int p[2];
	ssize_t n;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) || pipe(p))
		return -errno;
	n = splice(fd, NULL, p[1], NULL, len, 0);
	if (n < 0)
		n = -errno;
	else if (n > 0 && read(p[0], buf, n) != n)
		n = -EIO;
	close(p[0]);
	close(p[1]);
	return n;
}

/* A ticket (every stock TLS 1.3 server sends some) is dropped, not EINVAL. */
TEST_F(rec, splice_session_ticket_dropped)
{
	char buf[64];

	tickets_dropped(_metadata, self, 2, splice_in);
	/* and the socket goes on: another ticket, more data */
	inject_tickets(_metadata, self, 1);
	inject(_metadata, self, 23, "more", 4);
	EXPECT_EQ(4, splice_in(self->app, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "more", 4));
}

TEST_F(rec, splice_close_notify_is_eof)
{
	char buf[64];

	inject(_metadata, self, 23, "hello", 5);
	inject(_metadata, self, 21, "\x01\x00", 2);
	EXPECT_EQ(5, splice_in(self->app, buf, sizeof(buf)));
	EXPECT_EQ(0, splice_in(self->app, buf, sizeof(buf)));
	EXPECT_EQ(0, splice_in(self->app, buf, sizeof(buf)));
	EXPECT_EQ(0, recv(self->app, buf, sizeof(buf), 0));
}

TEST_F(rec, splice_alert_is_connreset)
{
	struct atls_status st;
	char buf[64];

	inject(_metadata, self, 21, "\x02\x28", 2);	/* fatal handshake_failure */
	EXPECT_EQ(-ECONNRESET, splice_in(self->app, buf, sizeof(buf)));
	EXPECT_EQ(-ECONNRESET, splice_in(self->app, buf, sizeof(buf)));
	ASSERT_EQ(0, tl_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ATLS_REASON_PEER_ALERT, st.reason);
}

TEST_F(rec, splice_record_limit_stops_rx)
{
	limit_stops_rx(_metadata, self, splice_in);
}

static int tls_opt(int fd, int opt)
{
	socklen_t len = sizeof(int);
	int v = -1;

	if (getsockopt(fd, SOL_TLS, opt, &v, &len))
		return -errno;
	return len == sizeof(int) ? v : -EMSGSIZE;
}

/*
 * Ready sockets get TLS_RX_EXPECT_NO_PAD from the module; the two kTLS
 * tuning options can be read and set by the application, nothing else of
 * SOL_TLS.
 */
TEST_F(rec, tuning_options_pass_through)
{
	unsigned char buf[64];
	socklen_t len;
	int zero = 0, one = 1;

	EXPECT_EQ(1, tls_opt(self->app, TLS_RX_EXPECT_NO_PAD));
	EXPECT_EQ(0, tls_opt(self->app, TLS_TX_ZEROCOPY_RO));
	EXPECT_EQ(0, setsockopt(self->app, SOL_TLS, TLS_TX_ZEROCOPY_RO, &one, sizeof(one)));
	EXPECT_EQ(1, tls_opt(self->app, TLS_TX_ZEROCOPY_RO));
	EXPECT_EQ(0, setsockopt(self->app, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &zero, sizeof(zero)));
	EXPECT_EQ(0, tls_opt(self->app, TLS_RX_EXPECT_NO_PAD));
	/* kTLS's own validation still applies. */
	EXPECT_EQ(-1, setsockopt(self->app, SOL_TLS, TLS_RX_EXPECT_NO_PAD, &one, 1));
	EXPECT_EQ(EINVAL, errno);
	/* Keys and unknown options: refused. */
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->app, SOL_TLS, TLS_RX, buf, &len));
	EXPECT_EQ(EPERM, errno);
	len = sizeof(buf);
	EXPECT_EQ(-1, getsockopt(self->app, SOL_TLS, 99, buf, &len));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, setsockopt(self->app, SOL_TLS, 99, &one, sizeof(one)));
	EXPECT_EQ(EPERM, errno);
	/* Data still flows with zero-copy send on. */
	EXPECT_EQ(2, send(self->app, "zc", 2, 0));
	EXPECT_EQ(0, tl_proc_stat("rx_no_pad_failed"));
}

/*
 * With TLS_RX_EXPECT_NO_PAD on, a padded record (data or alert) costs kTLS a
 * second decryption, never a wrong byte; kTLS counts the retry.
 */
TEST_F(rec, padded_records_with_no_pad)
{
	long viol = tl_tls_stat("TlsRxNoPadViolation");
	long retry = tl_tls_stat("TlsDecryptRetry");
	char buf[8192];	/* larger than each record: kTLS decrypts into it */
	ssize_t got = 0;

	ASSERT_GE(viol, 0) TH_LOG("no /proc/net/tls_stat or no TlsRxNoPadViolation");
	ASSERT_GE(retry, 0);
	ASSERT_EQ(1, tls_opt(self->app, TLS_RX_EXPECT_NO_PAD));
	inject_pad(_metadata, self, 23, "padded-data", 11, 200);
	inject(_metadata, self, 23, "plain-data", 10);
	inject_pad(_metadata, self, 23, "more", 4, 3000);
	/*
	 * kTLS may return the three records in one call or several; each call
	 * offers the whole buffer (zero-copy decryption needs the record to
	 * fit in what is left of it).
	 */
	while (got < 25) {
		ssize_t n = recv(self->app, buf + got, sizeof(buf) - got, 0);

		ASSERT_LT(0, n) TH_LOG("recv after %zd bytes: %zd (%s)", got, n, strerror(errno));
		got += n;
	}
	ASSERT_EQ(25, got);
	EXPECT_EQ(0, memcmp(buf, "padded-dataplain-datamore", 25));
	EXPECT_EQ(viol + 2, tl_tls_stat("TlsRxNoPadViolation"));
	EXPECT_GE(tl_tls_stat("TlsDecryptRetry"), retry + 2);
	/* A padded close_notify is still end of file. */
	inject_pad(_metadata, self, 21, "\x01\x00", 2, 50);
	EXPECT_EQ(0, recv(self->app, buf, sizeof(buf), 0));
}

static int set_no_pad(int v)
{
	return tl_atls_param("rx_expect_no_pad", v);
}

/* rx_expect_no_pad=0: kTLS's default; padded records cost no retry. */
TEST(no_pad_parameter_off)
{
	FIXTURE_DATA(rec) r, *self = &r;
	long retry;
	char buf[64];

	ASSERT_EQ(0, set_no_pad(0));
	open_ready(_metadata, self);
	EXPECT_EQ(0, set_no_pad(1));
	EXPECT_EQ(0, tls_opt(self->app, TLS_RX_EXPECT_NO_PAD));
	retry = tl_tls_stat("TlsDecryptRetry");
	inject_pad(_metadata, self, 23, "padded", 6, 100);
	EXPECT_EQ(6, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "padded", 6));
	EXPECT_EQ(retry, tl_tls_stat("TlsDecryptRetry"));
	close_ready(self);
}

TEST_HARNESS_MAIN
