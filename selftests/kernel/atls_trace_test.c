// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko's tracepoints (trace system "atls", Documentation/atls.7.rst),
 * read back through tracefs: a full request lifecycle (created, READY sent,
 * accepted by the helper, DONE, keys per direction, ready, then a control
 * record), a request timing out while accepted (timeout, failed, ABORT sent)
 * and while pending, and the record limit. Each test checks its socket's
 * events, in order, with their fields.
 *
 * Ordering across CPUs: the test selects the "global" trace clock, and
 * each expected order is causal (the helper waits for READY before it
 * accepts, for ABORT before it reports).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "net.h"
#include "record.h"
#include "sock.h"
#include "trace.h"

#define MAX_EV 64

struct ev {
	char name[40];
	char fields[200];
};

/* tracefs reset, atls events on. */
static int trace_on(void)
{
	int err = tl_trace_reset(NULL);

	if (!err)
		err = tl_trace_event("atls", true);
	if (!err)
		err = tl_trace_on(true);
	return err;
}

static void trace_off(void)
{
	tl_trace_event("atls", false);
}

/* Value of key in an event's "k=v k=v" fields, or "" (static buffer). */
static const char *fval(const struct ev *e, const char *key)
{
	static char v[64];
	size_t kl = strlen(key);
	const char *p = e->fields;

	v[0] = 0;
	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, " ");

			if (n >= sizeof(v))
				n = sizeof(v) - 1;
			memcpy(v, p + kl + 1, n);
			v[n] = 0;
			return v;
		}
		p = strchr(p, ' ');
	}
	return v;
}

/*
 * The atls events of request @id or socket inode @ino, in trace order;
 * @id 0: learn it from the atls_req_created of @ino. Their count.
 */
static int trace_collect(unsigned long ino, struct ev *out, int max)
{
	char line[512], ids[32] = "", inos[32];
	FILE *f = fopen(TL_TRACEFS "/trace", "r");
	int n = 0;

	if (!f)
		return -errno;
	snprintf(inos, sizeof(inos), "%lu", ino);
	while (fgets(line, sizeof(line), f) && n < max) {
		char *p = strstr(line, ": atls_"), *q;
		struct ev e;

		if (line[0] == '#' || !p)
			continue;
		p += 2;
		q = strchr(p, ':');
		if (!q || (size_t)(q - p) >= sizeof(e.name))
			continue;
		memcpy(e.name, p, q - p);
		e.name[q - p] = 0;
		snprintf(e.fields, sizeof(e.fields), "%s", q + 1);
		e.fields[strcspn(e.fields, "\n")] = 0;
		if (!strcmp(e.name, "atls_req_created") && !strcmp(fval(&e, "ino"), inos))
			snprintf(ids, sizeof(ids), "%s", fval(&e, "id"));
		if ((ids[0] && !strcmp(fval(&e, "id"), ids)) ||
		    !strcmp(fval(&e, "ino"), inos))
			out[n++] = e;
	}
	fclose(f);
	return n;
}

static unsigned long ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (unsigned long)st.st_ino;
}

#define EXPECT_FIELD(e, key, want) \
	EXPECT_STREQ(want, fval(e, key)) TH_LOG("%s: %s", (e)->name, (e)->fields)

static char *num(long v)
{
	static char b[4][24];
	static int i;

	i = (i + 1) % 4;
	snprintf(b[i], sizeof(b[i]), "%ld", v);
	return b[i];
}

/* Names of evs[0..n) must be want[], exactly. */
static void expect_names(struct __test_metadata *_metadata, const struct ev *evs,
			 int n, const char *const *want, int nwant)
{
	int i;

	for (i = 0; i < n; i++)
		TH_LOG("event %d: %s:%s", i, evs[i].name, evs[i].fields);
	ASSERT_EQ(nwant, n);
	for (i = 0; i < nwant; i++)
		EXPECT_STREQ(want[i], evs[i].name);
}

FIXTURE(tr) {
	int app, wire;
	struct tl_child helper;
	bool forked;
};

