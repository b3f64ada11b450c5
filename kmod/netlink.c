// SPDX-License-Identifier: GPL-2.0
/*
 * The upcall: generic-netlink family "atls" (Documentation/netlink.rst,
 * Documentation/netlink/specs/atls.yaml).
 *
 *  REGISTER helper -> kernel (CAP_NET_ADMIN over the caller's netns,
 *         GENL_UNS_ADMIN_PERM): the sending port becomes a helper of that
 *         netns (struct atls_helper in its struct atls_net) until the
 *         socket is closed.
 *  READY  kernel -> each registered port of the request's netns (unicast):
 *         work is queued.
 *  ACCEPT helper -> kernel (same permission): take the oldest pending
 *         request of the helper's netns; the reply carries its parameters
 *         and an fd for the app's socket, installed in the helper's table.
 *  DONE   helper -> kernel (same permission): status, keys, peer info, and
 *         optionally the traffic secrets for KeyUpdate (rekey.c); only
 *         from the netlink port that accepted the request, and only naming
 *         that request's socket.
 *  ABORT  kernel -> each registered port of the request's netns: a request
 *         a helper holds is dead.
 *
 * Namespaces: nothing is multicast (the "helper" group stays in the family
 * for old clients, and nothing is sent to it). Multicast membership is not
 * restricted by Linux 6.1's genetlink (no per-family bind hook, no
 * per-group capability), so anyone could join and read READY/ABORT of
 * every namespace, and genl_has_listeners() counts the listeners of every
 * namespace. Registration is per netns and needs CAP_NET_ADMIN there, so
 * only a helper of the namespace hears of its requests, and ATLS_START in
 * a namespace without one fails with ESRCH at once.
 *
 * Attribute policies are strict (unknown attributes, wrong lengths and
 * values outside the ranges are refused); attributes the kernel only sends
 * are NLA_REJECT. They, the ops table and the multicast groups are
 * generated from the spec. The handlers apply them (atls_nl_parse()), not
 * the genl core, so that DONE can wipe every message it is given.
 * Handlers run in the caller's process context (parallel_ops).
 *
 * Helper death: a netlink notifier sees NETLINK_URELEASE of a generic
 * netlink port, drops its registration and fails the requests that port
 * accepted.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/file.h>
#include <linux/fdtable.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/cred.h>
#include <linux/uidgid.h>
#include <linux/cgroup.h>
#include <linux/slab.h>
#include <linux/nsproxy.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>
#include <net/tls.h>

#include "atls.h"
#include "atls_trace.h"

/*
 * atls_nl_policy, atls_peer_nl_policy, atls_nl_ops and atls_nl_mcgrps are
 * generated from the spec by scripts/nlspec.py (scripts/build-kmod.sh).
 */
#include "atls-nl-gen.h"

static struct genl_family atls_family __ro_after_init = {
	.name		= ATLS_GENL_NAME,
	.version	= ATLS_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.resv_start_op	= __ATLS_CMD_MAX,	/* see atls_nl_parse() */
	.module		= THIS_MODULE,
	.small_ops	= atls_nl_ops,
	.n_small_ops	= ARRAY_SIZE(atls_nl_ops),
	.mcgrps		= atls_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(atls_nl_mcgrps),
};

/*
 * A registered helper socket of one netns: an entry of atls_net.helpers,
 * under atls_net.lock; freed by the URELEASE notifier (the socket closed)
 * or, if any were left, when the namespace goes.
 */
struct atls_helper {
	struct list_head node;
	u32 portid;
};

bool atls_genl_has_helper(struct net *net)
{
	return READ_ONCE(atls_net(net)->nhelpers) != 0;
}

void atls_genl_net_init(struct atls_net *an)
{
	mutex_init(&an->lock);
	INIT_LIST_HEAD(&an->helpers);
}

/*
 * The namespace is being dismantled: its sockets are all gone (each held
 * it), so their URELEASE emptied the list already.
 */
