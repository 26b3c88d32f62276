/*
 * shards.h — the face of shards/: entries and internal iterators, run files, the block
 * cache, the shard map and the manifest.
 *
 * A shard owns a key range of the composite key space (store id, key); the ranges tile it.
 * A shard's data is a list of immutable runs (files), each sorted in internal order. The
 * manifest is the durable log of which runs make up which shard, where the distributed part
 * of the journal ends, and an opaque state blob of the layer above (lib/db's version graph).
 * Byte layouts: docs/format.md, "Run files" and "Manifest".
 */
#ifndef IODB_SHARDS_H
#define IODB_SHARDS_H

#include <roaring/roaring.h>
#include <stdatomic.h>

#include "journal/journal.h"
#include "lib/base/base.h"

/* ---- Entries and internal iterators --------------------------------------------------- */

/*
 * An entry is (store, key, n, value | tombstone). Internal order: store ascending, key
 * ascending (unsigned bytes, shorter first), n descending — so the first visible entry of a
 * key met going forward is its value in a view.
 */
struct entry {
	uint32_t store;
	uint32_t n;
	const uint8_t *key;
	uint32_t klen;
	const uint8_t *val;
	uint32_t vlen;
	int tomb;
};

#define N_MAX UINT32_MAX

static inline int entry_cmp(uint32_t s1, const uint8_t *k1, size_t l1, uint32_t n1,
			    uint32_t s2, const uint8_t *k2, size_t l2, uint32_t n2)
{
	int c;

	if (s1 != s2)
		return s1 < s2 ? -1 : 1;
	if ((c = key_cmp(k1, l1, k2, l2)))
		return c;
	return n1 > n2 ? -1 : n1 < n2; /* n descending */
}

struct iiter;
struct iiter_ops {
	/* Position at the first entry >= (store, key, n) in internal order. */
	void (*seek)(struct iiter *it, uint32_t store, const uint8_t *key, size_t klen,
		     uint32_t n);
	void (*first)(struct iiter *it);
	void (*last)(struct iiter *it);
	void (*next)(struct iiter *it);
	void (*prev)(struct iiter *it);
	int (*valid)(const struct iiter *it);
	/* The current entry; pointers are valid until the iterator moves or closes. */
	const struct entry *(*entry)(const struct iiter *it);
	/* 0, or the error that made the iterator stop (corrupt data in later sources). */
	int (*status)(const struct iiter *it);
	void (*close)(struct iiter *it);
};
struct iiter {
	const struct iiter_ops *ops;
};

/* A merging iterator over n children (shards/merge.c; it takes ownership of them, and
 * closes them on failure too). */
int merge_iter_new(struct iiter **children, size_t n, struct iiter **it);

/* ---- Block cache (shards/bcache.c) ---------------------------------------------------- */

/*
 * Decompressed run blocks, shared by every run of a store, bounded in bytes (LRU).
 * Thread-safe. A block handed out is reference-counted and stays valid while held, even
 * after the cache evicts it.
 */
struct block_cache;
struct block;
int bcache_new(uint64_t capacity, struct block_cache **c);
/* Only once every run and every block handed out is gone. */
void bcache_free(struct block_cache *c);
uint64_t bcache_bytes(const struct block_cache *c); /* bytes of blocks held now */
uint64_t bcache_hits(const struct block_cache *c);
uint64_t bcache_misses(const struct block_cache *c);
/* Bytes of run files (of runs using this cache) set obsolete but not yet removed. */
uint64_t bcache_obsolete_bytes(const struct block_cache *c);
void bcache_obsolete_add(struct block_cache *c, int64_t delta);
void block_unref(struct block *b);

/* ---- Run files (shards/run.c) --------------------------------------------------------- */

struct run_meta {
	uint64_t file_no;   /* the file's number: DIR/shards/<file_no, 20 digits>.run */
	uint64_t size;	    /* bytes in the file */
	uint64_t entries;   /* entries in it */
	uint64_t key_bytes; /* sum of key lengths */
	uint64_t val_bytes; /* sum of value lengths */
	uint32_t min_n, max_n;
	/* What the run was cleaned against (kept in the manifest, not in the file): the count
	 * of discarded numbers within [min_n, max_n] when it was written, and the base it was
	 * folded to (0: none). Compaction's scheduler compares them with the graph now. */
	uint64_t gc_dead;
	uint32_t gc_base;
	/* In memory only: a split of this run's shard found no key boundary to cut at (one
	 * key's history is past the shard size), so trying again would only rewrite it. */
	int unsplittable;
};

struct run_wopts {
	uint32_t block_bytes;	 /* target uncompressed block size (default 16 KiB) */
	uint32_t bloom_bits;	 /* filter bits per distinct (store, key) (0: the default, 10) */
};

struct run_writer;
/* Create the run file at path (it must not exist). */
int run_writer_open(struct env *env, const char *path, uint64_t file_no,
		    const struct run_wopts *o, struct run_writer **w);
