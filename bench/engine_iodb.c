/*
 * engine_iodb.c — iodb behind the bench vtable.
 *
 * Every write is one version whose ID is the adapter's write counter as 8 big-endian bytes,
 * so the iodb-only workloads can name "the version d commits behind the head". Settings:
 * options_init defaults, except sync (per workload) and merkle (off for the workloads every
 * engine runs — the peers compute no hashes — and on for the Merkle and core figures).
 * iodb has no cache to size: every version's data is in its memtable (see BENCHMARKS.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "engine.h"
#include "iodb.h"

struct engine {
	iodb *db;
	iodb_batch *b;
	uint64_t count;
};

struct ereader {
	struct engine *e;
	iodb_iter *it;
};

static int check(int rc, const char *what)
{
	if (rc != IODB_OK && rc != IODB_NOTFOUND) {
		fprintf(stderr, "iodb: %s: %s: %s\n", what, iodb_strerror(rc), iodb_errmsg());
		return -1;
	}
	return 0;
}

void engine_iodb_vid(uint64_t n, uint8_t vid[8])
{
	for (int i = 7; i >= 0; i--, n >>= 8)
		vid[i] = (uint8_t)n;
}

static int iodb_engine_open(const char *dir, const struct engine_cfg *cfg, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	iodb_options o;
	void *head = NULL;
	size_t hlen = 0;
	int rc;

	if (!e)
		return -1;
	iodb_options_init(&o);
	o.sync = cfg->sync;
	o.merkle = cfg->merkle;
	if ((rc = iodb_open(dir, &o, &e->db)) != IODB_OK || (rc = iodb_batch_new(&e->b)) != 0) {
		check(rc, "open");
		iodb_close(e->db);
		free(e);
		return -1;
	}
	if (iodb_head(e->db, &head, &hlen) == IODB_OK && hlen == 8) {
		const uint8_t *h = head;

		for (int i = 0; i < 8; i++)
			e->count = e->count << 8 | h[i];
		e->count++;
	}
	iodb_free(head);
	*out = e;
	return 0;
}

static void iodb_engine_close(struct engine *e)
{
	if (!e)
		return;
	iodb_batch_free(e->b);
	check(iodb_close(e->db), "close");
	free(e);
}

static int iodb_engine_write(struct engine *e, const struct bop *ops, size_t n)
{
	uint8_t vid[8];
	int rc = 0;

	iodb_batch_clear(e->b);
	for (size_t i = 0; i < n && !rc; i++)
		rc = ops[i].del ? iodb_batch_del(e->b, NULL, ops[i].key, ops[i].klen)
				: iodb_batch_put(e->b, NULL, ops[i].key, ops[i].klen, ops[i].val,
						 ops[i].vlen);
	if (rc)
		return check(rc, "batch");
	engine_iodb_vid(e->count, vid);
	if ((rc = iodb_update(e->db, vid, sizeof(vid), e->b)) != IODB_OK)
		return check(rc == IODB_NOTFOUND ? IODB_EINVAL : rc, "update");
	e->count++;
	return 0;
}

static int iodb_reader_open(struct engine *e, struct ereader **out)
{
	struct ereader *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->e = e;
	*out = r;
	return 0;
}

static int iodb_engine_get(struct ereader *r, const uint8_t *key, size_t klen, uint8_t *val,
			   size_t *vlen)
{
	void *v;
	size_t n;
	int rc = iodb_get(r->e->db, NULL, key, klen, &v, &n);

	if (rc == IODB_NOTFOUND)
		return 1;
	if (rc)
		return check(rc, "get");
	memcpy(val, v, n < VAL_LEN ? n : VAL_LEN);
	*vlen = n;
	iodb_free(v);
	return 0;
}

/* One iterator per reader, opened at its first seek and reused, as in every adapter:
 * seekrandom runs while nothing writes, so each sees the latest data. */
static int iodb_engine_seek(struct ereader *r, const uint8_t *key, size_t klen, int nexts,
			    int *seen)
{
	int rc, n = 0;

	if (!r->it && (rc = iodb_iter_open(r->e->db, NULL, NULL, &r->it)) != IODB_OK)
		return check(rc, "iter_open");
	rc = iodb_iter_seek(r->it, key, klen);
	while (rc == IODB_OK) {
		const void *k, *v;
		size_t kl, vl;

		iodb_iter_key(r->it, &k, &kl);
		iodb_iter_value(r->it, &v, &vl);
		if (++n > nexts)
			break;
		rc = iodb_iter_next(r->it);
	}
	*seen = n;
	return check(rc, "seek");
}

static void iodb_reader_close(struct ereader *r)
{
	if (!r)
		return;
	iodb_iter_close(r->it);
	free(r);
}

struct iodb *engine_iodb_handle(struct engine *e)
{
	return e->db;
}

uint64_t engine_iodb_count(struct engine *e)
{
	return e->count;
}

void engine_iodb_set_count(struct engine *e, uint64_t n)
{
	e->count = n;
}

const struct engine_ops engine_iodb = {
	.name = "iodb",
	.settings = "options_init defaults; sync per workload; merkle off unless stated",
	.open = iodb_engine_open,
	.close = iodb_engine_close,
	.write = iodb_engine_write,
	.settle = NULL,
	.reader_open = iodb_reader_open,
	.get = iodb_engine_get,
	.seek = iodb_engine_seek,
	.reader_close = iodb_reader_close,
};
