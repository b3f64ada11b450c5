/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: the genl test helper, a generic-netlink client of family "atls"
 * (libnl-genl-3) that accepts requests and completes them with fixed keys
 * (record.h, tl_keys_fixed()) or a status.  It runs in a forked child: the
 * gate lets the helper's process through, so it must not be the
 * application's process.  The one netlink client of the tests.
 */
#ifndef TL_GENL_H
#define TL_GENL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/tls.h>		/* TLS_CIPHER_* of tl_done_keys() */
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>

#include "uapi/linux/atls.h"

struct tl_helper {
	struct nl_sock *cmd;	/* commands and replies */
	struct nl_sock *mc;	/* registered (READY/ABORT come here), or a
				 * mere member of group "helper" (tl_group_join) */
	int family;
};
struct tl_req {
	uint64_t id;
	int fd;
	uint32_t role, timeout_ms, flags, app_pid, app_uid;
	uint16_t family;
	char policy[ATLS_POLICY_MAX];
	char peer[ATLS_PEER_MAX];
	char comm[32];
};
/*
 * Open the command socket; with @join also h->mc, registered as a helper
 * of the caller's network namespace (ATLS_CMD_REGISTER): 0 or -errno.
 */
int tl_helper_open(struct tl_helper *h, bool join);
/* REGISTER h->mc (again): 0 or the kernel's -errno. */
int tl_helper_register(struct tl_helper *h);
/* After tl_helper_open(h, false): h->mc only joins multicast group
 * "helper", unregistered (what anyone may do). */
int tl_group_join(struct tl_helper *h);
void tl_helper_close(struct tl_helper *h);
/* Send @msg (built with tl_msg), collect the reply; 0 or the kernel's -errno. */
struct nl_msg *tl_msg(struct tl_helper *h, uint8_t cmd);
int tl_send(struct tl_helper *h, struct nl_msg *msg, struct tl_req *reply);
int tl_send_on(struct tl_helper *h, struct nl_sock *sk, struct nl_msg *msg,
	       struct tl_req *reply);
int tl_helper_accept(struct tl_helper *h, struct tl_req *r);
int tl_helper_accept_wait(struct tl_helper *h, struct tl_req *r, int timeout_ms);
/* A READY on h->mc within timeout_ms, then one ACCEPT into r: 0, or
 * tl_wait_mcast()'s or ACCEPT's -errno. */
int tl_ready_accept(struct tl_helper *h, struct tl_req *r, int timeout_ms);
/* DONE with keys for r->role (client: tx c2s, rx s2c), or a status. */
int tl_done_keys(struct tl_helper *h, const struct tl_req *r, unsigned short cipher);
int tl_done_status(struct tl_helper *h, const struct tl_req *r, int status,
		   uint32_t reason);
/* Wait for an event @cmd (READY, ABORT) on h->mc; *id / *val get REQ_ID and
 * REASON (ABORT) or PENDING (READY). 0 or -ETIMEDOUT. */
int tl_wait_mcast(struct tl_helper *h, uint8_t cmd, uint64_t *id, uint32_t *val,
		  int timeout_ms);

/*
 * Run fn in a forked helper process. tl_fork_helper returns once the child
 * has registered (so ATLS_START in its network namespace finds a helper). The
 * child's fn writes int results to @out; tl_helper_result reads one.
 */
struct tl_child {
	pid_t pid;
	int res;	/* read end of the result pipe */
	int ctl;	/* write end of the control pipe (child reads tl_wait_go) */
};
typedef void (*tl_helper_fn)(struct tl_helper *h, int out, int ctl, void *arg);
int tl_fork_helper(struct tl_child *c, tl_helper_fn fn, void *arg);
int tl_helper_result(struct tl_child *c, int *v, int timeout_ms);
void tl_helper_go(struct tl_child *c);
int tl_wait_go(int ctl, int timeout_ms);
int tl_helper_reap(struct tl_child *c);		/* exit status, or -1 */
void tl_put_result(int out, int v);

/* Common helper bodies: accept n requests and complete them with keys. */
struct tl_serve {
	int n;
	unsigned short cipher;
	int status;		/* != 0: DONE with this status instead of keys */
	uint32_t reason;
	int hold;		/* wait for tl_helper_go() before DONE */
};
void tl_serve_fn(struct tl_helper *h, int out, int ctl, void *arg);
/* Another body: wait for tl_helper_go(), try ACCEPT once, report its result. */
void tl_accept_on_go_fn(struct tl_helper *h, int out, int ctl, void *arg);

#endif /* TL_GENL_H */
