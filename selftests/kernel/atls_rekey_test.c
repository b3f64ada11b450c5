// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 KeyUpdate with real kTLS and a real OpenSSL on the other end.
 *
 * The helper here runs an OpenSSL TLS 1.3 handshake on the socket ACCEPT
 * gives it (as libatls does, without attestation), takes the application
 * traffic secrets from OpenSSL's key log, and completes DONE with the kTLS
 * blobs and the two secrets. It stays alive until the test ends (a kernel
 * whose kTLS copy needs a user page borrows the helper's memory for a
 * rekey: kmod/rekey.c).
 *
 * On a kernel whose kTLS can rekey (6.14+, /proc/net/tls_stat has
 * TlsRxRekeyOk):
 *  peer_update_{not_,}requested  an OpenSSL server calls SSL_key_update()
 *                     in the middle of a transfer both ways (every byte
 *                     checked): nothing reaches the application but data;
 *                     kTLS's TlsRxRekeyOk (and, when asked, TlsTxRekeyOk)
 *                     and atls's rekey_rx (rekey_tx) counters moved
 *  threshold_atls_to_atls  rekey_records lowered to 4: two atls sockets
 *                     move many times that both ways and rekey themselves
 *  rekey_window       rekey_records 1: a KeyUpdate after every record, both
 *                     ends; meanwhile blocking sends and receives, a
 *                     non-blocking event loop, getsockopt(SOL_TLS) and
 *                     ATLS_STATUS never see the rekey (no error, no key)
 *  openssl_s_server_key_updates, openssl_s_client_key_updates  the
 *                     openssl program as the peer (atls client and server),
 *                     told "k" and "K" on its stdin between phases of data
 *                     both ways, every line checked; the second with
 *                     rekey_records 4 (atls updates on its own too)
 *  threshold_atls_to_openssl  the same against OpenSSL: our TX by our
 *                     KeyUpdates, our RX by asking OpenSSL for one
 *  key_update_before_client_finished  a server's KeyUpdate right after
 *                     its Finished, read by kTLS as its first record
 * On 6.1 and 6.12 the same peer's KeyUpdate ends the connection with
 * EKEYEXPIRED (ATLS_REASON_KEY_UPDATE), and a lowered threshold changes
 * nothing. On every kernel a malformed KeyUpdate (bad length, bad value,
 * not last in its record) ends the connection with EPROTO, and one before
 * the peer's Finished fails the handshake (EPROTO, HANDSHAKE).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include "kselftest_harness.h"
#include "certs.h"
#include "genl.h"
#include "net.h"
#include "peer.h"
#include "record.h"
#include "sock.h"
#include "util.h"

#define CERT_DIR "/tmp/atls-rekey-certs"
#define XFER (256 * 1024)

static bool ktls_rekeys(void)
{
	return tl_tls_stat("TlsRxRekeyOk") >= 0;
}

static void set_threshold(long v)
{
	tl_atls_param("rekey_records", v);
}

/* The rekey counters: atls's (rekey_*) and kTLS's (Tls*RekeyOk). */
struct rk_counts {
	long atx, arx, ktx, krx, fail;
};

static struct rk_counts rk_counts_now(void)
{
	return (struct rk_counts){
		.atx = tl_proc_stat("rekey_tx"),
		.arx = tl_proc_stat("rekey_rx"),
		.ktx = tl_tls_stat("TlsTxRekeyOk"),
		.krx = tl_tls_stat("TlsRxRekeyOk"),
		.fail = tl_proc_stat("rekey_failed"),
	};
}

/* Every rekey of atls's since c0 was one of kTLS's, both directions. */
static void expect_rekeys_in_ktls(struct __test_metadata *_metadata, const struct rk_counts *c0)
{
	EXPECT_EQ(tl_proc_stat("rekey_tx") - c0->atx, tl_tls_stat("TlsTxRekeyOk") - c0->ktx);
	EXPECT_EQ(tl_proc_stat("rekey_rx") - c0->arx, tl_tls_stat("TlsRxRekeyOk") - c0->krx);
}

/* ---- the helper: an OpenSSL handshake, DONE with keys and secrets ---- */

struct hs_job {
	struct tl_helper *h;
	pthread_mutex_t *nl_lock;
	struct tl_req r;
	const char *suites;
	uint8_t cs[48], ss[48];
	size_t cl, sl;
	int ret;
};

/*
 * A key log line ("LABEL client_random secret") of label: its secret (hex,
 * at most max bytes) into dst, its length into *len.  false for a line of
 * another label.
 */
static bool keylog_take(const char *line, const char *label, uint8_t *dst, size_t max,
			size_t *len)
{
	const char *sp = strrchr(line, ' ');
	size_t i;

	if (strncmp(line, label, strlen(label)))
		return false;
	for (i = 0, sp++; sp[0] && sp[1] && i < max; i++, sp += 2)
		sscanf(sp, "%2hhx", &dst[i]);
	*len = i;
	return true;
}

static void keylog_cb(const SSL *ssl, const char *line)
{
	struct hs_job *j = SSL_get_app_data(ssl);

	if (!keylog_take(line, "CLIENT_TRAFFIC_SECRET_0 ", j->cs, sizeof(j->cs), &j->cl))
		keylog_take(line, "SERVER_TRAFFIC_SECRET_0 ", j->ss, sizeof(j->ss), &j->sl);
}

static int hkdf_label(const char *md, const uint8_t *sec, size_t sl, const char *label,
		      uint8_t *out, size_t ol)
{
	uint8_t info[64];
	size_t n = 0, ll = strlen(label);
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[5];

	info[n++] = ol >> 8;
	info[n++] = ol & 0xff;
	info[n++] = 6 + ll;
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)sec, sl);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[4] = OSSL_PARAM_construct_end();
	ok = kc && EVP_KDF_derive(kc, out, ol, p) == 1;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

/* The kTLS blob of a traffic secret of suite (0x1301..0x1303). */
static size_t blob_of(int suite, const uint8_t *sec, size_t sl, struct tl_keys *k)
{
	const char *md = sl == 48 ? "SHA384" : "SHA256";
	uint8_t key[32], iv[12];
	size_t klen = suite == 0x1301 ? 16 : 32;

	memset(k, 0, sizeof(*k));
	if (hkdf_label(md, sec, sl, "key", key, klen) || hkdf_label(md, sec, sl, "iv", iv, 12))
		return 0;
	k->ci.info.version = TLS_1_3_VERSION;
	if (suite == 0x1301) {
		k->ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(k->ci.g128.key, key, 16);
		memcpy(k->ci.g128.salt, iv, 4);
		memcpy(k->ci.g128.iv, iv + 4, 8);
		k->len = sizeof(k->ci.g128);
	} else if (suite == 0x1302) {
		k->ci.info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(k->ci.g256.key, key, 32);
		memcpy(k->ci.g256.salt, iv, 4);
		memcpy(k->ci.g256.iv, iv + 4, 8);
		k->len = sizeof(k->ci.g256);
	} else {
		k->ci.info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
		memcpy(k->ci.cc.key, key, 32);
		memcpy(k->ci.cc.iv, iv, 12);
		k->len = sizeof(k->ci.cc);
	}
	return k->len;
}

