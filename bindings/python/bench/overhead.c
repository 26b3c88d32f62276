/*
 * overhead.c — the C side of bindings/python/bench.py: the same operations the Python
 * benchmark times, through iodb.h directly, in one invocation.
 *
 *   overhead DIR KEYS GETS PUTS COMMITS ITER_PASSES
 *
 * DIR: a new directory. Loads KEYS keys ("key%08d", 32-byte values) in one version, then
 * prints one line per operation: NAME NS_PER_OP.
 *   get      iodb_get of an existing key (a pseudo-random one each time), value freed
 *   put      a one-put version: iodb_batch_clear + iodb_batch_put + iodb_update (sync off)
 *   commit   a 1,000-put version (the ns are per commit)
 *   next     iodb_iter_next + iodb_iter_key + iodb_iter_value over the KEYS keys
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iodb.h>

#define TRY(call)                                                                       \
	do {                                                                            \
		int rc_ = (call);                                                       \
		if (rc_ != IODB_OK) {                                                   \
			fprintf(stderr, "%s: %s: %s\n", #call, iodb_strerror(rc_),      \
				iodb_errmsg());                                         \
			exit(1);                                                        \
		}                                                                       \
	} while (0)

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	iodb_options o;
	iodb *db;
	iodb_batch *b;
	iodb_iter *it;
	char key[32], vid[32], val[33], *gkeys;
	long keys, gets, puts, commits, passes, vn = 0;
	unsigned long x = 88172645463325252ul;
	double t0, t;
	void *v;
	size_t vlen;

	if (argc != 7) {
		fprintf(stderr, "usage: overhead DIR KEYS GETS PUTS COMMITS ITER_PASSES\n");
		return 2;
	}
	keys = atol(argv[2]);
	gets = atol(argv[3]);
	puts = atol(argv[4]);
	commits = atol(argv[5]);
	passes = atol(argv[6]);
	memset(val, 'v', 32);
	val[32] = '\0';

	iodb_options_init(&o);
	o.sync = 0;
	TRY(iodb_open(argv[1], &o, &db));
	TRY(iodb_batch_new(&b));
	for (long i = 0; i < keys; i++) {
		snprintf(key, sizeof(key), "key%08ld", i);
		TRY(iodb_batch_put(b, NULL, key, strlen(key), val, 32));
	}
	snprintf(vid, sizeof(vid), "v%ld", vn++);
	TRY(iodb_update(db, vid, strlen(vid), b));

	/* The keys are made beforehand, as bench.py does. */
	gkeys = malloc((size_t)gets * 12);
	if (gkeys == NULL)
		return 1;
	for (long i = 0; i < gets; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		snprintf(gkeys + i * 12, 12, "key%08ld", (long)(x % (unsigned long)keys));
	}
	t0 = now_ns();
	for (long i = 0; i < gets; i++) {
		TRY(iodb_get(db, NULL, gkeys + i * 12, 11, &v, &vlen));
		iodb_free(v);
	}
	t = now_ns() - t0;
	free(gkeys);
	printf("get %.0f\n", t / (double)gets);

	t0 = now_ns();
	for (long i = 0; i < puts; i++) {
		iodb_batch_clear(b);
		snprintf(key, sizeof(key), "put%08ld", i);
		TRY(iodb_batch_put(b, NULL, key, 11, val, 32));
		snprintf(vid, sizeof(vid), "v%ld", vn++);
		TRY(iodb_update(db, vid, strlen(vid), b));
	}
	t = now_ns() - t0;
	printf("put %.0f\n", t / (double)puts);

	t0 = now_ns();
	for (long c = 0; c < commits; c++) {
		iodb_batch_clear(b);
		for (long i = 0; i < 1000; i++) {
			snprintf(key, sizeof(key), "c%03ld%07ld", c % 1000, i);
			TRY(iodb_batch_put(b, NULL, key, 11, val, 32));
		}
		snprintf(vid, sizeof(vid), "v%ld", vn++);
		TRY(iodb_update(db, vid, strlen(vid), b));
	}
	t = now_ns() - t0;
	printf("commit %.0f\n", t / (double)commits);
	iodb_batch_free(b);

	{
		long n = 0;
		const void *k, *vv;
		size_t klen;
		int rc;

		TRY(iodb_iter_open(db, NULL, NULL, &it));
		t0 = now_ns();
		for (long p = 0; p < passes; p++) {
			for (rc = iodb_iter_first(it); rc == IODB_OK; rc = iodb_iter_next(it)) {
				TRY(iodb_iter_key(it, &k, &klen));
				TRY(iodb_iter_value(it, &vv, &vlen));
				n++;
			}
			if (rc != IODB_NOTFOUND)
				TRY(rc);
		}
		t = now_ns() - t0;
		iodb_iter_close(it);
		printf("next %.0f\n", t / (double)n);
	}
	TRY(iodb_close(db));
	return 0;
}