void atls_genl_net_exit(struct atls_net *an)
{
	struct atls_helper *h, *tmp;

	WARN_ON_ONCE(an->nlive);
	list_for_each_entry_safe(h, tmp, &an->helpers, node) {
		list_del(&h->node);
		kfree(h);
	}
}

static void atls_genl_unregister(struct net *net, u32 portid)
{
	struct atls_net *an = atls_net(net);
	struct atls_helper *h;

	mutex_lock(&an->lock);
	list_for_each_entry(h, &an->helpers, node) {
		if (h->portid != portid)
			continue;
		list_del(&h->node);
		WRITE_ONCE(an->nhelpers, an->nhelpers - 1);
		kfree(h);
		break;
	}
	mutex_unlock(&an->lock);
}

/*
 * Send an event to every registered port of @net, one message each, built
 * by @fill. Process context (the ports' list is under a mutex). A port
 * whose receive buffer is full misses it and gets ENOBUFS on its socket,
 * as with a multicast overrun: a helper then assumes work is pending.
 */
static void atls_genl_event(struct net *net, size_t size,
			    int (*fill)(struct sk_buff *msg, const void *arg),
			    const void *arg)
{
	struct atls_net *an = atls_net(net);
	struct atls_helper *h;
	struct sk_buff *msg;

	mutex_lock(&an->lock);
	list_for_each_entry(h, &an->helpers, node) {
		msg = genlmsg_new(size, GFP_KERNEL);
		if (!msg)
			break;
		if (fill(msg, arg)) {
			nlmsg_free(msg);
			break;
		}
		genlmsg_unicast(net, msg, h->portid);	/* consumes msg */
	}
	mutex_unlock(&an->lock);
}

static int atls_fill_ready(struct sk_buff *msg, const void *arg)
{
	const struct net *net = arg;
	void *hdr;

	hdr = genlmsg_put(msg, 0, 0, &atls_family, 0, ATLS_CMD_READY);
	if (!hdr || nla_put_u32(msg, ATLS_A_PENDING, atls_req_pending_net(net)))
		return -EMSGSIZE;
	genlmsg_end(msg, hdr);
	return 0;
}

void atls_genl_ready(struct net *net)
{
	atls_genl_event(net, nla_total_size(sizeof(u32)), atls_fill_ready, net);
}

struct atls_abort_msg {
	u64 id;
	u32 reason;
};

static int atls_fill_abort(struct sk_buff *msg, const void *arg)
{
	const struct atls_abort_msg *a = arg;
	void *hdr;

	hdr = genlmsg_put(msg, 0, 0, &atls_family, 0, ATLS_CMD_ABORT);
	if (!hdr || nla_put_u64_64bit(msg, ATLS_A_REQ_ID, a->id, ATLS_A_PAD) ||
	    nla_put_u32(msg, ATLS_A_REASON, a->reason))
		return -EMSGSIZE;
	genlmsg_end(msg, hdr);
	return 0;
}

void atls_genl_abort(struct net *net, u64 id, u32 reason)
{
	struct atls_abort_msg a = { .id = id, .reason = reason };

	atls_stat_inc(ATLS_STAT_ABORTS_SENT);
	trace_atls_req_aborted(id, reason);
	atls_genl_event(net, nla_total_size_64bit(sizeof(u64)) +
			nla_total_size(sizeof(u32)), atls_fill_abort, &a);
}

/*
 * The requester's identity (D10) as the helper sees it: ids mapped into the
 * helper's user namespace, the cgroup path into its cgroup namespace. All
 * from the references taken at ATLS_START (atls_app_capture()), never from
 * the task, which may have changed its credentials or be gone. Process
 * context (cgroup_path_ns() takes cgroup_mutex).
 */
