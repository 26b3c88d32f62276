/*
 * test_model.c — random operations against the in-memory reference (model.c), checked after
 * every step: updates (with repeated keys, deletes, empty values, empty versions), duplicate
 * and reused version IDs, rollback, checkout and updates on branches, clean, keep_versions,
 * reads at random retained versions, snapshots held open across everything, iterators both
 * ways, and reopen. The shard variants freeze the memtable every few commits (and flush at
 * random), so reads merge the memtable, frozen memtables and hundreds of runs, and reopen
 * starts from the manifest; with the Merkle layer off, journal segments are released too.
 * The compaction variant runs background compaction on tiny limits (4 KiB shards), calls
 * iodb_compact at random, and ends by growing history until a full compaction splits, then
 * deleting every key and cleaning so the shards merge back, snapshots held throughout; it
 * asserts merges, splits and merge-backs all happened.
 *
 * IODB_MODEL_STEPS sets the number of steps (default 3000, 600 under sanitizers);
 * IODB_TEST_SEED replays a run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

#define HELD 4

struct held {
	iodb_snapshot *s;
	struct m_state st;
	int used;
};

/* Sanitizer builds run a tenth as many steps: TSan makes each one about 10 times slower. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define DEFAULT_STEPS 600
#else
#define DEFAULT_STEPS 3000
#endif

static int steps(void)
{
	const char *e = getenv("IODB_MODEL_STEPS");

	return e && *e ? atoi(e) : DEFAULT_STEPS;
}

static void close_held(struct held *h)
{
	for (int i = 0; i < HELD; i++)
		if (h[i].used) {
			iodb_snapshot_close(h[i].s);
			h[i].used = 0;
		}
}

struct variant {
	uint32_t keep_versions;
	int merkle;
	uint64_t memtable_bytes; /* 0: the default (no distribute in this workload) */
	uint64_t shard_max_bytes; /* non-zero: busy background compaction on tiny limits */
};

/* Counters of a handle since it was opened: freezes (each one a distribute) and the
 * compaction tasks that merged a shard, split one, or merged one back. */
struct counters {
	uint64_t freezes, merges, splits, merge_backs;
};

static uint64_t json_u64(const char *json, const char *section, const char *name)
{
	double v = 0;

	ck_assert_msg(tu_json_num(json, section, name, &v) == 0, "stats have no %s.%s: %s",
		      section, name, json);
	return (uint64_t)v;
}

static void add_counters(iodb *db, struct counters *c)
{
	char *json;

	ck_ok(iodb_stats(db, &json));
	c->freezes += json_u64(json, "distribute", "freezes");
	c->merges += json_u64(json, "compaction", "merges");
	c->splits += json_u64(json, "compaction", "splits");
	c->merge_backs += json_u64(json, "compaction", "merge_backs");
	iodb_free(json);
}

static uint64_t shard_count(iodb *db)
{
	char *json;
	uint64_t n;

	ck_ok(iodb_stats(db, &json));
	n = json_u64(json, "shards", "count");
	iodb_free(json);
	return n;
}

/* Every key of every store put (full-length values: v = 0) or deleted (v < 0). */
static void update_every_key(iodb *db, struct model *m, int *vid_counter, int v)
{
	struct m_op all[M_STORES * M_KEYS];
	char vid[32];
	int n = 0, vl = snprintf(vid, sizeof(vid), "v%d", (*vid_counter)++);

	for (int st = 0; st < M_STORES; st++)
		for (int k = 0; k < M_KEYS; k++, n++) {
			all[n] = (struct m_op){.del = v < 0, .store = st, .key = k};
			all[n].len = v < 0 ? 0 : M_MAXV;
			memset(all[n].v, 'a' + *vid_counter % 26, all[n].len);
		}
	ck_ok(model_db_update(db, m, vid, (size_t)vl, all, n));
	model_update(m, vid, (size_t)vl, all, n);
}

/*
 * The compaction variant's last phase, whatever the random steps left: history grows until
 * a full compaction must split (more than shard_max_bytes retained), then every key is
 * deleted and the history cleaned away, so every shard is nearly empty and must merge back.
 * Held snapshots stay open across both.
 */
