/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API differences between the kernels atls.ko is built for: Debian
 * 12's 6.1 and 6.12 and the newest Debian trixie-backports kernel (7.x).
 * Every difference is kept here, one entry per fact, each gated on the first
 * mainline release that has it (LINUX_VERSION_CODE of the headers built
 * against), never on a distribution or package name. The rest of the module
 * uses only the names defined below.
 */
#ifndef ATLS_COMPAT_H
#define ATLS_COMPAT_H

#include <linux/version.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/sockptr.h>
#include <linux/uaccess.h>
#include <net/sock.h>
#include <uapi/linux/tls.h>

/*
 * 6.5 removed struct proto .sendpage (and proto_ops .sendpage): sendfile
 * and splice to a socket became sendmsg(MSG_SPLICE_PAGES), which the
 * .sendmsg gate already covers. Before 6.5 .sendpage is a second way to
 * the wire and must be gated too.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
#define ATLS_HAVE_SENDPAGE 1
#endif

/*
 * 6.13 made struct file's reference count a file_ref_t (f_ref) in place of
 * the atomic_long_t f_count. Both forms: take a reference unless the last
 * one is already gone (the file's release is under way).
 */
static inline bool atls_file_ref_get_live(struct file *file)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	return file_ref_get(&file->f_ref);
#else
	return atomic_long_inc_not_zero(&file->f_count);
#endif
}

/*
 * 6.15 added a bool net_admin argument to struct tcp_ulp_ops .get_info and
 * .get_info_size (inet_diag shows more to unprivileged readers). Our
 * forwarders to kTLS's take and pass it on where it exists:
 *   int f(struct sock *sk, struct sk_buff *skb ATLS_ULP_INFO_PARAM)
 *   tls_ulp->get_info(sk, skb ATLS_ULP_INFO_ARG)
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define ATLS_ULP_INFO_PARAM	, bool net_admin
#define ATLS_ULP_INFO_ARG	, net_admin
#else
#define ATLS_ULP_INFO_PARAM
#define ATLS_ULP_INFO_ARG
#endif

/*
 * 6.19 made kernel_bind() and kernel_connect() take a struct
 * sockaddr_unsized * (a sockaddr of any length) instead of a struct
 * sockaddr *; kernel_getsockname() still takes a struct sockaddr *.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define atls_bind_addr(sa)	((struct sockaddr_unsized *)(sa))
#else
#define atls_bind_addr(sa)	((struct sockaddr *)(sa))
#endif

/*
 * 7.1 dropped the int *addr_len argument of struct proto .recvmsg (the
 * socket layer fills msg_namelen itself). Our .recvmsg wrappers are
 * declared with ATLS_RECVMSG_PARAMS (sk, msg, len, flags and, before 7.1,
 * addr_len) and call the proto they wrap with atls_call_recvmsg(), whose
 * addr_len argument is dropped unevaluated on 7.1 and later.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 1, 0)
#define ATLS_RECVMSG_PARAMS \
	struct sock *sk, struct msghdr *msg, size_t len, int flags
#define atls_call_recvmsg(p, sk, msg, len, flags, addr_len) \
	((p)->recvmsg(sk, msg, len, flags))
#else
#define ATLS_RECVMSG_PARAMS \
	struct sock *sk, struct msghdr *msg, size_t len, int flags, int *addr_len
#define atls_call_recvmsg(p, sk, msg, len, flags, addr_len) \
	((p)->recvmsg(sk, msg, len, flags, addr_len))
#endif

/*
 * 6.4 moved the user copy of struct proto .ioctl into the socket layer
 * (sk_ioctl()): the proto gets an int *karg and fills it; before, it got the
 * user pointer as unsigned long arg and copied the answer out itself. Our
 * .ioctl is declared with ATLS_IOCTL_PARAMS, passes the call on with
 * atls_call_ioctl() and answers an int with atls_ioctl_answer().
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define ATLS_IOCTL_PARAMS	struct sock *sk, int cmd, int *karg
#define atls_call_ioctl(p, sk, cmd)	((p)->ioctl(sk, cmd, karg))
#define atls_ioctl_answer(v)	(*karg = (v), 0)
#else
#define ATLS_IOCTL_PARAMS	struct sock *sk, int cmd, unsigned long arg
#define atls_call_ioctl(p, sk, cmd)	((p)->ioctl(sk, cmd, arg))
#define atls_ioctl_answer(v)	put_user((int)(v), (int __user *)arg)
#endif

/*
 * 6.10 passed struct proto_accept_arg (flags, err, is_empty, kern) to
 * struct proto .accept and struct proto_ops .accept in place of separate
 * flags/err/kern arguments. listen.c declares its proto_ops .accept with
 * ATLS_OPS_ACCEPT_PARAMS (sock, newsock and the rest), reads the file flags
 * with atls_accept_flags(), and takes a child from TCP's accept queue
 * without sleeping with atls_csk_accept_nb().
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0)
#define ATLS_OPS_ACCEPT_PARAMS \
	struct socket *sock, struct socket *newsock, struct proto_accept_arg *arg
#define atls_accept_flags()	(arg->flags)
static inline struct sock *atls_csk_accept_nb(const struct proto *p,
					      struct sock *sk, int *err)
{
	struct proto_accept_arg a = { .flags = O_NONBLOCK, .kern = true };
	struct sock *child = p->accept(sk, &a);

	*err = a.err;
	return child;
}
#else
#define ATLS_OPS_ACCEPT_PARAMS \
	struct socket *sock, struct socket *newsock, int flags, bool kern
#define atls_accept_flags()	(flags)
static inline struct sock *atls_csk_accept_nb(const struct proto *p,
					      struct sock *sk, int *err)
{
	return p->accept(sk, O_NONBLOCK, err, true);
}
#endif

/*
 * kTLS copies a TLS_TX/TLS_RX crypto info in two steps: its 4-byte header,
 * then the rest to "crypto_info + 1" (do_tls_setsockopt_conf()). From a
 * kernel pointer that second copy is a memcpy(), which FORTIFY_SOURCE checks
 * against the size the compiler gives its destination. gcc 14 (Debian
 * trixie's kernels, 7.3.4 among them) sizes "one past a 4-byte field" as 0,
 * and the kernel WARNs "memcpy: detected field-spanning write" at the first
 * key install (a panic under panic_on_warn); gcc 12 (Debian 12's 6.1 and
 * 6.12) leaves it unsized and stays quiet; gcc 13 and clang are not tested
 * here and take the safe way. From a user pointer the copy is
 * copy_from_user(), which has no such check.
 *
 * So on a FORTIFY_SOURCE kernel built by gcc >= 13 or clang,
 * atls_tls_set_crypto() hands kTLS the blob from a page mapped for the
 * moment in the calling task's memory: the helper daemon's, as DONE runs in
 * its context, and it derived these keys itself. The page is wiped and
 * unmapped before returning; another thread of the helper unmapping it only
 * makes the install fail (EFAULT). A task without user memory (none today)
 * passes the kernel pointer.
 */
