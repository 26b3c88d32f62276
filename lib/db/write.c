/*
 * write.c — batches and the commit path: update, rollback, checkout, clean.
 *
 * Every change is a journal record. Callers queue on iodb.wq_mu; the writer at the front is
 * the leader: it takes a group of queued updates (up to group_commit_bytes), encodes one
 * record per update, appends them with one write and one fdatasync, applies them to the
 * memtable and the version graph, publishes the new head view, and wakes the group. So
 * concurrent updaters share an fsync, and readers never wait on the I/O: they keep reading
 * the previous head view until the new one is published, after the data is durable.
 *
 *   queued ──(front)──> leader: encode ─> append ─> fsync on the journal's thread ──┐
 *                                      memtable inserts + Merkle roots meanwhile ──┤
 *                                      wait ─> versions + head view published ─> done
 *                                                   └─ failed ─> sticky IODB_EIO ─> done
 *
 * The memtable entries of a version are invisible until the head view that includes its
 * number is published, and its Merkle roots are private until attached, so both are built
 * while the fdatasync runs and the commit costs max(fsync, CPU work), not their sum.
 *
 * Rollback, checkout and clean are groups of their own. With keep_versions, each update is
 * its own group too, followed in the same write by the clean record it implies (so replay
 * sees exactly what the live store did, whatever the options of a later open).
 *
 * After a failed journal write or fsync, and after an apply that failed half-way (out of
 * memory), the handle is sticky-failed: every later change returns that error; reads go on.
 */
#include <stdio.h>

#include "lib/db/db_int.h"

/* ---- Batches -------------------------------------------------------------------------- */

struct iodb_batch {
	struct buf ops;	   /* operations, encoded as in a commit record */
	uint64_t nops;
	struct buf stores; /* u8 len + name, for each store the ops use */
	uint32_t nstores;
	uint32_t last_store; /* cache: index of the last store used */
	uint64_t bytes;	     /* user bytes: keys and values */
};

int iodb_batch_new(iodb_batch **out)
{
	iodb_batch *b;

	if (!out)
		return err_set(IODB_EINVAL, "iodb_batch_new: b must not be NULL");
	if (!(b = mem_calloc(1, sizeof(*b))))
		return err_set(IODB_ENOMEM, "out of memory creating a batch");
	*out = b;
	return 0;
}

void iodb_batch_clear(iodb_batch *b)
{
	if (!b)
		return;
	b->ops.len = 0;
	b->stores.len = 0;
	b->nops = b->bytes = 0;
	b->nstores = b->last_store = 0;
}

void iodb_batch_free(iodb_batch *b)
{
	if (!b)
		return;
	buf_free(&b->ops);
	buf_free(&b->stores);
	mem_free(b);
}

size_t iodb_batch_count(const iodb_batch *b)
{
	return b ? (size_t)b->nops : 0;
}

static int batch_store_index(iodb_batch *b, const uint8_t *name, size_t len, uint32_t *idx)
{
	const uint8_t *p = b->stores.p;

	if (b->nstores) {
		/* Most batches use one store: check the last one used first. */
		const uint8_t *q = p;

		for (uint32_t i = 0; i < b->last_store; i++)
			q += 1 + q[0];
		if (q[0] == len && memcmp(q + 1, name, len) == 0) {
			*idx = b->last_store;
			return 0;
		}
	}
	for (uint32_t i = 0; i < b->nstores; i++, p += 1 + p[0])
		if (p[0] == len && memcmp(p + 1, name, len) == 0) {
			*idx = b->last_store = i;
			return 0;
		}
	RET(buf_put_u8(&b->stores, (uint8_t)len));
	RET(buf_append(&b->stores, name, len));
	*idx = b->last_store = b->nstores++;
	return 0;
}

