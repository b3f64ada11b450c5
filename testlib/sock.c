// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * The atls socket API as an application uses it, and the module's counters.
 * See sock.h.
 */
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "sock.h"
#include "util.h"

int tl_ulp(int fd)
{
	return setsockopt(fd, SOL_TCP, TCP_ULP, ATLS_ULP_NAME,
			  sizeof(ATLS_ULP_NAME)) ? -errno : 0;
}

void tl_start_init(struct atls_start *st, uint32_t role, uint32_t timeout_ms)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->role = role;
	st->timeout_ms = timeout_ms;
	strcpy(st->policy, "test");
	strcpy(st->peer, "peer.test");
}

int tl_start(int fd, uint32_t role, uint32_t timeout_ms, uint32_t flags)
{
	struct atls_start st;

	tl_start_init(&st, role, timeout_ms);
	st.flags = flags;
	return setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)) ? -errno : 0;
}

int tl_status(int fd, struct atls_status *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0, sizeof(*st));
	return getsockopt(fd, SOL_ATLS, ATLS_STATUS, st, &len) ? -errno : 0;
}

int tl_wait_state(int fd, uint32_t state, int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;
	struct atls_status st;

	do {
		if (tl_status(fd, &st))
			return -errno;
		if (st.state == state)
			return 0;
		usleep(2000);
	} while (tl_now_ms() < end);
	return -ETIMEDOUT;
}

int tl_atls(int fd, int role, const char *policy, unsigned int flags)
{
	struct atls_start st;

	if (tl_ulp(fd))
		return errno;
	memset(&st, 0, sizeof(st));
	st.size = sizeof(st);
	st.role = role;
	st.flags = flags;
	st.timeout_ms = 100000;
	snprintf(st.policy, sizeof(st.policy), "%s", policy);
	if (setsockopt(fd, SOL_ATLS, ATLS_START, &st, sizeof(st)))
		return errno;
	return 0;
}

int tl_serve_one(int port, const char *policy, int timeout_ms, int *err)
{
	int l = tl_listen_any(port), fd;

	*err = -1;
	if (l < 0)
		return -1;
	fd = tl_accept(l, timeout_ms);
	close(l);
	if (fd < 0)
		return -1;
	*err = tl_atls(fd, ATLS_ROLE_SERVER, policy, 0);
	return fd;
}

void *tl_conn_server(void *conn)
{
	struct tl_conn *k = conn;
	int fd = tl_serve_one(k->port, k->policy, 60000, &k->err_s);

	if (fd >= 0)
		close(fd);
	return NULL;
}

void *tl_conn_client(void *conn)
{
	struct tl_conn *k = conn;
	int c = tl_connect_from(k->src, "127.0.0.1", k->port, 60000);

	k->err_c = c < 0 ? -1 : tl_atls(c, ATLS_ROLE_CLIENT, k->policy, 0);
	if (c >= 0)
		close(c);
	return NULL;
}

int tl_conn_run(struct tl_conn *k)
{
	pthread_t ts, tc;

	if (pthread_create(&ts, NULL, tl_conn_server, k))
		return -1;
	if (pthread_create(&tc, NULL, tl_conn_client, k)) {
		pthread_join(ts, NULL);
		return -1;
	}
	pthread_join(tc, NULL);
	pthread_join(ts, NULL);
	return 0;
}

int tl_peer_info(int fd, struct atls_peer_info *pi)
{
	socklen_t l = sizeof(*pi);

	memset(pi, 0, sizeof(*pi));
	return getsockopt(fd, SOL_ATLS, ATLS_PEER_INFO, pi, &l) ? errno : 0;
}

/* The value of @name in a file of "name value ..." lines; -1 if it has no
 * such line, no_file if it cannot be read. */
static long stat_file(const char *path, const char *name, long no_file)
{
	char line[512], key[64];
	long v, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return no_file;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", key, &v) == 2 && !strcmp(key, name))
			ret = v;
	fclose(f);
	return ret;
}

int tl_atls_param(const char *name, long v)
{
	char path[128], val[24];

	if (snprintf(path, sizeof(path), "/sys/module/atls/parameters/%s", name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	snprintf(val, sizeof(val), "%ld\n", v);
	return tl_write_file(path, val, false);
}

long tl_proc_stat(const char *name)
{
	return stat_file("/proc/net/atls", name, -1);
}

long tl_tls_stat(const char *name)
{
	return stat_file("/proc/net/tls_stat", name, -1);
}

long tl_slab_active(const char *name)
{
	return stat_file("/proc/slabinfo", name, -2);
}

#define KFENCE_OBJECTS "/sys/kernel/debug/kfence/objects"

/*
 * KFENCE's list of its objects (debugfs), one block per object that was ever
 * used: a "kfence-#N: ADDR-ADDR, size=S, cache=NAME" line, then "allocated by
 * task ...", and for an object no longer in use "freed by task ..." (or, from
 * 6.12, "rcu freeing by task ..." for a SLAB_TYPESAFE_BY_RCU cache).
 */
long tl_kfence_in_use(const char *name)
{
	char want[128], *line = NULL;
	bool mine = false, freed = false;
	long n = 0;
	size_t cap = 0;
	int iv = 0;
	FILE *f;

	f = fopen(KFENCE_OBJECTS, "r");
	if (!f) {
		/* Not built in, or never sampling (Debian builds it with
		 * sampling off): KFENCE holds no object. */
		if (tl_read_int("/sys/module/kfence/parameters/sample_interval", &iv) || !iv)
			return 0;
		/* Sampling, so this list is needed: debugfs, as a
		 * Debian host mounts it (EBUSY: mounted meanwhile). */
		if (mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL) && errno != EBUSY)
			return -3;
		f = fopen(KFENCE_OBJECTS, "r");
		if (!f)
			return -3;
	}
	snprintf(want, sizeof(want), ", cache=%s\n", name);
	while (getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "kfence-#", 8)) {
			n += mine && !freed;
			mine = strlen(line) > strlen(want) &&
			       !strcmp(line + strlen(line) - strlen(want), want);
			freed = false;
		} else if (!strncmp(line, "freed by task", 13) ||
			   !strncmp(line, "rcu freeing by task", 19)) {
			freed = true;
		}
	}
	n += mine && !freed;
	free(line);
	fclose(f);
	return n;
}

long tl_slab_in_use(const char *name)
{
	char path[128];
	long slab, kfence;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", name);
	f = fopen(path, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	slab = tl_slab_active(name);
	if (slab < 0)
		return slab;
	kfence = tl_kfence_in_use(name);
	return kfence < 0 ? kfence : slab + kfence;
}

int tl_wait_idle(int timeout_ms)
{
	long end = tl_now_ms() + timeout_ms;

	while (tl_proc_stat("live_requests") != 0) {
		if (tl_now_ms() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
	return 0;
}
