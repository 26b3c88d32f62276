/*
 * snapshot_bench.c — Merkle snapshot figures (docs/BENCHMARKS.md, "Merkle snapshots"):
 *
 *   iodb-snapshot-bench DIR [--keys N] [--versions V] [--updates U] [--no-sync-state]
 *
 * 1. load N keys (16 bytes, 40-byte values) in versions of 10,000 puts, sync off;
 * 2. a full snapshot (iodb_merkle_snapshot): time, bytes, bytes per node;
 * 3. close and reopen: the open's wall time (roots mapped from the snapshot, the journal
 *    after it replayed) and the first commit hash's;
 * 4. V versions of U random updates, then an incremental snapshot: time and bytes;
 * 5. reopen again (full + incremental merged);
 * 6. export the head to a file and import it into a new directory: throughput.
 * V = 0 skips 4-6. One line per figure, "name value unit".
 *
 *   iodb-snapshot-bench DIR --restart B [--keys N] [--replay-ops R]
 *
 * Restart time with the default options: N fresh keys (16 bytes, 100-byte values) in
 * versions of B puts (sync off, so the load is not fsync-bound), close, then the open's wall
 * time with the first commit hash, the snapshots written on the way and their bytes
 * (--replay-ops sets snapshot_replay_ops; 0 = by version count only, as before it existed).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "iodb.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void check(int rc, const char *what)
{
	if (rc) {
		fprintf(stderr, "%s: %s: %s\n", what, iodb_strerror(rc), iodb_errmsg());
		exit(1);
	}
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void key_of(uint64_t i, char k[17])
{
	snprintf(k, 17, "k%015llu", (unsigned long long)(i % 1000000000000000ull));
}

static double stat_of(iodb *db, const char *section, const char *name)
{
	char *json, *p, pat[96];
	double v = -1;

	check(iodb_stats(db, &json), "stats");
	p = strstr(json, section);
	snprintf(pat, sizeof(pat), "\"%s\": ", name);
	if (p && (p = strstr(p, pat)))
		v = strtod(p + strlen(pat), NULL);
	iodb_free(json);
	return v;
}

static int value_bytes = 40;

static void commit(iodb *db, uint64_t *vno, int n, uint64_t keys, int fresh, uint64_t *next)
{
	iodb_batch *b;
	char k[17], v[128], vid[24];

	check(iodb_batch_new(&b), "batch");
	for (int i = 0; i < n; i++) {
		uint64_t x = fresh ? (*next)++ : rnd() % keys;

		key_of(x, k);
		memset(v, 'v', sizeof(v));
		snprintf(v, sizeof(v), "%040llx", (unsigned long long)rnd());
		v[40] = 'v';
		check(iodb_batch_put(b, "", k, 16, v, (size_t)value_bytes), "put");
	}
	snprintf(vid, sizeof(vid), "%llu", (unsigned long long)++*vno);
	check(iodb_update(db, vid, strlen(vid), b), "update");
	iodb_batch_free(b);
}

static int sink(void *ctx, const void *chunk, size_t len)
{
	return fwrite(chunk, 1, len, ctx) == len ? 0 : -1;
}

struct src {
	FILE *f;
	char buf[1 << 16];
};

static int source(void *ctx, const void **chunk, size_t *len)
{
	struct src *s = ctx;

	*len = fread(s->buf, 1, sizeof(s->buf), s->f);
	*chunk = s->buf;
	return 0;
}

static double reopen(const char *dir, const iodb_options *o, iodb **db, const char *what)
{
	uint8_t h[32];
	double t0;

	if (*db)
		check(iodb_close(*db), "close");
	t0 = now();
	check(iodb_open(dir, o, db), "open");
	check(iodb_commit_hash(*db, NULL, 0, h), "hash");
	printf("%s_open_s %.3f s (open_usec %.0f, snapshot load_usec %.0f)\n", what, now() - t0,
	       stat_of(*db, "\"open_usec\"", "open_usec"),
	       stat_of(*db, "merkle_snapshots", "load_usec"));
	return now() - t0;
}

int main(int argc, char **argv)
{
	uint64_t keys = 1000000, versions = 1000, updates = 1000, vno = 0, next = 0, restart = 0;
	long long replay_ops = -1;
	const char *dir;
	char path[4096];
	iodb_options o;
	iodb *db = NULL;
	double t0, t, b0, bytes, full;

	if (argc < 2) {
		fprintf(stderr, "usage: iodb-snapshot-bench DIR [--keys N] [--versions V] "
				"[--updates U] | --restart B [--keys N] [--replay-ops R]\n");
		return 2;
	}
	dir = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		uint64_t v = strtoull(argv[i + 1], NULL, 10);

		if (!strcmp(argv[i], "--keys"))
			keys = v;
		else if (!strcmp(argv[i], "--versions"))
			versions = v;
		else if (!strcmp(argv[i], "--updates"))
			updates = v;
		else if (!strcmp(argv[i], "--restart"))
			restart = v;
		else if (!strcmp(argv[i], "--replay-ops"))
			replay_ops = (long long)v;
	}
	if (restart) {
		iodb_options_init(&o);
		o.sync = 0;
		value_bytes = 100;
		if (replay_ops >= 0)
			o.snapshot_replay_ops = (uint64_t)replay_ops;
		check(iodb_open(dir, &o, &db), "open");
		t0 = now();
		while (next < keys)
			commit(db, &vno, (int)(keys - next < restart ? keys - next : restart), keys, 1,
			       &next);
		t = now() - t0;
		printf("load_s %.1f s (%llu keys, %llu versions of %llu)\n", t,
		       (unsigned long long)keys, (unsigned long long)vno, (unsigned long long)restart);
		printf("snapshots_written %.0f (%.1f MB, %.1f s of snapshot writing)\n",
		       stat_of(db, "merkle_snapshots", "written"),
		       stat_of(db, "merkle_snapshots", "bytes_written") / 1e6,
		       stat_of(db, "merkle_snapshots", "write_usec") / 1e6);
		reopen(dir, &o, &db, "restart");
		reopen(dir, &o, &db, "restart_again");
		goto out;
	}
	iodb_options_init(&o);
	o.sync = 0;
	o.snapshot_interval = 0;
	o.incremental_snapshot_interval = 1000000000000ull; /* explicit snapshots only */
	check(iodb_open(dir, &o, &db), "open");
	t0 = now();
	while (next < keys)
		commit(db, &vno, (int)(keys - next < 10000 ? keys - next : 10000), keys, 1, &next);
	check(iodb_flush(db), "flush");
	printf("load_s %.1f s (%llu keys, %llu versions)\n", now() - t0,
	       (unsigned long long)keys, (unsigned long long)vno);

	t0 = now();
	check(iodb_merkle_snapshot(db, 1), "snapshot");
	t = now() - t0;
	full = bytes = stat_of(db, "merkle_snapshots", "bytes_written");
	printf("full_snapshot_s %.3f s\nfull_snapshot_bytes %.0f B (%.1f MB)\n", t, bytes,
	       bytes / 1e6);
	printf("bytes_per_node %.1f B (%llu nodes; keys included)\n", bytes / (2.0 * keys - 1),
	       (unsigned long long)(2 * keys - 1));
	reopen(dir, &o, &db, "after_full");
	if (!versions)
		goto out;

	t0 = now();
	for (uint64_t v = 0; v < versions; v++)
		commit(db, &vno, (int)updates, keys, 0, &next);
	printf("updates_s %.1f s (%llu versions x %llu updates)\n", now() - t0,
	       (unsigned long long)versions, (unsigned long long)updates);
	b0 = stat_of(db, "merkle_snapshots", "bytes_written");
	t0 = now();
	check(iodb_merkle_snapshot(db, 0), "incremental snapshot");
	t = now() - t0;
	bytes = stat_of(db, "merkle_snapshots", "bytes_written") - b0;
	printf("incremental_snapshot_s %.3f s\nincremental_snapshot_bytes %.0f B (%.1f MB, "
	       "%.0f%% of the full)\n",
	       t, bytes, bytes / 1e6, 100.0 * bytes / full);
	reopen(dir, &o, &db, "after_incremental");

	{
		FILE *f;
		struct src *s = malloc(sizeof(*s));
		uint8_t h[32];
		struct stat st;

		snprintf(path, sizeof(path), "%s.export", dir);
		f = fopen(path, "wb");
		t0 = now();
		check(iodb_export(db, NULL, 0, sink, f), "export");
		fclose(f);
		t = now() - t0;
		stat(path, &st);
		printf("export_s %.2f s (%.1f MB, %.1f MB/s, %.0f nodes/s)\n", t, st.st_size / 1e6,
		       st.st_size / 1e6 / t, (2.0 * keys - 1) / t);
		check(iodb_commit_hash(db, NULL, 0, h), "hash");
		check(iodb_close(db), "close");
		db = NULL;
		s->f = fopen(path, "rb");
		snprintf(path, sizeof(path), "%s.imported", dir);
		t0 = now();
		check(iodb_import(path, &o, h, source, s), "import");
		t = now() - t0;
		printf("import_s %.2f s (%.1f MB/s, %.0f nodes/s)\n", t, st.st_size / 1e6 / t,
		       (2.0 * keys - 1) / t);
		fclose(s->f);
		free(s);
		reopen(path, &o, &db, "imported");
	}
out:
	check(iodb_close(db), "close");
	return 0;
}