static int hs_job_fn(void *arg)
{
	struct hs_job *j = arg;
	int server = j->r.role == ATLS_ROLE_SERVER;
	SSL_CTX *c = tl_peer_ctx(server, j->suites, server ? CERT_DIR "/srv.pem" : NULL,
				 server ? CERT_DIR "/srv.key" : NULL);
	const uint8_t *tx, *rx;
	struct tl_keys kt, kr;
	struct nl_msg *msg;
	SSL *ssl = NULL;
	int suite = 0, ret = -EPROTO;

	if (c) {
		SSL_CTX_set_keylog_callback(c, keylog_cb);
		ssl = SSL_new(c);
	}
	if (ssl) {
		SSL_set_app_data(ssl, j);
		if (tl_peer_handshake(ssl, j->r.fd, server) && j->cl == j->sl && j->cl)
			suite = SSL_CIPHER_get_id(SSL_get_current_cipher(ssl)) & 0xffff;
	}
	tx = server ? j->ss : j->cs;
	rx = server ? j->cs : j->ss;
	pthread_mutex_lock(j->nl_lock);
	if (suite && blob_of(suite, tx, j->cl, &kt) && blob_of(suite, rx, j->cl, &kr)) {
		msg = tl_msg(j->h, ATLS_CMD_DONE);
		nla_put_u64(msg, ATLS_A_REQ_ID, j->r.id);
		nla_put_u32(msg, ATLS_A_SOCKFD, j->r.fd);
		nla_put_s32(msg, ATLS_A_STATUS, 0);
		nla_put(msg, ATLS_A_CRYPTO_TX, kt.len, &kt.ci);
		nla_put(msg, ATLS_A_CRYPTO_RX, kr.len, &kr.ci);
		nla_put(msg, ATLS_A_SECRET_TX, j->cl, tx);
		nla_put(msg, ATLS_A_SECRET_RX, j->cl, rx);
		ret = tl_send(j->h, msg, NULL);
	} else {
		ret = tl_done_status(j->h, &j->r, -EPROTO, ATLS_REASON_HANDSHAKE) ?: -EPROTO;
	}
	pthread_mutex_unlock(j->nl_lock);
	SSL_free(ssl);		/* no shutdown: nothing more on the wire */
	SSL_CTX_free(c);
	return ret;
}

struct hs_serve {
	int n;
	const char *suites;
};

/* Accept n requests, a handshake thread each; report each DONE; stay. */
static void hs_serve_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct hs_serve *s = arg;
	pthread_mutex_t nl_lock = PTHREAD_MUTEX_INITIALIZER;
	struct hs_job jobs[2] = { 0 };
	struct tl_thread th[2];
	int i;

	for (i = 0; i < s->n && i < 2; i++) {
		jobs[i].h = h;
		jobs[i].nl_lock = &nl_lock;
		jobs[i].suites = s->suites;
		if (tl_helper_accept_wait(h, &jobs[i].r, 10000)) {
			tl_put_result(out, -ETIMEDOUT);
			return;
		}
		tl_spawn(&th[i], hs_job_fn, &jobs[i]);
	}
	for (i = 0; i < s->n && i < 2; i++)
		tl_put_result(out, tl_join(&th[i]));
	OPENSSL_cleanse(jobs, sizeof(jobs));
	tl_wait_go(ctl, 120000);	/* our memory may serve a rekey */
}

/* ---- the data: a pattern per direction, every byte checked ---- */

static uint8_t pat(int dir, size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9) + dir * 77);
}

struct xfer {
	int fd, dir;
	size_t n, done, bad;
	int err;
	void *err_ctx;		/* rekey_window: its counts */
};

static int sender_fn(void *arg)
{
	struct xfer *x = arg;
	uint8_t buf[5000];
	ssize_t r;
	size_t i, len;

	while (x->done < x->n) {
		len = x->n - x->done < sizeof(buf) ? x->n - x->done : sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = pat(x->dir, x->done + i);
		r = send(x->fd, buf, len, MSG_NOSIGNAL);
		if (r <= 0) {
			x->err = r < 0 ? errno : EPIPE;
			return -1;
		}
		x->done += r;
	}
	return 0;
}

static int receiver_fn(void *arg)
{
	struct xfer *x = arg;
	uint8_t buf[8192];
	ssize_t r, i;

	while (x->done < x->n) {
		r = recv(x->fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			x->err = r < 0 ? errno : EPIPE;
			return -1;
		}
		for (i = 0; i < r; i++)
			x->bad += buf[i] != pat(x->dir, x->done + i);
		x->done += r;
	}
	return 0;
}

/*
 * One thread moving both directions of an atls socket (an event loop):
 * non-blocking sends of dir out, receives of dir in, poll in between; then,
 * with ping, "ping" out and "pong" in.
 */
struct duplex {
	int fd, out, in;
	bool ping;
	size_t n, sent, got, bad;
	int err;
};

static int duplex_fn(void *arg)
{
	struct duplex *d = arg;
	uint8_t obuf[5000], ibuf[8192];
	int idle = 0;
	size_t i, len;
	ssize_t r;

	fcntl(d->fd, F_SETFL, O_NONBLOCK);
	while ((d->sent < d->n || d->got < d->n) && idle < 200) {
		struct pollfd pf = { .fd = d->fd, .events = POLLIN };
		bool moved = false;

		if (d->sent < d->n) {
			len = d->n - d->sent < sizeof(obuf) ? d->n - d->sent : sizeof(obuf);
			for (i = 0; i < len; i++)
				obuf[i] = pat(d->out, d->sent + i);
			r = send(d->fd, obuf, len, MSG_NOSIGNAL);
			if (r > 0) {
				d->sent += r;
				moved = true;
			} else if (errno != EAGAIN) {
				d->err = errno;
				return -1;
			}
			pf.events |= POLLOUT;
		}
		r = recv(d->fd, ibuf, sizeof(ibuf), 0);
		if (r > 0) {
			for (i = 0; i < (size_t)r; i++)
				d->bad += ibuf[i] != pat(d->in, d->got + i);
			d->got += r;
			moved = true;
		} else if (r == 0 || errno != EAGAIN) {
			d->err = r ? errno : EPIPE;
			return -1;
		}
		if (!moved)
			idle += poll(&pf, 1, 50) == 0;
		else
			idle = 0;
	}
	if (d->sent < d->n || d->got < d->n) {
		d->err = ETIMEDOUT;
		return -1;
	}
	fcntl(d->fd, F_SETFL, 0);
	if (d->ping && (tl_send_all(d->fd, "ping", 4) ||
			tl_recv_all(d->fd, ibuf, 4, 10000) || memcmp(ibuf, "pong", 4))) {
		d->err = EPROTO;
		return -1;
	}
	return 0;
}

/* The OpenSSL end: writes dir 1, reads dir 0, both at once (non-blocking). */
struct ossl_peer {
	int fd;
	const char *suites;
	int ku;			/* -1, or SSL_KEY_UPDATE_* once, half way */
	bool pong;		/* then read "ping", write "pong" */
	size_t n, sent, got, bad;
	int err;
};

