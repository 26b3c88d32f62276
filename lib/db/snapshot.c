/*
 * snapshot.c — Merkle snapshots inside the store: when to write them, the background thread
 * that writes them, finding and loading them, retention, and how far back the journal must
 * be kept for the Merkle layer (docs/merkle.md, "Snapshots"; files in docs/format.md).
 *
 *   leader, after a group: the head's height is a multiple of an interval
 *        └─ request: the head's root set (a reference: immutable), its names and position
 *   snapshot thread, one snapshot at a time:
 *        ├─ snapshots/snapshot-<height>-<n>.tmp/: `plan`, then per store a layer
 *        │  (s<i>.nodes/.leaves/.keys; up to snapshot_writer_limit stores at once), full or
 *        │  incremental on the store's chain of layers
 *        ├─ `metadata` (every store's layers, root, counts, checksums) written last
 *        ├─ fsync of the directory, rename to snapshot-<height>-<n>, fsync of snapshots/
 *        └─ retention
 *
 * A tmp directory left by a crash is resumed when the next snapshot is of the same version
 * with the same plan (the layer writer compares what the files hold), else removed. Nothing
 * without a valid metadata file is ever loaded.
 *
 * Loading is lazy: a version whose roots are needed (db_merkle_roots) walks its ancestors
 * to the nearest one with roots in memory or a snapshot on disk. A snapshot that fails to
 * load is forgotten and the walk goes on past it. A walk that reaches the oldest retained
 * version (the base) whose parents were folded into it needs the base's history: the newest
 * snapshot of a version folded into the base (its "anchor"), then the commit records from it
 * to the base, found by scanning the journal; with no anchor, the journal from its start.
 *
 * Journal: at each durable point (freeze or flush) the hold moves to the anchor's commit
 * record (or the base's own, when nothing was folded into it); everything older may be
 * released. The anchor is never removed by retention.
 *
 * Locks: snaps.mu guards the list, the chains, the request; taken after vg_lock, never
 * with another lock held by the snapshot thread.
 */
#include <stdio.h>
#include <sys/time.h>

#include "lib/db/db_int.h"

#define SNAP_DIR "snapshots"
#define META_MAGIC "IODBSNAP"
#define PLAN_MAGIC "IODBPLAN"
#define META_FORMAT 1
#define NAME_MAX_LEN 64

/* One layer of a store's chain: the snapshot directory its files are in and the store's
 * file number there. */
struct slayer {
	char dir[NAME_MAX_LEN];
	uint32_t idx;
	struct mlayer_meta m;
};

/* A store's chain: the layers its last snapshot was made of. */
struct schain {
	uint8_t nlen;
	uint8_t name[IODB_MAX_STORE_NAME];
	uint32_t nl;
	struct slayer l[MLAYERS_MAX];
};

/* A complete snapshot. */
struct snapinfo {
	uint32_t n;
	uint64_t height;
	struct jpos pos;
	char name[NAME_MAX_LEN];
	char (*deps)[NAME_MAX_LEN]; /* directories its layers are in (itself included) */
	uint32_t ndeps;
};

struct snapreq {
	uint32_t n;
	uint64_t height;
	struct jpos pos;
	uint8_t vidlen;
	uint8_t vid[IODB_MAX_VID];
	struct mroots *mr;
	struct stores *names;
	int full;
	uint64_t seq;
	uint64_t ops_at; /* snaps.ops_done when requested */
};

struct snaps {
	pthread_mutex_t mu;
	pthread_cond_t cv, done_cv;
	pthread_t th;
	int up, stop;
	int busy; /* the thread holds a request */
	atomic_int cancel;
	struct snapinfo *v; /* complete snapshots, n ascending */
	uint32_t n, cap;
	struct schain *chains;
	uint32_t nchains;
	struct {
		char dir[NAME_MAX_LEN];
		uint32_t wid;
	} *wids;
	uint32_t nwids, capwids, next_wid;
	struct snapreq *req; /* waiting */
	uint64_t req_seq, done_seq;
	int done_rc;
	char done_msg[256];
	uint32_t anchor;  /* the anchor as of the last durable point */
	int durable_seen; /* a durable point has passed since open */
	char writing[NAME_MAX_LEN];
	uint32_t floor; /* versions up to it were imported (the FLOOR file) */
	struct {
		uint32_t n;
		struct mroots *r;
	} cache[4]; /* the last root sets loaded, so that reads at old versions do not map
		     * and check a snapshot each time */
	uint32_t cache_next;
	uint64_t ops_since; /* operations committed since the last snapshot was requested */
	uint64_t ops_done;  /* ... and since the last one completed (at its request) */
	/* Statistics. */
	uint64_t st_count, st_full_layers, st_incr_layers, st_bytes, st_reused, st_usec,
		st_failed, st_loaded, st_load_usec, st_skipped, st_removed, st_last_height,
		st_already, st_replayed;
};

/* ---- Small helpers ------------------------------------------------------------------- */

static char *snap_path(iodb *db, const char *name)
{
	char *dir = path_join(db->dir, SNAP_DIR), *p;

	if (!dir || !name)
		return dir;
	p = path_join(dir, name);
	mem_free(dir);
	return p;
}

/* Generation 0 is snapshot-<height>-<n>; a later one (a version written again after its
 * snapshot failed to load) adds -<gen>. */
static void snap_name(char out[NAME_MAX_LEN], uint64_t height, uint32_t n, uint32_t gen)
{
	if (gen)
		snprintf(out, NAME_MAX_LEN, "snapshot-%020llu-%010u-%u", (unsigned long long)height,
			 n, gen);
	else
		snprintf(out, NAME_MAX_LEN, "snapshot-%020llu-%010u", (unsigned long long)height, n);
}

/* Order of two directory names of one version: by length, then bytes (so -10 follows -9). */
static int name_order(const char *a, const char *b)
{
	size_t x = strlen(a), y = strlen(b);

	return x != y ? (x < y ? -1 : 1) : strcmp(a, b);
}

/* The writer id of a snapshot directory (assigned at first sight; ids are never reused). */
static uint32_t wid_of(struct snaps *s, const char *dir)
{
	for (uint32_t i = 0; i < s->nwids; i++)
		if (strcmp(s->wids[i].dir, dir) == 0)
			return s->wids[i].wid;
	if (s->nwids == s->capwids) {
		uint32_t cap = s->capwids ? s->capwids * 2 : 16;
		void *v = mem_realloc(s->wids, cap * sizeof(*s->wids));

		if (!v)
			return 0; /* no id: its nodes are simply not recognised as written */
		s->wids = v;
		s->capwids = cap;
	}
	snprintf(s->wids[s->nwids].dir, NAME_MAX_LEN, "%s", dir);
	s->wids[s->nwids].wid = ++s->next_wid;
	return s->wids[s->nwids++].wid;
}

static int find_snap(const struct snaps *s, uint32_t n)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].n < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->v[lo].n == n ? (int)lo : -1;
}

/* Does the chain the next incremental builds on have a layer in directory name? Under
 * s->mu. */
static int chain_uses(const struct snaps *s, const char *name)
{
	for (uint32_t c = 0; c < s->nchains; c++)
		for (uint32_t k = 0; k < s->chains[c].nl; k++)
			if (strcmp(s->chains[c].l[k].dir, name) == 0)
				return 1;
	return 0;
}

/* Does a complete snapshot, or the chain the next incremental builds on, use directory
 * name? Such a directory is never removed or written again. Under s->mu. */
