// SPDX-License-Identifier: GPL-2.0
/*
 * The ready proto: after key installation, the data paths around kTLS's
 * tls_sw_* ops (atls_rewrap() in ulp.c installs it, atls_ready_build() here
 * fills it).
 *
 * - Sticky errors: once the socket failed, every call returns that errno.
 * - Control records on receive: kTLS returns EIO from a plain recv() when the
 *   next record is not application data; control.c reads and maps it. An
 *   application that passes its own control buffer gets kTLS's native
 *   behaviour (TLS_GET_RECORD_TYPE).
 * - Readiness counts whole records: SIOCINQ (FIONREAD) says what a read
 *   returns now, never a partial or control record's bytes.
 * - The AES-GCM record limit (RFC 8446 5.5): each direction stops before
 *   2^24 records, read from kTLS's record sequence number. A send is cut
 *   so that it cannot pass the limit (atls_tx_room()); a receive checks
 *   it at the start of each call only (a peer's records cannot be counted
 *   before kTLS has read them, and one call may read several). The module
 *   parameter record_limit overrides the limit (tests).
 */
#include <linux/module.h>
#include <linux/sockios.h>
#include <asm/ioctls.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <net/tls.h>

#include "atls.h"
#include "atls_trace.h"

#define ATLS_GCM_RECORD_LIMIT	(1ULL << 24)

unsigned long atls_record_limit;
module_param_named(record_limit, atls_record_limit, ulong, 0644);
MODULE_PARM_DESC(record_limit, "records per direction before a socket stops (0: per cipher, RFC 8446)");

/*
 * The atls_sock of a call through our ready proto or proto_ops: never
 * NULL, whichever proto is in sk->sk_prot (kTLS's own for an instant in
 * a rekey: atls_sk_call()). Not READY yet (between TLS_TX and TLS_RX, or
 * a call that came through the gate): the callers wait for READY.
 */
static struct atls_sock *atls_ready_sk(struct sock *sk)
{
	bool gated;

	return atls_sk_call(sk, &gated);
}

static u64 atls_seq(const char *p)
{
	__be64 v;

	memcpy(&v, p, sizeof(v));	/* kTLS keeps it big-endian, unaligned */
	return be64_to_cpu(v);
}

/*
 * 0 and the records this direction may still use in *@left (U64_MAX: no
 * limit), or the sticky error after stopping at the record limit.
 */
static int atls_limit(struct atls_sock *as, bool tx, u64 *left)
{
	struct tls_context *ctx = tls_get_ctx(as->sk);
	u64 limit = READ_ONCE(atls_record_limit);
	u64 seq;

	*left = U64_MAX;
	if (!limit) {
		if (as->cipher == TLS_CIPHER_CHACHA20_POLY1305)
			return 0;
		limit = ATLS_GCM_RECORD_LIMIT;
	}
	seq = atls_seq(tx ? ctx->tx.rec_seq : ctx->rx.rec_seq);
	if (seq < limit) {
		*left = limit - seq;
		return 0;
	}
	trace_atls_record_limit(as->sk, tx, seq, limit);
	atls_stat_inc(ATLS_STAT_RECORD_LIMIT);
	atls_sock_fail(as, -EKEYEXPIRED, ATLS_REASON_RECORD_LIMIT);
	return -EKEYEXPIRED;
}

/*
 * The most bytes one send may hand kTLS with @left records left, so that
 * the limit holds per record: kTLS cuts records of TLS_MAX_PAYLOAD_SIZE
 * bytes (6.1 to 6.12 have no smaller record size option), the first one
 * perhaps completing a record an earlier MSG_MORE left open (at most
 * TLS_MAX_PAYLOAD_SIZE - 1 bytes in it), so (left - 1) full records and one
 * byte never need more than @left. The last record may thus carry a single
 * byte: a send there returns a short count, the next one EKEYEXPIRED.
 */
static size_t atls_tx_room(u64 left)
{
	if (left > SIZE_MAX / TLS_MAX_PAYLOAD_SIZE)
		return SIZE_MAX;
	return (left - 1) * TLS_MAX_PAYLOAD_SIZE + 1;
}

/*
 * Under as->tx_lock: a due KeyUpdate of ours first (rekey.c), then what the
 * next send may hand kTLS: up to the record limit, and, where atls rekeys,
 * the whole records left before the rekey threshold (*@cut: that bound is
 * the smaller; the send then goes on under the next key). The threshold is
 * a soft bound: a record MSG_MORE left open may carry it one record past.
 */
