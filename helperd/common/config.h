/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atlsd.conf as both programs read it (config.c): atlsd runs it, atlsctl
 * finds the state directory, the TPM and the policies in it.
 */
#ifndef ATLSD_CONFIG_H
#define ATLSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <atls/atls.h>
#include <linux/atls.h>

/*
 * Who may use a policy (atls.conf(5) "allow"): one entry of its list.
 * Names are resolved to ids when the file is read.
 */
enum atlsd_allow_kind {
	ATLSD_ALLOW_ANYONE = 1,
	ATLSD_ALLOW_USER,		/* effective uid == id */
	ATLSD_ALLOW_GROUP,		/* effective gid or a supplementary group == id */
	ATLSD_ALLOW_UNIT,		/* a component of the cgroup path == path */
	ATLSD_ALLOW_CGROUP,		/* the cgroup path is path or below it */
};

#define ATLSD_MAX_ALLOW 16
#define ATLSD_ALLOW_PATH_MAX 256	/* bytes, with the NUL */
#define ATLSD_GROUP "atls"		/* the default allow: root and this group */

struct atlsd_allow {
	enum atlsd_allow_kind kind;
	uint32_t id;
	char path[ATLSD_ALLOW_PATH_MAX];
};

/*
 * The requester of one request as the kernel recorded it at ATLS_START
 * (Documentation/netlink.rst, ACCEPT's APP_* attributes).
 */
struct atlsd_requester {
	bool known;			/* the kernel sent APP_EUID (else: refuse) */
	uint32_t euid, egid;
	uint32_t ngroups;		/* all of them; groups[] holds the first */
	uint32_t n_groups;		/* entries in groups[] */
	uint32_t groups[ATLS_APP_GROUPS_MAX];
	uint64_t cgroup_id;
	bool have_cgroup;
	char cgroup[ATLS_CGROUP_PATH_MAX];
};

/* One named policy of atlsd.conf: what an application selects in ATLS_START. */
struct atlsd_policy {
	char name[ATLS_POLICY_MAX];
	bool attest;			/* produce our evidence when the peer asks */
	enum atls_peer_attest verify;	/* what we ask of the peer */
	char policy_file[512];		/* libatls appraisal policy (verify != none) */
	char ca_file[512];		/* optional CA bundle for the peer's chain */
	char ciphersuites[160];		/* "" = libatls default */
	uint32_t pcr_mask;		/* PCRs we quote */
	bool batch;			/* offer/accept batched quotes (protocol.rst), default on */
	uint32_t batch_window_us;	/* 100..1000000, default 0 = libatls's, 1 s */
	uint32_t batch_max;		/* handshakes per quote, 1..1024, default 64 */
	enum atls_binding binding;	/* evidence binding (protocol.rst), default handshake */
	const char *alias_of;		/* old name of a built-in: its new name */
	/* allow: n_allow entries; 0 = the default (root and group "atls") */
	unsigned int n_allow;
	struct atlsd_allow allow[ATLSD_MAX_ALLOW];
	bool default_gid_set;		/* group "atls" existed when the file was read */
	uint32_t default_gid;
};

#define ATLSD_MAX_POLICIES 32

struct atlsd_config {
	char path[512];			/* file read ("" = built-in defaults only) */
	char state_dir[512];		/* AK pub, certificate, trust store, peers policy */
	char run_dir[512];		/* control socket */
	char tcti[256];
	char user[64];			/* "" = stay root */
	char cert_file[512];		/* our TLS certificate */
	char key_file[512];		/* software key mode only */
	char key_secret_file[512];	/* the TPM keys' secret (evidence.rst, "Key
					 * authorization"), mode 0600, atlsd's user */
	enum atls_key_mode key_mode;
	uint32_t ak_handle, tls_key_handle;
	unsigned int workers;
	unsigned int workers_max;	/* 0: 8 x workers, at least 64, at most 1024 */
	unsigned int worker_idle_ms;	/* a grown worker idle this long exits (30000) */
	unsigned int workers_per_peer;	/* server requests per remote address; 0: half
					 * of the pool's maximum */
	unsigned int solo_quotes_per_peer;	/* server requests per remote address and
						 * second that may get a quote of their
						 * own (default 4, 0 = no limit) */
	unsigned int step_timeout_ms;	/* peer silent this long: dropped (default 5000) */
	unsigned int log_burst;		/* info lines: requests per uid and interval, 0 = all */
	unsigned int log_interval_ms;	/* the rate limit's interval (default 5000) */
	int log_level;
	unsigned int n_policies;
	struct atlsd_policy policies[ATLSD_MAX_POLICIES];
};

/* Defaults (no file): path of the state dir etc. from the environment. */
void atlsd_config_defaults(struct atlsd_config *c);
/* Read path over the defaults; a missing file is fine when !must_exist.
 * -errno with a message naming the line in err. */
int atlsd_config_load(struct atlsd_config *c, const char *path, bool must_exist, char *err,
		      size_t errlen);
/* Move the state dir; paths derived from the old one follow. */
void atlsd_config_set_state_dir(struct atlsd_config *c, const char *dir);
const struct atlsd_policy *atlsd_config_policy(const struct atlsd_config *c, const char *name);
/* A policy or peer name: 1..max_len of [A-Za-z0-9_-]. */
bool atlsd_valid_name(const char *n, size_t max_len);
/*
 * May who use p?  true, or false with why (for the log) naming what the
 * policy allows.
 */
bool atlsd_policy_allows(const struct atlsd_policy *p, const struct atlsd_requester *who,
			 char *why, size_t len);
/* What p authenticates of the peer when that is less than everything it
 * appears to (for a warning at load time), or NULL. */
const char *atlsd_policy_auth_note(const struct atlsd_policy *p);
/* Paths inside the state directory. */
int atlsd_state_path(const struct atlsd_config *c, const char *name, char *out, size_t len);

/* workers-max as configured, or 8 x workers within 64..1024; >= workers. */
/* Server requests one remote address may have in progress at once. */
static inline unsigned int atlsd_workers_per_peer(const struct atlsd_config *c,
						   unsigned int pool_max)
{
	if (c->workers_per_peer)
		return c->workers_per_peer;
	return pool_max > 1 ? pool_max / 2 : 1;
}

static inline unsigned int atlsd_workers_max(const struct atlsd_config *c)
{
	unsigned int m = c->workers_max ? c->workers_max : 8 * c->workers;

	if (!c->workers_max && m < 64)
		m = 64;
	if (!c->workers_max && m > 1024)
		m = 1024;
	return m < c->workers ? c->workers : m;
}

#endif /* ATLSD_CONFIG_H */