static void split_then_empty(iodb *db, struct model *m, int *vid_counter, struct held *held)
{
	uint64_t before;
	int tries = 0;

	do {
		update_every_key(db, m, vid_counter, 0);
		ck_ok(iodb_flush(db));
		ck_ok(iodb_compact(db));
	} while (shard_count(db) < 2 && ++tries < 50);
	before = shard_count(db);
	ck_assert_msg(before >= 2, "%d versions of every key compacted into one shard", tries);
	update_every_key(db, m, vid_counter, -1);
	ck_ok(iodb_clean(db, 1));
	model_clean(m, 1);
	ck_ok(iodb_flush(db));
	ck_ok(iodb_compact(db));
	ck_assert_msg(shard_count(db) < before,
		      "%llu shards, all of them empty after a clean, did not merge back",
		      (unsigned long long)before);
	model_check_versions(db, m);
	model_check_state(db, NULL, m, m->v[m->head].st, &(uint64_t){1});
	for (int i = 0; i < HELD; i++)
		if (held[i].used)
			model_check_state(db, held[i].s, m, &held[i].st, &(uint64_t){1});
}

static void run_model(const struct variant *var, uint64_t seed)
{
	struct counters cnt = {0};
	uint32_t keep_versions = var->keep_versions;
	char *dir = tu_tmpdir("model");
	uint64_t rng = seed;
	struct model m;
	struct held held[HELD] = {{0}};
	iodb_options o;
	iodb *db;
	/* Every distribute adds a run that reads merge until compaction catches up: the shard
	 * variants run half as many steps. */
	int nsteps = var->memtable_bytes ? steps() / 2 : steps(), vid_counter = 0;
	struct m_op ops[12];

	model_init(&m, seed);
	m.keep_versions = keep_versions;
	iodb_options_init(&o);
	o.sync = 0;
	o.keep_versions = keep_versions;
	o.journal_segment_bytes = 4096; /* many segments */
	o.merkle = var->merkle;
	if (var->memtable_bytes) {
		o.memtable_bytes = var->memtable_bytes;
		o.block_bytes = 512; /* many blocks per run */
		o.block_cache_bytes = 8 << 20;
	}
	if (var->shard_max_bytes) {
		o.auto_compaction = 1;
		o.compaction_threads = 2;
		o.shard_max_bytes = var->shard_max_bytes; /* shard_min_bytes: the default */
		o.compaction_task_bytes = 128 << 10;
	}
	ck_ok(iodb_open(dir, &o, &db));

	for (int step = 0; step < nsteps; step++) {
		uint32_t r = tu_below(&rng, 100);
		char vid[32];
		int vl, idx;

		if (r < 55 || m.head < 0) {
			/* Update: a fresh ID, sometimes a discarded one (legal), sometimes a
			 * retained one (IODB_EEXIST, nothing changes). */
			int nops = model_random_ops(&m, &rng, ops, 12);
			uint32_t how = tu_below(&rng, 20);

			if (how == 0 && m.n > 0) {
				idx = (int)tu_below(&rng, (uint32_t)m.n);
				vl = m.v[idx].vidlen;
				memcpy(vid, m.v[idx].vid, (size_t)vl);
			} else {
				vl = snprintf(vid, sizeof(vid), "v%d", vid_counter++);
			}
			if (model_find(&m, vid, (size_t)vl) >= 0) {
				ck_rc(model_db_update(db, &m, vid, (size_t)vl, ops, nops), IODB_EEXIST);
			} else {
				ck_ok(model_db_update(db, &m, vid, (size_t)vl, ops, nops));
				model_update(&m, vid, (size_t)vl, ops, nops);
			}
		} else if (r < 63) {
			idx = model_alive_at(&m, (int)tu_below(&rng, (uint32_t)model_alive_count(&m)));
			ck_ok(iodb_rollback(db, m.v[idx].vid, m.v[idx].vidlen));
			model_rollback(&m, idx);
		} else if (r < 73) {
			idx = model_alive_at(&m, (int)tu_below(&rng, (uint32_t)model_alive_count(&m)));
			ck_ok(iodb_checkout(db, m.v[idx].vid, m.v[idx].vidlen));
			model_checkout(&m, idx);
		} else if (r < 76) {
			uint32_t keep = 1 + tu_below(&rng, 8);

			ck_ok(iodb_clean(db, keep));
			model_clean(&m, keep);
		} else if (r < 78) {
			/* Operations on versions that are not retained change nothing. */
			for (int i = 0; i < m.n; i++)
				if (!m.v[i].alive && model_find(&m, m.v[i].vid, m.v[i].vidlen) < 0) {
					ck_rc(iodb_rollback(db, m.v[i].vid, m.v[i].vidlen), IODB_NOTFOUND);
					ck_rc(iodb_checkout(db, m.v[i].vid, m.v[i].vidlen), IODB_NOTFOUND);
					break;
				}
		} else if (r < 86) {
			/* Hold a snapshot of a random retained version (or the head). */
			struct held *h = &held[tu_below(&rng, HELD)];

			if (h->used)
				iodb_snapshot_close(h->s);
			idx = tu_below(&rng, 2)
				      ? m.head
				      : model_alive_at(&m, (int)tu_below(&rng,
							   (uint32_t)model_alive_count(&m)));
			if (idx == m.head && tu_below(&rng, 2))
				ck_ok(iodb_snapshot_open(db, NULL, 0, &h->s));
			else
				ck_ok(iodb_snapshot_open(db, m.v[idx].vid, m.v[idx].vidlen, &h->s));
			memcpy(&h->st, m.v[idx].st, sizeof(h->st));
			h->used = 1;
		} else if (r < 88) {
			close_held(held);
			add_counters(db, &cnt);
			ck_ok(iodb_close(db));
			ck_ok(iodb_open(dir, &o, &db));
			model_check_all(db, &m, -1, &rng);
		} else if (r < 90) {
			/* With compaction, half of the flushes are followed by compacting all that
			 * is due (in this thread, beside the background threads; held snapshots
			 * keep their runs). */
			ck_ok(iodb_flush(db));
			if (var->shard_max_bytes && tu_below(&rng, 2))
				ck_ok(iodb_compact(db));
		} else {
			/* Read a random retained version. */
			iodb_snapshot *s;

			idx = model_alive_at(&m, (int)tu_below(&rng, (uint32_t)model_alive_count(&m)));
			ck_ok(iodb_snapshot_open(db, m.v[idx].vid, m.v[idx].vidlen, &s));
			model_check_state(db, s, &m, m.v[idx].st, &rng);
			iodb_snapshot_close(s);
		}

		/* After every step: the head and the version list; held snapshots now and then. */
		model_check_versions(db, &m);
		if (m.head >= 0)
			model_check_state(db, NULL, &m, m.v[m.head].st, &rng);
		if (step % 16 == 0)
			for (int i = 0; i < HELD; i++)
				if (held[i].used)
					model_check_state(db, held[i].s, &m, &held[i].st, &rng);
	}
	if (var->shard_max_bytes)
		split_then_empty(db, &m, &vid_counter, held);
	close_held(held);
	add_counters(db, &cnt);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	model_check_all(db, &m, -1, &rng);
	ck_ok(iodb_close(db));
	printf("%d steps, %llu distributes, %llu merges, %llu splits, %llu merge-backs\n", nsteps,
	       (unsigned long long)cnt.freezes, (unsigned long long)cnt.merges,
	       (unsigned long long)cnt.splits, (unsigned long long)cnt.merge_backs);
	/* The shard variants must really have distributed, again and again. */
	if (var->memtable_bytes)
		ck_assert_msg(cnt.freezes >= (uint64_t)nsteps / 20,
			      "only %llu distributes in %d steps", (unsigned long long)cnt.freezes,
			      nsteps);
	/* And the compaction variant compacted in every way. */
	if (var->shard_max_bytes)
		ck_assert_msg(cnt.merges > 0 && cnt.splits > 0 && cnt.merge_backs > 0,
			      "%llu merges, %llu splits, %llu merge-backs in %d steps",
			      (unsigned long long)cnt.merges, (unsigned long long)cnt.splits,
			      (unsigned long long)cnt.merge_backs, nsteps);
	model_free(&m);
	tu_rmrf(dir);
	free(dir);
}

