/*
 * fuzz_import.c — libFuzzer target for the state-sync import (iodb_import, lib/db/export.c;
 * the stream of docs/format.md, "Export stream").
 *
 * LLVMFuzzerInitialize exports version v4 of a small store (two stores, one of them emptied
 * in v4, so an empty tree is part of the stream) to bytes once, and keeps its commit hash
 * and key-values. Each input: byte 0 picks the mode and the chunk size, the rest is data.
 *   mode % 4 == 0: the data is the stream;
 *              1: the valid stream with bytes overwritten (u16 offset, u8 value triples);
 *              2: the valid stream cut at a u16 offset, then the rest of the data appended;
 *              3: the valid stream with the data inserted at a u16 offset.
 * (mode / 4) % 8 sets how the stream is handed over: in chunks of 1, 2, 3, 7, 64 or 4096
 * bytes, or whole. iodb_import runs into a fresh directory with v4's commit hash.
 * Acceptable: success only if the stream's trees hash to that commit hash, and then the
 * imported store opens with that hash at its head and exactly v4's key-values; otherwise an
 * error code, with the directory left empty or missing, and (every 1024th failure) a later
 * import of the valid stream into the same directory succeeds. The valid stream itself is
 * imported in Initialize (in chunks of several sizes); a run that would repeat it returns. A violated expectation aborts, which libFuzzer reports as a crash.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iodb.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXPECT(cond)                                                                       \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: expectation failed: %s (%s)\n", __FILE__,  \
				__LINE__, #cond, iodb_errmsg());                           \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define NKEYS 16

static char root[64], dest[128];
static uint8_t *valid;
static size_t valid_len, valid_cap;
static uint8_t want_hash[32];
static uint64_t failures;

/* v4's key-values, store by store in key order, as "store\0key\0value\n" lines. */
static char *want_kv;
static size_t want_kv_len;

static void rmrf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		char sub[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		rmrf(sub);
	}
	closedir(d);
	rmdir(path);
}

static void cleanup(void)
{
	rmrf(root);
}

static int import(const uint8_t *p, size_t n, size_t chunk);
static void check_imported(void);

static int collect(void *ctx, const void *chunk, size_t len)
{
	(void)ctx;
	if (valid_len + len > valid_cap) {
		valid_cap = (valid_len + len) * 2;
		EXPECT((valid = realloc(valid, valid_cap)) != NULL);
	}
	memcpy(valid + valid_len, chunk, len);
	valid_len += len;
	return 0;
}

