// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * The VM suites' set-up: a VM set up as an operator would (atlsctl
 * provision, copy the AK public key and PCR digest to the peer, atlsctl
 * trust), atlsd run and restarted, barriers between the two VMs.  See vm.h.
 *
 * atlsd runs as a child of the test program (its log in ATLS_RESULTS) and
 * outlives the forked test cases; its pid is kept in a file so any test can
 * kill and restart it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "certs.h"
#include "util.h"
#include "vm.h"

struct tl_vm_env tl_vm;

static int wait_file(const char *path, int ms)
{
	long end = tl_now_ms() + ms;

	while (access(path, F_OK)) {
		if (tl_now_ms() > end)
			return -1;
		usleep(100 * 1000);
	}
	return 0;
}

int tl_barrier(const char *name)
{
	char mine[400], theirs[400];
	int fd;

	snprintf(mine, sizeof(mine), "%s/barrier-%s.%c", tl_vm.xchg, name, tl_vm.role);
	snprintf(theirs, sizeof(theirs), "%s/barrier-%s.%c", tl_vm.xchg, name, tl_vm.peer_role);
	fd = open(mine, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	return wait_file(theirs, TL_PEER_WAIT_MS);
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void pidfile(char *out, size_t len)
{
	snprintf(out, len, "%s/atlsd.pid", tl_vm.dir);
}

pid_t tl_atlsd_pid(void)
{
	char p[300];
	int pid;

	pidfile(p, sizeof(p));
	return tl_read_int(p, &pid) ? -1 : pid;
}

int tl_vm_local_env(const char *name, const char *suffix)
{
	const char *tmp = getenv("TMPDIR"), *res = getenv("ATLS_RESULTS");

	tl_vm.build = getenv("ATLS_BUILD");
	snprintf(tl_vm.dir, sizeof(tl_vm.dir), "%s/%s", tmp ? tmp : "/tmp", name);
	if (!tl_vm.build || tl_sh("mkdir -p %s", tl_vm.dir))
		return -1;
	snprintf(tl_vm.log, sizeof(tl_vm.log), "%s/atlsd-%s.log",
		 res ? res : (tmp ? tmp : "/tmp"), suffix);
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/run", tl_vm.dir);
	setenv("ATLS_RUN_DIR", tl_vm.conf, 1);
	setenv("ATLS_TCTI", "device:/dev/tpmrm0", 1);
	setenv("TSS2_LOG", "all+none", 1);
	return 0;
}

int tl_vm_local_begin(const char *name, int (*setup)(void))
{
	memset(&tl_vm, 0, sizeof(tl_vm));
	if (setup()) {
		printf("1..1\nnot ok 1 %s set-up (provisioning) failed\n", name);
		fflush(stdout);
		return -1;
	}
	atexit(tl_vm_teardown);
	return 0;
}

int tl_vm_self_trusting(const char *state, const char *exp, bool software)
{
	const char *d = tl_vm.dir;
	char ctl[600];

	snprintf(ctl, sizeof(ctl), "ATLS_STATE_DIR=%s/%s %s/helperd/atlsctl", d, state,
		 tl_vm.build);
	return tl_sh("%s provision%s >&2 && %s export %s/%s >&2 && %s trust self %s/%s >&2",
		     ctl, software ? " --software" : "", ctl, d, exp, ctl, d, exp) ? -1 : 0;
}

long long tl_atlsd_counter_in_last(const char *name)
{
	char path[400], line[256], key[64];
	long long v, ret = -1;
	bool in = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/counters.out", tl_vm.dir);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "atlsd:", 6))
			in = true;
		else if (!strncmp(line, "kernel:", 7))
			in = false;
		else if (in && sscanf(line, "%63s %lld", key, &v) == 2 && !strcmp(key, name)) {
			ret = v;
			break;
		}
	}
	fclose(f);
	return ret;
}

long long tl_atlsd_counter(const char *name)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/counters.out", tl_vm.dir);
	/* atlsd's configuration and environment; the exit status also
	 * covers the kernel's half: the file decides. */
	tl_sh("%s/helperd/atlsctl -c %s counters > %s 2>&1", tl_vm.build, tl_vm.conf, path);
	return tl_atlsd_counter_in_last(name);
}

