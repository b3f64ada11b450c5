// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * The genl test helper: a client of generic netlink family "atls"
 * (libnl-genl-3) that accepts requests and completes them with fixed keys or
 * a status, and runs in a forked child.  See genl.h.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "genl.h"
#include "atls-nl-user.h"	/* policies generated from the spec */
#include "record.h"
#include "util.h"

int tl_helper_open(struct tl_helper *h, bool join)
{
	int err;

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
	err = tl_helper_register(h);
	return err;
}

int tl_helper_register(struct tl_helper *h)
{
	return tl_send_on(h, h->mc, tl_msg(h, ATLS_CMD_REGISTER), NULL);
}

int tl_group_join(struct tl_helper *h)
{
	int grp;

	h->mc = nl_socket_alloc();
	if (!h->mc || genl_connect(h->mc))
		return -ENOTCONN;
	nl_socket_disable_seq_check(h->mc);
	grp = genl_ctrl_resolve_grp(h->cmd, ATLS_GENL_NAME, ATLS_MCGRP_HELPER);
	if (grp < 0 || nl_socket_add_membership(h->mc, grp))
		return -ENOENT;
	return 0;
}

void tl_helper_close(struct tl_helper *h)
{
	if (h->mc)
		nl_socket_free(h->mc);
	if (h->cmd)
		nl_socket_free(h->cmd);
	h->mc = h->cmd = NULL;
}

struct nl_msg *tl_msg(struct tl_helper *h, uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, h->family, 0, 0,
				cmd, ATLS_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

struct tl_reply {
	int done;
	int err;
	struct tl_req *req;
};

static int tl_err_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct tl_reply *r = arg;

	(void)nla;
	r->err = e->error;
	r->done = 1;
	return NL_STOP;
}

static int tl_ack_cb(struct nl_msg *m, void *arg)
{
	struct tl_reply *r = arg;

	(void)m;
	r->done = 1;
	return NL_STOP;
}

static int tl_valid_cb(struct nl_msg *m, void *arg)
{
	struct tl_reply *r = arg;
	struct nlattr *tb[ATLS_A_MAX + 1];
	struct tl_req *q = r->req;

	if (!q || genlmsg_parse(nlmsg_hdr(m), 0, tb, ATLS_A_MAX, atls_nl_user_policy))
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

int tl_send(struct tl_helper *h, struct nl_msg *msg, struct tl_req *reply)
{
	return tl_send_on(h, h->cmd, msg, reply);
}

int tl_send_on(struct tl_helper *h, struct nl_sock *sk, struct nl_msg *msg,
	       struct tl_req *reply)
{
	struct tl_reply r = { .req = reply };
	struct nl_cb *cb;
	int ret;

	if (!msg)
		return -ENOMEM;
	cb = nl_cb_alloc(NL_CB_CUSTOM);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, tl_err_cb, &r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, tl_ack_cb, &r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tl_valid_cb, &r);
	(void)h;
	ret = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		nl_cb_put(cb);
		return -EIO;
	}
	while (!r.done) {
		ret = nl_recvmsgs(sk, cb);
		if (ret < 0 && !r.done) {
			r.err = -EIO;
			break;
		}
	}
	nl_cb_put(cb);
	return r.err;
}

int tl_helper_accept(struct tl_helper *h, struct tl_req *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	return tl_send(h, tl_msg(h, ATLS_CMD_ACCEPT), r);
}

int tl_helper_accept_wait(struct tl_helper *h, struct tl_req *r, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;
	int err;

	for (;;) {
		err = tl_helper_accept(h, r);
		if (err != -EAGAIN || tl_now_ms() > end)
			return err;
		usleep(3000);
	}
}

int tl_ready_accept(struct tl_helper *h, struct tl_req *r, int timeout_ms)
{
	int err = tl_wait_mcast(h, ATLS_CMD_READY, NULL, NULL, timeout_ms);

	return err ? err : tl_helper_accept(h, r);
}

int tl_done_keys(struct tl_helper *h, const struct tl_req *r, unsigned short cipher)
{
	struct tl_keys tx, rx;
	struct nl_msg *msg = tl_msg(h, ATLS_CMD_DONE);
	struct nlattr *nest;
	unsigned char cert[32];
	int ret;

	tl_keys_fixed(&tx, cipher, r->role == ATLS_ROLE_CLIENT ? 0 : 1);
	tl_keys_fixed(&rx, cipher, r->role == ATLS_ROLE_CLIENT ? 1 : 0);
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
	ret = tl_send(h, msg, NULL);
	return ret;
}

