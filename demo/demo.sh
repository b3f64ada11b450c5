#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make demo`: two VMs, each with its own TPM (swtpm), joined by a virtual
# link. Both are provisioned, exchange their AK public keys and PCR digests,
# start atlsd; the echo pair then runs with mutual attestation (message and
# sendfile over kTLS), and after a PCR of the server changes the client
# refuses to connect. The guests' transcripts are printed here afterwards.
#
# `make demo-nginx` (demo.sh nginx): the same two hosts, with Debian's nginx
# and curl unmodified under atls-run instead of atls-echo (demo/guest-nginx.sh).
#
# Environment: DEMO_KVER (default: the first kernel of scripts/kvers.sh),
# B (build dir). Needs `make all` first (make demo does it).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SRC:=$(cd "$here/.." && pwd)}" "${B:=$SRC/build}"
export SRC B
kver=${DEMO_KVER:-$("$SRC/scripts/kvers.sh" | awk '{print $1; exit}')}
what=${1:-echo}
case "$what" in
echo)	guest=$SRC/demo/guest.sh out=$B/demo
	need="helperd/atlsd helperd/atlsctl examples/atls-echo" ;;
nginx)	guest=$SRC/demo/guest-nginx.sh out=$B/demo-nginx
	need="helperd/atlsd helperd/atlsctl run/atls-run run/libatls-run.so" ;;
*)	echo "usage: demo.sh [echo|nginx]" >&2; exit 2 ;;
esac
t0=$(date +%s)

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }

for f in $need "kmod/$kver/atls.ko"; do
	if [ ! -e "$B/$f" ]; then
		echo "demo: $B/$f is missing: run \`make\` first (make demo does)" >&2
		exit 1
	fi
done
[ -n "$kver" ] || { echo "demo: no Debian kernel found (scripts/kvers.sh)" >&2; exit 1; }

if [ "$what" = nginx ] && { ! [ -x /usr/sbin/nginx ] || ! command -v curl > /dev/null; }; then
	echo "demo: nginx and curl are missing: run ./scripts/deps.sh" >&2
	exit 1
fi
mkdir -p "$out"
echo "$guest" > "$out/list"
bold "atls demo: two VMs (kernel $kver), each with its own TPM, linked 10.77.0.1 <-> 10.77.0.2"
if [ "$what" = nginx ]; then
	echo "booting; provisioning, key exchange, atlsd, nginx and curl under atls-run, the refusal..."
else
	echo "booting; provisioning, key exchange, atlsd, attested echo and the refusal run inside..."
fi
"$SRC/tools/vm/pair.sh" --kver "$kver" --list-a "$out/list" --list-b "$out/list" \
	--out "$out/run" --timeout 300 > "$out/pair.log" 2>&1
rc=$?

show() {	# VM LABEL
	local f=$out/run/$1/demo.log
	echo
	bold "================ $2 ================"
	if [ -s "$f" ]; then
		# The daemon's log only for what it did per request.
		awk '/^### atlsd log/ { d = 1; print; next }
		     d && !/req [0-9]+:/ && !/ready:/ { next }
		     { print }' "$f"
	else
		echo "(no transcript: see $out/run/$1/guest.log and serial.log)"
		tail -n 20 "$out/run/$1/guest.log" 2>/dev/null
	fi
}
if [ "$what" = nginx ]; then
	show a "VM a: server host, nginx"
	show b "VM b: client host, curl"
else
	show a "VM a: server host"
	show b "VM b: client host"
fi

ok=1
for v in a b; do
	[ "$(cat "$out/run/$v/vm.status" 2>/dev/null)" = "reported 0" ] || ok=0
done
[ "$rc" = 0 ] || ok=0
echo
bold "================ summary ================"
grep -h "verdict:" "$out/run/a/demo.log" 2>/dev/null | head -n 1 | sed 's/^/VM a judged VM b:  /'
grep -h "verdict:" "$out/run/b/demo.log" 2>/dev/null | head -n 1 | sed 's/^/VM b judged VM a:  /'
if [ "$what" = nginx ]; then
	grep -h "req [0-9]*: ready after" "$out/run/b/demo.log" 2>/dev/null | head -n 1 |
		sed 's/.*): /curl to nginx:     /'
	grep -h "^hello from nginx" "$out/run/b/demo.log" 2>/dev/null | sed 's/^/curl got:          /'
	grep -h "SHA-256 .* as served" "$out/run/b/demo.log" 2>/dev/null | sed 's/^ */2 MiB (sendfile): /'
	grep -h "connect to .* failed" "$out/run/b/demo.log" 2>/dev/null | head -n 1 |
		sed 's/^ *\** */after PCR change:  curl: /'
	grep -h "### nginx's access log" "$out/run/a/demo.log" 2>/dev/null | sed 's/^### /  server side:     /'
else
	grep -h "echo: " "$out/run/b/demo.log" 2>/dev/null | sed 's/^/data over kTLS:    /'
	grep -h "REFUSED" "$out/run/b/demo.log" 2>/dev/null | head -n 1 | sed 's/^/after PCR change:  /'
	grep -h "REFUSED" "$out/run/a/demo.log" 2>/dev/null | head -n 1 | sed 's/^/  server side:     /'
fi
echo "total $(( $(date +%s) - t0 ))s; full logs in $out/run/{a,b}/"
if [ "$ok" = 1 ]; then
	bold "demo: OK"
	exit 0
fi
bold "demo: FAILED (vm status: a $(cat "$out/run/a/vm.status" 2>/dev/null), b $(cat "$out/run/b/vm.status" 2>/dev/null))"
exit 1
