/*
 * iodb.h — the public interface of iodb, an embedded, versioned, ordered key-value store.
 *
 * Every write is a batch committed under a caller-chosen version ID (1–255 bytes). Any
 * retained version can be read, rolled back to, or branched from.
 *
 * Conventions (they hold for every function below unless its comment says otherwise):
 *   - Functions return 0 (IODB_OK) or a negative IODB_E* code. Results come back through
 *     out-parameters, which are left untouched on failure.
 *   - iodb_strerror(rc) names a code; iodb_errmsg() gives the calling thread's detail of its
 *     last failure, naming the file and offset where one applies.
 *   - Handles: a NULL, closed or foreign handle passed to a call is refused with
 *     IODB_EINVAL; a second iodb_iter_close/iodb_snapshot_close is ignored (iodb_errmsg()
 *     says so) and never miscounts what is open. This is caught reliably for an iterator or
 *     snapshot within the store's next 64 closes (their memory is kept that long) and for
 *     a store handle until it is closed; beyond that, a use after close is undefined, as
 *     is anything after iodb_close (the store handle's memory is freed).
 *   - Callbacks (iodb_versions, iodb_export, iodb_import) return 0 to go on; any other value
 *     stops the call, which then returns IODB_ECANCELED (never the callback's value, which
 *     could be taken for an error code of iodb's). iodb_errmsg() names the call and the
 *     value, e.g. "iodb_versions: stopped by the callback (it returned 42)"; a caller that
 *     needs more keeps it in its ctx.
 *   - Memory returned by iodb (values, version IDs, JSON) is owned by the caller and freed
 *     with iodb_free(). Borrowed pointers (iterator keys and values) are valid until the
 *     iterator moves or closes.
 *   - *_close and *_free accept NULL.
 *   - A store name is NULL or "" for the default store, otherwise 1–64 bytes of letters,
 *     digits, '_', '-' and '.'. Keys are 1–65,535 bytes compared as unsigned bytes, values
 *     0 bytes to IODB_MAX_VALUE bytes (an empty value is a value, not a delete).
 *   - One iodb handle may be used from many threads at once. Batches, snapshots and
 *     iterators belong to one thread at a time.
 */
#ifndef IODB_H
#define IODB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(IODB_API)
#define IODB_API __attribute__((visibility("default")))
#elif !defined(IODB_API)
#define IODB_API
#endif

#define IODB_VERSION_MAJOR 0
#define IODB_VERSION_MINOR 1
#define IODB_VERSION_PATCH 0
#define IODB_VERSION_NUMBER \
	(IODB_VERSION_MAJOR * 10000 + IODB_VERSION_MINOR * 100 + IODB_VERSION_PATCH)

/* The library's IODB_VERSION_NUMBER; compare with the header's to catch a mismatch. */
IODB_API int iodb_version(void);

/* Return codes. */
enum {
	IODB_OK = 0,
	IODB_NOTFOUND = -1, /* key or version absent */
	IODB_EINVAL = -2,   /* bad argument */
	IODB_EEXIST = -3,   /* version ID names a retained version */
	IODB_ECORRUPT = -4, /* bytes on disk fail a check */
	IODB_EIO = -5,      /* the OS failed an I/O call; sticky for writes after write/fsync */
	IODB_ENOMEM = -6,   /* out of memory */
	IODB_EBUSY = -7,    /* directory held by another open handle or process */
	IODB_EPROOF = -8,   /* a Merkle proof does not verify */
	IODB_ECANCELED = -9 /* a callback returned non-zero: the call stopped there */
};

/* Static text naming a return code; never NULL. Does not touch iodb_errmsg(). */
IODB_API const char *iodb_strerror(int rc);
/* Detail of the calling thread's last failure: every call that fails sets it (to "" for a
 * plain IODB_NOTFOUND from a read: a key that is absent, an iterator run off an end);
 * successful calls, iodb_open included, leave it as it was. Valid until this thread's next
 * failing call. */
