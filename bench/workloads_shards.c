/*
 * workloads_shards.c — iodb with its shards: a bulk load distributed to run files, then
 * point reads, a full scan and a reopen, on one fresh store (docs/BENCHMARKS.md, "Shards").
 *
 * Runs in a child process of its own (a fresh allocator, so its resident memory is the
 * load's), with the Merkle layer off, sync off and iodb_options_init's defaults otherwise
 * (32 MiB memtables, 64 MiB block cache, 16 KiB blocks). N = shards_keys (2M; --quick 50k):
 *
 *   shards-load      N keys key_make(0..N-1) (16 bytes, random order), 100-byte values,
 *                    batches of 1,000, one version each; then iodb_flush. keys/s and MB/s
 *                    of user data (N x 116 bytes) over the writes + the flush. Right after:
 *                    RSS now (/proc/self/statm) and iodb's arena bytes; peak RSS of the
 *                    phase; du of the store and its split (shards/, journal/, MANIFEST)
 *   shards-get-hit   shards_reads gets of random present keys (j < N)
 *   shards-get-miss  shards_reads gets of absent keys (N <= j < 2N: between the present ones)
 *   shards-scan      one iterator over the whole store, first to last; count == N, in order
 *   shards-reopen    close, then iodb_open (timed), its stats (open_usec, env_bytes_read),
 *                    then one get of a present key (timed, checked)
 *
 * No warm-up: the reads start on the block cache distribute left. Every answer is checked;
 * a wrong one fails the run.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iodb.h"
#include "workloads.h"

#define MB 1048576.0

static void die_rc(const char *what, int rc)
{
	fail("iodb: %s: %s: %s", what, iodb_strerror(rc), iodb_errmsg());
}

/* Resident set now, from /proc/self/statm (pages * page size). */
static uint64_t rss_now_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A number of iodb_stats' JSON: "key" at the top level, or inside the object "obj". */
static double jnum(const char *json, const char *obj, const char *key)
{
	const char *from = json, *at;
	char pat[80];
	int n;

	if (!json)
		return -1;
	if (obj) {
		snprintf(pat, sizeof(pat), "\"%s\": {", obj);
		if (!(from = strstr(json, pat)))
			return -1;
	}
	n = snprintf(pat, sizeof(pat), "\"%s\": ", key);
	if (!(at = strstr(from, pat)))
		return -1;
	return strtod(at + n, NULL);
}

static void stats(iodb *db, char **json)
{
	int rc;

	*json = NULL;
	if ((rc = iodb_stats(db, json)) != IODB_OK)
		die_rc("stats", rc);
}

static uint64_t du_sub(const char *dir, const char *name)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0 ? du_bytes(path) : 0;
}

/* What the final block of lines reports. */
struct shards_figs {
	uint64_t n, reads, user_bytes;
	double load_s, flush_s, rss_base, rss_load, arena_load, peak_load, rss_reads;
	uint64_t du_all, du_shards, du_journal, du_manifest;
	double shards, runs, run_bytes, journal_bytes, stalled_us, cache_cap;
	double hit_s, hit_p50, hit_p99, hit_cache, miss_s, miss_p50, miss_p99, miss_cache;
	double scan_s, reopen_ms, open_usec, open_read, first_get_us, close_ms;
};

