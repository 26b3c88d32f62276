/*
 * test_compact.c — compaction through the public API: space is reclaimed (runs merged to
 * one per shard, discarded and folded versions dropped, tombstones gone) without a deleted
 * key coming back; shards split past shard_max_bytes and merge back below shard_min_bytes;
 * snapshots and iterators opened before a compaction keep reading what they read; a key
 * larger than a shard does not keep compaction busy forever; a stress run with background
 * compaction under a writer and checking readers; and reopen after splits, with no run file
 * leaked. Every iodb_compact here fails the test if it runs far more tasks than the store can
 * need (compact()), so a compaction that never settles fails instead of hanging.
 *
 * The space, snapshot and reopen tests keep a model of the head (and copies of it at the
 * versions they read later): key i holds the value of generation gen[i] (0: absent), a
 * value of 0-160 bytes (sometimes empty) derived from (i, gen). One key in 8 lives in the
 * store "aux", so shards hold two stores and boundaries fall between them too.
 *
 * IODB_COMPACT_KEYS sets the space test's key count (default 50,000; 10,000 under
 * sanitizers); IODB_STRESS_SECONDS the stress test's length (default 3); IODB_TEST_SEED
 * replays the stress test's writer.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/db/db.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define DEFAULT_KEYS 10000
#define SANITIZED 1
#else
#define DEFAULT_KEYS 50000
#define SANITIZED 0
#endif

/* ---- Statistics and files --------------------------------------------------------------- */

static uint64_t stat_u64(iodb *db, const char *section, const char *name)
{
	return (uint64_t)tu_stat(db, section, name);
}

/* Every run file belongs to a run of the shard map (call with no snapshot or iterator open).
 * A background task may be writing a run it has not installed yet: a leaked file stays, so
 * the counts are compared again for up to two seconds before they must agree. */
static void check_no_leaked_runs(iodb *db, const char *dir)
{
	uint32_t files = (uint32_t)tu_run_files(dir), runs = (uint32_t)stat_u64(db, "shards", "runs");

	for (int i = 0; i < 200 && files != runs; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
		files = (uint32_t)tu_run_files(dir);
		runs = (uint32_t)stat_u64(db, "shards", "runs");
	}

	ck_assert_msg(files == runs, "%u run files in %s/shards, the shard map has %u runs", files,
		      dir, runs);
}

struct compact_call {
	iodb *db;
	int rc;
	atomic_int done;
};

static void *compact_thread(void *arg)
{
	struct compact_call *c = arg;

	c->rc = iodb_compact(c->db);
	atomic_store(&c->done, 1);
	return NULL;
}

/* iodb_compact, failing the test if it runs more tasks than a compaction of the shards
 * there are can need (200 + 4 a shard): a compaction that never settles, rewriting the same
 * data again and again, fails here instead of hanging until the test's timeout. */
static void compact(iodb *db)
{
	uint64_t t0 = stat_u64(db, "compaction", "tasks");
	uint64_t bound = 200 + 4 * stat_u64(db, "shards", "count"), tasks = t0;
	struct compact_call c = {db, 0, 0};
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, compact_thread, &c), 0);
	while (!atomic_load(&c.done)) {
		tasks = stat_u64(db, "compaction", "tasks");
		ck_assert_msg(tasks - t0 <= bound,
			      "iodb_compact has run %llu tasks and goes on (%llu shards, %llu runs)",
			      (unsigned long long)(tasks - t0),
			      (unsigned long long)stat_u64(db, "shards", "count"),
			      (unsigned long long)stat_u64(db, "shards", "runs"));
		usleep(2000);
	}
	pthread_join(th, NULL);
	ck_assert_msg(c.rc == 0, "iodb_compact: %d (%s)", c.rc, iodb_strerror(c.rc));
}

static void print_stats(iodb *db, const char *when)
{
	char *json;

	ck_ok(iodb_stats(db, &json));
	printf("%s: %s\n", when, json);
	iodb_free(json);
}

/* ---- Keys, values and the head model ---------------------------------------------------- */

static uint32_t env_u32(const char *name, uint32_t dflt)
{
	const char *e = getenv(name);

	return e && *e ? (uint32_t)strtoul(e, NULL, 0) : dflt;
}

static void key_of(uint32_t i, char k[17])
{
	snprintf(k, 17, "key-%012u", i);
}

static const char *store_of(uint32_t i)
{
	return i % 8 == 7 ? "aux" : NULL;
}

/* The value of key i in generation g (g > 0): 0-160 bytes, sometimes empty. */
static size_t val_of(uint32_t i, uint32_t g, uint8_t v[160])
{
	uint64_t s = ((uint64_t)i << 24 ^ g) * 0x9E3779B97F4A7C15ull + 1;
	size_t len = (size_t)(((uint64_t)i * 2654435761u + (uint64_t)g * 40503u) % 161);

	if ((i + g) % 53 == 0)
		len = 0;
	for (size_t b = 0; b < len; b++)
		v[b] = (uint8_t)(tu_rand(&s) >> 56);
	return len;
}

struct kv {
	iodb *db;
	uint32_t n;    /* keys 0..n-1 */
	uint32_t *gen; /* the head: generation of each key, 0 = absent */
	uint64_t vno;  /* versions written */
	uint32_t batch;
};

typedef int (*pick_fn)(uint32_t i);

static int pick_all(uint32_t i)
{
	(void)i;
	return 1;
}
static int pick_even(uint32_t i)
{
	return i % 2 == 0;
}
static int pick_odd(uint32_t i)
{
	return i % 2 == 1;
}
static int pick_not16(uint32_t i)
{
	return i % 16 != 0;
}
static int pick_third(uint32_t i)
{
	return i % 3 == 0;
}

static void vid_of(uint64_t no, char vid[32], size_t *len)
{
	*len = (size_t)snprintf(vid, 32, "v%llu", (unsigned long long)no);
}

/* Versions of kv->batch operations each: keys in [from, to) that pick chooses get
 * generation g (g == 0: deleted). */
static void write_keys(struct kv *kv, uint32_t from, uint32_t to, pick_fn pick, uint32_t g)
{
	iodb_batch *b;
	uint32_t in = 0;

	ck_ok(iodb_batch_new(&b));
	for (uint32_t i = from; i <= to; i++) {
		if (i < to && pick(i)) {
			char key[17];
			uint8_t v[160];

			key_of(i, key);
			if (g)
				ck_ok(iodb_batch_put(b, store_of(i), key, 16, v, val_of(i, g, v)));
			else
				ck_ok(iodb_batch_del(b, store_of(i), key, 16));
			kv->gen[i] = g;
			in++;
		}
		if (in && (in == kv->batch || i == to)) {
			char vid[32];
			size_t vl;

			vid_of(kv->vno++, vid, &vl);
			ck_ok(iodb_update(kv->db, vid, vl, b));
			iodb_batch_clear(b);
			in = 0;
		}
	}
	iodb_batch_free(b);
}

