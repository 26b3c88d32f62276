/*
 * manifest.c — the durable record of the shard map: DIR/MANIFEST.
 *
 * An append-only log of edits, each one checksummed record applied whole or not at all:
 * runs added to a shard and removed, shard boundaries, where the distributed part of the
 * journal ends, which journal segments were released, and a state blob that the layer above
 * (lib/db: the version graph) gives with each edit. Open replays the edits into the shard
 * map; it opens no run file (runs are opened on first use), so its cost depends on the
 * number of edits since the last rewrite, not on the amount of data.
 *
 * Rewrite: when the log has grown, the whole state is written as one record to
 * MANIFEST.tmp, fsynced, renamed over MANIFEST and the directory fsynced; a crash leaves the
 * old file or the new one. Byte layout: docs/format.md, "Manifest".
 *
 * Files in DIR/shards that the manifest does not name were written by a distribute or a
 * compaction whose edit never became durable: open removes them.
 *
 * A read-only open (a read-only store handle, possibly on read-only media) replays the same
 * edits and writes nothing: no file is made, cut or removed, and every edit is refused.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "shards/shards.h"

#define MAN_FILE "MANIFEST"
#define MAN_TMP "MANIFEST.tmp"
#define MAN_MAGIC "iodbmnfs"
#define MAN_FORMAT 1
#define MAN_HEADER 16
#define MAN_FRAME 8
#define RUN_DIR "shards"
#define RUN_NAME_LEN 24 /* 20 digits + ".run" */

enum {
	M_RESET = 1,	 /* forget everything before: a rewritten manifest starts with it */
	M_NEXT_FILE = 2, /* u64 */
	M_SHARD = 3,	 /* u32 id, uvarint lolen, lo */
	M_RUN_ADD = 4,	 /* u64 file_no, u32 shard, u64 size, entries, key_bytes, val_bytes,
			  * u32 min_n, max_n */
	M_RUN_DEL = 5,	 /* u64 file_no */
	M_DIST = 6,	 /* u32 dist_n, u64 seg, u64 off */
	M_RELEASED = 7,	 /* u64 segment */
	M_BLOB = 8,	 /* uvarint len, bytes */
	M_SHARD_DEL = 9, /* u32 id: the shard is gone (its runs were removed before) */
	M_RUN_GC = 10	 /* u64 file_no, u64 gc_dead, u32 gc_base: of a run added before */
};

struct manifest {
	struct env *env;
	char *dir, *path, *tmp, *run_dir;
	struct env_file *f; /* open to append */
	struct block_cache *bc;
	_Atomic uint64_t next_file; /* taken by distribute and compaction threads */
	uint64_t size_at_rewrite;
	_Atomic uint64_t size;	  /* bytes in the file (read by stats from any thread) */
	struct manifest_state st; /* as the file says now */
	int failed; /* an append, fsync or rewrite failed (or the layer above lost track of
		     * an edit): no more edits (IODB_EIO); under the caller's edit lock */
	int read_only; /* opened by manifest_open_read_only: no edits (IODB_EINVAL) */
};

/* ---- Parsed state --------------------------------------------------------------------- */

struct pshard {
	uint32_t id;
	uint8_t *lo;
	uint32_t lolen;
};
struct prun {
	struct run_meta m;
	uint32_t shard;
};
struct pstate {
	struct manifest_state st;
	struct pshard *sh;
	uint32_t nsh, capsh;
	struct prun *runs;
	uint32_t nruns, capruns;
};

static void pstate_reset(struct pstate *p)
{
	for (uint32_t i = 0; i < p->nsh; i++)
		mem_free(p->sh[i].lo);
	p->nsh = p->nruns = 0;
	memset(&p->st, 0, sizeof(p->st));
}

static void pstate_free(struct pstate *p)
{
	pstate_reset(p);
	mem_free(p->sh);
	mem_free(p->runs);
}

static int grow(void **v, uint32_t *cap, uint32_t n, size_t size)
{
	void *t;
	uint32_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 8;
	if (!(t = mem_realloc(*v, (size_t)c * size)))
		return err_set(IODB_ENOMEM, "out of memory reading the manifest");
	*v = t;
	*cap = c;
	return 0;
}

