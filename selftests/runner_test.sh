#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test runner's own verdict logic, on crafted inputs (TAP, on the host):
# the TAP summary (passes, skips, failures, missing results, crashes, silence)
# and the kernel log scan (a WARN_ON splat, a BUG, a clean log, no log, and
# each report of the VMs' memory-error detection).
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
echo "1..21"
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

# The reports of the memory-error detection the VMs boot with
# (tools/vm/memdbg.sh), as the test kernels print them.
printf '[    2.0] mem auto-init: CONFIG_PAGE_POISONING is on, will take precedence over init_on_alloc and init_on_free\n[    2.0] kfence: initialized - using 2097152 bytes for 255 objects at 0x(____ptrval____)-0x(____ptrval____)\n[    9.1] atls_plant: planting '"'"'none'"'"'\n' > "$tmp/memdbg.log"
check "memory-error detection's boot lines are clean" "" 0 "$scan" "$tmp/memdbg.log"
printf '[    9.2] =============================================================================\n[    9.2] BUG atls_plant (Tainted: G           O      ): Right Redzone overwritten\n' > "$tmp/slub61.log"
check "SLUB red zone report (6.1) fails" "" 1 "$scan" "$tmp/slub61.log"
printf '[    9.2] [Poison overwritten] 0x000000009b8e5c3a-0x000000009b8e5c3a @offset=24. First byte 0x42 instead of 0x6b\n' > "$tmp/slub612.log"
check "SLUB poison report (6.12) fails" "" 1 "$scan" "$tmp/slub612.log"
printf '[    9.3] FIX atls_plant: Object at 0x00000000a1b2c3d4 not freed\n' > "$tmp/slubfix.log"
check "SLUB repair line fails" "" 1 "$scan" "$tmp/slubfix.log"
printf '[    9.4] BUG: KFENCE: use-after-free read in plant_kfence+0x6e/0xd0 [atls_plant]\n' > "$tmp/kfence.log"
check "KFENCE report fails" "" 1 "$scan" "$tmp/kfence.log"
printf '[    9.5] list_del corruption. next->prev should be ffffb5a3c0013d40, but was ffffb5a3c0013d50. (next=ffffb5a3c0013d50)\n[    9.5] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI\n' > "$tmp/list.log"
check "list corruption and its BUG fail" "" 1 "$scan" "$tmp/list.log"
printf '[    9.6] Kernel panic - not syncing: kernel: panic_on_warn set ...\n' > "$tmp/pow.log"
check "panic_on_warn's panic fails" "" 1 "$scan" "$tmp/pow.log"
printf '[    9.7] pagealloc: memory corruption\n' > "$tmp/pagepoison.log"
check "page poisoning report fails" "" 1 "$scan" "$tmp/pagepoison.log"
printf '[   30.0] rcu: INFO: rcu_preempt self-detected stall on CPU\n' > "$tmp/stall.log"
check "RCU stall (preemptible RCU) fails" "" 1 "$scan" "$tmp/stall.log"
# A guest that panicked saved no dmesg: the serial console's report decides.
check "no dmesg but a report on the console fails with the report" "" 1 \
	"$scan" "$tmp/nonexistent.log" "$tmp/kfence.log"
exit $((failed > 0))
