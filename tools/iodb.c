/*
 * iodb.c — the iodb command-line tool.
 *
 *   iodb DIR COMMAND [ARGS] [OPTIONS]
 *
 * One run is one command against one store directory: parse every argument first (so a
 * usage error never touches the store), open the store, do the command, close. Only the
 * writing commands (put, del, update) may create the directory; every other command opens
 * with create_if_missing = 0, so a typo in DIR fails instead of leaving an empty store
 * (and verify-proof with --root does not open it at all). The commands that only read open
 * the store read-only (a shared lock: several at once, on read-only media too, but not
 * beside a writer); the others, and with --read-only none, open it read-write.
 *
 * Arguments: DIR comes first. The global options (--store, --hex, --nosync, --no-create,
 * --no-merkle, --read-only, --help) may appear anywhere after it and are taken out of the list; what remains is the
 * command name followed by its own arguments and options (--vid, --at, --from, ...). After
 * "--" nothing is an option, so `iodb d get -- --odd-key` works.
 *
 * Bytes: keys, values and version IDs are byte strings. With --hex they are read and printed
 * as hex; without it they are read as given and printed as text when every byte is
 * printable ASCII, otherwise as "0x" followed by hex, so that output lines stay one line.
 * Hashes and proofs are always hex (lowercase out, either case in).
 *
 * Exit status: 0 success, 1 a store error, a missing key or version, or a proof that does
 * not verify, 2 a usage error. Every error is one line on stderr:
 * "iodb: <what>: <iodb_strerror>: <iodb_errmsg>".
 *
 * args.c has what the commands share (errors, bytes in and out, option parsing);
 * json_lines.c lays out the statistics for people.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "args.h"
#include "json_lines.h"

static const char usage_text[] =
	"usage: iodb DIR COMMAND [ARGS] [OPTIONS]\n"
	"\n"
	"Commands:\n"
	"  put KEY VALUE [--vid VID]\n"
	"        Commit a new version holding one put and print its ID.\n"
	"  del KEY [--vid VID]\n"
	"        Commit a new version holding one delete and print its ID.\n"
	"  update VID [KEY=VALUE | --del KEY]...\n"
	"        Commit one version holding these ops, in order (none: an empty version).\n"
	"        With '-' as the only op, read lines \"put KEY VALUE\" or \"del KEY\" from stdin.\n"
	"  get KEY [--at VID]\n"
	"        Print KEY's value at the head, or at version VID.\n"
	"  scan [--at VID] [--from K] [--to K] [--reverse] [--limit N]\n"
	"        Print \"KEY<TAB>VALUE\" for each key in [from, to).\n"
	"  versions\n"
	"        Draw the version tree, oldest first; the head is marked \"(head)\".\n"
	"  head\n"
	"        Print the head's version ID.\n"
	"  rollback VID\n"
	"        Move the head to VID and discard all of VID's descendants.\n"
	"  checkout VID\n"
	"        Move the head to VID; the next write starts a branch from it.\n"
	"  clean KEEP\n"
	"        Keep only the subtree of the head's ancestor KEEP-1 versions back.\n"
	"  stats [--json]\n"
	"        Print the store's statistics, one per line (a group's name as a heading,\n"
	"        its members indented below it); with --json, as one JSON object.\n"
	"  flush\n"
	"        Distribute everything the journal holds to the shards, durably.\n"
	"  compact\n"
	"        Flush, then compact until no shard is due (one run per shard, space of\n"
	"        discarded versions reclaimed, shards split or merged back).\n"
	"  hash [--at VID] [--store S]\n"
	"        Print the commit hash (over every store) at the head or at VID; with\n"
	"        --store, that store's IAVL root hash (--store \"\" for the default store).\n"
	"  stores [--at VID]\n"
	"        Print \"NAME<TAB>ROOT\" for every store of the head or VID, in name order:\n"
	"        the stores its commit hash covers (the default store as \"(default)\").\n"
	"  prove KEY [--at VID] [--out FILE] [--commit]\n"
	"        Print an ICS23 proof of KEY's presence or absence as hex, or write its\n"
	"        bytes to FILE. With --commit, a proof up to the commit hash: the\n"
	"        ProofOps (key -> store root -> commit hash) of a Cosmos SDK query.\n"
	"  snapshot [incremental]\n"
	"        Write a Merkle snapshot of the head now (full, or incremental on the\n"
	"        last one) and wait until it is durable.\n"
	"  export FILE [--at VID]\n"
	"        Write the head's (or VID's) trees and key-values to FILE as a state-sync\n"
	"        stream; print the version's commit hash (what import checks against).\n"
	"  import FILE HASH\n"
	"        Build a new store in DIR (missing or empty) from the stream in FILE,\n"
	"        checking every hash against the commit hash HASH (hex).\n"
	"  verify-proof KEY [VALUE] --proof HEX|@FILE [--root HEX | --commit HASH] [--at VID]\n"
	"        Check that KEY has VALUE (without VALUE: that KEY is absent) against the\n"
	"        store's root at the head or VID, or against --root without opening DIR.\n"
	"        With --commit, the proof is a prove --commit one, checked against the\n"
	"        commit hash HASH for the store --store names, without opening DIR.\n"
	"        @FILE reads the proof's bytes from FILE. Prints \"ok\".\n"
	"\n"
	"Options (anywhere after DIR; \"--\" ends them):\n"
	"  --store S     use store S instead of the default store\n"
	"  --hex         KEY, VALUE and VID arguments are hex, and are printed as hex\n"
	"  --nosync      do not fsync commits (a crash may lose them)\n"
	"  --no-create   never create DIR or the store (only put, del, update ever do)\n"
	"  --no-merkle   open without the Merkle layer (no hash/prove; needed for a store\n"
	"                whose journal was released while it was off)\n"
	"  --read-only   open the store read-only even for a writing command (which then\n"
	"                fails); get, scan, versions, head, stats, hash, stores, prove,\n"
	"                export and verify-proof always do: they take a shared lock, so\n"
	"                they run beside each other and on read-only media, but not\n"
	"                while a writer has the store open\n"
	"  --help        print this help and exit\n"
	"\n"
	"Wherever --at VID is accepted, --at-height H names the version at height H\n"
	"on the head's ancestry instead.\n"
	"Without --vid, put and del name the new version by its height (\"7\"), adding\n"
	"\".1\", \".2\", ... while that ID is taken. Without --hex, a key, value or ID\n"
	"that is not all printable ASCII prints as 0x followed by hex. Hashes and\n"
	"proofs are always hex.\n"
	"Exit status: 0 success, 1 store error, not found or a proof that does not\n"
	"verify, 2 usage error.\n";

/* ------------------------------------------------------------------------------------ */
/* Store access */

