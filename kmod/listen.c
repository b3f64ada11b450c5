// SPDX-License-Identifier: GPL-2.0
/*
 * Attested listening sockets: setsockopt(SOL_ATLS, ATLS_LISTEN) on a
 * listener that carries the "atls" ULP makes accept() return only
 * connections whose attested handshake succeeded (keys installed, peer info
 * readable). Documentation/atls.7.rst, "Listening sockets", is the contract.
 *
 * How it works
 * ------------
 * The ULP on a listener. A TCP ULP may sit on a LISTEN socket only if it has
 * a .clone op (tcp_set_ulp() refuses otherwise; on 6.1 and 6.12 alike), so
 * the atls ULP has one, and its init (ulp.c) sends LISTEN sockets here
 * instead of to kTLS, which refuses listeners. atls_listen_attach() puts a
 * per-listener copy of the listener's struct proto (prot) and proto_ops
 * (ops) in place, as the gate does for connections:
 *  - prot: .setsockopt/.getsockopt own SOL_ATLS (ATLS_LISTEN,
 *    ATLS_LISTEN_INFO); .close tears the listener down (below); .sendmsg
 *    and .recvmsg (and 6.1's .sendpage) refuse, so a listener shut down and
 *    then connect()ed can never move a byte in clear;
 *  - ops: .accept hands out ready children only; .poll reports EPOLLIN only
 *    when one waits; .splice_read refuses like .recvmsg.
 * The listener's sk_data_ready (called by TCP when a child lands in its
 * accept queue) is replaced by one that only queues the drain work: pollers
 * and accept() sleepers are woken when a child is *ready*, never before.
 *
 * Children. TCP clones each child from the listener in softirq, copying the
 * listener's sk_prot, sk_data_ready and ULP. atls_listen_clone() (the ULP's
 * .clone, run by inet_csk_clone_lock()) makes the child a plain TCP socket
 * again: the listener's original proto (also as sk_prot_creator, which
 * frees it: our copy dies with the listener, children outlive it), the
 * original sk_data_ready, no ULP. The child then waits in TCP's accept
 * queue like any other, and nobody but us can take it (accept() goes
 * through our ops).
 *
 * Drain (al->drain, process context on atls_listen_wq): takes every child
 * out of TCP's accept queue (the original proto's non-blocking accept),
 * gives it a kernel struct socket and struct file (ksock, kfile: a request
 * needs a file, which the helper's ACCEPT installs in the helper), attaches
 * the atls ULP through the socket's own setsockopt (as an application
 * would), and starts a server request with the listener's policy and
 * timeout, non-blocking, made for the listener's owner (struct atls_app,
 * taken at ATLS_LISTEN: pid, uid, gid, comm) rather than the kernel worker.
 * Any failure up to here ends the child with a reset; nothing was sent.
 *
 * Completion: each child has a wait-queue entry on its atls_sock's wq with
 * our own wake function. keys.c and atls_sock_fail() wake that queue when
 * the state becomes READY or FAILED; the wake function unhooks itself and
 * queues the child's work. FAILED: the child is counted (listener and
 * /proc/net/atls, with its reason) and dropped (it was already reset).
 * READY: once the request is retired (as->req NULL: the DONE handler
 * publishes READY a few microseconds before), the child moves to the ready
 * list and the listener's original sk_data_ready wakes one accept() sleeper
 * and every poller.
 *
 * accept(): takes the oldest ready child and moves its struct sock from
 * ksock into the application's new socket (sock_graft(), as inet_accept()
 * does; the new socket gets the child's current ops, our copy of kTLS's).
 * ksock may still be reachable through a helper's descriptor (atlsd keeps a dup of
 * the fd around DONE): it is left holding the sock (sock_hold) behind an
 * inert ops table (atls_orphan_ops: every call fails, release drops the
 * hold; from 6.2, SOCK_CUSTOM_SOCKOPT routes SOL_SOCKET setsockopt there
 * too: on 6.1 that one still reaches the socket's SO_* options), so a late
 * call on it can neither move data on the connection nor free it. Then our
 * kfile reference is dropped.
 *
 * Backlog: a child we hold (in handshake or ready) stays counted in the
 * listener's sk_ack_backlog (we add it back when we take it from TCP's
 * queue, under the queue's lock, and remove it when it leaves us), so TCP's
 * own overflow check bounds children in TCP's queue, in handshake and ready
 * together by listen()'s backlog, and drops SYNs beyond it as usual.
 *
 * Stop: shutdown(SHUT_RD) and connect(AF_UNSPEC) (prot.disconnect) and
 * SOCK_DESTROY (prot.diag_destroy, tcp_abort()) make TCP stop listening:
 * the children we hold are failed first, as on close below (TCP warns if
 * sk_ack_backlog still counts any), and the listener stays stopped
 * (accept() fails with EINVAL, even after another listen()).
 *
 * Listener close (prot.close, from the application's last close): marks the
 * listener closing, waits for the drain work, puts the original
 * sk_data_ready, proto and ops back, then fails every child it holds: a
 * live request is ended (ATLS_REASON_SHUTDOWN: ECONNABORTED, the helper is
 * sent ABORT), any child is reset, and counted. Then TCP's close runs
 * (children still in TCP's queue are plain and reset by it), and the
 * listener state is freed after an RCU grace period.
 *
 * Locks and lifetimes
 * -------------------
 *  al->lock (spinlock, BH): al->hs and al->ready lists, child->listed, the
 *     counters, al->configured, al->stopped, al->closing; nests the accept queue's
 *     rskq_lock (sk_ack_backlog). Never held across anything that sleeps.
 *  A child belongs to whoever takes it off al's lists under al->lock
 *  (child->listed false): its work (FAILED), accept() (READY) or close. The
 *  owner drops the kfile reference and frees it. The wait entry is removed
 *  by the wake function (under the atls_sock's wq lock) or by close
 *  (remove_wait_queue) before the child's work is cancelled synchronously,
 *  so no wake can queue the work again. kfile keeps ksock, the struct sock
 *  and its atls_sock (as->wq) alive while a child is ours.
 *  struct atls_listener lives from ULP attach to close + RCU grace period:
 *  TCP may run sk_data_ready or the clone op on a listener it found under
 *  RCU while it closes. Those find it through sk->sk_prot (our copy's
 *  .close identifies it, as atls_sk() does) and queue work only if it is
 *  not closing; close cancels the drain work after setting closing. The
 *  drain work and child works never outlive close. The listener holds the
 *  module (its ULP); the works run on atls_listen_wq, destroyed at unload.
 *
 * 6.1 and 6.12 differ only in accept's arguments (compat.h) and 6.1's
 * .sendpage; the rest (tcp_ulp_ops .clone, inet_csk_clone_lock(),
 * sock_graft(), sk_acceptq_*) is the same on both.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/file.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/cred.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sockptr.h>
#include <linux/splice.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/inet_connection_sock.h>

#include "atls.h"

struct atls_listener {
	struct proto prot;		/* copy of the listener's proto */
	struct proto_ops ops;		/* copy of the listener's proto_ops */
	const struct proto *orig_prot;
	const struct proto_ops *orig_ops;
	void (*orig_data_ready)(struct sock *sk);
	struct sock *sk;
	struct work_struct drain;
	spinlock_t lock;
	struct list_head hs;		/* children in a handshake */
	struct list_head ready;		/* ready children, oldest first */
	bool configured;		/* ATLS_LISTEN done */
	bool closing;
	bool stopped;			/* left LISTEN (shutdown, SOCK_DESTROY) or closing */
	u32 timeout_ms;
	char policy[ATLS_POLICY_MAX];
	struct atls_app app;		/* the listener's owner, at ATLS_LISTEN */
	struct atls_listen_info info;	/* handshaking/ready mirror the lists */
	struct rcu_head rcu;
};

