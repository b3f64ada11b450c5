// SPDX-License-Identifier: Apache-2.0
/*
 * atlsctl on a real swtpm: provisioning (idempotent), export/trust into a
 * peers.policy that libatls loads, evidence saved and appraised, and the
 * refusals of hostile input: tampered or truncated evidence blobs, a blob
 * for another key or handshake, a policy not trusting the AK, peer exports
 * that are not P-256 keys or well-formed digests, bad peer names, links
 * planted where atlsctl writes and directories others may write to, and
 * reference PCR values that belong to another trusted attester.
 * atlsctl is run as a program, the way an administrator runs it.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "util.h"
#include <atls/policy.h>
#include <atls/provision.h>
#include <atls/tpm.h>

static char dir[] = "/tmp/atlsctl-test-XXXXXX";
static char ctl[1024];
static int port;

/*
 * atlsctl with this test's state dir and TPM; output to dir/out.  In args,
 * EXPORTDIR STATE BLOB BAD HDIR EMPTY name paths in the test's directory.
 */
static int ctl_run(const char *args)
{
	static const char *const tok[][2] = {
		{ "EXPORTDIR", "exp" }, { "STATE", "state" }, { "BLOB", "blob" },
		{ "BAD", "bad" }, { "HDIR", "h" }, { "EMPTY", "empty" },
	};
	char out[2048] = "";
	const char *p = args;
	size_t i;

	while (*p) {
		for (i = 0; i < sizeof(tok) / sizeof(tok[0]); i++)
			if (!strncmp(p, tok[i][0], strlen(tok[i][0])))
				break;
		if (i < sizeof(tok) / sizeof(tok[0])) {
			snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s/%s", dir,
				 tok[i][1]);
			p += strlen(tok[i][0]);
		} else {
			size_t l = strlen(out);

			if (l + 1 < sizeof(out)) {
				out[l] = *p;
				out[l + 1] = 0;
			}
			p++;
		}
	}
	return tl_sh("%s %s > %s/out 2>&1", ctl, out, dir);
}

static int out_has(const char *s)
{
	return tl_sh("grep -q -- '%s' %s/out", s, dir) == 0;
}

static int start_swtpm(void)
{
	int i;

	for (i = 0; i < 20; i++) {
		port = 20000 + (getpid() * 7 + i * 97) % 20000;
		if (!tl_sh("mkdir -p %s/tpm && swtpm socket --tpm2 --tpmstate dir=%s/tpm "
			"--server type=tcp,port=%d,bindaddr=127.0.0.1 "
			"--ctrl type=tcp,port=%d,bindaddr=127.0.0.1 "
			"--flags not-need-init,startup-clear --daemon --pid file=%s/swtpm.pid "
			"--log file=%s/swtpm.log 2>/dev/null",
			dir, dir, port, port + 1, dir, dir))
			return 0;
	}
	return -1;
}

TEST(provision_is_idempotent)
{
	ASSERT_EQ(0, ctl_run("provision --cn test-host"));
	EXPECT_TRUE(out_has("AK        0x81010010 (kept)"));
	EXPECT_TRUE(out_has("TLS key   0x81010011 (kept)"));
	EXPECT_TRUE(out_has("secret    .*/state/tpm-key-secret (kept)"));
	EXPECT_TRUE(out_has("CN=test-host"));
	/* the key secret: atlsd's alone */
	EXPECT_EQ(0, tl_sh("test \"$(stat -c %%a %s/state/tpm-key-secret)\" = 600", dir));
	EXPECT_EQ(0, tl_sh("grep -Eqx '[0-9a-f]{64}' %s/state/tpm-key-secret", dir));
	EXPECT_EQ(2, ctl_run("provision extra"));
}

/* A key secret others may read is refused, not used. */
TEST(provision_refuses_readable_secret)
{
	ASSERT_EQ(0, tl_sh("chmod 0644 %s/state/tpm-key-secret", dir));
	EXPECT_EQ(1, ctl_run("provision --cn test-host"));
	EXPECT_TRUE(out_has("mode 0600"));
	EXPECT_EQ(1, ctl_run("evidence --out BLOB"));
	ASSERT_EQ(0, tl_sh("chmod 0600 %s/state/tpm-key-secret", dir));
	EXPECT_EQ(0, ctl_run("provision --cn test-host"));
}

/*
 * Keys from before key secrets (empty authorization), here at other
 * handles: provision names the fix and changes nothing; with
 * --replace-legacy-keys it replaces them, and the AK's public key changes.
 */
