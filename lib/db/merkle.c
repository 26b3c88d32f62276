/*
 * merkle.c — the Merkle layer inside the store: each version's IAVL roots, built while the
 * commit's fdatasync runs, kept in memory for recent versions and rebuilt from the journal
 * for older ones; and the public hash and proof calls.
 *
 * A version's root set (struct mroots) lists, by store id, the root of every store that
 * exists at it (a store exists from the first version on its ancestry that wrote to it).
 * Child sets share the parent's unchanged trees. Root sets are immutable once attached to a
 * version, and every node under them is hashed, so readers use them without locks once they
 * hold a reference.
 *
 * Memory: the base, the head and the MERKLE_WINDOW most recently committed versions keep
 * their root sets; others drop theirs, which frees the nodes no kept set shares. A version
 * without a root set gets one on demand: the nearest ancestor that has one, plus the commit
 * records in between read back from the journal and applied in order — the same operations
 * with the same build numbers and heights give the same nodes and hashes. Snapshots
 * (lib/db/snapshot.c) bound that replay.
 *
 * Locks: root sets are attached and detached under vg_lock held for writing; a reader takes
 * a reference under vg_lock held for reading. Rebuilding reads the journal with no lock held.
 */
#include <stdlib.h>

#include "lib/db/db_int.h"

#define MERKLE_WINDOW 32

/* ---- Root sets ------------------------------------------------------------------------ */

static int mroots_alloc(uint32_t cap, struct mroots **out)
{
	struct mroots *r = mem_calloc(1, sizeof(*r));

	if (!r || !(r->v = mem_calloc(cap ? cap : 1, sizeof(*r->v)))) {
		mem_free(r);
		return err_set(IODB_ENOMEM, "out of memory in the Merkle layer");
	}
	atomic_init(&r->refs, 1);
	r->cap = cap ? cap : 1;
	*out = r;
	return 0;
}

int mroots_new(uint32_t cap, struct mroots **out)
{
	return mroots_alloc(cap, out);
}

void mroots_ref(struct mroots *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
}

void mroots_unref(struct mroots *r)
{
	if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (uint32_t i = 0; i < r->n; i++) {
		mnode_unref(r->v[i].root);
		mtsnap_unref(r->v[i].snap);
	}
	mem_free(r->v);
	mem_free(r);
}

/* A new set borrowing every tree of parent (NULL: no stores yet); see mtree_finish. */
static int mroots_child(const struct mroots *parent, struct mroots **out)
{
	RET(mroots_alloc(parent ? parent->n + 4 : 4, out));
	if (parent) {
		memcpy((*out)->v, parent->v, parent->n * sizeof(*parent->v));
		(*out)->n = parent->n;
		for (uint32_t i = 0; i < parent->n; i++)
			if (parent->v[i].snap)
				mtsnap_ref(parent->v[i].snap);
	}
	return 0;
}

/* Free a set whose build failed: the build's nodes go, borrowed trees stay. */
static void mroots_abort(struct mroots *r, struct mbuild *b)
{
	for (uint32_t i = 0; i < r->n; i++) {
		mtree_abort(b, r->v[i].root);
		mtsnap_unref(r->v[i].snap);
	}
	mem_free(r->v);
	mem_free(r);
}

const struct mroot *mroots_find(const struct mroots *r, uint32_t store)
{
	uint32_t lo = 0, hi = r->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (r->v[mid].store < store)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n && r->v[lo].store == store ? &r->v[lo] : NULL;
}

/* The slot of store in r, added (an empty tree) if missing. */
static int mroots_slot(struct mroots *r, uint32_t store, struct mroot **out)
{
	uint32_t at = 0;

	while (at < r->n && r->v[at].store < store)
		at++;
	if (at == r->n || r->v[at].store != store) {
		if (r->n == r->cap) {
			struct mroot *v = mem_realloc(r->v, (size_t)r->cap * 2 * sizeof(*v));

			if (!v)
				return err_set(IODB_ENOMEM, "out of memory in the Merkle layer");
			r->v = v;
			r->cap *= 2;
		}
		memmove(r->v + at + 1, r->v + at, (r->n - at) * sizeof(*r->v));
		memset(&r->v[at], 0, sizeof(r->v[at]));
		r->v[at].store = store;
		r->n++;
	}
	*out = &r->v[at];
	return 0;
}

