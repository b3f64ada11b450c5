// SPDX-License-Identifier: GPL-2.0
/*
 * Key installation, inside the helper's DONE: the module, not the helper,
 * puts the traffic keys into kTLS.
 *
 * The blobs are struct tls12_crypto_info_* exactly as setsockopt(SOL_TLS)
 * takes them. Only TLS 1.3 with AES-GCM-128, AES-GCM-256 or
 * ChaCha20-Poly1305 is accepted, with the exact structure size, the same
 * cipher both ways, in both directions.
 *
 * Order: TLS_TX first, then TLS_RX (installing RX first would let kTLS
 * decrypt records before our send side is keyed; neither is visible to the
 * application: below). Then READY, in one step under lock_sock, all before
 * the caller wipes the blobs. The module calls kTLS's setsockopt itself
 * (its tls_setsockopt(), through kTLS's TLS_BASE proto, which is the same
 * function in all of kTLS's protos): atls_tls_set_crypto(), compat.h: a
 * kernel pointer, or a page of the helper's memory where kTLS's copy of a
 * kernel pointer would warn. No application call can reach SOL_TLS.
 *
 * Nothing half-installed is visible. kTLS's update_sk_prot(), inside each
 * of those setsockopt calls and under lock_sock, writes both sk->sk_prot
 * and sk->sk_socket->ops (6.1, 6.12 and 7.x alike, net/tls/tls_main.c);
 * kTLS's getsockopt then reads the keys under lock_sock, its recvmsg and
 * splice_read the TCP queue, its poll reports the socket ready. So:
 *
 *  - The struct socket: while kTLS's setsockopt runs, sk->sk_socket
 *    points to a stand-in (as->standin, atls_standin_enter()), and
 *    update_sk_prot() writes its proto_ops there. The application's
 *    struct socket keeps our gate proto_ops from ULP attach until READY.
 *    Every syscall and in-kernel user of the socket finds its ops through
 *    the struct socket it holds (the file's), so none reaches kTLS's
 *    table.
 *  - The struct proto: sk->sk_prot is kTLS's own from update_sk_prot()
 *    until we take the lock again (atls_rewrap(): our ready copy). Our
 *    gate proto_ops decide by our state, never through sk->sk_prot, for
 *    every entry that could lead into kTLS (gate.c: sendmsg, recvmsg,
 *    sendpage, splice_read, splice_eof, read_sock, poll, ioctl's SIOCINQ,
 *    getsockopt, setsockopt); the entries left to TCP's inet_* functions
 *    (shutdown, connect/disconnect, the other ioctls, mmap) find the
 *    same TCP functions in every kTLS proto.
 *  - READY: under lock_sock, our copy of kTLS's final proto_ops (the
 *    table kTLS wrote into the stand-in at TLS_RX) replaces the gate's in
 *    the socket, then READY is published, then the waiters are woken. A
 *    gate entry that runs on after that sees READY and goes the ready way.
 *
 * The stand-in. While it is in, other code may read sk->sk_socket: TCP
 * (SOCK_NOSPACE in ->flags, from tcp_poll() or the socket's own senders),
 * sock_i_ino()/sock_i_uid() (inet_diag, /proc/net/tcp; under
 * sk_callback_lock), netfilter's owner match and SIGURG (->file),
 * sk_capable() (->file). So it carries the real socket's state, type,
 * flags, file and sk, and its inode the real one's number and owner;
 * it is swapped in and out under lock_sock and sk_callback_lock (the
 * softirq side of TCP runs under the socket's spinlock and defers to the
 * owner; sock_i_ino() takes sk_callback_lock), and a SOCK_NOSPACE set on
 * it meanwhile is carried over to the real socket when it goes. Its
 * lifetime is the atls_sock's: a lockless reader (tcp_poll()) runs inside
 * a syscall on the socket's file, which ends before the close that frees
 * the atls_sock. The DONE handler holds a reference on that file for the
 * whole installation, so the socket cannot be closed (nor its sk_socket
 * orphaned) under us. A rekey (rekey.c, atls_rekey_ktls()) uses the same
 * stand-in, from inside a call of the application that holds the file.
 *
 * What is left (atls.7): between update_sk_prot() and our re-wrap, code
 * that reads sk->sk_prot without going through the socket's proto_ops sees
 * kTLS's proto: our connection hooks (ulp.c: the request is INSTALLING,
 * which they leave alone anyway) and the helper's own raw I/O, if a thread
 * of the helper still does I/O on the socket after it sent DONE (its keys,
 * its process). Nothing of the application's.
 *
 * Receive tuning: with TLS_RX in, the module also sets kTLS's
 * TLS_RX_EXPECT_NO_PAD (module parameter rx_expect_no_pad, default on).
 * atls only speaks TLS 1.3, where that option lets kTLS decrypt a data
 * record straight into the reader's buffer instead of decrypting in place
 * and copying. A peer that does pad (or a control record) costs kTLS a
 * second decryption of that record (TlsDecryptRetry in /proc/net/tls_stat),
 * never a wrong byte: the record type and the padding are checked after
 * the first pass and the record is decrypted again the slow way. The
 * application can read the setting back and turn it off with
 * setsockopt(SOL_TLS, TLS_RX_EXPECT_NO_PAD) once the socket is ready.
 * Failing to set it is not an error (the socket works as kTLS's default).
 */
