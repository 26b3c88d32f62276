/*
 * snap.c — one store's tree as snapshot layer files, written from a finished tree and read
 * back in place through a mapping (docs/merkle.md, "Snapshots"; byte layout in
 * docs/format.md, "Merkle snapshots").
 *
 * A full layer is memiavl's layout (IAVL.md §4.2): leaves in key order, branches in post
 * order with the root last, a branch's children found by arithmetic from its index, size,
 * preTrees and keyLeaf. An incremental layer holds only the nodes that are not in the layers
 * below it; its branch records name their children and key leaf explicitly (a pref, possibly
 * into a lower layer).
 *
 * Which nodes are already in the chain of layers: a persisted node of layer L is if the
 * chain's layer L is the same write (the wid tables match); a heap node if its pid names a
 * write of the chain; a persisted node of some other loaded snapshot if the remap table of
 * its mtsnap (filled by an earlier write) does. Everything a node leads to was written
 * before it (post order), so a node in the chain has its whole subtree there too.
 *
 * Resuming: a file that exists is compared, chunk by chunk, with what would be written; the
 * bytes that match are kept and the file is cut at the first chunk that differs. The
 * checksums cover all bytes, kept or written.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "lib/merkle/pnode.h"

#define WCHUNK (1u << 20)

void mtsnap_ref(struct mtsnap *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void mtsnap_unref(struct mtsnap *s)
{
	if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (uint32_t i = 0; i < s->nlayers; i++) {
		const struct mlayer *l = &s->layer[i];

		env_unmap(l->nodes, l->nbranch * (l->full ? MREC_FULL : MREC_INCR));
		env_unmap(l->leaves, l->nleaf * MREC_LEAF);
		env_unmap(l->keys, l->keys_len);
	}
	mem_free(s->remap);
	mem_free(s);
}

/* ---- Writing ---------------------------------------------------------------------------- */

/* An output file: appended in chunks; bytes already in the file are compared instead. */
struct wfile {
	struct env_file *f, *rf; /* appended to; read for comparing (files opened to append
				  * are write-only) */
	uint64_t pos;	   /* bytes produced so far */
	uint64_t existing; /* bytes in the file that have not been compared yet end here */
	uint32_t crc;
	struct buf buf;
	uint8_t *cmp;
	uint64_t *reused;
};

static int wf_open(struct env *env, const char *prefix, const char *ext, uint64_t *reused,
		   struct wfile *w)
{
	char path[PATH_MAX];

	memset(w, 0, sizeof(*w));
	buf_init(&w->buf);
	w->reused = reused;
	if ((size_t)snprintf(path, sizeof(path), "%s.%s", prefix, ext) >= sizeof(path))
		return err_set(IODB_EINVAL, "%s: path too long", prefix);
	RET(env_open_append(env, path, &w->f));
	w->existing = env_file_size(w->f);
	if (w->existing)
		RET(env_open_read(env, path, &w->rf));
	return 0;
}

static void wf_close(struct wfile *w)
{
	env_file_close(w->f);
	env_file_close(w->rf);
	w->rf = NULL;
	buf_free(&w->buf);
	mem_free(w->cmp);
	w->f = NULL;
	w->cmp = NULL;
}

/* Write out the buffer: compare what overlaps the existing bytes, append the rest. */
static int wf_flush(struct wfile *w)
{
	const uint8_t *p = w->buf.p;
	size_t n = w->buf.len, got;

	if (w->pos < w->existing) {
		size_t k = w->existing - w->pos < n ? (size_t)(w->existing - w->pos) : n;

		if (!w->cmp && !(w->cmp = mem_alloc(WCHUNK)))
			return err_set(IODB_ENOMEM, "out of memory writing a snapshot");
		RET(env_file_read(w->rf, w->pos, w->cmp, k, &got));
		if (got == k && memcmp(w->cmp, p, k) == 0) {
			*w->reused += k;
			w->pos += k;
			p += k;
			n -= k;
		} else {
			/* The first difference: what follows in the file is not ours. */
			RET(env_file_truncate(w->f, w->pos));
			w->existing = w->pos;
		}
	}
	if (n) {
		if (w->existing > w->pos) { /* cannot happen: the chunk covered it */
			RET(env_file_truncate(w->f, w->pos));
			w->existing = w->pos;
		}
		RET(env_file_append(w->f, p, n));
		w->pos += n;
		w->existing = w->pos;
	}
	w->buf.len = 0;
	return 0;
}

