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
 *   2^24 records, read from kTLS's record sequence number at the start of
 *   each call. The module parameter record_limit overrides it (tests).
 */
#include <linux/module.h>
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

/* 0, or the sticky error after stopping at the record limit. */
static int atls_limit(struct atls_sock *as, bool tx)
{
	struct tls_context *ctx = tls_get_ctx(as->sk);
	u64 limit = READ_ONCE(atls_record_limit);
	u64 seq;

	if (!limit) {
		if (as->cipher == TLS_CIPHER_CHACHA20_POLY1305)
			return 0;
		limit = ATLS_GCM_RECORD_LIMIT;
	}
	seq = atls_seq(tx ? ctx->tx.rec_seq : ctx->rx.rec_seq);
	if (seq < limit)
		return 0;
	trace_atls_record_limit(as->sk, tx, seq, limit);
	atls_stat_inc(ATLS_STAT_RECORD_LIMIT);
	atls_sock_fail(as, -EKEYEXPIRED, ATLS_REASON_RECORD_LIMIT);
	return -EKEYEXPIRED;
}

/*
 * What every send checks first: the sticky error, READY (between TLS_TX
 * and TLS_RX our ready wrapper is already in place but the socket is not
 * READY: wait, or EAGAIN, like the gate), the record limit.
 */
static struct atls_sock *atls_ready_tx(struct sock *sk, long timeo)
{
	struct atls_sock *as = atls_ready_sk(sk);
	int err;

	if (!as)
		return ERR_PTR(-EBADF);
	err = READ_ONCE(as->err);
	if (!err)
		err = atls_gate_wait(as, timeo);
	if (!err)
		err = atls_limit(as, true);
	return err ? ERR_PTR(err) : as;
}

int atls_ready_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	struct atls_sock *as;

	as = atls_ready_tx(sk, sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT));
	if (IS_ERR(as))
		return PTR_ERR(as);
	return as->tls_final->sendmsg(sk, msg, len);
}

#ifdef ATLS_HAVE_SENDPAGE
int atls_ready_sendpage(struct sock *sk, struct page *page, int offset,
			size_t size, int flags)
{
	struct atls_sock *as;

	as = atls_ready_tx(sk, sock_sndtimeo(sk, flags & MSG_DONTWAIT));
	if (IS_ERR(as))
		return PTR_ERR(as);
	if (!as->tls_final->sendpage)
		return sock_no_sendpage(sk->sk_socket, page, offset, size, flags);
	return as->tls_final->sendpage(sk, page, offset, size, flags);
}
#endif

int atls_ready_recvmsg(ATLS_RECVMSG_PARAMS)
{
	struct atls_sock *as = atls_ready_sk(sk);
	bool own_cmsg = msg->msg_controllen;
	int err, ret;

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
		err = atls_limit(as, false);
		if (err)
			return err;
		ret = atls_call_recvmsg(as->tls_final, sk, msg, len, flags,
					addr_len);
		if (ret != -EIO || own_cmsg)
			return ret;
		ret = atls_control_record(as);
		if (ret)
			return ret > 0 ? 0 : ret;
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
