#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/vm-bulk.sh: run atls_bulk (kTLS with libatls keys vs userspace
# OpenSSL vs sendfile, loopback) inside the test VM of one kernel, through
# the lead's VM runner (selftests/vm/vm.sh).  Not a pass/fail test.
#
#   bench/vm-bulk.sh [KVER] [MiB]     default: first kernel of scripts/kvers.sh, 4 MiB
#
# The numbers are in $OUT/atls_bulk.tap (OUT printed at the end).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$SRC/build}
kver=${1:-$("$SRC/scripts/kvers.sh" | head -n1)}
mib=${2:-4}
out=${TMPDIR:-/tmp}/atls-vm-bulk-$kver
make -C "$SRC" --no-print-directory -s "$B/bench/atls_bulk" >&2
mkdir -p "$B/bench"
# The runner runs each line of the list as a program: a wrapper passes MiB.
wrap=$B/bench/vm-bulk-run
printf '#!/bin/sh\nexec %s %s\n' "$B/bench/atls_bulk" "$mib" > "$wrap"
chmod +x "$wrap"
echo "$wrap" > "$B/bench/vm-bulk.list"
"$SRC/selftests/vm/vm.sh" --kver "$kver" --list "$B/bench/vm-bulk.list" --out "$out" \
	--timeout "${ATLS_BENCH_VM_TIMEOUT:-900}" || true
echo "== $out" >&2
cat "$out"/*.tap 2>/dev/null | grep -v '^ok\|^1\.\.' || true