FIXTURE_SETUP(tr)
{
	/* Teardown's tl_helper_go() may find a helper that already exited. */
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, trace_on());
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->app, &self->wire));
	ASSERT_EQ(0, tl_ulp(self->app));
	self->forked = false;
}

FIXTURE_TEARDOWN(tr)
{
	trace_off();
	tl_atls_param("record_limit", 0);
	if (self->forked) {
		tl_helper_go(&self->helper);
		tl_helper_reap(&self->helper);
	}
	close(self->app);
	close(self->wire);
}

/* READY, then ACCEPT, then DONE with keys (each result reported). */
static void ready_accept_done_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct tl_req r;
	int err;

	(void)ctl; (void)arg;
	err = tl_ready_accept(h, &r, 10000);
	if (!err)
		err = tl_done_keys(h, &r, TLS_CIPHER_AES_GCM_128);
	tl_put_result(out, err);
}

/* ACCEPT, report, wait for the ABORT of our request, report. */
static void accept_until_abort_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	uint64_t id = 0;
	struct tl_req r;
	int err;

	(void)ctl; (void)arg;
	err = tl_helper_accept_wait(h, &r, 20000);
	tl_put_result(out, err);
	if (err)
		return;
	err = tl_wait_mcast(h, ATLS_CMD_ABORT, &id, NULL, 20000);
	tl_put_result(out, err ? err : id == r.id ? 0 : -ESRCH);
}

static void idle_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	(void)h; (void)out; (void)arg;
	tl_wait_go(ctl, 60000);
}

static void inject(struct __test_metadata *_metadata, int wire, uint64_t seq,
		   uint8_t type, const void *data, size_t len)
{
	unsigned char rec[256];
	struct tl_keys s2c;
	size_t n;

	tl_keys_fixed(&s2c, TLS_CIPHER_AES_GCM_128, 1);
	n = tl_record_seal(&s2c, seq, type, data, len, rec);
	ASSERT_NE(0, n);
	ASSERT_EQ((ssize_t)n, write(wire, rec, n));
}

TEST_F(tr, full_lifecycle_in_order)
{
	static const char *const want[] = {
		"atls_req_created", "atls_req_ready_sent", "atls_req_accepted",
		"atls_done_received", "atls_keys_installed", "atls_keys_installed",
		"atls_req_ready", "atls_control_record",
	};
	unsigned long ino = ino_of(self->app);
	struct ev evs[MAX_EV];
	char buf[16];
	int n, v;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, ready_accept_done_fn, NULL));
	self->forked = true;
	ASSERT_EQ(0, tl_start(self->app, ATLS_ROLE_CLIENT, 10000, 0));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	inject(_metadata, self->wire, 0, 21, "\x01\x00", 2);	/* close_notify */
	EXPECT_EQ(0, recv(self->app, buf, sizeof(buf), 0));

	n = trace_collect(ino, evs, MAX_EV);
	expect_names(_metadata, evs, n, want, ARRAY_SIZE(want));
	/* created: the socket, the app, the request's parameters */
	EXPECT_FIELD(&evs[0], "ino", num(ino));
	EXPECT_FIELD(&evs[0], "role", num(ATLS_ROLE_CLIENT));
	EXPECT_FIELD(&evs[0], "family", num(AF_INET));
	EXPECT_FIELD(&evs[0], "timeout_ms", "10000");
	EXPECT_FIELD(&evs[0], "app_pid", num(getpid()));
	EXPECT_FIELD(&evs[0], "child", "0");
	EXPECT_NE(0, atoll(fval(&evs[0], "id")));
	EXPECT_LE(1, atoi(fval(&evs[1], "pending")));
	EXPECT_FIELD(&evs[2], "helper_pid", num(self->helper.pid));
	EXPECT_FIELD(&evs[3], "status", "0");
	EXPECT_FIELD(&evs[3], "keys", "1");
	EXPECT_FIELD(&evs[4], "dir", "tx");
	EXPECT_FIELD(&evs[4], "err", "0");
	EXPECT_FIELD(&evs[4], "cipher", num(TLS_CIPHER_AES_GCM_128));
	EXPECT_FIELD(&evs[5], "dir", "rx");
	EXPECT_FIELD(&evs[5], "err", "0");
	EXPECT_FIELD(&evs[6], "cipher", num(TLS_CIPHER_AES_GCM_128));
	EXPECT_FIELD(&evs[7], "type", "21");
	EXPECT_FIELD(&evs[7], "code", "0");		/* close_notify */
}

