/* iodbgo.h — the C half of the Go binding: trampolines for the callbacks and wrappers for
 * the hot calls. Static functions, included by each Go file of the package that uses them. */
#ifndef IODBGO_H
#define IODBGO_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <iodb.h>

// The Go callbacks (exports.go). The context is a runtime/cgo.Handle, never a Go pointer.
extern int iodbGoVersionCB(uintptr_t h, void *vid, size_t vidlen, void *parent,
			   size_t parentlen, uint64_t height);
extern int iodbGoStoreCB(uintptr_t h, char *name, void *root);
extern int iodbGoChunkCB(uintptr_t h, void *chunk, size_t len);
extern int iodbGoNextCB(uintptr_t h, void **chunk, size_t *len);

static int iodbgo_version_tramp(void *ctx, const void *vid, size_t vidlen, const void *parent,
				size_t parentlen, uint64_t height)
{
	return iodbGoVersionCB((uintptr_t)ctx, (void *)vid, vidlen, (void *)parent, parentlen,
			       height);
}
static int iodbgo_store_tramp(void *ctx, const char *name, const uint8_t root[32])
{
	return iodbGoStoreCB((uintptr_t)ctx, (char *)name, (void *)root);
}
static int iodbgo_chunk_tramp(void *ctx, const void *chunk, size_t len)
{
	return iodbGoChunkCB((uintptr_t)ctx, (void *)chunk, len);
}
static int iodbgo_next_tramp(void *ctx, const void **chunk, size_t *len)
{
	return iodbGoNextCB((uintptr_t)ctx, (void **)chunk, len);
}

static int iodbgo_versions(iodb *db, uintptr_t h)
{
	return iodb_versions(db, iodbgo_version_tramp, (void *)h);
}
static int iodbgo_stores(iodb *db, const void *vid, size_t vidlen, uintptr_t h)
{
	return iodb_stores(db, vid, vidlen, iodbgo_store_tramp, (void *)h);
}
static int iodbgo_snapshot_stores(iodb_snapshot *s, uintptr_t h)
{
	return iodb_snapshot_stores(s, iodbgo_store_tramp, (void *)h);
}
static int iodbgo_export(iodb *db, const void *vid, size_t vidlen, uintptr_t h)
{
	return iodb_export(db, vid, vidlen, iodbgo_chunk_tramp, (void *)h);
}
static int iodbgo_import(const char *dir, const iodb_options *o, const uint8_t *hash, uintptr_t h)
{
	return iodb_import(dir, o, hash, iodbgo_next_tramp, (void *)h);
}

// The hot calls return their results in a struct (no Go pointer is passed for an
// out-parameter, so nothing escapes to the heap) and copy iodb_errmsg() on failure in the
// same C call: the message is thread-local, and a goroutine may change threads between two
// cgo calls.
static char *iodbgo_msg(int rc)
{
	const char *m;

	if (rc == 0)
		return NULL;
	m = iodb_errmsg();
	return (m && *m) ? strdup(m) : NULL;
}

typedef struct {
	int rc;
	char *msg;
	void *val;
	size_t vlen;
} iodbgo_val;

static iodbgo_val iodbgo_get(iodb *db, iodb_snapshot *s, const char *store, const void *key,
			     size_t klen)
{
	iodbgo_val r = {0, NULL, NULL, 0};

	r.rc = s ? iodb_snapshot_get(s, store, key, klen, &r.val, &r.vlen)
		 : iodb_get(db, store, key, klen, &r.val, &r.vlen);
	if (r.rc != IODB_NOTFOUND)
		r.msg = iodbgo_msg(r.rc);
	return r;
}

// iodbgo_get, then a value that fits copied into buf (Go memory, for this call only) and
// freed here: one cgo call per read instead of two (val is then NULL).
static iodbgo_val iodbgo_get_into(iodb *db, iodb_snapshot *s, const char *store,
				  const void *key, size_t klen, void *buf, size_t cap)
{
	iodbgo_val r = iodbgo_get(db, s, store, key, klen);

	if (r.rc == 0 && r.vlen <= cap) {
		if (r.vlen)
			memcpy(buf, r.val, r.vlen);
		iodb_free(r.val);
		r.val = NULL;
	}
	return r;
}

typedef struct {
	int rc;
	char *msg;
} iodbgo_rc;

static iodbgo_rc iodbgo_batch_op(iodb_batch *b, int del, const char *store, const void *key,
				 size_t klen, const void *val, size_t vlen)
{
	iodbgo_rc r;

	r.rc = del ? iodb_batch_del(b, store, key, klen)
		   : iodb_batch_put(b, store, key, klen, val, vlen);
	r.msg = iodbgo_msg(r.rc);
	return r;
}

static iodbgo_rc iodbgo_update(iodb *db, const void *vid, size_t vidlen, const iodb_batch *b)
{
	iodbgo_rc r;

	r.rc = iodb_update(db, vid, vidlen, b);
	r.msg = iodbgo_msg(r.rc);
	return r;
}

// Iterator moves: 0 first, 1 last, 2 seek, 3 next, 4 prev; on an entry, its key and value.
typedef struct {
	int rc;
	char *msg;
	const void *k;
	size_t klen;
	const void *v;
	size_t vlen;
} iodbgo_pos;

static iodbgo_pos iodbgo_move(iodb_iter *it, int op, const void *key, size_t klen)
{
	iodbgo_pos p = {0, NULL, NULL, 0, NULL, 0};

	switch (op) {
	case 0: p.rc = iodb_iter_first(it); break;
	case 1: p.rc = iodb_iter_last(it); break;
	case 2: p.rc = iodb_iter_seek(it, key, klen); break;
	case 3: p.rc = iodb_iter_next(it); break;
	default: p.rc = iodb_iter_prev(it); break;
	}
	if (p.rc == 0) {
		p.rc = iodb_iter_key(it, &p.k, &p.klen);
		if (p.rc == 0)
			p.rc = iodb_iter_value(it, &p.v, &p.vlen);
	}
	if (p.rc != IODB_NOTFOUND)
		p.msg = iodbgo_msg(p.rc);
	return p;
}

// A C array of C strings for an options field; every entry and the array are freed by
// iodbgo_strv_free.
static char **iodbgo_strv_new(size_t n) { return calloc(n ? n : 1, sizeof(char *)); }
static void iodbgo_strv_set(char **v, size_t i, char *s) { v[i] = s; }
static void iodbgo_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

#endif
