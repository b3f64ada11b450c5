/* SPDX-License-Identifier: GPL-2.0 */
/*
 * atls.ko internal interfaces: the per-socket state, the request, and the
 * functions each file offers the others.
 *
 * Objects and who keeps them alive:
 *
 *  struct atls_sock   one per socket carrying the "atls" ULP, allocated by
 *                     the ULP init and freed (RCU) by our close hook, which
 *                     runs at the last fput of the socket's file. It holds
 *                     our copies of kTLS's struct proto / proto_ops.
 *  struct atls_req    one per ATLS_START, freed (RCU) at its last put.
 *                     It holds the struct sock (sock_hold) for its whole
 *                     life. While PENDING it holds no file reference:
 *                     the app's close() runs our close
 *                     hook, which ends it at once (atls_req_sock_closed()).
 *                     From ACCEPT until it is finished it holds a reference
 *                     on the socket's struct file, so its socket (and
 *                     atls_sock) cannot be closed under it. request.c has
 *                     the full rules.
 *
 * Locks, outermost first: lock_sock(sk) (socket state: as->state, as->err,
 * the sk_prot/ops swaps), then atls_req_lock (spinlock: request hash, the
 * pending queue, req->state). Data paths read as->state with READ_ONCE and
 * re-check after waking. The data-path mutexes of a READY socket, outermost
 * first: as->tx_lock or as->rx_ctl_lock (a reader only trylocks tx_lock),
 * then as->rekey_lock, then lock_sock.
 */
#ifndef ATLS_KMOD_H
#define ATLS_KMOD_H

#include <linux/types.h>
#include <linux/net.h>
#include <linux/wait.h>
#include <linux/version.h>
#include <linux/workqueue.h>
#include <linux/refcount.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <net/sock.h>
#include <net/tls.h>
#include <net/netns/generic.h>
#include <uapi/linux/atls.h>

#include "compat.h"

struct atls_req;
struct atls_user;

struct cgroup;

/*
 * Per network namespace (pernet data, main.c; Documentation/netlink.rst
 * "Namespaces"). A helper serves the namespace it registered in: READY and
 * ABORT go to the sockets in @helpers only, ATLS_START fails with ESRCH
 * while there is none, and the namespace's live requests are capped.
 * Allocated and zeroed by the pernet core for every namespace; a namespace
 * is dismantled only after its last socket is gone, so no request and no
 * registration outlives it (atls_genl_net_exit() checks).
 */
struct atls_net {
	struct mutex lock;		/* helpers, nhelpers writes */
	struct list_head helpers;	/* struct atls_helper (netlink.c) */
	unsigned int nhelpers;		/* read locklessly by ATLS_START */
	unsigned int nlive;		/* requests not FINISHED; atls_req_lock */
};

extern unsigned int atls_net_id;

static inline struct atls_net *atls_net(const struct net *net)
{
	return net_generic(net, atls_net_id);
}

/*
 * Who a request is made for (the requester's identity, D10), captured from
 * current at ATLS_START or ATLS_LISTEN by atls_app_capture(). cred and cgrp
 * are references (released by atls_app_release()): a cred is immutable, so
 * a later setresuid()/setgroups() or a move to another cgroup does not
 * change what the helper is told.
 */
struct atls_app {
	pid_t pid;			/* tgid */
	kuid_t uid;
	kgid_t gid;
	char comm[TASK_COMM_LEN];
	const struct cred *cred;	/* euid, egid, supplementary groups */
	struct cgroup *cgrp;		/* cgroup v2 (default hierarchy) */
};

