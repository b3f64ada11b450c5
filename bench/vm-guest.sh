#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs inside the test VM (listed by bench/vm-bulk.sh).  Prints TAP, the
# numbers as comments:
#  1 crypto facts: CPU flags TCG offers, OPENSSL_ia32cap as OpenSSL sees it,
#    AES/GHASH modules loaded at boot
#  2 atls_aead + atls_bulk as the kernel comes (kTLS's own request_module
#    picks the gcm(aes) implementation), then the gcm(aes) drivers of
#    /proc/crypto
#  3 the same after preloading aesni_intel and ghash_clmulni_intel (what
#    atls.ko/atlsd could do before the first socket)
#  4 atls_e2e: provisions this VM's TPM for atlsd (software key mode,
#    trusting itself), handshakes through atls.ko + atlsd with a quote per
#    handshake, atls-socket bulk, memory per socket
#  5 atls_e2e handshakes again with atlsd restarted on batch = true
#  6 atls_e2e handshakes again with atlsd restarted, policy
#    "unauthenticated" (the built-in policy where neither side attests nor
#    checks a certificate: TLS 1.3 through the same upcall and kTLS path)
#  7 atlsd's latency split at c=1 alone: for policy "unauthenticated"
#    (labelled "none"), "default" and
#    "default" with batch = true, atlsd restarted and atls_e2e POLICY hs 1
#    (runs 4-6 mix the c=1, c=16 and c=64 cells in one split; at c=64, 128
#    requests share the VM's two vCPUs)
# Around each atls_e2e run, atlsd's own counters (atlsctl counters): TPM
# commands of its TPM owner per handshake it completed, how its batches
# formed (leaves per quote, why they closed), and its latency split
# (upcall / handshake / done / total, p50 and p99).
# Arguments: MiB seconds [hs].  With "hs", only the handshake cells (issue
# 17's TPM wall): for each of policy none and batched (a quote per handshake
# takes minutes at c=64 in this VM and is left to the full run), and each of
# c=1, 16, 64, atlsd restarted and one atls_e2e cell (plain and atls in the
# same invocation), with that cell's own TPM commands per atlsd request and
# latency split; steps 1-3 and the bulk/memory part are skipped.  With
# ATLS_BENCH_ATLSD_B set to another atlsd binary, each batched cell for that
# one ("before") and this build's ("after") in turn, ATLS_BENCH_ROUNDS times
# (default 2), labelled before-batch-c64-1 and so on.
# With "hs-binding" (issue 16's cost figures), the same handshake cells for
# policy none (TLS 1.3 through atls.ko + atlsd, no evidence), the handshake
# binder and the exporter binding (both mutual attestation, batch = true), at
# c=1, 16 and 64, then a table of each cell against plain OpenSSL and
# against none of the same run.
# With "phases" (issue 17's accounting of the policy-none gap): policy none
# alone, c=1 and c=64 cells (two rounds each; ATLS_BENCH_PHASES_C and
# ATLS_BENCH_ROUNDS change both) with atlsd's latency split and
# its context switches per request (/proc, all its threads; with
# ATLS_BENCH_ATLSD_B set to another atlsd binary, each cell for that one,
# "before", and this build's, "after", in turn), then a c=1 cell of
# max(1, seconds / 2) with tracefs on (atls:*, setsockopt entry/exit,
# sched_wakeup, sched_switch) read by bench/phases.awk: p50 of each phase
# from the app's ATLS_START to its return, per role, and wake-ups and
# context switches per request.  Tracing slows the traced cell; its
# phases are read against each other, the ratios come from the untraced
# cells.
set -u
mib=${1:-4}
secs=${2:-5}
only_hs=${3:-}
b=$ATLS_BUILD
d=$TMPDIR/bench-e2e
rm -rf "$d"
mkdir -p "$d/run"
echo "TAP version 13"
case "$only_hs" in hs|hs-binding|phases) echo "1..2" ;; *) echo "1..7" ;; esac

