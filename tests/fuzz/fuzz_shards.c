/*
 * fuzz_shards.c — libFuzzer target for the decoders of shards/: run files and the manifest.
 *
 * The first input byte picks the mode (its value mod 3), the rest is the data:
 *   0: the data is a run file: run_open, then a full walk forward and backward, seeks and
 *      point reads;
 *   1: the data is a MANIFEST: manifest_open (blobs accepted as they come), then a walk of
 *      the shard map it built;
 *   2: the data describes entries (u8 store, u8 key length, key, u8 value length, value),
 *      written as a valid run with 64-byte blocks; its last two bytes then pick a byte of the
 *      file to flip (or none), so that the fuzzer reaches the decoders with good checksums
 *      around one bad byte, and the reads of an undamaged run are checked against the input.
 * The only acceptable outcomes are success and IODB_ECORRUPT; anything else aborts, which
 * libFuzzer reports as a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shards/shards.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static char *runpath, *shdir, *manpath;
static struct env *env;
static struct block_cache *bc;

#define EXPECT(cond)                                                                       \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: expectation failed: %s (%s)\n", __FILE__,  \
				__LINE__, #cond, iodb_errmsg());                           \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void cleanup(void)
{
	unlink(runpath);
	unlink(manpath);
	rmdir(shdir);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "%s", "/dev/shm/iodb-fuzz-XXXXXX");
	if (!mkdtemp(root)) {
		snprintf(root, sizeof(root), "%s", "/tmp/iodb-fuzz-XXXXXX");
		if (!mkdtemp(root))
			abort();
	}
	runpath = path_join(root, "00000000000000000001.run");
	shdir = path_join(root, "shards");
	manpath = path_join(root, "MANIFEST");
	if (!runpath || !shdir || !manpath || env_new(&env))
		abort();
	atexit(cleanup);
	return 0;
}

static void put_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f))
		abort();
}

/* Walk everything the run holds; every result is data or IODB_ECORRUPT. */
static void walk_run(struct run *r)
{
	static const uint8_t probe[] = "key";
	struct iiter *it;
	struct entry e;
	struct block *h;
	int rc;

	if ((rc = run_iter_new(r, &it)) != 0) {
		EXPECT(rc == IODB_ECORRUPT);
		return;
	}
	for (it->ops->first(it); it->ops->valid(it); it->ops->next(it))
		(void)it->ops->entry(it);
	EXPECT(it->ops->status(it) == 0 || it->ops->status(it) == IODB_ECORRUPT);
	for (it->ops->last(it); it->ops->valid(it); it->ops->prev(it))
		(void)it->ops->entry(it);
	EXPECT(it->ops->status(it) == 0 || it->ops->status(it) == IODB_ECORRUPT);
	for (uint32_t s = 0; s < 3; s++) {
		it->ops->seek(it, s, probe, 1 + s, N_MAX);
		if (it->ops->valid(it))
			it->ops->prev(it);
		rc = run_get(r, s, probe, 1 + s, NULL, &e, &h);
		EXPECT(rc >= 0 || rc == IODB_ECORRUPT);
		block_unref(h);
	}
	it->ops->close(it);
}

static void mode_run(const uint8_t *p, size_t n)
{
	struct run *r;
	int rc;

	put_file(runpath, p, n);
	if ((rc = run_open(env, runpath, 1, bc, &r)) != 0) {
		EXPECT(rc == IODB_ECORRUPT);
		return;
	}
	walk_run(r);
	run_unref(r);
}

static int any_blob(void *ctx, const uint8_t *p, size_t len, const char *path, uint64_t off)
{
	(void)ctx;
	(void)p;
	(void)len;
	(void)path;
	(void)off;
	return 0;
}

static void mode_manifest(const uint8_t *p, size_t n)
{
	struct manifest *m;
	struct manifest_state st;
	struct shard_map *map;
	int rc;

	(void)mkdir(shdir, 0755);
	put_file(manpath, p, n);
	if ((rc = manifest_open(env, root, bc, any_blob, NULL, &m, &st, &map)) != 0) {
		EXPECT(rc == IODB_ECORRUPT);
		return;
	}
	EXPECT(map->n >= 1 && map->v[0].lolen == 0);
	for (uint32_t i = 1; i < map->n; i++)
		EXPECT(key_cmp(map->v[i - 1].lo, map->v[i - 1].lolen, map->v[i].lo,
			       map->v[i].lolen) < 0);
	smap_unref(map);
	manifest_close(m);
}

