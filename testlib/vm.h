/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: the set-up of the daemon and pair suites (selftests/daemon,
 * selftests/pair): the real atls.ko, the real atlsd and atlsctl, the VM's own
 * TPM, real TCP between two VMs (net.h), the atls socket calls (sock.h).
 *
 * Environment (tools/vm/pair.sh): ATLS_VM_ROLE a|b, ATLS_PEER_ADDR(6),
 * ATLS_XCHG (shared by both VMs), ATLS_BUILD, TMPDIR, ATLS_RESULTS.
 * VM a is the server of every cross-VM test, VM b the client; both run the
 * same program and the tests in the same order, and meet at barriers
 * (files in ATLS_XCHG) and by the client retrying its connect.
 */
#ifndef TL_VM_H
#define TL_VM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TL_PEER_WAIT_MS 150000	/* for the peer VM: TCG is slow */

struct tl_vm_env {
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

extern struct tl_vm_env tl_vm;

/* Provision, exchange AK public keys and PCR digests, start atlsd. 0 or -1
 * with a message on stderr. */
int tl_vm_setup(const char *name);
void tl_vm_teardown(void);

/* atlsd control. */
int tl_atlsd_start(void);
/* The same, dropping to user (atlsd -u). */
int tl_atlsd_start_as(const char *user);
pid_t tl_atlsd_pid(void);
int tl_atlsd_kill(int sig);	/* and wait for it to go */
/* How many requests the daemon is running (control socket), -1 on error. */
int tl_atlsd_active(void);

/*
 * A one-VM daemon suite (selftests/daemon): tl_vm.build from ATLS_BUILD,
 * scratch dir $TMPDIR/NAME, atlsd's log in $ATLS_RESULTS/atlsd-SUFFIX.log,
 * its run dir DIR/run (ATLS_RUN_DIR), the VM's TPM (ATLS_TCTI), quiet tss2
 * logs. 0, or -1 when ATLS_BUILD is missing or the dir cannot be made.
 */
int tl_vm_local_env(const char *name, const char *suffix);

/*
 * The start of a one-VM daemon suite's main(): tl_vm cleared, then setup()
 * (the suite's provisioning).  When that fails: a TAP plan of one failed
 * test "NAME set-up (provisioning) failed" and -1 (main returns 1, the
 * harness does not run).  Otherwise 0, and tl_vm_teardown() runs at exit:
 * no atlsd may outlive the program (later programs test the no-helper case).
 */
int tl_vm_local_begin(const char *name, int (*setup)(void));

/*
 * A one-VM suite's state dir DIR/STATE (DIR: tl_vm.dir) provisioned on the
 * VM's TPM (key mode software, or tpm), trusting itself: atlsctl export to
 * DIR/EXP, then atlsctl trust self.  0, or -1 (atlsctl's errors on stderr).
 */
int tl_vm_self_trusting(const char *state, const char *exp, bool software);

/*
 * atlsd's counter NAME from `atlsctl counters` (its "atlsd:" section, before
 * the kernel's, which has counters of the same names); -1 when absent.
 * tl_atlsd_counter() runs atlsctl (answer kept in DIR/counters.out);
 * tl_atlsd_counter_in_last() reads the last answer again (no new run: all
 * lat_* lines of one answer).
 */
long long tl_atlsd_counter(const char *name);
long long tl_atlsd_counter_in_last(const char *name);

/* Both VMs reach the point called name (first to arrive waits). */
int tl_barrier(const char *name);

/*
 * Fixture fx of a two-VM suite (kselftest harness): each test first
 * checks the suite's set-up flag ok, then meets the peer VM at the barrier
 * "start-<test>", so both VMs start every test together and a test that
 * fails on one side after a long wait does not leave the other side's next
 * tests talking to a peer that is not there yet.
 */
#define TL_PAIR_FIXTURE(fx, ok)						\
	FIXTURE(fx) {};							\
	FIXTURE_SETUP(fx)							\
	{									\
		char tl_start_[200];						\
										\
		ASSERT_TRUE(ok) TH_LOG("set-up failed (provisioning, key exchange or atlsd)"); \
		snprintf(tl_start_, sizeof(tl_start_), "start-%s", _metadata->name); \
		ASSERT_EQ(0, tl_barrier(tl_start_))				\
			TH_LOG("the peer VM did not reach %s", _metadata->name);	\
	}									\
	FIXTURE_TEARDOWN(fx) {}

#endif /* TL_VM_H */
