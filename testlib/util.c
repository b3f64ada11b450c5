// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Process-level test helpers: temporary directories, shell commands, threads,
 * time.  See util.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

char *tl_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/atls-%s.XXXXXX", base, tag) < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tl_rmtree(const char *dir)
{
	if (dir && *dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tl_path(const char *dir, const char *name)
{
	static __thread char bufs[8][512];
	static __thread unsigned int n;
	char *b = bufs[n++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

int tl_write_file(const char *path, const char *val, bool append)
{
	int fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

int tl_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int st;

	va_start(ap, fmt);
	st = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (st < 0)
		return -ENOMEM;
	st = system(cmd);
	free(cmd);
	if (st < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tl_read_hex(const char *path, uint8_t *out, size_t len)
{
	char buf[260];
	FILE *f = fopen(path, "r");
	size_t i;

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	if (strlen(buf) < 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned int b;

		if (sscanf(buf + 2 * i, "%2x", &b) != 1)
			return -1;
		out[i] = b;
	}
	return 0;
}

int tl_read_int(const char *path, int *v)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%d", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

long long tl_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long tl_now_ms(void)
{
	return (long)(tl_now_us() / 1000);
}

double tl_now_s(void)
{
	return (double)tl_now_us() / 1e6;
}

double tl_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *thread_main(void *p)
{
	struct tl_thread *t = p;

	t->ret = t->fn(t->arg);
	return NULL;
}

int tl_spawn(struct tl_thread *t, int (*fn)(void *), void *arg)
{
	pthread_t th;
	int ret;

	t->fn = fn;
	t->arg = arg;
	t->ret = -EINPROGRESS;
	ret = pthread_create(&th, NULL, thread_main, t);
	if (ret)
		return -ret;
	t->tid = (unsigned long)th;
	return 0;
}

int tl_join(struct tl_thread *t)
{
	pthread_join((pthread_t)t->tid, NULL);
	return t->ret;
}

/*
 * /proc/self/task/TID/syscall names the system call a blocked thread sleeps
 * in ("NR args... sp pc"), "running" while it runs, "-1 ..." when it is
 * blocked outside of one; the state in .../stat must say sleeping too.
 */
int tl_wait_in_syscall(pid_t tid, long nr, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;
	char path[64], buf[256], *p;
	long got;
	FILE *f;

	for (;;) {
		got = -2;
		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
		f = fopen(path, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld", &got) != 1)
				got = -2;
			fclose(f);
		}
		if (got == nr) {
			snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
			f = fopen(path, "r");
			if (f) {
				if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
				    p[1] == ' ' && p[2] == 'S') {
					fclose(f);
					return 0;
				}
				fclose(f);
			}
		}
		if (tl_now_ms() > end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

int tl_own_root(void)
{
	char esc[64];
	int root, i, err = 0;

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -errno;
	/* Out of the chroot: into a directory below it, then up past it
	 * (the working directory is not below the new root, so ".." is not
	 * stopped there), to the namespace's real root. */
	snprintf(esc, sizeof(esc), "/tmp/tl-own-root-%d", (int)getpid());
	if (mkdir(esc, 0700) || chdir("/") || chroot(esc))
		err = -errno;
	for (i = 0; !err && i < 64; i++)
		if (chdir(".."))
			err = -errno;
	if (!err && (chroot(".") || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)))
		err = -errno;
	/* The old root's mount onto "/", and in: the same tree, now the
	 * namespace's root. */
	if (!err && (fchdir(root) || mount(".", "/", NULL, MS_MOVE, NULL) ||
		     chroot(".") || chdir("/")))
		err = -errno;
	close(root);
	rmdir(esc);
	return err;
}
