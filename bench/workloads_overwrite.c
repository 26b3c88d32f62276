/*
 * workloads_overwrite.c — iodb under sustained overwrites: does compaction keep up, and
 * what does it cost? (the overwrite-sustained workload; only when named on the command line)
 *
 * Runs in a child process of its own, on one fresh store: Merkle layer off, sync off,
 * iodb_options_init's defaults otherwise (compaction on, its background threads), except
 * keep_versions = ow_keep (--keep-versions K; default 0, the library's: every version is
 * kept). With every version kept, each overwrite adds history that no compaction may drop,
 * so the store grows with the bytes written and space amplification over the live keys
 * measures the history; with K > 0, the versions iodb_clean discards are compaction's to
 * reclaim. N = ow_keys (2M; --keys N; --quick 50k), D = ow_secs (600 s; --seconds S;
 * --quick 5 s):
 *
 *   sustained-load     N keys key_make(0..N-1) (16 bytes, random order), 100-byte values
 *                      from the random pool (incompressible), batches of 1,000, one version
 *                      each (IDs: an 8-byte big-endian counter, as engine_iodb names them)
 *   sustained-period   one row per sample period (ow_sample_secs: 10 s; --quick 1 s) of the
 *                      overwrite phase: keys/s, the period's batch latencies, and what
 *                      iodb_stats, a directory walk and /proc say at its end
 *   sustained-write    D seconds of batches of 1,000 puts of random present keys
 *                      (rng_below(N), with repetition), as fast as iodb takes them
 *   sustained-compact  iodb_flush, then iodb_compact (timed, in this thread), then the space
 *                      figures again
 *
 * What a row's latency is: the iodb_update call alone (the batch is built before the clock
 * starts). The longest writer stall is the slowest of those calls, beside what iodb counts
 * as waiting: distribute.writers_stalled_usec (frozen memtables full) and
 * compaction.writers_throttled_usec (slowdown_runs exceeded).
 *
 * Write amplification three ways: iodb_stats' write_amplification ((journal + distribute +
 * compaction bytes written) / user bytes), env_bytes_written / user_bytes_written (every
 * byte iodb's env wrote), and the bench's own /proc/self/io bytes over the user bytes (the
 * WA column). Stats figures are cumulative from the open, the load included; the "phase"
 * figures are the overwrite phase's deltas. Space amplification: space.total_bytes (live +
 * run files removed from the map that a reader still holds) and the store directory's du,
 * each over the live user data N x 116 bytes.
 *
 * One thread writes and samples: after a batch that ends past a period's end, it reads
 * iodb_stats and walks the directory, outside every timed call (the time it takes is
 * reported). So the periods start and end on batch boundaries and their latency histograms
 * need no locking. A statistic the library does not report (an older build) prints as "-".
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iodb.h"
#include "workloads.h"

#define MB 1048576.0

static void die_rc(const char *what, int rc)
{
	fail("iodb: %s: %s: %s", what, iodb_strerror(rc), iodb_errmsg());
}

/* A row's note; a long one is cut at sizeof(note). */
static void set_note(struct result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_note(struct result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
}

/* The end of the string literal whose opening quote is s[-1], or NULL if it never ends. */
static const char *string_end(const char *s)
{
	for (; *s && *s != '"'; s++)
		if (*s == '\\' && s[1])
			s++;
	return *s ? s : NULL;
}

/*
 * A number of iodb_stats' JSON: member `key` of the top-level object (obj NULL) or of its
 * member object `obj`; -1 when absent (every statistic is >= 0). Depth is tracked and
 * strings are skipped whole, so "bytes_written" of one object never answers for another's.
 */
static double stat_num(const char *json, const char *obj, const char *key)
{
	int depth = 0, inside = !obj, want_depth = obj ? 2 : 1;

	for (const char *p = json; p && *p; p++) {
		const char *name, *end, *q;
		size_t len;

		if (*p == '{') {
			depth++;
			continue;
		}
		if (*p == '}') {
			if (obj && depth == 2)
				inside = 0;
			depth--;
			continue;
		}
		if (*p != '"')
			continue;
		name = p + 1;
		if (!(end = string_end(name)))
			return -1;
		len = (size_t)(end - name);
		p = end;
		for (q = end + 1; *q == ' '; q++)
			;
		if (*q != ':')
			continue; /* a string value, not a member name */
		for (q++; *q == ' '; q++)
			;
		if (obj && depth == 1 && *q == '{')
			inside = strlen(obj) == len && !memcmp(name, obj, len);
		else if (inside && depth == want_depth && strlen(key) == len &&
			 !memcmp(name, key, len)) {
			char *num_end;
			double v = strtod(q, &num_end);

			return num_end == q ? -1 : v;
		}
	}
	return -1;
}

/* One reading of iodb_stats: what this workload reports of it. */
struct ow_stats {
	double user, journal_w, dist_w, comp_w, env_w, wamp;
	double stalled_us, throttled_us;
	double versions, shards, runs, runs_max, runs_mean, run_bytes;
	double tasks, merges, splits, merge_backs, oversized, comp_read, comp_usec, running;
	double live, total, obsolete;
};

static void stats_read(iodb *db, struct ow_stats *s)
{
	char *json = NULL;
	int rc = iodb_stats(db, &json);

	if (rc != IODB_OK)
		die_rc("stats", rc);
	*s = (struct ow_stats){
		.user = stat_num(json, NULL, "user_bytes_written"),
		.journal_w = stat_num(json, "journal", "bytes_written"),
		.dist_w = stat_num(json, "distribute", "bytes_written"),
		.comp_w = stat_num(json, "compaction", "bytes_written"),
		.env_w = stat_num(json, NULL, "env_bytes_written"),
		.wamp = stat_num(json, NULL, "write_amplification"),
		.stalled_us = stat_num(json, "distribute", "writers_stalled_usec"),
		.throttled_us = stat_num(json, "compaction", "writers_throttled_usec"),
		.versions = stat_num(json, NULL, "versions"),
		.shards = stat_num(json, "shards", "count"),
		.runs = stat_num(json, "shards", "runs"),
		.runs_max = stat_num(json, "shards", "runs_per_shard_max"),
		.runs_mean = stat_num(json, "shards", "runs_per_shard_mean"),
		.run_bytes = stat_num(json, "shards", "run_bytes"),
		.tasks = stat_num(json, "compaction", "tasks"),
		.merges = stat_num(json, "compaction", "merges"),
		.splits = stat_num(json, "compaction", "splits"),
		.merge_backs = stat_num(json, "compaction", "merge_backs"),
		.oversized = stat_num(json, "compaction", "oversized"),
		.comp_read = stat_num(json, "compaction", "bytes_read"),
		.comp_usec = stat_num(json, "compaction", "usec"),
		.running = stat_num(json, "compaction", "running"),
		.live = stat_num(json, "space", "live_bytes"),
		.total = stat_num(json, "space", "total_bytes"),
		.obsolete = stat_num(json, "space", "obsolete_run_bytes"),
	};
	iodb_free(json);
}

/* b - a when both were reported, else -1. */
static double delta(double a, double b)
{
	return a < 0 || b < 0 ? -1 : b - a;
}

/* num / den when num was reported and den > 0, else -1. */
static double ratio(double num, double den)
{
	return num < 0 || den <= 0 ? -1 : num / den;
}

/* v / k, or -1 when v was not reported. */
static double scaled(double v, double k)
{
	return v < 0 ? -1 : v / k;
}

/* The bytes iodb_stats says were written (journal + distribute + compaction) between two
 * readings, over the user bytes between them: that stretch's write amplification. */
static double stats_wamp(const struct ow_stats *a, const struct ow_stats *b)
{
	double w;

	if (a->journal_w < 0 || a->dist_w < 0 || b->journal_w < 0 || b->dist_w < 0)
		return -1;
	w = (b->journal_w - a->journal_w) + (b->dist_w - a->dist_w);
	if (a->comp_w >= 0 && b->comp_w >= 0)
		w += b->comp_w - a->comp_w;
	return ratio(w, delta(a->user, b->user));
}

/* Print v with fmt into buf, or "-" when v < 0 (not reported). */
static const char *fig(char *buf, size_t n, const char *fmt, double v)
{
	if (v < 0)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, fmt, v);
	return buf;
}

