/*
 * workloads.c — the workloads every engine runs, through one generator.
 *
 * Keys are key_make(j): 16 bytes, a unique random permutation of the numbers j; values are
 * 100 bytes. Order of a run (one store reused where a workload reads what another wrote):
 *
 *   fillseq          fresh store: N keys in ascending key order, batches of 1,000, no sync
 *   fillrandom       fresh store "main": the same N keys in random order
 *   overwrite        main: N random overwrites (with repetition) in batches of 1,000, then
 *                    settle (wait out the engine's flushes and compactions; counted apart)
 *   readrandom       main: gets, 90% of keys present, 10% absent keys between them; first
 *                    an untimed warm-up of read_warmup gets (the same for every engine);
 *                    1 thread, then 2 threads sharing the same total
 *   seekrandom       main: seek to a random key (present or not), then 10 nexts
 *   readwhilewriting main: one reader; one writer of single-key overwrites capped at
 *                    10,240 writes/s, no sync
 *   fillsync         fresh store, sync: single-key durable commits
 *   blockcommit      fresh store, sync: versions of 800 upserts (half new keys, half
 *                    overwrites) + 200 deletes of present keys, one durable commit each
 *   compaction-stress  fresh store, no sync: a writer of 80 overwrites + 20 deletes per
 *                    batch over a fixed key space, a reader, sampled every second
 *
 * Every get's answer is checked (present keys found, absent keys not): a wrong answer is
 * reported in the row's note.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workloads.h"

static int pair_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void fill(struct run *x, const char *name, int seq, int emit)
{
	const struct sizes *z = &x->b->sz;
	uint64_t n = z->fill_keys, *order = NULL;
	struct hist *h = hist_new();
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;

	if (seq) {
		/* Key order = order of the keys' first 8 bytes, which are unique. */
		uint64_t *pairs = malloc(n * 2 * sizeof(*pairs));

		order = malloc(n * sizeof(*order));
		if (!pairs || !order)
			fail("out of memory");
		for (uint64_t j = 0; j < n; j++) {
			uint8_t k[KEY_LEN];

			key_make(k, j, x->b->seed);
			pairs[2 * j] = 0;
			for (int i = 0; i < 8; i++)
				pairs[2 * j] = pairs[2 * j] << 8 | k[i];
			pairs[2 * j + 1] = j;
		}
		qsort(pairs, n, 2 * sizeof(*pairs), pair_cmp);
		for (uint64_t j = 0; j < n; j++)
			order[j] = pairs[2 * j + 1];
		free(pairs);
	}
	hist_reset(h);
	wbuf_init(&w, z->fill_batch, x->pool);
	rng_init(&r, x->b->seed, stream_of(name));
	run_result(x, &res, name, "batch", "batch=%u", z->fill_batch);
	progress_start(&pr, x->b, name, n);
	phase_begin(&ph);
	for (uint64_t i = 0; i < n;) {
		wbuf_clear(&w);
		for (uint32_t k = 0; k < z->fill_batch && i < n; k++, i++)
			wbuf_put(&w, order ? order[i] : i, x->b->seed, &r, VAL_LEN);
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, h);
		progress_update(&pr, i);
	}
	progress_done(&pr);
	res.ops = n;
	res.live_bytes = n * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, h, x->dir);
	res.stall_ms = (double)h->max / 1e6;
	if (emit)
		emit_result(x->b, &res);
	x->nkeys = n;
	wbuf_free(&w);
	free(order);
	free(h);
}

static void overwrite(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	uint64_t n = z->fill_keys;
	struct hist *h = hist_new();
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;
	double put_secs, settle = 0;

	wbuf_init(&w, z->fill_batch, x->pool);
	rng_init(&r, x->b->seed, stream_of("overwrite"));
	run_result(x, &res, "overwrite", "batch", "batch=%u", z->fill_batch);
	progress_start(&pr, x->b, "overwrite", n);
	phase_begin(&ph);
	for (uint64_t i = 0; i < n;) {
		wbuf_clear(&w);
		for (uint32_t k = 0; k < z->fill_batch && i < n; k++, i++)
			wbuf_put(&w, rng_below(&r, x->nkeys), x->b->seed, &r, VAL_LEN);
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, h);
		progress_update(&pr, i);
	}
	progress_done(&pr);
	put_secs = (double)(now_ns() - ph.t0) / 1e9;
	if (x->ops->settle)
		settle = x->ops->settle(x->e);
	res.ops = n;
	res.live_bytes = x->nkeys * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, h, x->dir);
	/* ops/s over the writes; the settle's writes and CPU stay in WA and cpu_s. */
	res.secs = put_secs;
	res.ops_s = (double)n / put_secs;
	res.stall_ms = (double)h->max / 1e6;
	snprintf(res.note, sizeof(res.note), "settle %.2f s after the writes", settle);
	emit_result(x->b, &res);
	wbuf_free(&w);
	free(h);
}

