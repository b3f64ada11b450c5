// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the CMW record / evidence map decoder (cmw.c) and the
 * strict CBOR scanner in front of libcbor.  Anything the decoder accepts must
 * re-encode to exactly the input (the decoder promises one encoding).
 *
 * Seed: with ATLS_FUZZ_SEED_DIR set, LLVMFuzzerInitialize() writes a valid
 * record there first (fuzz_check.sh passes it as the corpus directory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cmw.h"
#include "fuzz.h"

static void write_seeds(const char *dir)
{
	struct atls_evidence_map ev;
	uint8_t *b;
	size_t n;

	memset(&ev, 0, sizeof(ev));
	ev.has_kat = true;
	memset(ev.kat.kid, 1, ATLS_KID_LEN);
	memcpy(ev.pat.kid, ev.kat.kid, ATLS_KID_LEN);
	ev.kat.sig.len = 72;
	ev.kat.cert_info.len = 150;
	ev.kat.pub_area.len = 90;
	ev.pat.sig.len = 72;
	ev.pat.attest_info.len = 129;
	if (atls_cmw_encode(&ev, &b, &n))
		return;
	tl_fuzz_seed_free(dir, "seed-cmw", -1, b, n);
}

TL_FUZZ_SEEDS(write_seeds)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct atls_evidence_map ev;
	uint8_t *again;
	size_t n;

	(void)atls_cbor_strict_check(data, size, 2);
	if (atls_cmw_decode(data, size, &ev))
		return 0;
	if (atls_cmw_encode(&ev, &again, &n))
		abort();
	if (n != size || memcmp(again, data, size))
		abort();	/* accepted a non-canonical encoding */
	free(again);
	return 0;
}
