/*
 * report.c — everything iodb-bench prints or writes.
 *
 *   child:  one line per result as it comes (print_row), a progress bar on long phases when
 *           stdout is a terminal, and the result/sample records sent to the parent;
 *   parent: the summary (ops/s per workload and engine, iodb/peer ratios, p99s, the
 *           iodb-only figures, the Merkle cost), the CSV files and the gnuplot charts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

void result_init(struct result *r, const struct bench *b, const char *workload,
		 const char *unit)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->engine, sizeof(r->engine), "%s", b->engine ? b->engine : "?");
	snprintf(r->workload, sizeof(r->workload), "%s", workload);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
}

static void send_msg(const struct bench *b, const struct msg *m)
{
	const char *p = (const char *)m;
	size_t left = sizeof(*m);

	while (left) {
		ssize_t n = write(b->out_fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("pipe to the parent: %s", strerror(errno));
		p += n;
		left -= (size_t)n;
	}
}

void emit_result(const struct bench *b, struct result *r)
{
	struct msg m = {.type = MSG_RESULT};

	m.u.r = *r;
	print_row(r);
	if (b->out_fd >= 0)
		send_msg(b, &m);
}

void emit_sample(const struct bench *b, const struct sample *s)
{
	struct msg m = {.type = MSG_SAMPLE};

	m.u.s = *s;
	if (b->out_fd >= 0)
		send_msg(b, &m);
}

void print_row_header(void)
{
	printf("%-7s %-17s %11s %9s %9s %9s %8s %7s %7s %6s %6s  %s\n", "engine", "workload",
	       "ops/s", "p50 us", "p99 us", "p99.9 us", "stall ms", "cpu s", "rss MB", "WA",
	       "SA", "settings | note");
	fflush(stdout);
}

static void fmt_amp(char *buf, size_t n, double v)
{
	if (v > 0)
		snprintf(buf, n, "%.2f", v);
	else
		snprintf(buf, n, "-");
}

void print_row(const struct result *r)
{
	char wa[16], sa[16], stall[16];

	fmt_amp(wa, sizeof(wa), r->wamp);
	fmt_amp(sa, sizeof(sa), r->samp);
	if (r->stall_ms > 0)
		snprintf(stall, sizeof(stall), "%.1f", r->stall_ms);
	else
		snprintf(stall, sizeof(stall), "-");
	if (!strcmp(r->unit, "open") || !strcmp(r->unit, "rollback"))
		printf("%-7s %-17s %9.1f ms %9s %9s %9s %8s %7.2f %7.0f %6s %6s  %s | %s\n",
		       r->engine, r->workload, r->secs * 1e3, "", "", "", stall, r->cpu_s,
		       r->rss_mb, wa, sa, r->config, r->note);
	else
		printf("%-7s %-17s %11.0f %9.1f %9.1f %9.1f %8s %7.2f %7.0f %6s %6s  %s | "
		       "latency per %s%s%s\n",
		       r->engine, r->workload, r->ops_s, r->p50_us, r->p99_us, r->p999_us, stall,
		       r->cpu_s, r->rss_mb, wa, sa, r->config, r->unit, *r->note ? "; " : "",
		       r->note);
	fflush(stdout);
}

void progress_start(struct progress *p, const struct bench *b, const char *label,
		    uint64_t total)
{
	p->b = b;
	p->label = label;
	p->total = total;
	p->t0 = p->last = now_ns();
	p->shown = 0;
}

void progress_update(struct progress *p, uint64_t done)
{
	uint64_t t = now_ns();
	int width = 30, fill;
	char bar[64];

	/* Only on a terminal, only for phases longer than a second, 4 times a second. */
	if (!p->b->tty || !p->total || t - p->t0 < 1000000000ull || t - p->last < 250000000ull)
		return;
	p->last = t;
	fill = (int)((double)width * (double)(done > p->total ? p->total : done) /
		     (double)p->total);
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(width - fill));
	bar[width] = 0;
	printf("\r  %-17s [%s] %3.0f%% %6.1f s", p->label, bar,
	       100.0 * (double)done / (double)p->total, (double)(t - p->t0) / 1e9);
	fflush(stdout);
	p->shown = 1;
}

