/*
 * proof.c — ICS23 proofs over IAVL trees: the protobuf encoder for existence and
 * non-existence proofs, and a verifier that accepts what cosmos/ics23-go's VerifyMembership
 * and VerifyNonMembership accept under IavlSpec (ics23 go/ics23.go, go/proof.go, go/ops.go,
 * go/proofs.pb.go; the IAVL rules in docs/merkle.md and /work/shared/IAVL.md §3).
 *
 * Encoding. A CommitmentProof holds one ExistenceProof (field 1) or NonExistenceProof
 * (field 2), written the way gogoproto marshals them: fields in field-number order, zero
 * scalars and empty byte strings left out, a present sub-message always written even when
 * empty. The IAVL node of every step is rebuilt into the InnerOp as
 *     prefix = varint(height) varint(size) varint(version) 0x20 [sibling 0x20]
 * with the sibling in the prefix when the walk went right and in the suffix when it went
 * left, so that sha256(prefix ‖ child ‖ suffix) is the node's hash (IAVL.md §1).
 *
 * Decoding is zero-copy: the decoded proof borrows spans of the caller's bytes, so nothing
 * is allocated per field and a length can never point past the input (every length is
 * checked against what is left of its enclosing message). It mirrors gogoproto's generated
 * Unmarshal where that decides acceptance: a repeated singular field wins last, a repeated
 * sub-message merges into the earlier one, a repeated oneof member replaces it, unknown
 * fields (groups included) are skipped when well formed, enum varints are cut to 32 bits and
 * field numbers to int32. Nesting is fixed by the schema (CommitmentProof → NonExistence →
 * Existence → Leaf/InnerOp); skipping a group is a loop with a counter, never recursion.
 *
 * Verification follows ics23-go step by step: CheckAgainstSpec (leaf op exactly IavlSpec's,
 * at most 128 inner ops, each SHA-256 with a prefix of 4..45 bytes not starting 0x00, a
 * suffix a multiple of 33, and validateIavlOps: three non-negative varints, height ≥ layer,
 * exactly 1 or 34 bytes after them — none after them for the leaf), then key and value,
 * then the hash chain against the root. Non-existence adds left < key < right and the
 * neighbour test on the two paths (IsLeftMost / IsRightMost / IsLeftNeighbor with IavlSpec's
 * padding: a step that went left has a 4..12-byte prefix and a 33-byte suffix, one that went
 * right a 37..45-byte prefix and no suffix).
 *
 * Where we differ from ics23-go, we reject what it would accept or panic on, never the
 * other way round: a non-existence proof must name the key asked about (ics23 ignores that
 * field); batch and compressed proofs are not supported; the inputs on which ics23-go
 * panics (neighbour paths that run out, or a divergent step with no valid padding) are
 * EPROOF; proofs over PROOF_MAX_BYTES are refused before decoding.
 *
 * Proofs up to the commit hash (proofops.c) add two entry points: ics23_calc_root, the root
 * a proof hashes to (ics23's Calculate), which the key's proof is then verified against; and
 * ics23_verify_simple, an existence proof under TendermintSpec, for the store root in the
 * commit-info tree (same decoder, same leaf formula with prefix 00, and inner ops held to
 * exactly the shapes that tree has).
 *
 * No state, no locks: every call works on its own arguments and one heap block.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <assert.h>
#include <openssl/sha.h>

#include "lib/merkle/merkle.h"

/* A proof of an absent key carries both neighbours' keys and values: bound it by that, so
 * every proof iodb_prove can make is accepted here. */
#define PROOF_MAX_BYTES (2 * ((uint64_t)IODB_MAX_VALUE + IODB_MAX_KEY) + (1u << 20))

/* IavlSpec (ics23 go/proof.go) and the enum values of ics23's proofs.proto. */
#define HASHOP_NO_HASH 0
#define HASHOP_SHA256 1
#define LENGTHOP_VAR_PROTO 1
#define MAX_DEPTH 128
#define CHILD_SIZE 33
#define MIN_PREFIX 4
#define MAX_PREFIX 12
#define HASH_LEN 32

/* Protobuf wire types. */
#define WT_VARINT 0
#define WT_FIXED64 1
#define WT_BYTES 2
#define WT_SGROUP 3
#define WT_EGROUP 4
#define WT_FIXED32 5

/* Every span points somewhere, so that a reader over an empty span does no NULL arithmetic. */
static const uint8_t no_bytes[1];

struct span {
	const uint8_t *p;
	size_t n;
};

struct pb_leaf {
	int32_t hash, prehash_key, prehash_value, length;
	struct span prefix;
};

struct pb_inner {
	int32_t hash;
	struct span prefix, suffix;
};

struct pb_exist {
	int present; /* the message was on the wire (a non-nil pointer in Go) */
	int has_leaf;
	struct span key, value;
	struct pb_leaf leaf;
	size_t npath; /* may exceed MAX_DEPTH: only the first MAX_DEPTH are kept */
	struct pb_inner path[MAX_DEPTH];
};

struct pb_nonexist {
	struct span key;
	struct pb_exist left, right;
};

enum proof_kind { PROOF_NONE, PROOF_EXIST, PROOF_NONEXIST };

