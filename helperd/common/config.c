// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd.conf: the daemon's configuration (format: Documentation/atls.conf.5.rst,
 * libconfig syntax, read with Debian's libconfig).
 *
 * Everything has a default, so a host provisioned with `atlsctl provision`
 * runs with no file at all.  Built-in named policies (an application picks
 * one by name in ATLS_START; "" means "default"):
 *
 *   default                      attest when asked, require the peer's
 *                                evidence (peers.policy)
 *   attest-unauthenticated-peer  attest when asked, check nothing of the
 *                                peer (old name: attest-only)
 *   verify-only                  do not attest, require the peer's evidence
 *   unauthenticated              TLS encryption only: nothing is checked
 *                                either way (old name: none)
 *
 * Old names stay as aliases (same settings; atlsd warns at load time), and
 * every policy that authenticates no peer is named in a warning at load
 * time (atlsd_policy_auth_note()).
 *
 * Who may use a policy ("allow", atlsd_policy_allows()): every policy
 * presents this host's TLS identity (its certificate, TPM-backed key), so
 * without "allow" only root and members of group "atls" may; the names of
 * users and groups are resolved when the file is read.
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
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
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
 * The window only caps libatls's own choice (it closes a batch when nobody
 * else can join, and waits about as long as handshakes take to reach their
 * quote): by default (0) libatls's own cap, 1 s.
 */
#define DEF_BATCH_WINDOW_US 0u
/*
 * On by default: the bound on the TPM work an unauthenticated ClientHello
 * causes (Documentation/atlsd.8.rst, LIMITS): the handshakes that ask for
 * our evidence at the same time share one quote.  A batch never waits for
 * a handshake that waits for its peer (libatls batch.c), so a stalled peer
 * delays nobody's quote.
 */
#define DEF_BATCH true
#define MIN_BATCH_WINDOW_US 100
#define MAX_BATCH_WINDOW_US 1000000
#define DEF_BATCH_MAX 64u
#define MAX_BATCH_MAX 1024

static void scopy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static void add_builtin(struct atlsd_config *c, const char *name, bool attest,
			enum atls_peer_attest verify, const char *alias_of)
{
	struct atlsd_policy *p = &c->policies[c->n_policies++];

	memset(p, 0, sizeof(*p));
	scopy(p->name, sizeof(p->name), name);
	p->attest = attest;
	p->verify = verify;
	p->pcr_mask = DEF_PCR_MASK;
	p->batch = DEF_BATCH;
	p->batch_window_us = DEF_BATCH_WINDOW_US;
	p->batch_max = DEF_BATCH_MAX;
	p->alias_of = alias_of;
	if (verify != ATLS_PEER_NONE)
		atlsd_state_path(c, PEERS_POLICY, p->policy_file, sizeof(p->policy_file));
}

/*
 * The default allow's group (root and ATLSD_GROUP), looked up each time the
 * configuration is read: a host without the group lets root alone.
 */
static void resolve_default_group(struct atlsd_config *c)
{
	struct group *g = getgrnam(ATLSD_GROUP);
	unsigned int i;

	for (i = 0; i < c->n_policies; i++) {
		c->policies[i].default_gid_set = g != NULL;
		c->policies[i].default_gid = g ? g->gr_gid : 0;
	}
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
	c->worker_idle_ms = 30000;
	c->workers_per_peer = 0;
	c->solo_quotes_per_peer = 4;
	c->step_timeout_ms = 5000;
	c->log_burst = 10;
	c->log_interval_ms = 5000;
	c->log_level = ATLSD_LOG_INFO;
	atlsd_state_path(c, "tls-cert.pem", c->cert_file, sizeof(c->cert_file));
	atlsd_state_path(c, "tls-key.pem", c->key_file, sizeof(c->key_file));
	e = getenv("ATLS_KEY_SECRET");
	if (atlsd_state_path(c, e && *e ? e : "tpm-key-secret", c->key_secret_file,
			     sizeof(c->key_secret_file)))
		atlsd_state_path(c, "tpm-key-secret", c->key_secret_file,
				 sizeof(c->key_secret_file));
	c->n_policies = 0;
	add_builtin(c, "default", true, ATLS_PEER_REQUIRED, NULL);
	add_builtin(c, "attest-unauthenticated-peer", true, ATLS_PEER_NONE, NULL);
	add_builtin(c, "verify-only", false, ATLS_PEER_REQUIRED, NULL);
	add_builtin(c, "unauthenticated", false, ATLS_PEER_NONE, NULL);
	add_builtin(c, "attest-only", true, ATLS_PEER_NONE, "attest-unauthenticated-peer");
	add_builtin(c, "none", false, ATLS_PEER_NONE, "unauthenticated");
	resolve_default_group(c);
}

