// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers of the end-to-end tests: setting up a VM as an operator would
 * (atlsctl provision, copy the AK public key and PCR digest to the peer,
 * atlsctl trust), running atlsd, sockets and barriers.  See e2e.h.
 *
 * atlsd runs as a child of the test program (its log in ATLS_RESULTS) and
 * outlives the forked test cases; its pid is kept in a file so any test can
 * kill and restart it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "e2e.h"

struct e2e_env e2e;

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int e2e_run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int e2e_read_hex(const char *path, uint8_t *out, size_t len)
{
	char buf[260];
	FILE *f = fopen(path, "r");
	size_t i;

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if (strlen(buf) < 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned int b;

		if (sscanf(buf + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = b;
	}
	return 0;
}

static int wait_file(const char *path, int ms)
{
	long end = now_ms() + ms;

	while (access(path, F_OK)) {
		if (now_ms() > end)
			return -1;
		usleep(100 * 1000);
	}
	return 0;
}

int e2e_barrier(const char *name)
{
	char mine[400], theirs[400];
	int fd;

	snprintf(mine, sizeof(mine), "%s/barrier-%s.%c", e2e.xchg, name, e2e.role);
	snprintf(theirs, sizeof(theirs), "%s/barrier-%s.%c", e2e.xchg, name, e2e.peer_role);
	fd = open(mine, O_CREAT | O_WRONLY, 0644);
	if (fd >= 0)
		close(fd);
	return wait_file(theirs, E2E_WAIT_MS);
}

static int ak_sha256(const char *pem, uint8_t out[32])
{
	FILE *f = fopen(pem, "r");
	unsigned char *der = NULL;
	EVP_PKEY *k;
	int len;

	if (!f)
		return -1;
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!k)
		return -1;
	len = i2d_PUBKEY(k, &der);
	EVP_PKEY_free(k);
	if (len <= 0)
		return -1;
	SHA256(der, len, out);
	OPENSSL_free(der);
	return 0;
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
	snprintf(out, len, "%s/atlsd.pid", e2e.dir);
}

pid_t e2e_atlsd_pid(void)
{
	char p[300];
	FILE *f;
	int pid = -1;

	pidfile(p, sizeof(p));
	f = fopen(p, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &pid) != 1)
		pid = -1;
	fclose(f);
	return pid;
}

int e2e_atlsd_active(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096], *p;
	ssize_t n, got = 0;
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.80s/run/atlsd.sock", e2e.dir);
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

int e2e_atlsd_start(void)
{
	return e2e_atlsd_start_as(NULL);
}