static int dir_in_use(const struct snaps *s, const char *name)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (strcmp(s->v[i].name, name) == 0)
			return 1;
		for (uint32_t d = 0; d < s->v[i].ndeps; d++)
			if (strcmp(s->v[i].deps[d], name) == 0)
				return 1;
	}
	return chain_uses(s, name);
}

static void info_free(struct snapinfo *i)
{
	mem_free(i->deps);
	i->deps = NULL;
}

static void drop_snap(struct snaps *s, uint32_t at)
{
	info_free(&s->v[at]);
	memmove(s->v + at, s->v + at + 1, (s->n - at - 1) * sizeof(*s->v));
	s->n--;
}

/* ---- Metadata ------------------------------------------------------------------------- */

struct smeta_store {
	uint8_t nlen;
	uint8_t name[IODB_MAX_STORE_NAME];
	uint8_t hash[32];
	uint64_t root_pref;
	uint32_t nl;
	struct slayer l[MLAYERS_MAX];
};

struct smeta {
	uint32_t n;
	uint64_t height;
	struct jpos pos;
	uint8_t vidlen;
	uint8_t vid[IODB_MAX_VID];
	uint32_t nstores;
	struct smeta_store *st;
};

static int put_str(struct buf *b, const void *p, size_t n)
{
	uint8_t l = (uint8_t)n;

	RET(buf_append(b, &l, 1));
	return buf_append(b, p, n);
}

static int put32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	put_u32(x, v);
	return buf_append(b, x, 4);
}

static int put64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	put_u64(x, v);
	return buf_append(b, x, 8);
}

static int layer_encode(struct buf *b, const struct slayer *l)
{
	RET(put_str(b, l->dir, strlen(l->dir)));
	RET(put32(b, l->idx));
	RET(put64(b, l->m.nbranch));
	RET(put64(b, l->m.nleaf));
	RET(put64(b, l->m.keys_len));
	RET(put32(b, l->m.crc_nodes));
	RET(put32(b, l->m.crc_leaves));
	RET(put32(b, l->m.crc_keys));
	return buf_append(b, &(uint8_t){(uint8_t)l->m.full}, 1);
}

static int meta_encode(const struct smeta *m, struct buf *b)
{
	RET(buf_append(b, META_MAGIC, 8));
	RET(put32(b, META_FORMAT));
	RET(put32(b, m->n));
	RET(put64(b, m->height));
	RET(put64(b, m->pos.seg));
	RET(put64(b, m->pos.off));
	RET(put_str(b, m->vid, m->vidlen));
	RET(put32(b, m->nstores));
	for (uint32_t i = 0; i < m->nstores; i++) {
		const struct smeta_store *s = &m->st[i];

		RET(put_str(b, s->name, s->nlen));
		RET(buf_append(b, s->hash, 32));
		RET(put64(b, s->root_pref));
		RET(put32(b, s->nl));
		for (uint32_t k = 0; k < s->nl; k++)
			RET(layer_encode(b, &s->l[k]));
	}
	return put32(b, crc32c(b->p, b->len));
}

static int rd_str(struct rd *r, uint8_t *out, size_t cap, uint8_t *len)
{
	const uint8_t *p;

	if (rd_bytes(r, 1, &p) || *p > cap)
		return -1;
	*len = *p;
	if (rd_bytes(r, *len, &p))
		return -1;
	memcpy(out, p, *len);
	return 0;
}

static int rd_dir(struct rd *r, char out[NAME_MAX_LEN])
{
	uint8_t len;

	if (rd_str(r, (uint8_t *)out, NAME_MAX_LEN - 1, &len))
		return -1;
	out[len] = '\0';
	/* A directory name of ours: no path separators, no dot entries. */
	if (len == 0 || strchr(out, '/') || out[0] == '.')
		return -1;
	return 0;
}

static void meta_free(struct smeta *m)
{
	mem_free(m->st);
	m->st = NULL;
}

static int meta_decode(const uint8_t *p, size_t len, const char *path, struct smeta *m)
{
	struct rd r;
	const uint8_t *x;
	uint32_t fmt;

	memset(m, 0, sizeof(*m));
	if (len < 12 || memcmp(p, META_MAGIC, 8) != 0 ||
	    get_u32(p + len - 4) != crc32c(p, len - 4))
		return err_set(IODB_ECORRUPT, "%s: bad magic or checksum", path);
	rd_init(&r, p + 8, len - 12);
	if (rd_u32(&r, &fmt) || fmt != META_FORMAT || rd_u32(&r, &m->n) || rd_u64(&r, &m->height) ||
	    rd_u64(&r, &m->pos.seg) || rd_u64(&r, &m->pos.off) ||
	    rd_str(&r, m->vid, IODB_MAX_VID, &m->vidlen) || rd_u32(&r, &m->nstores) ||
	    m->nstores > 1u << 20)
		goto bad;
	if (m->nstores && !(m->st = mem_calloc(m->nstores, sizeof(*m->st))))
		return err_set(IODB_ENOMEM, "out of memory reading %s", path);
	for (uint32_t i = 0; i < m->nstores; i++) {
		struct smeta_store *s = &m->st[i];

		if (rd_str(&r, s->name, IODB_MAX_STORE_NAME, &s->nlen) || rd_bytes(&r, 32, &x))
			goto bad;
		memcpy(s->hash, x, 32);
		if (rd_u64(&r, &s->root_pref) || rd_u32(&r, &s->nl) || s->nl == 0 ||
		    s->nl > MLAYERS_MAX)
			goto bad;
		for (uint32_t k = 0; k < s->nl; k++) {
			struct slayer *l = &s->l[k];

			if (rd_dir(&r, l->dir) || rd_u32(&r, &l->idx) || rd_u64(&r, &l->m.nbranch) ||
			    rd_u64(&r, &l->m.nleaf) || rd_u64(&r, &l->m.keys_len) ||
			    rd_u32(&r, &l->m.crc_nodes) || rd_u32(&r, &l->m.crc_leaves) ||
			    rd_u32(&r, &l->m.crc_keys) || rd_bytes(&r, 1, &x) || *x > 1)
				goto bad;
			l->m.full = *x;
			for (uint32_t j = 0; j < k; j++) /* a chain never has a directory twice */
				if (strcmp(s->l[j].dir, l->dir) == 0)
					goto bad;
		}
	}
	if (rd_left(&r) == 0)
		return 0;
bad:
	meta_free(m);
	return err_set(IODB_ECORRUPT, "%s: malformed snapshot metadata", path);
}

static int read_whole(struct env *env, const char *path, struct buf *b)
{
	struct env_file *f = NULL;
	size_t got;
	int rc;

	b->len = 0;
	ERR(env_open_read(env, path, &f));
	if (env_file_size(f) > (64u << 20)) {
		rc = err_set(IODB_ECORRUPT, "%s: too large", path);
		goto err;
	}
	ERR(buf_reserve(b, (size_t)env_file_size(f)));
	ERR(env_file_read(f, 0, b->p, (size_t)env_file_size(f), &got));
	b->len = got;
err:
	env_file_close(f);
	return rc;
}

static int meta_read(iodb *db, const char *name, struct smeta *m)
{
	char *dir = snap_path(db, name), *path = dir ? path_join(dir, "metadata") : NULL;
	struct buf b;
	int rc;

	buf_init(&b);
	if (!path) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	ERR(read_whole(db->env, path, &b));
	rc = meta_decode(b.p, b.len, path, m);
err:
	buf_free(&b);
	mem_free(path);
	mem_free(dir);
	return rc;
}

