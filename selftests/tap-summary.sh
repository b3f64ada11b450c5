#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Sum the TAP files under DIR: print each failure, a line per file, and last
# "N passed, N failed" (+ ", N skipped"). Exit 1 if anything failed or nothing
# ran at all.
#   - "ok N ..." is a pass, "ok N ... # SKIP" a skip, "not ok N ..." a failure;
#   - a plan "1..M" with fewer results than M adds the missing ones as failures
#     (the program died part-way);
#   - a program whose .rc file is non-zero but that printed no "not ok" adds one
#     failure (it crashed, timed out or failed outside a test).
# Before the failures it lists the ten slowest tests among those whose result
# is followed by a "# time Ns" comment (tools/vm/guest-tests.sh adds them).
dir=${1:?usage: tap-summary.sh DIR}
tp=0 tf=0 ts=0
errs=$(mktemp)
trap 'rm -f "$errs"' EXIT
while IFS= read -r f; do
	base=${f%.tap}
	rc=0
	[ -f "$base.rc" ] && rc=$(cat "$base.rc")
	read -r p fl s < <(awk -v rc="$rc" -v name="${f#"$dir"/}" -v errs="$errs" '
		/^ok [0-9]+/ { if ($0 ~ /# [Ss][Kk][Ii][Pp]/) s++; else p++; next }
		/^not ok [0-9]+/ { fl++; print "  FAIL " name ": " $0 >> errs; next }
		/^1\.\.[0-9]+/ { split($0, a, /\.\./); plan = a[2] + 0; next }
		END {
			seen = p + fl + s
			if (plan > seen) { print "  FAIL " name ": " (plan - seen) " planned results missing" >> errs; fl += plan - seen }
			if (rc != 0 && fl == 0) { print "  FAIL " name ": exited " rc " without a failing test" >> errs; fl++ }
			if (seen == 0 && fl == 0) { print "  FAIL " name ": no TAP output" >> errs; fl++ }
			printf "%d %d %d\n", p + 0, fl + 0, s + 0
		}' "$f")
	printf '  %-60s %4d passed %3d failed %3d skipped\n' "${f#"$dir"/}" "$p" "$fl" "$s"
	if [ "$fl" != 0 ] && [ -s "$base.err" ]; then	# the failing program's own words
		tail -n 15 "$base.err" | sed "s|^|  ${f#"$dir"/} stderr: |" >> "$errs"
	fi
	tp=$((tp + p)); tf=$((tf + fl)); ts=$((ts + s))
done < <(find "$dir" -name '*.tap' | sort)
slow=$(find "$dir" -name '*.tap' -exec awk -v d="$dir/" '
	/^(not )?ok [0-9]+/ { r = $0; next }
	/^# time [0-9.]+s$/ && r != "" { t = $3; sub(/s$/, "", t); f = FILENAME
		if (index(f, d) == 1) f = substr(f, length(d) + 1); printf "%7.1fs  %s: %s\n", t, f, r; r = "" }' {} + |
	sort -rn | head -n 10)
[ -z "$slow" ] || printf 'slowest tests:\n%s\n' "$slow"
cat "$errs"
if [ $((tp + tf + ts)) = 0 ]; then
	echo "no test ran"
	tf=1
fi
if [ "$ts" -gt 0 ]; then
	echo "$tp passed, $tf failed, $ts skipped"
else
	echo "$tp passed, $tf failed"
fi
[ "$tf" = 0 ]
