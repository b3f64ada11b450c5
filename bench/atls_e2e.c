// SPDX-License-Identifier: Apache-2.0
/*
 * atls_e2e: the whole system in one VM (atls.ko + atlsd + its TPM) against
 * plain userspace OpenSSL on the same machine, same run.  Run by
 * bench/vm-bulk.sh inside the test VM after it has provisioned and started
 * atlsd; not a pass/fail test (prints TAP with the numbers as comments).
 *
 *  handshakes   connect + both ends' ATLS_START ("default" policy of the
 *               running atlsd) versus SSL_connect/SSL_accept with the given
 *               ECDSA P-256 certificate; closed loop at concurrency 1, 16
 *               and 64 for T seconds (2T above 1, after a warm-up of
 *               0.1 T + 0.1 s per client); handshakes/s, p50/p99 of the
 *               client's time, errors with the first one's errno.
 *  bulk         N MiB one way, 16 KiB writes: SSL_write/SSL_read versus
 *               write/read on atls sockets (kTLS installed by atls.ko; also
 *               with the module's TLS_RX_EXPECT_NO_PAD default turned off)
 *               and sendfile() from a tmpfs file on an atls socket (also
 *               with TLS_TX_ZEROCOPY_RO). The clock starts when both ends
 *               are ready.
 *  memory       Slab (/proc/meminfo) with K connected atls socket pairs
 *               minus with K plain TCP pairs, per attested socket; and the
 *               atls_sock object size (/proc/slabinfo).
 *
 * usage: atls_e2e CERT KEY [seconds] [MiB] [POLICY] [hs [C]]
 *        POLICY: the atlsd policy ATLS_START names (default "default");
 *        "hs": handshakes only (no bulk, no memory), e.g. for a second
 *        policy such as one with batch = true; C: only the cell of that
 *        concurrency (e.g. to read atlsd's latency split of c=1 alone).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/tls.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "uapi/linux/atls.h"

#include "net.h"
#include "util.h"

#define SUITE "TLS_AES_128_GCM_SHA256"
#define CHUNK (16 * 1024)
#define MAXC 64

static const char *cert, *key, *policy = "default";
static SSL_CTX *sctx_plain, *cctx_plain;

static int connect_to(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct linger l = { 1, 0 };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	return fd;
}

/* Both setsockopts; blocking ATLS_START.  0 or errno. */
static int atls_start(int fd, unsigned int role)
{
	struct atls_start st;

	if (setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME, sizeof(ATLS_ULP_NAME)))
		return errno;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.role = role;
	st.timeout_ms = 60000;
	snprintf(st.policy, sizeof(st.policy), "%s", policy);
	return setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)) ? errno : 0;
}

/* ------------------------------------------------------------ handshakes */

struct hs_run {
	bool atls;
	int lfd;
	uint16_t port;
	atomic_int stop, srv_stop;
	atomic_ulong done, errors;
	pthread_mutex_t lock;
	double lat[100000];
	size_t nlat;
	int first_err;
};

static int one_side(struct hs_run *r, int fd, bool server)
{
	if (r->atls)
		return atls_start(fd, server ? ATLS_ROLE_SERVER : ATLS_ROLE_CLIENT);
	{
		SSL *s = SSL_new(server ? sctx_plain : cctx_plain);
		int ok = s && SSL_set_fd(s, fd) && (server ? SSL_accept(s) : SSL_connect(s)) == 1;

		SSL_free(s);
		ERR_clear_error();
		return ok ? 0 : EPROTO;
	}
}

/* A loopback listener (testlib), or -1. */
static int listen_any(uint16_t *port)
{
	int fd;

	return tl_listen(&fd, port) ? -1 : fd;
}

static void *hs_server(void *arg)
{
	struct hs_run *r = arg;
	int fd;

	while ((fd = tl_accept_until(r->lfd, &r->srv_stop)) >= 0) {
		/* Closed with a FIN, see hs_client(). */
		one_side(r, fd, true);
		close(fd);
	}
	return NULL;
}

