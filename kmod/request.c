// SPDX-License-Identifier: GPL-2.0
/*
 * Requests: one per ATLS_START, from the queue to a helper to completion.
 *
 *   PENDING --ACCEPT--> ACCEPTED --DONE claims--> INSTALLING --> FINISHED
 *      |                   |                                       ^
 *      +---- timeout, app closed the socket (close hook) ---------+
 *      +---- TCP connection reset or lost (conn_lost work) -------+
 *                          +---- timeout, helper died -------------+
 *
 * One winner: every path that ends a request takes atls_req_lock and moves
 * the request to FINISHED only from a state it is allowed to leave (the DONE
 * handler only from INSTALLING, which it claimed; the close hook only from
 * PENDING; everyone else only from PENDING or ACCEPTED). The loser does
 * nothing, and touches neither the socket nor the atls_sock. The winner then
 * updates the socket (under lock_sock), cancels the timer and drops its file
 * reference (atls_req_retire()), which may close the socket if the app
 * already did.
 *
 * References on a request: one for being live (dropped by the winner), one
 * for the queued timeout work (dropped by the work, or by whoever cancels it
 * before it ran), one for a queued conn_lost work (dropped by the work; it
 * is never cancelled, and finds a finished request a loser), temporary
 * ones taken under atls_req_lock by lookups, and one taken under RCU by
 * ulp.c's hooks (refcount_inc_not_zero(): they run without the socket lock
 * and may meet a request whose last reference is going; its memory is
 * freed after an RCU grace period).
 * The request holds its struct sock (sock_hold, from ATLS_START until the
 * request is freed), so req->sk is never a dangling or reused pointer.
 *
 * What keeps the socket's file, and so the atls_sock, alive, by state (the
 * same shape as net/handshake: a pending request holds the sk, not the file;
 * the file is taken only when a helper takes the request):
 *
 *  PENDING     nothing. req->file is only a pointer. The application may
 *              close the socket at any time; the last fput runs our close
 *              hook (ulp.c), which calls atls_req_sock_closed() before the
 *              atls_sock is freed and before __fput frees the struct file.
 *              So while a request is seen PENDING under atls_req_lock its
 *              struct file is still allocated (its count may already be 0)
 *              and its atls_sock is still there.
 *  ACCEPTED,   one file reference owned by the request, taken at ACCEPT
 *  INSTALLING  (plus the one ACCEPT installs in the helper's fd table). The
 *              application's close() then only drops its own reference; DONE,
 *              the timeout or the helper's death end the request and the
 *              winner drops this reference.
 *
 * Leaving PENDING therefore needs a file reference: ACCEPT and the timeout
 * take one with atomic_long_inc_not_zero() under atls_req_lock, while the
 * request is still PENDING (so the file is not yet freed, see above). If the
 * count is already 0, the application's close is in progress: they leave
 * the request alone, and the close hook, which is certain to run, ends it
 * (ATLS_REASON_APP_CLOSED) and dequeues it. A helper's ACCEPT never sees a
 * closed socket. Every winner except the close hook thus holds one file
 * reference from winning until atls_req_retire() drops it, and the close
 * hook runs only once no reference is left: it never meets a winner in
 * flight, and as->req is either NULL or a PENDING request when it runs.
 *
 * Work items run on a module workqueue, destroyed (drained) at unload; no
 * request is live then (each live one has an open socket, which holds the
 * module through its ULP), and each finished one had its timer cancelled or
 * its work queued.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/hashtable.h>
#include <linux/file.h>
#include <linux/cred.h>
#include <linux/sched.h>
#include <linux/cgroup.h>
#include <net/tcp.h>

#include "atls.h"
#include "atls_trace.h"

static DEFINE_SPINLOCK(atls_req_lock);
static DEFINE_HASHTABLE(atls_req_hash, 8);
static LIST_HEAD(atls_pending);
static unsigned int atls_nlive;		/* requests not FINISHED, all netns */

