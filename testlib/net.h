/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: TCP sockets for tests: loopback pairs and listeners on the host or
 * in one VM, the link between two VMs, and I/O with timeouts.  Sockets made
 * here are close-on-exec, and connected ones have TCP_NODELAY set (a
 * handshake's small flights must not wait for delayed ACKs).
 */
#ifndef TL_NET_H
#define TL_NET_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>	/* AF_INET, AF_INET6 */
#include <sys/types.h>

/* A connected TCP pair over the loopback address of family (AF_INET or
 * AF_INET6): client end, server end. */
int tl_tcp_pair(int family, int *cli, int *srv);
/* A listening socket on 127.0.0.1, ephemeral port, backlog 1024. */
int tl_listen(int *lfd, uint16_t *port);
/* A connected socket to 127.0.0.1:port, or -errno. */
int tl_connect(uint16_t port);
/* Accept one connection within timeout_ms: the fd or -errno. */
int tl_accept(int lfd, int timeout_ms);

/* The next connection on lfd, *stop checked every 50 ms: the fd (as accept()
 * returns it, no options set), or -1 once *stop is set.  For benchmark
 * servers. */
int tl_accept_until(int lfd, atomic_int *stop);

/* Between two VMs: a dual-stack listener on any address (fd or -1), and a
 * connect to addr (IPv4 or IPv6) that retries while refused for ms (fd or -1). */
int tl_listen_any(int port);
int tl_connect_to(const char *addr, int port, int ms);
/* The same from source address src (NULL: any), e.g. 127.0.0.2 on lo. */
int tl_connect_from(const char *src, const char *addr, int port, int ms);

/* Read n bytes, each wait at most timeout_ms: bytes read (fewer at EOF or
 * timeout after some), -ETIMEDOUT if none, -errno. */
ssize_t tl_read_full(int fd, void *buf, size_t n, int timeout_ms);
/* Whatever arrives within wait_ms (and keeps arriving), up to n bytes. */
ssize_t tl_read_avail(int fd, void *buf, size_t n, int wait_ms);
/* Until the peer has acknowledged every byte written to fd (SIOCOUTQ is 0):
 * they all wait in the peer's receive queue then, read or not. 0 or -errno.
 * (The receiver's SIOCINQ cannot tell: an atls socket counts only what a
 * read could return.) */
int tl_wait_acked(int fd, int timeout_ms);
/* All of buf, or a positive errno as the socket call set it (EPIPE at EOF,
 * ETIMEDOUT when nothing came within ms): what the VM suites compare with. */
int tl_send_all(int fd, const void *buf, size_t len);
int tl_recv_all(int fd, void *buf, size_t len, int ms);

/* Move the caller into a new network namespace (unshare(CLONE_NEWNET):
 * root, or root of a user namespace of its own) and bring its loopback up,
 * which starts down.  0 or -errno. */
int tl_new_netns(void);

#endif /* TL_NET_H */