TEST(provision_replaces_legacy_keys_on_request)
{
	struct atls_tpm *t;
	char tcti[64];

	snprintf(tcti, sizeof(tcti), "swtpm:port=%d", port);
	ASSERT_EQ(0, atls_tpm_open(tcti, &t));
	ASSERT_EQ(0, atls_provision_ak(t, 0x81010020));
	ASSERT_EQ(0, atls_provision_tls_key(t, 0x81010021));
	ASSERT_EQ(0, atls_provision_export_pub(t, 0x81010020, "/dev/null"));
	atls_tpm_close(t);
	ASSERT_EQ(0, tl_sh("printf 'ak-handle = 0x81010020;\\ntls-key-handle = 0x81010021;\\n' "
			"> %s/legacy.conf && cp %s/state/tpm-key-secret %s/legacy.secret", dir, dir,
			dir));
	EXPECT_EQ(1, tl_sh("%s -c %s/legacy.conf -s %s/st5 provision > %s/out 2>&1", ctl, dir, dir,
			dir));
	EXPECT_TRUE(out_has("empty authorization"));
	EXPECT_TRUE(out_has("--replace-legacy-keys"));
	EXPECT_EQ(0, tl_sh("%s -c %s/legacy.conf -s %s/st5 provision --replace-legacy-keys "
			"> %s/out 2>&1", ctl, dir, dir, dir));
	EXPECT_TRUE(out_has("AK        0x81010020 (replaced the empty-auth key"));
	EXPECT_TRUE(out_has("TLS key   0x81010021 (replaced the empty-auth key"));
	EXPECT_EQ(0, tl_sh("%s -c %s/legacy.conf -s %s/st5 provision > %s/out 2>&1", ctl, dir, dir,
			dir));
	EXPECT_TRUE(out_has("AK        0x81010020 (kept)"));
	/* the replacement's AK quotes: evidence from it is appraised */
	EXPECT_EQ(0, tl_sh("%s -c %s/legacy.conf -s %s/st5 export %s/exp5 >/dev/null 2>&1 && "
			"%s -c %s/legacy.conf -s %s/st5 trust self %s/exp5 >/dev/null 2>&1 && "
			"%s -c %s/legacy.conf -s %s/st5 evidence --out %s/blob5 >/dev/null 2>&1 && "
			"%s -c %s/legacy.conf -s %s/st5 check --policy %s/st5/peers.policy %s/blob5 "
			"> %s/out 2>&1", ctl, dir, dir, dir, ctl, dir, dir, dir, ctl, dir, dir, dir,
			ctl, dir, dir, dir, dir, dir));
	EXPECT_TRUE(out_has("verdict   affirming"));
	/* another state dir's secret does not fit the keys */
	EXPECT_EQ(1, tl_sh("%s -c %s/legacy.conf -s %s/st6 provision > %s/out 2>&1", ctl, dir, dir,
			dir));
	EXPECT_TRUE(out_has("another key secret"));
}

/*
 * A host whose TLS key is in its TPM is trusted for evidence that
 * certifies that key: a quote alone (tpm-pat) with its AK, which any
 * process that can use the AK could make for a key on another machine, is
 * refused by default.  Only a peer exported with key-mode software gets
 * its quotes accepted alone.
 */