struct fent {
	struct entry e;
};

static int fent_cmp(const void *a, const void *b)
{
	const struct entry *x = &((const struct fent *)a)->e, *y = &((const struct fent *)b)->e;

	return entry_cmp(x->store, x->key, x->klen, x->n, y->store, y->key, y->klen, y->n);
}

static void mode_written(const uint8_t *p, size_t n)
{
	struct run_wopts o = {64, 10};
	struct fent *v = calloc(n / 3 + 1, sizeof(*v));
	struct run_writer *w;
	struct run_meta meta;
	struct run *r;
	size_t nv = 0, at = 0, flip;
	uint8_t *file;
	size_t flen;
	FILE *f;
	int rc;

	if (!v || n < 2)
		goto out;
	flip = (size_t)p[n - 2] << 8 | p[n - 1];
	n -= 2;
	while (at + 2 <= n) {
		struct entry *e = &v[nv].e;
		uint8_t kl = p[at + 1] % 16 + 1, vl;

		if (at + 2 + kl + 1 > n)
			break;
		e->store = p[at] % 3;
		e->key = p + at + 2;
		e->klen = kl;
		e->n = (uint32_t)nv + 1; /* distinct: entries are unique */
		vl = p[at + 2 + kl];
		at += 3 + kl;
		e->tomb = vl == 255;
		vl = e->tomb ? 0 : (uint8_t)(vl % 64);
		if (at + vl > n)
			break;
		e->val = p + at;
		e->vlen = vl;
		at += vl;
		nv++;
	}
	if (nv == 0)
		goto out;
	qsort(v, nv, sizeof(*v), fent_cmp);
	unlink(runpath);
	EXPECT(run_writer_open(env, runpath, 1, &o, &w) == 0);
	for (size_t i = 0; i < nv; i++)
		EXPECT(run_writer_add(w, &v[i].e) == 0);
	EXPECT(run_writer_finish(w, &meta) == 0);
	f = fopen(runpath, "r+b");
	EXPECT(f != NULL);
	flen = (size_t)meta.size;
	if ((file = malloc(flen)) != NULL && fread(file, 1, flen, f) == flen && flip < flen) {
		file[flip] ^= 0x5a;
		rewind(f);
		EXPECT(fwrite(file, 1, flen, f) == flen);
	}
	fclose(f);
	if ((rc = run_open(env, runpath, 1, bc, &r)) != 0) {
		EXPECT(rc == IODB_ECORRUPT && flip < flen);
	} else {
		if (flip >= flen) {
			/* Undamaged: every entry reads back, in order. */
			struct iiter *it;
			size_t i = 0;

			EXPECT(run_iter_new(r, &it) == 0);
			for (it->ops->first(it); it->ops->valid(it); it->ops->next(it), i++) {
				const struct entry *e = it->ops->entry(it);

				EXPECT(i < nv && fent_cmp(e, &v[i].e) == 0 && e->tomb == v[i].e.tomb &&
				       e->vlen == v[i].e.vlen &&
				       (!e->vlen || !memcmp(e->val, v[i].e.val, e->vlen)));
			}
			EXPECT(it->ops->status(it) == 0 && i == nv);
			it->ops->close(it);
		}
		walk_run(r);
		run_unref(r);
	}
	free(file);
out:
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* A cache of its own per input: it is keyed by file number, which a store never
	 * reuses for another file, but every input here is file 1. */
	if (bcache_new(1 << 16, &bc) != 0)
		abort();
	switch (data[0] % 3) {
	case 0:
		mode_run(data + 1, size - 1);
		break;
	case 1:
		mode_manifest(data + 1, size - 1);
		break;
	default:
		mode_written(data + 1, size - 1);
		break;
	}
	bcache_free(bc);
	err_clear();
	return 0;
}
