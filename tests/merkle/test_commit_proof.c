/*
 * test_commit_proof.c — suite "merkle_commit_proof": proofs up to the commit hash
 * (lib/merkle/commit.c commit_info_prove, lib/merkle/proofops.c proofops_encode and
 * iodb_verify_commit_proof).
 *
 * The ProofOps are assembled here from the store's own pieces (iodb_prove for the key,
 * iodb_root_hash of every store for the commit-info tree), so what is checked is the chain a
 * light client walks: key -> store root -> commit hash.
 *
 * What must hold:
 *   - every key of every store of every version, on a line and on a branch, with 1, 2, 3, 5
 *     and 8 stores (every shape a split of the commit-info tree takes: a lone leaf, a pair,
 *     a left-heavy three, a lone right leaf at depth one, a perfect tree), verifies when
 *     present with its value and when absent with NULL, against that version's commit hash;
 *   - any other value, key, store, commit hash or kind is IODB_EPROOF, naming the step;
 *   - every byte flipped (three ways) and every truncation of a proof is IODB_EPROOF, as are
 *     swapped ops, a missing or extra op, a wrong op type, and random bytes (never a crash:
 *     run under ASan);
 *   - commit_info_prove's bytes equal those of an encoder written here from the Cosmos SDK's
 *     algorithm (store/internal/proofs/convert.go), and prove every store of every set of
 *     tests/data/commit_info.txt against its app hash (an independent reference).
 *
 * With IODB_COMMIT_PROOFS_OUT set, every proof made is also written to that file for the
 * @confio/ics23 check (tests/data/verify_commit_proofs.mjs, ctest merkle_commit_proof_ics23):
 *   ops HEXCOMMIT STORE HEXKEY HEXVALUE|- HEXPROOFOPS
 *   simple HEXAPPHASH STORE HEXROOT HEXPROOF
 */
#define _GNU_SOURCE
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/merkle/merkle.h"
#include "testutil.h"

#define MAXSTORES 8
#define NKEYS 40

/* Listed out of name order: the commit-info tree sorts them. */
static const char *const names[MAXSTORES] = {"staking", "acc", "ibc", "bank",
					     "upgrade", "gov", "params", "distribution"};

/* ---- Small helpers ------------------------------------------------------------------- */

