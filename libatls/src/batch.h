/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Batched quotes (Documentation/protocol.rst, "Batched quotes").
 *
 * The binders of handshakes that reach the attester while a batch is open
 * (group commit: batch.c, "Batching" in protocol.rst) become the leaves of a
 * SHA-256 hash tree; one TPM2_Quote (and, in key mode
 * tpm, one TPM2_Certify) carries the tree's root as qualifying data.  Each
 * handshake's evidence is that one CMW record plus the inclusion path of its
 * own leaf; the relying party recomputes the root from the binder *it*
 * derived and appraises the quote against that root.
 *
 * Tree (fixed depth d, 2^d leaf slots, unused slots padded):
 *   leaf(binder)   = SHA-256(0x00 || binder)
 *   pad            = SHA-256(0x02)
 *   node(l, r)     = SHA-256(0x01 || l || r)
 *   qualifying data of the quote = root (32 bytes)
 *
 * BatchEvidence (the Certificate-entry payload of the batched scheme, after
 * the u24 length; Documentation/protocol.rst, "Bytes of each message"):
 *   u8  version (1)
 *   u8  depth d               0 .. ATLS_BATCH_MAX_DEPTH
 *   u16 leaf_index            < 2^d
 *   d x 32 bytes              sibling hashes, leaf level first
 *   u24 cmw_len || cmw        the ordinary TPM CMW record (evidence.h)
 * Nothing may follow.  Integers are big-endian.
 *
 * Objects:
 *  - struct atls_batcher: the attester's batching state, shared by every
 *    atls_ctx that attests with batching on the same TPM handle and would
 *    sign the same evidence (batch.c, "Sharing"); thread safe (one mutex,
 *    see batch.c).
 *  - struct atls_batch_cache: the relying party's cache of appraisals of
 *    quotes it has already verified; thread safe (one mutex).
 */
#ifndef ATLS_BATCH_H
#define ATLS_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <atls/atls.h>
#include <atls/policy.h>

#include "evidence.h"

#define ATLS_BATCH_VERSION 1
#define ATLS_BATCH_MAX_DEPTH 10				/* 1024 leaves */
#define ATLS_BATCH_MAX_LEAVES (1u << ATLS_BATCH_MAX_DEPTH)
/* The window caps how long a batch waits; within it the batcher's own
 * measurements decide (batch.c, patience_us()).  0 = the default, the
 * largest window: the cap under which batching was measured in the VM
 * (Documentation/performance.rst, issue 17). */
#define ATLS_BATCH_WINDOW_US_MAX 1000000u
#define ATLS_BATCH_WINDOW_US_DEFAULT ATLS_BATCH_WINDOW_US_MAX
#define ATLS_BATCH_MAX_DEFAULT 64u
#define ATLS_BATCH_HASH 32

/* ------------------------------------------------ wire format (pure, fuzzed) */

struct atls_batch_proof {
	uint8_t depth;
	uint16_t index;
	const uint8_t *path;	/* depth x 32 bytes, into the parsed buffer */
	const uint8_t *cmw;	/* into the parsed buffer */
	size_t cmw_len;
};

/* Parse BatchEvidence strictly: -EBADMSG on anything malformed. */
int atls_batch_parse(const uint8_t *in, size_t len, struct atls_batch_proof *out);
/* Encode BatchEvidence (malloc'ed).  -EINVAL / -EMSGSIZE / -ENOMEM. */
int atls_batch_encode(uint8_t depth, uint16_t index, const uint8_t *path, const uint8_t *cmw,
		      size_t cmw_len, uint8_t **out, size_t *len);
/* leaf(binder). */
int atls_batch_leaf(const uint8_t *binder, size_t blen, uint8_t leaf[ATLS_BATCH_HASH]);
/* The root the proof's path leads to from leaf. */
int atls_batch_root(const uint8_t leaf[ATLS_BATCH_HASH], const struct atls_batch_proof *p,
		    uint8_t root[ATLS_BATCH_HASH]);

/* ------------------------------------------------------------- attester */

struct atls_batcher;

/*
 * window_us: the most a batch waits for more leaves, from its first one,
 * while the TPM is idle or busy with others' commands (0 = default, 1 s;
 * within it the batcher decides by itself, batch.c, lead()); max: leaves per quote
 * (0 = default, at most ATLS_BATCH_MAX_LEAVES).
 * p describes the evidence exactly as for atls_evidence_produce().
 */
int atls_batcher_new(struct atls_tpm *t, const struct atls_evidence_params *p,
		     uint32_t window_us, uint32_t max, struct atls_batcher **out);
