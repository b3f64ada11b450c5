// SPDX-License-Identifier: GPL-2.0
/*
 * The gate: from ULP attach until keys are installed, no application byte
 * reaches the wire and none is read from it.
 *
 * Every path that moves bytes is covered: struct proto .sendmsg (send,
 * write, and on 6.5+ sendfile/splice via MSG_SPLICE_PAGES), .recvmsg,
 * .sendpage (6.1: sendfile and splice to the socket), and in struct
 * proto_ops .splice_read (splice from the socket reads the TCP queue
 * directly), .read_sock (in-kernel readers) and .poll (a gated socket is
 * reported neither readable nor writable, so event loops do not spin on
 * EAGAIN); the lock-holding senders of proto_ops are removed. After READY,
 * ready.c's copy of kTLS's final proto_ops takes over (the same paths
 * closed); its .splice_read reads through the record layer as recv does.
 *
 * Our proto_ops copy stays the socket's from ULP attach until READY, also
 * while kTLS installs the keys (keys.c keeps kTLS's update_sk_prot() off
 * the real struct socket), and every entry of it that could lead into
 * kTLS's tables decides by our state, never by which struct proto
 * sk->sk_prot is at the moment (kTLS's own, for an instant, inside each
 * key installation): sendmsg, recvmsg, sendpage, splice_read, splice_eof,
 * read_sock, poll, ioctl, getsockopt and setsockopt. They find the
 * atls_sock through kTLS's saved proto (atls_sock_of()), which neither
 * kTLS's swaps nor ours change.
 *
 * A gated call either fails with the socket's sticky error, or waits (or
 * returns EAGAIN when it may not wait) until the request completes, then
 * re-reads sk->sk_prot and dispatches to whatever is installed by then:
 * kTLS's tls_sw_* behind our ready wrapper. The helper that accepted the
 * request (by tgid) passes straight through to kTLS's TLS_BASE ops, which are
 * TCP's, to run the handshake on the same socket.
 */
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/splice.h>
#include <linux/poll.h>
#include <linux/sockios.h>
#include <linux/uaccess.h>
#include <asm/ioctls.h>
#include <net/tcp.h>

#include "atls.h"

/*
 * Wait until the request leaves PENDING/ACCEPTED (or NONE). 0: re-dispatch.
 * The condition is our state, not sk_prot: the DONE handler publishes READY
 * only after the final proto is wrapped, so a woken waiter never sees kTLS's
 * half-installed (TX only) proto.
 */
int atls_gate_wait(struct atls_sock *as, long timeo)
{
	long r;
	int st = atls_state(as);

	if (st == ATLS_STATE_FAILED)
		return READ_ONCE(as->err);
	if (st == ATLS_STATE_READY)
		return 0;
	if (!timeo)
		return -EAGAIN;
	r = wait_event_interruptible_timeout(as->wq,
			atls_state(as) == ATLS_STATE_READY ||
			atls_state(as) == ATLS_STATE_FAILED, timeo);
	if (r < 0)
		return sock_intr_errno(timeo);
	if (r == 0)
		return -EAGAIN;
	if (atls_state(as) == ATLS_STATE_FAILED)
		return READ_ONCE(as->err);
	return 0;
}

/*
 * The gate of the struct proto data paths: which proto the call goes to.
 * Not gated (any more): the one installed now (our ready wrapper). The
 * helper: kTLS's TLS_BASE proto (TCP's data paths). Anyone else waits
 * first; then it is the first case, or the sticky error.
 */
static const struct proto *atls_gate_pass(struct sock *sk, long timeo)
{
	struct atls_sock *as;
	bool gated;
	int err;

	for (;;) {
		as = atls_sk_call(sk, &gated);	/* also inside a rekey */
		if (!gated)
			return &as->ready;
		if (atls_is_helper(as))
			return as->tls_base;
		err = atls_gate_wait(as, timeo);
		if (err)
			return ERR_PTR(err);
	}
}

static int atls_gate_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	const struct proto *p;

	p = atls_gate_pass(sk, sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT));
	if (IS_ERR(p))
		return PTR_ERR(p);
	return p->sendmsg(sk, msg, len);
}

static int atls_gate_recvmsg(ATLS_RECVMSG_PARAMS)
{
	const struct proto *p;

	p = atls_gate_pass(sk, sock_rcvtimeo(sk, flags & MSG_DONTWAIT));
	if (IS_ERR(p))
		return PTR_ERR(p);
	return atls_call_recvmsg(p, sk, msg, len, flags, addr_len);
}