IODB_API const char *iodb_errmsg(void);

/* Limits. */
#define IODB_MAX_KEY 65535u
#define IODB_MAX_VALUE (256u << 20)
#define IODB_MAX_VID 255u
#define IODB_MAX_STORE_NAME 64u
/* Heights run from options.initial_height up to this, 2^63-1 (IAVL versions are signed
 * 64-bit): an update that would pass it is refused with IODB_EINVAL. */
#define IODB_MAX_HEIGHT 0x7fffffffffffffffull

typedef struct iodb iodb;
typedef struct iodb_batch iodb_batch;
typedef struct iodb_snapshot iodb_snapshot;
typedef struct iodb_iter iodb_iter;

#define IODB_OPTIONS_VERSION 6

/*
 * Options. Always start from iodb_options_init(), which sets `version` and the defaults, so
 * that a program built against this header keeps working with a later library.
 */
typedef struct iodb_options {
	unsigned version;        /* IODB_OPTIONS_VERSION */
	int create_if_missing;   /* default 1: create the directory and the store */
	int sync;                /* default 1: fdatasync each commit before returning */
	uint32_t keep_versions;  /* default 0 = keep all; N > 0: iodb_clean(N) after each update */
	/* Tuning. */
	uint64_t journal_segment_bytes; /* default 64 MiB: a new segment file past this size */
	uint64_t group_commit_bytes;    /* default 4 MiB: most journal bytes one fsync covers */
	/* Merkle layer. */
	int merkle;              /* default 1: IAVL root hashes and proofs for every version */
	uint64_t initial_height; /* default 1: the height (IAVL version) of the first version;
				  * 1 to IODB_MAX_HEIGHT */
	uint32_t merkle_threads; /* default 2: threads hashing a large version's dirty nodes */
	/* Shards (since options version 2). */
	uint64_t memtable_bytes;    /* default 32 MiB: the memtable is frozen and distributed to
				     * the shards once its memory (counted in 1 MiB chunks) or
				     * the journal written since it began reaches this; writers
				     * wait while 2 frozen ones are pending */
	uint64_t block_cache_bytes; /* default 64 MiB: decompressed run blocks kept in memory */
	uint32_t block_bytes;       /* default 16 KiB: uncompressed size of a run block */
	/* Compaction (since options version 3). docs/ARCHITECTURE.md, "Compaction". */
	int auto_compaction;          /* default 1: background threads compact; 0: only
				       * iodb_compact does */
	uint32_t compaction_threads;  /* default 2: threads running compaction tasks */
	uint64_t compaction_task_bytes; /* default 64 MiB: most input bytes of one task (a
					 * shard that outgrew it is still merged whole once,
					 * to split it) */
	uint64_t shard_max_bytes;     /* default 32 MiB: a merge whose output passes this
				       * splits the shard (pieces of about half of it) */
	uint64_t shard_min_bytes;     /* default 0 = shard_max_bytes / 8: a smaller shard is
				       * merged back into a neighbour */
	uint32_t slowdown_runs;       /* default 12: a commit group is delayed while some
				       * shard holds more runs than this (at most 20 ms, growing
				       * with the excess); 0 takes the default */
	/* Merkle snapshots (since options version 4). docs/merkle.md, "Snapshots". */
	uint64_t snapshot_interval;   /* default 10000: a full snapshot of every store when
				       * the head's height is a multiple of this; 0: none */
	uint64_t incremental_snapshot_interval; /* default 1000: otherwise an incremental one
						  * (only what changed since the last) at
						  * multiples of this; 0: none */
	const char *const *incremental_stores; /* default NULL = every store gets
						* incrementals; else only these (others are
						* written in full); copied at open, each a
						* store name as above (else IODB_EINVAL
						* naming the entry) */
	uint32_t n_incremental_stores;
	uint32_t snapshot_keep_recent; /* default 1: snapshots kept besides the newest (and
					* the base's, and the layers they build on) */
	uint32_t snapshot_writer_limit; /* default 2: stores written at once */
	/* Since options version 5. */
	uint64_t snapshot_replay_ops; /* default 200000: a snapshot (incremental where the
				       * intervals allow one) once this many operations were
				       * committed since the last was started, so that an open
				       * replays about this many at most; 0: by interval only */
	/* Since options version 6. */
	const char *const *initial_stores; /* default NULL: none. Stores mounted at every
					    * version: a commit whose parent lacks one of
					    * these creates it, empty (root SHA-256("")), so
					    * that it is part of the commit hash from there
					    * on, as Cosmos mounts a store before its first
					    * write. Copied at open; names as above ("" is the
					    * default store) */
	uint32_t n_initial_stores;
	int read_only; /* default 0; 1: open for reading only. No write of any kind (no
			* journal recovery: a torn tail is not read past and left as it
			* is; no background work; no Merkle snapshot, even after a long
			* replay or at close), a shared lock: several read-only handles, in
			* any processes, may be open at once, and none while a writer is
			* (IODB_EBUSY both ways, the message saying which holds it). Works
			* on read-only media. create_if_missing is ignored: no store there
			* is IODB_NOTFOUND. The handle reads the store as of its open.
			* Every writing call (update, rollback, checkout, clean, flush,
			* compact, merkle_snapshot) returns IODB_EINVAL, "the store was
			* opened read-only". docs/ARCHITECTURE.md, "Read-only handles" */
} iodb_options;

