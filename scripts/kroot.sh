#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# The third test kernel: the newest kernel of Debian trixie-backports, kept
# with its own build root instead of being installed on the Debian 12 host.
#
# The build root is a Debian trixie system made by mmdebstrap from the same
# Debian mirror the host's apt uses, with trixie and trixie-backports as apt
# sources. Inside it:
#   - the kernel's headers, installed by apt with what they depend on, among
#     them gcc-14 (the compiler the kernel was built with) and kbuild;
#     sparse, make and kmod are installed too;
#   - the kernel itself (its linux-binary, linux-modules and linux-base
#     packages: vmlinuz, modules, config), unpacked with dpkg-deb and
#     indexed with depmod, not installed: nothing of it is run in the root,
#     and its postinst would only build an initramfs we do not use.
# The kernel's version is discovered from the archive, not named here: it is
# the one linux-headers-amd64 of trixie-backports depends on. It is recorded
# in $ATLS_KROOT/kernel ("KVER PACKAGE-VERSION SUITE DATE").
#
# usage:
#   kroot.sh ensure       make or complete the root (deps.sh calls it); with
#                         everything present it only checks (no network);
#                         ATLS_KROOT_REFRESH=1 looks for a newer kernel
#   kroot.sh kvers        print the root's kernel version, if it is complete
#   kroot.sh where KVER   print the root's directory if KVER is its kernel
#   kroot.sh info KVER    print the kernel's origin (the recorded line)
#   kroot.sh run CMD...   run CMD as root in the build root, with $SRC and $B
#                         (when set) at the same paths as on the host
# Environment: ATLS_KROOT (default /var/cache/atls/kroot-trixie).
set -euo pipefail
KROOT=${ATLS_KROOT:-/var/cache/atls/kroot-trixie}
root=$KROOT/root
rec=$KROOT/kernel
suite=trixie
bpo=trixie-backports

# The recorded kernel, if the root has all of it (image, modules index,
# headers with their kbuild Makefile).
kver_ok() {
	local k
	[ -s "$rec" ] || return 1
	k=$(awk '{ print $1; exit }' "$rec")
	[ -n "$k" ] && [ -s "$root/usr/lib/modules/$k/vmlinuz" ] &&
		[ -s "$root/usr/lib/modules/$k/modules.dep" ] &&
		[ -e "$root/usr/lib/modules/$k/build/Makefile" ] &&
		[ -x "$root/usr/bin/sparse" ] && echo "$k"
}

in_root() {	# CMD...: in the root, in a private mount namespace
	unshare -m -- /bin/sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc"
		for p in "${SRC:-}" "${B:-}"; do
			[ -n "$p" ] && [ -d "$p" ] || continue
			mkdir -p "$r$p" && mount --bind "$p" "$r$p"
		done
		exec chroot "$r" "$@"' in_root "$root" "$@"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || { echo "kroot: $1 needs root (run: make deps as root)" >&2; exit 1; }
}

mirror() {	# the host's Debian mirror (the one its bookworm suite comes from)
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
		awk '$2 == "bookworm" { print $1; exit }'
}

ensure() {
	local k t0 m kpkg pkgver debs d
	if k=$(kver_ok) && [ "${ATLS_KROOT_REFRESH:-0}" != 1 ]; then
		echo "kroot: $k present in $root"
		return 0
	fi
	need_root "the trixie build root"
	t0=$(date +%s)
	mkdir -p "$KROOT"
	if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -x "$root/usr/bin/sparse" ]; then
		m=$(mirror)
		[ -n "$m" ] || { echo "kroot: no Debian mirror in the host's apt sources" >&2; exit 1; }
		command -v mmdebstrap >/dev/null || { echo "kroot: mmdebstrap missing (make deps)" >&2; exit 1; }
		echo "kroot: making a Debian $suite build root in $root (mirror $m)"
		rm -rf "$root" "$root.new"
		mmdebstrap --quiet --variant=minbase --include=make,sparse,kmod,xz-utils,zstd \
			--aptopt='Acquire::Languages "none"' \
			"$suite" "$root.new" "deb $m $suite main" "deb $m $bpo main"
		mv "$root.new" "$root"
	fi
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
	in_root apt-get update -q -o Acquire::Languages=none >/dev/null

	# Discovery: the kernel trixie-backports' linux-headers-amd64 points at.
	kpkg=$(in_root apt-cache -t "$bpo" depends linux-headers-amd64 |
		awk '$1 == "Depends:" && $2 ~ /^linux-headers-[0-9]/ { print $2; exit }')
	k=${kpkg#linux-headers-}
	[ -n "$kpkg" ] && [ "$k" != "$kpkg" ] ||
		{ echo "kroot: no linux-headers-* behind $bpo's linux-headers-amd64" >&2; exit 1; }
	pkgver=$(in_root apt-cache -t "$bpo" show "$kpkg" | awk '/^Version:/ { print $2; exit }')
	echo "kroot: newest $bpo kernel: $k ($pkgver)"

	DEBIAN_FRONTEND=noninteractive in_root apt-get install -y -q -o Dpkg::Use-Pty=0 \
		--no-install-recommends \
		-t "$bpo" "linux-headers-$k" >/dev/null
	debs=$root/var/cache/atls-kernel
	rm -rf "$debs"
	mkdir -p "$debs"
	in_root /bin/sh -c "cd /var/cache/atls-kernel && \
		apt-get -q -o APT::Sandbox::User=root download \
		linux-binary-$k linux-modules-$k linux-base-$k" >/dev/null
	for d in "$debs"/*.deb; do
		dpkg-deb -x "$d" "$root"
	done
	rm -rf "$debs"
	in_root depmod "$k"
	# A refresh that found a newer kernel drops the one it replaces.
	for d in "$root"/usr/lib/modules/*; do
		[ "$(basename "$d")" = "$k" ] && continue
		DEBIAN_FRONTEND=noninteractive in_root apt-get purge -y -q \
			"linux-headers-$(basename "$d")" >/dev/null 2>&1 || true
		rm -rf "$d"
	done
	in_root apt-get clean
	echo "$k $pkgver $bpo $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$rec"
	kver_ok >/dev/null || { echo "kroot: $k incomplete in $root" >&2; exit 1; }
	echo "kroot: $k ready in $(( $(date +%s) - t0 )) s"
}

case "${1:-}" in
ensure) ensure ;;
kvers) kver_ok || true ;;
where)
	k=$(kver_ok) || exit 0
	[ "${2:?kroot.sh where KVER}" = "$k" ] && echo "$root"
	exit 0 ;;
info)	[ -s "$rec" ] && awk -v k="${2:?}" '$1 == k' "$rec" ;;
run)	shift; need_root "running in the build root"; in_root "$@" ;;
*)	echo "usage: kroot.sh ensure|kvers|where KVER|info KVER|run CMD..." >&2; exit 2 ;;
esac
