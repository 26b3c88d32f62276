/*
 * test_killall.c — a kill -9 loop over every write path at once.
 *
 * A child process opens the store with everything that writes turned on: the Merkle layer,
 * shards (4 KiB memtable, 512-byte blocks, 16 KiB journal segments), background compaction
 * of tiny shards, and Merkle snapshots by interval (three settings taken in turn, see opts;
 * one of them without full snapshots, so incremental chains grow long). It then runs a deterministic random workload (step s depends only on the seed, s and
 * the model's state, so the parent can replay it): updates of two stores, rollback,
 * checkout, clean, flush, compact, explicit full and incremental snapshots, a snapshot
 * repeated at the same head, a checkout to an older snapshotted version followed by a
 * snapshot of it, and an export of a retained version imported into a second directory.
 * Before each step it sends BEGIN, after it ACK with the head's commit hash.
 *
 * The parent SIGKILLs it at a random moment (right after N acknowledgements, a random delay
 * after them, a few milliseconds into a snapshot, compaction, flush, clean or export, or
 * during the open), then reopens and checks:
 *   - the open succeeds, and the run files on disk are exactly those the shard map names;
 *   - the versions are the model's after every acknowledged step, or after one more;
 *   - every retained version's commit hash is the one acknowledged when it was created, and
 *     its key-values (every key, scans both ways, seeks) are the model's; no snapshot was
 *     skipped as unusable on the way, and none names a layer directory that is gone;
 *   - the import directory holds the last acknowledged import (opens, same version ID,
 *     commit hash and key-values); only while an import was under way may it be missing,
 *     fail to open or hold nothing.
 * Then the next child carries on from there.
 *
 * IODB_CRASH_ROUNDS sets the number of kills (default 80; 20 in sanitizer builds),
 * IODB_TEST_SEED the workload and the kill times.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

enum op {
	OP_UPDATE,
	OP_ROLLBACK,
	OP_CHECKOUT,
	OP_CLEAN,
	OP_FLUSH,
	OP_COMPACT,
	OP_SNAP,       /* a full or incremental snapshot of the head */
	OP_SNAP_AGAIN, /* two snapshots of the head in a row (full or incremental each) */
	OP_SNAP_OLD,   /* checkout to an older snapshotted version, then snapshot it */
	OP_EXPORT,     /* export a retained version, import it into DIR/imp */
	NOPS
};
static const char *const op_names[NOPS] = {"update",  "rollback", "checkout",   "clean",
					   "flush",   "compact",  "snapshot",   "snapshot-again",
					   "snapshot-old", "export-import"};

/* ---- The workload ----------------------------------------------------------------------- */

/* What the parent replays: the model, the versions the workload snapshotted (a ring), and
 * the last export. */
#define NSNAPPED 16
struct world {
	struct model m;
	int snapped[NSNAPPED], nsnapped;
	int has_exp;
	char exp_vid[32];
	uint8_t exp_vidlen;
	int exp_ver; /* model index of the exported version */
	struct m_state exp_st;
};

static void world_copy(struct world *dst, const struct world *src)
{
	*dst = *src;
	model_copy(&dst->m, &src->m);
}

struct step_info {
	int op;
	int ver; /* the version created (update) or exported, else -1 */
};

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return (x ^ (x >> 31)) | 1;
}

struct paths {
	char *db, *imp, *exp;
};

static int write_chunk(void *ctx, const void *chunk, size_t len)
{
	return fwrite(chunk, 1, len, ctx) == len ? 0 : 1;
}

struct reader {
	FILE *f;
	unsigned char buf[65536];
};

static int read_chunk(void *ctx, const void **chunk, size_t *len)
{
	struct reader *r = ctx;

	*len = fread(r->buf, 1, sizeof(r->buf), r->f);
	*chunk = r->buf;
	return ferror(r->f) ? 1 : 0;
}

