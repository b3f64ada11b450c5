/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one header holding every on-the-wire constant of our profile of
 * draft-fossati-seat-early-attestation-07 (the `remoteAttestation` extension).
 * No IANA allocation exists yet: the codepoint is private use and all labels
 * and media types are kept here so they can follow the draft.
 * Documentation/protocol.rst describes the bytes of each message.
 */
#ifndef ATLS_WIRE_H
#define ATLS_WIRE_H

/* TLS ExtensionType (private-use range; 0xFF00 avoided: used by others for expat). */
#define ATLS_EXT_TYPE 0xFFA0

/*
 * atls_binding extension (protocol.rst, "Exporter-bound attestation"): in the
 * ClientHello a list of binding modes the client asks for (u8 length ||
 * modes), in EncryptedExtensions the one mode the server chose (one byte).
 * Private use, next to ATLS_EXT_TYPE; absent = the handshake binder.
 */
#define ATLS_EXT_BINDING 0xFFA2
#define ATLS_BINDING_MODE_EXPORTER 1	/* evidence in Exported Authenticators */
#define ATLS_BINDING_MODES_MAX 16	/* modes per ClientHello list considered */

/*
 * cmw_attestation extension of an Exported Authenticator
 * (draft-fossati-seat-expat; "TBD" there, no IANA value): private use.
 */
#define ATLS_EXT_CMW_ATTESTATION 0xFFA1

/* AttestationScheme.mechanism */
#define ATLS_MECH_EVIDENCE 0
#define ATLS_MECH_RESULT 1

/* EvidenceType.type_encoding */
#define ATLS_ENC_CONTENT_FORMAT 0
#define ATLS_ENC_MEDIA_TYPE 1

/* Media type of our TPM 2.0 evidence (Parsec/Veraison key+platform attestation). */
#define ATLS_MT_TPM_EVIDENCE "application/vnd.parallaxsecond.key-attestation.tpm"

/*
 * Batched TPM evidence (libatls/src/batch.h, protocol.rst "Batched quotes"):
 * one quote over a hash tree of binders + this handshake's inclusion path.
 * Offered beside ATLS_MT_TPM_EVIDENCE; a peer without it picks that one.
 */
#define ATLS_MT_TPM_BATCH "application/vnd.atls.tpm-batch-evidence"

/* Passport (attestation result) media type: reserved, not implemented yet. */
#define ATLS_MT_EAR "application/eat+jwt; eat_profile=\"tag:github.com,2023:veraison/ear\""

/* HKDF-Expand-Label labels of the binder (the "tls13 " prefix is added by the KDF). */
#define ATLS_LABEL_ATTEST_BASE "attestation base"
#define ATLS_LABEL_ATTEST "attestation"

/*
 * The custom-extension API of OpenSSL frames extension_data with a u16, so a
 * Certificate-entry extension (u24 length + CMW) holds at most 65535 - 3 bytes
 * of CMW although the draft allows 2^24-1.
 */
#define ATLS_CMW_MAX (65535 - 3)

/* Length limits we accept when parsing a peer's ClientHello extension. */
#define ATLS_MEDIA_TYPE_MAX 255		/* one media type / verifier identity */
#define ATLS_SCHEMES_MAX 16		/* schemes per list considered */

/*
 * TLS alerts (RFC 8446 §6) used to report attestation failures
 * (Documentation/protocol.rst, "Failures, alerts and reasons").
 */
#define ATLS_ALERT_UNEXPECTED_MESSAGE 10
#define ATLS_ALERT_HANDSHAKE_FAILURE 40
#define ATLS_ALERT_BAD_CERTIFICATE 42
#define ATLS_ALERT_ILLEGAL_PARAMETER 47
#define ATLS_ALERT_ACCESS_DENIED 49
#define ATLS_ALERT_DECODE_ERROR 50
#define ATLS_ALERT_INTERNAL_ERROR 80
#define ATLS_ALERT_MISSING_EXTENSION 109

#endif /* ATLS_WIRE_H */
