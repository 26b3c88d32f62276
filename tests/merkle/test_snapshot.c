/*
 * test_snapshot.c — Merkle snapshots through the public API:
 *
 *   branches     hashes of every retained version, on every branch, after reopening from
 *                snapshots (full and incremental) plus the journal, equal those before
 *   released     with versions pruned, the journal is released behind the base's snapshot
 *                and a reopen still gets every hash right
 *   corrupt      a damaged or truncated snapshot file: the open falls back to an older
 *                snapshot or the journal (right hashes), or, with nothing to fall back to,
 *                fails with IODB_ECORRUPT naming the file
 *   same_version a version that has a snapshot is not written again (twice at one head, and
 *                at a checked-out older version that later snapshots build on); pruning,
 *                flush and reopen keep every hash
 *   replay_chain without snapshots, long chains of commits replayed as one build give every
 *                version's hash (keys updated, deleted and re-added across versions)
 *   replay_bound snapshots started by work (snapshot_replay_ops) bound what a reopen
 *                replays, where the version-count intervals start none
 *   incremental  an incremental layer holds only what changed; a reopen merges the chain
 *   export       export/import round trip (same hashes, key-values, proofs, and the same
 *                hashes for the changesets that follow); a tampered, cut or unexpected
 *                stream is rejected and leaves nothing
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define NSTORES 3
static const char *STORES[NSTORES] = {"bank", "acc", "staking"};

struct rec {
	char vid[32];
	uint8_t hash[32];
};

struct hist {
	struct rec *v;
	size_t n, cap;
};

static void put_rand(iodb_batch *b, uint64_t *rng, uint32_t keys)
{
	char key[32], val[48];
	const char *store = STORES[tu_below(rng, NSTORES)];
	int kl = snprintf(key, sizeof(key), "k%07u", tu_below(rng, keys));

	if (tu_below(rng, 8) == 0) {
		ck_ok(iodb_batch_del(b, store, key, (size_t)kl));
		return;
	}
	snprintf(val, sizeof(val), "v%016llx", (unsigned long long)tu_rand(rng));
	ck_ok(iodb_batch_put(b, store, key, (size_t)kl, val, strlen(val)));
}

/* One version of nops random operations; its commit hash recorded. */
static void commit(iodb *db, struct hist *h, uint64_t *rng, const char *vid, int nops,
		   uint32_t keys)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	for (int i = 0; i < nops; i++)
		put_rand(b, rng, keys);
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = realloc(h->v, h->cap * sizeof(*h->v));
		ck_assert_ptr_nonnull(h->v);
	}
	snprintf(h->v[h->n].vid, sizeof(h->v[h->n].vid), "%s", vid);
	ck_ok(iodb_commit_hash(db, vid, strlen(vid), h->v[h->n].hash));
	h->n++;
}

/* Every version of h still retained has the hash recorded; returns how many were checked. */
static size_t check_hashes(iodb *db, const struct hist *h)
{
	size_t checked = 0;

	for (size_t i = 0; i < h->n; i++) {
		uint8_t got[32];
		int rc = iodb_commit_hash(db, h->v[i].vid, strlen(h->v[i].vid), got);

		if (rc == IODB_NOTFOUND)
			continue; /* discarded by a rollback or a clean */
		ck_assert_msg(rc == 0, "commit hash of %s: %s", h->v[i].vid, iodb_errmsg());
		ck_assert_msg(memcmp(got, h->v[i].hash, 32) == 0, "hash of %s differs after reopen",
			      h->v[i].vid);
		checked++;
	}
	return checked;
}

static void opts(iodb_options *o)
{
	iodb_options_init(o);
	o->sync = 0;
	o->snapshot_interval = 40;
	o->incremental_snapshot_interval = 10;
	o->snapshot_keep_recent = 2;
	o->memtable_bytes = 64 << 10;
	o->journal_segment_bytes = 32 << 10;
}