struct atls_sock {
	struct proto gate;		/* kTLS TLS_BASE proto, data paths gated */
	struct proto ready;		/* kTLS's final proto after key install */
	struct proto_ops gops;		/* kTLS TLS_BASE proto_ops, gated */
	struct proto tcp;		/* kTLS's ctx->sk_proto: TCP's, our sockopts */
	struct proto *tcp_orig;		/* what kTLS had saved there */
	const struct proto *tls_base;
	const struct proto *tls_final;
	const struct proto_ops *tls_base_ops;
	const struct proto_ops *gops_orig;	/* kTLS ops that gops copies */
	struct proto_ops rops;		/* kTLS's final proto_ops, once READY */
	const struct proto_ops *rops_orig;	/* kTLS ops that rops copies */
	/*
	 * Key installation (keys.c). installing: from its start until READY
	 * or its failure (the helper's raw way through the gate closes).
	 * ktls_rx_ops: the proto_ops kTLS chose at TLS_RX, for its own
	 * parser's read_sock until READY (gate.c). standin: the struct socket
	 * that sk->sk_socket points to while kTLS's setsockopt(TLS_TX/TLS_RX)
	 * runs, so that kTLS's update_sk_prot() writes its proto_ops there
	 * and not into the application's socket; a whole socket_alloc, as
	 * readers of sk->sk_socket may look at its inode (sock_i_ino()).
	 * All written under lock_sock.
	 */
	bool installing;
	const struct proto_ops *ktls_rx_ops;
	struct socket_alloc standin;
	struct sock *sk;
	wait_queue_head_t wq;		/* gate and ATLS_START waiters */
	int state;			/* enum atls_state */
	int err;			/* sticky negative errno once FAILED */
	u32 reason;			/* enum atls_reason */
	bool rx_eof;			/* close_notify received */
	pid_t helper_tgid;		/* may do raw I/O while gated */
	struct task_struct *installer;	/* may set SOL_TLS (the DONE handler) */
	struct mutex tx_lock;		/* record-limit check + kTLS send (ready.c) */
	struct mutex rx_ctl_lock;	/* control-record reads (control.c) */
	/*
	 * rekey.c: one kTLS key update at a time (the TX one under tx_lock,
	 * the RX one under rx_ctl_lock may otherwise run at once), as both
	 * use as->standin. Taken inside tx_lock or rx_ctl_lock, never the
	 * other way; lock_sock is taken inside it.
	 */
	struct mutex rekey_lock;
	struct atls_req *req;		/* live request, under lock_sock */
	bool conn_hooked;		/* sk_state_change/error_report hooked (ulp.c) */
	u16 cipher;			/* TLS_CIPHER_* once READY */
	bool have_peer;
	struct atls_peer_info peer;
	struct atls_rekey *rekey;	/* traffic secrets (rekey.c), or NULL */
	struct rcu_head rcu;
};

/*
 * The atls_sock of a socket carrying our ULP, from any of our struct proto
 * or proto_ops entries, whichever proto and proto_ops are installed at the
 * moment: kTLS keeps the proto it saved at its init in its context
 * (ctx->sk_proto), and ulp.c put our copy (as->tcp) there for the whole
 * life of the atls_sock (our close hook puts kTLS's back, after which no
 * call can come through our tables: close runs at the last fput).
 */
static inline struct atls_sock *atls_sock_of(const struct sock *sk)
{
	struct proto *p = READ_ONCE(tls_get_ctx(sk)->sk_proto);

	return container_of(p, struct atls_sock, tcp);
}

/*
 * as->state is written under lock_sock and read locklessly by the data
 * paths. READY is published after the final proto is wrapped, FAILED after
 * err and reason are set: release/acquire orders those for the readers.
 */
static inline int atls_state(const struct atls_sock *as)
{
	return smp_load_acquire(&as->state);
}

static inline void atls_set_state(struct atls_sock *as, int state)
{
	smp_store_release(&as->state, state);
}

/* Request: see request.c for the state machine. */
enum atls_req_state {
	ATLS_REQ_PENDING,	/* in the queue, no helper yet */
	ATLS_REQ_ACCEPTED,	/* a helper holds it (portid) */
	ATLS_REQ_INSTALLING,	/* DONE owns it */
	ATLS_REQ_FINISHED,	/* terminal: one winner got here */
};

