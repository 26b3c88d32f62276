/*
 * read.c — point reads, the head, the version list and snapshots.
 *
 * Reads work on views (view.c): a read at the head takes the current head view, one at an
 * older version builds a view from that version's ancestor set. Neither waits for a writer's
 * I/O: the version graph lock is taken for reading, and only to build a snapshot's view or
 * to copy the version list.
 */

#include "lib/db/db_int.h"

int iodb_get(iodb *db, const char *store, const void *key, size_t klen, void **val,
	     size_t *vlen)
{
	struct view *v;
	int rc;

	RET(db_handle_check(db));
	v = db_view_acquire(db);
	rc = view_get(v, store, key, klen, val, vlen);
	view_unref(v);
	return rc;
}

int iodb_head(iodb *db, void **vid, size_t *vidlen)
{
	const struct version *h;
	void *copy = NULL;
	size_t len = 0;

	RET(db_handle_check(db));
	if (!db || !vid || !vidlen)
		return err_set(IODB_EINVAL, "iodb_head: db, vid and vidlen must not be NULL");
	pthread_rwlock_rdlock(&db->vg_lock);
	if ((h = vg_get(&db->vg, db->vg.head)) != NULL) {
		copy = mem_dup(h->vid, h->vidlen);
		len = h->vidlen;
	}
	pthread_rwlock_unlock(&db->vg_lock);
	if (!h)
		return err_set(IODB_NOTFOUND, "the store has no version yet");
	if (!copy)
		return err_set(IODB_ENOMEM, "out of memory");
	*vid = copy;
	*vidlen = len;
	return 0;
}

struct vrow {
	uint32_t vid_off, parent_off;
	uint8_t vidlen, parentlen;
	uint64_t height;
};

int iodb_versions(iodb *db, iodb_version_fn fn, void *ctx)
{
	const struct vgraph *g;
	struct vrow *rows = NULL;
	struct buf ids;
	uint32_t nrows = 0;
	int rc = 0;

	RET(db_handle_check(db));
	if (!db || !fn)
		return err_set(IODB_EINVAL, "iodb_versions: db and fn must not be NULL");
	buf_init(&ids);
	/* Copy under the lock, call back without it: fn may call into the store. */
	pthread_rwlock_rdlock(&db->vg_lock);
	g = &db->vg;
	if (g->count && !(rows = mem_alloc(g->count * sizeof(*rows))))
		rc = err_set(IODB_ENOMEM, "out of memory listing versions");
	for (uint32_t n = g->lo; rc == 0 && n < g->next_n; n++) {
		const struct version *v = vg_get(g, n), *p;
		struct vrow *r = &rows[nrows];

		if (!v)
			continue;
		p = v->parent ? vg_get(g, v->parent) : NULL;
		r->vid_off = (uint32_t)ids.len;
		r->vidlen = v->vidlen;
		r->height = v->height;
		if ((rc = buf_append(&ids, v->vid, v->vidlen)) != 0)
			break;
		r->parent_off = (uint32_t)ids.len;
		r->parentlen = p ? p->vidlen : 0;
		if (p && (rc = buf_append(&ids, p->vid, p->vidlen)) != 0)
			break;
		nrows++;
	}
	pthread_rwlock_unlock(&db->vg_lock);
	for (uint32_t i = 0; rc == 0 && i < nrows; i++) {
		const struct vrow *r = &rows[i];
		int stop = fn(ctx, ids.p + r->vid_off, r->vidlen,
			      r->parentlen ? ids.p + r->parent_off : NULL, r->parentlen, r->height);

		if (stop)
			rc = err_canceled("iodb_versions", stop);
	}
	mem_free(rows);
	buf_free(&ids);
	return rc;
}

