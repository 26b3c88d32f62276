/*
 * compact.c — compaction's scheduling and installing half: which shard to compact next,
 * running a task (compaction/merge_task.c writes it), and installing the result with one
 * durable manifest edit. The threads are compaction/pool.c's.
 *
 * A task takes one shard (or two neighbours, for a merge-back) and merges all of its runs
 * into new runs, with the rules of compaction.h taken from the version graph as the task
 * starts. The output is cut into pieces of about shard_max_bytes / 2 when the input is past
 * shard_max_bytes: each piece becomes a shard of its own (a split). A shard below
 * shard_min_bytes is merged with its smaller neighbour (a merge-back). One task per shard at
 * a time (the busy set); tasks on different shards run side by side.
 *
 * The rules come from the graph as of the last point the journal was durable (the leader
 * hands them over at each freeze and flush): with sync off, a rollback or clean only in
 * the page cache could be undone by a power cut, and the entries it discarded are needed
 * again then.
 *
 * Install, under man_mu (and struct_mu when the shard boundaries change; distribute holds
 * struct_mu from the map it splits its memtable by until its own install, so it never writes
 * a run for a shard that is gone): the map as it is now, the task's shards replaced by the
 * result; runs distribute added to them meanwhile are kept (cut again by the new boundaries
 * on a split); one manifest edit; the head view
 * republished (under the graph lock, so it never pairs a graph change not yet published
 * with the new runs); the inputs marked obsolete — their files go when the last map holding
 * them (a snapshot's, an iterator's) is freed.
 *
 * Back-pressure (with auto_compaction): while some shard holds more than slowdown_runs
 * runs, each commit group's leader sleeps before committing: 0.5 ms × excess², at most
 * 20 ms. Writes slow down
 * smoothly instead of stopping; the time is counted in stats (writers_throttled_usec).
 *
 * A failed task removes what it wrote (or, if its manifest edit failed, leaves the files to
 * the next open); compaction then stops and, as after a failed distribute, later writes
 * return IODB_EIO until the store is reopened (reads go on; nothing acknowledged is lost —
 * a failed fsync cannot be retried safely). iodb_compact reports the error.
 */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "compaction/compaction.h"
#include "lib/db/db_int.h"

#define TRIGGER_RUNS 4	       /* background: merge a shard holding this many runs */
#define GARBAGE_PERCENT 10     /* background: or whose runs' numbers are this much discarded */
#define THROTTLE_MAX_USEC 20000
#define POOL_PERIOD_MS 500
#define MAX_PIECES 64	       /* most shards one split makes */

enum { T_MERGE, T_MERGE_BACK };

struct ctask {
	int kind;
	uint32_t ids[2], nids; /* shard ids, in key order */
	struct run **in;
	uint32_t nin;
	uint64_t bytes;
	roaring_bitmap_t *dead, *base_anc;
	uint32_t base;
};

struct compactor {
	struct cpool *pool;
	pthread_mutex_t mu;
	pthread_cond_t done_cv; /* a task finished */
	uint32_t *busy, nbusy, capbusy; /* shard ids under a task */
	atomic_int stop;
	int err;
	char msg[512];
	/* The rules tasks use: the graph as of the last point the journal was durable (a
	 * freeze or a flush), under mu. Empty at open: nothing is dropped until then. */
	roaring_bitmap_t *dead, *base_anc;
	uint32_t base;
};

static int is_busy(const struct compactor *c, uint32_t id)
{
	for (uint32_t i = 0; i < c->nbusy; i++)
		if (c->busy[i] == id)
			return 1;
	return 0;
}

static void task_free(struct ctask *t)
{
	for (uint32_t i = 0; i < t->nin; i++)
		run_unref(t->in[i]);
	mem_free(t->in);
	if (t->dead)
		roaring_bitmap_free(t->dead);
	if (t->base_anc)
		roaring_bitmap_free(t->base_anc);
	memset(t, 0, sizeof(*t));
}

/* ---- Choosing ------------------------------------------------------------------------- */

/* Does run r hold entries the rules have since made garbage? Manual: any; background: when
 * a tenth of its numbers were discarded since it was written. compactor.mu held. */