static int batch_add(iodb_batch *b, uint8_t kind, const char *store, const void *key,
		     size_t klen, const void *val, size_t vlen)
{
	const uint8_t *name;
	size_t nlen;
	uint32_t idx;

	if (!b)
		return err_set(IODB_EINVAL, "batch must not be NULL");
	RET(check_store(store, &name, &nlen));
	RET(check_key(key, klen));
	if (kind == JOP_PUT && ((!val && vlen) || vlen > IODB_MAX_VALUE))
		return err_set(IODB_EINVAL, "bad value: %s",
			       vlen > IODB_MAX_VALUE ? "longer than IODB_MAX_VALUE" : "NULL with a length");
	if (b->ops.len + klen + vlen + 32 > JREC_MAX_PAYLOAD)
		return err_set(IODB_EINVAL, "batch would exceed %u bytes", JREC_MAX_PAYLOAD);
	{
		size_t stores_len = b->stores.len, ops_len = b->ops.len;
		uint32_t nstores = b->nstores;
		int rc;

		/* A store the record names exists from that version on: a failed add must not
		 * leave its store named (nor half an op). */
		if ((rc = batch_store_index(b, name, nlen, &idx)) == 0 &&
		    (rc = jrec_put_op(&b->ops, kind, idx, key, klen, val, vlen)) != 0) {
			b->stores.len = stores_len;
			b->ops.len = ops_len;
			b->nstores = nstores;
			b->last_store = 0;
		}
		RET(rc);
	}
	b->nops++;
	b->bytes += klen + vlen;
	return 0;
}

int iodb_batch_put(iodb_batch *b, const char *store, const void *key, size_t klen,
		   const void *val, size_t vlen)
{
	return batch_add(b, JOP_PUT, store, key, klen, val, vlen); /* NULL ok when vlen is 0 */
}

int iodb_batch_del(iodb_batch *b, const char *store, const void *key, size_t klen)
{
	return batch_add(b, JOP_DEL, store, key, klen, NULL, 0);
}

/* ---- The commit queue ----------------------------------------------------------------- */

enum { W_UPDATE, W_ROLLBACK, W_CHECKOUT, W_CLEAN, W_FLUSH, W_SYNC };

struct writer {
	int kind;
	const void *vid;
	size_t vidlen;
	const iodb_batch *batch;
	uint32_t keep;
	uint64_t gen;	    /* W_FLUSH: the freeze to wait for */
	uint32_t n, parent; /* number given to an update, and its parent's */
	uint64_t height;
	size_t rec_off;	    /* its record's offset in the group's buffer */
	struct mroots *mr;  /* its Merkle roots, until attached */
	struct buf *mount;  /* initial_stores: the batch's store names plus those mounted */
	uint32_t mount_n;
	db_roots_fn given;  /* import: makes the roots instead of the Merkle build */
	void *given_ctx;
	uint32_t *ids, ids_local[16]; /* store ids of its batch's store names */
	int rc;
	char msg[768]; /* the leader's error detail for rc, for a follower's thread */
	int done;
	pthread_cond_t cv;
	struct writer *next;
};

static size_t writer_bytes(const struct writer *w)
{
	return (w->batch ? w->batch->ops.len + w->batch->stores.len + 64 : 64) +
	       (w->mount ? w->mount->len : 0);
}

/* Encode the commit record of update w as a child of parent. */
static int encode_commit(iodb *db, struct writer *w, uint32_t n, uint32_t parent,
			 uint64_t height)
{
	struct jcommit c = {0};
	size_t mark;

	c.n = n;
	c.parent = parent;
	c.height = height;
	c.vid = w->vid;
	c.vidlen = (uint8_t)w->vidlen;
	if (w->batch) {
		c.nstores = w->batch->nstores;
		c.stores = w->batch->stores.p;
		c.nops = w->batch->nops;
		c.ops = w->batch->ops.p;
		c.ops_len = w->batch->ops.len;
	}
	if (w->mount) {
		c.nstores = w->mount_n;
		c.stores = w->mount->p;
	}
	RET(journal_rec_begin(&db->wbuf, &mark));
	RET(jcommit_encode(&db->wbuf, &c));
	return journal_rec_end(&db->wbuf, mark, JREC_COMMIT);
}

static int encode_control(iodb *db, uint8_t type, uint32_t keep, uint32_t target)
{
	size_t mark;

	RET(journal_rec_begin(&db->wbuf, &mark));
	if (type == JREC_CLEAN)
		RET(buf_put_u32(&db->wbuf, keep));
	RET(buf_put_u32(&db->wbuf, target));
	return journal_rec_end(&db->wbuf, mark, type);
}

