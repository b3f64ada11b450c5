// SPDX-License-Identifier: Apache-2.0
/*
 * The seam between the TLS half (this directory's negotiate.c, binder.c,
 * handshake.c) and the evidence half (evidence.h: TPM owner, CMW, policy).
 *
 * The TLS half calls only the four atls_attest_* functions below.  They map
 * the evidence half's -errno + struct atls_appraisal onto the connection's
 * failure record (reason, alert) and the caller's struct atls_result.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include <atls/policy.h>
#include "evidence.h"
#include "batch.h"

/* Our own evidence, or an identity key that lives in the TPM. */
static bool needs_tpm(const struct atls_config *cfg)
{
	return cfg->attest_self || (cfg->key_mode == ATLS_KEY_TPM && cfg->cert_file);
}

/* What evidence.c needs of the configuration to produce our evidence. */
static struct atls_evidence_params evidence_params(const struct atls_config *cfg)
{
	struct atls_evidence_params p = {
		.key_mode = cfg->key_mode,
		.ak_handle = cfg->ak_handle,
		.tls_key_handle = cfg->tls_key_handle,
		.pcr_bank_alg = (uint8_t)cfg->pcr_bank,
		.pcr_mask = cfg->pcr_mask,
	};

	return p;
}

int atls_attest_ctx_init(struct atls_ctx *ctx)
{
	struct atls_config *cfg = &ctx->cfg;
	char err[256] = "";
	int ret;

	if (needs_tpm(cfg) && cfg->tpm) {
		/* Shared handle: borrowed, its owner outlives this context. */
		ctx->tpm = cfg->tpm;
	} else if (needs_tpm(cfg)) {
		if (!cfg->tcti)
			return -EINVAL;
		ret = atls_tpm_open(cfg->tcti, &ctx->tpm);
		if (ret)
			return ret;
		ctx->tpm_owned = true;
	}
	if (cfg->peer_attest != ATLS_PEER_NONE) {
		if (!cfg->policy_file) {
			ret = -EINVAL;
			goto err_tpm;
		}
		ret = atls_policy_load(cfg->policy_file, &ctx->policy, err, sizeof(err));
		if (ret)
			goto err_tpm;
		/* The policy may make the peer's attestation mandatory. */
		if (atls_policy_role_required(ctx->policy, cfg->role == ATLS_ROLE_CLIENT
								   ? ATLS_ROLE_SERVER
								   : ATLS_ROLE_CLIENT))
			cfg->peer_attest = ATLS_PEER_REQUIRED;
		/* ... and the exporter binding (atls.h, enum atls_binding). */
		if (atls_policy_exporter_required(ctx->policy))
			cfg->binding = ATLS_BINDING_EXPORTER;
	}
	/* Batched quotes (batch.h): attester state and relying-party cache. */
	if (cfg->batch && cfg->attest_self) {
		struct atls_evidence_params p = evidence_params(cfg);

		/* Shared with the contexts on this TPM handle that would sign
		 * the same evidence: their leaves fill the same quotes. */
		ret = atls_batcher_get(ctx->tpm, &p, cfg->batch_window_us, cfg->batch_max,
				       &ctx->batcher);
		if (ret)
			goto err_policy;
	}
	if (cfg->batch && ctx->policy) {
		ret = atls_batch_cache_new(&ctx->batch_cache);
		if (ret)
			goto err_batcher;
	}
	return 0;

err_batcher:
	atls_batcher_put(ctx->batcher);
	ctx->batcher = NULL;
err_policy:
	if (ctx->policy)
		atls_policy_free(ctx->policy);
	ctx->policy = NULL;

err_tpm:
	if (ctx->tpm_owned)
		atls_tpm_close(ctx->tpm);
	ctx->tpm = NULL;
	ctx->tpm_owned = false;
	return ret;
}

