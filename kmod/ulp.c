// SPDX-License-Identifier: GPL-2.0
/*
 * The TCP ULP "atls": attach kTLS underneath, own the socket's proto.
 *
 * A socket has one ULP (icsk_ulp_ops). Ours, at init, calls kTLS's own ULP
 * init so kTLS sets up its context in the TLS_BASE/TLS_BASE state (data
 * passes through in clear), then replaces kTLS's proto and proto_ops with
 * per-socket copies whose data paths are gates (gate.c). When the DONE
 * handler sets TLS_TX, kTLS's update_sk_prot() swaps the gate for its
 * tls_sw_* proto under lock_sock, so no byte goes out in clear; after TLS_RX
 * atls_rewrap() wraps kTLS's final proto so that our sockopt level, the
 * SOL_TLS refusal and the control-record handling stay in place.
 *
 * kTLS's tcp_ulp_ops is not exported. At load we find it by attaching "tls"
 * to an in-kernel loopback connection in init_net and reading icsk_ulp_ops,
 * then hold a reference on tls.ko until we unload.
 *
 * Which copy a proto pointer is: our copies are the only protos whose close
 * is atls_gate_close or atls_ready_close, so the close member identifies
 * them and container_of() finds the atls_sock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/in.h>
#include <linux/rcupdate.h>
#include <net/tcp.h>
#include <net/inet_connection_sock.h>
#include <net/tls.h>

#include "atls.h"

static const struct tcp_ulp_ops *tls_ulp;	/* kTLS's ULP, from priming */

/*
 * TCP's stock sk_state_change and sk_error_report (sock_def_wakeup and
 * sock_def_error_report, not exported), read from the priming socket.
 * While a request is PENDING or ACCEPTED an atls socket goes through
 * atls_state_change()/atls_error_report() instead: once TCP has moved the
 * connection to CLOSE (a RST from the peer, retransmissions given up,
 * tcp_disconnect(), or both FINs exchanged) no handshake can succeed, and
 * a PENDING request is ended at once (request.c, conn_lost) rather than
 * looking pending until its timeout; an ACCEPTED one is its helper's to end. tcp_done() sets CLOSE and then calls
 * sk_state_change; tcp_disconnect() calls sk_error_report: between them
 * every way into CLOSE reaches a hook. Other reports (a timestamp or a
 * zero-copy notice on the error queue, an ICMP error TCP survives) leave
 * the state alone and the request too. The hook runs before the stock
 * callback, so the failure is queued before any poller is woken.
 *
 * Only sockets that still have both stock callbacks are hooked (sockmap or
 * another user may have replaced them; those keep theirs and learn of the
 * reset when the helper or the timeout does). The hooks go at READY
 * (keys.c) and at close. A callback may run on any CPU without the socket
 * lock (an error report for a TX timestamp comes from wherever the packet
 * left: a qdisc, a driver) and concurrently with anything that holds it: it
 * finds the atls_sock through sk_prot and the request through as->req,
 * both under RCU (both freed after a grace period), and takes a reference
 * on the request only if one is left (request.c).
 */
static void (*atls_tcp_state_change)(struct sock *sk);
static void (*atls_tcp_error_report)(struct sock *sk);

static void atls_conn_check(struct sock *sk)
{
	struct atls_sock *as;
	bool gated;

	if (READ_ONCE(sk->sk_state) != TCP_CLOSE)
		return;
	rcu_read_lock();
	as = atls_sk(sk, &gated);
	if (as)		/* atls_req_conn_lost(): its own reference, its state */
		atls_req_conn_lost(as);
	rcu_read_unlock();
}

static void atls_state_change(struct sock *sk)
{
	atls_conn_check(sk);
	atls_tcp_state_change(sk);
}

static void atls_error_report(struct sock *sk)
{
	atls_conn_check(sk);
	atls_tcp_error_report(sk);
}

