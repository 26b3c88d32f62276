/*
 * test_shards.c — the store with its data in shards: open cost, journal release, memory
 * bound, snapshots across distribute, and damaged run files and manifests.
 *
 * IODB_SHARDS_KEYS sets the size of the large store (default 2,000,000; 200,000 under
 * sanitizers).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "lib/db/db.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define DEFAULT_KEYS 200000
#define SANITIZED 1
#else
#define DEFAULT_KEYS 2000000
#define SANITIZED 0
#endif

static void key_of(uint32_t i, char k[17])
{
	snprintf(k, 17, "key-%012u", i);
}

/* 100 bytes derived from i and a generation g. */
static void val_of(uint32_t i, uint32_t g, uint8_t v[100])
{
	uint64_t s = ((uint64_t)i << 20 | g) * 0x9E3779B97F4A7C15ull + 1;

	for (int b = 0; b < 100; b++)
		v[b] = (uint8_t)(tu_rand(&s) >> 56);
}

static void load(iodb *db, uint32_t from, uint32_t to, uint32_t g, uint32_t batch,
		 uint64_t *vno)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	for (uint32_t i = from; i < to;) {
		char vid[32];

		iodb_batch_clear(b);
		for (uint32_t k = 0; k < batch && i < to; k++, i++) {
			char key[17];
			uint8_t v[100];

			key_of(i, key);
			val_of(i, g, v);
			ck_ok(iodb_batch_put(b, NULL, key, 16, v, 100));
		}
		snprintf(vid, sizeof(vid), "v%llu", (unsigned long long)(*vno)++);
		ck_ok(iodb_update(db, vid, strlen(vid), b));
	}
	iodb_batch_free(b);
}

static void check_key(iodb *db, iodb_snapshot *s, uint32_t i, uint32_t g)
{
	char key[17];
	uint8_t want[100];
	void *val;
	size_t len;

	key_of(i, key);
	val_of(i, g, want);
	if (s)
		ck_ok(iodb_snapshot_get(s, NULL, key, 16, &val, &len));
	else
		ck_ok(iodb_get(db, NULL, key, 16, &val, &len));
	ck_assert_uint_eq(len, 100);
	ck_assert_msg(memcmp(val, want, 100) == 0, "key %u: wrong value", i);
	iodb_free(val);
}

static long long dir_bytes(const char *dir, int *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	long long total = 0;

	*files = 0;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char *p;

		if (e->d_name[0] == '.')
			continue;
		p = tu_path(dir, e->d_name);
		total += tu_file_size(p);
		(*files)++;
		free(p);
	}
	closedir(d);
	return total;
}

/* Open reads the manifest and the journal after the distribute point: nothing that grows
 * with the data. */
START_TEST(test_open_reads_manifest_and_tail)
{
	const char *e = getenv("IODB_SHARDS_KEYS");
	uint32_t n = e && *e ? (uint32_t)atoi(e) : DEFAULT_KEYS;
	char *dir = tu_tmpdir("shards"), *man = tu_path(dir, "MANIFEST"), *jdir;
	uint64_t vno = 0, rng = tu_seed(41);
	long long run_bytes, journal_bytes;
	int runs, segs;
	iodb_options o;
	struct env *env;
	iodb *db;
	iodb_iter *it;
	uint64_t read, count = 0;

	iodb_options_init(&o);
	o.merkle = 0;
	o.sync = 0;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, n, 1, 1000, &vno);
	ck_ok(iodb_flush(db));
	load(db, 0, 100, 2, 10, &vno); /* a journal tail of ten versions */
	ck_ok(iodb_close(db));

	{
		char *sd = tu_path(dir, "shards");

		run_bytes = dir_bytes(sd, &runs);
		free(sd);
	}
	jdir = tu_path(dir, "journal");
	journal_bytes = dir_bytes(jdir, &segs);
	ck_assert_int_ge(runs, 1);
	ck_assert_int_le(segs, 2); /* the distributed segments were released */
	ck_assert_int_gt(run_bytes, (long long)n * 20);

	/* What open reads: background compaction (which starts as open returns and reads
	 * runs) would blur the count. */
	o.auto_compaction = 0;
	ck_ok(env_new(&env));
	ck_ok(db_open_env(dir, &o, env, &db));
	read = env_bytes_read(env);
	ck_assert_msg(read <= (uint64_t)(tu_file_size(man) + journal_bytes + 16),
		      "open read %llu bytes: manifest %lld, journal %lld, runs %lld",
		      (unsigned long long)read, tu_file_size(man), journal_bytes, run_bytes);
	ck_assert_msg(read * 100 < (uint64_t)run_bytes, "open read %llu bytes of %lld",
		      (unsigned long long)read, run_bytes);

	/* And the data is all there. */
	for (int k = 0; k < 2000; k++) {
		uint32_t i = tu_below(&rng, n);

		check_key(db, NULL, i, i < 100 ? 2 : 1);
	}
	{
		char key[17];
		void *val;
		size_t len;

		key_of(n + 5, key);
		ck_rc(iodb_get(db, NULL, key, 16, &val, &len), IODB_NOTFOUND);
	}
	ck_ok(iodb_iter_open(db, NULL, NULL, &it));
	for (int rc = iodb_iter_first(it); rc == IODB_OK; rc = iodb_iter_next(it))
		count++;
	iodb_iter_close(it);
	ck_assert_uint_eq(count, n);
	ck_ok(iodb_close(db));
	env_free(env);
	tu_rmrf(dir);
	free(jdir);
	free(man);
	free(dir);
}
END_TEST

