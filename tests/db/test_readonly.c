/*
 * test_readonly.c — suite "db_readonly": handles opened with options.read_only
 * (docs/ARCHITECTURE.md, "Read-only handles").
 *
 *   answers   a store written with runs, snapshots, a rollback and a journal tail, Merkle on
 *             and off: every version's keys, root hashes, commit hash, proofs and export
 *             read through a read-only handle equal the writer's; the directory (names,
 *             bytes, mtimes) is unchanged after the read-only session
 *   sharing   two read-only handles in this process and one in a forked child at once; a
 *             writer gets IODB_EBUSY naming read-only handles, a reader one naming a writer
 *   refused   every writing call: IODB_EINVAL "the store was opened read-only"; the guard
 *             env refuses (and counts) a write that slips through; no store, no creation
 *   media     the store chmod-ed read-only (skipped as root, where chmod stops nothing)
 *   torn      garbage after the journal's last record: read up to it, the file untouched
 *   replay    more than snapshot_replay_ops to replay: no snapshot written (a read-write
 *             open with the same options writes one, so the check can fail)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/db/db_int.h" /* db->env: the read-only guard's refusal count */
#include "testutil.h"

#define NVERS 60
#define NKEYS 30

static const char *const stores[] = {"", "acct"};

/* ---- A growing text buffer ------------------------------------------------------------ */

struct text {
	char *p;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = realloc(t->p, t->cap);
		ck_assert_ptr_nonnull(t->p);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void text_hex(struct text *t, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		char h[2] = {digits[b[i] >> 4], digits[b[i] & 15]};

		text_add(t, h, 2);
	}
}

static void text_rc(struct text *t, const char *what, int rc)
{
	char line[128];

	snprintf(line, sizeof(line), " %s=%d", what, rc);
	text_str(t, line);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* ---- What a handle answers ------------------------------------------------------------ */

static int collect(void *ctx, const void *vid, size_t vidlen, const void *parent,
		   size_t parentlen, uint64_t height)
{
	return tu_collect_version(ctx, vid, vidlen, parent, parentlen, height);
}

static int export_hash(void *ctx, const void *chunk, size_t len)
{
	*(uint64_t *)ctx = fnv(*(uint64_t *)ctx, chunk, len);
	return 0;
}

/* Every retained version: its keys and values in each store, and with the Merkle layer its
 * root hashes, commit hash, two proofs (a key present, a key absent) and the export's bytes;
 * then the head. Calls that fail are recorded by their return code. */
static void describe(iodb *db, int merkle, struct text *t)
{
	struct tu_vlist vl = {0};
	void *head = NULL;
	size_t headlen = 0;

	ck_ok(iodb_versions(db, collect, &vl));
	for (size_t i = 0; i < vl.n; i++) {
		const struct tu_vrec *r = &vl.v[i];
		iodb_snapshot *s = NULL;
		char line[512];

		snprintf(line, sizeof(line), "\nv %.*s parent %.*s height %llu:", (int)r->vidlen,
			 r->vid, (int)r->parentlen, r->parent, (unsigned long long)r->height);
		text_str(t, line);
		ck_ok(iodb_snapshot_open(db, r->vid, r->vidlen, &s));
		for (size_t k = 0; k < 2; k++) {
			iodb_iter *it = NULL;

			text_str(t, " [");
			text_str(t, stores[k]);
			text_str(t, "]");
			ck_ok(iodb_iter_open(db, s, stores[k], &it));
			for (int rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it)) {
				const void *key, *val;
				size_t klen, vlen;

				ck_ok(iodb_iter_key(it, &key, &klen));
				ck_ok(iodb_iter_value(it, &val, &vlen));
				text_str(t, " ");
				text_add(t, key, klen);
				text_str(t, "=");
				text_add(t, val, vlen);
			}
			iodb_iter_close(it);
		}
		iodb_snapshot_close(s);
		if (!merkle)
			continue;
		for (size_t k = 0; k < 2; k++) {
			uint8_t h[32];
			int rc = iodb_root_hash(db, r->vid, r->vidlen, stores[k], h);

			text_rc(t, "root", rc);
			if (rc == 0)
				text_hex(t, h, 32);
		}
		{
			uint8_t h[32];
			int rc = iodb_commit_hash(db, r->vid, r->vidlen, h);

			text_rc(t, "commit", rc);
			if (rc == 0)
				text_hex(t, h, 32);
		}
		for (int absent = 0; absent < 2; absent++) {
			void *proof = NULL;
			size_t plen = 0;
			const char *key = absent ? "zz" : "k3";
			int rc = iodb_prove(db, r->vid, r->vidlen, "acct", key, 2, &proof, &plen);

			text_rc(t, "proof", rc);
			if (rc == 0)
				text_hex(t, proof, plen);
			iodb_free(proof);
		}
		if (i + 1 == vl.n || i % 10 == 0) {
			uint64_t h = 0xcbf29ce484222325ull;
			int rc = iodb_export(db, r->vid, r->vidlen, export_hash, &h);
			char hex[32];

			text_rc(t, "export", rc);
			snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
			text_str(t, hex);
		}
	}
	ck_ok(iodb_head(db, &head, &headlen));
	text_str(t, "\nhead ");
	text_add(t, head, headlen);
	iodb_free(head);
	free(vl.v);
}