/* Under lock_sock (the ULP init). */
static void atls_hook_conn(struct atls_sock *as)
{
	struct sock *sk = as->sk;

	if (READ_ONCE(sk->sk_state_change) != atls_tcp_state_change ||
	    READ_ONCE(sk->sk_error_report) != atls_tcp_error_report)
		return;
	as->conn_hooked = true;
	WRITE_ONCE(sk->sk_state_change, atls_state_change);
	WRITE_ONCE(sk->sk_error_report, atls_error_report);
}

void atls_unhook_conn(struct atls_sock *as)
{
	if (!as->conn_hooked)
		return;
	WRITE_ONCE(as->sk->sk_state_change, atls_tcp_state_change);
	WRITE_ONCE(as->sk->sk_error_report, atls_tcp_error_report);
	WRITE_ONCE(as->conn_hooked, false);
}

/*
 * The kernel users that take over a TCP socket's receive path and callbacks
 * (KCM's SIOCKCMATTACH; sockmap, which our proto copies refuse anyway)
 * claim sk->sk_user_data under sk_callback_lock and refuse a socket whose
 * sk_user_data is set. An atls socket carries this mark there from the ULP
 * attach to close, so they refuse it (KCM: EALREADY), before and after
 * READY; and the ULP refuses a socket one of them already owns (EBUSY). It
 * points to nothing that could be freed; NOCOPY, as a clone must not
 * inherit it (an atls socket never listens, but the flag says so).
 */
static u64 atls_user_data_mark;

/* Under lock_sock, which KCM and sockmap take too. */
static bool atls_user_data_claim(struct sock *sk)
{
	bool free;

	write_lock_bh(&sk->sk_callback_lock);
	free = !sk->sk_user_data;
	if (free)
		__rcu_assign_sk_user_data_with_flags(sk, &atls_user_data_mark,
						     SK_USER_DATA_NOCOPY);
	write_unlock_bh(&sk->sk_callback_lock);
	return free;
}

static void atls_user_data_release(struct sock *sk)
{
	write_lock_bh(&sk->sk_callback_lock);
	if (__locked_read_sk_user_data_with_flags(sk, SK_USER_DATA_NOCOPY) ==
	    &atls_user_data_mark)
		rcu_assign_sk_user_data(sk, NULL);
	write_unlock_bh(&sk->sk_callback_lock);
}

/*
 * Per-socket state lives in its own slab cache, so /proc/slabinfo shows the
 * live count and kmem_cache_destroy() at unload reports any leak. The cache
 * declares the peer info as its user-copy region (it is what ATLS_PEER_INFO
 * returns), which also keeps SLUB from merging it with another cache.
 * SLAB_ACCOUNT: each atls_sock is charged to the memory cgroup of the task
 * that attached the ULP, as the socket itself is.
 */
static struct kmem_cache *atls_sock_cache;

static void atls_gate_close(struct sock *sk, long timeout);
static void atls_ready_close(struct sock *sk, long timeout);

struct atls_sock *atls_sk(const struct sock *sk, bool *gated)
{
	struct proto *p = (struct proto *)READ_ONCE(sk->sk_prot);

	if (p->close == atls_gate_close) {
		*gated = true;
		return container_of(p, struct atls_sock, gate);
	}
	if (p->close == atls_ready_close) {
		*gated = false;
		return container_of(p, struct atls_sock, ready);
	}
	return NULL;
}

/*
 * The same for the socket's own calls (syscalls, and the in-kernel users
 * that hold the socket's file or struct socket): atls_sk(), or, while
 * kTLS's own proto is in sk->sk_prot (for an instant inside each kTLS
 * setsockopt the module makes: key installation, keys.c, and every
 * rekey, rekey.c), the atls_sock through kTLS's saved proto
 * (atls_sock_of(): the caller keeps the socket open, so it lives) and
 * "gated" decided by our state. Never NULL: so no call answers EBADF
 * because it met kTLS's proto.
 */
struct atls_sock *atls_sk_call(const struct sock *sk, bool *gated)
{
	struct atls_sock *as = atls_sk(sk, gated);

	if (as)
		return as;
	as = atls_sock_of(sk);
	*gated = atls_state(as) != ATLS_STATE_READY;
	return as;
}

bool atls_is_helper(const struct atls_sock *as)
{
	pid_t h = READ_ONCE(as->helper_tgid);

	return h && h == task_tgid_nr(current);
}

