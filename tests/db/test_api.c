/*
 * test_api.c — suite "db_api": the public API of iodb.h, function by function, against
 * exactly what its comments promise.
 *
 *   args        every bad argument: IODB_EINVAL (or the documented code) and an error text
 *   basic       put/get/del, empty values, batches, stores, head, EEXIST, limits, key order
 *   versions    rollback, checkout/branches, iodb_versions, clean, keep_versions, reopen
 *   snapshots   pinned views through later writes, rollback, clean, checkout; close EBUSY
 *   iter        scans against a sorted reference, seeks, direction changes, pinning
 *   lock        one handle per directory (in-process and across fork), create_if_missing
 *   errmsg      iodb_errmsg(): set by every failure, kept by every success; callbacks
 *               that stop a call (IODB_ECANCELED)
 *   durability  close/reopen with sync on and off, small journal segments; iodb_stats
 *
 * Every check names exact values, so a wrong answer fails. Scratch directories come from
 * tu_tmpdir and are removed at the end of each test.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/base.h" /* err_clear(): so that "left an error text" can fail */
#include "testutil.h"

/* ---- Helpers -------------------------------------------------------------------------- */

static iodb *xopen(const char *dir, const iodb_options *o)
{
	iodb *db = NULL;

	ck_ok(iodb_open(dir, o, &db));
	ck_assert_ptr_nonnull(db);
	return db;
}

static void xclose(iodb *db)
{
	ck_ok(iodb_close(db));
}

/* Assert that call returns want and leaves a non-empty iodb_errmsg(). */
#define ck_fail_msg(call, want)                                                            \
	do {                                                                               \
		err_clear();                                                               \
		ck_rc(call, want);                                                         \
		ck_assert_msg(iodb_errmsg()[0] != '\0', "%s: iodb_errmsg() is empty", #call); \
	} while (0)
#define ck_einval(call) ck_fail_msg(call, IODB_EINVAL)

/*
 * Add one operation written as text: "+key=val", "+store:key=val", "-key", "-store:key".
 * A value "~" stands for NULL with length 0 (an empty value).
 */
static void add_op(iodb_batch *b, const char *op)
{
	char buf[512], *store = NULL, *key, *val = NULL, *colon, *eq;

	ck_assert(strlen(op) < sizeof(buf));
	strcpy(buf, op + 1);
	key = buf;
	if (op[0] == '+' && (eq = strchr(buf, '='))) {
		*eq = '\0';
		val = eq + 1;
	}
	if ((colon = strchr(key, ':'))) {
		*colon = '\0';
		store = key;
		key = colon + 1;
	}
	if (op[0] == '+') {
		ck_assert_ptr_nonnull(val);
		if (strcmp(val, "~") == 0)
			ck_ok(iodb_batch_put(b, store, key, strlen(key), NULL, 0));
		else
			ck_ok(iodb_batch_put(b, store, key, strlen(key), val, strlen(val)));
	} else {
		ck_assert_int_eq(op[0], '-');
		ck_ok(iodb_batch_del(b, store, key, strlen(key)));
	}
}

/* Commit the NULL-terminated list of operations as version vid; returns iodb_update's rc. */
static int commit_rc(iodb *db, const char *vid, ...)
{
	iodb_batch *b = NULL;
	const char *op;
	va_list ap;
	int rc;

	ck_ok(iodb_batch_new(&b));
	va_start(ap, vid);
	while ((op = va_arg(ap, const char *)) != NULL)
		add_op(b, op);
	va_end(ap);
	rc = iodb_update(db, vid, strlen(vid), b);
	iodb_batch_free(b);
	return rc;
}
#define commit(db, ...) ck_ok(commit_rc(db, __VA_ARGS__, (const char *)NULL))

/* Value of key at the head (s NULL) or in snapshot s, as a NUL-terminated copy, or NULL. */
static char *read_kv(iodb *db, iodb_snapshot *s, const char *store, const char *key)
{
	void *val = (void *)0x1;
	size_t vlen = 12345;
	char *out;
	int rc = s ? iodb_snapshot_get(s, store, key, strlen(key), &val, &vlen)
		   : iodb_get(db, store, key, strlen(key), &val, &vlen);

	if (rc == IODB_NOTFOUND) {
		ck_assert_msg(val == (void *)0x1 && vlen == 12345,
			      "NOTFOUND must leave the out-parameters untouched");
		return NULL;
	}
	ck_assert_msg(rc == 0, "get %s:%s: %s %s", store ? store : "", key, iodb_strerror(rc),
		      iodb_errmsg());
	ck_assert_ptr_nonnull(val);
	out = malloc(vlen + 1);
	memcpy(out, val, vlen);
	out[vlen] = '\0';
	iodb_free(val);
	return out;
}

/* Expect key (optionally "store:key") to read want (NULL: absent). */
static void expect_at(int line, iodb *db, iodb_snapshot *s, const char *skey, const char *want)
{
	char store[80] = "", *got;
	const char *key = skey, *colon = strchr(skey, ':');

	if (colon) {
		memcpy(store, skey, (size_t)(colon - skey));
		store[colon - skey] = '\0';
		key = colon + 1;
	}
	got = read_kv(db, s, colon ? store : NULL, key);
	ck_assert_msg((want == NULL && got == NULL) ||
			      (want && got && strcmp(want, got) == 0),
		      "line %d: %s%s reads %s%s%s, want %s%s%s", line, skey, s ? " (snapshot)" : "",
		      got ? "\"" : "", got ? got : "(absent)", got ? "\"" : "", want ? "\"" : "",
		      want ? want : "(absent)", want ? "\"" : "");
	free(got);
}
#define expect(db, key, want) expect_at(__LINE__, (db), NULL, (key), (want))
#define expect_snap(s, key, want) expect_at(__LINE__, NULL, (s), (key), (want))

/* Expect `key` to read `want` in the snapshot of version vid (opened and closed here). */
static void expect_ver_at(int line, iodb *db, const char *vid, const char *key, const char *want)
{
	iodb_snapshot *s = NULL;
	int rc = iodb_snapshot_open(db, vid, strlen(vid), &s);

	ck_assert_msg(rc == 0, "line %d: snapshot_open(%s): %s", line, vid, iodb_strerror(rc));
	expect_at(line, NULL, s, key, want);
	iodb_snapshot_close(s);
}
#define expect_ver(db, vid, key, want) expect_ver_at(__LINE__, (db), (vid), (key), (want))

static void expect_head_at(int line, iodb *db, const void *want, size_t wlen)
{
	void *vid = NULL;
	size_t len = 0;
	int rc = iodb_head(db, &vid, &len);

	if (!want) {
		ck_assert_msg(rc == IODB_NOTFOUND, "line %d: head rc %d, want NOTFOUND", line, rc);
		return;
	}
	ck_assert_msg(rc == 0, "line %d: iodb_head: %s", line, iodb_strerror(rc));
	ck_assert_msg(len == wlen && memcmp(vid, want, wlen) == 0, "line %d: head is %.*s, want %.*s",
		      line, (int)len, (char *)vid, (int)wlen, (const char *)want);
	iodb_free(vid);
}
static size_t strlen0(const char *s)
{
	return s ? strlen(s) : 0;
}
#define expect_head(db, vid) expect_head_at(__LINE__, (db), (vid), strlen0(vid))

static void expect_no_version_at(int line, iodb *db, const char *vid)
{
	iodb_snapshot *s = NULL;
	int rc = iodb_snapshot_open(db, vid, strlen(vid), &s);

	ck_assert_msg(rc == IODB_NOTFOUND && s == NULL,
		      "line %d: snapshot_open(%s) returned %d, want NOTFOUND", line, vid, rc);
}
#define expect_no_version(db, vid) expect_no_version_at(__LINE__, (db), (vid))


static struct tu_vlist versions_of(iodb *db)
{
	struct tu_vlist l = {0};

	ck_ok(iodb_versions(db, tu_collect_version, &l));
	return l;
}

static const struct tu_vrec *vl_find(const struct tu_vlist *l, const char *vid, size_t *idx)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].vidlen == strlen(vid) && memcmp(l->v[i].vid, vid, l->v[i].vidlen) == 0) {
			if (idx)
				*idx = i;
			return &l->v[i];
		}
	return NULL;
}

/*
 * Expect exactly the versions given as (vid, parent or NULL, height) triples, NULL ended:
 * each listed once, with that parent and height, every parent listed before its child.
 */
static void expect_versions_at(int line, iodb *db, ...)
{
	struct tu_vlist l = versions_of(db);
	size_t want = 0;
	const char *vid;
	va_list ap;

	va_start(ap, db);
	while ((vid = va_arg(ap, const char *)) != NULL) {
		const char *parent = va_arg(ap, const char *);
		int height = va_arg(ap, int);
		size_t i, pi;
		const struct tu_vrec *r = vl_find(&l, vid, &i);

		want++;
		ck_assert_msg(r != NULL, "line %d: version %s is not listed", line, vid);
		ck_assert_msg(r->height == (uint64_t)height, "line %d: %s has height %llu, want %d",
			      line, vid, (unsigned long long)r->height, height);
		if (!parent) {
			ck_assert_msg(!r->has_parent && r->parentlen == 0,
				      "line %d: %s has parent %.*s, want none", line, vid,
				      (int)r->parentlen, r->parent);
			continue;
		}
		ck_assert_msg(r->has_parent && r->parentlen == strlen(parent) &&
				      memcmp(r->parent, parent, r->parentlen) == 0,
			      "line %d: %s has parent %.*s, want %s", line, vid, (int)r->parentlen,
			      r->parent, parent);
		ck_assert_msg(vl_find(&l, parent, &pi) && pi < i,
			      "line %d: parent %s is not listed before %s", line, parent, vid);
	}
	va_end(ap);
	ck_assert_msg(l.n == want, "line %d: %zu versions listed, want %zu", line, l.n, want);
	free(l.v);
}
#define expect_versions(db, ...) expect_versions_at(__LINE__, (db), __VA_ARGS__, (const char *)NULL)

/* A growable string. */
struct str {
	char *p;
	size_t len, cap;
};

static void str_add(struct str *s, const void *p, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->p = realloc(s->p, s->cap);
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void str_addf(struct str *s, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	str_add(s, tmp, (size_t)n);
}

/* Everything one store reads in snapshot s (or at the head), in iterator order, escaped. */
static void dump_store(iodb *db, iodb_snapshot *s, const char *store, struct str *out)
{
	iodb_iter *it = NULL;
	int rc;

	ck_ok(iodb_iter_open(db, s, store, &it));
	str_addf(out, "[%s]", store ? store : "");
	for (rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it)) {
		const void *k, *v;
		size_t kl, vl;

		ck_ok(iodb_iter_key(it, &k, &kl));
		ck_ok(iodb_iter_value(it, &v, &vl));
		str_addf(out, " %zu:", kl);
		str_add(out, k, kl);
		str_addf(out, "=%zu:", vl);
		str_add(out, v, vl);
	}
	ck_rc(rc, IODB_NOTFOUND);
	iodb_iter_close(it);
}

/* A full description of the store: head, versions, and every store's contents at each. */
static char *digest(iodb *db, const char *const *stores, size_t nstores)
{
	struct tu_vlist l = versions_of(db);
	struct str out = {0};
	void *head;
	size_t hl;

	if (iodb_head(db, &head, &hl) == 0) {
		str_add(&out, "head ", 5);
		str_add(&out, head, hl);
		iodb_free(head);
	}
	for (size_t i = 0; i < l.n; i++) {
		iodb_snapshot *s = NULL;

		str_addf(&out, "\nversion %.*s parent %s%.*s height %llu:", (int)l.v[i].vidlen,
			 l.v[i].vid, l.v[i].has_parent ? "" : "-", (int)l.v[i].parentlen,
			 l.v[i].parent, (unsigned long long)l.v[i].height);
		ck_ok(iodb_snapshot_open(db, l.v[i].vid, l.v[i].vidlen, &s));
		for (size_t k = 0; k < nstores; k++)
			dump_store(db, s, stores[k], &out);
		iodb_snapshot_close(s);
	}
	str_add(&out, "\nhead view:", 11);
	for (size_t k = 0; k < nstores; k++)
		dump_store(db, NULL, stores[k], &out);
	free(l.v);
	return out.p;
}

/* ---- args ----------------------------------------------------------------------------- */

static int count_cb(void *ctx, const void *vid, size_t vidlen, const void *parent,
		    size_t parentlen, uint64_t height)
{
	(void)vid;
	(void)vidlen;
	(void)parent;
	(void)parentlen;
	(void)height;
	++*(int *)ctx;
	return 0;
}

