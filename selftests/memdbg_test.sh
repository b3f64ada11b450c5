#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The memory-error detection of the test VMs, shown to work (TAP). The VMs
# of `make check` boot with it unless ATLS_MEMDBG=0 (selftests/run.sh sets it,
# tools/vm/memdbg.sh applies it); this test boots its own VM with it on
# whatever that setting, one short boot
# per kernel it picks, running selftests/kernel/plant/plant-guest.sh, which
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
# Run by selftests/run.sh in its VM part (it boots VMs: the VM lock applies).
# usage: memdbg_test.sh OUTDIR
# The kernels: ATLS_PLANT_KVERS (a list), else one per distinct set of
# options memdbg.sh gives the kernels of KVERS (the first kernel of each):
# what the boot proves is that those options take effect and that what they
# print is caught; kernels given the same options share the proof. With 6.1,
# 6.12 and 7.3 that is 6.1 (no KFENCE) and 6.12 (KFENCE), 7.3 having 6.12's.
# ATLS_PLANT_MEMDBG=0 boots those VMs without detection, only to show that
# the test then fails (it must: it depends on the detection, not on luck).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${SRC:=$(cd "$here/.." && pwd)}" "${B:=$SRC/build}"
export SRC B
out=${1:?usage: memdbg_test.sh OUTDIR}
scan=$SRC/tools/vm/kmsg-scan.sh
KVERS=${KVERS:-$("$SRC/scripts/kvers.sh")}

memdbg=${ATLS_PLANT_MEMDBG:-1}

kvers=${ATLS_PLANT_KVERS:-}
if [ -z "$kvers" ]; then
	seen=''
	for k in $KVERS; do
		c=$(ATLS_MEMDBG=1 "$SRC/tools/vm/memdbg.sh" --cmdline "$k" 2>/dev/null) || continue
		case "$seen" in *"|$c|"*) continue ;; esac
		seen="$seen|$c|" kvers="$kvers${kvers:+ }$k"
	done
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

boot() {	# KVER DIR: the planted-error VM
	ATLS_MEMDBG=$memdbg "$SRC/tools/vm/vm.sh" --kver "$1" --list "$out/plant.list" \
		--out "$2" --timeout 300 > "$2.out" 2>&1
}

plant() {	# KVER: one boot, 7 checks
	local kver=$1 dir=$out/$1 f k kw want flagged src last bad prev=0
	rm -rf "$dir"
	boot "$kver" "$dir"
	if [ "$(cat "$dir/vm.status" 2>/dev/null)" = boot-hang ]; then
		# Stuck before /init (an emulation hiccup, see run.sh): once more.
		rm -rf "$dir"
		boot "$kver" "$dir"
	fi
	echo "# $kver: memory-error detection: $(cat "$dir/memdbg.txt" 2>/dev/null)"
	echo "# $kver: guest $(cat "$dir/vm.status" 2>/dev/null) in $(cat "$dir/vm.seconds" 2>/dev/null)s; plants: $(tr '\n' ' ' < "$dir/plants.done" 2>/dev/null)"

	grep -q '^ok .*memory-error detection as booted' "$dir/vm-setup.tap" 2>/dev/null
	ok $? "$kver: the guest booted with the options asked for (memdbg.sh --verify)" \
		"$(grep 'memory-error detection' "$dir/vm-setup.tap" 2>/dev/null)"

	# The kernel log a step added (the dumps are cumulative).
	delta() {	# KIND: print the lines plant-KIND.dmesg added to the previous dump
		local f=$dir/plant-$1.dmesg lines
		lines=$(wc -l < "$f")
		[ "$lines" -ge "$prev" ] || prev=0	# the ring buffer wrapped
		tail -n +$((prev + 1)) "$f"
		prev=$lines
	}

	f=$dir/plant-none.dmesg
	if [ -s "$f" ]; then
		delta none > "$dir/none.log"
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
			delta "$k" > "$dir/$k.log"	# not in a subshell: delta keeps $prev
			flagged=$("$scan" "$dir/$k.log" 2>&1); src=$?
			[ "$src" = 1 ] && grep -qE "$want" "$dir/$k.log"
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
}

echo "TAP version 13"
if [ -z "$kvers" ]; then
	echo "1..1"
	echo "ok 1 planted memory errors # SKIP no kernel"
	exit 0
fi
read -ra kv <<< "$kvers"
echo "1..$(( 7 * ${#kv[@]} ))"
[ "$memdbg" = 1 ] || echo "# ATLS_PLANT_MEMDBG=$memdbg: booted WITHOUT memory-error detection (this must fail)"
mkdir -p "$out"
echo "$SRC/selftests/kernel/plant/plant-guest.sh" > "$out/plant.list"
for k in "${kv[@]}"; do
	plant "$k"
done
exit $((failed > 0))