/* The end of one sample period of the overwrite phase. */
struct ow_point {
	double t;             /* seconds since the overwrite phase began */
	double secs;          /* the period's length */
	uint64_t keys;        /* keys written in the period */
	double p50_ms, p99_ms, max_ms;
	double rss_mb;
	uint64_t du;
	struct ow_stats st;
};

/* Everything the final report prints. */
struct ow_figs {
	uint64_t n, keys, batches;
	uint32_t keep;
	double live_user, secs, sample_s, sampling_ms;
	double load_s, load_p99_ms, load_max_ms;
	double p50_ms, p99_ms, p999_ms, max_ms, io_wamp, peak_rss, cpu_s;
	struct ow_stats load, end, after;
	uint64_t du_end, du_after;
	double flush_ms, compact_ms;
	struct ow_point *pts;
	size_t npts, cap;
};

/* A batch of w's puts, committed as version n: returns the iodb_update call's time (ns). */
static uint64_t commit(iodb *db, iodb_batch *b, const struct wbuf *w, uint64_t n)
{
	uint8_t vid[8];
	uint64_t t;
	int rc = IODB_OK;

	iodb_batch_clear(b);
	for (size_t i = 0; i < w->n && rc == IODB_OK; i++)
		rc = iodb_batch_put(b, NULL, w->ops[i].key, w->ops[i].klen, w->ops[i].val,
				    w->ops[i].vlen);
	if (rc != IODB_OK)
		die_rc("batch_put", rc);
	engine_iodb_vid(n, vid);
	t = now_ns();
	rc = iodb_update(db, vid, sizeof(vid), b);
	t = now_ns() - t;
	if (rc != IODB_OK)
		die_rc("update", rc);
	return t;
}

