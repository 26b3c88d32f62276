/*
 * runner.c — the generator's plumbing: batches, the live-key set, store directories, timed
 * writes and result rows. The workloads themselves are in workloads*.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workloads.h"

void wbuf_init(struct wbuf *w, size_t cap, const uint8_t *pool)
{
	memset(w, 0, sizeof(*w));
	w->ops = calloc(cap, sizeof(*w->ops));
	w->keys = malloc(cap * KEY_LEN);
	w->js = malloc(cap * sizeof(*w->js));
	if (!w->ops || !w->keys || !w->js)
		fail("out of memory");
	w->cap = cap;
	w->pool = pool;
}

void wbuf_free(struct wbuf *w)
{
	free(w->ops);
	free(w->keys);
	free(w->js);
}

void wbuf_clear(struct wbuf *w)
{
	w->n = 0;
	w->user_bytes = 0;
}

void wbuf_put(struct wbuf *w, uint64_t j, uint64_t seed, struct rng *r, size_t vlen)
{
	uint8_t *k = w->keys + w->n * KEY_LEN;

	key_make(k, j, seed);
	w->ops[w->n] = (struct bop){k, w->pool + rng_below(r, VPOOL_BYTES - vlen), KEY_LEN,
				    (uint32_t)vlen, 0};
	w->js[w->n++] = j;
	w->user_bytes += KEY_LEN + vlen;
}

void wbuf_del(struct wbuf *w, uint64_t j, uint64_t seed)
{
	uint8_t *k = w->keys + w->n * KEY_LEN;

	key_make(k, j, seed);
	w->ops[w->n] = (struct bop){k, NULL, KEY_LEN, 0, 1};
	w->js[w->n++] = j;
	w->user_bytes += KEY_LEN;
}

void liveset_init(struct liveset *s, uint64_t n)
{
	s->bits = calloc(n / 64 + 1, sizeof(uint64_t));
	if (!s->bits)
		fail("out of memory");
	s->n = n;
	s->live = 0;
}

void liveset_free(struct liveset *s)
{
	free(s->bits);
}

void liveset_apply(struct liveset *s, const struct wbuf *w)
{
	for (size_t i = 0; i < w->n; i++) {
		uint64_t j = w->js[i], m = 1ull << (j % 64), *word = &s->bits[j / 64];

		if (j >= s->n)
			continue;
		if (w->ops[i].del && (*word & m)) {
			*word &= ~m;
			s->live--;
		} else if (!w->ops[i].del && !(*word & m)) {
			*word |= m;
			s->live++;
		}
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static void mkdir_p(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			mkdir(tmp, 0755);
			*p = '/';
		}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		fail("mkdir %s: %s", tmp, strerror(errno));
}

void store_open(struct run *x, const char *name, int sync, int merkle, int fresh)
{
	struct engine_cfg cfg = {sync, x->b->cache_mb, merkle, fresh};
	char parent[256];

	if ((size_t)snprintf(parent, sizeof(parent), "%s/%s", x->b->dir, x->label) >=
	    sizeof(parent))
		fail("--dir too long");
	snprintf(x->dir, sizeof(x->dir), "%s/%s", parent, name);
	if (fresh)
		rm_rf(x->dir);
	mkdir_p(parent);
	if (x->ops->open(x->dir, &cfg, &x->e) != 0)
		fail("%s: cannot open %s", x->label, x->dir);
	x->sync = sync;
	x->merkle = merkle;
}

void store_close(struct run *x)
{
	if (x->e)
		x->ops->close(x->e);
	x->e = NULL;
}

void store_remove(struct run *x)
{
	store_close(x);
	rm_rf(x->dir);
}

uint64_t stream_of(const char *workload)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (const char *p = workload; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return h;
}

void write_timed(struct run *x, const struct wbuf *w, struct hist *h)
{
	uint64_t t = now_ns();

	if (x->ops->write(x->e, w->ops, w->n) != 0)
		fail("%s: write failed", x->label);
	hist_add(h, now_ns() - t);
}

void run_result(const struct run *x, struct result *r, const char *workload, const char *unit,
		const char *fmt, ...)
{
	size_t n;
	va_list ap;

	result_init(r, x->b, workload, unit);
	snprintf(r->engine, sizeof(r->engine), "%s", x->label);
	n = (size_t)snprintf(r->config, sizeof(r->config), "sync=%d%s", x->sync,
			     x->ops == &engine_iodb ? (x->merkle ? " merkle=on" : " merkle=off")
						    : "");
	if (fmt && *fmt && n + 1 < sizeof(r->config)) {
		r->config[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(r->config + n, sizeof(r->config) - n, fmt, ap);
		va_end(ap);
	}
}