int tl_atlsd_active(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096], *p;
	ssize_t n, got = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.80s/run/atlsd.sock", tl_vm.dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || write(fd, "status\n", 7) != 7) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	p = strstr(buf, "active ");
	return p ? atoi(p + 7) : -1;
}

int tl_atlsd_start(void)
{
	return tl_atlsd_start_as(NULL);
}

int tl_atlsd_start_as(const char *user)
{
	char p[300], sock[300];
	long end;
	pid_t pid;
	int fd;

	snprintf(sock, sizeof(sock), "%.80s/run/atlsd.sock", tl_vm.dir);
	unlink(sock);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		fd = open(tl_vm.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		setsid();
		snprintf(p, sizeof(p), "%s/helperd/atlsd", tl_vm.build);
		if (user)
			execl(p, "atlsd", "-c", tl_vm.conf, "-w", tl_vm.workers ?: "16", "-u", user,
			      (char *)NULL);
		else
			execl(p, "atlsd", "-c", tl_vm.conf, "-w", tl_vm.workers ?: "16", (char *)NULL);
		_exit(127);
	}
	pidfile(p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dprintf(fd, "%d\n", (int)pid);
		close(fd);
	}
	end = tl_now_ms() + 60000;
	while (tl_atlsd_active() < 0) {
		if (tl_now_ms() > end || waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(100 * 1000);
	}
	return 0;
}

/* Gone: no such process, or a zombie (atlsd may be our parent's child). */
static bool gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	bool z = false;

	if (kill(pid, 0))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		z = p[2] == 'Z' || p[2] == 'X';
	fclose(f);
	return z;
}

int tl_atlsd_kill(int sig)
{
	pid_t pid = tl_atlsd_pid();
	long end = tl_now_ms() + 30000;

	if (pid <= 0)
		return -1;
	if (kill(pid, sig))
		return -1;
	/* The daemon may be our child (setup) or not (a test case restarted it). */
	while (!gone(pid)) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		if (tl_now_ms() > end)
			return -1;
		usleep(50 * 1000);
	}
	return 0;
}

/* tl_vm.dir/<file>.policy: trust the AK in ak_dir (named name) with PCRs 0-7
 * of digest dig. */
static int write_policy(const char *file, const char *name, const char *ak_dir,
			const uint8_t dig[32])
{
	char path[400], conf[1024], hex[65];
	int i;

	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", dig[i]);
	snprintf(conf, sizeof(conf),
		 "version = 1;\ntrusted-aks = ( { name = \"%s\"; pem-file = \"%s/ak.pem\"; } );\n"
		 "pcrs = { bank = \"sha256\"; selection = [0,1,2,3,4,5,6,7]; digests = [ \"%s\" ]; };\n"
		 "evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n", name, ak_dir, hex);
	snprintf(path, sizeof(path), "%s/%s.policy", tl_vm.dir, file);
	return write_text(path, conf);
}