int tl_done_status(struct tl_helper *h, const struct tl_req *r, int status,
		   uint32_t reason)
{
	struct nl_msg *msg = tl_msg(h, ATLS_CMD_DONE);

	if (!msg)
		return -ENOMEM;
	nla_put_u64(msg, ATLS_A_REQ_ID, r->id);
	nla_put_u32(msg, ATLS_A_SOCKFD, r->fd);
	nla_put_s32(msg, ATLS_A_STATUS, status);
	nla_put_u32(msg, ATLS_A_REASON, reason);
	return tl_send(h, msg, NULL);
}

struct tl_mcast {
	uint8_t cmd;
	int seen;
	uint64_t id;
	uint32_t val;
};

static int tl_mcast_cb(struct nl_msg *m, void *arg)
{
	struct tl_mcast *w = arg;
	struct nlattr *tb[ATLS_A_MAX + 1];
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(m));

	if (gh->cmd != w->cmd || genlmsg_parse(nlmsg_hdr(m), 0, tb, ATLS_A_MAX, atls_nl_user_policy))
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

static int tl_no_seq_check(struct nl_msg *m, void *arg)
{
	(void)m; (void)arg;
	return NL_OK;
}

int tl_wait_mcast(struct tl_helper *h, uint8_t cmd, uint64_t *id, uint32_t *val,
		  int timeout_ms)
{
	struct tl_mcast w = { .cmd = cmd };
	long end = tl_now_ms() + timeout_ms;
	struct nl_cb *cb = nl_cb_alloc(NL_CB_CUSTOM);

	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, tl_mcast_cb, &w);
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, tl_no_seq_check, NULL);
	while (!w.seen && tl_now_ms() < end) {
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

/* ---- the helper in a forked child ---- */

void tl_put_result(int out, int v)
{
	if (write(out, &v, sizeof(v)) != sizeof(v))
		_exit(3);
}

int tl_wait_go(int ctl, int timeout_ms)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) != 1 || read(ctl, &c, 1) != 1)
		return -ETIMEDOUT;
	return 0;
}

int tl_fork_helper(struct tl_child *c, tl_helper_fn fn, void *arg)
{
	int res[2], ctl[2], v;
	struct tl_helper h;

	if (pipe(res) || pipe(ctl))
		return -errno;
	c->pid = fork();
	if (c->pid < 0)
		return -errno;
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(res[0]);
		close(ctl[1]);
		v = tl_helper_open(&h, true);
		tl_put_result(res[1], v);
		if (v)
			_exit(2);
		fn(&h, res[1], ctl[0], arg);
		tl_helper_close(&h);
		_exit(0);
	}
	close(res[1]);
	close(ctl[0]);
	c->res = res[0];
	c->ctl = ctl[1];
	/* fork + libnl set-up: moments, but the VM may be descheduled. */
	if (tl_helper_result(c, &v, 30000))
		return -ETIMEDOUT;
	return v;
}

int tl_helper_result(struct tl_child *c, int *v, int timeout_ms)
{
	struct pollfd p = { .fd = c->res, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) != 1 || read(c->res, v, sizeof(*v)) != sizeof(*v))
		return -ETIMEDOUT;
	return 0;
}

void tl_helper_go(struct tl_child *c)
{
	if (write(c->ctl, "g", 1) != 1)
		return;
}

int tl_helper_reap(struct tl_child *c)
{
	int st;

	close(c->res);
	close(c->ctl);
	if (waitpid(c->pid, &st, 0) != c->pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tl_serve_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct tl_serve *s = arg;
	struct tl_req r;
	int i, err;

	for (i = 0; i < s->n; i++) {
		err = tl_helper_accept_wait(h, &r, 30000);
		if (err) {
			tl_put_result(out, err);
			return;
		}
		if (s->hold && tl_wait_go(ctl, 30000))
			return;
		if (s->status)
			err = tl_done_status(h, &r, s->status, s->reason);
		else
			err = tl_done_keys(h, &r, s->cipher);
		tl_put_result(out, err);
	}
}

void tl_accept_on_go_fn(struct tl_helper *h, int out, int ctl, void *arg)
{
	struct tl_req r;

	(void)arg;
	if (tl_wait_go(ctl, 60000))
		return;
	tl_put_result(out, tl_helper_accept(h, &r));
}
