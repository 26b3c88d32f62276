/*
 * export.c — state sync: one version's trees out as a stream of post-order nodes, and a
 * store rebuilt from such a stream, every hash recomputed and checked against the commit
 * hash the caller trusts (docs/merkle.md, "State sync"; stream layout in docs/format.md).
 *
 * Export walks each store's tree in post order (as Cosmos state sync carries an IAVL tree:
 * key, version, height, and for a leaf its value) beside an iterator over the store at that
 * version: the leaves come in key order, so each leaf's value is the iterator's next entry,
 * and the two must agree key for key.
 *
 * Import verifies everything before it writes anything: the nodes are rebuilt into trees in
 * memory (a stack: a leaf pushes, a branch pops its two children), every size, height and
 * key checked, the root hashes and the commit hash recomputed. Only a stream that verifies
 * is written: a FLOOR file first (version 1's roots must never be rebuilt from its commit
 * record, whose puts would make another shape), then the key-values as one version whose
 * roots are the imported trees, then a full snapshot of it. A stream that does not verify
 * leaves nothing behind; a crash during the writing leaves a directory that refuses to open
 * (its FLOOR names a version without a snapshot), never one with wrong hashes.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/db/db_int.h"

#define EXP_MAGIC "IODBEXP1"
#define EXP_END "IODBEND1"
#define CHUNK (256u << 10)

/* ---- Export ---------------------------------------------------------------------------- */

struct exp {
	iodb_chunk_fn fn;
	void *ctx;
	struct buf out;
	iodb_iter *it;
	const struct mtsnap *snap;
	uint64_t nodes;
	int rc;
};

/* Hand what is buffered to the caller's fn. */
static int emit_chunk(struct exp *e)
{
	int stop = e->fn(e->ctx, e->out.p, e->out.len);

	if (stop)
		return err_canceled("iodb_export", stop);
	e->out.len = 0;
	return 0;
}

static int emit(struct exp *e, const void *p, size_t n)
{
	RET(buf_append(&e->out, p, n));
	return e->out.len >= CHUNK ? emit_chunk(e) : 0;
}

static int emit32(struct exp *e, uint32_t v)
{
	uint8_t x[4];

	put_u32(x, v);
	return emit(e, x, 4);
}

static int emit64(struct exp *e, uint64_t v)
{
	uint8_t x[8];

	put_u64(x, v);
	return emit(e, x, 8);
}

static int export_node(struct exp *e, const struct mnode *n, int depth)
{
	struct minfo i;
	int rc;

	if (depth > 160)
		return err_set(IODB_ECORRUPT, "Merkle tree deeper than 160");
	mnode_info(e->snap, n, &i);
	if (i.height) {
		RET(export_node(e, i.left, depth + 1));
		RET(export_node(e, i.right, depth + 1));
	}
	RET(emit(e, &i.height, 1));
	RET(emit64(e, i.version));
	RET(emit32(e, (uint32_t)i.klen));
	RET(emit(e, i.key, i.klen));
	if (!i.height) {
		const void *k, *v;
		size_t kl, vl;
		uint8_t vh[32], lh[32];

		if (iodb_iter_valid(e->it) != 1 || iodb_iter_key(e->it, &k, &kl) != 0 ||
		    kl != i.klen || memcmp(k, i.key, kl) != 0 || iodb_iter_value(e->it, &v, &vl) != 0)
			return err_set(IODB_ECORRUPT, "export: the Merkle tree and the store disagree "
						      "on the keys");
		sha256(v, vl, vh);
		mleaf_hash(i.version, i.key, i.klen, vh, lh);
		if (memcmp(lh, i.hash, 32) != 0)
			return err_set(IODB_ECORRUPT, "export: the Merkle tree and the store disagree "
						      "on a value");
		RET(emit32(e, (uint32_t)vl));
		RET(emit(e, v, vl));
		if ((rc = iodb_iter_next(e->it)) != 0 && rc != IODB_NOTFOUND)
			return rc;
	}
	e->nodes++;
	return 0;
}