static int atls_ready_tx_room(struct atls_sock *as, bool nonblock, size_t *room,
			      bool *cut)
{
	u64 left;
	int err;

#ifdef ATLS_HAVE_KTLS_REKEY
	err = atls_rekey_tx(as, nonblock);
	if (err)
		return err;
#endif
	err = atls_limit(as, true, &left);
	if (err)
		return err;
	*room = atls_tx_room(left);
	*cut = false;
#ifdef ATLS_HAVE_KTLS_REKEY
	left = atls_rekey_tx_left(as);
	if (left <= SIZE_MAX / TLS_MAX_PAYLOAD_SIZE &&
	    left * TLS_MAX_PAYLOAD_SIZE < *room) {
		*room = left * TLS_MAX_PAYLOAD_SIZE;
		*cut = true;
	}
#endif
	return 0;
}

/*
 * What every send checks first: the sticky error, READY (between TLS_TX
 * and TLS_RX our ready wrapper is already in place but the socket is not
 * READY: wait, or EAGAIN, like the gate), then, under as->tx_lock (held on
 * return; senders wait for each other in kTLS anyway), the record limit:
 * *@room is what this send may pass to kTLS.
 */
static struct atls_sock *atls_ready_tx(struct sock *sk, long timeo, size_t *room,
				       bool *cut)
{
	struct atls_sock *as = atls_ready_sk(sk);
	int err;

	err = READ_ONCE(as->err);
	if (!err)
		err = atls_gate_wait(as, timeo);
	if (err)
		return ERR_PTR(err);
	mutex_lock(&as->tx_lock);
	err = atls_ready_tx_room(as, !timeo, room, cut);
	if (err) {
		mutex_unlock(&as->tx_lock);
		return ERR_PTR(err);
	}
	return as;
}

/*
 * Let as->tx_lock go. A KeyUpdate of ours that became due while we held it
 * (a reader found the peer's request) goes out first; one that became due
 * just after is sent by whoever gets the lock next, or by the reader.
 */
static void atls_ready_tx_unlock(struct atls_sock *as)
{
#ifdef ATLS_HAVE_KTLS_REKEY
	atls_rekey_tx(as, true);
	mutex_unlock(&as->tx_lock);
	smp_mb();	/* unlock before the flags are read: see atls_rekey_kick() */
	if (atls_rekey_tx_pending(as))
		atls_rekey_kick(as);
#else
	mutex_unlock(&as->tx_lock);
#endif
}

int atls_ready_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	struct atls_sock *as;
	size_t room, rest, done;
	bool cut;
	int ret;

	as = atls_ready_tx(sk, sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT),
			   &room, &cut);
	if (IS_ERR(as))
		return PTR_ERR(as);
	for (done = 0;;) {
		if (len - done <= room) {
			ret = as->tls_final->sendmsg(sk, msg, len - done);
		} else {
			rest = len - done - room;
			iov_iter_truncate(&msg->msg_iter, room);
			ret = as->tls_final->sendmsg(sk, msg, room);
			iov_iter_reexpand(&msg->msg_iter,
					  iov_iter_count(&msg->msg_iter) + rest);
		}
		/*
		 * Cut at the rekey threshold (not at the record limit: that
		 * ends the send short): rotate TX, send the rest.
		 */
		if (!cut || ret <= 0 || (size_t)ret != room || done + ret == len ||
		    atls_ready_tx_room(as, msg->msg_flags & MSG_DONTWAIT, &room, &cut)) {
			if (ret > 0 || done)
				ret = done + max(ret, 0);
			break;
		}
		done += ret;
	}
	atls_ready_tx_unlock(as);
	return ret;
}

#ifdef ATLS_HAVE_SENDPAGE
int atls_ready_sendpage(struct sock *sk, struct page *page, int offset,
			size_t size, int flags)
{
	struct atls_sock *as;
	size_t room;
	bool cut;
	int ret;

	as = atls_ready_tx(sk, sock_sndtimeo(sk, flags & MSG_DONTWAIT), &room, &cut);
	if (IS_ERR(as))
		return PTR_ERR(as);
	if (!as->tls_final->sendpage)
		ret = sock_no_sendpage(sk->sk_socket, page, offset, size, flags);
	else
		ret = as->tls_final->sendpage(sk, page, offset, min(size, room), flags);
	atls_ready_tx_unlock(as);
	return ret;
}
#endif

