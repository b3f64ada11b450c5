// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * A private swtpm (TPM 2.0, TCP transport) per test side, with fresh state in
 * a temp directory: `swtpm socket --tpm2 --flags not-need-init,startup-clear`
 * is started as a child process and killed by tl_swtpm_stop().  The
 * TCTI string for tss2 and tpm2-tools is left in t->tcti.
 *
 * Port choice: two consecutive free ports are found by binding (a race with
 * other processes is possible but harmless: swtpm then fails to start and
 * we retry with other ports).
 *
 * An attesting side is such a swtpm with its keys provisioned through the
 * public provisioning API (atls/provision.h), as atlsd's administrator would.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atls/provision.h>
#include <atls/tpm.h>

#include "certs.h"
#include "net.h"
#include "swtpm.h"
#include "util.h"

static int port_free(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static uint16_t pick_ports(void)
{
	int i;

	for (i = 0; i < 64; i++) {
		uint16_t p = (uint16_t)(20000 + (((unsigned int)getpid() * 131u + (unsigned int)i * 977u +
						  (unsigned int)time(NULL)) % 30000u) * 1);

		p &= (uint16_t)~1u;
		if (port_free(p) && port_free((uint16_t)(p + 1)))
			return p;
	}
	return 0;
}

static int wait_up(struct tl_swtpm *t)
{
	int i, fd, st;

	for (i = 0; i < 100; i++) {
		fd = tl_connect(t->port);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
			t->pid = 0;
			return -ECHILD;
		}
		usleep(50 * 1000);
	}
	return -ETIMEDOUT;
}

static int start_once(struct tl_swtpm *t)
{
	char state[600], server[64], ctrl[64], log[600];
	pid_t pid;

	t->port = pick_ports();
	if (!t->port)
		return -EADDRINUSE;
	snprintf(state, sizeof(state), "dir=%s", t->dir);
	snprintf(server, sizeof(server), "type=tcp,port=%u,bindaddr=127.0.0.1", t->port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%u,bindaddr=127.0.0.1", t->port + 1);
	snprintf(log, sizeof(log), "file=%s/swtpm.log", t->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
		}
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state, "--server", server,
		       "--ctrl", ctrl, "--flags", "not-need-init,startup-clear", "--log", log,
		       (char *)NULL);
		_exit(127);
	}
	t->pid = pid;
	snprintf(t->tcti, sizeof(t->tcti), "swtpm:host=127.0.0.1,port=%u", t->port);
	return wait_up(t);
}

int tl_swtpm_start(struct tl_swtpm *t)
{
	int i, ret = -EIO;

	/* tss2 logs every TPM error response on stderr; the callers check the
	 * return codes and the negative tests expect errors.  An explicit
	 * TSS2_LOG wins (for debugging a test). */
	setenv("TSS2_LOG", "all+none", 0);
	memset(t, 0, sizeof(*t));
	t->dir = tl_tmpdir("swtpm");
	if (!t->dir)
		return -errno;
	for (i = 0; i < 5; i++) {
		ret = start_once(t);
		if (!ret)
			return 0;
		if (t->pid > 0) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, NULL, 0);
			t->pid = 0;
		}
	}
	tl_rmtree(t->dir);
	free(t->dir);
	t->dir = NULL;
	return ret;
}

void tl_swtpm_stop(struct tl_swtpm *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
	if (t->dir) {
		tl_rmtree(t->dir);
		free(t->dir);
		t->dir = NULL;
	}
}

int tl_side_provision(struct tl_side *s, const char *tag)
{
	struct atls_cert_params cp = { .common_name = tag };
	uint32_t ak = ATLS_AK_HANDLE_DEFAULT, tk = ATLS_TLS_KEY_HANDLE_DEFAULT;
	uint8_t v[24][32];
	unsigned int n = 0, i, j;
	struct atls_tpm *t;
	int ret;

	memset(s, 0, sizeof(*s));
	s->dir = tl_tmpdir(tag);
	if (!s->dir)
		return -1;
	ret = tl_swtpm_start(&s->sw);
	if (ret)
		return ret;
	ret = atls_tpm_open(s->sw.tcti, &t);
	if (ret)
		return ret;
	if ((ret = atls_provision_ak(t, ak)) < 0 || (ret = atls_provision_tls_key(t, tk)) < 0 ||
	    (ret = atls_provision_export_pub(t, ak, tl_path(s->dir, "ak.pem"))) ||
	    (ret = atls_provision_cert_tpm(t, tk, &cp, tl_path(s->dir, "tpm.pem"))) ||
	    (ret = atls_provision_sw_key(tl_path(s->dir, "sw.key"))) < 0 ||
	    (ret = atls_provision_cert_sw(tl_path(s->dir, "sw.key"), &cp,
					  tl_path(s->dir, "sw.pem"))) ||
	    (ret = atls_tpm_pcr_read(t, 0xff, v, &n))) {
		atls_tpm_close(t);
		return ret < 0 ? ret : -1;
	}
	atls_tpm_close(t);
	s->pcrs[0] = 0;
	for (i = 0; i < n; i++) {
		strcat(s->pcrs, i ? ", \"" : "\"");
		for (j = 0; j < 32; j++)
			sprintf(s->pcrs + strlen(s->pcrs), "%02x", v[i][j]);
		strcat(s->pcrs, "\"");
	}
	return 0;
}

int tl_side_server_client(struct tl_side *srv, struct tl_side *cli, const char *srv_tag,
			  const char *cli_tag)
{
	int ret;

	ret = tl_side_provision(srv, srv_tag);
	if (!ret)
		ret = tl_side_provision(cli, cli_tag);
	if (!ret)
		ret = tl_side_policy(cli, srv, "\"server\"");
	return ret;
}

int tl_side_pair(struct tl_side *srv, struct tl_side *cli, const char *srv_tag,
		 const char *cli_tag)
{
	int ret;

	ret = tl_side_server_client(srv, cli, srv_tag, cli_tag);
	if (!ret)
		ret = tl_side_policy(srv, cli, "\"client\"");
	return ret;
}

void tl_side_free(struct tl_side *s)
{
	tl_swtpm_stop(&s->sw);
	if (s->dir) {
		tl_rmtree(s->dir);
		free(s->dir);
		s->dir = NULL;
	}
}