/* A reader thread: gets (or seeks) of random keys until n are done or *stop is set. */
struct reader {
	struct run *x;
	uint64_t n;          /* calls to make; UINT64_MAX: until *stop */
	uint64_t space;      /* keys j < space are present (0: draw from x->nkeys, checked) */
	int check, seeks, tid;
	int *stop;
	struct progress *pr; /* thread 0 reports progress for all */
	int nthreads;
	uint64_t done, found, wrong, seen;
	struct hist h;
	pthread_t th;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct run *x = rd->x;
	uint64_t space = rd->space ? rd->space : x->nkeys;
	struct ereader *er;
	uint8_t key[KEY_LEN], val[VAL_LEN];
	struct rng r;

	if (x->ops->reader_open(x->e, &er) != 0)
		fail("%s: reader_open failed", x->label);
	rng_init(&r, x->b->seed, stream_of("reader") + (uint64_t)rd->tid);
	for (uint64_t i = 0; i < rd->n && !__atomic_load_n(rd->stop, __ATOMIC_RELAXED); i++) {
		int hit = rd->space || rng_below(&r, 10) != 0, rc, seen = 0;
		uint64_t j = hit ? rng_below(&r, space) : space + rng_below(&r, space), t;
		size_t vlen;

		key_make(key, j, x->b->seed);
		t = now_ns();
		rc = rd->seeks ? x->ops->seek(er, key, KEY_LEN, rd->seeks, &seen)
			       : x->ops->get(er, key, KEY_LEN, val, &vlen);
		hist_add(&rd->h, now_ns() - t);
		if (rc < 0)
			fail("%s: read failed", x->label);
		rd->found += rc == 0;
		rd->seen += (uint64_t)seen;
		if (rd->check && !rd->seeks && (rc == 0) != hit)
			rd->wrong++;
		__atomic_store_n(&rd->done, i + 1, __ATOMIC_RELAXED);
		if (rd->pr && (i & 1023) == 0)
			progress_update(rd->pr, (i + 1) * (uint64_t)rd->nthreads);
	}
	x->ops->reader_close(er);
	return NULL;
}

/* space = 0: 90% present keys, answers checked; else keys j < space, unchecked. */
static struct reader *readers_start(struct run *x, int n, uint64_t each, int seeks,
				    uint64_t space, int *stop, struct progress *pr)
{
	struct reader *rd = calloc((size_t)n, sizeof(*rd));

	if (!rd)
		fail("out of memory");
	for (int t = 0; t < n; t++) {
		rd[t] = (struct reader){.x = x, .n = each, .space = space, .check = !space,
					.seeks = seeks, .tid = t, .stop = stop,
					.pr = t ? NULL : pr, .nthreads = n};
		hist_reset(&rd[t].h);
		if (pthread_create(&rd[t].th, NULL, reader_main, &rd[t]) != 0)
			fail("pthread_create");
	}
	return rd;
}

/* Join the readers, merging into rd[0]. */
static void readers_join(struct reader *rd, int n)
{
	for (int t = 0; t < n; t++)
		pthread_join(rd[t].th, NULL);
	for (int t = 1; t < n; t++) {
		hist_merge(&rd[0].h, &rd[t].h);
		rd[0].done += rd[t].done;
		rd[0].found += rd[t].found;
		rd[0].wrong += rd[t].wrong;
		rd[0].seen += rd[t].seen;
	}
}

static void read_note(struct result *res, const struct reader *rd)
{
	if (rd->wrong)
		snprintf(res->note, sizeof(res->note), "WRONG ANSWERS: %llu of %llu gets",
			 (unsigned long long)rd->wrong, (unsigned long long)rd->done);
	else
		snprintf(res->note, sizeof(res->note), "%.1f%% found, all answers right",
			 100.0 * (double)rd->found / (double)(rd->done ? rd->done : 1));
}

static void warmup(struct run *x, uint64_t n, int seeks)
{
	int stop = 0;
	struct reader *rd = readers_start(x, 1, n, seeks, 0, &stop, NULL);

	readers_join(rd, 1);
	free(rd);
}

