/*
 * record.c — payload codecs of journal records (docs/format.md, "Journal records").
 *
 * A commit payload carries the version's number, parent, height and ID, the names of the
 * stores its operations touch, and the operations in the order the caller added them (the
 * Merkle layer depends on that order). Decoding validates every field against the limits of
 * iodb.h before anything is applied, so a record either replays whole or not at all.
 */
#include "journal/journal.h"

int store_name_valid(const uint8_t *name, size_t len)
{
	if (len > IODB_MAX_STORE_NAME)
		return 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

int jrec_put_op(struct buf *b, uint8_t kind, uint32_t store_idx, const void *key, size_t klen,
		const void *val, size_t vlen)
{
	RET(buf_reserve(b, 1 + 3 * UVARINT_MAX + klen + (kind == JOP_PUT ? vlen : 0)));
	b->p[b->len++] = kind;
	b->len += put_uvarint(b->p + b->len, store_idx);
	b->len += put_uvarint(b->p + b->len, klen);
	memcpy(b->p + b->len, key, klen);
	b->len += klen;
	if (kind == JOP_PUT) {
		b->len += put_uvarint(b->p + b->len, vlen);
		if (vlen)
			memcpy(b->p + b->len, val, vlen);
		b->len += vlen;
	}
	return 0;
}

int jcommit_encode(struct buf *b, const struct jcommit *c)
{
	size_t stores_len = 0;

	for (uint32_t i = 0; i < c->nstores; i++)
		stores_len += 1 + c->stores[stores_len];
	RET(buf_reserve(b, 17 + c->vidlen + UVARINT_MAX * 2 + stores_len + c->ops_len));
	RET(buf_put_u32(b, c->n));
	RET(buf_put_u32(b, c->parent));
	RET(buf_put_u64(b, c->height));
	RET(buf_put_u8(b, c->vidlen));
	RET(buf_append(b, c->vid, c->vidlen));
	RET(buf_put_uvarint(b, c->nstores));
	RET(buf_append(b, c->stores, stores_len));
	RET(buf_put_uvarint(b, c->nops));
	return buf_append(b, c->ops, c->ops_len);
}

void jcommit_store_name(const struct jcommit *c, uint32_t i, const uint8_t **name, uint8_t *len)
{
	const uint8_t *p = c->stores;

	while (i--)
		p += 1 + p[0];
	*len = p[0];
	*name = p + 1;
}

int jcommit_next_op(struct rd *r, uint32_t nstores, struct jop *op)
{
	uint64_t store, klen, vlen;

	if (rd_u8(r, &op->kind) || (op->kind != JOP_PUT && op->kind != JOP_DEL))
		return -1;
	if (rd_uvarint(r, &store) || store >= nstores)
		return -1;
	if (rd_uvarint(r, &klen) || klen < 1 || klen > IODB_MAX_KEY ||
	    rd_bytes(r, (size_t)klen, &op->key))
		return -1;
	op->store = (uint32_t)store;
	op->klen = (uint32_t)klen;
	op->val = NULL;
	op->vlen = 0;
	if (op->kind == JOP_PUT) {
		if (rd_uvarint(r, &vlen) || vlen > IODB_MAX_VALUE ||
		    rd_bytes(r, (size_t)vlen, &op->val))
			return -1;
		op->vlen = (uint32_t)vlen;
	}
	return 0;
}

int jcommit_decode(const uint8_t *p, size_t n, struct jcommit *c)
{
	struct rd r, ops;
	uint64_t nstores;
	const uint8_t *stores_start;

	rd_init(&r, p, n);
	if (rd_u32(&r, &c->n) || c->n == 0 || rd_u32(&r, &c->parent) || c->parent >= c->n ||
	    rd_u64(&r, &c->height) || c->height == 0 || rd_u8(&r, &c->vidlen) || c->vidlen == 0 ||
	    rd_bytes(&r, c->vidlen, &c->vid))
		return -1;
	if (rd_uvarint(&r, &nstores) || nstores > rd_left(&r))
		return -1;
	stores_start = r.p;
	for (uint64_t i = 0; i < nstores; i++) {
		uint8_t len;
		const uint8_t *name;

		if (rd_u8(&r, &len) || rd_bytes(&r, len, &name) || !store_name_valid(name, len))
			return -1;
	}
	c->nstores = (uint32_t)nstores;
	c->stores = stores_start;
	if (rd_uvarint(&r, &c->nops) || c->nops > rd_left(&r))
		return -1;
	c->ops = r.p;
	c->ops_len = rd_left(&r);
	rd_init(&ops, c->ops, c->ops_len);
	for (uint64_t i = 0; i < c->nops; i++) {
		struct jop op;

		if (jcommit_next_op(&ops, c->nstores, &op))
			return -1;
	}
	return rd_left(&ops) == 0 ? 0 : -1;
}
