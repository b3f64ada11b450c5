// SPDX-License-Identifier: GPL-2.0
/*
 * Programs nobody here wrote, unmodified, under atls-run (run/): Debian's
 * nginx serves VM a (plain "listen 8080;", sendfile on), Debian's curl and
 * wget fetch from VM b. Real atls.ko, real atlsd, each VM with its own swtpm.
 *
 *  fetch            curl and wget, a small file and a 3 MiB one, content
 *                   checked by SHA-256, and busybox's static wget through
 *                   socat under atls-run (an attested tunnel); nginx logged
 *                   every request (so it was served through the attested
 *                   listener), the capture of port 8080 on the link holds
 *                   no HTTP in clear
 *  pcr_change       VM a extends PCR 7: curl and wget fail to connect with
 *                   EACCES ("Permission denied": the server's evidence
 *                   rejected, atls-run(1)), atlsd on VM b says PCR
 *                   mismatch; nginx logged nothing more, the capture holds
 *                   no HTTP, and atlsd on VM a logged why each child failed
 *  refuses_static   atls-run refuses a statically linked program (busybox)
 *
 * Runs after pair_test (same VMs): the PCR change is the last thing done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "capture.h"
#include "util.h"
#include "vm.h"

#define IS_A (tl_vm.role == 'a')
#define PORT 8080

static int setup_ok;

TL_PAIR_FIXTURE(run, setup_ok);

static const char *d(void)
{
	return tl_vm.dir;
}

/*
 * Nothing here depends on how fast a VM is: what another process does
 * after the event we synchronised on (nginx's access-log line after the
 * response's last byte, atlsd's log line after its DONE, the kernel's
 * counter after the peer's alert) is waited for, up to a deadline far
 * beyond TCG's pace, and then checked exactly. The deadline is well below
 * the peer's barrier wait (TL_PEER_WAIT_MS): a wait that runs out on one
 * side still meets the other at the next test's start.
 */
#define WAIT_S 60

