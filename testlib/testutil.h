/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared helpers of the libatls host tests (both halves): temporary
 * directories, X.509 test identities, TCP loopback connections, peers in
 * threads, and a private swtpm per test side.
 *
 * Every helper returns 0 / -errno (or a pointer / NULL) and never aborts, so
 * the calling TEST decides how to fail.  Nothing here fakes TLS, the TPM or
 * the kernel: the certificates are real, the sockets are real TCP loopback
 * connections and swtpm is the real software TPM.
 */
#ifndef ATLS_TESTUTIL_H
#define ATLS_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* mkdtemp under $TMPDIR (or /tmp); the path is malloc'ed.  rm -rf by atls_test_rmtree(). */
char *atls_test_tmpdir(const char *tag);
void atls_test_rmtree(const char *dir);
/* "dir/name" in a static rotating buffer (valid for 8 further calls). */
const char *atls_test_path(const char *dir, const char *name);

/*
 * Write an ECDSA P-256 key (keypath, PEM) and a certificate for it
 * (certpath, PEM) with subject CN=cn, issued by (ca_cert, ca_key) or
 * self-signed when they are NULL.  is_ca adds basicConstraints CA:TRUE.
 * If pub is given the certificate is issued for that public key instead
 * (keypath is then not written), e.g. a TPM-resident key.
 */
int atls_test_make_cert(const char *certpath, const char *keypath, const char *cn, bool is_ca,
			const char *ca_cert, const char *ca_key, EVP_PKEY *pub);
/* Concatenate PEM files into out (a chain file). */
int atls_test_cat(const char *out, const char *a, const char *b);
X509 *atls_test_load_cert(const char *path);
EVP_PKEY *atls_test_load_key(const char *path);

/* A connected TCP pair over 127.0.0.1 (client end, server end). */
int atls_test_tcp_pair(int *cfd, int *sfd);
/* A listening socket on 127.0.0.1, ephemeral port. */
int atls_test_listen(int *lfd, uint16_t *port);
int atls_test_connect(uint16_t port);
/* Accept one connection within timeout_ms. */
int atls_test_accept(int lfd, int timeout_ms);

/* Run fn(arg) in a thread; atls_test_join() returns what fn returned. */
struct atls_test_thread {
	unsigned long tid;	/* pthread_t */
	int (*fn)(void *arg);
	void *arg;
	int ret;
};
int atls_test_spawn(struct atls_test_thread *t, int (*fn)(void *), void *arg);
int atls_test_join(struct atls_test_thread *t);

/* A private swtpm (TPM 2.0) on 127.0.0.1, fresh state, started up. */
struct atls_test_swtpm {
	pid_t pid;
	uint16_t port;		/* server port; ctrl is port + 1 */
	char *dir;		/* state directory */
	char tcti[96];		/* "swtpm:host=127.0.0.1,port=N" for tss2 / tpm2-tools */
};
int atls_test_swtpm_start(struct atls_test_swtpm *t);
void atls_test_swtpm_stop(struct atls_test_swtpm *t);

/*
 * One attesting side for end-to-end tests: a private swtpm with the AK and
 * TLS key provisioned at the default handles, in dir: ak.pem (AK public
 * key), tpm.pem (certificate of the TPM TLS key), sw.key/sw.pem (software
 * key and its certificate), and pcrs = the quoted PCR 0-7 values as a
 * libconfig list of hex strings.  The TPM connection is closed again (swtpm
 * serves one client at a time; a struct atls_ctx opens its own).
 */
struct atls_test_side {
	struct atls_test_swtpm sw;
	char *dir;
	char pcrs[24 * 70];
};
int atls_test_side_provision(struct atls_test_side *s, const char *tag);
/* Write dir/policy.conf of self trusting peer's AK and PCR 0-7; require is
 * the libconfig list body, e.g. "\"server\"" or "". */
int atls_test_side_policy(struct atls_test_side *self, const struct atls_test_side *peer,
			  const char *require);
void atls_test_side_free(struct atls_test_side *s);

/* Run a shell command line (sh -c), return its exit status or -errno. */
int atls_test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* ATLS_TESTUTIL_H */