/* Add an entry; entries come in strictly increasing internal order (checked: IODB_EINVAL). */
int run_writer_add(struct run_writer *w, const struct entry *e);
uint64_t run_writer_entries(const struct run_writer *w);
/* Bytes the run would have if finished now (close to: the last block is not compressed). */
uint64_t run_writer_bytes(const struct run_writer *w);
/* Write the filter, index and footer, fdatasync and close; fill *m. w is freed either way;
 * on failure the file is removed. */
int run_writer_finish(struct run_writer *w, struct run_meta *m);
/* Close and remove the file. */
void run_writer_abort(struct run_writer *w);

/*
 * An open run: its footer, index and filter in memory (checked against their checksums at
 * open), blocks read through the block cache. Reference-counted and shared between threads.
 * Every byte read from the file is bounds-checked and checksummed: a bad one gives
 * IODB_ECORRUPT naming the file and offset.
 */
struct run;
int run_open(struct env *env, const char *path, uint64_t file_no, struct block_cache *c,
	     struct run **r);
/* A run known from the manifest, opened as by run_open on first use (so a store's open
 * reads no run file). Until then run_meta returns *m; loading checks the file against it
 * (size, entries, numbers): a mismatch is IODB_ECORRUPT. */
int run_new(struct env *env, const char *path, const struct run_meta *m, struct block_cache *c,
	    struct run **r);
void run_ref(struct run *r);
/* The last unref closes the file, and removes it if run_set_obsolete was called. */
void run_unref(struct run *r);
/* The file is removed by the last run_unref; until then its bytes count in
 * bcache_obsolete_bytes of its cache. */
void run_set_obsolete(struct run *r);
const struct run_meta *run_meta(const struct run *r);
/* Record what the run was cleaned against (before the run is published). */
void run_set_gc(struct run *r, uint64_t gc_dead, uint32_t gc_base);
void run_set_unsplittable(struct run *r);
const char *run_path(const struct run *r);
/*
 * The newest entry of (store, key) whose n is in anc (all n when anc is NULL): 1 with *e
 * set (its pointers valid while *hold is held: block_unref it), 0 if none, or an error.
 */
int run_get(struct run *r, uint32_t store, const uint8_t *key, uint32_t klen,
	    const roaring_bitmap_t *anc, struct entry *e, struct block **hold);
/* An iterator over every entry of the run, in internal order (the run stays referenced). */
int run_iter_new(struct run *r, struct iiter **it);
/* The same for one pass over the whole run (compaction): blocks found in the cache are
 * used, blocks read are not put in it. */
int run_scan_new(struct run *r, struct iiter **it);
/* The merge of runs[0..n)'s iterators (shards/merge.c); scan: run_scan_new's. */
int runs_iter_new(struct run *const *runs, uint32_t n, int scan, struct iiter **it);

/* ---- Shard map (shards/shardmap.c) ---------------------------------------------------- */

/*
 * Shard boundaries are composite keys: 4 bytes of store id (big-endian) then the key, so
 * byte order is internal order. A shard owns [lo, next shard's lo); the first lo is empty.
 */
#define IKEY_MAX (4 + 65535)
static inline size_t ikey_make(uint8_t *out, uint32_t store, const uint8_t *key, size_t klen)
{
	out[0] = (uint8_t)(store >> 24);
	out[1] = (uint8_t)(store >> 16);
	out[2] = (uint8_t)(store >> 8);
	out[3] = (uint8_t)store;
	if (klen)
		memcpy(out + 4, key, klen);
	return 4 + klen;
}
/* Compare (store, key) with a boundary ikey. */
int ikey_cmp(uint32_t store, const uint8_t *key, size_t klen, const uint8_t *ik, size_t iklen);

struct shard {
	uint32_t id;
	uint8_t *lo; /* boundary ikey */
	uint32_t lolen;
	uint32_t nruns;
	struct run **runs; /* newest first: max_n descending */
	uint64_t bytes;	   /* sum of run sizes */
};

/* Immutable once published; reference-counted. Holds a reference on each of its runs. */
struct shard_map {
	atomic_int refs;
	uint32_t n;
	struct shard *v; /* by lo ascending */
};
/* A map of n shards (ids and boundaries given; runs none). */
int smap_new(uint32_t n, const uint32_t *ids, uint8_t *const *lo, const uint32_t *lolen,
	     struct shard_map **out);
/* Index of the shard with this id, or -1. */
int64_t smap_index(const struct shard_map *m, uint32_t id);
void smap_ref(struct shard_map *m);
void smap_unref(struct shard_map *m);
/* Index of the shard owning (store, key). */
uint32_t smap_find(const struct shard_map *m, uint32_t store, const uint8_t *key, size_t klen);
/* A copy of m with runs added (each to shard add_shard[i]) and runs removed (by file
 * number). */
int smap_edit(const struct shard_map *m, struct run **add, const uint32_t *add_shard,
	      uint32_t nadd, const uint64_t *del, uint32_t ndel, struct shard_map **out);
