// SPDX-License-Identifier: Apache-2.0
/*
 * A handshake's outcome in the uAPI's terms: libatls's result (its reason,
 * errno, appraisal and claims) -> the completion errno, reason and peer
 * information atlsd reports in DONE.  Every failure is classified by its
 * reason code (and libatls's errno), never by its text.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "atlsd.h"

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
	[ATLS_REASON_BINDING_UNSUPPORTED] = ATLS_REASON_EVIDENCE_MISSING,
};

static enum atls_reason reason_of(enum atls_reason r)
{
	if ((unsigned int)r < __ATLS_REASON_DETAIL_MAX && reported[r])
		return reported[r];
	return ATLS_REASON_HELPER_ERROR;
}

static void set(struct atlsd_outcome *o, int status, enum atls_reason reason)
{
	o->status = status;
	o->reason = reason;
}

/* libatls failure -> completion errno and reason of the uAPI. */
static void map_failure(int ret, const struct atls_result *r, struct atlsd_outcome *o)
{
	o->reason = reason_of(r->reason);
	/* The app's expected peer name did not match the certificate. */
	if (r->reason == ATLS_REASON_PEER_NAME_MISMATCH) {
		set(o, -EKEYREJECTED, ATLS_REASON_PEER_CERT);
		return;
	}
	switch (ret) {
	case -EPROTONOSUPPORT:
		/* binding = "exporter" and the peer does not offer it: the evidence
		 * the policy requires is missing (atls.conf(5)). */
		set(o, -EACCES, ATLS_REASON_EVIDENCE_MISSING);
		return;
	case -ETIMEDOUT:
		set(o, -ETIMEDOUT, ATLS_REASON_TIMEOUT);
		return;
	case -ECONNRESET:
	case -EPIPE:
		set(o, -ECONNRESET, ATLS_REASON_PEER_ABORTED);
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
		set(o, -EIO, ATLS_REASON_LOCAL_TPM);
		return;
	case -EPROTO:
	default:
		break;
	}
	/* The peer's alert, close or reset ends the handshake from its side. */
	if (r->abort_reason == ATLS_REASON_PEER_ABORTED) {
		set(o, -ECONNRESET, ATLS_REASON_PEER_ABORTED);
		return;
	}
	if (r->reason == ATLS_REASON_LOCAL_TPM) {
		set(o, -EIO, ATLS_REASON_LOCAL_TPM);
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

void atlsd_outcome_failed(int ret, const struct atls_result *res, struct atlsd_outcome *o)
{
	map_failure(ret, res, o);
	snprintf(o->text, sizeof(o->text), "%.40s: %.200s", atls_reason_name(res->reason),
		 res->reason_text);
	fill_peer(res, o);
}

void atlsd_outcome_succeeded(const struct atls_result *res, struct atlsd_outcome *o)
{
	if (res->crypto_info_len > ATLSD_KEY_MAX) {
		o->status = -EPROTO;
		o->reason = ATLS_REASON_HELPER_ERROR;
		snprintf(o->text, sizeof(o->text), "key material too large");
		return;
	}
	o->status = 0;
	o->reason = ATLS_REASON_OK;
	o->key_len = res->crypto_info_len;
	memcpy(o->tx, &res->tx, res->crypto_info_len);
	memcpy(o->rx, &res->rx, res->crypto_info_len);
	o->secret_len = res->secret_len;
	memcpy(o->tx_secret, res->tx_secret, res->secret_len);
	memcpy(o->rx_secret, res->rx_secret, res->secret_len);
	fill_peer(res, o);
	snprintf(o->text, sizeof(o->text), "%s, peer %s%s%s%s", res->cipher_name,
		 !res->peer_attested ? "did not attest"
		 : res->appraisal.status == ATLS_EAR_AFFIRMING ? "attested: affirming"
		 : res->appraisal.status == ATLS_EAR_WARNING ? "attested: warning"
							      : "attested",
		 res->self_attested ? ", we attested" : "",
		 res->self_batched && res->peer_batched ? ", batched quotes both ways"
		 : res->self_batched ? ", our quote batched"
		 : res->peer_batched ? ", peer's quote batched" : "",
		 res->binding == ATLS_BINDING_EXPORTER ? ", exporter-bound" : "");
}
