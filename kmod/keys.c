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
 * Order: TLS_TX first. kTLS's update_sk_prot() replaces our gate by
 * tls_sw_sendmsg under lock_sock, so from that instant sends are encrypted;
 * (installing RX first would leave a clear-text send window). Then TLS_RX,
 * then re-wrap kTLS's final proto, publish READY and wake the waiters, all
 * before the caller wipes the blobs. The setsockopt goes through the
 * socket's own ops (atls_tls_set_crypto(), compat.h: a kernel pointer, or a
 * page of the helper's memory where kTLS's copy of a kernel pointer would
 * warn); our gate lets SOL_TLS through only for as->installer, the task
 * running this function.
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

int atls_keys_install(struct atls_sock *as, struct socket *sock,
		      void *tx, int txlen, void *rx, int rxlen, u16 cipher,
		      const struct atls_peer_info *peer)
{
	struct sock *sk = as->sk;
	bool tx_done;
	int err;

	lock_sock(sk);
	WRITE_ONCE(as->installer, current);
	release_sock(sk);

	err = atls_tls_set_crypto(sock, sock->ops, TLS_TX, tx, txlen);
	trace_atls_keys_installed(sock, false, cipher, err);

	/*
	 * Sends are encrypted now. Wrap kTLS's TX-only proto and ops at once:
	 * its recvmsg and splice_read would read the raw TCP queue and its
	 * getsockopt would hand out the TX key. The wrappers keep waiting
	 * until READY (state-based), so only a call that starts in the few
	 * instructions between kTLS's update_sk_prot() and this lock_sock()
	 * reaches kTLS's own ops.
	 */
	lock_sock(sk);
	tx_done = READ_ONCE(sk->sk_prot) != &as->gate;
	if (tx_done) {
		atls_rewrap(as);
		atls_gate_ops_wrap(as);
	}
	release_sock(sk);

	if (!err) {
		err = atls_tls_set_crypto(sock, READ_ONCE(sock->ops), TLS_RX,
					  rx, rxlen);
		trace_atls_keys_installed(sock, true, cipher, err);
	}
	if (!err && READ_ONCE(atls_rx_no_pad)) {
		int one = 1;

		/* Still the installer: passes our sockopt wrapper if it is in. */
		if (READ_ONCE(sock->ops)->setsockopt(sock, SOL_TLS, TLS_RX_EXPECT_NO_PAD,
						     KERNEL_SOCKPTR(&one), sizeof(one)))
			atls_stat_inc(ATLS_STAT_RX_NO_PAD_FAILED);
	}

	lock_sock(sk);
	WRITE_ONCE(as->installer, NULL);
	if (tx_done)
		atls_rewrap(as);	/* kTLS's final (TX+RX) proto */
	if (!err) {
		atls_unhook_conn(as);	/* kTLS reports errors now */
		atls_ready_ops_wrap(as);	/* poll, splice: whole records */
		as->cipher = cipher;
		if (peer)
			as->peer = *peer;
		as->peer.tls_version = TLS_1_3_VERSION;
		as->peer.cipher = cipher;
		as->have_peer = true;
		atls_set_state(as, ATLS_STATE_READY);
		wake_up_all(&as->wq);
	}
	release_sock(sk);
	if (!err) {
		atls_ack_now(sk);
		sk->sk_state_change(sk);	/* pollers: POLLOUT now */
	}
	return err;
}
