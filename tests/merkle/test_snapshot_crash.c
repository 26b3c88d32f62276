/*
 * test_snapshot_crash.c — Merkle snapshots interrupted by a crash, through the public API:
 *
 *   kill9    a child process commits a deterministic workload (version i: vid "v%06u", its
 *            batch a function of the seed and i; version 1 loads 20,000 keys into each of
 *            three stores, later ones make 200 changes) with sync and keep_versions 50, and
 *            after every 10th version writes a snapshot of the head, full when the height is
 *            a multiple of 3, else incremental; it reports each acknowledged version through
 *            a pipe. The parent SIGKILLs it 5-150 ms after the fork (even rounds) or, in odd
 *            rounds, 0.3-1.6 times the duration of a full snapshot (measured first) after it
 *            began a snapshot; then it reopens the store and checks:
 *              - no acknowledged version was lost, and the retained versions are the last
 *                50 with the commit hashes a reference store (no snapshots) computed for the
 *                same batches;
 *              - the open loaded the head's roots from one snapshot, and skipped nothing but
 *                directories without metadata (a kill while retention removed one);
 *              - a snapshot-*.tmp directory left by the kill is of the head. A snapshot of
 *                the head with the same plan resumes it (stats bytes_resumed) and completes
 *                it; after a reopen from it the hashes and a few proofs are checked again.
 *            At the end some kills must have left a tmp directory and some resumes must have
 *            kept bytes.
 *   planted  tmp directories made by hand from complete snapshots: one with the right plan
 *            but damaged files (cut short, a byte flipped, one missing, no metadata) is
 *            resumed, keeping the intact bytes, and its files come out byte-identical to
 *            the original write; one with a bogus plan is discarded and redone (nothing
 *            resumed) although its files are good prefixes; a tmp of another version is
 *            removed. Hashes are right and the new snapshot is loaded after each reopen.
 *
 * IODB_CRASH_ROUNDS sets the number of kills (default 25).
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NSTORES 3
#define NKEYS 20000 /* per store */
#define NOPS 200    /* operations of every version after the first */
#define EVERY 10    /* a snapshot after every EVERY-th version */

static const char *STORES[NSTORES] = {"bank", "acc", "staking"};

/* ---- The workload ----------------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return (x ^ (x >> 31)) | 1;
}

static int put_one(iodb_batch *b, uint64_t *rng, int store, uint32_t key)
{
	char k[16], v[48];
	int kl = snprintf(k, sizeof(k), "k%07u", key);
	int vl = snprintf(v, sizeof(v), "val-%016llx-%016llx", (unsigned long long)tu_rand(rng),
			  (unsigned long long)tu_rand(rng));

	return iodb_batch_put(b, STORES[store], k, (size_t)kl, v, (size_t)vl);
}

/* Version i's batch: the same in every process for the same seed. */
static int make_batch(uint64_t seed, uint32_t i, iodb_batch **out)
{
	uint64_t rng = mix(seed ^ mix(i));
	iodb_batch *b;
	int rc;

	if ((rc = iodb_batch_new(&b)) != 0)
		return rc;
	for (int s = 0; i == 1 && s < NSTORES && !rc; s++)
		for (uint32_t k = 0; k < NKEYS && !rc; k++)
			rc = put_one(b, &rng, s, k);
	for (int n = 0; i > 1 && n < NOPS && !rc; n++) {
		int s = (int)tu_below(&rng, NSTORES);
		uint32_t key = tu_below(&rng, NKEYS);

		if (tu_below(&rng, 8) == 0) {
			char k[16];
			int kl = snprintf(k, sizeof(k), "k%07u", key);

			rc = iodb_batch_del(b, STORES[s], k, (size_t)kl);
		} else {
			rc = put_one(b, &rng, s, key);
		}
	}
	if (rc)
		iodb_batch_free(b);
	else
		*out = b;
	return rc;
}

static void vid_of(uint32_t i, char vid[16])
{
	snprintf(vid, 16, "v%06u", i);
}

/* Commit version i (no test assertions: a child calls it too). */
static int put_version(iodb *db, uint64_t seed, uint32_t i)
{
	iodb_batch *b;
	char vid[16];
	int rc;

	if ((rc = make_batch(seed, i, &b)) != 0)
		return rc;
	vid_of(i, vid);
	rc = iodb_update(db, vid, strlen(vid), b);
	iodb_batch_free(b);
	return rc;
}

