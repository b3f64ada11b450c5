// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the atls_binding extension parsers (ext.c; wire.h
 * ATLS_EXT_BINDING, protocol.rst "Exporter-bound attestation").  The first
 * input byte picks the parser (even: ClientHello list, odd:
 * EncryptedExtensions mode); the rest is the extension body.  Invariants:
 * a ClientHello list that parses has 1..ATLS_BINDING_MODES_MAX distinct
 * modes and exactly the bytes it announces, and "exporter" is reported iff
 * the list holds mode 1; an EncryptedExtensions body parses iff it is one
 * byte, to that byte; our own builders' output parses back.
 *
 * Seeds: with ATLS_FUZZ_SEED_DIR set, one valid input per parser.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_seeds(const char *dir)
{
	uint8_t *b;
	size_t n;

	if (!atls_ext_build_binding_ch(&b, &n))
		tl_fuzz_seed_free(dir, "seed-binding-ch", 0, b, n);
	if (!atls_ext_build_binding_ee(&b, &n))
		tl_fuzz_seed_free(dir, "seed-binding-ee", 1, b, n);
}

TL_FUZZ_SEEDS(write_seeds)

static void check_builders(void)
{
	bool exporter;
	uint8_t *b;
	size_t n;

	if (!atls_ext_build_binding_ch(&b, &n)) {
		if (atls_ext_parse_binding_ch(b, n, &exporter) || !exporter)
			abort();
		free(b);
	}
	if (!atls_ext_build_binding_ee(&b, &n)) {
		if (atls_ext_parse_binding_ee(b, n) != ATLS_BINDING_MODE_EXPORTER)
			abort();
		free(b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	bool exporter, has1 = false;
	size_t i, j;
	int r;

	if (!once++)
		check_builders();
	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		r = atls_ext_parse_binding_ch(data + 1, size - 1, &exporter);
		if (r == 0) {
			if (size < 3 || data[1] == 0 || data[1] > ATLS_BINDING_MODES_MAX ||
			    (size_t)data[1] != size - 2)
				abort();
			for (i = 0; i < data[1]; i++) {
				has1 |= data[2 + i] == ATLS_BINDING_MODE_EXPORTER;
				for (j = 0; j < i; j++)
					if (data[2 + i] == data[2 + j])
						abort();
			}
			if (has1 != exporter)
				abort();
		} else if (r != -EBADMSG || exporter) {
			abort();
		}
	} else {
		r = atls_ext_parse_binding_ee(data + 1, size - 1);
		if ((size == 2) != (r >= 0) || (r >= 0 && r != data[1]) || (r < 0 && r != -EBADMSG))
			abort();
	}
	return 0;
}
