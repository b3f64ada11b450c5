/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the end-to-end tests (selftests/daemon, selftests/pair): the real atls.ko, the
 * real atlsd and atlsctl, the VM's own swtpm, real TCP between two VMs.
 *
 * Environment (tools/vm/pair.sh): ATLS_VM_ROLE a|b, ATLS_PEER_ADDR(6),
 * ATLS_XCHG (shared by both VMs), ATLS_BUILD, TMPDIR, ATLS_RESULTS.
 * VM a is the server of every cross-VM test, VM b the client; both run the
 * same program and the tests in the same order, and meet at barriers
 * (files in ATLS_XCHG) and by the client retrying its connect.
 */
#ifndef ATLS_E2E_H
#define ATLS_E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "uapi/linux/atls.h"

#define E2E_WAIT_MS 150000	/* for the peer VM: TCG is slow */

struct e2e_env {
	char role;		/* 'a' (server) or 'b' (client) */
	char peer_role;
	const char *peer4, *peer6, *xchg, *build;
	char dir[256];		/* our scratch dir: state, run, config */
	char conf[300];
	char log[300];
	uint8_t peer_ak_sha256[32];	/* computed here from the peer's ak.pem */
	uint8_t peer_pcr_digest[32];	/* the peer's own reading of its PCRs 0-7 */
	const char *workers;		/* atlsd -w; NULL: "16" */
};

extern struct e2e_env e2e;

/* Provision, exchange AK public keys and PCR digests, start atlsd. 0 or -1
 * with a message on stderr. */
int e2e_setup(const char *name);
void e2e_teardown(void);

/* atlsd control. */
int e2e_atlsd_start(void);
/* The same, dropping to user (atlsd -u). */
int e2e_atlsd_start_as(const char *user);
pid_t e2e_atlsd_pid(void);
int e2e_atlsd_kill(int sig);	/* and wait for it to go */
/* How many requests the daemon is running (control socket), -1 on error. */
int e2e_atlsd_active(void);

/* Both VMs reach the point called name (first to arrive waits). */
int e2e_barrier(const char *name);

/* Sockets. */
int e2e_listen(int port);			/* dual-stack, any address */
int e2e_accept(int l, int ms);
int e2e_connect(const char *addr, int port, int ms);	/* retries while refused */

/* The two setsockopts; returns 0 or the errno of ATLS_START. */
int e2e_atls(int fd, int role, const char *policy, unsigned int flags);
int e2e_status(int fd, struct atls_status *st);
int e2e_peer_info(int fd, struct atls_peer_info *pi);

int e2e_send_all(int fd, const void *buf, size_t len);
int e2e_recv_all(int fd, void *buf, size_t len, int ms);

int e2e_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int e2e_read_hex(const char *path, uint8_t *out, size_t len);



/*
 * Capture of the TCP payload of one port on the VM link (AF_PACKET on all
 * interfaces but lo), per direction, to prove what crossed the wire.
 */
struct e2e_capture {
	int fd, port;
	unsigned long th;	/* pthread_t */
	volatile int stop;
	unsigned char *buf[2];	/* [0] to port, [1] from port */
	size_t len[2], cap[2];
};
int e2e_capture_start(struct e2e_capture *c, int port);
void e2e_capture_stop(struct e2e_capture *c);
/* Does needle appear in either direction? */
bool e2e_capture_has(const struct e2e_capture *c, const void *needle, size_t n);
void e2e_capture_free(struct e2e_capture *c);
#endif /* ATLS_E2E_H */
