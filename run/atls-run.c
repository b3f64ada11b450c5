// SPDX-License-Identifier: Apache-2.0
/*
 * atls-run [--config FILE] [--] PROGRAM [ARGS...]
 *
 * Runs an unmodified, dynamically linked program with libatls-run.so
 * preloaded, so that the sockets its rules name become attested atls
 * sockets (Documentation/atls-run.1.rst). Before it runs anything it
 * refuses, loudly and with exit status 126, what the library cannot cover,
 * so that nothing the rules name ever goes out in clear:
 *  - a statically linked program (no dynamic loader, no LD_PRELOAD);
 *  - a setuid or setgid program, or one with file capabilities (the loader
 *    runs those in secure-execution mode and ignores LD_PRELOAD);
 *  - a Go program (it makes its own system calls, not libc's);
 *  - for a script, the same checks on its interpreter.
 * It also turns io_uring off for the program and everything it runs
 * (io_uring_setup() fails with ENOSYS, a seccomp filter, with
 * no_new_privs): io_uring's connect would bypass the library. Programs fall
 * back to poll/epoll, or stop with their own message.
 * A rules file with an error is refused (exit 2) before the program starts.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "rules.h"

#ifndef ATLS_RUN_LIBDIR
#define ATLS_RUN_LIBDIR "/usr/lib/atls"
#endif
#define LIBNAME "libatls-run.so"

static void usage(void)
{
	fprintf(stderr, "usage: atls-run [--config FILE] [--] PROGRAM [ARGS...]\n");
	exit(2);
}

static void refuse(const char *prog, const char *why)
{
	fprintf(stderr, "atls-run: refusing to run %s: %s\n", prog, why);
	exit(126);
}

/* PROGRAM as execvp() would find it. */
static int resolve(const char *prog, char *out, size_t len)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(prog, '/')) {
		snprintf(out, len, "%s", prog);
		return access(out, X_OK) ? -1 : 0;
	}
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? path : ".", prog);
		if (!access(buf, X_OK)) {
			snprintf(out, len, "%s", buf);
			return 0;
		}
		path += n + (colon ? 1 : 0);
	}
	return -1;
}

/* Does the ELF file have a section named @want? */
static bool elf_has_section(int fd, const Elf64_Ehdr *eh, const char *want)
{
	Elf64_Shdr sh, strsh;
	char name[32];
	int i;

	if (!eh->e_shoff || eh->e_shstrndx == SHN_UNDEF ||
	    pread(fd, &strsh, sizeof(strsh), eh->e_shoff +
		  (off_t)eh->e_shstrndx * eh->e_shentsize) != sizeof(strsh))
		return false;
	for (i = 0; i < eh->e_shnum; i++) {
		if (pread(fd, &sh, sizeof(sh), eh->e_shoff + (off_t)i * eh->e_shentsize) !=
		    sizeof(sh))
			return false;
		memset(name, 0, sizeof(name));
		if (pread(fd, name, sizeof(name) - 1, strsh.sh_offset + sh.sh_name) > 0 &&
		    !strcmp(name, want))
			return true;
	}
	return false;
}

static void check_program(const char *path, int depth)
{
	unsigned char head[256];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	struct stat st;
	bool interp = false;
	ssize_t n;
	int fd, i;

	if (depth > 4)
		refuse(path, "too many nested script interpreters");
	if (stat(path, &st))
		refuse(path, strerror(errno));
	if (st.st_mode & (S_ISUID | S_ISGID))
		refuse(path, "it is setuid or setgid: the dynamic loader ignores "
		       "LD_PRELOAD for it, its sockets would not be attested");
	if (getxattr(path, "security.capability", NULL, 0) > 0)
		refuse(path, "it has file capabilities: the dynamic loader ignores "
		       "LD_PRELOAD for it, its sockets would not be attested");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		refuse(path, strerror(errno));
	n = pread(fd, head, sizeof(head) - 1, 0);
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		char *p = (char *)head + 2, *end;

		head[n] = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, " \t\n");
		*end = 0;
		close(fd);
		if (!*p)
			refuse(path, "a script without an interpreter");
		check_program(p, depth + 1);
		return;
	}
	if (n < (ssize_t)sizeof(eh) || memcmp(head, ELFMAG, SELFMAG))
		refuse(path, "not an ELF program or a script");
	memcpy(&eh, head, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64)
		refuse(path, "not a 64-bit ELF program");
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), eh.e_phoff + (off_t)i * eh.e_phentsize) !=
		    sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			interp = true;
	}
	if (!interp)
		refuse(path, "it is statically linked: no dynamic loader, no LD_PRELOAD "
		       "(use socat under atls-run as an attested tunnel, atls-run(1))");
	if (elf_has_section(fd, &eh, ".go.buildinfo"))
		refuse(path, "it is a Go program: it makes its own system calls, "
		       "which the preloaded library cannot see");
	close(fd);
}

/* io_uring_setup() -> ENOSYS for this process and everything it runs. */
static void no_io_uring(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* the x32 ABI's number has bit 30 set: same system call */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup | 0x40000000U, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		fprintf(stderr, "atls-run: cannot turn io_uring off: %s\n", strerror(errno));
		exit(126);
	}
}

/* libatls-run.so: $ATLS_RUN_LIB, next to this program, or the libdir. */
static void find_lib(char *out, size_t len)
{
	const char *env = getenv("ATLS_RUN_LIB");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env) {
		if (env[0] != '/' || access(env, R_OK))
			goto missing;
		snprintf(out, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash && (size_t)(slash - self) + sizeof(LIBNAME) + 1 < len) {
			memcpy(out, self, slash - self + 1);
			strcpy(out + (slash - self) + 1, LIBNAME);
			if (!access(out, R_OK))
				return;
		}
	}
	snprintf(out, len, "%s/%s", ATLS_RUN_LIBDIR, LIBNAME);
	if (!access(out, R_OK))
		return;
missing:
	fprintf(stderr, "atls-run: cannot find %s (set ATLS_RUN_LIB)\n", LIBNAME);
	exit(126);
}

int main(int argc, char **argv)
{
	const char *config = getenv("ATLS_RUN_CONFIG");
	struct atls_run_rules rules;
	char prog[PATH_MAX], lib[PATH_MAX], conf[PATH_MAX], err[512];
	const char *old;
	char *preload;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			config = argv[i + 1];
			i += 2;
		} else if (!strncmp(argv[i], "--config=", 9)) {
			config = argv[i] + 9;
			i++;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	if (!config)
		config = ATLS_RUN_DEFAULT_CONFIG;
	if (!realpath(config, conf)) {
		fprintf(stderr, "atls-run: %s: %s\n", config, strerror(errno));
		return 2;
	}
	if (atls_run_parse(conf, &rules, err, sizeof(err))) {
		fprintf(stderr, "atls-run: %s\n", err);
		return 2;
	}
	if (resolve(argv[i], prog, sizeof(prog))) {
		fprintf(stderr, "atls-run: %s: command not found\n", argv[i]);
		return 127;
	}
	check_program(prog, 0);
	find_lib(lib, sizeof(lib));

	old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0)
		return 126;
	setenv("LD_PRELOAD", preload, 1);
	setenv("ATLS_RUN_CONFIG", conf, 1);
	no_io_uring();
	execv(prog, argv + i);
	fprintf(stderr, "atls-run: %s: %s\n", prog, strerror(errno));
	return 126;
}