#ifdef ATLS_HAVE_SENDPAGE
static int atls_gate_sendpage(struct sock *sk, struct page *page, int offset,
			      size_t size, int flags)
{
	const struct proto *p;

	p = atls_gate_pass(sk, sock_sndtimeo(sk, flags & MSG_DONTWAIT));
	if (IS_ERR(p))
		return PTR_ERR(p);
	if (!p->sendpage)
		return sock_no_sendpage(sk->sk_socket, page, offset, size, flags);
	return p->sendpage(sk, page, offset, size, flags);
}
#endif

/*
 * Which way a call through our gate proto_ops goes: READY: our ready
 * proto_ops (ready.c), built before READY is published; HELPER: the helper
 * running the handshake, before the keys start going in: kTLS's TLS_BASE
 * ops, which reach our gate proto (sk->sk_prot is ours until then) and
 * through it TCP's; GATED: everyone else, and the helper too from the
 * start of the installation on.
 */
enum atls_way { ATLS_WAY_READY, ATLS_WAY_HELPER, ATLS_WAY_GATED };

static enum atls_way atls_gate_way(struct atls_sock *as)
{
	if (atls_state(as) == ATLS_STATE_READY)
		return ATLS_WAY_READY;
	if (atls_is_helper(as) && !READ_ONCE(as->installing))
		return ATLS_WAY_HELPER;
	return ATLS_WAY_GATED;
}

static int atls_gops_sendmsg(struct socket *sock, struct msghdr *msg,
			     size_t len)
{
	struct atls_sock *as = atls_sock_of(sock->sk);
	int err;

	for (;;) {
		switch (atls_gate_way(as)) {
		case ATLS_WAY_READY:
			return as->rops.sendmsg(sock, msg, len);
		case ATLS_WAY_HELPER:
			return as->tls_base_ops->sendmsg(sock, msg, len);
		default:
			break;
		}
		err = atls_gate_wait(as, sock_sndtimeo(sock->sk,
					msg->msg_flags & MSG_DONTWAIT));
		if (err)
			return err;
	}
}

static int atls_gops_recvmsg(struct socket *sock, struct msghdr *msg,
			     size_t len, int flags)
{
	struct atls_sock *as = atls_sock_of(sock->sk);
	int err;

	for (;;) {
		switch (atls_gate_way(as)) {
		case ATLS_WAY_READY:
			return as->rops.recvmsg(sock, msg, len, flags);
		case ATLS_WAY_HELPER:
			return as->tls_base_ops->recvmsg(sock, msg, len, flags);
		default:
			break;
		}
		err = atls_gate_wait(as, sock_rcvtimeo(sock->sk,
						       flags & MSG_DONTWAIT));
		if (err)
			return err;
	}
}

#ifdef ATLS_HAVE_SENDPAGE
static ssize_t atls_gops_sendpage(struct socket *sock, struct page *page,
				  int offset, size_t size, int flags)
{
	struct atls_sock *as = atls_sock_of(sock->sk);
	int err;

	for (;;) {
		switch (atls_gate_way(as)) {
		case ATLS_WAY_READY:
			return as->rops.sendpage(sock, page, offset, size, flags);
		case ATLS_WAY_HELPER:
			return as->tls_base_ops->sendpage(sock, page, offset,
							  size, flags);
		default:
			break;
		}
		err = atls_gate_wait(as, sock_sndtimeo(sock->sk,
						       flags & MSG_DONTWAIT));
		if (err)
			return err;
	}
}
#endif

/*
 * splice_eof: kTLS's pushes a record MSG_MORE left open. While gated no
 * send has reached kTLS, so there is nothing to push.
 */
static void atls_gops_splice_eof(struct socket *sock)
{
	struct atls_sock *as = atls_sock_of(sock->sk);

	switch (atls_gate_way(as)) {
	case ATLS_WAY_READY:
		if (as->rops.splice_eof)
			as->rops.splice_eof(sock);
		return;
	case ATLS_WAY_HELPER:
		if (as->tls_base_ops->splice_eof)
			as->tls_base_ops->splice_eof(sock);
		return;
	default:
		return;
	}
}

/*
 * Socket options. Once READY: our ready proto_ops (kTLS's final, through
 * our ready proto: sockopt.c's atls_getsockopt()/atls_setsockopt(), the
 * two SOL_TLS tuning options allowed). Before: SOL_TLS is refused to
 * everyone (the module installs the keys by calling kTLS itself, keys.c),
 * every other level goes to our copy of kTLS's saved proto (sockopt.c:
 * SOL_ATLS, the zero-copy receive check, TCP's options), as kTLS's own
 * tls_getsockopt()/tls_setsockopt() would pass it; so ATLS_STATUS answers
 * throughout the installation. SOL_SOCKET never comes here.
 */