/* gets of keys j = base + rng_below(span); every one must be found (want = 1) or not. */
static void point_reads(struct run *x, const char *name, uint64_t base, int want,
			struct shards_figs *f, double *ops_s, double *p50, double *p99,
			double *cache_hit)
{
	iodb *db = engine_iodb_handle(x->e);
	uint64_t n = f->reads, found = 0;
	struct hist *h = hist_new();
	double hits0, miss0, hits1, miss1;
	struct progress pr;
	struct result res;
	struct phase ph;
	struct rng r;
	char *json;

	rng_init(&r, x->b->seed, stream_of(name));
	stats(db, &json);
	hits0 = jnum(json, "block_cache", "hits");
	miss0 = jnum(json, "block_cache", "misses");
	iodb_free(json);
	run_result(x, &res, name, "get", "%llu keys, cache %.0f MiB",
		   (unsigned long long)f->n, f->cache_cap / MB);
	res.iodb_only = 1;
	progress_start(&pr, x->b, name, n);
	phase_begin(&ph);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t key[KEY_LEN];
		void *v;
		size_t vl;
		uint64_t t;
		int rc;

		key_make(key, base + rng_below(&r, f->n), x->b->seed);
		t = now_ns();
		rc = iodb_get(db, NULL, key, KEY_LEN, &v, &vl);
		hist_add(h, now_ns() - t);
		if (rc == IODB_OK) {
			found++;
			if (vl != VAL_LEN)
				fail("%s: a value of %zu bytes, not %d", name, vl, VAL_LEN);
			iodb_free(v);
		} else if (rc != IODB_NOTFOUND) {
			die_rc("get", rc);
		}
		if ((i & 1023) == 0)
			progress_update(&pr, i + 1);
	}
	progress_done(&pr);
	res.ops = n;
	res.live_bytes = f->user_bytes;
	phase_end(&ph, &res, h, NULL);
	if (found != (want ? n : 0))
		fail("%s: WRONG ANSWERS: %llu of %llu found, expected %s", name,
		     (unsigned long long)found, (unsigned long long)n, want ? "all" : "none");
	stats(db, &json);
	hits1 = jnum(json, "block_cache", "hits") - hits0;
	miss1 = jnum(json, "block_cache", "misses") - miss0;
	iodb_free(json);
	*ops_s = res.ops_s;
	*p50 = res.p50_us;
	*p99 = res.p99_us;
	*cache_hit = hits1 + miss1 > 0 ? 100.0 * hits1 / (hits1 + miss1) : 0;
	snprintf(res.note, sizeof(res.note),
		 "%s, all answers right; block cache hit %.1f%% (%.2f lookups/get); run files "
		 "%.1fx the cache",
		 want ? "all found" : "none found", *cache_hit, (hits1 + miss1) / (double)n,
		 f->run_bytes / f->cache_cap);
	emit_result(x->b, &res);
	free(h);
}

static void report(const struct shards_figs *f)
{
	double ub = (double)f->user_bytes;

	printf("\n== shards: iodb, merkle=off sync=off, defaults otherwise; %llu keys of 16 + 100 "
	       "bytes = %.1f MB of user data\n",
	       (unsigned long long)f->n, ub / MB);
	printf("  load + flush      %.2f s (writes %.2f s, iodb_flush %.2f s): %.0f keys/s, "
	       "%.1f MB/s; writers stalled %.2f s\n",
	       f->load_s, f->load_s - f->flush_s, f->flush_s, (double)f->n / f->load_s,
	       ub / MB / f->load_s, f->stalled_us / 1e6);
	printf("  memory            RSS now %.1f MB (%.1f MB before the open), iodb arena %.1f "
	       "MB, peak RSS %.1f MB; after the reads: RSS %.1f MB\n",
	       f->rss_load / MB, f->rss_base / MB, f->arena_load / MB, f->peak_load,
	       f->rss_reads / MB);
	printf("  on disk           %.1f MB = %.3f x user bytes: shards/ %.1f MB (%.3f; %.0f runs in "
	       "%.0f shards, %.1f MB of run files), journal/ %.2f MB (%.3f), MANIFEST %.1f KB "
	       "(%.5f)\n",
	       (double)f->du_all / MB, (double)f->du_all / ub, (double)f->du_shards / MB,
	       (double)f->du_shards / ub, f->runs, f->shards, f->run_bytes / MB,
	       (double)f->du_journal / MB, (double)f->du_journal / ub,
	       (double)f->du_manifest / 1024.0, (double)f->du_manifest / ub);
	printf("  get, present      %.0f gets/s, p50 %.1f us, p99 %.1f us (%llu gets; block cache "
	       "hit %.1f%%)\n",
	       f->hit_s, f->hit_p50, f->hit_p99, (unsigned long long)f->reads, f->hit_cache);
	printf("  get, absent       %.0f gets/s, p50 %.1f us, p99 %.1f us (%llu gets; block cache "
	       "hit %.1f%%)\n",
	       f->miss_s, f->miss_p50, f->miss_p99, (unsigned long long)f->reads, f->miss_cache);
	printf("  (run files %.1f MB, %s the %.0f MiB block cache)\n", f->run_bytes / MB,
	       f->run_bytes > f->cache_cap ? "larger than" : "smaller than", f->cache_cap / MB);
	printf("  full scan         %.3f s: %.0f keys/s, %.1f MB/s\n", f->scan_s,
	       (double)f->n / f->scan_s, ub / MB / f->scan_s);
	printf("  close, reopen     close %.1f ms; iodb_open %.2f ms (stats open_usec %.0f), "
	       "%.0f bytes read at open; first get %.1f us\n\n",
	       f->close_ms, f->reopen_ms, f->open_usec, f->open_read, f->first_get_us);
	fflush(stdout);
}

