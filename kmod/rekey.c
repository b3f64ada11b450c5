// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 KeyUpdate (RFC 8446 4.6.3), handled in the kernel on kernels whose
 * kTLS can take a new key (Linux 6.14 and later, ATLS_HAVE_KTLS_REKEY).
 *
 * Where the secrets live (Documentation/protocol.rst, "KeyUpdate"): the
 * helper hands the two application traffic secrets to the kernel in DONE,
 * next to the key blobs expanded from them. The module keeps them in a
 * struct atls_rekey of its own, per socket, and never returns them: no
 * socket option reads them, they are wiped on every update and at close.
 * The next secret is HKDF-Expand-Label(secret, "traffic upd", "",
 * Hash.length), its key and iv HKDF-Expand-Label(secret, "key"/"iv", "", n)
 * (RFC 8446 7.2, 7.3), with the kernel's hmac(sha256) / hmac(sha384); the
 * blob goes to kTLS with setsockopt(SOL_TLS, TLS_RX or TLS_TX) again, same
 * version and cipher, record sequence number 0.
 *
 * Receive: kTLS decrypts a record that starts with a KeyUpdate, stops
 * decrypting (reads fail with EKEYEXPIRED) and hands the record to
 * control.c, which calls atls_rekey_peer() with it under as->rx_ctl_lock.
 * A record that is exactly one KeyUpdate (type 24, length 1, value 0 or 1)
 * installs the next RX key; if the peer asked (update_requested) our own
 * KeyUpdate is due. Anything else starting with a KeyUpdate is malformed
 * (RFC 8446 5.1: a KeyUpdate ends its record): EPROTO.
 *
 * Send: a due KeyUpdate goes out under as->tx_lock, the lock every send
 * holds (ready.c): a handshake record (TLS_SET_RECORD_TYPE 22 through
 * kTLS's own sendmsg, which first closes any open data record), then the
 * next TX key. The reader that found the request sends it at once if no
 * send is running (mutex_trylock); otherwise the running send does it
 * before it lets the lock go, and every send checks first: so our KeyUpdate
 * always precedes our next data record, as RFC 8446 requires.
 *
 * On our own: past rekey_records records in a direction (module parameter)
 * the module updates: TX by sending a KeyUpdate (update_not_requested) and
 * rotating; RX by sending one with update_requested (once per RX key) so
 * that the peer rotates its TX key. Record sequence numbers start again at
 * 0 with each key, so the record limit of ready.c is never reached.
 *
 * kTLS's copy of a key blob from a kernel pointer warns on kernels built
 * with FORTIFY_SOURCE by gcc >= 13 (compat.h, ATLS_TLS_CRYPTO_VIA_USER).
 * The DONE install then uses a page of the helper's memory; a rekey runs in
 * the application's context, whose memory must never hold a key, so there
 * it runs in a kernel worker that borrows, for the moment of the copy, the
 * address space of the helper that last sent secrets (atls_key_mm; the
 * helper derived these secrets itself). No such helper alive: the update
 * fails (EKEYEXPIRED, ATLS_REASON_KEY_UPDATE).
 *
 * Any failure to update (a KeyUpdate that cannot be sent, kTLS refusing a
 * key) ends the connection: EKEYEXPIRED with ATLS_REASON_KEY_UPDATE, as a
 * KeyUpdate does on kernels without rekey. Never a byte in clear.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <linux/socket.h>
#include <linux/sched/mm.h>
#include <linux/kthread.h>
#include <linux/workqueue.h>
#include <linux/completion.h>
#include <crypto/hash.h>
#include <net/tls.h>

#include "atls.h"

#define ATLS_HS_KEY_UPDATE	24
#define ATLS_CT_HANDSHAKE	22

unsigned long atls_rekey_records = 1UL << 22;
module_param_named(rekey_records, atls_rekey_records, ulong, 0644);
MODULE_PARM_DESC(rekey_records,
		 "records per direction and key before atls sends a KeyUpdate (Linux 6.14+; 0: never)");

/* atls_rekey.flags */
#define ATLS_RK_TX_DUE		0	/* send KeyUpdate(update_not_requested) */
#define ATLS_RK_TX_ASK		1	/* send KeyUpdate(update_requested) */
#define ATLS_RK_RX_ASKED	2	/* asked for a new RX key, not yet come */

/*
 * Per socket, allocated at DONE (atls_rekey_attach()) before READY, freed
 * and wiped at close (atls_rekey_free()). secret[0] (TX) is used under
 * as->tx_lock, secret[1] (RX) and rx_gen under as->rx_ctl_lock; flags are
 * atomic bits.
 */
struct atls_rekey {
	u8 secret[2][ATLS_SECRET_MAX];
	unsigned int len;		/* hash length: 32 or 48 */
	u16 cipher;
	unsigned long flags;
	u32 rx_gen;			/* RX keys installed by the module */
};

/* The hash of a TLS 1.3 suite kTLS supports: 0x1302 (AES-256-GCM) is SHA-384. */
static unsigned int atls_suite_hash_len(u16 cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
	case TLS_CIPHER_CHACHA20_POLY1305:
		return 32;
	case TLS_CIPHER_AES_GCM_256:
		return 48;
	default:
		return 0;
	}
}