static int wf_put(struct wfile *w, const void *p, size_t n)
{
	w->crc = crc32c_extend(w->crc, p, n);
	RET(buf_append(&w->buf, p, n));
	return w->buf.len >= WCHUNK ? wf_flush(w) : 0;
}

static int wf_finish(struct wfile *w)
{
	RET(wf_flush(w));
	if (env_file_size(w->f) > w->pos) /* a longer file from an earlier attempt */
		RET(env_file_truncate(w->f, w->pos));
	return env_file_sync(w->f);
}

struct wctx {
	struct mtsnap *s; /* the tree's persisted part (NULL: none) */
	const struct mchain *chain;
	uint32_t wid, layer;
	struct wfile nodes, leaves, keys;
	uint64_t nbranch, nleaf; /* records written */
	uint64_t remap_total;	 /* records of s (the remap's size) */
	uint64_t remap_base[MLAYERS_MAX];
};

static uint64_t pid_make(uint32_t wid, int leaf, uint64_t index)
{
	return (uint64_t)wid << 40 | (leaf ? MPREF_LEAF : 0) | index;
}

/* Layer of the chain written by wid, or -1. */
static int chain_layer(const struct mchain *c, uint32_t wid)
{
	for (uint32_t i = 0; c && i < c->n; i++)
		if (c->wid[i] == wid)
			return (int)i;
	return -1;
}

/* The remap slot of a persisted node of w->s. */
static uint64_t *remap_slot(struct wctx *w, uint64_t pref)
{
	const struct mlayer *l = &w->s->layer[MPREF_LAYER(pref)];
	uint64_t i = w->remap_base[MPREF_LAYER(pref)] +
		     ((pref & MPREF_LEAF) ? l->nbranch : 0) + MPREF_INDEX(pref);

	return &w->s->remap[i];
}

/* The chain pref of n if the chain already holds it, else MPREF_NONE. */
static uint64_t in_chain(struct wctx *w, const struct mnode *n)
{
	uint64_t pid;
	int layer;

	if (!w->chain)
		return MPREF_NONE;
	if (mnode_persisted(n)) {
		uint64_t r = mnode_pref(n);
		uint32_t L = MPREF_LAYER(r);

		if (L < w->chain->n && w->s->wid[L] && w->s->wid[L] == w->chain->wid[L])
			return r;
		if (!w->s->remap)
			return MPREF_NONE;
		pid = *remap_slot(w, r);
	} else {
		pid = n->pid;
	}
	if (!pid || (layer = chain_layer(w->chain, (uint32_t)(pid >> 40))) < 0)
		return MPREF_NONE;
	return MPREF((uint32_t)layer, pid & MPREF_LEAF, MPREF_INDEX(pid));
}

/* Note where n was written (pid without the layer: the wid stands for it). Persisted nodes
 * cannot carry a pid: a table with a slot per record of their mtsnap does. */
static int mark(struct wctx *w, const struct mnode *n, uint64_t pid)
{
	if (!mnode_persisted(n)) {
		((struct mnode *)(uintptr_t)n)->pid = pid;
		return 0;
	}
	if (!w->s->remap) {
		if (!(w->s->remap = mem_calloc(w->remap_total, sizeof(uint64_t))))
			return err_set(IODB_ENOMEM, "out of memory writing a snapshot");
		w->s->remap_n = w->remap_total;
	}
	*remap_slot(w, mnode_pref(n)) = pid;
	return 0;
}

static int check_version(uint64_t v)
{
	if (v > UINT32_MAX)
		return err_set(IODB_EINVAL, "a node's version %llu does not fit a snapshot record "
					    "(32 bits)",
			       (unsigned long long)v);
	return 0;
}

