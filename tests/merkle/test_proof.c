/*
 * test_proof.c — suite "merkle_proof": lib/merkle/proof.c, the ICS23 encoder and verifier.
 *
 * Nothing here trusts proof.c's idea of IAVL: the test builds its trees by hand with its own
 * node hashing (IAVL.md §1), walks them for the proof steps, and has its own protobuf writer
 * for proofs crafted to break one rule at a time. A crafted proof is verified against the
 * root it really hashes to, so that its rejection can only come from the rule under test.
 *
 * What must hold (ics23-go's VerifyMembership / VerifyNonMembership under IavlSpec):
 *   - every existence proof of every key, and every non-existence proof of every gap,
 *     verifies; any other key, value, root, kind or neighbour pair is IODB_EPROOF;
 *   - every single-byte change and every truncation of a proof is IODB_EPROOF;
 *   - the IavlSpec / validateIavlOps rules reject what they should and no more;
 *   - hostile bytes never crash (run this under ASan) and never verify.
 */
#define _GNU_SOURCE
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "lib/merkle/merkle.h"
#include "testutil.h"

#define MAXKEYS 160
#define MAXKEY 192
#define MAXVAL 256
#define MAXOPS 160

/* ---- Hashing, independently of proof.c ------------------------------------------------- */

static size_t t_uvarint(uint8_t *p, uint64_t v)
{
	size_t i = 0;

	for (; v >= 0x80; v >>= 7)
		p[i++] = (uint8_t)(v | 0x80);
	p[i++] = (uint8_t)v;
	return i;
}