/*
 * HKDF-Expand-Label(secret, label, "", olen) of RFC 8446 7.1 with
 * HMAC-SHA256 (len 32) or HMAC-SHA384 (len 48); olen <= len, so HKDF-Expand
 * is the one block T(1) = HMAC(secret, HkdfLabel || 0x01).
 */
int atls_hkdf_expand_label(const u8 *secret, unsigned int len,
			   const char *label, u8 *out, unsigned int olen)
{
	u8 info[2 + 1 + 6 + 32 + 1 + 1];
	u8 t[ATLS_SECRET_MAX];
	struct crypto_shash *tfm;
	size_t ll = strlen(label);
	unsigned int n = 0;
	int err;

	if ((len != 32 && len != 48) || !olen || olen > len || ll > 32)
		return -EINVAL;
	info[n++] = olen >> 8;
	info[n++] = olen & 0xff;
	info[n++] = 6 + ll;
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0;		/* empty context */
	info[n++] = 1;		/* T(1) */

	tfm = crypto_alloc_shash(len == 32 ? "hmac(sha256)" : "hmac(sha384)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	err = crypto_shash_setkey(tfm, secret, len);
	if (!err)
		err = crypto_shash_tfm_digest(tfm, info, n, t);
	crypto_free_shash(tfm);	/* wipes its copy of the key */
	if (!err)
		memcpy(out, t, olen);
	memzero_explicit(t, sizeof(t));
	return err;
}

/*
 * Known answers, checked at load: RFC 8448 section 3 (key and iv of the
 * server handshake traffic secret), and "traffic upd" for SHA-256 and
 * SHA-384 (the same values libatls/tests/hkdf_test.c gets from OpenSSL).
 */
static const u8 atls_kat_secret[32] = {
	0xb6, 0x7b, 0x7d, 0x69, 0x0c, 0xc1, 0x6c, 0x4e, 0x75, 0xe5, 0x42, 0x13,
	0xcb, 0x2d, 0x37, 0xb4, 0xe9, 0xc9, 0x12, 0xbc, 0xde, 0xd9, 0x10, 0x5d,
	0x42, 0xbe, 0xfd, 0x59, 0xd3, 0x91, 0xad, 0x38,
};
static const u8 atls_kat_key[16] = {
	0x3f, 0xce, 0x51, 0x60, 0x09, 0xc2, 0x17, 0x27, 0xd0, 0xf2, 0xe4, 0xe8,
	0x6e, 0xe4, 0x03, 0xbc,
};
static const u8 atls_kat_iv[12] = {
	0x5d, 0x31, 0x3e, 0xb2, 0x67, 0x12, 0x76, 0xee, 0x13, 0x00, 0x0b, 0x30,
};
static const u8 atls_kat_upd256[32] = {
	0xc5, 0x84, 0x7f, 0xfa, 0x1b, 0xfe, 0xa2, 0xd5, 0xc4, 0x09, 0xee, 0xe4,
	0x5d, 0x28, 0x13, 0x18, 0x13, 0x27, 0xa7, 0x8a, 0x52, 0xee, 0x6d, 0x02,
	0xd8, 0xa5, 0xe1, 0x0f, 0xbf, 0x0f, 0xfa, 0xce,
};
/* secret 00 01 02 ... 2f */
static const u8 atls_kat_upd384[48] = {
	0x40, 0x13, 0x31, 0xb6, 0x3e, 0x9d, 0x59, 0xf2, 0x02, 0xe8, 0xf0, 0x41,
	0x04, 0x2d, 0x95, 0x16, 0xf4, 0xcd, 0x7f, 0xa2, 0xe2, 0xee, 0x14, 0x63,
	0x1d, 0x3b, 0x49, 0xfc, 0x34, 0x0d, 0x7a, 0xf3, 0x7f, 0xc2, 0xc0, 0xc9,
	0xf2, 0x52, 0xd8, 0x03, 0x6f, 0x81, 0xec, 0x5b, 0x85, 0xcb, 0xe5, 0xdb,
};

static int atls_hkdf_selftest(void)
{
	u8 s384[48], out[48];
	int i, err;

	for (i = 0; i < 48; i++)
		s384[i] = i;
	err = atls_hkdf_expand_label(atls_kat_secret, 32, "key", out, 16);
	if (!err && memcmp(out, atls_kat_key, 16))
		err = -EBADMSG;
	if (!err)
		err = atls_hkdf_expand_label(atls_kat_secret, 32, "iv", out, 12);
	if (!err && memcmp(out, atls_kat_iv, 12))
		err = -EBADMSG;
	if (!err)
		err = atls_hkdf_expand_label(atls_kat_secret, 32, "traffic upd", out, 32);
	if (!err && memcmp(out, atls_kat_upd256, 32))
		err = -EBADMSG;
	if (!err)
		err = atls_hkdf_expand_label(s384, 48, "traffic upd", out, 48);
	if (!err && memcmp(out, atls_kat_upd384, 48))
		err = -EBADMSG;
	return err;
}


/* Both secrets from DONE (before READY), or neither. Lengths checked here. */
int atls_rekey_attach(struct atls_sock *as, u16 cipher, const void *stx,
		      int txlen, const void *srx, int rxlen)
{
	unsigned int len = atls_suite_hash_len(cipher);

	if (!stx && !srx)
		return 0;
	if (!stx || !srx || !len || txlen != len || rxlen != len)
		return -EINVAL;
#ifdef ATLS_HAVE_KTLS_REKEY
	struct atls_rekey *rk;

	if (as->rekey)
		return -EINVAL;
	rk = kzalloc(sizeof(*rk), GFP_KERNEL);
	if (!rk)
		return 0;	/* no rekey for this socket: KeyUpdate ends it */
	memcpy(rk->secret[0], stx, len);
	memcpy(rk->secret[1], srx, len);
	rk->len = len;
	rk->cipher = cipher;
	WRITE_ONCE(as->rekey, rk);	/* published with READY (release) */
	atls_rekey_note_helper();
#endif
	return 0;
}

void atls_rekey_free(struct atls_sock *as)
{
	kfree_sensitive(as->rekey);	/* secrets: zeroed before free */
	as->rekey = NULL;
}

#ifdef ATLS_HAVE_KTLS_REKEY
static struct atls_rekey *atls_rk(const struct atls_sock *as)
{
	return READ_ONCE(as->rekey);
}

/*
 * The crypto_info blob of @secret: key and iv expanded as at DONE, record
 * sequence number 0. @blob holds the largest; returns its length.
 */
static int atls_rekey_blob(const struct atls_rekey *rk, const u8 *secret,
			   union { struct tls12_crypto_info_aes_gcm_128 g128;
				   struct tls12_crypto_info_aes_gcm_256 g256;
				   struct tls12_crypto_info_chacha20_poly1305 c; } *blob)
{
	unsigned int klen = rk->cipher == TLS_CIPHER_AES_GCM_128 ? 16 : 32;
	u8 key[32], iv[12];
	int err, len;

	err = atls_hkdf_expand_label(secret, rk->len, "key", key, klen);
	if (!err)
		err = atls_hkdf_expand_label(secret, rk->len, "iv", iv, sizeof(iv));
	if (err)
		goto out;
	memset(blob, 0, sizeof(*blob));
	switch (rk->cipher) {
	case TLS_CIPHER_AES_GCM_128:
		blob->g128.info.version = TLS_1_3_VERSION;
		blob->g128.info.cipher_type = rk->cipher;
		memcpy(blob->g128.key, key, 16);
		memcpy(blob->g128.salt, iv, 4);
		memcpy(blob->g128.iv, iv + 4, 8);
		len = sizeof(blob->g128);
		break;
	case TLS_CIPHER_AES_GCM_256:
		blob->g256.info.version = TLS_1_3_VERSION;
		blob->g256.info.cipher_type = rk->cipher;
		memcpy(blob->g256.key, key, 32);
		memcpy(blob->g256.salt, iv, 4);
		memcpy(blob->g256.iv, iv + 4, 8);
		len = sizeof(blob->g256);
		break;
	default:
		blob->c.info.version = TLS_1_3_VERSION;
		blob->c.info.cipher_type = rk->cipher;
		memcpy(blob->c.key, key, 32);
		memcpy(blob->c.iv, iv, 12);
		len = sizeof(blob->c);
		break;
	}
	err = len;
out:
	memzero_explicit(key, sizeof(key));
	memzero_explicit(iv, sizeof(iv));
	return err;
}

#ifdef ATLS_TLS_CRYPTO_VIA_USER
/*
 * The address space of the helper that last sent secrets (mmgrab: the
 * struct stays; mmget_not_zero() at use tells whether it is still alive).
 */
static DEFINE_SPINLOCK(atls_key_mm_lock);
static struct mm_struct *atls_key_mm;

void atls_rekey_note_helper(void)
{
	struct mm_struct *mm = current->mm, *old;

	if (!mm || (current->flags & PF_KTHREAD) || mm == READ_ONCE(atls_key_mm))
		return;
	mmgrab(mm);
	spin_lock(&atls_key_mm_lock);
	old = atls_key_mm;
	WRITE_ONCE(atls_key_mm, mm);
	spin_unlock(&atls_key_mm_lock);
	if (old)
		mmdrop(old);
}

struct atls_rekey_job {
	struct work_struct work;
	struct completion done;
	struct atls_sock *as;
	void *blob;
	int optname, len, err;
};

static int atls_proto_set_tls(void *arg, int optname, sockptr_t v, int len)
{
	struct atls_sock *as = arg;

	return READ_ONCE(as->tls_final)->setsockopt(as->sk, SOL_TLS, optname, v, len);
}

static void atls_rekey_job_fn(struct work_struct *w)
{
	struct atls_rekey_job *j = container_of(w, struct atls_rekey_job, work);
	struct mm_struct *mm;

	spin_lock(&atls_key_mm_lock);
	mm = atls_key_mm;
	if (mm && !mmget_not_zero(mm))
		mm = NULL;
	spin_unlock(&atls_key_mm_lock);
	if (!mm) {
		j->err = -ESRCH;
		goto out;
	}
	kthread_use_mm(mm);
	j->err = atls_tls_set_crypto_user(atls_proto_set_tls, j->as, j->optname,
					  j->blob, j->len);
	kthread_unuse_mm(mm);
	mmput(mm);
out:
	complete(&j->done);
}

static int atls_ktls_set(struct atls_sock *as, int optname, void *blob, int len)
{
	struct atls_rekey_job j = { .as = as, .blob = blob, .optname = optname,
				    .len = len };

	INIT_WORK_ONSTACK(&j.work, atls_rekey_job_fn);
	init_completion(&j.done);
	queue_work(atls_unbound_wq, &j.work);
	wait_for_completion(&j.done);
	destroy_work_on_stack(&j.work);
	return j.err;
}

static void atls_key_mm_exit(void)
{
	if (atls_key_mm)
		mmdrop(atls_key_mm);
	atls_key_mm = NULL;
}
#else
void atls_rekey_note_helper(void)
{
}

static int atls_ktls_set(struct atls_sock *as, int optname, void *blob, int len)
{
	return READ_ONCE(as->tls_final)->setsockopt(as->sk, SOL_TLS, optname,
						    KERNEL_SOCKPTR(blob), len);
}

static void atls_key_mm_exit(void)
{
}
#endif

/*
 * The new key into kTLS without the application seeing kTLS's own tables,
 * as at installation (keys.c). kTLS's setsockopt runs update_sk_prot()
 * under lock_sock, which writes sk->sk_prot and sk->sk_socket->ops; so:
 *
 *  - sk->sk_socket points to the stand-in while kTLS's setsockopt runs
 *    (entered and left under lock_sock and sk_callback_lock, keys.c): kTLS
 *    writes its proto_ops there, and the application's struct socket keeps
 *    our ready proto_ops throughout.
 *  - sk->sk_prot is kTLS's own from update_sk_prot() until atls_rewrap()
 *    below, under lock_sock again. Our ready proto_ops never go through
 *    sk->sk_prot for an entry that could reach kTLS (ready.c,
 *    atls_rops_*()), and our proto's entries find the atls_sock by state
 *    (atls_sk_call()): no call of the application meets kTLS's proto,
 *    none answers EBADF for it, none reads a key. kTLS's tls_sw_* run
 *    by our functions meanwhile are serialized with the update by kTLS's
 *    lock_sock: they act on the old key or on the new one.
 *
 * The struct socket: the rekey runs inside a call of the application on
 * this socket (a send, a receive, a splice, SIOCINQ; in a worker only
 * while that call waits), which holds the file, so sk->sk_socket is the
 * application's socket and stays so (no close, no sock_orphan()) until we
 * return. as->rekey_lock: a TX update (under tx_lock) and an RX update
 * (under rx_ctl_lock) may come at once, and there is one stand-in; only
 * one of them swaps at a time, the other waits (an HKDF and a setsockopt).
 */
static int atls_rekey_ktls(struct atls_sock *as, int optname, void *blob,
			   int len)
{
	const struct proto_ops *ops;
	struct sock *sk = as->sk;
	struct socket *sock;
	int err;

	mutex_lock(&as->rekey_lock);
	lock_sock(sk);
	sock = sk->sk_socket;
	if (WARN_ON_ONCE(!sock || sock == &as->standin.socket)) {
		release_sock(sk);
		mutex_unlock(&as->rekey_lock);
		return -EBADF;	/* cannot happen: fails the connection */
	}
	atls_standin_enter(as, sock);
	release_sock(sk);

	err = atls_ktls_set(as, optname, blob, len);

	lock_sock(sk);
	ops = atls_standin_leave(as, sock);
	atls_rewrap(as);	/* kTLS's proto was in since update_sk_prot() */
	atls_ready_ops_rekeyed(as, ops);
	release_sock(sk);
	mutex_unlock(&as->rekey_lock);
	return err;
}

/*
 * Next secret of direction @dir (0 TX, 1 RX), its blob into kTLS
 * (atls_rekey_ktls()), the secret kept. Caller holds the direction's lock.
 */
static int atls_rekey_dir(struct atls_sock *as, struct atls_rekey *rk, int dir)
{
	union { struct tls12_crypto_info_aes_gcm_128 g128;
		struct tls12_crypto_info_aes_gcm_256 g256;
		struct tls12_crypto_info_chacha20_poly1305 c; } blob;
	u8 next[ATLS_SECRET_MAX];
	int len, err;

	err = atls_hkdf_expand_label(rk->secret[dir], rk->len, "traffic upd",
				     next, rk->len);
	if (err)
		goto out;
	len = atls_rekey_blob(rk, next, (void *)&blob);
	if (len < 0) {
		err = len;
		goto out;
	}
	err = atls_rekey_ktls(as, dir ? TLS_RX : TLS_TX, &blob, len);
	if (!err)
		memcpy(rk->secret[dir], next, rk->len);
out:
	memzero_explicit(&blob, sizeof(blob));
	memzero_explicit(next, sizeof(next));
	return err;
}

static void atls_rekey_failed(struct atls_sock *as, int err)
{
	pr_debug("key update failed: %d\n", err);
	atls_stat_inc(ATLS_STAT_REKEY_FAILED);
	atls_sock_fail(as, -EKEYEXPIRED, ATLS_REASON_KEY_UPDATE);
}

/*
 * Our KeyUpdate (request: update_requested), then the next TX key. Under
 * as->tx_lock. With @nonblock, or when a signal interrupts the wait for
 * send buffer space, the record may not go out at all: -EAGAIN (or the
 * signal's errno), nothing changed, the caller keeps it due. A KeyUpdate
 * queued but its key refused by kTLS ends the connection.
 */
static int atls_rekey_send(struct atls_sock *as, struct atls_rekey *rk,
			   bool request, bool nonblock)
{
	u8 cbuf[CMSG_SPACE(sizeof(u8))] __aligned(sizeof(long)) = {};
	struct cmsghdr *cm = (struct cmsghdr *)cbuf;
	u8 ku[5] = { ATLS_HS_KEY_UPDATE, 0, 0, 1, request };
	struct kvec kv = { .iov_base = ku, .iov_len = sizeof(ku) };
	struct msghdr m = {};
	int ret;

	cm->cmsg_len = CMSG_LEN(sizeof(u8));
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	*(u8 *)CMSG_DATA(cm) = ATLS_CT_HANDSHAKE;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	m.msg_control_is_user = false;
	m.msg_flags = MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0);
	iov_iter_kvec(&m.msg_iter, ITER_SOURCE, &kv, 1, sizeof(ku));
	ret = READ_ONCE(as->tls_final)->sendmsg(as->sk, &m, sizeof(ku));
	if (ret == -EAGAIN || ret == -EINTR || ret == -ERESTARTSYS)
		return ret;	/* not sent: still due */
	if (ret != sizeof(ku)) {
		atls_rekey_failed(as, ret < 0 ? ret : -EIO);
		return -EKEYEXPIRED;
	}
	ret = atls_rekey_dir(as, rk, 0);
	if (ret) {
		atls_rekey_failed(as, ret);
		return -EKEYEXPIRED;
	}
	if (request)
		set_bit(ATLS_RK_RX_ASKED, &rk->flags);
	atls_stat_inc(ATLS_STAT_REKEY_TX);
	return 0;
}