/* Apply one record's fields. Errors are ECORRUPT at (path, off). */
static int record_apply(struct pstate *p, const uint8_t *b, size_t len, const char *path,
			uint64_t off, manifest_blob_fn fn, void *ctx)
{
	struct rd r;
	uint8_t tag;

	rd_init(&r, b, len);
	while (rd_left(&r)) {
		if (rd_u8(&r, &tag))
			goto bad;
		switch (tag) {
		case M_RESET:
			pstate_reset(p);
			break;
		case M_NEXT_FILE:
			if (rd_u64(&r, &p->st.next_file))
				goto bad;
			break;
		case M_SHARD: {
			uint32_t id, i;
			uint64_t lolen;
			const uint8_t *lo;

			if (rd_u32(&r, &id) || rd_uvarint(&r, &lolen) || lolen > IKEY_MAX ||
			    rd_bytes(&r, (size_t)lolen, &lo))
				goto bad;
			for (i = 0; i < p->nsh && p->sh[i].id != id; i++)
				;
			if (i == p->nsh) {
				RET(grow((void **)&p->sh, &p->capsh, p->nsh, sizeof(*p->sh)));
				p->sh[p->nsh++] = (struct pshard){id, NULL, 0};
			}
			mem_free(p->sh[i].lo);
			p->sh[i].lo = NULL;
			p->sh[i].lolen = (uint32_t)lolen;
			if (lolen && !(p->sh[i].lo = mem_dup(lo, (size_t)lolen)))
				return err_set(IODB_ENOMEM, "out of memory reading the manifest");
			break;
		}
		case M_RUN_ADD: {
			struct prun x = {0};

			if (rd_u64(&r, &x.m.file_no) || rd_u32(&r, &x.shard) ||
			    rd_u64(&r, &x.m.size) || rd_u64(&r, &x.m.entries) ||
			    rd_u64(&r, &x.m.key_bytes) || rd_u64(&r, &x.m.val_bytes) ||
			    rd_u32(&r, &x.m.min_n) || rd_u32(&r, &x.m.max_n))
				goto bad;
			for (uint32_t i = 0; i < p->nruns; i++)
				if (p->runs[i].m.file_no == x.m.file_no)
					return ERR_CORRUPT(path, off, "manifest adds run %" PRIu64
								      " twice", x.m.file_no);
			RET(grow((void **)&p->runs, &p->capruns, p->nruns, sizeof(*p->runs)));
			p->runs[p->nruns++] = x;
			break;
		}
		case M_RUN_DEL: {
			uint64_t no;
			uint32_t i;

			if (rd_u64(&r, &no))
				goto bad;
			for (i = 0; i < p->nruns && p->runs[i].m.file_no != no; i++)
				;
			if (i == p->nruns)
				return ERR_CORRUPT(path, off, "manifest removes run %" PRIu64
							      ", which it does not hold", no);
			p->runs[i] = p->runs[--p->nruns];
			break;
		}
		case M_SHARD_DEL: {
			uint32_t id, i;

			if (rd_u32(&r, &id))
				goto bad;
			for (i = 0; i < p->nsh && p->sh[i].id != id; i++)
				;
			if (i == p->nsh)
				return ERR_CORRUPT(path, off, "manifest removes shard %u, which it "
							      "does not hold", id);
			for (uint32_t k = 0; k < p->nruns; k++)
				if (p->runs[k].shard == id)
					return ERR_CORRUPT(path, off, "manifest removes shard %u, "
								      "which still holds runs", id);
			mem_free(p->sh[i].lo);
			p->sh[i] = p->sh[--p->nsh];
			break;
		}
		case M_RUN_GC: {
			uint64_t no, gd;
			uint32_t gb, i;

			if (rd_u64(&r, &no) || rd_u64(&r, &gd) || rd_u32(&r, &gb))
				goto bad;
			for (i = 0; i < p->nruns && p->runs[i].m.file_no != no; i++)
				;
			if (i == p->nruns)
				return ERR_CORRUPT(path, off, "manifest describes run %" PRIu64
							      ", which it does not hold", no);
			p->runs[i].m.gc_dead = gd;
			p->runs[i].m.gc_base = gb;
			break;
		}
		case M_DIST:
			if (rd_u32(&r, &p->st.dist_n) || rd_u64(&r, &p->st.dist_pos.seg) ||
			    rd_u64(&r, &p->st.dist_pos.off))
				goto bad;
			break;
		case M_RELEASED:
			if (rd_u64(&r, &p->st.released_seg))
				goto bad;
			break;
		case M_BLOB: {
			uint64_t blen;
			const uint8_t *blob;

			if (rd_uvarint(&r, &blen) || rd_bytes(&r, (size_t)blen, &blob))
				goto bad;
			if (fn)
				RET(fn(ctx, blob, (size_t)blen, path, off));
			break;
		}
		default:
			return ERR_CORRUPT(path, off, "manifest record has an unknown field %u", tag);
		}
	}
	return 0;
bad:
	return ERR_CORRUPT(path, off, "manifest record field is cut short");
}

