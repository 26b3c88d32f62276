/*
 * test_run.c — suite "shards": run files and the block cache (shards/run.c, shards/bcache.c).
 *
 * Every test compares what a run gives back with an in-memory model: a sorted array of the
 * entries written. run: round trips (forward, backward, seeks, direction changes, point
 * reads with ancestor sets), writer errors and injected faults, obsolete removal, the filter's
 * false-positive rate, concurrent readers. corrupt: every byte flipped and every length cut
 * must give either the right data or IODB_ECORRUPT naming the file, never a wrong answer.
 * hostile: files whose checksums are right but whose index or block content lies (the
 * structural checks behind the CRCs). bcache: the byte budget, blocks outliving eviction,
 * hit counting, capacity 0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shards/shards.h"
#include "testutil.h"

#define ck_msg_has(s)                                                                     \
	ck_assert_msg(strstr(iodb_errmsg(), (s)) != NULL, "errmsg \"%s\" lacks \"%s\"",      \
		      iodb_errmsg(), (s))

/* For hot loops: Check's ck_assert costs a write() per call, even when it passes. */
#define expect(c, ...)                                                                    \
	do {                                                                               \
		if (!(c))                                                                  \
			ck_abort_msg(__VA_ARGS__);                                         \
	} while (0)
#define expect_rc(call, want)                                                             \
	do {                                                                               \
		int got_ = (call);                                                         \
		expect(got_ == (want), "%s returned %d, want %d: %s", #call, got_, (want),  \
		       iodb_errmsg());                                                     \
	} while (0)
#define expect_msg_has(s)                                                                 \
	expect(strstr(iodb_errmsg(), (s)) != NULL, "errmsg \"%s\" lacks \"%s\"",           \
	       iodb_errmsg(), (s))

/* ---- The model: entries in internal order, owning their bytes ------------------------- */

struct model {
	struct entry *v;
	size_t n, cap;
};

static void model_add(struct model *m, uint32_t store, const void *key, uint32_t klen,
		      uint32_t n, const void *val, uint32_t vlen, int tomb)
{
	struct entry *e;
	uint8_t *k = malloc(klen), *v = malloc(vlen ? vlen : 1);

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 1024;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
	}
	memcpy(k, key, klen);
	if (vlen)
		memcpy(v, val, vlen);
	e = &m->v[m->n++];
	*e = (struct entry){.store = store, .n = n, .key = k, .klen = klen, .val = tomb ? NULL : v,
			    .vlen = tomb ? 0 : vlen, .tomb = tomb};
	if (tomb)
		free(v);
}

