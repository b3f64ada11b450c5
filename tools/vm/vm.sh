#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot one test VM: a Debian kernel under QEMU/TCG (-M microvm, PVH vmlinux),
# our initramfs, a fresh swtpm as its TPM (/dev/tpmrm0), the host root shared
# read-only over virtio-9p and OUT shared read-write for results. The guest runs
# every program named in LIST (tools/vm/guest-tests.sh) and powers off.
#
# usage: vm.sh --kver KVER --list LIST --out OUT [--timeout S]
#              [--net listen|connect --port P --addr IPV4 --addr6 IPV6 --role a|b]
#              [--xchg DIR]
#        vm.sh --kver KVER --prepare
# --prepare only makes the kernel's vmlinux and initramfs (B/vm/KVER) if they
# are missing or stale, and boots nothing: run it before starting several VMs
# of one kernel at once, so that they do not make them side by side.
# --xchg shares DIR read-write with the guest at /run/atls-xchg ($ATLS_XCHG):
# the two VMs of a pair get the same one, to exchange files an operator would
# copy between hosts (e.g. each side's AK public key for the other's policy).
# Writes OUT/serial.log, OUT/dmesg.txt, OUT/memdbg.txt, OUT/*.tap,
# OUT/vm.status ("reported N", "no-report", "timeout", "boot-hang", "stopped").
# Exit status: 0 if the guest reported, 1 otherwise.
# Hard limits: QEMU is killed after --timeout seconds (default 600).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SRC:=$(cd "$here/../.." && pwd)}" "${B:=$SRC/build}"

kver= list= out= timeout=600 net= port= addr= addr6= role=single xchg= prepare=
while [ $# -gt 0 ]; do
	case "$1" in
	--kver) kver=$2; shift 2 ;;
	--prepare) prepare=1; shift ;;
	--list) list=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--net) net=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--addr) addr=$2; shift 2 ;;
	--addr6) addr6=$2; shift 2 ;;
	--role) role=$2; shift 2 ;;
	--xchg) xchg=$2; shift 2 ;;
	*) echo "vm.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$kver" ] && { [ -n "$prepare" ] || { [ -n "$list" ] && [ -n "$out" ]; }; } ||
	{ echo "vm.sh: need --kver, and --list and --out (or --prepare)" >&2; exit 2; }

# A kernel that is not installed on the host (the trixie build root's,
# scripts/kroot.sh) has its modules there; the guest shows them at
# /lib/modules/KVER in its chroot of the host root (ATLS_MODDIR).
kroot=$("$SRC/scripts/kroot.sh" where "$kver")
moddir=${kroot:+$kroot/usr/lib/modules/$kver}

vmdir=$B/vm/$kver
vmlinux=$vmdir/vmlinux
initrd=$vmdir/initramfs.cpio.gz
"$here/vmlinux.sh" "$kver" "$vmlinux" || exit 1
if [ ! -s "$initrd" ] || [ "$here/init" -nt "$initrd" ] || [ "$here/initramfs.sh" -nt "$initrd" ]; then
	"$here/initramfs.sh" "$kver" "$initrd" || exit 1
fi
[ -z "$prepare" ] || exit 0

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The list travels in the result share: its own path may be hidden in the guest.
cp "$list" "$out/tests.list" || exit 1
cat > "$out/env" <<EOV
export KVER='$kver' ATLS_SRC='$SRC' ATLS_BUILD='$B' ATLS_KO='$B/kmod/$kver/atls.ko'
export ATLS_RESULTS=/run/atls-results ATLS_LIST=/run/atls-results/tests.list ATLS_VM_ROLE='$role'
export ATLS_NET='${net:+1}' ATLS_ADDR='$addr' ATLS_ADDR6='$addr6'
export ATLS_PEER_ADDR='${ATLS_PEER_ADDR:-}' ATLS_PEER_ADDR6='${ATLS_PEER_ADDR6:-}'
export CI='${CI:-}' ATLS_TEST_TIMEOUT='${ATLS_TEST_TIMEOUT:-300}'
export ATLS_XCHG='${xchg:+/run/atls-xchg}' ATLS_MODDIR='$moddir'
EOV

# One swtpm per VM, fresh state each boot; it exits when QEMU closes the socket.
tpmdir=$(mktemp -d)
swtpm socket --tpm2 --tpmstate dir="$tpmdir" \
	--ctrl type=unixio,path="$tpmdir/sock" \
	--log file="$out/swtpm.log",level=1 --pid file="$tpmdir/pid" &
