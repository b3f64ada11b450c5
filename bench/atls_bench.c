// SPDX-License-Identifier: Apache-2.0
/*
 * atls_bench: TLS 1.3 handshake rate and latency, plain OpenSSL versus
 * libatls with TPM evidence, on the host against a real swtpm.
 *
 * One process, one run, same machine for every mode:
 *  - a server: a listening TCP socket on 127.0.0.1 and C server threads,
 *    each accept()ing and running one handshake per connection;
 *  - C client threads, each connect()ing and handshaking back to back
 *    (closed loop: concurrency C = handshakes in flight).
 * Every connection is a full handshake (no tickets, no resumption) with the
 * same ECDSA P-256 server certificate type, the same suite
 * (TLS_AES_128_GCM_SHA256) and OpenSSL's default groups (X25519 first);
 * clients verify the server certificate against it (self-signed = its own CA).
 *
 * Modes:
 *   plain       OpenSSL SSL_accept/SSL_connect only (the baseline)
 *   sw          libatls, server attests, key mode software: quote per handshake
 *   tpm         libatls, server attests, key mode tpm: CertificateVerify signed
 *               in the TPM + Certify + Quote per handshake
 *   sw-batch    as sw with batched quotes (window/max from -w/-b)
 *   tpm-batch   as tpm with batched Certify+Quote
 *   sw-exp      as sw with the exporter binding (evidence in an Exported
 *               Authenticator after the handshake; protocol.rst)
 *   tpm-exp     as tpm with the exporter binding
 *   none        libatls, nobody attests (the client checks the certificate
 *               as plain's does): libatls's own cost per handshake over
 *               OpenSSL's, without atls.ko and atlsd (issue 17, section 2)
 * The client appraises the evidence against a policy trusting the server's
 * AK and PCR 0-7 values: everything a real relying party does.
 *
 * The server's contexts share one TPM handle (struct atls_config.tpm):
 * atls_tpm_stats() counts its TPM operations and their queue + command time,
 * and the test seam atls_tpm_set_delay() (<atls/tpm.h>) adds -D's latency to
 * every command, on the TPM owner's thread, so it is serialised exactly like
 * a slow TPM's command time: this is how the benchmark models a hardware TPM
 * (20-200 ms per signature) with swtpm underneath.
 *
 * Each (mode, concurrency) cell: warm-up, then a measured interval; latency
 * is the client's connect()..handshake-done time of handshakes that ended in
 * the interval.  Ratios are against plain at the same concurrency, same run.
 * Connections are closed with SO_LINGER 0 so tens of thousands of them do not
 * exhaust the ephemeral ports with TIME_WAIT.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atls/atls.h>
#include <atls/provision.h>
#include <atls/tpm.h>

#include "certs.h"
#include "net.h"
#include "swtpm.h"
#include "util.h"

#define AK ATLS_AK_HANDLE_DEFAULT
#define TK ATLS_TLS_KEY_HANDLE_DEFAULT
#define SUITE "TLS_AES_128_GCM_SHA256"
#define MAX_CONC 256
#define LAT_CAP 200000

/* -D: extra latency per TPM command (atls_tpm_set_delay()). */
static unsigned int tpm_delay_us;

/* ---------------------------------------------------------------- modes */

enum mode { M_PLAIN, M_SW, M_TPM, M_SW_BATCH, M_TPM_BATCH, M_SW_EXP, M_TPM_EXP, M_NONE, M_MAX };
static const char *const mode_names[M_MAX] = { "plain", "sw", "tpm", "sw-batch", "tpm-batch",
					       "sw-exp", "tpm-exp", "none" };

struct opts {
	double warm_s, run_s;
	unsigned int rounds;
	unsigned int conc[8], nconc;
	bool mode_on[M_MAX];
	unsigned int batch_window_us, batch_max;
	bool verbose;
};

/* The server's attesting side and its TPM handle, shared by every cell. */
struct setup {
	struct tl_side side;
	struct atls_tpm *tpm;
};

