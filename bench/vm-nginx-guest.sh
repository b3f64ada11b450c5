#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs inside the test VM (listed by bench/nginx.sh).  Debian's nginx and
# Debian's wrk, loopback, one VM, one run, the same files, the same client:
#   tls        nginx's own TLS 1.3 (userspace OpenSSL), port 8443
#   ktls       nginx + OpenSSL kTLS (ssl_conf_command Options KTLS), 8444
#   atls-none  plain-HTTP nginx under atls-run, wrk under atls-run,
#              policy "unauthenticated" (no evidence either way), 8081
#   atls-att   the same, policy "default" (a TPM quote per handshake), 8082
#   atls-batch the same as atls-att, atlsd restarted with batch = true
# Cells per mode: req/s with a new connection per request (wrk -c CONC with
# "Connection: close", 1 KiB file), req/s with keep-alive (same file), MB/s
# of a large file over keep-alive (wrk -c 1).  TLS 1.3 is pinned to
# TLS_AES_128_GCM_SHA256 (what atls uses), no session resumption.  Whether
# kTLS really engaged is read from /proc/net/tls_stat around each mode.
# Prints TAP, the numbers as comments.  Arguments: MiB seconds conc.
set -u
mib=${1:-8}
secs=${2:-4}
conc=${3:-4}
b=$ATLS_BUILD
d=$TMPDIR/bench-nginx
rm -rf "$d"
mkdir -p "$d/run" "$d/www"
echo "TAP version 13"
echo "1..2"

# As udev would on an ordinary host (the VM's busybox init has none): the
# AES-NI and CLMUL drivers, kTLS (Documentation/performance.rst, finding 1).
modprobe aesni_intel 2> /dev/null
modprobe ghash_clmulni_intel 2> /dev/null
modprobe tls 2> /dev/null
echo "# kernel $(uname -r); $(openssl version); $(/usr/sbin/nginx -v 2>&1); $(wrk -v 2>&1 | head -n1)"
head -c 1024 /dev/urandom > "$d/www/small.bin"
head -c $((mib * 1048576)) /dev/urandom > "$d/www/large.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench -keyout "$d/ngx.key" -out "$d/ngx.pem" > /dev/null 2>&1

export ATLS_STATE_DIR=$d/state ATLS_RUN_DIR=$d/run ATLS_TCTI=device:/dev/tpmrm0 TSS2_LOG=all+none
if ! { "$b/helperd/atlsctl" provision --software &&
       "$b/helperd/atlsctl" export "$d/exp" &&
       "$b/helperd/atlsctl" trust self "$d/exp"; } > "$d/provision.log" 2>&1; then
	sed 's/^/# /' "$d/provision.log"
	echo "not ok 1 setup (provisioning)"
	exit 1
fi
# atlsd batches by default: the unbatched cells (a quote per handshake) say so.
printf 'key-mode = "software";\npolicies = { default = { batch = false; }; };\n' > "$d/atlsd.conf"
printf 'key-mode = "software";\npolicies = { default = { batch = true; }; };\n' > "$d/atlsd-batch.conf"

ssl="ssl_certificate $d/ngx.pem; ssl_certificate_key $d/ngx.key; ssl_protocols TLSv1.3;
        ssl_session_cache off; ssl_session_tickets off;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;"
cat > "$d/nginx.conf" <<CONF
daemon off; master_process on; worker_processes 1; user root;
pid $d/nginx.pid; error_log $d/error.log;
events { worker_connections 256; }
http {
    access_log off; sendfile on; keepalive_requests 1000000;
    client_body_temp_path $d/body; proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fcgi; uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
    server { listen 127.0.0.1:8443 ssl; root $d/www; $ssl }
    server { listen 127.0.0.1:8444 ssl; root $d/www; $ssl
        ssl_conf_command Options KTLS; }
    server { listen 127.0.0.1:8081; root $d/www; }
    server { listen 127.0.0.1:8082; root $d/www; }
}
CONF
printf 'listen 8081 policy=unauthenticated\nlisten 8082\n' > "$d/server.rules"
printf 'connect 127.0.0.1:8081 policy=unauthenticated\nconnect 127.0.0.1:8082\n' > "$d/client.rules"
# wrk's own summary, exact: requests, bytes, microseconds, errors.
cat > "$d/sum.lua" <<'LUA'
done = function(s, lat, req)
	io.write(string.format("WRK %d %d %d %d %d %d %d %d\n", s.requests, s.bytes,
		s.duration, s.errors.connect, s.errors.read, s.errors.write,
		s.errors.status, s.errors.timeout))
end
LUA

start_atlsd() {	# CONF
	rm -f "$d/run/atlsd.sock"
	"$b/helperd/atlsd" -c "$1" -w 16 >> "$ATLS_RESULTS/bench-nginx-atlsd.log" 2>&1 &
	atlsd=$!
	for _ in $(seq 600); do [ -S "$d/run/atlsd.sock" ] && break; sleep 0.1; done
}
stop_pid() { kill "$1" 2> /dev/null; wait "$1" 2> /dev/null; }
counters() {	# LABEL CONF: atlsd's and the kernel's handshake counters
	"$b/helperd/atlsctl" -c "$2" counters 2> /dev/null | grep -E '^(atlsd:|kernel:|succeeded|failed) ' |
		tr '\n' ' ' | sed "s/^/# $1 atlsctl counters: /; s/\$/\n/"
}
start_nginx() {
	ATLS_RUN_VERBOSE=1 "$b/run/atls-run" --config "$d/server.rules" \
		/usr/sbin/nginx -c "$d/nginx.conf" -p "$d" >> "$d/nginx.out" 2>&1 &
	nginx=$!
	for _ in $(seq 300); do
		grep -q ":1F92 00000000:0000 0A" /proc/net/tcp && break	# 8082
		sleep 0.1
	done
}
tls_stat() { awk '$1 == "TlsTxSw" {t = $2} $1 == "TlsRxSw" {r = $2} END {print t + 0, r + 0}' /proc/net/tls_stat 2> /dev/null; }

