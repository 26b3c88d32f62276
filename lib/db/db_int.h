/*
 * db_int.h — private to lib/db: the handle, views, the memtable, the version graph and the
 * internal iterators. Nothing outside lib/db includes this (tests excepted); the db's face to
 * the rest of the tree is lib/db/db.h.
 */
#ifndef IODB_DB_INT_H
#define IODB_DB_INT_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stdatomic.h>

#include "journal/journal.h"
#include "lib/db/db.h"
#include "lib/merkle/merkle.h"
#include "shards/shards.h"

/* Internal iterators (struct entry, struct iiter, merge_iter_new): shards/shards.h. */

/* ---- Memtable ------------------------------------------------------------------------- */

/*
 * A skiplist of entries in internal order, in arena memory. One writer at a time (the commit
 * leader, or replay at open); readers never lock. Reference-counted: views hold it.
 */
struct memtable;
int mt_new(struct memtable **m);
void mt_ref(struct memtable *m);
void mt_unref(struct memtable *m);
int mt_put(struct memtable *m, uint32_t store, const uint8_t *key, uint32_t klen, uint32_t n,
	   const uint8_t *val, uint32_t vlen, int tomb);
/* Newest entry of (store, key) with n in anc: 1 and *e set, or 0. */
int mt_get(struct memtable *m, uint32_t store, const uint8_t *key, uint32_t klen,
	   const roaring_bitmap_t *anc, struct entry *e);
int mt_iter_new(struct memtable *m, struct iiter **it);
uint64_t mt_bytes(const struct memtable *m);
uint64_t mt_entries(const struct memtable *m);

/* ---- Stores --------------------------------------------------------------------------- */

/* Names of the stores ever written, immutable and reference-counted; id = index. Id 0 is
 * the default store "". A new table is made when a commit adds a store. */
struct stores {
	atomic_int refs;
	uint32_t n;
	struct store_name {
		uint8_t len;
		char name[IODB_MAX_STORE_NAME + 1];
	} *v;
	uint32_t *sorted; /* ids in name order */
};
int stores_new_default(struct stores **s);
/* A copy of s with one more name. */
int stores_add(const struct stores *s, const uint8_t *name, uint8_t len, struct stores **out);
/* id of name, or -1. */
int64_t stores_find(const struct stores *s, const uint8_t *name, size_t len);
void stores_ref(struct stores *s);
void stores_unref(struct stores *s);

/* ---- Merkle roots (lib/db/merkle.c) --------------------------------------------------- */

/* The IAVL roots of one version: one per store that exists at it, by store id. */
struct mroot {
	uint32_t store;
	uint8_t hash[32];
	struct mnode *root; /* NULL: the store exists with an empty tree */
	struct mtsnap *snap; /* the mapped snapshot its persisted nodes are in (a reference) */
};
struct mroots {
	atomic_int refs;
	uint32_t n, cap;
	struct mroot *v; /* sorted by store */
};
void mroots_ref(struct mroots *r);
void mroots_unref(struct mroots *r);
const struct mroot *mroots_find(const struct mroots *r, uint32_t store);

/* ---- Version graph -------------------------------------------------------------------- */

/*
 * Every retained version, by internal number n (assigned in commit order from 1, never
 * reused) and by ID. Retained versions form one tree under the base; the base's ancestors
 * are folded into it (their entries remain visible to it) and listed in base_anc. Versions
 * discarded by rollback or clean are forgotten, their numbers added to `dead`.
 *
 * Mutated by the commit leader only, under iodb.vg_lock held for writing; read under it held
 * for reading.
 */
struct version {
	uint32_t n, parent; /* parent 0: none retained / first version */
	uint32_t chain_lo;  /* n..chain_lo are consecutive numbers, each the parent of the next */
	uint64_t height;
	struct jpos pos;     /* its commit record in the journal */
	struct mroots *mr;   /* its Merkle roots while kept in memory (lib/db/merkle.c) */
	uint8_t vidlen;
	uint8_t vid[];
};

