/*
 * workloads_iodb.c — what only iodb can do, and the core figures the lead reports.
 *
 * On a store with a linear history whose version IDs are the adapter's counter (so "d
 * behind the head" is the ID head - d): blockcommit's with Merkle off, blocksync's with
 * Merkle on:
 *
 *   history-read  a snapshot at the head and at 1, 10, 100, 1000 versions behind it, then
 *                 random gets through it: snapshot-open time and get latency per depth
 *   branch        rounds of: checkout the version 100 + r behind the original head, commit
 *                 one block (800 upserts + 200 deletes) on it; then checkout back. With
 *                 Merkle on, one round: the checkout rebuilds the trees from the base
 *   rollback      from the original head, roll back 1, then 100, then 1000 versions; the
 *                 rollback's time, the first get after it, and the gets/s that follow
 *
 * Core figures (iodb's default options, so the Merkle layer is on; the lead's definitions):
 *
 *   fillnosync    single-put versions, sync=0
 *   blocksync     versions of 1,000 puts of new keys, sync=1
 *   blocknosync   the same, sync=0
 *   open          open time of the store blocknosync left (the whole journal is replayed)
 *   group4        4 threads committing single-put versions at once, sync=1
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iodb.h"
#include "workloads.h"

static void die_rc(const char *what, int rc)
{
	fail("iodb: %s: %s: %s", what, iodb_strerror(rc), iodb_errmsg());
}

static void history_read(struct run *x)
{
	static const uint64_t depths[] = {0, 1, 10, 100, 1000};
	iodb *db = engine_iodb_handle(x->e);
	uint64_t head = engine_iodb_count(x->e) - 1, n = x->b->sz.history_reads;
	struct hist *h = hist_new();
	struct rng r;

	rng_init(&r, x->b->seed, stream_of("history-read"));
	for (size_t i = 0; i < sizeof(depths) / sizeof(*depths) && depths[i] <= head; i++) {
		uint64_t found = 0, t, topen;
		iodb_snapshot *s;
		struct result res;
		struct phase ph;
		uint8_t vid[8], key[KEY_LEN];
		int rc;

		hist_reset(h);
		engine_iodb_vid(head - depths[i], vid);
		run_result(x, &res, "history-read", "get", "depth=%llu",
			   (unsigned long long)depths[i]);
		res.iodb_only = 1;
		phase_begin(&ph);
		t = now_ns();
		if ((rc = iodb_snapshot_open(db, vid, sizeof(vid), &s)) != IODB_OK)
			die_rc("snapshot_open", rc);
		topen = now_ns() - t;
		for (uint64_t k = 0; k < n; k++) {
			void *v;
			size_t vl;

			key_make(key, rng_below(&r, x->nkeys), x->b->seed);
			t = now_ns();
			rc = iodb_snapshot_get(s, NULL, key, KEY_LEN, &v, &vl);
			hist_add(h, now_ns() - t);
			if (rc == IODB_OK) {
				found++;
				iodb_free(v);
			} else if (rc != IODB_NOTFOUND) {
				die_rc("snapshot_get", rc);
			}
		}
		iodb_snapshot_close(s);
		res.ops = n;
		phase_end(&ph, &res, h, NULL);
		snprintf(res.note, sizeof(res.note), "snapshot open %.1f us; %.1f%% found",
			 (double)topen / 1e3, 100.0 * (double)found / (double)n);
		emit_result(x->b, &res);
	}
	free(h);
}

/* One block of blockcommit's shape on new keys above the ones blockcommit wrote. */
static void branch_block(struct run *x, struct wbuf *w, struct rng *r, uint64_t base)
{
	const struct sizes *z = &x->b->sz;

	wbuf_clear(w);
	for (uint32_t i = 0; i < z->block_upserts; i++)
		wbuf_put(w, i % 2 ? rng_below(r, x->nkeys) : base + i, x->b->seed, r, VAL_LEN);
	for (uint32_t i = 0; i < z->block_deletes; i++)
		wbuf_del(w, rng_below(r, x->nkeys), x->b->seed);
}

