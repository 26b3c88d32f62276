/*
 * tree.c — persistent IAVL trees with cosmos/iavl v1's shapes and hashes (docs/merkle.md;
 * the rules are ../shared/IAVL.md §1-2).
 *
 * Persistence: a version's tree shares every unchanged subtree with its parent's. Changing
 * a node means a new node in the current build, except that a node the current build made
 * itself (gen == build gen) is changed in place: it is not shared yet, and iavl would give
 * its clone the same version, hence the same bytes. So a batch of k updates makes each
 * touched node once, not once per update touching it. A build may span several heights (a
 * replay of a chain of commits of which only the last is wanted, lib/db/merkle.c): a node
 * changed in place then takes the current height, as iavl's clone at that height would.
 *
 * Ownership. A finished node holds one reference on each child; a root holder one on the
 * root; a node dies with its last reference. During a build, a pointer from one of the
 * build's own nodes (or from the working root) to an older node is *borrowed*: no reference
 * is taken when a clone copies it, because taking it would mean touching the sibling of
 * every cloned node — a cache miss each, a third of the build's time. The build's own
 * nodes are owned by their single parent. Which kind a pointer is follows from the child's
 * gen, so nothing records it. mtree_finish then walks the build's nodes once, takes the
 * references their borrowed pointers need and hashes them in the same pass (the sibling's
 * cache line is loaded for its hash anyway). mtree_abort frees a build's nodes instead.
 *
 * Hashing can also be deferred (replay at open) and done later by mtree_hash, post order;
 * the two halves of a large tree on two threads. The shape never depends on hashes, only on
 * the order of operations, which is why a version's changeset must be applied in its
 * recorded order.
 *
 * Persisted nodes (records of a mapped snapshot, lib/merkle/snap.c) take part as borrowed
 * nodes that are never "mine": a change clones them into heap nodes (path copying), their
 * reference counts are no-ops, and they are always hashed. Every read of a node goes
 * through the nd_* accessors (pnode.h) with the tree's struct mtsnap.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <pthread.h>

#include "lib/merkle/pnode.h"

#define PARALLEL_MIN_NODES 2048 /* below this, a new thread costs more than it saves */
#define PAR_MIN_NODES 256	/* below this, even a waiting thread costs more than it saves */

void sha256(const void *p, size_t n, uint8_t out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, p, n);
	SHA256_Final(out, &c);
}

void mbuild_init(struct mbuild *b, uint32_t gen, uint64_t version)
{
	b->gen = gen;
	b->version = version;
	b->created = 0;
	b->snap = NULL;
	buf_init(&b->newkey);
}

void mbuild_free(struct mbuild *b)
{
	buf_free(&b->newkey);
}

static inline int is_leaf(const struct mnode *n)
{
	return nd_leaf(n);
}

void mnode_ref(struct mnode *n)
{
	if (!mnode_persisted(n))
		atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
}

void mnode_unref(struct mnode *n)
{
	while (n && !mnode_persisted(n) &&
	       atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) == 1) {
		struct mnode *right = NULL;

		if (!is_leaf(n)) {
			mnode_unref(n->u.c.left); /* recursion depth = tree height (< 64) */
			right = n->u.c.right;
		}
		mem_free(n);
		n = right; /* the right spine iteratively */
	}
}

static struct mnode *node_alloc(struct mbuild *b, size_t klen)
{
	struct mnode *n = mem_alloc(sizeof(*n) + klen);

	if (!n)
		return NULL;
	atomic_init(&n->refs, 1);
	n->gen = b->gen;
	n->version = b->version;
	n->hashed = 0;
	n->klen = (uint16_t)klen;
	n->pid = 0;
	b->created++;
	return n;
}

static struct mnode *leaf_new(struct mbuild *b, const uint8_t *key, size_t klen,
			      const uint8_t vhash[32])
{
	struct mnode *n = node_alloc(b, klen);

	if (!n)
		return NULL;
	n->height = 0;
	n->size = 1;
	memcpy(n->u.vhash, vhash, 32);
	memcpy(n->key, key, klen);
	return n;
}

static void recompute(const struct mbuild *b, struct mnode *n)
{
	const struct mnode *l = n->u.c.left, *r = n->u.c.right;
	uint8_t lh = nd_height(b->snap, l), rh = nd_height(b->snap, r);

	n->height = (uint8_t)(1 + (lh > rh ? lh : rh));
	n->size = nd_size(b->snap, l) + nd_size(b->snap, r);
}

