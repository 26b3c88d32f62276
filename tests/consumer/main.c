/*
 * The consumer test's program: built against an installed iodb (find_package or
 * pkg-config), it opens a store in a fresh temporary directory, commits one version, reads
 * the key back, and prints OK. Any failure prints the error and exits 1.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iodb.h>

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int fail(const char *what, int rc)
{
	fprintf(stderr, "consumer: %s: %s (%s)\n", what, iodb_strerror(rc), iodb_errmsg());
	return 1;
}

static int run(const char *dir)
{
	iodb *db = NULL;
	iodb_batch *b = NULL;
	void *val = NULL;
	size_t vlen = 0;
	int rc, bad = 1;

	if (iodb_version() != IODB_VERSION_NUMBER) {
		fprintf(stderr, "consumer: header %d, library %d\n", IODB_VERSION_NUMBER,
			iodb_version());
		return 1;
	}
	if ((rc = iodb_open(dir, NULL, &db)) != IODB_OK) {
		fail("iodb_open", rc);
		goto out;
	}
	if ((rc = iodb_batch_new(&b)) != IODB_OK) {
		fail("iodb_batch_new", rc);
		goto out;
	}
	if ((rc = iodb_batch_put(b, NULL, "key", 3, "value", 5)) != IODB_OK) {
		fail("iodb_batch_put", rc);
		goto out;
	}
	if ((rc = iodb_update(db, "v1", 2, b)) != IODB_OK) {
		fail("iodb_update", rc);
		goto out;
	}
	if ((rc = iodb_get(db, NULL, "key", 3, &val, &vlen)) != IODB_OK) {
		fail("iodb_get", rc);
		goto out;
	}
	if (vlen != 5 || memcmp(val, "value", 5) != 0) {
		fprintf(stderr, "consumer: iodb_get returned %zu bytes, not \"value\"\n", vlen);
		goto out;
	}
	bad = 0;
out:
	iodb_free(val);
	iodb_batch_free(b);
	if ((rc = iodb_close(db)) != IODB_OK && !bad)
		bad = fail("iodb_close", rc);
	return bad;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	int bad;

	snprintf(dir, sizeof dir, "%s/iodb-consumer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("consumer: mkdtemp");
		return 1;
	}
	bad = run(dir);
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (bad)
		return 1;
	printf("OK\n");
	return 0;
}
