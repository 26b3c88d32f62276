/*
 * bcache.c — the block cache: decoded run blocks, shared by every run of a store, kept in
 * LRU order within a byte budget.
 *
 * A block is found by its key (run file number, block offset); file numbers are never
 * reused in a store directory, so a key names the same bytes for the life of the cache.
 * The cache is split into shards, each with its own mutex, share of the capacity, hash
 * table (chained through the blocks) and LRU list, so that readers on many threads seldom
 * wait on the same lock. A small capacity gets fewer shards: a share must hold several
 * blocks to be worth having. A block larger than its shard's share is never cached.
 *
 * Reference counting: a block is freed when its last holder lets go. The cache holds one
 * reference while a block is in it, and eviction drops only that one, so a block a reader
 * holds stays valid after it is evicted. bcache_bytes counts every block alive that went
 * through the cache, cached or only held, so it may exceed the capacity by the blocks in
 * use. Capacity 0 caches nothing; blocks are still counted and freed by their last user.
 *
 * Locks: a shard's mutex guards its table, list and usage; refs, the byte count and the
 * hit/miss counters are atomics. Blocks are freed outside the mutex. The cache must
 * outlive every block it handed out: free it after the runs and their readers are gone.
 */
#include "shards/run_int.h"

#define BC_MAX_SHARDS 16
#define BC_MIN_SHARE (1u << 20) /* smallest capacity share worth a shard of its own */
#define BC_MIN_BUCKETS 64

struct bc_shard {
	pthread_mutex_t mu;
	struct block **tab;
	uint32_t mask, count;
	uint64_t cap, usage;
	struct block *head, *tail; /* most and least recently used */
};

struct block_cache {
	uint64_t capacity;
	unsigned nshards;
	_Atomic uint64_t bytes, hits, misses;
	_Atomic int64_t obsolete; /* bytes of obsolete run files not yet removed */
	struct bc_shard shards[];
};

static uint64_t block_hash(uint64_t file_no, uint64_t off)
{
	return mix64(file_no * 0x9e3779b97f4a7c15ull ^ off);
}

static struct bc_shard *shard_of(struct block_cache *c, uint64_t h)
{
	return &c->shards[(h >> 56) & (c->nshards - 1)];
}

int bcache_new(uint64_t capacity, struct block_cache **out)
{
	unsigned n = 1;
	struct block_cache *c;

	while (n < BC_MAX_SHARDS && capacity / (2 * n) >= BC_MIN_SHARE)
		n *= 2;
	if (!(c = mem_calloc(1, sizeof(*c) + n * sizeof(c->shards[0]))))
		return err_set(IODB_ENOMEM, "out of memory creating the block cache");
	c->capacity = capacity;
	c->nshards = n;
	for (unsigned i = 0; i < n; i++) {
		struct bc_shard *s = &c->shards[i];

		pthread_mutex_init(&s->mu, NULL);
		s->cap = capacity / n;
		if (!(s->tab = mem_calloc(BC_MIN_BUCKETS, sizeof(*s->tab)))) {
			c->nshards = i + 1;
			bcache_free(c);
			return err_set(IODB_ENOMEM, "out of memory creating the block cache");
		}
		s->mask = BC_MIN_BUCKETS - 1;
	}
	*out = c;
	return 0;
}

void bcache_free(struct block_cache *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nshards; i++) {
		struct bc_shard *s = &c->shards[i];

		while (s->head) {
			struct block *b = s->head;

			s->head = b->lnext;
			block_unref(b);
		}
		mem_free(s->tab);
		pthread_mutex_destroy(&s->mu);
	}
	mem_free(c);
}

uint64_t bcache_bytes(const struct block_cache *c)
{
	return atomic_load_explicit(&c->bytes, memory_order_relaxed);
}

uint64_t bcache_obsolete_bytes(const struct block_cache *c)
{
	int64_t v = atomic_load_explicit(&c->obsolete, memory_order_relaxed);

	return v > 0 ? (uint64_t)v : 0;
}

void bcache_obsolete_add(struct block_cache *c, int64_t delta)
{
	atomic_fetch_add_explicit(&c->obsolete, delta, memory_order_relaxed);
}

uint64_t bcache_hits(const struct block_cache *c)
{
	return atomic_load_explicit(&c->hits, memory_order_relaxed);
}

