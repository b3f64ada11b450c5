#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The atls test runner (`make check`). Runs, in order:
#   - host tests (build/tests/host.list), each a TAP-printing program;
#   - for every kernel in KVERS, one VM running build/tests/vm.list, and
#     short VMs with memory errors planted on purpose (selftests/memdbg_test.sh):
#     the memory-error detection (tools/vm/memdbg.sh) must catch them;
#   - for every kernel, two VMs joined by a virtual link running
#     build/tests/vm2.list (one as role a, one as role b).
# They share ATLS_VM_JOBS CPUs (default: the host's CPUs, at most 2) as
# run_jobs() below says.
# Every VM of the runner boots with the memory-error detection on
# (ATLS_MEMDBG=1 by default here; ATLS_MEMDBG=0 turns it off).
# Every program's TAP goes to build/results/; a program that crashes, times out
# or exits non-zero without saying which test failed counts as a failure, and
# so does a VM that panics, hangs or leaves a kernel warning in dmesg.
# The last line is "N passed, N failed" (", N skipped" when some skipped).
#
# Environment: KVERS (default: scripts/kvers.sh), ATLS_ONLY=host|vm to run one
# part, CI=true makes a missing VM suite a failure instead of a skip.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SRC:=$(cd "$here/.." && pwd)}" "${B:=$SRC/build}"
export SRC B
KVERS=${KVERS:-$("$SRC/scripts/kvers.sh")}
export ATLS_MEMDBG=${ATLS_MEMDBG:-1}
vm_jobs=${ATLS_VM_JOBS:-$(nproc)}
[ "$vm_jobs" -ge 1 ] 2>/dev/null || vm_jobs=1
[ "$vm_jobs" -le 2 ] || vm_jobs=2
only=${ATLS_ONLY:-all}
results=$B/results
rm -rf "$results"
mkdir -p "$results"
t_start=$(date +%s)

log() { echo "[$(date +%H:%M:%S)] $*"; }

# Where a kernel comes from, for the log and the TAP files: the Debian package
# installed on the host, or the trixie-backports kernel that scripts/kroot.sh
# discovered (package version and the time it was found).
kernel_origin() {	# KVER
	local k=$1 rec v
	rec=$("$SRC/scripts/kroot.sh" info "$k" 2>/dev/null)
	if [ -n "$rec" ]; then
		set -- $rec
		echo "$k: Debian $3 linux-image $2 (newest there on $4), in the build root"
	elif v=$(dpkg-query -W -f '${Version}' "linux-image-$k" 2>/dev/null); then
		echo "$k: Debian linux-image-$k $v, installed"
	else
		echo "$k: origin unknown"
	fi
}

# Host-side verdicts on a VM run, as TAP: did the guest report, is dmesg clean.
# The kernel log scan is tools/vm/kmsg-scan.sh.
vm_checks() {	# DIR LABEL KVER
	local dir=$1 label=$2 k=$3 st bad
	st=$(cat "$dir/vm.status" 2>/dev/null || echo no-report)
	{
		echo "1..2"
		echo "# kernel $(kernel_origin "$k")"
		case "$st" in reported*) [ -s "$dir/vm-setup.tap" ] || st="reported 100" ;; esac
		case "$st" in
		"reported 100")
		   echo "not ok 1 $label: the guest could not set up its test environment"
		   sed 's/^/# /' "$dir/guest.log" 2>/dev/null | tail -n 20
		   grep 'atls-vm:' "$dir/serial.log" | sed 's/^/# /' ;;
		reported*) echo "ok 1 $label: guest reported ($st, $(cat "$dir/vm.seconds")s)"
		   echo "# memory-error detection: $(cat "$dir/memdbg.txt" 2>/dev/null)" ;;
		*) echo "not ok 1 $label: guest did not report a verdict ($st): panic, hang or timeout"
		   tail -n 30 "$dir/serial.log" 2>/dev/null | sed 's/^/# /' ;;
		esac
		if bad=$("$SRC/tools/vm/kmsg-scan.sh" "$dir/dmesg.txt" "$dir/serial.log" 2>&1); then
			echo "ok 2 $label: kernel log clean"
		else
			echo "not ok 2 $label: kernel log has warnings (or no dmesg was saved)"
			printf '%s\n' "$bad" | sed 's/^/# /'
		fi
	} > "$dir/vm-checks.tap"
}