/* The head's height (its number in the vid), 0 before the first version, -1 on an error. */
static long head_height(iodb *db)
{
	void *vid;
	size_t len;
	char s[16];
	int rc = iodb_head(db, &vid, &len);

	if (rc == IODB_NOTFOUND)
		return 0;
	if (rc || len < 2 || len >= sizeof(s)) {
		if (!rc)
			iodb_free(vid);
		return -1;
	}
	memcpy(s, vid, len);
	s[len] = '\0';
	iodb_free(vid);
	return s[0] == 'v' ? strtol(s + 1, NULL, 10) : -1;
}

/* Options of the store under test: snapshots only when asked for; a memtable frozen every
 * ~5 versions (durable points: snapshot retention, the journal released behind the base's
 * snapshot); keep versions retained (0: all). */
static void opts(iodb_options *o, int sync, uint32_t keep)
{
	iodb_options_init(o);
	o->sync = sync;
	o->keep_versions = keep;
	o->snapshot_interval = 0;
	o->incremental_snapshot_interval = 1000000000;
	o->snapshot_keep_recent = 3;
	o->snapshot_writer_limit = 2;
	o->memtable_bytes = 64 << 10;
	o->journal_segment_bytes = 1 << 20;
}

/* ---- The reference: the same versions in a store without snapshots ----------------------- */

struct ref {
	char *dir;
	uint64_t seed;
	uint8_t (*hash)[32]; /* hash[i]: version i's commit hash (i >= 1) */
	uint32_t n, cap;
};

/* Extend the reference to version upto (opened and closed each time, so that no handle is
 * open while a child is forked). */
static void ref_extend(struct ref *r, uint32_t upto)
{
	iodb_options o;
	iodb *db;
	char vid[16];

	if (upto <= r->n)
		return;
	upto += 200; /* fewer reopens */
	if (upto + 1 > r->cap) {
		r->cap = upto + 1;
		r->hash = realloc(r->hash, r->cap * sizeof(*r->hash));
		ck_assert_ptr_nonnull(r->hash);
	}
	iodb_options_init(&o);
	o.sync = 0;
	o.snapshot_interval = 0;
	o.incremental_snapshot_interval = 0;
	ck_ok(iodb_open(r->dir, &o, &db));
	ck_assert_int_eq(head_height(db), (long)r->n);
	for (uint32_t i = r->n + 1; i <= upto; i++) {
		ck_ok(put_version(db, r->seed, i));
		vid_of(i, vid);
		ck_ok(iodb_commit_hash(db, vid, strlen(vid), r->hash[i]));
	}
	ck_ok(iodb_close(db));
	r->n = upto;
}

/* Version i has the reference's hash (h: the head, for messages). */
static void check_one(iodb *db, const struct ref *r, uint32_t i, uint32_t h, int round)
{
	uint8_t got[32];
	char vid[16];
	int rc;

	vid_of(i, vid);
	rc = iodb_commit_hash(db, vid, strlen(vid), got);
	ck_assert_msg(rc == 0, "round %d: commit hash of %s (head v%06u): %s", round, vid, h,
		      iodb_errmsg());
	ck_assert_msg(memcmp(got, r->hash[i], 32) == 0,
		      "round %d: hash of %s differs from the reference (head v%06u)", round, vid,
		      h);
}

/* Versions from..h have the reference's hashes (the head first, so that its roots come from
 * the nearest snapshot rather than from a predecessor already in memory); h + 1 does not
 * exist. */
static void check_hashes(iodb *db, struct ref *r, uint32_t from, uint32_t h, int round)
{
	uint8_t got[32];
	char vid[16];

	ref_extend(r, h + 1);
	check_one(db, r, h, h, round);
	for (uint32_t i = from; i < h; i++)
		check_one(db, r, i, h, round);
	vid_of(h + 1, vid);
	ck_rc(iodb_commit_hash(db, vid, strlen(vid), got), IODB_NOTFOUND);
}

/* Proofs of a few keys at the head verify against its roots (the tree's inner records as
 * loaded, not just the root hash). */
