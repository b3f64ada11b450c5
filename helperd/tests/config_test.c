// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd.conf parser (helperd/common/config.c): defaults with no file, every
 * setting, built-in policies and their override, state-dir rebasing, and
 * the refusals: unknown settings, wrong types, out-of-range values, bad
 * names, syntax errors.  A configuration is trusted input, but a typo must
 * be an error, never a silently weaker policy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../common/config.h"
#include "../common/log.h"

static char dir[] = "/tmp/atlsd-config-test-XXXXXX";

static int load_text(const char *text, struct atlsd_config *c, char *err, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/atlsd.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return -EIO;
	fputs(text, f);
	fclose(f);
	atlsd_config_defaults(c);
	err[0] = 0;
	return atlsd_config_load(c, path, true, err, len);
}

/* Policy name of c, every setting but the allow list (allow_* tests) against want's. */
static void expect_policy(struct __test_metadata *_metadata, const struct atlsd_config *c,
			  const char *name, const struct atlsd_policy *want)
{
	const struct atlsd_policy *p = atlsd_config_policy(c, name);

	ASSERT_TRUE(p != NULL) TH_LOG("no policy \"%s\"", name);
	EXPECT_STREQ(want->name, p->name);
	EXPECT_EQ(want->attest, p->attest);
	EXPECT_EQ(want->verify, p->verify);
	EXPECT_STREQ(want->policy_file, p->policy_file);
	EXPECT_STREQ(want->ca_file, p->ca_file);
	EXPECT_STREQ(want->ciphersuites, p->ciphersuites);
	EXPECT_EQ(want->pcr_mask, p->pcr_mask);
	EXPECT_EQ(want->batch, p->batch);
	EXPECT_EQ(want->batch_window_us, p->batch_window_us);
	EXPECT_EQ(want->batch_max, p->batch_max);
	EXPECT_EQ(want->binding, p->binding);
}

TEST(defaults_without_file)
{
	struct atlsd_config c;
	const struct atlsd_policy *p;
	char err[256];

	setenv("ATLS_STATE_DIR", "/srv/atls", 1);
	atlsd_config_defaults(&c);
	unsetenv("ATLS_STATE_DIR");
	ASSERT_EQ(0, atlsd_config_load(&c, "/nonexistent/atlsd.conf", false, err, sizeof(err)));
	EXPECT_STREQ("/srv/atls", c.state_dir);
	EXPECT_STREQ("/srv/atls/tls-cert.pem", c.cert_file);
	EXPECT_STREQ("/srv/atls/tpm-key-secret", c.key_secret_file);
	EXPECT_STREQ("device:/dev/tpmrm0", c.tcti);
	EXPECT_EQ(ATLS_KEY_TPM, c.key_mode);
	EXPECT_EQ(0x81010010u, c.ak_handle);
	EXPECT_EQ(5000u, c.step_timeout_ms);
	EXPECT_EQ(10u, c.log_burst);
	EXPECT_EQ(30000u, c.worker_idle_ms);
	EXPECT_EQ(32u, atlsd_workers_per_peer(&c, 64));	/* half the maximum */
	EXPECT_EQ(1u, atlsd_workers_per_peer(&c, 1));
	EXPECT_EQ(4u, c.solo_quotes_per_peer);	/* per address and second */
	EXPECT_EQ(5000u, c.log_interval_ms);
	EXPECT_EQ(6, c.n_policies);	/* 4 built-ins + 2 old names */
	expect_policy(_metadata, &c, "", &(struct atlsd_policy){
		.name = "default", .attest = true, .verify = ATLS_PEER_REQUIRED,
		.policy_file = "/srv/atls/peers.policy", .pcr_mask = 0xff, .batch = true,
		.batch_window_us = 0, .batch_max = 64 });
	p = atlsd_config_policy(&c, "attest-only");
	ASSERT_TRUE(p != NULL);
	EXPECT_TRUE(p->attest);
	EXPECT_EQ(ATLS_PEER_NONE, p->verify);
	p = atlsd_config_policy(&c, "verify-only");
	ASSERT_TRUE(p != NULL);
	EXPECT_FALSE(p->attest);
	EXPECT_EQ(ATLS_PEER_REQUIRED, p->verify);
	EXPECT_TRUE(atlsd_config_policy(&c, "none") != NULL);
	EXPECT_TRUE(atlsd_config_policy(&c, "nope") == NULL);
}

