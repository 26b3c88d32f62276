/*
 * test_fault.c — the env layer fails the Nth write, fsync or rename, for every N a short
 * workload makes, and plays power cuts at every step.
 *
 * What must hold: the failing call returns IODB_EIO; every later write fails too until the
 * store is reopened (a failed fsync cannot be retried safely); reads keep working; and the
 * reopened store holds exactly the acknowledged versions — whether the handle was closed
 * normally or the env then lost every unsynced byte (env_crash).
 */
#include <stdlib.h>
#include <string.h>

#include "lib/db/db.h"
#include "model.h"
#include "testutil.h"

#define WORK_STEPS 40

/* dist: the memtable is distributed after every step (iodb_flush), then compacted
 * (iodb_compact, with a tiny shard size so that merges, splits and merge-backs happen), with
 * the Merkle layer off so that journal segments are released: the failures and power cuts
 * then hit run files, manifest edits and rewrites, compaction and segment deletion too.
 * Background compaction is off in every variant: the calls must come in the same order in
 * the dry run and in the failing runs. */
static void opts(iodb_options *o, int sync, int dist)
{
	iodb_options_init(o);
	o->sync = sync;
	o->journal_segment_bytes = 4096; /* rotations inside the workload */
	o->auto_compaction = 0;
	if (dist) {
		o->shard_max_bytes = 4096;
		o->shard_min_bytes = 1024;
		o->merkle = 0;
		o->memtable_bytes = 4096;
		o->block_bytes = 512;
	}
}

/* A step, then (dist) a flush and a compaction: their failure is the step's. */
static int step(struct model *m, int s, iodb *db, int dist)
{
	int rc = model_step(m, s, db);

	if (rc == 0 && dist && db)
		rc = iodb_flush(db);
	if (rc == 0 && dist && db)
		rc = iodb_compact(db);
	return rc;
}

static void reopen_and_check(const char *dir, const iodb_options *o, const struct model *m,
			     uint64_t *rng)
{
	iodb *db;

	ck_ok(iodb_open(dir, o, &db));
	model_check_all(db, m, -1, rng);
	ck_ok(iodb_close(db));
}

START_TEST(test_fail_every_nth_call)
{
	static const char *const names[] = {"write", "fsync", "rename"};
	uint64_t counts[ENV_OP_COUNT], rng = tu_seed(3);
	char *dir = tu_tmpdir("fault");
	iodb_options o;
	struct env *e;
	struct model m;
	iodb *db;

	/* Dry run: how many calls of each kind the workload makes. */
	opts(&o, 1, _i);
	model_init(&m, 1);
	ck_ok(env_new(&e));
	ck_ok(db_open_env(dir, &o, e, &db));
	for (int s = 0; s < WORK_STEPS; s++)
		ck_ok(step(&m, s, db, _i));
	ck_ok(iodb_close(db));
	for (int op = 0; op < ENV_OP_COUNT; op++)
		counts[op] = env_op_count(e, op);
	env_free(e);
	model_free(&m);
	tu_rmrf(dir);
	ck_assert_uint_gt(counts[ENV_OP_WRITE], WORK_STEPS);
	ck_assert_uint_gt(counts[ENV_OP_SYNC], WORK_STEPS);
	ck_assert_uint_ge(counts[ENV_OP_RENAME], 1);

	for (int op = 0; op < ENV_OP_COUNT; op++) {
		for (uint64_t n = 1; n <= counts[op]; n++) {
			int rc, failed_at = -1;

			free(dir);
			dir = tu_tmpdir("fault");
			model_init(&m, 1);
			ck_ok(env_new(&e));
			env_fail_nth(e, op, n);
			rc = db_open_env(dir, &o, e, &db);
			if (rc != 0) {
				ck_assert_msg(rc == IODB_EIO, "open with %s #%llu failing: %d", names[op],
					      (unsigned long long)n, rc);
			} else {
				for (int s = 0; s < WORK_STEPS; s++)
					if ((rc = step(&m, s, db, _i)) != 0) {
						failed_at = s;
						if (getenv("IODB_FAULT_VERBOSE"))
							fprintf(stderr, "  step %d: %s\n", s,
								iodb_errmsg());
						break;
					}
				ck_assert_msg(failed_at >= 0, "%s #%llu never failed", names[op],
					      (unsigned long long)n);
				ck_assert_int_eq(rc, IODB_EIO);
				ck_assert(strlen(iodb_errmsg()) > 0);
				/* Sticky: later writes fail, even the kinds that did not fail. */
				ck_rc(iodb_update(db, "after", 5, NULL), IODB_EIO);
				if (m.head >= 0) {
					ck_rc(iodb_checkout(db, m.v[m.head].vid, m.v[m.head].vidlen),
					      IODB_EIO);
					/* Reads still work and still see the acknowledged head. */
					model_check_state(db, NULL, &m, m.v[m.head].st, &rng);
				}
				if (n % 2)
					env_crash(e, 1, n);
				ck_ok(iodb_close(db));
			}
			env_free(e);
			if (getenv("IODB_FAULT_VERBOSE"))
				fprintf(stderr, "%s #%llu failed at step %d: %s\n", names[op],
					(unsigned long long)n, failed_at, iodb_errmsg());
			reopen_and_check(dir, &o, &m, &rng);
			model_free(&m);
			tu_rmrf(dir);
		}
	}
	free(dir);
}
END_TEST