static void check_proofs(iodb *db, uint64_t *rng)
{
	for (int s = 0; s < NSTORES; s++) {
		uint8_t root[32];

		ck_ok(iodb_root_hash(db, NULL, 0, STORES[s], root));
		for (int j = 0; j < 10; j++) {
			char k[16];
			int kl = snprintf(k, sizeof(k), "k%07u", tu_below(rng, NKEYS));
			void *val = NULL, *proof;
			size_t vlen = 0, plen;
			int rc = iodb_get(db, STORES[s], k, (size_t)kl, &val, &vlen);

			ck_assert_msg(rc == 0 || rc == IODB_NOTFOUND, "get: %s", iodb_errmsg());
			ck_ok(iodb_prove(db, NULL, 0, STORES[s], k, (size_t)kl, &proof, &plen));
			ck_ok(iodb_verify_proof(root, proof, plen, k, (size_t)kl, rc ? NULL : val,
						vlen));
			iodb_free(proof);
			iodb_free(val);
		}
	}
}

/* ---- Snapshot directories --------------------------------------------------------------- */

/* Names in dir/snapshots starting with "snapshot-": tmp ones (want_tmp) or complete ones,
 * sorted; returns how many (at most cap). */
static int list_snaps(const char *dir, int want_tmp, char names[][64], int cap)
{
	char *sd = tu_path(dir, "snapshots");
	DIR *d = opendir(sd);
	struct dirent *e;
	int n = 0;

	free(sd);
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < cap) {
		size_t len = strlen(e->d_name);
		int tmp = len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0;

		/* A retention's removal cut short (renamed .del.tmp first) is not a snapshot
		 * under way: the next snapshot removes it. */
		if (len > 8 && strcmp(e->d_name + len - 8, ".del.tmp") == 0)
			continue;
		if (strncmp(e->d_name, "snapshot-", 9) == 0 && tmp == want_tmp)
			snprintf(names[n++], 64, "%.63s", e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)n, 64, (int (*)(const void *, const void *))strcmp);
	return n;
}

static unsigned long long name_height(const char *name)
{
	return strtoull(name + 9, NULL, 10);
}

static int snap_exists(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/snapshots/%s", dir, name);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Complete-named snapshot directories without a metadata file: what a kill in the removal
 * of an old snapshot leaves (the open counts them as skipped). */
static int count_orphans(const char *dir)
{
	char names[64][64], path[512];
	struct stat st;
	int n = list_snaps(dir, 0, names, 64), orphans = 0;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/snapshots/%.63s/metadata", dir, names[i]);
		orphans += stat(path, &st) != 0;
	}
	return orphans;
}

/* ---- kill9 -------------------------------------------------------------------------------- */

#define KEEP 50 /* keep_versions of the store the children write */

/* The retained versions (iodb_versions) are consecutive heights ending at the head h: KEEP of
 * them (all of them while h < KEEP) or one more (a kill that cut the journal write between a
 * commit record and the clean record that follows it); each has the reference's hash and the
 * one below them does not exist. */
static void check_retained(iodb *db, struct ref *r, uint32_t h, int round)
{
	struct tu_vlist l = {0};
	uint8_t got[32];
	char vid[16];
	uint32_t oldest;

	ck_ok(iodb_versions(db, tu_collect_version, &l));
	ck_assert_msg(l.n >= (h < KEEP ? h : KEEP) && l.n <= KEEP + 1 && l.n <= h,
		      "round %d: %zu versions retained, the head is v%06u", round, l.n, h);
	oldest = h - (uint32_t)l.n + 1;
	for (size_t j = 0; j < l.n; j++) {
		vid_of(oldest + (uint32_t)j, vid);
		ck_assert_msg(strcmp(l.v[j].vid, vid) == 0 && l.v[j].height == oldest + j,
			      "round %d: retained version %zu is %s at height %llu, want %s", round,
			      j, l.v[j].vid, (unsigned long long)l.v[j].height, vid);
	}
	free(l.v);
	check_hashes(db, r, oldest, h, round);
	if (oldest > 1) {
		vid_of(oldest - 1, vid);
		ck_rc(iodb_commit_hash(db, vid, strlen(vid), got), IODB_NOTFOUND);
	}
}

/* What the child reports through the pipe. */
enum { ACKED, SNAP_START, SNAP_DONE };
struct msg {
	int32_t kind, i; /* version i acknowledged, or its snapshot begun or durable */
};

