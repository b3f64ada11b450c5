/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: a plain OpenSSL TLS 1.3 peer for the libatls tests (the "other
 * side" that no libatls code runs in), and one attested exchange over libatls.
 */
#ifndef TL_PEER_H
#define TL_PEER_H

#include <stdbool.h>
#include <openssl/ssl.h>

#include <atls/atls.h>

struct tl_side;

/* A TLS 1.3-only SSL_CTX, no tickets; cert/key optional (PEM files). */
SSL_CTX *tl_peer_ctx(int server, const char *suites, const char *cert, const char *key);
/* Run the handshake on fd (blocking); 1 = ok. */
int tl_peer_handshake(SSL *ssl, int fd, int server);

/*
 * One mutually attested connection: handshake on fd within timeout_ms, require
 * an affirming appraisal with evidence sent both ways, then prove the exported
 * keys work: the client writes msg as record 0 with its TX keys and the server
 * reads it back with its RX keys. The result is always released.
 * 0 on success, the handshake's -errno, or -1 on a failed check.
 */
int tl_attested_exchange(struct atls_ctx *ctx, int fd, int client, int timeout_ms,
			 const char *msg);

/* A handshake in a thread: tl_spawn(&th, tl_hs_main, &hs) runs ctx's
 * handshake on fd into res (within timeout_ms; 0: 10 s; with opts:
 * atls_handshake_ex()) and returns its result, kept in ret too. */
struct tl_hs {
	struct atls_ctx *ctx;
	int fd, timeout_ms;
	const struct atls_handshake_opts *opts;
	struct atls_result res;
	int ret;
};
int tl_hs_main(void *arg);

/*
 * s's and c's handshakes at once, a thread each, on the two ends of a fresh
 * loopback pair (s->fd, c->fd; left open): 0 once both returned (their
 * ret and res set), -1 if the pair or a thread could not be made.
 */
int tl_hs_pair(struct tl_hs *s, struct tl_hs *c);
/* h's result released and its fd closed. */
void tl_hs_end(struct tl_hs *h);

/*
 * ctx's handshake (within timeout_ms, into res) on one end of a fresh
 * loopback pair while peer(arg) runs in a thread with the other end, stored
 * in *peer_fd first.  Once the handshake returns, only our end is shut down
 * (the peer reads all we sent, then end of file; shutting its end down too
 * could cut off our last flight before it was read), the peer is joined and
 * both ends closed.  The handshake's result, or -1 if no pair could be made.
 */
int tl_handshake_with(struct atls_ctx *ctx, int timeout_ms, struct atls_result *res,
		      int (*peer)(void *), void *arg, int *peer_fd);

/*
 * A libatls configuration for side s (swtpm.h) in role: key mode mode with
 * s's certificate (and key, in software mode) and the default AK and TLS key
 * handles on s's swtpm; attest_self = attests; with checks_peer the peer's
 * evidence is required and appraised against s's policy.conf.  A client that
 * does not attest gets no certificate.  The caller adjusts the rest.
 */
void tl_side_config(struct atls_config *c, const struct tl_side *s, enum atls_role role,
		    enum atls_key_mode mode, bool attests, bool checks_peer);
/* A context of that configuration, or NULL. */
struct atls_ctx *tl_side_ctx(const struct tl_side *s, enum atls_role role,
			     enum atls_key_mode mode, bool attests, bool checks_peer);

/*
 * Concurrent attested exchanges (tl_attested_exchange()): threads threads,
 * thread t running jobs[t * rounds + r] for r = 0..rounds-1 in turn, one
 * connection each; every job's fd is closed afterwards.  Each job's ok says
 * whether its exchange succeeded.  The number of jobs that did not succeed
 * (each named on stderr), or -1 if a thread could not start.
 */
struct tl_exchange {
	struct atls_ctx *ctx;
	int fd;
	bool client;
	int ok;
};
int tl_exchanges_run(struct tl_exchange *jobs, int threads, int rounds, int timeout_ms,
		     const char *msg);

#endif /* TL_PEER_H */