/* With the Merkle layer on, the journal is its history: nothing is released; and a store
 * whose journal was released cannot turn the Merkle layer on. */
START_TEST(test_release_and_merkle_holder)
{
	char *dir = tu_tmpdir("shards");
	uint64_t vno = 0;
	iodb_options o;
	iodb *db;

	iodb_options_init(&o);
	o.sync = 0;
	o.journal_segment_bytes = 64 << 10;
	o.memtable_bytes = 256 << 10;
	o.merkle = 1;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, 20000, 1, 500, &vno);
	ck_ok(iodb_flush(db));
	ck_assert_uint_gt((uint64_t)tu_stat(db, NULL, "runs"), 1);
	ck_assert_uint_gt((uint64_t)tu_stat(db, NULL, "segments"), 10); /* held for the Merkle layer */
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db)); /* trees rebuilt from the whole journal */
	check_key(db, NULL, 777, 1);
	ck_ok(iodb_close(db));

	o.merkle = 0;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, 20000, 2, 500, &vno);
	ck_ok(iodb_flush(db));
	ck_assert_uint_le((uint64_t)tu_stat(db, NULL, "segments"), 2);
	ck_ok(iodb_close(db));
	o.merkle = 1;
	ck_rc(iodb_open(dir, &o, &db), IODB_EINVAL);
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "merkle"));
	o.merkle = 0;
	ck_ok(iodb_open(dir, &o, &db));
	check_key(db, NULL, 19999, 2);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/*
 * Space after a rollback and clean is given back: the flush starts a new journal segment, so
 * the one holding the discarded versions (already distributed) is released. Without the
 * Merkle layer the first segment file is gone; with it (a snapshot of the base holding the
 * journal from there on) nothing breaks: a reopen reads the right values and hashes.
 */
START_TEST(test_flush_releases_active_segment)
{
	char *dir = tu_tmpdir("shards-seg"), *seg1;
	uint64_t vno = 0;
	uint8_t hash[32], hash2[32];
	iodb_options o;
	iodb *db;

	seg1 = tu_path(dir, "journal/00000000000000000001.log");
	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = _i;
	o.snapshot_interval = 0;
	o.incremental_snapshot_interval = 0;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, 300, 1, 10, &vno); /* 30 versions, all in the first segment */
	load(db, 0, 300, 2, 10, &vno);
	ck_ok(iodb_rollback(db, "v10", 3));
	ck_ok(iodb_clean(db, 1));
	if (_i)
		ck_ok(iodb_merkle_snapshot(db, 1)); /* the base's: the journal hold moves to it */
	ck_ok(iodb_flush(db));
	if (_i) /* the snapshot's hold moves at the next durable point */
		ck_ok(iodb_flush(db));
	/* With the Merkle layer, the base's own commit record (in the first segment) is where
	 * its hold stands: that segment stays. */
	if (!_i) {
		ck_assert_msg(tu_file_size(seg1) < 0,
			      "the first journal segment (%lld bytes) was kept", tu_file_size(seg1));
		ck_assert_uint_eq((uint64_t)tu_stat(db, NULL, "segments"), 1);
	}
	if (_i)
		ck_ok(iodb_commit_hash(db, NULL, 0, hash));
	ck_ok(iodb_close(db));

	ck_ok(iodb_open(dir, &o, &db));
	for (uint32_t i = 0; i < 110; i += 7)
		check_key(db, NULL, i, 1); /* v10 holds generation 1 of keys 0..109, no more */
	{
		void *v;
		size_t l;

		ck_rc(iodb_get(db, NULL, "key-000000000110", 16, &v, &l), IODB_NOTFOUND);
	}
	if (_i) {
		ck_ok(iodb_commit_hash(db, NULL, 0, hash2));
		ck_assert_mem_eq(hash, hash2, 32);
	}
	load(db, 0, 10, 3, 10, &vno); /* writes go on */
	check_key(db, NULL, 5, 3);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(seg1);
	free(dir);
}
END_TEST

