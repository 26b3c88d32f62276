/*
 * iodb-bench — iodb side by side with RocksDB, LevelDB and LMDB through one workload
 * generator, plus the figures only iodb has (history, branches, rollback, the Merkle layer).
 * Timing lives here, never in tests. The method and one full run: docs/BENCHMARKS.md.
 *
 *   iodb-bench [--engine NAME]... [--engines all|LIST] [--quick] [--seed N] [--cache-mb N]
 *              [--dir DIR] [--csv FILE] [--charts DIR] [--stress-secs S] [--rww-secs S]
 *              [--seconds S] [--keys N] [--keep-versions K] [--list] [WORKLOAD...]
 *
 * Engines: iodb (always built), rocksdb, leveldb, lmdb (each built in when its Debian -dev
 * package was found at configure time; otherwise asking for it prints a message and the
 * run goes on without it). Default: iodb alone.
 *
 * Process model: for each engine the parent forks a child that runs every selected
 * workload and streams its result rows back through a pipe; iodb gets a second child for
 * the core and Merkle figures (its default options: Merkle on), a third for the shards
 * workload and a fourth for overwrite-sustained (fresh processes, so their memory figures
 * are their own). overwrite-sustained runs only when named: by default it loads 2M keys and
 * overwrites them for ten minutes (--keys N, --seconds S, --keep-versions K). The parent
 * then prints the summary with the iodb/peer ratios, writes the CSV (and FILE-stress.csv,
 * the compaction-stress time series) and draws the charts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iodb.h"
#include "workloads.h"

#ifdef BENCH_HAVE_ROCKSDB
extern const struct engine_ops engine_rocksdb;
#endif
#ifdef BENCH_HAVE_LEVELDB
extern const struct engine_ops engine_leveldb;
#endif
#ifdef BENCH_HAVE_LMDB
extern const struct engine_ops engine_lmdb;
#endif

const char *const engine_names[] = {"iodb", "rocksdb", "leveldb", "lmdb", NULL};

const struct engine_ops *engine_find(const char *name, int *missing)
{
	static const struct engine_ops *const built[] = {
		&engine_iodb,
#ifdef BENCH_HAVE_ROCKSDB
		&engine_rocksdb,
#endif
#ifdef BENCH_HAVE_LEVELDB
		&engine_leveldb,
#endif
#ifdef BENCH_HAVE_LMDB
		&engine_lmdb,
#endif
	};

	*missing = 0;
	for (size_t i = 0; i < sizeof(built) / sizeof(*built); i++)
		if (!strcmp(built[i]->name, name))
			return built[i];
	for (int i = 0; engine_names[i]; i++)
		if (!strcmp(engine_names[i], name))
			*missing = 1;
	return NULL;
}

/* Which child process runs a workload. */
enum family {
	FAM_COMMON, /* every engine's child (iodb: Merkle off) */
	FAM_CORE,   /* iodb's second child: core and Merkle figures (Merkle on) */
	FAM_SHARDS, /* iodb's third child: the shards workload (Merkle off) */
	FAM_OVERWRITE /* iodb's fourth child: overwrite-sustained (Merkle off), only when named */
};
#define NFAMILIES 4

