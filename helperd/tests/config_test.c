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
	EXPECT_STREQ("device:/dev/tpmrm0", c.tcti);
	EXPECT_EQ(ATLS_KEY_TPM, c.key_mode);
	EXPECT_EQ(0x81010010u, c.ak_handle);
	EXPECT_EQ(4, c.n_policies);
	p = atlsd_config_policy(&c, "");
	ASSERT_TRUE(p != NULL);
	EXPECT_STREQ("default", p->name);
	EXPECT_TRUE(p->attest);
	EXPECT_EQ(ATLS_PEER_REQUIRED, p->verify);
	EXPECT_STREQ("/srv/atls/peers.policy", p->policy_file);
	EXPECT_EQ(0xffu, p->pcr_mask);
	EXPECT_FALSE(p->batch);
	EXPECT_EQ(20000u, p->batch_window_us);
	EXPECT_EQ(64u, p->batch_max);
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
			       "workers = 3;\n"
			       "workers-max = 5;\n"
			       "log-level = \"debug\";\n"
			       "policies = {\n"
			       "  strict = { attest = false; verify-peer = \"optional\";\n"
			       "             policy-file = \"p/strict.policy\"; ca-file = \"/etc/ca.pem\";\n"
			       "             ciphersuites = \"TLS_AES_256_GCM_SHA384\"; pcrs = [ 0, 7, 23 ];\n"
			       "             batch = true; batch-window-us = 5000; batch-max = 1024; };\n"
			       "  default = { verify-peer = \"none\"; };\n"
			       "};\n", &c, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_STREQ("swtpm:port=2321", c.tcti);
	snprintf(want, sizeof(want), "%s/state", dir);
	EXPECT_STREQ(want, c.state_dir);
	snprintf(want, sizeof(want), "%s/state/tls-cert.pem", dir);
	EXPECT_STREQ(want, c.cert_file);
	snprintf(want, sizeof(want), "%s/state/k.pem", dir);
	EXPECT_STREQ(want, c.key_file);
	EXPECT_STREQ("/run/x", c.run_dir);
	EXPECT_STREQ("atls", c.user);
	EXPECT_EQ(ATLS_KEY_SOFTWARE, c.key_mode);
	EXPECT_EQ(0x81010020u, c.ak_handle);
	EXPECT_EQ(0x81010021u, c.tls_key_handle);
	EXPECT_EQ(3, c.workers);
	EXPECT_EQ(5, c.workers_max);
	EXPECT_EQ(5, atlsd_workers_max(&c));
	EXPECT_EQ(ATLSD_LOG_DEBUG, c.log_level);
	EXPECT_EQ(5, c.n_policies);
	p = atlsd_config_policy(&c, "strict");
	ASSERT_TRUE(p != NULL);
	EXPECT_FALSE(p->attest);
	EXPECT_EQ(ATLS_PEER_OPTIONAL, p->verify);
	snprintf(want, sizeof(want), "%s/p/strict.policy", dir);
	EXPECT_STREQ(want, p->policy_file);
	EXPECT_STREQ("/etc/ca.pem", p->ca_file);
	EXPECT_STREQ("TLS_AES_256_GCM_SHA384", p->ciphersuites);
	EXPECT_EQ((1u << 0) | (1u << 7) | (1u << 23), p->pcr_mask);
	EXPECT_TRUE(p->batch);
	EXPECT_EQ(5000u, p->batch_window_us);
	EXPECT_EQ(1024u, p->batch_max);
	/* A built-in overridden in part keeps the rest. */
	p = atlsd_config_policy(&c, "default");
	ASSERT_TRUE(p != NULL);
	EXPECT_TRUE(p->attest);
	EXPECT_EQ(ATLS_PEER_NONE, p->verify);
	/* The built-in peers.policy follows the state dir of the file. */
	p = atlsd_config_policy(&c, "verify-only");
	snprintf(want, sizeof(want), "%s/state/peers.policy", dir);
	EXPECT_STREQ(want, p->policy_file);
}

TEST(state_dir_option_rebases)
{
	struct atlsd_config c;

	atlsd_config_defaults(&c);
	atlsd_config_set_state_dir(&c, "/tmp/elsewhere");
	EXPECT_STREQ("/tmp/elsewhere/tls-cert.pem", c.cert_file);
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
	"workers = 0;\n",
	"workers = 100000;\n",
	"workers = \"8\";\n",
	"workers-max = 0;\n",
	"workers-max = 1025;\n",
	"workers-max = 64.5;\n",
	"ak-handle = 5;\n",
	"ak-handle = 0x82000000;\n",
	"key-mode = \"hsm\";\n",
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
	EXPECT_FALSE(atlsd_config_policy(&c, "b")->batch);
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