/* A store of 20 times the memtable budget: the engine's memory stays near the budget. */
START_TEST(test_memory_bound)
{
	char *dir = tu_tmpdir("shards");
	uint64_t vno = 0, budget = 1 << 20, cache = 1 << 20, arena;
	uint32_t n = 20 * (uint32_t)(budget / 116); /* 116 bytes of key and value */
	iodb_options o;
	iodb *db;

	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = 0;
	o.memtable_bytes = budget;
	o.block_cache_bytes = cache;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, n, 1, 1000, &vno);
	ck_ok(iodb_flush(db));
	for (uint32_t i = 0; i < n; i += 97)
		check_key(db, NULL, i, 1);
	arena = (uint64_t)tu_stat(db, NULL, "arena_bytes");
	ck_assert_uint_ge((uint64_t)tu_stat(db, NULL, "freezes"), 20);
	if (!SANITIZED && arena) /* sanitizer builds use libc malloc: no arena figure */
		ck_assert_msg(arena < 4 * budget + cache + (2 << 20),
			      "engine memory %llu bytes with a %llu-byte memtable budget",
			      (unsigned long long)arena, (unsigned long long)budget);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Snapshots and iterators keep their view while distribute moves the data underneath. */
START_TEST(test_snapshot_across_distribute)
{
	char *dir = tu_tmpdir("shards");
	uint64_t vno = 0;
	iodb_options o;
	iodb_snapshot *s;
	iodb_iter *it;
	iodb *db;
	uint32_t seen = 0;

	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = 0;
	o.memtable_bytes = 64 << 10;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, 3000, 1, 100, &vno);
	ck_ok(iodb_snapshot_open(db, NULL, 0, &s));
	ck_ok(iodb_iter_open(db, s, NULL, &it));
	ck_ok(iodb_iter_first(it));
	/* Overwrite everything, several times, with distributes in between. */
	for (uint32_t g = 2; g < 5; g++) {
		load(db, 0, 3000, g, 100, &vno);
		ck_ok(iodb_flush(db));
	}
	for (uint32_t i = 0; i < 3000; i += 7)
		check_key(db, s, i, 1);
	for (int rc = IODB_OK; rc == IODB_OK; rc = iodb_iter_next(it)) {
		const void *k, *v;
		size_t kl, vl;
		uint8_t want[100];

		ck_ok(iodb_iter_key(it, &k, &kl));
		ck_ok(iodb_iter_value(it, &v, &vl));
		val_of(seen, 1, want);
		ck_assert(vl == 100 && memcmp(v, want, 100) == 0);
		seen++;
	}
	ck_assert_uint_eq(seen, 3000);
	iodb_iter_close(it);
	iodb_snapshot_close(s);
	for (uint32_t i = 0; i < 3000; i += 7)
		check_key(db, NULL, i, 4);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- Damaged files -------------------------------------------------------------------- */

#define DMG_KEYS 3000

static void make_damage_store(const char *dir)
{
	iodb_options o;
	uint64_t vno = 0;
	iodb *db;

	iodb_options_init(&o);
	o.merkle = 0;
	o.sync = 0;
	o.memtable_bytes = 48 << 10;
	o.block_bytes = 1024;
	ck_ok(iodb_open(dir, &o, &db));
	load(db, 0, DMG_KEYS, 1, 200, &vno);
	load(db, 0, DMG_KEYS / 2, 2, 200, &vno);
	ck_ok(iodb_flush(db));
	ck_ok(iodb_close(db));
}

/* Every read either gives the right answer or IODB_ECORRUPT naming `file`. Returns the
 * number of ECORRUPTs seen. */
