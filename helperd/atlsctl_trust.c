// SPDX-License-Identifier: Apache-2.0
/*
 * The trust store: what an operator copies between hosts so that each
 * trusts the other's attestation.
 *
 *   atlsctl export DIR      DIR/ak.pem      our AK public key (PEM SPKI)
 *                           DIR/pcr-digest  SHA-256 over our PCRs 0-7 now
 *                           DIR/pcr-values  the PCR values themselves (info)
 *   atlsctl trust NAME DIR  copies DIR/ak.pem and DIR/pcr-digest into
 *                           STATE/trusted/NAME.pem and NAME.digest and
 *                           rewrites STATE/peers.policy
 *   atlsctl untrust NAME    removes them and rewrites peers.policy
 *
 * peers.policy is a libatls policy file (Documentation/policy.5.rst) that
 * the built-in "default" and "verify-only" policies of atlsd use: every
 * trusted AK, and the union of the trusted PCR digests.  It is generated,
 * never edited by hand; atlsd reads it when it builds a context (first use
 * after start or SIGHUP).  Everything read from DIR is validated (the AK
 * must be an ECC P-256 public key, the digest 64 hex digits) before it
 * enters the store: DIR may come from another machine.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "atlsctl.h"

#define MAX_PEERS 64

static bool valid_name(const char *n)
{
	size_t i, len = strlen(n);

	if (!len || len > 48)
		return false;
	for (i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		      (n[i] >= '0' && n[i] <= '9') || n[i] == '-' || n[i] == '_'))
			return false;
	return true;
}

static bool valid_digest(const char *d)
{
	size_t i;

	if (strlen(d) != 64)
		return false;
	for (i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", d[i]))
			return false;
	return true;
}

/* Read a small text file, trailing newline stripped. */
static int read_small(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return 0;
}

/* The AK PEM in path, re-encoded by OpenSSL (only a P-256 key passes). */
static int load_ak_pem(const char *path, char **pem)
{
	FILE *f = fopen(path, "r");
	char group[32] = "";
	BIO *b = NULL;
	EVP_PKEY *k;
	long n;
	char *p;
	int err = -EINVAL;

	if (!f)
		return -errno;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		return -EINVAL;
	if (!EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), NULL) ||
	    strcmp(group, "prime256v1"))
		goto out;
	b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_PUBKEY(b, k))
		goto out;
	n = BIO_get_mem_data(b, &p);
	*pem = strndup(p, n);
	err = *pem ? 0 : -ENOMEM;
out:
	BIO_free(b);
	EVP_PKEY_free(k);
	return err;
}

