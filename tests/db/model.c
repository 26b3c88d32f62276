/*
 * model.c — see model.h.
 */
#include "model.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"

const char *const m_store_names[M_STORES] = {NULL, "s1"};

static int kcmp(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
	size_t l = la < lb ? la : lb;
	int c = l ? memcmp(a, b, l) : 0;

	return c ? c : (la < lb ? -1 : la > lb);
}

static const struct model *sort_model;
static int order_cmp(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;

	return kcmp(sort_model->keys[a], sort_model->klen[a], sort_model->keys[b],
		    sort_model->klen[b]);
}

void model_init(struct model *m, uint64_t seed)
{
	/* Keys of 1-6 bytes over an alphabet with 0x00, 0x7f, 0x80 and 0xff, so that order is
	 * unsigned and prefix-shorter-first, distinct by construction. */
	static const uint8_t alpha[] = {0x00, 'a', 'b', 0x7f, 0x80, 0xff};
	uint64_t rng = seed | 1;
	int n = 0;

	memset(m, 0, sizeof(*m));
	m->head = m->base = -1;
	while (n < M_KEYS) {
		uint8_t k[8], len = (uint8_t)(1 + tu_below(&rng, 6));
		int dup = 0;

		for (int i = 0; i < len; i++)
			k[i] = alpha[tu_below(&rng, sizeof(alpha))];
		for (int j = 0; j < n && !dup; j++)
			dup = kcmp(m->keys[j], m->klen[j], k, len) == 0;
		if (dup)
			continue;
		memcpy(m->keys[n], k, len);
		m->klen[n] = len;
		m->order[n] = n;
		n++;
	}
	sort_model = m;
	qsort(m->order, M_KEYS, sizeof(int), order_cmp);
}

void model_free(struct model *m)
{
	for (int i = 0; i < m->n; i++)
		free(m->v[i].st);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

void model_copy(struct model *dst, const struct model *src)
{
	*dst = *src;
	dst->v = calloc(src->cap ? (size_t)src->cap : 1, sizeof(*dst->v));
	if (src->n) /* memcpy from NULL is undefined even for 0 bytes */
		memcpy(dst->v, src->v, (size_t)src->n * sizeof(*dst->v));
	for (int i = 0; i < src->n; i++)
		if (src->v[i].st) {
			dst->v[i].st = malloc(sizeof(struct m_state));
			memcpy(dst->v[i].st, src->v[i].st, sizeof(struct m_state));
		}
}

int model_find(const struct model *m, const char *vid, size_t len)
{
	for (int i = m->n - 1; i >= 0; i--)
		if (m->v[i].alive && m->v[i].vidlen == len && memcmp(m->v[i].vid, vid, len) == 0)
			return i;
	return -1;
}

int model_alive_count(const struct model *m)
{
	int c = 0;

	for (int i = 0; i < m->n; i++)
		c += m->v[i].alive;
	return c;
}

int model_alive_at(const struct model *m, int k)
{
	for (int i = 0; i < m->n; i++)
		if (m->v[i].alive && k-- == 0)
			return i;
	return -1;
}

static void kill_version(struct model *m, int i)
{
	m->v[i].alive = 0;
	free(m->v[i].st);
	m->v[i].st = NULL;
}

void model_clean(struct model *m, uint32_t keep)
{
	int b = m->head;
	char *sub;

	if (b < 0)
		return;
	for (uint32_t d = 1; d < keep && b != m->base && m->v[b].parent >= 0; d++)
		b = m->v[b].parent;
	if (b == m->base)
		return;
	/* Keep b's subtree; parents come before children, so one pass decides. */
	sub = calloc((size_t)m->n, 1);
	sub[b] = 1;
	for (int i = 0; i < m->n; i++) {
		if (!m->v[i].alive || i == b)
			continue;
		if (m->v[i].parent >= 0 && sub[m->v[i].parent])
			sub[i] = 1;
		else
			kill_version(m, i);
	}
	free(sub);
	m->v[b].parent = -1;
	m->base = b;
}

void model_update(struct model *m, const char *vid, size_t vidlen, const struct m_op *ops,
		  int nops)
{
	struct m_ver *v;

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->v = realloc(m->v, (size_t)m->cap * sizeof(*m->v));
	}
	v = &m->v[m->n];
	memset(v, 0, sizeof(*v));
	memcpy(v->vid, vid, vidlen);
	v->vidlen = (uint8_t)vidlen;
	v->parent = m->head;
	v->height = m->head >= 0 ? m->v[m->head].height + 1 : 1;
	v->alive = 1;
	v->st = calloc(1, sizeof(struct m_state));
	if (m->head >= 0)
		memcpy(v->st, m->v[m->head].st, sizeof(struct m_state));
	for (int i = 0; i < nops; i++) {
		struct m_val *x = &v->st->kv[ops[i].store][ops[i].key];

		x->present = !ops[i].del;
		x->len = ops[i].del ? 0 : ops[i].len;
		memcpy(x->v, ops[i].v, x->len);
	}
	if (m->base < 0)
		m->base = m->n;
	m->head = m->n++;
	if (m->keep_versions)
		model_clean(m, m->keep_versions);
}