/* A new head view for the graph's head (after any change). vg_lock is held for writing. */
static int publish_head(iodb *db)
{
	roaring_bitmap_t *anc;
	struct view *v;

	RET(vg_ancestors(&db->vg, db->vg.head, &anc));
	RET(view_new(db->vg.head, anc, db->mem, NULL, db->stores, &v));
	db_publish(db, v);
	return 0;
}

/* The base that clean(keep) would choose with `head` as the head. */
static uint32_t clean_target(iodb *db, uint32_t head, uint32_t keep)
{
	return vg_ancestor_at(&db->vg, head, keep - 1);
}

/* The commit record of update w, as it will be (or was) written. */
static void writer_commit(const struct writer *w, uint32_t parent, uint64_t height,
			  struct jcommit *c)
{
	memset(c, 0, sizeof(*c));
	c->n = w->n;
	c->parent = parent;
	c->height = height;
	c->vid = w->vid;
	c->vidlen = (uint8_t)w->vidlen;
	if (w->batch) {
		c->nstores = w->batch->nstores;
		c->stores = w->batch->stores.p;
		c->nops = w->batch->nops;
		c->ops = w->batch->ops.p;
		c->ops_len = w->batch->ops.len;
	}
	if (w->mount) {
		c->nstores = w->mount_n;
		c->stores = w->mount->p;
	}
}

static uint64_t first_height(const iodb *db)
{
	return db->o.initial_height; /* 1 to IODB_MAX_HEIGHT: options_check */
}

/* Below these many operations in a group, the commit leader does its work alone (measured
 * on this project's 2-core VM: a thread wake-up costs about as much as 30 Merkle updates or
 * 1,000 memtable inserts). */
#define OVERLAP_OPS_MERKLE 8
#define OVERLAP_OPS 1024
#define WORKER_OPS 256

/* Memtable inserts of a group, on the worker while the leader builds Merkle roots. */
struct data_task {
	iodb *db;
	struct writer *first, *last;
	int rc;
	char msg[256];
};

static void data_task_run(void *arg)
{
	struct data_task *t = arg;
	struct jcommit c;

	for (struct writer *w = t->first;; w = w->next) {
		if (!w->rc) {
			writer_commit(w, w->parent, w->height, &c);
			if ((t->rc = db_commit_data(t->db, &c, w->ids)) != 0) {
				snprintf(t->msg, sizeof(t->msg), "%s", iodb_errmsg());
				break;
			}
		}
		if (w == t->last)
			break;
	}
}

static void free_ids(struct writer *first, struct writer *last)
{
	for (struct writer *w = first;; w = w->next) {
		if (w->ids != w->ids_local)
			mem_free(w->ids);
		w->ids = NULL;
		if (w == last)
			return;
	}
}

