// SPDX-License-Identifier: Apache-2.0
/*
 * The trust store: what an operator copies between hosts so that each
 * trusts the other's attestation.
 *
 *   atlsctl export DIR      DIR/ak.pem      our AK public key (PEM SPKI)
 *                           DIR/pcr-digest  SHA-256 over our PCRs 0-7 now
 *                           DIR/pcr-values  the PCR values themselves (info)
 *                           DIR/key-mode    "tpm" or "software": where our
 *                                           TLS key lives (what provision made)
 *   atlsctl trust NAME DIR  copies DIR/ak.pem, DIR/pcr-digest and
 *                           DIR/key-mode (absent: "tpm") into
 *                           STATE/trusted/NAME.pem, NAME.digest and
 *                           NAME.key-mode and rewrites STATE/peers.policy
 *   atlsctl untrust NAME    removes them and rewrites peers.policy
 *
 * peers.policy is a libatls policy file (Documentation/policy.5.rst) that
 * the built-in "default" and "verify-only" policies of atlsd use: every
 * trusted AK, each with its own PCR digest (a peer's quote must match the
 * digest exported by that peer, not any trusted one) and the evidence type
 * "tpm-kat-pat" only (the TLS key certified by the AK), unless a trusted
 * peer keeps its TLS key in software: only then is "tpm-pat" (a quote
 * alone) accepted, and the file says for which peers (Documentation/
 * evidence.rst, "Key authorization").  It is generated,
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
#define PEER_NAME_MAX 48	/* characters of a trusted peer's name */

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
	char group[32] = "";
	BIO *b = NULL;
	EVP_PKEY *k;
	long n;
	char *p;
	int err;

	err = atlsctl_load_pubkey(path, &k);
	if (err)
		return err;
	err = -EINVAL;
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

static const char *key_mode_name(bool software)
{
	return software ? "software" : "tpm";
}

/* "tpm"/"software" (a trailing newline allowed) -> 0/1, else -EINVAL. */
static int parse_key_mode(const char *s)
{
	if (!strcmp(s, "tpm"))
		return 0;
	if (!strcmp(s, "software"))
		return 1;
	return -EINVAL;
}

int atlsctl_write_key_mode(const struct atlsd_config *c, bool software)
{
	char path[600], text[16];

	atlsd_state_path(c, "key-mode", path, sizeof(path));
	snprintf(text, sizeof(text), "%s\n", key_mode_name(software));
	return atlsctl_write_file(path, text, strlen(text), 0644);
}

/* What provision made here (STATE/key-mode), else the configuration's. */
static bool own_key_mode_software(const struct atlsd_config *c)
{
	char path[600], text[32];
	int m;

	atlsd_state_path(c, "key-mode", path, sizeof(path));
	if (!read_small(path, text, sizeof(text)) && (m = parse_key_mode(text)) >= 0)
		return m;
	return c->key_mode == ATLS_KEY_SOFTWARE;
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
	snprintf(dst, sizeof(dst), "%s/key-mode", argv[1]);
	if (!err) {
		snprintf(vals, sizeof(vals), "%s\n", key_mode_name(own_key_mode_software(c)));
		err = atlsctl_write_file(dst, vals, strlen(vals), 0644);
	}
	if (err) {
		fprintf(stderr, "atlsctl: export: %s\n", strerror(-err));
		return 1;
	}
	printf("exported  %s/ak.pem, pcr-digest %s (sha256 PCRs 0-7), key-mode %s\n", argv[1],
	       hex, key_mode_name(own_key_mode_software(c)));
	return 0;
}

