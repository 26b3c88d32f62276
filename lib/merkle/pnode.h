/*
 * pnode.h — reading nodes of either kind (heap or persisted), for tree.c and snap.c only.
 * The layouts are those of docs/format.md, "Merkle snapshots"; loading validated every
 * index a record leads to (snap.c), so nothing here checks bounds.
 */
#ifndef IODB_PNODE_H
#define IODB_PNODE_H

#include "lib/merkle/merkle.h"

#define MREC_LEAF 48	 /* leaf record */
#define MREC_FULL 48	 /* branch record of a full layer (memiavl's) */
#define MREC_INCR 72	 /* branch record of an incremental layer */

static inline const uint8_t *pn_leaf(const struct mtsnap *s, uint64_t r)
{
	return s->layer[MPREF_LAYER(r)].leaves + MPREF_INDEX(r) * MREC_LEAF;
}

static inline const struct mlayer *pn_layer(const struct mtsnap *s, uint64_t r)
{
	return &s->layer[MPREF_LAYER(r)];
}

/* A branch record; *full tells the layout. */
static inline const uint8_t *pn_branch(const struct mtsnap *s, uint64_t r, int *full)
{
	const struct mlayer *l = pn_layer(s, r);

	*full = l->full;
	return l->nodes + MPREF_INDEX(r) * (l->full ? MREC_FULL : MREC_INCR);
}

static inline int nd_leaf(const struct mnode *n)
{
	return mnode_persisted(n) ? (mnode_pref(n) & MPREF_LEAF) != 0 : n->height == 0;
}

static inline uint8_t nd_height(const struct mtsnap *s, const struct mnode *n)
{
	int full;

	if (!mnode_persisted(n))
		return n->height;
	if (mnode_pref(n) & MPREF_LEAF)
		return 0;
	return pn_branch(s, mnode_pref(n), &full)[0];
}

static inline uint32_t nd_size(const struct mtsnap *s, const struct mnode *n)
{
	int full;

	if (!mnode_persisted(n))
		return n->size;
	if (mnode_pref(n) & MPREF_LEAF)
		return 1;
	return get_u32(pn_branch(s, mnode_pref(n), &full) + 8);
}

static inline uint64_t nd_version(const struct mtsnap *s, const struct mnode *n)
{
	int full;

	if (!mnode_persisted(n))
		return n->version;
	if (mnode_pref(n) & MPREF_LEAF)
		return get_u32(pn_leaf(s, mnode_pref(n)));
	return get_u32(pn_branch(s, mnode_pref(n), &full) + 4);
}

static inline const uint8_t *nd_hash(const struct mtsnap *s, const struct mnode *n)
{
	int full;
	const uint8_t *b;

	if (!mnode_persisted(n))
		return n->hash;
	if (mnode_pref(n) & MPREF_LEAF)
		return pn_leaf(s, mnode_pref(n)) + 16;
	b = pn_branch(s, mnode_pref(n), &full);
	return b + (full ? 16 : 40);
}

/* The leaf pref a persisted branch takes its key from. */
static inline uint64_t pn_keyleaf(const struct mtsnap *s, uint64_t r)
{
	int full;
	const uint8_t *b = pn_branch(s, r, &full);

	return full ? MPREF(MPREF_LAYER(r), 1, get_u32(b + 12)) : get_u64(b + 32);
}

static inline const uint8_t *nd_key(const struct mtsnap *s, const struct mnode *n, size_t *klen)
{
	uint64_t r;
	const uint8_t *l;

	if (!mnode_persisted(n)) {
		*klen = n->klen;
		return n->key;
	}
	r = mnode_pref(n);
	if (!(r & MPREF_LEAF))
		r = pn_keyleaf(s, r);
	l = pn_leaf(s, r);
	*klen = get_u32(l + 4);
	return pn_layer(s, r)->keys + get_u64(l + 8) + 4;
}

/* Children of a persisted branch (memiavl's navigation for a full layer: IAVL.md §4.2). */
static inline void pn_children(const struct mtsnap *s, uint64_t r, uint64_t *left,
			       uint64_t *right)
{
	int full;
	const uint8_t *b = pn_branch(s, r, &full);

	if (full) {
		uint64_t i = MPREF_INDEX(r), pre = b[1], size = get_u32(b + 8), k = get_u32(b + 12);
		uint64_t start = i + 2 - size + pre, end = i + pre + 1;
		uint32_t layer = MPREF_LAYER(r);

		*left = start + 1 == k ? MPREF(layer, 1, start) : MPREF(layer, 0, k - pre - 2);
		*right = k == end ? MPREF(layer, 1, k) : MPREF(layer, 0, i - 1);
	} else {
		*left = get_u64(b + 16);
		*right = get_u64(b + 24);
	}
}

static inline struct mnode *nd_left(const struct mtsnap *s, const struct mnode *n)
{
	uint64_t l, r;

	if (!mnode_persisted(n))
		return n->u.c.left;
	pn_children(s, mnode_pref(n), &l, &r);
	return mnode_from_pref(l);
}

static inline struct mnode *nd_right(const struct mtsnap *s, const struct mnode *n)
{
	uint64_t l, r;

	if (!mnode_persisted(n))
		return n->u.c.right;
	pn_children(s, mnode_pref(n), &l, &r);
	return mnode_from_pref(r);
}

#endif /* IODB_PNODE_H */