static int write_leaf(struct wctx *w, const struct mnode *n, uint64_t *pref)
{
	uint8_t rec[MREC_LEAF], len[4];
	const uint8_t *key;
	size_t klen;
	uint64_t v = nd_version(w->s, n);

	RET(check_version(v));
	key = nd_key(w->s, n, &klen);
	put_u32(rec, (uint32_t)v);
	put_u32(rec + 4, (uint32_t)klen);
	put_u64(rec + 8, w->keys.pos + w->keys.buf.len);
	memcpy(rec + 16, nd_hash(w->s, n), 32);
	put_u32(len, (uint32_t)klen);
	RET(wf_put(&w->keys, len, 4));
	RET(wf_put(&w->keys, key, klen));
	RET(wf_put(&w->leaves, rec, sizeof(rec)));
	RET(mark(w, n, pid_make(w->wid, 1, w->nleaf)));
	*pref = MPREF(w->layer, 1, w->nleaf);
	w->nleaf++;
	return 0;
}

/* Full layer: post order, with memiavl's preTrees and keyLeaf. */
static int write_full(struct wctx *w, const struct mnode *n, int depth)
{
	uint8_t rec[MREC_FULL];
	uint64_t pre, keyleaf, v, pref;

	if (depth > 160)
		return err_set(IODB_ECORRUPT, "Merkle tree deeper than 160");
	if (nd_leaf(n))
		return write_leaf(w, n, &pref);
	pre = w->nleaf - w->nbranch;
	RET(write_full(w, nd_left(w->s, n), depth + 1));
	keyleaf = w->nleaf;
	RET(write_full(w, nd_right(w->s, n), depth + 1));
	v = nd_version(w->s, n);
	RET(check_version(v));
	if (pre > 255 || keyleaf > UINT32_MAX)
		return err_set(IODB_EINVAL, "tree too large for a snapshot layer");
	memset(rec, 0, sizeof(rec));
	rec[0] = nd_height(w->s, n);
	rec[1] = (uint8_t)pre;
	put_u32(rec + 4, (uint32_t)v);
	put_u32(rec + 8, nd_size(w->s, n));
	put_u32(rec + 12, (uint32_t)keyleaf);
	memcpy(rec + 16, nd_hash(w->s, n), 32);
	RET(wf_put(&w->nodes, rec, sizeof(rec)));
	RET(mark(w, n, pid_make(w->wid, 0, w->nbranch)));
	w->nbranch++;
	return 0;
}

/* Incremental layer: only what the chain lacks; *pref gets n's place either way. */
static int write_incr(struct wctx *w, const struct mnode *n, int depth, uint64_t *pref)
{
	uint8_t rec[MREC_INCR];
	uint64_t l, r, k, v;
	const struct mnode *m;

	if ((*pref = in_chain(w, n)) != MPREF_NONE)
		return 0;
	if (depth > 160)
		return err_set(IODB_ECORRUPT, "Merkle tree deeper than 160");
	if (nd_leaf(n))
		return write_leaf(w, n, pref);
	RET(write_incr(w, nd_left(w->s, n), depth + 1, &l));
	RET(write_incr(w, nd_right(w->s, n), depth + 1, &r));
	/* The key is the right subtree's leftmost leaf, now in the chain or this layer. */
	for (m = nd_right(w->s, n); !nd_leaf(m); m = nd_left(w->s, m))
		;
	if ((k = in_chain(w, m)) == MPREF_NONE) {
		uint64_t pid = mnode_persisted(m) ? *remap_slot(w, mnode_pref(m)) : m->pid;

		k = MPREF(w->layer, 1, MPREF_INDEX(pid)); /* written just now, by this write */
	}
	v = nd_version(w->s, n);
	RET(check_version(v));
	memset(rec, 0, sizeof(rec));
	rec[0] = nd_height(w->s, n);
	put_u32(rec + 4, (uint32_t)v);
	put_u32(rec + 8, nd_size(w->s, n));
	put_u64(rec + 16, l);
	put_u64(rec + 24, r);
	put_u64(rec + 32, k);
	memcpy(rec + 40, nd_hash(w->s, n), 32);
	RET(wf_put(&w->nodes, rec, sizeof(rec)));
	RET(mark(w, n, pid_make(w->wid, 0, w->nbranch)));
	*pref = MPREF(w->layer, 0, w->nbranch);
	w->nbranch++;
	return 0;
}

