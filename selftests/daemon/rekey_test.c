// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 KeyUpdate on connections whose keys atlsd installed (VM_TESTS,
 * every kernel): the real atls.ko, the real atlsd (software key mode, so
 * no TPM signature per handshake) and the VM's TPM for the quotes, both
 * ends of one loopback connection attested by the same atlsd. With
 * rekey_records lowered to 4:
 *
 *  rekey_without_atlsd
 *      a connection made through atlsd, then atlsd is stopped. On a kernel
 *      whose rekey needs a live helper (kTLS takes a key from user memory
 *      only: FORTIFY_SOURCE with gcc >= 13, Debian's 7.3.4; kmod/compat.h)
 *      the client's first four records go out on the first key and its
 *      fifth send, which must rotate the key, fails with EKEYEXPIRED
 *      (KEY_UPDATE); rekey_failed moves. The other end reads at most those
 *      four records, every byte right, then fails: EKEYEXPIRED at the
 *      KeyUpdate it cannot follow, or ECONNRESET from the failed end's
 *      reset. Never a byte in clear. Elsewhere (6.1 and 6.12: no rekey at
 *      all) 160 records of 1000 bytes each way complete, every byte
 *      checked.
 *
 *  rekey_both_ways
 *      a connection made through atlsd, atlsd alive: both ends send 160
 *      records of 1000 bytes and read the other's at once (four threads),
 *      every byte checked. On 6.14 and later each end rotates its send key
 *      every four records and asks the other to rotate (both directions
 *      rekey while both send), the new keys in kTLS (its counters move by
 *      as many); no call fails, no update fails. On 6.1 and 6.12 the same
 *      transfer completes on the first keys.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "net.h"
#include "sock.h"
#include "util.h"
#include "vm.h"

#define RECS 160
#define RECLEN 1000

static bool ktls_rekeys(void)
{
	return tl_tls_stat("TlsRxRekeyOk") >= 0;
}

/* kmod/compat.h, ATLS_TLS_CRYPTO_VIA_USER: a gcc >= 13 (or clang) kernel. */
static bool rekey_needs_helper(void)
{
	char v[512] = "";
	const char *g;
	FILE *f = fopen("/proc/version", "r");

	if (f) {
		if (!fgets(v, sizeof(v), f))
			v[0] = 0;
		fclose(f);
	}
	if (strstr(v, "clang"))
		return true;
	g = strstr(v, "gcc-");
	if (!g)
		g = strstr(v, "gcc version ");
	if (!g)
		return false;
	g += g[3] == '-' ? 4 : 12;
	return atoi(g) >= 13;
}

FIXTURE(rekey) {
	int c, s;
};

FIXTURE_SETUP(rekey)
{
	self->c = self->s = -1;
	ASSERT_EQ(0, tl_atlsd_start());
}

FIXTURE_TEARDOWN(rekey)
{
	tl_atls_param("rekey_records", 1 << 22);
	if (self->c >= 0)
		close(self->c);
	if (self->s >= 0)
		close(self->s);
	if (tl_atlsd_pid() > 0)
		tl_atlsd_kill(SIGTERM);
}

struct serve {
	int port, fd, err;
};

static int serve_fn(void *arg)
{
	struct serve *sv = arg;

	sv->fd = tl_serve_one(sv->port, "default", 60000, &sv->err);
	return sv->err;
}

/* One loopback connection, both ends attested through atlsd. */
static void connect_pair(struct __test_metadata *_metadata, FIXTURE_DATA(rekey) *self, int port)
{
	struct serve sv = { .port = port, .fd = -1 };
	struct tl_thread t;

	ASSERT_EQ(0, tl_spawn(&t, serve_fn, &sv));
	self->c = tl_connect_to("127.0.0.1", port, 60000);
	ASSERT_LE(0, self->c);
	EXPECT_EQ(0, tl_atls(self->c, ATLS_ROLE_CLIENT, "default", 0));
	tl_join(&t);
	self->s = sv.fd;
	ASSERT_LE(0, self->s);
	ASSERT_EQ(0, sv.err);
}

static uint8_t pat(int dir, size_t i)
{
	return (uint8_t)(i * 31 + (i >> 10) + dir * 101);
}

/* One end: sends RECS records of dir (one send each), reads the other's. */
struct end {
	int fd, dir;
	size_t sent, got, bad;
	int serr, rerr;
};

static int reader_fn(void *arg)
{
	struct end *e = arg;
	uint8_t buf[4096];
	ssize_t r, i;

	while (e->got < RECS * RECLEN) {
		r = recv(e->fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			e->rerr = r < 0 ? errno : EPIPE;
			return -1;
		}
		for (i = 0; i < r; i++)
			e->bad += buf[i] != pat(!e->dir, e->got + i);
		e->got += r;
	}
	return 0;
}

static int sender_fn(void *arg)
{
	struct end *e = arg;
	uint8_t buf[RECLEN];
	ssize_t r;
	size_t i;

	while (e->sent < RECS * RECLEN) {
		for (i = 0; i < RECLEN; i++)
			buf[i] = pat(e->dir, e->sent + i);
		r = send(e->fd, buf, RECLEN, MSG_NOSIGNAL);
		if (r != RECLEN) {
			e->serr = r < 0 ? errno : EIO;
			return -1;
		}
		e->sent += r;
	}
	return 0;
}

/* Both ends send and read at once; the four threads joined. */
static void transfer(struct end *c, struct end *s)
{
	struct tl_thread t[4];

	tl_spawn(&t[0], reader_fn, c);
	tl_spawn(&t[1], reader_fn, s);
	tl_spawn(&t[2], sender_fn, c);
	tl_spawn(&t[3], sender_fn, s);
	tl_join(&t[2]);
	tl_join(&t[3]);
	if (c->serr || s->serr) {
		/* A failed end reads nothing more: let the readers go. */
		shutdown(c->fd, SHUT_RDWR);
		shutdown(s->fd, SHUT_RDWR);
	}
	tl_join(&t[0]);
	tl_join(&t[1]);
}

TEST_F_TIMEOUT(rekey, rekey_without_atlsd, 300)
{
	long atx0 = tl_proc_stat("rekey_tx"), fail0 = tl_proc_stat("rekey_failed");
	struct end c = { .dir = 0 }, s = { .dir = 1 };
	struct atls_status st;
	uint8_t buf[RECLEN];
	size_t bad = 0;
	ssize_t r = 0, got = 0, j;
	int i;

	connect_pair(_metadata, self, 7621);
	ASSERT_EQ(0, tl_atlsd_kill(SIGTERM));
	ASSERT_EQ(0, tl_atls_param("rekey_records", 4));
	c.fd = self->c;
	s.fd = self->s;
	if (!ktls_rekeys() || !rekey_needs_helper()) {
		transfer(&c, &s);
		EXPECT_EQ((size_t)RECS * RECLEN, c.got);
		EXPECT_EQ((size_t)RECS * RECLEN, s.got);
		EXPECT_EQ(0, c.bad + s.bad);
		EXPECT_EQ(fail0, tl_proc_stat("rekey_failed"));
		return;
	}
	/* Four records go on the first key; the fifth send must rotate it. */
	for (i = 0; i < 4; i++) {
		memset(buf, 'a' + i, sizeof(buf));
		ASSERT_EQ(RECLEN, send(self->c, buf, RECLEN, MSG_NOSIGNAL));
	}
	EXPECT_EQ(-1, send(self->c, buf, RECLEN, MSG_NOSIGNAL));
	EXPECT_EQ(EKEYEXPIRED, errno);
	ASSERT_EQ(0, tl_status(self->c, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ATLS_REASON_KEY_UPDATE, st.reason);
	EXPECT_LE(fail0 + 1, tl_proc_stat("rekey_failed"));
	EXPECT_EQ(atx0, tl_proc_stat("rekey_tx"));
	/*
	 * The other end: the four records or part of them, every byte right,
	 * then the KeyUpdate it cannot follow either (EKEYEXPIRED) or the
	 * reset of the failed end (ECONNRESET), whichever it meets first.
	 */
	for (i = 0; i < 5; i++) {
		r = recv(self->s, buf, sizeof(buf), 0);
		if (r <= 0)
			break;
		for (j = 0; j < r; j++)
			bad += buf[j] != 'a' + (got + j) / RECLEN;
		got += r;
	}
	TH_LOG("the other end read %zd (%zu bad), then %zd (%s)", got, bad, r, strerror(errno));
	EXPECT_EQ(-1, r);
	EXPECT_EQ(1, errno == EKEYEXPIRED || errno == ECONNRESET);
	EXPECT_GE(4 * RECLEN, got);
	EXPECT_EQ(0, bad);
	ASSERT_EQ(0, tl_status(self->s, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
}

TEST_F_TIMEOUT(rekey, rekey_both_ways, 120)
{
	long atx0 = tl_proc_stat("rekey_tx"), arx0 = tl_proc_stat("rekey_rx");
	long ktx0 = tl_tls_stat("TlsTxRekeyOk"), krx0 = tl_tls_stat("TlsRxRekeyOk");
	long fail0 = tl_proc_stat("rekey_failed");
	struct end c = { .dir = 0 }, s = { .dir = 1 };
	struct atls_status st;

	connect_pair(_metadata, self, 7622);
	ASSERT_EQ(0, tl_atls_param("rekey_records", 4));
	c.fd = self->c;
	s.fd = self->s;
	transfer(&c, &s);
	TH_LOG("client: sent %zu (err %d) got %zu (err %d, %zu bad); server: sent %zu (err %d) got %zu (err %d, %zu bad); rekey tx %ld rx %ld failed %ld",
	       c.sent, c.serr, c.got, c.rerr, c.bad, s.sent, s.serr, s.got, s.rerr, s.bad,
	       tl_proc_stat("rekey_tx") - atx0, tl_proc_stat("rekey_rx") - arx0,
	       tl_proc_stat("rekey_failed") - fail0);
	EXPECT_EQ(0, c.serr + c.rerr + s.serr + s.rerr);
	EXPECT_EQ((size_t)RECS * RECLEN, c.got);
	EXPECT_EQ((size_t)RECS * RECLEN, s.got);
	EXPECT_EQ(0, c.bad + s.bad);
	EXPECT_EQ(fail0, tl_proc_stat("rekey_failed"));
	ASSERT_EQ(0, tl_status(self->c, &st));
	EXPECT_EQ(ATLS_STATE_READY, st.state);
	ASSERT_EQ(0, tl_status(self->s, &st));
	EXPECT_EQ(ATLS_STATE_READY, st.state);
	if (!ktls_rekeys()) {
		EXPECT_EQ(atx0, tl_proc_stat("rekey_tx"));
		return;
	}
	/* 160 records each way under keys of 4: 39 KeyUpdates per end at least. */
	EXPECT_LE(atx0 + 2 * 39, tl_proc_stat("rekey_tx"));
	EXPECT_LE(arx0 + 2 * 39, tl_proc_stat("rekey_rx"));
	EXPECT_EQ(tl_proc_stat("rekey_tx") - atx0, tl_tls_stat("TlsTxRekeyOk") - ktx0);
	EXPECT_EQ(tl_proc_stat("rekey_rx") - arx0, tl_tls_stat("TlsRxRekeyOk") - krx0);
}

static void __attribute__((constructor)) order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

/* A software-key state trusting itself. */
static int setup(void)
{
	const char *d = tl_vm.dir;

	if (tl_vm_local_env("e2e-rekey", "rekey"))
		return -1;
	if (tl_vm_self_trusting("state", "exp", true) ||
	    tl_sh("printf 'key-mode = \"software\";\\n' > %s/rekey.conf", d))
		return -1;
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/rekey.conf", d);
	return setenv("ATLS_STATE_DIR", tl_path(d, "state"), 1);
}

int main(int argc, char **argv)
{
	if (tl_vm_local_begin("rekey", setup))
		return 1;
	return test_harness_run(argc, argv);
}
