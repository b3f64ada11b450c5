// SPDX-License-Identifier: GPL-2.0
/*
 * Shared helpers of the atls.ko tests: sockets, fixed keys, a userspace
 * TLS 1.3 record AEAD (OpenSSL), and the genl test helper (libnl-genl-3).
 * See kutil.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "kutil.h"

/* ---- sockets ---- */

int ku_tcp_pair(int family, int *cli, int *srv)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t alen;
	int l, c, s;

	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		alen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(*a);
	}
	l = socket(family, SOCK_STREAM, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (void *)&ss, alen) || listen(l, 1) ||
	    getsockname(l, (void *)&ss, &alen))
		goto fail_l;
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0)
		goto fail_l;
	if (connect(c, (void *)&ss, alen))
		goto fail_c;
	s = accept(l, NULL, NULL);
	if (s < 0)
		goto fail_c;
	close(l);
	*cli = c;
	*srv = s;
	return 0;
fail_c:
	close(c);
fail_l:
	close(l);
	return -errno;
}

int ku_ulp(int fd)
{
	return setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME,
			  sizeof(ATLS_ULP_NAME)) ? -errno : 0;
}

void ku_start_init(struct atls_start *st, uint32_t role, uint32_t timeout_ms)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->role = role;
	st->timeout_ms = timeout_ms;
	strcpy(st->policy, "test");
	strcpy(st->peer, "peer.test");
}

int ku_start(int fd, uint32_t role, uint32_t timeout_ms, uint32_t flags)
{
	struct atls_start st;

	ku_start_init(&st, role, timeout_ms);
	st.flags = flags;
	return setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)) ? -errno : 0;
}

int ku_status(int fd, struct atls_status *st)
{
	socklen_t len = sizeof(*st);

	return getsockopt(fd, SOL_ATLS, ATLS_STATUS, st, &len) ? -errno : 0;
}

static long ku_ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

int ku_wait_state(int fd, uint32_t state, int timeout_ms)
{
	long end = ku_ms_now() + timeout_ms;
	struct atls_status st;

	do {
		if (ku_status(fd, &st))
			return -errno;
		if (st.state == state)
			return 0;
		usleep(2000);
	} while (ku_ms_now() < end);
	return -ETIMEDOUT;
}

ssize_t ku_read_full(int fd, void *buf, size_t n, int timeout_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, timeout_ms) != 1)
			return got ? (ssize_t)got : -ETIMEDOUT;
		r = read(fd, (char *)buf + got, n - got);
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

/* Whatever arrives within wait_ms (and keeps arriving), up to n bytes. */
ssize_t ku_read_avail(int fd, void *buf, size_t n, int wait_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, wait_ms) != 1)
			break;
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

/* The value of @name in a file of "name value" lines, or -1. */
static long ku_stat_file(const char *path, const char *name)
{
	char line[128], key[64];
	long v, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", key, &v) == 2 && !strcmp(key, name))
			ret = v;
	fclose(f);
	return ret;
}

long ku_proc_stat(const char *name)
{
	return ku_stat_file("/proc/net/atls", name);
}

long ku_tls_stat(const char *name)
{
	return ku_stat_file("/proc/net/tls_stat", name);
}

