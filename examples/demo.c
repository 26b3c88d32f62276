/*
 * iodb_demo — a walk through iodb's main job, using only the public API (iodb.h).
 *
 *   iodb_demo [DIR]
 *
 * Commits five versions ("block-1".."block-5") of puts and deletes in two stores (the
 * default store and "accounts"), printing each version's commit hash (the IAVL app hash),
 * reads a key at the head and at old versions through snapshots, rolls back two versions,
 * checks out an older version and commits a branch, proves a key against its store's root
 * hash, prints the version tree, iterates a store both ways, then closes, reopens and shows
 * that everything survived, hashes included.
 *
 * DIR must not exist or be empty; the default, DEFAULT_DIR, is wiped first. Every value the
 * demo reads is checked against what it should be: any failed call or wrong value ends the
 * run with exit status 1.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <iodb.h>

#define DEFAULT_DIR "/tmp/iodb-demo"

static void die(const char *what, int rc)
{
	fprintf(stderr, "iodb_demo: %s failed: %s: %s\n", what, iodb_strerror(rc), iodb_errmsg());
	exit(1);
}

#define CHECK(call)                                \
	do {                                       \
		int rc_ = (call);                  \
		if (rc_ != IODB_OK)                \
			die(#call, rc_);           \
	} while (0)

static const char *store_label(const char *store)
{
	return store ? store : "(default)";
}

/* The commit hash (over every store's IAVL root) of version vid, NULL for the head. */
static void commit_hash(iodb *db, const char *vid, uint8_t hash[32])
{
	CHECK(iodb_commit_hash(db, vid, vid ? strlen(vid) : 0, hash));
}

static void print_hash(const char *label, const uint8_t hash[32])
{
	int i;

	printf("   %s ", label);
	for (i = 0; i < 32; i++)
		printf("%02x", hash[i]);
	printf("\n");
}

/* One operation of a batch: val NULL means delete. */
struct op {
	const char *store;
	const char *key;
	const char *val;
};

static void commit(iodb *db, const char *vid, const struct op *ops, size_t n)
{
	iodb_batch *b = NULL;
	size_t i;

	printf("== committing %s\n", vid);
	CHECK(iodb_batch_new(&b));
	for (i = 0; i < n; i++) {
		const struct op *o = &ops[i];
		if (o->val) {
			printf("   put %-9s %-8s = %s\n", store_label(o->store), o->key, o->val);
			CHECK(iodb_batch_put(b, o->store, o->key, strlen(o->key), o->val,
					     strlen(o->val)));
		} else {
			printf("   del %-9s %s\n", store_label(o->store), o->key);
			CHECK(iodb_batch_del(b, o->store, o->key, strlen(o->key)));
		}
	}
	CHECK(iodb_update(db, vid, strlen(vid), b));
	iodb_batch_free(b);
	{
		uint8_t h[32];
		commit_hash(db, NULL, h);
		print_hash("commit hash", h);
	}
}

/*
 * Read store/key at the head (s NULL) or in snapshot s, print it as "where: store/key = v",
 * and check it: want NULL means the key must be absent.
 */
static void expect(iodb *db, iodb_snapshot *s, const char *where, const char *store,
		   const char *key, const char *want)
{
	void *val = NULL;
	size_t vlen = 0;
	int rc;

	if (s)
		rc = iodb_snapshot_get(s, store, key, strlen(key), &val, &vlen);
	else
		rc = iodb_get(db, store, key, strlen(key), &val, &vlen);
	if (rc != IODB_OK && rc != IODB_NOTFOUND)
		die(s ? "iodb_snapshot_get" : "iodb_get", rc);

	printf("   %-20s %s/%s = ", where, store_label(store), key);
	if (rc == IODB_NOTFOUND)
		printf("(absent)\n");
	else
		printf("%.*s\n", (int)vlen, (const char *)val);

	if (rc == IODB_NOTFOUND ? want != NULL
				: !want || vlen != strlen(want) || memcmp(val, want, vlen) != 0) {
		fprintf(stderr, "iodb_demo: %s: %s/%s should be %s\n", where, store_label(store),
			key, want ? want : "absent");
		exit(1);
	}
	iodb_free(val);
}

static void expect_head(iodb *db, const char *want)
{
	void *vid = NULL;
	size_t len = 0;

	CHECK(iodb_head(db, &vid, &len));
	printf("   head is now %.*s\n", (int)len, (const char *)vid);
	if (len != strlen(want) || memcmp(vid, want, len) != 0) {
		fprintf(stderr, "iodb_demo: head should be %s\n", want);
		exit(1);
	}
	iodb_free(vid);
}

