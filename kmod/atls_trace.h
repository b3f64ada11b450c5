/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of atls.ko, trace system "atls" (Documentation/atls.7.rst,
 * TRACING). One event per step of a request's life and per control record
 * or record limit met after READY, for trace-cmd, perf and tracefs.
 *
 * Identifiers: every request event carries the request id (the id the
 * helper sees in ACCEPT, DONE and ABORT); atls_req_created also carries the
 * socket's inode number (ino, as in /proc/PID/fd and `ss -e`), the key of
 * the events that come after the request is gone (keys, records). Errors
 * are positive errnos, reasons enum atls_reason values, both as in
 * ATLS_STATUS.
 *
 * The events read only what their callers hold alive at the call (see each
 * call site); no event takes a lock. kmod/trace.c instantiates them.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM atls

#if !defined(ATLS_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define ATLS_TRACE_H

#include <linux/tracepoint.h>
#include <linux/fs.h>
#include <linux/net.h>
#include <net/sock.h>

#include "atls.h"

#ifndef ATLS_TRACE_HELPERS	/* this part once: define_trace.h rereads the file */
#define ATLS_TRACE_HELPERS
/* Inode number of a socket whose struct socket the caller keeps alive. */
static inline unsigned long atls_trace_ino(const struct socket *sock)
{
	return sock ? SOCK_INODE((struct socket *)sock)->i_ino : 0;
}
#endif

/* ATLS_START took the request (queued, timer armed); @child: a listener's. */
TRACE_EVENT(atls_req_created,
	TP_PROTO(const struct atls_req *req, const struct socket *sock,
		 bool child),
	TP_ARGS(req, sock, child),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(unsigned long, ino)
		__field(u32, role)
		__field(u32, timeout_ms)
		__field(pid_t, app_pid)
		__field(u16, family)
		__field(bool, child)
	),
	TP_fast_assign(
		__entry->id = req->id;
		__entry->ino = atls_trace_ino(sock);
		__entry->role = req->role;
		__entry->timeout_ms = req->timeout_ms;
		__entry->app_pid = req->app_pid;
		__entry->family = req->family;
		__entry->child = child;
	),
	TP_printk("id=%llu ino=%lu role=%u family=%u timeout_ms=%u app_pid=%d child=%d",
		  __entry->id, __entry->ino, __entry->role, __entry->family,
		  __entry->timeout_ms, __entry->app_pid, __entry->child)
);

/* READY multicast about to go for request @id; @pending live requests. */
TRACE_EVENT(atls_req_ready_sent,
	TP_PROTO(u64 id, unsigned int pending),
	TP_ARGS(id, pending),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(unsigned int, pending)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->pending = pending;
	),
	TP_printk("id=%llu pending=%u", __entry->id, __entry->pending)
);

/* A helper's ACCEPT took the request (PENDING -> ACCEPTED). */
TRACE_EVENT(atls_req_accepted,
	TP_PROTO(const struct atls_req *req, pid_t helper, u32 portid),
	TP_ARGS(req, helper, portid),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(pid_t, helper)
		__field(u32, portid)
	),
	TP_fast_assign(
		__entry->id = req->id;
		__entry->helper = helper;
		__entry->portid = portid;
	),
	TP_printk("id=%llu helper_pid=%d portid=%u",
		  __entry->id, __entry->helper, __entry->portid)
);

/* A DONE message arrived (before any check); status <= 0 as sent. */
TRACE_EVENT(atls_done_received,
	TP_PROTO(u64 id, int status, u32 reason, bool keys),
	TP_ARGS(id, status, reason, keys),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(int, status)
		__field(u32, reason)
		__field(bool, keys)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->status = status;
		__entry->reason = reason;
		__entry->keys = keys;
	),
	TP_printk("id=%llu status=%d reason=%u keys=%d",
		  __entry->id, __entry->status, __entry->reason, __entry->keys)
);