/*
 * Caps on live requests (not FINISHED), checked at ATLS_START under
 * atls_req_lock: per network namespace (struct atls_net, ENOBUFS) and per
 * user (the requester's real uid as a kuid, i.e. across every namespace
 * that user made; for a listener's children the listener's owner:
 * EDQUOT). One user, or one namespace, filling its cap leaves the others
 * working. Root may change them at run time; a lowered cap applies to new
 * requests only.
 */
static unsigned int atls_max_pending_net = ATLS_MAX_PENDING;
module_param_named(max_pending_net, atls_max_pending_net, uint, 0644);
MODULE_PARM_DESC(max_pending_net, "live requests per network namespace (ENOBUFS)");
static unsigned int atls_max_pending_user = ATLS_MAX_PENDING_USER;
module_param_named(max_pending_user, atls_max_pending_user, uint, 0644);
MODULE_PARM_DESC(max_pending_user, "live requests per user, all namespaces (EDQUOT)");

/*
 * One per user with live requests, in atls_user_hash under atls_req_lock;
 * freed when its last request finishes. Allocated before the lock is taken
 * (charged to the caller's memory cgroup) and used only if the user has none.
 */
struct atls_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int nlive;
	u64 served;		/* atls_accept_seq at its last ACCEPT, 0: none */
};
static DEFINE_HASHTABLE(atls_user_hash, 6);
static u64 atls_accept_seq;		/* ACCEPTs that took a request */
static u64 atls_next_id = 1;		/* ids are never reused */
static struct workqueue_struct *atls_wq;

/*
 * The identity of current (D10), for a request or a listener's children.
 * Atomic context is fine (ATLS_LISTEN calls it under a spinlock): the cred
 * reference is a counter, and the cgroup is pinned by current's css_set,
 * which RCU keeps alive while we take our own reference.
 */
void atls_app_capture(struct atls_app *app)
{
	app->pid = task_tgid_nr(current);
	app->uid = current_uid();
	app->gid = current_gid();
	get_task_comm(app->comm, current);
	app->cred = get_current_cred();
	rcu_read_lock();
	app->cgrp = task_dfl_cgroup(current);
	cgroup_get(app->cgrp);
	rcu_read_unlock();
}

/* Any context: both puts defer the freeing (RCU, a work item). */
void atls_app_release(struct atls_app *app)
{
	if (app->cred)
		put_cred(app->cred);
	if (app->cgrp)
		cgroup_put(app->cgrp);
	app->cred = NULL;
	app->cgrp = NULL;
}

/*
 * Any context (the last put may come from ulp.c's hooks, in softirq): both
 * puts defer their freeing. The memory itself goes after an RCU grace
 * period: the hooks find the request through as->req under RCU, without
 * the socket lock, and take a reference only if one is left
 * (atls_req_conn_lost()).
 */
static void atls_req_free(struct atls_req *req)
{
	if (req->app_cred)
		put_cred(req->app_cred);
	if (req->app_cgrp)
		cgroup_put(req->app_cgrp);
	kfree_rcu(req, rcu);
}

void atls_req_put(struct atls_req *req)
{
	if (refcount_dec_and_test(&req->ref)) {
		sock_put(req->sk);
		atls_req_free(req);
	}
}

/*
 * The socket's side of a failure (@err a negative errno); process context,
 * no locks held, the caller keeps the socket alive (a file reference). The
 * first error sticks.
 *
 * Order: TCP first, then FAILED, then the pollers.
 *  - tcp_abort() (it takes the socket lock itself) sends a RST and moves
 *    TCP to CLOSE, so nothing from the peer can touch the socket after it:
 *    a peer's reset arriving later (it saw our alert and gave up too) would
 *    otherwise set sk_err to ECONNRESET after ours, and an application
 *    woken by FAILED could read that from SO_ERROR instead of the reason.
 *    Pollers it wakes meanwhile find the request still in flight (the gate
 *    hides everything) and sleep on.
 *  - Under the lock: FAILED, the errno, and sk_err = the errno, which is
 *    what SO_ERROR says, as after a failed connect(); also when TCP closed
 *    the connection earlier (a reset that set ECONNRESET).
 *  - sk_error_report() then wakes pollers (poll, epoll, SIGIO): the gate's
 *    poll says POLLERR from now on. tcp_abort() cannot be relied on for
 *    that: on a connection TCP has already closed (the peer's reset, which
 *    woke the pollers while the request still looked alive) it returns
 *    early on kernels with "tcp: Avoid closing the same socket twice"
 *    (6.12.y, 6.13+), and a poller asleep since the reset would sleep on to
 *    its timeout. It runs the socket's callback, ulp.c's hook while the
 *    request's is installed, which finds the request no longer PENDING.
 */
