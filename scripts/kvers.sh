#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Print every kernel atls is built and tested for, one per line, oldest first:
# each Debian kernel installed on the host with both headers (a build dir) and
# an image, then the kernel of the trixie build root (scripts/kroot.sh), which
# is not installed on the host. Never the running kernel by `uname -r`.
here=$(cd "$(dirname "$0")" && pwd)
{
	for d in /lib/modules/*/; do
		k=$(basename "$d")
		[ -e "/lib/modules/$k/build/Makefile" ] && [ -e "/boot/vmlinuz-$k" ] && echo "$k"
	done
	"$here/kroot.sh" kvers
} | sort -uV