int ku_wait_idle(int timeout_ms)
{
	long end = ku_ms_now() + timeout_ms;

	while (ku_proc_stat("live_requests") != 0) {
		if (ku_ms_now() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}

int ku_wait_inq(int fd, int n, int timeout_ms)
{
	long end = ku_ms_now() + timeout_ms;
	int q;

	for (;;) {
		if (ioctl(fd, SIOCINQ, &q))
			return -errno;
		if (q >= n)
			return 0;
		if (ku_ms_now() > end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

/*
 * /proc/self/task/TID/syscall names the system call a blocked thread sleeps
 * in ("NR args... sp pc"), "running" while it runs, "-1 ..." when it is
 * blocked outside of one; the state in .../stat must say sleeping too.
 */
int ku_wait_in_syscall(pid_t tid, long nr, int timeout_ms)
{
	long end = ku_ms_now() + timeout_ms;
	char path[64], buf[256], *p;
	long got;
	FILE *f;

	for (;;) {
		got = -2;
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
		f = fopen(path, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld", &got) != 1)
				got = -2;
			fclose(f);
		}
		if (got == nr) {
			snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
			f = fopen(path, "r");
			if (f) {
				if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
				    p[1] == ' ' && p[2] == 'S') {
					fclose(f);
					return 0;
				}
				fclose(f);
			}
		}
		if (ku_ms_now() > end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

/* ---- keys and records ---- */

void ku_keys(struct ku_keys *k, unsigned short cipher, int dir)
{
	unsigned int i;

	memset(k, 0, sizeof(*k));
	k->cipher = cipher;
	for (i = 0; i < sizeof(k->key); i++)
		k->key[i] = 0x40 + i + 0x20 * dir;
	for (i = 0; i < sizeof(k->iv12); i++)
		k->iv12[i] = 0xa0 + i + 0x20 * dir;
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_256:
		k->ci.g256.info.version = TLS_1_3_VERSION;
		k->ci.g256.info.cipher_type = cipher;
		memcpy(k->ci.g256.key, k->key, 32);
		memcpy(k->ci.g256.salt, k->iv12, 4);
		memcpy(k->ci.g256.iv, k->iv12 + 4, 8);
		k->len = sizeof(k->ci.g256);
		k->key_len = 32;
		break;
	case TLS_CIPHER_CHACHA20_POLY1305:
		k->ci.cc.info.version = TLS_1_3_VERSION;
		k->ci.cc.info.cipher_type = cipher;
		memcpy(k->ci.cc.key, k->key, 32);
		memcpy(k->ci.cc.iv, k->iv12, 12);
		k->len = sizeof(k->ci.cc);
		k->key_len = 32;
		break;
	default:
		k->cipher = TLS_CIPHER_AES_GCM_128;
		k->ci.g128.info.version = TLS_1_3_VERSION;
		k->ci.g128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
		memcpy(k->ci.g128.key, k->key, 16);
		memcpy(k->ci.g128.salt, k->iv12, 4);
		memcpy(k->ci.g128.iv, k->iv12 + 4, 8);
		k->len = sizeof(k->ci.g128);
		k->key_len = 16;
		break;
	}
}

static const EVP_CIPHER *ku_evp(const struct ku_keys *k)
{
	switch (k->cipher) {
	case TLS_CIPHER_AES_GCM_256:
		return EVP_aes_256_gcm();
	case TLS_CIPHER_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	default:
		return EVP_aes_128_gcm();
	}
}

static void ku_nonce(const struct ku_keys *k, uint64_t seq, unsigned char *nonce)
{
	int i;

	memcpy(nonce, k->iv12, 12);
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= (seq >> (8 * i)) & 0xff;
}

/* Open one TLS 1.3 record; out gets the content, *type the inner type. */
int ku_open_record(const struct ku_keys *k, uint64_t seq, const unsigned char *rec,
		   size_t rec_len, unsigned char *out, size_t *out_len, uint8_t *type)
{
	unsigned char nonce[12];
	EVP_CIPHER_CTX *c;
	size_t ct_len;
	int len, ok = 0;

	if (rec_len < 5 + 16 + 1)
		return -1;
	ct_len = rec_len - 5 - 16;
	ku_nonce(k, seq, nonce);
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	if (EVP_DecryptInit_ex(c, ku_evp(k), NULL, NULL, NULL) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
	    EVP_DecryptInit_ex(c, NULL, NULL, k->key, nonce) &&
	    EVP_DecryptUpdate(c, NULL, &len, rec, 5) &&
	    EVP_DecryptUpdate(c, out, &len, rec + 5, ct_len) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(rec + 5 + ct_len)) &&
	    EVP_DecryptFinal_ex(c, out + len, &len))
		ok = 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return -1;
	while (ct_len && out[ct_len - 1] == 0)	/* TLS 1.3 padding */
		ct_len--;
	if (!ct_len)
		return -1;
	*type = out[ct_len - 1];
	*out_len = ct_len - 1;
	return 0;
}

size_t ku_seal_record(const struct ku_keys *k, uint64_t seq, uint8_t type,
		      const void *data, size_t len, unsigned char *rec)
{
	return ku_seal_record_pad(k, seq, type, data, len, 0, rec);
}

size_t ku_seal_record_pad(const struct ku_keys *k, uint64_t seq, uint8_t type,
			  const void *data, size_t len, size_t pad, unsigned char *rec)
{
	unsigned char nonce[12], inner[17000];
	size_t ilen = len + 1 + pad;
	EVP_CIPHER_CTX *c;
	int outl, ok = 0;

	if (len + pad > 16384)
		return 0;
	memcpy(inner, data, len);
	inner[len] = type;
	memset(inner + len + 1, 0, pad);
	rec[0] = 0x17;
	rec[1] = 0x03;
	rec[2] = 0x03;
	rec[3] = (ilen + 16) >> 8;
	rec[4] = (ilen + 16) & 0xff;
	ku_nonce(k, seq, nonce);
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return 0;
	if (EVP_EncryptInit_ex(c, ku_evp(k), NULL, NULL, NULL) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) &&
	    EVP_EncryptInit_ex(c, NULL, NULL, k->key, nonce) &&
	    EVP_EncryptUpdate(c, NULL, &outl, rec, 5) &&
	    EVP_EncryptUpdate(c, rec + 5, &outl, inner, ilen) &&
	    EVP_EncryptFinal_ex(c, rec + 5 + outl, &outl) &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, rec + 5 + ilen))
		ok = 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 5 + ilen + 16 : 0;
}

/* ---- genl test helper ---- */

int ku_helper_open(struct ku_helper *h, bool join)
{
	int grp;

	memset(h, 0, sizeof(*h));
	h->cmd = nl_socket_alloc();
	if (!h->cmd || genl_connect(h->cmd))
		return -ENOTCONN;
	h->family = genl_ctrl_resolve(h->cmd, ATLS_GENL_NAME);
	if (h->family < 0)
		return -ENOENT;
	if (!join)
		return 0;
	h->mc = nl_socket_alloc();
	if (!h->mc || genl_connect(h->mc))
		return -ENOTCONN;
	nl_socket_disable_seq_check(h->mc);
	grp = genl_ctrl_resolve_grp(h->cmd, ATLS_GENL_NAME, ATLS_MCGRP_HELPER);
	if (grp < 0 || nl_socket_add_membership(h->mc, grp))
		return -ENOENT;
	return 0;
}

void ku_helper_close(struct ku_helper *h)
{
	if (h->mc)
		nl_socket_free(h->mc);
	if (h->cmd)
		nl_socket_free(h->cmd);
	h->mc = h->cmd = NULL;
}

struct nl_msg *ku_msg(struct ku_helper *h, uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, h->family, 0, 0,
				cmd, ATLS_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

struct ku_reply {
	int done;
	int err;
	struct ku_req *req;
};

static int ku_err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct ku_reply *r = arg;

	(void)nla;
	r->err = e->error;
	r->done = 1;
	return NL_STOP;
}

static int ku_ack_cb(struct nl_msg *m, void *arg)
{
	struct ku_reply *r = arg;

	(void)m;
	r->done = 1;
	return NL_STOP;
}

static int ku_valid_cb(struct nl_msg *m, void *arg)
{
	struct ku_reply *r = arg;
	struct nlattr *tb[ATLS_A_MAX + 1];
	struct ku_req *q = r->req;

	if (!q || genlmsg_parse(nlmsg_hdr(m), 0, tb, ATLS_A_MAX, NULL))
		return NL_OK;
	if (tb[ATLS_A_REQ_ID])
		q->id = nla_get_u64(tb[ATLS_A_REQ_ID]);
	if (tb[ATLS_A_SOCKFD])
		q->fd = nla_get_u32(tb[ATLS_A_SOCKFD]);
	if (tb[ATLS_A_ROLE])
		q->role = nla_get_u32(tb[ATLS_A_ROLE]);
	if (tb[ATLS_A_TIMEOUT_MS])
		q->timeout_ms = nla_get_u32(tb[ATLS_A_TIMEOUT_MS]);
	if (tb[ATLS_A_FLAGS])
		q->flags = nla_get_u32(tb[ATLS_A_FLAGS]);
	if (tb[ATLS_A_APP_PID])
		q->app_pid = nla_get_u32(tb[ATLS_A_APP_PID]);
	if (tb[ATLS_A_APP_UID])
		q->app_uid = nla_get_u32(tb[ATLS_A_APP_UID]);
	if (tb[ATLS_A_FAMILY])
		q->family = nla_get_u16(tb[ATLS_A_FAMILY]);
	if (tb[ATLS_A_POLICY])
		nla_strlcpy(q->policy, tb[ATLS_A_POLICY], sizeof(q->policy));
	if (tb[ATLS_A_PEER_NAME])
		nla_strlcpy(q->peer, tb[ATLS_A_PEER_NAME], sizeof(q->peer));
	if (tb[ATLS_A_APP_COMM])
		nla_strlcpy(q->comm, tb[ATLS_A_APP_COMM], sizeof(q->comm));
	return NL_OK;
}

int ku_send(struct ku_helper *h, struct nl_msg *msg, struct ku_req *reply)
{
	struct ku_reply r = { .req = reply };
	struct nl_cb *cb;
	int ret;

	if (!msg)
		return -ENOMEM;
	cb = nl_cb_alloc(NL_CB_CUSTOM);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, ku_err_cb, &r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, ku_ack_cb, &r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, ku_valid_cb, &r);
	ret = nl_send_auto(h->cmd, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		nl_cb_put(cb);
		return -EIO;
	}
	while (!r.done) {
		ret = nl_recvmsgs(h->cmd, cb);
		if (ret < 0 && !r.done) {
			r.err = -EIO;
			break;
		}
	}
	nl_cb_put(cb);
	return r.err;
}

int ku_accept(struct ku_helper *h, struct ku_req *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	return ku_send(h, ku_msg(h, ATLS_CMD_ACCEPT), r);
}

int ku_accept_wait(struct ku_helper *h, struct ku_req *r, int timeout_ms)
{
	long end = ku_ms_now() + timeout_ms;
	int err;

	for (;;) {
		err = ku_accept(h, r);
		if (err != -EAGAIN || ku_ms_now() > end)
			return err;
		usleep(3000);
	}
}

int ku_done_keys(struct ku_helper *h, const struct ku_req *r, unsigned short cipher)
{
	struct ku_keys tx, rx;
	struct nl_msg *msg = ku_msg(h, ATLS_CMD_DONE);
	struct nlattr *nest;
	unsigned char cert[32];
	int ret;

	ku_keys(&tx, cipher, r->role == ATLS_ROLE_CLIENT ? 0 : 1);
	ku_keys(&rx, cipher, r->role == ATLS_ROLE_CLIENT ? 1 : 0);
	memset(cert, 0xce, sizeof(cert));
	if (!msg)
		return -ENOMEM;
	nla_put_u64(msg, ATLS_A_REQ_ID, r->id);
	nla_put_u32(msg, ATLS_A_SOCKFD, r->fd);
	nla_put_s32(msg, ATLS_A_STATUS, 0);
	nla_put(msg, ATLS_A_CRYPTO_TX, tx.len, &tx.ci);
	nla_put(msg, ATLS_A_CRYPTO_RX, rx.len, &rx.ci);
	nest = nla_nest_start(msg, ATLS_A_PEER_INFO);
	nla_put_u32(msg, ATLS_PEER_A_VERDICT, ATLS_VERDICT_AFFIRMING);
	nla_put_u32(msg, ATLS_PEER_A_REASON, ATLS_REASON_OK);
	nla_put(msg, ATLS_PEER_A_CERT_SHA256, sizeof(cert), cert);
	nla_put_u32(msg, ATLS_PEER_A_EVIDENCE_TYPE, ATLS_EVIDENCE_TPM2_KAT_PAT);
	nla_put_u16(msg, ATLS_PEER_A_PCR_BANK, 0x000b);
	nla_put_u32(msg, ATLS_PEER_A_PCR_SELECT, 0x80);
	nla_put(msg, ATLS_PEER_A_PCR_DIGEST, 32, cert);
	nla_nest_end(msg, nest);
	ret = ku_send(h, msg, NULL);
	return ret;
}

int ku_done_status(struct ku_helper *h, const struct ku_req *r, int status,
		   uint32_t reason)
{
	struct nl_msg *msg = ku_msg(h, ATLS_CMD_DONE);

	if (!msg)
		return -ENOMEM;
	nla_put_u64(msg, ATLS_A_REQ_ID, r->id);
	nla_put_u32(msg, ATLS_A_SOCKFD, r->fd);
	nla_put_s32(msg, ATLS_A_STATUS, status);
	nla_put_u32(msg, ATLS_A_REASON, reason);
	return ku_send(h, msg, NULL);
}

struct ku_mcast {
	uint8_t cmd;
	int seen;
	uint64_t id;
	uint32_t val;
};

static int ku_mcast_cb(struct nl_msg *m, void *arg)
{
	struct ku_mcast *w = arg;
	struct nlattr *tb[ATLS_A_MAX + 1];
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(m));

	if (gh->cmd != w->cmd || genlmsg_parse(nlmsg_hdr(m), 0, tb, ATLS_A_MAX, NULL))
		return NL_OK;
	w->seen = 1;
	if (tb[ATLS_A_REQ_ID])
		w->id = nla_get_u64(tb[ATLS_A_REQ_ID]);
	if (tb[ATLS_A_REASON])
		w->val = nla_get_u32(tb[ATLS_A_REASON]);
	if (tb[ATLS_A_PENDING])
		w->val = nla_get_u32(tb[ATLS_A_PENDING]);
	return NL_OK;
}

static int ku_no_seq_check(struct nl_msg *m, void *arg)
{
	(void)m; (void)arg;
	return NL_OK;
}

int ku_wait_mcast(struct ku_helper *h, uint8_t cmd, uint64_t *id, uint32_t *val,
		  int timeout_ms)
{
	struct ku_mcast w = { .cmd = cmd };
	long end = ku_ms_now() + timeout_ms;
	struct nl_cb *cb = nl_cb_alloc(NL_CB_CUSTOM);

	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, ku_mcast_cb, &w);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, ku_no_seq_check, NULL);
	while (!w.seen && ku_ms_now() < end) {
		struct pollfd p = { .fd = nl_socket_get_fd(h->mc), .events = POLLIN };

		if (poll(&p, 1, 100) == 1)
			nl_recvmsgs(h->mc, cb);
	}
	nl_cb_put(cb);
	if (!w.seen)
		return -ETIMEDOUT;
	if (id)
		*id = w.id;
	if (val)
		*val = w.val;
	return 0;
}

