// SPDX-License-Identifier: Apache-2.0
/*
 * Batched quotes: the hash tree, the BatchEvidence wire format, the
 * attester's batcher and the relying party's appraisal cache (layout and
 * formulas in batch.h; the security argument in Documentation/protocol.rst,
 * "Batched quotes").
 *
 * Batcher (attester side).  Lifetimes and locking:
 *  - B->lock protects B->open, B->inflight, B->on_way, B->quoting,
 *    B->st (counters and estimates) and every struct batch's fields but
 *    the immutable ones named below.  B->change wakes the leader of the
 *    open batch (a leaf arrived, a handshake left or began to wait for its
 *    peer, a quote of ours is done); a batch's done_cv wakes its other
 *    members (it closed, it is done, its leader or quoter gave up).
 *  - The first handshake to find no open batch creates one and is its
 *    leader: it waits (lead(): group commit, the rules there) and then
 *    closes the batch; later arrivals open the next one, which collects
 *    while this one is quoted.  At the close one member becomes the
 *    quoter: the one with the latest deadline (none counts as the latest;
 *    pick_quoter()).  Without the lock it builds the tree and asks the TPM
 *    owner for the Quote (and Certify) under its own deadline, so the
 *    request carries the deadline of the member that waits longest for it.
 *    The leaves, tree and CMW of a closed batch are immutable, so after
 *    `done` everybody reads them without the lock.
 *  - Deadlines: every member waits for its batch only until its own
 *    deadline (atls_tpm_thread_deadline(), set by the handshake), then
 *    gives up with -ETIMEDOUT (give_up()): a leader that gives up hands the
 *    open batch to another member; a quoter that gives up before it began
 *    hands the quote to the latest remaining member; a batch nobody waits
 *    for any more is never quoted (abandoned).  The quoter itself is in
 *    the TPM queue with its own (the batch's latest) deadline, and the TPM
 *    owner (tpm.c) withdraws the request when that passes.
 *  - Each handshake holds one reference on its batch from submitting its
 *    leaf until it has encoded its proof or given up; the last one frees
 *    the batch.  B->open never points to a batch without live members.
 *  - "Entered", "submitted" and "waiting for the peer" are remembered per
 *    thread (tl_entered with the start of the current stretch of work,
 *    tl_submitted, tl_peer_wait) between atls_batcher_enter() and
 *    atls_batcher_leave(): all of them run in the thread of one
 *    atls_handshake() call, which never nests.  B->on_way counts the
 *    handshakes entered, without their leaf yet, and not waiting for
 *    their peer: the only ones a batch ever waits for.
 *  - Two estimates steer the wait, both EWMAs under B->lock: quote_us (close
 *    to quote done: the TPM's latency including its queue) and reach_us
 *    (from atls_batcher_enter(), or from the end of the handshake's last
 *    wait for its peer, to atls_batcher_produce(): how long handshakes
 *    compute their way to their leaf on this machine under this load; a
 *    peer's network time is never in it).
 *  - AK kid and (key mode tpm) the TLS key's public area are read from the
 *    TPM once, under B->ids_lock, by the first leader: a quote then costs
 *    the TPM exactly one command (two in key mode tpm).
 *
 * Sharing (atls_batcher_get()/_put()).  A batch's CMW is fixed by the TPM
 * handle and struct atls_evidence_params alone (evidence.c,
 * atls_attester_record(): kid of the AK at ak_handle, TPM2_Quote by it
 * over pcr_bank_alg/pcr_mask, and in key mode tpm TPM2_Certify of the key
 * at tls_key_handle with that key's public area); the leaves only enter
 * through the root, its qualifying data.  Nothing of the context (role,
 * certificate, policy) is in it.  So every context that borrows the same
 * TPM handle and has the same key_mode, ak_handle, pcr_bank_alg, pcr_mask,
 * tls_key_handle (key mode tpm only: software mode certifies nothing),
 * window and max gets the same batcher, and the leaves of all of them
 * (atlsd: the client-role and the server-role context of a policy, and
 * the policies that quote the same PCRs) share one quote.  Each handshake
 * still proves its own binder up to the root and its own deadline still
 * bounds its wait: nothing above depends on which context a member came
 * from, and the per-thread state is per handshake, whichever context.
 *  - The shared batchers of a TPM handle are a list kept in the handle
 *    (atls_tpm_shared_batchers()), under its share lock; B->users (under
 *    that lock) counts the contexts holding B.  atls_batcher_get() (from
 *    atls_ctx_new()) finds or creates B and counts the context in;
 *    atls_batcher_put() (from atls_ctx_free(), when no handshake of that
 *    context runs any more) counts it out, and the last one unlinks and
 *    frees B.  So B outlives every context using it, and contexts made
 *    and freed while others keep handshaking (atlsd's reload) neither free
 *    it under them nor split their batches.  The handle outlives its
 *    contexts (atls_config.tpm), hence the list and its lock outlive B.
 *  - Lock order: the share lock is taken with no B->lock held, and B->lock
 *    never with the share lock held; neither is held across a TPM command.
 *  - A batcher that survives a reload keeps its ids (kid, public area) as
 *    the TPM owner keeps its handle cache: replacing the keys under the
 *    same handles needs the TPM handle (atlsd: the daemon) restarted, as
 *    their authorization values are read at start anyway.
 *
 * Cache (relying party).  An entry says: this exact CMW record, presented
 * for a peer certificate with this SPKI, was fully appraised (signatures,
 * AK, PCRs, key binding) and affirmed with qualifying data `root`.  A later
 * handshake still proves its own leaf up to a root, and the cached result is
 * used only when that root is the cached one.  Fixed 64 slots, round robin,
 * under c->lock.  The first handshake to miss a CMW marks its slot busy and
 * appraises without the lock; others presenting the same CMW meanwhile wait
 * (c->settled) and then use its verdict, or appraise themselves if it
 * failed (a failure is never cached).  A busy slot is never reused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <tss2/tss2_mu.h>

#include <atls/wire.h>

#include "attester.h"
#include "batch.h"
#include "cmw.h"
#include "tpm_int.h"
#include "tpm_parse.h"

#define H ATLS_BATCH_HASH
#define CACHE_SLOTS 64

/* ------------------------------------------------------------ hash tree */