static void load(struct run *x, iodb *db, iodb_batch *b, uint64_t *vid_n, struct ow_figs *f)
{
	const struct sizes *z = &x->b->sz;
	struct hist *h = hist_new();
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;
	char s1[24];

	wbuf_init(&w, z->fill_batch, x->pool);
	rng_init(&r, x->b->seed, stream_of("sustained-load"));
	run_result(x, &res, "sustained-load", "batch", "%llu keys, batch=%u, keep=%u",
		   (unsigned long long)f->n, z->fill_batch, f->keep);
	res.iodb_only = 1;
	progress_start(&pr, x->b, "sustained-load", f->n);
	phase_begin(&ph);
	for (uint64_t i = 0; i < f->n;) {
		wbuf_clear(&w);
		for (uint32_t k = 0; k < z->fill_batch && i < f->n; k++, i++)
			wbuf_put(&w, i, x->b->seed, &r, VAL_LEN);
		res.user_bytes += w.user_bytes;
		hist_add(h, commit(db, b, &w, (*vid_n)++));
		progress_update(&pr, i);
	}
	progress_done(&pr);
	res.ops = f->n;
	res.live_bytes = (uint64_t)f->live_user;
	phase_end(&ph, &res, h, x->dir);
	res.stall_ms = (double)h->max / 1e6;
	stats_read(db, &f->load);
	f->load_s = res.secs;
	f->load_p99_ms = res.p99_us / 1e3;
	f->load_max_ms = res.max_us / 1e3;
	set_note(&res,
		 "stats WA %s; writers stalled %.2f s; %.0f shards, %.0f runs",
		 fig(s1, sizeof(s1), "%.2f", f->load.wamp), f->load.stalled_us / 1e6,
		 f->load.shards, f->load.runs);
	emit_result(x->b, &res);
	wbuf_free(&w);
	free(h);
}