struct vgraph {
	struct version **tab; /* tab[n - lo], NULL where not retained */
	uint32_t lo, cap;
	uint32_t next_n; /* number the next version gets */
	uint32_t head;	 /* 0 before the first version */
	uint32_t base;	 /* oldest retained version (the root of the retained tree) */
	uint32_t count;	 /* retained versions */
	roaring_bitmap_t *base_anc; /* ancestors of base, base included */
	roaring_bitmap_t *dead;	    /* numbers whose entries no view can see */
	uint32_t *hash;		    /* open addressing: vid -> n, 0 = empty */
	uint32_t hash_cap;
};

int vg_init(struct vgraph *g);
void vg_destroy(struct vgraph *g);
struct version *vg_get(const struct vgraph *g, uint32_t n);
struct version *vg_find(const struct vgraph *g, const void *vid, size_t vidlen);
int vg_add(struct vgraph *g, uint32_t n, uint32_t parent, uint64_t height, const void *vid,
	   uint8_t vidlen, const struct jpos *pos, struct mroots *mr);
/* A new bitmap of the numbers whose entries version n sees. */
int vg_ancestors(const struct vgraph *g, uint32_t n, roaring_bitmap_t **out);
/* Discard every descendant of n. */
int vg_rollback(struct vgraph *g, uint32_t n);
/* The ancestor of `from` at distance dist, stopping at the base. */
uint32_t vg_ancestor_at(const struct vgraph *g, uint32_t from, uint32_t dist);
/* Make n (a retained ancestor of head, or head) the base. */
int vg_clean(struct vgraph *g, uint32_t base);

/* ---- Tables: the data beyond the active memtable (lib/db/distribute.c) ---------------- */

/*
 * The frozen memtables waiting for distribute, and the shard map. Immutable and
 * reference-counted, like views; swapped under iodb.view_mu by the leader (a freeze) and by
 * the distribute thread (an install).
 */
struct tables {
	atomic_int refs;
	uint32_t nfrozen;
	struct memtable **frozen; /* newest first */
	struct shard_map *map;
};
/* Rewrite the manifest once it has grown by this much since it was last written whole. */
#define MANIFEST_REWRITE_BYTES (4u << 20)

/* A new table set (references taken on every memtable and on map). */
int tables_new(struct memtable **frozen, uint32_t nfrozen, struct shard_map *map,
	       struct tables **out);
void tables_ref(struct tables *t);
void tables_unref(struct tables *t);
/* cur's frozen memtables with `add` put first (if given) and `drop` left out (if given),
 * over map. */
int tables_derive(const struct tables *cur, struct memtable *add, struct memtable *drop,
		  struct shard_map *map, struct tables **out);
/* Make t the current tables and republish the head view with them (and with mem as its
 * memtable; NULL: the one it has). Takes t on success. view_mu held. */
int tables_install_locked(iodb *db, struct memtable *mem, struct tables *t);

/* ---- Views ---------------------------------------------------------------------------- */

/*
 * What one read sees: the version's ancestor set, the memtable, the store names. Immutable
 * once made; reference-counted. The head view is swapped by the commit leader; snapshots and
 * iterators hold their own.
 */
struct view {
	atomic_int refs;
	uint32_t head; /* version viewed, 0 = the empty store */
	roaring_bitmap_t *anc;
	struct memtable *mem;
	struct tables *tab; /* frozen memtables and runs */
	struct stores *stores;
};

/* tab may be NULL for a view about to be published (db_publish sets it). */
int view_new(uint32_t head, roaring_bitmap_t *anc, struct memtable *mem, struct tables *tab,
	     struct stores *stores, struct view **v);
void view_ref(struct view *v);
void view_unref(struct view *v);
/* Value of key in the view: 0 and a copy in *val, IODB_NOTFOUND, or an error. */
int view_get(struct view *v, const char *store, const void *key, size_t klen, void **val,
	     size_t *vlen);

