// SPDX-License-Identifier: Apache-2.0
/*
 * atlsctl: the administrator's tool for atls (Documentation/admin-guide.rst).
 *
 *   atlsctl provision [--cn NAME] [--software] [--replace-legacy-keys]
 *                                                 key secret, keys in the TPM,
 *                                                 certificate, AK public key
 *   atlsctl export DIR                            what a peer needs to trust us
 *   atlsctl trust NAME DIR / untrust NAME         the trust store -> peers.policy
 *   atlsctl status | counters                     ask the running atlsd + kernel
 *   atlsctl evidence --out FILE                   save evidence from our TPM
 *   atlsctl check --policy FILE [--role R] FILE   appraise a saved evidence blob
 *
 * Paths come from the same configuration as atlsd (-c FILE / $ATLSD_CONF,
 * -s DIR / $ATLS_STATE_DIR, -t TCTI / $ATLS_TCTI), so a host with a
 * read-only /etc (or a test) points both at the same writable place.
 *
 * The evidence blob ("atlsctl evidence") is a libconfig text file:
 *   version = 1; role = "server"; binder = "<hex>"; spki = "<hex>"; cmw = "<hex>";
 * It is hostile input for "check": every field is length-checked before
 * the appraisal, which is libatls's own (the same code a handshake uses).
 */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <atls/atls.h>
#include <atls/policy.h>
#include <atls/provision.h>
#include <atls/tpm.h>
#include "atlsctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: atlsctl [-c CONFIG] [-s STATE_DIR] [-t TCTI] COMMAND ...\n"
		"  provision [--cn NAME] [--software] [--replace-legacy-keys]\n"
		"                                       create key secret, AK, TLS key, certificate\n"
		"  export DIR                           write ak.pem and pcr-digest for peers\n"
		"  trust NAME DIR                       trust a peer's export (peers.policy)\n"
		"  untrust NAME                         remove a peer from the trust store\n"
		"  status                               atlsd's requests + kernel counters\n"
		"  counters                             atlsd and kernel counters\n"
		"  evidence --out FILE                  save evidence from our TPM\n"
		"  check --policy FILE [--role client|server] BLOB\n"
		"                                       appraise a saved evidence blob\n");
}

/* ------------------------------------------------------------ provision */

/*
 * The key secret (Documentation/evidence.rst, "Key authorization"): made
 * once, mode 0600, owned by atlsd's user (the configuration's user, else
 * whoever runs atlsctl), then loaded.
 */