/* Apply a commit's operations, in their order, to a fresh child set. */
static int mroots_apply(struct mroots *r, struct mbuild *b, const struct jcommit *c,
			const uint32_t *ids)
{
	struct rd rd;
	int rc = 0;

	/* Every store the record lists exists from this version on, even one without an
	 * operation (mounted by options.initial_stores: an empty tree). */
	for (uint32_t i = 0; i < c->nstores && rc == 0; i++) {
		struct mroot *slot;

		rc = mroots_slot(r, ids[i], &slot);
	}
	rd_init(&rd, c->ops, c->ops_len);
	for (uint64_t i = 0; i < c->nops && rc == 0; i++) {
		struct jop op;
		struct mroot *slot = NULL;
		uint8_t vhash[32];
		int removed;

		if (jcommit_next_op(&rd, c->nstores, &op)) {
			rc = err_set(IODB_ECORRUPT, "bad operation in a commit record");
			break;
		}
		if ((rc = mroots_slot(r, ids[op.store], &slot)) != 0)
			break;
		b->snap = slot->snap;
		if (op.kind == JOP_PUT) {
			sha256(op.val, op.vlen, vhash);
			rc = mtree_set(b, &slot->root, op.key, op.klen, vhash);
		} else {
			rc = mtree_remove(b, &slot->root, op.key, op.klen, &removed);
		}
	}
	return rc;
}

/* Hash every tree of a finished set (replay defers it to the end of open). */
static void mroots_hash(struct mroots *r, int threads)
{
	for (uint32_t i = 0; i < r->n; i++)
		mtree_hash(r->v[i].snap, r->v[i].root, threads, r->v[i].hash);
}

/* ---- Building at commit and at replay ------------------------------------------------- */

/* Never wait for the worker here: it may be freeing a large version's nodes. */
static int par_start(void *ctx, void (*fn)(void *arg), void *arg)
{
	return worker_try_run(ctx, fn, arg);
}

static void par_wait(void *ctx)
{
	worker_wait(ctx);
}

int db_merkle_build(iodb *db, struct mroots *parent, const struct jcommit *c,
		    const uint32_t *ids, int hash, struct mroots **out)
{
	/* Only the commit leader may lend the worker; a rebuild runs on a reader's thread. */
	struct mpar par = {par_start, par_wait, &db->worker};
	const struct mpar *pp = hash == 2 && db->o.merkle_threads > 1 ? &par : NULL;
	struct mroots *r = NULL;
	struct mbuild b;
	int rc;

	RET(mroots_child(parent, &r));
	mbuild_init(&b, c->n, c->height);
	if ((rc = mroots_apply(r, &b, c, ids)) != 0) {
		mroots_abort(r, &b);
		mbuild_free(&b);
		return rc;
	}
	for (uint32_t i = 0; i < r->n; i++) {
		b.snap = r->v[i].snap;
		mtree_finish(&b, r->v[i].root, hash != 0, pp, r->v[i].hash);
	}
	mbuild_free(&b);
	*out = r;
	return 0;
}

/* Called after version n got its roots (vg_lock held for writing): drop the roots of the
 * version that just left the window, unless it is the base or the head. */
void db_merkle_trim(iodb *db, uint32_t n)
{
	struct vgraph *g = &db->vg;

	if (n <= MERKLE_WINDOW)
		return;
	for (uint32_t m = n - MERKLE_WINDOW; m + MERKLE_WINDOW >= n && m >= g->lo; m--) {
		struct version *v = vg_get(g, m);

		if (!v || !v->mr)
			break; /* everything older was trimmed already */
		if (m != g->base && m != g->head) {
			/* Freeing a version's nodes is a cache miss a node: leave it to the
			 * worker, off the commit path (see db_merkle_bury). */
			if (db->ngrave == db->cap_grave) {
				uint32_t cap = db->cap_grave ? db->cap_grave * 2 : 16;
				struct mroots **gv = mem_realloc(db->grave, cap * sizeof(*gv));

				if (!gv)
					break; /* keep the roots: memory, not correctness */
				db->grave = gv;
				db->cap_grave = cap;
			}
			db->grave[db->ngrave++] = v->mr;
			v->mr = NULL;
		}
		if (m == g->lo)
			break;
	}
}

void db_merkle_grave_swap(iodb *db)
{
	struct mroots **t = db->grave_busy;
	uint32_t cap = db->cap_grave_busy;

	db->grave_busy = db->grave;
	db->ngrave_busy = db->ngrave;
	db->cap_grave_busy = db->cap_grave;
	db->grave = t;
	db->cap_grave = cap;
	db->ngrave = 0;
}

void db_merkle_bury_busy(iodb *db)
{
	for (uint32_t i = 0; i < db->ngrave_busy; i++)
		mroots_unref(db->grave_busy[i]);
	db->ngrave_busy = 0;
}

static void bury_task(void *arg)
{
	db_merkle_bury_busy(arg);
}

void db_merkle_bury_later(iodb *db)
{
	/* Only the commit leader starts worker tasks, so idle now means idle until we start. */
	if (!db->ngrave || worker_busy(&db->worker))
		return; /* the roots wait for the next commit */
	db_merkle_grave_swap(db);
	if (!worker_try_run(&db->worker, bury_task, db))
		db_merkle_bury_busy(db); /* no worker thread */
}