TEST(missing_file_when_named)
{
	struct atlsd_config c;
	char err[256];

	atlsd_config_defaults(&c);
	EXPECT_EQ(-ENOENT, atlsd_config_load(&c, "/nonexistent/atlsd.conf", true, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "cannot open"));
}

TEST(every_setting)
{
	struct atlsd_policy strict = {
		.name = "strict", .attest = false, .verify = ATLS_PEER_OPTIONAL,
		.ca_file = "/etc/ca.pem", .ciphersuites = "TLS_AES_256_GCM_SHA384",
		.pcr_mask = (1u << 0) | (1u << 7) | (1u << 23), .batch = true,
		.batch_window_us = 5000, .batch_max = 1024, .binding = ATLS_BINDING_EXPORTER };
	struct atlsd_config c;
	const struct atlsd_policy *p;
	char err[256], want[200];

	ASSERT_EQ(0, load_text("tcti = \"swtpm:port=2321\";\n"
			       "state-dir = \"state\";\n"
			       "run-dir = \"/run/x\";\n"
			       "user = \"atls\";\n"
			       "key-mode = \"software\";\n"
			       "ak-handle = 0x81010020;\n"
			       "tls-key-handle = 0x81010021;\n"
			       "key-file = \"k.pem\";\n"
			       "key-secret = \"s/secret\";\n"
			       "workers = 3;\n"
			       "workers-max = 5;\n"
			       "worker-idle-ms = 2500;\n"
			       "workers-per-peer = 4;\n"
			       "solo-quotes-per-peer = 0;\n"
			       "step-timeout-ms = 750;\n"
			       "log-level = \"debug\";\n"
			       "log-burst = 0;\n"
			       "log-interval-ms = 100;\n"
			       "policies = {\n"
			       "  strict = { attest = false; verify-peer = \"optional\";\n"
			       "             policy-file = \"p/strict.policy\"; ca-file = \"/etc/ca.pem\";\n"
			       "             ciphersuites = \"TLS_AES_256_GCM_SHA384\"; pcrs = [ 0, 7, 23 ];\n"
			       "             batch = true; batch-window-us = 5000; batch-max = 1024;\n"
			       "             binding = \"exporter\"; };\n"
			       "  default = { verify-peer = \"none\"; };\n"
			       "};\n", &c, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_STREQ("swtpm:port=2321", c.tcti);
	snprintf(want, sizeof(want), "%s/state", dir);
	EXPECT_STREQ(want, c.state_dir);
	snprintf(want, sizeof(want), "%s/state/tls-cert.pem", dir);
	EXPECT_STREQ(want, c.cert_file);
	snprintf(want, sizeof(want), "%s/state/k.pem", dir);
	EXPECT_STREQ(want, c.key_file);
	snprintf(want, sizeof(want), "%s/state/s/secret", dir);
	EXPECT_STREQ(want, c.key_secret_file);
	EXPECT_STREQ("/run/x", c.run_dir);
	EXPECT_STREQ("atls", c.user);
	EXPECT_EQ(ATLS_KEY_SOFTWARE, c.key_mode);
	EXPECT_EQ(0x81010020u, c.ak_handle);
	EXPECT_EQ(0x81010021u, c.tls_key_handle);
	EXPECT_EQ(3, c.workers);
	EXPECT_EQ(5, c.workers_max);
	EXPECT_EQ(5, atlsd_workers_max(&c));
	EXPECT_EQ(2500, c.worker_idle_ms);
	EXPECT_EQ(4u, atlsd_workers_per_peer(&c, 5));
	EXPECT_EQ(0u, c.solo_quotes_per_peer);	/* no limit */
	EXPECT_EQ(0, c.log_burst);
	EXPECT_EQ(100, c.log_interval_ms);
	EXPECT_EQ(750u, c.step_timeout_ms);
	EXPECT_EQ(ATLSD_LOG_DEBUG, c.log_level);
	EXPECT_EQ(7, c.n_policies);	/* 6 built-in names + strict */
	snprintf(strict.policy_file, sizeof(strict.policy_file), "%s/p/strict.policy", dir);
	expect_policy(_metadata, &c, "strict", &strict);
	/* A built-in overridden in part keeps the rest. */
	p = atlsd_config_policy(&c, "default");
	ASSERT_TRUE(p != NULL);
	EXPECT_TRUE(p->attest);
	EXPECT_EQ(ATLS_PEER_NONE, p->verify);
	EXPECT_EQ(ATLS_BINDING_HANDSHAKE, p->binding);	/* the default binding */
	/* The built-in peers.policy follows the state dir of the file. */
	p = atlsd_config_policy(&c, "verify-only");
	snprintf(want, sizeof(want), "%s/state/peers.policy", dir);
	EXPECT_STREQ(want, p->policy_file);
}

/* $ATLS_KEY_SECRET sets the default; an absolute path stays put. */
TEST(key_secret_from_environment)
{
	struct atlsd_config c;

	setenv("ATLS_KEY_SECRET", "/etc/atls/host.secret", 1);
	atlsd_config_defaults(&c);
	unsetenv("ATLS_KEY_SECRET");
	EXPECT_STREQ("/etc/atls/host.secret", c.key_secret_file);
	atlsd_config_set_state_dir(&c, "/tmp/elsewhere");
	EXPECT_STREQ("/etc/atls/host.secret", c.key_secret_file);
}

TEST(state_dir_option_rebases)
{
	struct atlsd_config c;

	atlsd_config_defaults(&c);
	atlsd_config_set_state_dir(&c, "/tmp/elsewhere");
	EXPECT_STREQ("/tmp/elsewhere/tls-cert.pem", c.cert_file);
	EXPECT_STREQ("/tmp/elsewhere/tpm-key-secret", c.key_secret_file);
	EXPECT_STREQ("/tmp/elsewhere/peers.policy", atlsd_config_policy(&c, NULL)->policy_file);
}

static const char *const bad[] = {
	"tcti = \"x\"; colour = \"blue\";\n",			/* unknown setting */
	"policies = { p = { attest = true; verfy-peer = \"none\"; }; };\n",
	"policies = { p = { verify-peer = \"maybe\"; }; };\n",
	"policies = { p = { verify-peer = 1; }; };\n",
	"policies = { p = { attest = \"yes\"; }; };\n",
	"policies = { p = { pcrs = [ 24 ]; }; };\n",
	"policies = { p = { pcrs = [ -1 ]; }; };\n",
	"policies = { p = { pcrs = [ ]; }; };\n",
	"policies = { p = { pcrs = [ \"0\" ]; }; };\n",
	"policies = { p = { policy-file = 5; }; };\n",
	"policies = { p = { verify-peer = \"required\"; policy-file = \"\"; }; };\n",
	"policies = { p = 1; };\n",
	"policies = 5;\n",
	"policies = { aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = { }; };\n",
	"policies = { p = { batch = 1; }; };\n",
	"policies = { p = { batch = \"true\"; }; };\n",
	"policies = { p = { batch = true; batch-window-us = 0; }; };\n",
	"policies = { p = { batch = true; batch-window-us = 99; }; };\n",
	"policies = { p = { batch = true; batch-window-us = -20000; }; };\n",
	"policies = { p = { batch = true; batch-window-us = 1000001; }; };\n",
	"policies = { p = { batch = true; batch-window-us = 4294987296L; }; };\n",
	"policies = { p = { batch = true; batch-window-us = 20000.0; }; };\n",
	"policies = { p = { batch = true; batch-window-us = \"20ms\"; }; };\n",
	"policies = { p = { batch = true; batch-max = 0; }; };\n",
	"policies = { p = { batch = true; batch-max = 1025; }; };\n",
	"policies = { p = { batch = true; batch-max = -1; }; };\n",
	"policies = { p = { batch = true; batch-max = [ 64 ]; }; };\n",
	"policies = { p = { batch = true; batch_max = 64; }; };\n",
	"policies = { p = { binding = \"export\"; }; };\n",
	"policies = { p = { binding = 1; }; };\n",
	"policies = { p = { binding = [ \"exporter\" ]; }; };\n",
	"policies = { p = { binding = \"\"; }; };\n",
	"workers = 0;\n",
	"workers = 100000;\n",
	"workers = \"8\";\n",
	"workers-max = 0;\n",
	"workers-max = 1025;\n",
	"workers-max = 64.5;\n",
	"step-timeout-ms = 99;\n",
	"step-timeout-ms = 120001;\n",
	"workers-per-peer = 0;\n",
	"workers-per-peer = 1025;\n",
	"solo-quotes-per-peer = -1;\n",
	"solo-quotes-per-peer = 1000001;\n",
	"solo-quotes-per-peer = \"4/s\";\n",
	"worker-idle-ms = 99;\n",
	"worker-idle-ms = 86400001;\n",
	"log-burst = -1;\n",
	"log-burst = 1000001;\n",
	"log-burst = \"10\";\n",
	"log-interval-ms = 99;\n",
	"log-interval-ms = 3600001;\n",
	"log-interval-ms = 0;\n",
	"ak-handle = 5;\n",
	"ak-handle = 0x82000000;\n",
	"key-mode = \"hsm\";\n",
	"key-secret = 5;\n",
	"key-secret = \"\";\n",
	"key-secret = [ \"s\" ];\n",
	"log-level = \"loud\";\n",
	"tcti = 1;\n",
	"tcti = ;\n",						/* syntax */
	"tcti = \"x\"; tcti = \"y\";\n",			/* duplicate */
	"{ }\n",
	"\x01\x02\x03",
};

TEST(refusals)
{
	struct atlsd_config c;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-EINVAL, load_text(bad[i], &c, err, sizeof(err)))
			TH_LOG("accepted bad config %zu: %s", i, bad[i]);
		EXPECT_NE(0, err[0]) TH_LOG("no message for bad config %zu", i);
	}
}