IODB_API void iodb_options_init(iodb_options *o);

/* Open (and with create_if_missing, create) the store in directory `dir`. o may be NULL for
 * defaults. IODB_EBUSY if another handle, in this or another process, has it open (with
 * o->read_only: if a writer has it open; read-only handles share it). */
IODB_API int iodb_open(const char *dir, const iodb_options *o, iodb **db);
/* Distribute everything the journal holds to the shards now; returns once it is durable in
 * run files and the manifest. The journal moves on to a new segment first, so every segment
 * it covered may then be released (unless the Merkle layer still needs it). */
IODB_API int iodb_flush(iodb *db);
/* iodb_flush, then run compaction in the calling thread (beside the background threads)
 * until no shard is due: no shard with more than one run, none past shard_max_bytes or
 * (with others) below shard_min_bytes, none holding entries of versions discarded or folded
 * since it was last merged. Returns the first error of any compaction task (after which
 * compaction stops and writes fail with IODB_EIO until the store is reopened). */
IODB_API int iodb_compact(iodb *db);
/* Make every version committed so far durable now: one fdatasync of the journal, taken in
 * turn with commits. For a store opened with sync = 0 that needs a durability point (a
 * block's end; cometbft-db's SetSync); with sync = 1 every commit already is, and this
 * costs one fdatasync of nothing new. A failed fdatasync is IODB_EIO and, as after a failed
 * commit, every later write fails until the store is reopened; the versions committed since
 * the last successful sync stay readable on this handle but may be gone after the reopen
 * (with sync = 0 they were never acknowledged as durable). */
IODB_API int iodb_sync(iodb *db);
/* Close the handle. Open snapshots and iterators must be closed first: else IODB_EBUSY
 * naming how many of each are open, and the handle stays usable. NULL ok. */
IODB_API int iodb_close(iodb *db);

/* Batches: operations in the order they were added. For reads the last operation on a key
 * wins; the order is kept as given (the Merkle layer applies it in that order). */
IODB_API int iodb_batch_new(iodb_batch **b);
IODB_API int iodb_batch_put(iodb_batch *b, const char *store, const void *key, size_t klen,
		   const void *val, size_t vlen);
