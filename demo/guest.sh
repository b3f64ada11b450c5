#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The demo, inside one of the two VMs (run by tools/vm/guest-tests.sh,
# started by demo/demo.sh through tools/vm/pair.sh). VM a is the server
# host, VM b the client host; each has its own TPM (swtpm) and kernel with
# atls.ko loaded. What an operator would do, step by step:
#   1. atlsctl provision            AK + TLS key in the TPM, certificate
#   2. atlsctl export / trust       AK public key + PCR digest copied to the
#                                   other host (the shared ATLS_XCHG dir)
#   3. atlsd                        the helper daemon
#   4. atls-echo                    mutual attestation, message + sendfile
#   5. a PCR of the server changes  the client refuses the next connection
# The transcript goes to $ATLS_RESULTS/demo.log (shown by demo.sh on the
# host); stdout is TAP for the runner.
set -u
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
step() {	# step "description" cmd...: run, transcript, TAP line
	local d=$1; shift
	n=$((n + 1))
	say ""
	say "\$ $*"
	if "$@" >> "$log" 2>&1; then
		echo "ok $n $d"
	else
		echo "not ok $n $d"
		say "   (failed: $d)"
		fails=$((fails + 1))
	fi
}
wait_for() {	# wait_for FILE SECONDS
	local i
	for i in $(seq $(($2 * 10))); do [ -e "$1" ] && return 0; sleep 0.1; done
	say "timed out waiting for $1"
	return 1
}

if [ "$role" = a ]; then
	say "### VM a: server host $ATLS_ADDR (kernel $(uname -r)), its own TPM"
else
	say "### VM b: client host $ATLS_ADDR (kernel $(uname -r)), its own TPM"
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

if [ "$role" = a ]; then
	# Three connections: a message, a sendfile, and the one after the PCR change.
	"$B/examples/atls-echo" server -n 3 -t "server: " > "$TMPDIR/server.out" 2>&1 &
	srv=$!
	sleep 0.5
	touch "$X/a.listening"
	wait_for "$X/b.sent" 90
	n=$((n + 1)); echo "ok $n two attested connections served"
	say ""
	say "### the server host's measured state changes: PCR 7 extended"
	step "extend PCR 7" tpm2_pcrextend "7:sha256=$(printf 'demo: new boot policy' | sha256sum | cut -d' ' -f1)"
	touch "$X/a.pcr-changed"
	wait_for "$X/b.done" 90
	sleep 0.5
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	say ""
	say "### atls-echo server output"
	cat "$TMPDIR/server.out" >> "$log"
else
	wait_for "$X/a.listening" 90
	head -c 262144 /dev/urandom > "$TMPDIR/file.bin"
	step "echo a message over a mutually attested connection" \
		"$B/examples/atls-echo" client -t "client: " -m "hello from VM b, over kTLS" "$ATLS_PEER_ADDR"
	step "sendfile 256 KiB and check the echo" \
		"$B/examples/atls-echo" client -t "client: " -f "$TMPDIR/file.bin" "$ATLS_PEER_ADDR"
	touch "$X/b.sent"
	wait_for "$X/a.pcr-changed" 90
	say ""
	say "### after the server's PCR 7 changed, connect again: the client's policy refuses it"
	n=$((n + 1))
	say "\$ atls-echo client $ATLS_PEER_ADDR"
	if "$B/examples/atls-echo" client -t "client: " "$ATLS_PEER_ADDR" >> "$log" 2>&1; then
		echo "not ok $n connection refused after the PCR change"
		say "   (UNEXPECTED: the connection was accepted)"
		fails=$((fails + 1))
	else
		echo "ok $n connection refused after the PCR change"
	fi
	touch "$X/b.done"
fi

say ""
say "### counters (atlsctl counters, abridged)"
"$B/helperd/atlsctl" counters > "$TMPDIR/counters" 2>&1
grep -E '^(atlsd:|kernel:|accepted|succeeded|failed|requests|ready|timeouts|reason_)' "$TMPDIR/counters" |
	sed 's/^reason_13 /reason_13 (pcr-mismatch) /; s/^reason_8 /reason_8 (peer-aborted) /; s/^reason_1 /reason_1 (ok) /' > "$TMPDIR/counters.short"
cat "$TMPDIR/counters.short" >> "$log"
kill "$atlsd" 2>/dev/null
wait "$atlsd" 2>/dev/null
say ""
say "### atlsd log"
cat "$ATLS_RESULTS/atlsd.log" >> "$log"
echo "1..$n"
exit "$fails"
