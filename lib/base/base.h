/*
 * base.h — the face of lib/base: errors, memory, byte encoding, checksums and the env layer
 * through which every file operation of the engine goes.
 *
 * Nothing in here knows about versions, journals or shards; everything above may use it.
 */
#ifndef IODB_BASE_H
#define IODB_BASE_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iodb.h"

/* ---- Errors --------------------------------------------------------------------------- */

/* Record the calling thread's failure detail and return rc. */
int err_set(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Corruption at path+offset, noted with the source line that found it. */
int err_corrupt_at(const char *src, int line, const char *path, uint64_t off, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));
#define ERR_CORRUPT(path, off, ...) err_corrupt_at(__FILE__, __LINE__, (path), (off), __VA_ARGS__)
/* An OS call failed with errno e on path (offset off, or UINT64_MAX for none). */
int err_os(int e, const char *op, const char *path, uint64_t off);
void err_clear(void);
/* A caller's callback returned value (non-zero): IODB_ECANCELED, the message naming the
 * public function fn and the value (the callback rule of include/iodb.h's conventions). */
int err_canceled(const char *fn, int value);
/*
 * The calling thread's message kept across a public call that handles failures inside it
 * (a snapshot that cannot be used, a missing thread, an iterator's end): err_keep at its
 * start, err_kept(rc) at its end puts the message back when rc is 0, so that a call that
 * succeeds leaves iodb_errmsg() as it found it. Returns rc.
 */
struct err_saved {
	char msg[1024];
};
void err_keep(struct err_saved *s);
int err_kept(const struct err_saved *s, int rc);

/* Keep-the-first-error helpers (WiredTiger's WT_RET / WT_ERR / WT_TRET). */
#define RET(x)                                                                         \
	do {                                                                           \
		int r_ = (x);                                                          \
		if (r_ != 0)                                                           \
			return r_;                                                     \
	} while (0)
#define ERR(x)                                                                         \
	do {                                                                           \
		if ((rc = (x)) != 0)                                                   \
			goto err;                                                      \
	} while (0)
#define TRET(x)                                                                        \
	do {                                                                           \
		int r_ = (x);                                                          \
		if (r_ != 0 && rc == 0)                                                \
			rc = r_;                                                       \
	} while (0)

/* ---- Memory --------------------------------------------------------------------------- */

/*
 * The engine's memory comes from one jemalloc arena of its own (when built with jemalloc),
 * so it is accounted for apart from the embedding program's. All of these accept size 0.
 */
void *mem_alloc(size_t n);
void *mem_calloc(size_t n, size_t size);
void *mem_realloc(void *p, size_t n);
void mem_free(void *p);
void *mem_dup(const void *p, size_t n);
/* Bytes the engine's arena has allocated (0 without jemalloc). */
uint64_t mem_arena_allocated(void);

/* ---- Encoding ------------------------------------------------------------------------- */

static inline void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Keys compare as unsigned bytes, the shorter first on a common prefix. */
static inline int key_cmp(const uint8_t *k1, size_t l1, const uint8_t *k2, size_t l2)
{
	size_t l = l1 < l2 ? l1 : l2;
	int c = l ? memcmp(k1, k2, l) : 0;

	if (c)
		return c;
	return l1 < l2 ? -1 : l1 > l2;
}

#define UVARINT_MAX 10
/* LEB128; returns bytes written. */
size_t put_uvarint(uint8_t *p, uint64_t v);
/* Bytes put_uvarint writes for v. */
size_t uvarint_len(uint64_t v);
/* Go's binary.PutVarint: zigzag then LEB128. */
size_t put_varint(uint8_t *p, int64_t v);

/* A growable byte buffer. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};
void buf_init(struct buf *b);
void buf_free(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_uvarint(struct buf *b, uint64_t v);

/*
 * A bounded reader over bytes that came from disk or from a caller: every rd_* returns 0 or
 * -1 when the bytes run out or do not decode; the reader never reads past `end`.
 */
struct rd {
	const uint8_t *p, *end;
};
static inline void rd_init(struct rd *r, const void *p, size_t n)
{
	r->p = p;
	r->end = r->p + n;
}
static inline size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}
int rd_u8(struct rd *r, uint8_t *v);
int rd_u32(struct rd *r, uint32_t *v);
int rd_u64(struct rd *r, uint64_t *v);
int rd_uvarint(struct rd *r, uint64_t *v);
/* Borrow n bytes. */
int rd_bytes(struct rd *r, size_t n, const uint8_t **p);

/* CRC-32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2. */
uint32_t crc32c_extend(uint32_t crc, const void *p, size_t n);
static inline uint32_t crc32c(const void *p, size_t n)
{
	return crc32c_extend(0, p, n);
}
/* A stored CRC is masked so that a CRC of bytes holding CRCs stays well distributed. */
static inline uint32_t crc_mask(uint32_t c)
{
	return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- Worker threads ------------------------------------------------------------------- */

/*
 * A thread that runs one task at a time for its owner: the owner hands it a function and
 * goes on with its own work, then waits for it. Used to run memtable inserts beside the
 * Merkle build and to free old Merkle nodes off the commit path.
 */
struct worker {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*fn)(void *arg);
	void *arg;
	int busy, stop, up;
};
/* 0, or IODB_ENOMEM/IODB_EIO if no thread could be made (then tasks run inline). */
int worker_init(struct worker *w);
/* Wait for the previous task, then start fn(arg) on the worker. */
void worker_run(struct worker *w, void (*fn)(void *arg), void *arg);
/* Start fn(arg) on the worker if it is idle: 1 if started, 0 if it is busy (or absent). */
int worker_try_run(struct worker *w, void (*fn)(void *arg), void *arg);
/* 1 while a task runs. */
int worker_busy(struct worker *w);
/* Wait until the worker is idle. */
void worker_wait(struct worker *w);
/* Wait, then stop the thread. */
void worker_destroy(struct worker *w);

