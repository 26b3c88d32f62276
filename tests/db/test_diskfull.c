/*
 * test_diskfull.c — the disk fills up at every write of a run with the Merkle layer on, then
 * space comes back.
 *
 * The workload: the model's steps (updates, rollback, checkout, clean) with frequent Merkle
 * snapshots (by interval, full and incremental, and by iodb_merkle_snapshot), a memtable
 * small enough to be distributed to shards often, and explicit flushes and compactions. A
 * dry run counts its writes; then, for each N (every k-th, so that CI stays short;
 * IODB_DISKFULL_ALL=1 for every one), the env's disk is full from the Nth write on: every
 * append fails with ENOSPC.
 *
 * What must hold: the call that meets the full disk fails with IODB_EIO and says "No space
 * left on device"; the handle closes; once space is freed the store reopens with every
 * acknowledged version, its key-values (the model) and the commit hash it had when it was
 * acknowledged; and writes resume: more versions and a snapshot, checked again after one
 * more reopen.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/db/db.h"
#include "model.h"
#include "testutil.h"

#define WORK_STEPS 36
#define MORE_STEPS 6
#define CI_RUNS 60 /* write points tried without IODB_DISKFULL_ALL */

struct hashes {
	uint8_t h[256][32]; /* by model version index, taken when acknowledged */
	uint8_t have[256];
};

static void opts(iodb_options *o)
{
	iodb_options_init(o);
	o->sync = 1;
	o->journal_segment_bytes = 4096;
	o->memtable_bytes = 4096;
	o->block_bytes = 512;
	o->shard_max_bytes = 4096;
	o->shard_min_bytes = 1024;
	o->auto_compaction = 0;
	o->snapshot_interval = 8;
	o->incremental_snapshot_interval = 3;
	o->merkle_threads = 1;
}

/* Record the head's commit hash if the step made a new version. */
static void note_head(iodb *db, const struct model *m, struct hashes *hs)
{
	int h = m->head;

	if (h < 0 || hs->have[h])
		return;
	ck_assert_int_lt(h, 256);
	ck_ok(iodb_commit_hash(db, m->v[h].vid, m->v[h].vidlen, hs->h[h]));
	hs->have[h] = 1;
}

/* A step of the model, then now and then a flush, a compaction or a Merkle snapshot: their
 * failure is the step's. */
static int step(struct model *m, int s, iodb *db, struct hashes *hs)
{
	int rc = model_step(m, s, db);

	if (rc == 0)
		note_head(db, m, hs);
	if (rc == 0 && s % 4 == 1)
		rc = iodb_flush(db);
	if (rc == 0 && s % 6 == 5)
		rc = iodb_compact(db);
	if (rc == 0 && s % 5 == 2)
		rc = iodb_merkle_snapshot(db, s % 10 == 7);
	return rc;
}

/* Every acknowledged version is there with its key-values and its commit hash. */
static void check_store(iodb *db, const struct model *m, const struct hashes *hs, uint64_t *rng)
{
	model_check_all(db, m, -1, rng);
	for (int i = 0; i < m->n; i++) {
		uint8_t h[32];

		if (!m->v[i].alive || !hs->have[i])
			continue;
		ck_ok(iodb_commit_hash(db, m->v[i].vid, m->v[i].vidlen, h));
		ck_assert_msg(memcmp(h, hs->h[i], 32) == 0, "version %.*s: commit hash changed",
			      (int)m->v[i].vidlen, m->v[i].vid);
	}
}

/* Space is back: reopen, check, write more (snapshot included), reopen, check. */
static void reopen_resume(const char *dir, const iodb_options *o, struct model *m,
			  struct hashes *hs, uint64_t *rng)
{
	iodb *db;

	ck_ok(iodb_open(dir, o, &db));
	check_store(db, m, hs, rng);
	for (int s = WORK_STEPS; s < WORK_STEPS + MORE_STEPS; s++)
		ck_ok(step(m, s, db, hs));
	ck_ok(iodb_merkle_snapshot(db, 0));
	check_store(db, m, hs, rng);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, o, &db));
	check_store(db, m, hs, rng);
	ck_ok(iodb_close(db));
}