/* Wait until the background thread has written `want` snapshots. */
static void wait_snapshots(iodb *db, double want)
{
	for (int i = 0; i < 2000 && tu_stat(db, "merkle_snapshots", "written") < want; i++) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (tu_stat(db, "merkle_snapshots", "written") < want) {
		char *json;

		ck_ok(iodb_stats(db, &json));
		ck_assert_msg(0, "waited for %.0f snapshots written: %s", want, json);
	}
}

START_TEST(test_branches)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(11);
	struct hist h = {0};
	iodb_options o;
	iodb *db;
	char vid[32];

	opts(&o);
	ck_ok(iodb_open(dir, &o, &db));
	/* A trunk of 100 versions (snapshots at 10, 20, ...; full at 40, 80), then branches
	 * from versions with and without snapshots, and a rollback. */
	for (int i = 1; i <= 100; i++) {
		snprintf(vid, sizeof(vid), "t%d", i);
		commit(db, &h, &rng, vid, 1 + (int)tu_below(&rng, 40), 500);
	}
	wait_snapshots(db, 1);
	for (int b = 0; b < 4; b++) {
		static const char *from[] = {"t35", "t40", "t77", "t100"};

		ck_ok(iodb_checkout(db, from[b], strlen(from[b])));
		for (int i = 1; i <= 15; i++) {
			snprintf(vid, sizeof(vid), "b%d.%d", b, i);
			commit(db, &h, &rng, vid, 1 + (int)tu_below(&rng, 30), 500);
		}
	}
	ck_ok(iodb_rollback(db, "b1.7", 4));
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_close(db));

	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_double_ge(tu_stat(db, "merkle_snapshots", "loaded"), 1);
	ck_assert_uint_ge(check_hashes(db, &h), 100);
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "skipped"), 0);
	/* Writes continue on a tree read in place from the snapshot. */
	for (int i = 1; i <= 30; i++) {
		snprintf(vid, sizeof(vid), "c%d", i);
		commit(db, &h, &rng, vid, 1 + (int)tu_below(&rng, 40), 500);
	}
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_uint_ge(check_hashes(db, &h), 130);
	ck_ok(iodb_close(db));
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_released)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(12);
	struct hist h = {0};
	iodb_options o;
	iodb *db;
	char vid[32];
	double segs;

	opts(&o);
	o.keep_versions = 25;
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 300; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 20 + (int)tu_below(&rng, 40), 3000);
		/* Height i (a multiple of the interval) snapshotted: waiting for "one more than
		 * now" raced with a snapshot that finished before the count was read. */
		for (int k = 0; i % 50 == 0 && k < 6000 &&
				tu_stat(db, "merkle_snapshots", "last_height") < i; k++) {
			struct timespec ts = {0, 5 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
		if (i % 50 == 0)
			ck_assert_double_ge(tu_stat(db, "merkle_snapshots", "last_height"), i);
	}
	ck_ok(iodb_flush(db));
	ck_ok(iodb_flush(db)); /* the second sees the first's freeze distributed */
	segs = tu_stat(db, "journal", "segments");
	ck_assert_double_lt(segs, 40); /* released behind the base's snapshot */
	ck_assert_double_ge(tu_stat(db, "merkle_snapshots", "removed"), 1);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_uint_eq(check_hashes(db, &h), 25);
	for (int i = 301; i <= 340; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 20, 3000);
	}
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_uint_eq(check_hashes(db, &h), 25);
	ck_ok(iodb_close(db));
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The snapshot directories, newest last. */
static int list_snaps(const char *dir, char names[][64], int cap)
{
	char *sd = tu_path(dir, "snapshots");
	DIR *d = opendir(sd);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) && n < cap)
		if (strncmp(e->d_name, "snapshot-", 9) == 0 && !strstr(e->d_name, ".tmp"))
			snprintf(names[n++], 64, "%.63s", e->d_name);
	closedir(d);
	free(sd);
	qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void damage(const char *dir, const char *snap, const char *file, int truncate)
{
	char path[512];
	unsigned char *p;
	size_t len;

	snprintf(path, sizeof(path), "%s/snapshots/%s/%s", dir, snap, file);
	ck_assert_int_eq(tu_read_file(path, &p, &len), 0);
	ck_assert_uint_gt(len, 8);
	if (truncate)
		len /= 2;
	else
		p[len / 2] ^= 0x40;
	ck_assert_int_eq(tu_write_file(path, p, len), 0);
	free(p);
}

