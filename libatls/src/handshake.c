// SPDX-License-Identifier: Apache-2.0
/*
 * atls_handshake(): one TLS 1.3 handshake on a connected socket.
 *
 * The socket's file flags are never touched (the fd may be an application's
 * own open file): OpenSSL reads and writes through sockbio.c, which asks for
 * non-blocking behaviour per call, so the deadline holds whatever the
 * file's mode; OpenSSL's want-read/want-write are turned into poll() with
 * the remaining time.  The connection state (struct atls_conn) lives on this function's
 * stack and is reachable from OpenSSL callbacks via SSL ex_data; it is torn
 * down (transcript freed, traffic secrets wiped) on every exit path.
 *
 * After a successful handshake nothing may have been read past the peer's
 * last handshake message: SSL_has_pending() must be 0 (read_ahead is off, so
 * OpenSSL reads exactly one record at a time).  The SSL object is then freed
 * without SSL_shutdown(): no close_notify is written, the socket continues
 * at record sequence number 0 in both directions.  In the exporter-bound
 * mode (cfg.binding) the attestation exchange of expat.c runs first, on
 * application-data records; the message callback counts them and the keys
 * carry the sequence numbers that follow (keys.c).
 *
 * Peer name (atls_handshake_ex(), rules in atls.h): hostile input from the
 * application through the kernel, so it is checked to be 1..255 printable
 * ASCII characters before OpenSSL sees it.  The name goes to OpenSSL's
 * verify parameters (SSL_set1_host: DNS name, or an IP literal) only when a
 * CA is configured, because only a CA-verified chain makes a name claim
 * mean anything; negotiate.c's verify callback runs X509_verify_cert() with
 * those parameters and reports a mismatch as ATLS_REASON_PEER_NAME_MISMATCH.
 *
 * SIGPIPE: sockbio.c writes with MSG_NOSIGNAL, so a peer that closes
 * mid-handshake is EPIPE, never a signal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>

#include "internal.h"
#include "tpm_int.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_cleanup(struct atls_conn *c)
{
	free(c->th_msgs.p);
	c->th_msgs.p = NULL;
	OPENSSL_cleanse(c->c_secret, sizeof(c->c_secret));
	OPENSSL_cleanse(c->s_secret, sizeof(c->s_secret));
	c->c_len = c->s_len = 0;
}

/* A failure OpenSSL reported without one of our callbacks having recorded it. */
static void record_tls_failure(struct atls_conn *c, int ssl_err)
{
	unsigned long e = ERR_peek_error();
	char buf[160];

	/* The peer ended the handshake, unless a failure of ours came first. */
	if (c->reason == ATLS_REASON_NONE &&
	    (c->alert_received ||
	     (!e && (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN))))
		c->abort_reason = ATLS_REASON_PEER_ABORTED;
	if (c->alert_received) {
		atls_fail(c, -EPROTO, ATLS_REASON_HANDSHAKE, 0, "peer sent alert %u (%s)",
			  c->alert_received, SSL_alert_desc_string_long(c->alert_received));
		return;
	}
	if (ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) {
		int err = errno && ssl_err == SSL_ERROR_SYSCALL ? -errno : -ECONNRESET;

		if (!e) {
			atls_fail(c, err, ATLS_REASON_HANDSHAKE, 0, "connection closed by peer: %s",
				  strerror(-err));
			return;
		}
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	atls_fail(c, -EPROTO, ATLS_REASON_HANDSHAKE, 0, "TLS handshake failed: %s", buf);
}

/*
 * A deadline (ms, now_ms() clock) has passed: fail c with ETIMEDOUT and the
 * message what (one %d: ms). Otherwise lower *left (poll's timeout, -1 =
 * none) to the time that remains.
 */
static bool deadline_passed(struct atls_conn *c, long long deadline, int *left,
			    const char *what, int ms)
{
	long long rem = deadline - now_ms();

	if (rem <= 0) {
		atls_fail(c, -ETIMEDOUT, ATLS_REASON_TIMEOUT, 0, what, ms);
		return true;
	}
	if (*left < 0 || rem < *left)
		*left = (int)rem;
	return false;
}

int atls_io_wait(struct atls_conn *c, struct atls_io *io, int ssl_err)
{
	struct pollfd pfd = { .fd = io->fd };
	uint64_t m;
	int r, left = -1;

	pfd.events = ssl_err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
	/* Step timeout: restarts whenever a byte moved either way. */
	m = BIO_number_read(SSL_get_rbio(c->ssl)) + BIO_number_written(SSL_get_wbio(c->ssl));
	if (io->step_deadline && m != io->moved) {
		io->moved = m;
		io->step_deadline = now_ms() + io->step_ms;
	}
	if (io->step_deadline && deadline_passed(c, io->step_deadline, &left,
						 "peer silent for %d ms (step timeout)", io->step_ms))
		return c->err;
	if (io->deadline && deadline_passed(c, io->deadline, &left,
					    "handshake not finished after %d ms", io->timeout_ms))
		return c->err;
	/* No batch waits for a handshake that waits for its peer (batch.c). */
	atls_batcher_peer_wait(c->ctx->batcher, true);
	r = poll(&pfd, 1, left);
	atls_batcher_peer_wait(c->ctx->batcher, false);
	if (r < 0 && errno != EINTR) {
		atls_fail(c, -errno, ATLS_REASON_INTERNAL, 0, "poll: %s", strerror(errno));
		return c->err;
	}
	return 0;
}

void atls_io_tpm_deadline(const struct atls_io *io, bool on)
{
	atls_tpm_set_thread_deadline(on && io->deadline ? (unsigned long long)io->deadline * 1000
							: 0);
}

/*
 * The handshake's deadline also bounds its TPM requests (tpm.c): they run
 * inside SSL_do_handshake() on this thread, so the deadline is set for the
 * thread around it.  A TPM request given up on fails the step that needed it
 * (evidence: attest.c; CertificateVerify: OpenSSL sees a failed signature);
 * either way the handshake reports the timeout once the deadline has passed.
 */
static int run(struct atls_conn *c, struct atls_io *io)
{
	int r, e;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		atls_io_tpm_deadline(io, true);
		r = SSL_do_handshake(c->ssl);
		atls_io_tpm_deadline(io, false);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			if (io->deadline && now_ms() >= io->deadline &&
			    (c->reason == ATLS_REASON_NONE || c->reason == ATLS_REASON_TIMEOUT)) {
				/* First failure wins: a timeout attest.c saw stays. */
				atls_fail(c, -ETIMEDOUT, ATLS_REASON_TIMEOUT, 0,
					  "handshake not finished after %d ms (TPM busy)",
					  io->timeout_ms);
				return c->err;
			}
			record_tls_failure(c, e);
			return c->err;
		}
		if (atls_io_wait(c, io, e))
			return c->err;
	}
}