struct pb_proof {
	enum proof_kind kind;
	struct pb_exist exist;
	struct pb_nonexist nonexist;
};

/* Where and why decoding stopped, for the error message. */
struct dec {
	const uint8_t *base;
	const char *why;
	size_t at;
};

/* ---- Protobuf reading ----------------------------------------------------------------- */

static int dec_fail(struct dec *d, const struct rd *r, const char *why)
{
	if (!d->why) {
		d->why = why;
		d->at = (size_t)(r->p - d->base);
	}
	return -1;
}

/* gogoproto's varint: at most 10 bytes, bits past 64 dropped (it accepts those). */
static int pb_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t c;

		if (rd_u8(r, &c))
			return -1;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (c < 0x80) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Go's int32(x): the low 32 bits, two's complement. */
static int32_t low_int32(uint64_t x)
{
	uint32_t u = (uint32_t)x;

	return u <= INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

static int pb_tag(struct dec *d, struct rd *r, int32_t *field, unsigned *wt)
{
	uint64_t w;

	if (pb_varint(r, &w))
		return dec_fail(d, r, "bad field tag");
	*wt = (unsigned)(w & 7);
	*field = low_int32(w >> 3);
	if (*wt == WT_EGROUP)
		return dec_fail(d, r, "end-group tag outside a group");
	if (*field <= 0)
		return dec_fail(d, r, "field number 0 or negative");
	return 0;
}

static int pb_bytes(struct dec *d, struct rd *r, unsigned wt, struct span *s)
{
	uint64_t n;

	if (wt != WT_BYTES)
		return dec_fail(d, r, "wrong wire type for a length-delimited field");
	if (pb_varint(r, &n) || n > rd_left(r))
		return dec_fail(d, r, "length runs past the end of its message");
	s->p = r->p;
	s->n = (size_t)n;
	r->p += n;
	return 0;
}

static int pb_enum(struct dec *d, struct rd *r, unsigned wt, int32_t *v)
{
	uint64_t x;

	if (wt != WT_VARINT)
		return dec_fail(d, r, "wrong wire type for an enum field");
	if (pb_varint(r, &x))
		return dec_fail(d, r, "bad varint");
	*v = low_int32(x);
	return 0;
}

/*
 * Skip an unknown field whose tag (wire type wt) has been read, as gogoproto's skip does: a
 * group runs to its matching end-group, counting nested groups instead of recursing.
 */
static int pb_skip(struct dec *d, struct rd *r, unsigned wt)
{
	size_t depth = 0;

	for (;;) {
		uint64_t v;
		const uint8_t *p;

		switch (wt) {
		case WT_VARINT:
			if (pb_varint(r, &v))
				return dec_fail(d, r, "bad varint in an unknown field");
			break;
		case WT_FIXED64:
			if (rd_bytes(r, 8, &p))
				return dec_fail(d, r, "truncated fixed64 field");
			break;
		case WT_BYTES:
			if (pb_varint(r, &v) || v > rd_left(r))
				return dec_fail(d, r, "length runs past the end of its message");
			r->p += v;
			break;
		case WT_SGROUP:
			depth++;
			break;
		case WT_EGROUP:
			if (depth == 0)
				return dec_fail(d, r, "unmatched end-group tag");
			depth--;
			break;
		case WT_FIXED32:
			if (rd_bytes(r, 4, &p))
				return dec_fail(d, r, "truncated fixed32 field");
			break;
		default:
			return dec_fail(d, r, "invalid wire type");
		}
		if (depth == 0)
			return 0;
		if (pb_varint(r, &v))
			return dec_fail(d, r, "group not closed");
		wt = (unsigned)(v & 7);
	}
}

static void span_init(struct span *s)
{
	s->p = no_bytes;
	s->n = 0;
}

static void exist_reset(struct pb_exist *e)
{
	e->present = e->has_leaf = 0;
	span_init(&e->key);
	span_init(&e->value);
	memset(&e->leaf, 0, sizeof(e->leaf));
	span_init(&e->leaf.prefix);
	e->npath = 0;
}

/* LeafOp{hash=1, prehash_key=2, prehash_value=3, length=4, prefix=5}; merges into l. */
static int dec_leaf(struct dec *d, struct span s, struct pb_leaf *l)
{
	struct rd r;

	rd_init(&r, s.p, s.n);
	while (rd_left(&r)) {
		int32_t f;
		unsigned wt;

		if (pb_tag(d, &r, &f, &wt))
			return -1;
		switch (f) {
		case 1:
			if (pb_enum(d, &r, wt, &l->hash))
				return -1;
			break;
		case 2:
			if (pb_enum(d, &r, wt, &l->prehash_key))
				return -1;
			break;
		case 3:
			if (pb_enum(d, &r, wt, &l->prehash_value))
				return -1;
			break;
		case 4:
			if (pb_enum(d, &r, wt, &l->length))
				return -1;
			break;
		case 5:
			if (pb_bytes(d, &r, wt, &l->prefix))
				return -1;
			break;
		default:
			if (pb_skip(d, &r, wt))
				return -1;
		}
	}
	return 0;
}

/* InnerOp{hash=1, prefix=2, suffix=3}. */
static int dec_inner(struct dec *d, struct span s, struct pb_inner *op)
{
	struct rd r;

	op->hash = 0;
	span_init(&op->prefix);
	span_init(&op->suffix);
	rd_init(&r, s.p, s.n);
	while (rd_left(&r)) {
		int32_t f;
		unsigned wt;

		if (pb_tag(d, &r, &f, &wt))
			return -1;
		switch (f) {
		case 1:
			if (pb_enum(d, &r, wt, &op->hash))
				return -1;
			break;
		case 2:
			if (pb_bytes(d, &r, wt, &op->prefix))
				return -1;
			break;
		case 3:
			if (pb_bytes(d, &r, wt, &op->suffix))
				return -1;
			break;
		default:
			if (pb_skip(d, &r, wt))
				return -1;
		}
	}
	return 0;
}

/* ExistenceProof{key=1, value=2, leaf=3, path=4 repeated}; merges into e as gogoproto does. */
static int dec_exist(struct dec *d, struct span s, struct pb_exist *e)
{
	struct rd r;

	e->present = 1;
	rd_init(&r, s.p, s.n);
	while (rd_left(&r)) {
		int32_t f;
		unsigned wt;
		struct span sub;
		struct pb_inner scratch;

		if (pb_tag(d, &r, &f, &wt))
			return -1;
		switch (f) {
		case 1:
			if (pb_bytes(d, &r, wt, &e->key))
				return -1;
			break;
		case 2:
			if (pb_bytes(d, &r, wt, &e->value))
				return -1;
			break;
		case 3:
			if (pb_bytes(d, &r, wt, &sub) || dec_leaf(d, sub, &e->leaf))
				return -1;
			e->has_leaf = 1;
			break;
		case 4:
			/* Ops past MAX_DEPTH are still decoded (a malformed one fails the whole
			 * proof, as in Go), then dropped: the depth check rejects the proof. */
			if (pb_bytes(d, &r, wt, &sub) ||
			    dec_inner(d, sub, e->npath < MAX_DEPTH ? &e->path[e->npath] : &scratch))
				return -1;
			e->npath++;
			break;
		default:
			if (pb_skip(d, &r, wt))
				return -1;
		}
	}
	return 0;
}

/* NonExistenceProof{key=1, left=2, right=3}. */
static int dec_nonexist(struct dec *d, struct span s, struct pb_nonexist *n)
{
	struct rd r;

	rd_init(&r, s.p, s.n);
	while (rd_left(&r)) {
		int32_t f;
		unsigned wt;
		struct span sub;

		if (pb_tag(d, &r, &f, &wt))
			return -1;
		switch (f) {
		case 1:
			if (pb_bytes(d, &r, wt, &n->key))
				return -1;
			break;
		case 2:
			if (pb_bytes(d, &r, wt, &sub) || dec_exist(d, sub, &n->left))
				return -1;
			break;
		case 3:
			if (pb_bytes(d, &r, wt, &sub) || dec_exist(d, sub, &n->right))
				return -1;
			break;
		default:
			if (pb_skip(d, &r, wt))
				return -1;
		}
	}
	return 0;
}

/* CommitmentProof{exist=1 | nonexist=2 | batch=3 | compressed=4}: a later member replaces. */
static int dec_proof(struct dec *d, const uint8_t *p, size_t n, struct pb_proof *pf)
{
	struct rd r;

	pf->kind = PROOF_NONE;
	rd_init(&r, p, n);
	while (rd_left(&r)) {
		int32_t f;
		unsigned wt;
		struct span sub;

		if (pb_tag(d, &r, &f, &wt))
			return -1;
		switch (f) {
		case 1:
			if (pb_bytes(d, &r, wt, &sub))
				return -1;
			exist_reset(&pf->exist);
			if (dec_exist(d, sub, &pf->exist))
				return -1;
			pf->kind = PROOF_EXIST;
			break;
		case 2:
			if (pb_bytes(d, &r, wt, &sub))
				return -1;
			span_init(&pf->nonexist.key);
			exist_reset(&pf->nonexist.left);
			exist_reset(&pf->nonexist.right);
			if (dec_nonexist(d, sub, &pf->nonexist))
				return -1;
			pf->kind = PROOF_NONEXIST;
			break;
		case 3:
		case 4:
			return dec_fail(d, &r, "batch and compressed proofs are not supported");
		default:
			if (pb_skip(d, &r, wt))
				return -1;
		}
	}
	return 0;
}

/* ---- IavlSpec checks (ics23 go/ops.go CheckAgainstSpec, validateIavlOps) --------------- */

static int span_eq(struct span s, const uint8_t *p, size_t n)
{
	return s.n == n && (n == 0 || memcmp(s.p, p, n) == 0);
}

/* Go's bytes.Compare. */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);

	if (c)
		return c;
	return an < bn ? -1 : an > bn;
}

