#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs inside the test VM (listed by bench/vm-bulk.sh): atls_bulk (kTLS with
# libatls keys vs OpenSSL vs sendfile), then provisions this VM's TPM for
# atlsd (software key mode, trusting itself), starts atlsd and runs atls_e2e
# (handshakes through atls.ko + atlsd, atls-socket bulk, memory per socket).
# Prints TAP: one line per program.  Arguments: MiB seconds.
set -u
mib=${1:-4}
secs=${2:-5}
b=$ATLS_BUILD
d=$TMPDIR/bench-e2e
rm -rf "$d"
mkdir -p "$d/run"
echo "TAP version 13"
echo "1..2"
"$b/bench/atls_bulk" "$mib" | grep -v '^TAP\|^1\.\.\|^ok\|^not ok'
echo "ok 1 atls_bulk"

export ATLS_STATE_DIR=$d/state ATLS_RUN_DIR=$d/run ATLS_TCTI=device:/dev/tpmrm0 TSS2_LOG=all+none
if ! { "$b/helperd/atlsctl" provision --software &&
       "$b/helperd/atlsctl" export "$d/exp" &&
       "$b/helperd/atlsctl" trust self "$d/exp"; } > "$d/provision.log" 2>&1; then
	sed 's/^/# /' "$d/provision.log"
	echo "not ok 2 atls_e2e (provisioning)"
	exit 1
fi
printf 'key-mode = "software";\n' > "$d/atlsd.conf"
"$b/helperd/atlsd" -c "$d/atlsd.conf" -w 16 > "$ATLS_RESULTS/bench-atlsd.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$d/run/atlsd.sock" ] && break; sleep 0.1; done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench -keyout "$d/plain.key" -out "$d/plain.pem" > /dev/null 2>&1
"$b/bench/atls_e2e" "$d/plain.pem" "$d/plain.key" "$secs" "$mib" | grep -v '^TAP\|^1\.\.\|^ok\|^not ok'
rc=${PIPESTATUS[0]}
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$rc" = 0 ] && echo "ok 2 atls_e2e" || echo "not ok 2 atls_e2e"
