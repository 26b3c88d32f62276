/*
 * charts.c — gnuplot charts, each as PNG and SVG, when gnuplot is on the PATH:
 *
 *   throughput   ops/s per workload, one bar per engine (log scale)
 *   latency      p50, p99 and p99.9 per workload and engine (log scale, three panels)
 *   stress       compaction-stress over time per engine: writes/s, cumulative write
 *                amplification, the longest write stall of each second, resident memory
 *
 * The data files and the script stay in DIR beside the pictures, so a chart can be
 * redrawn or restyled by hand (gnuplot DIR/charts.gp).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static const char *const chart_workloads[] = {
	"fillseq", "fillrandom", "overwrite", "readrandom", "readrandom-2t", "seekrandom",
	"readwhilewriting", "fillsync", "blockcommit", "compaction-stress"};
#define NCW (sizeof(chart_workloads) / sizeof(*chart_workloads))

static const struct result *lookup(const struct results *all, const char *engine,
				   const char *workload)
{
	for (size_t i = 0; i < all->n; i++)
		if (!all->r[i].iodb_only && !strcmp(all->r[i].engine, engine) &&
		    !strcmp(all->r[i].workload, workload))
			return &all->r[i];
	return NULL;
}

/* One data file: a row per workload, a column per engine; '?' where none. */
static int write_table(const struct results *all, const char *path, const char *const *engines,
		       int nengines, int field)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "# workload");
	for (int e = 0; e < nengines; e++)
		fprintf(f, " %s", engines[e]);
	fputc('\n', f);
	for (size_t w = 0; w < NCW; w++) {
		fprintf(f, "%s", chart_workloads[w]);
		for (int e = 0; e < nengines; e++) {
			const struct result *r = lookup(all, engines[e], chart_workloads[w]);
			double v = !r ? 0 : field == 0 ? r->ops_s : field == 1 ? r->p50_us
				   : field == 2 ? r->p99_us : r->p999_us;

			v > 0 ? fprintf(f, " %g", v) : fprintf(f, " ?");
		}
		fputc('\n', f);
	}
	return fclose(f);
}

static void bars(FILE *f, const char *data, int nengines, const char *const *engines)
{
	fprintf(f, "set xrange [-0.6:%.1f]\nplot ", (double)NCW - 0.4);
	for (int e = 0; e < nengines; e++)
		fprintf(f, "%s'%s' using %d%s title '%s'", e ? ", " : "", data, e + 2,
			e ? "" : ":xtic(1)", engines[e]);
	fprintf(f, "\n");
}

static void body_throughput(FILE *f, const char *dir, const char *const *engines, int n)
{
	char data[1024];

	snprintf(data, sizeof(data), "%s/throughput.dat", dir);
	fprintf(f, "set title 'iodb-bench: throughput (ops/s, log scale; higher is better)'\n"
		   "set ylabel 'ops/s'\nset logscale y\nset yrange [1:*]\n");
	bars(f, data, n, engines);
}

static void body_latency(FILE *f, const char *dir, const char *const *engines, int n)
{
	static const char *const names[] = {"p50", "p99", "p99.9"};
	char data[1024];

	fprintf(f, "set multiplot layout 3,1 title 'iodb-bench: latency per call (us, log "
		   "scale; lower is better)'\nset logscale y\nset yrange [0.1:*]\n");
	for (int p = 0; p < 3; p++) {
		snprintf(data, sizeof(data), "%s/latency-%s.dat", dir, names[p]);
		fprintf(f, "set title '%s'\nset ylabel 'us'\n", names[p]);
		bars(f, data, n, engines);
	}
	fprintf(f, "unset multiplot\n");
}

static void body_stress(FILE *f, const char *dir, const char *const *engines, int n)
{
	static const char *const panels[][3] = {
		{"writes/s (ops)", "3", "writes per second"},
		{"write amplification", "5", "cumulative device bytes / user bytes"},
		{"longest write stall (ms)", "8", "slowest write call of each second"},
		{"RSS (MB)", "6", "resident memory"}};

	fprintf(f, "set multiplot layout 4,1 title 'iodb-bench: compaction-stress over time'\n"
		   "set datafile separator ','\nset key outside right\nunset logscale\n"
		   "set style data lines\nset xlabel 'seconds'\nset xtics norotate\n");
	for (int p = 0; p < 4; p++) {
		fprintf(f, "set title '%s'\nset ylabel '%s'\nset yrange [0:*]\nplot ", panels[p][2],
			panels[p][0]);
		for (int e = 0; e < n; e++)
			fprintf(f, "%s'%s/stress.csv' using (strcol(1) eq '%s' ? $2 : 1/0):%s with lines "
				   "lw 2 title '%s'",
				e ? ", " : "", dir, engines[e], panels[p][1], engines[e]);
		fprintf(f, "\n");
	}
	fprintf(f, "unset multiplot\nset datafile separator whitespace\n");
}

static void chart(FILE *f, const char *dir, const char *name, int w, int h,
		  void (*body)(FILE *, const char *, const char *const *, int),
		  const char *const *engines, int n)
{
	static const char *const terms[][2] = {{"pngcairo noenhanced font 'sans,10'", "png"},
						{"svg noenhanced dynamic font 'sans,10'", "svg"}};

	for (int t = 0; t < 2; t++) {
		fprintf(f, "reset\nset terminal %s size %d,%d\nset output '%s/%s.%s'\n", terms[t][0],
			w, h, dir, name, terms[t][1]);
		fprintf(f, "set style data histograms\nset style histogram clustered gap 1\n"
			   "set style fill solid 0.8 border -1\nset datafile missing '?'\n"
			   "set key outside right top\nset grid ytics\nset xtics rotate by -30\n");
		body(f, dir, engines, n);
		fprintf(f, "set output\n");
	}
}

int report_charts(const struct results *all, const char *dir, const char *const *engines,
		  int nengines)
{
	static const char *const files[] = {"throughput.dat", "latency-p50.dat",
					    "latency-p99.dat", "latency-p99.9.dat"};
	char path[1024], cmd[1200];
	FILE *f;
	int rc;

	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		printf("charts: gnuplot not found; no charts drawn (apt-get install gnuplot-nox)\n");
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", dir);
	if (system(cmd) != 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (write_table(all, path, engines, nengines, i) != 0)
			return -1;
	}
	snprintf(path, sizeof(path), "%s/stress.csv", dir);
	if (!(f = fopen(path, "w")))
		return -1;
	for (size_t i = 0; i < all->ns; i++)
		fprintf(f, "%s,%.2f,%.0f,%.0f,%.3f,%.1f,%.1f,%.3f\n", all->s[i].engine, all->s[i].t,
			all->s[i].writes_s, all->s[i].reads_s, all->s[i].wamp, all->s[i].rss_mb,
			all->s[i].disk_mb, all->s[i].stall_ms);
	fclose(f);
	snprintf(path, sizeof(path), "%s/charts.gp", dir);
	if (!(f = fopen(path, "w")))
		return -1;
	chart(f, dir, "throughput", 1200, 600, body_throughput, engines, nengines);
	chart(f, dir, "latency", 1200, 1200, body_latency, engines, nengines);
	if (all->ns)
		chart(f, dir, "stress", 1200, 1400, body_stress, engines, nengines);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "gnuplot '%s' 2>'%s/gnuplot.log'", path, dir);
	rc = system(cmd);
	if (rc != 0) {
		printf("charts: gnuplot failed, see %s/gnuplot.log\n", dir);
		return -1;
	}
	printf("charts: %s/{throughput,latency%s}.{png,svg}\n", dir, all->ns ? ",stress" : "");
	return 0;
}