int e2e_atlsd_start_as(const char *user)
{
	char p[300], sock[300];
	long end;
	pid_t pid;
	int fd;

	snprintf(sock, sizeof(sock), "%.80s/run/atlsd.sock", e2e.dir);
	unlink(sock);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		fd = open(e2e.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		setsid();
		snprintf(p, sizeof(p), "%s/helperd/atlsd", e2e.build);
		if (user)
			execl(p, "atlsd", "-c", e2e.conf, "-w", e2e.workers ?: "16", "-u", user,
			      (char *)NULL);
		else
			execl(p, "atlsd", "-c", e2e.conf, "-w", e2e.workers ?: "16", (char *)NULL);
		_exit(127);
	}
	pidfile(p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dprintf(fd, "%d\n", (int)pid);
		close(fd);
	}
	end = now_ms() + 60000;
	while (e2e_atlsd_active() < 0) {
		if (now_ms() > end || waitpid(pid, NULL, WNOHANG) == pid)
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

int e2e_atlsd_kill(int sig)
{
	pid_t pid = e2e_atlsd_pid();
	long end = now_ms() + 30000;

	if (pid <= 0)
		return -1;
	if (kill(pid, sig))
		return -1;
	/* The daemon may be our child (setup) or not (a test case restarted it). */
	while (!gone(pid)) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		if (now_ms() > end)
			return -1;
		usleep(50 * 1000);
	}
	return 0;
}

int e2e_setup(const char *name)
{
	const char *tmp = getenv("TMPDIR"), *r = getenv("ATLS_VM_ROLE");
	const char *res = getenv("ATLS_RESULTS");
	char path[1000], conf[4096], mine[600], peer[600];
	const char *ctl;
	uint8_t zero[32] = { 0 };
	char own_dig[65];
	int i;

	memset(&e2e, 0, sizeof(e2e));
	e2e.role = r && *r ? r[0] : 0;
	e2e.peer4 = getenv("ATLS_PEER_ADDR");
	e2e.peer6 = getenv("ATLS_PEER_ADDR6");
	e2e.xchg = getenv("ATLS_XCHG");
	e2e.build = getenv("ATLS_BUILD");
	if ((e2e.role != 'a' && e2e.role != 'b') || !e2e.peer4 || !*e2e.peer4 || !e2e.xchg ||
	    !*e2e.xchg || !e2e.build) {
		fprintf(stderr, "e2e: needs the two-VM environment (ATLS_VM_ROLE, ATLS_PEER_ADDR, ATLS_XCHG)\n");
		return -1;
	}
	e2e.peer_role = e2e.role == 'a' ? 'b' : 'a';
	snprintf(e2e.dir, sizeof(e2e.dir), "%s/e2e-%s", tmp ? tmp : "/tmp", name);
	snprintf(e2e.conf, sizeof(e2e.conf), "%s/atlsd.conf", e2e.dir);
	snprintf(e2e.log, sizeof(e2e.log), "%s/atlsd-%s.log", res ? res : e2e.dir, name);
	e2e_run("rm -rf '%s'", e2e.dir);
	mkdir(e2e.dir, 0700);
	snprintf(path, sizeof(path), "%s/state", e2e.dir);
	setenv("ATLS_STATE_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/run", e2e.dir);
	setenv("ATLS_RUN_DIR", path, 1);
	setenv("ATLS_TCTI", "device:/dev/tpmrm0", 1);
	setenv("TSS2_LOG", "all+none", 1);
	ctl = e2e.build;

	/* As an operator would: provision, export, copy, trust. */
	snprintf(mine, sizeof(mine), "%s/%s-%c", e2e.xchg, name, e2e.role);
	snprintf(peer, sizeof(peer), "%s/%s-%c", e2e.xchg, name, e2e.peer_role);
	if (e2e_run("%s/helperd/atlsctl provision --cn vm-%c >&2", ctl, e2e.role) ||
	    e2e_run("%s/helperd/atlsctl export '%s' >&2", ctl, mine)) {
		fprintf(stderr, "e2e: provisioning failed\n");
		return -1;
	}
	/*
	 * The peer's export is complete once it reaches this barrier (its
	 * atlsctl has exited): a file of the export merely existing may still
	 * be being written by the other VM, and no fixed pause covers a VM
	 * that the host has stopped scheduling for a while.
	 */
	snprintf(path, sizeof(path), "%s-exported", name);
	if (e2e_barrier(path) ||
	    e2e_run("%s/helperd/atlsctl trust peer '%s' >&2", ctl, peer)) {
		fprintf(stderr, "e2e: no export from the peer VM in %s\n", peer);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/ak.pem", peer);
	if (ak_sha256(path, e2e.peer_ak_sha256))
		return -1;
	snprintf(path, sizeof(path), "%s/pcr-digest", peer);
	if (e2e_read_hex(path, e2e.peer_pcr_digest, 32))
		return -1;

	/* Two deliberately failing policies: our own AK only; the peer's AK with
	 * a PCR digest no TPM has. */
	snprintf(path, sizeof(path), "%s/pcr-digest", mine);
	{
		uint8_t d[32];

		if (e2e_read_hex(path, d, 32))
			return -1;
		for (i = 0; i < 32; i++)
			sprintf(own_dig + 2 * i, "%02x", d[i]);
	}
	snprintf(conf, sizeof(conf),
		 "version = 1;\ntrusted-aks = ( { name = \"self\"; pem-file = \"%s/ak.pem\"; } );\n"
		 "pcrs = { bank = \"sha256\"; selection = [0,1,2,3,4,5,6,7]; digests = [ \"%s\" ]; };\n"
		 "evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n", mine, own_dig);
	snprintf(path, sizeof(path), "%s/untrusting.policy", e2e.dir);
	if (write_text(path, conf))
		return -1;
	for (i = 0; i < 32; i++)
		sprintf(own_dig + 2 * i, "%02x", zero[i]);
	snprintf(conf, sizeof(conf),
		 "version = 1;\ntrusted-aks = ( { name = \"peer\"; pem-file = \"%s/ak.pem\"; } );\n"
		 "pcrs = { bank = \"sha256\"; selection = [0,1,2,3,4,5,6,7]; digests = [ \"%s\" ]; };\n"
		 "evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n", peer, own_dig);
	snprintf(path, sizeof(path), "%s/wrong-pcr.policy", e2e.dir);
	if (write_text(path, conf))
		return -1;
	snprintf(conf, sizeof(conf),
		 "# e2e: built-in policies, two that must fail, one with batched quotes\n"
		 "log-level = \"debug\";\n"
		 "policies = {\n"
		 "  untrusting = { policy-file = \"untrusting.policy\"; };\n"
		 "  wrong-pcr = { policy-file = \"wrong-pcr.policy\"; };\n"
		 "  batched = { batch = true; batch-window-us = 50000; batch-max = 16; };\n"
		 "};\n");
	if (write_text(e2e.conf, conf))
		return -1;
	if (e2e_atlsd_start()) {
		fprintf(stderr, "e2e: atlsd did not start (log %s)\n", e2e.log);
		return -1;
	}
	return 0;
}


int e2e_listen(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int l = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;

	if (l < 0)
		return -1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 128)) {
		close(l);
		return -1;
	}
	return l;
}