/* ---- The handle ----------------------------------------------------------------------- */

struct writer;

/* Handle magic words (checked at every public entry point; a closed handle's is DEAD). */
#define DB_MAGIC 0x62646f69u   /* "iodb" */
#define SNAP_MAGIC 0x70616e73u /* "snap" */
#define ITER_MAGIC 0x72657469u /* "iter" */
#define DEAD_MAGIC 0x64616564u /* "dead" */
#define DB_RETIRED 64

struct iodb {
	char *dir;
	iodb_options o;
	struct env *env;
	int own_env;
	struct env_lock *lock;
	struct journal *journal;

	/* Commit queue: the writer at the front is the leader and commits a group. */
	pthread_mutex_t wq_mu;
	struct writer *wq_head, *wq_tail;
	int sticky; /* first failed journal write/fsync: later writes fail (leader only) */
	/* The first failure that stopped writes (the journal's, distribute's or compaction's),
	 * repeated by every later refusal; under fail_mu, a leaf lock (db_fail_note). */
	pthread_mutex_t fail_mu;
	char fail_msg[512];
	struct buf wbuf;

	pthread_rwlock_t vg_lock;
	struct vgraph vg;

	/* Owned by the leader; published through views. */
	struct memtable *mem;
	struct stores *stores;

	pthread_mutex_t view_mu;
	struct view *cur; /* the head view */

	uint32_t magic;	       /* DB_MAGIC while open (db_handle_check) */
	atomic_int open_iters; /* iterators not yet closed */
	atomic_int open_snaps; /* snapshots not yet closed */
	/* The memory of the last DB_RETIRED closed iterators and snapshots, their magic
	 * poisoned: a second close or a use after close within that many closes is caught
	 * instead of touching freed memory (db_handle_retire). */
	pthread_mutex_t retire_mu;
	void *retired[DB_RETIRED];
	uint32_t retire_next;

	/* The commit leader's helper thread: memtable inserts beside the Merkle build, then
	 * freeing the roots that left the window (the graveyard). */
	struct worker worker;
	struct mroots **grave, **grave_busy; /* filling / being freed by the worker */
	uint32_t ngrave, cap_grave, ngrave_busy, cap_grave_busy;

	/* Shards and distribute (lib/db/distribute.c). */
	struct block_cache *bc;
	struct manifest *man;
	struct tables *tab;  /* the current tables, under view_mu */
	uint64_t mem_jbytes; /* journal bytes since the active memtable began (leader) */
	uint32_t blob_next_n, blob_nstores; /* the graph as the last freeze described it */
	atomic_int want_full; /* the next freeze describes the whole graph (manifest rewrite) */
	uint32_t dist_n;      /* versions <= dist_n are in runs (at open) */
	struct jpos journal_start; /* replay from here: the distribute point */
	uint64_t journal_keep;	   /* segments from here on are kept (the Merkle layer's) */
	struct jpos dist_pos;	   /* the distribute point at open */
	struct dist *dist;    /* the distribute thread and its queue */

	/* Edits of the shard map, outermost first: struct_mu (held by distribute from the map
	 * it splits a memtable by to its install, and by an install that changes shard
	 * boundaries), man_mu (every manifest edit and map install), then vg_lock, view_mu. */
	pthread_mutex_t struct_mu, man_mu;
	struct compactor *cmp;	/* lib/db/compact.c */
	struct snaps *snaps;	/* Merkle snapshots (lib/db/snapshot.c) */
	char **own_store_list;	/* o.incremental_stores, copied */
	char **own_initial;	/* o.initial_stores, copied */
	uint32_t next_shard_id; /* under man_mu */
	atomic_uint max_runs;	/* most runs a shard holds (back-pressure) */