/* Batch limits: the message names the setting, its range and its unit. */
/* Batching is on unless a policy turns it off (atlsd.8, LIMITS). */
TEST(batch_on_by_default)
{
	struct atlsd_config c;
	char err[256];
	unsigned int i;

	atlsd_config_defaults(&c);
	ASSERT_EQ(0, load_text("policies = { mine = { attest = true; };\n"
			       "  off = { batch = false; }; unauthenticated = { batch = false; }; };\n",
			       &c, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_TRUE(atlsd_config_policy(&c, "mine")->batch);
	EXPECT_FALSE(atlsd_config_policy(&c, "off")->batch);
	EXPECT_FALSE(atlsd_config_policy(&c, "unauthenticated")->batch);
	EXPECT_TRUE(atlsd_config_policy(&c, "default")->batch);
	for (i = 0; i < c.n_policies; i++)	/* and every built-in not overridden */
		if (strcmp(c.policies[i].name, "unauthenticated") && strcmp(c.policies[i].name, "off"))
			EXPECT_TRUE(c.policies[i].batch) TH_LOG("%s", c.policies[i].name);
}

TEST(batch_messages)
{
	struct atlsd_config c;
	char err[256];

	EXPECT_EQ(-EINVAL, load_text("policies = {\n  fast = { batch = true;\n"
				     "    batch-window-us = 2000000; }; };\n", &c, err, sizeof(err)));
	EXPECT_STREQ("line 3: batch-window-us must be an integer 100..1000000 (microseconds)",
		     err);
	EXPECT_EQ(-EINVAL, load_text("policies = { fast = { batch-max = 5000; }; };\n", &c, err,
				     sizeof(err)));
	EXPECT_STREQ("line 1: batch-max must be an integer 1..1024 (handshakes per quote)", err);
	/* The bounds themselves are fine. */
	EXPECT_EQ(0, load_text("policies = { a = { batch = true; batch-window-us = 100;\n"
			       "  batch-max = 1; }; b = { batch-window-us = 1000000; }; };\n", &c,
			       err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(100u, atlsd_config_policy(&c, "a")->batch_window_us);
	EXPECT_EQ(1u, atlsd_config_policy(&c, "a")->batch_max);
	EXPECT_TRUE(atlsd_config_policy(&c, "b")->batch);	/* the default: on */
}

TEST(long_strings)
{
	struct atlsd_config c;
	char text[3000], err[256];

	memset(text, 0, sizeof(text));
	strcpy(text, "tcti = \"");
	memset(text + strlen(text), 'x', 1000);
	strcat(text, "\";\n");
	EXPECT_EQ(-EINVAL, load_text(text, &c, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "too long"));
	strcpy(text, "policies = { p = { policy-file = \"/");
	memset(text + strlen(text), 'y', 2000);
	strcat(text, "\"; }; };\n");
	EXPECT_EQ(-EINVAL, load_text(text, &c, err, sizeof(err)));
}

TEST(too_many_policies)
{
	struct atlsd_config c;
	char text[4096], err[256];
	size_t off;
	int i;

	off = snprintf(text, sizeof(text), "policies = {\n");
	for (i = 0; i < ATLSD_MAX_POLICIES; i++)
		off += snprintf(text + off, sizeof(text) - off, " p%d = { };\n", i);
	snprintf(text + off, sizeof(text) - off, "};\n");
	EXPECT_EQ(-EINVAL, load_text(text, &c, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "too many"));
}

/*
 * "allow" (who may use a policy): every bad entry is refused, and the
 * message names the entry and what is expected.
 */
static const struct {
	const char *entry, *says;
} bad_allow[] = {
	{ "[ ]", "allow must be a non-empty list of strings" },
	{ "\"anyone\"", "allow must be a non-empty list of strings" },
	{ "[ 0 ]", "allow entries must be strings" },
	{ "( \"anyone\", 5 )", "allow entries must be strings" },
	{ "[ \"everyone\" ]", "\"everyone\" is not one of anyone, user:NAME" },
	{ "[ \"root\" ]", "\"root\" is not one of anyone, user:NAME" },
	{ "[ \"user:\" ]", "unknown user \"\"" },
	{ "[ \"user:no-such-user-atls\" ]", "unknown user \"no-such-user-atls\"" },
	{ "[ \"user:4294967295\" ]", "unknown user \"4294967295\"" },
	{ "[ \"user:-1\" ]", "unknown user \"-1\"" },
	{ "[ \"group:no-such-group-atls\" ]", "unknown group \"no-such-group-atls\"" },
	{ "[ \"group:\" ]", "unknown group \"\"" },
	{ "[ \"unit:nginx\" ]", "\"nginx\" is not a systemd unit name" },
	{ "[ \"unit:.service\" ]", "\".service\" is not a systemd unit name" },
	{ "[ \"unit:a b.service\" ]", "\"a b.service\" is not a systemd unit name" },
	{ "[ \"unit:a/b.service\" ]", "\"a/b.service\" is not a systemd unit name" },
	{ "[ \"cgroup:system.slice\" ]", "\"system.slice\" is not an absolute cgroup path" },
	{ "[ \"cgroup:\" ]", "\"\" is not an absolute cgroup path" },
	{ "[ \"cgroup:/a/\" ]", "\"/a/\" is not an absolute cgroup path" },
	{ "[ \"cgroup:/a//b\" ]", "\"/a//b\" is not an absolute cgroup path" },
	{ "[ \"cgroup:/a/../b\" ]", "\"/a/../b\" is not an absolute cgroup path" },
	{ "[ \"cgroup:/a/..\" ]", "\"/a/..\" is not an absolute cgroup path" },
	{ "[ \"cgroup:/a/.\" ]", "\"/a/.\" is not an absolute cgroup path" },
	{ "[ \"cgroup:/a b\" ]", "\"/a b\" is not an absolute cgroup path" },
	{ "[ \"anyone\", \"user:0\" ]", "\"anyone\" cannot be combined" },
	{ "[ \"user:0\", \"user:1\", \"user:2\", \"user:3\", \"user:4\", \"user:5\", "
	  "\"user:6\", \"user:7\", \"user:8\", \"user:9\", \"user:10\", \"user:11\", "
	  "\"user:12\", \"user:13\", \"user:14\", \"user:15\", \"user:16\" ]",
	  "more than 16 entries" },
};

TEST(allow_refusals)
{
	struct atlsd_config c;
	char text[1024], err[512];
	size_t i;

	for (i = 0; i < sizeof(bad_allow) / sizeof(bad_allow[0]); i++) {
		snprintf(text, sizeof(text), "policies = {\n  p = { allow = %s; };\n};\n",
			 bad_allow[i].entry);
		EXPECT_EQ(-EINVAL, load_text(text, &c, err, sizeof(err)))
			TH_LOG("accepted allow = %s", bad_allow[i].entry);
		EXPECT_NE(NULL, strstr(err, bad_allow[i].says))
			TH_LOG("allow = %s: message \"%s\", want \"%s\"", bad_allow[i].entry, err,
			       bad_allow[i].says);
		EXPECT_EQ(0, strncmp(err, "line 2: ", 8)) TH_LOG("no line in \"%s\"", err);
	}
	/* A long cgroup path (>= 256 bytes) is refused too. */
	snprintf(text, sizeof(text), "policies = { p = { allow = [ \"cgroup:/%0300d\" ]; }; };\n",
		 0);
	EXPECT_EQ(-EINVAL, load_text(text, &c, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "is not an absolute cgroup path"));
}

TEST(allow_entries)
{
	struct atlsd_config c;
	const struct atlsd_policy *p;
	char err[512];

	ASSERT_EQ(0, load_text("policies = { p = { allow = [ \"user:root\", \"user:1000\",\n"
			       "  \"group:root\", \"group:65534\", \"unit:nginx.service\",\n"
			       "  \"unit:user@1000.service\", \"cgroup:/\", \"cgroup:/a/b-c\" ]; };\n"
			       "  q = { allow = ( \"anyone\" ); }; };\n", &c, err, sizeof(err)))
		TH_LOG("%s", err);
	p = atlsd_config_policy(&c, "p");
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(8u, p->n_allow);
	EXPECT_EQ(ATLSD_ALLOW_USER, p->allow[0].kind);
	EXPECT_EQ(0u, p->allow[0].id);
	EXPECT_EQ(1000u, p->allow[1].id);
	EXPECT_EQ(ATLSD_ALLOW_GROUP, p->allow[2].kind);
	EXPECT_EQ(0u, p->allow[2].id);
	EXPECT_EQ(65534u, p->allow[3].id);
	EXPECT_EQ(ATLSD_ALLOW_UNIT, p->allow[4].kind);
	EXPECT_STREQ("nginx.service", p->allow[4].path);
	EXPECT_STREQ("user@1000.service", p->allow[5].path);
	EXPECT_EQ(ATLSD_ALLOW_CGROUP, p->allow[6].kind);
	EXPECT_STREQ("/a/b-c", p->allow[7].path);
	EXPECT_EQ(ATLSD_ALLOW_ANYONE, atlsd_config_policy(&c, "q")->allow[0].kind);
	/* Built-ins without allow: the default. */
	EXPECT_EQ(0u, atlsd_config_policy(&c, "default")->n_allow);
}

static struct atlsd_requester who(uint32_t euid, uint32_t egid, const char *cgroup)
{
	struct atlsd_requester w;

	memset(&w, 0, sizeof(w));
	w.known = true;
	w.euid = euid;
	w.egid = egid;
	if (cgroup) {
		snprintf(w.cgroup, sizeof(w.cgroup), "%s", cgroup);
		w.have_cgroup = true;
	}
	return w;
}

static const struct {
	const char *policy;
	uint32_t uid, gid;
	const char *cgroup;
	bool allowed;
} allow_cases[] = {
	{ "u", 1000, 1000, NULL, true },
	{ "u", 0, 0, NULL, false },	/* an explicit list does not add root */
	{ "g", 1, 50, NULL, true },
	{ "g", 1, 1, NULL, false },
	{ "s", 1, 1, "/system.slice/web.service", true },
	{ "s", 1, 1, "/system.slice/web.service/worker", true },
	{ "s", 1, 1, "/system.slice/web.service2", false },
	{ "s", 1, 1, "/system.slice/xweb.service", false },
	{ "s", 1, 1, NULL, false },
	{ "t", 1, 1, "/srv/app", true },
	{ "t", 1, 1, "/srv/app/x", true },
	{ "t", 1, 1, "/srv/apple", false },
	{ "t", 1, 1, "/srv", false },
	{ "r", 1, 1, "/x", true },
	{ "r", 1, 1, NULL, false },	/* no path (too long for ACCEPT): no match */
};

TEST(allow_matching)
{
	struct atlsd_config c;
	struct atlsd_policy d;
	const struct atlsd_policy *p;
	struct atlsd_requester w;
	char err[512], why[300];
	size_t i;

	ASSERT_EQ(0, load_text("policies = {\n"
			       "  u = { allow = [ \"user:1000\" ]; };\n"
			       "  g = { allow = [ \"group:50\" ]; };\n"
			       "  s = { allow = [ \"unit:web.service\" ]; };\n"
			       "  t = { allow = [ \"cgroup:/srv/app\" ]; };\n"
			       "  r = { allow = [ \"cgroup:/\" ]; };\n"
			       "  a = { allow = [ \"anyone\" ]; }; };\n", &c, err, sizeof(err)))
		TH_LOG("%s", err);
	/* The default: root, and group atls when the host has it. */
	d = *atlsd_config_policy(&c, "default");
	w = who(0, 0, "/");
	EXPECT_TRUE(atlsd_policy_allows(&d, &w, why, sizeof(why)));
	w = who(65534, 65534, "/");
	d.default_gid_set = false;
	EXPECT_FALSE(atlsd_policy_allows(&d, &w, why, sizeof(why)));
	EXPECT_NE(NULL, strstr(why, "euid 65534")) TH_LOG("%s", why);
	EXPECT_NE(NULL, strstr(why, "may not use policy \"default\"")) TH_LOG("%s", why);
	d.default_gid_set = true;
	d.default_gid = 321;
	EXPECT_FALSE(atlsd_policy_allows(&d, &w, why, sizeof(why)));
	w.egid = 321;
	EXPECT_TRUE(atlsd_policy_allows(&d, &w, why, sizeof(why)));
	w.egid = 65534;
	w.groups[0] = 7;
	w.groups[1] = 321;
	w.n_groups = w.ngroups = 2;
	EXPECT_TRUE(atlsd_policy_allows(&d, &w, why, sizeof(why)));
	/* An unknown requester (module without APP_EUID): only anyone. */
	memset(&w, 0, sizeof(w));
	EXPECT_FALSE(atlsd_policy_allows(&d, &w, why, sizeof(why)));
	EXPECT_TRUE(atlsd_policy_allows(atlsd_config_policy(&c, "a"), &w, why, sizeof(why)));

	/* One requester each (euid, egid, cgroup) against the policies above. */
	for (i = 0; i < sizeof(allow_cases) / sizeof(allow_cases[0]); i++) {
		p = atlsd_config_policy(&c, allow_cases[i].policy);
		w = who(allow_cases[i].uid, allow_cases[i].gid, allow_cases[i].cgroup);
		EXPECT_EQ(allow_cases[i].allowed, !!atlsd_policy_allows(p, &w, why, sizeof(why)))
			TH_LOG("policy %s, euid %u, egid %u, cgroup %s", allow_cases[i].policy,
			       allow_cases[i].uid, allow_cases[i].gid, allow_cases[i].cgroup);
	}
	/* A supplementary group counts as the group. */
	p = atlsd_config_policy(&c, "g");
	w = who(1, 1, NULL);
	w.groups[0] = 50;
	w.n_groups = w.ngroups = 1;
	EXPECT_TRUE(atlsd_policy_allows(p, &w, why, sizeof(why)));
}

/* What each built-in verifies is in its name; old names are aliases. */
TEST(builtin_names_say_what_they_check)
{
	struct atlsd_config c;
	const struct atlsd_policy *p;
	char err[256];

	ASSERT_EQ(0, load_text("policies = { mon = { verify-peer = \"optional\"; };\n"
			       "  pinned = { verify-peer = \"none\"; ca-file = \"/ca.pem\"; }; };\n",
			       &c, err, sizeof(err)));
	EXPECT_EQ(NULL, atlsd_policy_auth_note(atlsd_config_policy(&c, "default")));
	EXPECT_EQ(NULL, atlsd_policy_auth_note(atlsd_config_policy(&c, "verify-only")));
	EXPECT_EQ(NULL, atlsd_policy_auth_note(atlsd_config_policy(&c, "pinned")));
	p = atlsd_config_policy(&c, "unauthenticated");
	ASSERT_TRUE(p != NULL);
	EXPECT_FALSE(p->attest);
	EXPECT_EQ(ATLS_PEER_NONE, p->verify);
	EXPECT_NE(NULL, strstr(atlsd_policy_auth_note(p), "authenticates no peer"));
	p = atlsd_config_policy(&c, "attest-unauthenticated-peer");
	ASSERT_TRUE(p != NULL);
	EXPECT_TRUE(p->attest);
	EXPECT_NE(NULL, strstr(atlsd_policy_auth_note(p), "authenticates no peer"));
	EXPECT_NE(NULL, strstr(atlsd_policy_auth_note(atlsd_config_policy(&c, "mon")),
			       "only when it sends evidence"));
	p = atlsd_config_policy(&c, "none");
	ASSERT_TRUE(p != NULL);
	EXPECT_STREQ("unauthenticated", p->alias_of);
	EXPECT_NE(NULL, atlsd_policy_auth_note(p));
	p = atlsd_config_policy(&c, "attest-only");
	ASSERT_TRUE(p != NULL);
	EXPECT_STREQ("attest-unauthenticated-peer", p->alias_of);
	EXPECT_TRUE(p->attest);
	EXPECT_EQ(ATLS_PEER_NONE, p->verify);
}

static void __attribute__((constructor)) order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(int argc, char **argv)
{
	atlsd_log_init("config_test", ATLSD_LOG_ERR);
	if (!mkdtemp(dir))
		return 1;
	atexit(cleanup);	/* test_harness_run() exits */
	return test_harness_run(argc, argv);
}
