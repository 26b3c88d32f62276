/* overhead.c — the operations of bindings/go's BenchmarkOverhead* timed from C, with the
 * same store, keys and values, so that bench.sh can print the Go binding's overhead per
 * call. Usage: overhead DIR. Prints "NAME NS_PER_OP" lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iodb.h>

#define N 10000	  /* keys loaded before the reads */
#define VLEN 100

static void die(const char *what, int rc)
{
	fprintf(stderr, "%s: %s: %s\n", what, iodb_strerror(rc), iodb_errmsg());
	exit(1);
}
#define TRY(call)                               \
	do {                                    \
		int rc_ = (call);               \
		if (rc_ != IODB_OK)             \
			die(#call, rc_);        \
	} while (0)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t seq;
static void vid(uint8_t out[8])
{
	uint64_t v = ++seq;
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

/* Run op until at least 1 s has passed (doubling the count), as testing.B does. */
typedef void (*op_fn)(iodb *db, long n);
static void timeit(const char *name, iodb *db, op_fn op)
{
	long n = 1;
	for (;;) {
		double t0 = now();
		op(db, n);
		double dt = now() - t0;
		if (dt >= 1e9 || n >= 100000000) {
			printf("%s %.1f\n", name, dt / n);
			return;
		}
		n = dt < 1e6 ? n * 100 : (long)(n * 1.2e9 / dt) + 1;
	}
}

static char val[VLEN];

static void op_get(iodb *db, long n)
{
	char key[32];
	for (long i = 0; i < n; i++) {
		void *v;
		size_t vl;
		snprintf(key, sizeof key, "key%012ld", (i * 7919) % N);
		TRY(iodb_get(db, NULL, key, 15, &v, &vl));
		iodb_free(v);
	}
}

static void op_put(iodb *db, long n)
{
	iodb_batch *b;
	char key[32];
	uint8_t id[8];
	TRY(iodb_batch_new(&b));
	for (long i = 0; i < n; i++) {
		iodb_batch_clear(b);
		snprintf(key, sizeof key, "put%012llu", (unsigned long long)seq);
		TRY(iodb_batch_put(b, NULL, key, 15, val, VLEN));
		vid(id);
		TRY(iodb_update(db, id, 8, b));
	}
	iodb_batch_free(b);
}

static void op_commit1000(iodb *db, long n)
{
	iodb_batch *b;
	char key[32];
	uint8_t id[8];
	TRY(iodb_batch_new(&b));
	for (long i = 0; i < n; i++) {
		iodb_batch_clear(b);
		for (int j = 0; j < 1000; j++) {
			snprintf(key, sizeof key, "c%06llu%08d", (unsigned long long)seq, j);
			TRY(iodb_batch_put(b, NULL, key, 15, val, VLEN));
		}
		vid(id);
		TRY(iodb_update(db, id, 8, b));
	}
	iodb_batch_free(b);
}

static void op_iter_next(iodb *db, long n)
{
	iodb_iter *it = NULL;
	int rc = IODB_NOTFOUND;
	for (long i = 0; i < n; i++) {
		const void *k, *v;
		size_t kl, vl;
		if (rc != IODB_OK) {
			iodb_iter_close(it);
			TRY(iodb_iter_open(db, NULL, NULL, &it));
			rc = iodb_iter_first(it);
		} else {
			rc = iodb_iter_next(it);
		}
		if (rc == IODB_OK) {
			/* what the Go iterator does per step: key and value, copied */
			TRY(iodb_iter_key(it, &k, &kl));
			TRY(iodb_iter_value(it, &v, &vl));
			char *copy = malloc(kl + vl);
			memcpy(copy, k, kl);
			memcpy(copy + kl, v, vl);
			free(copy);
		} else if (rc != IODB_NOTFOUND) {
			die("iter", rc);
		}
	}
	iodb_iter_close(it);
}

int main(int argc, char **argv)
{
	iodb_options o;
	iodb *db;
	iodb_batch *b;
	char key[32];
	uint8_t id[8];

	if (argc != 2) {
		fprintf(stderr, "usage: overhead DIR\n");
		return 2;
	}
	memset(val, 'v', VLEN);
	iodb_options_init(&o);
	o.sync = 0;
	TRY(iodb_open(argv[1], &o, &db));
	TRY(iodb_batch_new(&b));
	for (long i = 0; i < N; i++) {
		snprintf(key, sizeof key, "key%012ld", i);
		TRY(iodb_batch_put(b, NULL, key, 15, val, VLEN));
	}
	vid(id);
	TRY(iodb_update(db, id, 8, b));
	iodb_batch_free(b);

	timeit("get", db, op_get);
	timeit("iter_next", db, op_iter_next);
	timeit("put", db, op_put);
	timeit("commit1000", db, op_commit1000);
	TRY(iodb_close(db));
	return 0;
}
