// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko: key installation seen from the application's other threads
 * (issue 12, finding 2). Meant to run with memory-error detection on
 * (ATLS_MEMDBG=1), as make check runs it.
 *
 * The DONE handler installs TLS_TX, then TLS_RX, then publishes READY. kTLS
 * swaps the socket's proto and proto_ops inside each of those setsockopt
 * calls; until READY, no other thread of the application may reach kTLS's
 * own tables: getsockopt(SOL_TLS, TLS_TX/TLS_RX) would return a key, a
 * recv would read the raw TCP queue, kTLS's poll would report the socket
 * ready, and our own options (ATLS_STATUS) must answer throughout.
 *
 * Each round: a client atls socket whose peer (a raw socket) has already
 * sent two session tickets sealed with the server's keys, as a TLS 1.3
 * server does right after the handshake, so the socket's receive queue is
 * not empty while the keys go in. Two sibling threads spin on the socket
 * from ATLS_START until READY: one on getsockopt(SOL_TLS, TLS_TX and
 * TLS_RX) and ATLS_STATUS, one on a non-blocking recv and a zero-timeout
 * poll (a poll that reports POLLIN or POLLOUT, followed by an ATLS_STATUS
 * that still says "not READY", is a wake-up before READY). A forked test
 * helper completes each request with fixed keys.
 *
 * Asserted: no key, no ATLS_STATUS failure, no byte read raw (the peer sent
 * nothing but tickets, which the module drops), no early readiness, and
 * every round READY. Logged: how many spinner calls ran while the request
 * was being completed (ACCEPTED), i.e. how often the installation was
 * under fire; the window itself is a few instructions wide.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "net.h"
#include "record.h"
#include "sock.h"

/*
 * Rounds per run: each is one key installation, up to ROUNDS, cut at
 * TIME_CAP_S (logged) so that make check stays bounded. Under TCG with
 * memory-error detection on, the two spinners share the guest's CPUs with
 * the installation: about 120-140 installations fit in the cap, and on
 * the code before the stand-in (keys.c) each of them was hit many times
 * (thousands of keys read per run on 6.1, 6.12 and 7.3). On a faster
 * machine the run stops at ROUNDS. The assertions hold for every round
 * that ran.
 */
#define ROUNDS		1000
#define TIME_CAP_S	15

struct spin {
	atomic_int fd;			/* the round's socket, -1 between rounds */
	atomic_int run;			/* spin while set */
	atomic_int parked;		/* spinners idle (between rounds) */
	atomic_int quit;
	atomic_long key, status_err, raw, recv_err, early, busy;
	int last_status_errno;
};

static void spin_wait_round(struct spin *s)
{
	atomic_fetch_add(&s->parked, 1);
	while (!atomic_load(&s->run) && !atomic_load(&s->quit))
		sched_yield();
	atomic_fetch_sub(&s->parked, 1);
}

static int status_of(struct spin *s, int fd, bool *ready)
{
	struct atls_status st;
	socklen_t len = sizeof(st);

	if (getsockopt(fd, SOL_ATLS, ATLS_STATUS, &st, &len)) {
		atomic_fetch_add(&s->status_err, 1);
		s->last_status_errno = errno;
		return -1;
	}
	*ready = st.state == ATLS_STATE_READY;
	if (st.state == ATLS_STATE_ACCEPTED)
		atomic_fetch_add(&s->busy, 1);
	return 0;
}

/* getsockopt(SOL_TLS, TLS_TX / TLS_RX) and ATLS_STATUS. */
static void *spin_opts(void *arg)
{
	struct spin *s = arg;
	struct tls12_crypto_info_aes_gcm_128 ci;
	socklen_t len;
	bool ready;
	int fd;

	while (!atomic_load(&s->quit)) {
		spin_wait_round(s);
		while (atomic_load(&s->run)) {
			fd = atomic_load(&s->fd);
			len = sizeof(ci);
			if (!getsockopt(fd, SOL_TLS, TLS_TX, &ci, &len))
				atomic_fetch_add(&s->key, 1);
			len = sizeof(ci);
			if (!getsockopt(fd, SOL_TLS, TLS_RX, &ci, &len))
				atomic_fetch_add(&s->key, 1);
			status_of(s, fd, &ready);
		}
	}
	return NULL;
}

