/*
 * shardmap.c — the shard map: which runs hold which key range, immutable once published.
 *
 * A map is swapped whole (copy, edit, publish) and reference-counted, so a reader that took
 * it reads the same runs until it lets go, whatever distribute and compaction install
 * meanwhile; a run removed by an edit lives on until the last map holding it is freed.
 *
 * Reads: a point read goes to the one shard owning the key and asks its runs newest first
 * (max_n descending), stopping once no remaining run can hold a newer entry than the one
 * found. An iterator walks the shards in order, merging the runs of one shard at a time.
 */
#include <stdlib.h>

#include "shards/shards.h"

int ikey_cmp(uint32_t store, const uint8_t *key, size_t klen, const uint8_t *ik, size_t iklen)
{
	uint8_t sb[4]; /* big-endian store id: byte order is numeric order */
	int c;

	sb[0] = (uint8_t)(store >> 24);
	sb[1] = (uint8_t)(store >> 16);
	sb[2] = (uint8_t)(store >> 8);
	sb[3] = (uint8_t)store;
	if ((c = memcmp(sb, ik, iklen < 4 ? iklen : 4)) != 0)
		return c;
	if (iklen < 4)
		return 1; /* ik is a proper prefix of the store id bytes */
	return key_cmp(key, klen, ik + 4, iklen - 4);
}

static void shard_clear(struct shard *s)
{
	for (uint32_t i = 0; i < s->nruns; i++)
		run_unref(s->runs[i]);
	mem_free(s->runs);
	mem_free(s->lo);
}

static void smap_free(struct shard_map *m)
{
	for (uint32_t i = 0; i < m->n; i++)
		shard_clear(&m->v[i]);
	mem_free(m->v);
	mem_free(m);
}

void smap_ref(struct shard_map *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void smap_unref(struct shard_map *m)
{
	if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
		smap_free(m);
}

static struct shard_map *smap_alloc(uint32_t n)
{
	struct shard_map *m = mem_calloc(1, sizeof(*m));

	if (!m || !(m->v = mem_calloc(n ? n : 1, sizeof(*m->v)))) {
		mem_free(m);
		return NULL;
	}
	atomic_init(&m->refs, 1);
	m->n = n;
	return m;
}

int smap_new(uint32_t n, const uint32_t *ids, uint8_t *const *lo, const uint32_t *lolen,
	     struct shard_map **out)
{
	struct shard_map *m = smap_alloc(n);

	if (!m)
		return err_set(IODB_ENOMEM, "out of memory building the shard map");
	for (uint32_t i = 0; i < n; i++) {
		m->v[i].id = ids[i];
		m->v[i].lolen = lolen[i];
		if (lolen[i] && !(m->v[i].lo = mem_dup(lo[i], lolen[i]))) {
			smap_free(m);
			return err_set(IODB_ENOMEM, "out of memory building the shard map");
		}
	}
	*out = m;
	return 0;
}

int64_t smap_index(const struct shard_map *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->v[i].id == id)
			return i;
	return -1;
}

uint32_t smap_find(const struct shard_map *m, uint32_t store, const uint8_t *key, size_t klen)
{
	uint32_t lo = 0, hi = m->n; /* the last shard whose lo <= (store, key) */

	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ikey_cmp(store, key, klen, m->v[mid].lo, m->v[mid].lolen) >= 0)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static int run_newer(const void *a, const void *b)
{
	const struct run_meta *x = run_meta(*(struct run *const *)a);
	const struct run_meta *y = run_meta(*(struct run *const *)b);

	if (x->max_n != y->max_n)
		return x->max_n > y->max_n ? -1 : 1;
	return x->file_no > y->file_no ? -1 : x->file_no < y->file_no;
}

