/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * atls: attested TLS 1.3 for TCP sockets, records encrypted by kTLS.
 *
 * The one uAPI header of the project: the socket API an application uses
 * (TCP ULP "atls", socket-option level SOL_ATLS), and the generic-netlink
 * upcall the helper daemon speaks (family "atls").
 * Documentation/atls.7.rst and Documentation/netlink.rst describe both in
 * prose; Documentation/netlink/specs/atls.yaml is the machine-readable spec.
 *
 * ---------------------------------------------------------------------------
 * Application side
 * ---------------------------------------------------------------------------
 *
 *   fd = socket(AF_INET or AF_INET6, SOCK_STREAM, 0); connect() or accept();
 *   setsockopt(fd, SOL_TCP, TCP_ULP, "atls", sizeof("atls"));
 *   struct atls_start st = { .size = sizeof(st), .role = ATLS_ROLE_CLIENT,
 *                            .policy = "default", .peer = "db.example" };
 *   setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st));
 *   ... send()/recv()/sendfile()/splice() as on any socket (kTLS) ...
 *   getsockopt(fd, SOL_ATLS, ATLS_PEER_INFO, &pi, &len);
 *
 * Errno vocabulary (every failure an application can see):
 *
 *  setsockopt(SOL_TCP, TCP_ULP, "atls"):
 *   ENOTCONN     socket is neither ESTABLISHED nor listening (never
 *                connected, only bound, closed, ...); on a listening
 *                socket the ULP prepares an attested listener (ATLS_LISTEN)
 *   EEXIST       another ULP (e.g. "tls") is already attached, or atls twice
 *   EBUSY        application data was already sent or received on the
 *                socket, or an in-kernel user (KCM) holds it
 *   ENOENT       atls.ko (or tls.ko underneath) is not available
 *   ENOMEM       out of memory
 *
 *  setsockopt(SOL_ATLS, ATLS_START, struct atls_start):
 *   ENOPROTOOPT  the socket does not carry the "atls" ULP (getsockopt at
 *                SOL_ATLS on such a socket: EOPNOTSUPP, from the IP layer)
 *   EINVAL       optlen < ATLS_START_SIZE_VER0, size field != optlen, unknown
 *                flag, bad role, timeout_ms > ATLS_TIMEOUT_MAX_MS, policy or
 *                peer not NUL-terminated inside its array
 *   E2BIG        optlen > sizeof(struct atls_start) with non-zero tail bytes
 *   EFAULT       bad pointer
 *   EALREADY     ATLS_START was already called on this socket
 *   ESRCH        no helper is registered (ATLS_CMD_REGISTER) in the
 *                socket's network namespace; at once, nothing queued
 *   ENOBUFS      the socket's network namespace has max_pending_net
 *                requests live (module parameter, default ATLS_MAX_PENDING)
 *   EDQUOT       the caller's user (real uid; for a listener's children
 *                its owner) has max_pending_user requests live in all
 *                namespaces (default ATLS_MAX_PENDING_USER)
 *   EINPROGRESS  non-blocking socket (or ATLS_START_F_NONBLOCK): the request
 *                is queued; completion is POLLOUT (ready) or POLLERR (failed),
 *                the result is in ATLS_STATUS (like connect()); POLLERR is
 *                never reported before ATLS_STATUS says FAILED
 *   EINTR        a blocking start was interrupted by a signal; the request
 *                goes on in the background and completes as above
 *   and, for a blocking start, the completion errno (next list).
 *
 *  Completion errno (blocking ATLS_START, ATLS_STATUS.error, and from then on
 *  every send/recv on the socket: errors are sticky, the TCP connection is
 *  aborted with a RST, nothing is ever sent in clear):
 *   ETIMEDOUT    no completion within timeout_ms (ATLS_REASON_TIMEOUT)
 *   ECONNABORTED the helper died holding the request, the app abandoned it
 *                (ATLS_REASON_HELPER_DIED, _APP_CLOSED, _SHUTDOWN), or the
 *                helper refused a server request because its remote address
 *                already holds its share of the workers (_PEER_LIMIT)
 *   EACCES       the peer's attestation evidence was rejected by the policy
 *                (ATLS_REASON_EVIDENCE_*, _AK_UNTRUSTED, _PCR_MISMATCH, ...),
 *                or the helper does not let this requester (its effective
 *                uid, groups, cgroup at ATLS_START) use the policy
 *                (ATLS_REASON_NOT_AUTHORIZED; nothing was sent on the wire)
 *   EKEYREJECTED the peer's certificate or identity was rejected
 *   ECONNRESET   the peer aborted the handshake (alert, RST, EOF), or the
 *                TCP connection was reset or lost while the request was
 *                pending (no helper yet): it ends at once, not at its
 *                timeout (ATLS_REASON_PEER_ABORTED); a helper holding an
 *                accepted request sees the reset itself and reports its
 *                own reason (e.g. EACCES when it rejected the peer)
 *   EPROTO       handshake protocol failure, or the helper returned keys the
 *                kernel refused (ATLS_REASON_HANDSHAKE, ATLS_REASON_BAD_KEYS)
 *   ENOENT       the helper does not know the requested policy
 *   EIO          the helper's own TPM or configuration failed
 *
 *  While gated (from the ULP attach until completion):
 *   send/recv/sendfile/splice block (or EAGAIN when non-blocking or when
 *   SO_SNDTIMEO/SO_RCVTIMEO expire); poll() reports neither POLLIN nor
 *   POLLOUT (POLLERR once failed); getsockopt/setsockopt(SOL_TLS) and
 *   getsockopt(TCP_ZEROCOPY_RECEIVE): EPERM.
 *
 *  Any time: ioctl(SIOCKCMATTACH) of an atls socket to a KCM socket:
 *   EALREADY (in-kernel users that take over the socket are refused).
 *
 *  After completion (keys installed in kTLS):
 *   get/setsockopt(SOL_TLS, TLS_TX_ZEROCOPY_RO or TLS_RX_EXPECT_NO_PAD)
 *                                        reach kTLS (tuning; atls.ko sets
 *                                        TLS_RX_EXPECT_NO_PAD itself unless
 *                                        its rx_expect_no_pad parameter is 0)
 *   get/setsockopt(SOL_TLS, any other)   EPERM (TLS_TX/TLS_RX would hand
 *                                        out or replace the keys)
 *   recv() on a TLS close_notify alert   returns 0 (end of file), sticky
 *   recv() on any other TLS alert        ECONNRESET (connection aborted)
 *   recv() on NewSessionTicket           the record is dropped silently
 *   recv() on KeyUpdate                  Linux 6.14+ with the helper's
 *                                        secrets: the module installs the
 *                                        next RX key (and answers a request
 *                                        with its own KeyUpdate, rotating
 *                                        TX); the read goes on. Other calls
 *                                        on the socket meanwhile neither
 *                                        fail nor see a key. Otherwise
 *                                        EKEYEXPIRED (ATLS_REASON_KEY_UPDATE,
 *                                        connection aborted). A malformed
 *                                        KeyUpdate (length, value, not last
 *                                        in its record): EPROTO
 *                                        (ATLS_REASON_BAD_RECORD)
 *   recv() on any other control record   EPROTO (connection aborted)
 *   a record that does not decrypt       kTLS's own error (EBADMSG), kTLS
 *                                        aborts the connection
 *   send()/recv() at the record limit    EKEYEXPIRED (ATLS_REASON_RECORD_LIMIT:
 *                                        2^24 records per direction for
 *                                        AES-GCM, RFC 8446 section 5.5);
 *                                        a send that would pass it is cut
 *                                        short (per record), a recv checks
 *                                        at the start of each call; with
 *                                        key updates (6.14+) each key starts
 *                                        at record 0 again: not reached
 *   splice() from the socket maps control records and checks the record
 *   limit as recv() does.
 *   recvmsg() with the application's own control buffer gets kTLS's native
 *   behaviour (TLS_GET_RECORD_TYPE cmsg) instead of the mapping above.
 *
 *  getsockopt(SOL_ATLS, *):
 *   ENOPROTOOPT  unknown option
 *   EOPNOTSUPP   the socket is not an atls socket (from the IP layer)
 *   EINVAL       *optlen smaller than the structure
 *   ENODATA      ATLS_PEER_INFO before the helper reported a result
 *
 * ---------------------------------------------------------------------------
 * Helper side: generic netlink family "atls" (ATLS_GENL_NAME), version 1
 * ---------------------------------------------------------------------------
 *
 * Message tree (-> kernel to helper, <- helper to kernel):
 *
 * A helper serves the network namespace it runs in. Every command needs
 * CAP_NET_ADMIN in the user namespace owning the caller's network namespace
 * (GENL_UNS_ADMIN_PERM: in a container with its own user namespace, its
 * root). Nothing is sent to multicast group "helper" (ATLS_MCGRP_HELPER,
 * kept for old clients): anyone may join a group, so READY and ABORT go to
 * registered sockets only (unicast from port 0).
 *
 *  <- ATLS_CMD_REGISTER do; no attrs: the sending socket becomes a helper
 *                       of the caller's network namespace until it is
 *                       closed; it then receives READY and ABORT of that
 *                       namespace's requests, and ATLS_START there no
 *                       longer fails with ESRCH
 *     errors: EPERM (no CAP_NET_ADMIN over the namespace), EALREADY (this
 *             socket is registered), ENOSPC (ATLS_MAX_HELPERS registered)
 *  -> ATLS_CMD_READY    to each registered socket of the request's network
 *                       namespace; doorbell, new work queued
 *       ATLS_A_PENDING            u32   live requests of that namespace:
 *                                       started and not yet ended (pending,
 *                                       accepted or being installed), not
 *                                       only those waiting for ACCEPT
 *  <- ATLS_CMD_ACCEPT   do; no attrs; the oldest pending request of the
 *                       caller's network namespace
 *     reply ATLS_CMD_ACCEPT:
 *       ATLS_A_REQ_ID             u64   request cookie (never reused)
 *       ATLS_A_SOCKFD             u32   fd of the app's socket, installed
 *                                       O_CLOEXEC in the caller's fd table
 *       ATLS_A_ROLE               u32   enum atls_role
 *       ATLS_A_FLAGS              u32   ATLS_START_F_* as given by the app
 *       ATLS_A_TIMEOUT_MS         u32   effective timeout
 *       ATLS_A_POLICY             string
 *       ATLS_A_PEER_NAME          string (may be empty)
 *       ATLS_A_FAMILY             u16   AF_INET or AF_INET6
 *       ATLS_A_APP_PID            u32   tgid of the process that started
 *       ATLS_A_APP_UID            u32   its uid and gid (in the helper's
 *       ATLS_A_APP_GID            u32   user namespace)
 *       ATLS_A_APP_COMM           string
 *      The requester's identity for authorization (D10), taken from the
 *      credentials and cgroup of the task that called ATLS_START (for a
 *      listener's children: ATLS_LISTEN); never re-read later:
 *       ATLS_A_APP_EUID           u32   effective uid and gid (they govern
 *       ATLS_A_APP_EGID           u32   access), helper's user namespace
 *       ATLS_A_APP_GROUPS         binary u32[], the first
 *                                       ATLS_APP_GROUPS_MAX supplementary
 *                                       groups (absent when there are none)
 *       ATLS_A_APP_NGROUPS        u32   how many there are in all (more than
 *                                       ATLS_APP_GROUPS_MAX: truncated)
 *       ATLS_A_APP_CGROUP_ID      u64   cgroup v2 id
 *       ATLS_A_APP_CGROUP         string cgroup v2 path as seen from the
 *                                       helper's cgroup namespace; absent when
 *                                       longer than ATLS_CGROUP_PATH_MAX - 1
 *     errors: EPERM (no CAP_NET_ADMIN over the caller's network
 *             namespace), EAGAIN (nothing pending),
 *             EMFILE (no free fd: the request is put back in the queue);
 *             a reply that cannot be delivered (the helper's receive buffer
 *             is full) installs no fd and puts the request back too
 *  <- ATLS_CMD_DONE     do
 *       ATLS_A_REQ_ID             u64   required
 *       ATLS_A_SOCKFD             u32   required: the fd ACCEPT gave
 *       ATLS_A_STATUS             s32   required: 0 or a negative errno from
 *                                       the completion list above
 *       ATLS_A_REASON             u32   enum atls_reason (optional)
 *       ATLS_A_CRYPTO_TX          binary struct tls12_crypto_info_* (status 0)
 *       ATLS_A_CRYPTO_RX          binary same version and cipher    (status 0)
 *       ATLS_A_PEER_INFO          nest  ATLS_PEER_A_* (optional)
 *       ATLS_A_SECRET_TX          binary application traffic secret of TX
 *       ATLS_A_SECRET_RX          binary ... of RX (optional, status 0, both
 *                                       or neither): the secrets CRYPTO_TX
 *                                       and CRYPTO_RX were expanded from, as
 *                                       long as the suite's hash (32 bytes;
 *                                       48 for AES-GCM-256, SHA-384). With
 *                                       them a kernel whose kTLS can rekey
 *                                       (Linux 6.14+) handles TLS 1.3
 *                                       KeyUpdate in both directions; they
 *                                       stay in the kernel, wiped at close
 *                                       (older kernels wipe them at once)
 *     errors: EINVAL (malformed attribute: wrong type or length, unknown or
 *             kernel-only attribute, bad nest; missing attribute; keys not
 *             TLS 1.3 AES-GCM-128/256 or ChaCha20-Poly1305 of the exact size,
 *             TX/RX ciphers differ, one secret without the other or a
 *             secret not as long as the suite's hash), ERANGE (STATUS, REASON, VERDICT, ... or
 *             a binary length outside its policy range), ENOENT (request id never
 *             issued), ESTALE (request already completed, timed out or
 *             aborted), EPERM (the request was accepted by another netlink
 *             port, or is of another network namespace), EBADF (ATLS_A_SOCKFD is not that request's socket),
 *             ECANCELED (the request ended, e.g. timed out, while this
 *             DONE was being processed). A non-zero STATUS outside the
 *             completion list reaches the app as EPROTO.
 *             Malformed messages, unknown/stale ids, a foreign port or a
 *             wrong fd leave the request untouched. A DONE from the right
 *             port for the right socket with status 0 but unusable keys
 *             fails the request (the app sees EPROTO, ATLS_REASON_BAD_KEYS;
 *             kTLS refusing them: ATLS_REASON_KEY_INSTALL).
 *     Once a DONE passed the checks up to EBADF (it names a live request of
 *     this port and that request's socket) the kernel closes ATLS_A_SOCKFD
 *     in the caller's table, whatever the result (0, EINVAL for refused
 *     keys, ECANCELED, an install error), if the number still refers to
 *     that socket by then: the helper must not close it then. (The check
 *     and the close are two steps: a file another helper thread puts under
 *     the number in the instant between them is closed; do not reuse
 *     ATLS_A_SOCKFD before the DONE reply.)
 *     After ENOENT, ESTALE, EPERM, EBADF or an attribute error (EINVAL,
 *     ERANGE) the fd is untouched and still the helper's.
 *  -> ATLS_CMD_ABORT    to each registered socket of the request's network
 *                       namespace; stop working on a request
 *       ATLS_A_REQ_ID             u64
 *       ATLS_A_REASON             u32   enum atls_reason
 *
 *  ATLS_A_PEER_INFO nest (passed to the app in struct atls_peer_info):
 *       ATLS_PEER_A_VERDICT       u32   enum atls_verdict
 *       ATLS_PEER_A_REASON        u32   enum atls_reason
 *       ATLS_PEER_A_CERT_SHA256   binary, exactly 32 bytes
 *       ATLS_PEER_A_EVIDENCE_TYPE u32   enum atls_evidence
 *       ATLS_PEER_A_AK_DIGEST     binary, exactly 32 bytes
 *       ATLS_PEER_A_PCR_BANK      u16   TPM2_ALG_ID (0x000B = SHA-256)
 *       ATLS_PEER_A_PCR_SELECT    u32   bit n = PCR n
 *       ATLS_PEER_A_PCR_DIGEST    binary, 1..64 bytes
 *       ATLS_PEER_A_FLAGS         u32   ATLS_PEER_F_*
 *
 * Counters: /proc/net/atls (one "name value" pair per line, see atls.7).
 */
#ifndef _UAPI_LINUX_ATLS_H
#define _UAPI_LINUX_ATLS_H

#include <linux/types.h>

#define ATLS_ULP_NAME		"atls"

/* Socket-option level, handled by the atls ULP (far from the SOL_* range). */
#define SOL_ATLS		0x6174

/* Socket options at SOL_ATLS. */
#define ATLS_START		1	/* set: struct atls_start */
#define ATLS_STATUS		2	/* get: struct atls_status */
#define ATLS_PEER_INFO		3	/* get: struct atls_peer_info */
#define ATLS_LISTEN		4	/* set, listening socket: struct atls_listen */
#define ATLS_LISTEN_INFO	5	/* get, listening socket: struct atls_listen_info */

enum atls_role {
	ATLS_ROLE_CLIENT = 1,		/* we sent the TCP SYN, TLS client */
	ATLS_ROLE_SERVER = 2,		/* accepted socket, TLS server */
};

/* struct atls_start flags */
#define ATLS_START_F_NONBLOCK	(1U << 0)	/* EINPROGRESS even on a blocking socket */
#define ATLS_START_F_ALL	ATLS_START_F_NONBLOCK

#define ATLS_POLICY_MAX		64	/* bytes, including the NUL */
#define ATLS_PEER_MAX		256	/* bytes, including the NUL */

#define ATLS_TIMEOUT_DEFAULT_MS	10000	/* timeout_ms == 0 */
#define ATLS_TIMEOUT_MAX_MS	120000
/*
 * Caps on live requests (started, not yet completed), defaults of the
 * module parameters max_pending_net and max_pending_user: ATLS_START beyond
 * them fails with ENOBUFS (the socket's network namespace is full) or
 * EDQUOT (the requester's user, by real uid, is full, counted over every
 * namespace). And how many netlink sockets may register as helpers in one
 * network namespace (ATLS_CMD_REGISTER, ENOSPC).
 */
#define ATLS_MAX_PENDING	4096	/* per network namespace */
#define ATLS_MAX_PENDING_USER	1024	/* per user, all namespaces */
#define ATLS_MAX_HELPERS	16	/* registered helper sockets per netns */

/*
 * setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)).
 * size must equal optlen. Later versions only append fields; a kernel given a
 * larger structure accepts it when the unknown tail is zero (else E2BIG).
 */
struct atls_start {
	__u32	size;			/* sizeof(struct atls_start) */
	__u32	role;			/* enum atls_role */
	__u32	flags;			/* ATLS_START_F_* */
	__u32	timeout_ms;		/* 0: ATLS_TIMEOUT_DEFAULT_MS */
	char	policy[ATLS_POLICY_MAX];	/* "" means "default" */
	char	peer[ATLS_PEER_MAX];	/* expected peer name, may be "" */
};
#define ATLS_START_SIZE_VER0	336	/* sizeof first published version */

/*
 * setsockopt(fd, SOL_ATLS, ATLS_LISTEN, &l, sizeof(l)) on a listening socket
 * that carries the atls ULP: from then on accept() returns only connections
 * whose handshake (role server, this policy) succeeded; the others are
 * counted (ATLS_LISTEN_INFO, /proc/net/atls) and never surface. Same size
 * rule as struct atls_start.
 */
struct atls_listen {
	__u32	size;			/* sizeof(struct atls_listen) */
	__u32	flags;			/* 0 */
	__u32	timeout_ms;		/* per connection; 0: ATLS_TIMEOUT_DEFAULT_MS */
	__u32	reserved;		/* 0 */
	char	policy[ATLS_POLICY_MAX];	/* "" means "default" */
};
#define ATLS_LISTEN_SIZE_VER0	80	/* sizeof first published version */

/* getsockopt(fd, SOL_ATLS, ATLS_LISTEN_INFO): the listener's counters. */
struct atls_listen_info {
	__u64	children;		/* connections taken into a handshake, ever */
	__u64	accepted;		/* returned by accept(), ever */
	__u64	failed;			/* ended without surfacing, ever */
	__u32	handshaking;		/* in a handshake now */
	__u32	ready;			/* ready now, waiting for accept() */
	__u32	last_reason;		/* enum atls_reason of the last failure */
	__u32	reserved;		/* 0 */
};

enum atls_state {
	ATLS_STATE_NONE = 0,		/* ULP attached, ATLS_START not called */
	ATLS_STATE_PENDING = 1,		/* queued, waiting for a helper */
	ATLS_STATE_ACCEPTED = 2,	/* a helper runs the handshake */
	ATLS_STATE_READY = 3,		/* keys installed, data flows via kTLS */
	ATLS_STATE_FAILED = 4,		/* dead; error says why */
};

/* getsockopt(fd, SOL_ATLS, ATLS_STATUS): errors are sticky, never cleared. */
struct atls_status {
	__u32	state;			/* enum atls_state */
	__s32	error;			/* 0 or a positive errno */
	__u32	reason;			/* enum atls_reason */
	__u32	reserved;		/* 0 */
};

enum atls_verdict {
	ATLS_VERDICT_NONE = 0,		/* no appraisal (e.g. failed earlier) */
	ATLS_VERDICT_AFFIRMING = 1,	/* EAR "affirming" */
	ATLS_VERDICT_WARNING = 2,	/* EAR "warning": accepted by policy */
	ATLS_VERDICT_CONTRAINDICATED = 3,
};

enum atls_evidence {
	ATLS_EVIDENCE_NONE = 0,		/* peer did not attest (policy allowed) */
	ATLS_EVIDENCE_TPM2_KAT_PAT = 1,	/* TPM2_Certify of the TLS key + quote */
	ATLS_EVIDENCE_TPM2_PAT = 2,	/* quote only, binder covers the key */
	ATLS_EVIDENCE_EAR = 3,		/* passport: verifier-signed EAR */
};

/* Machine-readable reasons (ATLS_STATUS.reason, ATLS_PEER_INFO.reason). */
enum atls_reason {
	ATLS_REASON_NONE = 0,
	ATLS_REASON_OK = 1,			/* appraisal passed */
	ATLS_REASON_NO_HELPER = 2,		/* ESRCH */
	ATLS_REASON_TIMEOUT = 3,		/* ETIMEDOUT */
	ATLS_REASON_HELPER_DIED = 4,		/* ECONNABORTED */
	ATLS_REASON_APP_CLOSED = 5,		/* app closed while pending (counter) */
	ATLS_REASON_SHUTDOWN = 6,		/* ECONNABORTED */
	ATLS_REASON_HANDSHAKE = 7,		/* EPROTO */
	ATLS_REASON_PEER_ABORTED = 8,		/* ECONNRESET */
	ATLS_REASON_PEER_CERT = 9,		/* EKEYREJECTED */
	ATLS_REASON_EVIDENCE_MISSING = 10,	/* EACCES */
	ATLS_REASON_EVIDENCE_INVALID = 11,	/* EACCES: format, signature */
	ATLS_REASON_AK_UNTRUSTED = 12,		/* EACCES */
	ATLS_REASON_PCR_MISMATCH = 13,		/* EACCES */
	ATLS_REASON_FRESHNESS = 14,		/* EACCES: binder/nonce mismatch */
	ATLS_REASON_POLICY_UNKNOWN = 15,	/* ENOENT */
	ATLS_REASON_LOCAL_TPM = 16,		/* EIO */
	ATLS_REASON_BAD_KEYS = 17,		/* EPROTO: kernel refused DONE keys */
	ATLS_REASON_KEY_INSTALL = 18,		/* EPROTO: kTLS refused the keys */
	ATLS_REASON_PEER_ALERT = 19,		/* ECONNRESET, after ready */
	ATLS_REASON_KEY_UPDATE = 20,		/* EKEYEXPIRED, after ready */
	ATLS_REASON_RECORD_LIMIT = 21,		/* EKEYEXPIRED, after ready */
	ATLS_REASON_BAD_RECORD = 22,		/* EPROTO, after ready */
	ATLS_REASON_HELPER_ERROR = 23,		/* any other helper failure */
	ATLS_REASON_NOT_AUTHORIZED = 24,	/* EACCES: the requester may not use
						 * this policy (atls.conf(5) allow) */
	ATLS_REASON_PEER_LIMIT = 25,		/* ECONNABORTED: the remote address
						 * holds its share of the helper's
						 * workers (atls.conf(5)
						 * workers-per-peer) */
	__ATLS_REASON_MAX,	/* the kernel reports, and accepts in DONE, 0..MAX-1 */

	/*
	 * Finer reasons of a handshake engine (libatls's struct atls_result),
	 * never sent to or reported by the kernel: a helper maps each to one
	 * of the reasons above before DONE (atlsd: helperd/atlsd/outcome.c).
	 * Where an engine's reason has an exact equivalent above (e.g.
	 * ATLS_REASON_PCR_MISMATCH, ATLS_REASON_FRESHNESS for a binder
	 * mismatch) the engine reports that one.
	 */
	ATLS_REASON_NO_EVIDENCE = 64,		/* peer not asked or sent none (informational) */
	ATLS_REASON_MALFORMED_EVIDENCE = 65,	/* extension, CMW, CBOR or TPM structure */
	ATLS_REASON_BAD_SIGNATURE = 66,		/* quote/certify signature does not verify */
	ATLS_REASON_KEY_BINDING_MISMATCH = 67,	/* certified key != certificate key */
	ATLS_REASON_EVIDENCE_TYPE_REJECTED = 68,	/* evidence/scheme type not accepted */
	ATLS_REASON_WRONG_CERT_ENTRY = 69,	/* evidence on a certificate entry != 0 */
	ATLS_REASON_INTERNAL = 70,		/* allocation, configuration, library error */
	ATLS_REASON_PEER_NAME_MISMATCH = 71,	/* certificate does not match the peer name */
	ATLS_REASON_BINDING_UNSUPPORTED = 72,	/* the policy requires the exporter binding,
						 * the peer does not offer it */
	__ATLS_REASON_DETAIL_MAX
};

/* struct atls_peer_info flags */
#define ATLS_PEER_F_PEER_ATTESTED	(1U << 0)	/* peer sent evidence */
#define ATLS_PEER_F_SELF_ATTESTED	(1U << 1)	/* we sent evidence */

#define ATLS_DIGEST_MAX		64

/* Supplementary groups an ACCEPT carries (ATLS_A_APP_GROUPS), and the
 * longest cgroup path it carries (ATLS_A_APP_CGROUP, with its NUL). */
#define ATLS_APP_GROUPS_MAX	64
#define ATLS_CGROUP_PATH_MAX	1024

/* getsockopt(fd, SOL_ATLS, ATLS_PEER_INFO): *optlen >= sizeof; returns sizeof. */
struct atls_peer_info {
	__u32	verdict;		/* enum atls_verdict */
	__u32	reason;			/* enum atls_reason */
	__u32	evidence_type;		/* enum atls_evidence */
	__u32	flags;			/* ATLS_PEER_F_* */
	__u16	tls_version;		/* TLS_1_3_VERSION (0x0304) */
	__u16	cipher;			/* TLS_CIPHER_* of <linux/tls.h> */
	__u16	pcr_bank;		/* TPM2_ALG_ID of the quoted bank */
	__u16	pcr_digest_len;		/* valid bytes in pcr_digest */
	__u32	pcr_select;		/* bit n = PCR n was quoted */
	__u32	reserved;		/* 0 */
	__u8	peer_cert_sha256[32];	/* SHA-256 of the peer's leaf cert (DER) */
	__u8	ak_digest[32];		/* SHA-256 of the peer AK's DER SubjectPublicKeyInfo */
	__u8	pcr_digest[ATLS_DIGEST_MAX];	/* digest over the selected PCRs */
};

/*
 * ---- generic netlink ----
 * Generated from Documentation/netlink/specs/atls.yaml, the source of
 * truth for the family: the build fails when this block differs from it.
 */

/* nlspec: begin (generated from Documentation/netlink/specs/atls.yaml by scripts/nlspec.py; `make nlspec`) */

#define ATLS_GENL_NAME		"atls"
#define ATLS_GENL_VERSION	1
#define ATLS_MCGRP_HELPER	"helper"

enum atls_cmd {
	ATLS_CMD_UNSPEC,
	ATLS_CMD_READY,
	ATLS_CMD_ACCEPT,
	ATLS_CMD_DONE,
	ATLS_CMD_ABORT,
	ATLS_CMD_REGISTER,
	__ATLS_CMD_MAX
};
#define ATLS_CMD_MAX (__ATLS_CMD_MAX - 1)

enum atls_attr {
	ATLS_A_UNSPEC,
	ATLS_A_PAD,	/* pad */
	ATLS_A_REQ_ID,	/* u64 */
	ATLS_A_SOCKFD,	/* u32 */
	ATLS_A_ROLE,	/* u32, enum atls_role */
	ATLS_A_FLAGS,	/* u32 */
	ATLS_A_TIMEOUT_MS,	/* u32 */
	ATLS_A_POLICY,	/* string */
	ATLS_A_PEER_NAME,	/* string */
	ATLS_A_FAMILY,	/* u16 */
	ATLS_A_APP_PID,	/* u32 */
	ATLS_A_APP_UID,	/* u32 */
	ATLS_A_APP_GID,	/* u32 */
	ATLS_A_APP_COMM,	/* string */
	ATLS_A_STATUS,	/* s32 */
	ATLS_A_REASON,	/* u32, enum atls_reason */
	ATLS_A_CRYPTO_TX,	/* binary */
	ATLS_A_CRYPTO_RX,	/* binary */
	ATLS_A_PEER_INFO,	/* nest, atls_peer_attr */
	ATLS_A_PENDING,	/* u32 */
	ATLS_A_APP_EUID,	/* u32 */
	ATLS_A_APP_EGID,	/* u32 */
	ATLS_A_APP_GROUPS,	/* binary */
	ATLS_A_APP_NGROUPS,	/* u32 */
	ATLS_A_APP_CGROUP_ID,	/* u64 */
	ATLS_A_APP_CGROUP,	/* string */
	ATLS_A_SECRET_TX,	/* binary */
	ATLS_A_SECRET_RX,	/* binary */
	__ATLS_A_MAX
};
#define ATLS_A_MAX (__ATLS_A_MAX - 1)

enum atls_peer_attr {
	ATLS_PEER_A_UNSPEC,
	ATLS_PEER_A_VERDICT,	/* u32, enum atls_verdict */
	ATLS_PEER_A_REASON,	/* u32, enum atls_reason */
	ATLS_PEER_A_CERT_SHA256,	/* binary */
	ATLS_PEER_A_EVIDENCE_TYPE,	/* u32, enum atls_evidence */
	ATLS_PEER_A_AK_DIGEST,	/* binary */
	ATLS_PEER_A_PCR_BANK,	/* u16 */
	ATLS_PEER_A_PCR_SELECT,	/* u32 */
	ATLS_PEER_A_PCR_DIGEST,	/* binary */
	ATLS_PEER_A_FLAGS,	/* u32, flags atls_peer_flags */
	__ATLS_PEER_A_MAX
};
#define ATLS_PEER_A_MAX (__ATLS_PEER_A_MAX - 1)

/* nlspec: end */

#endif /* _UAPI_LINUX_ATLS_H */
