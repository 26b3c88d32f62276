/*
 * proofops.c — proofs up to the commit hash: the tendermint.crypto.ProofOps a Cosmos SDK
 * query with prove=true returns, and iodb_verify_commit_proof, which checks one the way an
 * IBC light client does (/work/shared/IAVL.md §3.1, docs/merkle.md § Proofs).
 *
 *   ProofOps { repeated ProofOp ops = 1; }
 *   ProofOp  { string type = 1; bytes key = 2; bytes data = 3; }
 *
 * Op 1 is {"ics23:iavl", the key, its CommitmentProof against the store root (proof.c)};
 * op 2 is {"ics23:simple", the store name, the CommitmentProof of (name -> store root) in
 * the commit-info tree (commit.c)}. Verification chains them: the store root is what op 1
 * calculates (ics23's Calculate: a non-existence proof's left neighbour, else its right
 * one), op 1 must verify against it under IavlSpec, and op 2 must prove that root under the
 * store's name against the commit hash under TendermintSpec.
 *
 * The outer message is decoded strictly: it must be exactly what gogoproto marshals for its
 * fields (one-byte tags in field order, minimal length varints, empty fields left out,
 * nothing unknown) with exactly two ops. What a chain returns is that encoding, and a
 * single reading of the bytes leaves no room for two verifiers to disagree about which op
 * or key they saw. The ops' data are CommitmentProofs, decoded as gogoproto does
 * (proof.c). Every length is checked against what is left of its enclosing message.
 *
 * No state, no locks.
 */
#include <stdio.h>

#include "lib/merkle/merkle.h"

#define TYPE_IAVL "ics23:iavl"
#define TYPE_SIMPLE "ics23:simple"

/* Tags: field << 3 | 2 (length-delimited); every field here is one. */
#define TAG_OPS 0x0a  /* ProofOps.ops = 1 */
#define TAG_TYPE 0x0a /* ProofOp.type = 1 */
#define TAG_KEY 0x12  /* ProofOp.key = 2 */
#define TAG_DATA 0x1a /* ProofOp.data = 3 */

/* ---- Encoding ------------------------------------------------------------------------ */

/* proto3 leaves an empty string or bytes field out. */
static size_t opt_field_len(size_t n)
{
	return n ? 1 + uvarint_len(n) + n : 0;
}

static uint8_t *put_hdr(uint8_t *w, uint8_t tag, size_t n)
{
	*w++ = tag;
	return w + put_uvarint(w, n);
}

static uint8_t *put_opt_field(uint8_t *w, uint8_t tag, const void *p, size_t n)
{
	if (!n)
		return w;
	w = put_hdr(w, tag, n);
	memcpy(w, p, n);
	return w + n;
}

static size_t op_len(size_t tlen, size_t klen, size_t dlen)
{
	return opt_field_len(tlen) + opt_field_len(klen) + opt_field_len(dlen);
}

static uint8_t *put_op(uint8_t *w, const char *type, const void *key, size_t klen,
		       const void *data, size_t dlen)
{
	size_t tlen = strlen(type);

	/* An element of a repeated message field is written even when it is empty. */
	w = put_hdr(w, TAG_OPS, op_len(tlen, klen, dlen));
	w = put_opt_field(w, TAG_TYPE, type, tlen);
	w = put_opt_field(w, TAG_KEY, key, klen);
	return put_opt_field(w, TAG_DATA, data, dlen);
}

