// SPDX-License-Identifier: Apache-2.0
/*
 * The worker pool: N threads, each with its own netlink command socket,
 * each running one handshake at a time from ACCEPT to DONE.
 *
 * Waking: the main thread turns every READY multicast into a generation
 * bump plus a broadcast.  An idle worker ACCEPTs until the kernel answers
 * EAGAIN (nothing pending) and then sleeps until the generation moves; a
 * worker that finishes a request tries ACCEPT again before sleeping, so work
 * queued while every worker was busy is picked up without a new READY.  The
 * sleep is bounded (one second) as a safety net for a lost multicast.
 *
 * The active table (one slot per worker, guarded by pool->lock) records what
 * each worker runs, for status and for ABORT: an ABORT of a request in
 * progress shuts its socket down so the handshake fails at once instead of
 * running into its timeout.  A worker empties its slot before DONE (after
 * which the kernel closes the fd), so the main thread never touches an fd
 * that may already be closed or reused.
 *
 * The fd: on any DONE that reaches the request the kernel closes it; when
 * DONE is refused (stale request, aborted meanwhile) it does not.  The
 * worker keeps a duplicate across DONE and closes the original only if it
 * still names the same socket afterwards, which is race-free because
 * nothing else closes that fd and a reused number would name another file.
 *
 * Stop: the stopping flag is set, every active socket is shut down (the
 * application sees ECONNABORTED, reason SHUTDOWN, nothing in clear), the
 * workers send their DONE and exit, and are joined.
 *
 * Engine: pool->engine (guarded by lock) is the current configuration; a
 * worker takes a reference for one request, so SIGHUP never pulls a
 * context from under a running handshake.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "atlsd.h"

struct slot {
	uint64_t id;		/* 0 = idle */
	int fd;
	bool aborted;
	enum atlsd_role role;
	char policy[ATLSD_POLICY_MAX];
	char comm[32];
	uint32_t pid;
	struct timespec start;
};

struct worker {
	struct atlsd_pool *pool;
	unsigned int idx;
	pthread_t tid;
	bool started;
};

struct atlsd_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t gen;
	bool stopping;
	struct atlsd_engine *engine;
	unsigned int n;
	struct worker *w;
	struct slot *slots;
	struct atlsd_stats st;
};

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EACCES: return "EACCES";
	case EKEYREJECTED: return "EKEYREJECTED";
	case ECONNRESET: return "ECONNRESET";
	case EPROTO: return "EPROTO";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ECONNABORTED: return "ECONNABORTED";
	default: return "E?";
	}
}

/* Close the request's fd unless DONE already made the kernel close it. */
static void close_if_same(int fd, int keep)
{
	struct stat a, b;

	if (keep >= 0 && !fstat(fd, &a) && !fstat(keep, &b) && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		close(fd);
}

static void handle(struct worker *w, struct atlsd_nl *nl, struct atlsd_request *req)
{
	struct atlsd_pool *p = w->pool;
	struct slot *s = &p->slots[w->idx];
	struct atlsd_engine *e;
	struct atlsd_outcome o;
	struct timespec t0;
	bool stop, aborted;
	int err, keep;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&p->lock);
	e = p->engine;
	atlsd_engine_get(e);
	s->id = req->id;
	s->fd = req->fd;
	s->aborted = false;
	s->role = req->role;
	s->pid = req->app_pid;
	s->start = t0;
	snprintf(s->policy, sizeof(s->policy), "%s", req->policy);
	snprintf(s->comm, sizeof(s->comm), "%s", req->app_comm);
	p->st.accepted++;
	stop = p->stopping;
	pthread_mutex_unlock(&p->lock);

	log_info(req->id, "accepted: %s for %s[%u] uid %u, policy \"%s\"%s%s, timeout %u ms",
		 req->role == ATLSD_ROLE_CLIENT ? "client" : "server", req->app_comm,
		 req->app_pid, req->app_uid, req->policy[0] ? req->policy : "default",
		 req->peer[0] ? ", peer " : "", req->peer, req->timeout_ms);
	if (stop) {
		memset(&o, 0, sizeof(o));
		o.status = -ECONNABORTED;
		o.reason = ATLSD_R_SHUTDOWN;
		snprintf(o.text, sizeof(o.text), "atlsd is shutting down");
	} else {
		atlsd_engine_run(e, req, &o);
	}
	atlsd_engine_put(e);

	pthread_mutex_lock(&p->lock);
	aborted = s->aborted;
	stop = p->stopping;
	s->id = 0;
	s->fd = -1;
	pthread_mutex_unlock(&p->lock);
	if (o.status && stop && !aborted) {
		o.status = -ECONNABORTED;
		o.reason = ATLSD_R_SHUTDOWN;
	}

	keep = fcntl(req->fd, F_DUPFD_CLOEXEC, 0);
	err = atlsd_nl_done(nl, req, &o);
	explicit_bzero(o.tx, sizeof(o.tx));
	explicit_bzero(o.rx, sizeof(o.rx));
	if (err)
		close_if_same(req->fd, keep);
	if (keep >= 0)
		close(keep);

	pthread_mutex_lock(&p->lock);
	if (aborted)
		p->st.aborted++;
	else if (err)
		p->st.done_rejected++;
	else if (o.status)
		p->st.failed++;
	else
		p->st.succeeded++;
	pthread_mutex_unlock(&p->lock);

	if (aborted)
		log_info(req->id, "aborted by the kernel after %ld ms (%s)", ms_since(&t0), o.text);
	else if (err)
		log_warn(req->id, "DONE refused by the kernel: %s (outcome was %s: %s)",
			 strerror(-err), errname(-o.status), o.text);
	else if (o.status)
		log_warn(req->id, "failed after %ld ms: %s, reason %u: %s", ms_since(&t0),
			 errname(-o.status), o.reason, o.text);
	else
		log_info(req->id, "ready after %ld ms: %s", ms_since(&t0), o.text);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct atlsd_pool *p = w->pool;
	struct atlsd_request req;
	struct atlsd_nl *nl = NULL;
	uint64_t seen = (uint64_t)-1;
	int err, last_err = 0;

	err = atlsd_nl_open(&nl);
	if (err) {
		log_err(0, "worker %u: cannot open a netlink socket: %s", w->idx, strerror(-err));
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&p->lock);
		if (seen == p->gen && !p->stopping) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
		seen = p->gen;
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);

		for (;;) {
			err = atlsd_nl_accept(nl, &req);
			if (err == 1) {
				last_err = 0;
				handle(w, nl, &req);
				continue;
			}
			if (err < 0) {
				pthread_mutex_lock(&p->lock);
				p->st.accept_errors++;
				pthread_mutex_unlock(&p->lock);
				/* Once per kind of failure, not every second
				 * (e.g. atls.ko unloaded under us: ENOENT). */
				if (err != -EMFILE && err != last_err)
					log_warn(0, "worker %u: ACCEPT failed: %s", w->idx,
						 strerror(-err));
				last_err = err;
				usleep(100 * 1000);
			} else {
				last_err = 0;
			}
			break;
		}
	}
	atlsd_nl_close(nl);
	return NULL;
}