static int lead_updates(iodb *db, struct writer *first, struct writer *last)
{
	struct data_task task = {db, first, last, 0, ""};
	uint64_t ops = 0;
	int async, overlap;
	struct vgraph *g = &db->vg;
	uint32_t n = g->next_n, parent = g->head, nvalid = 0;
	/* Past IODB_MAX_HEIGHT (0: wrapped, a head written with a larger initial_height by an
	 * older library) an update is refused before anything is written. */
	uint64_t height = parent ? vg_get(g, parent)->height + 1 : first_height(db);
	struct mroots *mr;
	struct writer *w;
	struct jcommit c;
	struct jpos at;
	uint32_t clean_base = 0;
	int rc = 0, locked = 0;

	/* The head always has its roots (open and every head move attach them); check. */
	if (parent && db->o.merkle && !vg_get(g, parent)->mr && (rc = db_merkle_attach(db, parent)))
		goto fail_all;
	mr = parent && db->o.merkle ? vg_get(g, parent)->mr : NULL;
	db->wbuf.len = 0;
	for (w = first;; w = w->next) {
		w->rc = 0;
		w->mr = NULL;
		w->ids = NULL;
		if (vg_find(g, w->vid, w->vidlen))
			w->rc = IODB_EEXIST;
		for (struct writer *x = first; x != w && !w->rc; x = x->next)
			if (!x->rc && x->vidlen == w->vidlen && !memcmp(x->vid, w->vid, w->vidlen))
				w->rc = IODB_EEXIST;
		if (w->rc)
			snprintf(w->msg, sizeof(w->msg), "%s",
				 "a retained version has this ID (an ID is free again once its "
				 "version is discarded)");
		if (!w->rc && (height == 0 || height > IODB_MAX_HEIGHT)) {
			w->rc = IODB_EINVAL;
			snprintf(w->msg, sizeof(w->msg),
				 "the new version's parent has height %llu: heights end at "
				 "IODB_MAX_HEIGHT (2^63-1)", (unsigned long long)(height - 1));
		}
		if (!w->rc) {
			w->n = n;
			w->parent = parent;
			w->height = height;
			w->rec_off = db->wbuf.len;
			if ((rc = encode_commit(db, w, n, parent, height)) != 0)
				goto fail_all; /* out of memory: nothing was written */
			parent = n++;
			height++;
			nvalid++;
		}
		if (w == last)
			break;
	}
	if (nvalid == 0)
		return 0;
	if (db->o.keep_versions && g->head) {
		/* One update per group here (see the file comment). The new version's ancestor
		 * at distance keep-1 is the head's at distance keep-2. */
		uint32_t keep = db->o.keep_versions;

		clean_base = keep == 1 ? first->n : clean_target(db, g->head, keep - 1);
		if (clean_base == g->base)
			clean_base = 0;
		if (clean_base && clean_base != first->n && (rc = db_merkle_attach(db, clean_base)))
			goto fail_all;
		if (clean_base && (rc = encode_control(db, JREC_CLEAN, keep, clean_base)) != 0)
			goto fail_all;
	}
	ERR(journal_append(db->journal, &db->wbuf, &at));
	db->mem_jbytes += db->wbuf.len;
	/* Handing work to another thread costs a wake-up (tens of microseconds here): the
	 * fsync goes to the sync thread only when there is at least that much to do meanwhile,
	 * and the memtable inserts to the worker only when a Merkle build runs beside them. */
	for (w = first;; w = w->next) {
		if (!w->rc && w->batch)
			ops += w->batch->nops;
		if (w == last)
			break;
	}
	overlap = ops >= (db->o.merkle ? OVERLAP_OPS_MERKLE : OVERLAP_OPS);
	if (overlap)
		ERR(journal_sync_start(db->journal));

	/* While the disk syncs: memtable entries (invisible until the new head view is
	 * published) on the worker, Merkle roots (private until attached) here. */
	for (w = first;; w = w->next) {
		if (!w->rc) {
			writer_commit(w, w->parent, w->height, &c);
			if ((rc = db_commit_stores(db, &c, &w->ids, w->ids_local)) != 0) {
				(void)journal_sync_wait(db->journal);
				goto err;
			}
			if (w->batch)
				db->st_user_bytes += w->batch->bytes;
		}
		if (w == last)
			break;
	}
	/* The worker, if idle, does the memtable inserts; if it is still freeing old roots (a
	 * large version left the window), the leader does them itself rather than wait. */
	async = db->o.merkle && ops >= WORKER_OPS &&
		worker_try_run(&db->worker, data_task_run, &task);
	if (!async)
		data_task_run(&task);
	for (w = first; db->o.merkle; w = w->next) {
		if (!w->rc) {
			writer_commit(w, w->parent, w->height, &c);
			rc = w->given ? w->given(w->given_ctx, &c, w->ids, &w->mr)
				      : db_merkle_build(db, mr, &c, w->ids, 2, &w->mr);
			if (rc)
				break;
			mr = w->mr;
		}
		if (w == last)
			break;
	}
	if (async)
		worker_wait(&db->worker);
	if (rc == 0 && task.rc)
		rc = err_set(task.rc, "%s", task.msg);
	if (rc) {
		(void)journal_sync_wait(db->journal);
		goto err;
	}
	/* Durable before anyone is told. */
	ERR(overlap ? journal_sync_wait(db->journal) : journal_sync(db->journal));
	/* Durable: the versions, then the head view, under the graph lock (see db.c). */
	pthread_rwlock_wrlock(&db->vg_lock);
	locked = 1;
	for (w = first;; w = w->next) {
		if (!w->rc) {
			struct jpos pos = {at.seg, at.off + w->rec_off};

			writer_commit(w, w->parent, w->height, &c);
			ERR(db_commit_graph(db, &c, &pos, w->mr));
			w->mr = NULL;
			db->st_commits++;
			db->st_ops += c.nops;
			if (db->o.merkle)
				db_merkle_trim(db, w->n);
		}
		if (w == last)
			break;
	}
	if (clean_base) {
		uint8_t rec[8];

		put_u32(rec, db->o.keep_versions);
		put_u32(rec + 4, clean_base);
		ERR(db_apply_control(db, JREC_CLEAN, rec, sizeof(rec), NULL, 0));
	}
	db->st_groups++;
	ERR(publish_head(db));
	pthread_rwlock_unlock(&db->vg_lock);
	free_ids(first, last);
	db_merkle_bury_later(db);
	for (w = first; db->o.merkle; w = w->next) {
		if (!w->rc)
			db_snap_after_commit(db, w->n, w->height,
					     w->batch ? iodb_batch_count(w->batch) : 0);
		if (w == last)
			break;
	}
	return 0;
err:
	if (locked)
		pthread_rwlock_unlock(&db->vg_lock);
	db->sticky = rc;
	db_fail_note(db, iodb_errmsg());
	free_ids(first, last);
fail_all:
	for (w = first;; w = w->next) {
		if (!w->rc) {
			w->rc = rc;
			snprintf(w->msg, sizeof(w->msg), "%s", iodb_errmsg());
			mroots_unref(w->mr);
			w->mr = NULL;
		}
		if (w == last)
			break;
	}
	return rc;
}