/* Version a exported to p->exp and imported into p->imp (removed first). */
static int export_import(iodb *db, const struct m_ver *a, const struct paths *p)
{
	struct reader *r;
	uint8_t hash[32];
	FILE *f;
	int rc;

	tu_rmrf(p->imp);
	if ((rc = iodb_commit_hash(db, a->vid, a->vidlen, hash)) != 0)
		return rc;
	if (!(f = fopen(p->exp, "wb")))
		return IODB_EIO;
	rc = iodb_export(db, a->vid, a->vidlen, write_chunk, f);
	if (fclose(f) != 0 && rc == 0)
		rc = IODB_EIO;
	if (rc)
		return rc;
	if (!(r = malloc(sizeof(*r))) || !(r->f = fopen(p->exp, "rb"))) {
		free(r);
		return IODB_EIO;
	}
	rc = iodb_import(p->imp, NULL, hash, read_chunk, r);
	fclose(r->f);
	free(r);
	return rc;
}

/* An alive version other than the head, preferably one the workload snapshotted. */
static int pick_old(const struct world *w, uint64_t *rng)
{
	const struct model *m = &w->m;
	int cand[NSNAPPED], n = 0, alive = model_alive_count(m), a;

	for (int i = 0; i < w->nsnapped && i < NSNAPPED; i++) {
		a = w->snapped[i];
		if (a != m->head && m->v[a].alive)
			cand[n++] = a;
	}
	if (n && tu_below(rng, 4))
		return cand[tu_below(rng, (uint32_t)n)];
	a = model_alive_at(m, (int)tu_below(rng, (uint32_t)alive));
	return a == m->head ? model_alive_at(m, 0) : a;
}

static void snapped_add(struct world *w, int v)
{
	w->snapped[w->nsnapped++ % NSNAPPED] = v;
}

/* Step s's operation, and the generator the rest of the step draws from. */
static int choose_op(const struct model *m, uint64_t seed, int s, uint64_t *rng)
{
	uint32_t r;
	int op;

	*rng = mix(seed ^ mix((uint64_t)s));
	r = tu_below(rng, 100);
	op = r < 38   ? OP_UPDATE
	     : r < 43 ? OP_ROLLBACK
	     : r < 48 ? OP_CHECKOUT
	     : r < 52 ? OP_CLEAN
	     : r < 58 ? OP_FLUSH
	     : r < 62 ? OP_COMPACT
	     : r < 73 ? OP_SNAP
	     : r < 81 ? OP_SNAP_AGAIN
	     : r < 90 ? OP_SNAP_OLD
		      : OP_EXPORT;
	if (m->head < 0 || (op == OP_SNAP_OLD && model_alive_count(m) < 2))
		op = OP_UPDATE;
	return op;
}

/*
 * Step s of the workload. With db the step is applied to the store (a child), and to the
 * world only if the store accepted it; returns the store's code. Without db only the world
 * moves (the parent's replay).
 */
static int step(struct world *w, uint64_t seed, int s, iodb *db, const struct paths *p,
		struct step_info *si)
{
	struct model *m = &w->m;
	uint64_t rng;
	int h = m->head, alive = model_alive_count(m), rc = 0, a, full;
	int op = choose_op(m, seed, s, &rng);

