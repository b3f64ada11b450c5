#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest side of selftests/memdbg_test.sh (run in the VM by
# tools/vm/guest-tests.sh, as the only program of its list). Loads the
# test-only module atls_plant.ko and commits memory errors one after the
# other: none, redzone, double-free, uaf-write, and last kfence if KFENCE
# samples in this kernel, else list.
# After each step the whole kernel log goes to $ATLS_RESULTS/plant-<kind>.dmesg
# and the kind to plants.done, so the host can tell which step caused which
# report, and where the guest stopped.
# The guest was booted with panic_on_warn=1, and from 6.12 on every SLUB
# report is also a WARN: the first SLUB error would end the boot. So that one
# boot shows every kind, panic_on_warn is 0 while the SLUB kinds run (their
# WARNING is still in the log) and 1 again for the last kind, which must end
# the guest: a KFENCE report through panic_on_warn, list corruption through
# BUG_ON_DATA_CORRUPTION and oops=panic.
set -u
res=$ATLS_RESULTS
param=/sys/module/atls_plant/parameters/plant
ko=$ATLS_BUILD/kmod/$KVER/plant/atls_plant.ko
: > "$res/plants.done"

kinds="none redzone double-free uaf-write"
if [ "$(cat /sys/module/kfence/parameters/sample_interval 2>/dev/null || echo 0)" != 0 ]; then
	kinds="$kinds kfence"
else
	kinds="$kinds list"
fi
set -- $kinds
echo "1..$(( $# + 1 ))"
n=1
if insmod "$ko"; then
	echo "ok $n insmod atls_plant.ko"
else
	echo "not ok $n insmod atls_plant.ko"
	exit 1
fi
pow=/proc/sys/kernel/panic_on_warn
booted_pow=$(cat "$pow")
last=${kinds##* }
for k in $kinds; do
	n=$((n + 1))
	if [ "$k" = "$last" ]; then echo "$booted_pow" > "$pow"; else echo 0 > "$pow"; fi
	echo "$k" >> "$res/plants.done"
	sync
	if echo "$k" > "$param"; then
		[ "$k" = uaf-write ] && echo 1 > /sys/kernel/slab/atls_plant_uaf/validate
		echo "ok $n plant $k"
	else
		echo "not ok $n plant $k"
	fi
	dmesg > "$res/plant-$k.dmesg"
	sync
done
exit 0