/*
 * OpenSSL's message callback: the transcript and alerts (binder.c), and
 * once the handshake is over (app_phase) the records under the application
 * traffic keys, from their headers: the exchange of the exporter-bound mode
 * moves the sequence numbers kTLS must start at.  A handshake message from
 * the peer then (KeyUpdate, NewSessionTicket) would change keys or is not
 * part of our profile: the connection fails.
 */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct atls_conn *c;

	atls_transcript_msg_cb(write_p, version, content_type, buf, len, ssl, arg);
	c = atls_conn_of(ssl);
	if (!c || !c->app_phase)
		return;
	if (content_type == SSL3_RT_HEADER) {
		if (write_p)
			c->tx_recs++;
		else
			c->rx_recs++;
	} else if (content_type == SSL3_RT_HANDSHAKE && !write_p) {
		atls_fail(c, -EPROTO, ATLS_REASON_HANDSHAKE, ATLS_ALERT_UNEXPECTED_MESSAGE,
			  "post-handshake message %u from the peer before the keys were handed out",
			  len ? ((const uint8_t *)buf)[0] : 0);
	}
}

static void fill_binder(struct atls_conn *c, X509 *cert, uint8_t *out, uint16_t *len)
{
	uint8_t *spki = NULL;
	size_t blen, spki_len;

	*len = 0;
	if (cert && !atls_conn_binder(c, cert, out, &blen, &spki, &spki_len)) {
		*len = (uint16_t)blen;
		OPENSSL_free(spki);
	}
}