/* The directories a snapshot's layers are in. */
static int info_from_meta(const char *name, const struct smeta *m, struct snapinfo *i)
{
	memset(i, 0, sizeof(*i));
	i->n = m->n;
	i->height = m->height;
	i->pos = m->pos;
	snprintf(i->name, NAME_MAX_LEN, "%s", name);
	for (uint32_t s = 0; s < m->nstores; s++) {
		for (uint32_t k = 0; k < m->st[s].nl; k++) {
			const char *d = m->st[s].l[k].dir;
			uint32_t j = 0;

			while (j < i->ndeps && strcmp(i->deps[j], d) != 0)
				j++;
			if (j < i->ndeps)
				continue;
			if ((i->ndeps & (i->ndeps + 1)) == 0 || i->ndeps == 0) {
				void *v = mem_realloc(i->deps, (i->ndeps + 1) * 2 * NAME_MAX_LEN);

				if (!v) {
					info_free(i);
					return err_set(IODB_ENOMEM, "out of memory");
				}
				i->deps = v;
			}
			snprintf(i->deps[i->ndeps++], NAME_MAX_LEN, "%s", d);
		}
	}
	return 0;
}

static int floor_read(iodb *db);
static int write_file(struct env *env, const char *dir, const char *name, const struct buf *b);

/* ---- Finding snapshots at open -------------------------------------------------------- */

static int insert_info(struct snaps *s, struct snapinfo *i)
{
	uint32_t at = 0;

	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 8;
		void *v = mem_realloc(s->v, cap * sizeof(*s->v));

		if (!v)
			return err_set(IODB_ENOMEM, "out of memory");
		s->v = v;
		s->cap = cap;
	}
	while (at < s->n && s->v[at].n < i->n)
		at++;
	if (at < s->n && s->v[at].n == i->n) {
		/* Two directories for one version: a snapshot was written again after the
		 * first failed to load (snap_write never rewrites one in place). Keep the
		 * later generation. */
		if (name_order(i->name, s->v[at].name) > 0) {
			info_free(&s->v[at]);
			s->v[at] = *i;
		} else {
			info_free(i);
		}
		return 0;
	}
	memmove(s->v + at + 1, s->v + at, (s->n - at) * sizeof(*s->v));
	s->v[at] = *i;
	s->n++;
	return 0;
}

static void chains_from_meta(struct snaps *s, const struct smeta *m)
{
	struct schain *c = mem_calloc(m->nstores ? m->nstores : 1, sizeof(*c));

	if (!c)
		return; /* no chains: the next snapshot is full */
	for (uint32_t i = 0; i < m->nstores; i++) {
		c[i].nlen = m->st[i].nlen;
		memcpy(c[i].name, m->st[i].name, m->st[i].nlen);
		c[i].nl = m->st[i].nl;
		memcpy(c[i].l, m->st[i].l, m->st[i].nl * sizeof(c[i].l[0]));
	}
	mem_free(s->chains);
	s->chains = c;
	s->nchains = m->nstores;
}

static int list_one(void *ctx, const char *name)
{
	iodb *db = ctx;
	struct snaps *s = db->snaps;
	struct snapinfo i;
	struct smeta m;
	size_t len = strlen(name);

	if (strncmp(name, "snapshot-", 9) != 0 || len >= NAME_MAX_LEN ||
	    (len > 4 && strcmp(name + len - 4, ".tmp") == 0))
		return 0;
	if (meta_read(db, name, &m) != 0) {
		/* No valid metadata: incomplete or damaged. Never loaded; left for a look. */
		err_clear();
		s->st_skipped++;
		return 0;
	}
	if (info_from_meta(name, &m, &i) == 0) {
		if (insert_info(s, &i) != 0)
			info_free(&i);
		if (s->n && s->v[s->n - 1].n == m.n) /* the newest so far: its chains */
			chains_from_meta(s, &m);
	}
	err_clear();
	meta_free(&m);
	return 0;
}

int db_snap_open(iodb *db)
{
	struct snaps *s = mem_calloc(1, sizeof(*s));
	char *dir;
	int rc;

	if (!s)
		return err_set(IODB_ENOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->done_cv, NULL);
	db->snaps = s;
	if (!db->o.merkle)
		return 0;
	if (!(dir = snap_path(db, NULL)))
		return err_set(IODB_ENOMEM, "out of memory");
	rc = env_list_dir(db->env, dir, list_one, db);
	mem_free(dir);
	if (rc == IODB_NOTFOUND) {
		err_clear();
		rc = 0;
	}
	if (rc == 0)
		rc = floor_read(db);
	return rc;
}

uint32_t db_snap_floor(iodb *db)
{
	return db->snaps ? db->snaps->floor : 0;
}

/* FLOOR: u32 version number, u32 crc32c of it. */
static int floor_read(iodb *db)
{
	char *path = snap_path(db, "FLOOR");
	struct buf b;
	int rc;

	if (!path)
		return err_set(IODB_ENOMEM, "out of memory");
	buf_init(&b);
	rc = read_whole(db->env, path, &b);
	if (rc == IODB_NOTFOUND) {
		err_clear();
		rc = 0;
	} else if (rc == 0 && (b.len != 8 || get_u32(b.p + 4) != crc32c(b.p, 4))) {
		rc = err_set(IODB_ECORRUPT, "%s: damaged", path);
	} else if (rc == 0) {
		db->snaps->floor = get_u32(b.p);
	}
	buf_free(&b);
	mem_free(path);
	return rc;
}

int db_snap_set_floor(iodb *db, uint32_t n)
{
	char *root = snap_path(db, NULL);
	struct buf b;
	int rc;

	buf_init(&b);
	if (!root) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	ERR(env_mkdir(db->env, root));
	ERR(put32(&b, n));
	ERR(put32(&b, crc32c(b.p, 4)));
	ERR(write_file(db->env, root, "FLOOR", &b));
	ERR(env_sync_dir(db->env, root));
	db->snaps->floor = n;
err:
	buf_free(&b);
	mem_free(root);
	return rc;
}

/* ---- Loading -------------------------------------------------------------------------- */

static int root_order(const void *a, const void *b)
{
	const struct mroot *x = a, *y = b;

	return x->store < y->store ? -1 : x->store > y->store;
}

/* The root set a snapshot holds, its store names resolved in names. */
static int snap_load(iodb *db, const char *name, const struct stores *names, uint32_t n,
		     struct mroots **out)
{
	struct snaps *s = db->snaps;
	struct smeta m;
	struct mroots *r = NULL;
	char *prefixes[MLAYERS_MAX] = {0};
	struct mlayer_meta lm[MLAYERS_MAX];
	uint64_t t0 = now_usec();
	int rc = 0; /* a version without stores runs no loop below */

