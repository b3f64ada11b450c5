// SPDX-License-Identifier: Apache-2.0
/*
 * The one owner of the TPM connection.
 *
 * A struct atls_tpm holds the TCTI and ESYS contexts and a worker thread.
 * Nothing but the worker touches the ESYS context once the thread runs: every
 * other thread describes what it wants as a callback (struct tpm_req), queues
 * it and sleeps until the worker has run it.  This serialises the TPM (which
 * executes one command at a time anyway), keeps the non-thread-safe ESYS
 * context single-threaded, and is the place where quotes can later be batched.
 *
 * Lifetimes and locking:
 *  - t->lock protects the queue (head/tail), t->stopping and every req->done;
 *    t->wake wakes the worker, t->done wakes callers (broadcast: each caller
 *    re-checks its own req->done).
 *  - A request lives on the caller's stack; the worker never touches it after
 *    setting req->done under the lock, so the caller may return immediately.
 *  - The ESYS context is created in atls_tpm_open() before the worker starts
 *    and finalised in atls_tpm_close() after it has been joined, so it is only
 *    ever used by one thread at a time.
 *  - The handle cache (persistent handle -> ESYS_TR) is worker-only state.
 *  - The statistics (calls, busy_us) are C11 atomics, not under t->lock:
 *    every caller adds its own call after its request has completed, and
 *    atls_tpm_stats() may be asked from any thread (atlsd's control socket)
 *    at any rate, so reading them must not contend with the queue or wait
 *    behind a slow TPM command.  They are independent advisory totals, so
 *    relaxed ordering is enough: a reader may see a call counted whose time
 *    is not added yet, never a torn value.
 *  - delay_us (atls_tpm_set_delay(), a test seam) is an atomic too: set from
 *    any thread, read by whoever runs a callback.
 *  - outstanding counts requests from the moment they are queued until their
 *    caller has the answer (or withdrew them); an atomic for the same reason
 *    as the statistics: the batcher (batch.c) reads it to know whether the
 *    TPM is busy, without taking t->lock.
 *  - Deadlines (atls_tpm_set_thread_deadline()): a per-thread value, set by
 *    the handshake for its own thread.  A caller whose deadline passes while
 *    its request is still queued unlinks it under t->lock and returns
 *    -ETIMEDOUT; the worker never saw it.  A request the worker has already
 *    taken off the queue is running: its caller waits for the answer (the
 *    request lives on the caller's stack), so the overshoot is at most one
 *    request's command time.  t->done uses CLOCK_MONOTONIC, like the
 *    deadlines.
 *
 * There is no resource manager on the raw swtpm TCTI: any transient object
 * must be flushed by whoever created it (provision.c does); the normal
 * operations only use persistent keys and password authorisation, so they
 * create no transient objects or sessions at all.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "tpm_int.h"

#define TPM_CACHE_SLOTS 8
#define TPM_AUTH_SLOTS 4

struct tpm_req {
	int (*fn)(struct atls_tpm *t, void *arg);
	void *arg;
	int rc;
	bool done;
	struct tpm_req *next;
};

struct atls_tpm {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t done;
	struct tpm_req *head, **tail;
	bool stopping;
	pthread_t worker;

	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	struct {
		uint32_t handle;
		ESYS_TR tr;
	} cache[TPM_CACHE_SLOTS];
	unsigned int cache_next;
	/*
	 * Authorization values of persistent keys (atls_tpm_set_key_auth()),
	 * applied to a handle's ESYS_TR when it enters the cache.  Worker-only
	 * like the cache; wiped at close.
	 */
	struct {
		uint32_t handle;
		TPM2B_AUTH auth;
	} auth[TPM_AUTH_SLOTS];

	/* Statistics, atls_tpm_stats(): see the top for why atomics. */
	atomic_ulong calls;		/* requests completed (whatever their result) */
	atomic_ullong busy_us;		/* their queue wait + command time */
	atomic_uint delay_us;		/* test seam: atls_tpm_set_delay() */
	atomic_uint outstanding;	/* requests queued or running: atls_tpm_outstanding() */

	/*
	 * The batchers of the contexts that borrow this handle, shared by those
	 * that would sign the same evidence (batch.c, "Sharing"): a list owned
	 * by batch.c, under share_lock, which nothing else takes.  Empty again
	 * once the last such context is freed, so before atls_tpm_close().
	 */
	pthread_mutex_t share_lock;
	struct atls_batcher *shared;
};

