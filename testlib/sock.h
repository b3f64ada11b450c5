/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: the atls socket API as an application uses it (TCP_ULP "atls",
 * ATLS_START, ATLS_STATUS, ATLS_PEER_INFO) and the module's counters.
 */
#ifndef TL_SOCK_H
#define TL_SOCK_H

#include <stdint.h>

#include "uapi/linux/atls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

int tl_ulp(int fd);				/* TCP_ULP "atls": 0 or -errno */
/* An ATLS_START for role with policy "test", peer "peer.test". */
void tl_start_init(struct atls_start *st, uint32_t role, uint32_t timeout_ms);
int tl_start(int fd, uint32_t role, uint32_t timeout_ms, uint32_t flags);
int tl_status(int fd, struct atls_status *st);	/* 0 or -errno */
int tl_wait_state(int fd, uint32_t state, int timeout_ms);

/*
 * The VM suites' two setsockopts with a named policy (timeout 100 s), and the
 * peer's attestation: 0 or the positive errno the socket call set.
 */
int tl_atls(int fd, int role, const char *policy, unsigned int flags);
/*
 * The server of one connection: listen on port (any address), accept one
 * connection within timeout_ms, tl_atls() it as server with policy.  The
 * connection's fd (or -1: none came); ATLS_START's errno in *err (0 =
 * ready, -1: no connection).
 */
int tl_serve_one(int port, const char *policy, int timeout_ms, int *err);

/*
 * One connection to 127.0.0.1 with atls on both ends, each end's policy
 * named: tl_conn_server() serves port (tl_serve_one, 60 s), tl_conn_client()
 * connects from src (NULL: any) and starts; pthread start routines, so
 * tests can run many at once.  tl_conn_run() runs both and waits.  err_c,
 * err_s: each end's ATLS_START errno (0 = ready; -1: no connection).
 */
struct tl_conn {
	int port;
	const char *policy;	/* both ends */
	const char *src;
	int err_c, err_s;
};
void *tl_conn_server(void *conn);
void *tl_conn_client(void *conn);
int tl_conn_run(struct tl_conn *k);	/* 0, or -1 if a thread did not start */
int tl_peer_info(int fd, struct atls_peer_info *pi);

long tl_proc_stat(const char *name);		/* /proc/net/atls value, -1 */
/* /sys/module/atls/parameters/@name = @v (root): 0 or -errno. */
int tl_atls_param(const char *name, long v);
long tl_tls_stat(const char *name);		/* /proc/net/tls_stat value, -1 */
int tl_wait_idle(int timeout_ms);		/* live_requests == 0 */
/* Active objects of slab cache name (/proc/slabinfo): -1 if there is no such
 * cache, -2 if slabinfo cannot be read. */
long tl_slab_active(const char *name);
/*
 * Objects of slab cache name in use, exactly: the cache is shrunk first (per-CPU
 * slabs flushed, empty slabs freed) so that slabinfo's active count is not
 * rounded up to whole per-CPU slabs, and the objects KFENCE serves for that
 * cache from its own pool are added: a sampled allocation (a VM booted with
 * KFENCE on, tools/vm/memdbg.sh) is in no slab, and slabinfo never counts it.
 * -1: no such cache, -2: slabinfo unreadable, -3: KFENCE samples but its
 * object list (debugfs, mounted here if need be) cannot be read.
 */
long tl_slab_in_use(const char *name);
/* Objects KFENCE holds for cache name, allocated and not freed: 0 without
 * KFENCE sampling, -3 if its list cannot be read. */
long tl_kfence_in_use(const char *name);

#endif /* TL_SOCK_H */