IODB_API int iodb_batch_del(iodb_batch *b, const char *store, const void *key, size_t klen);
IODB_API void iodb_batch_clear(iodb_batch *b);
IODB_API void iodb_batch_free(iodb_batch *b);
/* Number of operations in the batch (0 for NULL). */
IODB_API size_t iodb_batch_count(const iodb_batch *b);

/*
 * Commit batch b (NULL or empty: an empty version) as a new version with ID vid, a child of
 * the head; the head moves to it. With options.sync, returns only once the journal record is
 * on stable storage. IODB_EEXIST if vid names a retained version (the ID of a discarded
 * version may be used again). After a failed journal write or fsync (or a failed write of
 * the background distribute or compaction) every later write returns IODB_EIO, its message
 * repeating the first failure's (file, offset, OS error), until the store is reopened; reads
 * keep working.
 */
IODB_API int iodb_update(iodb *db, const void *vid, size_t vidlen, const iodb_batch *b);

/* Read key at the head. *val is a copy owned by the caller (iodb_free); an empty value comes
 * back as a non-NULL pointer with *vlen 0. IODB_NOTFOUND if absent. */
IODB_API int iodb_get(iodb *db, const char *store, const void *key, size_t klen, void **val,
	     size_t *vlen);
/* Free memory returned by iodb (values, version IDs, JSON). NULL ok. */
IODB_API void iodb_free(void *p);

/* The head's version ID, a copy owned by the caller. IODB_NOTFOUND before the first update. */
IODB_API int iodb_head(iodb *db, void **vid, size_t *vidlen);

/* head := vid; every descendant of vid is discarded, durably. IODB_NOTFOUND if vid is not a
 * retained version (nothing changes then). */
IODB_API int iodb_rollback(iodb *db, const void *vid, size_t vidlen);
/* head := vid, nothing discarded; the next update starts a branch from it. */
IODB_API int iodb_checkout(iodb *db, const void *vid, size_t vidlen);
/* The ancestor of head at distance keep-1 becomes the base: every version outside the base's
 * subtree is discarded (the base stays readable). keep >= 1; a history shorter than keep is
 * left as it is. */
IODB_API int iodb_clean(iodb *db, uint32_t keep);

/* Called for every retained version, parents before children. parent is NULL/0 for the
 * oldest retained version (its parent, if any, is no longer retained). The pointers are
 * valid during the call only. Return non-zero to stop; iodb_versions then returns
 * IODB_ECANCELED. Calls are made without any lock of the store held. */
typedef int (*iodb_version_fn)(void *ctx, const void *vid, size_t vidlen, const void *parent,
			       size_t parentlen, uint64_t height);
IODB_API int iodb_versions(iodb *db, iodb_version_fn fn, void *ctx);

/* A snapshot pins a version's view: it reads that version as committed, whatever rollback,
 * clean or later writes do, until closed. vid NULL/0 = the head now. */
IODB_API int iodb_snapshot_open(iodb *db, const void *vid, size_t vidlen, iodb_snapshot **s);
IODB_API int iodb_snapshot_get(iodb_snapshot *s, const char *store, const void *key, size_t klen,
		      void **val, size_t *vlen);
IODB_API void iodb_snapshot_close(iodb_snapshot *s);

/*
 * Iterators over one store, in key order, at snapshot s (NULL: the head as of this call).
 * Positioning calls return IODB_OK when on an entry, IODB_NOTFOUND when they ran off either
 * end (the iterator is then not valid), or an error.
 */
IODB_API int iodb_iter_open(iodb *db, iodb_snapshot *s, const char *store, iodb_iter **it);
IODB_API int iodb_iter_first(iodb_iter *it);
IODB_API int iodb_iter_last(iodb_iter *it);
IODB_API int iodb_iter_seek(iodb_iter *it, const void *key, size_t klen); /* first key >= key */
IODB_API int iodb_iter_next(iodb_iter *it);
IODB_API int iodb_iter_prev(iodb_iter *it);
IODB_API int iodb_iter_valid(const iodb_iter *it); /* 1 on an entry, else 0 */
/* Borrowed until the iterator moves or closes. IODB_EINVAL if not valid. */
IODB_API int iodb_iter_key(const iodb_iter *it, const void **key, size_t *klen);
IODB_API int iodb_iter_value(const iodb_iter *it, const void **val, size_t *vlen);
IODB_API void iodb_iter_close(iodb_iter *it);