struct atls_req {
	struct hlist_node hnode;	/* atls_req_hash, while not FINISHED */
	struct list_head qnode;		/* pending queue, while PENDING */
	refcount_t ref;
	u64 id;
	enum atls_req_state state;
	struct net *net;		/* netns of the socket (no ref: sk holds it) */
	struct atls_user *user;		/* per-user count, while not FINISHED */
	struct sock *sk;		/* sock_hold until the request is freed */
	struct atls_sock *as;
	struct file *file;		/* ref held from ACCEPT until finished */
	u32 portid;			/* netlink port that accepted */
	bool file_dying;		/* PENDING, its file being released */
	struct delayed_work timeout;
	struct work_struct conn_lost;	/* TCP reset/lost while PENDING/ACCEPTED */
	u32 role, flags, timeout_ms;
	u16 family;
	pid_t app_pid;
	kuid_t app_uid;
	kgid_t app_gid;
	char app_comm[TASK_COMM_LEN];
	const struct cred *app_cred;	/* ref: the requester's, see atls_app */
	struct cgroup *app_cgrp;	/* ref */
	char policy[ATLS_POLICY_MAX];
	char peer[ATLS_PEER_MAX];
	struct rcu_head rcu;		/* freed after a grace period */
};

/* ulp.c */
int atls_ulp_register(void);
void atls_ulp_unregister(void);
struct atls_sock *atls_sk(const struct sock *sk, bool *gated);
struct atls_sock *atls_sk_call(const struct sock *sk, bool *gated);
void atls_unhook_conn(struct atls_sock *as);
bool atls_is_helper(const struct atls_sock *as);
void atls_rewrap(struct atls_sock *as);

/* listen.c: attested listening sockets */
int atls_listen_attach(struct sock *sk);
void atls_listen_clone(const struct request_sock *req, struct sock *newsk,
		       const gfp_t priority);
int atls_listen_init(void);
void atls_listen_exit(void);

/* gate.c */
void atls_proto_copy(struct proto *p, const struct proto *from);
void atls_gate_build(struct atls_sock *as);
void atls_ops_strip(struct proto_ops *ops);
int atls_gate_wait(struct atls_sock *as, long timeo);

/* sockopt.c */
int atls_setsockopt(struct sock *sk, int level, int optname,
		    sockptr_t optval, unsigned int optlen);
int atls_getsockopt(struct sock *sk, int level, int optname,
		    char __user *optval, int __user *optlen);
int atls_tcp_setsockopt(struct sock *sk, int level, int optname,
			sockptr_t optval, unsigned int optlen);
int atls_tcp_getsockopt(struct sock *sk, int level, int optname,
			char __user *optval, int __user *optlen);

/* ready.c */
void atls_ready_build(struct atls_sock *as);
void atls_ready_ops_rekeyed(struct atls_sock *as, const struct proto_ops *ktls);
void atls_ready_ops_install(struct atls_sock *as, const struct proto_ops *ktls);
int atls_ready_sendmsg(struct sock *sk, struct msghdr *msg, size_t len);
int atls_ready_recvmsg(ATLS_RECVMSG_PARAMS);
int atls_ioctl(ATLS_IOCTL_PARAMS);
struct pipe_inode_info;
ssize_t atls_ready_splice_read(struct atls_sock *as, struct socket *sock,
			       loff_t *ppos, struct pipe_inode_info *pipe,
			       size_t len, unsigned int flags);
#ifdef ATLS_HAVE_SENDPAGE
int atls_ready_sendpage(struct sock *sk, struct page *page, int offset,
			size_t size, int flags);
#endif
extern unsigned long atls_record_limit;

/* control.c */
#define ATLS_CTL_RET0	INT_MAX		/* the recv returns 0 (e.g. close_notify) */
int atls_control_record(struct atls_sock *as, size_t len);

/* request.c */
/* @owner: the app the request is for; NULL: the caller (current) */
int atls_req_start(struct atls_sock *as, const struct atls_start *st,
		   const struct atls_app *owner);
struct atls_req *atls_req_accept(struct net *net, u32 portid);
struct atls_req *atls_req_lookup(u64 id);
void atls_req_put(struct atls_req *req);
void atls_req_requeue(struct atls_req *req);
void atls_req_sock_closed(struct atls_sock *as);
void atls_req_conn_lost(struct atls_sock *as);
int atls_req_owner(struct atls_req *req, u32 portid);
int atls_req_claim(struct atls_req *req, u32 portid);
void atls_req_fail(struct atls_req *req, int err, u32 reason);
void atls_req_done_fail(struct atls_req *req, int err, u32 reason);
void atls_req_complete(struct atls_req *req);
unsigned int atls_req_pending(void);
unsigned int atls_req_pending_net(const struct net *net);
void atls_req_helper_gone(struct net *net, u32 portid);
void atls_sock_fail(struct atls_sock *as, int err, u32 reason);
void atls_app_capture(struct atls_app *app);
void atls_app_release(struct atls_app *app);
int atls_req_init(void);
void atls_req_exit(void);