void db_merkle_bury(iodb *db)
{
	worker_wait(&db->worker);
	db_merkle_bury_busy(db);
	db_merkle_grave_swap(db);
	db_merkle_bury_busy(db);
}

/* Hash every root set still attached (end of open: replay left them unhashed). */
void db_merkle_finish_all(iodb *db)
{
	struct vgraph *g = &db->vg;

	for (uint32_t m = g->lo; m < g->next_n; m++) {
		struct version *v = vg_get(g, m);

		if (v && v->mr)
			mroots_hash(v->mr, (int)db->o.merkle_threads);
	}
}

/* ---- Rebuilding from the journal ------------------------------------------------------ */

/* The store table: the head view's, or during open (no view yet, one thread) the db's. */
static struct stores *stores_acquire(iodb *db)
{
	struct stores *s;

	pthread_mutex_lock(&db->view_mu);
	s = db->cur ? db->cur->stores : db->stores;
	stores_ref(s);
	pthread_mutex_unlock(&db->view_mu);
	return s;
}

/*
 * Root set of retained version n, a reference for the caller: the attached one, or one
 * rebuilt from the nearest ancestor that has one or a snapshot (lib/db/snapshot.c), the
 * commit records in between applied in order. When the walk ends at the base and the base's
 * parents were folded into it, the base's history comes from db_snap_folded. *from: the
 * oldest version the rebuild started from (0 if none). No lock may be held by the caller.
 */
static int merkle_roots_once(iodb *db, uint32_t n, struct mroots **out, uint32_t *from)
{
	struct snap_step *chain = NULL;
	size_t len = 0, cap = 0;
	struct mroots *r = NULL;
	struct stores *names = NULL;
	struct buf payload;
	uint32_t snap_n;
	int rc = 0;

	buf_init(&payload);
	names = stores_acquire(db); /* names every store in the journal */
again:
	snap_n = 0;
	len = 0;
	pthread_rwlock_rdlock(&db->vg_lock);
	for (struct version *v = vg_get(&db->vg, n); v; v = vg_get(&db->vg, v->parent)) {
		if (v->mr) {
			r = v->mr;
			mroots_ref(r);
			break;
		}
		if (db_snap_has(db, v->n)) {
			snap_n = v->n;
			break;
		}
		if (len == cap) {
			struct snap_step *c;

			cap = cap ? cap * 2 : 64;
			if (!(c = mem_realloc(chain, cap * sizeof(*c)))) {
				rc = err_set(IODB_ENOMEM, "out of memory rebuilding Merkle roots");
				break;
			}
			chain = c;
		}
		chain[len].n = v->n;
		chain[len].pos = v->pos;
		len++;
		if (!v->parent)
			break;
	}
	if (rc == 0 && !vg_get(&db->vg, n))
		rc = err_set(IODB_NOTFOUND, "version is not retained");
	*from = snap_n ? snap_n : len ? chain[len - 1].n : 0;
	pthread_rwlock_unlock(&db->vg_lock);
	if (rc)
		goto err;
	if (snap_n && (rc = db_snap_load(db, snap_n, names, &r)) != 0) {
		if (rc == IODB_ENOMEM)
			goto err;
		err_clear(); /* forgotten: walk past it */
		rc = 0;
		goto again;
	}
	if (len && chain[len - 1].pos.seg < journal_first_seg(db->journal)) {
		rc = err_set(IODB_EINVAL, "the Merkle roots of version %u cannot be rebuilt: the "
					  "journal segment holding version %u's commit record was "
					  "released (while the Merkle layer was off?) and no snapshot "
					  "covers it; open with merkle = 0",
			     n, chain[len - 1].n);
		goto err;
	}
	if (!r && len && chain[len - 1].n <= db_snap_floor(db)) {
		rc = err_set(IODB_ECORRUPT, "the Merkle roots of version %u cannot be rebuilt: "
					    "version %u was imported and its snapshot is missing or "
					    "damaged",
			     n, chain[len - 1].n);
		goto err;
	}
	if (!r && len) {
		/* The walk ended at the base: was anything folded into it? */
		struct jcommit c;
		uint8_t type;

		ERR(journal_read(db->journal, &chain[len - 1].pos, &type, &payload));
		if (type != JREC_COMMIT || jcommit_decode(payload.p, payload.len, &c) != 0) {
			rc = err_set(IODB_ECORRUPT, "journal segment %llu offset %llu: not a commit "
						    "record",
				     (unsigned long long)chain[len - 1].pos.seg,
				     (unsigned long long)chain[len - 1].pos.off);
			goto err;
		}
		if (c.parent)
			ERR(db_snap_folded(db, c.parent, &chain[len - 1].pos, names, &r, &chain, &len));
	}
	/* Replay the chain, oldest first, as one build: only the last version's roots are
	 * wanted, so a node an earlier commit of the chain made is changed in place by a later
	 * one (taking its height, as iavl's clone would) instead of being copied, and only
	 * the nodes left at the end are hashed. Same nodes, versions and hashes as a build per
	 * commit, without the copies and frees. */
	if (len) {
		struct mroots *next = NULL;
		struct mbuild b;

		ERR(mroots_child(r, &next));
		mbuild_init(&b, chain[0].n, 0);
		while (rc == 0 && len--) {
			struct jcommit c;
			uint32_t ids_local[16], *ids = ids_local;
			uint8_t type;

			if ((rc = journal_read(db->journal, &chain[len].pos, &type, &payload)) != 0)
				break;
			if (type != JREC_COMMIT || jcommit_decode(payload.p, payload.len, &c) != 0 ||
			    c.n != chain[len].n) {
				rc = err_set(IODB_ECORRUPT, "journal segment %llu offset %llu: not the "
							    "commit record of version %u",
					     (unsigned long long)chain[len].pos.seg,
					     (unsigned long long)chain[len].pos.off, chain[len].n);
				break;
			}
			if (c.nstores > 16 && !(ids = mem_alloc(c.nstores * sizeof(*ids)))) {
				rc = err_set(IODB_ENOMEM, "out of memory rebuilding Merkle roots");
				break;
			}
			for (uint32_t i = 0; i < c.nstores && rc == 0; i++) {
				const uint8_t *name;
				uint8_t nlen;
				int64_t id;

				jcommit_store_name(&c, i, &name, &nlen);
				if ((id = stores_find(names, name, nlen)) < 0)
					rc = err_set(IODB_ECORRUPT, "commit record of version %u names "
								    "an unknown store", c.n);
				ids[i] = (uint32_t)id;
			}
			b.version = c.height;
			if (rc == 0)
				rc = mroots_apply(next, &b, &c, ids);
			if (rc == 0)
				db_snap_replayed(db, c.nops);
			if (ids != ids_local)
				mem_free(ids);
		}
		if (rc) {
			mroots_abort(next, &b);
			mbuild_free(&b);
			goto err;
		}
		for (uint32_t i = 0; i < next->n; i++) {
			b.snap = next->v[i].snap;
			mtree_finish(&b, next->v[i].root, 1, NULL, next->v[i].hash);
		}
		mbuild_free(&b);
		mroots_unref(r);
		r = next;
	}
	if (!r) /* the first version with nothing before it */
		ERR(mroots_child(NULL, &r));
	*out = r;
	r = NULL;
err:
	mroots_unref(r);
	stores_unref(names);
	buf_free(&payload);
	mem_free(chain);
	return rc;
}

