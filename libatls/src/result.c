// SPDX-License-Identifier: Apache-2.0
/*
 * Failure bookkeeping: the reason vocabulary, its errno and the TLS alert we
 * send for it.
 *
 * OpenSSL 3.0 cannot send the draft's own alerts (unsupported_attestation_
 * schemes, attestation_required, attestation_failed have no codepoint and
 * ssl3_send_alert drops unknown codes), so each reason maps to a standard
 * RFC 8446 alert (Documentation/protocol.rst, "Failures, alerts and
 * reasons") and the precise reason travels through
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

/*
 * One name per reason.  The names of the reasons libatls reports are stable
 * (logs, tests and the documentation use them), including where a reason is
 * the uAPI's under another name: ATLS_REASON_AK_UNTRUSTED is "untrusted-ak",
 * _FRESHNESS "binder-mismatch", _EVIDENCE_MISSING "attestation-declined",
 * _LOCAL_TPM "tpm-error", _HANDSHAKE "tls-failure".
 */
static const char *const names[__ATLS_REASON_DETAIL_MAX] = {
	[ATLS_REASON_NONE] = "none",
	[ATLS_REASON_OK] = "ok",
	[ATLS_REASON_NO_HELPER] = "no-helper",
	[ATLS_REASON_TIMEOUT] = "timeout",
	[ATLS_REASON_HELPER_DIED] = "helper-died",
	[ATLS_REASON_APP_CLOSED] = "app-closed",
	[ATLS_REASON_SHUTDOWN] = "shutdown",
	[ATLS_REASON_HANDSHAKE] = "tls-failure",
	[ATLS_REASON_PEER_ABORTED] = "peer-aborted",
	[ATLS_REASON_PEER_CERT] = "peer-cert",
	[ATLS_REASON_EVIDENCE_MISSING] = "attestation-declined",
	[ATLS_REASON_EVIDENCE_INVALID] = "evidence-invalid",
	[ATLS_REASON_AK_UNTRUSTED] = "untrusted-ak",
	[ATLS_REASON_PCR_MISMATCH] = "pcr-mismatch",
	[ATLS_REASON_FRESHNESS] = "binder-mismatch",
	[ATLS_REASON_POLICY_UNKNOWN] = "policy-unknown",
	[ATLS_REASON_LOCAL_TPM] = "tpm-error",
	[ATLS_REASON_BAD_KEYS] = "bad-keys",
	[ATLS_REASON_KEY_INSTALL] = "key-install",
	[ATLS_REASON_PEER_ALERT] = "peer-alert",
	[ATLS_REASON_KEY_UPDATE] = "key-update",
	[ATLS_REASON_RECORD_LIMIT] = "record-limit",
	[ATLS_REASON_BAD_RECORD] = "bad-record",
	[ATLS_REASON_HELPER_ERROR] = "helper-error",
	[ATLS_REASON_NOT_AUTHORIZED] = "not-authorized",
	[ATLS_REASON_PEER_LIMIT] = "peer-limit",
	[ATLS_REASON_NO_EVIDENCE] = "no-evidence",
	[ATLS_REASON_MALFORMED_EVIDENCE] = "malformed-evidence",
	[ATLS_REASON_BAD_SIGNATURE] = "bad-signature",
	[ATLS_REASON_KEY_BINDING_MISMATCH] = "key-binding-mismatch",
	[ATLS_REASON_EVIDENCE_TYPE_REJECTED] = "evidence-type-rejected",
	[ATLS_REASON_WRONG_CERT_ENTRY] = "wrong-certificate-entry",
	[ATLS_REASON_INTERNAL] = "internal",
	[ATLS_REASON_PEER_NAME_MISMATCH] = "peer-name-mismatch",
	[ATLS_REASON_BINDING_UNSUPPORTED] = "binding-unsupported",
};

const char *atls_reason_name(enum atls_reason r)
{
	if ((unsigned int)r >= __ATLS_REASON_DETAIL_MAX || !names[r])
		return "unknown";
	return names[r];
}

int atls_reason_errno(enum atls_reason r)
{
	switch (r) {
	case ATLS_REASON_NONE:
	case ATLS_REASON_NO_EVIDENCE:
		return 0;
	case ATLS_REASON_MALFORMED_EVIDENCE:
	case ATLS_REASON_WRONG_CERT_ENTRY:
		return -EBADMSG;
	case ATLS_REASON_BAD_SIGNATURE:
	case ATLS_REASON_AK_UNTRUSTED:
	case ATLS_REASON_FRESHNESS:
	case ATLS_REASON_KEY_BINDING_MISMATCH:
	case ATLS_REASON_PCR_MISMATCH:
	case ATLS_REASON_EVIDENCE_TYPE_REJECTED:
	case ATLS_REASON_PEER_NAME_MISMATCH:
		return -EKEYREJECTED;
	case ATLS_REASON_EVIDENCE_MISSING:
		return -EACCES;
	case ATLS_REASON_LOCAL_TPM:
		return -EIO;
	case ATLS_REASON_HANDSHAKE:
		return -EPROTO;
	case ATLS_REASON_TIMEOUT:
		return -ETIMEDOUT;
	case ATLS_REASON_BINDING_UNSUPPORTED:
		return -EPROTONOSUPPORT;
	default:
		return -EINVAL;
	}
}

uint8_t atls_reason_alert(enum atls_reason r)
{
	switch (r) {
	case ATLS_REASON_MALFORMED_EVIDENCE:
		return ATLS_ALERT_DECODE_ERROR;
	case ATLS_REASON_WRONG_CERT_ENTRY:
		return ATLS_ALERT_ILLEGAL_PARAMETER;
	case ATLS_REASON_BAD_SIGNATURE:
	case ATLS_REASON_AK_UNTRUSTED:
	case ATLS_REASON_FRESHNESS:
	case ATLS_REASON_KEY_BINDING_MISMATCH:
	case ATLS_REASON_PCR_MISMATCH:
	case ATLS_REASON_PEER_NAME_MISMATCH:
		return ATLS_ALERT_BAD_CERTIFICATE;
	case ATLS_REASON_EVIDENCE_TYPE_REJECTED:
	case ATLS_REASON_EVIDENCE_MISSING:
		return ATLS_ALERT_HANDSHAKE_FAILURE;
	case ATLS_REASON_LOCAL_TPM:
	case ATLS_REASON_INTERNAL:
		return ATLS_ALERT_INTERNAL_ERROR;
	default:
		return ATLS_ALERT_HANDSHAKE_FAILURE;
	}
}

void atls_fail(struct atls_conn *c, int err, enum atls_reason reason, uint8_t alert,
	       const char *fmt, ...)
{
	va_list ap;

	if (!c || c->reason != ATLS_REASON_NONE)
		return;
	c->err = err ? err : atls_reason_errno(reason);
	c->reason = reason;
	c->alert = alert ? alert : atls_reason_alert(reason);
	va_start(ap, fmt);
	vsnprintf(c->text, sizeof(c->text), fmt, ap);
	va_end(ap);
}