/* The key-values of db's head in both stores, as want_kv describes. */
static char *dump(iodb *db, const void *vid, size_t vidlen, size_t *len)
{
	static const char *const stores[2] = {NULL, "b"};
	iodb_snapshot *s;
	char *out = NULL;
	size_t n = 0, cap = 0;

	EXPECT(iodb_snapshot_open(db, vid, vidlen, &s) == 0);
	for (int i = 0; i < 2; i++) {
		iodb_iter *it;
		int rc = iodb_iter_open(db, s, stores[i], &it);

		if (rc == IODB_NOTFOUND)
			continue;
		EXPECT(rc == 0);
		for (rc = iodb_iter_first(it); rc == 0; rc = iodb_iter_next(it)) {
			const void *k, *v;
			size_t kl, vl;

			EXPECT(iodb_iter_key(it, &k, &kl) == 0 && iodb_iter_value(it, &v, &vl) == 0);
			if (n + kl + vl + 8 > cap) {
				cap = (n + kl + vl + 8) * 2;
				EXPECT((out = realloc(out, cap)) != NULL);
			}
			out[n++] = (char)('0' + i);
			memcpy(out + n, k, kl);
			n += kl;
			out[n++] = '\0';
			memcpy(out + n, v, vl);
			n += vl;
			out[n++] = '\n';
		}
		EXPECT(rc == IODB_NOTFOUND);
		iodb_iter_close(it);
	}
	iodb_snapshot_close(s);
	*len = n;
	return out;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char src[128];
	iodb_options o;
	iodb *db;

	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "%s", "/dev/shm/iodb-fuzz-XXXXXX");
	if (!mkdtemp(root)) {
		snprintf(root, sizeof(root), "%s", "/tmp/iodb-fuzz-XXXXXX");
		EXPECT(mkdtemp(root) != NULL);
	}
	atexit(cleanup);
	snprintf(src, sizeof(src), "%s/src", root);
	snprintf(dest, sizeof(dest), "%s/dest", root);
	iodb_options_init(&o);
	o.sync = 0;
	o.merkle_threads = 1;
	EXPECT(iodb_open(src, &o, &db) == 0);
	for (int v = 1; v <= 5; v++) {
		iodb_batch *b;
		char vid[8];

		EXPECT(iodb_batch_new(&b) == 0);
		for (int k = 0; k < NKEYS; k++) {
			char key[8], val[16];

			snprintf(key, sizeof(key), "k%02d", k);
			snprintf(val, sizeof(val), "v%d.%d", v, k);
			if (v == 4 && k < 4)
				EXPECT(iodb_batch_del(b, "b", key, 3) == 0);
			else if ((k + v) % 3 != 0 && (v != 4 || k % 2 == 0))
				EXPECT(iodb_batch_put(b, k < 4 ? "b" : NULL, key, 3, val,
						      strlen(val)) == 0);
		}
		snprintf(vid, sizeof(vid), "v%d", v);
		EXPECT(iodb_update(db, vid, strlen(vid), b) == 0);
		iodb_batch_free(b);
	}
	EXPECT(iodb_commit_hash(db, "v4", 2, want_hash) == 0);
	EXPECT(iodb_export(db, "v4", 2, collect, NULL) == 0);
	want_kv = dump(db, "v4", 2, &want_kv_len);
	EXPECT(iodb_close(db) == 0);
	rmrf(src);
	/* The valid stream imports, in chunks of every size the runs use. */
	for (size_t c = 1; c <= valid_len; c = c * 3 + 1) {
		EXPECT(import(valid, valid_len, c) == 0);
		check_imported();
		rmrf(dest);
	}
	return 0;
}

struct feed {
	const uint8_t *p;
	size_t n, at, chunk;
};

static int next(void *ctx, const void **chunk, size_t *len)
{
	struct feed *f = ctx;
	size_t k = f->n - f->at;

	if (k > f->chunk)
		k = f->chunk;
	*chunk = f->p + f->at;
	*len = k;
	f->at += k;
	return 0;
}

static int import(const uint8_t *p, size_t n, size_t chunk)
{
	struct feed f = {p, n, 0, chunk};
	iodb_options o;

	/* What a store costs to open and close matters here: millions of runs. */
	iodb_options_init(&o);
	o.sync = 0;
	o.auto_compaction = 0;
	o.compaction_threads = 1;
	o.merkle_threads = 1;
	return iodb_import(dest, &o, want_hash, next, &f);
}

static int dir_empty_or_missing(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (!d)
		return 1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	return empty;
}

/* An imported store: its head has the hash and v4's key-values, and it takes a write. */
static void check_imported(void)
{
	uint8_t h[32];
	iodb_batch *b;
	char *kv;
	size_t n;
	iodb *db;

	EXPECT(iodb_open(dest, NULL, &db) == 0);
	EXPECT(iodb_commit_hash(db, NULL, 0, h) == 0);
	EXPECT(memcmp(h, want_hash, 32) == 0);
	kv = dump(db, NULL, 0, &n);
	EXPECT(n == want_kv_len && (n == 0 || memcmp(kv, want_kv, n) == 0));
	free(kv);
	EXPECT(iodb_batch_new(&b) == 0);
	EXPECT(iodb_batch_put(b, NULL, "after", 5, "x", 1) == 0);
	EXPECT(iodb_update(db, "after-import", 12, b) == 0);
	iodb_batch_free(b);
	EXPECT(iodb_close(db) == 0);
}

static uint64_t get_le(const uint8_t *p, int k)
{
	uint64_t v = 0;

	while (k-- > 0)
		v = v << 8 | p[k];
	return v;
}

