// SPDX-License-Identifier: Apache-2.0
/*
 * The worker pool: N threads, each with its own netlink command socket,
 * each running one handshake at a time from ACCEPT to DONE.
 *
 * Growth: a worker blocks for a whole handshake, and the peer of a loopback
 * connection is another request of this same atlsd. With every worker
 * holding one end of a connection whose other end waits in the kernel's
 * queue, no handshake could progress until the timeouts. So every READY
 * grows the pool to the number of requests the kernel has live (READY's
 * ATLS_A_PENDING: queued + being worked on), up to workers-max
 * (atls.conf(5)): then every live request can hold a worker at once. (A
 * rule that only looked for a free worker at each READY is not enough: a
 * burst of READYs can all arrive while the workers are still waking up,
 * free, and the two that then ACCEPT may take both ends' first halves; the
 * CI saw exactly that.) The count is module-wide, so another helper's
 * requests may grow this pool too; workers-max bounds it. Workers are only
 * added under pool->lock by the thread that read the READY (the leading
 * worker or the main thread, see "Waking"), never once stopping is set,
 * always as worker p->n; slots and threads are preallocated for the
 * maximum.
 *
 * Shrinking: a worker above the configured count (idx >= p->base) that is
 * the highest one (idx == p->n - 1) and has had no request for
 * worker-idle-ms (atls.conf(5)) leaves: under pool->lock it lowers p->n and
 * exits without touching the pool again. So p->n is always the number of
 * workers and slots 0..n-1 are theirs; the pool shrinks from the top, one
 * worker per idle wake-up (at least once a second), back to the configured
 * count. Idle that long means the worker found the kernel's queue empty at
 * every wake-up, so no live request was waiting for it; a leader hands
 * the lead on before it leaves. The thread that starts a worker joins a
 * left one in the same place first (pool_add_locked), the main thread the
 * rest at stop; a leaving thread only closes its own netlink socket after
 * unlocking, so that join is short.
 *
 * Waking (leader/followers): one idle worker, the leader, polls the
 * registered listener (READY, ABORT; netlink.c) itself; the other idle
 * workers (followers) sleep on pool->cond.  On a READY the leader hands the
 * lead to one follower (a signal; that wake-up overlaps the leader's ACCEPT
 * instead of preceding it) and ACCEPTs on its own command socket: the
 * thread that learns of a request is the one that ACCEPTs it, one wake-up
 * between READY and ACCEPT.  When the main thread read every READY and
 * kicked a worker, two wake-ups ran in series on each upcall (the second
 * about 0.5-1 ms in the TCG test VM, on both ends of a loopback connection;
 * issue 17, Documentation/performance.rst, "the policy-none gap");
 * accept_handoff counts the requests still handed over that way.  Chosen
 * over idle workers sharing an epoll instance on the listener: a libnl
 * socket is not thread-safe, so its reads would need a lock and an
 * EPOLLONESHOT re-arm anyway, and which waiter epoll wakes is the
 * kernel's choice; here exactly one thread polls the listener at a time.
 *
 * The lead (p->leader, under pool->lock): a worker's index, LEAD_MAIN or,
 * for the moment between a hand-over and the follower waking, LEAD_NONE.
 * The listener is read under p->lis_lock by whoever holds the lead (order:
 * lis_lock, then pool->lock).  A leader that gets work and finds no idle
 * follower (every worker busy) hands the lead to the main thread (an
 * eventfd wakes it; it then polls the listener with its signals and control
 * socket, and turns READYs into kicks as before), so READY's pool growth
 * (the loopback deadlock, above) and ABORT never wait for a worker to be
 * free; the first worker to be idle again takes the lead back (the eventfd
 * tells the main thread to stop polling the listener).  A worker never runs
 * a handshake while it holds the lead.  The growth rule runs wherever the
 * READY is read (ready_locked()): worker threads may start workers too,
 * always under pool->lock.
 *
 * Several READYs read at once (both ends of a loopback connection starting
 * together), an overrun (how much is queued is unknown) and the main
 * thread's READYs become kicks: a generation bump plus a signal per READY
 * beyond the leader's own, the follower woken for the lead included (a
 * broadcast for an overrun or at start): one follower per request ACCEPTs
 * at once.  Those requests are handed over (accept_handoff): one thread can
 * run one handshake, and the second READY of a burst wakes no one else, so
 * a loopback connection whose two READYs are read together still has one
 * hand-off, which overlaps the first request's ACCEPT.  An idle worker ACCEPTs until the
 * kernel answers EAGAIN (nothing pending) and then sleeps (or leads); a
 * worker that finishes a request tries ACCEPT again before sleeping, so
 * work queued while every worker was busy is picked up without a new READY.
 * No READY is lost to a worker that was about to sleep: it checks the
 * generation and the lead under the lock first, and a worker whose sleep
 * ends for any reason with the generation moved ACCEPTs.  Sleeps and the
 * leader's poll are bounded (one second, then an ACCEPT) as a safety net
 * for a lost READY.  Stop makes an eventfd readable that the leader polls.
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
 * Share of one remote address (atls.conf(5) workers-per-peer): a server
 * request whose connection comes from another address than its own local
 * one (so not a connection within this host) records that remote address
 * (IPv4 as v4-mapped IPv6) in its slot.  When the slots already hold the
 * share of server requests from that address, the request is refused at
 * once, before any handshake or TPM work: ECONNABORTED, reason
 * PEER_LIMIT.  Only server requests count: they are the ones a remote
 * host can start, and a client request of this host never waits for a
 * refused one (the two ends of a connection within this host are never
 * limited).  Decided under pool->lock, where the slot is filled, so
 * concurrent workers cannot both take the last place.
 *
 * Quotes of their own (solo-quotes-per-peer): a limited request also takes
 * one from its address's budget in p->solo_rl (per address, IPv6 per /64,
 * burst per second; its own lock).  Without one the handshake serves our
 * evidence only batched (atls_handshake_opts.batched_evidence_only): a peer
 * that offers the batched scheme notices nothing, one that does not is
 * refused before any TPM work and counted in solo_quote_refused.
 *
 * Engine: pool->engine (guarded by lock) is the current configuration; a
 * worker takes a reference for one request, so SIGHUP never pulls a
 * context from under a running handshake.
 *
 * The latency split (atlsd(8), the control socket's lat_* lines): for each
 * successful request four durations, CLOCK_MONOTONIC, in microseconds
 * rounded up:
 *   upcall     from atlsd learning of the request to ACCEPT's reply.
 *              atlsd learns of requests from READY, but READY names none,
 *              so the start is chosen per ACCEPT that returned a request:
 *              - the worker read the READY itself (the leader), or slept
 *                and a kick for a READY woke it: that READY's arrival, when
 *                the thread that read it did (the kick includes waking the
 *                worker);
 *              - a READY came while every worker was busy (backlog_ns) and
 *                no ACCEPT has found the queue empty since: that READY's
 *                arrival, for the first request accepted after it (the
 *                wait for a free worker counts);
 *              - else (the ACCEPT a worker makes right after finishing a
 *                request, the once-a-second poll) the ACCEPT call's start.
 *              A READY that arrived while this worker was busy and others
 *              were free is not used: another worker took its request.
 *              With several requests queued at once these are best
 *              guesses (only the first one accepted gets the backlog).
 *   handshake  atls_handshake_ex() alone (engine.c).
 *   done       the DONE transaction: sent, the module installs the keys into
 *              kTLS inside it, its ack read.
 *   total      learning to DONE's ack: the three plus atlsd's own steps
 *              between them (log lines, the context lookup, and building the
 *              context on a policy's first use).
 * The last LAT_RING successful requests are kept; failed, aborted and
 * refused ones are not (their phases end anywhere).  Totals since start,
 * never cleared: SIGHUP swaps the engine, not the pool.  Percentiles are
 * computed when asked, from a sorted copy.
 *
 * The ring is guarded by pool->lock, the lock of the counters, not by a
 * lock of its own: a worker stores its sample in the critical section where
 * it counts the request as succeeded (still one lock round trip per request,
 * and lat_samples never disagrees with succeeded), and the reader copies the
 * ring under it (16 KiB) and sorts after unlocking, so a worker never waits
 * behind a sort.  A second lock would only add a round trip per request.
 * ready_ns and backlog_ns are under pool->lock too: the READY that stamps
 * them takes it anyway, a woken worker reads ready_ns in the critical
 * section it wakes in, handle() consumes backlog_ns in the one where it
 * fills its slot, and an empty ACCEPT clears it (one more round trip, only
 * when there was nothing to do).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "atlsd.h"
#include "../common/ratelimit.h"

/*
 * Log flooding (atlsd(8), LOGGING): the two info lines of a request
 * ("accepted", "ready"/"aborted") are logged for at most log-burst requests
 * per application uid in log-interval-ms (atls.conf(5); the engine's
 * configuration, set again when SIGHUP swaps the engine); the rest are
 * counted and the count is logged with that uid's next logged request.
 * Failures (warnings) are never suppressed, except the refusals for a
 * remote address's share (see below), which are about floods.
 */

