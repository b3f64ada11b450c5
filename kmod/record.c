// SPDX-License-Identifier: GPL-2.0
/*
 * After key installation: the data paths around kTLS's tls_sw_* ops.
 *
 * - Sticky errors: once the socket failed, every call returns that errno.
 * - Control records on receive. kTLS returns EIO from a plain recv() when the
 *   next record is not application data, and leaves the record queued. We
 *   then read that record ourselves, with a kernel control buffer, and map it:
 *   close_notify -> end of file (sticky), any other alert -> ECONNRESET,
 *   NewSessionTicket -> dropped, KeyUpdate -> EKEYEXPIRED (6.1 and 6.12 kTLS
 *   cannot rekey), anything else -> EPROTO. The three failures abort the
 *   connection. An application that passes its own control buffer gets
 *   kTLS's native behaviour (TLS_GET_RECORD_TYPE).
 * - The AES-GCM record limit (RFC 8446 5.5): each direction stops before
 *   2^24 records, read from kTLS's record sequence number at the start of
 *   each call. The module parameter record_limit overrides it (tests).
 */
#include <linux/module.h>
#include <linux/uio.h>
#include <linux/socket.h>
#include <net/tls.h>

#include "atls.h"

#define ATLS_GCM_RECORD_LIMIT	(1ULL << 24)
#define TLS_CT_ALERT		21
#define TLS_CT_HANDSHAKE	22
#define TLS_CT_APPDATA		23
#define TLS_HS_NEW_SESSION_TICKET 4
#define TLS_HS_KEY_UPDATE	24

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
	atls_stat_inc(ATLS_STAT_RECORD_LIMIT);
	atls_sock_fail(as, EKEYEXPIRED, ATLS_REASON_RECORD_LIMIT);
	return -EKEYEXPIRED;
}

/*
 * Between TLS_TX and TLS_RX our ready wrapper is already in place but the
 * socket is not READY: wait (or EAGAIN) like the gate. 0: go on.
 */
static int atls_ready_wait(struct atls_sock *as, long timeo)
{
	int st = atls_state(as);

	if (st == ATLS_STATE_READY)
		return 0;
	if (st == ATLS_STATE_FAILED)
		return -READ_ONCE(as->err);
	return atls_gate_wait(as, timeo);
}

int atls_ready_sendmsg(struct sock *sk, struct msghdr *msg, size_t len)
{
	struct atls_sock *as = atls_ready_sk(sk);
	int err;

	if (!as)
		return -EBADF;
	err = READ_ONCE(as->err);
	if (err)
		return -err;
	err = atls_ready_wait(as, sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT));
	if (err)
		return err;
	err = atls_limit(as, true);
	if (err)
		return err;
	return as->tls_final->sendmsg(sk, msg, len);
}

#ifdef ATLS_HAVE_SENDPAGE
int atls_ready_sendpage(struct sock *sk, struct page *page, int offset,
			size_t size, int flags)
{
	struct atls_sock *as = atls_ready_sk(sk);
	int err;

	if (!as)
		return -EBADF;
	err = READ_ONCE(as->err);
	if (err)
		return -err;
	err = atls_ready_wait(as, sock_sndtimeo(sk, flags & MSG_DONTWAIT));
	if (err)
		return err;
	err = atls_limit(as, true);
	if (err)
		return err;
	if (!as->tls_final->sendpage)
		return sock_no_sendpage(sk->sk_socket, page, offset, size, flags);
	return as->tls_final->sendpage(sk, page, offset, size, flags);
}
#endif

/*
 * Read (peek, or consume) up to @len bytes of the next record into @buf with
 * a kernel control buffer. Returns the byte count and sets *type and *eor.
 */
