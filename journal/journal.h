/*
 * journal.h — the face of journal/: the append-only log every change is written to first.
 *
 * The journal stores framed, checksummed records in numbered segment files under
 * DIR/journal/. It knows nothing of what a record means beyond the codecs below; the db
 * layer decides what to write and what replaying a record does. Byte layout:
 * docs/format.md, "Journal".
 */
#ifndef IODB_JOURNAL_H
#define IODB_JOURNAL_H

#include "lib/base/base.h"

/* Record types (docs/format.md, "Journal records"). */
enum jrec_type {
	JREC_COMMIT = 1,   /* a new version and its operations */
	JREC_ROLLBACK = 2, /* head := target, its descendants discarded */
	JREC_CHECKOUT = 3, /* head := target */
	JREC_CLEAN = 4     /* base := target, everything outside its subtree discarded */
};

#define JREC_HEADER 16		  /* bytes of framing before each payload */
#define JREC_MAX_PAYLOAD (1u << 31) /* a payload is at most 2 GiB */

struct journal;

/* Where a record lies: segment number and byte offset of its header. */
struct jpos {
	uint64_t seg;
	uint64_t off;
};

struct journal_opts {
	uint64_t segment_bytes; /* start a new segment once the current one is this large */
	int sync;		/* fdatasync after every write */
	/* Replay from this record on (seg 0: from the first segment). Segments before
	 * start.seg are left over from an interrupted journal_release and are removed; the
	 * records before start.off in its segment are not read. */
	struct jpos start;
	/* With start: segments from keep_seg to start.seg are kept (for journal_read and
	 * journal_scan) but not replayed; 0 keeps none. */
	uint64_t keep_seg;
	/* Open for reading only: nothing is created, removed, cut or written. Segments a
	 * release left before the start are skipped, not removed; a torn tail is not read past
	 * and left as it is; every append, sync or new segment is refused (IODB_EINVAL). */
	int read_only;
};

/* Called for each valid record at open, in log order. A non-zero return stops the replay
 * and is returned from journal_open. */
typedef int (*journal_replay_fn)(void *ctx, uint8_t type, const uint8_t *payload, size_t len,
				 const char *path, const struct jpos *pos);

/*
 * Open the journal in `dir` (created when `create` is set and it does not exist), replaying
 * every record through fn. A torn tail of the last segment (a partial or unchecksummable
 * record with no valid record after it) is truncated away; any other bad record is
 * IODB_ECORRUPT naming the segment and offset. *jp is set before the replay starts, so fn
 * may call journal_read on it (nothing else); it is NULL after a failure.
 */
int journal_open(struct env *env, const char *dir, int create, const struct journal_opts *o,
		 journal_replay_fn fn, void *ctx, struct journal **jp);
void journal_close(struct journal *j);

/* Framing: begin a record in b (reserves its header), append the payload to b, then end it
 * (fills in the header). A buffer may hold several records, written with one call. */
int journal_rec_begin(struct buf *b, size_t *mark);
int journal_rec_end(struct buf *b, size_t mark, uint8_t type);

/*
 * Append the framed records in b to the current segment (starting a new segment first when
 * the current one is full); *at (if given) gets the position of b's first byte, so record i
 * of b lies at at->off + its offset in b. Not yet durable: see journal_sync.
 *
 * On a failed write the segment is cut back to where this append started; on a failed
 * fsync, to its size at the last fsync. Either way the journal then refuses every later
 * write (IODB_EIO) until reopened: after a failed fsync the kernel may have dropped the
 * pages, so nothing can be retried safely.
 */
int journal_append(struct journal *j, const struct buf *b, struct jpos *at);
/* Make everything appended durable (fdatasync, with o.sync; a no-op without). */
int journal_sync(struct journal *j);
/* The same, split: start the fdatasync on the journal's own thread, do other work, then wait
 * for its result. One sync may be in flight; nothing may be appended meanwhile. */
