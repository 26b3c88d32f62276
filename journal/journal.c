/*
 * journal.c — segment files, record framing, recovery and the append path.
 *
 * The journal is a sequence of segment files DIR/journal/<20-digit number>.log. Each starts
 * with a 32-byte header; records follow back to back, each a 16-byte frame header and a
 * payload (docs/format.md, "Journal"). Only the last segment is ever appended to.
 *
 * Durability: journal_write appends a buffer of whole records with one write() and, with
 * sync, one fdatasync. A new segment is made durable (header fsynced, directory fsynced)
 * before any record goes into it, and the previous segment is fsynced before it is left, so
 * at most the unsynced tail of the last segment can be torn by a crash.
 *
 * Recovery (journal_open) therefore reads every segment in order and applies this rule to a
 * record that fails its checks at offset X:
 *   - in the last segment, if no valid record starts anywhere after X, the bytes from X on
 *     are a torn tail: they are cut off and the journal continues at X;
 *   - otherwise (an earlier segment, or valid records after X) it is corruption: open fails
 *     with IODB_ECORRUPT naming the segment and X. Bytes the store acknowledged are never
 *     silently skipped.
 * A bit flip inside the last record is indistinguishable from a torn write and is cut as one
 * (docs/ARCHITECTURE.md, "Journal recovery").
 *
 * Read-only (o.read_only): the same replay, but a torn tail is only not read past (never
 * cut), leftover segments are skipped (never removed), no segment is made, and the journal
 * is born failed with IODB_EINVAL, so that every write is refused.
 *
 * State: open → (write)* → failed (sticky, after any failed write/fsync) → close.
 * Threads: one writer at a time (the db's commit leader); journal_get_stats may run
 * concurrently and reads counters only.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "journal/journal.h"

#define SEG_HEADER 32
#define SEG_MAGIC "iodbjrnl"
#define SEG_FORMAT 1
#define SEG_NAME_LEN 24 /* 20 digits + ".log" */

enum { SYNC_IDLE, SYNC_REQUESTED, SYNC_DONE };

#define WRITEBACK_BYTES (4u << 20)

struct journal {
	struct env *env;
	char *dir;
	struct journal_opts o;
	struct env_file *cur; /* last segment, open to append */
	int failed;	     /* sticky error code after a failed write or fsync */
	int unsynced;	     /* bytes appended since the last fdatasync */
	uint64_t synced_size; /* size of cur at the last fdatasync, while unsynced */
	uint64_t wb_from;     /* without sync: where the next early writeback starts */

	/* The sync thread (see journal_sync_start). */
	pthread_t sync_thread;
	int sync_thread_up, sync_stop, sync_state, sync_rc;
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv;
	char sync_msg[512];
	/* Read by journal_get_stats from any thread, hence atomic. */
	_Atomic uint64_t cur_seg, first_seg;
	_Atomic uint64_t older_bytes; /* bytes in segments before cur */
	_Atomic uint64_t cur_bytes;   /* bytes in cur */
	_Atomic uint64_t bytes_written, syncs;
};

static char *seg_path(const char *dir, uint64_t seg)
{
	char name[SEG_NAME_LEN + 1];

	snprintf(name, sizeof(name), "%020" PRIu64 ".log", seg);
	return path_join(dir, name);
}

/* docs/format.md, "Segment header". prev_end: the previous segment's size when this one was
 * started, so that a previous segment cut at a record boundary is caught at open. */
static void seg_header_encode(uint8_t h[SEG_HEADER], uint64_t seg, uint64_t prev_end)
{
	memcpy(h, SEG_MAGIC, 8);
	put_u64(h + 8, seg);
	put_u64(h + 16, prev_end);
	put_u32(h + 24, SEG_FORMAT);
	put_u32(h + 28, crc_mask(crc32c(h, 28)));
}

