/*
 * db.c — the facade: open, replay, close, options, statistics.
 *
 * A store directory holds:
 *   IODB       identity file (format version), written once at creation (docs/format.md)
 *   LOCK       flock'ed while a handle has the store open: exclusively by a writer (any
 *              second open gets IODB_EBUSY), shared by read-only handles (other read-only
 *              handles may open it too; a writer gets IODB_EBUSY)
 *   journal/   the journal segments
 *   MANIFEST   the shard map, the distribute point, the version graph (shards/manifest.c)
 *   shards/    run files
 *
 * Open = lock, check IODB, read the manifest (lib/db/distribute.c), replay the journal from
 * the distribute point (from the start with the Merkle layer on: it rebuilds its trees; the
 * memtable then skips what the runs hold) into the memtable and the version graph, then
 * publish the head view. Replay applies exactly what the live commit path applies, through
 * the same functions (db_commit_*, db_apply_control), and checks every record against
 * the state it is applied to (numbers increase, the parent is the head, the height follows),
 * so a journal that decodes but does not make sense is IODB_ECORRUPT, not a strange store.
 *
 * Locks, outermost first: wq_mu (commit queue, never held during I/O) — vg_lock (version
 * graph; held for writing only while applying a committed change in memory and publishing
 * the head view that shows it, so no reader finds the graph ahead of the head view: a head
 * ID from iodb_head is what a later iodb_get reads, and a snapshot by ID gets a memtable and
 * store table that hold its version) — view_mu (the head view pointer). Readers take
 * view_mu for a pointer copy and vg_lock for reading only to open a snapshot or list
 * versions; neither is held during I/O.
 *
 * Read-only handles (options.read_only; docs/ARCHITECTURE.md, "Read-only handles") open the
 * same way through a guard env that refuses every write-type call (env_new_read_only), with
 * the journal and the manifest opened read-only and no background thread: they read the
 * store as of their open and write nothing, ever. A store without LOCK (copied without it)
 * is opened read-only without a lock: a writer that opens it later cannot see the reader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

#include "lib/db/db_int.h"

#define IDENT_FILE "IODB"
#define IDENT_MAGIC "iodbstor"
#define IDENT_FORMAT 1
#define IDENT_SIZE 16

int iodb_version(void)
{
	return IODB_VERSION_NUMBER;
}

void iodb_options_init(iodb_options *o)
{
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	o->version = IODB_OPTIONS_VERSION;
	o->create_if_missing = 1;
	o->sync = 1;
	o->keep_versions = 0;
	o->journal_segment_bytes = 64u << 20;
	o->group_commit_bytes = 4u << 20;
	o->merkle = 1;
	o->initial_height = 1;
	o->merkle_threads = 2;
	o->memtable_bytes = 32u << 20;
	o->block_cache_bytes = 64u << 20;
	o->block_bytes = 16u << 10;
	o->auto_compaction = 1;
	o->compaction_threads = 2;
	o->compaction_task_bytes = 64u << 20;
	o->shard_max_bytes = 32u << 20;
	o->shard_min_bytes = 0;
	o->slowdown_runs = 12;
	o->snapshot_interval = 10000;
	o->incremental_snapshot_interval = 1000;
	o->incremental_stores = NULL;
	o->n_incremental_stores = 0;
	o->snapshot_keep_recent = 1;
	o->snapshot_writer_limit = 2;
	o->snapshot_replay_ops = 200000;
}

void db_publish(iodb *db, struct view *v)
{
	struct view *old;

	pthread_mutex_lock(&db->view_mu);
	if (v->tab != db->tab) { /* the tables that go with the leader's memtable: the latest */
		tables_unref(v->tab);
		v->tab = db->tab;
		tables_ref(v->tab);
	}
	old = db->cur;
	db->cur = v;
	pthread_mutex_unlock(&db->view_mu);
	view_unref(old);
}

struct view *db_view_acquire(iodb *db)
{
	struct view *v;

	pthread_mutex_lock(&db->view_mu);
	v = db->cur;
	view_ref(v);
	pthread_mutex_unlock(&db->view_mu);
	return v;
}

/* ---- Applying records ----------------------------------------------------------------- */

struct op_ref {
	uint32_t store;
	uint32_t idx;
	struct jop op;
};