int mlayer_write(struct env *env, const char *prefix, struct mtsnap *s, const struct mnode *root,
		 const struct mchain *chain, uint32_t wid, struct mlayer_meta *m,
		 uint64_t *root_pref, uint64_t *reused)
{
	struct wctx w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.s = s;
	w.chain = chain;
	w.wid = wid;
	w.layer = chain ? chain->n : 0;
	if (w.layer >= MLAYERS_MAX || wid >= (1u << 24) || !wid)
		return err_set(IODB_EINVAL, "snapshot layer %u or writer id %u out of range", w.layer,
			       wid);
	for (uint32_t i = 0; s && i < s->nlayers; i++) {
		w.remap_base[i] = w.remap_total;
		w.remap_total += s->layer[i].nbranch + s->layer[i].nleaf;
	}
	ERR(wf_open(env, prefix, "nodes", reused, &w.nodes));
	ERR(wf_open(env, prefix, "leaves", reused, &w.leaves));
	ERR(wf_open(env, prefix, "keys", reused, &w.keys));
	*root_pref = MPREF_NONE;
	if (root && !chain) {
		ERR(write_full(&w, root, 0));
		*root_pref = nd_leaf(root) ? MPREF(0, 1, 0) : MPREF(0, 0, w.nbranch - 1);
	} else if (root) {
		ERR(write_incr(&w, root, 0, root_pref));
	}
	ERR(wf_finish(&w.nodes));
	ERR(wf_finish(&w.leaves));
	ERR(wf_finish(&w.keys));
	m->nbranch = w.nbranch;
	m->nleaf = w.nleaf;
	m->keys_len = w.keys.pos;
	m->crc_nodes = w.nodes.crc;
	m->crc_leaves = w.leaves.crc;
	m->crc_keys = w.keys.crc;
	m->full = !chain;
err:
	wf_close(&w.nodes);
	wf_close(&w.leaves);
	wf_close(&w.keys);
	return rc;
}

/* ---- Loading ---------------------------------------------------------------------------- */

/* Map prefix.ext, which must be want bytes long; its checksum is checked later (check_job). */
static int map_file(struct env *env, const char *prefix, const char *ext, uint64_t want,
		    const uint8_t **p)
{
	char path[PATH_MAX];
	struct env_file *f = NULL;
	const void *m = NULL;
	int rc;

	*p = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s.%s", prefix, ext) >= sizeof(path))
		return err_set(IODB_EINVAL, "%s: path too long", prefix);
	if ((rc = env_open_read(env, path, &f)) != 0) {
		if (rc == IODB_NOTFOUND)
			rc = err_set(IODB_ECORRUPT, "%s: snapshot file missing", path);
		return rc;
	}
	if (env_file_size(f) != want) {
		rc = err_set(IODB_ECORRUPT, "%s: %llu bytes, its snapshot's metadata says %llu", path,
			     (unsigned long long)env_file_size(f), (unsigned long long)want);
		goto err;
	}
	ERR(env_file_map(f, &m));
	*p = m;
err:
	env_file_close(f);
	return rc;
}

#define BAD(...) err_set(IODB_ECORRUPT, __VA_ARGS__)

/* Is pref a record of layers 0..top (and, in layer top, of kind leaf or before branch i)? */
static int pref_ok(const struct mtsnap *s, uint32_t top, uint64_t i, uint64_t r)
{
	uint32_t L = MPREF_LAYER(r);
	uint64_t x = MPREF_INDEX(r);

	if ((r >> 48) || L > top)
		return 0;
	if (r & MPREF_LEAF)
		return x < s->layer[L].nleaf;
	return L < top ? x < s->layer[L].nbranch : x < i;
}