static void readrandom(struct run *x, int threads)
{
	const char *name = threads == 1 ? "readrandom" : "readrandom-2t";
	uint64_t n = x->b->sz.reads;
	struct progress pr;
	struct result res;
	struct reader *rd;
	struct phase ph;
	int stop = 0;

	run_result(x, &res, name, "get", "threads=%d", threads);
	progress_start(&pr, x->b, name, n);
	phase_begin(&ph);
	rd = readers_start(x, threads, n / (uint64_t)threads, 0, 0, &stop, &pr);
	readers_join(rd, threads);
	progress_done(&pr);
	res.ops = rd->done;
	res.live_bytes = x->nkeys * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, &rd->h, NULL);
	read_note(&res, rd);
	emit_result(x->b, &res);
	free(rd);
}

static void seekrandom(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	struct progress pr;
	struct result res;
	struct reader *rd;
	struct phase ph;
	int stop = 0;

	warmup(x, z->seeks / 10, (int)z->seek_nexts);
	run_result(x, &res, "seekrandom", "seek", "nexts=%u", z->seek_nexts);
	progress_start(&pr, x->b, "seekrandom", z->seeks);
	phase_begin(&ph);
	rd = readers_start(x, 1, z->seeks, (int)z->seek_nexts, 0, &stop, &pr);
	readers_join(rd, 1);
	progress_done(&pr);
	res.ops = rd->done;
	phase_end(&ph, &res, &rd->h, NULL);
	snprintf(res.note, sizeof(res.note), "%.2f entries per seek",
		 (double)rd->seen / (double)(rd->done ? rd->done : 1));
	emit_result(x->b, &res);
	free(rd);
}

/* A writer thread for readwhilewriting and compaction-stress. */
struct writer {
	struct run *x;
	uint32_t rate;       /* writes/s cap, 0 = none */
	int stress;          /* 80 overwrites + 20 deletes per batch, iodb churn */
	uint64_t space;
	int *stop;
	uint64_t ops, user_bytes, window_max;
	struct hist h;
	pthread_t th;
};

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct run *x = wr->x;
	uint64_t t0 = now_ns(), writes = 0;
	struct wbuf w;
	struct rng r;

	wbuf_init(&w, 100, x->pool);
	rng_init(&r, x->b->seed, stream_of(wr->stress ? "stress-writer" : "rww-writer"));
	while (!__atomic_load_n(wr->stop, __ATOMIC_RELAXED)) {
		uint64_t t, dt;

		if (wr->rate) {
			uint64_t due = t0 + writes * 1000000000ull / wr->rate, now = now_ns();

			if (due > now)
				sleep_ns(due - now);
			else if (now - due > 100000000ull) /* at most 0.1 s of catching up */
				t0 += now - due - 100000000ull;
		}
		wbuf_clear(&w);
		if (wr->stress) {
			for (int i = 0; i < 80; i++)
				wbuf_put(&w, rng_below(&r, wr->space), x->b->seed, &r, VAL_LEN);
			for (int i = 0; i < 20; i++)
				wbuf_del(&w, rng_below(&r, wr->space), x->b->seed);
		} else {
			wbuf_put(&w, rng_below(&r, wr->space), x->b->seed, &r, VAL_LEN);
		}
		t = now_ns();
		if (x->ops->write(x->e, w.ops, w.n) != 0)
			fail("%s: write failed", x->label);
		dt = now_ns() - t;
		hist_add(&wr->h, dt);
		writes++;
		__atomic_add_fetch(&wr->ops, w.n, __ATOMIC_RELAXED);
		__atomic_add_fetch(&wr->user_bytes, w.user_bytes, __ATOMIC_RELAXED);
		if (dt > __atomic_load_n(&wr->window_max, __ATOMIC_RELAXED))
			__atomic_store_n(&wr->window_max, dt, __ATOMIC_RELAXED);
		if (wr->stress && x->ops == &engine_iodb)
			stress_iodb_churn(x, writes);
	}
	wbuf_free(&w);
	return NULL;
}

static void writer_start(struct writer *wr, struct run *x, uint32_t rate, int stress,
			 uint64_t space, int *stop)
{
	memset(wr, 0, sizeof(*wr));
	*wr = (struct writer){.x = x, .rate = rate, .stress = stress, .space = space, .stop = stop};
	hist_reset(&wr->h);
	if (pthread_create(&wr->th, NULL, writer_main, wr) != 0)
		fail("pthread_create");
}

