#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The memory-error detection of the test VMs, shown to work (TAP): one short
# boot of one kernel, as every VM of `make check` is booted
# (tools/vm/memdbg.sh), running selftests/kernel/plant/plant-guest.sh, which
# loads the test-only module atls_plant.ko and commits memory errors on
# purpose, one at a time, saving the kernel log after each:
#   none          correct use: the kernel log must stay clean
#   redzone       one byte written past an object  -> "Redzone overwritten"
#   double-free   an object freed twice            -> "Object already free"
#   uaf-write     a freed object written to        -> "Poison overwritten"
#   kfence        a freed KFENCE object read (kernels with KFENCE)
#                                  -> "BUG: KFENCE: use-after-free read"
#   list          (kernels without KFENCE) list_del with a corrupted
#                 neighbour -> "list_del corruption", "kernel BUG at"
# The last one ends the guest (panic_on_warn=1, or BUG_ON_DATA_CORRUPTION):
# the run must then be a failure for the runner, by the same kernel-log scan
# selftests/run.sh applies to every VM (tools/vm/kmsg-scan.sh on dmesg.txt and
# serial.log). (From 6.12 on a SLUB report is a WARN too, so the guest lowers
# panic_on_warn for the SLUB kinds only: see plant-guest.sh.)
#
# Run by selftests/run.sh in its VM part (it boots a VM: the VM lock applies).
# usage: memdbg_test.sh OUTDIR
# The kernel: ATLS_PLANT_KVER, else the first of KVERS whose config has
# CONFIG_KFENCE=y, else the first of KVERS.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${SRC:=$(cd "$here/.." && pwd)}" "${B:=$SRC/build}"
export SRC B
out=${1:?usage: memdbg_test.sh OUTDIR}
scan=$SRC/tools/vm/kmsg-scan.sh
KVERS=${KVERS:-$("$SRC/scripts/kvers.sh")}

kver=${ATLS_PLANT_KVER:-}
if [ -z "$kver" ]; then
	for k in $KVERS; do
		if ATLS_MEMDBG=1 "$SRC/tools/vm/memdbg.sh" --summary "$k" 2>/dev/null |
		   grep -q 'KFENCE every'; then
			kver=$k; break
		fi
	done
	kver=${kver:-$(echo "$KVERS" | awk '{ print $1; exit }')}
fi

n=0 failed=0
ok() {		# COND-RC NAME [DIAGNOSTIC...]
	local rc=$1 name=$2
	shift 2
	n=$((n + 1))
	if [ "$rc" = 0 ]; then
		echo "ok $n $name"
	else
		echo "not ok $n $name"
		failed=$((failed + 1))
	fi
	[ $# -eq 0 ] || printf '%s\n' "$@" | sed 's/^/# /'
}

echo "TAP version 13"
if [ -z "$kver" ]; then
	echo "1..1"
	echo "ok 1 planted memory errors # SKIP no kernel"
	exit 0
fi
echo "1..7"
mkdir -p "$out"
echo "$SRC/selftests/kernel/plant/plant-guest.sh" > "$out/plant.list"
dir=$out/vm
ATLS_MEMDBG=1 "$SRC/tools/vm/vm.sh" --kver "$kver" --list "$out/plant.list" --out "$dir" --timeout 300 \
	> "$out/vm.out" 2>&1
if [ "$(cat "$dir/vm.status" 2>/dev/null)" = boot-hang ]; then
	# Stuck before /init (an emulation hiccup, see run.sh): once more.
	ATLS_MEMDBG=1 "$SRC/tools/vm/vm.sh" --kver "$kver" --list "$out/plant.list" --out "$dir" --timeout 300 \
		> "$out/vm.out" 2>&1
fi
echo "# $kver: memory-error detection: $(cat "$dir/memdbg.txt" 2>/dev/null)"
echo "# $kver: guest $(cat "$dir/vm.status" 2>/dev/null) in $(cat "$dir/vm.seconds" 2>/dev/null)s; plants: $(tr '\n' ' ' < "$dir/plants.done" 2>/dev/null)"

grep -q '^ok .*memory-error detection as booted' "$dir/vm-setup.tap" 2>/dev/null
ok $? "$kver: the guest booted with the options asked for (memdbg.sh --verify)" \
	"$(grep 'memory-error detection' "$dir/vm-setup.tap" 2>/dev/null)"

# The kernel log a step added (the dumps are cumulative).
prev=0
delta() {	# KIND: print the lines plant-KIND.dmesg added to the previous dump
	local f=$dir/plant-$1.dmesg lines
	lines=$(wc -l < "$f")
	[ "$lines" -ge "$prev" ] || prev=0	# the ring buffer wrapped
	tail -n +$((prev + 1)) "$f"
	prev=$lines
}

f=$dir/plant-none.dmesg
if [ -s "$f" ]; then
	delta none > "$out/none.log"
	bad=$("$scan" "$f" 2>&1)
	ok $? "$kver: correct use of the same objects leaves the kernel log clean" "$bad"
else
	ok 1 "$kver: correct use of the same objects leaves the kernel log clean" "no dump: the guest stopped before"
fi

# Survivable errors: each step's new log lines must hold its report, and
# the runner's scan must flag them.
last=$(tail -n 1 "$dir/plants.done" 2>/dev/null)
for kw in "redzone:Redzone overwritten" \
	  "double-free:Object already free|allocated objects but [0-9]+ are to be freed" \
	  "uaf-write:Poison overwritten"; do
	k=${kw%%:*} want=${kw#*:}
	f=$dir/plant-$k.dmesg
	if [ -s "$f" ]; then
		delta "$k" > "$out/$k.log"	# not in a subshell: delta keeps $prev
		flagged=$("$scan" "$out/$k.log" 2>&1); src=$?
		[ "$src" = 1 ] && grep -qE "$want" "$out/$k.log"
		ok $? "$kver: $k is reported ('$want') and flagged by the scan" \
			"$(printf '%s\n' "$flagged" | head -n 3)"
	elif [ "$last" = "$k" ]; then
		grep -qE "$want" "$dir/serial.log"
		ok $? "$kver: $k is reported ('$want'; it ended the guest)" \
			"$(grep -m 3 -E "$want|Kernel panic" "$dir/serial.log")"
	else
		ok 1 "$kver: $k was not reached (the guest stopped at '$last')"
	fi
done

# The error that ends the guest.
case "$last" in
kfence) want='BUG: KFENCE: use-after-free read' ;;
list) want='list_del corruption' ;;
*) want='(no final step reached)' ;;
esac
grep -q "$want" "$dir/serial.log" 2>/dev/null && grep -q 'Kernel panic - not syncing' "$dir/serial.log"
ok $? "$kver: $last is reported ('$want') and ends the guest" \
	"$(grep -m 4 -E "BUG|corruption|Kernel panic" "$dir/serial.log" 2>/dev/null)"

# The runner's verdict on this run (selftests/run.sh vm_checks: the same
# scan of the same two files): a failure.
bad=$("$scan" "$dir/dmesg.txt" "$dir/serial.log" 2>/dev/null)
[ $? = 1 ]
ok $? "$kver: the runner's kernel-log scan fails the run" "$(printf '%s\n' "$bad" | head -n 5)"
exit $((failed > 0))