static int op_ref_cmp(const void *a, const void *b)
{
	const struct op_ref *x = a, *y = b;
	int c;

	if (x->store != y->store)
		return x->store < y->store ? -1 : 1;
	if ((c = key_cmp(x->op.key, x->op.klen, y->op.key, y->op.klen)))
		return c;
	return x->idx > y->idx ? -1 : x->idx < y->idx; /* later operations first */
}

int db_commit_stores(iodb *db, const struct jcommit *c, uint32_t **idsp, uint32_t *local)
{
	uint32_t *ids = local;

	if (c->nstores > 16 && !(ids = mem_alloc(c->nstores * sizeof(*ids))))
		return err_set(IODB_ENOMEM, "out of memory applying a commit");
	for (uint32_t i = 0; i < c->nstores; i++) {
		const uint8_t *name;
		uint8_t len;
		int64_t id;

		jcommit_store_name(c, i, &name, &len);
		if ((id = stores_find(db->stores, name, len)) < 0) {
			struct stores *s;
			int rc = stores_add(db->stores, name, len, &s);

			if (rc) {
				if (ids != local)
					mem_free(ids);
				return rc;
			}
			stores_unref(db->stores);
			db->stores = s;
			id = s->n - 1;
		}
		ids[i] = (uint32_t)id;
	}
	*idsp = ids;
	return 0;
}

int db_commit_data(iodb *db, const struct jcommit *c, const uint32_t *ids)
{
	struct op_ref *refs = NULL;
	struct rd r;
	int rc = 0;

	/* The memtable keeps one entry per key and version: the last operation on it. */
	rd_init(&r, c->ops, c->ops_len);
	if (c->nops == 1) {
		struct jop op;

		if (jcommit_next_op(&r, c->nstores, &op))
			return err_set(IODB_ECORRUPT, "bad operation in a commit record");
		return mt_put(db->mem, ids[op.store], op.key, op.klen, c->n, op.val, op.vlen,
			      op.kind == JOP_DEL);
	}
	if (c->nops == 0)
		return 0;
	if (!(refs = mem_alloc(c->nops * sizeof(*refs))))
		return err_set(IODB_ENOMEM, "out of memory applying a commit");
	for (uint64_t i = 0; i < c->nops; i++) {
		if (jcommit_next_op(&r, c->nstores, &refs[i].op)) {
			rc = err_set(IODB_ECORRUPT, "bad operation in a commit record");
			goto err;
		}
		refs[i].store = ids[refs[i].op.store];
		refs[i].idx = (uint32_t)i;
	}
	qsort(refs, c->nops, sizeof(*refs), op_ref_cmp);
	for (uint64_t i = 0; i < c->nops; i++) {
		const struct jop *op = &refs[i].op;

		if (i && refs[i].store == refs[i - 1].store &&
		    key_cmp(op->key, op->klen, refs[i - 1].op.key, refs[i - 1].op.klen) == 0)
			continue;
		ERR(mt_put(db->mem, refs[i].store, op->key, op->klen, c->n, op->val, op->vlen,
			   op->kind == JOP_DEL));
	}
err:
	mem_free(refs);
	return rc;
}

/* Takes mr on success. */
int db_commit_graph(iodb *db, const struct jcommit *c, const struct jpos *pos,
		    struct mroots *mr)
{
	RET(vg_add(&db->vg, c->n, c->parent, c->height, c->vid, c->vidlen, pos, mr));
	db->vg.head = c->n;
	return 0;
}

/* Replay: check a commit record against the graph, then apply all of it. */
static int replay_commit(iodb *db, const struct jcommit *c, const char *path,
			 const struct jpos *pos)
{
	struct vgraph *g = &db->vg;
	struct version *parent = c->parent ? vg_get(g, c->parent) : NULL;
	uint32_t local[16], *ids = NULL;
	struct mroots *mr = NULL;
	int rc;

	/* Numbers are given in commit order, one after another: a gap is a lost record. */
	if (c->n != g->next_n || c->parent != g->head || (c->parent && !parent) ||
	    (parent && c->height != parent->height + 1))
		return ERR_CORRUPT(path, pos->off,
				   "commit record of version %u does not follow the version graph "
				   "(parent %u, head %u, next number %u)",
				   c->n, c->parent, g->head, g->next_n);
	if (vg_find(g, c->vid, c->vidlen))
		return ERR_CORRUPT(path, pos->off, "commit record reuses a retained version ID");
	ERR(db_commit_stores(db, c, &ids, local));
	if (c->n > db->dist_n) /* the rest is in the runs */
		ERR(db_commit_data(db, c, ids));
	/* The Merkle roots are rebuilt after the replay, for the versions that need them
	 * (db_merkle_roots: from the nearest snapshot or kept roots). */
	ERR(db_commit_graph(db, c, pos, mr));
	mr = NULL;
err:
	mroots_unref(mr);
	if (ids != local)
		mem_free(ids);
	return rc;
}