static int lead_control(iodb *db, struct writer *w)
{
	struct vgraph *g = &db->vg;
	struct version *v;
	uint32_t target;
	uint8_t type, rec[8];
	int rc, locked = 0;

	if (w->kind == W_CLEAN) {
		if (!g->head)
			return 0;
		target = clean_target(db, g->head, w->keep);
		if (target == g->base)
			return 0; /* nothing to discard */
		type = JREC_CLEAN;
	} else {
		if (!(v = vg_find(g, w->vid, w->vidlen)))
			return err_set(IODB_NOTFOUND, "no retained version has that ID");
		target = v->n;
		type = w->kind == W_ROLLBACK ? JREC_ROLLBACK : JREC_CHECKOUT;
	}
	/* The new head (or base) needs its Merkle roots; rebuilding them reads the journal,
	 * so it is done before the graph lock is taken. */
	if ((rc = db_merkle_attach(db, target)) != 0)
		return rc;
	db->wbuf.len = 0;
	ERR(encode_control(db, type, w->keep, target));
	ERR(journal_write(db->journal, &db->wbuf, NULL));
	db->mem_jbytes += db->wbuf.len;
	put_u32(rec, w->keep);
	put_u32(rec + 4, target);
	pthread_rwlock_wrlock(&db->vg_lock);
	locked = 1;
	ERR(db_apply_control(db, type, type == JREC_CLEAN ? rec : rec + 4,
			     type == JREC_CLEAN ? 8 : 4, NULL, 0));
	db->st_groups++;
	ERR(publish_head(db));
	pthread_rwlock_unlock(&db->vg_lock);
	return 0;
err:
	if (locked)
		pthread_rwlock_unlock(&db->vg_lock);
	db->sticky = rc;
	db_fail_note(db, iodb_errmsg());
	return rc;
}

void db_fail_note(iodb *db, const char *msg)
{
	pthread_mutex_lock(&db->fail_mu);
	if (!db->fail_msg[0])
		snprintf(db->fail_msg, sizeof(db->fail_msg), "%s", msg && *msg ? msg : "?");
	pthread_mutex_unlock(&db->fail_mu);
}