struct atls_child {
	struct list_head node;		/* al->hs or al->ready while listed */
	bool listed;
	bool in_ready;			/* on al->ready */
	struct atls_listener *al;
	struct sock *sk;
	struct socket *sock;		/* ksock */
	struct file *file;		/* kfile: our reference */
	struct atls_sock *as;
	struct wait_queue_entry wait;	/* on as->wq */
	struct delayed_work work;
};

static struct workqueue_struct *atls_listen_wq;

static void atls_listen_close(struct sock *sk, long timeout);

static struct atls_listener *atls_listener_of(const struct sock *sk)
{
	struct proto *p = (struct proto *)READ_ONCE(sk->sk_prot);

	if (p->close != atls_listen_close)
		return NULL;
	return container_of(p, struct atls_listener, prot);
}

/* sk_ack_backlog is TCP's, updated under the accept queue's lock. */
static void atls_backlog_add(struct sock *lsk, int n)
{
	struct request_sock_queue *q = &inet_csk(lsk)->icsk_accept_queue;

	spin_lock_bh(&q->rskq_lock);
	WRITE_ONCE(lsk->sk_ack_backlog, lsk->sk_ack_backlog + n);
	spin_unlock_bh(&q->rskq_lock);
}

/* Under al->lock: @child leaves our lists; the caller now owns it. */
static void atls_child_unlist(struct atls_listener *al, struct atls_child *child)
{
	list_del_init(&child->node);
	child->listed = false;
	if (child->in_ready)
		al->info.ready--;
	else
		al->info.handshaking--;
	atls_backlog_add(al->sk, -1);
}