/* ---- The directory: every name, size, mtime and byte ---------------------------------- */

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct lines {
	char **v;
	size_t n, cap;
};

static void tree_walk(const char *root, const char *rel, struct lines *out)
{
	char path[4096];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		char sub[4096], full[8192], line[8448];
		struct stat st;
		uint64_t h = 0xcbf29ce484222325ull;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
		snprintf(full, sizeof(full), "%s%s", root, sub);
		ck_assert_int_eq(lstat(full, &st), 0);
		if (S_ISREG(st.st_mode)) {
			unsigned char *data = NULL;
			size_t len = 0;

			ck_assert_int_eq(tu_read_file(full, &data, &len), 0);
			h = fnv(h, data, len);
			free(data);
		}
		snprintf(line, sizeof(line), "%s mode %o size %lld mtime %lld.%09ld bytes %016llx",
			 sub, (unsigned)st.st_mode, (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (unsigned long long)h);
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 64;
			out->v = realloc(out->v, out->cap * sizeof(*out->v));
			ck_assert_ptr_nonnull(out->v);
		}
		ck_assert_ptr_nonnull(out->v[out->n++] = strdup(line));
		if (S_ISDIR(st.st_mode))
			tree_walk(root, sub, out);
	}
	closedir(d);
}

/* The directory described in sorted lines (the store directory's own mtime included). */
static char *tree(const char *dir)
{
	struct lines l = {0};
	struct text t = {0};
	struct stat st;
	char line[256];

	tree_walk(dir, "", &l);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), line_cmp);
	ck_assert_int_eq(stat(dir, &st), 0);
	snprintf(line, sizeof(line), ". mtime %lld.%09ld\n", (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	text_str(&t, line);
	for (size_t i = 0; i < l.n; i++) {
		text_str(&t, l.v[i]);
		text_str(&t, "\n");
		free(l.v[i]);
	}
	free(l.v);
	return t.p;
}

static void ck_same_tree(const char *before, const char *after)
{
	ck_assert_msg(strcmp(before, after) == 0, "the directory changed:\nbefore:\n%s\nafter:\n%s",
		      before, after);
}

/* ---- Building a store ----------------------------------------------------------------- */

static void options(iodb_options *o, int merkle)
{
	iodb_options_init(o);
	o->merkle = merkle;
	o->sync = 0;
	o->memtable_bytes = 4096; /* freezes, so runs */
	o->journal_segment_bytes = 4096;
	o->snapshot_interval = 20;
	o->incremental_snapshot_interval = 7;
	o->shard_max_bytes = 8192;
}

static void commit(iodb *db, const char *vid, int i)
{
	iodb_batch *b = NULL;
	char key[32], val[64];

	ck_ok(iodb_batch_new(&b));
	for (int k = 0; k < 4; k++) {
		snprintf(key, sizeof(key), "k%d", (i * 7 + k) % NKEYS);
		snprintf(val, sizeof(val), "%s-%d-%d", vid, k, i);
		ck_ok(iodb_batch_put(b, stores[k & 1], key, strlen(key), val, strlen(val)));
	}
	if (i % 5 == 4) {
		snprintf(key, sizeof(key), "k%d", i % NKEYS);
		ck_ok(iodb_batch_del(b, "acct", key, strlen(key)));
	}
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

/* Versions with runs (flushed and compacted), Merkle snapshots, a rollback and a branch,
 * and a journal tail after the last flush; *expect gets what the writer answers. */
static void build(const char *dir, int merkle, struct text *expect)
{
	iodb_options o;
	iodb *db = NULL;
	char vid[32];

	options(&o, merkle);
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 0; i < NVERS; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, vid, i);
		if (i == 30) {
			ck_ok(iodb_flush(db));
			ck_ok(iodb_compact(db));
			if (merkle)
				ck_ok(iodb_merkle_snapshot(db, 1));
		}
	}
	ck_ok(iodb_rollback(db, "v50", 3));
	for (int i = 0; i < 5; i++) {
		snprintf(vid, sizeof(vid), "w%d", i);
		commit(db, vid, 100 + i);
	}
	ck_ok(iodb_flush(db));
	ck_ok(iodb_checkout(db, "v45", 3)); /* a branch */
	for (int i = 0; i < 6; i++) { /* the journal tail: after the last flush */
		snprintf(vid, sizeof(vid), "t%d", i);
		commit(db, vid, 200 + i);
	}
	if (expect)
		describe(db, merkle, expect);
	ck_ok(iodb_close(db));
}