static void readwhilewriting(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	struct writer *wr = malloc(sizeof(*wr));
	uint64_t dur = (uint64_t)(z->rww_secs * 1e9), t0;
	struct progress pr;
	struct result res;
	struct reader *rd;
	struct phase ph;
	int stop = 0;

	if (!wr)
		fail("out of memory");
	run_result(x, &res, "readwhilewriting", "get", "writer<=%u/s", z->rww_rate);
	progress_start(&pr, x->b, "readwhilewriting", dur / 1000000);
	phase_begin(&ph);
	t0 = now_ns();
	writer_start(wr, x, z->rww_rate, 0, x->nkeys, &stop);
	rd = readers_start(x, 1, UINT64_MAX, 0, 0, &stop, NULL);
	while (now_ns() - t0 < dur) {
		sleep_ns(100000000);
		progress_update(&pr, (now_ns() - t0) / 1000000);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	readers_join(rd, 1);
	pthread_join(wr->th, NULL);
	progress_done(&pr);
	res.ops = rd->done;
	res.user_bytes = wr->user_bytes;
	res.live_bytes = x->nkeys * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, &rd->h, x->dir);
	res.stall_ms = (double)wr->h.max / 1e6;
	snprintf(res.note, sizeof(res.note), "writer %.0f writes/s, p99 %.1f us%s",
		 (double)wr->ops / res.secs, hist_pct_us(&wr->h, 99),
		 rd->wrong ? "; WRONG ANSWERS" : "");
	emit_result(x->b, &res);
	free(rd);
	free(wr);
}

void wl_fillsync(struct run *x, int merkle, int emit)
{
	uint64_t n = x->b->sz.sync_commits;
	struct hist *h = hist_new();
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;

	store_open(x, "fillsync", 1, merkle, 1);
	wbuf_init(&w, 1, x->pool);
	rng_init(&r, x->b->seed, stream_of("fillsync"));
	run_result(x, &res, "fillsync", "commit", "batch=1");
	res.iodb_only = merkle; /* the peers' row is iodb's with Merkle off */
	progress_start(&pr, x->b, "fillsync", n);
	phase_begin(&ph);
	for (uint64_t i = 0; i < n; i++) {
		wbuf_clear(&w);
		wbuf_put(&w, i, x->b->seed, &r, VAL_LEN);
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, h);
		if ((i & 63) == 0)
			progress_update(&pr, i);
	}
	progress_done(&pr);
	res.ops = n;
	res.live_bytes = n * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, h, x->dir);
	res.stall_ms = (double)h->max / 1e6;
	if (emit)
		emit_result(x->b, &res);
	store_remove(x);
	wbuf_free(&w);
	free(h);
}

void wl_blockcommit(struct run *x, int merkle, int emit)
{
	const struct sizes *z = &x->b->sz;
	uint64_t V = z->block_versions, next = 0;
	uint32_t half = z->block_upserts / 2;
	struct hist *h = hist_new();
	struct liveset live;
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;

	store_open(x, "blockcommit", 1, merkle, 1);
	wbuf_init(&w, z->block_upserts + z->block_deletes, x->pool);
	liveset_init(&live, V * half + half);
	rng_init(&r, x->b->seed, stream_of("blockcommit"));
	run_result(x, &res, "blockcommit", "version", "%u upserts + %u deletes", z->block_upserts,
		   z->block_deletes);
	res.iodb_only = merkle;
	progress_start(&pr, x->b, "blockcommit", V);
	phase_begin(&ph);
	for (uint64_t v = 0; v < V; v++) {
		wbuf_clear(&w);
		for (uint32_t i = 0; i < half; i++)
			wbuf_put(&w, next++, x->b->seed, &r, VAL_LEN);
		for (uint32_t i = half; i < z->block_upserts; i++)
			wbuf_put(&w, rng_below(&r, next), x->b->seed, &r, VAL_LEN);
		for (uint32_t i = 0; i < z->block_deletes; i++)
			wbuf_del(&w, rng_below(&r, next), x->b->seed);
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, h);
		liveset_apply(&live, &w);
		progress_update(&pr, v + 1);
	}
	progress_done(&pr);
	res.ops = V * (z->block_upserts + z->block_deletes);
	res.live_bytes = live.live * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, h, x->dir);
	res.stall_ms = (double)h->max / 1e6;
	snprintf(res.note, sizeof(res.note), "%.1f versions/s; %llu keys live at the end",
		 (double)V / res.secs, (unsigned long long)live.live);
	if (emit)
		emit_result(x->b, &res);
	x->nkeys = next;
	liveset_free(&live);
	wbuf_free(&w);
	free(h);
}

