/*
 * memtable.c — the in-memory index of recent entries: a skiplist in arena memory.
 *
 * Entries are kept in internal order (store, key ascending; n descending) and never removed
 * or changed; a memtable is dropped whole when the last view holding it lets go.
 *
 * Concurrency: one writer (the commit leader, or replay at open) and any number of readers
 * with no lock. A new node is fully written before it is linked, each link published with a
 * release store and read with an acquire load, bottom level first, so a reader sees either
 * the old list or the new node complete (the LevelDB skiplist discipline).
 *
 * Memory: nodes, keys and values are carved from 1 MiB chunks; an allocation above a
 * quarter chunk gets a chunk of its own. Nothing is freed before the memtable is.
 */
#include "lib/db/db_int.h"

#define MT_MAX_HEIGHT 16
#define MT_CHUNK (1u << 20)

struct mt_chunk {
	struct mt_chunk *next;
	size_t used, size;
	_Alignas(16) uint8_t data[];
};

struct mt_node {
	uint32_t store, n, klen, vlen;
	uint64_t kpre; /* first 8 key bytes, big-endian, zero-padded: most compares end here */
	uint8_t height, tomb;
	_Atomic(struct mt_node *) next[];
	/* then: key bytes, value bytes */
};

struct memtable {
	atomic_int refs;
	struct mt_chunk *chunks;
	struct mt_node *head;
	atomic_int height;
	uint64_t rnd;
	_Atomic uint64_t bytes, entries;
};

static inline const uint8_t *node_key(const struct mt_node *x)
{
	return (const uint8_t *)(x->next + x->height);
}

static inline const uint8_t *node_val(const struct mt_node *x)
{
	return node_key(x) + x->klen;
}

static void *mt_arena_alloc(struct memtable *m, size_t n)
{
	struct mt_chunk *c = m->chunks;

	n = (n + 15) & ~(size_t)15;
	if (n > MT_CHUNK / 4) {
		/* A chunk of its own, linked behind the current one so bump allocation goes on. */
		struct mt_chunk *big = mem_alloc(sizeof(*big) + n);

		if (!big)
			return NULL;
		big->size = big->used = n;
		if (c) {
			big->next = c->next;
			c->next = big;
		} else {
			big->next = NULL;
			m->chunks = big;
		}
		m->bytes += sizeof(*big) + n;
		return big->data;
	}
	if (!c || c->size - c->used < n) {
		if (!(c = mem_alloc(sizeof(*c) + MT_CHUNK)))
			return NULL;
		c->size = MT_CHUNK;
		c->used = 0;
		c->next = m->chunks;
		m->chunks = c;
		m->bytes += sizeof(*c) + MT_CHUNK;
	}
	c->used += n;
	return c->data + c->used - n;
}

static struct mt_node *node_new(struct memtable *m, int height, size_t payload)
{
	struct mt_node *x = mt_arena_alloc(m, sizeof(*x) + height * sizeof(x->next[0]) + payload);

	if (!x)
		return NULL;
	x->height = (uint8_t)height;
	for (int i = 0; i < height; i++)
		atomic_init(&x->next[i], NULL);
	return x;
}

int mt_new(struct memtable **mp)
{
	struct memtable *m = mem_calloc(1, sizeof(*m));

	if (!m)
		return err_set(IODB_ENOMEM, "out of memory creating a memtable");
	m->rnd = 0x9e3779b97f4a7c15ull;
	atomic_init(&m->refs, 1);
	atomic_init(&m->height, 1);
	if (!(m->head = node_new(m, MT_MAX_HEIGHT, 0))) {
		mem_free(m);
		return err_set(IODB_ENOMEM, "out of memory creating a memtable");
	}
	m->head->klen = 0;
	*mp = m;
	return 0;
}