void model_rollback(struct model *m, int idx)
{
	for (int i = idx + 1; i < m->n; i++)
		if (m->v[i].alive && m->v[i].parent >= 0 &&
		    (m->v[i].parent == idx || !m->v[m->v[i].parent].alive))
			kill_version(m, i);
	m->head = idx;
}

void model_checkout(struct model *m, int idx)
{
	m->head = idx;
}

int model_random_ops(const struct model *m, uint64_t *rng, struct m_op *ops, int max)
{
	int n = (int)tu_below(rng, (uint32_t)max + 1);

	(void)m;
	for (int i = 0; i < n; i++) {
		struct m_op *o = &ops[i];

		o->store = (int)tu_below(rng, M_STORES);
		/* A skewed key choice so that keys are overwritten and deleted often. */
		o->key = (int)(tu_below(rng, 4) ? tu_below(rng, 12) : tu_below(rng, M_KEYS));
		o->del = tu_below(rng, 4) == 0;
		o->len = o->del ? 0 : (uint8_t)tu_below(rng, M_MAXV + 1);
		for (int j = 0; j < o->len; j++)
			o->v[j] = (uint8_t)tu_rand(rng);
	}
	return n;
}

int model_db_update(iodb *db, const struct model *m, const char *vid, size_t vidlen,
		    const struct m_op *ops, int nops)
{
	iodb_batch *b;
	int rc;

	if ((rc = iodb_batch_new(&b)) != 0)
		return rc;
	for (int i = 0; i < nops && rc == 0; i++) {
		const struct m_op *o = &ops[i];
		const uint8_t *k = m->keys[o->key];
		size_t kl = m->klen[o->key];

		rc = o->del ? iodb_batch_del(b, m_store_names[o->store], k, kl)
			    : iodb_batch_put(b, m_store_names[o->store], k, kl, o->v, o->len);
	}
	if (rc == 0)
		rc = iodb_update(db, vid, vidlen, nops ? b : NULL);
	iodb_batch_free(b);
	return rc;
}

static void check_scan(iodb_iter *it, const struct model *m, const struct m_state *st,
		       int store, uint64_t *rng)
{
	int exp[M_KEYS], ne = 0, rc, i;
	const void *k, *v;
	size_t kl, vl;

	for (i = 0; i < M_KEYS; i++)
		if (st->kv[store][m->order[i]].present)
			exp[ne++] = m->order[i];
	/* Forward. */
	for (i = 0, rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it), i++) {
		const struct m_val *x;

		ck_assert_int_lt(i, ne);
		x = &st->kv[store][exp[i]];
		ck_assert_int_eq(iodb_iter_key(it, &k, &kl), 0);
		ck_assert_int_eq(iodb_iter_value(it, &v, &vl), 0);
		ck_assert_msg(kcmp(k, kl, m->keys[exp[i]], m->klen[exp[i]]) == 0,
			      "forward scan of store %d: wrong key at position %d", store, i);
		ck_assert_uint_eq(vl, x->len);
		ck_assert(memcmp(v, x->v, vl) == 0);
	}
	ck_assert_int_eq(rc, IODB_NOTFOUND);
	ck_assert_int_eq(i, ne);
	/* Backward. */
	for (i = ne - 1, rc = iodb_iter_last(it); rc == 0; rc = iodb_iter_prev(it), i--) {
		ck_assert_int_ge(i, 0);
		ck_assert_int_eq(iodb_iter_key(it, &k, &kl), 0);
		ck_assert_msg(kcmp(k, kl, m->keys[exp[i]], m->klen[exp[i]]) == 0,
			      "backward scan of store %d: wrong key at position %d", store, i);
		ck_assert_int_eq(iodb_iter_value(it, &v, &vl), 0);
		ck_assert_uint_eq(vl, st->kv[store][exp[i]].len);
	}
	ck_assert_int_eq(rc, IODB_NOTFOUND);
	ck_assert_int_eq(i, -1);
	/* Seeks to a random key, then a step each way. */
	for (int t = 0; t < 3; t++) {
		int q = (int)tu_below(rng, M_KEYS), at = 0;

		while (at < ne && kcmp(m->keys[exp[at]], m->klen[exp[at]], m->keys[q], m->klen[q]) < 0)
			at++;
		rc = iodb_iter_seek(it, m->keys[q], m->klen[q]);
		if (at == ne) {
			ck_assert_int_eq(rc, IODB_NOTFOUND);
			continue;
		}
		ck_assert_int_eq(rc, 0);
		iodb_iter_key(it, &k, &kl);
		ck_assert(kcmp(k, kl, m->keys[exp[at]], m->klen[exp[at]]) == 0);
		rc = iodb_iter_prev(it);
		ck_assert_int_eq(rc, at > 0 ? 0 : IODB_NOTFOUND);
		if (at > 0) {
			iodb_iter_key(it, &k, &kl);
			ck_assert(kcmp(k, kl, m->keys[exp[at - 1]], m->klen[exp[at - 1]]) == 0);
			ck_assert_int_eq(iodb_iter_next(it), 0);
			iodb_iter_key(it, &k, &kl);
			ck_assert(kcmp(k, kl, m->keys[exp[at]], m->klen[exp[at]]) == 0);
		}
	}
}

