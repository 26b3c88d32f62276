/*
 * fuzz_snapshot.c — libFuzzer target for Merkle snapshot files: the layer loader
 * (lib/merkle/snap.c, mtsnap_load) and, through the public API, the metadata decoder and
 * the fallbacks of lib/db/snapshot.c.
 *
 * LLVMFuzzerInitialize builds two template stores once (two stores, six versions, a full
 * snapshot at v3 and an incremental one at v5, v6 only in the journal): A keeps every
 * version; B was cleaned to its head and flushed, so the journal behind the v5 snapshot is
 * gone. It records every version's commit hash, the hash of one more update, and store
 * "b"'s root at the head.
 *
 * Input: byte 0 picks the mode, byte 1 the file, byte 2 the damage, the rest its data.
 *   mode & 3 == 0..2: the API. A copy of template A (mode bit 2 clear) or B (set); one file
 *      of its newest snapshot (metadata or a layer file) is damaged: bytes overwritten at
 *      offsets taken from the data (u16 offset, u8 value pairs), cut to a length, or
 *      replaced by the data. Mode bit 3 then repairs the checksums (a layer file's CRC32C
 *      and counts in the metadata, the metadata's own CRC32C) so that the damage gets past
 *      them to the record checks. The store is opened, every version's commit hash read,
 *      a key of "b" proved, one update committed. Acceptable: IODB_ECORRUPT or
 *      IODB_NOTFOUND, or success with the right hashes and a proof that verifies (the
 *      journal may serve instead of the snapshot). With repaired checksums the damage is
 *      indistinguishable from a snapshot that says something else, so only the error codes
 *      are checked there (the loader checks structure and the root's hash, not every node's).
 *   mode & 3 == 3: the loader alone, cheap enough for millions of runs: the two layers of
 *      store 0's chain (full at v3, incremental at v5) are copied to a scratch directory,
 *      one of the six files damaged as above, the checksums put right (unless mode bit 2),
 *      and optionally (mode bit 3) the record counts and the root reference taken from the
 *      data. mtsnap_load must return 0 or IODB_ECORRUPT; a tree it accepts is walked node
 *      by node, searched, proved and changed (a build on top of it) without a fault. With
 *      no damage the root hash must be the template's.
 * An open costs milliseconds, the loader mode microseconds: IODB_FUZZ_SNAPSHOT_MODE=loader
 * runs every input through the loader mode (the long runs); unset, both.
 * A violated expectation aborts, which libFuzzer reports as a crash.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iodb.h"
#include "lib/merkle/merkle.h"

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

#define NVERS 6
#define NKEYS 12
#define MAXFILES 16

/* A file of a template's newest snapshot, and where the metadata describes it. */
struct sfile {
	char name[32];
	int layer_file;	     /* 1: s<i>.nodes/.leaves/.keys; 0: metadata or plan */
	size_t crc_off;	     /* its CRC32C in the metadata (layer files) */
	size_t count_off;    /* its record count (u64) in the metadata */
	size_t rec;	     /* its record size (1 for keys) */
};

struct tmpl {
	char dir[256];
	char snapdir[64]; /* snapshots/<newest> */
	struct sfile f[MAXFILES];
	int nf;
	int nvers;	     /* versions kept: all, or the head only */
	int first;	     /* index of the first kept version */
};

static char root[64], work[128], ldir[128];
static struct tmpl T[2];
static uint8_t hashes[NVERS][32], after_hash[2][32], b_root[32];
static iodb_options opts;

/* The loader mode's chain: store 0's full layer (v3) and incremental layer (v5). */
static uint8_t *lfile[6];
static size_t lsize[6];
static struct mlayer_meta lmeta[2];
static uint64_t lroot_pref;
static uint8_t lroot_hash[32];
static char *lprefix[2];
static struct env *lenv;
static char only; /* IODB_FUZZ_SNAPSHOT_MODE: 'l' loader only, else every mode */

static const char *const ext[3] = {"nodes", "leaves", "keys"};

