#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build atls.ko for one kernel ($1) into $B/kmod/<kver>/, out of the source
# tree, with sparse (C=1). Kbuild writes objects next to the sources it is
# given, so each kernel gets its own tree of symlinks to the real sources; the
# kernels can then be built side by side from one checkout.
# Fails on any compiler or sparse warning.
set -euo pipefail
kver=$1
: "${SRC:?}" "${B:?}"
kdir=/lib/modules/$kver/build
[ -e "$kdir/Makefile" ] || { echo "kmod: no headers for $kver ($kdir)" >&2; exit 1; }

out=$B/kmod/$kver
mkdir -p "$out/kmod"
ln -sfn "$SRC/Kbuild" "$out/Kbuild"
# Refresh the symlink farm (sources may have been added or removed).
find "$out/kmod" -maxdepth 1 -type l -delete
for f in "$SRC"/kmod/*.[ch] "$SRC"/kmod/Kbuild; do
	[ -e "$f" ] && ln -sfn "$f" "$out/kmod/$(basename "$f")"
done

log=$out/build.log
ver=$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)
sparse_flag=
command -v sparse >/dev/null && sparse_flag=C=1
if ! make -C "$kdir" M="$out" ATLS_SRC="$SRC" ATLS_VERSION="$ver" $sparse_flag W=1 modules >"$log" 2>&1; then
	cat "$log" >&2
	echo "kmod: build for $kver failed" >&2
	exit 1
fi
# Compiler or sparse diagnostics about our own sources fail the build.
if grep -E '(warning|error):' "$log" | grep -v 'Skipping BTF generation' | grep -q "$out\|kmod/"; then
	grep -E '(warning|error):' "$log" >&2
	echo "kmod: warnings for $kver (see $log)" >&2
	exit 1
fi
cp "$out/kmod/atls.ko" "$out/atls.ko"
echo "kmod: $out/atls.ko ($kver${sparse_flag:+, sparse clean})"