#include <linux/module.h>
#include <linux/sockptr.h>
#include <linux/tcp.h>
#include <net/inet_connection_sock.h>
#include <net/sock.h>
#include <net/tls.h>

#include "atls.h"
#include "atls_trace.h"

static bool atls_rx_no_pad = true;
module_param_named(rx_expect_no_pad, atls_rx_no_pad, bool, 0644);
MODULE_PARM_DESC(rx_expect_no_pad, "set TLS_RX_EXPECT_NO_PAD on new atls sockets (default on)");

static int atls_crypto_size(u16 cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return sizeof(struct tls12_crypto_info_aes_gcm_128);
	case TLS_CIPHER_AES_GCM_256:
		return sizeof(struct tls12_crypto_info_aes_gcm_256);
	case TLS_CIPHER_CHACHA20_POLY1305:
		return sizeof(struct tls12_crypto_info_chacha20_poly1305);
	default:
		return -EINVAL;
	}
}

int atls_keys_check(const void *tx, int txlen, const void *rx, int rxlen,
		    u16 *cipher)
{
	struct tls_crypto_info t, r;
	int size;

	if (txlen < (int)sizeof(t) || rxlen < (int)sizeof(r))
		return -EINVAL;
	memcpy(&t, tx, sizeof(t));
	memcpy(&r, rx, sizeof(r));
	if (t.version != TLS_1_3_VERSION || r.version != TLS_1_3_VERSION)
		return -EINVAL;
	if (t.cipher_type != r.cipher_type)
		return -EINVAL;
	size = atls_crypto_size(t.cipher_type);
	if (size < 0 || txlen != size || rxlen != size)
		return -EINVAL;
	*cipher = t.cipher_type;
	return 0;
}

/*
 * Acknowledge at READY what the helper read last. On the server that is the
 * client's Finished: TCP holds its ACK back for the delayed-ACK timer (up to
 * 40 ms; after the handshake's exchanges TCP is in its interactive
 * "pingpong" mode) since the server has no data to carry it, and Nagle on
 * the client holds the client's first small record behind its still
 * unacknowledged Finished until that ACK comes. So send the pending ACK
 * now, as setsockopt(TCP_QUICKACK) does (tcp_sock_set_quickack(), exported
 * by every kernel we build for), with the value that keeps TCP's ACK mode
 * as it was: 2 (ACK now, stay in delayed-ACK mode) if TCP is in pingpong
 * mode, else 1 (ACK now; that mode is already the quick one). Nothing the
 * application set changes: TCP_NODELAY and TCP_CORK are not touched, and
 * the ACK mode (all TCP_QUICKACK sets) is left as it was. The flags are
 * read without the
 * socket lock: if the delayed-ACK timer sends the ACK in between, the call
 * finds nothing scheduled and at worst leaves TCP in quick-ACK mode, which
 * TCP's next exchange ends as after any TCP_QUICKACK. Without a pending
 * ACK (the client: its Finished carried the ACK of the server's flight)
 * this does nothing.
 */
static void atls_ack_now(struct sock *sk)
{
	const struct inet_connection_sock *icsk = inet_csk(sk);

	if (!(READ_ONCE(icsk->icsk_ack.pending) & ICSK_ACK_SCHED))
		return;
	tcp_sock_set_quickack(sk, inet_csk_in_pingpong_mode(sk) ? 2 : 1);
}

/*
 * Under lock_sock: point sk->sk_socket at the stand-in, a copy of what
 * other readers of it may look at (see the top of this file).
 */
