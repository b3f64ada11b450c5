// SPDX-License-Identifier: Apache-2.0
/*
 * Policy file reader (format: Documentation/policy.5.rst).
 *
 * The syntax is libconfig's; this file only walks the parsed tree and
 * validates it strictly: every setting has exactly the expected type, unknown
 * settings are errors (a misspelt "digest" must not silently disable a
 * check), hex strings have exactly the digest length, AK keys must be ECC
 * P-256 public keys.  The result is an immutable struct atls_policy
 * (policy_int.h) that appraise.c reads without locking.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <tss2/tss2_tpm2_types.h>

#include "policy_int.h"
#include "tpm_parse.h"

struct pctx {
	const char *basedir;
	char *err;
	size_t errlen;
};

static int perr(struct pctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (!c->err || !c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && config_setting_source_line(s))
		snprintf(c->err, c->errlen, "line %u: %s", config_setting_source_line(s), msg);
	else
		snprintf(c->err, c->errlen, "%s", msg);
	return -EINVAL;
}

/* Every member of group s must be named in allowed[]. */
static int only_keys(struct pctx *c, const config_setting_t *s, const char *const *allowed)
{
	int i, n = config_setting_length(s);

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, i);
		const char *name = config_setting_name(m);
		const char *const *a;

		for (a = allowed; *a; a++)
			if (name && !strcmp(name, *a))
				break;
		if (!*a)
			return perr(c, m, "unknown setting \"%s\"", name ? name : "?");
	}
	return 0;
}

static const config_setting_t *member(const config_setting_t *g, const char *name, int type)
{
	const config_setting_t *s = config_setting_get_member(g, name);

	if (s && config_setting_type(s) != type)
		return (const config_setting_t *)-1;
	return s;
}

#define BAD_TYPE ((const config_setting_t *)-1)

static int hex32(struct pctx *c, const config_setting_t *s, uint8_t out[32])
{
	const char *h = config_setting_get_string(s);
	unsigned int i;

	if (!h || strlen(h) != 64)
		return perr(c, s, "digest must be 64 hex digits");
	for (i = 0; i < 32; i++) {
		int hi, lo;
		char x = h[2 * i], y = h[2 * i + 1];

		hi = (x >= '0' && x <= '9') ? x - '0' : (x >= 'a' && x <= 'f') ? x - 'a' + 10 :
		     (x >= 'A' && x <= 'F') ? x - 'A' + 10 : -1;
		lo = (y >= '0' && y <= '9') ? y - '0' : (y >= 'a' && y <= 'f') ? y - 'a' + 10 :
		     (y >= 'A' && y <= 'F') ? y - 'A' + 10 : -1;
		if (hi < 0 || lo < 0)
			return perr(c, s, "bad hex digit in digest");
		out[i] = hi << 4 | lo;
	}
	return 0;
}

/* An array of at most max pcrDigest values (64 hex digits each), appended to out. */
static int digest_list(struct pctx *c, const config_setting_t *a, uint8_t (*out)[32],
		       unsigned int *n_out, int max)
{
	int i, err, n = config_setting_length(a);

	if (n > max)
		return perr(c, a, "too many digests (max %d)", max);
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(a, i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return perr(c, a, "PCR digests must be hex strings");
		err = hex32(c, e, out[(*n_out)++]);
		if (err)
			return err;
	}
	return 0;
}

/* ------------------------------------------------------------------ AKs */

static int ak_key_check(EVP_PKEY *k)
{
	char group[32];
	size_t glen = 0;

	if (!EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    &glen) ||
	    strcmp(group, "prime256v1"))
		return -EINVAL;
	return 0;
}