/* ---- the kernel socket left behind after accept() ---- */

static int atls_orphan_release(struct socket *sock)
{
	if (sock->sk)
		sock_put(sock->sk);	/* the hold taken at accept() */
	return 0;
}

static int atls_orphan_setsockopt(struct socket *sock, int level, int optname,
				  sockptr_t optval, unsigned int optlen)
{
	return -EBADF;
}

static int atls_orphan_getsockopt(struct socket *sock, int level, int optname,
				  char __user *optval, int __user *optlen)
{
	return -EBADF;
}

static const struct proto_ops atls_orphan_ops = {
	.family		= PF_INET,
	.owner		= THIS_MODULE,
	.release	= atls_orphan_release,
	.bind		= sock_no_bind,
	.connect	= sock_no_connect,
	.socketpair	= sock_no_socketpair,
	.accept		= sock_no_accept,
	.getname	= sock_no_getname,
	.ioctl		= sock_no_ioctl,
	.listen		= sock_no_listen,
	.shutdown	= sock_no_shutdown,
	.setsockopt	= atls_orphan_setsockopt,
	.getsockopt	= atls_orphan_getsockopt,
	.sendmsg	= sock_no_sendmsg,
	.recvmsg	= sock_no_recvmsg,
	.mmap		= sock_no_mmap,
#ifdef ATLS_HAVE_SENDPAGE
	.sendpage	= sock_no_sendpage,
#endif
};

/* ---- children ---- */

static void atls_child_free(struct atls_child *child)
{
	fput(child->file);	/* ours; a live request may still hold one */
	kfree(child);
}

/* A child that never surfaces: counted, with the reason it failed for. */
static void atls_child_count_failed(struct atls_listener *al, u32 reason)
{
	al->info.failed++;
	al->info.last_reason = reason;
	atls_stat_inc(ATLS_STAT_LISTEN_FAILED);
}

/*
 * as->wq woke (any reason; we act on READY and FAILED, both final for a
 * handshake). Under the wait queue's lock, any context.
 */
static int atls_child_wake(struct wait_queue_entry *wait, unsigned int mode,
			   int sync, void *key)
{
	struct atls_child *child = container_of(wait, struct atls_child, wait);
	int st = atls_state(child->as);

	if (st != ATLS_STATE_READY && st != ATLS_STATE_FAILED)
		return 0;
	list_del_init(&wait->entry);
	queue_delayed_work(atls_listen_wq, &child->work, 0);
	return 0;
}

static void atls_child_work(struct work_struct *work)
{
	struct atls_child *child = container_of(to_delayed_work(work),
						struct atls_child, work);
	struct atls_listener *al = child->al;
	struct atls_sock *as = child->as;
	bool busy;

	if (atls_state(as) == ATLS_STATE_READY) {
		/* DONE publishes READY just before it retires the request. */
		lock_sock(child->sk);
		busy = as->req != NULL;
		release_sock(child->sk);
		if (busy) {
			queue_delayed_work(atls_listen_wq, &child->work, 1);
			return;
		}
		spin_lock_bh(&al->lock);
		if (child->listed) {
			list_move_tail(&child->node, &al->ready);
			child->in_ready = true;
			al->info.handshaking--;
			al->info.ready++;
			/* Wakes one accept() sleeper and every poller. */
			al->orig_data_ready(al->sk);
		}
		spin_unlock_bh(&al->lock);
		return;
	}

	spin_lock_bh(&al->lock);
	if (!child->listed) {		/* close took it */
		spin_unlock_bh(&al->lock);
		return;
	}
	atls_child_unlist(al, child);
	atls_child_count_failed(al, READ_ONCE(as->reason));
	spin_unlock_bh(&al->lock);
	atls_child_free(child);		/* already reset by its failure */
}

