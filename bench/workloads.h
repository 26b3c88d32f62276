/*
 * workloads.h — the workload generator's pieces, shared by workloads.c (what every engine
 * runs), workloads_iodb.c (history, branches, rollback, the core figures),
 * workloads_merkle.c (the IAVL figures), workloads_shards.c (load, reads, scan and open
 * of a store distributed to its shards) and workloads_overwrite.c (sustained overwrites
 * against compaction).
 */
#ifndef IODB_BENCH_WORKLOADS_H
#define IODB_BENCH_WORKLOADS_H

#include "bench.h"
#include "engine.h"

/* One engine's run inside its child process. */
struct run {
	const struct bench *b;
	const struct engine_ops *ops;
	const char *label;      /* engine name in the results */
	struct engine *e;
	char dir[512];          /* the open store's directory */
	int sync, merkle;
	uint64_t nkeys;         /* keys j < nkeys are present in the open store */
	uint8_t *pool;          /* VPOOL_BYTES of random value bytes */
};

/* A result row for this run, its config line started with the store's settings. */
void run_result(const struct run *x, struct result *r, const char *workload, const char *unit,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * A reusable batch of operations. Keys are made into the batch's own storage; values point
 * into a 1 MiB pool of random bytes at a random offset (db_bench's way), so making a value
 * costs one random number and the generator stays out of the engines' figures.
 */
#define VPOOL_BYTES (1u << 20)
struct wbuf {
	struct bop *ops;
	uint8_t *keys;
	uint64_t *js;           /* the key number of each op */
	const uint8_t *pool;
	size_t n, cap;
	uint64_t user_bytes;    /* key + value bytes added since the last wbuf_clear */
};
void wbuf_init(struct wbuf *w, size_t cap, const uint8_t *pool);
void wbuf_free(struct wbuf *w);
void wbuf_clear(struct wbuf *w);
void wbuf_put(struct wbuf *w, uint64_t j, uint64_t seed, struct rng *r, size_t vlen);
void wbuf_del(struct wbuf *w, uint64_t j, uint64_t seed);

/* A set of key numbers, to know the live data size after deletes. */
struct liveset {
	uint64_t *bits;
	uint64_t n, live;
};
void liveset_init(struct liveset *s, uint64_t n);
void liveset_free(struct liveset *s);
void liveset_apply(struct liveset *s, const struct wbuf *w);

/* Store handling: open (fresh or existing) at <dir>/<label>/<name>, close, delete. */
void store_open(struct run *x, const char *name, int sync, int merkle, int fresh);
void store_close(struct run *x);
void store_remove(struct run *x);
uint64_t stream_of(const char *workload); /* an rng stream number per workload name */

/* One write through the engine, timed into h; fails the run on error. */
void write_timed(struct run *x, const struct wbuf *w, struct hist *h);

/* Workloads the iodb-only families reuse with other settings; emit = report a row. */
void wl_fillsync(struct run *x, int merkle, int emit);
void wl_blockcommit(struct run *x, int merkle, int emit); /* leaves the store open */

/* Entry points: each runs the workloads of its family that the bench selected. */
void workloads_common(struct run *x);     /* every engine; iodb with Merkle off */
void workloads_history(struct run *x);    /* iodb: history-read, branch, rollback */
void workloads_core(struct run *x);       /* iodb, Merkle on: the lead's core figures */
void workloads_merkle(struct run *x);     /* iodb: iavl-block, iavl-bulk, restart */
void workloads_shards(struct run *x);     /* iodb, Merkle off, its own child: shards */
void workloads_overwrite(struct run *x);  /* iodb, Merkle off, its own child, only when
					   * named: overwrite-sustained */

/* compaction-stress's iodb churn: every few versions a rollback or a branch. */
void stress_iodb_churn(struct run *x, uint64_t round);

#endif