/* A child's failure: the parent sees it exit instead of being killed. */
static void child_fail(int code, const char *what, int32_t i)
{
	fprintf(stderr, "child: %s (version %d): %s\n", what, i, iodb_errmsg());
	_exit(code);
}

static void child(const char *dir, uint64_t seed, int fd)
{
	iodb_options o;
	iodb *db;
	long h;

	opts(&o, 1, KEEP);
	if (iodb_open(dir, &o, &db) != 0)
		child_fail(3, "open", 0);
	if ((h = head_height(db)) < 0)
		child_fail(4, "head", 0);
	for (int32_t i = (int32_t)h + 1;; i++) {
		struct msg m = {ACKED, i};

		if (put_version(db, seed, (uint32_t)i) != 0)
			child_fail(5, "update", i);
		if (write(fd, &m, sizeof(m)) != sizeof(m))
			child_fail(6, "pipe", i);
		if (i % EVERY)
			continue;
		m.kind = SNAP_START;
		if (write(fd, &m, sizeof(m)) != sizeof(m))
			child_fail(6, "pipe", i);
		if (iodb_merkle_snapshot(db, i % 3 == 0) != 0)
			child_fail(7, "snapshot", i);
		m.kind = SNAP_DONE;
		if (write(fd, &m, sizeof(m)) != sizeof(m))
			child_fail(6, "pipe", i);
	}
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Right after an open: the head's roots came from one snapshot load (the newest snapshot,
 * of the head or an ancestor); nothing failed to load, the skipped directories are those
 * left by an interrupted removal. */
static void check_open(iodb *db, const char *dir, int round)
{
	double loaded = tu_stat(db, "merkle_snapshots", "loaded");
	double skipped = tu_stat(db, "merkle_snapshots", "skipped");

	ck_assert_msg(loaded == 1, "round %d: %.0f snapshots loaded by the open, want 1", round,
		      loaded);
	ck_assert_msg(skipped == count_orphans(dir),
		      "round %d: %.0f snapshots skipped by the open, %d without metadata", round,
		      skipped, count_orphans(dir));
}

