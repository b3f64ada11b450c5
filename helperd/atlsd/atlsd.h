/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atlsd internals shared by its files.
 *
 * The vocabulary (role, reason, verdict, evidence type, sizes) is the uAPI's
 * (<linux/atls.h>), which libatls uses too: a request and its outcome carry
 * uAPI values from ACCEPT to DONE unconverted.
 */
#ifndef ATLSD_H
#define ATLSD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <atls/atls.h>
#include <linux/atls.h>

#include "../common/config.h"
#include "../common/log.h"

#define ATLSD_KEY_MAX 64	/* >= sizeof(struct tls12_crypto_info_aes_gcm_256) */

/* ------------------------------------------- shared_tpm.c, engine.c, outcome.c */

struct atlsd_request {
	uint64_t id;
	int fd;				/* the app's socket, installed by ACCEPT */
	enum atls_role role;		/* ATLS_ROLE_CLIENT or ATLS_ROLE_SERVER */
	uint32_t flags, timeout_ms;
	char policy[ATLS_POLICY_MAX];
	char peer[ATLS_PEER_MAX];
	uint16_t family;
	uint32_t app_pid, app_uid, app_gid;
	char app_comm[32];
	struct atlsd_requester who;	/* identity for authorization (ACCEPT) */
};

struct atlsd_peer {
	enum atls_verdict verdict;
	enum atls_reason reason;	/* below __ATLS_REASON_MAX */
	enum atls_evidence evidence_type;
	uint32_t flags;			/* ATLS_PEER_F_* */
	bool have_cert, have_claims;
	uint8_t cert_sha256[32];
	uint8_t ak_digest[32];
	uint16_t pcr_bank;
	uint32_t pcr_select;
	uint8_t pcr_digest[ATLS_DIGEST_MAX];
	uint16_t pcr_digest_len;
};

struct atlsd_outcome {
	int status;			/* 0 or -errno of the uAPI completion list */
	enum atls_reason reason;	/* below __ATLS_REASON_MAX */
	char text[256];			/* for the log */
	struct atlsd_peer peer;
	bool have_peer;
	uint8_t tx[ATLSD_KEY_MAX], rx[ATLSD_KEY_MAX];	/* secret; wiped by the caller */
	size_t key_len;
	/* Traffic secrets for the kernel's KeyUpdate; secret, wiped likewise. */
	uint8_t tx_secret[ATLS_MAX_DIGEST_LEN], rx_secret[ATLS_MAX_DIGEST_LEN];
	size_t secret_len;
	uint16_t cipher_suite;
	uint64_t handshake_ns;		/* atls_handshake_ex()'s duration, 0 = not run */
	bool solo_refused;		/* batch_only, and the peer offered no batching */
};

struct atlsd_engine;
struct atlsd_tpm;

/*
 * The daemon's one TPM connection (reference counted; see shared_tpm.c).
 * Open checks the certificate/key files and that the TPM holds our keys;
 * -errno + message.  The opener holds one reference; put drops one.
 */
int atlsd_tpm_open(const struct atlsd_config *c, struct atlsd_tpm **out, char *err,
		   size_t errlen);
void atlsd_tpm_get(struct atlsd_tpm *t);
void atlsd_tpm_put(struct atlsd_tpm *t);
const char *atlsd_tpm_tcti(const struct atlsd_tpm *t);
/* The libatls handle contexts borrow (struct atls_config.tpm). */
struct atls_tpm *atlsd_tpm_handle(const struct atlsd_tpm *t);

/* Contexts (one libatls context per named policy and role, made on first use),
 * all sharing tpm (the engine takes its own reference). */
int atlsd_engine_new(const struct atlsd_config *c, struct atlsd_tpm *tpm,
		     struct atlsd_engine **out);
void atlsd_engine_get(struct atlsd_engine *e);
void atlsd_engine_put(struct atlsd_engine *e);
/* The configuration the engine was made from (valid while e is held). */
const struct atlsd_config *atlsd_engine_config(const struct atlsd_engine *e);
/* Build the "default" policy's contexts now (best effort). */
void atlsd_engine_warm(struct atlsd_engine *e);
/* Run the handshake of req; fills out (keys only when status is 0).
 * batch_only: serve our evidence only as a batched quote (worker.c,
 * solo-quotes-per-peer; atls_handshake_opts.batched_evidence_only). */
void atlsd_engine_run(struct atlsd_engine *e, const struct atlsd_request *req,
		      bool batch_only, struct atlsd_outcome *out);
/*
 * outcome.c: fill out from libatls's result of a failed (ret < 0) or
 * successful handshake; keys are copied only on success.
 */
void atlsd_outcome_failed(int ret, const struct atls_result *res, struct atlsd_outcome *o);
void atlsd_outcome_succeeded(const struct atls_result *res, struct atlsd_outcome *o);
/*
 * TPM requests completed by the engine's TPM connection and their queue +
 * command time (atls_tpm_stats()).  Every engine borrows the daemon's one
 * connection (SIGHUP keeps it), so these are totals since atlsd started.
 * Never blocks.
 */
void atlsd_engine_tpm_stats(struct atlsd_engine *e, unsigned long *calls,
			    unsigned long long *busy_us);
