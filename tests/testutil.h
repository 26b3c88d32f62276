/*
 * testutil.h — helpers shared by the Check suites: scratch directories, a seeded RNG,
 * assertions on iodb return codes.
 */
#ifndef IODB_TESTUTIL_H
#define IODB_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>

#include "iodb.h"

/* A fresh empty directory under $TMPDIR (or /tmp); the caller frees the string. */
char *tu_tmpdir(const char *tag);
/* rm -rf path (for test cleanup only). */
void tu_rmrf(const char *path);
/* path + "/" + name in a static-free fresh string. */
char *tu_path(const char *dir, const char *name);
/* Size of a file, or -1. */
long long tu_file_size(const char *path);
/* Read/write a whole file (tests that damage files). */
int tu_read_file(const char *path, unsigned char **data, size_t *len);
int tu_write_file(const char *path, const unsigned char *data, size_t len);

/* xorshift64*: deterministic per seed. tu_seed() reads IODB_TEST_SEED or uses the default
 * and prints the seed so a failure can be replayed. */
uint64_t tu_seed(uint64_t dflt);
static inline uint64_t tu_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}
static inline uint32_t tu_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(tu_rand(s) % n);
}

/* Assert an iodb call returned rc, with the error text on failure. */
#define ck_rc(call, want)                                                                  \
	do {                                                                               \
		int got_ = (call);                                                         \
		ck_assert_msg(got_ == (want), "%s returned %d (%s), want %d: %s", #call,   \
			      got_, iodb_strerror(got_), (want), iodb_errmsg());           \
	} while (0)
#define ck_ok(call) ck_rc(call, IODB_OK)

/* The version list as iodb_versions reports it: tu_collect_version is its callback (ctx: a
 * zeroed struct tu_vlist; free .v when done). */
struct tu_vrec {
	char vid[IODB_MAX_VID + 1];
	size_t vidlen;
	char parent[IODB_MAX_VID + 1];
	size_t parentlen;
	int has_parent;
	uint64_t height;
};
struct tu_vlist {
	struct tu_vrec *v;
	size_t n, cap;
};
int tu_collect_version(void *ctx, const void *vid, size_t vidlen, const void *parent,
		       size_t parentlen, uint64_t height);

/* Run a suite; returns the number of failures (main returns it != 0). */
int tu_run(Suite *s);

/* The number `name` in an iodb_stats JSON object: inside the object `section` (sections do
 * not nest), or its first occurrence when section is NULL. 0 and *v, or -1 if absent. */
int tu_json_num(const char *json, const char *section, const char *name, double *v);
/* The same from iodb_stats(db); a figure that is not reported fails the test (it must not
 * pass as 0). */
double tu_stat(iodb *db, const char *section, const char *name);
/* Run files in dir/shards, named as the manifest names them (20 digits and ".run"). */
uint64_t tu_run_files(const char *dir);

#endif
