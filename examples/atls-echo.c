// SPDX-License-Identifier: Apache-2.0
/*
 * atls-echo: an attested echo client and server, written the way any
 * application uses atls: plain TCP sockets, two setsockopt() calls, then
 * ordinary send()/recv() and sendfile() (encrypted by kTLS in the kernel),
 * and getsockopt(ATLS_PEER_INFO) for the verdict on the peer.  It links no
 * TLS library and never sees a key.
 *
 *   atls-echo server [-p PORT] [-P POLICY] [-n CONNS] [-6]
 *   atls-echo client [-p PORT] [-P POLICY] [-m MESSAGE] [-f FILE] HOST
 *
 * The server serves each connection in its own thread and echoes until
 * end of file; -n makes it exit after CONNS connections.  The client sends
 * MESSAGE (send) or FILE (sendfile), reads the echo back and checks it
 * byte for byte.  On a refused connection both print the errno and the
 * reason (ATLS_STATUS) and the client exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uapi/linux/atls.h"

/* The reason names of protocol.rst and atlsd's log (libatls's atls_reason_name()). */
static const char *const reasons[] = {
	[ATLS_REASON_NONE] = "none", [ATLS_REASON_OK] = "ok",
	[ATLS_REASON_NO_HELPER] = "no-helper", [ATLS_REASON_TIMEOUT] = "timeout",
	[ATLS_REASON_HELPER_DIED] = "helper-died", [ATLS_REASON_APP_CLOSED] = "app-closed",
	[ATLS_REASON_SHUTDOWN] = "shutdown", [ATLS_REASON_HANDSHAKE] = "tls-failure",
	[ATLS_REASON_PEER_ABORTED] = "peer-aborted", [ATLS_REASON_PEER_CERT] = "peer-cert",
	[ATLS_REASON_EVIDENCE_MISSING] = "attestation-declined",
	[ATLS_REASON_EVIDENCE_INVALID] = "evidence-invalid",
	[ATLS_REASON_AK_UNTRUSTED] = "untrusted-ak", [ATLS_REASON_PCR_MISMATCH] = "pcr-mismatch",
	[ATLS_REASON_FRESHNESS] = "binder-mismatch", [ATLS_REASON_POLICY_UNKNOWN] = "policy-unknown",
	[ATLS_REASON_LOCAL_TPM] = "tpm-error", [ATLS_REASON_BAD_KEYS] = "bad-keys",
	[ATLS_REASON_KEY_INSTALL] = "key-install", [ATLS_REASON_PEER_ALERT] = "peer-alert",
	[ATLS_REASON_KEY_UPDATE] = "key-update", [ATLS_REASON_RECORD_LIMIT] = "record-limit",
	[ATLS_REASON_BAD_RECORD] = "bad-record", [ATLS_REASON_HELPER_ERROR] = "helper-error",
	[ATLS_REASON_NOT_AUTHORIZED] = "not-authorized", [ATLS_REASON_PEER_LIMIT] = "peer-limit",
};

static const char *reason_name(unsigned int r)
{
	return r < sizeof(reasons) / sizeof(reasons[0]) && reasons[r] ? reasons[r] : "unknown";
}

static const char *verdict_name(unsigned int v)
{
	switch (v) {
	case ATLS_VERDICT_AFFIRMING: return "affirming";
	case ATLS_VERDICT_WARNING: return "warning";
	case ATLS_VERDICT_CONTRAINDICATED: return "contraindicated";
	default: return "none";
	}
}

static const char *evidence_name(unsigned int e)
{
	switch (e) {
	case ATLS_EVIDENCE_TPM2_KAT_PAT: return "tpm2 key+platform attestation";
	case ATLS_EVIDENCE_TPM2_PAT: return "tpm2 platform attestation";
	case ATLS_EVIDENCE_EAR: return "EAR";
	default: return "none";
	}
}

/* "EACCES" for EACCES: glibc's table (2.32 and later). */
static const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "?";
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = 0;
}

static const char *tag = "";