static u64 atls_rec_seq(const char *p)
{
	__be64 v;

	memcpy(&v, p, sizeof(v));
	return be64_to_cpu(v);
}

/*
 * Under as->tx_lock, before a send and before the lock goes: a KeyUpdate
 * that is due (asked by the peer, or ours past the threshold) is sent and
 * TX rotated. 0, the sticky errno, or (not sent, still due; @nonblock or a
 * signal) -EAGAIN / -EINTR / -ERESTARTSYS.
 */
int atls_rekey_tx(struct atls_sock *as, bool nonblock)
{
	struct atls_rekey *rk = atls_rk(as);
	u64 thr = READ_ONCE(atls_rekey_records);
	bool due, ask, over;
	int err;

	if (!rk)
		return 0;
	if (READ_ONCE(as->err))
		return READ_ONCE(as->err);
	ask = test_and_clear_bit(ATLS_RK_TX_ASK, &rk->flags);
	due = test_and_clear_bit(ATLS_RK_TX_DUE, &rk->flags);
	over = thr && atls_rec_seq(tls_get_ctx(as->sk)->tx.rec_seq) >= thr;
	if (!due && !ask && !over)
		return 0;
	err = atls_rekey_send(as, rk, ask, nonblock);
	if (err && !READ_ONCE(as->err)) {
		/* Not sent: due again (the threshold needs no flag). */
		if (ask)
			set_bit(ATLS_RK_TX_ASK, &rk->flags);
		if (due)
			set_bit(ATLS_RK_TX_DUE, &rk->flags);
	}
	return err;
}