void mt_ref(struct memtable *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void mt_unref(struct memtable *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	while (m->chunks) {
		struct mt_chunk *c = m->chunks;

		m->chunks = c->next;
		mem_free(c);
	}
	mem_free(m);
}

uint64_t mt_bytes(const struct memtable *m)
{
	return m->bytes;
}

uint64_t mt_entries(const struct memtable *m)
{
	return m->entries;
}

static uint64_t key_prefix(const uint8_t *key, size_t klen)
{
	uint64_t p = 0;

	for (size_t i = 0; i < 8; i++)
		p = p << 8 | (i < klen ? key[i] : 0);
	return p;
}

/* A search target: the key's prefix computed once per search. */
struct target {
	uint32_t store, n;
	uint64_t kpre;
	const uint8_t *key;
	size_t klen;
};

static void target_init(struct target *t, uint32_t store, const uint8_t *key, size_t klen,
			uint32_t n)
{
	t->store = store;
	t->n = n;
	t->key = key;
	t->klen = klen;
	t->kpre = key_prefix(key, klen);
}

static int node_cmp(const struct mt_node *x, const struct target *t)
{
	if (x->store != t->store)
		return x->store < t->store ? -1 : 1;
	if (x->kpre != t->kpre)
		return x->kpre < t->kpre ? -1 : 1;
	return entry_cmp(x->store, node_key(x), x->klen, x->n, t->store, t->key, t->klen, t->n);
}

static inline struct mt_node *nx(const struct mt_node *x, int level)
{
	return atomic_load_explicit(&((struct mt_node *)x)->next[level], memory_order_acquire);
}

/* First node >= t; prev[] (if given) gets the last node < t at each level. */
static struct mt_node *find_ge(struct memtable *m, const struct target *t, struct mt_node **prev)
{
	struct mt_node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;

	for (;;) {
		struct mt_node *next = nx(x, level);

		if (next && node_cmp(next, t) < 0) {
			x = next;
		} else {
			if (prev)
				prev[level] = x;
			if (level == 0)
				return next;
			level--;
		}
	}
}

/* Last node < target, or the head. */
static struct mt_node *find_lt(struct memtable *m, const struct target *t)
{
	struct mt_node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;

	for (;;) {
		struct mt_node *next = nx(x, level);

		if (next && node_cmp(next, t) < 0) {
			x = next;
		} else {
			if (level == 0)
				return x;
			level--;
		}
	}
}

static struct mt_node *find_last(struct memtable *m)
{
	struct mt_node *x = m->head;
	int level = atomic_load_explicit(&m->height, memory_order_relaxed) - 1;

	for (;;) {
		struct mt_node *next = nx(x, level);

		if (next) {
			x = next;
		} else {
			if (level == 0)
				return x;
			level--;
		}
	}
}

static int random_height(struct memtable *m)
{
	int h = 1;

	while (h < MT_MAX_HEIGHT) {
		m->rnd ^= m->rnd << 13;
		m->rnd ^= m->rnd >> 7;
		m->rnd ^= m->rnd << 17;
		if ((m->rnd & 3) != 0)
			break;
		h++;
	}
	return h;
}

int mt_put(struct memtable *m, uint32_t store, const uint8_t *key, uint32_t klen, uint32_t n,
	   const uint8_t *val, uint32_t vlen, int tomb)
{
	struct mt_node *prev[MT_MAX_HEIGHT], *x;
	int height = random_height(m), cur = atomic_load_explicit(&m->height, memory_order_relaxed);
	struct target t;

	target_init(&t, store, key, klen, n);
	find_ge(m, &t, prev);
	if (!(x = node_new(m, height, (size_t)klen + (tomb ? 0 : vlen))))
		return err_set(IODB_ENOMEM, "out of memory in the memtable");
	x->store = store;
	x->n = n;
	x->kpre = t.kpre;
	x->klen = klen;
	x->vlen = tomb ? 0 : vlen;
	x->tomb = (uint8_t)(tomb != 0);
	memcpy((uint8_t *)node_key(x), key, klen);
	if (!tomb && vlen)
		memcpy((uint8_t *)node_val(x), val, vlen);
	if (height > cur) {
		for (int i = cur; i < height; i++)
			prev[i] = m->head;
		/* Readers that see the new height before the links find NULL there and drop a
		 * level: harmless. */
		atomic_store_explicit(&m->height, height, memory_order_relaxed);
	}
	for (int i = 0; i < height; i++) {
		atomic_store_explicit(&x->next[i], nx(prev[i], i), memory_order_relaxed);
		atomic_store_explicit(&prev[i]->next[i], x, memory_order_release);
	}
	m->entries++;
	return 0;
}

static void node_entry(const struct mt_node *x, struct entry *e)
{
	e->store = x->store;
	e->n = x->n;
	e->key = node_key(x);
	e->klen = x->klen;
	e->tomb = x->tomb;
	e->val = x->tomb ? NULL : node_val(x);
	e->vlen = x->vlen;
}

int mt_get(struct memtable *m, uint32_t store, const uint8_t *key, uint32_t klen,
	   const roaring_bitmap_t *anc, struct entry *e)
{
	struct target t;
	struct mt_node *x;

	target_init(&t, store, key, klen, N_MAX);
	x = find_ge(m, &t, NULL);
	for (; x && x->store == store && key_cmp(node_key(x), x->klen, key, klen) == 0;
	     x = nx(x, 0)) {
		if (roaring_bitmap_contains(anc, x->n)) {
			node_entry(x, e);
			return 1;
		}
	}
	return 0;
}

/* ---- Iterator ------------------------------------------------------------------------- */

struct mt_iter {
	struct iiter base;
	struct memtable *m;
	struct mt_node *x; /* NULL: not valid */
	struct entry e;
};

static void mti_set(struct mt_iter *it, struct mt_node *x)
{
	it->x = x == it->m->head ? NULL : x;
	if (it->x)
		node_entry(it->x, &it->e);
}

static void mti_seek(struct iiter *i, uint32_t store, const uint8_t *key, size_t klen, uint32_t n)
{
	struct mt_iter *it = (struct mt_iter *)i;
	struct target t;

	target_init(&t, store, key, klen, n);
	mti_set(it, find_ge(it->m, &t, NULL));
}

static void mti_first(struct iiter *i)
{
	struct mt_iter *it = (struct mt_iter *)i;

	mti_set(it, nx(it->m->head, 0));
}

static void mti_last(struct iiter *i)
{
	struct mt_iter *it = (struct mt_iter *)i;

	mti_set(it, find_last(it->m));
}

static void mti_next(struct iiter *i)
{
	struct mt_iter *it = (struct mt_iter *)i;

	mti_set(it, nx(it->x, 0));
}

static void mti_prev(struct iiter *i)
{
	struct mt_iter *it = (struct mt_iter *)i;
	struct mt_node *x = it->x;
	struct target t;

	target_init(&t, x->store, node_key(x), x->klen, x->n);
	mti_set(it, find_lt(it->m, &t));
}

static int mti_valid(const struct iiter *i)
{
	return ((const struct mt_iter *)i)->x != NULL;
}

static const struct entry *mti_entry(const struct iiter *i)
{
	return &((const struct mt_iter *)i)->e;
}

static int mti_status(const struct iiter *i)
{
	(void)i;
	return 0;
}

static void mti_close(struct iiter *i)
{
	struct mt_iter *it = (struct mt_iter *)i;

	mt_unref(it->m);
	mem_free(it);
}

static const struct iiter_ops mt_iter_ops = {
	mti_seek, mti_first, mti_last, mti_next, mti_prev, mti_valid, mti_entry, mti_status,
	mti_close,
};

int mt_iter_new(struct memtable *m, struct iiter **out)
{
	struct mt_iter *it = mem_calloc(1, sizeof(*it));

	if (!it)
		return err_set(IODB_ENOMEM, "out of memory opening an iterator");
	it->base.ops = &mt_iter_ops;
	it->m = m;
	mt_ref(m);
	*out = &it->base;
	return 0;
}
