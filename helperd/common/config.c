// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd.conf: the daemon's configuration (format: Documentation/atls.conf.5.rst,
 * libconfig syntax, read with Debian's libconfig).
 *
 * Everything has a default, so a host provisioned with `atlsctl provision`
 * runs with no file at all.  Built-in named policies (an application picks
 * one by name in ATLS_START; "" means "default"):
 *
 *   default      attest when asked, require the peer's evidence (peers.policy)
 *   attest-only  attest when asked, do not ask the peer
 *   verify-only  do not attest, require the peer's evidence
 *   none         certificates only, no attestation either way
 *
 * A "policies" group in the file adds policies or replaces built-ins of the
 * same name.  Unknown settings are errors: a misspelt "verify-peer" must not
 * silently weaken a policy.  The environment (ATLS_STATE_DIR, ATLS_RUN_DIR,
 * ATLS_TCTI) overrides the defaults but not the file, so a test or a guest
 * with a read-only /etc can point the daemon at writable places.
 *
 * The result is a plain struct copied by value; the daemon loads a fresh one
 * on SIGHUP and never modifies one in use.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "config.h"
#include "log.h"

#define DEF_STATE_DIR "/var/lib/atls"
#define DEF_RUN_DIR "/run/atlsd"
#define DEF_TCTI "device:/dev/tpmrm0"
#define DEF_PCR_MASK 0xffu
#define PEERS_POLICY "peers.policy"

/*
 * Batched quotes (Documentation/protocol.rst "Batched quotes"): the window
 * and batch size limits.  The upper ones are libatls's (a 1 s wait, 1024
 * leaves = a tree of depth 10); a window below 100 us would batch nothing.
 */
#define DEF_BATCH_WINDOW_US 20000u
#define MIN_BATCH_WINDOW_US 100
#define MAX_BATCH_WINDOW_US 1000000
#define DEF_BATCH_MAX 64u
#define MAX_BATCH_MAX 1024

static void scopy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static void add_builtin(struct atlsd_config *c, const char *name, bool attest,
			enum atls_peer_attest verify)
{
	struct atlsd_policy *p = &c->policies[c->n_policies++];

	memset(p, 0, sizeof(*p));
	scopy(p->name, sizeof(p->name), name);
	p->attest = attest;
	p->verify = verify;
	p->pcr_mask = DEF_PCR_MASK;
	p->batch_window_us = DEF_BATCH_WINDOW_US;
	p->batch_max = DEF_BATCH_MAX;
	if (verify != ATLS_PEER_NONE)
		atlsd_state_path(c, PEERS_POLICY, p->policy_file, sizeof(p->policy_file));
}