static int commit(iodb *db, struct writer *w)
{
	struct writer *last;
	struct err_saved caller; /* a leader's work handles failures: a success keeps it */
	size_t bytes;

	RET(db_writable(db)); /* every write comes this way */
	pthread_cond_init(&w->cv, NULL);
	w->done = 0;
	w->next = NULL;
	pthread_mutex_lock(&db->wq_mu);
	if (db->wq_tail)
		db->wq_tail->next = w;
	else
		db->wq_head = w;
	db->wq_tail = w;
	while (!w->done && db->wq_head != w)
		pthread_cond_wait(&w->cv, &db->wq_mu);
	if (w->done) {
		pthread_mutex_unlock(&db->wq_mu);
		pthread_cond_destroy(&w->cv);
		if (w->rc) /* the detail was recorded on the leader's thread */
			err_set(w->rc, "%s", w->msg);
		return w->rc;
	}
	/* Leader: take a group of consecutive updates. */
	err_keep(&caller);
	last = w;
	bytes = writer_bytes(w);
	if (w->kind == W_UPDATE && !db->o.keep_versions)
		while (last->next && last->next->kind == W_UPDATE &&
		       bytes + writer_bytes(last->next) <= db->o.group_commit_bytes) {
			last = last->next;
			bytes += writer_bytes(last);
		}
	pthread_mutex_unlock(&db->wq_mu);

	if (!db->sticky && (db_dist_failed(db) || db_compact_failed(db)))
		db->sticky = IODB_EIO; /* background work failed: no more writes until reopen */
	if (db->sticky) {
		char first[sizeof(db->fail_msg)];

		pthread_mutex_lock(&db->fail_mu);
		memcpy(first, db->fail_msg, sizeof(first));
		pthread_mutex_unlock(&db->fail_mu);
		for (struct writer *x = w;; x = x->next) {
			x->rc = IODB_EIO;
			snprintf(x->msg, sizeof(x->msg),
				 "an earlier write or fsync (journal, distribute or compaction) failed: "
				 "%s; reopen the store to write again",
				 first[0] ? first : "(no detail recorded)");
			if (x == last)
				break;
		}
		err_set(IODB_EIO, "%s", w->msg);
	} else if (w->kind == W_UPDATE) {
		db_compact_throttle(db); /* compaction behind: writes slow down (compact.c) */
		lead_updates(db, w, last);
	} else if (w->kind == W_SYNC) {
		/* Everything the journal holds reaches stable storage; a failed fdatasync may
		 * have lost pages, so like a failed commit it stops every later write. */
		if ((w->rc = journal_sync_now(db->journal)) != 0) {
			snprintf(w->msg, sizeof(w->msg), "%s", iodb_errmsg());
			db->sticky = w->rc;
			db_fail_note(db, iodb_errmsg());
		}
	} else if (w->kind != W_FLUSH) {
		if ((w->rc = lead_control(db, w)) != 0)
			snprintf(w->msg, sizeof(w->msg), "%s", iodb_errmsg());
	}
	/* Still the leader: freeze the memtable if it is due (a flush: if it holds anything).
	 * A failure here fails later writes and a flush, never the updates just committed. */
	if (!db->sticky) {
		int rc = db_freeze(db, w->kind == W_FLUSH, &w->gen);

		if (rc) {
			db->sticky = rc;
			db_fail_note(db, iodb_errmsg());
			if (w->kind == W_FLUSH) {
				w->rc = rc;
				snprintf(w->msg, sizeof(w->msg), "%s", iodb_errmsg());
			}
		}
	}

	pthread_mutex_lock(&db->wq_mu);
	db->wq_head = last->next;
	if (!db->wq_head)
		db->wq_tail = NULL;
	for (struct writer *x = w, *next;; x = next) {
		int end = x == last;

		next = x->next;
		x->done = 1;
		if (x != w)
			pthread_cond_signal(&x->cv);
		if (end)
			break;
	}
	if (db->wq_head)
		pthread_cond_signal(&db->wq_head->cv);
	pthread_mutex_unlock(&db->wq_mu);
	pthread_cond_destroy(&w->cv);
	if (w->rc && w->msg[0])
		err_set(w->rc, "%s", w->msg);
	return err_kept(&caller, w->rc);
}

