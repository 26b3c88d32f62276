/*
 * test_journal.c — suite "journal": the commit-record codec (record), segments, framing,
 * replay and the sticky failure (journal), the recovery rule (recovery), and hostile input to
 * the decoders (hostile).
 *
 * The recovery rule under test (journal/journal.c): a record that fails its checks in the
 * last segment with no valid record after it is a torn tail and is cut off; any other bad
 * record, and any bad header of a segment with bytes after it, is IODB_ECORRUPT naming the
 * segment file and the offset. A failed open must leave the files as they were.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/journal.h"
#include "testutil.h"

/* journal.c: every segment starts with a 32-byte header; records follow back to back. */
#define SEG_HEADER 32

#define ck_msg_has(s)                                                                     \
	ck_assert_msg(strstr(iodb_errmsg(), (s)) != NULL, "errmsg \"%s\" lacks \"%s\"",      \
		      iodb_errmsg(), (s))

/* Does msg contain the decimal number off as a whole token? */
static int msg_has_number(const char *msg, uint64_t off)
{
	char num[32];
	size_t n;

	snprintf(num, sizeof(num), "%llu", (unsigned long long)off);
	n = strlen(num);
	for (const char *p = msg; (p = strstr(p, num)) != NULL; p++)
		if ((p == msg || !isdigit((unsigned char)p[-1])) && !isdigit((unsigned char)p[n]))
			return 1;
	return 0;
}

/* ---- Commit payloads ------------------------------------------------------------------ */

struct cbuild {
	struct buf stores, ops;
	uint32_t nstores;
	uint64_t nops;
};

static void cb_init(struct cbuild *c)
{
	memset(c, 0, sizeof(*c));
	buf_init(&c->stores);
	buf_init(&c->ops);
}

static void cb_free(struct cbuild *c)
{
	buf_free(&c->stores);
	buf_free(&c->ops);
}

static void cb_store(struct cbuild *c, const void *name, size_t len)
{
	ck_assert_int_eq(buf_put_u8(&c->stores, (uint8_t)len), 0);
	ck_assert_int_eq(buf_append(&c->stores, name, len), 0);
	c->nstores++;
}

static void cb_op(struct cbuild *c, uint8_t kind, uint32_t store, const void *key, size_t klen,
		  const void *val, size_t vlen)
{
	ck_assert_int_eq(jrec_put_op(&c->ops, kind, store, key, klen, val, vlen), 0);
	c->nops++;
}

static void cb_encode(struct buf *out, const struct cbuild *c, uint32_t n, uint32_t parent,
		      uint64_t height, const void *vid, uint8_t vidlen)
{
	struct jcommit jc = {.n = n,
			     .parent = parent,
			     .height = height,
			     .vid = vid,
			     .vidlen = vidlen,
			     .nstores = c->nstores,
			     .stores = c->stores.p,
			     .nops = c->nops,
			     .ops = c->ops.p,
			     .ops_len = c->ops.len};

	out->len = 0;
	ck_assert_int_eq(jcommit_encode(out, &jc), 0);
}

/* Decode from an exact-size heap copy (ASan sees any read past the end); result only. */
static int decode_rc(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	struct jcommit c;
	int rc;

	memcpy(q, p, n);
	rc = jcommit_decode(q, n, &c);
	free(q);
	return rc;
}

/* A small valid commit: three stores, puts (one empty), deletes. */
static void small_commit(struct cbuild *c)
{
	cb_init(c);
	cb_store(c, "", 0);
	cb_store(c, "alpha", 5);
	cb_store(c, "b-2.x_Z", 7);
	cb_op(c, JOP_PUT, 0, "k1", 2, "value-1", 7);
	cb_op(c, JOP_PUT, 1, "k", 1, "", 0);
	cb_op(c, JOP_DEL, 2, "gone", 4, NULL, 0);
	cb_op(c, JOP_PUT, 2, "\0bin\xff", 5, "\x01\x02\x03", 3);
	cb_op(c, JOP_DEL, 0, "k1", 2, NULL, 0);
}

/* ---- TCase record --------------------------------------------------------------------- */

struct want_op {
	uint8_t kind;
	uint32_t store;
	const void *key;
	size_t klen;
	const void *val;
	size_t vlen;
};

START_TEST(test_commit_round_trip)
{
	static char bigkey[IODB_MAX_KEY], bigval[1000], name64[64], vid255[255];
	struct cbuild c;
	struct buf out;
	struct jcommit d;
	struct rd r;
	const char *names[] = {"", "alpha", "b-2.x_Z", name64};
	struct want_op ops[7];
	size_t nops = 0;

	memset(bigkey, 'K', sizeof(bigkey));
	memset(bigval, 'V', sizeof(bigval));
	memset(name64, 'n', sizeof(name64));
	for (size_t i = 0; i < sizeof(vid255); i++)
		vid255[i] = (char)i;
	cb_init(&c);
	buf_init(&out);
	for (int i = 0; i < 4; i++)
		cb_store(&c, names[i], i == 3 ? 64 : strlen(names[i]));
#define OP(k, s, key, kl, val, vl)                                                      \
	do {                                                                             \
		ops[nops++] = (struct want_op){k, s, key, kl, val, vl};                  \
		cb_op(&c, k, s, key, kl, val, vl);                                       \
	} while (0)
	OP(JOP_PUT, 0, "k1", 2, "v1", 2);
	OP(JOP_PUT, 1, "k", 1, "", 0);
	OP(JOP_DEL, 2, "gone", 4, NULL, 0);
	OP(JOP_PUT, 3, bigkey, sizeof(bigkey), bigval, sizeof(bigval));
	OP(JOP_PUT, 1, "\0bin\xff", 5, "\0", 1);
	OP(JOP_DEL, 0, "k1", 2, NULL, 0);
	OP(JOP_PUT, 0, "k1", 2, "again", 5);
#undef OP
	cb_encode(&out, &c, UINT32_MAX, UINT32_MAX - 1, UINT64_MAX, vid255, 255);
	ck_assert_int_eq(jcommit_decode(out.p, out.len, &d), 0);
	ck_assert_uint_eq(d.n, UINT32_MAX);
	ck_assert_uint_eq(d.parent, UINT32_MAX - 1);
	ck_assert_uint_eq(d.height, UINT64_MAX);
	ck_assert_uint_eq(d.vidlen, 255);
	ck_assert_mem_eq(d.vid, vid255, 255);
	ck_assert_uint_eq(d.nstores, 4);
	for (uint32_t i = 0; i < 4; i++) {
		const uint8_t *name;
		uint8_t len;

		jcommit_store_name(&d, i, &name, &len);
		ck_assert_uint_eq(len, i == 3 ? 64 : strlen(names[i]));
		ck_assert_int_eq(memcmp(name, names[i], len), 0);
	}
	ck_assert_uint_eq(d.nops, nops);
	ck_assert_uint_eq(d.ops_len, c.ops.len);
	rd_init(&r, d.ops, d.ops_len);
	for (size_t i = 0; i < nops; i++) {
		struct jop op;

		ck_assert_int_eq(jcommit_next_op(&r, d.nstores, &op), 0);
		ck_assert_uint_eq(op.kind, ops[i].kind);
		ck_assert_uint_eq(op.store, ops[i].store);
		ck_assert_uint_eq(op.klen, ops[i].klen);
		ck_assert_int_eq(memcmp(op.key, ops[i].key, op.klen), 0);
		if (ops[i].kind == JOP_DEL) {
			ck_assert_ptr_null(op.val);
			ck_assert_uint_eq(op.vlen, 0);
		} else {
			ck_assert_uint_eq(op.vlen, ops[i].vlen);
			ck_assert(op.vlen == 0 || memcmp(op.val, ops[i].val, op.vlen) == 0);
		}
	}
	ck_assert_uint_eq(rd_left(&r), 0);

	/* An empty version: no stores, no operations. */
	cb_free(&c);
	cb_init(&c);
	cb_encode(&out, &c, 1, 0, 1, "v", 1);
	ck_assert_int_eq(jcommit_decode(out.p, out.len, &d), 0);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(d.parent, 0);
	ck_assert_uint_eq(d.height, 1);
	ck_assert_uint_eq(d.nstores, 0);
	ck_assert_uint_eq(d.nops, 0);
	ck_assert_uint_eq(d.ops_len, 0);
	cb_free(&c);
	buf_free(&out);
}
END_TEST

/* The byte layout, pinned: a change to it must be deliberate (and versioned). */
START_TEST(test_commit_golden)
{
	static const uint8_t want[] = {
		0x02, 0x00, 0x00, 0x00,				/* n = 2 */
		0x01, 0x00, 0x00, 0x00,				/* parent = 1 */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* height = 2 */
		0x02, 'v', '2',					/* vid */
		0x02, 0x00, 0x01, 's',				/* stores: "", "s" */
		0x02,						/* nops */
		JOP_PUT, 0x01, 0x01, 'a', 0x01, 'b',		/* put s a=b */
		JOP_DEL, 0x00, 0x01, 'c',			/* del "" c */
	};
	struct cbuild c;
	struct buf out;

	cb_init(&c);
	buf_init(&out);
	cb_store(&c, "", 0);
	cb_store(&c, "s", 1);
	cb_op(&c, JOP_PUT, 1, "a", 1, "b", 1);
	cb_op(&c, JOP_DEL, 0, "c", 1, NULL, 0);
	cb_encode(&out, &c, 2, 1, 2, "v2", 2);
	ck_assert_uint_eq(out.len, sizeof(want));
	ck_assert_mem_eq(out.p, want, sizeof(want));
	ck_assert_int_eq(decode_rc(want, sizeof(want)), 0);
	cb_free(&c);
	buf_free(&out);
}
END_TEST