START_TEST(test_corrupt)
{
	static const char *files[] = {"s0.nodes", "s1.leaves", "s2.keys", "metadata"};
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(13);
	struct hist h = {0};
	char names[16][64];
	iodb_options o;
	iodb *db;
	char vid[32];
	int n;

	opts(&o);
	o.incremental_snapshot_interval = 0;
	o.snapshot_interval = 0;
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 60; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 30, 400);
		if (i % 20 == 0)
			ck_ok(iodb_merkle_snapshot(db, 1));
	}
	ck_ok(iodb_close(db));
	for (int f = 0; f < 4; f++) {
		/* The newest snapshot damaged: an older one (or the journal) serves. */
		n = list_snaps(dir, names, 16);
		ck_assert_int_ge(n, 1);
		damage(dir, names[n - 1], files[f], f == 2);
		ck_ok(iodb_open(dir, &o, &db));
		ck_assert_uint_eq(check_hashes(db, &h), 60);
		ck_assert_double_ge(tu_stat(db, "merkle_snapshots", "skipped"), 1);
		/* A fresh snapshot of the head replaces the damaged one. */
		ck_ok(iodb_merkle_snapshot(db, 1));
		ck_ok(iodb_close(db));
		ck_ok(iodb_open(dir, &o, &db));
		ck_assert_uint_eq(check_hashes(db, &h), 60);
		ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "skipped"), 0);
		ck_ok(iodb_close(db));
	}
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Pruned history, so the base's snapshot is the only way to its roots: damaging it makes
 * the open fail with IODB_ECORRUPT naming the file. */
START_TEST(test_corrupt_no_fallback)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(14);
	struct hist h = {0};
	char names[16][64], want[128];
	iodb_options o;
	iodb *db;
	char vid[32];
	int n;

	opts(&o);
	o.incremental_snapshot_interval = 0;
	o.snapshot_interval = 0;
	o.keep_versions = 5;
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 200; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 30, 3000);
		if (i == 100)
			ck_ok(iodb_merkle_snapshot(db, 1));
	}
	ck_ok(iodb_flush(db));
	ck_ok(iodb_flush(db));
	ck_ok(iodb_close(db));
	n = list_snaps(dir, names, 16);
	ck_assert_int_eq(n, 1);
	damage(dir, names[0], "s1.nodes", 0);
	ck_rc(iodb_open(dir, &o, &db), IODB_ECORRUPT);
	snprintf(want, sizeof(want), "%s/s1.nodes", names[0]);
	ck_assert_msg(strstr(iodb_errmsg(), want) != NULL, "message: %s", iodb_errmsg());
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* No file of a complete snapshot is empty (a layer always holds a record or a key). */
static void no_empty_files(const char *dir)
{
	char names[64][64];
	int n = list_snaps(dir, names, 64);

	for (int i = 0; i < n; i++) {
		char sub[1024];
		DIR *d;
		struct dirent *e;

		snprintf(sub, sizeof(sub), "%.900s/snapshots/%.63s", dir, names[i]);
		ck_assert_ptr_nonnull(d = opendir(sub));
		while ((e = readdir(d)) != NULL) {
			char path[1536];

			if (e->d_name[0] == '.' || strstr(e->d_name, ".keys"))
				continue;
			snprintf(path, sizeof(path), "%s/%.255s", sub, e->d_name);
			ck_assert_msg(tu_file_size(path) > 0, "%s is empty", path);
		}
		closedir(d);
	}
}

/* Snapshotting a version that has a snapshot leaves it as it is: twice at one head (full
 * and incremental), and at a checked-out older version that later snapshots build on. Then
 * pruning, flushing and reopening: every retained hash is right. Before the fix the second
 * snapshot rewrote its own directory with empty layers and the reopen failed. */