static int open_db(struct cli *c)
{
	iodb_options o;
	int rc;

	iodb_options_init(&o);
	o.create_if_missing = c->cmd->creates && !c->no_create;
	o.sync = !c->nosync;
	o.merkle = !c->no_merkle;
	o.read_only = c->cmd->reads || c->read_only;
	rc = iodb_open(c->dir, &o, &c->db);
	if (rc != IODB_OK)
		return store_error(rc, "open %s", c->dir);
	return EXIT_OK;
}

/* Decode --at, if given, into at (else at stays NULL/0: the head), then open the store;
 * with --at-height H, at is the ID of the version at height H on the head's ancestry. */
static int open_at(struct cli *c, const struct cmd_args *a, struct bytes *at)
{
	uint64_t height = 0;
	void *vid = NULL;
	size_t vidlen = 0;
	int st = EXIT_OK, rc;

	if (a->at != NULL)
		st = arg_bytes(c, "VID", a->at, at);
	if (st == EXIT_OK && a->at_height != NULL)
		st = parse_number("--at-height", a->at_height, 1, INT64_MAX, &height);
	if (st == EXIT_OK)
		st = open_db(c);
	if (st == EXIT_OK && a->at_height != NULL) {
		rc = iodb_version_at_height(c->db, height, &vid, &vidlen);
		if (rc != IODB_OK) {
			st = store_error(rc, "--at-height %" PRIu64, height);
		} else if (!(at->p = dup_bytes(vid, vidlen))) {
			fprintf(stderr, "iodb: out of memory\n");
			st = EXIT_FAIL;
		} else {
			at->n = vidlen;
		}
		iodb_free(vid);
	}
	return st;
}

struct height_search {
	const void *vid;
	size_t vidlen;
	uint64_t height;
};

static int match_head(void *ctx, const void *vid, size_t vidlen, const void *parent,
		      size_t parentlen, uint64_t height)
{
	struct height_search *hs = ctx;

	if (compare_bytes(vid, vidlen, hs->vid, hs->vidlen) != 0)
		return 0;
	hs->height = height;
	return 1; /* found: stop the walk */
}

/* The head's height, 0 before the first version. */
static int head_height(struct cli *c, uint64_t *height)
{
	struct height_search hs = { 0 };
	void *head = NULL;
	size_t headlen = 0;
	int rc = iodb_head(c->db, &head, &headlen);

	if (rc == IODB_NOTFOUND) {
		*height = 0;
		return EXIT_OK;
	}
	if (rc != IODB_OK)
		return store_error(rc, "head");
	hs.vid = head;
	hs.vidlen = headlen;
	rc = iodb_versions(c->db, match_head, &hs);
	iodb_free(head);
	if (rc < 0 && rc != IODB_ECANCELED) /* ECANCELED: match_head found it */
		return store_error(rc, "versions");
	if (rc == 0) {
		fputs("iodb: versions: the head is not among the retained versions\n", stderr);
		return EXIT_FAIL;
	}
	*height = hs.height;
	return EXIT_OK;
}

/* Commit b under the first free ID of "H", "H.1", "H.2", ... (H: the new height) and
 * return that ID in vid. */
static int commit_auto(struct cli *c, const iodb_batch *b, struct bytes *vid)
{
	char id[48];
	uint64_t height = 0;
	int len = 0, rc = IODB_EEXIST;
	int st = head_height(c, &height);

	if (st != EXIT_OK)
		return st;
	for (uint64_t suffix = 0; rc == IODB_EEXIST; suffix++) {
		if (suffix == 0)
			len = snprintf(id, sizeof(id), "%" PRIu64, height + 1);
		else
			len = snprintf(id, sizeof(id), "%" PRIu64 ".%" PRIu64, height + 1, suffix);
		rc = iodb_update(c->db, id, (size_t)len, b);
	}
	if (rc != IODB_OK)
		return store_error(rc, "update %s", id);
	vid->p = malloc((size_t)len);
	if (vid->p == NULL)
		return out_of_memory();
	memcpy(vid->p, id, (size_t)len);
	vid->n = (size_t)len;
	return EXIT_OK;
}

static int commit(struct cli *c, const struct bytes *vid, const iodb_batch *b)
{
	char buf[SHOW_MAX + 4];
	int rc = iodb_update(c->db, vid->p, vid->n, b);

	if (rc != IODB_OK)
		return store_error(rc, "update %s", show(c, vid->p, vid->n, buf));
	return EXIT_OK;
}

static int batch_add(const struct cli *c, iodb_batch *b, const struct bytes *key,
		     const struct bytes *val)
{
	char buf[SHOW_MAX + 4];
	int rc = val ? iodb_batch_put(b, c->store, key->p, key->n, val->p, val->n)
		     : iodb_batch_del(b, c->store, key->p, key->n);

	if (rc != IODB_OK)
		return store_error(rc, "%s %s", val ? "put" : "del", show(c, key->p, key->n, buf));
	return EXIT_OK;
}

/* Parse one op from its text forms (key and, for a put, value) and add it to b. */
static int add_op(const struct cli *c, iodb_batch *b, const char *k, size_t klen,
		  const char *v, size_t vlen)
{
	struct bytes key = { 0 }, val = { 0 };
	int st = to_bytes(c, "KEY", k, klen, &key);

	if (st == EXIT_OK && v != NULL)
		st = to_bytes(c, "VALUE", v, vlen, &val);
	if (st == EXIT_OK)
		st = batch_add(c, b, &key, v != NULL ? &val : NULL);
	bytes_free(&key);
	bytes_free(&val);
	return st;
}

