// SPDX-License-Identifier: Apache-2.0
/*
 * The upcall: atlsd's side of the generic-netlink family "atls"
 * (include/uapi/linux/atls.h, Documentation/netlink/specs/atls.yaml).
 *
 * Two kinds of sockets, both libnl-genl-3:
 *  - one listener per daemon, registered with the kernel (ATLS_CMD_REGISTER)
 *    as a helper of the daemon's network namespace: the kernel sends it
 *    READY (work is pending) and ABORT (stop working on a request) of that
 *    namespace's requests, unicast.  The registration is what makes the
 *    kernel see a helper in the namespace (an ATLS_START there without one
 *    fails with ESRCH); it ends when the socket is closed.  A daemon in a
 *    container's own network namespace serves that namespace only.  Only
 *    messages from the kernel (port 0) are believed.  Whichever thread
 *    leads the worker pool reads it, one at a time under a lock (worker.c,
 *    "Waking"): libnl sockets are not thread-safe.
 *  - one command socket per worker thread, for ACCEPT and DONE.  The kernel
 *    accepts a DONE only from the netlink port that accepted the request, so
 *    a request stays on the socket of the worker that accepted it; a libnl
 *    socket is not thread-safe, and a per-worker socket needs no lock.
 *
 * Every command is a request with NLM_F_ACK: the reply (for ACCEPT) and then
 * the ACK or the error are read before returning, so nothing of one
 * transaction is left in the socket for the next.  Replies are validated
 * with a strict attribute policy even though they come from the kernel.
 *
 * DONE carries the traffic keys: the message buffer is wiped after it is
 * sent, whatever the outcome.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "atls-nl-user.h"	/* policies generated from the spec */
#include "atlsd.h"


struct xact {			/* one command in flight on a command socket */
	int err;		/* errno from NLMSG_ERROR (positive), 0 */
	bool finished;		/* ACK or error seen */
	bool have_reply;
	struct atlsd_request *req;
	int reply_err;		/* reply did not validate */
};

struct atlsd_nl {
	struct nl_sock *sk;
	int family;
	struct xact *x;				/* command sockets */
	const struct atlsd_nl_events *ev;	/* listener, during dispatch */
};

/*
 * The requester's identity (D10): exactly what the kernel recorded at
 * ATLS_START.  Without APP_EUID (a module older than this atlsd) who.known
 * stays false and only "anyone" policies match.  A cgroup path that is not
 * NUL-terminated inside its attribute, or has control bytes, is dropped:
 * no cgroup rule matches then.
 */
static void parse_requester(struct nlattr **tb, struct atlsd_requester *w)
{
	struct nlattr *a;
	size_t n, i;

	memset(w, 0, sizeof(*w));
	if (!tb[ATLS_A_APP_EUID] || !tb[ATLS_A_APP_EGID])
		return;
	w->known = true;
	w->euid = nla_get_u32(tb[ATLS_A_APP_EUID]);
	w->egid = nla_get_u32(tb[ATLS_A_APP_EGID]);
	w->ngroups = tb[ATLS_A_APP_NGROUPS] ? nla_get_u32(tb[ATLS_A_APP_NGROUPS]) : 0;
	a = tb[ATLS_A_APP_GROUPS];
	if (a) {
		n = (size_t)nla_len(a) / sizeof(uint32_t);
		if (n > ATLS_APP_GROUPS_MAX)
			n = ATLS_APP_GROUPS_MAX;
		memcpy(w->groups, nla_data(a), n * sizeof(uint32_t));
		w->n_groups = (uint32_t)n;
	}
	if (w->ngroups < w->n_groups)
		w->ngroups = w->n_groups;
	w->cgroup_id = tb[ATLS_A_APP_CGROUP_ID] ? nla_get_u64(tb[ATLS_A_APP_CGROUP_ID]) : 0;
	a = tb[ATLS_A_APP_CGROUP];
	if (a) {
		n = strnlen(nla_data(a), (size_t)nla_len(a));
		if (n == 0 || n >= (size_t)nla_len(a) || n >= sizeof(w->cgroup))
			return;
		memcpy(w->cgroup, nla_data(a), n);
		w->cgroup[n] = 0;
		for (i = 0; i < n; i++)
			if ((unsigned char)w->cgroup[i] < 0x20 || (unsigned char)w->cgroup[i] > 0x7e)
				return;
		w->have_cgroup = true;
	}
}