int atls_ready_recvmsg(ATLS_RECVMSG_PARAMS)
{
	struct atls_sock *as = atls_ready_sk(sk);
	bool own_cmsg = msg->msg_controllen;
	u32 gen __maybe_unused;
	int err, ret;
	u64 left;

	for (;;) {
		err = READ_ONCE(as->err);
		if (err)
			return err;
		if (READ_ONCE(as->rx_eof))
			return 0;
		err = atls_gate_wait(as, sock_rcvtimeo(sk, flags & MSG_DONTWAIT));
		if (err)
			return err;
		err = atls_limit(as, false, &left);
		if (err)
			return err;
#ifdef ATLS_HAVE_KTLS_REKEY
		atls_rekey_rx_check(as);
		gen = atls_rekey_rx_gen(as);
#endif
		ret = atls_call_recvmsg(as->tls_final, sk, msg, len, flags,
					addr_len);
		if (ret == -EIO && !own_cmsg) {
			ret = atls_control_record(as, len);
			if (ret == ATLS_CTL_RET0)
				return 0;
			if (!ret)
				continue;
		}
#ifdef ATLS_HAVE_KTLS_REKEY
		/*
		 * kTLS waits for the RX key of a KeyUpdate it read: rekey.c
		 * installs it, or ends the connection if nobody will.
		 */
		if (ret == -EKEYEXPIRED && !READ_ONCE(as->err)) {
			err = atls_rekey_expired(as, gen);
			if (err)
				return err;
			continue;
		}
#endif
		return ret;
	}
}

/*
 * How many bytes a read returns now without waiting: the plaintext of the
 * whole records received. kTLS leaves a record in TCP's queue until it is
 * complete, so TCP's own SIOCINQ counts ciphertext, partial records and
 * control records too, and a non-blocking read after a non-zero answer
 * could still get EAGAIN. So read it as a read would, without consuming:
 * a non-blocking MSG_PEEK of everything queued into a discarding iterator.
 * kTLS decrypts the complete records onto its rx_list (a later read takes
 * them from there) and stops at the first record of another type; a control
 * record first in line is handled exactly as a read handles it (a ticket is
 * dropped, close_notify is end of file, an alert fails the socket). Not
 * READY (gated, or between TLS_TX and TLS_RX), failed, at end of file or
 * with nothing whole: 0. SIOCINQ does not fail on an atls stream socket.
 */
static int atls_ready_inq(struct atls_sock *as)
{
	struct msghdr msg = {};
	int addr_len = 0;
	int ret;

	if (READ_ONCE(as->err) || atls_state(as) != ATLS_STATE_READY)
		return 0;
	iov_iter_discard(&msg.msg_iter, ITER_DEST, INT_MAX);
	ret = atls_call_recvmsg(&as->ready, as->sk, &msg, INT_MAX,
				MSG_PEEK | MSG_DONTWAIT, &addr_len);
	(void)addr_len;
	return max(ret, 0);
}

/*
 * struct proto .ioctl of both our proto copies (gate and ready). SIOCINQ
 * (FIONREAD) counts what a read returns now (above), and 0 while gated, as
 * poll says not readable then; the helper running the handshake gets TCP's
 * own answer. Every other request (SIOCOUTQ, SIOCOUTQNSD, SIOCATMARK:
 * counts of the wire's bytes) goes to the proto we wrap.
 */
int atls_ioctl(ATLS_IOCTL_PARAMS)
{
	struct atls_sock *as;
	bool gated;

	as = atls_sk_call(sk, &gated);
	if (cmd != SIOCINQ || (gated && atls_is_helper(as)))
		return atls_call_ioctl(gated ? as->tls_base : as->tls_final, sk, cmd);
	return atls_ioctl_answer(gated ? 0 : atls_ready_inq(as));
}

/*
 * Is a whole record (or an end) there for a reader? kTLS's own test
 * (sock_is_readable: a record complete in its parser or decrypted on its
 * rx_list), or anything that makes a read return at once: a sticky error,
 * close_notify read, TCP's error or end of stream.
 */
static bool atls_ready_rx_whole(struct atls_sock *as)
{
	struct sock *sk = as->sk;

	return READ_ONCE(as->err) || READ_ONCE(as->rx_eof) ||
	       READ_ONCE(sk->sk_err) ||
	       (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) ||
	       sk_is_readable(sk);
}