/* SHA-256(prefix || a || b); a and b are at most ATLS_MAX_DIGEST_LEN bytes. */
static void hash_node(uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen, uint8_t out[H])
{
	uint8_t buf[1 + 2 * ATLS_MAX_DIGEST_LEN];

	buf[0] = prefix;
	if (alen)
		memcpy(buf + 1, a, alen);
	if (blen)
		memcpy(buf + 1 + alen, b, blen);
	SHA256(buf, 1 + alen + blen, out);
}

int atls_batch_leaf(const uint8_t *binder, size_t blen, uint8_t leaf[H])
{
	if (!binder || !blen || blen > ATLS_MAX_DIGEST_LEN)
		return -EINVAL;
	hash_node(0x00, binder, blen, NULL, 0, leaf);
	return 0;
}

int atls_batch_root(const uint8_t leaf[H], const struct atls_batch_proof *p, uint8_t root[H])
{
	uint8_t cur[H], nxt[H];
	unsigned int l;

	if (p->depth > ATLS_BATCH_MAX_DEPTH || p->index >> p->depth)
		return -EINVAL;
	memcpy(cur, leaf, H);
	for (l = 0; l < p->depth; l++) {
		const uint8_t *sib = p->path + (size_t)l * H;

		if ((p->index >> l) & 1)
			hash_node(0x01, sib, H, cur, H, nxt);
		else
			hash_node(0x01, cur, H, sib, H, nxt);
		memcpy(cur, nxt, H);
	}
	memcpy(root, cur, H);
	return 0;
}

/* Levels of a full tree of 2^depth slots, flat: level l starts at
 * (2^(d+1) - 2^(d+1-l)) and holds 2^(d-l) nodes; the root is last. */
static size_t level_off(uint8_t depth, unsigned int l)
{
	return ((size_t)2 << depth) - ((size_t)2 << (depth - l));
}

static uint8_t (*tree_build(const uint8_t (*leaves)[H], unsigned int n, uint8_t *depth))[H]
{
	uint8_t d = 0, pad[H], (*t)[H];
	unsigned int l;
	size_t i, w;

	while ((1u << d) < n)
		d++;
	t = malloc(((size_t)2 << d) * H);
	if (!t)
		return NULL;
	hash_node(0x02, NULL, 0, NULL, 0, pad);
	for (i = 0; i < ((size_t)1 << d); i++)
		memcpy(t[i], i < n ? leaves[i] : pad, H);
	for (l = 1; l <= d; l++) {
		uint8_t (*lo)[H] = t + level_off(d, l - 1), (*hi)[H] = t + level_off(d, l);

		w = (size_t)1 << (d - l);
		for (i = 0; i < w; i++)
			hash_node(0x01, lo[2 * i], H, lo[2 * i + 1], H, hi[i]);
	}
	*depth = d;
	return t;
}

static void tree_path(uint8_t (*t)[H], uint8_t depth, unsigned int index, uint8_t *path)
{
	unsigned int l;

	for (l = 0; l < depth; l++)
		memcpy(path + (size_t)l * H, t[level_off(depth, l) + ((index >> l) ^ 1)], H);
}

/* ----------------------------------------------------------- wire format */

