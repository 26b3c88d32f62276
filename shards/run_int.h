/*
 * run_int.h — private to shards/: the decoded block that run.c builds and the block cache
 * (bcache.c) keeps. Nothing outside shards/ includes this (tests excepted).
 */
#ifndef IODB_RUN_INT_H
#define IODB_RUN_INT_H

#include "shards/shards.h"

/*
 * A data block of a run, decompressed, checked and decoded: ents[i] is its i-th entry, in
 * internal order, with key and value pointers into this block's own memory (the value
 * bytes in data, a key in data when it was stored whole and in the key arena behind ents
 * when it was prefix-compressed). Immutable once built, so any number of threads may read
 * it while they hold a reference.
 *
 * refs counts the holders: each reader, plus one while the cache has it. The cache's
 * links (hnext, lprev, lnext) are guarded by the mutex of the cache shard it hashes to.
 * Memory: the struct, ents (with the arena) and data are three mem_alloc blocks.
 */
struct block {
	atomic_int refs;
	struct block_cache *cache; /* whose bytes count it (NULL: none) */
	uint64_t file_no, off;	   /* cache key: the run and the block's offset in it */
	uint64_t charge;	   /* bytes it holds */
	struct block *hnext, *lprev, *lnext;
	uint32_t n;
	struct entry *ents; /* n entries, then the key arena */
	uint8_t *data;	    /* the uncompressed block */
};

/* Free a block nobody holds (refs 0, not in a cache). */
void block_free(struct block *b);

/* A held block for (file_no, off), or NULL (counted as a miss). */
struct block *bcache_lookup(struct block_cache *c, uint64_t file_no, uint64_t off);
/*
 * Hand a freshly built block (refs 1, the caller's) to the cache. Returns the block the
 * caller should use, still holding one reference: b itself (now cached, unless the cache
 * is too small for it), or the copy another thread inserted first (then b is freed).
 */
struct block *bcache_insert(struct block_cache *c, struct block *b);

/* A 64-bit finalizer (MurmurHash3's fmix64): every input bit affects every output bit. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#endif /* IODB_RUN_INT_H */