static void model_free(struct model *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free((void *)m->v[i].key);
		free((void *)m->v[i].val);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static int ecmp(const struct entry *a, const struct entry *b)
{
	return entry_cmp(a->store, a->key, a->klen, a->n, b->store, b->key, b->klen, b->n);
}

static int ecmp_q(const void *a, const void *b)
{
	return ecmp(a, b);
}

/* Sort, keeping the first of equal (store, key, n). */
static void model_sort(struct model *m)
{
	size_t out = 0;

	qsort(m->v, m->n, sizeof(*m->v), ecmp_q);
	for (size_t i = 0; i < m->n; i++) {
		if (out && ecmp(&m->v[out - 1], &m->v[i]) == 0) {
			free((void *)m->v[i].key);
			free((void *)m->v[i].val);
			continue;
		}
		m->v[out++] = m->v[i];
	}
	m->n = out;
}

/* Index of the first entry >= target, or m->n. */
static size_t model_seek(const struct model *m, uint32_t store, const uint8_t *key, size_t klen,
			 uint32_t n)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct entry *e = &m->v[mid];

		if (entry_cmp(e->store, e->key, e->klen, e->n, store, key, klen, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What run_get must return: the index of the newest entry of the key in anc, or -1. */
static long model_get(const struct model *m, uint32_t store, const uint8_t *key, size_t klen,
		      const roaring_bitmap_t *anc)
{
	for (size_t i = model_seek(m, store, key, klen, N_MAX); i < m->n; i++) {
		const struct entry *e = &m->v[i];

		if (e->store != store || key_cmp(e->key, e->klen, key, klen) != 0)
			break;
		if (!anc || roaring_bitmap_contains(anc, e->n))
			return (long)i;
	}
	return -1;
}

static int entry_eq(const struct entry *a, const struct entry *b)
{
	return a->store == b->store && a->n == b->n && a->klen == b->klen &&
	       memcmp(a->key, b->key, a->klen) == 0 && !a->tomb == !b->tomb &&
	       a->vlen == b->vlen && (a->vlen == 0 || memcmp(a->val, b->val, a->vlen) == 0) &&
	       (a->tomb ? a->val == NULL : a->val != NULL);
}

static void fill_random(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)tu_rand(s);
}

/* A key of 1..40 bytes, most sharing one of a few prefixes, some prefixes of others. */
static uint32_t random_key(uint64_t *s, uint8_t *k)
{
	static const char *const pre[] = {"a", "ab", "abc", "abc/def/", "user:", "user:0000",
					  "\xff", "z", ""};
	static const uint8_t alpha[] = {0x00, 'a', 'b', '0', '1', 0xff};
	const char *p = pre[tu_below(s, sizeof(pre) / sizeof(pre[0]))];
	uint32_t plen = (uint32_t)strlen(p), len = plen + tu_below(s, 41 - plen);

	if (len == 0)
		len = 1;
	memcpy(k, p, plen);
	for (uint32_t i = plen; i < len; i++)
		k[i] = alpha[tu_below(s, sizeof(alpha))];
	return len;
}

/*
 * nkeys random keys in stores 0..3, 1..4 versions each (n in 1..200), values of 0..300
 * bytes, some empty, ~10% tombstones, and nbig values of 100..300 KiB.
 */
static void model_random(struct model *m, uint64_t *s, size_t nkeys, int nbig)
{
	static uint8_t val[300 << 10];
	uint8_t key[40];

	fill_random(s, val, sizeof(val));
	for (size_t i = 0; i < nkeys; i++) {
		uint32_t klen = random_key(s, key), store = tu_below(s, 4);
		uint32_t nver = 1 + tu_below(s, 4);

		for (uint32_t j = 0; j < nver; j++) {
			uint32_t r = tu_below(s, 100), vlen = tu_below(s, 301);
			uint32_t off = tu_below(s, 1000);

			if (r < 5)
				vlen = 0;
			model_add(m, store, key, klen, 1 + tu_below(s, 200), val + off, vlen,
				  r >= 90);
		}
	}
	for (int i = 0; i < nbig; i++) {
		uint32_t klen = random_key(s, key);
		uint32_t vlen = (100 << 10) + tu_below(s, 200 << 10);

		if (i == 0)
			memset(val, 'x', vlen); /* one that compresses */
		model_add(m, tu_below(s, 4), key, klen, 1 + tu_below(s, 200), val, vlen, 0);
		if (i == 0)
			fill_random(s, val, vlen);
	}
	model_sort(m);
}

/* ---- Fixture -------------------------------------------------------------------------- */

struct rt {
	char *dir;
	struct env *env;
	struct block_cache *bc;
};

static void rt_init(struct rt *t, uint64_t cache)
{
	t->dir = tu_tmpdir("shards");
	ck_ok(env_new(&t->env));
	ck_ok(bcache_new(cache, &t->bc));
}

static void rt_done(struct rt *t)
{
	bcache_free(t->bc);
	env_free(t->env);
	tu_rmrf(t->dir);
	free(t->dir);
}

static char *run_file(struct rt *t, uint64_t file_no)
{
	char name[32];

	snprintf(name, sizeof(name), "%020llu.run", (unsigned long long)file_no);
	return tu_path(t->dir, name);
}

static void write_model(struct env *env, const char *path, uint64_t file_no,
			const struct model *m, uint32_t block_bytes, struct run_meta *meta)
{
	struct run_wopts o = {.block_bytes = block_bytes};
	struct run_writer *w;

	ck_ok(run_writer_open(env, path, file_no, &o, &w));
	for (size_t i = 0; i < m->n; i++)
		expect_rc(run_writer_add(w, &m->v[i]), 0);
	ck_assert_uint_eq(run_writer_entries(w), m->n);
	ck_ok(run_writer_finish(w, meta));
}

static void check_meta(const struct run_meta *meta, const struct model *m, uint64_t file_no,
		       const char *path)
{
	uint64_t kb = 0, vb = 0;
	uint32_t lo = UINT32_MAX, hi = 0;

	for (size_t i = 0; i < m->n; i++) {
		kb += m->v[i].klen;
		vb += m->v[i].vlen;
		lo = m->v[i].n < lo ? m->v[i].n : lo;
		hi = m->v[i].n > hi ? m->v[i].n : hi;
	}
	ck_assert_uint_eq(meta->file_no, file_no);
	ck_assert_uint_eq(meta->entries, m->n);
	ck_assert_uint_eq(meta->key_bytes, kb);
	ck_assert_uint_eq(meta->val_bytes, vb);
	ck_assert_uint_eq(meta->min_n, m->n ? lo : 0);
	ck_assert_uint_eq(meta->max_n, hi);
	ck_assert_int_eq((long long)meta->size, tu_file_size(path));
}

/* ---- TCase run ------------------------------------------------------------------------ */

static void check_iteration(struct run *r, const struct model *m)
{
	struct iiter *it;
	size_t i = 0;

	ck_ok(run_iter_new(r, &it));
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++)
		expect(i < m->n && entry_eq(it->ops->entry(it), &m->v[i]), "entry %zu differs", i);
	ck_assert_uint_eq(i, m->n);
	ck_ok(it->ops->status(it));
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it)) {
		expect(i > 0, "more entries backward than forward");
		i--;
		expect(entry_eq(it->ops->entry(it), &m->v[i]), "entry %zu differs", i);
	}
	ck_assert_uint_eq(i, 0);
	ck_ok(it->ops->status(it));
	it->ops->close(it);
}

/* A seek target: near an entry of the model (maybe altered), or random. */
static uint32_t random_target(uint64_t *s, const struct model *m, uint32_t *store, uint8_t *key,
			      uint32_t *n)
{
	uint32_t klen, r = tu_below(s, 10);
	const struct entry *e = &m->v[tu_below(s, (uint32_t)m->n)];

	*store = tu_below(s, 5);
	*n = tu_below(s, 3) == 0 ? N_MAX : tu_below(s, 3) == 0 ? 0 : tu_below(s, 210);
	if (r < 5) {
		*store = e->store;
		klen = e->klen;
		memcpy(key, e->key, klen);
		if (r == 0)
			*n = e->n;
		else if (r == 1 && klen > 1)
			klen--;
		else if (r == 2)
			key[klen++] = (uint8_t)tu_rand(s);
	} else if (r == 9) {
		klen = 0; /* the first key of the store */
	} else {
		klen = random_key(s, key);
	}
	return klen;
}

static void check_seeks(struct run *r, const struct model *m, uint64_t *s, int rounds)
{
	struct iiter *it;
	uint8_t key[64];

	ck_ok(run_iter_new(r, &it));
	for (int round = 0; round < rounds; round++) {
		uint32_t store, n, klen = random_target(s, m, &store, key, &n);
		size_t want = model_seek(m, store, key, klen, n);

		it->ops->seek(it, store, klen ? key : NULL, klen, n);
		/* Walk a few steps, changing direction at random. */
		for (int step = 0; step < 12; step++) {
			expect(it->ops->valid(it) == (want < m->n), "round %d step %d: valid %d",
			       round, step, it->ops->valid(it));
			expect_rc(it->ops->status(it), 0);
			if (want >= m->n)
				break;
			expect(entry_eq(it->ops->entry(it), &m->v[want]),
			       "round %d step %d: entry %zu differs", round, step, want);
			if (tu_below(s, 2)) {
				it->ops->next(it);
				want++;
			} else {
				it->ops->prev(it);
				want = want ? want - 1 : m->n;
			}
		}
	}
	/* Past the end, and before the beginning. */
	it->ops->seek(it, UINT32_MAX, (const uint8_t *)"\xff\xff", 2, 0);
	ck_assert(!it->ops->valid(it));
	it->ops->seek(it, 0, NULL, 0, N_MAX);
	ck_assert(it->ops->valid(it));
	ck_assert(entry_eq(it->ops->entry(it), &m->v[0]));
	it->ops->close(it);
}