/*
 * The listener is closing: end @child's handshake (or its wait for accept)
 * with a reset. Its request, if live, ends as SHUTDOWN (the helper holding
 * it is sent ABORT). The caller took it off the lists and its work and wait
 * entry are gone.
 */
static void atls_child_abort(struct atls_listener *al, struct atls_child *child)
{
	struct atls_sock *as = child->as;
	struct sock *sk = child->sk;
	struct atls_req *req;

	lock_sock(sk);
	req = as->req;
	if (req)	/* as->req is cleared under lock_sock before its last put */
		refcount_inc(&req->ref);
	release_sock(sk);
	if (req) {
		atls_req_fail(req, -ECONNABORTED, ATLS_REASON_SHUTDOWN);
		atls_req_put(req);
	}
	if (atls_state(as) != ATLS_STATE_FAILED)
		tcp_abort(sk, ECONNABORTED);
	atls_child_free(child);
}

/*
 * Opt @child's connection in and start its handshake; the child's struct
 * socket is grafted and has its file. Any failure resets the connection.
 */
static void atls_child_start(struct atls_listener *al, struct atls_child *child)
{
	struct atls_start st = {
		.size = sizeof(st),
		.role = ATLS_ROLE_SERVER,
		.flags = ATLS_START_F_NONBLOCK,
		.timeout_ms = al->timeout_ms,
	};
	struct socket *sock = child->sock;
	struct sock *newsk = child->sk;
	u32 reason = ATLS_REASON_NONE;
	bool gated;
	int err;

	err = sock->ops->setsockopt(sock, SOL_TCP, TCP_ULP,
				    KERNEL_SOCKPTR(ATLS_ULP_NAME),
				    sizeof(ATLS_ULP_NAME));
	child->as = err ? NULL : atls_sk(newsk, &gated);
	if (!child->as)
		goto fail;
	init_waitqueue_func_entry(&child->wait, atls_child_wake);
	add_wait_queue(&child->as->wq, &child->wait);

	spin_lock_bh(&al->lock);
	if (al->stopped) {
		spin_unlock_bh(&al->lock);
		reason = ATLS_REASON_SHUTDOWN;
		goto unwait;
	}
	list_add_tail(&child->node, &al->hs);
	child->listed = true;
	al->info.handshaking++;
	atls_backlog_add(al->sk, 1);
	spin_unlock_bh(&al->lock);

	/*
	 * The request is the listener's owner's (al->app, copied into it;
	 * st was validated with the listener's configuration). Once it is
	 * made it can end at once and atls_child_work() free the child: on
	 * success touch nothing of it again.
	 */
	strscpy(st.policy, al->policy, sizeof(st.policy));
	err = atls_req_start(child->as, &st, &al->app);
	if (!err)
		return;		/* the wake function takes it from here */

	/*
	 * Not started (no helper, too many requests): nothing will wake us.
	 * Only close can have taken it meanwhile, and close waits for us
	 * (cancel_work_sync of the drain) before it looks at the lists.
	 */
	if (err == -ESRCH)
		reason = ATLS_REASON_NO_HELPER;
	spin_lock_bh(&al->lock);
	atls_child_unlist(al, child);
	spin_unlock_bh(&al->lock);
unwait:
	remove_wait_queue(&child->as->wq, &child->wait);
fail:
	spin_lock_bh(&al->lock);
	atls_child_count_failed(al, reason);
	spin_unlock_bh(&al->lock);
	tcp_abort(newsk, ECONNABORTED);
	atls_child_free(child);
}

/*
 * A child with a kernel struct socket, before we take a connection from
 * TCP's queue (allocation failures leave it there, for the next drain).
 */
static struct atls_child *atls_child_alloc(struct atls_listener *al)
{
	struct atls_child *child;

	child = kzalloc(sizeof(*child), GFP_KERNEL);
	if (!child)
		return NULL;
	if (sock_create_lite(al->sk->sk_family, SOCK_STREAM, IPPROTO_TCP,
			     &child->sock)) {
		kfree(child);
		return NULL;
	}
	child->al = al;
	INIT_LIST_HEAD(&child->node);
	INIT_DELAYED_WORK(&child->work, atls_child_work);
	return child;
}

