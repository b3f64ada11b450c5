// SPDX-License-Identifier: Apache-2.0
/*
 * Privilege drop: from root to a dedicated user that keeps exactly one
 * capability, CAP_NET_ADMIN (the kernel's ACCEPT and DONE are admin-only,
 * GENL_ADMIN_PERM), plus the user's supplementary groups (Debian's TPM
 * device /dev/tpmrm0 belongs to group "tss").  Everything else (file
 * ownership override, module loading, ...) is dropped from every set, and
 * no_new_privs keeps it so for children.
 *
 * Done with prctl(PR_SET_KEEPCAPS) across setuid() and then capset(2) for
 * the remaining sets: raw system calls, no libcap needed.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "atlsd.h"

static int set_caps(uint64_t mask)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = (uint32_t)mask;
	d[1].effective = d[1].permitted = (uint32_t)(mask >> 32);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

int atlsd_drop_privileges(const char *user, char *err, size_t errlen)
{
	const uint64_t keep = 1ull << CAP_NET_ADMIN;
	struct passwd *pw;
	int cap, ret;

	if (!user || !*user)
		return 0;
	if (geteuid() != 0) {
		snprintf(err, errlen, "user \"%s\" configured but not started as root", user);
		return -EPERM;
	}
	pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "unknown user \"%s\"", user);
		return -ENOENT;
	}
	/*
	 * Nothing but CAP_NET_ADMIN may ever come back, not even via exec.
	 * Without CAP_SETPCAP (a systemd bounding set) the bounding set cannot
	 * shrink; no_new_privs below and an empty permitted set still keep
	 * the others out.
	 */
	for (cap = 0; cap <= 63; cap++) {
		if (cap == CAP_NET_ADMIN || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno == EPERM)
			break;
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) {
			snprintf(err, errlen, "cannot drop capability %d from the bounding set", cap);
			return -EPERM;
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || initgroups(pw->pw_name, pw->pw_gid) ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid)) {
		ret = -errno;
		snprintf(err, errlen, "cannot switch to user %s: %s", user, strerror(errno));
		return ret;
	}
	ret = set_caps(keep);
	if (ret) {
		snprintf(err, errlen, "cannot keep CAP_NET_ADMIN: %s", strerror(-ret));
		return ret;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (setuid(0) == 0) {
		snprintf(err, errlen, "could regain root after dropping privileges");
		return -EPERM;
	}
	return 0;
}
