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
/* The root a CommitmentProof hashes to, as ics23's Calculate (an existence proof's, or a
 * non-existence proof's left neighbour's, else its right one's), with only the checks
 * hashing needs: verify the proof against it with ics23_verify. 0 or IODB_EPROOF. */
int ics23_calc_root(const uint8_t *proof, size_t plen, uint8_t root[32]);
/* Verify a CommitmentProof{exist} under ics23's TendermintSpec (the commit-info tree's
 * proofs, lib/merkle/commit.c): key has value val in the tree whose root is root. 0,
 * IODB_EPROOF (iodb_errmsg says why) or IODB_EINVAL. */
int ics23_verify_simple(const uint8_t root[32], const uint8_t *proof, size_t plen,
			const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen);


/* ---- IAVL trees (lib/merkle/tree.c) ---------------------------------------------------- */

/*
 * A node of a persistent IAVL tree. Versions share unchanged subtrees; nodes are
 * reference-counted (a parent or a root holds one reference per child). A node is immutable
 * once the version that made it is finished, and every node reachable from a finished root
 * is hashed, so readers on any thread may walk finished trees without locks.
 *
 * A pointer to a node is either a heap node (struct mnode) or, with its lowest bit set, a
 * record of a mapped snapshot (a "persisted" node, lib/merkle/snap.c): (pref << 1) | 1, pref
 * as below. Persisted nodes are read in place through the tree's struct mtsnap; they are
 * never freed or changed, and references on them are no-ops. Code outside tree.c and snap.c
 * reads nodes with mnode_info, never through the struct.
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
	uint64_t pid;  /* where the snapshot writer put it (writer thread only; snap.c) */
	uint8_t key[]; /* leaf: its key; inner: the smallest key of its right subtree */
};

/* ---- Persisted nodes (lib/merkle/snap.c) ----------------------------------------------- */

/* pref: bits 40..47 the layer, bit 39 set for a leaf, bits 0..38 the record's index. */
#define MPREF_LEAF ((uint64_t)1 << 39)
#define MPREF_INDEX(r) ((r) & (MPREF_LEAF - 1))
#define MPREF_LAYER(r) ((uint32_t)((r) >> 40) & 0xff)
#define MPREF(layer, leaf, index) \
	((uint64_t)(layer) << 40 | ((leaf) ? MPREF_LEAF : 0) | (uint64_t)(index))
#define MLAYERS_MAX 64

static inline int mnode_persisted(const struct mnode *n)
{
	return (uintptr_t)n & 1;
}
static inline uint64_t mnode_pref(const struct mnode *n)
{
	return (uint64_t)(uintptr_t)n >> 1;
}
static inline struct mnode *mnode_from_pref(uint64_t pref)
{
	return (struct mnode *)(uintptr_t)(pref << 1 | 1);
}

/* One store's files of one snapshot, mapped. A full layer has memiavl's 48-byte branch
 * records (children found by arithmetic); an incremental layer has 72-byte records that name
 * their children and key leaf (they may lie in lower layers). Both have 48-byte leaves and a
 * keys file of u32 length + key. Validated when loaded: every index a record leads to is in
 * range, so the accessors need no checks. */
struct mlayer {
	const uint8_t *nodes, *leaves, *keys;
	uint64_t nbranch, nleaf, keys_len;
	int full;
};
/* The persisted part of one store's trees: a full layer and the incrementals on it. */
struct mtsnap {
	_Atomic uint32_t refs;
	uint32_t nlayers;
	struct mlayer layer[MLAYERS_MAX];
	uint32_t wid[MLAYERS_MAX]; /* the snapshot writer's id for each layer (snap.c) */
	uint64_t *remap;	   /* writer thread only: where a rewrite put each record */
	uint32_t remap_wid;	   /* the writer id remap's entries are for */
	uint64_t remap_n;
};
void mtsnap_ref(struct mtsnap *s);
void mtsnap_unref(struct mtsnap *s); /* NULL ok */

/* Everything about a node, whichever kind it is. */
struct minfo {
	uint64_t version;
	uint32_t size;
	uint8_t height;
	const uint8_t *key;
	size_t klen;
	const uint8_t *hash; /* valid for finished trees */
	struct mnode *left, *right; /* inner nodes */
};
void mnode_info(const struct mtsnap *s, const struct mnode *n, struct minfo *i);

/* One version's build: nodes it makes get gen and version; it may change them in place. */
struct mbuild {
	uint32_t gen;
	uint64_t version;
	struct buf newkey; /* scratch for removals */
	uint64_t created;  /* nodes made so far */
	const struct mtsnap *snap; /* persisted nodes of the tree being changed (NULL: none) */
};

void mbuild_init(struct mbuild *b, uint32_t gen, uint64_t version);
void mbuild_free(struct mbuild *b);

void mnode_ref(struct mnode *n);
void mnode_unref(struct mnode *n); /* NULL ok; frees what no one else holds */