/* libnl error codes for the few cases we report; else EIO. */
static int nlerr_errno(int e)
{
	switch (-e) {
	case NLE_AGAIN: return -EAGAIN;
	case NLE_NOMEM: return -ENOBUFS;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_PERM: return -EPERM;
	case NLE_INVAL: return -EINVAL;
	default: return -EIO;
	}
}

/*
 * Strings come from the application (policy, peer name, comm): copied
 * bounded, and control or non-ASCII bytes replaced, so they cannot forge
 * log lines.  A policy name so altered matches no configured policy.
 */
static void copy_str(char *dst, size_t len, struct nlattr *a)
{
	size_t n = a ? strnlen(nla_data(a), nla_len(a)) : 0, i;

	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(dst, nla_data(a), n);
	dst[n] = 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 0x20 || (unsigned char)dst[i] > 0x7e)
			dst[i] = '?';
}

static int parse_accept(struct nl_msg *msg, struct atlsd_request *req)
{
	struct nlattr *tb[ATLS_A_MAX + 1];
	uint32_t role;
	int err;

	err = genlmsg_parse(nlmsg_hdr(msg), 0, tb, ATLS_A_MAX, atls_nl_user_policy);
	if (err < 0 || !tb[ATLS_A_REQ_ID] || !tb[ATLS_A_SOCKFD])
		return -EPROTO;
	memset(req, 0, sizeof(*req));
	req->id = nla_get_u64(tb[ATLS_A_REQ_ID]);
	req->fd = (int)nla_get_u32(tb[ATLS_A_SOCKFD]);
	if (req->fd < 0) {
		req->fd = -1;
		return -EPROTO;
	}
	if (!tb[ATLS_A_ROLE] || !tb[ATLS_A_POLICY] || !tb[ATLS_A_TIMEOUT_MS])
		return -EPROTO;
	role = nla_get_u32(tb[ATLS_A_ROLE]);
	if (role != ATLS_ROLE_CLIENT && role != ATLS_ROLE_SERVER)
		return -EPROTO;
	req->role = role;
	req->flags = tb[ATLS_A_FLAGS] ? nla_get_u32(tb[ATLS_A_FLAGS]) : 0;
	req->timeout_ms = nla_get_u32(tb[ATLS_A_TIMEOUT_MS]);
	copy_str(req->policy, sizeof(req->policy), tb[ATLS_A_POLICY]);
	copy_str(req->peer, sizeof(req->peer), tb[ATLS_A_PEER_NAME]);
	copy_str(req->app_comm, sizeof(req->app_comm), tb[ATLS_A_APP_COMM]);
	req->family = tb[ATLS_A_FAMILY] ? nla_get_u16(tb[ATLS_A_FAMILY]) : 0;
	req->app_pid = tb[ATLS_A_APP_PID] ? nla_get_u32(tb[ATLS_A_APP_PID]) : 0;
	req->app_uid = tb[ATLS_A_APP_UID] ? nla_get_u32(tb[ATLS_A_APP_UID]) : 0;
	req->app_gid = tb[ATLS_A_APP_GID] ? nla_get_u32(tb[ATLS_A_APP_GID]) : 0;
	parse_requester(tb, &req->who);
	return 0;
}

static int cmd_valid(struct nl_msg *msg, void *arg)
{
	struct atlsd_nl *nl = arg;
	struct xact *x = nl->x;
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));

	if (!x || !x->req || x->have_reply || gh->cmd != ATLS_CMD_ACCEPT)
		return NL_SKIP;
	x->have_reply = true;
	x->req->fd = -1;
	x->reply_err = parse_accept(msg, x->req);
	return NL_OK;
}

static int cmd_ack(struct nl_msg *msg, void *arg)
{
	struct atlsd_nl *nl = arg;

	(void)msg;
	if (nl->x)
		nl->x->finished = true;
	return NL_STOP;
}

static int cmd_err(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct atlsd_nl *nl = arg;

	(void)who;
	if (nl->x) {
		nl->x->err = e->error < 0 ? -e->error : e->error;
		nl->x->finished = true;
	}
	return NL_STOP;
}