gcm_drivers() {
	awk '/^name/ {n=$3} /^driver/ {d=$3} /^priority/ {p=$3}
	     /^$/ { if (n ~ /gcm|ghash|^aes$|ctr\(aes\)/) printf "# crypto %s %s prio %s\n", n, d, p }' /proc/crypto |
		sort -u
}
filter() { grep -v '^TAP\|^1\.\.\|^ok\|^not ok'; }

echo "# kernel $(uname -r), cpu flags: $(grep -m1 -o -w 'aes\|pclmulqdq\|avx\|avx2\|vaes\|vpclmulqdq\|movbe\|sse4_1\|ssse3' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "# $(openssl version); $(openssl info -cpusettings 2>/dev/null | head -n1)"
echo "# modules at boot: $(lsmod | awk 'NR>1 {print $1}' | grep -E 'aes|gcm|ghash|ctr|tls' | tr '\n' ' ')"
openssl speed -seconds 1 -bytes 16384 -evp aes-128-gcm 2>/dev/null | tail -n1 | sed 's/^/# openssl speed (16384 B, k bytes\/s): /'
echo "ok 1 facts"

if [ -n "$only_hs" ]; then
	modprobe -q aesni_intel
	modprobe -q ghash_clmulni_intel
else

echo "# --- as booted (kTLS asks the crypto API; modules via request_module)"
"$b/bench/atls_aead" 1 | filter
"$b/bench/atls_bulk" "$mib" | filter
echo "# modules now: $(lsmod | awk 'NR>1 {print $1}' | grep -E 'aes|gcm|ghash|ctr|tls' | tr '\n' ' ')"
gcm_drivers
echo "ok 2 as booted"

echo "# --- after modprobe aesni_intel ghash_clmulni_intel"
modprobe aesni_intel 2>&1 | sed 's/^/# /'
modprobe ghash_clmulni_intel 2>&1 | sed 's/^/# /'
echo "# modules now: $(lsmod | awk 'NR>1 {print $1}' | grep -E 'aes|gcm|ghash|ctr|tls' | tr '\n' ' ')"
"$b/bench/atls_aead" 1 | filter
"$b/bench/atls_bulk" "$mib" | filter
gcm_drivers
echo "ok 3 preloaded"
fi

export ATLS_STATE_DIR=$d/state ATLS_RUN_DIR=$d/run ATLS_TCTI=device:/dev/tpmrm0 TSS2_LOG=all+none
if ! { "$b/helperd/atlsctl" provision --software &&
       "$b/helperd/atlsctl" export "$d/exp" &&
       "$b/helperd/atlsctl" trust self "$d/exp"; } > "$d/provision.log" 2>&1; then
	sed 's/^/# /' "$d/provision.log"
	echo "not ok $([ -n "$only_hs" ] && echo 2 || echo 4) atls_e2e (provisioning)"
	exit 1
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench -keyout "$d/plain.key" -out "$d/plain.pem" > /dev/null 2>&1