static int load_ak(struct pctx *c, const config_setting_t *e, struct atls_policy_ak *ak)
{
	static const char *const keys[] = { "name", "pem", "pem-file", "digests", NULL };
	const config_setting_t *name, *pem, *file, *dig;
	char path[PATH_MAX];
	BIO *bio = NULL;
	int err;

	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return perr(c, e, "trusted-aks entries must be groups { ... }");
	err = only_keys(c, e, keys);
	if (err)
		return err;
	name = member(e, "name", CONFIG_TYPE_STRING);
	pem = member(e, "pem", CONFIG_TYPE_STRING);
	file = member(e, "pem-file", CONFIG_TYPE_STRING);
	dig = member(e, "digests", CONFIG_TYPE_ARRAY);
	if (name == BAD_TYPE || pem == BAD_TYPE || file == BAD_TYPE)
		return perr(c, e, "name, pem and pem-file must be strings");
	if (dig == BAD_TYPE)
		return perr(c, e, "digests must be an array of hex strings");
	if (dig) {
		err = digest_list(c, dig, ak->digests, &ak->n_digests,
				  ATLS_POLICY_MAX_AK_DIGESTS);
		if (err)
			return err;
	}
	if (!!pem == !!file)
		return perr(c, e, "trusted AK needs exactly one of pem or pem-file");
	if (name && strlen(config_setting_get_string(name)) >= sizeof(ak->name))
		return perr(c, name, "AK name too long");
	snprintf(ak->name, sizeof(ak->name), "%s", name ? config_setting_get_string(name) : "");

	if (pem) {
		const char *s = config_setting_get_string(pem);

		bio = BIO_new_mem_buf(s, strlen(s));
	} else {
		const char *f = config_setting_get_string(file);

		if (f[0] == '/' || !c->basedir)
			snprintf(path, sizeof(path), "%s", f);
		else if ((size_t)snprintf(path, sizeof(path), "%s/%s", c->basedir, f) >=
			 sizeof(path))
			return perr(c, file, "pem-file path too long");
		bio = BIO_new_file(path, "r");
		if (!bio)
			return perr(c, file, "cannot open AK key file %s", path);
	}
	if (!bio)
		return -ENOMEM;
	ak->key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!ak->key)
		return perr(c, e, "AK key is not a PEM public key");
	if (ak_key_check(ak->key))
		return perr(c, e, "AK key must be ECC NIST P-256");
	return atls_pkey_spki_sha256(ak->key, ak->spki_sha256);
}

/* ----------------------------------------------------------------- PCRs */

/* own_digests: every trusted AK has its own digests (the global ones are optional). */
static int load_pcrs(struct pctx *c, const config_setting_t *g, struct atls_policy *p,
		     bool own_digests)
{
	static const char *const keys[] = { "bank", "selection", "values", "digests", NULL };
	const config_setting_t *bank, *sel, *vals, *dig;
	uint8_t v[24][32];
	int i, n, err, last = -1;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return perr(c, g, "pcrs must be a group { ... }");
	err = only_keys(c, g, keys);
	if (err)
		return err;
	bank = member(g, "bank", CONFIG_TYPE_STRING);
	sel = member(g, "selection", CONFIG_TYPE_ARRAY);
	vals = member(g, "values", CONFIG_TYPE_ARRAY);
	dig = member(g, "digests", CONFIG_TYPE_ARRAY);
	if (!bank || bank == BAD_TYPE)
		return perr(c, g, "pcrs.bank (string) is required");
	if (!sel || sel == BAD_TYPE)
		return perr(c, g, "pcrs.selection (array of PCR numbers) is required");
	if (vals == BAD_TYPE || dig == BAD_TYPE)
		return perr(c, g, "pcrs.values and pcrs.digests must be arrays of hex strings");
	if ((!vals || !config_setting_length(vals)) && (!dig || !config_setting_length(dig)) &&
	    !own_digests)
		return perr(c, g, "pcrs needs reference values or allowed digests "
			    "(or every trusted AK its own digests)");
	if (strcmp(config_setting_get_string(bank), "sha256"))
		return perr(c, bank, "unsupported PCR bank \"%s\" (only sha256)",
			    config_setting_get_string(bank));
	p->bank = TPM2_ALG_SHA256;

	n = config_setting_length(sel);
	if (n == 0)
		return perr(c, sel, "pcrs.selection is empty");
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(sel, i);
		int pcr;

		if (config_setting_type(e) != CONFIG_TYPE_INT)
			return perr(c, sel, "PCR numbers must be integers");
		pcr = config_setting_get_int(e);
		if (pcr < 0 || pcr > 23 || pcr <= last)
			return perr(c, sel, "PCR numbers must be 0..23, ascending, unique");
		last = pcr;
		p->mask |= 1u << pcr;
	}

	if (vals && config_setting_length(vals)) {
		if (config_setting_length(vals) != n)
			return perr(c, vals, "pcrs.values needs one digest per selected PCR");
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(vals, i);

			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return perr(c, vals, "PCR values must be hex strings");
			err = hex32(c, e, v[i]);
			if (err)
				return err;
		}
		/* pcrDigest = SHA-256 of the selected values in ascending PCR order. */
		SHA256(&v[0][0], (size_t)n * 32, p->digests[p->n_digests++]);
	}
	if (dig)
		return digest_list(c, dig, p->digests, &p->n_digests, ATLS_POLICY_MAX_DIGESTS);
	return 0;
}