int atlsd_pool_start(unsigned int n, struct atlsd_engine *e, struct atlsd_pool **out)
{
	struct atlsd_pool *p = calloc(1, sizeof(*p));
	unsigned int i;

	if (!p)
		return -ENOMEM;
	p->w = calloc(n, sizeof(*p->w));
	p->slots = calloc(n, sizeof(*p->slots));
	if (!p->w || !p->slots) {
		free(p->w);
		free(p->slots);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->n = n;
	p->engine = e;
	atlsd_engine_get(e);
	for (i = 0; i < n; i++) {
		p->slots[i].fd = -1;
		p->w[i].pool = p;
		p->w[i].idx = i;
		if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i])) {
			atlsd_pool_stop(p);
			return -EAGAIN;
		}
		p->w[i].started = true;
	}
	*out = p;
	return 0;
}

void atlsd_pool_set_engine(struct atlsd_pool *p, struct atlsd_engine *e)
{
	struct atlsd_engine *old;

	atlsd_engine_get(e);
	pthread_mutex_lock(&p->lock);
	old = p->engine;
	p->engine = e;
	pthread_mutex_unlock(&p->lock);
	atlsd_engine_put(old);
}

void atlsd_pool_kick(struct atlsd_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->gen++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void atlsd_pool_abort(struct atlsd_pool *p, uint64_t req_id)
{
	unsigned int i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		if (p->slots[i].id == req_id && !p->slots[i].aborted) {
			p->slots[i].aborted = true;
			/* The kernel gave up on it: make the handshake fail now. */
			shutdown(p->slots[i].fd, SHUT_RDWR);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void atlsd_pool_stop(struct atlsd_pool *p)
{
	unsigned int i;

	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	for (i = 0; i < p->n; i++)
		if (p->slots[i].id)
			shutdown(p->slots[i].fd, SHUT_RDWR);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->n; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].tid, NULL);
	atlsd_engine_put(p->engine);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->w);
	free(p->slots);
	free(p);
}

void atlsd_pool_stats(struct atlsd_pool *p, struct atlsd_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->st;
	pthread_mutex_unlock(&p->lock);
}

/*
 * "name value" lines, then one line per request in progress (the control
 * socket's "counters" answer is this cut before the first "request" line).
 * tpm_commands / tpm_busy_ms: what the daemon's TPM owner completed since
 * start (atlsd_engine_tpm_stats(): lock-free reads, fine under pool->lock).
 */
void atlsd_pool_status(struct atlsd_pool *p, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i, active = 0;
	unsigned long tpm_calls;
	unsigned long long tpm_us;

#define OUT(...)                                                                   \
	do {                                                                       \
		if (off < len)                                                     \
			off += snprintf(buf + off, len - off, __VA_ARGS__);        \
	} while (0)
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++)
		active += p->slots[i].id != 0;
	OUT("workers %u\nactive %u\n", p->n, active);
	OUT("accepted %llu\nsucceeded %llu\nfailed %llu\naborted %llu\ndone_rejected %llu\n"
	    "accept_errors %llu\n",
	    (unsigned long long)p->st.accepted, (unsigned long long)p->st.succeeded,
	    (unsigned long long)p->st.failed, (unsigned long long)p->st.aborted,
	    (unsigned long long)p->st.done_rejected, (unsigned long long)p->st.accept_errors);
	atlsd_engine_tpm_stats(p->engine, &tpm_calls, &tpm_us);
	OUT("tpm_commands %lu\ntpm_busy_ms %llu\n", tpm_calls, tpm_us / 1000);
	for (i = 0; i < p->n; i++) {
		const struct slot *s = &p->slots[i];

		if (!s->id)
			continue;
		OUT("request %llu %s policy=%s app=%s[%u] age_ms=%ld%s\n",
		    (unsigned long long)s->id, s->role == ATLSD_ROLE_CLIENT ? "client" : "server",
		    s->policy[0] ? s->policy : "default", s->comm, s->pid, ms_since(&s->start),
		    s->aborted ? " aborted" : "");
	}
	pthread_mutex_unlock(&p->lock);
#undef OUT
}