static int read_all_checked(const char *dir, const char *file)
{
	iodb_options o;
	iodb *db;
	iodb_iter *it;
	int rc, bad = 0;
	uint32_t seen = 0;

	iodb_options_init(&o);
	o.merkle = 0;
	o.create_if_missing = 0;
	rc = iodb_open(dir, &o, &db);
	if (rc != 0) {
		ck_assert_msg(rc == IODB_ECORRUPT, "open: %d %s", rc, iodb_errmsg());
		ck_assert_msg(strstr(iodb_errmsg(), file), "open: \"%s\" does not name %s",
			      iodb_errmsg(), file);
		return 1;
	}
	for (uint32_t i = 0; i < DMG_KEYS; i += 3) {
		char key[17];
		uint8_t want[100];
		void *val;
		size_t len;

		key_of(i, key);
		val_of(i, i < DMG_KEYS / 2 ? 2 : 1, want);
		rc = iodb_get(db, NULL, key, 16, &val, &len);
		if (rc == IODB_ECORRUPT) {
			ck_assert_msg(strstr(iodb_errmsg(), file), "get: \"%s\" does not name %s",
				      iodb_errmsg(), file);
			bad++;
			continue;
		}
		ck_assert_msg(rc == 0, "get %u: %d %s", i, rc, iodb_errmsg());
		ck_assert_msg(len == 100 && memcmp(val, want, 100) == 0, "key %u: wrong value", i);
		iodb_free(val);
	}
	ck_ok(iodb_iter_open(db, NULL, NULL, &it));
	for (rc = iodb_iter_first(it); rc == IODB_OK; rc = iodb_iter_next(it)) {
		const void *k, *v;
		size_t kl, vl;
		char key[17];
		uint8_t want[100];

		ck_ok(iodb_iter_key(it, &k, &kl));
		ck_ok(iodb_iter_value(it, &v, &vl));
		key_of(seen, key);
		val_of(seen, seen < DMG_KEYS / 2 ? 2 : 1, want);
		ck_assert_msg(kl == 16 && memcmp(k, key, 16) == 0, "scan: key %u missing", seen);
		ck_assert_msg(vl == 100 && memcmp(v, want, 100) == 0, "scan: key %u wrong", seen);
		seen++;
	}
	if (rc == IODB_ECORRUPT) {
		ck_assert_msg(strstr(iodb_errmsg(), file), "scan: \"%s\" does not name %s",
			      iodb_errmsg(), file);
		bad++;
	} else {
		ck_assert_msg(rc == IODB_NOTFOUND, "scan: %d %s", rc, iodb_errmsg());
		ck_assert_uint_eq(seen, DMG_KEYS);
	}
	iodb_iter_close(it);
	ck_ok(iodb_close(db));
	return bad;
}

static char *first_run(const char *dir)
{
	char *sd = tu_path(dir, "shards"), *best = NULL;
	DIR *d = opendir(sd);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".run") && (!best || strcmp(e->d_name, best) < 0)) {
			free(best);
			best = strdup(e->d_name);
		}
	closedir(d);
	ck_assert_ptr_nonnull(best);
	{
		char *p = tu_path(sd, best);

		free(best);
		free(sd);
		return p;
	}
}

static void damage_file(int which)
{
	char *orig = tu_tmpdir("dmg"), *work = tu_tmpdir("dmgw");
	char *file, cmd[1024];
	const char *name;
	unsigned char *data, *copy;
	size_t len;
	uint64_t rng = tu_seed(43 + (uint64_t)which);
	int corrupt = 0, trials;

	make_damage_store(orig);
	file = which ? first_run(orig) : tu_path(orig, "MANIFEST");
	name = strrchr(file, '/') + 1;
	ck_ok(tu_read_file(file, &data, &len));
	copy = malloc(len);
	trials = SANITIZED ? 60 : 200;
	for (int t = 0; t < trials; t++) {
		size_t at = tu_below(&rng, (uint32_t)len), newlen = len;
		char *wfile;

		memcpy(copy, data, len);
		if (t % 4 == 3)
			newlen = at; /* truncated */
		else
			copy[at] ^= (uint8_t)(1 + tu_below(&rng, 255));
		tu_rmrf(work);
		snprintf(cmd, sizeof(cmd), "cp -r %s %s", orig, work);
		ck_assert_int_eq(system(cmd), 0);
		wfile = tu_path(work, file + strlen(orig) + 1);
		ck_ok(tu_write_file(wfile, copy, newlen));
		corrupt += read_all_checked(work, name) > 0;
		free(wfile);
	}
	/* Most damage must be noticed (a flip in a torn-looking manifest tail may not be). */
	ck_assert_int_gt(corrupt, trials / 4);
	free(copy);
	free(data);
	free(file);
	tu_rmrf(orig);
	tu_rmrf(work);
	free(orig);
	free(work);
}

START_TEST(test_damaged_manifest)
{
	damage_file(0);
}
END_TEST

START_TEST(test_damaged_run)
{
	damage_file(1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("db_shards");
	TCase *tc = tcase_create("shards");

	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_open_reads_manifest_and_tail);
	tcase_add_test(tc, test_release_and_merkle_holder);
	tcase_add_loop_test(tc, test_flush_releases_active_segment, 0, 2);
	tcase_add_test(tc, test_memory_bound);
	tcase_add_test(tc, test_snapshot_across_distribute);
	tcase_add_test(tc, test_damaged_manifest);
	tcase_add_test(tc, test_damaged_run);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