static inline int mine(const struct mbuild *b, const struct mnode *n)
{
	return !mnode_persisted(n) && n->gen == b->gen;
}

/* Let go of a pointer the build holds: the build's own subtree is freed, a borrowed older
 * node is left alone (no reference was taken for it). */
static void drop(struct mbuild *b, struct mnode *n)
{
	while (n && mine(b, n)) {
		struct mnode *right = NULL;

		if (!is_leaf(n)) {
			drop(b, n->u.c.left);
			right = n->u.c.right;
		}
		mem_free(n);
		n = right;
	}
}

/* An inner node over children l and r (whatever they are), keyed by key. */
static struct mnode *inner_new(struct mbuild *b, const uint8_t *key, size_t klen,
			       struct mnode *l, struct mnode *r)
{
	struct mnode *n = node_alloc(b, klen);

	if (!n)
		return NULL;
	memcpy(n->key, key, klen);
	n->u.c.left = l;
	n->u.c.right = r;
	recompute(b, n);
	return n;
}

/*
 * A node of this build standing for n: n itself when this build made it, else a clone
 * borrowing n's children. With key, the result carries that key.
 */
static struct mnode *mutable(struct mbuild *b, struct mnode *n, const uint8_t *key, size_t klen)
{
	struct mnode *c;

	if (!key)
		key = nd_key(b->snap, n, &klen);
	if (mnode_persisted(n)) {
		if (!(c = node_alloc(b, klen)))
			return NULL;
		c->size = nd_size(b->snap, n);
		c->height = nd_height(b->snap, n);
		if (c->height) {
			c->u.c.left = nd_left(b->snap, n);
			c->u.c.right = nd_right(b->snap, n);
		}
		memcpy(c->key, key, klen);
		return c;
	}
	if (mine(b, n) && klen == n->klen) {
		memmove(n->key, key, klen);
		n->hashed = 0;
		n->version = b->version; /* a build over several heights (a replay) moves it on */
		return n;
	}
	if (!(c = node_alloc(b, klen)))
		return NULL;
	c->size = n->size;
	c->height = n->height;
	c->u = n->u; /* children move as they are: owned stay owned, borrowed stay borrowed */
	memcpy(c->key, key, klen);
	if (mine(b, n))
		mem_free(n); /* only its key had to change size */
	return c;
}

static int node_balance(const struct mbuild *b, const struct mnode *n)
{
	if (is_leaf(n))
		return 0;
	return (int)nd_height(b->snap, nd_left(b->snap, n)) -
	       (int)nd_height(b->snap, nd_right(b->snap, n));
}

/* s (owned, this build's) rotated right; returns the new subtree root. */
static struct mnode *rotate_right(struct mbuild *b, struct mnode *s)
{
	struct mnode *l = mutable(b, s->u.c.left, NULL, 0);

	if (!l)
		return NULL;
	s->u.c.left = l->u.c.right;
	l->u.c.right = s;
	recompute(b, s);
	recompute(b, l);
	return l;
}

static struct mnode *rotate_left(struct mbuild *b, struct mnode *s)
{
	struct mnode *r = mutable(b, s->u.c.right, NULL, 0);

	if (!r)
		return NULL;
	s->u.c.right = r->u.c.left;
	r->u.c.left = s;
	recompute(b, s);
	recompute(b, r);
	return r;
}

/* n owned and this build's, height and size current. */
static struct mnode *balance(struct mbuild *b, struct mnode *n)
{
	int bal = node_balance(b, n);

	struct mnode *c;

	if (bal > 1) {
		if (node_balance(b, n->u.c.left) < 0) {
			if (!(c = mutable(b, n->u.c.left, NULL, 0)) || !(c = rotate_left(b, c)))
				return NULL;
			n->u.c.left = c;
		}
		return rotate_right(b, n);
	}
	if (bal < -1) {
		if (node_balance(b, n->u.c.right) > 0) {
			if (!(c = mutable(b, n->u.c.right, NULL, 0)) || !(c = rotate_right(b, c)))
				return NULL;
			n->u.c.right = c;
		}
		return rotate_left(b, n);
	}
	return n;
}

struct mnode *mnode_new(uint64_t version, const uint8_t *key, size_t klen,
		       const uint8_t vhash[32], struct mnode *l, struct mnode *r)
{
	struct mbuild b;
	struct mnode *n;

	mbuild_init(&b, 0, version); /* gen 0: no build ever takes it for its own */
	n = l ? inner_new(&b, key, klen, l, r) : leaf_new(&b, key, klen, vhash);
	mbuild_free(&b);
	return n;
}

