/*
 * test_threads.c — suite "db_threads": one handle used from many threads at once.
 *
 *   writers     4 writers x 200 updates while 2 readers loop on get, snapshots, iterators and
 *               the version list: every update OK, all keys and versions there in one linear
 *               chain, and no reader ever sees a torn state
 *   same_vid    2 threads commit the same ID at once (a third keeps the leader busy, so
 *               they often share a group): exactly one OK, one IODB_EEXIST
 *   mixture     updates, rollbacks, checkouts, cleans and readers together: no deadlock, no
 *               error beyond the documented ones, a consistent version graph that a reopen
 *               reproduces exactly
 *
 * Threads never call Check's assertions (they are not thread-safe): they record the first
 * failure, and the main thread asserts that there was none. Nothing here depends on timing:
 * whether group commit happened is printed, never asserted. Must be TSan-clean.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define NWRITERS 4
#define NUPDATES 200
#define NREADERS 2

/* ---- Failure recording ---------------------------------------------------------------- */

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int nfail;
static char fail_msg[1024];

__attribute__((format(printf, 1, 2))) static void tfail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&fail_mu);
	if (atomic_fetch_add(&nfail, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(fail_msg, sizeof(fail_msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&fail_mu);
}

static void reset_failures(void)
{
	atomic_store(&nfail, 0);
	fail_msg[0] = '\0';
}

static void assert_no_failures(void)
{
	pthread_mutex_lock(&fail_mu);
	ck_assert_msg(atomic_load(&nfail) == 0, "%d failures in threads; first: %s",
		      atomic_load(&nfail), fail_msg);
	pthread_mutex_unlock(&fail_mu);
}

/* ---- Version lists -------------------------------------------------------------------- */


static long vl_index(const struct tu_vlist *l, const void *vid, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].vidlen == len && memcmp(l->v[i].vid, vid, len) == 0)
			return (long)i;
	return -1;
}

/*
 * A well-formed graph: one root (no parent), every other version's parent listed before it
 * with height one less, no ID twice. Returns NULL or what is wrong.
 */
static const char *vl_check_tree(const struct tu_vlist *l)
{
	static __thread char why[256];
	size_t roots = 0;

	for (size_t i = 0; i < l->n; i++) {
		const struct tu_vrec *r = &l->v[i];
		long p;

		if (vl_index(l, r->vid, r->vidlen) != (long)i)
			return "an ID is listed twice";
		if (!r->has_parent) {
			roots++;
			continue;
		}
		p = vl_index(l, r->parent, r->parentlen);
		if (p < 0 || (size_t)p >= i) {
			snprintf(why, sizeof(why), "%.*s: parent %.*s not listed before it",
				 (int)r->vidlen, r->vid, (int)r->parentlen, r->parent);
			return why;
		}
		if (l->v[p].height + 1 != r->height) {
			snprintf(why, sizeof(why), "%.*s: height %llu, parent's %llu", (int)r->vidlen,
				 r->vid, (unsigned long long)r->height,
				 (unsigned long long)l->v[p].height);
			return why;
		}
	}
	if (l->n && roots != 1)
		return "not exactly one version without a retained parent";
	return NULL;
}