/* Records this send may start before the threshold (U64_MAX: none). */
u64 atls_rekey_tx_left(struct atls_sock *as)
{
	u64 thr = READ_ONCE(atls_rekey_records), seq;

	if (!atls_rk(as) || !thr)
		return U64_MAX;
	seq = atls_rec_seq(tls_get_ctx(as->sk)->tx.rec_seq);
	return seq < thr ? thr - seq : 1;
}

bool atls_rekey_tx_pending(struct atls_sock *as)
{
	struct atls_rekey *rk = atls_rk(as);

	return rk && (test_bit(ATLS_RK_TX_DUE, &rk->flags) ||
		      test_bit(ATLS_RK_TX_ASK, &rk->flags));
}

/*
 * A KeyUpdate of ours is due (flag set): send it now unless a send holds
 * as->tx_lock, which then sends it before letting go (ready.c). Never
 * waits for send buffer space (a reader must not block on the peer's
 * reading): if there is none it stays due, for the next send or receive.
 */
void atls_rekey_kick(struct atls_sock *as)
{
	smp_mb__after_atomic();		/* flag set before the trylock */
	if (!mutex_trylock(&as->tx_lock))
		return;
	atls_rekey_tx(as, true);
	mutex_unlock(&as->tx_lock);
}

/*
 * A receive past the threshold: ask the peer (once per RX key) for a new
 * key; our KeyUpdate(update_requested) also rotates TX.
 */