static iodb *open_ro(const char *dir, int merkle)
{
	iodb_options o;
	iodb *db = NULL;

	options(&o, merkle);
	o.read_only = 1;
	ck_ok(iodb_open(dir, &o, &db));
	return db;
}

static void ck_nothing_refused(iodb *db)
{
	ck_assert_msg(env_refused(db->env) == 0, "the read-only guard refused %llu write(s)",
		      (unsigned long long)env_refused(db->env));
}

/* ---- answers -------------------------------------------------------------------------- */

START_TEST(test_same_answers)
{
	int merkle = _i;
	char *dir = tu_tmpdir("ro_answers");
	struct text want = {0}, got = {0};
	char *before, *after;
	iodb *db;

	build(dir, merkle, &want);
	ck_assert(want.len > 1000);
	before = tree(dir);
	db = open_ro(dir, merkle);
	describe(db, merkle, &got);
	ck_assert_msg(strcmp(want.p, got.p) == 0, "read-only answers differ:\nwriter:%s\nreader:%s",
		      want.p, got.p);
	/* 60, less v51..v59 rolled back, 5 on top of v50, 6 on a branch from v45. */
	ck_assert(tu_stat(db, NULL, "versions") == 62);
	ck_nothing_refused(db);
	ck_ok(iodb_close(db));
	after = tree(dir);
	ck_same_tree(before, after);
	free(before);
	free(after);
	free(want.p);
	free(got.p);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- sharing -------------------------------------------------------------------------- */

START_TEST(test_shared_readers_and_writer)
{
	char *dir = tu_tmpdir("ro_shared");
	struct text want = {0};
	iodb *r1, *r2, *w = NULL;
	iodb_options o;
	uint8_t root[32];
	void *val = NULL;
	size_t vlen = 0;
	char vals[NKEYS][64] = {{0}};
	pid_t pid;
	int status;

	build(dir, 1, &want);
	r1 = open_ro(dir, 1);
	r2 = open_ro(dir, 1);
	ck_ok(iodb_root_hash(r1, NULL, 0, "acct", root));
	for (int k = 0; k < NKEYS; k++) {
		char key[16];
		int rc;

		snprintf(key, sizeof(key), "k%d", k);
		rc = iodb_get(r1, "acct", key, strlen(key), &val, &vlen);
		ck_assert(rc == 0 || rc == IODB_NOTFOUND);
		if (rc == 0) {
			ck_assert_uint_lt(vlen, sizeof(vals[k]));
			memcpy(vals[k], val, vlen);
			iodb_free(val);
		}
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* A third reader in another process, while this process holds two. The child
		 * runs this program afresh (child_reader): a forked copy of a process with
		 * threads may not start threads of its own (TSan refuses it, and so should we). */
		char hex[65];

		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", root[i]);
		execl("/proc/self/exe", "test_db_readonly", "--reader", dir, hex, (char *)NULL);
		_exit(6);
	}
	/* Reading here meanwhile. */
	for (int i = 0; i < 50; i++) {
		ck_ok(iodb_get(i & 1 ? r1 : r2, "acct", "k3", 2, &val, &vlen));
		iodb_free(val);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the reader in the child process failed (status %d)", status);
	/* A writer while readers hold the store: busy, and told so. */
	iodb_options_init(&o);
	ck_rc(iodb_open(dir, &o, &w), IODB_EBUSY);
	ck_assert_msg(strstr(iodb_errmsg(), "read-only handles"), "message: %s", iodb_errmsg());
	ck_ok(iodb_close(r1));
	ck_rc(iodb_open(dir, &o, &w), IODB_EBUSY);
	ck_ok(iodb_close(r2));
	ck_ok(iodb_open(dir, &o, &w));
	/* A reader while a writer holds it: busy, and told so. */
	o.read_only = 1;
	ck_rc(iodb_open(dir, &o, &r1), IODB_EBUSY);
	ck_assert_msg(strstr(iodb_errmsg(), "a writer"), "message: %s", iodb_errmsg());
	ck_ok(iodb_close(w));
	r1 = open_ro(dir, 1);
	ck_ok(iodb_close(r1));
	free(want.p);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- refused -------------------------------------------------------------------------- */

#define ck_read_only(call)                                                                 \
	do {                                                                               \
		ck_rc(call, IODB_EINVAL);                                                  \
		ck_assert_msg(strcmp(iodb_errmsg(), "the store was opened read-only") == 0,  \
			      "%s: message \"%s\"", #call, iodb_errmsg());                 \
	} while (0)

START_TEST(test_writes_refused)
{
	char *dir = tu_tmpdir("ro_refused");
	char *before, *after, *path;
	iodb_batch *b = NULL;
	struct env_file *f = NULL;
	iodb *db;

	build(dir, 1, NULL);
	before = tree(dir);
	db = open_ro(dir, 1);
	ck_ok(iodb_batch_new(&b));
	ck_ok(iodb_batch_put(b, NULL, "k", 1, "v", 1));
	ck_read_only(iodb_update(db, "new", 3, b));
	ck_read_only(iodb_update(db, NULL, 0, NULL)); /* refused before the arguments */
	ck_read_only(iodb_rollback(db, "v10", 3));
	ck_read_only(iodb_checkout(db, "v10", 3));
	ck_read_only(iodb_clean(db, 2));
	ck_read_only(iodb_flush(db));
	ck_read_only(iodb_compact(db));
	ck_read_only(iodb_merkle_snapshot(db, 1));
	ck_read_only(iodb_merkle_snapshot(db, 0));
	iodb_batch_free(b);
	ck_nothing_refused(db);
	/* The safety net: a write that slipped past is refused, named and counted. */
	path = tu_path(dir, "SLIPPED");
	ck_rc(env_open_append(db->env, path, &f), IODB_EIO);
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "SLIPPED"));
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "read-only"));
	ck_rc(env_unlink(db->env, path), IODB_EIO);
	ck_rc(env_mkdir(db->env, path), IODB_EIO);
	ck_rc(env_rename(db->env, path, path), IODB_EIO);
	ck_assert_uint_eq(env_refused(db->env), 4);
	ck_assert_int_eq(access(path, F_OK), -1);
	free(path);
	/* Reads still work after all that. */
	{
		void *val = NULL;
		size_t vlen = 0;

		ck_ok(iodb_get(db, "acct", "k3", 2, &val, &vlen));
		iodb_free(val);
	}
	ck_ok(iodb_close(db));
	after = tree(dir);
	ck_same_tree(before, after);
	free(before);
	free(after);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_no_store)
{
	char *dir = tu_tmpdir("ro_none"), *missing = tu_path(dir, "nothing");
	char *before;
	iodb_options o;
	iodb *db = NULL;

	iodb_options_init(&o);
	o.read_only = 1;
	o.create_if_missing = 1; /* ignored */
	ck_rc(iodb_open(missing, &o, &db), IODB_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "read-only"));
	ck_assert_int_eq(access(missing, F_OK), -1);
	before = tree(dir); /* an empty directory: not a store, and left empty */
	ck_rc(iodb_open(dir, &o, &db), IODB_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "no iodb store here"));
	{
		char *after = tree(dir);

		ck_same_tree(before, after);
		free(after);
	}
	free(before);
	free(missing);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- media ---------------------------------------------------------------------------- */