/* ------------------------------------------------------- string lists */

static int name_list(struct pctx *c, const config_setting_t *a, const char *const *names,
		     const unsigned int *bits, unsigned int *out)
{
	int i, n = config_setting_length(a);

	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(a, i);
		const char *s = config_setting_get_string(e);
		unsigned int k;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return perr(c, a, "list entries must be strings");
		for (k = 0; names[k]; k++)
			if (!strcmp(s, names[k]))
				break;
		if (!names[k])
			return perr(c, a, "unknown value \"%s\"", s);
		*out |= bits[k];
	}
	return 0;
}

/* ---------------------------------------------------------------- load */

static int parse_root(struct pctx *c, config_t *cfg, struct atls_policy *p)
{
	static const char *const keys[] = { "version", "trusted-aks", "pcrs", "require",
					    "evidence-types", "binding", NULL };
	static const char *const roles[] = { "client", "server", NULL };
	static const unsigned int role_bits[] = { 1u << ATLS_ROLE_CLIENT, 1u << ATLS_ROLE_SERVER };
	static const char *const types[] = { "tpm-kat-pat", "tpm-pat", NULL };
	static const unsigned int type_bits[] = { 1u << ATLS_EVIDENCE_TPM2_KAT_PAT,
						  1u << ATLS_EVIDENCE_TPM2_PAT };
	const config_setting_t *root = config_root_setting(cfg);
	const config_setting_t *ver, *aks, *pcrs, *req, *types_s, *bind;
	bool own_digests = true;
	int i, n, err;

	err = only_keys(c, root, keys);
	if (err)
		return err;
	ver = member(root, "version", CONFIG_TYPE_INT);
	if (!ver || ver == BAD_TYPE || config_setting_get_int(ver) != 1)
		return perr(c, ver == BAD_TYPE ? NULL : ver, "version = 1; is required");

	aks = member(root, "trusted-aks", CONFIG_TYPE_LIST);
	if (!aks || aks == BAD_TYPE || !config_setting_length(aks))
		return perr(c, NULL, "trusted-aks = ( { ... }, ... ); is required and non-empty");
	n = config_setting_length(aks);
	if (n > ATLS_POLICY_MAX_AKS)
		return perr(c, aks, "too many trusted AKs (max %d)", ATLS_POLICY_MAX_AKS);
	for (i = 0; i < n; i++) {
		err = load_ak(c, config_setting_get_elem(aks, i), &p->aks[i]);
		p->n_aks = i + 1;	/* so the free path sees a partially loaded entry */
		if (err)
			return err;
		own_digests = own_digests && p->aks[i].n_digests;
	}

	pcrs = config_setting_get_member(root, "pcrs");
	if (!pcrs)
		return perr(c, NULL, "pcrs = { ... }; is required");
	err = load_pcrs(c, pcrs, p, own_digests);
	if (err)
		return err;

	req = member(root, "require", CONFIG_TYPE_ARRAY);
	if (req == BAD_TYPE)
		return perr(c, NULL, "require must be an array of role names");
	if (req) {
		err = name_list(c, req, roles, role_bits, &p->required_roles);
		if (err)
			return err;
	}
	/* binding = "handshake" | "exporter" (protocol.rst, "Exporter-bound attestation") */
	bind = member(root, "binding", CONFIG_TYPE_STRING);
	if (bind == BAD_TYPE)
		return perr(c, NULL, "binding must be \"handshake\" or \"exporter\"");
	if (bind) {
		const char *v = config_setting_get_string(bind);

		if (!strcmp(v, "exporter"))
			p->exporter_required = true;
		else if (strcmp(v, "handshake"))
			return perr(c, bind, "binding must be \"handshake\" or \"exporter\"");
	}
	types_s = member(root, "evidence-types", CONFIG_TYPE_ARRAY);
	if (!types_s || types_s == BAD_TYPE || !config_setting_length(types_s))
		return perr(c, NULL, "evidence-types = [ ... ]; is required and non-empty");
	return name_list(c, types_s, types, type_bits, &p->accepted_types);
}

