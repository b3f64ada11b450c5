// SPDX-License-Identifier: Apache-2.0
/*
 * The socket under a handshake, as an OpenSSL BIO that never blocks and
 * never touches the file's flags.
 *
 * The fd a handshake runs on may be an application's own open file (atlsd's
 * fd from the kernel's ACCEPT shares the application's struct file), so
 * O_NONBLOCK set on it would be the application's too: its blocking
 * send/recv would see EAGAIN, and a flag it set meanwhile would be lost when
 * the old flags were put back.  Instead every read and write asks for
 * non-blocking behaviour per call (MSG_DONTWAIT; MSG_NOSIGNAL, so a peer
 * gone away is EPIPE and never SIGPIPE), and handshake.c polls between
 * calls.  The BIO does not own the fd (it never closes it).
 */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>

#include <openssl/bio.h>

#include "internal.h"

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static bool retryable(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static int sock_write(BIO *b, const char *buf, size_t len, size_t *done)
{
	ssize_t n = send(BIO_get_fd(b, NULL), buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	BIO_clear_retry_flags(b);
	if (n < 0) {
		if (retryable(errno))
			BIO_set_retry_write(b);
		return 0;
	}
	*done = (size_t)n;
	return 1;
}

static int sock_read(BIO *b, char *buf, size_t len, size_t *done)
{
	ssize_t n = recv(BIO_get_fd(b, NULL), buf, len, MSG_DONTWAIT);

	BIO_clear_retry_flags(b);
	if (n < 0) {
		if (retryable(errno))
			BIO_set_retry_read(b);
		return 0;
	}
	if (n == 0)
		BIO_set_flags(b, BIO_FLAGS_IN_EOF);
	*done = (size_t)n;
	return n > 0;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_C_SET_FD:
		BIO_set_data(b, (void *)(long)*(int *)ptr);
		BIO_set_init(b, 1);
		return 1;
	case BIO_C_GET_FD:
		if (!BIO_get_init(b))
			return -1;
		if (ptr)
			*(int *)ptr = (int)(long)BIO_get_data(b);
		return (long)BIO_get_data(b);
	case BIO_CTRL_EOF:
		return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
	case BIO_CTRL_FLUSH:
		return 1;
	default:
		(void)num;
		return 0;
	}
}

static void method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
				     BIO_TYPE_DESCRIPTOR, "atls socket");

	if (m && BIO_meth_set_write_ex(m, sock_write) && BIO_meth_set_read_ex(m, sock_read) &&
	    BIO_meth_set_ctrl(m, sock_ctrl))
		method = m;
	else
		BIO_meth_free(m);
}

BIO *atls_sock_bio_new(int fd)
{
	BIO *b;

	pthread_once(&method_once, method_init);
	if (!method)
		return NULL;
	b = BIO_new(method);
	if (b)
		BIO_ctrl(b, BIO_C_SET_FD, 0, &fd);
	return b;
}
