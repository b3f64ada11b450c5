// SPDX-License-Identifier: Apache-2.0
/*
 * TCP loopback connections and peer threads for the libatls tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

int atls_test_listen(int *lfd, uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)&a, &al)) {
		int e = -errno;

		close(fd);
		return e;
	}
	*lfd = fd;
	*port = ntohs(a.sin_port);
	return 0;
}

int atls_test_connect(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = -errno;

		close(fd);
		return e;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int atls_test_accept(int lfd, int timeout_ms)
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

int atls_test_tcp_pair(int *cfd, int *sfd)
{
	uint16_t port;
	int lfd, c, s, ret;

	ret = atls_test_listen(&lfd, &port);
	if (ret)
		return ret;
	c = atls_test_connect(port);
	if (c < 0) {
		close(lfd);
		return c;
	}
	s = atls_test_accept(lfd, 5000);
	close(lfd);
	if (s < 0) {
		close(c);
		return s;
	}
	*cfd = c;
	*sfd = s;
	return 0;
}

static void *thread_main(void *p)
{
	struct atls_test_thread *t = p;

	t->ret = t->fn(t->arg);
	return NULL;
}

int atls_test_spawn(struct atls_test_thread *t, int (*fn)(void *), void *arg)
{
	pthread_t th;
	int ret;

	t->fn = fn;
	t->arg = arg;
	t->ret = -EINPROGRESS;
	ret = pthread_create(&th, NULL, thread_main, t);
	if (ret)
		return -ret;
	t->tid = (unsigned long)th;
	return 0;
}

int atls_test_join(struct atls_test_thread *t)
{
	pthread_join((pthread_t)t->tid, NULL);
	return t->ret;
}

int atls_test_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int st;

	va_start(ap, fmt);
	st = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (st < 0)
		return -ENOMEM;
	st = system(cmd);
	free(cmd);
	if (st < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
