// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the remoteAttestation extension parsers (ext.c) for each
 * message (ClientHello, EncryptedExtensions/CertificateRequest, Certificate
 * entry) and the transcript framing walk (binder.c).  The first input byte
 * picks the parser; the rest is the extension body.  Invariants checked:
 * a parsed Certificate entry points inside the input with the u24 length it
 * announced, a parsed ClientHello has at least one scheme and at most
 * ATLS_SCHEMES_MAX per list, and our own builders' output parses back.
 *
 * Seeds: with ATLS_FUZZ_SEED_DIR set, LLVMFuzzerInitialize() writes one
 * valid input per parser there (fuzz_check.sh passes it as the corpus).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "../src/internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_seeds(const char *dir)
{
	static const uint8_t cert[] = { 0x00, 0x00, 0x04, 0x82, 0x61, 0x61, 0x40 };
	static const uint8_t msgs[] = { 0x01, 0x00, 0x00, 0x01, 0xaa, 0x02, 0x00, 0x00, 0x01, 0xbb };
	uint8_t *b;
	size_t n;

	if (!atls_ext_build_ch(true, true, &b, &n))
		tl_fuzz_seed_free(dir, "seed-ch", 0, b, n);
	if (!atls_ext_build_scheme(&b, &n))
		tl_fuzz_seed_free(dir, "seed-scheme", 1, b, n);
	tl_fuzz_seed(dir, "seed-cert", 2, cert, sizeof(cert));
	tl_fuzz_seed(dir, "seed-transcript", 3, msgs, sizeof(msgs));
}

TL_FUZZ_SEEDS(write_seeds)

static void check_builders(void)
{
	struct atls_ch_offer off;
	uint8_t *b;
	size_t n;

	if (atls_ext_build_ch(true, true, &b, &n) == 0) {
		if (atls_ext_parse_ch(b, n, &off) || !off.server_tpm || !off.client_tpm)
			abort();
		free(b);
	}
	if (atls_ext_build_scheme(&b, &n) == 0) {
		if (atls_ext_parse_chosen(b, n) != 1)
			abort();
		free(b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	struct atls_ch_offer off;
	const uint8_t *cmw;
	uint8_t th[EVP_MAX_MD_SIZE];
	size_t cmw_len, th_len;

	if (!once++)
		check_builders();
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0:
		if (atls_ext_parse_ch(data + 1, size - 1, &off) == 0) {
			if (off.n_server + off.n_client == 0 || off.n_server > ATLS_SCHEMES_MAX ||
			    off.n_client > ATLS_SCHEMES_MAX)
				abort();
		}
		break;
	case 1:
		(void)atls_ext_parse_chosen(data + 1, size - 1);
		break;
	case 2:
		if (atls_ext_parse_cert(data + 1, size - 1, &cmw, &cmw_len) == 0) {
			if (cmw != data + 4 || cmw_len != size - 4 || cmw_len == 0 ||
			    cmw_len > ATLS_CMW_MAX)
				abort();
		}
		break;
	default:
		(void)atls_transcript_hash(EVP_sha256(), data + 1, size - 1, th, &th_len);
		break;
	}
	return 0;
}
