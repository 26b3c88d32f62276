/*
 * test_corrupt.c — suite "corrupt": a store damaged on disk either opens as a state it really
 * had, or fails with IODB_ECORRUPT naming the damaged file. Never a crash, never a store
 * that reads differently from any point of its history.
 *
 * The reference store is built through the public API (updates in two stores, a rollback,
 * branches by checkout, a clean) with small journal segments. After every operation the test
 * records the store's whole observable state: the head, every retained version (ID, parent,
 * height) and, for each, point reads of every key ever written and a full iteration of both
 * stores at a snapshot of that version. It also notes where each operation's journal record
 * ended, so for any damage the expected outcome is known exactly:
 *
 *   - a byte flipped in a segment header, or in any record but the last one written:
 *     IODB_ECORRUPT naming that segment (a failed open changes nothing);
 *   - a byte flipped in the last record: a torn tail, the store opens as it was before the
 *     operation that wrote it;
 *   - the last segment cut at any length: the state after the last whole record;
 *   - another segment cut inside its header or a record: IODB_ECORRUPT naming it;
 *   - the IODB identity file damaged in any way: IODB_ECORRUPT naming it.
 *
 * Trials run on a scratch copy restored from memory before each one.
 *
 * The "runs" case damages run files instead: every byte of a run holding four stores, and
 * walks each store forward, backward, from a seek and with turns; a walk gives the store's
 * entries exactly or stops with IODB_ECORRUPT naming the run (never a short or empty store).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/journal.h"
#include "testutil.h"

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#define NKEYS 10
#define SEGBYTES 4096
#define SEG_HEADER 32 /* journal.c: the segment header's size */

static const char *const stores[2] = {NULL, "beta"};

/* Check records every assertion that passes (a write(2) each); the hot loops below check with
 * these, which call into Check only to fail. */
#define REQUIRE(cond, ...)                                                                 \
	do {                                                                               \
		if (!(cond))                                                               \
			ck_abort_msg(__VA_ARGS__);                                         \
	} while (0)
#define REQUIRE_OK(call)                                                                   \
	do {                                                                               \
		int rc_ = (call);                                                          \
		if (rc_ != 0)                                                              \
			ck_abort_msg("%s returned %d (%s): %s", #call, rc_,                \
				     iodb_strerror(rc_), iodb_errmsg());                   \
	} while (0)

/* ---- A growable byte string for serialized states ------------------------------------- */

struct sbuf {
	unsigned char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		REQUIRE(b->p != NULL, "b->p is NULL");
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void sb_u64(struct sbuf *b, uint64_t v)
{
	sb_add(b, &v, sizeof(v));
}

static void sb_bytes(struct sbuf *b, const void *p, size_t n)
{
	sb_u64(b, n);
	sb_add(b, p, n);
}

/* ---- Capturing what a store shows ----------------------------------------------------- */

struct vinfo {
	unsigned char vid[IODB_MAX_VID], parent[IODB_MAX_VID];
	size_t vidlen, parentlen;
	uint64_t height;
};

struct vlist {
	struct vinfo *v;
	size_t n, cap;
};

static int collect_version(void *ctx, const void *vid, size_t vidlen, const void *parent,
			   size_t parentlen, uint64_t height)
{
	struct vlist *l = ctx;
	struct vinfo *v;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	v = &l->v[l->n++];
	memcpy(v->vid, vid, vidlen);
	v->vidlen = vidlen;
	if (parentlen)
		memcpy(v->parent, parent, parentlen);
	v->parentlen = parentlen;
	v->height = height;
	return 0;
}

static int vinfo_cmp(const void *a, const void *b)
{
	const struct vinfo *x = a, *y = b;
	size_t n = x->vidlen < y->vidlen ? x->vidlen : y->vidlen;
	int c = memcmp(x->vid, y->vid, n);

	return c ? c : (x->vidlen > y->vidlen) - (x->vidlen < y->vidlen);
}

static void key_name(int k, char *key)
{
	snprintf(key, 8, "k%02u", (unsigned)k % 100u);
}

/* Reads of every key of both stores through snapshot s (NULL: iodb_get at the head). */
static void capture_reads(iodb *db, iodb_snapshot *s, struct sbuf *out)
{
	for (int st = 0; st < 2; st++)
		for (int k = 0; k < NKEYS; k++) {
			char key[8];
			void *val = NULL;
			size_t vlen = 0;
			int rc;

			key_name(k, key);
			rc = s ? iodb_snapshot_get(s, stores[st], key, 3, &val, &vlen)
			       : iodb_get(db, stores[st], key, 3, &val, &vlen);
			if (rc == IODB_NOTFOUND) {
				sb_u64(out, UINT64_MAX);
				continue;
			}
			REQUIRE_OK(rc);
			REQUIRE(val != NULL, "val is NULL");
			sb_bytes(out, val, vlen);
			iodb_free(val);
		}
}

/* The whole observable state of db, canonical: equal states serialize equally. */
static size_t capture(iodb *db, struct sbuf *out)
{
	struct vlist l = {0};
	void *head;
	size_t headlen;
	int rc;

	out->len = 0;
	rc = iodb_head(db, &head, &headlen);
	if (rc == 0) {
		sb_bytes(out, head, headlen);
		iodb_free(head);
	} else {
		REQUIRE(rc == IODB_NOTFOUND, "iodb_head: %s", iodb_errmsg());
		sb_u64(out, UINT64_MAX);
	}
	capture_reads(db, NULL, out);
	REQUIRE_OK(iodb_versions(db, collect_version, &l));
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), vinfo_cmp);
	sb_u64(out, l.n);
	for (size_t i = 0; i < l.n; i++) {
		const struct vinfo *v = &l.v[i];
		iodb_snapshot *s;

		sb_bytes(out, v->vid, v->vidlen);
		sb_bytes(out, v->parent, v->parentlen);
		sb_u64(out, v->height);
		REQUIRE_OK(iodb_snapshot_open(db, v->vid, v->vidlen, &s));
		capture_reads(db, s, out);
		for (int st = 0; st < 2; st++) {
			iodb_iter *it;

			REQUIRE_OK(iodb_iter_open(db, s, stores[st], &it));
			for (rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it)) {
				const void *k, *val;
				size_t klen, vlen;

				REQUIRE_OK(iodb_iter_key(it, &k, &klen));
				REQUIRE_OK(iodb_iter_value(it, &val, &vlen));
				sb_bytes(out, k, klen);
				sb_bytes(out, val, vlen);
			}
			REQUIRE(rc == IODB_NOTFOUND, "iteration ended with %d: %s", rc,
				iodb_errmsg());
			sb_u64(out, UINT64_MAX - 1);
			iodb_iter_close(it);
		}
		iodb_snapshot_close(s);
	}
	free(l.v);
	return l.n;
}