void atls_policy_free(struct atls_policy *pol)
{
	unsigned int i;

	if (!pol)
		return;
	for (i = 0; i < pol->n_aks; i++)
		EVP_PKEY_free(pol->aks[i].key);
	free(pol);
}

static int policy_from(config_t *cfg, bool ok, const char *basedir, struct atls_policy **out,
		       char *err, size_t errlen)
{
	struct pctx c = { .basedir = basedir, .err = err, .errlen = errlen };
	struct atls_policy *p;
	int rc;

	*out = NULL;
	if (!ok) {
		if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
			return err ? (snprintf(err, errlen, "cannot read policy file"), -ENOENT)
				   : -ENOENT;
		if (err)
			snprintf(err, errlen, "line %d: %s", config_error_line(cfg),
				 config_error_text(cfg) ? config_error_text(cfg) : "syntax error");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	rc = parse_root(&c, cfg, p);
	if (rc) {
		atls_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int atls_policy_parse(const char *text, const char *basedir, struct atls_policy **out,
		      char *err, size_t errlen)
{
	config_t cfg;
	int rc;

	config_init(&cfg);
	rc = policy_from(&cfg, config_read_string(&cfg, text) == CONFIG_TRUE, basedir, out, err,
			 errlen);
	config_destroy(&cfg);
	return rc;
}

int atls_policy_load(const char *path, struct atls_policy **out, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	const char *base;
	config_t cfg;
	FILE *f;
	int rc;

	*out = NULL;
	if (!path || strlen(path) >= sizeof(dir))
		return -EINVAL;
	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		if (err)
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	config_init(&cfg);
	base = dirname(dir);	/* may point into dir or at a static "." */
	config_set_include_dir(&cfg, base);
	rc = policy_from(&cfg, config_read(&cfg, f) == CONFIG_TRUE, base, out, err, errlen);
	config_destroy(&cfg);
	fclose(f);
	return rc;
}

bool atls_policy_exporter_required(const struct atls_policy *pol)
{
	return pol && pol->exporter_required;
}

bool atls_policy_role_required(const struct atls_policy *pol, enum atls_role role)
{
	return pol && (unsigned int)role < 8 && (pol->required_roles & (1u << role));
}

bool atls_policy_accepts(const struct atls_policy *pol, enum atls_evidence type)
{
	return pol && (unsigned int)type < 8 && (pol->accepted_types & (1u << type));
}

void atls_policy_pcrs(const struct atls_policy *pol, uint16_t *bank, uint32_t *mask)
{
	*bank = pol ? pol->bank : 0;
	*mask = pol ? pol->mask : 0;
}

unsigned int atls_policy_ak_count(const struct atls_policy *pol)
{
	return pol ? pol->n_aks : 0;
}