/* Out of memory half-way leaves a tree that must not be used: the caller fails the build. */
#define OOM(what) err_set(IODB_ENOMEM, "out of memory in the Merkle tree (%s)", what)

static int node_set(struct mbuild *b, struct mnode **np, const uint8_t *key, size_t klen,
		    const uint8_t vhash[32], int *updated)
{
	struct mnode *n = *np, *leaf, *in;
	const uint8_t *nk;
	size_t nkl;
	int c;

	if (is_leaf(n)) {
		nk = nd_key(b->snap, n, &nkl);
		c = key_cmp(key, klen, nk, nkl);
		if (!(leaf = leaf_new(b, key, klen, vhash)))
			return OOM("leaf");
		if (c == 0) {
			drop(b, n);
			*np = leaf;
			*updated = 1;
			return 0;
		}
		in = c < 0 ? inner_new(b, nk, nkl, leaf, n) : inner_new(b, key, klen, n, leaf);
		if (!in) {
			drop(b, leaf);
			return OOM("inner");
		}
		*np = in;
		*updated = 0;
		return 0;
	}
	if (!(n = mutable(b, n, NULL, 0)))
		return OOM("clone");
	*np = n;
	RET(node_set(b, key_cmp(key, klen, n->key, n->klen) < 0 ? &n->u.c.left : &n->u.c.right,
		     key, klen, vhash, updated));
	if (*updated)
		return 0;
	recompute(b, n);
	if (!(*np = balance(b, n)))
		return OOM("rotation");
	return 0;
}

int mtree_set(struct mbuild *b, struct mnode **root, const uint8_t *key, size_t klen,
	      const uint8_t vhash[32])
{
	int updated;

	if (!*root)
		return (*root = leaf_new(b, key, klen, vhash)) ? 0 : OOM("leaf");
	return node_set(b, root, key, klen, vhash, &updated);
}

/*
 * Remove key (known to be present) from the subtree n. *out gets its replacement (NULL when
 * n was the leaf). *newkey is set when the leftmost key of the subtree changed; the key is in
 * b->newkey.
 */
static int node_remove(struct mbuild *b, struct mnode *n, const uint8_t *key, size_t klen,
		       struct mnode **out, int *newkey)
{
	struct mnode *sub = NULL, *nl, *nr;
	const uint8_t *nk;
	size_t nkl;
	int left;

	*newkey = 0;
	if (is_leaf(n)) {
		drop(b, n);
		*out = NULL;
		return 0;
	}
	nk = nd_key(b->snap, n, &nkl);
	nl = nd_left(b->snap, n);
	nr = nd_right(b->snap, n);
	left = key_cmp(key, klen, nk, nkl) < 0;
	RET(node_remove(b, left ? nl : nr, key, klen, &sub, newkey));
	if (!sub) {
		/* The removed leaf was a child of n: its sibling takes n's place, unchanged. */
		struct mnode *sibling = left ? nr : nl;

		if (left) {
			b->newkey.len = 0;
			RET(buf_append(&b->newkey, nk, nkl));
		}
		*newkey = left;
		if (mine(b, n))
			mem_free(n); /* its children are gone or moved up */
		*out = sibling;
		return 0;
	}
	if (left) {
		if (!(n = mutable(b, n, NULL, 0)))
			return OOM("clone");
		n->u.c.left = sub;
	} else {
		if (!(n = mutable(b, n, *newkey ? b->newkey.p : NULL, b->newkey.len)))
			return OOM("clone");
		n->u.c.right = sub;
		*newkey = 0; /* a new leftmost key of a right subtree stops here */
	}
	recompute(b, n);
	if (!(*out = balance(b, n)))
		return OOM("rotation");
	return 0;
}

int mtree_remove(struct mbuild *b, struct mnode **root, const uint8_t *key, size_t klen,
		 int *removed)
{
	int newkey;

	*removed = 0;
	if (!mtree_get(b->snap, *root, key, klen))
		return 0; /* iavl leaves the tree as it was */
	*removed = 1;
	return node_remove(b, *root, key, klen, root, &newkey);
}

const struct mnode *mtree_get(const struct mtsnap *s, const struct mnode *n,
			      const uint8_t *key, size_t klen)
{
	const uint8_t *nk;
	size_t nkl;

	while (n && !is_leaf(n)) {
		nk = nd_key(s, n, &nkl);
		n = key_cmp(key, klen, nk, nkl) < 0 ? nd_left(s, n) : nd_right(s, n);
	}
	if (!n)
		return NULL;
	nk = nd_key(s, n, &nkl);
	return key_cmp(key, klen, nk, nkl) == 0 ? n : NULL;
}