/*
 * poll once READY: kTLS's (TCP's tcp_poll) with POLLIN only for a whole
 * record. kTLS leaves a record in TCP's queue until it is complete, and
 * tcp_poll on 6.1 reports readable for any byte queued, so an event loop
 * would read a partial record and get EAGAIN. kTLS wakes the socket's
 * waiters when a record is complete (its parser's data_ready), so hiding
 * POLLIN before that loses no wake-up.
 */
static __poll_t atls_ready_poll(struct file *file, struct socket *sock,
				struct poll_table_struct *wait)
{
	struct atls_sock *as = atls_sock_of(sock->sk);
	__poll_t mask;

	mask = READ_ONCE(as->rops_orig)->poll(file, sock, wait);
	if ((mask & (EPOLLIN | EPOLLRDNORM)) && !atls_ready_rx_whole(as))
		mask &= ~(EPOLLIN | EPOLLRDNORM);
	return mask;
}

static ssize_t atls_ready_ops_splice_read(struct socket *sock, loff_t *ppos,
					  struct pipe_inode_info *pipe,
					  size_t len, unsigned int flags)
{
	return atls_ready_splice_read(atls_sock_of(sock->sk), sock, ppos, pipe,
				      len, flags);
}

/*
 * The entries of our ready proto_ops that kTLS's table (inet_sendmsg,
 * inet_recvmsg, sock_common_{get,set}sockopt, inet_ioctl, 6.1's
 * inet_sendpage) would pass through sk->sk_prot: here they call our ready
 * proto's functions directly. Inside a rekey sk->sk_prot is kTLS's own
 * proto for an instant (from kTLS's update_sk_prot(), in its setsockopt,
 * until rekey.c wraps it again under lock_sock); a call through
 * sk->sk_prot in that instant would reach kTLS's tls_sw_recvmsg (the
 * peer's next KeyUpdate or ticket then fails the application's recv with
 * EIO), its tls_sw_sendmsg past our record limit and KeyUpdate ordering,
 * its getsockopt (TLS_TX/TLS_RX: the new key). Our functions find the
 * atls_sock through kTLS's saved proto and call kTLS's tls_sw_* (as->
 * tls_final, the same proto before and after an update) themselves; kTLS
 * serializes those with the update under lock_sock, so a call either
 * runs before the new key is in or after, never on a half-made state.
 * (inet_sendmsg's and inet_recvmsg's sock_rps_record_flow(), a steering
 * hint, is left out; a connected socket needs no autobind.)
 */
static int atls_rops_sendmsg(struct socket *sock, struct msghdr *msg,
			     size_t len)
{
	return atls_ready_sendmsg(sock->sk, msg, len);
}

static int atls_rops_recvmsg(struct socket *sock, struct msghdr *msg,
			     size_t len, int flags)
{
	int addr_len = 0;
	int ret;

	ret = atls_call_recvmsg(&atls_sock_of(sock->sk)->ready, sock->sk, msg,
				len, flags, &addr_len);
	(void)addr_len;
	if (ret >= 0)
		msg->msg_namelen = 0;	/* TCP: no address, as inet_recvmsg */
	return ret;
}

#ifdef ATLS_HAVE_SENDPAGE
static ssize_t atls_rops_sendpage(struct socket *sock, struct page *page,
				  int offset, size_t size, int flags)
{
	return atls_ready_sendpage(sock->sk, page, offset, size, flags);
}
#endif

static int atls_rops_getsockopt(struct socket *sock, int level, int optname,
				char __user *optval, int __user *optlen)
{
	return atls_getsockopt(sock->sk, level, optname, optval, optlen);
}

static int atls_rops_setsockopt(struct socket *sock, int level, int optname,
				sockptr_t optval, unsigned int optlen)
{
	return atls_setsockopt(sock->sk, level, optname, optval, optlen);
}

/*
 * SIOCINQ (FIONREAD): our answer (atls_ready_inq()). The rest go to
 * kTLS's inet_ioctl(), which ends in sk->sk_prot's ioctl: ours
 * (atls_ioctl(), which then passes them to TCP's) or, in a rekey's
 * instant, kTLS's, which is TCP's: the same answer.
 */