START_TEST(test_commit_rejects_header)
{
	struct cbuild c;
	struct buf out;

	small_commit(&c);
	buf_init(&out);
	cb_encode(&out, &c, 5, 4, 3, "vid", 3);
	ck_assert_int_eq(decode_rc(out.p, out.len), 0);
	cb_encode(&out, &c, 0, 0, 3, "vid", 3); /* n = 0 */
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_encode(&out, &c, 5, 5, 3, "vid", 3); /* parent = n */
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_encode(&out, &c, 5, 6, 3, "vid", 3); /* parent > n */
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_encode(&out, &c, 5, UINT32_MAX, 3, "vid", 3);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_encode(&out, &c, 5, 4, 0, "vid", 3); /* height 0 */
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_encode(&out, &c, 5, 4, 3, NULL, 0); /* vidlen 0 */
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_encode(&out, &c, 1, 0, 1, "v", 1); /* the smallest valid header */
	ck_assert_int_eq(decode_rc(out.p, out.len), 0);

	/* Trailing bytes. */
	cb_encode(&out, &c, 5, 4, 3, "vid", 3);
	ck_assert_int_eq(buf_put_u8(&out, 0), 0);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);

	/* Every truncation. */
	cb_encode(&out, &c, 5, 4, 3, "vid", 3);
	for (size_t cut = 0; cut < out.len; cut++)
		ck_assert_msg(decode_rc(out.p, cut) == -1, "accepted a %zu-byte prefix of %zu", cut,
			      out.len);
	cb_free(&c);
	buf_free(&out);
}
END_TEST

START_TEST(test_commit_rejects_stores)
{
	static const char *bad[] = {" ", "a b", "a/b", "\xc3\xa9", "a\n", "x\0y", "a:b", "*"};
	static const size_t badlen[] = {1, 3, 3, 2, 2, 3, 3, 1};
	char long_name[255];
	struct buf out;

	buf_init(&out);
	memset(long_name, 'a', sizeof(long_name));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cbuild c;

		cb_init(&c);
		cb_store(&c, "ok", 2);
		cb_store(&c, bad[i], badlen[i]);
		cb_op(&c, JOP_PUT, 0, "k", 1, "v", 1);
		cb_encode(&out, &c, 1, 0, 1, "v", 1);
		ck_assert_msg(decode_rc(out.p, out.len) == -1, "store name %zu accepted", i);
		ck_assert_int_eq(store_name_valid((const uint8_t *)bad[i], badlen[i]), 0);
		cb_free(&c);
	}
	for (size_t len = 60; len <= 255; len++) {
		struct cbuild c;

		cb_init(&c);
		cb_store(&c, long_name, len);
		cb_encode(&out, &c, 1, 0, 1, "v", 1);
		ck_assert_int_eq(decode_rc(out.p, out.len), len <= IODB_MAX_STORE_NAME ? 0 : -1);
		ck_assert_int_eq(store_name_valid((const uint8_t *)long_name, len),
				 len <= IODB_MAX_STORE_NAME);
		cb_free(&c);
	}
	ck_assert_int_eq(store_name_valid((const uint8_t *)"", 0), 1);
	ck_assert_int_eq(store_name_valid((const uint8_t *)"AZaz09_-.", 9), 1);

	/* More store names declared than present. */
	{
		static const uint8_t p[] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
					    1, 'v', 3, 1, 'a', 0};

		ck_assert_int_eq(decode_rc(p, sizeof(p)), -1);
	}
	/* A huge declared count, with and without bytes behind it. */
	{
		uint8_t p[64] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 'v'};
		size_t n = 18;

		n += put_uvarint(p + n, UINT64_MAX);
		ck_assert_int_eq(decode_rc(p, n), -1);
		memset(p + n, 0, sizeof(p) - n);
		ck_assert_int_eq(decode_rc(p, sizeof(p)), -1);
	}
	buf_free(&out);
}
END_TEST

START_TEST(test_commit_rejects_ops)
{
	static char key64k[IODB_MAX_KEY + 1];
	struct cbuild c;
	struct buf out;

	memset(key64k, 'k', sizeof(key64k));
	buf_init(&out);

	/* Store index out of range (2 stores: 0 and 1 are fine). */
	for (uint32_t idx = 0; idx < 4; idx++) {
		cb_init(&c);
		cb_store(&c, "a", 1);
		cb_store(&c, "b", 1);
		cb_op(&c, JOP_PUT, idx, "k", 1, "v", 1);
		cb_encode(&out, &c, 1, 0, 1, "v", 1);
		ck_assert_int_eq(decode_rc(out.p, out.len), idx < 2 ? 0 : -1);
		cb_free(&c);
	}
	/* No stores at all but an operation. */
	cb_init(&c);
	cb_op(&c, JOP_DEL, 0, "k", 1, NULL, 0);
	cb_encode(&out, &c, 1, 0, 1, "v", 1);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_free(&c);

	/* Operation kinds other than put and delete. */
	for (int kind = 0; kind < 256; kind++) {
		cb_init(&c);
		cb_store(&c, "", 0);
		cb_op(&c, JOP_DEL, 0, "k", 1, NULL, 0);
		c.ops.p[0] = (uint8_t)kind; /* a delete's bytes under another kind */
		cb_encode(&out, &c, 1, 0, 1, "v", 1);
		ck_assert_int_eq(decode_rc(out.p, out.len), kind == JOP_DEL ? 0 : -1);
		cb_free(&c);
	}
	/* klen 0 and klen > 65535; 65535 is fine. */
	{
		static const size_t klens[] = {0, 1, IODB_MAX_KEY, IODB_MAX_KEY + 1};

		for (int i = 0; i < 4; i++)
			for (int kind = JOP_PUT; kind <= JOP_DEL; kind++) {
				cb_init(&c);
				cb_store(&c, "", 0);
				cb_op(&c, (uint8_t)kind, 0, key64k, klens[i], "v", 1);
				cb_encode(&out, &c, 1, 0, 1, "v", 1);
				ck_assert_int_eq(decode_rc(out.p, out.len),
						 klens[i] >= 1 && klens[i] <= IODB_MAX_KEY
							 ? 0
							 : -1);
				cb_free(&c);
			}
	}
	/* nops disagreeing with the operations present. */
	small_commit(&c);
	c.nops++;
	cb_encode(&out, &c, 1, 0, 1, "v", 1);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	c.nops -= 2;
	cb_encode(&out, &c, 1, 0, 1, "v", 1);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	c.nops = 0;
	cb_encode(&out, &c, 1, 0, 1, "v", 1);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	c.nops = UINT64_MAX;
	cb_encode(&out, &c, 1, 0, 1, "v", 1);
	ck_assert_int_eq(decode_rc(out.p, out.len), -1);
	cb_free(&c);
	buf_free(&out);
}
END_TEST

/* A put whose value length is IODB_MAX_VALUE + 1 with every byte present is still refused.
 * The bytes are calloc'ed and never touched, so this costs no real memory. */
START_TEST(test_commit_rejects_vlen)
{
	for (uint64_t vlen = IODB_MAX_VALUE; vlen <= IODB_MAX_VALUE + 1ull; vlen++) {
		size_t cap = (size_t)vlen + 64, n = 0;
		uint8_t *p = calloc(1, cap);

		ck_assert_ptr_nonnull(p);
		put_u32(p, 1);
		put_u32(p + 4, 0);
		put_u64(p + 8, 1);
		n = 16;
		p[n++] = 1;
		p[n++] = 'v';
		n += put_uvarint(p + n, 1); /* one store: "" */
		p[n++] = 0;
		n += put_uvarint(p + n, 1); /* one op */
		p[n++] = JOP_PUT;
		n += put_uvarint(p + n, 0);
		n += put_uvarint(p + n, 1);
		p[n++] = 'k';
		n += put_uvarint(p + n, vlen);
		n += (size_t)vlen;
		ck_assert_int_eq(jcommit_decode(p, n, &(struct jcommit){0}),
				 vlen <= IODB_MAX_VALUE ? 0 : -1);
		free(p);
	}
	/* Absurd lengths with nothing behind them. */
	{
		static const uint64_t lens[] = {IODB_MAX_VALUE + 1ull, 1ull << 32, 1ull << 63,
						UINT64_MAX};

		for (int i = 0; i < 4; i++) {
			uint8_t p[64];
			size_t n = 0;

			put_u32(p, 1);
			put_u32(p + 4, 0);
			put_u64(p + 8, 1);
			n = 16;
			p[n++] = 1;
			p[n++] = 'v';
			p[n++] = 1;
			p[n++] = 0;
			p[n++] = 1;
			p[n++] = JOP_PUT;
			p[n++] = 0;
			p[n++] = 1;
			p[n++] = 'k';
			n += put_uvarint(p + n, lens[i]);
			ck_assert_int_eq(decode_rc(p, n), -1);
			/* The same length as a key. */
			n = 16 + 2 + 2 + 1;
			p[n++] = JOP_DEL;
			p[n++] = 0;
			n += put_uvarint(p + n, lens[i]);
			ck_assert_int_eq(decode_rc(p, n), -1);
		}
	}
}
END_TEST

