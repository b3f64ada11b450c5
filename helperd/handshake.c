// SPDX-License-Identifier: Apache-2.0
/*
 * The engine: libatls contexts for the named policies, and one handshake
 * per accepted request, its outcome translated into the uAPI's vocabulary.
 *
 * A libatls context is immutable and shared by concurrent handshakes; one
 * exists per (named policy, role), built on first use, because building one
 * opens the TPM and loads the appraisal policy.  A context that cannot be
 * built (TPM gone, policy file broken) is not cached: the next request tries
 * again, so fixing the file helps without a restart, and the failure is
 * reported to the application as EIO/ENOENT, never as success.
 *
 * Lifetime: an engine belongs to one configuration.  SIGHUP builds a new
 * engine and the pool swaps it in; every worker holds a reference (get/put)
 * for the duration of one handshake, so the old contexts are freed only
 * when the last handshake using them is over.  The cache is guarded by the
 * engine's mutex; building a context happens under it too (requests for a
 * policy whose context is being built wait instead of building a second).
 *
 * The TPM: the daemon opens exactly one connection (struct atlsd_tpm, one
 * libatls TPM owner thread) and every context of every engine borrows it
 * through struct atls_config.tpm, so all signatures, certifies and quotes
 * of all policies queue at one owner (DESIGN.md D6).  libatls requires the
 * handle to outlive every context using it; struct atlsd_tpm is therefore
 * reference counted: main() holds one reference and each engine one, taken
 * in atlsd_engine_new() and dropped after its contexts are freed in the last
 * atlsd_engine_put(), so the connection is closed only after the last
 * context is gone, whichever of main() and a late engine reference (a
 * handshake or warm-up still running) lets go last.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <atls/atls.h>
#include <atls/provision.h>
#include <atls/tpm.h>
#include "atlsd.h"

struct atlsd_tpm {
	atomic_int refs;
	struct atls_tpm *t;
	char tcti[256];			/* what it was opened with (reload compares) */
};

struct atlsd_engine {
	atomic_int refs;
	struct atlsd_config cfg;
	struct atlsd_tpm *tpm;		/* one reference, dropped after the contexts */
	pthread_mutex_t lock;
	/* [policy][ATLS_ROLE_CLIENT or ATLS_ROLE_SERVER] */
	struct atls_ctx *ctx[ATLSD_MAX_POLICIES][ATLS_ROLE_SERVER + 1];
};

static void tpm_get(struct atlsd_tpm *t)
{
	atomic_fetch_add(&t->refs, 1);
}

void atlsd_tpm_put(struct atlsd_tpm *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	atls_tpm_close(t->t);
	free(t);
}