static int atls_put_identity(struct sk_buff *msg, const struct atls_req *req)
{
	struct user_namespace *ns = current_user_ns();
	const struct cred *cred = req->app_cred;
	const struct group_info *gi = cred->group_info;
	u32 groups[ATLS_APP_GROUPS_MAX];
	int i, n = min_t(int, gi->ngroups, ATLS_APP_GROUPS_MAX);
	char *path;
	int len;

	for (i = 0; i < n; i++)
		groups[i] = from_kgid_munged(ns, gi->gid[i]);
	if (nla_put_u32(msg, ATLS_A_APP_EUID, from_kuid_munged(ns, cred->euid)) ||
	    nla_put_u32(msg, ATLS_A_APP_EGID, from_kgid_munged(ns, cred->egid)) ||
	    nla_put_u32(msg, ATLS_A_APP_NGROUPS, gi->ngroups) ||
	    (n && nla_put(msg, ATLS_A_APP_GROUPS, n * sizeof(u32), groups)) ||
	    nla_put_u64_64bit(msg, ATLS_A_APP_CGROUP_ID, cgroup_id(req->app_cgrp),
			      ATLS_A_PAD))
		return -EMSGSIZE;
	path = kmalloc(ATLS_CGROUP_PATH_MAX, GFP_KERNEL);
	if (!path)
		return -ENOMEM;
	len = cgroup_path_ns(req->app_cgrp, path, ATLS_CGROUP_PATH_MAX,
			     current->nsproxy->cgroup_ns);
	/* Too long: no path, the helper matches no cgroup rule (fails closed). */
	if (len >= 0 && len < ATLS_CGROUP_PATH_MAX &&
	    nla_put_string(msg, ATLS_A_APP_CGROUP, path))
		len = -EMSGSIZE;
	kfree(path);
	return len == -EMSGSIZE ? len : 0;
}

static int atls_fill_accept(struct sk_buff *msg, struct genl_info *info,
			    const struct atls_req *req, int fd)
{
	struct user_namespace *ns = current_user_ns();
	void *hdr;

	hdr = genlmsg_put_reply(msg, info, &atls_family, 0, ATLS_CMD_ACCEPT);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(msg, ATLS_A_REQ_ID, req->id, ATLS_A_PAD) ||
	    nla_put_u32(msg, ATLS_A_SOCKFD, fd) ||
	    nla_put_u32(msg, ATLS_A_ROLE, req->role) ||
	    nla_put_u32(msg, ATLS_A_FLAGS, req->flags) ||
	    nla_put_u32(msg, ATLS_A_TIMEOUT_MS, req->timeout_ms) ||
	    nla_put_string(msg, ATLS_A_POLICY, req->policy) ||
	    nla_put_string(msg, ATLS_A_PEER_NAME, req->peer) ||
	    nla_put_u16(msg, ATLS_A_FAMILY, req->family) ||
	    nla_put_u32(msg, ATLS_A_APP_PID, req->app_pid) ||
	    nla_put_u32(msg, ATLS_A_APP_UID, from_kuid_munged(ns, req->app_uid)) ||
	    nla_put_u32(msg, ATLS_A_APP_GID, from_kgid_munged(ns, req->app_gid)) ||
	    nla_put_string(msg, ATLS_A_APP_COMM, req->app_comm) ||
	    atls_put_identity(msg, req)) {
		genlmsg_cancel(msg, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return 0;
}

static int atls_nl_parse(struct genl_info *info, struct nlattr **tb);

static int atls_nl_accept_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[ATLS_A_MAX + 1];
	struct net *net = genl_info_net(info);
	struct atls_sock *as;
	struct atls_req *req;
	struct sk_buff *msg;
	int fd, err;

	/* No attributes are expected; any present must still be valid. */
	err = atls_nl_parse(info, tb);
	if (err)
		return err;
	/* Closed sockets are never handed out: their close ended them. */
	req = atls_req_accept(net, info->snd_portid);	/* + file ref */
	if (!req)
		return -EAGAIN;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		err = fd;
		goto requeue;
	}
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		err = -ENOMEM;
		goto put_fd;
	}
	err = atls_fill_accept(msg, info, req, fd);
	if (err)
		goto free_msg;

	/*
	 * Reply first, install the fd after (as net/handshake does): a reply
	 * that cannot be delivered (the helper's receive buffer is full) must
	 * not leave an fd the helper never hears of in its table. The number
	 * stays reserved until fd_install(), so no other file can take it; a
	 * helper thread that reads the reply before this call returns and uses
	 * the number at once gets EBADF.
	 */
	err = genlmsg_reply(msg, info);		/* consumes msg */
	if (err)
		goto put_fd;	/* back to the queue, for the next ACCEPT */

	/* The helper (any thread of it) may now do raw I/O on the socket. */
	as = req->as;
	lock_sock(req->sk);
	WRITE_ONCE(as->helper_tgid, task_tgid_nr(current));
	if (as->state == ATLS_STATE_PENDING)
		atls_set_state(as, ATLS_STATE_ACCEPTED);
	release_sock(req->sk);

	fd_install(fd, req->file);	/* consumes our file reference */
	atls_stat_inc(ATLS_STAT_ACCEPTED);
	atls_req_put(req);
	return 0;