	RET(meta_read(db, name, &m));
	if (m.n != n) {
		rc = err_set(IODB_ECORRUPT, "snapshot %s: metadata names version %u", name, m.n);
		goto err;
	}
	if (!(r = mem_calloc(1, sizeof(*r))) ||
	    !(r->v = mem_calloc(m.nstores ? m.nstores : 1, sizeof(*r->v)))) {
		rc = err_set(IODB_ENOMEM, "out of memory loading a snapshot");
		goto err;
	}
	atomic_init(&r->refs, 1);
	r->cap = m.nstores ? m.nstores : 1;
	for (uint32_t i = 0; i < m.nstores; i++) {
		struct smeta_store *st = &m.st[i];
		struct mroot *mr = &r->v[r->n];
		int64_t id = stores_find(names, st->name, st->nlen);
		uint8_t h[32];

		if (id < 0) {
			rc = err_set(IODB_ECORRUPT, "snapshot %s names a store the store does not know",
				     name);
			goto err;
		}
		mr->store = (uint32_t)id;
		for (uint32_t k = 0; k < st->nl; k++) {
			char file[24], *d = snap_path(db, st->l[k].dir);

			snprintf(file, sizeof(file), "s%u", st->l[k].idx);
			prefixes[k] = d ? path_join(d, file) : NULL;
			mem_free(d);
			if (!prefixes[k]) {
				rc = err_set(IODB_ENOMEM, "out of memory");
				goto err;
			}
			lm[k] = st->l[k].m;
		}
		ERR(mtsnap_load(db->env, st->nl, prefixes, lm, st->root_pref, &mr->snap, &mr->root));
		r->n++;
		pthread_mutex_lock(&s->mu);
		for (uint32_t k = 0; k < st->nl; k++)
			mr->snap->wid[k] = wid_of(s, st->l[k].dir);
		pthread_mutex_unlock(&s->mu);
		mtree_hash(mr->snap, mr->root, 1, h);
		if (mr->root) {
			/* A branch root's hash again from its children's: the records agree. */
			struct minfo ri, li, rn;

			mnode_info(mr->snap, mr->root, &ri);
			if (ri.height) {
				mnode_info(mr->snap, ri.left, &li);
				mnode_info(mr->snap, ri.right, &rn);
				minner_hash(ri.height, ri.size, ri.version, li.hash, rn.hash, h);
			}
		}
		if (memcmp(h, st->hash, 32) != 0) {
			rc = err_set(IODB_ECORRUPT, "snapshot %s: store %u's root does not have the "
						    "hash its metadata records",
				     name, i);
			goto err;
		}
		memcpy(mr->hash, h, 32);
		for (uint32_t k = 0; k < st->nl; k++) {
			mem_free(prefixes[k]);
			prefixes[k] = NULL;
		}
	}
	qsort(r->v, r->n, sizeof(*r->v), root_order);
	pthread_mutex_lock(&s->mu);
	s->st_loaded++;
	s->st_load_usec += now_usec() - t0;
	pthread_mutex_unlock(&s->mu);
	*out = r;
	r = NULL;
err:
	for (uint32_t k = 0; k < MLAYERS_MAX; k++)
		mem_free(prefixes[k]);
	mroots_unref(r);
	meta_free(&m);
	return rc;
}

int db_snap_has(iodb *db, uint32_t n)
{
	struct snaps *s = db->snaps;
	int at;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	at = find_snap(s, n);
	pthread_mutex_unlock(&s->mu);
	return at >= 0;
}

int db_snap_load(iodb *db, uint32_t n, const struct stores *names, struct mroots **out)
{
	struct snaps *s = db->snaps;
	char name[NAME_MAX_LEN];
	int at, rc;

	pthread_mutex_lock(&s->mu);
	at = find_snap(s, n);
	if (at >= 0)
		memcpy(name, s->v[at].name, NAME_MAX_LEN);
	for (uint32_t i = 0; at >= 0 && i < 4; i++)
		if (s->cache[i].r && s->cache[i].n == n) {
			mroots_ref(s->cache[i].r);
			*out = s->cache[i].r;
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
	pthread_mutex_unlock(&s->mu);
	if (at < 0)
		return err_set(IODB_NOTFOUND, "no snapshot of version %u", n);
	if ((rc = snap_load(db, name, names, n, out)) == 0) {
		struct mroots *old;

		mroots_ref(*out);
		pthread_mutex_lock(&s->mu);
		old = s->cache[s->cache_next].r;
		s->cache[s->cache_next].n = n;
		s->cache[s->cache_next].r = *out;
		s->cache_next = (s->cache_next + 1) % 4;
		pthread_mutex_unlock(&s->mu);
		mroots_unref(old);
	} else if (rc != IODB_ENOMEM) {
		/* Forget it: the walk goes on to older roots. Its files stay for a look. */
		pthread_mutex_lock(&s->mu);
		if ((at = find_snap(s, n)) >= 0) {
			/* The next incremental must not build on layers that may be damaged. */
			for (uint32_t d = 0; d < s->v[at].ndeps && s->nchains; d++)
				if (chain_uses(s, s->v[at].deps[d]))
					s->nchains = 0;
			drop_snap(s, (uint32_t)at);
		}
		s->st_skipped++;
		pthread_mutex_unlock(&s->mu);
	}
	return rc;
}

/* ---- The base's history ----------------------------------------------------------------- */

struct link {
	uint32_t n, parent;
	struct jpos pos;
};

struct scan {
	struct link *v;
	size_t n, cap;
	struct jpos stop;
};

static int scan_fn(void *ctx, uint8_t type, const uint8_t *p, size_t len, const char *path,
		   const struct jpos *pos)
{
	struct scan *sc = ctx;
	struct jcommit c;

	if (pos->seg > sc->stop.seg || (pos->seg == sc->stop.seg && pos->off >= sc->stop.off))
		return 1;
	if (type != JREC_COMMIT)
		return 0;
	if (jcommit_decode(p, len, &c) != 0)
		return ERR_CORRUPT(path, pos->off, "malformed commit record");
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 256;
		void *v = mem_realloc(sc->v, cap * sizeof(*sc->v));

		if (!v)
			return err_set(IODB_ENOMEM, "out of memory");
		sc->v = v;
		sc->cap = cap;
	}
	sc->v[sc->n++] = (struct link){c.n, c.parent, *pos};
	return 0;
}