int atlsd_state_path(const struct atlsd_config *c, const char *name, char *out, size_t len)
{
	int n;

	if (name[0] == '/')
		n = snprintf(out, len, "%s", name);
	else
		n = snprintf(out, len, "%s/%s", c->state_dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

void atlsd_config_defaults(struct atlsd_config *c)
{
	const char *e;

	memset(c, 0, sizeof(*c));
	e = getenv("ATLS_STATE_DIR");
	scopy(c->state_dir, sizeof(c->state_dir), e && *e ? e : DEF_STATE_DIR);
	e = getenv("ATLS_RUN_DIR");
	scopy(c->run_dir, sizeof(c->run_dir), e && *e ? e : DEF_RUN_DIR);
	e = getenv("ATLS_TCTI");
	scopy(c->tcti, sizeof(c->tcti), e && *e ? e : DEF_TCTI);
	c->key_mode = ATLS_KEY_TPM;
	c->ak_handle = 0x81010010u;
	c->tls_key_handle = 0x81010011u;
	c->workers = 8;
	c->workers_max = 0;
	c->log_level = ATLSD_LOG_INFO;
	atlsd_state_path(c, "tls-cert.pem", c->cert_file, sizeof(c->cert_file));
	atlsd_state_path(c, "tls-key.pem", c->key_file, sizeof(c->key_file));
	c->n_policies = 0;
	add_builtin(c, "default", true, ATLS_PEER_REQUIRED);
	add_builtin(c, "attest-only", true, ATLS_PEER_NONE);
	add_builtin(c, "verify-only", false, ATLS_PEER_REQUIRED);
	add_builtin(c, "none", false, ATLS_PEER_NONE);
}

static void rebase(char *path, size_t len, const char *old, const char *new)
{
	size_t ol = strlen(old);
	char tmp[512];

	if (strncmp(path, old, ol) || path[ol] != '/')
		return;
	snprintf(tmp, sizeof(tmp), "%s%s", new, path + ol);
	snprintf(path, len, "%s", tmp);
}

void atlsd_config_set_state_dir(struct atlsd_config *c, const char *dir)
{
	unsigned int i;

	rebase(c->cert_file, sizeof(c->cert_file), c->state_dir, dir);
	rebase(c->key_file, sizeof(c->key_file), c->state_dir, dir);
	for (i = 0; i < c->n_policies; i++)
		rebase(c->policies[i].policy_file, sizeof(c->policies[i].policy_file),
		       c->state_dir, dir);
	scopy(c->state_dir, sizeof(c->state_dir), dir);
}

const struct atlsd_policy *atlsd_config_policy(const struct atlsd_config *c, const char *name)
{
	unsigned int i;

	if (!name || !*name)
		name = "default";
	for (i = 0; i < c->n_policies; i++)
		if (!strcmp(c->policies[i].name, name))
			return &c->policies[i];
	return NULL;
}

/* ------------------------------------------------------------- parsing */

struct pctx {
	char *err;
	size_t errlen;
	char confdir[PATH_MAX];
};

static int perr(struct pctx *x, const config_setting_t *s, const char *what)
{
	if (s && config_setting_source_line(s))
		snprintf(x->err, x->errlen, "line %u: %s", config_setting_source_line(s), what);
	else
		snprintf(x->err, x->errlen, "%s", what);
	return -EINVAL;
}

static int only_keys(struct pctx *x, const config_setting_t *g, const char *const *allowed)
{
	int i, n = config_setting_length(g);
	char msg[160];

	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);
		const char *const *a;

		for (a = allowed; *a; a++)
			if (name && !strcmp(name, *a))
				break;
		if (!*a) {
			snprintf(msg, sizeof(msg), "unknown setting \"%s\"", name ? name : "?");
			return perr(x, m, msg);
		}
	}
	return 0;
}

/* A string setting into dst; relative paths resolved against base (if given). */
static int get_str(struct pctx *x, const config_setting_t *g, const char *key, char *dst,
		   size_t len, const char *base)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;
	int n;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return perr(x, s, "expected a string");
	v = config_setting_get_string(s);
	if (base && *v && v[0] != '/')
		n = snprintf(dst, len, "%s/%s", base, v);
	else
		n = snprintf(dst, len, "%s", v);
	if (n < 0 || (size_t)n >= len)
		return perr(x, s, "string too long");
	return 0;
}

static int get_uint(struct pctx *x, const config_setting_t *g, const char *key, uint32_t *dst,
		    long long min, long long max)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    config_setting_get_format(s) == CONFIG_FORMAT_HEX)
		v = (uint32_t)config_setting_get_int(s);	/* 0x81010010 is not negative */
	else if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return perr(x, s, "expected an integer");
	if (v < min || v > max)
		return perr(x, s, "integer out of range");
	*dst = (uint32_t)v;
	return 0;
}

/* Like get_uint, with its own message naming the setting and its range. */
static int get_range(struct pctx *x, const config_setting_t *g, const char *key, uint32_t *dst,
		     long long min, long long max, const char *unit)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	char msg[160];
	long long v;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		v = min - 1;
	if (v < min || v > max) {
		snprintf(msg, sizeof(msg), "%s must be an integer %lld..%lld%s", key, min, max,
			 unit);
		return perr(x, s, msg);
	}
	*dst = (uint32_t)v;
	return 0;
}

static int get_bool(struct pctx *x, const config_setting_t *g, const char *key, bool *dst)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return perr(x, s, "expected true or false");
	*dst = config_setting_get_bool(s);
	return 0;
}

static int get_pcrs(struct pctx *x, const config_setting_t *g, uint32_t *mask)
{
	const config_setting_t *s = config_setting_get_member(g, "pcrs");
	int i, n;

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY || !(n = config_setting_length(s)))
		return perr(x, s, "pcrs must be a non-empty array of PCR numbers");
	*mask = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		int v;

		if (config_setting_type(e) != CONFIG_TYPE_INT)
			return perr(x, s, "PCR numbers must be integers");
		v = config_setting_get_int(e);
		if (v < 0 || v > 23)
			return perr(x, s, "PCR numbers must be 0..23");
		*mask |= 1u << v;
	}
	return 0;
}