static int ossl_peer_fn(void *arg)
{
	struct ossl_peer *p = arg;
	SSL_CTX *c = tl_peer_ctx(1, p->suites, CERT_DIR "/srv.pem", CERT_DIR "/srv.key");
	SSL *ssl = c ? SSL_new(c) : NULL;
	uint8_t out[4000], in[8192];
	bool ku_done = p->ku < 0;
	int idle = 0, r, e;
	size_t i, len;

	p->err = -1;
	if (!ssl || !tl_peer_handshake(ssl, p->fd, 1))
		goto out;
	fcntl(p->fd, F_SETFL, O_NONBLOCK);
	while ((p->sent < p->n || p->got < p->n) && idle < 200) {
		struct pollfd pf = { .fd = p->fd, .events = POLLIN };
		bool moved = false;

		if (!ku_done && p->sent >= p->n / 2) {
			if (SSL_key_update(ssl, p->ku) != 1)
				goto out;
			ku_done = true;
		}
		if (p->sent < p->n) {
			len = p->n - p->sent < sizeof(out) ? p->n - p->sent : sizeof(out);
			for (i = 0; i < len; i++)
				out[i] = pat(1, p->sent + i);
			r = SSL_write(ssl, out, (int)len);
			if (r > 0) {
				p->sent += r;
				moved = true;
			} else if ((e = SSL_get_error(ssl, r)) != SSL_ERROR_WANT_WRITE &&
				   e != SSL_ERROR_WANT_READ) {
				goto out;
			}
			pf.events |= POLLOUT;
		}
		r = SSL_read(ssl, in, sizeof(in));
		if (r > 0) {
			for (i = 0; i < (size_t)r; i++)
				p->bad += in[i] != pat(0, p->got + i);
			p->got += r;
			moved = true;
		} else if ((e = SSL_get_error(ssl, r)) != SSL_ERROR_WANT_READ &&
			   e != SSL_ERROR_WANT_WRITE) {
			goto out;
		}
		if (!moved) {
			idle += poll(&pf, 1, 50) == 0;
		} else {
			idle = 0;
		}
	}
	p->err = p->sent == p->n && p->got == p->n ? 0 : -2;
	if (!p->err && p->pong) {
		size_t got = 0;

		p->err = -3;
		for (idle = 0; got < 4 && idle < 200;) {
			r = SSL_read(ssl, in + got, 4 - (int)got);
			if (r > 0) {
				got += r;
				continue;
			}
			if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
				goto out;
			struct pollfd pf = { .fd = p->fd, .events = POLLIN };

			idle += poll(&pf, 1, 50) == 0;
		}
		for (idle = 0; got == 4 && !memcmp(in, "ping", 4) && idle < 200;) {
			r = SSL_write(ssl, "pong", 4);
			if (r == 4) {
				p->err = 0;
				break;
			}
			if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE &&
			    SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
				goto out;
			struct pollfd pf = { .fd = p->fd, .events = POLLOUT };

			idle += poll(&pf, 1, 50) == 0;
		}
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(c);
	return p->err;
}

FIXTURE(rk) {
	struct tl_child helper;
	bool have_helper, helper_waits;
	int a, b;
};

FIXTURE_SETUP(rk)
{
	self->a = self->b = -1;
	self->have_helper = self->helper_waits = false;
	tl_sh("mkdir -p " CERT_DIR);
	if (access(CERT_DIR "/srv.pem", R_OK))
		ASSERT_EQ(0, tl_make_cert_in(CERT_DIR, "srv", "srv.test", false, NULL));
}

FIXTURE_TEARDOWN(rk)
{
	set_threshold(1L << 22);
	if (self->have_helper) {
		if (self->helper_waits)
			tl_helper_go(&self->helper);
		tl_helper_reap(&self->helper);
	}
	if (self->a >= 0)
		close(self->a);
	if (self->b >= 0)
		close(self->b);
}

/* The helper (hs_serve_fn) for n requests, alive until the teardown. */
static void fork_hs(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self, int n,
		    const char *suites)
{
	struct hs_serve s = { .n = n, .suites = suites };

	ASSERT_EQ(0, tl_fork_helper(&self->helper, hs_serve_fn, &s));
	self->have_helper = self->helper_waits = true;
}

/* fd: atls in role, its handshake done by the helper (which reports 0). */
static void start_ready(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self, int fd,
			int role)
{
	int v;

	ASSERT_EQ(0, tl_ulp(fd));
	ASSERT_EQ(0, tl_start(fd, role, 10000, 0));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	ASSERT_EQ(0, v);
}

/* a: an atls client on one end of a pair, READY; b: the raw other end.
 * The OpenSSL server must run on b meanwhile: it is started here. */
static void atls_vs_openssl(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self,
			    struct ossl_peer *p, struct tl_thread *pt)
{
	fork_hs(_metadata, self, 1, p->suites);
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->a, &self->b));
	p->fd = self->b;
	ASSERT_EQ(0, tl_spawn(pt, ossl_peer_fn, p));
	start_ready(_metadata, self, self->a, ATLS_ROLE_CLIENT);
}

/* a: an atls client, b: an atls server on the two ends of a pair, both
 * READY (the helper's handshakes, in suites). */
static void atls_to_atls(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self,
			 const char *suites)
{
	int v1, v2;

	fork_hs(_metadata, self, 2, suites);
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->a, &self->b));
	ASSERT_EQ(0, tl_ulp(self->a));
	ASSERT_EQ(0, tl_ulp(self->b));
	ASSERT_EQ(-EINPROGRESS, tl_start(self->a, ATLS_ROLE_CLIENT, 10000, ATLS_START_F_NONBLOCK));
	ASSERT_EQ(0, tl_start(self->b, ATLS_ROLE_SERVER, 10000, 0));
	ASSERT_EQ(0, tl_wait_state(self->a, ATLS_STATE_READY, 10000));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v1, 5000));
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v2, 5000));
	ASSERT_EQ(0, v1);
	ASSERT_EQ(0, v2);
}

static void peer_update(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self,
			int type, const char *suites)
{
	struct ossl_peer p = { .suites = suites, .ku = type, .n = XFER };
	struct xfer tx = { .dir = 0, .n = XFER }, rx = { .dir = 1, .n = XFER };
	long rx0 = tl_tls_stat("TlsRxRekeyOk"), tx0 = tl_tls_stat("TlsTxRekeyOk");
	long arx0 = tl_proc_stat("rekey_rx"), atx0 = tl_proc_stat("rekey_tx");
	struct tl_thread pt, st;
	struct atls_status as;

	atls_vs_openssl(_metadata, self, &p, &pt);
	tx.fd = rx.fd = self->a;
	ASSERT_EQ(0, tl_spawn(&st, sender_fn, &tx));
	receiver_fn(&rx);
	if (!ktls_rekeys()) {
		/* 6.1, 6.12: the KeyUpdate ends the connection. */
		EXPECT_EQ(EKEYEXPIRED, rx.err);
		ASSERT_EQ(0, tl_status(self->a, &as));
		EXPECT_EQ(ATLS_STATE_FAILED, as.state);
		EXPECT_EQ(EKEYEXPIRED, as.error);
		EXPECT_EQ(ATLS_REASON_KEY_UPDATE, as.reason);
		shutdown(self->b, SHUT_RDWR);
		tl_join(&st);
		tl_join(&pt);
		EXPECT_EQ(1, rx.done < XFER);
		return;
	}
	EXPECT_EQ(0, tl_join(&st));
	EXPECT_EQ(0, tl_join(&pt));
	TH_LOG("app: sent %zu (err %d), got %zu (err %d, %zu bad); peer: sent %zu got %zu (%zu bad)",
	       tx.done, tx.err, rx.done, rx.err, rx.bad, p.sent, p.got, p.bad);
	EXPECT_EQ(0, rx.err);
	EXPECT_EQ((size_t)XFER, rx.done);
	EXPECT_EQ(0, rx.bad);
	EXPECT_EQ((size_t)XFER, p.got);
	EXPECT_EQ(0, p.bad);
	/* In the kernel: kTLS took a new RX key (and a TX key when asked). */
	EXPECT_EQ(rx0 + 1, tl_tls_stat("TlsRxRekeyOk"));
	EXPECT_EQ(arx0 + 1, tl_proc_stat("rekey_rx"));
	if (type == SSL_KEY_UPDATE_REQUESTED) {
		EXPECT_EQ(tx0 + 1, tl_tls_stat("TlsTxRekeyOk"));
		EXPECT_EQ(atx0 + 1, tl_proc_stat("rekey_tx"));
	} else {
		EXPECT_EQ(tx0, tl_tls_stat("TlsTxRekeyOk"));
		EXPECT_EQ(atx0, tl_proc_stat("rekey_tx"));
	}
	ASSERT_EQ(0, tl_status(self->a, &as));
	EXPECT_EQ(ATLS_STATE_READY, as.state);
}

