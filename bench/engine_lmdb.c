/*
 * engine_lmdb.c — LMDB through lmdb.h.
 *
 * Settings: LMDB's defaults (no MDB_WRITEMAP, synchronous durable commits: data pages then
 * the meta page, each fdatasync'ed) with a 64 GiB map (address space only; the file grows
 * as used). sync = 0 opens with MDB_NOSYNC: commits reach the OS, not the disk. LMDB has no
 * cache of its own: reads go through the OS page cache, which --cache-mb cannot bound.
 * Each write is one write transaction. A get renews the reader's transaction so that it
 * sees the latest commit, as a get does in the other engines; between gets the transaction
 * is reset so it never pins old pages.
 */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"
#include "engine.h"

struct engine {
	MDB_env *env;
	MDB_dbi dbi;
};

struct ereader {
	struct engine *e;
	MDB_txn *txn;
	MDB_cursor *cur;
};

static int check(int rc, const char *what)
{
	if (rc == 0 || rc == MDB_NOTFOUND)
		return 0;
	fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
	return -1;
}

static void lmdb_close(struct engine *e)
{
	if (!e)
		return;
	if (e->env)
		mdb_env_close(e->env);
	free(e);
}

static int lmdb_open(const char *dir, const struct engine_cfg *cfg, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	MDB_txn *txn;
	int rc;

	if (!e)
		return -1;
	mkdir(dir, 0755);
	if ((rc = mdb_env_create(&e->env)) != 0) {
		free(e);
		return check(rc, "env_create");
	}
	if ((rc = mdb_env_set_mapsize(e->env, (size_t)64 << 30)) != 0 ||
	    (rc = mdb_env_set_maxreaders(e->env, 64)) != 0 ||
	    (rc = mdb_env_open(e->env, dir, cfg->sync ? 0 : MDB_NOSYNC, 0644)) != 0 ||
	    (rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0)
		goto err;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &e->dbi)) != 0) {
		mdb_txn_abort(txn);
		goto err;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto err;
	*out = e;
	return 0;
err:
	check(rc, "open");
	lmdb_close(e);
	return -1;
}

static int lmdb_write(struct engine *e, const struct bop *ops, size_t n)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0)
		return check(rc, "txn_begin");
	for (size_t i = 0; i < n; i++) {
		MDB_val k = {ops[i].klen, (void *)ops[i].key};

		if (ops[i].del) {
			rc = mdb_del(txn, e->dbi, &k, NULL);
			rc = rc == MDB_NOTFOUND ? 0 : rc;
		} else {
			MDB_val v = {ops[i].vlen, (void *)ops[i].val};

			rc = mdb_put(txn, e->dbi, &k, &v, 0);
		}
		if (rc) {
			mdb_txn_abort(txn);
			return check(rc, ops[i].del ? "del" : "put");
		}
	}
	return check(mdb_txn_commit(txn), "commit");
}

static int lmdb_reader_open(struct engine *e, struct ereader **out)
{
	struct ereader *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return -1;
	r->e = e;
	if ((rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &r->txn)) != 0 ||
	    (rc = mdb_cursor_open(r->txn, e->dbi, &r->cur)) != 0) {
		if (r->txn)
			mdb_txn_abort(r->txn);
		free(r);
		return check(rc, "reader");
	}
	mdb_txn_reset(r->txn);
	*out = r;
	return 0;
}

static int lmdb_get(struct ereader *r, const uint8_t *key, size_t klen, uint8_t *val,
		    size_t *vlen)
{
	MDB_val k = {klen, (void *)key}, v;
	int rc;

	if ((rc = mdb_txn_renew(r->txn)) != 0)
		return check(rc, "txn_renew");
	rc = mdb_get(r->txn, r->e->dbi, &k, &v);
	if (rc == 0) {
		memcpy(val, v.mv_data, v.mv_size < VAL_LEN ? v.mv_size : VAL_LEN);
		*vlen = v.mv_size;
	}
	mdb_txn_reset(r->txn);
	if (rc == MDB_NOTFOUND)
		return 1;
	return check(rc, "get");
}

static int lmdb_seek(struct ereader *r, const uint8_t *key, size_t klen, int nexts, int *seen)
{
	MDB_val k = {klen, (void *)key}, v;
	int rc, n = 0;

	if ((rc = mdb_txn_renew(r->txn)) != 0 || (rc = mdb_cursor_renew(r->txn, r->cur)) != 0)
		return check(rc, "renew");
	rc = mdb_cursor_get(r->cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0) {
		if (++n > nexts)
			break;
		rc = mdb_cursor_get(r->cur, &k, &v, MDB_NEXT);
	}
	mdb_txn_reset(r->txn);
	*seen = n;
	return check(rc, "seek");
}

static void lmdb_reader_close(struct ereader *r)
{
	if (!r)
		return;
	mdb_cursor_close(r->cur);
	mdb_txn_abort(r->txn);
	free(r);
}

const struct engine_ops engine_lmdb = {
	.name = "lmdb",
	.settings = "defaults (durable commits); 64 GiB map; MDB_NOSYNC for no-sync workloads",
	.open = lmdb_open,
	.close = lmdb_close,
	.write = lmdb_write,
	.settle = NULL,
	.reader_open = lmdb_reader_open,
	.get = lmdb_get,
	.seek = lmdb_seek,
	.reader_close = lmdb_reader_close,
};
