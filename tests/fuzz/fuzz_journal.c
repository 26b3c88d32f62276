/*
 * fuzz_journal.c — libFuzzer target for the journal's decoders.
 *
 * The first input byte picks the mode (its value mod 3), the rest is the data:
 *   0: a commit payload for jcommit_decode; when it decodes, every store name and every
 *      operation is walked and checked to lie inside the input and within the limits;
 *   1: the bytes after a valid segment header form journal segment 1 of a scratch
 *      directory, which journal_open replays with a callback that decodes commit records
 *      as above. The only acceptable outcomes are success and IODB_ECORRUPT;
 *   2: as 1, but the data is first cut into records (u8 type, u8 length, payload), each
 *      framed with good checksums, so that the fuzzer reaches the replay of well-framed
 *      records; bytes left over follow as a raw tail.
 * A violated expectation aborts, which libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/journal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static char *jdir, *seg1;
static uint8_t header[64];
static size_t header_len;

#define EXPECT(cond)                                                                       \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: expectation failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void cleanup(void)
{
	if (seg1)
		unlink(seg1);
	if (jdir)
		rmdir(jdir);
	if (root[0])
		rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct journal_opts o = {1 << 20, 0, {0, 0}, 0, 0};
	struct env *e;
	struct journal *j;
	FILE *f;

	(void)argc;
	(void)argv;
	/* On tmpfs when there is one: the journal fsyncs, and a fuzzer wants speed. */
	snprintf(root, sizeof(root), "%s", "/dev/shm/iodb-fuzz-XXXXXX");
	if (!mkdtemp(root)) {
		snprintf(root, sizeof(root), "%s", "/tmp/iodb-fuzz-XXXXXX");
		EXPECT(mkdtemp(root) != NULL);
	}
	jdir = path_join(root, "journal");
	seg1 = path_join(jdir, "00000000000000000001.log");
	atexit(cleanup);
	/* The header of a fresh segment 1, as the journal writes it. */
	EXPECT(env_new(&e) == 0);
	EXPECT(journal_open(e, jdir, 1, &o, NULL, NULL, &j) == 0);
	journal_close(j);
	env_free(e);
	EXPECT((f = fopen(seg1, "rb")) != NULL);
	header_len = fread(header, 1, sizeof(header), f);
	fclose(f);
	EXPECT(header_len > 0 && header_len < sizeof(header));
	return 0;
}

static void check_commit(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n, *s;
	struct jcommit c;
	struct rd r;

	if (jcommit_decode(p, n, &c) != 0)
		return;
	EXPECT(c.n >= 1 && c.parent < c.n && c.height >= 1 && c.vidlen >= 1);
	EXPECT(c.vid >= p && c.vid + c.vidlen <= end);
	s = c.stores;
	for (uint32_t i = 0; i < c.nstores; i++) {
		const uint8_t *name;
		uint8_t len;

		jcommit_store_name(&c, i, &name, &len);
		EXPECT(name == s + 1 && name + len <= end && store_name_valid(name, len));
		s = name + len;
	}
	EXPECT(c.ops >= s && c.ops + c.ops_len == end);
	rd_init(&r, c.ops, c.ops_len);
	for (uint64_t i = 0; i < c.nops; i++) {
		struct jop op;

		EXPECT(jcommit_next_op(&r, c.nstores, &op) == 0);
		EXPECT(op.kind == JOP_PUT || op.kind == JOP_DEL);
		EXPECT(op.store < c.nstores);
		EXPECT(op.klen >= 1 && op.klen <= IODB_MAX_KEY && op.key + op.klen <= end);
		EXPECT(op.kind == JOP_DEL ? op.val == NULL
					  : op.vlen <= IODB_MAX_VALUE && op.val + op.vlen <= end);
	}
	EXPECT(rd_left(&r) == 0);
}

static int replay(void *ctx, uint8_t type, const uint8_t *p, size_t len, const char *path,
		  const struct jpos *pos)
{
	(void)ctx;
	(void)path;
	(void)pos;
	if (type == JREC_COMMIT)
		check_commit(p, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_opts o = {1 << 20, 0, {0, 0}, 0, 0};
	struct env *e;
	struct journal *j = NULL;
	FILE *f;
	int rc;

	if (size == 0)
		return 0;
	if (data[0] % 3 == 0) {
		/* libFuzzer's buffer ends exactly at data + size: ASan sees any over-read. */
		check_commit(data + 1, size - 1);
		return 0;
	}
	EXPECT((f = fopen(seg1, "wb")) != NULL);
	EXPECT(fwrite(header, 1, header_len, f) == header_len);
	if (data[0] % 3 == 1) {
		EXPECT(fwrite(data + 1, 1, size - 1, f) == size - 1);
	} else {
		struct buf b;
		size_t i = 1, mark;

		buf_init(&b);
		while (size - i >= 2 && data[i] != 0 && (size_t)data[i + 1] <= size - i - 2) {
			EXPECT(journal_rec_begin(&b, &mark) == 0);
			EXPECT(buf_append(&b, data + i + 2, data[i + 1]) == 0);
			EXPECT(journal_rec_end(&b, mark, data[i]) == 0);
			i += 2 + (size_t)data[i + 1];
		}
		EXPECT(buf_append(&b, data + i, size - i) == 0);
		EXPECT(fwrite(b.p, 1, b.len, f) == b.len);
		buf_free(&b);
	}
	EXPECT(fclose(f) == 0);
	EXPECT(env_new(&e) == 0);
	rc = journal_open(e, jdir, 1, &o, replay, NULL, &j);
	EXPECT(rc == 0 || rc == IODB_ECORRUPT);
	if (rc == 0) {
		struct buf b;
		size_t mark;

		/* A journal that opened takes a record. */
		buf_init(&b);
		EXPECT(journal_rec_begin(&b, &mark) == 0 && journal_rec_end(&b, mark, 1) == 0);
		EXPECT(journal_write(j, &b, NULL) == 0);
		buf_free(&b);
		journal_close(j);
	}
	env_free(e);
	return 0;
}
