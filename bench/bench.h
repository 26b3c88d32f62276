/*
 * bench.h — what the parts of iodb-bench share: the run settings, the key and value
 * generator, clocks, the latency histogram, per-phase metrics and the result records.
 *
 * Process model: the parent (iodb_bench.c) forks one child per engine; the child runs every
 * selected workload against that engine and sends one `struct msg` per result row or
 * time-series sample through a pipe; the parent prints the summary, the CSV and the charts.
 * A fresh process per engine keeps one engine's allocator, page-cache dirt and threads out
 * of the next one's figures.
 */
#ifndef IODB_BENCH_H
#define IODB_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define KEY_LEN 16
#define VAL_LEN 100
#define IAVL_VAL_LEN 40

/* Sizes of every workload; --quick shrinks them (see bench_sizes in iodb_bench.c). */
struct sizes {
	uint64_t fill_keys;          /* fillseq, fillrandom, overwrite: 2M */
	uint32_t fill_batch;         /* 1,000 */
	uint64_t sync_commits;       /* fillsync: 5,000 single-key durable commits */
	uint64_t block_versions;     /* blockcommit: 2,000 versions ... */
	uint32_t block_upserts;      /* ... of 800 upserts ... */
	uint32_t block_deletes;      /* ... and 200 deletes */
	uint64_t reads;              /* readrandom: 1M gets */
	uint64_t read_warmup;        /* untimed gets before each read workload */
	uint64_t seeks;              /* seekrandom: 100k seeks ... */
	uint32_t seek_nexts;         /* ... + 10 nexts */
	double rww_secs;             /* readwhilewriting: 30 s ... */
	uint32_t rww_rate;           /* ... writer capped at 10,240 writes/s */
	double stress_secs;          /* compaction-stress duration */
	uint64_t stress_keys;        /* compaction-stress key space */
	uint64_t history_reads;      /* history-read: gets per depth */
	uint32_t branch_rounds;      /* branch: checkout + update rounds */
	/* the lead's core figures (iodb with default options: Merkle on) */
	uint64_t nosync_commits;     /* fillnosync: 200,000 */
	uint64_t core_versions;      /* blocksync / blocknosync: 2,000 versions ... */
	uint32_t core_batch;         /* ... of 1,000 puts */
	uint64_t group_commits;      /* group4: per thread */
	/* Merkle */
	uint64_t iavl_keys;          /* 1M keys of 16/40 bytes */
	uint64_t iavl_block_versions;
	uint32_t iavl_block_updates; /* 200 x 100 */
	uint64_t iavl_bulk_versions;
	uint32_t iavl_bulk_updates;  /* 50 x 10,000 */
	/* shards */
	uint64_t shards_keys;        /* bulk load + flush: 2M keys */
	uint64_t shards_reads;       /* gets of present keys, then as many of absent: 500k */
	/* overwrite-sustained */
	uint64_t ow_keys;            /* keys loaded, then overwritten: 2M (--keys) */
	double ow_secs;              /* overwrite duration: 600 s (--seconds) */
	double ow_sample_secs;       /* seconds between time-series samples: 10 */
	uint32_t ow_keep;            /* options.keep_versions: 0, every version (--keep-versions) */
};

struct bench {
	const char *dir;      /* parent directory of every engine's stores */
	uint64_t seed;
	int quick;
	int tty;              /* stdout is a terminal: progress bars */
	size_t cache_mb;      /* cache budget given to every engine that has a cache */
	struct sizes sz;
	const char *const *only; /* selected workloads (NULL = all) */
	int nonly;
	int out_fd;           /* child: the pipe to the parent */
	const char *engine;   /* child: the engine it runs */
};

int bench_wants(const struct bench *b, const char *workload);

/* Clocks. */
uint64_t now_ns(void);
void sleep_ns(uint64_t ns);