/* The exit status of the shell condition once it holds, or after WAIT_S. */
static int until(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int until(const char *fmt, ...)
{
	char cond[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cond, sizeof(cond), fmt, ap);
	va_end(ap);
	return tl_sh("end=$(($(date +%%s) + %d)); while [ $(date +%%s) -lt $end ]; do "
		     "{ %s; } && exit 0; sleep 0.1; done; %s", WAIT_S, cond, cond);
}

/* VM a: the rules, the files, nginx's configuration, nginx under atls-run. */
static int start_nginx(void)
{
	if (tl_sh("mkdir -p %s/www %s/ngx && echo 'listen %d' > %s/rules.conf && "
		    "printf 'small file served over attested kTLS\\n' > %s/www/small.txt && "
		    "head -c 3145728 /dev/urandom > %s/www/big.bin && "
		    "sha256sum < %s/www/big.bin | cut -d' ' -f1 > %s/big.sha",
		    d(), d(), PORT, d(), d(), d(), d(), tl_vm.xchg))
		return -1;
	if (tl_sh("cat > %s/nginx.conf <<EOF\n"
		    "daemon off;\nmaster_process on;\nworker_processes 2;\nuser root;\n"
		    "pid %s/ngx/nginx.pid;\nerror_log %s/ngx/error.log info;\n"
		    "events { worker_connections 64; }\n"
		    "http {\n  access_log %s/ngx/access.log;\n  sendfile on;\n"
		    "  client_body_temp_path %s/ngx/body;\n  proxy_temp_path %s/ngx/proxy;\n"
		    "  fastcgi_temp_path %s/ngx/fcgi;\n  uwsgi_temp_path %s/ngx/uwsgi;\n"
		    "  scgi_temp_path %s/ngx/scgi;\n"
		    "  server {\n    listen %d;\n    root %s/www;\n  }\n}\nEOF",
		    d(), d(), d(), d(), d(), d(), d(), d(), d(), PORT, d()))
		return -1;
	if (tl_sh("ATLS_RUN_VERBOSE=1 %s/run/atls-run --config %s/rules.conf "
		  "/usr/sbin/nginx -c %s/nginx.conf -p %s/ngx > %s/ngx/run.out 2>&1 &",
		  tl_vm.build, d(), d(), d(), d()))
		return -1;
	if (!until("grep -q ':%04X 00000000:0000 0A' /proc/net/tcp", PORT))
		return 0;
	tl_sh("cat %s/ngx/run.out %s/ngx/error.log >&2", d(), d());
	return -1;
}

/* nginx keeps sockets open (and atls.ko loaded): stop it, wait until gone. */
static void stop_nginx(void)
{
	if (tl_vm.role != 'a')
		return;
	tl_sh("p=$(cat %s/ngx/nginx.pid 2>/dev/null) && kill $p 2>/dev/null && "
	      "end=$(($(date +%%s) + %d)); while [ $(date +%%s) -lt $end ]; do "
	      "kill -0 $p 2>/dev/null || exit 0; sleep 0.1; done", d(), WAIT_S);
}

/*
 * VM b: fetch with PROGRAM under atls-run; output file name @out, its
 * messages in @out.err (curl -v and wget without -q: they name the errno
 * of a failed connect).
 */
static int fetch(const char *tool, const char *file, const char *out)
{
	if (!strcmp(tool, "curl"))
		return tl_sh("%s/run/atls-run --config %s/rules.conf curl -sS -v --fail "
			       "--max-time 120 -o %s/%s http://%s:%d/%s 2> %s/%s.err",
			       tl_vm.build, d(), d(), out, tl_vm.peer4, PORT, file, d(), out);
	return tl_sh("%s/run/atls-run --config %s/rules.conf wget -nv -T 120 -t 1 "
		       "-O %s/%s http://%s:%d/%s 2> %s/%s.err",
		       tl_vm.build, d(), d(), out, tl_vm.peer4, PORT, file, d(), out);
}

TEST_F_TIMEOUT(run, fetch, 600)
{
	struct tl_capture cap;

	if (IS_A) {
		ASSERT_EQ(0, tl_capture_start(&cap, PORT));
		ASSERT_EQ(0, start_nginx());
		ASSERT_EQ(0, tl_barrier("run-nginx-up"));
		ASSERT_EQ(0, tl_barrier("run-fetched"));
		tl_capture_stop(&cap);
		/* Five requests reached nginx, in the clear only inside it
		 * (nginx logs a request after its last byte went out). */
		EXPECT_EQ(0, until("test $(grep -c '\" 200 ' %s/ngx/access.log) -ge 5", d()));
		EXPECT_EQ(5, tl_sh("exit $(grep -c '\" 200 ' %s/ngx/access.log)", d()));
		EXPECT_LT(2 * 3145728, (long)cap.len[1]);	/* both big files went out */
		EXPECT_FALSE(tl_capture_has(&cap, "HTTP/1", 6));
		EXPECT_FALSE(tl_capture_has(&cap, "GET /", 5));
		EXPECT_FALSE(tl_capture_has(&cap, "attested kTLS", 13));
		tl_capture_free(&cap);
		EXPECT_EQ(0, tl_sh("grep -q 'attested listener' %s/ngx/run.out", d()));
	} else {
		ASSERT_EQ(0, tl_sh("echo 'connect %s:%d' > %s/rules.conf", tl_vm.peer4, PORT, d()));
		ASSERT_EQ(0, tl_barrier("run-nginx-up"));
		EXPECT_EQ(0, fetch("curl", "small.txt", "c-small"));
		EXPECT_EQ(0, fetch("curl", "big.bin", "c-big"));
		EXPECT_EQ(0, fetch("wget", "small.txt", "w-small"));
		EXPECT_EQ(0, fetch("wget", "big.bin", "w-big"));
		/* A static program through socat as an attested tunnel:
		 * once socat listens, one fetch (bounded by coreutils'
		 * timeout: Debian's busybox wget -T crashes). */
		EXPECT_EQ(0, tl_sh("%s/run/atls-run --config %s/rules.conf socat "
				     "TCP-LISTEN:9000,bind=127.0.0.1,reuseaddr,fork TCP:%s:%d "
				     "> %s/socat.out 2>&1 & echo $! > %s/socat.pid",
				     tl_vm.build, d(), tl_vm.peer4, PORT, d(), d()));
		EXPECT_EQ(0, until("grep -q '0100007F:2328 00000000:0000 0A' /proc/net/tcp"));
		EXPECT_EQ(0, tl_sh("timeout %d busybox wget -q -O %s/s-small "
				     "http://127.0.0.1:9000/small.txt", WAIT_S, d()));
		tl_sh("kill $(cat %s/socat.pid) 2>/dev/null", d());
		EXPECT_EQ(0, tl_sh("cmp -s %s/c-small %s/s-small", d(), d()));
		EXPECT_EQ(0, tl_sh("grep -qx 'small file served over attested kTLS' %s/c-small && "
				     "cmp -s %s/c-small %s/w-small", d(), d(), d()));
		EXPECT_EQ(0, tl_sh("test \"$(sha256sum < %s/c-big | cut -d' ' -f1)\" = "
				     "\"$(cat %s/big.sha)\"", d(), tl_vm.xchg));
		EXPECT_EQ(0, tl_sh("test \"$(sha256sum < %s/w-big | cut -d' ' -f1)\" = "
				     "\"$(cat %s/big.sha)\"", d(), tl_vm.xchg));
		ASSERT_EQ(0, tl_barrier("run-fetched"));
	}
}

TEST_F_TIMEOUT(run, pcr_change, 600)
{
	struct tl_capture cap;

	if (IS_A) {
		ASSERT_EQ(0, tl_sh("grep -c '\" 200 ' %s/ngx/access.log > %s/served.before",
				     d(), d()));
		ASSERT_EQ(0, tl_sh("awk '/^listen_failed /{print $2}' /proc/net/atls "
				     "> %s/lf.before", d()));
		ASSERT_EQ(0, tl_capture_start(&cap, PORT));
		ASSERT_EQ(0, tl_sh("tpm2_pcrextend 7:sha256=%s >&2",
				     "0101010101010101010101010101010101010101010101010101010101010101"));
		ASSERT_EQ(0, tl_barrier("run-pcr-changed"));
		ASSERT_EQ(0, tl_barrier("run-refused"));
		tl_capture_stop(&cap);
		EXPECT_LT(0, cap.len[0] + cap.len[1]);	/* handshakes were seen */
		EXPECT_FALSE(tl_capture_has(&cap, "GET /", 5));
		EXPECT_FALSE(tl_capture_has(&cap, "HTTP/1", 6));
		tl_capture_free(&cap);
		EXPECT_EQ(0, tl_sh("test \"$(grep -c '\" 200 ' %s/ngx/access.log)\" = "
				     "\"$(cat %s/served.before)\"", d(), d()));
		/*
		 * Two children failed (curl's, wget's): counted, and atlsd
		 * logged each with the reason. The peer's alert may reach us
		 * after its client gave up: wait for both.
		 */
		EXPECT_EQ(0, until("test $(awk '/^listen_failed /{print $2}' /proc/net/atls) "
				   "-ge $(($(cat %s/lf.before) + 2))", d()));
		EXPECT_EQ(0, tl_sh("test $(awk '/^listen_failed /{print $2}' /proc/net/atls) "
				   "-eq $(($(cat %s/lf.before) + 2))", d()));
		EXPECT_EQ(0, until("test $(grep -c 'failed after' %s) -ge 2", tl_vm.log));
		EXPECT_EQ(0, tl_sh("grep 'server for nginx' %s | grep -q accepted", tl_vm.log));
		stop_nginx();
	} else {
		ASSERT_EQ(0, tl_barrier("run-pcr-changed"));
		/* curl: "Couldn't connect to server" (exit 7); -v names the
		 * errno: "connect to ... failed: Permission denied". */
		EXPECT_EQ(7, fetch("curl", "small.txt", "c-refused"));
		EXPECT_EQ(0, tl_sh("grep -q 'failed: Permission denied' %s/c-refused.err || "
				   "{ sed 's/^/# curl: /' %s/c-refused.err >&2; exit 1; }", d(), d()));
		/* wget: network failure (exit 4), "failed: Permission denied." */
		EXPECT_EQ(4, fetch("wget", "small.txt", "w-refused"));
		EXPECT_EQ(0, tl_sh("grep -q 'failed: Permission denied' %s/w-refused.err", d()));
		/* atlsd on this side logged why, for both: the server's PCRs
		 * (logged after its verdict reached the kernel: wait). */
		EXPECT_EQ(0, until("test $(grep -c 'EACCES, reason 13: pcr-mismatch' %s) -ge 2",
				   tl_vm.log));
		ASSERT_EQ(0, tl_barrier("run-refused"));
	}
}

TEST_F_TIMEOUT(run, refuses_static, 300)
{
	EXPECT_EQ(126, tl_sh("%s/run/atls-run --config %s/rules.conf /bin/busybox true "
			       "2> %s/static.err", tl_vm.build, d(), d()));
	EXPECT_EQ(0, tl_sh("grep -q 'statically linked' %s/static.err", d()));
}

int main(int argc, char **argv)
{
	setup_ok = !tl_vm_setup("run");
	atexit(tl_vm_teardown);
	atexit(stop_nginx);	/* runs first */
	return test_harness_run(argc, argv);
}