/*
 * A build changes a working root in place: start it at a finished root (the parent
 * version's; the pointer is borrowed, no reference needed), apply sets and removes, then
 * either mtree_finish (the working root now holds a reference, its tree is finished) or
 * mtree_abort. Finished trees are never changed. b->snap must be the tree's persisted part
 * for every call on it.
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
int mtree_hash(const struct mtsnap *s, struct mnode *root, int threads, uint8_t out[32]);
/* The leaf holding key, or NULL. */
const struct mnode *mtree_get(const struct mtsnap *s, const struct mnode *root,
			      const uint8_t *key, size_t klen);
/* Existence-proof path for key (must be present): fills steps (capacity 160), leaf. */
int mtree_path(const struct mtsnap *s, const struct mnode *root, const uint8_t *key,
	       size_t klen, struct mproof_step *steps, size_t *nsteps, const struct mnode **leaf);
/* The largest key < key (*left) and the smallest key > key (*right); NULL where none. */
void mtree_neighbors(const struct mtsnap *s, const struct mnode *root, const uint8_t *key,
		     size_t klen, const struct mnode **left, const struct mnode **right);
/* A finished node made outside any build (import): a leaf (l NULL) or an inner node over l
 * and r, whose references it takes. Unhashed; mtree_hash hashes it. NULL: out of memory. */
struct mnode *mnode_new(uint64_t version, const uint8_t *key, size_t klen,
			const uint8_t vhash[32], struct mnode *l, struct mnode *r);
/* The hash a leaf of key at version with a value of SHA-256 vhash has. */
void mleaf_hash(uint64_t version, const uint8_t *key, size_t klen, const uint8_t vhash[32],
		uint8_t out[32]);
/* The hash of an inner node over children hashes l and r. */
void minner_hash(uint8_t height, uint64_t size, uint64_t version, const uint8_t l[32],
		 const uint8_t r[32], uint8_t out[32]);

/* ---- Snapshot layers (lib/merkle/snap.c) ---------------------------------------------- */

/* What a layer's files hold; kept in the snapshot's metadata (lib/db/snapshot.c). */
struct mlayer_meta {
	uint64_t nbranch, nleaf, keys_len;
	uint32_t crc_nodes, crc_leaves, crc_keys;
	int full;
};
/* The layers a store's next incremental builds on: wid[i] names layer i (the snapshot
 * writer's ids; layer 0 a full layer). */
struct mchain {
	uint32_t n;
	uint32_t wid[MLAYERS_MAX];
};

/*
 * Write one store's tree (root, its persisted part in s) as layer files prefix.nodes,
 * prefix.leaves, prefix.keys, each fdatasynced. chain NULL writes a full layer; otherwise
 * an incremental layer number chain->n holding only the nodes not already in the chain's
 * layers. wid is this write's id (unique in the process, < 2^24): the heap nodes written get
 * it in their pid, so a later incremental can name them. Files that already exist are
 * resumed: their bytes are compared with what would be written and kept up to the first
 * difference (*reused counts the bytes kept). Fills m and *root_pref.
 */
int mlayer_write(struct env *env, const char *prefix, struct mtsnap *s, const struct mnode *root,
		 const struct mchain *chain, uint32_t wid, struct mlayer_meta *m,
		 uint64_t *root_pref, uint64_t *reused);
/* Map layers 0..n-1 (prefixes[i], described by m[i]), check their checksums and every
 * record, and return the tree whose root is root_pref in the top layer (*root NULL for an
 * empty tree: root_pref UINT64_MAX). IODB_ECORRUPT names the file at fault. */
int mtsnap_load(struct env *env, uint32_t n, char *const *prefixes, const struct mlayer_meta *m,
		uint64_t root_pref, struct mtsnap **out, struct mnode **root);
#define MPREF_NONE UINT64_MAX

/* ---- Commit info (lib/merkle/commit.c) ------------------------------------------------- */

struct mstore_root {
	const char *name;
	size_t nlen;
	uint8_t root[32];
};
/* The Cosmos SDK CommitInfo hash over stores sorted by name (the caller sorts). */
void commit_info_hash(const struct mstore_root *s, size_t n, uint8_t out[32]);
/* Append the ICS23 CommitmentProof{exist} of (s[idx].name -> s[idx].root) in the commit-info
 * tree of s[0..n) (sorted by name, as commit_info_hash takes them), under TendermintSpec,
 * in the bytes the Cosmos SDK's gogoproto marshals. 0, IODB_EINVAL or IODB_ENOMEM. */
int commit_info_prove(const struct mstore_root *s, size_t n, size_t idx, struct buf *out);

/* ---- Proofs up to the commit hash (lib/merkle/proofops.c) ------------------------------ */

/* Append a tendermint.crypto.ProofOps of two ops: {"ics23:iavl", key, iavl} (the key's
 * CommitmentProof against its store root) then {"ics23:simple", store, simple} (the store
 * root's against the commit hash, from commit_info_prove). 0, IODB_EINVAL or IODB_ENOMEM. */
int proofops_encode(struct buf *out, const void *key, size_t klen, const void *iavl,
		    size_t ilen, const uint8_t *store, size_t nlen, const void *simple,
		    size_t slen);

/* SHA-256 of p (libcrypto, low-level API: the fastest call for short messages). */
void sha256(const void *p, size_t n, uint8_t out[32]);

#endif /* IODB_MERKLE_H */