static void branch(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	iodb *db = engine_iodb_handle(x->e);
	uint64_t head = engine_iodb_count(x->e) - 1, back, t;
	struct hist *h = calloc(3, sizeof(*h)); /* checkout + update, checkout, update */
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;
	uint8_t vid[8];
	int rc;

	/* With Merkle on, a checkout 100 versions back rebuilds the trees from the nearest
	 * version that still has them (the base, as there are no Merkle snapshots yet): a
	 * replay of most of the history each round, so fewer rounds. */
	uint32_t rounds = x->merkle ? 1 : z->branch_rounds;

	if (!h)
		fail("out of memory");
	if (head < 100 + rounds)
		return;
	wbuf_init(&w, z->block_upserts + z->block_deletes, x->pool);
	rng_init(&r, x->b->seed, stream_of("branch"));
	run_result(x, &res, "branch", "round", "%u rounds, 100+ behind", rounds);
	res.iodb_only = 1;
	phase_begin(&ph);
	for (uint32_t i = 0; i < rounds; i++) {
		uint64_t tc, tu;

		engine_iodb_vid(head - 100 - i, vid);
		branch_block(x, &w, &r, x->nkeys + (uint64_t)i * z->block_upserts);
		t = now_ns();
		if ((rc = iodb_checkout(db, vid, sizeof(vid))) != IODB_OK)
			die_rc("checkout", rc);
		tc = now_ns() - t;
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, &h[2]);
		tu = now_ns() - t - tc;
		hist_add(&h[0], tc + tu);
		hist_add(&h[1], tc);
	}
	engine_iodb_vid(head, vid);
	t = now_ns();
	if ((rc = iodb_checkout(db, vid, sizeof(vid))) != IODB_OK)
		die_rc("checkout", rc);
	back = now_ns() - t;
	res.ops = rounds;
	phase_end(&ph, &res, &h[0], NULL);
	res.stall_ms = (double)h[2].max / 1e6;
	snprintf(res.note, sizeof(res.note),
		 "checkout p50 %.1f us, update p50 %.1f us; back to the head %.1f us",
		 hist_pct_us(&h[1], 50), hist_pct_us(&h[2], 50), (double)back / 1e3);
	emit_result(x->b, &res);
	wbuf_free(&w);
	free(h);
}

static void rollback(struct run *x)
{
	static const uint64_t depths[] = {1, 100, 1000};
	iodb *db = engine_iodb_handle(x->e);
	uint64_t head = engine_iodb_count(x->e) - 1, n = x->b->sz.history_reads / 10;
	struct hist *h = hist_new();
	struct rng r;

	rng_init(&r, x->b->seed, stream_of("rollback"));
	for (size_t i = 0; i < sizeof(depths) / sizeof(*depths) && depths[i] <= head; i++) {
		uint64_t t, trb, tfirst = 0;
		struct result res;
		struct phase ph;
		uint8_t vid[8], key[KEY_LEN];
		int rc;

		head -= depths[i];
		engine_iodb_vid(head, vid);
		hist_reset(h);
		run_result(x, &res, "rollback", "rollback", "depth=%llu",
			   (unsigned long long)depths[i]);
		res.iodb_only = 1;
		phase_begin(&ph);
		t = now_ns();
		if ((rc = iodb_rollback(db, vid, sizeof(vid))) != IODB_OK)
			die_rc("rollback", rc);
		trb = now_ns() - t;
		hist_add(h, trb);
		t = now_ns();
		for (uint64_t k = 0; k < n; k++) {
			void *v;
			size_t vl;

			key_make(key, rng_below(&r, x->nkeys), x->b->seed);
			rc = iodb_get(db, NULL, key, KEY_LEN, &v, &vl);
			if (rc == IODB_OK)
				iodb_free(v);
			else if (rc != IODB_NOTFOUND)
				die_rc("get", rc);
			if (k == 0)
				tfirst = now_ns() - t;
		}
		t = now_ns() - t;
		res.ops = 1;
		phase_end(&ph, &res, h, NULL);
		res.secs = (double)trb / 1e9;
		res.ops_s = 1e9 / (double)trb;
		snprintf(res.note, sizeof(res.note),
			 "first get after %.1f us, then %.0f gets/s", (double)tfirst / 1e3,
			 (double)n * 1e9 / (double)t);
		emit_result(x->b, &res);
	}
	free(h);
}

