/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer: the handshake transcript capture (binder.c) and
 * the Exported Authenticator writer (exported_auth.c).  Zero-initialised it
 * is empty; the owner frees b->p (wiping it first if it held secrets).
 */
#ifndef ATLS_BUF_H
#define ATLS_BUF_H

#include <stddef.h>
#include <stdint.h>

struct atls_buf {
	uint8_t *p;
	size_t len, cap;
};

/* Room for more bytes after len (capacity doubles).  0 or -ENOMEM, b unchanged. */
int atls_buf_reserve(struct atls_buf *b, size_t more);
/* Append n bytes.  0 or -ENOMEM, b unchanged. */
int atls_buf_append(struct atls_buf *b, const void *p, size_t n);

#endif /* ATLS_BUF_H */