const char *atlsd_policy_auth_note(const struct atlsd_policy *p)
{
	if (p->ca_file[0] || p->verify == ATLS_PEER_REQUIRED)
		return NULL;
	if (p->verify == ATLS_PEER_NONE)
		return "authenticates no peer: verify-peer is \"none\" and there is no "
		       "ca-file, so any certificate is accepted";
	return "authenticates a peer only when it sends evidence: verify-peer is "
	       "\"optional\" and there is no ca-file, so a peer that declines is accepted "
	       "with any certificate";
}

/* ---------------------------------------------------------- authorization */

static bool in_groups(const struct atlsd_requester *w, uint32_t gid)
{
	uint32_t i;

	if (w->egid == gid)
		return true;
	for (i = 0; i < w->n_groups; i++)
		if (w->groups[i] == gid)
			return true;
	return false;
}

/* Is a path component of cgroup equal to unit? */
static bool has_component(const char *cgroup, const char *unit)
{
	size_t n = strlen(unit);
	const char *p = cgroup;

	while ((p = strchr(p, '/'))) {
		p++;
		if (!strncmp(p, unit, n) && (p[n] == '/' || !p[n]))
			return true;
	}
	return false;
}

/* Is cgroup base itself or below it? */
static bool below(const char *cgroup, const char *base)
{
	size_t n = strlen(base);

	if (!strcmp(base, "/"))
		return cgroup[0] == '/';
	return !strncmp(cgroup, base, n) && (cgroup[n] == '/' || !cgroup[n]);
}

static bool allow_matches(const struct atlsd_allow *a, const struct atlsd_requester *w)
{
	switch (a->kind) {
	case ATLSD_ALLOW_ANYONE:
		return true;
	case ATLSD_ALLOW_USER:
		return w->known && w->euid == a->id;
	case ATLSD_ALLOW_GROUP:
		return w->known && in_groups(w, a->id);
	case ATLSD_ALLOW_UNIT:
		return w->known && w->have_cgroup && has_component(w->cgroup, a->path);
	case ATLSD_ALLOW_CGROUP:
		return w->known && w->have_cgroup && below(w->cgroup, a->path);
	}
	return false;
}