/* "name": <number> in the stats JSON, or -1. */
static long long json_number(const char *json, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", name);
	if (!(p = strstr(json, pat)))
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* ---- writers: 4 writers, 2 readers ---------------------------------------------------- */

struct shared {
	iodb *db;
	atomic_int writers_left;
	pthread_barrier_t start;
};

struct writer_arg {
	struct shared *sh;
	int id;
};

/* Every tenth update also writes key "n" into a store of its own, "s<i>-<j>". */
static void *writer_main(void *p)
{
	struct writer_arg *a = p;
	iodb_batch *b = NULL;

	if (iodb_batch_new(&b) != 0) {
		tfail("writer %d: batch_new", a->id);
		atomic_fetch_sub(&a->sh->writers_left, 1);
		return NULL;
	}
	pthread_barrier_wait(&a->sh->start);
	for (int j = 0; j < NUPDATES; j++) {
		char key[32], val[16], vid[32], store[32];
		int rc;

		snprintf(key, sizeof(key), "t%d-%d", a->id, j);
		snprintf(val, sizeof(val), "%d", j);
		snprintf(vid, sizeof(vid), "w%d-%d", a->id, j);
		iodb_batch_clear(b);
		rc = iodb_batch_put(b, NULL, key, strlen(key), val, strlen(val));
		if (rc == 0 && j % 10 == 0) {
			snprintf(store, sizeof(store), "s%d-%d", a->id, j);
			rc = iodb_batch_put(b, store, "n", 1, val, strlen(val));
		}
		if (rc == 0)
			rc = iodb_update(a->sh->db, vid, strlen(vid), b);
		if (rc != 0)
			tfail("writer %d: update %s: %s (%s)", a->id, vid, iodb_strerror(rc),
			     iodb_errmsg());
	}
	iodb_batch_free(b);
	atomic_fetch_sub(&a->sh->writers_left, 1);
	return NULL;
}

/* Parse "t<i>-<j>" (klen bytes); 0 on success. */
static int parse_tkey(const void *k, size_t klen, int *i, int *j)
{
	char buf[32];
	char *end;

	if (klen < 4 || klen >= sizeof(buf) || ((const char *)k)[0] != 't')
		return -1;
	memcpy(buf, k, klen);
	buf[klen] = '\0';
	*i = (int)strtol(buf + 1, &end, 10);
	if (*end != '-')
		return -1;
	*j = (int)strtol(end + 1, &end, 10);
	return *end == '\0' && *i >= 0 && *i < NWRITERS && *j >= 0 && *j < NUPDATES ? 0 : -1;
}

/* Expect key in snapshot s (or at the head) to read its writer's value ("<j>"). */
static int read_expect(iodb *db, iodb_snapshot *s, const char *store, const char *key,
		       const char *want, const char *what)
{
	void *val = NULL;
	size_t vlen = 0;
	int rc = s ? iodb_snapshot_get(s, store, key, strlen(key), &val, &vlen)
		   : iodb_get(db, store, key, strlen(key), &val, &vlen);

	if (rc == IODB_NOTFOUND && !want)
		return 0;
	if (rc != 0) {
		tfail("%s: %s:%s: %s%s", what, store ? store : "", key, iodb_strerror(rc),
		     want ? " (should be there)" : "");
		return -1;
	}
	if (!want || vlen != strlen(want) || memcmp(val, want, vlen) != 0) {
		tfail("%s: %s:%s reads %.*s, want %s", what, store ? store : "", key, (int)vlen,
		     (char *)val, want ? want : "(absent)");
		iodb_free(val);
		return -1;
	}
	iodb_free(val);
	return 0;
}

/*
 * One consistent look through an iterator: the keys of each writer must be exactly
 * t<i>-0 .. t<i>-(c-1); point reads in the same snapshot must agree at the boundary.
 */
static void check_prefixes(iodb *db, iodb_snapshot *s, int *counts)
{
	iodb_iter *it = NULL;
	unsigned char seen[NWRITERS][NUPDATES];
	int rc, total = 0, back = 0;

	memset(seen, 0, sizeof(seen));
	if ((rc = iodb_iter_open(db, s, NULL, &it)) != 0) {
		tfail("iter_open: %s", iodb_strerror(rc));
		return;
	}
	for (rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it)) {
		const void *k, *v;
		size_t kl, vl;
		int i, j;
		char want[16];

		if (iodb_iter_key(it, &k, &kl) || iodb_iter_value(it, &v, &vl) ||
		    parse_tkey(k, kl, &i, &j)) {
			tfail("iterator: a key that no writer wrote (%zu bytes)", kl);
			break;
		}
		snprintf(want, sizeof(want), "%d", j);
		if (vl != strlen(want) || memcmp(v, want, vl) != 0)
			tfail("iterator: t%d-%d has a wrong value", i, j);
		if (seen[i][j]++)
			tfail("iterator: t%d-%d seen twice", i, j);
		total++;
	}
	if (rc != IODB_NOTFOUND)
		tfail("iterator stopped with %s", iodb_strerror(rc));
	/* Backward over the same pinned view: the same number of keys. */
	for (rc = iodb_iter_last(it); rc == 0; rc = iodb_iter_prev(it))
		back++;
	if (rc != IODB_NOTFOUND || back != total)
		tfail("backward scan saw %d keys, forward %d", back, total);
	iodb_iter_close(it);

	for (int i = 0; i < NWRITERS; i++) {
		int c = 0;

		while (c < NUPDATES && seen[i][c])
			c++;
		for (int j = c; j < NUPDATES; j++)
			if (seen[i][j]) {
				tfail("torn state: t%d-%d visible without t%d-%d", i, j, i, c);
				break;
			}
		counts[i] = c;
		if (s) {
			char key[32], want[16];

			if (c > 0) {
				snprintf(key, sizeof(key), "t%d-%d", i, c - 1);
				snprintf(want, sizeof(want), "%d", c - 1);
				read_expect(db, s, NULL, key, want, "snapshot vs its iterator");
			}
			if (c < NUPDATES) {
				snprintf(key, sizeof(key), "t%d-%d", i, c);
				read_expect(db, s, NULL, key, NULL, "snapshot vs its iterator");
			}
		}
	}
}

struct reader_arg {
	struct shared *sh;
	int id;
	long loops;
};