static uint64_t live_user_bytes(const struct kv *kv)
{
	uint64_t t = 0;
	uint8_t v[160];

	for (uint32_t i = 0; i < kv->n; i++)
		if (kv->gen[i])
			t += 16 + val_of(i, kv->gen[i], v);
	return t;
}

static void check_get(iodb *db, iodb_snapshot *s, uint32_t i, uint32_t g)
{
	char key[17];
	uint8_t want[160];
	size_t wl = 0;
	void *val = NULL;
	size_t len = 0;
	int rc;

	key_of(i, key);
	rc = s ? iodb_snapshot_get(s, store_of(i), key, 16, &val, &len)
	       : iodb_get(db, store_of(i), key, 16, &val, &len);
	if (!g) {
		ck_assert_msg(rc == IODB_NOTFOUND, "key %u: rc %d (%s), want it absent%s", i, rc,
			      iodb_strerror(rc), rc == 0 ? " (a deleted key came back)" : "");
		return;
	}
	ck_assert_msg(rc == 0, "key %u (generation %u): rc %d %s %s", i, g, rc, iodb_strerror(rc),
		      iodb_errmsg());
	wl = val_of(i, g, want);
	ck_assert_msg(len == wl && (wl == 0 || memcmp(val, want, wl) == 0),
		      "key %u: wrong value (%zu bytes, generation %u has %zu)", i, len, g, wl);
	iodb_free(val);
}

/* The next key after position *at (exclusive) present in store st, or n. */
static uint32_t next_present(const uint32_t *gen, uint32_t n, const char *st, uint32_t at)
{
	for (uint32_t i = at; i < n; i++)
		if (gen[i] && store_of(i) == st)
			return i;
	return n;
}

/* Check the entry under it is key want with its generation's value. */
static void check_iter_entry(iodb_iter *it, uint32_t want, uint32_t g)
{
	const void *k, *v;
	size_t kl, vl, wl;
	char key[17];
	uint8_t wv[160];

	ck_ok(iodb_iter_key(it, &k, &kl));
	ck_ok(iodb_iter_value(it, &v, &vl));
	key_of(want, key);
	ck_assert_msg(kl == 16 && memcmp(k, key, 16) == 0, "iterator: at %.*s, want %s",
		      (int)kl, (const char *)k, key);
	wl = val_of(want, g, wv);
	ck_assert_msg(vl == wl && (wl == 0 || memcmp(v, wv, wl) == 0),
		      "iterator: %s has a wrong value", key);
}

/* Advance it (positioned on key *pos, or unpositioned when *pos == n) up to `count` steps,
 * checking each key; *pos follows it (n at the end). */
static void iter_advance(iodb_iter *it, const uint32_t *gen, uint32_t n, const char *st,
			 uint32_t *pos, uint32_t count)
{
	for (uint32_t c = 0; c < count && *pos < n; c++) {
		uint32_t want = next_present(gen, n, st, *pos + 1);
		int rc = iodb_iter_next(it);

		if (want == n) {
			ck_assert_msg(rc == IODB_NOTFOUND, "iterator: rc %d past the last key", rc);
		} else {
			ck_assert_msg(rc == 0, "iterator: rc %d %s", rc, iodb_errmsg());
			check_iter_entry(it, want, gen[want]);
		}
		*pos = want;
	}
}

/* Open an iterator on store st and put it on the first key (checked). */
static iodb_iter *iter_start(iodb *db, iodb_snapshot *s, const uint32_t *gen, uint32_t n,
			     const char *st, uint32_t *pos)
{
	iodb_iter *it;
	int rc;

	ck_ok(iodb_iter_open(db, s, st, &it));
	*pos = next_present(gen, n, st, 0);
	rc = iodb_iter_first(it);
	if (*pos == n) {
		ck_assert_int_eq(rc, IODB_NOTFOUND);
	} else {
		ck_assert_msg(rc == 0, "iter_first: %d %s", rc, iodb_errmsg());
		check_iter_entry(it, *pos, gen[*pos]);
	}
	return it;
}

/* Every key by get, and both stores by a full scan, equal gen (at s, or the head). */
static void check_all(iodb *db, iodb_snapshot *s, const uint32_t *gen, uint32_t n)
{
	static const char *const stores[2] = {NULL, "aux"};

	for (uint32_t i = 0; i < n; i++)
		check_get(db, s, i, gen[i]);
	for (int k = 0; k < 2; k++) {
		uint32_t pos;
		iodb_iter *it = iter_start(db, s, gen, n, stores[k], &pos);

		iter_advance(it, gen, n, stores[k], &pos, UINT32_MAX);
		ck_assert_uint_eq(pos, n);
		iodb_iter_close(it);
	}
}

static uint32_t *gen_copy(const struct kv *kv)
{
	uint32_t *c = malloc(kv->n * sizeof(*c));

	memcpy(c, kv->gen, kv->n * sizeof(*c));
	return c;
}

static void base_options(iodb_options *o)
{
	iodb_options_init(o);
	o->merkle = 0;
	o->sync = 0;
	o->memtable_bytes = 64 << 10;
	o->journal_segment_bytes = 1 << 20; /* distributed segments are released */
	o->block_bytes = 4096;
	o->shard_max_bytes = 256 << 10; /* shard_min_bytes: the default, 32 KiB */
	o->auto_compaction = 0;
}

/* Open dir with the tests' base options, keys 0..n-1 absent, `batch` keys per version. */
static void kv_open(struct kv *kv, const char *dir, uint32_t n, uint32_t batch)
{
	iodb_options o;

	base_options(&o);
	memset(kv, 0, sizeof(*kv));
	kv->n = n;
	kv->gen = calloc(n, sizeof(*kv->gen));
	kv->batch = batch;
	ck_ok(iodb_open(dir, &o, &kv->db));
}

static void rollback_to(iodb *db, uint64_t vno)
{
	char vid[32];
	size_t vl;

	vid_of(vno, vid, &vl);
	ck_ok(iodb_rollback(db, vid, vl));
}

/* ---- a. Space --------------------------------------------------------------------------- */

/*
 * Three rounds of writes, each followed by flush + compact:
 *   1. every key written twice: the one shard is merged and splits (shard_max_bytes);
 *   2. two more generations of every key, rolled back: their bytes go;
 *   3. half the keys of [0, n/2) deleted, all but one key in 16 of [3n/4, n) deleted (their
 *      shards shrink below shard_min_bytes and merge back), new values in the rest;
 *      clean(1) folds all history.
 * After each: one run per shard, run bytes within a small factor of the live data, every
 * key as the model says (deleted ones absent), both stores scanned equal the model.
 */