START_TEST(test_model_all_versions)
{
	static const struct variant v = {0, 1, 0, 0};

	run_model(&v, tu_seed(20261121));
}
END_TEST

START_TEST(test_model_keep_versions)
{
	static const struct variant v = {5, 1, 0, 0};

	run_model(&v, tu_seed(7));
}
END_TEST

START_TEST(test_model_shards)
{
	static const struct variant v = {0, 0, 4096, 0};

	run_model(&v, tu_seed(31));
}
END_TEST

START_TEST(test_model_shards_keep_versions)
{
	static const struct variant v = {6, 0, 4096, 0};

	run_model(&v, tu_seed(32));
}
END_TEST

START_TEST(test_model_shards_merkle)
{
	static const struct variant v = {0, 1, 8192, 0};

	run_model(&v, tu_seed(33));
}
END_TEST

START_TEST(test_model_compaction)
{
	static const struct variant v = {0, 0, 4096, 4 << 10};

	run_model(&v, tu_seed(34));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_model");
	TCase *tc = tcase_create("model");

	const char *only = getenv("IODB_MODEL_ONLY"); /* run one variant: its test's name */
#define ADD(t)                                             \
	if (!only || strcmp(only, #t) == 0)                \
		tcase_add_test(tc, t)
	ADD(test_model_all_versions);
	ADD(test_model_keep_versions);
	ADD(test_model_shards);
	ADD(test_model_shards_keep_versions);
	ADD(test_model_shards_merkle);
	ADD(test_model_compaction);
#undef ADD
	suite_add_tcase(s, tc);
	return tu_run(s);
}
