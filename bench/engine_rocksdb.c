/*
 * engine_rocksdb.c — RocksDB through rocksdb/c.h.
 *
 * Settings: RocksDB's defaults (64 MiB write buffers, level compaction, 2 background jobs,
 * WAL on) except: compression off on every level; a block cache of --cache-mb (the budget
 * every engine gets); a full Bloom filter of 10 bits per key, the setting RocksDB's tuning
 * guide recommends for point reads (LevelDB gets the same). Writes go through one
 * WriteBatch; sync per the workload.
 */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "engine.h"

struct engine {
	rocksdb_t *db;
	rocksdb_options_t *o;
	rocksdb_block_based_table_options_t *t;
	rocksdb_cache_t *cache;
	rocksdb_writeoptions_t *wo;
	rocksdb_readoptions_t *ro;
	rocksdb_writebatch_t *wb;
};

struct ereader {
	struct engine *e;
	rocksdb_iterator_t *it;
};

static int check(char *err, const char *what)
{
	if (!err)
		return 0;
	fprintf(stderr, "rocksdb: %s: %s\n", what, err);
	rocksdb_free(err);
	return -1;
}

static void rdb_close(struct engine *e)
{
	if (!e)
		return;
	if (e->db)
		rocksdb_close(e->db);
	if (e->wb)
		rocksdb_writebatch_destroy(e->wb);
	if (e->wo)
		rocksdb_writeoptions_destroy(e->wo);
	if (e->ro)
		rocksdb_readoptions_destroy(e->ro);
	if (e->o)
		rocksdb_options_destroy(e->o);
	if (e->t)
		rocksdb_block_based_options_destroy(e->t);
	if (e->cache)
		rocksdb_cache_destroy(e->cache);
	free(e);
}

static int rdb_open(const char *dir, const struct engine_cfg *cfg, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	char *err = NULL;

	if (!e)
		return -1;
	e->o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(e->o, 1);
	rocksdb_options_set_compression(e->o, rocksdb_no_compression);
	rocksdb_options_set_bottommost_compression(e->o, rocksdb_no_compression);
	e->t = rocksdb_block_based_options_create();
	e->cache = rocksdb_cache_create_lru(cfg->cache_mb << 20);
	rocksdb_block_based_options_set_block_cache(e->t, e->cache);
	rocksdb_block_based_options_set_filter_policy(e->t,
						      rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_options_set_block_based_table_factory(e->o, e->t);
	e->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(e->wo, (unsigned char)cfg->sync);
	e->ro = rocksdb_readoptions_create();
	e->wb = rocksdb_writebatch_create();
	e->db = rocksdb_open(e->o, dir, &err);
	if (check(err, "open")) {
		e->db = NULL;
		rdb_close(e);
		return -1;
	}
	*out = e;
	return 0;
}

static int rdb_write(struct engine *e, const struct bop *ops, size_t n)
{
	char *err = NULL;

	rocksdb_writebatch_clear(e->wb);
	for (size_t i = 0; i < n; i++) {
		if (ops[i].del)
			rocksdb_writebatch_delete(e->wb, (const char *)ops[i].key, ops[i].klen);
		else
			rocksdb_writebatch_put(e->wb, (const char *)ops[i].key, ops[i].klen,
					       (const char *)ops[i].val, ops[i].vlen);
	}
	rocksdb_write(e->db, e->wo, e->wb, &err);
	return check(err, "write");
}

/* Done when no flush or compaction runs or is pending, twice in a row 50 ms apart. */
static double rdb_settle(struct engine *e)
{
	static const char *const props[] = {
		"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
		"rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"};
	uint64_t t0 = now_ns(), quiet_since = t0;
	int quiet = 0;

	for (int i = 0; i < 6000 && quiet < 2; i++) {
		uint64_t busy = 0, v;

		for (size_t p = 0; p < sizeof(props) / sizeof(*props); p++)
			if (rocksdb_property_int(e->db, props[p], &v) == 0)
				busy += v;
		if (busy)
			quiet = 0;
		else if (quiet++ == 0)
			quiet_since = now_ns();
		if (quiet < 2)
			sleep_ns(50000000);
	}
	return (double)(quiet_since - t0) / 1e9;
}

static int rdb_reader_open(struct engine *e, struct ereader **out)
{
	struct ereader *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->e = e;
	*out = r;
	return 0;
}

static int rdb_get(struct ereader *r, const uint8_t *key, size_t klen, uint8_t *val,
		   size_t *vlen)
{
	char *err = NULL;
	rocksdb_pinnableslice_t *s =
		rocksdb_get_pinned(r->e->db, r->e->ro, (const char *)key, klen, &err);
	const char *v;
	size_t n;

	if (check(err, "get"))
		return -1;
	if (!s)
		return 1;
	v = rocksdb_pinnableslice_value(s, &n);
	memcpy(val, v, n < VAL_LEN ? n : VAL_LEN);
	*vlen = n;
	rocksdb_pinnableslice_destroy(s);
	return 0;
}

static int rdb_seek(struct ereader *r, const uint8_t *key, size_t klen, int nexts, int *seen)
{
	char *err = NULL;
	int n = 0;

	if (!r->it)
		r->it = rocksdb_create_iterator(r->e->db, r->e->ro);
	rocksdb_iter_seek(r->it, (const char *)key, klen);
	while (rocksdb_iter_valid(r->it)) {
		size_t kl, vl;

		(void)rocksdb_iter_key(r->it, &kl);
		(void)rocksdb_iter_value(r->it, &vl);
		if (++n > nexts)
			break;
		rocksdb_iter_next(r->it);
	}
	*seen = n;
	rocksdb_iter_get_error(r->it, &err);
	return check(err, "seek");
}

static void rdb_reader_close(struct ereader *r)
{
	if (!r)
		return;
	if (r->it)
		rocksdb_iter_destroy(r->it);
	free(r);
}

const struct engine_ops engine_rocksdb = {
	.name = "rocksdb",
	.settings = "defaults; compression off; LRU block cache = --cache-mb; bloom 10 bits/key",
	.open = rdb_open,
	.close = rdb_close,
	.write = rdb_write,
	.settle = rdb_settle,
	.reader_open = rdb_reader_open,
	.get = rdb_get,
	.seek = rdb_seek,
	.reader_close = rdb_reader_close,
};