/* Payload length of a valid record at off, or -1. */
static int64_t frame_check(const uint8_t *p, uint64_t off, uint64_t size)
{
	uint32_t len;

	if (size - off < MAN_FRAME)
		return -1;
	len = get_u32(p + off);
	if (len > size - off - MAN_FRAME || get_u32(p + off + 4) !=
	    crc_mask(crc32c_extend(crc32c(p + off, 4), p + off + MAN_FRAME, len)))
		return -1;
	return len;
}

static int read_all(struct env *env, const char *path, uint8_t **pp, uint64_t *sizep)
{
	struct env_file *f = NULL;
	uint8_t *p = NULL;
	uint64_t size;
	size_t got;
	int rc;

	ERR(env_open_read(env, path, &f));
	size = env_file_size(f);
	if (size > SIZE_MAX || !(p = mem_alloc(size ? (size_t)size : 1))) {
		rc = err_set(IODB_ENOMEM, "out of memory reading %s", path);
		goto err;
	}
	ERR(env_file_read(f, 0, p, (size_t)size, &got));
	if (got != size) {
		rc = err_set(IODB_EIO, "%s: file shrank while being read", path);
		goto err;
	}
	*pp = p;
	*sizep = size;
	p = NULL;
err:
	mem_free(p);
	env_file_close(f);
	return rc;
}

/* Replay the file; *keep: length of its valid prefix. */
static int manifest_replay(struct manifest *m, struct pstate *ps, manifest_blob_fn fn, void *ctx,
			   uint64_t *keep)
{
	uint8_t *p = NULL;
	uint64_t size = 0, off;
	int rc;

	RET(read_all(m->env, m->path, &p, &size));
	if (size < MAN_HEADER || memcmp(p, MAN_MAGIC, 8) != 0 ||
	    get_u32(p + 12) != crc_mask(crc32c(p, 12))) {
		rc = ERR_CORRUPT(m->path, 0, "bad manifest header");
		goto err;
	}
	if (get_u32(p + 8) != MAN_FORMAT) {
		rc = ERR_CORRUPT(m->path, 8, "manifest format %u; this library reads format %u",
				 get_u32(p + 8), MAN_FORMAT);
		goto err;
	}
	for (off = MAN_HEADER; off < size;) {
		int64_t len = frame_check(p, off, size);

		if (len < 0) {
			/* A torn last edit was never durable, and nothing depends on it. */
			for (uint64_t x = off + 1; x + MAN_FRAME <= size; x++)
				if (frame_check(p, x, size) >= 0) {
					rc = ERR_CORRUPT(m->path, off,
							 "manifest record fails its checksum");
					goto err;
				}
			break;
		}
		ERR(record_apply(ps, p + off + MAN_FRAME, (size_t)len, m->path, off, fn, ctx));
		off += MAN_FRAME + (uint64_t)len;
	}
	*keep = off;
	rc = 0;
err:
	mem_free(p);
	return rc;
}

/* ---- Encoding ------------------------------------------------------------------------- */