START_TEST(test_kill9)
{
	const char *e = getenv("IODB_CRASH_ROUNDS");
	int rounds = e && *e ? atoi(e) : 25, tmp_rounds = 0, resumed_rounds = 0, snaps = 0;
	uint64_t rng = tu_seed(2024), seed = mix(rng);
	char *dir = tu_tmpdir("snapcrash");
	struct ref ref = {tu_tmpdir("snapref"), seed, NULL, 0, 0};
	double resumed_total = 0, snap_ms = 0;
	int32_t last = 2 * EVERY;
	char names[64][64];
	struct timespec t0, t1;
	iodb_options o;
	iodb *db;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	opts(&o, 1, KEEP);
	/* The first 2 * EVERY versions and full snapshots of the 10th and the 20th before any
	 * kill: the bulk load of version 1 would otherwise take most of a child's life, and so
	 * would its replay. The faster of the two snapshots: about what a child's takes. */
	ck_ok(iodb_open(dir, &o, &db));
	for (uint32_t i = 1; i <= 2 * EVERY; i++) {
		ck_ok(put_version(db, seed, i));
		if (i % EVERY)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ck_ok(iodb_merkle_snapshot(db, 1));
		if (i == EVERY || since(&t1) * 1000 < snap_ms)
			snap_ms = since(&t1) * 1000;
	}
	ck_ok(iodb_close(db));
	ref_extend(&ref, 400);
	for (int round = 0; round < rounds; round++) {
		/* Even rounds: a kill 5-150 ms after the fork, wherever the child is. Odd rounds:
		 * 0.3 to 1.6 times snap_ms after the child began a snapshot (its files are
		 * written store by store, two at once, so that early kills leave nothing to
		 * resume; a full snapshot takes 10-40 ms in a release build). */
		int aim = round % 2, fds[2], status, ntmp;
		struct timespec ts = {0, (5 + (long)tu_below(&rng, 146)) * 1000 * 1000};
		char tmp[4][64];
		struct msg m;
		pid_t pid;
		long h;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child(dir, seed, fds[1]);
		}
		close(fds[1]);
		while (aim && read(fds[0], &m, sizeof(m)) == sizeof(m)) {
			if (m.kind == ACKED)
				last = m.i;
			if (m.kind == SNAP_DONE)
				snaps++;
			if (m.kind == SNAP_START)
				break;
		}
		if (aim) {
			long ns = (long)(snap_ms * (0.3 + tu_below(&rng, 1301) / 1000.0) * 1e6);

			ts.tv_sec = ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
		}
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		/* Reports written before the kill were acknowledged. */
		while (read(fds[0], &m, sizeof(m)) == sizeof(m)) {
			if (m.kind == ACKED)
				last = m.i;
			if (m.kind == SNAP_DONE)
				snaps++;
		}
		close(fds[0]);
		waitpid(pid, &status, 0);
		ck_assert_msg(WIFSIGNALED(status),
			      "round %d: the child exited by itself (status %d, see its message)",
			      round, WIFEXITED(status) ? WEXITSTATUS(status) : status);

		ck_ok(iodb_open(dir, &o, &db));
		check_open(db, dir, round);
		h = head_height(db);
		/* The child may die between a commit's fsync and its report: one more. */
		ck_assert_msg(h >= last && h <= last + 1,
			      "round %d: head v%06ld after the open, v%06d was acknowledged", round,
			      h, last);
		check_retained(db, &ref, (uint32_t)h, round);
		ntmp = list_snaps(dir, 1, tmp, 4);
		ck_assert_msg(ntmp <= 1, "round %d: %d tmp snapshot directories", round, ntmp);
		if (ntmp == 1) {
			char final[64];
			double got;

			/* Only a snapshot of the head can have been under way. Written again with
			 * the same plan, it resumes the tmp directory. */
			ck_assert_msg(name_height(tmp[0]) == (unsigned long long)h,
				      "round %d: %s left, the head is v%06ld", round, tmp[0], h);
			tmp_rounds++;
			ck_ok(iodb_merkle_snapshot(db, h % 3 == 0));
			got = tu_stat(db, "merkle_snapshots", "bytes_resumed");
			resumed_total += got;
			resumed_rounds += got > 0;
			snprintf(final, sizeof(final), "%.*s", (int)strlen(tmp[0]) - 4, tmp[0]);
			ck_assert_msg(snap_exists(dir, final), "round %d: %s not completed", round,
				      final);
			ck_assert_int_eq(list_snaps(dir, 1, tmp, 4), 0);
			ck_ok(iodb_close(db));

			/* The head's roots now come from that snapshot. */
			ck_ok(iodb_open(dir, &o, &db));
			check_open(db, dir, round);
			check_retained(db, &ref, (uint32_t)h, round);
			check_proofs(db, &rng);
		}
		ck_ok(iodb_close(db));
		last = (int32_t)h;
	}
	printf("kill9: %d rounds, %d versions, %d snapshots completed by the children (a full one "
	       "takes %.1f ms); %d kills left a tmp directory, %d resumes kept bytes (%.0f in "
	       "all); %d snapshot directories left, %d of them partly removed; %.1f s\n",
	       rounds, last, snaps, snap_ms, tmp_rounds, resumed_rounds, resumed_total,
	       list_snaps(dir, 0, names, 64), count_orphans(dir), since(&t0));
	fflush(stdout);
	ck_assert_int_gt(last, rounds); /* the children did make progress */
	ck_assert_msg(tmp_rounds > 0, "no kill landed inside a snapshot");
	ck_assert_msg(resumed_total > 0, "no resume kept any bytes");

	/* Retention runs after a snapshot once a durable point has passed since the open, so
	 * short-lived children leave more behind. One more version, a flush and a full
	 * snapshot: what is left is the newest 4 snapshots and the base's anchor with the
	 * layers they build on (at most 2 each), besides partly removed directories. */
	ck_ok(iodb_open(dir, &o, &db));
	ck_ok(put_version(db, seed, (uint32_t)last + 1));
	ck_ok(iodb_flush(db));
	ck_ok(iodb_merkle_snapshot(db, 1));
	ck_assert_int_le(list_snaps(dir, 0, names, 64) - count_orphans(dir), 9);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	check_open(db, dir, rounds);
	check_retained(db, &ref, (uint32_t)last + 1, rounds);
	ck_ok(iodb_close(db));
	free(ref.hash);
	tu_rmrf(ref.dir);
	free(ref.dir);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- planted ------------------------------------------------------------------------------ */