/* ---- The reference history ------------------------------------------------------------ */

/* "+ID" update, "<ID" rollback, "@ID" checkout, "#N" clean keeping N. */
static const char *const script[] = {
	"+v1", "+v2", "+v3", "+v4", "+v5", "+v6", "+v7", "+v8", "+v9", "+v10",
	"<v7", "+v8", "+v9", "+v10", "+v11", "+v12", "+v13", "+v14", "@v3", "+b1",
	"+b2", "+b3", "+b4", "+b5", "@v14", "+v15", "+v16", "+v17", "+v18", "+v19",
	"+v20", "#12", "+v21", "+v22", "+v23", "+v24", "+v25", "+v26", "+v27", "+v28",
	"@v25", "+c1", "+c2", "@v28", "+v29", "+v30",
};
#define NSTEPS (sizeof(script) / sizeof(script[0]))

struct pos {
	uint64_t seg, size;
};

struct rec {
	uint64_t seg, off, end;
	uint8_t type;
	unsigned char *p;
	size_t len;
	size_t state; /* index of the state this record completes */
};

struct file_img {
	char *name; /* relative to the store directory */
	unsigned char *d;
	size_t len;
	uint64_t seg; /* 0 for IODB */
};

struct fixture {
	char *root, *ref, *work;
	struct sbuf states[NSTEPS + 1]; /* states[k]: after k steps */
	size_t nversions[NSTEPS + 1];
	struct pos pos[NSTEPS + 1];
	struct file_img files[64];
	int nfiles; /* files[0] is IODB, files[s] segment s (1..nseg), then any others */
	uint64_t nseg;
	struct rec recs[NSTEPS + 8];
	size_t nrecs;
	struct sbuf scratch;
};

static struct pos journal_end(const char *dbdir)
{
	char *jdir = tu_path(dbdir, "journal");
	DIR *d = opendir(jdir);
	struct dirent *de;
	struct pos p = {0, 0};

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t seg;

		if (strlen(de->d_name) != 24 || strcmp(de->d_name + 20, ".log") != 0)
			continue;
		seg = strtoull(de->d_name, NULL, 10);
		if (seg > p.seg)
			p.seg = seg;
	}
	closedir(d);
	{
		char name[32], *path;

		snprintf(name, sizeof(name), "%020llu.log", (unsigned long long)p.seg);
		path = tu_path(jdir, name);
		p.size = (uint64_t)tu_file_size(path);
		free(path);
	}
	free(jdir);
	return p;
}

static void random_batch(uint64_t *seed, iodb_batch *b)
{
	int nops = 1 + (int)tu_below(seed, 4);

	iodb_batch_clear(b);
	for (int i = 0; i < nops; i++) {
		char key[8], val[400];
		const char *store = stores[tu_below(seed, 2)];
		size_t vlen = tu_below(seed, 5) == 0 ? 0 : tu_below(seed, sizeof(val));

		key_name((int)tu_below(seed, NKEYS), key);
		for (size_t k = 0; k < vlen; k++)
			val[k] = (char)('a' + tu_below(seed, 26));
		if (tu_below(seed, 5) == 0)
			ck_ok(iodb_batch_del(b, store, key, 3));
		else
			ck_ok(iodb_batch_put(b, store, key, 3, val, vlen));
	}
}

static void options(iodb_options *o, int create)
{
	iodb_options_init(o);
	o->journal_segment_bytes = SEGBYTES;
	o->create_if_missing = create;
	o->sync = create;
}

static int rec_collect(void *ctx, uint8_t type, const uint8_t *p, size_t len, const char *path,
		       const struct jpos *pos)
{
	struct fixture *f = ctx;
	struct rec *r = &f->recs[f->nrecs++];

	(void)path;
	ck_assert_uint_lt(f->nrecs, sizeof(f->recs) / sizeof(f->recs[0]));
	r->seg = pos->seg;
	r->off = pos->off;
	r->end = pos->off + JREC_HEADER + len;
	r->type = type;
	r->p = malloc(len ? len : 1);
	memcpy(r->p, p, len);
	r->len = len;
	return 0;
}

/* Other files of the store (whatever later layers keep there), relative to the store. */
static struct fixture *walk_f;

static int walk_fn(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = path + strlen(walk_f->ref) + 1;
	struct file_img *fi;

	(void)st;
	(void)ftw;
	if (flag != FTW_F || strcmp(rel, "LOCK") == 0)
		return 0;
	for (int i = 0; i < walk_f->nfiles; i++)
		if (strcmp(walk_f->files[i].name, rel) == 0)
			return 0;
	ck_assert_int_lt(walk_f->nfiles, 64);
	fi = &walk_f->files[walk_f->nfiles++];
	fi->name = strdup(rel);
	fi->seg = 0;
	return 0;
}

