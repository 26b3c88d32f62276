/*
 * distribute.c — moving the journal's data into the shards: freeze, distribute, install,
 * release; and, at open, the version graph the manifest records.
 *
 *   leader, after a group:  memtable or journal since it began >= memtable_bytes
 *        └─ freeze: journal fdatasynced; a new memtable takes writes; the old one joins
 *           the tables (still read), with a description of the version graph as it stands
 *           at that journal position (the "graph blob")
 *   distribute thread, oldest frozen first:
 *        ├─ one run per shard it touches, streamed (shards/distribute.c), entries of
 *        │  discarded versions left out
 *        ├─ one manifest edit: the runs, the distribute point (journal position and last
 *        │  version number), the graph blob — durable
 *        ├─ install: new tables without that memtable, with the runs; head view republished
 *        └─ journal segments wholly before the distribute point deleted, unless a holder
 *           needs them (db_journal_hold: the Merkle layer holds the records from its
 *           base's anchor snapshot on, lib/db/snapshot.c)
 *
 * Back-pressure: with MAX_FROZEN memtables frozen and not yet installed, the next freeze
 * waits (the leader, so every writer) for distribute to finish one; the time is counted in
 * stats (writers_stalled_usec). Readers never wait.
 *
 * The graph blob: the manifest must let open rebuild the version graph without the released
 * journal. Each freeze describes the versions added since the previous one, plus the
 * current head, base, numbers and the discarded set (small: runs of numbers); the first
 * freeze after open and every freeze after the manifest has grown describe the whole graph,
 * and the manifest is then rewritten. Byte layout: docs/format.md, "Graph blob".
 *
 * A failed distribute (a write or fsync of a run or the manifest) stops distribute; the
 * data is still in the journal, and the handle refuses writes (IODB_EIO) until reopened.
 */
#include <stdio.h>
#include <sys/time.h>

#include "lib/db/db_int.h"

#define MAX_FROZEN 2
#define BLOB_DELTA 1
#define BLOB_FULL 2

struct djob {
	struct memtable *mem;
	uint32_t last_n;     /* the newest version number in it (or before it) */
	struct jpos end;     /* the journal position after its last record */
	struct buf blob;     /* the graph at end */
	int full;	     /* blob is a full description: rewrite the manifest */
	roaring_bitmap_t *dead; /* discarded numbers at end: their entries are left out */
	uint64_t gen;
	struct djob *next;
};

/* A journal holder: something above that still needs the records from pos on. */
struct jholder {
	const char *name; /* NULL: a free slot */
	struct jpos pos;
};
#define JHOLDERS 4

struct dist {
	struct jholder hold[JHOLDERS]; /* under mu */
	pthread_t thread;
	int up, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* work for the thread */
	pthread_cond_t done_cv; /* a job finished, or distribute failed */
	struct djob *head, *tail;
	uint32_t n;
	uint64_t gen_next, gen_done;
	atomic_int err;
	char msg[512];
};

/* ---- Tables --------------------------------------------------------------------------- */

int tables_new(struct memtable **frozen, uint32_t nfrozen, struct shard_map *map,
	       struct tables **out)
{
	struct tables *t = mem_calloc(1, sizeof(*t));

	if (!t || (nfrozen && !(t->frozen = mem_alloc(nfrozen * sizeof(*t->frozen))))) {
		mem_free(t);
		return err_set(IODB_ENOMEM, "out of memory");
	}
	atomic_init(&t->refs, 1);
	for (uint32_t i = 0; i < nfrozen; i++) {
		t->frozen[i] = frozen[i];
		mt_ref(frozen[i]);
	}
	t->nfrozen = nfrozen;
	t->map = map;
	smap_ref(map);
	*out = t;
	return 0;
}

