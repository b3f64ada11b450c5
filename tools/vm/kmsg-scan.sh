#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scan kernel logs (dmesg dumps, serial consoles) for reports that fail a test
# run. Prints the offending lines (at most 20) and exits 1 if any is found, 0
# if the logs are clean. A missing log is an error (exit 2) when nothing was
# found in the others: a run without a kernel log cannot be called clean (a
# guest that panicked saved no dmesg, but its serial console says why).
#
# The patterns are the reports the test kernels (Debian 6.1, 6.12 and the
# trixie-backports kernel, booted as tools/vm/memdbg.sh says) print; the
# strings are those of their sources:
#   generic        "WARNING:" (WARN*), "BUG:" (bad page state, scheduling
#                  while atomic, page faults, soft lockups, KFENCE), "kernel
#                  BUG at" (BUG_ON), die headers ("Oops: ...", "invalid
#                  opcode: 0000 [#1]", "general protection fault"),
#                  "Kernel panic - not syncing" (panic_on_warn: "...: panic_on_warn
#                  set ..."), refcount_t, stack protector and stack end
#                  checks, hung tasks, RCU stalls
#   KFENCE         "BUG: KFENCE: use-after-free|out-of-bounds|memory
#                  corruption|invalid free|invalid read/write in ..."
#   SLUB debug     "BUG <cache> (Not tainted|Tainted: ...): <what>", e.g.
#                  "Poison overwritten", "Right Redzone overwritten" (6.1),
#                  "[Right Redzone overwritten] ..." then "Object corrupt"
#                  (later kernels), "Object already free", "Freepointer
#                  corrupt", "Freechain corrupt", "Padding overwritten",
#                  "Objects remaining ... on __kmem_cache_shutdown()", and
#                  the "FIX <cache>: ..." lines of its repairs
#   page poisoning "pagealloc: memory corruption", "pagealloc: single bit error"
#   DEBUG_LIST     "list_add corruption", "list_add double add",
#                  "list_del corruption" (then "kernel BUG at" through
#                  BUG_ON_DATA_CORRUPTION)
#   UBSAN          "UBSAN: array-index-out-of-bounds in ..." (bounds, shift)
# None of these kernels has lockdep, KASAN or kmemleak: their reports are not
# looked for (a KASAN report would still match "BUG:").
# usage: kmsg-scan.sh LOG...
set -u
pat='WARNING:|BUG:|kernel BUG at|Oops|: [0-9a-f]{4} \[#[0-9]+\]|general protection fault'
pat="$pat|Kernel panic|refcount_t|stack-protector|corrupted stack end|stack corrupted"
pat="$pat|blocked for more than|soft lockup|self-detected stall|detected stalls on"
pat="$pat|BUG [^ ]+ \((Not tainted|Tainted)|FIX [^ ]+: |Poison overwritten|Redzone overwritten"
pat="$pat|Padding overwritten|Object already free|Freepointer corrupt|Freechain corrupt"
pat="$pat|Objects remaining"
pat="$pat|pagealloc: memory corruption|pagealloc: single bit error"
pat="$pat|list_add corruption|list_add double add|list_del corruption|UBSAN"
missing=0 logs=()
for f in "$@"; do
	if [ -s "$f" ]; then
		logs+=("$f")
	else
		echo "kmsg-scan: no kernel log $f" >&2
		missing=1
	fi
done
if [ ${#logs[@]} -gt 0 ] && grep -hE "$pat" "${logs[@]}" | head -n 20 | grep .; then
	exit 1
fi
[ "$missing" = 0 ] || exit 2
exit 0