static void *hs_client(void *arg)
{
	struct hs_run *r = arg;

	while (!atomic_load(&r->stop)) {
		double t0 = tl_now_s();
		int fd = connect_to(r->port), e = fd < 0 ? ECONNREFUSED : one_side(r, fd, false);
		struct linger nl = { 0, 0 };

		/*
		 * A FIN, not connect_to()'s reset: the side that finishes first
		 * (the client in TLS 1.3, or the server) must not reset the
		 * connection under the other side's pending DONE: atls.ko ends
		 * a request on a TCP reset (ECONNRESET), which would cut half
		 * of the handshakes short.  The same for plain OpenSSL.
		 */
		if (fd >= 0) {
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &nl, sizeof(nl));
			close(fd);
		}
		if (atomic_load(&r->stop))
			break;
		if (e) {
			atomic_fetch_add(&r->errors, 1);
			pthread_mutex_lock(&r->lock);
			if (!r->first_err)
				r->first_err = e;
			pthread_mutex_unlock(&r->lock);
			usleep(10000);
			continue;
		}
		atomic_fetch_add(&r->done, 1);
		pthread_mutex_lock(&r->lock);
		if (r->nlat < sizeof(r->lat) / sizeof(r->lat[0]))
			r->lat[r->nlat++] = tl_now_s() - t0;
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct hs_res {
	double hps, p50, p99;
	unsigned long errors;
	int first_err;		/* of the errors, for the report */
	int err;		/* no handshake at all */
};

static void hs_bench(bool atls, int conc, double secs, struct hs_res *out)
{
	struct hs_run *r = calloc(1, sizeof(*r));
	pthread_t s[MAXC], c[MAXC];
	unsigned long d0;
	double t0;
	int i;

	memset(out, 0, sizeof(*out));
	if (!r) {
		out->err = ENOMEM;
		return;
	}
	r->atls = atls;
	pthread_mutex_init(&r->lock, NULL);
	r->lfd = listen_any(&r->port);
	/*
	 * Non-blocking listener: every server thread polls it, one accept()
	 * wins each connection, and the others must come back to their poll
	 * (and see srv_stop) rather than sleep in accept() for a connection
	 * that never comes once the clients have stopped.
	 */
	fcntl(r->lfd, F_SETFL, O_NONBLOCK);
	for (i = 0; i < conc; i++)
		pthread_create(&s[i], NULL, hs_server, r);
	for (i = 0; i < conc; i++)
		pthread_create(&c[i], NULL, hs_client, r);
	/*
	 * Warm-up: 10 % (TCG: the first handshakes fault in code), plus 0.1 s
	 * per client so that at high concurrency the closed loop is past its
	 * first round (every client's first handshake queued at once) before
	 * the window opens.
	 */
	usleep((useconds_t)((secs * 0.1 + (conc - 1) * 0.1) * 1e6));
	pthread_mutex_lock(&r->lock);
	r->nlat = 0;
	pthread_mutex_unlock(&r->lock);
	d0 = atomic_load(&r->done);
	t0 = tl_now_s();
	usleep((useconds_t)(secs * 1e6));
	out->hps = (double)(atomic_load(&r->done) - d0) / (tl_now_s() - t0);
	atomic_store(&r->stop, 1);
	for (i = 0; i < conc; i++)
		pthread_join(c[i], NULL);
	atomic_store(&r->srv_stop, 1);
	for (i = 0; i < conc; i++)
		pthread_join(s[i], NULL);
	close(r->lfd);
	if (r->nlat) {
		qsort(r->lat, r->nlat, sizeof(double), cmp_d);
		out->p50 = r->lat[r->nlat / 2] * 1e3;
		out->p99 = r->lat[r->nlat * 99 / 100] * 1e3;
	}
	out->errors = atomic_load(&r->errors);
	out->first_err = r->first_err;
	out->err = out->hps > 0 ? 0 : (r->first_err ? r->first_err : EIO);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ------------------------------------------------------------------ bulk */

/*
 * atls sockets come with TLS_RX_EXPECT_NO_PAD on (atls.ko's default);
 * "atls,pad-ok" turns it off on the receiver to show what the default is
 * worth; "+sendfile-zc" sets TLS_TX_ZEROCOPY_RO on the sender (the file is
 * not modified while it is sent).
 */
enum bmode { B_OPENSSL, B_ATLS, B_ATLS_PAD_OK, B_ATLS_SENDFILE, B_ATLS_SENDFILE_ZC, B_MAX };
static const char *const bnames[B_MAX] = { "openssl", "atls", "atls,pad-ok", "atls+sendfile",
					   "atls+sendfile-zc" };

/* 0 or errno: a kTLS tuning option on a ready atls socket. */
static int tls_flag(int fd, int opt, int v)
{
	return setsockopt(fd, SOL_TLS, opt, &v, sizeof(v)) ? errno : 0;
}

struct bside {
	enum bmode m;
	int fd, file_fd;
	SSL *ssl;
	size_t total;
	int err;
	pthread_barrier_t *ready;	/* both ends have keys: the clock starts */
};

static void *bulk_recv(void *arg)
{
	struct bside *b = arg;
	static uint8_t buf[4 * CHUNK];
	size_t got = 0;

	if (b->m == B_OPENSSL) {
		b->ssl = SSL_new(sctx_plain);
		if (!b->ssl || !SSL_set_fd(b->ssl, b->fd) || SSL_accept(b->ssl) != 1)
			b->err = EPROTO;
	} else {
		b->err = atls_start(b->fd, ATLS_ROLE_SERVER);
		if (!b->err && b->m == B_ATLS_PAD_OK)
			b->err = tls_flag(b->fd, TLS_RX_EXPECT_NO_PAD, 0);
	}
	/*
	 * The client's start returns when its side is ready; the server side
	 * is ready only after it has checked the client's Finished (and, with
	 * atlsd, the client's evidence) and installed its keys. Meet here so
	 * that the transfer clock does not include the server's handshake.
	 */
	pthread_barrier_wait(b->ready);
	while (!b->err && got < b->total) {
		long n = b->m == B_OPENSSL ? SSL_read(b->ssl, buf, sizeof(buf))
					   : read(b->fd, buf, sizeof(buf));

		if (n <= 0)
			b->err = EIO;
		else
			got += (size_t)n;
	}
	if (b->err)
		shutdown(b->fd, SHUT_RDWR);	/* a blocked sender gets EPIPE */
	return NULL;
}

struct bres {
	double mbs, cpu;
	int err;
};

static void bulk(enum bmode m, size_t total, int file_fd, struct bres *out)
{
	static uint8_t buf[CHUNK];
	pthread_barrier_t ready;
	struct bside rcv = { .m = m, .total = total, .ready = &ready },
		     snd = { .m = m, .total = total };
	uint16_t port;
	pthread_t th;
	size_t sent = 0;
	off_t off = 0;
	double t0, c0;
	int l = listen_any(&port);

	memset(out, 0, sizeof(*out));
	memset(buf, 0x3c, sizeof(buf));
	snd.fd = connect_to(port);
	rcv.fd = accept(l, NULL, NULL);
	close(l);
	if (snd.fd < 0 || rcv.fd < 0) {
		out->err = EIO;
		goto out;
	}
	pthread_barrier_init(&ready, NULL, 2);
	pthread_create(&th, NULL, bulk_recv, &rcv);
	if (m == B_OPENSSL) {
		snd.ssl = SSL_new(cctx_plain);
		if (!snd.ssl || !SSL_set_fd(snd.ssl, snd.fd) || SSL_connect(snd.ssl) != 1)
			snd.err = EPROTO;
	} else {
		snd.err = atls_start(snd.fd, ATLS_ROLE_CLIENT);
		if (!snd.err && m == B_ATLS_SENDFILE_ZC)
			snd.err = tls_flag(snd.fd, TLS_TX_ZEROCOPY_RO, 1);
	}
	pthread_barrier_wait(&ready);
	/* The clock starts at the first byte: handshakes are measured above. */
	t0 = tl_now_s();
	c0 = tl_cpu_s();
	while (!snd.err && sent < total) {
		size_t want = total - sent < CHUNK ? total - sent : CHUNK;
		long n = m == B_OPENSSL ? SSL_write(snd.ssl, buf, (int)want)
			 : m == B_ATLS || m == B_ATLS_PAD_OK ? write(snd.fd, buf, want)
					: sendfile(snd.fd, file_fd, &off, want);

		if (n <= 0)
			snd.err = errno ? errno : EIO;
		else
			sent += (size_t)n;
	}
	if (snd.err)
		shutdown(snd.fd, SHUT_RDWR);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&ready);
	out->err = snd.err ? snd.err : rcv.err;
	if (!out->err) {
		out->mbs = (double)total / 1e6 / (tl_now_s() - t0);
		out->cpu = (tl_cpu_s() - c0) / ((double)total / 1e6);
	}
out:
	SSL_free(snd.ssl);
	SSL_free(rcv.ssl);
	if (snd.fd >= 0)
		close(snd.fd);
	if (rcv.fd >= 0)
		close(rcv.fd);
}

/* ---------------------------------------------------------------- memory */

static long slab_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static long atls_sock_objsize(void)
{
	char line[512], name[64];
	long active, num, size = -1;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld %ld %ld", name, &active, &num, &size) == 4 &&
		    !strcmp(name, "atls_sock"))
			break;
		else
			size = -1;
	fclose(f);
	return size;
}

