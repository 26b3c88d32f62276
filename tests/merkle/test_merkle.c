/*
 * test_merkle.c — the Merkle layer through the public API, against fixtures made by an
 * independent reference (tests/data/iavl_ref.py, itself checked against cosmos/iavl's
 * published vectors; its proofs verified by the @confio/ics23 package):
 *
 *   changesets  every case of iavl_changesets.txt: the root hash after every version
 *   proofs      iodb_prove's bytes equal the fixture proofs byte for byte, and verify
 *   commit      the commit-info hash over several stores
 *   reopen      after reopen (old roots rebuilt from the journal) every version's hash holds
 *   branches    each branch's hashes equal those of its changesets applied linearly
 *   stores      stores appearing mid-chain, empty trees, merkle off
 */
#include <stdlib.h>
#include <string.h>

#include "lib/merkle/merkle.h"
#include "testutil.h"

#ifndef IODB_TEST_DATA
#define IODB_TEST_DATA "tests/data"
#endif

static const char *EMPTY_HASH =
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
	size_t n = strcmp(h, "-") == 0 ? 0 : strlen(h) / 2;

	ck_assert_uint_le(n, cap);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(sscanf(h + 2 * i, "%2hhx", &out[i]), 1);
	return n;
}

static void tohex(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* ---- The fixture file ----------------------------------------------------------------- */

struct op {
	int del;
	unsigned char *key, *val;
	size_t klen, vlen;
};
struct ver {
	int version;
	struct op *ops;
	int nops;
	char root[65];
};
struct fcase {
	char name[64];
	long initial;
	struct ver *v;
	int nv;
};

static struct fcase *cases;
static int ncases;

static void load_cases(void)
{
	FILE *f;
	char *line = NULL;
	size_t cap = 0;
	struct fcase *c = NULL;
	struct ver *v = NULL;

	if (cases)
		return;
	f = fopen(IODB_TEST_DATA "/iavl_changesets.txt", "r");
	ck_assert_msg(f != NULL, "cannot open %s/iavl_changesets.txt", IODB_TEST_DATA);
	while (getline(&line, &cap, f) > 0) {
		char *tok[4] = {0}, *save = NULL;
		int nt = 0;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || !line[0])
			continue;
		for (char *t = strtok_r(line, " ", &save); t && nt < 4; t = strtok_r(NULL, " ", &save))
			tok[nt++] = t;
		if (!strcmp(tok[0], "case")) {
			cases = realloc(cases, (size_t)(ncases + 1) * sizeof(*cases));
			c = &cases[ncases++];
			memset(c, 0, sizeof(*c));
			snprintf(c->name, sizeof(c->name), "%s", tok[1]);
			c->initial = atol(tok[3]);
		} else if (!strcmp(tok[0], "version")) {
			c->v = realloc(c->v, (size_t)(c->nv + 1) * sizeof(*c->v));
			v = &c->v[c->nv++];
			memset(v, 0, sizeof(*v));
			v->version = atoi(tok[1]);
		} else if (!strcmp(tok[0], "set") || !strcmp(tok[0], "del")) {
			struct op *o;

			v->ops = realloc(v->ops, (size_t)(v->nops + 1) * sizeof(*v->ops));
			o = &v->ops[v->nops++];
			o->del = tok[0][0] == 'd';
			o->key = malloc(strlen(tok[1]) / 2 + 1);
			o->klen = unhex(tok[1], o->key, strlen(tok[1]) / 2 + 1);
			o->val = NULL;
			o->vlen = 0;
			if (!o->del) {
				o->val = malloc(strlen(tok[2]) / 2 + 1);
				o->vlen = unhex(tok[2], o->val, strlen(tok[2]) / 2 + 1);
			}
		} else if (!strcmp(tok[0], "root")) {
			snprintf(v->root, sizeof(v->root), "%s", tok[1]);
		}
	}
	free(line);
	fclose(f);
	ck_assert_int_ge(ncases, 8);
}

static iodb *open_store(const char *dir, long initial, int merkle)
{
	iodb_options o;
	iodb *db;

	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = merkle;
	if (initial > 1)
		o.initial_height = (uint64_t)initial;
	ck_ok(iodb_open(dir, &o, &db));
	return db;
}