static void atls_sock_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(atls_sock_cache, container_of(head, struct atls_sock, rcu));
}

static void atls_sock_free(struct atls_sock *as)
{
	atls_stat_dec(ATLS_STAT_ACTIVE);
	memzero_explicit(&as->peer, sizeof(as->peer));
	atls_rekey_free(as);	/* wipes the traffic secrets */
	call_rcu(&as->rcu, atls_sock_free_rcu);
}

/*
 * kTLS passes socket options of every level but SOL_TLS to the proto it
 * saved at its init (ctx->sk_proto: TCP's), from every one of its protos.
 * Under lock_sock (the ULP init), put our copy of that proto there, with
 * our sockopts (sockopt.c): SOL_ATLS and the zero-copy receive check then
 * hold whichever proto is in sk->sk_prot, also kTLS's own in the instant
 * of key installation. Release: kTLS's getsockopt/setsockopt read it
 * locklessly (an address dependency orders the copy's contents). kTLS's
 * close puts ctx->sk_proto back into sk->sk_prot and calls its close, so
 * the close hooks restore kTLS's original first (atls_tcp_unwrap()): the
 * copy dies with the atls_sock, the struct sock may live on.
 */
static void atls_tcp_wrap(struct atls_sock *as)
{
	struct tls_context *ctx = tls_get_ctx(as->sk);

	as->tcp_orig = ctx->sk_proto;
	as->tcp = *as->tcp_orig;
	as->tcp.setsockopt = atls_tcp_setsockopt;
	as->tcp.getsockopt = atls_tcp_getsockopt;
	smp_store_release(&ctx->sk_proto, &as->tcp);
}

static void atls_tcp_unwrap(struct atls_sock *as)
{
	WRITE_ONCE(tls_get_ctx(as->sk)->sk_proto, as->tcp_orig);
}

/*
 * Close hooks: called from inet_release() at the last fput, so no syscall
 * is inside our gate, and no request is ACCEPTED or INSTALLING (those hold a
 * file reference). A request still PENDING holds none: the gate close ends
 * it first (APP_CLOSED: counted, connection aborted, dequeued, timer
 * cancelled), while the atls_sock and the struct file still exist, so no
 * helper's ACCEPT can see it afterwards (request.c). kTLS's update_sk_prot()
 * may have set sock->ops to its table; only our gate copy must be put back
 * before the state is freed, after an RCU grace period (a lockless reader of
 * sk->sk_prot may still look at our copy).
 */
static void atls_gate_close(struct sock *sk, long timeout)
{
	struct atls_sock *as = container_of((struct proto *)READ_ONCE(sk->sk_prot),
					    struct atls_sock, gate);

	atls_unhook_conn(as);
	atls_user_data_release(sk);
	atls_req_sock_closed(as);
	if (sk->sk_socket && READ_ONCE(sk->sk_socket->ops) == &as->gops)
		WRITE_ONCE(sk->sk_socket->ops, as->gops_orig);
	atls_tcp_unwrap(as);
	as->tls_base->close(sk, timeout);	/* tls_sk_proto_close */
	atls_sock_free(as);
}

static void atls_ready_close(struct sock *sk, long timeout)
{
	struct atls_sock *as = container_of((struct proto *)READ_ONCE(sk->sk_prot),
					    struct atls_sock, ready);

	atls_unhook_conn(as);	/* still in if TLS_RX was refused */
	atls_user_data_release(sk);
	/* Keys half installed (TLS_RX refused): our ops copy is still in;
	 * READY: our copy of kTLS's final ops is. */
	if (sk->sk_socket && READ_ONCE(sk->sk_socket->ops) == &as->gops)
		WRITE_ONCE(sk->sk_socket->ops, as->gops_orig);
	if (sk->sk_socket && READ_ONCE(sk->sk_socket->ops) == &as->rops)
		WRITE_ONCE(sk->sk_socket->ops, as->rops_orig);
	atls_tcp_unwrap(as);
	as->tls_final->close(sk, timeout);
	atls_sock_free(as);
}

