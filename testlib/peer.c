// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * A plain OpenSSL TLS 1.3 peer, and an attested exchange over libatls whose
 * exported keys are checked with the record layer of record.h.  See peer.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ssl.h>

#include <atls/atls.h>
#include <atls/provision.h>

#include <unistd.h>
#include <sys/socket.h>

#include "net.h"
#include "peer.h"
#include "record.h"
#include "swtpm.h"
#include "util.h"

SSL_CTX *tl_peer_ctx(int server, const char *suites, const char *cert, const char *key)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!c)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_num_tickets(c, 0);
	if ((suites && SSL_CTX_set_ciphersuites(c, suites) != 1) ||
	    (cert && SSL_CTX_use_certificate_chain_file(c, cert) != 1) ||
	    (key && SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1)) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

int tl_peer_handshake(SSL *ssl, int fd, int server)
{
	if (!SSL_set_fd(ssl, fd))
		return 0;
	return (server ? SSL_accept(ssl) : SSL_connect(ssl)) == 1;
}

int tl_attested_exchange(struct atls_ctx *ctx, int fd, int client, int timeout_ms,
			 const char *msg)
{
	size_t len = strlen(msg) + 1;
	struct atls_result res;
	uint8_t buf[64], type;
	int r;

	if (len > sizeof(buf))
		return -1;
	r = atls_handshake(ctx, fd, timeout_ms, &res);
	if (r)
		return r;
	if (res.appraisal.status != ATLS_EAR_AFFIRMING || !res.self_attested ||
	    !res.peer_attested)
		r = -1;
	else if (client)
		r = tl_record_write(fd, &res.tx, 0, (const uint8_t *)msg, len);
	else
		r = tl_record_read(fd, &res.rx, 0, buf, sizeof(buf), &type) == (int)len &&
		    !memcmp(buf, msg, len) ? 0 : -1;
	atls_result_release(&res);
	return r;
}

int tl_hs_main(void *arg)
{
	struct tl_hs *h = arg;
	int ms = h->timeout_ms ?: 10000;

	if (h->opts)
		h->ret = atls_handshake_ex(h->ctx, h->fd, ms, h->opts, &h->res);
	else
		h->ret = atls_handshake(h->ctx, h->fd, ms, &h->res);
	return h->ret;
}

int tl_hs_pair(struct tl_hs *s, struct tl_hs *c)
{
	struct tl_thread ts, tc;

	if (tl_tcp_pair(AF_INET, &c->fd, &s->fd))
		return -1;
	if (tl_spawn(&ts, tl_hs_main, s))
		return -1;
	if (tl_spawn(&tc, tl_hs_main, c)) {
		shutdown(s->fd, SHUT_RDWR);	/* s's handshake ends */
		tl_join(&ts);
		return -1;
	}
	tl_join(&ts);
	tl_join(&tc);
	return 0;
}

void tl_hs_end(struct tl_hs *h)
{
	atls_result_release(&h->res);
	close(h->fd);
}

int tl_handshake_with(struct atls_ctx *ctx, int timeout_ms, struct atls_result *res,
		      int (*peer)(void *), void *arg, int *peer_fd)
{
	struct tl_thread th;
	int fd, ret;

	if (tl_tcp_pair(AF_INET, &fd, peer_fd))
		return -1;
	if (tl_spawn(&th, peer, arg)) {
		close(fd);
		close(*peer_fd);
		return -1;
	}
	ret = atls_handshake(ctx, fd, timeout_ms, res);
	shutdown(fd, SHUT_RDWR);
	tl_join(&th);
	close(fd);
	close(*peer_fd);
	return ret;
}

void tl_side_config(struct atls_config *c, const struct tl_side *s, enum atls_role role,
		    enum atls_key_mode mode, bool attests, bool checks_peer)
{
	bool tpm = mode == ATLS_KEY_TPM;

	atls_config_init(c, role);
	c->key_mode = mode;
	c->tcti = s->sw.tcti;
	c->ak_handle = ATLS_AK_HANDLE_DEFAULT;
	c->tls_key_handle = ATLS_TLS_KEY_HANDLE_DEFAULT;
	c->attest_self = attests;
	c->peer_attest = checks_peer ? ATLS_PEER_REQUIRED : ATLS_PEER_NONE;
	c->policy_file = checks_peer ? tl_path(s->dir, "policy.conf") : NULL;
	if (role == ATLS_ROLE_SERVER || attests) {
		c->cert_file = tl_path(s->dir, tpm ? "tpm.pem" : "sw.pem");
		c->key_file = tpm ? NULL : tl_path(s->dir, "sw.key");
	}
}

struct exchanges {
	struct tl_exchange *round;
	int rounds, timeout_ms;
	const char *msg;
	struct tl_thread th;
};

static int exchanges_main(void *arg)
{
	struct exchanges *x = arg;
	int r, i;

	for (i = 0; i < x->rounds; i++) {
		struct tl_exchange *e = &x->round[i];

		r = tl_attested_exchange(e->ctx, e->fd, e->client, x->timeout_ms, x->msg);
		if (r)
			return r;
		e->ok = 1;
	}
	return 0;
}

struct atls_ctx *tl_side_ctx(const struct tl_side *s, enum atls_role role,
			     enum atls_key_mode mode, bool attests, bool checks_peer)
{
	struct atls_config c;
	struct atls_ctx *ctx;

	tl_side_config(&c, s, role, mode, attests, checks_peer);
	return atls_ctx_new(&c, &ctx) ? NULL : ctx;
}

int tl_exchanges_run(struct tl_exchange *jobs, int threads, int rounds, int timeout_ms,
		     const char *msg)
{
	struct exchanges *x = calloc(threads, sizeof(*x));
	int t, i, failed = 0, started;

	if (!x)
		return -1;
	for (started = 0; started < threads; started++) {
		x[started] = (struct exchanges){ .round = jobs + started * rounds, .rounds = rounds,
						 .timeout_ms = timeout_ms, .msg = msg };
		if (tl_spawn(&x[started].th, exchanges_main, &x[started]))
			break;
	}
	for (t = 0; t < started; t++)
		tl_join(&x[t].th);
	for (i = 0; i < threads * rounds; i++) {
		if (!jobs[i].ok) {
			fprintf(stderr, "# exchange %d (thread %d, round %d) failed\n", i,
				i / rounds, i % rounds);
			failed++;
		}
		close(jobs[i].fd);
	}
	free(x);
	return started < threads ? -1 : failed;
}