/* ------------------------------------------------------------------------------------ */
/* put, del, update */

static int write_one(struct cli *c, int is_put)
{
	struct cmd_args a;
	struct bytes vid = { 0 };
	iodb_batch *b = NULL;
	int st, rc;

	st = parse_cmd_args(c, OPT_VID, is_put ? 2 : 1, is_put ? 2 : 1, &a);
	if (st != EXIT_OK)
		return st;
	if (a.vid != NULL && (st = arg_bytes(c, "VID", a.vid, &vid)) != EXIT_OK)
		return st;
	rc = iodb_batch_new(&b);
	if (rc != IODB_OK) {
		st = store_error(rc, "batch");
		goto out;
	}
	st = add_op(c, b, a.pos[0], strlen(a.pos[0]), is_put ? a.pos[1] : NULL,
		    is_put ? strlen(a.pos[1]) : 0);
	if (st == EXIT_OK)
		st = open_db(c);
	if (st == EXIT_OK)
		st = a.vid != NULL ? commit(c, &vid, b) : commit_auto(c, b, &vid);
	if (st == EXIT_OK) {
		print_bytes(stdout, c->hex, vid.p, vid.n);
		putchar('\n');
	}
out:
	iodb_batch_free(b);
	bytes_free(&vid);
	return st;
}

static int cmd_put(struct cli *c)
{
	return write_one(c, 1);
}

static int cmd_del(struct cli *c)
{
	return write_one(c, 0);
}

/* One stdin line: "put KEY VALUE" (VALUE: the rest of the line) or "del KEY". */
static int add_op_line(const struct cli *c, iodb_batch *b, const char *line, size_t len,
		       unsigned long lineno)
{
	if (len > 4 && strncmp(line, "del ", 4) == 0)
		return add_op(c, b, line + 4, len - 4, NULL, 0);
	if (len > 4 && strncmp(line, "put ", 4) == 0) {
		const char *key = line + 4;
		const char *space = memchr(key, ' ', len - 4);

		if (space != NULL && space > key)
			return add_op(c, b, key, (size_t)(space - key), space + 1,
				      len - (size_t)(space + 1 - line));
	}
	return usage_error("stdin line %lu: expected \"put KEY VALUE\" or \"del KEY\"", lineno);
}

static int read_ops(const struct cli *c, iodb_batch *b)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned long lineno = 0;
	int st = EXIT_OK;

	while (st == EXIT_OK && (len = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len > 0)
			st = add_op_line(c, b, line, (size_t)len, lineno);
	}
	if (st == EXIT_OK && ferror(stdin)) {
		fprintf(stderr, "iodb: reading stdin: %s\n", strerror(errno));
		st = EXIT_FAIL;
	}
	free(line);
	return st;
}

/* The ops after "update VID": KEY=VALUE, --del KEY, or a lone "-" for stdin. */
static int parse_update_ops(const struct cli *c, iodb_batch *b)
{
	if (c->nargs == 3 && strcmp(c->args[2], "-") == 0)
		return read_ops(c, b);
	for (int i = 2; i < c->nargs; i++) {
		const char *arg = c->args[i], *eq;
		int st;

		if (is_option(c, i) && strcmp(arg, "--del") == 0) {
			if (++i == c->nargs)
				return usage_error("update: --del needs a KEY");
			st = add_op(c, b, c->args[i], strlen(c->args[i]), NULL, 0);
		} else if (is_option(c, i)) {
			return usage_error("update: unknown option %s", arg);
		} else if ((eq = strchr(arg, '=')) != NULL) {
			st = add_op(c, b, arg, (size_t)(eq - arg), eq + 1, strlen(eq + 1));
		} else {
			return usage_error("update: expected KEY=VALUE or --del KEY, got '%s'", arg);
		}
		if (st != EXIT_OK)
			return st;
	}
	return EXIT_OK;
}

static int cmd_update(struct cli *c)
{
	struct bytes vid = { 0 };
	iodb_batch *b = NULL;
	int st, rc;

	if (c->nargs < 2 || is_option(c, 1))
		return synopsis_error(c);
	st = arg_bytes(c, "VID", c->args[1], &vid);
	if (st != EXIT_OK)
		return st;
	rc = iodb_batch_new(&b);
	if (rc != IODB_OK) {
		st = store_error(rc, "batch");
		goto out;
	}
	st = parse_update_ops(c, b);
	if (st == EXIT_OK)
		st = open_db(c);
	if (st == EXIT_OK)
		st = commit(c, &vid, b);
out:
	iodb_batch_free(b);
	bytes_free(&vid);
	return st;
}

/* ------------------------------------------------------------------------------------ */
/* get, scan */

static int open_snapshot(struct cli *c, const struct bytes *vid, iodb_snapshot **s)
{
	char buf[SHOW_MAX + 4];
	int rc = iodb_snapshot_open(c->db, vid->p, vid->n, s);

	if (rc != IODB_OK)
		return store_error(rc, "version %s", show(c, vid->p, vid->n, buf));
	return EXIT_OK;
}

static int cmd_get(struct cli *c)
{
	char buf[SHOW_MAX + 4];
	struct cmd_args a;
	struct bytes key = { 0 }, at = { 0 };
	iodb_snapshot *s = NULL;
	void *val = NULL;
	size_t vlen = 0;
	int st, rc;

	st = parse_cmd_args(c, OPT_AT, 1, 1, &a);
	if (st == EXIT_OK)
		st = arg_bytes(c, "KEY", a.pos[0], &key);
	if (st == EXIT_OK)
		st = open_at(c, &a, &at);
	if (st == EXIT_OK && at.p != NULL)
		st = open_snapshot(c, &at, &s);
	if (st != EXIT_OK)
		goto out;
	if (s != NULL)
		rc = iodb_snapshot_get(s, c->store, key.p, key.n, &val, &vlen);
	else
		rc = iodb_get(c->db, c->store, key.p, key.n, &val, &vlen);
	if (rc != IODB_OK) {
		st = store_error(rc, "get %s", show(c, key.p, key.n, buf));
		goto out;
	}
	print_bytes(stdout, c->hex, val, vlen);
	putchar('\n');
out:
	iodb_free(val);
	iodb_snapshot_close(s);
	bytes_free(&key);
	bytes_free(&at);
	return st;
}