	si->op = op;
	si->ver = -1;
	switch (op) {
	case OP_UPDATE: {
		struct m_op ops[6];
		int n = model_random_ops(m, &rng, ops, 6);
		char vid[32];
		int vl = snprintf(vid, sizeof(vid), "c%d", s);

		if (db && (rc = model_db_update(db, m, vid, (size_t)vl, ops, n)) != 0)
			return rc;
		model_update(m, vid, (size_t)vl, ops, n);
		si->ver = m->head;
		break;
	}
	case OP_ROLLBACK:
		a = h;
		for (uint32_t up = 1 + tu_below(&rng, 3); up > 0 && m->v[a].parent >= 0; up--)
			a = m->v[a].parent;
		if (db && (rc = iodb_rollback(db, m->v[a].vid, m->v[a].vidlen)) != 0)
			return rc;
		model_rollback(m, a);
		break;
	case OP_CHECKOUT:
		a = model_alive_at(m, (int)tu_below(&rng, (uint32_t)alive));
		if (db && (rc = iodb_checkout(db, m->v[a].vid, m->v[a].vidlen)) != 0)
			return rc;
		model_checkout(m, a);
		break;
	case OP_CLEAN: {
		uint32_t keep = 2 + tu_below(&rng, 12);

		if (db && (rc = iodb_clean(db, keep)) != 0)
			return rc;
		model_clean(m, keep);
		break;
	}
	case OP_FLUSH:
		if (db)
			rc = iodb_flush(db);
		break;
	case OP_COMPACT:
		if (db)
			rc = iodb_compact(db);
		break;
	case OP_SNAP:
		full = (int)tu_below(&rng, 2);
		if (db)
			rc = iodb_merkle_snapshot(db, full);
		snapped_add(w, h);
		break;
	case OP_SNAP_AGAIN:
		full = (int)tu_below(&rng, 4);
		if (db && (rc = iodb_merkle_snapshot(db, full & 1)) == 0)
			rc = iodb_merkle_snapshot(db, full >> 1);
		snapped_add(w, h);
		break;
	case OP_SNAP_OLD:
		a = pick_old(w, &rng);
		full = (int)tu_below(&rng, 2);
		if (db && (rc = iodb_checkout(db, m->v[a].vid, m->v[a].vidlen)) != 0)
			return rc;
		model_checkout(m, a);
		if (db)
			rc = iodb_merkle_snapshot(db, full);
		snapped_add(w, a);
		break;
	case OP_EXPORT:
		a = tu_below(&rng, 2) ? h : model_alive_at(m, (int)tu_below(&rng, (uint32_t)alive));
		if (db && (rc = export_import(db, &m->v[a], p)) != 0)
			return rc;
		w->has_exp = 1;
		memcpy(w->exp_vid, m->v[a].vid, m->v[a].vidlen);
		w->exp_vidlen = m->v[a].vidlen;
		w->exp_ver = a;
		w->exp_st = *m->v[a].st;
		si->ver = a;
		break;
	}
	return rc;
}

/* ---- Child -------------------------------------------------------------------------------- */

/* The store's options; the snapshot intervals vary by round (variant 0-2): full every 7
 * heights with incrementals every 3; no full ones by interval (long incremental chains);
 * full every 20, incrementals every 2 and one more recent snapshot kept. */
static void opts(iodb_options *o, int variant)
{
	static const uint64_t full[3] = {7, 0, 20}, incr[3] = {3, 3, 2};

	iodb_options_init(o);
	o->sync = 1;
	o->journal_segment_bytes = 16384;
	o->memtable_bytes = 4096;
	o->block_bytes = 512;
	o->auto_compaction = 1;
	o->compaction_threads = 2;
	o->shard_max_bytes = 4096;
	o->shard_min_bytes = 1024;
	o->compaction_task_bytes = 128 << 10;
	o->snapshot_interval = full[variant];
	o->incremental_snapshot_interval = incr[variant];
	o->snapshot_keep_recent = variant == 2 ? 2 : 1;
}

enum { MSG_BEGIN, MSG_ACK };
struct msg {
	int32_t kind, step, op;
	uint8_t hash[32]; /* ACK: the head's commit hash after the step (zeros: no head) */
};

static void child_fail(int code, const char *what, int s)
{
	fprintf(stderr, "child: %s (step %d): %s: %s\n", what, s, iodb_strerror(code),
		iodb_errmsg());
	_exit(10 + (code < 0 ? -code : code));
}