/*
 * merkle_roots_once walks the graph under vg_lock, then reads snapshots and the journal
 * without it. Meanwhile a rollback or clean may discard the version (or fold the one the
 * rebuild started from into a new base), and once that is durable the snapshot and journal
 * segments it was rebuilding from may go (db_snap_durable moves the journal hold; distribute
 * releases). Whatever error that produced (a released segment, a missing file), the answer
 * for a version discarded under the reader is IODB_NOTFOUND; a version still retained whose
 * starting point was folded is rebuilt again from where the graph now says.
 */
int db_merkle_roots(iodb *db, uint32_t n, struct mroots **out)
{
	for (int attempt = 0;; attempt++) {
		uint32_t from = 0;
		int rc = merkle_roots_once(db, n, out, &from), gone, moved;

		if (rc == 0 || rc == IODB_ENOMEM)
			return rc;
		pthread_rwlock_rdlock(&db->vg_lock);
		gone = !vg_get(&db->vg, n);
		moved = from && !vg_get(&db->vg, from);
		pthread_rwlock_unlock(&db->vg_lock);
		if (gone)
			return err_set(IODB_NOTFOUND, "version is not retained (discarded by a "
						      "rollback or clean while it was being read)");
		if (!moved || attempt == 8)
			return rc;
		err_clear();
	}
}

/* Make sure version n has its root set attached (it is becoming the head or the base).
 * Called by the commit leader with no lock held. */
int db_merkle_attach(iodb *db, uint32_t n)
{
	struct mroots *r;
	struct version *v;

	if (!db->o.merkle)
		return 0;
	pthread_rwlock_rdlock(&db->vg_lock);
	v = vg_get(&db->vg, n);
	r = v ? v->mr : NULL;
	pthread_rwlock_unlock(&db->vg_lock);
	if (r || !v)
		return 0;
	RET(db_merkle_roots(db, n, &r));
	pthread_rwlock_wrlock(&db->vg_lock);
	if ((v = vg_get(&db->vg, n)) && !v->mr) {
		v->mr = r;
		r = NULL;
	}
	pthread_rwlock_unlock(&db->vg_lock);
	mroots_unref(r);
	return 0;
}