struct slot {
	uint64_t id;		/* 0 = idle */
	int fd;
	bool aborted;
	enum atls_role role;
	char policy[ATLS_POLICY_MAX];
	char comm[32];
	uint32_t pid;
	struct timespec start;
	bool limited;		/* a remote server request: peer counts (see the top) */
	struct in6_addr peer;
};

#define LAT_RING 1024
enum { LAT_UPCALL, LAT_HANDSHAKE, LAT_DONE, LAT_TOTAL, LAT_PHASES };
static const char *const lat_names[LAT_PHASES] = { "upcall", "handshake", "done", "total" };

/* The last LAT_RING successful requests' phases (see the top). */
struct lat_ring {
	uint64_t n;				/* samples ever recorded */
	uint32_t us[LAT_PHASES][LAT_RING];	/* sample i at [i % LAT_RING] */
};

struct worker {
	struct atlsd_pool *pool;
	unsigned int idx;
	pthread_t tid;
	bool started;		/* a thread to join (running, or left: see the top) */
};

/* p->leader besides a worker's index (see the top, "Waking"). */
#define LEAD_NONE (-1)
#define LEAD_MAIN (-2)

struct atlsd_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t gen;
	bool stopping;
	int leader;		/* who polls the listener (see the top) */
	unsigned int idle;	/* followers waiting on cond */
	struct atlsd_nl *listener;	/* READY/ABORT: read by the leader under lis_lock */
	pthread_mutex_t lis_lock;
	int lis_err;		/* the listener failed (a worker read it): main stops */
	int main_efd;		/* eventfd: the main thread's lead changed, or lis_err */
	int stop_efd;		/* eventfd: readable once stopping (the leader's poll) */
	struct atlsd_engine *engine;
	unsigned int n, max;	/* running, allowed (growth, see the top) */
	unsigned int base;	/* configured count: the pool never shrinks below */
	struct worker *w;
	struct slot *slots;
	struct atlsd_stats st;
	struct lat_ring lat;
	uint64_t ready_ns;	/* arrival of the last READY (atlsd_now_ns) */
	uint64_t backlog_ns;	/* of a READY no worker was free for, 0 = none */
	struct atlsd_ratelimit log_rl;	/* own lock; per app uid, see the top */
	struct atlsd_ratelimit solo_rl;	/* own lock; per remote address, see the top */
};

