// SPDX-License-Identifier: GPL-2.0
/*
 * Control records after READY. kTLS returns EIO from a plain recv() when the
 * next record is not application data, and leaves the record queued. We
 * then read that record ourselves, with a kernel control buffer, and map it:
 * close_notify -> end of file (sticky), any other alert -> ECONNRESET,
 * NewSessionTicket -> dropped, KeyUpdate -> rekey.c (the next RX key on
 * kernels whose kTLS can rekey, else EKEYEXPIRED), anything else -> EPROTO.
 * The failures abort the connection.
 *
 * The record is read whole (up to TLS_MAX_PAYLOAD_SIZE) and every
 * handshake message in it is looked at. Readers are serialized from the
 * peek that tells the record's type to the end of the record
 * (as->rx_ctl_lock), so with two readers the record one peeked is still
 * the one it reads.
 */
#include <linux/module.h>
#include <linux/slab.h>
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
 * Read up to @len bytes of the next record into @buf with a kernel control
 * buffer (never blocking). Returns the byte count and sets *type and *eor.
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

/*
 * The handshake messages of one record: 1 if one is a KeyUpdate, 0 if all
 * are tickets (the last may run past the record: a ticket split over
 * records), -1 for anything else.
 */
static int atls_handshake_kind(const u8 *p, u32 n)
{
	bool tickets_only = true;
	u32 mlen;

	while (n) {
		if (p[0] == TLS_HS_KEY_UPDATE)
			return 1;
		if (p[0] != TLS_HS_NEW_SESSION_TICKET)
			tickets_only = false;
		if (n < 4)
			break;
		mlen = (p[1] << 16) | (p[2] << 8) | p[3];
		if (mlen + 4 >= n)
			break;
		p += mlen + 4;
		n -= mlen + 4;
	}
	return tickets_only ? 0 : -1;
}

/*
 * kTLS said EIO to a read of @len bytes: the next record is not application
 * data (or was not: another reader may have handled it since). Reads it and
 * returns 0 when a record was dropped or there was none (read on),
 * ATLS_CTL_RET0 when the read returns 0 (close_notify, or @len 0), or a
 * negative errno.
 */
int atls_control_record(struct atls_sock *as, size_t len)
{
	int n, got, kind, ret;
	bool eor;
	u8 type;
	u8 *buf;

	if (!len)
		return ATLS_CTL_RET0;	/* as kTLS would: nothing to read into */
	buf = kmalloc(TLS_MAX_PAYLOAD_SIZE, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	/*
	 * One reader at a time from the peek to the end of the record:
	 * readers outside this function cannot consume a control record
	 * (kTLS gives them EIO and they come here), so the record peeked is
	 * the one read. Application data is left to kTLS (read on), and a
	 * control record is read whole in one call (the buffer holds the
	 * largest), never split between two readers. An application that
	 * reads with its own control buffer in another thread at the same
	 * time gets records in kTLS's order, not this guarantee.
	 */
	mutex_lock(&as->rx_ctl_lock);
	n = atls_read_record(as, buf, 1, MSG_PEEK, &type, &eor);
	if (n >= 0 && type == TLS_CT_APPDATA) {
		ret = 0;	/* another reader took the control record */
		goto unlock;
	}
	if (n >= 0)
		n = atls_read_record(as, buf, TLS_MAX_PAYLOAD_SIZE, 0, &type, &eor);
	if (n == -EAGAIN) {
		ret = 0;	/* nothing queued any more: read on */
		goto unlock;
	}
	if (n < 0) {
		ret = n;
		goto unlock;
	}
	if (WARN_ON_ONCE(type == TLS_CT_APPDATA)) {
		ret = -EIO;	/* cannot happen: see above */
		goto unlock;
	}
	/* The rest of this control record, if kTLS returned part of it. */
	for (got = n; !eor && got < TLS_MAX_PAYLOAD_SIZE; got += n) {
		u8 t;

		n = atls_read_record(as, buf + got, TLS_MAX_PAYLOAD_SIZE - got, 0,
				     &t, &eor);
		if (n < 0) {
			ret = n;
			goto unlock;
		}
		if (t != type)
			break;	/* cannot happen: kTLS stops at a type change */
	}
	if (type == TLS_CT_HANDSHAKE && atls_handshake_kind(buf, got) > 0) {
		/* Still under the lock: the next RX key goes in first. */
		ret = atls_rekey_peer(as, buf, got, buf[0] == TLS_HS_KEY_UPDATE);
		mutex_unlock(&as->rx_ctl_lock);
		trace_atls_control_record(as->sk, type, buf, got);
#ifdef ATLS_HAVE_KTLS_REKEY
		if (!ret && atls_rekey_tx_pending(as))
			atls_rekey_kick(as);	/* the peer asked for ours */
#endif
		goto out;
	}
	mutex_unlock(&as->rx_ctl_lock);
	trace_atls_control_record(as->sk, type, buf, got);

	switch (type) {
	case TLS_CT_ALERT:
		if (got >= 2 && buf[1] == 0) {	/* close_notify */
			atls_stat_inc(ATLS_STAT_CLOSE_NOTIFY);
			WRITE_ONCE(as->rx_eof, true);
			ret = ATLS_CTL_RET0;
			goto out;
		}
		atls_stat_inc(ATLS_STAT_ALERTS);
		atls_sock_fail(as, -ECONNRESET, ATLS_REASON_PEER_ALERT);
		ret = -ECONNRESET;
		goto out;
	case TLS_CT_HANDSHAKE:
		kind = atls_handshake_kind(buf, got);	/* KeyUpdate: above */
		if (kind == 0) {
			atls_stat_inc(ATLS_STAT_TICKETS_DROPPED);
			ret = 0;
			goto out;
		}
		break;
	default:
		break;
	}
	atls_sock_fail(as, -EPROTO, ATLS_REASON_BAD_RECORD);
	ret = -EPROTO;
	goto out;
unlock:
	mutex_unlock(&as->rx_ctl_lock);
out:
	kfree_sensitive(buf);	/* tickets are resumption secrets */
	return ret;
}