	/* Statistics. */
	_Atomic uint64_t st_commits, st_groups, st_user_bytes, st_ops;
	_Atomic uint64_t st_dist, st_dist_bytes, st_dist_usec, st_stall_usec, st_freezes;
	_Atomic uint64_t st_cmp_tasks, st_cmp_merges, st_cmp_splits, st_cmp_backs,
		st_cmp_oversized, st_cmp_bytes_in, st_cmp_bytes_out, st_cmp_usec,
		st_throttle_usec;
	atomic_int cmp_running;
	uint64_t open_usec;
};

/* Distribute (lib/db/distribute.c). */
int db_shards_open(iodb *db);	 /* the manifest, the shard map, the graph it records */
int db_dist_start(iodb *db);	 /* the distribute thread */
void db_shards_close(iodb *db);	 /* stop the thread, free everything of the shards */
/* The leader, after a group: freeze the memtable if it is due (or, with force, if anything
 * was written since the last freeze), waiting while too many are pending. *gen (if given):
 * the freeze generation to wait for with db_dist_wait, 0 if none. */
int db_freeze(iodb *db, int force, uint64_t *gen);
int db_dist_wait(iodb *db, uint64_t gen);
int db_dist_failed(iodb *db); /* distribute stopped on an error */
/* Register (or move; pos NULL: drop) a journal holder: the journal records from pos on are
 * not released while it stands. name must be a string constant. */
int db_journal_hold(iodb *db, const char *name, const struct jpos *pos);
struct tables *db_tables_acquire(iodb *db);

/* Compaction (lib/db/compact.c). */
int db_compact_start(iodb *db); /* after the shards are open */
void db_compact_stop(iodb *db); /* stop and join the threads; a task under way gives up */
void db_compact_poke(iodb *db); /* something may be due */
void db_compact_throttle(iodb *db); /* the leader, before a group: the back-pressure rule */
void db_compact_note_map(iodb *db, const struct shard_map *m); /* a map was installed */
int db_compact_failed(iodb *db); /* a task failed: compaction stopped, writes refused */
/* The leader, once the journal is durable up to now: the graph's discarded set and base
 * become compaction's rules (never a graph a crash could take back). */
void db_compact_rules(iodb *db);

/* Merkle layer (lib/db/merkle.c). */
/* Roots of a commit's version: parent's roots + the ops; hash 0: not hashed (replay), 1:
 * hashed, 2: hashed with the worker's help (the commit leader only). */
int db_merkle_build(iodb *db, struct mroots *parent, const struct jcommit *c,
		    const uint32_t *ids, int hash, struct mroots **out);
void db_merkle_trim(iodb *db, uint32_t n);
/* The graveyard: roots that left the window wait there to be freed. After publishing, the
 * leader hands them to the worker if it is idle (db_merkle_bury_later) and never waits for
 * that; db_merkle_bury frees everything now (open, close). */
void db_merkle_grave_swap(iodb *db);
void db_merkle_bury_busy(iodb *db);
void db_merkle_bury_later(iodb *db);
void db_merkle_bury(iodb *db);
void db_merkle_finish_all(iodb *db);
int db_merkle_roots(iodb *db, uint32_t n, struct mroots **out);
int db_merkle_attach(iodb *db, uint32_t n);

/* Wall-clock microseconds, for statistics (lib/db/db.c). */
uint64_t now_usec(void);

/* Merkle snapshots (lib/db/snapshot.c). */
struct snap_step {
	uint32_t n;
	struct jpos pos;
};
int db_snap_open(iodb *db);  /* find the snapshots on disk (before any roots are needed) */
void db_snap_close(iodb *db); /* stop the snapshot thread, free everything */
int db_snap_has(iodb *db, uint32_t n); /* a complete snapshot of version n is known */
/* After the replay: forget (and unless read-only, remove) snapshots of version numbers the
 * journal does not reach, made before a crash took their commit records (sync off). */