free_msg:
	nlmsg_free(msg);
put_fd:
	put_unused_fd(fd);
requeue:
	atls_req_requeue(req);
	fput(req->file);	/* ours; may run the close hook (app closed) */
	atls_req_put(req);
	return err;
}

static int atls_parse_peer(struct nlattr *nest, struct atls_peer_info *pi,
			   struct netlink_ext_ack *extack)
{
	struct nlattr *tb[ATLS_PEER_A_MAX + 1];
	int err;

	memset(pi, 0, sizeof(*pi));
	if (!nest)
		return 0;
	err = nla_parse_nested(tb, ATLS_PEER_A_MAX, nest, atls_peer_nl_policy, extack);
	if (err)
		return err;
	if (tb[ATLS_PEER_A_VERDICT])
		pi->verdict = nla_get_u32(tb[ATLS_PEER_A_VERDICT]);
	if (tb[ATLS_PEER_A_REASON])
		pi->reason = nla_get_u32(tb[ATLS_PEER_A_REASON]);
	if (tb[ATLS_PEER_A_EVIDENCE_TYPE])
		pi->evidence_type = nla_get_u32(tb[ATLS_PEER_A_EVIDENCE_TYPE]);
	if (tb[ATLS_PEER_A_FLAGS])
		pi->flags = nla_get_u32(tb[ATLS_PEER_A_FLAGS]);
	if (tb[ATLS_PEER_A_PCR_BANK])
		pi->pcr_bank = nla_get_u16(tb[ATLS_PEER_A_PCR_BANK]);
	if (tb[ATLS_PEER_A_PCR_SELECT])
		pi->pcr_select = nla_get_u32(tb[ATLS_PEER_A_PCR_SELECT]);
	if (tb[ATLS_PEER_A_CERT_SHA256])
		nla_memcpy(pi->peer_cert_sha256, tb[ATLS_PEER_A_CERT_SHA256],
			   sizeof(pi->peer_cert_sha256));
	if (tb[ATLS_PEER_A_AK_DIGEST])
		nla_memcpy(pi->ak_digest, tb[ATLS_PEER_A_AK_DIGEST],
			   sizeof(pi->ak_digest));
	if (tb[ATLS_PEER_A_PCR_DIGEST]) {
		pi->pcr_digest_len = nla_len(tb[ATLS_PEER_A_PCR_DIGEST]);
		nla_memcpy(pi->pcr_digest, tb[ATLS_PEER_A_PCR_DIGEST],
			   sizeof(pi->pcr_digest));
	}
	return 0;
}

/* The helper's status: only errnos of the documented vocabulary pass. */
static int atls_status_errno(int status)
{
	switch (status) {
	case -EACCES: case -EKEYREJECTED: case -ECONNRESET: case -EPROTO:
	case -ENOENT: case -EIO: case -ETIMEDOUT: case -ECONNABORTED:
		return status;
	default:
		return -EPROTO;
	}
}

/*
 * Close the helper's @fd if it still refers to @file. The DONE's checks saw
 * the request's socket there, but the key installation takes a while and
 * another thread of the helper may have replaced the number since (closed
 * it and opened, or dup2()'d, another file): that file is not ours to close.
 * What is left is the instant between fget_raw() and close_fd() (no
 * exported call compares and closes under the fd table's lock).
 */
