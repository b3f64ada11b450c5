// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko module lifetime: unload is refused while an atls socket exists
 * (gated, pending or ready), succeeds once all are closed, and the module
 * loads again ($ATLS_KO). kTLS stays pinned by atls.ko while it is loaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "genl.h"
#include "net.h"
#include "sock.h"
#include "util.h"

static int rmmod_atls(void)
{
	return syscall(SYS_delete_module, "atls", O_NONBLOCK) ? -errno : 0;
}

static int insmod_atls(void)
{
	const char *ko = getenv("ATLS_KO");
	int fd, err;

	if (!ko)
		return -ENOENT;
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return err;
}

static bool loaded(void)
{
	return access("/sys/module/atls", F_OK) == 0;
}

TEST(unload_refused_while_sockets_exist)
{
	struct tl_serve s = { .n = 1, .cipher = TLS_CIPHER_AES_GCM_128 };
	struct tl_child c;
	int cli, srv, gated_c, gated_s, v, err;

	ASSERT_TRUE(loaded());
	/* atls.ko pins kTLS (it holds kTLS's ULP ops). */
	err = syscall(SYS_delete_module, "tls", O_NONBLOCK) ? -errno : 0;
	EXPECT_TRUE(err == -EWOULDBLOCK || err == -EBUSY) TH_LOG("rmmod tls: %s", strerror(-err));
	EXPECT_EQ(0, access("/sys/module/tls", F_OK));
	/* A gated socket. */
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &gated_c, &gated_s));
	ASSERT_EQ(0, tl_ulp(gated_c));
	err = rmmod_atls();
	EXPECT_TRUE(err == -EWOULDBLOCK || err == -EBUSY) TH_LOG("rmmod: %s", strerror(-err));
	EXPECT_TRUE(loaded());
	close(gated_c);
	close(gated_s);

	/* A ready socket. */
	ASSERT_EQ(0, tl_fork_helper(&c, tl_serve_fn, &s));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cli, &srv));
	ASSERT_EQ(0, tl_ulp(cli));
	ASSERT_EQ(0, tl_start(cli, ATLS_ROLE_CLIENT, 30000, 0));
	ASSERT_EQ(0, tl_helper_result(&c, &v, 5000));
	tl_helper_reap(&c);
	err = rmmod_atls();
	EXPECT_TRUE(err == -EWOULDBLOCK || err == -EBUSY) TH_LOG("rmmod: %s", strerror(-err));
	close(cli);
	close(srv);
}

TEST(unload_and_reload)
{
	int cli, srv, err, i;

	ASSERT_EQ(0, tl_wait_idle(30000));
	/* SLUB's active count includes per-cpu free objects, so the exact leak
	 * check is kmem_cache_destroy() at unload: it complains in dmesg (which
	 * the runner scans) about any object still allocated. */
	EXPECT_GE(tl_slab_active("atls_sock"), 0);
	{
		int sz = 0;

		if (tl_read_int("/sys/kernel/slab/atls_sock/object_size", &sz))
			sz = 0;
		TH_LOG("per-socket state: %d bytes (slab atls_sock)", sz);
	}
	/* Closed sockets may take a moment to be destroyed (ULP release);
	 * seconds on a stalled VM. */
	for (i = 0; i < 1000; i++) {
		err = rmmod_atls();
		if (!err || (err != -EWOULDBLOCK && err != -EBUSY))
			break;
		usleep(20000);
	}
	ASSERT_EQ(0, err) TH_LOG("rmmod: %s", strerror(-err));
	EXPECT_FALSE(loaded());
	EXPECT_EQ(-1, tl_slab_active("atls_sock"));	/* cache destroyed, nothing leaked */
	EXPECT_NE(0, access("/proc/net/atls", F_OK));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cli, &srv));
	EXPECT_EQ(-ENOENT, tl_ulp(cli));	/* no autoload without the module */
	close(cli);
	close(srv);
	ASSERT_EQ(0, insmod_atls());
	EXPECT_TRUE(loaded());
	EXPECT_EQ(0, tl_slab_active("atls_sock"));
	EXPECT_EQ(0, tl_proc_stat("active_sockets"));
	EXPECT_EQ(0, tl_proc_stat("live_requests"));
}

TEST_HARNESS_MAIN