TEST(quote_alone_refused_for_tpm_key_host)
{
	ASSERT_EQ(0, tl_sh("printf 'key-mode = \"software\";\\n' > %s/sw.conf", dir));
	ASSERT_EQ(0, ctl_run("export EXPORTDIR"));
	EXPECT_EQ(0, tl_sh("grep -qx tpm %s/exp/key-mode", dir));
	ASSERT_EQ(0, ctl_run("trust self EXPORTDIR"));
	EXPECT_EQ(0, tl_sh("grep -q 'evidence-types = \\[ \"tpm-kat-pat\" \\];' "
			"%s/state/peers.policy", dir));
	/* PAT-only evidence from the trusted AK: what a relay would send */
	ASSERT_EQ(0, tl_sh("%s -c %s/sw.conf evidence --out %s/blob-pat > %s/out 2>&1", ctl, dir,
			dir, dir));
	EXPECT_EQ(1, tl_sh("%s check --policy %s/state/peers.policy %s/blob-pat > %s/out 2>&1",
			ctl, dir, dir, dir));
	EXPECT_TRUE(out_has("evidence-type-rejected"));
	/* KAT+PAT from it passes */
	ASSERT_EQ(0, ctl_run("evidence --out BLOB"));
	EXPECT_EQ(0, ctl_run("check --policy STATE/peers.policy BLOB"));
	/* the same AK exported as a software-key host: its quotes alone pass */
	ASSERT_EQ(0, tl_sh("mkdir -p %s/expsw && cp %s/exp/ak.pem %s/exp/pcr-digest %s/expsw/ && "
			"echo software > %s/expsw/key-mode", dir, dir, dir, dir, dir));
	ASSERT_EQ(0, tl_sh("%s -s %s/st7 trust swhost %s/expsw > %s/out 2>&1", ctl, dir, dir, dir));
	EXPECT_TRUE(out_has("tpm-pat"));
	EXPECT_EQ(0, tl_sh("%s check --policy %s/st7/peers.policy %s/blob-pat > %s/out 2>&1",
			ctl, dir, dir, dir));
	EXPECT_TRUE(out_has("verdict   affirming"));
	EXPECT_EQ(0, tl_sh("grep -q 'software: swhost' %s/st7/peers.policy", dir));
	/* untrusting it goes back to tpm-kat-pat for the rest */
	ASSERT_EQ(0, tl_sh("%s -s %s/st7 trust tpmhost %s/exp >/dev/null 2>&1 && "
			"%s -s %s/st7 untrust swhost >/dev/null 2>&1", ctl, dir, dir, ctl, dir));
	EXPECT_EQ(1, tl_sh("%s check --policy %s/st7/peers.policy %s/blob-pat > %s/out 2>&1",
			ctl, dir, dir, dir));
	EXPECT_EQ(0, tl_sh("test ! -e %s/st7/trusted/swhost.key-mode", dir));
	/* an export of an older atlsctl (no key-mode) is taken as tpm */
	ASSERT_EQ(0, tl_sh("rm %s/expsw/key-mode && %s -s %s/st8 trust old %s/expsw >/dev/null 2>&1",
			dir, ctl, dir, dir));
	EXPECT_EQ(1, tl_sh("%s check --policy %s/st8/peers.policy %s/blob-pat > %s/out 2>&1",
			ctl, dir, dir, dir));
}

/* key-mode in an export is checked like the rest of it. */
TEST(bad_key_mode_refused)
{
	static const char *const bad[] = { "hsm", "TPM", "", "tpm software", "softwarex" };
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, tl_sh("mkdir -p %s/km && cp %s/exp/ak.pem %s/exp/pcr-digest %s/km/ && "
				"printf '%%s\\n' '%s' > %s/km/key-mode", dir, dir, dir, dir, bad[i],
				dir));
		EXPECT_EQ(1, tl_sh("%s -s %s/st9 trust km %s/km > %s/out 2>&1", ctl, dir, dir, dir))
			TH_LOG("key-mode \"%s\" accepted", bad[i]);
		EXPECT_TRUE(out_has("expected \"tpm\" or \"software\""));
	}
	EXPECT_NE(0, tl_sh("test -e %s/st9/trusted/km.pem", dir));
}

