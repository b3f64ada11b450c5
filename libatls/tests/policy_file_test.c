// SPDX-License-Identifier: Apache-2.0
/*
 * Policy file reader: a complete valid policy (inline and file PEM keys,
 * relative paths), the accessors, and one negative case per rule of
 * Documentation/policy.5.rst: missing settings, wrong types, unknown settings
 * at every level, bad hex, bad PEM, wrong key types, PCR ranges, list values,
 * syntax errors with line numbers, unreadable files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atls/policy.h>

#include "kselftest_harness.h"
#include "certs.h"
#include "util.h"
#include "../src/policy_int.h"

#define H0 "0000000000000000000000000000000000000000000000000000000000000000"
#define H1 "1111111111111111111111111111111111111111111111111111111111111111"

FIXTURE(pol)
{
	char *dir;
	char pem[1024];		/* the AK public key, PEM, with real newlines */
	char pem_esc[1200];	/* the same with \n escapes for libconfig strings */
	char err[256];
	struct atls_policy *p;
};

FIXTURE_SETUP(pol)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	char *s, *d;
	long n;
	FILE *f;

	ASSERT_NE(NULL, k);
	ASSERT_NE(NULL, b);
	ASSERT_EQ(1, PEM_write_bio_PUBKEY(b, k));
	n = BIO_get_mem_data(b, &s);
	ASSERT_LT(n, (long)sizeof(self->pem));
	memcpy(self->pem, s, n);
	self->pem[n] = 0;
	for (s = self->pem, d = self->pem_esc; *s; s++) {
		if (*s == '\n') {
			*d++ = '\\';
			*d++ = 'n';
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
	BIO_free(b);
	EVP_PKEY_free(k);
	self->dir = tl_tmpdir("pol");
	ASSERT_NE(NULL, self->dir);
	f = fopen(tl_path(self->dir, "ak.pem"), "w");
	ASSERT_NE(NULL, f);
	fputs(self->pem, f);
	fclose(f);
	f = fopen(tl_path(self->dir, "bad.pem"), "w");
	ASSERT_NE(NULL, f);
	fputs("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", f);
	fclose(f);
	self->p = NULL;
}

FIXTURE_TEARDOWN(pol)
{
	atls_policy_free(self->p);
	tl_rmtree(self->dir);
	free(self->dir);
}

/* A policy from parts: each NULL part takes its valid default. */
static int parse(FIXTURE_DATA(pol) *self, const char *aks, const char *pcrs, const char *extra)
{
	char text[8192], def_aks[1600];

	snprintf(def_aks, sizeof(def_aks),
		 "trusted-aks = ( { name = \"a\"; pem-file = \"ak.pem\"; },\n"
		 "                { name = \"b\"; pem = \"%s\"; } );\n", self->pem_esc);
	snprintf(text, sizeof(text), "version = 1;\n%s%s%s",
		 aks ? aks : def_aks,
		 pcrs ? pcrs : "pcrs = { bank = \"sha256\"; selection = [0, 7];\n"
			       "  values = [ \"" H0 "\", \"" H1 "\" ]; };\n",
		 extra ? extra : "require = [ \"server\" ];\n"
				 "evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n");
	atls_policy_free(self->p);
	self->p = NULL;
	self->err[0] = 0;
	return atls_policy_parse(text, self->dir, &self->p, self->err, sizeof(self->err));
}

/* A policy whose pcrs group is { bank = bank; selection = sel; list; }, each
 * part as libconfig text, the rest valid. */
static int parse_pcrs(FIXTURE_DATA(pol) *self, const char *bank, const char *sel,
		      const char *list)
{
	char pcrs[512];

	snprintf(pcrs, sizeof(pcrs), "pcrs = { bank = %s; selection = %s; %s; };\n", bank, sel,
		 list);
	return parse(self, NULL, pcrs, NULL);
}

#define SHA256 "\"sha256\""
#define DIG0 "digests = [ \"" H0 "\" ]"

#define EXPECT_BAD(expr, needle)						\
	do {									\
		EXPECT_EQ(-EINVAL, (expr));					\
		EXPECT_EQ(NULL, self->p);					\
		EXPECT_NE(NULL, strstr(self->err, needle)) {			\
			TH_LOG("error text: \"%s\"", self->err);		\
		}								\
	} while (0)

TEST_F(pol, valid_policy)
{
	uint16_t bank;
	uint32_t mask;

	ASSERT_EQ(0, parse(self, NULL, NULL, NULL)) {
		TH_LOG("%s", self->err);
	}
	EXPECT_EQ(2, atls_policy_ak_count(self->p));
	atls_policy_pcrs(self->p, &bank, &mask);
	EXPECT_EQ(0x000b, bank);
	EXPECT_EQ(0x81, mask);
	EXPECT_TRUE(atls_policy_role_required(self->p, ATLS_ROLE_SERVER));
	EXPECT_FALSE(atls_policy_role_required(self->p, ATLS_ROLE_CLIENT));
	EXPECT_TRUE(atls_policy_accepts(self->p, ATLS_EVIDENCE_TPM2_KAT_PAT));
	EXPECT_TRUE(atls_policy_accepts(self->p, ATLS_EVIDENCE_TPM2_PAT));
	EXPECT_FALSE(atls_policy_accepts(self->p, ATLS_EVIDENCE_NONE));
	/* Both AK entries are the same key. */
	EXPECT_EQ(0, memcmp(self->p->aks[0].spki_sha256, self->p->aks[1].spki_sha256, 32));
	/* values give one allowed digest: SHA-256(PCR0 || PCR7). */
	EXPECT_EQ(1, self->p->n_digests);
}

TEST_F(pol, digests_only_and_both)
{
	ASSERT_EQ(0, parse(self, NULL,
			   "pcrs = { bank = \"sha256\"; selection = [1];\n"
			   "  digests = [ \"" H0 "\", \"" H1 "\" ]; };\n", NULL));
	EXPECT_EQ(2, self->p->n_digests);
	ASSERT_EQ(0, parse(self, NULL,
			   "pcrs = { bank = \"sha256\"; selection = [1]; values = [ \"" H1 "\" ];\n"
			   "  digests = [ \"" H0 "\" ]; };\n", NULL));
	EXPECT_EQ(2, self->p->n_digests);
	EXPECT_EQ(0, memcmp(self->p->digests[1], (uint8_t[32]){ 0 }, 32));
}

/* Per-attester reference values: the global lists become optional only
 * when every AK has its own. */
TEST_F(pol, per_ak_digests)
{
	char aks[1600];

	snprintf(aks, sizeof(aks),
		 "trusted-aks = ( { name = \"a\"; pem-file = \"ak.pem\"; digests = [ \"" H1 "\" ]; },\n"
		 "                { name = \"b\"; pem = \"%s\";\n"
		 "                  digests = [ \"" H0 "\", \"" H1 "\" ]; } );\n", self->pem_esc);
	ASSERT_EQ(0, parse(self, aks, "pcrs = { bank = \"sha256\"; selection = [1]; };\n", NULL))
		TH_LOG("%s", self->err);
	EXPECT_EQ(1, self->p->aks[0].n_digests);
	EXPECT_EQ(2, self->p->aks[1].n_digests);
	EXPECT_EQ(0, self->p->n_digests);
	EXPECT_EQ(0, memcmp(self->p->aks[1].digests[0], (uint8_t[32]){ 0 }, 32));
	/* One AK without its own: the global list is required again. */
	snprintf(aks, sizeof(aks),
		 "trusted-aks = ( { name = \"a\"; pem-file = \"ak.pem\"; digests = [ \"" H1 "\" ]; },\n"
		 "                { name = \"b\"; pem = \"%s\"; } );\n", self->pem_esc);
	EXPECT_BAD(parse(self, aks, "pcrs = { bank = \"sha256\"; selection = [1]; };\n", NULL),
		   "every trusted AK its own digests");
	/* Malformed per-AK digests. */
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"ak.pem\"; digests = [ \"12\" ]; } );\n",
			 NULL, NULL), "line 2");
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"ak.pem\"; digests = \"" H0 "\"; } );\n",
			 NULL, NULL), "digests must be an array");
}

