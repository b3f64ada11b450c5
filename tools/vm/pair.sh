#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot two test VMs joined by a virtual Ethernet link: a QEMU socket netdev,
# i.e. a cable carried over one loopback TCP connection on the host. Each VM
# has its own swtpm (a different TPM per "host"). VM a (10.77.0.1,
# fd00:a715::1) listens, VM b (10.77.0.2, fd00:a715::2) connects; each sees
# the other's address in ATLS_PEER_ADDR / ATLS_PEER_ADDR6 and the role in
# ATLS_VM_ROLE. Both share OUT/xchg at /run/atls-xchg (ATLS_XCHG).
#
# usage: pair.sh --kver KVER --list-a LIST --list-b LIST --out OUT [--timeout S]
# Results in OUT/a and OUT/b (see vm.sh). Exit 0 if both guests reported.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kver= la= lb= out= timeout=600
while [ $# -gt 0 ]; do
	case "$1" in
	--kver) kver=$2; shift 2 ;;
	--list-a) la=$2; shift 2 ;;
	--list-b) lb=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	*) echo "pair.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$kver" ] && [ -n "$la" ] && [ -n "$lb" ] && [ -n "$out" ] || { echo "pair.sh: need --kver --list-a --list-b --out" >&2; exit 2; }
mkdir -p "$out"

# One attempt: both VMs; if either never gets past early boot (boot-hang, an
# emulation hiccup before any of our code runs), the other is stopped at once.
# Both VMs boot the same vmlinux and initramfs: make them once, first.
"$here/vm.sh" --kver "$kver" --prepare || exit 1

attempt() {
	local port pa pb st
	rm -rf "$out/xchg" "$out/a" "$out/b"
	mkdir -p "$out/xchg"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	ATLS_PEER_ADDR=10.77.0.2 ATLS_PEER_ADDR6=fd00:a715::2 \
	"$here/vm.sh" --kver "$kver" --list "$la" --out "$out/a" --timeout "$timeout" --xchg "$out/xchg" \
		--net listen --port "$port" --addr 10.77.0.1 --addr6 fd00:a715::1 --role a &
	pa=$!
	# VM b's QEMU connects at start-up, so VM a's QEMU must be listening first.
	for _ in $(seq 100); do
		ss -ltn "sport = :$port" 2>/dev/null | grep -q LISTEN && break
		sleep 0.1
	done
	ATLS_PEER_ADDR=10.77.0.1 ATLS_PEER_ADDR6=fd00:a715::1 \
	"$here/vm.sh" --kver "$kver" --list "$lb" --out "$out/b" --timeout "$timeout" --xchg "$out/xchg" \
		--net connect --port "$port" --addr 10.77.0.2 --addr6 fd00:a715::2 --role b &
	pb=$!
	# Until one of them ends (waited for, not polled; its status is
	# still there for the wait below).
	wait -n "$pa" "$pb"
	for v in a b; do
		st=$(cat "$out/$v/vm.status" 2>/dev/null)
		if [ "$st" = boot-hang ]; then
			kill "$pa" "$pb" 2>/dev/null
			wait "$pa" "$pb"
			return 2
		fi
	done
	wait "$pa" || return 1
	wait "$pb" || return 1
	return 0
}

attempt
rc=$?
if [ "$rc" = 2 ]; then
	echo "pair.sh: a VM hung in early boot ($(grep -l boot-hang "$out"/?/vm.status | xargs -n1 dirname | xargs -n1 basename)); retrying the pair once" >&2
	mkdir -p "$out/../boot-hangs"
	for v in a b; do
		cp "$out/$v/boot-hang.txt" "$out/../boot-hangs/$(basename "$out")-$v.txt" 2>/dev/null
	done
	attempt
	rc=$?
fi
[ "$rc" = 0 ]
