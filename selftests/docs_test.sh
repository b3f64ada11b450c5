#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Documentation/*.rst parse cleanly (TAP, on the host): docutils reports
# no warning or error for any of them (a malformed table, a title's
# underline shorter than the title, a definition list term over two lines,
# a duplicate section name that a `reference`_ can no longer find). Such
# text renders wrongly or not at all. First the checker itself, on a
# crafted file with a short underline and a malformed table: it must report
# both.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints docutils' complaints about file $1 (level warning and up), one a line.
lint() {
	python3 - "$1" <<'PY'
import io, sys
import docutils.core
with open(sys.argv[1], encoding="utf-8") as f:
    src = f.read()
err = io.StringIO()
docutils.core.publish_doctree(src, source_path=sys.argv[1],
                              settings_overrides={"warning_stream": err,
                                                  "report_level": 2,
                                                  "halt_level": 5})
sys.stdout.write(err.getvalue())
PY
}

docs=("$here"/Documentation/*.rst)
echo "TAP version 13"
echo "1..$((${#docs[@]} + 1))"
n=1 failed=0
printf 'A title\n=====\n\n==== ====\nabcde f\n==== ====\n' > "$tmp/bad.rst"
out=$(lint "$tmp/bad.rst" 2>&1)
if grep -q "underline too short" <<<"$out" && grep -q "Malformed table" <<<"$out"; then
	echo "ok $n the checker reports a short underline and a malformed table"
else
	echo "not ok $n the checker reports a short underline and a malformed table"
	printf '%s\n' "$out" | sed 's/^/#   /'
	failed=$((failed + 1))
fi
for f in "${docs[@]}"; do
	n=$((n + 1))
	out=$(lint "$f" 2>&1)
	if [ -z "$out" ]; then
		echo "ok $n ${f#"$here"/}"
	else
		echo "not ok $n ${f#"$here"/}"
		printf '%s\n' "$out" | sed 's/^/#   /'
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ]