/* ---- Journal harness ------------------------------------------------------------------ */

struct seen_rec {
	uint8_t type;
	uint8_t *p;
	size_t len;
	struct jpos pos;
	char *path;
};

struct seen {
	struct seen_rec *v;
	size_t n, cap;
	size_t stop_after; /* return 42 after this many records; 0: never */
	int decode;	   /* decode commit payloads (hostile tests) */
};

static void seen_reset(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].p);
		free(s->v[i].path);
	}
	s->n = 0;
}

static int seen_fn(void *ctx, uint8_t type, const uint8_t *p, size_t len, const char *path,
		   const struct jpos *pos)
{
	struct seen *s = ctx;
	struct seen_rec *r;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
	}
	r = &s->v[s->n++];
	r->type = type;
	r->len = len;
	r->p = malloc(len ? len : 1);
	memcpy(r->p, p, len);
	r->pos = *pos;
	r->path = strdup(path);
	if (s->decode && type == JREC_COMMIT) {
		struct jcommit c;

		if (jcommit_decode(p, len, &c) == 0) {
			struct rd rd;
			struct jop op;

			rd_init(&rd, c.ops, c.ops_len);
			for (uint64_t i = 0; i < c.nops; i++)
				ck_assert_int_eq(jcommit_next_op(&rd, c.nstores, &op), 0);
		}
	}
	return s->stop_after && s->n == s->stop_after ? 42 : 0;
}

struct jt {
	char *root, *dir;
	struct journal_opts o;
	struct env *e;
	struct journal *j;
	struct seen seen;
};

static void jt_init(struct jt *t, uint64_t segment_bytes, int sync)
{
	memset(t, 0, sizeof(*t));
	t->root = tu_tmpdir("journal");
	t->dir = tu_path(t->root, "journal");
	t->o.segment_bytes = segment_bytes;
	t->o.sync = sync;
}

static void jt_close(struct jt *t)
{
	journal_close(t->j);
	t->j = NULL;
	env_free(t->e);
	t->e = NULL;
}

/* Open with a fresh env; the records replayed land in t->seen. */
static int jt_open(struct jt *t)
{
	int rc;

	jt_close(t);
	seen_reset(&t->seen);
	ck_assert_int_eq(env_new(&t->e), 0);
	rc = journal_open(t->e, t->dir, 1, &t->o, seen_fn, &t->seen, &t->j);
	if (rc)
		t->j = NULL;
	return rc;
}

static void jt_done(struct jt *t)
{
	jt_close(t);
	seen_reset(&t->seen);
	free(t->seen.v);
	tu_rmrf(t->root);
	free(t->root);
	free(t->dir);
}

static char *seg_file(const struct jt *t, uint64_t seg)
{
	char *p;

	if (asprintf(&p, "%s/%020llu.log", t->dir, (unsigned long long)seg) < 0)
		abort();
	return p;
}

static int count_segments(const struct jt *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0;
	closedir(d);
	return n;
}

/* Record i of the test journals: its type and payload follow from i. */
static uint8_t rec_type(uint32_t i)
{
	return (uint8_t)(1 + i % 4);
}

static size_t rec_len(uint32_t i)
{
	return i % 7 == 0 ? 0 : (i * 37u + 11) % 211;
}

static void rec_payload(uint32_t i, uint8_t *p)
{
	for (size_t k = 0; k < rec_len(i); k++)
		p[k] = (uint8_t)(i * 131 + k * 7 + 3);
}

static void add_rec(struct buf *b, uint32_t i)
{
	uint8_t p[256];
	size_t mark;

	rec_payload(i, p);
	ck_assert_int_eq(journal_rec_begin(b, &mark), 0);
	ck_assert_int_eq(buf_append(b, p, rec_len(i)), 0);
	ck_assert_int_eq(journal_rec_end(b, mark, rec_type(i)), 0);
}

/* Write records ids[0..n) in groups of 1, 2, 3, ... records per journal_write. */
static int write_ids(struct jt *t, const uint32_t *ids, size_t n, int grouped)
{
	struct buf b;
	size_t i = 0, writes = 0;

	buf_init(&b);
	while (i < n) {
		size_t per = grouped ? 1 + writes % 3 : 1;

		b.len = 0;
		for (size_t k = 0; k < per && i < n; k++)
			add_rec(&b, ids[i++]);
		ck_ok(journal_write(t->j, &b, NULL));
		writes++;
	}
	buf_free(&b);
	return (int)writes;
}

static int write_range(struct jt *t, uint32_t from, uint32_t n, int grouped)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	int w;

	for (uint32_t i = 0; i < n; i++)
		ids[i] = from + i;
	w = write_ids(t, ids, n, grouped);
	free(ids);
	return w;
}

/* The replay saw exactly records ids[0..n), in order, laid out back to back. */
static void check_seen_ids(const struct jt *t, const uint32_t *ids, size_t n)
{
	uint64_t seg = 0, off = 0;

	ck_assert_uint_eq(t->seen.n, n);
	for (size_t i = 0; i < n; i++) {
		const struct seen_rec *r = &t->seen.v[i];
		uint8_t p[256];
		char *path;

		rec_payload(ids[i], p);
		ck_assert_uint_eq(r->type, rec_type(ids[i]));
		ck_assert_uint_eq(r->len, rec_len(ids[i]));
		ck_assert_int_eq(memcmp(r->p, p, r->len), 0);
		if (i == 0 || r->pos.seg != seg) {
			ck_assert(i == 0 || r->pos.seg == seg + 1);
			seg = r->pos.seg;
			off = SEG_HEADER;
		}
		ck_assert_uint_eq(r->pos.off, off);
		path = seg_file(t, seg);
		ck_assert_str_eq(r->path, path);
		free(path);
		off += JREC_HEADER + r->len;
	}
}

static void check_seen_range(const struct jt *t, uint32_t from, uint32_t n)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));

	for (uint32_t i = 0; i < n; i++)
		ids[i] = from + i;
	check_seen_ids(t, ids, n);
	free(ids);
}

static uint64_t frame_bytes(uint32_t from, uint32_t n)
{
	uint64_t s = 0;

	for (uint32_t i = from; i < from + n; i++)
		s += JREC_HEADER + rec_len(i);
	return s;
}

/* ---- TCase journal -------------------------------------------------------------------- */

START_TEST(test_open_empty)
{
	struct jt t;
	struct journal_stats st;
	char *seg1;

	jt_init(&t, 1 << 20, 1);
	seg1 = seg_file(&t, 1);
	ck_assert_int_eq(tu_file_size(t.dir), -1);
	ck_ok(jt_open(&t));
	ck_assert_uint_eq(t.seen.n, 0);
	ck_assert_int_eq(tu_file_size(seg1), SEG_HEADER);
	ck_assert_int_eq(count_segments(&t), 1);
	journal_get_stats(t.j, &st);
	ck_assert_uint_eq(st.segments, 1);
	ck_assert_uint_eq(st.size, SEG_HEADER);
	ck_assert_uint_eq(st.bytes_written, 0);
	ck_ok(jt_open(&t));
	ck_assert_uint_eq(t.seen.n, 0);
	ck_assert_int_eq(count_segments(&t), 1);
	ck_assert_int_eq(tu_file_size(seg1), SEG_HEADER);
	/* Not created without create. */
	jt_close(&t);
	{
		struct env *e;
		struct journal *j = NULL;
		char *other = tu_path(t.root, "nothing");

		ck_assert_int_eq(env_new(&e), 0);
		ck_assert_int_ne(journal_open(e, other, 0, &t.o, seen_fn, &t.seen, &j), 0);
		ck_assert_ptr_null(j);
		ck_assert_int_eq(tu_file_size(other), -1);
		env_free(e);
		free(other);
	}
	free(seg1);
	jt_done(&t);
}
END_TEST

START_TEST(test_write_replay)
{
	for (int sync = 0; sync <= 1; sync++) {
		struct jt t;
		struct journal_stats st;
		uint64_t syncs0;
		int writes;
		char *seg1;

		jt_init(&t, 1 << 20, sync);
		seg1 = seg_file(&t, 1);
		ck_ok(jt_open(&t));
		syncs0 = env_op_count(t.e, ENV_OP_SYNC);
		writes = write_range(&t, 0, 60, 1);
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC) - syncs0,
				  sync ? (uint64_t)writes : 0);
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_WRITE), 1 + (uint64_t)writes);
		journal_get_stats(t.j, &st);
		ck_assert_uint_eq(st.bytes_written, frame_bytes(0, 60));
		ck_assert_uint_eq(st.size, SEG_HEADER + frame_bytes(0, 60));
		ck_assert_uint_eq(st.segments, 1);
		ck_assert_uint_eq(st.syncs, sync ? (uint64_t)writes : 0);
		ck_assert_int_eq(tu_file_size(seg1), (long long)st.size);

		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, 60);
		journal_get_stats(t.j, &st);
		ck_assert_uint_eq(st.bytes_written, 0);
		ck_assert_uint_eq(st.size, SEG_HEADER + frame_bytes(0, 60));
		/* Appending after a reopen continues the same log. */
		write_range(&t, 60, 10, 0);
		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, 70);
		ck_assert_int_eq(count_segments(&t), 1);
		free(seg1);
		jt_done(&t);
	}
}
END_TEST