int db_snap_drop_lost(iodb *db);
/* Its root set (a reference); a snapshot that fails to load is forgotten. */
int db_snap_load(iodb *db, uint32_t n, const struct stores *names, struct mroots **out);
/* Roots of p, a version folded into the base, and the steps from them to p (appended). */
int db_snap_folded(iodb *db, uint32_t p, const struct jpos *stop, const struct stores *names,
		   struct mroots **out, struct snap_step **steps, size_t *nsteps);
void db_snap_durable(iodb *db); /* the leader at a durable point: hold and anchor */
void db_snap_after_commit(iodb *db, uint32_t n, uint64_t height, uint64_t nops); /* leader */
void db_snap_replayed(iodb *db, uint64_t ops); /* a rebuild replayed ops operations */
void db_snap_after_open(iodb *db); /* a long replay at open: a snapshot now */

/* 0, or IODB_EINVAL when db is NULL or not an open store handle (db.c). */
int db_handle_check(const iodb *db);
/* db_handle_check, then IODB_EINVAL "the store was opened read-only" for a read-only handle:
 * the first check of every call that writes (db.c). */
int db_writable(const iodb *db);
/* A closed iterator's or snapshot's memory, its magic already DEAD: kept among the last
 * DB_RETIRED, the oldest freed (db.c). */
void db_handle_retire(iodb *db, void *shell);
int db_snap_stats(iodb *db, struct buf *out);

/* An update whose Merkle roots `given` makes (import) instead of the build; given runs on
 * the commit leader with the commit and its store ids. */
typedef int (*db_roots_fn)(void *ctx, const struct jcommit *c, const uint32_t *ids,
			   struct mroots **out);
int db_update_given(iodb *db, const void *vid, size_t vidlen, const iodb_batch *b,
		    db_roots_fn given, void *ctx);
/* Versions up to this number were imported: their roots exist only in snapshots. */
uint32_t db_snap_floor(iodb *db);
int db_snap_set_floor(iodb *db, uint32_t n);
int mroots_new(uint32_t cap, struct mroots **out);

/* The first failure that stops writes (lib/db/write.c): msg, its detail, is kept if none was
 * recorded before; every later refusal repeats it. Any thread, any lock held. */
void db_fail_note(iodb *db, const char *msg);

/* Replace the head view (leader). */
void db_publish(iodb *db, struct view *v);
struct view *db_view_acquire(iodb *db);
/* Applying a commit: store ids for its store names (ids sized c->nstores), the memtable
 * entries, then (under vg_lock for writing, or at replay) the version itself. */
int db_commit_stores(iodb *db, const struct jcommit *c, uint32_t **ids, uint32_t *local);
int db_commit_data(iodb *db, const struct jcommit *c, const uint32_t *ids);
int db_commit_graph(iodb *db, const struct jcommit *c, const struct jpos *pos,
		    struct mroots *mr);
int db_apply_control(iodb *db, uint8_t type, const uint8_t *p, size_t len, const char *path,
		     uint64_t off);
/* The view snapshot s reads, with a reference for the caller. */
/* A snapshot: a view of version n, and with the Merkle layer on that version's roots once
 * held (at open if they were in memory, else at its first Merkle query: db_snap_roots). */
struct iodb_snapshot {
	uint32_t magic; /* SNAP_MAGIC while open */
	iodb *db;
	struct view *v;
	uint32_t n; /* 0: the store had no version */
	uint64_t height;
	struct mroots *mr;
	uint8_t vidlen;
	uint8_t vid[IODB_MAX_VID];
};
/* Snapshot s's roots, a reference for the caller (lib/db/merkle.c). */
int db_snap_roots(iodb_snapshot *s, struct mroots **out);

struct view *snapshot_view(iodb_snapshot *s);
/* 0 if s is an open snapshot (of db, when db is given; s NULL is then allowed), else
 * IODB_EINVAL (read.c). */
int snapshot_check(const iodb_snapshot *s, const iodb *db);
int check_store(const char *store, const uint8_t **name, size_t *len);
int check_key(const void *key, size_t klen);

#endif /* IODB_DB_INT_H */