void atls_rekey_rx_check(struct atls_sock *as)
{
	struct atls_rekey *rk = atls_rk(as);
	u64 thr = READ_ONCE(atls_rekey_records);

	if (!rk)
		return;
	if (thr && !test_bit(ATLS_RK_RX_ASKED, &rk->flags) &&
	    atls_rec_seq(tls_get_ctx(as->sk)->rx.rec_seq) >= thr)
		set_bit(ATLS_RK_TX_ASK, &rk->flags);
	if (atls_rekey_tx_pending(as))
		atls_rekey_kick(as);	/* also one left due earlier */
}

u32 atls_rekey_rx_gen(struct atls_sock *as)
{
	struct atls_rekey *rk = atls_rk(as);

	return rk ? READ_ONCE(rk->rx_gen) : 0;
}

/*
 * kTLS said EKEYEXPIRED: a KeyUpdate was read and RX waits for its key. If
 * the module read it, it installs the key under as->rx_ctl_lock: wait for
 * that and read on (0). If the RX key generation did not move since the
 * read started (@gen), someone else took the KeyUpdate (a reader with its
 * own control buffer): nobody will install the key, the connection ends.
 */
int atls_rekey_expired(struct atls_sock *as, u32 gen)
{
	u32 now;

	mutex_lock(&as->rx_ctl_lock);
	now = atls_rekey_rx_gen(as);
	mutex_unlock(&as->rx_ctl_lock);
	if (atls_rk(as) && now != gen)
		return 0;
	if (READ_ONCE(as->err))
		return READ_ONCE(as->err);
	atls_stat_inc(ATLS_STAT_KEY_UPDATES);
	atls_sock_fail(as, -EKEYEXPIRED, ATLS_REASON_KEY_UPDATE);
	return -EKEYEXPIRED;
}
#endif /* ATLS_HAVE_KTLS_REKEY */