int proofops_encode(struct buf *out, const void *key, size_t klen, const void *iavl,
		    size_t ilen, const uint8_t *store, size_t nlen, const void *simple,
		    size_t slen)
{
	/* Far below SIZE_MAX / 8, so that no sum below can overflow. */
	const size_t lim = (size_t)1 << 40 < SIZE_MAX / 8 ? (size_t)1 << 40 : SIZE_MAX / 8;
	size_t o1, o2, total;
	uint8_t *w, *start;

	if (!out || (!key && klen) || (!iavl && ilen) || (!store && nlen) || (!simple && slen) ||
	    klen > lim || ilen > lim || nlen > lim || slen > lim)
		return err_set(IODB_EINVAL, "proofops_encode: bad arguments");
	o1 = op_len(strlen(TYPE_IAVL), klen, ilen);
	o2 = op_len(strlen(TYPE_SIMPLE), nlen, slen);
	total = 1 + uvarint_len(o1) + o1 + 1 + uvarint_len(o2) + o2;
	RET(buf_reserve(out, total));
	start = w = out->p + out->len;
	w = put_op(w, TYPE_IAVL, key, klen, iavl, ilen);
	w = put_op(w, TYPE_SIMPLE, store, nlen, simple, slen);
	if ((size_t)(w - start) != total)
		return err_set(IODB_EINVAL, "proofops_encode: length mismatch (a bug)");
	out->len += total;
	return 0;
}

/* ---- Decoding ------------------------------------------------------------------------ */

struct proof_op {
	const uint8_t *type, *key, *data;
	size_t tlen, klen, dlen;
};

/* Where and why decoding stopped. */
struct opdec {
	const uint8_t *base;
	const char *why;
	size_t at;
};

static int opdec_fail(struct opdec *d, const struct rd *r, const char *why)
{
	d->why = why;
	d->at = (size_t)(r->p - d->base);
	return -1;
}

/* A length-delimited field with tag `tag` as gogoproto writes it: its one-byte tag, the
 * length as a minimal varint, then that many bytes, all within r. */
static int read_field(struct opdec *d, struct rd *r, uint8_t tag, const uint8_t **p,
		      size_t *n)
{
	const uint8_t *len_at;
	uint8_t t;
	uint64_t len;

	if (rd_u8(r, &t) || t != tag)
		return opdec_fail(d, r, "unexpected field (not the next one gogoproto writes)");
	len_at = r->p;
	if (rd_uvarint(r, &len))
		return opdec_fail(d, r, "bad length varint");
	if ((size_t)(r->p - len_at) != uvarint_len(len))
		return opdec_fail(d, r, "length varint is not minimal");
	if (len > rd_left(r))
		return opdec_fail(d, r, "length runs past the end of its message");
	*p = r->p;
	*n = (size_t)len;
	r->p += len;
	return 0;
}

/* An optional field of a ProofOp: present if the next byte is its tag; never empty. */
static int read_opt_field(struct opdec *d, struct rd *r, uint8_t tag, const uint8_t **p,
			  size_t *n)
{
	*p = NULL;
	*n = 0;
	if (!rd_left(r) || *r->p != tag)
		return 0;
	if (read_field(d, r, tag, p, n))
		return -1;
	if (*n == 0)
		return opdec_fail(d, r, "an empty field is written (gogoproto leaves it out)");
	return 0;
}

static int decode_op(struct opdec *d, const uint8_t *p, size_t n, struct proof_op *op)
{
	struct rd r;

	rd_init(&r, p, n);
	if (read_opt_field(d, &r, TAG_TYPE, &op->type, &op->tlen) ||
	    read_opt_field(d, &r, TAG_KEY, &op->key, &op->klen) ||
	    read_opt_field(d, &r, TAG_DATA, &op->data, &op->dlen))
		return -1;
	if (rd_left(&r))
		return opdec_fail(d, &r, "unknown, repeated or out-of-order field in a ProofOp");
	return 0;
}

static int decode_ops(struct opdec *d, const uint8_t *p, size_t n, struct proof_op ops[2])
{
	struct rd r;
	size_t count = 0;

	rd_init(&r, p, n);
	while (rd_left(&r)) {
		const uint8_t *body;
		size_t blen;

		if (count == 2)
			return opdec_fail(d, &r, "more than two ops");
		if (read_field(d, &r, TAG_OPS, &body, &blen) ||
		    decode_op(d, body, blen, &ops[count]))
			return -1;
		count++;
	}
	if (count != 2)
		return opdec_fail(d, &r, count ? "only one op" : "no ops");
	return 0;
}