# start_atlsd CONF LOG: atlsd ($atlsd_bin) in the background, waits for its socket.
atlsd_bin=$b/helperd/atlsd
start_atlsd() {
	conf=$1
	rm -f "$d/run/atlsd.sock"
	"$atlsd_bin" -c "$1" -w 16 > "$ATLS_RESULTS/$2" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -S "$d/run/atlsd.sock" ] && break; sleep 0.1; done
}
# atlsd_counters: "succeeded tpm_commands tpm_busy_ms" of the running atlsd,
# from its section of `atlsctl counters` (the kernel's section has counters
# of the same names), same configuration and ATLS_* environment as atlsd.
atlsd_counters() {
	"$b/helperd/atlsctl" -c "$conf" counters 2>/dev/null |
		awk '/^atlsd:/ {s = 1; next} /^kernel:/ {s = 0}
		     s && $1 == "succeeded" {h = $2} s && $1 == "tpm_commands" {n = $2}
		     s && $1 == "tpm_busy_ms" {ms = $2}
		     END {print h, n, ms}'
}
# tpm_report BEFORE AFTER (two atlsd_counters outputs): TPM commands per
# handshake atlsd completed.  atlsd counts requests: each attested
# connection of atls_e2e is two of them in this one atlsd (client and
# server side), so per connection is twice per request.
tpm_report() {
	echo "$1 $2" | awk '
		NF != 6 { print "# tpm commands: atlsd counters unavailable"; exit }
		{ h = $4 - $1; n = $5 - $2; ms = $6 - $3
		  printf "# tpm commands: %d over %d handshakes completed by atlsd = %s per handshake", n, h, h ? sprintf("%.3f", n / h) : "-"
		  printf " (per atlsd request, client or server side; per connection = 2 requests: %s)\n", h ? sprintf("%.3f", 2 * n / h) : "-"
		  printf "# tpm busy (queue + command, summed over requests): %d ms = %s ms per request\n", ms, h ? sprintf("%.2f", ms / h) : "-" }'
}
# batch_counters: atlsd's batch_* counters (quotes leaves largest full all_in
# deadline timed_out), from its section of `atlsctl counters`.
batch_counters() {
	"$b/helperd/atlsctl" -c "$conf" counters 2>/dev/null |
		awk '/^atlsd:/ {s = 1; next} /^kernel:/ {s = 0}
		     s && $1 ~ /^batch_/ {v[$1] = $2}
		     END {print v["batch_quotes"] + 0, v["batch_leaves"] + 0, v["batch_largest"] + 0,
				v["batch_closed_full"] + 0, v["batch_closed_all_in"] + 0,
				v["batch_closed_deadline"] + 0, v["batch_timed_out"] + 0}'
}
# batch_report BEFORE AFTER (two batch_counters outputs): how the cell's
# batches formed (protocol.rst, "Batching (attester)"): leaves per quote and
# why each batch closed (full; nobody else on the way; at the end of its
# wait: the measured patience, the window or half a deadline).
batch_report() {
	echo "$1 $2" | awk 'NF == 14 && $9 > $2 {
		q = $8 - $1; l = $9 - $2
		printf "# batches: %d quotes for %d leaves = %.1f leaves per quote (largest so far %d); closed full %d, all in %d, at the end of their wait %d; timed out %d\n",
		       q, l, q ? l / q : 0, $10, $11 - $4, $12 - $5, $13 - $6, $14 - $7 }'
}
# lat_report RUN: atlsd's latency split (atlsd(8): the lat_* lines, us, over
# its last <= 1024 successful requests since it started).  atlsd is restarted
# per run, so these are this run's requests: client and server sides, the
# c=1, c=16 and c=64 cells together, and in run 4 also the bulk and memory
# connections.
lat_report() {
	"$b/helperd/atlsctl" -c "$conf" counters 2>/dev/null |
		awk -v run="$1" '/^atlsd:/ {s = 1; next} /^kernel:/ {s = 0}
		     s && $1 == "lat_samples" {n = $2}
		     s && $1 ~ /^lat_[a-z]+_p(50|99)_us$/ {v[$1] = $2}
		     END {
			if (n == "" || n == 0) { print "# atlsd latency " run ": unavailable"; exit }
			split("upcall handshake done total", ph, " ")
			for (i = 1; i <= 4; i++)
				printf "# atlsd latency %-10s %-9s p50 %8d us  p99 %8d us  (%d requests)\n",
				       run, ph[i], v["lat_" ph[i] "_p50_us"], v["lat_" ph[i] "_p99_us"], n
		     }'
}
stop_atlsd() {
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# e2e_round CONF LOG LABEL [atls_e2e args after MiB]: atlsd on CONF, one
# atls_e2e run with TPM commands and the latency split around it; rc set.
e2e_round() {
	local conf_file=$1 log=$2 label=$3 before bc0
	shift 3
	start_atlsd "$conf_file" "$log"
	before=$(atlsd_counters) bc0=$(batch_counters)
	"$b/bench/atls_e2e" "$d/plain.pem" "$d/plain.key" "$secs" "$mib" "$@" | filter
	rc=${PIPESTATUS[0]}
	tpm_report "$before" "$(atlsd_counters)"
	batch_report "$bc0" "$(batch_counters)"
	lat_report "$label"
	stop_atlsd
}

# atlsd batches by default: the unbatched cells (a quote per handshake) say so.
printf 'key-mode = "software";\npolicies = { default = { batch = false; }; };\n' > "$d/atlsd.conf"
printf 'key-mode = "software";\npolicies = { default = { batch = true; }; };\n' > "$d/atlsd-batch.conf"
printf 'key-mode = "software";\npolicies = { default = { batch = true; binding = "exporter"; }; };\n' \
	> "$d/atlsd-expat.conf"

if [ "$only_hs" = hs-binding ]; then
	# One atlsd per cell, as for "hs"; the cells of a concurrency follow
	# each other (none, handshake binder, exporter binding), so the three
	# are compared at the closest times this VM offers.
	rc=0
	for c in 1 16 64; do
		for run in none binder exporter; do
			pol=default
			case $run in
			none) pol=unauthenticated cf=$d/atlsd.conf ;;
			binder) cf=$d/atlsd-batch.conf ;;
			exporter) cf=$d/atlsd-expat.conf ;;
			esac
			echo "# --- $run c=$c: atls_e2e $pol hs $c, $(basename "$cf")"
			e2e_round "$cf" "bench-atlsd-$run-c$c.log" "$run-c$c" "$pol" hs "$c" \
				> "$d/cell-$run-$c"
			cat "$d/cell-$run-$c"
			[ "$rc" = 0 ] || bad=1
		done
	done
	# The table: hs/s and p50 of each cell; x plain = against in-process
	# OpenSSL of the same cell, x none = against policy none at the same c;
	# TPM/req = atlsd's TPM commands per request of the cell.
	echo "# binding   conc    hs/s  x plain  x none  p50 ms  +p50 vs none  TPM/req"
	for c in 1 16 64; do
		for run in none binder exporter; do
			awk -v run="$run" -v c="$c" '
				# hs/s and p50 of the atls side, hs/s of the plain side
				function cell(l, v,   a) {
					v["plain"] = l; sub(/.*plain +/, "", v["plain"])
					split(v["plain"], a, /[ \/]+/); v["plain"] = a[1]
					sub(/.*\| atls +/, "", l); split(l, a, /[ \/]+/)
					v["hps"] = a[1]; v["p50"] = a[5]
				}
				FILENAME == ARGV[1] && /^# hs / { cell($0, nn) }
				FILENAME == ARGV[2] && /^# hs / { cell($0, me) }
				FILENAME == ARGV[2] && match($0, /= [0-9.]+ per handshake/) {
					tpm = substr($0, RSTART + 2, RLENGTH - 16)
				}
				END {
					if (me["hps"] == "" || nn["hps"] == "") {
						printf "# %-9s %4d  failed\n", run, c; exit
					}
					printf "# %-9s %4d %7.1f  %6.3f  %6.3f  %6.1f  %+8.1f ms   %s\n", run, c,
					       me["hps"], (me["plain"] > 0 ? me["hps"] / me["plain"] : 0),
					       (nn["hps"] > 0 ? me["hps"] / nn["hps"] : 0), me["p50"],
					       me["p50"] - nn["p50"], (tpm == "" ? "-" : tpm)
				}' "$d/cell-none-$c" "$d/cell-$run-$c"
		done
	done
	[ "${bad:-0}" = 0 ] && echo "ok 2 handshake cells by binding" ||
		echo "not ok 2 handshake cells by binding"
	exit 0