static void load_images(struct fixture *f)
{
	f->nfiles = 0;
	f->files[0].name = strdup("IODB");
	f->files[0].seg = 0;
	f->nfiles = 1;
	for (uint64_t s = 1; s <= f->nseg; s++) {
		struct file_img *fi = &f->files[f->nfiles++];

		ck_assert_int_lt(f->nfiles, 64);
		if (asprintf(&fi->name, "journal/%020llu.log", (unsigned long long)s) < 0)
			abort();
		fi->seg = s;
	}
	walk_f = f;
	ck_assert_int_eq(nftw(f->ref, walk_fn, 16, FTW_PHYS), 0);
	for (int i = 0; i < f->nfiles; i++) {
		char *path = tu_path(f->ref, f->files[i].name);

		ck_assert_int_eq(tu_read_file(path, &f->files[i].d, &f->files[i].len), 0);
		free(path);
	}
}

static void fixture_build(struct fixture *f)
{
	uint64_t seed = tu_seed(0xC022);
	iodb_options o;
	iodb_batch *b;
	iodb *db;

	memset(f, 0, sizeof(*f));
	f->root = tu_tmpdir("corrupt");
	f->ref = tu_path(f->root, "ref");
	f->work = tu_path(f->root, "work");
	options(&o, 1);
	ck_ok(iodb_open(f->ref, &o, &db));
	ck_ok(iodb_batch_new(&b));
	f->nversions[0] = capture(db, &f->states[0]);
	f->pos[0] = journal_end(f->ref);
	for (size_t k = 0; k < NSTEPS; k++) {
		const char *vid = script[k] + 1;

		switch (script[k][0]) {
		case '+':
			random_batch(&seed, b);
			/* v5 is an empty version. */
			ck_ok(iodb_update(db, vid, strlen(vid), strcmp(vid, "v5") == 0 ? NULL : b));
			break;
		case '<':
			ck_ok(iodb_rollback(db, vid, strlen(vid)));
			break;
		case '@':
			ck_ok(iodb_checkout(db, vid, strlen(vid)));
			break;
		case '#':
			ck_ok(iodb_clean(db, (uint32_t)atoi(vid)));
			break;
		}
		f->nversions[k + 1] = capture(db, &f->states[k + 1]);
		f->pos[k + 1] = journal_end(f->ref);
	}
	iodb_batch_free(b);
	{
		void *head;
		size_t headlen;

		ck_ok(iodb_head(db, &head, &headlen));
		ck_assert_uint_eq(headlen, 3);
		ck_assert_mem_eq(head, "v30", 3);
		iodb_free(head);
	}
	ck_ok(iodb_close(db));

	/* The history is what the script says (so the reference is not vacuous): 30 versions
	 * at most before the clean; after it v9..v20, v21..v30 and the branch c1, c2. */
	ck_assert_uint_eq(f->nversions[10], 10);
	ck_assert_uint_eq(f->nversions[11], 7);
	ck_assert_uint_eq(f->nversions[31], 25);
	ck_assert_uint_eq(f->nversions[32], 12);
	ck_assert_uint_eq(f->nversions[NSTEPS], 24);

	f->nseg = f->pos[NSTEPS].seg;
	ck_assert_uint_ge(f->nseg, 3); /* a first, a middle and a last segment */
	load_images(f);

	/* The records, and which step each completes. */
	{
		struct env *e;
		struct journal *j;
		struct journal_opts jo = {SEGBYTES, 0, {0, 0}, 0, 0};
		char *jdir = tu_path(f->ref, "journal");

		ck_assert_int_eq(env_new(&e), 0);
		ck_ok(journal_open(e, jdir, 0, &jo, rec_collect, f, &j));
		journal_close(j);
		env_free(e);
		free(jdir);
	}
	for (size_t r = 0; r < f->nrecs; r++) {
		size_t k;

		for (k = 1; k <= NSTEPS; k++)
			if (f->pos[k].seg == f->recs[r].seg && f->pos[k].size == f->recs[r].end)
				break;
		ck_assert_msg(k <= NSTEPS, "record %zu ends where no step ended", r);
		f->recs[r].state = k;
	}
	ck_assert_uint_eq(f->recs[f->nrecs - 1].state, NSTEPS);
	ck_assert_uint_ge(f->nrecs, NSTEPS - 1); /* every step but a no-op clean wrote one */
}

static void fixture_free(struct fixture *f)
{
	for (size_t k = 0; k <= NSTEPS; k++)
		free(f->states[k].p);
	for (int i = 0; i < f->nfiles; i++) {
		free(f->files[i].name);
		free(f->files[i].d);
	}
	for (size_t r = 0; r < f->nrecs; r++)
		free(f->recs[r].p);
	free(f->scratch.p);
	tu_rmrf(f->root);
	free(f->root);
	free(f->ref);
	free(f->work);
}

/* ---- Trials --------------------------------------------------------------------------- */

/* Make the scratch store a copy of the reference, file i replaced by (d, len). */
static void restore(struct fixture *f, int i, const unsigned char *d, size_t len)
{
	tu_rmrf(f->work);
	mkdir(f->work, 0755);
	for (int k = 0; k < f->nfiles; k++) {
		char *path = tu_path(f->work, f->files[k].name);

		/* Directories on the way. */
		for (char *slash = path + strlen(f->work) + 1; (slash = strchr(slash, '/')) != NULL;
		     slash++) {
			*slash = '\0';
			mkdir(path, 0755);
			*slash = '/';
		}
		if (k == i)
			REQUIRE(tu_write_file(path, d, len) == 0, "cannot write %s", path);
		else
			REQUIRE(tu_write_file(path, f->files[k].d, f->files[k].len) == 0,
				"cannot write %s", path);
		free(path);
	}
}