/*
 * validateIavlOps' reading of a prefix: three varints (height, size, version) as Go's
 * binary.ReadVarint reads them, none negative; *rest is what follows them.
 */
static int iavl_prefix(struct span prefix, int64_t *height, size_t *rest)
{
	struct rd r;

	rd_init(&r, prefix.p, prefix.n);
	for (int i = 0; i < 3; i++) {
		uint64_t u;

		if (rd_uvarint(&r, &u) || (u & 1))
			return -1; /* unreadable, or zigzag-odd: negative */
		if (i == 0)
			*height = (int64_t)(u >> 1);
	}
	*rest = rd_left(&r);
	return 0;
}

static int check_leaf(const struct pb_leaf *l, const char *side)
{
	int64_t h;
	size_t rest;

	if (iavl_prefix(l->prefix, &h, &rest) || rest != 0)
		return err_set(IODB_EPROOF,
			       "ics23: %s: leaf prefix is not exactly three non-negative varints",
			       side);
	if (l->hash != HASHOP_SHA256 || l->prehash_key != HASHOP_NO_HASH ||
	    l->prehash_value != HASHOP_SHA256 || l->length != LENGTHOP_VAR_PROTO)
		return err_set(IODB_EPROOF,
			       "ics23: %s: leaf op is not IavlSpec's (hash %d, prehash key %d, "
			       "prehash value %d, length %d)",
			       side, l->hash, l->prehash_key, l->prehash_value, l->length);
	if (l->prefix.p[0] != 0x00)
		return err_set(IODB_EPROOF, "ics23: %s: leaf prefix does not start with 00", side);
	return 0;
}