static const struct link *link_find(const struct scan *sc, uint32_t n)
{
	size_t lo = 0, hi = sc->n;

	while (lo < hi) { /* commit numbers grow along the journal */
		size_t mid = lo + (hi - lo) / 2;

		if (sc->v[mid].n < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sc->n && sc->v[lo].n == n ? &sc->v[lo] : NULL;
}

/*
 * Roots of version p, folded into the base (so not in the graph): the newest snapshot of an
 * ancestor of p plus the commit records from it to p, or the journal from its start. The
 * steps to replay (oldest last) are appended to *steps. stop: the base's commit record.
 */
int db_snap_folded(iodb *db, uint32_t p, const struct jpos *stop, const struct stores *names,
		   struct mroots **out, struct snap_step **steps, size_t *nsteps)
{
	struct snaps *s = db->snaps;
	struct scan sc = {0};
	int first_rc = 0, rc = 0;
	uint32_t below = p + 1;
	char first_msg[256] = "";

	*out = NULL;
	sc.stop = *stop;
	for (;;) {
		uint32_t cand = 0;
		struct jpos from = {1, 0};
		const struct link *l;
		uint32_t at = p;
		size_t len = 0;

		pthread_mutex_lock(&s->mu);
		for (uint32_t i = s->n; i-- > 0;)
			if (s->v[i].n < below) {
				cand = s->v[i].n;
				from = s->v[i].pos;
				break;
			}
		pthread_mutex_unlock(&s->mu);
		sc.n = 0;
		rc = journal_scan(db->journal, &from, scan_fn, &sc);
		if (rc == 1)
			rc = 0;
		if (rc == 0) {
			/* Walk p's parents back to the candidate (or, with none, to the start). */
			while (at != cand && at > cand && (l = link_find(&sc, at)) != NULL) {
				struct snap_step *v = mem_realloc(*steps, (*nsteps + len + 1) * sizeof(**steps));

				if (!v) {
					rc = err_set(IODB_ENOMEM, "out of memory");
					break;
				}
				*steps = v;
				(*steps)[*nsteps + len].n = l->n;
				(*steps)[*nsteps + len].pos = l->pos;
				len++;
				at = l->parent;
			}
			if (rc == 0 && at == cand &&
			    (cand == 0 || (rc = db_snap_load(db, cand, names, out)) == 0)) {
				*nsteps += len;
				break;
			}
		}
		if (!first_rc && rc) {
			first_rc = rc;
			snprintf(first_msg, sizeof(first_msg), "%s", iodb_errmsg());
		}
		if (cand == 0) {
			rc = first_rc == IODB_ECORRUPT
				     ? err_set(IODB_ECORRUPT, "%s", first_msg)
				     : err_set(IODB_ECORRUPT, "the Merkle roots of version %u cannot "
							      "be rebuilt: no usable snapshot of its "
							      "history, and the journal before it was "
							      "released",
					       p);
			break;
		}
		below = cand;
		err_clear();
	}
	if (rc == 0 && first_rc)
		err_clear();
	mem_free(sc.v);
	return rc;
}

/* ---- The journal hold and retention ----------------------------------------------------- */

/* The leader, at a durable point: the base's anchor becomes what retention keeps and where
 * the journal hold stands. */
void db_snap_durable(iodb *db)
{
	struct snaps *s = db->snaps;
	struct vgraph *g = &db->vg;
	struct version *base;
	struct jpos hold = {1, 0};
	uint32_t anchor = 0;

	if (!s || !db->o.merkle)
		return;
	pthread_rwlock_rdlock(&db->vg_lock);
	base = g->base ? vg_get(g, g->base) : NULL;
	pthread_mutex_lock(&s->mu);
	for (uint32_t i = s->n; base && i-- > 0;)
		if (s->v[i].n == base->n || roaring_bitmap_contains(g->base_anc, s->v[i].n)) {
			anchor = s->v[i].n;
			hold = s->v[i].pos;
			break;
		}
	if (!anchor && base && roaring_bitmap_is_empty(g->base_anc))
		hold = base->pos; /* nothing folded: its own record is where it starts */
	s->anchor = anchor;
	s->durable_seen = 1;
	pthread_mutex_unlock(&s->mu);
	pthread_rwlock_unlock(&db->vg_lock);
	if (db_journal_hold(db, "merkle", &hold) != 0)
		err_clear();
}

/* Remove a snapshot directory: renamed to <name>.del.tmp first, so that a crash part-way
 * leaves a .tmp directory (removed by the next snapshot), never a snapshot name with some of
 * its files gone. */
static int remove_snap_dir(iodb *db, const char *path)
{
	size_t len = strlen(path);
	char *gone = mem_alloc(len + 9);
	int rc;

	if (!gone)
		return err_set(IODB_ENOMEM, "out of memory");
	memcpy(gone, path, len);
	memcpy(gone + len, ".del.tmp", 9);
	if ((rc = env_rename(db->env, path, gone)) == 0)
		rc = env_remove_dir(db->env, gone);
	mem_free(gone);
	return rc;
}

/*
 * After the replay at open. With sync off, a snapshot (fsynced) can outlive the commit record
 * of its version (not yet synced) in a crash: the snapshot is then of a number the journal
 * does not reach, which the next version will be given. Matched by number, it would hand
 * that version the lost one's roots. Forget such snapshots and, on a writable handle,
 * remove them durably before anything is committed.
 */
int db_snap_drop_lost(iodb *db)
{
	struct snaps *s = db->snaps;
	char (*gone)[NAME_MAX_LEN] = NULL;
	uint32_t ngone = 0, next = db->vg.next_n;
	char *dir = NULL;
	int rc = 0;

	if (!s || !s->n || s->v[s->n - 1].n < next)
		return 0;
	if (!(gone = mem_alloc(s->n * sizeof(*gone))))
		return err_set(IODB_ENOMEM, "out of memory");
	pthread_mutex_lock(&s->mu);
	while (s->n && s->v[s->n - 1].n >= next) { /* n ascending: the lost ones are last */
		struct snapinfo *i = &s->v[s->n - 1];

		for (uint32_t d = 0; d < i->ndeps && s->nchains; d++)
			if (chain_uses(s, i->deps[d]))
				s->nchains = 0; /* no incremental on its layers */
		memcpy(gone[ngone++], i->name, NAME_MAX_LEN);
		drop_snap(s, s->n - 1);
	}
	pthread_mutex_unlock(&s->mu);
	for (uint32_t k = 0; k < ngone && !db->o.read_only && rc == 0; k++) {
		char *path;
		int used;

		pthread_mutex_lock(&s->mu);
		used = dir_in_use(s, gone[k]);
		pthread_mutex_unlock(&s->mu);
		if (used)
			continue;
		if (!(path = snap_path(db, gone[k])))
			rc = err_set(IODB_ENOMEM, "out of memory");
		else
			rc = remove_snap_dir(db, path);
		mem_free(path);
	}
	if (rc == 0 && !db->o.read_only) {
		if (!(dir = snap_path(db, NULL)))
			rc = err_set(IODB_ENOMEM, "out of memory");
		else
			rc = env_sync_dir(db->env, dir);
	}
	mem_free(dir);
	mem_free(gone);
	return rc;
}

/* Remove the snapshots retention no longer keeps (snapshot thread, or the leader at close). */
static void retain(iodb *db)
{
	struct snaps *s = db->snaps;
	uint32_t keep_from, nrm = 0, left;
	uint8_t *keep = NULL;
	char **rm = NULL;

	pthread_mutex_lock(&s->mu);
	if (!s->durable_seen || !s->n) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	keep_from = s->n > db->o.snapshot_keep_recent + 1 ? s->n - db->o.snapshot_keep_recent - 1 : 0;
	if (!(rm = mem_calloc(s->n, sizeof(*rm))) || !(keep = mem_calloc(s->n, 1))) {
		pthread_mutex_unlock(&s->mu);
		mem_free(rm);
		return;
	}
	/* The newest, the anchor, and the directories the next incremental builds on. */
	for (uint32_t i = 0; i < s->n; i++) {
		keep[i] = i >= keep_from || s->v[i].n == s->anchor || chain_uses(s, s->v[i].name);
	}
	/* Then every directory a kept snapshot's layers are in; and since a snapshot kept so
	 * keeps its own other layers' directories too (every snapshot left must load as a
	 * whole), until nothing changes. */
	for (int changed = 1; changed;) {
		changed = 0;
		for (uint32_t i = 0; i < s->n; i++)
			for (uint32_t j = 0; !keep[i] && j < s->n; j++)
				for (uint32_t d = 0; keep[j] && !keep[i] && d < s->v[j].ndeps; d++)
					if (strcmp(s->v[j].deps[d], s->v[i].name) == 0)
						keep[i] = changed = 1;
	}
	/* Removal order: a snapshot before any layer it builds on, so that a crash part-way
	 * never leaves a complete snapshot whose layers are gone. */
	left = 0;
	for (uint32_t i = 0; i < s->n; i++)
		left += !keep[i];
	while (left) {
		uint32_t pick = s->n;

		for (uint32_t i = 0; i < s->n && pick == s->n; i++) {
			int needed = 0;

			if (keep[i])
				continue;
			for (uint32_t j = 0; j < s->n && !needed; j++)
				for (uint32_t d = 0; j != i && !keep[j] && !needed && d < s->v[j].ndeps;
				     d++)
					needed = strcmp(s->v[j].deps[d], s->v[i].name) == 0;
			if (!needed)
				pick = i;
		}
		if (pick == s->n)
			break; /* a cycle cannot happen (a chain names older directories) */
		keep[pick] = 3; /* taken */
		if ((rm[nrm] = snap_path(db, s->v[pick].name)) != NULL)
			nrm++;
		left--;
	}
	for (uint32_t i = s->n; i-- > 0;)
		if (keep[i] == 3) {
			drop_snap(s, i);
			s->st_removed++;
		}
	pthread_mutex_unlock(&s->mu);
	for (uint32_t i = 0; i < nrm; i++) {
		/* Renamed first: a crash part-way leaves a .tmp directory, which the next
		 * snapshot removes, never a snapshot name without its files. */
		if (remove_snap_dir(db, rm[i]) != 0)
			err_clear(); /* left behind; a .tmp is removed by the next snapshot */
		mem_free(rm[i]);
	}
	mem_free(rm);
	mem_free(keep);
}

/* ---- Writing ------------------------------------------------------------------------- */

static int wants_incremental(iodb *db, const uint8_t *name, size_t nlen)
{
	if (!db->o.incremental_stores)
		return 1;
	for (uint32_t i = 0; i < db->o.n_incremental_stores; i++) {
		const char *x = db->o.incremental_stores[i];

		if (strlen(x) == nlen && memcmp(x, name, nlen) == 0)
			return 1;
	}
	return 0;
}

static uint64_t layer_bytes(const struct mlayer_meta *m)
{
	return m->nbranch * (m->full ? 48 : 72) + m->nleaf * 48 + /* record sizes */
	       m->keys_len;
}

/* A chain whose incremental layers add up to more than its full layer is rewritten in full:
 * what an open maps and checks stays within twice a full snapshot. */
static int chain_too_long(const struct schain *ch)
{
	uint64_t full = 0, incr = 0;

	for (uint32_t k = 0; k < ch->nl; k++) {
		if (ch->l[k].m.full)
			full += layer_bytes(&ch->l[k].m);
		else
			incr += layer_bytes(&ch->l[k].m);
	}
	return incr > full;
}

struct wstore {
	struct mroot *root;
	const struct store_name *name;
	const struct schain *chain; /* NULL: full */
	struct mchain mc;
	char *prefix;
	struct mlayer_meta m;
	uint64_t root_pref, reused;
	int rc;
	char msg[256];
};

struct wjob {
	iodb *db;
	struct wstore *w;
	uint32_t n;
	atomic_uint next;
	uint32_t wid;
};

static void *write_stores(void *arg)
{
	struct wjob *j = arg;
	unsigned i;

	while ((i = atomic_fetch_add(&j->next, 1)) < j->n) {
		struct wstore *w = &j->w[i];

		if (atomic_load(&j->db->snaps->cancel)) {
			w->rc = err_set(IODB_EIO, "snapshot cancelled by close");
		} else {
			w->rc = mlayer_write(j->db->env, w->prefix, w->root->snap, w->root->root,
					     w->chain ? &w->mc : NULL, j->wid, &w->m, &w->root_pref,
					     &w->reused);
		}
		if (w->rc)
			snprintf(w->msg, sizeof(w->msg), "%s", iodb_errmsg());
	}
	return NULL;
}

static int plan_encode(const struct snapreq *q, const struct wstore *w, uint32_t n,
		       struct buf *b)
{
	RET(buf_append(b, PLAN_MAGIC, 8));
	RET(put32(b, q->n));
	RET(put64(b, q->height));
	RET(put32(b, n));
	for (uint32_t i = 0; i < n; i++) {
		RET(put_str(b, w[i].name->name, w[i].name->len));
		RET(put32(b, w[i].chain ? w[i].chain->nl : 0));
		for (uint32_t k = 0; w[i].chain && k < w[i].chain->nl; k++)
			RET(layer_encode(b, &w[i].chain->l[k]));
	}
	return put32(b, crc32c(b->p, b->len));
}

static int write_file(struct env *env, const char *dir, const char *name, const struct buf *b)
{
	char *path = path_join(dir, name);
	struct env_file *f = NULL;
	int rc;

	if (!path)
		return err_set(IODB_ENOMEM, "out of memory");
	(void)env_unlink(env, path);
	ERR(env_open_append(env, path, &f));
	ERR(env_file_append(f, b->p, b->len));
	ERR(env_file_sync(f));
err:
	env_file_close(f);
	mem_free(path);
	return rc;
}

/* Is the tmp directory a resumable start of this plan? */
static int plan_matches(iodb *db, const char *tmp, const struct buf *plan)
{
	char *path = path_join(tmp, "plan");
	struct buf b;
	int same;

	buf_init(&b);
	same = path && read_whole(db->env, path, &b) == 0 && b.len == plan->len &&
	       memcmp(b.p, plan->p, b.len) == 0;
	err_clear();
	buf_free(&b);
	mem_free(path);
	return same;
}

static int rm_stale_tmp(void *ctx, const char *name)
{
	iodb *db = ctx;
	size_t len = strlen(name);

	if (strncmp(name, "snapshot-", 9) == 0 && len > 4 && strcmp(name + len - 4, ".tmp") == 0 &&
	    !(strlen(db->snaps->writing) == len - 4 &&
	      strncmp(name, db->snaps->writing, len - 4) == 0)) {
		char *p = snap_path(db, name);

		if (p && env_remove_dir(db->env, p) != 0)
			err_clear();
		mem_free(p);
	}
	return 0;
}

static int snap_write(iodb *db, struct snapreq *q)
{
	struct snaps *s = db->snaps;
	struct wstore *w = NULL;
	struct smeta m = {0};
	struct schain *chains = NULL;
	char name[NAME_MAX_LEN], tmpname[NAME_MAX_LEN + 4];
	char *root = snap_path(db, NULL), *tmp = NULL, *final = NULL;
	struct buf plan, meta;
	struct wjob job;
	pthread_t th[16];
	uint32_t nth = 0, n = q->mr->n, wid;
	uint64_t t0 = now_usec(), bytes = 0, reused = 0;
	int rc = 0, incr_due;

	buf_init(&plan);
	buf_init(&meta);
	pthread_mutex_lock(&s->mu);
	if (find_snap(s, q->n) >= 0) {
		/* This version has a snapshot: it stays as it is. Writing it again would
		 * remove or rewrite layers that it and later snapshots are made of. */
		s->st_already++;
		pthread_mutex_unlock(&s->mu);
		goto err;
	}
	/* A directory of this version's name that some snapshot or the chain still uses (its
	 * own snapshot failed to load, but a later one builds on its layers) is kept: this
	 * snapshot takes the next generation's name. */
	for (uint32_t gen = 0;; gen++) {
		snap_name(name, q->height, q->n, gen);
		if (!dir_in_use(s, name))
			break;
	}
	pthread_mutex_unlock(&s->mu);
	snprintf(tmpname, sizeof(tmpname), "%s.tmp", name);
	if (!root || !(tmp = snap_path(db, tmpname)) || !(final = snap_path(db, name)) ||
	    !(w = mem_calloc(n ? n : 1, sizeof(*w))) ||
	    !(chains = mem_calloc(n ? n : 1, sizeof(*chains)))) {
		rc = err_set(IODB_ENOMEM, "out of memory writing a snapshot");
		goto err;
	}
	incr_due = !q->full && db->o.incremental_snapshot_interval &&
		   !(db->o.snapshot_interval && q->height % db->o.snapshot_interval == 0);
	pthread_mutex_lock(&s->mu);
	memcpy(s->writing, name, NAME_MAX_LEN);
	for (uint32_t i = 0; i < n; i++) {
		const struct store_name *sn = &q->names->v[q->mr->v[i].store];

		w[i].root = &q->mr->v[i];
		w[i].name = sn;
		w[i].root_pref = MPREF_NONE;
		for (uint32_t c = 0; incr_due && c < s->nchains; c++) {
			const struct schain *ch = &s->chains[c];

			if (ch->nlen == sn->len && memcmp(ch->name, sn->name, sn->len) == 0 &&
			    ch->nl < MLAYERS_MAX && !chain_too_long(ch) &&
			    wants_incremental(db, (const uint8_t *)sn->name, sn->len)) {
				chains[i] = *ch;
				w[i].chain = &chains[i];
				w[i].mc.n = ch->nl;
				for (uint32_t k = 0; k < ch->nl; k++)
					w[i].mc.wid[k] = wid_of(s, ch->l[k].dir);
			}
		}
	}
	/* A new id for this write: one an earlier process-lifetime write of the name had
	 * (removed since, having failed to load) stamped nodes that may lie elsewhere now. */
	for (uint32_t i = 0; i < s->nwids; i++)
		if (strcmp(s->wids[i].dir, name) == 0)
			s->wids[i] = s->wids[--s->nwids];
	wid = wid_of(s, name);
	pthread_mutex_unlock(&s->mu);
	if (!wid) {
		rc = err_set(IODB_ENOMEM, "out of memory writing a snapshot");
		goto err;
	}
	ERR(env_mkdir(db->env, root));
	(void)env_list_dir(db->env, root, rm_stale_tmp, db);
	err_clear();
	ERR(plan_encode(q, w, n, &plan));
	if (env_exists(db->env, final)) {
		/* A snapshot of this version that failed to load and that nothing builds on. */
		ERR(remove_snap_dir(db, final));
	}
	if (env_exists(db->env, tmp) && !plan_matches(db, tmp, &plan))
		ERR(env_remove_dir(db->env, tmp));
	if (!env_exists(db->env, tmp)) {
		ERR(env_mkdir(db->env, tmp));
		ERR(write_file(db->env, tmp, "plan", &plan));
	}
	for (uint32_t i = 0; i < n; i++) {
		char file[24];

		snprintf(file, sizeof(file), "s%u", i);
		if (!(w[i].prefix = path_join(tmp, file))) {
			rc = err_set(IODB_ENOMEM, "out of memory");
			goto err;
		}
	}
	job = (struct wjob){db, w, n, 0, wid};
	for (uint32_t i = 1; i < db->o.snapshot_writer_limit && i < n && nth < 16; i++)
		if (pthread_create(&th[nth], NULL, write_stores, &job) == 0)
			nth++;
	write_stores(&job);
	while (nth)
		pthread_join(th[--nth], NULL);
	for (uint32_t i = 0; i < n; i++)
		if (w[i].rc) {
			rc = err_set(w[i].rc, "%s", w[i].msg);
			goto err;
		}

	/* Metadata last: the snapshot exists once it does. */
	m.n = q->n;
	m.height = q->height;
	m.pos = q->pos;
	m.vidlen = q->vidlen;
	memcpy(m.vid, q->vid, q->vidlen);
	m.nstores = n;
	if (n && !(m.st = mem_calloc(n, sizeof(*m.st)))) {
		rc = err_set(IODB_ENOMEM, "out of memory");
		goto err;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct smeta_store *st = &m.st[i];
		struct slayer *top;

		st->nlen = w[i].name->len;
		memcpy(st->name, w[i].name->name, st->nlen);
		memcpy(st->hash, w[i].root->hash, 32);
		st->root_pref = w[i].root_pref;
		st->nl = w[i].chain ? w[i].chain->nl : 0;
		if (w[i].chain)
			memcpy(st->l, w[i].chain->l, st->nl * sizeof(st->l[0]));
		top = &st->l[st->nl++];
		snprintf(top->dir, NAME_MAX_LEN, "%s", name);
		top->idx = i;
		top->m = w[i].m;
		bytes += layer_bytes(&w[i].m);
		reused += w[i].reused;
	}
	ERR(meta_encode(&m, &meta));
	ERR(write_file(db->env, tmp, "metadata", &meta));
	ERR(env_sync_dir(db->env, tmp));
	ERR(env_rename(db->env, tmp, final));
	ERR(env_sync_dir(db->env, root));

	/* Published: found by walks, the chains for the next incremental. */
	{
		struct snapinfo info;

		ERR(info_from_meta(name, &m, &info));
		pthread_mutex_lock(&s->mu);
		if ((rc = insert_info(s, &info)) != 0)
			info_free(&info);
		chains_from_meta(s, &m);
		s->ops_done -= q->ops_at < s->ops_done ? q->ops_at : s->ops_done;
		s->st_count++;
		for (uint32_t i = 0; i < n; i++) {
			if (w[i].chain)
				s->st_incr_layers++;
			else
				s->st_full_layers++;
		}
		s->st_bytes += bytes;
		s->st_reused += reused;
		s->st_usec += now_usec() - t0;
		s->st_last_height = q->height;
		pthread_mutex_unlock(&s->mu);
	}
err:
	pthread_mutex_lock(&s->mu);
	s->writing[0] = '\0';
	if (rc)
		s->st_failed++;
	pthread_mutex_unlock(&s->mu);
	for (uint32_t i = 0; w && i < n; i++)
		mem_free(w[i].prefix);
	mem_free(w);
	mem_free(chains);
	meta_free(&m);
	buf_free(&plan);
	buf_free(&meta);
	mem_free(root);
	mem_free(tmp);
	mem_free(final);
	return rc;
}

static void req_free(struct snapreq *q)
{
	if (!q)
		return;
	mroots_unref(q->mr);
	stores_unref(q->names);
	mem_free(q);
}

static void *snap_thread(void *arg)
{
	iodb *db = arg;
	struct snaps *s = db->snaps;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct snapreq *q;
		int rc;

		while (!s->req && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop)
			break;
		q = s->req;
		s->req = NULL;
		s->busy = 1;
		pthread_mutex_unlock(&s->mu);
		rc = snap_write(db, q);
		if (rc == 0)
			retain(db);
		pthread_mutex_lock(&s->mu);
		s->done_seq = q->seq;
		s->done_rc = rc;
		s->busy = 0;
		snprintf(s->done_msg, sizeof(s->done_msg), "%s", rc ? iodb_errmsg() : "");
		err_clear();
		pthread_cond_broadcast(&s->done_cv);
		pthread_mutex_unlock(&s->mu);
		req_free(q);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Queue a snapshot of version n (replacing one still waiting); *seq to wait for. */
static int request(iodb *db, uint32_t n, int full, uint64_t *seq)
{
	struct snaps *s = db->snaps;
	struct snapreq *q = mem_calloc(1, sizeof(*q)), *old;
	struct version *v;
	struct view *view;
	int rc = 0;

	if (!q)
		return err_set(IODB_ENOMEM, "out of memory");
	if (db->o.read_only) { /* a read-only handle writes no snapshot, ever */
		mem_free(q);
		return err_set(IODB_EINVAL, "the store was opened read-only");
	}
	RET(db_merkle_roots(db, n, &q->mr));
	pthread_rwlock_rdlock(&db->vg_lock);
	if ((v = vg_get(&db->vg, n)) != NULL) {
		q->n = n;
		q->height = v->height;
		q->pos = v->pos;
		q->vidlen = v->vidlen;
		memcpy(q->vid, v->vid, v->vidlen);
	}
	pthread_rwlock_unlock(&db->vg_lock);
	if (!v) {
		req_free(q);
		return err_set(IODB_NOTFOUND, "version is no longer retained");
	}
	view = db_view_acquire(db);
	q->names = view->stores;
	stores_ref(q->names);
	view_unref(view);
	q->full = full;
	pthread_mutex_lock(&s->mu);
	if (!s->up) {
		if (pthread_create(&s->th, NULL, snap_thread, db) != 0)
			rc = err_set(IODB_ENOMEM, "cannot start the snapshot thread");
		else
			s->up = 1;
	}
	old = rc ? NULL : s->req;
	if (!rc) {
		s->ops_since = 0; /* what an open would replay starts again from here */
		q->ops_at = s->ops_done;
		q->seq = ++s->req_seq;
		*seq = q->seq;
		s->req = q;
		q = NULL;
		pthread_cond_signal(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	req_free(old);
	req_free(q);
	return rc;
}

/* The leader, after a group made version n the head. */
void db_snap_after_commit(iodb *db, uint32_t n, uint64_t height, uint64_t nops)
{
	struct snaps *s = db->snaps;
	uint64_t seq;
	int due;

	if (!db->o.merkle || !s)
		return;
	pthread_mutex_lock(&s->mu);
	s->ops_since += nops;
	s->ops_done += nops;
	due = db->o.snapshot_replay_ops && s->ops_since >= db->o.snapshot_replay_ops;
	pthread_mutex_unlock(&s->mu);
	due = due || (db->o.snapshot_interval && height % db->o.snapshot_interval == 0) ||
	      (db->o.incremental_snapshot_interval &&
	       height % db->o.incremental_snapshot_interval == 0);
	if (due && request(db, n, 0, &seq) != 0)
		err_clear(); /* a snapshot is an optimisation: the journal still holds everything */
}

/* The open replayed at least snapshot_replay_ops operations to build the head's roots: a
 * snapshot of the head in the background, so that the next open (or one after a crash)
 * does not replay them again. */
void db_snap_after_open(iodb *db)
{
	struct snaps *s = db->snaps;
	uint64_t seq, replayed;

	if (!db->o.merkle || !s || !db->o.snapshot_replay_ops || !db->vg.head ||
	    db->o.read_only) /* the roots stay in memory: nothing is written */
		return;
	pthread_mutex_lock(&s->mu);
	replayed = s->st_replayed;
	s->ops_done = replayed; /* what the next open would replay again */
	pthread_mutex_unlock(&s->mu);
	if (replayed >= db->o.snapshot_replay_ops && request(db, db->vg.head, 0, &seq) != 0)
		err_clear(); /* an optimisation: the journal still holds everything */
}

int iodb_merkle_snapshot(iodb *db, int full)
{
	struct err_saved caller; /* failures handled inside leave the caller's message */
	struct snaps *s;
	uint64_t seq;
	uint32_t head;
	int rc;

	RET(db_writable(db));
	if (!db->o.merkle)
		return err_set(IODB_EINVAL, "the Merkle layer is off (options.merkle = 0)");
	s = db->snaps;
	pthread_rwlock_rdlock(&db->vg_lock);
	head = db->vg.head;
	pthread_rwlock_unlock(&db->vg_lock);
	if (!head)
		return err_set(IODB_NOTFOUND, "the store has no version yet");
	err_keep(&caller);
	RET(request(db, head, full, &seq));
	pthread_mutex_lock(&s->mu);
	while (s->done_seq < seq)
		pthread_cond_wait(&s->done_cv, &s->mu);
	rc = s->done_seq == seq ? s->done_rc : 0;
	if (rc)
		rc = err_set(rc, "%s", s->done_msg);
	pthread_mutex_unlock(&s->mu);
	return err_kept(&caller, rc);
}

void db_snap_close(iodb *db)
{
	struct snaps *s = db->snaps;

	if (!s)
		return;
	if (s->up) {
		pthread_mutex_lock(&s->mu);
		/* With more than snapshot_replay_ops operations since the last complete snapshot,
		 * the one under way and the one waiting are finished, not cancelled: the next
		 * open would replay them all. */
		while (db->o.snapshot_replay_ops && (s->req || s->busy) &&
		       s->ops_done >= db->o.snapshot_replay_ops)
			pthread_cond_wait(&s->done_cv, &s->mu);
		s->stop = 1;
		atomic_store(&s->cancel, 1);
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
	}
	req_free(s->req);
	for (uint32_t i = 0; i < 4; i++)
		mroots_unref(s->cache[i].r);
	for (uint32_t i = 0; i < s->n; i++)
		info_free(&s->v[i]);
	mem_free(s->v);
	mem_free(s->chains);
	mem_free(s->wids);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->done_cv);
	mem_free(s);
	db->snaps = NULL;
}

/* A rebuild replayed ops operations (merkle.c): what snapshots did not save. */
void db_snap_replayed(iodb *db, uint64_t ops)
{
	struct snaps *s = db->snaps;

	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->st_replayed += ops;
	pthread_mutex_unlock(&s->mu);
}

int db_snap_stats(iodb *db, struct buf *out)
{
	struct snaps *s = db->snaps;
	char tmp[1024];
	int len;

	if (!s)
		return buf_append(out, "null", 4);
	pthread_mutex_lock(&s->mu);
	len = snprintf(tmp, sizeof(tmp),
		       "{\"count\": %u, \"written\": %llu, \"full_layers\": %llu, "
		       "\"incremental_layers\": %llu, \"bytes_written\": %llu, "
		       "\"bytes_resumed\": %llu, \"write_usec\": %llu, \"failed\": %llu, "
		       "\"loaded\": %llu, \"load_usec\": %llu, \"skipped\": %llu, \"removed\": %llu, "
		       "\"last_height\": %llu, \"anchor\": %u, \"already\": %llu, "
		       "\"replayed_ops\": %llu}",
		       s->n, (unsigned long long)s->st_count, (unsigned long long)s->st_full_layers,
		       (unsigned long long)s->st_incr_layers, (unsigned long long)s->st_bytes,
		       (unsigned long long)s->st_reused, (unsigned long long)s->st_usec,
		       (unsigned long long)s->st_failed, (unsigned long long)s->st_loaded,
		       (unsigned long long)s->st_load_usec, (unsigned long long)s->st_skipped,
		       (unsigned long long)s->st_removed, (unsigned long long)s->st_last_height,
		       s->anchor, (unsigned long long)s->st_already,
		       (unsigned long long)s->st_replayed);
	pthread_mutex_unlock(&s->mu);
	return buf_append(out, tmp, (size_t)len);
}