static void child(struct world *w, uint64_t seed, int start, const struct paths *p, int fd,
		  int variant)
{
	iodb_options o;
	iodb *db;
	int rc;

	opts(&o, variant);
	if ((rc = iodb_open(p->db, &o, &db)) != 0)
		child_fail(rc, "open", start);
	for (int s = start;; s++) {
		struct msg msg = {MSG_BEGIN, s, 0, {0}};
		struct step_info si;
		uint64_t unused;

		/* The op of step s, for the parent's count of where kills land. */
		msg.op = choose_op(&w->m, seed, s, &unused);
		if (write(fd, &msg, sizeof(msg)) != sizeof(msg))
			_exit(5);
		if ((rc = step(w, seed, s, db, p, &si)) != 0)
			child_fail(rc, op_names[si.op], s);
		if (w->m.head >= 0 &&
		    (rc = iodb_commit_hash(db, NULL, 0, msg.hash)) != 0)
			child_fail(rc, "commit hash", s);
		msg.kind = MSG_ACK;
		if (write(fd, &msg, sizeof(msg)) != sizeof(msg))
			_exit(5);
	}
}

/* ---- Parent ------------------------------------------------------------------------------- */

/* Commit hashes by model version index, as acknowledged (or as first seen after a kill, for
 * a version its child did not live to acknowledge). */
struct hashes {
	uint8_t (*h)[32];
	char *known;
	int cap;
};

static void hashes_grow(struct hashes *hs, int n)
{
	if (n <= hs->cap)
		return;
	hs->h = realloc(hs->h, (size_t)n * 2 * sizeof(*hs->h));
	hs->known = realloc(hs->known, (size_t)n * 2);
	ck_assert(hs->h && hs->known);
	memset(hs->known + hs->cap, 0, (size_t)(n * 2 - hs->cap));
	hs->cap = n * 2;
}

/* Snapshot directories a snapshot write left unfinished (not a removal cut short). */
static int count_tmp_snapshots(const char *db)
{
	char *sd = tu_path(db, "snapshots");
	DIR *d = opendir(sd);
	struct dirent *e;
	int n = 0;

	free(sd);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0 &&
		    !(len > 8 && strcmp(e->d_name + len - 8, ".del.tmp") == 0))
			n++;
	}
	closedir(d);
	return n;
}

/* Complete snapshots whose metadata names a layer directory that is gone (such a snapshot
 * fails to load; a kill between two removals of retention could leave one when it removed
 * a layer before the snapshot built on it). The names are found in the metadata as a
 * length byte and "snapshot-..." (docs/format.md § Merkle snapshots). */
