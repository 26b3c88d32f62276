/*
 * compaction.h — the face of compaction/: the merge task (what a compaction writes) and the
 * pool of threads that runs tasks.
 *
 * What to compact and when, and installing a result, is the db layer's (lib/db/compact.c):
 * it knows the version graph and the tables. This subsystem knows runs (shards/) and the
 * rules that decide which entries no view can see any more.
 */
#ifndef IODB_COMPACTION_H
#define IODB_COMPACTION_H

#include "shards/shards.h"

/*
 * The rules a merge applies, from the version graph at the time the task starts. Every view
 * that can be opened from then on sees a set of numbers that contains all of base_anc and
 * none of dead; views opened before hold the runs they read and never see the result.
 */
struct compact_rules {
	const roaring_bitmap_t *dead;	  /* discarded numbers: their entries go */
	const roaring_bitmap_t *base_anc; /* the base and its ancestors */
	uint32_t base;			  /* the base's number (0: none yet) */
	int bottom; /* the inputs hold every entry of their key range older than the
		     * memtables: a tombstone with nothing left beneath it can go */
};

/* A finished output piece: a run and the first (store, key) it holds. */
struct compact_piece {
	struct run *run;
	uint8_t *lo; /* ikey of its first entry (mem_alloc'd) */
	uint32_t lolen;
};

struct compact_out {
	struct compact_piece *v;
	uint32_t n, cap;
	uint64_t entries_in, entries_out, bytes_in, bytes_out;
};

/*
 * Merge the runs in[0..nin) into new runs in man's run directory, dropping what the rules
 * allow, cutting to a new piece at a key boundary once a piece reaches piece_bytes (0: never
 * cut), into max_pieces pieces at most (the last takes the rest). Every piece is finished (fdatasynced) and the directory fsynced before this returns 0;
 * on failure every file written is removed. The pieces' gc fields are set from the rules.
 * *stop (if given) is polled: non-zero makes the merge give up with IODB_EBUSY.
 */
int compact_merge(struct env *env, struct manifest *man, struct run *const *in, uint32_t nin,
		  const struct compact_rules *rules, uint64_t piece_bytes, uint32_t max_pieces,
		  const struct run_wopts *wo, struct block_cache *bc, const atomic_int *stop,
		  struct compact_out *out);
void compact_out_free(struct compact_out *out, int remove_files);

/* ---- The pool ------------------------------------------------------------------------- */

/*
 * N threads, each calling step(ctx) until it returns 0 (nothing due); then it sleeps until
 * cpool_poke or a period passes (so work that became due without a poke is found too).
 */
struct cpool;
typedef int (*cpool_step_fn)(void *ctx);
int cpool_start(uint32_t nthreads, uint32_t period_ms, cpool_step_fn step, void *ctx,
		struct cpool **out);
void cpool_poke(struct cpool *p);
/* Stop and join every thread (a step under way finishes first). NULL ok. */
void cpool_stop(struct cpool *p);

#endif /* IODB_COMPACTION_H */