int tl_vm_setup(const char *name)
{
	const char *tmp = getenv("TMPDIR"), *r = getenv("ATLS_VM_ROLE");
	const char *res = getenv("ATLS_RESULTS");
	char path[1000], conf[4096], mine[600], peer[600];
	const char *ctl;
	uint8_t zero[32] = { 0 }, own[32];

	memset(&tl_vm, 0, sizeof(tl_vm));
	tl_vm.role = r && *r ? r[0] : 0;
	tl_vm.peer4 = getenv("ATLS_PEER_ADDR");
	tl_vm.peer6 = getenv("ATLS_PEER_ADDR6");
	tl_vm.xchg = getenv("ATLS_XCHG");
	tl_vm.build = getenv("ATLS_BUILD");
	if ((tl_vm.role != 'a' && tl_vm.role != 'b') || !tl_vm.peer4 || !*tl_vm.peer4 ||
	    !tl_vm.xchg || !*tl_vm.xchg || !tl_vm.build) {
		fprintf(stderr, "tl_vm_setup: needs the two-VM environment "
			"(ATLS_VM_ROLE, ATLS_PEER_ADDR, ATLS_XCHG)\n");
		return -1;
	}
	tl_vm.peer_role = tl_vm.role == 'a' ? 'b' : 'a';
	snprintf(tl_vm.dir, sizeof(tl_vm.dir), "%s/e2e-%s", tmp ? tmp : "/tmp", name);
	snprintf(tl_vm.conf, sizeof(tl_vm.conf), "%s/atlsd.conf", tl_vm.dir);
	snprintf(tl_vm.log, sizeof(tl_vm.log), "%s/atlsd-%s.log", res ? res : tl_vm.dir, name);
	tl_sh("rm -rf '%s'", tl_vm.dir);
	mkdir(tl_vm.dir, 0700);
	snprintf(path, sizeof(path), "%s/state", tl_vm.dir);
	setenv("ATLS_STATE_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/run", tl_vm.dir);
	setenv("ATLS_RUN_DIR", path, 1);
	setenv("ATLS_TCTI", "device:/dev/tpmrm0", 1);
	setenv("TSS2_LOG", "all+none", 1);
	ctl = tl_vm.build;

	/* As an operator would: provision, export, copy, trust. */
	snprintf(mine, sizeof(mine), "%s/%s-%c", tl_vm.xchg, name, tl_vm.role);
	snprintf(peer, sizeof(peer), "%s/%s-%c", tl_vm.xchg, name, tl_vm.peer_role);
	if (tl_sh("%s/helperd/atlsctl provision --cn vm-%c >&2", ctl, tl_vm.role) ||
	    tl_sh("%s/helperd/atlsctl export '%s' >&2", ctl, mine)) {
		fprintf(stderr, "tl_vm_setup: provisioning failed\n");
		return -1;
	}
	/*
	 * The peer's export is complete once it reaches this barrier (its
	 * atlsctl has exited): a file of the export merely existing may still
	 * be being written by the other VM, and no fixed pause covers a VM
	 * that the host has stopped scheduling for a while.
	 */
	snprintf(path, sizeof(path), "%s-exported", name);
	if (tl_barrier(path) ||
	    tl_sh("%s/helperd/atlsctl trust peer '%s' >&2", ctl, peer)) {
		fprintf(stderr, "tl_vm_setup: no export from the peer VM in %s\n", peer);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/ak.pem", peer);
	if (tl_pubkey_sha256(path, tl_vm.peer_ak_sha256))
		return -1;
	snprintf(path, sizeof(path), "%s/pcr-digest", peer);
	if (tl_read_hex(path, tl_vm.peer_pcr_digest, 32))
		return -1;

	/* Two deliberately failing policies: our own AK only; the peer's AK with
	 * a PCR digest no TPM has. */
	snprintf(path, sizeof(path), "%s/pcr-digest", mine);
	if (tl_read_hex(path, own, 32) ||
	    write_policy("untrusting", "self", mine, own) ||
	    write_policy("wrong-pcr", "peer", peer, zero))
		return -1;
	snprintf(conf, sizeof(conf),
		 "# e2e: built-in policies, two that must fail, one with batched quotes,\n"
		 "# three exporter-bound;\n"
		 "# every request logged (the tests count atlsd's lines)\n"
		 "log-level = \"debug\";\n"
		 "log-burst = 0;\n"
		 "# a peer busy with its TPM under TCG (50 quotes at once) is not silent\n"
		 "step-timeout-ms = 60000;\n"
		 "policies = {\n"
		 "  untrusting = { policy-file = \"untrusting.policy\"; };\n"
		 "  wrong-pcr = { policy-file = \"wrong-pcr.policy\"; };\n"
		 "  batched = { batch = true; batch-window-us = 50000; batch-max = 16; };\n"
		 "  expat = { binding = \"exporter\"; };\n"
		 "  expat-attest-only = { verify-peer = \"none\"; binding = \"exporter\"; };\n"
		 "  expat-verify-only = { attest = false; binding = \"exporter\"; };\n"
		 "};\n");
	if (write_text(tl_vm.conf, conf))
		return -1;
	if (tl_atlsd_start()) {
		fprintf(stderr, "tl_vm_setup: atlsd did not start (log %s)\n", tl_vm.log);
		return -1;
	}
	return 0;
}

void tl_vm_teardown(void)
{
	char p[300];

	if (tl_atlsd_pid() > 0 && !gone(tl_atlsd_pid()))
		tl_atlsd_kill(SIGTERM);
	pidfile(p, sizeof(p));
	unlink(p);
}