static int provision_secret(const struct atlsd_config *c, uint8_t secret[ATLS_KEY_SECRET_LEN])
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char err[600];
	int ret;

	if (c->user[0]) {
		struct passwd *pw = getpwnam(c->user);

		if (!pw) {
			fprintf(stderr, "atlsctl: user \"%s\" (atlsd's user) does not exist\n",
				c->user);
			return -ENOENT;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	ret = atls_key_secret_create(c->key_secret_file, uid, gid);
	if (ret < 0) {
		fprintf(stderr, "atlsctl: key secret %s: %s%s\n", c->key_secret_file,
			strerror(-ret), ret == -EPERM ? " (it must be mode 0600: a secret others "
			"could read protects nothing; see atlsd(8), KEYS)" : "");
		return ret;
	}
	printf("secret    %s %s\n", c->key_secret_file, ret ? "(kept)" : "(created)");
	ret = atls_key_secret_load(c->key_secret_file, secret, err, sizeof(err));
	if (ret)
		fprintf(stderr, "atlsctl: key secret %s\n", err);
	return ret;
}

/* One TPM key from the secret, with the messages an operator needs. */
static int provision_tpm_key(struct atls_tpm *t, const struct atlsd_config *c, bool ak,
			     const uint8_t *secret, bool replace)
{
	const char *what = ak ? "AK" : "TLS key";
	uint32_t h = ak ? c->ak_handle : c->tls_key_handle;
	bool legacy;
	int err;

	legacy = atls_provision_key_check(t, h, ak, secret) == -EKEYREVOKED;
	err = ak ? atls_provision_ak_secret(t, h, secret,
					    replace ? ATLS_PROVISION_REPLACE_LEGACY : 0)
		 : atls_provision_tls_key_secret(t, h, secret,
						 replace ? ATLS_PROVISION_REPLACE_LEGACY : 0);
	if (err == -EKEYREVOKED) {
		fprintf(stderr, "atlsctl: %s at 0x%08x was made by an older atlsctl with an empty "
			"authorization: any process with access to the TPM can use it. Run "
			"`atlsctl provision --replace-legacy-keys` to replace it (the %s's public "
			"key changes%s)\n", what, h, what,
			ak ? ": export again and trust this host again on every peer" : "");
		return err;
	}
	if (err == -ENOKEY) {
		fprintf(stderr, "atlsctl: %s at 0x%08x was made from another key secret than %s "
			"(another state directory on this TPM? give both the same key-secret)\n",
			what, h, c->key_secret_file);
		return err;
	}
	if (err < 0) {
		fprintf(stderr, "atlsctl: %s at 0x%08x: %s\n", what, h, strerror(-err));
		return err;
	}
	printf("%-9s 0x%08x %s\n", what, h,
	       err ? "(kept)" : legacy ? "(replaced the empty-auth key: new public key)"
				       : "(created)");
	return 0;
}

static int cmd_provision(const struct atlsd_config *c, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cn", required_argument, NULL, 'n' },
		{ "software", no_argument, NULL, 'S' },
		{ "replace-legacy-keys", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct atls_cert_params cp = { .days = 3650 };
	char host[256] = "atls-host", ak[600], dig[65];
	bool sw = c->key_mode == ATLS_KEY_SOFTWARE, replace = false;
	uint8_t d[32], secret[ATLS_KEY_SECRET_LEN];
	struct atls_tpm *t;
	int opt, err;

	gethostname(host, sizeof(host) - 1);
	cp.common_name = host;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (opt == 'n')
			cp.common_name = optarg;
		else if (opt == 'S')
			sw = true;
		else if (opt == 'R')
			replace = true;
		else
			return 2;
	}
	if (optind != argc)
		return 2;
	if (mkdir(c->state_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "atlsctl: cannot create %s: %s\n", c->state_dir, strerror(errno));
		return 1;
	}
	if (provision_secret(c, secret))
		return 1;
	err = atls_tpm_open(c->tcti, &t);
	if (err) {
		fprintf(stderr, "atlsctl: cannot open the TPM (%s): %s\n", c->tcti, strerror(-err));
		OPENSSL_cleanse(secret, sizeof(secret));
		return 1;
	}
	atlsd_state_path(c, "ak.pem", ak, sizeof(ak));
	err = provision_tpm_key(t, c, true, secret, replace);
	if (err)
		goto out;
	err = atls_provision_export_pub(t, c->ak_handle, ak);
	if (err) {
		fprintf(stderr, "atlsctl: export AK to %s: %s\n", ak, strerror(-err));
		goto out;
	}
	if (sw) {
		err = atls_provision_sw_key(c->key_file);
		if (err < 0) {
			fprintf(stderr, "atlsctl: software key %s: %s\n", c->key_file, strerror(-err));
			goto out;
		}
		printf("TLS key   %s %s\n", c->key_file, err ? "(kept)" : "(created)");
		err = atls_provision_cert_sw(c->key_file, &cp, c->cert_file);
	} else {
		err = provision_tpm_key(t, c, false, secret, replace);
		if (err)
			goto out;
		err = atls_tpm_use_key_secret(t, c->tls_key_handle, false, secret);
		if (!err)
			err = atls_provision_cert_tpm(t, c->tls_key_handle, &cp, c->cert_file);
	}
	if (err) {
		fprintf(stderr, "atlsctl: certificate %s: %s\n", c->cert_file, strerror(-err));
		goto out;
	}
	printf("cert      %s (CN=%s)\n", c->cert_file, cp.common_name);
	err = atlsctl_write_key_mode(c, sw);
	if (err) {
		fprintf(stderr, "atlsctl: key mode record: %s\n", strerror(-err));
		goto out;
	}
	if (!atlsctl_sha256_file_spki(ak, d)) {
		atlsd_hex(d, 32, dig);
		printf("AK public %s (sha256 %s)\n", ak, dig);
	}
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	atls_tpm_close(t);
	return err < 0 ? 1 : 0;
}

/* ------------------------------------------------------- status/counters */

static int ask_daemon(const struct atlsd_config *c, const char *what)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[8192];
	ssize_t n;
	int fd, got = 0;

	if (strlen(c->run_dir) + 12 > sizeof(sa.sun_path)) {
		printf("atlsd: run directory path too long\n");
		return 1;
	}
	memcpy(sa.sun_path, c->run_dir, strlen(c->run_dir));
	strcat(sa.sun_path, "/atlsd.sock");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		printf("atlsd: not running (%s: %s)\n", sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	/* One write: the daemon answers the first read and closes. */
	snprintf(buf, sizeof(buf), "%s\n", what);
	if (send(fd, buf, strlen(buf), MSG_NOSIGNAL) < 0) {
		close(fd);
		return 1;
	}
	printf("atlsd:\n");
	while ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = 0;
		fputs(buf, stdout);
		got = 1;
	}
	close(fd);
	return got ? 0 : 1;
}