/*
 * The batchers' counters (atls_ctx_batch_counters()) summed over the
 * engine's contexts (largest: the largest of any), so since the
 * configuration was last loaded (SIGHUP builds a new engine).  Takes the
 * engine lock briefly, never waits for the TPM.
 */
void atlsd_engine_batch_counters(struct atlsd_engine *e, struct atls_batch_counters *sum);

/* ----------------------------------------------------------- netlink.c */

struct atlsd_nl;

/* Command socket (ACCEPT/DONE), one per worker. */
int atlsd_nl_open(struct atlsd_nl **out);
void atlsd_nl_close(struct atlsd_nl *nl);
/* 1 = got a request, 0 = nothing pending, -errno. */
int atlsd_nl_accept(struct atlsd_nl *nl, struct atlsd_request *req);
/* Send DONE; wipes the keys in the message.  Returns the kernel's answer. */
int atlsd_nl_done(struct atlsd_nl *nl, const struct atlsd_request *req,
		  const struct atlsd_outcome *out);

/* Registered listener (READY/ABORT), read by the worker pool's leader or the
 * main thread, one at a time (worker.c, "Waking"). */
struct atlsd_nl_events {
	void (*ready)(void *arg, uint32_t pending);
	void (*abort)(void *arg, uint64_t req_id, uint32_t reason);
	void (*overrun)(void *arg);
	void *arg;
};
int atlsd_nl_listen(struct atlsd_nl **out);
int atlsd_nl_fd(struct atlsd_nl *nl);
/* Drain what is queued on the listener; calls ev.  -errno on a fatal error. */
int atlsd_nl_dispatch(struct atlsd_nl *nl, const struct atlsd_nl_events *ev);
/* Is the atls genl family registered (module loaded)? */
int atlsd_nl_probe(void);

/* ------------------------------------------------------------ worker.c */

struct atlsd_stats {
	uint64_t accepted, succeeded, failed, aborted, done_rejected, accept_errors;
	uint64_t accept_empty;	/* ACCEPTs that found the queue empty (worker.c) */
	uint64_t accept_handoff;	/* requests accepted by a thread that another
					 * thread woke for a READY it read (worker.c) */
	uint64_t not_authorized;	/* of failed: refused by a policy's allow */
	uint64_t peer_limited;		/* of failed: the remote address's share */
	uint64_t solo_quote_refused;	/* of failed: no batched scheme offered past
					 * solo-quotes-per-peer */
};

struct atlsd_pool;

/* n workers now, up to max when every worker is busy (worker.c); an idle
 * worker reads listener's READYs and ABORTs (the main thread when none is). */
int atlsd_pool_start(unsigned int n, unsigned int max, struct atlsd_engine *e,
		     struct atlsd_nl *listener, struct atlsd_pool **out);
/* Swap in a new engine (SIGHUP): requests in progress keep the old one. */
void atlsd_pool_set_engine(struct atlsd_pool *p, struct atlsd_engine *e);
/* Wake an idle worker (all of them when @live is 0): work may be pending;
 * grow the pool towards @live requests (READY's count; 0 when unknown). */
void atlsd_pool_kick(struct atlsd_pool *p, unsigned int live);
/*
 * The main thread's share of the listener (worker.c, "Waking"): poll
 * atlsd_pool_notify_fd() always and the listener while
 * atlsd_pool_main_leads(); on the first, atlsd_pool_notified() (non-zero:
 * the listener failed in a worker, -errno: stop); on the second,
 * atlsd_pool_dispatch() (reads it unless a worker has taken the lead).
 */
int atlsd_pool_notify_fd(struct atlsd_pool *p);
int atlsd_pool_notified(struct atlsd_pool *p);
bool atlsd_pool_main_leads(struct atlsd_pool *p);
int atlsd_pool_dispatch(struct atlsd_pool *p, const struct atlsd_nl_events *ev);
/* The kernel aborted req_id (ABORT, its reason): logged, and work on it stops. */
void atlsd_pool_abort(struct atlsd_pool *p, uint64_t req_id, uint32_t reason);
/* Stop: in-flight handshakes are failed (ECONNABORTED, shutdown), workers joined. */
void atlsd_pool_stop(struct atlsd_pool *p);
/* Status text (active requests, counters incl. the TPM's, the latency split's
 * percentiles: worker.c) for the control socket. */
void atlsd_pool_status(struct atlsd_pool *p, char *buf, size_t len);
void atlsd_pool_stats(struct atlsd_pool *p, struct atlsd_stats *st);

/* ----------------------------------------------------------- control.c */

struct atlsd_control;
int atlsd_control_open(const char *path, struct atlsd_control **out);
int atlsd_control_fd(struct atlsd_control *c);
/* Serve one pending client (non-blocking accept). */
void atlsd_control_serve(struct atlsd_control *c, struct atlsd_pool *p);
void atlsd_control_close(struct atlsd_control *c);

/* ---------------------------------------------------------- privdrop.c */

/* Switch to user (keeping CAP_NET_ADMIN and the user's groups, e.g. tss). */
int atlsd_drop_privileges(const char *user, char *err, size_t errlen);

#endif /* ATLSD_H */