static int count_broken_snapshots(const char *db)
{
	char *sd = tu_path(db, "snapshots");
	DIR *d = opendir(sd);
	struct dirent *e;
	int n = 0;

	if (!d) {
		free(sd);
		return 0;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), ml;
		unsigned char *meta;
		char path[1024];
		int broken = 0;

		if (strncmp(e->d_name, "snapshot-", 9) != 0 ||
		    (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s/metadata", sd, e->d_name);
		if (tu_read_file(path, &meta, &ml) != 0)
			continue;
		for (size_t i = 1; i + 9 <= ml && !broken; i++) {
			struct stat st;
			size_t nl = meta[i - 1];

			if (memcmp(meta + i, "snapshot-", 9) != 0 || nl < 9 || i + nl > ml ||
			    nl >= 256)
				continue;
			snprintf(path, sizeof(path), "%s/%.*s", sd, (int)nl, (const char *)meta + i);
			broken = stat(path, &st) != 0;
		}
		free(meta);
		n += broken;
	}
	closedir(d);
	free(sd);
	return n;
}

static uint64_t stat_u64(iodb *db, const char *section, const char *name)
{
	return (uint64_t)tu_stat(db, section, name);
}

/* The import directory: the last acknowledged import (w), or while one was under way
 * (inflight: the world after it) that one, missing, unopenable or empty. Returns 1 if it
 * held a partial import. */
static int check_import(const struct paths *p, const struct world *w, const struct world *inflight,
			const struct hashes *hs, int round, uint64_t *rng)
{
	struct stat st;
	iodb_options o;
	iodb *db;
	void *vid;
	size_t vlen;
	uint8_t got[32];
	const struct world *which = NULL;
	int rc;

	if (stat(p->imp, &st) != 0) {
		ck_assert_msg(!w->has_exp || inflight,
			      "round %d: the import of %.*s was acknowledged, its directory is gone",
			      round, w->exp_vidlen, w->exp_vid);
		return inflight != NULL;
	}
	iodb_options_init(&o);
	o.create_if_missing = 0;
	rc = iodb_open(p->imp, &o, &db);
	if (rc != 0) {
		ck_assert_msg(inflight, "round %d: the import of %.*s was acknowledged; open: %s",
			      round, w->exp_vidlen, w->exp_vid, iodb_errmsg());
		return 1;
	}
	rc = iodb_head(db, &vid, &vlen);
	if (rc == IODB_NOTFOUND && inflight) {
		ck_ok(iodb_close(db));
		return 1;
	}
	ck_assert_msg(rc == 0, "round %d: imported store: head: %s", round, iodb_errmsg());
	if (w->has_exp && vlen == w->exp_vidlen && memcmp(vid, w->exp_vid, vlen) == 0)
		which = w;
	if (inflight && vlen == inflight->exp_vidlen && memcmp(vid, inflight->exp_vid, vlen) == 0)
		which = inflight;
	ck_assert_msg(which, "round %d: the imported store's head is %.*s, exported was %.*s",
		      round, (int)vlen, (const char *)vid, w->exp_vidlen, w->exp_vid);
	iodb_free(vid);
	rc = iodb_commit_hash(db, NULL, 0, got);
	if (rc != 0 && inflight) {
		ck_ok(iodb_close(db));
		return 1;
	}
	ck_assert_msg(rc == 0, "round %d: imported store: commit hash: %s", round, iodb_errmsg());
	ck_assert(hs->known[which->exp_ver]);
	ck_assert_msg(memcmp(got, hs->h[which->exp_ver], 32) == 0,
		      "round %d: the imported %.*s has another commit hash than the source's",
		      round, which->exp_vidlen, which->exp_vid);
	model_check_state(db, NULL, &w->m, &which->exp_st, rng); /* the same keys */
	ck_ok(iodb_close(db));
	return 0;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A child's message: a BEGIN marks the step under way, an ACK is kept (acks[step - done]). */
static void take(const struct msg *msg, int done, int *last, int *inflight, struct msg **acks,
		 size_t *cap)
{
	if (msg->kind == MSG_BEGIN) {
		*inflight = msg->step;
		return;
	}
	*last = msg->step;
	if ((size_t)(*last - done) >= *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*acks = realloc(*acks, *cap * sizeof(**acks));
		ck_assert_ptr_nonnull(*acks);
	}
	(*acks)[*last - done] = *msg;
}

static int heavy(int op)
{
	return op != OP_UPDATE && op != OP_ROLLBACK && op != OP_CHECKOUT;
}

START_TEST(test_killall)
{
	const char *e = getenv("IODB_CRASH_ROUNDS");
	int rounds = e && *e ? atoi(e) : SANITIZED ? 20 : 80, done = 0;
	uint64_t rng = tu_seed(1313), seed = mix(rng);
	char *top = tu_tmpdir("killall");
	struct paths p = {tu_path(top, "db"), tu_path(top, "imp"), tu_path(top, "exp")};
	struct hashes hs = {NULL, NULL, 0};
	long kills_in[NOPS] = {0}, acked_ops[NOPS] = {0};
	long kills_open = 0, kills_between = 0, kills_tmp = 0, kills_orphans = 0, partial_imports = 0;
	int exp_begun = -1; /* an export step begun and not yet acknowledged */
	long acked = 0, unacked_present = 0, hashes_checked = 0, versions_checked = 0;
	struct timespec t0;
	struct world w;
	struct msg *acks = NULL;
	size_t acks_cap = 0;
	iodb_options o;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&w, 0, sizeof(w));
	model_init(&w.m, seed);
	opts(&o, 0);
	o.auto_compaction = 0; /* the checking opens leave the run files as the open did */
	for (int round = 0; round < rounds; round++) {
		int fds[2], status, mode = (int)tu_below(&rng, 4), last = done - 1, inflight = -1;
		int match = -1, nmsgs = 0, next_op, broken;
		uint32_t want_acks = tu_below(&rng, 40);
		uint64_t files, runs;
		struct world next;
		struct step_info si;
		struct msg msg;
		iodb *db;
		pid_t pid;

		ck_assert_int_eq(pipe(fds), 0);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(fds[0]);
			child(&w, seed, done, &p, fds[1], round % 3);
		}
		close(fds[1]);
		/* 0: kill right after want_acks acknowledgements; 1: a random delay after them;
		 * 2: a few ms into a snapshot, compaction, flush, clean or export; 3: up to 40 ms
		 * after the fork (often in the open's recovery). */
		if (mode == 3) {
			sleep_us((long)tu_below(&rng, 40000));
		} else {
			uint32_t got = 0;

			while (read(fds[0], &msg, sizeof(msg)) == sizeof(msg)) {
				nmsgs++;
				take(&msg, done, &last, &inflight, &acks, &acks_cap);
				got += msg.kind == MSG_ACK;
				if (mode < 2 && got >= want_acks)
					break;
				if (mode == 2 && msg.kind == MSG_BEGIN && heavy(msg.op) &&
				    got >= want_acks / 4)
					break;
			}
			if (mode == 1)
				sleep_us((long)tu_below(&rng, 5000));
			if (mode == 2)
				sleep_us((long)tu_below(&rng, 3000));
		}
		kill(pid, SIGKILL);
		/* Reports written before the kill were acknowledged too. */
		while (read(fds[0], &msg, sizeof(msg)) == sizeof(msg)) {
			nmsgs++;
			take(&msg, done, &last, &inflight, &acks, &acks_cap);
		}
		close(fds[0]);
		waitpid(pid, &status, 0);
		ck_assert_msg(WIFSIGNALED(status),
			      "round %d: the child exited by itself (status %d, see its message)",
			      round, WIFEXITED(status) ? WEXITSTATUS(status) : status);

		/* The world after every acknowledged step (with its hashes), and after one more. */
		for (int s = done; s <= last; s++) {
			step(&w, seed, s, NULL, &p, &si);
			acked_ops[si.op]++;
			if (si.op == OP_UPDATE) {
				hashes_grow(&hs, w.m.n);
				memcpy(hs.h[si.ver], acks[s - done].hash, 32);
				hs.known[si.ver] = 1;
			}
		}
		acked += last + 1 - done;
		world_copy(&next, &w);
		step(&next, seed, last + 1, NULL, &p, &si);
		next_op = si.op;
		if (exp_begun <= last)
			exp_begun = -1;
		if (inflight == last + 1 && next_op == OP_EXPORT)
			exp_begun = last + 1;
		if (!nmsgs)
			kills_open++;
		else if (inflight == last + 1)
			kills_in[next_op]++;
		else
			kills_between++;
		kills_tmp += count_tmp_snapshots(p.db) > 0;
		broken = count_broken_snapshots(p.db);
		{
			char *sd = tu_path(p.db, "shards");
			struct stat st;

			/* A kill in the very first open may come before the shards directory. */
			files = stat(sd, &st) == 0 ? tu_run_files(p.db) : 0;
			free(sd);
		}

		{
			int rc = iodb_open(p.db, &o, &db);

			ck_assert_msg(rc == 0, "round %d (kill after step %d, in %s): open: %s: %s",
				      round, last, inflight == last + 1 ? op_names[next_op] : "-",
				      iodb_strerror(rc), iodb_errmsg());
		}
		runs = stat_u64(db, "shards", "runs");
		ck_assert_msg(tu_run_files(p.db) == runs,
			      "round %d: %llu run files after the open, the shard map has %llu runs",
			      round, (unsigned long long)tu_run_files(p.db), (unsigned long long)runs);
		kills_orphans += files > runs;
		if (model_versions_equal(db, &w.m))
			match = 0;
		else if (model_versions_equal(db, &next.m))
			match = 1;
		ck_assert_msg(match >= 0,
			      "round %d: after %d acknowledged steps the store matches neither that "
			      "state nor one step more (%s)",
			      round, last + 1, op_names[next_op]);
		if (match) {
			model_free(&w.m);
			w = next;
			last++;
			unacked_present++;
		} else {
			model_free(&next.m);
		}
		/* Every retained version: its acknowledged commit hash and the model's key-values. */
		hashes_grow(&hs, w.m.n);
		for (int k = 0, alive = model_alive_count(&w.m); k < alive; k++) {
			int i = model_alive_at(&w.m, k);
			uint8_t got[32];
			int rc = iodb_commit_hash(db, w.m.v[i].vid, w.m.v[i].vidlen, got);

			ck_assert_msg(rc == 0, "round %d: commit hash of %.*s: %s", round,
				      w.m.v[i].vidlen, w.m.v[i].vid, iodb_errmsg());
			if (!hs.known[i]) {
				memcpy(hs.h[i], got, 32);
				hs.known[i] = 1;
				continue;
			}
			ck_assert_msg(memcmp(got, hs.h[i], 32) == 0,
				      "round %d: the commit hash of %.*s differs from the one "
				      "acknowledged",
				      round, w.m.v[i].vidlen, w.m.v[i].vid);
			hashes_checked++;
		}
		/* Every snapshot directory with a complete name loaded: a kill leaves a write's
		 * .tmp directory or a removal's .del.tmp (retention removes a snapshot before
		 * the layers it builds on), never a snapshot whose layers are gone. */
		{
			double skipped = tu_stat(db, "merkle_snapshots", "skipped");

			ck_assert_msg(skipped == 0 && broken == 0,
				      "round %d: %.0f snapshots skipped as unusable after the reopen, "
				      "%d name a layer directory that is gone",
				      round, skipped, broken);
		}
		model_check_all(db, &w.m, SANITIZED ? 6 : -1, &rng);
		versions_checked += model_alive_count(&w.m);
		ck_ok(iodb_close(db));
		/* A killed import leaves its directory as it was until the step is done again. */
		partial_imports += check_import(&p, &w, exp_begun == last + 1 ? &next : NULL, &hs,
						round, &rng);
		done = last + 1;
	}
	printf("killall: %d kills, %ld steps acknowledged (%ld more found done unacknowledged), "
	       "%ld commit hashes and %ld versions' key-values checked; kills in open %ld, between "
	       "steps %ld, inside:",
	       rounds, acked, unacked_present, hashes_checked, versions_checked, kills_open,
	       kills_between);
	for (int i = 0; i < NOPS; i++)
		printf(" %s %ld", op_names[i], kills_in[i]);
	printf("; kills that left a snapshot .tmp %ld, orphan run files %ld, a partial import %ld; "
	       "%.1f s\n",
	       kills_tmp, kills_orphans, partial_imports, since(&t0));
	fflush(stdout);
	ck_assert_int_gt(done, rounds); /* the children did make progress */
	/* Over a default run every kind of step was acknowledged at least once. */
	if (done >= 400)
		for (int i = 0; i < NOPS; i++)
			ck_assert_msg(acked_ops[i] > 0, "no %s step was ever acknowledged",
				      op_names[i]);
	model_free(&w.m);
	free(acks);
	free(hs.h);
	free(hs.known);
	tu_rmrf(top);
	free(top);
	free(p.db);
	free(p.imp);
	free(p.exp);
}
END_TEST

int main(void)
{
	const char *e = getenv("IODB_CRASH_ROUNDS");
	Suite *s = suite_create("db_killall");
	TCase *tc = tcase_create("killall");

	/* A long run (IODB_CRASH_ROUNDS) gets the time it needs. */
	tcase_set_timeout(tc, 600 + (e && *e ? 2 * atoi(e) : 0));
	tcase_add_test(tc, test_killall);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