void progress_done(struct progress *p)
{
	if (p->shown) {
		printf("\r\033[K");
		fflush(stdout);
	}
	p->shown = 0;
}

void results_add(struct results *all, const struct msg *m)
{
	if (m->type == MSG_RESULT) {
		if (all->n == all->cap) {
			all->cap = all->cap ? all->cap * 2 : 64;
			all->r = realloc(all->r, all->cap * sizeof(*all->r));
			if (!all->r)
				fail("out of memory");
		}
		all->r[all->n++] = m->u.r;
	} else if (m->type == MSG_SAMPLE) {
		if (all->ns == all->scap) {
			all->scap = all->scap ? all->scap * 2 : 256;
			all->s = realloc(all->s, all->scap * sizeof(*all->s));
			if (!all->s)
				fail("out of memory");
		}
		all->s[all->ns++] = m->u.s;
	}
}

/* The workloads every engine runs, in report order. */
static const char *const common[] = {
	"fillseq", "fillrandom", "overwrite", "readrandom", "readrandom-2t", "seekrandom",
	"readwhilewriting", "fillsync", "blockcommit", "compaction-stress"};
#define NCOMMON (sizeof(common) / sizeof(*common))

static const struct result *find(const struct results *all, const char *engine,
				 const char *workload)
{
	for (size_t i = 0; i < all->n; i++)
		if (!all->r[i].iodb_only && !strcmp(all->r[i].engine, engine) &&
		    !strcmp(all->r[i].workload, workload))
			return &all->r[i];
	return NULL;
}

static void report_common(const struct results *all, const char *const *engines,
			  int nengines);
static void report_merkle_cost(const struct results *all);

void report_summary(const struct results *all, const char *const *engines, int nengines)
{
	int any = 0;

	/* The two tables only when a workload every engine runs was run. */
	for (size_t w = 0; w < NCOMMON; w++)
		for (int e = 0; e < nengines; e++)
			any |= find(all, engines[e], common[w]) != NULL;
	if (any)
		report_common(all, engines, nengines);
	report_merkle_cost(all);
}

static void report_common(const struct results *all, const char *const *engines,
			  int nengines)
{
	int has_iodb = 0;

	for (int e = 0; e < nengines; e++)
		has_iodb |= !strcmp(engines[e], "iodb");
	printf("\n== ops/s (higher is better; readwhilewriting: the reader's gets/s)\n%-18s",
	       "workload");
	for (int e = 0; e < nengines; e++)
		printf(" %12s", engines[e]);
	if (has_iodb)
		for (int e = 0; e < nengines; e++)
			if (strcmp(engines[e], "iodb"))
				printf(" %12s", "iodb/");
	printf("\n%-18s", "");
	for (int e = 0; e < nengines; e++)
		printf(" %12s", "");
	if (has_iodb)
		for (int e = 0; e < nengines; e++)
			if (strcmp(engines[e], "iodb"))
				printf(" %12s", engines[e]);
	printf("\n");
	for (size_t w = 0; w < NCOMMON; w++) {
		const struct result *io = find(all, "iodb", common[w]);
		int any = 0;

		for (int e = 0; e < nengines; e++)
			any |= find(all, engines[e], common[w]) != NULL;
		if (!any)
			continue;
		printf("%-18s", common[w]);
		for (int e = 0; e < nengines; e++) {
			const struct result *r = find(all, engines[e], common[w]);

			r ? printf(" %12.0f", r->ops_s) : printf(" %12s", "-");
		}
		if (has_iodb)
			for (int e = 0; e < nengines; e++) {
				const struct result *r = find(all, engines[e], common[w]);

				if (!strcmp(engines[e], "iodb"))
					continue;
				io &&r &&r->ops_s > 0 ? printf(" %12.2f", io->ops_s / r->ops_s)
						      : printf(" %12s", "-");
			}
		printf("\n");
	}
	printf("\n== p99 latency, us (per get, seek, batch or commit: see the rows above)\n%-18s",
	       "workload");
	for (int e = 0; e < nengines; e++)
		printf(" %12s", engines[e]);
	printf("\n");
	for (size_t w = 0; w < NCOMMON; w++) {
		int any = 0;

		for (int e = 0; e < nengines; e++)
			any |= find(all, engines[e], common[w]) != NULL;
		if (!any)
			continue;
		printf("%-18s", common[w]);
		for (int e = 0; e < nengines; e++) {
			const struct result *r = find(all, engines[e], common[w]);

			r ? printf(" %12.1f", r->p99_us) : printf(" %12s", "-");
		}
		printf("\n");
	}
}