/*
 * iodb_import reserves a value's declared length (up to IODB_MAX_VALUE, 256 MiB) before
 * reading it, and a store table for the declared count; under ASan each such allocation
 * costs a memset of its shadow (32 MiB), which would cap the run at a few hundred inputs a
 * second. Declared lengths far past the end of the stream are brought down to a little past
 * it (the stream still ends early, the same error path) and huge store counts wrapped.
 */
static void tame(uint8_t *s, size_t n)
{
	size_t at = 8 + 8, nstores;

	if (n < at + 1 || n - at - 1 < s[at] + 32u + 4u)
		return;
	at += 1 + s[at] + 32;
	nstores = get_le(s + at, 4);
	if (nstores > 256)
		s[at + 1] = s[at + 2] = s[at + 3] = 0;
	at += 4;
	while (at < n) {
		uint64_t nnodes;

		at += 1 + s[at];
		if (at + 8 > n)
			return;
		nnodes = get_le(s + at, 8);
		at += 8;
		for (uint64_t i = 0; i < nnodes; i++) {
			uint64_t klen, vlen;
			int leaf;

			if (at + 13 > n)
				return;
			leaf = s[at] == 0;
			klen = get_le(s + at + 9, 4);
			if (klen == 0 || klen > IODB_MAX_KEY || n - at - 13 < klen)
				return;
			at += 13 + klen;
			if (!leaf)
				continue;
			if (at + 4 > n)
				return;
			vlen = get_le(s + at, 4);
			if (vlen > n - at - 4 + 4096) {
				vlen = n - at - 4 + (vlen & 4095);
				for (int b = 0; b < 4; b++)
					s[at + b] = (uint8_t)(vlen >> (8 * b));
			}
			if (n - at - 4 < vlen)
				return;
			at += 4 + vlen;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = {1, 2, 3, 7, 64, 4096, SIZE_MAX, SIZE_MAX};
	uint8_t *s;
	size_t n, cap;
	const uint8_t *d;
	size_t dn, chunk;
	int rc;

	if (size < 1)
		return 0;
	chunk = chunks[(data[0] / 4) % 8];
	d = data + 1;
	dn = size - 1;
	cap = valid_len + dn + 1;
	EXPECT((s = malloc(cap)) != NULL);
	switch (data[0] % 4) {
	case 0:
		memcpy(s, d, dn);
		n = dn;
		break;
	case 1:
		memcpy(s, valid, valid_len);
		n = valid_len;
		for (size_t i = 0; i + 3 <= dn; i += 3)
			s[(d[i] | (size_t)d[i + 1] << 8) % n] = d[i + 2];
		break;
	case 2: {
		size_t cut = dn >= 2 ? (d[0] | (size_t)d[1] << 8) % (valid_len + 1) : valid_len;
		size_t rest = dn >= 2 ? dn - 2 : 0;

		memcpy(s, valid, cut);
		memcpy(s + cut, d + (dn - rest), rest);
		n = cut + rest;
		break;
	}
	default: {
		size_t at = dn >= 2 ? (d[0] | (size_t)d[1] << 8) % (valid_len + 1) : 0;
		size_t rest = dn >= 2 ? dn - 2 : 0;

		memcpy(s, valid, at);
		memcpy(s + at, d + (dn - rest), rest);
		memcpy(s + at + rest, valid + at, valid_len - at);
		n = valid_len + rest;
		break;
	}
	}

	if ((data[0] % 4) != 0 && n == valid_len && memcmp(s, valid, n) == 0) {
		/* The valid stream itself: Initialize imported it; a run costs milliseconds. */
		free(s);
		return 0;
	}
	tame(s, n);
	rc = import(s, n, chunk);
	if (rc == 0) {
		check_imported();
	} else {
		EXPECT(rc < 0 && rc != IODB_ENOMEM);
		EXPECT(dir_empty_or_missing(dest));
		/* Nothing left behind stands in the way of the next import. */
		if (++failures % 1024 == 0) {
			EXPECT(import(valid, valid_len, SIZE_MAX) == 0);
			check_imported();
		}
	}
	rmrf(dest);
	free(s);
	return 0;
}
