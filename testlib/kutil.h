/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the atls.ko tests (selftests/kernel/):
 * - TCP loopback pairs (IPv4/IPv6) and small I/O helpers;
 * - the test helper: a generic-netlink client of family "atls" (libnl-genl-3)
 *   that accepts requests and completes them with fixed keys, run in a forked
 *   child (the gate lets the helper's process through, so it must not be the
 *   application's process);
 * - fixed TLS 1.3 keys and a userspace AEAD (OpenSSL libcrypto) that opens
 *   and seals records with them, to check the wire and inject records.
 */
#ifndef ATLS_KUTIL_H
#define ATLS_KUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/tls.h>
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>

#include "uapi/linux/atls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* ---- sockets ---- */
int ku_tcp_pair(int family, int *cli, int *srv);
int ku_ulp(int fd);				/* TCP_ULP "atls": 0 or -errno */
void ku_start_init(struct atls_start *st, uint32_t role, uint32_t timeout_ms);
int ku_start(int fd, uint32_t role, uint32_t timeout_ms, uint32_t flags);
int ku_status(int fd, struct atls_status *st);
ssize_t ku_read_full(int fd, void *buf, size_t n, int timeout_ms);
ssize_t ku_read_avail(int fd, void *buf, size_t n, int wait_ms);
int ku_wait_state(int fd, uint32_t state, int timeout_ms);
long ku_proc_stat(const char *name);		/* /proc/net/atls value, -1 */
long ku_tls_stat(const char *name);		/* /proc/net/tls_stat value, -1 */
int ku_wait_idle(int timeout_ms);		/* live_requests == 0 */
/* Until at least n bytes wait in fd's TCP receive queue (SIOCINQ: counts
 * what arrived, also on a gated socket, without reading it). 0 or -errno. */
int ku_wait_inq(int fd, int n, int timeout_ms);
/* Until thread tid of this process sleeps in system call nr (blocked
 * there, not merely about to enter it). 0 or -ETIMEDOUT. */
int ku_wait_in_syscall(pid_t tid, long nr, int timeout_ms);

/* ---- fixed keys and the userspace AEAD ---- */
struct ku_keys {
	unsigned short cipher;
	union {
		struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
		struct tls12_crypto_info_chacha20_poly1305 cc;
	} ci;
	size_t len;
	unsigned char key[32], iv12[12];
	size_t key_len;
};
/* dir 0: client -> server, 1: server -> client */
void ku_keys(struct ku_keys *k, unsigned short cipher, int dir);
int ku_open_record(const struct ku_keys *k, uint64_t seq, const unsigned char *rec,
		   size_t rec_len, unsigned char *out, size_t *out_len, uint8_t *type);
size_t ku_seal_record(const struct ku_keys *k, uint64_t seq, uint8_t type,
		      const void *data, size_t len, unsigned char *rec);
/* The same with @pad zero bytes after the content type (RFC 8446 5.4). */
size_t ku_seal_record_pad(const struct ku_keys *k, uint64_t seq, uint8_t type,
			  const void *data, size_t len, size_t pad, unsigned char *rec);

/* ---- the test helper (genl client) ---- */
struct ku_helper {
	struct nl_sock *cmd;	/* commands and replies */
	struct nl_sock *mc;	/* member of group "helper" (makes us a listener) */
	int family;
};
struct ku_req {
	uint64_t id;
	int fd;
	uint32_t role, timeout_ms, flags, app_pid, app_uid;
	uint16_t family;
	char policy[ATLS_POLICY_MAX];
	char peer[ATLS_PEER_MAX];
	char comm[32];
};
int ku_helper_open(struct ku_helper *h, bool join);
void ku_helper_close(struct ku_helper *h);
/* Send @msg (built with ku_msg), collect the reply; 0 or the kernel's -errno. */
struct nl_msg *ku_msg(struct ku_helper *h, uint8_t cmd);
int ku_send(struct ku_helper *h, struct nl_msg *msg, struct ku_req *reply);
int ku_accept(struct ku_helper *h, struct ku_req *r);
int ku_accept_wait(struct ku_helper *h, struct ku_req *r, int timeout_ms);
/* DONE with keys for r->role (client: tx c2s, rx s2c), or a status. */
int ku_done_keys(struct ku_helper *h, const struct ku_req *r, unsigned short cipher);
int ku_done_status(struct ku_helper *h, const struct ku_req *r, int status,
		   uint32_t reason);
/* Wait for a multicast @cmd on h->mc; *id / *val get REQ_ID and
 * REASON (ABORT) or PENDING (READY). 0 or -ETIMEDOUT. */
int ku_wait_mcast(struct ku_helper *h, uint8_t cmd, uint64_t *id, uint32_t *val,
		  int timeout_ms);

/*
 * Run fn in a forked helper process. ku_fork_helper returns once the child
 * has joined the multicast group (so ATLS_START finds a listener). The
 * child's fn writes int results to @out; ku_helper_result reads one.
 */
struct ku_child {
	pid_t pid;
	int res;	/* read end of the result pipe */
	int ctl;	/* write end of the control pipe (child reads ku_wait_go) */
};
typedef void (*ku_helper_fn)(struct ku_helper *h, int out, int ctl, void *arg);
int ku_fork_helper(struct ku_child *c, ku_helper_fn fn, void *arg);
int ku_helper_result(struct ku_child *c, int *v, int timeout_ms);
void ku_helper_go(struct ku_child *c);
int ku_wait_go(int ctl, int timeout_ms);
int ku_helper_reap(struct ku_child *c);		/* exit status, or -1 */
void ku_put_result(int out, int v);

/* Common helper bodies: accept n requests and complete them with keys. */
struct ku_serve {
	int n;
	unsigned short cipher;
	int status;		/* != 0: DONE with this status instead of keys */
	uint32_t reason;
	int hold;		/* wait for ku_helper_go() before DONE */
};
void ku_serve_fn(struct ku_helper *h, int out, int ctl, void *arg);

#endif