int iodb_export(iodb *db, const void *vid, size_t vidlen, iodb_chunk_fn fn, void *ctx)
{
	struct exp e = {0};
	struct err_saved caller; /* the iterator's end sets "": a success keeps the caller's */
	struct mroots *r = NULL;
	struct view *view = NULL;
	iodb_snapshot *snap = NULL;
	uint8_t commit[32], vidb[IODB_MAX_VID];
	uint64_t height = 0;
	uint8_t vl = 0;
	int rc;

	RET(db_handle_check(db));
	if (!db || !fn)
		return err_set(IODB_EINVAL, "db and fn must not be NULL");
	if (!db->o.merkle)
		return err_set(IODB_EINVAL, "the Merkle layer is off (options.merkle = 0)");
	if ((vid && (vidlen == 0 || vidlen > IODB_MAX_VID)) || (!vid && vidlen))
		return err_set(IODB_EINVAL, "bad version ID");
	err_keep(&caller);
	buf_init(&e.out);
	e.fn = fn;
	e.ctx = ctx;
	/* One snapshot pins the version: its view, its roots, its ID and height, so that a
	 * rollback and a new version under the same ID meanwhile cannot mix two versions. */
	ERR(iodb_snapshot_open(db, vid, vidlen, &snap));
	ERR(db_snap_roots(snap, &r));
	height = snap->height;
	vl = snap->vidlen;
	memcpy(vidb, snap->vid, vl);
	ERR(iodb_snapshot_commit_hash(snap, commit));
	view = snapshot_view(snap);
	ERR(emit(&e, EXP_MAGIC, 8));
	ERR(emit64(&e, height));
	ERR(emit(&e, &vl, 1));
	ERR(emit(&e, vidb, vl));
	ERR(emit(&e, commit, 32));
	ERR(emit32(&e, r->n));
	for (uint32_t i = 0; i < r->n; i++) {
		const struct store_name *sn = &view->stores->v[r->v[i].store];
		char name[IODB_MAX_STORE_NAME + 1];

		memcpy(name, sn->name, sn->len);
		name[sn->len] = '\0';
		ERR(emit(&e, &sn->len, 1));
		ERR(emit(&e, sn->name, sn->len));
		if (r->v[i].root) {
			struct minfo ri;

			mnode_info(r->v[i].snap, r->v[i].root, &ri);
			ERR(emit64(&e, 2ull * ri.size - 1));
		} else {
			ERR(emit64(&e, 0));
		}
		if (!r->v[i].root)
			continue;
		ERR(iodb_iter_open(db, snap, name, &e.it));
		if ((rc = iodb_iter_first(e.it)) < 0)
			goto err;
		e.snap = r->v[i].snap;
		ERR(export_node(&e, r->v[i].root, 0));
		if (iodb_iter_valid(e.it)) {
			rc = err_set(IODB_ECORRUPT, "export: the store holds keys its Merkle tree "
						    "does not");
			goto err;
		}
		iodb_iter_close(e.it);
		e.it = NULL;
	}
	ERR(emit(&e, EXP_END, 8));
	if (e.out.len)
		rc = emit_chunk(&e);
err:
	iodb_iter_close(e.it);
	iodb_snapshot_close(snap);
	view_unref(view);
	mroots_unref(r);
	buf_free(&e.out);
	return err_kept(&caller, rc);
}

/* ---- Import ---------------------------------------------------------------------------- */

/* The stream as a byte source over the caller's chunks. */
struct src {
	iodb_next_chunk_fn next;
	void *ctx;
	const uint8_t *p;
	size_t len, off;
	uint64_t total;
	int end;
};

static int src_get(struct src *s, void *out, size_t n)
{
	uint8_t *o = out;

	while (n) {
		size_t k;

		if (s->off == s->len) {
			const void *p = NULL;
			size_t len = 0;
			int stop = s->end ? 0 : s->next(s->ctx, &p, &len);

			if (stop) {
				s->end = 1;
				return err_canceled("iodb_import", stop);
			}
			if (s->end || len == 0 || !p) {
				s->end = 1;
				return err_set(IODB_EPROOF, "import: the stream ends early (at byte %llu)",
					       (unsigned long long)s->total);
			}
			s->p = p;
			s->len = len;
			s->off = 0;
		}
		k = s->len - s->off < n ? s->len - s->off : n;
		memcpy(o, s->p + s->off, k);
		s->off += k;
		s->total += k;
		o += k;
		n -= k;
	}
	return 0;
}

static int src_u32(struct src *s, uint32_t *v)
{
	uint8_t x[4];

	RET(src_get(s, x, 4));
	*v = get_u32(x);
	return 0;
}

