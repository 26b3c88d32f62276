/*
 * distribute.c — writing a frozen memtable out as runs, one per shard it touches.
 *
 * The source is walked once in internal order; since shards tile the key space in that
 * same order, the shard an entry falls in only moves forward, and one run writer is open at
 * a time. What happens around this (freezing the memtable, the manifest edit, releasing
 * journal segments) is the db layer's: lib/db/distribute.c.
 */
#include "shards/shards.h"

struct out {
	struct run **runs;
	uint32_t *ids;
	uint32_t n, cap;
};

static int out_push(struct out *o, struct run *r, uint32_t id)
{
	if (o->n == o->cap) {
		uint32_t cap = o->cap ? o->cap * 2 : 4;
		struct run **runs = mem_realloc(o->runs, cap * sizeof(*runs));
		uint32_t *ids;

		if (!runs)
			return err_set(IODB_ENOMEM, "out of memory in distribute");
		o->runs = runs;
		if (!(ids = mem_realloc(o->ids, cap * sizeof(*ids))))
			return err_set(IODB_ENOMEM, "out of memory in distribute");
		o->ids = ids;
		o->cap = cap;
	}
	o->runs[o->n] = r;
	o->ids[o->n++] = id;
	return 0;
}

/* Finish w and add its run to o. */
static int finish(struct env *env, struct manifest *man, struct run_writer *w, uint32_t id,
		  struct block_cache *bc, struct out *o)
{
	struct run_meta m;
	struct run *r;
	char *path;
	int rc;

	RET(run_writer_finish(w, &m));
	if (!(path = manifest_run_path(man, m.file_no)))
		return err_set(IODB_ENOMEM, "out of memory");
	if ((rc = run_new(env, path, &m, bc, &r)) == 0 && (rc = out_push(o, r, id)) != 0) {
		run_set_obsolete(r);
		run_unref(r);
	}
	if (rc)
		(void)env_unlink(env, path);
	mem_free(path);
	return rc;
}

int distribute_write(struct env *env, struct manifest *man, const struct shard_map *map,
		     struct iiter *src, const roaring_bitmap_t *drop, const struct run_wopts *o,
		     struct block_cache *bc, struct run ***runs, uint32_t **shard_ids,
		     uint32_t *n)
{
	struct out out = {0};
	struct run_writer *w = NULL;
	uint32_t shard = 0;
	int rc = 0;

	for (src->ops->first(src); src->ops->valid(src); src->ops->next(src)) {
		const struct entry *e = src->ops->entry(src);

		if (drop && roaring_bitmap_contains(drop, e->n))
			continue;
		/* Past the current shard's range: the run so far is complete. */
		while (shard + 1 < map->n &&
		       ikey_cmp(e->store, e->key, e->klen, map->v[shard + 1].lo,
				map->v[shard + 1].lolen) >= 0) {
			if (w) {
				struct run_writer *x = w;

				w = NULL;
				ERR(finish(env, man, x, map->v[shard].id, bc, &out));
			}
			shard++;
		}
		if (!w) {
			uint64_t no = manifest_file_no(man);
			char *path = manifest_run_path(man, no);

			if (!path) {
				rc = err_set(IODB_ENOMEM, "out of memory");
				goto err;
			}
			rc = run_writer_open(env, path, no, o, &w);
			mem_free(path);
			if (rc)
				goto err;
		}
		ERR(run_writer_add(w, e));
	}
	ERR(src->ops->status(src));
	if (w) {
		struct run_writer *x = w;

		w = NULL;
		ERR(finish(env, man, x, map->v[shard].id, bc, &out));
	}
	if (out.n)
		ERR(env_sync_dir(env, manifest_run_dir(man)));
	*runs = out.runs;
	*shard_ids = out.ids;
	*n = out.n;
	return 0;
err:
	if (w)
		run_writer_abort(w);
	for (uint32_t i = 0; i < out.n; i++) {
		run_set_obsolete(out.runs[i]);
		run_unref(out.runs[i]);
	}
	mem_free(out.runs);
	mem_free(out.ids);
	return rc;
}