static roaring_bitmap_t *random_anc(uint64_t *s)
{
	roaring_bitmap_t *b = roaring_bitmap_create();
	uint32_t p = tu_below(s, 100);

	for (uint32_t n = 1; n <= 200; n++)
		if (tu_below(s, 100) < p)
			roaring_bitmap_add(b, n);
	return b;
}

static void check_gets(struct run *r, const struct model *m, uint64_t *s, int rounds)
{
	int found = 0;

	for (int round = 0; round < rounds; round++) {
		roaring_bitmap_t *anc = tu_below(s, 5) ? random_anc(s) : NULL;
		uint8_t key[64];
		uint32_t store, n, klen = random_target(s, m, &store, key, &n);
		struct entry e;
		struct block *hold;
		long want;
		int rc;

		if (klen == 0)
			key[klen++] = 'a';
		want = model_get(m, store, key, klen, anc);
		rc = run_get(r, store, key, klen, anc, &e, &hold);
		expect(rc == (want >= 0), "round %d: run_get returned %d, want %d", round, rc,
		       want >= 0);
		if (want >= 0) {
			expect(entry_eq(&e, &m->v[want]), "round %d: entry %ld differs", round,
			       want);
			block_unref(hold);
			found++;
		} else {
			expect(hold == NULL, "round %d: a miss holds a block", round);
		}
		if (anc)
			roaring_bitmap_free(anc);
	}
	ck_assert_int_gt(found, rounds / 10);
}

START_TEST(test_round_trip)
{
	static const uint32_t bsizes[] = {0, 512, 100000};
	uint64_t s = tu_seed(0x5eed0001);
	struct rt t;
	struct model m = {0};

	rt_init(&t, 4u << 20);
	model_random(&m, &s, 3000, 3);
	for (size_t b = 0; b < sizeof(bsizes) / sizeof(bsizes[0]); b++) {
		char *path = run_file(&t, 10 + b);
		struct run_meta meta;
		struct run *r;

		write_model(t.env, path, 10 + b, &m, bsizes[b], &meta);
		check_meta(&meta, &m, 10 + b, path);
		ck_ok(run_open(t.env, path, 10 + b, t.bc, &r));
		check_meta(run_meta(r), &m, 10 + b, path);
		ck_assert_str_eq(run_path(r), path);
		check_iteration(r, &m);
		check_seeks(r, &m, &s, 3000);
		check_gets(r, &m, &s, 3000);
		run_unref(r);
		/* Without a cache as well. */
		ck_ok(run_open(t.env, path, 10 + b, NULL, &r));
		check_iteration(r, &m);
		check_gets(r, &m, &s, 300);
		run_unref(r);
		free(path);
	}
	model_free(&m);
	rt_done(&t);
}
END_TEST