/* Commit version v of a case into store (a named store, or the default one). */
static void commit_version(iodb *db, const char *store, const struct ver *v, const char *vid)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	for (int i = 0; i < v->nops; i++) {
		const struct op *o = &v->ops[i];

		if (o->del)
			ck_ok(iodb_batch_del(b, store, o->key, o->klen));
		else
			ck_ok(iodb_batch_put(b, store, o->key, o->klen, o->val, o->vlen));
	}
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

static void check_root(iodb *db, const char *vid, const char *store, const char *want,
		       const char *what)
{
	unsigned char h[32];
	char hex[65];
	int rc = iodb_root_hash(db, vid, vid ? strlen(vid) : 0, store, h);

	if (rc == IODB_NOTFOUND && (!store || !*store))
		ck_abort_msg("%s: the default store exists at every version (empty until "
			     "written, as cosmos/iavl's TestVersionedEmptyTree)", what);
	if (rc == IODB_NOTFOUND) {
		/* A store no version has written to yet: only an empty tree can be expected. */
		ck_assert_msg(!strcmp(want, EMPTY_HASH), "%s: store missing, want %s", what, want);
		return;
	}
	ck_assert_msg(rc == 0, "%s: iodb_root_hash: %s", what, iodb_errmsg());
	tohex(h, 32, hex);
	ck_assert_msg(!strcmp(hex, want), "%s: root %s, want %s", what, hex, want);
}

/* ---- Tests ---------------------------------------------------------------------------- */

START_TEST(test_changesets)
{
	load_cases();
	for (int ci = 0; ci < ncases; ci++) {
		const struct fcase *c = &cases[ci];
		char *dir = tu_tmpdir("merkle");
		iodb *db = open_store(dir, c->initial, 1);

		for (int i = 0; i < c->nv; i++) {
			char vid[32], what[128];

			snprintf(vid, sizeof(vid), "%d", c->v[i].version);
			/* The case's store beside an unrelated one: stores are separate trees. */
			commit_version(db, "bank", &c->v[i], vid);
			snprintf(what, sizeof(what), "%s v%d", c->name, c->v[i].version);
			check_root(db, NULL, "bank", c->v[i].root, what);
		}
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

/* Proof fixtures: `proof CASE VERSION exist|absent HEXKEY [HEXVALUE] HEXROOT HEXPROOF`. */
START_TEST(test_proofs)
{
	FILE *f = fopen(IODB_TEST_DATA "/iavl_proofs.txt", "r");
	char *line = NULL, *dir = NULL;
	size_t cap = 0;
	const struct fcase *c = NULL;
	iodb *db = NULL;
	int at = 0, checked = 0;
	unsigned char *key = malloc(70000), *val = malloc(70000), *want = malloc(1 << 20);

	load_cases();
	ck_assert(f != NULL);
	while (getline(&line, &cap, f) > 0) {
		char *tok[8] = {0}, *save = NULL;
		int nt = 0, exist;
		unsigned char root[32];
		size_t klen, vlen = 0, wlen, plen;
		void *proof;
		const char *hexroot, *hexproof;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] != 'p')
			continue;
		for (char *t = strtok_r(line, " ", &save); t && nt < 8; t = strtok_r(NULL, " ", &save))
			tok[nt++] = t;
		exist = !strcmp(tok[3], "exist");
		klen = unhex(tok[4], key, 70000);
		if (exist)
			vlen = unhex(tok[5], val, 70000);
		hexroot = tok[exist ? 6 : 5];
		hexproof = tok[exist ? 7 : 6];
		unhex(hexroot, root, 32);
		wlen = unhex(hexproof, want, 1 << 20);

		/* Bring a store of that case to that version. */
		if (!c || strcmp(c->name, tok[1]) || atoi(tok[2]) < c->v[at].version) {
			if (db) {
				ck_ok(iodb_close(db));
				tu_rmrf(dir);
				free(dir);
			}
			c = NULL;
			for (int i = 0; i < ncases; i++)
				if (!strcmp(cases[i].name, tok[1]))
					c = &cases[i];
			ck_assert_msg(c != NULL, "proof fixture names unknown case %s", tok[1]);
			dir = tu_tmpdir("proof");
			db = open_store(dir, c->initial, 1);
			at = -1;
		}
		while (at < 0 || c->v[at].version < atoi(tok[2])) {
			char vid[32];

			at++;
			snprintf(vid, sizeof(vid), "%d", c->v[at].version);
			commit_version(db, NULL, &c->v[at], vid);
		}
		check_root(db, NULL, NULL, hexroot, "proof fixture root");
		ck_ok(iodb_prove(db, NULL, 0, NULL, key, klen, &proof, &plen));
		ck_assert_msg(plen == wlen && memcmp(proof, want, wlen) == 0,
			      "%s v%s %s proof differs from the fixture (%zu vs %zu bytes)", tok[1],
			      tok[2], tok[3], plen, wlen);
		ck_ok(iodb_verify_proof(root, proof, plen, key, klen, exist ? val : NULL, vlen));
		/* The same proof must not prove anything else. */
		if (exist) {
			ck_rc(iodb_verify_proof(root, proof, plen, key, klen, NULL, 0), IODB_EPROOF);
			val[0] ^= 1;
			if (vlen)
				ck_rc(iodb_verify_proof(root, proof, plen, key, klen, val, vlen), IODB_EPROOF);
		} else {
			ck_rc(iodb_verify_proof(root, proof, plen, key, klen, (const void *)"x", 1),
			      IODB_EPROOF);
		}
		root[7] ^= 0x40;
		ck_rc(iodb_verify_proof(root, proof, plen, key, klen, exist ? val : NULL, vlen),
		      IODB_EPROOF);
		iodb_free(proof);
		checked++;
	}
	ck_assert_int_gt(checked, 20);
	if (db) {
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
	}
	free(line);
	free(key);
	free(val);
	free(want);
	fclose(f);
}
END_TEST