TEST_F(pol, load_from_file_resolves_relative_paths)
{
	char err[256] = "";
	FILE *f = fopen(tl_path(self->dir, "policy.conf"), "w");

	ASSERT_NE(NULL, f);
	fprintf(f, "# comment\nversion = 1;\n"
		   "trusted-aks = ( { pem-file = \"ak.pem\"; } );\n"
		   "pcrs = { bank = \"sha256\"; selection = [0]; digests = [\"%s\"]; };\n"
		   "evidence-types = [\"tpm-pat\"];\n", H0);
	fclose(f);
	ASSERT_EQ(0, atls_policy_load(tl_path(self->dir, "policy.conf"), &self->p, err,
				      sizeof(err))) {
		TH_LOG("%s", err);
	}
	EXPECT_FALSE(atls_policy_role_required(self->p, ATLS_ROLE_SERVER));
	EXPECT_FALSE(atls_policy_accepts(self->p, ATLS_EVIDENCE_TPM2_KAT_PAT));
	atls_policy_free(self->p);
	self->p = NULL;
	EXPECT_EQ(-ENOENT, atls_policy_load(tl_path(self->dir, "nope.conf"), &self->p, err,
					    sizeof(err)));
	EXPECT_EQ(NULL, self->p);
}

TEST_F(pol, missing_settings)
{
	EXPECT_BAD(atls_policy_parse("", NULL, &self->p, self->err, sizeof(self->err)),
		   "version");
	EXPECT_BAD(parse(self, "", NULL, NULL), "trusted-aks");
	EXPECT_BAD(parse(self, "trusted-aks = ( );\n", NULL, NULL), "trusted-aks");
	EXPECT_BAD(parse(self, NULL, "", NULL), "pcrs");
	EXPECT_BAD(parse(self, NULL, NULL, "require = [\"server\"];\n"), "evidence-types");
	EXPECT_BAD(parse(self, NULL, NULL, "evidence-types = [];\n"), "evidence-types");
	EXPECT_BAD(parse(self, NULL, "pcrs = { selection = [0]; values = [\"" H0 "\"]; };\n", NULL),
		   "bank");
	EXPECT_BAD(parse(self, NULL, "pcrs = { bank = \"sha256\"; values = [\"" H0 "\"]; };\n",
			 NULL), "selection");
	EXPECT_BAD(parse(self, NULL, "pcrs = { bank = \"sha256\"; selection = [0]; };\n", NULL),
		   "reference values or allowed digests");
	EXPECT_BAD(parse(self, "trusted-aks = ( { name = \"x\"; } );\n", NULL, NULL),
		   "exactly one of pem or pem-file");
}

