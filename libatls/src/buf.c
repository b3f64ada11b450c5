// SPDX-License-Identifier: Apache-2.0
/*
 * Growable byte buffer (buf.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int atls_buf_reserve(struct atls_buf *b, size_t more)
{
	size_t ncap;
	uint8_t *np;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 512;
	while (ncap < b->len + more)
		ncap *= 2;
	np = realloc(b->p, ncap);
	if (!np)
		return -ENOMEM;
	b->p = np;
	b->cap = ncap;
	return 0;
}

int atls_buf_append(struct atls_buf *b, const void *p, size_t n)
{
	if (!n)
		return 0;
	if (atls_buf_reserve(b, n))
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}
