// SPDX-License-Identifier: GPL-2.0
/*
 * Requests: one per ATLS_START, from the queue to a helper to completion.
 *
 *   PENDING --ACCEPT--> ACCEPTED --DONE claims--> INSTALLING --> FINISHED
 *      |                   |                                       ^
 *      +---- timeout, app closed (seen at ACCEPT) ----------------+
 *                          +---- timeout, helper died -------------+
 *
 * One winner: every path that ends a request takes atls_req_lock and moves
 * the request to FINISHED only from a state it is allowed to leave (the DONE
 * handler only from INSTALLING, which it claimed; everyone else only from
 * PENDING or ACCEPTED). The loser does nothing. The winner then updates the
 * socket (under lock_sock), cancels the timer and drops the request's file
 * reference, which may close the socket if the app already did.
 *
 * References on a request: one for being live (dropped by the winner), one
 * for the queued timeout work (dropped by the work, or by whoever cancels it
 * before it ran), and temporary ones taken under atls_req_lock by lookups.
 *
 * The request holds a reference on the socket's struct file from ATLS_START
 * to FINISHED, so its socket, and the atls_sock, outlive it. A request whose
 * file reference is the last one was abandoned by the application; ACCEPT
 * skips and fails it. Work items run on a module workqueue, destroyed at
 * unload; no request can exist then (each holds a socket, which holds the
 * module through its ULP).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/hashtable.h>
#include <linux/file.h>
#include <linux/cred.h>
#include <linux/sched.h>
#include <net/tcp.h>

#include "atls.h"

static DEFINE_SPINLOCK(atls_req_lock);
static DEFINE_HASHTABLE(atls_req_hash, 8);
static LIST_HEAD(atls_pending);
static unsigned int atls_nlive;		/* requests not FINISHED */
static u64 atls_next_id = 1;		/* ids are never reused */
static struct workqueue_struct *atls_wq;

int atls_reason_errno(u32 reason)
{
	switch (reason) {
	case ATLS_REASON_NO_HELPER:		return ESRCH;
	case ATLS_REASON_TIMEOUT:		return ETIMEDOUT;
	case ATLS_REASON_HELPER_DIED:
	case ATLS_REASON_APP_CLOSED:
	case ATLS_REASON_SHUTDOWN:		return ECONNABORTED;
	case ATLS_REASON_PEER_ABORTED:
	case ATLS_REASON_PEER_ALERT:		return ECONNRESET;
	case ATLS_REASON_PEER_CERT:		return EKEYREJECTED;
	case ATLS_REASON_EVIDENCE_MISSING:
	case ATLS_REASON_EVIDENCE_INVALID:
	case ATLS_REASON_AK_UNTRUSTED:
	case ATLS_REASON_PCR_MISMATCH:
	case ATLS_REASON_FRESHNESS:		return EACCES;
	case ATLS_REASON_POLICY_UNKNOWN:	return ENOENT;
	case ATLS_REASON_LOCAL_TPM:		return EIO;
	case ATLS_REASON_KEY_UPDATE:
	case ATLS_REASON_RECORD_LIMIT:		return EKEYEXPIRED;
	default:				return EPROTO;
	}
}

void atls_req_put(struct atls_req *req)
{
	if (refcount_dec_and_test(&req->ref))
		kfree(req);
}

/*
 * The socket's side of a failure; process context, no locks held, the
 * caller keeps the socket alive (a file reference). The first error sticks.
 * tcp_abort() takes the socket lock itself: it sends a RST, sets sk_err and
 * wakes every waiter and poller.
 */
void atls_sock_fail(struct atls_sock *as, int err, u32 reason)
{
	struct sock *sk = as->sk;

	lock_sock(sk);
	if (as->state == ATLS_STATE_FAILED) {
		release_sock(sk);
		return;
	}
	WRITE_ONCE(as->err, err);
	as->reason = reason;
	atls_set_state(as, ATLS_STATE_FAILED);
	wake_up_all(&as->wq);
	release_sock(sk);
	atls_stat_inc(ATLS_STAT_FAILED);
	atls_stat_reason(reason);
	tcp_abort(sk, err);
}

/* Under atls_req_lock. */
static bool atls_req_finish_locked(struct atls_req *req, bool installer)
{
	if (installer ? req->state != ATLS_REQ_INSTALLING :
			(req->state != ATLS_REQ_PENDING &&
			 req->state != ATLS_REQ_ACCEPTED))
		return false;
	if (req->state == ATLS_REQ_PENDING)
		list_del_init(&req->qnode);
	hash_del(&req->hnode);
	req->state = ATLS_REQ_FINISHED;
	atls_nlive--;
	return true;
}

/* The winner's last steps: unlink from the socket, timer, file, live ref. */
static void atls_req_retire(struct atls_req *req)
{
	struct sock *sk = req->sk;

	lock_sock(sk);
	if (req->as->req == req)
		req->as->req = NULL;
	WRITE_ONCE(req->as->helper_tgid, 0);
	release_sock(sk);
	if (cancel_delayed_work(&req->timeout))
		atls_req_put(req);		/* the work's reference */
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
		atls_stat_inc(ATLS_STAT_TIMEOUTS);
	if (reason == ATLS_REASON_HELPER_DIED)
		atls_stat_inc(ATLS_STAT_HELPER_DIED);
	atls_sock_fail(req->as, err, reason);
	if (was_accepted && !installer && reason != ATLS_REASON_HELPER_DIED)
		atls_genl_abort(req->net, req->id, reason);
	atls_req_retire(req);
}