START_TEST(test_space)
{
	char *dir = tu_tmpdir("compact");
	uint32_t n = env_u32("IODB_COMPACT_KEYS", DEFAULT_KEYS);
	struct kv kv = {0};
	uint64_t mark, live, before, after, splits, merge_backs;
	double ratio_before, ratio;

	kv_open(&kv, dir, n, 1000);

	/* Round 1. */
	write_keys(&kv, 0, n, pick_all, 1);
	write_keys(&kv, 0, n, pick_all, 2);
	ck_ok(iodb_flush(kv.db));
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "count"), 1);
	ck_assert_uint_gt(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	compact(kv.db);
	print_stats(kv.db, "after round 1");
	splits = stat_u64(kv.db, "compaction", "splits");
	ck_assert_msg(splits > 0, "no split of a shard of %llu bytes past a 256 KiB maximum",
		      (unsigned long long)stat_u64(kv.db, "shards", "run_bytes"));
	ck_assert_uint_gt(stat_u64(kv.db, "shards", "count"), 4);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	ck_assert_uint_gt(stat_u64(kv.db, "compaction", "merges"), 0);
	ck_assert_uint_gt(stat_u64(kv.db, "compaction", "bytes_written"), 0);
	live = live_user_bytes(&kv);
	ratio = (double)stat_u64(kv.db, "shards", "run_bytes") / (double)live;
	printf("round 1: %u keys, %llu live user bytes, run bytes / live = %.3f\n", n,
	       (unsigned long long)live, ratio);
	/* Generation 1 is still visible to retained versions: at most two values a key. */
	ck_assert_msg(ratio < 2.6, "run bytes %.2f times the live data", ratio);
	check_all(kv.db, NULL, kv.gen, n);
	check_no_leaked_runs(kv.db, dir);

	/* Round 2: two generations discarded by a rollback take no room once compacted. */
	mark = kv.vno - 1;
	before = stat_u64(kv.db, "shards", "run_bytes");
	{
		uint32_t *at_mark = gen_copy(&kv);

		write_keys(&kv, 0, n, pick_all, 3);
		write_keys(&kv, 0, n, pick_all, 4);
		rollback_to(kv.db, mark);
		memcpy(kv.gen, at_mark, n * sizeof(*kv.gen));
		free(at_mark);
	}
	ck_ok(iodb_flush(kv.db));
	compact(kv.db);
	after = stat_u64(kv.db, "shards", "run_bytes");
	printf("round 2: run bytes %llu before two generations were written and rolled back, "
	       "%llu after\n", (unsigned long long)before, (unsigned long long)after);
	ck_assert_msg(after < before + before / 8,
		      "rolled-back generations were not reclaimed: %llu run bytes, %llu before",
		      (unsigned long long)after, (unsigned long long)before);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	check_all(kv.db, NULL, kv.gen, n);
	/* Then deletes, new values, and clean(1) folding all history. */
	write_keys(&kv, 0, n / 2, pick_even, 0);
	write_keys(&kv, 3 * n / 4, n, pick_not16, 0);
	write_keys(&kv, n / 4, n / 2, pick_odd, 6);
	write_keys(&kv, n / 2, 3 * n / 4, pick_all, 6);
	ck_ok(iodb_clean(kv.db, 1));
	ck_ok(iodb_flush(kv.db));
	live = live_user_bytes(&kv);
	before = stat_u64(kv.db, "shards", "run_bytes");
	ratio_before = (double)before / (double)live;
	merge_backs = stat_u64(kv.db, "compaction", "merge_backs");
	compact(kv.db);
	print_stats(kv.db, "after round 3");
	after = stat_u64(kv.db, "shards", "run_bytes");
	ratio = (double)after / (double)live;
	printf("round 3: %llu live user bytes, run bytes / live = %.3f before compact, %.3f "
	       "after; write amplification %.2f\n",
	       (unsigned long long)live, ratio_before, ratio,
	       tu_stat(kv.db, NULL, "write_amplification"));
	ck_assert_msg(ratio_before > 3.0, "before compaction run bytes are only %.2f times the "
		      "live data: the test no longer measures reclaiming", ratio_before);
	ck_assert_msg(ratio < 1.5, "after compaction run bytes are %.2f times the live data",
		      ratio);
	/* All the store's bytes (runs, journal, manifest) too. */
	ratio = (double)stat_u64(kv.db, "space", "live_bytes") / (double)live;
	ck_assert_msg(ratio < 2.0, "after compaction the store takes %.2f times the live data",
		      ratio);
	ck_assert_msg(stat_u64(kv.db, "compaction", "merge_backs") > merge_backs,
		      "no shard of the emptied range merged back");
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	ck_assert_uint_eq(stat_u64(kv.db, "space", "obsolete_run_bytes"), 0);
	ck_assert_uint_eq(stat_u64(kv.db, "compaction", "oversized"), 0);
	check_all(kv.db, NULL, kv.gen, n);
	check_no_leaked_runs(kv.db, dir);
	/* Nothing is due any more: a second call merges nothing. */
	{
		uint64_t merges = stat_u64(kv.db, "compaction", "merges");

		compact(kv.db);
		ck_assert_uint_eq(stat_u64(kv.db, "compaction", "merges"), merges);
	}

	ck_ok(iodb_close(kv.db));
	free(kv.gen);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- b. Snapshots pin what they read ---------------------------------------------------- */

/*
 * Snapshots at a version and at the head, and iterators half way through each, are opened
 * with the data in runs; then the versions they read are rolled back, new versions written,
 * the history cleaned to 3 versions (folding the version a third snapshot reads) and
 * everything compacted (twice). The snapshots read their versions exactly, the iterators go
 * on as if nothing happened, the three retained versions read right through fresh
 * snapshots, and once the old readers close no obsolete run is left.
 */
START_TEST(test_snapshot_pinning)
{
	char *dir = tu_tmpdir("compact");
	uint32_t n = DEFAULT_KEYS / 2;
	struct kv kv = {0};
	uint32_t *st_a, *st_b, *st_c, *st_keep[3], pos_b, pos_h;
	uint64_t v_a, v_keep[3];
	iodb_snapshot *s_a, *s_b, *s_c;
	iodb_iter *it_b, *it_h;

	kv_open(&kv, dir, n, 500);

	write_keys(&kv, 0, n, pick_all, 1);
	v_a = kv.vno - 1;
	st_a = gen_copy(&kv);
	write_keys(&kv, 0, n, pick_odd, 2);
	write_keys(&kv, 0, n, pick_third, 0);
	{
		char vid[32];
		size_t vl;

		vid_of(kv.vno - 1, vid, &vl);
		st_b = gen_copy(&kv);
		write_keys(&kv, 0, n / 2, pick_all, 3);
		st_c = gen_copy(&kv);
		ck_ok(iodb_flush(kv.db));
		ck_ok(iodb_snapshot_open(kv.db, vid, vl, &s_b));
	}
	ck_ok(iodb_snapshot_open(kv.db, NULL, 0, &s_c));
	it_b = iter_start(kv.db, s_b, st_b, n, NULL, &pos_b);
	it_h = iter_start(kv.db, NULL, st_c, n, NULL, &pos_h); /* the head now, no snapshot */
	iter_advance(it_b, st_b, n, NULL, &pos_b, n / 3);
	iter_advance(it_h, st_c, n, NULL, &pos_h, n / 4);

	/* Compact with everything retained: the readers' runs become obsolete. */
	compact(kv.db);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	ck_assert_msg(stat_u64(kv.db, "space", "obsolete_run_bytes") > 0,
		      "runs replaced under open snapshots are not counted as obsolete");
	check_all(kv.db, s_b, st_b, n);
	iter_advance(it_b, st_b, n, NULL, &pos_b, n / 8);

	/* Discard both versions read, write on, clean to three versions, compact again. */
	rollback_to(kv.db, v_a);
	memcpy(kv.gen, st_a, n * sizeof(*kv.gen));
	ck_ok(iodb_snapshot_open(kv.db, NULL, 0, &s_a)); /* v_a: the clean below folds it */
	write_keys(&kv, n / 4, 3 * n / 4, pick_even, 4);
	write_keys(&kv, 0, n, pick_third, 0);
	kv.batch = n; /* one version each from here */
	for (int k = 0; k < 3; k++) {
		write_keys(&kv, (uint32_t)k * n / 3, (uint32_t)(k + 1) * n / 3,
			   k == 1 ? pick_not16 : pick_odd, k == 1 ? 0 : 5 + (uint32_t)k);
		v_keep[k] = kv.vno - 1;
		st_keep[k] = gen_copy(&kv);
	}
	ck_ok(iodb_clean(kv.db, 3));
	ck_ok(iodb_flush(kv.db));
	compact(kv.db);
	print_stats(kv.db, "after the second compaction");
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	ck_assert_uint_gt(stat_u64(kv.db, "space", "obsolete_run_bytes"), 0);

	/* The old readers. */
	iter_advance(it_b, st_b, n, NULL, &pos_b, UINT32_MAX);
	iter_advance(it_h, st_c, n, NULL, &pos_h, UINT32_MAX);
	ck_assert_uint_eq(pos_b, n);
	ck_assert_uint_eq(pos_h, n);
	check_all(kv.db, s_a, st_a, n);
	check_all(kv.db, s_b, st_b, n);
	check_all(kv.db, s_c, st_c, n);
	/* The retained versions, and the head. */
	for (int k = 0; k < 3; k++) {
		iodb_snapshot *s;
		char vid[32];
		size_t vl;

		vid_of(v_keep[k], vid, &vl);
		ck_ok(iodb_snapshot_open(kv.db, vid, vl, &s));
		check_all(kv.db, s, st_keep[k], n);
		iodb_snapshot_close(s);
	}
	{
		iodb_snapshot *s;
		char vid[32];
		size_t vl;

		vid_of(v_a, vid, &vl); /* folded into the base: no longer a version */
		ck_rc(iodb_snapshot_open(kv.db, vid, vl, &s), IODB_NOTFOUND);
	}
	check_all(kv.db, NULL, kv.gen, n);

	iodb_iter_close(it_b);
	iodb_iter_close(it_h);
	iodb_snapshot_close(s_b);
	iodb_snapshot_close(s_c);
	ck_assert_uint_gt(stat_u64(kv.db, "space", "obsolete_run_bytes"), 0); /* s_a's */
	iodb_snapshot_close(s_a);
	ck_assert_uint_eq(stat_u64(kv.db, "space", "obsolete_run_bytes"), 0);
	check_no_leaked_runs(kv.db, dir);
	ck_ok(iodb_close(kv.db));
	for (int k = 0; k < 3; k++)
		free(st_keep[k]);
	free(st_a);
	free(st_b);
	free(st_c);
	free(kv.gen);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- Keys no split can cut ---------------------------------------------------------------- */

/*
 * A shard can only be cut between keys: one key whose value, or whose retained history, is
 * larger than shard_max_bytes leaves a shard past the maximum that no split can shrink.
 * Compaction must settle anyway (not rewrite that shard again and again), and the values
 * read back, before and after a reopen with background compaction.
 */
START_TEST(test_oversized_key)
{
	char *dir = tu_tmpdir("compact");
	size_t big = 200 << 10;
	uint8_t *v = malloc(big);
	uint64_t s = tu_seed(77), merges;
	iodb_options o;
	iodb_batch *b;
	iodb *db;

	for (size_t i = 0; i < big; i++)
		v[i] = (uint8_t)(tu_rand(&s) >> 56);
	base_options(&o);
	o.shard_max_bytes = 64 << 10;
	ck_ok(iodb_open(dir, &o, &db));
	ck_ok(iodb_batch_new(&b));
	/* "big": one 200 KiB value; "hist": 40 retained versions of 4 KiB each; small keys
	 * around both. */
	for (int k = 0; k < 40; k++) {
		char vid[16], key[16];

		iodb_batch_clear(b);
		if (k == 0)
			ck_ok(iodb_batch_put(b, NULL, "big", 3, v, big));
		ck_ok(iodb_batch_put(b, NULL, "hist", 4, v + k * 4096, 4096));
		for (int j = 0; j < 20; j++) {
			snprintf(key, sizeof(key), "%c%04d", "aciz"[j % 4], k * 20 + j);
			ck_ok(iodb_batch_put(b, NULL, key, strlen(key), key, strlen(key)));
		}
		snprintf(vid, sizeof(vid), "o%d", k);
		ck_ok(iodb_update(db, vid, strlen(vid), b));
	}
	iodb_batch_free(b);
	ck_ok(iodb_flush(db));
	compact(db);
	merges = stat_u64(db, "compaction", "merges");
	compact(db); /* nothing is due any more */
	ck_assert_uint_eq(stat_u64(db, "compaction", "merges"), merges);
	for (int round = 0; round < 2; round++) {
		iodb_snapshot *snap;
		void *val;
		size_t len;

		ck_ok(iodb_get(db, NULL, "big", 3, &val, &len));
		ck_assert(len == big && memcmp(val, v, big) == 0);
		iodb_free(val);
		ck_ok(iodb_get(db, NULL, "hist", 4, &val, &len));
		ck_assert(len == 4096 && memcmp(val, v + 39 * 4096, 4096) == 0);
		iodb_free(val);
		ck_ok(iodb_snapshot_open(db, "o7", 2, &snap));
		ck_ok(iodb_snapshot_get(snap, NULL, "hist", 4, &val, &len));
		ck_assert(len == 4096 && memcmp(val, v + 7 * 4096, 4096) == 0);
		iodb_free(val);
		iodb_snapshot_close(snap);
		check_no_leaked_runs(db, dir);
		/* Again with background compaction: it, too, finds nothing due. */
		ck_ok(iodb_close(db));
		o.auto_compaction = 1;
		ck_ok(iodb_open(dir, &o, &db));
		compact(db);
	}
	ck_ok(iodb_close(db));
	free(v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- d. Reopen -------------------------------------------------------------------------- */

static void reopen(struct kv *kv, const char *dir, int auto_compaction)
{
	iodb_options o;

	ck_ok(iodb_close(kv->db));
	base_options(&o);
	o.auto_compaction = auto_compaction;
	o.compaction_threads = 2;
	ck_ok(iodb_open(dir, &o, &kv->db));
}

/*
 * A store split into shards is closed and reopened, with and without background
 * compaction, and also closed while background compaction is busy: the shard map comes
 * back as it was, every key equals the model, and the run files are exactly the map's runs.
 */
START_TEST(test_reopen)
{
	char *dir = tu_tmpdir("compact");
	uint32_t n = DEFAULT_KEYS / 2;
	struct kv kv = {0};
	uint64_t shards, mark;

	kv_open(&kv, dir, n, 700);
	write_keys(&kv, 0, n, pick_all, 1);
	write_keys(&kv, 0, n, pick_all, 2);
	write_keys(&kv, 0, n, pick_third, 0);
	ck_ok(iodb_flush(kv.db));
	compact(kv.db);
	shards = stat_u64(kv.db, "shards", "count");
	ck_assert_uint_gt(stat_u64(kv.db, "compaction", "splits"), 0);
	ck_assert_uint_gt(shards, 2);

	reopen(&kv, dir, 0);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "count"), shards);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	check_no_leaked_runs(kv.db, dir);
	check_all(kv.db, NULL, kv.gen, n);

	/* Fully compacted: an open with background compaction finds nothing due. */
	reopen(&kv, dir, 1);
	check_no_leaked_runs(kv.db, dir);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "count"), shards);
	check_all(kv.db, NULL, kv.gen, n);

	/* New runs, discarded and folded versions, then close while compaction is busy. */
	mark = kv.vno - 1;
	write_keys(&kv, n / 3, n, pick_all, 3);
	rollback_to(kv.db, mark);
	for (uint32_t i = n / 3; i < n; i++)
		kv.gen[i] = i % 3 == 0 ? 0 : 2;
	write_keys(&kv, 0, n / 2, pick_odd, 4);
	write_keys(&kv, n / 2, n, pick_even, 0);
	ck_ok(iodb_clean(kv.db, 2));
	ck_ok(iodb_flush(kv.db));
	reopen(&kv, dir, 0);
	check_no_leaked_runs(kv.db, dir);
	check_all(kv.db, NULL, kv.gen, n);
	compact(kv.db);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "runs_per_shard_max"), 1);
	check_no_leaked_runs(kv.db, dir);
	shards = stat_u64(kv.db, "shards", "count");

	reopen(&kv, dir, 1);
	ck_assert_uint_eq(stat_u64(kv.db, "shards", "count"), shards);
	check_no_leaked_runs(kv.db, dir);
	check_all(kv.db, NULL, kv.gen, n);
	reopen(&kv, dir, 0);
	check_no_leaked_runs(kv.db, dir);
	check_all(kv.db, NULL, kv.gen, n);
	ck_ok(iodb_close(kv.db));
	free(kv.gen);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- c. Stress -------------------------------------------------------------------------- */