static void atls_close_helper_fd(unsigned int fd, struct file *file)
{
	struct file *f = fget_raw(fd);
	bool same = f == file;

	if (f)
		fput(f);
	if (same)
		close_fd(fd);
}

static int atls_nl_done(struct genl_info *info, struct nlattr **tb)
{
	struct nlattr *atx = tb[ATLS_A_CRYPTO_TX];
	struct nlattr *arx = tb[ATLS_A_CRYPTO_RX];
	struct nlattr *stx = tb[ATLS_A_SECRET_TX];
	struct nlattr *srx = tb[ATLS_A_SECRET_RX];
	struct atls_peer_info pi;
	struct atls_req *req;
	struct socket *sock;
	int status, fd, err;
	u32 reason;
	u16 cipher;

	if (NL_REQ_ATTR_CHECK(info->extack, NULL, tb, ATLS_A_REQ_ID) ||
	    NL_REQ_ATTR_CHECK(info->extack, NULL, tb, ATLS_A_SOCKFD) ||
	    NL_REQ_ATTR_CHECK(info->extack, NULL, tb, ATLS_A_STATUS))
		return -EINVAL;
	fd = nla_get_u32(tb[ATLS_A_SOCKFD]);
	status = nla_get_s32(tb[ATLS_A_STATUS]);
	reason = tb[ATLS_A_REASON] ?
		 nla_get_u32(tb[ATLS_A_REASON]) : ATLS_REASON_HELPER_ERROR;
	trace_atls_done_received(nla_get_u64(tb[ATLS_A_REQ_ID]), status, reason, atx && arx);

	err = atls_parse_peer(tb[ATLS_A_PEER_INFO], &pi, info->extack);
	if (err)
		goto rejected;
	req = atls_req_lookup(nla_get_u64(tb[ATLS_A_REQ_ID]));
	if (IS_ERR(req)) {
		err = PTR_ERR(req);
		goto rejected;
	}
	/* Port numbers are per netns: the same number elsewhere is not ours. */
	err = net_eq(req->net, genl_info_net(info)) ?
	      atls_req_owner(req, info->snd_portid) : -EPERM;
	if (err)
		goto put_req;
	sock = sockfd_lookup(fd, &err);
	if (!sock) {
		err = -EBADF;
		goto put_req;
	}
	if (sock->sk != req->sk) {
		err = -EBADF;
		goto put_sock;
	}

	/*
	 * The message is about this helper's request and socket: from here the
	 * helper's fd is ours to close, whatever the outcome. Claiming fails only
	 * if the request ended (timeout) since the owner check: ECANCELED.
	 */
	if (atls_req_claim(req, info->snd_portid)) {
		err = -ECANCELED;
	} else if (status) {
		lock_sock(req->sk);
		req->as->peer = pi;
		req->as->have_peer = true;
		release_sock(req->sk);
		atls_req_done_fail(req, atls_status_errno(status), reason);
		err = 0;
	} else if (!atx || !arx ||
		   atls_keys_check(nla_data(atx), nla_len(atx), nla_data(arx),
				   nla_len(arx), &cipher) ||
		   atls_rekey_attach(req->as, cipher,
				     stx ? nla_data(stx) : NULL, stx ? nla_len(stx) : 0,
				     srx ? nla_data(srx) : NULL, srx ? nla_len(srx) : 0)) {
		NL_SET_ERR_MSG(info->extack, "atls: keys must be TLS 1.3 AES-GCM-128/256 or ChaCha20-Poly1305, both directions; secrets both or neither, of the suite's hash length");
		atls_stat_inc(ATLS_STAT_DONE_REJECTED);
		atls_req_done_fail(req, -EPROTO, ATLS_REASON_BAD_KEYS);
		err = -EINVAL;
	} else {
		err = atls_keys_install(req->as, sock, nla_data(atx), nla_len(atx),
					nla_data(arx), nla_len(arx), cipher, &pi);
		if (err)
			atls_req_done_fail(req, -EPROTO, ATLS_REASON_KEY_INSTALL);
		else
			atls_req_complete(req);
	}
	memzero_explicit(&pi, sizeof(pi));
	atls_close_helper_fd(fd, sock->file);	/* as documented */
	sockfd_put(sock);
	atls_req_put(req);
	return err;

put_sock:
	sockfd_put(sock);
put_req:
	atls_req_put(req);
rejected:
	atls_stat_inc(ATLS_STAT_DONE_REJECTED);
	return err;
}

