// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko after key installation: control records never surface as EIO from
 * a plain recv(). A raw peer holding the fixed keys seals TLS 1.3 records of
 * every kind: close_notify is end of file, other alerts ECONNRESET,
 * NewSessionTicket is dropped, KeyUpdate ends the connection with
 * EKEYEXPIRED, other handshake messages EPROTO; an application passing its
 * own control buffer sees kTLS's record types. And the record limit stops a
 * direction (lowered through the record_limit module parameter).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kutil.h"

#define LIMIT_PARAM "/sys/module/atls/parameters/record_limit"

FIXTURE(rec) {
	int app, wire;
	struct ku_keys s2c, c2s;
	uint64_t seq;
	struct ku_child helper;
};

FIXTURE_SETUP(rec)
{
	struct ku_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_256 };
	int v;

	ku_keys(&self->s2c, TLS_CIPHER_AES_GCM_256, 1);
	ku_keys(&self->c2s, TLS_CIPHER_AES_GCM_256, 0);
	self->seq = 0;
	ASSERT_EQ(0, ku_fork_helper(&self->helper, ku_serve_fn, &s));
	ASSERT_EQ(0, ku_tcp_pair(AF_INET, &self->app, &self->wire));
	ASSERT_EQ(0, ku_ulp(self->app));
	ASSERT_EQ(0, ku_start(self->app, ATLS_ROLE_CLIENT, 10000, 0));
	ASSERT_EQ(0, ku_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
}

FIXTURE_TEARDOWN(rec)
{
	ku_helper_reap(&self->helper);
	close(self->app);
	close(self->wire);
}

static void inject(struct __test_metadata *_metadata, FIXTURE_DATA(rec) *self,
		   uint8_t type, const void *data, size_t len)
{
	unsigned char rec[17000];
	size_t n = ku_seal_record(&self->s2c, self->seq++, type, data, len, rec);

	ASSERT_NE(0, n);
	ASSERT_EQ((ssize_t)n, write(self->wire, rec, n));
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
	EXPECT_EQ(1, ku_proc_stat("close_notify") >= 1);
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
	ASSERT_EQ(0, ku_status(self->app, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ATLS_REASON_PEER_ALERT, st.reason);
}

TEST_F(rec, session_ticket_dropped)
{
	unsigned char nst[300];
	long before = ku_proc_stat("tickets_dropped");
	char buf[64];

	memset(nst, 0x5a, sizeof(nst));
	nst[0] = 4;			/* new_session_ticket */
	nst[1] = 0;
	nst[2] = (sizeof(nst) - 4) >> 8;
	nst[3] = (sizeof(nst) - 4) & 0xff;
	inject(_metadata, self, 22, nst, sizeof(nst));
	inject(_metadata, self, 23, "after-ticket", 12);
	EXPECT_EQ(12, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(0, memcmp(buf, "after-ticket", 12));
	EXPECT_EQ(before + 1, ku_proc_stat("tickets_dropped"));
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

static int set_limit(long v)
{
	FILE *f = fopen(LIMIT_PARAM, "w");
	int ok;

	if (!f)
		return -1;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
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
	ASSERT_EQ(0, ku_status(self->app, &st));
	EXPECT_EQ(ATLS_REASON_RECORD_LIMIT, st.reason);
}

TEST_F(rec, record_limit_stops_rx)
{
	char buf[16];
	int i;

	ASSERT_EQ(0, set_limit(2));
	for (i = 0; i < 3; i++)
		inject(_metadata, self, 23, "d", 1);
	EXPECT_EQ(1, recv(self->app, buf, 1, 0));
	EXPECT_EQ(1, recv(self->app, buf, 1, 0));
	EXPECT_EQ(-1, recv(self->app, buf, 1, 0));
	EXPECT_EQ(EKEYEXPIRED, errno);
	ASSERT_EQ(0, set_limit(0));
}

TEST_HARNESS_MAIN