/*
 * A failure of ours after SSL_do_handshake() completed (the exporter-bound
 * exchange, a required peer evidence missing, data past the handshake):
 * OpenSSL no longer sends alerts then, so the fatal alert c->alert goes out
 * as a record of our own (keys.c), unless the peer has ended the
 * connection (its alert, close or reset), a write failed part-way (a
 * partial record on the wire), or the failure was no decision of ours
 * (timeout: the peer may be merely slow; we close).  Best effort: the
 * connection is closed by the caller either way.
 */
static int fail_after_handshake(struct atls_conn *c, struct atls_io *io, int ret)
{
	if (c->abort_reason != ATLS_REASON_PEER_ABORTED && !c->tx_broken && c->alert &&
	    c->reason != ATLS_REASON_TIMEOUT && !c->alert_received && !c->alert_sent)
		atls_keys_send_alert(c, io->fd, c->alert);
	return ret;
}

static int finish(struct atls_conn *c, struct atls_io *io)
{
	X509 *peer;
	unsigned int mdlen;
	int ret;

	/* A failure recorded by a callback fails the handshake even if OpenSSL went on. */
	if (c->reason != ATLS_REASON_NONE)
		return c->err;
	/*
	 * Exporter-bound mode: the evidence exchange, a step of its own on the
	 * established connection, before anything is handed out.
	 */
	c->app_phase = true;
	if (c->expat) {
		ret = atls_expat_exchange(c, io);
		if (ret)
			return fail_after_handshake(c, io, ret);
	}
	ret = atls_negotiate_finish(c);
	if (ret)
		return fail_after_handshake(c, io, ret);
	if (SSL_has_pending(c->ssl)) {
		atls_fail(c, -EPROTO, ATLS_REASON_INTERNAL, 0, "data read past the end of the handshake");
		return fail_after_handshake(c, io, c->err);
	}
	peer = SSL_get0_peer_certificate(c->ssl);
	if (peer && !c->res->have_peer_cert &&
	    X509_digest(peer, EVP_sha256(), c->res->peer_cert_sha256, &mdlen))
		c->res->have_peer_cert = true;
	if (c->expat) {
		c->res->binding = ATLS_BINDING_EXPORTER;
		memcpy(c->res->binder_self, c->ea_binder_self, c->ea_binder_self_len);
		c->res->binder_self_len = (uint16_t)c->ea_binder_self_len;
		memcpy(c->res->binder_peer, c->ea_binder_peer, c->ea_binder_peer_len);
		c->res->binder_peer_len = (uint16_t)c->ea_binder_peer_len;
	} else {
		fill_binder(c, SSL_get_certificate(c->ssl), c->res->binder_self,
			    &c->res->binder_self_len);
		fill_binder(c, peer, c->res->binder_peer, &c->res->binder_peer_len);
	}
	ret = atls_keys_derive(c, c->res);
	if (ret)
		atls_fail(c, ret, ATLS_REASON_INTERNAL, 0, "cannot derive kTLS keys: %s", strerror(-ret));
	return ret;
}

static bool is_ip_literal(const char *name)
{
	unsigned char a[16];

	return inet_pton(AF_INET, name, a) == 1 || inet_pton(AF_INET6, name, a) == 1;
}