int iodb_snapshot_open(iodb *db, const void *vid, size_t vidlen, iodb_snapshot **out)
{
	iodb_snapshot *s;
	roaring_bitmap_t *anc = NULL;
	const struct version *v;
	struct view *cur;
	int rc = 0;

	RET(db_handle_check(db));
	if (!out || (vid && (vidlen == 0 || vidlen > IODB_MAX_VID)) || (!vid && vidlen))
		return err_set(IODB_EINVAL, "iodb_snapshot_open: bad arguments");
	if (!(s = mem_calloc(1, sizeof(*s))))
		return err_set(IODB_ENOMEM, "out of memory opening a snapshot");
	s->magic = SNAP_MAGIC;
	s->db = db;
	/* The head view taken under the graph lock: the leader publishes it under the same
	 * lock, so its memtable and stores hold everything the graph can name (both only grow),
	 * and the version it views is retained while the lock is held. */
	pthread_rwlock_rdlock(&db->vg_lock);
	cur = db_view_acquire(db);
	v = vid ? vg_find(&db->vg, vid, vidlen) : vg_get(&db->vg, cur->head);
	if (vid && !v) {
		rc = err_set(IODB_NOTFOUND, "no retained version has that ID");
	} else if (v) {
		s->n = v->n;
		s->height = v->height;
		s->vidlen = v->vidlen;
		memcpy(s->vid, v->vid, v->vidlen);
		if (v->mr) { /* recent, the head or the base: pinned at no cost */
			s->mr = v->mr;
			mroots_ref(s->mr);
		}
		if (vid)
			rc = vg_ancestors(&db->vg, v->n, &anc);
	}
	pthread_rwlock_unlock(&db->vg_lock);
	if (rc == 0 && vid)
		rc = view_new(s->n, anc, cur->mem, cur->tab, cur->stores, &s->v);
	if (rc == 0 && !vid) {
		s->v = cur;
		cur = NULL;
	}
	view_unref(cur);
	if (rc) {
		view_unref(s->v);
		mroots_unref(s->mr);
		mem_free(s);
		return rc;
	}
	db->open_snaps++;
	*out = s;
	return 0;
}

int iodb_snapshot_get(iodb_snapshot *s, const char *store, const void *key, size_t klen,
		      void **val, size_t *vlen)
{
	RET(snapshot_check(s, NULL));
	return view_get(s->v, store, key, klen, val, vlen);
}

int snapshot_check(const iodb_snapshot *s, const iodb *db)
{
	if (!s)
		return db ? 0 : err_set(IODB_EINVAL, "snapshot must not be NULL");
	if (s->magic != SNAP_MAGIC)
		return err_set(IODB_EINVAL, "not an open snapshot (closed already?)");
	if (db && s->db != db)
		return err_set(IODB_EINVAL, "the snapshot belongs to another store handle");
	return 0;
}

void iodb_snapshot_close(iodb_snapshot *s)
{
	if (!s)
		return;
	if (s->magic != SNAP_MAGIC) {
		err_set(IODB_EINVAL, "iodb_snapshot_close: not an open snapshot (closed already?)");
		return;
	}
	s->magic = DEAD_MAGIC;
	view_unref(s->v);
	mroots_unref(s->mr);
	s->mr = NULL;
	s->db->open_snaps--;
	db_handle_retire(s->db, s);
}

struct view *snapshot_view(iodb_snapshot *s)
{
	view_ref(s->v);
	return s->v;
}

int iodb_version_at_height(iodb *db, uint64_t height, void **vid, size_t *vidlen)
{
	const struct vgraph *g;
	const struct version *v;
	void *copy = NULL;
	int rc = 0;

	RET(db_handle_check(db));
	g = &db->vg;
	if (!vid || !vidlen)
		return err_set(IODB_EINVAL, "vid and vidlen must not be NULL");
	if (height == 0 || height > IODB_MAX_HEIGHT)
		return err_set(IODB_EINVAL, "height %llu: heights are 1 to IODB_MAX_HEIGHT",
			       (unsigned long long)height);
	pthread_rwlock_rdlock(&db->vg_lock);
	/* Down the head's ancestry a chain at a time: versions n down to chain_lo are each
	 * the parent of the next, so their heights are consecutive too. */
	v = g->head ? vg_get(g, g->head) : NULL;
	while (v && v->height > height) {
		uint64_t back = v->height - height;
		const struct version *lo;

		if (v->n - v->chain_lo >= back) {
			v = vg_get(g, v->n - (uint32_t)back);
			break;
		}
		lo = vg_get(g, v->chain_lo); /* NULL if the chain starts below the base */
		if (lo)
			v = lo->parent ? vg_get(g, lo->parent) : NULL;
		else
			v = v->parent && v->n != g->base ? vg_get(g, v->parent) : NULL;
	}
	if (!v || v->height != height)
		rc = err_set(IODB_NOTFOUND, "no version at height %llu on the head's retained "
					    "ancestry",
			     (unsigned long long)height);
	else if (!(copy = mem_alloc(v->vidlen)))
		rc = err_set(IODB_ENOMEM, "out of memory");
	else {
		memcpy(copy, v->vid, v->vidlen);
		*vid = copy;
		*vidlen = v->vidlen;
	}
	pthread_rwlock_unlock(&db->vg_lock);
	return rc;
}