/* /proc/net/atls: "name value" lines; zero per-reason counters are left out. */
static int kernel_counters(bool all)
{
	FILE *f = fopen("/proc/net/atls", "r");
	char line[256], name[128];
	long long v;

	if (!f) {
		printf("kernel: atls.ko not loaded (/proc/net/atls: %s)\n", strerror(errno));
		return 1;
	}
	printf("kernel:\n");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %lld", name, &v) != 2)
			continue;
		if (!all && strcmp(name, "live_requests") && strcmp(name, "active_sockets"))
			continue;
		if (!strncmp(name, "reason_", 7) && !v)
			continue;
		fputs(line, stdout);
	}
	fclose(f);
	return 0;
}

static int cmd_status(const struct atlsd_config *c, bool counters)
{
	int a = ask_daemon(c, counters ? "counters" : "status");
	int k = kernel_counters(counters);

	return a || k;
}

/* ------------------------------------------------------ evidence / check */

static int cert_spki(const char *cert_path, unsigned char **der, int *len)
{
	FILE *f = fopen(cert_path, "r");
	X509 *x;

	if (!f)
		return -errno;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		return -EINVAL;
	*der = NULL;
	*len = i2d_PUBKEY(X509_get0_pubkey(x), der);
	X509_free(x);
	return *len > 0 ? 0 : -EINVAL;
}

static char *hexdup(const uint8_t *b, size_t n)
{
	char *h = malloc(2 * n + 1);

	if (h)
		atlsd_hex(b, n, h);
	return h;
}