START_TEST(test_args_open_options)
{
	char *dir = tu_tmpdir("api-args"), *sub = tu_path(dir, "store");
	iodb_options o;
	char sentinel;
	iodb *db = (iodb *)&sentinel;
	struct stat st;

	ck_assert_int_eq(iodb_version(), IODB_VERSION_NUMBER);
	ck_assert_int_eq(IODB_VERSION_NUMBER, 100);

	ck_einval(iodb_open(NULL, NULL, &db));
	ck_einval(iodb_open("", NULL, &db));
	ck_einval(iodb_open(sub, NULL, NULL));
	ck_assert_ptr_eq(db, (iodb *)&sentinel); /* untouched on failure */

	iodb_options_init(&o);
	ck_assert_uint_eq(o.version, IODB_OPTIONS_VERSION);
	ck_assert_int_eq(o.create_if_missing, 1);
	ck_assert_int_eq(o.sync, 1);
	ck_assert_uint_eq(o.keep_versions, 0);
	o.version = 0;
	ck_einval(iodb_open(sub, &o, &db));
	o.version = 99;
	ck_einval(iodb_open(sub, &o, &db));
	ck_assert_ptr_eq(db, (iodb *)&sentinel);
	ck_assert_int_ne(stat(sub, &st), 0); /* a rejected open created nothing */

	o.version = IODB_OPTIONS_VERSION;
	db = xopen(sub, &o);
	xclose(db);
	ck_ok(iodb_close(NULL));
	tu_rmrf(dir);
	free(sub);
	free(dir);
}
END_TEST

/* incremental_stores must name stores: each entry is checked at open, and the refusal names
 * the bad entry. */
START_TEST(test_args_incremental_stores)
{
	char *dir = tu_tmpdir("api-incr"), *sub = tu_path(dir, "store");
	const char *good[] = {"", "bank", "a.b-c_9"};
	const char *bad[][2] = {{"bank", "no space"}, {"acc", "a/b"},
				{"x", "0123456789012345678901234567890123456789012345678901234567890123x"}};
	const char *with_null[] = {"bank", NULL};
	iodb_options o;
	struct stat st;
	iodb *db = NULL;

	iodb_options_init(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.incremental_stores = bad[i];
		o.n_incremental_stores = 2;
		ck_einval(iodb_open(sub, &o, &db));
		ck_assert_msg(strstr(iodb_errmsg(), "incremental_stores[1]") != NULL &&
				      strstr(iodb_errmsg(), bad[i][1]) != NULL,
			      "the refusal does not name entry 1 (\"%s\"): %s", bad[i][1],
			      iodb_errmsg());
	}
	o.incremental_stores = with_null;
	ck_einval(iodb_open(sub, &o, &db));
	ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "incremental_stores[1]"));
	ck_assert_ptr_null(db);
	ck_assert_int_ne(stat(sub, &st), 0); /* nothing created */

	o.incremental_stores = good;
	o.n_incremental_stores = 3;
	db = xopen(sub, &o);
	xclose(db);
	tu_rmrf(dir);
	free(sub);
	free(dir);
}
END_TEST

START_TEST(test_args_strerror)
{
	static const int codes[] = {IODB_OK,	  IODB_NOTFOUND, IODB_EINVAL, IODB_EEXIST,
				    IODB_ECORRUPT, IODB_EIO,	     IODB_ENOMEM, IODB_EBUSY};
	const size_t n = sizeof(codes) / sizeof(codes[0]);

	for (size_t i = 0; i < n; i++) {
		const char *a = iodb_strerror(codes[i]);

		ck_assert_ptr_nonnull(a);
		ck_assert_msg(a[0] != '\0', "strerror(%d) is empty", codes[i]);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(a, iodb_strerror(codes[j])) != 0,
				      "strerror(%d) == strerror(%d) == \"%s\"", codes[i], codes[j], a);
	}
	ck_assert_ptr_nonnull(iodb_strerror(-8));
	ck_assert_ptr_nonnull(iodb_strerror(-1000));
	ck_assert_ptr_nonnull(iodb_strerror(1));
	ck_assert_ptr_nonnull(iodb_strerror(0x7fffffff));
	ck_assert_ptr_nonnull(iodb_errmsg());
}
END_TEST

/* Every key/store/value check of batch_put and batch_del; nothing bad lands in the batch. */
START_TEST(test_args_batch)
{
	static char big[IODB_MAX_KEY + 1];
	char name64[65], name65[66];
	iodb_batch *b = NULL, *sentinel = (iodb_batch *)big;
	size_t count;

	memset(big, 'k', sizeof(big));
	memset(name64, 0, sizeof(name64));
	for (int i = 0; i < 64; i++)
		name64[i] = "aZ09_.-"[i % 7];
	memset(name65, 'a', 65);
	name65[65] = '\0';

	ck_einval(iodb_batch_new(NULL));
	ck_ok(iodb_batch_new(&b));
	ck_assert_ptr_ne(b, sentinel);
	ck_assert_uint_eq(iodb_batch_count(b), 0);
	ck_assert_uint_eq(iodb_batch_count(NULL), 0);

	ck_einval(iodb_batch_put(NULL, NULL, "k", 1, "v", 1));
	ck_einval(iodb_batch_del(NULL, NULL, "k", 1));
	/* keys */
	ck_einval(iodb_batch_put(b, NULL, NULL, 1, "v", 1));
	ck_einval(iodb_batch_put(b, NULL, NULL, 0, "v", 1));
	ck_einval(iodb_batch_put(b, NULL, "k", 0, "v", 1));
	ck_einval(iodb_batch_put(b, NULL, big, IODB_MAX_KEY + 1, "v", 1));
	ck_einval(iodb_batch_del(b, NULL, NULL, 1));
	ck_einval(iodb_batch_del(b, NULL, "k", 0));
	ck_einval(iodb_batch_del(b, NULL, big, IODB_MAX_KEY + 1));
	/* store names */
	ck_einval(iodb_batch_put(b, name65, "k", 1, "v", 1));
	ck_einval(iodb_batch_put(b, "a b", "k", 1, "v", 1));
	ck_einval(iodb_batch_put(b, "a/b", "k", 1, "v", 1));
	ck_einval(iodb_batch_put(b, "\xc3\xa9", "k", 1, "v", 1)); /* "é" in UTF-8 */
	ck_einval(iodb_batch_put(b, "\x80", "k", 1, "v", 1));
	ck_einval(iodb_batch_put(b, "a\xff", "k", 1, "v", 1));
	ck_einval(iodb_batch_del(b, name65, "k", 1));
	ck_einval(iodb_batch_del(b, "a b", "k", 1));
	ck_einval(iodb_batch_del(b, "\xc3\xa9", "k", 1));
	/* values */
	ck_einval(iodb_batch_put(b, NULL, "k", 1, NULL, 1));
	ck_einval(iodb_batch_put(b, NULL, "k", 1, NULL, 100));
	ck_einval(iodb_batch_put(b, NULL, "k", 1, big, (size_t)IODB_MAX_VALUE + 1));
	ck_assert_uint_eq(iodb_batch_count(b), 0);

	/* The limits themselves are fine. */
	ck_ok(iodb_batch_put(b, NULL, big, IODB_MAX_KEY, "v", 1));
	ck_ok(iodb_batch_put(b, name64, "k", 1, "v", 1));
	ck_ok(iodb_batch_put(b, "", "k", 1, NULL, 0));
	ck_ok(iodb_batch_del(b, name64, big, IODB_MAX_KEY));
	ck_ok(iodb_batch_put(b, NULL, "\0", 1, "\0", 1));
	count = iodb_batch_count(b);
	ck_assert_uint_eq(count, 5);
	iodb_batch_clear(b);
	ck_assert_uint_eq(iodb_batch_count(b), 0);
	iodb_batch_clear(NULL);
	iodb_batch_free(b);
	iodb_batch_free(NULL);
	iodb_free(NULL);
}
END_TEST

