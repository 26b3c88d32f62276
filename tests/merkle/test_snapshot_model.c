/*
 * test_snapshot_model.c — Merkle snapshots against the model, across reopens.
 *
 * A seeded random sequence (no crash) of updates to two stores, rollback, checkout, clean,
 * flush, compact, full and incremental snapshots (explicit ones and by interval), a snapshot
 * repeated at the same head, a checkout to an older snapshotted version followed by a
 * snapshot of it, and close + reopen. Every version's commit hash is taken when it is
 * created; before each close every retained version's hash must still be that, and after
 * the reopen it must be the same again (the roots now come from snapshots and the journal
 * behind them), the version list the model's, every retained version's key-values the
 * model's, proofs at the head must verify against its roots, and no snapshot may have been
 * skipped as unusable or failed to be written. Options vary by seed:
 * interval snapshots dense or sparse or only explicit, snapshot_keep_recent 0-2, background
 * compaction on or off; small memtables and journal segments so that distribute runs and
 * journal segments are released behind the snapshots.
 *
 * Four seeds, from IODB_TEST_SEED (default 4242) upwards; IODB_SNAP_MODEL_STEPS sets the
 * steps per seed (default 300, 150 in sanitizer builds).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define NSNAPPED 16

struct run {
	struct model m;
	uint8_t (*hash)[32]; /* by model version index, taken at creation */
	int hcap;
	int snapped[NSNAPPED], nsnapped; /* versions snapshotted explicitly (a ring) */
	iodb *db;
	iodb_options o;
	char *dir;
	int round; /* for messages */
	uint64_t rng;
	long snapshots, repeats, old_snapshots, reopens, hashes_checked;
};

static void opts(iodb_options *o, int variant)
{
	static const uint64_t full[4] = {5, 0, 40, 0}, incr[4] = {2, 3, 0, 0};

	iodb_options_init(o);
	o->sync = 0;
	o->journal_segment_bytes = 16384;
	o->memtable_bytes = 4096;
	o->block_bytes = 512;
	o->auto_compaction = variant % 2;
	o->shard_max_bytes = 4096;
	o->shard_min_bytes = 1024;
	o->snapshot_interval = full[variant];
	o->incremental_snapshot_interval = incr[variant];
	o->snapshot_keep_recent = (uint32_t)variant % 3;
}

static void take_hash(struct run *r, int i)
{
	if (i >= r->hcap) {
		r->hcap = (i + 1) * 2;
		r->hash = realloc(r->hash, (size_t)r->hcap * sizeof(*r->hash));
		ck_assert_ptr_nonnull(r->hash);
	}
	ck_ok(iodb_commit_hash(r->db, r->m.v[i].vid, r->m.v[i].vidlen, r->hash[i]));
}

/* Every retained version's commit hash is the one it had when created. */
static void check_hashes(struct run *r, const char *when)
{
	for (int k = 0, alive = model_alive_count(&r->m); k < alive; k++) {
		int i = model_alive_at(&r->m, k);
		uint8_t got[32];
		int rc = iodb_commit_hash(r->db, r->m.v[i].vid, r->m.v[i].vidlen, got);

		ck_assert_msg(rc == 0, "step %d, %s: commit hash of %.*s: %s", r->round, when,
			      r->m.v[i].vidlen, r->m.v[i].vid, iodb_errmsg());
		ck_assert_msg(memcmp(got, r->hash[i], 32) == 0,
			      "step %d, %s: the commit hash of %.*s changed", r->round, when,
			      r->m.v[i].vidlen, r->m.v[i].vid);
		r->hashes_checked++;
	}
}

/* Proofs of a few keys at the head verify against its roots. */
static void check_proofs(struct run *r)
{
	if (r->m.head < 0)
		return;
	for (int j = 0; j < 4; j++) {
		int store = (int)tu_below(&r->rng, M_STORES), key = (int)tu_below(&r->rng, M_KEYS);
		const struct m_val *x = NULL;
		uint8_t root[32];
		void *proof;
		size_t plen;

		/* Existence proofs of keys with non-empty values (ICS23 proves no empty leaf, and
		 * a non-existence proof may lean on one). */
		for (int t = 0; t < M_KEYS; t++, key = (key + 1) % M_KEYS) {
			x = &r->m.v[r->m.head].st->kv[store][key];
			if (x->present && x->len)
				break;
			x = NULL;
		}
		if (!x)
			continue;
		ck_ok(iodb_root_hash(r->db, NULL, 0, m_store_names[store], root));
		ck_ok(iodb_prove(r->db, NULL, 0, m_store_names[store], r->m.keys[key],
				 r->m.klen[key], &proof, &plen));
		ck_ok(iodb_verify_proof(root, proof, plen, r->m.keys[key], r->m.klen[key], x->v,
					x->len));
		iodb_free(proof);
	}
}

/* No snapshot was found damaged or failed to be written (there is no crash here: every
 * snapshot directory with a complete name must load). */
static void check_snapshot_stats(struct run *r, const char *when)
{
	double skipped = tu_stat(r->db, "merkle_snapshots", "skipped");
	double failed = tu_stat(r->db, "merkle_snapshots", "failed");

	ck_assert_msg(skipped == 0 && failed == 0,
		      "step %d, %s: %.0f snapshots skipped as unusable, %.0f writes failed",
		      r->round, when, skipped, failed);
}