START_TEST(test_same_version)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(16);
	struct hist h = {0};
	iodb_options o;
	iodb *db;
	char vid[32];

	opts(&o);
	o.incremental_snapshot_interval = 1000000; /* explicit snapshots may be incremental */
	o.snapshot_interval = 0;
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 20; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 20, 300);
	}
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_merkle_snapshot(db, 1));
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "count"), 1);
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "already"), 2);
	no_empty_files(dir);
	/* X = v20 has one; Y = v30 builds on it; back to X, snapshot again both ways. */
	for (int i = 21; i <= 30; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 20, 300);
	}
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_checkout(db, "v20", 3));
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_merkle_snapshot(db, 1));
	for (int i = 1; i <= 10; i++) {
		snprintf(vid, sizeof(vid), "w%d", i);
		commit(db, &h, &rng, vid, 20, 300);
	}
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_merkle_snapshot(db, 0));
	no_empty_files(dir);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_uint_eq(check_hashes(db, &h), 40);
	/* Reopened with the head snapshotted: once more, then prune and make it durable. */
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_clean(db, 5));
	ck_ok(iodb_flush(db));
	ck_ok(iodb_flush(db));
	ck_ok(iodb_close(db));
	no_empty_files(dir);
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_uint_eq(check_hashes(db, &h), 5);
	ck_ok(iodb_close(db));
	o.merkle = 0;
	ck_ok(iodb_open(dir, &o, &db)); /* the key-values without the Merkle layer too */
	ck_ok(iodb_close(db));
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* No snapshot at all: a reopen rebuilds the head, and every older version, by replaying
 * long chains of commits as one build; keys are updated, deleted and re-added across
 * versions (nodes changed in place at a later height, rotations). Every hash must equal the
 * one taken at commit time. */
START_TEST(test_replay_chain)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(17);
	struct hist h = {0};
	iodb_options o;
	iodb *db;
	char vid[32];

	opts(&o);
	o.incremental_snapshot_interval = 0;
	o.snapshot_interval = 0;
	o.snapshot_replay_ops = 0;
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 300; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 1 + (int)tu_below(&rng, 12), 60);
	}
	ck_ok(iodb_checkout(db, "v150", 4));
	for (int i = 1; i <= 50; i++) {
		snprintf(vid, sizeof(vid), "b%d", i);
		commit(db, &h, &rng, vid, 1 + (int)tu_below(&rng, 12), 60);
	}
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "written"), 0);
	ck_assert_uint_eq(check_hashes(db, &h), 350);
	ck_ok(iodb_close(db));
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Snapshots by work: with the version-count intervals far away, 100 versions of 100
 * operations must still start snapshots every snapshot_replay_ops operations, so that a
 * reopen replays no more than about that many (the old code wrote none and replayed all
 * 10,000). With the trigger off (0), the reopen replays everything. */
START_TEST(test_replay_bound)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(18);
	struct hist h = {0};
	iodb_options o;
	iodb *db;
	char vid[32];

	for (int off = 0; off < 2; off++) {
		opts(&o);
		o.snapshot_interval = 0;
		o.incremental_snapshot_interval = 1000000;
		o.snapshot_replay_ops = off ? 0 : 1500;
		h.n = 0;
		ck_ok(iodb_open(dir, &o, &db));
		for (int i = 1; i <= 100; i++) {
			snprintf(vid, sizeof(vid), "v%d", i);
			commit(db, &h, &rng, vid, 100, 5000);
		}
		/* Let the one under way finish (close cancels a snapshot in progress): until the
		 * count stays put for a while. */
		for (int i = 0, last = -1; !off && i < 100; i++) {
			struct timespec ts = {0, 200 * 1000 * 1000};
			int now = (int)tu_stat(db, "merkle_snapshots", "written");

			if (now == last && now > 0)
				break;
			last = now;
			nanosleep(&ts, NULL);
		}
		ck_ok(iodb_close(db));
		ck_ok(iodb_open(dir, &o, &db));
		if (off) {
			ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "count"), 0);
			ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "replayed_ops"), 10000);
		} else {
			ck_assert_double_ge(tu_stat(db, "merkle_snapshots", "count"), 1);
			/* Less than the trigger's bound plus the version that crossed it. */
			ck_assert_double_lt(tu_stat(db, "merkle_snapshots", "replayed_ops"), 1500 + 100);
		}
		ck_assert_uint_eq(check_hashes(db, &h), 100);
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
	}
	free(h.v);
	free(dir);
}
END_TEST