/* The bounds and direction of one scan, already decoded. */
struct scan_range {
	struct bytes from, to; /* p NULL: unbounded */
	int reverse;
	uint64_t limit;        /* UINT64_MAX: none */
};

/* Position it on the first entry of the range in scan order. */
static int scan_start(iodb_iter *it, const struct scan_range *r)
{
	int rc;

	if (!r->reverse)
		return r->from.p ? iodb_iter_seek(it, r->from.p, r->from.n) : iodb_iter_first(it);
	if (r->to.p == NULL)
		return iodb_iter_last(it);
	rc = iodb_iter_seek(it, r->to.p, r->to.n); /* first key >= to; we want the one before */
	if (rc == IODB_OK)
		return iodb_iter_prev(it);
	return rc == IODB_NOTFOUND ? iodb_iter_last(it) : rc;
}

/* Print entries from the iterator's position until the range, the limit or the store ends. */
static int scan_print(const struct cli *c, iodb_iter *it, const struct scan_range *r)
{
	int rc = scan_start(it, r);

	for (uint64_t n = 0; rc == IODB_OK && n < r->limit; n++) {
		const void *k, *v;
		size_t klen = 0, vlen = 0;

		rc = iodb_iter_key(it, &k, &klen);
		if (rc == IODB_OK)
			rc = iodb_iter_value(it, &v, &vlen);
		if (rc != IODB_OK)
			break;
		if (!r->reverse && r->to.p && compare_bytes(k, klen, r->to.p, r->to.n) >= 0)
			return IODB_OK;
		if (r->reverse && r->from.p && compare_bytes(k, klen, r->from.p, r->from.n) < 0)
			return IODB_OK;
		print_bytes(stdout, c->hex, k, klen);
		putchar('\t');
		print_bytes(stdout, c->hex, v, vlen);
		putchar('\n');
		rc = r->reverse ? iodb_iter_prev(it) : iodb_iter_next(it);
	}
	return rc == IODB_NOTFOUND ? IODB_OK : rc;
}

static int parse_scan_range(const struct cli *c, const struct cmd_args *a, struct scan_range *r)
{
	int st = EXIT_OK;

	r->reverse = a->reverse;
	r->limit = UINT64_MAX;
	if (a->from != NULL)
		st = arg_bytes(c, "--from", a->from, &r->from);
	if (st == EXIT_OK && a->to != NULL)
		st = arg_bytes(c, "--to", a->to, &r->to);
	if (st == EXIT_OK && a->limit != NULL)
		st = parse_number("--limit", a->limit, 0, UINT64_MAX, &r->limit);
	return st;
}

static int cmd_scan(struct cli *c)
{
	struct cmd_args a;
	struct scan_range r = { 0 };
	struct bytes at = { 0 };
	iodb_snapshot *s = NULL;
	iodb_iter *it = NULL;
	int st, rc;

	st = parse_cmd_args(c, OPT_AT | OPT_FROM | OPT_TO | OPT_REVERSE | OPT_LIMIT, 0, 0, &a);
	if (st == EXIT_OK)
		st = parse_scan_range(c, &a, &r);
	if (st == EXIT_OK)
		st = open_at(c, &a, &at);
	if (st == EXIT_OK && at.p != NULL)
		st = open_snapshot(c, &at, &s);
	if (st != EXIT_OK)
		goto out;
	rc = iodb_iter_open(c->db, s, c->store, &it);
	if (rc == IODB_OK)
		rc = scan_print(c, it, &r);
	if (rc != IODB_OK)
		st = store_error(rc, "scan");
out:
	iodb_iter_close(it);
	iodb_snapshot_close(s);
	bytes_free(&at);
	bytes_free(&r.from);
	bytes_free(&r.to);
	return st;
}

/* ------------------------------------------------------------------------------------ */
/* versions */

#define NONE SIZE_MAX

/* One retained version, linked into the tree by first_child / next_sibling. */
struct vnode {
	unsigned char *vid;
	size_t vidlen;
	unsigned char *parent; /* NULL: a root */
	size_t parentlen;
	uint64_t height;
	size_t first_child, next_sibling, nchildren;
};

struct vtree {
	struct vnode *v;
	size_t n, cap;
	size_t first_root, nroots;
};

static int collect_version(void *ctx, const void *vid, size_t vidlen, const void *parent,
			   size_t parentlen, uint64_t height)
{
	struct vtree *t = ctx;
	struct vnode *v;

	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct vnode *grown = realloc(t->v, cap * sizeof(*grown));

		if (grown == NULL)
			return 1; /* out of memory: stops the walk (IODB_ECANCELED) */
		t->v = grown;
		t->cap = cap;
	}
	v = &t->v[t->n];
	memset(v, 0, sizeof(*v));
	v->vid = dup_bytes(vid, vidlen);
	v->vidlen = vidlen;
	if (parent != NULL) {
		v->parent = dup_bytes(parent, parentlen);
		v->parentlen = parentlen;
	}
	if (v->vid == NULL || (parent != NULL && v->parent == NULL)) {
		free(v->vid);
		free(v->parent);
		return 1;
	}
	v->height = height;
	t->n++;
	return 0;
}

static void vtree_free(struct vtree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].vid);
		free(t->v[i].parent);
	}
	free(t->v);
}

static int compare_vnode_ptrs(const void *a, const void *b)
{
	const struct vnode *x = *(const struct vnode *const *)a;
	const struct vnode *y = *(const struct vnode *const *)b;

	return compare_bytes(x->vid, x->vidlen, y->vid, y->vidlen);
}

/* Index of the node with ID vid in the ID-sorted array, or NONE. */
static size_t find_vnode(const struct vtree *t, struct vnode **sorted, const void *vid,
			 size_t vidlen)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int cmp = compare_bytes(sorted[mid]->vid, sorted[mid]->vidlen, vid, vidlen);

		if (cmp == 0)
			return (size_t)(sorted[mid] - t->v);
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

/* Link every node under its parent (or into the root list when its parent is absent),
 * children in the order the walk reported them. */