/* layer: 1 for the op just above the leaf. */
static int check_inner(const struct pb_inner *op, size_t layer, const char *side)
{
	int64_t h;
	size_t rest;

	if (op->hash != HASHOP_SHA256)
		return err_set(IODB_EPROOF, "ics23: %s: inner op %zu has hash op %d, not SHA256",
			       side, layer, op->hash);
	if (iavl_prefix(op->prefix, &h, &rest))
		return err_set(IODB_EPROOF,
			       "ics23: %s: inner op %zu prefix does not open with three "
			       "non-negative varints",
			       side, layer);
	if (h < (int64_t)layer)
		return err_set(IODB_EPROOF, "ics23: %s: inner op %zu has height %lld", side, layer,
			       (long long)h);
	if (rest != 1 && rest != 1 + CHILD_SIZE)
		return err_set(IODB_EPROOF,
			       "ics23: %s: inner op %zu prefix has %zu bytes after its varints, "
			       "not 1 or 34",
			       side, layer, rest);
	/* Implied by the height rule (00 reads as height 0), kept as ics23 has both. */
	if (op->prefix.p[0] == 0x00)
		return err_set(IODB_EPROOF, "ics23: %s: inner op %zu prefix starts with 00", side,
			       layer);
	if (op->prefix.n < MIN_PREFIX || op->prefix.n > MAX_PREFIX + CHILD_SIZE)
		return err_set(IODB_EPROOF, "ics23: %s: inner op %zu prefix of %zu bytes", side,
			       layer, op->prefix.n);
	if (op->suffix.n % CHILD_SIZE)
		return err_set(IODB_EPROOF,
			       "ics23: %s: inner op %zu suffix of %zu bytes, not a multiple of 33",
			       side, layer, op->suffix.n);
	return 0;
}

static int check_exist_spec(const struct pb_exist *e, const char *side)
{
	if (!e->has_leaf)
		return err_set(IODB_EPROOF, "ics23: %s: no leaf op", side);
	RET(check_leaf(&e->leaf, side));
	if (e->npath > MAX_DEPTH)
		return err_set(IODB_EPROOF, "ics23: %s: %zu inner ops, more than %d", side,
			       e->npath, MAX_DEPTH);
	for (size_t i = 0; i < e->npath; i++)
		RET(check_inner(&e->path[i], i + 1, side));
	return 0;
}

/* ---- Hashing ------------------------------------------------------------------------- */

/* LeafOp.Apply under IavlSpec:
 * sha256(prefix ‖ uvarint(len key) ‖ key ‖ 0x20 ‖ sha256(value)). */
static void leaf_hash(struct span prefix, struct span key, struct span value,
		      uint8_t out[HASH_LEN])
{
	SHA256_CTX c;
	uint8_t vh[HASH_LEN], len[UVARINT_MAX];
	uint8_t vh_len = HASH_LEN; /* VAR_PROTO length of the prehashed value */

	SHA256_Init(&c);
	SHA256_Update(&c, value.p, value.n);
	SHA256_Final(vh, &c);
	SHA256_Init(&c);
	SHA256_Update(&c, prefix.p, prefix.n);
	SHA256_Update(&c, len, put_uvarint(len, key.n));
	SHA256_Update(&c, key.p, key.n);
	SHA256_Update(&c, &vh_len, 1);
	SHA256_Update(&c, vh, HASH_LEN);
	SHA256_Final(out, &c);
}

static void inner_hash(const struct pb_inner *op, uint8_t child[HASH_LEN])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, op->prefix.p, op->prefix.n);
	SHA256_Update(&c, child, HASH_LEN);
	SHA256_Update(&c, op->suffix.p, op->suffix.n);
	SHA256_Final(child, &c);
}