static void vid_of(int i, char out[8])
{
	snprintf(out, 8, "v%d", i + 1);
}

static void key_of(int k, char out[8])
{
	snprintf(out, 8, "k%02d", k);
}

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

static uint8_t *slurp(const char *path, size_t *n)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *p;

	EXPECT(fd >= 0 && fstat(fd, &st) == 0);
	p = malloc((size_t)st.st_size + 1);
	EXPECT(p && read(fd, p, (size_t)st.st_size) == st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return p;
}

static void spit(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	EXPECT(fd >= 0 && (n == 0 || write(fd, p, n) == (ssize_t)n));
	close(fd);
}

/* Copy a directory tree with plain syscalls. */
static void copy_tree(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;

	EXPECT(d && mkdir(to, 0755) == 0);
	while ((e = readdir(d)) != NULL) {
		char a[512], b[512];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
		EXPECT(stat(a, &st) == 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(a, b);
		} else {
			size_t n;
			uint8_t *p = slurp(a, &n);

			spit(b, p, n);
			free(p);
		}
	}
	closedir(d);
}

static int update_rc(iodb *db, int v)
{
	iodb_batch *b;
	char vid[8], key[8], val[16];
	int rc;

	EXPECT(iodb_batch_new(&b) == 0);
	for (int k = 0; k < NKEYS; k++) {
		if ((k * 7 + v) % 3 == 0)
			continue;
		key_of(k, key);
		snprintf(val, sizeof(val), "val-%d-%d", v, k);
		EXPECT(iodb_batch_put(b, k % 2 ? "b" : NULL, key, 3, val, strlen(val)) == 0);
	}
	if (v > 1) {
		key_of(v, key);
		EXPECT(iodb_batch_del(b, NULL, key, 3) == 0);
	}
	vid_of(v, vid);
	rc = iodb_update(db, vid, strlen(vid), b);
	iodb_batch_free(b);
	return rc;
}

static void update(iodb *db, int v)
{
	EXPECT(update_rc(db, v) == 0);
}

/* ---- Reading a metadata file (docs/format.md, "Merkle snapshots") ---------------------- */

struct mrd {
	const uint8_t *p;
	size_t n, at;
};

static const uint8_t *take(struct mrd *r, size_t k)
{
	EXPECT(r->n - r->at >= k);
	r->at += k;
	return r->p + r->at - k;
}