START_TEST(test_args_db_calls)
{
	static char big[IODB_MAX_KEY + 1];
	char *dir = tu_tmpdir("api-args");
	char name64[65], name65[66], vid255[255], vid256[256];
	iodb *db = xopen(dir, NULL);
	iodb_snapshot *s = NULL, *ssent = (iodb_snapshot *)big;
	iodb_iter *it = NULL;
	void *val = (void *)big, *vid = (void *)big;
	size_t vlen = 7, vidlen = 7;
	const void *kp = NULL;
	size_t kl = 0;
	char *json = (char *)big;
	int calls = 0;

	memset(big, 'k', sizeof(big));
	memset(name64, 'n', 64);
	name64[64] = '\0';
	memset(name65, 'n', 65);
	name65[65] = '\0';
	memset(vid255, 0xab, sizeof(vid255));
	memset(vid256, 0xab, sizeof(vid256));

	/* iodb_update */
	ck_einval(iodb_update(NULL, "v", 1, NULL));
	ck_einval(iodb_update(db, NULL, 1, NULL));
	ck_einval(iodb_update(db, NULL, 0, NULL));
	ck_einval(iodb_update(db, "v", 0, NULL));
	ck_einval(iodb_update(db, vid256, 256, NULL));
	expect_head(db, NULL); /* none of those made a version */

	/* iodb_head before any version */
	ck_einval(iodb_head(NULL, &vid, &vidlen));
	ck_einval(iodb_head(db, NULL, &vidlen));
	ck_einval(iodb_head(db, &vid, NULL));
	ck_rc(iodb_head(db, &vid, &vidlen), IODB_NOTFOUND);
	ck_assert_ptr_eq(vid, big);
	ck_assert_uint_eq(vidlen, 7);

	ck_ok(iodb_update(db, vid255, 255, NULL));
	expect_head_at(__LINE__, db, vid255, 255);

	/* iodb_get */
	ck_einval(iodb_get(NULL, NULL, "k", 1, &val, &vlen));
	ck_einval(iodb_get(db, NULL, NULL, 1, &val, &vlen));
	ck_einval(iodb_get(db, NULL, "k", 0, &val, &vlen));
	ck_einval(iodb_get(db, NULL, big, IODB_MAX_KEY + 1, &val, &vlen));
	ck_einval(iodb_get(db, name65, "k", 1, &val, &vlen));
	ck_einval(iodb_get(db, "a b", "k", 1, &val, &vlen));
	ck_einval(iodb_get(db, "a/b", "k", 1, &val, &vlen));
	ck_einval(iodb_get(db, "\xc3\xa9", "k", 1, &val, &vlen));
	ck_einval(iodb_get(db, NULL, "k", 1, NULL, &vlen));
	ck_einval(iodb_get(db, NULL, "k", 1, &val, NULL));
	ck_assert_ptr_eq(val, big);
	ck_assert_uint_eq(vlen, 7);
	ck_rc(iodb_get(db, NULL, big, IODB_MAX_KEY, &val, &vlen), IODB_NOTFOUND);
	ck_rc(iodb_get(db, name64, "k", 1, &val, &vlen), IODB_NOTFOUND); /* unknown store */
	ck_assert_ptr_eq(val, big);

	/* rollback / checkout / clean */
	ck_einval(iodb_rollback(NULL, "v", 1));
	ck_einval(iodb_rollback(db, NULL, 1));
	ck_einval(iodb_rollback(db, "v", 0));
	ck_einval(iodb_rollback(db, vid256, 256));
	ck_einval(iodb_checkout(NULL, "v", 1));
	ck_einval(iodb_checkout(db, NULL, 1));
	ck_einval(iodb_checkout(db, "v", 0));
	ck_einval(iodb_checkout(db, vid256, 256));
	ck_einval(iodb_clean(db, 0));
	ck_einval(iodb_clean(NULL, 1));
	ck_fail_msg(iodb_rollback(db, "nope", 4), IODB_NOTFOUND);
	ck_fail_msg(iodb_checkout(db, "nope", 4), IODB_NOTFOUND);
	ck_ok(iodb_rollback(db, vid255, 255));
	ck_ok(iodb_checkout(db, vid255, 255));

	/* iodb_versions */
	ck_einval(iodb_versions(NULL, count_cb, &calls));
	ck_einval(iodb_versions(db, NULL, &calls));
	ck_assert_int_eq(calls, 0);
	ck_ok(iodb_versions(db, count_cb, &calls));
	ck_assert_int_eq(calls, 1);

	/* snapshots */
	s = ssent;
	ck_einval(iodb_snapshot_open(NULL, NULL, 0, &s));
	ck_einval(iodb_snapshot_open(db, NULL, 0, NULL));
	ck_einval(iodb_snapshot_open(db, "v", 0, &s));
	ck_einval(iodb_snapshot_open(db, vid256, 256, &s));
	ck_einval(iodb_snapshot_open(db, NULL, 5, &s));
	ck_assert_ptr_eq(s, ssent);
	ck_rc(iodb_snapshot_open(db, "nope", 4, &s), IODB_NOTFOUND);
	ck_assert_ptr_eq(s, ssent);
	ck_ok(iodb_snapshot_open(db, vid255, 255, &s));
	ck_einval(iodb_snapshot_get(NULL, NULL, "k", 1, &val, &vlen));
	ck_einval(iodb_snapshot_get(s, NULL, NULL, 1, &val, &vlen));
	ck_einval(iodb_snapshot_get(s, NULL, "k", 0, &val, &vlen));
	ck_einval(iodb_snapshot_get(s, NULL, big, IODB_MAX_KEY + 1, &val, &vlen));
	ck_einval(iodb_snapshot_get(s, name65, "k", 1, &val, &vlen));
	ck_einval(iodb_snapshot_get(s, "a/b", "k", 1, &val, &vlen));
	ck_einval(iodb_snapshot_get(s, NULL, "k", 1, NULL, &vlen));
	ck_einval(iodb_snapshot_get(s, NULL, "k", 1, &val, NULL));
	ck_rc(iodb_snapshot_get(s, NULL, big, IODB_MAX_KEY, &val, &vlen), IODB_NOTFOUND);
	ck_assert_ptr_eq(val, big);
	iodb_snapshot_close(s);
	iodb_snapshot_close(NULL);

	/* iterators */
	ck_einval(iodb_iter_open(NULL, NULL, NULL, &it));
	ck_einval(iodb_iter_open(db, NULL, NULL, NULL));
	ck_einval(iodb_iter_open(db, NULL, name65, &it));
	ck_einval(iodb_iter_open(db, NULL, "a b", &it));
	ck_einval(iodb_iter_open(db, NULL, "\xc3\xa9", &it));
	ck_assert_ptr_null(it);
	ck_einval(iodb_iter_first(NULL));
	ck_einval(iodb_iter_last(NULL));
	ck_einval(iodb_iter_seek(NULL, "k", 1));
	ck_einval(iodb_iter_next(NULL));
	ck_einval(iodb_iter_prev(NULL));
	ck_assert_int_eq(iodb_iter_valid(NULL), 0);
	ck_einval(iodb_iter_key(NULL, &kp, &kl));
	ck_einval(iodb_iter_value(NULL, &kp, &kl));
	iodb_iter_close(NULL);

	{
		iodb_batch *b;

		ck_ok(iodb_batch_new(&b));
		ck_ok(iodb_batch_put(b, NULL, "k", 1, "v", 1));
		ck_ok(iodb_update(db, "v2", 2, b));
		iodb_batch_free(b);
	}
	ck_ok(iodb_iter_open(db, NULL, NULL, &it));
	/* Fresh: not on an entry. */
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	ck_einval(iodb_iter_key(it, &kp, &kl));
	ck_einval(iodb_iter_value(it, &kp, &kl));
	ck_einval(iodb_iter_next(it));
	ck_einval(iodb_iter_prev(it));
	ck_einval(iodb_iter_seek(it, NULL, 1));
	ck_einval(iodb_iter_seek(it, "k", 0));
	ck_einval(iodb_iter_seek(it, big, IODB_MAX_KEY + 1));
	ck_rc(iodb_iter_seek(it, big, IODB_MAX_KEY), IODB_NOTFOUND); /* "kkk…" > "k" */
	/* On an entry: NULL out-pointers. */
	ck_ok(iodb_iter_first(it));
	ck_assert_int_eq(iodb_iter_valid(it), 1);
	ck_einval(iodb_iter_key(it, NULL, &kl));
	ck_einval(iodb_iter_key(it, &kp, NULL));
	ck_einval(iodb_iter_value(it, NULL, &kl));
	ck_einval(iodb_iter_value(it, &kp, NULL));
	/* Ran off the end: not valid any more. */
	ck_rc(iodb_iter_next(it), IODB_NOTFOUND);
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	kp = NULL;
	ck_einval(iodb_iter_key(it, &kp, &kl));
	ck_assert_ptr_null(kp);
	ck_einval(iodb_iter_value(it, &kp, &kl));
	ck_einval(iodb_iter_next(it));
	ck_einval(iodb_iter_prev(it));
	ck_ok(iodb_iter_last(it));
	ck_rc(iodb_iter_prev(it), IODB_NOTFOUND);
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	ck_einval(iodb_iter_next(it));
	ck_einval(iodb_iter_key(it, &kp, &kl));
	iodb_iter_close(it);

	/* stats */
	ck_einval(iodb_stats(NULL, &json));
	ck_einval(iodb_stats(db, NULL));
	ck_assert_ptr_eq(json, big);

	/* Nothing above changed the store: vid255 then v2, and k=v. */
	{
		struct tu_vlist l = versions_of(db);

		ck_assert_uint_eq(l.n, 2);
		ck_assert(l.v[0].vidlen == 255 && memcmp(l.v[0].vid, vid255, 255) == 0);
		ck_assert(!l.v[0].has_parent && l.v[0].height == 1);
		ck_assert(l.v[1].vidlen == 2 && memcmp(l.v[1].vid, "v2", 2) == 0);
		ck_assert(l.v[1].has_parent && l.v[1].parentlen == 255 &&
			  memcmp(l.v[1].parent, vid255, 255) == 0 && l.v[1].height == 2);
		free(l.v);
	}
	expect(db, "k", "v");
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- basic ---------------------------------------------------------------------------- */

START_TEST(test_basic_put_get_del)
{
	char *dir = tu_tmpdir("api-basic");
	iodb *db = xopen(dir, NULL);
	void *val = NULL;
	size_t vlen = 99;

	expect_head(db, NULL);
	expect(db, "a", NULL);
	commit(db, "v1", "+a=1", "+b=2", "+e=~", "+s1:a=s1a");
	expect_head(db, "v1");
	expect(db, "a", "1");
	expect(db, "b", "2");
	expect(db, "c", NULL);
	expect(db, "s1:a", "s1a");
	expect(db, "s1:b", NULL);
	expect(db, "s2:a", NULL); /* unknown store */
	expect(db, ":a", "1");    /* "" is the default store */

	/* An empty value is present: non-NULL pointer, length 0. */
	ck_ok(iodb_get(db, NULL, "e", 1, &val, &vlen));
	ck_assert_ptr_nonnull(val);
	ck_assert_uint_eq(vlen, 0);
	iodb_free(val);
	expect(db, "e", "");

	commit(db, "v2", "-a", "+b=22", "-s1:a", "+s1:b=s1b");
	expect_head(db, "v2");
	expect(db, "a", NULL);
	expect(db, "b", "22");
	expect(db, "e", "");
	expect(db, "s1:a", NULL);
	expect(db, "s1:b", "s1b");
	expect(db, "b", "22"); /* the same key in "s1" is separate */

	/* Deleting an empty value makes it absent (an empty value is not a delete). */
	commit(db, "v3", "-e", "+z=~");
	expect(db, "e", NULL);
	expect(db, "z", "");
	/* Deleting a key that does not exist is fine. */
	commit(db, "v4", "-nothing", "-s9:nothing");
	expect(db, "nothing", NULL);
	expect(db, "s9:nothing", NULL);
	expect(db, "b", "22");

	/* In a batch the last operation on a key wins. */
	commit(db, "v5", "+a=1", "-a", "+a=2", "+b=x", "-b", "+c=1", "+c=~", "-d", "+d=d",
	       "+s1:c=1", "-s1:c", "+c=3", "+s1:c=4", "-s1:c");
	expect(db, "a", "2");
	expect(db, "b", NULL);
	expect(db, "c", "3");
	expect(db, "d", "d");
	expect(db, "s1:c", NULL);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_basic_eexist_empty_versions)
{
	char *dir = tu_tmpdir("api-basic");
	iodb *db = xopen(dir, NULL);
	iodb_batch *b = NULL;

	commit(db, "v1", "+a=1");
	commit(db, "v2", "+a=2");
	/* A retained ID: EEXIST, and nothing changes. */
	ck_rc(commit_rc(db, "v1", "+a=bad", "+new=1", (const char *)NULL), IODB_EEXIST);
	ck_assert_msg(iodb_errmsg()[0] != '\0', "EEXIST without a message");
	ck_rc(commit_rc(db, "v2", "+a=bad", (const char *)NULL), IODB_EEXIST);
	ck_rc(iodb_update(db, "v2", 2, NULL), IODB_EEXIST);
	expect_head(db, "v2");
	expect(db, "a", "2");
	expect(db, "new", NULL);
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2);

	/* Empty versions: a NULL batch, a new batch, a cleared batch. */
	ck_ok(iodb_update(db, "e1", 2, NULL));
	ck_ok(iodb_batch_new(&b));
	ck_ok(iodb_update(db, "e2", 2, b));
	ck_ok(iodb_batch_put(b, NULL, "a", 1, "no", 2));
	ck_ok(iodb_batch_del(b, NULL, "a", 1));
	iodb_batch_clear(b);
	ck_ok(iodb_update(db, "e3", 2, b));
	/* A batch can be reused after clear. */
	ck_ok(iodb_batch_put(b, NULL, "after", 5, "1", 1));
	ck_ok(iodb_update(db, "e4", 2, b));
	/* Committing does not consume the batch: the same batch again is the same change. */
	ck_ok(iodb_update(db, "e5", 2, b));
	ck_assert_uint_eq(iodb_batch_count(b), 1);
	iodb_batch_free(b);
	expect_head(db, "e5");
	expect(db, "a", "2");
	expect(db, "after", "1");
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "e1", "v2", 3, "e2", "e1", 4, "e3", "e2", 5,
			"e4", "e3", 6, "e5", "e4", 7);
	expect_ver(db, "e3", "a", "2");
	expect_ver(db, "e3", "after", NULL);
	expect_ver(db, "e1", "a", "2");
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_basic_limits)
{
	char *dir = tu_tmpdir("api-basic");
	iodb *db = xopen(dir, NULL);
	const size_t big = 16u << 20;
	unsigned char *v = malloc(big), *k = malloc(IODB_MAX_KEY);
	unsigned char vid[IODB_MAX_VID];
	iodb_batch *b = NULL;
	void *out = NULL;
	size_t outlen = 0;
	uint64_t seed = tu_seed(0x1db1);

	for (size_t i = 0; i < big; i++)
		v[i] = (unsigned char)tu_rand(&seed);
	for (size_t i = 0; i < IODB_MAX_KEY; i++)
		k[i] = (unsigned char)tu_rand(&seed);
	for (size_t i = 0; i < sizeof(vid); i++)
		vid[i] = (unsigned char)(i * 7);

	ck_ok(iodb_batch_new(&b));
	ck_ok(iodb_batch_put(b, "big", "v", 1, v, big));
	ck_ok(iodb_batch_put(b, "big", k, IODB_MAX_KEY, "longkey", 7));
	ck_ok(iodb_update(db, vid, sizeof(vid), b));
	iodb_batch_free(b);
	expect_head_at(__LINE__, db, vid, sizeof(vid));

	ck_ok(iodb_get(db, "big", "v", 1, &out, &outlen));
	ck_assert_uint_eq(outlen, big);
	ck_assert(memcmp(out, v, big) == 0);
	iodb_free(out);
	ck_ok(iodb_get(db, "big", k, IODB_MAX_KEY, &out, &outlen));
	ck_assert_uint_eq(outlen, 7);
	ck_assert(memcmp(out, "longkey", 7) == 0);
	iodb_free(out);

	/* The 255-byte ID works everywhere an ID goes, and survives a reopen. */
	{
		struct tu_vlist l = versions_of(db);

		ck_assert_uint_eq(l.n, 1);
		ck_assert_uint_eq(l.v[0].vidlen, sizeof(vid));
		ck_assert(memcmp(l.v[0].vid, vid, sizeof(vid)) == 0);
		free(l.v);
	}
	ck_ok(iodb_update(db, "next", 4, NULL));
	ck_ok(iodb_checkout(db, vid, sizeof(vid)));
	expect_head_at(__LINE__, db, vid, sizeof(vid));
	xclose(db);
	db = xopen(dir, NULL);
	expect_head_at(__LINE__, db, vid, sizeof(vid));
	ck_ok(iodb_get(db, "big", "v", 1, &out, &outlen));
	ck_assert_uint_eq(outlen, big);
	ck_assert(memcmp(out, v, big) == 0);
	iodb_free(out);
	ck_ok(iodb_rollback(db, vid, sizeof(vid)));
	expect_no_version(db, "next");
	{
		struct tu_vlist l = versions_of(db);

		ck_assert_uint_eq(l.n, 1);
		ck_assert_uint_eq(l.v[0].vidlen, sizeof(vid));
		ck_assert(memcmp(l.v[0].vid, vid, sizeof(vid)) == 0);
		ck_assert_int_eq(l.v[0].has_parent, 0);
		ck_assert_uint_eq(l.v[0].height, 1);
		free(l.v);
	}
	xclose(db);
	free(v);
	free(k);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Keys compare as unsigned bytes, a prefix before its extensions. */
START_TEST(test_basic_binary_order)
{
	static const struct {
		const char *k;
		size_t len;
	} sorted[] = {
		{"\x00", 1}, {"\x00\x00", 2}, {"\x00\x01", 2}, {"\x01", 1},
		{"a", 1}, {"a\x00", 2}, {"a\x00\x00", 3}, {"a\x01", 2},
		{"ab", 2}, {"a\x7f", 2}, {"a\x80", 2}, {"a\xff", 2},
		{"b", 1}, {"\x7f", 1}, {"\x7f\xff", 2}, {"\x80", 1},
		{"\x80\x00", 2}, {"\xfe\xff", 2}, {"\xff", 1}, {"\xff\x00", 2},
		{"\xff\xff", 2}, {"\xff\xff\xff", 3},
	};
	const size_t n = sizeof(sorted) / sizeof(sorted[0]);
	char *dir = tu_tmpdir("api-basic");
	iodb *db = xopen(dir, NULL);
	iodb_batch *b = NULL;
	iodb_iter *it = NULL;
	size_t i;
	int rc;

	ck_ok(iodb_batch_new(&b));
	for (i = n; i-- > 0;) { /* reverse order: the store sorts */
		char val[24];

		snprintf(val, sizeof(val), "%zu", i);
		ck_ok(iodb_batch_put(b, NULL, sorted[i].k, sorted[i].len, val, strlen(val)));
	}
	ck_ok(iodb_update(db, "v", 1, b));
	iodb_batch_free(b);

	for (i = 0; i < n; i++) {
		void *val;
		size_t vlen;
		char want[24];

		snprintf(want, sizeof(want), "%zu", i);
		ck_ok(iodb_get(db, NULL, sorted[i].k, sorted[i].len, &val, &vlen));
		ck_assert_uint_eq(vlen, strlen(want));
		ck_assert(memcmp(val, want, vlen) == 0);
		iodb_free(val);
	}
	ck_ok(iodb_iter_open(db, NULL, NULL, &it));
	for (i = 0, rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it), i++) {
		const void *k;
		size_t kl;

		ck_assert_uint_lt(i, n);
		ck_ok(iodb_iter_key(it, &k, &kl));
		ck_assert_msg(kl == sorted[i].len && memcmp(k, sorted[i].k, kl) == 0,
			      "position %zu holds the wrong key (%zu bytes, first %02x, last %02x)",
			      i, kl, ((const unsigned char *)k)[0],
			      ((const unsigned char *)k)[kl - 1]);
	}
	ck_rc(rc, IODB_NOTFOUND);
	ck_assert_uint_eq(i, n);
	for (i = n, rc = iodb_iter_last(it); rc == 0; rc = iodb_iter_prev(it)) {
		const void *k;
		size_t kl;

		ck_assert_uint_gt(i, 0);
		i--;
		ck_ok(iodb_iter_key(it, &k, &kl));
		ck_assert_msg(kl == sorted[i].len && memcmp(k, sorted[i].k, kl) == 0,
			      "backward position %zu holds the wrong key", i);
	}
	ck_rc(rc, IODB_NOTFOUND);
	ck_assert_uint_eq(i, 0);
	iodb_iter_close(it);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- versions ------------------------------------------------------------------------- */

START_TEST(test_versions_rollback)
{
	char *dir = tu_tmpdir("api-ver");
	iodb *db = xopen(dir, NULL);

	commit(db, "v1", "+a=1", "+b=1", "+x=1");
	commit(db, "v2", "+a=2", "-b", "+c=2");
	commit(db, "v3", "+a=3", "+b=3", "+s:k=3");
	commit(db, "v4", "+d=4", "-x");
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "v3", "v2", 3, "v4", "v3", 4);

	ck_ok(iodb_rollback(db, "v2", 2));
	expect_head(db, "v2");
	expect(db, "a", "2");
	expect(db, "b", NULL);
	expect(db, "c", "2");
	expect(db, "d", NULL);
	expect(db, "x", "1");
	expect(db, "s:k", NULL);
	expect_no_version(db, "v3");
	expect_no_version(db, "v4");
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2);
	ck_rc(iodb_checkout(db, "v4", 2), IODB_NOTFOUND);

	/* Unknown or discarded target: NOTFOUND, nothing changes. */
	ck_fail_msg(iodb_rollback(db, "v3", 2), IODB_NOTFOUND);
	ck_fail_msg(iodb_rollback(db, "zz", 2), IODB_NOTFOUND);
	expect_head(db, "v2");
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2);
	expect(db, "a", "2");

	/* Discarded IDs can be used again; the new v3 has nothing of the old one. */
	commit(db, "v3", "+a=33");
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "v3", "v2", 3);
	expect(db, "a", "33");
	expect(db, "b", NULL);
	expect(db, "s:k", NULL);
	expect(db, "d", NULL);
	commit(db, "v4", "+e=4");
	expect(db, "d", NULL);
	expect(db, "x", "1");
	expect(db, "e", "4");

	/* Rollback to the head itself: nothing to discard. */
	ck_ok(iodb_rollback(db, "v4", 2));
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "v3", "v2", 3, "v4", "v3", 4);
	/* Rollback to the first version. */
	ck_ok(iodb_rollback(db, "v1", 2));
	expect_versions(db, "v1", NULL, 1);
	expect(db, "a", "1");
	expect(db, "b", "1");
	expect(db, "c", NULL);
	expect(db, "e", NULL);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_versions_branches)
{
	char *dir = tu_tmpdir("api-ver");
	const char *stores[] = {NULL, "s"};
	iodb *db = xopen(dir, NULL);
	char *before, *after;

	commit(db, "v1", "+a=1", "+b=1");
	commit(db, "v2", "+a=2", "+c=2");
	commit(db, "v3", "+a=3", "-b");
	ck_ok(iodb_checkout(db, "v1", 2));
	expect_head(db, "v1");
	expect(db, "a", "1");
	expect(db, "c", NULL);
	expect(db, "b", "1");
	/* Checkout discards nothing. */
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "v3", "v2", 3);

	commit(db, "b2", "+a=b2", "+s:k=b2");
	commit(db, "b3", "+b=b3");
	expect_head(db, "b3");
	expect(db, "a", "b2");
	expect(db, "b", "b3");
	expect(db, "c", NULL);
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "v3", "v2", 3, "b2", "v1", 2, "b3", "b2",
			3);
	/* Both branches read right. */
	expect_ver(db, "v3", "a", "3");
	expect_ver(db, "v3", "b", NULL);
	expect_ver(db, "v3", "c", "2");
	expect_ver(db, "v3", "s:k", NULL);
	expect_ver(db, "b3", "a", "b2");
	expect_ver(db, "b3", "b", "b3");
	expect_ver(db, "b3", "c", NULL);
	expect_ver(db, "b3", "s:k", "b2");
	expect_ver(db, "b2", "b", "1");
	expect_ver(db, "v1", "a", "1");

	/* A branch from the middle of the other branch, then a third from the same point. */
	ck_ok(iodb_checkout(db, "v2", 2));
	commit(db, "c3", "+c=c3");
	ck_ok(iodb_checkout(db, "v2", 2));
	commit(db, "d3", "+d=d3");
	commit(db, "d4", "-a");
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "v3", "v2", 3, "b2", "v1", 2, "b3", "b2",
			3, "c3", "v2", 3, "d3", "v2", 3, "d4", "d3", 4);
	expect(db, "a", NULL);
	expect(db, "c", "2");
	expect(db, "d", "d3");
	expect_ver(db, "c3", "c", "c3");
	expect_ver(db, "c3", "d", NULL);
	expect_ver(db, "c3", "a", "2");
	expect_ver(db, "d3", "a", "2");

	/* Checkout back and forth: plain reads follow the head. */
	ck_ok(iodb_checkout(db, "b3", 2));
	expect(db, "a", "b2");
	ck_ok(iodb_checkout(db, "c3", 2));
	expect(db, "c", "c3");

	/* Rollback on one branch discards its descendants only. */
	ck_ok(iodb_rollback(db, "v2", 2));
	expect_versions(db, "v1", NULL, 1, "v2", "v1", 2, "b2", "v1", 2, "b3", "b2", 3);
	expect_no_version(db, "c3");
	expect_no_version(db, "d4");
	expect_ver(db, "b3", "b", "b3");

	/* Survives a reopen exactly. */
	before = digest(db, stores, 2);
	xclose(db);
	db = xopen(dir, NULL);
	after = digest(db, stores, 2);
	ck_assert_str_eq(before, after);
	/* The head after reopen is the one before: v2. */
	expect_head(db, "v2");
	free(before);
	free(after);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_versions_clean)
{
	char *dir = tu_tmpdir("api-ver");
	const char *stores[] = {NULL, "s1"};
	iodb *db = xopen(dir, NULL);
	char *before, *after;

	commit(db, "c1", "+k1=1", "+x=1", "+y=1", "+s1:k1=s1");
	commit(db, "c2", "+k2=2", "-y");
	commit(db, "c3", "+x=3");
	commit(db, "c4", "+k4=4");
	commit(db, "c5", "+k5=5", "-k1");
	ck_ok(iodb_checkout(db, "c2", 2));
	commit(db, "o3", "+o=3"); /* outside the base's subtree */
	ck_ok(iodb_checkout(db, "c3", 2));
	commit(db, "p4", "+p=4"); /* inside it */
	ck_ok(iodb_checkout(db, "c5", 2));

	/* keep larger than the history (or equal to it): nothing changes. */
	before = digest(db, stores, 2);
	ck_ok(iodb_clean(db, 100));
	ck_ok(iodb_clean(db, 5));
	after = digest(db, stores, 2);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	ck_ok(iodb_clean(db, 3)); /* base: c3, at distance 2 from c5 */
	expect_head(db, "c5");
	expect_versions(db, "c3", NULL, 3, "c4", "c3", 4, "c5", "c4", 5, "p4", "c3", 4);
	expect_no_version(db, "c1");
	expect_no_version(db, "c2");
	expect_no_version(db, "o3");
	/* The base reads as before, keys written only before it included. */
	expect_ver(db, "c3", "k1", "1");
	expect_ver(db, "c3", "s1:k1", "s1");
	expect_ver(db, "c3", "x", "3");
	expect_ver(db, "c3", "y", NULL);
	expect_ver(db, "c3", "k2", "2");
	expect_ver(db, "c3", "k4", NULL);
	expect_ver(db, "c3", "o", NULL);
	expect_ver(db, "c4", "k1", "1");
	expect_ver(db, "c4", "k4", "4");
	expect_ver(db, "c4", "k2", "2");
	expect_ver(db, "p4", "p", "4");
	expect_ver(db, "p4", "k4", NULL);
	expect_ver(db, "p4", "k1", "1");
	expect_ver(db, "p4", "s1:k1", "s1");
	expect(db, "k1", NULL);
	expect(db, "k5", "5");
	expect(db, "k2", "2");
	expect(db, "s1:k1", "s1");
	expect(db, "o", NULL);

	/* Discarded IDs are free again; new versions extend the head. */
	commit(db, "c1", "+k1=again");
	commit(db, "o3", "+o=again");
	expect_versions(db, "c3", NULL, 3, "c4", "c3", 4, "c5", "c4", 5, "p4", "c3", 4, "c1", "c5",
			6, "o3", "c1", 7);
	expect(db, "k1", "again");
	expect(db, "x", "3");

	before = digest(db, stores, 2);
	xclose(db);
	db = xopen(dir, NULL);
	after = digest(db, stores, 2);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* Head on a branch: the base is its ancestor, the other branch goes. */
	ck_ok(iodb_checkout(db, "p4", 2));
	ck_ok(iodb_clean(db, 2)); /* base c3: c4.. are in its subtree and stay */
	expect_versions(db, "c3", NULL, 3, "c4", "c3", 4, "c5", "c4", 5, "p4", "c3", 4, "c1", "c5",
			6, "o3", "c1", 7);
	ck_ok(iodb_clean(db, 1)); /* base p4: everything else goes */
	expect_versions(db, "p4", NULL, 4);
	expect_head(db, "p4");
	expect(db, "p", "4");
	expect(db, "k1", "1");
	expect(db, "x", "3");
	expect(db, "k2", "2");
	expect(db, "s1:k1", "s1");
	expect(db, "k4", NULL);
	expect_no_version(db, "c5");
	expect_no_version(db, "c3");
	ck_rc(iodb_rollback(db, "c3", 2), IODB_NOTFOUND);
	ck_ok(iodb_clean(db, 1)); /* again: no change */
	expect_versions(db, "p4", NULL, 4);
	commit(db, "q5", "+q=5");
	expect_versions(db, "p4", NULL, 4, "q5", "p4", 5);
	expect_ver(db, "p4", "k1", "1");

	before = digest(db, stores, 2);
	xclose(db);
	db = xopen(dir, NULL);
	after = digest(db, stores, 2);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Total bytes of the files in dir/journal. */
static long long journal_bytes(const char *dir)
{
	char *jd = tu_path(dir, "journal");
	DIR *d = opendir(jd);
	struct dirent *e;
	long long n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			char *p = tu_path(jd, e->d_name);

			n += tu_file_size(p);
			free(p);
		}
	closedir(d);
	free(jd);
	return n;
}