/* ExistenceProof.Verify with the proof's own key and value (both already compared). */
static int verify_exist(const struct pb_exist *e, const uint8_t root[HASH_LEN], const char *side)
{
	uint8_t h[HASH_LEN];

	RET(check_exist_spec(e, side));
	/* ics23's LeafOp.Apply refuses both; IAVL allows an empty value, ics23 cannot prove it. */
	if (e->key.n == 0)
		return err_set(IODB_EPROOF, "ics23: %s: empty key", side);
	if (e->value.n == 0)
		return err_set(IODB_EPROOF, "ics23: %s: empty value (ics23 cannot prove it)", side);
	leaf_hash(e->leaf.prefix, e->key, e->value, h);
	for (size_t i = 0; i < e->npath; i++)
		inner_hash(&e->path[i], h);
	if (memcmp(h, root, HASH_LEN) != 0)
		return err_set(IODB_EPROOF, "ics23: %s: calculated root does not match", side);
	return 0;
}

/* ---- Neighbours (ics23 go/proof.go IsLeftMost, IsRightMost, IsLeftNeighbor) ------------ */

/*
 * IavlSpec's padding: the op of a step whose child is the left one (branch 0) carries the
 * sibling in a 33-byte suffix; of a right child (branch 1), in the prefix. With EmptyChild
 * nil, the empty-branch escapes of ics23 never apply.
 */
static int branch_of(const struct pb_inner *op)
{
	size_t p = op->prefix.n, s = op->suffix.n;

	if (p >= MIN_PREFIX && p <= MAX_PREFIX && s == CHILD_SIZE)
		return 0;
	if (p >= MIN_PREFIX + CHILD_SIZE && p <= MAX_PREFIX + CHILD_SIZE && s == 0)
		return 1;
	return -1;
}

/* Every step of path[0..n) took branch b. */
static int all_branch(const struct pb_inner *path, size_t n, int b)
{
	for (size_t i = 0; i < n; i++)
		if (branch_of(&path[i]) != b)
			return 0;
	return 1;
}

static int ops_eq(const struct pb_inner *a, const struct pb_inner *b)
{
	return span_eq(a->prefix, b->prefix.p, b->prefix.n) &&
	       span_eq(a->suffix, b->suffix.p, b->suffix.n);
}

/*
 * Drop the common tail (the shared ancestors, equal ops), then the first divergent ops must
 * be branch 0 on the left and branch 1 on the right, the left path below it all right turns
 * and the right path all left turns. Where ics23-go would index past a path, or panics on a
 * divergent op with no valid padding, this says no.
 */
static int is_left_neighbor(const struct pb_exist *l, const struct pb_exist *r)
{
	size_t i, j;

	if (l->npath == 0 || r->npath == 0)
		return 0;
	i = l->npath - 1;
	j = r->npath - 1;
	while (ops_eq(&l->path[i], &r->path[j])) {
		if (i == 0 || j == 0)
			return 0;
		i--;
		j--;
	}
	return branch_of(&l->path[i]) == 0 && branch_of(&r->path[j]) == 1 &&
	       all_branch(l->path, i, 1) && all_branch(r->path, j, 0);
}

/* NonExistenceProof.Verify. */
static int verify_nonexist(const struct pb_nonexist *n, const uint8_t root[HASH_LEN],
			   const uint8_t *key, size_t klen)
{
	const struct pb_exist *l = n->left.present ? &n->left : NULL;
	const struct pb_exist *r = n->right.present ? &n->right : NULL;

	if (l)
		RET(verify_exist(l, root, "left neighbour"));
	if (r)
		RET(verify_exist(r, root, "right neighbour"));
	if (!l && !r)
		return err_set(IODB_EPROOF, "ics23: non-existence proof has neither neighbour");
	if (r && bytes_cmp(key, klen, r->key.p, r->key.n) >= 0)
		return err_set(IODB_EPROOF, "ics23: key is not left of the right neighbour");
	if (l && bytes_cmp(key, klen, l->key.p, l->key.n) <= 0)
		return err_set(IODB_EPROOF, "ics23: key is not right of the left neighbour");
	if (!l && !all_branch(r->path, r->npath, 0))
		return err_set(IODB_EPROOF, "ics23: no left neighbour, but the right one is not "
					    "the leftmost leaf");
	if (!r && !all_branch(l->path, l->npath, 1))
		return err_set(IODB_EPROOF, "ics23: no right neighbour, but the left one is not "
					    "the rightmost leaf");
	if (l && r && !is_left_neighbor(l, r))
		return err_set(IODB_EPROOF, "ics23: the neighbours are not adjacent leaves");
	return 0;
}

/* ---- Verification entry points -------------------------------------------------------- */

/* Decode a whole CommitmentProof into a heap block the caller frees with mem_free. */
static int proof_decode(const uint8_t *proof, size_t plen, struct pb_proof **out)
{
	struct pb_proof *pf;
	struct dec d = {.base = proof};

	*out = NULL;
	if (plen == 0)
		return err_set(IODB_EPROOF, "ics23: empty proof");
	if (plen > PROOF_MAX_BYTES)
		return err_set(IODB_EPROOF, "ics23: proof of %zu bytes, more than the %llu allowed",
			       plen, (unsigned long long)PROOF_MAX_BYTES);
	if (!(pf = mem_alloc(sizeof(*pf))))
		return err_set(IODB_ENOMEM, "ics23: out of memory decoding a proof");
	if (dec_proof(&d, proof, plen, pf)) {
		mem_free(pf);
		return err_set(IODB_EPROOF, "ics23: malformed proof at byte %zu: %s", d.at, d.why);
	}
	*out = pf;
	return 0;
}