static uint64_t take_le(struct mrd *r, size_t k)
{
	const uint8_t *p = take(r, k);
	uint64_t v = 0;

	for (size_t i = k; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* Layer entry of a metadata: what the loader mode and the repairs need. */
struct lentry {
	char dir[64];
	uint32_t idx;
	size_t at; /* offset of its branch count */
	struct mlayer_meta m;
};

/* Walk a metadata file; fn sees every store's root and every layer entry. */
static void meta_walk(const uint8_t *p, size_t n,
		      void (*fn)(void *ctx, uint32_t store, uint32_t layer, uint32_t nl,
				 const struct lentry *e, uint64_t root_pref, const uint8_t *hash),
		      void *ctx)
{
	struct mrd r = {p, n - 4, 8};
	uint32_t nstores;

	EXPECT(n > 12 && memcmp(p, "IODBSNAP", 8) == 0);
	take(&r, 4 + 4 + 8 + 16);
	take(&r, take_le(&r, 1));
	nstores = (uint32_t)take_le(&r, 4);
	for (uint32_t s = 0; s < nstores; s++) {
		const uint8_t *hash;
		uint64_t root_pref;
		uint32_t nl;

		take(&r, take_le(&r, 1));
		hash = take(&r, 32);
		root_pref = take_le(&r, 8);
		nl = (uint32_t)take_le(&r, 4);
		for (uint32_t k = 0; k < nl; k++) {
			struct lentry e;
			size_t dl = take_le(&r, 1);

			EXPECT(dl < sizeof(e.dir));
			memcpy(e.dir, take(&r, dl), dl);
			e.dir[dl] = '\0';
			e.idx = (uint32_t)take_le(&r, 4);
			e.at = r.at;
			e.m.nbranch = take_le(&r, 8);
			e.m.nleaf = take_le(&r, 8);
			e.m.keys_len = take_le(&r, 8);
			e.m.crc_nodes = (uint32_t)take_le(&r, 4);
			e.m.crc_leaves = (uint32_t)take_le(&r, 4);
			e.m.crc_keys = (uint32_t)take_le(&r, 4);
			e.m.full = take_le(&r, 1) != 0;
			fn(ctx, s, k, nl, &e, root_pref, hash);
		}
	}
	EXPECT(r.at == r.n);
}

/* Template files: where the metadata keeps each layer file's CRC and count. */
static void find_offsets(void *ctx, uint32_t store, uint32_t layer, uint32_t nl,
			 const struct lentry *e, uint64_t root_pref, const uint8_t *hash)
{
	struct tmpl *t = ctx;

	(void)store;
	(void)layer;
	(void)nl;
	(void)root_pref;
	(void)hash;
	if (strcmp(e->dir, strrchr(t->snapdir, '/') + 1) != 0)
		return;
	for (int x = 0; x < 3; x++) {
		char name[32];

		snprintf(name, sizeof(name), "s%u.%s", e->idx, ext[x]);
		for (int i = 0; i < t->nf; i++) {
			struct sfile *f = &t->f[i];

			if (strcmp(f->name, name) != 0)
				continue;
			f->layer_file = 1;
			f->count_off = x == 2 ? e->at + 16 : x == 1 ? e->at + 8 : e->at;
			f->crc_off = e->at + 24 + 4 * (size_t)x;
			f->rec = x == 2 ? 1 : x == 1 ? 48 : e->m.full ? 48 : 72;
		}
	}
}

/* Loader mode: store 0's chain in the newest snapshot of template A. */
static void take_chain(void *ctx, uint32_t store, uint32_t layer, uint32_t nl,
		       const struct lentry *e, uint64_t root_pref, const uint8_t *hash)
{
	(void)ctx;
	if (store != 0)
		return;
	EXPECT(nl == 2 && layer < 2);
	lmeta[layer] = e->m;
	for (int x = 0; x < 3; x++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/snapshots/%s/s%u.%s", T[0].dir, e->dir, e->idx,
			 ext[x]);
		lfile[layer * 3 + x] = slurp(path, &lsize[layer * 3 + x]);
	}
	lroot_pref = root_pref;
	memcpy(lroot_hash, hash, 32);
}

static int newest(const char *snaps, char out[64])
{
	DIR *d = opendir(snaps);
	struct dirent *e;

	EXPECT(d);
	out[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "snapshot-", 9) == 0 && !strstr(e->d_name, ".tmp") &&
		    strcmp(e->d_name, out) > 0)
			snprintf(out, 64, "%s", e->d_name);
	closedir(d);
	return out[0] != '\0';
}

static void template_files(struct tmpl *t)
{
	char snaps[300], name[64], path[512];
	DIR *d;
	struct dirent *e;
	uint8_t *meta;
	size_t n;

	snprintf(snaps, sizeof(snaps), "%s/snapshots", t->dir);
	EXPECT(newest(snaps, name));
	snprintf(t->snapdir, sizeof(t->snapdir), "snapshots/%s", name);
	snprintf(path, sizeof(path), "%s/%s", t->dir, t->snapdir);
	EXPECT((d = opendir(path)) != NULL);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.' && t->nf < MAXFILES)
			snprintf(t->f[t->nf++].name, sizeof(t->f[0].name), "%s", e->d_name);
	closedir(d);
	snprintf(path, sizeof(path), "%s/%s/metadata", t->dir, t->snapdir);
	meta = slurp(path, &n);
	meta_walk(meta, n, find_offsets, t);
	free(meta);
}