static void *reader_main(void *p)
{
	struct reader_arg *a = p;
	iodb *db = a->sh->db;
	uint64_t seed = 0x5eed + (uint64_t)a->id;
	int last_counts[NWRITERS] = {0};

	pthread_barrier_wait(&a->sh->start);
	for (long loop = 0; atomic_load(&a->sh->writers_left) > 0 || loop < 10; loop++) {
		iodb_snapshot *s = NULL;
		int counts[NWRITERS];
		void *vid = NULL;
		size_t vidlen = 0;
		int rc, i, j;
		char key[32], want[16], store[32];

		a->loops++;
		/* Point reads at the head: absent, or the writer's value. */
		for (int k = 0; k < 20; k++) {
			void *val = NULL;
			size_t vlen;

			i = (int)tu_below(&seed, NWRITERS);
			j = (int)tu_below(&seed, NUPDATES);
			snprintf(key, sizeof(key), "t%d-%d", i, j);
			snprintf(want, sizeof(want), "%d", j);
			rc = iodb_get(db, NULL, key, strlen(key), &val, &vlen);
			if (rc == 0 && (vlen != strlen(want) || memcmp(val, want, vlen) != 0))
				tfail("get %s: wrong value", key);
			else if (rc != 0 && rc != IODB_NOTFOUND)
				tfail("get %s: %s", key, iodb_strerror(rc));
			iodb_free(val);
		}

		/* A snapshot of the head: prefixes only, never going back in time. */
		if ((rc = iodb_snapshot_open(db, NULL, 0, &s)) != 0) {
			tfail("snapshot_open: %s", iodb_strerror(rc));
			continue;
		}
		check_prefixes(db, s, counts);
		iodb_snapshot_close(s);
		for (i = 0; i < NWRITERS; i++) {
			if (counts[i] < last_counts[i])
				tfail("reader %d: writer %d went back from %d to %d keys", a->id, i,
				     last_counts[i], counts[i]);
			last_counts[i] = counts[i];
		}
		/* An iterator on the head (s = NULL) alone. */
		check_prefixes(db, NULL, counts);

		/* The head's ID names a version whose own key (and store) is readable, in a
		 * snapshot of that version and at the head. */
		if ((rc = iodb_head(db, &vid, &vidlen)) == 0) {
			char buf[64];

			snprintf(buf, sizeof(buf), "%.*s", (int)vidlen, (char *)vid);
			if (sscanf(buf, "w%d-%d", &i, &j) != 2) {
				tfail("head %s is no writer's ID", buf);
			} else if ((rc = iodb_snapshot_open(db, vid, vidlen, &s)) != 0) {
				tfail("snapshot_open(head %s): %s", buf, iodb_strerror(rc));
			} else {
				snprintf(key, sizeof(key), "t%d-%d", i, j);
				snprintf(want, sizeof(want), "%d", j);
				read_expect(db, s, NULL, key, want, "snapshot at the head's ID");
				if (j % 10 == 0) {
					snprintf(store, sizeof(store), "s%d-%d", i, j);
					read_expect(db, s, store, "n", want,
						    "snapshot at the head's ID, its new store");
				}
				iodb_snapshot_close(s);
				read_expect(db, NULL, NULL, key, want, "get after iodb_head");
			}
			iodb_free(vid);
		} else if (rc != IODB_NOTFOUND) {
			tfail("iodb_head: %s", iodb_strerror(rc));
		}

		/* Now and then: the version list is one chain; stats parse. */
		if (loop % 8 == 0) {
			struct tu_vlist l = {0};
			const char *why;

			if ((rc = iodb_versions(db, tu_collect_version, &l)) != 0)
				tfail("iodb_versions: %s", iodb_strerror(rc));
			else if ((why = vl_check_tree(&l)) != NULL)
				tfail("version list: %s", why);
			for (size_t k = 1; k < l.n; k++)
				if (l.v[k].parentlen != l.v[k - 1].vidlen ||
				    memcmp(l.v[k].parent, l.v[k - 1].vid, l.v[k].parentlen) != 0) {
					tfail("version list is not one chain at %zu", k);
					break;
				}
			free(l.v);
		}
		if (loop % 16 == 0) {
			char *json = NULL;

			if ((rc = iodb_stats(db, &json)) != 0 || json_number(json, "commits") < 0)
				tfail("iodb_stats: %s", iodb_strerror(rc));
			iodb_free(json);
		}
	}
	return NULL;
}