/* Is a an ancestor of b (or b itself)? */
static int is_ancestor(const struct vgraph *g, uint32_t a, uint32_t b)
{
	const struct version *v = vg_get(g, b);

	while (v && v->n > a)
		v = v->parent ? vg_get(g, v->parent) : NULL;
	return v && v->n == a;
}

int db_apply_control(iodb *db, uint8_t type, const uint8_t *p, size_t len, const char *path,
		     uint64_t off)
{
	struct vgraph *g = &db->vg;
	uint32_t target = 0, keep = 0;
	struct rd r;
	int rc = 0;

	rd_init(&r, p, len);
	if (type == JREC_CLEAN && rd_u32(&r, &keep))
		return ERR_CORRUPT(path, off, "short clean record");
	if (rd_u32(&r, &target) || rd_left(&r) != 0)
		return ERR_CORRUPT(path, off, "bad length of a type %u journal record", type);
	if (!vg_get(g, target))
		return ERR_CORRUPT(path, off, "journal record names version %u, which is not retained",
				   target);
	if (type == JREC_CLEAN && !is_ancestor(g, target, g->head))
		return ERR_CORRUPT(path, off, "clean record's base %u is not an ancestor of the head",
				   target);
	switch (type) {
	case JREC_ROLLBACK:
		rc = vg_rollback(g, target);
		break;
	case JREC_CHECKOUT:
		g->head = target;
		break;
	case JREC_CLEAN:
		rc = vg_clean(g, target);
		break;
	}
	return rc;
}

static int replay_record(void *ctx, uint8_t type, const uint8_t *p, size_t len, const char *path,
			 const struct jpos *pos)
{
	iodb *db = ctx;
	struct jcommit c;

	/* Journal bytes the memtable now holds: the next freeze is due by them too. */
	if (pos->seg > db->dist_pos.seg ||
	    (pos->seg == db->dist_pos.seg && pos->off >= db->dist_pos.off))
		db->mem_jbytes += JREC_HEADER + len;
	switch (type) {
	case JREC_COMMIT:
		if (jcommit_decode(p, len, &c) != 0)
			return ERR_CORRUPT(path, pos->off, "malformed commit record");
		return replay_commit(db, &c, path, pos);
	case JREC_ROLLBACK:
	case JREC_CHECKOUT:
	case JREC_CLEAN:
		return db_apply_control(db, type, p, len, path, pos->off);
	default:
		return ERR_CORRUPT(path, pos->off, "unknown journal record type %u", type);
	}
}

/* ---- Identity file -------------------------------------------------------------------- */

static int ident_check_or_create(iodb *db, int create)
{
	char *path = path_join(db->dir, IDENT_FILE), *tmp = path_join(db->dir, IDENT_FILE ".tmp");
	struct env_file *f = NULL;
	uint8_t b[IDENT_SIZE];
	size_t got;
	int rc;

	if (!path || !tmp) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	if (env_exists(db->env, path)) {
		ERR(env_open_read(db->env, path, &f));
		ERR(env_file_read(f, 0, b, sizeof(b), &got));
		if (got != IDENT_SIZE || env_file_size(f) != IDENT_SIZE ||
		    memcmp(b, IDENT_MAGIC, 8) != 0 || get_u32(b + 12) != crc_mask(crc32c(b, 12))) {
			rc = ERR_CORRUPT(path, 0, "not an iodb identity file");
			goto err;
		}
		if (get_u32(b + 8) != IDENT_FORMAT) {
			rc = ERR_CORRUPT(path, 8, "store format %u; this library reads format %u",
					 get_u32(b + 8), IDENT_FORMAT);
			goto err;
		}
		rc = 0;
		goto err;
	}
	if (!create) {
		rc = err_set(IODB_NOTFOUND, "%s: no iodb store here (%s)", db->dir,
			     db->o.read_only ? "a read-only open never creates one"
					     : "create_if_missing is off");
		goto err;
	}
	memcpy(b, IDENT_MAGIC, 8);
	put_u32(b + 8, IDENT_FORMAT);
	put_u32(b + 12, crc_mask(crc32c(b, 12)));
	(void)env_unlink(db->env, tmp);
	ERR(env_open_append(db->env, tmp, &f));
	ERR(env_file_append(f, b, sizeof(b)));
	ERR(env_file_sync(f));
	env_file_close(f);
	f = NULL;
	ERR(env_rename(db->env, tmp, path));
	ERR(env_sync_dir(db->env, db->dir));
err:
	env_file_close(f);
	mem_free(path);
	mem_free(tmp);
	return rc;
}