static void build_template(struct tmpl *t, int cleaned)
{
	iodb *db;

	snprintf(t->dir, sizeof(t->dir), "%s/tmpl%d", root, cleaned);
	EXPECT(iodb_open(t->dir, &opts, &db) == 0);
	for (int v = 0; v < NVERS; v++) {
		update(db, v);
		if (!cleaned)
			EXPECT(iodb_commit_hash(db, NULL, 0, hashes[v]) == 0);
		if (v == 2)
			EXPECT(iodb_merkle_snapshot(db, 1) == 0);
		if (v == 4)
			EXPECT(iodb_merkle_snapshot(db, 0) == 0);
	}
	if (cleaned) {
		EXPECT(iodb_clean(db, 1) == 0);
		EXPECT(iodb_flush(db) == 0);
		t->first = NVERS - 1;
	} else {
		EXPECT(iodb_root_hash(db, NULL, 0, "b", b_root) == 0);
	}
	t->nvers = NVERS - t->first;
	EXPECT(iodb_close(db) == 0);
	template_files(t);
	/* The hash of one more update, on a copy (the template stays as it is). */
	snprintf(work, sizeof(work), "%s/work", root);
	copy_tree(t->dir, work);
	EXPECT(iodb_open(work, &opts, &db) == 0);
	update(db, NVERS);
	EXPECT(iodb_commit_hash(db, NULL, 0, after_hash[cleaned]) == 0);
	EXPECT(iodb_close(db) == 0);
	rmrf(work);
}