START_TEST(test_disk_full_at_every_write)
{
	uint64_t writes, stride, rng = tu_seed(13);
	char *dir = tu_tmpdir("diskfull");
	int all = getenv("IODB_DISKFULL_ALL") != NULL, runs = 0, failed_runs = 0, enospc_seen = 0;
	static struct hashes hs;
	iodb_options o;
	struct env *e;
	struct model m;
	iodb *db;

	/* Dry run: how many writes the workload makes (background threads add a few, in an
	 * order that varies: a write point is a point in the run, not one exact call). */
	opts(&o);
	model_init(&m, 1);
	memset(&hs, 0, sizeof(hs));
	ck_ok(env_new(&e));
	ck_ok(db_open_env(dir, &o, e, &db));
	for (int s = 0; s < WORK_STEPS; s++)
		ck_ok(step(&m, s, db, &hs));
	ck_ok(iodb_close(db));
	writes = env_op_count(e, ENV_OP_WRITE);
	env_free(e);
	reopen_resume(dir, &o, &m, &hs, &rng);
	model_free(&m);
	tu_rmrf(dir);
	free(dir);
	ck_assert_uint_gt(writes, WORK_STEPS);
	stride = all || writes <= CI_RUNS ? 1 : (writes + CI_RUNS - 1) / CI_RUNS;

	for (uint64_t n = 1; n <= writes + 1; n += stride) {
		int rc = 0, failed_at = -1;

		dir = tu_tmpdir("diskfull");
		model_init(&m, 1);
		memset(&hs, 0, sizeof(hs));
		ck_ok(env_new(&e));
		env_full_from(e, n);
		rc = db_open_env(dir, &o, e, &db);
		if (rc != 0) {
			ck_assert_msg(rc == IODB_EIO, "open with the disk full at write %llu: %d",
				      (unsigned long long)n, rc);
		} else {
			for (int s = 0; s < WORK_STEPS; s++)
				if ((rc = step(&m, s, db, &hs)) != 0) {
					failed_at = s;
					break;
				}
			if (failed_at >= 0) {
				ck_assert_msg(rc == IODB_EIO, "disk full at write %llu: step %d: %d (%s)",
					      (unsigned long long)n, failed_at, rc, iodb_errmsg());
				/* The failure names the full disk, also when a background thread
				 * met it first (every refusal repeats the first failure's text). */
				ck_assert_msg(strstr(iodb_errmsg(), "No space left on device"),
					      "disk full at write %llu: step %d says: %s",
					      (unsigned long long)n, failed_at, iodb_errmsg());
				enospc_seen += strstr(iodb_errmsg(), "No space left") != NULL;
				/* Sticky until reopened; reads still see the acknowledged head. */
				ck_rc(iodb_update(db, "after", 5, NULL), IODB_EIO);
				if (m.head >= 0)
					model_check_state(db, NULL, &m, m.v[m.head].st, &rng);
				failed_runs++;
			}
			/* The application gives up and closes while the disk is still full. */
			rc = iodb_close(db);
			ck_assert_msg(rc == 0 || rc == IODB_EIO, "close on a full disk: %d", rc);
		}
		if (getenv("IODB_FAULT_VERBOSE"))
			fprintf(stderr, "full at write %llu: step %d: %s\n", (unsigned long long)n,
				failed_at, iodb_errmsg());
		/* Space freed. */
		env_full_from(e, 0);
		env_free(e);
		reopen_resume(dir, &o, &m, &hs, &rng);
		model_free(&m);
		tu_rmrf(dir);
		free(dir);
		runs++;
	}
	/* Most write points are met by a foreground call (the rest only by background work). */
	ck_assert_int_ge(failed_runs, runs / 2);
	ck_assert_int_ge(enospc_seen, 1);
	if (getenv("IODB_FAULT_VERBOSE"))
		fprintf(stderr, "%llu writes, %d runs, %d met the full disk, %d said ENOSPC\n",
			(unsigned long long)writes, runs, failed_runs, enospc_seen);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("diskfull");
	TCase *tc = tcase_create("diskfull");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_disk_full_at_every_write);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