static int atls_read_record(struct atls_sock *as, void *buf, size_t len,
			    int flags, u8 *type, bool *eor)
{
	u8 cbuf[CMSG_SPACE(sizeof(u8))] __aligned(sizeof(long)) = {};
	struct cmsghdr *cm = (struct cmsghdr *)cbuf;
	struct kvec kv = { .iov_base = buf, .iov_len = len };
	struct msghdr km = {};
	int alen __maybe_unused = 0;
	int ret;

	iov_iter_kvec(&km.msg_iter, ITER_DEST, &kv, 1, len);
	km.msg_control = cbuf;
	km.msg_controllen = sizeof(cbuf);
	km.msg_control_is_user = false;
	ret = atls_call_recvmsg(as->tls_final, as->sk, &km, len,
				flags | MSG_DONTWAIT, &alen);
	if (ret < 0)
		return ret;
	if (cm->cmsg_level != SOL_TLS || cm->cmsg_type != TLS_GET_RECORD_TYPE)
		return -EPROTO;
	*type = *(u8 *)CMSG_DATA(cm);
	*eor = km.msg_flags & MSG_EOR;
	return ret;
}

/* Are all handshake messages in this (first part of a) record tickets? */
static bool atls_only_tickets(const u8 *p, int n)
{
	u32 mlen;

	while (n >= 4) {
		if (p[0] != TLS_HS_NEW_SESSION_TICKET)
			return false;
		mlen = (p[1] << 16) | (p[2] << 8) | p[3];
		if (mlen + 4 >= (u32)n)
			return true;	/* runs past what we read */
		p += mlen + 4;
		n -= mlen + 4;
	}
	return n == 0 || p[0] == TLS_HS_NEW_SESSION_TICKET;
}

static bool atls_has_key_update(const u8 *p, int n)
{
	u32 mlen;

	while (n >= 1) {
		if (p[0] == TLS_HS_KEY_UPDATE)
			return true;
		if (n < 4)
			return false;
		mlen = (p[1] << 16) | (p[2] << 8) | p[3];
		if (mlen + 4 >= (u32)n)
			return false;
		p += mlen + 4;
		n -= mlen + 4;
	}
	return false;
}

/*
 * The next record is a control record (kTLS said EIO). Returns 0 when it was
 * dropped (read on), 1 for end of file, or a negative errno.
 */
static int atls_control_record(struct atls_sock *as)
{
	u8 buf[256];
	bool eor;
	u8 type;
	int n;

	/* Peek first: never consume application data by mistake. */
	n = atls_read_record(as, buf, 1, MSG_PEEK, &type, &eor);
	if (n < 0)
		return n;
	if (type == TLS_CT_APPDATA)
		return -EIO;
	n = atls_read_record(as, buf, sizeof(buf), 0, &type, &eor);
	if (n < 0)
		return n;

	switch (type) {
	case TLS_CT_ALERT:
		if (n >= 2 && buf[1] == 0) {	/* close_notify */
			atls_stat_inc(ATLS_STAT_CLOSE_NOTIFY);
			WRITE_ONCE(as->rx_eof, true);
			return 1;
		}
		atls_stat_inc(ATLS_STAT_ALERTS);
		atls_sock_fail(as, ECONNRESET, ATLS_REASON_PEER_ALERT);
		return -ECONNRESET;
	case TLS_CT_HANDSHAKE:
		if (atls_has_key_update(buf, n)) {
			atls_stat_inc(ATLS_STAT_KEY_UPDATES);
			atls_sock_fail(as, EKEYEXPIRED, ATLS_REASON_KEY_UPDATE);
			return -EKEYEXPIRED;
		}
		if (!atls_only_tickets(buf, n))
			break;
		/* Drain the rest of a long ticket record. */
		while (!eor) {
			n = atls_read_record(as, buf, sizeof(buf), 0, &type, &eor);
			if (n < 0)
				return n;
			if (type != TLS_CT_HANDSHAKE)
				break;
		}
		atls_stat_inc(ATLS_STAT_TICKETS_DROPPED);
		return 0;
	default:
		break;
	}
	atls_sock_fail(as, EPROTO, ATLS_REASON_BAD_RECORD);
	return -EPROTO;
}

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
			return -err;
		if (READ_ONCE(as->rx_eof))
			return 0;
		err = atls_ready_wait(as, sock_rcvtimeo(sk, flags & MSG_DONTWAIT));
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
