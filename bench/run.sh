#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# bench/run.sh: build and run the host handshake benchmark (atls_bench)
# against a private swtpm.  Not a pass/fail test.  Default run: concurrency
# 1, 16, 64 x {plain, sw, tpm, sw-batch, tpm-batch}, 2 rounds x 1 s per cell,
# well under two minutes.  Arguments go to atls_bench, e.g.
#
#   bench/run.sh                         # default table
#   bench/run.sh -c 64 -m plain,sw-batch -w 20000 -b 64 -r 3
#   bench/run.sh -t 3 -r 3               # longer, less noisy
#
# Method and results: Documentation/performance.rst.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$SRC/build}
make -C "$SRC" --no-print-directory -s "$B/bench/atls_bench" >&2
# A stuck cell must not hang a terminal forever.
exec timeout "${ATLS_BENCH_TIMEOUT:-600}" "$B/bench/atls_bench" "$@"
