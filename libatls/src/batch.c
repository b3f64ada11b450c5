// SPDX-License-Identifier: Apache-2.0
/*
 * Batched quotes: the hash tree, the BatchEvidence wire format, the
 * attester's batcher and the relying party's appraisal cache (layout and
 * formulas in batch.h; the security argument in Documentation/protocol.rst,
 * "Batched quotes").
 *
 * Batcher (attester side).  Lifetimes and locking:
 *  - B->lock protects B->open, B->inflight, B->submitted, the counters and
 *    every struct batch's n/closed/done/refs.  B->change wakes the leader of
 *    the open batch (a leaf arrived, a handshake left, the batch filled up).
 *  - The first handshake to find no open batch creates one and is its
 *    leader: it waits (B->change, CLOCK_MONOTONIC) until the batch is full,
 *    or its window has passed since the first leaf, or every handshake in
 *    progress on the context has submitted a leaf (nobody else can come: an
 *    idle attester quotes at once).  It then closes the batch (later
 *    arrivals open the next one, which collects while this one is quoted),
 *    and, without the lock, builds the tree and asks the TPM owner for the
 *    Quote (and Certify).  The leaves, tree and CMW of a closed batch are
 *    immutable, so after `done` everybody reads them without the lock.
 *  - Each handshake holds one reference on its batch from submitting its
 *    leaf until it has encoded its proof; the last one frees the batch.
 *  - "Submitted" is remembered per thread (tl_submitted) between
 *    atls_batcher_produce() and atls_batcher_leave(): both run in the thread
 *    of one atls_handshake() call, which never nests.
 *  - AK kid and (key mode tpm) the TLS key's public area are read from the
 *    TPM once, under B->ids_lock, by the first leader: a quote then costs
 *    the TPM exactly one command (two in key mode tpm).
 *
 * Cache (relying party).  An entry says: this exact CMW record, presented
 * for a peer certificate with this SPKI, was fully appraised (signatures,
 * AK, PCRs, key binding) and affirmed with qualifying data `root`.  A later
 * handshake still proves its own leaf up to a root, and the cached result is
 * used only when that root is the cached one.  Fixed 64 slots, round robin,
 * under c->lock.
 */
#include <errno.h>
#include <pthread.h>
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

struct batch {
	unsigned int n, refs;
	bool closed, done;
	int err;
	long long t_first_us;
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
	unsigned int inflight, submitted;
	unsigned int quoting;		/* batches between close and done */
	unsigned int peak_cur, peak_prev;	/* most handshakes in flight, this / last batch */
	unsigned long batches, leaves;

	struct atls_tpm *t;
	struct atls_evidence_params p;
	uint32_t window_us, max;

	pthread_mutex_t ids_lock;	/* guards have_ids and ids */
	bool have_ids;
	struct atls_attester_ids ids;
};

static __thread struct atls_batcher *tl_submitted;

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->ids_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->change, &ca);
	pthread_condattr_destroy(&ca);
	*out = b;
	return 0;
}

/* No handshake may be running on the owning context (atls_ctx_free()). */
void atls_batcher_free(struct atls_batcher *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->change);
	pthread_mutex_destroy(&b->ids_lock);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

void atls_batcher_enter(struct atls_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	if (b->inflight > b->peak_cur)
		b->peak_cur = b->inflight;
	pthread_mutex_unlock(&b->lock);
}

void atls_batcher_leave(struct atls_batcher *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->inflight)
		b->inflight--;
	if (tl_submitted == b) {
		tl_submitted = NULL;
		if (b->submitted)
			b->submitted--;
	}
	pthread_cond_broadcast(&b->change);
	pthread_mutex_unlock(&b->lock);
}

void atls_batcher_stats(struct atls_batcher *b, unsigned long *batches, unsigned long *leaves)
{
	pthread_mutex_lock(&b->lock);
	*batches = b->batches;
	*leaves = b->leaves;
	pthread_mutex_unlock(&b->lock);
}

/* AK kid and TLS key public area, read from the TPM once. */
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
	if (!err)
		b->batches++;
	b->quoting--;
	pthread_cond_broadcast(&bt->done_cv);
	pthread_cond_broadcast(&b->change);	/* the next leader may close now */
	pthread_mutex_unlock(&b->lock);
}

static void batch_close(struct atls_batcher *b, struct batch *bt)
{
	bt->closed = true;
	b->quoting++;
	if (b->open == bt) {
		b->open = NULL;
		b->peak_prev = b->peak_cur;
		b->peak_cur = b->inflight;
	}
	pthread_cond_broadcast(&b->change);
}

/*
 * Close before the window ends?  Only when waiting cannot add a leaf soon
 * and cannot save a TPM command: every handshake in progress has submitted,
 * the batch is at least as large as the concurrency seen during the last
 * batch (a closed-loop client at concurrency 1 is served at once; under load
 * the batch grows to the offered concurrency), and no other batch is being
 * quoted (the TPM runs one command at a time: a batch closed now would only
 * queue behind it, so it might as well keep collecting).
 */
static bool close_early(const struct atls_batcher *b, const struct batch *bt)
{
	return b->inflight <= b->submitted && bt->n >= b->peak_prev;
}

