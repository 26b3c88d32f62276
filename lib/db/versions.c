/*
 * versions.c — the version graph: retained versions by number and by ID, ancestor sets,
 * rollback and clean.
 *
 * Numbers are assigned in commit order, so a parent's number is below its children's and
 * walking numbers upward visits parents before children. The table is dense from `lo` (the
 * base after a clean) to the newest number, NULL where a version was discarded.
 *
 * Ancestor sets: a view sees the entries of the versions in its ancestor set. For a linear
 * history that set is one range, and each version records `chain_lo`, the lowest number
 * reachable through consecutive numbers each the parent of the next; computing a set then
 * takes one step per fork on the path, not one per version. Below the base, the set is
 * `base_anc`, fixed when the base was chosen.
 *
 * Locking: the caller (lib/db) holds iodb.vg_lock — for writing around every mutation.
 */
#include "lib/db/db_int.h"

static uint32_t vid_hash(const void *vid, size_t len)
{
	return crc32c(vid, len) | 1;
}

int vg_init(struct vgraph *g)
{
	memset(g, 0, sizeof(*g));
	g->next_n = 1;
	g->lo = 1;
	g->base_anc = roaring_bitmap_create();
	g->dead = roaring_bitmap_create();
	g->hash_cap = 64;
	g->hash = mem_calloc(g->hash_cap, sizeof(*g->hash));
	if (!g->base_anc || !g->dead || !g->hash) {
		vg_destroy(g);
		return err_set(IODB_ENOMEM, "out of memory creating the version graph");
	}
	return 0;
}

void vg_destroy(struct vgraph *g)
{
	if (g->tab)
		for (uint32_t i = 0; i < g->cap; i++)
			if (g->tab[i]) {
				mroots_unref(g->tab[i]->mr);
				mem_free(g->tab[i]);
			}
	mem_free(g->tab);
	mem_free(g->hash);
	if (g->base_anc)
		roaring_bitmap_free(g->base_anc);
	if (g->dead)
		roaring_bitmap_free(g->dead);
	memset(g, 0, sizeof(*g));
}

struct version *vg_get(const struct vgraph *g, uint32_t n)
{
	if (n < g->lo || n - g->lo >= g->cap)
		return NULL;
	return g->tab[n - g->lo];
}

/* Slot of vid in the hash, or of the empty slot where it would go. */
static uint32_t hash_slot(const struct vgraph *g, const void *vid, size_t len)
{
	uint32_t mask = g->hash_cap - 1, i = vid_hash(vid, len) & mask;

	for (;; i = (i + 1) & mask) {
		struct version *v;

		if (g->hash[i] == 0)
			return i;
		v = vg_get(g, g->hash[i]);
		if (v->vidlen == len && memcmp(v->vid, vid, len) == 0)
			return i;
	}
}

struct version *vg_find(const struct vgraph *g, const void *vid, size_t vidlen)
{
	uint32_t i = hash_slot(g, vid, vidlen);

	return g->hash[i] ? vg_get(g, g->hash[i]) : NULL;
}

static int hash_grow(struct vgraph *g)
{
	uint32_t old_cap = g->hash_cap, *old = g->hash;

	if (!(g->hash = mem_calloc((size_t)old_cap * 2, sizeof(*g->hash)))) {
		g->hash = old;
		return err_set(IODB_ENOMEM, "out of memory growing the version index");
	}
	g->hash_cap = old_cap * 2;
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i]) {
			struct version *v = vg_get(g, old[i]);

			g->hash[hash_slot(g, v->vid, v->vidlen)] = old[i];
		}
	mem_free(old);
	return 0;
}

/* Linear-probing delete with backward shift (no tombstones). */
static void hash_remove(struct vgraph *g, const struct version *v)
{
	uint32_t mask = g->hash_cap - 1, i = hash_slot(g, v->vid, v->vidlen), j = i;

	if (!g->hash[i])
		return;
	for (;;) {
		uint32_t k;
		struct version *w;

		g->hash[i] = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!g->hash[j])
				return;
			w = vg_get(g, g->hash[j]);
			k = vid_hash(w->vid, w->vidlen) & mask;
			/* Move j back to i unless its home k lies cyclically in (i, j]. */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		g->hash[i] = g->hash[j];
		i = j;
	}
}