/* Many versions of one key spanning blocks: run_get must look past block boundaries. */
START_TEST(test_versions_across_blocks)
{
	struct rt t;
	struct model m = {0};
	char *path;
	struct run *r;
	struct run_meta meta;
	uint8_t val[100];

	rt_init(&t, 1u << 20);
	memset(val, 'v', sizeof(val));
	model_add(&m, 1, "a", 1, 7, "x", 1, 0);
	for (uint32_t n = 1; n <= 500; n++) {
		val[0] = (uint8_t)n;
		model_add(&m, 1, "key", 3, n, val, sizeof(val), n % 7 == 0);
	}
	model_add(&m, 1, "key0", 4, 3, "y", 1, 0);
	model_sort(&m);
	path = run_file(&t, 1);
	write_model(t.env, path, 1, &m, 256, &meta);
	ck_ok(run_open(t.env, path, 1, t.bc, &r));
	for (uint32_t want = 1; want <= 500; want += 37) {
		roaring_bitmap_t *anc = roaring_bitmap_from_range(0, want + 1, 1);
		struct entry e;
		struct block *hold;

		ck_assert_int_eq(run_get(r, 1, (const uint8_t *)"key", 3, anc, &e, &hold), 1);
		ck_assert_uint_eq(e.n, want);
		ck_assert_int_eq(e.tomb, want % 7 == 0);
		block_unref(hold);
		if (anc)
			roaring_bitmap_free(anc);
	}
	{
		roaring_bitmap_t *anc = roaring_bitmap_from_range(1000, 1001, 1);
		struct entry e;
		struct block *hold;

		ck_assert_int_eq(run_get(r, 1, (const uint8_t *)"key", 3, anc, &e, &hold), 0);
		ck_assert_ptr_null(hold);
		ck_assert_int_eq(run_get(r, 1, (const uint8_t *)"ke", 2, NULL, &e, &hold), 0);
		ck_assert_int_eq(run_get(r, 0, (const uint8_t *)"key", 3, NULL, &e, &hold), 0);
		ck_assert_int_eq(run_get(r, 1, (const uint8_t *)"key0", 4, anc, &e, &hold), 0);
		if (anc)
			roaring_bitmap_free(anc);
	}
	check_iteration(r, &m);
	run_unref(r);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

START_TEST(test_empty_run)
{
	struct rt t;
	struct run_writer *w;
	struct run_meta meta;
	struct run *r;
	struct iiter *it;
	struct entry e;
	struct block *hold;
	char *path;

	rt_init(&t, 1u << 20);
	path = run_file(&t, 3);
	ck_ok(run_writer_open(t.env, path, 3, NULL, &w));
	ck_ok(run_writer_finish(w, &meta));
	ck_assert_uint_eq(meta.entries, 0);
	ck_ok(run_open(t.env, path, 3, t.bc, &r));
	ck_assert_uint_eq(run_meta(r)->entries, 0);
	ck_assert_int_eq(run_get(r, 0, (const uint8_t *)"k", 1, NULL, &e, &hold), 0);
	ck_assert_ptr_null(hold);
	ck_ok(run_iter_new(r, &it));
	it->ops->first(it);
	ck_assert(!it->ops->valid(it));
	it->ops->last(it);
	ck_assert(!it->ops->valid(it));
	it->ops->seek(it, 0, NULL, 0, N_MAX);
	ck_assert(!it->ops->valid(it));
	ck_ok(it->ops->status(it));
	it->ops->close(it);
	run_unref(r);
	/* The file number is checked. */
	ck_rc(run_open(t.env, path, 4, t.bc, &r), IODB_ECORRUPT);
	ck_msg_has(path);
	free(path);
	rt_done(&t);
}
END_TEST

static struct entry ent(uint32_t store, const char *key, uint32_t n)
{
	return (struct entry){.store = store, .n = n, .key = (const uint8_t *)key,
			      .klen = (uint32_t)strlen(key), .val = (const uint8_t *)"v",
			      .vlen = 1};
}

static int add(struct run_writer *w, uint32_t store, const char *key, uint32_t n)
{
	struct entry e = ent(store, key, n);

	return run_writer_add(w, &e);
}

START_TEST(test_writer_order)
{
	struct rt t;
	struct run_writer *w;
	struct run_meta meta;
	struct entry e;
	char *path;

	rt_init(&t, 1u << 20);
	path = run_file(&t, 5);
	ck_ok(run_writer_open(t.env, path, 5, NULL, &w));
	ck_rc(run_writer_open(t.env, path, 6, NULL, &(struct run_writer *){NULL}), IODB_EINVAL);
	ck_ok(add(w, 1, "b", 5));
	ck_rc(add(w, 1, "a", 9), IODB_EINVAL);
	ck_rc(add(w, 1, "b", 5), IODB_EINVAL);
	ck_rc(add(w, 1, "b", 6), IODB_EINVAL);
	ck_rc(add(w, 0, "z", 1), IODB_EINVAL);
	ck_rc(add(w, 1, "", 1), IODB_EINVAL);
	e = ent(1, "c", 1);
	e.vlen = IODB_MAX_VALUE + 1;
	ck_rc(run_writer_add(w, &e), IODB_EINVAL);
	ck_ok(add(w, 1, "b", 4));
	ck_ok(add(w, 1, "ba", 9));
	ck_ok(add(w, 2, "a", 1));
	ck_assert_uint_eq(run_writer_entries(w), 4);
	ck_ok(run_writer_finish(w, &meta));
	ck_assert_uint_eq(meta.entries, 4);
	ck_assert_uint_eq(meta.min_n, 1);
	ck_assert_uint_eq(meta.max_n, 9);
	/* Abort removes the file. */
	free(path);
	path = run_file(&t, 6);
	ck_ok(run_writer_open(t.env, path, 6, NULL, &w));
	ck_ok(add(w, 1, "b", 5));
	ck_assert_int_ge(tu_file_size(path), 0);
	run_writer_abort(w);
	ck_assert_int_eq(tu_file_size(path), -1);
	free(path);
	rt_done(&t);
}
END_TEST

/* Fail the kth write (or sync) for every k: an error, and no file left. */
START_TEST(test_writer_faults)
{
	uint64_t s = tu_seed(0x5eed0002);
	struct rt t;
	struct model m = {0};
	char *path;
	uint64_t writes = 0, syncs = 0;

	rt_init(&t, 1u << 20);
	model_random(&m, &s, 2000, 3);
	path = run_file(&t, 7);
	for (int op = ENV_OP_WRITE; op <= ENV_OP_SYNC; op++) {
		for (uint64_t k = 1;; k++) {
			struct run_wopts o = {.block_bytes = 4096};
			struct run_writer *w;
			struct run_meta meta;
			int rc = 0;

			env_fail_nth(t.env, (enum env_op)op, k);
			ck_ok(run_writer_open(t.env, path, 7, &o, &w));
			for (size_t i = 0; i < m.n && rc == 0; i++)
				rc = run_writer_add(w, &m.v[i]);
			if (rc == 0 || k % 2) {
				int frc = run_writer_finish(w, &meta);

				rc = rc ? rc : frc;
				if (rc)
					ck_assert_int_eq(frc, rc);
			} else {
				run_writer_abort(w);
			}
			env_fail_nth(t.env, (enum env_op)op, 0);
			if (rc == 0) {
				struct run *r;

				ck_assert_uint_gt(k, 1);
				ck_ok(run_open(t.env, path, 7, t.bc, &r));
				check_iteration(r, &m);
				run_set_obsolete(r);
				run_unref(r);
				break;
			}
			ck_assert_int_eq(rc, IODB_EIO);
			ck_msg_has("injected");
			ck_assert_msg(tu_file_size(path) == -1, "k=%llu: file left behind",
				      (unsigned long long)k);
			if (op == ENV_OP_WRITE)
				writes = k;
			else
				syncs = k;
		}
	}
	ck_assert_uint_ge(writes, 3); /* the faults did land at several points */
	ck_assert_uint_ge(syncs, 1);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

START_TEST(test_obsolete)
{
	struct rt t;
	struct model m = {0};
	struct run_meta meta;
	struct run *r;
	struct iiter *it;
	char *path;

	rt_init(&t, 1u << 20);
	model_add(&m, 0, "k", 1, 1, "v", 1, 0);
	path = run_file(&t, 8);
	write_model(t.env, path, 8, &m, 0, &meta);

	/* Not obsolete: the file stays. */
	ck_ok(run_open(t.env, path, 8, t.bc, &r));
	run_unref(r);
	ck_assert_int_gt(tu_file_size(path), 0);

	/* Obsolete: removed with the last reference, which an iterator holds here. */
	ck_ok(run_open(t.env, path, 8, t.bc, &r));
	run_ref(r);
	ck_ok(run_iter_new(r, &it));
	run_set_obsolete(r);
	run_unref(r);
	run_unref(r);
	ck_assert_int_gt(tu_file_size(path), 0);
	it->ops->first(it);
	ck_assert(it->ops->valid(it));
	ck_assert(entry_eq(it->ops->entry(it), &m.v[0]));
	it->ops->close(it);
	ck_assert_int_eq(tu_file_size(path), -1);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

/* 100,000 absent keys between present ones: under 3% may cost a block read. */
START_TEST(test_filter)
{
	struct rt t;
	struct run_writer *w;
	struct run_meta meta;
	struct run *r;
	char *path, key[16];
	uint64_t before, reads;
	const uint32_t nkeys = 100000;

	rt_init(&t, 64u << 20);
	path = run_file(&t, 9);
	ck_ok(run_writer_open(t.env, path, 9, NULL, &w));
	for (uint32_t i = 0; i < nkeys; i++) {
		struct entry e = {.store = 0, .n = 1, .key = (uint8_t *)key, .klen = 9,
				  .val = (const uint8_t *)"12345678", .vlen = 8};

		snprintf(key, sizeof(key), "k%08u", 2 * i);
		expect_rc(run_writer_add(w, &e), 0);
	}
	ck_ok(run_writer_finish(w, &meta));
	ck_ok(run_open(t.env, path, 9, t.bc, &r));

	before = bcache_hits(t.bc) + bcache_misses(t.bc);
	for (uint32_t i = 0; i < nkeys; i++) {
		struct entry e;
		struct block *hold;

		snprintf(key, sizeof(key), "k%08u", 2 * i);
		expect_rc(run_get(r, 0, (uint8_t *)key, 9, NULL, &e, &hold), 1);
		expect(memcmp(e.key, key, 9) == 0, "key %s: wrong entry", key);
		block_unref(hold);
	}
	/* The counter sees every block access. */
	ck_assert_uint_ge(bcache_hits(t.bc) + bcache_misses(t.bc) - before, nkeys);

	before = bcache_hits(t.bc) + bcache_misses(t.bc);
	for (uint32_t i = 0; i < nkeys; i++) {
		struct entry e;
		struct block *hold;

		snprintf(key, sizeof(key), "k%08u", 2 * i + 1);
		expect_rc(run_get(r, 0, (uint8_t *)key, 9, NULL, &e, &hold), 0);
	}
	reads = bcache_hits(t.bc) + bcache_misses(t.bc) - before;
	fprintf(stderr, "filter: %llu of %u absent keys read a block\n",
		(unsigned long long)reads, nkeys);
	ck_assert_uint_lt(reads, nkeys * 3 / 100);
	run_unref(r);
	free(path);
	rt_done(&t);
}
END_TEST

/* ---- Threads -------------------------------------------------------------------------- */

struct reader {
	struct run *r;
	const struct model *m;
	uint64_t seed;
	int bad, ops;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	const struct model *m = rd->m;
	uint64_t s = rd->seed;
	struct iiter *it;

	if (run_iter_new(rd->r, &it)) {
		rd->bad++;
		return NULL;
	}
	for (int round = 0; round < 1500; round++) {
		const struct entry *x = &m->v[tu_below(&s, (uint32_t)m->n)];
		roaring_bitmap_t *anc = tu_below(&s, 3) ? random_anc(&s) : NULL;
		long want = model_get(m, x->store, x->key, x->klen, anc);
		size_t at = model_seek(m, x->store, x->key, x->klen, x->n);
		struct entry e;
		struct block *hold;
		int rc = run_get(rd->r, x->store, x->key, x->klen, anc, &e, &hold);

		if (anc)
			roaring_bitmap_free(anc);
		if (rc != (want >= 0) || (rc == 1 && !entry_eq(&e, &m->v[want])))
			rd->bad++;
		if (rc == 1)
			block_unref(hold);
		it->ops->seek(it, x->store, x->key, x->klen, x->n);
		for (int k = 0; k < 8 && at < m->n; k++, at++) {
			if (!it->ops->valid(it) || !entry_eq(it->ops->entry(it), &m->v[at]))
				rd->bad++;
			it->ops->next(it);
		}
		rd->ops++;
	}
	it->ops->close(it);
	return NULL;
}

START_TEST(test_threads)
{
	uint64_t s = tu_seed(0x5eed0003);
	struct rt t;
	struct model m = {0};
	struct run_meta meta;
	struct run *r;
	struct reader rd[4];
	pthread_t th[4];
	char *path;

	rt_init(&t, 48u << 10); /* far smaller than the run: blocks come and go */
	model_random(&m, &s, 5000, 0);
	path = run_file(&t, 11);
	write_model(t.env, path, 11, &m, 1024, &meta);
	ck_ok(run_open(t.env, path, 11, t.bc, &r));
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){.r = r, .m = &m, .seed = s + (uint64_t)i * 7919};
		ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(rd[i].bad, 0);
		ck_assert_int_eq(rd[i].ops, 1500);
	}
	ck_assert_uint_gt(bcache_hits(t.bc), 0);
	run_unref(r);
	ck_assert_uint_le(bcache_bytes(t.bc), 48u << 10);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

/* ---- TCase corrupt -------------------------------------------------------------------- */

/*
 * Open a damaged copy and read all of it: every answer must be the model's or
 * IODB_ECORRUPT naming the file. Returns whether the damage was caught.
 */
static int read_damaged(struct rt *t, const char *path, uint64_t file_no,
			const struct model *m)
{
	struct block_cache *bc;
	struct run *r;
	struct iiter *it;
	int caught = 0, rc;
	size_t i = 0;

	(void)t;
	/* A cache of its own: blocks of an earlier damaged copy must not be found. */
	expect_rc(bcache_new(2u << 20, &bc), 0);
	if ((rc = run_open(t->env, path, file_no, bc, &r)) != 0) {
		expect_rc(rc, IODB_ECORRUPT);
		expect_msg_has(path);
		expect_msg_has("offset");
		bcache_free(bc);
		return 1;
	}
	expect_rc(run_iter_new(r, &it), 0);
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++)
		expect(i < m->n && entry_eq(it->ops->entry(it), &m->v[i]), "entry %zu wrong", i);
	if (i < m->n) {
		expect_rc(it->ops->status(it), IODB_ECORRUPT);
		expect_msg_has(path);
		caught = 1;
	} else {
		expect_rc(it->ops->status(it), 0);
	}
	it->ops->close(it);
	for (size_t j = 0; j < m->n; j++) {
		const struct entry *x = &m->v[j];
		struct entry e;
		struct block *hold;

		if (j && m->v[j - 1].store == x->store &&
		    key_cmp(m->v[j - 1].key, m->v[j - 1].klen, x->key, x->klen) == 0)
			continue;
		rc = run_get(r, x->store, x->key, x->klen, NULL, &e, &hold);
		if (rc == IODB_ECORRUPT) {
			expect_msg_has(path);
			caught = 1;
			continue;
		}
		expect(rc == 1 && entry_eq(&e, x), "entry %zu: run_get returned %d", j, rc);
		block_unref(hold);
	}
	run_unref(r);
	bcache_free(bc);
	return caught;
}

static int size_cmp_desc(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* A run of a few blocks, some compressed and some stored raw. */
static void model_small(struct model *m, uint64_t *s)
{
	uint8_t key[40], val[200];

	for (uint32_t i = 0; i < 60; i++) {
		uint32_t klen = random_key(s, key), vlen = tu_below(s, 120);

		if (i % 3)
			fill_random(s, val, vlen);
		else
			memset(val, 'c', vlen);
		model_add(m, tu_below(s, 2), key, klen, 1 + tu_below(s, 9), val, vlen, i % 11 == 0);
	}
	model_sort(m);
}

/* Set byte off of the file at path to v, in place. */
static void poke(const char *path, size_t off, uint8_t v)
{
	int fd = open(path, O_WRONLY);

	expect(fd >= 0 && pwrite(fd, &v, 1, (off_t)off) == 1, "cannot write %s", path);
	close(fd);
}

/* Flip one bit of each byte (or of `samples` random ones), then cut at each length (or at
 * samples / 8 random ones, shortest last). */
static void damage_loop(struct rt *t, const struct model *m, uint32_t bsize, uint64_t *s,
			size_t samples)
{
	char *path = run_file(t, 12);
	struct run_meta meta;
	unsigned char *orig;
	size_t size, ncut;
	size_t *cuts;

	write_model(t->env, path, 12, m, bsize, &meta);
	ck_assert_int_eq(tu_read_file(path, &orig, &size), 0);
	for (size_t k = 0; k < (samples ? samples : size); k++) {
		size_t off = samples ? tu_below(s, (uint32_t)size) : k;

		poke(path, off, orig[off] ^ (uint8_t)(1u << (k % 8)));
		expect(read_damaged(t, path, 12, m), "flip at %zu went unnoticed", off);
		poke(path, off, orig[off]);
	}
	/* Undamaged, it reads back whole. */
	ck_assert_int_eq(read_damaged(t, path, 12, m), 0);
	ncut = samples ? samples / 8 : size;
	cuts = malloc(ncut * sizeof(*cuts));
	for (size_t k = 0; k < ncut; k++)
		cuts[k] = samples ? tu_below(s, (uint32_t)size) : k;
	qsort(cuts, ncut, sizeof(*cuts), size_cmp_desc);
	for (size_t k = 0; k < ncut; k++) {
		expect(truncate(path, (off_t)cuts[k]) == 0, "cannot truncate %s", path);
		expect(read_damaged(t, path, 12, m), "cut at %zu went unnoticed", cuts[k]);
	}
	free(cuts);
	free(orig);
	free(path);
}

START_TEST(test_flip_every_byte)
{
	uint64_t s = tu_seed(0x5eed0004);
	struct rt t;
	struct model m = {0};

	rt_init(&t, 0);
	model_small(&m, &s);
	damage_loop(&t, &m, 600, &s, 0);
	model_free(&m);
	rt_done(&t);
}
END_TEST

START_TEST(test_flip_sampled_large)
{
	uint64_t s = tu_seed(0x5eed0005);
	struct rt t;
	struct model m = {0};

	rt_init(&t, 0);
	model_random(&m, &s, 300, 1);
	damage_loop(&t, &m, 4096, &s, 2000);
	model_free(&m);
	rt_done(&t);
}
END_TEST

/* ---- TCase hostile: well-checksummed files that lie -------------------------------- */

/* docs/format.md, "Run files": the footer names (offset u64, size u32, crc u32) of the
 * filter, index and meta blocks at 0, 16 and 32; its own CRC covers bytes [0, 60). */
#define FOOTER 64

struct crafted {
	uint8_t *p;
	size_t size;
};

struct irec {
	uint64_t store, klen, n, off, stored, usize, count;
	const uint8_t *key;
};

static uint64_t uv(const uint8_t **p)
{
	uint64_t v = 0;

	for (unsigned shift = 0;; shift += 7) {
		uint8_t c = *(*p)++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
}

static void fix_footer(uint8_t *f)
{
	put_u32(f + 60, crc_mask(crc32c(f, 60)));
}

/* The index records of a run image; returns their number. */
static uint32_t index_decode(const struct crafted *c, struct irec *v, uint32_t max)
{
	const uint8_t *f = c->p + c->size - FOOTER, *p = c->p + get_u64(f + 16);
	uint32_t n = get_u32(p + get_u32(f + 24) - 4);

	ck_assert_uint_le(n, max);
	for (uint32_t i = 0; i < n; i++) {
		v[i].store = uv(&p);
		v[i].klen = uv(&p);
		v[i].key = p;
		p += v[i].klen;
		v[i].n = uv(&p);
		v[i].off = uv(&p);
		v[i].stored = uv(&p);
		v[i].usize = uv(&p);
		v[i].count = uv(&p);
	}
	return n;
}

/* Write c to path with its index replaced by v[0..n), laid out and checksummed anew. */
static void index_write(const struct crafted *c, const struct irec *v, uint32_t n,
			const char *path)
{
	const uint8_t *f = c->p + c->size - FOOTER;
	uint64_t ioff = get_u64(f + 16), moff = get_u64(f + 32);
	uint32_t mlen = get_u32(f + 40);
	struct buf b;
	uint8_t foot[FOOTER];

	buf_init(&b);
	ck_ok(buf_append(&b, c->p, ioff));
	for (uint32_t i = 0; i < n; i++) {
		buf_put_uvarint(&b, v[i].store);
		buf_put_uvarint(&b, v[i].klen);
		buf_append(&b, v[i].key, v[i].klen);
		buf_put_uvarint(&b, v[i].n);
		buf_put_uvarint(&b, v[i].off);
		buf_put_uvarint(&b, v[i].stored);
		buf_put_uvarint(&b, v[i].usize);
		buf_put_uvarint(&b, v[i].count);
	}
	buf_put_u32(&b, n);
	memcpy(foot, f, FOOTER);
	put_u32(foot + 24, (uint32_t)(b.len - ioff));
	put_u32(foot + 28, crc_mask(crc32c(b.p + ioff, b.len - ioff)));
	put_u64(foot + 32, b.len);
	ck_ok(buf_append(&b, c->p + moff, mlen));
	fix_footer(foot);
	ck_ok(buf_append(&b, foot, FOOTER));
	ck_assert_int_eq(tu_write_file(path, b.p, b.len), 0);
	buf_free(&b);
}

START_TEST(test_hostile_index)
{
	uint64_t s = tu_seed(0x5eed0008);
	struct rt t;
	struct model m = {0};
	struct run_meta meta;
	struct crafted c;
	struct irec v[64], w[64];
	uint32_t n;
	char *path;

	rt_init(&t, 0);
	model_small(&m, &s);
	path = run_file(&t, 12);
	write_model(t.env, path, 12, &m, 600, &meta);
	ck_assert_int_eq(tu_read_file(path, &c.p, &c.size), 0);
	n = index_decode(&c, v, 64);
	ck_assert_uint_ge(n, 4);
	/* Re-encoded unchanged, it reads back whole: the test's encoder is right. */
	index_write(&c, v, n, path);
	ck_assert_int_eq(read_damaged(&t, path, 12, &m), 0);
	for (int k = 0; k < 9; k++) {
		uint32_t wn = n;

		memcpy(w, v, sizeof(v));
		switch (k) {
		case 0: w[1].off++; break;			/* a gap between blocks */
		case 1: w[0].stored = w[0].usize + 1; break;	/* stored larger than plain */
		case 2: w[0] = v[1], w[1] = v[0]; break;		/* out of order */
		case 3: w[0].count++; break;			/* entries != meta's */
		case 4: w[n - 1].n = meta.max_n + 1; break;	/* n out of the run's range */
		case 5: w[2].usize++; break;			/* block size wrong */
		case 6: wn--; break;				/* a block missing */
		case 7: w[1].n = v[1].n ? v[1].n - 1 : 1; break; /* last key not the block's */
		case 8: w[0].count = 0; break;
		}
		index_write(&c, w, wn, path);
		ck_assert_msg(read_damaged(&t, path, 12, &m), "index lie %d went unnoticed", k);
	}
	free(c.p);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

/*
 * One raw block of three entries (docs/format.md, "Data blocks"):
 *   0: shared 0, unshared 4, store 0, n 5, vtag 21, "key1", 20 value bytes (29 bytes)
 *  29: shared 4, unshared 0, store 0, n 3, vtag 21, 20 value bytes           (25 bytes)
 *  54: shared 3, unshared 1, store 0, n 1, vtag 21, "2", 20 value bytes      (26 bytes)
 *  80: offsets 0, 29, 54; 92: count 3; 96: type 0, CRC.
 * Each lie is written with a good CRC and must still be caught.
 */
START_TEST(test_hostile_block)
{
	static const struct {
		uint32_t at;
		uint8_t v;
	} lies[] = {
		{29 + 3, 7},  /* n 3 -> 7: out of order */
		{29, 5},      /* shared beyond the previous key */
		{0, 1},	      /* the first entry shares a prefix */
		{84, 28},     /* an offset that is not the entry's */
		{92, 2},      /* count 2 */
		{92, 4},      /* count 4 */
		{58, 22},     /* a value running into the next entry */
		{58, 20},     /* one ending short: stray bytes */
		{2, 1},	      /* store 1 before store 0 */
		{57, 9},      /* last entry not the index's */
		{3, 0x80},    /* a varint running on */
		{96, 1},      /* "LZ4" that is not */
		{96, 7},      /* an unknown type */
		{1, 0},	      /* an empty key */
	};
	struct rt t;
	struct model m = {0};
	struct run_meta meta;
	uint8_t val[60], *p;
	uint64_t s = 42;
	size_t size;
	char *path;

	rt_init(&t, 0);
	fill_random(&s, val, sizeof(val)); /* incompressible: the block is stored raw */
	model_add(&m, 0, "key1", 4, 5, val, 20, 0);
	model_add(&m, 0, "key1", 4, 3, val + 20, 20, 0);
	model_add(&m, 0, "key2", 4, 1, val + 40, 20, 0);
	path = run_file(&t, 12);
	write_model(t.env, path, 12, &m, 0, &meta);
	ck_assert_int_eq(tu_read_file(path, &p, &size), 0);
	ck_assert_uint_eq(p[3], 5);
	ck_assert_uint_eq(p[29], 4);
	ck_assert_uint_eq(p[57], 1);
	ck_assert_uint_eq(get_u32(p + 84), 29);
	ck_assert_uint_eq(get_u32(p + 92), 3);
	ck_assert_uint_eq(p[96], 0);
	ck_assert_uint_eq(get_u32(p + 97), crc_mask(crc32c(p, 97)));
	for (size_t k = 0; k < sizeof(lies) / sizeof(lies[0]); k++) {
		uint8_t old = p[lies[k].at];

		p[lies[k].at] = lies[k].v;
		put_u32(p + 97, crc_mask(crc32c(p, 97)));
		ck_assert_int_eq(tu_write_file(path, p, size), 0);
		ck_assert_msg(read_damaged(&t, path, 12, &m), "block lie %zu went unnoticed", k);
		p[lies[k].at] = old;
	}
	put_u32(p + 97, crc_mask(crc32c(p, 97)));
	ck_assert_int_eq(tu_write_file(path, p, size), 0);
	ck_assert_int_eq(read_damaged(&t, path, 12, &m), 0);
	free(p);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

/* ---- TCase bcache --------------------------------------------------------------------- */

START_TEST(test_cache_budget)
{
	uint64_t s = tu_seed(0x5eed0006);
	const uint64_t cap = 64u << 10, slack = 16u << 10; /* one 1 KiB block decoded */
	struct rt t;
	struct model m = {0};
	struct run_meta meta;
	struct run *r;
	struct iiter *it, *pin;
	struct entry held_e, pinned;
	struct block *held;
	uint64_t peak = 0;
	char *path;
	size_t i = 0;

	rt_init(&t, cap);
	model_random(&m, &s, 3000, 0);
	path = run_file(&t, 14);
	write_model(t.env, path, 14, &m, 1024, &meta);
	ck_assert_uint_gt(meta.size, 4 * cap);
	ck_ok(run_open(t.env, path, 14, t.bc, &r));

	/* A block pinned by an iterator and one by run_get, then the whole run read through. */
	ck_ok(run_iter_new(r, &pin));
	pin->ops->first(pin);
	pinned = *pin->ops->entry(pin);
	ck_assert_int_eq(run_get(r, m.v[m.n / 2].store, m.v[m.n / 2].key, m.v[m.n / 2].klen,
				 NULL, &held_e, &held),
			 1);
	ck_ok(run_iter_new(r, &it));
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++) {
		uint64_t b = bcache_bytes(t.bc);

		peak = b > peak ? b : peak;
		expect(b <= cap + 3 * slack, "%llu bytes cached", (unsigned long long)b);
	}
	ck_assert_uint_eq(i, m.n);
	ck_assert_uint_gt(peak, cap / 2);
	/* Evicted long ago, still intact (ASan would see a use after free). */
	ck_assert(entry_eq(&pinned, &m.v[0]));
	ck_assert(entry_eq(pin->ops->entry(pin), &m.v[0]));
	ck_assert(entry_eq(&held_e, &m.v[model_get(&m, held_e.store, held_e.key, held_e.klen,
						   NULL)]));
	pin->ops->next(pin);
	ck_assert(entry_eq(pin->ops->entry(pin), &m.v[1]));
	block_unref(held);
	pin->ops->close(pin);
	it->ops->close(it);
	ck_assert_uint_le(bcache_bytes(t.bc), cap);
	run_unref(r);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

START_TEST(test_cache_hits_and_zero)
{
	uint64_t s = tu_seed(0x5eed0007);
	struct model m = {0};
	struct rt t;
	struct block_cache *zero;
	struct run_meta meta;
	struct run *r, *r0;
	struct entry e;
	struct block *hold, *hold2;
	char *path;
	const struct entry *x;

	rt_init(&t, 1u << 20);
	model_random(&m, &s, 500, 0);
	x = &m.v[m.n / 3];
	path = run_file(&t, 15);
	write_model(t.env, path, 15, &m, 1024, &meta);
	ck_ok(run_open(t.env, path, 15, t.bc, &r));
	ck_assert_int_eq(run_get(r, x->store, x->key, x->klen, NULL, &e, &hold), 1);
	ck_assert_uint_eq(bcache_hits(t.bc), 0);
	ck_assert_uint_eq(bcache_misses(t.bc), 1);
	ck_assert_int_eq(run_get(r, x->store, x->key, x->klen, NULL, &e, &hold2), 1);
	ck_assert_uint_eq(bcache_hits(t.bc), 1);
	ck_assert_ptr_eq(hold, hold2);
	block_unref(hold);
	block_unref(hold2);
	ck_assert_uint_gt(bcache_bytes(t.bc), 0);
	run_unref(r);

	/* Capacity 0: nothing kept, blocks freed by their last user. */
	ck_ok(bcache_new(0, &zero));
	ck_ok(run_open(t.env, path, 15, zero, &r0));
	ck_assert_int_eq(run_get(r0, x->store, x->key, x->klen, NULL, &e, &hold), 1);
	ck_assert_int_eq(run_get(r0, x->store, x->key, x->klen, NULL, &e, &hold2), 1);
	ck_assert_ptr_ne(hold, hold2);
	ck_assert_uint_gt(bcache_bytes(zero), 0);
	block_unref(hold);
	block_unref(hold2);
	ck_assert_uint_eq(bcache_bytes(zero), 0);
	check_iteration(r0, &m);
	ck_assert_uint_eq(bcache_hits(zero), 0);
	ck_assert_uint_eq(bcache_bytes(zero), 0);
	run_unref(r0);
	bcache_free(zero);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

/* A compaction's pass (run_scan_new) reads every entry in order, uses blocks the cache has,
 * and leaves the cache as it found it; a reader's iterator fills it. */
START_TEST(test_scan_bypasses_cache)
{
	uint64_t s = tu_seed(0x5eed0008);
	struct model m = {0};
	struct rt t;
	struct run_meta meta;
	struct run *r;
	struct iiter *it;
	struct entry e;
	struct block *hold;
	uint64_t n = 0, hits;
	char *path;
	const struct entry *x;

	rt_init(&t, 8u << 20);
	model_random(&m, &s, 800, 0);
	path = run_file(&t, 16);
	write_model(t.env, path, 16, &m, 1024, &meta);
	ck_ok(run_open(t.env, path, 16, t.bc, &r));
	x = &m.v[m.n / 2];
	ck_assert_int_eq(run_get(r, x->store, x->key, x->klen, NULL, &e, &hold), 1);
	block_unref(hold);
	ck_assert_uint_gt(bcache_bytes(t.bc), 0);
	{
		uint64_t before = bcache_bytes(t.bc);

		ck_ok(run_scan_new(r, &it));
		for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
			const struct entry *y = it->ops->entry(it);

			ck_assert_int_eq(entry_cmp(y->store, y->key, y->klen, y->n, m.v[n].store,
						   m.v[n].key, m.v[n].klen, m.v[n].n), 0);
			n++;
		}
		ck_ok(it->ops->status(it));
		it->ops->close(it);
		ck_assert_uint_eq(n, m.n);
		ck_assert_uint_eq(bcache_bytes(t.bc), before); /* nothing added */
	}
	hits = bcache_hits(t.bc);
	ck_assert_uint_ge(hits, 1); /* the block run_get loaded was used */
	check_iteration(r, &m); /* a reader's iterator fills the cache */
	ck_assert_uint_gt(bcache_bytes(t.bc), meta.size / 2);
	run_unref(r);
	free(path);
	model_free(&m);
	rt_done(&t);
}
END_TEST

static Suite *shards_suite(void)
{
	Suite *s = suite_create("shards");
	TCase *tc;

	tc = tcase_create("run");
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_versions_across_blocks);
	tcase_add_test(tc, test_empty_run);
	tcase_add_test(tc, test_writer_order);
	tcase_add_test(tc, test_writer_faults);
	tcase_add_test(tc, test_obsolete);
	tcase_add_test(tc, test_filter);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("corrupt");
	tcase_add_test(tc, test_flip_every_byte);
	tcase_add_test(tc, test_flip_sampled_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_test(tc, test_hostile_index);
	tcase_add_test(tc, test_hostile_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("bcache");
	tcase_add_test(tc, test_cache_budget);
	tcase_add_test(tc, test_cache_hits_and_zero);
	tcase_add_test(tc, test_scan_bypasses_cache);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(shards_suite());
}