void workloads_history(struct run *x)
{
	if (bench_wants(x->b, "history-read"))
		history_read(x);
	if (bench_wants(x->b, "branch"))
		branch(x);
	if (bench_wants(x->b, "rollback"))
		rollback(x);
}

/*
 * compaction-stress on iodb: after every 100th version, alternately roll back 10 versions
 * or check out the version 5 behind and go on from there (a branch). The 100 versions
 * before each event are a linear chain, so the counter names them.
 */
void stress_iodb_churn(struct run *x, uint64_t round)
{
	iodb *db = engine_iodb_handle(x->e);
	uint64_t n = engine_iodb_count(x->e);
	uint8_t vid[8];
	int rc;

	if (round % 100 != 0)
		return;
	if (round % 200 == 100) {
		engine_iodb_vid(n - 1 - 10, vid);
		rc = iodb_rollback(db, vid, sizeof(vid));
	} else {
		engine_iodb_vid(n - 1 - 5, vid);
		rc = iodb_checkout(db, vid, sizeof(vid));
	}
	if (rc != IODB_OK)
		die_rc("churn", rc);
}

/* Versions of `per` puts of new keys. */
static void core_fill(struct run *x, const char *name, int sync, uint64_t versions,
		      uint32_t per, int keep_open)
{
	struct hist *h = hist_new();
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;

	store_open(x, name, sync, 1, 1);
	wbuf_init(&w, per, x->pool);
	rng_init(&r, x->b->seed, stream_of(name));
	run_result(x, &res, name, "version", "%u puts/version", per);
	res.iodb_only = 1;
	progress_start(&pr, x->b, name, versions);
	phase_begin(&ph);
	for (uint64_t v = 0; v < versions; v++) {
		wbuf_clear(&w);
		for (uint32_t i = 0; i < per; i++)
			wbuf_put(&w, v * per + i, x->b->seed, &r, VAL_LEN);
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, h);
		if ((v & 63) == 0 || per > 64)
			progress_update(&pr, v + 1);
	}
	progress_done(&pr);
	res.ops = versions * per;
	res.live_bytes = res.ops * (KEY_LEN + VAL_LEN);
	phase_end(&ph, &res, h, x->dir);
	res.stall_ms = (double)h->max / 1e6;
	snprintf(res.note, sizeof(res.note), "%.0f versions/s", (double)versions / res.secs);
	emit_result(x->b, &res);
	x->nkeys = res.ops;
	if (!keep_open)
		store_remove(x);
	wbuf_free(&w);
	free(h);
}

static void open_time(struct run *x)
{
	struct result res;
	struct phase ph;
	char *json = NULL;

	store_close(x);
	run_result(x, &res, "open", "open", "%llu keys", (unsigned long long)x->nkeys);
	res.iodb_only = 1;
	phase_begin(&ph);
	store_open(x, "blocknosync", 0, 1, 0);
	res.ops = 1;
	phase_end(&ph, &res, NULL, x->dir);
	res.p50_us = res.p99_us = res.p999_us = res.max_us = res.secs * 1e6;
	if (iodb_stats(engine_iodb_handle(x->e), &json) == IODB_OK) {
		const char *jb = strstr(json, "\"bytes\": ");

		snprintf(res.note, sizeof(res.note), "journal replay of %.0f MB",
			 jb ? strtod(jb + 9, NULL) / 1048576.0 : 0.0);
	}
	iodb_free(json);
	emit_result(x->b, &res);
	store_remove(x);
}