/*
 * Merkle layer (with options.merkle). Every store is an IAVL tree whose root hashes are
 * byte-identical to cosmos/iavl v1's for the same changesets, node versions being version
 * heights. vid NULL/0 means the head.
 */
/* Root hash of store's tree at vid: SHA-256("") for an empty tree. IODB_NOTFOUND if the
 * version is not retained or the store does not exist at it. The default store exists at
 * every version (SHA-256("") until written, as cosmos/iavl's tree saved empty); like any
 * store it is part of the commit hash only from its first write (or mount) on. A version that a rollback or
 * clean in another thread discards while one of these calls (root hash, commit hash, prove,
 * export) reads it is IODB_NOTFOUND too, never another error. */
IODB_API int iodb_root_hash(iodb *db, const void *vid, size_t vidlen, const char *store,
			    uint8_t hash[32]);
/* The Cosmos commit-info hash (an app hash) over every store that exists at vid (those
 * iodb_stores lists). */
IODB_API int iodb_commit_hash(iodb *db, const void *vid, size_t vidlen, uint8_t hash[32]);
/* An ICS23 CommitmentProof (protobuf bytes, caller frees with iodb_free) for key in store at
 * vid: an existence proof if the key is present there, a non-existence proof otherwise. */
IODB_API int iodb_prove(iodb *db, const void *vid, size_t vidlen, const char *store,
			const void *key, size_t klen, void **proof, size_t *plen);
/* Verify an ICS23 proof against a store root under the IAVL spec: with val, that key has
 * value val; with val NULL, that key is absent. IODB_OK or IODB_EPROOF (IODB_EINVAL for bad
 * arguments). Needs no open store. */
IODB_API int iodb_verify_proof(const uint8_t root[32], const void *proof, size_t plen,
			       const void *key, size_t klen, const void *val, size_t vlen);

/*
 * Proofs up to the app hash. A chain's light client checks a key against the commit hash in
 * two steps, and iodb_prove_commit returns both as Cosmos SDK queries do: a
 * tendermint.crypto.ProofOps protobuf of two ops, {type "ics23:iavl", key = key, data = an
 * ICS23 CommitmentProof against the store's root (as iodb_prove)} then {type
 * "ics23:simple", key = store name, data = an ICS23 CommitmentProof of (store name -> store
 * root) in the commit-info tree (tendermint spec)}. Caller frees *proof with iodb_free.
 * docs/merkle.md, "Proofs".
 */
IODB_API int iodb_prove_commit(iodb *db, const void *vid, size_t vidlen, const char *store,
			       const void *key, size_t klen, void **proof, size_t *plen);
/* Verify a ProofOps proof from iodb_prove_commit against a commit hash: with val, that key
 * has value val in store; with val NULL, that key is absent from it. IODB_OK or IODB_EPROOF
 * (IODB_EINVAL for bad arguments). Needs no open store. */
IODB_API int iodb_verify_commit_proof(const uint8_t commit_hash[32], const void *proof,
				      size_t plen, const char *store, const void *key,
				      size_t klen, const void *val, size_t vlen);

/*
 * Merkle queries through a snapshot: always about the exact version the snapshot pinned,
 * never another version that took its ID after a rollback. Same results and errors as the
 * calls above for that version. A snapshot holds its version's roots from its first Merkle
 * query on (from iodb_snapshot_open for the head and the 32 most recent versions, whose
 * roots are in memory), so later answers survive rollback and clean; a snapshot of an older
 * version whose version is discarded before its first Merkle query gets IODB_NOTFOUND from
 * these calls (its key-values still read). Query once right after opening to be sure.
 */
