/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: a private swtpm per test side, and an attesting side provisioned
 * on it.
 */
#ifndef TL_SWTPM_H
#define TL_SWTPM_H

#include <stdint.h>
#include <sys/types.h>

/* A private swtpm (TPM 2.0) on 127.0.0.1, fresh state, started up.  Turns
 * tpm2-tss's own logging off (TSS2_LOG=all+none) unless TSS2_LOG is set. */
struct tl_swtpm {
	pid_t pid;
	uint16_t port;		/* server port; ctrl is port + 1 */
	char *dir;		/* state directory */
	char tcti[96];		/* "swtpm:host=127.0.0.1,port=N" for tss2 / tpm2-tools */
};
int tl_swtpm_start(struct tl_swtpm *t);
void tl_swtpm_stop(struct tl_swtpm *t);

/*
 * One attesting side: a private swtpm with the AK and TLS key provisioned at
 * the default handles, in dir: ak.pem (AK public key), tpm.pem (certificate
 * of the TPM TLS key, subject CN=tag), sw.key/sw.pem (software key and its
 * certificate), and pcrs = the quoted PCR 0-7 values as a libconfig list of
 * hex strings.  The TPM connection is closed again (swtpm serves one client
 * at a time; a struct atls_ctx opens its own).  A policy trusting a side:
 * tl_side_policy() (certs.h).
 */
struct tl_side {
	struct tl_swtpm sw;
	char *dir;
	char pcrs[24 * 70];
};
int tl_side_provision(struct tl_side *s, const char *tag);
void tl_side_free(struct tl_side *s);
/* A server side and a client side whose policy.conf trusts the server's AK
 * and requires its evidence ("server"); the server has no policy.  0 or the
 * first failure. */
int tl_side_server_client(struct tl_side *srv, struct tl_side *cli, const char *srv_tag,
			  const char *cli_tag);
/* The same, and the server's policy.conf trusts the client's AK and
 * requires its evidence ("client"): the two sides trust each other. */
int tl_side_pair(struct tl_side *srv, struct tl_side *cli, const char *srv_tag,
		 const char *cli_tag);

#endif /* TL_SWTPM_H */