struct group_ctx {
	iodb *db;
	const struct run *x;
	int id;
	uint64_t n;
	struct hist h;
	pthread_t th;
};

static void *group_main(void *arg)
{
	struct group_ctx *c = arg;
	iodb_batch *b;
	uint8_t key[KEY_LEN];
	int rc;

	if ((rc = iodb_batch_new(&b)) != IODB_OK)
		die_rc("batch_new", rc);
	for (uint64_t i = 0; i < c->n; i++) {
		char vid[32];
		int vl = snprintf(vid, sizeof(vid), "t%d-%llu", c->id, (unsigned long long)i);
		uint64_t t;

		iodb_batch_clear(b);
		key_make(key, (uint64_t)c->id << 32 | i, c->x->b->seed);
		iodb_batch_put(b, NULL, key, KEY_LEN, c->x->pool + (i * 101) % 4096, VAL_LEN);
		t = now_ns();
		if ((rc = iodb_update(c->db, vid, (size_t)vl, b)) != IODB_OK)
			die_rc("update", rc);
		hist_add(&c->h, now_ns() - t);
	}
	iodb_batch_free(b);
	return NULL;
}

static void group4(struct run *x)
{
	uint64_t per = x->b->sz.group_commits;
	struct group_ctx *c = calloc(4, sizeof(*c));
	struct result res;
	struct phase ph;

	if (!c)
		fail("out of memory");
	store_open(x, "group4", 1, 1, 1);
	run_result(x, &res, "group4", "commit", "4 threads, batch=1");
	res.iodb_only = 1;
	phase_begin(&ph);
	for (int t = 0; t < 4; t++) {
		c[t] = (struct group_ctx){.db = engine_iodb_handle(x->e), .x = x, .id = t, .n = per};
		if (pthread_create(&c[t].th, NULL, group_main, &c[t]) != 0)
			fail("pthread_create");
	}
	for (int t = 0; t < 4; t++)
		pthread_join(c[t].th, NULL);
	for (int t = 1; t < 4; t++)
		hist_merge(&c[0].h, &c[t].h);
	res.ops = 4 * per;
	res.user_bytes = res.ops * (KEY_LEN + VAL_LEN);
	res.live_bytes = res.user_bytes;
	phase_end(&ph, &res, &c[0].h, x->dir);
	res.stall_ms = (double)c[0].h.max / 1e6;
	emit_result(x->b, &res);
	store_remove(x);
	free(c);
}

void workloads_core(struct run *x)
{
	const struct bench *b = x->b;
	const struct sizes *z = &b->sz;

	if (bench_wants(b, "fillsync"))
		wl_fillsync(x, 1, 1);
	if (bench_wants(b, "fillnosync"))
		core_fill(x, "fillnosync", 0, z->nosync_commits, 1, 0);
	if (bench_wants(b, "blocksync") || bench_wants(b, "history-read") ||
	    bench_wants(b, "branch") || bench_wants(b, "rollback")) {
		/* The history workloads with Merkle on use blocksync's store (its versions have
		 * 1,000 puts where blockcommit's have 800 upserts + 200 deletes). */
		core_fill(x, "blocksync", 1, z->core_versions, z->core_batch, 1);
		workloads_history(x);
		store_remove(x);
	}
	if (bench_wants(b, "blocknosync") || bench_wants(b, "open")) {
		core_fill(x, "blocknosync", 0, z->core_versions, z->core_batch, 1);
		if (bench_wants(b, "open"))
			open_time(x);
		else
			store_remove(x);
	}
	if (bench_wants(b, "group4"))
		group4(x);
}
