/*
 * iter.c — the user iterator.
 *
 * Internal sources (memtables, the shard map's runs) yield entries in internal order: store,
 * key ascending, n descending; a merging iterator (shards/merge.c) interleaves them. The user
 * iterator turns that stream into the keys of one store as a view sees them:
 *
 *   forward:  the first entry of a key whose n is in the view's ancestor set is the key's
 *             value (or tombstone: the key is skipped); the internal iterator rests on it.
 *   backward: entries of a key come n ascending, so the last visible one met before the key
 *             changes is its value; the internal iterator rests before the key's entries.
 *
 * Switching direction re-seeks to the current key. The current key and value are copied
 * into the iterator's own buffers, so they stay valid until it moves, whatever the sources
 * do.
 */
#include "lib/db/db_int.h"

/* ---- User iterator -------------------------------------------------------------------- */

struct iodb_iter {
	uint32_t magic; /* ITER_MAGIC while open */
	iodb *db;
	struct view *v;
	struct iiter *it;
	uint32_t store;
	int has_store; /* the store exists in the view's table */
	int valid;
	int backward;
	struct buf key, val;
};

static int visible(const iodb_iter *u, uint32_t n)
{
	return roaring_bitmap_contains(u->v->anc, n);
}

static int same_key(const struct entry *e, const struct buf *k)
{
	return key_cmp(e->key, e->klen, k->p, k->len) == 0;
}

static int set_buf(struct buf *b, const void *p, size_t n)
{
	b->len = 0;
	return buf_append(b, p, n);
}

/* Forward to the next key with a visible value; skip entries of key `skip` (if given). */
static int find_next(iodb_iter *u, int skip)
{
	struct iiter *it = u->it;

	u->valid = 0;
	u->backward = 0;
	while (it->ops->valid(it)) {
		const struct entry *e = it->ops->entry(it);

		if (e->store != u->store)
			break;
		if (skip && same_key(e, &u->key)) {
			it->ops->next(it);
			continue;
		}
		if (!visible(u, e->n)) {
			it->ops->next(it);
			continue;
		}
		/* The key's value in this view. */
		RET(set_buf(&u->key, e->key, e->klen));
		if (e->tomb) {
			skip = 1;
			it->ops->next(it);
			continue;
		}
		RET(set_buf(&u->val, e->val, e->vlen));
		u->valid = 1;
		return 0;
	}
	return it->ops->status(it);
}

/* Backward to the previous key with a visible value; the internal iterator is before the
 * current key's entries. */
static int find_prev(iodb_iter *u)
{
	struct iiter *it = u->it;
	enum { NONE, VALUE, TOMB } cand = NONE;

	u->valid = 0;
	u->backward = 1;
	while (it->ops->valid(it)) {
		const struct entry *e = it->ops->entry(it);

		if (e->store != u->store)
			break;
		if (cand != NONE && !same_key(e, &u->key)) {
			if (cand == VALUE)
				break;
			cand = NONE;
		}
		if (visible(u, e->n)) {
			RET(set_buf(&u->key, e->key, e->klen));
			if (e->tomb) {
				cand = TOMB;
			} else {
				RET(set_buf(&u->val, e->val, e->vlen));
				cand = VALUE;
			}
		}
		it->ops->prev(it);
	}
	u->valid = cand == VALUE;
	return it->ops->status(it);
}

/* Just before the first entry >= (store, key) of the internal order, where a backward walk
 * to that point starts. A seek that failed is reported, not taken for the end of the data
 * (last() would start afresh and lose the error, and a store would look empty). */
static int seek_before(iodb_iter *u, uint32_t store, const uint8_t *key, size_t klen)
{
	struct iiter *it = u->it;

	it->ops->seek(it, store, key, klen, N_MAX);
	if (it->ops->valid(it))
		it->ops->prev(it);
	else if (it->ops->status(it) == 0)
		it->ops->last(it);
	return it->ops->status(it);
}

/* Ran off an end: a plain IODB_NOTFOUND of a read, whose message is "" (iodb.h), so that
 * no older detail is taken for this call's. */
static int off_the_end(void)
{
	err_clear();
	return IODB_NOTFOUND;
}

static int result(const iodb_iter *u, int rc)
{
	if (rc)
		return rc;
	return u->valid ? IODB_OK : off_the_end();
}