uint64_t bcache_misses(const struct block_cache *c)
{
	return atomic_load_explicit(&c->misses, memory_order_relaxed);
}

void block_free(struct block *b)
{
	if (b->cache)
		atomic_fetch_sub_explicit(&b->cache->bytes, b->charge, memory_order_relaxed);
	mem_free(b->ents);
	mem_free(b->data);
	mem_free(b);
}

void block_unref(struct block *b)
{
	if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
		block_free(b);
}

/* ---- A shard's list and table (its mutex held) ---------------------------------------- */

static void lru_unlink(struct bc_shard *s, struct block *b)
{
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else
		s->head = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else
		s->tail = b->lprev;
}

static void lru_push(struct bc_shard *s, struct block *b)
{
	b->lprev = NULL;
	b->lnext = s->head;
	if (s->head)
		s->head->lprev = b;
	else
		s->tail = b;
	s->head = b;
}

static struct block **tab_slot(struct bc_shard *s, uint64_t h, uint64_t file_no, uint64_t off)
{
	struct block **pp = &s->tab[h & s->mask];

	while (*pp && ((*pp)->file_no != file_no || (*pp)->off != off))
		pp = &(*pp)->hnext;
	return pp;
}

/* Double the table when chains get long; if memory is short, chains just stay longer. */
static void tab_grow(struct bc_shard *s)
{
	uint32_t n = (s->mask + 1) * 2;
	struct block **t;

	if (s->count <= s->mask + 1 || n == 0 || !(t = mem_calloc(n, sizeof(*t))))
		return;
	for (uint32_t i = 0; i <= s->mask; i++) {
		while (s->tab[i]) {
			struct block *b = s->tab[i];
			uint64_t h = block_hash(b->file_no, b->off);

			s->tab[i] = b->hnext;
			b->hnext = t[h & (n - 1)];
			t[h & (n - 1)] = b;
		}
	}
	mem_free(s->tab);
	s->tab = t;
	s->mask = n - 1;
}

/* Take b out of the shard; the cache's reference passes to the caller. */
static void shard_remove(struct bc_shard *s, struct block *b)
{
	struct block **pp = tab_slot(s, block_hash(b->file_no, b->off), b->file_no, b->off);

	*pp = b->hnext;
	b->hnext = NULL;
	lru_unlink(s, b);
	s->usage -= b->charge;
	s->count--;
}

/* ---- Lookup and insert ---------------------------------------------------------------- */

struct block *bcache_lookup(struct block_cache *c, uint64_t file_no, uint64_t off)
{
	uint64_t h = block_hash(file_no, off);
	struct bc_shard *s = shard_of(c, h);
	struct block *b;

	pthread_mutex_lock(&s->mu);
	if ((b = *tab_slot(s, h, file_no, off)) != NULL) {
		atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
		lru_unlink(s, b);
		lru_push(s, b);
	}
	pthread_mutex_unlock(&s->mu);
	atomic_fetch_add_explicit(b ? &c->hits : &c->misses, 1, memory_order_relaxed);
	return b;
}

struct block *bcache_insert(struct block_cache *c, struct block *b)
{
	uint64_t h = block_hash(b->file_no, b->off);
	struct bc_shard *s = shard_of(c, h);
	struct block **pp, *victims = NULL, *old;

	pthread_mutex_lock(&s->mu);
	if ((old = *(pp = tab_slot(s, h, b->file_no, b->off))) != NULL) {
		/* Another reader loaded it meanwhile: use that copy. */
		atomic_fetch_add_explicit(&old->refs, 1, memory_order_relaxed);
		pthread_mutex_unlock(&s->mu);
		block_free(b);
		return old;
	}
	b->cache = c;
	atomic_fetch_add_explicit(&c->bytes, b->charge, memory_order_relaxed);
	if (b->charge > s->cap) {
		pthread_mutex_unlock(&s->mu);
		return b;
	}
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	b->hnext = NULL;
	*pp = b;
	lru_push(s, b);
	s->usage += b->charge;
	s->count++;
	while (s->usage > s->cap) {
		struct block *v = s->tail;

		shard_remove(s, v);
		v->hnext = victims;
		victims = v;
	}
	tab_grow(s);
	pthread_mutex_unlock(&s->mu);
	while (victims) {
		struct block *v = victims;

		victims = v->hnext;
		block_unref(v);
	}
	return b;
}
