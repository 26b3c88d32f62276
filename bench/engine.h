/*
 * engine.h — the small vtable every store is driven through.
 *
 * A write is one atomic batch: for iodb one version (ID = a counter the adapter keeps), for
 * RocksDB and LevelDB one WriteBatch, for LMDB one write transaction. Durability is fixed at
 * open (engine_cfg.sync) and applies to every write of the handle:
 *
 *   sync = 1  iodb options.sync = 1 (one fdatasync per version); RocksDB/LevelDB
 *             WriteOptions.sync = true; LMDB's default durable commit.
 *   sync = 0  iodb options.sync = 0; RocksDB/LevelDB sync = false (WAL still written);
 *             LMDB MDB_NOSYNC. In every engine the data reaches the OS with each write
 *             and survives a crash of the process, not a power cut.
 *
 * Readers belong to one thread each. A get copies the value into the caller's buffer (iodb
 * and LevelDB return a malloc'ed copy, RocksDB a pinned slice, LMDB a pointer into its map:
 * each through its cheapest C call, then one memcpy for all). Every get reads the latest
 * committed data (LMDB renews its read transaction per get for that). A reader's iterator
 * is opened at its first seek and reused; seekrandom runs while nothing writes.
 */
#ifndef IODB_BENCH_ENGINE_H
#define IODB_BENCH_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct engine;
struct ereader;

struct engine_cfg {
	int sync;
	size_t cache_mb;
	int merkle;          /* iodb only: options.merkle */
	int create;          /* create a fresh store (else open the existing one) */
};

/* One operation of a batch. */
struct bop {
	const uint8_t *key;
	const uint8_t *val;
	uint32_t klen, vlen;
	int del;
};

struct engine_ops {
	const char *name;
	const char *settings;  /* one line: the non-default settings, for the report */
	int (*open)(const char *dir, const struct engine_cfg *cfg, struct engine **e);
	void (*close)(struct engine *e);
	int (*write)(struct engine *e, const struct bop *ops, size_t n);
	/* Wait until background work (flushes, compactions) is done and return the seconds it
	 * took, not counting the wait that detects the end; NULL = no background work. */
	double (*settle)(struct engine *e);
	int (*reader_open)(struct engine *e, struct ereader **r);
	/* 0 found (value copied, *vlen set), 1 absent, -1 error. val holds VAL_LEN bytes. */
	int (*get)(struct ereader *r, const uint8_t *key, size_t klen, uint8_t *val,
		   size_t *vlen);
	/* Position at the first key >= key, then step `nexts` times; *seen = entries visited. */
	int (*seek)(struct ereader *r, const uint8_t *key, size_t klen, int nexts, int *seen);
	void (*reader_close)(struct ereader *r);
};

/* NULL if the engine is unknown; *missing set when it is known but was not built in. */
const struct engine_ops *engine_find(const char *name, int *missing);
extern const char *const engine_names[]; /* every engine iodb-bench knows, NULL-ended */

/* iodb's extra surface for the iodb-only workloads (always built). */
extern const struct engine_ops engine_iodb;
struct iodb;
struct iodb *engine_iodb_handle(struct engine *e);
/* The ID of the adapter's n-th write (0-based); vid holds 8 bytes. */
void engine_iodb_vid(uint64_t n, uint8_t vid[8]);
/* Number of writes made so far through this handle (the next write's n). */
uint64_t engine_iodb_count(struct engine *e);
void engine_iodb_set_count(struct engine *e, uint64_t n);

#endif