/*
 * The family has no policy of its own: the genl core would refuse a
 * malformed DONE before any handler runs, and free it (after echoing it in
 * the error reply) with the keys inside. Each handler validates with the
 * generated policy itself, and DONE wipes its whole payload whatever the
 * outcome: keys, duplicated attributes (a parse keeps only the last) and
 * all. For the core to leave the attributes to us, our commands are below
 * the family's resv_start_op (otherwise it would refuse every attribute of
 * a command without a policy), so its header checks are ours too: the
 * same as genl_header_check() makes (a dump never reaches a doit).
 */
static int atls_nl_parse(struct genl_info *info, struct nlattr **tb)
{
	if (info->genlhdr->reserved) {
		NL_SET_ERR_MSG(info->extack, "genlmsghdr.reserved field is not 0");
		return -EINVAL;
	}
	if (info->nlhdr->nlmsg_flags & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO)) {
		NL_SET_ERR_MSG(info->extack, "ambiguous or reserved bits set in nlmsg_flags");
		return -EINVAL;
	}
	return nlmsg_parse(info->nlhdr, GENL_HDRLEN, tb, ATLS_A_MAX,
			   atls_nl_policy, info->extack);
}

static int atls_nl_done_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[ATLS_A_MAX + 1];
	int err;

	err = atls_nl_parse(info, tb);
	if (!err)
		err = atls_nl_done(info, tb);
	memzero_explicit(genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr));
	return err;
}

/*
 * REGISTER: the sending port becomes a helper of the caller's netns. The
 * genl core checked CAP_NET_ADMIN in the user namespace owning that netns
 * (GENL_UNS_ADMIN_PERM): the namespace's owner runs its helpers. At most
 * ATLS_MAX_HELPERS ports per namespace, so an unprivileged user's own
 * namespaces cost a bounded amount each (charged to its memory cgroup).
 */
static int atls_nl_register_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[ATLS_A_MAX + 1];
	struct atls_net *an = atls_net(genl_info_net(info));
	struct atls_helper *h, *new;
	int err;

	err = atls_nl_parse(info, tb);
	if (err)
		return err;
	if (!info->snd_portid)
		return -EINVAL;
	new = kzalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return -ENOMEM;
	new->portid = info->snd_portid;
	mutex_lock(&an->lock);
	err = -EALREADY;
	list_for_each_entry(h, &an->helpers, node)
		if (h->portid == new->portid)
			goto unlock;
	err = -ENOSPC;
	if (an->nhelpers >= ATLS_MAX_HELPERS)
		goto unlock;
	list_add_tail(&new->node, &an->helpers);
	WRITE_ONCE(an->nhelpers, an->nhelpers + 1);
	new = NULL;
	err = 0;
unlock:
	mutex_unlock(&an->lock);
	kfree(new);
	return err;
}

static int atls_nl_notify(struct notifier_block *nb, unsigned long event,
			  void *ptr)
{
	struct netlink_notify *n = ptr;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC ||
	    !n->portid)
		return NOTIFY_DONE;
	atls_genl_unregister(n->net, n->portid);
	atls_req_helper_gone(n->net, n->portid);
	return NOTIFY_DONE;
}

static struct notifier_block atls_nl_notifier = {
	.notifier_call = atls_nl_notify,
};

int atls_genl_init(void)
{
	int err;

	err = netlink_register_notifier(&atls_nl_notifier);
	if (err)
		return err;
	err = genl_register_family(&atls_family);
	if (err)
		goto unreg_notifier;
	return 0;

unreg_notifier:
	netlink_unregister_notifier(&atls_nl_notifier);
	return err;
}

void atls_genl_exit(void)
{
	genl_unregister_family(&atls_family);
	netlink_unregister_notifier(&atls_nl_notifier);
}
