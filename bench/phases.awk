# SPDX-License-Identifier: Apache-2.0
#
# bench/phases.awk: the phase accounting of atls handshakes from a tracefs
# text trace (its "trace" file, e.g. as saved by `trace-cmd record` and
# shown by the kernel's own formatting) with the events atls:*,
# syscalls:sys_enter_setsockopt,
# syscalls:sys_exit_setsockopt, sched:sched_wakeup and sched:sched_switch.
# Run by bench/vm-guest.sh ("phases"); usable on any such trace:
#
#   awk -v atlsd=PID -f bench/phases.awk trace
#
# atlsd: atlsd's process id (its main thread, the one that receives READY;
# a thread whose comm starts with "atlsd" counts as atlsd's).
# For each request (atls_req_created ... atls_req_ready), per role, the p50
# (and mean) of each phase in ms:
#   start      the app's setsockopt(SOL_ATLS, ATLS_START) entry -> the
#              request created (the module's checks, socket state)
#   READY      created -> READY multicast sent
#   d-wake     READY sent -> atlsd's main thread woken (the multicast's
#              receiver; 0 when it was awake already)
#   accept     main thread woken -> ACCEPT returned the request to a worker
#              (main thread runs, kicks the pool, a worker wakes, ACCEPT)
#   handshake  ACCEPT -> DONE received: atlsd's TLS handshake with the peer
#              (another request of the same atlsd on loopback)
#   keys       DONE received -> both directions' kTLS keys installed
#   ready      keys -> request ready (the module's bookkeeping)
#   app-ret    ready -> the app's setsockopt returned (its thread woken
#              and scheduled)
#   total      setsockopt entry -> return
# and, from the first request created to the end of the trace, wake-ups of
# atlsd's threads and context switches of atlsd and of the app (comm
# atls_e2e) per complete request.  Requests that did not complete within the
# trace are left out.
function ts(line,   a, n) {
	# "TASK-PID [CPU] FLAGS  SECS.USECS: event: ..."
	n = split(line, a, ": ")
	sub(/.* /, "", a[1])
	return a[1] + 0
}
function tid(line,   s) {
	s = line
	sub(/^ */, "", s)
	sub(/ +\[.*/, "", s)
	sub(/.*-/, "", s)
	return s + 0
}
function field(line, key,   s) {
	s = line
	if (!match(s, " " key "=[^ ]*"))
		return ""
	s = substr(s, RSTART + length(key) + 2, RLENGTH - length(key) - 2)
	return s
}
function med(v, n,   i, j, t, a) {
	for (i = 1; i <= n; i++) a[i] = v[i]
	for (i = 2; i <= n; i++) {	# insertion sort: n is small
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n ? a[int((n + 1) / 2)] : 0
}
/^#/ { next }
/ atls_req_created: / {
	id = field($0, "id"); t = ts($0)
	created[id] = t; role[id] = field($0, "role"); ino2id[field($0, "ino")] = id
	app[id] = tid($0); entry[id] = start_entry[app[id]]
	if (first == "" ) first = t
	next
}
/ sys_setsockopt\(/ {
	if ($0 ~ /level: (0x)?6174, optname: (0x)?1,/)	# SOL_ATLS, ATLS_START
		start_entry[tid($0)] = ts($0)
	next
}
/ atls_req_ready_sent: / { id = field($0, "id"); rsent[id] = ts($0); pend[id] = 1; next }
/ atls_req_accepted: / { accepted[field($0, "id")] = ts($0); next }
/ atls_done_received: / { done[field($0, "id")] = ts($0); next }
/ atls_keys_installed: / {
	id = ino2id[field($0, "ino")]
	if (id != "") keys[id] = ts($0)
	next
}
/ atls_req_ready: / {
	id = field($0, "id"); rdy[id] = ts($0); waitapp[app[id]] = id; last = rdy[id]
	next
}
/ sched_wakeup: / {
	p = field($0, "pid") + 0; t = ts($0)
	if (field($0, "comm") ~ /^atlsd/) {
		if (first != "") wake_d++
		if (p == atlsd)		# wakes for every READY sent since
			for (i in pend) { dwake[i] = t; delete pend[i] }
	}
	next
}
/ sched_switch: / {
	if (first == "") next
	if (field($0, "prev_comm") ~ /^atlsd/) sw_d++
	else if (field($0, "prev_comm") == "atls_e2e") sw_a++
	next
}
/ sys_setsockopt -> / {
	p = tid($0)
	if ((p in waitapp) && appret[waitapp[p]] == "") {
		appret[waitapp[p]] = ts($0); delete waitapp[p]
	}
	next
}
END {
	np = split("start READY d-wake accept handshake keys ready app-ret total", ph, " ")
	for (id in created) {
		if (appret[id] == "" || entry[id] == "" || accepted[id] == "" || keys[id] == "")
			continue
		# The main thread was awake already (another READY): no wake-up.
		if (dwake[id] == "" || dwake[id] > accepted[id])
			dwake[id] = rsent[id]
		r = role[id]; n[r]++; k = n[r]
		v[r, 1, k] = created[id] - entry[id]
		v[r, 2, k] = rsent[id] - created[id]
		v[r, 3, k] = dwake[id] - rsent[id]
		v[r, 4, k] = accepted[id] - dwake[id]
		v[r, 5, k] = done[id] - accepted[id]
		v[r, 6, k] = keys[id] - done[id]
		v[r, 7, k] = rdy[id] - keys[id]
		v[r, 8, k] = appret[id] - rdy[id]
		v[r, 9, k] = appret[id] - entry[id]
		nreq++
	}
	for (r = 1; r <= 2; r++) {
		if (!n[r]) continue
		printf "# phases role=%s (%d requests): phase p50 ms (mean ms)\n",
		       r == 1 ? "client" : "server", n[r]
		for (i = 1; i <= np; i++) {
			s = 0
			for (k = 1; k <= n[r]; k++) { x[k] = v[r, i, k] * 1000; s += x[k] }
			printf "# phase %-6s %-10s %8.3f (%8.3f)\n", r == 1 ? "client" : "server",
			       ph[i], med(x, n[r]), s / n[r]
		}
	}
	if (nreq)
		printf "# phases per request (%d complete, trace %.2f s): atlsd wake-ups %.1f, " \
		       "atlsd context switches %.1f, app context switches %.1f\n", nreq,
		       last - first, wake_d / nreq, sw_d / nreq, sw_a / nreq
	else
		print "# phases: no complete request in the trace"
}
