#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test runner's own verdict logic, on crafted inputs (TAP, on the host):
# the TAP summary (passes, skips, failures, missing results, crashes, silence)
# and the kernel log scan (a WARN_ON splat, a BUG, a clean log, no log).
# The VM runner itself is exercised by every VM suite; these are the cases a
# real run rarely produces on purpose.
set -u
here=$(cd "$(dirname "$0")" && pwd)
sum=$here/tap-summary.sh
scan=$here/../tools/vm/kmsg-scan.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
check() {	# NAME EXPECTED-LAST-LINE EXPECTED-RC CMD...
	local name=$1 want=$2 want_rc=$3 out rc last
	shift 3
	n=$((n + 1))
	out=$("$@" 2>&1); rc=$?
	last=$(printf '%s\n' "$out" | tail -n 1)
	if [ "$rc" = "$want_rc" ] && { [ -z "$want" ] || [ "$last" = "$want" ]; }; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		echo "# want rc $want_rc, last line '$want'; got rc $rc:"
		printf '%s\n' "$out" | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
}
mk() { mkdir -p "$tmp/$1"; printf "$2" > "$tmp/$1/t.tap"; [ -z "${3:-}" ] || echo "$3" > "$tmp/$1/t.rc"; }

echo "TAP version 13"
echo "1..11"
mk pass '1..2\nok 1 a\nok 2 b\n' 0
check "all pass" "2 passed, 0 failed" 0 "$sum" "$tmp/pass"
mk fail '1..2\nok 1 a\nnot ok 2 b\n' 1
check "a failure fails" "1 passed, 1 failed" 1 "$sum" "$tmp/fail"
mk skip '1..2\nok 1 a\nok 2 b # SKIP why\n' 0
check "skips are counted apart" "1 passed, 0 failed, 1 skipped" 0 "$sum" "$tmp/skip"
mk short '1..3\nok 1 a\n' 139
check "missing planned results fail" "1 passed, 2 failed" 1 "$sum" "$tmp/short"
mk crash 'ok 1 a\n' 134
check "non-zero exit without a failure fails" "1 passed, 1 failed" 1 "$sum" "$tmp/crash"
mk silent '' 0
check "no output fails" "0 passed, 1 failed" 1 "$sum" "$tmp/silent"
mkdir -p "$tmp/none"
check "no test at all fails" "0 passed, 1 failed" 1 "$sum" "$tmp/none"

printf '[    3.1] atls: version v1 loaded\n[    3.2] tls: loaded\n' > "$tmp/clean.log"
check "clean kernel log" "" 0 "$scan" "$tmp/clean.log"
printf '[    3.1] ------------[ cut here ]------------\n[    3.1] WARNING: CPU: 1 PID: 77 at kmod/main.c:20 atls_init+0x10/0x20 [atls]\n' > "$tmp/warn.log"
check "WARN_ON splat fails" "" 1 "$scan" "$tmp/clean.log" "$tmp/warn.log"
printf '[    4.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n' > "$tmp/bug.log"
check "BUG fails" "" 1 "$scan" "$tmp/bug.log"
check "a missing kernel log is not clean" "" 2 "$scan" "$tmp/clean.log" "$tmp/nonexistent.log"
exit $((failed > 0))