/* The state index whose serialization equals s, or -1. */
static long find_state(const struct fixture *f, const struct sbuf *s)
{
	for (size_t k = NSTEPS + 1; k-- > 0;)
		if (f->states[k].len == s->len && memcmp(f->states[k].p, s->p, s->len) == 0)
			return (long)k;
	return -1;
}

enum {
	WANT_CORRUPT = -1, /* IODB_ECORRUPT naming the damaged file */
	WANT_ANY = -2	   /* a real state, or IODB_ECORRUPT naming a journal segment */
};

/*
 * Open the scratch store and check the outcome: want >= 0 is the index of the state it must
 * open as. The damaged file is files[i]. Returns the rc.
 */
static int trial(struct fixture *f, int i, long want, const char *what)
{
	iodb_options o;
	iodb *db = NULL;
	char *damaged = tu_path(f->work, f->files[i].name);
	int rc;

	options(&o, 0);
	rc = iodb_open(f->work, &o, &db);
	REQUIRE(rc == IODB_OK || rc == IODB_ECORRUPT, "%s: iodb_open returned %d (%s): %s",
		      what, rc, iodb_strerror(rc), iodb_errmsg());
	if (rc == IODB_ECORRUPT) {
		REQUIRE(want < 0, "%s: IODB_ECORRUPT (%s), want state %ld", what,
			      iodb_errmsg(), want);
		if (want == WANT_CORRUPT)
			REQUIRE(strstr(iodb_errmsg(), damaged) != NULL,
				      "%s: \"%s\" does not name %s", what, iodb_errmsg(), damaged);
		else
			REQUIRE(strstr(iodb_errmsg(), f->work) != NULL &&
					      strstr(iodb_errmsg(), "/journal/") != NULL,
				      "%s: \"%s\" names no journal segment", what, iodb_errmsg());
	} else {
		long got;

		REQUIRE(want != WANT_CORRUPT, "%s: opened, want IODB_ECORRUPT", what);
		capture(db, &f->scratch);
		got = find_state(f, &f->scratch);
		REQUIRE(got >= 0, "%s: opened as a state the store never had", what);
		REQUIRE(want == WANT_ANY || got == want ||
				      (f->states[got].len == f->states[want].len &&
				       memcmp(f->states[got].p, f->states[want].p,
					      f->states[got].len) == 0),
			      "%s: opened as the state after step %ld, want after step %ld", what,
			      got, want);
		REQUIRE_OK(iodb_close(db));
	}
	free(damaged);
	return rc;
}

/* The state the store must show when the journal keeps exactly the records before r. */
static long state_before(const struct fixture *f, size_t r)
{
	return r == 0 ? 0 : (long)f->recs[r - 1].state;
}

/* Expected outcome of flipping byte x of segment file i. */
static long flip_expect(const struct fixture *f, int i, uint64_t x)
{
	uint64_t seg = f->files[i].seg;

	if (x < SEG_HEADER)
		return WANT_CORRUPT;
	for (size_t r = 0; r < f->nrecs; r++)
		if (f->recs[r].seg == seg && x >= f->recs[r].off && x < f->recs[r].end)
			return r + 1 == f->nrecs ? state_before(f, r) : WANT_CORRUPT;
	ck_abort_msg("byte %llu of segment %llu is in no record", (unsigned long long)x,
		     (unsigned long long)seg);
	return 0;
}

/* Expected outcome of cutting segment file i to len bytes. */
static long cut_expect(const struct fixture *f, int i, uint64_t len)
{
	uint64_t seg = f->files[i].seg;
	size_t r = 0;

	if (seg == f->nseg) {
		/* The records before this segment, and those of it wholly before the cut. */
		while (r < f->nrecs && (f->recs[r].seg < seg || f->recs[r].end <= len))
			r++;
		return state_before(f, r);
	}
	if (len < SEG_HEADER)
		return WANT_CORRUPT;
	for (r = 0; r < f->nrecs; r++)
		if (f->recs[r].seg == seg && len > f->recs[r].off && len < f->recs[r].end)
			return WANT_CORRUPT;
	/* At a record boundary the journal cannot see the cut; the records after it in this
	 * segment are gone. What the db makes of the rest is checked to be a real state. */
	return WANT_ANY;
}

static uint8_t flip_mask(uint64_t x)
{
	return (uint8_t)(1u << (x * 5 % 8));
}

static void flip_trial(struct fixture *f, int i, uint64_t x)
{
	struct file_img *fi = &f->files[i];
	char what[128];

	snprintf(what, sizeof(what), "%s: byte %llu flipped", fi->name, (unsigned long long)x);
	fi->d[x] ^= flip_mask(x);
	restore(f, i, fi->d, fi->len);
	fi->d[x] ^= flip_mask(x);
	trial(f, i, flip_expect(f, i, x), what);
}

static void cut_trial(struct fixture *f, int i, uint64_t len)
{
	struct file_img *fi = &f->files[i];
	char what[128];

	snprintf(what, sizeof(what), "%s: cut to %llu bytes", fi->name, (unsigned long long)len);
	restore(f, i, fi->d, (size_t)len);
	trial(f, i, cut_expect(f, i, len), what);
}

/* ---- Tests ---------------------------------------------------------------------------- */