/*
 * One writer (this thread) runs a seeded random mix of updates (overwrites and deletes),
 * rollbacks, checkouts (branches), cleans, flushes and iodb_compact calls, with background
 * compaction on tiny limits. Two readers open snapshots of versions the writer has
 * published and check every get and every iterator step against the contents the writer
 * recorded for that version; they hold iterators across compactions.
 *
 * Versions and their contents live under mu. The writer publishes a version after its
 * update returns, and discards (rollback, clean) with mu held across the store's call, so
 * that under mu a version is in the table exactly when the store retains it: a reader
 * opens its snapshot under mu and the open must succeed. Contents are reference counted:
 * a reader keeps the contents of the version it reads after the writer discards it.
 */

#define SK 6000     /* keys */
#define SOPS 120    /* most operations per update */
#define SMAXV 512   /* retained versions before the writer cleans */

struct scontents {
	int refs; /* under mu */
	uint32_t w[SK]; /* writer's op number that wrote the key's value; 0 = absent */
};

struct sver {
	char vid[16];
	uint8_t vidlen;
	int parent, alive;
	struct scontents *c;
};

struct stress {
	iodb *db;
	pthread_mutex_t mu;
	struct sver *v;
	int n, cap, head, base;
	int stop;
	char fail[512]; /* the first failure a reader saw */
	uint64_t snapshots; /* read and checked by the readers */
};