/* commit_info.txt: sets of `store NAME HEXROOT` then `commit HEX`. */
START_TEST(test_commit_info)
{
	FILE *f = fopen(IODB_TEST_DATA "/commit_info.txt", "r");
	char *line = NULL, names[64][256];
	struct mstore_root s[64];
	size_t cap = 0, n = 0;
	int sets = 0;

	ck_assert(f != NULL);
	while (getline(&line, &cap, f) > 0) {
		char a[256], b[256], hex[65];
		unsigned char got[32];

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "store %255s %255s", a, b) == 2) {
			ck_assert_uint_lt(n, 64);
			snprintf(names[n], sizeof(names[n]), "%s", a);
			s[n].name = names[n];
			s[n].nlen = strlen(a);
			unhex(b, s[n].root, 32);
			n++;
		} else if (sscanf(line, "commit %255s", a) == 1) {
			/* Sort by name, as the store does. */
			for (size_t i = 1; i < n; i++)
				for (size_t j = i; j > 0 && strcmp(s[j - 1].name, s[j].name) > 0; j--) {
					struct mstore_root t = s[j];

					s[j] = s[j - 1];
					s[j - 1] = t;
				}
			commit_info_hash(s, n, got);
			tohex(got, 32, hex);
			ck_assert_msg(!strcmp(hex, a), "commit info over %zu stores: %s, want %s", n, hex, a);
			n = 0;
			sets++;
		}
	}
	ck_assert_int_ge(sets, 6);
	free(line);
	fclose(f);
}
END_TEST

struct listed {
	int n;
	char names[8][72];
};

static int list_store(void *ctx, const char *name, const uint8_t root[32])
{
	struct listed *l = ctx;

	(void)root;
	ck_assert_int_lt(l->n, 8);
	snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", name);
	return 0;
}

static int is_listed(const struct listed *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->names[i], name ? name : ""))
			return 1;
	return 0;
}

/* The store's commit hash = the commit-info hash of the root hashes of the stores it
 * lists (the default store has a root hash at every version, but is listed only once
 * written). */
