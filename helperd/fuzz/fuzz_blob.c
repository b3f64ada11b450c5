// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the saved evidence blob of `atlsctl check` (hostile:
 * it comes from another machine), parsed by helperd/atlsctl/evblob.c and, when it
 * parses, appraised by libatls against a fixed policy, as atlsctl does.
 * Seeds are written to $ATLS_FUZZ_SEED_DIR (libatls/fuzz/fuzz_check.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atls/atls.h>
#include <atls/policy.h>
#include <atls/tpm.h>
#include "../atlsctl/atlsctl.h"
#include "fuzz.h"

static struct atls_policy *pol;

static const char policy_text[] =
	"version = 1;\n"
	"trusted-aks = ( { name = \"fuzz\"; pem = \"-----BEGIN PUBLIC KEY-----\\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEXFMT0EsQvT1lg4aV5vIrmudKTJkV\\n"
	"2jAfyN9KdFLu6hpt0V5e+9QOsiCAWwqieIBSuErfHKYFIi2A0qLbYC+ShQ==\\n"
	"-----END PUBLIC KEY-----\\n\"; } );\n"
	"pcrs = { bank = \"sha256\"; selection = [ 0, 1, 2, 3, 4, 5, 6, 7 ];\n"
	"  digests = [ \"5341e6b2646979a70e57653007a1f310169421ec9bdd9f1a5648f75ade005af1\" ]; };\n"
	"evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n";

static const char *const seeds[] = {
	"version = 1;\nrole = \"server\";\nbinder = \"00112233445566778899aabbccddeeff"
	"00112233445566778899aabbccddeeff\";\nspki = \"3059301306072a8648ce3d020106082a8648ce3d"
	"03010703420004\";\ncmw = \"82781d6170706c69636174696f6e2f766e642e61746c732b63626f72"
	"4100\";\n",
	"version = 1;\nrole = \"client\";\nbinder = \"ff\";\nspki = \"30\";\ncmw = \"a0\";\n",
	"version = 2;\n",
};

TL_FUZZ_LIBCONFIG_LEAKS

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[200];

	(void)argc;
	(void)argv;
	if (atls_policy_parse(policy_text, NULL, &pol, err, sizeof(err))) {
		fprintf(stderr, "fuzz_blob: policy: %s\n", err);
		abort();
	}
	TL_FUZZ_TEXT_SEEDS(seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct atlsctl_blob b;
	struct atls_appraisal ap;
	struct atls_claims cl;
	char err[200];

	if (atlsctl_blob_parse((const char *)data, size, &b, err, sizeof(err)))
		return 0;
	memset(&cl, 0, sizeof(cl));
	atls_evidence_appraise(pol, b.client ? ATLS_ROLE_CLIENT : ATLS_ROLE_SERVER, b.cmw, b.clen,
			       b.binder, b.blen, b.spki, b.slen, &cl, &ap);
	atlsctl_blob_free(&b);
	return 0;
}