START_TEST(test_replay_stop)
{
	struct jt t;
	struct journal *j = NULL;
	struct env *e;

	jt_init(&t, 1 << 20, 1);
	ck_ok(jt_open(&t));
	write_range(&t, 0, 10, 0);
	jt_close(&t);
	ck_assert_int_eq(env_new(&e), 0);
	t.seen.stop_after = 3;
	ck_assert_int_eq(journal_open(e, t.dir, 1, &t.o, seen_fn, &t.seen, &j), 42);
	check_seen_range(&t, 0, 3);
	env_free(e);
	t.seen.stop_after = 0;
	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 10);
	jt_done(&t);
}
END_TEST

START_TEST(test_rotation)
{
	const uint64_t segbytes = 1024;
	struct jt t;
	struct journal_stats st;
	int nseg;
	long long total = 0;

	jt_init(&t, segbytes, 0);
	ck_ok(jt_open(&t));
	write_range(&t, 0, 120, 1);
	journal_get_stats(t.j, &st);
	nseg = count_segments(&t);
	ck_assert_int_ge(nseg, 5);
	ck_assert_uint_eq(st.segments, (uint64_t)nseg);
	for (int s = 1; s <= nseg; s++) {
		char *p = seg_file(&t, (uint64_t)s);
		long long size = tu_file_size(p);

		ck_assert_int_ge(size, SEG_HEADER);
		if (s < nseg) {
			/* Full, and left as soon as it was: at most one write (3 records) over. */
			ck_assert_int_ge(size, (long long)segbytes);
			ck_assert_int_lt(size, (long long)segbytes + 3 * (JREC_HEADER + 211));
		}
		total += size;
		free(p);
	}
	ck_assert_uint_eq(st.size, (uint64_t)total);
	ck_assert_uint_eq(st.bytes_written, frame_bytes(0, 120));
	ck_assert_uint_eq(st.syncs, (uint64_t)nseg - 1); /* sync off: only at rotation */

	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 120);
	ck_assert_uint_eq(t.seen.v[0].pos.seg, 1);
	ck_assert_uint_eq(t.seen.v[119].pos.seg, (uint64_t)nseg);
	journal_get_stats(t.j, &st);
	ck_assert_uint_eq(st.segments, (uint64_t)nseg);
	ck_assert_uint_eq(st.size, (uint64_t)total);
	write_range(&t, 120, 30, 1);
	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 150);
	jt_done(&t);
}
END_TEST

START_TEST(test_missing_segment)
{
	for (uint64_t gone = 2; gone <= 3; gone++) {
		struct jt t;
		char *p;

		jt_init(&t, 512, 0);
		ck_ok(jt_open(&t));
		write_range(&t, 0, 60, 0);
		jt_close(&t);
		ck_assert_int_ge(count_segments(&t), 4);
		p = seg_file(&t, gone);
		ck_assert_int_eq(unlink(p), 0);
		ck_rc(jt_open(&t), IODB_ECORRUPT);
		ck_msg_has(p);
		ck_assert_ptr_null(t.j);
		free(p);
		jt_done(&t);
	}
}
END_TEST

/* After a failed write or fsync every later write fails, and a reopen does not show it. */
static void sticky_case(enum env_op op)
{
	struct jt t;
	struct buf b;
	char *seg1;
	long long before;

	jt_init(&t, 1 << 20, 1);
	seg1 = seg_file(&t, 1);
	buf_init(&b);
	ck_ok(jt_open(&t));
	write_range(&t, 0, 5, 0);
	before = tu_file_size(seg1);
	env_fail_nth(t.e, op, 1);
	add_rec(&b, 5);
	ck_rc(journal_write(t.j, &b, NULL), IODB_EIO);
	ck_msg_has(seg1);
	ck_assert_int_eq(tu_file_size(seg1), before); /* cut back */
	/* The fault fired once; the journal still refuses. */
	for (uint32_t i = 6; i < 9; i++) {
		uint64_t writes = env_op_count(t.e, ENV_OP_WRITE);

		b.len = 0;
		add_rec(&b, i);
		ck_rc(journal_write(t.j, &b, NULL), IODB_EIO);
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_WRITE), writes); /* not even tried */
	}
	ck_assert_int_eq(tu_file_size(seg1), before);
	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 5);
	/* A reopened journal writes again. */
	write_range(&t, 100, 2, 0);
	ck_ok(jt_open(&t));
	{
		uint32_t ids[] = {0, 1, 2, 3, 4, 100, 101};

		check_seen_ids(&t, ids, 7);
	}
	buf_free(&b);
	free(seg1);
	jt_done(&t);
}

START_TEST(test_sticky_sync)
{
	sticky_case(ENV_OP_SYNC);
}
END_TEST

START_TEST(test_sticky_write)
{
	sticky_case(ENV_OP_WRITE);
}
END_TEST

/* A fault in any sync of a rotation (old segment, new header, directory, the record). */
START_TEST(test_sticky_rotation)
{
	for (uint64_t nth = 1; nth <= 4; nth++) {
		struct jt t;
		struct journal_stats st;
		struct buf b;
		uint32_t n = 0;

		jt_init(&t, 600, 1);
		buf_init(&b);
		ck_ok(jt_open(&t));
		do {
			write_range(&t, n++, 1, 0);
			journal_get_stats(t.j, &st);
		} while (st.size < 600);
		ck_assert_uint_eq(st.segments, 1);
		env_fail_nth(t.e, ENV_OP_SYNC, nth);
		add_rec(&b, n);
		ck_rc(journal_write(t.j, &b, NULL), IODB_EIO);
		b.len = 0;
		add_rec(&b, n + 1);
		ck_rc(journal_write(t.j, &b, NULL), IODB_EIO);
		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, n);
		write_range(&t, 1000, 3, 0);
		ck_ok(jt_open(&t));
		ck_assert_uint_eq(t.seen.n, n + 3);
		ck_assert_uint_eq(t.seen.v[n].type, rec_type(1000));
		ck_assert_uint_eq(t.seen.v[n + 2].type, rec_type(1002));
		ck_assert_uint_eq(t.seen.v[n + 2].pos.seg, 2);
		buf_free(&b);
		jt_done(&t);
	}
}
END_TEST

struct image {
	unsigned char *d;
	size_t len;
};

static struct image img_read(const char *path)
{
	struct image im;

	ck_assert_int_eq(tu_read_file(path, &im.d, &im.len), 0);
	return im;
}

static int img_same(const char *path, const struct image *im)
{
	struct image now;
	int same;

	if (tu_read_file(path, &now.d, &now.len) != 0)
		return 0;
	same = now.len == im->len && memcmp(now.d, im->d, im->len) == 0;
	free(now.d);
	return same;
}

/* journal_write's *at is where its first record lies, across rotations. */
START_TEST(test_write_positions)
{
	struct jt t;
	struct jpos at[60];
	struct buf b;

	jt_init(&t, 600, 1);
	buf_init(&b);
	ck_ok(jt_open(&t));
	for (uint32_t i = 0; i < 60; i++) {
		b.len = 0;
		add_rec(&b, i);
		ck_ok(journal_write(t.j, &b, &at[i]));
	}
	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 60);
	ck_assert_uint_gt(t.seen.v[59].pos.seg, 2);
	for (uint32_t i = 0; i < 60; i++) {
		ck_assert_uint_eq(at[i].seg, t.seen.v[i].pos.seg);
		ck_assert_uint_eq(at[i].off, t.seen.v[i].pos.off);
	}
	buf_free(&b);
	jt_done(&t);
}
END_TEST

/* journal_append does no fdatasync; journal_sync makes everything appended durable with
 * one, and none when there is nothing to sync or o.sync is off. */
