/*
 * pool.c — compute thread team: a generation counter under a mutex wakes the
 * workers; they spin briefly before sleeping because kernels come in quick
 * succession during a training step.
 */
#include "nn/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>

#define POOL_SPIN 20000

struct pool {
	int nth;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	pool_task_fn fn;
	void *ctx;
	atomic_uint generation;
	atomic_int pending; /* workers still running the current task */
	int stopping;
};

struct worker_arg {
	struct pool *p;
	int tid;
};

int pool_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static unsigned wait_generation(struct pool *p, unsigned seen)
{
	for (int i = 0; i < POOL_SPIN; i++) {
		unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
		if (g != seen)
			return g;
	}
	pthread_mutex_lock(&p->mu);
	unsigned g;
	while ((g = atomic_load(&p->generation)) == seen && !p->stopping)
		pthread_cond_wait(&p->wake, &p->mu);
	pthread_mutex_unlock(&p->mu);
	return g;
}

static void *worker_main(void *arg)
{
	struct worker_arg wa = *(struct worker_arg *)arg;
	struct pool *p = wa.p;
	free(arg);
	unsigned seen = 0;
	for (;;) {
		seen = wait_generation(p, seen);
		pthread_mutex_lock(&p->mu);
		int stop = p->stopping;
		pool_task_fn fn = p->fn;
		void *ctx = p->ctx;
		pthread_mutex_unlock(&p->mu);
		if (stop)
			return NULL;
		fn(ctx, wa.tid, p->nth);
		if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

int pool_init(struct pool **out, int threads, struct err *e)
{
	*out = NULL;
	if (threads <= 0)
		threads = pool_cores();
	openblas_set_num_threads(1);
	struct pool *p = calloc(1, sizeof *p);
	if (!p)
		return err_set(e, ERR_NOMEM, "thread pool: out of memory");
	p->nth = threads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = calloc((size_t)threads, sizeof *p->threads);
	if (!p->threads) {
		pool_free(p);
		return err_set(e, ERR_NOMEM, "thread pool: out of memory");
	}
	for (int t = 1; t < threads; t++) {
		struct worker_arg *wa = malloc(sizeof *wa);
		if (wa) {
			wa->p = p;
			wa->tid = t;
		}
		if (!wa || pthread_create(&p->threads[t], NULL, worker_main, wa) != 0) {
			free(wa);
			p->nth = t; /* only threads 1..t-1 exist */
			pool_free(p);
			return err_set(e, ERR_NOMEM, "thread pool: cannot start thread %d", t);
		}
	}
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	if (p->threads) {
		pthread_mutex_lock(&p->mu);
		p->stopping = 1;
		atomic_fetch_add(&p->generation, 1);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
		for (int t = 1; t < p->nth; t++)
			pthread_join(p->threads[t], NULL);
		free(p->threads);
	}
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int pool_threads(const struct pool *p)
{
	return p->nth;
}

void pool_run(struct pool *p, pool_task_fn fn, void *ctx)
{
	if (p->nth == 1) {
		fn(ctx, 0, 1);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	atomic_store(&p->pending, p->nth - 1);
	atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);

	fn(ctx, 0, p->nth);

	for (int i = 0; i < POOL_SPIN; i++)
		if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
			return;
	pthread_mutex_lock(&p->mu);
	while (atomic_load(&p->pending) != 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
