/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: capture of the TCP payload of one port on the VM link (AF_PACKET
 * on all interfaces but lo), per direction, to prove what crossed the wire.
 */
#ifndef TL_CAPTURE_H
#define TL_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

struct tl_capture {
	int fd, port;
	unsigned long th;	/* pthread_t */
	volatile int stop;
	unsigned char *buf[2];	/* [0] to port, [1] from port */
	size_t len[2], cap[2];
};
int tl_capture_start(struct tl_capture *c, int port);
void tl_capture_stop(struct tl_capture *c);
/* Does needle appear in either direction? */
bool tl_capture_has(const struct tl_capture *c, const void *needle, size_t n);
void tl_capture_free(struct tl_capture *c);

#endif /* TL_CAPTURE_H */