static void describe_allow(const struct atlsd_policy *p, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;
	int n;

	buf[0] = 0;
	if (!p->n_allow) {
		if (p->default_gid_set)
			snprintf(buf, len, "root and group %s (%u)", ATLSD_GROUP, p->default_gid);
		else
			snprintf(buf, len, "root (no group %s on this host)", ATLSD_GROUP);
		return;
	}
	for (i = 0; i < p->n_allow && off < len; i++) {
		const struct atlsd_allow *a = &p->allow[i];
		const char *sep = i ? ", " : "";

		switch (a->kind) {
		case ATLSD_ALLOW_ANYONE:
			n = snprintf(buf + off, len - off, "%sanyone", sep);
			break;
		case ATLSD_ALLOW_USER:
			n = snprintf(buf + off, len - off, "%suid %u", sep, a->id);
			break;
		case ATLSD_ALLOW_GROUP:
			n = snprintf(buf + off, len - off, "%sgid %u", sep, a->id);
			break;
		case ATLSD_ALLOW_UNIT:
			n = snprintf(buf + off, len - off, "%sunit %s", sep, a->path);
			break;
		default:
			n = snprintf(buf + off, len - off, "%scgroup %s", sep, a->path);
			break;
		}
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

bool atlsd_policy_allows(const struct atlsd_policy *p, const struct atlsd_requester *who,
			 char *why, size_t len)
{
	char allowed[200];
	unsigned int i;

	if (!p->n_allow) {
		if (who->known && (who->euid == 0 ||
				   (p->default_gid_set && in_groups(who, p->default_gid))))
			return true;
	}
	for (i = 0; i < p->n_allow; i++)
		if (allow_matches(&p->allow[i], who))
			return true;
	if (why && len) {
		describe_allow(p, allowed, sizeof(allowed));
		if (!who->known)
			snprintf(why, len, "the kernel did not say who the requester is; "
				 "policy \"%s\" allows %s", p->name, allowed);
		else
			snprintf(why, len, "euid %u egid %u%s cgroup %s may not use policy "
				 "\"%s\" (allows %s)", who->euid, who->egid,
				 who->ngroups > who->n_groups ? " (groups truncated)" : "",
				 who->have_cgroup ? who->cgroup : "?", p->name, allowed);
	}
	return false;
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
	rebase(c->key_secret_file, sizeof(c->key_secret_file), c->state_dir, dir);
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

/* One name a string setting may take, and what it stands for. */
struct choice {
	const char *name;
	int value;
};

/* A string setting key naming one of choices (ending with { NULL }): that
 * choice's value in *dst.  Absent: 0, *dst unchanged; anything else: msg. */
static int get_choice(struct pctx *x, const config_setting_t *g, const char *key,
		      const struct choice *choices, int *dst, const char *msg)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;

	if (!s)
		return 0;
	v = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : "";
	for (; choices->name; choices++)
		if (!strcmp(v, choices->name)) {
			*dst = choices->value;
			return 0;
		}
	return perr(x, s, msg);
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

/* A decimal id 0..4294967294 (-1 is "no id" to the kernel). */
static bool parse_id(const char *s, uint32_t *id)
{
	unsigned long long v = 0;

	if (!*s || strlen(s) > 10)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (v >= 0xffffffffULL)
		return false;
	*id = (uint32_t)v;
	return true;
}

/* A systemd unit that has a cgroup: NAME.service, .scope or .slice. */
static bool valid_unit(const char *u)
{
	static const char *const sfx[] = { ".service", ".scope", ".slice", NULL };
	size_t i, n = strlen(u);
	const char *const *s;

	if (!n || n >= ATLSD_ALLOW_PATH_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
		      (u[i] >= '0' && u[i] <= '9') || strchr(":-_.\\@", u[i])))
			return false;
	for (s = sfx; *s; s++) {
		size_t k = strlen(*s);

		if (n > k && !strcmp(u + n - k, *s))
			return true;
	}
	return false;
}

/* An absolute, normalized cgroup path: "/" or "/a/b" (no "//", ".", "..",
 * trailing "/"), printable ASCII without spaces. */
static bool valid_cgroup(const char *p)
{
	size_t i, n = strlen(p);

	if (!n || n >= ATLSD_ALLOW_PATH_MAX || p[0] != '/')
		return false;
	if (n == 1)
		return true;
	if (p[n - 1] == '/' || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") ||
	    (n >= 2 && !strcmp(p + n - 2, "/.")) || (n >= 3 && !strcmp(p + n - 3, "/..")))
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] > 0x7e)
			return false;
	return true;
}

/* user:NAME|UID, group:NAME|GID: the id, from the number or the name. */
static bool take_id(const char *v, struct atlsd_allow *a)
{
	struct passwd *pw;
	struct group *gr;

	if (parse_id(v, &a->id))
		return true;
	if (!*v)
		return false;
	if (a->kind == ATLSD_ALLOW_USER) {
		pw = getpwnam(v);
		a->id = pw ? pw->pw_uid : 0;
		return pw != NULL;
	}
	gr = getgrnam(v);
	a->id = gr ? gr->gr_gid : 0;
	return gr != NULL;
}

/* unit:NAME, cgroup:/PATH: the checked name or path, kept as it is. */
static bool take_path(const char *v, struct atlsd_allow *a)
{
	if (!(a->kind == ATLSD_ALLOW_UNIT ? valid_unit(v) : valid_cgroup(v)))
		return false;
	scopy(a->path, sizeof(a->path), v);
	return true;
}

