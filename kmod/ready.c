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
 * - The AES-GCM record limit (RFC 8446 5.5): each direction stops before
 *   2^24 records, read from kTLS's record sequence number. A send is cut
 *   so that it cannot pass the limit (atls_tx_room()); a receive checks
 *   it at the start of each call only (a peer's records cannot be counted
 *   before kTLS has read them, and one call may read several). The module
 *   parameter record_limit overrides the limit (tests).
 */
#include <linux/module.h>
#include <linux/uio.h>
#include <net/tls.h>

#include "atls.h"
#include "atls_trace.h"

#define ATLS_GCM_RECORD_LIMIT	(1ULL << 24)

unsigned long atls_record_limit;
module_param_named(record_limit, atls_record_limit, ulong, 0644);
MODULE_PARM_DESC(record_limit, "records per direction before a socket stops (0: per cipher, RFC 8446)");

static struct atls_sock *atls_ready_sk(struct sock *sk)
{
	struct atls_sock *as;
	bool gated;

	as = atls_sk(sk, &gated);
	return as && !gated ? as : NULL;
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
 * What every send checks first: the sticky error, READY (between TLS_TX
 * and TLS_RX our ready wrapper is already in place but the socket is not
 * READY: wait, or EAGAIN, like the gate), then, under as->tx_lock (held on
 * return; senders wait for each other in kTLS anyway), the record limit:
 * *@room is what this send may pass to kTLS.
 */
static struct atls_sock *atls_ready_tx(struct sock *sk, long timeo, size_t *room)
{
	struct atls_sock *as = atls_ready_sk(sk);
	u64 left;
	int err;

	if (!as)
		return ERR_PTR(-EBADF);
	err = READ_ONCE(as->err);
	if (!err)
		err = atls_gate_wait(as, timeo);
	if (err)
		return ERR_PTR(err);
	mutex_lock(&as->tx_lock);
	err = atls_limit(as, true, &left);
	if (err) {
		mutex_unlock(&as->tx_lock);
		return ERR_PTR(err);
	}
	*room = atls_tx_room(left);
	return as;
}

int atls_ready_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	struct atls_sock *as;
	size_t room, rest;
	int ret;

	as = atls_ready_tx(sk, sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT), &room);
	if (IS_ERR(as))
		return PTR_ERR(as);
	if (len <= room) {
		ret = as->tls_final->sendmsg(sk, msg, len);
	} else {
		rest = len - room;
		iov_iter_truncate(&msg->msg_iter, room);
		ret = as->tls_final->sendmsg(sk, msg, room);
		iov_iter_reexpand(&msg->msg_iter, iov_iter_count(&msg->msg_iter) + rest);
	}
	mutex_unlock(&as->tx_lock);
	return ret;
}

#ifdef ATLS_HAVE_SENDPAGE
int atls_ready_sendpage(struct sock *sk, struct page *page, int offset,
			size_t size, int flags)
{
	struct atls_sock *as;
	size_t room;
	int ret;

	as = atls_ready_tx(sk, sock_sndtimeo(sk, flags & MSG_DONTWAIT), &room);
	if (IS_ERR(as))
		return PTR_ERR(as);
	if (!as->tls_final->sendpage)
		ret = sock_no_sendpage(sk->sk_socket, page, offset, size, flags);
	else
		ret = as->tls_final->sendpage(sk, page, offset, min(size, room), flags);
	mutex_unlock(&as->tx_lock);
	return ret;
}
#endif

int atls_ready_recvmsg(ATLS_RECVMSG_PARAMS)
{
	struct atls_sock *as = atls_ready_sk(sk);
	bool own_cmsg = msg->msg_controllen;
	int err, ret;
	u64 left;

	if (!as)
		return -EBADF;
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
		ret = atls_call_recvmsg(as->tls_final, sk, msg, len, flags,
					addr_len);
		if (ret != -EIO || own_cmsg)
			return ret;
		ret = atls_control_record(as, len);
		if (ret == ATLS_CTL_RET0)
			return 0;
		if (ret)
			return ret;
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