run_host() {
	local t name rc
	mkdir -p "$results/host"
	while read -r t; do
		[ -n "$t" ] || continue
		# Named by path (build/ or source relative), so two programs with
		# the same file name in different directories keep apart.
		name=${t#"$B"/}; name=${name#"$SRC"/}; name=${name//\//_}
		log "host: $name"
		(cd "$results/host" && timeout -k 5 "${ATLS_HOST_TIMEOUT:-600}" "$t") \
			> "$results/host/$name.tap" 2> "$results/host/$name.err"
		rc=$?
		echo "$rc" > "$results/host/$name.rc"
	done < "$B/tests/host.list"
}

run_vm() {	# KVER
	local k=$1 dir=$results/vm-$1
	log "vm $k: booting (tests: $(grep -c . "$B/tests/vm.list"))"
	"$SRC/tools/vm/vm.sh" --kver "$k" --list "$B/tests/vm.list" --out "$dir"
	if [ "$(cat "$dir/vm.status" 2>/dev/null)" = boot-hang ]; then
		# Stuck before /init: an emulation hiccup, not our code. Once more.
		log "vm $k: hung in early boot (registers in boot-hangs/); retrying once"
		mkdir -p "$results/boot-hangs"
		cp "$dir/boot-hang.txt" "$results/boot-hangs/vm-$k.txt"
		"$SRC/tools/vm/vm.sh" --kver "$k" --list "$B/tests/vm.list" --out "$dir"
	fi
	vm_checks "$dir" "vm $k" "$k"
	log "vm $k: $(cat "$dir/vm.status") in $(cat "$dir/vm.seconds" 2>/dev/null)s"
}

# Two VMs joined by a virtual link (tools/vm/pair.sh), each with its own TPM.
run_pair() {	# KVER
	local k=$1 dir=$results/vm2-$1
	log "vm2 $k: booting two linked VMs"
	"$SRC/tools/vm/pair.sh" --kver "$k" --list-a "$B/tests/vm2.list" \
		--list-b "$B/tests/vm2.list" --out "$dir"
	vm_checks "$dir/a" "vm2 $k a" "$k"
	vm_checks "$dir/b" "vm2 $k b" "$k"
	log "vm2 $k: a $(cat "$dir/a/vm.status"), b $(cat "$dir/b/vm.status")"
}

# Wall time of each phase, in the log and in results/phases.txt.
phase() {	# NAME CMD...
	local name=$1 t0=$(date +%s)
	shift
	"$@"
	echo "$name $(( $(date +%s) - t0 ))s" >> "$results/phases.txt"
	log "phase $name: $(( $(date +%s) - t0 ))s"
}

run_memdbg() {	# planted memory errors (selftests/memdbg_test.sh)
	log "memdbg: planted memory errors"
	"$SRC/selftests/memdbg_test.sh" "$B/memdbg" > "$results/memdbg_test.tap" \
		2> "$results/memdbg_test.err"
	echo $? > "$results/memdbg_test.rc"
	log "memdbg: $(grep -c '^ok' "$results/memdbg_test.tap") of $(grep -c '^\(not \)\?ok' "$results/memdbg_test.tap") checks ok"
}

# The jobs of a run, each with the CPUs it keeps busy: a TCG guest keeps about
# one busy, a pair two, the host tests one. They start in this order, longest
# first: the single VMs, the host tests and the planted-error boots beside the
# last single VM, then the pairs. A job starts when one of the vm_jobs CPUs is
# free; a pair may start beside the last single VM that still runs (three
# guests on two CPUs for a while: the guests' tests wait for events, never for
# a time, and a guest spends part of each test asleep), so no CPU idles
# while the last single VM finishes.
run_jobs() {	# JOB... (NAME:WEIGHT:FUNCTION:ARG)
	local -A weight=() name=()
	local used=0 j pid done_pid w n f a
	for j in "$@"; do
		IFS=: read -r n w f a <<< "$j"
		while [ "$used" -ge "$vm_jobs" ]; do
			wait -n -p done_pid
			used=$((used - ${weight[$done_pid]}))
			unset "weight[$done_pid]"
		done
		phase "$n" "$f" $a &
		weight[$!]=$w
		used=$((used + w))
	done
	wait
}

jobs_list=()
[ "$only" = vm ] || jobs_list+=("host:1:run_host:")
if [ "$only" != host ]; then
	if [ -z "$KVERS" ] || ! command -v qemu-system-x86_64 >/dev/null; then
		log "no kernel or no QEMU: VM suites not run"
		if [ "${CI:-}" = true ]; then
			printf '1..1\nnot ok 1 VM suites were not run (no kernel or QEMU)\n' > "$results/vm-missing.tap"
		else
			printf '1..1\nok 1 VM suites # SKIP no kernel or QEMU\n' > "$results/vm-missing.tap"
		fi
		KVERS=
	fi
	for k in $KVERS; do
		log "kernel $(kernel_origin "$k")"
		kernel_origin "$k" >> "$results/kernels.txt"
	done
	# Each kernel's vmlinux and initramfs are made once, before VMs of it
	# run side by side.
	for k in $KVERS; do
		"$SRC/tools/vm/vm.sh" --kver "$k" --prepare ||
			log "vm $k: vmlinux or initramfs could not be made"
	done
	# The memory-error detection is shown to catch errors planted on
	# purpose: one short boot, detection on whatever ATLS_MEMDBG says, for
	# each distinct set of options among KVERS (memdbg_test.sh). Its VMs'
	# files stay out of $results (their TAP is the guest's, not a verdict).
	singles=() pairs=()
	for k in $KVERS; do
		singles+=("vm-$k:1:run_vm:$k")
		[ -n "$(grep . "$B/tests/vm2.list" 2>/dev/null)" ] &&
			pairs+=("vm2-$k:2:run_pair:$k")
	done
	jobs_list=("${singles[@]}" "${jobs_list[@]}")
	[ -z "$KVERS" ] || jobs_list+=("memdbg:1:run_memdbg:")
	jobs_list+=("${pairs[@]}")
fi
run_jobs "${jobs_list[@]}"

# Count every TAP file: "ok" passes (or skips with "# SKIP"), "not ok" fails
# (a "# TODO" is not used here). A program whose plan promises more results
# than it printed, or that exited non-zero without a "not ok", adds a failure.
"$SRC/selftests/tap-summary.sh" "$results"
rc=$?
log "total time $(( $(date +%s) - t_start ))s"
exit $rc