START_TEST(test_append_sync)
{
	for (int sync = 0; sync <= 1; sync++) {
		struct jt t;
		struct buf b;
		struct journal_stats st;
		uint64_t s0;

		jt_init(&t, 1 << 20, sync);
		buf_init(&b);
		ck_ok(jt_open(&t));
		s0 = env_op_count(t.e, ENV_OP_SYNC);
		for (uint32_t i = 0; i < 5; i++) {
			struct jpos at;

			b.len = 0;
			add_rec(&b, i);
			ck_ok(journal_append(t.j, &b, &at));
			ck_assert_uint_eq(at.seg, 1);
			ck_assert_uint_eq(at.off, SEG_HEADER + frame_bytes(0, i));
		}
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), s0);
		ck_ok(journal_sync(t.j));
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), s0 + (uint64_t)sync);
		ck_ok(journal_sync(t.j)); /* nothing new */
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), s0 + (uint64_t)sync);
		journal_get_stats(t.j, &st);
		ck_assert_uint_eq(st.syncs, (uint64_t)sync);
		ck_assert_uint_eq(st.bytes_written, frame_bytes(0, 5));
		/* Split: start, then wait. */
		b.len = 0;
		add_rec(&b, 5);
		add_rec(&b, 6);
		ck_ok(journal_append(t.j, &b, NULL));
		ck_ok(journal_sync_start(t.j));
		ck_ok(journal_sync_wait(t.j));
		ck_assert_uint_eq(env_op_count(t.e, ENV_OP_SYNC), s0 + 2 * (uint64_t)sync);
		ck_ok(journal_sync_wait(t.j)); /* nothing in flight */
		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, 7);
		buf_free(&b);
		jt_done(&t);
	}
}
END_TEST

/* A failed fdatasync through the sync thread: the caller gets the error with its detail, the
 * journal refuses more, the unsynced records are gone after a reopen. */
START_TEST(test_sync_thread_failure)
{
	struct jt t;
	struct buf b;
	char *seg1;
	long long before;

	jt_init(&t, 1 << 20, 1);
	seg1 = seg_file(&t, 1);
	buf_init(&b);
	ck_ok(jt_open(&t));
	write_range(&t, 0, 3, 0);
	before = tu_file_size(seg1);
	b.len = 0;
	add_rec(&b, 3);
	add_rec(&b, 4);
	ck_ok(journal_append(t.j, &b, NULL));
	env_fail_nth(t.e, ENV_OP_SYNC, 1);
	ck_ok(journal_sync_start(t.j));
	ck_rc(journal_sync_wait(t.j), IODB_EIO);
	ck_msg_has(seg1);
	ck_assert_int_eq(tu_file_size(seg1), before);
	ck_rc(journal_append(t.j, &b, NULL), IODB_EIO);
	ck_rc(journal_sync(t.j), IODB_EIO);
	ck_rc(journal_sync_start(t.j), IODB_EIO);
	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 3);
	buf_free(&b);
	free(seg1);
	jt_done(&t);
}
END_TEST

/*
 * Records appended but not synced, then a rotation (which syncs the segment it leaves), then
 * a failed journal_sync: the new segment must be cut back to its last durable size — just
 * its header — so the record in it does not come back after a reopen.
 */
START_TEST(test_sync_failure_after_rotation)
{
	struct jt t;
	struct journal_stats st;
	struct buf b;
	struct jpos at;
	char *seg2;
	uint32_t n = 0;

	jt_init(&t, 600, 1);
	seg2 = seg_file(&t, 2);
	buf_init(&b);
	ck_ok(jt_open(&t));
	do {
		write_range(&t, n++, 1, 0);
		journal_get_stats(t.j, &st);
	} while (st.size < 500);
	/* Fill segment 1 past its limit without a sync, then rotate with the next append. */
	b.len = 0;
	add_rec(&b, 1000);
	add_rec(&b, 1001);
	ck_ok(journal_append(t.j, &b, &at));
	ck_assert_uint_eq(at.seg, 1);
	b.len = 0;
	add_rec(&b, 1002);
	ck_ok(journal_append(t.j, &b, &at));
	ck_assert_uint_eq(at.seg, 2);
	ck_assert_uint_eq(at.off, SEG_HEADER);
	env_fail_nth(t.e, ENV_OP_SYNC, 1);
	ck_rc(journal_sync(t.j), IODB_EIO);
	ck_assert_int_eq(tu_file_size(seg2), SEG_HEADER);
	ck_ok(jt_open(&t));
	/* 1000 and 1001 were made durable by the rotation; 1002 never was. */
	{
		uint32_t ids[64];

		ck_assert_uint_lt(n + 2, 64);
		for (uint32_t i = 0; i < n; i++)
			ids[i] = i;
		ids[n] = 1000;
		ids[n + 1] = 1001;
		check_seen_ids(&t, ids, n + 2);
	}
	buf_free(&b);
	free(seg2);
	jt_done(&t);
}
END_TEST

/* journal_read gives back what was written, checksums checked, and names the file and
 * offset when the bytes there are not a record. */
START_TEST(test_read)
{
	struct jt t;
	struct jpos at[30];
	struct buf b, payload;
	uint8_t type = 0, want[256];

	jt_init(&t, 700, 1);
	buf_init(&b);
	buf_init(&payload);
	ck_ok(jt_open(&t));
	for (uint32_t i = 0; i < 30; i++) {
		b.len = 0;
		add_rec(&b, i);
		ck_ok(journal_write(t.j, &b, &at[i]));
	}
	for (int reopened = 0; reopened <= 1; reopened++) {
		for (uint32_t i = 0; i < 30; i++) {
			ck_ok(journal_read(t.j, &at[i], &type, &payload));
			rec_payload(i, want);
			ck_assert_uint_eq(type, rec_type(i));
			ck_assert_uint_eq(payload.len, rec_len(i));
			ck_assert(payload.len == 0 || memcmp(payload.p, want, payload.len) == 0);
		}
		ck_ok(jt_open(&t));
	}
	/* Not a record boundary; past the end; a segment that does not exist. */
	{
		struct jpos bad = {at[7].seg, at[7].off + 1}, past = {at[29].seg, 1u << 20},
			    none = {99, SEG_HEADER};
		char *path = seg_file(&t, bad.seg);
		uint8_t t0 = 77;

		ck_rc(journal_read(t.j, &bad, &t0, &payload), IODB_ECORRUPT);
		ck_msg_has(path);
		ck_assert(msg_has_number(iodb_errmsg(), bad.off));
		ck_assert_uint_eq(t0, 77);
		ck_assert_int_ne(journal_read(t.j, &past, &t0, &payload), 0);
		ck_assert_int_ne(journal_read(t.j, &none, &t0, &payload), 0);
		free(path);
	}
	/* A payload byte changed under the open journal. */
	{
		uint32_t i = 8;
		char *path = seg_file(&t, at[i].seg);
		struct image im = img_read(path);

		ck_assert_uint_gt(rec_len(i), 0);
		im.d[at[i].off + JREC_HEADER] ^= 0x40;
		ck_assert_int_eq(tu_write_file(path, im.d, im.len), 0);
		ck_rc(journal_read(t.j, &at[i], &type, &payload), IODB_ECORRUPT);
		ck_msg_has(path);
		ck_assert(msg_has_number(iodb_errmsg(), at[i].off));
		ck_ok(journal_read(t.j, &at[i + 1], &type, &payload));
		free(im.d);
		free(path);
	}
	buf_free(&b);
	buf_free(&payload);
	jt_done(&t);
}
END_TEST

/* ---- TCase recovery ------------------------------------------------------------------- */

/* A journal of records 0..n-1 (closed); returns the replay positions in t->seen. */
static void build(struct jt *t, uint64_t segbytes, uint32_t n)
{
	jt_init(t, segbytes, 0);
	ck_ok(jt_open(t));
	write_range(t, 0, n, 0);
	ck_ok(jt_open(t));
	check_seen_range(t, 0, n);
	jt_close(t);
}

static uint64_t rec_end(const struct jt *t, size_t i)
{
	return t->seen.v[i].pos.off + JREC_HEADER + t->seen.v[i].len;
}


/* Where the test journals' records lie (saved before a reopen resets t->seen). */
struct layout {
	uint64_t seg[256], off[256], end[256];
	uint32_t n;
};

static void layout_of(const struct jt *t, struct layout *l)
{
	ck_assert_uint_le(t->seen.n, 256);
	l->n = (uint32_t)t->seen.n;
	for (uint32_t i = 0; i < l->n; i++) {
		l->seg[i] = t->seen.v[i].pos.seg;
		l->off[i] = t->seen.v[i].pos.off;
		l->end[i] = rec_end(t, i);
	}
}

/* Cut the only segment at every length: the whole records before the cut survive, the file
 * is cut back to them, and the journal appends and replays normally after that. */
START_TEST(test_torn_tail_every_offset)
{
	const uint32_t n = 8;
	struct jt t;
	struct layout l;
	struct image im;
	char *seg1;

	build(&t, 1 << 20, n);
	layout_of(&t, &l);
	seg1 = seg_file(&t, 1);
	im = img_read(seg1);
	ck_assert_uint_eq(im.len, l.end[n - 1]);
	for (size_t cut = 0; cut < im.len; cut++) {
		uint32_t whole = 0;
		uint64_t keep = SEG_HEADER;
		uint32_t ids[16];

		while (whole < n && l.end[whole] <= cut)
			keep = l.end[whole++];
		ck_assert_int_eq(tu_write_file(seg1, im.d, cut), 0);
		ck_ok(jt_open(&t));
		ck_assert_msg(t.seen.n == whole, "cut %zu: %zu records replayed, want %u", cut,
			      t.seen.n, whole);
		for (uint32_t i = 0; i < whole; i++)
			ids[i] = i;
		check_seen_ids(&t, ids, whole);
		ck_assert_msg(tu_file_size(seg1) == (long long)keep,
			      "cut %zu: size %lld, want %llu", cut, tu_file_size(seg1),
			      (unsigned long long)keep);
		ids[whole] = 500;
		write_ids(&t, ids + whole, 1, 0);
		ck_ok(jt_open(&t));
		check_seen_ids(&t, ids, whole + 1);
	}
	/* The header written again after a torn creation is the original one. */
	ck_assert_int_eq(tu_write_file(seg1, im.d, 5), 0);
	ck_ok(jt_open(&t));
	jt_close(&t);
	{
		struct image now = img_read(seg1);

		ck_assert_uint_eq(now.len, SEG_HEADER);
		ck_assert_int_eq(memcmp(now.d, im.d, SEG_HEADER), 0);
		free(now.d);
	}
	free(im.d);
	free(seg1);
	jt_done(&t);
}
END_TEST