static int nl_new(bool listener, struct atlsd_nl **out)
{
	struct atlsd_nl *nl = calloc(1, sizeof(*nl));
	int err;

	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		err = -ENOMEM;
		goto err_free;
	}
	err = genl_connect(nl->sk);
	if (err < 0) {
		err = nlerr_errno(err);
		goto err_sock;
	}
	nl->family = genl_ctrl_resolve(nl->sk, ATLS_GENL_NAME);
	if (nl->family < 0) {
		err = -ENOENT;		/* atls.ko not loaded */
		goto err_sock;
	}
	if (listener) {
		struct nl_msg *msg = nlmsg_alloc();

		if (!msg) {
			err = -ENOMEM;
			goto err_sock;
		}
		nl_socket_disable_seq_check(nl->sk);
		if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0,
				 ATLS_CMD_REGISTER, ATLS_GENL_VERSION)) {
			nlmsg_free(msg);
			err = -ENOMEM;
			goto err_sock;
		}
		/* Sends, frees msg and reads the ACK or the error (EPERM:
		 * no CAP_NET_ADMIN over this network namespace). */
		err = nl_send_sync(nl->sk, msg);
		if (err < 0) {
			err = nlerr_errno(err);
			goto err_sock;
		}
		nl_socket_set_buffer_size(nl->sk, 1 << 20, 0);
		nl_socket_set_nonblocking(nl->sk);
	} else {
		nl_socket_modify_cb(nl->sk, NL_CB_VALID, NL_CB_CUSTOM, cmd_valid, nl);
		nl_socket_modify_cb(nl->sk, NL_CB_ACK, NL_CB_CUSTOM, cmd_ack, nl);
		nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, cmd_err, nl);
	}
	*out = nl;
	return 0;

err_sock:
	nl_socket_free(nl->sk);
err_free:
	free(nl);
	return err;
}

int atlsd_nl_open(struct atlsd_nl **out)
{
	return nl_new(false, out);
}

void atlsd_nl_close(struct atlsd_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

int atlsd_nl_probe(void)
{
	struct atlsd_nl *nl;
	int err = nl_new(false, &nl);

	if (!err)
		atlsd_nl_close(nl);
	return err;
}

/* Send msg and read until its ACK or error. */
static int transact(struct atlsd_nl *nl, struct nl_msg *msg, struct xact *x)
{
	int err;

	nl->x = x;
	err = nl_send_auto(nl->sk, msg);
	if (err < 0) {
		nl->x = NULL;
		return nlerr_errno(err);
	}
	while (!x->finished) {
		err = nl_recvmsgs_default(nl->sk);
		if (err < 0 && !x->finished) {
			nl->x = NULL;
			return nlerr_errno(err);
		}
	}
	nl->x = NULL;
	return x->err ? -x->err : 0;
}

int atlsd_nl_accept(struct atlsd_nl *nl, struct atlsd_request *req)
{
	struct xact x = { .req = req };
	struct nl_msg *msg = nlmsg_alloc();
	int err;

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0, ATLS_CMD_ACCEPT,
			 ATLS_GENL_VERSION)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	req->fd = -1;
	err = transact(nl, msg, &x);
	nlmsg_free(msg);
	if (err == -EAGAIN)
		return 0;
	if (err)
		return err;
	if (!x.have_reply)
		return -EPROTO;
	if (x.reply_err) {
		/* A request we cannot run: fail it rather than strand it. */
		if (req->id && req->fd >= 0) {
			struct atlsd_outcome o = { .status = -EPROTO,
						   .reason = ATLS_REASON_HELPER_ERROR };

			atlsd_nl_done(nl, req, &o);
		} else if (req->fd >= 0) {
			close(req->fd);
		}
		return -EPROTO;
	}
	return 1;
}