int smap_edit(const struct shard_map *m, struct run **add, const uint32_t *add_shard,
	      uint32_t nadd, const uint64_t *del, uint32_t ndel, struct shard_map **out)
{
	struct shard_map *t = smap_alloc(m->n);
	int rc = 0;

	if (!t)
		return err_set(IODB_ENOMEM, "out of memory editing the shard map");
	for (uint32_t i = 0; i < m->n; i++) {
		const struct shard *s = &m->v[i];
		struct shard *d = &t->v[i];
		uint32_t cap = s->nruns + nadd;

		d->id = s->id;
		d->lolen = s->lolen;
		if ((s->lolen && !(d->lo = mem_dup(s->lo, s->lolen))) ||
		    (cap && !(d->runs = mem_alloc(cap * sizeof(*d->runs))))) {
			rc = err_set(IODB_ENOMEM, "out of memory editing the shard map");
			goto err;
		}
		for (uint32_t k = 0; k < s->nruns; k++) {
			uint64_t no = run_meta(s->runs[k])->file_no;
			int gone = 0;

			for (uint32_t x = 0; x < ndel && !gone; x++)
				gone = del[x] == no;
			if (gone)
				continue;
			run_ref(s->runs[k]);
			d->runs[d->nruns++] = s->runs[k];
			d->bytes += run_meta(s->runs[k])->size;
		}
		for (uint32_t k = 0; k < nadd; k++) {
			if (add_shard[k] != s->id)
				continue;
			run_ref(add[k]);
			d->runs[d->nruns++] = add[k];
			d->bytes += run_meta(add[k])->size;
		}
		if (d->nruns > 1)
			qsort(d->runs, d->nruns, sizeof(*d->runs), run_newer);
	}
	for (uint32_t k = 0; k < nadd; k++)
		if (smap_index(m, add_shard[k]) < 0) {
			rc = err_set(IODB_EINVAL, "run added to shard %u, which does not exist",
				     add_shard[k]);
			goto err;
		}
	*out = t;
	return 0;
err:
	smap_free(t);
	return rc;
}

int smap_splice(const struct shard_map *m, uint32_t at, uint32_t ndel,
		const struct shard_spec *nw, uint32_t nnew, struct shard_map **out)
{
	struct shard_map *t;
	uint32_t j = 0;

	if (at + ndel > m->n || m->n - ndel + nnew == 0)
		return err_set(IODB_EINVAL, "shard map splice out of range");
	if (!(t = smap_alloc(m->n - ndel + nnew)))
		return err_set(IODB_ENOMEM, "out of memory editing the shard map");
	for (uint32_t i = 0; i < m->n; i++) {
		const struct shard *s = &m->v[i];

		if (i == at)
			for (uint32_t k = 0; k < nnew; k++) {
				struct shard *d = &t->v[j++];

				d->id = nw[k].id;
				d->lolen = nw[k].lolen;
				if ((nw[k].lolen && !(d->lo = mem_dup(nw[k].lo, nw[k].lolen))) ||
				    (nw[k].nruns &&
				     !(d->runs = mem_alloc(nw[k].nruns * sizeof(*d->runs)))))
					goto nomem;
				for (uint32_t r = 0; r < nw[k].nruns; r++) {
					run_ref(nw[k].runs[r]);
					d->runs[d->nruns++] = nw[k].runs[r];
					d->bytes += run_meta(nw[k].runs[r])->size;
				}
				if (d->nruns > 1)
					qsort(d->runs, d->nruns, sizeof(*d->runs), run_newer);
			}
		if (i >= at && i < at + ndel)
			continue;
		{
			struct shard *d = &t->v[j++];

			d->id = s->id;
			d->lolen = s->lolen;
			d->bytes = s->bytes;
			if ((s->lolen && !(d->lo = mem_dup(s->lo, s->lolen))) ||
			    (s->nruns && !(d->runs = mem_alloc(s->nruns * sizeof(*d->runs)))))
				goto nomem;
			for (uint32_t r = 0; r < s->nruns; r++) {
				run_ref(s->runs[r]);
				d->runs[d->nruns++] = s->runs[r];
			}
		}
	}
	if (at == m->n) /* appending is not a splice of this map: ranges must tile */
		goto inval;
	for (uint32_t i = 1; i < t->n; i++)
		if (key_cmp(t->v[i - 1].lo, t->v[i - 1].lolen, t->v[i].lo, t->v[i].lolen) >= 0)
			goto inval;
	if (t->v[0].lolen != 0)
		goto inval;
	*out = t;
	return 0;
inval:
	smap_free(t);
	return err_set(IODB_EINVAL, "shard map splice leaves shard boundaries out of order");
nomem:
	smap_free(t);
	return err_set(IODB_ENOMEM, "out of memory editing the shard map");
}

int smap_get(const struct shard_map *m, uint32_t store, const uint8_t *key, uint32_t klen,
	     const roaring_bitmap_t *anc, struct entry *e, struct block **hold)
{
	const struct shard *s = &m->v[smap_find(m, store, key, klen)];
	int found = 0;

	*hold = NULL;
	for (uint32_t i = 0; i < s->nruns; i++) {
		struct entry x;
		struct block *h;
		int rc;

		/* Runs come max_n descending: none further on can beat what was found. */
		if (found && run_meta(s->runs[i])->max_n < e->n)
			break;
		if ((rc = run_get(s->runs[i], store, key, klen, anc, &x, &h)) < 0) {
			block_unref(*hold);
			*hold = NULL;
			return rc;
		}
		if (rc == 0)
			continue;
		if (found && x.n <= e->n) {
			block_unref(h);
			continue;
		}
		block_unref(*hold);
		*hold = h;
		*e = x;
		found = 1;
	}
	return found;
}