START_TEST(test_tail_junk)
{
	static const size_t lens[] = {1, 5, 15, 16, 17, 31, 64, 100, 1000, 5000};
	uint64_t seed = tu_seed(0x7A11);
	const uint32_t n = 12;
	struct jt t;
	struct image im;
	char *seg1;
	build(&t, 1 << 20, n);
	seg1 = seg_file(&t, 1);
	im = img_read(seg1);
	for (int zeros = 0; zeros <= 1; zeros++)
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			size_t len = im.len + lens[k];
			unsigned char *d = malloc(len);

			memcpy(d, im.d, im.len);
			for (size_t i = im.len; i < len; i++)
				d[i] = zeros ? 0 : (unsigned char)tu_rand(&seed);
			ck_assert_int_eq(tu_write_file(seg1, d, len), 0);
			ck_ok(jt_open(&t));
			check_seen_range(&t, 0, n);
			ck_assert(img_same(seg1, &im));
			write_range(&t, n, 1, 0);
			ck_ok(jt_open(&t));
			check_seen_range(&t, 0, n + 1);
			free(d);
		}
	free(im.d);
	free(seg1);
	jt_done(&t);
}
END_TEST

static uint8_t flip_mask(uint64_t x)
{
	return (uint8_t)(1u << (x * 3 % 8));
}

/* A flipped byte in any record but the last is corruption at that record; in the last one it
 * is a torn tail. A failed open leaves the file as it found it. */
START_TEST(test_flip_record)
{
	const uint32_t n = 8;
	struct jt t;
	struct layout l;
	struct image im;
	char *seg1;

	build(&t, 1 << 20, n);
	layout_of(&t, &l);
	seg1 = seg_file(&t, 1);
	im = img_read(seg1);
	for (uint32_t i = 0; i < n; i++)
		for (uint64_t x = l.off[i]; x < l.end[i]; x++) {
			int rc;

			im.d[x] ^= flip_mask(x);
			ck_assert_int_eq(tu_write_file(seg1, im.d, im.len), 0);
			rc = jt_open(&t);
			if (i + 1 < n) {
				ck_assert_msg(rc == IODB_ECORRUPT, "byte %llu of record %u: rc %d",
					      (unsigned long long)x, i, rc);
				ck_msg_has(seg1);
				ck_assert_msg(msg_has_number(iodb_errmsg(), l.off[i]),
					      "\"%s\" does not name offset %llu", iodb_errmsg(),
					      (unsigned long long)l.off[i]);
				ck_assert(img_same(seg1, &im));
			} else {
				ck_assert_msg(rc == 0, "byte %llu of the last record: %s",
					      (unsigned long long)x, iodb_errmsg());
				check_seen_range(&t, 0, n - 1);
				ck_assert_int_eq(tu_file_size(seg1), (long long)l.end[n - 2]);
			}
			im.d[x] ^= flip_mask(x);
		}
	free(im.d);
	free(seg1);
	jt_done(&t);
}
END_TEST

/* In a segment that is not the last, a flipped byte anywhere (its last record included) and
 * a cut inside a record are corruption naming that segment. */
START_TEST(test_damage_nonlast_segment)
{
	struct jt t;
	struct layout l;
	uint64_t nseg;

	build(&t, 512, 40);
	layout_of(&t, &l);
	nseg = l.seg[l.n - 1];
	ck_assert_uint_ge(nseg, 4);
	for (uint64_t s = 1; s < nseg; s++) {
		char *path = seg_file(&t, s);
		struct image im = img_read(path);
		uint32_t first = 0, last;

		while (l.seg[first] != s)
			first++;
		for (last = first; last + 1 < l.n && l.seg[last + 1] == s; last++)
			;
		ck_assert_uint_eq(l.end[last], im.len);
		for (uint32_t i = first; i <= last; i++) {
			for (uint64_t x = l.off[i]; x < l.end[i]; x++) {
				im.d[x] ^= flip_mask(x);
				ck_assert_int_eq(tu_write_file(path, im.d, im.len), 0);
				ck_rc(jt_open(&t), IODB_ECORRUPT);
				ck_msg_has(path);
				ck_assert(msg_has_number(iodb_errmsg(), l.off[i]));
				ck_assert(img_same(path, &im));
				im.d[x] ^= flip_mask(x);
			}
			/* Cuts strictly inside record i. */
			for (uint64_t cut = l.off[i] + 1; cut < l.end[i]; cut++) {
				ck_assert_int_eq(tu_write_file(path, im.d, cut), 0);
				ck_rc(jt_open(&t), IODB_ECORRUPT);
				ck_msg_has(path);
				ck_assert(msg_has_number(iodb_errmsg(), l.off[i]));
				ck_assert_int_eq(tu_file_size(path), (long long)cut);
			}
		}
		ck_assert_int_eq(tu_write_file(path, im.d, im.len), 0);
		free(im.d);
		free(path);
	}
	ck_ok(jt_open(&t));
	check_seen_range(&t, 0, 40);
	jt_done(&t);
}
END_TEST

/*
 * A segment other than the last, cut exactly at a record boundary: each record left is
 * valid, so only the next segment's header (which records where this one ended) can tell
 * that acknowledged records are gone. Open must fail naming the cut segment, never open
 * quietly without them.
 */
START_TEST(test_cut_at_record_boundary)
{
	struct jt t;
	struct layout l;
	uint64_t nseg;
	int cuts = 0;

	build(&t, 512, 40);
	layout_of(&t, &l);
	nseg = l.seg[l.n - 1];
	ck_assert_uint_ge(nseg, 3);
	for (uint64_t s = 1; s < nseg; s++) {
		char *path = seg_file(&t, s);
		struct image im = img_read(path);

		/* Every boundary short of the segment's end: after its header, after each record. */
		for (uint32_t i = 0; i < l.n; i++) {
			uint64_t at = l.off[i];

			if (l.seg[i] != s)
				continue;
			ck_assert_int_eq(tu_write_file(path, im.d, at), 0);
			ck_rc(jt_open(&t), IODB_ECORRUPT);
			ck_msg_has(path);
			cuts++;
		}
		ck_assert_int_eq(tu_write_file(path, im.d, im.len), 0);
		free(im.d);
		free(path);
	}
	ck_assert_int_gt(cuts, 10);
	ck_ok(jt_open(&t)); /* restored: everything back */
	ck_assert_uint_eq(t.seen.n, l.n);
	jt_done(&t);
}
END_TEST