int e2e_accept(int l, int ms)
{
	struct pollfd p = { .fd = l, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return accept(l, NULL, NULL);
}

int e2e_connect(const char *addr, int port, int ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	long end = now_ms() + ms;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &a->sin6_addr) != 1)
			return -1;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &a->sin_addr) != 1)
			return -1;
		len = sizeof(*a);
	}
	for (;;) {
		fd = socket(ss.ss_family, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&ss, len))
			return fd;
		close(fd);
		if (now_ms() > end)
			return -1;
		usleep(200 * 1000);
	}
}

int e2e_atls(int fd, int role, const char *policy, unsigned int flags)
{
	struct atls_start st;

	if (setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME, sizeof(ATLS_ULP_NAME)))
		return errno;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.role = role;
	st.flags = flags;
	st.timeout_ms = 100000;
	snprintf(st.policy, sizeof(st.policy), "%s", policy);
	if (setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)))
		return errno;
	return 0;
}

int e2e_status(int fd, struct atls_status *st)
{
	socklen_t l = sizeof(*st);

	memset(st, 0, sizeof(*st));
	return getsockopt(fd, SOL_ATLS, ATLS_STATUS, st, &l) ? errno : 0;
}

int e2e_peer_info(int fd, struct atls_peer_info *pi)
{
	socklen_t l = sizeof(*pi);

	memset(pi, 0, sizeof(*pi));
	return getsockopt(fd, SOL_ATLS, ATLS_PEER_INFO, pi, &l) ? errno : 0;
}

int e2e_send_all(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, (const char *)buf + off, len - off, MSG_NOSIGNAL);

		if (n <= 0)
			return n < 0 ? errno : EPIPE;
		off += n;
	}
	return 0;
}

int e2e_recv_all(int fd, void *buf, size_t len, int ms)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ms) != 1)
			return ETIMEDOUT;
		n = recv(fd, (char *)buf + off, len - off, 0);
		if (n <= 0)
			return n < 0 ? errno : EPIPE;
		off += n;
	}
	return 0;
}

/* ------------------------------------------------------------- capture */

static void cap_append(struct e2e_capture *c, int dir, const unsigned char *p, size_t n)
{
	if (c->len[dir] + n > c->cap[dir]) {
		size_t nc = (c->cap[dir] + n) * 2;
		unsigned char *nb = realloc(c->buf[dir], nc);

		if (!nb)
			return;
		c->buf[dir] = nb;
		c->cap[dir] = nc;
	}
	memcpy(c->buf[dir] + c->len[dir], p, n);
	c->len[dir] += n;
}