/* Where the previous period ended: the baseline of the next one. */
struct ow_mark {
	uint64_t t, io, user_bytes;
	double cpu;
	struct ow_stats st;
};

/* Close the period that ends now: read the stats, walk the directory, emit its row. */
static void sample(struct run *x, iodb *db, struct ow_figs *f, struct ow_mark *m,
		   uint64_t t0, struct hist *h, uint64_t keys, uint64_t user_bytes)
{
	uint64_t t = now_ns(), io = io_written();
	double cpu = cpu_seconds();
	struct ow_point *p;
	struct result res;
	char s[5][24];

	if (f->npts == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 128;
		if (!(f->pts = realloc(f->pts, f->cap * sizeof(*f->pts))))
			fail("out of memory");
	}
	p = &f->pts[f->npts++];
	memset(p, 0, sizeof(*p));
	p->t = (double)(t - t0) / 1e9;
	p->secs = (double)(t - m->t) / 1e9;
	p->keys = keys;
	p->p50_ms = hist_pct_us(h, 50) / 1e3;
	p->p99_ms = hist_pct_us(h, 99) / 1e3;
	p->max_ms = (double)h->max / 1e6;
	p->rss_mb = rss_mb();
	p->du = du_bytes(x->dir);
	stats_read(db, &p->st);

	run_result(x, &res, "sustained-period", "batch", "t=%.0f..%.0f s",
		   (double)(m->t - t0) / 1e9, p->t);
	res.iodb_only = 1;
	res.ops = keys;
	res.secs = p->secs;
	res.ops_s = p->secs > 0 ? (double)keys / p->secs : 0;
	res.p50_us = hist_pct_us(h, 50);
	res.p99_us = hist_pct_us(h, 99);
	res.p999_us = hist_pct_us(h, 99.9);
	res.max_us = (double)h->max / 1e3;
	res.stall_ms = p->max_ms;
	res.cpu_s = cpu - m->cpu;
	res.rss_mb = p->rss_mb;
	res.user_bytes = user_bytes - m->user_bytes;
	res.dev_bytes = io - m->io;
	res.wamp = res.user_bytes ? (double)res.dev_bytes / (double)res.user_bytes : 0;
	res.disk_bytes = p->du;
	res.live_bytes = (uint64_t)f->live_user;
	res.samp = (double)p->du / f->live_user;
	set_note(&res,
		 "stats WA %s (period %s), space SA %s; %.0f shards, runs/shard max %.0f mean "
		 "%.2f; compaction tasks %s; stalled %.2f s, throttled %s s",
		 fig(s[0], sizeof(s[0]), "%.2f", p->st.wamp),
		 fig(s[1], sizeof(s[1]), "%.2f", stats_wamp(&m->st, &p->st)),
		 fig(s[2], sizeof(s[2]), "%.2f", ratio(p->st.total, f->live_user)), p->st.shards,
		 p->st.runs_max, p->st.runs_mean,
		 fig(s[3], sizeof(s[3]), "+%.0f", delta(m->st.tasks, p->st.tasks)),
		 delta(m->st.stalled_us, p->st.stalled_us) / 1e6,
		 fig(s[4], sizeof(s[4]), "%.2f",
		     scaled(delta(m->st.throttled_us, p->st.throttled_us), 1e6)));
	emit_result(x->b, &res);

	m->st = p->st;
	m->io = io;
	m->cpu = cpu;
	m->user_bytes = user_bytes;
	m->t = now_ns();
	f->sampling_ms += (double)(m->t - t) / 1e6;
}