void model_check_state(iodb *db, iodb_snapshot *s, const struct model *m,
		       const struct m_state *st, uint64_t *rng)
{
	for (int store = 0; store < M_STORES; store++) {
		iodb_iter *it;

		for (int key = 0; key < M_KEYS; key++) {
			const struct m_val *x = &st->kv[store][key];
			void *v = NULL;
			size_t vl = 0;
			int rc = s ? iodb_snapshot_get(s, m_store_names[store], m->keys[key],
						       m->klen[key], &v, &vl)
				   : iodb_get(db, m_store_names[store], m->keys[key], m->klen[key],
					      &v, &vl);

			ck_assert_msg(rc == (x->present ? 0 : IODB_NOTFOUND),
				      "get store %d key %d: rc %d, model says %s (%s)", store, key, rc,
				      x->present ? "present" : "absent", iodb_errmsg());
			if (rc == 0) {
				ck_assert_uint_eq(vl, x->len);
				ck_assert(memcmp(v, x->v, vl) == 0);
				ck_assert_ptr_nonnull(v);
			}
			iodb_free(v);
		}
		ck_assert_int_eq(iodb_iter_open(db, s, m_store_names[store], &it), 0);
		check_scan(it, m, st, store, rng);
		iodb_iter_close(it);
	}
}

struct vlist {
	const struct model *m;
	int k, ok;
};

static int vlist_cb(void *ctx, const void *vid, size_t vidlen, const void *parent,
		    size_t parentlen, uint64_t height)
{
	struct vlist *l = ctx;
	int i = model_alive_at(l->m, l->k++);
	const struct m_ver *v;

	if (i < 0)
		return l->ok = 0, 1;
	v = &l->m->v[i];
	if (v->vidlen != vidlen || memcmp(v->vid, vid, vidlen) || v->height != height)
		return l->ok = 0, 1;
	if (v->parent < 0 ? parent != NULL
			  : (!parent || parentlen != l->m->v[v->parent].vidlen ||
			     memcmp(parent, l->m->v[v->parent].vid, parentlen)))
		return l->ok = 0, 1;
	return 0;
}

int model_versions_equal(iodb *db, const struct model *m)
{
	struct vlist l = {m, 0, 1};
	void *vid = NULL;
	size_t len;
	int rc;

	if (iodb_versions(db, vlist_cb, &l) != 0 || !l.ok || l.k != model_alive_count(m))
		return 0;
	rc = iodb_head(db, &vid, &len);
	if (m->head < 0)
		return rc == IODB_NOTFOUND;
	rc = rc == 0 && len == m->v[m->head].vidlen && memcmp(vid, m->v[m->head].vid, len) == 0;
	iodb_free(vid);
	return rc;
}

void model_check_versions(iodb *db, const struct model *m)
{
	ck_assert_msg(model_versions_equal(db, m),
		      "version list or head differs from the model (%d alive versions)",
		      model_alive_count(m));
}

void model_check_all(iodb *db, const struct model *m, int max_versions, uint64_t *rng)
{
	int alive = model_alive_count(m);

	model_check_versions(db, m);
	if (m->head >= 0)
		model_check_state(db, NULL, m, m->v[m->head].st, rng);
	for (int k = 0; k < alive && (max_versions < 0 || k < max_versions); k++) {
		int i = max_versions < 0 ? model_alive_at(m, k)
					 : model_alive_at(m, (int)tu_below(rng, (uint32_t)alive));
		iodb_snapshot *s;

		ck_assert_int_eq(iodb_snapshot_open(db, m->v[i].vid, m->v[i].vidlen, &s), 0);
		model_check_state(db, s, m, m->v[i].st, rng);
		iodb_snapshot_close(s);
	}
}

int model_step(struct model *m, int s, iodb *db)
{
	int h = m->head, p = h >= 0 ? m->v[h].parent : -1, g = p >= 0 ? m->v[p].parent : -1;
	int rc = 0;

	if (s % 13 == 12 && g >= 0) {
		if (db && (rc = iodb_rollback(db, m->v[g].vid, m->v[g].vidlen)) != 0)
			return rc;
		model_rollback(m, g);
	} else if (s % 17 == 16 && p >= 0) {
		if (db && (rc = iodb_checkout(db, m->v[p].vid, m->v[p].vidlen)) != 0)
			return rc;
		model_checkout(m, p);
	} else if (s % 29 == 28) {
		if (db && (rc = iodb_clean(db, 12)) != 0)
			return rc;
		model_clean(m, 12);
	} else {
		uint64_t rng = 0x1234567ull * (uint64_t)(s + 1);
		struct m_op ops[6];
		int nops = model_random_ops(m, &rng, ops, 6);
		char vid[32];
		int vl = snprintf(vid, sizeof(vid), "c%d", s);

		if (db && (rc = model_db_update(db, m, vid, (size_t)vl, ops, nops)) != 0)
			return rc;
		model_update(m, vid, (size_t)vl, ops, nops);
	}
	return 0;
}