static int put_run(struct buf *b, const struct run_meta *x, uint32_t shard)
{
	RET(buf_put_u8(b, M_RUN_ADD));
	RET(buf_put_u64(b, x->file_no));
	RET(buf_put_u32(b, shard));
	RET(buf_put_u64(b, x->size));
	RET(buf_put_u64(b, x->entries));
	RET(buf_put_u64(b, x->key_bytes));
	RET(buf_put_u64(b, x->val_bytes));
	RET(buf_put_u32(b, x->min_n));
	RET(buf_put_u32(b, x->max_n));
	if (!x->gc_dead && !x->gc_base)
		return 0;
	RET(buf_put_u8(b, M_RUN_GC));
	RET(buf_put_u64(b, x->file_no));
	RET(buf_put_u64(b, x->gc_dead));
	return buf_put_u32(b, x->gc_base);
}

static int put_shard(struct buf *b, uint32_t id, const uint8_t *lo, uint32_t lolen)
{
	RET(buf_put_u8(b, M_SHARD));
	RET(buf_put_u32(b, id));
	RET(buf_put_uvarint(b, lolen));
	return buf_append(b, lo, lolen);
}

static int put_dist(struct buf *b, uint32_t n, const struct jpos *pos)
{
	RET(buf_put_u8(b, M_DIST));
	RET(buf_put_u32(b, n));
	RET(buf_put_u64(b, pos->seg));
	return buf_put_u64(b, pos->off);
}

static int put_u64_field(struct buf *b, uint8_t tag, uint64_t v)
{
	RET(buf_put_u8(b, tag));
	return buf_put_u64(b, v);
}

/* Frame the fields in b[MAN_FRAME..] (the caller reserved the frame at the start). */
static void frame_seal(struct buf *b)
{
	uint32_t len = (uint32_t)(b->len - MAN_FRAME);

	put_u32(b->p, len);
	put_u32(b->p + 4, crc_mask(crc32c_extend(crc32c(b->p, 4), b->p + MAN_FRAME, len)));
}

static int buf_frame_begin(struct buf *b)
{
	static const uint8_t zero[MAN_FRAME];

	b->len = 0;
	return buf_append(b, zero, MAN_FRAME);
}

static void header_encode(uint8_t h[MAN_HEADER])
{
	memcpy(h, MAN_MAGIC, 8);
	put_u32(h + 8, MAN_FORMAT);
	put_u32(h + 12, crc_mask(crc32c(h, 12)));
}

/* Write a whole new manifest holding the record in b: tmp, fsync, rename, dir fsync. */
static int manifest_install(struct manifest *m, const struct buf *b)
{
	struct env_file *f = NULL;
	uint8_t h[MAN_HEADER];
	int rc;

	header_encode(h);
	(void)env_unlink(m->env, m->tmp);
	ERR(env_open_append(m->env, m->tmp, &f));
	ERR(env_file_append(f, h, sizeof(h)));
	ERR(env_file_append(f, b->p, b->len));
	ERR(env_file_sync(f));
	env_file_close(f);
	f = NULL;
	ERR(env_rename(m->env, m->tmp, m->path));
	ERR(env_sync_dir(m->env, m->dir));
	env_file_close(m->f);
	m->f = NULL;
	ERR(env_open_append(m->env, m->path, &m->f));
	m->size = m->size_at_rewrite = env_file_size(m->f);
	return 0;
err:
	env_file_close(f);
	(void)env_unlink(m->env, m->tmp);
	return rc;
}

/* ---- Orphans -------------------------------------------------------------------------- */

struct orphan_ctx {
	struct manifest *m;
	const struct pstate *ps;
	int rc;
};

static int orphan_check(void *arg, const char *name)
{
	struct orphan_ctx *o = arg;
	uint64_t no = 0;
	char *path;

	if (strlen(name) != RUN_NAME_LEN || strcmp(name + 20, ".run") != 0) {
		if (strcmp(name + (strlen(name) > 4 ? strlen(name) - 4 : 0), ".tmp") != 0)
			return 0;
	} else {
		for (int i = 0; i < 20; i++) {
			if (name[i] < '0' || name[i] > '9')
				return 0;
			no = no * 10 + (uint64_t)(name[i] - '0');
		}
		for (uint32_t i = 0; i < o->ps->nruns; i++)
			if (o->ps->runs[i].m.file_no == no)
				return 0;
	}
	if (!(path = path_join(o->m->run_dir, name)))
		return err_set(IODB_ENOMEM, "out of memory");
	o->rc = env_unlink(o->m->env, path);
	mem_free(path);
	return o->rc;
}

/* ---- Open ----------------------------------------------------------------------------- */