struct mpair {
	int c, s, err;
};

static void *mem_srv(void *arg)
{
	struct mpair *p = arg;

	p->err = atls_start(p->s, ATLS_ROLE_SERVER);
	return NULL;
}

/* Slab kB held by k connected pairs, atls (handshaken) or plain TCP. */
static long mem_pairs(int k, bool atls, struct mpair *p)
{
	uint16_t port;
	int l = listen_any(&port), i;
	long before, after;

	sync();
	usleep(200000);
	before = slab_kb();
	for (i = 0; i < k; i++) {
		pthread_t th;

		p[i].c = connect_to(port);
		p[i].s = accept(l, NULL, NULL);
		if (atls) {
			pthread_create(&th, NULL, mem_srv, &p[i]);
			if (atls_start(p[i].c, ATLS_ROLE_CLIENT))
				p[i].err = EIO;
			pthread_join(th, NULL);
		}
	}
	usleep(200000);
	after = slab_kb();
	for (i = 0; i < k; i++) {
		if (p[i].err)
			after = -1;
		close(p[i].c);
		close(p[i].s);
	}
	close(l);
	return after < 0 || before < 0 ? -1 : after - before;
}

/* ------------------------------------------------------------------ main */

static SSL_CTX *plain(bool server)
{
	SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!x)
		return NULL;
	SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(x, SUITE);
	if (server) {
		SSL_CTX_set_num_tickets(x, 0);
		if (SSL_CTX_use_certificate_file(x, cert, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1)
			return NULL;
	} else {
		SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
		if (SSL_CTX_load_verify_locations(x, cert, NULL) != 1)
			return NULL;
		SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
	}
	return x;
}