static int cmd_evidence(const struct atlsd_config *c, int argc, char **argv)
{
	static const struct option lo[] = { { "out", required_argument, NULL, 'o' },
					    { NULL, 0, NULL, 0 } };
	struct atls_evidence_params ep = {
		.key_mode = c->key_mode == ATLS_KEY_TPM ? ATLS_KEY_TPM : ATLS_KEY_SOFTWARE,
		.ak_handle = c->ak_handle, .tls_key_handle = c->tls_key_handle,
		.pcr_bank_alg = 0x0B, .pcr_mask = 0xff,
	};
	const char *out = NULL;
	unsigned char *spki = NULL;
	uint8_t binder[32], *cmw = NULL;
	size_t cmw_len = 0;
	char *hb = NULL, *hs = NULL, *hc = NULL, *text = NULL, serr[600];
	uint8_t secret[ATLS_KEY_SECRET_LEN];
	struct atls_tpm *t;
	int opt, err, slen = 0, ret = 1;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (opt != 'o')
			return 2;
		out = optarg;
	}
	if (!out)
		return 2;
	if ((err = cert_spki(c->cert_file, &spki, &slen))) {
		fprintf(stderr, "atlsctl: certificate %s: %s\n", c->cert_file, strerror(-err));
		return 1;
	}
	/* A fresh random binder: this blob proves the state, not a handshake. */
	RAND_bytes(binder, sizeof(binder));
	err = atls_key_secret_load(c->key_secret_file, secret, serr, sizeof(serr));
	if (err) {
		fprintf(stderr, "atlsctl: key secret %s (run `atlsctl provision`)\n", serr);
		goto out;
	}
	err = atls_tpm_open(c->tcti, &t);
	if (!err) {
		err = atls_tpm_use_key_secret(t, c->ak_handle, true, secret);
		if (!err && ep.key_mode == ATLS_KEY_TPM)
			err = atls_tpm_use_key_secret(t, c->tls_key_handle, false, secret);
		if (!err)
			err = atls_evidence_produce(t, &ep, binder, sizeof(binder), &cmw, &cmw_len);
		atls_tpm_close(t);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	if (err) {
		fprintf(stderr, "atlsctl: evidence from the TPM: %s\n", strerror(-err));
		goto out;
	}
	hb = hexdup(binder, sizeof(binder));
	hs = hexdup(spki, slen);
	hc = hexdup(cmw, cmw_len);
	if (!hb || !hs || !hc ||
	    asprintf(&text, "version = 1;\nrole = \"%s\";\nbinder = \"%s\";\nspki = \"%s\";\n"
			    "cmw = \"%s\";\n", "server", hb, hs, hc) < 0) {
		text = NULL;
		goto out;
	}
	err = atlsctl_write_file(out, text, strlen(text), 0644);
	if (err) {
		fprintf(stderr, "atlsctl: %s: %s\n", out, strerror(-err));
		goto out;
	}
	printf("evidence  %s (%zu bytes of CMW, PCRs 0-7)\n", out, cmw_len);
	ret = 0;
out:
	free(text);
	free(hb);
	free(hs);
	free(hc);
	free(cmw);
	OPENSSL_free(spki);
	return ret;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option lo[] = { { "policy", required_argument, NULL, 'p' },
					    { "role", required_argument, NULL, 'r' },
					    { NULL, 0, NULL, 0 } };
	const char *policy = NULL, *role = NULL;
	struct atls_policy *pol = NULL;
	struct atlsctl_blob b;
	struct atls_appraisal ap;
	struct atls_claims cl;
	char perr[256] = "", hx[129], *text = NULL;
	size_t len = 0;
	int opt, err, ret = 1, peer_role;
	FILE *f;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (opt == 'p')
			policy = optarg;
		else if (opt == 'r')
			role = optarg;
		else
			return 2;
	}
	if (!policy || optind + 1 != argc)
		return 2;
	if (role && strcmp(role, "client") && strcmp(role, "server")) {
		fprintf(stderr, "atlsctl: role must be client or server\n");
		return 1;
	}
	err = atls_policy_load(policy, &pol, perr, sizeof(perr));
	if (err) {
		fprintf(stderr, "atlsctl: policy %s: %s\n", policy, perr);
		return 1;
	}
	f = fopen(argv[optind], "r");
	if (f) {
		text = malloc(ATLSCTL_BLOB_MAX + 1);
		len = text ? fread(text, 1, ATLSCTL_BLOB_MAX + 1, f) : 0;
		fclose(f);
	}
	if (!text) {
		fprintf(stderr, "atlsctl: %s: %s\n", argv[optind], f ? "out of memory" : strerror(errno));
		goto out_pol;
	}
	err = atlsctl_blob_parse(text, len, &b, perr, sizeof(perr));
	free(text);
	if (err) {
		fprintf(stderr, "atlsctl: %s: not a version 1 evidence blob: %s\n", argv[optind], perr);
		goto out_pol;
	}
	peer_role = (role ? !strcmp(role, "client") : b.client) ? ATLS_ROLE_CLIENT
								 : ATLS_ROLE_SERVER;
	memset(&cl, 0, sizeof(cl));
	err = atls_evidence_appraise(pol, peer_role, b.cmw, b.clen, b.binder, b.blen, b.spki,
				     b.slen, &cl, &ap);
	printf("verdict   %s\n", ap.status == ATLS_EAR_AFFIRMING	       ? "affirming"
				: ap.status == ATLS_EAR_WARNING	       ? "warning"
				: ap.status == ATLS_EAR_CONTRAINDICATED ? "contraindicated"
								       : "none");
	printf("reason    %s%s%s\n", atls_reason_name(ap.reason), ap.text[0] ? ": " : "", ap.text);
	if (cl.evidence_type != ATLS_EVIDENCE_NONE) {
		atlsd_hex(cl.ak_sha256, 32, hx);
		printf("evidence  %s\nak        sha256 %s\n",
		       cl.evidence_type == ATLS_EVIDENCE_TPM2_KAT_PAT ? "tpm-kat-pat" : "tpm-pat", hx);
		atlsd_hex(cl.pcr_digest, cl.pcr_digest_len > 64 ? 64 : cl.pcr_digest_len, hx);
		printf("pcrs      bank 0x%04x select 0x%06x digest %s\n", cl.pcr_bank, cl.pcr_mask, hx);
	}
	ret = err || ap.status != ATLS_EAR_AFFIRMING ? 1 : 0;
	atlsctl_blob_free(&b);
