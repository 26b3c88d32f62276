/*
 * pool.c — the compaction threads: each asks the db layer for a step (pick a task, run
 * it, install it) until nothing is due, then sleeps until poked or a period passes.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "compaction/compaction.h"

struct cpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	uint64_t pokes; /* bumped by cpool_poke: a sleeper that missed the signal sees it */
	uint32_t period_ms;
	cpool_step_fn step;
	void *ctx;
	uint32_t n;
	pthread_t th[];
};

static void *cpool_main(void *arg)
{
	struct cpool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		uint64_t seen = p->pokes;
		struct timespec ts;
		int did;

		pthread_mutex_unlock(&p->mu);
		did = p->step(p->ctx);
		pthread_mutex_lock(&p->mu);
		if (did || p->stop || p->pokes != seen)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += p->period_ms / 1000;
		ts.tv_nsec += (long)(p->period_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!p->stop && p->pokes == seen)
			if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int cpool_start(uint32_t nthreads, uint32_t period_ms, cpool_step_fn step, void *ctx,
		struct cpool **out)
{
	struct cpool *p = mem_calloc(1, sizeof(*p) + nthreads * sizeof(pthread_t));

	if (!p)
		return err_set(IODB_ENOMEM, "out of memory starting compaction");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->period_ms = period_ms ? period_ms : 1000;
	p->step = step;
	p->ctx = ctx;
	for (; p->n < nthreads; p->n++)
		if (pthread_create(&p->th[p->n], NULL, cpool_main, p) != 0) {
			cpool_stop(p);
			return err_set(IODB_EIO, "cannot start a compaction thread");
		}
	*out = p;
	return 0;
}

void cpool_poke(struct cpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->pokes++;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void cpool_stop(struct cpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (uint32_t i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	mem_free(p);
}