int ics23_verify(const uint8_t root[32], const uint8_t *proof, size_t plen, const uint8_t *key,
		 size_t klen, const uint8_t *val, size_t vlen)
{
	struct pb_proof *pf = NULL;
	int rc = 0;

	if (!root || (!proof && plen) || (!key && klen) || (!val && vlen))
		return err_set(IODB_EINVAL, "ics23_verify: NULL pointer with a length");
	if (!key)
		key = no_bytes;
	RET(proof_decode(proof, plen, &pf));
	if (val) {
		const struct pb_exist *e = &pf->exist;

		if (pf->kind != PROOF_EXIST) {
			rc = err_set(IODB_EPROOF, "ics23: not an existence proof");
			goto out;
		}
		if (!span_eq(e->key, key, klen)) {
			rc = err_set(IODB_EPROOF, "ics23: the proof is for another key");
			goto out;
		}
		if (!span_eq(e->value, val, vlen)) {
			rc = err_set(IODB_EPROOF, "ics23: the proof is for another value");
			goto out;
		}
		rc = verify_exist(e, root, "existence proof");
	} else {
		if (pf->kind != PROOF_NONEXIST) {
			rc = err_set(IODB_EPROOF, "ics23: not a non-existence proof");
			goto out;
		}
		/* Stricter than ics23, which never reads this field. */
		if (!span_eq(pf->nonexist.key, key, klen)) {
			rc = err_set(IODB_EPROOF, "ics23: the non-existence proof is for another key");
			goto out;
		}
		rc = verify_nonexist(&pf->nonexist, root, key, klen);
	}
out:
	mem_free(pf);
	return rc;
}

int iodb_verify_proof(const uint8_t root[32], const void *proof, size_t plen, const void *key,
		      size_t klen, const void *val, size_t vlen)
{
	if (!root)
		return err_set(IODB_EINVAL, "iodb_verify_proof: NULL root");
	if (!proof && plen)
		return err_set(IODB_EINVAL, "iodb_verify_proof: NULL proof with a length");
	if (!key || klen == 0 || klen > IODB_MAX_KEY)
		return err_set(IODB_EINVAL, "iodb_verify_proof: key must be 1 to %u bytes",
			       IODB_MAX_KEY);
	if ((!val && vlen) || vlen > IODB_MAX_VALUE)
		return err_set(IODB_EINVAL,
			       "iodb_verify_proof: value NULL with a length, or longer than "
			       "IODB_MAX_VALUE");
	return ics23_verify(root, proof, plen, key, klen, val, vlen);
}

/* ---- Proofs up to the commit hash ------------------------------------------------------ */

int ics23_calc_root(const uint8_t *proof, size_t plen, uint8_t root[32])
{
	struct pb_proof *pf = NULL;
	const struct pb_exist *e = NULL;
	int rc = 0;

	if (!root || (!proof && plen))
		return err_set(IODB_EINVAL, "ics23_calc_root: NULL pointer with a length");
	RET(proof_decode(proof, plen, &pf));
	/* ics23's CommitmentProof.Calculate: a non-existence proof's root is its left
	 * neighbour's, or its right one's at the left edge. */
	if (pf->kind == PROOF_EXIST)
		e = &pf->exist;
	else if (pf->kind == PROOF_NONEXIST)
		e = pf->nonexist.left.present ? &pf->nonexist.left
		    : pf->nonexist.right.present ? &pf->nonexist.right : NULL;
	if (!e) {
		rc = err_set(IODB_EPROOF, "ics23: the proof holds no existence proof to "
					  "calculate a root from");
		goto out;
	}
	/* Only what hashing needs; ics23_verify checks the rest against this root. */
	if (!e->has_leaf || e->npath > MAX_DEPTH || e->key.n == 0 || e->value.n == 0) {
		rc = err_set(IODB_EPROOF, "ics23: cannot calculate a root: %s",
			     !e->has_leaf ? "no leaf op" :
			     e->npath > MAX_DEPTH ? "too many inner ops" :
			     e->key.n == 0 ? "empty key" : "empty value");
		goto out;
	}
	leaf_hash(e->leaf.prefix, e->key, e->value, root);
	for (size_t i = 0; i < e->npath; i++)
		inner_hash(&e->path[i], root);
out:
	mem_free(pf);
	return rc;
}

/*
 * TendermintSpec (ics23 go/proof.go): leaf {SHA256, prehash key NO_HASH, prehash value
 * SHA256, VAR_PROTO, prefix 00}; inner ops SHA256 over 32-byte children, a one-byte prefix.
 * ics23-go takes any leaf prefix that starts with 00, any inner prefix of 1..33 bytes that
 * does not, and any suffix of a multiple of 32 bytes. The commit-info tree only ever has
 * 01 ‖ left ‖ right, so each inner op must be exactly prefix 01 with a 32-byte suffix (the
 * child is on the left) or prefix 01 ‖ 32 bytes with no suffix (on the right): stricter
 * than ics23, never looser, and no hash can then be read as another shape.
 */