START_TEST(test_reference)
{
	struct fixture f;
	iodb_options o;
	iodb *db;

	fixture_build(&f);
	/* Undamaged, it opens as the final state, and again after an update and a reopen. */
	restore(&f, -1, NULL, 0);
	ck_assert_int_eq(trial(&f, 0, NSTEPS, "undamaged"), 0);
	options(&o, 0);
	ck_ok(iodb_open(f.work, &o, &db));
	ck_ok(iodb_update(db, "after", 5, NULL));
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(f.work, &o, &db));
	capture(db, &f.scratch);
	ck_assert_int_eq(find_state(&f, &f.scratch), -1);
	ck_ok(iodb_rollback(db, "v30", 3));
	capture(db, &f.scratch);
	ck_assert_int_eq(find_state(&f, &f.scratch), NSTEPS);
	ck_ok(iodb_close(db));
	/* Each record boundary is a state of its own. */
	for (size_t r = 1; r < f.nrecs; r++)
		ck_assert_uint_gt(f.recs[r].state, f.recs[r - 1].state);
	fixture_free(&f);
}
END_TEST

/* Every byte of the first few hundred of each segment (header and first records). */
START_TEST(test_flip_segment_starts)
{
	struct fixture f;

	fixture_build(&f);
	for (int i = 1; i <= (int)f.nseg; i++)
		for (uint64_t x = 0; x < f.files[i].len && x < 300; x++)
			flip_trial(&f, i, x);
	/* And every byte of the last record. */
	{
		const struct rec *r = &f.recs[f.nrecs - 1];

		for (uint64_t x = r->off; x < r->end; x++)
			flip_trial(&f, (int)f.nseg, x);
	}
	fixture_free(&f);
}
END_TEST

START_TEST(test_flip_sample)
{
	uint64_t seed = tu_seed(0xF11B);
	struct fixture f;
	uint64_t total = 0;

	fixture_build(&f);
	for (int i = 1; i <= (int)f.nseg; i++)
		total += f.files[i].len;
	for (int n = 0; n < 2000; n++) {
		uint64_t at = tu_rand(&seed) % total;
		int i = 1;

		while (at >= f.files[i].len)
			at -= f.files[i++].len;
		flip_trial(&f, i, at);
	}
	fixture_free(&f);
}
END_TEST

START_TEST(test_cut_last_segment)
{
	struct fixture f;
	int i;

	fixture_build(&f);
	i = (int)f.nseg;
	for (uint64_t len = 0; len < f.files[i].len; len++)
		cut_trial(&f, i, len);
	/* After a torn tail is cut, the store takes new versions and keeps them. */
	{
		const struct rec *last = &f.recs[f.nrecs - 1];
		uint64_t len = last->off + (last->end - last->off) / 2;
		iodb_options o;
		iodb *db;
		void *head;
		size_t headlen;

		restore(&f, i, f.files[i].d, (size_t)len);
		options(&o, 0);
		ck_ok(iodb_open(f.work, &o, &db));
		ck_ok(iodb_update(db, "new", 3, NULL));
		ck_ok(iodb_close(db));
		ck_ok(iodb_open(f.work, &o, &db));
		ck_ok(iodb_head(db, &head, &headlen));
		ck_assert_uint_eq(headlen, 3);
		ck_assert_mem_eq(head, "new", 3);
		iodb_free(head);
		ck_ok(iodb_rollback(db, "v29", 3));
		capture(db, &f.scratch);
		ck_assert_int_eq(find_state(&f, &f.scratch), (long)state_before(&f, f.nrecs - 1));
		ck_ok(iodb_close(db));
	}
	fixture_free(&f);
}
END_TEST

START_TEST(test_cut_other_segments)
{
	uint64_t seed = tu_seed(0xC07);
	struct fixture f;

	fixture_build(&f);
	for (int i = 1; i < (int)f.nseg; i++) {
		uint64_t len = f.files[i].len;

		/* Inside and around the header, around every record boundary, and a sample. */
		for (uint64_t cut = 0; cut <= SEG_HEADER + 1; cut++)
			cut_trial(&f, i, cut);
		for (size_t r = 0; r < f.nrecs; r++)
			if (f.recs[r].seg == f.files[i].seg)
				for (uint64_t cut = f.recs[r].end - 1; cut <= f.recs[r].end + 1;
				     cut++)
					if (cut < len)
						cut_trial(&f, i, cut);
		for (int n = 0; n < 100; n++)
			cut_trial(&f, i, SEG_HEADER + tu_rand(&seed) % (len - SEG_HEADER));
	}
	fixture_free(&f);
}
END_TEST

START_TEST(test_identity_file)
{
	struct fixture f;
	struct file_img *fi;

	fixture_build(&f);
	fi = &f.files[0];
	ck_assert_uint_eq(fi->len, 16);
	for (uint64_t x = 0; x < fi->len; x++)
		for (int bit = 0; bit < 8; bit++) {
			char what[64];

			snprintf(what, sizeof(what), "IODB: bit %d of byte %llu flipped", bit,
				 (unsigned long long)x);
			fi->d[x] ^= (uint8_t)(1u << bit);
			restore(&f, 0, fi->d, fi->len);
			fi->d[x] ^= (uint8_t)(1u << bit);
			trial(&f, 0, WANT_CORRUPT, what);
		}
	for (uint64_t len = 0; len < fi->len; len++)
		cut_trial(&f, 0, len);
	{
		unsigned char longer[17];

		memcpy(longer, fi->d, 16);
		longer[16] = 0;
		restore(&f, 0, longer, sizeof(longer));
		trial(&f, 0, WANT_CORRUPT, "IODB: a byte appended");
	}
	fixture_free(&f);
}
END_TEST

/* Open the scratch store whose journal is the single segment (d, len): never a crash; a
 * failure is IODB_ECORRUPT naming the segment; a store that opens can be read in full. */