static int vtree_link(struct vtree *t)
{
	struct vnode **sorted = malloc((t->n ? t->n : 1) * sizeof(*sorted));

	if (sorted == NULL)
		return out_of_memory();
	for (size_t i = 0; i < t->n; i++)
		sorted[i] = &t->v[i];
	qsort(sorted, t->n, sizeof(*sorted), compare_vnode_ptrs);
	t->first_root = NONE;
	t->nroots = 0;
	for (size_t i = 0; i < t->n; i++)
		t->v[i].first_child = NONE;
	/* Prepend walking backwards, so that each list ends up in walk order. */
	for (size_t i = t->n; i-- > 0;) {
		struct vnode *v = &t->v[i];
		size_t p = v->parent ? find_vnode(t, sorted, v->parent, v->parentlen) : NONE;

		if (p == NONE) {
			v->next_sibling = t->first_root;
			t->first_root = i;
			t->nroots++;
		} else {
			v->next_sibling = t->v[p].first_child;
			t->v[p].first_child = i;
			t->v[p].nchildren++;
		}
	}
	free(sorted);
	return EXIT_OK;
}

enum { CONN_NONE, CONN_MID, CONN_LAST };

/* A node waiting to be drawn: after `depth` prefix columns, with a connector or none. */
struct vframe {
	size_t node;
	size_t depth;
	int conn;
};

/* Push the `count` siblings starting at `first` so that the first one pops first. A lone
 * child continues its parent's column with no connector, so a linear history stays flat;
 * siblings each get ├─ or └─ one column deeper. */
static void push_siblings(const struct vtree *t, struct vframe *stack, size_t *top,
			  size_t first, size_t count, size_t depth)
{
	size_t base = *top;

	for (size_t i = first, k = 0; i != NONE; i = t->v[i].next_sibling, k++) {
		int conn = count == 1 ? CONN_NONE : k + 1 == count ? CONN_LAST : CONN_MID;

		stack[(*top)++] = (struct vframe){ i, depth, conn };
	}
	for (size_t lo = base, hi = *top; lo + 1 < hi; lo++, hi--) {
		struct vframe tmp = stack[lo];

		stack[lo] = stack[hi - 1];
		stack[hi - 1] = tmp;
	}
}

static void draw_vnode(const struct cli *c, const struct vnode *v, const struct vframe *f,
		       const unsigned char *last, const struct bytes *head)
{
	for (size_t i = 0; i < f->depth; i++)
		fputs(last[i] ? "   " : "│  ", stdout);
	if (f->conn != CONN_NONE)
		fputs(f->conn == CONN_LAST ? "└─ " : "├─ ", stdout);
	print_bytes(stdout, c->hex, v->vid, v->vidlen);
	printf(" (height %" PRIu64 ")", v->height);
	if (head->p && compare_bytes(v->vid, v->vidlen, head->p, head->n) == 0)
		fputs(" (head)", stdout);
	putchar('\n');
}

/* Depth-first, without recursion: a history may be millions of versions deep. */
static int vtree_draw(const struct cli *c, const struct vtree *t, const struct bytes *head)
{
	struct vframe *stack = malloc((t->n ? t->n : 1) * sizeof(*stack));
	unsigned char *last = malloc(t->n + 1); /* per column: its sibling list has ended */
	size_t top = 0;

	if (stack == NULL || last == NULL) {
		free(stack);
		free(last);
		return out_of_memory();
	}
	push_siblings(t, stack, &top, t->first_root, t->nroots, 0);
	while (top > 0) {
		struct vframe f = stack[--top];
		const struct vnode *v = &t->v[f.node];
		size_t depth = f.depth;

		draw_vnode(c, v, &f, last, head);
		if (f.conn != CONN_NONE)
			last[depth++] = f.conn == CONN_LAST;
		push_siblings(t, stack, &top, v->first_child, v->nchildren, depth);
	}
	free(stack);
	free(last);
	return EXIT_OK;
}

/* A command that takes no argument or option of its own: check that, open the store. */
static int open_no_args(struct cli *c)
{
	struct cmd_args a;
	int st = parse_cmd_args(c, 0, 0, 0, &a);

	return st == EXIT_OK ? open_db(c) : st;
}

static int cmd_versions(struct cli *c)
{
	struct vtree t = { 0 };
	struct bytes head = { 0 };
	void *h = NULL;
	int st, rc;

	if ((st = open_no_args(c)) != EXIT_OK)
		return st;
	rc = iodb_head(c->db, &h, &head.n);
	if (rc != IODB_OK && rc != IODB_NOTFOUND)
		return store_error(rc, "head");
	head.p = h;
	rc = iodb_versions(c->db, collect_version, &t);
	if (rc == IODB_ECANCELED) /* collect_version ran out of memory */
		st = out_of_memory();
	else if (rc != IODB_OK)
		st = store_error(rc, "versions");
	if (st == EXIT_OK)
		st = vtree_link(&t);
	if (st == EXIT_OK)
		st = vtree_draw(c, &t, &head);
	vtree_free(&t);
	iodb_free(h);
	return st;
}

/* ------------------------------------------------------------------------------------ */
/* head, rollback, checkout, clean, stats */

static int cmd_head(struct cli *c)
{
	void *vid = NULL;
	size_t vidlen = 0;
	int st, rc;

	if ((st = open_no_args(c)) != EXIT_OK)
		return st;
	rc = iodb_head(c->db, &vid, &vidlen);
	if (rc != IODB_OK)
		return store_error(rc, "head");
	print_bytes(stdout, c->hex, vid, vidlen);
	putchar('\n');
	iodb_free(vid);
	return EXIT_OK;
}

/* rollback VID / checkout VID: move the head. */
static int move_head(struct cli *c, int (*move)(iodb *, const void *, size_t))
{
	char buf[SHOW_MAX + 4];
	struct cmd_args a;
	struct bytes vid = { 0 };
	int st, rc;

	st = parse_cmd_args(c, 0, 1, 1, &a);
	if (st == EXIT_OK)
		st = arg_bytes(c, "VID", a.pos[0], &vid);
	if (st == EXIT_OK)
		st = open_db(c);
	if (st == EXIT_OK) {
		rc = move(c->db, vid.p, vid.n);
		if (rc != IODB_OK)
			st = store_error(rc, "%s %s", c->cmd->name, show(c, vid.p, vid.n, buf));
	}
	bytes_free(&vid);
	return st;
}