static const struct {
	const char *name;
	enum family family;
	const char *what;
} workloads[] = {
	{"fillseq", FAM_COMMON, "2M keys in key order, batches of 1,000, no sync"},
	{"fillrandom", FAM_COMMON, "2M keys in random order, batches of 1,000, no sync"},
	{"overwrite", FAM_COMMON, "2M random overwrites, batches of 1,000, then settle"},
	{"readrandom", FAM_COMMON, "1M gets, 90% present; 1 thread, then 2 (readrandom-2t)"},
	{"seekrandom", FAM_COMMON, "100k seeks + 10 nexts"},
	{"readwhilewriting", FAM_COMMON, "30 s: one reader, one writer capped at 10,240 writes/s"},
	{"fillsync", FAM_COMMON, "5,000 single-key durable commits (iodb: Merkle off and on)"},
	{"blockcommit", FAM_COMMON, "2,000 versions of 800 upserts + 200 deletes, durable each"},
	{"compaction-stress", FAM_COMMON,
	 "overwrites, deletes (iodb: rollbacks, branches) + a reader"},
	{"history-read", FAM_CORE, "iodb: gets at 0, 1, 10, 100, 1000 versions behind the head"},
	{"branch", FAM_CORE, "iodb: checkout an old version + commit a block on it"},
	{"rollback", FAM_CORE, "iodb: roll back 1, 100, 1000 versions; reads after"},
	{"fillnosync", FAM_CORE, "iodb core: 200,000 single-put versions, sync=0"},
	{"blocksync", FAM_CORE, "iodb core: 2,000 versions of 1,000 puts, sync=1"},
	{"blocknosync", FAM_CORE, "iodb core: the same, sync=0"},
	{"open", FAM_CORE, "iodb core: open time of blocknosync's store"},
	{"group4", FAM_CORE, "iodb core: 4 threads x 2,000 single-put durable versions"},
	{"iavl-block", FAM_CORE, "Merkle: 1M keys 16/40 B, 200 versions x 100 updates, on/off"},
	{"iavl-bulk", FAM_CORE, "Merkle: 50 versions x 10,000 updates, on/off"},
	{"restart", FAM_CORE, "Merkle: open time with 1M keys, on/off"},
	{"shards", FAM_SHARDS, "iodb: 2M-key load + flush, memory, disk, gets, scan, reopen"},
	{"overwrite-sustained", FAM_OVERWRITE,
	 "iodb, only when named: 2M-key load, 600 s of overwrites, compaction over time"},
};
#define NWORKLOADS (sizeof(workloads) / sizeof(*workloads))

int bench_wants(const struct bench *b, const char *workload)
{
	if (!b->nonly)
		return 1;
	for (int i = 0; i < b->nonly; i++)
		if (!strcmp(b->only[i], workload))
			return 1;
	return 0;
}

static void sizes_for(struct sizes *z, int quick)
{
	*z = (struct sizes){
		.fill_keys = 2000000, .fill_batch = 1000, .sync_commits = 5000,
		.block_versions = 2000, .block_upserts = 800, .block_deletes = 200,
		.reads = 1000000, .read_warmup = 100000, .seeks = 100000, .seek_nexts = 10,
		.rww_secs = 30, .rww_rate = 10240, .stress_secs = 60, .stress_keys = 1000000,
		.history_reads = 100000, .branch_rounds = 20, .nosync_commits = 200000,
		.core_versions = 2000, .core_batch = 1000, .group_commits = 2000,
		.iavl_keys = 1000000, .iavl_block_versions = 200, .iavl_block_updates = 100,
		.iavl_bulk_versions = 50, .iavl_bulk_updates = 10000,
		.shards_keys = 2000000, .shards_reads = 500000,
		.ow_keys = 2000000, .ow_secs = 600, .ow_sample_secs = 10,
	};
	if (!quick)
		return;
	/* Every workload keeps its shape; only counts and durations shrink. blockcommit and
	 * blocksync keep 1,200 versions so that rollback can still go 1,000 back. */
	z->fill_keys = 50000;
	z->sync_commits = 300;
	z->block_versions = 1200;
	z->block_upserts = 80;
	z->block_deletes = 20;
	z->reads = 50000;
	z->read_warmup = 5000;
	z->seeks = 5000;
	z->rww_secs = 2;
	z->stress_secs = 3;
	z->stress_keys = 20000;
	z->history_reads = 5000;
	z->branch_rounds = 5;
	z->nosync_commits = 5000;
	z->core_versions = 1200;
	z->core_batch = 20;
	z->group_commits = 100;
	z->iavl_keys = 50000;
	z->iavl_block_versions = 20;
	z->iavl_bulk_versions = 5;
	z->iavl_bulk_updates = 2000;
	z->shards_keys = 50000;
	z->shards_reads = 20000;
	z->ow_keys = 50000;
	z->ow_secs = 5;
	z->ow_sample_secs = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: iodb-bench [--engine NAME]... [--engines all|a,b,...] [--quick] "
		   "[--seed N]\n"
		   "                  [--cache-mb N] [--dir DIR] [--csv FILE] [--charts DIR]\n"
		   "                  [--stress-secs S] [--rww-secs S] [--seconds S] [--keys N]\n"
		   "                  [--keep-versions K] [--list] [WORKLOAD...]\n"
		   "engines: iodb rocksdb leveldb lmdb (default: iodb)\n"
		   "--seconds, --keys, --keep-versions: overwrite-sustained's duration (600 s), key\n"
		   "count (2M) and options.keep_versions (0: every version kept)\n");
}