uint64_t now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

/* ---- Open and close ------------------------------------------------------------------- */

/* An option's list of store names: every entry a valid name ("" is the default store). */
static int store_list_check(const char *what, const char *const *v, uint32_t n)
{
	if (!v)
		return n ? err_set(IODB_EINVAL, "n_%s set without %s", what, what) : 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!v[i])
			return err_set(IODB_EINVAL, "%s[%u] is NULL", what, i);
		if (!store_name_valid((const uint8_t *)v[i], strnlen(v[i], IODB_MAX_STORE_NAME + 1)))
			return err_set(IODB_EINVAL, "%s[%u] (\"%.80s\") is not a store name: at "
						    "most %u letters, digits, '_', '-' and '.'",
				       what, i, v[i], IODB_MAX_STORE_NAME);
	}
	return 0;
}

static int options_check(const iodb_options *in, iodb_options *o)
{
	iodb_options_init(o);
	if (!in)
		return 0;
	if (in->version == 0 || in->version > IODB_OPTIONS_VERSION)
		return err_set(IODB_EINVAL,
			       "iodb_options.version is %u; call iodb_options_init() first "
			       "(this library knows version %u)",
			       in->version, IODB_OPTIONS_VERSION);
	o->create_if_missing = in->create_if_missing;
	o->sync = in->sync;
	o->keep_versions = in->keep_versions;
	if (in->journal_segment_bytes)
		o->journal_segment_bytes = in->journal_segment_bytes;
	if (in->group_commit_bytes)
		o->group_commit_bytes = in->group_commit_bytes;
	o->merkle = in->merkle;
	if (in->initial_height == 0 || in->initial_height > IODB_MAX_HEIGHT)
		return err_set(IODB_EINVAL, "initial_height is %llu: heights are 1 to "
					    "IODB_MAX_HEIGHT (2^63-1)",
			       (unsigned long long)in->initial_height);
	o->initial_height = in->initial_height;
	if (in->merkle_threads)
		o->merkle_threads = in->merkle_threads;
	if (in->version >= 2) {
		if (in->memtable_bytes)
			o->memtable_bytes = in->memtable_bytes;
		o->block_cache_bytes = in->block_cache_bytes;
		if (in->block_bytes)
			o->block_bytes = in->block_bytes;
	}
	if (in->version >= 3) {
		o->auto_compaction = in->auto_compaction;
		if (in->compaction_threads)
			o->compaction_threads = in->compaction_threads;
		if (in->compaction_task_bytes)
			o->compaction_task_bytes = in->compaction_task_bytes;
		if (in->shard_max_bytes)
			o->shard_max_bytes = in->shard_max_bytes;
		o->shard_min_bytes = in->shard_min_bytes;
		if (in->slowdown_runs)
			o->slowdown_runs = in->slowdown_runs;
	}
	if (in->version >= 4) {
		o->snapshot_interval = in->snapshot_interval;
		o->incremental_snapshot_interval = in->incremental_snapshot_interval;
		o->incremental_stores = in->incremental_stores; /* copied by copy_store_list */
		o->n_incremental_stores = in->n_incremental_stores;
		o->snapshot_keep_recent = in->snapshot_keep_recent;
		if (in->snapshot_writer_limit)
			o->snapshot_writer_limit = in->snapshot_writer_limit;
	}
	if (in->version >= 5)
		o->snapshot_replay_ops = in->snapshot_replay_ops;
	if (in->version >= 6) {
		o->initial_stores = in->initial_stores; /* copied by copy_store_list */
		o->n_initial_stores = in->n_initial_stores;
		o->read_only = in->read_only;
	}
	if (o->read_only) { /* a reader creates nothing and runs no background work */
		o->create_if_missing = 0;
		o->auto_compaction = 0;
	}
	if (!o->shard_min_bytes)
		o->shard_min_bytes = o->shard_max_bytes / 8;
	if (o->snapshot_writer_limit > 16)
		return err_set(IODB_EINVAL, "snapshot_writer_limit must be at most 16");
	RET(store_list_check("incremental_stores", o->incremental_stores,
			     o->n_incremental_stores));
	RET(store_list_check("initial_stores", o->initial_stores, o->n_initial_stores));
	if (o->n_initial_stores > 256)
		return err_set(IODB_EINVAL, "initial_stores: at most 256 stores");
	if (o->compaction_threads > 64)
		return err_set(IODB_EINVAL, "compaction_threads must be at most 64");
	if (o->shard_max_bytes < 4096 || o->compaction_task_bytes < 4096)
		return err_set(IODB_EINVAL, "shard_max_bytes and compaction_task_bytes must be at "
					    "least 4096");
	if (o->shard_min_bytes > o->shard_max_bytes / 4)
		return err_set(IODB_EINVAL, "shard_min_bytes must be at most shard_max_bytes / 4 "
					    "(else a split's pieces would merge back)");
	if (o->memtable_bytes < 4096)
		return err_set(IODB_EINVAL, "memtable_bytes must be at least 4096");
	if (o->block_bytes < 256 || o->block_bytes > (64u << 20))
		return err_set(IODB_EINVAL, "block_bytes must be between 256 and 64 MiB");
	if (o->merkle_threads > 64)
		return err_set(IODB_EINVAL, "merkle_threads must be at most 64");
	if (o->journal_segment_bytes < 4096)
		return err_set(IODB_EINVAL, "journal_segment_bytes must be at least 4096");
	return 0;
}