START_TEST(test_incremental)
{
	char *dir = tu_tmpdir("snap");
	uint64_t rng = tu_seed(15);
	struct hist h = {0};
	iodb_options o;
	iodb *db;
	char vid[32];
	double full_bytes, after;

	opts(&o);
	o.snapshot_interval = 0;
	o.incremental_snapshot_interval = 1000000; /* only explicit ones */
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 50; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 200, 20000);
	}
	ck_ok(iodb_merkle_snapshot(db, 1));
	full_bytes = tu_stat(db, "merkle_snapshots", "bytes_written");
	for (int r = 0; r < 3; r++) {
		for (int i = 1; i <= 5; i++) {
			snprintf(vid, sizeof(vid), "w%d.%d", r, i);
			commit(db, &h, &rng, vid, 20, 20000);
		}
		after = tu_stat(db, "merkle_snapshots", "bytes_written");
		ck_ok(iodb_merkle_snapshot(db, 0));
		/* 100 changed leaves of ~10,000: a small fraction of the full layer. */
		ck_assert_double_lt(tu_stat(db, "merkle_snapshots", "bytes_written") - after,
				    full_bytes / 5);
	}
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "incremental_layers"), 9);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "loaded"), 1);
	ck_assert_uint_eq(check_hashes(db, &h), h.n);
	/* An incremental on the merged chain, then a reopen again. */
	for (int i = 1; i <= 5; i++) {
		snprintf(vid, sizeof(vid), "x%d", i);
		commit(db, &h, &rng, vid, 20, 20000);
	}
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	ck_assert_uint_eq(check_hashes(db, &h), h.n);
	ck_ok(iodb_close(db));
	free(h.v);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- State sync -------------------------------------------------------------------------- */

struct stream {
	unsigned char *p;
	size_t len, cap, at, chunk;
};

static int sink(void *ctx, const void *chunk, size_t len)
{
	struct stream *s = ctx;

	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->p = realloc(s->p, s->cap);
		ck_assert_ptr_nonnull(s->p);
	}
	memcpy(s->p + s->len, chunk, len);
	s->len += len;
	return 0;
}

/* Hands the stream back in chunks of s->chunk bytes (boundaries unlike the export's). */
static int source(void *ctx, const void **chunk, size_t *len)
{
	struct stream *s = ctx;
	size_t n = s->len - s->at < s->chunk ? s->len - s->at : s->chunk;

	*chunk = s->p + s->at;
	*len = n;
	s->at += n;
	return 0;
}

/* Same stores, same key-values, same hashes. */
static void same_state(iodb *a, iodb *b)
{
	uint8_t ha[32], hb[32];

	ck_ok(iodb_commit_hash(a, NULL, 0, ha));
	ck_ok(iodb_commit_hash(b, NULL, 0, hb));
	ck_assert(memcmp(ha, hb, 32) == 0);
	for (int i = 0; i < NSTORES; i++) {
		iodb_iter *x, *y;
		int rx, ry;
		size_t n = 0;

		ck_ok(iodb_root_hash(a, NULL, 0, STORES[i], ha));
		ck_ok(iodb_root_hash(b, NULL, 0, STORES[i], hb));
		ck_assert(memcmp(ha, hb, 32) == 0);
		ck_ok(iodb_iter_open(a, NULL, STORES[i], &x));
		ck_ok(iodb_iter_open(b, NULL, STORES[i], &y));
		for (rx = iodb_iter_first(x), ry = iodb_iter_first(y); rx == 0 && ry == 0;
		     rx = iodb_iter_next(x), ry = iodb_iter_next(y)) {
			const void *kx, *ky, *vx, *vy;
			size_t klx, kly, vlx, vly;

			ck_ok(iodb_iter_key(x, &kx, &klx));
			ck_ok(iodb_iter_key(y, &ky, &kly));
			ck_ok(iodb_iter_value(x, &vx, &vlx));
			ck_ok(iodb_iter_value(y, &vy, &vly));
			ck_assert(klx == kly && memcmp(kx, ky, klx) == 0);
			ck_assert(vlx == vly && memcmp(vx, vy, vlx) == 0);
			n++;
		}
		ck_assert_int_eq(rx, IODB_NOTFOUND);
		ck_assert_int_eq(ry, IODB_NOTFOUND);
		ck_assert_uint_gt(n, 0);
		iodb_iter_close(x);
		iodb_iter_close(y);
	}
}