/* The two setsockopt calls that make a connected TCP socket an atls one. */
static int atls_begin(int fd, int role, const char *policy)
{
	struct atls_start st;

	if (setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME, sizeof(ATLS_ULP_NAME))) {
		fprintf(stderr, "%sTCP_ULP \"atls\": %s\n", tag, strerror(errno));
		return -1;
	}
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.role = role;
	st.timeout_ms = 60000;	/* generous: TPMs and emulated machines are slow */
	snprintf(st.policy, sizeof(st.policy), "%s", policy);
	if (setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st))) {
		struct atls_status s;
		socklen_t l = sizeof(s);
		int e = errno;

		memset(&s, 0, sizeof(s));
		getsockopt(fd, SOL_ATLS, ATLS_STATUS, &s, &l);
		printf("%sREFUSED: ATLS_START failed: %s (%s), reason %s (%u)\n", tag, strerror(e),
		       errno_name(e), reason_name(s.reason), s.reason);
		fflush(stdout);
		return -1;
	}
	return 0;
}

static void print_peer(int fd)
{
	struct atls_peer_info pi;
	socklen_t l = sizeof(pi);
	char h[2 * ATLS_DIGEST_MAX + 1];

	if (getsockopt(fd, SOL_ATLS, ATLS_PEER_INFO, &pi, &l)) {
		printf("%sATLS_PEER_INFO: %s\n", tag, strerror(errno));
		return;
	}
	printf("%sverdict:  %s (reason %s)%s%s\n", tag, verdict_name(pi.verdict),
	       reason_name(pi.reason), pi.flags & ATLS_PEER_F_PEER_ATTESTED ? ", peer attested" : "",
	       pi.flags & ATLS_PEER_F_SELF_ATTESTED ? ", we attested" : "");
	printf("%scipher:   TLS 0x%04x, kTLS cipher %u\n", tag, pi.tls_version, pi.cipher);
	hex(pi.peer_cert_sha256, 32, h);
	printf("%speer certificate sha256 %s\n", tag, h);
	if (pi.evidence_type == ATLS_EVIDENCE_NONE)
		return;
	printf("%sevidence: %s\n", tag, evidence_name(pi.evidence_type));
	hex(pi.ak_digest, 32, h);
	printf("%speer AK   sha256 %s\n", tag, h);
	hex(pi.pcr_digest, pi.pcr_digest_len > ATLS_DIGEST_MAX ? ATLS_DIGEST_MAX : pi.pcr_digest_len, h);
	printf("%speer PCRs bank 0x%04x select 0x%06x digest %s\n", tag, pi.pcr_bank, pi.pcr_select, h);
}

struct conn {
	int fd;
	const char *policy;
};

static void *serve(void *arg)
{
	struct conn *c = arg;
	char buf[16384];
	ssize_t n;

	if (atls_begin(c->fd, ATLS_ROLE_SERVER, c->policy))
		goto out;
	printf("%sconnection attested\n", tag);
	print_peer(c->fd);
	fflush(stdout);
	while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
		ssize_t off = 0;

		while (off < n) {
			ssize_t w = send(c->fd, buf + off, n - off, MSG_NOSIGNAL);

			if (w <= 0)
				goto out;
			off += w;
		}
	}
	if (n < 0)
		printf("%srecv: %s\n", tag, strerror(errno));
out:
	fflush(stdout);
	close(c->fd);
	free(c);
	return NULL;
}

static int server(int port, const char *policy, int conns, bool v6)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int l, one = 1, served = 0;
	pthread_t *th = calloc(conns > 0 ? conns : 1, sizeof(*th));

	(void)v6;
	/* One dual-stack socket serves IPv4 and IPv6. */
	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || !th)
		return 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	one = 0;
	setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a6, sizeof(a6)) || listen(l, 128)) {
		perror("atls-echo: bind/listen");
		return 1;
	}
	printf("%slistening on port %d, policy \"%s\"\n", tag, port, policy);
	fflush(stdout);
	while (conns <= 0 || served < conns) {
		struct conn *c = malloc(sizeof(*c));
		pthread_t t;

		if (!c)
			return 1;
		c->fd = accept(l, NULL, NULL);
		c->policy = policy;
		if (c->fd < 0) {
			free(c);
			continue;
		}
		if (pthread_create(conns > 0 ? &th[served] : &t, NULL, serve, c)) {
			close(c->fd);
			free(c);
			continue;
		}
		if (conns <= 0)
			pthread_detach(t);
		served++;
	}
	for (int i = 0; i < served; i++)
		pthread_join(th[i], NULL);
	close(l);
	free(th);
	return 0;
}