/* An options' store list, copied into one allocation the handle owns (*own, freed at
 * close); *list then points at the copy. */
static int copy_list(const char *const **list, uint32_t n, char ***own)
{
	size_t bytes = n * sizeof(char *);
	char **v, *p;

	if (!*list)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		bytes += strlen((*list)[i]) + 1;
	if (!(v = mem_alloc(bytes ? bytes : 1)))
		return err_set(IODB_ENOMEM, "out of memory");
	p = (char *)(v + n);
	for (uint32_t i = 0; i < n; i++) {
		size_t len = strlen((*list)[i]) + 1;

		memcpy(p, (*list)[i], len);
		v[i] = p;
		p += len;
	}
	*list = (const char *const *)v;
	*own = v;
	return 0;
}

static int copy_store_list(iodb *db)
{
	RET(copy_list(&db->o.incremental_stores, db->o.n_incremental_stores,
		      &db->own_store_list));
	return copy_list(&db->o.initial_stores, db->o.n_initial_stores, &db->own_initial);
}

static void db_free(iodb *db)
{
	db->magic = DEAD_MAGIC;
	for (uint32_t i = 0; i < DB_RETIRED; i++)
		mem_free(db->retired[i]);
	pthread_mutex_destroy(&db->retire_mu);
	db_snap_close(db); /* before the roots it writes from and the graph go */
	db_merkle_bury(db);
	worker_destroy(&db->worker);
	mem_free(db->grave);
	mem_free(db->grave_busy);
	db_shards_close(db); /* its thread uses the journal */
	journal_close(db->journal);
	view_unref(db->cur);
	mt_unref(db->mem);
	stores_unref(db->stores);
	vg_destroy(&db->vg);
	buf_free(&db->wbuf);
	env_unlock(db->lock);
	{
		struct env *real = env_unguarded(db->env);

		if (real != db->env)
			env_free(db->env); /* the read-only guard */
		if (db->own_env)
			env_free(real);
	}
	pthread_mutex_destroy(&db->wq_mu);
	pthread_mutex_destroy(&db->view_mu);
	pthread_mutex_destroy(&db->struct_mu);
	pthread_mutex_destroy(&db->man_mu);
	pthread_mutex_destroy(&db->fail_mu);
	pthread_rwlock_destroy(&db->vg_lock);
	mem_free(db->own_store_list);
	mem_free(db->own_initial);
	mem_free(db->dir);
	mem_free(db);
}

