/*
 * metrics.c — what iodb-bench measures and how.
 *
 *   time      CLOCK_MONOTONIC around each phase; latency per call into the engine.
 *   latency   a log-linear histogram (HdrHistogram's idea, 64 sub-buckets per power of two),
 *             one per thread, merged at the end of the phase: no lock on the hot path.
 *   CPU       getrusage(RUSAGE_SELF): user + system time of every thread of the process,
 *             the engine's background threads included.
 *   peak RSS  VmHWM from /proc/self/status; the mark is reset at the start of each phase by
 *             writing 5 to /proc/self/clear_refs (Linux >= 4.0), so it is the phase's peak.
 *   written   /proc/self/io write_bytes - cancelled_write_bytes: bytes this process caused
 *             to be sent to storage (counted when a page is first dirtied, so a page written
 *             twice before writeback counts once; pages of a file deleted before writeback
 *             are taken back). Background threads count; other processes do not.
 *   on disk   du of the store's directory (allocated blocks, st_blocks * 512).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "iodb-bench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed ^ (stream * 0xd1b54a32d192ed03ull);
	rng_next(r);
}

uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void be64(uint8_t *p, uint64_t x)
{
	for (int i = 7; i >= 0; i--, x >>= 8)
		p[i] = (uint8_t)x;
}

void key_make(uint8_t k[KEY_LEN], uint64_t j, uint64_t seed)
{
	/* Each step is a bijection of 64-bit words (add, xor-shift, multiply by an odd
	 * constant), so distinct j give distinct first halves. */
	uint64_t x = j + seed * 0x9e3779b97f4a7c15ull;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	be64(k, x);
	be64(k + 8, j);
}

void val_fill(uint8_t *v, size_t n, struct rng *r)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = rng_next(r);

		memcpy(v + i, &x, n - i < 8 ? n - i : 8);
	}
}

struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	if (!h)
		fail("out of memory");
	hist_reset(h);
	return h;
}

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

static size_t hist_index(uint64_t v)
{
	int e, s;

	if (v < 128)
		return (size_t)v;
	e = 63 - __builtin_clzll(v);
	s = e - 6;
	return 128 + (size_t)(e - 7) * 64 + (size_t)((v >> s) - 64);
}

/* The middle of bucket i. */
static double hist_value(size_t i)
{
	size_t e, m;

	if (i < 128)
		return (double)i;
	e = (i - 128) / 64 + 7;
	m = (i - 128) % 64 + 64;
	return ((double)m + 0.5) * (double)(1ull << (e - 6));
}

void hist_add(struct hist *h, uint64_t ns)
{
	h->b[hist_index(ns)]++;
	h->count++;
	h->sum += ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *d, const struct hist *s)
{
	for (size_t i = 0; i < HIST_BUCKETS; i++)
		d->b[i] += s->b[i];
	d->count += s->count;
	d->sum += s->sum;
	if (s->max > d->max)
		d->max = s->max;
}

double hist_pct_us(const struct hist *h, double pct)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	want = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			double v = hist_value(i);

			return (v > (double)h->max ? (double)h->max : v) / 1e3;
		}
	}
	return (double)h->max / 1e3;
}

/* Fields `name: number` of a /proc file, in one read. */
static void proc_fields(const char *path, const char *const *names, uint64_t *v, int n)
{
	char line[256];
	FILE *f = fopen(path, "r");

	memset(v, 0, (size_t)n * sizeof(*v));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		for (int i = 0; i < n; i++) {
			size_t len = strlen(names[i]);

			if (!strncmp(line, names[i], len) && line[len] == ':')
				v[i] = strtoull(line + len + 1, NULL, 10);
		}
	fclose(f);
}

static uint64_t proc_field(const char *path, const char *name)
{
	uint64_t v;

	proc_fields(path, &name, &v, 1);
	return v;
}

uint64_t io_written(void)
{
	static const char *const names[] = {"write_bytes", "cancelled_write_bytes"};
	uint64_t v[2];

	proc_fields("/proc/self/io", names, v, 2);
	return v[0] > v[1] ? v[0] - v[1] : 0;
}

double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double rss_mb(void)
{
	return (double)proc_field("/proc/self/status", "VmRSS") / 1024.0;
}

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag != FTW_NS) /* a file removed while we walk (an LSM's compaction) */
		du_total += (uint64_t)st->st_blocks * 512;
	return 0;
}

uint64_t du_bytes(const char *path)
{
	du_total = 0;
	nftw(path, du_one, 32, FTW_PHYS);
	return du_total;
}

static void peak_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "5", 1) != 1) {
			/* Older kernels: the peak stays the process's peak. */
		}
		close(fd);
	}
}

void phase_begin(struct phase *p)
{
	peak_reset();
	p->io0 = io_written();
	p->cpu0 = cpu_seconds();
	p->t0 = now_ns();
}

void phase_end(struct phase *p, struct result *r, const struct hist *h, const char *dir)
{
	r->secs = (double)(now_ns() - p->t0) / 1e9;
	r->cpu_s = cpu_seconds() - p->cpu0;
	r->dev_bytes = io_written() - p->io0;
	r->rss_mb = (double)proc_field("/proc/self/status", "VmHWM") / 1024.0;
	if (r->secs > 0)
		r->ops_s = (double)r->ops / r->secs;
	if (r->user_bytes)
		r->wamp = (double)r->dev_bytes / (double)r->user_bytes;
	if (h && h->count) {
		r->p50_us = hist_pct_us(h, 50);
		r->p99_us = hist_pct_us(h, 99);
		r->p999_us = hist_pct_us(h, 99.9);
		r->max_us = (double)h->max / 1e3;
	}
	if (dir) {
		r->disk_bytes = du_bytes(dir);
		if (r->live_bytes)
			r->samp = (double)r->disk_bytes / (double)r->live_bytes;
	}
}