/* 0 if h is a valid header of segment seg (*prev_end set), -1 otherwise. */
static int seg_header_check(const uint8_t *h, uint64_t seg, uint64_t *prev_end)
{
	if (memcmp(h, SEG_MAGIC, 8) != 0 || get_u32(h + 28) != crc_mask(crc32c(h, 28)))
		return -1;
	if (get_u32(h + 24) != SEG_FORMAT || get_u64(h + 8) != seg)
		return -1;
	*prev_end = get_u64(h + 16);
	return 0;
}

/* Payload length of a valid record at off, or -1. */
static int64_t rec_check(const uint8_t *p, uint64_t off, uint64_t size)
{
	const uint8_t *h = p + off;
	uint32_t len;

	if (size - off < JREC_HEADER)
		return -1;
	if (get_u32(h) != crc_mask(crc32c(h + 4, JREC_HEADER - 4)))
		return -1;
	len = get_u32(h + 4);
	if (len > JREC_MAX_PAYLOAD || h[8] == 0 || h[9] || h[10] || h[11] ||
	    (uint64_t)len > size - off - JREC_HEADER)
		return -1;
	if (get_u32(h + 12) != crc_mask(crc32c(h + JREC_HEADER, len)))
		return -1;
	return len;
}

/* Is there a valid record starting anywhere in (off, size)? */
static int valid_record_after(const uint8_t *p, uint64_t off, uint64_t size)
{
	for (uint64_t x = off + 1; x + JREC_HEADER <= size; x++)
		if (rec_check(p, x, size) >= 0)
			return 1;
	return 0;
}

int journal_rec_begin(struct buf *b, size_t *mark)
{
	RET(buf_reserve(b, JREC_HEADER));
	*mark = b->len;
	memset(b->p + b->len, 0, JREC_HEADER);
	b->len += JREC_HEADER;
	return 0;
}

int journal_rec_end(struct buf *b, size_t mark, uint8_t type)
{
	uint8_t *h = b->p + mark;
	size_t len = b->len - mark - JREC_HEADER;

	if (len > JREC_MAX_PAYLOAD)
		return err_set(IODB_EINVAL, "journal record of %zu bytes exceeds the %u-byte limit",
			       len, JREC_MAX_PAYLOAD);
	if (type == 0)
		return err_set(IODB_EINVAL, "journal record type 0 is reserved (invalid on disk)");
	put_u32(h + 4, (uint32_t)len);
	h[8] = type;
	put_u32(h + 12, crc_mask(crc32c(h + JREC_HEADER, len)));
	put_u32(h, crc_mask(crc32c(h + 4, JREC_HEADER - 4)));
	return 0;
}

/* Create segment seg, durable (header fsynced, directory fsynced), open to append. */
static int seg_create(struct journal *j, uint64_t seg, uint64_t prev_end, struct env_file **fp)
{
	uint8_t h[SEG_HEADER];
	char *path = seg_path(j->dir, seg);
	struct env_file *f = NULL;
	int rc;

	if (!path)
		return err_set(IODB_ENOMEM, "out of memory");
	seg_header_encode(h, seg, prev_end);
	ERR(env_open_append(j->env, path, &f));
	if (env_file_size(f) != 0)
		ERR(env_file_truncate(f, 0));
	ERR(env_file_append(f, h, SEG_HEADER));
	ERR(env_file_sync(f));
	ERR(env_sync_dir(j->env, j->dir));
	*fp = f;
	mem_free(path);
	return 0;
err:
	env_file_close(f);
	mem_free(path);
	return rc;
}

struct seg_list {
	uint64_t *v;
	size_t n, cap;
	int rc;
};