static iodb_snapshot *snapshot_at(iodb *db, const char *vid)
{
	iodb_snapshot *s = NULL;

	CHECK(iodb_snapshot_open(db, vid, strlen(vid), &s));
	return s;
}

static void expect_same_hash(const char *what, const uint8_t got[32], const uint8_t want[32])
{
	print_hash(what, got);
	if (memcmp(got, want, 32) != 0) {
		fprintf(stderr, "iodb_demo: %s differs from the hash recorded earlier\n", what);
		exit(1);
	}
}

/*
 * Prove store/key at the head and verify the proof against the store's root hash: it must
 * hold for the true value (or absence, want NULL) and fail for a wrong one.
 */
static void prove(iodb *db, const char *store, const char *key, const char *want)
{
	uint8_t root[32];
	void *proof = NULL;
	size_t plen = 0;
	int rc;

	CHECK(iodb_root_hash(db, NULL, 0, store, root));
	CHECK(iodb_prove(db, NULL, 0, store, key, strlen(key), &proof, &plen));
	rc = iodb_verify_proof(root, proof, plen, key, strlen(key), want,
			       want ? strlen(want) : 0);
	printf("   %s proof of %s/%s (%zu bytes) against the store root: %s\n",
	       want ? "existence" : "non-existence", store_label(store), key, plen,
	       rc == IODB_OK ? "verifies" : iodb_strerror(rc));
	if (rc != IODB_OK)
		die("iodb_verify_proof", rc);
	/* The same proof must not vouch for a value the key does not have. */
	rc = iodb_verify_proof(root, proof, plen, key, strlen(key), "forged", 6);
	printf("   the same proof for %s/%s = forged: %s\n", store_label(store), key,
	       rc == IODB_EPROOF ? "rejected (IODB_EPROOF)" : iodb_strerror(rc));
	if (rc != IODB_EPROOF) {
		fprintf(stderr, "iodb_demo: a proof verified a forged value\n");
		exit(1);
	}
	iodb_free(proof);
}

/* The version tree, gathered by iodb_versions (parents before children). */
#define MAX_VERSIONS 64
struct version {
	char vid[IODB_MAX_VID + 1];
	char parent[IODB_MAX_VID + 1];
	int has_parent;
	uint64_t height;
};
struct version_list {
	struct version v[MAX_VERSIONS];
	int n;
};

static int collect_version(void *ctx, const void *vid, size_t vidlen, const void *parent,
			   size_t parentlen, uint64_t height)
{
	struct version_list *l = ctx;
	struct version *v;

	if (l->n == MAX_VERSIONS)
		return 1;
	v = &l->v[l->n++];
	memcpy(v->vid, vid, vidlen);
	v->vid[vidlen] = '\0';
	v->has_parent = parent != NULL;
	if (parent)
		memcpy(v->parent, parent, parentlen);
	v->parent[parent ? parentlen : 0] = '\0';
	v->height = height;
	return 0;
}

static void print_subtree(const struct version_list *l, int i, int depth, const char *head)
{
	int j;

	printf("   %*s%s (height %llu)%s\n", 2 * depth, "", l->v[i].vid,
	       (unsigned long long)l->v[i].height, strcmp(l->v[i].vid, head) ? "" : "  <- head");
	for (j = 0; j < l->n; j++)
		if (l->v[j].has_parent && strcmp(l->v[j].parent, l->v[i].vid) == 0)
			print_subtree(l, j, depth + 1, head);
}

/* Print the tree and check that exactly the versions in want[] are retained. */
static void show_versions(iodb *db, const char *const *want, int nwant)
{
	struct version_list *l = calloc(1, sizeof *l);
	void *head = NULL;
	size_t headlen = 0;
	char headstr[IODB_MAX_VID + 1];
	int i, j, rc;

	if (!l)
		die("calloc", IODB_ENOMEM);
	CHECK(iodb_head(db, &head, &headlen));
	memcpy(headstr, head, headlen);
	headstr[headlen] = '\0';
	iodb_free(head);

	rc = iodb_versions(db, collect_version, l);
	if (rc != IODB_OK)
		die("iodb_versions", rc);
	printf("== version tree (iodb_versions)\n");
	for (i = 0; i < l->n; i++) {
		int is_root = !l->v[i].has_parent;
		/* A version whose parent is no longer retained starts a tree too. */
		for (j = 0; j < l->n && !is_root; j++)
			if (strcmp(l->v[j].vid, l->v[i].parent) == 0)
				break;
		if (is_root || j == l->n)
			print_subtree(l, i, 0, headstr);
	}
	for (i = 0; i < nwant; i++) {
		for (j = 0; j < l->n && strcmp(l->v[j].vid, want[i]) != 0; j++)
			;
		if (j == l->n) {
			fprintf(stderr, "iodb_demo: version %s should be retained\n", want[i]);
			exit(1);
		}
	}
	if (l->n != nwant) {
		fprintf(stderr, "iodb_demo: %d versions retained, expected %d\n", l->n, nwant);
		exit(1);
	}
	free(l);
}