static void check_commit_hash(iodb *db, const char *vid, const char *const *stores, int n)
{
	struct mstore_root s[8];
	unsigned char want[32], got[32];
	struct listed l = {0};
	int k = 0;

	ck_ok(iodb_stores(db, vid, vid ? strlen(vid) : 0, list_store, &l));
	for (int i = 0; i < n; i++) {
		if (!is_listed(&l, stores[i]))
			continue;
		ck_ok(iodb_root_hash(db, vid, vid ? strlen(vid) : 0, stores[i], s[k].root));
		s[k].name = stores[i] ? stores[i] : "";
		s[k].nlen = strlen(s[k].name);
		k++;
	}
	for (int i = 1; i < k; i++)
		for (int j = i; j > 0 && strcmp(s[j - 1].name, s[j].name) > 0; j--) {
			struct mstore_root t = s[j];

			s[j] = s[j - 1];
			s[j - 1] = t;
		}
	ck_assert_int_eq(k, l.n); /* every listed store is one of those the test wrote */
	commit_info_hash(s, (size_t)k, want);
	ck_ok(iodb_commit_hash(db, vid, vid ? strlen(vid) : 0, got));
	ck_assert(memcmp(want, got, 32) == 0);
}

START_TEST(test_stores)
{
	static const char *const names[] = {"acc", "bank", "staking", NULL};
	char *dir = tu_tmpdir("stores");
	iodb *db = open_store(dir, 0, 1), *off;
	iodb_batch *b;
	unsigned char h[32], e[32];
	void *proof;
	size_t plen;

	ck_rc(iodb_commit_hash(db, NULL, 0, h), IODB_NOTFOUND); /* no version yet */
	ck_ok(iodb_batch_new(&b));
	ck_ok(iodb_batch_put(b, "bank", "k", 1, "v", 1));
	ck_ok(iodb_update(db, "1", 1, b));
	ck_rc(iodb_root_hash(db, NULL, 0, "acc", h), IODB_NOTFOUND); /* not there yet */
	check_commit_hash(db, NULL, names, 4);
	iodb_batch_clear(b);
	ck_ok(iodb_batch_del(b, "acc", "zz", 2)); /* a store with an empty tree */
	ck_ok(iodb_batch_put(b, "staking", "a", 1, "", 0));
	ck_ok(iodb_update(db, "2", 1, b));
	ck_ok(iodb_root_hash(db, NULL, 0, "acc", h));
	unhex(EMPTY_HASH, e, 32);
	ck_assert(memcmp(h, e, 32) == 0);
	ck_rc(iodb_prove(db, NULL, 0, "acc", "zz", 2, &proof, &plen), IODB_NOTFOUND);
	check_commit_hash(db, NULL, names, 4);
	check_commit_hash(db, "1", names, 4);
	ck_rc(iodb_root_hash(db, "1", 1, "staking", h), IODB_NOTFOUND);
	/* ICS23 cannot carry an empty value: the store says so instead of a useless proof. */
	ck_rc(iodb_prove(db, NULL, 0, "staking", "a", 1, &proof, &plen), IODB_EINVAL);
	ck_assert(strstr(iodb_errmsg(), "empty") != NULL);
	ck_rc(iodb_root_hash(db, "9", 1, "bank", h), IODB_NOTFOUND);
	ck_rc(iodb_root_hash(db, NULL, 0, "bad name!", h), IODB_EINVAL);
	ck_ok(iodb_close(db));
	/* merkle = 0: a plain versioned store; the Merkle calls say so. */
	off = open_store(dir, 0, 0);
	ck_rc(iodb_root_hash(off, NULL, 0, "bank", h), IODB_EINVAL);
	ck_ok(iodb_update(off, "3", 1, b));
	ck_ok(iodb_close(off));
	/* Back on: the trees are rebuilt from the journal, version 3 included. */
	db = open_store(dir, 0, 1);
	check_commit_hash(db, "3", names, 4);
	check_commit_hash(db, "1", names, 4);
	ck_ok(iodb_close(db));
	iodb_batch_free(b);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* After reopen, old roots are rebuilt from the journal: every version keeps its hash. */
START_TEST(test_reopen)
{
	load_cases();
	for (int ci = 0; ci < ncases; ci++) {
		const struct fcase *c = &cases[ci];
		char *dir = tu_tmpdir("reopen");
		iodb *db = open_store(dir, c->initial, 1);

		for (int i = 0; i < c->nv; i++) {
			char vid[32];

			snprintf(vid, sizeof(vid), "%d", c->v[i].version);
			commit_version(db, NULL, &c->v[i], vid);
		}
		ck_ok(iodb_close(db));
		db = open_store(dir, 0, 1);
		for (int i = c->nv - 1; i >= 0; i--) {
			char vid[32], what[128];

			snprintf(vid, sizeof(vid), "%d", c->v[i].version);
			snprintf(what, sizeof(what), "%s v%d after reopen", c->name, c->v[i].version);
			check_root(db, vid, NULL, c->v[i].root, what);
		}
		/* A checkout far back, then a rollback: the hashes of what is left hold. */
		if (c->nv > 40) {
			char vid[32];

			snprintf(vid, sizeof(vid), "%d", c->v[3].version);
			ck_ok(iodb_checkout(db, vid, strlen(vid)));
			check_root(db, NULL, NULL, c->v[3].root, "head after checkout");
			snprintf(vid, sizeof(vid), "%d", c->v[c->nv / 2].version);
			ck_ok(iodb_rollback(db, vid, strlen(vid)));
			for (int i = 0; i <= c->nv / 2; i++) {
				snprintf(vid, sizeof(vid), "%d", c->v[i].version);
				check_root(db, vid, NULL, c->v[i].root, "after rollback");
			}
		}
		ck_ok(iodb_close(db));
		tu_rmrf(dir);
		free(dir);
	}
}
END_TEST

/*
 * Branches: random changesets on a tree of versions (checkouts to random versions); every
 * version's root and commit hash must equal those of its path's changesets applied
 * linearly to a fresh store.
 */
#define BR_VERSIONS 120
#define BR_KEYS 64

struct bver {
	int parent;
	int nops;
	int del[12], key[12], store[12];
	unsigned char val[12][8];
};

static void apply_bver(iodb *db, const struct bver *v, const char *vid)
{
	static const char *const st[] = {NULL, "s1"};
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	for (int i = 0; i < v->nops; i++) {
		unsigned char k[2] = {'k', (unsigned char)v->key[i]};

		if (v->del[i])
			ck_ok(iodb_batch_del(b, st[v->store[i]], k, 2));
		else
			ck_ok(iodb_batch_put(b, st[v->store[i]], k, 2, v->val[i], 8));
	}
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

START_TEST(test_branches)
{
	static const char *const names[] = {NULL, "s1"};
	uint64_t rng = tu_seed(41);
	struct bver *vs = calloc(BR_VERSIONS, sizeof(*vs));
	unsigned char (*hash)[32] = calloc(BR_VERSIONS, 32);
	char *dir = tu_tmpdir("branch"), vid[32];
	iodb *db = open_store(dir, 0, 1);
	int head = -1;

	for (int i = 0; i < BR_VERSIONS; i++) {
		struct bver *v = &vs[i];

		if (head >= 0 && tu_below(&rng, 5) == 0) {
			head = (int)tu_below(&rng, (uint32_t)i);
			snprintf(vid, sizeof(vid), "b%d", head);
			ck_ok(iodb_checkout(db, vid, strlen(vid)));
		}
		v->parent = head;
		v->nops = (int)tu_below(&rng, 12);
		for (int k = 0; k < v->nops; k++) {
			v->del[k] = tu_below(&rng, 4) == 0;
			v->key[k] = (int)tu_below(&rng, BR_KEYS);
			v->store[k] = (int)tu_below(&rng, 2);
			for (int j = 0; j < 8; j++)
				v->val[k][j] = (unsigned char)tu_rand(&rng);
		}
		snprintf(vid, sizeof(vid), "b%d", i);
		apply_bver(db, v, vid);
		ck_ok(iodb_commit_hash(db, NULL, 0, hash[i]));
		head = i;
	}
	/* Every version again, after the window dropped most roots. */
	for (int i = 0; i < BR_VERSIONS; i++) {
		unsigned char h[32];

		snprintf(vid, sizeof(vid), "b%d", i);
		ck_ok(iodb_commit_hash(db, vid, strlen(vid), h));
		ck_assert_msg(memcmp(h, hash[i], 32) == 0, "version b%d changed its hash", i);
	}
	/* Linear replays of sampled versions' paths. */
	for (int t = 0; t < 12; t++) {
		int target = (int)tu_below(&rng, BR_VERSIONS), path[BR_VERSIONS], np = 0;
		char *d2 = tu_tmpdir("linear");
		iodb *lin = open_store(d2, 0, 1);
		unsigned char h[32];

		for (int x = target; x >= 0; x = vs[x].parent)
			path[np++] = x;
		while (np--) {
			snprintf(vid, sizeof(vid), "b%d", path[np]);
			apply_bver(lin, &vs[path[np]], vid);
		}
		ck_ok(iodb_commit_hash(lin, NULL, 0, h));
		ck_assert_msg(memcmp(h, hash[target], 32) == 0,
			      "version b%d differs from its changesets applied linearly", target);
		check_commit_hash(lin, NULL, names, 2);
		ck_ok(iodb_close(lin));
		tu_rmrf(d2);
		free(d2);
	}
	/* Clean to the head's last 10: what stays keeps its hashes, after reopen too. */
	ck_ok(iodb_clean(db, 10));
	ck_ok(iodb_close(db));
	db = open_store(dir, 0, 1);
	for (int i = 0, x = head; i < 10 && x >= 0; i++, x = vs[x].parent) {
		unsigned char h[32];

		snprintf(vid, sizeof(vid), "b%d", x);
		ck_ok(iodb_commit_hash(db, vid, strlen(vid), h));
		ck_assert(memcmp(h, hash[x], 32) == 0);
	}
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
	free(vs);
	free(hash);
}
END_TEST

/* Proofs at random keys and versions of a store with history verify (and fail when bent). */
START_TEST(test_random_proofs)
{
	uint64_t rng = tu_seed(77);
	char *dir = tu_tmpdir("rproof"), vid[32];
	iodb *db = open_store(dir, 0, 1);
	iodb_batch *b;
	int proved = 0;

	ck_ok(iodb_batch_new(&b));
	for (int v = 0; v < 60; v++) {
		iodb_batch_clear(b);
		for (int i = 0; i < 20; i++) {
			char k[8];
			int kl = snprintf(k, sizeof(k), "k%u", tu_below(&rng, 200));

			if (tu_below(&rng, 5) == 0)
				ck_ok(iodb_batch_del(b, NULL, k, (size_t)kl));
			else
				ck_ok(iodb_batch_put(b, NULL, k, (size_t)kl, vid, 1 + (size_t)v % 7));
		}
		snprintf(vid, sizeof(vid), "r%d", v);
		ck_ok(iodb_update(db, vid, strlen(vid), b));
	}
	for (int t = 0; t < 300; t++) {
		unsigned char root[32];
		char k[8];
		int kl = snprintf(k, sizeof(k), "k%u", tu_below(&rng, 220));
		iodb_snapshot *s;
		void *val = NULL, *proof;
		size_t vlen = 0, plen;
		int present;

		snprintf(vid, sizeof(vid), "r%u", tu_below(&rng, 60));
		ck_ok(iodb_root_hash(db, vid, strlen(vid), NULL, root));
		ck_ok(iodb_snapshot_open(db, vid, strlen(vid), &s));
		present = iodb_snapshot_get(s, NULL, k, (size_t)kl, &val, &vlen) == 0;
		iodb_snapshot_close(s);
		ck_ok(iodb_prove(db, vid, strlen(vid), NULL, k, (size_t)kl, &proof, &plen));
		ck_ok(iodb_verify_proof(root, proof, plen, k, (size_t)kl, present ? val : NULL, vlen));
		ck_rc(iodb_verify_proof(root, proof, plen, k, (size_t)kl, present ? NULL : "v",
					present ? 0 : 1),
		      IODB_EPROOF);
		((unsigned char *)proof)[tu_below(&rng, (uint32_t)plen)] ^=
			(unsigned char)(1 + tu_below(&rng, 255));
		ck_rc(iodb_verify_proof(root, proof, plen, k, (size_t)kl, present ? val : NULL, vlen),
		      IODB_EPROOF);
		iodb_free(proof);
		iodb_free(val);
		proved++;
	}
	ck_assert_int_eq(proved, 300);
	iodb_batch_free(b);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc = tcase_create("merkle");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_changesets);
	tcase_add_test(tc, test_proofs);
	tcase_add_test(tc, test_commit_info);
	tcase_add_test(tc, test_stores);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_branches);
	tcase_add_test(tc, test_random_proofs);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