out_pol:
	atls_policy_free(pol);
	return ret;
}

int main(int argc, char **argv)
{
	struct atlsd_config *c = malloc(sizeof(*c));
	const char *conf = getenv("ATLSD_CONF"), *state = NULL, *tcti = NULL, *cmd;
	bool conf_given = conf && *conf;
	char err[300] = "";
	int i = 1, ret;

	if (!c)
		return 1;
	if (!conf_given)
		conf = "/etc/atls/atlsd.conf";
	while (i + 1 < argc && argv[i][0] == '-' && argv[i][1] && !argv[i][2] &&
	       strchr("cst", argv[i][1])) {
		if (argv[i][1] == 'c') {
			conf = argv[i + 1];
			conf_given = true;
		} else if (argv[i][1] == 's') {
			state = argv[i + 1];
		} else {
			tcti = argv[i + 1];
		}
		i += 2;
	}
	if (i >= argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
		usage(i >= argc ? stderr : stdout);
		free(c);
		return i >= argc ? 2 : 0;
	}
	atlsd_log_init("atlsctl", ATLSD_LOG_INFO);
	atlsd_config_defaults(c);
	if (state)
		atlsd_config_set_state_dir(c, state);
	if (atlsd_config_load(c, conf, conf_given, err, sizeof(err))) {
		fprintf(stderr, "atlsctl: configuration %s: %s\n", conf, err);
		free(c);
		return 1;
	}
	if (state)
		atlsd_config_set_state_dir(c, state);
	if (tcti)
		snprintf(c->tcti, sizeof(c->tcti), "%s", tcti);
	setenv("TSS2_LOG", "all+none", 0);
	cmd = argv[i];
	argc -= i;
	argv += i;
	if (!strcmp(cmd, "provision"))
		ret = cmd_provision(c, argc, argv);
	else if (!strcmp(cmd, "export"))
		ret = atlsctl_cmd_export(c, argc, argv);
	else if (!strcmp(cmd, "trust"))
		ret = atlsctl_cmd_trust(c, argc, argv);
	else if (!strcmp(cmd, "untrust"))
		ret = atlsctl_cmd_untrust(c, argc, argv);
	else if (!strcmp(cmd, "status"))
		ret = cmd_status(c, false);
	else if (!strcmp(cmd, "counters"))
		ret = cmd_status(c, true);
	else if (!strcmp(cmd, "evidence"))
		ret = cmd_evidence(c, argc, argv);
	else if (!strcmp(cmd, "check"))
		ret = cmd_check(argc, argv);
	else
		ret = 2;
	if (ret == 2)
		usage(stderr);
	free(c);
	return ret;
}