/* Every index the records of layer L lead to is in range; sizes and heights add up. */
static int validate(const struct mtsnap *s, uint32_t L, const char *prefix)
{
	const struct mlayer *l = &s->layer[L];

	for (uint64_t j = 0; j < l->nleaf; j++) {
		const uint8_t *r = l->leaves + j * MREC_LEAF;
		uint64_t klen = get_u32(r + 4), off = get_u64(r + 8);

		if (klen > UINT16_MAX || off > l->keys_len || l->keys_len - off < 4 + klen ||
		    get_u32(l->keys + off) != klen)
			return BAD("%s.leaves: leaf %llu: bad key reference", prefix,
				   (unsigned long long)j);
	}
	if (l->full && l->nbranch + 1 != l->nleaf && !(l->nbranch == 0 && l->nleaf == 0))
		return BAD("%s.nodes: %llu branches for %llu leaves", prefix,
			   (unsigned long long)l->nbranch, (unsigned long long)l->nleaf);
	for (uint64_t i = 0; i < l->nbranch; i++) {
		uint64_t r = MPREF(L, 0, i), left, right;
		int full;
		const uint8_t *b = pn_branch(s, r, &full);
		uint64_t size = get_u32(b + 8);

		if (b[0] == 0 || size < 2)
			return BAD("%s.nodes: branch %llu: bad height or size", prefix,
				   (unsigned long long)i);
		if (full) {
			uint64_t pre = b[1], k = get_u32(b + 12), end = i + pre + 1;

			if (i + 2 + pre < size || end >= l->nleaf || k > end || k < i + 3 + pre - size ||
			    (k != i + 3 + pre - size && k < pre + 2) || (k != end && i == 0))
				return BAD("%s.nodes: branch %llu: navigation out of range", prefix,
					   (unsigned long long)i);
			pn_children(s, r, &left, &right);
			if (!pref_ok(s, L, i, left) || !pref_ok(s, L, i, right))
				return BAD("%s.nodes: branch %llu: child out of range", prefix,
					   (unsigned long long)i);
		} else {
			left = get_u64(b + 16);
			right = get_u64(b + 24);
			if (!pref_ok(s, L, i, left) || !pref_ok(s, L, i, right) ||
			    !(get_u64(b + 32) & MPREF_LEAF) || !pref_ok(s, L, i, get_u64(b + 32)))
				return BAD("%s.nodes: branch %llu: reference out of range", prefix,
					   (unsigned long long)i);
		}
		{
			const struct mnode *ln = mnode_from_pref(left), *rn = mnode_from_pref(right);
			uint8_t lh = nd_height(s, ln), rh = nd_height(s, rn);

			if ((uint64_t)nd_size(s, ln) + nd_size(s, rn) != size ||
			    b[0] != 1 + (lh > rh ? lh : rh))
				return BAD("%s.nodes: branch %llu: size or height does not add up",
					   prefix, (unsigned long long)i);
		}
	}
	return 0;
}

/*
 * The checks of a load, as independent jobs: each file's CRC32C and each layer's record
 * validation (which bounds-checks everything it reads, so it may run beside the checksums of
 * the files it reads). Two threads share them: most of an open at scale is this pass. The
 * first failing job in job order is the one reported (a layer's checksums come before its
 * validation), so the message does not depend on timing.
 */
struct check_job {
	const struct mtsnap *s;
	const char *prefix, *ext; /* ext NULL: validate layer */
	uint32_t layer, crc;
	const uint8_t *p;
	uint64_t len;
	int rc;
	char msg[320];
};

struct check_set {
	struct check_job *j;
	uint32_t n;
	atomic_uint next;
};

static void *check_run(void *arg)
{
	struct check_set *c = arg;
	unsigned i;

	while ((i = atomic_fetch_add(&c->next, 1)) < c->n) {
		struct check_job *j = &c->j[i];

		if (j->ext) {
			env_advise(j->p, j->len, 1);
			if (crc32c(j->p, j->len) != j->crc)
				j->rc = err_set(IODB_ECORRUPT, "%s.%s: checksum mismatch", j->prefix,
						j->ext);
			env_advise(j->p, j->len, 0);
		} else {
			j->rc = validate(j->s, j->layer, j->prefix);
		}
		if (j->rc)
			snprintf(j->msg, sizeof(j->msg), "%s", iodb_errmsg());
	}
	return NULL;
}