/* 1..255 printable ASCII, no empty DNS label (no "..", no leading dot). */
static bool peer_name_ok(const char *name)
{
	size_t i, n = strnlen(name, 256);

	if (n == 0 || n > 255 || name[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		if (name[i] <= 0x20 || name[i] >= 0x7f)
			return false;
		if (name[i] == '.' && name[i + 1] == '.')
			return false;
	}
	return true;
}

/* SNI and the certificate name check for this handshake (see top). */
static int set_peer_name(struct atls_conn *c, const char *name)
{
	const struct atls_config *cfg = &c->ctx->cfg;

	if (!name || !*name)
		return 0;
	if (!peer_name_ok(name)) {
		atls_fail(c, -EINVAL, ATLS_REASON_INTERNAL, 0, "invalid peer name");
		return c->err;
	}
	c->peer_name = name;
	if (cfg->role == ATLS_ROLE_CLIENT && !is_ip_literal(name) &&
	    SSL_set_tlsext_host_name(c->ssl, name) != 1) {
		atls_fail(c, -EINVAL, ATLS_REASON_INTERNAL, 0, "invalid peer name (SNI)");
		return c->err;
	}
	if (cfg->ca_file && SSL_set1_host(c->ssl, name) != 1) {
		atls_fail(c, -EINVAL, ATLS_REASON_INTERNAL, 0, "invalid peer name (certificate check)");
		return c->err;
	}
	return 0;
}

int atls_handshake(struct atls_ctx *ctx, int fd, int timeout_ms, struct atls_result *res)
{
	return atls_handshake_ex(ctx, fd, timeout_ms, NULL, res);
}

int atls_handshake_ex(struct atls_ctx *ctx, int fd, int timeout_ms,
		      const struct atls_handshake_opts *opts, struct atls_result *res)
{
	const char *name = opts && opts->peer_name && *opts->peer_name ? opts->peer_name : NULL;
	struct atls_io io = { .fd = -1 };
	struct atls_conn c;
	BIO *bio;
	int ret;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.res = res;
	c.batch_only = opts && opts->batched_evidence_only;
	if (ctx)	/* batch.c: a quote need not wait for a handshake no longer running */
		atls_batcher_enter(ctx->batcher);
	if (!ctx || fd < 0) {
		atls_fail(&c, -EINVAL, ATLS_REASON_INTERNAL, 0, "invalid argument");
		ret = c.err;
		goto out_result;
	}
	/* Only read: a bad fd fails here as before, the flags stay as they are. */
	if (fcntl(fd, F_GETFL) < 0) {
		atls_fail(&c, -errno, ATLS_REASON_INTERNAL, 0, "fcntl: %s", strerror(errno));
		ret = c.err;
		goto out_result;
	}
	c.ssl = SSL_new(ctx->ssl_ctx);
	bio = c.ssl ? atls_sock_bio_new(fd) : NULL;
	if (bio)
		SSL_set_bio(c.ssl, bio, bio);	/* the SSL owns it now */
	if (!bio || !SSL_set_ex_data(c.ssl, atls_conn_index(), &c)) {
		atls_fail(&c, -ENOMEM, ATLS_REASON_INTERNAL, 0, "cannot set up the TLS connection");
		ret = c.err;
		goto out_ssl;
	}
	SSL_set_msg_callback(c.ssl, msg_cb);
	if (ctx->cfg.role == ATLS_ROLE_CLIENT) {
		SSL_set_connect_state(c.ssl);
		/* The configured server name unless this handshake names its peer. */
		if (!name)
			name = ctx->cfg.server_name;
	} else {
		SSL_set_accept_state(c.ssl);
	}
	ret = set_peer_name(&c, name);
	if (ret)
		goto out_ssl;
	io.fd = fd;
	io.timeout_ms = timeout_ms;
	io.deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	io.step_ms = opts ? opts->step_timeout_ms : 0;
	io.step_deadline = io.step_ms > 0 ? now_ms() + io.step_ms : 0;
	ret = run(&c, &io);
	if (!ret)
		ret = finish(&c, &io);
out_ssl:
	/* Unhook before SSL_free: callbacks must not see a dead conn. */
	if (c.ssl)
		SSL_set_ex_data(c.ssl, atls_conn_index(), NULL);
	SSL_free(c.ssl);
	ERR_clear_error();
out_result:
	if (ctx)
		atls_batcher_leave(ctx->batcher);
	conn_cleanup(&c);
	if (ret) {
		atls_result_release(res);
		res->err = ret;
		res->reason = c.reason != ATLS_REASON_NONE ? c.reason : ATLS_REASON_INTERNAL;
		res->abort_reason = c.abort_reason;
		res->alert = c.alert_sent;
		snprintf(res->reason_text, sizeof(res->reason_text), "%s", c.text);
	}
	return ret;
}
