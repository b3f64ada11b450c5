/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CMW record and evidence map (cmw.c), Documentation/evidence.rst,
 * "Evidence map and CMW":
 *
 *   CMW     = [ "application/vnd.parallaxsecond.key-attestation.tpm", bstr(map) ]
 *   map     = { ? "kat": kat, "pat": pat }            (deterministic CBOR)
 *   kat     = { "kid": bstr, "sig": bstr, "tpmVer": "2.0",
 *               "pubArea": bstr, "certInfo": bstr }
 *   pat     = { "kid": bstr, "sig": bstr, "tpmVer": "2.0", "attestInfo": bstr }
 *
 * kid = 0x01 (UEID type RAND) || SHA-256(DER SPKI of the AK), 33 bytes.
 * sig = marshalled TPMT_SIGNATURE, certInfo/attestInfo = TPMS_ATTEST,
 * pubArea = TPMT_PUBLIC of the certified TLS key.
 *
 * The decoder accepts exactly the bytes the encoder would produce for the
 * same content (it re-encodes and compares), so there is one encoding of any
 * evidence: no indefinite lengths, no non-minimal heads, no duplicate or
 * unknown keys, no trailing bytes.
 */
#ifndef ATLS_CMW_H
#define ATLS_CMW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATLS_KID_LEN 33
#define ATLS_EV_BLOB_MAX 1024	/* cap on sig / attest / pubArea byte strings */

struct atls_blob {
	uint8_t b[ATLS_EV_BLOB_MAX];
	size_t len;
};

struct atls_evidence_map {
	bool has_kat;
	struct {
		uint8_t kid[ATLS_KID_LEN];
		struct atls_blob sig, cert_info, pub_area;
	} kat;
	struct {
		uint8_t kid[ATLS_KID_LEN];
		struct atls_blob sig, attest_info;
	} pat;
};

/* Encode ev as a CMW record (malloc'ed).  -errno. */
int atls_cmw_encode(const struct atls_evidence_map *ev, uint8_t **out, size_t *len);

/*
 * Decode a CMW record.  -EBADMSG: malformed or non-canonical; -EMEDIUMTYPE:
 * well-formed CMW but not our media type (or a CoAP content format, or a JSON
 * / tag / collection CMW); -E2BIG: over ATLS_CMW_MAX.
 */
int atls_cmw_decode(const uint8_t *cmw, size_t len, struct atls_evidence_map *ev);

/* Strict well-formedness check of one CBOR data item filling b[0..len): only
 * major types 0, 2, 3, 4, 5, definite lengths, minimal heads, nesting <= depth.
 * Exposed for tests.  0 or -EBADMSG. */
int atls_cbor_strict_check(const uint8_t *b, size_t len, unsigned int depth);

#endif /* ATLS_CMW_H */
