// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * What crossed the VM link: the TCP payload of one port, per direction,
 * from an AF_PACKET socket on every interface but lo.  See capture.h.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "capture.h"

static void cap_append(struct tl_capture *c, int dir, const unsigned char *p, size_t n)
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
static void cap_frame(struct tl_capture *c, const unsigned char *f, size_t n)
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
	struct tl_capture *c = arg;
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

int tl_capture_start(struct tl_capture *c, int port)
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

void tl_capture_stop(struct tl_capture *c)
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

bool tl_capture_has(const struct tl_capture *c, const void *needle, size_t n)
{
	return (c->len[0] && memmem(c->buf[0], c->len[0], needle, n)) ||
	       (c->len[1] && memmem(c->buf[1], c->len[1], needle, n));
}

void tl_capture_free(struct tl_capture *c)
{
	free(c->buf[0]);
	free(c->buf[1]);
}