static void skey(uint32_t i, char k[13])
{
	snprintf(k, 13, "s%011u", i * 7919u % 100000000u);
}

/* Keys in store order: skey is not monotonic in i. The order is fixed at start. */
static uint32_t sorder[SK];

static int skey_cmp(const void *a, const void *b)
{
	char ka[13], kb[13];

	skey(*(const uint32_t *)a, ka);
	skey(*(const uint32_t *)b, kb);
	return strcmp(ka, kb);
}

static size_t sval(uint32_t i, uint32_t w, uint8_t v[120])
{
	uint64_t s = ((uint64_t)w << 20 ^ i) * 0xD1B54A32D192ED03ull + 7;
	size_t len = (size_t)((i * 131u + w * 7u) % 121);

	for (size_t b = 0; b < len; b++)
		v[b] = (uint8_t)(tu_rand(&s) >> 56);
	return len;
}

static void stress_fail(struct stress *x, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&x->mu);
	if (!x->fail[0]) {
		va_start(ap, fmt);
		vsnprintf(x->fail, sizeof(x->fail), fmt, ap);
		va_end(ap);
	}
	x->stop = 1;
	pthread_mutex_unlock(&x->mu);
}

static int stress_failed(struct stress *x)
{
	int f;

	pthread_mutex_lock(&x->mu);
	f = x->fail[0] != 0;
	pthread_mutex_unlock(&x->mu);
	return f;
}

static void contents_unref(struct scontents *c) /* under mu */
{
	if (c && --c->refs == 0)
		free(c);
}

/* Compare a get's result with contents; 0 if equal, else a failure is recorded. */
static int sget_check(struct stress *x, iodb_snapshot *s, const struct scontents *c, uint32_t i,
		      const char *vid)
{
	char key[13];
	uint8_t want[120];
	void *val = NULL;
	size_t len = 0, wl;
	int rc;

	skey(i, key);
	rc = s ? iodb_snapshot_get(s, NULL, key, 12, &val, &len)
	       : iodb_get(x->db, NULL, key, 12, &val, &len);
	if (!c->w[i]) {
		if (rc != IODB_NOTFOUND) {
			stress_fail(x, "version %s, key %s: rc %d, want absent", vid, key, rc);
			iodb_free(val);
			return -1;
		}
		return 0;
	}
	wl = sval(i, c->w[i], want);
	if (rc != 0 || len != wl || (wl && memcmp(val, want, wl) != 0)) {
		stress_fail(x, "version %s, key %s: rc %d (%s), %zu bytes, want %zu bytes of write %u",
			    vid, key, rc, rc ? iodb_errmsg() : "", len, wl, c->w[i]);
		iodb_free(val);
		return -1;
	}
	iodb_free(val);
	return 0;
}

/* Walk from a random key forward 300 steps (whole: the whole store), yielding now and
 * then so compaction runs underneath; every step checked. */