void mnode_info(const struct mtsnap *s, const struct mnode *n, struct minfo *i)
{
	i->version = nd_version(s, n);
	i->size = nd_size(s, n);
	i->height = nd_height(s, n);
	i->key = nd_key(s, n, &i->klen);
	i->hash = nd_hash(s, n);
	i->left = i->height ? nd_left(s, n) : NULL;
	i->right = i->height ? nd_right(s, n) : NULL;
}

/* ---- Hashing -------------------------------------------------------------------------- */

/* IAVL.md §1: leaf = SHA256(varint 0, varint 1, varint version, bytes key, bytes vhash). */
void mleaf_hash(uint64_t version, const uint8_t *key, size_t klen, const uint8_t vhash[32],
		uint8_t out[32])
{
	uint8_t buf[4 * UVARINT_MAX + 66], *p = buf;
	SHA256_CTX c;

	SHA256_Init(&c);
	p += put_varint(p, 0);
	p += put_varint(p, 1);
	p += put_varint(p, (int64_t)version);
	p += put_uvarint(p, klen);
	SHA256_Update(&c, buf, (size_t)(p - buf));
	SHA256_Update(&c, key, klen);
	buf[0] = 32;
	memcpy(buf + 1, vhash, 32);
	SHA256_Update(&c, buf, 33);
	SHA256_Final(out, &c);
}

/* inner = SHA256(varint height, varint size, varint version, bytes left, bytes right). */
void minner_hash(uint8_t height, uint64_t size, uint64_t version, const uint8_t l[32],
		 const uint8_t r[32], uint8_t out[32])
{
	uint8_t buf[4 * UVARINT_MAX + 66], *p = buf;

	p += put_varint(p, height);
	p += put_varint(p, (int64_t)size);
	p += put_varint(p, (int64_t)version);
	*p++ = 32;
	memcpy(p, l, 32);
	p += 32;
	*p++ = 32;
	memcpy(p, r, 32);
	p += 32;
	sha256(buf, (size_t)(p - buf), out);
}

static void node_hash(const struct mtsnap *s, struct mnode *n)
{
	if (mnode_persisted(n) || n->hashed)
		return;
	if (n->height == 0) {
		mleaf_hash(n->version, n->key, n->klen, n->u.vhash, n->hash);
	} else {
		node_hash(s, n->u.c.left);
		node_hash(s, n->u.c.right);
		minner_hash(n->height, n->size, n->version, nd_hash(s, n->u.c.left),
			    nd_hash(s, n->u.c.right), n->hash);
	}
	n->hashed = 1;
}

struct hash_job {
	const struct mtsnap *s;
	struct mnode *n;
};

static void *hash_thread(void *arg)
{
	struct hash_job *j = arg;

	node_hash(j->s, j->n);
	return NULL;
}

/* Unhashed nodes under n, counting up to limit. */
static uint64_t count_dirty(const struct mnode *n, uint64_t limit)
{
	if (mnode_persisted(n) || n->hashed)
		return 0;
	if (is_leaf(n) || limit <= 1)
		return 1;
	uint64_t l = count_dirty(n->u.c.left, limit - 1);

	return 1 + l + (l + 1 < limit ? count_dirty(n->u.c.right, limit - 1 - l) : 0);
}

int mtree_hash(const struct mtsnap *s, struct mnode *root, int threads, uint8_t out[32])
{
	struct hash_job job;
	pthread_t th;

	if (!root) {
		sha256("", 0, out);
		return 0;
	}
	job = (struct hash_job){s, is_leaf(root) ? NULL : nd_left(s, root)};
	if (threads > 1 && !mnode_persisted(root) && !root->hashed && !is_leaf(root) &&
	    count_dirty(root, PARALLEL_MIN_NODES) >= PARALLEL_MIN_NODES &&
	    pthread_create(&th, NULL, hash_thread, &job) == 0) {
		/* The two subtrees share no unhashed node: a finished node is never changed. */
		node_hash(s, root->u.c.right);
		pthread_join(th, NULL);
	}
	node_hash(s, root);
	memcpy(out, nd_hash(s, root), 32);
	return 0;
}

/* ---- Finishing a build ----------------------------------------------------------------- */

