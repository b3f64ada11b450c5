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

#define ATLSD_KEY_MAX 64	/* >= sizeof(struct tls12_crypto_info_aes_gcm_256) */

/* ---------------------------------------------------------------- log.c */

enum atlsd_log_level { ATLSD_LOG_ERR = 3, ATLSD_LOG_WARN = 4, ATLSD_LOG_INFO = 6,
		       ATLSD_LOG_DEBUG = 7 };

void atlsd_log_init(const char *ident, int max_level);
void atlsd_log_set_level(int max_level);
/* req_id 0: not about a request. */
void atlsd_log(int level, uint64_t req_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define log_err(id, ...) atlsd_log(ATLSD_LOG_ERR, id, __VA_ARGS__)
#define log_warn(id, ...) atlsd_log(ATLSD_LOG_WARN, id, __VA_ARGS__)
#define log_info(id, ...) atlsd_log(ATLSD_LOG_INFO, id, __VA_ARGS__)
#define log_dbg(id, ...) atlsd_log(ATLSD_LOG_DEBUG, id, __VA_ARGS__)

/* ------------------------------------------------------------- config.c */

/* What a policy asks of the peer and where our key lives: libatls's enums. */

/* One named policy of atlsd.conf: what an application selects in ATLS_START. */
struct atlsd_policy {
	char name[ATLS_POLICY_MAX];
	bool attest;			/* produce our evidence when the peer asks */
	enum atls_peer_attest verify;	/* what we ask of the peer */
	char policy_file[512];		/* libatls appraisal policy (verify != none) */
	char ca_file[512];		/* optional CA bundle for the peer's chain */
	char ciphersuites[160];		/* "" = libatls default */
	uint32_t pcr_mask;		/* PCRs we quote */
	bool batch;			/* offer/accept batched quotes (protocol.rst) */
	uint32_t batch_window_us;	/* 100..1000000, default 20000 */
	uint32_t batch_max;		/* handshakes per quote, 1..1024, default 64 */
};

#define ATLSD_MAX_POLICIES 32

struct atlsd_config {
	char path[512];			/* file read ("" = built-in defaults only) */
	char state_dir[512];		/* AK pub, certificate, trust store, peers policy */
	char run_dir[512];		/* control socket */
	char tcti[256];
	char user[64];			/* "" = stay root */
	char cert_file[512];		/* our TLS certificate */
	char key_file[512];		/* software key mode only */
	enum atls_key_mode key_mode;
	uint32_t ak_handle, tls_key_handle;
	unsigned int workers;
	unsigned int workers_max;	/* 0: 8 x workers, at least 64, at most 1024 */
	int log_level;
	unsigned int n_policies;
	struct atlsd_policy policies[ATLSD_MAX_POLICIES];
};

/* Defaults (no file): path of the state dir etc. from the environment. */
void atlsd_config_defaults(struct atlsd_config *c);
/* Read path over the defaults; a missing file is fine when !must_exist.
 * -errno with a message naming the line in err. */
int atlsd_config_load(struct atlsd_config *c, const char *path, bool must_exist, char *err,
		      size_t errlen);
/* Move the state dir; paths derived from the old one follow. */
void atlsd_config_set_state_dir(struct atlsd_config *c, const char *dir);
const struct atlsd_policy *atlsd_config_policy(const struct atlsd_config *c, const char *name);
/* Paths inside the state directory. */
int atlsd_state_path(const struct atlsd_config *c, const char *name, char *out, size_t len);

/* --------------------------------------------------------- handshake.c */

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
	uint16_t cipher_suite;
	uint64_t handshake_ns;		/* atls_handshake_ex()'s duration, 0 = not run */
};

struct atlsd_engine;
struct atlsd_tpm;

/*
 * The daemon's one TPM connection (reference counted; see handshake.c).
 * Open checks the certificate/key files and that the TPM holds our keys;
 * -errno + message.  The opener holds one reference; put drops one.
 */
int atlsd_tpm_open(const struct atlsd_config *c, struct atlsd_tpm **out, char *err,
		   size_t errlen);
void atlsd_tpm_put(struct atlsd_tpm *t);
const char *atlsd_tpm_tcti(const struct atlsd_tpm *t);

/* Contexts (one libatls context per named policy and role, made on first use),
 * all sharing tpm (the engine takes its own reference). */
int atlsd_engine_new(const struct atlsd_config *c, struct atlsd_tpm *tpm,
		     struct atlsd_engine **out);
void atlsd_engine_get(struct atlsd_engine *e);
void atlsd_engine_put(struct atlsd_engine *e);
/* Build the "default" policy's contexts now (best effort). */
void atlsd_engine_warm(struct atlsd_engine *e);
/* Run the handshake of req; fills out (keys only when status is 0). */
void atlsd_engine_run(struct atlsd_engine *e, const struct atlsd_request *req,
		      struct atlsd_outcome *out);
/*
 * TPM requests completed by the engine's TPM connection and their queue +
 * command time (atls_tpm_stats()).  Every engine borrows the daemon's one
 * connection (SIGHUP keeps it), so these are totals since atlsd started.
 * Never blocks.
 */
void atlsd_engine_tpm_stats(struct atlsd_engine *e, unsigned long *calls,
			    unsigned long long *busy_us);

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

/* Multicast listener (READY/ABORT), owned by the main thread. */
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
};

struct atlsd_pool;

/* workers-max as configured, or 8 x workers within 64..1024; >= workers. */
static inline unsigned int atlsd_workers_max(const struct atlsd_config *c)
{
	unsigned int m = c->workers_max ? c->workers_max : 8 * c->workers;

	if (!c->workers_max && m < 64)
		m = 64;
	if (!c->workers_max && m > 1024)
		m = 1024;
	return m < c->workers ? c->workers : m;
}

/* n workers now, up to max when every worker is busy (worker.c). */
int atlsd_pool_start(unsigned int n, unsigned int max, struct atlsd_engine *e,
		     struct atlsd_pool **out);
/* Swap in a new engine (SIGHUP): requests in progress keep the old one. */
void atlsd_pool_set_engine(struct atlsd_pool *p, struct atlsd_engine *e);
/* Wake idle workers: work may be pending; grow the pool towards @live
 * requests (READY's count; 0 when unknown). */
void atlsd_pool_kick(struct atlsd_pool *p, unsigned int live);
/* The kernel aborted req_id: stop working on it. */
void atlsd_pool_abort(struct atlsd_pool *p, uint64_t req_id);
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

/* ------------------------------------------------------------- util */

/* Hex of n bytes into out (2n+1 bytes). */
void atlsd_hex(const uint8_t *in, size_t n, char *out);
/* CLOCK_MONOTONIC in nanoseconds (the latency split's clock). */
uint64_t atlsd_now_ns(void);

#endif /* ATLSD_H */
