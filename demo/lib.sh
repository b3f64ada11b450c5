#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# What both demos do inside each of the two VMs (sourced by demo/guest.sh
# and demo/guest-nginx.sh): the transcript and TAP helpers, then what an
# operator does on every host before any application runs:
#   1. atlsctl provision            AK + TLS key in the TPM, certificate
#   2. atlsctl export / trust       AK public key + PCR digest copied to the
#                                   other host (the shared ATLS_XCHG dir)
#   3. atlsd                        the helper daemon
# demo_finish shows the counters and atlsd's log, ends the TAP and exits.
# The transcript goes to $ATLS_RESULTS/demo.log (shown by demo.sh on the
# host); stdout is TAP for the runner.
role=$ATLS_VM_ROLE
peer=$([ "$role" = a ] && echo b || echo a)
B=$ATLS_BUILD
X=$ATLS_XCHG
log=$ATLS_RESULTS/demo.log
export ATLS_STATE_DIR=$TMPDIR/atls-state ATLS_RUN_DIR=$TMPDIR/atls-run
export ATLS_TCTI=device:/dev/tpmrm0 TSS2_LOG=all+none
n=0
fails=0
: > "$log"

say() { echo "$*" >> "$log"; }
step() {	# step "description" cmd...: the command in the transcript, then check
	local d=$1; shift
	say ""
	say "\$ $*"
	check "$d" "$@"
}
check() {	# check "description" cmd...: a TAP line, the transcript only on failure
	local d=$1; shift
	n=$((n + 1))
	if "$@" >> "$log" 2>&1; then
		echo "ok $n $d"
	else
		echo "not ok $n $d"
		say "   (failed: $d)"
		fails=$((fails + 1))
	fi
}
wait_for() {	# wait_for FILE SECONDS
	for _ in $(seq $(($2 * 10))); do [ -e "$1" ] && return 0; sleep 0.1; done
	say "timed out waiting for $1"
	return 1
}

demo_setup() {	# TITLE-A TITLE-B: the host's heading, provisioning, trust, atlsd
	if [ "$role" = a ]; then
		say "### VM a: $1 $ATLS_ADDR (kernel $(uname -r)), its own TPM"
	else
		say "### VM b: $2 $ATLS_ADDR (kernel $(uname -r)), its own TPM"
	fi
	step "provision the TPM" "$B/helperd/atlsctl" provision --cn "demo-$role"
	step "export AK public key and PCR digest" "$B/helperd/atlsctl" export "$X/$role"
	wait_for "$X/$peer/pcr-digest" 90 && sleep 0.3
	step "trust the peer host's AK and PCRs" "$B/helperd/atlsctl" trust "demo-$peer" "$X/$peer"

	"$B/helperd/atlsd" > "$ATLS_RESULTS/atlsd.log" 2>&1 &
	atlsd=$!
	for _ in $(seq 600); do	# start-up checks the TPM: slow under emulation
		"$B/helperd/atlsctl" status > /dev/null 2>&1 && break
		kill -0 "$atlsd" 2>/dev/null || break
		sleep 0.1
	done
	say ""
	say "\$ atlsd &"
	if "$B/helperd/atlsctl" status > /dev/null; then
		n=$((n + 1)); echo "ok $n atlsd running"
		say "atlsd running (pid $atlsd): $(head -n 1 "$ATLS_RESULTS/atlsd.log" | sed 's/.*info: //')"
	else
		n=$((n + 1)); echo "not ok $n atlsd running"; fails=$((fails + 1))
		cat "$ATLS_RESULTS/atlsd.log" >> "$log"
	fi
}

demo_finish() {	# [EXTRA-COUNTERS-RE]: counters, atlsd's log, the TAP plan; exits
	say ""
	say "### counters (atlsctl counters, abridged)"
	"$B/helperd/atlsctl" counters > "$TMPDIR/counters" 2>&1
	grep -E "^(atlsd:|kernel:|accepted|succeeded|failed|requests|ready|timeouts|reason_${1:+|$1})" "$TMPDIR/counters" |
		sed 's/^reason_13 /reason_13 (pcr-mismatch) /; s/^reason_8 /reason_8 (peer-aborted) /; s/^reason_1 /reason_1 (ok) /' > "$TMPDIR/counters.short"
	cat "$TMPDIR/counters.short" >> "$log"
	kill "$atlsd" 2>/dev/null
	wait "$atlsd" 2>/dev/null
	say ""
	say "### atlsd log"
	cat "$ATLS_RESULTS/atlsd.log" >> "$log"
	echo "1..$n"
	exit "$fails"
}