TEST(export_trust_policy_loads)
{
	struct atls_policy *pol;
	char path[300], err[200];

	ASSERT_EQ(0, ctl_run("export EXPORTDIR"));
	ASSERT_EQ(0, tl_sh("test -s %s/exp/ak.pem && grep -Eq '^[0-9a-f]{64}$' %s/exp/pcr-digest",
			dir, dir));
	ASSERT_EQ(0, ctl_run("trust self EXPORTDIR"));
	snprintf(path, sizeof(path), "%s/state/peers.policy", dir);
	ASSERT_EQ(0, atls_policy_load(path, &pol, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(1, atls_policy_ak_count(pol));
	atls_policy_free(pol);
	/* A second peer, then removing both: the policy file goes away. */
	ASSERT_EQ(0, ctl_run("trust other EXPORTDIR"));
	ASSERT_EQ(0, atls_policy_load(path, &pol, err, sizeof(err)));
	EXPECT_EQ(2, atls_policy_ak_count(pol));
	atls_policy_free(pol);
	ASSERT_EQ(0, ctl_run("untrust other"));
	ASSERT_EQ(0, ctl_run("untrust self"));
	EXPECT_NE(0, access(path, F_OK));
	EXPECT_NE(0, ctl_run("untrust self"));
	ASSERT_EQ(0, ctl_run("trust self EXPORTDIR"));
}

/*
 * Files atlsctl writes into a directory it is given are never reached
 * through a link planted there: the shell plants links at the temporary
 * names the old code used (PATH.tmp<pid>, with its own pid, which exec
 * hands to atlsctl) pointing at a file of ours.
 */
TEST(export_does_not_follow_links)
{
	ASSERT_EQ(0, tl_sh("mkdir -p %s/exp2 && echo precious > %s/victim", dir, dir));
	EXPECT_EQ(0, tl_sh("for f in ak.pem pcr-digest pcr-values; do "
			"ln -s %s/victim %s/exp2/$f.tmp$$; done; exec %s export %s/exp2 "
			"> %s/out 2>&1", dir, dir, ctl, dir, dir));
	EXPECT_EQ(0, tl_sh("grep -qx precious %s/victim", dir));
	EXPECT_EQ(0, tl_sh("test -f %s/exp2/ak.pem && ! test -L %s/exp2/ak.pem", dir, dir));
	EXPECT_EQ(0, tl_sh("grep -q 'BEGIN PUBLIC KEY' %s/exp2/ak.pem", dir));
}

/* A directory others may write to (and not sticky, like /tmp) is refused. */
TEST(export_refuses_dir_writable_by_others)
{
	ASSERT_EQ(0, tl_sh("mkdir -p %s/exp3 && chmod 0777 %s/exp3", dir, dir));
	EXPECT_EQ(1, tl_sh("%s export %s/exp3 > %s/out 2>&1", ctl, dir, dir));
	EXPECT_TRUE(out_has("writable by others"));
	EXPECT_NE(0, tl_sh("test -e %s/exp3/ak.pem", dir));
	ASSERT_EQ(0, tl_sh("chmod 1777 %s/exp3", dir));
	EXPECT_EQ(0, tl_sh("%s export %s/exp3 > %s/out 2>&1", ctl, dir, dir));
	EXPECT_EQ(0, tl_sh("test -s %s/exp3/ak.pem", dir));
}

TEST(evidence_appraised)
{
	ASSERT_EQ(0, ctl_run("evidence --out BLOB"));
	ASSERT_EQ(0, ctl_run("check --policy STATE/peers.policy BLOB"));
	EXPECT_TRUE(out_has("verdict   affirming"));
	EXPECT_TRUE(out_has("tpm-kat-pat"));
}

/* Rewrite one field of the blob with sed, then check must fail. */
static int check_mutated(const char *sed_expr)
{
	if (tl_sh("sed -e '%s' %s/blob > %s/bad", sed_expr, dir, dir))
		return -1;
	return ctl_run("check --policy STATE/peers.policy BAD");
}

TEST(tampered_evidence_refused)
{
	ASSERT_EQ(0, ctl_run("evidence --out BLOB"));
	/*
	 * One hex digit of the CMW changed (deep inside: a signature or the
	 * quote). Each edit picks a replacement that differs from the digit
	 * it replaces (sed's t: the second s only runs if the first did not
	 * match), so it can never be a no-op whatever the blob holds there.
	 */
	EXPECT_EQ(1, check_mutated("s/^\\(cmw = \"\\(..\\)\\{300\\}\\)[0-9a-e]/\\1f/;t;"
				   "s/^\\(cmw = \"\\(..\\)\\{300\\}\\)f/\\10/"));
	EXPECT_EQ(1, check_mutated("s/^\\(cmw = \"\\(..\\)\\{300\\}\\)[1-9a-f]/\\10/;t;"
				   "s/^\\(cmw = \"\\(..\\)\\{300\\}\\)0/\\11/"));
	/*
	 * Another binder: a replay into another handshake. The binder is
	 * random: writing "00" over its first byte was a no-op (and the check
	 * then passed) once in 256 runs; flip it to a value it does not have.
	 */
	EXPECT_EQ(1, check_mutated("s/^binder = \"00/binder = \"ff/;t;s/^binder = \"../binder = \"00/"));
	EXPECT_TRUE(out_has("binder-mismatch") || out_has("bad-signature") ||
		    out_has("malformed"));
	/* truncated CMW */
	EXPECT_EQ(1, check_mutated("s/^\\(cmw = \"\\(..\\)\\{40\\}\\).*/\\1\";/"));
	/* garbage, odd length, non-hex, empty */
	EXPECT_EQ(1, check_mutated("s/^cmw = .*/cmw = \"zz\";/"));
	EXPECT_EQ(1, check_mutated("s/^cmw = .*/cmw = \"abc\";/"));
	EXPECT_EQ(1, check_mutated("s/^cmw = .*/cmw = \"\";/"));
	EXPECT_EQ(1, check_mutated("s/^cmw = .*/cmw = 5;/"));
	EXPECT_EQ(1, check_mutated("/^spki/d"));
	EXPECT_EQ(1, check_mutated("s/^version = 1/version = 2/"));
	EXPECT_EQ(1, check_mutated("s/^role = .*/role = \"nobody\";/"));
	EXPECT_EQ(1, check_mutated("1i garbage ((("));
	EXPECT_EQ(1, check_mutated("1i extra = 1;"));		/* unknown setting */
	EXPECT_EQ(1, check_mutated("s/^binder = .*/binder = \"\";/"));
}

TEST(evidence_for_another_key_refused)
{
	/* The certificate key of the blob replaced by a fresh P-256 key. */
	ASSERT_EQ(0, ctl_run("evidence --out BLOB"));
	ASSERT_EQ(0, tl_sh("openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | "
			"openssl pkey -pubout -outform DER 2>/dev/null | od -An -v -tx1 | tr -d ' \\n' "
			"> %s/spki.hex", dir));
	ASSERT_EQ(0, tl_sh("sed -e \"s/^spki = .*/spki = \\\"$(cat %s/spki.hex)\\\";/\" %s/blob > %s/bad",
			dir, dir, dir));
	EXPECT_EQ(1, ctl_run("check --policy STATE/peers.policy BAD"));
	EXPECT_TRUE(out_has("key-binding"));
}

TEST(huge_blob_refused)
{
	ASSERT_EQ(0, tl_sh("{ echo 'version = 1;'; grep -E '^(binder|spki)' %s/blob; "
			"printf 'cmw = \"'; head -c 70000 /dev/zero | od -An -v -tx1 | tr -d ' \\n'; "
			"echo '\";'; } > %s/bad", dir, dir));
	EXPECT_EQ(1, ctl_run("check --policy STATE/peers.policy BAD"));
	EXPECT_EQ(1, ctl_run("check --policy STATE/peers.policy /nonexistent"));
	EXPECT_EQ(0, tl_sh(": > %s/empty", dir));
	EXPECT_EQ(1, ctl_run("check --policy STATE/peers.policy EMPTY"));
}

TEST(untrusted_ak_refused)
{
	/* A policy trusting some other P-256 key only. */
	ASSERT_EQ(0, tl_sh("mkdir -p %s/other && openssl ecparam -name prime256v1 -genkey -noout "
			"2>/dev/null | openssl pkey -pubout > %s/other/ak.pem 2>/dev/null && "
			"cp %s/exp/pcr-digest %s/other/", dir, dir, dir, dir));
	ASSERT_EQ(0, tl_sh("%s -s %s/st2 trust o %s/other >/dev/null", ctl, dir, dir));
	ASSERT_EQ(0, ctl_run("evidence --out BLOB"));
	EXPECT_EQ(1, tl_sh("%s check --policy %s/st2/peers.policy %s/blob > %s/out 2>&1", ctl, dir,
			dir, dir));
	EXPECT_TRUE(out_has("untrusted-ak"));
}

/*
 * Reference values belong to their attester: host A (our AK) trusted with a
 * boot state we are not in, host B (another AK) with the one we are in.
 * Our evidence must fail as A's; trusting A with its real state passes.
 */
TEST(pcrs_are_per_attester)
{
	ASSERT_EQ(0, tl_sh("mkdir -p %s/pa %s/pb && cp %s/exp/ak.pem %s/pa/ && "
			"printf '%%064d\\n' 0 | tr 0 a > %s/pa/pcr-digest && "
			"openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | "
			"openssl pkey -pubout > %s/pb/ak.pem 2>/dev/null && "
			"cp %s/exp/pcr-digest %s/pb/", dir, dir, dir, dir, dir, dir, dir, dir));
	ASSERT_EQ(0, tl_sh("%s -s %s/st3 trust a %s/pa >/dev/null && "
			"%s -s %s/st3 trust b %s/pb >/dev/null", ctl, dir, dir, ctl, dir, dir));
	ASSERT_EQ(0, ctl_run("evidence --out BLOB"));
	EXPECT_EQ(1, tl_sh("%s check --policy %s/st3/peers.policy %s/blob > %s/out 2>&1", ctl, dir,
			dir, dir));
	EXPECT_TRUE(out_has("pcr-mismatch"));
	ASSERT_EQ(0, tl_sh("%s -s %s/st3 trust a %s/exp >/dev/null", ctl, dir, dir));
	EXPECT_EQ(0, tl_sh("%s check --policy %s/st3/peers.policy %s/blob > %s/out 2>&1", ctl, dir,
			dir, dir));
	EXPECT_TRUE(out_has("verdict   affirming"));
}

TEST(hostile_exports_refused)
{
	/* not a key; an RSA key; a P-384 key */
	ASSERT_EQ(0, tl_sh("mkdir -p %s/h && cp %s/exp/pcr-digest %s/h/ && echo junk > %s/h/ak.pem",
			dir, dir, dir, dir));
	EXPECT_EQ(1, ctl_run("trust h HDIR"));
	ASSERT_EQ(0, tl_sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 2>/dev/null "
			"| openssl pkey -pubout > %s/h/ak.pem 2>/dev/null", dir));
	EXPECT_EQ(1, ctl_run("trust h HDIR"));
	ASSERT_EQ(0, tl_sh("openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null | "
			"openssl pkey -pubout > %s/h/ak.pem 2>/dev/null", dir));
	EXPECT_EQ(1, ctl_run("trust h HDIR"));
	/* a good key with bad digests */
	ASSERT_EQ(0, tl_sh("cp %s/exp/ak.pem %s/h/ak.pem", dir, dir));
	ASSERT_EQ(0, tl_sh("echo 1234 > %s/h/pcr-digest", dir));
	EXPECT_EQ(1, ctl_run("trust h HDIR"));
	ASSERT_EQ(0, tl_sh("tr a-f A-F < %s/exp/pcr-digest > %s/h/pcr-digest", dir, dir));
	EXPECT_EQ(1, ctl_run("trust h HDIR"));
	ASSERT_EQ(0, tl_sh("printf '%%064d\\n' 0 | tr 0 g > %s/h/pcr-digest", dir));
	EXPECT_EQ(1, ctl_run("trust h HDIR"));
	/* bad names */
	EXPECT_EQ(1, ctl_run("trust ../evil EXPORTDIR"));
	EXPECT_EQ(1, ctl_run("trust 'a b' EXPORTDIR"));
	EXPECT_EQ(1, ctl_run("trust '' EXPORTDIR"));
	EXPECT_EQ(1, ctl_run("untrust ../peers"));
	/* nothing of it reached the store */
	EXPECT_NE(0, tl_sh("ls %s/state/trusted | grep -qv '^self\\.'", dir));
}

TEST(usage_errors)
{
	EXPECT_EQ(2, ctl_run(""));
	EXPECT_EQ(2, ctl_run("frobnicate"));
	EXPECT_EQ(2, ctl_run("check BLOB"));
	EXPECT_EQ(2, ctl_run("trust onlyname"));
	EXPECT_EQ(1, tl_sh("%s -c /nonexistent/atlsd.conf status > /dev/null 2>&1", ctl));
}

static void __attribute__((constructor)) order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

/* test_harness_run() exits: clean up from atexit. */
static void cleanup(void)
{
	char path[300], pid[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/swtpm.pid", dir);
	f = fopen(path, "r");
	if (f) {
		if (fgets(pid, sizeof(pid), f) && atoi(pid) > 0)
			kill(atoi(pid), SIGTERM);
		fclose(f);
	}
	tl_sh("rm -rf '%s'", dir);
}

int main(int argc, char **argv)
{
	const char *b = getenv("B");
	char self[512] = ".";
	int ret;

	if (!mkdtemp(dir))
		return 1;
	atexit(cleanup);
	/* atlsctl is built beside this test: $B/helperd/atlsctl. */
	if (b && *b) {
		snprintf(self, sizeof(self), "%s/helperd", b);
	} else if (readlink("/proc/self/exe", self, sizeof(self) - 1) > 0) {
		*strrchr(self, '/') = 0;
		*strrchr(self, '/') = 0;
	}
	if (start_swtpm()) {
		printf("1..1\nnot ok 1 swtpm did not start\n");
		return 1;
	}
	snprintf(ctl, sizeof(ctl),
		 "env TSS2_LOG=all+none ATLS_STATE_DIR=%s/state ATLS_RUN_DIR=%s/run "
		 "ATLS_TCTI=swtpm:port=%d %s/atlsctl", dir, dir, port, self);
	ret = tl_sh("%s provision --cn test-host > /dev/null 2>&1", ctl);
	if (ret) {
		printf("1..1\nnot ok 1 atlsctl provision failed (%d)\n", ret);
		return 1;
	}
	return test_harness_run(argc, argv);
}