static int db_open(const char *dir, const iodb_options *opts, struct env *env, int own_env,
		   iodb **out)
{
	iodb *db;
	char *path = NULL;
	uint64_t t0 = now_usec();
	roaring_bitmap_t *anc = NULL;
	struct err_saved caller; /* failures handled inside (a snapshot not used, no worker
				  * thread) must not replace it when the open succeeds */
	struct view *v;
	int rc, exists;

	if (!dir || !*dir || !out) {
		if (own_env)
			env_free(env);
		return err_set(IODB_EINVAL, "iodb_open: dir and db must not be NULL or empty");
	}
	if (!(db = mem_calloc(1, sizeof(*db)))) {
		if (own_env)
			env_free(env);
		return err_set(IODB_ENOMEM, "out of memory opening %s", dir);
	}
	err_keep(&caller);
	db->magic = DB_MAGIC;
	db->env = env;
	db->own_env = own_env;
	pthread_mutex_init(&db->retire_mu, NULL);
	pthread_mutex_init(&db->wq_mu, NULL);
	pthread_mutex_init(&db->view_mu, NULL);
	pthread_mutex_init(&db->struct_mu, NULL);
	pthread_mutex_init(&db->man_mu, NULL);
	pthread_mutex_init(&db->fail_mu, NULL);
	pthread_rwlock_init(&db->vg_lock, NULL);
	buf_init(&db->wbuf);
	if (!(db->dir = mem_dup(dir, strlen(dir) + 1))) {
		rc = err_set(IODB_ENOMEM, "out of memory opening %s", dir);
		goto err;
	}
	ERR(options_check(opts, &db->o));
	if (db->o.read_only) {
		ERR(env_new_read_only(env, &db->env));
		env = db->env;
	}
	ERR(copy_store_list(db));
	if (worker_init(&db->worker) != 0)
		err_clear(); /* no thread: the worker's tasks run inline */
	ERR(vg_init(&db->vg));
	ERR(mt_new(&db->mem));
	ERR(stores_new_default(&db->stores));

	exists = env_exists(env, dir);
	if (!exists && !db->o.create_if_missing) {
		rc = err_set(IODB_NOTFOUND, "%s: no such directory (%s)", dir,
			     db->o.read_only ? "a read-only open never creates a store; "
					       "create_if_missing is ignored"
					     : "create_if_missing is off");
		goto err;
	}
	if (!exists)
		ERR(env_mkdir(env, dir));
	if (!(path = path_join(dir, "LOCK"))) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	if (!db->o.read_only) {
		ERR(env_lock(env, path, &db->lock));
	} else if ((rc = env_lock_shared(env, path, &db->lock)) == IODB_NOTFOUND) {
		err_clear(); /* no LOCK (a copy made without it): read without one */
	} else if (rc) {
		goto err;
	}
	ERR(ident_check_or_create(db, db->o.create_if_missing));
	mem_free(path);
	if (!(path = path_join(dir, "journal"))) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	ERR(db_shards_open(db));
	ERR(db_snap_open(db));
	{
		struct journal_opts jo = {db->o.journal_segment_bytes, db->o.sync,
					  db->journal_start, db->journal_keep, db->o.read_only};

		ERR(journal_open(env, path, 1, &jo, replay_record, db, &db->journal));
	}
	if (db->o.merkle)
		ERR(db_snap_drop_lost(db)); /* before any roots are loaded */
	if (db->o.merkle && db->vg.head) {
		ERR(db_merkle_attach(db, db->vg.head));
		db_merkle_finish_all(db);
	}
	if (db->vg.head)
		ERR(vg_ancestors(&db->vg, db->vg.head, &anc));
	else if (!(anc = roaring_bitmap_create())) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	ERR(view_new(db->vg.head, anc, db->mem, db->tab, db->stores, &v));
	db->cur = v;
	if (!db->o.read_only)
		ERR(db_dist_start(db));
	ERR(db_compact_start(db)); /* read-only: auto_compaction is off, so no thread */
	db_snap_after_open(db);
	db->open_usec = now_usec() - t0;
	mem_free(path);
	*out = db;
	return err_kept(&caller, 0);
err:
	mem_free(path);
	db_free(db);
	return rc;
}

