/*
 * iodb-bench — timing of iodb's core operations. Timing lives here, never in tests.
 *
 *   iodb-bench [--dir DIR] [--quick] [WORKLOAD...]
 *
 * Workloads (all by default):
 *   fillsync     single-put versions, each durable (sync=1): commit latency = one fdatasync
 *   fillnosync   the same with sync=0
 *   blocksync    versions of 1,000 puts (16-byte keys, 100-byte values), sync=1
 *   blocknosync  the same with sync=0
 *   group4       4 threads committing single-put versions at once, sync=1 (group commit)
 *   open         open time of the store blocknosync left (journal replay)
 *   iavl-block   1M keys (16-byte keys, 40-byte values), then 200 versions of 100 random
 *                updates; Merkle on and off, sync on and off: the Merkle cost per version
 *   iavl-bulk    the same store, then 50 versions of 10,000 random updates
 *
 * Figures: versions/s, ops/s, latency p50/p99 per version. Machines are shared and noisy:
 * compare runs made in one invocation.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iodb.h"

static const char *bench_dir = "/tmp/iodb-bench";
static int quick;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "iodb-bench: %s: %s: %s\n", what, iodb_strerror(rc), iodb_errmsg());
	exit(1);
}

static void wipe(const char *dir)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		exit(1);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, long versions, long ops, double secs, double *lat)
{
	qsort(lat, (size_t)versions, sizeof(*lat), dcmp);
	printf("%-12s %9ld versions %10.0f versions/s %11.0f ops/s  p50 %8.1f us  p99 %8.1f us\n",
	       name, versions, versions / secs, ops / secs, lat[versions / 2] * 1e6,
	       lat[(long)(versions * 0.99)] * 1e6);
	fflush(stdout);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void key16(uint8_t k[16], uint64_t i)
{
	/* A bijective scramble: unique random-looking keys. */
	uint64_t x = i * 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	memcpy(k, &x, 8);
	memcpy(k + 8, &i, 8);
}

static void fill(const char *name, int sync, long versions, int per_version)
{
	char dir[512];
	iodb_options o;
	iodb_batch *b;
	iodb *db;
	uint8_t key[16], val[100];
	double *lat = malloc(sizeof(double) * (size_t)versions), t0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", bench_dir, name);
	wipe(dir);
	iodb_options_init(&o);
	o.sync = sync;
	if ((rc = iodb_open(dir, &o, &db)) || (rc = iodb_batch_new(&b)))
		die("open", rc);
	t0 = now();
	for (long v = 0; v < versions; v++) {
		char vid[32];
		double t1 = now();

		iodb_batch_clear(b);
		for (int i = 0; i < per_version; i++) {
			key16(key, (uint64_t)v * per_version + i);
			for (int j = 0; j < 100; j += 8) {
				uint64_t r = rnd();

				memcpy(val + j, &r, j + 8 <= 100 ? 8 : 100 - j);
			}
			if ((rc = iodb_batch_put(b, NULL, key, 16, val, 100)))
				die("put", rc);
		}
		if ((rc = iodb_update(db, vid, (size_t)snprintf(vid, sizeof(vid), "%ld", v), b)))
			die("update", rc);
		lat[v] = now() - t1;
	}
	report(name, versions, versions * per_version, now() - t0, lat);
	iodb_batch_free(b);
	iodb_close(db);
	free(lat);
}

struct gctx {
	iodb *db;
	int id;
	long n;
	double *lat;
};

static void *group_worker(void *arg)
{
	struct gctx *c = arg;
	iodb_batch *b;
	uint8_t key[16], val[100] = {0};

	iodb_batch_new(&b);
	for (long i = 0; i < c->n; i++) {
		char vid[32];
		double t1 = now();
		int rc;

		iodb_batch_clear(b);
		key16(key, (uint64_t)c->id << 32 | (uint64_t)i);
		iodb_batch_put(b, NULL, key, 16, val, 100);
		if ((rc = iodb_update(c->db, vid, (size_t)snprintf(vid, sizeof(vid), "t%d-%ld", c->id, i),
				      b)))
			die("update", rc);
		c->lat[i] = now() - t1;
	}
	iodb_batch_free(b);
	return NULL;
}