bool atlsd_valid_name(const char *n, size_t max_len)
{
	size_t i, len = strlen(n);

	if (!len || len > max_len)
		return false;
	for (i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		      (n[i] >= '0' && n[i] <= '9') || n[i] == '-' || n[i] == '_'))
			return false;
	return true;
}

static int parse_policy(struct pctx *x, struct atlsd_config *c, const config_setting_t *g)
{
	static const char *const keys[] = { "attest", "verify-peer", "policy-file", "ca-file",
					    "ciphersuites", "pcrs", "batch", "batch-window-us",
					    "batch-max", NULL };
	const char *name = config_setting_name(g);
	const config_setting_t *s;
	struct atlsd_policy p, *slot = NULL;
	unsigned int i;
	int err;

	if (!name || config_setting_type(g) != CONFIG_TYPE_GROUP)
		return perr(x, g, "each policy must be a named group: name = { ... };");
	if (!atlsd_valid_name(name, ATLS_POLICY_MAX - 1))
		return perr(x, g, "policy names are 1..63 characters of [A-Za-z0-9_-]");
	for (i = 0; i < c->n_policies; i++)
		if (!strcmp(c->policies[i].name, name))
			slot = &c->policies[i];
	/* A policy named like a built-in starts from the built-in. */
	if (slot) {
		p = *slot;
	} else {
		memset(&p, 0, sizeof(p));
		scopy(p.name, sizeof(p.name), name);
		p.attest = true;
		p.verify = ATLS_PEER_REQUIRED;
		p.pcr_mask = DEF_PCR_MASK;
		p.batch_window_us = DEF_BATCH_WINDOW_US;
		p.batch_max = DEF_BATCH_MAX;
		atlsd_state_path(c, PEERS_POLICY, p.policy_file, sizeof(p.policy_file));
	}
	err = only_keys(x, g, keys);
	if (!err)
		err = get_bool(x, g, "attest", &p.attest);
	s = config_setting_get_member(g, "verify-peer");
	if (!err && s) {
		const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
					? config_setting_get_string(s) : "";

		if (!strcmp(v, "none"))
			p.verify = ATLS_PEER_NONE;
		else if (!strcmp(v, "optional"))
			p.verify = ATLS_PEER_OPTIONAL;
		else if (!strcmp(v, "required"))
			p.verify = ATLS_PEER_REQUIRED;
		else
			err = perr(x, s, "verify-peer must be \"none\", \"optional\" or \"required\"");
	}
	if (!err)
		err = get_str(x, g, "policy-file", p.policy_file, sizeof(p.policy_file), x->confdir);
	if (!err)
		err = get_str(x, g, "ca-file", p.ca_file, sizeof(p.ca_file), x->confdir);
	if (!err)
		err = get_str(x, g, "ciphersuites", p.ciphersuites, sizeof(p.ciphersuites), NULL);
	if (!err)
		err = get_pcrs(x, g, &p.pcr_mask);
	if (!err)
		err = get_bool(x, g, "batch", &p.batch);
	if (!err)
		err = get_range(x, g, "batch-window-us", &p.batch_window_us, MIN_BATCH_WINDOW_US,
				MAX_BATCH_WINDOW_US, " (microseconds)");
	if (!err)
		err = get_range(x, g, "batch-max", &p.batch_max, 1, MAX_BATCH_MAX,
				" (handshakes per quote)");
	if (err)
		return err;
	if (p.verify != ATLS_PEER_NONE && !p.policy_file[0])
		return perr(x, g, "a policy that verifies the peer needs policy-file");
	if (!slot) {
		if (c->n_policies >= ATLSD_MAX_POLICIES)
			return perr(x, g, "too many policies");
		slot = &c->policies[c->n_policies++];
	}
	*slot = p;
	return 0;
}

