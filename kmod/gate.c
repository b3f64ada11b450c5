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
		as = atls_sk(sk, &gated);
		if (!as)	/* cannot happen: close needs the last file ref */
			return ERR_PTR(-EBADF);
		if (!gated)
			return READ_ONCE(sk->sk_prot);
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
 * splice(socket -> pipe): tcp_splice_read never calls sk_prot->recvmsg.
 * Our proto_ops copy is in place from ULP attach until TLS_RX is installed
 * (kTLS then sets its own table, and ready.c its copy of that at READY), so
 * this gate decides by state, not by which proto is current. A call that
 * waited here until READY reads through ready.c's record layer.
 */
static ssize_t atls_gate_splice_read(struct socket *sock, loff_t *ppos,
				     struct pipe_inode_info *pipe, size_t len,
				     unsigned int flags)
{
	struct sock *sk = sock->sk;
	struct atls_sock *as;
	bool nonblock;
	bool gated;
	int err;

	for (;;) {
		as = atls_sk(sk, &gated);
		if (!as)
			return -EBADF;
		if (atls_state(as) == ATLS_STATE_READY)
			return atls_ready_splice_read(as, sock, ppos, pipe, len,
						      flags);
		if (atls_is_helper(as))
			return as->tls_base_ops->splice_read(sock, ppos, pipe, len, flags);
		nonblock = (flags & SPLICE_F_NONBLOCK) ||
			   (sock->file && (sock->file->f_flags & O_NONBLOCK));
		err = atls_gate_wait(as, sock_rcvtimeo(sk, nonblock));
		if (err)
			return err;
	}
}

/*
 * read_sock: the in-kernel reader that strparser users (KCM, sockmap) and
 * kTLS's own receive path in copy mode (6.1, 6.12) call, under lock_sock.
 * KCM and sockmap cannot take an atls socket (ulp.c, atls_proto_copy()), so
 * before READY nobody may read the TCP queue this way; once READY it is
 * kTLS's (its strparser).
 */
static int atls_gate_read_sock(struct sock *sk, read_descriptor_t *desc,
			       sk_read_actor_t recv_actor)
{
	struct atls_sock *as;
	const struct proto_ops *ops;
	bool gated;

	as = atls_sk(sk, &gated);
	if (!as || atls_state(as) != ATLS_STATE_READY)
		return -EOPNOTSUPP;
	ops = READ_ONCE(as->rops_orig);	/* kTLS's final, set before READY */
	if (!ops->read_sock)
		return -EOPNOTSUPP;
	return ops->read_sock(sk, desc, recv_actor);
}

/*
 * poll: register on the socket's wait queue through the real poll, then hide
 * readability and writability while gated. Completion wakes the socket's
 * queue (sk_state_change), and the next poll goes to kTLS's ops. A failed
 * socket was aborted (tcp_abort), so TCP reports POLLERR|POLLHUP itself.
 */
static __poll_t atls_gate_poll(struct file *file, struct socket *sock,
			       struct poll_table_struct *wait)
{
	struct sock *sk = sock->sk;
	struct atls_sock *as;
	__poll_t mask;
	bool gated;
	int st;

	as = atls_sk(sk, &gated);
	if (!as)
		return EPOLLERR;
	mask = READ_ONCE(as->gops_orig)->poll(file, sock, wait);
	st = atls_state(as);
	if (st == ATLS_STATE_READY || atls_is_helper(as))
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
 * Our copy of the proto_ops table @ops, under lock_sock. Data paths that
 * bypass sk_prot are ours: .splice_read, .poll and .read_sock decide by
 * state. The in-kernel senders that hold the socket lock (.sendmsg_locked,
 * 6.1's .sendpage_locked: skb_send_sock_locked() of sockmap redirection)
 * would write to TCP, in clear while gated and, for kTLS's .sendmsg_locked,
 * also after READY (TCP's): none (kernel_sendmsg_locked() then fails with
 * EOPNOTSUPP). .read_skb (sockmap's verdict reader): none either.
 *
 * The copy is rewritten in place when kTLS changes its table at TLS_TX: a
 * lockless caller still reading the old contents sees the same functions
 * for every member we set, and valid kTLS ones for the rest.
 */
static void atls_ops_wrap(struct atls_sock *as, const struct proto_ops *ops)
{
	WRITE_ONCE(as->gops_orig, ops);
	as->gops = *ops;
	as->gops.splice_read = atls_gate_splice_read;
	as->gops.poll = atls_gate_poll;
	as->gops.read_sock = atls_gate_read_sock;
	as->gops.read_skb = NULL;
	as->gops.sendmsg_locked = NULL;
#ifdef ATLS_HAVE_SENDPAGE
	as->gops.sendpage_locked = NULL;
#endif
}

/* Copies made under lock_sock by the ULP init; close is set by ulp.c. */
void atls_gate_build(struct atls_sock *as)
{
	atls_proto_copy(&as->gate, as->tls_base);
	as->gate.sendmsg = atls_gate_sendmsg;
	as->gate.recvmsg = atls_gate_recvmsg;
	as->gate.splice_eof = NULL;	/* nothing may be flushed while gated */
#ifdef ATLS_HAVE_SENDPAGE
	as->gate.sendpage = atls_gate_sendpage;
#endif
	atls_ops_wrap(as, as->tls_base_ops);
}

/*
 * Under lock_sock, between TLS_TX and TLS_RX: kTLS just replaced our
 * proto_ops copy by its own table, whose splice_read reads the raw TCP
 * queue. Copy that table and gate it again until TLS_RX is in.
 */
void atls_gate_ops_wrap(struct atls_sock *as)
{
	struct socket *sock = as->sk->sk_socket;
	const struct proto_ops *cur = READ_ONCE(sock->ops);

	if (cur == &as->gops)
		return;
	atls_ops_wrap(as, cur);
	WRITE_ONCE(sock->ops, &as->gops);
}