static int check_simple_exist(const struct pb_exist *e, const char *side)
{
	const struct pb_leaf *l = &e->leaf;

	if (!e->has_leaf)
		return err_set(IODB_EPROOF, "ics23: %s: no leaf op", side);
	if (l->hash != HASHOP_SHA256 || l->prehash_key != HASHOP_NO_HASH ||
	    l->prehash_value != HASHOP_SHA256 || l->length != LENGTHOP_VAR_PROTO)
		return err_set(IODB_EPROOF,
			       "ics23: %s: leaf op is not TendermintSpec's (hash %d, prehash key "
			       "%d, prehash value %d, length %d)",
			       side, l->hash, l->prehash_key, l->prehash_value, l->length);
	if (l->prefix.n != 1 || l->prefix.p[0] != 0x00)
		return err_set(IODB_EPROOF, "ics23: %s: leaf prefix is not 00", side);
	if (e->npath > MAX_DEPTH)
		return err_set(IODB_EPROOF, "ics23: %s: %zu inner ops, more than %d", side,
			       e->npath, MAX_DEPTH);
	for (size_t i = 0; i < e->npath; i++) {
		const struct pb_inner *op = &e->path[i];
		int left = op->prefix.n == 1 && op->suffix.n == HASH_LEN;
		int right = op->prefix.n == 1 + HASH_LEN && op->suffix.n == 0;

		if (op->hash != HASHOP_SHA256)
			return err_set(IODB_EPROOF,
				       "ics23: %s: inner op %zu has hash op %d, not SHA256", side,
				       i + 1, op->hash);
		if ((!left && !right) || op->prefix.p[0] != 0x01)
			return err_set(IODB_EPROOF,
				       "ics23: %s: inner op %zu is not 01 with one 32-byte sibling "
				       "(prefix of %zu bytes, suffix of %zu)",
				       side, i + 1, op->prefix.n, op->suffix.n);
	}
	return 0;
}

int ics23_verify_simple(const uint8_t root[32], const uint8_t *proof, size_t plen,
			const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
	static const char side[] = "store proof";
	struct pb_proof *pf = NULL;
	const struct pb_exist *e;
	uint8_t h[HASH_LEN];
	int rc = 0;

	if (!root || (!proof && plen) || (!key && klen) || (!val && vlen))
		return err_set(IODB_EINVAL, "ics23_verify_simple: NULL pointer with a length");
	RET(proof_decode(proof, plen, &pf));
	e = &pf->exist;
	if (pf->kind != PROOF_EXIST) {
		rc = err_set(IODB_EPROOF, "ics23: %s: not an existence proof", side);
		goto out;
	}
	if (!span_eq(e->key, key ? key : no_bytes, klen)) {
		rc = err_set(IODB_EPROOF, "ics23: %s: the proof is for another key", side);
		goto out;
	}
	if (!span_eq(e->value, val ? val : no_bytes, vlen)) {
		rc = err_set(IODB_EPROOF, "ics23: %s: the proof is for another value", side);
		goto out;
	}
	if ((rc = check_simple_exist(e, side)) != 0)
		goto out;
	if (e->key.n == 0 || e->value.n == 0) {
		rc = err_set(IODB_EPROOF, "ics23: %s: empty %s (ics23 cannot prove it)", side,
			     e->key.n == 0 ? "key" : "value");
		goto out;
	}
	/* The leaf formula is IavlSpec's with TendermintSpec's prefix 00. */
	leaf_hash(e->leaf.prefix, e->key, e->value, h);
	for (size_t i = 0; i < e->npath; i++)
		inner_hash(&e->path[i], h);
	if (memcmp(h, root, HASH_LEN) != 0)
		rc = err_set(IODB_EPROOF, "ics23: %s: calculated root does not match", side);
out:
	mem_free(pf);
	return rc;
}

/* ---- Encoding -------------------------------------------------------------------------- */

#define TAG(field, wt) ((uint8_t)((field) << 3 | (wt)))

/* A length-delimited field of n bytes; every tag of ours is one byte. */
static size_t field_len(size_t n)
{
	return 1 + uvarint_len(n) + n;
}

static uint8_t *put_hdr(uint8_t *w, uint8_t tag, size_t n)
{
	*w++ = tag;
	return w + put_uvarint(w, n);
}

static uint8_t *put_field(uint8_t *w, uint8_t tag, const void *p, size_t n)
{
	w = put_hdr(w, tag, n);
	if (n)
		memcpy(w, p, n);
	return w + n;
}

/* varint(0) varint(1) varint(version): a leaf's height and size, then its version. */
static size_t leaf_prefix(uint8_t out[2 + UVARINT_MAX], int64_t version)
{
	out[0] = 0x00;
	out[1] = 0x02;
	return 2 + put_varint(out + 2, version);
}

/* varint(height) varint(size) varint(version) 0x20, the part every inner prefix opens with. */
static size_t node_prefix(uint8_t out[3 * UVARINT_MAX + 1], const struct mproof_step *s)
{
	size_t n = put_varint(out, s->height);

	n += put_varint(out + n, s->size);
	n += put_varint(out + n, s->version);
	out[n++] = HASH_LEN;
	return n;
}

static size_t leafop_len(const struct mproof_exist *e)
{
	uint8_t p[2 + UVARINT_MAX];

	return 6 + field_len(leaf_prefix(p, e->leaf_version)); /* three 2-byte enums */
}