/* What hashing costs: the same timed run with the Merkle layer on and off. */
static void report_merkle_cost(const struct results *all)
{
	for (size_t i = 0; i < all->n; i++) {
		const struct result *on = &all->r[i];
		const char *m = strstr(on->config, "merkle=on");
		char off_cfg[80];

		if (strncmp(on->workload, "iavl-", 5) || !m)
			continue;
		snprintf(off_cfg, sizeof(off_cfg), "%.*smerkle=off%s", (int)(m - on->config),
			 on->config, m + strlen("merkle=on"));
		for (size_t j = 0; j < all->n; j++) {
			const struct result *off = &all->r[j];

			if (strcmp(off->workload, on->workload) || strcmp(off->config, off_cfg))
				continue;
			printf("merkle cost: %-10s %-36s p50 %9.1f us (off %9.1f us), +%.2f us "
			       "per leaf update\n",
			       on->workload, on->config, on->p50_us, off->p50_us,
			       (on->secs - off->secs) / (double)on->ops * 1e6);
			break;
		}
	}
}

static void csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int report_csv(const struct results *all, const char *path)
{
	char spath[1024];
	const char *dot = strrchr(path, '.');
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "engine,workload,config,latency_per,iodb_only,ops,secs,ops_per_s,p50_us,p99_us,"
		   "p999_us,max_us,cpu_s,peak_rss_mb,user_bytes,device_bytes,write_amp,"
		   "disk_bytes,live_bytes,space_amp,max_write_stall_ms,note\n");
	for (size_t i = 0; i < all->n; i++) {
		const struct result *r = &all->r[i];

		fprintf(f, "%s,%s,", r->engine, r->workload);
		csv_str(f, r->config);
		fprintf(f, ",%s,%d,%llu,%.6f,%.1f,%.2f,%.2f,%.2f,%.2f,%.3f,%.1f,%llu,%llu,%.3f,"
			   "%llu,%llu,%.3f,%.3f,",
			r->unit, r->iodb_only, (unsigned long long)r->ops, r->secs, r->ops_s,
			r->p50_us, r->p99_us, r->p999_us, r->max_us, r->cpu_s, r->rss_mb,
			(unsigned long long)r->user_bytes, (unsigned long long)r->dev_bytes, r->wamp,
			(unsigned long long)r->disk_bytes, (unsigned long long)r->live_bytes,
			r->samp, r->stall_ms);
		csv_str(f, r->note);
		fputc('\n', f);
	}
	if (fclose(f) != 0)
		return -1;
	if (!all->ns)
		return 0;
	/* The compaction-stress time series beside it: FILE.csv -> FILE-stress.csv. */
	snprintf(spath, sizeof(spath), "%.*s-stress.csv",
		 (int)(dot && !strchr(dot, '/') ? (size_t)(dot - path) : strlen(path)), path);
	if (!(f = fopen(spath, "w")))
		return -1;
	fprintf(f, "engine,t_s,writes_per_s,reads_per_s,write_amp,rss_mb,disk_mb,max_stall_ms\n");
	for (size_t i = 0; i < all->ns; i++) {
		const struct sample *s = &all->s[i];

		fprintf(f, "%s,%.2f,%.0f,%.0f,%.3f,%.1f,%.1f,%.3f\n", s->engine, s->t, s->writes_s,
			s->reads_s, s->wamp, s->rss_mb, s->disk_mb, s->stall_ms);
	}
	printf("time series: %s\n", spath);
	return fclose(f);
}