static int src_u64(struct src *s, uint64_t *v)
{
	uint8_t x[8];

	RET(src_get(s, x, 8));
	*v = get_u64(x);
	return 0;
}

#define BADSTREAM(...) err_set(IODB_EPROOF, "import: " __VA_ARGS__)

struct istore {
	uint8_t nlen;
	char name[IODB_MAX_STORE_NAME + 1];
	struct mnode *root;
	uint8_t hash[32];
};

/* The leftmost key under n (heap nodes only, as import builds them). */
static const struct mnode *leftmost(const struct mnode *n)
{
	while (n->height)
		n = n->u.c.left;
	return n;
}

/* One store's nodes: rebuilt, checked, its key-values added to b. */
static int import_store(struct src *s, struct istore *st, uint64_t nnodes, iodb_batch *b,
			struct buf *scratch)
{
	struct mnode **stack = NULL;
	size_t depth = 0, cap = 0;
	int rc = 0;

	for (uint64_t i = 0; i < nnodes && rc == 0; i++) {
		uint8_t height;
		uint64_t version;
		uint32_t klen, vlen;
		uint8_t *key;
		struct mnode *n;

		ERR(src_get(s, &height, 1));
		ERR(src_u64(s, &version));
		ERR(src_u32(s, &klen));
		if (klen == 0 || klen > IODB_MAX_KEY || version == 0 || version > INT64_MAX) {
			rc = BADSTREAM("store \"%s\": node %llu: bad key length or version", st->name,
				       (unsigned long long)i);
			goto err;
		}
		scratch->len = 0;
		ERR(buf_reserve(scratch, klen));
		key = scratch->p;
		ERR(src_get(s, key, klen));
		if (height == 0) {
			uint8_t vh[32];
			uint8_t *val;

			ERR(src_u32(s, &vlen));
			if (vlen > IODB_MAX_VALUE) {
				rc = BADSTREAM("store \"%s\": value too large", st->name);
				goto err;
			}
			ERR(buf_reserve(scratch, (size_t)klen + vlen));
			key = scratch->p;
			val = scratch->p + klen;
			ERR(src_get(s, val, vlen));
			sha256(val, vlen, vh);
			if (!(n = mnode_new(version, key, klen, vh, NULL, NULL))) {
				rc = err_set(IODB_ENOMEM, "out of memory importing");
				goto err;
			}
			if ((rc = iodb_batch_put(b, st->name, key, klen, val, vlen)) != 0) {
				mnode_unref(n); /* not on the stack yet */
				goto err;
			}
		} else {
			struct mnode *l, *r;
			const struct mnode *k;
			uint8_t lh, rh;

			if (depth < 2) {
				rc = BADSTREAM("store \"%s\": node %llu: a branch without two children",
					       st->name, (unsigned long long)i);
				goto err;
			}
			r = stack[--depth];
			l = stack[--depth];
			k = leftmost(r);
			lh = l->height;
			rh = r->height;
			if (height != 1 + (lh > rh ? lh : rh) || k->klen != klen ||
			    memcmp(k->key, key, klen) != 0 ||
			    key_cmp(leftmost(l)->key, leftmost(l)->klen, k->key, k->klen) >= 0) {
				mnode_unref(l);
				mnode_unref(r);
				rc = BADSTREAM("store \"%s\": node %llu: height, key or order does not "
					       "match its children",
					       st->name, (unsigned long long)i);
				goto err;
			}
			if (!(n = mnode_new(version, key, klen, NULL, l, r))) {
				mnode_unref(l);
				mnode_unref(r);
				rc = err_set(IODB_ENOMEM, "out of memory importing");
				goto err;
			}
		}
		if (depth == cap) {
			void *v = mem_realloc(stack, (cap = cap ? cap * 2 : 64) * sizeof(*stack));

			if (!v) {
				mnode_unref(n);
				rc = err_set(IODB_ENOMEM, "out of memory importing");
				goto err;
			}
			stack = v;
		}
		stack[depth++] = n;
	}
	if (depth != (nnodes ? 1u : 0u)) {
		rc = BADSTREAM("store \"%s\": the nodes do not make one tree", st->name);
		goto err;
	}
	st->root = nnodes ? stack[0] : NULL;
	depth = 0;
	mtree_hash(NULL, st->root, 2, st->hash);
err:
	while (depth)
		mnode_unref(stack[--depth]);
	mem_free(stack);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	const struct mstore_root *x = a, *y = b;