/* ---- Public calls --------------------------------------------------------------------- */

/*
 * What a Merkle query is about: version n's root set, the view whose store table names its
 * stores, and (for values, once a proof needs them) a view of version n itself. Queries by
 * ID resolve the ID now; queries through a snapshot use what the snapshot pinned.
 */
struct mq {
	iodb *db;
	uint32_t n;
	struct mroots *r;   /* a reference */
	struct view *names; /* a reference: names every store of r */
	struct view *at;    /* a reference, or NULL until q_at */
};

static void q_done(struct mq *q)
{
	mroots_unref(q->r);
	view_unref(q->names);
	view_unref(q->at);
}

/* The version vid names (the head for NULL) and its root set. */
static int resolve(iodb *db, const void *vid, size_t vidlen, struct mq *q)
{
	const struct version *v;
	struct err_saved caller;

	memset(q, 0, sizeof(*q));
	RET(db_handle_check(db));
	if (!db->o.merkle)
		return err_set(IODB_EINVAL, "the Merkle layer is off (options.merkle = 0)");
	if ((vid && (vidlen == 0 || vidlen > IODB_MAX_VID)) || (!vid && vidlen))
		return err_set(IODB_EINVAL, "bad version ID");
	q->db = db;
	pthread_rwlock_rdlock(&db->vg_lock);
	v = vid ? vg_find(&db->vg, vid, vidlen) : vg_get(&db->vg, db->vg.head);
	q->n = v ? v->n : 0;
	pthread_rwlock_unlock(&db->vg_lock);
	if (!q->n)
		return err_set(IODB_NOTFOUND, vid ? "no retained version has that ID"
						  : "the store has no version yet");
	/* A rebuild may pass a snapshot it cannot use: a success keeps the caller's message
	 * (iodb.h). */
	err_keep(&caller);
	RET(err_kept(&caller, db_merkle_roots(db, q->n, &q->r)));
	/* After the roots: the store table only grows, so it names every store they hold. */
	q->names = db_view_acquire(db);
	return 0;
}

/*
 * Snapshot s's roots. A snapshot holds its version's roots from open on when they were in
 * memory (the head, the base, the last MERKLE_WINDOW versions); otherwise its first Merkle
 * query rebuilds them, so that a snapshot only read for key-values costs nothing more. The
 * rebuild is by version number, and numbers are never reused: it is of the snapshot's
 * version or fails (IODB_NOTFOUND once a rollback or clean discarded it), never of another
 * version that took the same ID.
 */
int db_snap_roots(iodb_snapshot *s, struct mroots **out)
{
	if (!s->n)
		return err_set(IODB_NOTFOUND, "the snapshot is of a store that had no version");
	if (!s->mr) {
		struct err_saved caller;
		int rc;

		err_keep(&caller);
		rc = db_merkle_roots(s->db, s->n, &s->mr);
		if (rc == IODB_NOTFOUND)
			return err_set(rc, "the snapshot's version was discarded (rollback or "
					   "clean) before its first Merkle query, and its Merkle roots "
					   "were not in memory: query a snapshot of an old version once "
					   "right after opening it to hold them");
		RET(err_kept(&caller, rc));
	}
	mroots_ref(s->mr);
	*out = s->mr;
	return 0;
}

/* The same through snapshot s: its version, its roots, its view. */
static int resolve_snap(iodb_snapshot *s, struct mq *q)
{
	memset(q, 0, sizeof(*q));
	RET(snapshot_check(s, NULL));
	RET(db_handle_check(s->db));
	if (!s->db->o.merkle)
		return err_set(IODB_EINVAL, "the Merkle layer is off (options.merkle = 0)");
	RET(db_snap_roots(s, &q->r));
	q->db = s->db;
	q->n = s->n;
	q->names = s->v;
	view_ref(q->names);
	q->at = s->v;
	view_ref(q->at);
	return 0;
}

/* A view of version q->n, for the values a proof carries. */
static int q_at(struct mq *q)
{
	roaring_bitmap_t *anc = NULL;
	int rc;

	if (q->at)
		return 0;
	pthread_rwlock_rdlock(&q->db->vg_lock);
	rc = vg_get(&q->db->vg, q->n) ? vg_ancestors(&q->db->vg, q->n, &anc)
				      : err_set(IODB_NOTFOUND, "version is no longer retained");
	pthread_rwlock_unlock(&q->db->vg_lock);
	if (rc)
		return rc;
	return view_new(q->n, anc, q->names->mem, q->names->tab, q->names->stores, &q->at);
}