START_TEST(test_writers_readers)
{
	char *dir = tu_tmpdir("threads");
	struct shared sh;
	pthread_t wt[NWRITERS], rt[NREADERS];
	struct writer_arg wa[NWRITERS];
	struct reader_arg ra[NREADERS];
	struct tu_vlist l = {0};
	char *json = NULL;
	long pos[NWRITERS];
	void *vid;
	size_t vidlen;

	reset_failures();
	memset(&sh, 0, sizeof(sh));
	ck_ok(iodb_open(dir, NULL, &sh.db));
	atomic_init(&sh.writers_left, NWRITERS);
	pthread_barrier_init(&sh.start, NULL, NWRITERS + NREADERS);
	for (int i = 0; i < NWRITERS; i++) {
		wa[i].sh = &sh;
		wa[i].id = i;
		ck_assert_int_eq(pthread_create(&wt[i], NULL, writer_main, &wa[i]), 0);
	}
	for (int i = 0; i < NREADERS; i++) {
		ra[i].sh = &sh;
		ra[i].id = i;
		ra[i].loops = 0;
		ck_assert_int_eq(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
	}
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(wt[i], NULL);
	for (int i = 0; i < NREADERS; i++)
		pthread_join(rt[i], NULL);
	pthread_barrier_destroy(&sh.start);
	assert_no_failures();

	/* Every key, at the head and in a snapshot; the readers' checks once more, quietly. */
	for (int i = 0; i < NWRITERS; i++)
		for (int j = 0; j < NUPDATES; j++) {
			char key[32], want[16], store[32];

			snprintf(key, sizeof(key), "t%d-%d", i, j);
			snprintf(want, sizeof(want), "%d", j);
			read_expect(sh.db, NULL, NULL, key, want, "final");
			if (j % 10 == 0) {
				snprintf(store, sizeof(store), "s%d-%d", i, j);
				read_expect(sh.db, NULL, store, "n", want, "final");
			}
		}
	{
		int counts[NWRITERS];

		check_prefixes(sh.db, NULL, counts);
		for (int i = 0; i < NWRITERS; i++)
			ck_assert_int_eq(counts[i], NUPDATES);
	}
	assert_no_failures();

	/* 800 versions in one chain: heights 1..800, each parent the one before. */
	ck_ok(iodb_versions(sh.db, tu_collect_version, &l));
	ck_assert_uint_eq(l.n, NWRITERS * NUPDATES);
	ck_assert_msg(vl_check_tree(&l) == NULL, "%s", vl_check_tree(&l));
	ck_assert_int_eq(l.v[0].has_parent, 0);
	for (size_t k = 0; k < l.n; k++) {
		ck_assert_uint_eq(l.v[k].height, k + 1);
		if (k)
			ck_assert_msg(l.v[k].parentlen == l.v[k - 1].vidlen &&
					      memcmp(l.v[k].parent, l.v[k - 1].vid,
						     l.v[k].parentlen) == 0,
				      "version %zu's parent is not version %zu", k, k - 1);
	}
	/* Each writer's versions in its own order along the chain. */
	for (int i = 0; i < NWRITERS; i++)
		pos[i] = -1;
	for (size_t k = 0; k < l.n; k++) {
		int i, j;
		char buf[64];

		snprintf(buf, sizeof(buf), "%.*s", (int)l.v[k].vidlen, l.v[k].vid);
		ck_assert_int_eq(sscanf(buf, "w%d-%d", &i, &j), 2);
		ck_assert(i >= 0 && i < NWRITERS);
		ck_assert_msg(j == pos[i] + 1, "writer %d: version %d follows %ld", i, j, pos[i]);
		pos[i] = j;
	}
	ck_ok(iodb_head(sh.db, &vid, &vidlen));
	ck_assert(vidlen == l.v[l.n - 1].vidlen && memcmp(vid, l.v[l.n - 1].vid, vidlen) == 0);
	iodb_free(vid);
	free(l.v);

	ck_ok(iodb_stats(sh.db, &json));
	ck_assert_int_eq(json_number(json, "commits"), NWRITERS * NUPDATES);
	ck_assert_int_eq(json_number(json, "versions"), NWRITERS * NUPDATES);
	ck_assert_int_le(json_number(json, "commit_groups"), NWRITERS * NUPDATES);
	ck_assert_int_ge(json_number(json, "commit_groups"), 1);
	fprintf(stderr, "writers: %d commits in %lld groups (group commit %s); readers looped %ld and "
			"%ld times\n",
		NWRITERS * NUPDATES, json_number(json, "commit_groups"),
		json_number(json, "commit_groups") < NWRITERS * NUPDATES ? "seen" : "not seen",
		ra[0].loops, ra[1].loops);
	iodb_free(json);

	/* The same after a reopen. */
	ck_ok(iodb_close(sh.db));
	ck_ok(iodb_open(dir, NULL, &sh.db));
	memset(&l, 0, sizeof(l));
	ck_ok(iodb_versions(sh.db, tu_collect_version, &l));
	ck_assert_uint_eq(l.n, NWRITERS * NUPDATES);
	ck_assert_msg(vl_check_tree(&l) == NULL, "%s", vl_check_tree(&l));
	ck_assert_uint_eq(l.v[l.n - 1].height, NWRITERS * NUPDATES);
	free(l.v);
	{
		int counts[NWRITERS];

		check_prefixes(sh.db, NULL, counts);
		for (int i = 0; i < NWRITERS; i++)
			ck_assert_int_eq(counts[i], NUPDATES);
	}
	assert_no_failures();
	ck_ok(iodb_close(sh.db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- same_vid ------------------------------------------------------------------------- */

#define ROUNDS 60

struct same_arg {
	iodb *db;
	pthread_barrier_t *bar;
	int id;
	int rc[ROUNDS];
};

/*
 * Threads 0 and 1 commit "same<r>" in round r. Thread 2 commits "blk<r>" with a large value
 * at the same moment: when it leads, 0 and 1 queue behind it and often land in one group,
 * so the leader's within-group duplicate check is exercised as well as the lookup.
 */
static void *same_main(void *p)
{
	struct same_arg *a = p;
	iodb_batch *b = NULL;
	char key[8], val[16], vid[16];
	static char big[256 << 10];

	if (iodb_batch_new(&b) != 0) {
		tfail("batch_new");
		return NULL;
	}
	snprintf(key, sizeof(key), "by%d", a->id);
	for (int r = 0; r < ROUNDS; r++) {
		iodb_batch_clear(b);
		snprintf(val, sizeof(val), "%d", r);
		snprintf(vid, sizeof(vid), a->id == 2 ? "blk%d" : "same%d", r);
		if (iodb_batch_put(b, NULL, key, strlen(key), a->id == 2 ? big : val,
				   a->id == 2 ? sizeof(big) : strlen(val)) != 0)
			tfail("batch_put");
		pthread_barrier_wait(a->bar);
		a->rc[r] = iodb_update(a->db, vid, strlen(vid), b);
		if (a->rc[r] == IODB_EEXIST && iodb_errmsg()[0] == '\0')
			tfail("round %d: EEXIST without a message on thread %d", r, a->id);
		if (a->id == 2 && a->rc[r] != 0)
			tfail("round %d: %s: %s", r, vid, iodb_strerror(a->rc[r]));
	}
	iodb_batch_free(b);
	return NULL;
}

START_TEST(test_same_vid)
{
	char *dir = tu_tmpdir("threads");
	pthread_barrier_t bar;
	struct same_arg a[3];
	pthread_t t[3];
	iodb *db = NULL;
	iodb_options o;
	int wins[2] = {0, 0};

	reset_failures();
	/* sync off for one half: different timing, more chances of one group holding both. */
	for (int pass = 0; pass < 2; pass++) {
		iodb_options_init(&o);
		o.sync = pass == 0;
		ck_ok(iodb_open(dir, &o, &db));
		pthread_barrier_init(&bar, NULL, 3);
		for (int i = 0; i < 3; i++) {
			memset(&a[i], 0, sizeof(a[i]));
			a[i].db = db;
			a[i].bar = &bar;
			a[i].id = i;
			ck_assert_int_eq(pthread_create(&t[i], NULL, same_main, &a[i]), 0);
		}
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
		assert_no_failures();
		for (int r = 0; r < ROUNDS; r++) {
			char vid[16], key[8], want[16];
			iodb_snapshot *s = NULL;
			int w = a[0].rc[r] == IODB_OK ? 0 : 1;

			ck_assert_msg((a[0].rc[r] == IODB_OK && a[1].rc[r] == IODB_EEXIST) ||
					      (a[0].rc[r] == IODB_EEXIST && a[1].rc[r] == IODB_OK),
				      "pass %d round %d: results %d and %d", pass, r, a[0].rc[r],
				      a[1].rc[r]);
			wins[w]++;
			/* The version holds the winner's write, not the loser's. */
			snprintf(vid, sizeof(vid), "same%d", r);
			snprintf(want, sizeof(want), "%d", r);
			ck_ok(iodb_snapshot_open(db, vid, strlen(vid), &s));
			snprintf(key, sizeof(key), "by%d", w);
			read_expect(db, s, NULL, key, want, "winner");
			{
				void *val = NULL;
				size_t vlen = 0;

				snprintf(key, sizeof(key), "by%d", 1 - w);
				if (iodb_snapshot_get(s, NULL, key, strlen(key), &val, &vlen) == 0)
					ck_assert_msg(vlen != strlen(want) ||
							      memcmp(val, want, vlen) != 0,
						      "round %d: the loser's write landed", r);
				iodb_free(val);
			}
			iodb_snapshot_close(s);
		}
		assert_no_failures();
		{
			struct tu_vlist l = {0};

			ck_ok(iodb_versions(db, tu_collect_version, &l));
			ck_assert_uint_eq(l.n, 2 * ROUNDS);
			ck_assert_msg(vl_check_tree(&l) == NULL, "%s", vl_check_tree(&l));
			free(l.v);
		}
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
		dir = tu_tmpdir("threads");
	}
	fprintf(stderr, "same_vid: thread 0 won %d rounds, thread 1 won %d\n", wins[0], wins[1]);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- mixture -------------------------------------------------------------------------- */

#define MIX_THREADS 4
#define MIX_OPS 100

struct mix_arg {
	iodb *db;
	pthread_barrier_t *bar;
	int id;
	uint64_t seed;
	int counts[10];
};

/* A version ID some thread may have committed (or not yet, or discarded). */
static void random_vid(uint64_t *seed, char *vid, size_t size)
{
	snprintf(vid, size, "m%u-%u", tu_below(seed, MIX_THREADS), tu_below(seed, MIX_OPS));
}

static void *mix_main(void *p)
{
	struct mix_arg *a = p;
	iodb *db = a->db;
	iodb_batch *b = NULL;

	if (iodb_batch_new(&b) != 0) {
		tfail("batch_new");
		return NULL;
	}
	pthread_barrier_wait(a->bar);
	for (int k = 0; k < MIX_OPS; k++) {
		char vid[32], key[16], val[16];
		int op = (int)tu_below(&a->seed, 10), rc = 0;
		iodb_snapshot *s = NULL;
		iodb_iter *it = NULL;

		switch (op) {
		case 0:
		case 1:
		case 2:
		case 3: /* update: IDs are unique, so only OK will do */
			snprintf(vid, sizeof(vid), "m%d-%d", a->id, k);
			snprintf(key, sizeof(key), "m%d", a->id);
			snprintf(val, sizeof(val), "%d", k);
			iodb_batch_clear(b);
			rc = iodb_batch_put(b, NULL, key, strlen(key), val, strlen(val));
			if (rc == 0 && k % 5 == 0) {
				char store[16];

				snprintf(store, sizeof(store), "x%d", k);
				rc = iodb_batch_put(b, store, key, strlen(key), val, strlen(val));
			}
			if (rc == 0)
				rc = iodb_update(db, vid, strlen(vid), b);
			if (rc != 0)
				tfail("update %s: %s (%s)", vid, iodb_strerror(rc), iodb_errmsg());
			break;
		case 4: /* rollback */
			random_vid(&a->seed, vid, sizeof(vid));
			rc = iodb_rollback(db, vid, strlen(vid));
			if (rc != 0 && rc != IODB_NOTFOUND)
				tfail("rollback %s: %s", vid, iodb_strerror(rc));
			break;
		case 5: /* checkout */
			random_vid(&a->seed, vid, sizeof(vid));
			rc = iodb_checkout(db, vid, strlen(vid));
			if (rc != 0 && rc != IODB_NOTFOUND)
				tfail("checkout %s: %s", vid, iodb_strerror(rc));
			break;
		case 6: /* clean */
			rc = iodb_clean(db, 1 + tu_below(&a->seed, 12));
			if (rc != 0)
				tfail("clean: %s", iodb_strerror(rc));
			break;
		case 7: /* a snapshot of some version: its own key reads its own value */
			random_vid(&a->seed, vid, sizeof(vid));
			rc = iodb_snapshot_open(db, vid, strlen(vid), &s);
			if (rc == 0) {
				unsigned t, j;
				char store[16];

				sscanf(vid, "m%u-%u", &t, &j);
				snprintf(key, sizeof(key), "m%u", t);
				snprintf(val, sizeof(val), "%u", j);
				read_expect(db, s, NULL, key, val, "mixture snapshot");
				if (j % 5 == 0) {
					snprintf(store, sizeof(store), "x%u", j);
					read_expect(db, s, store, key, val,
						    "mixture snapshot, new store");
				}
				iodb_snapshot_close(s);
			} else if (rc != IODB_NOTFOUND) {
				tfail("snapshot_open %s: %s", vid, iodb_strerror(rc));
			}
			break;
		case 8: /* scan the head both ways */
			if ((rc = iodb_iter_open(db, NULL, NULL, &it)) != 0) {
				tfail("iter_open: %s", iodb_strerror(rc));
				break;
			} else {
				int fw = 0, bw = 0;

				for (rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it))
					fw++;
				if (rc == IODB_NOTFOUND)
					for (rc = iodb_iter_last(it); rc == 0;
					     rc = iodb_iter_prev(it))
						bw++;
				if (rc != IODB_NOTFOUND || fw != bw || fw > MIX_THREADS)
					tfail("scan: rc %d, %d keys forward, %d back", rc, fw, bw);
				iodb_iter_close(it);
			}
			break;
		case 9: { /* the version list and the head */
			struct tu_vlist l = {0};
			const char *why;
			void *h = NULL;
			size_t hl;

			if ((rc = iodb_versions(db, tu_collect_version, &l)) != 0)
				tfail("versions: %s", iodb_strerror(rc));
			else if ((why = vl_check_tree(&l)) != NULL)
				tfail("version list: %s", why);
			free(l.v);
			rc = iodb_head(db, &h, &hl);
			if (rc != 0 && rc != IODB_NOTFOUND)
				tfail("head: %s", iodb_strerror(rc));
			iodb_free(h);
			break;
		}
		}
		a->counts[op]++;
	}
	iodb_batch_free(b);
	return NULL;
}

/* Versions, head, and at every version the default store's contents. */
static char *mix_digest(iodb *db)
{
	struct tu_vlist l = {0};
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	void *h;
	size_t hl;

	out[0] = '\0';
	ck_ok(iodb_versions(db, tu_collect_version, &l));
	if (iodb_head(db, &h, &hl) == 0) {
		len += (size_t)snprintf(out + len, cap - len, "head %.*s\n", (int)hl, (char *)h);
		iodb_free(h);
	}
	for (size_t i = 0; i < l.n; i++) {
		iodb_snapshot *s = NULL;
		iodb_iter *it = NULL;
		int rc;

		if (cap - len < 4096)
			out = realloc(out, cap *= 2);
		len += (size_t)snprintf(out + len, cap - len, "%.*s <- %.*s h%llu:", (int)l.v[i].vidlen,
					l.v[i].vid, (int)l.v[i].parentlen, l.v[i].parent,
					(unsigned long long)l.v[i].height);
		ck_ok(iodb_snapshot_open(db, l.v[i].vid, l.v[i].vidlen, &s));
		ck_ok(iodb_iter_open(db, s, NULL, &it));
		for (rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it)) {
			const void *k, *v;
			size_t kl, vl;

			ck_ok(iodb_iter_key(it, &k, &kl));
			ck_ok(iodb_iter_value(it, &v, &vl));
			len += (size_t)snprintf(out + len, cap - len, " %.*s=%.*s", (int)kl,
						(const char *)k, (int)vl, (const char *)v);
		}
		ck_rc(rc, IODB_NOTFOUND);
		iodb_iter_close(it);
		iodb_snapshot_close(s);
		len += (size_t)snprintf(out + len, cap - len, "\n");
	}
	free(l.v);
	return out;
}

START_TEST(test_mixture)
{
	char *dir = tu_tmpdir("threads"), *before, *after;
	uint64_t seed = tu_seed(0x3141);
	pthread_barrier_t bar;
	struct mix_arg a[MIX_THREADS];
	pthread_t t[MIX_THREADS];
	int totals[10] = {0};
	struct tu_vlist l = {0};
	iodb *db = NULL;

	reset_failures();
	ck_ok(iodb_open(dir, NULL, &db));
	pthread_barrier_init(&bar, NULL, MIX_THREADS);
	for (int i = 0; i < MIX_THREADS; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].db = db;
		a[i].bar = &bar;
		a[i].id = i;
		a[i].seed = tu_rand(&seed) | 1;
		ck_assert_int_eq(pthread_create(&t[i], NULL, mix_main, &a[i]), 0);
	}
	for (int i = 0; i < MIX_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&bar);
	assert_no_failures();
	for (int i = 0; i < MIX_THREADS; i++)
		for (int k = 0; k < 10; k++)
			totals[k] += a[i].counts[k];
	fprintf(stderr,
		"mixture: %d updates, %d rollbacks, %d checkouts, %d cleans, %d snapshots, "
		"%d scans, %d listings\n",
		totals[0] + totals[1] + totals[2] + totals[3], totals[4], totals[5], totals[6],
		totals[7], totals[8], totals[9]);

	/* A consistent graph with the head in it. */
	ck_ok(iodb_versions(db, tu_collect_version, &l));
	ck_assert_uint_gt(l.n, 0);
	ck_assert_msg(vl_check_tree(&l) == NULL, "%s", vl_check_tree(&l));
	{
		void *h;
		size_t hl;

		ck_ok(iodb_head(db, &h, &hl));
		ck_assert_int_ge(vl_index(&l, h, hl), 0);
		iodb_free(h);
	}
	free(l.v);
	/* Replay reproduces exactly what the live store did. */
	before = mix_digest(db);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, NULL, &db));
	after = mix_digest(db);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- discarded: Merkle reads at versions a clean or rollback discards ----------------- */

/*
 * Readers ask for hashes and proofs at versions of the round the writer is committing, while
 * the writer rolls back and cleans most of each round away, snapshots and flushes (so the
 * journal segments behind the discarded versions are released under the readers). A read
 * at a version discarded under it must say IODB_NOTFOUND; any other error is a failure.
 */
#define DIS_ROUNDS 40
#define DIS_PER_ROUND 64
#define DIS_READERS 2
#define DIS_KEYS 4
#define DIS_WINDOW 32 /* MERKLE_WINDOW */

struct dis_shared {
	iodb *db;
	atomic_int round, committed, done;
	atomic_long reads, notfound;
};

static void *dis_reader(void *p)
{
	struct dis_shared *sh = p;
	uint64_t seed = tu_seed(0x5eed) ^ (uint64_t)(uintptr_t)&seed;

	while (!atomic_load(&sh->done) && atomic_load(&nfail) == 0) {
		int round = atomic_load(&sh->round), j, rc;
		char vid[32], key[16];
		uint8_t hash[32];
		void *proof = NULL;
		size_t plen = 0;

		/* The round's oldest versions: retained until the round ends, and past the
		 * window of versions that keep their roots, so every read rebuilds them. */
		if ((j = atomic_load(&sh->committed) - DIS_WINDOW) <= 0) {
			usleep(100); /* nothing to rebuild yet: leave the CPU to the writer */
			continue;
		}
		j = (int)tu_below(&seed, (uint32_t)j);
		snprintf(vid, sizeof(vid), "d%d-%d", round, j);
		snprintf(key, sizeof(key), "k%u", tu_below(&seed, DIS_KEYS));
		switch (tu_below(&seed, 3)) {
		case 0:
			rc = iodb_commit_hash(sh->db, vid, strlen(vid), hash);
			break;
		case 1:
			rc = iodb_root_hash(sh->db, vid, strlen(vid), NULL, hash);
			break;
		default:
			rc = iodb_prove(sh->db, vid, strlen(vid), NULL, key, strlen(key), &proof,
					&plen);
			iodb_free(proof);
			break;
		}
		if (rc != 0 && rc != IODB_NOTFOUND)
			tfail("reading %s: %s (%s)", vid, iodb_strerror(rc), iodb_errmsg());
		/* Not "the journal segment ... was released" or "....log: no such file". */
		if (rc == IODB_NOTFOUND && strstr(iodb_errmsg(), "journal"))
			tfail("reading %s: not found, but blaming the journal: %s", vid,
			      iodb_errmsg());
		atomic_fetch_add(&sh->reads, 1);
		if (rc == IODB_NOTFOUND)
			atomic_fetch_add(&sh->notfound, 1);
	}
	return NULL;
}

START_TEST(test_discarded_under_reader)
{
	char *dir = tu_tmpdir("threads-dis");
	struct dis_shared sh = {0};
	pthread_t t[DIS_READERS];
	iodb_options o;
	iodb_batch *b = NULL;
	int rc = 0;

	reset_failures();
	iodb_options_init(&o);
	o.sync = 0;
	o.journal_segment_bytes = 4096; /* a segment every few versions: released often */
	o.memtable_bytes = 64 << 10;
	o.snapshot_interval = 16; /* the journal hold follows the base's snapshot */
	o.incremental_snapshot_interval = 0;
	o.snapshot_keep_recent = 0;
	ck_ok(iodb_open(dir, &o, &sh.db));
	ck_ok(iodb_batch_new(&b));
	for (int i = 0; i < DIS_READERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, dis_reader, &sh), 0);
	for (int r = 0; r < DIS_ROUNDS && rc == 0 && atomic_load(&nfail) == 0; r++) {
		char vid[32], key[16], val[32];

		atomic_store(&sh.round, r);
		for (int j = 0; j < DIS_PER_ROUND && rc == 0; j++) {
			iodb_batch_clear(b);
			for (int k = 0; k < DIS_KEYS && rc == 0; k++) {
				snprintf(key, sizeof(key), "k%d", k);
				snprintf(val, sizeof(val), "r%d-%d-%d", r, j, k);
				rc = iodb_batch_put(b, NULL, key, strlen(key), val, strlen(val));
			}
			snprintf(vid, sizeof(vid), "d%d-%d", r, j);
			if (rc == 0)
				rc = iodb_update(sh.db, vid, strlen(vid), b);
			atomic_store(&sh.committed, j);
		}
		/* Discard the round's tail, then all but its last version before that. */
		snprintf(vid, sizeof(vid), "d%d-%d", r, DIS_PER_ROUND - 9);
		if (rc == 0)
			rc = iodb_rollback(sh.db, vid, strlen(vid));
		if (rc == 0)
			rc = iodb_clean(sh.db, 1);
		if (rc == 0)
			rc = iodb_merkle_snapshot(sh.db, 1);
		if (rc == 0)
			rc = iodb_flush(sh.db);
		atomic_store(&sh.committed, 0); /* the round is gone: readers wait */
	}
	atomic_store(&sh.done, 1);
	for (int i = 0; i < DIS_READERS; i++)
		pthread_join(t[i], NULL);
	ck_ok(rc);
	assert_no_failures();
	fprintf(stderr, "discarded: %ld reads, %ld of discarded versions\n",
		(long)atomic_load(&sh.reads), (long)atomic_load(&sh.notfound));
	iodb_batch_free(b);
	ck_ok(iodb_close(sh.db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

Suite *threads_suite(void);
Suite *threads_suite(void)
{
	Suite *s = suite_create("db_threads");
	TCase *tc;

	tc = tcase_create("writers");
	tcase_add_test(tc, test_writers_readers);
	suite_add_tcase(s, tc);

	tc = tcase_create("same_vid");
	tcase_add_test(tc, test_same_vid);
	suite_add_tcase(s, tc);

	tc = tcase_create("mixture");
	tcase_add_test(tc, test_mixture);
	suite_add_tcase(s, tc);

	tc = tcase_create("discarded");
	tcase_add_test(tc, test_discarded_under_reader);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(threads_suite());
}