static int run_gc_due(const struct compactor *c, const struct run_meta *m, int manual)
{
	uint64_t d = roaring_bitmap_range_cardinality(c->dead, m->min_n, (uint64_t)m->max_n + 1);

	if (manual) {
		if (d > m->gc_dead)
			return 1;
		/* The base moved past numbers the run holds that were above its old base. */
		return c->base > m->gc_base && m->max_n > m->gc_base && m->min_n < c->base;
	}
	return d > m->gc_dead &&
	       (d - m->gc_dead) * 100 >= ((uint64_t)m->max_n - m->min_n + 1) * GARBAGE_PERCENT;
}

/* How much shard i wants a task (0: not due); *back: merge it back into neighbour *with. */
static uint64_t shard_score(iodb *db, const struct shard_map *map, uint32_t i, int manual,
			    int *back, uint32_t *with)
{
	const struct compactor *c = db->cmp;
	const struct shard *s = &map->v[i];
	uint64_t score = 0;
	int stuck = 0;

	*back = 0;
	if (is_busy(c, s->id))
		return 0;
	/* Past the maximum: split, unless a merge found nothing to cut (one key's history) and
	 * no more runs than usual came since. */
	for (uint32_t r = 0; r < s->nruns; r++)
		stuck |= run_meta(s->runs[r])->unsplittable;
	if (s->bytes > db->o.shard_max_bytes && (!stuck || s->nruns >= TRIGGER_RUNS))
		score = 1000000 + s->bytes / 4096;
	if (s->nruns >= (manual ? 2u : TRIGGER_RUNS))
		score += 1000 * s->nruns;
	if (map->n > 1 && s->bytes < db->o.shard_min_bytes && score < 1000000) {
		/* The smaller free neighbour, if the two fit one task. */
		int64_t best = -1;

		for (int d = -1; d <= 1; d += 2) {
			int64_t j = (int64_t)i + d;

			/* Not past the maximum together: the merge would split again. */
			if (j < 0 || j >= map->n || is_busy(c, map->v[j].id) ||
			    s->bytes + map->v[j].bytes > db->o.shard_max_bytes ||
			    s->bytes + map->v[j].bytes > db->o.compaction_task_bytes)
				continue;
			if (best < 0 || map->v[j].bytes < map->v[best].bytes)
				best = j;
		}
		if (best >= 0) {
			*back = 1;
			*with = (uint32_t)best;
			return score + 500000;
		}
	}
	if (!score)
		for (uint32_t r = 0; r < s->nruns; r++)
			if (run_gc_due(c, run_meta(s->runs[r]), manual)) {
				score = 100;
				break;
			}
	return score;
}

static int take_runs(struct ctask *t, const struct shard *s)
{
	struct run **v;

	if (!s->nruns)
		return 0;
	if (!(v = mem_realloc(t->in, (t->nin + s->nruns) * sizeof(*v))))
		return err_set(IODB_ENOMEM, "out of memory in compaction");
	t->in = v;
	for (uint32_t r = 0; r < s->nruns; r++) {
		run_ref(s->runs[r]);
		t->in[t->nin++] = s->runs[r];
	}
	t->bytes += s->bytes;
	return 0;
}