TEST_F(tr, timeout_while_accepted_aborts)
{
	static const char *const want[] = {
		"atls_req_created", "atls_req_ready_sent", "atls_req_accepted",
		"atls_req_timeout", "atls_req_failed", "atls_req_aborted",
	};
	unsigned long ino = ino_of(self->app);
	struct ev evs[MAX_EV];
	int n, v;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, accept_until_abort_fn, NULL));
	self->forked = true;
	EXPECT_EQ(-ETIMEDOUT, tl_start(self->app, ATLS_ROLE_SERVER, 1000, 0));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 10000));
	ASSERT_EQ(0, v);

	n = trace_collect(ino, evs, MAX_EV);
	expect_names(_metadata, evs, n, want, ARRAY_SIZE(want));
	EXPECT_FIELD(&evs[0], "role", num(ATLS_ROLE_SERVER));
	EXPECT_FIELD(&evs[3], "state", "accepted");
	EXPECT_FIELD(&evs[3], "timeout_ms", "1000");
	EXPECT_FIELD(&evs[4], "err", num(ETIMEDOUT));
	EXPECT_FIELD(&evs[4], "reason", num(ATLS_REASON_TIMEOUT));
	EXPECT_FIELD(&evs[5], "reason", num(ATLS_REASON_TIMEOUT));
}

TEST_F(tr, timeout_while_pending)
{
	static const char *const want[] = {
		"atls_req_created", "atls_req_ready_sent", "atls_req_timeout",
		"atls_req_failed",
	};
	unsigned long ino = ino_of(self->app);
	struct ev evs[MAX_EV];
	int n;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, idle_fn, NULL));
	self->forked = true;
	EXPECT_EQ(-ETIMEDOUT, tl_start(self->app, ATLS_ROLE_CLIENT, 300, 0));

	n = trace_collect(ino, evs, MAX_EV);
	expect_names(_metadata, evs, n, want, ARRAY_SIZE(want));
	EXPECT_FIELD(&evs[2], "state", "pending");
	EXPECT_FIELD(&evs[3], "err", num(ETIMEDOUT));
	EXPECT_FIELD(&evs[3], "reason", num(ATLS_REASON_TIMEOUT));
}

TEST_F(tr, record_limit)
{
	unsigned long ino = ino_of(self->app);
	struct ev evs[MAX_EV];
	char buf[16];
	int i, n, v;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, ready_accept_done_fn, NULL));
	self->forked = true;
	ASSERT_EQ(0, tl_start(self->app, ATLS_ROLE_CLIENT, 10000, 0));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
	ASSERT_EQ(0, tl_atls_param("record_limit", 1));
	inject(_metadata, self->wire, 0, 23, "hello", 5);
	EXPECT_EQ(5, recv(self->app, buf, sizeof(buf), 0));
	EXPECT_EQ(-1, recv(self->app, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EKEYEXPIRED, errno);

	n = trace_collect(ino, evs, MAX_EV);
	for (i = 0; i < n && strcmp(evs[i].name, "atls_record_limit"); i++)
		;
	ASSERT_LT(i, n);
	EXPECT_EQ(n - 1, i);		/* the last event of the socket */
	EXPECT_FIELD(&evs[i], "ino", num(ino));
	EXPECT_FIELD(&evs[i], "dir", "rx");
	EXPECT_FIELD(&evs[i], "seq", "1");
	EXPECT_FIELD(&evs[i], "limit", "1");
}

TEST_HARNESS_MAIN
