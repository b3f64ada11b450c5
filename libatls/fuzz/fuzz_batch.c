// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the BatchEvidence parser of batched quotes (batch.c:
 * version, depth, leaf index, inclusion path, embedded CMW length) and the
 * root computation over whatever path it accepts.  Anything accepted must
 * encode back to exactly the input (one encoding per proof), and its root
 * computation must succeed.  The embedded CMW goes on to the CMW decoder,
 * which fuzz_cmw covers.
 *
 * Seed: with ATLS_FUZZ_SEED_DIR set, LLVMFuzzerInitialize() writes a valid
 * depth-3 proof there first (fuzz_check.sh passes it as the corpus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/batch.h"
#include "fuzz.h"

static void write_seeds(const char *dir)
{
	uint8_t path[3 * 32], cmw[40], *b;
	size_t n;

	memset(path, 0x11, sizeof(path));
	memset(cmw, 0x82, sizeof(cmw));
	if (!atls_batch_encode(3, 5, path, cmw, sizeof(cmw), &b, &n))
		tl_fuzz_seed_free(dir, "seed-batch", -1, b, n);
}

TL_FUZZ_SEEDS(write_seeds)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t binder[32] = { 1, 2, 3 };
	struct atls_batch_proof pr;
	uint8_t leaf[32], root[32], *b;
	size_t n;

	if (atls_batch_parse(data, size, &pr))
		return 0;
	if (atls_batch_leaf(binder, sizeof(binder), leaf) || atls_batch_root(leaf, &pr, root))
		abort();
	if (atls_batch_encode(pr.depth, pr.index, pr.path, pr.cmw, pr.cmw_len, &b, &n))
		abort();
	if (n != size || memcmp(b, data, size))
		abort();
	free(b);
	return 0;
}