/* A copy of m with shards [at, at + ndel) replaced by the nnew shards described (ndel and
 * nnew may differ: a split, a merge-back). Boundaries must stay in order (IODB_EINVAL). */
struct shard_spec {
	uint32_t id;
	const uint8_t *lo;
	uint32_t lolen;
	struct run **runs; /* references are taken */
	uint32_t nruns;
};
int smap_splice(const struct shard_map *m, uint32_t at, uint32_t ndel,
		const struct shard_spec *nw, uint32_t nnew, struct shard_map **out);
/* Point read across a shard's runs: as run_get, newest run first. */
int smap_get(const struct shard_map *m, uint32_t store, const uint8_t *key, uint32_t klen,
	     const roaring_bitmap_t *anc, struct entry *e, struct block **hold);
/* An iterator over every entry of every shard, in internal order. */
int smap_iter_new(struct shard_map *m, struct iiter **it);

/* ---- Manifest (shards/manifest.c) ----------------------------------------------------- */

/* What the manifest says now. */
struct manifest_state {
	uint64_t next_file;  /* next run file number */
	uint32_t dist_n;     /* every version numbered <= dist_n is in runs */
	struct jpos dist_pos; /* the journal records from here on are not distributed */
	uint64_t released_seg; /* journal segments below this were released (deleted) */
};

struct manifest;
/* The layer above's state blobs, in log order at open (full == 1: starts over). */
typedef int (*manifest_blob_fn)(void *ctx, const uint8_t *p, size_t len, const char *path,
				uint64_t off);
/*
 * Open DIR/MANIFEST (created, with one shard and no runs, when absent and create is set),
 * open every run it names (footer, index, filter only), and remove files in DIR/shards that
 * it does not name (left by a crash). A torn last record is cut off; anything else wrong is
 * IODB_ECORRUPT naming the file.
 */
int manifest_open(struct env *env, const char *dir, struct block_cache *bc,
		  manifest_blob_fn fn, void *ctx, struct manifest **m,
		  struct manifest_state *st, struct shard_map **map);
/* The same for a read-only handle: nothing is created, cut or removed. A missing MANIFEST
 * reads as a new one would be (one shard, no runs); a torn last record is not read past;
 * files it does not name are left alone; every edit is refused (IODB_EINVAL). */
int manifest_open_read_only(struct env *env, const char *dir, struct block_cache *bc,
			    manifest_blob_fn fn, void *ctx, struct manifest **m,
			    struct manifest_state *st, struct shard_map **map);
void manifest_close(struct manifest *m);
uint64_t manifest_file_no(struct manifest *m); /* take the next run file number */
char *manifest_run_path(struct manifest *m, uint64_t file_no);

/* One atomic edit: runs added/removed, shards replaced, the new distribute point, the layer
 * above's blob. Durable when this returns 0. With rewrite set, the manifest is rewritten
 * compactly (the blob must then be a full state) instead of appended to. Edits are not
 * thread-safe: the caller serializes them (and the maps they produce). */
struct manifest_edit {
	struct run **add;	   /* with their metadata final (run_writer_finish) */
	const uint32_t *add_shard; /* shard ids */
	uint32_t nadd;
	const uint64_t *del;	   /* runs removed (applied first) */
	uint32_t ndel;
	const uint32_t *del_shards; /* shards removed (their runs listed in del) */
	uint32_t ndel_shards;
	const uint32_t *new_shards; /* shards of `after` written whole: boundary and every run
				     * (an id may also be in del_shards: it is redefined) */
	uint32_t nnew_shards;
	int set_dist;
	uint32_t dist_n;
	struct jpos dist_pos;
	uint64_t released_seg;
	const uint8_t *blob;
	size_t bloblen;
	int rewrite;
};
/* after: the shard map once the edit is applied (what a rewrite writes out). */
int manifest_apply(struct manifest *m, const struct shard_map *after,
		   const struct manifest_edit *e);
const char *manifest_run_dir(const struct manifest *m);
/* Refuse every later edit (the layer above could not follow one that is durable). */
void manifest_set_failed(struct manifest *m);
int manifest_failed(const struct manifest *m);
uint64_t manifest_size(const struct manifest *m);	   /* bytes in the file now */
uint64_t manifest_size_at_rewrite(const struct manifest *m); /* bytes right after the last */

/* ---- Distribute (shards/distribute.c) ------------------------------------------------ */

/*
 * Write the entries of src (in internal order) as one new run per shard of map they fall
 * in, leaving out entries whose n is in drop (may be NULL). Streams: one block in memory at
 * a time. Every run is finished (fdatasynced) and the run directory fsynced before this
 * returns; the runs are returned (*runs, *shard_ids: mem_alloc'd arrays of *n) for one
 * manifest edit. On failure every file written is removed.
 */
int distribute_write(struct env *env, struct manifest *man, const struct shard_map *map,
		     struct iiter *src, const roaring_bitmap_t *drop, const struct run_wopts *o,
		     struct block_cache *bc, struct run ***runs, uint32_t **shard_ids,
		     uint32_t *n);

#endif /* IODB_SHARDS_H */