START_TEST(test_export_import)
{
	char *dir = tu_tmpdir("snap"), *dir2 = tu_tmpdir("snap"), *bad = tu_tmpdir("snap");
	uint64_t rng = tu_seed(16), rng2;
	struct hist h = {0}, h2 = {0};
	struct stream st = {0};
	uint8_t want[32], wrong[32];
	iodb_options o;
	iodb *db, *db2;
	char vid[32], *missing;
	void *proof;
	size_t plen;

	opts(&o);
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 1; i <= 120; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 100, 5000);
	}
	ck_ok(iodb_export(db, "v120", 4, sink, &st));
	ck_ok(iodb_commit_hash(db, "v120", 4, want));

	/* Round trip, read back in odd-sized chunks. */
	st.chunk = 7777;
	tu_rmrf(dir2);
	ck_ok(iodb_import(dir2, &o, want, source, &st));
	ck_ok(iodb_open(dir2, &o, &db2));
	same_state(db, db2);
	ck_ok(iodb_prove(db2, NULL, 0, STORES[0], "k0000001", 8, &proof, &plen));
	iodb_free(proof);
	/* Both go on with the same changesets: the same hashes. */
	rng2 = rng;
	for (int i = 121; i <= 140; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, &h, &rng, vid, 50, 5000);
		commit(db2, &h2, &rng2, vid, 50, 5000);
		ck_assert(memcmp(h.v[h.n - 1].hash, h2.v[h2.n - 1].hash, 32) == 0);
	}
	ck_ok(iodb_close(db2));
	ck_ok(iodb_open(dir2, &o, &db2));
	same_state(db, db2);
	ck_ok(iodb_close(db2));

	/* A wrong expected hash, a flipped byte anywhere, a cut stream: rejected, nothing
	 * left behind. */
	memcpy(wrong, want, 32);
	wrong[5] ^= 1;
	missing = tu_path(bad, "x");
	st.at = 0;
	ck_rc(iodb_import(missing, &o, wrong, source, &st), IODB_EPROOF);
	ck_assert_int_eq(tu_file_size(missing), -1);
	for (int k = 0; k < 20; k++) {
		size_t at = 8 + tu_below(&rng, (uint32_t)(st.len - 8));

		st.p[at] ^= (unsigned char)(1 + tu_below(&rng, 255));
		st.at = 0;
		ck_assert_int_ne(iodb_import(missing, &o, want, source, &st), 0);
		ck_assert_int_eq(tu_file_size(missing), -1);
		st.p[at] = 0; /* undone below */
		st.len = 0;
		ck_ok(iodb_export(db, "v120", 4, sink, &st));
	}
	st.len -= 100;
	st.at = 0;
	ck_rc(iodb_import(missing, &o, want, source, &st), IODB_EPROOF);
	ck_assert_int_eq(tu_file_size(missing), -1);
	/* Not into a directory that holds something. */
	st.at = 0;
	ck_rc(iodb_import(dir, &o, want, source, &st), IODB_EINVAL);
	ck_ok(iodb_close(db));
	free(missing);
	free(st.p);
	free(h.v);
	free(h2.v);
	tu_rmrf(dir);
	tu_rmrf(dir2);
	tu_rmrf(bad);
	free(dir);
	free(dir2);
	free(bad);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_add_test(tc, test_branches);
	tcase_add_test(tc, test_released);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_corrupt_no_fallback);
	tcase_add_test(tc, test_same_version);
	tcase_add_test(tc, test_replay_chain);
	tcase_add_test(tc, test_replay_bound);
	tcase_add_test(tc, test_incremental);
	tcase_add_test(tc, test_export_import);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