static void overwrite(struct run *x, iodb *db, iodb_batch *b, uint64_t *vid_n,
		      struct ow_figs *f)
{
	const struct sizes *z = &x->b->sz;
	uint64_t dur = (uint64_t)(f->secs * 1e9), period = (uint64_t)(f->sample_s * 1e9);
	uint64_t t0, next, keys = 0, user_bytes = 0, period_keys = 0;
	struct hist *all = hist_new(), *h = hist_new();
	struct ow_mark m = {0};
	struct progress pr;
	struct result res;
	struct phase ph;
	struct wbuf w;
	struct rng r;
	char s[7][24];

	wbuf_init(&w, z->fill_batch, x->pool);
	rng_init(&r, x->b->seed, stream_of("sustained-write"));
	run_result(x, &res, "sustained-write", "batch", "%llu keys, %.0f s, keep=%u",
		   (unsigned long long)f->n, f->secs, f->keep);
	res.iodb_only = 1;
	progress_start(&pr, x->b, "sustained-write", dur / 1000000);
	phase_begin(&ph);
	stats_read(db, &m.st);
	m.io = ph.io0;
	m.cpu = ph.cpu0;
	m.t = t0 = now_ns();
	next = t0 + period;
	for (;;) {
		uint64_t t, ns;

		wbuf_clear(&w);
		for (uint32_t k = 0; k < z->fill_batch; k++)
			wbuf_put(&w, rng_below(&r, f->n), x->b->seed, &r, VAL_LEN);
		ns = commit(db, b, &w, (*vid_n)++);
		hist_add(all, ns);
		hist_add(h, ns);
		keys += w.n;
		period_keys += w.n;
		user_bytes += w.user_bytes;
		t = now_ns();
		if (t - t0 >= dur || t >= next) {
			sample(x, db, f, &m, t0, h, period_keys, user_bytes);
			hist_reset(h);
			period_keys = 0;
			while (next <= t)
				next += period;
		}
		if (t - t0 >= dur)
			break;
		progress_update(&pr, (t - t0) / 1000000);
	}
	progress_done(&pr);
	f->keys = keys;
	f->batches = all->count;
	res.ops = keys;
	res.user_bytes = user_bytes;
	res.live_bytes = (uint64_t)f->live_user;
	phase_end(&ph, &res, all, x->dir);
	res.stall_ms = (double)all->max / 1e6;
	stats_read(db, &f->end);
	f->du_end = res.disk_bytes;
	f->secs = res.secs;
	f->p50_ms = res.p50_us / 1e3;
	f->p99_ms = res.p99_us / 1e3;
	f->p999_ms = res.p999_us / 1e3;
	f->max_ms = res.max_us / 1e3;
	f->io_wamp = res.wamp;
	f->peak_rss = res.rss_mb;
	f->cpu_s = res.cpu_s;
	set_note(&res,
		 "stats WA %s (phase %s), env %s; space SA %s; runs/shard max %.0f; compaction "
		 "%s tasks %s s; stalled %.2f s, throttled %s s",
		 fig(s[0], sizeof(s[0]), "%.2f", f->end.wamp),
		 fig(s[1], sizeof(s[1]), "%.2f", stats_wamp(&f->load, &f->end)),
		 fig(s[2], sizeof(s[2]), "%.2f", ratio(f->end.env_w, f->end.user)),
		 fig(s[3], sizeof(s[3]), "%.2f", ratio(f->end.total, f->live_user)),
		 f->end.runs_max, fig(s[4], sizeof(s[4]), "%.0f", f->end.tasks),
		 fig(s[5], sizeof(s[5]), "%.1f", scaled(f->end.comp_usec, 1e6)),
		 f->end.stalled_us / 1e6,
		 fig(s[6], sizeof(s[6]), "%.2f", scaled(f->end.throttled_us, 1e6)));
	emit_result(x->b, &res);
	wbuf_free(&w);
	free(all);
	free(h);
}