/*
 * Under lock_sock, after kTLS replaced our proto by its own (TLS_TX, then
 * again at TLS_RX). The second time our ready copy is rewritten in place
 * while it is not installed; lockless readers that still hold it see the same
 * function pointers for every member we override, and valid kTLS ones for
 * the rest. After a rekey kTLS puts back the very proto it had (its table
 * is chosen by the TX and RX configuration, which an update keeps): our
 * ready copy of it goes back on as it is, never rewritten while in use.
 */
void atls_rewrap(struct atls_sock *as)
{
	struct sock *sk = as->sk;

	if (sk->sk_prot == &as->gate || sk->sk_prot == &as->ready)
		return;			/* kTLS refused: nothing to wrap */
	if (sk->sk_prot == as->tls_final) {
		WRITE_ONCE(sk->sk_prot, &as->ready);
		return;
	}
	as->tls_final = sk->sk_prot;
	atls_ready_build(as);
	as->ready.close = atls_ready_close;
	WRITE_ONCE(sk->sk_prot, &as->ready);
}

/* Has the application moved any byte through this socket? */
static bool atls_stream_used(struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	if (tp->bytes_sent || !tcp_write_queue_empty(sk) ||
	    !tcp_rtx_queue_empty(sk))
		return true;
	/* bytes received but no longer queued were read by the app */
	return tp->bytes_received != (u64)(tp->rcv_nxt - tp->copied_seq);
}

/* Runs under lock_sock (tcp_set_ulp), process context. */
static int atls_ulp_init(struct sock *sk)
{
	struct atls_sock *as;
	int err;

	if (!tls_ulp)
		return -ENOENT;
	if (!sk->sk_socket || sk->sk_socket->type != SOCK_STREAM)
		return -EINVAL;
	if (sk->sk_state == TCP_LISTEN) {	/* an attested listener: listen.c */
		if (!try_module_get(tls_ulp->owner))
			return -ENOENT;
		err = atls_listen_attach(sk);
		if (err)
			module_put(tls_ulp->owner);
		return err;
	}
	if (sk->sk_state != TCP_ESTABLISHED)
		return -ENOTCONN;
	if (atls_stream_used(sk))
		return -EBUSY;

	as = kmem_cache_zalloc(atls_sock_cache, GFP_KERNEL);
	if (!as)
		return -ENOMEM;
	if (!try_module_get(tls_ulp->owner)) {
		err = -ENOENT;
		goto free;
	}
	err = -EBUSY;
	if (!atls_user_data_claim(sk))
		goto put_tls;
	err = tls_ulp->init(sk);
	if (err)
		goto release_mark;

	as->sk = sk;
	atls_tcp_wrap(as);
	as->tls_base = READ_ONCE(sk->sk_prot);
	as->tls_base_ops = READ_ONCE(sk->sk_socket->ops);
	init_waitqueue_head(&as->wq);
	mutex_init(&as->tx_lock);
	mutex_init(&as->rx_ctl_lock);
	mutex_init(&as->rekey_lock);
	as->state = ATLS_STATE_NONE;
	atls_gate_build(as);
	as->gate.close = atls_gate_close;
	atls_stat_inc(ATLS_STAT_SOCKETS);
	atls_stat_inc(ATLS_STAT_ACTIVE);
	WRITE_ONCE(sk->sk_socket->ops, &as->gops);
	WRITE_ONCE(sk->sk_prot, &as->gate);
	atls_hook_conn(as);
	return 0;

release_mark:
	atls_user_data_release(sk);
put_tls:
	module_put(tls_ulp->owner);
free:
	kmem_cache_free(atls_sock_cache, as);
	return err;
}

/* tcp_cleanup_ulp(), from tcp_v4_destroy_sock(): after our close hook. */
static void atls_ulp_release(struct sock *sk)
{
	module_put(tls_ulp->owner);
}

/* sockmap stacking: forwarded, although our copies refuse psock updates. */
static void atls_ulp_update(struct sock *sk, struct proto *p,
			    void (*write_space)(struct sock *sk))
{
	if (tls_ulp->update)
		tls_ulp->update(sk, p, write_space);
}