static int check_vid(const void *vid, size_t vidlen)
{
	if (!vid || vidlen == 0 || vidlen > IODB_MAX_VID)
		return err_set(IODB_EINVAL, "bad version ID: %s", !vid ? "NULL" :
			       vidlen == 0 ? "empty (IDs are 1-255 bytes)" : "longer than 255 bytes");
	return 0;
}

/*
 * options.initial_stores: the commit record lists, after the batch's own store names, every
 * mounted store the batch does not use. A store a commit record lists exists from that
 * version on (empty until written), so mounting is in the journal: replay, snapshots and a
 * later open with another list all see the same stores at each version. Listing them in
 * every record (a few bytes each) spares the writer a look at the parent's stores.
 */
static int mount_stores(const iodb *db, const iodb_batch *b, struct buf *out, uint32_t *n)
{
	*n = b ? b->nstores : 0;
	if (b)
		RET(buf_append(out, b->stores.p, b->stores.len));
	for (uint32_t i = 0; i < db->o.n_initial_stores; i++) {
		const char *name = db->o.initial_stores[i];
		size_t len = strlen(name);
		const uint8_t *p = out->p;
		int seen = 0;

		for (uint32_t k = 0; k < *n && !seen; k++, p += 1 + p[0])
			seen = p[0] == len && memcmp(p + 1, name, len) == 0;
		if (seen)
			continue;
		RET(buf_put_u8(out, (uint8_t)len));
		RET(buf_append(out, name, len));
		(*n)++;
	}
	return 0;
}

int iodb_update(iodb *db, const void *vid, size_t vidlen, const iodb_batch *b)
{
	struct writer w = {0};
	struct buf mount;
	int rc;

	RET(db_writable(db));
	RET(check_vid(vid, vidlen));
	w.kind = W_UPDATE;
	w.vid = vid;
	w.vidlen = vidlen;
	w.batch = b && b->nops ? b : NULL;
	if (!db->o.n_initial_stores)
		return commit(db, &w);
	buf_init(&mount);
	if ((rc = mount_stores(db, w.batch, &mount, &w.mount_n)) == 0) {
		w.mount = &mount;
		rc = commit(db, &w);
	}
	buf_free(&mount);
	return rc;
}

int db_update_given(iodb *db, const void *vid, size_t vidlen, const iodb_batch *b,
		    db_roots_fn given, void *ctx)
{
	struct writer w = {0};

	RET(check_vid(vid, vidlen));
	w.kind = W_UPDATE;
	w.vid = vid;
	w.vidlen = vidlen;
	w.batch = b && b->nops ? b : NULL;
	w.given = given;
	w.given_ctx = ctx;
	return commit(db, &w);
}

static int control(iodb *db, int kind, const void *vid, size_t vidlen, uint32_t keep)
{
	struct writer w = {0};

	RET(db_handle_check(db));
	w.kind = kind;
	w.vid = vid;
	w.vidlen = vidlen;
	w.keep = keep;
	return commit(db, &w);
}

int iodb_flush(iodb *db)
{
	struct writer w = {0};

	RET(db_handle_check(db));
	w.kind = W_FLUSH;
	RET(commit(db, &w));
	/* Then, outside the commit queue, wait for distribute to finish that freeze (and with
	 * it, every earlier one). */
	return db_dist_wait(db, w.gen);
}

int iodb_sync(iodb *db)
{
	struct writer w = {0};

	RET(db_writable(db));
	w.kind = W_SYNC;
	return commit(db, &w);
}

int iodb_rollback(iodb *db, const void *vid, size_t vidlen)
{
	RET(db_writable(db));
	RET(check_vid(vid, vidlen));
	return control(db, W_ROLLBACK, vid, vidlen, 0);
}

int iodb_checkout(iodb *db, const void *vid, size_t vidlen)
{
	RET(db_writable(db));
	RET(check_vid(vid, vidlen));
	return control(db, W_CHECKOUT, vid, vidlen, 0);
}

int iodb_clean(iodb *db, uint32_t keep)
{
	RET(db_writable(db));
	if (keep == 0)
		return err_set(IODB_EINVAL, "iodb_clean: keep must be at least 1");
	return control(db, W_CLEAN, NULL, 0, keep);
}
