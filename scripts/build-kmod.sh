#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build atls.ko for one kernel ($1) into $B/kmod/<kver>/, out of the source
# tree, with sparse (C=1). Kbuild writes objects next to the sources it is
# given, so each kernel gets its own tree of symlinks to the real sources; the
# kernels can then be built side by side from one checkout.
# Fails on any compiler or sparse warning.
# A kernel of the trixie build root (scripts/kroot.sh) is built inside that
# root, with the compiler, kbuild and sparse of the kernel's own release.
set -euo pipefail
kver=$1
: "${SRC:?}" "${B:?}"
export SRC B
kroot=$("$SRC/scripts/kroot.sh" where "$kver")
kdir=/lib/modules/$kver/build
[ -e "$kroot$kdir/Makefile" ] || { echo "kmod: no headers for $kver ($kroot$kdir)" >&2; exit 1; }
inroot=()
[ -n "$kroot" ] && inroot=("$SRC/scripts/kroot.sh" run)

out=$B/kmod/$kver
mkdir -p "$out/kmod"
ln -sfn "$SRC/Kbuild" "$out/Kbuild"
# Refresh the symlink farm (sources may have been added or removed).
find "$out/kmod" -maxdepth 1 -type l -delete
for f in "$SRC"/kmod/*.[ch] "$SRC"/kmod/Kbuild; do
	[ -e "$f" ] && ln -sfn "$f" "$out/kmod/$(basename "$f")"
done
# Attribute policies, ops and multicast groups from the netlink spec.
python3 "$SRC/scripts/nlspec.py" kernel > "$out/kmod/atls-nl-gen.h.tmp"
if ! cmp -s "$out/kmod/atls-nl-gen.h.tmp" "$out/kmod/atls-nl-gen.h"; then
	mv "$out/kmod/atls-nl-gen.h.tmp" "$out/kmod/atls-nl-gen.h"
else
	rm "$out/kmod/atls-nl-gen.h.tmp"
fi

log=$out/build.log
ver=$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)
sparse_flag=
[ -x "$kroot/usr/bin/sparse" ] && sparse_flag=C=1
if ! ${inroot[@]+"${inroot[@]}"} make -C "$kdir" M="$out" ATLS_SRC="$SRC" \
	ATLS_VERSION="$ver" $sparse_flag W=1 modules >"$log" 2>&1; then
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

# The test-only module that commits memory errors on purpose
# (selftests/kernel/plant/atls_plant.c, used by selftests/memdbg_test.sh):
# a module of its own in $out/plant/, never linked into atls.ko.
pdir=$out/plant
mkdir -p "$pdir"
find "$pdir" -maxdepth 1 -type l -delete
for f in "$SRC"/selftests/kernel/plant/*.c "$SRC"/selftests/kernel/plant/Kbuild; do
	ln -sfn "$f" "$pdir/$(basename "$f")"
done
plog=$pdir/build.log
if ! ${inroot[@]+"${inroot[@]}"} make -C "$kdir" M="$pdir" $sparse_flag W=1 modules >"$plog" 2>&1 ||
   grep -E '(warning|error):' "$plog" | grep -v 'Skipping BTF generation' | grep -q "$pdir\|plant/"; then
	cat "$plog" >&2
	echo "kmod: test module atls_plant for $kver failed or has warnings" >&2
	exit 1
fi
echo "kmod: $pdir/atls_plant.ko (test only)"