#define CHECK_PAR_BYTES (4u << 20) /* below this, one thread does it all */

static int check_all(struct check_job *jobs, uint32_t n, uint64_t bytes)
{
	struct check_set c = {jobs, n, 0};
	pthread_t th;
	int two = bytes >= CHECK_PAR_BYTES && pthread_create(&th, NULL, check_run, &c) == 0;

	check_run(&c);
	if (two)
		pthread_join(th, NULL);
	for (uint32_t i = 0; i < n; i++)
		if (jobs[i].rc)
			return err_set(jobs[i].rc, "%s", jobs[i].msg);
	return 0;
}

int mtsnap_load(struct env *env, uint32_t n, char *const *prefixes, const struct mlayer_meta *m,
		uint64_t root_pref, struct mtsnap **out, struct mnode **root)
{
	struct check_job *jobs;
	uint32_t njobs = 0;
	uint64_t bytes = 0;
	struct mtsnap *s;
	int rc = 0;

	*out = NULL;
	*root = NULL;
	if (n == 0 || n > MLAYERS_MAX || !m[0].full)
		return err_set(IODB_ECORRUPT, "%s: bad layer chain", n ? prefixes[n - 1] : "snapshot");
	if (!(s = mem_calloc(1, sizeof(*s))))
		return err_set(IODB_ENOMEM, "out of memory loading a snapshot");
	if (!(jobs = mem_calloc(n * 4, sizeof(*jobs)))) {
		mem_free(s);
		return err_set(IODB_ENOMEM, "out of memory loading a snapshot");
	}
	atomic_init(&s->refs, 1);
	for (uint32_t i = 0; i < n; i++) {
		struct mlayer *l = &s->layer[i];
		uint64_t rec = m[i].full ? MREC_FULL : MREC_INCR;
		static const char *const ext[3] = {"nodes", "leaves", "keys"};
		const uint8_t **maps[3] = {&l->nodes, &l->leaves, &l->keys};
		uint64_t lens[3];
		uint32_t crcs[3] = {m[i].crc_nodes, m[i].crc_leaves, m[i].crc_keys};

		if (m[i].nbranch > (UINT64_MAX >> 26) || m[i].nleaf > (UINT64_MAX >> 26) ||
		    (i > 0 && m[i].full)) {
			rc = BAD("%s: bad record counts", prefixes[i]);
			goto err;
		}
		l->full = m[i].full;
		l->nbranch = m[i].nbranch;
		l->nleaf = m[i].nleaf;
		l->keys_len = m[i].keys_len;
		s->nlayers = i + 1;
		lens[0] = l->nbranch * rec;
		lens[1] = l->nleaf * MREC_LEAF;
		lens[2] = l->keys_len;
		for (int f = 0; f < 3; f++) {
			ERR(map_file(env, prefixes[i], ext[f], lens[f], maps[f]));
			jobs[njobs++] = (struct check_job){.s = s, .prefix = prefixes[i], .ext = ext[f],
							   .layer = i, .crc = crcs[f], .p = *maps[f],
							   .len = lens[f]};
			bytes += lens[f];
		}
		jobs[njobs++] = (struct check_job){.s = s, .prefix = prefixes[i], .layer = i};
	}
	ERR(check_all(jobs, njobs, bytes));
	if (root_pref != MPREF_NONE) {
		if (!pref_ok(s, n - 1, s->layer[n - 1].nbranch, root_pref)) {
			rc = BAD("%s: the root is out of range", prefixes[n - 1]);
			goto err;
		}
		*root = mnode_from_pref(root_pref);
	}
	*out = s;
	mem_free(jobs);
	return 0;
err:
	mem_free(jobs);
	mtsnap_unref(s);
	return rc;
}