static void group(const char *name, int threads, long per_thread)
{
	char dir[512];
	iodb *db;
	pthread_t th[16];
	struct gctx c[16];
	double *lat = malloc(sizeof(double) * (size_t)(threads * per_thread)), t0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", bench_dir, name);
	wipe(dir);
	if ((rc = iodb_open(dir, NULL, &db)))
		die("open", rc);
	t0 = now();
	for (int t = 0; t < threads; t++) {
		c[t] = (struct gctx){db, t, per_thread, lat + t * per_thread};
		pthread_create(&th[t], NULL, group_worker, &c[t]);
	}
	for (int t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	report(name, threads * per_thread, threads * per_thread, now() - t0, lat);
	iodb_close(db);
	free(lat);
}

static void open_time(const char *from)
{
	char dir[512], *json = NULL;
	iodb *db;
	double t0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", bench_dir, from);
	t0 = now();
	if ((rc = iodb_open(dir, NULL, &db)))
		die("open", rc);
	printf("%-12s %9.1f ms to open the store %s left (journal replay)\n", "open",
	       (now() - t0) * 1e3, from);
	if (iodb_stats(db, &json) == 0)
		printf("             stats: %s\n", json);
	iodb_free(json);
	iodb_close(db);
}

/*
 * The Merkle workloads: load `keys` keys in versions of 10,000, then `versions` versions of
 * `per_version` random updates, timing only those. Run with the Merkle layer on and off, the
 * difference is what the hashing costs; with sync on, the Merkle work overlaps the fsync.
 */
static double iavl_run(const char *name, long keys, long versions, int per_version, int merkle,
		       int sync, double *p50, double *p99)
{
	char dir[512];
	iodb_options o;
	iodb_batch *b;
	iodb *db;
	uint8_t key[16], val[40];
	double *lat = malloc(sizeof(double) * (size_t)versions), t0, total;
	long v = 0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s-%d%d", bench_dir, name, merkle, sync);
	wipe(dir);
	iodb_options_init(&o);
	o.sync = sync;
	o.merkle = merkle;
	if ((rc = iodb_open(dir, &o, &db)) || (rc = iodb_batch_new(&b)))
		die("open", rc);
	for (long i = 0; i < keys; v++) {
		char vid[32];

		iodb_batch_clear(b);
		for (int k = 0; k < 10000 && i < keys; k++, i++) {
			key16(key, (uint64_t)i);
			memcpy(val, &i, sizeof(i));
			if ((rc = iodb_batch_put(b, NULL, key, 16, val, 40)))
				die("put", rc);
		}
		if ((rc = iodb_update(db, vid, (size_t)snprintf(vid, sizeof(vid), "%ld", v), b)))
			die("update", rc);
	}
	t0 = now();
	for (long n = 0; n < versions; n++, v++) {
		char vid[32];
		double t1;

		iodb_batch_clear(b);
		for (int k = 0; k < per_version; k++) {
			uint64_t r = rnd();

			key16(key, r % (uint64_t)keys);
			memcpy(val, &r, sizeof(r));
			iodb_batch_put(b, NULL, key, 16, val, 40);
		}
		t1 = now();
		if ((rc = iodb_update(db, vid, (size_t)snprintf(vid, sizeof(vid), "%ld", v), b)))
			die("update", rc);
		lat[n] = now() - t1;
	}
	total = now() - t0;
	qsort(lat, (size_t)versions, sizeof(*lat), dcmp);
	*p50 = lat[versions / 2];
	*p99 = lat[(long)(versions * 0.99)];
	iodb_batch_free(b);
	iodb_close(db);
	wipe(dir);
	free(lat);
	return total;
}

static void iavl(const char *name, long keys, long versions, int per_version)
{
	for (int sync = 0; sync <= 1; sync++) {
		double p50[2], p99[2], t[2];

		for (int merkle = 0; merkle <= 1; merkle++)
			t[merkle] = iavl_run(name, keys, versions, per_version, merkle, sync,
					     &p50[merkle], &p99[merkle]);
		printf("%-12s sync=%d %ld keys, %ld versions x %d updates: per version p50 %.3f ms "
		       "(merkle off %.3f ms), p99 %.3f ms; %.0f leaf updates/s with hashing; "
		       "merkle adds %.2f us per leaf update\n",
		       name, sync, keys, versions, per_version, p50[1] * 1e3, p50[0] * 1e3,
		       p99[1] * 1e3, versions * per_version / t[1],
		       (t[1] - t[0]) / (versions * per_version) * 1e6);
		fflush(stdout);
	}
}

int main(int argc, char **argv)
{
	const char *all[] = {"fillsync", "fillnosync", "blocksync", "blocknosync", "group4",
			     "open", "iavl-block", "iavl-bulk"};
	const char *todo[16];
	int ntodo = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			bench_dir = argv[++i];
		else if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "usage: iodb-bench [--dir DIR] [--quick] [WORKLOAD...]\n");
			return 2;
		} else if (ntodo < 16)
			todo[ntodo++] = argv[i];
	}
	if (!ntodo)
		for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++)
			todo[ntodo++] = all[i];
	printf("iodb-bench %d.%d.%d, dir %s%s\n", IODB_VERSION_MAJOR, IODB_VERSION_MINOR,
	       IODB_VERSION_PATCH, bench_dir, quick ? " (quick)" : "");
	wipe(bench_dir);
	if (mkdir(bench_dir, 0755) != 0) {
		perror(bench_dir);
		return 1;
	}
	for (int i = 0; i < ntodo; i++) {
		long q = quick ? 10 : 1;

		if (!strcmp(todo[i], "fillsync"))
			fill("fillsync", 1, 5000 / q, 1);
		else if (!strcmp(todo[i], "fillnosync"))
			fill("fillnosync", 0, 200000 / q, 1);
		else if (!strcmp(todo[i], "blocksync"))
			fill("blocksync", 1, 2000 / q, 1000);
		else if (!strcmp(todo[i], "blocknosync"))
			fill("blocknosync", 0, 2000 / q, 1000);
		else if (!strcmp(todo[i], "group4"))
			group("group4", 4, 2000 / q);
		else if (!strcmp(todo[i], "open"))
			open_time("blocknosync");
		else if (!strcmp(todo[i], "iavl-block"))
			iavl("iavl-block", 1000000 / q, 200, 100);
		else if (!strcmp(todo[i], "iavl-bulk"))
			iavl("iavl-bulk", 1000000 / q, 50 / (quick ? 5 : 1), 10000);
		else {
			fprintf(stderr, "iodb-bench: unknown workload %s\n", todo[i]);
			return 2;
		}
	}
	wipe(bench_dir);
	return 0;
}