int journal_sync_start(struct journal *j);
int journal_sync_wait(struct journal *j);
/* journal_append + journal_sync. */
int journal_write(struct journal *j, const struct buf *b, struct jpos *at);
/* Read back the record at pos (its checksums checked): type and payload (replaced). */
int journal_read(struct journal *j, const struct jpos *pos, uint8_t *type, struct buf *payload);

/* fdatasync what was appended, whatever o.sync says (before the memtable holding it is
 * distributed: the manifest must never point past the journal's durable end). */
int journal_flush(struct journal *j);
/* fdatasync the current segment even if this handle wrote nothing (records replayed at open
 * may be in the page cache only). */
int journal_sync_now(struct journal *j);
/* Leave the current segment now if it holds any record: the records after it go to a new
 * one, so the current one can be released once distributed (iodb_flush). Durable as the
 * append path's rotation is; a failure fails the journal (as a failed append does). */
int journal_next_segment(struct journal *j);
/* Where the next record will go (the end of the last one appended). Not thread-safe against
 * appends: the appending thread calls it. */
void journal_tell(struct journal *j, struct jpos *end);
/* Delete the segments numbered below `seg` (never the current one), oldest first. Safe
 * against concurrent appends; a crash part-way leaves a suffix of segments, which the next
 * open trims with o.start. */
int journal_release(struct journal *j, uint64_t seg);
/* Call fn for each valid record from `from` on, in log order, reading the segments whole
 * (a later segment's records included); fn's non-zero return stops the scan and is
 * returned (a positive one by convention means "found"). Records being appended at the
 * same time may or may not be seen. IODB_NOTFOUND if from's segment was released. */
int journal_scan(struct journal *j, const struct jpos *from, journal_replay_fn fn, void *ctx);
/* The oldest segment still on disk. */
uint64_t journal_first_seg(struct journal *j);

struct journal_stats {
	uint64_t bytes_written; /* framed record bytes appended since open */
	uint64_t syncs;		/* fdatasync calls since open */
	uint64_t segments;	/* segment files now */
	uint64_t size;		/* bytes in all segments now */
};
void journal_get_stats(struct journal *j, struct journal_stats *st);

/* ---- Record payloads (journal/record.c) ----------------------------------------------- */

enum { JOP_PUT = 1, JOP_DEL = 2 };

/* Append one operation in the commit-record encoding. */
int jrec_put_op(struct buf *b, uint8_t kind, uint32_t store_idx, const void *key, size_t klen,
		const void *val, size_t vlen);

struct jcommit {
	uint32_t n;	 /* the version's internal number (>= 1) */
	uint32_t parent; /* the parent's number, 0 for the first version */
	uint64_t height;
	const uint8_t *vid;
	uint8_t vidlen;
	uint32_t nstores;	/* store names used by the ops, indexed by op.store */
	const uint8_t *stores;	/* nstores entries of u8 len + name */
	uint64_t nops;
	const uint8_t *ops;	/* nops operations, as jrec_put_op writes them */
	size_t ops_len;
};

struct jop {
	uint8_t kind;
	uint32_t store; /* index into the commit's store names */
	const uint8_t *key;
	uint32_t klen;
	const uint8_t *val; /* NULL for a delete */
	uint32_t vlen;
};

/* Encode a commit payload; c->stores and c->ops are copied as they are. */
int jcommit_encode(struct buf *b, const struct jcommit *c);
/* Decode and validate a whole commit payload (every op is checked); -1 if malformed. */
int jcommit_decode(const uint8_t *p, size_t n, struct jcommit *c);
/* Iterate: name of store i (c->stores must be valid, as after jcommit_decode). */
void jcommit_store_name(const struct jcommit *c, uint32_t i, const uint8_t **name,
			uint8_t *len);
/* Iterate ops: r starts over c->ops/c->ops_len; returns 0, or -1 when malformed. */
int jcommit_next_op(struct rd *r, uint32_t nstores, struct jop *op);

/* Validate a store name: 0..64 bytes of [A-Za-z0-9_.-] (0 = the default store). */
int store_name_valid(const uint8_t *name, size_t len);

#endif /* IODB_JOURNAL_H */
