/*
 * testutil.c — see testutil.h.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *p;

	if (!base || !*base)
		base = "/tmp";
	if (asprintf(&p, "%s/iodb-%s-XXXXXX", base, tag) < 0 || !mkdtemp(p)) {
		perror("mkdtemp");
		abort();
	}
	return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tu_rmrf(const char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *tu_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

long long tu_file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int tu_read_file(const char *path, unsigned char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*data = malloc(n ? (size_t)n : 1);
	*len = fread(*data, 1, (size_t)n, f);
	fclose(f);
	return *len == (size_t)n ? 0 : -1;
}

int tu_write_file(const char *path, const unsigned char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc;

	if (!f)
		return -1;
	rc = fwrite(data, 1, len, f) == len ? 0 : -1;
	return fclose(f) == 0 ? rc : -1;
}

uint64_t tu_seed(uint64_t dflt)
{
	const char *e = getenv("IODB_TEST_SEED");
	uint64_t s = e && *e ? strtoull(e, NULL, 0) : dflt;

	fprintf(stderr, "seed %llu (set IODB_TEST_SEED to replay)\n", (unsigned long long)s);
	return s ? s : 1;
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

int tu_collect_version(void *ctx, const void *vid, size_t vidlen, const void *parent,
		       size_t parentlen, uint64_t height)
{
	struct tu_vlist *l = ctx;
	struct tu_vrec *r;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	r = &l->v[l->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->vid, vid, vidlen);
	r->vidlen = vidlen;
	r->has_parent = parent != NULL;
	if (parent)
		memcpy(r->parent, parent, parentlen);
	r->parentlen = parentlen;
	r->height = height;
	return 0;
}

int tu_json_num(const char *json, const char *section, const char *name, double *v)
{
	const char *from = json, *to = json + strlen(json), *p;
	char pat[96];

	if (section) {
		snprintf(pat, sizeof(pat), "\"%s\": {", section);
		if (!(from = strstr(json, pat)) || !(to = strchr(from, '}')))
			return -1;
	}
	snprintf(pat, sizeof(pat), "\"%s\": ", name);
	if (!(p = strstr(from, pat)) || p >= to)
		return -1;
	*v = strtod(p + strlen(pat), NULL);
	return 0;
}

double tu_stat(iodb *db, const char *section, const char *name)
{
	char *json;
	double v = 0;
	int rc;

	ck_assert_int_eq(iodb_stats(db, &json), 0);
	rc = tu_json_num(json, section, name, &v);
	ck_assert_msg(rc == 0, "stats have no %s.%s: %s", section ? section : "", name, json);
	iodb_free(json);
	return v;
}

uint64_t tu_run_files(const char *dir)
{
	char *sd = tu_path(dir, "shards");
	DIR *d = opendir(sd);
	struct dirent *e;
	uint64_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		size_t i;

		if (strlen(e->d_name) != 24 || strcmp(e->d_name + 20, ".run") != 0)
			continue;
		for (i = 0; i < 20 && e->d_name[i] >= '0' && e->d_name[i] <= '9'; i++)
			;
		n += i == 20;
	}
	closedir(d);
	free(sd);
	return n;
}