#define NFILES (3 * NSTORES + 2)

struct saved {
	char name[NFILES][24];
	unsigned char *data[NFILES];
	size_t len[NFILES];
};

static void file_name(int f, char out[24])
{
	static const char *ext[] = {"nodes", "leaves", "keys"};

	if (f < 3 * NSTORES)
		snprintf(out, 24, "s%d.%s", f / 3, ext[f % 3]);
	else
		snprintf(out, 24, "%s", f == 3 * NSTORES ? "plan" : "metadata");
}

static void save_files(const char *dir, const char *snap, struct saved *s)
{
	char path[512];

	for (int f = 0; f < NFILES; f++) {
		file_name(f, s->name[f]);
		snprintf(path, sizeof(path), "%s/snapshots/%s/%s", dir, snap, s->name[f]);
		ck_assert_msg(tu_read_file(path, &s->data[f], &s->len[f]) == 0, "read %s", path);
	}
}

/* The snapshot's files are byte for byte those saved. */
static void same_files(const char *dir, const char *snap, struct saved *s)
{
	char path[512];

	for (int f = 0; f < NFILES; f++) {
		unsigned char *p;
		size_t len;

		snprintf(path, sizeof(path), "%s/snapshots/%s/%s", dir, snap, s->name[f]);
		ck_assert_msg(tu_read_file(path, &p, &len) == 0, "read %s", path);
		ck_assert_msg(len == s->len[f] && memcmp(p, s->data[f], len) == 0,
			      "%s: %zu bytes, not those of the first write (%zu bytes)", path, len,
			      s->len[f]);
		free(p);
	}
}

static void free_saved(struct saved *s)
{
	for (int f = 0; f < NFILES; f++)
		free(s->data[f]);
}

/* Rename snapshot `snap` to its tmp name (a crash before the rename). */
static void to_tmp(const char *dir, const char *snap)
{
	char from[512], to[520];

	snprintf(from, sizeof(from), "%s/snapshots/%s", dir, snap);
	snprintf(to, sizeof(to), "%s.tmp", from);
	ck_assert_int_eq(rename(from, to), 0);
}

/* Replace `file` in snapshot snap's tmp directory by the first len bytes of data, the byte at
 * flip changed (if flip < len); len SIZE_MAX removes it. */
static void plant(const char *dir, const char *snap, const char *file, const unsigned char *data,
		  size_t len, size_t flip)
{
	char path[512];
	unsigned char *p;

	snprintf(path, sizeof(path), "%s/snapshots/%s.tmp/%s", dir, snap, file);
	if (len == SIZE_MAX) {
		ck_assert_int_eq(unlink(path), 0);
		return;
	}
	p = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(p);
	memcpy(p, data, len);
	if (flip < len)
		p[flip] ^= 0x5a;
	ck_assert_int_eq(tu_write_file(path, p, len), 0);
	free(p);
}

static double total_len(const struct saved *s)
{
	double t = 0;

	for (int f = 0; f < 3 * NSTORES; f++)
		t += (double)s->len[f];
	return t;
}