/* iodb_flush, then iodb_compact in this thread, each timed; then the space figures. */
static void settle(struct run *x, iodb *db, struct ow_figs *f)
{
	struct result res;
	struct phase ph;
	uint64_t t;
	char s[3][24];
	int rc;

	run_result(x, &res, "sustained-compact", "key", "iodb_flush + iodb_compact");
	res.iodb_only = 1;
	phase_begin(&ph);
	t = now_ns();
	if ((rc = iodb_flush(db)) != IODB_OK)
		die_rc("flush", rc);
	f->flush_ms = (double)(now_ns() - t) / 1e6;
	t = now_ns();
	if ((rc = iodb_compact(db)) != IODB_OK)
		die_rc("compact", rc);
	f->compact_ms = (double)(now_ns() - t) / 1e6;
	res.ops = f->n; /* ops/s: live keys over the two calls' time */
	res.live_bytes = (uint64_t)f->live_user;
	phase_end(&ph, &res, NULL, x->dir);
	stats_read(db, &f->after);
	f->du_after = res.disk_bytes;
	set_note(&res,
		 "flush %.0f ms, compact %.0f ms; after: space SA %s, du SA %.2f; %.0f shards, "
		 "runs/shard max %.0f; compaction tasks %s in all, %s running",
		 f->flush_ms, f->compact_ms,
		 fig(s[0], sizeof(s[0]), "%.2f", ratio(f->after.total, f->live_user)),
		 (double)f->du_after / f->live_user, f->after.shards, f->after.runs_max,
		 fig(s[1], sizeof(s[1]), "%.0f", f->after.tasks),
		 fig(s[2], sizeof(s[2]), "%.0f", f->after.running));
	emit_result(x->b, &res);
}

static void report_space(const char *when, const struct ow_stats *st, uint64_t du,
			 double live_user)
{
	char s[5][24];

	printf("  space %-11s space.total_bytes %s MB = %s x the live user data; du %.1f MB = "
	       "%.3f x; space.live_bytes %s MB = %s x; obsolete runs %s MB\n",
	       when, fig(s[0], sizeof(s[0]), "%.1f", scaled(st->total, MB)),
	       fig(s[1], sizeof(s[1]), "%.3f", ratio(st->total, live_user)), (double)du / MB,
	       (double)du / live_user, fig(s[2], sizeof(s[2]), "%.1f", scaled(st->live, MB)),
	       fig(s[3], sizeof(s[3]), "%.3f", ratio(st->live, live_user)),
	       fig(s[4], sizeof(s[4]), "%.1f", scaled(st->obsolete, MB)));
	printf("  shards %-10s %.0f shards, %.0f runs (%.1f MB): runs per shard max %.0f, mean "
	       "%.2f; %.0f versions retained\n",
	       when, st->shards, st->runs, st->run_bytes / MB, st->runs_max, st->runs_mean,
	       st->versions);
}

