/*
 * merkle.h — the face of lib/merkle: IAVL trees (cosmos/iavl v1 hashes), the commit-info
 * hash, and ICS23 proofs. See docs/merkle.md.
 */
#ifndef IODB_MERKLE_H
#define IODB_MERKLE_H

#include <stdatomic.h>

#include "lib/base/base.h"

/* ---- ICS23 proofs (lib/merkle/proof.c) ------------------------------------------------- */

/* One step of an existence proof, from the leaf's parent up to the root. */
struct mproof_step {
	int64_t height, size, version; /* of that inner node */
	int right;		       /* the walk went right: sibling is the left child */
	uint8_t sibling[32];	       /* hash of the other child */
};

struct mproof_exist {
	const uint8_t *key;
	size_t klen;
	const uint8_t *val;
	size_t vlen;
	int64_t leaf_version;
	const struct mproof_step *path; /* path[0] is the leaf's parent; path[npath-1] the root */
	size_t npath;
};

/* Append a protobuf CommitmentProof{exist} to out. */
int ics23_encode_exist(struct buf *out, const struct mproof_exist *e);
/* Append a protobuf CommitmentProof{nonexist{key, left, right}}; left/right may be NULL. */
int ics23_encode_nonexist(struct buf *out, const uint8_t *key, size_t klen,
			  const struct mproof_exist *left, const struct mproof_exist *right);
/* Verify a CommitmentProof under the IAVL spec against root: with val non-NULL that key has
 * value val, with val NULL that key is absent. 0, IODB_EPROOF (iodb_errmsg says why), or
 * IODB_EINVAL for bad arguments. Every byte of proof is bounds-checked. */
int ics23_verify(const uint8_t root[32], const uint8_t *proof, size_t plen, const uint8_t *key,
		 size_t klen, const uint8_t *val, size_t vlen);

#endif /* IODB_MERKLE_H */

/* ---- IAVL trees (lib/merkle/tree.c) ---------------------------------------------------- */

/*
 * A node of a persistent IAVL tree. Versions share unchanged subtrees; nodes are
 * reference-counted (a parent or a root holds one reference per child). A node is immutable
 * once the version that made it is finished, and every node reachable from a finished root
 * is hashed, so readers on any thread may walk finished trees without locks.
 */
struct mnode {
	_Atomic uint32_t refs;
	uint32_t gen;	  /* the build that made it; that build may still change it in place */
	uint64_t version; /* IAVL version: the height of the version that made it */
	uint32_t size;	  /* leaves below (1 for a leaf) */
	uint16_t klen;
	uint8_t height; /* 0 for a leaf */
	uint8_t hashed;
	uint8_t hash[32];
	union {
		struct {
			struct mnode *left, *right;
		} c;		  /* inner nodes */
		uint8_t vhash[32]; /* leaves: SHA-256 of the value */
	} u;
	uint8_t key[]; /* leaf: its key; inner: the smallest key of its right subtree */
};

/* One version's build: nodes it makes get gen and version; it may change them in place. */
struct mbuild {
	uint32_t gen;
	uint64_t version;
	struct buf newkey; /* scratch for removals */
	uint64_t created;  /* nodes made so far */
};

void mbuild_init(struct mbuild *b, uint32_t gen, uint64_t version);
void mbuild_free(struct mbuild *b);

void mnode_ref(struct mnode *n);
void mnode_unref(struct mnode *n); /* NULL ok; frees what no one else holds */

/*
 * A build changes a working root in place: start it at a finished root (the parent
 * version's; the pointer is borrowed, no reference needed), apply sets and removes, then
 * either mtree_finish (the working root now holds a reference, its tree is finished) or
 * mtree_abort. Finished trees are never changed.
 */
/* Set key to a value whose SHA-256 is vhash. *root (NULL = empty) is replaced. */
int mtree_set(struct mbuild *b, struct mnode **root, const uint8_t *key, size_t klen,
	      const uint8_t vhash[32]);
/* Remove key; a key that is absent leaves the tree exactly as it was (*removed = 0). */
int mtree_remove(struct mbuild *b, struct mnode **root, const uint8_t *key, size_t klen,
		 int *removed);
/* A second thread lent to mtree_finish: start(ctx, fn, arg) runs fn(arg) beside the caller
 * and returns 1, or returns 0 if the thread is busy (the caller then runs fn itself);
 * wait(ctx) waits for a started fn. */
struct mpar {
	int (*start)(void *ctx, void (*fn)(void *arg), void *arg);
	void (*wait)(void *ctx);
	void *ctx;
};
/* End a build of root: take the references its nodes need and, with hash, hash them (the
 * two halves of a build of more than a few hundred nodes side by side when par is given) and
 * put the root hash in out. */
int mtree_finish(struct mbuild *b, struct mnode *root, int hash, const struct mpar *par,
		 uint8_t out[32]);
/* Abandon a build: free its nodes; root's borrowed parts are untouched. */
void mtree_abort(struct mbuild *b, struct mnode *root);
/* Hash every unhashed node under a finished root, on up to `threads` threads; out = root hash
 * (SHA-256("") for the empty tree). */
int mtree_hash(struct mnode *root, int threads, uint8_t out[32]);
/* The leaf holding key, or NULL. */
const struct mnode *mtree_get(const struct mnode *root, const uint8_t *key, size_t klen);
/* Existence-proof path for key (must be present): fills steps (capacity 160), leaf. */
int mtree_path(const struct mnode *root, const uint8_t *key, size_t klen,
	       struct mproof_step *steps, size_t *nsteps, const struct mnode **leaf);
/* The largest key < key (*left) and the smallest key > key (*right); NULL where none. */
void mtree_neighbors(const struct mnode *root, const uint8_t *key, size_t klen,
		     const struct mnode **left, const struct mnode **right);

/* ---- Commit info (lib/merkle/commit.c) ------------------------------------------------- */

struct mstore_root {
	const char *name;
	size_t nlen;
	uint8_t root[32];
};
/* The Cosmos SDK CommitInfo hash over stores sorted by name (the caller sorts). */
void commit_info_hash(const struct mstore_root *s, size_t n, uint8_t out[32]);

/* SHA-256 of p (libcrypto, low-level API: the fastest call for short messages). */
void sha256(const void *p, size_t n, uint8_t out[32]);