/* One Ethernet frame: IPv4/IPv6 + TCP on our port -> payload. */
static void cap_frame(struct e2e_capture *c, const unsigned char *f, size_t n)
{
	const unsigned char *ip = f + 14, *tcp;
	unsigned int proto, sport, dport, thl;
	size_t ipl, left;

	if (n < 14 + 20)
		return;
	if (f[12] == 0x08 && f[13] == 0x00) {		/* IPv4 */
		ipl = (ip[0] & 15) * 4;
		proto = ip[9];
		left = ((size_t)ip[2] << 8 | ip[3]);
		if (left > n - 14)
			left = n - 14;
	} else if (f[12] == 0x86 && f[13] == 0xdd) {	/* IPv6, no ext headers */
		ipl = 40;
		proto = ip[6];
		left = 40 + ((size_t)ip[4] << 8 | ip[5]);
		if (left > n - 14)
			left = n - 14;
	} else {
		return;
	}
	if (proto != 6 || left < ipl + 20)
		return;
	tcp = ip + ipl;
	sport = tcp[0] << 8 | tcp[1];
	dport = tcp[2] << 8 | tcp[3];
	thl = (tcp[12] >> 4) * 4;
	if (left < ipl + thl)
		return;
	if (dport == (unsigned int)c->port)
		cap_append(c, 0, tcp + thl, left - ipl - thl);
	else if (sport == (unsigned int)c->port)
		cap_append(c, 1, tcp + thl, left - ipl - thl);
}

static void *cap_main(void *arg)
{
	struct e2e_capture *c = arg;
	static unsigned char f[70000];

	while (!c->stop) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		ssize_t n;

		if (poll(&p, 1, 100) != 1)
			continue;
		n = recvfrom(c->fd, f, sizeof(f), 0, (struct sockaddr *)&sll, &sl);
		if (n > 0 && sll.sll_ifindex != 1)	/* not lo */
			cap_frame(c, f, n);
	}
	return NULL;
}

int e2e_capture_start(struct e2e_capture *c, int port)
{
	int sz = 16 << 20;
	pthread_t t;

	memset(c, 0, sizeof(*c));
	c->port = port;

	c->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (c->fd < 0)
		return -1;
	/* TCG is slow: a big buffer so no frame is dropped. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)))
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (pthread_create(&t, NULL, cap_main, c)) {
		close(c->fd);
		return -1;
	}
	c->th = t;
	return 0;
}

void e2e_capture_stop(struct e2e_capture *c)
{
	static unsigned char f[70000];
	struct sockaddr_ll sll;
	socklen_t sl;
	ssize_t n;

	usleep(300 * 1000);	/* let frames still on their way in */
	c->stop = 1;
	pthread_join((pthread_t)c->th, NULL);
	/*
	 * The thread stops between two frames, not when the socket is empty:
	 * on a slow VM it may lag behind, so take what is still queued. Every
	 * frame sent or received before this call is in the queue (the kernel
	 * copies it to packet sockets as it passes the device), so what the
	 * caller checks does not depend on how far the thread got.
	 */
	for (;;) {
		sl = sizeof(sll);
		n = recvfrom(c->fd, f, sizeof(f), MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);
		if (n < 0)
			break;
		if (n > 0 && sll.sll_ifindex != 1)	/* not lo */
			cap_frame(c, f, n);
	}
	close(c->fd);
}

bool e2e_capture_has(const struct e2e_capture *c, const void *needle, size_t n)
{
	return (c->len[0] && memmem(c->buf[0], c->len[0], needle, n)) ||
	       (c->len[1] && memmem(c->buf[1], c->len[1], needle, n));
}

void e2e_capture_free(struct e2e_capture *c)
{
	free(c->buf[0]);
	free(c->buf[1]);
}

void e2e_teardown(void)
{
	char p[300];

	if (e2e_atlsd_pid() > 0 && !gone(e2e_atlsd_pid()))
		e2e_atlsd_kill(SIGTERM);
	pidfile(p, sizeof(p));
	unlink(p);
}