/* binding = "handshake" | "exporter" (policy.5, protocol.rst). */
TEST_F(pol, binding)
{
	static const char types[] = "evidence-types = [ \"tpm-pat\" ];\n";
	char extra[256];

	ASSERT_EQ(0, parse(self, NULL, NULL, NULL)) TH_LOG("%s", self->err);
	EXPECT_FALSE(atls_policy_exporter_required(self->p));	/* default */
	snprintf(extra, sizeof(extra), "%sbinding = \"exporter\";\n", types);
	ASSERT_EQ(0, parse(self, NULL, NULL, extra)) TH_LOG("%s", self->err);
	EXPECT_TRUE(atls_policy_exporter_required(self->p));
	snprintf(extra, sizeof(extra), "%sbinding = \"handshake\";\n", types);
	ASSERT_EQ(0, parse(self, NULL, NULL, extra)) TH_LOG("%s", self->err);
	EXPECT_FALSE(atls_policy_exporter_required(self->p));
	snprintf(extra, sizeof(extra), "%sbinding = \"expat\";\n", types);
	EXPECT_BAD(parse(self, NULL, NULL, extra), "binding");
	snprintf(extra, sizeof(extra), "%sbinding = 1;\n", types);
	EXPECT_BAD(parse(self, NULL, NULL, extra), "binding");
	snprintf(extra, sizeof(extra), "%sbinding = [ \"exporter\" ];\n", types);
	EXPECT_BAD(parse(self, NULL, NULL, extra), "binding");
}

TEST_F(pol, wrong_version)
{
	EXPECT_BAD(atls_policy_parse("version = 2;", NULL, &self->p, self->err,
				     sizeof(self->err)), "version");
	EXPECT_BAD(atls_policy_parse("version = \"1\";", NULL, &self->p, self->err,
				     sizeof(self->err)), "version");
}

TEST_F(pol, unknown_settings)
{
	EXPECT_BAD(parse(self, NULL, NULL,
			 "evidence-types = [\"tpm-pat\"];\nallow-all = true;\n"),
		   "unknown setting \"allow-all\"");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0]", "digest = [ \"" H0 "\" ]"),
		   "unknown setting \"digest\"");
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"ak.pem\"; trust = \"all\"; } );\n",
			 NULL, NULL), "unknown setting \"trust\"");
}

