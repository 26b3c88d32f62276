/*
 * env.c — every file operation of the engine, and the fault injection tests rely on.
 *
 * The real work is plain POSIX: append-only writes, pread, fdatasync, rename, directory
 * fsync and flock. Around it the env keeps just enough bookkeeping to play a power cut:
 *
 *   - for every file it has written: the size and the size at the last fdatasync;
 *   - every create and rename since the last fsync of the directory holding it.
 *
 * env_crash() then truncates each file to its synced size (optionally leaving a few bytes
 * of garbage, as a torn write does), undoes the unsynced creates and renames, and makes
 * every later call fail with EIO. env_fail_nth() fails one chosen write, fsync or rename;
 * env_full_from() plays a full disk: from the Nth write on, every append fails with ENOSPC
 * (the OS's own text: "No space left on device") until the test frees space.
 *
 * A read-only guard (env_new_read_only) is a second env in front of a real one: it hands
 * every read to the real env (a file opened through it belongs to the real env, flagged
 * `guarded`) and refuses every write-type call itself, naming the file. Read-only store
 * handles use one, so a write path read-only mode missed shows up as a failure.
 *
 * Locking: one mutex guards the bookkeeping lists; counters are atomics. File handles are
 * used by one thread at a time (the journal's writer), but the env is shared.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/base.h"

struct tracked {
	char *path;
	uint64_t size, synced;
	struct tracked *next;
};

enum { PEND_CREATE, PEND_RENAME };

struct pending {
	int kind;
	char *a, *b; /* CREATE: a; RENAME: a -> b */
	struct pending *next;
};

struct env {
	pthread_mutex_t mu;
	_Atomic uint64_t count[ENV_OP_COUNT];
	_Atomic uint64_t fail_at[ENV_OP_COUNT];
	_Atomic uint64_t full_at; /* appends fail with ENOSPC from this write count on; 0 never */
	_Atomic uint64_t bytes_read, bytes_written;
	atomic_int crashed;
	struct tracked *files;
	struct pending *pend; /* newest first */
	struct env *base;     /* a read-only guard's real env; NULL for a real env */
	_Atomic uint64_t refused; /* a guard's refused write-type calls */
};

struct env_file {
	struct env *e;
	int fd;
	char *path;
	uint64_t size;
	struct tracked *trk; /* for files opened to write */
	struct env *guard;   /* opened through a read-only guard: never written */
};

struct env_lock {
	int fd;
};

char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = mem_alloc(a + b + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

static char *str_dup(const char *s)
{
	return mem_dup(s, strlen(s) + 1);
}

/* Does path lie directly in dir? */
static int in_dir(const char *path, const char *dir)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 1;

	if (!slash)
		return strcmp(dir, ".") == 0;
	return strlen(dir) == n && memcmp(path, dir, n) == 0;
}

/* The env that does the work: a guard's base, else e itself. */
static struct env *env_real(struct env *e)
{
	return e->base ? e->base : e;
}

/* A guard refusing a write-type call. */
static int env_refuse(struct env *guard, const char *op, const char *path)
{
	guard->refused++;
	return err_set(IODB_EIO, "internal error: %s %s through a read-only handle (read-only "
				 "mode writes nothing; this call should not have been made)",
		       op, path);
}

int env_new_read_only(struct env *base, struct env **ep)
{
	struct env *e = mem_calloc(1, sizeof(*e));

	if (!e)
		return err_set(IODB_ENOMEM, "out of memory creating env");
	e->base = env_real(base);
	*ep = e;
	return 0;
}

uint64_t env_refused(struct env *e)
{
	return e->refused;
}

struct env *env_unguarded(struct env *e)
{
	return env_real(e);
}

int env_new(struct env **ep)
{
	struct env *e = mem_calloc(1, sizeof(*e));

	if (!e)
		return err_set(IODB_ENOMEM, "out of memory creating env");
	pthread_mutex_init(&e->mu, NULL);
	*ep = e;
	return 0;
}