static void report_series(const struct ow_figs *f)
{
	const struct ow_stats *prev = &f->load;
	char s[5][24];

	printf("\n  %7s %10s %8s %8s %8s %8s %8s %6s %6s %6s %6s %6s %7s %7s %6s\n", "t s",
	       "keys/s", "p50 ms", "p99 ms", "max ms", "stall s", "thrtl s", "WA", "WAper",
	       "SAtot", "SAdu", "shards", "runsmax", "runsavg", "tasks");
	for (size_t i = 0; i < f->npts; i++) {
		const struct ow_point *p = &f->pts[i];

		printf("  %7.1f %10.0f %8.2f %8.2f %8.1f %8.2f %8s %6s %6s %6s %6.2f %6.0f %7.0f "
		       "%7.2f %6s\n",
		       p->t, p->secs > 0 ? (double)p->keys / p->secs : 0, p->p50_ms, p->p99_ms,
		       p->max_ms, delta(prev->stalled_us, p->st.stalled_us) / 1e6,
		       fig(s[0], sizeof(s[0]), "%.2f",
			   scaled(delta(prev->throttled_us, p->st.throttled_us), 1e6)),
		       fig(s[1], sizeof(s[1]), "%.2f", p->st.wamp),
		       fig(s[2], sizeof(s[2]), "%.2f", stats_wamp(prev, &p->st)),
		       fig(s[3], sizeof(s[3]), "%.2f", ratio(p->st.total, f->live_user)),
		       (double)p->du / f->live_user, p->st.shards, p->st.runs_max, p->st.runs_mean,
		       fig(s[4], sizeof(s[4]), "%.0f", p->st.tasks));
		prev = &p->st;
	}
	printf("  (per period: keys/s; iodb_update latency; time writers were stalled by "
	       "distribute and throttled by\n   compaction; WA: stats write_amplification since "
	       "the open, WAper: the period's; SAtot: space.total_bytes,\n   SAdu: du of the "
	       "store, each over the live user data; shards and runs at the period's end; tasks: "
	       "compaction\n   tasks since the open)\n");
}

static void report(const struct ow_figs *f)
{
	const struct ow_stats *l = &f->load, *e = &f->end, *a = &f->after;
	char s[8][24];

	printf("\n== overwrite-sustained: iodb, merkle=off sync=off keep_versions=%u%s, defaults "
	       "otherwise; %llu keys of 16 + 100 bytes = %.1f MB of live user data\n",
	       f->keep, f->keep ? "" : " (every version kept)", (unsigned long long)f->n,
	       f->live_user / MB);
	printf("  load              %.2f s: %.0f keys/s; batch p99 %.2f ms, max %.1f ms; stats WA "
	       "%s\n",
	       f->load_s, (double)f->n / f->load_s, f->load_p99_ms, f->load_max_ms,
	       fig(s[0], sizeof(s[0]), "%.2f", l->wamp));
	printf("  overwrite         %.1f s, %llu keys in %llu batches: %.0f keys/s, %.1f MB/s of "
	       "user data; CPU %.1f s; peak RSS %.1f MB\n",
	       f->secs, (unsigned long long)f->keys, (unsigned long long)f->batches,
	       (double)f->keys / f->secs, (double)f->keys * (KEY_LEN + VAL_LEN) / MB / f->secs,
	       f->cpu_s, f->peak_rss);
	printf("  iodb_update       per batch of 1,000: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, "
	       "max %.1f ms\n",
	       f->p50_ms, f->p99_ms, f->p999_ms, f->max_ms);
	printf("  writer stalls     longest call %.1f ms; distribute.writers_stalled_usec %.2f s "
	       "(overwrite phase %.2f s); compaction.writers_throttled_usec %s s (phase %s s)\n",
	       f->max_ms, e->stalled_us / 1e6, delta(l->stalled_us, e->stalled_us) / 1e6,
	       fig(s[0], sizeof(s[0]), "%.2f", scaled(e->throttled_us, 1e6)),
	       fig(s[1], sizeof(s[1]), "%.2f", scaled(delta(l->throttled_us, e->throttled_us), 1e6)));
	printf("  write amp         stats write_amplification %s since the open (overwrite phase "
	       "%s); env_bytes_written / user bytes %s (phase %s); /proc/self/io %.2f (phase)\n",
	       fig(s[0], sizeof(s[0]), "%.2f", e->wamp),
	       fig(s[1], sizeof(s[1]), "%.2f", stats_wamp(l, e)),
	       fig(s[2], sizeof(s[2]), "%.2f", ratio(e->env_w, e->user)),
	       fig(s[3], sizeof(s[3]), "%.2f",
		   ratio(delta(l->env_w, e->env_w), delta(l->user, e->user))),
	       f->io_wamp);
	printf("  bytes written     journal %.1f MB, distribute %.1f MB, compaction %s MB (read %s "
	       "MB), env %.1f MB; user %.1f MB\n",
	       e->journal_w / MB, e->dist_w / MB,
	       fig(s[0], sizeof(s[0]), "%.1f", scaled(e->comp_w, MB)),
	       fig(s[1], sizeof(s[1]), "%.1f", scaled(e->comp_read, MB)), e->env_w / MB,
	       e->user / MB);
	printf("  compaction        %s tasks (%s merges, %s splits, %s merge-backs, %s oversized), "
	       "%s s of task time; %s tasks/s over the overwrite; %s running at its end\n",
	       fig(s[0], sizeof(s[0]), "%.0f", e->tasks), fig(s[1], sizeof(s[1]), "%.0f", e->merges),
	       fig(s[2], sizeof(s[2]), "%.0f", e->splits),
	       fig(s[3], sizeof(s[3]), "%.0f", e->merge_backs),
	       fig(s[4], sizeof(s[4]), "%.0f", e->oversized),
	       fig(s[5], sizeof(s[5]), "%.1f", scaled(e->comp_usec, 1e6)),
	       fig(s[6], sizeof(s[6]), "%.2f", scaled(delta(l->tasks, e->tasks), f->secs)),
	       fig(s[7], sizeof(s[7]), "%.0f", e->running));
	report_space("at the end", e, f->du_end, f->live_user);
	printf("  flush + compact   iodb_flush %.1f ms, iodb_compact %.1f ms: %s compaction tasks "
	       "(%s s of task time) since the overwrite ended\n",
	       f->flush_ms, f->compact_ms, fig(s[0], sizeof(s[0]), "%.0f", delta(e->tasks, a->tasks)),
	       fig(s[1], sizeof(s[1]), "%.1f", scaled(delta(e->comp_usec, a->comp_usec), 1e6)));
	report_space("after", a, f->du_after, f->live_user);
	report_series(f);
	printf("  (sampling: %.1f ms in all, between batches, outside the timed calls)\n\n",
	       f->sampling_ms);
	fflush(stdout);
}

