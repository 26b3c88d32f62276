/*
 * fuzz_proof.c — libFuzzer target for the ICS23 proof decoder and verifier (lib/merkle/proof.c).
 *
 * At start-up the target builds a three-leaf IAVL tree by hand (a → 1, b → 2, c → 3) and
 * encodes two valid proofs against its root: b has value 2, bb is absent. The first input
 * byte picks the mode (its value mod 4), the rest is the data:
 *   0: the data is a proof that b has value 2;
 *   1: the data is a proof that bb is absent;
 *   2: the data is XORed over the valid existence proof (past its end, the proof is kept);
 *   3: the same over the valid non-existence proof.
 * Modes 2 and 3 start the fuzzer from well-formed proofs, so that it reaches the spec checks,
 * the hashing and the neighbour logic rather than only the protobuf reader.
 *
 * Expectations (a violation aborts, which libFuzzer reports as a crash):
 *   - the result is always 0 or IODB_EPROOF;
 *   - whatever the bytes, no false statement verifies (b = 3, b absent, a = 2, c absent,
 *     bb = 2): that is the verifier's soundness;
 *   - an XOR that changes one byte of a valid proof is IODB_EPROOF, one that changes none
 *     verifies. Changing more may verify: swapping two fields of the same size gives the
 *     same message (protobuf fields may come in any order).
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

static uint8_t root[32];
static struct buf exist_proof, nonexist_proof;

/* IAVL.md §1, all nodes at version 1. */
static void leaf(const char *k, const char *v, uint8_t out[32])
{
	uint8_t b[64], vh[32];
	size_t n = 0, kl = strlen(k);

	SHA256((const uint8_t *)v, strlen(v), vh);
	b[n++] = 0x00; /* height 0, size 1, version 1 */
	b[n++] = 0x02;
	b[n++] = 0x02;
	b[n++] = (uint8_t)kl;
	memcpy(b + n, k, kl);
	n += kl;
	b[n++] = 0x20;
	memcpy(b + n, vh, 32);
	SHA256(b, n + 32, out);
}

static void inner(int64_t height, int64_t size, const uint8_t l[32], const uint8_t r[32],
		  uint8_t out[32])
{
	uint8_t b[3 + 66];

	b[0] = (uint8_t)(2 * height);
	b[1] = (uint8_t)(2 * size);
	b[2] = 0x02;
	b[3] = 0x20;
	memcpy(b + 4, l, 32);
	b[36] = 0x20;
	memcpy(b + 37, r, 32);
	SHA256(b, sizeof(b), out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t ha[32], hb[32], hc[32], hbc[32];
	/* root{h2,s3} = [a, n{h1,s2} = [b, c]] */
	struct mproof_step sb[2] = {{1, 2, 1, 0, {0}}, {2, 3, 1, 1, {0}}};
	struct mproof_step sc[2] = {{1, 2, 1, 1, {0}}, {2, 3, 1, 1, {0}}};
	struct mproof_exist eb = {(const uint8_t *)"b", 1, (const uint8_t *)"2", 1, 1, sb, 2};
	struct mproof_exist ec = {(const uint8_t *)"c", 1, (const uint8_t *)"3", 1, 1, sc, 2};

	(void)argc;
	(void)argv;
	leaf("a", "1", ha);
	leaf("b", "2", hb);
	leaf("c", "3", hc);
	inner(1, 2, hb, hc, hbc);
	inner(2, 3, ha, hbc, root);
	memcpy(sb[0].sibling, hc, 32);
	memcpy(sb[1].sibling, ha, 32);
	memcpy(sc[0].sibling, hb, 32);
	memcpy(sc[1].sibling, ha, 32);
	buf_init(&exist_proof);
	buf_init(&nonexist_proof);
	EXPECT(ics23_encode_exist(&exist_proof, &eb) == 0);
	EXPECT(ics23_encode_nonexist(&nonexist_proof, (const uint8_t *)"bb", 2, &eb, &ec) == 0);
	EXPECT(ics23_verify(root, exist_proof.p, exist_proof.len, (const uint8_t *)"b", 1,
			    (const uint8_t *)"2", 1) == 0);
	EXPECT(ics23_verify(root, nonexist_proof.p, nonexist_proof.len, (const uint8_t *)"bb", 2,
			    NULL, 0) == 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;
	const struct buf *valid;
	uint8_t *p;
	size_t n;
	int rc;
	size_t changed = 0;

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
		valid = mode == 2 ? &exist_proof : &nonexist_proof;
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
		rc = ics23_verify(root, p, n, (const uint8_t *)"b", 1, (const uint8_t *)"2", 1);
	else
		rc = ics23_verify(root, p, n, (const uint8_t *)"bb", 2, NULL, 0);
	EXPECT(rc == 0 || rc == IODB_EPROOF);
	if (mode >= 2 && changed == 0)
		EXPECT(rc == 0);
	if (mode >= 2 && changed == 1)
		EXPECT(rc == IODB_EPROOF);
	EXPECT(ics23_verify(root, p, n, (const uint8_t *)"b", 1, (const uint8_t *)"3", 1) ==
	       IODB_EPROOF);
	EXPECT(ics23_verify(root, p, n, (const uint8_t *)"b", 1, NULL, 0) == IODB_EPROOF);
	EXPECT(ics23_verify(root, p, n, (const uint8_t *)"a", 1, (const uint8_t *)"2", 1) ==
	       IODB_EPROOF);
	EXPECT(ics23_verify(root, p, n, (const uint8_t *)"c", 1, NULL, 0) == IODB_EPROOF);
	EXPECT(ics23_verify(root, p, n, (const uint8_t *)"bb", 2, (const uint8_t *)"2", 1) ==
	       IODB_EPROOF);
	free(p);
	return 0;
}