START_TEST(test_planted)
{
	char *dir = tu_tmpdir("snapplant");
	uint64_t seed = mix(tu_seed(77));
	struct ref ref = {tu_tmpdir("snapref"), seed, NULL, 0, 0};
	char names[16][64], n60[64], n90[64], path[512];
	struct saved s60 = {0}, s90 = {0};
	iodb_options o;
	iodb *db;
	double resumed, intact;

	/* A full snapshot at 50, an incremental one on it at 60. */
	opts(&o, 0, 0);
	ck_ok(iodb_open(dir, &o, &db));
	for (uint32_t i = 1; i <= 60; i++) {
		ck_ok(put_version(db, seed, i));
		if (i == 50)
			ck_ok(iodb_merkle_snapshot(db, 1));
	}
	ck_ok(iodb_merkle_snapshot(db, 0));
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "incremental_layers"), NSTORES);
	ck_ok(iodb_close(db));
	ck_assert_int_eq(list_snaps(dir, 0, names, 16), 2);
	snprintf(n60, sizeof(n60), "%s", names[1]);
	ck_assert_uint_eq(name_height(n60), 60);
	save_files(dir, n60, &s60);

	/* 60 cut off before its metadata, its files damaged: cut short, a byte flipped, one
	 * missing. The open does not load it; a snapshot of 60 resumes it (the same plan: an
	 * incremental on 50) and keeps only the bytes that are right. */
	to_tmp(dir, n60);
	plant(dir, n60, "metadata", NULL, SIZE_MAX, 0);
	plant(dir, n60, "s0.nodes", s60.data[0], s60.len[0] / 2, SIZE_MAX);
	plant(dir, n60, "s1.leaves", s60.data[4], s60.len[4], s60.len[4] / 3);
	plant(dir, n60, "s2.keys", NULL, SIZE_MAX, 0);
	ck_ok(iodb_open(dir, &o, &db));
	check_open(db, dir, 0); /* the head's roots from 50 */
	ck_assert_int_eq(head_height(db), 60);
	check_hashes(db, &ref, 50, 60, 0);
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "count"), 1);
	ck_ok(iodb_merkle_snapshot(db, 0));
	/* Kept: the intact files and the half of s0.nodes; at most a third of s1.leaves too
	 * (what precedes the flipped byte). */
	resumed = tu_stat(db, "merkle_snapshots", "bytes_resumed");
	intact = total_len(&s60) - (double)(s60.len[0] + s60.len[4] + s60.len[8]);
	ck_assert_double_ge(resumed, intact + (double)(s60.len[0] / 2));
	ck_assert_double_le(resumed, intact + (double)(s60.len[0] / 2 + s60.len[4] / 3));
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "incremental_layers"), NSTORES);
	ck_assert_int_eq(list_snaps(dir, 1, names, 16), 0);
	same_files(dir, n60, &s60);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	check_open(db, dir, 0); /* the head's roots from 60 */
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "skipped"), 0);
	check_hashes(db, &ref, 50, 60, 0);

	/* A full snapshot at 90. */
	for (uint32_t i = 61; i <= 90; i++)
		ck_ok(put_version(db, seed, i));
	ck_ok(iodb_merkle_snapshot(db, 1));
	ck_ok(iodb_close(db));
	ck_assert_int_eq(list_snaps(dir, 0, names, 16), 3);
	snprintf(n90, sizeof(n90), "%s", names[2]);
	ck_assert_uint_eq(name_height(n90), 90);
	save_files(dir, n90, &s90);

	/* 90 as a tmp with a bogus plan, its files good but cut short (to nothing, a third,
	 * two thirds): discarded and redone, nothing resumed. Beside it a tmp of another
	 * version, with junk: removed. */
	to_tmp(dir, n90);
	plant(dir, n90, "metadata", NULL, SIZE_MAX, 0);
	plant(dir, n90, "plan", (const unsigned char *)"IODBPLAN-not-a-plan", 19, SIZE_MAX);
	for (int f = 0; f < 3 * NSTORES; f++)
		plant(dir, n90, s90.name[f], s90.data[f], s90.len[f] * (unsigned)(f % 3) / 3,
		      SIZE_MAX);
	snprintf(path, sizeof(path), "%s/snapshots/snapshot-%020d-%010d.tmp", dir, 70, 70);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/snapshots/snapshot-%020d-%010d.tmp/plan", dir, 70, 70);
	ck_assert_int_eq(tu_write_file(path, (const unsigned char *)"junk", 4), 0);
	ck_ok(iodb_open(dir, &o, &db));
	check_open(db, dir, 0); /* the head's roots from 60, the resumed snapshot */
	ck_assert_int_eq(head_height(db), 90);
	check_hashes(db, &ref, 60, 90, 0);
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "count"), 2);
	ck_ok(iodb_merkle_snapshot(db, 1));
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "bytes_resumed"), 0);
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "full_layers"), NSTORES);
	ck_assert_int_eq(list_snaps(dir, 1, names, 16), 0);
	same_files(dir, n90, &s90);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	check_open(db, dir, 0); /* the head's roots from 90 */
	ck_assert_double_eq(tu_stat(db, "merkle_snapshots", "skipped"), 0);
	check_hashes(db, &ref, 60, 90, 0);
	ck_ok(iodb_close(db));

	free_saved(&s60);
	free_saved(&s90);
	free(ref.hash);
	tu_rmrf(ref.dir);
	free(ref.dir);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot_crash");
	TCase *tc = tcase_create("snapshot_crash");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_kill9);
	tcase_add_test(tc, test_planted);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
