// SPDX-License-Identifier: Apache-2.0
/*
 * Interop with peers no one here wrote: openssl(1) s_server and s_client
 * (OpenSSL's own applications, separate processes, real TCP).  They ignore
 * the attestation extension, so a handshake completes when attestation is
 * optional on our side (verdict "none") and fails cleanly, with reason
 * attestation-declined and an alert, when it is required.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/pem.h>

#include <fcntl.h>
#include <atls/atls.h>

#include "kselftest_harness.h"
#include "certs.h"
#include "harness.h"
#include "net.h"
#include "util.h"

TL_DIR_FIXTURE(interop)
{
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "c", "ours", false, NULL));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "o", "openssl-app", false, NULL));
	ASSERT_EQ(0, tl_policy_unsatisfiable(self->dir));
}

static struct atls_ctx *our_ctx(FIXTURE_DATA(interop) * self, enum atls_role role,
				enum atls_peer_attest pa)
{
	struct atls_config cfg;
	struct atls_ctx *ctx = NULL;

	atls_config_init(&cfg, role);
	cfg.key_mode = ATLS_KEY_SOFTWARE;
	cfg.peer_attest = pa;
	cfg.policy_file = tl_path(self->dir, "policy.conf");
	if (role == ATLS_ROLE_SERVER) {
		cfg.cert_file = tl_path(self->dir, "c.pem");
		cfg.key_file = tl_path(self->dir, "c.key");
	}
	return atls_ctx_new(&cfg, &ctx) ? NULL : ctx;
}

/* Start `openssl s_server` on a free port; returns its pid, *port set. */
static pid_t start_s_server(FIXTURE_DATA(interop) * self, uint16_t *port, FILE **out,
			    int *in_w)
{
	char line[512];
	int lfd, p[2], in[2];
	pid_t pid;

	if (tl_listen(&lfd, port))
		return -1;
	close(lfd);	/* free again: s_server binds it (a race is harmless here) */
	/* s_server quits at EOF on stdin: give it a pipe we keep open. */
	if (pipe(p) || pipe(in))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if (pid == 0) {
		char portstr[16];

		snprintf(portstr, sizeof(portstr), "%u", *port);
		dup2(in[0], 0);
		close(in[1]);
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		execlp("openssl", "openssl", "s_server", "-accept", portstr, "-naccept", "1",
		       "-tls1_3", "-cert", tl_path(self->dir, "o.pem"), "-key",
		       tl_path(self->dir, "o.key"), (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	close(in[0]);
	*in_w = in[1];
	*out = fdopen(p[0], "r");
	while (*out && fgets(line, sizeof(line), *out))
		if (strstr(line, "ACCEPT"))
			return pid;
	/* It did not come up (e.g. the port was taken meanwhile): reap it. */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(in[1]);
	if (*out)
		fclose(*out);
	*out = NULL;
	return -1;
}

static int stop(pid_t pid, FILE *out)
{
	int st = 0, i;

	for (i = 0; i < 50 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(20000);
	if (i == 50) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	if (out)
		fclose(out);
	return st;
}

static int client_vs_s_server(FIXTURE_DATA(interop) * self, enum atls_peer_attest pa,
			      struct atls_result *res)
{
	struct atls_ctx *ctx = our_ctx(self, ATLS_ROLE_CLIENT, pa);
	FILE *out = NULL;
	uint16_t port;
	pid_t pid;
	int fd, in_w = -1, ret = -1, i;

	if (!ctx)
		return -1;
	for (i = 0; i < 3; i++) {	/* retry if another process took the port */
		pid = start_s_server(self, &port, &out, &in_w);
		if (pid > 0)
			break;
	}
	if (pid > 0) {
		fd = tl_connect(port);
		if (fd >= 0) {
			ret = atls_handshake(ctx, fd, 5000, res);
			close(fd);
		}
		close(in_w);
		stop(pid, out);
	}
	atls_ctx_free(ctx);
	return ret;
}

TEST_F(interop, s_server_optional_completes)
{
	struct atls_result res;

	ASSERT_EQ(0, client_vs_s_server(self, ATLS_PEER_OPTIONAL, &res)) TH_LOG("%s", res.reason_text);
	EXPECT_FALSE(res.peer_attested);
	EXPECT_EQ(ATLS_EAR_NONE, res.appraisal.status);
	EXPECT_EQ(ATLS_REASON_NO_EVIDENCE, res.appraisal.reason);
	EXPECT_TRUE(res.have_peer_cert);
	EXPECT_NE(0, res.crypto_info_len);
	atls_result_release(&res);
}

TEST_F(interop, s_server_required_fails)
{
	struct atls_result res;

	EXPECT_EQ(-EACCES, client_vs_s_server(self, ATLS_PEER_REQUIRED, &res));
	EXPECT_EQ(ATLS_REASON_EVIDENCE_MISSING, res.reason);
	EXPECT_EQ(40, res.alert);
	EXPECT_EQ(0, res.crypto_info_len);
}

/* Our server, `openssl s_client` connecting; returns s_client's exit status. */
static int server_vs_s_client(FIXTURE_DATA(interop) * self, enum atls_peer_attest pa,
			      struct atls_result *res, int *hs)
{
	struct atls_ctx *ctx = our_ctx(self, ATLS_ROLE_SERVER, pa);
	uint16_t port;
	int lfd, fd, st = -1;
	pid_t pid;

	*hs = -1;
	if (!ctx || tl_listen(&lfd, &port))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(lfd);
		atls_ctx_free(ctx);
		return -1;
	}
	if (pid == 0) {
		char target[32];
		int nul = open("/dev/null", O_RDWR);

		snprintf(target, sizeof(target), "127.0.0.1:%u", port);
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		execlp("openssl", "openssl", "s_client", "-connect", target, "-tls1_3", (char *)NULL);
		_exit(127);
	}
	fd = tl_accept(lfd, 5000);
	if (fd >= 0) {
		*hs = atls_handshake(ctx, fd, 5000, res);
		close(fd);
	}
	close(lfd);
	st = stop(pid, NULL);
	atls_ctx_free(ctx);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST_F(interop, s_client_optional_completes)
{
	struct atls_result res;
	int hs;

	/* s_client's own exit status depends on how it sees the close: not checked. */
	server_vs_s_client(self, ATLS_PEER_OPTIONAL, &res, &hs);
	ASSERT_EQ(0, hs) TH_LOG("%s", res.reason_text);
	EXPECT_FALSE(res.peer_attested);
	EXPECT_EQ(ATLS_REASON_NO_EVIDENCE, res.appraisal.reason);
	atls_result_release(&res);
}

TEST_F(interop, s_client_required_fails)
{
	struct atls_result res;
	int hs;

	EXPECT_NE(0, server_vs_s_client(self, ATLS_PEER_REQUIRED, &res, &hs));
	EXPECT_EQ(-EACCES, hs);
	EXPECT_EQ(ATLS_REASON_EVIDENCE_MISSING, res.reason);
	EXPECT_EQ(40, res.alert);
}

TEST_HARNESS_MAIN