static int hostile_trial(struct fixture *f, const unsigned char *d, size_t len)
{
	char *jdir = tu_path(f->work, "journal"), *seg1 = tu_path(jdir, "00000000000000000001.log");
	iodb_options o;
	iodb *db;
	int rc;

	restore(f, -1, NULL, 0);
	for (uint64_t s = 2; s <= f->nseg; s++) {
		char *p = tu_path(f->work, f->files[s].name);

		unlink(p);
		free(p);
	}
	REQUIRE(tu_write_file(seg1, d, len) == 0, "cannot write %s", seg1);
	options(&o, 0);
	rc = iodb_open(f->work, &o, &db);
	REQUIRE(rc == IODB_OK || rc == IODB_ECORRUPT, "iodb_open returned %d: %s", rc,
		      iodb_errmsg());
	if (rc == IODB_ECORRUPT) {
		REQUIRE(strstr(iodb_errmsg(), seg1) != NULL, "\"%s\" does not name %s",
			      iodb_errmsg(), seg1);
	} else {
		capture(db, &f->scratch);
		REQUIRE_OK(iodb_close(db));
	}
	free(seg1);
	free(jdir);
	return rc;
}

static void put(struct buf *b, const void *p, size_t n)
{
	REQUIRE(buf_append(b, p, n) == 0, "out of memory");
}

static void put_random(uint64_t *seed, struct buf *b, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		uint8_t c = (uint8_t)tu_rand(seed);

		put(b, &c, 1);
	}
}

static void frame(struct buf *seg, uint8_t type, const void *p, size_t len)
{
	size_t mark;

	REQUIRE(journal_rec_begin(seg, &mark) == 0 && buf_append(seg, p, len) == 0 &&
			journal_rec_end(seg, mark, type) == 0,
		"framing a record failed");
}

static void mutate(uint64_t *seed, struct buf *b)
{
	static const uint8_t interesting[] = {0, 1, 2, 0x7f, 0x80, 0xff};
	int k = 1 + (int)tu_below(seed, 3);

	while (k-- && b->len) {
		size_t at = tu_below(seed, (uint32_t)b->len);

		switch (tu_below(seed, 4)) {
		case 0:
			b->p[at] ^= (uint8_t)(1u << tu_below(seed, 8));
			break;
		case 1:
			b->p[at] = interesting[tu_below(seed, sizeof(interesting))];
			break;
		case 2:
			b->len = at;
			break;
		case 3:
			if (b->len >= 4) {
				at = tu_below(seed, (uint32_t)(b->len - 3));
				put_u32(b->p + at, (uint32_t)tu_below(seed, 64));
			}
			break;
		}
	}
}

/* The real history with a few records' payloads (or types) changed and framed again with
 * good checksums: the db must refuse what makes no sense, or read what it accepts. */
START_TEST(test_hostile_reframed)
{
	uint64_t seed = tu_seed(0x4EF4);
	struct fixture f;
	struct buf seg, p;
	int opened = 0, refused = 0;

	fixture_build(&f);
	buf_init(&seg);
	buf_init(&p);
	for (int iter = 0; iter < 400; iter++) {
		int nmut = 1 + (int)tu_below(&seed, 3);
		size_t victims[3];

		for (int m = 0; m < nmut; m++)
			victims[m] = tu_below(&seed, (uint32_t)f.nrecs);
		seg.len = 0;
		put(&seg, f.files[1].d, SEG_HEADER);
		for (size_t r = 0; r < f.nrecs; r++) {
			uint8_t type = f.recs[r].type;

			p.len = 0;
			put(&p, f.recs[r].p, f.recs[r].len);
			for (int m = 0; m < nmut; m++)
				if (victims[m] == r) {
					if (tu_below(&seed, 8) == 0)
						type = (uint8_t)(1 + tu_below(&seed, 6));
					else
						mutate(&seed, &p);
				}
			frame(&seg, type, p.p, p.len);
		}
		if (hostile_trial(&f, seg.p, seg.len) == 0)
			opened++;
		else
			refused++;
	}
	/* Both outcomes happen (the mutations are neither all harmless nor all caught early). */
	ck_assert_int_gt(opened, 0);
	ck_assert_int_gt(refused, 0);
	buf_free(&seg);
	buf_free(&p);
	fixture_free(&f);
}
END_TEST

/* Random records under a valid header, and random bytes as the whole segment. */
START_TEST(test_hostile_random)
{
	uint64_t seed = tu_seed(0x4A4D);
	struct fixture f;
	struct buf seg, p;

	fixture_build(&f);
	buf_init(&seg);
	buf_init(&p);
	for (int iter = 0; iter < 600; iter++) {
		int mode = iter % 3, rc;

		seg.len = 0;
		if (mode < 2)
			put(&seg, f.files[1].d, SEG_HEADER);
		if (mode == 0) {
			/* Framed records: random payloads, or real ones of the wrong type. */
			int n = 1 + (int)tu_below(&seed, 6);

			for (int r = 0; r < n; r++) {
				uint8_t type = (uint8_t)(1 + tu_below(&seed, 6));

				p.len = 0;
				if (tu_below(&seed, 2)) {
					const struct rec *src =
						&f.recs[tu_below(&seed, (uint32_t)f.nrecs)];

					put(&p, src->p, src->len);
					mutate(&seed, &p);
				} else {
					size_t len = tu_below(&seed, 64);

					put_random(&seed, &p, len);
				}
				frame(&seg, type, p.p, p.len);
			}
		} else {
			size_t len = tu_below(&seed, 400);

			put_random(&seed, &seg, len);
		}
		rc = hostile_trial(&f, seg.p, seg.len);
		if (mode == 1) /* header + junk: a torn tail, an empty store */
			REQUIRE(rc == 0, "header and junk: %s", iodb_errmsg());
		if (mode == 2)
			REQUIRE(rc == (seg.len <= SEG_HEADER ? 0 : IODB_ECORRUPT),
				"%zu random bytes as the segment: rc %d", seg.len, rc);
		if (mode != 0 && rc == 0)
			REQUIRE(find_state(&f, &f.scratch) == 0,
				"a journal without records opened as a store with history");
	}
	buf_free(&seg);
	buf_free(&p);
	fixture_free(&f);
}
END_TEST

