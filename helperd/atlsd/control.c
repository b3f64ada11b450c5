// SPDX-License-Identifier: Apache-2.0
/*
 * The control socket: a Unix stream socket (run-dir/atlsd.sock, mode 0600)
 * on which `atlsctl status` / `atlsctl counters` ask the running daemon what
 * it is doing.  One request line ("status" or "counters"), one text answer,
 * then the daemon closes.  Served from the main thread's poll loop; a client
 * gets 2 s to send its line (emulated or loaded machines are slow), so a
 * stuck client cannot stall the daemon for long.  Only the daemon's user
 * (root) can connect: file permission.
 *
 * One daemon per run directory: atlsd.sock.lock (same directory) is locked
 * (flock, exclusive) for the daemon's lifetime before the socket is made.
 * A second atlsd finds it locked and stops (-EADDRINUSE) instead of
 * unlinking the first one's socket; a socket file left by a daemon that
 * died is replaced, since its lock went with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atlsd.h"

struct atlsd_control {
	int fd;
	int lock_fd;		/* holds the lock until close */
	char path[108];
};

/* Lock path.lock for this daemon; -EADDRINUSE if another one holds it. */
static int lock_run_dir(const char *path)
{
	char lock[128];
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		int err = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

		close(fd);
		return err;
	}
	return fd;
}

int atlsd_control_open(const char *path, struct atlsd_control **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct atlsd_control *c;
	mode_t old;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	snprintf(c->path, sizeof(c->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->lock_fd = lock_run_dir(path);
	if (c->lock_fd < 0) {
		err = c->lock_fd;
		goto err_free;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		err = -errno;
		goto err_unlock;
	}
	unlink(path);
	old = umask(0177);
	err = bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (err || listen(c->fd, 8)) {
		err = err ? err : -errno;
		goto err_close;
	}
	*out = c;
	return 0;

err_close:
	close(c->fd);
err_unlock:
	close(c->lock_fd);
err_free:
	free(c);
	return err;
}

int atlsd_control_fd(struct atlsd_control *c)
{
	return c->fd;
}

void atlsd_control_serve(struct atlsd_control *c, struct atlsd_pool *p)
{
	char line[64], out[8192];
	struct pollfd pfd;
	ssize_t n;
	int fd;

	fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 2000) != 1)
		goto out;
	n = read(fd, line, sizeof(line) - 1);
	if (n <= 0)
		goto out;
	line[n] = 0;
	line[strcspn(line, "\r\n")] = 0;
	if (!strcmp(line, "status") || !strcmp(line, "counters")) {
		atlsd_pool_status(p, out, sizeof(out));
		if (!strcmp(line, "counters")) {
			/* counters: drop the per-request lines */
			char *r = strstr(out, "\nrequest ");

			if (r)
				r[1] = 0;
		}
	} else {
		snprintf(out, sizeof(out), "error unknown command\n");
	}
	if (write(fd, out, strlen(out)) < 0)
		log_dbg(0, "control: client went away");
out:
	close(fd);
}

void atlsd_control_close(struct atlsd_control *c)
{
	if (!c)
		return;
	close(c->fd);
	unlink(c->path);
	close(c->lock_fd);	/* after the unlink: a successor starts clean */
	free(c);
}
