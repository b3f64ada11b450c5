#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Print every installed Debian kernel that has both headers (a build dir) and an
# image, one per line, oldest first. Never the running kernel by `uname -r`.
for d in /lib/modules/*/; do
	k=$(basename "$d")
	[ -e "/lib/modules/$k/build/Makefile" ] && [ -e "/boot/vmlinuz-$k" ] && echo "$k"
done | sort -V