static int lo_cmp(const void *a, const void *b)
{
	const struct pshard *x = a, *y = b;

	return key_cmp(x->lo, x->lolen, y->lo, y->lolen);
}

static int build_map(struct manifest *m, struct pstate *ps, struct shard_map **out)
{
	struct shard_map *base = NULL, *map = NULL;
	uint32_t *ids = NULL, *lolen = NULL, *add_shard = NULL;
	uint8_t **lo = NULL;
	struct run **runs = NULL;
	uint32_t nrun = 0;
	int rc = 0;

	if (ps->nsh == 0)
		return ERR_CORRUPT(m->path, 0, "manifest defines no shard");
	qsort(ps->sh, ps->nsh, sizeof(*ps->sh), lo_cmp);
	if (ps->sh[0].lolen != 0)
		return ERR_CORRUPT(m->path, 0, "manifest's first shard does not start at the "
					       "beginning of the key space");
	for (uint32_t i = 1; i < ps->nsh; i++)
		if (lo_cmp(&ps->sh[i - 1], &ps->sh[i]) == 0)
			return ERR_CORRUPT(m->path, 0, "manifest has two shards starting at one key");
	if (!(ids = mem_alloc(ps->nsh * sizeof(*ids))) ||
	    !(lolen = mem_alloc(ps->nsh * sizeof(*lolen))) ||
	    !(lo = mem_alloc(ps->nsh * sizeof(*lo))) ||
	    (ps->nruns && (!(runs = mem_calloc(ps->nruns, sizeof(*runs))) ||
			   !(add_shard = mem_alloc(ps->nruns * sizeof(*add_shard)))))) {
		rc = err_set(IODB_ENOMEM, "out of memory opening the manifest");
		goto err;
	}
	for (uint32_t i = 0; i < ps->nsh; i++) {
		ids[i] = ps->sh[i].id;
		lo[i] = ps->sh[i].lo;
		lolen[i] = ps->sh[i].lolen;
	}
	ERR(smap_new(ps->nsh, ids, lo, lolen, &base));
	for (nrun = 0; nrun < ps->nruns; nrun++) {
		const struct prun *x = &ps->runs[nrun];
		char *path;

		if (smap_index(base, x->shard) < 0) {
			rc = ERR_CORRUPT(m->path, 0, "manifest puts run %" PRIu64
						     " in shard %u, which it does not define",
					 x->m.file_no, x->shard);
			goto err;
		}
		if (x->m.file_no >= ps->st.next_file || x->m.min_n > x->m.max_n) {
			rc = ERR_CORRUPT(m->path, 0, "manifest's run %" PRIu64 " has impossible "
						     "metadata", x->m.file_no);
			goto err;
		}
		if (!(path = manifest_run_path(m, x->m.file_no))) {
			rc = err_set(IODB_ENOMEM, "out of memory");
			goto err;
		}
		rc = run_new(m->env, path, &x->m, m->bc, &runs[nrun]);
		mem_free(path);
		if (rc)
			goto err;
		add_shard[nrun] = x->shard;
	}
	ERR(smap_edit(base, runs, add_shard, nrun, NULL, 0, &map));
	*out = map;
err:
	for (uint32_t i = 0; i < nrun; i++)
		run_unref(runs[i]);
	smap_unref(base);
	mem_free(ids);
	mem_free(lolen);
	mem_free(lo);
	mem_free(runs);
	mem_free(add_shard);
	return rc;
}

/* The record a new manifest holds: one shard, no runs, nothing distributed. */
static int first_record(struct buf *b)
{
	static const uint8_t empty[1];
	struct jpos zero = {0, 0};

	buf_init(b);
	RET(buf_frame_begin(b));
	RET(buf_put_u8(b, M_RESET));
	RET(put_u64_field(b, M_NEXT_FILE, 1));
	RET(put_shard(b, 1, empty, 0));
	RET(put_dist(b, 0, &zero));
	RET(put_u64_field(b, M_RELEASED, 0));
	frame_seal(b);
	return 0;
}

static int manifest_create(struct manifest *m)
{
	struct buf b;
	int rc;

	ERR(first_record(&b));
	ERR(manifest_install(m, &b));
err:
	buf_free(&b);
	return rc;
}

