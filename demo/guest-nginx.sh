#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# `make demo-nginx`, inside one of the two VMs (see demo/guest.sh for how it
# runs). Programs nobody here wrote, unmodified: Debian's nginx on VM a, the
# server host, and Debian's curl on VM b, the client host, each run under
# atls-run (atls-run(1)) with a one-line rules file:
#   1-3. provision, exchange and trust, atlsd   (demo/lib.sh)
#   4. VM a: `listen 8080`, nginx (plain `listen 8080;`, sendfile on)
#   5. VM b: `connect 10.77.0.1:8080`, curl fetches a page and 2 MiB
#      (SHA-256 checked), both ends attested, encrypted by kTLS
#   6. a PCR of the server changes: curl fails with "Permission denied"
#      (EACCES: the server's evidence rejected), nginx sees nothing
set -u
# shellcheck source=demo/lib.sh
. "$(dirname "$0")/lib.sh"

demo_setup "server host, nginx" "client host, curl"
port=8080
ngx=$TMPDIR/ngx

served() { grep -c '" 200 ' "$ngx/access.log" 2>/dev/null; }
served_reaches() {	# N: nginx logs a request after its last byte went out
	for _ in $(seq 300); do [ "$(served)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}

if [ "$role" = a ]; then
	mkdir -p "$ngx/www"
	echo "listen $port" > "$TMPDIR/run.conf"
	echo "hello from nginx on VM a, over attested kTLS" > "$ngx/www/index.html"
	head -c 2097152 /dev/urandom > "$ngx/www/big.bin"
	sha256sum < "$ngx/www/big.bin" | cut -d' ' -f1 > "$X/big.sha"
	cat > "$ngx/nginx.conf" <<CONF
daemon off; master_process on; worker_processes 1; user root;
pid $ngx/nginx.pid; error_log $ngx/error.log;
events { worker_connections 64; }
http {
    access_log $ngx/access.log;
    sendfile on;
    client_body_temp_path $ngx/body; proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fcgi; uwsgi_temp_path $ngx/uwsgi; scgi_temp_path $ngx/scgi;
    server { listen $port; root $ngx/www; }
}
CONF
	say ""
	say "### nginx, unmodified, under atls-run: its port becomes an attested listener"
	say "\$ cat run.conf"
	cat "$TMPDIR/run.conf" >> "$log"
	say "\$ grep listen nginx.conf"
	grep -o 'listen [^;]*;' "$ngx/nginx.conf" >> "$log"
	say "\$ atls-run --config run.conf nginx -c nginx.conf &"
	ATLS_RUN_VERBOSE=1 "$B/run/atls-run" --config "$TMPDIR/run.conf" \
		/usr/sbin/nginx -c "$ngx/nginx.conf" -p "$ngx" > "$ngx/run.out" 2>&1 &
	up=0
	for _ in $(seq 600); do
		grep -q ":$(printf %04X $port) 00000000:0000 0A" /proc/net/tcp && { up=1; break; }
		sleep 0.1
	done
	grep 'attested listener' "$ngx/run.out" | uniq | sed 's/^/    /' >> "$log"
	check "nginx listening on an attested listener" \
		sh -c "[ $up = 1 ] && grep -q 'attested listener' '$ngx/run.out'"
	touch "$X/a.listening"
	wait_for "$X/b.fetched" 90
	check "nginx served both requests" served_reaches 2
	say ""
	say "### the server host's measured state changes: PCR 7 extended"
	before=$(served)
	step "extend PCR 7" tpm2_pcrextend "7:sha256=$(printf 'demo: new boot policy' | sha256sum | cut -d' ' -f1)"
	touch "$X/a.pcr-changed"
	wait_for "$X/b.done" 90
	check "nothing more reached nginx" test "$(served)" = "$before"
	say ""
	say "### nginx's access log: $(served) requests, none after the PCR change"
	sed 's/^/    /' "$ngx/access.log" >> "$log"
	kill "$(cat "$ngx/nginx.pid")" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$(cat "$ngx/nginx.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
else
	wait_for "$X/a.listening" 90
	echo "connect $ATLS_PEER_ADDR:$port" > "$TMPDIR/run.conf"
	say ""
	say "### curl, unmodified, under atls-run: its connections to VM a's port are attested"
	say "\$ cat run.conf"
	cat "$TMPDIR/run.conf" >> "$log"
	run="$B/run/atls-run --config $TMPDIR/run.conf"
	step "curl fetches the page over an attested connection" \
		$run curl -sS --max-time 60 "http://$ATLS_PEER_ADDR:$port/"
	step "curl fetches 2 MiB (sendfile on the server)" \
		$run curl -sS --max-time 60 -o "$TMPDIR/big.bin" "http://$ATLS_PEER_ADDR:$port/big.bin"
	check "the 2 MiB arrived intact (SHA-256)" \
		test "$(sha256sum < "$TMPDIR/big.bin" | cut -d' ' -f1)" = "$(cat "$X/big.sha")"
	say "    SHA-256 $(sha256sum < "$TMPDIR/big.bin" | cut -d' ' -f1), as served"
	touch "$X/b.fetched"
	wait_for "$X/a.pcr-changed" 90
	say ""
	say "### after the server's PCR 7 changed, fetch again: the client's policy refuses the server"
	say "\$ atls-run --config run.conf curl -sS -v http://$ATLS_PEER_ADDR:$port/"
	$run curl -sS -v --max-time 60 "http://$ATLS_PEER_ADDR:$port/" > "$TMPDIR/refused.out" 2>&1
	rc=$?
	grep -E 'connect to .* failed|^curl:' "$TMPDIR/refused.out" | sed 's/^/    /' >> "$log"
	say "    (curl exit status $rc)"
	check "curl refused: Permission denied (EACCES), exit 7" \
		sh -c "[ $rc = 7 ] && grep -q 'failed: Permission denied' '$TMPDIR/refused.out'"
	touch "$X/b.done"
fi

demo_finish "listen_"