static int connect_to(const char *host, int port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char ps[16];
	int fd = -1;

	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res))
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM, 0);
		if (fd >= 0 && !connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);

		if (n <= 0) {
			if (n < 0)
				printf("%srecv: %s\n", tag, strerror(errno));
			return -1;
		}
		got += n;
	}
	return 0;
}

static int client(const char *host, int port, const char *policy, const char *msg,
		  const char *file)
{
	char *buf = NULL, *want = NULL;
	size_t len;
	int fd, ret = 1;

	fd = connect_to(host, port);
	if (fd < 0) {
		printf("%sconnect %s:%d: %s\n", tag, host, port, strerror(errno));
		return 1;
	}
	if (atls_begin(fd, ATLS_ROLE_CLIENT, policy))
		goto out;
	printf("%sconnection attested\n", tag);
	print_peer(fd);
	if (file) {
		/* sendfile: the page cache straight into kTLS records. */
		int ffd = open(file, O_RDONLY);
		struct stat st;
		off_t off = 0;

		if (ffd < 0 || fstat(ffd, &st)) {
			perror("atls-echo: file");
			goto out;
		}
		len = st.st_size;
		want = malloc(len + 1);
		buf = malloc(len + 1);
		if (!want || !buf || pread(ffd, want, len, 0) != (ssize_t)len)
			goto out;
		while ((size_t)off < len)
			if (sendfile(fd, ffd, &off, len - off) <= 0) {
				printf("%ssendfile: %s\n", tag, strerror(errno));
				close(ffd);
				goto out;
			}
		close(ffd);
		printf("%ssent %zu bytes with sendfile()\n", tag, len);
	} else {
		len = strlen(msg);
		want = strdup(msg);
		buf = malloc(len + 1);
		if (!want || !buf || send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) {
			printf("%ssend: %s\n", tag, strerror(errno));
			goto out;
		}
		printf("%ssent \"%s\"\n", tag, msg);
	}
	if (read_full(fd, buf, len))
		goto out;
	if (memcmp(buf, want, len)) {
		printf("%secho DIFFERS from what was sent\n", tag);
		goto out;
	}
	if (file)
		printf("%secho: %zu bytes back, identical\n", tag, len);
	else
		printf("%secho: \"%.*s\"\n", tag, (int)len, buf);
	ret = 0;
out:
	fflush(stdout);
	free(buf);
	free(want);
	close(fd);
	return ret;
}

static void usage(void)
{
	fprintf(stderr, "usage: atls-echo server [-p PORT] [-P POLICY] [-n CONNS] [-t TAG]\n"
			"       atls-echo client [-p PORT] [-P POLICY] [-m MSG] [-f FILE] [-t TAG] HOST\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *policy = "default", *msg = "hello over attested kTLS", *file = NULL;
	int port = 7443, conns = 0, opt;
	bool srv;

	if (argc < 2)
		usage();
	srv = !strcmp(argv[1], "server");
	if (!srv && strcmp(argv[1], "client"))
		usage();
	optind = 2;
	while ((opt = getopt(argc, argv, "p:P:n:m:f:t:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'P': policy = optarg; break;
		case 'n': conns = atoi(optarg); break;
		case 'm': msg = optarg; break;
		case 'f': file = optarg; break;
		case 't': tag = optarg; break;
		default: usage();
		}
	}
	if (srv)
		return optind == argc ? server(port, policy, conns, false) : (usage(), 2);
	if (optind + 1 != argc)
		usage();
	return client(argv[optind], port, policy, msg, file);
}