static int parse_root(struct pctx *x, struct atlsd_config *c, config_t *cf)
{
	static const char *const keys[] = { "tcti", "state-dir", "run-dir", "user", "key-mode",
					    "ak-handle", "tls-key-handle", "certificate",
					    "key-file", "workers", "workers-max", "log-level", "policies", NULL };
	const config_setting_t *root = config_root_setting(cf), *s;
	char cert[512] = "", key[512] = "", old_state[512];
	int err, i, n;

	err = only_keys(x, root, keys);
	if (err)
		return err;
	memcpy(old_state, c->state_dir, sizeof(old_state));
	if ((err = get_str(x, root, "tcti", c->tcti, sizeof(c->tcti), NULL)) ||
	    (err = get_str(x, root, "state-dir", c->state_dir, sizeof(c->state_dir), x->confdir)) ||
	    (err = get_str(x, root, "run-dir", c->run_dir, sizeof(c->run_dir), x->confdir)) ||
	    (err = get_str(x, root, "user", c->user, sizeof(c->user), NULL)) ||
	    (err = get_str(x, root, "certificate", cert, sizeof(cert), NULL)) ||
	    (err = get_str(x, root, "key-file", key, sizeof(key), NULL)) ||
	    (err = get_uint(x, root, "ak-handle", &c->ak_handle, 0x81000000LL, 0x81ffffffLL)) ||
	    (err = get_uint(x, root, "tls-key-handle", &c->tls_key_handle, 0x81000000LL,
			    0x81ffffffLL)) ||
	    (err = get_uint(x, root, "workers", &c->workers, 1, 256)) ||
	    (err = get_uint(x, root, "workers-max", &c->workers_max, 1, 1024)))
		return err;
	if (strcmp(old_state, c->state_dir)) {
		char nd[512];

		/* Paths derived from the old state dir follow the new one. */
		memcpy(nd, c->state_dir, sizeof(nd));
		memcpy(c->state_dir, old_state, sizeof(c->state_dir));
		atlsd_config_set_state_dir(c, nd);
	}
	if (*cert && atlsd_state_path(c, cert, c->cert_file, sizeof(c->cert_file)))
		return perr(x, NULL, "certificate path too long");
	if (*key && atlsd_state_path(c, key, c->key_file, sizeof(c->key_file)))
		return perr(x, NULL, "key-file path too long");
	s = config_setting_get_member(root, "key-mode");
	if (s) {
		const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
					? config_setting_get_string(s) : "";

		if (!strcmp(v, "tpm"))
			c->key_mode = ATLS_KEY_TPM;
		else if (!strcmp(v, "software"))
			c->key_mode = ATLS_KEY_SOFTWARE;
		else
			return perr(x, s, "key-mode must be \"tpm\" or \"software\"");
	}
	s = config_setting_get_member(root, "log-level");
	if (s) {
		const char *v = config_setting_type(s) == CONFIG_TYPE_STRING
					? config_setting_get_string(s) : "";

		if (!strcmp(v, "error"))
			c->log_level = ATLSD_LOG_ERR;
		else if (!strcmp(v, "warning"))
			c->log_level = ATLSD_LOG_WARN;
		else if (!strcmp(v, "info"))
			c->log_level = ATLSD_LOG_INFO;
		else if (!strcmp(v, "debug"))
			c->log_level = ATLSD_LOG_DEBUG;
		else
			return perr(x, s, "log-level must be error, warning, info or debug");
	}
	s = config_setting_get_member(root, "policies");
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return perr(x, s, "policies must be a group: policies = { name = { ... }; };");
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		err = parse_policy(x, c, config_setting_get_elem(s, i));
		if (err)
			return err;
	}
	return 0;
}

int atlsd_config_load(struct atlsd_config *c, const char *path, bool must_exist, char *err,
		      size_t errlen)
{
	struct pctx x = { .err = err, .errlen = errlen };
	char tmp[PATH_MAX];
	config_t cf;
	FILE *f;
	int ret;

	if (!path || strlen(path) >= sizeof(tmp) || strlen(path) >= sizeof(c->path))
		return -EINVAL;
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		if (ret == -ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	scopy(c->path, sizeof(c->path), path);
	scopy(tmp, sizeof(tmp), path);
	scopy(x.confdir, sizeof(x.confdir), dirname(tmp));
	config_init(&cf);
	if (config_read(&cf, f) != CONFIG_TRUE) {
		snprintf(err, errlen, "line %d: %s", config_error_line(&cf),
			 config_error_text(&cf) ? config_error_text(&cf) : "syntax error");
		ret = -EINVAL;
	} else {
		ret = parse_root(&x, c, &cf);
	}
	config_destroy(&cf);
	fclose(f);
	return ret;
}
