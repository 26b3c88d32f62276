/*
 * engine_leveldb.c — LevelDB through leveldb/c.h.
 *
 * Settings: LevelDB's defaults (4 MiB write buffer, 2 MiB tables, one background thread)
 * except: compression off; an LRU block cache of --cache-mb; a Bloom filter of 10 bits per
 * key (as RocksDB). LevelDB exposes no "compaction pending" property, so settle waits until
 * the process has written nothing for one second (that second is not counted).
 */
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "engine.h"

struct engine {
	leveldb_t *db;
	leveldb_options_t *o;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_writeoptions_t *wo;
	leveldb_readoptions_t *ro;
	leveldb_writebatch_t *wb;
};

struct ereader {
	struct engine *e;
	leveldb_iterator_t *it;
};

static int check(char *err, const char *what)
{
	if (!err)
		return 0;
	fprintf(stderr, "leveldb: %s: %s\n", what, err);
	leveldb_free(err);
	return -1;
}

static void ldb_close(struct engine *e)
{
	if (!e)
		return;
	if (e->db)
		leveldb_close(e->db);
	if (e->wb)
		leveldb_writebatch_destroy(e->wb);
	if (e->wo)
		leveldb_writeoptions_destroy(e->wo);
	if (e->ro)
		leveldb_readoptions_destroy(e->ro);
	if (e->o)
		leveldb_options_destroy(e->o);
	if (e->filter)
		leveldb_filterpolicy_destroy(e->filter);
	if (e->cache)
		leveldb_cache_destroy(e->cache);
	free(e);
}

static int ldb_open(const char *dir, const struct engine_cfg *cfg, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	char *err = NULL;

	if (!e)
		return -1;
	e->o = leveldb_options_create();
	leveldb_options_set_create_if_missing(e->o, 1);
	leveldb_options_set_compression(e->o, leveldb_no_compression);
	e->cache = leveldb_cache_create_lru(cfg->cache_mb << 20);
	leveldb_options_set_cache(e->o, e->cache);
	e->filter = leveldb_filterpolicy_create_bloom(10);
	leveldb_options_set_filter_policy(e->o, e->filter);
	e->wo = leveldb_writeoptions_create();
	leveldb_writeoptions_set_sync(e->wo, (uint8_t)cfg->sync);
	e->ro = leveldb_readoptions_create();
	e->wb = leveldb_writebatch_create();
	e->db = leveldb_open(e->o, dir, &err);
	if (check(err, "open")) {
		e->db = NULL;
		ldb_close(e);
		return -1;
	}
	*out = e;
	return 0;
}

static int ldb_write(struct engine *e, const struct bop *ops, size_t n)
{
	char *err = NULL;

	leveldb_writebatch_clear(e->wb);
	for (size_t i = 0; i < n; i++) {
		if (ops[i].del)
			leveldb_writebatch_delete(e->wb, (const char *)ops[i].key, ops[i].klen);
		else
			leveldb_writebatch_put(e->wb, (const char *)ops[i].key, ops[i].klen,
					       (const char *)ops[i].val, ops[i].vlen);
	}
	leveldb_write(e->db, e->wo, e->wb, &err);
	return check(err, "write");
}

static double ldb_settle(struct engine *e)
{
	uint64_t t0 = now_ns(), last = io_written(), quiet_since = t0;

	(void)e;
	for (int i = 0; i < 3000; i++) {
		uint64_t w;

		sleep_ns(100000000);
		w = io_written();
		if (w != last) {
			last = w;
			quiet_since = now_ns();
		} else if (now_ns() - quiet_since >= 1000000000ull) {
			break;
		}
	}
	return (double)(quiet_since - t0) / 1e9;
}

static int ldb_reader_open(struct engine *e, struct ereader **out)
{
	struct ereader *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->e = e;
	*out = r;
	return 0;
}

static int ldb_get(struct ereader *r, const uint8_t *key, size_t klen, uint8_t *val,
		   size_t *vlen)
{
	char *err = NULL;
	size_t n = 0;
	char *v = leveldb_get(r->e->db, r->e->ro, (const char *)key, klen, &n, &err);

	if (check(err, "get"))
		return -1;
	if (!v)
		return 1;
	memcpy(val, v, n < VAL_LEN ? n : VAL_LEN);
	*vlen = n;
	leveldb_free(v);
	return 0;
}

static int ldb_seek(struct ereader *r, const uint8_t *key, size_t klen, int nexts, int *seen)
{
	char *err = NULL;
	int n = 0;

	if (!r->it)
		r->it = leveldb_create_iterator(r->e->db, r->e->ro);
	leveldb_iter_seek(r->it, (const char *)key, klen);
	while (leveldb_iter_valid(r->it)) {
		size_t kl, vl;

		(void)leveldb_iter_key(r->it, &kl);
		(void)leveldb_iter_value(r->it, &vl);
		if (++n > nexts)
			break;
		leveldb_iter_next(r->it);
	}
	*seen = n;
	leveldb_iter_get_error(r->it, &err);
	return check(err, "seek");
}

static void ldb_reader_close(struct ereader *r)
{
	if (!r)
		return;
	if (r->it)
		leveldb_iter_destroy(r->it);
	free(r);
}

const struct engine_ops engine_leveldb = {
	.name = "leveldb",
	.settings = "defaults; compression off; LRU block cache = --cache-mb; bloom 10 bits/key",
	.open = ldb_open,
	.close = ldb_close,
	.write = ldb_write,
	.settle = ldb_settle,
	.reader_open = ldb_reader_open,
	.get = ldb_get,
	.seek = ldb_seek,
	.reader_close = ldb_reader_close,
};
