// SPDX-License-Identifier: Apache-2.0
/*
 * libatls-run.so: the LD_PRELOAD half of atls-run(1). It turns the sockets
 * an unmodified, dynamically linked program makes into atls sockets, as the
 * rules file (ATLS_RUN_CONFIG, rules.c) says:
 *
 *  listen()  on a TCP socket whose port has a "listen" rule: the atls ULP and
 *            ATLS_LISTEN (atls(7)); accept()/accept4() then return only
 *            attested connections, with nothing to wrap here. If the
 *            listener cannot be made attested, listen() fails (the socket is
 *            shut down) with the errno of the failing step: the program never
 *            serves the port in clear.
 *  connect() on a TCP socket to a destination with a "connect" rule: the
 *            TCP connection is made (synchronously, also for a non-blocking
 *            socket), then the atls ULP and ATLS_START (client role). A
 *            blocking socket returns once the connection is attested, or -1
 *            with the atls errno (EACCES: the server's evidence was
 *            rejected, ...). A non-blocking socket returns EINPROGRESS and
 *            completes as connect() does: POLLOUT only once attested (the
 *            module keeps the socket unwritable until then), or POLLERR with
 *            SO_ERROR giving the atls errno. If the socket cannot be opted in
 *            at all the TCP connection is reset and connect() fails.
 *  Sockets passed by systemd socket activation (LISTEN_FDS) are listeners
 *            the program did not listen() on itself: they are attached at
 *            start-up; failing that, the program is stopped before main().
 *
 * Everything else (read, write, sendfile, splice, poll, epoll, select) needs
 * no help: the kernel does it on an atls socket.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rules.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static struct atls_run_rules rules;
static bool verbose;
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_listen)(int, int);

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "atls-run[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", buf);
}

static bool is_tcp(int fd)
{
	int type = 0, proto = 0;
	socklen_t l = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_STREAM)
		return false;
	l = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l))
		return false;
	return proto == IPPROTO_TCP;
}

static bool has_atls_ulp(int fd)
{
	char name[16] = "";
	socklen_t l = sizeof(name);

	return !getsockopt(fd, SOL_TCP, TCP_ULP, name, &l) && !strcmp(name, "atls");
}

/* ULP + ATLS_LISTEN on a listening socket; 0 or an errno. */
static int attach_listener(int fd, const struct atls_run_rule *r)
{
	struct atls_listen l;

	if (has_atls_ulp(fd))
		return 0;	/* listen() again on an attested listener */
	if (setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME, sizeof(ATLS_ULP_NAME)))
		return errno;
	memset(&l, 0, sizeof(l));
	l.size = sizeof(l);
	l.timeout_ms = r->timeout_ms;
	snprintf(l.policy, sizeof(l.policy), "%s", r->policy);
	if (setsockopt(fd, SOL_ATLS, ATLS_LISTEN, &l, sizeof(l)))
		return errno;
	return 0;
}

static const char *hint(int err)
{
	switch (err) {
	case ESRCH:	return " (is atlsd running?)";
	case ENOENT:	return " (is atls.ko loaded?)";
	default:	return "";
	}
}