/* One measured cell. */
struct cell {
	enum mode m;
	unsigned int conc;
	/* shared with threads */
	int lfd;
	uint16_t port;
	atomic_int phase;	/* clients: 0 warm-up, 1 measuring, 2 stop */
	atomic_int srv_stop;	/* servers: set once every client has stopped */
	atomic_ulong done, errors, srv_errors, srv_done;
	SSL_CTX *plain_s, *plain_c;
	struct atls_ctx *actx_s, *actx_c;
	pthread_mutex_t lat_lock;
	long long *lat;
	size_t nlat;
	char first_err[600];
};

static void no_linger(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void note_err(struct cell *c, const char *fmt, const char *a, const char *b)
{
	pthread_mutex_lock(&c->lat_lock);
	if (!c->first_err[0])
		snprintf(c->first_err, sizeof(c->first_err), fmt, a, b);
	pthread_mutex_unlock(&c->lat_lock);
}

/* --------------------------------------------------------------- server */

static void *server_main(void *arg)
{
	struct cell *c = arg;
	int fd;

	while ((fd = tl_accept_until(c->lfd, &c->srv_stop)) >= 0) {
		no_linger(fd);
		if (c->m == M_PLAIN) {
			SSL *s = SSL_new(c->plain_s);

			if (!s || !SSL_set_fd(s, fd) || SSL_accept(s) != 1)
				atomic_fetch_add(&c->srv_errors, 1);
			else
				atomic_fetch_add(&c->srv_done, 1);
			SSL_free(s);
			ERR_clear_error();
		} else {
			struct atls_result r;

			if (atls_handshake(c->actx_s, fd, 20000, &r)) {
				atomic_fetch_add(&c->srv_errors, 1);
				note_err(c, "server: %s: %s", atls_reason_name(r.reason),
					 r.reason_text);
			} else {
				atomic_fetch_add(&c->srv_done, 1);
			}
			atls_result_release(&r);
		}
		close(fd);
	}
	return NULL;
}

/* --------------------------------------------------------------- client */

static int client_once(struct cell *c)
{
	int fd = tl_connect(c->port), ok;

	if (fd < 0)
		return -1;
	no_linger(fd);
	if (c->m == M_PLAIN) {
		SSL *s = SSL_new(c->plain_c);

		ok = s && SSL_set_fd(s, fd) && SSL_connect(s) == 1;
		SSL_free(s);
		ERR_clear_error();
	} else {
		struct atls_result r;

		ok = atls_handshake(c->actx_c, fd, 20000, &r) == 0;
		if (!ok)
			note_err(c, "client: %s: %s", atls_reason_name(r.reason), r.reason_text);
		atls_result_release(&r);
	}
	close(fd);
	return ok ? 0 : -1;
}

static void *client_main(void *arg)
{
	struct cell *c = arg;
	long long *mine = malloc(sizeof(long long) * 65536);
	size_t n = 0;

	while (atomic_load(&c->phase) < 2) {
		long long t0 = tl_now_us(), dt;
		int ph = atomic_load(&c->phase), r = client_once(c);

		dt = tl_now_us() - t0;
		if (ph == 1 && atomic_load(&c->phase) == 1) {
			if (r)
				atomic_fetch_add(&c->errors, 1);
			else {
				atomic_fetch_add(&c->done, 1);
				if (mine && n < 65536)
					mine[n++] = dt;
			}
		}
		if (r)
			usleep(1000);
	}
	pthread_mutex_lock(&c->lat_lock);
	for (size_t i = 0; i < n && c->nlat < LAT_CAP; i++)
		c->lat[c->nlat++] = mine[i];
	pthread_mutex_unlock(&c->lat_lock);
	free(mine);
	return NULL;
}

/* ------------------------------------------------------------ contexts */

static SSL_CTX *plain_ctx(bool server, struct setup *s)
{
	SSL_CTX *x = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!x)
		return NULL;
	SSL_CTX_set_min_proto_version(x, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(x, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(x, SUITE);
	if (server) {
		SSL_CTX_set_num_tickets(x, 0);
		SSL_CTX_set_options(x, SSL_OP_NO_TICKET);
		if (SSL_CTX_use_certificate_file(x, tl_path(s->side.dir, "sw.pem"),
						 SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(x, tl_path(s->side.dir, "sw.key"),
						SSL_FILETYPE_PEM) != 1) {
			SSL_CTX_free(x);
			return NULL;
		}
	} else {
		SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
		if (SSL_CTX_load_verify_locations(x, tl_path(s->side.dir, "sw.pem"), NULL) != 1) {
			SSL_CTX_free(x);
			return NULL;
		}
		SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
	}
	return x;
}

static int atls_ctxs(struct cell *c, struct setup *s, const struct opts *o)
{
	bool tpm = c->m == M_TPM || c->m == M_TPM_BATCH || c->m == M_TPM_EXP;
	bool exporter = c->m == M_SW_EXP || c->m == M_TPM_EXP;
	bool batch = c->m == M_SW_BATCH || c->m == M_TPM_BATCH;
	const char *cert = tl_path(s->side.dir, tpm ? "tpm.pem" : "sw.pem");
	struct atls_config sc, cc;
	int ret;

	atls_config_init(&sc, ATLS_ROLE_SERVER);
	sc.key_mode = tpm ? ATLS_KEY_TPM : ATLS_KEY_SOFTWARE;
	sc.ciphersuites = SUITE;
	sc.tpm = s->tpm;
	sc.ak_handle = AK;
	sc.tls_key_handle = TK;
	sc.attest_self = true;
	sc.peer_attest = ATLS_PEER_NONE;
	sc.cert_file = cert;
	sc.key_file = tpm ? NULL : tl_path(s->side.dir, "sw.key");

	atls_config_init(&cc, ATLS_ROLE_CLIENT);
	cc.key_mode = ATLS_KEY_SOFTWARE;
	cc.ciphersuites = SUITE;
	cc.peer_attest = ATLS_PEER_REQUIRED;
	cc.policy_file = tl_path(s->side.dir, "policy.conf");
	cc.ca_file = cert;
	if (c->m == M_NONE) {
		sc.attest_self = false;
		cc.peer_attest = ATLS_PEER_NONE;
		cc.policy_file = NULL;
	}
	if (exporter)
		sc.binding = cc.binding = ATLS_BINDING_EXPORTER;
	if (batch) {
		sc.batch = cc.batch = true;
		sc.batch_window_us = o->batch_window_us;
		sc.batch_max = o->batch_max;
	}
	ret = atls_ctx_new(&sc, &c->actx_s);
	if (ret)
		return ret;
	ret = atls_ctx_new(&cc, &c->actx_c);
	if (ret) {
		atls_ctx_free(c->actx_s);
		c->actx_s = NULL;
	}
	return ret;
}

/* ---------------------------------------------------------------- setup */

/* The server's side: swtpm, provisioned keys, a policy trusting it (for the
 * client), and the one TPM handle the server's contexts share. */
static int setup_side(struct setup *s)
{
	int ret;

	ret = tl_side_provision(&s->side, "bench-server");
	if (ret)
		return ret < 0 ? ret : -EIO;
	if (tl_side_policy(&s->side, &s->side, "\"server\""))
		return -EIO;
	ret = atls_tpm_open(s->side.sw.tcti, &s->tpm);
	if (ret)
		return ret;
	return atls_tpm_set_delay(s->tpm, tpm_delay_us);
}

/* ------------------------------------------------------------------ run */

/* Accumulated over the rounds of one (mode, concurrency) cell. */
struct stats {
	double hps, p50_ms, p99_ms, ops_per_hs;
	unsigned long done, errors, ops, srv_done, op_us;
	double secs;
	int failed;
	long long *lat;
	size_t nlat;
	bool ok;
};

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (long)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int run_cell(struct setup *s, const struct opts *o, enum mode m, unsigned int conc,
		    struct stats *st)
{
	pthread_t sth[MAX_CONC], cth[MAX_CONC];
	struct cell *c = calloc(1, sizeof(*c));
	unsigned long ops0, ops1;
	unsigned long long us0, us1;
	long long t0, t1;
	unsigned int i;
	int ret = 0;

	if (!c)
		return -ENOMEM;
	c->m = m;
	c->conc = conc;
	pthread_mutex_init(&c->lat_lock, NULL);
	c->lat = malloc(sizeof(long long) * LAT_CAP);
	if (!c->lat) {
		ret = -ENOMEM;
		goto out_cell;
	}
	if (m == M_PLAIN) {
		c->plain_s = plain_ctx(true, s);
		c->plain_c = plain_ctx(false, s);
		if (!c->plain_s || !c->plain_c) {
			ret = -EINVAL;
			goto out_ctx;
		}
	} else {
		ret = atls_ctxs(c, s, o);
		if (ret)
			goto out_ctx;
	}
	/* A backlog deep enough for every client at once (tl_listen(): 1024; a
	 * short one drops SYNs, and the 1 s SYN retry would dominate p99). */
	ret = tl_listen(&c->lfd, &c->port);
	if (ret)
		goto out_ctx;
	/* TPM operations per handshake: all of the cell's, over all of its
	 * server handshakes (warm-up and drain included, so no edge effect). */
	atls_tpm_stats(s->tpm, &ops0, &us0);
	for (i = 0; i < conc; i++)
		pthread_create(&sth[i], NULL, server_main, c);
	for (i = 0; i < conc; i++)
		pthread_create(&cth[i], NULL, client_main, c);
	sleep_s(o->warm_s);
	t0 = tl_now_us();
	atomic_store(&c->phase, 1);
	sleep_s(o->run_s);
	atomic_store(&c->phase, 2);
	t1 = tl_now_us();
	st->done += atomic_load(&c->done);
	/* Servers keep accepting until the last client's handshake is over. */
	for (i = 0; i < conc; i++)
		pthread_join(cth[i], NULL);
	atomic_store(&c->srv_stop, 1);
	for (i = 0; i < conc; i++)
		pthread_join(sth[i], NULL);
	atls_tpm_stats(s->tpm, &ops1, &us1);
	st->ops += ops1 - ops0;
	st->op_us += us1 - us0;
	st->srv_done += atomic_load(&c->srv_done);
	close(c->lfd);
	st->errors += atomic_load(&c->errors);
	st->secs += (double)(t1 - t0) / 1e6;
	for (i = 0; i < c->nlat && st->nlat < LAT_CAP; i++)
		st->lat[st->nlat++] = c->lat[i];
	if (st->nlat) {
		qsort(st->lat, st->nlat, sizeof(long long), cmp_ll);
		st->p50_ms = (double)st->lat[st->nlat / 2] / 1000.0;
		st->p99_ms = (double)st->lat[(st->nlat * 99) / 100] / 1000.0;
	}
	st->hps = st->secs > 0 ? (double)st->done / st->secs : 0;
	st->ops_per_hs = st->srv_done ? (double)st->ops / (double)st->srv_done : 0;
	st->ok = st->done > 0;
	if (c->first_err[0] && (o->verbose || !st->ok))
		fprintf(stderr, "# %s c=%u: first error: %s (client errors %lu, server %lu)\n",
			mode_names[m], conc, c->first_err, st->errors,
			atomic_load(&c->srv_errors));
out_ctx:
	if (c->actx_s)
		atls_ctx_free(c->actx_s);
	if (c->actx_c)
		atls_ctx_free(c->actx_c);
	SSL_CTX_free(c->plain_s);
	SSL_CTX_free(c->plain_c);
	free(c->lat);
out_cell:
	pthread_mutex_destroy(&c->lat_lock);
	free(c);
	return ret;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: atls_bench [-t seconds] [-W warmup] [-r rounds] [-c 1,16,64] [-m plain,sw,tpm,sw-batch,tpm-batch,sw-exp,tpm-exp,none]\n"
		"                  [-w batch_window_us] [-b batch_max] [-D tpm_ms] [-v]\n"
		"  -D adds tpm_ms to every TPM command on the TPM owner's thread (models a\n"
		"     hardware TPM: 20-200 ms per quote or signature)\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	char *tok, *save;
	int ch, i;

	o->warm_s = 0.3;
	o->run_s = 1.0;
	o->rounds = 2;
	o->conc[0] = 1, o->conc[1] = 16, o->conc[2] = 64, o->nconc = 3;
	for (i = 0; i < M_MAX; i++)
		o->mode_on[i] = true;
	o->batch_window_us = 0;
	o->batch_max = 0;
	while ((ch = getopt(argc, argv, "t:W:r:c:m:w:b:D:vh")) != -1) {
		switch (ch) {
		case 't':
			o->run_s = atof(optarg);
			break;
		case 'r':
			o->rounds = (unsigned int)atoi(optarg);
			break;
		case 'W':
			o->warm_s = atof(optarg);
			break;
		case 'c':
			o->nconc = 0;
			for (tok = strtok_r(optarg, ",", &save); tok && o->nconc < 8;
			     tok = strtok_r(NULL, ",", &save)) {
				unsigned int v = (unsigned int)atoi(tok);

				if (v < 1 || v > MAX_CONC)
					return -EINVAL;
				o->conc[o->nconc++] = v;
			}
			break;
		case 'm':
			memset(o->mode_on, 0, sizeof(o->mode_on));
			for (tok = strtok_r(optarg, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				for (i = 0; i < M_MAX; i++)
					if (!strcmp(tok, mode_names[i]))
						break;
				if (i == M_MAX)
					return -EINVAL;
				o->mode_on[i] = true;
			}
			break;
		case 'w':
			o->batch_window_us = (unsigned int)atoi(optarg);
			break;
		case 'b':
			o->batch_max = (unsigned int)atoi(optarg);
			break;
		case 'D':
			tpm_delay_us = (unsigned int)(atof(optarg) * 1000);
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (o->run_s <= 0 || o->warm_s < 0 || !o->nconc || !o->rounds || o->rounds > 20)
		return -EINVAL;
	o->mode_on[M_PLAIN] = true;	/* every ratio needs its baseline */
	return 0;
}

int main(int argc, char **argv)
{
	struct stats res[M_MAX][8];
	struct setup s;
	struct opts o;
	unsigned int ci, r;
	int m, ret;

	if (parse_opts(argc, argv, &o)) {
		usage();
		return 2;
	}
	memset(&s, 0, sizeof(s));
	memset(res, 0, sizeof(res));
	ret = setup_side(&s);
	if (ret) {
		fprintf(stderr, "atls_bench: setup (swtpm, provisioning) failed: %s\n",
			strerror(-ret));
		goto out;
	}
	printf("# atls_bench: %s, server-only attestation, client appraises; %u x %.1fs per cell "
	       "(each after %.1fs warm-up)\n",
	       SUITE, o.rounds, o.run_s, o.warm_s);
	printf("# TPM: swtpm (%s) + %.1f ms per command; batch window %u us, max %u "
	       "(0 = library default)\n",
	       s.side.sw.tcti, tpm_delay_us / 1000.0, o.batch_window_us, o.batch_max);
	printf("%-10s %5s %10s %8s %9s %9s %9s %9s %9s %7s\n", "mode", "conc", "hs/s", "x plain",
	       "p50 ms", "p99 ms", "+p50 ms", "tpm/hs", "ms/tpmop", "errors");
	/*
	 * The machine may be shared: the modes of one concurrency are run in
	 * turn, rounds times, and each cell sums its rounds, so a burst of
	 * foreign load hits every mode alike rather than one of them.
	 */
	for (ci = 0; ci < o.nconc; ci++) {
		for (r = 0; r < o.rounds; r++)
			for (m = 0; m < M_MAX; m++) {
				struct stats *st = &res[m][ci];

				if (!o.mode_on[m] || st->failed)
					continue;
				if (!st->lat)
					st->lat = malloc(sizeof(long long) * LAT_CAP);
				ret = st->lat ? run_cell(&s, &o, (enum mode)m, o.conc[ci], st) : -ENOMEM;
				if (ret)
					st->failed = ret;
			}
		for (m = 0; m < M_MAX; m++) {
			struct stats *st = &res[m][ci], *b = &res[M_PLAIN][ci];

			if (!o.mode_on[m])
				continue;
			if (st->failed) {
				printf("%-10s %5u  (not run: %s)\n", mode_names[m], o.conc[ci],
				       strerror(-st->failed));
				continue;
			}
			printf("%-10s %5u %10.1f %8.3f %9.2f %9.2f %9.2f %9.3f %9.2f %7lu\n",
			       mode_names[m], o.conc[ci], st->hps, b->hps > 0 ? st->hps / b->hps : 0,
			       st->p50_ms, st->p99_ms, st->p50_ms - b->p50_ms, st->ops_per_hs,
			       st->ops ? (double)st->op_us / 1000.0 / (double)st->ops : 0,
			       st->errors);
			free(st->lat);
			st->lat = NULL;
		}
		fflush(stdout);
	}
	ret = 0;
out:
	if (s.tpm)
		atls_tpm_close(s.tpm);
	tl_side_free(&s.side);
	return ret ? 1 : 0;
}
