/*
 * worker.c — one background thread running one task at a time (see base.h).
 *
 * States: idle --worker_run--> busy --task returns--> idle; stop ends the thread when idle.
 * The owner is a single thread (the commit leader), so there is no queue: worker_run first
 * waits for the task before, which bounds the work in flight to one task.
 */
#include "lib/base/base.h"

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->busy && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->busy)
			break;
		pthread_mutex_unlock(&w->mu);
		w->fn(w->arg);
		pthread_mutex_lock(&w->mu);
		w->busy = 0;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int worker_init(struct worker *w)
{
	memset(w, 0, sizeof(*w));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->th, NULL, worker_main, w) != 0)
		return err_set(IODB_EIO, "cannot start a worker thread");
	w->up = 1;
	return 0;
}

void worker_wait(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

void worker_run(struct worker *w, void (*fn)(void *arg), void *arg)
{
	if (!w->up) {
		fn(arg);
		return;
	}
	worker_wait(w);
	pthread_mutex_lock(&w->mu);
	w->fn = fn;
	w->arg = arg;
	w->busy = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int worker_busy(struct worker *w)
{
	int busy;

	pthread_mutex_lock(&w->mu);
	busy = w->busy;
	pthread_mutex_unlock(&w->mu);
	return busy;
}

int worker_try_run(struct worker *w, void (*fn)(void *arg), void *arg)
{
	int started = 0;

	if (!w->up)
		return 0;
	pthread_mutex_lock(&w->mu);
	if (!w->busy) {
		w->fn = fn;
		w->arg = arg;
		w->busy = 1;
		started = 1;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return started;
}

void worker_destroy(struct worker *w)
{
	if (w->up) {
		worker_wait(w);
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->th, NULL);
		w->up = 0;
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
}