int atls_batch_parse(const uint8_t *in, size_t len, struct atls_batch_proof *out)
{
	size_t off = 4, plen, clen;

	memset(out, 0, sizeof(*out));
	if (!in || len < 4 || in[0] != ATLS_BATCH_VERSION || in[1] > ATLS_BATCH_MAX_DEPTH)
		return -EBADMSG;
	out->depth = in[1];
	out->index = (uint16_t)(in[2] << 8 | in[3]);
	if (out->index >> out->depth)
		return -EBADMSG;
	plen = (size_t)out->depth * H;
	if (len - off < plen + 3)
		return -EBADMSG;
	out->path = in + off;
	off += plen;
	clen = (size_t)in[off] << 16 | (size_t)in[off + 1] << 8 | in[off + 2];
	off += 3;
	if (clen == 0 || clen > ATLS_CMW_MAX || clen != len - off)
		return -EBADMSG;
	out->cmw = in + off;
	out->cmw_len = clen;
	return 0;
}

int atls_batch_encode(uint8_t depth, uint16_t index, const uint8_t *path, const uint8_t *cmw,
		      size_t cmw_len, uint8_t **out, size_t *len)
{
	size_t plen = (size_t)depth * H, n;
	uint8_t *p;

	if (depth > ATLS_BATCH_MAX_DEPTH || index >> depth || (depth && !path) || !cmw)
		return -EINVAL;
	if (!cmw_len || cmw_len > ATLS_CMW_MAX)
		return -EMSGSIZE;
	n = 4 + plen + 3 + cmw_len;
	if (n > ATLS_CMW_MAX)	/* must fit the Certificate-entry extension */
		return -EMSGSIZE;
	p = malloc(n);
	if (!p)
		return -ENOMEM;
	p[0] = ATLS_BATCH_VERSION;
	p[1] = depth;
	p[2] = (uint8_t)(index >> 8);
	p[3] = (uint8_t)index;
	if (plen)
		memcpy(p + 4, path, plen);
	p[4 + plen] = (uint8_t)(cmw_len >> 16);
	p[5 + plen] = (uint8_t)(cmw_len >> 8);
	p[6 + plen] = (uint8_t)cmw_len;
	memcpy(p + 7 + plen, cmw, cmw_len);
	*out = p;
	*len = n;
	return 0;
}

/* -------------------------------------------------------------- batcher */

enum close_why { CLOSE_FULL, CLOSE_ALL_IN, CLOSE_DEADLINE };

/* One member (leaf) of a batch: its handshake's deadline, and whether it
 * gave up waiting (give_up()). */
struct member {
	long long due;		/* CLOCK_MONOTONIC us, 0 = none */
	bool gone;
};

struct batch {
	unsigned int n, refs;
	unsigned int live;	/* members that have not given up */
	int leader, quoter;	/* member indices, -1 = none yet */
	bool closed, started, done;	/* started: the quoter is at the TPM */
	int err;
	struct member *m;	/* n of them */
	long long t_first_us, t_close_us;
	long long due_us;	/* earliest deadline of its handshakes (0 = none) */
	uint8_t depth;
	uint8_t (*tree)[H];
	uint8_t *cmw;
	size_t cmw_len;
	pthread_cond_t done_cv;
	uint8_t leaves[][H];
};

struct atls_batcher {
	pthread_mutex_t lock;
	pthread_cond_t change;
	struct batch *open;
	unsigned int inflight;		/* entered, not left */
	unsigned int on_way;		/* ... no leaf yet, not waiting for the peer */
	unsigned int quoting;		/* batches between close and done */
	struct atls_batch_stats st;	/* counters and estimates, under lock */

	struct atls_tpm *t;
	struct atls_evidence_params p;
	uint32_t window_us, max;

	pthread_mutex_t ids_lock;	/* guards have_ids and ids */
	bool have_ids;
	struct atls_attester_ids ids;

	/* Sharing (see the top), under the TPM handle's share lock. */
	bool shared;			/* on the handle's list (atls_batcher_get()) */
	unsigned int users;		/* contexts holding it */
	struct atls_batcher *next;
	unsigned long id;		/* unique in the process, never 0 */
};

static atomic_ulong batcher_ids;

/* Per thread, between atls_batcher_enter() and _leave() (see the top). */
static __thread struct atls_batcher *tl_submitted, *tl_entered;
static __thread long long tl_enter_us;
static __thread bool tl_peer_wait;

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Exponentially weighted moving average, weight 1/8 (0 = no sample yet). */
static void ewma(long long *est, long long sample)
{
	if (sample < 0)
		sample = 0;
	*est = *est ? *est + (sample - *est) / 8 : (sample ? sample : 1);
}

int atls_batcher_new(struct atls_tpm *t, const struct atls_evidence_params *p,
		     uint32_t window_us, uint32_t max, struct atls_batcher **out)
{
	pthread_condattr_t ca;
	struct atls_batcher *b;

	if (!t || !p || (p->key_mode != ATLS_KEY_TPM && p->key_mode != ATLS_KEY_SOFTWARE) ||
	    window_us > ATLS_BATCH_WINDOW_US_MAX || max > ATLS_BATCH_MAX_LEAVES)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->t = t;
	b->p = *p;
	b->window_us = window_us ? window_us : ATLS_BATCH_WINDOW_US_DEFAULT;
	b->max = max ? max : ATLS_BATCH_MAX_DEFAULT;
	b->id = atomic_fetch_add(&batcher_ids, 1) + 1;
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->ids_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->change, &ca);
	pthread_condattr_destroy(&ca);
	*out = b;
	return 0;
}