/* ---- Iterator walks over damaged runs ------------------------------------------------- */

/*
 * Four stores in the same runs (two flushes: two runs in one shard, blocks of 256 bytes, so
 * blocks hold the end of one store and the start of the next) and no block cache, so every
 * block a walk needs is read, and checked, again. For each damaged byte, every walk over
 * every store (from the first key, the last, a seek, with turns) must either give exactly
 * the store's entries in order or stop with IODB_ECORRUPT naming the run: never end early,
 * and never show a store as empty.
 */
#define WALK_KEYS 60

static const char *const walk_stores[4] = {NULL, "a", "b", "c"};

struct wstore {
	char key[WALK_KEYS][8], val[WALK_KEYS][40];
	int n;
};

struct walk_stats {
	long corrupt, backward_corrupt, last_corrupt;
};

static void walk_value(int st, int k, int gen, char *val)
{
	uint64_t h = ((uint64_t)st << 40) ^ ((uint64_t)k << 20) ^ (uint64_t)gen;

	(void)tu_rand(&h);
	snprintf(val, 40, "%u.%03u.%u.%016llx", (unsigned)st % 10u, (unsigned)k % 1000u,
		 (unsigned)gen % 10u, (unsigned long long)tu_rand(&h));
}

/* Version 1 puts keys 0, 2, 4, ... of every store, version 2 overwrites every third, deletes
 * every fifth and adds the odd ones below 20; each is flushed to a run of its own. */
static void walk_build(const char *dir, struct wstore want[4])
{
	iodb_options o;
	iodb_batch *b;
	iodb *db;
	char key[8], val[40];

	iodb_options_init(&o);
	o.merkle = 0;
	o.sync = 0;
	o.auto_compaction = 0;
	o.block_bytes = 256;
	ck_ok(iodb_open(dir, &o, &db));
	for (int gen = 1; gen <= 2; gen++) {
		ck_ok(iodb_batch_new(&b));
		for (int st = 0; st < 4; st++)
			for (int k = 0; k < WALK_KEYS; k++) {
				snprintf(key, sizeof(key), "key%03u", (unsigned)k % 1000u);
				walk_value(st, k, gen, val);
				if (gen == 1 && k % 2 == 0)
					ck_ok(iodb_batch_put(b, walk_stores[st], key, 6, val,
							     strlen(val)));
				else if (gen == 2 && k % 2 == 0 && k % 5 == 0)
					ck_ok(iodb_batch_del(b, walk_stores[st], key, 6));
				else if (gen == 2 && (k % 3 == 0 || (k % 2 && k < 20)))
					ck_ok(iodb_batch_put(b, walk_stores[st], key, 6, val,
							     strlen(val)));
			}
		ck_ok(iodb_update(db, gen == 1 ? "v1" : "v2", 2, b));
		iodb_batch_free(b);
		ck_ok(iodb_flush(db));
	}
	ck_ok(iodb_close(db));
	for (int st = 0; st < 4; st++) {
		struct wstore *w = &want[st];

		w->n = 0;
		for (int k = 0; k < WALK_KEYS; k++) {
			int gen = k % 2 == 0 && k % 5 == 0 ? 0
				  : k % 3 == 0 || (k % 2 && k < 20) ? 2
				  : k % 2 == 0 ? 1 : 0;

			if (!gen)
				continue;
			snprintf(w->key[w->n], 8, "key%03u", (unsigned)k % 1000u);
			walk_value(st, k, gen, w->val[w->n]);
			w->n++;
		}
	}
}

/* One step of a walk that should be at entry idx (off the end when outside 0..n-1). Returns
 * whether the walk goes on; a stop is checked to be the right one. */
static int walk_step(iodb_iter *it, int rc, const struct wstore *w, long idx, const char *run,
		     const char *what)
{
	const void *k, *v;
	size_t kl, vl;

	if (rc == IODB_ECORRUPT) {
		REQUIRE(strstr(iodb_errmsg(), run), "%s: \"%s\" does not name %s", what,
			iodb_errmsg(), run);
		return 0;
	}
	if (idx < 0 || idx >= w->n) {
		REQUIRE(rc == IODB_NOTFOUND, "%s: past the end: rc %d", what, rc);
		return 0;
	}
	REQUIRE(rc == IODB_OK, "%s: entry %ld of %d: rc %d (%s)", what, idx, w->n, rc,
		iodb_errmsg());
	REQUIRE(iodb_iter_key(it, &k, &kl) == 0 && iodb_iter_value(it, &v, &vl) == 0,
		"%s: no entry", what);
	REQUIRE(kl == 6 && memcmp(k, w->key[idx], 6) == 0, "%s: entry %ld: key %.*s, want %s",
		what, idx, (int)kl, (const char *)k, w->key[idx]);
	REQUIRE(vl == strlen(w->val[idx]) && memcmp(v, w->val[idx], vl) == 0,
		"%s: %s: wrong value", what, w->key[idx]);
	return 1;
}

/* Start with `start` (F first, L last, S seek to key030), move `dir` (+1 next, -1 prev) `turn`
 * times (or to the end when turn < 0), then the other way until the walk stops. Returns
 * IODB_ECORRUPT if it stopped on damage, else 0; *backward: the stop was a backward move or
 * iodb_iter_last, *at_last: iodb_iter_last itself. */