static int atls_gops_getsockopt(struct socket *sock, int level, int optname,
				char __user *optval, int __user *optlen)
{
	struct atls_sock *as = atls_sock_of(sock->sk);

	if (atls_state(as) == ATLS_STATE_READY)
		return as->rops.getsockopt(sock, level, optname, optval, optlen);
	if (level == SOL_TLS)
		return -EPERM;
	return atls_tcp_getsockopt(sock->sk, level, optname, optval, optlen);
}

static int atls_gops_setsockopt(struct socket *sock, int level, int optname,
				sockptr_t optval, unsigned int optlen)
{
	struct atls_sock *as = atls_sock_of(sock->sk);

	if (atls_state(as) == ATLS_STATE_READY)
		return as->rops.setsockopt(sock, level, optname, optval, optlen);
	if (level == SOL_TLS)
		return -EPERM;
	return atls_tcp_setsockopt(sock->sk, level, optname, optval, optlen);
}

/*
 * ioctl: SIOCINQ (FIONREAD) is 0 while gated (as poll says not readable),
 * our ready answer once READY, TCP's for the helper. The rest (SIOCOUTQ,
 * SIOCATMARK, the generic socket ioctls) are inet_ioctl()'s: counts of the
 * wire's bytes, the same from every proto.
 */
static int atls_gops_ioctl(struct socket *sock, unsigned int cmd,
			   unsigned long arg)
{
	struct atls_sock *as = atls_sock_of(sock->sk);

	switch (atls_gate_way(as)) {
	case ATLS_WAY_READY:
		return as->rops.ioctl(sock, cmd, arg);
	case ATLS_WAY_HELPER:
		break;
	default:
		if (cmd == SIOCINQ)
			return put_user(0, (int __user *)arg);
		break;
	}
	return as->tls_base_ops->ioctl(sock, cmd, arg);
}

/*
 * splice(socket -> pipe): tcp_splice_read never calls sk_prot->recvmsg,
 * so this gate decides by state, not by which proto is current. A call
 * that waited here until READY reads through ready.c's record layer.
 */
static ssize_t atls_gate_splice_read(struct socket *sock, loff_t *ppos,
				     struct pipe_inode_info *pipe, size_t len,
				     unsigned int flags)
{
	struct atls_sock *as = atls_sock_of(sock->sk);
	bool nonblock;
	int err;

	for (;;) {
		switch (atls_gate_way(as)) {
		case ATLS_WAY_READY:
			return atls_ready_splice_read(as, sock, ppos, pipe, len,
						      flags);
		case ATLS_WAY_HELPER:
			return as->tls_base_ops->splice_read(sock, ppos, pipe,
							     len, flags);
		default:
			break;
		}
		nonblock = (flags & SPLICE_F_NONBLOCK) ||
			   (sock->file && (sock->file->f_flags & O_NONBLOCK));
		err = atls_gate_wait(as, sock_rcvtimeo(sock->sk, nonblock));
		if (err)
			return err;
	}
}

/*
 * read_sock: the in-kernel reader that strparser users (KCM, sockmap) and
 * kTLS's own receive path in copy mode call, under lock_sock. KCM and
 * sockmap cannot take an atls socket (ulp.c, atls_proto_copy()), so the
 * only caller is kTLS's parser once TLS_RX is in: on 6.1 it reads through
 * sk->sk_socket->ops, which stays this table until READY. So: kTLS's
 * final ops once READY, kTLS's table of the TLS_RX installation from then
 * on (as->ktls_ops, set under lock_sock by keys.c, as every caller holds),
 * nobody before.
 */
static int atls_gate_read_sock(struct sock *sk, read_descriptor_t *desc,
			       sk_read_actor_t recv_actor)
{
	struct atls_sock *as = atls_sock_of(sk);
	const struct proto_ops *ops;

	if (atls_state(as) == ATLS_STATE_READY)
		ops = READ_ONCE(as->rops_orig);
	else
		ops = READ_ONCE(as->ktls_rx_ops);
	if (!ops || !ops->read_sock)
		return -EOPNOTSUPP;
	return ops->read_sock(sk, desc, recv_actor);
}