/* The pinned version's ID (caller frees with iodb_free) and height; either out-parameter
 * may be NULL. */
IODB_API int iodb_snapshot_version(iodb_snapshot *s, void **vid, size_t *vidlen,
				   uint64_t *height);
IODB_API int iodb_snapshot_root_hash(iodb_snapshot *s, const char *store, uint8_t hash[32]);
IODB_API int iodb_snapshot_commit_hash(iodb_snapshot *s, uint8_t hash[32]);
IODB_API int iodb_snapshot_prove(iodb_snapshot *s, const char *store, const void *key,
				 size_t klen, void **proof, size_t *plen);
IODB_API int iodb_snapshot_prove_commit(iodb_snapshot *s, const char *store, const void *key,
					size_t klen, void **proof, size_t *plen);

/* The version at height on the head's ancestry (a copy of its ID, caller frees with
 * iodb_free). IODB_NOTFOUND if the head's ancestry (the retained part of it) has no version
 * at that height. */
IODB_API int iodb_version_at_height(iodb *db, uint64_t height, void **vid, size_t *vidlen);

/* Every store of version vid (NULL/0: the head), in name order, with its root hash: the
 * stores its commit hash covers (each store written on its ancestry, or mounted by
 * options.initial_stores), an empty one with SHA-256(""). With the Merkle layer off: every
 * store the store has seen, with zero hashes. name is "" for the default store; the
 * pointers are valid during the call only. fn returns 0 to go on (else IODB_ECANCELED). */
typedef int (*iodb_store_fn)(void *ctx, const char *name, const uint8_t root[32]);
IODB_API int iodb_stores(iodb *db, const void *vid, size_t vidlen, iodb_store_fn fn,
			 void *ctx);
/* The same for the version snapshot s pinned (the Merkle layer must be on). */
IODB_API int iodb_snapshot_stores(iodb_snapshot *s, iodb_store_fn fn, void *ctx);

/* Write a Merkle snapshot of the head now (full, or with full = 0 incremental where the
 * options allow) and return once it is durable. Snapshots are also written in the
 * background at the heights the options name. */
IODB_API int iodb_merkle_snapshot(iodb *db, int full);

/*
 * State sync. iodb_export streams version vid's trees (every store's IAVL nodes in post
 * order: height, version, key and, for leaves, the value; Cosmos state sync's item order)
 * through fn in chunks of about 256 KiB; fn returns non-zero to stop (the export then
 * returns IODB_ECANCELED). The stream starts with the version's height, ID and commit hash.
 */
typedef int (*iodb_chunk_fn)(void *ctx, const void *chunk, size_t len);
IODB_API int iodb_export(iodb *db, const void *vid, size_t vidlen, iodb_chunk_fn fn, void *ctx);
/*
 * Rebuild a store from an export stream into dir (missing or empty). next(ctx, &chunk, &len)
 * hands over the stream's next chunk (valid until the next call), len 0 at the end; non-zero
 * stops the import (IODB_ECANCELED, nothing written). Every node is checked and every hash
 * recomputed; unless the commit hash comes out as commit_hash, IODB_EPROOF and nothing is
 * written. The result is a store whose only version is the exported one (same ID, height,
 * key-values and hashes), its Merkle roots in a snapshot. o may be NULL (merkle and
 * initial_height are set by the import).
 */
typedef int (*iodb_next_chunk_fn)(void *ctx, const void **chunk, size_t *len);
IODB_API int iodb_import(const char *dir, const iodb_options *o, const uint8_t commit_hash[32],
			 iodb_next_chunk_fn next, void *ctx);

/* Statistics as a JSON object, owned by the caller (iodb_free). */
IODB_API int iodb_stats(iodb *db, char **json);

#ifdef __cplusplus
}
#endif

#endif /* IODB_H */