static void overwrite_sustained(struct run *x)
{
	const struct sizes *z = &x->b->sz;
	struct ow_figs f = {.n = z->ow_keys, .secs = z->ow_secs, .sample_s = z->ow_sample_secs,
			    .keep = z->ow_keep};
	uint64_t vid_n = 0;
	iodb_options o;
	iodb_batch *b;
	iodb *db;
	int rc;

	if (f.n == 0 || f.secs <= 0 || f.sample_s <= 0)
		fail("overwrite-sustained: --keys and --seconds must be > 0");
	f.live_user = (double)f.n * (KEY_LEN + VAL_LEN);
	/* store_open makes the fresh directory where the bench keeps its stores; the store is
	 * then reopened with this workload's options (keep_versions), bypassing the adapter. */
	store_open(x, "overwrite", 0, 0, 1);
	store_close(x);
	iodb_options_init(&o);
	o.merkle = 0;
	o.sync = 0;
	o.keep_versions = f.keep;
	if ((rc = iodb_open(x->dir, &o, &db)) != IODB_OK)
		die_rc("open", rc);
	if ((rc = iodb_batch_new(&b)) != IODB_OK)
		die_rc("batch_new", rc);
	load(x, db, b, &vid_n, &f);
	x->nkeys = f.n;
	overwrite(x, db, b, &vid_n, &f);
	settle(x, db, &f);
	iodb_batch_free(b);
	if ((rc = iodb_close(db)) != IODB_OK)
		die_rc("close", rc);
	store_remove(x);
	report(&f);
	free(f.pts);
}

void workloads_overwrite(struct run *x)
{
	/* Only when named: its default run takes more than ten minutes. */
	if (x->ops == &engine_iodb && x->b->nonly && bench_wants(x->b, "overwrite-sustained"))
		overwrite_sustained(x);
}