	return key_cmp((const uint8_t *)x->name, x->nlen, (const uint8_t *)y->name, y->nlen);
}

struct given {
	struct istore *st;
	uint32_t n;
};

/* The commit leader: the imported trees become version 1's roots, by the ids the commit
 * gave their store names. */
static int given_roots(void *ctx, const struct jcommit *c, const uint32_t *ids,
		       struct mroots **out)
{
	struct given *g = ctx;
	struct mroots *r;

	RET(mroots_new(g->n ? g->n : 1, &r));
	for (uint32_t i = 0; i < c->nstores; i++) {
		const uint8_t *name;
		uint8_t nlen;

		jcommit_store_name(c, i, &name, &nlen);
		for (uint32_t k = 0; k < g->n; k++) {
			if (g->st[k].nlen != nlen || memcmp(g->st[k].name, name, nlen) != 0)
				continue;
			r->v[r->n].store = ids[i];
			r->v[r->n].root = g->st[k].root;
			if (g->st[k].root)
				mnode_ref(g->st[k].root);
			memcpy(r->v[r->n].hash, g->st[k].hash, 32);
			r->n++;
		}
	}
	/* Sorted by store id, as every root set. */
	for (uint32_t i = 1; i < r->n; i++)
		for (uint32_t j = i; j > 0 && r->v[j - 1].store > r->v[j].store; j--) {
			struct mroot t = r->v[j];

			r->v[j] = r->v[j - 1];
			r->v[j - 1] = t;
		}
	if (r->n != g->n) {
		mroots_unref(r);
		return err_set(IODB_ECORRUPT, "import: a store is missing from the commit");
	}
	*out = r;
	return 0;
}

static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return errno == ENOENT ? 2 : 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

/* The size of struct iodb_options as options version v (1 to IODB_OPTIONS_VERSION) had it:
 * up to the first field a later version added. */
static size_t options_size(unsigned v)
{
	static const size_t end[] = {
		0,
		offsetof(iodb_options, memtable_bytes),      /* 1 */
		offsetof(iodb_options, auto_compaction),     /* 2 */
		offsetof(iodb_options, snapshot_interval),   /* 3 */
		offsetof(iodb_options, snapshot_replay_ops), /* 4 */
		offsetof(iodb_options, initial_stores),      /* 5 */
		sizeof(iodb_options),                        /* 6 */
	};

	_Static_assert(IODB_OPTIONS_VERSION == 6, "options_size: add the new version's end");
	return v < sizeof(end) / sizeof(end[0]) ? end[v] : sizeof(iodb_options);
}