int db_open_env(const char *dir, const iodb_options *o, struct env *env, iodb **db)
{
	return db_open(dir, o, env, 0, db);
}

int iodb_open(const char *dir, const iodb_options *o, iodb **db)
{
	struct env *env;

	RET(env_new(&env));
	return db_open(dir, o, env, 1, db);
}

int db_writable(const iodb *db)
{
	RET(db_handle_check(db));
	if (db->o.read_only)
		return err_set(IODB_EINVAL, "the store was opened read-only");
	return 0;
}

int db_handle_check(const iodb *db)
{
	if (!db)
		return err_set(IODB_EINVAL, "db must not be NULL");
	if (db->magic != DB_MAGIC)
		return err_set(IODB_EINVAL, "not an open iodb handle (closed already, or not "
					    "one iodb_open gave)");
	return 0;
}

void db_handle_retire(iodb *db, void *shell)
{
	void *old;

	pthread_mutex_lock(&db->retire_mu);
	old = db->retired[db->retire_next];
	db->retired[db->retire_next] = shell;
	db->retire_next = (db->retire_next + 1) % DB_RETIRED;
	pthread_mutex_unlock(&db->retire_mu);
	mem_free(old);
}

int iodb_close(iodb *db)
{
	int iters, snaps;

	if (!db)
		return 0;
	RET(db_handle_check(db));
	iters = atomic_load(&db->open_iters);
	snaps = atomic_load(&db->open_snaps);
	if (iters || snaps)
		return err_set(IODB_EBUSY, "iodb_close: %d iterator%s and %d snapshot%s still open; "
					   "close them first",
			       iters, iters == 1 ? "" : "s", snaps, snaps == 1 ? "" : "s");
	{
		struct err_saved caller; /* stopping the background work handles failures */

		err_keep(&caller);
		db_free(db);
		return err_kept(&caller, 0);
	}
}

/* ---- Statistics ----------------------------------------------------------------------- */

#define STATS_MAX 8192