/* Read exactly one message; 0 at end of file. */
static int read_msg(int fd, struct msg *m)
{
	char *p = (char *)m;
	size_t got = 0;

	while (got < sizeof(*m)) {
		ssize_t n = read(fd, p + got, sizeof(*m) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

/* Run one engine's family of workloads in a child; 0 if it exited cleanly. */
static int run_child(struct bench *b, const struct engine_ops *ops, enum family fam,
		     struct results *all)
{
	int fds[2], status;
	struct msg m;
	pid_t pid;

	if (pipe(fds) != 0)
		fail("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct run x = {.b = b, .ops = ops, .label = ops->name};
		struct rng r;

		close(fds[0]);
		b->out_fd = fds[1];
		b->engine = ops->name;
		if (!(x.pool = malloc(VPOOL_BYTES)))
			fail("out of memory");
		rng_init(&r, b->seed, stream_of("value-pool"));
		val_fill(x.pool, VPOOL_BYTES, &r);
		if (fam == FAM_CORE) {
			workloads_core(&x);
			workloads_merkle(&x);
		} else if (fam == FAM_SHARDS) {
			workloads_shards(&x);
		} else if (fam == FAM_OVERWRITE) {
			workloads_overwrite(&x);
		} else {
			workloads_common(&x);
		}
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	while (read_msg(fds[0], &m))
		results_add(all, &m);
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		static const char *const what[NFAMILIES] = {"", " (core/Merkle)", " (shards)",
							    " (overwrite-sustained)"};

		fprintf(stderr, "iodb-bench: %s%s failed (status %d); going on with the others\n",
			ops->name, what[fam], status);
		return -1;
	}
	return 0;
}

static int add_engines(const char **list, int *n, char *arg)
{
	if (!strcmp(arg, "all")) {
		for (int i = 0; engine_names[i]; i++)
			list[(*n)++] = engine_names[i];
		return 0;
	}
	for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
		if (*n >= 16)
			return -1;
		list[(*n)++] = tok;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = {.dir = "/tmp/iodb-bench", .seed = 42, .cache_mb = 64, .out_fd = -1};
	const char *csv = "bench-results.csv", *charts = NULL, *only[64], *want[16], *run[16];
	double stress_secs = -1, rww_secs = -1, ow_secs = -1, load[3] = {0};
	uint64_t ow_keys = 0, ow_keep = 0;
	int nonly = 0, nwant = 0, nrun = 0, failed = 0, fam_wanted[NFAMILIES] = {0};
	struct results all = {0};
	uint64_t t0 = now_ns();

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((!strcmp(a, "--engine") || !strcmp(a, "--engines")) && v) {
			if (add_engines(want, &nwant, argv[++i]) != 0)
				fail("too many engines");
		} else if (!strcmp(a, "--dir") && v) {
			b.dir = argv[++i];
		} else if (!strcmp(a, "--quick")) {
			b.quick = 1;
		} else if (!strcmp(a, "--seed") && v) {
			b.seed = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(a, "--cache-mb") && v) {
			b.cache_mb = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(a, "--csv") && v) {
			csv = argv[++i];
		} else if (!strcmp(a, "--charts") && v) {
			charts = argv[++i];
		} else if (!strcmp(a, "--stress-secs") && v) {
			stress_secs = atof(argv[++i]);
		} else if (!strcmp(a, "--rww-secs") && v) {
			rww_secs = atof(argv[++i]);
		} else if (!strcmp(a, "--seconds") && v) {
			if ((ow_secs = atof(argv[++i])) <= 0)
				fail("--seconds must be > 0");
		} else if (!strcmp(a, "--keys") && v) {
			if (!(ow_keys = strtoull(argv[++i], NULL, 0)))
				fail("--keys must be > 0");
		} else if (!strcmp(a, "--keep-versions") && v) {
			if ((ow_keep = strtoull(argv[++i], NULL, 0)) > UINT32_MAX)
				fail("--keep-versions must be < 2^32");
		} else if (!strcmp(a, "--list")) {
			for (size_t w = 0; w < NWORKLOADS; w++)
				printf("%-19s %s\n", workloads[w].name, workloads[w].what);
			return 0;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			usage(stderr);
			return 2;
		} else {
			size_t w = 0;

			while (w < NWORKLOADS && strcmp(workloads[w].name, a))
				w++;
			if (w == NWORKLOADS || nonly >= 64) {
				fprintf(stderr, "iodb-bench: unknown workload %s (--list)\n", a);
				return 2;
			}
			only[nonly++] = a;
		}
	}
	if (!nwant)
		want[nwant++] = "iodb";
	b.only = only;
	b.nonly = nonly;
	b.tty = isatty(STDOUT_FILENO);
	sizes_for(&b.sz, b.quick);
	if (stress_secs >= 0)
		b.sz.stress_secs = stress_secs;
	if (rww_secs >= 0)
		b.sz.rww_secs = rww_secs;
	if (ow_secs > 0)
		b.sz.ow_secs = ow_secs;
	if (ow_keys)
		b.sz.ow_keys = ow_keys;
	b.sz.ow_keep = (uint32_t)ow_keep;
	for (size_t w = 0; w < NWORKLOADS; w++)
		fam_wanted[workloads[w].family] |=
			bench_wants(&b, workloads[w].name) &&
			(workloads[w].family != FAM_OVERWRITE || b.nonly);
	for (int i = 0; i < nwant; i++) {
		int missing;

		if (!engine_find(want[i], &missing)) {
			if (!missing)
				fail("unknown engine %s (iodb rocksdb leveldb lmdb)", want[i]);
			printf("iodb-bench: %s is not built in (its -dev package was not found when "
			       "iodb was configured); skipped\n",
			       want[i]);
			continue;
		}
		run[nrun++] = want[i];
	}
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("iodb-bench %d.%d.%d  seed %llu%s  cache %zu MiB  dir %s  engines", IODB_VERSION_MAJOR,
	       IODB_VERSION_MINOR, IODB_VERSION_PATCH, (unsigned long long)b.seed,
	       b.quick ? "  (quick)" : "", b.cache_mb, b.dir);
	for (int i = 0; i < nrun; i++)
		printf(" %s", run[i]);
	printf("\n%ld CPUs, load average %.2f %.2f %.2f at start\n\n", sysconf(_SC_NPROCESSORS_ONLN),
	       load[0], load[1], load[2]);
	print_row_header();
	for (int i = 0; i < nrun; i++) {
		int missing;
		const struct engine_ops *ops = engine_find(run[i], &missing);

		failed |= run_child(&b, ops, FAM_COMMON, &all) != 0;
		if (ops == &engine_iodb && fam_wanted[FAM_CORE])
			failed |= run_child(&b, ops, FAM_CORE, &all) != 0;
		if (ops == &engine_iodb && fam_wanted[FAM_SHARDS])
			failed |= run_child(&b, ops, FAM_SHARDS, &all) != 0;
		if (ops == &engine_iodb && fam_wanted[FAM_OVERWRITE])
			failed |= run_child(&b, ops, FAM_OVERWRITE, &all) != 0;
	}
	report_summary(&all, run, nrun);
	if (report_csv(&all, csv) != 0) {
		fprintf(stderr, "iodb-bench: cannot write %s: %s\n", csv, strerror(errno));
		failed = 1;
	} else {
		printf("results: %s\n", csv);
	}
	if (charts && report_charts(&all, charts, run, nrun) != 0)
		failed = 1;
	if (getloadavg(load, 3) < 0)
		load[0] = -1;
	printf("wall time %.1f s; load average %.2f %.2f %.2f at the end\n",
	       (double)(now_ns() - t0) / 1e9, load[0], load[1], load[2]);
	free(all.r);
	free(all.s);
	return failed;
}
