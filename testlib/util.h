/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: the one test-support library of atls (see Documentation/testing.rst).
 * Every name starts with tl_.  One header per concern:
 *   util.h     temporary directories, paths, shell commands, threads, time
 *   net.h      TCP loopback and VM-link sockets, I/O with timeouts
 *   sock.h     the atls socket API (ULP, ATLS_START, status) and its counters
 *   record.h   TLS 1.3 record protection (the one userspace AEAD), fixed keys
 *   genl.h     the genl test helper (a client of family "atls") in a child
 *   trace.h    kernel tracing through tracefs
 *   swtpm.h    a private swtpm and a provisioned attesting side
 *   certs.h    X.509 identities and policy files
 *   peer.h     a plain OpenSSL TLS 1.3 peer; libatls handshakes and exchanges
 *   harness.h  kselftest-harness fixtures and checks
 *   vm.h       the VM suites' set-up: provisioning as an operator, atlsd, barriers
 *   capture.h  what crossed the VM link
 *   adversary.h  OpenSSL servers replaying or forging evidence (libatls/tests)
 *   fuzz.h     seed files of the libFuzzer targets (header-only)
 *
 * Functions return 0 / -errno (or a pointer / NULL) and never abort, so the
 * calling TEST decides how to fail, unless their header says otherwise.
 * Nothing here fakes TLS, the TPM or the kernel.
 *
 * This header: small process-level helpers.
 */
#ifndef TL_UTIL_H
#define TL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdtemp under $TMPDIR (or /tmp); the path is malloc'ed.  rm -rf by tl_rmtree(). */
char *tl_tmpdir(const char *tag);
void tl_rmtree(const char *dir);
/* "dir/name" in a static rotating buffer (valid for 8 further calls). */
const char *tl_path(const char *dir, const char *name);

/* Write @val to @path (appending or truncating): 0 or -errno (-EIO: short). */
int tl_write_file(const char *path, const char *val, bool append);

/*
 * Make the caller's root the root of a mount namespace of its own, as
 * switch_root does.  The VM runs its tests in a chroot of the host's root
 * (tools/vm/init), and the kernel makes no user namespace for a chrooted
 * process (EPERM): a test of a rootless container calls this first, as
 * root, in the process that will make the user namespace.  The tree seen
 * stays the same.  0 or -errno.
 */
int tl_own_root(void);

/* Run a shell command line (sh -c): its exit status, 128 + signal, or -errno. */
int tl_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The first 2*len hex digits of the file's first line into out: 0 or -1. */
int tl_read_hex(const char *path, uint8_t *out, size_t len);
/* The decimal number a file starts with into *v: 0 or -1. */
int tl_read_int(const char *path, int *v);

/* CLOCK_MONOTONIC in milliseconds, microseconds, seconds; this process's
 * CPU time (user + system) in seconds. */
long tl_now_ms(void);
long long tl_now_us(void);
double tl_now_s(void);
double tl_cpu_s(void);

/* Run fn(arg) in a thread; tl_join() returns what fn returned. */
struct tl_thread {
	unsigned long tid;	/* pthread_t */
	int (*fn)(void *arg);
	void *arg;
	int ret;
};
int tl_spawn(struct tl_thread *t, int (*fn)(void *), void *arg);
int tl_join(struct tl_thread *t);

/* Until thread tid of this process sleeps in system call nr (blocked
 * there, not merely about to enter it). 0 or -ETIMEDOUT. */
int tl_wait_in_syscall(pid_t tid, long nr, int timeout_ms);

#endif /* TL_UTIL_H */