int listen(int fd, int backlog)
{
	const struct atls_run_rule *r;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int err;

	if (real_listen(fd, backlog))
		return -1;
	if (!is_tcp(fd) || getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	r = atls_run_match(&rules, ATLS_RUN_LISTEN, (struct sockaddr *)&ss, len);
	if (!r)
		return 0;
	err = attach_listener(fd, r);
	if (err) {
		say("port %u: cannot make an attested listener (rule at line %d): %s%s;"
		    " the port is not served", ntohs(((struct sockaddr_in *)&ss)->sin_port),
		    r->line, strerror(err), hint(err));
		shutdown(fd, SHUT_RDWR);
		errno = err;
		return -1;
	}
	if (verbose)
		say("port %u: attested listener, policy \"%s\"",
		    ntohs(((struct sockaddr_in *)&ss)->sin_port), r->policy);
	return 0;
}

/* A connection that matched a rule but could not be opted in: reset it. */
static void reset_connection(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	/* Without the ULP this disconnects with a RST; with it (kTLS refuses
	 * to disconnect) the module's gate keeps every byte in, and the
	 * program's close() resets (SO_LINGER 0). */
	real_connect(fd, &sa, sizeof(sa));
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct atls_run_rule *r = NULL;
	struct atls_start st;
	int flags, ret, err;

	if (sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) && is_tcp(fd))
		r = atls_run_match(&rules, ATLS_RUN_CONNECT, sa, len);
	if (!r)
		return real_connect(fd, sa, len);

	/* The TCP handshake first (ATLS_START needs an established socket). */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0)
		return -1;
	if (flags & O_NONBLOCK)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	ret = real_connect(fd, sa, len);
	err = errno;
	if (flags & O_NONBLOCK)
		fcntl(fd, F_SETFL, flags);
	if (ret) {
		errno = err;
		return -1;
	}

	if (setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME, sizeof(ATLS_ULP_NAME))) {
		err = errno;
		say("connect (rule at line %d): cannot attach atls: %s%s; connection reset",
		    r->line, strerror(err), hint(err));
		reset_connection(fd);
		errno = err;
		return -1;
	}
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.role = ATLS_ROLE_CLIENT;
	st.flags = (flags & O_NONBLOCK) ? ATLS_START_F_NONBLOCK : 0;
	st.timeout_ms = r->timeout_ms;
	snprintf(st.policy, sizeof(st.policy), "%s", r->policy);
	snprintf(st.peer, sizeof(st.peer), "%s", r->peer);
	if (!setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)))
		return 0;
	err = errno;
	if (err == EINPROGRESS && (flags & O_NONBLOCK)) {
		errno = EINPROGRESS;	/* completes like connect(): POLLOUT/POLLERR */
		return -1;
	}
	if (verbose || err == ESRCH || err == ENOENT)
		say("connect (rule at line %d): attested connection failed: %s%s",
		    r->line, strerror(err), hint(err));
	if (err == ESRCH || err == ENOBUFS || err == EINVAL)
		reset_connection(fd);	/* never started: still connected */
	errno = err;
	return -1;
}

/* systemd socket activation: LISTEN_FDS descriptors from 3 on. */
static void attach_activated(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	int i, count, err;

	if (!pid || !n || atoi(pid) != getpid())
		return;
	count = atoi(n);
	for (i = 0; i < count; i++) {
		const struct atls_run_rule *r;
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = 3 + i, acc = 0;
		socklen_t al = sizeof(acc);

		if (!is_tcp(fd) || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) ||
		    !acc || getsockname(fd, (struct sockaddr *)&ss, &len))
			continue;
		r = atls_run_match(&rules, ATLS_RUN_LISTEN, (struct sockaddr *)&ss, len);
		if (!r)
			continue;
		err = attach_listener(fd, r);
		if (err) {
			say("socket-activated fd %d: cannot make an attested listener: %s%s;"
			    " stopping", fd, strerror(err), hint(err));
			_exit(127);
		}
	}
}

__attribute__((constructor)) static void atls_run_init(void)
{
	const char *conf = getenv("ATLS_RUN_CONFIG");
	char err[512];

	real_connect = dlsym(RTLD_NEXT, "connect");
	real_listen = dlsym(RTLD_NEXT, "listen");
	if (!real_connect || !real_listen) {
		say("cannot find libc's connect/listen; stopping");
		_exit(127);
	}
	verbose = getenv("ATLS_RUN_VERBOSE") != NULL;
	if (!conf)
		conf = ATLS_RUN_DEFAULT_CONFIG;
	if (atls_run_parse(conf, &rules, err, sizeof(err))) {
		say("%s; stopping", err);
		_exit(127);
	}
	attach_activated();
}