/* Graft @newsk into the child's socket and give it a file. */
static int atls_child_adopt(struct atls_listener *al, struct atls_child *child,
			    struct sock *newsk)
{
	struct socket *sock = child->sock;
	struct file *file;

	sock->ops = al->orig_ops;
	__module_get(sock->ops->owner);
	lock_sock(newsk);
	sock_graft(newsk, sock);
	sock->state = SS_CONNECTED;
	release_sock(newsk);
	child->sk = newsk;
	atls_stat_inc(ATLS_STAT_LISTEN_CHILDREN);
	spin_lock_bh(&al->lock);
	al->info.children++;
	spin_unlock_bh(&al->lock);
	/* On failure this releases sock and with it the connection (FIN:
	 * nothing was sent on it). */
	file = sock_alloc_file(sock, 0, NULL);
	if (IS_ERR(file)) {
		kfree(child);
		spin_lock_bh(&al->lock);
		atls_child_count_failed(al, ATLS_REASON_NONE);
		spin_unlock_bh(&al->lock);
		return PTR_ERR(file);
	}
	child->file = file;
	return 0;
}

static void atls_listen_drain(struct work_struct *work)
{
	struct atls_listener *al = container_of(work, struct atls_listener, drain);
	struct atls_child *child;
	struct sock *newsk;
	bool stop;
	int err;

	for (;;) {
		spin_lock_bh(&al->lock);
		stop = al->stopped || !al->configured;
		spin_unlock_bh(&al->lock);
		if (stop)
			return;
		child = atls_child_alloc(al);
		if (!child)
			return;
		newsk = atls_csk_accept_nb(al->orig_prot, al->sk, &err);
		if (!newsk) {
			sock_release(child->sock);	/* no ops yet: just freed */
			kfree(child);
			return;
		}
		if (!atls_child_adopt(al, child, newsk))
			atls_child_start(al, child);
		cond_resched();
	}
}

/* TCP queued a child (softirq, no listener lock): drain in process context. */
static void atls_listen_data_ready(struct sock *sk)
{
	struct atls_listener *al;

	rcu_read_lock();
	al = atls_listener_of(sk);
	if (al) {
		spin_lock_bh(&al->lock);
		if (al->configured && !al->stopped)
			queue_work(atls_listen_wq, &al->drain);
		spin_unlock_bh(&al->lock);
	}
	rcu_read_unlock();
}

/* The ULP's .clone (softirq): the child is a plain TCP socket (see top). */
void atls_listen_clone(const struct request_sock *req, struct sock *newsk,
		       const gfp_t priority)
{
	struct inet_connection_sock *icsk = inet_csk(newsk);
	struct atls_listener *al = atls_listener_of(newsk);

	icsk->icsk_ulp_ops = NULL;
	RCU_INIT_POINTER(icsk->icsk_ulp_data, NULL);
	if (!al)	/* the listener's close already put its proto back */
		return;
	newsk->sk_prot = (struct proto *)al->orig_prot;
	newsk->sk_prot_creator = (struct proto *)al->orig_prot;
	if (newsk->sk_data_ready == atls_listen_data_ready)
		newsk->sk_data_ready = al->orig_data_ready;
}

/* ---- the listener's operations ---- */

static void atls_child_hand_over(struct atls_child *child, struct socket *newsock)
{
	struct socket *ksock = child->sock;
	const struct proto_ops *old = newsock->ops, *ops;
	struct sock *sk = child->sk;

	lock_sock(sk);
	ops = READ_ONCE(ksock->ops);
	/* ksock keeps a hold on sk behind inert ops (see the top). */
	sock_hold(sk);
	__module_get(THIS_MODULE);
#ifdef SOCK_CUSTOM_SOCKOPT	/* 6.2+: SOL_SOCKET setsockopt via our ops */
	set_bit(SOCK_CUSTOM_SOCKOPT, &ksock->flags);
#endif
	WRITE_ONCE(ksock->ops, &atls_orphan_ops);
	ksock->state = SS_DISCONNECTING;
	sock_graft(sk, newsock);	/* ksock->sk stays: the hold's owner */
	newsock->state = SS_CONNECTED;
	__module_get(ops->owner);	/* ksock's reference on ops moves */
	WRITE_ONCE(newsock->ops, ops);
	module_put(old->owner);		/* the accept syscall's, on our ops */
	release_sock(sk);
	module_put(ops->owner);		/* ksock's, taken at creation */
	atls_child_free(child);
}