/* ---- Env: all file I/O ---------------------------------------------------------------- */

/*
 * The env layer is the only code that calls the OS for files. Tests use it to fail the Nth
 * write, fsync or rename, and to simulate a power cut that loses every byte not yet made
 * durable (by fdatasync for file contents, by a directory fsync for creates and renames).
 * An env is shared by all threads of a store; it is thread-safe.
 */
struct env;
struct env_file;
struct env_lock;

enum env_op { ENV_OP_WRITE, ENV_OP_SYNC, ENV_OP_RENAME, ENV_OP_COUNT };

int env_new(struct env **e);
void env_free(struct env *e);
/* Fail the nth call (1 = the next one) of op with EIO; 0 disables. */
void env_fail_nth(struct env *e, enum env_op op, uint64_t n);
/* A full disk from the nth write on (0: space freed): every append then fails with ENOSPC,
 * reported as IODB_EIO with the OS's "No space left on device". */
void env_full_from(struct env *e, uint64_t n);
/* Calls of op made so far. */
uint64_t env_op_count(struct env *e, enum env_op op);
uint64_t env_bytes_read(struct env *e);
uint64_t env_bytes_written(struct env *e);
/*
 * Simulate a power cut now: every file written through this env loses the bytes after its
 * last fdatasync (when `garbage` is set, a few random bytes stand in for them, as a torn
 * write would leave), and creates and renames not followed by a directory fsync are undone.
 * Every later write-side call through the env (write, fsync, truncate, rename, unlink,
 * mkdir, open to write) fails with EIO; reads still work, so a test can look at the result.
 */
void env_crash(struct env *e, int garbage, uint64_t seed);

int env_open_append(struct env *e, const char *path, struct env_file **f);
int env_open_read(struct env *e, const char *path, struct env_file **f);
int env_file_append(struct env_file *f, const void *p, size_t n);
/* Read up to n bytes at off into p; *got says how many (short only at end of file). */
int env_file_read(struct env_file *f, uint64_t off, void *p, size_t n, size_t *got);
int env_file_sync(struct env_file *f);
/* Start writing [off, off+len) back to the disk without waiting (sync_file_range): advisory,
 * it makes nothing durable, so a later env_file_sync has less to wait for. Never fails. */
void env_file_writeback(struct env_file *f, uint64_t off, uint64_t len);
int env_file_truncate(struct env_file *f, uint64_t size);
uint64_t env_file_size(const struct env_file *f);
const char *env_file_path(const struct env_file *f);
void env_file_close(struct env_file *f);

int env_rename(struct env *e, const char *from, const char *to);
int env_unlink(struct env *e, const char *path);
/* 0 if created or already a directory. */
int env_mkdir(struct env *e, const char *path);
int env_sync_dir(struct env *e, const char *dir);
/* Remove everything under dir, and dir itself with self set. */
int env_remove_tree(struct env *e, const char *dir, int self);
/* Remove dir and the files in it (no subdirectories). */
int env_remove_dir(struct env *e, const char *dir);
/* Map a file opened for reading, read-only and shared, its whole size (*p NULL when empty);
 * env_unmap with that size releases it (the file may be closed meanwhile). */
int env_file_map(struct env_file *f, const void **p);
void env_unmap(const void *p, uint64_t size);
/* Access pattern hint for a mapping: sequential (a checksum pass) or random (lookups). */
void env_advise(const void *p, uint64_t size, int sequential);
/* 1 if path exists, 0 if not. */
int env_exists(struct env *e, const char *path);
/* Calls fn for each entry of dir (not . or ..); fn's non-zero return stops and is returned. */
int env_list_dir(struct env *e, const char *dir, int (*fn)(void *ctx, const char *name),
		 void *ctx);
/* Exclusive lock on path (created if missing): IODB_EBUSY when held elsewhere, including by
 * another handle in this process; the message says whether a writer or read-only handles
 * hold it. */
int env_lock(struct env *e, const char *path, struct env_lock **l);
/* Shared lock on path, opened for reading only (never created): any number of shared holders
 * at once, IODB_EBUSY while an exclusive one holds it, IODB_NOTFOUND if path is missing. */
int env_lock_shared(struct env *e, const char *path, struct env_lock **l);
void env_unlock(struct env_lock *l);

/*
 * A read-only guard over base (a read-only store handle's env): reads, maps, listings and
 * shared locks go to base (its counters and injected faults apply); every write-type call —
 * open to write, write, fsync, truncate, rename, unlink, mkdir, directory fsync, removal,
 * exclusive lock — is refused with IODB_EIO, "internal error: ... through a read-only
 * handle" naming the file, and counted (env_refused), so that a write path read-only mode
 * missed fails a test instead of writing. env_free(guard) leaves base alone.
 */
int env_new_read_only(struct env *base, struct env **guard);
/* Write-type calls a guard refused so far (0 for an env that is not a guard). */
uint64_t env_refused(struct env *e);
/* A guard's base; e itself for an env that is not a guard. */
struct env *env_unguarded(struct env *e);

/* path = dir + "/" + name, in a fresh allocation (NULL on ENOMEM). */
char *path_join(const char *dir, const char *name);

#endif /* IODB_BASE_H */