static int siter_check(struct stress *x, iodb_snapshot *s, const struct scontents *c,
		       uint64_t *rng, const char *vid, int whole)
{
	uint32_t r = tu_below(rng, SK), steps = whole ? SK : 300;
	iodb_iter *it;
	char key[13];
	int rc;

	if ((rc = iodb_iter_open(x->db, s, NULL, &it)) != 0) {
		stress_fail(x, "iter_open: %d %s", rc, iodb_errmsg());
		return -1;
	}
	skey(sorder[r], key);
	rc = steps == SK ? iodb_iter_first(it) : iodb_iter_seek(it, key, 12);
	if (steps == SK)
		r = 0;
	for (uint32_t k = 0; k < steps; k++) {
		const void *kp, *vp;
		size_t kl, vl, wl;
		uint8_t want[120];
		char wkey[13];

		while (r < SK && !c->w[sorder[r]])
			r++;
		if (r == SK) {
			if (rc != IODB_NOTFOUND)
				goto bad;
			break;
		}
		if (rc != 0)
			goto bad;
		skey(sorder[r], wkey);
		wl = sval(sorder[r], c->w[sorder[r]], want);
		if (iodb_iter_key(it, &kp, &kl) != 0 || iodb_iter_value(it, &vp, &vl) != 0 ||
		    kl != 12 || memcmp(kp, wkey, 12) != 0 || vl != wl ||
		    (wl && memcmp(vp, want, wl) != 0)) {
			stress_fail(x, "version %s: iterator at step %u not on %s or wrong value",
				    vid, k, wkey);
			iodb_iter_close(it);
			return -1;
		}
		if (k % 64 == 63)
			sched_yield();
		r++;
		rc = iodb_iter_next(it);
	}
	iodb_iter_close(it);
	return 0;
bad:
	stress_fail(x, "version %s: iterator rc %d (%s) at rank %u", vid, rc, iodb_errmsg(), r);
	iodb_iter_close(it);
	return -1;
}

struct reader {
	struct stress *x;
	uint64_t seed;
	pthread_t th;
};

static void *stress_reader(void *arg)
{
	struct stress *x = ((struct reader *)arg)->x;
	uint64_t rng = ((struct reader *)arg)->seed;

	for (;;) {
		struct scontents *c = NULL;
		iodb_snapshot *s = NULL;
		char vid[16];
		int rc = 0, alive = 0;

		pthread_mutex_lock(&x->mu);
		if (x->stop) {
			pthread_mutex_unlock(&x->mu);
			break;
		}
		for (int i = 0; i < x->n; i++)
			alive += x->v[i].alive;
		if (alive) {
			uint32_t k = tu_below(&rng, (uint32_t)alive);
			int i = 0;

			/* Mostly recent versions: their data is the one compaction is busy with. */
			if (tu_below(&rng, 2))
				k = (uint32_t)alive - 1 - (k % (alive < 8 ? (uint32_t)alive : 8));
			for (;; i++)
				if (x->v[i].alive && k-- == 0)
					break;
			c = x->v[i].c;
			c->refs++;
			memcpy(vid, x->v[i].vid, x->v[i].vidlen);
			vid[x->v[i].vidlen] = 0;
			rc = iodb_snapshot_open(x->db, vid, x->v[i].vidlen, &s);
		}
		pthread_mutex_unlock(&x->mu);
		if (!alive) {
			sched_yield();
			continue;
		}
		if (rc != 0) {
			stress_fail(x, "snapshot_open of retained version %s: %d %s", vid, rc,
				    iodb_errmsg());
		} else {
			int bad = 0;

			for (int k = 0; k < 100 && !bad; k++)
				bad = sget_check(x, s, c, tu_below(&rng, SK), vid);
			if (!bad)
				bad = siter_check(x, s, c, &rng, vid, tu_below(&rng, 8) == 0);
			for (int k = 0; k < 100 && !bad; k++)
				bad = sget_check(x, s, c, tu_below(&rng, SK), vid);
			iodb_snapshot_close(s);
			pthread_mutex_lock(&x->mu);
			x->snapshots++;
			pthread_mutex_unlock(&x->mu);
		}
		pthread_mutex_lock(&x->mu);
		contents_unref(c);
		pthread_mutex_unlock(&x->mu);
	}
	return NULL;
}

/* Model operations; all under mu. */
static void smodel_kill(struct stress *x, int i)
{
	x->v[i].alive = 0;
	contents_unref(x->v[i].c);
	x->v[i].c = NULL;
}

static void smodel_rollback(struct stress *x, int idx)
{
	char *desc = calloc((size_t)x->n, 1);

	desc[idx] = 1;
	for (int i = idx + 1; i < x->n; i++)
		if (x->v[i].alive && x->v[i].parent >= 0 && desc[x->v[i].parent]) {
			desc[i] = 1;
			smodel_kill(x, i);
		}
	free(desc);
	x->head = idx;
}

static void smodel_clean(struct stress *x, uint32_t keep)
{
	int b = x->head;
	char *sub;

	for (uint32_t d = 1; d < keep && b != x->base && x->v[b].parent >= 0; d++)
		b = x->v[b].parent;
	if (b == x->base)
		return;
	sub = calloc((size_t)x->n, 1);
	sub[b] = 1;
	for (int i = 0; i < x->n; i++) {
		if (!x->v[i].alive || i == b)
			continue;
		if (x->v[i].parent >= 0 && sub[x->v[i].parent])
			sub[i] = 1;
		else
			smodel_kill(x, i);
	}
	free(sub);
	x->v[b].parent = -1;
	x->base = b;
}

static int salive_at(const struct stress *x, uint32_t k)
{
	for (int i = 0; i < x->n; i++)
		if (x->v[i].alive && k-- == 0)
			return i;
	return -1;
}

static int salive_count(const struct stress *x)
{
	int c = 0;

	for (int i = 0; i < x->n; i++)
		c += x->v[i].alive;
	return c;
}

/* The writer's full check of one version's contents (gets and a whole scan). */
static void scheck_version(struct stress *x, iodb_snapshot *s, const struct scontents *c,
			   const char *vid)
{
	uint64_t rng = 1;
	int bad = 0;

	for (uint32_t i = 0; i < SK && !bad; i++)
		bad = sget_check(x, s, c, i, vid);
	if (!bad)
		siter_check(x, s, c, &rng, vid, 1);
	ck_assert_msg(!stress_failed(x), "%s", x->fail);
}

static void scheck_all(struct stress *x, int max_versions)
{
	int alive = salive_count(x);

	scheck_version(x, NULL, x->v[x->head].c, "head");
	for (int k = 0; k < alive && k < max_versions; k++) {
		int i = salive_at(x, (uint32_t)(alive - 1 - k));
		iodb_snapshot *s;

		ck_ok(iodb_snapshot_open(x->db, x->v[i].vid, x->v[i].vidlen, &s));
		scheck_version(x, s, x->v[i].c, x->v[i].vid);
		iodb_snapshot_close(s);
	}
}