/* Nobody may use b any more: no handshake runs on a context holding it
 * (a shared one is freed by its last atls_batcher_put() this way). */
void atls_batcher_free(struct atls_batcher *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->change);
	pthread_mutex_destroy(&b->ids_lock);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* B would sign exactly what a batcher made with these arguments signs. */
static bool same_evidence(const struct atls_batcher *b, const struct atls_evidence_params *p,
			  uint32_t window_us, uint32_t max)
{
	if (b->p.key_mode != p->key_mode || b->p.ak_handle != p->ak_handle ||
	    b->p.pcr_bank_alg != p->pcr_bank_alg || b->p.pcr_mask != p->pcr_mask)
		return false;
	/* Key mode software certifies no key: tls_key_handle is not used. */
	if (p->key_mode == ATLS_KEY_TPM && b->p.tls_key_handle != p->tls_key_handle)
		return false;
	return b->window_us == (window_us ? window_us : ATLS_BATCH_WINDOW_US_DEFAULT) &&
	       b->max == (max ? max : ATLS_BATCH_MAX_DEFAULT);
}

int atls_batcher_get(struct atls_tpm *t, const struct atls_evidence_params *p,
		     uint32_t window_us, uint32_t max, struct atls_batcher **out)
{
	struct atls_batcher **head, *b;
	pthread_mutex_t *lock;
	int err = 0;

	if (!t || !p)
		return -EINVAL;
	head = atls_tpm_shared_batchers(t, &lock);
	pthread_mutex_lock(lock);
	for (b = *head; b; b = b->next)
		if (same_evidence(b, p, window_us, max))
			break;
	if (b) {
		b->users++;
	} else {
		err = atls_batcher_new(t, p, window_us, max, &b);
		if (!err) {
			b->shared = true;
			b->users = 1;
			b->next = *head;
			*head = b;
		}
	}
	pthread_mutex_unlock(lock);
	*out = err ? NULL : b;
	return err;
}

void atls_batcher_put(struct atls_batcher *b)
{
	struct atls_batcher **pp;
	pthread_mutex_t *lock;
	bool last;

	if (!b)
		return;
	if (!b->shared) {
		atls_batcher_free(b);
		return;
	}
	pp = atls_tpm_shared_batchers(b->t, &lock);
	pthread_mutex_lock(lock);
	last = !--b->users;
	if (last) {
		while (*pp != b)
			pp = &(*pp)->next;
		*pp = b->next;
	}
	pthread_mutex_unlock(lock);
	if (last)
		atls_batcher_free(b);
}

void atls_batcher_enter(struct atls_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	b->on_way++;
	pthread_mutex_unlock(&b->lock);
	tl_entered = b;
	tl_submitted = NULL;
	tl_peer_wait = false;
	tl_enter_us = mono_us();
}

/* This thread's handshake counts in b->on_way now. */
static bool tl_on_way(const struct atls_batcher *b)
{
	return tl_entered == b && tl_submitted != b && !tl_peer_wait;
}

void atls_batcher_leave(struct atls_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->inflight)
		b->inflight--;
	if (tl_on_way(b) && b->on_way)
		b->on_way--;
	pthread_cond_broadcast(&b->change);
	pthread_mutex_unlock(&b->lock);
	if (tl_entered == b)
		tl_entered = NULL;
	if (tl_submitted == b)
		tl_submitted = NULL;
	tl_peer_wait = false;
}

void atls_batcher_peer_wait(struct atls_batcher *b, bool waiting)
{
	/* Only a handshake without its leaf yet matters (lock-free otherwise). */
	if (!b || tl_entered != b || tl_submitted == b || tl_peer_wait == waiting)
		return;
	pthread_mutex_lock(&b->lock);
	if (waiting) {
		if (b->on_way)
			b->on_way--;
		b->st.peer_waits++;
		pthread_cond_broadcast(&b->change);	/* a leader may close now */
	} else {
		b->on_way++;
	}
	pthread_mutex_unlock(&b->lock);
	tl_peer_wait = waiting;
	if (!waiting)
		tl_enter_us = mono_us();	/* reach_us: this stretch of work only */
}

void atls_batcher_stats(struct atls_batcher *b, unsigned long *batches, unsigned long *leaves)
{
	pthread_mutex_lock(&b->lock);
	*batches = b->st.batches;
	*leaves = b->st.leaves;
	pthread_mutex_unlock(&b->lock);
}

void atls_batcher_counters(struct atls_batcher *b, struct atls_batch_stats *out)
{
	pthread_mutex_lock(&b->lock);
	*out = b->st;
	out->quoting = b->quoting;
	out->open_leaves = b->open ? b->open->n : 0;
	out->inflight = b->inflight;
	out->on_way = b->on_way;
	out->id = b->id;
	pthread_mutex_unlock(&b->lock);
}

