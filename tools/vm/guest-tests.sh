#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Guest test driver, run by /init inside the VM in a chroot of the host root.
# Loads kTLS and atls.ko for this kernel, runs every test program of the list
# named in the environment (one TAP file per program in $ATLS_RESULTS), then
# unloads atls.ko. The infrastructure steps are reported as TAP too
# (vm-setup.tap), so a module that does not load or unload is a failure.
# Exit status: the number of failed steps and programs.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export TMPDIR=/tmp HOME=/tmp
export TPM2TOOLS_TCTI=device:/dev/tpmrm0 ATLS_TCTI=device:/dev/tpmrm0
# One TPM per VM, shared by the state directories of all test programs: one
# key secret for its keys, as on a host with one TPM (atls.conf(5), key-secret).
export ATLS_KEY_SECRET=/tmp/atls-tpm-key-secret
res=$ATLS_RESULTS
per_test_timeout=${ATLS_TEST_TIMEOUT:-300}

setup_tap=$res/vm-setup.tap
n=0
failed=0
step() {	# step NAME CMD...: one TAP line for an infrastructure step
	local name=$1 t0 t1; shift
	n=$((n + 1))
	read -r t0 _ < /proc/uptime
	if out=$("$@" 2>&1); then
		echo "ok $n $name" >> "$setup_tap"
	else
		echo "not ok $n $name" >> "$setup_tap"
		printf '# %s\n' "$out" >> "$setup_tap"
		failed=$((failed + 1))
	fi
	read -r t1 _ < /proc/uptime
	tap_time "$t0" "$t1" >> "$setup_tap"
}

# AES-NI is the aesni_intel module on every kernel here. The CLMUL GHASH is
# the ghash_clmulni_intel module up to 6.x; from 7.x it is part of the
# built-in GF(2^128) hash library (lib/crypto, CONFIG_CRYPTO_LIB_GF128HASH_ARCH)
# and there is no module to load: the kernel's modules.builtin says so.
crypto_coldplug() {
	local mods=/lib/modules/$(uname -r)
	modprobe aesni_intel || return 1
	if modinfo ghash_clmulni_intel >/dev/null 2>&1; then
		modprobe ghash_clmulni_intel
	else
		grep -q 'lib/crypto/libgf128hash' "$mods/modules.builtin" ||
			{ echo "no ghash_clmulni_intel module and no built-in gf128hash"; return 1; }
	fi
}

net_up() {	# the two-VM link: virtio-net on eth0, addresses from ATLS_ADDR
	modprobe virtio_net || return 1
	ip link set eth0 up && ip addr add "$ATLS_ADDR/24" dev eth0 &&
		ip -6 addr add "$ATLS_ADDR6/64" dev eth0 nodad
}

# Copies a program's TAP and adds after each result line a comment with the
# seconds since the previous result (or the program's start), so a slow test
# can be named: "# time 12.3s" (tap-summary.sh lists the slowest). The TAP
# itself is unchanged; a comment line counts for nothing. The programs run
# line-buffered (stdbuf -oL) so that each result line arrives when printed.
tap_time() {	# FROM TO (seconds of /proc/uptime, two decimals)
	local t=$(( 10#${2/./} - 10#${1/./} ))
	printf '# time %d.%02ds\n' $((t / 100)) $((t % 100))
}

tap_timed() {
	local line t0 t now
	read -r t0 _ < /proc/uptime
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		"ok "* | "not ok "*)
			read -r now _ < /proc/uptime
			tap_time "$t0" "$now"
			t0=$now ;;
		esac
	done
}

: > "$setup_tap"
# What udev's coldplug does on a real host for the CPU's crypto features
# (the rest of the CPU modalias, EDAC and RAPL drivers, fails in a VM).
# Without it kTLS builds gcm(aes) on the built-in generic C AES (Debian has
# AES-NI as a module and nothing else asks for it): about 1.7x slower bulk
# under TCG (Documentation/performance.rst).
step "AES-NI and CLMUL crypto modules (as udev coldplug)" crypto_coldplug
step "modprobe tls" modprobe tls
step "memory-error detection as booted (tools/vm/memdbg.sh)" \
	"$ATLS_SRC/tools/vm/memdbg.sh" --verify
if [ "${ATLS_NET:-0}" = 1 ]; then
	step "link eth0 up ($ATLS_ADDR)" net_up
fi
step "insmod atls.ko ($KVER)" insmod "$ATLS_KO"
step "test list readable" test -r "$ATLS_LIST"

while read -r t; do
	[ -n "$t" ] || continue
	name=${t#"$ATLS_BUILD"/}; name=${name#"$ATLS_SRC"/}; name=${name//\//_}
	if [ ! -x "$t" ]; then
		echo "1..1" > "$res/$name.tap"
		echo "not ok 1 $name # missing or not executable: $t" >> "$res/$name.tap"
		echo 1 > "$res/$name.rc"
		failed=$((failed + 1))
		continue
	fi
	echo "== $name (uptime $(cut -d' ' -f1 /proc/uptime))"
	(cd "$TMPDIR" && timeout -k 5 "$per_test_timeout" stdbuf -oL "$t") 2> "$res/$name.err" |
		tap_timed > "$res/$name.tap"
	rc=${PIPESTATUS[0]}
	echo "$rc" > "$res/$name.rc"
	[ "$rc" = 0 ] || failed=$((failed + 1))
	# Something must still be loaded for the next program.
	grep -q '^atls ' /proc/modules || insmod "$ATLS_KO" 2>/dev/null
done < "$ATLS_LIST"

step "rmmod atls" rmmod atls
step "atls.ko unloaded" test ! -e /sys/module/atls
echo "1..$n" >> "$setup_tap"
exit "$failed"
