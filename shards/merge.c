/*
 * merge.c — the merging iterator: one stream in internal order out of several sources
 * (memtables, runs), each already in that order: a binary heap of the children, smallest
 * entry on top going forward, largest going backward. Switching direction re-seeks every
 * child around the current entry. A child that fails stops the whole stream (valid() 0,
 * status() its error): going on would silently leave its entries out.
 */
#include "shards/shards.h"

struct merge_iter {
	struct iiter base;
	struct iiter **c;
	size_t n;
	size_t *heap; /* child indexes: smallest entry on top going forward, largest backward */
	size_t nheap;
	int backward;
	int rc; /* a child failed: the merged stream stops (entries would be missing) */
};

static int child_cmp(const struct iiter *a, const struct iiter *b)
{
	const struct entry *x = a->ops->entry(a), *y = b->ops->entry(b);

	return entry_cmp(x->store, x->key, x->klen, x->n, y->store, y->key, y->klen, y->n);
}

/* Does heap slot i belong above slot j? */
static int above(const struct merge_iter *m, size_t i, size_t j)
{
	int c = child_cmp(m->c[m->heap[i]], m->c[m->heap[j]]);

	return m->backward ? c > 0 : c < 0;
}

static void sift_down(struct merge_iter *m, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, best = i, t;

		if (l < m->nheap && above(m, l, best))
			best = l;
		if (r < m->nheap && above(m, r, best))
			best = r;
		if (best == i)
			return;
		t = m->heap[i];
		m->heap[i] = m->heap[best];
		m->heap[best] = t;
		i = best;
	}
}

/* Rebuild the heap from every valid child, after all of them moved. */
static void heap_build(struct merge_iter *m)
{
	m->nheap = 0;
	for (size_t k = 0; k < m->n; k++) {
		struct iiter *c = m->c[k];

		if (c->ops->valid(c))
			m->heap[m->nheap++] = k;
		else if (!m->rc)
			m->rc = c->ops->status(c);
	}
	for (size_t i = m->nheap / 2; i-- > 0;)
		sift_down(m, i);
}

/* The top child moved: restore the heap. */
static void heap_fix_top(struct merge_iter *m)
{
	struct iiter *c = m->c[m->heap[0]];

	if (!c->ops->valid(c)) {
		if (!m->rc)
			m->rc = c->ops->status(c);
		m->heap[0] = m->heap[--m->nheap];
	}
	if (m->nheap)
		sift_down(m, 0);
}

static struct iiter *top(const struct merge_iter *m)
{
	return m->c[m->heap[0]];
}

static void mi_seek(struct iiter *i, uint32_t store, const uint8_t *key, size_t klen, uint32_t n)
{
	struct merge_iter *m = (struct merge_iter *)i;

	m->rc = 0;
	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->seek(m->c[k], store, key, klen, n);
	m->backward = 0;
	heap_build(m);
}

static void mi_first(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	m->rc = 0;
	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->first(m->c[k]);
	m->backward = 0;
	heap_build(m);
}

static void mi_last(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	m->rc = 0;
	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->last(m->c[k]);
	m->backward = 1;
	heap_build(m);
}

static void mi_next(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;
	struct iiter *cur = top(m);

	if (m->backward) {
		/* Bring every other child to its first entry after the current one. Entries are
		 * unique across sources, so that is the first entry >= the current one. */
		const struct entry *e = cur->ops->entry(cur);

		for (size_t k = 0; k < m->n; k++)
			if (m->c[k] != cur)
				m->c[k]->ops->seek(m->c[k], e->store, e->key, e->klen, e->n);
		cur->ops->next(cur);
		m->backward = 0;
		heap_build(m);
		return;
	}
	cur->ops->next(cur);
	heap_fix_top(m);
}

static void mi_prev(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;
	struct iiter *cur = top(m);

	if (!m->backward) {
		const struct entry *e = cur->ops->entry(cur);

		for (size_t k = 0; k < m->n; k++) {
			struct iiter *c = m->c[k];

			if (c == cur)
				continue;
			c->ops->seek(c, e->store, e->key, e->klen, e->n);
			if (c->ops->valid(c))
				c->ops->prev(c);
			else if (!c->ops->status(c))
				c->ops->last(c);
		}
		cur->ops->prev(cur);
		m->backward = 1;
		heap_build(m);
		return;
	}
	cur->ops->prev(cur);
	heap_fix_top(m);
}

static int mi_valid(const struct iiter *i)
{
	const struct merge_iter *m = (const struct merge_iter *)i;

	return m->nheap > 0 && !m->rc;
}

static const struct entry *mi_entry(const struct iiter *i)
{
	const struct merge_iter *m = (const struct merge_iter *)i;

	return top(m)->ops->entry(top(m));
}

static int mi_status(const struct iiter *i)
{
	return ((const struct merge_iter *)i)->rc;
}

static void mi_close(struct iiter *i)
{
	struct merge_iter *m = (struct merge_iter *)i;

	for (size_t k = 0; k < m->n; k++)
		m->c[k]->ops->close(m->c[k]);
	mem_free(m->c);
	mem_free(m->heap);
	mem_free(m);
}

static const struct iiter_ops merge_iter_ops = {
	mi_seek, mi_first, mi_last, mi_next, mi_prev, mi_valid, mi_entry, mi_status, mi_close,
};

int merge_iter_new(struct iiter **children, size_t n, struct iiter **out)
{
	struct merge_iter *m = mem_calloc(1, sizeof(*m));

	if (!m || !(m->c = mem_alloc((n ? n : 1) * sizeof(*m->c))) ||
	    !(m->heap = mem_alloc((n ? n : 1) * sizeof(*m->heap)))) {
		if (m)
			mem_free(m->c);
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


int runs_iter_new(struct run *const *runs, uint32_t n, int scan, struct iiter **it)
{
	struct iiter **c;
	uint32_t k;
	int rc;

	if (!(c = mem_alloc((n ? n : 1) * sizeof(*c))))
		return err_set(IODB_ENOMEM, "out of memory opening an iterator");
	for (k = 0; k < n; k++)
		if ((rc = (scan ? run_scan_new : run_iter_new)(runs[k], &c[k])) != 0) {
			while (k--)
				c[k]->ops->close(c[k]);
			mem_free(c);
			return rc;
		}
	rc = merge_iter_new(c, n, it);
	mem_free(c);
	return rc;
}
