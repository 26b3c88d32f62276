/*
 * test_chain.c — what a chain node asks of the Merkle layer beyond hashes: stores mounted
 * empty (options.initial_stores) and empty trees in the commit hash, the store list, the
 * version at a height, and Merkle queries through a snapshot that stay about the snapshot's
 * version across a reorg (rollback, then a new version under the same ID).
 *
 * The commit hashes of the mounted-store chain come from the reference implementation
 * (tests/data/gen_chain_stores.py over iavl_ref.py), not from iodb.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iodb.h"
#include "testutil.h"

#define EMPTY_HASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void unhex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		ck_assert(sscanf(s + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}

static int is_empty_hash(const uint8_t h[32])
{
	uint8_t e[32];

	unhex(EMPTY_HASH, e, 32);
	return memcmp(h, e, 32) == 0;
}

static iodb *open_with(const char *dir, const char *const *mount, uint32_t nmount, int merkle)
{
	iodb_options o;
	iodb *db;

	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = merkle;
	o.initial_stores = mount;
	o.n_initial_stores = nmount;
	ck_ok(iodb_open(dir, &o, &db));
	return db;
}

static void update1(iodb *db, const char *vid, const char *store, const char *key,
		    const char *val)
{
	iodb_batch *b;

	ck_ok(iodb_batch_new(&b));
	if (store && val)
		ck_ok(iodb_batch_put(b, store, key, strlen(key), val, strlen(val)));
	else if (store)
		ck_ok(iodb_batch_del(b, store, key, strlen(key)));
	ck_ok(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
}

/* ---- Mounted stores against the reference ---------------------------------------------- */

#define MAX_LINES 32

struct chain_line {
	char vid[16];
	char mounts[256];
	char ops[512];
	char commit[65];
};

static int load_chain(struct chain_line *l)
{
	char path[1024], line[1024];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/chain_stores.txt", IODB_TEST_DATA);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) && n < MAX_LINES) {
		if (line[0] == '#')
			continue;
		ck_assert(sscanf(line, "%15s %255s %511s %64s", l[n].vid, l[n].mounts, l[n].ops,
				 l[n].commit) == 4);
		n++;
	}
	fclose(f);
	ck_assert_int_ge(n, 10);
	return n;
}

/* Split s at sep into at most max pieces (s is modified). */
static int split(char *s, char sep, char **out, int max)
{
	int n = 0;

	if (!strcmp(s, "-"))
		return 0;
	for (char *p = s; n < max;) {
		char *q = strchr(p, sep);

		out[n++] = p;
		if (!q)
			break;
		*q = '\0';
		p = q + 1;
	}
	return n;
}

struct list_ctx {
	int n;
	char names[16][80];
	uint8_t roots[16][32];
};

static int collect_store(void *ctx, const char *name, const uint8_t root[32])
{
	struct list_ctx *c = ctx;

	ck_assert_int_lt(c->n, 16);
	snprintf(c->names[c->n], sizeof(c->names[c->n]), "%s", name);
	memcpy(c->roots[c->n], root, 32);
	c->n++;
	return 0;
}

static void check_chain(iodb *db, const struct chain_line *l, int n, const char *when)
{
	for (int i = 0; i < n; i++) {
		uint8_t got[32], want[32], h[32];
		struct list_ctx lc = {0};
		iodb_snapshot *s;

		unhex(l[i].commit, want, 32);
		ck_ok(iodb_commit_hash(db, l[i].vid, strlen(l[i].vid), got));
		ck_assert_msg(memcmp(got, want, 32) == 0, "%s: version %s: commit hash differs "
			      "from the reference's", when, l[i].vid);
		/* The default store is never written in this chain: it exists for
		 * iodb_root_hash (empty) but is not part of the commit hash. */
		ck_ok(iodb_root_hash(db, l[i].vid, strlen(l[i].vid), NULL, h));
		ck_assert(is_empty_hash(h));
		/* The store list is what the commit hash covers, in name order. */
		ck_ok(iodb_stores(db, l[i].vid, strlen(l[i].vid), collect_store, &lc));
		for (int k = 1; k < lc.n; k++)
			ck_assert_msg(strcmp(lc.names[k - 1], lc.names[k]) < 0, "stores not in "
				      "name order");
		for (int k = 0; k < lc.n; k++) {
			ck_assert_msg(lc.names[k][0] != '\0', "the default store is listed");
			ck_ok(iodb_root_hash(db, l[i].vid, strlen(l[i].vid), lc.names[k], h));
			ck_assert(memcmp(h, lc.roots[k], 32) == 0);
		}
		/* Through a snapshot: the same answers. */
		ck_ok(iodb_snapshot_open(db, l[i].vid, strlen(l[i].vid), &s));
		ck_ok(iodb_snapshot_commit_hash(s, got));
		ck_assert(memcmp(got, want, 32) == 0);
		iodb_snapshot_close(s);
	}
}

