/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atlsctl internals: the commands of atlsctl.c (main) and trust.c, and the
 * helpers both use (digest.c, atomic_file.c, evblob.c).
 * Every command returns the process exit status (0 ok, 1 failure, 2 usage)
 * and prints its own message on failure.
 */
#ifndef ATLSCTL_H
#define ATLSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "../common/config.h"
#include "../common/log.h"

/* digest.c: read a PEM public key (SubjectPublicKeyInfo). -errno. */
int atlsctl_load_pubkey(const char *pem_path, EVP_PKEY **out);
/* digest.c: SHA-256 of a PEM public key's DER SPKI. */
int atlsctl_sha256_file_spki(const char *pem_path, uint8_t out[32]);
/* digest.c: PCR digest (SHA-256 over the selected SHA-256 PCR values, ascending). */
int atlsctl_pcr_digest(const char *tcti, uint32_t mask, uint8_t out[32], char *vals_hex,
		       size_t vals_len);
/* atomic_file.c: write a whole file atomically (tmp + rename), mode. */
int atlsctl_write_file(const char *path, const void *data, size_t len, unsigned int mode);

/* evblob.c: the saved evidence blob (hostile input). */
#define ATLSCTL_BLOB_MAX (256 * 1024)	/* bytes of text */
#define ATLSCTL_CMW_MAX (64 * 1024)	/* bytes of CMW */
struct atlsctl_blob {
	uint8_t *binder, *spki, *cmw;
	size_t blen, slen, clen;
	bool client;		/* role of the side that produced it */
};
int atlsctl_blob_parse(const char *text, size_t len, struct atlsctl_blob *b, char *err,
		       size_t errlen);
void atlsctl_blob_free(struct atlsctl_blob *b);

/* trust.c */
int atlsctl_cmd_export(const struct atlsd_config *c, int argc, char **argv);
int atlsctl_cmd_trust(const struct atlsd_config *c, int argc, char **argv);
int atlsctl_cmd_untrust(const struct atlsd_config *c, int argc, char **argv);
int atlsctl_write_peers_policy(const struct atlsd_config *c, uint32_t mask);
/* trust.c: STATE/key-mode, where provision records the key mode it made. */
int atlsctl_write_key_mode(const struct atlsd_config *c, bool software);

#endif /* ATLSCTL_H */