swtpm_pid=$!
cleanup() {
	kill "$swtpm_pid" 2>/dev/null
	wait "$swtpm_pid" 2>/dev/null
	rm -rf "$tpmdir"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$tpmdir/sock" ] && break; sleep 0.05; done
[ -S "$tpmdir/sock" ] || { echo "vm.sh: swtpm did not start" >&2; echo no-report > "$out/vm.status"; exit 1; }

# Under TCG the guest TSC runs at the host TSC rate; telling the kernel avoids
# a flaky PIT calibration that hangs microvm (no HPET/PM timer to fall back
# on). tsc=reliable keeps the TSC clocksource on an SMP guest.
khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
append="console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init"
append="$append tsc_early_khz=$khz tsc=reliable tpm_tis.force=1 tpm_tis.interrupts=0"
# The kernel's crypto self-tests (testmgr) test each algorithm as it is
# registered, the built-in ones at boot and AES-NI's when guest-tests.sh
# loads it: about 10 s of every boot under TCG. Our tests check kTLS's
# output against OpenSSL's byte for byte, which tests the algorithms kTLS
# uses; the self-tests are off here (cryptomgr.notests, not honoured in
# FIPS mode, which these VMs do not boot).
append="$append cryptomgr.notests=1"
# Memory-error detection, as much as this kernel has, with ATLS_MEMDBG=1
# (tools/vm/memdbg.sh);
# what is on goes to OUT/memdbg.txt and to our output.
append="$append $("$here/memdbg.sh" --cmdline "$kver")" || exit 1
"$here/memdbg.sh" --summary "$kver" > "$out/memdbg.txt"
echo "vm.sh: $kver${net:+ ($role)}: memory-error detection: $(cat "$out/memdbg.txt")"

# Single-threaded TCG by default: with multi-threaded TCG, code the kernel
# patches at run time (int3-based text_poke, static calls) was seen executing
# stale on the other vCPU (an int3 oops in inet6_ehashfn on 6.12) and guests
# hung in early boot on a loaded host. Two vCPUs remain, round-robin: SMP
# semantics are kept, at about 20% more wall time. ATLS_TCG_THREAD=multi to try.
args=(-accel "tcg,thread=${ATLS_TCG_THREAD:-single}" -cpu max -m 1G -smp 2
	-M microvm,isa-serial=on,rtc=on -nographic -no-reboot -nodefaults -serial stdio
	-device isa-debug-exit,iobase=0xf4,iosize=0x04
	-kernel "$vmlinux" -initrd "$initrd" -append "$append"
	-chardev socket,id=chrtpm,path="$tpmdir/sock"
	-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0
	-fsdev local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap
	-device virtio-9p-device,fsdev=fsroot,mount_tag=hostroot
	-fsdev local,id=fsshare,path="$out",security_model=none,multidevs=remap
	-device virtio-9p-device,fsdev=fsshare,mount_tag=share)
if [ -n "$xchg" ]; then
	mkdir -p "$xchg"
	args+=(-fsdev local,id=fsxchg,path="$(cd "$xchg" && pwd)",security_model=none,multidevs=remap
		-device virtio-9p-device,fsdev=fsxchg,mount_tag=xchg)
fi
case "$net" in
"") ;;
listen|connect)
	mac=52:54:00:a7:15:$([ "$role" = a ] && echo 01 || echo 02)
	args+=(-netdev "socket,id=n0,$net=127.0.0.1:$port"
		-device "virtio-net-device,netdev=n0,mac=$mac") ;;
*) echo "vm.sh: --net listen|connect" >&2; exit 2 ;;
esac

# A QEMU monitor socket, so a guest that hangs can be looked at (registers,
# instruction pointer) before it is killed.
mon=$tpmdir/monitor.sock
args+=(-monitor "unix:$mon,server,nowait")

monitor() {	# send one HMP command, print the answer
	python3 - "$mon" "$1" <<'EOP' 2>/dev/null
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
time.sleep(0.3)
s.recv(65536)
s.sendall(sys.argv[2].encode() + b"\n")
time.sleep(0.5)
print(s.recv(65536).decode(errors="replace"))
EOP
}

# Boot watchdog: the guest's /init prints "atls-vm: kernel ..." once the
# kernel is up and the shares are mounted (3-6 s normally, more on a loaded
# host). A guest that has not got there within boot_timeout seconds is stuck in
# early boot, before our module or any test ran: its registers are saved in
# OUT/boot-hang.txt and the status is "boot-hang" (the callers may retry).
boot_timeout=${ATLS_BOOT_TIMEOUT:-150}
start=$(date +%s.%N)
timeout -k 5 "$timeout" qemu-system-x86_64 "${args[@]}" \
	< /dev/null > "$out/serial.log" 2>&1 &
qpid=$!
# Stopped from outside (pair.sh stops one VM when its peer never booted).
trap 'kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; echo stopped > "$out/vm.status"; exit 1' TERM INT
# Once booted, QEMU's exit is waited for, not polled: the result is there
# the moment the guest powers off (a TERM still reaches the trap at once).
booted=0 hung=0 t=0
while kill -0 "$qpid" 2>/dev/null; do
	if grep -q 'atls-vm: kernel' "$out/serial.log" 2>/dev/null; then
		booted=1
		break
	elif [ "$t" -ge "$boot_timeout" ]; then
		{ echo "no 'atls-vm: kernel' line after ${boot_timeout}s"
		  monitor "info registers"; monitor "x/6i \$pc"; } > "$out/boot-hang.txt"
		hung=1
		kill "$qpid" 2>/dev/null
		break
	fi
	sleep 1
	t=$((t + 1))
done
wait "$qpid"
qrc=$?
secs=$(echo "$(date +%s.%N) - $start" | bc)
if [ "$hung" = 1 ]; then
	status=boot-hang
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	status=timeout
elif [ $((qrc % 2)) = 1 ]; then
	status="reported $((qrc >> 1))"
else
	status=no-report
fi
echo "$status" > "$out/vm.status"
printf '%.1f\n' "$secs" > "$out/vm.seconds"
case "$status" in reported*) exit 0 ;; *) exit 1 ;; esac