void tables_ref(struct tables *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void tables_unref(struct tables *t)
{
	if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (uint32_t i = 0; i < t->nfrozen; i++)
		mt_unref(t->frozen[i]);
	mem_free(t->frozen);
	smap_unref(t->map);
	mem_free(t);
}

/* The tables after a freeze (add), after distribute installs `drop`'s runs, or after a
 * compaction (map only). */
int tables_derive(const struct tables *cur, struct memtable *add, struct memtable *drop,
			 struct shard_map *map, struct tables **out)
{
	struct tables *t = NULL;
	uint32_t n = 0;

	RET(tables_new(NULL, 0, map, &t));
	if (!(t->frozen = mem_alloc((cur->nfrozen + 1) * sizeof(*t->frozen)))) {
		tables_unref(t);
		return err_set(IODB_ENOMEM, "out of memory");
	}
	if (add)
		t->frozen[n++] = add;
	for (uint32_t i = 0; i < cur->nfrozen; i++)
		if (cur->frozen[i] != drop)
			t->frozen[n++] = cur->frozen[i];
	for (uint32_t i = 0; i < n; i++)
		mt_ref(t->frozen[i]);
	t->nfrozen = n;
	*out = t;
	return 0;
}

struct tables *db_tables_acquire(iodb *db)
{
	struct tables *t;

	pthread_mutex_lock(&db->view_mu);
	t = db->tab;
	tables_ref(t);
	pthread_mutex_unlock(&db->view_mu);
	return t;
}

int tables_install_locked(iodb *db, struct memtable *mem, struct tables *t)
{
	struct view *cur = db->cur, *v = NULL;
	roaring_bitmap_t *anc;

	if (cur) {
		if (!(anc = roaring_bitmap_copy(cur->anc)))
			return err_set(IODB_ENOMEM, "out of memory");
		RET(view_new(cur->head, anc, mem ? mem : cur->mem, t, cur->stores, &v));
	}
	tables_unref(db->tab);
	db->tab = t;
	db->cur = v;
	view_unref(cur);
	return 0;
}

/* ---- The graph blob ------------------------------------------------------------------- */

static int put_bitmap(struct buf *b, const roaring_bitmap_t *r)
{
	size_t n = roaring_bitmap_portable_size_in_bytes(r);

	RET(buf_put_u32(b, (uint32_t)n));
	RET(buf_reserve(b, n));
	roaring_bitmap_portable_serialize(r, (char *)b->p + b->len);
	b->len += n;
	return 0;
}

/* Describe the graph (the leader's: it alone changes it). */
static int blob_encode(iodb *db, int full, struct buf *b)
{
	const struct vgraph *g = &db->vg;
	uint32_t from_store = full ? 1 : db->blob_nstores, from_n = full ? g->lo : db->blob_next_n;
	uint32_t count = 0;
	size_t count_at;

	if (from_n < g->lo)
		from_n = g->lo;
	if (from_store < 1)
		from_store = 1;
	b->len = 0;
	RET(buf_put_u8(b, full ? BLOB_FULL : BLOB_DELTA));
	RET(buf_put_u32(b, g->next_n));
	RET(buf_put_u32(b, g->head));
	RET(buf_put_u32(b, g->base));
	RET(buf_put_u32(b, from_store));
	RET(buf_put_u32(b, db->stores->n));
	for (uint32_t i = from_store; i < db->stores->n; i++) {
		RET(buf_put_u8(b, db->stores->v[i].len));
		RET(buf_append(b, db->stores->v[i].name, db->stores->v[i].len));
	}
	RET(put_bitmap(b, g->base_anc));
	RET(put_bitmap(b, g->dead));
	count_at = b->len;
	RET(buf_put_u32(b, 0));
	for (uint32_t n = from_n; n < g->next_n; n++) {
		const struct version *v = vg_get(g, n);

		if (!v)
			continue;
		RET(buf_put_u32(b, v->n));
		RET(buf_put_u32(b, v->parent));
		RET(buf_put_u64(b, v->height));
		RET(buf_put_u64(b, v->pos.seg));
		RET(buf_put_u64(b, v->pos.off));
		RET(buf_put_u8(b, v->vidlen));
		RET(buf_append(b, v->vid, v->vidlen));
		count++;
	}
	put_u32(b->p + count_at, count);
	return 0;
}

/* The graph as the manifest describes it, gathered at open. */
struct ograph {
	uint32_t next_n, head, base;
	roaring_bitmap_t *base_anc, *dead;
	struct overs {
		uint32_t n, parent;
		uint64_t height;
		struct jpos pos;
		uint32_t vid_off;
		uint8_t vidlen;
	} *v;
	uint32_t nv, capv;
	struct buf vids;
	int seen; /* a blob was read */
};

static void ograph_free(struct ograph *o)
{
	if (o->base_anc)
		roaring_bitmap_free(o->base_anc);
	if (o->dead)
		roaring_bitmap_free(o->dead);
	mem_free(o->v);
	buf_free(&o->vids);
}

static int get_bitmap(struct rd *r, roaring_bitmap_t **out)
{
	uint32_t n;
	const uint8_t *p;

	if (rd_u32(r, &n) || rd_bytes(r, n, &p))
		return -1;
	if (!(*out = roaring_bitmap_portable_deserialize_safe((const char *)p, n)))
		return -1;
	if (roaring_bitmap_portable_size_in_bytes(*out) != n) {
		roaring_bitmap_free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

struct open_ctx {
	iodb *db;
	struct ograph og;
};

static int blob_apply(void *arg, const uint8_t *p, size_t len, const char *path, uint64_t off)
{
	struct open_ctx *oc = arg;
	struct ograph *o = &oc->og;
	iodb *db = oc->db;
	roaring_bitmap_t *anc = NULL, *dead = NULL;
	uint32_t from_store, nstores, count;
	uint8_t kind;
	struct rd r;

	rd_init(&r, p, len);
	if (rd_u8(&r, &kind) || (kind != BLOB_DELTA && kind != BLOB_FULL) ||
	    rd_u32(&r, &o->next_n) || rd_u32(&r, &o->head) || rd_u32(&r, &o->base) ||
	    rd_u32(&r, &from_store) || rd_u32(&r, &nstores))
		goto bad;
	if (kind == BLOB_FULL) {
		struct stores *s;

		RET(stores_new_default(&s));
		stores_unref(db->stores);
		db->stores = s;
		o->nv = 0;
		o->vids.len = 0;
	}
	if (from_store != db->stores->n || nstores < from_store)
		return ERR_CORRUPT(path, off, "manifest's version graph: store names %u.. follow "
					      "%u names", from_store, db->stores->n);
	for (uint32_t i = from_store; i < nstores; i++) {
		uint8_t nl;
		const uint8_t *name;
		struct stores *s;

		if (rd_u8(&r, &nl) || rd_bytes(&r, nl, &name) || !store_name_valid(name, nl) ||
		    nl == 0 || stores_find(db->stores, name, nl) >= 0)
			goto bad;
		RET(stores_add(db->stores, name, nl, &s));
		stores_unref(db->stores);
		db->stores = s;
	}
	if (get_bitmap(&r, &anc) || get_bitmap(&r, &dead))
		goto bad;
	if (o->base_anc)
		roaring_bitmap_free(o->base_anc);
	if (o->dead)
		roaring_bitmap_free(o->dead);
	o->base_anc = anc;
	o->dead = dead;
	anc = dead = NULL;
	if (rd_u32(&r, &count))
		goto bad;
	for (uint32_t i = 0; i < count; i++) {
		struct overs v = {0};
		const uint8_t *vid;

		if (rd_u32(&r, &v.n) || rd_u32(&r, &v.parent) || rd_u64(&r, &v.height) ||
		    rd_u64(&r, &v.pos.seg) || rd_u64(&r, &v.pos.off) || rd_u8(&r, &v.vidlen) ||
		    v.vidlen == 0 || rd_bytes(&r, v.vidlen, &vid))
			goto bad;
		if ((o->nv && v.n <= o->v[o->nv - 1].n) || v.n >= o->next_n || v.parent >= v.n)
			return ERR_CORRUPT(path, off, "manifest's version graph lists version %u "
						      "out of order", v.n);
		if (o->nv == o->capv) {
			uint32_t cap = o->capv ? o->capv * 2 : 64;
			struct overs *t = mem_realloc(o->v, cap * sizeof(*t));

			if (!t)
				return err_set(IODB_ENOMEM, "out of memory reading the manifest");
			o->v = t;
			o->capv = cap;
		}
		v.vid_off = (uint32_t)o->vids.len;
		RET(buf_append(&o->vids, vid, v.vidlen));
		o->v[o->nv++] = v;
	}
	if (rd_left(&r))
		goto bad;
	o->seen = 1;
	return 0;
bad:
	if (anc)
		roaring_bitmap_free(anc);
	if (dead)
		roaring_bitmap_free(dead);
	return ERR_CORRUPT(path, off, "manifest's version graph is malformed");
}

/* Build db->vg from what the blobs said. */
static int ograph_build(iodb *db, struct ograph *o, const char *path)
{
	struct vgraph *g = &db->vg;
	roaring_bitmap_t *kept = roaring_bitmap_create();
	int rc = 0;

	if (!kept)
		return err_set(IODB_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < o->nv; i++) {
		const struct overs *v = &o->v[i];
		uint32_t parent = v->parent;

		if (v->n < o->base)
			continue; /* folded into the base */
		if (v->n == o->base)
			parent = 0;
		else if (roaring_bitmap_contains(o->dead, v->n) ||
			 !roaring_bitmap_contains(kept, parent))
			continue;
		ERR(vg_add(g, v->n, parent, v->height, o->vids.p + v->vid_off, v->vidlen, &v->pos,
			   NULL));
		roaring_bitmap_add(kept, v->n);
	}
	if ((o->head && !vg_get(g, o->head)) || (o->base && !vg_get(g, o->base)) ||
	    (g->count && !o->head)) {
		rc = ERR_CORRUPT(path, 0, "manifest's version graph: head %u or base %u is not "
					  "retained",
				 o->head, o->base);
		goto err;
	}
	roaring_bitmap_free(g->base_anc);
	roaring_bitmap_free(g->dead);
	g->base_anc = o->base_anc;
	g->dead = o->dead;
	o->base_anc = o->dead = NULL;
	g->head = o->head;
	if (o->next_n > g->next_n)
		g->next_n = o->next_n;
err:
	roaring_bitmap_free(kept);
	return rc;
}

/* ---- Open and close ------------------------------------------------------------------- */

int db_shards_open(iodb *db)
{
	struct open_ctx oc = {db, {0}};
	struct manifest_state st;
	struct shard_map *map = NULL;
	char *path = NULL;
	int rc;

	if (!(db->dist = mem_calloc(1, sizeof(*db->dist))))
		return err_set(IODB_ENOMEM, "out of memory");
	pthread_mutex_init(&db->dist->mu, NULL);
	pthread_cond_init(&db->dist->cv, NULL);
	pthread_cond_init(&db->dist->done_cv, NULL);
	db->dist->gen_next = 1;
	ERR(bcache_new(db->o.block_cache_bytes, &db->bc));
	/* The graph: from the manifest and the journal after its point. */
	if (db->o.read_only)
		ERR(manifest_open_read_only(db->env, db->dir, db->bc, blob_apply, &oc, &db->man,
					    &st, &map));
	else
		ERR(manifest_open(db->env, db->dir, db->bc, blob_apply, &oc, &db->man, &st,
				  &map));
	ERR(tables_new(NULL, 0, map, &db->tab));
	if (!(path = path_join(db->dir, "MANIFEST"))) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	if (oc.og.seen)
		ERR(ograph_build(db, &oc.og, path));
	db->journal_start = st.dist_pos;
	/* The Merkle layer may read records before the distribute point (db_merkle_roots). */
	db->journal_keep = db->o.merkle ? (st.released_seg ? st.released_seg : 1) : 0;
	db->dist_n = st.dist_n;
	db->dist_pos = st.dist_pos;
	if (db->o.merkle) {
		/* The Merkle layer may need any record until the first durable point says
		 * which (db_snap_durable: the base's anchor). */
		struct jpos first = {1, 0};

		ERR(db_journal_hold(db, "merkle", &first));
	}
	db->want_full = 1; /* the first freeze describes the whole graph */
err:
	smap_unref(map);
	ograph_free(&oc.og);
	mem_free(path);
	return rc;
}

static void job_free(struct djob *j)
{
	if (!j)
		return;
	mt_unref(j->mem);
	buf_free(&j->blob);
	if (j->dead)
		roaring_bitmap_free(j->dead);
	mem_free(j);
}

void db_shards_close(iodb *db)
{
	struct dist *d = db->dist;

	if (d && d->up) {
		pthread_mutex_lock(&d->mu);
		d->stop = 1;
		pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
	}
	/* After the distribute thread (which pokes it), before its state goes (which compaction
	 * reads: db_dist_failed) and before the map goes. */
	db_compact_stop(db);
	if (d) {
		while (d->head) {
			struct djob *j = d->head;

			d->head = j->next;
			job_free(j);
		}
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		pthread_cond_destroy(&d->done_cv);
		mem_free(d);
		db->dist = NULL;
	}
	view_unref(db->cur);
	db->cur = NULL;
	tables_unref(db->tab);
	db->tab = NULL;
	manifest_close(db->man);
	db->man = NULL;
	bcache_free(db->bc); /* after every run: they use it */
	db->bc = NULL;
}

/* ---- Distribute ----------------------------------------------------------------------- */

int db_journal_hold(iodb *db, const char *name, const struct jpos *pos)
{
	struct dist *d = db->dist;
	int rc = 0, k, free_slot = -1;

	pthread_mutex_lock(&d->mu);
	for (k = 0; k < JHOLDERS; k++) {
		if (d->hold[k].name && strcmp(d->hold[k].name, name) == 0)
			break;
		if (!d->hold[k].name && free_slot < 0)
			free_slot = k;
	}
	if (k == JHOLDERS)
		k = free_slot;
	if (k < 0) {
		rc = err_set(IODB_EINVAL, "too many journal holders");
	} else if (!pos) {
		d->hold[k].name = NULL;
	} else {
		d->hold[k].name = name;
		d->hold[k].pos = *pos;
	}
	pthread_mutex_unlock(&d->mu);
	return rc;
}

/* Segments below the returned number are needed by nobody once `end` is distributed. */
static uint64_t release_below(iodb *db, const struct jpos *end)
{
	struct dist *d = db->dist;
	uint64_t seg = end->seg;

	pthread_mutex_lock(&d->mu);
	for (int k = 0; k < JHOLDERS; k++)
		if (d->hold[k].name && d->hold[k].pos.seg < seg)
			seg = d->hold[k].pos.seg;
	pthread_mutex_unlock(&d->mu);
	return seg;
}

static int distribute_one(iodb *db, struct djob *job)
{
	struct run_wopts wo = {db->o.block_bytes, 10};
	struct tables *t, *cur = NULL, *nt = NULL;
	struct shard_map *map = NULL;
	struct run **runs = NULL;
	uint32_t *ids = NULL, nruns = 0;
	struct iiter *src = NULL;
	struct manifest_edit e = {0};
	uint64_t t0 = now_usec(), bytes = 0;
	int rc, man_locked = 0;

	/* No shard boundary changes from the map the runs are cut by to the install. */
	pthread_mutex_lock(&db->struct_mu);
	t = db_tables_acquire(db);
	ERR(mt_iter_new(job->mem, &src));
	ERR(distribute_write(db->env, db->man, t->map, src, job->dead, &wo, db->bc, &runs, &ids,
			     &nruns));
	for (uint32_t i = 0; i < nruns; i++) {
		const struct run_meta *m = run_meta(runs[i]);

		run_set_gc(runs[i], roaring_bitmap_range_cardinality(job->dead, m->min_n,
								      (uint64_t)m->max_n + 1), 0);
	}
	/* The edit goes on the map as it is now: compaction may have replaced runs. */
	pthread_mutex_lock(&db->man_mu);
	man_locked = 1;
	cur = db_tables_acquire(db);
	ERR(smap_edit(cur->map, runs, ids, nruns, NULL, 0, &map));
	e.add = runs;
	e.add_shard = ids;
	e.nadd = nruns;
	e.set_dist = 1;
	e.dist_n = job->last_n;
	e.dist_pos = job->end;
	e.released_seg = release_below(db, &job->end);
	e.blob = job->blob.p;
	e.bloblen = job->blob.len;
	e.rewrite = job->full;
	ERR(manifest_apply(db->man, map, &e));
	for (uint32_t i = 0; i < nruns; i++)
		bytes += run_meta(runs[i])->size;

	/* Install: the tables as they are now (the leader may have frozen more), without
	 * this memtable (the oldest), with the new map. */
	pthread_mutex_lock(&db->view_mu);
	if ((rc = tables_derive(db->tab, NULL, job->mem, map, &nt)) == 0 &&
	    (rc = tables_install_locked(db, NULL, nt)) != 0)
		tables_unref(nt);
	pthread_mutex_unlock(&db->view_mu);
	if (rc) {
		/* Durable, but not in memory: no edit may be made from the old map. */
		manifest_set_failed(db->man);
		goto err;
	}
	db_compact_note_map(db, map);
	pthread_mutex_unlock(&db->man_mu);
	man_locked = 0;
	db_compact_poke(db);
	if (e.released_seg > 1 && journal_release(db->journal, e.released_seg) != 0)
		err_clear(); /* a segment left behind is deleted by the next open */
	if (manifest_size(db->man) > manifest_size_at_rewrite(db->man) + MANIFEST_REWRITE_BYTES)
		db->want_full = 1;
	db->st_dist++;
	db->st_dist_bytes += bytes;
	db->st_dist_usec += now_usec() - t0;
err:
	if (man_locked)
		pthread_mutex_unlock(&db->man_mu);
	pthread_mutex_unlock(&db->struct_mu);
	tables_unref(cur);
	if (src)
		src->ops->close(src);
	/* After a failure the run files stay: whether the manifest edit reached the disk is
	 * not known, and the next open removes them if it did not. */
	for (uint32_t i = 0; i < nruns; i++)
		run_unref(runs[i]);
	mem_free(runs);
	mem_free(ids);
	smap_unref(map);
	tables_unref(t);
	return rc;
}

static void *dist_main(void *arg)
{
	iodb *db = arg;
	struct dist *d = db->dist;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct djob *j;
		int rc;

		while (!d->stop && (!d->head || d->err))
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		j = d->head;
		pthread_mutex_unlock(&d->mu);
		rc = distribute_one(db, j);
		pthread_mutex_lock(&d->mu);
		if (rc) {
			d->err = rc;
			snprintf(d->msg, sizeof(d->msg), "distribute failed: %s", iodb_errmsg());
			db_fail_note(db, d->msg);
		} else {
			d->head = j->next;
			if (!d->head)
				d->tail = NULL;
			d->n--;
			d->gen_done = j->gen;
			job_free(j);
		}
		pthread_cond_broadcast(&d->done_cv);
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

int db_dist_start(iodb *db)
{
	if (pthread_create(&db->dist->thread, NULL, dist_main, db) != 0)
		return err_set(IODB_EIO, "cannot start the distribute thread");
	db->dist->up = 1;
	return 0;
}

int db_dist_failed(iodb *db)
{
	return db->dist->err != 0;
}

int db_dist_wait(iodb *db, uint64_t gen)
{
	struct dist *d = db->dist;
	int rc = 0;

	pthread_mutex_lock(&d->mu);
	while (d->gen_done < gen && !d->err)
		pthread_cond_wait(&d->done_cv, &d->mu);
	if (d->gen_done < gen)
		rc = err_set(d->err, "%s", d->msg);
	pthread_mutex_unlock(&d->mu);
	return rc;
}

int db_freeze(iodb *db, int force, uint64_t *gen)
{
	struct dist *d = db->dist;
	struct djob *job = NULL;
	struct memtable *fresh = NULL;
	struct tables *nt = NULL;
	uint64_t t0;
	int rc;

	if (gen)
		*gen = 0;
	if (force ? db->mem_jbytes == 0
		  : db->mem_jbytes < db->o.memtable_bytes && mt_bytes(db->mem) < db->o.memtable_bytes) {
		if (gen) { /* nothing new: wait for what is already frozen */
			pthread_mutex_lock(&d->mu);
			*gen = d->gen_next - 1;
			pthread_mutex_unlock(&d->mu);
		}
		if (force) { /* a flush: the graph as it stands is durable, compaction may use it */
			RET(journal_sync_now(db->journal));
			db_compact_rules(db);
			db_snap_durable(db);
		}
		return 0;
	}
	/* Back-pressure: a bounded number of frozen memtables. */
	pthread_mutex_lock(&d->mu);
	t0 = now_usec();
	while (d->n >= MAX_FROZEN && !d->err)
		pthread_cond_wait(&d->done_cv, &d->mu);
	db->st_stall_usec += now_usec() - t0;
	rc = d->err ? err_set(d->err, "%s", d->msg) : 0;
	pthread_mutex_unlock(&d->mu);
	if (rc)
		return rc;

	/* The manifest will point at the journal's end: it must be durable there. And the
	 * graph is durable as it stands: compaction may drop what it discards. A flush also
	 * starts a new segment, so that the one written so far is wholly before the distribute
	 * point and can be released (space after a rollback or clean is all given back). */
	RET(journal_flush(db->journal));
	if (force)
		RET(journal_next_segment(db->journal));
	db_compact_rules(db);
	db_snap_durable(db);
	if (!(job = mem_calloc(1, sizeof(*job))))
		return err_set(IODB_ENOMEM, "out of memory freezing the memtable");
	buf_init(&job->blob);
	job->full = atomic_exchange(&db->want_full, 0);
	ERR(blob_encode(db, job->full, &job->blob));
	if (!(job->dead = roaring_bitmap_copy(db->vg.dead))) {
		rc = err_set(IODB_ENOMEM, "out of memory freezing the memtable");
		goto err;
	}
	journal_tell(db->journal, &job->end);
	job->last_n = db->vg.next_n - 1;
	ERR(mt_new(&fresh));

	/* The frozen memtable joins the tables and a new one takes writes: one head view
	 * change, so no reader sees one without the other. */
	pthread_rwlock_wrlock(&db->vg_lock);
	pthread_mutex_lock(&db->view_mu);
	if ((rc = tables_derive(db->tab, db->mem, NULL, db->tab->map, &nt)) == 0 &&
	    (rc = tables_install_locked(db, fresh, nt)) == 0) {
		nt = NULL;
		job->mem = db->mem;
		db->mem = fresh;
		fresh = NULL;
	}
	pthread_mutex_unlock(&db->view_mu);
	pthread_rwlock_unlock(&db->vg_lock);
	if (rc)
		goto err;
	db->blob_next_n = db->vg.next_n;
	db->blob_nstores = db->stores->n;
	db->mem_jbytes = 0;
	db->st_freezes++;

	pthread_mutex_lock(&d->mu);
	job->gen = d->gen_next++;
	if (gen)
		*gen = job->gen;
	if (d->tail)
		d->tail->next = job;
	else
		d->head = job;
	d->tail = job;
	d->n++;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
	return 0;
err:
	if (job && job->full)
		db->want_full = 1;
	tables_unref(nt);
	if (fresh)
		mt_unref(fresh);
	job_free(job);
	return rc;
}