/*
 * control.c, under as->rx_ctl_lock: the handshake record @rec (@len bytes)
 * holds a KeyUpdate; @first: it is the record's first message (kTLS has
 * paused decryption). 0: the next RX key is in, read on; else the sticky
 * errno (the connection is failed).
 */
int atls_rekey_peer(struct atls_sock *as, const u8 *rec, u32 len, bool first)
{
	atls_stat_inc(ATLS_STAT_KEY_UPDATES);
	if (first && (len != 5 || rec[1] || rec[2] || rec[3] != 1 || rec[4] > 1)) {
		atls_sock_fail(as, -EPROTO, ATLS_REASON_BAD_RECORD);
		return -EPROTO;
	}
#ifdef ATLS_HAVE_KTLS_REKEY
	if (first && atls_rk(as)) {
		struct atls_rekey *rk = atls_rk(as);
		int err;

		err = atls_rekey_dir(as, rk, 1);
		if (err) {
			atls_rekey_failed(as, err);
			return -EKEYEXPIRED;
		}
		WRITE_ONCE(rk->rx_gen, rk->rx_gen + 1);
		clear_bit(ATLS_RK_RX_ASKED, &rk->flags);
		atls_stat_inc(ATLS_STAT_REKEY_RX);
		if (rec[4])
			set_bit(ATLS_RK_TX_DUE, &rk->flags);
		return 0;
	}
#endif
	atls_sock_fail(as, -EKEYEXPIRED, ATLS_REASON_KEY_UPDATE);
	return -EKEYEXPIRED;
}

/* The derivation is checked on every kernel, also where it is not used. */
int atls_rekey_init(void)
{
	int err = atls_hkdf_selftest();

	if (err)
		pr_err("HKDF-Expand-Label self-test failed: %d\n", err);
	return err;
}

void atls_rekey_exit(void)
{
#ifdef ATLS_HAVE_KTLS_REKEY
	atls_key_mm_exit();
#endif
}