/* Go's binary.PutVarint. */
static size_t t_varint(uint8_t *p, int64_t v)
{
	return t_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void sha(const void *p, size_t n, uint8_t out[32])
{
	SHA256(p, n, out);
}

/* IAVL leaf hash = SHA256(prefix ‖ uvarint(len key) ‖ key ‖ 0x20 ‖ SHA256(value)). */
static void t_leaf_hash(const uint8_t *prefix, size_t plen, const uint8_t *key, size_t klen,
			const uint8_t *val, size_t vlen, uint8_t out[32])
{
	uint8_t *b = malloc(plen + 10 + klen + 33), vh[32];
	size_t n = 0;

	ck_assert_ptr_nonnull(b);
	memcpy(b, prefix, plen);
	n = plen;
	n += t_uvarint(b + n, klen);
	memcpy(b + n, key, klen);
	n += klen;
	b[n++] = 0x20;
	sha(val, vlen, vh);
	memcpy(b + n, vh, 32);
	n += 32;
	sha(b, n, out);
	free(b);
}

/* ---- Hand-built trees ----------------------------------------------------------------- */

enum split { SPLIT_HALF, SPLIT_HALF_UP, SPLIT_CHAIN_RIGHT, SPLIT_CHAIN_LEFT };

struct tnode {
	struct tnode *l, *r; /* NULL for a leaf */
	size_t lo, hi;	     /* leaves [lo, hi) */
	int64_t height, size, version;
	uint8_t hash[32];
};

struct tree {
	size_t n;
	uint8_t key[MAXKEYS][MAXKEY], val[MAXKEYS][MAXVAL];
	size_t klen[MAXKEYS], vlen[MAXKEYS];
	int64_t root_version; /* 0: the usual rule */
	struct tnode pool[2 * MAXKEYS], *root;
	size_t used;
};

struct shape {
	const char *name;
	size_t n;
	enum split split;
};

static const struct shape shapes[] = {
	{"1 leaf", 1, SPLIT_HALF},
	{"2 leaves", 2, SPLIT_HALF},
	{"3 keys, right heavy", 3, SPLIT_HALF},
	{"3 keys, left heavy", 3, SPLIT_HALF_UP},
	{"7 keys", 7, SPLIT_HALF},
	{"8 keys", 8, SPLIT_HALF},
	{"5 keys, right chain", 5, SPLIT_CHAIN_RIGHT},
	{"5 keys, left chain", 5, SPLIT_CHAIN_LEFT},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

/* Keys "k001", "k003xxx…", "k005", …: odd numbers, every third one long (a 2-byte length). */
static size_t make_key(uint8_t *out, size_t i)
{
	size_t n = (size_t)sprintf((char *)out, "k%03zu", 2 * i + 1);

	if (i % 3 == 1) {
		memset(out + n, 'x', 150);
		n += 150;
	}
	return n;
}

static size_t make_val(uint8_t *out, size_t i)
{
	if (i % 4 == 2) {
		for (size_t j = 0; j < 200; j++)
			out[j] = (uint8_t)(i * 31 + j);
		return 200;
	}
	return (size_t)sprintf((char *)out, "value-%zu", i);
}

static struct tnode *build(struct tree *t, size_t lo, size_t hi, enum split sp)
{
	struct tnode *x = &t->pool[t->used++];
	size_t n = hi - lo, left;
	uint8_t pre[64];
	size_t pn;

	x->lo = lo;
	x->hi = hi;
	if (n == 1) {
		x->l = x->r = NULL;
		x->height = 0;
		x->size = 1;
		x->version = 1 + (int64_t)((lo * 5) % 7);
		pn = t_varint(pre, 0);
		pn += t_varint(pre + pn, 1);
		pn += t_varint(pre + pn, x->version);
		t_leaf_hash(pre, pn, t->key[lo], t->klen[lo], t->val[lo], t->vlen[lo], x->hash);
		return x;
	}
	switch (sp) {
	case SPLIT_HALF:
		left = n / 2;
		break;
	case SPLIT_HALF_UP:
		left = (n + 1) / 2;
		break;
	case SPLIT_CHAIN_RIGHT:
		left = 1;
		break;
	default:
		left = n - 1;
	}
	x->l = build(t, lo, lo + left, sp);
	x->r = build(t, lo + left, hi, sp);
	x->height = 1 + (x->l->height > x->r->height ? x->l->height : x->r->height);
	x->size = (int64_t)n;
	x->version = (x->l->version > x->r->version ? x->l->version : x->r->version) +
		     (int64_t)((lo + hi) % 3);
	if (lo == 0 && hi == t->n && t->root_version)
		x->version = t->root_version;
	{
		uint8_t b[3 * 10 + 66];

		pn = t_varint(b, x->height);
		pn += t_varint(b + pn, x->size);
		pn += t_varint(b + pn, x->version);
		b[pn++] = 0x20;
		memcpy(b + pn, x->l->hash, 32);
		pn += 32;
		b[pn++] = 0x20;
		memcpy(b + pn, x->r->hash, 32);
		pn += 32;
		sha(b, pn, x->hash);
	}
	return x;
}

static struct tree *tree_new(size_t n, enum split sp, int64_t root_version)
{
	struct tree *t = calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	ck_assert_uint_le(n, MAXKEYS);
	t->n = n;
	t->root_version = root_version;
	for (size_t i = 0; i < n; i++) {
		t->klen[i] = make_key(t->key[i], i);
		t->vlen[i] = make_val(t->val[i], i);
	}
	t->root = build(t, 0, n, sp);
	return t;
}

static struct tree *tree_shape(const struct shape *s)
{
	return tree_new(s->n, s->split, 0);
}

/* The steps for leaf idx, leaf's parent first. */
static void tree_prove(const struct tree *t, size_t idx, struct mproof_exist *e,
		       struct mproof_step *steps)
{
	struct mproof_step rev[MAXOPS];
	size_t n = 0;
	const struct tnode *x = t->root;

	while (x->l) {
		struct mproof_step *s = &rev[n++];
		int right = idx >= x->l->hi;

		s->height = x->height;
		s->size = x->size;
		s->version = x->version;
		s->right = right;
		memcpy(s->sibling, right ? x->l->hash : x->r->hash, 32);
		x = right ? x->r : x->l;
	}
	ck_assert_uint_eq(x->lo, idx);
	for (size_t i = 0; i < n; i++)
		steps[i] = rev[n - 1 - i];
	e->key = t->key[idx];
	e->klen = t->klen[idx];
	e->val = t->val[idx];
	e->vlen = t->vlen[idx];
	e->leaf_version = x->version;
	e->path = steps;
	e->npath = n;
}

static int t_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	return c ? c : (an > bn) - (an < bn);
}

/* Keys absent from t: below, between every adjacent pair (two ways), above. */
struct absent {
	uint8_t key[MAXKEY + 1];
	size_t klen;
	size_t at; /* index of the first key above it */
};

static size_t absent_keys(const struct tree *t, struct absent *out)
{
	size_t n = 0;

	out[n].klen = (size_t)sprintf((char *)out[n].key, "k");
	n++;
	out[n].klen = (size_t)sprintf((char *)out[n].key, "k000");
	n++;
	for (size_t i = 0; i < t->n; i++) {
		memcpy(out[n].key, t->key[i], t->klen[i]);
		out[n].key[t->klen[i]] = 0; /* right after key i */
		out[n].klen = t->klen[i] + 1;
		n++;
		out[n].klen = (size_t)sprintf((char *)out[n].key, "k%03zu", 2 * i + 2);
		n++;
	}
	out[n].klen = (size_t)sprintf((char *)out[n].key, "l");
	n++;
	for (size_t a = 0; a < n; a++) {
		size_t at = 0;

		while (at < t->n && t_cmp(t->key[at], t->klen[at], out[a].key, out[a].klen) < 0)
			at++;
		ck_assert(at == t->n ||
			  t_cmp(t->key[at], t->klen[at], out[a].key, out[a].klen) != 0);
		out[a].at = at;
	}
	return n;
}

/* A proof in a buffer of exactly its size, so that ASan sees any read past its end. */
static int verify_exact(const uint8_t root[32], const uint8_t *p, size_t n, const uint8_t *key,
			size_t klen, const uint8_t *val, size_t vlen)
{
	uint8_t *c = malloc(n ? n : 1);
	int rc;

	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	rc = ics23_verify(root, c, n, key, klen, val, vlen);
	free(c);
	return rc;
}

static void encode_exist(struct buf *b, const struct tree *t, size_t idx)
{
	struct mproof_exist e;
	struct mproof_step st[MAXOPS];

	tree_prove(t, idx, &e, st);
	b->len = 0;
	ck_ok(ics23_encode_exist(b, &e));
}

/* Non-existence of key with neighbours l and r (indexes, or -1 for none). */
static void encode_nonexist(struct buf *b, const struct tree *t, const uint8_t *key, size_t klen,
			    long l, long r)
{
	struct mproof_exist le, re;
	struct mproof_step ls[MAXOPS], rs[MAXOPS];

	if (l >= 0)
		tree_prove(t, (size_t)l, &le, ls);
	if (r >= 0)
		tree_prove(t, (size_t)r, &re, rs);
	b->len = 0;
	ck_ok(ics23_encode_nonexist(b, key, klen, l >= 0 ? &le : NULL, r >= 0 ? &re : NULL));
}

/* ---- Raw proofs: the test's own protobuf, for crafting -------------------------------- */

struct rop {
	int32_t hash;
	uint8_t prefix[96], suffix[96];
	size_t plen, slen;
};

struct rexist {
	const uint8_t *key, *val;
	size_t klen, vlen;
	int has_leaf;
	int32_t lhash, lpk, lpv, llen;
	uint8_t lprefix[40];
	size_t lplen;
	size_t npath;
	struct rop path[MAXOPS];
};

/* The ICS23 form of a walk, per the encoding rules (IAVL.md §3). */
static void raw_from(struct rexist *r, const struct mproof_exist *e)
{
	memset(r, 0, sizeof(*r));
	r->key = e->key;
	r->klen = e->klen;
	r->val = e->val;
	r->vlen = e->vlen;
	r->has_leaf = 1;
	r->lhash = 1;
	r->lpv = 1;
	r->llen = 1;
	r->lplen = t_varint(r->lprefix, 0);
	r->lplen += t_varint(r->lprefix + r->lplen, 1);
	r->lplen += t_varint(r->lprefix + r->lplen, e->leaf_version);
	r->npath = e->npath;
	for (size_t i = 0; i < e->npath; i++) {
		const struct mproof_step *s = &e->path[i];
		struct rop *op = &r->path[i];
		size_t n;

		op->hash = 1;
		n = t_varint(op->prefix, s->height);
		n += t_varint(op->prefix + n, s->size);
		n += t_varint(op->prefix + n, s->version);
		op->prefix[n++] = 0x20;
		if (s->right) {
			memcpy(op->prefix + n, s->sibling, 32);
			n += 32;
			op->prefix[n++] = 0x20;
		} else {
			op->suffix[0] = 0x20;
			memcpy(op->suffix + 1, s->sibling, 32);
			op->slen = 33;
		}
		op->plen = n;
	}
}

static void raw_tree(struct rexist *r, const struct tree *t, size_t idx)
{
	struct mproof_exist e;
	struct mproof_step st[MAXOPS];

	tree_prove(t, idx, &e, st);
	raw_from(r, &e);
}

/* What the raw proof hashes to (ics23's Calculate, with no spec checks). */
static void raw_root(const struct rexist *r, uint8_t out[32])
{
	uint8_t b[96 + 32 + 96];

	t_leaf_hash(r->lprefix, r->lplen, r->key, r->klen, r->val, r->vlen, out);
	for (size_t i = 0; i < r->npath; i++) {
		const struct rop *op = &r->path[i];

		memcpy(b, op->prefix, op->plen);
		memcpy(b + op->plen, out, 32);
		memcpy(b + op->plen + 32, op->suffix, op->slen);
		sha(b, op->plen + 32 + op->slen, out);
	}
}

static void pb_tag(struct buf *b, uint32_t field, unsigned wt)
{
	ck_ok(buf_put_uvarint(b, (uint64_t)field << 3 | wt));
}

static void pb_field(struct buf *b, uint32_t field, const void *p, size_t n)
{
	pb_tag(b, field, 2);
	ck_ok(buf_put_uvarint(b, n));
	ck_ok(buf_append(b, p, n));
}

/* proto3: zero scalars and empty bytes are not written. */
static void pb_bytes3(struct buf *b, uint32_t field, const void *p, size_t n)
{
	if (n)
		pb_field(b, field, p, n);
}

static void pb_enum3(struct buf *b, uint32_t field, int32_t v)
{
	if (v) {
		pb_tag(b, field, 0);
		ck_ok(buf_put_uvarint(b, (uint64_t)(int64_t)v));
	}
}

static void pb_sub(struct buf *b, uint32_t field, const struct buf *sub)
{
	pb_field(b, field, sub->p, sub->len);
}

static void raw_leafop(struct buf *b, const struct rexist *r)
{
	pb_enum3(b, 1, r->lhash);
	pb_enum3(b, 2, r->lpk);
	pb_enum3(b, 3, r->lpv);
	pb_enum3(b, 4, r->llen);
	pb_bytes3(b, 5, r->lprefix, r->lplen);
}

static void raw_innerop(struct buf *b, const struct rop *op)
{
	pb_enum3(b, 1, op->hash);
	pb_bytes3(b, 2, op->prefix, op->plen);
	pb_bytes3(b, 3, op->suffix, op->slen);
}

/* ExistenceProof body. */
static void raw_exist(struct buf *b, const struct rexist *r)
{
	struct buf sub;

	buf_init(&sub);
	pb_bytes3(b, 1, r->key, r->klen);
	pb_bytes3(b, 2, r->val, r->vlen);
	if (r->has_leaf) {
		raw_leafop(&sub, r);
		pb_sub(b, 3, &sub);
	}
	for (size_t i = 0; i < r->npath; i++) {
		sub.len = 0;
		raw_innerop(&sub, &r->path[i]);
		pb_sub(b, 4, &sub);
	}
	buf_free(&sub);
}

static void raw_commit_exist(struct buf *out, const struct rexist *r)
{
	struct buf sub;

	buf_init(&sub);
	raw_exist(&sub, r);
	out->len = 0;
	pb_sub(out, 1, &sub);
	buf_free(&sub);
}

static void raw_commit_nonexist(struct buf *out, const uint8_t *key, size_t klen,
				const struct rexist *l, const struct rexist *r)
{
	struct buf ne, sub;

	buf_init(&ne);
	buf_init(&sub);
	pb_bytes3(&ne, 1, key, klen);
	if (l) {
		raw_exist(&sub, l);
		pb_sub(&ne, 2, &sub);
	}
	if (r) {
		sub.len = 0;
		raw_exist(&sub, r);
		pb_sub(&ne, 3, &sub);
	}
	out->len = 0;
	pb_sub(out, 2, &ne);
	buf_free(&ne);
	buf_free(&sub);
}

/* Verify a crafted existence proof against the root it really hashes to. */
static int raw_verify(const struct rexist *r)
{
	struct buf b;
	uint8_t root[32];
	int rc;

	buf_init(&b);
	raw_root(r, root);
	raw_commit_exist(&b, r);
	rc = verify_exact(root, b.p, b.len, r->key, r->klen, r->val, r->vlen);
	buf_free(&b);
	return rc;
}

static struct rexist *rexist_new(void)
{
	struct rexist *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	return r;
}

/* ---- Tests ------------------------------------------------------------------------------ */

/* IAVL.md §1's worked example pins the test's own hashing before anything leans on it. */
START_TEST(test_worked_example)
{
	static const uint8_t pre[] = {0x00, 0x02, 0x02};
	uint8_t h[32];
	struct mproof_exist e = {(const uint8_t *)"hello", 5, (const uint8_t *)"world", 5, 1,
				 NULL, 0};
	struct buf b;
	struct rexist *r = rexist_new();

	t_leaf_hash(pre, 3, (const uint8_t *)"hello", 5, (const uint8_t *)"world", 5, h);
	ck_assert_uint_eq(h[0], 0x60);
	ck_assert_uint_eq(h[1], 0x32);
	ck_assert_uint_eq(h[2], 0x66);
	ck_assert_uint_eq(h[3], 0x1a);
	ck_assert_uint_eq(h[28], 0xab);
	ck_assert_uint_eq(h[29], 0x79);
	ck_assert_uint_eq(h[30], 0xca);
	ck_assert_uint_eq(h[31], 0x02);

	/* A one-leaf tree: the root is the leaf hash and the path is empty. */
	buf_init(&b);
	ck_ok(buf_append(&b, "junk", 4)); /* the encoder appends */
	ck_ok(ics23_encode_exist(&b, &e));
	ck_assert_mem_eq(b.p, "junk", 4);
	ck_ok(verify_exact(h, b.p + 4, b.len - 4, e.key, 5, e.val, 5));
	ck_ok(iodb_verify_proof(h, b.p + 4, b.len - 4, "hello", 5, "world", 5));
	ck_rc(iodb_verify_proof(h, b.p + 4, b.len - 4, "hello", 5, "World", 5), IODB_EPROOF);
	/* Byte for byte what gogoproto writes (field order, zero enums left out). */
	{
		static const uint8_t want[] = {
		    0x0a, 0x1b, 0x0a, 0x05, 'h',  'e',	'l',  'l',  'o',  0x12, 0x05,
		    'w',  'o',	'r',  'l',  'd',  0x1a, 0x0b, 0x08, 0x01, 0x18, 0x01,
		    0x20, 0x01, 0x2a, 0x03, 0x00, 0x02, 0x02};

		ck_assert_uint_eq(b.len - 4, sizeof(want));
		ck_assert_mem_eq(b.p + 4, want, sizeof(want));
	}
	raw_from(r, &e);
	ck_ok(raw_verify(r));
	buf_free(&b);
	free(r);
}
END_TEST

/* Every key of every shape; the encoder's bytes match the test's own protobuf. */
START_TEST(test_exist)
{
	struct buf b, raw;
	struct rexist *r = rexist_new();
	size_t proofs = 0;

	buf_init(&b);
	buf_init(&raw);
	for (size_t s = 0; s < NSHAPES; s++) {
		struct tree *t = tree_shape(&shapes[s]);
		const uint8_t *root = t->root->hash;
		uint8_t bad_root[32];

		memcpy(bad_root, root, 32);
		bad_root[31] ^= 1;
		for (size_t i = 0; i < t->n; i++) {
			const uint8_t *k = t->key[i], *v = t->val[i];
			size_t kl = t->klen[i], vl = t->vlen[i];
			uint8_t other[MAXVAL + 1];

			encode_exist(&b, t, i);
			raw_tree(r, t, i);
			raw_commit_exist(&raw, r);
			ck_assert_uint_eq(b.len, raw.len);
			ck_assert_mem_eq(b.p, raw.p, b.len);

			ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
			ck_ok(iodb_verify_proof(root, b.p, b.len, k, kl, v, vl));
			ck_rc(verify_exact(bad_root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
			/* Another value: one bit off, one byte longer, one byte shorter. */
			memcpy(other, v, vl);
			other[vl - 1] ^= 0x01;
			ck_rc(verify_exact(root, b.p, b.len, k, kl, other, vl), IODB_EPROOF);
			other[vl - 1] ^= 0x01;
			other[vl] = 0;
			ck_rc(verify_exact(root, b.p, b.len, k, kl, other, vl + 1), IODB_EPROOF);
			ck_rc(verify_exact(root, b.p, b.len, k, kl, other, vl - 1), IODB_EPROOF);
			/* Another key: a neighbour's, or this one cut short. */
			if (t->n > 1) {
				size_t j = (i + 1) % t->n;

				ck_rc(verify_exact(root, b.p, b.len, t->key[j], t->klen[j], v, vl),
				      IODB_EPROOF);
			}
			ck_rc(verify_exact(root, b.p, b.len, k, kl - 1, v, vl), IODB_EPROOF);
			/* Presented as proof of absence. */
			ck_rc(verify_exact(root, b.p, b.len, k, kl, NULL, 0), IODB_EPROOF);
			proofs++;
		}
		free(t);
	}
	ck_assert_uint_eq(proofs, 1 + 2 + 3 + 3 + 7 + 8 + 5 + 5);
	buf_free(&b);
	buf_free(&raw);
	free(r);
}
END_TEST

START_TEST(test_nonexist)
{
	struct buf b, raw;
	struct rexist *lr = rexist_new(), *rr = rexist_new();
	size_t proofs = 0;

	buf_init(&b);
	buf_init(&raw);
	for (size_t s = 0; s < NSHAPES; s++) {
		struct tree *t = tree_shape(&shapes[s]);
		const uint8_t *root = t->root->hash;
		struct absent ab[2 * MAXKEYS + 4];
		size_t na = absent_keys(t, ab);

		for (size_t a = 0; a < na; a++) {
			const uint8_t *k = ab[a].key;
			size_t kl = ab[a].klen, at = ab[a].at;
			long l = (long)at - 1, r = at < t->n ? (long)at : -1;
			uint8_t bad_root[32];

			encode_nonexist(&b, t, k, kl, l, r);
			if (l >= 0)
				raw_tree(lr, t, (size_t)l);
			if (r >= 0)
				raw_tree(rr, t, (size_t)r);
			raw_commit_nonexist(&raw, k, kl, l >= 0 ? lr : NULL, r >= 0 ? rr : NULL);
			ck_assert_uint_eq(b.len, raw.len);
			ck_assert_mem_eq(b.p, raw.p, b.len);

			ck_ok(verify_exact(root, b.p, b.len, k, kl, NULL, 0));
			ck_ok(iodb_verify_proof(root, b.p, b.len, k, kl, NULL, 0));
			memcpy(bad_root, root, 32);
			bad_root[0] ^= 0x80;
			ck_rc(verify_exact(bad_root, b.p, b.len, k, kl, NULL, 0), IODB_EPROOF);
			/* Presented as proof of a value. */
			ck_rc(verify_exact(root, b.p, b.len, k, kl, (const uint8_t *)"v", 1),
			      IODB_EPROOF);
			/* Asked about another key: the proof names its own (stricter than ics23). */
			ck_rc(verify_exact(root, b.p, b.len, k, kl - 1, NULL, 0), IODB_EPROOF);
			/* A neighbour key itself is present. */
			if (l >= 0)
				ck_rc(verify_exact(root, b.p, b.len, t->key[l], t->klen[l], NULL, 0),
				      IODB_EPROOF);
			proofs++;
		}
		free(t);
	}
	ck_assert_uint_gt(proofs, 60);
	buf_free(&b);
	buf_free(&raw);
	free(lr);
	free(rr);
}
END_TEST

/* Neighbour pairs that are not the two around the key. */
START_TEST(test_nonexist_wrong_neighbours)
{
	struct buf b;
	size_t checked = 0;

	buf_init(&b);
	for (size_t s = 0; s < NSHAPES; s++) {
		struct tree *t = tree_shape(&shapes[s]);
		const uint8_t *root = t->root->hash;
		long n = (long)t->n;

		for (long i = 0; i < n; i++) {
			const uint8_t *k = t->key[i];
			size_t kl = t->klen[i];
			uint8_t gap[MAXKEY + 1];
			size_t gl = kl + 1;

			/* Key i is present: skip over it, or use it as a neighbour. */
			if (n > 1) {
				encode_nonexist(&b, t, k, kl, i - 1, i + 1 < n ? i + 1 : -1);
				ck_rc(verify_exact(root, b.p, b.len, k, kl, NULL, 0), IODB_EPROOF);
			}
			encode_nonexist(&b, t, k, kl, i, i + 1 < n ? i + 1 : -1);
			ck_rc(verify_exact(root, b.p, b.len, k, kl, NULL, 0), IODB_EPROOF);
			encode_nonexist(&b, t, k, kl, i - 1, i);
			ck_rc(verify_exact(root, b.p, b.len, k, kl, NULL, 0), IODB_EPROOF);

			/* gap = key i ‖ 00, absent, between i and i+1. */
			memcpy(gap, k, kl);
			gap[kl] = 0;
			if (i + 2 < n) { /* right neighbour skips one key */
				encode_nonexist(&b, t, gap, gl, i, i + 2);
				ck_rc(verify_exact(root, b.p, b.len, gap, gl, NULL, 0), IODB_EPROOF);
				checked++;
			}
			if (i >= 1 && i + 1 < n) { /* left neighbour skips one key */
				encode_nonexist(&b, t, gap, gl, i - 1, i + 1);
				ck_rc(verify_exact(root, b.p, b.len, gap, gl, NULL, 0), IODB_EPROOF);
				checked++;
			}
			if (i + 1 < n) {
				/* Only one side, where the other exists. */
				encode_nonexist(&b, t, gap, gl, i, -1);
				ck_rc(verify_exact(root, b.p, b.len, gap, gl, NULL, 0), IODB_EPROOF);
				encode_nonexist(&b, t, gap, gl, -1, i + 1);
				ck_rc(verify_exact(root, b.p, b.len, gap, gl, NULL, 0), IODB_EPROOF);
				/* Swapped. */
				encode_nonexist(&b, t, gap, gl, i + 1, i);
				ck_rc(verify_exact(root, b.p, b.len, gap, gl, NULL, 0), IODB_EPROOF);
				/* Both sides the same leaf. */
				encode_nonexist(&b, t, gap, gl, i, i);
				ck_rc(verify_exact(root, b.p, b.len, gap, gl, NULL, 0), IODB_EPROOF);
				/* The right pair still works (the control). */
				encode_nonexist(&b, t, gap, gl, i, i + 1);
				ck_ok(verify_exact(root, b.p, b.len, gap, gl, NULL, 0));
				checked++;
			}
		}
		free(t);
	}
	/* An existence proof is not a non-existence proof. */
	{
		struct tree *t = tree_shape(&shapes[4]);

		encode_exist(&b, t, 3);
		ck_rc(verify_exact(t->root->hash, b.p, b.len, t->key[3], t->klen[3], NULL, 0),
		      IODB_EPROOF);
		free(t);
	}
	ck_assert_uint_gt(checked, 40);
	buf_free(&b);
}
END_TEST

/* Every single-byte change of every proof must fail. */
static size_t flip_all(const uint8_t root[32], const struct buf *b, const uint8_t *k, size_t kl,
		       const uint8_t *v, size_t vl, int all_values)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xff, 0x20, 0x08};
	uint8_t *c = malloc(b->len);
	size_t tried = 0;

	ck_assert_ptr_nonnull(c);
	memcpy(c, b->p, b->len);
	for (size_t i = 0; i < b->len; i++) {
		unsigned nm = all_values ? 255 : sizeof(masks);

		for (unsigned m = 0; m < nm; m++) {
			uint8_t x = all_values ? (uint8_t)(m + 1) : masks[m];
			int rc;

			c[i] ^= x;
			rc = ics23_verify(root, c, b->len, k, kl, v, vl);
			c[i] ^= x;
			ck_assert_msg(rc == IODB_EPROOF,
				      "byte %zu of %zu ^ %02x: rc %d, want EPROOF", i, b->len, x,
				      rc);
			tried++;
		}
	}
	ck_ok(ics23_verify(root, c, b->len, k, kl, v, vl));
	free(c);
	return tried;
}

START_TEST(test_byte_flips)
{
	struct buf b;
	size_t tried = 0;

	buf_init(&b);
	for (size_t s = 0; s < NSHAPES; s++) {
		struct tree *t = tree_shape(&shapes[s]);
		struct absent ab[2 * MAXKEYS + 4];
		size_t na = absent_keys(t, ab);
		int all = shapes[s].n == 7; /* every xor value on the 7-key tree */

		for (size_t i = 0; i < t->n; i++) {
			encode_exist(&b, t, i);
			tried += flip_all(t->root->hash, &b, t->key[i], t->klen[i], t->val[i],
					  t->vlen[i], all);
		}
		for (size_t a = 0; a < na; a++) {
			size_t at = ab[a].at;

			encode_nonexist(&b, t, ab[a].key, ab[a].klen, (long)at - 1,
					at < t->n ? (long)at : -1);
			tried += flip_all(t->root->hash, &b, ab[a].key, ab[a].klen, NULL, 0, all);
		}
		free(t);
	}
	fprintf(stderr, "byte flips: %zu proofs variants, all rejected\n", tried);
	buf_free(&b);
}
END_TEST

START_TEST(test_truncations)
{
	struct buf b;
	size_t tried = 0;

	buf_init(&b);
	for (size_t s = 0; s < NSHAPES; s++) {
		struct tree *t = tree_shape(&shapes[s]);
		struct absent ab[2 * MAXKEYS + 4];
		size_t na = absent_keys(t, ab);

		for (size_t i = 0; i < t->n; i++) {
			encode_exist(&b, t, i);
			for (size_t n = 0; n < b.len; n++, tried++)
				ck_rc(verify_exact(t->root->hash, b.p, n, t->key[i], t->klen[i],
						   t->val[i], t->vlen[i]),
				      IODB_EPROOF);
		}
		for (size_t a = 0; a < na; a++) {
			size_t at = ab[a].at;

			encode_nonexist(&b, t, ab[a].key, ab[a].klen, (long)at - 1,
					at < t->n ? (long)at : -1);
			for (size_t n = 0; n < b.len; n++, tried++)
				ck_rc(verify_exact(t->root->hash, b.p, n, ab[a].key, ab[a].klen, NULL,
						   0),
				      IODB_EPROOF);
		}
		free(t);
	}
	ck_assert_uint_gt(tried, 10000);
	buf_free(&b);
}
END_TEST

/*
 * IavlSpec and validateIavlOps, one rule at a time. Each crafted proof is checked against the
 * root it hashes to, so only the rule can reject it; where a mutation leaves the hash alone
 * (an enum the verifier might ignore), the original root is the one to beat.
 */
START_TEST(test_iavl_rules)
{
	struct tree *t = tree_shape(&shapes[4]); /* 7 keys: paths of 2 and 3 steps */
	struct rexist *r = rexist_new(), *orig = rexist_new();
	const size_t K = 5;

	raw_tree(orig, t, K);
	ck_assert_uint_ge(orig->npath, 2);
	*r = *orig;
	ck_ok(raw_verify(r));

	/* Leaf prefix: height ≠ 0, size negative, a byte too many, a varint short. */
	r->lprefix[0] = 0x02;
	ck_rc(raw_verify(r), IODB_EPROOF);
	*r = *orig;
	r->lprefix[1] = 0x01; /* zigzag 1 = size -1 */
	ck_rc(raw_verify(r), IODB_EPROOF);
	*r = *orig;
	r->lprefix[r->lplen++] = 0x00;
	ck_rc(raw_verify(r), IODB_EPROOF);
	*r = *orig;
	r->lplen = 2;
	ck_rc(raw_verify(r), IODB_EPROOF);
	*r = *orig;
	r->lprefix[r->lplen - 1] |= 0x01; /* negative version */
	ck_rc(raw_verify(r), IODB_EPROOF);
	/* validateIavlOps reads no more than that: a leaf of size 5, or a non-minimal varint,
	 * is what ics23-go accepts. */
	*r = *orig;
	r->lprefix[1] = 0x0a;
	ck_ok(raw_verify(r));
	*r = *orig;
	memmove(r->lprefix + 3, r->lprefix + 2, r->lplen - 2);
	r->lprefix[1] = 0x82; /* size 1 as 82 00 */
	r->lprefix[2] = 0x00;
	r->lplen++;
	ck_ok(raw_verify(r));

	/* Leaf op enums: anything but IavlSpec's, against the root the proof would give if the
	 * verifier ignored the field. */
	{
		uint8_t root[32];
		struct buf b;
		int32_t *fields[] = {&r->lhash, &r->lpk, &r->lpv, &r->llen};
		int32_t bad[] = {0, 2, 6, -1};

		buf_init(&b);
		raw_root(orig, root);
		for (size_t f = 0; f < 4; f++) {
			for (size_t v = 0; v < 4; v++) {
				int32_t good = f == 1 ? 0 : 1;

				*r = *orig;
				if (bad[v] == good)
					continue;
				*fields[f] = bad[v];
				raw_commit_exist(&b, r);
				ck_rc(verify_exact(root, b.p, b.len, r->key, r->klen, r->val, r->vlen),
				      IODB_EPROOF);
			}
		}
		/* No leaf op at all. */
		*r = *orig;
		r->has_leaf = 0;
		raw_commit_exist(&b, r);
		ck_rc(verify_exact(root, b.p, b.len, r->key, r->klen, r->val, r->vlen),
		      IODB_EPROOF);
		/* Inner hash op not SHA256. */
		for (int32_t h = 0; h < 4; h++) {
			if (h == 1)
				continue;
			*r = *orig;
			r->path[1].hash = h;
			raw_commit_exist(&b, r);
			ck_rc(verify_exact(root, b.p, b.len, r->key, r->klen, r->val, r->vlen),
			      IODB_EPROOF);
		}
		buf_free(&b);
	}

	for (size_t layer = 0; layer < orig->npath; layer++) {
		struct rop *op;
		size_t vlen_at;

		/* Inner prefix starting 00: height 0. */
		*r = *orig;
		op = &r->path[layer];
		op->prefix[0] = 0x00;
		ck_rc(raw_verify(r), IODB_EPROOF);
		/* Height below the layer (1-based): layer 2's node at height 1. */
		if (layer >= 1) {
			*r = *orig;
			r->path[layer].prefix[0] = (uint8_t)(2 * layer); /* zigzag(layer) */
			ck_rc(raw_verify(r), IODB_EPROOF);
			*r = *orig;
			r->path[layer].prefix[0] = (uint8_t)(2 * (layer + 1)); /* = layer + 1 */
			ck_ok(raw_verify(r));
		}
		/* Negative size. */
		*r = *orig;
		r->path[layer].prefix[1] |= 0x01;
		ck_rc(raw_verify(r), IODB_EPROOF);

		/* Suffix of 32 bytes: the sibling without its length byte. */
		*r = *orig;
		op = &r->path[layer];
		if (op->slen == 33) {
			memmove(op->suffix, op->suffix + 1, 32);
			op->slen = 32;
			ck_rc(raw_verify(r), IODB_EPROOF);
			/* ... or its 0x20 moved into the prefix: 2 bytes after the varints. */
			*r = *orig;
			op = &r->path[layer];
			op->prefix[op->plen++] = 0x20;
			memmove(op->suffix, op->suffix + 1, 32);
			op->slen = 32;
			ck_rc(raw_verify(r), IODB_EPROOF);
			/* A suffix of 66 bytes: a multiple of 33, so ics23 takes it. */
			*r = *orig;
			op = &r->path[layer];
			memcpy(op->suffix + 33, op->suffix, 33);
			op->slen = 66;
			ck_ok(raw_verify(r));
		} else {
			/* Sibling in the prefix: cut its trailing 0x20 → 33 bytes after the varints. */
			op->plen--;
			ck_rc(raw_verify(r), IODB_EPROOF);
			/* A suffix of one stray byte. */
			*r = *orig;
			op = &r->path[layer];
			op->suffix[0] = 0x20;
			op->slen = 1;
			ck_rc(raw_verify(r), IODB_EPROOF);
		}
		/* Non-minimal varints widen the prefix: version as 10 bytes, then size too. */
		*r = *orig;
		op = &r->path[layer];
		vlen_at = 2; /* height and size are one byte each in this tree */
		{
			uint8_t tail[96];
			size_t tl = op->plen - vlen_at - 1; /* after the 1-byte version */
			uint8_t ver = op->prefix[vlen_at];

			memcpy(tail, op->prefix + vlen_at + 1, tl);
			op->prefix[vlen_at] = (uint8_t)(ver | 0x80);
			memset(op->prefix + vlen_at + 1, 0x80, 8);
			op->prefix[vlen_at + 9] = 0x00;
			memcpy(op->prefix + vlen_at + 10, tail, tl);
			op->plen += 9;
			/* 12 + 1 = 13 bytes passes CheckAgainstSpec; 12 + 34 = 46 does not. */
			if (op->slen)
				ck_ok(raw_verify(r));
			else
				ck_rc(raw_verify(r), IODB_EPROOF);
			/* Size padded the same way: 21 + 1 (+ 33) bytes. */
			memmove(op->prefix + 11, op->prefix + 2, op->plen - 2);
			op->prefix[1] |= 0x80;
			memset(op->prefix + 2, 0x80, 8);
			op->prefix[10] = 0x00;
			op->plen += 9;
			if (op->slen == 0)
				ck_rc(raw_verify(r), IODB_EPROOF); /* 55 > 45 */
			else
				ck_ok(raw_verify(r)); /* 22 ≤ 45 */
		}
	}
	free(r);
	free(orig);
	free(t);
}
END_TEST

/* A chain of 130 leaves: keys at depth 128 prove, at 129 do not (MaxDepth). */
START_TEST(test_depth)
{
	struct tree *t = tree_new(130, SPLIT_CHAIN_RIGHT, 0);
	struct buf b;
	struct mproof_exist e;
	struct mproof_step st[MAXOPS];
	const uint8_t *root = t->root->hash;

	buf_init(&b);
	tree_prove(t, 127, &e, st);
	ck_assert_uint_eq(e.npath, 128);
	encode_exist(&b, t, 127);
	ck_ok(verify_exact(root, b.p, b.len, t->key[127], t->klen[127], t->val[127],
			   t->vlen[127]));
	for (size_t i = 128; i < 130; i++) {
		tree_prove(t, i, &e, st);
		ck_assert_uint_eq(e.npath, 129);
		encode_exist(&b, t, i);
		ck_rc(verify_exact(root, b.p, b.len, t->key[i], t->klen[i], t->val[i], t->vlen[i]),
		      IODB_EPROOF);
		ck_assert_ptr_nonnull(strstr(iodb_errmsg(), "inner ops"));
	}
	/* Absence between depth 127 and 128: fine; with a neighbour at depth 129: not. */
	{
		uint8_t gap[MAXKEY + 1];

		memcpy(gap, t->key[126], t->klen[126]);
		gap[t->klen[126]] = 0;
		encode_nonexist(&b, t, gap, t->klen[126] + 1, 126, 127);
		ck_ok(verify_exact(root, b.p, b.len, gap, t->klen[126] + 1, NULL, 0));
		memcpy(gap, t->key[127], t->klen[127]);
		gap[t->klen[127]] = 0;
		encode_nonexist(&b, t, gap, t->klen[127] + 1, 127, 128);
		ck_rc(verify_exact(root, b.p, b.len, gap, t->klen[127] + 1, NULL, 0), IODB_EPROOF);
	}
	free(t);
	buf_free(&b);
}
END_TEST

/*
 * A root version so large that its varint fills the prefix: 2^55 leaves prefixes of 12 and
 * 45 bytes (the limits, accepted); 2^62 makes them 13 and 46. With 46 the right subtree's
 * existence proofs fail CheckAgainstSpec; with 13 the left ones still prove, but the root op
 * no longer passes as a left turn, so absence next to it fails — except where the two
 * neighbours share that op as a common ancestor, which is never padding-checked.
 */
START_TEST(test_prefix_limits)
{
	struct buf b;
	struct tree *t = tree_new(7, SPLIT_HALF, (int64_t)1 << 55);
	const uint8_t *root = t->root->hash;
	uint8_t gap[MAXKEY + 1];
	struct rexist *r = rexist_new();

	buf_init(&b);
	raw_tree(r, t, 0);
	ck_assert_uint_eq(r->path[r->npath - 1].plen, 12);
	raw_tree(r, t, 6);
	ck_assert_uint_eq(r->path[r->npath - 1].plen, 45);
	for (size_t i = 0; i < 7; i++) {
		encode_exist(&b, t, i);
		ck_ok(verify_exact(root, b.p, b.len, t->key[i], t->klen[i], t->val[i], t->vlen[i]));
	}
	encode_nonexist(&b, t, (const uint8_t *)"k", 1, -1, 0);
	ck_ok(verify_exact(root, b.p, b.len, (const uint8_t *)"k", 1, NULL, 0));
	encode_nonexist(&b, t, (const uint8_t *)"l", 1, 6, -1);
	ck_ok(verify_exact(root, b.p, b.len, (const uint8_t *)"l", 1, NULL, 0));
	free(t);

	t = tree_new(7, SPLIT_HALF, (int64_t)1 << 62); /* root splits 3 | 4 */
	root = t->root->hash;
	for (size_t i = 0; i < 7; i++) {
		encode_exist(&b, t, i);
		ck_rc(verify_exact(root, b.p, b.len, t->key[i], t->klen[i], t->val[i], t->vlen[i]),
		      i < 3 ? IODB_OK : IODB_EPROOF);
	}
	encode_nonexist(&b, t, (const uint8_t *)"k", 1, -1, 0);
	ck_rc(verify_exact(root, b.p, b.len, (const uint8_t *)"k", 1, NULL, 0), IODB_EPROOF);
	memcpy(gap, t->key[0], t->klen[0]);
	gap[t->klen[0]] = 0;
	encode_nonexist(&b, t, gap, t->klen[0] + 1, 0, 1);
	ck_ok(verify_exact(root, b.p, b.len, gap, t->klen[0] + 1, NULL, 0));
	free(t);
	free(r);
	buf_free(&b);
}
END_TEST

/* ics23 cannot prove an empty key or value (LeafOp.Apply refuses them). */
START_TEST(test_empty_key_value)
{
	struct tree *t = calloc(1, sizeof(*t));
	struct buf b;
	const uint8_t *root;

	ck_assert_ptr_nonnull(t);
	buf_init(&b);
	t->n = 3;
	for (size_t i = 0; i < 3; i++) {
		t->klen[i] = make_key(t->key[i], i);
		t->vlen[i] = make_val(t->val[i], i);
	}
	t->vlen[1] = 0;
	t->root = build(t, 0, 3, SPLIT_HALF);
	root = t->root->hash;
	encode_exist(&b, t, 1);
	ck_rc(verify_exact(root, b.p, b.len, t->key[1], t->klen[1], (const uint8_t *)"", 0),
	      IODB_EPROOF);
	ck_rc(iodb_verify_proof(root, b.p, b.len, t->key[1], t->klen[1], "", 0), IODB_EPROOF);
	encode_exist(&b, t, 2);
	ck_ok(verify_exact(root, b.p, b.len, t->key[2], t->klen[2], t->val[2], t->vlen[2]));
	{
		uint8_t gap[MAXKEY + 1];

		memcpy(gap, t->key[1], t->klen[1]);
		gap[t->klen[1]] = 0;
		encode_nonexist(&b, t, gap, t->klen[1] + 1, 1, 2);
		ck_rc(verify_exact(root, b.p, b.len, gap, t->klen[1] + 1, NULL, 0), IODB_EPROOF);
	}
	/* An empty key can be proven absent (ics23-go does the same); iodb keys are never
	 * empty, so the public entry point calls it a bad argument. */
	encode_nonexist(&b, t, NULL, 0, -1, 0);
	ck_ok(verify_exact(root, b.p, b.len, NULL, 0, NULL, 0));
	ck_rc(iodb_verify_proof(root, b.p, b.len, "", 0, NULL, 0), IODB_EINVAL);
	free(t);
	buf_free(&b);
}
END_TEST

START_TEST(test_arguments)
{
	struct tree *t = tree_shape(&shapes[2]);
	const uint8_t *root = t->root->hash;
	struct buf b;
	uint8_t *big;
	struct mproof_exist e = {0};

	buf_init(&b);
	encode_exist(&b, t, 0);
	ck_rc(ics23_verify(NULL, b.p, b.len, t->key[0], t->klen[0], t->val[0], t->vlen[0]),
	      IODB_EINVAL);
	ck_rc(ics23_verify(root, NULL, 5, t->key[0], t->klen[0], t->val[0], t->vlen[0]),
	      IODB_EINVAL);
	ck_rc(ics23_verify(root, b.p, b.len, NULL, 3, t->val[0], t->vlen[0]), IODB_EINVAL);
	ck_rc(ics23_verify(root, b.p, b.len, t->key[0], t->klen[0], NULL, 3), IODB_EINVAL);
	ck_rc(ics23_verify(root, NULL, 0, t->key[0], t->klen[0], t->val[0], t->vlen[0]),
	      IODB_EPROOF);
	ck_rc(iodb_verify_proof(NULL, b.p, b.len, "k", 1, NULL, 0), IODB_EINVAL);
	ck_rc(iodb_verify_proof(root, NULL, 1, "k", 1, NULL, 0), IODB_EINVAL);
	ck_rc(iodb_verify_proof(root, b.p, b.len, NULL, 1, NULL, 0), IODB_EINVAL);
	ck_rc(iodb_verify_proof(root, b.p, b.len, "k", IODB_MAX_KEY + 1, NULL, 0), IODB_EINVAL);
	ck_rc(iodb_verify_proof(root, b.p, b.len, "k", 1, NULL, 1), IODB_EINVAL);
	ck_rc(iodb_verify_proof(root, b.p, b.len, "k", 1, "v", (size_t)IODB_MAX_VALUE + 1),
	      IODB_EINVAL);
	/* Longer than any proof iodb can make (two neighbours' largest keys and values): refused
	 * by its length alone, before a byte is read — were it read, ASan would see the buffer
	 * overrun, since only the real proof is there. */
	big = malloc(b.len);
	ck_assert_ptr_nonnull(big);
	memcpy(big, b.p, b.len);
	ck_rc(ics23_verify(root, big, 2 * ((size_t)IODB_MAX_VALUE + IODB_MAX_KEY) + (1u << 20) + 1,
			   t->key[0], t->klen[0], t->val[0], t->vlen[0]),
	      IODB_EPROOF);
	free(big);

	ck_rc(ics23_encode_exist(NULL, &e), IODB_EINVAL);
	ck_rc(ics23_encode_exist(&b, NULL), IODB_EINVAL);
	e.klen = 3;
	ck_rc(ics23_encode_exist(&b, &e), IODB_EINVAL);
	ck_rc(ics23_encode_nonexist(&b, (const uint8_t *)"k", 1, NULL, NULL), IODB_EINVAL);
	ck_rc(ics23_encode_nonexist(&b, NULL, 1, NULL, NULL), IODB_EINVAL);
	free(t);
	buf_free(&b);
}
END_TEST

/* ---- Protobuf details that decide acceptance (gogoproto's Unmarshal) ------------------ */

static void put_raw(struct buf *b, const void *p, size_t n)
{
	ck_ok(buf_append(b, p, n));
}

START_TEST(test_protobuf)
{
	struct tree *t = tree_shape(&shapes[4]);
	const uint8_t *root = t->root->hash;
	struct rexist *r = rexist_new(), *other = rexist_new();
	struct buf b, ex, sub, tmp;
	const size_t K = 2;
	const uint8_t *k = t->key[K], *v = t->val[K];
	size_t kl = t->klen[K], vl = t->vlen[K];
	/* Unknown fields, well formed: varint 99 (field 15), fixed64 (16), fixed32 (17),
	 * bytes (18), a group (19) holding a nested group and a varint. */
	static const uint8_t unknown[] = {
	    0x78, 0x63,						      /* 15: varint */
	    0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,			      /* 16: fixed64 */
	    0x8d, 0x01, 1, 2, 3, 4,				      /* 17: fixed32 */
	    0x92, 0x01, 0x03, 'a', 'b', 'c',			      /* 18: bytes */
	    0x9b, 0x01, 0xa3, 0x01, 0x08, 0x01, 0xa4, 0x01, 0x9c, 0x01}; /* 19: group */
	static const uint8_t *bad_unknown[] = {
	    (const uint8_t *)"\x9b\x01\x08\x01",     /* group never closed */
	    (const uint8_t *)"\x9c\x01",	     /* end group alone */
	    (const uint8_t *)"\x7e\x01",	     /* wire type 6 */
	    (const uint8_t *)"\x7f\x01",	     /* wire type 7 */
	    (const uint8_t *)"\x02\x00",	     /* field 0 */
	    (const uint8_t *)"\x81\x01\x01\x02\x03", /* truncated fixed64 */
	    (const uint8_t *)"\x92\x01\x05\x61",     /* bytes past the end */
	};
	static const size_t bad_len[] = {4, 2, 2, 2, 2, 5, 4};

	buf_init(&b);
	buf_init(&ex);
	buf_init(&sub);
	buf_init(&tmp);
	raw_tree(r, t, K);
	raw_tree(other, t, K + 1);

	/* Unknown fields at each level are skipped: CommitmentProof, ExistenceProof, LeafOp,
	 * InnerOp. */
	for (int level = 0; level < 4; level++) {
		ex.len = 0;
		raw_exist(&ex, r);
		if (level == 1)
			put_raw(&ex, unknown, sizeof(unknown));
		if (level >= 2) {
			/* Rebuild with the unknown fields inside the leaf op or the first inner. */
			struct rexist cut = *r;

			ex.len = 0;
			cut.has_leaf = level != 2;
			cut.npath = level == 3 ? 0 : r->npath;
			raw_exist(&ex, &cut);
			sub.len = 0;
			if (level == 2)
				raw_leafop(&sub, r);
			else
				raw_innerop(&sub, &r->path[0]);
			put_raw(&sub, unknown, sizeof(unknown));
			pb_sub(&ex, level == 2 ? 3 : 4, &sub);
			if (level == 3)
				for (size_t i = 1; i < r->npath; i++) {
					tmp.len = 0;
					raw_innerop(&tmp, &r->path[i]);
					pb_sub(&ex, 4, &tmp);
				}
		}
		b.len = 0;
		if (level == 0)
			put_raw(&b, unknown, sizeof(unknown));
		pb_sub(&b, 1, &ex);
		ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
		/* The same place with a malformed unknown field fails. */
		for (size_t u = 0; level <= 1 && u < sizeof(bad_len) / sizeof(bad_len[0]); u++) {
			struct buf m;

			buf_init(&m);
			if (level == 0) {
				pb_sub(&m, 1, &ex);
				put_raw(&m, bad_unknown[u], bad_len[u]);
			} else {
				tmp.len = 0;
				put_raw(&tmp, ex.p, ex.len);
				if (level == 1)
					put_raw(&tmp, bad_unknown[u], bad_len[u]);
				pb_sub(&m, 1, &tmp);
			}
			ck_rc(verify_exact(root, m.p, m.len, k, kl, v, vl), IODB_EPROOF);
			buf_free(&m);
		}
	}

	/* Known fields with the wrong wire type. */
	{
		static const uint8_t wrong[][2] = {{0x08, 0x01}, {0x0d, 0x00}};

		for (size_t w = 0; w < 2; w++) {
			b.len = 0;
			put_raw(&b, wrong[w], 2); /* exist as a varint / fixed32 */
			ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
		}
	}

	/* A sub-message given twice merges: the leaf op in two halves. */
	ex.len = 0;
	pb_bytes3(&ex, 1, r->key, r->klen);
	pb_bytes3(&ex, 2, r->val, r->vlen);
	sub.len = 0;
	pb_enum3(&sub, 1, 1);
	pb_enum3(&sub, 3, 1);
	pb_sub(&ex, 3, &sub);
	sub.len = 0;
	pb_enum3(&sub, 4, 1);
	pb_bytes3(&sub, 5, r->lprefix, r->lplen);
	pb_sub(&ex, 3, &sub);
	for (size_t i = 0; i < r->npath; i++) {
		sub.len = 0;
		raw_innerop(&sub, &r->path[i]);
		pb_sub(&ex, 4, &sub);
	}
	b.len = 0;
	pb_sub(&b, 1, &ex);
	ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));

	/* A scalar given twice: the last one counts. */
	tmp.len = 0;
	pb_field(&tmp, 1, "wrong", 5);
	raw_exist(&tmp, r);
	b.len = 0;
	pb_sub(&b, 1, &tmp);
	ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
	tmp.len = 0;
	raw_exist(&tmp, r);
	pb_field(&tmp, 1, "wrong", 5);
	b.len = 0;
	pb_sub(&b, 1, &tmp);
	ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);

	/* A oneof member given twice: the last replaces (not merges) the first. */
	ex.len = 0;
	raw_exist(&ex, other);
	tmp.len = 0;
	raw_exist(&tmp, r);
	b.len = 0;
	pb_sub(&b, 1, &ex);
	pb_sub(&b, 1, &tmp);
	ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
	b.len = 0;
	pb_sub(&b, 1, &tmp);
	pb_sub(&b, 1, &ex);
	ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
	/* ... even a replaced member of 200 inner ops does not count against MaxDepth. */
	{
		struct rexist *deep = rexist_new();

		*deep = *other;
		deep->npath = MAXOPS;
		for (size_t i = other->npath; i < MAXOPS; i++)
			deep->path[i] = other->path[0];
		ex.len = 0;
		raw_exist(&ex, deep);
		b.len = 0;
		pb_sub(&b, 1, &ex);
		pb_sub(&b, 1, &tmp);
		ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
		b.len = 0;
		pb_sub(&b, 1, &ex);
		ck_rc(verify_exact(root, b.p, b.len, other->key, other->klen, other->val,
				   other->vlen),
		      IODB_EPROOF);
		free(deep);
	}

	/* A non-existence proof whose left neighbour comes in two pieces (merged). */
	{
		uint8_t gap[MAXKEY + 1];
		struct rexist half = *r;

		memcpy(gap, k, kl);
		gap[kl] = 0;
		ex.len = 0;
		pb_field(&ex, 1, gap, kl + 1);
		half.npath = 0;
		sub.len = 0;
		raw_exist(&sub, &half); /* key, value, leaf */
		pb_sub(&ex, 2, &sub);
		sub.len = 0;
		for (size_t i = 0; i < r->npath; i++) { /* then the path */
			tmp.len = 0;
			raw_innerop(&tmp, &r->path[i]);
			pb_sub(&sub, 4, &tmp);
		}
		pb_sub(&ex, 2, &sub);
		sub.len = 0;
		raw_exist(&sub, other);
		pb_sub(&ex, 3, &sub);
		b.len = 0;
		pb_sub(&b, 2, &ex);
		ck_ok(verify_exact(root, b.p, b.len, gap, kl + 1, NULL, 0));
		/* An empty left neighbour message is a neighbour that fails. */
		ex.len = 0;
		pb_field(&ex, 1, gap, kl + 1);
		pb_field(&ex, 2, "", 0);
		sub.len = 0;
		raw_exist(&sub, r);
		pb_sub(&ex, 2, &sub); /* merged into the empty one: fine again */
		sub.len = 0;
		raw_exist(&sub, other);
		pb_sub(&ex, 3, &sub);
		b.len = 0;
		pb_sub(&b, 2, &ex);
		ck_ok(verify_exact(root, b.p, b.len, gap, kl + 1, NULL, 0));
		ex.len = 0;
		pb_field(&ex, 1, gap, kl + 1);
		pb_field(&ex, 2, "", 0);
		sub.len = 0;
		raw_exist(&sub, other);
		pb_sub(&ex, 3, &sub);
		b.len = 0;
		pb_sub(&b, 2, &ex);
		ck_rc(verify_exact(root, b.p, b.len, gap, kl + 1, NULL, 0), IODB_EPROOF);
	}

	/* Batch (3) and compressed (4) proofs are not supported. */
	raw_commit_exist(&tmp, r);
	for (uint32_t f = 3; f <= 4; f++) {
		b.len = 0;
		pb_field(&b, f, "", 0);
		put_raw(&b, tmp.p, tmp.len);
		ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
	}
	/* An empty CommitmentProof, and one with only unknown fields. */
	b.len = 0;
	put_raw(&b, unknown, sizeof(unknown));
	ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
	ck_rc(verify_exact(root, b.p, b.len, k, kl, NULL, 0), IODB_EPROOF);

	/* gogoproto reads a tag as a 64-bit varint, cuts the field number to int32 and accepts
	 * non-minimal varints; the enum varint is cut to 32 bits. */
	ex.len = 0;
	raw_exist(&ex, r);
	b.len = 0;
	put_raw(&b, "\x8a\x80\x80\x00", 4); /* tag 0x0a in four bytes */
	ck_ok(buf_put_uvarint(&b, ex.len));
	put_raw(&b, ex.p, ex.len);
	ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
	b.len = 0;
	ck_ok(buf_put_uvarint(&b, ((1ull << 32) + 1) << 3 | 2)); /* field 2^32+1 → 1 */
	ck_ok(buf_put_uvarint(&b, ex.len));
	put_raw(&b, ex.p, ex.len);
	ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
	b.len = 0;
	ck_ok(buf_put_uvarint(&b, (1ull << 32) << 3 | 2)); /* field 2^32 → 0: illegal */
	ck_ok(buf_put_uvarint(&b, ex.len));
	put_raw(&b, ex.p, ex.len);
	ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
	{
		struct rexist cut = *r;

		ex.len = 0;
		cut.has_leaf = 0;
		raw_exist(&ex, &cut);
		sub.len = 0;
		pb_tag(&sub, 1, 0);
		ck_ok(buf_put_uvarint(&sub, (1ull << 32) + 1)); /* hash = SHA256 after the cut */
		pb_enum3(&sub, 3, 1);
		pb_enum3(&sub, 4, 1);
		pb_bytes3(&sub, 5, r->lprefix, r->lplen);
		pb_sub(&ex, 3, &sub);
		b.len = 0;
		pb_sub(&b, 1, &ex);
		ck_ok(verify_exact(root, b.p, b.len, k, kl, v, vl));
		/* An 11-byte varint is an overflow. */
		sub.len = 0;
		put_raw(&sub, "\x08\x81\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 12);
		pb_enum3(&sub, 3, 1);
		pb_enum3(&sub, 4, 1);
		pb_bytes3(&sub, 5, r->lprefix, r->lplen);
		ex.len = 0;
		raw_exist(&ex, &cut);
		pb_sub(&ex, 3, &sub);
		b.len = 0;
		pb_sub(&b, 1, &ex);
		ck_rc(verify_exact(root, b.p, b.len, k, kl, v, vl), IODB_EPROOF);
	}
	free(r);
	free(other);
	free(t);
	buf_free(&b);
	buf_free(&ex);
	buf_free(&sub);
	buf_free(&tmp);
}
END_TEST

