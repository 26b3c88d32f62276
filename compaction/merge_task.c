/*
 * merge_task.c — a compaction's writing half: merge a shard's runs into new runs, leaving
 * out what no view can see any more, cut into pieces at key boundaries.
 *
 * The rules, per key, going through its entries newest first (internal order):
 *   - an entry of a discarded version (n in dead) goes;
 *   - of the entries of the base and its ancestors (n in base_anc), only the newest stays:
 *     every view that can still be opened sees all of base_anc, so the older ones are
 *     shadowed for all of them; with `bottom` (the inputs hold everything of their range
 *     older than the memtables) that newest one goes too if it is a tombstone — nothing is
 *     left beneath it to hide, so no deleted key comes back;
 *   - an entry numbered below the base but not among its ancestors goes: no retained
 *     version can have it among its ancestors (they all descend from the base);
 *   - everything else (versions above the base, on any retained branch) stays.
 * Views opened before the task hold the input runs (reference-counted maps), so what they
 * read never changes; the db layer installs the result for views opened afterwards.
 */
#include "compaction/compaction.h"

#define STOP_POLL 4096

void compact_out_free(struct compact_out *out, int remove_files)
{
	for (uint32_t i = 0; i < out->n; i++) {
		if (remove_files)
			run_set_obsolete(out->v[i].run);
		run_unref(out->v[i].run);
		mem_free(out->v[i].lo);
	}
	mem_free(out->v);
	memset(out, 0, sizeof(*out));
}

/* Finish *wp as the piece starting at *lop; both are taken (and cleared) either way. */
static int piece_finish(struct env *env, struct manifest *man, struct run_writer **wp,
			uint8_t **lop, uint32_t lolen, const struct compact_rules *rules,
			struct block_cache *bc, struct compact_out *out)
{
	struct run_writer *w = *wp;
	uint8_t *lo = *lop;
	struct run_meta m;
	struct run *r = NULL;
	char *path = NULL;
	int rc;

	*wp = NULL;
	*lop = NULL;
	if (out->n == out->cap) {
		uint32_t cap = out->cap ? out->cap * 2 : 4;
		struct compact_piece *v = mem_realloc(out->v, cap * sizeof(*v));

		if (!v) {
			run_writer_abort(w);
			mem_free(lo);
			return err_set(IODB_ENOMEM, "out of memory in compaction");
		}
		out->v = v;
		out->cap = cap;
	}
	if ((rc = run_writer_finish(w, &m)) != 0) {
		mem_free(lo);
		return rc;
	}
	if (!(path = manifest_run_path(man, m.file_no))) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	m.gc_dead = roaring_bitmap_range_cardinality(rules->dead, m.min_n, (uint64_t)m.max_n + 1);
	m.gc_base = rules->base;
	ERR(run_new(env, path, &m, bc, &r));
	out->v[out->n++] = (struct compact_piece){r, lo, lolen};
	out->bytes_out += m.size;
	mem_free(path);
	return 0;
err:
	if (path)
		(void)env_unlink(env, path);
	mem_free(path);
	mem_free(lo);
	return rc;
}

static int piece_open(struct env *env, struct manifest *man, const struct run_wopts *wo,
		      const struct entry *e, struct run_writer **w, uint8_t **lo,
		      uint32_t *lolen)
{
	uint64_t no = manifest_file_no(man);
	char *path = manifest_run_path(man, no);
	int rc;

	if (!path || !(*lo = mem_alloc(4 + e->klen))) {
		mem_free(path);
		return err_set(IODB_ENOMEM, "out of memory in compaction");
	}
	*lolen = (uint32_t)ikey_make(*lo, e->store, e->key, e->klen);
	rc = run_writer_open(env, path, no, wo, w);
	mem_free(path);
	if (rc) {
		mem_free(*lo);
		*lo = NULL;
	}
	return rc;
}

int compact_merge(struct env *env, struct manifest *man, struct run *const *in, uint32_t nin,
		  const struct compact_rules *rules, uint64_t piece_bytes, uint32_t max_pieces,
		  const struct run_wopts *wo, struct block_cache *bc, const atomic_int *stop,
		  struct compact_out *out)
{
	struct iiter *it = NULL;
	struct run_writer *w = NULL;
	uint8_t *lo = NULL;
	uint32_t lolen = 0, k, pstore = 0, pn = 0;
	struct buf pkey;
	int rc = 0, have_key = 0, base_seen = 0, emitted = 0;
	uint64_t polled = 0;

	memset(out, 0, sizeof(*out));
	buf_init(&pkey);
	if (nin == 0)
		return 0;
	for (k = 0; k < nin; k++)
		out->bytes_in += run_meta(in[k])->size;
	RET(runs_iter_new(in, nin, 1, &it));

	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it)) {
		const struct entry *e = it->ops->entry(it);
		int newkey;

		if (stop && (++polled % STOP_POLL) == 0 && atomic_load(stop)) {
			rc = err_set(IODB_EBUSY, "compaction stopped: the store is closing");
			goto err;
		}
		out->entries_in++;
		newkey = !have_key || e->store != pstore ||
			 key_cmp(e->key, e->klen, pkey.p, pkey.len) != 0;
		if (newkey) {
			pkey.len = 0;
			ERR(buf_append(&pkey, e->key, e->klen));
			pstore = e->store;
			have_key = 1;
			base_seen = emitted = 0;
		} else if (e->n == pn) {
			continue; /* the same entry in two inputs: keep one */
		}
		pn = e->n;
		if (roaring_bitmap_contains(rules->dead, e->n))
			continue;
		if (roaring_bitmap_contains(rules->base_anc, e->n)) {
			if (base_seen)
				continue; /* shadowed by a newer entry of base_anc */
			base_seen = 1;
			if (rules->bottom && e->tomb)
				continue; /* hides nothing */
		} else if (e->n < rules->base) {
			continue; /* below the base, off its ancestry: no retained view sees it */
		}
		if (w && !emitted && piece_bytes && out->n + 1 < max_pieces &&
		    run_writer_bytes(w) >= piece_bytes)
			ERR(piece_finish(env, man, &w, &lo, lolen, rules, bc, out));
		if (!w)
			ERR(piece_open(env, man, wo, e, &w, &lo, &lolen));
		ERR(run_writer_add(w, e));
		emitted = 1;
		out->entries_out++;
	}
	ERR(it->ops->status(it));
	if (w)
		ERR(piece_finish(env, man, &w, &lo, lolen, rules, bc, out));
	if (out->n)
		ERR(env_sync_dir(env, manifest_run_dir(man)));
	it->ops->close(it);
	buf_free(&pkey);
	return 0;
err:
	if (w)
		run_writer_abort(w);
	mem_free(lo);
	if (it)
		it->ops->close(it);
	buf_free(&pkey);
	compact_out_free(out, 1);
	return rc;
}