int atlsctl_write_peers_policy(const struct atlsd_config *c, uint32_t mask)
{
	char dir[600], path[4096], dig[80], mode[32], *text = NULL;
	char names[MAX_PEERS][56], sw_names[MAX_PEERS * 57 + 1] = "";
	unsigned int n = 0, i, j, k, n_sw = 0;
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
			if (atlsd_valid_name(names[n], PEER_NAME_MAX))
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
		   "# Each peer's quotes must match its own PCR digest.\n"
		   "version = 1;\ntrusted-aks = (\n");
	for (i = 0, j = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%.600s/%.55s.digest", dir, names[i]);
		if (read_small(path, dig, sizeof(dig)) || !valid_digest(dig)) {
			fprintf(stderr, "atlsctl: %s: no valid PCR digest, peer %s left out\n",
				path, names[i]);
			continue;
		}
		/* No record (a peer trusted before key modes were): "tpm". */
		snprintf(path, sizeof(path), "%.600s/%.55s.key-mode", dir, names[i]);
		if (!read_small(path, mode, sizeof(mode)) && parse_key_mode(mode) == 1) {
			n_sw++;
			strcat(sw_names, " ");
			strcat(sw_names, names[i]);
		}
		fprintf(f, "%s  { name = \"%s\"; pem-file = \"trusted/%s.pem\";\n"
			   "    digests = [ \"%s\" ]; }", j++ ? ",\n" : "", names[i], names[i], dig);
	}
	fprintf(f, "\n);\npcrs = {\n  bank = \"sha256\";\n  selection = [ ");
	for (i = 0, k = 0; i < 24; i++)
		if (mask & (1u << i))
			fprintf(f, "%s%u", k++ ? ", " : "", i);
	fprintf(f, " ];\n};\n");
	if (n_sw)
		fprintf(f, "# A quote alone (tpm-pat) is accepted because these peers keep their\n"
			   "# TLS key in software:%s\nevidence-types = [ \"tpm-kat-pat\", "
			   "\"tpm-pat\" ];\n", sw_names);
	else
		fprintf(f, "# Every peer's TLS key is in its TPM: its AK must certify it.\n"
			   "evidence-types = [ \"tpm-kat-pat\" ];\n");
	fclose(f);
	if (!j) {
		free(text);
		return -EINVAL;
	}
	atlsd_state_path(c, "peers.policy", path, sizeof(path));
	err = atlsctl_write_file(path, text, len, 0644);
	free(text);
	if (!err)
		printf("policy    %s: %u trusted peer%s, evidence %s\n", path, n, n == 1 ? "" : "s",
		       n_sw ? "tpm-kat-pat or tpm-pat (a peer with a software key)" : "tpm-kat-pat");
	return err;
}

int atlsctl_cmd_trust(const struct atlsd_config *c, int argc, char **argv)
{
	char src[1100], dst[1100], dir[600], dig[80], mode[32] = "tpm";
	char *pem = NULL;
	int err;

	if (argc != 3)
		return 2;
	if (!atlsd_valid_name(argv[1], PEER_NAME_MAX)) {
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
	/* An export without key-mode (older atlsctl) is taken as "tpm": the
	 * safe side; a software peer then fails with evidence-type-rejected
	 * until it is exported again. */
	snprintf(src, sizeof(src), "%s/key-mode", argv[2]);
	err = read_small(src, mode, sizeof(mode));
	if (err && err != -ENOENT) {
		fprintf(stderr, "atlsctl: %s: %s\n", src, strerror(-err));
		free(pem);
		return 1;
	}
	if (err)
		snprintf(mode, sizeof(mode), "tpm");
	if (parse_key_mode(mode) < 0) {
		fprintf(stderr, "atlsctl: %s: expected \"tpm\" or \"software\"\n", src);
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
	snprintf(dst, sizeof(dst), "%s/%s.key-mode", dir, argv[1]);
	strcat(mode, "\n");
	if (!err)
		err = atlsctl_write_file(dst, mode, strlen(mode), 0644);
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
	if (!atlsd_valid_name(argv[1], PEER_NAME_MAX)) {
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
	snprintf(path, sizeof(path), "%s/%s.key-mode", dir, argv[1]);
	unlink(path);
	return atlsctl_write_peers_policy(c, 0xff) ? 1 : 0;
}
