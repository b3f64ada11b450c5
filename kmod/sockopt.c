// SPDX-License-Identifier: GPL-2.0
/*
 * Socket options of an atls socket: the SOL_ATLS level (ATLS_START,
 * ATLS_STATUS, ATLS_PEER_INFO), the refusal of SOL_TLS to everyone but the
 * module's own key installation, and forwarding of every other level to
 * kTLS (which forwards to TCP).
 *
 * Two places. Our proto copies (gate and ready) point .setsockopt and
 * .getsockopt at atls_setsockopt()/atls_getsockopt(): the SOL_TLS rules.
 * kTLS passes every other level to the proto it saved at its init
 * (ctx->sk_proto, TCP's), which ulp.c replaces by our copy of it, whose
 * .setsockopt and .getsockopt are atls_tcp_setsockopt()/atls_tcp_getsockopt():
 * SOL_ATLS and the TCP_ZEROCOPY_RECEIVE check. These therefore hold
 * whichever proto is in sk->sk_prot, also kTLS's own in the instant between
 * its update_sk_prot() and our re-wrap during key installation.
 * These run without the socket lock; ATLS_START takes it in request.c.
 *
 * No application call reaches kTLS's own getsockopt/setsockopt, not even
 * in that instant: the application's struct socket holds our gate
 * proto_ops until READY and our ready proto_ops after (the stand-in of
 * keys.c keeps kTLS's update_sk_prot() off it, at installation and at
 * every rekey), whose socket options come here directly
 * (atls_rops_getsockopt(), ready.c), never through sk->sk_prot; and here
 * atls_sk_call() finds our state also while kTLS's proto is in.
 */
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <linux/string.h>
#include <net/tcp.h>
#include <net/tls.h>

#include "atls.h"

static int atls_start_parse(struct atls_start *st, sockptr_t optval,
			    unsigned int optlen)
{
	int ret;

	if (optlen < ATLS_START_SIZE_VER0)
		return -EINVAL;
	if (optlen > sizeof(*st)) {
		ret = check_zeroed_sockptr(optval, sizeof(*st), optlen - sizeof(*st));
		if (ret < 0)
			return ret;
		if (!ret)
			return -E2BIG;
	}
	memset(st, 0, sizeof(*st));
	if (copy_from_sockptr(st, optval, min_t(unsigned int, optlen, sizeof(*st))))
		return -EFAULT;
	if (st->size != optlen)
		return -EINVAL;
	if (st->flags & ~ATLS_START_F_ALL)
		return -EINVAL;
	if (st->role != ATLS_ROLE_CLIENT && st->role != ATLS_ROLE_SERVER)
		return -EINVAL;
	if (st->timeout_ms > ATLS_TIMEOUT_MAX_MS)
		return -EINVAL;
	if (!memchr(st->policy, 0, sizeof(st->policy)) ||
	    !memchr(st->peer, 0, sizeof(st->peer)))
		return -EINVAL;
	if (!st->timeout_ms)
		st->timeout_ms = ATLS_TIMEOUT_DEFAULT_MS;
	if (!st->policy[0])
		strscpy(st->policy, "default", sizeof(st->policy));
	return 0;
}

static int atls_sockopt_start(struct atls_sock *as, sockptr_t optval,
			      unsigned int optlen)
{
	struct socket *sock = as->sk->sk_socket;
	struct atls_start st;
	bool nonblock;
	int err;

	err = atls_start_parse(&st, optval, optlen);
	if (err)
		return err;
	err = atls_req_start(as, &st, NULL);
	if (err)
		return err;
	nonblock = (st.flags & ATLS_START_F_NONBLOCK) ||
		   (sock && sock->file && (sock->file->f_flags & O_NONBLOCK));
	if (nonblock)
		return -EINPROGRESS;
	/* The request goes on if we are interrupted: connect()-like. */
	if (wait_event_interruptible(as->wq,
				     atls_state(as) == ATLS_STATE_READY ||
				     atls_state(as) == ATLS_STATE_FAILED))
		return -EINTR;
	if (atls_state(as) == ATLS_STATE_FAILED)
		return READ_ONCE(as->err);
	return 0;
}