static int store_missing(const uint8_t *name, size_t nlen)
{
	if (!nlen)
		return err_set(IODB_NOTFOUND, "the default store does not exist at that version");
	return err_set(IODB_NOTFOUND, "store \"%.*s\" does not exist at that version", (int)nlen,
		       (const char *)name);
}

/* The tree of store name at q's version, or NULL if the store does not exist there. */
static const struct mroot *q_store(const struct mq *q, const uint8_t *name, size_t nlen)
{
	int64_t id = stores_find(q->names->stores, name, nlen);

	return id >= 0 ? mroots_find(q->r, (uint32_t)id) : NULL;
}

static int q_root_hash(const struct mq *q, const char *store, uint8_t hash[32])
{
	const struct mroot *m;
	const uint8_t *name;
	size_t nlen;

	RET(check_store(store, &name, &nlen));
	if ((m = q_store(q, name, nlen)) != NULL) {
		memcpy(hash, m->hash, 32);
		return 0;
	}
	if (!nlen) { /* the default store exists at every version: empty until written */
		sha256("", 0, hash);
		return 0;
	}
	return store_missing(name, nlen);
}

static int name_order(const void *a, const void *b)
{
	const struct mstore_root *x = a, *y = b;

	return key_cmp((const uint8_t *)x->name, x->nlen, (const uint8_t *)y->name, y->nlen);
}

/* Every store of q's version with its root, in name order (the commit-info leaves). The
 * names point into q->names. */
static int q_sorted(const struct mq *q, struct mstore_root **out)
{
	struct mstore_root *s;

	if (!(s = mem_calloc(q->r->n ? q->r->n : 1, sizeof(*s))))
		return err_set(IODB_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < q->r->n; i++) {
		const struct store_name *sn = &q->names->stores->v[q->r->v[i].store];

		s[i].name = sn->name;
		s[i].nlen = sn->len;
		memcpy(s[i].root, q->r->v[i].hash, 32);
	}
	qsort(s, q->r->n, sizeof(*s), name_order);
	*out = s;
	return 0;
}

static int q_commit_hash(const struct mq *q, uint8_t hash[32])
{
	struct mstore_root *s;

	RET(q_sorted(q, &s));
	commit_info_hash(s, q->r->n, hash);
	mem_free(s);
	return 0;
}

/* An existence proof for leaf (present at the version), its value read from the store. */
static int exist_for(struct view *at, const char *store, const struct mroot *m,
		     const struct mnode *leaf, struct mproof_step *steps, struct mproof_exist *e,
		     void **val)
{
	struct minfo li;
	size_t vlen;
	uint8_t vh[32], lh[32];

	mnode_info(m->snap, leaf, &li);
	RET(mtree_path(m->snap, m->root, li.key, li.klen, steps, &e->npath, &leaf));
	if (view_get(at, store, li.key, li.klen, val, &vlen) != 0)
		return err_set(IODB_ECORRUPT, "a key of the Merkle tree is missing from the store");
	if (vlen == 0) /* its verifiers reject a leaf without a value */
		return err_set(IODB_EINVAL, "ICS23 cannot prove a leaf whose value is empty (the "
					    "key's, or for an absent key a neighbour's)");
	/* The leaf's hash covers the value's: recompute it from the value read. */
	sha256(*val, vlen, vh);
	mleaf_hash(li.version, li.key, li.klen, vh, lh);
	if (memcmp(lh, li.hash, 32) != 0)
		return err_set(IODB_ECORRUPT, "the Merkle tree and the store disagree on a value");
	e->key = li.key;
	e->klen = li.klen;
	e->val = *val;
	e->vlen = vlen;
	e->leaf_version = (int64_t)li.version;
	e->path = steps;
	return 0;
}

/* The ICS23 CommitmentProof of key in store at q's version, appended to out. */
static int q_prove(struct mq *q, const char *store, const void *key, size_t klen,
		   struct buf *out)
{
	const uint8_t *name;
	size_t nlen;
	const struct mroot *m;
	const struct mnode *leaf, *left, *right;
	struct mproof_step *st = NULL;
	struct mproof_exist el = {0}, er = {0};
	void *vl = NULL, *vr = NULL;
	int rc;