int atls_tpm_rc_errno(TSS2_RC rc)
{
	if (rc == TSS2_RC_SUCCESS)
		return 0;
	/* TPM format-one codes: strip the handle/parameter/session number. */
	if ((rc & TSS2_RC_LAYER_MASK) == 0 && (rc & TPM2_RC_FMT1)) {
		TPM2_RC base = (rc & 0x3f) | TPM2_RC_FMT1;

		if (base == TPM2_RC_HANDLE)
			return -ENOENT;
		if (base == TPM2_RC_SIZE || base == TPM2_RC_VALUE)
			return -EINVAL;
		/* A wrong or missing authorization value of a key. */
		if (base == TPM2_RC_BAD_AUTH || base == TPM2_RC_AUTH_FAIL)
			return -EACCES;
	}
	if ((rc & TSS2_RC_LAYER_MASK) == 0)
		return -EIO;
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ||
	    (rc & 0xffff) == TSS2_BASE_RC_IO_ERROR || (rc & 0xffff) == TSS2_BASE_RC_NO_CONNECTION)
		return -ENODEV;
	if ((rc & 0xffff) == TSS2_BASE_RC_MEMORY)
		return -ENOMEM;
	return -EIO;
}

/* Run one callback (on the worker), after the test seam's delay if set. */
static int run_fn(struct atls_tpm *t, int (*fn)(struct atls_tpm *t, void *arg), void *arg)
{
	unsigned int delay = atomic_load_explicit(&t->delay_us, memory_order_relaxed);

	if (delay)
		usleep(delay);
	return fn(t, arg);
}

/* The calling thread's deadline (CLOCK_MONOTONIC, us; 0 = none). */
static _Thread_local unsigned long long thread_deadline_us;

void atls_tpm_set_thread_deadline(unsigned long long mono_deadline_us)
{
	thread_deadline_us = mono_deadline_us;
}

unsigned long long atls_tpm_thread_deadline(void)
{
	return thread_deadline_us;
}

static void *tpm_worker(void *arg)
{
	struct atls_tpm *t = arg;
	struct tpm_req *r;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->head && !t->stopping)
			pthread_cond_wait(&t->wake, &t->lock);
		if (!t->head)
			break;	/* stopping and the queue is drained */
		r = t->head;
		t->head = r->next;
		if (!t->head)
			t->tail = &t->head;
		pthread_mutex_unlock(&t->lock);

		/* Only the worker runs callbacks: the ESYS context is ours. */
		r->rc = run_fn(t, r->fn, r->arg);

		pthread_mutex_lock(&t->lock);
		r->done = true;
		pthread_cond_broadcast(&t->done);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static unsigned long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

/*
 * Count one completed request.  busy is its time from queueing to the
 * caller waking with the answer (0 for a request nested in a callback: its
 * time is already inside the enclosing request's).
 */
static void count_call(struct atls_tpm *t, unsigned long long busy)
{
	atomic_fetch_add_explicit(&t->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->busy_us, busy, memory_order_relaxed);
}

/* Under t->lock: take r off the queue if it is still there (true). */
static bool unlink_req(struct atls_tpm *t, struct tpm_req *r)
{
	struct tpm_req **pp;

	for (pp = &t->head; *pp; pp = &(*pp)->next) {
		if (*pp != r)
			continue;
		*pp = r->next;
		if (t->tail == &r->next)
			t->tail = pp;
		return true;
	}
	return false;
}