/* The AK id (and TLS key public area) once per batcher: attester.h. */
static int ensure_ids(struct atls_batcher *b)
{
	int err = 0;

	pthread_mutex_lock(&b->ids_lock);
	if (!b->have_ids) {
		err = atls_attester_ids(b->t, &b->p, &b->ids);
		b->have_ids = !err;
	}
	pthread_mutex_unlock(&b->ids_lock);
	return err;
}

/* One Quote (+ Certify) over root: the batch's CMW record. */
static int batch_evidence(struct atls_batcher *b, const uint8_t root[H], uint8_t **cmw,
			  size_t *cmw_len)
{
	int err;

	if (atls_attester_check(&b->p))
		return -EINVAL;
	err = ensure_ids(b);
	if (err)
		return err;
	return atls_attester_record(b->t, &b->p, &b->ids, root, H, cmw, cmw_len);
}

/* Leader, without the lock: tree, root, TPM; results published under it. */
static void batch_quote(struct atls_batcher *b, struct batch *bt)
{
	uint8_t *cmw = NULL, depth = 0;
	size_t cmw_len = 0;
	uint8_t (*tree)[H];
	int err;

	tree = tree_build((const uint8_t (*)[H])bt->leaves, bt->n, &depth);
	if (!tree)
		err = -ENOMEM;
	else
		err = batch_evidence(b, tree[level_off(depth, depth)], &cmw, &cmw_len);
	pthread_mutex_lock(&b->lock);
	bt->tree = tree;
	bt->depth = depth;
	bt->cmw = cmw;
	bt->cmw_len = cmw_len;
	bt->err = err;
	bt->done = true;
	if (!err) {
		b->st.batches++;
		/* The TPM's latency as this batcher sees it: queue + command(s). */
		ewma(&b->st.quote_us, mono_us() - bt->t_close_us);
	}
	b->quoting--;
	pthread_cond_broadcast(&bt->done_cv);
	pthread_cond_broadcast(&b->change);	/* the next leader may close now */
	pthread_mutex_unlock(&b->lock);
}

/*
 * Under the lock, bt closed and not started: the live member with the latest
 * deadline (none is the latest) makes the quote.  With no live member left
 * the batch is done without a quote: nobody waits for it (abandoned).
 */
static void pick_quoter(struct atls_batcher *b, struct batch *bt)
{
	unsigned int i;
	int q = -1;

	for (i = 0; i < bt->n; i++) {
		if (bt->m[i].gone)
			continue;
		if (q < 0 || !bt->m[i].due || (bt->m[q].due && bt->m[i].due > bt->m[q].due))
			q = (int)i;
		if (!bt->m[q].due)
			break;
	}
	bt->quoter = q;
	if (q < 0) {
		bt->err = -ETIMEDOUT;
		bt->done = true;
		b->quoting--;
		b->st.abandoned++;
		pthread_cond_broadcast(&b->change);
	}
	pthread_cond_broadcast(&bt->done_cv);
}

/* Under the lock: no leaf joins bt any more; its root is fixed from here. */
static void batch_close(struct atls_batcher *b, struct batch *bt, enum close_why why)
{
	bt->closed = true;
	bt->t_close_us = mono_us();
	b->quoting++;
	if (b->open == bt)
		b->open = NULL;
	if (bt->n > b->st.largest)
		b->st.largest = bt->n;
	if (why == CLOSE_FULL)
		b->st.closed_full++;
	else if (why == CLOSE_ALL_IN)
		b->st.closed_all_in++;
	else
		b->st.closed_deadline++;
	pthread_cond_broadcast(&b->change);
	pick_quoter(b, bt);	/* wakes the members (bt->done_cv) */
}

/*
 * How long, from its first leaf, a batch waits for handshakes still on
 * their way to their leaf while the TPM is idle: as long as a handshake
 * computes its way to its leaf (reach_us, from its start or its last wait
 * for its peer) or a quote takes (quote_us), whichever
 * is longer, and never longer than the window (b->window_us: the
 * configured one, or 1 s).  Both are measured: the
 * wait follows the machine and the load, not a constant.
 * Until a handshake has been measured (the first ones of a context) only
 * the window bounds the wait for those known to be on their way.
 */
static long long patience_us(const struct atls_batcher *b)
{
	long long w = b->st.reach_us > b->st.quote_us ? b->st.reach_us : b->st.quote_us;

	if (!b->st.reach_us)
		return b->window_us;
	return w < (long long)b->window_us ? w : (long long)b->window_us;
}