static int atls_listen_accept(ATLS_OPS_ACCEPT_PARAMS)
{
	struct sock *sk = sock->sk;
	struct atls_listener *al = atls_listener_of(sk);
	int fflags = atls_accept_flags();
	long timeo = sock_rcvtimeo(sk, fflags & O_NONBLOCK);
	struct atls_child *child;
	DEFINE_WAIT(wait);
	bool usable;
	int err = 0;

	if (!al)
		return -EINVAL;
	for (;;) {
		spin_lock_bh(&al->lock);
		usable = al->configured && !al->stopped &&
			 READ_ONCE(sk->sk_state) == TCP_LISTEN;
		child = usable ? list_first_entry_or_null(&al->ready,
							  struct atls_child, node) : NULL;
		if (child) {
			atls_child_unlist(al, child);
			al->info.accepted++;
		}
		spin_unlock_bh(&al->lock);
		if (child)
			break;
		if (!usable)
			err = -EINVAL;
		else if (!timeo)
			err = -EAGAIN;
		else if (signal_pending(current))
			err = sock_intr_errno(timeo);
		if (err)
			break;
		prepare_to_wait_exclusive(sk_sleep(sk), &wait, TASK_INTERRUPTIBLE);
		if (!READ_ONCE(al->info.ready) &&
		    READ_ONCE(sk->sk_state) == TCP_LISTEN)
			timeo = schedule_timeout(timeo);
		finish_wait(sk_sleep(sk), &wait);
	}
	if (err)
		return err;
	atls_stat_inc(ATLS_STAT_LISTEN_ACCEPTED);
	atls_child_hand_over(child, newsock);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
	arg->is_empty = !READ_ONCE(al->info.ready);
#endif
	return 0;
}

static __poll_t atls_listen_poll(struct file *file, struct socket *sock,
				 struct poll_table_struct *wait)
{
	struct sock *sk = sock->sk;
	struct atls_listener *al = atls_listener_of(sk);
	__poll_t mask;

	mask = al->orig_ops->poll(file, sock, wait);	/* registers the wait */
	if (READ_ONCE(sk->sk_state) != TCP_LISTEN)
		return mask;
	return READ_ONCE(al->info.ready) ? EPOLLIN | EPOLLRDNORM : 0;
}

static ssize_t atls_listen_splice_read(struct socket *sock, loff_t *ppos,
				       struct pipe_inode_info *pipe, size_t len,
				       unsigned int flags)
{
	return -ENOTCONN;
}

static int atls_listen_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	return -ENOTCONN;
}

static int atls_listen_recvmsg(ATLS_RECVMSG_PARAMS)
{
	return -ENOTCONN;
}

#ifdef ATLS_HAVE_SENDPAGE
static int atls_listen_sendpage(struct sock *sk, struct page *page, int offset,
				size_t size, int flags)
{
	return -ENOTCONN;
}
#endif

static int atls_listen_parse(struct atls_listen *l, sockptr_t optval,
			     unsigned int optlen)
{
	int ret;

	if (optlen < ATLS_LISTEN_SIZE_VER0)
		return -EINVAL;
	if (optlen > sizeof(*l)) {
		ret = check_zeroed_sockptr(optval, sizeof(*l), optlen - sizeof(*l));
		if (ret < 0)
			return ret;
		if (!ret)
			return -E2BIG;
	}
	memset(l, 0, sizeof(*l));
	if (copy_from_sockptr(l, optval, min_t(unsigned int, optlen, sizeof(*l))))
		return -EFAULT;
	if (l->size != optlen || l->flags || l->reserved ||
	    l->timeout_ms > ATLS_TIMEOUT_MAX_MS ||
	    !memchr(l->policy, 0, sizeof(l->policy)))
		return -EINVAL;
	if (!l->timeout_ms)
		l->timeout_ms = ATLS_TIMEOUT_DEFAULT_MS;
	if (!l->policy[0])
		strscpy(l->policy, "default", sizeof(l->policy));
	return 0;
}