static int unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	if (n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static void fhex(FILE *f, const void *p, size_t n)
{
	const uint8_t *b = p;

	if (n == 0)
		fputc('-', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", b[i]);
}

/* Append a line for the @confio/ics23 check, if one was asked for. */
static void export_ops(const uint8_t commit[32], const char *store, const void *key, size_t klen,
		       const void *val, size_t vlen, const struct buf *ops)
{
	const char *path = getenv("IODB_COMMIT_PROOFS_OUT");
	FILE *f;

	if (!path || !*path)
		return;
	ck_assert_ptr_nonnull(f = fopen(path, "a"));
	fputs("ops ", f);
	fhex(f, commit, 32);
	fprintf(f, " %s ", store);
	fhex(f, key, klen);
	fputc(' ', f);
	if (val)
		fhex(f, val, vlen);
	else
		fputc('-', f);
	fputc(' ', f);
	fhex(f, ops->p, ops->len);
	fputc('\n', f);
	ck_assert_int_eq(fclose(f), 0);
}

static void export_simple(const uint8_t app[32], const struct mstore_root *s,
			  const struct buf *proof)
{
	const char *path = getenv("IODB_COMMIT_PROOFS_OUT");
	FILE *f;

	if (!path || !*path)
		return;
	ck_assert_ptr_nonnull(f = fopen(path, "a"));
	fputs("simple ", f);
	fhex(f, app, 32);
	fprintf(f, " %.*s ", (int)s->nlen, s->name);
	fhex(f, s->root, 32);
	fputc(' ', f);
	fhex(f, proof->p, proof->len);
	fputc('\n', f);
	ck_assert_int_eq(fclose(f), 0);
}

static void sort_stores(struct mstore_root *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0; j--) {
			const struct mstore_root *a = &s[j - 1], *b = &s[j];
			size_t m = a->nlen < b->nlen ? a->nlen : b->nlen;
			int c = memcmp(a->name, b->name, m);
			struct mstore_root t;

			if (c < 0 || (c == 0 && a->nlen <= b->nlen))
				break;
			t = s[j];
			s[j] = s[j - 1];
			s[j - 1] = t;
		}
}

/* ---- An independent encoder of the commit-info proof ---------------------------------- */

/*
 * CometBFT's simple Merkle proof (crypto/merkle/proof.go: aunts from the leaf up) turned
 * into ICS23 the way the SDK's ConvertExistenceProof does, written without commit.c.
 */
static void t_leaf(const struct mstore_root *s, uint8_t out[32])
{
	uint8_t b[1 + 2 + 300 + 33], vh[32];
	size_t n = 0;

	ck_assert_uint_lt(s->nlen, 300);
	b[n++] = 0x00;
	if (s->nlen >= 128) { /* a two-byte uvarint */
		b[n++] = (uint8_t)(s->nlen | 0x80);
		b[n++] = (uint8_t)(s->nlen >> 7);
	} else {
		b[n++] = (uint8_t)s->nlen;
	}
	memcpy(b + n, s->name, s->nlen);
	n += s->nlen;
	b[n++] = 32;
	SHA256(s->root, 32, vh);
	memcpy(b + n, vh, 32);
	SHA256(b, n + 32, out);
}

/* Root of s[0..n); aunts of leaf idx appended leaf-first, aunt_left[i] where it is left. */
static void t_tree(const struct mstore_root *s, size_t n, long idx, uint8_t aunts[][32],
		   int *aunt_left, size_t *naunts, uint8_t out[32])
{
	uint8_t b[65], l[32], r[32];
	size_t k = 1;

	if (n == 1) {
		t_leaf(s, out);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	if (idx >= 0 && (size_t)idx < k) {
		t_tree(s, k, idx, aunts, aunt_left, naunts, l);
		t_tree(s + k, n - k, -1, NULL, NULL, NULL, r);
		memcpy(aunts[*naunts], r, 32);
		aunt_left[(*naunts)++] = 0;
	} else if (idx >= 0) {
		t_tree(s, k, -1, NULL, NULL, NULL, l);
		t_tree(s + k, n - k, idx - (long)k, aunts, aunt_left, naunts, r);
		memcpy(aunts[*naunts], l, 32);
		aunt_left[(*naunts)++] = 1;
	} else {
		t_tree(s, k, -1, NULL, NULL, NULL, l);
		t_tree(s + k, n - k, -1, NULL, NULL, NULL, r);
	}
	b[0] = 0x01;
	memcpy(b + 1, l, 32);
	memcpy(b + 33, r, 32);
	SHA256(b, sizeof(b), out);
}

/* A protobuf length-delimited field (lengths here are < 128 or two-byte varints). */
static size_t t_field(uint8_t *w, uint8_t tag, const void *p, size_t n)
{
	size_t at = 0;

	w[at++] = tag;
	if (n >= 128) {
		w[at++] = (uint8_t)(n | 0x80);
		w[at++] = (uint8_t)(n >> 7);
	} else {
		w[at++] = (uint8_t)n;
	}
	if (n)
		memcpy(w + at, p, n);
	return at + n;
}

static size_t t_commit_proof(const struct mstore_root *s, size_t n, size_t idx, uint8_t *out,
			     uint8_t app[32])
{
	static const uint8_t leaf[] = {0x08, 1, 0x18, 1, 0x20, 1, 0x2a, 1, 0};
	uint8_t aunts[64][32], body[4096], op[64], pre[33];
	int left[64];
	size_t na = 0, bn = 0;

	t_tree(s, n, (long)idx, aunts, left, &na, app);
	if (s[idx].nlen)
		bn += t_field(body + bn, 0x0a, s[idx].name, s[idx].nlen);
	bn += t_field(body + bn, 0x12, s[idx].root, 32);
	bn += t_field(body + bn, 0x1a, leaf, sizeof(leaf));
	for (size_t i = 0; i < na; i++) {
		size_t on = 0;

		op[on++] = 0x08;
		op[on++] = 1;
		pre[0] = 0x01;
		if (left[i]) {
			memcpy(pre + 1, aunts[i], 32);
			on += t_field(op + on, 0x12, pre, 33);
		} else {
			on += t_field(op + on, 0x12, pre, 1);
			on += t_field(op + on, 0x1a, aunts[i], 32);
		}
		bn += t_field(body + bn, 0x22, op, on);
	}
	return t_field(out, 0x0a, body, bn);
}

/* ProofOps with any ops, written here (not by proofops_encode). */
struct t_op {
	const char *type;
	const void *key;
	size_t klen;
	const void *data;
	size_t dlen;
};

static void t_put_varint(struct buf *b, uint64_t v)
{
	ck_ok(buf_put_uvarint(b, v));
}

static size_t t_vlen(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void t_ops(struct buf *out, const struct t_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t tl = strlen(ops[i].type), len = 0;

		len += tl ? 1 + t_vlen(tl) + tl : 0;
		len += ops[i].klen ? 1 + t_vlen(ops[i].klen) + ops[i].klen : 0;
		len += ops[i].dlen ? 1 + t_vlen(ops[i].dlen) + ops[i].dlen : 0;
		ck_ok(buf_put_u8(out, 0x0a));
		t_put_varint(out, len);
		if (tl) {
			ck_ok(buf_put_u8(out, 0x0a));
			t_put_varint(out, tl);
			ck_ok(buf_append(out, ops[i].type, tl));
		}
		if (ops[i].klen) {
			ck_ok(buf_put_u8(out, 0x12));
			t_put_varint(out, ops[i].klen);
			ck_ok(buf_append(out, ops[i].key, ops[i].klen));
		}
		if (ops[i].dlen) {
			ck_ok(buf_put_u8(out, 0x1a));
			t_put_varint(out, ops[i].dlen);
			ck_ok(buf_append(out, ops[i].data, ops[i].dlen));
		}
	}
}

/* ---- Versions of a real store -------------------------------------------------------- */

struct vstate {
	char vid[32];
	uint8_t commit[32];
	struct mstore_root s[MAXSTORES];
	size_t n;
};

/* The stores of vid among names[0..nstores) with their roots, sorted; their commit-info hash
 * must be the store's commit hash. */
static void version_state(iodb *db, const char *vid, size_t nstores, struct vstate *vs)
{
	uint8_t want[32];

	memset(vs, 0, sizeof(*vs));
	snprintf(vs->vid, sizeof(vs->vid), "%s", vid);
	for (size_t i = 0; i < nstores; i++) {
		int rc = iodb_root_hash(db, vid, strlen(vid), names[i], vs->s[vs->n].root);

		ck_assert_msg(rc == 0 || rc == IODB_NOTFOUND, "root hash: %s", iodb_errmsg());
		if (rc)
			continue;
		vs->s[vs->n].name = names[i];
		vs->s[vs->n].nlen = strlen(names[i]);
		vs->n++;
	}
	sort_stores(vs->s, vs->n);
	commit_info_hash(vs->s, vs->n, want);
	ck_ok(iodb_commit_hash(db, vid, strlen(vid), vs->commit));
	ck_assert_msg(!memcmp(want, vs->commit, 32), "commit hash of %s is not over its stores",
		      vid);
}

static size_t store_index(const struct vstate *vs, const char *store)
{
	for (size_t i = 0; i < vs->n; i++)
		if (vs->s[i].nlen == strlen(store) && !memcmp(vs->s[i].name, store, vs->s[i].nlen))
			return i;
	ck_abort_msg("store %s not at %s", store, vs->vid);
	return 0;
}

/* The ProofOps for key in store at vs, from iodb_prove and commit_info_prove; the simple
 * op is checked against the independent encoder. 0 or IODB_NOTFOUND (an empty tree). */
static int assemble(iodb *db, const struct vstate *vs, const char *store, const void *key,
		    size_t klen, struct buf *out)
{
	uint8_t want[4096], app[32];
	size_t idx = store_index(vs, store), wn;
	struct buf simple;
	void *ip = NULL;
	size_t il = 0;
	int rc;

	rc = iodb_prove(db, vs->vid, strlen(vs->vid), store, key, klen, &ip, &il);
	if (rc == IODB_NOTFOUND)
		return rc;
	ck_assert_msg(rc == 0, "prove: %s", iodb_errmsg());
	buf_init(&simple);
	ck_ok(commit_info_prove(vs->s, vs->n, idx, &simple));
	wn = t_commit_proof(vs->s, vs->n, idx, want, app);
	ck_assert(!memcmp(app, vs->commit, 32));
	ck_assert_msg(simple.len == wn && !memcmp(simple.p, want, wn),
		      "commit_info_prove(%zu of %zu) differs from the SDK's encoding", idx, vs->n);
	ck_ok(proofops_encode(out, key, klen, ip, il, (const uint8_t *)store, strlen(store),
			      simple.p, simple.len));
	buf_free(&simple);
	iodb_free(ip);
	return 0;
}

/* The value of key in store at vid (NULL: absent), a copy to free with iodb_free. */
static void *value_at(iodb *db, const char *vid, const char *store, const void *key,
		      size_t klen, size_t *vlen)
{
	iodb_snapshot *snap;
	void *v = NULL;
	int rc;

	ck_ok(iodb_snapshot_open(db, vid, strlen(vid), &snap));
	rc = iodb_snapshot_get(snap, store, key, klen, &v, vlen);
	ck_assert_msg(rc == 0 || rc == IODB_NOTFOUND, "get: %s", iodb_errmsg());
	iodb_snapshot_close(snap);
	return rc ? NULL : v;
}

static void expect_eproof(int rc, const char *what, const char *step)
{
	ck_assert_msg(rc == IODB_EPROOF, "%s: %d (%s), want IODB_EPROOF", what, rc,
		      iodb_errmsg());
	if (step)
		ck_assert_msg(strstr(iodb_errmsg(), step), "%s: message \"%s\" does not name %s",
			      what, iodb_errmsg(), step);
}

/* Prove key in store at vs, verify it, and check the false statements around it fail. */
static void check_key(iodb *db, const struct vstate *vs, const struct vstate *other,
		      const char *store, const void *key, size_t klen)
{
	struct buf ops;
	size_t vlen = 0;
	void *val = value_at(db, vs->vid, store, key, klen, &vlen);
	uint8_t bad[32];
	char wrongval[300];

	buf_init(&ops);
	if (assemble(db, vs, store, key, klen, &ops) == IODB_NOTFOUND) {
		iodb_free(val);
		return;
	}
	ck_assert_msg(iodb_verify_commit_proof(vs->commit, ops.p, ops.len, store, key, klen, val,
					       vlen) == 0,
		      "%s %s %.*s: %s", vs->vid, store, (int)klen, (const char *)key, iodb_errmsg());
	export_ops(vs->commit, store, key, klen, val, vlen, &ops);

	/* The other kind of statement about the same key. */
	if (val) {
		expect_eproof(iodb_verify_commit_proof(vs->commit, ops.p, ops.len, store, key, klen,
						       NULL, 0),
			      "present key claimed absent", "op 1");
		snprintf(wrongval, sizeof(wrongval), "%.*sx", (int)vlen, (const char *)val);
		expect_eproof(iodb_verify_commit_proof(vs->commit, ops.p, ops.len, store, key, klen,
						       wrongval, vlen + 1),
			      "wrong value", "op 1");
	} else {
		expect_eproof(iodb_verify_commit_proof(vs->commit, ops.p, ops.len, store, key, klen,
						       "v", 1),
			      "absent key claimed present", "op 1");
	}
	/* Another key, store, commit hash. */
	expect_eproof(iodb_verify_commit_proof(vs->commit, ops.p, ops.len, store, "k999", 4, val,
					       vlen),
		      "wrong key", "op 1 is for another key");
	for (size_t i = 0; i < vs->n; i++)
		if (strcmp(vs->s[i].name, store))
			expect_eproof(iodb_verify_commit_proof(vs->commit, ops.p, ops.len,
							       vs->s[i].name, key, klen, val, vlen),
				      "wrong store", "another store");
	expect_eproof(iodb_verify_commit_proof(vs->commit, ops.p, ops.len, "nosuch", key, klen,
					       val, vlen),
		      "missing store", "another store");
	memcpy(bad, vs->commit, 32);
	bad[klen % 32] ^= 0x01;
	expect_eproof(iodb_verify_commit_proof(bad, ops.p, ops.len, store, key, klen, val, vlen),
		      "wrong commit hash", "op 2");
	if (other && memcmp(other->commit, vs->commit, 32))
		expect_eproof(iodb_verify_commit_proof(other->commit, ops.p, ops.len, store, key,
						       klen, val, vlen),
			      "another version's commit hash", "op 2");
	iodb_free(val);
	buf_free(&ops);
}

static iodb *open_store(const char *dir)
{
	iodb_options o;
	iodb *db;

	iodb_options_init(&o);
	o.create_if_missing = 1;
	ck_ok(iodb_open(dir, &o, &db));
	return db;
}

static void put(iodb_batch *b, const char *store, unsigned k, uint64_t *seed)
{
	char key[16], val[48];

	snprintf(key, sizeof(key), "k%03u", k);
	snprintf(val, sizeof(val), "val-%u-%llu", k, (unsigned long long)tu_rand(seed) % 100000);
	ck_ok(iodb_batch_put(b, store, key, strlen(key), val, strlen(val)));
}

/* Version vid: in its first version every store gets NKEYS/2 keys; later ones random puts
 * and deletes over stores[0..n). */
static void commit_version(iodb *db, const char *vid, size_t n, int first, uint64_t *seed)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	if (first) {
		for (size_t s = 0; s < n; s++)
			for (unsigned k = 0; k < NKEYS; k += 2)
				put(b, names[s], k, seed);
	} else {
		for (int i = 0; i < 12; i++) {
			const char *store = names[tu_below(seed, (uint32_t)n)];
			unsigned k = tu_below(seed, NKEYS);
			char key[16];

			if (tu_below(seed, 4) == 0) {
				snprintf(key, sizeof(key), "k%03u", k);
				ck_ok(iodb_batch_del(b, store, key, strlen(key)));
			} else {
				put(b, store, k, seed);
			}
		}
	}
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

/* Every store of vs: the keys around the range's edges and a spread of keys, present and
 * absent. */
static void check_version(iodb *db, const struct vstate *vs, const struct vstate *other)
{
	static const char *const edge[] = {"a", "k", "k000", "k0005", "k039", "k0395", "z"};

	for (size_t i = 0; i < vs->n; i++) {
		char key[16];

		for (size_t e = 0; e < sizeof(edge) / sizeof(edge[0]); e++)
			check_key(db, vs, other, vs->s[i].name, edge[e], strlen(edge[e]));
		for (unsigned k = 1; k < NKEYS; k += 5) {
			snprintf(key, sizeof(key), "k%03u", k);
			check_key(db, vs, other, vs->s[i].name, key, strlen(key));
			snprintf(key, sizeof(key), "k%03u", k + 1);
			check_key(db, vs, other, vs->s[i].name, key, strlen(key));
		}
	}
}

/* ---- Tests --------------------------------------------------------------------------- */

/* 1, 2, 3, 5 and 8 stores, four versions each, every version checked after the last. */
START_TEST(test_store_shapes)
{
	static const size_t counts[] = {1, 2, 3, 5, 8};
	uint64_t seed = tu_seed(17);

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c];
		char *dir = tu_tmpdir("cproof");
		iodb *db = open_store(dir);
		struct vstate vs[4];

		for (int v = 0; v < 4; v++) {
			char vid[16];

			snprintf(vid, sizeof(vid), "v%d", v + 1);
			commit_version(db, vid, n, v == 0, &seed);
		}
		for (int v = 0; v < 4; v++) {
			char vid[16];

			snprintf(vid, sizeof(vid), "v%d", v + 1);
			version_state(db, vid, n, &vs[v]);
			ck_assert_uint_eq(vs[v].n, n);
		}
		for (int v = 0; v < 4; v++)
			check_version(db, &vs[v], &vs[(v + 1) % 4]);
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

/*
 * A branch: v1 -> v2 -> v3 and v2 -> v3b, where v3b also adds a store. Each tip's proofs
 * verify against its own commit hash only.
 */
START_TEST(test_branch)
{
	uint64_t seed = tu_seed(18);
	char *dir = tu_tmpdir("cproofb");
	iodb *db = open_store(dir);
	struct vstate v3, v3b, v1;
	iodb_batch *b;

	commit_version(db, "v1", 3, 1, &seed);
	commit_version(db, "v2", 3, 0, &seed);
	commit_version(db, "v3", 3, 0, &seed);
	ck_ok(iodb_checkout(db, "v2", 2));
	ck_ok(iodb_batch_new(&b));
	put(b, names[0], 7, &seed);
	put(b, names[3], 3, &seed); /* a fourth store, on this branch only */
	put(b, names[3], 9, &seed);
	ck_ok(iodb_update(db, "v3b", 3, b));
	iodb_batch_free(b);
	version_state(db, "v1", 4, &v1);
	version_state(db, "v3", 4, &v3);
	version_state(db, "v3b", 4, &v3b);
	ck_assert_uint_eq(v3.n, 3);
	ck_assert_uint_eq(v3b.n, 4);
	check_version(db, &v3, &v3b);
	check_version(db, &v3b, &v3);
	check_version(db, &v1, &v3b);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* Six stores with keys k000..k038 (even), for the tampering tests. */
struct fixture {
	char *dir;
	iodb *db;
	struct vstate vs;
};

static void fixture_open(struct fixture *f)
{
	uint64_t seed = 19;

	f->dir = tu_tmpdir("cprooft");
	f->db = open_store(f->dir);
	commit_version(f->db, "v1", 6, 1, &seed);
	version_state(f->db, "v1", 6, &f->vs);
}

static void fixture_close(struct fixture *f)
{
	ck_ok(iodb_close(f->db));
	tu_rmrf(f->dir);
	free(f->dir);
}

/* Every byte flipped three ways, every truncation and an extension: IODB_EPROOF. */
static void check_tampering(const struct vstate *vs, const char *store, const char *key,
			    const void *val, size_t vlen, const struct buf *ops)
{
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	uint8_t *p = malloc(ops->len + 1);

	ck_assert_ptr_nonnull(p);
	ck_ok(iodb_verify_commit_proof(vs->commit, ops->p, ops->len, store, key, strlen(key), val,
				       vlen));
	for (size_t i = 0; i < ops->len; i++)
		for (size_t f = 0; f < sizeof(flips); f++) {
			int rc;

			memcpy(p, ops->p, ops->len);
			p[i] ^= flips[f];
			rc = iodb_verify_commit_proof(vs->commit, p, ops->len, store, key,
						      strlen(key), val, vlen);
			ck_assert_msg(rc == IODB_EPROOF, "byte %zu ^ %02x of %zu: %d (%s)", i,
				      flips[f], ops->len, rc, iodb_errmsg());
		}
	for (size_t n = 0; n < ops->len; n++) {
		/* An exact-size copy, so that ASan sees a read past the end. */
		uint8_t *t = malloc(n ? n : 1);

		ck_assert_ptr_nonnull(t);
		memcpy(t, ops->p, n);
		expect_eproof(iodb_verify_commit_proof(vs->commit, t, n, store, key, strlen(key),
						       val, vlen),
			      "truncated", NULL);
		free(t);
	}
	memcpy(p, ops->p, ops->len);
	p[ops->len] = 0x00;
	expect_eproof(iodb_verify_commit_proof(vs->commit, p, ops->len + 1, store, key,
					       strlen(key), val, vlen),
		      "extended", "malformed ProofOps");
	free(p);
}

START_TEST(test_tampered)
{
	struct fixture f;
	struct buf mem, absent;
	size_t vlen;
	void *val;

	fixture_open(&f);
	buf_init(&mem);
	buf_init(&absent);
	ck_ok(assemble(f.db, &f.vs, "gov", "k010", 4, &mem));
	ck_ok(assemble(f.db, &f.vs, "upgrade", "k011", 4, &absent));
	ck_assert_ptr_nonnull(val = value_at(f.db, "v1", "gov", "k010", 4, &vlen));
	check_tampering(&f.vs, "gov", "k010", val, vlen, &mem);
	check_tampering(&f.vs, "upgrade", "k011", NULL, 0, &absent);
	iodb_free(val);
	buf_free(&mem);
	buf_free(&absent);
	fixture_close(&f);
}
END_TEST

/* Ops rearranged, swapped between proofs, retyped: each names what it failed. */
START_TEST(test_wrong_ops)
{
	struct fixture f;
	struct buf ops, simple_b, simple_g, mine;
	const char *key = "k010";
	void *ip, *ipb, *val;
	size_t il, ilb, vlen;
	int rc;

	fixture_open(&f);
	buf_init(&ops);
	buf_init(&simple_b);
	buf_init(&simple_g);
	buf_init(&mine);
	ck_assert_ptr_nonnull(val = value_at(f.db, "v1", "gov", key, 4, &vlen));
	ck_ok(iodb_prove(f.db, "v1", 2, "gov", key, 4, &ip, &il));
	ck_ok(iodb_prove(f.db, "v1", 2, "bank", key, 4, &ipb, &ilb));
	ck_ok(commit_info_prove(f.vs.s, f.vs.n, store_index(&f.vs, "gov"), &simple_g));
	ck_ok(commit_info_prove(f.vs.s, f.vs.n, store_index(&f.vs, "bank"), &simple_b));

	/* proofops_encode writes what the independent writer writes. */
	{
		struct t_op t[2] = {{"ics23:iavl", key, 4, ip, il},
				    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len}};

		ck_ok(proofops_encode(&ops, key, 4, ip, il, (const uint8_t *)"gov", 3, simple_g.p,
				      simple_g.len));
		t_ops(&mine, t, 2);
		ck_assert(ops.len == mine.len && !memcmp(ops.p, mine.p, ops.len));
		ck_ok(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len, "gov", key, 4, val,
					       vlen));
	}
#define TRY(n_, want_, ...)                                                                \
	do {                                                                               \
		struct t_op t_[] = {__VA_ARGS__};                                          \
		mine.len = 0;                                                              \
		t_ops(&mine, t_, (n_));                                                    \
		rc = iodb_verify_commit_proof(f.vs.commit, mine.p, mine.len, "gov", key, 4, \
					      val, vlen);                                  \
		expect_eproof(rc, #__VA_ARGS__, (want_));                                  \
	} while (0)
	TRY(2, "op 1 is not of type", {"ics23:simple", "gov", 3, simple_g.p, simple_g.len},
	    {"ics23:iavl", key, 4, ip, il});
	TRY(1, "only one op", {"ics23:iavl", key, 4, ip, il});
	TRY(1, "only one op", {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	TRY(3, "more than two ops", {"ics23:iavl", key, 4, ip, il},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	TRY(2, "op 2 is not of type", {"ics23:iavl", key, 4, ip, il},
	    {"ics23:iavl", "gov", 3, simple_g.p, simple_g.len});
	TRY(2, "op 1 is not of type", {"ics23:iavL", key, 4, ip, il},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	TRY(2, "op 1 is for another key", {"ics23:iavl", "k012", 4, ip, il},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	TRY(2, "op 2 is for another store", {"ics23:iavl", key, 4, ip, il},
	    {"ics23:simple", "bank", 4, simple_b.p, simple_b.len});
	/* The right names around the wrong data. */
	TRY(2, "op 2", {"ics23:iavl", key, 4, ip, il},
	    {"ics23:simple", "gov", 3, simple_b.p, simple_b.len});
	TRY(2, "op 1", {"ics23:iavl", key, 4, ipb, ilb},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	/* With bank's value op 1 holds (for bank's root), and op 2 proves gov's root. */
	{
		struct t_op t[2] = {{"ics23:iavl", key, 4, ipb, ilb},
				    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len}};
		size_t bl;
		void *bv = value_at(f.db, "v1", "bank", key, 4, &bl);

		ck_assert_ptr_nonnull(bv);
		mine.len = 0;
		t_ops(&mine, t, 2);
		expect_eproof(iodb_verify_commit_proof(f.vs.commit, mine.p, mine.len, "gov", key, 4,
						       bv, bl),
			      "another store's key proof", "op 2");
		iodb_free(bv);
	}
	TRY(2, "op 1", {"ics23:iavl", key, 4, simple_g.p, simple_g.len},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	TRY(2, "op 2", {"ics23:iavl", key, 4, ip, il}, {"ics23:simple", "gov", 3, ip, il});
	TRY(2, "op 1", {"ics23:iavl", key, 4, NULL, 0},
	    {"ics23:simple", "gov", 3, simple_g.p, simple_g.len});
	TRY(2, "op 2", {"ics23:iavl", key, 4, ip, il}, {"ics23:simple", "gov", 3, NULL, 0});
	TRY(0, "empty proof", {"", NULL, 0, NULL, 0});
#undef TRY
	/* Empty fields written, fields out of order, an unknown field. */
	{
		static const uint8_t empty_key[] = {0x0a, 0x02, 0x12, 0x00};
		struct buf w;

		buf_init(&w);
		ck_ok(buf_append(&w, empty_key, sizeof(empty_key)));
		ck_ok(buf_append(&w, ops.p, ops.len));
		expect_eproof(iodb_verify_commit_proof(f.vs.commit, w.p, w.len, "gov", key, 4, val,
						       vlen),
			      "empty field", "empty field");
		w.len = 0;
		ck_ok(buf_append(&w, ops.p, ops.len));
		ck_ok(buf_put_u8(&w, 0x10)); /* ProofOps field 2, a varint */
		ck_ok(buf_put_u8(&w, 0x01));
		expect_eproof(iodb_verify_commit_proof(f.vs.commit, w.p, w.len, "gov", key, 4, val,
						       vlen),
			      "unknown field", "malformed");
		buf_free(&w);
	}
	/* Bad arguments. */
	ck_rc(iodb_verify_commit_proof(NULL, ops.p, ops.len, "gov", key, 4, val, vlen),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, NULL, 5, "gov", key, 4, val, vlen),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len, "gov", NULL, 4, val, vlen),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len, "gov", key, 0, val, vlen),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len, "gov", key, 4, NULL, 3),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len, "", key, 4, val, vlen),
	      IODB_EINVAL);
	ck_assert(strstr(iodb_errmsg(), "empty key"));
	ck_rc(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len, NULL, key, 4, val, vlen),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, ops.p, ops.len,
				       "a-name-longer-than-sixty-four-bytes-is-no-store-name-"
				       "of-iodb-at-all",
				       key, 4, val, vlen),
	      IODB_EINVAL);
	ck_rc(iodb_verify_commit_proof(f.vs.commit, NULL, 0, "gov", key, 4, val, vlen),
	      IODB_EPROOF);
	iodb_free(ip);
	iodb_free(ipb);
	iodb_free(val);
	buf_free(&ops);
	buf_free(&simple_b);
	buf_free(&simple_g);
	buf_free(&mine);
	fixture_close(&f);
}
END_TEST

/* Random bytes and random multi-byte damage: 0 only for an undamaged proof, never a crash,
 * never a false statement. */
START_TEST(test_random_bytes)
{
	struct fixture f;
	struct buf ops;
	uint64_t seed = tu_seed(20);
	void *val;
	size_t vlen;

	fixture_open(&f);
	buf_init(&ops);
	ck_ok(assemble(f.db, &f.vs, "ibc", "k020", 4, &ops));
	ck_assert_ptr_nonnull(val = value_at(f.db, "v1", "ibc", "k020", 4, &vlen));
	for (int i = 0; i < 20000; i++) {
		size_t n = i % 2 ? ops.len : tu_below(&seed, 600);
		uint8_t *p = malloc(n ? n : 1);
		int changed = 0, rc;

		ck_assert_ptr_nonnull(p);
		if (i % 2) {
			memcpy(p, ops.p, n);
			for (uint32_t k = 1 + tu_below(&seed, 4); k > 0; k--) {
				size_t at = tu_below(&seed, (uint32_t)n);
				uint8_t x = (uint8_t)(1 + tu_below(&seed, 255));

				p[at] ^= x;
			}
			changed = memcmp(p, ops.p, n) != 0;
		} else {
			for (size_t k = 0; k < n; k++)
				p[k] = (uint8_t)tu_rand(&seed);
			changed = 1;
		}
		rc = iodb_verify_commit_proof(f.vs.commit, p, n, "ibc", "k020", 4, val, vlen);
		ck_assert_msg(rc == IODB_EPROOF || (rc == 0 && !changed), "iteration %d: %d (%s)",
			      i, rc, iodb_errmsg());
		ck_assert_int_eq(iodb_verify_commit_proof(f.vs.commit, p, n, "ibc", "k020", 4,
							  "val", 3),
				 IODB_EPROOF);
		ck_assert_int_eq(iodb_verify_commit_proof(f.vs.commit, p, n, "ibc", "k020", 4, NULL,
							  0),
				 IODB_EPROOF);
		free(p);
	}
	iodb_free(val);
	buf_free(&ops);
	fixture_close(&f);
}
END_TEST

/* commit_info.txt: every store of every set proven against the set's app hash. */
START_TEST(test_commit_info_fixture)
{
	FILE *fp = fopen(IODB_TEST_DATA "/commit_info.txt", "r");
	char *line = NULL, nm[64][256];
	struct mstore_root s[64];
	size_t cap = 0, n = 0, proven = 0;
	int sets = 0;

	ck_assert_ptr_nonnull(fp);
	while (getline(&line, &cap, fp) > 0) {
		char a[256], b[256];
		uint8_t app[32], got[32], want[4096];

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "store %255s %255s", a, b) == 2) {
			ck_assert_uint_lt(n, 64);
			snprintf(nm[n], sizeof(nm[n]), "%s", a);
			s[n].name = nm[n];
			s[n].nlen = strlen(a);
			ck_assert_int_eq(unhex(b, s[n].root, 32), 32);
			n++;
			continue;
		}
		if (sscanf(line, "commit %255s", a) != 1)
			continue;
		ck_assert_int_eq(unhex(a, app, 32), 32);
		sort_stores(s, n);
		commit_info_hash(s, n, got);
		ck_assert(!memcmp(got, app, 32));
		if (n == 0) {
			struct buf p;

			buf_init(&p);
			ck_rc(commit_info_prove(s, 0, 0, &p), IODB_EINVAL);
		}
		for (size_t i = 0; i < n; i++) {
			struct buf p;
			uint8_t bad[32], tapp[32];
			size_t wn;

			buf_init(&p);
			ck_ok(commit_info_prove(s, n, i, &p));
			wn = t_commit_proof(s, n, i, want, tapp);
			ck_assert(!memcmp(tapp, app, 32));
			ck_assert_msg(p.len == wn && !memcmp(p.p, want, wn),
				      "set %d store %zu: not the SDK's bytes", sets, i);
			ck_assert_msg(ics23_verify_simple(app, p.p, p.len, (const uint8_t *)s[i].name,
							  s[i].nlen, s[i].root, 32) == 0,
				      "set %d store %s: %s", sets, s[i].name, iodb_errmsg());
			export_simple(app, &s[i], &p);
			memcpy(bad, s[i].root, 32);
			bad[0] ^= 1;
			ck_rc(ics23_verify_simple(app, p.p, p.len, (const uint8_t *)s[i].name,
						  s[i].nlen, bad, 32),
			      IODB_EPROOF);
			ck_rc(ics23_verify_simple(app, p.p, p.len, (const uint8_t *)"zz", 2,
						  s[i].root, 32),
			      IODB_EPROOF);
			memcpy(bad, app, 32);
			bad[31] ^= 0x80;
			ck_rc(ics23_verify_simple(bad, p.p, p.len, (const uint8_t *)s[i].name,
						  s[i].nlen, s[i].root, 32),
			      IODB_EPROOF);
			for (size_t k = 0; k < p.len; k++) {
				p.p[k] ^= 0x40;
				ck_rc(ics23_verify_simple(app, p.p, p.len,
							  (const uint8_t *)s[i].name, s[i].nlen,
							  s[i].root, 32),
				      IODB_EPROOF);
				p.p[k] ^= 0x40;
			}
			buf_free(&p);
			proven++;
		}
		n = 0;
		sets++;
	}
	ck_assert_int_ge(sets, 16);
	ck_assert_uint_ge(proven, 100);
	free(line);
	fclose(fp);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("merkle_commit_proof");
	TCase *tc = tcase_create("commit_proof");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_commit_info_fixture);
	tcase_add_test(tc, test_store_shapes);
	tcase_add_test(tc, test_branch);
	tcase_add_test(tc, test_tampered);
	tcase_add_test(tc, test_wrong_ops);
	tcase_add_test(tc, test_random_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