#define STR_(x) #x
#define STR(x) STR_(x)

/* The allow entries KIND:VALUE; bad: the error for a VALUE not taken (%.100s). */
static const struct {
	const char *prefix;
	enum atlsd_allow_kind kind;
	bool (*take)(const char *v, struct atlsd_allow *a);
	const char *bad;
} allow_kinds[] = {
	{ "user:", ATLSD_ALLOW_USER, take_id,
	  "allow: unknown user \"%.100s\" (user:NAME or user:UID)" },
	{ "group:", ATLSD_ALLOW_GROUP, take_id,
	  "allow: unknown group \"%.100s\" (group:NAME or group:GID)" },
	{ "unit:", ATLSD_ALLOW_UNIT, take_path,
	  "allow: \"%.100s\" is not a systemd unit name (NAME.service, NAME.scope or NAME.slice)" },
	{ "cgroup:", ATLSD_ALLOW_CGROUP, take_path,
	  "allow: \"%.100s\" is not an absolute cgroup path (\"/\" or \"/a/b\", no \"//\", \".\", "
	  "\"..\" or trailing \"/\", shorter than " STR(ATLSD_ALLOW_PATH_MAX) ")" },
};

static int allow_entry(struct pctx *x, const config_setting_t *s, const char *v,
		       struct atlsd_allow *a)
{
	char msg[400];
	size_t i, n;

	memset(a, 0, sizeof(*a));
	if (!strcmp(v, "anyone")) {
		a->kind = ATLSD_ALLOW_ANYONE;
		return 0;
	}
	for (i = 0; i < sizeof(allow_kinds) / sizeof(allow_kinds[0]); i++) {
		n = strlen(allow_kinds[i].prefix);
		if (strncmp(v, allow_kinds[i].prefix, n))
			continue;
		a->kind = allow_kinds[i].kind;
		if (allow_kinds[i].take(v + n, a))
			return 0;
		snprintf(msg, sizeof(msg), allow_kinds[i].bad, v + n);
		return perr(x, s, msg);
	}
	snprintf(msg, sizeof(msg), "allow: \"%.100s\" is not one of anyone, user:NAME, "
		 "group:NAME, unit:NAME.service, cgroup:/PATH", v);
	return perr(x, s, msg);
}

static int get_allow(struct pctx *x, const config_setting_t *g, struct atlsd_policy *p)
{
	const config_setting_t *s = config_setting_get_member(g, "allow");
	bool anyone = false;
	int i, n;

	if (!s)
		return 0;
	if ((config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	     config_setting_type(s) != CONFIG_TYPE_LIST) || !(n = config_setting_length(s)))
		return perr(x, s, "allow must be a non-empty list of strings, e.g. "
			    "[ \"group:web\", \"unit:nginx.service\" ] or [ \"anyone\" ]");
	if (n > ATLSD_MAX_ALLOW)
		return perr(x, s, "allow has more than 16 entries");
	p->n_allow = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		int err;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return perr(x, s, "allow entries must be strings");
		err = allow_entry(x, s, config_setting_get_string(e), &p->allow[p->n_allow]);
		if (err)
			return err;
		anyone |= p->allow[p->n_allow].kind == ATLSD_ALLOW_ANYONE;
		p->n_allow++;
	}
	if (anyone && n > 1)
		return perr(x, s, "allow: \"anyone\" cannot be combined with other entries");
	return 0;
}

