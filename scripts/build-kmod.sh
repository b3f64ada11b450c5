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

ver=$(git -C "$SRC" describe --always --dirty 2>/dev/null || echo unknown)
sparse_flag=
[ -x "$kroot/usr/bin/sparse" ] && sparse_flag=C=1

# One Kbuild run of module directory $1, whose sources' diagnostics match
# the grep pattern $2 (extra make arguments after them), its log in
# $1/build.log: fails on a failed build and on any compiler or sparse
# diagnostic about the module's own sources.
kbuild_once() {
	local dir=$1 ours=$2 log=$1/build.log
	shift 2
	${inroot[@]+"${inroot[@]}"} make -C "$kdir" M="$dir" $sparse_flag W=1 "$@" modules \
		>"$log" 2>&1 || return 1
	! grep -E '(warning|error):' "$log" | grep -v 'Skipping BTF generation' |
		grep -q "$ours"
}

# Kbuild decides the compiler's flags by probing it ($(call cc-option) in
# the kernel's Makefiles, each a compile of /dev/null). Under heavy load a
# probe has been seen to fail now and then, and the whole module is then
# built without that flag: "Compiler does not support fentry?" (-mfentry) or
# an objtool warning about indirect calls (the retpoline flags). So a failed
# build is run once more, from a clean module directory, with the first
# log kept as build.log.1: a real error fails both times.
kbuild() {
	local dir=$1 ours=$2 what=$3
	shift 3
	kbuild_once "$dir" "$ours" "$@" && return 0
	mv "$dir/build.log" "$dir/build.log.1"
	echo "kmod: $what for $kver failed; building it once more (first log: $dir/build.log.1):" >&2
	grep -E '(warning|error):' "$dir/build.log.1" | head -n 5 >&2 || true
	${inroot[@]+"${inroot[@]}"} make -C "$kdir" M="$dir" clean >/dev/null 2>&1 || true
	kbuild_once "$dir" "$ours" "$@" && return 0
	cat "$dir/build.log" >&2
	echo "kmod: $what for $kver failed (see $dir/build.log)" >&2
	return 1
}

kbuild "$out" "$out\\|kmod/" atls.ko ATLS_SRC="$SRC" ATLS_VERSION="$ver" || exit 1
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
kbuild "$pdir" "$pdir\\|plant/" "test module atls_plant" || exit 1
echo "kmod: $pdir/atls_plant.ko (test only)"
