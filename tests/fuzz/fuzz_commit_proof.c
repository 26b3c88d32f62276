/*
 * fuzz_commit_proof.c — libFuzzer target for proofs up to the commit hash: the ProofOps
 * decoder and iodb_verify_commit_proof (lib/merkle/proofops.c), over the ICS23 verifiers
 * of lib/merkle/proof.c.
 *
 * At start-up the target builds, by hand, a store "bank" whose IAVL tree is the one leaf
 * b -> 2 (version 1), beside stores "acc" and "gov" of made-up roots, and encodes two valid
 * ProofOps against their commit hash: b has value 2, c is absent. The first input byte
 * picks the mode (its value mod 4), the rest is the data:
 *   0: the data is a ProofOps that b has value 2;
 *   1: the data is a ProofOps that c is absent;
 *   2: the data is XORed over the valid membership ProofOps (past its end, it is kept);
 *   3: the same over the valid non-membership ProofOps.
 *
 * Expectations (a violation aborts, which libFuzzer reports as a crash):
 *   - the result is always 0 or IODB_EPROOF;
 *   - whatever the bytes, no false statement verifies (b = 3, b absent, c = 2, b = 2 in
 *     store acc, b = 2 against another commit hash);
 *   - an XOR that changes one byte of a valid proof is IODB_EPROOF, one that changes none
 *     verifies.
 * ASan checks that no byte past the input is read.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/merkle/merkle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXPECT(cond)                                                                       \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: expectation failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

/* commit.c's helper, defined in tree.c, which this target does not link. */
void sha256(const void *p, size_t n, uint8_t out[32])
{
	SHA256(p, n, out);
}

static uint8_t commit[32], other_commit[32];
static struct buf exist_ops, absent_ops;

/* IAVL.md §1: the leaf b -> 2 at version 1. */
static void leaf_b(uint8_t out[32])
{
	uint8_t b[4 + 1 + 33];

	b[0] = 0x00; /* height 0, size 1, version 1 */
	b[1] = 0x02;
	b[2] = 0x02;
	b[3] = 0x01;
	b[4] = 'b';
	b[5] = 0x20;
	SHA256((const uint8_t *)"2", 1, b + 6);
	SHA256(b, sizeof(b), out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mstore_root s[3] = {{"acc", 3, {1}}, {"bank", 4, {0}}, {"gov", 3, {3}}};
	struct mproof_exist eb = {(const uint8_t *)"b", 1, (const uint8_t *)"2", 1, 1, NULL, 0};
	struct buf iavl, simple;

	(void)argc;
	(void)argv;
	leaf_b(s[1].root);
	commit_info_hash(s, 3, commit);
	memcpy(other_commit, commit, 32);
	other_commit[0] ^= 1;
	buf_init(&iavl);
	buf_init(&simple);
	buf_init(&exist_ops);
	buf_init(&absent_ops);
	EXPECT(commit_info_prove(s, 3, 1, &simple) == 0);
	EXPECT(ics23_encode_exist(&iavl, &eb) == 0);
	EXPECT(proofops_encode(&exist_ops, "b", 1, iavl.p, iavl.len, (const uint8_t *)"bank", 4,
			       simple.p, simple.len) == 0);
	iavl.len = 0;
	EXPECT(ics23_encode_nonexist(&iavl, (const uint8_t *)"c", 1, &eb, NULL) == 0);
	EXPECT(proofops_encode(&absent_ops, "c", 1, iavl.p, iavl.len, (const uint8_t *)"bank", 4,
			       simple.p, simple.len) == 0);
	EXPECT(iodb_verify_commit_proof(commit, exist_ops.p, exist_ops.len, "bank", "b", 1, "2",
					1) == 0);
	EXPECT(iodb_verify_commit_proof(commit, absent_ops.p, absent_ops.len, "bank", "c", 1,
					NULL, 0) == 0);
	buf_free(&iavl);
	buf_free(&simple);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct buf *valid;
	unsigned mode;
	size_t n, changed = 0;
	uint8_t *p;
	int rc;

	if (size == 0)
		return 0;
	mode = data[0] % 4;
	data++;
	size--;
	if (mode < 2) {
		/* An exact-size copy: ASan flags any read past the end. */
		p = malloc(size ? size : 1);
		EXPECT(p != NULL);
		if (size)
			memcpy(p, data, size);
		n = size;
	} else {
		valid = mode == 2 ? &exist_ops : &absent_ops;
		n = valid->len;
		p = malloc(n);
		EXPECT(p != NULL);
		memcpy(p, valid->p, n);
		for (size_t i = 0; i < size && i < n; i++) {
			p[i] ^= data[i];
			changed += data[i] != 0;
		}
	}
	if (mode % 2 == 0)
		rc = iodb_verify_commit_proof(commit, p, n, "bank", "b", 1, "2", 1);
	else
		rc = iodb_verify_commit_proof(commit, p, n, "bank", "c", 1, NULL, 0);
	EXPECT(rc == 0 || rc == IODB_EPROOF);
	if (mode >= 2 && changed == 0)
		EXPECT(rc == 0);
	if (mode >= 2 && changed == 1)
		EXPECT(rc == IODB_EPROOF);
	EXPECT(iodb_verify_commit_proof(commit, p, n, "bank", "b", 1, "3", 1) == IODB_EPROOF);
	EXPECT(iodb_verify_commit_proof(commit, p, n, "bank", "b", 1, NULL, 0) == IODB_EPROOF);
	EXPECT(iodb_verify_commit_proof(commit, p, n, "bank", "c", 1, "2", 1) == IODB_EPROOF);
	EXPECT(iodb_verify_commit_proof(commit, p, n, "acc", "b", 1, "2", 1) == IODB_EPROOF);
	EXPECT(iodb_verify_commit_proof(other_commit, p, n, "bank", "b", 1, "2", 1) ==
	       IODB_EPROOF);
	free(p);
	return 0;
}