#if defined(CONFIG_FORTIFY_SOURCE) && \
	(defined(CONFIG_CC_IS_CLANG) || CONFIG_GCC_VERSION >= 130000)
#define ATLS_TLS_CRYPTO_VIA_USER 1
#endif

#ifdef ATLS_TLS_CRYPTO_VIA_USER
/*
 * setsockopt(SOL_TLS, @optname) of @blob through @set, from a page mapped
 * for the moment in current's memory (current->mm must be set).
 */
static inline int atls_tls_set_crypto_user(int (*set)(void *arg, int optname,
						      sockptr_t v, int len),
					   void *arg, int optname,
					   void *blob, int len)
{
	unsigned long addr;
	void __user *ubuf;
	int err;

	if (len > PAGE_SIZE)
		return -EINVAL;
	addr = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(addr))
		return (int)addr;
	ubuf = (void __user *)addr;
	err = -EFAULT;
	if (!copy_to_user(ubuf, blob, len))
		err = set(arg, optname, USER_SOCKPTR(ubuf), len);
	if (clear_user(ubuf, len) && !err)
		err = -EFAULT;
	vm_munmap(addr, PAGE_SIZE);
	return err;
}

struct atls_sock_proto {
	struct sock *sk;
	const struct proto *prot;
};

static inline int atls_sock_set_tls(void *arg, int optname, sockptr_t v, int len)
{
	struct atls_sock_proto *sp = arg;

	return sp->prot->setsockopt(sp->sk, SOL_TLS, optname, v, len);
}
#endif

/*
 * setsockopt(SOL_TLS, @optname) of @blob straight into kTLS's struct proto
 * @prot (its tls_setsockopt()), not through the socket's proto_ops.
 */
static inline int atls_tls_set_crypto(struct sock *sk, const struct proto *prot,
				      int optname, void *blob, int len)
{
#ifdef ATLS_TLS_CRYPTO_VIA_USER
	struct atls_sock_proto sp = { .sk = sk, .prot = prot };

	if (current->mm && !(current->flags & PF_KTHREAD) && len <= PAGE_SIZE)
		return atls_tls_set_crypto_user(atls_sock_set_tls, &sp, optname,
						blob, len);
#endif
	return prot->setsockopt(sk, SOL_TLS, optname, KERNEL_SOCKPTR(blob), len);
}

/*
 * 6.14 lets kTLS take TLS_TX and TLS_RX again on a TLS 1.3 socket, with the
 * same version and cipher (a KeyUpdate, RFC 8446 4.6.3): after a decrypted
 * record that starts with a KeyUpdate message, reads fail with EKEYEXPIRED
 * (and poll reports no input) until the next TLS_RX is installed; sending
 * does not pause. Before 6.14 a second TLS_TX/TLS_RX is EBUSY: atls.ko then
 * ends the connection at a KeyUpdate (kmod/rekey.c).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
#define ATLS_HAVE_KTLS_REKEY 1
#endif

/*
 * 6.17 added system_dfl_wq (unbound) and later kernels warn when work is
 * queued on its old name, system_unbound_wq.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define atls_unbound_wq		system_dfl_wq
#else
#define atls_unbound_wq		system_unbound_wq
#endif

#endif /* ATLS_COMPAT_H */