/* splitmix64: one stream per thread and workload, all derived from --seed. */
struct rng {
	uint64_t s;
};
void rng_init(struct rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(struct rng *r);
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/*
 * Key j of the run: 16 bytes, unique for every j (the first 8 bytes are a bijection of j
 * mixed with the seed, so keys arrive in random order and their set is a random sample of
 * the key space). Keys j < N are the ones a store of N keys holds; j >= N are misses that
 * fall between them.
 */
void key_make(uint8_t k[KEY_LEN], uint64_t j, uint64_t seed);
void val_fill(uint8_t *v, size_t n, struct rng *r);

/* Latency histogram: log-linear in nanoseconds, 64 sub-buckets per power of two (< 1.6%
 * error), exact below 128 ns. */
#define HIST_BUCKETS 3776
struct hist {
	uint64_t count, max, sum;
	uint64_t b[HIST_BUCKETS];
};
void hist_reset(struct hist *h);
/* A fresh, reset histogram (free with free); exits on out of memory. */
struct hist *hist_new(void);
void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *d, const struct hist *s);
double hist_pct_us(const struct hist *h, double pct);

/* One result row. ops are key operations (a batch of 1,000 puts is 1,000 ops); a latency
 * sample is one call of `unit` (a get, a seek, a batch, a version...). */
struct result {
	char engine[16];
	char workload[24];
	char config[64];
	char unit[12];
	int iodb_only;        /* not one of the workloads every engine runs */
	uint64_t ops;
	double secs;
	double ops_s;
	double p50_us, p99_us, p999_us, max_us;
	double cpu_s;
	double rss_mb;        /* peak resident set during the phase */
	uint64_t user_bytes;  /* key + value bytes the workload asked to write */
	uint64_t dev_bytes;   /* bytes the process sent to storage during the phase */
	uint64_t disk_bytes;  /* du of the store at the end */
	uint64_t live_bytes;  /* key + value bytes of the live data at the end */
	double wamp, samp;
	double stall_ms;      /* the longest single write call */
	char note[160];
};

/* One compaction-stress sample (one per second). */
struct sample {
	char engine[16];
	double t;
	double writes_s, reads_s;
	double wamp;          /* cumulative since the start of the run */
	double rss_mb, disk_mb;
	double stall_ms;      /* longest write call within this second */
};

enum { MSG_RESULT = 1, MSG_SAMPLE = 2 };
struct msg {
	int type;
	union {
		struct result r;
		struct sample s;
	} u;
};

/* Per-phase process metrics. */
struct phase {
	uint64_t t0;
	double cpu0;
	uint64_t io0;
};
uint64_t io_written(void);     /* /proc/self/io write_bytes - cancelled_write_bytes */
double cpu_seconds(void);      /* user + system, every thread of the process */
double rss_mb(void);           /* VmRSS now */
uint64_t du_bytes(const char *path);
void phase_begin(struct phase *p);     /* also resets the peak-RSS mark */
/* Fill secs, cpu_s, rss_mb, dev_bytes, wamp (given user_bytes), ops_s (given ops) and the
 * latency fields from h (may be NULL); disk_bytes/samp from dir when dir is not NULL. */
void phase_end(struct phase *p, struct result *r, const struct hist *h, const char *dir);

/* Output. The child reports rows and samples; the parent gathers them. */
void result_init(struct result *r, const struct bench *b, const char *workload,
		 const char *unit);
void emit_result(const struct bench *b, struct result *r);
void emit_sample(const struct bench *b, const struct sample *s);
void print_row_header(void);
void print_row(const struct result *r);

struct progress {
	const struct bench *b;
	const char *label;
	uint64_t total;
	uint64_t t0, last;
	int shown;
};
void progress_start(struct progress *p, const struct bench *b, const char *label,
		    uint64_t total);
void progress_update(struct progress *p, uint64_t done);
void progress_done(struct progress *p);

/* report.c (summary, CSV) and charts.c (gnuplot), from everything the children sent. */
struct results {
	struct result *r;
	size_t n, cap;
	struct sample *s;
	size_t ns, scap;
};
void results_add(struct results *all, const struct msg *m);
void report_summary(const struct results *all, const char *const *engines, int nengines);
int report_csv(const struct results *all, const char *path);
int report_charts(const struct results *all, const char *dir, const char *const *engines,
		  int nengines);

/* Nonzero exit of the child with a message. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