int atls_tpm_call(struct atls_tpm *t, int (*fn)(struct atls_tpm *t, void *arg), void *arg)
{
	struct tpm_req r = { .fn = fn, .arg = arg };
	unsigned long long t0;
	int ret;

	if (!t)
		return -ENODEV;
	/* A callback asking for more TPM work is already on the worker. */
	if (pthread_equal(pthread_self(), t->worker)) {
		ret = run_fn(t, fn, arg);
		count_call(t, 0);
		return ret;
	}
	t0 = mono_us();
	pthread_mutex_lock(&t->lock);
	if (t->stopping) {
		pthread_mutex_unlock(&t->lock);
		return -ESHUTDOWN;	/* never queued: not counted */
	}
	*t->tail = &r;
	t->tail = &r.next;
	atomic_fetch_add_explicit(&t->outstanding, 1, memory_order_relaxed);
	pthread_cond_signal(&t->wake);
	while (!r.done) {
		if (!thread_deadline_us) {
			pthread_cond_wait(&t->done, &t->lock);
			continue;
		}
		if (mono_us() >= thread_deadline_us && unlink_req(t, &r)) {
			atomic_fetch_sub_explicit(&t->outstanding, 1, memory_order_relaxed);
			pthread_mutex_unlock(&t->lock);
			return -ETIMEDOUT;	/* never ran: not counted */
		}
		if (mono_us() >= thread_deadline_us) {
			/* Running on the worker now: wait for its answer (see top). */
			pthread_cond_wait(&t->done, &t->lock);
			continue;
		}
		{
			struct timespec ts = {
				.tv_sec = (time_t)(thread_deadline_us / 1000000),
				.tv_nsec = (long)(thread_deadline_us % 1000000) * 1000,
			};

			pthread_cond_timedwait(&t->done, &t->lock, &ts);
		}
	}
	atomic_fetch_sub_explicit(&t->outstanding, 1, memory_order_relaxed);
	pthread_mutex_unlock(&t->lock);
	count_call(t, mono_us() - t0);
	return r.rc;
}

struct atls_batcher **atls_tpm_shared_batchers(struct atls_tpm *t, pthread_mutex_t **lock)
{
	*lock = &t->share_lock;
	return &t->shared;
}

unsigned int atls_tpm_outstanding(struct atls_tpm *t)
{
	return t ? atomic_load_explicit(&t->outstanding, memory_order_relaxed) : 0;
}

int atls_tpm_stats(struct atls_tpm *t, unsigned long *calls, unsigned long long *busy_us)
{
	if (!t)
		return -EINVAL;
	if (calls)
		*calls = atomic_load_explicit(&t->calls, memory_order_relaxed);
	if (busy_us)
		*busy_us = atomic_load_explicit(&t->busy_us, memory_order_relaxed);
	return 0;
}

int atls_tpm_set_delay(struct atls_tpm *t, unsigned int delay_us)
{
	if (!t)
		return -EINVAL;
	atomic_store_explicit(&t->delay_us, delay_us, memory_order_relaxed);
	return 0;
}

ESYS_CONTEXT *atls_tpm_esys(struct atls_tpm *t)
{
	return t->esys;
}

static const TPM2B_AUTH *auth_of(struct atls_tpm *t, uint32_t handle)
{
	unsigned int i;

	for (i = 0; i < TPM_AUTH_SLOTS; i++)
		if (t->auth[i].handle == handle)
			return &t->auth[i].auth;
	return NULL;
}

int atls_tpm_object(struct atls_tpm *t, uint32_t handle, ESYS_TR *tr)
{
	const TPM2B_AUTH *auth;
	unsigned int i, slot;
	TSS2_RC rc;

	for (i = 0; i < TPM_CACHE_SLOTS; i++) {
		if (t->cache[i].handle == handle && t->cache[i].tr != ESYS_TR_NONE) {
			*tr = t->cache[i].tr;
			return 0;
		}
	}
	rc = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, tr);
	if (rc != TSS2_RC_SUCCESS)
		return atls_tpm_rc_errno(rc);
	auth = auth_of(t, handle);
	if (auth && Esys_TR_SetAuth(t->esys, *tr, auth) != TSS2_RC_SUCCESS) {
		Esys_TR_Close(t->esys, tr);
		return -EIO;
	}
	/* Round-robin replacement; Esys_TR_Close only frees ESYS metadata. */
	slot = t->cache_next++ % TPM_CACHE_SLOTS;
	if (t->cache[slot].tr != ESYS_TR_NONE)
		Esys_TR_Close(t->esys, &t->cache[slot].tr);
	t->cache[slot].handle = handle;
	t->cache[slot].tr = *tr;
	return 0;
}

