// SPDX-License-Identifier: Apache-2.0
/*
 * struct atls_conn of an SSL object: libatls's per-handshake state hangs on
 * the SSL as ex_data (handshake.c sets it for the duration of one handshake
 * and clears it before SSL_free), so OpenSSL callbacks (negotiate.c, binder.c,
 * keys.c) find it.  The index is allocated once per process.
 */
#include <pthread.h>

#include "internal.h"

static pthread_once_t idx_once = PTHREAD_ONCE_INIT;
static int conn_idx = -1;

static void idx_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, "atls_conn", NULL, NULL, NULL);
}

int atls_conn_index(void)
{
	pthread_once(&idx_once, idx_init);
	return conn_idx;
}

struct atls_conn *atls_conn_of(const SSL *ssl)
{
	int idx = atls_conn_index();

	return idx < 0 ? NULL : SSL_get_ex_data(ssl, idx);
}