static int atls_rops_ioctl(struct socket *sock, unsigned int cmd,
			   unsigned long arg)
{
	struct atls_sock *as = atls_sock_of(sock->sk);

	if (cmd == SIOCINQ)
		return put_user(atls_ready_inq(as), (int __user *)arg);
	return READ_ONCE(as->rops_orig)->ioctl(sock, cmd, arg);
}

/*
 * Under lock_sock: our copy of kTLS's proto_ops @ktls with our poll,
 * splice_read and the direct entries above. As in the gate's copy
 * (gate.c, atls_ops_strip()) the other in-kernel paths go; read_sock stays
 * kTLS's (its own parser reads through it on 6.1; KCM and sockmap cannot
 * take the socket). The copy lives in the atls_sock, so the close hook
 * puts kTLS's table back before the atls_sock is freed (ulp.c).
 */
static void atls_ready_ops_build(struct atls_sock *as,
				 const struct proto_ops *ktls)
{
	WRITE_ONCE(as->rops_orig, ktls);
	as->rops = *ktls;
	as->rops.poll = atls_ready_poll;
	as->rops.splice_read = atls_ready_ops_splice_read;
	as->rops.sendmsg = atls_rops_sendmsg;
	as->rops.recvmsg = atls_rops_recvmsg;
#ifdef ATLS_HAVE_SENDPAGE
	as->rops.sendpage = atls_rops_sendpage;
#endif
	as->rops.getsockopt = atls_rops_getsockopt;
	as->rops.setsockopt = atls_rops_setsockopt;
	as->rops.ioctl = atls_rops_ioctl;
	atls_ops_strip(&as->rops);
}

/*
 * At READY (keys.c, under lock_sock, before READY is published): our copy
 * of kTLS's final proto_ops @ktls (the table kTLS chose at TLS_RX) becomes
 * the socket's, in place of the gate's copy, in one store.
 */
void atls_ready_ops_install(struct atls_sock *as, const struct proto_ops *ktls)
{
	atls_ready_ops_build(as, ktls);
	WRITE_ONCE(as->sk->sk_socket->ops, &as->rops);
}

/*
 * Under lock_sock, after a rekey's kTLS setsockopt (rekey.c), @ktls: the
 * proto_ops kTLS wrote into the stand-in. The application's socket kept
 * ours throughout. kTLS picks its table by the TX and RX configuration,
 * which an update keeps, so it is the one our copy was made of and
 * nothing changes. Were it another, our copy is made anew in place: the
 * members we set keep their values, the others are kTLS's either way.
 */
void atls_ready_ops_rekeyed(struct atls_sock *as, const struct proto_ops *ktls)
{
	if (likely(ktls == as->rops_orig))
		return;
	atls_ready_ops_build(as, ktls);
}

/*
 * splice(socket -> pipe) once READY (our ready proto_ops below, and the
 * gate's .splice_read for a call that waited): what a recv does, on kTLS's
 * tls_sw_splice_read (as->rops_orig, set before READY is published). kTLS
 * fails a splice with EINVAL while the next record is not application data
 * and leaves that record queued, for good; control.c reads and maps it
 * (close_notify: 0 from now on, a ticket: dropped and spliced on, the
 * others: the sticky error). The sticky error, end of file and the record
 * limit are checked first, as for recv.
 */
ssize_t atls_ready_splice_read(struct atls_sock *as, struct socket *sock,
			       loff_t *ppos, struct pipe_inode_info *pipe,
			       size_t len, unsigned int flags)
{
	const struct proto_ops *ops = READ_ONCE(as->rops_orig);
	ssize_t ret;
	u64 left;
	int err;

	for (;;) {
		err = READ_ONCE(as->err);
		if (err)
			return err;
		if (READ_ONCE(as->rx_eof))
			return 0;
		err = atls_limit(as, false, &left);
		if (err)
			return err;
		ret = ops->splice_read(sock, ppos, pipe, len, flags);
		if (ret != -EINVAL)
			return ret;
		err = atls_control_record(as, len);
		if (err == ATLS_CTL_RET0)
			return 0;
		if (err)
			return err;
	}
}

/* Fill the ready proto from kTLS's final one (ulp.c, under lock_sock). */
void atls_ready_build(struct atls_sock *as)
{
	atls_proto_copy(&as->ready, as->tls_final);
	as->ready.sendmsg = atls_ready_sendmsg;
	as->ready.recvmsg = atls_ready_recvmsg;
#ifdef ATLS_HAVE_SENDPAGE
	as->ready.sendpage = atls_ready_sendpage;
#endif
}
