#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest initramfs for one kernel: static busybox, the few modules
# needed to reach the host root over virtio-9p (the rest are loaded later from
# the host's own /lib/modules/KVER through that share), and our /init.
# Compressed modules (.ko.xz on 6.12) are decompressed here, because busybox's
# insmod would otherwise fall back to slow userspace decompression under TCG.
# The modules of the trixie build root's kernel (scripts/kroot.sh) come from
# that root (compressed the same way, .ko.xz).
#
# usage: initramfs.sh KVER OUT.cpio.gz
set -euo pipefail
kver=${1:?usage: initramfs.sh KVER OUT}
out=${2:?usage: initramfs.sh KVER OUT}
here=$(cd "$(dirname "$0")" && pwd)
kroot=$("${SRC:-$here/../..}/scripts/kroot.sh" where "$kver")
moddir=$kroot/lib/modules/$kver
imgmod=/lib/modules/$kver	# where they go in the initramfs
bb=/bin/busybox

[ -d "$moddir/kernel" ] || { echo "initramfs: no modules for $kver (run: make deps)" >&2; exit 1; }
case "$(LC_ALL=C ldd "$bb" 2>&1 || true)" in
*"not a dynamic executable"*|*"statically linked"*) ;;
*) echo "initramfs: need busybox-static ($bb)" >&2; exit 1 ;;
esac

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,etc,mnt/host,share,root} \
	"$root/lib/modules/$kver"
cp "$bb" "$root/bin/busybox"
for app in $("$bb" --list-full); do
	[ -e "$root/$app" ] || ln -s /bin/busybox "$root/$app"
done

# virtio-mmio transport (microvm) and 9p; their dependencies are resolved by
# modprobe against the target kernel's modules.dep.
for m in virtio_mmio 9pnet_virtio 9p; do
	deps=$(modprobe ${kroot:+-d "$kroot"} -S "$kver" --show-depends "$m" 2>/dev/null |
		awk '$1=="insmod"{print $2}')
	for ko in $deps; do
		rel=${ko#"$moddir"/}
		mkdir -p "$root/$imgmod/$(dirname "$rel")"
		case "$ko" in
		*.xz) xz -dc "$ko" > "$root/$imgmod/${rel%.xz}" ;;
		*.zst) zstd -dcq "$ko" > "$root/$imgmod/${rel%.zst}" ;;
		*) cp "$ko" "$root/$imgmod/$rel" ;;
		esac
	done
done
cp "$moddir"/modules.builtin "$moddir"/modules.builtin.modinfo "$moddir"/modules.order \
	"$root/$imgmod/" 2>/dev/null || true
depmod -b "$root" "$kver"

install -m 0755 "$here/init" "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
