/*
 * commit.c — the Cosmos SDK commit-info hash (the "app hash") over a version's stores.
 *
 * ../shared/IAVL.md §4.8: each store is a leaf uvarint(len name) ‖ name ‖ uvarint(32) ‖
 * SHA-256(store root), leaves in name order, combined by CometBFT's simple Merkle tree
 * (leaf = SHA-256(0x00 ‖ leaf), inner = SHA-256(0x01 ‖ left ‖ right), split at the largest
 * power of two below n). No stores: SHA-256("").
 *
 * commit_info_prove proves one store's root in that tree as the Cosmos SDK's
 * CommitInfo.ProofOp does (store/types/commit_info.go, store/internal/proofs/convert.go):
 * an ICS23 ExistenceProof with key = the name, value = the root, TendermintSpec's leaf op
 * (prefix 00; its SHA-256-prehashed, length-prefixed value makes the leaf above), and one
 * inner op per level from the leaf up: prefix 01 and the right sibling as suffix when the
 * store is in the left half, prefix 01 ‖ left sibling when in the right half.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <assert.h>
#include <openssl/sha.h>

#include "lib/merkle/merkle.h"

static void leaf_hash(const struct mstore_root *s, uint8_t out[32])
{
	uint8_t head[1 + UVARINT_MAX], tail[33];
	size_t hl = 1;
	SHA256_CTX c;

	head[0] = 0x00;
	hl += put_uvarint(head + 1, s->nlen);
	tail[0] = 32;
	sha256(s->root, 32, tail + 1);
	SHA256_Init(&c);
	SHA256_Update(&c, head, hl);
	SHA256_Update(&c, s->name, s->nlen);
	SHA256_Update(&c, tail, sizeof(tail));
	SHA256_Final(out, &c);
}

/* The size of the left subtree of n > 1 leaves: the largest power of two below n. */
static size_t split_point(size_t n)
{
	size_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

static void tree_hash(const struct mstore_root *s, size_t n, uint8_t out[32])
{
	uint8_t buf[65];
	size_t k;

	if (n == 1) {
		leaf_hash(s, out);
		return;
	}
	k = split_point(n);
	buf[0] = 0x01;
	tree_hash(s, k, buf + 1);
	tree_hash(s + k, n - k, buf + 33);
	sha256(buf, sizeof(buf), out);
}

void commit_info_hash(const struct mstore_root *s, size_t n, uint8_t out[32])
{
	if (n == 0)
		sha256("", 0, out);
	else
		tree_hash(s, n, out);
}

/* ---- Proofs ------------------------------------------------------------------------- */

/* ics23's enum values (proofs.proto) and the protobuf tags of the fields written. */
#define HASHOP_SHA256 1
#define LENGTHOP_VAR_PROTO 1
#define TAG_BYTES(f) ((uint8_t)((f) << 3 | 2))
#define TAG_VARINT(f) ((uint8_t)((f) << 3))

/* One level of the path: the sibling's hash and which side it is on. */
struct cstep {
	int sibling_left; /* the proven leaf is in the right half */
	uint8_t sibling[32];
};

/* The levels above leaf idx of the tree of s[0..n), root first: at most ceil(log2 n) <= 64,
 * as neither half of a split is larger than the largest power of two below n. */
static size_t commit_path(const struct mstore_root *s, size_t n, size_t idx, struct cstep *st)
{
	size_t depth = 0;

	while (n > 1) {
		size_t k = split_point(n);
		struct cstep *c = &st[depth++];

		if (idx < k) {
			c->sibling_left = 0;
			tree_hash(s + k, n - k, c->sibling);
			n = k;
		} else {
			c->sibling_left = 1;
			tree_hash(s, k, c->sibling);
			s += k;
			n -= k;
			idx -= k;
		}
	}
	return depth;
}

/* LeafOp{hash SHA256, prehash_key NO_HASH (zero: not written), prehash_value SHA256,
 * length VAR_PROTO, prefix 00}, as gogoproto marshals it. */
static const uint8_t leaf_op[] = {
	TAG_VARINT(1), HASHOP_SHA256, TAG_VARINT(3), HASHOP_SHA256,
	TAG_VARINT(4), LENGTHOP_VAR_PROTO, TAG_BYTES(5), 1, 0x00,
};
/* InnerOp{hash SHA256, prefix 01 [‖ sibling], suffix [sibling]}: 39 bytes with the sibling in
 * the suffix, 37 with it in the prefix. */
#define INNER_SUFFIX_LEN (2 + 3 + 2 + 32)
#define INNER_PREFIX_LEN (2 + 2 + 1 + 32)

static size_t field_len(size_t n)
{
	return 1 + uvarint_len(n) + n;
}

static uint8_t *put_hdr(uint8_t *w, uint8_t tag, size_t n)
{
	*w++ = tag;
	return w + put_uvarint(w, n);
}

int commit_info_prove(const struct mstore_root *s, size_t n, size_t idx, struct buf *out)
{
	struct cstep st[64];
	const struct mstore_root *me;
	size_t depth, body, total;
	uint8_t *w, *start;

	if (!s || !out || idx >= n)
		return err_set(IODB_EINVAL, "commit_info_prove: store %zu of %zu", idx, n);
	me = &s[idx];
	if ((!me->name && me->nlen) || me->nlen > UINT32_MAX)
		return err_set(IODB_EINVAL, "commit_info_prove: bad store name");
	depth = commit_path(s, n, idx, st);
	body = (me->nlen ? field_len(me->nlen) : 0) + field_len(32) + field_len(sizeof(leaf_op));
	for (size_t i = 0; i < depth; i++)
		body += field_len(st[i].sibling_left ? INNER_PREFIX_LEN : INNER_SUFFIX_LEN);
	total = field_len(body);
	RET(buf_reserve(out, total));
	start = w = out->p + out->len;
	w = put_hdr(w, TAG_BYTES(1), body); /* CommitmentProof.exist */
	if (me->nlen) {
		w = put_hdr(w, TAG_BYTES(1), me->nlen);
		memcpy(w, me->name, me->nlen);
		w += me->nlen;
	}
	w = put_hdr(w, TAG_BYTES(2), 32);
	memcpy(w, me->root, 32);
	w += 32;
	w = put_hdr(w, TAG_BYTES(3), sizeof(leaf_op));
	memcpy(w, leaf_op, sizeof(leaf_op));
	w += sizeof(leaf_op);
	/* ICS23 paths run from the leaf up; commit_path found the levels root first. */
	for (size_t i = depth; i-- > 0;) {
		const struct cstep *c = &st[i];

		w = put_hdr(w, TAG_BYTES(4), c->sibling_left ? INNER_PREFIX_LEN : INNER_SUFFIX_LEN);
		*w++ = TAG_VARINT(1);
		*w++ = HASHOP_SHA256;
		if (c->sibling_left) {
			w = put_hdr(w, TAG_BYTES(2), 33);
			*w++ = 0x01;
			memcpy(w, c->sibling, 32);
			w += 32;
		} else {
			w = put_hdr(w, TAG_BYTES(2), 1);
			*w++ = 0x01;
			w = put_hdr(w, TAG_BYTES(3), 32);
			memcpy(w, c->sibling, 32);
			w += 32;
		}
	}
	assert((size_t)(w - start) == total);
	(void)start; /* NDEBUG builds */
	out->len += total;
	return 0;
}
