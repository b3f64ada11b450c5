#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Run every libFuzzer target built next to this script for a short time and
# report TAP (one test per target), so `make check` exercises them briefly.
# ATLS_FUZZ_SECONDS (default 10) sets the time per target; longer runs:
# Documentation/protocol.rst ("Fuzzing").  Each target starts from the seeds
# it writes itself (ATLS_FUZZ_SEED_DIR) in a scratch corpus directory.
dir=$(cd "$(dirname "$0")" && pwd)
secs=${ATLS_FUZZ_SECONDS:-10}
targets=$(ls "$dir"/fuzz_* 2>/dev/null | grep -v '/fuzz_check$')
n=$(printf '%s\n' $targets | grep -c .)
work=$(mktemp -d "${TMPDIR:-/tmp}/atls-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

echo "TAP version 13"
echo "1..$n"
i=0
for t in $targets; do
	i=$((i + 1))
	name=$(basename "$t")
	mkdir -p "$work/$name/corpus"
	if ATLS_FUZZ_SEED_DIR="$work/$name/corpus" ASAN_OPTIONS=detect_leaks=1 \
	   "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-artifact_prefix="$work/$name/" "$work/$name/corpus" \
		>"$work/$name/log" 2>&1; then
		runs=$(grep -o 'Done [0-9]* runs' "$work/$name/log" | tail -n1)
		echo "# $name: ${runs:-no summary} in ${secs}s"
		echo "ok $i $name"
	else
		tail -n 40 "$work/$name/log" | sed 's/^/# /'
		for a in "$work/$name"/crash-* "$work/$name"/leak-* "$work/$name"/timeout-*; do
			[ -f "$a" ] && echo "# artifact: $(od -An -tx1 "$a" | head -n 8 | tr -d '\n')"
		done
		echo "not ok $i $name"
	fi
done