static int put_peer(struct nl_msg *msg, const struct atlsd_peer *p)
{
	struct nlattr *nest = nla_nest_start(msg, ATLS_A_PEER_INFO);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(msg, ATLS_PEER_A_VERDICT, p->verdict) ||
	    nla_put_u32(msg, ATLS_PEER_A_REASON, p->reason) ||
	    nla_put_u32(msg, ATLS_PEER_A_EVIDENCE_TYPE, p->evidence_type) ||
	    nla_put_u32(msg, ATLS_PEER_A_FLAGS, p->flags))
		return -EMSGSIZE;
	if (p->have_cert && nla_put(msg, ATLS_PEER_A_CERT_SHA256, 32, p->cert_sha256))
		return -EMSGSIZE;
	if (p->have_claims) {
		if (nla_put(msg, ATLS_PEER_A_AK_DIGEST, 32, p->ak_digest) ||
		    nla_put_u16(msg, ATLS_PEER_A_PCR_BANK, p->pcr_bank) ||
		    nla_put_u32(msg, ATLS_PEER_A_PCR_SELECT, p->pcr_select))
			return -EMSGSIZE;
		if (p->pcr_digest_len && p->pcr_digest_len <= ATLS_DIGEST_MAX &&
		    nla_put(msg, ATLS_PEER_A_PCR_DIGEST, p->pcr_digest_len, p->pcr_digest))
			return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

int atlsd_nl_done(struct atlsd_nl *nl, const struct atlsd_request *req,
		  const struct atlsd_outcome *out)
{
	struct xact x = { 0 };
	struct nl_msg *msg = nlmsg_alloc_size(4096);
	int err = -EMSGSIZE;

	if (!msg)
		return -ENOMEM;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, 0, ATLS_CMD_DONE,
			 ATLS_GENL_VERSION))
		goto free_msg;
	if (nla_put_u64(msg, ATLS_A_REQ_ID, req->id) ||
	    nla_put_u32(msg, ATLS_A_SOCKFD, (uint32_t)req->fd) ||
	    nla_put_s32(msg, ATLS_A_STATUS, out->status) ||
	    nla_put_u32(msg, ATLS_A_REASON, out->reason))
		goto free_msg;
	if (!out->status && (nla_put(msg, ATLS_A_CRYPTO_TX, out->key_len, out->tx) ||
			     nla_put(msg, ATLS_A_CRYPTO_RX, out->key_len, out->rx)))
		goto free_msg;
	if (!out->status && out->secret_len &&
	    (nla_put(msg, ATLS_A_SECRET_TX, out->secret_len, out->tx_secret) ||
	     nla_put(msg, ATLS_A_SECRET_RX, out->secret_len, out->rx_secret)))
		goto free_msg;
	if (out->have_peer && put_peer(msg, &out->peer))
		goto free_msg;
	err = transact(nl, msg, &x);
free_msg:
	/* The keys were in this buffer. */
	explicit_bzero(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
	nlmsg_free(msg);
	return err;
}

/* ------------------------------------------------------------ listener */

static int ev_valid(struct nl_msg *msg, void *arg)
{
	struct atlsd_nl *nl = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *gh;
	struct nlattr *tb[ATLS_A_MAX + 1];

	/* Only the kernel speaks on this group. */
	if (nlmsg_get_src(msg)->nl_pid != 0 || nlh->nlmsg_type != nl->family || !nl->ev)
		return NL_SKIP;
	gh = nlmsg_data(nlh);
	if (genlmsg_parse(nlh, 0, tb, ATLS_A_MAX, atls_nl_user_policy) < 0)
		return NL_SKIP;
	switch (gh->cmd) {
	case ATLS_CMD_READY:
		nl->ev->ready(nl->ev->arg,
			      tb[ATLS_A_PENDING] ? nla_get_u32(tb[ATLS_A_PENDING]) : 1);
		break;
	case ATLS_CMD_ABORT:
		if (tb[ATLS_A_REQ_ID])
			nl->ev->abort(nl->ev->arg, nla_get_u64(tb[ATLS_A_REQ_ID]),
				      tb[ATLS_A_REASON] ? nla_get_u32(tb[ATLS_A_REASON]) : 0);
		break;
	default:
		break;
	}
	return NL_OK;
}

int atlsd_nl_listen(struct atlsd_nl **out)
{
	int err = nl_new(true, out);

	if (err)
		return err;
	nl_socket_modify_cb((*out)->sk, NL_CB_VALID, NL_CB_CUSTOM, ev_valid, *out);
	return 0;
}

int atlsd_nl_fd(struct atlsd_nl *nl)
{
	return nl_socket_get_fd(nl->sk);
}

int atlsd_nl_dispatch(struct atlsd_nl *nl, const struct atlsd_nl_events *ev)
{
	int err, rounds;

	nl->ev = ev;
	for (rounds = 0; rounds < 1024; rounds++) {
		err = nl_recvmsgs_default(nl->sk);
		if (err >= 0)
			continue;
		if (err == -NLE_AGAIN)
			break;
		if (err == -NLE_NOMEM || err == -NLE_MSG_OVERFLOW) {
			/* Missed events: assume work is pending. */
			ev->overrun(ev->arg);
			continue;
		}
		nl->ev = NULL;
		return nlerr_errno(err);
	}
	nl->ev = NULL;
	return 0;
}
