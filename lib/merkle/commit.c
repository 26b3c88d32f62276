/*
 * commit.c — the Cosmos SDK commit-info hash (the "app hash") over a version's stores.
 *
 * ../shared/IAVL.md §4.8: each store is a leaf uvarint(len name) ‖ name ‖ uvarint(32) ‖
 * SHA-256(store root), leaves in name order, combined by CometBFT's simple Merkle tree
 * (leaf = SHA-256(0x00 ‖ leaf), inner = SHA-256(0x01 ‖ left ‖ right), split at the largest
 * power of two below n). No stores: SHA-256("").
 */
#define OPENSSL_SUPPRESS_DEPRECATED
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

static void tree_hash(const struct mstore_root *s, size_t n, uint8_t out[32])
{
	uint8_t buf[65];
	size_t k = 1;

	if (n == 1) {
		leaf_hash(s, out);
		return;
	}
	while (k * 2 < n)
		k *= 2;
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