void env_free(struct env *e)
{
	if (!e)
		return;
	if (e->base) { /* a guard owns nothing of its base's */
		mem_free(e);
		return;
	}
	while (e->files) {
		struct tracked *t = e->files;

		e->files = t->next;
		mem_free(t->path);
		mem_free(t);
	}
	while (e->pend) {
		struct pending *p = e->pend;

		e->pend = p->next;
		mem_free(p->a);
		mem_free(p->b);
		mem_free(p);
	}
	pthread_mutex_destroy(&e->mu);
	mem_free(e);
}

void env_fail_nth(struct env *e, enum env_op op, uint64_t n)
{
	e = env_real(e);
	e->fail_at[op] = n ? e->count[op] + n : 0;
}

void env_full_from(struct env *e, uint64_t n)
{
	e = env_real(e);
	e->full_at = n ? e->count[ENV_OP_WRITE] + n : 0;
}

uint64_t env_op_count(struct env *e, enum env_op op)
{
	return env_real(e)->count[op];
}

uint64_t env_bytes_read(struct env *e)
{
	return env_real(e)->bytes_read;
}

uint64_t env_bytes_written(struct env *e)
{
	return env_real(e)->bytes_written;
}

/* Count a call of op; non-zero if it must fail (injected fault or after a crash). */
static int env_should_fail(struct env *e, enum env_op op, const char *path)
{
	uint64_t n = ++e->count[op];
	static const char *const names[] = {"write", "fsync", "rename"};

	if (e->crashed)
		return err_set(IODB_EIO, "%s %s: the env has crashed (simulated power cut)",
			       names[op], path);
	if (e->fail_at[op] && n == e->fail_at[op])
		return err_set(IODB_EIO, "%s %s: injected I/O fault (call %llu)", names[op], path,
			       (unsigned long long)n);
	return 0;
}

static struct tracked *track_find(struct env *e, const char *path)
{
	for (struct tracked *t = e->files; t; t = t->next)
		if (strcmp(t->path, path) == 0)
			return t;
	return NULL;
}

static int pend_add(struct env *e, int kind, const char *a, const char *b)
{
	struct pending *p = mem_calloc(1, sizeof(*p));

	if (!p || !(p->a = str_dup(a)) || (b && !(p->b = str_dup(b)))) {
		if (p) {
			mem_free(p->a);
			mem_free(p);
		}
		return err_set(IODB_ENOMEM, "out of memory in env bookkeeping");
	}
	p->kind = kind;
	p->next = e->pend;
	e->pend = p;
	return 0;
}

static int file_new(struct env *e, int fd, const char *path, struct env_file **fp)
{
	struct env_file *f = mem_calloc(1, sizeof(*f));
	struct stat st;

	if (!f || !(f->path = str_dup(path))) {
		mem_free(f);
		close(fd);
		return err_set(IODB_ENOMEM, "out of memory opening %s", path);
	}
	if (fstat(fd, &st) != 0) {
		int rc = err_os(errno, "fstat", path, UINT64_MAX);

		mem_free(f->path);
		mem_free(f);
		close(fd);
		return rc;
	}
	f->e = e;
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	*fp = f;
	return 0;
}

int env_open_append(struct env *e, const char *path, struct env_file **fp)
{
	int existed, fd, rc;
	struct tracked *t;

	if (e->base)
		return env_refuse(e, "open to write", path);
	if (e->crashed)
		return err_set(IODB_EIO, "open %s: the env has crashed", path);
	existed = access(path, F_OK) == 0;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_os(errno, "open", path, UINT64_MAX);
	RET(file_new(e, fd, path, fp));
	pthread_mutex_lock(&e->mu);
	if (!(t = track_find(e, path))) {
		if (!(t = mem_calloc(1, sizeof(*t))) || !(t->path = str_dup(path))) {
			mem_free(t);
			pthread_mutex_unlock(&e->mu);
			env_file_close(*fp);
			return err_set(IODB_ENOMEM, "out of memory in env bookkeeping");
		}
		/* Bytes already there when first opened count as durable. */
		t->size = t->synced = (*fp)->size;
		t->next = e->files;
		e->files = t;
	}
	(*fp)->trk = t;
	rc = existed ? 0 : pend_add(e, PEND_CREATE, path, NULL);
	pthread_mutex_unlock(&e->mu);
	if (rc)
		env_file_close(*fp);
	return rc;
}