static int cmd_rollback(struct cli *c)
{
	return move_head(c, iodb_rollback);
}

static int cmd_checkout(struct cli *c)
{
	return move_head(c, iodb_checkout);
}

static int cmd_clean(struct cli *c)
{
	struct cmd_args a;
	uint64_t keep = 0;
	int st, rc;

	st = parse_cmd_args(c, 0, 1, 1, &a);
	if (st == EXIT_OK)
		st = parse_number("KEEP", a.pos[0], 1, UINT32_MAX, &keep);
	if (st == EXIT_OK)
		st = open_db(c);
	if (st != EXIT_OK)
		return st;
	rc = iodb_clean(c->db, (uint32_t)keep);
	if (rc != IODB_OK)
		return store_error(rc, "clean %" PRIu64, keep);
	return EXIT_OK;
}

static int cmd_flush(struct cli *c)
{
	int st, rc;

	if ((st = open_no_args(c)) != EXIT_OK)
		return st;
	if ((rc = iodb_flush(c->db)) != IODB_OK)
		return store_error(rc, "flush");
	return EXIT_OK;
}

static int cmd_compact(struct cli *c)
{
	int st, rc;

	if ((st = open_no_args(c)) != EXIT_OK)
		return st;
	if ((rc = iodb_compact(c->db)) != IODB_OK)
		return store_error(rc, "compact");
	return EXIT_OK;
}

/* One line per statistic; --json: the library's JSON as it comes. JSON the layout cannot
 * read (a newer library's shapes) is printed as it is, with a note on stderr. */
static int cmd_stats(struct cli *c)
{
	struct cmd_args a;
	char *json = NULL;
	size_t bad = 0;
	int st, rc;

	st = parse_cmd_args(c, OPT_JSON, 0, 0, &a);
	if (st == EXIT_OK)
		st = open_db(c);
	if (st != EXIT_OK)
		return st;
	rc = iodb_stats(c->db, &json);
	if (rc != IODB_OK)
		return store_error(rc, "stats");
	if (a.json) {
		puts(json);
	} else if (json_lines_print(stdout, json, strlen(json), &bad) != 0) {
		fprintf(stderr, "iodb: stats: cannot lay out the statistics (at byte %zu); "
				"printing them as JSON\n",
			bad);
		puts(json);
	}
	iodb_free(json);
	return EXIT_OK;
}

/* ------------------------------------------------------------------------------------ */
/* hash, prove, verify-proof */

static void print_hex_line(const void *p, size_t n)
{
	print_bytes(stdout, 1, p, n);
	putchar('\n');
}

/* With --store, the store's root hash at --at or the head; without, the commit hash. */
static int cmd_hash(struct cli *c)
{
	struct cmd_args a;
	struct bytes at = { 0 };
	uint8_t hash[32];
	int st, rc;

	st = parse_cmd_args(c, OPT_AT, 0, 0, &a);
	if (st == EXIT_OK)
		st = open_at(c, &a, &at);
	if (st == EXIT_OK) {
		rc = c->store != NULL ? iodb_root_hash(c->db, at.p, at.n, c->store, hash)
				      : iodb_commit_hash(c->db, at.p, at.n, hash);
		if (rc != IODB_OK)
			st = store_error(rc, "hash");
		else
			print_hex_line(hash, sizeof(hash));
	}
	bytes_free(&at);
	return st;
}

static int cmd_prove(struct cli *c)
{
	char buf[SHOW_MAX + 4];
	struct cmd_args a;
	struct bytes key = { 0 }, at = { 0 };
	void *proof = NULL;
	size_t plen = 0;
	int st, rc;

	st = parse_cmd_args(c, OPT_AT | OPT_OUT | OPT_COMMIT, 1, 1, &a);
	if (st == EXIT_OK)
		st = arg_bytes(c, "KEY", a.pos[0], &key);
	if (st == EXIT_OK)
		st = open_at(c, &a, &at);
	if (st == EXIT_OK) {
		rc = a.commit ? iodb_prove_commit(c->db, at.p, at.n, c->store, key.p, key.n, &proof,
						  &plen)
			      : iodb_prove(c->db, at.p, at.n, c->store, key.p, key.n, &proof, &plen);
		if (rc != IODB_OK)
			st = store_error(rc, "prove %s", show(c, key.p, key.n, buf));
		else if (a.out != NULL)
			st = write_file(a.out, proof, plen);
		else
			print_hex_line(proof, plen);
	}
	iodb_free(proof);
	bytes_free(&key);
	bytes_free(&at);
	return st;
}

static int print_store(void *ctx, const char *name, const uint8_t root[32])
{
	(void)ctx;
	/* "(default)" cannot be a store name: no parentheses in names. */
	printf("%s\t", *name ? name : "(default)");
	print_hex_line(root, 32);
	return 0;
}

/* Every store of the head or --at, with its root hash. */
static int cmd_stores(struct cli *c)
{
	struct cmd_args a;
	struct bytes at = { 0 };
	int st, rc;

	st = parse_cmd_args(c, OPT_AT, 0, 0, &a);
	if (st == EXIT_OK)
		st = open_at(c, &a, &at);
	if (st == EXIT_OK && (rc = iodb_stores(c->db, at.p, at.n, print_store, NULL)) != IODB_OK)
		st = store_error(rc, "stores");
	bytes_free(&at);
	return st;
}

/* verify-proof's inputs, decoded. val.p NULL: a proof of absence; root.p NULL: the store's;
 * commit.p set: a proof up to that commit hash. */
struct proof_check {
	struct bytes key, val, proof, root, commit;
};

static void proof_check_free(struct proof_check *pc)
{
	bytes_free(&pc->key);
	bytes_free(&pc->val);
	bytes_free(&pc->proof);
	bytes_free(&pc->root);
	bytes_free(&pc->commit);
}

static int parse_proof_check(const struct cli *c, const struct cmd_args *a,
			     struct proof_check *pc)
{
	int st;