# cell MODE KIND URL [wrk args]: one wrk run; appends "MODE KIND value
# errors" to $d/res and prints it.  KIND new/ka: req/s; large: MB/s (10^6).
cell() {
	local mode=$1 kind=$2 url=$3 pre=() out
	shift 3
	case $mode in atls-*) pre=("$b/run/atls-run" --config "$d/client.rules") ;; esac
	out=$(timeout $((secs + 120)) "${pre[@]}" wrk -t 1 -d "${secs}s" --timeout 60s \
		-s "$d/sum.lua" "$@" "$url" 2>&1)
	echo "$out" | awk -v m="$mode" -v k="$kind" '$1 == "WRK" {
		s = $4 / 1e6; e = $5 + $6 + $7 + $8 + $9
		v = (k == "large") ? $3 / 1e6 / s : $2 / s
		printf "%s %s %.2f %d %d %d/%d/%d/%d/%d\n", m, k, v, $2, e, $5, $6, $7, $8, $9 }' |
		tee -a "$d/res" |
		awk '{ printf "# %-10s %-5s %10s  (%d responses, %d errors: connect/read/write/status/timeout %s)\n",
			      $1, $2, $3, $4, $5, $6 }'
	echo "$out" | grep -q '^WRK ' || { echo "$out" | sed 's/^/# wrk: /' | tail -n 5; fails=$((fails + 1)); }
}
# mode MODE URL-BASE: the three cells, kTLS counters around them.
mode() {
	local before after
	before=$(tls_stat)
	cell "$1" new "$2/small.bin" -c "$conc" -H "Connection: close"
	cell "$1" ka "$2/small.bin" -c "$conc"
	cell "$1" large "$2/large.bin" -c 1
	after=$(tls_stat)
	echo "$before $after" | awk -v m="$1" '{ printf "# %-10s /proc/net/tls_stat: TlsTxSw +%d, TlsRxSw +%d\n", m, $3 - $1, $4 - $2 }'
}

fails=0
: > "$d/res"
start_atlsd "$d/atlsd.conf"
start_nginx
grep -o 'attested listener.*' "$d/nginx.out" | sort -u | sed 's/^/# atls-run: /'
echo "# cells: $secs s each, new/ka at -c $conc, large ($mib MiB) at -c 1; req/s, MB/s = 10^6 B/s"
mode tls https://127.0.0.1:8443
mode ktls https://127.0.0.1:8444
mode atls-none http://127.0.0.1:8081
mode atls-att http://127.0.0.1:8082
counters "none+att" "$d/atlsd.conf"
stop_pid "$nginx"
stop_pid "$atlsd"
start_atlsd "$d/atlsd-batch.conf"
start_nginx
mode atls-batch http://127.0.0.1:8082
counters batch "$d/atlsd-batch.conf"
stop_pid "$nginx"
stop_pid "$atlsd"
[ -s "$d/error.log" ] && grep -v 'signal\|exiting\|worker process' "$d/error.log" | tail -n 5 | sed 's/^/# nginx error.log: /'
[ "$fails" = 0 ] && echo "ok 1 all cells ran" || echo "not ok 1 all cells ran ($fails failed)"

# Ratios against (1) nginx's own TLS and (2) nginx with kTLS.
awk '{ v[$1 " " $2] = $3 }
     function r(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "--" }
     END {
	printf "# %-10s %10s %10s %8s   %-18s %-18s %-18s\n", "mode", "new req/s", "ka req/s", "MB/s",
	       "new x tls/ktls", "ka x tls/ktls", "MB/s x tls/ktls"
	split("tls ktls atls-none atls-att atls-batch", ms, " ")
	for (i = 1; i <= 5; i++) {
		m = ms[i]
		printf "# %-10s %10s %10s %8s   %-18s %-18s %-18s\n", m, v[m " new"], v[m " ka"], v[m " large"],
		       r(v[m " new"], v["tls new"]) " / " r(v[m " new"], v["ktls new"]),
		       r(v[m " ka"], v["tls ka"]) " / " r(v[m " ka"], v["ktls ka"]),
		       r(v[m " large"], v["tls large"]) " / " r(v[m " large"], v["ktls large"])
	}
	printf "# target: atls-* large MB/s >= 1.0x ktls: none %s, att %s, batch %s\n",
	       r(v["atls-none large"], v["ktls large"]), r(v["atls-att large"], v["ktls large"]),
	       r(v["atls-batch large"], v["ktls large"])
	printf "# target: attested new req/s >= 0.5x tls: att %s, batch %s\n",
	       r(v["atls-att new"], v["tls new"]), r(v["atls-batch new"], v["tls new"])
     }' "$d/res"
echo "ok 2 ratios"