TEST_F(pol, wrong_types)
{
	EXPECT_BAD(parse(self, "trusted-aks = \"ak.pem\";\n", NULL, NULL), "trusted-aks");
	EXPECT_BAD(parse(self, "trusted-aks = ( \"ak.pem\" );\n", NULL, NULL), "groups");
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = 5; } );\n", NULL, NULL),
		   "must be strings");
	EXPECT_BAD(parse(self, NULL, "pcrs = [ 0, 1 ];\n", NULL), "group");
	EXPECT_BAD(parse_pcrs(self, "11", "[0]", DIG0), "bank");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[\"0\"]", DIG0), "integers");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0]", "digests = \"" H0 "\""), "arrays");
	EXPECT_BAD(parse(self, NULL, NULL, "require = \"server\";\nevidence-types = [\"tpm-pat\"];\n"),
		   "require");
}

TEST_F(pol, bad_hex)
{
	/* Non-hex digit, too short, too long, odd. */
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0]", "digests = [ \"g" H0 "\" ]"), "digest");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0]", "digests = [ \"00\" ]"), "64 hex digits");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0]", "digests = [ \"" H0 "00\" ]"), "64 hex digits");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0]",
			      "values = [ \"0000000000000000000000000000000000000000000000000000000"
			      "00000000 \" ]"), "hex");
}

TEST_F(pol, pcr_rules)
{
	EXPECT_BAD(parse_pcrs(self, "\"sha1\"", "[0]", DIG0), "only sha256");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[24]", DIG0), "0..23");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[-1]", DIG0), "0..23");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[7, 0]", DIG0), "ascending");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0, 0]", DIG0), "unique");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[]", DIG0), "empty");
	EXPECT_BAD(parse_pcrs(self, SHA256, "[0, 1]", "values = [ \"" H0 "\" ]"),
		   "one digest per selected PCR");
}

TEST_F(pol, bad_keys)
{
	char aks[1600];
	EVP_PKEY *rsa;
	FILE *f;

	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"bad.pem\"; } );\n", NULL, NULL),
		   "not a PEM public key");
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem = \"hello\"; } );\n", NULL, NULL),
		   "not a PEM public key");
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"missing.pem\"; } );\n", NULL, NULL),
		   "cannot open");
	/* Truncated inline PEM. */
	snprintf(aks, sizeof(aks), "trusted-aks = ( { pem = \"%.60s\"; } );\n", self->pem_esc);
	EXPECT_BAD(parse(self, aks, NULL, NULL), "not a PEM public key");
	/* An RSA key is not an acceptable AK. */
	rsa = EVP_RSA_gen(2048);
	ASSERT_NE(NULL, rsa);
	f = fopen(tl_path(self->dir, "rsa.pem"), "w");
	ASSERT_NE(NULL, f);
	PEM_write_PUBKEY(f, rsa);
	fclose(f);
	EVP_PKEY_free(rsa);
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"rsa.pem\"; } );\n", NULL, NULL),
		   "P-256");
	/* A private key PEM is not a public key PEM. */
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "c", "x", false, NULL));
	EXPECT_BAD(parse(self, "trusted-aks = ( { pem-file = \"c.key\"; } );\n", NULL, NULL),
		   "not a PEM public key");
}

TEST_F(pol, list_values)
{
	EXPECT_BAD(parse(self, NULL, NULL,
			 "require = [\"peer\"];\nevidence-types = [\"tpm-pat\"];\n"),
		   "unknown value \"peer\"");
	EXPECT_BAD(parse(self, NULL, NULL, "evidence-types = [\"tpm\"];\n"),
		   "unknown value \"tpm\"");
	EXPECT_BAD(parse(self, NULL, NULL, "evidence-types = [1];\n"), "must be strings");
}

TEST_F(pol, syntax_error_names_the_line)
{
	EXPECT_BAD(atls_policy_parse("version = 1;\n\ntrusted-aks = ( { pem-file = ; } );\n", NULL,
				     &self->p, self->err, sizeof(self->err)), "line 3");
	EXPECT_BAD(atls_policy_parse("version = 1;\nversion = 1;\n", NULL, &self->p, self->err,
				     sizeof(self->err)), "line 2");
}

TEST_HARNESS_MAIN
