// SPDX-License-Identifier: GPL-2.0
/*
 * Control records after READY. kTLS returns EIO from a plain recv() when the
 * next record is not application data, and leaves the record queued. We
 * then read that record ourselves, with a kernel control buffer, and map it:
 * close_notify -> end of file (sticky), any other alert -> ECONNRESET,
 * NewSessionTicket -> dropped, KeyUpdate -> EKEYEXPIRED (6.1 and 6.12 kTLS
 * cannot rekey), anything else -> EPROTO. The three failures abort the
 * connection.
 */
#include <linux/module.h>
#include <linux/uio.h>
#include <linux/socket.h>
#include <net/tls.h>

#include "atls.h"
#include "atls_trace.h"

#define TLS_CT_ALERT		21
#define TLS_CT_HANDSHAKE	22
#define TLS_CT_APPDATA		23
#define TLS_HS_NEW_SESSION_TICKET 4
#define TLS_HS_KEY_UPDATE	24

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
int atls_control_record(struct atls_sock *as)
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
	trace_atls_control_record(as->sk, type, buf, n);

	switch (type) {
	case TLS_CT_ALERT:
		if (n >= 2 && buf[1] == 0) {	/* close_notify */
			atls_stat_inc(ATLS_STAT_CLOSE_NOTIFY);
			WRITE_ONCE(as->rx_eof, true);
			return 1;
		}
		atls_stat_inc(ATLS_STAT_ALERTS);
		atls_sock_fail(as, -ECONNRESET, ATLS_REASON_PEER_ALERT);
		return -ECONNRESET;
	case TLS_CT_HANDSHAKE:
		if (atls_has_key_update(buf, n)) {
			atls_stat_inc(ATLS_STAT_KEY_UPDATES);
			atls_sock_fail(as, -EKEYEXPIRED, ATLS_REASON_KEY_UPDATE);
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
	atls_sock_fail(as, -EPROTO, ATLS_REASON_BAD_RECORD);
	return -EPROTO;
}