/* ---- Verification ------------------------------------------------------------------- */

static int bytes_eq(const uint8_t *a, size_t an, const void *b, size_t bn)
{
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Name the step whose check failed in front of the detail that check left. */
static int step_failed(int rc, const char *step)
{
	char why[768];

	snprintf(why, sizeof(why), "%s", iodb_errmsg());
	return err_set(rc, "commit proof: %s: %s", step, why);
}

int iodb_verify_commit_proof(const uint8_t commit_hash[32], const void *proof, size_t plen,
			     const char *store, const void *key, size_t klen, const void *val,
			     size_t vlen)
{
	static const char step1[] = "op 1 (ics23:iavl, the key against the store root)";
	static const char step2[] = "op 2 (ics23:simple, the store root against the commit hash)";
	const char *name = store ? store : "";
	struct proof_op ops[2];
	struct opdec d = {.base = proof};
	uint8_t store_root[32];
	size_t nlen;
	int rc;

	if (!commit_hash)
		return err_set(IODB_EINVAL, "iodb_verify_commit_proof: NULL commit hash");
	if (!proof && plen)
		return err_set(IODB_EINVAL, "iodb_verify_commit_proof: NULL proof with a length");
	if (!key || klen == 0 || klen > IODB_MAX_KEY)
		return err_set(IODB_EINVAL, "iodb_verify_commit_proof: key must be 1 to %u bytes",
			       IODB_MAX_KEY);
	if ((!val && vlen) || vlen > IODB_MAX_VALUE)
		return err_set(IODB_EINVAL, "iodb_verify_commit_proof: value NULL with a length, "
					    "or longer than IODB_MAX_VALUE");
	nlen = strnlen(name, IODB_MAX_STORE_NAME + 1);
	if (nlen > IODB_MAX_STORE_NAME)
		return err_set(IODB_EINVAL, "iodb_verify_commit_proof: store name longer than %u "
					    "bytes", IODB_MAX_STORE_NAME);
	/* Its leaf's key would be empty, which ics23 refuses to hash (it cannot tell an empty
	 * key from a missing one). */
	if (nlen == 0)
		return err_set(IODB_EINVAL, "iodb_verify_commit_proof: the default store (empty "
					    "name) cannot be proven to the commit hash: ICS23 "
					    "refuses an empty key");
	if (plen == 0)
		return err_set(IODB_EPROOF, "commit proof: empty proof");
	if (decode_ops(&d, proof, plen, ops))
		return err_set(IODB_EPROOF, "commit proof: malformed ProofOps at byte %zu: %s", d.at,
			       d.why);
	if (!bytes_eq(ops[0].type, ops[0].tlen, TYPE_IAVL, strlen(TYPE_IAVL)))
		return err_set(IODB_EPROOF, "commit proof: op 1 is not of type " TYPE_IAVL);
	if (!bytes_eq(ops[1].type, ops[1].tlen, TYPE_SIMPLE, strlen(TYPE_SIMPLE)))
		return err_set(IODB_EPROOF, "commit proof: op 2 is not of type " TYPE_SIMPLE);
	if (!bytes_eq(ops[0].key, ops[0].klen, key, klen))
		return err_set(IODB_EPROOF, "commit proof: op 1 is for another key");
	if (!bytes_eq(ops[1].key, ops[1].klen, name, nlen))
		return err_set(IODB_EPROOF, "commit proof: op 2 is for another store");
	if ((rc = ics23_calc_root(ops[0].data, ops[0].dlen, store_root)) != 0 ||
	    (rc = ics23_verify(store_root, ops[0].data, ops[0].dlen, key, klen, val, vlen)) != 0)
		return step_failed(rc, step1);
	if ((rc = ics23_verify_simple(commit_hash, ops[1].data, ops[1].dlen, (const uint8_t *)name,
				      nlen, store_root, sizeof(store_root))) != 0)
		return step_failed(rc, step2);
	return 0;
}