int atls_setsockopt(struct sock *sk, int level, int optname,
		    sockptr_t optval, unsigned int optlen)
{
	struct atls_sock *as;
	bool gated;

	as = atls_sk_call(sk, &gated);	/* never kTLS's own: no SOL_TLS */
	if (level == SOL_TLS && READ_ONCE(as->installer) != current) {
		/* Only the DONE handler installs keys; after READY the app may
		 * still tune kTLS (TLS_RX_EXPECT_NO_PAD, TLS_TX_ZEROCOPY_RO). */
		if (gated || (optname != TLS_TX_ZEROCOPY_RO &&
			      optname != TLS_RX_EXPECT_NO_PAD))
			return -EPERM;
	}
	if (gated)
		return as->tls_base->setsockopt(sk, level, optname, optval, optlen);
	return as->tls_final->setsockopt(sk, level, optname, optval, optlen);
}

static int atls_put_opt(char __user *optval, int __user *optlen,
			const void *v, int size)
{
	int len;

	if (get_user(len, optlen))
		return -EFAULT;
	if (len < size)
		return -EINVAL;
	if (put_user(size, optlen) || copy_to_user(optval, v, size))
		return -EFAULT;
	return 0;
}

static int atls_getsockopt_atls(struct atls_sock *as, int optname,
				char __user *optval, int __user *optlen)
{
	struct atls_peer_info pi;
	struct atls_status st;
	int err;

	switch (optname) {
	case ATLS_STATUS:
		lock_sock(as->sk);
		st = (struct atls_status) {
			.state = as->state,
			.error = -as->err,	/* positive in the uAPI */
			.reason = as->reason,
		};
		release_sock(as->sk);
		return atls_put_opt(optval, optlen, &st, sizeof(st));
	case ATLS_PEER_INFO:
		lock_sock(as->sk);
		if (!as->have_peer) {
			release_sock(as->sk);
			return -ENODATA;
		}
		pi = as->peer;
		release_sock(as->sk);
		err = atls_put_opt(optval, optlen, &pi, sizeof(pi));
		memzero_explicit(&pi, sizeof(pi));
		return err;
	default:
		return -ENOPROTOOPT;
	}
}

int atls_getsockopt(struct sock *sk, int level, int optname,
		    char __user *optval, int __user *optlen)
{
	struct atls_sock *as;
	bool gated;

	as = atls_sk_call(sk, &gated);	/* never kTLS's own: no key */
	/*
	 * TLS_TX/TLS_RX return the whole crypto_info, key included: never.
	 * Once ready, the two tuning flags an application may set can also be
	 * read back; every other SOL_TLS option stays refused (an option a
	 * later kernel adds is not known to be key-free).
	 */
	if (level == SOL_TLS) {
		if (gated || (optname != TLS_TX_ZEROCOPY_RO &&
			      optname != TLS_RX_EXPECT_NO_PAD))
			return -EPERM;
		return as->tls_final->getsockopt(sk, level, optname, optval, optlen);
	}
	if (gated)
		return as->tls_base->getsockopt(sk, level, optname, optval, optlen);
	return as->tls_final->getsockopt(sk, level, optname, optval, optlen);
}

/* Every level but SOL_TLS, from kTLS, whatever proto is current. */
int atls_tcp_setsockopt(struct sock *sk, int level, int optname,
			sockptr_t optval, unsigned int optlen)
{
	struct atls_sock *as = atls_sock_of(sk);

	if (level == SOL_ATLS) {
		if (optname != ATLS_START)
			return -ENOPROTOOPT;
		return atls_sockopt_start(as, optval, optlen);
	}
	return as->tcp_orig->setsockopt(sk, level, optname, optval, optlen);
}

int atls_tcp_getsockopt(struct sock *sk, int level, int optname,
			char __user *optval, int __user *optlen)
{
	struct atls_sock *as = atls_sock_of(sk);

	if (level == SOL_ATLS)
		return atls_getsockopt_atls(as, optname, optval, optlen);
	/*
	 * Zero-copy receive maps the raw receive queue: not before READY,
	 * decided by state, not by which proto is in (the ready one is in
	 * from TLS_TX on, while TLS_RX is still being installed, and kTLS's
	 * own for an instant after each).
	 */
	if (level == SOL_TCP && optname == TCP_ZEROCOPY_RECEIVE &&
	    atls_state(as) != ATLS_STATE_READY && !atls_is_helper(as))
		return -EPERM;
	return as->tcp_orig->getsockopt(sk, level, optname, optval, optlen);
}