/* keys.c */
int atls_keys_check(const void *tx, int txlen, const void *rx, int rxlen,
		    u16 *cipher);
void atls_standin_enter(struct atls_sock *as, struct socket *sock);
const struct proto_ops *atls_standin_leave(struct atls_sock *as,
					   struct socket *sock);
int atls_keys_install(struct atls_sock *as, struct socket *sock,
		      void *tx, int txlen, void *rx, int rxlen, u16 cipher,
		      const struct atls_peer_info *peer);

/* rekey.c: TLS 1.3 KeyUpdate */
#define ATLS_SECRET_MAX	48		/* SHA-384 */
struct atls_rekey;
extern unsigned long atls_rekey_records;
int atls_hkdf_expand_label(const u8 *secret, unsigned int len,
			   const char *label, u8 *out, unsigned int olen);
int atls_rekey_attach(struct atls_sock *as, u16 cipher, const void *stx,
		      int txlen, const void *srx, int rxlen);
void atls_rekey_free(struct atls_sock *as);
void atls_rekey_note_helper(void);
int atls_rekey_peer(struct atls_sock *as, const u8 *rec, u32 len, bool first);
#ifdef ATLS_HAVE_KTLS_REKEY
int atls_rekey_tx(struct atls_sock *as, bool nonblock);
u64 atls_rekey_tx_left(struct atls_sock *as);
bool atls_rekey_tx_pending(struct atls_sock *as);
void atls_rekey_kick(struct atls_sock *as);
void atls_rekey_rx_check(struct atls_sock *as);
u32 atls_rekey_rx_gen(struct atls_sock *as);
int atls_rekey_expired(struct atls_sock *as, u32 gen);
#endif
int atls_rekey_init(void);
void atls_rekey_exit(void);

/* netlink.c */
int atls_genl_init(void);
void atls_genl_exit(void);
void atls_genl_net_init(struct atls_net *an);
void atls_genl_net_exit(struct atls_net *an);
bool atls_genl_has_helper(struct net *net);
void atls_genl_ready(struct net *net);
void atls_genl_abort(struct net *net, u64 id, u32 reason);

/* stats.c */
enum atls_stat {
	ATLS_STAT_SOCKETS,		/* ULP attached, ever */
	ATLS_STAT_ACTIVE,		/* atls sockets open now (gauge) */
	ATLS_STAT_REQUESTS,
	ATLS_STAT_NO_HELPER,
	ATLS_STAT_ACCEPTED,
	ATLS_STAT_ABANDONED,
	ATLS_STAT_READY,
	ATLS_STAT_FAILED,
	ATLS_STAT_TIMEOUTS,
	ATLS_STAT_HELPER_DIED,
	ATLS_STAT_ABORTS_SENT,
	ATLS_STAT_DONE_REJECTED,
	ATLS_STAT_CLOSE_NOTIFY,
	ATLS_STAT_ALERTS,
	ATLS_STAT_TICKETS_DROPPED,
	ATLS_STAT_KEY_UPDATES,
	ATLS_STAT_RECORD_LIMIT,
	ATLS_STAT_RX_NO_PAD_FAILED,	/* TLS_RX_EXPECT_NO_PAD refused by kTLS */
	ATLS_STAT_LISTEN_CHILDREN,	/* listener children taken into a handshake */
	ATLS_STAT_LISTEN_ACCEPTED,	/* listener children returned by accept() */
	ATLS_STAT_LISTEN_FAILED,	/* listener children that never surfaced */
	ATLS_STAT_REKEY_RX,		/* RX keys installed after a peer's KeyUpdate */
	ATLS_STAT_REKEY_TX,		/* KeyUpdates sent, TX key rotated */
	ATLS_STAT_REKEY_FAILED,		/* updates that failed (connection ended) */
	__ATLS_STAT_MAX
};
void atls_stat_inc(enum atls_stat s);
void atls_stat_dec(enum atls_stat s);
void atls_stat_reason(u32 reason);
int atls_stats_init(void);
void atls_stats_exit(void);

#endif /* ATLS_KMOD_H */