	RET(check_store(store, &name, &nlen));
	RET(check_key(key, klen));
	if (!(m = q_store(q, name, nlen)))
		return store_missing(name, nlen);
	if (!m->root) /* ICS23 proves absence by neighbours; an empty tree has none. */
		return err_set(IODB_NOTFOUND, "the store's tree is empty at that version: ICS23 "
					      "has no neighbours to prove absence with");
	if (!(st = mem_alloc(2 * 160 * sizeof(*st))))
		return err_set(IODB_ENOMEM, "out of memory");
	ERR(q_at(q));
	if ((leaf = mtree_get(m->snap, m->root, key, klen)) != NULL) {
		ERR(exist_for(q->at, store, m, leaf, st, &el, &vl));
		ERR(ics23_encode_exist(out, &el));
	} else {
		mtree_neighbors(m->snap, m->root, key, klen, &left, &right);
		if (left)
			ERR(exist_for(q->at, store, m, left, st, &el, &vl));
		if (right)
			ERR(exist_for(q->at, store, m, right, st + 160, &er, &vr));
		ERR(ics23_encode_nonexist(out, key, klen, left ? &el : NULL, right ? &er : NULL));
	}
err:
	mem_free(vl);
	mem_free(vr);
	mem_free(st);
	return rc;
}

/* The ProofOps of key in store up to q's commit hash, appended to out. */
static int q_prove_commit(struct mq *q, const char *store, const void *key, size_t klen,
			  struct buf *out)
{
	struct mstore_root *s = NULL;
	struct buf iavl, simple;
	const uint8_t *name;
	size_t nlen, idx;
	int rc;

	buf_init(&iavl);
	buf_init(&simple);
	RET(check_store(store, &name, &nlen));
	if (!nlen) /* op 2's key would be the store name: ICS23 refuses an empty key */
		return err_set(IODB_EINVAL, "the default store cannot be proven up to the commit "
					    "hash: ICS23 refuses the empty key its name would be (use "
					    "a named store, as Cosmos apps do)");
	ERR(q_prove(q, store, key, klen, &iavl)); /* checks the key */
	ERR(q_sorted(q, &s));
	for (idx = 0; idx < q->r->n; idx++)
		if (s[idx].nlen == nlen && memcmp(s[idx].name, name, nlen) == 0)
			break;
	if (idx == q->r->n) { /* q_prove found it */
		rc = err_set(IODB_ECORRUPT, "a store of the version is missing from its stores");
		goto err;
	}
	ERR(commit_info_prove(s, q->r->n, idx, &simple));
	ERR(proofops_encode(out, key, klen, iavl.p, iavl.len, name, nlen, simple.p, simple.len));
err:
	mem_free(s);
	buf_free(&iavl);
	buf_free(&simple);
	return rc;
}

/*
 * The public hash and prove calls: each resolves what it is about — version vid (the head
 * for NULL), or with snap the snapshot s — then asks it.
 */
static int q_resolve(iodb *db, const void *vid, size_t vidlen, iodb_snapshot *s, int snap,
		     struct mq *q)
{
	return snap ? resolve_snap(s, q) : resolve(db, vid, vidlen, q);
}

/* store NULL with commit: the commit hash; else store's root hash. */
static int hash_call(iodb *db, const void *vid, size_t vidlen, iodb_snapshot *s, int snap,
		     int commit, const char *store, uint8_t hash[32])
{
	struct mq q;
	int rc;

	if (!hash)
		return err_set(IODB_EINVAL, "hash must not be NULL");
	if ((rc = q_resolve(db, vid, vidlen, s, snap, &q)) == 0)
		rc = commit ? q_commit_hash(&q, hash) : q_root_hash(&q, store, hash);
	q_done(&q);
	return rc;
}

typedef int (*q_prove_fn)(struct mq *q, const char *store, const void *key, size_t klen,
			  struct buf *out);

static int prove_call(iodb *db, const void *vid, size_t vidlen, iodb_snapshot *s, int snap,
		      q_prove_fn prove, const char *store, const void *key, size_t klen,
		      void **proof, size_t *plen)
{
	struct mq q;
	struct buf out;
	int rc;

	if (!proof || !plen)
		return err_set(IODB_EINVAL, "proof and plen must not be NULL");
	RET(check_store(store, &(const uint8_t *){0}, &(size_t){0}));
	RET(check_key(key, klen));
	buf_init(&out);
	if ((rc = q_resolve(db, vid, vidlen, s, snap, &q)) == 0)
		rc = prove(&q, store, key, klen, &out);
	q_done(&q);
	if (rc == 0) {
		*proof = out.p;
		*plen = out.len;
		buf_init(&out);
	}
	buf_free(&out);
	return rc;
}

int iodb_root_hash(iodb *db, const void *vid, size_t vidlen, const char *store, uint8_t hash[32])
{
	return hash_call(db, vid, vidlen, NULL, 0, 0, store, hash);
}

int iodb_commit_hash(iodb *db, const void *vid, size_t vidlen, uint8_t hash[32])
{
	return hash_call(db, vid, vidlen, NULL, 0, 1, NULL, hash);
}

int iodb_prove(iodb *db, const void *vid, size_t vidlen, const char *store, const void *key,
	       size_t klen, void **proof, size_t *plen)
{
	return prove_call(db, vid, vidlen, NULL, 0, q_prove, store, key, klen, proof, plen);
}