int main(int argc, char **argv)
{
	static const int concs[] = { 1, 16, 64 };
	const int nconcs = (int)(sizeof(concs) / sizeof(concs[0]));
	double secs = argc > 3 ? atof(argv[3]) : 5;
	size_t total = (size_t)(argc > 4 ? atoi(argv[4]) : 4) << 20;
	static uint8_t fbuf[CHUNK];
	static struct mpair pairs[64];
	struct bres br[B_MAX];
	bool hs_only = argc > 6 && !strcmp(argv[6], "hs");
	int only_c = hs_only && argc > 7 ? atoi(argv[7]) : 0;
	int ci, m, fd, bad = 0;
	char tmpl[] = "/tmp/atls-e2e-XXXXXX";
	size_t w;

	printf("TAP version 13\n1..1\n");
	if (argc < 3) {
		printf("not ok 1 atls_e2e (usage: atls_e2e CERT KEY [seconds] [MiB])\n");
		return 2;
	}
	cert = argv[1];
	key = argv[2];
	if (argc > 5)
		policy = argv[5];
	sctx_plain = plain(true);
	cctx_plain = plain(false);
	fd = mkstemp(tmpl);
	unlink(tmpl);
	memset(fbuf, 0x77, sizeof(fbuf));
	for (w = 0; fd >= 0 && w < total; w += CHUNK)
		if (write(fd, fbuf, CHUNK) != CHUNK)
			break;
	if (!sctx_plain || !cctx_plain || fd < 0) {
		printf("not ok 1 atls_e2e (set-up)\n");
		return 1;
	}
	printf("# handshakes: %.1f s per cell, %s; atls = atls.ko + atlsd, policy \"%s\"\n",
	       secs, SUITE, policy);
	if (only_c < 0 || only_c > MAXC) {
		printf("not ok 1 atls_e2e (concurrency 1..%d)\n", MAXC);
		return 2;
	}
	for (ci = 0; ci < (only_c ? 1 : nconcs); ci++) {
		int conc = only_c ? only_c : concs[ci];
		/* Longer windows at high concurrency: more handshakes per client. */
		double cs = conc > 1 ? 2 * secs : secs;
		struct hs_res p, a;

		hs_bench(false, conc, cs, &p);
		hs_bench(true, conc, cs, &a);
		printf("# hs %s c=%-2d plain %7.1f/s p50 %7.1f ms p99 %7.1f ms | atls %7.1f/s (x%.3f) "
		       "p50 %7.1f ms p99 %7.1f ms (+%.1f ms) errors %lu%s%s\n",
		       policy, conc, p.hps, p.p50, p.p99, a.hps, p.hps > 0 ? a.hps / p.hps : 0, a.p50,
		       a.p99, a.p50 - p.p50, a.errors, a.first_err ? " first error: " : "",
		       a.first_err ? strerror(a.first_err) : "");
		bad |= p.err || a.err;
		fflush(stdout);
	}
	if (hs_only)
		goto done;
	printf("# bulk: %zu MiB one way, %d KiB writes, best of 3\n", total >> 20, CHUNK / 1024);
	/* Best of three rounds, modes interleaved (shared machine). */
	memset(br, 0, sizeof(br));
	for (ci = 0; ci < 3; ci++)
		for (m = 0; m < B_MAX; m++) {
			struct bres one;

			if (br[m].err)
				continue;
			bulk((enum bmode)m, total, fd, &one);
			if (one.err || one.mbs > br[m].mbs)
				br[m] = one;
		}
	for (m = 0; m < B_MAX; m++) {
		struct bres best = br[m];

		if (best.err)
			printf("# bulk %-16s failed: %s\n", bnames[m], strerror(best.err));
		else
			printf("# bulk %-16s %8.2f MB/s x%.2f vs openssl, CPU %.3f s/MB (x%.2f)\n",
			       bnames[m], best.mbs, br[0].mbs > 0 ? best.mbs / br[0].mbs : 0,
			       best.cpu, br[0].cpu > 0 ? best.cpu / br[0].cpu : 0);
		bad |= best.err != 0;
		fflush(stdout);
	}
	{
		long tcp = mem_pairs(32, false, pairs), at = mem_pairs(32, true, pairs);

		if (tcp >= 0 && at >= 0)
			printf("# memory: 32 pairs: slab +%ld kB plain TCP, +%ld kB atls -> %.1f kB "
			       "per attested socket over plain TCP; atls_sock object %ld bytes\n",
			       tcp, at, (double)(at - tcp) / 64.0, atls_sock_objsize());
		else
			printf("# memory: not measured\n");
	}
done:
	printf("%s 1 atls_e2e\n", bad ? "not ok" : "ok");
	close(fd);
	SSL_CTX_free(sctx_plain);
	SSL_CTX_free(cctx_plain);
	return bad;
}