START_TEST(test_segment_header)
{
	struct jt t;
	struct layout l;
	uint64_t nseg;
	uint32_t before_last = 0;

	build(&t, 512, 40);
	layout_of(&t, &l);
	nseg = l.seg[l.n - 1];
	ck_assert_uint_ge(nseg, 4);
	while (l.seg[before_last] < nseg)
		before_last++;
	ck_assert_uint_lt(before_last, l.n);

	/* A damaged header of a segment with records is corruption, last segment included. */
	for (uint64_t s = 1; s <= nseg; s += s == 2 ? nseg - 2 : 1) {
		char *path = seg_file(&t, s);
		struct image im = img_read(path);

		for (int x = 0; x < SEG_HEADER; x++) {
			im.d[x] ^= flip_mask((uint64_t)x);
			ck_assert_int_eq(tu_write_file(path, im.d, im.len), 0);
			ck_rc(jt_open(&t), IODB_ECORRUPT);
			ck_msg_has(path);
			ck_assert(msg_has_number(iodb_errmsg(), 0));
			ck_assert(img_same(path, &im));
			im.d[x] ^= flip_mask((uint64_t)x);
		}
		/* Cut inside the header of a segment that is not the last. */
		if (s < nseg)
			for (size_t cut = 0; cut < SEG_HEADER; cut++) {
				ck_assert_int_eq(tu_write_file(path, im.d, cut), 0);
				ck_rc(jt_open(&t), IODB_ECORRUPT);
				ck_msg_has(path);
			}
		ck_assert_int_eq(tu_write_file(path, im.d, im.len), 0);
		free(im.d);
		free(path);
	}

	/* A well-formed header of another segment. */
	{
		char *p2 = seg_file(&t, 2), *p3 = seg_file(&t, 3);
		struct image h2 = img_read(p2), h3 = img_read(p3);

		memcpy(h2.d, h3.d, SEG_HEADER);
		ck_assert_int_eq(tu_write_file(p2, h2.d, h2.len), 0);
		ck_rc(jt_open(&t), IODB_ECORRUPT);
		ck_msg_has(p2);
		free(h2.d);
		free(h3.d);
		free(p2);
		free(p3);
	}
	jt_done(&t);

	/* The last segment holds nothing beyond its header: a damaged or short header there is
	 * a torn creation, written again. */
	build(&t, 512, 40);
	layout_of(&t, &l);
	{
		char *path = seg_file(&t, nseg);
		struct image im = img_read(path), hdr;

		ck_assert_int_eq(tu_write_file(path, im.d, SEG_HEADER), 0);
		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, before_last);
		jt_close(&t);
		hdr = img_read(path);
		ck_assert_uint_eq(hdr.len, SEG_HEADER);
		for (int x = 0; x < 2 * SEG_HEADER; x++) {
			size_t len = x < SEG_HEADER ? SEG_HEADER : (size_t)(x - SEG_HEADER);

			if (x < SEG_HEADER)
				hdr.d[x] ^= flip_mask((uint64_t)x);
			ck_assert_int_eq(tu_write_file(path, hdr.d, len), 0);
			if (x < SEG_HEADER)
				hdr.d[x] ^= flip_mask((uint64_t)x);
			ck_ok(jt_open(&t));
			check_seen_range(&t, 0, before_last);
			ck_assert(img_same(path, &hdr));
		}
		write_range(&t, 300, 2, 0);
		ck_ok(jt_open(&t));
		ck_assert_uint_eq(t.seen.n, before_last + 2);
		ck_assert_uint_eq(t.seen.v[before_last].pos.seg, nseg);
		ck_assert_uint_eq(t.seen.v[before_last].pos.off, SEG_HEADER);
		ck_assert_uint_eq(t.seen.v[before_last + 1].type, rec_type(301));
		free(hdr.d);
		free(im.d);
		free(path);
	}
	jt_done(&t);

	/* The same with a single segment. */
	jt_init(&t, 512, 1);
	ck_ok(jt_open(&t));
	jt_close(&t);
	{
		char *path = seg_file(&t, 1);
		struct image hdr = img_read(path);

		hdr.d[3] ^= 0x10;
		ck_assert_int_eq(tu_write_file(path, hdr.d, hdr.len), 0);
		hdr.d[3] ^= 0x10;
		ck_ok(jt_open(&t));
		ck_assert_uint_eq(t.seen.n, 0);
		ck_assert(img_same(path, &hdr));
		write_range(&t, 0, 3, 0);
		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, 3);
		free(hdr.d);
		free(path);
	}
	jt_done(&t);
}
END_TEST

/* With env_crash: synced records survive, unsynced ones (even with junk left in their place)
 * are cut, and a rotation makes the segment it leaves durable whatever the sync option. */
START_TEST(test_crash)
{
	uint64_t seed = tu_seed(0xC2A5);

	for (int sync = 0; sync <= 1; sync++) {
		struct jt t;
		struct buf b;
		char *seg1;

		jt_init(&t, 1 << 20, sync);
		seg1 = seg_file(&t, 1);
		buf_init(&b);
		ck_ok(jt_open(&t));
		write_range(&t, 0, 10, 1);
		env_crash(t.e, 1, tu_rand(&seed));
		add_rec(&b, 10);
		ck_rc(journal_write(t.j, &b, NULL), IODB_EIO);
		ck_ok(jt_open(&t));
		check_seen_range(&t, 0, sync ? 10 : 0);
		ck_assert_int_eq(tu_file_size(seg1),
				 (long long)(SEG_HEADER + (sync ? frame_bytes(0, 10) : 0)));
		buf_free(&b);
		free(seg1);
		jt_done(&t);
	}
	{
		struct jt t;
		uint64_t nseg;
		size_t i = 0;

		jt_init(&t, 512, 0);
		ck_ok(jt_open(&t));
		write_range(&t, 0, 60, 1);
		nseg = (uint64_t)count_segments(&t);
		ck_assert_uint_ge(nseg, 4);
		env_crash(t.e, 1, tu_rand(&seed));
		ck_ok(jt_open(&t));
		ck_assert_uint_gt(t.seen.n, 0);
		check_seen_range(&t, 0, (uint32_t)t.seen.n);
		/* Every segment but the last whole; nothing of the last. */
		for (uint64_t s = 1; s < nseg; s++) {
			char *path = seg_file(&t, s);

			while (i + 1 < t.seen.n && t.seen.v[i + 1].pos.seg == s)
				i++;
			ck_assert_uint_eq(t.seen.v[i].pos.seg, s);
			ck_assert_int_eq(tu_file_size(path), (long long)rec_end(&t, i));
			free(path);
		}
		ck_assert_uint_eq(t.seen.v[t.seen.n - 1].pos.seg, nseg - 1);
		jt_done(&t);
	}
}
END_TEST

/* ---- TCase hostile -------------------------------------------------------------------- */

static const char name_chars[] = "abcXYZ019_-.";

/* A random valid commit payload. */
static void random_commit(uint64_t *seed, struct buf *out)
{
	struct cbuild c;
	uint8_t vid[20], key[20], val[30];
	uint32_t nstores = tu_below(seed, 5), nops = nstores ? tu_below(seed, 7) : 0;
	uint32_t n = 1 + tu_below(seed, 1000);
	size_t vidlen = 1 + tu_below(seed, sizeof(vid));

	cb_init(&c);
	for (uint32_t i = 0; i < nstores; i++) {
		char name[8];
		size_t len = tu_below(seed, sizeof(name));

		for (size_t k = 0; k < len; k++)
			name[k] = name_chars[tu_below(seed, sizeof(name_chars) - 1)];
		cb_store(&c, name, len);
	}
	for (uint32_t i = 0; i < nops; i++) {
		size_t klen = 1 + tu_below(seed, sizeof(key)), vlen = tu_below(seed, sizeof(val));
		uint8_t kind = tu_below(seed, 3) ? JOP_PUT : JOP_DEL;

		for (size_t k = 0; k < klen; k++)
			key[k] = (uint8_t)tu_rand(seed);
		for (size_t k = 0; k < vlen; k++)
			val[k] = (uint8_t)tu_rand(seed);
		cb_op(&c, kind, tu_below(seed, nstores), key, klen, val, vlen);
	}
	for (size_t k = 0; k < vidlen; k++)
		vid[k] = (uint8_t)tu_rand(seed);
	cb_encode(out, &c, n, tu_below(seed, n), 1 + tu_below(seed, 1000), vid, (uint8_t)vidlen);
	cb_free(&c);
}

static void mutate(uint64_t *seed, struct buf *b)
{
	static const uint8_t interesting[] = {0,    1,    2,    0x3f, 0x40, 0x41,
					      0x7f, 0x80, 0x81, 0xfe, 0xff};
	int k = 1 + (int)tu_below(seed, 4);

	while (k--) {
		size_t at = b->len ? tu_below(seed, (uint32_t)b->len) : 0;

		switch (tu_below(seed, 7)) {
		case 0:
			if (b->len)
				b->p[at] ^= (uint8_t)(1u << tu_below(seed, 8));
			break;
		case 1:
			if (b->len)
				b->p[at] = interesting[tu_below(seed, sizeof(interesting))];
			break;
		case 2: /* insert */
			ck_assert_int_eq(buf_reserve(b, 1), 0);
			memmove(b->p + at + 1, b->p + at, b->len - at);
			b->p[at] = (uint8_t)tu_rand(seed);
			b->len++;
			break;
		case 3: /* delete */
			if (b->len) {
				memmove(b->p + at, b->p + at + 1, b->len - at - 1);
				b->len--;
			}
			break;
		case 4: /* truncate */
			b->len = at;
			break;
		case 5: /* append */
			ck_assert_int_eq(buf_put_u8(b, (uint8_t)tu_rand(seed)), 0);
			break;
		case 6: /* a u32 of an edge value */
			if (b->len >= 4) {
				static const uint32_t v[] = {0, 1, 0x7fffffffu, 0xffffffffu, 65535,
							     65536};

				at = tu_below(seed, (uint32_t)(b->len - 3));
				put_u32(b->p + at, v[tu_below(seed, 6)]);
			}
			break;
		}
	}
}

