#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/nginx.sh: Debian's nginx against itself in one VM (tools/vm/vm.sh,
# loopback), one run, the same files and the same client (Debian's wrk):
# nginx's own TLS 1.3, nginx with OpenSSL's kTLS, and plain-HTTP nginx under
# atls-run with wrk under atls-run (policy "unauthenticated", "default" with
# a quote per handshake, "default" batched).  Requests/s with a new
# connection per request, requests/s with keep-alive, MB/s of a large file;
# ratios against nginx's TLS and kTLS (bench/vm-nginx-guest.sh).  Not a test.
# Method and results: Documentation/performance.rst.
#
#   flock /tmp/atls-vm.lock bench/nginx.sh [KVER] [MiB] [seconds] [conc]
#        default: first kernel of scripts/kvers.sh, 8 MiB, 4 s per cell, 4
#
# The numbers are printed at the end and kept in $OUT/vm-nginx-run.tap.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$SRC/build}
kver=${1:-$("$SRC/scripts/kvers.sh" | head -n1)}
mib=${2:-8}
secs=${3:-4}
conc=${4:-4}
out=${TMPDIR:-/tmp}/atls-vm-nginx-$kver
for t in /usr/sbin/nginx wrk; do
	command -v "$t" > /dev/null || { echo "bench/nginx.sh: $t missing: run ./scripts/deps.sh" >&2; exit 2; }
done
make -C "$SRC" --no-print-directory -s "$B/helperd/atlsd" "$B/helperd/atlsctl" \
	"$B/run/atls-run" "$B/run/libatls-run.so" >&2
mkdir -p "$B/bench"
# The runner runs each line of the list as a program: a wrapper passes the
# arguments.
wrap=$B/bench/vm-nginx-run
printf '#!/bin/sh\nexec %s %s %s %s\n' "$SRC/bench/vm-nginx-guest.sh" "$mib" "$secs" "$conc" > "$wrap"
chmod +x "$wrap"
echo "$wrap" > "$B/bench/vm-nginx.list"
# Measured as shipped: without the test VMs' memory-error detection.
ATLS_MEMDBG=${ATLS_MEMDBG:-0} ATLS_TEST_TIMEOUT=${ATLS_TEST_TIMEOUT:-900} \
"$SRC/tools/vm/vm.sh" --kver "$kver" --list "$B/bench/vm-nginx.list" --out "$out" \
	--timeout "${ATLS_BENCH_VM_TIMEOUT:-900}" || true
echo "== $out" >&2
cat "$out"/*.tap 2>/dev/null | grep -v '^ok\|^1\.\.' || true