int env_open_read(struct env *e, const char *path, struct env_file **fp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? err_set(IODB_NOTFOUND, "%s: no such file", path)
				       : err_os(errno, "open", path, UINT64_MAX);
	RET(file_new(env_real(e), fd, path, fp));
	if (e->base)
		(*fp)->guard = e;
	return 0;
}

int env_file_append(struct env_file *f, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t done = 0;

	if (f->guard)
		return env_refuse(f->guard, "write", f->path);
	RET(env_should_fail(f->e, ENV_OP_WRITE, f->path));
	if (f->e->full_at && f->e->count[ENV_OP_WRITE] >= f->e->full_at)
		return err_os(ENOSPC, "write", f->path, f->size);
	while (done < n) {
		ssize_t w = pwrite(f->fd, b + done, n - done, (off_t)(f->size + done));

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_os(errno, "write", f->path, f->size + done);
		}
		done += (size_t)w;
	}
	f->size += n;
	f->e->bytes_written += n;
	if (f->trk) {
		pthread_mutex_lock(&f->e->mu);
		f->trk->size = f->size;
		pthread_mutex_unlock(&f->e->mu);
	}
	return 0;
}

int env_file_read(struct env_file *f, uint64_t off, void *p, size_t n, size_t *got)
{
	uint8_t *b = p;
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(f->fd, b + done, n - done, (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return err_os(errno, "read", f->path, off + done);
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	f->e->bytes_read += done;
	*got = done;
	return 0;
}

int env_file_sync(struct env_file *f)
{
	if (f->guard)
		return env_refuse(f->guard, "fdatasync", f->path);
	RET(env_should_fail(f->e, ENV_OP_SYNC, f->path));
	if (fdatasync(f->fd) != 0)
		return err_os(errno, "fdatasync", f->path, UINT64_MAX);
	if (f->trk) {
		pthread_mutex_lock(&f->e->mu);
		f->trk->synced = f->size;
		pthread_mutex_unlock(&f->e->mu);
	}
	return 0;
}

void env_file_writeback(struct env_file *f, uint64_t off, uint64_t len)
{
	if (!f->e->crashed && !f->guard)
		(void)sync_file_range(f->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

int env_file_truncate(struct env_file *f, uint64_t size)
{
	if (f->guard)
		return env_refuse(f->guard, "truncate", f->path);
	RET(env_should_fail(f->e, ENV_OP_WRITE, f->path));
	if (ftruncate(f->fd, (off_t)size) != 0)
		return err_os(errno, "ftruncate", f->path, size);
	f->size = size;
	if (f->trk) {
		pthread_mutex_lock(&f->e->mu);
		f->trk->size = size;
		if (f->trk->synced > size)
			f->trk->synced = size;
		pthread_mutex_unlock(&f->e->mu);
	}
	return 0;
}

uint64_t env_file_size(const struct env_file *f)
{
	return f->size;
}

const char *env_file_path(const struct env_file *f)
{
	return f->path;
}

void env_file_close(struct env_file *f)
{
	if (!f)
		return;
	close(f->fd);
	mem_free(f->path);
	mem_free(f);
}

int env_rename(struct env *e, const char *from, const char *to)
{
	struct tracked *t;
	char *np;
	int rc;

	if (e->base)
		return env_refuse(e, "rename", from);
	RET(env_should_fail(e, ENV_OP_RENAME, from));
	if (rename(from, to) != 0)
		return err_os(errno, "rename", from, UINT64_MAX);
	pthread_mutex_lock(&e->mu);
	rc = pend_add(e, PEND_RENAME, from, to);
	if ((t = track_find(e, from)) && (np = str_dup(to))) {
		struct tracked *old = track_find(e, to);

		if (old) /* the replaced file is gone: forget it */
			old->path[0] = '\0';
		mem_free(t->path);
		t->path = np;
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

int env_unlink(struct env *e, const char *path)
{
	struct tracked *t;

	if (e->base)
		return env_refuse(e, "unlink", path);
	if (e->crashed)
		return err_set(IODB_EIO, "unlink %s: the env has crashed", path);
	if (unlink(path) != 0 && errno != ENOENT)
		return err_os(errno, "unlink", path, UINT64_MAX);
	pthread_mutex_lock(&e->mu);
	if ((t = track_find(e, path)))
		t->path[0] = '\0';
	pthread_mutex_unlock(&e->mu);
	return 0;
}

/* Unlink a file inside a directory being removed (files there were fsynced or are scratch). */
static int env_unlink_untracked(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return err_os(errno, "unlink", path, UINT64_MAX);
	return 0;
}

int env_mkdir(struct env *e, const char *path)
{
	struct stat st;

	if (e->base)
		return env_refuse(e, "mkdir", path);
	if (e->crashed)
		return err_set(IODB_EIO, "mkdir %s: the env has crashed", path);
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return err_os(errno, "mkdir", path, UINT64_MAX);
}

int env_sync_dir(struct env *e, const char *dir)
{
	int fd, rc = 0;

	if (e->base)
		return env_refuse(e, "fsync of directory", dir);
	RET(env_should_fail(e, ENV_OP_SYNC, dir));
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_os(errno, "open", dir, UINT64_MAX);
	if (fsync(fd) != 0)
		rc = err_os(errno, "fsync", dir, UINT64_MAX);
	close(fd);
	if (rc)
		return rc;
	pthread_mutex_lock(&e->mu);
	for (struct pending **pp = &e->pend; *pp;) {
		struct pending *p = *pp;
		const char *name = p->kind == PEND_RENAME ? p->b : p->a;

		if (in_dir(name, dir)) {
			*pp = p->next;
			mem_free(p->a);
			mem_free(p->b);
			mem_free(p);
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&e->mu);
	return 0;
}

int env_exists(struct env *e, const char *path)
{
	(void)e;
	return access(path, F_OK) == 0;
}

int env_list_dir(struct env *e, const char *dir, int (*fn)(void *ctx, const char *name),
		 void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	(void)e;
	if (!d)
		return errno == ENOENT ? err_set(IODB_NOTFOUND, "%s: no such directory", dir)
				       : err_os(errno, "opendir", dir, UINT64_MAX);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = fn(ctx, de->d_name);
	}
	closedir(d);
	return rc;
}

/* Lock fd (LOCK_EX or LOCK_SH) without waiting; closes fd on failure. */
static int lock_fd(int fd, int how, const char *path)
{
	int err, readers;

	if (flock(fd, how | LOCK_NB) == 0)
		return 0;
	err = errno;
	/* Who holds it? A shared lock granted now means only read-only handles do. */
	readers = err == EWOULDBLOCK && how == LOCK_EX && flock(fd, LOCK_SH | LOCK_NB) == 0;
	close(fd);
	if (err != EWOULDBLOCK)
		return err_os(err, "flock", path, UINT64_MAX);
	if (how == LOCK_SH)
		return err_set(IODB_EBUSY, "%s: a writer (a read-write handle, in this or another "
					   "process) has the store open; read-only handles can "
					   "open it once it closes", path);
	return err_set(IODB_EBUSY, readers ? "%s: read-only handles (in this or another "
					     "process) have the store open; a writer can open it "
					     "once they all close"
				       : "%s: held by another open handle or process (a writer)",
		       path);
}

static int lock_new(int fd, const char *path, struct env_lock **lp)
{
	struct env_lock *l;

	if (!(l = mem_alloc(sizeof(*l)))) {
		close(fd);
		return err_set(IODB_ENOMEM, "out of memory locking %s", path);
	}
	l->fd = fd;
	*lp = l;
	return 0;
}

int env_lock_shared(struct env *e, const char *path, struct env_lock **lp)
{
	int fd;

	(void)e;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? err_set(IODB_NOTFOUND, "%s: no such file", path)
				       : err_os(errno, "open", path, UINT64_MAX);
	RET(lock_fd(fd, LOCK_SH, path));
	return lock_new(fd, path, lp);
}

int env_lock(struct env *e, const char *path, struct env_lock **lp)
{
	int fd;

	if (e->base)
		return env_refuse(e, "exclusive lock (opens to write)", path);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return err_os(errno, "open", path, UINT64_MAX);
	RET(lock_fd(fd, LOCK_EX, path));
	return lock_new(fd, path, lp);
}

void env_unlock(struct env_lock *l)
{
	if (!l)
		return;
	close(l->fd); /* releases the flock */
	mem_free(l);
}

void env_crash(struct env *e, int garbage, uint64_t seed)
{
	uint64_t x = seed | 1;

	e = env_real(e);
	pthread_mutex_lock(&e->mu);
	e->crashed = 1;
	/* Undo, newest first, what no directory fsync made durable. */
	while (e->pend) {
		struct pending *p = e->pend;
		struct tracked *t;

		e->pend = p->next;
		if (p->kind == PEND_CREATE) {
			unlink(p->a);
			if ((t = track_find(e, p->a)))
				t->path[0] = '\0';
		} else if (rename(p->b, p->a) == 0 && (t = track_find(e, p->b))) {
			char *np = str_dup(p->a);

			if (np) {
				mem_free(t->path);
				t->path = np;
			}
		}
		mem_free(p->a);
		mem_free(p->b);
		mem_free(p);
	}
	for (struct tracked *t = e->files; t; t = t->next) {
		int fd;

		if (!t->path[0] || t->size == t->synced)
			continue;
		if ((fd = open(t->path, O_WRONLY | O_CLOEXEC)) < 0)
			continue;
		if (ftruncate(fd, (off_t)t->synced) == 0 && garbage) {
			uint8_t junk[64];
			uint64_t lost = t->size - t->synced;
			size_t n = lost < sizeof(junk) ? (size_t)lost : sizeof(junk);

			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				junk[i] = (uint8_t)x;
			}
			if (pwrite(fd, junk, n, (off_t)t->synced) < 0) {
				/* a crash simulation has no one to report to */
			}
		}
		close(fd);
		t->size = t->synced;
	}
	pthread_mutex_unlock(&e->mu);
}

int env_file_map(struct env_file *f, const void **p)
{
	void *m;

	*p = NULL;
	if (f->size == 0)
		return 0;
	if (f->size > SIZE_MAX)
		return err_set(IODB_EINVAL, "%s: too large to map", f->path);
	m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (m == MAP_FAILED)
		return err_os(errno, "mmap", f->path, UINT64_MAX);
	f->e->bytes_read += f->size;
	*p = m;
	return 0;
}

void env_unmap(const void *p, uint64_t size)
{
	if (p && size)
		munmap((void *)(uintptr_t)p, (size_t)size);
}

void env_advise(const void *p, uint64_t size, int sequential)
{
	if (p && size)
		madvise((void *)(uintptr_t)p, (size_t)size,
			sequential ? MADV_SEQUENTIAL : MADV_RANDOM);
}

static int rm_entry(void *ctx, const char *name)
{
	char *path = path_join(ctx, name);
	int rc;

	if (!path)
		return err_set(IODB_ENOMEM, "out of memory");
	rc = env_unlink_untracked(path);
	mem_free(path);
	return rc;
}

int env_remove_dir(struct env *e, const char *dir)
{
	if (e->base)
		return env_refuse(e, "remove", dir);
	if (e->crashed)
		return err_set(IODB_EIO, "remove %s: the env has crashed", dir);
	RET(env_list_dir(e, dir, rm_entry, (void *)(uintptr_t)dir));
	if (rmdir(dir) != 0 && errno != ENOENT)
		return err_os(errno, "rmdir", dir, UINT64_MAX);
	return 0;
}

static int rm_any(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 && errno != ENOENT)
		return errno;
	return 0;
}

static int rm_below(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return ftw->level == 0 ? 0 : rm_any(path, st, flag, ftw);
}

int env_remove_tree(struct env *e, const char *dir, int self)
{
	int err;

	if (e->base)
		return env_refuse(e, "remove", dir);
	if (e->crashed)
		return err_set(IODB_EIO, "remove %s: the env has crashed", dir);
	err = nftw(dir, self ? rm_any : rm_below, 16, FTW_DEPTH | FTW_PHYS);
	if (err > 0)
		return err_os(err, "remove", dir, UINT64_MAX);
	return err < 0 && errno != ENOENT ? err_os(errno, "nftw", dir, UINT64_MAX) : 0;
}
