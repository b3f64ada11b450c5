#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/vm-bulk.sh: the in-VM benchmarks through the lead's VM runner
# (tools/vm/vm.sh), one kernel: crypto facts and atls_aead (raw AES-GCM,
# OpenSSL vs the kernel's gcm(aes)), atls_bulk (kTLS with libatls keys vs
# userspace OpenSSL vs sendfile, loopback) as booted and after preloading
# aesni_intel, and atls_e2e (atls.ko + atlsd handshakes with a quote per
# handshake and batched, atls-socket bulk and sendfile, memory per attested
# socket), all against OpenSSL in the same VM (bench/vm-guest.sh).  Not a
# test.  Method and results: Documentation/performance.rst.
#
#   bench/vm-bulk.sh [KVER] [MiB] [seconds] [hs]
#        default: first kernel of scripts/kvers.sh, 4 MiB, 5 s per cell;
#        "hs": the handshake cells alone, one atlsd per (policy, concurrency)
#        with that cell's TPM commands per request (vm-guest.sh); with
#        ATLS_BENCH_ATLSD_B= another atlsd binary, each batched cell with
#        that one and this build's in turn, ATLS_BENCH_ROUNDS (default 2)
#        times, in the same VM run
#        "hs-binding": the same for policy none, the handshake binder and
#        the exporter binding (batched, mutual), with a table of ratios
#        "phases": policy none alone, the phase accounting of issue 17
#        (c=1 and c=64 cells, then a c=1 cell traced through tracefs and
#        read by bench/phases.awk; vm-guest.sh); with ATLS_BENCH_ATLSD_B=
#        another atlsd binary (e.g. main's), each cell with that one and
#        with this build's in turn, in the same VM run; ATLS_BENCH_PHASES_C
#        (concurrencies, default "1 64") and ATLS_BENCH_ROUNDS (default 2)
#
# The numbers are printed at the end and kept in $OUT/vm-bulk-run.tap.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$SRC/build}
kver=${1:-$("$SRC/scripts/kvers.sh" | head -n1)}
mib=${2:-4}
secs=${3:-5}
only_hs=${4:-}
case "$only_hs" in ""|hs|hs-binding|phases) ;; *) echo "vm-bulk.sh: unknown mode $only_hs" >&2; exit 2 ;; esac
out=${TMPDIR:-/tmp}/atls-vm-bulk-$kver${only_hs:+-$only_hs}
make -C "$SRC" --no-print-directory -s "$B/bench/atls_bulk" "$B/bench/atls_e2e" "$B/bench/atls_aead" \
	"$B/helperd/atlsd" "$B/helperd/atlsctl" >&2
mkdir -p "$B/bench"
# The runner runs each line of the list as a program: a wrapper passes MiB.
# The other atlsd goes into the build directory: the guest sees $SRC and $B
# only (vm.sh), not the rest of the host's /tmp.
wrap=$B/bench/vm-bulk-run
alt=
if [ -n "${ATLS_BENCH_ATLSD_B:-}" ]; then
	alt=$B/bench/before/atlsd	# same name: same comm in the trace
	mkdir -p "$B/bench/before"
	cp "$ATLS_BENCH_ATLSD_B" "$alt"
fi
printf '#!/bin/sh\nATLS_BENCH_ATLSD_B=%s ATLS_BENCH_PHASES_C="%s" ATLS_BENCH_ROUNDS=%s exec %s %s %s %s\n' \
	"$alt" "${ATLS_BENCH_PHASES_C:-1 64}" "${ATLS_BENCH_ROUNDS:-2}" \
	"$SRC/bench/vm-guest.sh" "$mib" "$secs" "$only_hs" > "$wrap"
chmod +x "$wrap"
echo "$wrap" > "$B/bench/vm-bulk.list"
# Measured as shipped: without the memory-error detection the test VMs
# boot with (tools/vm/memdbg.sh; SLUB debugging alone slows the allocator).
ATLS_MEMDBG=${ATLS_MEMDBG:-0} ATLS_TEST_TIMEOUT=$((${ATLS_BENCH_VM_TIMEOUT:-900} - 60)) \
"$SRC/tools/vm/vm.sh" --kver "$kver" --list "$B/bench/vm-bulk.list" --out "$out" \
	--timeout "${ATLS_BENCH_VM_TIMEOUT:-900}" || true
echo "== $out" >&2
cat "$out"/*.tap 2>/dev/null | grep -v '^ok\|^1\.\.' || true
