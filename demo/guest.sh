#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The demo, inside one of the two VMs (run by tools/vm/guest-tests.sh,
# started by demo/demo.sh through tools/vm/pair.sh). VM a is the server
# host, VM b the client host; each has its own TPM (swtpm) and kernel with
# atls.ko loaded. What an operator would do, step by step:
#   1-3. provision, exchange and trust, atlsd   (demo/lib.sh)
#   4. atls-echo                    mutual attestation, message + sendfile
#   5. a PCR of the server changes  the client refuses the next connection
# The transcript goes to $ATLS_RESULTS/demo.log (shown by demo.sh on the
# host); stdout is TAP for the runner.
set -u
# shellcheck source=demo/lib.sh
. "$(dirname "$0")/lib.sh"

demo_setup "server host" "client host"

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

demo_finish