/* Pick the most wanted shard and mark it busy: 1 and *t filled, 0 if nothing is due. */
static int pick(iodb *db, int manual, struct ctask *t)
{
	struct compactor *c = db->cmp;
	struct tables *tab;
	const struct shard_map *map;
	uint64_t best = 0;
	uint32_t bi = 0, bwith = 0;
	int bback = 0, rc = 0;

	memset(t, 0, sizeof(*t));
	pthread_mutex_lock(&c->mu);
	if (!c->err && db_dist_failed(db)) {
		/* A failed distribute may have left the manifest unusable: stop too. */
		c->err = IODB_EIO;
		snprintf(c->msg, sizeof(c->msg), "compaction stopped: distribute failed");
	}
	if (c->err || atomic_load(&c->stop)) {
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	tab = db_tables_acquire(db);
	map = tab->map;
	for (uint32_t i = 0; i < map->n; i++) {
		int back = 0;
		uint32_t with = 0;
		uint64_t sc = shard_score(db, map, i, manual, &back, &with);

		if (sc > best) {
			best = sc;
			bi = i;
			bback = back;
			bwith = with;
		}
	}
	if (best) {
		uint32_t lo = bback && bwith < bi ? bwith : bi, n = bback ? 2 : 1;

		t->kind = bback ? T_MERGE_BACK : T_MERGE;
		t->base = c->base;
		if (!(t->dead = roaring_bitmap_copy(c->dead)) ||
		    !(t->base_anc = roaring_bitmap_copy(c->base_anc)))
			rc = err_set(IODB_ENOMEM, "out of memory in compaction");
		for (uint32_t k = 0; k < n && rc == 0; k++) {
			t->ids[t->nids++] = map->v[lo + k].id;
			rc = take_runs(t, &map->v[lo + k]);
		}
		if (rc == 0 && c->nbusy + 2 > c->capbusy) {
			uint32_t cap = c->capbusy ? c->capbusy * 2 : 8;
			uint32_t *b = mem_realloc(c->busy, cap * sizeof(*b));

			if (b) {
				c->busy = b;
				c->capbusy = cap;
			} else {
				rc = err_set(IODB_ENOMEM, "out of memory in compaction");
			}
		}
		if (rc == 0)
			for (uint32_t k = 0; k < t->nids; k++)
				c->busy[c->nbusy++] = t->ids[k];
	}
	tables_unref(tab);
	pthread_mutex_unlock(&c->mu);
	if (rc) {
		task_free(t);
		return rc;
	}
	return best ? 1 : 0;
}

static void unbusy(iodb *db, const struct ctask *t)
{
	struct compactor *c = db->cmp;

	pthread_mutex_lock(&c->mu);
	for (uint32_t k = 0; k < t->nids; k++)
		for (uint32_t i = 0; i < c->nbusy; i++)
			if (c->busy[i] == t->ids[k]) {
				c->busy[i] = c->busy[--c->nbusy];
				break;
			}
	pthread_cond_broadcast(&c->done_cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- Installing ----------------------------------------------------------------------- */

static int in_task(const struct ctask *t, const struct run *r)
{
	for (uint32_t i = 0; i < t->nin; i++)
		if (t->in[i] == r)
			return 1;
	return 0;
}

/* Recompute the most runs any shard holds (for the back-pressure rule). */
static void note_map(iodb *db, const struct shard_map *m)
{
	uint32_t mx = 0;

	for (uint32_t i = 0; i < m->n; i++)
		if (m->v[i].nruns > mx)
			mx = m->v[i].nruns;
	atomic_store(&db->max_runs, mx);
}

/* Write the entries of runs in[0..n) again, cut by the shards of map. */
static int recut(iodb *db, const struct shard_map *map, struct run **in, uint32_t n,
		 struct run ***out, uint32_t **ids, uint32_t *nout)
{
	struct run_wopts wo = {db->o.block_bytes, 10};
	struct iiter *src = NULL;
	int rc;

	RET(runs_iter_new(in, n, 1, &src));
	rc = distribute_write(db->env, db->man, map, src, NULL, &wo, db->bc, out, ids, nout);
	src->ops->close(src);
	return rc;
}

static int install(iodb *db, struct ctask *t, struct compact_out *out, int *split, int *tried)
{
	struct tables *tab = NULL, *nt = NULL;
	struct shard_map *map, *nm = NULL;
	struct shard_spec spec[MAX_PIECES], *sp = spec;
	struct run **extra = NULL, **merged = NULL;
	uint64_t *del = NULL;
	uint32_t nextra = 0, nspec = 0, ndel = 0, del_ids[2], ndel_ids = 0, new_ids[MAX_PIECES], at;
	int64_t idx;
	int rc = 0, structural = t->nids > 1 || out->n > 1, applied = 0, manifest_tried = 0;
	struct manifest_edit e = {0};
	struct run **recut_runs = NULL;
	uint32_t *recut_ids = NULL, nrecut = 0;

	*split = *tried = 0;
	if (structural)
		pthread_mutex_lock(&db->struct_mu);
	pthread_mutex_lock(&db->man_mu);
	tab = db_tables_acquire(db);
	map = tab->map;
	if ((idx = smap_index(map, t->ids[0])) < 0 ||
	    (t->nids > 1 && smap_index(map, t->ids[1]) != idx + 1)) {
		rc = err_set(IODB_EINVAL, "compaction: shard %u changed under a task", t->ids[0]);
		goto err;
	}
	at = (uint32_t)idx;
	/* Runs added to the task's shards since it began (by distribute): they stay. */
	{
		uint32_t cap = out->n;

		for (uint32_t k = 0; k < t->nids; k++)
			cap += map->v[at + k].nruns;
		if (!(extra = mem_alloc((cap ? cap : 1) * sizeof(*extra))) ||
		    !(merged = mem_alloc((cap ? cap : 1) * sizeof(*merged))) ||
		    !(del = mem_alloc((cap ? cap : 1) * sizeof(*del)))) {
			rc = err_set(IODB_ENOMEM, "out of memory in compaction");
			goto err;
		}
	}
	for (uint32_t k = 0; k < t->nids; k++) {
		const struct shard *s = &map->v[at + k];

		for (uint32_t r = 0; r < s->nruns; r++) {
			del[ndel++] = run_meta(s->runs[r])->file_no;
			if (!in_task(t, s->runs[r]))
				extra[nextra++] = s->runs[r];
		}
	}
	if (out->n <= 1) {
		/* One shard: its output and the extra runs. */
		uint32_t n = 0;

		for (uint32_t i = 0; i < nextra; i++)
			merged[n++] = extra[i];
		for (uint32_t i = 0; i < out->n; i++)
			merged[n++] = out->v[i].run;
		spec[0] = (struct shard_spec){t->ids[0], map->v[at].lo, map->v[at].lolen, merged, n};
		new_ids[0] = t->ids[0];
		nspec = 1;
	} else {
		for (uint32_t i = 0; i < out->n; i++) {
			uint32_t id = i == 0 ? t->ids[0] : db->next_shard_id++;

			spec[i] = (struct shard_spec){id, i ? out->v[i].lo : map->v[at].lo,
						      i ? out->v[i].lolen : map->v[at].lolen,
						      &out->v[i].run, 1};
			new_ids[i] = id;
		}
		nspec = out->n;
		*split = nspec > 1;
	}
	if (t->nids > 1)
		del_ids[ndel_ids++] = t->ids[1];
	ERR(smap_splice(map, at, t->nids, sp, nspec, &nm));
	if (nextra && nspec > 1) {
		/* Runs distribute added while the task ran span the new boundaries: cut them
		 * by the new shards (small: what arrived during one task; distribute waits,
		 * struct_mu is held). */
		struct shard_map *m2 = NULL;

		ERR(recut(db, nm, extra, nextra, &recut_runs, &recut_ids, &nrecut));
		rc = smap_edit(nm, recut_runs, recut_ids, nrecut, NULL, 0, &m2);
		smap_unref(nm);
		nm = m2;
		if (rc)
			goto err;
	}
	e.del = del;
	e.ndel = ndel;
	e.del_shards = del_ids;
	e.ndel_shards = ndel_ids;
	e.new_shards = new_ids;
	e.nnew_shards = nspec;
	manifest_tried = *tried = 1;
	ERR(manifest_apply(db->man, nm, &e));
	/* Durable: publish, under the graph lock (see the top of the file). */
	pthread_rwlock_rdlock(&db->vg_lock);
	pthread_mutex_lock(&db->view_mu);
	if ((rc = tables_derive(db->tab, NULL, NULL, nm, &nt)) == 0 &&
	    (rc = tables_install_locked(db, NULL, nt)) != 0)
		tables_unref(nt);
	pthread_mutex_unlock(&db->view_mu);
	pthread_rwlock_unlock(&db->vg_lock);
	if (rc) {
		/* The edit is durable but the map in memory is the old one: an edit made
		 * from it would contradict the manifest. No more edits until reopen. */
		manifest_set_failed(db->man);
		goto err;
	}
	note_map(db, nm);
	for (uint32_t i = 0; i < t->nin; i++)
		run_set_obsolete(t->in[i]);
	if (nrecut)
		for (uint32_t i = 0; i < nextra; i++)
			run_set_obsolete(extra[i]);
	applied = 1;
	if (manifest_size(db->man) > manifest_size_at_rewrite(db->man) + MANIFEST_REWRITE_BYTES)
		db->want_full = 1;
err:
	pthread_mutex_unlock(&db->man_mu);
	if (structural)
		pthread_mutex_unlock(&db->struct_mu);
	for (uint32_t i = 0; i < nrecut; i++) {
		if (!applied && !manifest_tried)
			run_set_obsolete(recut_runs[i]);
		run_unref(recut_runs[i]);
	}
	mem_free(recut_runs);
	mem_free(recut_ids);
	smap_unref(nm);
	tables_unref(tab);
	mem_free(extra);
	mem_free(merged);
	mem_free(del);
	return rc;
}

/* ---- Running -------------------------------------------------------------------------- */

static int run_task(iodb *db, struct ctask *t)
{
	struct compact_rules rules = {t->dead, t->base_anc, t->base, 1};
	struct run_wopts wo = {db->o.block_bytes, 10};
	struct compact_out out;
	uint64_t t0 = now_usec(), piece, bytes_in = 0, bytes_out = 0;
	int rc, split = 0, tried = 0;

	atomic_fetch_add(&db->cmp_running, 1);
	/* Past the maximum: pieces of half of it (two blocks at least), and never more than
	 * MAX_PIECES of them (the last takes the rest; a shard far past the maximum is split
	 * in fewer, larger pieces, which split again). */
	piece = 0;
	if (t->bytes > db->o.shard_max_bytes) {
		piece = db->o.shard_max_bytes / 2;
		if (piece < 2ull * db->o.block_bytes)
			piece = 2ull * db->o.block_bytes;
	}
	rc = compact_merge(db->env, db->man, t->in, t->nin, &rules, piece, MAX_PIECES, &wo,
			   db->bc, &db->cmp->stop, &out);
	if (rc == 0 && piece && out.n == 1 && out.bytes_out > db->o.shard_max_bytes)
		run_set_unsplittable(out.v[0].run); /* before it is published */
	if (rc == 0) {
		rc = install(db, t, &out, &split, &tried);
		bytes_in = out.bytes_in;
		bytes_out = out.bytes_out;
		/* Failed before its edit: the files go. After (or during) it, whether the edit
		 * reached the disk is unknown; the next open removes them if it did not. */
		compact_out_free(&out, rc && !tried);
	}
	if (rc == 0) {
		db->st_cmp_tasks++;
		if (t->kind == T_MERGE_BACK)
			db->st_cmp_backs++;
		else
			db->st_cmp_merges++;
		if (split)
			db->st_cmp_splits++;
		if (t->bytes > db->o.compaction_task_bytes)
			db->st_cmp_oversized++;
		db->st_cmp_bytes_in += bytes_in;
		db->st_cmp_bytes_out += bytes_out;
		db->st_cmp_usec += now_usec() - t0;
	}
	atomic_fetch_sub(&db->cmp_running, 1);
	return rc;
}

/* One pick + run: 1 if a task ran, 0 if nothing was due, or an error. */
static int step(iodb *db, int manual)
{
	struct compactor *c = db->cmp;
	struct ctask t;
	int rc;

	if ((rc = pick(db, manual, &t)) <= 0)
		return rc;
	rc = run_task(db, &t);
	if (rc && !atomic_load(&c->stop)) {
		pthread_mutex_lock(&c->mu);
		if (!c->err) {
			c->err = rc;
			snprintf(c->msg, sizeof(c->msg), "compaction failed: %s", iodb_errmsg());
			db_fail_note(db, c->msg);
		}
		pthread_mutex_unlock(&c->mu);
	}
	unbusy(db, &t);
	task_free(&t);
	return rc ? rc : 1;
}

static int pool_step(void *arg)
{
	return step(arg, 0) > 0;
}

int db_compact_start(iodb *db)
{
	struct compactor *c = mem_calloc(1, sizeof(*c));
	const struct shard_map *m = db->tab->map;

	if (!c)
		return err_set(IODB_ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->done_cv, NULL);
	atomic_init(&c->stop, 0);
	db->cmp = c;
	if (!(c->dead = roaring_bitmap_create()) || !(c->base_anc = roaring_bitmap_create()))
		return err_set(IODB_ENOMEM, "out of memory");
	for (uint32_t i = 0; i < m->n; i++)
		if (m->v[i].id >= db->next_shard_id)
			db->next_shard_id = m->v[i].id + 1;
	note_map(db, m);
	if (db->o.auto_compaction)
		RET(cpool_start(db->o.compaction_threads, POOL_PERIOD_MS, pool_step, db, &c->pool));
	return 0;
}

void db_compact_stop(iodb *db)
{
	struct compactor *c = db->cmp;

	if (!c)
		return;
	atomic_store(&c->stop, 1);
	cpool_stop(c->pool);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->done_cv);
	if (c->dead)
		roaring_bitmap_free(c->dead);
	if (c->base_anc)
		roaring_bitmap_free(c->base_anc);
	mem_free(c->busy);
	mem_free(c);
	db->cmp = NULL;
}

void db_compact_rules(iodb *db)
{
	struct compactor *c = db->cmp;
	roaring_bitmap_t *dead, *anc;

	if (!c)
		return;
	/* The leader's graph: it alone changes it, so no lock to read it. */
	dead = roaring_bitmap_copy(db->vg.dead);
	anc = roaring_bitmap_copy(db->vg.base_anc);
	if (!dead || !anc) { /* keep the older rules: they are only more cautious */
		if (dead)
			roaring_bitmap_free(dead);
		if (anc)
			roaring_bitmap_free(anc);
		return;
	}
	pthread_mutex_lock(&c->mu);
	roaring_bitmap_free(c->dead);
	roaring_bitmap_free(c->base_anc);
	c->dead = dead;
	c->base_anc = anc;
	c->base = db->vg.base;
	pthread_mutex_unlock(&c->mu);
}

void db_compact_poke(iodb *db)
{
	if (db->cmp)
		cpool_poke(db->cmp->pool);
}

void db_compact_throttle(iodb *db)
{
	uint32_t mx = atomic_load(&db->max_runs), excess;
	uint64_t usec;
	struct timespec ts;

	if (mx <= db->o.slowdown_runs || !db->o.auto_compaction)
		return; /* without background compaction, waiting would not help */
	excess = mx - db->o.slowdown_runs;
	usec = excess >= 7 ? THROTTLE_MAX_USEC : 500ull * excess * excess;
	if (usec > THROTTLE_MAX_USEC)
		usec = THROTTLE_MAX_USEC;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)usec * 1000;
	nanosleep(&ts, NULL);
	db->st_throttle_usec += usec;
}

void db_compact_note_map(iodb *db, const struct shard_map *m)
{
	note_map(db, m);
}

int db_compact_failed(iodb *db)
{
	struct compactor *c = db->cmp;
	int rc;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->mu);
	rc = c->err;
	pthread_mutex_unlock(&c->mu);
	return rc != 0;
}

int iodb_compact(iodb *db)
{
	struct compactor *c;
	struct err_saved caller;
	int rc;

	RET(db_writable(db));
	err_keep(&caller);
	c = db->cmp;
	/* Everything in the runs, and the graph durable: the rules it leaves are the ones
	 * the tasks below use. */
	RET(iodb_flush(db));
	for (;;) {
		if ((rc = step(db, 1)) < 0)
			return rc;
		if (rc > 0)
			continue;
		/* Nothing due that is free: done once no task is under way either (a busy
		 * shard may be due again when its task ends). */
		pthread_mutex_lock(&c->mu);
		if (c->nbusy == 0 || c->err) {
			rc = c->err;
			pthread_mutex_unlock(&c->mu);
			return rc ? err_set(rc, "%s", c->msg) : err_kept(&caller, 0);
		}
		pthread_cond_wait(&c->done_cv, &c->mu);
		pthread_mutex_unlock(&c->mu);
	}
}
