#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Extract the uncompressed ELF vmlinux from a Debian bzImage, for a PVH boot
# on QEMU's microvm (skips the in-guest decompressor, ~7 s under TCG).
# Debian 6.1 images are XZ-compressed, 6.12 ones ZSTD: both are tried at every
# magic offset until the result is an ELF file. The image is the host's
# /boot/vmlinuz-KVER, or /usr/lib/modules/KVER/vmlinuz in the trixie build
# root (scripts/kroot.sh) for the kernel kept there (ZSTD too).
#
# usage: vmlinux.sh KVER OUT
set -euo pipefail
kver=${1:?usage: vmlinux.sh KVER OUT}
out=${2:?usage: vmlinux.sh KVER OUT}
here=$(cd "$(dirname "$0")" && pwd)
kroot=$("${SRC:-$here/../..}/scripts/kroot.sh" where "$kver")
if [ -n "$kroot" ]; then
	in=$kroot/usr/lib/modules/$kver/vmlinuz
else
	in=/boot/vmlinuz-$kver
fi
[ -r "$in" ] || { echo "vmlinux: no $in (run: make deps)" >&2; exit 1; }
[ -s "$out" ] && [ "$out" -nt "$in" ] && exit 0
mkdir -p "$(dirname "$out")"
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT

is_elf() { [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; }
try() {
	local off=$1; shift
	tail -c +$((off + 1)) "$in" | "$@" > "$tmp" 2>/dev/null || true
	is_elf
}
for off in $(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$in" | cut -d: -f1); do
	try "$off" xz -dcq && { mv "$tmp" "$out"; exit 0; }
done
for off in $(LC_ALL=C grep -abo $'\x28\xb5\x2f\xfd' "$in" | cut -d: -f1); do
	try "$off" zstd -dcq && { mv "$tmp" "$out"; exit 0; }
done
echo "vmlinux: no XZ or ZSTD compressed ELF found in $in" >&2
exit 1