struct height_race {
	iodb *db;
	int thread, ok, refused;
};

static void *height_racer(void *arg)
{
	struct height_race *r = arg;

	for (int i = 0; i < 5; i++) {
		char vid[16];
		int rc;

		snprintf(vid, sizeof(vid), "t%d.%d", r->thread, i);
		rc = iodb_update(r->db, vid, strlen(vid), NULL);
		if (rc == IODB_OK)
			r->ok++;
		else if (rc == IODB_EINVAL && strstr(iodb_errmsg(), "IODB_MAX_HEIGHT"))
			r->refused++;
	}
	return NULL;
}

/* Heights end at IODB_MAX_HEIGHT: initial_height outside 1..IODB_MAX_HEIGHT is refused at
 * open, and an update past the end is refused before anything is written, alone, in a group
 * and on a branch; the store stays usable and reopens. */
START_TEST(test_versions_height_limit)
{
	char *dir = tu_tmpdir("api-height"), *sub = tu_path(dir, "never");
	const uint64_t max = IODB_MAX_HEIGHT;
	const uint64_t bad[] = {0, max + 1, UINT64_MAX};
	struct height_race race[4];
	pthread_t th[4];
	struct tu_vlist l;
	iodb_options o;
	iodb *db = NULL;
	long long jb;
	int ok = 0, refused = 0;

	ck_assert_uint_eq(max, (uint64_t)INT64_MAX);
	iodb_options_init(&o);
	o.snapshot_interval = o.incremental_snapshot_interval = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.initial_height = bad[i];
		ck_einval(iodb_open(sub, &o, &db));
		ck_assert_ptr_null(db);
		ck_assert_int_lt(tu_file_size(sub), 0); /* nothing created */
	}

	o.initial_height = max - 1;
	db = xopen(dir, &o);
	commit(db, "a", "+k=a");
	commit(db, "b", "+k=b");
	l = versions_of(db);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.v[0].height, max - 1);
	ck_assert_uint_eq(l.v[1].height, max);
	free(l.v);
	jb = journal_bytes(dir);
	ck_einval(commit_rc(db, "c", "+k=c", (const char *)NULL));
	ck_assert_msg(strstr(iodb_errmsg(), "IODB_MAX_HEIGHT"), "message: %s", iodb_errmsg());
	ck_einval(commit_rc(db, "c", (const char *)NULL));
	ck_assert_int_eq(journal_bytes(dir), jb);
	expect_head(db, "b");
	expect(db, "k", "b");
	expect_no_version(db, "c");

	/* A branch from "a" has height max: allowed, and the end again after it. */
	ck_ok(iodb_checkout(db, "a", 1));
	commit(db, "b2", "+k=b2");
	ck_einval(commit_rc(db, "c2", (const char *)NULL));
	ck_ok(iodb_rollback(db, "a", 1));
	xclose(db);

	/* Reopen (any initial_height: the first version's height is in the journal). */
	o.initial_height = 1;
	db = xopen(dir, &o);
	expect_head(db, "a");
	l = versions_of(db);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_uint_eq(l.v[0].height, max - 1);
	free(l.v);

	/* Concurrent updates (some in one commit group): exactly one more fits. */
	for (int t = 0; t < 4; t++) {
		race[t] = (struct height_race){db, t, 0, 0};
		ck_assert_int_eq(pthread_create(&th[t], NULL, height_racer, &race[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
		ok += race[t].ok;
		refused += race[t].refused;
	}
	ck_assert_int_eq(ok, 1);
	ck_assert_int_eq(refused, 19);
	l = versions_of(db);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_uint_eq(l.v[1].height, max);
	free(l.v);
	xclose(db);
	db = xopen(dir, &o);
	l = versions_of(db);
	ck_assert_uint_eq(l.n, 2);
	free(l.v);
	xclose(db);
	free(sub);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_versions_keep_option)
{
	char *dir = tu_tmpdir("api-ver");
	const char *stores[] = {NULL};
	iodb_options o;
	iodb *db;
	char vid[16], key[16], val[16], *before, *after;

	iodb_options_init(&o);
	o.keep_versions = 3;
	db = xopen(dir, &o);
	for (int i = 1; i <= 8; i++) {
		struct tu_vlist l;
		int first = i > 3 ? i - 2 : 1;

		snprintf(vid, sizeof(vid), "v%d", i);
		snprintf(key, sizeof(key), "+k%d=%d", i, i);
		snprintf(val, sizeof(val), "+x=%d", i);
		commit(db, vid, key, val);
		l = versions_of(db);
		ck_assert_uint_eq(l.n, (size_t)(i - first + 1));
		for (int j = first; j <= i; j++) {
			const struct tu_vrec *r;
			char want[16];

			snprintf(want, sizeof(want), "v%d", j);
			r = vl_find(&l, want, NULL);
			ck_assert_msg(r != NULL, "after v%d: v%d not retained", i, j);
			ck_assert_uint_eq(r->height, (uint64_t)j);
			ck_assert_int_eq(r->has_parent, j > first);
		}
		free(l.v);
		/* All data intact at the head and at the oldest retained version. */
		for (int j = 1; j <= i; j++) {
			snprintf(key, sizeof(key), "k%d", j);
			snprintf(val, sizeof(val), "%d", j);
			expect(db, key, val);
			snprintf(vid, sizeof(vid), "v%d", first);
			expect_ver(db, vid, key, j <= first ? val : NULL);
		}
		snprintf(val, sizeof(val), "%d", i);
		expect(db, "x", val);
	}
	expect_no_version(db, "v5");
	/* A branch: checkout the oldest retained and update; the other branch goes. */
	ck_ok(iodb_checkout(db, "v6", 2));
	commit(db, "b7", "+b=7");
	expect_versions(db, "v6", NULL, 6, "b7", "v6", 7, "v7", "v6", 7, "v8", "v7", 8);
	/* Base b8's ancestor at distance 2: v6 again, and v7, v8 are in its subtree. */
	commit(db, "b8", "+b=8");
	expect_versions(db, "v6", NULL, 6, "b7", "v6", 7, "v7", "v6", 7, "v8", "v7", 8, "b8",
			"b7", 8);
	commit(db, "b9", "+b=9"); /* base b7: v6 and the other branch go */
	expect_versions(db, "b7", NULL, 7, "b8", "b7", 8, "b9", "b8", 9);
	expect_no_version(db, "v7");
	expect_no_version(db, "v8");
	expect(db, "x", "6");
	expect(db, "b", "9");
	expect(db, "k6", "6");
	expect(db, "k7", NULL);
	expect(db, "k8", NULL);
	expect_ver(db, "b7", "k1", "1");
	expect_ver(db, "b7", "b", "7");

	before = digest(db, stores, 1);
	xclose(db);
	db = xopen(dir, NULL); /* keep_versions 0 now: replay still gives the same state */
	after = digest(db, stores, 1);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- snapshots ------------------------------------------------------------------------ */

START_TEST(test_snapshots_pinned)
{
	char *dir = tu_tmpdir("api-snap");
	iodb *db = xopen(dir, NULL);
	iodb_snapshot *s1 = NULL, *sh = NULL, *s3 = NULL, *s2new = NULL;

	commit(db, "s1", "+a=1");
	commit(db, "s2", "+a=2", "+b=2");
	ck_ok(iodb_snapshot_open(db, "s1", 2, &s1));
	ck_ok(iodb_snapshot_open(db, NULL, 0, &sh)); /* the head now: s2 */
	commit(db, "s3", "+a=3", "-b", "+c=3", "+new:k=3");
	ck_ok(iodb_snapshot_open(db, "s3", 2, &s3));
	expect_snap(s1, "a", "1");
	expect_snap(s1, "b", NULL);
	expect_snap(sh, "a", "2");
	expect_snap(sh, "b", "2");
	expect_snap(sh, "c", NULL);
	expect_snap(sh, "new:k", NULL);
	expect_snap(s3, "new:k", "3");
	expect(db, "a", "3");

	/* Rollback discards s2 and s3: their snapshots still read them. */
	ck_ok(iodb_rollback(db, "s1", 2));
	expect(db, "a", "1");
	expect_snap(sh, "a", "2");
	expect_snap(sh, "b", "2");
	expect_snap(s3, "a", "3");
	expect_snap(s3, "c", "3");
	expect_snap(s3, "b", NULL);
	expect_snap(s3, "new:k", "3");
	/* A new s2 is another version; the old snapshot is not confused by the ID. */
	commit(db, "s2", "+a=22", "+b=new");
	ck_ok(iodb_snapshot_open(db, "s2", 2, &s2new));
	expect_snap(s2new, "a", "22");
	expect_snap(s2new, "b", "new");
	expect_snap(s2new, "new:k", NULL);
	expect_snap(sh, "a", "2");
	expect_snap(sh, "b", "2");

	/* Clean discards s1: its snapshot still reads it. */
	commit(db, "t3", "+a=t3");
	ck_ok(iodb_clean(db, 1));
	expect_no_version(db, "s1");
	expect_no_version(db, "s2");
	expect_snap(s1, "a", "1");
	expect_snap(s1, "b", NULL);
	expect_snap(s2new, "a", "22");

	/* Checkout elsewhere and write: snapshots unchanged. */
	commit(db, "t4", "+a=t4");
	ck_ok(iodb_checkout(db, "t3", 2));
	commit(db, "u4", "+a=u4", "-b");
	expect_snap(s1, "a", "1");
	expect_snap(sh, "a", "2");
	expect_snap(s3, "a", "3");
	expect_snap(s2new, "a", "22");
	expect_snap(s2new, "b", "new");
	expect(db, "a", "u4");
	expect(db, "b", NULL);
	expect_ver(db, "t4", "a", "t4");
	expect_ver(db, "t4", "b", "new");

	/* Iterators on an old snapshot see its state. */
	{
		struct str out = {0};

		dump_store(db, sh, NULL, &out);
		ck_assert_str_eq(out.p, "[] 1:a=1:2 1:b=1:2");
		out.len = 0;
		dump_store(db, s3, NULL, &out);
		ck_assert_str_eq(out.p, "[] 1:a=1:3 1:c=1:3");
		out.len = 0;
		dump_store(db, s3, "new", &out);
		ck_assert_str_eq(out.p, "[new] 1:k=1:3");
		out.len = 0;
		dump_store(db, s1, "new", &out); /* the store did not exist yet at s1 */
		ck_assert_str_eq(out.p, "[new]");
		free(out.p);
	}
	iodb_snapshot_close(s1);
	iodb_snapshot_close(sh);
	iodb_snapshot_close(s3);
	iodb_snapshot_close(s2new);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_snapshots_close_busy)
{
	char *dir = tu_tmpdir("api-snap");
	iodb *db = xopen(dir, NULL);
	iodb_snapshot *s = NULL, *s2 = NULL;
	iodb_iter *it = NULL, *it2 = NULL;

	commit(db, "v1", "+a=1");
	ck_ok(iodb_snapshot_open(db, NULL, 0, &s));
	ck_fail_msg(iodb_close(db), IODB_EBUSY);
	/* The handle still works: reads, writes, more readers. */
	commit(db, "v2", "+a=2");
	expect(db, "a", "2");
	expect_snap(s, "a", "1");
	ck_ok(iodb_snapshot_open(db, "v2", 2, &s2));
	ck_ok(iodb_iter_open(db, s, NULL, &it));
	iodb_snapshot_close(s);
	iodb_snapshot_close(s2);
	/* The iterator alone keeps it busy, and still reads the closed snapshot's view. */
	ck_fail_msg(iodb_close(db), IODB_EBUSY);
	ck_ok(iodb_iter_first(it));
	{
		const void *v;
		size_t vl;

		ck_ok(iodb_iter_value(it, &v, &vl));
		ck_assert_uint_eq(vl, 1);
		ck_assert_int_eq(*(const char *)v, '1');
	}
	iodb_iter_close(it);
	ck_ok(iodb_iter_open(db, NULL, "other", &it2));
	ck_fail_msg(iodb_close(db), IODB_EBUSY);
	ck_rc(iodb_iter_first(it2), IODB_NOTFOUND);
	iodb_iter_close(it2);
	ck_ok(iodb_close(db));

	db = xopen(dir, NULL);
	expect(db, "a", "2");
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- iter ----------------------------------------------------------------------------- */

/* A reference model: a fixed universe of keys, three stores, values by number. */
#define NK 48
#define NSTORES 3
#define NVERS 40
static const char *const model_stores[NSTORES] = {NULL, "m", "z"};

struct ukey {
	unsigned char k[4];
	size_t len;
};
static struct ukey ukeys[NK];

struct mstate {
	int32_t val[NSTORES][NK]; /* -1 absent, 0 empty value, else "v<number>" */
};

static int ukey_cmp(const void *a, const void *b)
{
	const struct ukey *x = a, *y = b;
	size_t l = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->k, y->k, l);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void make_universe(uint64_t *seed)
{
	static const unsigned char alpha[] = {0x00, 0x01, 'a', 'b', 0x7f, 0x80, 0xfe, 0xff};
	size_t n = 0;

	while (n < NK) {
		struct ukey k = {{0}, 1 + tu_below(seed, 4)};
		int dup = 0;

		for (size_t i = 0; i < k.len; i++)
			k.k[i] = alpha[tu_below(seed, sizeof(alpha))];
		for (size_t i = 0; i < n && !dup; i++)
			dup = ukey_cmp(&k, &ukeys[i]) == 0;
		if (!dup)
			ukeys[n++] = k;
	}
	qsort(ukeys, NK, sizeof(ukeys[0]), ukey_cmp);
}

static size_t model_val(int32_t v, char *buf)
{
	if (v == 0)
		return 0;
	return (size_t)sprintf(buf, "v%d", (int)v);
}

/* Reference entries of one store: indexes into ukeys of the present keys, ascending. */
static size_t model_list(const struct mstate *st, int store, size_t *idx)
{
	size_t n = 0;

	for (size_t i = 0; i < NK; i++)
		if (st->val[store][i] >= 0)
			idx[n++] = i;
	return n;
}

/* The iterator is on reference entry `want` (or, want == SIZE_MAX, not valid and rc NF). */
static void iter_is_at(int line, iodb_iter *it, int rc, const struct mstate *st, int store,
		       const size_t *idx, size_t n, size_t want)
{
	const void *k, *v;
	size_t kl, vl, wl;
	char wv[16];

	if (want == SIZE_MAX || want >= n) {
		ck_assert_msg(rc == IODB_NOTFOUND, "line %d: rc %d, want NOTFOUND", line, rc);
		ck_assert_int_eq(iodb_iter_valid(it), 0);
		return;
	}
	ck_assert_msg(rc == 0, "line %d: rc %d (%s), want an entry", line, rc, iodb_strerror(rc));
	ck_assert_int_eq(iodb_iter_valid(it), 1);
	ck_ok(iodb_iter_key(it, &k, &kl));
	ck_ok(iodb_iter_value(it, &v, &vl));
	ck_assert_msg(kl == ukeys[idx[want]].len && memcmp(k, ukeys[idx[want]].k, kl) == 0,
		      "line %d: store %d: on the wrong key (want entry %zu of %zu)", line, store,
		      want, n);
	wl = model_val(st->val[store][idx[want]], wv);
	ck_assert_ptr_nonnull(v);
	ck_assert_msg(vl == wl && memcmp(v, wv, wl) == 0, "line %d: wrong value at entry %zu", line,
		      want);
}

/* Index in the reference of the first present key >= probe. */
static size_t lower_bound(const size_t *idx, size_t n, const struct ukey *probe)
{
	size_t i = 0;

	while (i < n && ukey_cmp(&ukeys[idx[i]], probe) < 0)
		i++;
	return i;
}

/* Check every way of moving an iterator over store `store` at snapshot s (NULL: head). */
static void check_iter(iodb *db, iodb_snapshot *s, int store, const struct mstate *st,
		       uint64_t *seed)
{
	size_t idx[NK], n = model_list(st, store, idx);
	iodb_iter *it = NULL;
	int rc;
	size_t i;

	ck_ok(iodb_iter_open(db, s, model_stores[store], &it));
	/* Forward and backward scans. */
	for (i = 0, rc = iodb_iter_first(it); rc == 0 && i <= n; rc = iodb_iter_next(it), i++)
		iter_is_at(__LINE__, it, rc, st, store, idx, n, i);
	iter_is_at(__LINE__, it, rc, st, store, idx, n, SIZE_MAX);
	ck_assert_uint_eq(i, n);
	for (i = n, rc = iodb_iter_last(it); rc == 0 && i > 0; rc = iodb_iter_prev(it))
		iter_is_at(__LINE__, it, rc, st, store, idx, n, --i);
	iter_is_at(__LINE__, it, rc, st, store, idx, n, SIZE_MAX);
	ck_assert_uint_eq(i, 0);

	/* Seek to each universe key (present or not), then turn around both ways. */
	for (size_t u = 0; u < NK; u++) {
		size_t at = lower_bound(idx, n, &ukeys[u]);

		rc = iodb_iter_seek(it, ukeys[u].k, ukeys[u].len);
		iter_is_at(__LINE__, it, rc, st, store, idx, n, at);
		if (at >= n)
			continue;
		rc = iodb_iter_prev(it);
		iter_is_at(__LINE__, it, rc, st, store, idx, n, at ? at - 1 : SIZE_MAX);
		if (at) {
			rc = iodb_iter_next(it);
			iter_is_at(__LINE__, it, rc, st, store, idx, n, at);
			rc = iodb_iter_next(it);
			iter_is_at(__LINE__, it, rc, st, store, idx, n, at + 1);
			if (at + 1 < n) {
				rc = iodb_iter_prev(it);
				iter_is_at(__LINE__, it, rc, st, store, idx, n, at);
				rc = iodb_iter_prev(it);
				iter_is_at(__LINE__, it, rc, st, store, idx, n, at - 1);
			}
		}
	}
	/* Zig-zag through the whole list from the end: prev, prev, next, prev, ... */
	if (n) {
		rc = iodb_iter_last(it);
		for (i = n - 1; i > 0; i--) {
			iter_is_at(__LINE__, it, rc, st, store, idx, n, i);
			rc = iodb_iter_prev(it);
			iter_is_at(__LINE__, it, rc, st, store, idx, n, i - 1);
			rc = iodb_iter_next(it);
			iter_is_at(__LINE__, it, rc, st, store, idx, n, i);
			rc = iodb_iter_prev(it);
		}
		iter_is_at(__LINE__, it, rc, st, store, idx, n, 0);
		rc = iodb_iter_prev(it);
		iter_is_at(__LINE__, it, rc, st, store, idx, n, SIZE_MAX);
	}
	/* Random probes, before the first and after the last key. */
	for (int p = 0; p < 40; p++) {
		struct ukey probe = {{0}, 1 + tu_below(seed, 4)};

		for (size_t b = 0; b < probe.len; b++)
			probe.k[b] = (unsigned char)tu_rand(seed);
		rc = iodb_iter_seek(it, probe.k, probe.len);
		iter_is_at(__LINE__, it, rc, st, store, idx, n, lower_bound(idx, n, &probe));
	}
	rc = iodb_iter_seek(it, "\x00", 1);
	iter_is_at(__LINE__, it, rc, st, store, idx, n, 0); /* no key is below "\0" */
	rc = iodb_iter_seek(it, "\xff\xff\xff\xff\xff", 5);
	iter_is_at(__LINE__, it, rc, st, store, idx, n, SIZE_MAX);
	iodb_iter_close(it);
}

START_TEST(test_iter_empty)
{
	char *dir = tu_tmpdir("api-iter");
	iodb *db = xopen(dir, NULL);
	iodb_iter *it = NULL;

	ck_ok(iodb_iter_open(db, NULL, NULL, &it)); /* no version at all */
	ck_rc(iodb_iter_first(it), IODB_NOTFOUND);
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	ck_rc(iodb_iter_last(it), IODB_NOTFOUND);
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	ck_rc(iodb_iter_seek(it, "a", 1), IODB_NOTFOUND);
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	iodb_iter_close(it);

	/* Stores "a" and "c" have data; the default store, "b" and "zz" are empty. */
	commit(db, "v1", "+a:k=1", "+c:k=1", "+b:k=1", "+:x=1");
	commit(db, "v2", "-b:k", "-:x");
	for (int i = 0; i < 3; i++) {
		const char *name = i == 0 ? NULL : i == 1 ? "b" : "zz";

		ck_ok(iodb_iter_open(db, NULL, name, &it));
		ck_rc(iodb_iter_first(it), IODB_NOTFOUND);
		ck_assert_int_eq(iodb_iter_valid(it), 0);
		ck_rc(iodb_iter_last(it), IODB_NOTFOUND);
		ck_assert_int_eq(iodb_iter_valid(it), 0);
		ck_rc(iodb_iter_seek(it, "\x00", 1), IODB_NOTFOUND);
		ck_assert_int_eq(iodb_iter_valid(it), 0);
		ck_rc(iodb_iter_seek(it, "k", 1), IODB_NOTFOUND);
		iodb_iter_close(it);
	}
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_iter_model)
{
	char *dir = tu_tmpdir("api-iter");
	iodb *db = xopen(dir, NULL);
	uint64_t seed = tu_seed(0x17e4);
	struct mstate *st = calloc(NVERS + 1, sizeof(*st));
	int parent[NVERS + 1];
	int32_t next_val = 1;
	char vid[16];

	make_universe(&seed);
	for (int s = 0; s < NSTORES; s++)
		for (int k = 0; k < NK; k++)
			st[0].val[s][k] = -1;
	/* Versions 1..NVERS; at 25 branch off version 12. Version 1 creates the three stores
	 * in the order "", "m", "z". */
	for (int v = 1; v <= NVERS; v++) {
		iodb_batch *b = NULL;
		int nops = v == 1 ? 30 : 1 + (int)tu_below(&seed, 12);

		parent[v] = v == 1 ? 0 : v == 25 ? 12 : v - 1;
		st[v] = st[parent[v]];
		ck_ok(iodb_batch_new(&b));
		for (int o = 0; o < nops; o++) {
			int s = v == 1 ? o % NSTORES : (int)tu_below(&seed, NSTORES);
			int k = (int)tu_below(&seed, NK);
			char val[16];

			if (v > 1 && tu_below(&seed, 3) == 0) {
				ck_ok(iodb_batch_del(b, model_stores[s], ukeys[k].k, ukeys[k].len));
				st[v].val[s][k] = -1;
			} else {
				int32_t nv = tu_below(&seed, 8) == 0 ? 0 : next_val++;
				size_t vl = model_val(nv, val);

				ck_ok(iodb_batch_put(b, model_stores[s], ukeys[k].k, ukeys[k].len,
						     vl ? val : NULL, vl));
				st[v].val[s][k] = nv;
			}
		}
		if (v == 25) {
			snprintf(vid, sizeof(vid), "v%d", parent[v]);
			ck_ok(iodb_checkout(db, vid, strlen(vid)));
		}
		snprintf(vid, sizeof(vid), "v%d", v);
		ck_ok(iodb_update(db, vid, strlen(vid), b));
		iodb_batch_free(b);
		/* At the head as we go, for a few versions. */
		if (v % 7 == 0)
			for (int s = 0; s < NSTORES; s++)
				check_iter(db, NULL, s, &st[v], &seed);
	}
	/* At every version, through a snapshot, and at the head. */
	for (int v = 1; v <= NVERS; v++) {
		iodb_snapshot *s = NULL;

		snprintf(vid, sizeof(vid), "v%d", v);
		ck_ok(iodb_snapshot_open(db, vid, strlen(vid), &s));
		for (int k = 0; k < NSTORES; k++)
			check_iter(db, s, k, &st[v], &seed);
		iodb_snapshot_close(s);
	}
	for (int k = 0; k < NSTORES; k++)
		check_iter(db, NULL, k, &st[NVERS], &seed);
	/* And after a reopen. */
	xclose(db);
	db = xopen(dir, NULL);
	for (int v = 1; v <= NVERS; v += 3) {
		iodb_snapshot *s = NULL;

		snprintf(vid, sizeof(vid), "v%d", v);
		ck_ok(iodb_snapshot_open(db, vid, strlen(vid), &s));
		for (int k = 0; k < NSTORES; k++)
			check_iter(db, s, k, &st[v], &seed);
		iodb_snapshot_close(s);
	}
	xclose(db);
	free(st);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* An iterator opened with s == NULL reads the head as of its opening. */
START_TEST(test_iter_pinned_and_borrowed)
{
	char *dir = tu_tmpdir("api-iter");
	iodb *db = xopen(dir, NULL);
	iodb_iter *it = NULL;
	struct str out = {0};
	const void *k1, *v1, *k2, *v2;
	size_t kl1, vl1, kl2, vl2;
	char kcopy[8], vcopy[8];

	commit(db, "v1", "+b=1", "+d=1", "+f=1");
	ck_ok(iodb_iter_open(db, NULL, NULL, &it));
	commit(db, "v2", "+a=2", "-d", "+f=2", "+g=2", "+c=2");
	ck_ok(iodb_rollback(db, "v2", 2));
	ck_ok(iodb_checkout(db, "v1", 2));
	commit(db, "v3", "-b", "+e=3");
	/* Positioned only now: still v1's state. */
	ck_ok(iodb_iter_first(it));
	ck_ok(iodb_iter_key(it, &k1, &kl1));
	ck_assert_uint_eq(kl1, 1);
	ck_assert_int_eq(*(const char *)k1, 'b');
	ck_ok(iodb_iter_next(it));
	ck_ok(iodb_iter_key(it, &k1, &kl1));
	ck_ok(iodb_iter_value(it, &v1, &vl1));
	ck_assert_int_eq(*(const char *)k1, 'd');
	memcpy(kcopy, k1, kl1);
	memcpy(vcopy, v1, vl1);
	/* Borrowed pointers stay valid while the iterator does not move, whatever else the
	 * store does meanwhile (writes that grow the memtable, other iterators). */
	for (int i = 0; i < 200; i++) {
		char vid[16], op[64];

		snprintf(vid, sizeof(vid), "w%d", i);
		snprintf(op, sizeof(op), "+d=%0*d", 40, i);
		commit(db, vid, op, "+zz=1");
	}
	dump_store(db, NULL, NULL, &out);
	ck_ok(iodb_iter_key(it, &k2, &kl2));
	ck_ok(iodb_iter_value(it, &v2, &vl2));
	ck_assert_ptr_eq(k1, k2);
	ck_assert_ptr_eq(v1, v2);
	ck_assert(kl1 == kl2 && vl1 == vl2);
	ck_assert(memcmp(k1, kcopy, kl1) == 0 && memcmp(v1, vcopy, vl1) == 0);
	ck_assert_int_eq(*(const char *)v1, '1');
	ck_ok(iodb_iter_next(it));
	ck_ok(iodb_iter_key(it, &k1, &kl1));
	ck_assert_int_eq(*(const char *)k1, 'f');
	ck_ok(iodb_iter_value(it, &v1, &vl1));
	ck_assert_int_eq(*(const char *)v1, '1');
	ck_rc(iodb_iter_next(it), IODB_NOTFOUND);
	ck_ok(iodb_iter_last(it));
	ck_ok(iodb_iter_key(it, &k1, &kl1));
	ck_assert_int_eq(*(const char *)k1, 'f');
	ck_ok(iodb_iter_seek(it, "c", 1));
	ck_ok(iodb_iter_key(it, &k1, &kl1));
	ck_assert_int_eq(*(const char *)k1, 'd');
	iodb_iter_close(it);

	ck_assert_str_eq(out.p, "[] 1:d=40:0000000000000000000000000000000000000199 "
				"1:e=1:3 1:f=1:1 2:zz=1:1");
	free(out.p);
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- lock ----------------------------------------------------------------------------- */

/* The child's side of child_open, in a fresh process image (see main). */
static int open_child_main(const char *dir, int want)
{
	iodb *db = NULL;
	int rc = iodb_open(dir, NULL, &db);

	if (rc == 0)
		iodb_close(db);
	return rc == want ? 0 : 100 - rc;
}

/*
 * In another process: try to open dir; exit 0 if the result was `want`. The child execs this
 * test binary afresh: a fork of a multi-threaded process may not start threads of its own
 * (TSan refuses), and opening a store starts some.
 */
static int child_open(const char *dir, int want)
{
	char wantstr[16];
	pid_t pid;
	int status = -1;

	snprintf(wantstr, sizeof(wantstr), "%d", want);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_db_api", "--open-child", dir, wantstr, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_lock_busy)
{
	char *dir = tu_tmpdir("api-lock");
	iodb *db = xopen(dir, NULL), *db2 = NULL, *sentinel = (iodb *)dir;

	commit(db, "v1", "+a=1");
	db2 = sentinel;
	ck_fail_msg(iodb_open(dir, NULL, &db2), IODB_EBUSY);
	ck_assert_ptr_eq(db2, sentinel);
	ck_rc(iodb_open(dir, NULL, &db2), IODB_EBUSY); /* still, after a failed attempt */
	/* The first handle is unaffected by the failed opens. */
	commit(db, "v2", "+a=2");
	expect(db, "a", "2");
	ck_assert_int_eq(child_open(dir, IODB_EBUSY), 0);
	xclose(db);

	ck_assert_int_eq(child_open(dir, IODB_OK), 0);
	db = xopen(dir, NULL);
	expect(db, "a", "2");
	xclose(db);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_lock_missing_and_file)
{
	char *dir = tu_tmpdir("api-lock"), *missing = tu_path(dir, "missing"),
	     *file = tu_path(dir, "file"), *empty = tu_path(dir, "empty");
	iodb_options o;
	iodb *db = NULL;
	struct stat st;
	int rc;

	iodb_options_init(&o);
	o.create_if_missing = 0;
	ck_fail_msg(iodb_open(missing, &o, &db), IODB_NOTFOUND);
	ck_assert_ptr_null(db);
	ck_assert_int_ne(stat(missing, &st), 0);

	/* An existing directory that is not a store. */
	ck_assert_int_eq(mkdir(empty, 0755), 0);
	ck_fail_msg(iodb_open(empty, &o, &db), IODB_NOTFOUND);
	ck_assert_ptr_null(db);

	/* A regular file where the directory should be. */
	ck_assert_int_eq(tu_write_file(file, (const unsigned char *)"hello", 5), 0);
	err_clear();
	rc = iodb_open(file, NULL, &db);
	ck_assert_msg(rc < 0, "opening a regular file returned %d", rc);
	ck_assert_ptr_null(db);
	ck_assert_msg(iodb_errmsg()[0] != '\0', "no error text");
	ck_assert_int_eq(tu_file_size(file), 5);
	rc = iodb_open(file, &o, &db);
	ck_assert_msg(rc < 0, "opening a regular file returned %d", rc);

	/* create_if_missing on: the directory is made, and then create_if_missing 0 opens it. */
	db = xopen(missing, NULL);
	commit(db, "v1", "+a=1");
	xclose(db);
	db = xopen(missing, &o);
	expect(db, "a", "1");
	xclose(db);
	free(missing);
	free(file);
	free(empty);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- errmsg and callbacks ------------------------------------------------------------- */

/* Leave a known detail behind (iodb_clean(0)'s, which no call below can give). */
static void plant(iodb *db)
{
	ck_rc(iodb_clean(db, 0), IODB_EINVAL);
	ck_assert_msg(strstr(iodb_errmsg(), "keep"), "the planted failure left \"%s\"",
		      iodb_errmsg());
}

/* A successful call leaves the detail as it was. */
#define ck_kept(call)                                                                      \
	do {                                                                               \
		char before_[1024];                                                        \
                                                                                           \
		snprintf(before_, sizeof(before_), "%s", iodb_errmsg());                   \
		ck_ok(call);                                                               \
		ck_assert_msg(strcmp(iodb_errmsg(), before_) == 0,                        \
			      "%s succeeded and replaced the detail \"%s\" with \"%s\"", #call,  \
			      before_, iodb_errmsg());                                     \
	} while (0)

/* A failure sets its own detail: "" for a plain NOTFOUND of a read, else non-empty and not the
 * planted one. */
#define ck_own_msg(call, want, read_miss, planted)                                         \
	do {                                                                               \
		ck_rc(call, want);                                                         \
		if (read_miss)                                                             \
			ck_assert_msg(iodb_errmsg()[0] == '\0',                            \
				      "%s: a plain NOTFOUND left \"%s\"", #call, iodb_errmsg()); \
		else                                                                       \
			ck_assert_msg(iodb_errmsg()[0] && strcmp(iodb_errmsg(), planted), \
				      "%s: detail \"%s\"", #call, iodb_errmsg());          \
	} while (0)

struct chunks {
	unsigned char *p;
	size_t len, at, chunk;
	int calls, stop_at, stop_with;
};

static int chunk_sink(void *ctx, const void *chunk, size_t len)
{
	struct chunks *c = ctx;

	if (++c->calls == c->stop_at)
		return c->stop_with;
	c->p = realloc(c->p, c->len + len);
	memcpy(c->p + c->len, chunk, len);
	c->len += len;
	return 0;
}

static int chunk_source(void *ctx, const void **chunk, size_t *len)
{
	struct chunks *c = ctx;
	size_t n = c->len - c->at < c->chunk ? c->len - c->at : c->chunk;

	if (++c->calls == c->stop_at)
		return c->stop_with;
	*chunk = c->p + c->at;
	*len = n;
	c->at += n;
	return 0;
}

struct vstop {
	int calls, stop_at, stop_with;
};

static int version_stop(void *ctx, const void *vid, size_t vidlen, const void *parent,
			size_t parentlen, uint64_t height)
{
	struct vstop *s = ctx;

	(void)vid;
	(void)vidlen;
	(void)parent;
	(void)parentlen;
	(void)height;
	return ++s->calls == s->stop_at ? s->stop_with : 0;
}

/* What iodb.h promises of iodb_errmsg(): every failing call sets it ("" for a plain
 * NOTFOUND of a read), successful calls leave it alone (iodb_open included). */
START_TEST(test_errmsg_contract)
{
	char *dir = tu_tmpdir("api-errmsg"), *dir2 = tu_path(dir, "copy"), *d1 = tu_path(dir, "db");
	char planted[1024];
	iodb *db, *db2;
	iodb_options o;
	iodb_batch *b;
	iodb_snapshot *s;
	iodb_iter *it;
	struct chunks ex = {0};
	void *val, *proof, *json;
	size_t vlen, plen;
	uint8_t root[32], hash[32];

	iodb_options_init(&o);
	o.snapshot_interval = o.incremental_snapshot_interval = 0;
	db = xopen(d1, &o);
	commit(db, "v1", "+a=1", "+b=2", "+s:x=1");
	commit(db, "v2", "+c=3", "-a");

	/* Successes after a failure. */
	plant(db);
	snprintf(planted, sizeof(planted), "%s", iodb_errmsg());
	ck_kept(iodb_batch_new(&b));
	ck_kept(iodb_batch_put(b, NULL, "d", 1, "4", 1));
	ck_kept(iodb_batch_del(b, "s", "x", 1));
	ck_kept(iodb_update(db, "v3", 2, b));
	iodb_batch_free(b);
	ck_kept(iodb_get(db, NULL, "d", 1, &val, &vlen));
	iodb_free(val);
	ck_kept(iodb_head(db, &val, &vlen));
	iodb_free(val);
	ck_kept(iodb_versions(db, count_cb, &(int){0}));
	ck_kept(iodb_snapshot_open(db, "v1", 2, &s));
	ck_kept(iodb_snapshot_get(s, NULL, "a", 1, &val, &vlen));
	iodb_free(val);
	ck_kept(iodb_iter_open(db, s, NULL, &it));
	ck_kept(iodb_iter_last(it));
	ck_kept(iodb_iter_prev(it));
	ck_kept(iodb_iter_seek(it, "a", 1));
	ck_kept(iodb_iter_next(it));
	ck_kept(iodb_iter_first(it));
	iodb_iter_close(it);
	iodb_snapshot_close(s);
	ck_kept(iodb_root_hash(db, "v1", 2, "s", root));
	ck_kept(iodb_commit_hash(db, NULL, 0, hash));
	ck_kept(iodb_prove(db, "v1", 2, NULL, "b", 1, &proof, &plen));
	ck_kept(iodb_root_hash(db, "v1", 2, NULL, root));
	ck_kept(iodb_verify_proof(root, proof, plen, "b", 1, "2", 1));
	iodb_free(proof);
	ck_kept(iodb_checkout(db, "v1", 2));
	ck_kept(iodb_checkout(db, "v3", 2));
	ck_kept(iodb_rollback(db, "v2", 2));
	ck_kept(iodb_clean(db, 1));
	ck_kept(iodb_flush(db));
	ck_kept(iodb_compact(db));
	ck_kept(iodb_stats(db, (char **)&json));
	iodb_free(json);
	ck_kept(iodb_merkle_snapshot(db, 1));
	ck_kept(iodb_export(db, NULL, 0, chunk_sink, &ex));
	ck_kept(iodb_commit_hash(db, NULL, 0, hash));
	ex.chunk = 1000;
	ck_kept(iodb_import(dir2, NULL, hash, chunk_source, &ex));
	ck_kept(iodb_close(db));
	ck_kept(iodb_open(d1, &o, &db));
	ck_kept(iodb_open(dir2, &o, &db2));
	ck_kept(iodb_close(db2));

	/* Failures after a failure: each sets its own detail. */
	ck_own_msg(iodb_get(db, NULL, "zz", 2, &val, &vlen), IODB_NOTFOUND, 1, planted);
	plant(db);
	ck_own_msg(iodb_get(db, "nostore", "zz", 2, &val, &vlen), IODB_NOTFOUND, 1, planted);
	plant(db);
	ck_kept(iodb_snapshot_open(db, NULL, 0, &s));
	ck_own_msg(iodb_snapshot_get(s, NULL, "zz", 2, &val, &vlen), IODB_NOTFOUND, 1, planted);
	ck_kept(iodb_iter_open(db, s, NULL, &it));
	plant(db);
	ck_own_msg(iodb_iter_seek(it, "zz", 2), IODB_NOTFOUND, 1, planted);
	ck_kept(iodb_iter_last(it));
	plant(db);
	ck_own_msg(iodb_iter_next(it), IODB_NOTFOUND, 1, planted);
	ck_kept(iodb_iter_first(it));
	plant(db);
	ck_own_msg(iodb_iter_prev(it), IODB_NOTFOUND, 1, planted);
	plant(db);
	ck_own_msg(iodb_iter_next(it), IODB_EINVAL, 0, planted); /* not on an entry */
	iodb_iter_close(it);
	ck_kept(iodb_iter_open(db, s, "nostore", &it));
	plant(db);
	ck_own_msg(iodb_iter_first(it), IODB_NOTFOUND, 1, planted);
	plant(db);
	ck_own_msg(iodb_iter_last(it), IODB_NOTFOUND, 1, planted);
	plant(db);
	ck_own_msg(iodb_iter_seek(it, "a", 1), IODB_NOTFOUND, 1, planted);
	iodb_iter_close(it);
	iodb_snapshot_close(s);
	ck_own_msg(iodb_root_hash(db, "v9", 2, NULL, root), IODB_NOTFOUND, 0, planted);
	plant(db);
	ck_own_msg(iodb_root_hash(db, NULL, 0, "nostore", root), IODB_NOTFOUND, 0, planted);
	plant(db);
	ck_own_msg(iodb_commit_hash(db, "v9", 2, hash), IODB_NOTFOUND, 0, planted);
	plant(db);
	ck_own_msg(iodb_prove(db, "v9", 2, NULL, "a", 1, &proof, &plen), IODB_NOTFOUND, 0,
		   planted);
	plant(db);
	ck_own_msg(iodb_snapshot_open(db, "v9", 2, &s), IODB_NOTFOUND, 0, planted);
	plant(db);
	ck_own_msg(iodb_checkout(db, "v9", 2), IODB_NOTFOUND, 0, planted);
	plant(db);
	ck_own_msg(iodb_update(db, "v2", 2, NULL), IODB_EEXIST, 0, planted);
	plant(db);
	ck_own_msg(iodb_verify_proof(root, "junk", 4, "a", 1, NULL, 0), IODB_EPROOF, 0, planted);
	plant(db);
	ck_own_msg(iodb_open(d1, &o, &db2), IODB_EBUSY, 0, planted);
	plant(db);
	ck_own_msg(iodb_versions(db, version_stop, &(struct vstop){0, 1, 3}), IODB_ECANCELED, 0,
		   planted);
	xclose(db);
	free(ex.p);
	free(d1);
	free(dir2);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Every callback: 0 goes on; any other value stops the call, which returns IODB_ECANCELED
 * (never the value, which could pass for an IODB_E* code), the value in iodb_errmsg(). */
START_TEST(test_callbacks_stop)
{
	static const int values[] = {1, -1, IODB_EIO, IODB_EINVAL, IODB_ECANCELED, 42, -1000};
	char *dir = tu_tmpdir("api-cb"), *d1 = tu_path(dir, "db"), *d2 = tu_path(dir, "imp");
	struct chunks all = {0};
	iodb_options o;
	iodb_batch *b;
	uint8_t hash[32];
	char want[96];
	iodb *db;

	iodb_options_init(&o);
	o.sync = 0;
	o.snapshot_interval = o.incremental_snapshot_interval = 0;
	db = xopen(d1, &o);
	/* About 1 MiB of values: an export of four or more chunks. */
	ck_ok(iodb_batch_new(&b));
	for (int i = 0; i < 1000; i++) {
		char key[16], val[1024];

		snprintf(key, sizeof(key), "k%05d", i);
		memset(val, 'a' + i % 26, sizeof(val));
		ck_ok(iodb_batch_put(b, i % 2 ? "s" : NULL, key, strlen(key), val, sizeof(val)));
	}
	ck_ok(iodb_update(db, "v1", 2, b));
	iodb_batch_free(b);
	commit(db, "v2", "+x=1");
	commit(db, "v3", "+y=1");
	ck_ok(iodb_commit_hash(db, NULL, 0, hash));
	ck_ok(iodb_export(db, NULL, 0, chunk_sink, &all));
	ck_assert_int_ge(all.calls, 4);

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct vstop vs = {0, 2, values[i]};
		struct chunks ex = {0}, im = all;

		/* iodb_versions: stopped at the second version. */
		ck_fail_msg(iodb_versions(db, version_stop, &vs), IODB_ECANCELED);
		ck_assert_int_eq(vs.calls, 2);
		snprintf(want, sizeof(want), "%s: stopped by the callback (it returned %d)",
			 "iodb_versions", values[i]);
		ck_assert_str_eq(iodb_errmsg(), want);

		/* iodb_export: stopped at the second chunk. */
		ex.stop_at = 2;
		ex.stop_with = values[i];
		ck_fail_msg(iodb_export(db, NULL, 0, chunk_sink, &ex), IODB_ECANCELED);
		ck_assert_int_eq(ex.calls, 2);
		snprintf(want, sizeof(want), "%s: stopped by the callback (it returned %d)",
			 "iodb_export", values[i]);
		ck_assert_str_eq(iodb_errmsg(), want);
		free(ex.p);

		/* iodb_import: stopped at the third chunk; nothing written. */
		im.calls = 0;
		im.at = 0;
		im.chunk = 100000;
		im.stop_at = 3;
		im.stop_with = values[i];
		ck_fail_msg(iodb_import(d2, NULL, hash, chunk_source, &im), IODB_ECANCELED);
		ck_assert_int_eq(im.calls, 3);
		snprintf(want, sizeof(want), "%s: stopped by the callback (it returned %d)",
			 "iodb_import", values[i]);
		ck_assert_str_eq(iodb_errmsg(), want);
		ck_assert_int_lt(tu_file_size(d2), 0);
	}
	/* The last chunk too: an export of one chunk stopped. */
	{
		struct chunks ex = {0, 0, 0, 0, 0, 1, 7};

		ck_fail_msg(iodb_export(db, "v2", 2, chunk_sink, &ex), IODB_ECANCELED);
		ck_assert_int_ge(ex.calls, 1);
	}
	ck_assert_str_eq(iodb_strerror(IODB_ECANCELED), "stopped by the callback");
	/* And 0 goes on to the end: the import of the whole stream works. */
	all.at = 0;
	all.chunk = 77777;
	all.calls = 0;
	ck_ok(iodb_import(d2, NULL, hash, chunk_source, &all));
	xclose(db);
	db = xopen(d2, &o);
	{
		uint8_t h2[32];

		ck_ok(iodb_commit_hash(db, NULL, 0, h2));
		ck_assert_mem_eq(h2, hash, 32);
	}
	xclose(db);
	free(all.p);
	free(d1);
	free(d2);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- durability ----------------------------------------------------------------------- */

/* nver random versions of binary keys and values (some 20 KB) in two stores, with rollbacks,
 * checkouts and cleans among them. */
static void random_history(iodb *db, uint64_t *seed, int nver)
{
	for (int v = 1; v <= nver; v++) {
		iodb_batch *b = NULL;
		char vid[16];
		int nops = 1 + (int)tu_below(seed, 10);

		ck_ok(iodb_batch_new(&b));
		for (int o = 0; o < nops; o++) {
			unsigned char key[3] = {(unsigned char)tu_below(seed, 4), 'k',
						(unsigned char)tu_rand(seed)};
			const char *store = tu_below(seed, 2) ? "s" : NULL;

			if (tu_below(seed, 4) == 0) {
				ck_ok(iodb_batch_del(b, store, key, sizeof(key)));
			} else {
				size_t vl = tu_below(seed, 20) == 0 ? 20000 : tu_below(seed, 64);
				unsigned char *val = malloc(vl + 1);

				for (size_t i = 0; i < vl; i++)
					val[i] = (unsigned char)tu_rand(seed);
				ck_ok(iodb_batch_put(b, store, key, sizeof(key), val, vl));
				free(val);
			}
		}
		snprintf(vid, sizeof(vid), "h%d", v);
		ck_ok(iodb_update(db, vid, strlen(vid), b));
		iodb_batch_free(b);
		if (v % 13 == 0 || v % 11 == 0) {
			/* A retained version some way back. */
			struct tu_vlist l = versions_of(db);
			const struct tu_vrec *r = &l.v[l.n > 4 ? l.n - 1 - tu_below(seed, 4) : 0];

			if (v % 13 == 0)
				ck_ok(iodb_rollback(db, r->vid, r->vidlen));
			else
				ck_ok(iodb_checkout(db, r->vid, r->vidlen));
			free(l.v);
		} else if (v % 29 == 0) {
			ck_ok(iodb_clean(db, 6));
		}
	}
}

/* Extract "name": <number> at the top level of the stats JSON; -1 if absent. */
static long long json_number(const char *json, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", name);
	if (!(p = strstr(json, pat)))
		return -1;
	return strtoll(p + strlen(pat), NULL, 10);
}

/* Handles closed twice or used after close (within the last 64 closes of the store) are
 * refused with IODB_EINVAL and never disturb the open counts; iodb_close names what is still
 * open. The old code let a second iodb_snapshot_close make every later iodb_close fail, and
 * said only "snapshots or iterators still open". */
START_TEST(test_handles_closed_twice)
{
	char *dir = tu_tmpdir("api-handles"), *dir2 = tu_path(dir, "other");
	iodb *db, *db2;
	iodb_batch *b;
	iodb_snapshot *s, *s2;
	iodb_iter *it;
	const void *k;
	size_t kl;
	void *val;
	size_t vl;

	db = xopen(dir, NULL);
	ck_ok(iodb_batch_new(&b));
	ck_ok(iodb_batch_put(b, NULL, "k", 1, "v", 1));
	ck_ok(iodb_update(db, "v1", 2, b));
	iodb_batch_free(b);

	/* What is open, by kind. */
	ck_ok(iodb_iter_open(db, NULL, NULL, &it));
	ck_ok(iodb_snapshot_open(db, NULL, 0, &s));
	ck_ok(iodb_snapshot_open(db, "v1", 2, &s2));
	ck_rc(iodb_close(db), IODB_EBUSY);
	ck_assert_msg(strstr(iodb_errmsg(), "1 iterator and 2 snapshots still open") != NULL,
		      "message: %s", iodb_errmsg());

	/* Closed twice, used after close. */
	iodb_snapshot_close(s);
	iodb_snapshot_close(s);
	ck_assert_msg(strstr(iodb_errmsg(), "not an open snapshot") != NULL, "message: %s",
		      iodb_errmsg());
	ck_rc(iodb_snapshot_get(s, NULL, "k", 1, &val, &vl), IODB_EINVAL);
	ck_rc(iodb_iter_open(db, s, NULL, &it), IODB_EINVAL);
	ck_ok(iodb_iter_first(it));
	ck_ok(iodb_iter_key(it, &k, &kl));
	iodb_iter_close(it);
	iodb_iter_close(it);
	ck_rc(iodb_iter_next(it), IODB_EINVAL);
	ck_rc(iodb_iter_first(it), IODB_EINVAL);
	ck_rc(iodb_iter_key(it, &k, &kl), IODB_EINVAL);
	ck_assert_int_eq(iodb_iter_valid(it), 0);
	ck_rc(iodb_close(db), IODB_EBUSY);
	ck_assert_msg(strstr(iodb_errmsg(), "0 iterators and 1 snapshot still open") != NULL,
		      "message: %s", iodb_errmsg());

	/* A snapshot of another store handle is refused. */
	db2 = xopen(dir2, NULL);
	ck_rc(iodb_iter_open(db2, s2, NULL, &it), IODB_EINVAL);
	xclose(db2);
	iodb_snapshot_close(s2);

	/* Many more closes than the store remembers: still no miscount. */
	for (int i = 0; i < 200; i++) {
		ck_ok(iodb_snapshot_open(db, NULL, 0, &s));
		iodb_snapshot_close(s);
		ck_ok(iodb_iter_open(db, NULL, NULL, &it));
		iodb_iter_close(it);
	}
	xclose(db);
	tu_rmrf(dir);
	free(dir2);
	free(dir);
}
END_TEST

START_TEST(test_durability_reopen)
{
	const char *stores[] = {NULL, "s"};

	for (int variant = 0; variant < 3; variant++) {
		char *dir = tu_tmpdir("api-dur"), *before, *after, *json = NULL;
		uint64_t seed = tu_seed(0xd0a + (uint64_t)variant);
		iodb_options o;
		iodb *db;
		struct tu_vlist l;

		iodb_options_init(&o);
		o.sync = variant != 1;
		if (variant == 2)
			o.journal_segment_bytes = 4096; /* many segments */
		db = xopen(dir, &o);
		random_history(db, &seed, 80);

		ck_ok(iodb_stats(db, &json));
		ck_assert_ptr_nonnull(json);
		ck_assert_msg(json[0] == '{' && json[strlen(json) - 1] == '}', "stats: %s", json);
		ck_assert_ptr_nonnull(strstr(json, "\"versions\""));
		ck_assert_ptr_nonnull(strstr(json, "\"journal\""));
		l = versions_of(db);
		ck_assert_int_eq(json_number(json, "versions"), (long long)l.n);
		free(l.v);
		{
			/* Braces balance and strings close: a cheap well-formedness check. */
			int depth = 0, instr = 0;

			for (const char *p = json; *p; p++) {
				if (*p == '"')
					instr = !instr;
				else if (!instr && *p == '{')
					depth++;
				else if (!instr && *p == '}')
					ck_assert_int_ge(--depth, 0);
			}
			ck_assert_int_eq(depth, 0);
			ck_assert_int_eq(instr, 0);
		}
		iodb_free(json);

		before = digest(db, stores, 2);
		xclose(db);
		db = xopen(dir, &o);
		after = digest(db, stores, 2);
		ck_assert_str_eq(before, after);
		free(after);
		/* Reopen once more with default options, after writing nothing. */
		xclose(db);
		db = xopen(dir, NULL);
		after = digest(db, stores, 2);
		ck_assert_str_eq(before, after);
		/* Writing goes on where it was. */
		commit(db, "after", "+s:new=1");
		expect(db, "s:new", "1");
		xclose(db);
		free(before);
		free(after);
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

Suite *api_suite(void);
Suite *api_suite(void)
{
	Suite *s = suite_create("db_api");
	TCase *tc;

	tc = tcase_create("args");
	tcase_add_test(tc, test_args_open_options);
	tcase_add_test(tc, test_args_incremental_stores);
	tcase_add_test(tc, test_args_strerror);
	tcase_add_test(tc, test_args_batch);
	tcase_add_test(tc, test_args_db_calls);
	suite_add_tcase(s, tc);

	tc = tcase_create("basic");
	tcase_add_test(tc, test_basic_put_get_del);
	tcase_add_test(tc, test_basic_eexist_empty_versions);
	tcase_add_test(tc, test_basic_limits);
	tcase_add_test(tc, test_basic_binary_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("versions");
	tcase_add_test(tc, test_versions_rollback);
	tcase_add_test(tc, test_versions_branches);
	tcase_add_test(tc, test_versions_clean);
	tcase_add_test(tc, test_versions_keep_option);
	tcase_add_test(tc, test_versions_height_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("snapshots");
	tcase_add_test(tc, test_snapshots_pinned);
	tcase_add_test(tc, test_snapshots_close_busy);
	suite_add_tcase(s, tc);

	tc = tcase_create("iter");
	tcase_add_test(tc, test_iter_empty);
	tcase_add_test(tc, test_iter_model);
	tcase_add_test(tc, test_iter_pinned_and_borrowed);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock");
	tcase_add_test(tc, test_lock_busy);
	tcase_add_test(tc, test_lock_missing_and_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("errmsg");
	tcase_add_test(tc, test_errmsg_contract);
	tcase_add_test(tc, test_callbacks_stop);
	suite_add_tcase(s, tc);

	tc = tcase_create("handles");
	tcase_add_test(tc, test_handles_closed_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("durability");
	tcase_add_test(tc, test_durability_reopen);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--open-child"))
		return open_child_main(argv[2], atoi(argv[3]));
	return tu_run(api_suite());
}