/*
 * Leader, under the lock: wait until the batch should be quoted (the rules
 * and why they keep the latency bounded: protocol.rst, "Batching").
 *  1. batch_max leaves: at once (atls_batcher_produce() closes it).
 *  2. A batch of ours is at the TPM: keep collecting, however long that
 *     takes (group commit: the TPM runs one command at a time, so a batch
 *     closed now would only queue; everything that arrives meanwhile shares
 *     the next quote).  Its end wakes us (b->change).
 *  3. Another user's command is at the TPM (atls_tpm_outstanding()): keep
 *     collecting the same way, but only as long as rule 5 would (their
 *     commands might never stop; then we queue behind them).  Nothing
 *     wakes us when the TPM goes idle, so this wait polls, a quarter of a
 *     quote at a time.
 *  4. TPM idle and no handshake on the context is on its way to its leaf
 *     (b->on_way: entered, no leaf yet, and not waiting for its peer):
 *     nobody else can join soon, quote now.  A lone handshake (c=1) never
 *     waits: its added latency is the quote itself.  A handshake waiting
 *     for its peer's bytes (atls_batcher_peer_wait()) is never waited for:
 *     a stalled or slow peer cannot hold anybody's quote.
 *  5. TPM idle, handshakes still on their way: wait for them up to
 *     patience_us() from the first leaf.
 * Rules 3 and 5 end, in any case, halfway from the first leaf to the
 * earliest deadline of the batch's handshakes (atls_tpm_thread_deadline()):
 * the other half is theirs, for the quote and the rest of the handshake.
 * The leader's own deadline (due, 0 = none) ends its leadership: it returns
 * with the batch still open and gives up (atls_batcher_produce()).
 */
static void lead(struct atls_batcher *b, struct batch *bt, long long due)
{
	long long now, deadline, until;
	struct timespec ts;
	bool busy;

	while (!bt->closed) {
		now = mono_us();
		if (due && now >= due)
			return;
		if (b->quoting) {
			b->st.leader_waits++;
			if (!due) {
				pthread_cond_wait(&b->change, &b->lock);
				continue;
			}
			ts.tv_sec = (time_t)(due / 1000000);
			ts.tv_nsec = (long)(due % 1000000) * 1000;
			pthread_cond_timedwait(&b->change, &b->lock, &ts);
			continue;
		}
		busy = atls_tpm_outstanding(b->t) > 0;
		deadline = bt->t_first_us + patience_us(b);
		/* Early enough for the most hurried handshake's own deadline. */
		if (bt->due_us && bt->t_first_us + (bt->due_us - bt->t_first_us) / 2 < deadline)
			deadline = bt->t_first_us + (bt->due_us - bt->t_first_us) / 2;
		if (!busy && !b->on_way) {
			batch_close(b, bt, CLOSE_ALL_IN);
			break;
		}
		if (now >= deadline) {
			batch_close(b, bt, CLOSE_DEADLINE);
			break;
		}
		until = deadline;
		if (due && due < until)
			until = due;
		if (busy) {
			long long poll = b->st.quote_us / 4;

			poll = poll < 200 ? 200 : poll > 5000 ? 5000 : poll;
			if (now + poll < until)
				until = now + poll;
		}
		ts.tv_sec = (time_t)(until / 1000000);
		ts.tv_nsec = (long)(until % 1000000) * 1000;
		b->st.leader_waits++;
		pthread_cond_timedwait(&b->change, &b->lock, &ts);
	}
}

static struct batch *batch_new(struct atls_batcher *b)
{
	struct batch *bt = calloc(1, sizeof(*bt) + (size_t)b->max * H);
	pthread_condattr_t ca;

	if (!bt)
		return NULL;
	bt->m = calloc(b->max, sizeof(*bt->m));
	if (!bt->m) {
		free(bt);
		return NULL;
	}
	bt->leader = bt->quoter = -1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bt->done_cv, &ca);
	pthread_condattr_destroy(&ca);
	bt->t_first_us = mono_us();
	return bt;
}

static void batch_put(struct batch *bt)
{
	/* Called with the batcher lock held; frees on the last reference. */
	if (--bt->refs)
		return;
	pthread_cond_destroy(&bt->done_cv);
	free(bt->m);
	free(bt->tree);
	free(bt->cmw);
	free(bt);
}

/*
 * Under the lock: member me of bt gives up at its deadline.  A leader hands
 * the open batch to the others (the first to wake leads); a quoter that has
 * not begun hands the quote on (pick_quoter()).  An open batch nobody is
 * left in is taken off B->open: no later leaf joins a batch without a
 * leader, and it is freed with the last reference, never quoted.
 */
static void give_up(struct atls_batcher *b, struct batch *bt, unsigned int me)
{
	bt->m[me].gone = true;
	bt->live--;
	b->st.timed_out++;
	if (!bt->closed) {
		if (bt->leader == (int)me)
			bt->leader = -1;
		if (!bt->live) {
			if (b->open == bt)
				b->open = NULL;
			b->st.abandoned++;
			pthread_cond_broadcast(&b->change);
		}
		pthread_cond_broadcast(&bt->done_cv);
	} else if (!bt->started && !bt->done && bt->quoter == (int)me) {
		pick_quoter(b, bt);
	}
}

/*
 * Under the lock: member me waits for its batch (leading it, or making its
 * quote, when that falls to it) until it is done or me's deadline passes.
 */