TEST_F_TIMEOUT(rk, peer_update_not_requested, 120)
{
	peer_update(_metadata, self, SSL_KEY_UPDATE_NOT_REQUESTED, "TLS_AES_256_GCM_SHA384");
}

TEST_F_TIMEOUT(rk, peer_update_requested, 120)
{
	peer_update(_metadata, self, SSL_KEY_UPDATE_REQUESTED, "TLS_AES_128_GCM_SHA256");
}

TEST_F_TIMEOUT(rk, threshold_atls_to_openssl, 120)
{
	struct ossl_peer p = { .suites = "TLS_CHACHA20_POLY1305_SHA256", .ku = -1, .n = XFER,
			       .pong = true };
	struct duplex d = { .out = 0, .in = 1, .n = XFER, .ping = true };
	const struct rk_counts c0 = rk_counts_now();
	struct tl_thread pt;

	set_threshold(4);
	atls_vs_openssl(_metadata, self, &p, &pt);
	d.fd = self->a;
	EXPECT_EQ(0, duplex_fn(&d));
	EXPECT_EQ(0, tl_join(&pt));
	TH_LOG("app: sent %zu, got %zu (%zu bad, err %d); peer got %zu (%zu bad, err %d); rekey tx %ld rx %ld",
	       d.sent, d.got, d.bad, d.err, p.got, p.bad, p.err,
	       tl_proc_stat("rekey_tx") - c0.atx, tl_proc_stat("rekey_rx") - c0.arx);
	EXPECT_EQ((size_t)XFER, d.got);
	EXPECT_EQ(0, d.bad);
	EXPECT_EQ((size_t)XFER, p.got);
	EXPECT_EQ(0, p.bad);
	EXPECT_EQ(c0.fail, tl_proc_stat("rekey_failed"));
	if (ktls_rekeys()) {
		/*
		 * 53 records of ours under keys of 4: 13 KeyUpdates at least.
		 * Our first request (after 4 records in) precedes our "ping",
		 * so OpenSSL's KeyUpdate precedes its "pong": one new RX key
		 * at least. Each of them in kTLS, as its counters show.
		 */
		EXPECT_LE(c0.atx + 13, tl_proc_stat("rekey_tx"));
		EXPECT_LE(c0.arx + 1, tl_proc_stat("rekey_rx"));
		expect_rekeys_in_ktls(_metadata, &c0);
	} else {
		EXPECT_EQ(c0.atx, tl_proc_stat("rekey_tx"));
		EXPECT_EQ(c0.arx, tl_proc_stat("rekey_rx"));
	}
}

TEST_F_TIMEOUT(rk, threshold_atls_to_atls, 120)
{
	struct duplex da = { .out = 0, .in = 1, .n = XFER }, db = { .out = 1, .in = 0, .n = XFER };
	const struct rk_counts c0 = rk_counts_now();
	struct tl_thread t1;

	set_threshold(4);
	atls_to_atls(_metadata, self, "TLS_AES_256_GCM_SHA384");
	da.fd = self->a;
	db.fd = self->b;
	ASSERT_EQ(0, tl_spawn(&t1, duplex_fn, &db));
	EXPECT_EQ(0, duplex_fn(&da));
	EXPECT_EQ(0, tl_join(&t1));
	TH_LOG("a got %zu (%zu bad, err %d), b got %zu (%zu bad, err %d); rekey tx %ld rx %ld",
	       da.got, da.bad, da.err, db.got, db.bad, db.err,
	       tl_proc_stat("rekey_tx") - c0.atx, tl_proc_stat("rekey_rx") - c0.arx);
	EXPECT_EQ((size_t)XFER, da.got);
	EXPECT_EQ((size_t)XFER, db.got);
	EXPECT_EQ(0, da.bad + db.bad);
	EXPECT_EQ(c0.fail, tl_proc_stat("rekey_failed"));
	if (ktls_rekeys()) {
		/*
		 * Each end sends 53 records under keys of 4 records: 13
		 * KeyUpdates each at least, every one read by the other end
		 * before the data after it. All in kTLS.
		 */
		EXPECT_LE(c0.atx + 26, tl_proc_stat("rekey_tx"));
		EXPECT_LE(c0.arx + 26, tl_proc_stat("rekey_rx"));
		expect_rekeys_in_ktls(_metadata, &c0);
	} else {
		EXPECT_EQ(c0.atx, tl_proc_stat("rekey_tx"));
	}
}

/*
 * ---- the rekey window: every app call on the socket while it rekeys ----
 *
 * kTLS's setsockopt(TLS_TX/TLS_RX) of a rekey puts kTLS's own proto (and
 * proto_ops) in place until atls wraps it again. Nothing of the
 * application may see that: no send or recv fails with anything but data
 * (EBADF, EIO were seen), no getsockopt(SOL_TLS, TLS_TX/TLS_RX) returns a
 * key, ATLS_STATUS always answers READY. End a: a blocking sender, a
 * blocking receiver and a prober thread; end b: one non-blocking event
 * loop. rekey_records 1: a KeyUpdate after every record, both ends, both
 * directions. A failed send or recv is counted and retried (it moved no
 * byte, or the check of the bytes says so), so the counts say how often.
 */
#define WIN_XFER (768 * 1024)

struct win_count {
	volatile bool stop;
	long send_err, recv_err, last_send_errno, last_recv_errno;
	long key_read, sockopt_other, sockopt_errno, status_fail, not_ready, inq_fail;
	long probes;
};

static int win_sender_fn(void *arg)
{
	struct xfer *x = arg;
	struct win_count *c = (struct win_count *)x->err_ctx;
	uint8_t buf[5000];
	size_t i, len;
	ssize_t r;

	while (x->done < x->n && c->send_err < 1000) {
		len = x->n - x->done < sizeof(buf) ? x->n - x->done : sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = pat(x->dir, x->done + i);
		r = send(x->fd, buf, len, MSG_NOSIGNAL);
		if (r <= 0) {
			c->send_err++;
			c->last_send_errno = r ? errno : EPIPE;
			continue;
		}
		x->done += r;
	}
	return x->done == x->n ? 0 : -1;
}

static int win_receiver_fn(void *arg)
{
	struct xfer *x = arg;
	struct win_count *c = (struct win_count *)x->err_ctx;
	uint8_t buf[8192];
	ssize_t r, i;

	while (x->done < x->n && c->recv_err < 1000) {
		r = recv(x->fd, buf, sizeof(buf), 0);
		if (r <= 0) {
			c->recv_err++;
			c->last_recv_errno = r ? errno : EPIPE;
			if (!r)
				usleep(1000);
			continue;
		}
		for (i = 0; i < r; i++)
			x->bad += buf[i] != pat(x->dir, x->done + i);
		x->done += r;
	}
	return x->done == x->n ? 0 : -1;
}