static size_t innerop_len(const struct mproof_step *s)
{
	uint8_t p[3 * UVARINT_MAX + 1];
	size_t n = node_prefix(p, s);

	return 2 + (s->right ? field_len(n + HASH_LEN + 1) : field_len(n) + field_len(CHILD_SIZE));
}

static size_t exist_len(const struct mproof_exist *e)
{
	size_t n = (e->klen ? field_len(e->klen) : 0) + (e->vlen ? field_len(e->vlen) : 0) +
		   field_len(leafop_len(e));

	for (size_t i = 0; i < e->npath; i++)
		n += field_len(innerop_len(&e->path[i]));
	return n;
}

static uint8_t *put_innerop(uint8_t *w, const struct mproof_step *s)
{
	uint8_t p[3 * UVARINT_MAX + 1];
	size_t n = node_prefix(p, s);

	w = put_hdr(w, TAG(4, WT_BYTES), innerop_len(s));
	*w++ = TAG(1, WT_VARINT);
	*w++ = HASHOP_SHA256;
	if (s->right) {
		w = put_hdr(w, TAG(2, WT_BYTES), n + HASH_LEN + 1);
		memcpy(w, p, n);
		memcpy(w + n, s->sibling, HASH_LEN);
		w[n + HASH_LEN] = HASH_LEN;
		w += n + HASH_LEN + 1;
	} else {
		w = put_field(w, TAG(2, WT_BYTES), p, n);
		w = put_hdr(w, TAG(3, WT_BYTES), CHILD_SIZE);
		*w++ = HASH_LEN;
		memcpy(w, s->sibling, HASH_LEN);
		w += HASH_LEN;
	}
	return w;
}

/* The body of an ExistenceProof, without its own tag and length. */
static uint8_t *put_exist(uint8_t *w, const struct mproof_exist *e)
{
	uint8_t p[2 + UVARINT_MAX];
	size_t n = leaf_prefix(p, e->leaf_version);

	if (e->klen)
		w = put_field(w, TAG(1, WT_BYTES), e->key, e->klen);
	if (e->vlen)
		w = put_field(w, TAG(2, WT_BYTES), e->val, e->vlen);
	w = put_hdr(w, TAG(3, WT_BYTES), leafop_len(e));
	*w++ = TAG(1, WT_VARINT);
	*w++ = HASHOP_SHA256;
	/* prehash_key is NO_HASH, a zero enum, so it is not written. */
	*w++ = TAG(3, WT_VARINT);
	*w++ = HASHOP_SHA256;
	*w++ = TAG(4, WT_VARINT);
	*w++ = LENGTHOP_VAR_PROTO;
	w = put_field(w, TAG(5, WT_BYTES), p, n);
	for (size_t i = 0; i < e->npath; i++)
		w = put_innerop(w, &e->path[i]);
	return w;
}

/* Bounds that keep every length sum far from overflow. */
static int exist_args_ok(const struct mproof_exist *e)
{
	return e && (e->key || !e->klen) && (e->val || !e->vlen) && (e->path || !e->npath) &&
	       e->klen <= UINT32_MAX && e->vlen <= UINT32_MAX && e->npath <= 65536;
}

int ics23_encode_exist(struct buf *out, const struct mproof_exist *e)
{
	size_t body, total;
	uint8_t *w, *start;

	if (!out || !exist_args_ok(e))
		return err_set(IODB_EINVAL, "ics23_encode_exist: bad arguments");
	body = exist_len(e);
	total = field_len(body);
	RET(buf_reserve(out, total));
	start = w = out->p + out->len;
	w = put_hdr(w, TAG(1, WT_BYTES), body);
	w = put_exist(w, e);
	assert((size_t)(w - start) == total);
	(void)start; /* NDEBUG builds */
	out->len += total;
	return 0;
}

int ics23_encode_nonexist(struct buf *out, const uint8_t *key, size_t klen,
			  const struct mproof_exist *left, const struct mproof_exist *right)
{
	size_t body, total, llen = 0, rlen = 0;
	uint8_t *w, *start;

	if (!out || (!key && klen) || klen > UINT32_MAX || (left && !exist_args_ok(left)) ||
	    (right && !exist_args_ok(right)))
		return err_set(IODB_EINVAL, "ics23_encode_nonexist: bad arguments");
	if (!left && !right)
		return err_set(IODB_EINVAL,
			       "ics23_encode_nonexist: no neighbour (ics23 cannot prove absence "
			       "in an empty tree)");
	if (left)
		llen = exist_len(left);
	if (right)
		rlen = exist_len(right);
	body = (klen ? field_len(klen) : 0) + (left ? field_len(llen) : 0) +
	       (right ? field_len(rlen) : 0);
	total = field_len(body);
	RET(buf_reserve(out, total));
	start = w = out->p + out->len;
	w = put_hdr(w, TAG(2, WT_BYTES), body);
	if (klen)
		w = put_field(w, TAG(1, WT_BYTES), key, klen);
	if (left) {
		w = put_hdr(w, TAG(2, WT_BYTES), llen);
		w = put_exist(w, left);
	}
	if (right) {
		w = put_hdr(w, TAG(3, WT_BYTES), rlen);
		w = put_exist(w, right);
	}
	assert((size_t)(w - start) == total);
	(void)start; /* NDEBUG builds */
	out->len += total;
	return 0;
}