int vg_add(struct vgraph *g, uint32_t n, uint32_t parent, uint64_t height, const void *vid,
	   uint8_t vidlen, const struct jpos *pos, struct mroots *mr)
{
	struct version *v, *p = parent ? vg_get(g, parent) : NULL;

	if (g->count == 0 && g->cap == 0)
		g->lo = n;
	if (n - g->lo >= g->cap) {
		uint32_t cap = g->cap ? g->cap : 64;
		struct version **tab;

		while (n - g->lo >= cap)
			cap *= 2;
		if (!(tab = mem_realloc(g->tab, (size_t)cap * sizeof(*tab))))
			return err_set(IODB_ENOMEM, "out of memory growing the version table");
		memset(tab + g->cap, 0, (size_t)(cap - g->cap) * sizeof(*tab));
		g->tab = tab;
		g->cap = cap;
	}
	if ((g->count + 1) * 2 > g->hash_cap)
		RET(hash_grow(g));
	if (!(v = mem_alloc(sizeof(*v) + vidlen)))
		return err_set(IODB_ENOMEM, "out of memory adding a version");
	v->n = n;
	v->parent = parent;
	v->height = height;
	v->chain_lo = p && parent == n - 1 ? p->chain_lo : n;
	v->pos = *pos;
	v->mr = mr;
	v->vidlen = vidlen;
	memcpy(v->vid, vid, vidlen);
	g->tab[n - g->lo] = v;
	g->hash[hash_slot(g, vid, vidlen)] = n;
	g->count++;
	if (g->count == 1) {
		g->base = n;
		roaring_bitmap_add(g->base_anc, n);
	}
	g->next_n = n + 1;
	return 0;
}

int vg_ancestors(const struct vgraph *g, uint32_t n, roaring_bitmap_t **out)
{
	roaring_bitmap_t *r = roaring_bitmap_create();
	const struct version *v = vg_get(g, n);

	if (!r)
		return err_set(IODB_ENOMEM, "out of memory computing an ancestor set");
	while (v) {
		if (v->chain_lo <= g->base) {
			/* The chain reaches the base: the rest is base_anc. */
			if (v->n > g->base)
				roaring_bitmap_add_range_closed(r, g->base + 1, v->n);
			roaring_bitmap_or_inplace(r, g->base_anc);
			break;
		}
		roaring_bitmap_add_range_closed(r, v->chain_lo, v->n);
		v = vg_get(g, vg_get(g, v->chain_lo)->parent);
	}
	roaring_bitmap_run_optimize(r);
	*out = r;
	return 0;
}

static void vg_forget(struct vgraph *g, struct version *v, int dead)
{
	hash_remove(g, v);
	g->tab[v->n - g->lo] = NULL;
	if (dead)
		roaring_bitmap_add(g->dead, v->n);
	g->count--;
	mroots_unref(v->mr);
	mem_free(v);
}

int vg_rollback(struct vgraph *g, uint32_t n)
{
	roaring_bitmap_t *gone = roaring_bitmap_create();

	if (!gone)
		return err_set(IODB_ENOMEM, "out of memory in rollback");
	/* Children have larger numbers than parents: one upward pass finds every descendant. */
	for (uint32_t m = n + 1; m < g->next_n; m++) {
		struct version *v = vg_get(g, m);

		if (v && (v->parent == n || roaring_bitmap_contains(gone, v->parent))) {
			roaring_bitmap_add(gone, m);
			vg_forget(g, v, 1);
		}
	}
	roaring_bitmap_free(gone);
	g->head = n;
	return 0;
}

uint32_t vg_ancestor_at(const struct vgraph *g, uint32_t from, uint32_t dist)
{
	const struct version *v = vg_get(g, from);

	while (dist-- && v && v->n != g->base && v->parent)
		v = vg_get(g, v->parent);
	return v ? v->n : from;
}

int vg_clean(struct vgraph *g, uint32_t base)
{
	roaring_bitmap_t *keep = roaring_bitmap_create(), *anc = NULL;
	int rc;

	if (!keep)
		return err_set(IODB_ENOMEM, "out of memory in clean");
	ERR(vg_ancestors(g, base, &anc));
	roaring_bitmap_add(keep, base);
	for (uint32_t m = g->lo; m < g->next_n; m++) {
		struct version *v = vg_get(g, m);

		if (!v || m == base)
			continue;
		if (roaring_bitmap_contains(keep, v->parent))
			roaring_bitmap_add(keep, m);
		else /* an ancestor of base is folded into it; anything else is dead */
			vg_forget(g, v, !roaring_bitmap_contains(anc, m));
	}
	/* Shift the table so that it starts at the new base. */
	memmove(g->tab, g->tab + (base - g->lo), (size_t)(g->cap - (base - g->lo)) * sizeof(*g->tab));
	memset(g->tab + g->cap - (base - g->lo), 0, (size_t)(base - g->lo) * sizeof(*g->tab));
	g->lo = base;
	vg_get(g, base)->parent = 0;
	roaring_bitmap_free(g->base_anc);
	g->base_anc = anc;
	g->base = base;
	anc = NULL;
	rc = 0;
err:
	roaring_bitmap_free(keep);
	if (anc)
		roaring_bitmap_free(anc);
	return rc;
}
