// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * TCP sockets for tests.  See net.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

/* The loopback address of family with port: its length in ss. */
static socklen_t loopback(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(port);
		return sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		return sizeof(*a);
	}
}

static int listen_lo(int family, int *lfd, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t al = loopback(family, 0, &ss);
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, al) || listen(fd, 1024) ||
	    getsockname(fd, (struct sockaddr *)&ss, &al)) {
		int e = -errno;

		close(fd);
		return e;
	}
	*lfd = fd;
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

static int connect_lo(int family, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t al = loopback(family, port, &ss);
	int fd, one = 1;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, al)) {
		int e = -errno;

		close(fd);
		return e;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int tl_listen(int *lfd, uint16_t *port)
{
	return listen_lo(AF_INET, lfd, port);
}

int tl_connect(uint16_t port)
{
	return connect_lo(AF_INET, port);
}

int tl_accept(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd, one = 1;

	if (poll(&p, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int tl_accept_until(int lfd, atomic_int *stop)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int fd;

	while (!atomic_load(stop)) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

int tl_tcp_pair(int family, int *cfd, int *sfd)
{
	uint16_t port;
	int lfd, c, s, ret;

	ret = listen_lo(family, &lfd, &port);
	if (ret)
		return ret;
	c = connect_lo(family, port);
	if (c < 0) {
		close(lfd);
		return c;
	}
	s = tl_accept(lfd, 5000);
	close(lfd);
	if (s < 0) {
		close(c);
		return s;
	}
	*cfd = c;
	*sfd = s;
	return 0;
}

int tl_listen_any(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;

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

int tl_connect_to(const char *addr, int port, int ms)
{
	return tl_connect_from(NULL, addr, port, ms);
}

int tl_connect_from(const char *src, const char *addr, int port, int ms)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai, *sa = NULL;
	long end = tl_now_ms() + ms;
	char service[16];
	int fd = -1, one = 1;

	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(addr, service, &hints, &ai))
		return -1;
	if (src) {
		hints.ai_family = ai->ai_family;
		if (getaddrinfo(src, "0", &hints, &sa)) {
			freeaddrinfo(ai);
			return -1;
		}
	}
	for (;;) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		if ((!sa || !bind(fd, sa->ai_addr, sa->ai_addrlen)) &&
		    !connect(fd, ai->ai_addr, ai->ai_addrlen)) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		close(fd);
		fd = -1;
		if (tl_now_ms() > end)
			break;
		usleep(200 * 1000);
	}
	freeaddrinfo(ai);
	if (sa)
		freeaddrinfo(sa);
	return fd;
}

/* Why read_upto() stopped short: nothing came within the wait, or EOF; any
 * other value is the errno of read(). */
enum { QUIET = -1, AT_EOF = -2 };

/* Read until n bytes, a quiet wait_ms, EOF or an error: the bytes read, and
 * in *why 0 (all of them) or the reason it stopped. */
static size_t read_upto(int fd, void *buf, size_t n, int wait_ms, int *why)
{
	size_t got = 0;

	*why = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, wait_ms) != 1) {
			*why = QUIET;
			break;
		}
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0) {
			*why = r ? errno : AT_EOF;
			break;
		}
		got += r;
	}
	return got;
}

ssize_t tl_read_full(int fd, void *buf, size_t n, int timeout_ms)
{
	int why;
	size_t got = read_upto(fd, buf, n, timeout_ms, &why);

	if (why == QUIET && !got)
		return -ETIMEDOUT;
	if (why > 0)
		return -why;
	return got;
}

ssize_t tl_read_avail(int fd, void *buf, size_t n, int wait_ms)
{
	int why;

	return read_upto(fd, buf, n, wait_ms, &why);
}

int tl_wait_acked(int fd, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;
	int q;

	for (;;) {
		if (ioctl(fd, SIOCOUTQ, &q))
			return -errno;
		if (q == 0)
			return 0;
		if (tl_now_ms() > end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

int tl_send_all(int fd, const void *buf, size_t len)
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

int tl_recv_all(int fd, void *buf, size_t len, int ms)
{
	int why;

	read_upto(fd, buf, len, ms, &why);
	return why == QUIET ? ETIMEDOUT : why == AT_EOF ? EPIPE : why;
}

int tl_new_netns(void)
{
	struct ifreq ifr = { 0 };
	int s, err = 0;

	if (unshare(CLONE_NEWNET))
		return -errno;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr))
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(s, SIOCSIFFLAGS, &ifr))
		err = -errno;
	close(s);
	return err;
}
