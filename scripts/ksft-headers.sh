#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Extract the kselftest harness headers from Debian's linux-source package into
# $1. Nothing third-party is committed: the headers live only in the build tree.
set -euo pipefail
out=$1
tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | head -n1)
if [ -z "$tarball" ]; then
	echo "ksft: no /usr/src/linux-source-*.tar.xz; run: make deps" >&2
	exit 1
fi
top=$(basename "$tarball" .tar.xz)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xJf "$tarball" \
	"$top/tools/testing/selftests/kselftest.h" \
	"$top/tools/testing/selftests/kselftest_harness.h"
mkdir -p "$out"
cp "$tmp/$top/tools/testing/selftests/kselftest.h" \
   "$tmp/$top/tools/testing/selftests/kselftest_harness.h" "$out/"
echo "ksft: headers from $(basename "$tarball")"