int atlsctl_cmd_export(const struct atlsd_config *c, int argc, char **argv)
{
	char src[600], dst[1100], hex[65], vals[24 * 70];
	char *pem = NULL;
	uint8_t d[32];
	int err;

	if (argc != 2)
		return 2;
	if (mkdir(argv[1], 0755) && errno != EEXIST) {
		fprintf(stderr, "atlsctl: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	atlsd_state_path(c, "ak.pem", src, sizeof(src));
	err = load_ak_pem(src, &pem);
	if (err) {
		fprintf(stderr, "atlsctl: %s: %s (run `atlsctl provision` first)\n", src,
			strerror(-err));
		return 1;
	}
	snprintf(dst, sizeof(dst), "%s/ak.pem", argv[1]);
	err = atlsctl_write_file(dst, pem, strlen(pem), 0644);
	free(pem);
	if (!err)
		err = atlsctl_pcr_digest(c->tcti, 0xff, d, vals, sizeof(vals));
	if (err) {
		fprintf(stderr, "atlsctl: export: %s\n", strerror(-err));
		return 1;
	}
	atlsd_hex(d, 32, hex);
	hex[64] = '\n';
	snprintf(dst, sizeof(dst), "%s/pcr-digest", argv[1]);
	err = atlsctl_write_file(dst, hex, 65, 0644);
	hex[64] = 0;
	snprintf(dst, sizeof(dst), "%s/pcr-values", argv[1]);
	if (!err) {
		strcat(vals, "\n");
		err = atlsctl_write_file(dst, vals, strlen(vals), 0644);
	}
	if (err) {
		fprintf(stderr, "atlsctl: export: %s\n", strerror(-err));
		return 1;
	}
	printf("exported  %s/ak.pem, pcr-digest %s (sha256 PCRs 0-7)\n", argv[1], hex);
	return 0;
}

int atlsctl_write_peers_policy(const struct atlsd_config *c, uint32_t mask)
{
	char dir[600], path[4096], dig[80], *text = NULL;
	char names[MAX_PEERS][56];
	unsigned int n = 0, i, j;
	size_t len = 0;
	struct dirent *de;
	FILE *f;
	DIR *d;
	int err = 0;

	atlsd_state_path(c, "trusted", dir, sizeof(dir));
	d = opendir(dir);
	while (d && (de = readdir(d)) && n < MAX_PEERS) {
		size_t l = strlen(de->d_name);

		if (l > 4 && !strcmp(de->d_name + l - 4, ".pem") && l - 4 < sizeof(names[0])) {
			memcpy(names[n], de->d_name, l - 4);
			names[n][l - 4] = 0;
			if (valid_name(names[n]))
				n++;
		}
	}
	if (d)
		closedir(d);
	atlsd_state_path(c, "peers.policy", path, sizeof(path));
	if (!n) {
		unlink(path);
		printf("trust     store empty: %s removed\n", path);
		return 0;
	}
	f = open_memstream(&text, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "# Generated by `atlsctl trust`: edits are lost on the next trust/untrust.\n"
		   "version = 1;\ntrusted-aks = (\n");
	for (i = 0; i < n; i++)
		fprintf(f, "  { name = \"%s\"; pem-file = \"trusted/%s.pem\"; }%s\n", names[i],
			names[i], i + 1 < n ? "," : "");
	fprintf(f, ");\npcrs = {\n  bank = \"sha256\";\n  selection = [ ");
	for (i = 0, j = 0; i < 24; i++)
		if (mask & (1u << i))
			fprintf(f, "%s%u", j++ ? ", " : "", i);
	fprintf(f, " ];\n  digests = [ ");
	for (i = 0, j = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%.600s/%.55s.digest", dir, names[i]);
		if (read_small(path, dig, sizeof(dig)) || !valid_digest(dig))
			continue;
		fprintf(f, "%s\"%s\"", j++ ? ", " : "", dig);
	}
	fprintf(f, " ];\n};\nevidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n");
	fclose(f);
	if (!j) {
		free(text);
		return -EINVAL;
	}
	atlsd_state_path(c, "peers.policy", path, sizeof(path));
	err = atlsctl_write_file(path, text, len, 0644);
	free(text);
	if (!err)
		printf("policy    %s: %u trusted peer%s\n", path, n, n == 1 ? "" : "s");
	return err;
}

int atlsctl_cmd_trust(const struct atlsd_config *c, int argc, char **argv)
{
	char src[1100], dst[1100], dir[600], dig[80];
	char *pem = NULL;
	int err;

	if (argc != 3)
		return 2;
	if (!valid_name(argv[1])) {
		fprintf(stderr, "atlsctl: peer names are 1..48 characters of [A-Za-z0-9_-]\n");
		return 1;
	}
	snprintf(src, sizeof(src), "%s/ak.pem", argv[2]);
	err = load_ak_pem(src, &pem);
	if (err) {
		fprintf(stderr, "atlsctl: %s: not an ECC P-256 public key (%s)\n", src,
			strerror(-err));
		return 1;
	}
	snprintf(src, sizeof(src), "%s/pcr-digest", argv[2]);
	if (read_small(src, dig, sizeof(dig)) || !valid_digest(dig)) {
		fprintf(stderr, "atlsctl: %s: expected 64 lower-case hex digits\n", src);
		free(pem);
		return 1;
	}
	atlsd_state_path(c, "trusted", dir, sizeof(dir));
	mkdir(c->state_dir, 0700);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		fprintf(stderr, "atlsctl: %s: %s\n", dir, strerror(errno));
		free(pem);
		return 1;
	}
	snprintf(dst, sizeof(dst), "%s/%s.pem", dir, argv[1]);
	err = atlsctl_write_file(dst, pem, strlen(pem), 0644);
	free(pem);
	snprintf(dst, sizeof(dst), "%s/%s.digest", dir, argv[1]);
	strcat(dig, "\n");
	if (!err)
		err = atlsctl_write_file(dst, dig, strlen(dig), 0644);
	if (!err)
		err = atlsctl_write_peers_policy(c, 0xff);
	if (err) {
		fprintf(stderr, "atlsctl: trust %s: %s\n", argv[1], strerror(-err));
		return 1;
	}
	printf("trusted   %s (send SIGHUP to a running atlsd to apply)\n", argv[1]);
	return 0;
}

int atlsctl_cmd_untrust(const struct atlsd_config *c, int argc, char **argv)
{
	char path[1100], dir[600];

	if (argc != 2)
		return 2;
	if (!valid_name(argv[1])) {
		fprintf(stderr, "atlsctl: bad peer name\n");
		return 1;
	}
	atlsd_state_path(c, "trusted", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s.pem", dir, argv[1]);
	if (unlink(path)) {
		fprintf(stderr, "atlsctl: %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s.digest", dir, argv[1]);
	unlink(path);
	return atlsctl_write_peers_policy(c, 0xff) ? 1 : 0;
}