/* Non-blocking recv, zero-timeout poll, then ATLS_STATUS. */
static void *spin_io(void *arg)
{
	struct spin *s = arg;
	struct pollfd p;
	char buf[512];
	bool ready;
	ssize_t n;
	int fd;

	while (!atomic_load(&s->quit)) {
		spin_wait_round(s);
		while (atomic_load(&s->run)) {
			fd = atomic_load(&s->fd);
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0)
				atomic_fetch_add(&s->raw, 1);
			else if (n < 0 && errno != EAGAIN)
				atomic_fetch_add(&s->recv_err, 1);
			p = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
			if (poll(&p, 1, 0) < 0)
				continue;
			if (status_of(s, fd, &ready))
				continue;
			if ((p.revents & (POLLIN | POLLOUT)) && !ready)
				atomic_fetch_add(&s->early, 1);
		}
	}
	return NULL;
}

/* Two NewSessionTicket records from the server, sealed at seq 0 and 1. */
static int send_tickets(int wire, const struct tl_keys *s2c)
{
	unsigned char nst[200], rec[300];
	uint64_t seq;
	size_t n;

	memset(nst, 0x5a, sizeof(nst));
	nst[0] = 4;			/* new_session_ticket */
	nst[1] = 0;
	nst[2] = (sizeof(nst) - 4) >> 8;
	nst[3] = (sizeof(nst) - 4) & 0xff;
	for (seq = 0; seq < 2; seq++) {
		n = tl_record_seal(s2c, seq, 22, nst, sizeof(nst), rec);
		if (!n || write(wire, rec, n) != (ssize_t)n)
			return -1;
	}
	return 0;
}

TEST(keys_go_in_unseen)
{
	struct tl_serve srv = { .n = ROUNDS, .cipher = TLS_CIPHER_AES_GCM_128 };
	struct spin s = { .fd = -1 };
	struct timespec t0, t;
	struct tl_keys s2c;
	struct tl_child c;
	pthread_t th[2];
	int i, v, app, wire, rounds = 0;

	tl_keys_fixed(&s2c, TLS_CIPHER_AES_GCM_128, 1);
	ASSERT_EQ(0, tl_fork_helper(&c, tl_serve_fn, &srv));
	ASSERT_EQ(0, pthread_create(&th[0], NULL, spin_opts, &s));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, spin_io, &s));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < ROUNDS; i++) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= TIME_CAP_S)
			break;
		ASSERT_EQ(0, tl_tcp_pair(AF_INET, &app, &wire));
		ASSERT_EQ(0, tl_ulp(app));
		ASSERT_EQ(0, send_tickets(wire, &s2c));
		atomic_store(&s.fd, app);
		atomic_store(&s.run, 1);
		ASSERT_EQ(-EINPROGRESS, tl_start(app, ATLS_ROLE_CLIENT, 10000,
						 ATLS_START_F_NONBLOCK));
		ASSERT_EQ(0, tl_helper_result(&c, &v, 10000));
		ASSERT_EQ(0, v);
		EXPECT_EQ(0, tl_wait_state(app, ATLS_STATE_READY, 5000));
		atomic_store(&s.run, 0);
		while (atomic_load(&s.parked) != 2)
			sched_yield();
		atomic_store(&s.fd, -1);
		close(app);
		close(wire);
		rounds++;
	}
	atomic_store(&s.quit, 1);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	if (rounds < ROUNDS)
		kill(c.pid, SIGTERM);
	tl_helper_reap(&c);
	TH_LOG("%d installations; spinner calls during ACCEPTED: %ld", rounds,
	       atomic_load(&s.busy));
	TH_LOG("keys seen %ld, ATLS_STATUS failures %ld (last errno %d), raw reads %ld, recv errors %ld, early wake-ups %ld",
	       atomic_load(&s.key), atomic_load(&s.status_err),
	       s.last_status_errno, atomic_load(&s.raw),
	       atomic_load(&s.recv_err), atomic_load(&s.early));
	EXPECT_LT(0, rounds);
	EXPECT_EQ(0, atomic_load(&s.key));
	EXPECT_EQ(0, atomic_load(&s.status_err));
	EXPECT_EQ(0, atomic_load(&s.raw));
	EXPECT_EQ(0, atomic_load(&s.recv_err));
	EXPECT_EQ(0, atomic_load(&s.early));
}

TEST_HARNESS_MAIN