/* The log rate limit of the engine's configuration (see the top). */
static void set_log_limit(struct atlsd_pool *p, const struct atlsd_engine *e)
{
	const struct atlsd_config *c = atlsd_engine_config(e);

	atlsd_ratelimit_set(&p->log_rl, c->log_interval_ms * 1000000ull, c->log_burst);
	atlsd_ratelimit_set(&p->solo_rl, 1000000000ull, c->solo_quotes_per_peer);
}

/*
 * The solo-quote budget's key of a remote address: the address itself for
 * IPv4 (mapped), its /64 for IPv6 (one host commonly holds a whole /64),
 * folded to 64 bits.
 */
static uint64_t solo_key(const struct in6_addr *a)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint64_t hi, lo;

	memcpy(&hi, a->s6_addr, 8);
	memcpy(&lo, a->s6_addr + 8, 8);
	if (memcmp(a->s6_addr, v4mapped, sizeof(v4mapped)))
		lo = 0;
	return hi ^ (lo * 0x9e3779b97f4a7c15ull);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* "EACCES" for EACCES (glibc's table), "0" for success. */
static const char *errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "0";

	return n ? n : "E?";
}

static uint32_t ns_to_us(uint64_t ns)
{
	uint64_t us = ns / 1000 + (ns % 1000 != 0);

	return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Under pool->lock. */
static void lat_record_locked(struct lat_ring *r, const uint32_t us[LAT_PHASES])
{
	unsigned int ph, i = (unsigned int)(r->n % LAT_RING);

	for (ph = 0; ph < LAT_PHASES; ph++)
		r->us[ph][i] = us[ph];
	r->n++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with pct% of v[0..n-1] (sorted, n > 0) at or below. */
static uint32_t percentile(const uint32_t *v, unsigned int n, unsigned int pct)
{
	unsigned int rank = (n * pct + 99) / 100;

	return v[rank ? rank - 1 : 0];
}

/* An address as IPv6 (IPv4 v4-mapped); false for another family. */
static bool addr6(const struct sockaddr_storage *ss, struct in6_addr *a)
{
	if (ss->ss_family == AF_INET6) {
		*a = ((const struct sockaddr_in6 *)ss)->sin6_addr;
		return true;
	}
	if (ss->ss_family != AF_INET)
		return false;
	memset(a, 0, sizeof(*a));
	a->s6_addr[10] = a->s6_addr[11] = 0xff;
	memcpy(&a->s6_addr[12], &((const struct sockaddr_in *)ss)->sin_addr, 4);
	return true;
}

/*
 * The remote address of a server request's connection, when the share
 * applies to it (see the top): true and *peer set; false for a client
 * request or a connection whose two ends have the same address.
 */
static bool limited_peer(const struct atlsd_request *req, struct in6_addr *peer)
{
	struct sockaddr_storage r, l;
	socklen_t rl = sizeof(r), ll = sizeof(l);
	struct in6_addr local;

	if (req->role != ATLS_ROLE_SERVER || getpeername(req->fd, (struct sockaddr *)&r, &rl) ||
	    getsockname(req->fd, (struct sockaddr *)&l, &ll) || !addr6(&r, peer) ||
	    !addr6(&l, &local))
		return false;
	return memcmp(peer, &local, sizeof(local)) != 0;
}

/* Under pool->lock: server requests from peer in progress. */
static unsigned int peer_count_locked(const struct atlsd_pool *p, const struct in6_addr *peer)
{
	unsigned int i, n = 0;

	for (i = 0; i < p->n; i++)
		n += p->slots[i].id && p->slots[i].limited &&
		     !memcmp(&p->slots[i].peer, peer, sizeof(*peer));
	return n;
}

/* Close the request's fd unless DONE already made the kernel close it. */
static void close_if_same(int fd, int keep)
{
	struct stat a, b;

	if (keep >= 0 && !fstat(fd, &a) && !fstat(keep, &b) && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		close(fd);
}

/*
 * One accepted request.  The latency split (see the top): woken_ns is the
 * READY that woke this worker for the ACCEPT (0: none), start_ns when the
 * ACCEPT call started, accepted_ns when it replied.
 */
static void handle(struct worker *w, struct atlsd_nl *nl, struct atlsd_request *req,
		   bool handoff, uint64_t woken_ns, uint64_t start_ns, uint64_t accepted_ns)
{
	struct atlsd_pool *p = w->pool;
	struct slot *s = &p->slots[w->idx];
	struct atlsd_engine *e;
	struct atlsd_outcome o;
	struct timespec t0;
	uint32_t lat[LAT_PHASES];
	uint64_t learn_ns, done_ns, acked_ns;
	unsigned long suppressed;
	bool stop, aborted, quiet, limited, over = false, batch_only = false;
	struct in6_addr peer = IN6ADDR_ANY_INIT;
	unsigned int share = 0, held = 0;
	int err, keep;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	limited = limited_peer(req, &peer);
	pthread_mutex_lock(&p->lock);
	e = p->engine;
	atlsd_engine_get(e);
	if (limited) {
		share = atlsd_workers_per_peer(atlsd_engine_config(e), p->max);
		held = peer_count_locked(p, &peer);
		over = held >= share;
	}
	s->limited = limited && !over;
	s->peer = peer;
	s->id = req->id;
	s->fd = req->fd;
	s->aborted = false;
	s->role = req->role;
	s->pid = req->app_pid;
	s->start = t0;
	snprintf(s->policy, sizeof(s->policy), "%s", req->policy);
	snprintf(s->comm, sizeof(s->comm), "%s", req->app_comm);
	p->st.accepted++;
	p->st.accept_handoff += handoff;
	stop = p->stopping;
	learn_ns = woken_ns && woken_ns < start_ns ? woken_ns : start_ns;
	if (p->backlog_ns) {
		if (p->backlog_ns < learn_ns)
			learn_ns = p->backlog_ns;
		p->backlog_ns = 0;	/* the first request after it took it */
	}
	pthread_mutex_unlock(&p->lock);

	quiet = !atlsd_ratelimit_allow(&p->log_rl, req->app_uid, atlsd_now_ns(), &suppressed);
	if (suppressed)
		log_info(req->id, "%lu earlier requests of uid %u not logged (rate limit)",
			 suppressed, req->app_uid);
	if (!quiet)
		log_info(req->id, "accepted: %s for %s[%u] uid %u, policy \"%s\"%s%s, timeout %u ms",
		 req->role == ATLS_ROLE_CLIENT ? "client" : "server", req->app_comm,
		 req->app_pid, req->app_uid, req->policy[0] ? req->policy : "default",
		 req->peer[0] ? ", peer " : "", req->peer, req->timeout_ms);
	if (stop) {
		memset(&o, 0, sizeof(o));
		o.status = -ECONNABORTED;
		o.reason = ATLS_REASON_SHUTDOWN;
		snprintf(o.text, sizeof(o.text), "atlsd is shutting down");
	} else if (over) {
		char a[INET6_ADDRSTRLEN] = "?";

		memset(&o, 0, sizeof(o));
		o.status = -ECONNABORTED;
		o.reason = ATLS_REASON_PEER_LIMIT;
		inet_ntop(AF_INET6, &peer, a, sizeof(a));
		snprintf(o.text, sizeof(o.text),
			 "remote address %s already has %u of its %u server requests "
			 "(workers-per-peer)", a, held, share);
	} else {
		/* Past the address's quotes of their own: batched evidence only. */
		if (limited)
			batch_only = !atlsd_ratelimit_allow(&p->solo_rl, solo_key(&peer),
							    atlsd_now_ns(), &suppressed);
		atlsd_engine_run(e, req, batch_only, &o);
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
		o.reason = ATLS_REASON_SHUTDOWN;
	}

	keep = fcntl(req->fd, F_DUPFD_CLOEXEC, 0);
	done_ns = atlsd_now_ns();
	err = atlsd_nl_done(nl, req, &o);
	acked_ns = atlsd_now_ns();
	lat[LAT_UPCALL] = ns_to_us(accepted_ns - learn_ns);
	lat[LAT_HANDSHAKE] = ns_to_us(o.handshake_ns);
	lat[LAT_DONE] = ns_to_us(acked_ns - done_ns);
	lat[LAT_TOTAL] = ns_to_us(acked_ns - learn_ns);
	explicit_bzero(o.tx, sizeof(o.tx));
	explicit_bzero(o.rx, sizeof(o.rx));
	explicit_bzero(o.tx_secret, sizeof(o.tx_secret));
	explicit_bzero(o.rx_secret, sizeof(o.rx_secret));
	if (err)
		close_if_same(req->fd, keep);
	if (keep >= 0)
		close(keep);

	pthread_mutex_lock(&p->lock);
	if (aborted)
		p->st.aborted++;
	else if (err)
		p->st.done_rejected++;
	else if (o.status) {
		p->st.failed++;
		if (o.reason == ATLS_REASON_NOT_AUTHORIZED)
			p->st.not_authorized++;
		else if (o.reason == ATLS_REASON_PEER_LIMIT)
			p->st.peer_limited++;
		else if (o.solo_refused)
			p->st.solo_quote_refused++;
	}
	else {
		p->st.succeeded++;
		lat_record_locked(&p->lat, lat);
	}
	pthread_mutex_unlock(&p->lock);

	/* quiet: rate-limited info lines (see the top); warnings always. */
	if (aborted) {
		if (!quiet)
			log_info(req->id, "aborted by the kernel after %ld ms (%s)",
				 ms_since(&t0), o.text);
	} else if (err)
		log_warn(req->id, "DONE refused by the kernel: %s (outcome was %s: %s)",
			 strerror(-err), errname(-o.status), o.text);
	else if (over) {
		/* A flood is what the share is for: these lines are rate-limited
		 * like the info lines; peer_limited counts every one. */
		if (!quiet)
			log_info(req->id, "refused: %s", o.text);
	} else if (o.status)
		log_warn(req->id, "failed after %ld ms: %s, reason %u: %s", ms_since(&t0),
			 errname(-o.status), o.reason, o.text);
	else if (!quiet)
		log_info(req->id, "ready after %ld ms (upcall %u us, handshake %u us, done %u us, "
			 "total %u us): %s", ms_since(&t0), lat[LAT_UPCALL], lat[LAT_HANDSHAKE],
			 lat[LAT_DONE], lat[LAT_TOTAL], o.text);
}

static int pool_add_locked(struct atlsd_pool *p);

/* Make an eventfd readable (it cannot fail short of 2^64 - 1 writes). */
static void efd_signal(int fd)
{
	uint64_t one = 1;
	ssize_t r = write(fd, &one, sizeof(one));

	(void)r;
}

/* Wake the main thread: its lead changed, or the listener failed. */
static void notify_main(struct atlsd_pool *p)
{
	efd_signal(p->main_efd);
}

/*
 * Under pool->lock: the leader hands the lead on (see the top, "Waking"):
 * to an idle follower, or to the main thread when every worker is busy.
 */
static void pass_lead_locked(struct atlsd_pool *p)
{
	if (p->idle) {
		p->leader = LEAD_NONE;
		pthread_cond_signal(&p->cond);
	} else {
		p->leader = LEAD_MAIN;
		notify_main(p);
	}
}

/* Under pool->lock: worker w takes the lead if no worker holds it (and the
 * listener has not failed: then the main thread keeps it and stops atlsd). */
static bool take_lead_locked(struct atlsd_pool *p, const struct worker *w)
{
	if (p->leader >= 0 || p->stopping || p->lis_err)
		return false;
	if (p->leader == LEAD_MAIN)
		notify_main(p);		/* stop polling the listener */
	p->leader = (int)w->idx;
	return true;
}

/*
 * Under pool->lock: a READY arrived now, @live requests live (0: unknown).
 * Stamps the latency split's start and grows the pool (see the top).
 */
static void ready_locked(struct atlsd_pool *p, unsigned int live, uint64_t now)
{
	unsigned int i, free_workers = 0, want = live < p->max ? live : p->max, n0;

	p->ready_ns = now;
	for (i = 0; i < p->n; i++)
		free_workers += !p->slots[i].id;
	if (!free_workers && !p->backlog_ns)
		p->backlog_ns = now;
	n0 = p->n;
	while (!p->stopping && p->n < want && !pool_add_locked(p))
		;	/* as many workers as live requests (see the top) */
	if (p->n > n0)
		log_info(0, "%u requests live: %u workers now (at most %u)", live, p->n, p->max);
	else if (p->n < want && !p->stopping)
		log_warn(0, "%u requests live but no thread for worker %u", live, p->n + 1);
}

/* What one dispatch of the listener by a leading worker saw. */
struct lead_ev {
	struct atlsd_pool *p;
	unsigned int readies;
	bool overrun;
};

static void lead_ready(void *arg, uint32_t pending)
{
	struct lead_ev *le = arg;
	uint64_t now = atlsd_now_ns();

	pthread_mutex_lock(&le->p->lock);
	ready_locked(le->p, pending, now);
	pthread_mutex_unlock(&le->p->lock);
	le->readies++;
	log_dbg(0, "READY, %u pending", pending);
}

static void lead_abort(void *arg, uint64_t id, uint32_t reason)
{
	struct lead_ev *le = arg;

	atlsd_pool_abort(le->p, id, reason);
}

static void lead_overrun(void *arg)
{
	struct lead_ev *le = arg;

	log_warn(0, "netlink events lost (receive buffer overrun); polling for work");
	le->overrun = true;
}

/*
 * The leader's wait (see the top, "Waking"): poll the listener until READY
 * (then the lead is handed on, *woken is the READY's arrival: return true),
 * the one-second safety net or stop (false: the caller ACCEPTs once or sees
 * stopping).  ABORTs are served on the way.
 */
static bool lead_wait(struct worker *w, bool *lead, uint64_t *woken)
{
	struct atlsd_pool *p = w->pool;
	struct lead_ev le = { .p = p };
	const struct atlsd_nl_events ev = { lead_ready, lead_abort, lead_overrun, &le };
	struct pollfd pf[2] = {
		{ .fd = atlsd_nl_fd(p->listener), .events = POLLIN },
		{ .fd = p->stop_efd, .events = POLLIN },
	};
	unsigned int i;
	int n, err;

	for (;;) {
		n = poll(pf, 2, 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || pf[1].revents)
			return false;
		pthread_mutex_lock(&p->lis_lock);
		err = atlsd_nl_dispatch(p->listener, &ev);
		pthread_mutex_unlock(&p->lis_lock);
		if (err) {
			/* The main thread stops atlsd (as if it had read it). */
			pthread_mutex_lock(&p->lock);
			p->lis_err = err;
			p->leader = LEAD_MAIN;
			notify_main(p);
			pthread_mutex_unlock(&p->lock);
			*lead = false;
			return false;
		}
		if (le.readies || le.overrun)
			break;
	}
	pthread_mutex_lock(&p->lock);
	pass_lead_locked(p);
	if (le.overrun || le.readies > 1) {
		/* Requests beyond ours: a kick; the follower woken for the lead
		 * ACCEPTs first too, so one fewer signal (see the top). */
		p->gen++;
		if (le.overrun)
			pthread_cond_broadcast(&p->cond);
		else
			for (i = p->leader == LEAD_NONE ? 2 : 1; i < le.readies; i++)
				pthread_cond_signal(&p->cond);
	}
	*woken = p->ready_ns;
	pthread_mutex_unlock(&p->lock);
	*lead = false;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct atlsd_pool *p = w->pool;
	struct atlsd_request req;
	struct atlsd_nl *nl = NULL;
	uint64_t seen = (uint64_t)-1;
	uint64_t woken, start, replied;		/* the upcall's start, see the top */
	uint64_t busy_ns;			/* end of the last request (shrinking) */
	bool lead = false, handoff, moved;	/* see the top, "Waking" */
	int err, last_err = 0;

	err = atlsd_nl_open(&nl);
	if (err) {
		log_err(0, "worker %u: cannot open a netlink socket: %s", w->idx, strerror(-err));
		return NULL;
	}
	busy_ns = atlsd_now_ns();
	for (;;) {
		woken = 0;
		handoff = false;
		pthread_mutex_lock(&p->lock);
		if (!lead)
			lead = take_lead_locked(p, w);
		if (!lead && seen == p->gen && !p->stopping) {
			struct timespec ts;
			int rc;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			do {	/* a follower: until a kick, the lead or a second */
				p->idle++;
				rc = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
				p->idle--;
				lead = take_lead_locked(p, w);
			} while (!lead && !rc && p->gen == seen && !p->stopping);
			if (p->gen != seen) {
				woken = p->ready_ns;	/* a kick for a READY woke us */
				handoff = !rc;		/* (not the safety net) */
			}
		}
		moved = p->gen != seen;		/* a kick since we looked: ACCEPT first */
		seen = p->gen;
		if (p->stopping) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		if (w->idx >= p->base && w->idx == p->n - 1 && !woken &&
		    atlsd_now_ns() - busy_ns >=
			    atlsd_engine_config(p->engine)->worker_idle_ms * 1000000ull) {
			if (lead)
				pass_lead_locked(p);
			p->n--;		/* idle: leave (see the top) */
			log_info(0, "worker %u idle: %u workers now", w->idx + 1, p->n);
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);

		/* The leader: the listener until a READY or a second (see the top). */
		if (lead && !moved && !lead_wait(w, &lead, &woken)) {
			pthread_mutex_lock(&p->lock);
			err = p->stopping;
			pthread_mutex_unlock(&p->lock);
			if (err)
				continue;	/* the top leaves */
		}

		for (;;) {
			start = atlsd_now_ns();
			err = atlsd_nl_accept(nl, &req);
			replied = atlsd_now_ns();
			if (err == 1) {
				last_err = 0;
				if (lead) {	/* never a handshake while leading */
					pthread_mutex_lock(&p->lock);
					pass_lead_locked(p);
					pthread_mutex_unlock(&p->lock);
					lead = false;
				}
				handle(w, nl, &req, handoff, woken, start, replied);
				woken = 0;	/* later ones: no READY of ours */
				handoff = false;
				busy_ns = atlsd_now_ns();
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
				/* Queue empty: a backlog READY before this is served. */
				pthread_mutex_lock(&p->lock);
				p->st.accept_empty++;
				if (p->backlog_ns && p->backlog_ns <= start)
					p->backlog_ns = 0;
				pthread_mutex_unlock(&p->lock);
			}
			break;
		}
	}
	atlsd_nl_close(nl);
	return NULL;
}

/* Start worker p->n; under p->lock, main thread. 0 or -EAGAIN. */
static int pool_add_locked(struct atlsd_pool *p)
{
	unsigned int i = p->n;

	if (i >= p->max)
		return -EAGAIN;
	if (p->w[i].started) {		/* a worker that left from here */
		pthread_join(p->w[i].tid, NULL);
		p->w[i].started = false;
	}
	p->slots[i].fd = -1;
	p->w[i].pool = p;
	p->w[i].idx = i;
	if (pthread_create(&p->w[i].tid, NULL, worker_main, &p->w[i]))
		return -EAGAIN;
	p->w[i].started = true;
	p->n = i + 1;
	return 0;
}

int atlsd_pool_start(unsigned int n, unsigned int max, struct atlsd_engine *e,
		     struct atlsd_nl *listener, struct atlsd_pool **out)
{
	struct atlsd_pool *p = calloc(1, sizeof(*p));
	unsigned int i;
	int err = 0;

	if (!p)
		return -ENOMEM;
	if (max < n)
		max = n;
	p->w = calloc(max, sizeof(*p->w));
	p->slots = calloc(max, sizeof(*p->slots));
	p->main_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	p->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!p->w || !p->slots || p->main_efd < 0 || p->stop_efd < 0) {
		err = p->w && p->slots ? -errno : -ENOMEM;
		if (p->main_efd >= 0)
			close(p->main_efd);
		if (p->stop_efd >= 0)
			close(p->stop_efd);
		free(p->w);
		free(p->slots);
		free(p);
		return err;
	}
	p->listener = listener;
	p->leader = LEAD_MAIN;	/* until the first worker runs */
	pthread_mutex_init(&p->lis_lock, NULL);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	atlsd_ratelimit_init(&p->log_rl, 0, 0);
	atlsd_ratelimit_init(&p->solo_rl, 1000000000ull, 0);
	set_log_limit(p, e);
	p->max = max;
	p->base = n;
	p->engine = e;
	atlsd_engine_get(e);
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n && !err; i++)
		err = pool_add_locked(p);
	pthread_mutex_unlock(&p->lock);
	if (err) {
		atlsd_pool_stop(p);
		return err;
	}
	*out = p;
	return 0;
}

void atlsd_pool_set_engine(struct atlsd_pool *p, struct atlsd_engine *e)
{
	struct atlsd_engine *old;

	atlsd_engine_get(e);
	set_log_limit(p, e);
	pthread_mutex_lock(&p->lock);
	old = p->engine;
	p->engine = e;
	pthread_mutex_unlock(&p->lock);
	atlsd_engine_put(old);
}

void atlsd_pool_kick(struct atlsd_pool *p, unsigned int live)
{
	uint64_t now = atlsd_now_ns();

	pthread_mutex_lock(&p->lock);
	if (live)	/* a READY the main thread read (see the top, "Waking") */
		ready_locked(p, live, now);
	p->gen++;
	/* One READY, one request: one worker (see the top). */
	if (live)
		pthread_cond_signal(&p->cond);
	else
		pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int atlsd_pool_notify_fd(struct atlsd_pool *p)
{
	return p->main_efd;
}

int atlsd_pool_notified(struct atlsd_pool *p)
{
	uint64_t v;
	ssize_t r = read(p->main_efd, &v, sizeof(v));	/* EAGAIN: nothing pending */
	int err;

	(void)r;
	pthread_mutex_lock(&p->lock);
	err = p->lis_err;
	pthread_mutex_unlock(&p->lock);
	return err;
}

bool atlsd_pool_main_leads(struct atlsd_pool *p)
{
	bool leads;

	pthread_mutex_lock(&p->lock);
	leads = p->leader == LEAD_MAIN;
	pthread_mutex_unlock(&p->lock);
	return leads;
}

int atlsd_pool_dispatch(struct atlsd_pool *p, const struct atlsd_nl_events *ev)
{
	int err = 0;

	pthread_mutex_lock(&p->lis_lock);
	/* A worker may have taken the lead since the main thread polled. */
	if (atlsd_pool_main_leads(p))
		err = atlsd_nl_dispatch(p->listener, ev);
	pthread_mutex_unlock(&p->lis_lock);
	return err;
}

void atlsd_pool_abort(struct atlsd_pool *p, uint64_t req_id, uint32_t reason)
{
	unsigned int i;

	log_info(req_id, "ABORT from the kernel (reason %u)", reason);
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
	efd_signal(p->stop_efd);	/* the leader's poll */
	for (i = 0; i < p->max; i++)	/* running ones and ones that left */
		if (p->w[i].started)
			pthread_join(p->w[i].tid, NULL);
	atlsd_engine_put(p->engine);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->lis_lock);
	close(p->main_efd);
	close(p->stop_efd);
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
 * lat_samples and, when there are samples, lat_<phase>_p50_us and _p99_us
 * (the latency split, see the top): the ring is copied under the lock and
 * sorted after it.  The request lines come from a second look under the
 * lock, so "active" may differ from their number by what changed between.
 */
void atlsd_pool_status(struct atlsd_pool *p, char *buf, size_t len)
{
	struct lat_ring *lat = malloc(sizeof(*lat));	/* 16 KiB: not on the stack */
	struct atlsd_stats st;
	size_t off = 0;
	unsigned int i, ph, n = 0, active = 0;
	unsigned long tpm_calls;
	unsigned long long tpm_us;
	struct atls_batch_counters bc;
	struct atlsd_engine *eng;

#define OUT(...)                                                                   \
	do {                                                                       \
		if (off < len)                                                     \
			off += snprintf(buf + off, len - off, __VA_ARGS__);        \
	} while (0)
	if (len)
		buf[0] = 0;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++)
		active += p->slots[i].id != 0;
	st = p->st;
	atlsd_engine_tpm_stats(p->engine, &tpm_calls, &tpm_us);
	eng = p->engine;	/* a reference: SIGHUP may replace it meanwhile */
	atlsd_engine_get(eng);
	if (lat)
		*lat = p->lat;
	pthread_mutex_unlock(&p->lock);

	OUT("workers %u\nworkers_max %u\nactive %u\n", p->n, p->max, active);
	OUT("accepted %llu\nsucceeded %llu\nfailed %llu\naborted %llu\ndone_rejected %llu\n"
	    "accept_errors %llu\nnot_authorized %llu\npeer_limited %llu\n"
	    "solo_quote_refused %llu\naccept_empty %llu\naccept_handoff %llu\n",
	    (unsigned long long)st.accepted, (unsigned long long)st.succeeded,
	    (unsigned long long)st.failed, (unsigned long long)st.aborted,
	    (unsigned long long)st.done_rejected, (unsigned long long)st.accept_errors,
	    (unsigned long long)st.not_authorized, (unsigned long long)st.peer_limited,
	    (unsigned long long)st.solo_quote_refused, (unsigned long long)st.accept_empty,
	    (unsigned long long)st.accept_handoff);
	OUT("tpm_commands %lu\ntpm_busy_ms %llu\n", tpm_calls, tpm_us / 1000);
	/* Outside pool->lock: the engine's lock is never taken inside it. */
	atlsd_engine_batch_counters(eng, &bc);
	atlsd_engine_put(eng);
	OUT("batch_quotes %lu\nbatch_leaves %lu\nbatch_largest %lu\nbatch_closed_full %lu\n"
	    "batch_closed_all_in %lu\nbatch_closed_deadline %lu\nbatch_timed_out %lu\n"
	    "batch_abandoned %lu\n", bc.quotes, bc.leaves, bc.largest, bc.closed_full,
	    bc.closed_all_in, bc.closed_deadline, bc.timed_out, bc.abandoned);
	if (lat) {
		n = lat->n < LAT_RING ? (unsigned int)lat->n : LAT_RING;
		OUT("lat_samples %u\n", n);
		for (ph = 0; n && ph < LAT_PHASES; ph++) {
			qsort(lat->us[ph], n, sizeof(lat->us[ph][0]), cmp_u32);
			OUT("lat_%s_p50_us %u\nlat_%s_p99_us %u\n", lat_names[ph],
			    percentile(lat->us[ph], n, 50), lat_names[ph],
			    percentile(lat->us[ph], n, 99));
		}
		free(lat);
	}

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		const struct slot *s = &p->slots[i];

		if (!s->id)
			continue;
		OUT("request %llu %s policy=%s app=%s[%u] age_ms=%ld%s\n",
		    (unsigned long long)s->id, s->role == ATLS_ROLE_CLIENT ? "client" : "server",
		    s->policy[0] ? s->policy : "default", s->comm, s->pid, ms_since(&s->start),
		    s->aborted ? " aborted" : "");
	}
	pthread_mutex_unlock(&p->lock);
#undef OUT
}