	if (a->proof == NULL)
		return usage_error("verify-proof: --proof is required");
	if (a->root != NULL && (a->at != NULL || a->at_height != NULL || c->store != NULL))
		return usage_error("verify-proof: --root excludes --at, --at-height and --store");
	if (a->commit_hash != NULL && (a->root != NULL || a->at != NULL || a->at_height != NULL))
		return usage_error("verify-proof: --commit excludes --root and --at");
	st = arg_bytes(c, "KEY", a->pos[0], &pc->key);
	if (st == EXIT_OK && a->npos == 2)
		st = arg_bytes(c, "VALUE", a->pos[1], &pc->val);
	if (st == EXIT_OK && a->root != NULL)
		st = hex_arg("--root", a->root, &pc->root);
	if (st == EXIT_OK && pc->root.p != NULL && pc->root.n != 32)
		return usage_error("bad --root: %zu bytes, a root hash has 32", pc->root.n);
	if (st == EXIT_OK && a->commit_hash != NULL)
		st = hex_arg("--commit", a->commit_hash, &pc->commit);
	if (st == EXIT_OK && pc->commit.p != NULL && pc->commit.n != 32)
		return usage_error("bad --commit: %zu bytes, a commit hash has 32", pc->commit.n);
	if (st == EXIT_OK)
		st = a->proof[0] == '@' ? read_file(a->proof + 1, &pc->proof)
					: hex_arg("--proof", a->proof, &pc->proof);
	return st;
}

/* The root hash of the store at --at or the head. */
static int store_root(struct cli *c, const struct cmd_args *a, uint8_t root[32])
{
	struct bytes at = { 0 };
	int st = open_at(c, a, &at), rc;

	if (st == EXIT_OK && (rc = iodb_root_hash(c->db, at.p, at.n, c->store, root)) != IODB_OK)
		st = store_error(rc, "root hash");
	bytes_free(&at);
	return st;
}

static int cmd_verify_proof(struct cli *c)
{
	struct cmd_args a;
	struct proof_check pc = { 0 };
	uint8_t root[32];
	int st, rc;

	st = parse_cmd_args(c, OPT_AT | OPT_PROOF | OPT_ROOT | OPT_COMMIT_HASH, 1, 2, &a);
	if (st == EXIT_OK)
		st = parse_proof_check(c, &a, &pc);
	if (st == EXIT_OK && pc.commit.p != NULL) {
		/* Needs no store: the commit hash is the whole trust. */
		rc = iodb_verify_commit_proof(pc.commit.p, pc.proof.p, pc.proof.n, c->store,
					      pc.key.p, pc.key.n, pc.val.p, pc.val.n);
		if (rc != IODB_OK)
			st = store_error(rc, "verify-proof");
		else
			puts("ok");
		proof_check_free(&pc);
		return st;
	}
	if (st == EXIT_OK && pc.root.p != NULL)
		memcpy(root, pc.root.p, sizeof(root));
	else if (st == EXIT_OK)
		st = store_root(c, &a, root);
	if (st == EXIT_OK) {
		rc = iodb_verify_proof(root, pc.proof.p, pc.proof.n, pc.key.p, pc.key.n, pc.val.p,
				       pc.val.n);
		if (rc != IODB_OK)
			st = store_error(rc, "verify-proof");
		else
			puts("ok");
	}
	proof_check_free(&pc);
	return st;
}

/* ------------------------------------------------------------------------------------ */
/* main */

/* ------------------------------------------------------------------------------------ */
/* snapshot, export, import */

static int cmd_snapshot(struct cli *c)
{
	struct cmd_args a;
	int st, rc, incr = 0;

	st = parse_cmd_args(c, 0, 0, 1, &a);
	if (st == EXIT_OK && a.npos == 1) {
		if (strcmp(a.pos[0], "incremental") != 0)
			return usage_error("snapshot: expected nothing or 'incremental', got '%s'",
					   a.pos[0]);
		incr = 1;
	}
	if (st == EXIT_OK)
		st = open_db(c);
	if (st != EXIT_OK)
		return st;
	if ((rc = iodb_merkle_snapshot(c->db, !incr)) != IODB_OK)
		return store_error(rc, "snapshot");
	return EXIT_OK;
}

struct file_sink {
	FILE *f;
	int err; /* errno of a failed write */
};

static int write_chunk(void *ctx, const void *chunk, size_t len)
{
	struct file_sink *s = ctx;

	if (fwrite(chunk, 1, len, s->f) == len)
		return 0;
	s->err = errno ? errno : EIO;
	return -1; /* stops the export: IODB_ECANCELED */
}

static int cmd_export(struct cli *c)
{
	struct cmd_args a;
	struct bytes at = { 0 };
	uint8_t hash[32];
	struct file_sink sink = { NULL, 0 };
	FILE *f = NULL;
	int st, rc;

	st = parse_cmd_args(c, OPT_AT, 1, 1, &a);
	if (st == EXIT_OK)
		st = open_at(c, &a, &at);
	if (st == EXIT_OK && (rc = iodb_commit_hash(c->db, at.p, at.n, hash)) != IODB_OK)
		st = store_error(rc, "export");
	if (st == EXIT_OK && !(f = fopen(a.pos[0], "wb"))) {
		fprintf(stderr, "iodb: export: %s: %s\n", a.pos[0], strerror(errno));
		st = EXIT_FAIL;
	}
	sink.f = f;
	if (st == EXIT_OK && (rc = iodb_export(c->db, at.p, at.n, write_chunk, &sink)) != IODB_OK) {
		if (rc == IODB_ECANCELED && sink.err) {
			fprintf(stderr, "iodb: export: %s: %s\n", a.pos[0], strerror(sink.err));
			st = EXIT_FAIL;
		} else {
			st = store_error(rc, "export");
		}
	}
	if (f && fclose(f) != 0 && st == EXIT_OK) {
		fprintf(stderr, "iodb: export: %s: %s\n", a.pos[0], strerror(errno));
		st = EXIT_FAIL;
	}
	if (st == EXIT_OK)
		print_hex_line(hash, sizeof(hash));
	bytes_free(&at);
	return st;
}

struct file_src {
	FILE *f;
	int err; /* errno of a failed read */
	unsigned char buf[1 << 16];
};

