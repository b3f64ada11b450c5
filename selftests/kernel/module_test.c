// SPDX-License-Identifier: GPL-2.0
/*
 * atls.ko loads, announces its version, unloads and loads again cleanly.
 *
 * Runs as root in the test VM, where the guest driver has already loaded the
 * module from $ATLS_KO. Uses the raw syscalls (finit_module, delete_module) so
 * the errno of each step is checked, and reads the kernel log through
 * /dev/kmsg to see the module's own messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kselftest_harness.h"

static int mod_load(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return ret;
}

static int mod_unload(void)
{
	return syscall(SYS_delete_module, "atls", O_NONBLOCK);
}

static int mod_present(void)
{
	struct stat st;

	return stat("/sys/module/atls", &st) == 0;
}

/* Does the kernel log (from now on: seek to end first) contain needle? */
static int kmsg_open_end(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static int kmsg_has(int fd, const char *needle)
{
	char rec[1024];
	ssize_t n;

	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = 0;
		if (strstr(rec, needle))
			return 1;
	}
	return 0;
}

static const char *ko(void)
{
	const char *p = getenv("ATLS_KO");

	return p && *p ? p : "atls.ko";
}

TEST(loaded_by_the_runner)
{
	char ver[128] = "";
	FILE *f;

	ASSERT_TRUE(mod_present()) TH_LOG("atls is not loaded");
	f = fopen("/sys/module/atls/version", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(ver, sizeof(ver), f));
	fclose(f);
	EXPECT_GT(strlen(ver), 1);
}

TEST(unload_and_reload_with_version_message)
{
	int kfd = kmsg_open_end();

	ASSERT_LE(0, kfd);
	ASSERT_TRUE(mod_present());
	ASSERT_EQ(0, mod_unload()) TH_LOG("delete_module: %s", strerror(errno));
	EXPECT_FALSE(mod_present());
	EXPECT_TRUE(kmsg_has(kfd, "atls: version"));

	ASSERT_EQ(0, mod_load(ko())) TH_LOG("finit_module %s: %s", ko(), strerror(errno));
	EXPECT_TRUE(mod_present());
	EXPECT_TRUE(kmsg_has(kfd, "loaded"));
	close(kfd);
}

TEST(second_load_is_eexist)
{
	ASSERT_TRUE(mod_present());
	EXPECT_EQ(-1, mod_load(ko()));
	EXPECT_EQ(EEXIST, errno);
}

TEST(unload_of_absent_module_is_enoent)
{
	ASSERT_EQ(0, mod_unload());
	EXPECT_EQ(-1, mod_unload());
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, mod_load(ko()));
}

TEST_HARNESS_MAIN