static int await_batch(struct atls_batcher *b, struct batch *bt, unsigned int me, long long due)
{
	struct timespec ts;

	for (;;) {
		if (bt->done)
			return bt->err;
		if (bt->closed && bt->quoter == (int)me && !bt->started) {
			bt->started = true;
			pthread_mutex_unlock(&b->lock);
			batch_quote(b, bt);	/* under the quoter's own TPM deadline */
			pthread_mutex_lock(&b->lock);
			continue;
		}
		if (due && mono_us() >= due) {
			give_up(b, bt, me);
			return -ETIMEDOUT;
		}
		if (!bt->closed && (bt->leader < 0 || bt->leader == (int)me)) {
			bt->leader = (int)me;
			lead(b, bt, due);	/* closed, or our deadline passed */
			continue;
		}
		if (!due) {
			pthread_cond_wait(&bt->done_cv, &b->lock);
			continue;
		}
		ts.tv_sec = (time_t)(due / 1000000);
		ts.tv_nsec = (long)(due % 1000000) * 1000;
		pthread_cond_timedwait(&bt->done_cv, &b->lock, &ts);
	}
}

int atls_batcher_produce(struct atls_batcher *b, const uint8_t *binder, size_t blen,
			 uint8_t **out, size_t *len)
{
	uint8_t leaf[H], path[ATLS_BATCH_MAX_DEPTH * H];
	long long now = mono_us(), due;
	struct batch *bt;
	unsigned int idx;
	int err;

	*out = NULL;
	*len = 0;
	if (!b)
		return -EINVAL;
	err = atls_batch_leaf(binder, blen, leaf);
	if (err)
		return err;
	due = (long long)atls_tpm_thread_deadline();

	pthread_mutex_lock(&b->lock);
	/* How long this handshake computed its way to its leaf. */
	if (tl_entered == b && tl_submitted != b) {
		if (!tl_peer_wait) {
			ewma(&b->st.reach_us, now - tl_enter_us);
			if (b->on_way)
				b->on_way--;
		}
		tl_submitted = b;
		tl_peer_wait = false;
	}
	bt = b->open;
	if (!bt) {
		bt = batch_new(b);
		if (!bt) {
			pthread_mutex_unlock(&b->lock);
			return -ENOMEM;
		}
		b->open = bt;
	}
	if (due && (!bt->due_us || due < bt->due_us))
		bt->due_us = due;
	idx = bt->n++;
	memcpy(bt->leaves[idx], leaf, H);
	bt->m[idx].due = due;
	bt->live++;
	bt->refs++;
	b->st.leaves++;
	if (bt->n >= b->max)
		batch_close(b, bt, CLOSE_FULL);
	else
		pthread_cond_broadcast(&b->change);
	err = await_batch(b, bt, idx, due);
	pthread_mutex_unlock(&b->lock);

	/* Closed and done: tree and CMW are immutable until our reference goes. */
	if (!err) {
		tree_path(bt->tree, bt->depth, idx, path);
		err = atls_batch_encode(bt->depth, (uint16_t)idx, path, bt->cmw, bt->cmw_len, out,
					len);
	}
	pthread_mutex_lock(&b->lock);
	batch_put(bt);
	pthread_mutex_unlock(&b->lock);
	return err;
}

/* -------------------------------------------------------- relying party */

struct cache_ent {
	bool used;
	bool busy;		/* being appraised by one handshake (see the top) */
	uint8_t key[H], root[H];
	struct atls_claims claims;
	struct atls_appraisal appraisal;
};

struct atls_batch_cache {
	pthread_mutex_t lock;
	pthread_cond_t settled;		/* a busy entry was filled in or dropped */
	unsigned int next;
	unsigned long full, hits;
	struct cache_ent e[CACHE_SLOTS];
};

int atls_batch_cache_new(struct atls_batch_cache **out)
{
	struct atls_batch_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->settled, NULL);
	*out = c;
	return 0;
}

void atls_batch_cache_free(struct atls_batch_cache *c)
{
	if (!c)
		return;
	pthread_cond_destroy(&c->settled);
	pthread_mutex_destroy(&c->lock);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

void atls_batch_cache_stats(struct atls_batch_cache *c, unsigned long *full, unsigned long *hits)
{
	pthread_mutex_lock(&c->lock);
	*full = c->full;
	*hits = c->hits;
	pthread_mutex_unlock(&c->lock);
}

static int cache_key(const uint8_t *cmw, size_t cmw_len, const uint8_t *spki, size_t spki_len,
		      uint8_t key[H])
{
	uint8_t l[4] = { (uint8_t)(cmw_len >> 24), (uint8_t)(cmw_len >> 16),
			 (uint8_t)(cmw_len >> 8), (uint8_t)cmw_len };
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	unsigned int n;
	int ok;

	ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) && EVP_DigestUpdate(h, l, sizeof(l)) &&
	     EVP_DigestUpdate(h, cmw, cmw_len) &&
	     (!spki_len || EVP_DigestUpdate(h, spki, spki_len)) && EVP_DigestFinal_ex(h, key, &n);
	EVP_MD_CTX_free(h);
	return ok ? 0 : -ENOMEM;	/* no key: the caller does not use the cache */
}