static void chmod_tree(const char *path, int writable)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	ck_assert_int_eq(lstat(path, &st), 0);
	if (!S_ISDIR(st.st_mode)) {
		ck_assert_int_eq(chmod(path, writable ? 0644 : 0444), 0);
		return;
	}
	if (writable)
		ck_assert_int_eq(chmod(path, 0755), 0);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		char sub[4096];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		chmod_tree(sub, writable);
	}
	closedir(d);
	if (!writable)
		ck_assert_int_eq(chmod(path, 0555), 0);
}

/* The store on read-only media: a writer cannot open it, a reader answers as before and
 * changes nothing. */
static void media_checks(const char *dir, const struct text *want)
{
	struct text got = {0};
	char *before, *after;
	iodb_options o;
	iodb *db = NULL;

	before = tree(dir);
	iodb_options_init(&o);
	ck_assert_int_ne(iodb_open(dir, &o, &db), 0);
	db = open_ro(dir, 1);
	describe(db, 1, &got);
	ck_assert_msg(strcmp(want->p, got.p) == 0, "answers differ on read-only media");
	ck_nothing_refused(db);
	ck_ok(iodb_close(db));
	after = tree(dir);
	ck_same_tree(before, after);
	free(before);
	free(after);
	free(got.p);
}

START_TEST(test_read_only_media)
{
	char *dir = tu_tmpdir("ro_media");
	struct text want = {0};

	build(dir, 1, &want);
	chmod_tree(dir, 0);
	if (geteuid() != 0) {
		media_checks(dir, &want);
	} else {
		/* Root ignores file modes: the checks run in a child that drops to nobody. */
		pid_t pid = fork();
		int status = 0;

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
				_exit(77);
			if (access(dir, R_OK | X_OK) != 0) /* a TMPDIR nobody may not enter */
				_exit(77);
			media_checks(dir, &want);
			_exit(0);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
			fprintf(stderr, "test_read_only_media: skipped (cannot run as nobody "
					"under %s)\n", dir);
		else
			ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				      "the read-only media checks failed as nobody (status %d)",
				      status);
	}
	chmod_tree(dir, 1);
	free(want.p);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- torn ----------------------------------------------------------------------------- */