START_TEST(test_stress)
{
	uint32_t seconds = env_u32("IODB_STRESS_SECONDS", 3);
	uint64_t rng = tu_seed(20260501), tasks = 0;
	char *dir = tu_tmpdir("compact");
	struct stress x;
	iodb_options o;
	struct reader rd[2];
	struct timespec t0, now;
	uint32_t wno = 0, ops = 0, counts[8] = {0};
	iodb_batch *b;

	for (uint32_t i = 0; i < SK; i++)
		sorder[i] = i;
	qsort(sorder, SK, sizeof(sorder[0]), skey_cmp);

	memset(&x, 0, sizeof(x));
	pthread_mutex_init(&x.mu, NULL);
	x.head = x.base = -1;
	iodb_options_init(&o);
	o.merkle = 0;
	o.sync = 0;
	o.memtable_bytes = 16 << 10;
	o.block_bytes = 1024;
	o.block_cache_bytes = 4 << 20;
	o.auto_compaction = 1;
	o.compaction_threads = 2;
	o.shard_max_bytes = 64 << 10;
	o.compaction_task_bytes = 256 << 10;
	ck_ok(iodb_open(dir, &o, &x.db));
	ck_ok(iodb_batch_new(&b));
	for (int r = 0; r < 2; r++) {
		rd[r] = (struct reader){&x, rng + (uint64_t)r + 1, 0};
		ck_assert_int_eq(pthread_create(&rd[r].th, NULL, stress_reader, &rd[r]), 0);
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;; ops++) {
		uint32_t r = tu_below(&rng, 100);

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (stress_failed(&x) || (ops >= 300 && now.tv_sec - t0.tv_sec >= (time_t)seconds))
			break;
		if (r < 70 || x.head < 0) {
			/* An update: overwrites of a hot range and of everything, deletes. */
			struct scontents *c = malloc(sizeof(*c));
			uint32_t nops = 1 + tu_below(&rng, SOPS), hot = tu_below(&rng, SK - 500);
			char vid[16];
			int vl;

			if (x.head >= 0)
				memcpy(c->w, x.v[x.head].c->w, sizeof(c->w));
			else
				memset(c->w, 0, sizeof(c->w));
			c->refs = 1;
			wno++;
			iodb_batch_clear(b);
			for (uint32_t k = 0; k < nops; k++) {
				uint32_t i = tu_below(&rng, 3) ? hot + tu_below(&rng, 500)
							       : tu_below(&rng, SK);
				char key[13];

				skey(i, key);
				if (tu_below(&rng, 4) == 0) {
					ck_ok(iodb_batch_del(b, NULL, key, 12));
					c->w[i] = 0;
				} else {
					uint8_t v[120];

					ck_ok(iodb_batch_put(b, NULL, key, 12, v, sval(i, wno, v)));
					c->w[i] = wno;
				}
			}
			vl = snprintf(vid, sizeof(vid), "w%u", wno);
			ck_ok(iodb_update(x.db, vid, (size_t)vl, b));
			pthread_mutex_lock(&x.mu);
			if (x.n == x.cap) {
				x.cap = x.cap ? x.cap * 2 : 256;
				x.v = realloc(x.v, (size_t)x.cap * sizeof(*x.v));
			}
			memcpy(x.v[x.n].vid, vid, (size_t)vl);
			x.v[x.n].vidlen = (uint8_t)vl;
			x.v[x.n].parent = x.head;
			x.v[x.n].alive = 1;
			x.v[x.n].c = c;
			if (x.base < 0)
				x.base = x.n;
			x.head = x.n++;
			pthread_mutex_unlock(&x.mu);
			counts[0]++;
		} else if (r < 76) {
			/* Roll back a few versions of the head's chain (or to any version). */
			int idx = x.head;

			pthread_mutex_lock(&x.mu);
			if (tu_below(&rng, 4)) {
				for (uint32_t d = 1 + tu_below(&rng, 6); d > 0 && x.v[idx].parent >= 0; d--)
					idx = x.v[idx].parent;
			} else {
				idx = salive_at(&x, tu_below(&rng, (uint32_t)salive_count(&x)));
			}
			ck_ok(iodb_rollback(x.db, x.v[idx].vid, x.v[idx].vidlen));
			smodel_rollback(&x, idx);
			pthread_mutex_unlock(&x.mu);
			counts[1]++;
		} else if (r < 83) {
			/* Check out an older version: the next updates branch from it. */
			int idx = salive_at(&x, tu_below(&rng, (uint32_t)salive_count(&x)));

			pthread_mutex_lock(&x.mu);
			ck_ok(iodb_checkout(x.db, x.v[idx].vid, x.v[idx].vidlen));
			x.head = idx;
			pthread_mutex_unlock(&x.mu);
			counts[2]++;
		} else if (r < 87 || salive_count(&x) > SMAXV) {
			uint32_t keep = 1 + tu_below(&rng, 12);

			pthread_mutex_lock(&x.mu);
			ck_ok(iodb_clean(x.db, keep));
			smodel_clean(&x, keep);
			pthread_mutex_unlock(&x.mu);
			counts[3]++;
		} else if (r < 90) {
			ck_ok(iodb_flush(x.db));
			counts[4]++;
		} else if (r < 91) {
			ck_ok(iodb_compact(x.db));
			counts[5]++;
		} else {
			/* Reads at the head: the writer is the only one moving it. */
			for (int k = 0; k < 50; k++)
				if (sget_check(&x, NULL, x.v[x.head].c, tu_below(&rng, SK), "head"))
					break;
			counts[6]++;
		}
	}
	pthread_mutex_lock(&x.mu);
	x.stop = 1;
	pthread_mutex_unlock(&x.mu);
	for (int r = 0; r < 2; r++)
		pthread_join(rd[r].th, NULL);
	iodb_batch_free(b);
	ck_assert_msg(!x.fail[0], "%s", x.fail);
	printf("stress: %u writer ops (%u updates, %u rollbacks, %u checkouts, %u cleans, %u "
	       "flushes, %u compacts, %u head reads), %llu snapshots read, %d versions "
	       "retained\n",
	       ops, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6],
	       (unsigned long long)x.snapshots, salive_count(&x));
	ck_assert_uint_gt(x.snapshots, 0);

	/* Background compaction ran (wait for it: no time limit but the test's). */
	ck_ok(iodb_flush(x.db));
	while ((tasks = stat_u64(x.db, "compaction", "tasks")) == 0)
		usleep(10000);
	print_stats(x.db, "after the stress run");
	ck_assert_uint_gt(stat_u64(x.db, "compaction", "merges"), 0);
	compact(x.db);
	scheck_all(&x, SANITIZED ? 8 : 40);

	/* Reopen without background compaction: no leaked run; then compact it all. */
	ck_ok(iodb_close(x.db));
	o.auto_compaction = 0;
	ck_ok(iodb_open(dir, &o, &x.db));
	check_no_leaked_runs(x.db, dir);
	scheck_all(&x, 4);
	compact(x.db);
	ck_assert_uint_eq(stat_u64(x.db, "shards", "runs_per_shard_max"), 1);
	check_no_leaked_runs(x.db, dir);
	scheck_all(&x, SANITIZED ? 8 : INT32_MAX);
	ck_ok(iodb_close(x.db));

	for (int i = 0; i < x.n; i++)
		contents_unref(x.v[i].c);
	free(x.v);
	pthread_mutex_destroy(&x.mu);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- Review regressions ------------------------------------------------------------------ */