static void compaction_stress(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	struct writer *wr = malloc(sizeof(*wr));
	uint64_t dur = (uint64_t)(z->stress_secs * 1e9), t0, io0, last_ops = 0, last_reads = 0;
	uint64_t last_t;
	struct result res;
	struct reader *rd;
	struct phase ph;
	int stop = 0;

	if (!wr)
		fail("out of memory");
	store_open(x, "stress", 0, 0, 1);
	x->nkeys = z->stress_keys;
	run_result(x, &res, "compaction-stress", "batch", "80 puts + 20 deletes, keys=%llu",
		   (unsigned long long)z->stress_keys);
	phase_begin(&ph);
	io0 = ph.io0;
	t0 = last_t = now_ns();
	writer_start(wr, x, 0, 1, z->stress_keys, &stop);
	/* Deletes and rollbacks: no simple model of the answers, so reads are unchecked. */
	rd = readers_start(x, 1, UINT64_MAX, 0, z->stress_keys, &stop, NULL);
	while (now_ns() - t0 < dur) {
		struct sample s = {0};
		uint64_t ops, reads, ub, t;

		sleep_ns(1000000000ull - (now_ns() - t0) % 1000000000ull);
		t = now_ns();
		ops = __atomic_load_n(&wr->ops, __ATOMIC_RELAXED);
		reads = __atomic_load_n(&rd->done, __ATOMIC_RELAXED);
		ub = __atomic_load_n(&wr->user_bytes, __ATOMIC_RELAXED);
		snprintf(s.engine, sizeof(s.engine), "%s", x->label);
		s.t = (double)(t - t0) / 1e9;
		s.writes_s = (double)(ops - last_ops) * 1e9 / (double)(t - last_t);
		s.reads_s = (double)(reads - last_reads) * 1e9 / (double)(t - last_t);
		s.wamp = ub ? (double)(io_written() - io0) / (double)ub : 0;
		s.rss_mb = rss_mb();
		s.disk_mb = (double)du_bytes(x->dir) / 1048576.0;
		s.stall_ms = (double)__atomic_exchange_n(&wr->window_max, 0, __ATOMIC_RELAXED) / 1e6;
		emit_sample(x->b, &s);
		last_ops = ops;
		last_reads = reads;
		last_t = t;
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	readers_join(rd, 1);
	pthread_join(wr->th, NULL);
	res.ops = wr->ops;
	res.user_bytes = wr->user_bytes;
	res.live_bytes = z->stress_keys * (KEY_LEN + VAL_LEN) * 8 / 10; /* ~80% present */
	phase_end(&ph, &res, &wr->h, x->dir);
	res.stall_ms = (double)wr->h.max / 1e6;
	snprintf(res.note, sizeof(res.note), "reader %.0f gets/s (p99 %.1f us)%s",
		 (double)rd->done / res.secs, hist_pct_us(&rd->h, 99),
		 x->ops == &engine_iodb ? "; + rollback/branch churn" : "");
	emit_result(x->b, &res);
	store_remove(x);
	free(rd);
	free(wr);
}

void workloads_common(struct run *x)
{
	const struct bench *b = x->b;
	int is_iodb = x->ops == &engine_iodb;

	if (bench_wants(b, "fillseq")) {
		store_open(x, "fillseq", 0, 0, 1);
		fill(x, "fillseq", 1, 1);
		store_remove(x);
	}
	if (bench_wants(b, "fillrandom") || bench_wants(b, "overwrite") ||
	    bench_wants(b, "readrandom") || bench_wants(b, "seekrandom") ||
	    bench_wants(b, "readwhilewriting")) {
		store_open(x, "main", 0, 0, 1);
		fill(x, "fillrandom", 0, bench_wants(b, "fillrandom"));
		if (bench_wants(b, "overwrite"))
			overwrite(x);
		if (bench_wants(b, "readrandom")) {
			warmup(x, b->sz.read_warmup, 0);
			readrandom(x, 1);
			readrandom(x, 2);
		}
		if (bench_wants(b, "seekrandom"))
			seekrandom(x);
		if (bench_wants(b, "readwhilewriting"))
			readwhilewriting(x);
		store_remove(x);
	}
	if (bench_wants(b, "fillsync"))
		wl_fillsync(x, 0, 1);
	if (bench_wants(b, "blockcommit") ||
	    (is_iodb && (bench_wants(b, "history-read") || bench_wants(b, "branch") ||
			 bench_wants(b, "rollback")))) {
		wl_blockcommit(x, 0, bench_wants(b, "blockcommit"));
		if (is_iodb)
			workloads_history(x);
		store_remove(x);
	}
	if (bench_wants(b, "compaction-stress"))
		compaction_stress(x);
}