static int seg_list_add(void *ctx, const char *name)
{
	struct seg_list *l = ctx;
	char *end;
	uint64_t seg;

	if (strlen(name) != SEG_NAME_LEN || strcmp(name + 20, ".log") != 0)
		return 0;
	for (int i = 0; i < 20; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	seg = strtoull(name, &end, 10);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *v = mem_realloc(l->v, cap * sizeof(*v));

		if (!v)
			return err_set(IODB_ENOMEM, "out of memory listing journal segments");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = seg;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Read a segment into a fresh allocation of its size: its header, and its bytes from
 * `from` on (replay starts there; the bytes between are not read). */
static int read_file(struct env *env, const char *path, uint64_t from, uint8_t **pp,
		     uint64_t *sizep)
{
	struct env_file *f = NULL;
	uint8_t *p = NULL;
	uint64_t size;
	size_t got, got2 = 0;
	int rc;

	ERR(env_open_read(env, path, &f));
	size = env_file_size(f);
	if (size > SIZE_MAX || !(p = mem_alloc(size ? (size_t)size : 1))) {
		rc = err_set(IODB_ENOMEM, "out of memory reading %s (%" PRIu64 " bytes)", path,
			     size);
		goto err;
	}
	if (from > SEG_HEADER && size >= SEG_HEADER) {
		ERR(env_file_read(f, 0, p, SEG_HEADER, &got));
		if (from < size)
			ERR(env_file_read(f, from, p + from, (size_t)(size - from), &got2));
		got = got == SEG_HEADER && got2 == (from < size ? size - from : 0) ? (size_t)size
										    : 0;
	} else {
		ERR(env_file_read(f, 0, p, (size_t)size, &got));
	}
	if (got != size) {
		rc = err_set(IODB_EIO, "%s: file shrank while being read", path);
		goto err;
	}
	env_file_close(f);
	*pp = p;
	*sizep = size;
	return 0;
err:
	mem_free(p);
	env_file_close(f);
	return rc;
}

/*
 * Replay one segment. *keep gets the length of its valid prefix (for the last segment, the
 * point to truncate to). prev (path and size of the segment before, or NULL) is checked
 * against what this segment's header says it was.
 */
static int seg_replay(struct journal *j, uint64_t seg, int last, const char *prev,
		      uint64_t prev_size, uint64_t from, journal_replay_fn fn, void *ctx,
		      uint64_t *keep)
{
	char *path = seg_path(j->dir, seg);
	uint8_t *p = NULL;
	uint64_t size = 0, off, prev_end = 0;
	int rc;

	if (!path)
		return err_set(IODB_ENOMEM, "out of memory");
	ERR(read_file(j->env, path, from, &p, &size));
	if (size < SEG_HEADER || seg_header_check(p, seg, &prev_end) != 0) {
		/* A segment is made durable before records go in, so a bad header is a torn
		 * creation only if nothing follows it in the last segment. */
		if (last && size <= SEG_HEADER) {
			*keep = 0;
			rc = 0;
			goto out;
		}
		rc = ERR_CORRUPT(path, 0, "bad journal segment header");
		goto err;
	}
	if (prev && prev_end != prev_size) {
		/* Every record of the segment before is valid, but some are missing at its end. */
		rc = ERR_CORRUPT(prev, prev_size, "journal segment ends at %" PRIu64 " bytes, but the "
						  "next segment records that it ended at %" PRIu64,
				 prev_size, prev_end);
		goto err;
	}
	if (from > size) {
		rc = ERR_CORRUPT(path, size, "journal segment ends before the point replay starts "
					     "from (%" PRIu64 ", per the manifest)", from);
		goto err;
	}
	for (off = from > SEG_HEADER ? from : SEG_HEADER; off < size;) {
		int64_t len = rec_check(p, off, size);
		struct jpos pos = {seg, off};

		if (len < 0) {
			if (!last || valid_record_after(p, off, size)) {
				rc = ERR_CORRUPT(path, off, "journal record fails its checksum");
				goto err;
			}
			break; /* torn tail */
		}
		ERR(fn(ctx, p[off + 8], p + off + JREC_HEADER, (size_t)len, path, &pos));
		off += JREC_HEADER + (uint64_t)len;
	}
	*keep = off;
	rc = 0;
out:
err:
	mem_free(p);
	mem_free(path);
	return rc;
}

int journal_open(struct env *env, const char *dir, int create, const struct journal_opts *o,
		 journal_replay_fn fn, void *ctx, struct journal **jp)
{
	struct journal *j = mem_calloc(1, sizeof(*j));
	struct seg_list segs = {0};
	uint64_t keep = 0, prev_size = 0;
	char *prev = NULL; /* path of the segment before the one being replayed */
	int rc;

	if (!j || !(j->dir = mem_dup(dir, strlen(dir) + 1))) {
		mem_free(j);
		return err_set(IODB_ENOMEM, "out of memory opening the journal");
	}
	j->env = env;
	j->o = *o;
	pthread_mutex_init(&j->sync_mu, NULL);
	pthread_cond_init(&j->sync_cv, NULL);
	if (create && !o->read_only)
		ERR(env_mkdir(env, dir));
	rc = env_list_dir(env, dir, seg_list_add, &segs);
	if (rc == IODB_NOTFOUND && o->read_only) /* no journal yet: nothing to replay */
		err_clear();
	else if (rc)
		goto err;
	if (segs.n) /* qsort(NULL, 0) is undefined */
		qsort(segs.v, segs.n, sizeof(*segs.v), u64_cmp);
	if (o->start.seg) {
		/* Segments before the replay start were being released when a crash came. */
		size_t i0 = 0;

		uint64_t drop_below = o->keep_seg && o->keep_seg < o->start.seg ? o->keep_seg
										  : o->start.seg;

		while (i0 < segs.n && segs.v[i0] < drop_below) {
			char *path;

			if (o->read_only) { /* left for the next writer to remove */
				i0++;
				continue;
			}
			path = seg_path(dir, segs.v[i0]);

			if (!path) {
				rc = err_set(IODB_ENOMEM, "out of memory");
				goto err;
			}
			rc = env_unlink(env, path);
			mem_free(path);
			if (rc)
				goto err;
			i0++;
		}
		if (i0)
			memmove(segs.v, segs.v + i0, (segs.n - i0) * sizeof(*segs.v));
		segs.n -= i0;
		i0 = 0;
		while (i0 < segs.n && segs.v[i0] < o->start.seg)
			i0++; /* kept, not replayed */
		if (i0 == segs.n || segs.v[i0] != o->start.seg) {
			char *path = seg_path(dir, o->start.seg);

			rc = ERR_CORRUPT(path ? path : dir, o->start.off,
					 "journal segment missing (replay starts in it)");
			mem_free(path);
			goto err;
		}
	}
	for (size_t i = 1; i < segs.n; i++)
		if (segs.v[i] != segs.v[i - 1] + 1) {
			char *path = seg_path(dir, segs.v[i - 1] + 1);

			rc = ERR_CORRUPT(path ? path : dir, 0, "journal segment missing");
			mem_free(path);
			goto err;
		}
	*jp = j; /* fn may read records back through j while the replay runs */
	for (size_t i = 0; i < segs.n; i++) {
		int last = i + 1 == segs.n;

		if (o->start.seg && segs.v[i] < o->start.seg) {
			/* Kept for readers (keep_seg), not replayed: complete, as released. */
			struct env_file *f = NULL;
			char *path = seg_path(dir, segs.v[i]);

			rc = path ? env_open_read(env, path, &f)
				  : err_set(IODB_ENOMEM, "out of memory");
			mem_free(path);
			if (rc)
				goto err;
			j->older_bytes += env_file_size(f);
			env_file_close(f);
			continue;
		}

		mem_free(prev);
		prev = i && segs.v[i - 1] >= o->start.seg ? seg_path(dir, segs.v[i - 1]) : NULL;
		if (i && segs.v[i - 1] >= o->start.seg && !prev) {
			rc = err_set(IODB_ENOMEM, "out of memory");
			goto err;
		}
		ERR(seg_replay(j, segs.v[i], last, prev, keep,
			       segs.v[i] == o->start.seg ? o->start.off : 0, fn, ctx, &keep));
		if (!last) {
			j->older_bytes += keep;
			prev_size = keep;
		}
	}
	if (o->read_only) {
		/* Nothing is opened to append: what was replayed is all there is. */
		j->first_seg = segs.n ? segs.v[0] : 1;
		j->cur_seg = segs.n ? segs.v[segs.n - 1] : 0;
		j->cur_bytes = keep;
		j->failed = IODB_EINVAL;
		mem_free(segs.v);
		mem_free(prev);
		*jp = j;
		return 0;
	}
	if (segs.n == 0) {
		j->first_seg = j->cur_seg = 1;
		ERR(seg_create(j, 1, 0, &j->cur));
	} else {
		char *path = seg_path(dir, segs.v[segs.n - 1]);

		j->first_seg = segs.v[0];
		j->cur_seg = segs.v[segs.n - 1];
		if (!path) {
			rc = err_set(IODB_ENOMEM, "out of memory");
			goto err;
		}
		/* A last segment torn while being created is made again, as it was. */
		rc = keep == 0 ? seg_create(j, j->cur_seg, prev_size, &j->cur)
			       : env_open_append(env, path, &j->cur);
		mem_free(path);
		if (rc)
			goto err;
		if (keep && env_file_size(j->cur) != keep) {
			/* Cut the torn tail, durably, before anything is appended after it. */
			ERR(env_file_truncate(j->cur, keep));
			ERR(env_file_sync(j->cur));
		}
	}
	j->cur_bytes = env_file_size(j->cur);
	mem_free(segs.v);
	mem_free(prev);
	*jp = j;
	return 0;
err:
	mem_free(segs.v);
	mem_free(prev);
	journal_close(j);
	*jp = NULL;
	return rc;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->sync_thread_up) {
		pthread_mutex_lock(&j->sync_mu);
		j->sync_stop = 1;
		pthread_cond_broadcast(&j->sync_cv);
		pthread_mutex_unlock(&j->sync_mu);
		pthread_join(j->sync_thread, NULL);
	}
	pthread_mutex_destroy(&j->sync_mu);
	pthread_cond_destroy(&j->sync_cv);
	env_file_close(j->cur);
	mem_free(j->dir);
	mem_free(j);
}

static int journal_rotate(struct journal *j)
{
	struct env_file *f;
	uint64_t size = env_file_size(j->cur);

	/* Leave the old segment durable whatever the sync option: recovery treats a bad record
	 * in any but the last segment as corruption. */
	RET(env_file_sync(j->cur));
	j->syncs++;
	j->unsynced = 0; /* what follows goes to the new segment, durable from its header on */
	RET(seg_create(j, j->cur_seg + 1, size, &f));
	env_file_close(j->cur);
	j->cur = f;
	j->cur_seg++;
	j->older_bytes += size;
	j->cur_bytes = env_file_size(f);
	j->wb_from = 0;
	return 0;
}

static int journal_failed(const struct journal *j)
{
	if (j->o.read_only)
		return err_set(IODB_EINVAL, "%s: the journal was opened read-only", j->dir);
	return err_set(IODB_EIO, "the journal failed an earlier write or fsync; reopen the store to "
				 "write again");
}

int journal_append(struct journal *j, const struct buf *b, struct jpos *at)
{
	uint64_t before;
	int rc;

	if (j->failed)
		return journal_failed(j);
	if (env_file_size(j->cur) >= j->o.segment_bytes)
		ERR(journal_rotate(j));
	before = env_file_size(j->cur);
	if ((rc = env_file_append(j->cur, b->p, b->len)) != 0) {
		/* Best effort: take back what the caller will be told failed. */
		if (env_file_size(j->cur) != before)
			(void)env_file_truncate(j->cur, before);
		goto err;
	}
	if (at) {
		at->seg = j->cur_seg;
		at->off = before;
	}
	if (!j->unsynced)
		j->synced_size = before;
	j->unsynced = 1;
	/* Without sync, nothing is flushed until the segment is left, and then its whole size
	 * at once, on the commit path (a 64 MiB segment: a 40-60 ms stall). Start writing it
	 * back every few MiB instead, so that final fdatasync finds little left to do. */
	if (!j->o.sync && env_file_size(j->cur) - j->wb_from >= WRITEBACK_BYTES) {
		env_file_writeback(j->cur, j->wb_from, env_file_size(j->cur) - j->wb_from);
		j->wb_from = env_file_size(j->cur);
	}
	j->bytes_written += b->len;
	j->cur_bytes = env_file_size(j->cur);
	return 0;
err:
	j->failed = rc;
	return rc;
}

/* fdatasync the current segment (with o.sync); on failure, cut back to the last synced size
 * and refuse every later write. */
static int sync_now(struct journal *j, char *msg, size_t msglen)
{
	int rc;

	if (!j->o.sync || !j->unsynced)
		return 0;
	j->syncs++;
	if ((rc = env_file_sync(j->cur)) == 0) {
		j->unsynced = 0;
		return 0;
	}
	if (msg)
		snprintf(msg, msglen, "%s", iodb_errmsg());
	(void)env_file_truncate(j->cur, j->synced_size);
	j->failed = rc;
	return rc;
}

int journal_sync(struct journal *j)
{
	if (j->failed)
		return journal_failed(j);
	return sync_now(j, NULL, 0);
}

int journal_write(struct journal *j, const struct buf *b, struct jpos *at)
{
	RET(journal_append(j, b, at));
	return journal_sync(j);
}

/*
 * The sync thread: journal_sync_start hands it the fdatasync, journal_sync_wait collects the
 * result, so the committing thread can do its in-memory work while the disk is busy. One
 * request at a time; the thread exists only with o.sync.
 */
static void *sync_main(void *arg)
{
	struct journal *j = arg;

	pthread_mutex_lock(&j->sync_mu);
	for (;;) {
		while (j->sync_state != SYNC_REQUESTED && !j->sync_stop)
			pthread_cond_wait(&j->sync_cv, &j->sync_mu);
		if (j->sync_state != SYNC_REQUESTED)
			break;
		pthread_mutex_unlock(&j->sync_mu);
		{
			int rc = sync_now(j, j->sync_msg, sizeof(j->sync_msg));

			pthread_mutex_lock(&j->sync_mu);
			j->sync_rc = rc;
		}
		j->sync_state = SYNC_DONE;
		pthread_cond_broadcast(&j->sync_cv);
	}
	pthread_mutex_unlock(&j->sync_mu);
	return NULL;
}

int journal_sync_start(struct journal *j)
{
	if (j->failed)
		return journal_failed(j);
	if (!j->o.sync || !j->unsynced)
		return 0;
	if (!j->sync_thread_up) {
		if (pthread_create(&j->sync_thread, NULL, sync_main, j) != 0)
			return journal_sync(j); /* no thread: sync here and now */
		j->sync_thread_up = 1;
	}
	pthread_mutex_lock(&j->sync_mu);
	j->sync_state = SYNC_REQUESTED;
	pthread_cond_broadcast(&j->sync_cv);
	pthread_mutex_unlock(&j->sync_mu);
	return 0;
}

int journal_sync_wait(struct journal *j)
{
	int rc = 0;

	pthread_mutex_lock(&j->sync_mu);
	if (j->sync_state == SYNC_REQUESTED || j->sync_state == SYNC_DONE) {
		while (j->sync_state != SYNC_DONE)
			pthread_cond_wait(&j->sync_cv, &j->sync_mu);
		rc = j->sync_rc;
		j->sync_state = SYNC_IDLE;
	}
	pthread_mutex_unlock(&j->sync_mu);
	if (rc)
		return err_set(rc, "%s", j->sync_msg);
	return j->failed ? journal_failed(j) : 0;
}

int journal_read(struct journal *j, const struct jpos *pos, uint8_t *type, struct buf *payload)
{
	char *path = seg_path(j->dir, pos->seg);
	struct env_file *f = NULL;
	uint8_t h[JREC_HEADER];
	size_t got;
	uint32_t len;
	int rc;

	if (!path)
		return err_set(IODB_ENOMEM, "out of memory");
	ERR(env_open_read(j->env, path, &f));
	ERR(env_file_read(f, pos->off, h, sizeof(h), &got));
	len = get_u32(h + 4);
	if (got != sizeof(h) || get_u32(h) != crc_mask(crc32c(h + 4, JREC_HEADER - 4)) ||
	    len > JREC_MAX_PAYLOAD) {
		rc = ERR_CORRUPT(path, pos->off, "journal record header fails its checksum");
		goto err;
	}
	payload->len = 0;
	ERR(buf_reserve(payload, len));
	ERR(env_file_read(f, pos->off + JREC_HEADER, payload->p, len, &got));
	if (got != len || get_u32(h + 12) != crc_mask(crc32c(payload->p, len))) {
		rc = ERR_CORRUPT(path, pos->off, "journal record fails its checksum");
		goto err;
	}
	payload->len = len;
	*type = h[8];
err:
	env_file_close(f);
	mem_free(path);
	return rc;
}

int journal_next_segment(struct journal *j)
{
	int rc;

	if (j->failed)
		return journal_failed(j);
	if (env_file_size(j->cur) <= SEG_HEADER)
		return 0;
	if ((rc = journal_rotate(j)) != 0)
		j->failed = rc;
	return rc;
}

int journal_flush(struct journal *j)
{
	int rc;

	if (j->failed)
		return journal_failed(j);
	if (!j->unsynced)
		return 0;
	j->syncs++;
	if ((rc = env_file_sync(j->cur)) != 0) {
		(void)env_file_truncate(j->cur, j->synced_size);
		j->failed = rc;
		return rc;
	}
	j->unsynced = 0;
	return 0;
}

int journal_sync_now(struct journal *j)
{
	if (!j->unsynced && j->cur) {
		/* Nothing this handle wrote is pending: a failure takes nothing back. */
		j->synced_size = env_file_size(j->cur);
		j->unsynced = 1;
	}
	return journal_flush(j);
}

void journal_tell(struct journal *j, struct jpos *end)
{
	end->seg = j->cur_seg;
	end->off = j->cur ? env_file_size(j->cur) : j->cur_bytes;
}

int journal_scan(struct journal *j, const struct jpos *from, journal_replay_fn fn, void *ctx)
{
	uint64_t last = j->cur_seg;
	int rc = 0;

	if (from->seg < j->first_seg)
		return err_set(IODB_NOTFOUND, "journal segment %" PRIu64 " was released",
			       from->seg);
	for (uint64_t seg = from->seg; seg <= last && rc == 0; seg++) {
		char *path = seg_path(j->dir, seg);
		uint8_t *p = NULL;
		uint64_t size = 0, off = seg == from->seg && from->off > SEG_HEADER ? from->off
										  : SEG_HEADER;

		if (!path)
			return err_set(IODB_ENOMEM, "out of memory");
		rc = read_file(j->env, path, off, &p, &size);
		while (rc == 0 && off < size) {
			int64_t len = rec_check(p, off, size);
			struct jpos pos = {seg, off};

			if (len < 0)
				break; /* the end of what was written (appends may be under way) */
			rc = fn(ctx, p[off + 8], p + off + JREC_HEADER, (size_t)len, path, &pos);
			off += JREC_HEADER + (uint64_t)len;
		}
		mem_free(p);
		mem_free(path);
	}
	return rc;
}

uint64_t journal_first_seg(struct journal *j)
{
	return j->first_seg;
}

int journal_release(struct journal *j, uint64_t seg)
{
	while (j->first_seg < seg && j->first_seg < j->cur_seg) {
		char *path = seg_path(j->dir, j->first_seg);
		struct env_file *f = NULL;
		uint64_t size = 0;
		int rc;

		if (!path)
			return err_set(IODB_ENOMEM, "out of memory");
		if (env_open_read(j->env, path, &f) == 0) {
			size = env_file_size(f);
			env_file_close(f);
		}
		rc = env_unlink(j->env, path);
		mem_free(path);
		if (rc)
			return rc;
		j->older_bytes -= size;
		j->first_seg++;
	}
	return 0;
}

void journal_get_stats(struct journal *j, struct journal_stats *st)
{
	st->bytes_written = j->bytes_written;
	st->syncs = j->syncs;
	st->segments = j->cur_seg - j->first_seg + 1;
	st->size = j->older_bytes + j->cur_bytes;
}