void atls_sock_fail(struct atls_sock *as, int err, u32 reason)
{
	struct sock *sk = as->sk;

	if (atls_state(as) == ATLS_STATE_FAILED)
		return;
	tcp_abort(sk, -err);
	lock_sock(sk);
	if (as->state == ATLS_STATE_FAILED) {
		release_sock(sk);
		return;
	}
	WRITE_ONCE(as->err, err);
	as->reason = reason;
	atls_set_state(as, ATLS_STATE_FAILED);
	WRITE_ONCE(sk->sk_err, -err);
	wake_up_all(&as->wq);
	release_sock(sk);
	sk_error_report(sk);
	atls_stat_inc(ATLS_STAT_FAILED);
	atls_stat_reason(reason);
}

/*
 * A reference on @file unless its last one is already gone (its release,
 * and with it our close hook, is then under way). Under atls_req_lock, on
 * the file of a PENDING request only: that keeps the struct file allocated.
 */
static bool atls_file_get_live(struct file *file)
{
	return atls_file_ref_get_live(file);
}

static struct atls_user *atls_user_find_locked(kuid_t uid)
{
	struct atls_user *u;

	hash_for_each_possible(atls_user_hash, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

static void atls_req_unlink_locked(struct atls_req *req)
{
	struct atls_user *u = req->user;

	if (req->state == ATLS_REQ_PENDING)
		list_del_init(&req->qnode);
	hash_del(&req->hnode);
	req->state = ATLS_REQ_FINISHED;
	atls_nlive--;
	atls_net(req->net)->nlive--;
	req->user = NULL;
	if (!--u->nlive) {
		hash_del(&u->node);
		kfree(u);
	}
}

/*
 * Under atls_req_lock. On success the caller holds one file reference, to
 * be dropped by atls_req_retire(): the request's own (ACCEPTED, INSTALLING)
 * or a new one (PENDING). A PENDING request whose file is being released is
 * not ours to end: the close hook ends it.
 */
static bool atls_req_finish_locked(struct atls_req *req, bool installer)
{
	if (installer ? req->state != ATLS_REQ_INSTALLING :
			(req->state != ATLS_REQ_PENDING &&
			 req->state != ATLS_REQ_ACCEPTED))
		return false;
	if (req->state == ATLS_REQ_PENDING && !atls_file_get_live(req->file))
		return false;
	atls_req_unlink_locked(req);
	return true;
}

/* The winner's last steps: unlink from the socket, timer, live ref. */
static void atls_req_unhook(struct atls_req *req)
{
	struct sock *sk = req->sk;

	lock_sock(sk);
	if (req->as->req == req)
		WRITE_ONCE(req->as->req, NULL);
	WRITE_ONCE(req->as->helper_tgid, 0);
	release_sock(sk);
	if (cancel_delayed_work(&req->timeout))
		atls_req_put(req);		/* the work's reference */
}

/* ... and the winner's file reference (not for the close hook's win). */
static void atls_req_retire(struct atls_req *req)
{
	atls_req_unhook(req);
	fput(req->file);			/* may close the socket */
	atls_req_put(req);			/* the live reference */
}

static void __atls_req_fail(struct atls_req *req, int err, u32 reason,
			    bool installer)
{
	bool was_accepted;
	bool won;

	spin_lock_bh(&atls_req_lock);
	was_accepted = req->state != ATLS_REQ_PENDING;
	won = atls_req_finish_locked(req, installer);
	spin_unlock_bh(&atls_req_lock);
	if (!won)
		return;
	if (reason == ATLS_REASON_TIMEOUT)
		trace_atls_req_timeout(req, was_accepted);
	trace_atls_req_failed(req, err, reason);
	if (reason == ATLS_REASON_TIMEOUT)
		atls_stat_inc(ATLS_STAT_TIMEOUTS);
	if (reason == ATLS_REASON_HELPER_DIED)
		atls_stat_inc(ATLS_STAT_HELPER_DIED);
	atls_sock_fail(req->as, err, reason);
	if (was_accepted && !installer && reason != ATLS_REASON_HELPER_DIED)
		atls_genl_abort(req->net, req->id, reason);
	atls_req_retire(req);
}

/* Timeout, helper death, failed ACCEPT reply. */
void atls_req_fail(struct atls_req *req, int err, u32 reason)
{
	__atls_req_fail(req, err, reason, false);
}

/* DONE, after atls_req_claim(): helper status, refused keys. */
void atls_req_done_fail(struct atls_req *req, int err, u32 reason)
{
	__atls_req_fail(req, err, reason, true);
}

/* DONE, after atls_req_claim() and a successful key installation. */
void atls_req_complete(struct atls_req *req)
{
	bool won;

	spin_lock_bh(&atls_req_lock);
	won = atls_req_finish_locked(req, true);
	spin_unlock_bh(&atls_req_lock);
	if (!won)
		return;
	trace_atls_req_ready(req);
	atls_stat_inc(ATLS_STAT_READY);
	atls_stat_reason(ATLS_REASON_OK);
	atls_req_retire(req);
}

static void atls_req_timeout(struct work_struct *work)
{
	struct atls_req *req = container_of(to_delayed_work(work),
					    struct atls_req, timeout);

	atls_req_fail(req, -ETIMEDOUT, ATLS_REASON_TIMEOUT);
	atls_req_put(req);			/* the work's reference */
}

/*
 * The TCP connection under a PENDING request is closed (reset, lost,
 * disconnected: ulp.c's hooks). No handshake can succeed on it any more:
 * end the request now rather than at its timeout, so that ATLS_STATUS,
 * poll() and a blocked ATLS_START all tell the same story (FAILED,
 * ECONNRESET, PEER_ABORTED) at once.
 */
static void atls_req_conn_lost_work(struct work_struct *work)
{
	struct atls_req *req = container_of(work, struct atls_req, conn_lost);

	atls_req_fail(req, -ECONNRESET, ATLS_REASON_PEER_ABORTED);
	atls_req_put(req);			/* the work's reference */
}

/*
 * From ulp.c's state-change/error-report hooks, under rcu_read_lock and
 * without the socket lock: an error report (a TX timestamp queued on the
 * error queue, sock_queue_err_skb()) may run on any CPU, from a qdisc or a
 * driver, while the request is being ended and freed on another. So
 * as->req is read once under RCU (the memory stays until a grace period
 * after the last put, atls_req_free()), and used only through a reference
 * taken while one is left. The work takes that reference over; queued at
 * most once (a second report finds it queued and drops its own).
 */
void atls_req_conn_lost(struct atls_sock *as)
{
	struct atls_req *req = READ_ONCE(as->req);
	bool live;

	if (!req || !refcount_inc_not_zero(&req->ref))
		return;
	spin_lock_bh(&atls_req_lock);
	/* An ACCEPTED request's helper sees the reset on its own socket and
	 * ends the request with the real reason (a peer that rejected our
	 * evidence resets after its alert: that must stay EACCES). */
	live = req->state == ATLS_REQ_PENDING;
	spin_unlock_bh(&atls_req_lock);
	if (!live || !queue_work(atls_wq, &req->conn_lost))
		atls_req_put(req);	/* may be the last: any context */
}

int atls_req_start(struct atls_sock *as, const struct atls_start *st,
		   const struct atls_app *owner)
{
	struct sock *sk = as->sk;
	struct net *net = sock_net(sk);
	struct atls_net *an = atls_net(net);
	struct atls_user *user, *spare;
	struct atls_req *req;
	int err;

	/* Both charged to the caller's memory cgroup, as the socket is. */
	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
	if (!req)
		return -ENOMEM;
	spare = kzalloc(sizeof(*spare), GFP_KERNEL_ACCOUNT);
	if (!spare) {
		kfree(req);
		return -ENOMEM;
	}
	refcount_set(&req->ref, 1);
	INIT_LIST_HEAD(&req->qnode);
	INIT_DELAYED_WORK(&req->timeout, atls_req_timeout);
	INIT_WORK(&req->conn_lost, atls_req_conn_lost_work);
	req->net = net;
	req->sk = sk;
	req->as = as;
	req->role = st->role;
	req->flags = st->flags;
	req->timeout_ms = st->timeout_ms;
	req->family = sk->sk_family;
	if (owner) {		/* a listener's child: its owner (listen.c) */
		req->app_pid = owner->pid;
		req->app_uid = owner->uid;
		req->app_gid = owner->gid;
		strscpy(req->app_comm, owner->comm, sizeof(req->app_comm));
		req->app_cred = get_cred(owner->cred);
		req->app_cgrp = owner->cgrp;
		cgroup_get(req->app_cgrp);
	} else {
		struct atls_app app;

		atls_app_capture(&app);
		req->app_pid = app.pid;
		req->app_uid = app.uid;
		req->app_gid = app.gid;
		strscpy(req->app_comm, app.comm, sizeof(req->app_comm));
		req->app_cred = app.cred;	/* the references move */
		req->app_cgrp = app.cgrp;
	}
	strscpy(req->policy, st->policy, sizeof(req->policy));
	strscpy(req->peer, st->peer, sizeof(req->peer));

	lock_sock(sk);
	err = -EALREADY;
	if (as->state != ATLS_STATE_NONE)
		goto unlock;
	err = -ENOTCONN;
	if (sk->sk_state != TCP_ESTABLISHED || !sk->sk_socket ||
	    !sk->sk_socket->file)
		goto unlock;
	err = -ESRCH;
	if (!atls_genl_has_helper(net)) {
		atls_stat_inc(ATLS_STAT_NO_HELPER);
		goto unlock;
	}
	spin_lock_bh(&atls_req_lock);
	if (an->nlive >= READ_ONCE(atls_max_pending_net)) {
		spin_unlock_bh(&atls_req_lock);
		err = -ENOBUFS;
		goto unlock;
	}
	user = atls_user_find_locked(req->app_uid);
	if (user && user->nlive >= READ_ONCE(atls_max_pending_user)) {
		spin_unlock_bh(&atls_req_lock);
		err = -EDQUOT;
		goto unlock;
	}
	if (!user) {
		user = spare;
		spare = NULL;
		user->uid = req->app_uid;
		hash_add(atls_user_hash, &user->node, __kuid_val(user->uid));
	}
	user->nlive++;
	req->user = user;
	an->nlive++;
	req->file = sk->sk_socket->file;	/* no reference while PENDING */
	sock_hold(sk);				/* dropped with the request */
	req->id = atls_next_id++;
	req->state = ATLS_REQ_PENDING;
	hash_add(atls_req_hash, &req->hnode, req->id);
	list_add_tail(&req->qnode, &atls_pending);
	atls_nlive++;
	/*
	 * Traced before the lock is dropped: from then on a helper's ACCEPT
	 * may take the request (after an earlier READY, or its own poll)
	 * before this READY goes out, and its trace must come after these.
	 */
	trace_atls_req_created(req, sk->sk_socket, owner != NULL);	/* under lock_sock */
	trace_atls_req_ready_sent(req->id, atls_nlive);
	refcount_inc(&req->ref);		/* for the timeout work */
	queue_delayed_work(atls_wq, &req->timeout,
			   msecs_to_jiffies(req->timeout_ms));
	spin_unlock_bh(&atls_req_lock);
	kfree(spare);
	smp_store_release(&as->req, req);	/* for atls_req_conn_lost() */
	atls_set_state(as, ATLS_STATE_PENDING);
	release_sock(sk);

	atls_stat_inc(ATLS_STAT_REQUESTS);
	atls_genl_ready(net);
	return 0;

unlock:
	release_sock(sk);
	kfree(spare);
	atls_req_free(req);
	return err;
}

/*
 * The request an ACCEPT of @net takes next, under atls_req_lock: of the
 * users with requests pending in @net, the one served least recently (one
 * never served yet first; among those, the one that asked first), and of
 * that user's requests the oldest. Users take turns: one user's flood
 * never makes another user's request wait behind it (netlink.rst,
 * "Namespaces and caps").
 * A scan of the pending queue, bounded by the caps as the queue is.
 */
static struct atls_req *atls_req_next_locked(struct net *net)
{
	struct atls_req *req, *best = NULL;

	list_for_each_entry(req, &atls_pending, qnode) {
		if (!net_eq(req->net, net) || req->file_dying)
			continue;
		if (!best || req->user->served < best->user->served)
			best = req;
		if (!best->user->served)
			break;		/* nothing comes before it */
	}
	return best;
}

/*
 * The next pending request of @net (atls_req_next_locked()) whose socket is
 * still open, now ACCEPTED by @portid. The request takes its file reference
 * here; the caller gets a reference on the request and a second one on the
 * file, for fd_install() (or to drop after atls_req_requeue()). Requests
 * whose socket is being closed are skipped: the close hook is about to end
 * them.
 */
struct atls_req *atls_req_accept(struct net *net, u32 portid)
{
	struct atls_req *req, *found = NULL;

	spin_lock_bh(&atls_req_lock);
	while ((req = atls_req_next_locked(net))) {
		if (!atls_file_get_live(req->file)) {
			/* Its close hook is under way and ends it. */
			req->file_dying = true;
			continue;
		}
		list_del_init(&req->qnode);
		req->state = ATLS_REQ_ACCEPTED;
		req->portid = portid;
		req->user->served = ++atls_accept_seq;
		refcount_inc(&req->ref);
		get_file(req->file);		/* the caller's */
		found = req;
		break;
	}
	spin_unlock_bh(&atls_req_lock);
	if (found)	/* ACCEPT runs in the helper's process */
		trace_atls_req_accepted(found, task_tgid_nr(current), portid);
	return found;
}

/*
 * ACCEPT could not hand the request out (no fd): back to the queue head,
 * PENDING again, so it gives up its file reference. The caller still holds
 * its own and drops it after this; if that is the last one (the app closed
 * meanwhile), the close hook ends the request. If the request ended in the
 * meantime, its winner dropped the request's reference.
 */
void atls_req_requeue(struct atls_req *req)
{
	bool requeued = false;

	spin_lock_bh(&atls_req_lock);
	if (req->state == ATLS_REQ_ACCEPTED) {
		req->state = ATLS_REQ_PENDING;
		req->portid = 0;
		list_add(&req->qnode, &atls_pending);
		requeued = true;
	}
	spin_unlock_bh(&atls_req_lock);
	if (requeued)
		fput(req->file);	/* the request's; the caller's keeps it open */
}

/*
 * The close hook (ulp.c), at the last fput of the socket's file, before
 * the atls_sock is freed and before kTLS and TCP close the connection. No
 * file reference is left, so no other winner is in flight (see the top of
 * this file) and no syscall of the application is inside the socket; as->req
 * is written only under such a reference, so it is stable here. A live
 * request is PENDING: dequeue and end it at once (APP_CLOSED). Nothing was
 * sent in clear (the gate held the app's bytes, no helper touched the
 * socket); the connection is aborted (RST) before kTLS's close runs, so
 * tcp_close() then finds it already closed.
 */
void atls_req_sock_closed(struct atls_sock *as)
{
	struct atls_req *req = as->req;
	bool won = false;

	if (!req)
		return;
	spin_lock_bh(&atls_req_lock);
	if (req->state == ATLS_REQ_PENDING) {
		atls_req_unlink_locked(req);
		won = true;
	}
	spin_unlock_bh(&atls_req_lock);
	if (WARN_ON_ONCE(!won))
		return;
	atls_stat_inc(ATLS_STAT_ABANDONED);
	trace_atls_req_failed(req, -ECONNABORTED, ATLS_REASON_APP_CLOSED);
	atls_sock_fail(as, -ECONNABORTED, ATLS_REASON_APP_CLOSED);
	atls_req_unhook(req);
	atls_req_put(req);			/* the live reference */
}

/* A reference on live request @id, or ERR_PTR(-ENOENT / -ESTALE). */
struct atls_req *atls_req_lookup(u64 id)
{
	struct atls_req *req;

	spin_lock_bh(&atls_req_lock);
	hash_for_each_possible(atls_req_hash, req, hnode, id) {
		if (req->id == id) {
			refcount_inc(&req->ref);
			spin_unlock_bh(&atls_req_lock);
			return req;
		}
	}
	req = ERR_PTR(id && id < atls_next_id ? -ESTALE : -ENOENT);
	spin_unlock_bh(&atls_req_lock);
	return req;
}

/* Under atls_req_lock: 0, -EPERM (not @portid's) or -ESTALE (ended). */
static int atls_req_owner_locked(const struct atls_req *req, u32 portid)
{
	if (req->state == ATLS_REQ_FINISHED || req->state == ATLS_REQ_INSTALLING)
		return -ESTALE;
	if (req->state != ATLS_REQ_ACCEPTED || req->portid != portid)
		return -EPERM;
	return 0;
}

/* May @portid complete @req? 0, -EPERM (not its helper) or -ESTALE. */
int atls_req_owner(struct atls_req *req, u32 portid)
{
	int err;

	spin_lock_bh(&atls_req_lock);
	err = atls_req_owner_locked(req, portid);
	spin_unlock_bh(&atls_req_lock);
	return err;
}

/*
 * ACCEPTED -> INSTALLING for @portid: from here only DONE can end it.
 * 0, or atls_req_owner()'s errors.
 */
int atls_req_claim(struct atls_req *req, u32 portid)
{
	int err;

	spin_lock_bh(&atls_req_lock);
	err = atls_req_owner_locked(req, portid);
	if (!err)
		req->state = ATLS_REQ_INSTALLING;
	spin_unlock_bh(&atls_req_lock);
	return err;
}

/* Netlink port @portid of @net closed: its accepted requests die. */
void atls_req_helper_gone(struct net *net, u32 portid)
{
	struct atls_req *req;
	struct hlist_node *tmp;
	LIST_HEAD(dead);
	int bkt;

	spin_lock_bh(&atls_req_lock);
	hash_for_each_safe(atls_req_hash, bkt, tmp, req, hnode) {
		if (req->state != ATLS_REQ_ACCEPTED || req->portid != portid ||
		    !net_eq(req->net, net))
			continue;
		refcount_inc(&req->ref);
		list_add_tail(&req->qnode, &dead);	/* qnode is free when ACCEPTED */
	}
	spin_unlock_bh(&atls_req_lock);

	while (!list_empty(&dead)) {
		req = list_first_entry(&dead, struct atls_req, qnode);
		list_del_init(&req->qnode);
		atls_req_fail(req, -ECONNABORTED, ATLS_REASON_HELPER_DIED);
		atls_req_put(req);
	}
}

/* Live requests of the module (/proc/net/atls, traces). */
unsigned int atls_req_pending(void)
{
	return READ_ONCE(atls_nlive);
}

/* Live requests of @net (READY's ATLS_A_PENDING). */
unsigned int atls_req_pending_net(const struct net *net)
{
	return READ_ONCE(atls_net(net)->nlive);
}

int atls_req_init(void)
{
	atls_wq = alloc_workqueue("atls", WQ_UNBOUND, 0);
	return atls_wq ? 0 : -ENOMEM;
}

void atls_req_exit(void)
{
	destroy_workqueue(atls_wq);
}