/* ---- Iterator over the shards --------------------------------------------------------- */

struct smap_iter {
	struct iiter base;
	struct shard_map *m;
	uint32_t i;	    /* shard of child */
	struct iiter *child; /* merge of shard i's runs; NULL: none open */
	int rc;
};

static int si_open(struct smap_iter *s, uint32_t i)
{
	const struct shard *sh = &s->m->v[i];

	if (s->child)
		s->child->ops->close(s->child);
	s->child = NULL;
	s->i = i;
	if (sh->nruns == 0)
		return 0;
	return s->rc = runs_iter_new(sh->runs, sh->nruns, 0, &s->child);
}

static int si_child_valid(const struct smap_iter *s)
{
	return s->child && s->child->ops->valid(s->child);
}

static int si_child_failed(const struct smap_iter *s)
{
	return s->rc || (s->child && s->child->ops->status(s->child));
}

/* The child is exhausted going forward: on to the next shard with an entry. */
static void si_forward(struct smap_iter *s)
{
	while (!si_child_valid(s) && !si_child_failed(s) && s->i + 1 < s->m->n) {
		if (si_open(s, s->i + 1) == 0 && s->child)
			s->child->ops->first(s->child);
	}
}

static void si_backward(struct smap_iter *s)
{
	while (!si_child_valid(s) && !si_child_failed(s) && s->i > 0) {
		if (si_open(s, s->i - 1) == 0 && s->child)
			s->child->ops->last(s->child);
	}
}

static void si_seek(struct iiter *it, uint32_t store, const uint8_t *key, size_t klen, uint32_t n)
{
	struct smap_iter *s = (struct smap_iter *)it;

	s->rc = 0;
	if (si_open(s, smap_find(s->m, store, key, klen)) == 0 && s->child)
		s->child->ops->seek(s->child, store, key, klen, n);
	si_forward(s);
}

static void si_first(struct iiter *it)
{
	struct smap_iter *s = (struct smap_iter *)it;

	s->rc = 0;
	if (si_open(s, 0) == 0 && s->child)
		s->child->ops->first(s->child);
	si_forward(s);
}

static void si_last(struct iiter *it)
{
	struct smap_iter *s = (struct smap_iter *)it;

	s->rc = 0;
	if (si_open(s, s->m->n - 1) == 0 && s->child)
		s->child->ops->last(s->child);
	si_backward(s);
}

static void si_next(struct iiter *it)
{
	struct smap_iter *s = (struct smap_iter *)it;

	s->child->ops->next(s->child);
	si_forward(s);
}

static void si_prev(struct iiter *it)
{
	struct smap_iter *s = (struct smap_iter *)it;

	s->child->ops->prev(s->child);
	si_backward(s);
}

static int si_valid(const struct iiter *it)
{
	const struct smap_iter *s = (const struct smap_iter *)it;

	return !s->rc && si_child_valid(s);
}

static const struct entry *si_entry(const struct iiter *it)
{
	const struct smap_iter *s = (const struct smap_iter *)it;

	return s->child->ops->entry(s->child);
}

static int si_status(const struct iiter *it)
{
	const struct smap_iter *s = (const struct smap_iter *)it;

	if (s->rc)
		return s->rc;
	return s->child ? s->child->ops->status(s->child) : 0;
}

static void si_close(struct iiter *it)
{
	struct smap_iter *s = (struct smap_iter *)it;

	if (s->child)
		s->child->ops->close(s->child);
	smap_unref(s->m);
	mem_free(s);
}

static const struct iiter_ops smap_iter_ops = {
	si_seek, si_first, si_last, si_next, si_prev, si_valid, si_entry, si_status, si_close,
};

int smap_iter_new(struct shard_map *m, struct iiter **out)
{
	struct smap_iter *s = mem_calloc(1, sizeof(*s));

	if (!s)
		return err_set(IODB_ENOMEM, "out of memory opening an iterator");
	s->base.ops = &smap_iter_ops;
	s->m = m;
	smap_ref(m);
	*out = &s->base;
	return 0;
}
