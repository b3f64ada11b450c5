/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atlsctl internals: the commands of atlsctl.c and atlsctl_trust.c.
 * Every command returns the process exit status (0 ok, 1 failure, 2 usage)
 * and prints its own message on failure.
 */
#ifndef ATLSCTL_H
#define ATLSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "atlsd.h"

/* Hex digest helpers. */
int atlsctl_sha256_file_spki(const char *pem_path, uint8_t out[32]);
/* PCR digest (SHA-256 over the selected SHA-256 PCR values, ascending). */
int atlsctl_pcr_digest(const char *tcti, uint32_t mask, uint8_t out[32], char *vals_hex,
		       size_t vals_len);
/* Write a whole file atomically (tmp + rename), mode. */
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

int atlsctl_cmd_export(const struct atlsd_config *c, int argc, char **argv);
int atlsctl_cmd_trust(const struct atlsd_config *c, int argc, char **argv);
int atlsctl_cmd_untrust(const struct atlsd_config *c, int argc, char **argv);
int atlsctl_write_peers_policy(const struct atlsd_config *c, uint32_t mask);

#endif /* ATLSCTL_H */