static int atls_listen_configure(struct atls_listener *al, sockptr_t optval,
				 unsigned int optlen)
{
	struct sock *sk = al->sk;
	struct atls_listen l;
	int err;

	err = atls_listen_parse(&l, optval, optlen);
	if (err)
		return err;
	if (!atls_genl_has_helper(sock_net(sk))) {
		atls_stat_inc(ATLS_STAT_NO_HELPER);
		return -ESRCH;
	}
	lock_sock(sk);
	spin_lock_bh(&al->lock);
	if (al->configured)
		err = -EALREADY;
	else if (sk->sk_state != TCP_LISTEN)
		err = -EINVAL;
	if (!err) {
		al->timeout_ms = l.timeout_ms;
		strscpy(al->policy, l.policy, sizeof(al->policy));
		atls_app_capture(&al->app);	/* released with al */
		al->configured = true;
		/* Children that arrived since listen(): attest them too. */
		queue_work(atls_listen_wq, &al->drain);
	}
	spin_unlock_bh(&al->lock);
	release_sock(sk);
	return err;
}

static int atls_listen_setsockopt(struct sock *sk, int level, int optname,
				  sockptr_t optval, unsigned int optlen)
{
	struct atls_listener *al = atls_listener_of(sk);

	if (!al)
		return READ_ONCE(sk->sk_prot)->setsockopt(sk, level, optname,
							  optval, optlen);
	if (level == SOL_ATLS) {
		if (optname != ATLS_LISTEN)
			return -ENOPROTOOPT;
		return atls_listen_configure(al, optval, optlen);
	}
	return al->orig_prot->setsockopt(sk, level, optname, optval, optlen);
}