/* Everything a successful decode says lies inside the input and within the limits. */
static void check_decoded(const uint8_t *p, size_t n, const struct jcommit *c)
{
	const uint8_t *end = p + n, *s = c->stores;
	struct rd r;
	struct buf again;
	struct jcommit d;

	ck_assert_uint_ge(c->n, 1);
	ck_assert_uint_lt(c->parent, c->n);
	ck_assert_uint_ge(c->height, 1);
	ck_assert_uint_ge(c->vidlen, 1);
	ck_assert(c->vid >= p && c->vid + c->vidlen <= end);
	for (uint32_t i = 0; i < c->nstores; i++) {
		const uint8_t *name;
		uint8_t len;

		ck_assert(s < end && s + 1 + s[0] <= end);
		jcommit_store_name(c, i, &name, &len);
		ck_assert_ptr_eq(name, s + 1);
		ck_assert_uint_eq(len, s[0]);
		ck_assert_int_eq(store_name_valid(name, len), 1);
		s += 1 + s[0];
	}
	ck_assert(c->ops >= s && c->ops + c->ops_len == end);
	rd_init(&r, c->ops, c->ops_len);
	for (uint64_t i = 0; i < c->nops; i++) {
		struct jop op;

		ck_assert_int_eq(jcommit_next_op(&r, c->nstores, &op), 0);
		ck_assert(op.kind == JOP_PUT || op.kind == JOP_DEL);
		ck_assert_uint_lt(op.store, c->nstores);
		ck_assert(op.klen >= 1 && op.klen <= IODB_MAX_KEY);
		ck_assert(op.key >= c->ops && op.key + op.klen <= end);
		if (op.kind == JOP_DEL)
			ck_assert_ptr_null(op.val);
		else
			ck_assert(op.vlen <= IODB_MAX_VALUE && op.val >= c->ops &&
				  op.val + op.vlen <= end);
	}
	ck_assert_uint_eq(rd_left(&r), 0);
	/* What decoded encodes back to something that decodes the same. */
	buf_init(&again);
	ck_assert_int_eq(jcommit_encode(&again, c), 0);
	ck_assert_int_eq(jcommit_decode(again.p, again.len, &d), 0);
	ck_assert(d.n == c->n && d.parent == c->parent && d.height == c->height &&
		  d.vidlen == c->vidlen && memcmp(d.vid, c->vid, c->vidlen) == 0 &&
		  d.nstores == c->nstores && d.nops == c->nops && d.ops_len == c->ops_len &&
		  memcmp(d.ops, c->ops, c->ops_len) == 0);
	buf_free(&again);
}

START_TEST(test_decode_hostile)
{
	uint64_t seed = tu_seed(0xF022);
	struct buf corpus[32], b;
	unsigned ok_random = 0, ok_mutated = 0;

	for (int i = 0; i < 32; i++) {
		buf_init(&corpus[i]);
		random_commit(&seed, &corpus[i]);
		ck_assert_int_eq(decode_rc(corpus[i].p, corpus[i].len), 0);
	}
	buf_init(&b);
	for (int iter = 0; iter < 100000; iter++) {
		int random = iter % 8 == 0;
		struct jcommit c;
		uint8_t *q;

		b.len = 0;
		if (random) {
			size_t len = tu_below(&seed, 120);

			ck_assert_int_eq(buf_reserve(&b, len), 0);
			for (size_t k = 0; k < len; k++)
				b.p[k] = (uint8_t)tu_rand(&seed);
			b.len = len;
		} else {
			const struct buf *src = &corpus[tu_below(&seed, 32)];

			ck_assert_int_eq(buf_append(&b, src->p, src->len), 0);
			mutate(&seed, &b);
		}
		q = malloc(b.len ? b.len : 1);
		memcpy(q, b.p, b.len);
		if (jcommit_decode(q, b.len, &c) == 0) {
			check_decoded(q, b.len, &c);
			if (random)
				ok_random++;
			else
				ok_mutated++;
		}
		free(q);
	}
	/* The mutations reach past the first checks. */
	ck_assert_uint_gt(ok_mutated, 100);
	(void)ok_random;
	for (int i = 0; i < 32; i++)
		buf_free(&corpus[i]);
	buf_free(&b);
}
END_TEST

/* Whole segments of hostile bytes through journal_open (and the commit decoder). */
START_TEST(test_journal_hostile)
{
	uint64_t seed = tu_seed(0x5E6);
	struct jt t;
	struct image hdr;
	struct buf seg, payload;
	char *seg1;

	jt_init(&t, 1 << 20, 0);
	t.seen.decode = 1;
	seg1 = seg_file(&t, 1);
	ck_ok(jt_open(&t));
	jt_close(&t);
	hdr = img_read(seg1);
	ck_assert_uint_eq(hdr.len, SEG_HEADER);
	buf_init(&seg);
	buf_init(&payload);
	for (int iter = 0; iter < 3000; iter++) {
		int mode = iter % 4, rc;
		uint32_t nrec = 0;
		uint8_t types[8];
		size_t junk_at = 0;

		seg.len = 0;
		if (mode != 2)
			ck_assert_int_eq(buf_append(&seg, hdr.d, SEG_HEADER), 0);
		if (mode == 0 || mode == 3) {
			/* Well-framed records whose payloads are random or broken commits. */
			nrec = tu_below(&seed, 7);
			for (uint32_t i = 0; i < nrec; i++) {
				size_t mark;

				payload.len = 0;
				if (tu_below(&seed, 2)) {
					random_commit(&seed, &payload);
					mutate(&seed, &payload);
				} else {
					size_t len = tu_below(&seed, 100);

					ck_assert_int_eq(buf_reserve(&payload, len), 0);
					for (size_t k = 0; k < len; k++)
						payload.p[k] = (uint8_t)tu_rand(&seed);
					payload.len = len;
				}
				types[i] = (uint8_t)(1 + tu_below(&seed, 255));
				ck_assert_int_eq(journal_rec_begin(&seg, &mark), 0);
				ck_assert_int_eq(buf_append(&seg, payload.p, payload.len), 0);
				ck_assert_int_eq(journal_rec_end(&seg, mark, types[i]), 0);
			}
		}
		if (mode == 3) {
			/* Junk, then one more good record: corruption at the junk. */
			size_t mark, len = 1 + tu_below(&seed, 40);

			junk_at = seg.len;
			for (size_t k = 0; k < len; k++)
				ck_assert_int_eq(buf_put_u8(&seg, (uint8_t)tu_rand(&seed)), 0);
			ck_assert_int_eq(journal_rec_begin(&seg, &mark), 0);
			ck_assert_int_eq(journal_rec_end(&seg, mark, JREC_CHECKOUT), 0);
		}
		if (mode == 1 || mode == 2) {
			size_t len = (mode == 2 ? 0 : 1) + tu_below(&seed, 300);

			for (size_t k = 0; k < len; k++)
				ck_assert_int_eq(buf_put_u8(&seg, (uint8_t)tu_rand(&seed)), 0);
		}
		ck_assert_int_eq(tu_write_file(seg1, seg.p, seg.len), 0);
		rc = jt_open(&t);
		switch (mode) {
		case 0: /* every record replayed as framed */
			ck_assert_msg(rc == 0, "%s", iodb_errmsg());
			ck_assert_uint_eq(t.seen.n, nrec);
			for (uint32_t i = 0; i < nrec; i++)
				ck_assert_uint_eq(t.seen.v[i].type, types[i]);
			ck_assert_int_eq(tu_file_size(seg1), (long long)seg.len);
			break;
		case 1: /* header and junk: a torn tail */
			ck_assert_msg(rc == 0, "%s", iodb_errmsg());
			ck_assert_uint_eq(t.seen.n, 0);
			ck_assert_int_eq(tu_file_size(seg1), SEG_HEADER);
			break;
		case 2: /* junk only: a bad header, harmless only without bytes after it */
			if (seg.len <= SEG_HEADER) {
				ck_assert_msg(rc == 0, "%s", iodb_errmsg());
				ck_assert(img_same(seg1, &hdr));
			} else {
				ck_assert_int_eq(rc, IODB_ECORRUPT);
				ck_msg_has(seg1);
			}
			break;
		case 3:
			ck_assert_int_eq(rc, IODB_ECORRUPT);
			ck_msg_has(seg1);
			ck_assert(msg_has_number(iodb_errmsg(), junk_at));
			ck_assert_uint_eq(t.seen.n, nrec);
			break;
		}
	}
	buf_free(&seg);
	buf_free(&payload);
	free(hdr.d);
	free(seg1);
	jt_done(&t);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc;

	tc = tcase_create("record");
	tcase_add_test(tc, test_commit_round_trip);
	tcase_add_test(tc, test_commit_golden);
	tcase_add_test(tc, test_commit_rejects_header);
	tcase_add_test(tc, test_commit_rejects_stores);
	tcase_add_test(tc, test_commit_rejects_ops);
	tcase_add_test(tc, test_commit_rejects_vlen);
	suite_add_tcase(s, tc);

	tc = tcase_create("journal");
	tcase_add_test(tc, test_open_empty);
	tcase_add_test(tc, test_write_replay);
	tcase_add_test(tc, test_replay_stop);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_missing_segment);
	tcase_add_test(tc, test_sticky_sync);
	tcase_add_test(tc, test_sticky_write);
	tcase_add_test(tc, test_sticky_rotation);
	tcase_add_test(tc, test_write_positions);
	tcase_add_test(tc, test_append_sync);
	tcase_add_test(tc, test_sync_thread_failure);
	tcase_add_test(tc, test_sync_failure_after_rotation);
	tcase_add_test(tc, test_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_add_test(tc, test_torn_tail_every_offset);
	tcase_add_test(tc, test_tail_junk);
	tcase_add_test(tc, test_flip_record);
	tcase_add_test(tc, test_damage_nonlast_segment);
	tcase_add_test(tc, test_segment_header);
	tcase_add_test(tc, test_cut_at_record_boundary);
	tcase_add_test(tc, test_crash);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_add_test(tc, test_decode_hostile);
	tcase_add_test(tc, test_journal_hostile);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(journal_suite());
}
