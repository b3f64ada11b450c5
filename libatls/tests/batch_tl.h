/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For libatls's white-box batch tests (they see batch.h and tpm_int.h),
 * header-only: each test program has its own copy of these statics.
 *
 * A TPM holder: keeps a TPM owner busy with a command of the test's own
 * until the test releases it, so that what queues behind it (quotes of a
 * batch, other contexts' leaves) can be arranged deterministically.
 *
 *	struct tl_tpm_hold h = { .tpm = t };
 *	struct tl_thread th;
 *
 *	tl_tpm_hold(&h, &th);		returns once the command runs
 *	...
 *	ret = tl_tpm_release(&h, &th);	the command's result (0)
 */
#ifndef ATLS_TESTS_BATCH_TL_H
#define ATLS_TESTS_BATCH_TL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../src/batch.h"
#include "../src/tpm_int.h"
#include "util.h"

struct tl_tpm_hold {
	struct atls_tpm *tpm;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	bool entered, release;
};

/* On the TPM owner's thread: say so, then wait for the release. */
static int tl_tpm_hold_fn(struct atls_tpm *t, void *arg)
{
	struct tl_tpm_hold *h = arg;

	(void)t;
	pthread_mutex_lock(&h->lock);
	h->entered = true;
	pthread_cond_broadcast(&h->cv);
	while (!h->release)
		pthread_cond_wait(&h->cv, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static int tl_tpm_hold_main(void *arg)
{
	struct tl_tpm_hold *h = arg;

	return atls_tpm_call(h->tpm, tl_tpm_hold_fn, h);
}

/* Queue the holding command from thread @th; return when the owner runs it. */
static void tl_tpm_hold(struct tl_tpm_hold *h, struct tl_thread *th)
{
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (tl_spawn(th, tl_tpm_hold_main, h))
		abort();
	pthread_mutex_lock(&h->lock);
	while (!h->entered)
		pthread_cond_wait(&h->cv, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

/* Let the command end; join @th and return its atls_tpm_call() result. */
static int tl_tpm_release(struct tl_tpm_hold *h, struct tl_thread *th)
{
	int ret;

	pthread_mutex_lock(&h->lock);
	h->release = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->lock);
	ret = tl_join(th);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->lock);
	return ret;
}

/* One "handshake" on batcher b: enter, submit its binder, leave, all in its
 * own thread (tl_spawn(&th, tl_prod_main, &prod)), as atls_handshake()
 * does with its context's batcher. */
struct tl_prod {
	struct atls_batcher *b;
	int deadline_ms;	/* the thread's TPM deadline from its start, 0 = none */
	uint8_t binder[32];
	uint8_t *out;
	size_t len;
	int ret;
};

static int tl_prod_main(void *arg)
{
	struct tl_prod *p = arg;
	struct timespec ts;

	if (p->deadline_ms) {	/* as atls_handshake() sets it (handshake.c) */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		atls_tpm_set_thread_deadline((unsigned long long)ts.tv_sec * 1000000 +
					     (unsigned long long)ts.tv_nsec / 1000 +
					     (unsigned long long)p->deadline_ms * 1000);
	}
	atls_batcher_enter(p->b);
	p->ret = atls_batcher_produce(p->b, p->binder, sizeof(p->binder), &p->out, &p->len);
	atls_batcher_leave(p->b);
	return p->ret;
}

#endif