/*
 * Leader, under the lock: wait until the batch should be quoted.  A full
 * batch goes at once.  Otherwise nothing is closed while another batch is
 * at the TPM, even after the window: the TPM runs one command at a time, so
 * a batch closed now would wait in its queue anyway, and keeping it open
 * lets the handshakes arriving meanwhile share its quote (with a slow TPM
 * the batch size follows the quote time, not the window).
 */
static void lead(struct atls_batcher *b, struct batch *bt)
{
	long long deadline = bt->t_first_us + b->window_us;
	struct timespec ts;

	while (!bt->closed) {
		bool expired = mono_us() >= deadline;

		if (bt->n >= b->max || (!b->quoting && (expired || close_early(b, bt)))) {
			batch_close(b, bt);
			break;
		}
		if (expired) {
			pthread_cond_wait(&b->change, &b->lock);	/* until a quote is done */
			continue;
		}
		ts.tv_sec = (time_t)(deadline / 1000000);
		ts.tv_nsec = (long)(deadline % 1000000) * 1000;
		pthread_cond_timedwait(&b->change, &b->lock, &ts);
	}
}

static struct batch *batch_new(struct atls_batcher *b)
{
	struct batch *bt = calloc(1, sizeof(*bt) + (size_t)b->max * H);
	pthread_condattr_t ca;

	if (!bt)
		return NULL;
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
	free(bt->tree);
	free(bt->cmw);
	free(bt);
}

int atls_batcher_produce(struct atls_batcher *b, const uint8_t *binder, size_t blen,
			 uint8_t **out, size_t *len)
{
	uint8_t leaf[H], path[ATLS_BATCH_MAX_DEPTH * H];
	struct batch *bt;
	unsigned int idx;
	bool leader = false;
	int err;

	*out = NULL;
	*len = 0;
	if (!b)
		return -EINVAL;
	err = atls_batch_leaf(binder, blen, leaf);
	if (err)
		return err;

	pthread_mutex_lock(&b->lock);
	bt = b->open;
	if (!bt) {
		bt = batch_new(b);
		if (!bt) {
			pthread_mutex_unlock(&b->lock);
			return -ENOMEM;
		}
		b->open = bt;
		leader = true;
	}
	idx = bt->n++;
	memcpy(bt->leaves[idx], leaf, H);
	bt->refs++;
	b->leaves++;
	if (tl_submitted != b) {
		tl_submitted = b;
		b->submitted++;
	}
	if (bt->n >= b->max)
		batch_close(b, bt);
	else
		pthread_cond_broadcast(&b->change);
	if (leader) {
		lead(b, bt);
		pthread_mutex_unlock(&b->lock);
		batch_quote(b, bt);
		pthread_mutex_lock(&b->lock);
	}
	while (!bt->done)
		pthread_cond_wait(&bt->done_cv, &b->lock);
	pthread_mutex_unlock(&b->lock);

	/* Closed and done: tree and CMW are immutable until our reference goes. */
	err = bt->err;
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
	uint8_t key[H], root[H];
	struct atls_claims claims;
	struct atls_appraisal appraisal;
};

struct atls_batch_cache {
	pthread_mutex_t lock;
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
	*out = c;
	return 0;
}

void atls_batch_cache_free(struct atls_batch_cache *c)
{
	if (!c)
		return;
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

/* 1 = hit (out/claims filled), 0 = miss, <0 = this CMW is known for another root. */
static int cache_lookup(struct atls_batch_cache *c, const uint8_t key[H], const uint8_t root[H],
			struct atls_claims *claims, struct atls_appraisal *out)
{
	unsigned int i;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CACHE_SLOTS; i++) {
		struct cache_ent *e = &c->e[i];

		if (!e->used || CRYPTO_memcmp(e->key, key, H))
			continue;
		if (CRYPTO_memcmp(e->root, root, H)) {
			ret = -1;
			break;
		}
		*claims = e->claims;
		*out = e->appraisal;
		c->hits++;
		ret = 1;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static void cache_insert(struct atls_batch_cache *c, const uint8_t key[H], const uint8_t root[H],
			 const struct atls_claims *claims, const struct atls_appraisal *out)
{
	struct cache_ent *e;

	pthread_mutex_lock(&c->lock);
	e = &c->e[c->next];
	c->next = (c->next + 1) % CACHE_SLOTS;
	e->used = true;
	memcpy(e->key, key, H);
	memcpy(e->root, root, H);
	e->claims = *claims;
	e->appraisal = *out;
	pthread_mutex_unlock(&c->lock);
}

int atls_batch_appraise(struct atls_batch_cache *cache, const struct atls_policy *pol,
			int peer_role, const uint8_t *in, size_t len, const uint8_t *binder,
			size_t blen, const uint8_t *peer_spki_der, size_t spki_len,
			struct atls_claims *claims, struct atls_appraisal *out)
{
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
		hit = cache_lookup(cache, key, root, claims, out);
		if (hit < 0)
			return mismatch(out);
		if (hit)
			return 0;
	}
	err = atls_evidence_appraise(pol, peer_role, pr.cmw, pr.cmw_len, root, H, peer_spki_der,
				     spki_len, claims, out);
	if (err == -EKEYREJECTED && out->reason == ATLS_REASON_FRESHNESS)
		return mismatch(out);
	if (cache) {
		pthread_mutex_lock(&cache->lock);
		cache->full++;
		pthread_mutex_unlock(&cache->lock);
		if (!err)
			cache_insert(cache, key, root, claims, out);
	}
	return err;
}