/* inet_diag: kTLS's view (version, cipher, txconf, rxconf). */
static int atls_ulp_get_info(struct sock *sk,
			     struct sk_buff *skb ATLS_ULP_INFO_PARAM)
{
	return tls_ulp->get_info ? tls_ulp->get_info(sk, skb ATLS_ULP_INFO_ARG) : 0;
}

static size_t atls_ulp_get_info_size(const struct sock *sk
				     ATLS_ULP_INFO_PARAM)
{
	return tls_ulp->get_info_size ? tls_ulp->get_info_size(sk ATLS_ULP_INFO_ARG) : 0;
}

static struct tcp_ulp_ops atls_ulp_ops __read_mostly = {
	.name		= ATLS_ULP_NAME,
	.owner		= THIS_MODULE,
	.init		= atls_ulp_init,
	.release	= atls_ulp_release,
	.clone		= atls_listen_clone,	/* also lets the ULP onto a listener */
	.update		= atls_ulp_update,
	.get_info	= atls_ulp_get_info,
	.get_info_size	= atls_ulp_get_info_size,
};

/* Find kTLS's tcp_ulp_ops through a throw-away loopback connection. */
static int atls_find_tls_ulp(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	struct socket *lsn = NULL, *cli = NULL, *srv = NULL;
	const struct tcp_ulp_ops *ops;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &lsn);
	if (err)
		goto out;
	err = kernel_bind(lsn, atls_bind_addr(&sa), sizeof(sa));
	if (err)
		goto out;
	err = kernel_listen(lsn, 1);
	if (err)
		goto out;
	err = kernel_getsockname(lsn, (struct sockaddr *)&sa);
	if (err < 0)
		goto out;
	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP, &cli);
	if (err)
		goto out;
	err = kernel_connect(cli, atls_bind_addr(&sa), sizeof(sa), 0);
	if (err)
		goto out;
	err = kernel_accept(lsn, &srv, 0);
	if (err)
		goto out;
	err = cli->ops->setsockopt(cli, SOL_TCP, TCP_ULP, KERNEL_SOCKPTR("tls"),
				   sizeof("tls"));
	if (err)
		goto out;
	ops = READ_ONCE(inet_csk(cli->sk)->icsk_ulp_ops);
	atls_tcp_state_change = READ_ONCE(cli->sk->sk_state_change);
	atls_tcp_error_report = READ_ONCE(cli->sk->sk_error_report);
	if (!ops || strcmp(ops->name, "tls") || !try_module_get(ops->owner)) {
		err = -ENOENT;
		goto out;
	}
	tls_ulp = ops;
out:
	if (srv)
		sock_release(srv);
	if (cli)
		sock_release(cli);
	if (lsn)
		sock_release(lsn);
	if (err)
		pr_err("cannot find kTLS (is tls.ko loadable and lo up?): %d\n", err);
	return err;
}

int atls_ulp_register(void)
{
	int err;

	atls_sock_cache = kmem_cache_create_usercopy("atls_sock",
			sizeof(struct atls_sock), 0, SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT,
			offsetof(struct atls_sock, peer),
			sizeof_field(struct atls_sock, peer), NULL);
	if (!atls_sock_cache)
		return -ENOMEM;
	err = atls_find_tls_ulp();
	if (err)
		goto destroy_cache;
	err = tcp_register_ulp(&atls_ulp_ops);
	if (err)
		goto put_tls;
	return 0;

put_tls:
	module_put(tls_ulp->owner);
	tls_ulp = NULL;
destroy_cache:
	kmem_cache_destroy(atls_sock_cache);
	return err;
}

/* No atls socket exists (each holds the module); wait for pending frees. */
void atls_ulp_unregister(void)
{
	tcp_unregister_ulp(&atls_ulp_ops);
	module_put(tls_ulp->owner);
	tls_ulp = NULL;
	rcu_barrier();
	kmem_cache_destroy(atls_sock_cache);
}

MODULE_ALIAS_TCP_ULP(ATLS_ULP_NAME);
MODULE_SOFTDEP("pre: tls");
