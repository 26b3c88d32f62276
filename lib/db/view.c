/*
 * view.c — read views and the store-name table.
 *
 * A view is everything a read needs, frozen: the ancestor set of the version it reads, the
 * memtable, the store names. Views are immutable and reference-counted, so a reader holds
 * one without any lock while the commit leader publishes newer ones (db_publish swaps the
 * head view under iodb.view_mu, held only for the pointer swap and the reference count).
 */
#include <stdlib.h>

#include "lib/db/db_int.h"

/* ---- Stores --------------------------------------------------------------------------- */

static int stores_alloc(uint32_t n, struct stores **out)
{
	struct stores *s = mem_calloc(1, sizeof(*s));

	if (!s || !(s->v = mem_calloc(n, sizeof(*s->v))) ||
	    !(s->sorted = mem_calloc(n, sizeof(*s->sorted)))) {
		if (s)
			mem_free(s->v);
		mem_free(s);
		return err_set(IODB_ENOMEM, "out of memory in the store table");
	}
	atomic_init(&s->refs, 1);
	s->n = n;
	*out = s;
	return 0;
}

int stores_new_default(struct stores **out)
{
	RET(stores_alloc(1, out));
	(*out)->v[0].len = 0;
	(*out)->sorted[0] = 0;
	return 0;
}

static int name_cmp(const struct store_name *a, const uint8_t *name, size_t len)
{
	return key_cmp((const uint8_t *)a->name, a->len, name, len);
}

/* Index in s->sorted of the first name >= (name, len). */
static uint32_t stores_lower_bound(const struct stores *s, const uint8_t *name, size_t len)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (name_cmp(&s->v[s->sorted[mid]], name, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int64_t stores_find(const struct stores *s, const uint8_t *name, size_t len)
{
	uint32_t i = stores_lower_bound(s, name, len);

	if (i < s->n && name_cmp(&s->v[s->sorted[i]], name, len) == 0)
		return s->sorted[i];
	return -1;
}

int stores_add(const struct stores *s, const uint8_t *name, uint8_t len, struct stores **out)
{
	struct stores *t = NULL;
	uint32_t at = stores_lower_bound(s, name, len);

	RET(stores_alloc(s->n + 1, &t));
	memcpy(t->v, s->v, s->n * sizeof(*s->v));
	t->v[s->n].len = len;
	memcpy(t->v[s->n].name, name, len);
	t->v[s->n].name[len] = '\0';
	memcpy(t->sorted, s->sorted, at * sizeof(*s->sorted));
	t->sorted[at] = s->n;
	memcpy(t->sorted + at + 1, s->sorted + at, (s->n - at) * sizeof(*s->sorted));
	*out = t;
	return 0;
}

void stores_ref(struct stores *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void stores_unref(struct stores *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	mem_free(s->v);
	mem_free(s->sorted);
	mem_free(s);
}

/* ---- Views ---------------------------------------------------------------------------- */

int view_new(uint32_t head, roaring_bitmap_t *anc, struct memtable *mem, struct tables *tab,
	     struct stores *stores, struct view **out)
{
	struct view *v = mem_calloc(1, sizeof(*v));

	if (!v) {
		roaring_bitmap_free(anc);
		return err_set(IODB_ENOMEM, "out of memory creating a view");
	}
	atomic_init(&v->refs, 1);
	v->head = head;
	v->anc = anc;
	v->mem = mem;
	mt_ref(mem);
	if ((v->tab = tab) != NULL)
		tables_ref(tab);
	v->stores = stores;
	stores_ref(stores);
	*out = v;
	return 0;
}

void view_ref(struct view *v)
{
	atomic_fetch_add_explicit(&v->refs, 1, memory_order_relaxed);
}

void view_unref(struct view *v)
{
	if (!v || atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) != 1)
		return;
	roaring_bitmap_free(v->anc);
	mt_unref(v->mem);
	tables_unref(v->tab);
	stores_unref(v->stores);
	mem_free(v);
}

int check_store(const char *store, const uint8_t **name, size_t *len)
{
	size_t n = store ? strlen(store) : 0;

	if (n > IODB_MAX_STORE_NAME || !store_name_valid((const uint8_t *)store, n))
		return err_set(IODB_EINVAL,
			       "bad store name \"%.80s\": 1-64 bytes of letters, digits, _ - .",
			       store);
	*name = (const uint8_t *)(store ? store : "");
	*len = n;
	return 0;
}

int check_key(const void *key, size_t klen)
{
	if (!key || klen == 0 || klen > IODB_MAX_KEY)
		return err_set(IODB_EINVAL, "bad key: %s", !key ? "NULL" :
			       klen == 0 ? "empty (keys are 1-65535 bytes)" : "longer than 65535 bytes");
	return 0;
}

int view_get(struct view *v, const char *store, const void *key, size_t klen, void **val,
	     size_t *vlen)
{
	const uint8_t *name = NULL;
	size_t nlen = 0;
	int64_t sid;
	struct entry e;
	struct block *hold = NULL;
	void *copy;
	int found, rc = 0;

	RET(check_store(store, &name, &nlen));
	RET(check_key(key, klen));
	if (!val || !vlen)
		return err_set(IODB_EINVAL, "val and vlen must not be NULL");
	if ((sid = stores_find(v->stores, name, nlen)) < 0)
		goto miss;
	/* Newest source first: every entry of a newer source has a larger number. */
	found = mt_get(v->mem, (uint32_t)sid, key, (uint32_t)klen, v->anc, &e);
	for (uint32_t i = 0; !found && v->tab && i < v->tab->nfrozen; i++)
		found = mt_get(v->tab->frozen[i], (uint32_t)sid, key, (uint32_t)klen, v->anc, &e);
	if (!found && v->tab &&
	    (found = smap_get(v->tab->map, (uint32_t)sid, key, (uint32_t)klen, v->anc, &e,
			      &hold)) < 0)
		return found;
	if (!found || e.tomb) {
		block_unref(hold);
		goto miss;
	}
	if (!(copy = mem_dup(e.val, e.vlen)))
		rc = err_set(IODB_ENOMEM, "out of memory copying a %u-byte value", e.vlen);
	block_unref(hold);
	if (rc)
		return rc;
	*val = copy;
	*vlen = e.vlen;
	return 0;
miss:
	err_clear(); /* a miss is no failure worth a message, but leave none stale */
	return IODB_NOTFOUND;
}