int atlsd_tpm_open(const struct atlsd_config *c, struct atlsd_tpm **out, char *err,
		   size_t errlen)
{
	struct atlsd_tpm *t;
	int ret;

	*out = NULL;
	if (access(c->cert_file, R_OK)) {
		snprintf(err, errlen, "no TLS certificate at %s (run `atlsctl provision`)",
			 c->cert_file);
		return -ENOENT;
	}
	if (c->key_mode == ATLS_KEY_SOFTWARE && access(c->key_file, R_OK)) {
		snprintf(err, errlen, "no software TLS key at %s (run `atlsctl provision "
			 "--software`)", c->key_file);
		return -ENOENT;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	atomic_init(&t->refs, 1);
	snprintf(t->tcti, sizeof(t->tcti), "%s", c->tcti);
	ret = atls_tpm_open(c->tcti, &t->t);
	if (ret) {
		snprintf(err, errlen, "cannot open the TPM (%s): %s", c->tcti, strerror(-ret));
		free(t);
		return ret;
	}
	ret = atls_tpm_key_present(t->t, c->ak_handle);
	if (!ret && c->key_mode == ATLS_KEY_TPM)
		ret = atls_tpm_key_present(t->t, c->tls_key_handle);
	if (ret) {
		snprintf(err, errlen, "the TPM has no %s key at its handle (run `atlsctl provision`): %s",
			 "attestation or TLS", strerror(-ret));
		atlsd_tpm_put(t);
		return ret;
	}
	*out = t;
	return 0;
}

const char *atlsd_tpm_tcti(const struct atlsd_tpm *t)
{
	return t->tcti;
}

void atlsd_engine_tpm_stats(struct atlsd_engine *e, unsigned long *calls,
			    unsigned long long *busy_us)
{
	*calls = 0;
	*busy_us = 0;
	/* Atomic reads in libatls: never waits for the TPM. */
	if (e && e->tpm)
		atls_tpm_stats(e->tpm->t, calls, busy_us);
}

int atlsd_engine_new(const struct atlsd_config *c, struct atlsd_tpm *tpm,
		     struct atlsd_engine **out)
{
	struct atlsd_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	atomic_init(&e->refs, 1);
	e->cfg = *c;
	tpm_get(tpm);
	e->tpm = tpm;
	pthread_mutex_init(&e->lock, NULL);
	*out = e;
	return 0;
}

void atlsd_engine_get(struct atlsd_engine *e)
{
	atomic_fetch_add(&e->refs, 1);
}

void atlsd_engine_put(struct atlsd_engine *e)
{
	unsigned int i;

	if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	for (i = 0; i < ATLSD_MAX_POLICIES; i++) {
		atls_ctx_free(e->ctx[i][ATLS_ROLE_CLIENT]);
		atls_ctx_free(e->ctx[i][ATLS_ROLE_SERVER]);
	}
	/* Only now: no context of this engine uses the shared TPM any more. */
	atlsd_tpm_put(e->tpm);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static int build_ctx(const struct atlsd_engine *e, const struct atlsd_policy *p,
		     enum atls_role role, struct atls_ctx **out)
{
	const struct atlsd_config *c = &e->cfg;
	struct atls_config ac;

	atls_config_init(&ac, role);
	ac.key_mode = c->key_mode;
	ac.attest_self = p->attest;
	ac.peer_attest = p->verify;
	ac.cert_file = c->cert_file;
	ac.key_file = c->key_mode == ATLS_KEY_SOFTWARE ? c->key_file : NULL;
	ac.ca_file = p->ca_file[0] ? p->ca_file : NULL;
	ac.ciphersuites = p->ciphersuites[0] ? p->ciphersuites : NULL;
	ac.tpm = e->tpm->t;	/* the daemon's one TPM owner, shared */
	ac.tcti = e->tpm->tcti;
	ac.ak_handle = c->ak_handle;
	ac.tls_key_handle = c->tls_key_handle;
	ac.pcr_mask = p->pcr_mask;
	/* Batched quotes (atls.conf(5)); limits checked by config.c. */
	ac.batch = p->batch;
	ac.batch_window_us = p->batch_window_us;
	ac.batch_max = p->batch_max;
	ac.policy_file = p->verify != ATLS_PEER_NONE ? p->policy_file : NULL;
	/* A client that neither attests nor runs in TPM key mode needs no identity. */
	if (role == ATLS_ROLE_CLIENT && !p->attest && c->key_mode == ATLS_KEY_SOFTWARE)
		ac.cert_file = ac.key_file = NULL;
	return atls_ctx_new(&ac, out);
}

/* The context for (policy, role), built if needed.  Engine lock not held. */
static int get_ctx(struct atlsd_engine *e, const struct atlsd_request *req,
		   struct atls_ctx **out, uint64_t id)
{
	const struct atlsd_policy *p = atlsd_config_policy(&e->cfg, req->policy);
	unsigned int idx;
	int err = 0;

	if (!p)
		return -ENOENT;
	idx = (unsigned int)(p - e->cfg.policies);
	pthread_mutex_lock(&e->lock);
	if (!e->ctx[idx][req->role]) {
		err = build_ctx(e, p, req->role, &e->ctx[idx][req->role]);
		if (err)
			log_err(id, "policy \"%s\" (%s): cannot set up: %s (TPM %s, certificate %s%s%s)",
				p->name, req->role == ATLS_ROLE_CLIENT ? "client" : "server",
				strerror(-err), e->cfg.tcti, e->cfg.cert_file,
				p->verify != ATLS_PEER_NONE ? ", appraisal policy " : "",
				p->verify != ATLS_PEER_NONE ? p->policy_file : "");
	}
	*out = e->ctx[idx][req->role];
	pthread_mutex_unlock(&e->lock);
	return err;
}

/*
 * Build the contexts of the "default" policy ahead of the first request
 * (opening the TPM and loading the key and policy take seconds on a slow
 * TPM).  Failures are only logged at debug level here: a host without peers
 * yet has no peers.policy, and the first request will report it properly.
 */
void atlsd_engine_warm(struct atlsd_engine *e)
{
	const struct atlsd_policy *p = atlsd_config_policy(&e->cfg, "default");
	enum atls_role r;
	unsigned int idx;

	if (!p)
		return;
	idx = (unsigned int)(p - e->cfg.policies);
	for (r = ATLS_ROLE_CLIENT; r <= ATLS_ROLE_SERVER; r++) {
		pthread_mutex_lock(&e->lock);
		if (!e->ctx[idx][r] && build_ctx(e, p, r, &e->ctx[idx][r]))
			log_dbg(0, "policy \"default\" (%s) not ready yet",
				r == ATLS_ROLE_CLIENT ? "client" : "server");
		pthread_mutex_unlock(&e->lock);
	}
}

/*
 * libatls's reason -> the reason atlsd reports in DONE (the kernel takes only
 * those below __ATLS_REASON_MAX).  Anything not listed: HELPER_ERROR.
 */
static const enum atls_reason reported[__ATLS_REASON_DETAIL_MAX] = {
	[ATLS_REASON_MALFORMED_EVIDENCE] = ATLS_REASON_EVIDENCE_INVALID,
	[ATLS_REASON_BAD_SIGNATURE] = ATLS_REASON_EVIDENCE_INVALID,
	[ATLS_REASON_KEY_BINDING_MISMATCH] = ATLS_REASON_EVIDENCE_INVALID,
	[ATLS_REASON_EVIDENCE_TYPE_REJECTED] = ATLS_REASON_EVIDENCE_INVALID,
	[ATLS_REASON_WRONG_CERT_ENTRY] = ATLS_REASON_EVIDENCE_INVALID,
	[ATLS_REASON_AK_UNTRUSTED] = ATLS_REASON_AK_UNTRUSTED,
	[ATLS_REASON_FRESHNESS] = ATLS_REASON_FRESHNESS,
	[ATLS_REASON_PCR_MISMATCH] = ATLS_REASON_PCR_MISMATCH,
	[ATLS_REASON_EVIDENCE_MISSING] = ATLS_REASON_EVIDENCE_MISSING,
	[ATLS_REASON_NO_EVIDENCE] = ATLS_REASON_EVIDENCE_MISSING,
	[ATLS_REASON_LOCAL_TPM] = ATLS_REASON_LOCAL_TPM,
	[ATLS_REASON_TIMEOUT] = ATLS_REASON_TIMEOUT,
	[ATLS_REASON_HANDSHAKE] = ATLS_REASON_HANDSHAKE,
	[ATLS_REASON_PEER_NAME_MISMATCH] = ATLS_REASON_PEER_CERT,
};

static enum atls_reason reason_of(enum atls_reason r)
{
	if ((unsigned int)r < __ATLS_REASON_DETAIL_MAX && reported[r])
		return reported[r];
	return ATLS_REASON_HELPER_ERROR;
}

/* libatls failure -> completion errno and reason of the uAPI. */
static void map_failure(int ret, const struct atls_result *r, struct atlsd_outcome *o)
{
	o->reason = reason_of(r->reason);
	/* The app's expected peer name did not match the certificate. */
	if (r->reason == ATLS_REASON_PEER_NAME_MISMATCH) {
		o->status = -EKEYREJECTED;
		o->reason = ATLS_REASON_PEER_CERT;
		return;
	}
	switch (ret) {
	case -ETIMEDOUT:
		o->status = -ETIMEDOUT;
		o->reason = ATLS_REASON_TIMEOUT;
		return;
	case -ECONNRESET:
	case -EPIPE:
		o->status = -ECONNRESET;
		o->reason = ATLS_REASON_PEER_ABORTED;
		return;
	case -EKEYREJECTED:
	case -EBADMSG:
	case -EACCES:
		o->status = -EACCES;	/* evidence rejected, malformed or missing */
		if (o->reason == ATLS_REASON_HELPER_ERROR || o->reason == ATLS_REASON_HANDSHAKE)
			o->reason = ATLS_REASON_EVIDENCE_INVALID;
		return;
	case -ENODEV:
	case -EIO:
		o->status = -EIO;
		o->reason = ATLS_REASON_LOCAL_TPM;
		return;
	case -EPROTO:
	default:
		break;
	}
	/* The peer's alert, close or reset ends the handshake from its side. */
	if (r->abort_reason == ATLS_REASON_PEER_ABORTED) {
		o->status = -ECONNRESET;
		o->reason = ATLS_REASON_PEER_ABORTED;
		return;
	}
	if (r->reason == ATLS_REASON_LOCAL_TPM) {
		o->status = -EIO;
		o->reason = ATLS_REASON_LOCAL_TPM;
		return;
	}
	o->status = -EPROTO;
	if (o->reason != ATLS_REASON_HELPER_ERROR)
		o->reason = ATLS_REASON_HANDSHAKE;
}

static void fill_peer(const struct atls_result *r, struct atlsd_outcome *o)
{
	struct atlsd_peer *p = &o->peer;

	memset(p, 0, sizeof(*p));
	o->have_peer = true;
	switch (r->appraisal.status) {	/* EAR trust tier -> uAPI verdict */
	case ATLS_EAR_AFFIRMING: p->verdict = ATLS_VERDICT_AFFIRMING; break;
	case ATLS_EAR_WARNING: p->verdict = ATLS_VERDICT_WARNING; break;
	case ATLS_EAR_CONTRAINDICATED: p->verdict = ATLS_VERDICT_CONTRAINDICATED; break;
	default: p->verdict = ATLS_VERDICT_NONE; break;
	}
	p->reason = r->err ? o->reason : (r->peer_attested ? ATLS_REASON_OK : ATLS_REASON_NONE);
	if (r->err && r->appraisal.reason != ATLS_REASON_NONE)
		p->reason = reason_of(r->appraisal.reason);
	p->flags = (r->peer_attested ? ATLS_PEER_F_PEER_ATTESTED : 0) |
		   (r->self_attested ? ATLS_PEER_F_SELF_ATTESTED : 0);
	if (r->have_peer_cert) {
		p->have_cert = true;
		memcpy(p->cert_sha256, r->peer_cert_sha256, 32);
	}
	if (r->peer_claims.evidence_type != ATLS_EVIDENCE_NONE) {
		p->have_claims = true;
		p->evidence_type = r->peer_claims.evidence_type;
		memcpy(p->ak_digest, r->peer_claims.ak_sha256, 32);
		p->pcr_bank = r->peer_claims.pcr_bank;
		p->pcr_select = r->peer_claims.pcr_mask;
		p->pcr_digest_len = r->peer_claims.pcr_digest_len > ATLS_DIGEST_MAX
					    ? ATLS_DIGEST_MAX : r->peer_claims.pcr_digest_len;
		memcpy(p->pcr_digest, r->peer_claims.pcr_digest, p->pcr_digest_len);
	}
}

void atlsd_engine_run(struct atlsd_engine *e, const struct atlsd_request *req,
		      struct atlsd_outcome *o)
{
	/* The app's expected peer name (ATLS_START.peer): SNI and, with the
	 * policy's ca-file, checked against the peer's certificate. */
	struct atls_handshake_opts ho = { .peer_name = req->peer[0] ? req->peer : NULL };
	struct atls_result res;
	struct atls_ctx *ctx;
	int ret, timeout;
	uint64_t t0;

	memset(o, 0, sizeof(*o));
	ret = get_ctx(e, req, &ctx, req->id);
	if (ret == -ENOENT && !atlsd_config_policy(&e->cfg, req->policy)) {
		o->status = -ENOENT;
		o->reason = ATLS_REASON_POLICY_UNKNOWN;
		snprintf(o->text, sizeof(o->text), "unknown policy \"%s\"", req->policy);
		return;
	}
	if (ret) {
		o->status = -EIO;
		o->reason = ATLS_REASON_LOCAL_TPM;
		snprintf(o->text, sizeof(o->text), "policy \"%s\" unusable: %s",
			 req->policy[0] ? req->policy : "default", strerror(-ret));
		return;
	}
	/* Leave the kernel's timer the last word: finish a little before it. */
	timeout = req->timeout_ms ? (int)req->timeout_ms : 10000;
	timeout = timeout > 400 ? timeout - 200 : timeout;
	memset(&res, 0, sizeof(res));
	/* The latency split's "handshake" phase (worker.c): libatls alone. */
	t0 = atlsd_now_ns();
	ret = atls_handshake_ex(ctx, req->fd, timeout, &ho, &res);
	o->handshake_ns = atlsd_now_ns() - t0;
	o->cipher_suite = res.cipher_suite;
	if (ret) {
		map_failure(ret, &res, o);
		snprintf(o->text, sizeof(o->text), "%.40s: %.200s", atls_reason_name(res.reason),
			 res.reason_text);
		fill_peer(&res, o);
		atls_result_release(&res);
		return;
	}
	if (res.crypto_info_len > ATLSD_KEY_MAX) {
		o->status = -EPROTO;
		o->reason = ATLS_REASON_HELPER_ERROR;
		snprintf(o->text, sizeof(o->text), "key material too large");
		atls_result_release(&res);
		return;
	}
	o->status = 0;
	o->reason = ATLS_REASON_OK;
	o->key_len = res.crypto_info_len;
	memcpy(o->tx, &res.tx, res.crypto_info_len);
	memcpy(o->rx, &res.rx, res.crypto_info_len);
	fill_peer(&res, o);
	snprintf(o->text, sizeof(o->text), "%s, peer %s%s%s", res.cipher_name,
		 !res.peer_attested ? "did not attest"
		 : res.appraisal.status == ATLS_EAR_AFFIRMING ? "attested: affirming"
		 : res.appraisal.status == ATLS_EAR_WARNING ? "attested: warning"
							     : "attested",
		 res.self_attested ? ", we attested" : "",
		 res.self_batched && res.peer_batched ? ", batched quotes both ways"
		 : res.self_batched ? ", our quote batched"
		 : res.peer_batched ? ", peer's quote batched" : "");
	atls_result_release(&res);
}
