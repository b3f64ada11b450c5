// SPDX-License-Identifier: Apache-2.0
/*
 * Failure bookkeeping: the reason vocabulary, its errno and the TLS alert we
 * send for it.
 *
 * OpenSSL 3.0 cannot send the draft's own alerts (unsupported_attestation_
 * schemes, attestation_required, attestation_failed have no codepoint and
 * ssl3_send_alert drops unknown codes), so each reason maps to a standard
 * RFC 8446 alert (protocol.md §7.9) and the precise reason travels through
 * the API (struct atls_result) only:
 *
 *   malformed extension/evidence          decode_error (50)
 *   evidence on a certificate entry != 0  illegal_parameter (47)
 *   attestation required, peer declined   handshake_failure (40) (we ask
 *                                         for missing_extension when the
 *                                         ClientHello lacks the extension,
 *                                         but OpenSSL 3.0 sends 40 for any
 *                                         ClientHello-callback error)
 *   no common scheme / type rejected      handshake_failure (40)
 *   appraisal failed (signature, AK,      bad_certificate (42)
 *     binder, key binding, PCRs)
 *   our TPM / internal failure            internal_error (80)
 *
 * Callbacks call atls_fail(); the first failure of a connection wins, because
 * later ones are consequences (OpenSSL unwinding, the peer's alert).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static const char *const names[ATLS_R_MAX] = {
	[ATLS_R_NONE] = "none",
	[ATLS_R_NO_EVIDENCE] = "no-evidence",
	[ATLS_R_MALFORMED_EVIDENCE] = "malformed-evidence",
	[ATLS_R_BAD_SIGNATURE] = "bad-signature",
	[ATLS_R_UNTRUSTED_AK] = "untrusted-ak",
	[ATLS_R_BINDER_MISMATCH] = "binder-mismatch",
	[ATLS_R_KEY_BINDING_MISMATCH] = "key-binding-mismatch",
	[ATLS_R_PCR_MISMATCH] = "pcr-mismatch",
	[ATLS_R_EVIDENCE_TYPE_REJECTED] = "evidence-type-rejected",
	[ATLS_R_WRONG_CERT_ENTRY] = "wrong-certificate-entry",
	[ATLS_R_ATTESTATION_DECLINED] = "attestation-declined",
	[ATLS_R_TPM_ERROR] = "tpm-error",
	[ATLS_R_TLS_FAILURE] = "tls-failure",
	[ATLS_R_TIMEOUT] = "timeout",
	[ATLS_R_INTERNAL] = "internal",
	[ATLS_R_PEER_NAME_MISMATCH] = "peer-name-mismatch",
};

const char *atls_reason_name(enum atls_reason r)
{
	if ((unsigned int)r >= ATLS_R_MAX || !names[r])
		return "unknown";
	return names[r];
}

int atls_reason_errno(enum atls_reason r)
{
	switch (r) {
	case ATLS_R_NONE:
	case ATLS_R_NO_EVIDENCE:
		return 0;
	case ATLS_R_MALFORMED_EVIDENCE:
	case ATLS_R_WRONG_CERT_ENTRY:
		return -EBADMSG;
	case ATLS_R_BAD_SIGNATURE:
	case ATLS_R_UNTRUSTED_AK:
	case ATLS_R_BINDER_MISMATCH:
	case ATLS_R_KEY_BINDING_MISMATCH:
	case ATLS_R_PCR_MISMATCH:
	case ATLS_R_EVIDENCE_TYPE_REJECTED:
	case ATLS_R_PEER_NAME_MISMATCH:
		return -EKEYREJECTED;
	case ATLS_R_ATTESTATION_DECLINED:
		return -EACCES;
	case ATLS_R_TPM_ERROR:
		return -EIO;
	case ATLS_R_TLS_FAILURE:
		return -EPROTO;
	case ATLS_R_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EINVAL;
	}
}

uint8_t atls_reason_alert(enum atls_reason r)
{
	switch (r) {
	case ATLS_R_MALFORMED_EVIDENCE:
		return ATLS_ALERT_DECODE_ERROR;
	case ATLS_R_WRONG_CERT_ENTRY:
		return ATLS_ALERT_ILLEGAL_PARAMETER;
	case ATLS_R_BAD_SIGNATURE:
	case ATLS_R_UNTRUSTED_AK:
	case ATLS_R_BINDER_MISMATCH:
	case ATLS_R_KEY_BINDING_MISMATCH:
	case ATLS_R_PCR_MISMATCH:
	case ATLS_R_PEER_NAME_MISMATCH:
		return ATLS_ALERT_BAD_CERTIFICATE;
	case ATLS_R_EVIDENCE_TYPE_REJECTED:
	case ATLS_R_ATTESTATION_DECLINED:
		return ATLS_ALERT_HANDSHAKE_FAILURE;
	case ATLS_R_TPM_ERROR:
	case ATLS_R_INTERNAL:
		return ATLS_ALERT_INTERNAL_ERROR;
	default:
		return ATLS_ALERT_HANDSHAKE_FAILURE;
	}
}

void atls_fail(struct atls_conn *c, int err, enum atls_reason reason, uint8_t alert,
	       const char *fmt, ...)
{
	va_list ap;

	if (!c || c->reason != ATLS_R_NONE)
		return;
	c->err = err ? err : atls_reason_errno(reason);
	c->reason = reason;
	c->alert = alert ? alert : atls_reason_alert(reason);
	va_start(ap, fmt);
	vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
}