/* Timeout, helper death, abandoned socket, failed ACCEPT reply. */
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
	atls_stat_inc(ATLS_STAT_READY);
	atls_stat_reason(ATLS_REASON_OK);
	atls_req_retire(req);
}

static void atls_req_timeout(struct work_struct *work)
{
	struct atls_req *req = container_of(to_delayed_work(work),
					    struct atls_req, timeout);

	atls_req_fail(req, ETIMEDOUT, ATLS_REASON_TIMEOUT);
	atls_req_put(req);			/* the work's reference */
}

int atls_req_start(struct atls_sock *as, const struct atls_start *st)
{
	struct sock *sk = as->sk;
	struct net *net = sock_net(sk);
	struct atls_req *req;
	int err;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	refcount_set(&req->ref, 1);
	INIT_LIST_HEAD(&req->qnode);
	INIT_DELAYED_WORK(&req->timeout, atls_req_timeout);
	req->net = net;
	req->sk = sk;
	req->as = as;
	req->role = st->role;
	req->flags = st->flags;
	req->timeout_ms = st->timeout_ms;
	req->family = sk->sk_family;
	req->app_pid = task_tgid_nr(current);
	req->app_uid = current_uid();
	req->app_gid = current_gid();
	get_task_comm(req->app_comm, current);
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
	if (atls_nlive >= ATLS_MAX_PENDING) {
		spin_unlock_bh(&atls_req_lock);
		err = -ENOBUFS;
		goto unlock;
	}
	req->file = get_file(sk->sk_socket->file);
	req->id = atls_next_id++;
	req->state = ATLS_REQ_PENDING;
	hash_add(atls_req_hash, &req->hnode, req->id);
	list_add_tail(&req->qnode, &atls_pending);
	atls_nlive++;
	refcount_inc(&req->ref);		/* for the timeout work */
	queue_delayed_work(atls_wq, &req->timeout,
			   msecs_to_jiffies(req->timeout_ms));
	spin_unlock_bh(&atls_req_lock);
	as->req = req;
	atls_set_state(as, ATLS_STATE_PENDING);
	release_sock(sk);

	atls_stat_inc(ATLS_STAT_REQUESTS);
	atls_genl_ready(net);
	return 0;

unlock:
	release_sock(sk);
	kfree(req);
	return err;
}

/*
 * Oldest pending request of @net, now ACCEPTED by @portid. The caller gets a
 * reference on the request and one on its file (taken while the request
 * still holds its own, so the socket cannot be closed under the caller even
 * if the request is failed concurrently).
 */
struct atls_req *atls_req_accept(struct net *net, u32 portid)
{
	struct atls_req *req, *found = NULL;

	spin_lock_bh(&atls_req_lock);
	list_for_each_entry(req, &atls_pending, qnode) {
		if (!net_eq(req->net, net))
			continue;
		list_del_init(&req->qnode);
		req->state = ATLS_REQ_ACCEPTED;
		req->portid = portid;
		refcount_inc(&req->ref);
		get_file(req->file);
		found = req;
		break;
	}
	spin_unlock_bh(&atls_req_lock);
	return found;
}

/* ACCEPT could not hand the request out (no fd): back to the queue head. */
void atls_req_requeue(struct atls_req *req)
{
	spin_lock_bh(&atls_req_lock);
	if (req->state == ATLS_REQ_ACCEPTED) {
		req->state = ATLS_REQ_PENDING;
		req->portid = 0;
		list_add(&req->qnode, &atls_pending);
	}
	spin_unlock_bh(&atls_req_lock);
}

/* Referenced by nobody but the request and the ACCEPT caller? */
bool atls_req_abandoned(const struct atls_req *req)
{
	return file_count(req->file) <= 2;
}

/* A reference on live request @id, or NULL with ENOENT / ESTALE. */
struct atls_req *atls_req_lookup(u64 id, int *err)
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
	*err = id && id < atls_next_id ? -ESTALE : -ENOENT;
	spin_unlock_bh(&atls_req_lock);
	return NULL;
}

/* May @portid complete @req? 0, -EPERM (not its helper) or -ESTALE. */
int atls_req_owner(struct atls_req *req, u32 portid)
{
	int err = 0;

	spin_lock_bh(&atls_req_lock);
	if (req->state == ATLS_REQ_FINISHED || req->state == ATLS_REQ_INSTALLING)
		err = -ESTALE;
	else if (req->state != ATLS_REQ_ACCEPTED || req->portid != portid)
		err = -EPERM;
	spin_unlock_bh(&atls_req_lock);
	return err;
}

/* ACCEPTED -> INSTALLING for @portid: from here only DONE can end it. */
bool atls_req_claim(struct atls_req *req, u32 portid, int *err)
{
	bool ok = false;

	spin_lock_bh(&atls_req_lock);
	if (req->state == ATLS_REQ_FINISHED || req->state == ATLS_REQ_INSTALLING) {
		*err = -ESTALE;
	} else if (req->state != ATLS_REQ_ACCEPTED || req->portid != portid) {
		*err = -EPERM;
	} else {
		req->state = ATLS_REQ_INSTALLING;
		ok = true;
	}
	spin_unlock_bh(&atls_req_lock);
	return ok;
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
		atls_req_fail(req, ECONNABORTED, ATLS_REASON_HELPER_DIED);
		atls_req_put(req);
	}
}

unsigned int atls_req_pending(void)
{
	return READ_ONCE(atls_nlive);
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
