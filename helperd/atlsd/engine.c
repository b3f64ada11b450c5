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
 * Contexts that attest with batching and would sign the same evidence (the
 * client and server role of a policy; policies quoting the same PCRs with
 * the same batch settings) share one batcher, which libatls keeps with the
 * TPM handle and frees with the last context using it, of this engine or an
 * older one still finishing handshakes (protocol.rst, "Batching
 * (attester)"): their leaves fill the same quotes, and the counters below
 * count each batcher once.
 *
 * The TPM connection all contexts borrow is shared_tpm.c's; turning a
 * libatls result into what DONE reports is outcome.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atls/atls.h>
#include <atls/tpm.h>
#include "atlsd.h"

struct atlsd_engine {
	atomic_int refs;
	struct atlsd_config cfg;
	struct atlsd_tpm *tpm;		/* one reference, dropped after the contexts */
	pthread_mutex_t lock;
	/* [policy][ATLS_ROLE_CLIENT or ATLS_ROLE_SERVER] */
	struct atls_ctx *ctx[ATLSD_MAX_POLICIES][ATLS_ROLE_SERVER + 1];
};

void atlsd_engine_tpm_stats(struct atlsd_engine *e, unsigned long *calls,
			    unsigned long long *busy_us)
{
	*calls = 0;
	*busy_us = 0;
	/* Atomic reads in libatls: never waits for the TPM. */
	if (e && e->tpm)
		atls_tpm_stats(atlsd_tpm_handle(e->tpm), calls, busy_us);
}

void atlsd_engine_batch_counters(struct atlsd_engine *e, struct atls_batch_counters *sum)
{
	unsigned long seen[ATLSD_MAX_POLICIES * (ATLS_ROLE_SERVER + 1)];
	struct atls_batch_counters one;
	unsigned int i, r, k, n = 0;

	memset(sum, 0, sizeof(*sum));
	if (!e)
		return;
	/* The lock keeps the context pointers still; libatls locks the rest. */
	pthread_mutex_lock(&e->lock);
	for (i = 0; i < ATLSD_MAX_POLICIES; i++) {
		for (r = ATLS_ROLE_CLIENT; r <= ATLS_ROLE_SERVER; r++) {
			if (!e->ctx[i][r] || atls_ctx_batch_counters(e->ctx[i][r], &one))
				continue;
			/* Contexts that sign the same evidence share a batcher
			 * (the client and server role of a policy): once each. */
			for (k = 0; k < n && seen[k] != one.batcher; k++)
				;
			if (k < n)
				continue;
			seen[n++] = one.batcher;
			sum->quotes += one.quotes;
			sum->leaves += one.leaves;
			sum->closed_full += one.closed_full;
			sum->closed_all_in += one.closed_all_in;
			sum->closed_deadline += one.closed_deadline;
			sum->timed_out += one.timed_out;
			sum->abandoned += one.abandoned;
			if (one.largest > sum->largest)
				sum->largest = one.largest;
		}
	}
	pthread_mutex_unlock(&e->lock);
}

const struct atlsd_config *atlsd_engine_config(const struct atlsd_engine *e)
{
	return &e->cfg;
}

int atlsd_engine_new(const struct atlsd_config *c, struct atlsd_tpm *tpm,
		     struct atlsd_engine **out)
{
	struct atlsd_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	atomic_init(&e->refs, 1);
	e->cfg = *c;
	atlsd_tpm_get(tpm);
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
	ac.tpm = atlsd_tpm_handle(e->tpm);	/* the daemon's one TPM owner, shared */
	ac.tcti = atlsd_tpm_tcti(e->tpm);
	ac.ak_handle = c->ak_handle;
	ac.tls_key_handle = c->tls_key_handle;
	ac.pcr_mask = p->pcr_mask;
	/* Batched quotes (atls.conf(5)); limits checked by config.c. */
	ac.batch = p->batch;
	ac.batch_window_us = p->batch_window_us;
	ac.batch_max = p->batch_max;
	ac.binding = p->binding;
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

void atlsd_engine_run(struct atlsd_engine *e, const struct atlsd_request *req,
		      bool batch_only, struct atlsd_outcome *o)
{
	/* The app's expected peer name (ATLS_START.peer): SNI and, with the
	 * policy's ca-file, checked against the peer's certificate. */
	struct atls_handshake_opts ho = { .peer_name = req->peer[0] ? req->peer : NULL,
					  /* a silent peer is dropped early (atls.conf(5)) */
					  .step_timeout_ms = (int)e->cfg.step_timeout_ms,
					  /* past this address's own quotes: batched only */
					  .batched_evidence_only = batch_only };
	struct atls_result res;
	struct atls_ctx *ctx;
	int ret, timeout;
	uint64_t t0;

	const struct atlsd_policy *pol;

	memset(o, 0, sizeof(*o));
	/*
	 * Authorization (D10, atls.conf(5) "allow") comes first: a refused
	 * requester costs no context, no TPM command and no byte on the wire.
	 */
	pol = atlsd_config_policy(&e->cfg, req->policy);
	if (pol && !atlsd_policy_allows(pol, &req->who, o->text, sizeof(o->text))) {
		o->status = -EACCES;
		o->reason = ATLS_REASON_NOT_AUTHORIZED;
		return;
	}
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
	if (ret)
		atlsd_outcome_failed(ret, &res, o);
	else
		atlsd_outcome_succeeded(&res, o);
	/* Refused for asking for a quote of its own (worker.c counts it). */
	o->solo_refused = ret && batch_only &&
			  res.reason == ATLS_REASON_EVIDENCE_TYPE_REJECTED;
	atls_result_release(&res);
}