/* One direction's key went into kTLS (@err 0) or was refused. */
TRACE_EVENT(atls_keys_installed,
	TP_PROTO(const struct socket *sock, bool rx, u16 cipher, int err),
	TP_ARGS(sock, rx, cipher, err),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(bool, rx)
		__field(u16, cipher)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->ino = atls_trace_ino(sock);
		__entry->rx = rx;
		__entry->cipher = cipher;
		__entry->err = err < 0 ? -err : err;
	),
	TP_printk("ino=%lu dir=%s cipher=%u err=%d", __entry->ino,
		  __entry->rx ? "rx" : "tx", __entry->cipher, __entry->err)
);

/* The request ended READY. */
TRACE_EVENT(atls_req_ready,
	TP_PROTO(const struct atls_req *req),
	TP_ARGS(req),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(u16, cipher)
	),
	TP_fast_assign(
		__entry->id = req->id;
		__entry->cipher = READ_ONCE(req->as->cipher);
	),
	TP_printk("id=%llu cipher=%u", __entry->id, __entry->cipher)
);

/* The request ended FAILED (every cause, timeouts included). */
TRACE_EVENT(atls_req_failed,
	TP_PROTO(const struct atls_req *req, int err, u32 reason),
	TP_ARGS(req, err, reason),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(int, err)
		__field(u32, reason)
	),
	TP_fast_assign(
		__entry->id = req->id;
		__entry->err = err < 0 ? -err : err;
		__entry->reason = reason;
	),
	TP_printk("id=%llu err=%d reason=%u",
		  __entry->id, __entry->err, __entry->reason)
);

/* The request's timer won: it was still PENDING or ACCEPTED. */
TRACE_EVENT(atls_req_timeout,
	TP_PROTO(const struct atls_req *req, bool accepted),
	TP_ARGS(req, accepted),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(u32, timeout_ms)
		__field(bool, accepted)
	),
	TP_fast_assign(
		__entry->id = req->id;
		__entry->timeout_ms = req->timeout_ms;
		__entry->accepted = accepted;
	),
	TP_printk("id=%llu timeout_ms=%u state=%s", __entry->id,
		  __entry->timeout_ms, __entry->accepted ? "accepted" : "pending")
);

/* ABORT multicast sent: the helper holding request @id must stop. */
TRACE_EVENT(atls_req_aborted,
	TP_PROTO(u64 id, u32 reason),
	TP_ARGS(id, reason),
	TP_STRUCT__entry(
		__field(u64, id)
		__field(u32, reason)
	),
	TP_fast_assign(
		__entry->id = id;
		__entry->reason = reason;
	),
	TP_printk("id=%llu reason=%u", __entry->id, __entry->reason)
);

/*
 * A control record read on a READY socket: TLS content @type, and @code,
 * its first message's kind (alert description, handshake message type).
 */
TRACE_EVENT(atls_control_record,
	TP_PROTO(const struct sock *sk, u8 type, const u8 *buf, int len),
	TP_ARGS(sk, type, buf, len),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(u8, type)
		__field(int, code)
		__field(int, len)
	),
	TP_fast_assign(
		__entry->ino = atls_trace_ino(sk->sk_socket);
		__entry->type = type;
		__entry->code = len < 1 ? -1 : type == 21 /* alert */ ? (len < 2 ? -1 : buf[1]) :
				buf[0];
		__entry->len = len;
	),
	TP_printk("ino=%lu type=%u code=%d len=%d", __entry->ino,
		  __entry->type, __entry->code, __entry->len)
);

/* A direction reached the record limit: the socket stops. */
TRACE_EVENT(atls_record_limit,
	TP_PROTO(const struct sock *sk, bool tx, u64 seq, u64 limit),
	TP_ARGS(sk, tx, seq, limit),
	TP_STRUCT__entry(
		__field(unsigned long, ino)
		__field(u64, seq)
		__field(u64, limit)
		__field(bool, tx)
	),
	TP_fast_assign(
		__entry->ino = atls_trace_ino(sk->sk_socket);
		__entry->seq = seq;
		__entry->limit = limit;
		__entry->tx = tx;
	),
	TP_printk("ino=%lu dir=%s seq=%llu limit=%llu", __entry->ino,
		  __entry->tx ? "tx" : "rx", __entry->seq, __entry->limit)
);

#endif /* ATLS_TRACE_H */

/* Out of tree: the second read of this file comes from here, kmod/. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE atls_trace
#include <trace/define_trace.h>