static int win_prober_fn(void *arg)
{
	struct xfer *x = arg;
	struct win_count *c = (struct win_count *)x->err_ctx;
	uint8_t buf[128];
	struct atls_status st;
	socklen_t len;
	int opt, inq;

	while (!c->stop) {
		for (opt = TLS_TX; opt <= TLS_RX; opt++) {
			/* kTLS's own getsockopt would hand the key out at
			 * exactly this length (AES-128-GCM blob). */
			len = sizeof(struct tls12_crypto_info_aes_gcm_128);
			if (!getsockopt(x->fd, SOL_TLS, opt, buf, &len))
				c->key_read++;
			else if (errno != EPERM)
				c->sockopt_other++, c->sockopt_errno = errno;
		}
		if (tl_status(x->fd, &st))
			c->status_fail++;
		else if (st.state != ATLS_STATE_READY)
			c->not_ready++;
		if (ioctl(x->fd, FIONREAD, &inq))
			c->inq_fail++;
		c->probes++;
	}
	return 0;
}

TEST_F_TIMEOUT(rk, rekey_window, 120)
{
	struct duplex db = { .out = 1, .in = 0, .n = WIN_XFER };
	struct win_count c = { 0 };
	struct xfer tx = { .dir = 0, .n = WIN_XFER, .err_ctx = &c };
	struct xfer rx = { .dir = 1, .n = WIN_XFER, .err_ctx = &c };
	struct xfer pr = { .err_ctx = &c };
	long atx0 = tl_proc_stat("rekey_tx"), arx0 = tl_proc_stat("rekey_rx");
	long fail0 = tl_proc_stat("rekey_failed");
	struct tl_thread tb, ts, tp;
	struct atls_status st;
	int rs, rr;

	set_threshold(1);
	atls_to_atls(_metadata, self, "TLS_AES_128_GCM_SHA256");
	db.fd = self->b;
	tx.fd = rx.fd = pr.fd = self->a;
	ASSERT_EQ(0, tl_spawn(&tb, duplex_fn, &db));
	ASSERT_EQ(0, tl_spawn(&tp, win_prober_fn, &pr));
	ASSERT_EQ(0, tl_spawn(&ts, win_sender_fn, &tx));
	rr = win_receiver_fn(&rx);
	rs = tl_join(&ts);
	if (rr || rs)
		shutdown(self->a, SHUT_RDWR);	/* b's loop ends too */
	EXPECT_EQ(0, tl_join(&tb));
	c.stop = true;
	tl_join(&tp);
	TH_LOG("a: sent %zu (%ld failed, last errno %ld), got %zu (%ld failed, last errno %ld, %zu bad)",
	       tx.done, c.send_err, c.last_send_errno, rx.done, c.recv_err,
	       c.last_recv_errno, rx.bad);
	TH_LOG("b: sent %zu got %zu (%zu bad, err %d); probes %ld: keys read %ld, other sockopt errors %ld (errno %ld), ATLS_STATUS failed %ld / not READY %ld, FIONREAD failed %ld",
	       db.sent, db.got, db.bad, db.err, c.probes, c.key_read, c.sockopt_other, c.sockopt_errno,
	       c.status_fail, c.not_ready, c.inq_fail);
	TH_LOG("rekeys: tx %ld rx %ld failed %ld", tl_proc_stat("rekey_tx") - atx0,
	       tl_proc_stat("rekey_rx") - arx0, tl_proc_stat("rekey_failed") - fail0);
	EXPECT_EQ(0, c.send_err);
	EXPECT_EQ(0, c.recv_err);
	EXPECT_EQ(0, c.key_read);
	EXPECT_EQ(0, c.sockopt_other);
	EXPECT_EQ(0, c.status_fail);
	EXPECT_EQ(0, c.not_ready);
	EXPECT_EQ(0, c.inq_fail);
	EXPECT_LT(0, c.probes);
	EXPECT_EQ((size_t)WIN_XFER, tx.done);
	EXPECT_EQ((size_t)WIN_XFER, rx.done);
	EXPECT_EQ((size_t)WIN_XFER, db.got);
	EXPECT_EQ(0, rx.bad + db.bad);
	EXPECT_EQ(fail0, tl_proc_stat("rekey_failed"));
	ASSERT_EQ(0, tl_status(self->a, &st));
	EXPECT_EQ(ATLS_STATE_READY, st.state);
	if (ktls_rekeys()) {
		/* 158 records each way, a KeyUpdate after each, both ends. */
		EXPECT_LE(atx0 + 2 * 150, tl_proc_stat("rekey_tx"));
		EXPECT_LE(arx0 + 2 * 150, tl_proc_stat("rekey_rx"));
	}
}

/*
 * ---- the openssl(1) programs as the peer: s_server and s_client ----
 *
 * The real openssl binary, driven on its stdin: data lines, and its own
 * commands "k" (KeyUpdate, update_not_requested) and "K" (update
 * requested). A command must be read alone: it is written only once the
 * data before it has reached the other end, and data after it only once
 * openssl said it did the update (s_server: "SSL_do_handshake -> 1" on
 * stdout; s_client: "KEYUPDATE" on stderr). Data is lines of 63 digits
 * (never an openssl command), each with its number; the lines atls sends
 * are found again in openssl's stdout, in order, every one checked; the
 * lines openssl sends are checked as atls reads them. atls sends whole
 * lines per record, so openssl's own messages on stdout ("Read BLOCK",
 * line-buffered) fall between lines.
 */
#define OSSL_LINE	64
#define OSSL_LINES	512		/* per phase and direction: 32 KiB */
#define OSSL_PHASES	3		/* data, "k", data, "K", data */

struct ossl_prog {
	pid_t pid;
	int in;				/* its stdin */
	char out[64], err[64];		/* its stdout, stderr */
};

static void ossl_line(int dir, unsigned int n, char *l)
{
	int j;

	snprintf(l, 9, "%08u", n);
	for (j = 8; j < OSSL_LINE - 1; j++)
		l[j] = '0' + (n * 7 + j * 3 + dir * 5) % 10;
	l[OSSL_LINE - 1] = '\n';
}

static int ossl_run(struct ossl_prog *p, const char *tag, char *const argv[])
{
	int pfd[2], o, e;

	snprintf(p->out, sizeof(p->out), "/tmp/atls-ossl-%s.out", tag);
	snprintf(p->err, sizeof(p->err), "/tmp/atls-ossl-%s.err", tag);
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (!p->pid) {
		o = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		e = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (o < 0 || e < 0 || dup2(pfd[0], 0) < 0 || dup2(o, 1) < 0 ||
		    dup2(e, 2) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[0]);
	p->in = pfd[1];
	return 0;
}

/* openssl gone (within ms, else killed): its exit status. */
static int ossl_end(struct ossl_prog *p, int ms)
{
	long end = tl_now_ms() + ms;
	int st = -1;

	if (p->in >= 0)
		close(p->in);
	p->in = -1;
	while (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) == 0) {
		if (tl_now_ms() > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	p->pid = -1;
	return st;
}

static char *ossl_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *b = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = cap * 2 + 8192;
			b = realloc(b, cap);
			if (!b)
				break;
		}
		r = fread(b + n, 1, 4096, f);
		n += r;
	} while (r);
	fclose(f);
	if (b)
		b[n] = 0;
	*len = n;
	return b;
}

static int ossl_count(const char *path, const char *what)
{
	size_t len;
	char *b = ossl_slurp(path, &len), *s;
	int n = 0;

	for (s = b; s && (s = strstr(s, what)); s += strlen(what))
		n++;
	free(b);
	return n;
}