void manifest_close(struct manifest *m)
{
	if (!m)
		return;
	env_file_close(m->f);
	mem_free(m->dir);
	mem_free(m->path);
	mem_free(m->tmp);
	mem_free(m->run_dir);
	mem_free(m);
}

/* A read-only open of a store without MANIFEST: the state a new one would give. */
static int replay_first(struct manifest *m, struct pstate *ps, manifest_blob_fn fn, void *ctx)
{
	struct buf b;
	int rc;

	ERR(first_record(&b));
	ERR(record_apply(ps, b.p + MAN_FRAME, b.len - MAN_FRAME, m->path, MAN_HEADER, fn, ctx));
err:
	buf_free(&b);
	return rc;
}

static int open_read_only(struct manifest *m, struct pstate *ps, manifest_blob_fn fn,
			  void *ctx, struct shard_map **map)
{
	uint64_t keep = MAN_HEADER;

	m->read_only = 1;
	if (env_exists(m->env, m->path))
		RET(manifest_replay(m, ps, fn, ctx, &keep));
	else
		RET(replay_first(m, ps, fn, ctx));
	m->size = m->size_at_rewrite = keep;
	m->next_file = ps->st.next_file;
	m->st = ps->st;
	return build_map(m, ps, map);
}

static int open_mode(struct env *env, const char *dir, struct block_cache *bc,
		     manifest_blob_fn fn, void *ctx, struct manifest **out,
		     struct manifest_state *st, struct shard_map **map, int read_only)
{
	struct manifest *m = mem_calloc(1, sizeof(*m));
	struct pstate ps = {0};
	struct orphan_ctx oc;
	uint64_t keep = 0;
	int rc;

	if (!m || !(m->dir = mem_dup(dir, strlen(dir) + 1)) ||
	    !(m->path = path_join(dir, MAN_FILE)) || !(m->tmp = path_join(dir, MAN_TMP)) ||
	    !(m->run_dir = path_join(dir, RUN_DIR))) {
		rc = err_set(IODB_ENOMEM, "out of memory opening the manifest");
		goto err;
	}
	m->env = env;
	m->bc = bc;
	if (read_only) {
		ERR(open_read_only(m, &ps, fn, ctx, map));
		goto done;
	}
	ERR(env_mkdir(env, m->run_dir));
	if (!env_exists(env, m->path))
		ERR(manifest_create(m));
	(void)env_unlink(env, m->tmp);
	ERR(manifest_replay(m, &ps, fn, ctx, &keep));
	if (!m->f)
		ERR(env_open_append(env, m->path, &m->f));
	if (env_file_size(m->f) != keep) {
		ERR(env_file_truncate(m->f, keep));
		ERR(env_file_sync(m->f));
	}
	if (!m->size_at_rewrite)
		m->size_at_rewrite = keep;
	m->size = keep;
	m->next_file = ps.st.next_file;
	m->st = ps.st;
	ERR(build_map(m, &ps, map));
	oc = (struct orphan_ctx){m, &ps, 0};
	if ((rc = env_list_dir(env, m->run_dir, orphan_check, &oc)) != 0) {
		smap_unref(*map);
		*map = NULL;
		goto err;
	}
done:
	*st = ps.st;
	pstate_free(&ps);
	*out = m;
	return 0;
err:
	pstate_free(&ps);
	manifest_close(m);
	return rc;
}

int manifest_open(struct env *env, const char *dir, struct block_cache *bc,
		  manifest_blob_fn fn, void *ctx, struct manifest **out,
		  struct manifest_state *st, struct shard_map **map)
{
	return open_mode(env, dir, bc, fn, ctx, out, st, map, 0);
}

int manifest_open_read_only(struct env *env, const char *dir, struct block_cache *bc,
			    manifest_blob_fn fn, void *ctx, struct manifest **out,
			    struct manifest_state *st, struct shard_map **map)
{
	return open_mode(env, dir, bc, fn, ctx, out, st, map, 1);
}

uint64_t manifest_file_no(struct manifest *m)
{
	return atomic_fetch_add(&m->next_file, 1);
}

char *manifest_run_path(struct manifest *m, uint64_t file_no)
{
	char name[RUN_NAME_LEN + 1];

	snprintf(name, sizeof(name), "%020" PRIu64 ".run", file_no);
	return path_join(m->run_dir, name);
}