void atls_tpm_forget(struct atls_tpm *t, uint32_t handle)
{
	unsigned int i;

	for (i = 0; i < TPM_CACHE_SLOTS; i++) {
		if (t->cache[i].handle == handle && t->cache[i].tr != ESYS_TR_NONE) {
			Esys_TR_Close(t->esys, &t->cache[i].tr);
			t->cache[i].tr = ESYS_TR_NONE;
			t->cache[i].handle = 0;
		}
	}
}

struct auth_args {
	uint32_t handle;
	const uint8_t *v;
	size_t len;
};

/* Worker: record the value; a cached ESYS_TR of the handle is dropped so the
 * next use picks it up (atls_tpm_object()). */
static int do_set_auth(struct atls_tpm *t, void *arg)
{
	struct auth_args *a = arg;
	unsigned int i, free_slot = TPM_AUTH_SLOTS;

	for (i = 0; i < TPM_AUTH_SLOTS; i++) {
		if (t->auth[i].handle == a->handle)
			break;
		if (!t->auth[i].handle && free_slot == TPM_AUTH_SLOTS)
			free_slot = i;
	}
	if (i == TPM_AUTH_SLOTS)
		i = free_slot;
	if (i == TPM_AUTH_SLOTS)
		return -ENOSPC;
	OPENSSL_cleanse(&t->auth[i], sizeof(t->auth[i]));
	if (a->len) {
		t->auth[i].handle = a->handle;
		t->auth[i].auth.size = (uint16_t)a->len;
		memcpy(t->auth[i].auth.buffer, a->v, a->len);
	}
	atls_tpm_forget(t, a->handle);
	return 0;
}

int atls_tpm_set_key_auth(struct atls_tpm *t, uint32_t handle, const uint8_t *auth, size_t len)
{
	struct auth_args a = { handle, auth, len };

	if (!t || (handle >> 24) != TPM2_HT_PERSISTENT || len > 32 || (len && !auth))
		return -EINVAL;
	return atls_tpm_call(t, do_set_auth, &a);
}

int atls_tpm_open(const char *tcti, struct atls_tpm **out)
{
	struct atls_tpm *t;
	unsigned int i;
	TSS2_RC rc;
	int err;

	*out = NULL;
	if (!tcti || !*tcti)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->tail = &t->head;
	atomic_init(&t->calls, 0);
	atomic_init(&t->busy_us, 0);
	atomic_init(&t->delay_us, 0);
	atomic_init(&t->outstanding, 0);
	for (i = 0; i < TPM_CACHE_SLOTS; i++)
		t->cache[i].tr = ESYS_TR_NONE;

	rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
	if (rc != TSS2_RC_SUCCESS) {
		err = -ENODEV;
		goto err_free;
	}
	rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		err = atls_tpm_rc_errno(rc);
		goto err_tcti;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->share_lock, NULL);
	pthread_cond_init(&t->wake, NULL);
	{
		pthread_condattr_t ca;

		/* Deadlines are CLOCK_MONOTONIC (see top). */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&t->done, &ca);
		pthread_condattr_destroy(&ca);
	}
	err = -pthread_create(&t->worker, NULL, tpm_worker, t);
	if (err)
		goto err_sync;
	*out = t;
	return 0;

err_sync:
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->share_lock);
	pthread_mutex_destroy(&t->lock);
	Esys_Finalize(&t->esys);
err_tcti:
	Tss2_TctiLdr_Finalize(&t->tcti);
err_free:
	free(t);
	return err;
}

void atls_tpm_close(struct atls_tpm *t)
{
	unsigned int i;

	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&t->lock);
	pthread_join(t->worker, NULL);

	/* The worker is gone: this thread owns the ESYS context now. */
	for (i = 0; i < TPM_CACHE_SLOTS; i++)
		if (t->cache[i].tr != ESYS_TR_NONE)
			Esys_TR_Close(t->esys, &t->cache[i].tr);
	OPENSSL_cleanse(t->auth, sizeof(t->auth));
	Esys_Finalize(&t->esys);
	Tss2_TctiLdr_Finalize(&t->tcti);
	pthread_cond_destroy(&t->done);
	pthread_cond_destroy(&t->wake);
	pthread_mutex_destroy(&t->share_lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}