void atls_standin_enter(struct atls_sock *as, struct socket *sock)
{
	struct socket *si = &as->standin.socket;
	struct inode *ino = SOCK_INODE(si);
	struct sock *sk = as->sk;

	si->state = sock->state;
	si->type = sock->type;
	si->flags = READ_ONCE(sock->flags);
	si->file = sock->file;
	si->sk = sk;
	si->ops = sock->ops;
	ino->i_ino = SOCK_INODE(sock)->i_ino;
	ino->i_uid = SOCK_INODE(sock)->i_uid;
	ino->i_gid = SOCK_INODE(sock)->i_gid;
	ino->i_mode = SOCK_INODE(sock)->i_mode;
	write_lock_bh(&sk->sk_callback_lock);
	WRITE_ONCE(sk->sk_socket, si);
	write_unlock_bh(&sk->sk_callback_lock);
}

/* Under lock_sock: the real socket back; what kTLS set on the stand-in. */
const struct proto_ops *atls_standin_leave(struct atls_sock *as,
					   struct socket *sock)
{
	struct socket *si = &as->standin.socket;
	struct sock *sk = as->sk;

	write_lock_bh(&sk->sk_callback_lock);
	WRITE_ONCE(sk->sk_socket, sock);
	write_unlock_bh(&sk->sk_callback_lock);
	if (test_bit(SOCK_NOSPACE, &si->flags))
		set_bit(SOCK_NOSPACE, &sock->flags);
	return si->ops;
}

/*
 * One setsockopt(SOL_TLS, @optname) into kTLS with the stand-in in place,
 * then our ready proto over kTLS's (atls_rewrap(); nothing if kTLS refused
 * and left the proto alone). Returns kTLS's answer; *@ops: the proto_ops
 * kTLS chose (unchanged if it refused).
 */
static int atls_ktls_set(struct atls_sock *as, struct socket *sock,
			 int optname, void *blob, int len,
			 const struct proto_ops **ops)
{
	struct sock *sk = as->sk;
	int err;

	lock_sock(sk);
	atls_standin_enter(as, sock);
	release_sock(sk);

	err = atls_tls_set_crypto(sk, as->tls_base, optname, blob, len);

	lock_sock(sk);
	*ops = atls_standin_leave(as, sock);
	atls_rewrap(as);
	release_sock(sk);
	return err;
}

int atls_keys_install(struct atls_sock *as, struct socket *sock,
		      void *tx, int txlen, void *rx, int rxlen, u16 cipher,
		      const struct atls_peer_info *peer)
{
	const struct proto_ops *ops;
	struct sock *sk = as->sk;
	int err;

	lock_sock(sk);
	WRITE_ONCE(as->installer, current);
	WRITE_ONCE(as->installing, true);	/* the helper's raw way closes */
	release_sock(sk);

	err = atls_ktls_set(as, sock, TLS_TX, tx, txlen, &ops);
	trace_atls_keys_installed(sock, false, cipher, err);
	if (!err) {
		err = atls_ktls_set(as, sock, TLS_RX, rx, rxlen, &ops);
		trace_atls_keys_installed(sock, true, cipher, err);
	}
	if (!err) {
		/* From here kTLS's parser may read through our gate's
		 * read_sock (6.1): let it (gate.c). */
		lock_sock(sk);
		WRITE_ONCE(as->ktls_rx_ops, ops);
		release_sock(sk);
	}
	if (!err && READ_ONCE(atls_rx_no_pad)) {
		int one = 1;

		/* Changes no proto or ops: no stand-in needed. */
		if (as->tls_base->setsockopt(sk, SOL_TLS, TLS_RX_EXPECT_NO_PAD,
					     KERNEL_SOCKPTR(&one), sizeof(one)))
			atls_stat_inc(ATLS_STAT_RX_NO_PAD_FAILED);
	}

	lock_sock(sk);
	WRITE_ONCE(as->installer, NULL);
	if (!err) {
		atls_unhook_conn(as);	/* kTLS reports errors now */
		as->cipher = cipher;
		if (peer)
			as->peer = *peer;
		as->peer.tls_version = TLS_1_3_VERSION;
		as->peer.cipher = cipher;
		as->have_peer = true;
		/* The switch: ready ops in, READY out, waiters woken. */
		atls_ready_ops_install(as, ops);
		atls_set_state(as, ATLS_STATE_READY);
		wake_up_all(&as->wq);
	}
	WRITE_ONCE(as->installing, false);
	release_sock(sk);
	if (!err) {
		atls_ack_now(sk);
		sk->sk_state_change(sk);	/* pollers: POLLOUT now */
	}
	return err;
}
