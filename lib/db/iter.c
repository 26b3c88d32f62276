/*
 * iter.c — the merging iterator over internal sources, and the user iterator on top.
 *
 * Internal sources (memtables now; run files with the shards) yield entries in internal
 * order: store, key ascending, n descending. The merging iterator interleaves them; the
 * user iterator turns that stream into the keys of one store as a view sees them:
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

/* ---- Merging iterator ----------------------------------------------------------------- */

struct merge_iter {
	struct iiter base;
	struct iiter **c;
	size_t n;
	struct iiter *cur;
	int backward;
};

static int child_cmp(const struct iiter *a, const struct iiter *b)
{
	const struct entry *x = a->ops->entry(a), *y = b->ops->entry(b);

	return entry_cmp(x->store, x->key, x->klen, x->n, y->store, y->key, y->klen, y->n);
}

static void mi_pick(struct merge_iter *m, int largest)
{
	m->cur = NULL;
	for (size_t i = 0; i < m->n; i++) {
		struct iiter *c = m->c[i];

		if (!c->ops->valid(c))
			continue;
		if (!m->cur || (largest ? child_cmp(c, m->cur) > 0 : child_cmp(c, m->cur) < 0))
			m->cur = c;
	}
}

static void mi_seek(struct iiter *i, uint32_t store, const uint8_t *key, size_t klen, uint32_t n)
{
	struct merge_iter *m = (struct merge_iter *)i;

	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->seek(m->c[k], store, key, klen, n);
	m->backward = 0;
	mi_pick(m, 0);
}

static void mi_first(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->first(m->c[k]);
	m->backward = 0;
	mi_pick(m, 0);
}

static void mi_last(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->last(m->c[k]);
	m->backward = 1;
	mi_pick(m, 1);
}

static void mi_next(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	if (m->backward) {
		/* Bring every other child to its first entry after the current one. Entries are
		 * unique across sources, so that is the first entry >= the current one. */
		const struct entry *e = m->cur->ops->entry(m->cur);

		for (size_t k = 0; k < m->n; k++)
			if (m->c[k] != m->cur)
				m->c[k]->ops->seek(m->c[k], e->store, e->key, e->klen, e->n);
		m->backward = 0;
	}
	m->cur->ops->next(m->cur);
	mi_pick(m, 0);
}

static void mi_prev(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	if (!m->backward) {
		const struct entry *e = m->cur->ops->entry(m->cur);

		for (size_t k = 0; k < m->n; k++) {
			struct iiter *c = m->c[k];

			if (c == m->cur)
				continue;
			c->ops->seek(c, e->store, e->key, e->klen, e->n);
			if (c->ops->valid(c))
				c->ops->prev(c);
			else
				c->ops->last(c);
		}
		m->backward = 1;
	}
	m->cur->ops->prev(m->cur);
	mi_pick(m, 1);
}

static int mi_valid(const struct iiter *i)
{
	return ((const struct merge_iter *)i)->cur != NULL;
}

static const struct entry *mi_entry(const struct iiter *i)
{
	const struct merge_iter *m = (const struct merge_iter *)i;

	return m->cur->ops->entry(m->cur);
}

static int mi_status(const struct iiter *i)
{
	const struct merge_iter *m = (const struct merge_iter *)i;

	for (size_t k = 0; k < m->n; k++) {
		int rc = m->c[k]->ops->status(m->c[k]);

		if (rc)
			return rc;
	}
	return 0;
}

static void mi_close(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->close(m->c[k]);
	mem_free(m->c);
	mem_free(m);
}

static const struct iiter_ops merge_iter_ops = {
	mi_seek, mi_first, mi_last, mi_next, mi_prev, mi_valid, mi_entry, mi_status, mi_close,
};

int merge_iter_new(struct iiter **children, size_t n, struct iiter **out)
{
	struct merge_iter *m = mem_calloc(1, sizeof(*m));

	if (!m || !(m->c = mem_alloc(n * sizeof(*m->c)))) {
		mem_free(m);
		for (size_t k = 0; k < n; k++)
			children[k]->ops->close(children[k]);
		return err_set(IODB_ENOMEM, "out of memory opening an iterator");
	}
	memcpy(m->c, children, n * sizeof(*m->c));
	m->n = n;
	m->base.ops = &merge_iter_ops;
	*out = &m->base;
	return 0;
}

/* ---- User iterator -------------------------------------------------------------------- */