/*
 * poll: register on the socket's wait queue through TCP's poll (kTLS's
 * TLS_BASE ops), then hide readability and writability until READY.
 * READY is published, then the socket's queue woken (keys.c), so a poller
 * that saw "not ready" here is polled again and then reaches our ready
 * poll. A failure publishes FAILED and then wakes the queue
 * (atls_sock_fail(), request.c): this poll says POLLERR from then on, also
 * where TCP closed the connection before the request failed.
 */
static __poll_t atls_gate_poll(struct file *file, struct socket *sock,
			       struct poll_table_struct *wait)
{
	struct atls_sock *as = atls_sock_of(sock->sk);
	__poll_t mask;
	int st;

	if (atls_state(as) == ATLS_STATE_READY)
		return as->rops.poll(file, sock, wait);
	mask = as->tls_base_ops->poll(file, sock, wait);
	st = atls_state(as);
	if (st == ATLS_STATE_READY)	/* registered above already */
		return as->rops.poll(file, sock, NULL);
	if (atls_gate_way(as) == ATLS_WAY_HELPER)
		return mask;
	if (st == ATLS_STATE_FAILED)
		return mask | EPOLLERR;
	mask &= ~(EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLPRI |
		  EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND);
	/*
	 * While a request is in flight POLLERR means "failed, read
	 * ATLS_STATUS" (like connect()), so TCP's own ERR/HUP stay hidden
	 * until the request has ended: a connection TCP closed (reset, lost)
	 * is failed by the hooks in ulp.c, which then wakes us again; a
	 * timestamp on the error queue (unreadable while gated) is not a
	 * failure at all. A socket we could not hook keeps TCP's bits.
	 */
	if (READ_ONCE(as->conn_hooked) &&
	    (st == ATLS_STATE_PENDING || st == ATLS_STATE_ACCEPTED))
		mask &= ~(EPOLLERR | EPOLLHUP);
	return mask;
}

/*
 * What both our proto copies (gate and ready) share: kTLS's proto with our
 * socket options, our SIOCINQ (ready.c), and no sockmap on atls sockets.
 */
void atls_proto_copy(struct proto *p, const struct proto *from)
{
	*p = *from;
	p->setsockopt = atls_setsockopt;
	p->getsockopt = atls_getsockopt;
	p->ioctl = atls_ioctl;
#ifdef CONFIG_BPF_SYSCALL
	p->psock_update_sk_prot = NULL;
#endif
}

/*
 * What both our proto_ops copies (gate and ready) leave out: the in-kernel
 * senders that hold the socket lock (.sendmsg_locked, 6.1's
 * .sendpage_locked: skb_send_sock_locked() of sockmap redirection) would
 * write to TCP, in clear while gated and, for kTLS's .sendmsg_locked, also
 * after READY (TCP's): none (kernel_sendmsg_locked() then fails with
 * EOPNOTSUPP). .read_skb (sockmap's verdict reader): none either.
 */
void atls_ops_strip(struct proto_ops *ops)
{
	ops->read_skb = NULL;
	ops->sendmsg_locked = NULL;
#ifdef ATLS_HAVE_SENDPAGE
	ops->sendpage_locked = NULL;
#endif
}

/*
 * Copies made under lock_sock by the ULP init; close is set by ulp.c. The
 * proto_ops copy is the socket's until READY (keys.c), whatever kTLS does
 * meanwhile; it starts from kTLS's TLS_BASE table (TCP's entries) and
 * never changes after this.
 */
void atls_gate_build(struct atls_sock *as)
{
	atls_proto_copy(&as->gate, as->tls_base);
	as->gate.sendmsg = atls_gate_sendmsg;
	as->gate.recvmsg = atls_gate_recvmsg;
	as->gate.splice_eof = NULL;	/* nothing may be flushed while gated */
#ifdef ATLS_HAVE_SENDPAGE
	as->gate.sendpage = atls_gate_sendpage;
#endif
	as->gops_orig = as->tls_base_ops;
	as->gops = *as->tls_base_ops;
	as->gops.sendmsg = atls_gops_sendmsg;
	as->gops.recvmsg = atls_gops_recvmsg;
#ifdef ATLS_HAVE_SENDPAGE
	as->gops.sendpage = atls_gops_sendpage;
#endif
	as->gops.splice_read = atls_gate_splice_read;
	as->gops.splice_eof = atls_gops_splice_eof;
	as->gops.read_sock = atls_gate_read_sock;
	as->gops.poll = atls_gate_poll;
	as->gops.ioctl = atls_gops_ioctl;
	as->gops.getsockopt = atls_gops_getsockopt;
	as->gops.setsockopt = atls_gops_setsockopt;
	atls_ops_strip(&as->gops);
}