static int atls_listen_getsockopt(struct sock *sk, int level, int optname,
				  char __user *optval, int __user *optlen)
{
	struct atls_listener *al = atls_listener_of(sk);
	struct atls_listen_info info;
	int len;

	if (!al)
		return READ_ONCE(sk->sk_prot)->getsockopt(sk, level, optname,
							  optval, optlen);
	if (level != SOL_ATLS)
		return al->orig_prot->getsockopt(sk, level, optname, optval, optlen);
	if (optname != ATLS_LISTEN_INFO)
		return -ENOPROTOOPT;
	if (get_user(len, optlen))
		return -EFAULT;
	if (len < (int)sizeof(info))
		return -EINVAL;
	spin_lock_bh(&al->lock);
	info = al->info;
	spin_unlock_bh(&al->lock);
	if (put_user(sizeof(info), optlen) ||
	    copy_to_user(optval, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

/*
 * The listener stops attesting: every child it holds is taken off its lists
 * (and out of sk_ack_backlog: TCP's inet_csk_listen_stop() warns if any is
 * left counted) onto @dead, for atls_children_abort(). Nothing new is
 * taken afterwards. Under any lock but al->lock.
 */
static void atls_listen_stop(struct atls_listener *al, struct list_head *dead)
{
	struct atls_child *child;

	spin_lock_bh(&al->lock);
	al->stopped = true;
	list_splice_init(&al->hs, dead);
	list_splice_tail_init(&al->ready, dead);
	list_for_each_entry(child, dead, node) {
		child->listed = false;
		atls_backlog_add(al->sk, -1);
		atls_child_count_failed(al, ATLS_REASON_SHUTDOWN);
	}
	al->info.handshaking = 0;
	al->info.ready = 0;
	spin_unlock_bh(&al->lock);
}

/* Fail the children atls_listen_stop() took. Needs no listener lock. */
static void atls_children_abort(struct atls_listener *al, struct list_head *dead)
{
	struct atls_child *child, *tmp;

	list_for_each_entry_safe(child, tmp, dead, node) {
		list_del_init(&child->node);
		remove_wait_queue(&child->as->wq, &child->wait);
		cancel_delayed_work_sync(&child->work);
		atls_child_abort(al, child);
	}
}

/*
 * shutdown(SHUT_RD) and connect(AF_UNSPEC) reach a listener here (under its
 * lock): TCP stops listening and resets what waits in its queue; we fail
 * what we hold first. The listener stays stopped: accept() fails with
 * EINVAL from now on, also after another listen().
 */
static int atls_listen_disconnect(struct sock *sk, int flags)
{
	struct atls_listener *al = atls_listener_of(sk);
	LIST_HEAD(dead);
	int err;

	if (!al)
		return READ_ONCE(sk->sk_prot)->disconnect(sk, flags);
	if (sk->sk_state == TCP_LISTEN)
		atls_listen_stop(al, &dead);
	err = al->orig_prot->disconnect(sk, flags);
	atls_children_abort(al, &dead);
	return err;
}

/* SOCK_DESTROY (ss -K): tcp_abort() stops a listener the same way. */
static int atls_listen_diag_destroy(struct sock *sk, int err)
{
	struct atls_listener *al = atls_listener_of(sk);
	LIST_HEAD(dead);
	int ret;

	if (!al)
		return READ_ONCE(sk->sk_prot)->diag_destroy(sk, err);
	if (READ_ONCE(sk->sk_state) == TCP_LISTEN)
		atls_listen_stop(al, &dead);
	ret = al->orig_prot->diag_destroy(sk, err);
	atls_children_abort(al, &dead);
	return ret;
}

static void atls_listener_free_rcu(struct rcu_head *head)
{
	struct atls_listener *al = container_of(head, struct atls_listener, rcu);

	atls_app_release(&al->app);	/* children's requests hold their own */
	kfree(al);
}

/* From inet_release() at the listener's last close (see the top). */
static void atls_listen_close(struct sock *sk, long timeout)
{
	struct atls_listener *al = container_of((struct proto *)READ_ONCE(sk->sk_prot),
						struct atls_listener, prot);
	LIST_HEAD(dead);

	spin_lock_bh(&al->lock);
	al->closing = true;
	al->stopped = true;
	spin_unlock_bh(&al->lock);
	cancel_work_sync(&al->drain);

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_data_ready = al->orig_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);

	atls_listen_stop(al, &dead);
	atls_children_abort(al, &dead);

	if (sk->sk_socket && READ_ONCE(sk->sk_socket->ops) == &al->ops)
		WRITE_ONCE(sk->sk_socket->ops, al->orig_ops);
	WRITE_ONCE(sk->sk_prot, (struct proto *)al->orig_prot);
	al->orig_prot->close(sk, timeout);	/* tcp_close */
	call_rcu(&al->rcu, atls_listener_free_rcu);
}

/*
 * The ULP's init on a LISTEN socket (ulp.c), under lock_sock. No child is
 * taken before ATLS_LISTEN; accept() fails with EINVAL until then.
 */
int atls_listen_attach(struct sock *sk)
{
	struct socket *sock = sk->sk_socket;
	struct atls_listener *al;

	al = kzalloc(sizeof(*al), GFP_KERNEL);
	if (!al)
		return -ENOMEM;
	al->sk = sk;
	al->orig_prot = READ_ONCE(sk->sk_prot);
	al->orig_ops = READ_ONCE(sock->ops);
	spin_lock_init(&al->lock);
	INIT_LIST_HEAD(&al->hs);
	INIT_LIST_HEAD(&al->ready);
	INIT_WORK(&al->drain, atls_listen_drain);

	al->prot = *al->orig_prot;
	al->prot.close = atls_listen_close;
	al->prot.setsockopt = atls_listen_setsockopt;
	al->prot.getsockopt = atls_listen_getsockopt;
	al->prot.sendmsg = atls_listen_sendmsg;
	al->prot.recvmsg = atls_listen_recvmsg;
	al->prot.disconnect = atls_listen_disconnect;
	if (al->orig_prot->diag_destroy)
		al->prot.diag_destroy = atls_listen_diag_destroy;
#ifdef ATLS_HAVE_SENDPAGE
	al->prot.sendpage = atls_listen_sendpage;
#endif
#ifdef CONFIG_BPF_SYSCALL
	al->prot.psock_update_sk_prot = NULL;	/* no sockmap */
#endif
	al->ops = *al->orig_ops;
	al->ops.accept = atls_listen_accept;
	al->ops.poll = atls_listen_poll;
	al->ops.splice_read = atls_listen_splice_read;

	write_lock_bh(&sk->sk_callback_lock);
	al->orig_data_ready = sk->sk_data_ready;
	sk->sk_data_ready = atls_listen_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	WRITE_ONCE(sock->ops, &al->ops);
	WRITE_ONCE(sk->sk_prot, &al->prot);
	return 0;
}

int atls_listen_init(void)
{
	atls_listen_wq = alloc_workqueue("atls_listen", WQ_UNBOUND, 0);
	return atls_listen_wq ? 0 : -ENOMEM;
}

void atls_listen_exit(void)
{
	destroy_workqueue(atls_listen_wq);
}