static int walk(iodb_iter *it, const struct wstore *w, char start, int dir, int turn,
		const char *run, const char *what, int *backward, int *at_last)
{
	long idx;
	int rc, moves = 0;

	if (start == 'F') {
		idx = 0;
		rc = iodb_iter_first(it);
	} else if (start == 'L') {
		idx = w->n - 1;
		rc = iodb_iter_last(it);
	} else {
		for (idx = 0; idx < w->n && strcmp(w->key[idx], "key030") < 0; idx++)
			;
		rc = iodb_iter_seek(it, "key030", 6);
	}
	*backward = *at_last = start == 'L';
	while (walk_step(it, rc, w, idx, run, what)) {
		*at_last = 0;
		if (turn >= 0 && moves++ == turn)
			dir = -dir;
		idx += dir;
		*backward = dir < 0;
		rc = dir > 0 ? iodb_iter_next(it) : iodb_iter_prev(it);
	}
	return rc == IODB_ECORRUPT ? rc : 0;
}

static void walk_all(const char *dir, const struct wstore want[4], const char *run,
		     const char *what, struct walk_stats *ws)
{
	static const struct {
		char start;
		int dir, turn;
	} plan[] = {{'F', 1, -1}, {'L', -1, -1}, {'S', 1, -1}, {'S', -1, -1},
		    {'F', 1, WALK_KEYS / 4}, {'L', -1, WALK_KEYS / 4}};
	iodb_options o;
	iodb *db;
	int rc;

	iodb_options_init(&o);
	o.merkle = 0;
	o.create_if_missing = 0;
	o.auto_compaction = 0;
	o.block_cache_bytes = 0;
	rc = iodb_open(dir, &o, &db);
	REQUIRE(rc == 0, "%s: open: %s", what, iodb_errmsg()); /* open reads no run */
	for (int st = 0; st < 4; st++)
		for (size_t p = 0; p < sizeof(plan) / sizeof(plan[0]); p++) {
			iodb_iter *it;
			int backward = 0, at_last = 0;

			rc = iodb_iter_open(db, NULL, walk_stores[st], &it);
			if (rc == IODB_ECORRUPT) {
				walk_step(NULL, rc, &want[st], 0, run, what);
				ws->corrupt++;
				continue;
			}
			REQUIRE(rc == 0, "%s: iter_open: %s", what, iodb_errmsg());
			if (walk(it, &want[st], plan[p].start, plan[p].dir, plan[p].turn, run, what,
				 &backward, &at_last)) {
				ws->corrupt++;
				ws->backward_corrupt += backward;
				ws->last_corrupt += at_last;
			}
			iodb_iter_close(it);
		}
	REQUIRE(iodb_close(db) == 0, "%s: close: %s", what, iodb_errmsg());
}

/* The run files of dir/shards, sorted (the manifest's 20-digit names). */
static int walk_runs(const char *dir, char names[2][32])
{
	char *sd = tu_path(dir, "shards");
	DIR *d = opendir(sd);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strlen(e->d_name) == 24 && strcmp(e->d_name + 20, ".run") == 0) {
			ck_assert_int_lt(n, 2);
			memcpy(names[n++], e->d_name, 25); /* 24 bytes and the NUL */
		}
	closedir(d);
	free(sd);
	if (n == 2 && strcmp(names[0], names[1]) > 0) {
		char t[32];

		memcpy(t, names[0], 32);
		memcpy(names[0], names[1], 32);
		memcpy(names[1], t, 32);
	}
	return n;
}

START_TEST(test_walks_over_damaged_runs)
{
	char *dir = tu_tmpdir("walks"), names[2][32], what[128];
	struct wstore want[4];
	struct walk_stats ws = {0};
	long trials = 0;

	walk_build(dir, want);
	ck_assert_int_eq(walk_runs(dir, names), 2);
	walk_all(dir, want, names[0], "undamaged", &ws);
	ck_assert_int_eq(ws.corrupt, 0);
	for (int r = 0; r < 2; r++) {
		char *sd = tu_path(dir, "shards"), *path = tu_path(sd, names[r]);
		unsigned char *d;
		size_t len;

		ck_ok(tu_read_file(path, &d, &len));
		/* Every byte of the first run; every 7th of the second (and of both under the
		 * sanitizers, every 29th). */
		for (size_t x = 0; x < len; x += SANITIZED ? 29 : r ? 7 : 1) {
			d[x] ^= flip_mask(x);
			REQUIRE(tu_write_file(path, d, len) == 0, "cannot write %s", path);
			d[x] ^= flip_mask(x);
			snprintf(what, sizeof(what), "%.31s: byte %zu flipped", names[r], x);
			walk_all(dir, want, names[r], what, &ws);
			trials++;
		}
		ck_ok(tu_write_file(path, d, len));
		free(d);
		free(path);
		free(sd);
	}
	printf("walks: %ld damaged runs, %ld walks stopped by IODB_ECORRUPT (%ld going backward, "
	       "%ld at iodb_iter_last)\n", trials, ws.corrupt, ws.backward_corrupt, ws.last_corrupt);
	/* The damage was seen, going backward too, iodb_iter_last included. */
	ck_assert_int_gt(ws.corrupt, trials);
	ck_assert_int_gt(ws.backward_corrupt, trials / 4);
	ck_assert_int_gt(ws.last_corrupt, 0);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static Suite *corrupt_suite(void)
{
	Suite *s = suite_create("corrupt");
	TCase *tc = tcase_create("corrupt");

	tcase_add_test(tc, test_reference);
	tcase_add_test(tc, test_flip_segment_starts);
	tcase_add_test(tc, test_flip_sample);
	tcase_add_test(tc, test_cut_last_segment);
	tcase_add_test(tc, test_cut_other_segments);
	tcase_add_test(tc, test_identity_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_test(tc, test_hostile_reframed);
	tcase_add_test(tc, test_hostile_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("runs");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_walks_over_damaged_runs);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(corrupt_suite());
}