static int mismatch(struct atls_appraisal *out)
{
	out->status = ATLS_EAR_CONTRAINDICATED;
	out->reason = ATLS_REASON_FRESHNESS;
	snprintf(out->text, sizeof(out->text), "%s",
		 "inclusion path of this handshake's binder does not lead to the quoted root");
	return -EKEYREJECTED;
}

/*
 * 1 = hit (out/claims filled), -1 = this CMW is known for another root,
 * 0 = miss: then *slot is an entry now marked busy for us to fill in
 * (cache_settle()), or NULL when every slot is busy (appraise uncached).
 * An entry another handshake is appraising is waited for, not appraised a
 * second time: the handshakes of one batch reach the relying party nearly
 * together, and only the first does the signature and policy checks.
 */
static int cache_lookup(struct atls_batch_cache *c, const uint8_t key[H], const uint8_t root[H],
			struct atls_claims *claims, struct atls_appraisal *out,
			struct cache_ent **slot)
{
	struct cache_ent *e;
	unsigned int i, k;

	*slot = NULL;
	pthread_mutex_lock(&c->lock);
again:
	for (i = 0; i < CACHE_SLOTS; i++) {
		e = &c->e[i];
		if (!e->used || CRYPTO_memcmp(e->key, key, H))
			continue;
		if (e->busy) {
			pthread_cond_wait(&c->settled, &c->lock);
			goto again;	/* filled in, or dropped after a failure */
		}
		if (CRYPTO_memcmp(e->root, root, H)) {
			pthread_mutex_unlock(&c->lock);
			return -1;
		}
		*claims = e->claims;
		*out = e->appraisal;
		c->hits++;
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	/* Miss: claim the next slot nobody is appraising into. */
	for (k = 0; k < CACHE_SLOTS; k++) {
		e = &c->e[c->next];
		c->next = (c->next + 1) % CACHE_SLOTS;
		if (e->busy)
			continue;
		memset(e, 0, sizeof(*e));
		e->used = e->busy = true;
		memcpy(e->key, key, H);
		memcpy(e->root, root, H);
		*slot = e;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* Fill in (ok) or drop our busy entry and wake whoever waits for it. */
static void cache_settle(struct atls_batch_cache *c, struct cache_ent *e, bool ok,
			 const struct atls_claims *claims, const struct atls_appraisal *out)
{
	pthread_mutex_lock(&c->lock);
	c->full++;
	if (e) {
		if (ok) {
			e->claims = *claims;
			e->appraisal = *out;
		} else {
			OPENSSL_cleanse(e, sizeof(*e));	/* used = busy = false */
		}
		e->busy = false;
		pthread_cond_broadcast(&c->settled);
	}
	pthread_mutex_unlock(&c->lock);
}

int atls_batch_appraise(struct atls_batch_cache *cache, const struct atls_policy *pol,
			int peer_role, const uint8_t *in, size_t len, const uint8_t *binder,
			size_t blen, const uint8_t *peer_spki_der, size_t spki_len,
			struct atls_claims *claims, struct atls_appraisal *out)
{
	struct cache_ent *slot = NULL;
	struct atls_batch_proof pr;
	struct atls_claims scratch;
	uint8_t leaf[H], root[H], key[H];
	int err, hit = 0;

	if (!claims)
		claims = &scratch;
	memset(claims, 0, sizeof(*claims));
	memset(out, 0, sizeof(*out));
	if (atls_batch_parse(in, len, &pr)) {
		out->status = ATLS_EAR_CONTRAINDICATED;
		out->reason = ATLS_REASON_MALFORMED_EVIDENCE;
		snprintf(out->text, sizeof(out->text), "%s", "batched evidence does not parse");
		return -EBADMSG;
	}
	if (atls_batch_leaf(binder, blen, leaf) || atls_batch_root(leaf, &pr, root)) {
		out->status = ATLS_EAR_CONTRAINDICATED;
		out->reason = ATLS_REASON_INTERNAL;
		snprintf(out->text, sizeof(out->text), "%s", "no binder to appraise against");
		return -EINVAL;
	}
	if (cache && cache_key(pr.cmw, pr.cmw_len, peer_spki_der, spki_len, key))
		cache = NULL;
	if (cache) {
		hit = cache_lookup(cache, key, root, claims, out, &slot);
		if (hit < 0)
			return mismatch(out);
		if (hit)
			return 0;
	}
	err = atls_evidence_appraise(pol, peer_role, pr.cmw, pr.cmw_len, root, H, peer_spki_der,
				     spki_len, claims, out);
	if (cache)	/* before any return: others may wait for this slot */
		cache_settle(cache, slot, !err, claims, out);
	if (err == -EKEYREJECTED && out->reason == ATLS_REASON_FRESHNESS)
		return mismatch(out);
	return err;
}