static void reopen(struct run *r)
{
	int rc;

	check_hashes(r, "before the close");
	check_snapshot_stats(r, "before the close");
	ck_ok(iodb_close(r->db));
	r->db = NULL;
	rc = iodb_open(r->dir, &r->o, &r->db);
	ck_assert_msg(rc == 0, "step %d: reopen: %s: %s", r->round, iodb_strerror(rc),
		      iodb_errmsg());
	model_check_versions(r->db, &r->m);
	check_hashes(r, "after the reopen");
	model_check_all(r->db, &r->m, SANITIZED ? 4 : -1, &r->rng);
	check_proofs(r);
	check_snapshot_stats(r, "after the reopen");
	r->reopens++;
}

static void snapshot(struct run *r, int full)
{
	int rc = iodb_merkle_snapshot(r->db, full);

	ck_assert_msg(rc == 0, "step %d: %s snapshot: %s", r->round, full ? "full" : "incremental",
		      iodb_errmsg());
	r->snapshots++;
}

/* An alive version other than the head, preferably one snapshotted before. */
static int pick_old(struct run *r)
{
	const struct model *m = &r->m;
	int cand[NSNAPPED], n = 0, a;

	for (int i = 0; i < r->nsnapped && i < NSNAPPED; i++) {
		a = r->snapped[i];
		if (a != m->head && m->v[a].alive)
			cand[n++] = a;
	}
	if (n && tu_below(&r->rng, 4))
		return cand[tu_below(&r->rng, (uint32_t)n)];
	a = model_alive_at(m, (int)tu_below(&r->rng, (uint32_t)model_alive_count(m)));
	return a == m->head ? model_alive_at(m, 0) : a;
}

static void one_step(struct run *r, int s)
{
	struct model *m = &r->m;
	uint32_t c = tu_below(&r->rng, 100);
	int h = m->head, a;

	if (h < 0 || c < 40) {
		struct m_op ops[6];
		int n = model_random_ops(m, &r->rng, ops, 6);
		char vid[32];
		int vl = snprintf(vid, sizeof(vid), "v%d", s);

		ck_ok(model_db_update(r->db, m, vid, (size_t)vl, ops, n));
		model_update(m, vid, (size_t)vl, ops, n);
		take_hash(r, m->head);
	} else if (c < 45) {
		a = h;
		for (uint32_t up = 1 + tu_below(&r->rng, 3); up > 0 && m->v[a].parent >= 0; up--)
			a = m->v[a].parent;
		ck_ok(iodb_rollback(r->db, m->v[a].vid, m->v[a].vidlen));
		model_rollback(m, a);
	} else if (c < 50) {
		a = model_alive_at(m, (int)tu_below(&r->rng, (uint32_t)model_alive_count(m)));
		ck_ok(iodb_checkout(r->db, m->v[a].vid, m->v[a].vidlen));
		model_checkout(m, a);
	} else if (c < 56) {
		uint32_t keep = 2 + tu_below(&r->rng, 10);

		ck_ok(iodb_clean(r->db, keep));
		model_clean(m, keep);
	} else if (c < 63) {
		ck_ok(iodb_flush(r->db));
	} else if (c < 65) {
		ck_ok(iodb_compact(r->db));
	} else if (c < 75) {
		snapshot(r, (int)tu_below(&r->rng, 2));
		r->snapped[r->nsnapped++ % NSNAPPED] = h;
	} else if (c < 83) {
		/* The same head again: a no-op or a new directory, never a rewrite in place. */
		snapshot(r, (int)tu_below(&r->rng, 2));
		snapshot(r, (int)tu_below(&r->rng, 2));
		r->snapped[r->nsnapped++ % NSNAPPED] = h;
		r->repeats++;
	} else if (c < 91) {
		if (model_alive_count(m) < 2)
			return;
		a = pick_old(r);
		ck_ok(iodb_checkout(r->db, m->v[a].vid, m->v[a].vidlen));
		model_checkout(m, a);
		snapshot(r, (int)tu_below(&r->rng, 2));
		r->snapped[r->nsnapped++ % NSNAPPED] = a;
		r->old_snapshots++;
	} else {
		reopen(r);
	}
}

START_TEST(test_snapshot_model)
{
	const char *e = getenv("IODB_SNAP_MODEL_STEPS");
	int steps = e && *e ? atoi(e) : SANITIZED ? 150 : 300;
	uint64_t seed = tu_seed(4242) + (uint64_t)_i;
	struct run r;

	memset(&r, 0, sizeof(r));
	r.rng = seed;
	r.dir = tu_tmpdir("snapmodel");
	opts(&r.o, _i);
	model_init(&r.m, seed);
	ck_ok(iodb_open(r.dir, &r.o, &r.db));
	for (int s = 0; s < steps; s++) {
		r.round = s;
		one_step(&r, s);
	}
	r.round = steps;
	reopen(&r);
	printf("seed %llu (options %d): %d steps, %ld snapshots (%ld repeated at the same head, "
	       "%ld of a checked-out older version), %ld reopens, %ld commit hashes checked\n",
	       (unsigned long long)seed, _i, steps, r.snapshots, r.repeats, r.old_snapshots,
	       r.reopens, r.hashes_checked);
	fflush(stdout);
	ck_assert_int_gt(r.reopens, steps / 40);
	ck_assert_int_gt(r.repeats, 0);
	ck_assert_int_gt(r.old_snapshots, 0);
	ck_ok(iodb_close(r.db));
	model_free(&r.m);
	free(r.hash);
	tu_rmrf(r.dir);
	free(r.dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("merkle_snapshot_model");
	TCase *tc = tcase_create("snapshot_model");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_snapshot_model, 0, 4);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