/*
 * 200,000 hostile inputs: random bytes, valid proofs with bytes changed, cut, grown and
 * spliced. None may crash (run under ASan to make "never reads past the end" mean
 * something), none may prove a false statement, and one changed byte must always fail.
 * Several changed bytes may still verify — two fields of the same size swapped are the same
 * message — but only for the statement the proof was made for.
 */
START_TEST(test_hostile)
{
	uint64_t seed = tu_seed(0x1c523);
	struct tree *t = tree_shape(&shapes[4]);
	const uint8_t *root = t->root->hash;
	struct absent ab[2 * MAXKEYS + 4];
	size_t na = absent_keys(t, ab), nvalid = t->n + na;
	struct buf *valid = calloc(nvalid, sizeof(*valid));
	uint8_t *m = malloc(4096);
	size_t accepted = 0, counts[4] = {0};

	ck_assert_ptr_nonnull(valid);
	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < nvalid; i++) {
		buf_init(&valid[i]);
		if (i < t->n) {
			encode_exist(&valid[i], t, i);
		} else {
			const struct absent *a = &ab[i - t->n];

			encode_nonexist(&valid[i], t, a->key, a->klen, (long)a->at - 1,
					a->at < t->n ? (long)a->at : -1);
		}
	}
	for (size_t it = 0; it < 200000; it++) {
		size_t pick = tu_below(&seed, (uint32_t)nvalid), n, ndiff = 0;
		size_t other = tu_below(&seed, (uint32_t)t->n);
		uint8_t wrong[MAXVAL];
		const struct buf *src = &valid[pick];
		unsigned kind = tu_below(&seed, 4);
		const uint8_t *k, *v = NULL;
		size_t kl, vl = 0;
		uint8_t *c;
		int rc;

		if (pick < t->n) {
			k = t->key[pick];
			kl = t->klen[pick];
			v = t->val[pick];
			vl = t->vlen[pick];
		} else {
			k = ab[pick - t->n].key;
			kl = ab[pick - t->n].klen;
		}
		switch (kind) {
		case 0: /* random bytes, often opening like a proof */
			n = tu_below(&seed, 700);
			for (size_t i = 0; i < n; i++)
				m[i] = (uint8_t)tu_rand(&seed);
			if (n && tu_below(&seed, 2))
				m[0] = tu_below(&seed, 2) ? 0x0a : 0x12;
			break;
		case 1: /* 1..8 bytes changed in place */
			n = src->len;
			memcpy(m, src->p, n);
			for (unsigned j = 1 + tu_below(&seed, 8); j; j--) {
				size_t at = tu_below(&seed, (uint32_t)n);
				uint8_t x = (uint8_t)(1 + tu_below(&seed, 255));

				m[at] ^= x;
			}
			if (!memcmp(m, src->p, n))
				m[0] ^= 1; /* changes can cancel out */
			for (size_t i = 0; i < n; i++)
				ndiff += m[i] != src->p[i];
			break;
		case 2: /* cut, or bytes inserted or deleted */
		{
			size_t at = tu_below(&seed, (uint32_t)src->len + 1);
			size_t cnt = 1 + tu_below(&seed, 16);

			memcpy(m, src->p, at);
			n = at;
			if (tu_below(&seed, 2)) {
				for (size_t i = 0; i < cnt; i++)
					m[n++] = (uint8_t)tu_rand(&seed);
				memcpy(m + n, src->p + at, src->len - at);
				n += src->len - at;
			} else if (at + cnt <= src->len) {
				memcpy(m + n, src->p + at + cnt, src->len - at - cnt);
				n += src->len - at - cnt;
			}
			break;
		}
		default: /* two proofs spliced at random points */
		{
			const struct buf *o = &valid[tu_below(&seed, (uint32_t)nvalid)];
			size_t a = tu_below(&seed, (uint32_t)src->len + 1);
			size_t bb = tu_below(&seed, (uint32_t)o->len + 1);

			memcpy(m, src->p, a);
			memcpy(m + a, o->p + bb, o->len - bb);
			n = a + o->len - bb;
		}
		}
		ck_assert_uint_le(n, 4096);
		c = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(c);
		memcpy(c, m, n);
		rc = ics23_verify(root, c, n, k, kl, v, vl);
		ck_assert_msg(rc == IODB_OK || rc == IODB_EPROOF, "iteration %zu: rc %d", it, rc);
		ck_assert_msg(rc != IODB_OK || kind != 1 || ndiff > 1,
			      "iteration %zu: one changed byte verified", it);
		accepted += rc == IODB_OK;
		/* False statements: this key with another value, or absent when present (and the
		 * other way round), and another key, present, said to be absent or to have a
		 * wrong value. */
		memcpy(wrong, t->val[other], t->vlen[other]);
		wrong[0] ^= 0x40;
		ck_rc(ics23_verify(root, c, n, k, kl, v ? NULL : wrong, v ? 0 : 1), IODB_EPROOF);
		if (v)
			ck_rc(ics23_verify(root, c, n, k, kl, wrong, 1), IODB_EPROOF);
		ck_rc(ics23_verify(root, c, n, t->key[other], t->klen[other], NULL, 0),
		      IODB_EPROOF);
		ck_rc(ics23_verify(root, c, n, t->key[other], t->klen[other], wrong,
				   t->vlen[other]),
		      IODB_EPROOF);
		free(c);
		counts[kind]++;
	}
	fprintf(stderr, "hostile: %zu random, %zu changed, %zu edited, %zu spliced; %zu still "
			"proved their own (true) statement\n",
		counts[0], counts[1], counts[2], counts[3], accepted);
	for (size_t i = 0; i < nvalid; i++)
		buf_free(&valid[i]);
	free(valid);
	free(m);
	free(t);
}
END_TEST