static bool ossl_wait_count(const char *path, const char *what, int n, int ms)
{
	long end = tl_now_ms() + ms;

	while (ossl_count(path, what) < n) {
		if (tl_now_ms() > end)
			return false;
		usleep(10000);
	}
	return true;
}

/* The lines of dir 0 in openssl's stdout: how many in order, how many bad. */
static void ossl_check_out(const char *path, unsigned int *good, unsigned int *bad)
{
	char want[OSSL_LINE], *b, *l, *nl;
	size_t len;
	int j;

	*good = *bad = 0;
	b = ossl_slurp(path, &len);
	for (l = b; l && *l; l = nl + 1) {
		nl = strchr(l, '\n');
		if (!nl)
			break;
		if (nl - l != OSSL_LINE - 1)
			continue;
		for (j = 0; j < OSSL_LINE - 1 && l[j] >= '0' && l[j] <= '9'; j++)
			;
		if (j != OSSL_LINE - 1)
			continue;	/* not a data line */
		ossl_line(0, *good, want);
		if (memcmp(l, want, OSSL_LINE))
			(*bad)++;
		else
			(*good)++;
	}
	free(b);
}

struct ossl_feed {
	int fd;
	unsigned int first, n;
	int err;
};

static int ossl_feed_fn(void *arg)
{
	struct ossl_feed *f = arg;
	char buf[64 * OSSL_LINE];
	unsigned int i, k;
	size_t off;
	ssize_t w;

	for (i = 0; i < f->n; i += k) {
		for (k = 0; k < 64 && i + k < f->n; k++)
			ossl_line(1, f->first + i + k, buf + k * OSSL_LINE);
		for (off = 0; off < k * OSSL_LINE; off += w) {
			w = write(f->fd, buf + off, k * OSSL_LINE - off);
			if (w <= 0) {
				f->err = errno ?: EPIPE;
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Phase @ph: OSSL_LINES lines each way at once (openssl's fed by a
 * thread), atls's in sends of 64 whole lines. 0, or the errno of atls's
 * send or receive; *@bad: lines atls read wrong.
 */
static int ossl_phase(int fd, struct ossl_prog *p, int ph, unsigned int *bad)
{
	struct ossl_feed f = { .fd = p->in, .first = ph * OSSL_LINES, .n = OSSL_LINES };
	char buf[64 * OSSL_LINE], want[OSSL_LINE];
	unsigned int i, k, first = ph * OSSL_LINES;
	struct tl_thread t;
	int err = 0;

	if (tl_spawn(&t, ossl_feed_fn, &f))
		return EAGAIN;
	for (i = 0; i < OSSL_LINES && !err; i += 64) {
		for (k = 0; k < 64; k++)
			ossl_line(0, first + i + k, buf + k * OSSL_LINE);
		err = tl_send_all(fd, buf, sizeof(buf));
	}
	for (i = 0; i < OSSL_LINES && !err; i++) {
		err = tl_recv_all(fd, buf, OSSL_LINE, 10000);
		ossl_line(1, first + i, want);
		if (!err && memcmp(buf, want, OSSL_LINE))
			(*bad)++;
	}
	tl_join(&t);
	return err;
}

/*
 * atls (fd, READY) against openssl (p): three phases of data with "k" and
 * "K" between them; @mark: where openssl says it updated (file, string).
 * Checks per kernel: 6.14+ every line both ways and the updates in
 * kTLS; before, the first KeyUpdate ends the connection (EKEYEXPIRED).
 */
static void ossl_updates(struct __test_metadata *_metadata, int fd,
			 struct ossl_prog *p, const char *mark_file, const char *mark,
			 int mark0, bool lowered)
{
	const struct rk_counts c0 = rk_counts_now();
	static const char *const cmd[] = { "k\n", "K\n" };
	unsigned int bad = 0, good, obad;
	struct atls_status st;
	int ph, err = 0;

	for (ph = 0; ph < OSSL_PHASES && !err; ph++) {
		if (ph) {
			ASSERT_EQ(2, write(p->in, cmd[ph - 1], 2));
			ASSERT_TRUE(ossl_wait_count(mark_file, mark, mark0 + ph, 5000));
		}
		err = ossl_phase(fd, p, ph, &bad);
		TH_LOG("phase %d: err %d, %u bad lines read", ph, err, bad);
	}
	ASSERT_EQ(0, tl_status(fd, &st));
	if (!ktls_rekeys()) {
		/* 6.1, 6.12: the first KeyUpdate ("k") ends the connection. */
		EXPECT_EQ(2, ph);
		EXPECT_EQ(EKEYEXPIRED, err);
		EXPECT_EQ(ATLS_STATE_FAILED, st.state);
		EXPECT_EQ(ATLS_REASON_KEY_UPDATE, st.reason);
		close(fd);
		ossl_end(p, 5000);
		ossl_check_out(p->out, &good, &obad);
		EXPECT_LE(OSSL_LINES, good);	/* phase 0 at least */
		EXPECT_EQ(0, obad);
		return;
	}
	EXPECT_EQ(0, err);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(ATLS_STATE_READY, st.state);
	close(fd);		/* close_notify: openssl ends */
	ossl_end(p, 5000);
	ossl_check_out(p->out, &good, &obad);
	TH_LOG("openssl got %u lines in order (%u bad); rekey rx %ld tx %ld (kTLS rx %ld tx %ld)",
	       good, obad, tl_proc_stat("rekey_rx") - c0.arx, tl_proc_stat("rekey_tx") - c0.atx,
	       tl_tls_stat("TlsRxRekeyOk") - c0.krx, tl_tls_stat("TlsTxRekeyOk") - c0.ktx);
	EXPECT_EQ(OSSL_PHASES * OSSL_LINES, good);
	EXPECT_EQ(0, obad);
	EXPECT_EQ(c0.fail, tl_proc_stat("rekey_failed"));
	/* All in kTLS, as many as atls made. */
	expect_rekeys_in_ktls(_metadata, &c0);
	if (lowered) {
		/*
		 * "k" and "K" (s_client sends 16 KiB records, fewer than 4
		 * per key here: our RX threshold is not reached); 24
		 * records of ours under keys of 4, and the answer to "K".
		 */
		EXPECT_LE(c0.arx + 2, tl_proc_stat("rekey_rx"));
		EXPECT_LE(c0.atx + 6, tl_proc_stat("rekey_tx"));
	} else {
		/* "k" and "K": two RX keys; "K" asked for our one TX key. */
		EXPECT_EQ(c0.arx + 2, tl_proc_stat("rekey_rx"));
		EXPECT_EQ(c0.atx + 1, tl_proc_stat("rekey_tx"));
	}
}

/* atls client, openssl s_server; rekey_records at its default. */
TEST_F_TIMEOUT(rk, openssl_s_server_key_updates, 60)
{
	char port[8];
	/* s_server's messages go through stdio: line-buffered, so that
	 * its "done" for a "k" shows at once. */
	char *const argv[] = { "stdbuf", "-oL", "openssl", "s_server", "-accept", port,
			       "-naccept", "1",
			       "-cert", CERT_DIR "/srv.pem", "-key", CERT_DIR "/srv.key",
			       "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256", NULL };
	struct ossl_prog p = { .in = -1 };
	int v, fd = -1;
	long end;

	signal(SIGPIPE, SIG_IGN);
	/* Below the ephemeral range (32768-60999): a port there may be the
	 * local end of an earlier test's connection, and s_server's bind then
	 * fails (seen once in CI: no listener for 10 s). */
	snprintf(port, sizeof(port), "%d", 24300 + getpid() % 1000);
	ASSERT_EQ(0, ossl_run(&p, "srv", argv));
	for (end = tl_now_ms() + 10000; fd < 0 && tl_now_ms() < end; usleep(20000))
		fd = tl_connect_to("127.0.0.1", atoi(port), 100);
	if (fd < 0) {
		size_t n;
		char *e;

		v = ossl_end(&p, 100);
		e = ossl_slurp(p.err, &n);
		TH_LOG("no s_server on port %s (status %d): %s", port, v, e ? e : "");
		free(e);
	}
	ASSERT_LE(0, fd);
	self->a = fd;
	fork_hs(_metadata, self, 1, "TLS_AES_128_GCM_SHA256");
	start_ready(_metadata, self, fd, ATLS_ROLE_CLIENT);
	self->a = -1;		/* closed by ossl_updates() */
	ossl_updates(_metadata, fd, &p, p.out, "SSL_do_handshake -> 1", 0, false);
	ossl_end(&p, 100);
}

/* atls server, openssl s_client; rekey_records 4: atls updates too. */
TEST_F_TIMEOUT(rk, openssl_s_client_key_updates, 60)
{
	char addr[32];
	char *const argv[] = { "openssl", "s_client", "-connect", addr, "-brief",
			       "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256",
			       NULL };
	struct ossl_prog p = { .in = -1 };
	uint16_t port;
	int lfd, fd;

	signal(SIGPIPE, SIG_IGN);
	set_threshold(4);
	ASSERT_EQ(0, tl_listen(&lfd, &port));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	fork_hs(_metadata, self, 1, "TLS_CHACHA20_POLY1305_SHA256");
	ASSERT_EQ(0, ossl_run(&p, "cli", argv));
	fd = tl_accept(lfd, 10000);
	close(lfd);
	if (fd < 0)
		ossl_end(&p, 100);
	ASSERT_LE(0, fd);
	self->a = fd;
	start_ready(_metadata, self, fd, ATLS_ROLE_SERVER);
	self->a = -1;
	ossl_updates(_metadata, fd, &p, p.err, "KEYUPDATE", 0, true);
	ossl_end(&p, 100);
}

/* ---- malformed KeyUpdates: raw records with the fixed test keys ---- */

static void malformed(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self,
		      const void *hs, size_t len)
{
	struct tl_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_128 };
	unsigned char rec[256];
	struct atls_status st;
	struct tl_keys s2c;
	char buf[64];
	size_t n;

	ASSERT_EQ(0, tl_fork_helper(&self->helper, tl_serve_fn, &s));
	self->have_helper = true;
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->a, &self->b));
	start_ready(_metadata, self, self->a, ATLS_ROLE_CLIENT);
	tl_keys_fixed(&s2c, TLS_CIPHER_AES_GCM_128, 1);
	n = tl_record_seal(&s2c, 0, 22, hs, len, rec);
	ASSERT_NE(0, n);
	ASSERT_EQ((ssize_t)n, send(self->b, rec, n, MSG_NOSIGNAL));
	EXPECT_EQ(-1, recv(self->a, buf, sizeof(buf), 0));
	EXPECT_EQ(EPROTO, errno);
	ASSERT_EQ(0, tl_status(self->a, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(ATLS_REASON_BAD_RECORD, st.reason);
	EXPECT_EQ(-1, send(self->a, "x", 1, MSG_NOSIGNAL));
	EXPECT_EQ(EPROTO, errno);
}

TEST_F(rk, malformed_key_update_length)
{
	malformed(_metadata, self, "\x18\x00\x00\x02\x00\x00", 6);
}

TEST_F(rk, malformed_key_update_value)
{
	malformed(_metadata, self, "\x18\x00\x00\x01\x02", 5);
}

TEST_F(rk, key_update_not_last_in_record)
{
	/* RFC 8446 5.1: a KeyUpdate must end its record. */
	malformed(_metadata, self, "\x18\x00\x00\x01\x00\x04\x00\x00\x00", 9);
}

/*
 * ---- a KeyUpdate before the handshake is over ----
 *
 * A scripted TLS 1.3 server: OpenSSL runs the server handshake, but its
 * first flight goes to a memory BIO and the test decides what reaches the
 * atls client, with keys from OpenSSL's key log. Up to its Finished the
 * handshake belongs to the helper (the socket is gated); after it, kTLS.
 */
struct early_peer {
	int fd;
	bool before_finished;	/* KeyUpdate in place of EncryptedExtensions */
	uint8_t hs[32], app[32], capp[32];	/* server hs, server app, client app */
	size_t hsl, appl, cappl;
	uint8_t reply[64];
	size_t reply_len;
	int err;
};

static void early_keylog_cb(const SSL *ssl, const char *line)
{
	struct early_peer *p = SSL_get_app_data(ssl);

	if (!keylog_take(line, "SERVER_HANDSHAKE_TRAFFIC_SECRET ", p->hs, sizeof(p->hs),
			 &p->hsl) &&
	    !keylog_take(line, "SERVER_TRAFFIC_SECRET_0 ", p->app, sizeof(p->app), &p->appl))
		keylog_take(line, "CLIENT_TRAFFIC_SECRET_0 ", p->capp, sizeof(p->capp), &p->cappl);
}

/* Seal one record of inner type under secret (generation gen) at seq. */
static int early_send(int fd, const uint8_t *sec, int gen, uint64_t seq, uint8_t type,
		      const void *data, size_t len)
{
	uint8_t s[32], rec[256];
	struct tl_keys b, k;
	size_t n;
	int i;

	memcpy(s, sec, 32);
	for (i = 0; i < gen; i++)
		if (hkdf_label("SHA256", s, 32, "traffic upd", s, 32))
			return -1;
	if (!blob_of(0x1301, s, 32, &b) || tl_keys_from(&k, &b.ci))
		return -1;
	n = tl_record_seal(&k, seq, type, data, len, rec);
	return n && tl_send_all(fd, rec, n) == 0 ? 0 : -1;
}

static int early_peer_fn(void *arg)
{
	static const uint8_t ku_req[] = { 24, 0, 0, 1, 1 };
	struct early_peer *p = arg;
	SSL_CTX *c = tl_peer_ctx(1, "TLS_AES_128_GCM_SHA256", CERT_DIR "/srv.pem",
				 CERT_DIR "/srv.key");
	uint8_t fl[8192], pt[512], type;
	SSL *ssl = c ? SSL_new(c) : NULL;
	BIO *wb = BIO_new(BIO_s_mem());
	size_t off, rl;
	int idle, n, fin = 0;
	ssize_t r;
	struct tl_keys b;

	p->err = -1;
	if (!ssl || !wb)
		goto out;
	SSL_CTX_set_keylog_callback(c, early_keylog_cb);
	SSL_set_app_data(ssl, p);
	fcntl(p->fd, F_SETFL, O_NONBLOCK);
	SSL_set_bio(ssl, BIO_new_socket(p->fd, BIO_NOCLOSE), wb);
	SSL_set_accept_state(ssl);
	/* Until the server's first flight is written (then it waits for ours). */
	for (idle = 0; !BIO_ctrl_pending(wb) && idle < 200;) {
		struct pollfd pf = { .fd = p->fd, .events = POLLIN };

		if (SSL_do_handshake(ssl) == 1)
			goto out;
		idle += poll(&pf, 1, 50) == 0;
	}
	fcntl(p->fd, F_SETFL, 0);
	n = BIO_read(wb, fl, sizeof(fl));
	if (!p->before_finished)
		fcntl(p->fd, F_SETFL, O_NONBLOCK);
	p->err = -4;
	if (n <= 0 || n >= (int)sizeof(fl) || p->hsl != 32 ||
	    (!p->before_finished && p->appl != 32))
		goto out;
	p->err = -1;
	/* The records of the flight: ServerHello (22), maybe CCS (20), then 23s. */
	for (off = 0; off + 5 <= (size_t)n; off += rl) {
		rl = 5 + ((size_t)fl[off + 3] << 8 | fl[off + 4]);
		if (p->before_finished && fl[off] == 23)
			break;
		if (tl_send_all(p->fd, fl + off, rl))
			goto out;
	}
	if (p->before_finished) {
		/* A KeyUpdate, under the server's handshake key, before its Finished. */
		if (early_send(p->fd, p->hs, 0, 0, 22, ku_req, sizeof(ku_req)))
			goto out;
		p->err = 0;
		goto out;
	}
	/* After our Finished, before the client's: KeyUpdate, then data. */
	if (early_send(p->fd, p->app, 0, 0, 22, ku_req, sizeof(ku_req)) ||
	    early_send(p->fd, p->app, 1, 0, 23, "after the update", 16))
		goto out;
	/*
	 * The client's CCS and Finished, read by OpenSSL (which then knows the
	 * client's application secret), then its KeyUpdate and its reply.
	 */
	for (idle = 0; (fin = SSL_do_handshake(ssl)) != 1 && idle < 200;) {
		struct pollfd pf = { .fd = p->fd, .events = POLLIN };

		if (SSL_get_error(ssl, fin) != SSL_ERROR_WANT_READ)
			break;
		idle += poll(&pf, 1, 50) == 0;
	}
	p->err = -5;
	if (fin != 1 || p->cappl != 32)
		goto out;
	fcntl(p->fd, F_SETFL, 0);
	if (!blob_of(0x1301, p->capp, 32, &b) ||
	    tl_record_read(p->fd, &b.ci, 0, pt, sizeof(pt), &type) != 5 || type != 22 ||
	    memcmp(pt, "\x18\x00\x00\x01\x00", 5)) {
		p->err = -2;
		goto out;
	}
	hkdf_label("SHA256", p->capp, 32, "traffic upd", p->capp, 32);
	if (!blob_of(0x1301, p->capp, 32, &b))
		goto out;
	r = tl_record_read(p->fd, &b.ci, 0, p->reply, sizeof(p->reply), &type);
	if (r < 0 || type != 23) {
		p->err = -3;
		goto out;
	}
	p->reply_len = r;
	p->err = 0;
out:
	OPENSSL_cleanse(p->hs, sizeof(p->hs));
	OPENSSL_cleanse(p->app, sizeof(p->app));
	OPENSSL_cleanse(p->capp, sizeof(p->capp));
	SSL_free(ssl);		/* frees wb */
	SSL_CTX_free(c);
	return p->err;
}

/* The helper; a pair, the scripted server p running on b (a: no ULP yet). */
static void early_pair(struct __test_metadata *_metadata, FIXTURE_DATA(rk) *self,
		       struct early_peer *p, struct tl_thread *pt)
{
	fork_hs(_metadata, self, 1, "TLS_AES_128_GCM_SHA256");
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &self->a, &self->b));
	p->fd = self->b;
	ASSERT_EQ(0, tl_spawn(pt, early_peer_fn, p));
}

/*
 * The server's KeyUpdate comes before its Finished, under its handshake key
 * (RFC 8446 4.6.3: only after Finished): the helper's handshake fails, the
 * application gets EPROTO (HANDSHAKE) and never a byte, on every kernel.
 */
TEST_F(rk, key_update_before_peer_finished)
{
	struct early_peer p = { .before_finished = true };
	struct atls_status st;
	struct tl_thread pt;
	char buf[64];
	int v;

	early_pair(_metadata, self, &p, &pt);
	ASSERT_EQ(0, tl_ulp(self->a));
	EXPECT_EQ(-EPROTO, tl_start(self->a, ATLS_ROLE_CLIENT, 10000, 0));
	EXPECT_EQ(0, tl_join(&pt));
	TH_LOG("peer: %d", p.err);
	ASSERT_EQ(0, tl_helper_result(&self->helper, &v, 5000));
	EXPECT_EQ(-EPROTO, v);
	ASSERT_EQ(0, tl_status(self->a, &st));
	EXPECT_EQ(ATLS_STATE_FAILED, st.state);
	EXPECT_EQ(EPROTO, st.error);
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, st.reason);
	/* Bytes the peer sends now (if TCP takes them) never reach it. */
	tl_send_all(self->b, "plaintext", 9);
	EXPECT_EQ(-1, recv(self->a, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EPROTO, errno);
	EXPECT_EQ(-1, send(self->a, "x", 1, MSG_NOSIGNAL));
	EXPECT_EQ(EPROTO, errno);
}

/*
 * The server sends its KeyUpdate (update_requested) and data under the next
 * key right after its Finished, before the client's Finished: in the TCP
 * queue while the client's socket is still gated. 6.14+: the first recv
 * installs the next key and returns the data; atls's own KeyUpdate and
 * its reply under its next key reach the peer (opened here with keys of
 * our own). 6.1/6.12: EKEYEXPIRED (KEY_UPDATE), no byte.
 */
TEST_F(rk, key_update_before_client_finished)
{
	long krx0 = tl_tls_stat("TlsRxRekeyOk"), ktx0 = tl_tls_stat("TlsTxRekeyOk");
	long arx0 = tl_proc_stat("rekey_rx"), atx0 = tl_proc_stat("rekey_tx");
	struct early_peer p = { 0 };
	struct atls_status st;
	struct tl_thread pt;
	char buf[64];

	early_pair(_metadata, self, &p, &pt);
	start_ready(_metadata, self, self->a, ATLS_ROLE_CLIENT);
	if (!ktls_rekeys()) {
		EXPECT_EQ(-1, recv(self->a, buf, sizeof(buf), 0));
		EXPECT_EQ(EKEYEXPIRED, errno);
		ASSERT_EQ(0, tl_status(self->a, &st));
		EXPECT_EQ(ATLS_STATE_FAILED, st.state);
		EXPECT_EQ(ATLS_REASON_KEY_UPDATE, st.reason);
		shutdown(self->a, SHUT_RDWR);
		tl_join(&pt);
		return;
	}
	EXPECT_EQ(0, tl_recv_all(self->a, buf, 16, 10000));
	EXPECT_EQ(0, memcmp(buf, "after the update", 16));
	EXPECT_EQ(0, tl_send_all(self->a, "reply", 5));
	EXPECT_EQ(0, tl_join(&pt));
	TH_LOG("peer: %d", p.err);
	EXPECT_EQ(5, p.reply_len);
	EXPECT_EQ(0, memcmp(p.reply, "reply", 5));
	EXPECT_EQ(arx0 + 1, tl_proc_stat("rekey_rx"));
	EXPECT_EQ(atx0 + 1, tl_proc_stat("rekey_tx"));
	EXPECT_EQ(krx0 + 1, tl_tls_stat("TlsRxRekeyOk"));
	EXPECT_EQ(ktx0 + 1, tl_tls_stat("TlsTxRekeyOk"));
	ASSERT_EQ(0, tl_status(self->a, &st));
	EXPECT_EQ(ATLS_STATE_READY, st.state);
}

TEST_HARNESS_MAIN
