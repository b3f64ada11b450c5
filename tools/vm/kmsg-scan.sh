#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Scan kernel logs (dmesg dumps, serial consoles) for reports that fail a test
# run: warnings, BUGs, oopses, refcount, lockdep, KASAN/UBSAN/kmemleak reports,
# panics. Prints the offending lines (at most 20) and exits 1 if any is found,
# 0 if the logs are clean. Missing files are an error (exit 2): a run without
# a kernel log cannot be called clean.
# usage: kmsg-scan.sh LOG...
set -u
pat='WARNING:|BUG:|Oops|refcount_t|possible circular locking|possible recursive locking|inconsistent lock state|KASAN|UBSAN|general protection fault|Kernel panic|stack-protector|list_add corruption|list_del corruption|kmemleak|hung_task|soft lockup|rcu_sched self-detected stall|RCU stall'
for f in "$@"; do
	[ -s "$f" ] || { echo "kmsg-scan: no kernel log $f" >&2; exit 2; }
done
if grep -hE "$pat" "$@" | head -n 20 | grep .; then
	exit 1
fi
exit 0