/* ---- forked helper ---- */

void ku_put_result(int out, int v)
{
	if (write(out, &v, sizeof(v)) != sizeof(v))
		_exit(3);
}

int ku_wait_go(int ctl, int timeout_ms)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) != 1 || read(ctl, &c, 1) != 1)
		return -ETIMEDOUT;
	return 0;
}

int ku_fork_helper(struct ku_child *c, ku_helper_fn fn, void *arg)
{
	int res[2], ctl[2], v;
	struct ku_helper h;

	if (pipe(res) || pipe(ctl))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(res[0]);
		close(ctl[1]);
		v = ku_helper_open(&h, true);
		ku_put_result(res[1], v);
		if (v)
			_exit(2);
		fn(&h, res[1], ctl[0], arg);
		ku_helper_close(&h);
		_exit(0);
	}
	close(res[1]);
	close(ctl[0]);
	c->res = res[0];
	c->ctl = ctl[1];
	/* fork + libnl set-up: moments, but the VM may be descheduled. */
	if (ku_helper_result(c, &v, 30000))
		return -ETIMEDOUT;
	return v;
}

int ku_helper_result(struct ku_child *c, int *v, int timeout_ms)
{
	struct pollfd p = { .fd = c->res, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1 || read(c->res, v, sizeof(*v)) != sizeof(*v))
		return -ETIMEDOUT;
	return 0;
}

void ku_helper_go(struct ku_child *c)
{
	if (write(c->ctl, "g", 1) != 1)
		return;
}

int ku_helper_reap(struct ku_child *c)
{
	int st;

	close(c->res);
	close(c->ctl);
	if (waitpid(c->pid, &st, 0) != c->pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void ku_serve_fn(struct ku_helper *h, int out, int ctl, void *arg)
{
	struct ku_serve *s = arg;
	struct ku_req r;
	int i, err;

	for (i = 0; i < s->n; i++) {
		err = ku_accept_wait(h, &r, 30000);
		if (err) {
			ku_put_result(out, err);
			return;
		}
		if (s->hold && ku_wait_go(ctl, 30000))
			return;
		if (s->status)
			err = ku_done_status(h, &r, s->status, s->reason);
		else
			err = ku_done_keys(h, &r, s->cipher);
		ku_put_result(out, err);
	}
}