fi

# csw_atlsd: voluntary + involuntary context switches of atlsd's threads.
csw_atlsd() {
	cat /proc/"$pid"/task/*/status 2>/dev/null |
		awk '/^(non)?voluntary_ctxt_switches:/ {n += $2} END {print n + 0}'
}

if [ "$only_hs" = phases ]; then
	# Each atlsd binary ("after": this build's; "before": ATLS_BENCH_ATLSD_B,
	# e.g. main's, when given) in turn, twice per concurrency, so a
	# before/after comparison shares the VM, the run and the host's load.
	rc=0
	bins="after=$b/helperd/atlsd"
	[ -n "${ATLS_BENCH_ATLSD_B:-}" ] && bins="before=$ATLS_BENCH_ATLSD_B $bins"
	for c in ${ATLS_BENCH_PHASES_C:-1 64}; do
		for round in $(seq "${ATLS_BENCH_ROUNDS:-2}"); do
			for nb in $bins; do
				atlsd_bin=${nb#*=}
				echo "# --- ${nb%%=*} none c=$c round $round: atls_e2e unauthenticated hs $c, atlsd.conf"
				start_atlsd "$d/atlsd.conf" "bench-atlsd-${nb%%=*}-c$c-$round.log"
				before=$(atlsd_counters) csw0=$(csw_atlsd)
				"$b/bench/atls_e2e" "$d/plain.pem" "$d/plain.key" "$secs" "$mib" \
					unauthenticated hs "$c" | filter
				[ "${PIPESTATUS[0]}" = 0 ] || bad=1
				echo "$before $(atlsd_counters) $csw0 $(csw_atlsd)" |
					awk '{ h = $4 - $1; printf "# atlsd context switches: %d over %d requests = %s per request\n", $8 - $7, h, h ? sprintf("%.1f", ($8 - $7) / h) : "-" }'
				lat_report "${nb%%=*}-c$c"
				stop_atlsd
			done
		done
	done
	tr=/sys/kernel/tracing
	[ -d $tr/events ] || mount -t tracefs tracefs $tr
	for nb in $bins; do
		atlsd_bin=${nb#*=}
		echo "# --- ${nb%%=*} none c=1 traced (tracefs: atls:*, setsockopt, sched_wakeup, sched_switch)"
		start_atlsd "$d/atlsd.conf" "bench-atlsd-${nb%%=*}-trace.log"
		echo 0 > $tr/tracing_on
		echo > $tr/trace
		echo 8192 > $tr/buffer_size_kb
		for e in atls syscalls/sys_enter_setsockopt syscalls/sys_exit_setsockopt \
			 sched/sched_wakeup sched/sched_switch; do
			echo 1 > $tr/events/$e/enable || bad=1
		done
		echo 1 > $tr/tracing_on
		"$b/bench/atls_e2e" "$d/plain.pem" "$d/plain.key" \
			"$(awk -v s="$secs" 'BEGIN {print (s > 2 ? s / 2 : 1)}')" "$mib" unauthenticated hs 1 |
			filter
		echo 0 > $tr/tracing_on
		lat_report "${nb%%=*}-c1-traced"
		awk -v atlsd="$pid" -f "$ATLS_SRC/bench/phases.awk" $tr/trace
		grep -c . $tr/trace | sed 's/^/# trace lines: /'
		gzip -c $tr/trace > "$ATLS_RESULTS/phases-trace-${nb%%=*}.txt.gz"
		echo 0 > $tr/events/enable
		echo > $tr/trace
		stop_atlsd
	done
	atlsd_bin=$b/helperd/atlsd
	[ "${bad:-0}" = 0 ] && echo "ok 2 phase accounting" || echo "not ok 2 phase accounting"
	exit 0
fi

if [ "$only_hs" = hs ]; then
	# One cell per atlsd: its TPM commands per request and its latency
	# split are that cell's alone.  The none cells come first: they are the
	# reference the attested ones are read against (same VM, same run).
	# With ATLS_BENCH_ATLSD_B (another atlsd, e.g. main's), each batched
	# cell runs ATLS_BENCH_ROUNDS times with that one ("before") and this
	# build's ("after") in turn, so both share the VM, the run and the
	# host's load; the none cells (no batcher) run once with this build's.
	rc=0
	bins="after=$b/helperd/atlsd" rounds=1
	if [ -n "${ATLS_BENCH_ATLSD_B:-}" ]; then
		bins="before=$ATLS_BENCH_ATLSD_B $bins" rounds=${ATLS_BENCH_ROUNDS:-2}
	fi
	for run in none batch; do
		pol=unauthenticated cf=$d/atlsd.conf
		[ "$run" = batch ] && pol=default cf=$d/atlsd-batch.conf
		for c in 1 16 64; do
			for round in $(seq "$([ "$run" = batch ] && echo "$rounds" || echo 1)"); do
				for nb in $([ "$run" = batch ] && echo "$bins" || echo "after=$b/helperd/atlsd"); do
					atlsd_bin=${nb#*=}
					tag=$run-c$c
					[ -n "${ATLS_BENCH_ATLSD_B:-}" ] && tag=${nb%%=*}-$run-c$c-$round
					echo "# --- $tag: atls_e2e $pol hs $c, $(basename "$cf")"
					e2e_round "$cf" "bench-atlsd-$tag.log" "$tag" "$pol" hs "$c"
					[ "$rc" = 0 ] || bad=1
				done
			done
		done
	done
	atlsd_bin=$b/helperd/atlsd
	[ "${bad:-0}" = 0 ] && echo "ok 2 handshake cells" || echo "not ok 2 handshake cells"
	exit 0
fi

echo "# --- atlsd, quote per handshake"
e2e_round "$d/atlsd.conf" bench-atlsd.log default
[ "$rc" = 0 ] && echo "ok 4 atls_e2e" || echo "not ok 4 atls_e2e"

echo "# --- atlsd, batch = true (no fixed window, max 64)"
e2e_round "$d/atlsd-batch.conf" bench-atlsd-batch.log batch default hs
echo "# atlsd batch log: $(grep -ci batch "$ATLS_RESULTS/bench-atlsd-batch.log") lines mention batch"
grep -i batch "$ATLS_RESULTS/bench-atlsd-batch.log" | tail -n 2 | sed 's/^/# /'
[ "$rc" = 0 ] && echo "ok 5 atls_e2e batched" || echo "not ok 5 atls_e2e batched"

echo "# --- atlsd, policy \"unauthenticated\" (no evidence either way: plain TLS 1.3 via atls.ko + atlsd)"
e2e_round "$d/atlsd.conf" bench-atlsd-none.log none unauthenticated hs
[ "$rc" = 0 ] && echo "ok 6 atls_e2e no evidence" || echo "not ok 6 atls_e2e no evidence"

echo "# --- atlsd latency split at c=1 alone (atlsd restarted per policy)"
rc=0
for run in none default batch; do
	pol=$run cf=$d/atlsd.conf
	[ "$run" = none ] && pol=unauthenticated
	[ "$run" = batch ] && pol=default cf=$d/atlsd-batch.conf
	echo "# $run-c1: atls_e2e $pol hs 1, $(basename "$cf")"
	start_atlsd "$cf" "bench-atlsd-c1-$run.log"
	"$b/bench/atls_e2e" "$d/plain.pem" "$d/plain.key" "$secs" "$mib" "$pol" hs 1 | filter |
		grep '^# hs '
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	lat_report "$run-c1"
	stop_atlsd
done
[ "$rc" = 0 ] && echo "ok 7 latency split c=1" || echo "not ok 7 latency split c=1"