START_TEST(test_mounted_stores)
{
	struct chain_line l[MAX_LINES];
	char *dir = tu_tmpdir("chain-mount");
	char mounts_open[256] = "";
	char *names[16];
	int n = load_chain(l), nnames = 0;
	iodb *db = NULL;
	uint8_t h[32];

	for (int i = 0; i < n; i++) {
		char ops[512], *opv[16];
		int nops;
		iodb_batch *b;

		if (strcmp(mounts_open, l[i].mounts)) { /* a new list: takes effect at open */
			static char buf[256];

			if (db)
				ck_ok(iodb_close(db));
			snprintf(mounts_open, sizeof(mounts_open), "%s", l[i].mounts);
			snprintf(buf, sizeof(buf), "%s", l[i].mounts);
			nnames = split(buf, ',', names, 16);
			db = open_with(dir, (const char *const *)names, (uint32_t)nnames, 1);
		}
		snprintf(ops, sizeof(ops), "%s", l[i].ops);
		nops = split(ops, ';', opv, 16);
		ck_ok(iodb_batch_new(&b));
		for (int k = 0; k < nops; k++) {
			char *f[4] = {0};
			int nf = split(opv[k], ':', f, 4);

			if (!strcmp(f[0], "put")) {
				ck_assert_int_eq(nf, 4);
				ck_ok(iodb_batch_put(b, f[1], f[2], strlen(f[2]), f[3], strlen(f[3])));
			} else {
				ck_assert_int_eq(nf, 3);
				ck_ok(iodb_batch_del(b, f[1], f[2], strlen(f[2])));
			}
		}
		ck_ok(iodb_update(db, l[i].vid, strlen(l[i].vid), b));
		iodb_batch_free(b);
	}
	check_chain(db, l, n, "as committed");
	/* A mounted store exists from the version that mounted it, empty. */
	ck_ok(iodb_root_hash(db, "1", 1, "bank", h));
	ck_assert(is_empty_hash(h));
	ck_rc(iodb_root_hash(db, "4", 1, "staking", h), IODB_NOTFOUND);
	ck_ok(iodb_root_hash(db, "5", 1, "staking", h));
	ck_assert(is_empty_hash(h));
	ck_rc(iodb_root_hash(db, "5", 1, "ibc", h), IODB_NOTFOUND);
	ck_ok(iodb_close(db));

	/* Reopen without any list: mounting is in the journal, nothing changes. */
	db = open_with(dir, NULL, 0, 1);
	check_chain(db, l, n, "after reopen (replay)");
	ck_ok(iodb_merkle_snapshot(db, 1));
	ck_ok(iodb_close(db));
	db = open_with(dir, NULL, 0, 1);
	check_chain(db, l, n, "after a full snapshot and reopen");
	/* And a version after it, on a store mounted long ago. */
	update1(db, "11", "gov", "p3", "maybe");
	ck_ok(iodb_root_hash(db, "11", 2, "gov", h));
	ck_assert(!is_empty_hash(h));
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* cosmos/iavl's TestVersionedEmptyTree through the default store: versions saved with no
 * change have the empty tree's hash. */
START_TEST(test_default_store_empty)
{
	char *dir = tu_tmpdir("chain-empty");
	iodb *db = open_with(dir, NULL, 0, 1);
	uint8_t h[32];
	struct list_ctx lc = {0};

	for (int v = 1; v <= 4; v++) {
		char vid[8];

		snprintf(vid, sizeof(vid), "%d", v);
		update1(db, vid, NULL, NULL, NULL);
		ck_ok(iodb_root_hash(db, NULL, 0, NULL, h));
		ck_assert(is_empty_hash(h));
		ck_ok(iodb_root_hash(db, vid, strlen(vid), "", h));
		ck_assert(is_empty_hash(h));
		/* No store exists: the commit hash of no stores. */
		ck_ok(iodb_commit_hash(db, NULL, 0, h));
		ck_assert(is_empty_hash(h));
	}
	ck_ok(iodb_stores(db, NULL, 0, collect_store, &lc));
	ck_assert_int_eq(lc.n, 0);
	/* A named store that never existed is still not found. */
	ck_rc(iodb_root_hash(db, NULL, 0, "bank", h), IODB_NOTFOUND);
	/* Mounting the default store puts it in the commit hash. */
	ck_ok(iodb_close(db));
	{
		static const char *const def[] = {""};

		db = open_with(dir, def, 1, 1);
	}
	update1(db, "5", NULL, NULL, NULL);
	ck_ok(iodb_stores(db, NULL, 0, collect_store, &lc));
	ck_assert_int_eq(lc.n, 1);
	ck_assert_str_eq(lc.names[0], "");
	ck_ok(iodb_commit_hash(db, NULL, 0, h));
	ck_assert(!is_empty_hash(h));
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- Snapshot queries across a reorg ---------------------------------------------------- */

struct pinned {
	uint8_t commit[32], root[32];
	void *proof;
	size_t plen;
};

static void pin_answers(iodb_snapshot *s, struct pinned *p)
{
	ck_ok(iodb_snapshot_commit_hash(s, p->commit));
	ck_ok(iodb_snapshot_root_hash(s, "bank", p->root));
	ck_ok(iodb_snapshot_prove(s, "bank", "alice", 5, &p->proof, &p->plen));
}

/* The snapshot's answers now equal those it gave when it was opened, and its proof
 * verifies against its root with the value it reads. */
static void same_answers(iodb_snapshot *s, const struct pinned *p, const char *when)
{
	uint8_t h[32];
	void *proof, *val;
	size_t plen, vlen;

	ck_ok(iodb_snapshot_commit_hash(s, h));
	ck_assert_msg(memcmp(h, p->commit, 32) == 0, "%s: the snapshot's commit hash moved", when);
	ck_ok(iodb_snapshot_root_hash(s, "bank", h));
	ck_assert_msg(memcmp(h, p->root, 32) == 0, "%s: the snapshot's root moved", when);
	ck_ok(iodb_snapshot_prove(s, "bank", "alice", 5, &proof, &plen));
	ck_assert_msg(plen == p->plen && memcmp(proof, p->proof, plen) == 0,
		      "%s: the snapshot's proof changed", when);
	ck_ok(iodb_snapshot_get(s, "bank", "alice", 5, &val, &vlen));
	ck_ok(iodb_verify_proof(p->root, proof, plen, "alice", 5, val, vlen));
	iodb_free(val);
	iodb_free(proof);
}

START_TEST(test_snapshot_reorg)
{
	char *dir = tu_tmpdir("chain-reorg");
	iodb *db = open_with(dir, NULL, 0, 1);
	iodb_snapshot *head, *old, *lazy;
	struct pinned ph = {0}, po = {0};
	uint8_t h[32];
	void *vid, *proof;
	size_t vidlen, plen;
	uint64_t height;
	char v[16];

	/* 60 versions: version "10" leaves the window of kept roots. */
	for (int i = 1; i <= 60; i++) {
		char val[16];

		snprintf(v, sizeof(v), "%d", i);
		snprintf(val, sizeof(val), "a%d", i);
		update1(db, v, "bank", "alice", val);
	}
	ck_ok(iodb_snapshot_open(db, NULL, 0, &head)); /* "60", roots in memory: held */
	ck_ok(iodb_snapshot_open(db, "10", 2, &old));  /* "10": rebuilt at the first query */
	ck_ok(iodb_snapshot_open(db, "20", 2, &lazy)); /* "20": never queried before the reorg */
	pin_answers(head, &ph);
	pin_answers(old, &po);
	ck_ok(iodb_snapshot_version(head, &vid, &vidlen, &height));
	ck_assert(vidlen == 2 && !memcmp(vid, "60", 2) && height == 60);
	iodb_free(vid);
	ck_ok(iodb_snapshot_version(old, NULL, NULL, &height));
	ck_assert_int_eq(height, 10);

	/* The reorg: back to "5", then new versions reusing the IDs "6".."60". */
	ck_ok(iodb_rollback(db, "5", 1));
	for (int i = 6; i <= 60; i++) {
		snprintf(v, sizeof(v), "%d", i);
		update1(db, v, "bank", "alice", "other");
	}
	same_answers(head, &ph, "head snapshot after the reorg");
	same_answers(old, &po, "old snapshot after the reorg");
	/* "20" was discarded before its first Merkle query: its roots cannot be had (never
	 * the new "20"'s), while its key-values still read. */
	ck_rc(iodb_snapshot_commit_hash(lazy, h), IODB_NOTFOUND);
	ck_assert(strstr(iodb_errmsg(), "discarded") != NULL);
	{
		void *val;
		size_t vlen;

		ck_ok(iodb_snapshot_get(lazy, "bank", "alice", 5, &val, &vlen));
		ck_assert(vlen == 3 && !memcmp(val, "a20", 3));
		iodb_free(val);
	}
	iodb_snapshot_close(lazy);
	/* By ID the store answers about the new "60": a different tree. */
	ck_ok(iodb_root_hash(db, "60", 2, "bank", h));
	ck_assert(memcmp(h, ph.root, 32) != 0);
	ck_ok(iodb_snapshot_version(old, &vid, &vidlen, NULL));
	ck_assert(vidlen == 2 && !memcmp(vid, "10", 2));
	iodb_free(vid);
	/* Clean away everything but the head: the snapshots still answer. */
	ck_ok(iodb_clean(db, 1));
	same_answers(old, &po, "old snapshot after clean");
	/* Proofs up to the app hash: the snapshot's against its own commit hash, by ID
	 * against the new version's; neither verifies against the other. */
	{
		uint8_t newc[32];
		void *cp, *ncp;
		size_t cplen, ncplen;

		ck_ok(iodb_snapshot_prove_commit(old, "bank", "alice", 5, &cp, &cplen));
		ck_ok(iodb_verify_commit_proof(po.commit, cp, cplen, "bank", "alice", 5, "a10", 3));
		ck_ok(iodb_commit_hash(db, "60", 2, newc));
		ck_ok(iodb_prove_commit(db, "60", 2, "bank", "alice", 5, &ncp, &ncplen));
		ck_ok(iodb_verify_commit_proof(newc, ncp, ncplen, "bank", "alice", 5, "other", 5));
		ck_rc(iodb_verify_commit_proof(newc, cp, cplen, "bank", "alice", 5, "a10", 3),
		      IODB_EPROOF);
		ck_rc(iodb_verify_commit_proof(po.commit, ncp, ncplen, "bank", "alice", 5, "other",
					       5),
		      IODB_EPROOF);
		iodb_free(cp);
		iodb_free(ncp);
		/* The default store has no name to prove in the commit-info tree. */
		ck_rc(iodb_prove_commit(db, NULL, 0, NULL, "k", 1, &cp, &cplen), IODB_EINVAL);
		ck_assert(strstr(iodb_errmsg(), "default store") != NULL);
		/* Absence, through the snapshot. */
		ck_ok(iodb_snapshot_prove_commit(head, "bank", "bob", 3, &cp, &cplen));
		ck_ok(iodb_verify_commit_proof(ph.commit, cp, cplen, "bank", "bob", 3, NULL, 0));
		ck_rc(iodb_verify_commit_proof(ph.commit, cp, cplen, "bank", "bob", 3, "x", 1),
		      IODB_EPROOF);
		iodb_free(cp);
	}
	/* A proof from the pinned version does not verify against the new root. */
	ck_ok(iodb_snapshot_prove(old, "bank", "alice", 5, &proof, &plen));
	ck_rc(iodb_verify_proof(h, proof, plen, "alice", 5, "a10", 3), IODB_EPROOF);
	iodb_free(proof);
	iodb_snapshot_close(head);
	iodb_snapshot_close(old);
	iodb_free(ph.proof);
	iodb_free(po.proof);

	/* Bad arguments, closed snapshots, Merkle off. */
	ck_rc(iodb_snapshot_commit_hash(NULL, h), IODB_EINVAL);
	ck_ok(iodb_snapshot_open(db, NULL, 0, &head));
	ck_rc(iodb_snapshot_commit_hash(head, NULL), IODB_EINVAL);
	ck_rc(iodb_snapshot_prove(head, "bank", "alice", 5, NULL, &plen), IODB_EINVAL);
	ck_rc(iodb_snapshot_root_hash(head, "bad name!", h), IODB_EINVAL);
	ck_rc(iodb_snapshot_root_hash(head, "nosuch", h), IODB_NOTFOUND);
	ck_rc(iodb_snapshot_version(head, &vid, NULL, NULL), IODB_EINVAL);
	iodb_snapshot_close(head);
	ck_ok(iodb_close(db));
	db = open_with(dir, NULL, 0, 0);
	ck_ok(iodb_snapshot_open(db, NULL, 0, &head));
	ck_rc(iodb_snapshot_commit_hash(head, h), IODB_EINVAL);
	ck_ok(iodb_snapshot_version(head, NULL, NULL, &height));
	ck_assert_int_eq(height, 60);
	iodb_snapshot_close(head);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* ---- Heights and the store list ------------------------------------------------------ */

static void expect_at(iodb *db, uint64_t height, const char *want)
{
	void *vid = NULL;
	size_t vidlen = 0;

	if (!want) {
		ck_rc(iodb_version_at_height(db, height, &vid, &vidlen), IODB_NOTFOUND);
		return;
	}
	ck_ok(iodb_version_at_height(db, height, &vid, &vidlen));
	ck_assert_msg(vidlen == strlen(want) && !memcmp(vid, want, vidlen),
		      "height %llu: got %.*s, want %s", (unsigned long long)height, (int)vidlen,
		      (char *)vid, want);
	iodb_free(vid);
}

START_TEST(test_version_at_height)
{
	char *dir = tu_tmpdir("chain-height");
	iodb_options o;
	iodb *db;
	void *vid;
	size_t vidlen;
	char v[16];

	iodb_options_init(&o);
	o.sync = 0;
	o.merkle = _i;
	o.initial_height = 100;
	ck_ok(iodb_open(dir, &o, &db));
	expect_at(db, 100, NULL); /* no version yet */
	for (int i = 0; i < 300; i++) { /* heights 100..399 */
		snprintf(v, sizeof(v), "m%d", 100 + i);
		update1(db, v, "s", "k", v);
	}
	expect_at(db, 100, "m100");
	expect_at(db, 250, "m250");
	expect_at(db, 399, "m399");
	expect_at(db, 400, NULL);
	expect_at(db, 99, NULL);
	/* A branch from m200: heights past 200 follow the head's ancestry. */
	ck_ok(iodb_checkout(db, "m200", 4));
	for (int i = 201; i <= 210; i++) {
		snprintf(v, sizeof(v), "b%d", i);
		update1(db, v, "s", "k", v);
	}
	expect_at(db, 205, "b205");
	expect_at(db, 200, "m200");
	expect_at(db, 150, "m150");
	expect_at(db, 211, NULL);
	ck_ok(iodb_checkout(db, "m399", 4));
	expect_at(db, 205, "m205");
	expect_at(db, 399, "m399");
	/* Clean: below the base is no longer retained. */
	ck_ok(iodb_clean(db, 50));
	expect_at(db, 350, "m350");
	expect_at(db, 349, NULL);
	ck_ok(iodb_close(db));
	ck_ok(iodb_open(dir, &o, &db));
	expect_at(db, 350, "m350");
	expect_at(db, 377, "m377");
	ck_rc(iodb_version_at_height(db, 0, &vid, &vidlen), IODB_EINVAL);
	ck_rc(iodb_version_at_height(db, 350, NULL, &vidlen), IODB_EINVAL);
	ck_rc(iodb_version_at_height(NULL, 350, &vid, &vidlen), IODB_EINVAL);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

static int stop_at_two(void *ctx, const char *name, const uint8_t root[32])
{
	(void)name;
	(void)root;
	return ++*(int *)ctx == 2 ? 42 : 0;
}

START_TEST(test_stores_list)
{
	char *dir = tu_tmpdir("chain-list");
	iodb *db = open_with(dir, NULL, 0, 1);
	struct list_ctx lc = {0};
	int calls = 0;

	update1(db, "1", "zeta", "k", "v");
	update1(db, "2", "alpha", "k", "v");
	update1(db, "3", "", "k", "v"); /* the default store */
	ck_ok(iodb_stores(db, NULL, 0, collect_store, &lc));
	ck_assert_int_eq(lc.n, 3);
	ck_assert_str_eq(lc.names[0], "");
	ck_assert_str_eq(lc.names[1], "alpha");
	ck_assert_str_eq(lc.names[2], "zeta");
	lc.n = 0;
	ck_ok(iodb_stores(db, "1", 1, collect_store, &lc));
	ck_assert_int_eq(lc.n, 1);
	ck_rc(iodb_stores(db, NULL, 0, stop_at_two, &calls), IODB_ECANCELED);
	ck_assert_int_eq(calls, 2);
	ck_rc(iodb_stores(db, "9", 1, collect_store, &lc), IODB_NOTFOUND);
	/* Through a snapshot: the stores of the version it pinned, across a reorg that reuses
	 * the ID "2" for a version with another store. */
	{
		iodb_snapshot *s;

		ck_ok(iodb_snapshot_open(db, "2", 1, &s));
		ck_ok(iodb_rollback(db, "1", 1));
		update1(db, "2", "beta", "k", "v");
		lc.n = 0;
		ck_ok(iodb_snapshot_stores(s, collect_store, &lc));
		ck_assert_int_eq(lc.n, 2);
		ck_assert_str_eq(lc.names[0], "alpha");
		ck_assert_str_eq(lc.names[1], "zeta");
		lc.n = 0;
		ck_ok(iodb_stores(db, "2", 1, collect_store, &lc));
		ck_assert_int_eq(lc.n, 2);
		ck_assert_str_eq(lc.names[0], "beta");
		ck_rc(iodb_snapshot_stores(s, NULL, NULL), IODB_EINVAL);
		iodb_snapshot_close(s);
		update1(db, "3", "", "k", "v");
	}
	ck_rc(iodb_stores(db, NULL, 0, NULL, NULL), IODB_EINVAL);
	ck_rc(iodb_stores(db, NULL, 3, collect_store, &lc), IODB_EINVAL);
	ck_ok(iodb_close(db));
	/* Merkle off: every store seen (beta too, though the head has none), zero roots. */
	db = open_with(dir, NULL, 0, 0);
	lc.n = 0;
	ck_ok(iodb_stores(db, NULL, 0, collect_store, &lc));
	ck_assert_int_eq(lc.n, 4);
	for (int k = 0; k < 4; k++)
		for (int j = 0; j < 32; j++)
			ck_assert_int_eq(lc.roots[k][j], 0);
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

START_TEST(test_bad_initial_stores)
{
	static const char *const bad[] = {"ok", "not ok!"};
	static const char *const null_entry[] = {"ok", NULL};
	char *dir = tu_tmpdir("chain-bad");
	iodb_options o;
	iodb *db = NULL;

	iodb_options_init(&o);
	o.initial_stores = bad;
	o.n_initial_stores = 2;
	ck_rc(iodb_open(dir, &o, &db), IODB_EINVAL);
	ck_assert(strstr(iodb_errmsg(), "initial_stores[1]") != NULL);
	o.initial_stores = null_entry;
	ck_rc(iodb_open(dir, &o, &db), IODB_EINVAL);
	o.initial_stores = NULL;
	ck_rc(iodb_open(dir, &o, &db), IODB_EINVAL); /* a count without a list */
	ck_assert(db == NULL);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* A Merkle snapshot of a version with no store at all loads (its root set is empty). */
START_TEST(test_snapshot_of_no_stores)
{
	char *dir = tu_tmpdir("chain-nostores");
	iodb *db = open_with(dir, NULL, 0, 1);
	uint8_t h[32];

	update1(db, "1", NULL, NULL, NULL);
	ck_ok(iodb_merkle_snapshot(db, 1));
	ck_ok(iodb_close(db));
	db = open_with(dir, NULL, 0, 1);
	ck_ok(iodb_commit_hash(db, NULL, 0, h));
	ck_assert(is_empty_hash(h));
	ck_assert_msg(tu_stat(db, "merkle_snapshots", "skipped") == 0,
		      "the snapshot of a version without stores failed to load");
	ck_assert_msg(tu_stat(db, "merkle_snapshots", "loaded") == 1, "the snapshot was not used");
	ck_ok(iodb_close(db));
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("merkle_chain");
	TCase *tc = tcase_create("chain");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_mounted_stores);
	tcase_add_test(tc, test_default_store_empty);
	tcase_add_test(tc, test_snapshot_reorg);
	tcase_add_loop_test(tc, test_version_at_height, 0, 2);
	tcase_add_test(tc, test_stores_list);
	tcase_add_test(tc, test_bad_initial_stores);
	tcase_add_test(tc, test_snapshot_of_no_stores);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