static int parse_policy(struct pctx *x, struct atlsd_config *c, const config_setting_t *g)
{
	static const char *const keys[] = { "attest", "verify-peer", "policy-file", "ca-file",
					    "ciphersuites", "pcrs", "batch", "batch-window-us",
					    "batch-max", "binding", "allow", NULL };
	static const struct choice verify_peer[] = { { "none", ATLS_PEER_NONE },
						     { "optional", ATLS_PEER_OPTIONAL },
						     { "required", ATLS_PEER_REQUIRED },
						     { NULL, 0 } };
	static const struct choice bindings[] = { { "handshake", ATLS_BINDING_HANDSHAKE },
						  { "exporter", ATLS_BINDING_EXPORTER },
						  { NULL, 0 } };
	const char *name = config_setting_name(g);
	struct atlsd_policy p, *slot = NULL;
	unsigned int i;
	int err, verify, binding;

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
		p.batch = DEF_BATCH;
		p.batch_window_us = DEF_BATCH_WINDOW_US;
		p.batch_max = DEF_BATCH_MAX;
		atlsd_state_path(c, PEERS_POLICY, p.policy_file, sizeof(p.policy_file));
	}
	err = only_keys(x, g, keys);
	if (!err)
		err = get_bool(x, g, "attest", &p.attest);
	verify = p.verify;
	if (!err)
		err = get_choice(x, g, "verify-peer", verify_peer, &verify,
				 "verify-peer must be \"none\", \"optional\" or \"required\"");
	p.verify = verify;
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
	binding = p.binding;
	if (!err)
		err = get_choice(x, g, "binding", bindings, &binding,
				 "binding must be \"handshake\" or \"exporter\"");
	p.binding = binding;
	if (!err)
		err = get_allow(x, g, &p);
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
					    "key-file", "key-secret", "workers", "workers-max", "worker-idle-ms",
					    "workers-per-peer", "solo-quotes-per-peer",
					    "step-timeout-ms",
					    "log-level", "log-burst", "log-interval-ms", "policies",
					    NULL };
	static const struct choice key_modes[] = { { "tpm", ATLS_KEY_TPM },
						   { "software", ATLS_KEY_SOFTWARE },
						   { NULL, 0 } };
	static const struct choice log_levels[] = { { "error", ATLSD_LOG_ERR },
						    { "warning", ATLSD_LOG_WARN },
						    { "info", ATLSD_LOG_INFO },
						    { "debug", ATLSD_LOG_DEBUG },
						    { NULL, 0 } };
	const config_setting_t *root = config_root_setting(cf), *s;
	char cert[512] = "", key[512] = "", secret[512] = "", old_state[512];
	int err, i, n, key_mode = c->key_mode;

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
	    (err = get_str(x, root, "key-secret", secret, sizeof(secret), NULL)) ||
	    (err = get_uint(x, root, "ak-handle", &c->ak_handle, 0x81000000LL, 0x81ffffffLL)) ||
	    (err = get_uint(x, root, "tls-key-handle", &c->tls_key_handle, 0x81000000LL,
			    0x81ffffffLL)) ||
	    (err = get_uint(x, root, "workers", &c->workers, 1, 256)) ||
	    (err = get_uint(x, root, "workers-max", &c->workers_max, 1, 1024)) ||
	    (err = get_uint(x, root, "worker-idle-ms", &c->worker_idle_ms, 100, 86400000)) ||
	    (err = get_uint(x, root, "workers-per-peer", &c->workers_per_peer, 1, 1024)) ||
	    (err = get_uint(x, root, "solo-quotes-per-peer", &c->solo_quotes_per_peer, 0,
			    1000000)) ||
	    (err = get_uint(x, root, "step-timeout-ms", &c->step_timeout_ms, 100, 120000)) ||
	    (err = get_uint(x, root, "log-burst", &c->log_burst, 0, 1000000)) ||
	    (err = get_uint(x, root, "log-interval-ms", &c->log_interval_ms, 100, 3600000)))
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
	s = config_setting_get_member(root, "key-secret");
	if (s && !*secret)
		return perr(x, s, "key-secret must name a file");
	if (*secret && atlsd_state_path(c, secret, c->key_secret_file,
					sizeof(c->key_secret_file)))
		return perr(x, NULL, "key-secret path too long");
	err = get_choice(x, root, "key-mode", key_modes, &key_mode,
			 "key-mode must be \"tpm\" or \"software\"");
	c->key_mode = key_mode;
	if (!err)
		err = get_choice(x, root, "log-level", log_levels, &c->log_level,
				 "log-level must be error, warning, info or debug");
	if (err)
		return err;
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
	resolve_default_group(c);
	config_destroy(&cf);
	fclose(f);
	return ret;
}