/* Walk store forward then backward at the head; check the keys come in order. */
static void iterate(iodb *db, const char *store, const char *const *keys, int nkeys)
{
	iodb_iter *it = NULL;
	const void *k, *v;
	size_t klen, vlen;
	int rc, i;

	CHECK(iodb_iter_open(db, NULL, store, &it));
	printf("== iterating %s forward\n", store_label(store));
	for (i = 0, rc = iodb_iter_first(it); rc == IODB_OK; rc = iodb_iter_next(it), i++) {
		CHECK(iodb_iter_key(it, &k, &klen));
		CHECK(iodb_iter_value(it, &v, &vlen));
		printf("   %.*s = %.*s\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
		if (i >= nkeys || klen != strlen(keys[i]) || memcmp(k, keys[i], klen) != 0) {
			fprintf(stderr, "iodb_demo: forward: unexpected key at position %d\n", i);
			exit(1);
		}
	}
	if (rc != IODB_NOTFOUND)
		die("iodb_iter_next", rc);
	if (i != nkeys) {
		fprintf(stderr, "iodb_demo: forward: %d keys, expected %d\n", i, nkeys);
		exit(1);
	}

	printf("== iterating %s backward\n", store_label(store));
	for (i = nkeys - 1, rc = iodb_iter_last(it); rc == IODB_OK; rc = iodb_iter_prev(it), i--) {
		CHECK(iodb_iter_key(it, &k, &klen));
		CHECK(iodb_iter_value(it, &v, &vlen));
		printf("   %.*s = %.*s\n", (int)klen, (const char *)k, (int)vlen, (const char *)v);
		if (i < 0 || klen != strlen(keys[i]) || memcmp(k, keys[i], klen) != 0) {
			fprintf(stderr, "iodb_demo: backward: unexpected key at position %d\n", i);
			exit(1);
		}
	}
	if (rc != IODB_NOTFOUND)
		die("iodb_iter_prev", rc);
	if (i != -1) {
		fprintf(stderr, "iodb_demo: backward: stopped early\n");
		exit(1);
	}
	iodb_iter_close(it);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0) {
		fprintf(stderr, "iodb_demo: cannot remove %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* 1 if dir exists and holds anything, 0 if it is absent or empty; exits on other errors. */
static int nonempty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;

	if (!d) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "iodb_demo: %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	while (!found && (e = readdir(d)))
		found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return found;
}

static void prepare_dir(const char *dir, int is_default)
{
	if (nonempty_dir(dir)) {
		if (!is_default) {
			fprintf(stderr,
				"iodb_demo: %s exists and is not empty; give a new or empty "
				"directory\n",
				dir);
			exit(2);
		}
		printf("== wiping %s from an earlier run\n", dir);
		if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
			exit(1);
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "iodb_demo: mkdir %s: %s\n", dir, strerror(errno));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : DEFAULT_DIR;
	iodb *db = NULL;
	iodb_snapshot *s1, *s3;
	uint8_t hash3[32], hash3b[32], h[32];

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: iodb_demo [DIR]   (default %s, wiped first)\n", DEFAULT_DIR);
		return 2;
	}
	if (iodb_version() != IODB_VERSION_NUMBER) {
		fprintf(stderr, "iodb_demo: built with iodb.h %d but running library %d\n",
			IODB_VERSION_NUMBER, iodb_version());
		return 1;
	}
	prepare_dir(dir, strcmp(dir, DEFAULT_DIR) == 0);

	printf("== opening a new store in %s\n", dir);
	CHECK(iodb_open(dir, NULL, &db));

	{
		static const struct op b1[] = {{NULL, "greeting", "hello"},
					       {"accounts", "alice", "100"},
					       {"accounts", "bob", "50"}};
		static const struct op b2[] = {{"accounts", "alice", "90"},
					       {"accounts", "bob", "60"},
					       {NULL, "greeting", "hello again"}};
		static const struct op b3[] = {{"accounts", "carol", "30"},
					       {"accounts", "alice", "60"}};
		static const struct op b4[] = {{"accounts", "bob", NULL},
					       {"accounts", "dave", "5"}};
		static const struct op b5[] = {{"accounts", "alice", "55"},
					       {NULL, "height", "5"},
					       {NULL, "greeting", NULL}};
		commit(db, "block-1", b1, 3);
		commit(db, "block-2", b2, 3);
		commit(db, "block-3", b3, 2);
		commit(db, "block-4", b4, 2);
		commit(db, "block-5", b5, 3);
	}
	expect_head(db, "block-5");
	commit_hash(db, "block-3", hash3);

	printf("== reading at the head and, through snapshots, at older versions\n");
	expect(db, NULL, "head (block-5):", "accounts", "alice", "55");
	expect(db, NULL, "head (block-5):", "accounts", "bob", NULL);
	expect(db, NULL, "head (block-5):", NULL, "greeting", NULL);
	s1 = snapshot_at(db, "block-1");
	s3 = snapshot_at(db, "block-3");
	expect(db, s1, "snapshot at block-1:", "accounts", "alice", "100");
	expect(db, s1, "snapshot at block-1:", NULL, "greeting", "hello");
	expect(db, s3, "snapshot at block-3:", "accounts", "alice", "60");
	expect(db, s3, "snapshot at block-3:", "accounts", "bob", "60");
	expect(db, s3, "snapshot at block-3:", "accounts", "dave", NULL);

	printf("== rolling back two versions: block-5 -> block-3 (block-4 and block-5 discarded)\n");
	CHECK(iodb_rollback(db, "block-3", strlen("block-3")));
	expect_head(db, "block-3");
	expect(db, NULL, "head (block-3):", "accounts", "alice", "60");
	expect(db, NULL, "head (block-3):", "accounts", "bob", "60");
	expect(db, NULL, "head (block-3):", "accounts", "dave", NULL);
	expect(db, NULL, "head (block-3):", NULL, "greeting", "hello again");
	expect(db, NULL, "head (block-3):", NULL, "height", NULL);
	commit_hash(db, NULL, h);
	expect_same_hash("commit hash at the head, as block-3 had:", h, hash3);
	printf("   the snapshot opened before the rollback still reads block-1:\n");
	expect(db, s1, "snapshot at block-1:", "accounts", "alice", "100");
	iodb_snapshot_close(s1);
	iodb_snapshot_close(s3);

	printf("== checking out block-2 and committing a branch from it\n");
	CHECK(iodb_checkout(db, "block-2", strlen("block-2")));
	expect_head(db, "block-2");
	expect(db, NULL, "head (block-2):", "accounts", "alice", "90");
	expect(db, NULL, "head (block-2):", "accounts", "carol", NULL);
	{
		static const struct op b3b[] = {{"accounts", "alice", "80"},
						{"accounts", "erin", "10"}};
		commit(db, "block-3b", b3b, 2);
	}
	expect_head(db, "block-3b");
	expect(db, NULL, "head (block-3b):", "accounts", "alice", "80");
	expect(db, NULL, "head (block-3b):", "accounts", "carol", NULL);
	commit_hash(db, NULL, hash3b);

	printf("== proving keys against the accounts root at the head (ICS23)\n");
	prove(db, "accounts", "alice", "80");
	prove(db, "accounts", "carol", NULL);

	{
		static const char *const all[] = {"block-1", "block-2", "block-3", "block-3b"};
		static const char *const keys[] = {"alice", "bob", "erin"};
		show_versions(db, all, 4);
		iterate(db, "accounts", keys, 3);
	}

	printf("== closing and reopening %s\n", dir);
	CHECK(iodb_close(db));
	db = NULL;
	CHECK(iodb_open(dir, NULL, &db));
	expect_head(db, "block-3b");
	expect(db, NULL, "head (block-3b):", "accounts", "alice", "80");
	expect(db, NULL, "head (block-3b):", "accounts", "erin", "10");
	expect(db, NULL, "head (block-3b):", NULL, "greeting", "hello again");
	commit_hash(db, NULL, h);
	expect_same_hash("commit hash of block-3b:", h, hash3b);
	commit_hash(db, "block-3", h);
	expect_same_hash("commit hash of block-3: ", h, hash3);
	s3 = snapshot_at(db, "block-3");
	expect(db, s3, "snapshot at block-3:", "accounts", "alice", "60");
	expect(db, s3, "snapshot at block-3:", "accounts", "carol", "30");
	iodb_snapshot_close(s3);
	{
		static const char *const all[] = {"block-1", "block-2", "block-3", "block-3b"};
		show_versions(db, all, 4);
	}
	CHECK(iodb_close(db));

	printf("== done: every read matched; the store is in %s\n", dir);
	return 0;
}