int iodb_stats(iodb *db, char **json)
{
	struct journal_stats js;
	struct view *v;
	uint32_t versions, head, base;
	uint64_t head_height = 0, run_bytes = 0, frozen_bytes = 0;
	uint32_t runs = 0, max_runs = 0, nshards = 0;
	uint64_t user, obsolete, live;
	struct buf snap;
	char *out;
	int n;

	RET(db_handle_check(db));
	if (!db || !json)
		return err_set(IODB_EINVAL, "iodb_stats: db and json must not be NULL");
	journal_get_stats(db->journal, &js);
	pthread_rwlock_rdlock(&db->vg_lock);
	versions = db->vg.count;
	head = db->vg.head;
	base = db->vg.base;
	if (head)
		head_height = vg_get(&db->vg, head)->height;
	pthread_rwlock_unlock(&db->vg_lock);
	v = db_view_acquire(db);
	{
		const struct shard_map *m = v->tab->map;

		for (uint32_t i = 0; i < m->n; i++) {
			runs += m->v[i].nruns;
			run_bytes += m->v[i].bytes;
			if (m->v[i].nruns > max_runs)
				max_runs = m->v[i].nruns;
		}
		for (uint32_t i = 0; i < v->tab->nfrozen; i++)
			frozen_bytes += mt_bytes(v->tab->frozen[i]);
		nshards = m->n;
	}
	user = db->st_user_bytes;
	obsolete = bcache_obsolete_bytes(db->bc);
	live = run_bytes + js.size + manifest_size(db->man);
	buf_init(&snap);
	if (db_snap_stats(db, &snap) != 0 || buf_append(&snap, "", 1) != 0 ||
	    !(out = mem_alloc(STATS_MAX))) {
		view_unref(v);
		buf_free(&snap);
		return err_set(IODB_ENOMEM, "out of memory");
	}
	n = snprintf(out, STATS_MAX,
		     "{\"versions\": %u, \"head_number\": %u, \"head_height\": %llu, "
		     "\"base_number\": %u, \"stores\": %u, "
		     "\"commits\": %llu, \"commit_groups\": %llu, \"ops\": %llu, "
		     "\"user_bytes_written\": %llu, "
		     "\"journal\": {\"bytes_written\": %llu, \"syncs\": %llu, \"segments\": %llu, "
		     "\"bytes\": %llu}, "
		     "\"memtable\": {\"bytes\": %llu, \"entries\": %llu, \"frozen\": %u, "
		     "\"frozen_bytes\": %llu}, "
		     "\"shards\": {\"count\": %u, \"runs\": %u, \"runs_per_shard_max\": %u, "
		     "\"runs_per_shard_mean\": %.2f, \"run_bytes\": %llu, \"manifest_bytes\": %llu}, "
		     "\"distribute\": {\"freezes\": %llu, \"runs_written\": %llu, \"bytes_written\": %llu, "
		     "\"usec\": %llu, \"writers_stalled_usec\": %llu}, "
		     "\"block_cache\": {\"bytes\": %llu, \"capacity\": %llu, \"hits\": %llu, "
		     "\"misses\": %llu}, "
		     "\"compaction\": {\"tasks\": %llu, \"merges\": %llu, \"splits\": %llu, "
		     "\"merge_backs\": %llu, \"oversized\": %llu, \"bytes_read\": %llu, "
		     "\"bytes_written\": %llu, \"usec\": %llu, \"running\": %d, "
		     "\"writers_throttled_usec\": %llu}, "
		     "\"write_amplification\": %.3f, "
		     "\"space\": {\"live_bytes\": %llu, \"total_bytes\": %llu, "
		     "\"obsolete_run_bytes\": %llu}, "
		     "\"arena_bytes\": %llu, \"env_bytes_read\": %llu, \"env_bytes_written\": %llu, "
		     "\"open_usec\": %llu, \"merkle_snapshots\": %s}",
		     versions, head, (unsigned long long)head_height, base, v->stores->n,
		     (unsigned long long)db->st_commits, (unsigned long long)db->st_groups,
		     (unsigned long long)db->st_ops, (unsigned long long)db->st_user_bytes,
		     (unsigned long long)js.bytes_written, (unsigned long long)js.syncs,
		     (unsigned long long)js.segments, (unsigned long long)js.size,
		     (unsigned long long)mt_bytes(v->mem), (unsigned long long)mt_entries(v->mem),
		     v->tab->nfrozen, (unsigned long long)frozen_bytes,
		     nshards, runs, max_runs, nshards ? (double)runs / nshards : 0.0,
		     (unsigned long long)run_bytes, (unsigned long long)manifest_size(db->man),
		     (unsigned long long)db->st_freezes, (unsigned long long)db->st_dist,
		     (unsigned long long)db->st_dist_bytes, (unsigned long long)db->st_dist_usec,
		     (unsigned long long)db->st_stall_usec,
		     (unsigned long long)bcache_bytes(db->bc),
		     (unsigned long long)db->o.block_cache_bytes,
		     (unsigned long long)bcache_hits(db->bc), (unsigned long long)bcache_misses(db->bc),
		     (unsigned long long)db->st_cmp_tasks, (unsigned long long)db->st_cmp_merges,
		     (unsigned long long)db->st_cmp_splits, (unsigned long long)db->st_cmp_backs,
		     (unsigned long long)db->st_cmp_oversized,
		     (unsigned long long)db->st_cmp_bytes_in, (unsigned long long)db->st_cmp_bytes_out,
		     (unsigned long long)db->st_cmp_usec, (int)db->cmp_running,
		     (unsigned long long)db->st_throttle_usec,
		     user ? (double)(js.bytes_written + db->st_dist_bytes + db->st_cmp_bytes_out) /
				    (double)user
			  : 0.0,
		     (unsigned long long)live, (unsigned long long)(live + obsolete),
		     (unsigned long long)obsolete,
		     (unsigned long long)mem_arena_allocated(),
		     (unsigned long long)env_bytes_read(db->env),
		     (unsigned long long)env_bytes_written(db->env),
		     (unsigned long long)db->open_usec, (const char *)snap.p);
	view_unref(v);
	buf_free(&snap);
	if (n < 0 || n >= STATS_MAX) {
		mem_free(out);
		return err_set(IODB_ENOMEM, "statistics do not fit their buffer");
	}
	*json = out;
	return 0;
}