static void shards(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	struct shards_figs f = {.n = z->shards_keys, .reads = z->shards_reads};
	struct hist *h = hist_new();
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;
	iodb_options o;
	iodb *db;
	char *json;
	uint64_t t;
	int rc;

	f.user_bytes = f.n * (KEY_LEN + VAL_LEN);
	f.rss_base = (double)rss_now_bytes();

	/* 1. Bulk load, then flush. */
	store_open(x, "shards", 0, 0, 1);
	db = engine_iodb_handle(x->e);
	wbuf_init(&w, z->fill_batch, x->pool);
	rng_init(&r, x->b->seed, stream_of("shards"));
	run_result(x, &res, "shards-load", "batch", "batch=%u, + iodb_flush", z->fill_batch);
	res.iodb_only = 1;
	progress_start(&pr, x->b, "shards-load", f.n);
	phase_begin(&ph);
	for (uint64_t i = 0; i < f.n;) {
		wbuf_clear(&w);
		for (uint32_t k = 0; k < z->fill_batch && i < f.n; k++, i++)
			wbuf_put(&w, i, x->b->seed, &r, VAL_LEN);
		res.user_bytes += w.user_bytes;
		write_timed(x, &w, h);
		progress_update(&pr, i);
	}
	t = now_ns();
	if ((rc = iodb_flush(db)) != IODB_OK)
		die_rc("flush", rc);
	f.flush_s = (double)(now_ns() - t) / 1e9;
	progress_done(&pr);
	res.ops = f.n;
	res.live_bytes = f.user_bytes;
	phase_end(&ph, &res, h, x->dir);
	x->nkeys = f.n;

	/* 2, 3. Memory and disk right after the load. */
	f.rss_load = (double)rss_now_bytes();
	f.load_s = res.secs;
	f.peak_load = res.rss_mb;
	stats(db, &json);
	f.arena_load = jnum(json, NULL, "arena_bytes");
	f.shards = jnum(json, "shards", "count");
	f.runs = jnum(json, "shards", "runs");
	f.run_bytes = jnum(json, "shards", "run_bytes");
	f.journal_bytes = jnum(json, "journal", "bytes");
	f.stalled_us = jnum(json, "distribute", "writers_stalled_usec");
	f.cache_cap = jnum(json, "block_cache", "capacity");
	iodb_free(json);
	f.du_all = res.disk_bytes;
	f.du_shards = du_sub(x->dir, "shards");
	f.du_journal = du_sub(x->dir, "journal");
	f.du_manifest = du_sub(x->dir, "MANIFEST");
	res.stall_ms = (double)h->max / 1e6;
	snprintf(res.note, sizeof(res.note),
		 "%.1f MB/s incl. flush %.2f s; RSS now %.0f MB, arena %.0f MB; du shards %.0f MB, "
		 "journal %.1f MB, MANIFEST %.0f KB",
		 (double)f.user_bytes / MB / f.load_s, f.flush_s, f.rss_load / MB,
		 f.arena_load / MB, (double)f.du_shards / MB, (double)f.du_journal / MB,
		 (double)f.du_manifest / 1024.0);
	emit_result(x->b, &res);
	wbuf_free(&w);
	free(h);

	/* 4. Point reads: present keys, then absent ones. */
	point_reads(x, "shards-get-hit", 0, 1, &f, &f.hit_s, &f.hit_p50, &f.hit_p99,
		    &f.hit_cache);
	point_reads(x, "shards-get-miss", f.n, 0, &f, &f.miss_s, &f.miss_p50, &f.miss_p99,
		    &f.miss_cache);
	f.rss_reads = (double)rss_now_bytes();

	/* 5. Full forward scan. */
	{
		iodb_iter *it;
		uint64_t count = 0, bytes = 0;
		uint8_t prev[KEY_LEN];
		int sorted = 1;

		run_result(x, &res, "shards-scan", "key", "%llu keys", (unsigned long long)f.n);
		res.iodb_only = 1;
		phase_begin(&ph);
		if ((rc = iodb_iter_open(db, NULL, NULL, &it)) != IODB_OK)
			die_rc("iter_open", rc);
		for (rc = iodb_iter_first(it); rc == IODB_OK; rc = iodb_iter_next(it)) {
			const void *k, *v;
			size_t kl, vl;

			iodb_iter_key(it, &k, &kl);
			iodb_iter_value(it, &v, &vl);
			if (kl != KEY_LEN || (count && memcmp(prev, k, KEY_LEN) >= 0))
				sorted = 0;
			memcpy(prev, k, KEY_LEN);
			count++;
			bytes += kl + vl;
		}
		if (rc != IODB_NOTFOUND)
			die_rc("iter_next", rc);
		iodb_iter_close(it);
		res.ops = count;
		res.user_bytes = 0;
		res.live_bytes = f.user_bytes;
		phase_end(&ph, &res, NULL, NULL);
		if (count != f.n || bytes != f.user_bytes || !sorted)
			fail("shards-scan: %llu keys (%llu bytes)%s, expected %llu",
			     (unsigned long long)count, (unsigned long long)bytes,
			     sorted ? "" : " OUT OF ORDER", (unsigned long long)f.n);
		f.scan_s = res.secs;
		snprintf(res.note, sizeof(res.note), "%.1f MB/s; %llu keys, in order",
			 (double)bytes / MB / res.secs, (unsigned long long)count);
		emit_result(x->b, &res);
	}

	/* 6. Close, reopen (timed), one get. */
	t = now_ns();
	store_close(x);
	f.close_ms = (double)(now_ns() - t) / 1e6;
	iodb_options_init(&o);
	o.merkle = 0;
	o.sync = 0;
	run_result(x, &res, "shards-reopen", "open", "%llu keys", (unsigned long long)f.n);
	res.iodb_only = 1;
	phase_begin(&ph);
	t = now_ns();
	if ((rc = iodb_open(x->dir, &o, &db)) != IODB_OK)
		die_rc("open", rc);
	f.reopen_ms = (double)(now_ns() - t) / 1e6;
	res.ops = 1;
	phase_end(&ph, &res, NULL, x->dir);
	res.secs = f.reopen_ms / 1e3;
	res.ops_s = 1e3 / f.reopen_ms;
	res.p50_us = res.p99_us = res.p999_us = res.max_us = f.reopen_ms * 1e3;
	stats(db, &json);
	f.open_usec = jnum(json, NULL, "open_usec");
	f.open_read = jnum(json, NULL, "env_bytes_read");
	iodb_free(json);
	{
		uint8_t key[KEY_LEN];
		void *v;
		size_t vl;

		key_make(key, rng_below(&r, f.n), x->b->seed);
		t = now_ns();
		rc = iodb_get(db, NULL, key, KEY_LEN, &v, &vl);
		f.first_get_us = (double)(now_ns() - t) / 1e3;
		if (rc != IODB_OK || vl != VAL_LEN)
			fail("shards-reopen: a present key %s after the reopen",
			     rc == IODB_OK ? "has a wrong value length" : "is not found");
		iodb_free(v);
	}
	if ((rc = iodb_close(db)) != IODB_OK)
		die_rc("close", rc);
	snprintf(res.note, sizeof(res.note),
		 "open_usec %.0f; %.0f bytes read at open; first get %.1f us (found); close "
		 "before it %.1f ms",
		 f.open_usec, f.open_read, f.first_get_us, f.close_ms);
	emit_result(x->b, &res);
	store_remove(x);
	report(&f);
}

void workloads_shards(struct run *x)
{
	if (x->ops == &engine_iodb && bench_wants(x->b, "shards"))
		shards(x);
}