int iodb_import(const char *dir, const iodb_options *opts, const uint8_t commit_hash[32],
		iodb_next_chunk_fn next, void *ctx)
{
	struct src s = {next, ctx, NULL, 0, 0, 0, 0};
	struct err_saved caller;
	struct istore *st = NULL;
	struct mstore_root *sr = NULL;
	iodb_batch *b = NULL;
	struct buf scratch;
	iodb_options o;
	iodb *db = NULL;
	uint8_t magic[8], vid[IODB_MAX_VID], claimed[32], got[32], vl;
	uint64_t height;
	uint32_t nstores = 0;
	int rc, empty, created = 0;

	if (!dir || !*dir || !commit_hash || !next)
		return err_set(IODB_EINVAL, "dir, commit_hash and next must not be NULL");
	if (!(empty = dir_is_empty(dir)))
		return err_set(IODB_EINVAL, "%s: import needs an empty or missing directory", dir);
	err_keep(&caller);
	buf_init(&scratch);
	ERR(iodb_batch_new(&b));
	ERR(src_get(&s, magic, 8));
	if (memcmp(magic, EXP_MAGIC, 8) != 0) {
		rc = BADSTREAM("not an iodb export stream");
		goto err;
	}
	ERR(src_u64(&s, &height));
	ERR(src_get(&s, &vl, 1));
	ERR(src_get(&s, vid, vl));
	ERR(src_get(&s, claimed, 32));
	ERR(src_u32(&s, &nstores));
	if (vl == 0 || height == 0 || height > IODB_MAX_HEIGHT || nstores > 1u << 16) {
		rc = BADSTREAM("bad header");
		goto err;
	}
	if (!(st = mem_calloc(nstores ? nstores : 1, sizeof(*st))) ||
	    !(sr = mem_calloc(nstores ? nstores : 1, sizeof(*sr)))) {
		rc = err_set(IODB_ENOMEM, "out of memory importing");
		goto err;
	}
	for (uint32_t i = 0; i < nstores; i++) {
		uint64_t nnodes;

		ERR(src_get(&s, &st[i].nlen, 1));
		if (st[i].nlen > IODB_MAX_STORE_NAME) {
			rc = BADSTREAM("store name too long");
			goto err;
		}
		ERR(src_get(&s, st[i].name, st[i].nlen));
		ERR(src_u64(&s, &nnodes));
		for (uint32_t k = 0; k < i; k++)
			if (st[k].nlen == st[i].nlen && memcmp(st[k].name, st[i].name, st[i].nlen) == 0) {
				rc = BADSTREAM("store \"%s\" twice", st[i].name);
				goto err;
			}
		if (nnodes > (1ull << 40) || (nnodes && nnodes % 2 == 0)) {
			rc = BADSTREAM("store \"%s\": bad node count", st[i].name);
			goto err;
		}
		ERR(import_store(&s, &st[i], nnodes, b, &scratch));
		if (!st[i].root) /* an empty store exists by a write: a delete of nothing */
			ERR(iodb_batch_del(b, st[i].name, "\0", 1));
		sr[i].name = st[i].name;
		sr[i].nlen = st[i].nlen;
		memcpy(sr[i].root, st[i].hash, 32);
	}
	ERR(src_get(&s, magic, 8));
	if (memcmp(magic, EXP_END, 8) != 0) {
		rc = BADSTREAM("the stream does not end where it should");
		goto err;
	}
	qsort(sr, nstores, sizeof(*sr), name_cmp);
	commit_info_hash(sr, nstores, got);
	if (memcmp(got, commit_hash, 32) != 0 || memcmp(got, claimed, 32) != 0) {
		rc = BADSTREAM("the trees' commit hash is not the expected one");
		goto err;
	}

	/* Verified: write it. */
	iodb_options_init(&o);
	if (opts) {
		if (opts->version == 0 || opts->version > IODB_OPTIONS_VERSION) {
			rc = err_set(IODB_EINVAL, "iodb_options.version is %u; call iodb_options_init()",
				     opts->version);
			goto err;
		}
		/* Only the fields the caller's options version has: an older program's struct
		 * is shorter (the rest keeps iodb_options_init's defaults). */
		memcpy(&o, opts, options_size(opts->version));
		o.version = IODB_OPTIONS_VERSION;
	}
	if (o.read_only) {
		rc = err_set(IODB_EINVAL, "import: options.read_only is set (an import writes)");
		goto err;
	}
	o.create_if_missing = 1;
	o.merkle = 1;
	o.initial_stores = NULL; /* the stream names every store of the version */
	o.n_initial_stores = 0;
	o.initial_height = height;
	o.keep_versions = 0;
	ERR(iodb_open(dir, &o, &db));
	created = 1;
	ERR(db_snap_set_floor(db, 1));
	{
		struct given g = {st, nstores};

		ERR(db_update_given(db, vid, vl, b, given_roots, &g));
	}
	ERR(iodb_merkle_snapshot(db, 1));
	ERR(iodb_commit_hash(db, NULL, 0, got));
	if (memcmp(got, commit_hash, 32) != 0) {
		rc = err_set(IODB_ECORRUPT, "import: the written store's commit hash differs");
		goto err;
	}
	rc = iodb_close(db);
	db = NULL;
err:
	if (db)
		iodb_close(db);
	if (rc && created) {
		struct env *env;

		if (env_new(&env) == 0) {
			struct err_saved failure;

			err_keep(&failure); /* the import's failure is the one to report */
			if (env_remove_tree(env, dir, empty == 2) != 0)
				err_kept(&failure, 0);
			env_free(env);
		}
	}
	for (uint32_t i = 0; st && i < nstores; i++)
		mnode_unref(st[i].root);
	mem_free(st);
	mem_free(sr);
	iodb_batch_free(b);
	buf_free(&scratch);
	return err_kept(&caller, rc);
}