static void cleanup(void)
{
	rmrf(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[512];
	uint8_t *meta;
	size_t n;

	(void)argc;
	(void)argv;
	if (getenv("IODB_FUZZ_SNAPSHOT_MODE"))
		only = getenv("IODB_FUZZ_SNAPSHOT_MODE")[0];
	snprintf(root, sizeof(root), "%s", "/dev/shm/iodb-fuzz-XXXXXX");
	if (!mkdtemp(root)) {
		snprintf(root, sizeof(root), "%s", "/tmp/iodb-fuzz-XXXXXX");
		EXPECT(mkdtemp(root) != NULL);
	}
	atexit(cleanup);
	iodb_options_init(&opts);
	opts.sync = 0;
	opts.auto_compaction = 0;
	opts.journal_segment_bytes = 4096;
	opts.merkle_threads = 1;
	/* Only the explicit snapshots (an explicit incremental needs an interval set). */
	opts.snapshot_interval = 1000000;
	opts.incremental_snapshot_interval = 100000;
	build_template(&T[0], 0);
	build_template(&T[1], 1);

	snprintf(path, sizeof(path), "%s/%s/metadata", T[0].dir, T[0].snapdir);
	meta = slurp(path, &n);
	meta_walk(meta, n, take_chain, NULL);
	free(meta);
	snprintf(ldir, sizeof(ldir), "%s/layers", root);
	EXPECT(mkdir(ldir, 0755) == 0);
	for (int L = 0; L < 2; L++) {
		char pre[300];

		snprintf(pre, sizeof(pre), "%s/L%d", ldir, L);
		EXPECT((lprefix[L] = strdup(pre)) != NULL);
		for (int x = 0; x < 3; x++) {
			snprintf(path, sizeof(path), "%s.%s", pre, ext[x]);
			spit(path, lfile[L * 3 + x], lsize[L * 3 + x]);
		}
	}
	EXPECT(env_new(&lenv) == 0);
	snprintf(work, sizeof(work), "%s/work", root);
	return 0;
}

/* ---- Damage ------------------------------------------------------------------------------- */

/* Damage p (n bytes, capacity cap) as op says; returns the new length. */
static size_t damage(uint8_t *p, size_t n, size_t cap, uint8_t op, const uint8_t *d, size_t dn)
{
	switch (op % 3) {
	case 0: /* overwrite: (u16 offset, u8 value) triples */
		for (size_t i = 0; i + 3 <= dn && n; i += 3)
			p[(d[i] | (size_t)d[i + 1] << 8) % n] = d[i + 2];
		return n;
	case 1: /* cut */
		return dn >= 2 && n ? (d[0] | (size_t)d[1] << 8) % n : 0;
	default: /* replace */
		if (dn > cap)
			dn = cap;
		memcpy(p, d, dn);
		return dn;
	}
}

static void put_le(uint8_t *p, uint64_t v, int k)
{
	for (int i = 0; i < k; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- The API mode ---------------------------------------------------------------------- */

static int acceptable(int rc)
{
	return rc == IODB_ECORRUPT || rc == IODB_NOTFOUND;
}

static void api_run(const struct tmpl *t, int cleaned, int repair, uint8_t fsel, uint8_t op,
		    const uint8_t *d, size_t dn)
{
	const struct sfile *f = &t->f[fsel % t->nf];
	char path[512], mpath[512], vid[8];
	uint8_t *p, *meta = NULL, h[32];
	size_t n, cap, mlen = 0;
	void *proof;
	size_t plen;
	iodb *db;
	int rc, strict = !repair;

	copy_tree(t->dir, work);
	snprintf(path, sizeof(path), "%s/%s/%s", work, t->snapdir, f->name);
	snprintf(mpath, sizeof(mpath), "%s/%s/metadata", work, t->snapdir);
	{
		uint8_t *orig = slurp(path, &n);

		cap = n > dn ? n : dn;
		EXPECT((p = malloc(cap + 1)) != NULL);
		memcpy(p, orig, n);
		free(orig);
	}
	n = damage(p, n, cap, op, d, dn);
	if (repair && f->layer_file) {
		meta = slurp(mpath, &mlen);
		put_le(meta + f->crc_off, crc32c(p, n), 4);
		if (n % f->rec == 0)
			put_le(meta + f->count_off, n / f->rec, 8);
	}
	if (repair && strcmp(f->name, "metadata") == 0 && n >= 12) {
		put_le(p + n - 4, crc32c(p, n - 4), 4);
	}
	spit(path, p, n);
	free(p);
	if (meta) {
		put_le(meta + mlen - 4, crc32c(meta, mlen - 4), 4);
		spit(mpath, meta, mlen);
		free(meta);
	}

	rc = iodb_open(work, &opts, &db);
	EXPECT(rc == 0 || acceptable(rc));
	if (rc != 0)
		goto out;
	for (int v = t->first; v < NVERS; v++) {
		vid_of(v, vid);
		rc = iodb_commit_hash(db, vid, strlen(vid), h);
		EXPECT(rc == 0 || acceptable(rc));
		if (rc == 0 && strict)
			EXPECT(memcmp(h, hashes[v], 32) == 0);
	}
	rc = iodb_prove(db, NULL, 0, "b", "k03", 3, &proof, &plen);
	EXPECT(rc == 0 || acceptable(rc));
	if (rc == 0) {
		char val[16];

		snprintf(val, sizeof(val), "val-%d-%d", NVERS - 1, 3);
		if (strict)
			EXPECT(iodb_verify_proof(b_root, proof, plen, "k03", 3, val, strlen(val)) ==
			       0);
		iodb_free(proof);
	}
	/* Writes go on from whatever the open found, with the hash they had before. */
	rc = update_rc(db, NVERS);
	EXPECT(rc == 0 || acceptable(rc));
	if (rc == 0) {
		rc = iodb_commit_hash(db, NULL, 0, h);
		EXPECT(rc == 0 || acceptable(rc));
		if (rc == 0 && strict)
			EXPECT(memcmp(h, after_hash[cleaned], 32) == 0);
	}
	EXPECT(iodb_close(db) == 0);
out:
	rmrf(work);
}

/* ---- The loader mode ------------------------------------------------------------------- */

static uint64_t walk(const struct mtsnap *s, const struct mnode *n, int depth)
{
	struct minfo i;
	uint64_t sum;

	EXPECT(depth < 300);
	mnode_info(s, n, &i);
	sum = i.version + i.klen + (i.klen ? i.key[0] + i.key[i.klen - 1] : 0) + i.hash[0] +
	      i.hash[31];
	if (i.height) {
		EXPECT(i.left && i.right);
		sum += walk(s, i.left, depth + 1) + walk(s, i.right, depth + 1);
	}
	return sum;
}

static void loader_run(uint8_t mode, uint8_t fsel, uint8_t op, const uint8_t *d, size_t dn)
{
	int which = fsel % 6, L = which / 3, x = which % 3;
	int repair = !(mode & 4), counts = (mode & 8) != 0;
	struct mlayer_meta m[2];
	uint64_t root_pref = lroot_pref;
	size_t cap, n = lsize[which];
	uint8_t *p;
	char path[512];
	struct mtsnap *s;
	struct mnode *rootn;
	int rc, damaged = dn > 0;

	m[0] = lmeta[0];
	m[1] = lmeta[1];
	if (counts && dn >= 16) {
		/* The counts and the root reference from the data, the damage from the rest. */
		m[L].nbranch = d[0] | (uint64_t)d[1] << 8;
		m[L].nleaf = d[2] | (uint64_t)d[3] << 8;
		m[L].keys_len = d[4] | (uint64_t)d[5] << 8 | (uint64_t)d[6] << 16;
		m[L].full = d[7] & 1;
		memcpy(&root_pref, d + 8, 8);
		d += 16;
		dn -= 16;
	}
	cap = n > dn ? n : dn;
	EXPECT((p = malloc(cap + 1)) != NULL);
	memcpy(p, lfile[which], n);
	n = damage(p, n, cap, op, d, dn);
	if (repair) {
		uint32_t c = crc32c(p, n);

		if (x == 0)
			m[L].crc_nodes = c;
		else if (x == 1)
			m[L].crc_leaves = c;
		else
			m[L].crc_keys = c;
	}
	snprintf(path, sizeof(path), "%s.%s", lprefix[L], ext[x]);
	spit(path, p, n);
	free(p);

	rc = mtsnap_load(lenv, 2, lprefix, m, root_pref, &s, &rootn);
	EXPECT(rc == 0 || rc == IODB_ECORRUPT);
	if (rc == 0) {
		uint8_t h[32];

		if (rootn) {
			struct mproof_step steps[160];
			struct mbuild b;
			struct mnode *r2 = rootn;
			size_t nsteps;
			const struct mnode *leaf, *lo, *hi;

			(void)walk(s, rootn, 0);
			for (int k = 0; k < NKEYS + 2; k++) {
				char key[8];

				key_of(k, key);
				if (mtree_get(s, rootn, (const uint8_t *)key, 3))
					EXPECT(mtree_path(s, rootn, (const uint8_t *)key, 3, steps,
							  &nsteps, &leaf) == 0);
				mtree_neighbors(s, rootn, (const uint8_t *)key, 3, &lo, &hi);
			}
			/* A version on top of the loaded tree: path copying out of the mapping. */
			mbuild_init(&b, 1000, 1000);
			b.snap = s;
			memset(h, 7, sizeof(h));
			EXPECT(mtree_set(&b, &r2, (const uint8_t *)"k05x", 4, h) == 0);
			{
				int removed;

				EXPECT(mtree_remove(&b, &r2, (const uint8_t *)"k02", 3, &removed) == 0);
			}
			EXPECT(mtree_finish(&b, r2, 1, NULL, h) == 0);
			mnode_unref(r2);
			mbuild_free(&b);
		}
		EXPECT(mtree_hash(s, rootn, 1, h) == 0);
		if (!damaged && !counts)
			EXPECT(memcmp(h, lroot_hash, 32) == 0);
		mtsnap_unref(s);
	}
	/* Put the file back for the next run. */
	spit(path, lfile[which], lsize[which]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	if ((data[0] & 3) == 3 || only == 'l') {
		loader_run(data[0], data[1], data[2], data + 3, size - 3);
	} else if (only != 'l') {
		int cleaned = (data[0] & 4) != 0;

		api_run(&T[cleaned], cleaned, (data[0] & 8) != 0, data[1], data[2], data + 3,
			size - 3);
	}
	return 0;
}
