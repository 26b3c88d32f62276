/*
 * test_crash.c — a child process commits versions and reports each acknowledged one through
 * a pipe; the parent SIGKILLs it at a random moment, reopens the store and checks that every
 * acknowledged version is there and that reads equal the model (at the head and at every
 * retained version). At most one more step than acknowledged may be present: the child can
 * die between the fsync and its report. Then the next child carries on from there.
 *
 * The shard variants freeze the memtable every few commits, so kills land in distribute
 * (run files, manifest edits and rewrites, journal segment release) as well. The compaction
 * variant adds background compaction on tiny shards (4 KiB, merged back below 1 KiB), so
 * kills land in merges, splits and merge-backs too. With shards, the reopened store must
 * hold exactly the run files its shard map names: the open removes what a killed edit left.
 *
 * IODB_CRASH_ROUNDS sets the number of kills (default 40).
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "testutil.h"

/* loop index -> options: 0 the defaults, 1 shards with the Merkle layer off, 2 with it on,
 * 3 shards with busy compaction (the Merkle layer off) */
static void opts(int variant, iodb_options *o)
{
	iodb_options_init(o);
	o->journal_segment_bytes = 16384;
	if (variant) {
		o->merkle = variant == 2;
		o->memtable_bytes = 4096;
		o->block_bytes = 512;
		o->sync = variant == 1; /* distribute must flush the journal itself */
	}
	if (variant == 3) {
		o->auto_compaction = 1;
		o->compaction_threads = 2;
		o->shard_max_bytes = 4096;
		o->shard_min_bytes = 1024;
		o->compaction_task_bytes = 128 << 10;
	}
}

/* What a child reports after each acknowledged step: the step, and its handle's compaction
 * counters so far. */
struct ack {
	int step;
	uint32_t tasks, splits, merge_backs;
};

/* A number of the stats JSON, UINT64_MAX if absent (in a child: no test assertions). */
static uint64_t json_u64(const char *json, const char *section, const char *name)
{
	double v;

	return tu_json_num(json, section, name, &v) ? UINT64_MAX : (uint64_t)v;
}

static void child(const char *dir, struct model *m, int start, int fd, int variant)
{
	iodb_options o;
	iodb *db;

	opts(variant, &o);
	if (iodb_open(dir, &o, &db) != 0)
		_exit(3);
	for (int s = start;; s++) {
		struct ack a = {s, 0, 0, 0};
		char *json;

		if (model_step(m, s, db) != 0)
			_exit(4);
		/* Without sync an update is acknowledged by a flush. */
		if (!o.sync && iodb_flush(db) != 0)
			_exit(6);
		if (iodb_stats(db, &json) == 0) {
			a.tasks = (uint32_t)json_u64(json, "compaction", "tasks");
			a.splits = (uint32_t)json_u64(json, "compaction", "splits");
			a.merge_backs = (uint32_t)json_u64(json, "compaction", "merge_backs");
			iodb_free(json);
		}
		if (write(fd, &a, sizeof(a)) != sizeof(a))
			_exit(5);
	}
}

START_TEST(test_kill9)
{
	const char *e = getenv("IODB_CRASH_ROUNDS");
	int rounds = e && *e ? atoi(e) : 40, done = 0;
	uint64_t rng = tu_seed(99 + (uint64_t)_i), tasks = 0, splits = 0, merge_backs = 0;
	char *dir = tu_tmpdir("crash");
	struct model m;
	iodb_options o;

	opts(_i, &o);
	/* The checking opens compact nothing, so the run files stay as the open left them. */
	o.auto_compaction = 0;
	model_init(&m, 1);
	for (int round = 0; round < rounds; round++) {
		int fds[2], last = done - 1, status, match = -1;
		uint32_t acks_before_kill = tu_below(&rng, 25);
		struct model next;
		struct ack a = {0, 0, 0, 0};
		pid_t pid;
		iodb *db;
		int s;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child(dir, &m, done, fds[1], _i);
		}
		close(fds[1]);
		for (uint32_t k = 0; k < acks_before_kill && read(fds[0], &a, sizeof(a)) == sizeof(a);
		     k++)
			last = a.step;
		/* Die somewhere inside the next commit or two, or in open. */
		{
			struct timespec ts = {0, (long)tu_below(&rng, 3000) * 1000};

			nanosleep(&ts, NULL);
		}
		kill(pid, SIGKILL);
		/* Reports written before the kill were acknowledged too. */
		while (read(fds[0], &a, sizeof(a)) == sizeof(a))
			last = a.step;
		close(fds[0]);
		tasks += a.tasks;
		splits += a.splits;
		merge_backs += a.merge_backs;
		waitpid(pid, &status, 0);
		ck_assert_msg(WIFSIGNALED(status), "child exited by itself (status %d)", status);

		/* The model after every acknowledged step, and after one more. */
		for (s = done; s <= last; s++)
			model_step(&m, s, NULL);
		model_copy(&next, &m);
		model_step(&next, last + 1, NULL);

		ck_ok(iodb_open(dir, &o, &db));
		if (_i > 0) {
			char *json;
			uint64_t runs, files = tu_run_files(dir);

			ck_ok(iodb_stats(db, &json));
			runs = json_u64(json, "shards", "runs");
			iodb_free(json);
			ck_assert_msg(files == runs,
				      "round %d: %llu run files after the open, the shard map has "
				      "%llu runs",
				      round, (unsigned long long)files, (unsigned long long)runs);
		}
		if (model_versions_equal(db, &m))
			match = 0;
		else if (model_versions_equal(db, &next))
			match = 1;
		ck_assert_msg(match >= 0,
			      "round %d: after %d acknowledged steps the store matches neither "
			      "that state nor one step more",
			      round, last + 1);
		if (match) {
			model_free(&m);
			m = next;
			last++;
		} else {
			model_free(&next);
		}
		model_check_all(db, &m, 8, &rng);
		ck_ok(iodb_close(db));
		done = last + 1;
	}
	ck_assert_int_gt(done, rounds); /* the children did make progress */
	printf("variant %d: %d steps; the children ran %llu compaction tasks (%llu splits, %llu "
	       "merge-backs) before their kills\n",
	       _i, done, (unsigned long long)tasks, (unsigned long long)splits,
	       (unsigned long long)merge_backs);
	if (_i == 3)
		ck_assert_msg(tasks > 0, "the children never compacted");
	model_free(&m);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_crash");
	TCase *tc = tcase_create("crash");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, test_kill9, 0, 4);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