static int read_chunk(void *ctx, const void **chunk, size_t *len)
{
	struct file_src *s = ctx;

	*len = fread(s->buf, 1, sizeof(s->buf), s->f);
	*chunk = s->buf;
	if (!ferror(s->f))
		return 0;
	s->err = errno ? errno : EIO;
	return -1; /* stops the import: IODB_ECANCELED */
}

static int cmd_import(struct cli *c)
{
	struct cmd_args a;
	struct bytes hash = { 0 };
	struct file_src *src;
	iodb_options o;
	int st, rc;

	st = parse_cmd_args(c, 0, 2, 2, &a);
	if (st == EXIT_OK)
		st = hex_arg("HASH", a.pos[1], &hash);
	if (st == EXIT_OK && hash.n != 32)
		st = usage_error("bad HASH: %zu bytes, a commit hash has 32", hash.n);
	if (st != EXIT_OK) {
		bytes_free(&hash);
		return st;
	}
	if (!(src = malloc(sizeof(*src)))) {
		bytes_free(&hash);
		return out_of_memory();
	}
	if (!(src->f = fopen(a.pos[0], "rb"))) {
		fprintf(stderr, "iodb: import: %s: %s\n", a.pos[0], strerror(errno));
		st = EXIT_FAIL;
	} else {
		iodb_options_init(&o);
		o.sync = !c->nosync;
		o.read_only = c->read_only; /* refused: an import writes */
		src->err = 0;
		rc = iodb_import(c->dir, &o, hash.p, read_chunk, src);
		if (rc == IODB_ECANCELED && src->err) {
			fprintf(stderr, "iodb: import: %s: %s\n", a.pos[0], strerror(src->err));
			st = EXIT_FAIL;
		} else if (rc != IODB_OK) {
			st = store_error(rc, "import into %s", c->dir);
		}
		fclose(src->f);
	}
	free(src);
	bytes_free(&hash);
	return st;
}

static const struct command commands[] = {
	{ "put", "KEY VALUE [--vid VID]", cmd_put, 1, 0 },
	{ "del", "KEY [--vid VID]", cmd_del, 1, 0 },
	{ "update", "VID [KEY=VALUE | --del KEY]... | VID -", cmd_update, 1, 0 },
	{ "get", "KEY [--at VID]", cmd_get, 0, 1 },
	{ "scan", "[--at VID] [--from K] [--to K] [--reverse] [--limit N]", cmd_scan, 0, 1 },
	{ "versions", "", cmd_versions, 0, 1 },
	{ "head", "", cmd_head, 0, 1 },
	{ "rollback", "VID", cmd_rollback, 0, 0 },
	{ "checkout", "VID", cmd_checkout, 0, 0 },
	{ "clean", "KEEP", cmd_clean, 0, 0 },
	{ "stats", "[--json]", cmd_stats, 0, 1 },
	{ "flush", "", cmd_flush, 0, 0 },
	{ "compact", "", cmd_compact, 0, 0 },
	{ "hash", "[--at VID] [--store S]", cmd_hash, 0, 1 },
	{ "stores", "[--at VID]", cmd_stores, 0, 1 },
	{ "prove", "KEY [--at VID] [--out FILE] [--commit]", cmd_prove, 0, 1 },
	{ "snapshot", "[incremental]", cmd_snapshot, 0, 0 },
	{ "export", "FILE [--at VID]", cmd_export, 0, 1 },
	{ "import", "FILE HASH", cmd_import, 0, 0 },
	{ "verify-proof", "KEY [VALUE] --proof HEX|@FILE [--root HEX | --commit HASH] [--at VID]",
	  cmd_verify_proof, 0, 1 },
};

static int is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* Take the global options out of argv[2..], leaving the command and its arguments in
 * c->args (argv is reordered in place). */
static int parse_global(int argc, char **argv, struct cli *c)
{
	int literal = 0;

	c->dir = argv[1];
	c->args = argv + 2;
	c->nargs = 0;
	c->literal_from = argc;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];

		if (literal) {
			c->args[c->nargs++] = argv[i];
		} else if (strcmp(arg, "--") == 0) {
			literal = 1;
			c->literal_from = c->nargs;
		} else if (strcmp(arg, "--store") == 0) {
			if (i + 1 == argc)
				return usage_error("--store needs a value");
			c->store = argv[++i];
		} else if (strcmp(arg, "--hex") == 0) {
			c->hex = 1;
		} else if (strcmp(arg, "--nosync") == 0) {
			c->nosync = 1;
		} else if (strcmp(arg, "--no-create") == 0) {
			c->no_create = 1;
		} else if (strcmp(arg, "--no-merkle") == 0) {
			c->no_merkle = 1;
		} else if (strcmp(arg, "--read-only") == 0) {
			c->read_only = 1;
		} else {
			c->args[c->nargs++] = argv[i];
		}
	}
	return EXIT_OK;
}

static int find_command(struct cli *c)
{
	if (c->nargs == 0)
		return usage_error("missing command");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(c->args[0], commands[i].name) == 0) {
			c->cmd = &commands[i];
			return EXIT_OK;
		}
	}
	if (is_option(c, 0))
		return usage_error("unknown option %s (or missing command)", c->args[0]);
	return usage_error("unknown command '%s'", c->args[0]);
}

/* 1 if --help or -h comes before any "--". */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (is_help(argv[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	int st, rc;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (wants_help(argc, argv)) {
		fputs(usage_text, stdout);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
	}
	if (strncmp(argv[1], "--", 2) == 0)
		return usage_error("DIR must come first, got option %s", argv[1]);
	st = parse_global(argc, argv, &c);
	if (st == EXIT_OK)
		st = find_command(&c);
	if (st == EXIT_OK)
		st = c.cmd->run(&c);
	if (c.db != NULL) {
		rc = iodb_close(c.db);
		if (rc != IODB_OK && st == EXIT_OK)
			st = store_error(rc, "close %s", c.dir);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (st == EXIT_OK)
			fprintf(stderr, "iodb: writing output: %s\n", strerror(errno));
		st = st == EXIT_OK ? EXIT_FAIL : st;
	}
	return st;
}