struct iodb_iter {
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

static int result(const iodb_iter *u, int rc)
{
	if (rc)
		return rc;
	return u->valid ? IODB_OK : IODB_NOTFOUND;
}

int iodb_iter_open(iodb *db, iodb_snapshot *s, const char *store, iodb_iter **out)
{
	const uint8_t *name;
	size_t nlen;
	int64_t sid;
	iodb_iter *u;
	struct iiter *child;
	int rc;

	if (!db || !out)
		return err_set(IODB_EINVAL, "iodb_iter_open: db and it must not be NULL");
	RET(check_store(store, &name, &nlen));
	if (!(u = mem_calloc(1, sizeof(*u))))
		return err_set(IODB_ENOMEM, "out of memory opening an iterator");
	u->db = db;
	u->v = s ? snapshot_view(s) : db_view_acquire(db);
	buf_init(&u->key);
	buf_init(&u->val);
	if ((sid = stores_find(u->v->stores, name, nlen)) >= 0) {
		u->has_store = 1;
		u->store = (uint32_t)sid;
	}
	ERR(mt_iter_new(u->v->mem, &child));
	ERR(merge_iter_new(&child, 1, &u->it));
	db->open_readers++;
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
	u->it->ops->close(u->it);
	view_unref(u->v);
	buf_free(&u->key);
	buf_free(&u->val);
	u->db->open_readers--;
	mem_free(u);
}

int iodb_iter_first(iodb_iter *u)
{
	if (!u)
		return err_set(IODB_EINVAL, "iterator must not be NULL");
	u->valid = 0;
	if (!u->has_store)
		return IODB_NOTFOUND;
	u->it->ops->seek(u->it, u->store, NULL, 0, N_MAX);
	return result(u, find_next(u, 0));
}

int iodb_iter_last(iodb_iter *u)
{
	if (!u)
		return err_set(IODB_EINVAL, "iterator must not be NULL");
	u->valid = 0;
	if (!u->has_store)
		return IODB_NOTFOUND;
	/* The first entry of any later store, then one back. */
	u->it->ops->seek(u->it, u->store + 1, NULL, 0, N_MAX);
	if (u->it->ops->valid(u->it))
		u->it->ops->prev(u->it);
	else
		u->it->ops->last(u->it);
	return result(u, find_prev(u));
}

int iodb_iter_seek(iodb_iter *u, const void *key, size_t klen)
{
	if (!u)
		return err_set(IODB_EINVAL, "iterator must not be NULL");
	RET(check_key(key, klen));
	u->valid = 0;
	if (!u->has_store)
		return IODB_NOTFOUND;
	u->it->ops->seek(u->it, u->store, key, klen, N_MAX);
	return result(u, find_next(u, 0));
}

int iodb_iter_next(iodb_iter *u)
{
	if (!u || !u->valid)
		return err_set(IODB_EINVAL, "iodb_iter_next: the iterator is not on an entry");
	if (u->backward) /* back to the current key's first entry, then past it */
		u->it->ops->seek(u->it, u->store, u->key.p, u->key.len, N_MAX);
	return result(u, find_next(u, 1));
}

int iodb_iter_prev(iodb_iter *u)
{
	if (!u || !u->valid)
		return err_set(IODB_EINVAL, "iodb_iter_prev: the iterator is not on an entry");
	if (!u->backward) {
		/* Before the current key's entries. */
		u->it->ops->seek(u->it, u->store, u->key.p, u->key.len, N_MAX);
		if (u->it->ops->valid(u->it))
			u->it->ops->prev(u->it);
		else
			u->it->ops->last(u->it);
	}
	return result(u, find_prev(u));
}

int iodb_iter_valid(const iodb_iter *u)
{
	return u && u->valid;
}

int iodb_iter_key(const iodb_iter *u, const void **key, size_t *klen)
{
	if (!u || !u->valid || !key || !klen)
		return err_set(IODB_EINVAL, "iodb_iter_key: the iterator is not on an entry");
	*key = u->key.p;
	*klen = u->key.len;
	return 0;
}

int iodb_iter_value(const iodb_iter *u, const void **val, size_t *vlen)
{
	if (!u || !u->valid || !val || !vlen)
		return err_set(IODB_EINVAL, "iodb_iter_value: the iterator is not on an entry");
	*val = u->val.len ? (const void *)u->val.p : (const void *)"";
	*vlen = u->val.len;
	return 0;
}