const char *manifest_run_dir(const struct manifest *m)
{
	return m->run_dir;
}

void manifest_set_failed(struct manifest *m)
{
	m->failed = 1;
}

int manifest_failed(const struct manifest *m)
{
	return m->failed;
}

uint64_t manifest_size(const struct manifest *m)
{
	return m->size;
}

uint64_t manifest_size_at_rewrite(const struct manifest *m)
{
	return m->size_at_rewrite;
}

int manifest_apply(struct manifest *m, const struct shard_map *after,
		   const struct manifest_edit *e)
{
	struct manifest_state st = m->st;
	struct buf b;
	int rc;

	if (m->read_only)
		return err_set(IODB_EINVAL, "%s: opened read-only", m->path);
	if (m->failed)
		return err_set(IODB_EIO, "%s: an earlier manifest write or fsync failed; reopen the "
					 "store", m->path);
	if (e->set_dist) {
		st.dist_n = e->dist_n;
		st.dist_pos = e->dist_pos;
	}
	if (e->released_seg > st.released_seg)
		st.released_seg = e->released_seg;
	st.next_file = m->next_file;
	buf_init(&b);
	ERR(buf_frame_begin(&b));
	if (e->rewrite) {
		ERR(buf_put_u8(&b, M_RESET));
		for (uint32_t i = 0; i < after->n; i++) {
			const struct shard *s = &after->v[i];

			ERR(put_shard(&b, s->id, s->lo, s->lolen));
			for (uint32_t k = 0; k < s->nruns; k++)
				ERR(put_run(&b, run_meta(s->runs[k]), s->id));
		}
	} else {
		/* Removals first: a run may leave a shard that goes and join one that comes. */
		for (uint32_t i = 0; i < e->ndel; i++)
			ERR(put_u64_field(&b, M_RUN_DEL, e->del[i]));
		for (uint32_t i = 0; i < e->ndel_shards; i++) {
			ERR(buf_put_u8(&b, M_SHARD_DEL));
			ERR(buf_put_u32(&b, e->del_shards[i]));
		}
		for (uint32_t i = 0; i < e->nnew_shards; i++) {
			int64_t k = smap_index(after, e->new_shards[i]);
			const struct shard *s;

			if (k < 0) {
				rc = err_set(IODB_EINVAL, "manifest edit names shard %u, which the "
							  "map does not hold", e->new_shards[i]);
				goto err;
			}
			s = &after->v[k];
			ERR(put_shard(&b, s->id, s->lo, s->lolen));
			for (uint32_t r = 0; r < s->nruns; r++)
				ERR(put_run(&b, run_meta(s->runs[r]), s->id));
		}
		for (uint32_t i = 0; i < e->nadd; i++)
			ERR(put_run(&b, run_meta(e->add[i]), e->add_shard[i]));
	}
	ERR(put_u64_field(&b, M_NEXT_FILE, st.next_file));
	if (e->set_dist || e->rewrite)
		ERR(put_dist(&b, st.dist_n, &st.dist_pos));
	if (e->released_seg || e->rewrite)
		ERR(put_u64_field(&b, M_RELEASED, st.released_seg));
	if (e->blob) {
		ERR(buf_put_u8(&b, M_BLOB));
		ERR(buf_put_uvarint(&b, e->bloblen));
		ERR(buf_append(&b, e->blob, e->bloblen));
	}
	frame_seal(&b);
	if (e->rewrite) {
		/* Any failure here, even after the rename, leaves the append handle unusable
		 * (closed, or on the replaced file): no more edits. */
		if ((rc = manifest_install(m, &b)) != 0) {
			m->failed = 1;
			goto err;
		}
	} else {
		uint64_t before = env_file_size(m->f);

		if ((rc = env_file_append(m->f, b.p, b.len)) == 0)
			rc = env_file_sync(m->f);
		if (rc) {
			/* Take the edit back, best effort; the next open cuts a torn one. */
			(void)env_file_truncate(m->f, before);
			m->failed = 1;
			goto err;
		}
	}
	m->st = st;
	m->size = env_file_size(m->f);
err:
	buf_free(&b);
	return rc;
}
