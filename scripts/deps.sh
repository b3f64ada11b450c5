#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Install everything atls needs to build, test and run its demo on Debian 12,
# as root. Idempotent: when every package is already installed and the trixie
# build root is complete it only checks (no apt-get, no network at all), so
# `make check` can call it every time.
#
# Kernels: Debian 12's own 6.1 (linux-image-amd64 / linux-headers-amd64) and
# 6.12 (linux-image-6.12-amd64 / linux-headers-6.12-amd64, the stable-named
# metapackages that bookworm-security carries; bookworm-backports is enabled
# too, for the same series). INITRD=No: the images are only booted by QEMU
# with our own initramfs, so no host initramfs is generated.
# The third kernel, the newest of Debian trixie-backports, is not installed
# on the host: scripts/kroot.sh keeps it in a Debian trixie build root (made
# with mmdebstrap) with the compiler it was built with.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

PKGS=(
	build-essential pkg-config git make gcc clang llvm sparse
	libssl-dev openssl libtss2-dev libnl-3-dev libnl-genl-3-dev libcbor-dev
	libconfig-dev
	swtpm swtpm-tools tpm2-tools libtss2-tcti-swtpm0
	qemu-system-x86 busybox-static kmod cpio xz-utils zstd iproute2
	python3 python3-yaml python3-docutils bc bison flex libelf-dev mmdebstrap
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	linux-source-6.1
	nginx-light curl wget socat wrk
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exec "$here/kroot.sh" ensure
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages (${missing[*]}); run as root: make deps" >&2
	exit 1
fi

src=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -e "$src" ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
	cat > "$src" <<'EOS'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
fi

echo "deps: installing ${missing[*]}"
start=$(date +%s)
apt-get update -q
INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends "${missing[@]}"
echo "deps: done in $(( $(date +%s) - start )) s"
exec "$here/kroot.sh" ensure