static void put1(iodb *db, const char *vid, const char *k, const char *v)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	if (v)
		ck_ok(iodb_batch_put(b, NULL, k, strlen(k), v, strlen(v)));
	else
		ck_ok(iodb_batch_del(b, NULL, k, strlen(k)));
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

/* k's value at vid ("" when absent), or NULL when vid is not retained. */
static char *value_at(iodb *db, const char *vid)
{
	iodb_snapshot *s;
	void *val;
	size_t vl;
	char *out;
	int rc;

	if ((rc = iodb_snapshot_open(db, vid, strlen(vid), &s)) == IODB_NOTFOUND)
		return NULL;
	ck_assert_int_eq(rc, 0);
	rc = iodb_snapshot_get(s, NULL, "k", 1, &val, &vl);
	ck_assert_msg(rc == 0 || rc == IODB_NOTFOUND, "get: %d %s", rc, iodb_errmsg());
	out = calloc(1, rc ? 1 : vl + 1);
	if (!rc) {
		memcpy(out, val, vl);
		iodb_free(val);
	}
	iodb_snapshot_close(s);
	return out;
}

/*
 * With sync off, a rollback or clean sits in the page cache until the next freeze or flush;
 * background compaction must not make durable the drops it allows (a power cut would bring
 * the discarded versions back without their entries). After the cut, every retained version
 * reads what it committed.
 */
START_TEST(test_power_cut_unsynced_graph)
{
	for (int mode = 0; mode < 2; mode++) {
		char *dir = tu_tmpdir("cmppc");
		iodb_options o;
		struct env *e;
		iodb *db;
		char *v;

		iodb_options_init(&o);
		o.sync = 0;
		o.merkle = 0;
		o.auto_compaction = 1;
		o.shard_max_bytes = 4096;
		o.shard_min_bytes = 1024;
		ck_ok(env_new(&e));
		ck_ok(db_open_env(dir, &o, e, &db));
		put1(db, "v1", "k", "a");
		ck_ok(iodb_flush(db));
		put1(db, "v2", "k", mode ? NULL : "b");
		ck_ok(iodb_flush(db));
		put1(db, "v3", "x", "x");
		ck_ok(iodb_flush(db));
		if (mode == 0)
			ck_ok(iodb_rollback(db, "v1", 2)); /* v2, v3 discarded, not durable */
		else
			ck_ok(iodb_clean(db, 1)); /* v1, v2 folded into v3, not durable */
		/* Give the background threads time to act on it (they wake every 0.5 s). */
		for (int i = 0; i < 12; i++)
			usleep(100 * 1000);
		env_crash(e, 0, 7);
		ck_ok(iodb_close(db));
		env_free(e);
		ck_ok(iodb_open(dir, &o, &db));
		if ((v = value_at(db, "v1")) != NULL)
			ck_assert_str_eq(v, "a");
		free(v);
		if ((v = value_at(db, "v2")) != NULL)
			ck_assert_str_eq(v, mode ? "" : "b");
		free(v);
		if ((v = value_at(db, "v3")) != NULL)
			ck_assert_str_eq(v, mode ? "" : "b");
		free(v);
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

/* Pieces are at least two blocks and at most 64: a shard size far below the block size
 * must not split into hundreds of pieces kept in one shard and merged forever. */
START_TEST(test_many_pieces)
{
	char *dir = tu_tmpdir("cmppcs"), k[32], val[128];
	iodb_options o;
	iodb_batch *b;
	iodb *db;

	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = 0;
	o.auto_compaction = 0;
	o.shard_max_bytes = 4096; /* 16 KiB blocks */
	ck_ok(iodb_open(dir, &o, &db));
	memset(val, 'x', sizeof(val)); /* compresses well: many entries per written byte */
	ck_ok(iodb_batch_new(&b));
	for (int i = 0; i < 20000; i++) {
		snprintf(k, sizeof(k), "key%08d", i);
		ck_ok(iodb_batch_put(b, NULL, k, strlen(k), val, sizeof(val)));
	}
	ck_ok(iodb_update(db, "v1", 2, b));
	iodb_batch_free(b);
	compact(db); /* fails if it does not settle */
	ck_assert_uint_le(stat_u64(db, "shards", "runs_per_shard_max"), 1);
	ck_assert_uint_le(stat_u64(db, "shards", "count"), 64);
	check_no_leaked_runs(db, dir);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A failed flush (journal or manifest fsync, at any point) stops compaction too: nothing it
 * does afterwards may remove a file the manifest still names. */
START_TEST(test_fault_stops_compaction)
{
	for (uint64_t n = 1; n <= 12; n++) {
		char *dir = tu_tmpdir("cmpflt");
		const char *keys[] = {"a", "b"}; /* flushed before (c: sync off, maybe lost) */
		iodb_options o;
		struct env *e;
		iodb *db;
		int rc;

		iodb_options_init(&o);
		o.sync = 0;
		o.merkle = 0;
		o.auto_compaction = 0;
		ck_ok(iodb_open(dir, &o, &db));
		put1(db, "v1", "a", "1");
		ck_ok(iodb_flush(db));
		put1(db, "v2", "b", "2");
		ck_ok(iodb_flush(db));
		ck_ok(iodb_close(db));
		ck_ok(env_new(&e));
		ck_ok(db_open_env(dir, &o, e, &db));
		env_fail_nth(e, ENV_OP_SYNC, n);
		put1(db, "v3", "c", "3");
		rc = iodb_flush(db);
		ck_assert(rc == 0 || rc == IODB_EIO);
		rc = iodb_compact(db);
		ck_assert(rc == 0 || rc == IODB_EIO);
		ck_ok(iodb_close(db));
		env_free(e);
		ck_ok(iodb_open(dir, &o, &db));
		for (int i = 0; i < 2; i++) {
			void *v;
			size_t vl;

			rc = iodb_get(db, NULL, keys[i], 1, &v, &vl);
			ck_assert_msg(rc == 0, "fsync #%llu failing: get %s: %d %s",
				      (unsigned long long)n, keys[i], rc, iodb_errmsg());
			iodb_free(v);
		}
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_compact");
	TCase *tc = tcase_create("compact");
	const char *only = getenv("IODB_COMPACT_ONLY"); /* run one test: its name */

	tcase_set_timeout(tc, 900);
#define ADD(t)                                             \
	if (!only || strcmp(only, #t) == 0)                \
		tcase_add_test(tc, t)
	ADD(test_space);
	ADD(test_snapshot_pinning);
	ADD(test_oversized_key);
	ADD(test_reopen);
	ADD(test_stress);
	ADD(test_power_cut_unsynced_graph);
	ADD(test_many_pieces);
	ADD(test_fault_stops_compaction);
#undef ADD
	suite_add_tcase(s, tc);
	return tu_run(s);
}
