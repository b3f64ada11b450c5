#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# Run every libFuzzer target built next to this script for a short time and
# report TAP (one test per target), so `make check` exercises them briefly.
# ATLS_FUZZ_SECONDS (default 6) sets the time per target, ATLS_FUZZ_JOBS
# (default: the number of CPUs) how many targets run at once (each target is
# one process; `make check` must stay under 15 minutes on 2 cores); longer
# runs: Documentation/evidence.rst ("Fuzzing").  Each target starts from the
# seeds it writes itself (ATLS_FUZZ_SEED_DIR) in a scratch corpus directory.
dir=$(cd "$(dirname "$0")" && pwd)
secs=${ATLS_FUZZ_SECONDS:-6}
jobs=${ATLS_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
targets=$(ls "$dir"/fuzz_* 2>/dev/null | grep -v '/fuzz_check$')
n=$(printf '%s\n' $targets | grep -c .)
work=$(mktemp -d "${TMPDIR:-/tmp}/atls-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# One target; its TAP lines (without the number) in $work/NAME/tap.
fuzz_one() {	# TARGET
	name=$(basename "$1")
	mkdir -p "$work/$name/corpus"
	if ATLS_FUZZ_SEED_DIR="$work/$name/corpus" ASAN_OPTIONS=detect_leaks=1 \
	   "$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
		-artifact_prefix="$work/$name/" "$work/$name/corpus" \
		>"$work/$name/log" 2>&1; then
		runs=$(grep -o 'Done [0-9]* runs' "$work/$name/log" | tail -n1)
		{ echo "# $name: ${runs:-no summary} in ${secs}s"; echo "ok"; } > "$work/$name/tap"
	else
		{
			tail -n 40 "$work/$name/log" | sed 's/^/# /'
			for a in "$work/$name"/crash-* "$work/$name"/leak-* "$work/$name"/timeout-*; do
				[ -f "$a" ] && echo "# artifact: $(od -An -tx1 "$a" | head -n 8 | tr -d '\n')"
			done
			echo "not ok"
		} > "$work/$name/tap"
	fi
}

# $jobs targets at a time, each group waited for as a whole.
running=0
for t in $targets; do
	fuzz_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait

echo "TAP version 13"
echo "1..$n"
i=0
for t in $targets; do
	i=$((i + 1))
	name=$(basename "$t")
	if [ -f "$work/$name/tap" ]; then
		sed '$d' "$work/$name/tap"
		echo "$(tail -n 1 "$work/$name/tap") $i $name"
	else
		echo "not ok $i $name # no result"
	fi
done