static char *last_segment(const char *dir)
{
	char *jdir = tu_path(dir, "journal"), *path;
	char best[256] = "";
	DIR *d;
	struct dirent *de;

	ck_assert_ptr_nonnull(d = opendir(jdir));
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".log") && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	ck_assert(best[0]);
	path = tu_path(jdir, best);
	free(jdir);
	return path;
}

START_TEST(test_torn_tail)
{
	char *dir = tu_tmpdir("ro_torn"), *seg, *before, *after;
	struct text want = {0}, got = {0};
	unsigned char *data = NULL, *torn;
	size_t len = 0;
	iodb *db;

	build(dir, 1, &want);
	seg = last_segment(dir);
	ck_assert_int_eq(tu_read_file(seg, &data, &len), 0);
	ck_assert_ptr_nonnull(torn = malloc(len + 100));
	memcpy(torn, data, len);
	for (size_t i = 0; i < 100; i++)
		torn[len + i] = (unsigned char)(i * 37 + 11);
	/* Half a record header that looks real, then noise: a torn append. */
	torn[len] = 40;
	ck_assert_int_eq(tu_write_file(seg, torn, len + 100), 0);
	before = tree(dir);
	db = open_ro(dir, 1);
	describe(db, 1, &got);
	ck_assert_msg(strcmp(want.p, got.p) == 0, "answers differ past a torn tail");
	ck_nothing_refused(db);
	ck_ok(iodb_close(db));
	after = tree(dir);
	ck_same_tree(before, after);
	ck_assert_int_eq(tu_file_size(seg), (long long)len + 100);
	free(before);
	free(after);
	free(data);
	free(torn);
	free(seg);
	free(want.p);
	free(got.p);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- replay --------------------------------------------------------------------------- */

static int count_snapshots(const char *dir)
{
	char *sdir = tu_path(dir, "snapshots");
	DIR *d = opendir(sdir);
	struct dirent *de;
	int n = 0;

	free(sdir);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "snapshot-", 9) == 0;
	closedir(d);
	return n;
}