void atls_batcher_free(struct atls_batcher *b);
/*
 * The batcher of a context (atls_ctx_new()): the one already made for t
 * with the same evidence parameters, window and max (every field of p that
 * the CMW depends on: batch.c, "Sharing"), counted once more, or a new one.
 * Arguments and errors as atls_batcher_new().  atls_batcher_put() counts
 * the context out (no handshake of it may run any more); the last one
 * frees the batcher.  t must outlive it (it does: it outlives its contexts).
 */
int atls_batcher_get(struct atls_tpm *t, const struct atls_evidence_params *p,
		     uint32_t window_us, uint32_t max, struct atls_batcher **out);
void atls_batcher_put(struct atls_batcher *b);

/*
 * A handshake on a context using b starts / ends (atls_handshake(), in the
 * thread that later calls atls_batcher_produce()).  The batcher closes a
 * batch without waiting when the TPM is idle and no handshake in progress
 * is still computing its way to its leaf: nobody else can join soon, so
 * waiting longer only adds latency (an idle server quotes at once); and it
 * learns from enter (or the end of the last wait for the peer) to produce
 * how long handshakes take to reach their leaf.  NULL b is a no-op.
 */
void atls_batcher_enter(struct atls_batcher *b);
void atls_batcher_leave(struct atls_batcher *b);
/*
 * The calling thread's handshake begins (waiting true) or ends (false) a
 * wait for its peer's bytes (handshake.c, atls_io_wait()).  While it waits
 * it is not "on its way" to its leaf: no batch waits for it, so a stalled
 * or slow peer never delays another handshake's quote.  Cheap and
 * lock-free once the handshake has its leaf; NULL b is a no-op.
 */
void atls_batcher_peer_wait(struct atls_batcher *b, bool waiting);

/* This handshake's BatchEvidence (malloc'ed) for its binder; blocks until the
 * batch's quote is made, or until the calling thread's TPM deadline
 * (atls_tpm_thread_deadline()) passes: then -ETIMEDOUT.  The batch's quote is
 * asked for under the latest deadline of its members (batch.c, the top).
 * -errno (TPM failures as atls_evidence_produce()). */
int atls_batcher_produce(struct atls_batcher *b, const uint8_t *binder, size_t blen,
			 uint8_t **out, size_t *len);

/* Counters since creation: quotes made (batches) and leaves served. */
void atls_batcher_stats(struct atls_batcher *b, unsigned long *batches, unsigned long *leaves);

/* Everything the batcher knows about itself (tests, benchmarks). */
struct atls_batch_stats {
	unsigned long batches;		/* quotes made */
	unsigned long leaves;		/* leaves served */
	unsigned long closed_full;	/* batches closed at batch_max leaves */
	unsigned long closed_all_in;	/* ... TPM idle, every handshake in progress in */
	unsigned long closed_deadline;	/* ... after waiting their longest */
	unsigned long leader_waits;	/* times a leader slept before its batch closed */
	unsigned long peer_waits;	/* waits for a peer before a leaf (never waited for) */
	unsigned long timed_out;	/* leaves whose handshake gave up at its deadline */
	unsigned long abandoned;	/* batches every member gave up on: never quoted */
	unsigned int quoting;		/* batches closed whose quote is not done */
	unsigned int open_leaves;	/* leaves in the batch now collecting */
	unsigned int inflight;		/* handshakes entered and not left */
	unsigned int on_way;		/* ... computing their way to their leaf */
	unsigned int largest;		/* most leaves one batch had */
	long long quote_us;		/* measured: close to quote done (EWMA) */
	long long reach_us;		/* measured: handshake start to its leaf (EWMA) */
	unsigned long id;		/* this batcher, unique in the process */
};
void atls_batcher_counters(struct atls_batcher *b, struct atls_batch_stats *out);

/* -------------------------------------------------------- relying party */

struct atls_batch_cache;

int atls_batch_cache_new(struct atls_batch_cache **out);
void atls_batch_cache_free(struct atls_batch_cache *c);
/* Counters: full appraisals and cache hits. */
void atls_batch_cache_stats(struct atls_batch_cache *c, unsigned long *full,
			    unsigned long *hits);

/*
 * Appraise BatchEvidence for a peer whose binder this side computed: the
 * inclusion path must lead from leaf(binder) to a root, and the inner CMW
 * must pass atls_evidence_appraise() with that root as qualifying data.  A
 * quote already affirmed for the same (CMW bytes, peer SPKI, root) is not
 * verified again (cache may be NULL: no caching).  Returns and fills out /
 * claims like atls_evidence_appraise(); a path that does not lead to the
 * quote's root is ATLS_REASON_FRESHNESS.
 */
int atls_batch_appraise(struct atls_batch_cache *cache, const struct atls_policy *pol,
			int peer_role, const uint8_t *in, size_t len, const uint8_t *binder,
			size_t blen, const uint8_t *peer_spki_der, size_t spki_len,
			struct atls_claims *claims, struct atls_appraisal *out);

#endif /* ATLS_BATCH_H */
