#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Memory-error detection for a test VM, chosen from the kernel's own config
# file (what the kernel was built with, never its version number). Debian's
# kernels have no KASAN or lockdep, but they do have:
#   CONFIG_KFENCE            sampled guard-page allocations; Debian builds it
#                            with sampling off (CONFIG_KFENCE_SAMPLE_INTERVAL=0):
#                            kfence.sample_interval=$ATLS_KFENCE_MS turns it on
#   CONFIG_SLUB_DEBUG        slub_debug=FZPU: sanity checks (F), red zones (Z),
#                            poisoning of free objects (P), alloc/free owner (U)
#   CONFIG_PAGE_POISONING    page_poison=1: freed pages filled and checked; the
#                            kernel gives it precedence over init_on_alloc and
#                            init_on_free (mm/page_alloc.c), so init_on_free=1
#                            is only asked for on a kernel without it
#   CONFIG_DEBUG_LIST, CONFIG_LIST_HARDENED, CONFIG_BUG_ON_DATA_CORRUPTION,
#   CONFIG_UBSAN_BOUNDS      built in, nothing to pass: listed in the summary
# and, on every kernel, panic_on_warn=1 (a WARN, a KFENCE or UBSAN report
# ends the run at once) with loglevel=5, so that the warning that stopped the
# guest reaches the serial console: a panicking guest never saves its dmesg.
#
# usage: memdbg.sh --cmdline KVER   the options for the kernel command line
#        memdbg.sh --summary KVER   one line: what is on for KVER
#        memdbg.sh --verify         in the guest: did the booted kernel take
#                                   every option of /proc/cmdline? (exit 1 if not)
# Off unless ATLS_MEMDBG=1 (`make check` sets it: selftests/run.sh; its cost:
# Documentation/testing.rst). With it
# on, KFENCE (6.12, 7.3) serves sampled objects from its own pool, in no slab:
# a test that counts a cache's objects must add KFENCE's (testlib
# tl_slab_in_use(), as atls_lifecycle_test does).
# ATLS_KFENCE_MS (default 10): KFENCE sample interval in milliseconds.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SRC:=$(cd "$here/../.." && pwd)}"
kfence_ms=${ATLS_KFENCE_MS:-10}

config_of() {	# KVER: the kernel's config file (host /boot or the build root)
	local k=$1 kroot
	kroot=$("$SRC/scripts/kroot.sh" where "$k" 2>/dev/null || true)
	for f in ${kroot:+"$kroot/usr/lib/modules/$k/config" "$kroot/boot/config-$k"} \
		"/boot/config-$k" "/lib/modules/$k/config"; do
		[ -r "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# Sets opts (command line) and what (summary) from config file $1.
choose() {
	local cfg=$1
	on() { grep -q "^CONFIG_$1=y" "$cfg"; }
	opts='' what=''
	add() { opts="$opts${opts:+ }$1"; }
	say() { what="$what${what:+, }$1"; }
	if on KFENCE; then
		add "kfence.sample_interval=$kfence_ms"; say "KFENCE every ${kfence_ms} ms"
	else
		say "no KFENCE"
	fi
	if on SLUB_DEBUG; then
		add slub_debug=FZPU; say "SLUB debug FZPU"
	else
		say "no SLUB debug"
	fi
	if on PAGE_POISONING; then
		add page_poison=1; say "page poisoning"
	elif grep -q 'CONFIG_INIT_ON_FREE_DEFAULT_ON[= ]' "$cfg"; then
		add init_on_free=1; say "init_on_free"
	fi
	on DEBUG_LIST && say "DEBUG_LIST"
	on LIST_HARDENED && say "LIST_HARDENED"
	on BUG_ON_DATA_CORRUPTION && say "BUG_ON_DATA_CORRUPTION"
	on UBSAN_BOUNDS && say "UBSAN bounds"
	add panic_on_warn=1; add loglevel=5; say "panic_on_warn"
}

case "${1:-}" in
--cmdline|--summary)
	kver=${2:?usage: memdbg.sh --cmdline|--summary KVER}
	if [ "${ATLS_MEMDBG:-0}" = 0 ]; then
		[ "$1" = --summary ] && echo "off (ATLS_MEMDBG=1 turns it on)"
		exit 0
	fi
	cfg=$(config_of "$kver") || { echo "memdbg: no config file for $kver" >&2; exit 1; }
	choose "$cfg"
	if [ "$1" = --cmdline ]; then echo "$opts"; else echo "$what"; fi ;;
--verify)
	# Each option of the command line, checked where the kernel shows it.
	bad=0
	fail() { echo "memdbg: $*"; bad=1; }
	klog=$(dmesg)	# once: grep -q on a pipe would fail it by SIGPIPE
	for o in $(cat /proc/cmdline); do
		case "$o" in
		kfence.sample_interval=*)
			v=$(cat /sys/module/kfence/parameters/sample_interval 2>/dev/null)
			[ "$v" = "${o#*=}" ] || fail "KFENCE sample interval is '$v', not ${o#*=}" ;;
		slub_debug=*)
			# Any kmalloc cache shows the flags it was created with.
			d=/sys/kernel/slab/kmalloc-64
			for a in sanity_checks red_zone poison store_user; do
				[ "$(cat "$d/$a" 2>/dev/null)" = 1 ] || fail "kmalloc-64 $a is not 1"
			done ;;
		page_poison=1)
			# Printed at boot when poisoning overrides Debian's init_on_alloc.
			grep -q 'CONFIG_PAGE_POISONING is on' <<< "$klog" ||
				fail "no 'CONFIG_PAGE_POISONING is on' in dmesg" ;;
		init_on_free=1)
			grep -q 'heap free:on' <<< "$klog" || fail "init_on_free is not on" ;;
		panic_on_warn=1)
			[ "$(cat /proc/sys/kernel/panic_on_warn)" = 1 ] || fail "panic_on_warn is not 1" ;;
		esac
	done
	[ "$bad" = 0 ] && echo "memdbg: as asked: $(cat /proc/cmdline)"
	exit "$bad" ;;
*)
	echo "usage: memdbg.sh --cmdline KVER | --summary KVER | --verify" >&2
	exit 2 ;;
esac