int iodb_prove_commit(iodb *db, const void *vid, size_t vidlen, const char *store,
		      const void *key, size_t klen, void **proof, size_t *plen)
{
	return prove_call(db, vid, vidlen, NULL, 0, q_prove_commit, store, key, klen, proof,
			  plen);
}

int iodb_snapshot_root_hash(iodb_snapshot *s, const char *store, uint8_t hash[32])
{
	return hash_call(NULL, NULL, 0, s, 1, 0, store, hash);
}

int iodb_snapshot_commit_hash(iodb_snapshot *s, uint8_t hash[32])
{
	return hash_call(NULL, NULL, 0, s, 1, 1, NULL, hash);
}

int iodb_snapshot_prove(iodb_snapshot *s, const char *store, const void *key, size_t klen,
			void **proof, size_t *plen)
{
	return prove_call(NULL, NULL, 0, s, 1, q_prove, store, key, klen, proof, plen);
}

int iodb_snapshot_prove_commit(iodb_snapshot *s, const char *store, const void *key,
			       size_t klen, void **proof, size_t *plen)
{
	return prove_call(NULL, NULL, 0, s, 1, q_prove_commit, store, key, klen, proof, plen);
}

int iodb_snapshot_version(iodb_snapshot *s, void **vid, size_t *vidlen, uint64_t *height)
{
	void *copy = NULL;

	RET(snapshot_check(s, NULL));
	if (!s->n)
		return err_set(IODB_NOTFOUND, "the snapshot is of a store that had no version");
	if (vid || vidlen) {
		if (!vid || !vidlen)
			return err_set(IODB_EINVAL, "vid and vidlen go together");
		if (!(copy = mem_alloc(s->vidlen)))
			return err_set(IODB_ENOMEM, "out of memory");
		memcpy(copy, s->vid, s->vidlen);
		*vid = copy;
		*vidlen = s->vidlen;
	}
	if (height)
		*height = s->height;
	return 0;
}

/* With the Merkle layer off: every store the store table names, zero roots. */
static int stores_unhashed(iodb *db, const void *vid, size_t vidlen, iodb_store_fn fn,
			   void *ctx)
{
	static const uint8_t zero[32];
	struct view *v;
	int rc = 0, stop = 0;

	pthread_rwlock_rdlock(&db->vg_lock);
	if (vid ? !vg_find(&db->vg, vid, vidlen) : !db->vg.head)
		rc = err_set(IODB_NOTFOUND, vid ? "no retained version has that ID"
						: "the store has no version yet");
	pthread_rwlock_unlock(&db->vg_lock);
	if (rc)
		return rc;
	v = db_view_acquire(db);
	for (uint32_t i = 0; i < v->stores->n && !stop; i++) {
		const struct store_name *sn = &v->stores->v[v->stores->sorted[i]];

		stop = fn(ctx, sn->name, zero);
	}
	view_unref(v);
	return stop ? err_canceled("iodb_stores", stop) : 0;
}

/* fn for every store of q's version, in name order. */
static int q_stores(const struct mq *q, const char *call, iodb_store_fn fn, void *ctx)
{
	struct mstore_root *s;
	int stop = 0;

	RET(q_sorted(q, &s));
	/* The names point into the store table (NUL-terminated there). */
	for (uint32_t i = 0; i < q->r->n && !stop; i++)
		stop = fn(ctx, s[i].name, s[i].root);
	mem_free(s);
	return stop ? err_canceled(call, stop) : 0;
}

int iodb_stores(iodb *db, const void *vid, size_t vidlen, iodb_store_fn fn, void *ctx)
{
	struct mq q;
	int rc;

	RET(db_handle_check(db));
	if (!fn)
		return err_set(IODB_EINVAL, "iodb_stores: fn must not be NULL");
	if ((vid && (vidlen == 0 || vidlen > IODB_MAX_VID)) || (!vid && vidlen))
		return err_set(IODB_EINVAL, "bad version ID");
	if (!db->o.merkle)
		return stores_unhashed(db, vid, vidlen, fn, ctx);
	if ((rc = resolve(db, vid, vidlen, &q)) == 0)
		rc = q_stores(&q, "iodb_stores", fn, ctx);
	q_done(&q);
	return rc;
}

int iodb_snapshot_stores(iodb_snapshot *s, iodb_store_fn fn, void *ctx)
{
	struct mq q;
	int rc;

	if (!fn)
		return err_set(IODB_EINVAL, "iodb_snapshot_stores: fn must not be NULL");
	if ((rc = resolve_snap(s, &q)) == 0)
		rc = q_stores(&q, "iodb_snapshot_stores", fn, ctx);
	q_done(&q);
	return rc;
}