/* Take the references the build's borrowed pointers under n stand for; hash with `hash`. */
static void finish_node(struct mbuild *b, struct mnode *n, int hash)
{
	if (!is_leaf(n)) {
		struct mnode *l = n->u.c.left, *r = n->u.c.right;

		if (mine(b, l))
			finish_node(b, l, hash);
		else
			mnode_ref(l);
		if (mine(b, r))
			finish_node(b, r, hash);
		else
			mnode_ref(r);
	}
	if (hash)
		node_hash(b->snap, n);
}

struct finish_job {
	struct mbuild *b;
	struct mnode *n;
	int hash;
};

static void finish_job_run(void *arg)
{
	struct finish_job *j = arg;

	finish_node(j->b, j->n, j->hash);
}

int mtree_finish(struct mbuild *b, struct mnode *root, int hash, const struct mpar *par,
		 uint8_t out[32])
{
	struct finish_job job;

	if (!root) {
		sha256("", 0, out);
		return 0;
	}
	if (!mine(b, root)) {
		mnode_ref(root); /* the holder's pointer was borrowed from the parent version */
		if (hash)
			node_hash(b->snap, root);
	} else if (par && !is_leaf(root) && b->created >= PAR_MIN_NODES &&
		   mine(b, root->u.c.left) && mine(b, root->u.c.right)) {
		/* The two halves share no node of this build. */
		job = (struct finish_job){b, root->u.c.left, hash};
		if (par->start(par->ctx, finish_job_run, &job)) {
			finish_node(b, root->u.c.right, hash);
			par->wait(par->ctx);
		} else {
			finish_node(b, root->u.c.right, hash);
			finish_job_run(&job);
		}
		if (hash)
			node_hash(b->snap, root);
	} else {
		finish_node(b, root, hash);
	}
	if (hash)
		memcpy(out, nd_hash(b->snap, root), 32);
	return 0;
}

void mtree_abort(struct mbuild *b, struct mnode *root)
{
	drop(b, root);
}

/* ---- Proof paths ---------------------------------------------------------------------- */

int mtree_path(const struct mtsnap *s, const struct mnode *root, const uint8_t *key,
	       size_t klen, struct mproof_step *steps, size_t *nsteps, const struct mnode **leaf)
{
	const struct mnode *path[160], *n = root;
	const uint8_t *nk;
	size_t depth = 0, nkl;

	while (n && !is_leaf(n)) {
		if (depth == 160)
			return err_set(IODB_ECORRUPT, "Merkle tree deeper than 160");
		path[depth++] = n;
		nk = nd_key(s, n, &nkl);
		n = key_cmp(key, klen, nk, nkl) < 0 ? nd_left(s, n) : nd_right(s, n);
	}
	if (n)
		nk = nd_key(s, n, &nkl);
	if (!n || key_cmp(key, klen, nk, nkl) != 0)
		return err_set(IODB_NOTFOUND, "key not in the tree");
	*leaf = n;
	*nsteps = depth;
	for (size_t i = 0; i < depth; i++) {
		const struct mnode *p = path[depth - 1 - i];
		const struct mnode *child = i == 0 ? n : path[depth - i];
		const struct mnode *right = nd_right(s, p);
		struct mproof_step *st = &steps[i];

		st->height = nd_height(s, p);
		st->size = nd_size(s, p);
		st->version = (int64_t)nd_version(s, p);
		st->right = child == right;
		memcpy(st->sibling, nd_hash(s, st->right ? nd_left(s, p) : right), 32);
	}
	return 0;
}

void mtree_neighbors(const struct mtsnap *s, const struct mnode *root, const uint8_t *key,
		     size_t klen, const struct mnode **left, const struct mnode **right)
{
	const struct mnode *n = root, *lo = NULL, *hi = NULL;
	const uint8_t *nk;
	size_t nkl;

	/* Descend towards key, remembering the last subtree on each side of the path. */
	while (n && !is_leaf(n)) {
		nk = nd_key(s, n, &nkl);
		if (key_cmp(key, klen, nk, nkl) < 0) {
			hi = nd_right(s, n);
			n = nd_left(s, n);
		} else {
			lo = nd_left(s, n);
			n = nd_right(s, n);
		}
	}
	*left = *right = NULL;
	if (n) {
		int c;

		nk = nd_key(s, n, &nkl);
		c = key_cmp(key, klen, nk, nkl);
		if (c > 0)
			*left = n;
		else if (c < 0)
			*right = n;
	}
	if (!*left && lo) {
		while (!is_leaf(lo))
			lo = nd_right(s, lo);
		*left = lo;
	}
	if (!*right && hi) {
		while (!is_leaf(hi))
			hi = nd_left(s, hi);
		*right = hi;
	}
}