START_TEST(test_long_replay_no_snapshot)
{
	char *dir = tu_tmpdir("ro_replay"), *before, *after;
	uint8_t want[32], got[32];
	iodb_options o;
	iodb *db = NULL;
	char vid[32];

	iodb_options_init(&o);
	o.sync = 0;
	o.snapshot_interval = 0;
	o.incremental_snapshot_interval = 0;
	o.snapshot_replay_ops = 0; /* no snapshot while writing */
	ck_ok(iodb_open(dir, &o, &db));
	for (int i = 0; i < 40; i++) {
		snprintf(vid, sizeof(vid), "v%d", i);
		commit(db, vid, i);
	}
	ck_ok(iodb_commit_hash(db, NULL, 0, want));
	ck_ok(iodb_close(db));
	ck_assert_int_eq(count_snapshots(dir), 0);
	before = tree(dir);
	/* 160 operations to replay, more than 50: a writer would snapshot; a reader does not. */
	o.snapshot_replay_ops = 50;
	o.read_only = 1;
	ck_ok(iodb_open(dir, &o, &db));
	ck_ok(iodb_commit_hash(db, NULL, 0, got));
	ck_assert_mem_eq(want, got, 32);
	ck_nothing_refused(db);
	ck_ok(iodb_close(db));
	after = tree(dir);
	ck_same_tree(before, after);
	ck_assert_int_eq(count_snapshots(dir), 0);
	/* The same open read-write does write one (else this test could not fail). */
	o.read_only = 0;
	ck_ok(iodb_open(dir, &o, &db));
	ck_ok(iodb_close(db));
	ck_assert_int_eq(count_snapshots(dir), 1);
	free(before);
	free(after);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *readonly_suite(void)
{
	Suite *s = suite_create("db_readonly");
	TCase *tc;

	tc = tcase_create("answers");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_same_answers, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("sharing");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_shared_readers_and_writer);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_writes_refused);
	tcase_add_test(tc, test_no_store);
	suite_add_tcase(s, tc);

	tc = tcase_create("media");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_read_only_media);
	suite_add_tcase(s, tc);

	tc = tcase_create("torn");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_torn_tail);
	suite_add_tcase(s, tc);

	tc = tcase_create("replay");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_long_replay_no_snapshot);
	suite_add_tcase(s, tc);
	return s;
}

/* The third reader of test_shared_readers_and_writer, in its own process: opens dir
 * read-only, checks the default head's root of "acct" is root_hex and reads every key.
 * Answers by exit status (no Check here). */
static int child_reader(const char *dir, const char *root_hex)
{
	iodb_options co;
	iodb *r3 = NULL;
	uint8_t h[32];
	char hex[65];

	iodb_options_init(&co);
	co.read_only = 1;
	if (iodb_open(dir, &co, &r3) != 0)
		return 2;
	if (iodb_root_hash(r3, NULL, 0, "acct", h) != 0)
		return 3;
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	if (strcmp(hex, root_hex) != 0)
		return 3;
	for (int k = 0; k < NKEYS; k++) {
		char key[16];
		void *v = NULL;
		size_t n = 0;
		int rc;

		snprintf(key, sizeof(key), "k%d", k);
		rc = iodb_get(r3, "acct", key, strlen(key), &v, &n);
		iodb_free(v);
		if (rc != 0 && rc != IODB_NOTFOUND)
			return 4;
	}
	return iodb_close(r3) != 0 ? 5 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--reader") == 0)
		return child_reader(argv[2], argv[3]);
	return tu_run(readonly_suite());
}