#ifdef IODB_IAVL_PROOFS
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	ck_assert_msg(n % 2 == 0 && n / 2 <= cap, "bad hex field (%zu chars)", n);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned x;

		ck_assert_msg(sscanf(s + 2 * i, "%2x", &x) == 1, "bad hex");
		out[i] = (uint8_t)x;
	}
	return n / 2;
}

/*
 * A canonical proof read back into the walk it encodes (the test's own parser, which trusts
 * its input: the fixtures verified just before), so that the encoder can be checked against
 * the reference byte for byte.
 */
struct cur {
	const uint8_t *p, *end;
};

static uint64_t cur_varint(struct cur *c)
{
	uint64_t v = 0;

	for (unsigned s = 0;; s += 7) {
		ck_assert(c->p < c->end && s < 64);
		v |= (uint64_t)(*c->p & 0x7f) << s;
		if (!(*c->p++ & 0x80))
			return v;
	}
}

static int64_t cur_zigzag(struct cur *c)
{
	uint64_t u = cur_varint(c);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* Next length-delimited field: its number, and c2 over its bytes. */
static unsigned cur_field(struct cur *c, struct cur *c2)
{
	uint64_t tag = cur_varint(c), n;

	ck_assert_uint_eq(tag & 7, 2);
	n = cur_varint(c);
	ck_assert_uint_le(n, (uint64_t)(c->end - c->p));
	c2->p = c->p;
	c2->end = c->p + n;
	c->p += n;
	return (unsigned)(tag >> 3);
}

static void parse_exist(struct cur c, struct mproof_exist *e, struct mproof_step *st)
{
	memset(e, 0, sizeof(*e));
	e->path = st;
	while (c.p < c.end) {
		struct cur f, g;
		unsigned fn = cur_field(&c, &f);

		if (fn == 1 || fn == 2) {
			*(fn == 1 ? &e->key : &e->val) = f.p;
			*(fn == 1 ? &e->klen : &e->vlen) = (size_t)(f.end - f.p);
		} else if (fn == 3) { /* leaf: three enums, then the prefix 00 02 varint(v) */
			f.p += 6;
			ck_assert_uint_eq(cur_field(&f, &g), 5);
			ck_assert_int_eq(cur_zigzag(&g), 0);
			ck_assert_int_eq(cur_zigzag(&g), 1);
			e->leaf_version = cur_zigzag(&g);
		} else {
			struct mproof_step *s = &st[e->npath++];
			struct cur pre = {NULL, NULL}, suf = {NULL, NULL};

			ck_assert_uint_eq(fn, 4);
			ck_assert_uint_le(e->npath, MAXOPS);
			f.p += 2; /* hash = SHA256 */
			while (f.p < f.end) {
				unsigned k = cur_field(&f, &g);

				*(k == 2 ? &pre : &suf) = g;
			}
			s->height = cur_zigzag(&pre);
			s->size = cur_zigzag(&pre);
			s->version = cur_zigzag(&pre);
			s->right = suf.p == NULL;
			memcpy(s->sibling, s->right ? pre.p + 1 : suf.p + 1, 32);
		}
	}
}

/* Re-encode the fixture proof from its walk: the bytes must come back unchanged. */
static void check_reencode(const uint8_t *proof, size_t plen)
{
	struct cur c = {proof, proof + plen}, body;
	unsigned kind = cur_field(&c, &body);
	struct mproof_step *st = malloc(3 * MAXOPS * sizeof(*st));
	struct mproof_exist e[2];
	struct buf b;

	ck_assert_ptr_nonnull(st);
	buf_init(&b);
	if (kind == 1) {
		parse_exist(body, &e[0], st);
		ck_ok(ics23_encode_exist(&b, &e[0]));
	} else {
		const uint8_t *key = NULL;
		size_t klen = 0;
		int have[2] = {0, 0};

		ck_assert_uint_eq(kind, 2);
		while (body.p < body.end) {
			struct cur f;
			unsigned fn = cur_field(&body, &f);

			if (fn == 1) {
				key = f.p;
				klen = (size_t)(f.end - f.p);
			} else {
				parse_exist(f, &e[fn - 2], st + (fn - 2) * MAXOPS);
				have[fn - 2] = 1;
			}
		}
		ck_ok(ics23_encode_nonexist(&b, key, klen, have[0] ? &e[0] : NULL,
					    have[1] ? &e[1] : NULL));
	}
	ck_assert_uint_eq(b.len, plen);
	ck_assert_mem_eq(b.p, proof, plen);
	buf_free(&b);
	free(st);
}

/* Cross-check: proofs from an independent Python reference, verified by @confio/ics23. */
START_TEST(test_fixtures)
{
	FILE *f = fopen(IODB_IAVL_PROOFS, "r");
	char *line = NULL;
	size_t cap = 0, nproofs = 0;
	ssize_t got;
	uint8_t *key = malloc(1 << 16), *val = malloc(1 << 24), *proof = malloc(1 << 24);

	ck_assert_msg(f != NULL, "cannot open %s", IODB_IAVL_PROOFS);
	ck_assert(key && val && proof);
	while ((got = getline(&line, &cap, f)) >= 0) {
		char *tok[9], *save = NULL;
		size_t nt = 0, kl, vl = 0, pl, at;
		uint8_t root[32];
		int exist, rc;

		for (char *p = strtok_r(line, " \t\r\n", &save); p && nt < 9;
		     p = strtok_r(NULL, " \t\r\n", &save))
			tok[nt++] = p;
		if (nt == 0 || strcmp(tok[0], "proof") != 0)
			continue;
		exist = nt >= 4 && strcmp(tok[3], "exist") == 0;
		ck_assert_msg((exist && nt == 8) || (!exist && nt == 7 && !strcmp(tok[3], "absent")),
			      "bad fixture line for case %s", nt > 1 ? tok[1] : "?");
		kl = unhex(tok[4], key, 1 << 16);
		if (exist)
			vl = unhex(tok[5], val, 1 << 24);
		ck_assert_uint_eq(unhex(tok[exist ? 6 : 5], root, 32), 32);
		pl = unhex(tok[exist ? 7 : 6], proof, 1 << 24);
		rc = verify_exact(root, proof, pl, key, kl, exist ? val : NULL, vl);
		ck_assert_msg(rc == 0, "fixture %s version %s: %s", tok[1], tok[2], iodb_errmsg());
		ck_ok(iodb_verify_proof(root, proof, pl, key, kl, exist ? val : NULL, vl));
		check_reencode(proof, pl);
		/* Asked the other way round: as proof of absence, or of some value. */
		ck_rc(verify_exact(root, proof, pl, key, kl, exist ? NULL : (const uint8_t *)"v",
				   exist ? 0 : 1),
		      IODB_EPROOF);
		/* A changed byte (a different one per line) fails. */
		at = (nproofs * 7919) % pl;
		proof[at] ^= 0x01;
		ck_rc(verify_exact(root, proof, pl, key, kl, exist ? val : NULL, vl), IODB_EPROOF);
		nproofs++;
	}
	ck_assert_msg(nproofs > 0, "no proof lines in %s", IODB_IAVL_PROOFS);
	fprintf(stderr, "fixtures: %zu proofs verified and re-encoded byte for byte\n", nproofs);
	free(line);
	free(key);
	free(val);
	free(proof);
	fclose(f);
}
END_TEST
#endif

static Suite *merkle_proof_suite(void)
{
	Suite *s = suite_create("merkle_proof");
	TCase *tc = tcase_create("proof");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_worked_example);
	tcase_add_test(tc, test_exist);
	tcase_add_test(tc, test_nonexist);
	tcase_add_test(tc, test_nonexist_wrong_neighbours);
	tcase_add_test(tc, test_byte_flips);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_iavl_rules);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_prefix_limits);
	tcase_add_test(tc, test_empty_key_value);
	tcase_add_test(tc, test_arguments);
	tcase_add_test(tc, test_protobuf);
	tcase_add_test(tc, test_hostile);
#ifdef IODB_IAVL_PROOFS
	tcase_add_test(tc, test_fixtures);
#endif
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(merkle_proof_suite());
}