int atls_ctx_batch_counters(struct atls_ctx *ctx, struct atls_batch_counters *out)
{
	struct atls_batch_stats st;

	memset(out, 0, sizeof(*out));
	if (!ctx || !ctx->batcher)
		return -ENOENT;
	atls_batcher_counters(ctx->batcher, &st);
	out->quotes = st.batches;
	out->leaves = st.leaves;
	out->closed_full = st.closed_full;
	out->closed_all_in = st.closed_all_in;
	out->closed_deadline = st.closed_deadline;
	out->timed_out = st.timed_out;
	out->abandoned = st.abandoned;
	out->largest = st.largest;
	out->batcher = st.id;
	return 0;
}

void atls_attest_ctx_fini(struct atls_ctx *ctx)
{
	atls_batch_cache_free(ctx->batch_cache);
	atls_batcher_put(ctx->batcher);	/* freed with the last context using it */
	atls_policy_free(ctx->policy);
	if (ctx->tpm_owned)
		atls_tpm_close(ctx->tpm);
	ctx->batch_cache = NULL;
	ctx->batcher = NULL;
	ctx->policy = NULL;
	ctx->tpm = NULL;
	ctx->tpm_owned = false;
}

int atls_attest_produce(struct atls_conn *c, const uint8_t *binder, size_t blen,
			uint8_t **cmw, size_t *cmw_len)
{
	const struct atls_config *cfg = &c->ctx->cfg;
	struct atls_evidence_params p = evidence_params(cfg);
	int ret;

	if (!c->ctx->tpm) {
		atls_fail(c, -ENODEV, ATLS_REASON_LOCAL_TPM, 0, "no TPM configured");
		return -ENODEV;
	}
	if (c->self_batch)
		ret = atls_batcher_produce(c->ctx->batcher, binder, blen, cmw, cmw_len);
	else
		ret = atls_evidence_produce(c->ctx->tpm, &p, binder, blen, cmw, cmw_len);
	if (ret == -ETIMEDOUT)	/* the handshake's deadline passed in the TPM queue */
		atls_fail(c, ret, ATLS_REASON_TIMEOUT, 0, "TPM busy past the handshake's deadline");
	else if (ret)
		atls_fail(c, ret, ATLS_REASON_LOCAL_TPM, 0, "producing evidence failed: %s",
			  strerror(-ret));
	return ret;
}

int atls_attest_appraise(struct atls_conn *c, const uint8_t *cmw, size_t len,
			 const uint8_t *binder, size_t blen, const uint8_t *spki, size_t spki_len)
{
	struct atls_result *res = c->res;
	int peer_role = c->ctx->cfg.role == ATLS_ROLE_CLIENT ? ATLS_ROLE_SERVER : ATLS_ROLE_CLIENT;
	enum atls_reason r;
	int ret;

	if (!c->ctx->policy) {
		atls_fail(c, -EINVAL, ATLS_REASON_INTERNAL, 0, "no policy to appraise evidence");
		return -EINVAL;
	}
	memset(&res->appraisal, 0, sizeof(res->appraisal));
	if (c->peer_batch)
		ret = atls_batch_appraise(c->ctx->batch_cache, c->ctx->policy, peer_role, cmw, len,
					  binder, blen, spki, spki_len, &res->peer_claims,
					  &res->appraisal);
	else
		ret = atls_evidence_appraise(c->ctx->policy, peer_role, cmw, len, binder, blen,
					     spki, spki_len, &res->peer_claims, &res->appraisal);
	if (!ret) {
		res->peer_attested = true;
		res->peer_batched = c->peer_batch;
		return 0;
	}
	r = res->appraisal.reason;
	if (r == ATLS_REASON_NONE)
		r = ret == -EBADMSG ? ATLS_REASON_MALFORMED_EVIDENCE : ATLS_REASON_INTERNAL;
	if (res->appraisal.status == ATLS_EAR_NONE)
		res->appraisal.status = ATLS_EAR_CONTRAINDICATED;
	atls_fail(c, ret, r, 0, "peer evidence rejected: %s",
		  res->appraisal.text[0] ? res->appraisal.text : atls_reason_name(r));
	return ret;
}