/* A power cut after each step k: with sync on, exactly the acknowledged steps survive. */
START_TEST(test_power_cut_sync)
{
	uint64_t rng = tu_seed(5);

	for (int k = 0; k <= WORK_STEPS; k++) {
		char *dir = tu_tmpdir("cut");
		iodb_options o;
		struct env *e;
		struct model m;
		iodb *db;

		opts(&o, 1, _i);
		model_init(&m, 1);
		ck_ok(env_new(&e));
		ck_ok(db_open_env(dir, &o, e, &db));
		for (int s = 0; s < k; s++)
			ck_ok(step(&m, s, db, _i));
		env_crash(e, k % 2, (uint64_t)k);
		ck_rc(iodb_update(db, "x", 1, NULL), IODB_EIO);
		ck_ok(iodb_close(db));
		env_free(e);
		reopen_and_check(dir, &o, &m, &rng);
		model_free(&m);
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

/* With sync off a power cut may lose recent versions, but the store opens (never corrupt)
 * and holds the state after some prefix of the steps. */
START_TEST(test_power_cut_nosync)
{
	uint64_t rng = tu_seed(6);

	for (int k = 0; k <= WORK_STEPS; k += 3) {
		char *dir = tu_tmpdir("cut");
		iodb_options o;
		struct env *e;
		struct model states[WORK_STEPS + 1];
		iodb *db;
		int match = -1;

		opts(&o, 0, _i);
		model_init(&states[0], 1);
		ck_ok(env_new(&e));
		ck_ok(db_open_env(dir, &o, e, &db));
		for (int s = 0; s < k; s++) {
			model_copy(&states[s + 1], &states[s]);
			ck_ok(step(&states[s + 1], s, db, _i));
		}
		env_crash(e, 1, (uint64_t)k + 100);
		ck_ok(iodb_close(db));
		env_free(e);
		ck_ok(iodb_open(dir, &o, &db));
		for (int j = k; j >= 0 && match < 0; j--)
			if (model_versions_equal(db, &states[j]))
				match = j;
		ck_assert_msg(match >= 0, "after a power cut at step %d the store matches no prefix", k);
		model_check_all(db, &states[match], -1, &rng);
		ck_ok(iodb_close(db));
		for (int s = 0; s <= k; s++)
			model_free(&states[s]);
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

/*
 * A background write fails (a run file of distribute, or of a compaction task): the call that
 * waited for it reports it, and every later write is refused repeating that first failure's
 * detail (the file), not only "an earlier write failed".
 */
START_TEST(test_first_failure_repeated)
{
	char *dir = tu_tmpdir("fault-first"), first[1024];
	iodb_options o;
	struct env *e;
	struct model m;
	iodb *db;
	int rc;

	opts(&o, 1, 1);
	/* Only iodb_flush distributes: with the tiny memtable of opts() a step could freeze it
	 * and distribute could write its runs in the background before the failure is armed,
	 * leaving the flush below nothing to write. */
	o.memtable_bytes = 64u << 20;
	model_init(&m, 1);
	ck_ok(env_new(&e));
	ck_ok(db_open_env(dir, &o, e, &db));
	for (int s = 0; s < 6; s++) { /* several runs in a shard: compaction is due */
		ck_ok(model_step(&m, s, db));
		ck_ok(iodb_flush(db));
	}
	ck_ok(model_step(&m, 6, db));
	/* Nothing else writes meanwhile (background compaction is off): the next write is
	 * distribute's first run file (iodb_flush), or with nothing left to distribute a
	 * compaction task's output (iodb_compact). */
	if (_i == 1)
		ck_ok(iodb_flush(db));
	env_fail_nth(e, ENV_OP_WRITE, 1);
	rc = _i == 0 ? iodb_flush(db) : iodb_compact(db);
	ck_assert_int_eq(rc, IODB_EIO);
	snprintf(first, sizeof(first), "%s", iodb_errmsg());
	ck_assert_msg(strstr(first, dir) != NULL, "the failing call names the file: %s", first);
	for (int k = 0; k < 2; k++) {
		ck_rc(iodb_update(db, "after", 5, NULL), IODB_EIO);
		ck_assert_msg(strstr(iodb_errmsg(), dir) != NULL &&
				      strstr(iodb_errmsg(), "reopen") != NULL,
			      "a later write does not repeat the first failure (%s): %s", first,
			      iodb_errmsg());
		ck_assert_msg(strstr(iodb_errmsg(), strstr(first, "/")) != NULL,
			      "a later write does not repeat the first failure (%s): %s", first,
			      iodb_errmsg());
	}
	ck_rc(iodb_clean(db, 1), IODB_EIO);
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), dir));
	ck_ok(iodb_close(db));
	env_free(e);
	reopen_and_check(dir, &o, &m, &(uint64_t){7});
	model_free(&m);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * iodb_sync with sync off: the versions committed before it survive a power cut; a failed
 * fdatasync in it is IODB_EIO and stops later writes, like a failed commit.
 */
START_TEST(test_sync_point)
{
	char *dir = tu_tmpdir("fault-sync");
	uint64_t rng = tu_seed(8);
	struct model m, before;
	iodb_options o;
	struct env *e;
	iodb *db;

	opts(&o, 0, 0);
	model_init(&m, 1);
	ck_ok(env_new(&e));
	ck_ok(db_open_env(dir, &o, e, &db));
	for (int s = 0; s < 5; s++)
		ck_ok(model_step(&m, s, db));
	ck_ok(iodb_sync(db));
	model_copy(&before, &m);
	ck_ok(model_step(&m, 5, db)); /* not synced: may be lost */
	env_crash(e, 1, 99);
	ck_ok(iodb_close(db));
	env_free(e);
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_msg(model_versions_equal(db, &before) || model_versions_equal(db, &m),
		      "after iodb_sync and a power cut, a synced version is missing");
	model_check_all(db, model_versions_equal(db, &m) ? &m : &before, -1, &rng);
	ck_ok(iodb_close(db));

	/* A failing fdatasync. */
	ck_ok(env_new(&e));
	ck_ok(db_open_env(dir, &o, e, &db));
	ck_ok(iodb_update(db, "s1", 2, NULL));
	env_fail_nth(e, ENV_OP_SYNC, 1);
	ck_rc(iodb_sync(db), IODB_EIO);
	ck_rc(iodb_update(db, "s2", 2, NULL), IODB_EIO);
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "reopen"));
	ck_ok(iodb_close(db));
	env_free(e);
	model_free(&m);
	model_free(&before);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * sync off: a Merkle snapshot of a version whose commit record was never synced must not
 * outlive that record. After a power cut takes the record, the next version gets the same
 * number; its roots must be its own, never the lost version's from the snapshot.
 */
static void put1(iodb *db, const char *vid, const char *val)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	ck_ok(iodb_batch_put(b, "s", "k", 1, val, strlen(val)));
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

START_TEST(test_snapshot_of_lost_version)
{
	char *dir = tu_tmpdir("fault-snaplost"), *ref = tu_tmpdir("fault-snapref");
	uint8_t want[32], got[32];
	iodb_options o;
	struct env *e;
	iodb *db;

	opts(&o, 0, 0);
	ck_ok(env_new(&e));
	ck_ok(db_open_env(dir, &o, e, &db));
	put1(db, "1", "a");
	ck_ok(iodb_sync(db));
	put1(db, "2", "lost"); /* not synced */
	ck_ok(iodb_merkle_snapshot(db, 1)); /* of version "2": durable, its record is not */
	env_crash(e, 0, 7);
	ck_ok(iodb_close(db));
	env_free(e);
	ck_ok(iodb_open(dir, &o, &db));
	{
		void *vid;
		size_t vidlen;

		ck_ok(iodb_head(db, &vid, &vidlen)); /* "2" is gone */
		ck_assert(vidlen == 1 && !memcmp(vid, "1", 1));
		iodb_free(vid);
	}
	put1(db, "2b", "kept"); /* takes the lost version's number */
	ck_ok(iodb_close(db));
	/* The same history, never crashed. */
	ck_ok(iodb_open(ref, &o, &db));
	put1(db, "1", "a");
	put1(db, "2b", "kept");
	ck_ok(iodb_commit_hash(db, NULL, 0, want));
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_ok(iodb_commit_hash(db, NULL, 0, got));
	ck_assert_msg(memcmp(got, want, 32) == 0, "after a power cut, the head's commit hash is "
		      "that of a lost version's snapshot");
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	tu_rmrf(ref);
	free(dir);
	free(ref);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_fault");
	TCase *tc = tcase_create("fault");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_fail_every_nth_call, 0, 2);
	tcase_add_loop_test(tc, test_power_cut_sync, 0, 2);
	tcase_add_loop_test(tc, test_power_cut_nosync, 0, 2);
	tcase_add_loop_test(tc, test_first_failure_repeated, 0, 2);
	tcase_add_test(tc, test_sync_point);
	tcase_add_test(tc, test_snapshot_of_lost_version);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