int iodb_iter_open(iodb *db, iodb_snapshot *s, const char *store, iodb_iter **out)
{
	const uint8_t *name;
	size_t nlen;
	int64_t sid;
	iodb_iter *u;
	int rc;

	RET(db_handle_check(db));
	if (!out)
		return err_set(IODB_EINVAL, "iodb_iter_open: db and it must not be NULL");
	RET(snapshot_check(s, db));
	RET(check_store(store, &name, &nlen));
	if (!(u = mem_calloc(1, sizeof(*u))))
		return err_set(IODB_ENOMEM, "out of memory opening an iterator");
	u->magic = ITER_MAGIC;
	u->db = db;
	u->v = s ? snapshot_view(s) : db_view_acquire(db);
	buf_init(&u->key);
	buf_init(&u->val);
	if ((sid = stores_find(u->v->stores, name, nlen)) >= 0) {
		u->has_store = 1;
		u->store = (uint32_t)sid;
	}
	{
		/* Sources: the memtable, the frozen ones, the shards. */
		struct tables *t = u->v->tab;
		uint32_t nf = t ? t->nfrozen : 0, nc = 0;
		struct iiter *c[2 + 64], **cs = c;

		if (nf + 2 > 66 && !(cs = mem_alloc((nf + 2) * sizeof(*cs)))) {
			rc = err_set(IODB_ENOMEM, "out of memory opening an iterator");
			goto err;
		}
		rc = mt_iter_new(u->v->mem, &cs[nc]);
		nc += rc == 0;
		for (uint32_t i = 0; rc == 0 && i < nf; i++) {
			rc = mt_iter_new(t->frozen[i], &cs[nc]);
			nc += rc == 0;
		}
		if (rc == 0 && t) {
			rc = smap_iter_new(t->map, &cs[nc]);
			nc += rc == 0;
		}
		if (rc == 0)
			rc = merge_iter_new(cs, nc, &u->it);
		else
			while (nc-- > 0)
				cs[nc]->ops->close(cs[nc]);
		if (cs != c)
			mem_free(cs);
		if (rc)
			goto err;
	}
	db->open_iters++;
	*out = u;
	return 0;
err:
	view_unref(u->v);
	mem_free(u);
	return rc;
}

void iodb_iter_close(iodb_iter *u)
{
	if (!u)
		return;
	if (u->magic != ITER_MAGIC) {
		err_set(IODB_EINVAL, "iodb_iter_close: not an open iterator (closed already?)");
		return;
	}
	u->magic = DEAD_MAGIC;
	u->valid = 0;
	u->it->ops->close(u->it);
	view_unref(u->v);
	buf_free(&u->key);
	buf_free(&u->val);
	u->db->open_iters--;
	db_handle_retire(u->db, u);
}

/* An iterator handle that is open (its magic), for every call on one. */
static int live(const iodb_iter *u, const char *fn)
{
	if (!u)
		return err_set(IODB_EINVAL, "%s: iterator must not be NULL", fn);
	if (u->magic != ITER_MAGIC)
		return err_set(IODB_EINVAL, "%s: not an open iterator (closed already?)", fn);
	return 0;
}

int iodb_iter_first(iodb_iter *u)
{
	RET(live(u, "iodb_iter_first"));
	u->valid = 0;
	if (!u->has_store)
		return off_the_end();
	u->it->ops->seek(u->it, u->store, NULL, 0, N_MAX);
	return result(u, find_next(u, 0));
}

int iodb_iter_last(iodb_iter *u)
{
	RET(live(u, "iodb_iter_last"));
	u->valid = 0;
	if (!u->has_store)
		return off_the_end();
	/* The first entry of any later store, then one back. */
	RET(seek_before(u, u->store + 1, NULL, 0));
	return result(u, find_prev(u));
}

int iodb_iter_seek(iodb_iter *u, const void *key, size_t klen)
{
	RET(live(u, "iodb_iter_seek"));
	RET(check_key(key, klen));
	u->valid = 0;
	if (!u->has_store)
		return off_the_end();
	u->it->ops->seek(u->it, u->store, key, klen, N_MAX);
	return result(u, find_next(u, 0));
}

int iodb_iter_next(iodb_iter *u)
{
	RET(live(u, "iodb_iter_next"));
	if (!u->valid)
		return err_set(IODB_EINVAL, "iodb_iter_next: the iterator is not on an entry");
	if (u->backward) /* back to the current key's first entry, then past it */
		u->it->ops->seek(u->it, u->store, u->key.p, u->key.len, N_MAX);
	return result(u, find_next(u, 1));
}

int iodb_iter_prev(iodb_iter *u)
{
	RET(live(u, "iodb_iter_prev"));
	if (!u->valid)
		return err_set(IODB_EINVAL, "iodb_iter_prev: the iterator is not on an entry");
	if (!u->backward) {
		/* Before the current key's entries. */
		int rc = seek_before(u, u->store, u->key.p, u->key.len);

		if (rc) {
			u->valid = 0;
			return rc;
		}
	}
	return result(u, find_prev(u));
}

int iodb_iter_valid(const iodb_iter *u)
{
	return u && u->magic == ITER_MAGIC && u->valid;
}

int iodb_iter_key(const iodb_iter *u, const void **key, size_t *klen)
{
	RET(live(u, "iodb_iter_key"));
	if (!u->valid || !key || !klen)
		return err_set(IODB_EINVAL, "iodb_iter_key: the iterator is not on an entry");
	*key = u->key.p;
	*klen = u->key.len;
	return 0;
}

int iodb_iter_value(const iodb_iter *u, const void **val, size_t *vlen)
{
	RET(live(u, "iodb_iter_value"));
	if (!u->valid || !val || !vlen)
		return err_set(IODB_EINVAL, "iodb_iter_value: the iterator is not on an entry");
	*val = u->val.len ? (const void *)u->val.p : (const void *)"";
	*vlen = u->val.len;
	return 0;
}
