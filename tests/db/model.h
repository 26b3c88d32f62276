/*
 * model.h — an in-memory reference of iodb's semantics for the model, crash and fault
 * tests: every version keeps a full copy of its (small) key space, so the expected answer of
 * any read at any version is a table lookup.
 */
#ifndef IODB_TEST_MODEL_H
#define IODB_TEST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "iodb.h"

#define M_STORES 2
#define M_KEYS 48
#define M_MAXV 40

struct m_val {
	uint8_t present, len;
	uint8_t v[M_MAXV];
};
struct m_state {
	struct m_val kv[M_STORES][M_KEYS];
};
struct m_ver {
	char vid[32];
	uint8_t vidlen;
	int parent; /* index, -1 none */
	uint64_t height;
	int alive;
	struct m_state *st;
};
struct m_op {
	int del, store, key;
	uint8_t len;
	uint8_t v[M_MAXV];
};
struct model {
	struct m_ver *v;
	int n, cap;
	int head, base; /* indexes, -1 before the first version */
	uint8_t keys[M_KEYS][8];
	uint8_t klen[M_KEYS];
	int order[M_KEYS]; /* key indexes in iodb's key order */
	uint32_t keep_versions;
};

extern const char *const m_store_names[M_STORES];

void model_init(struct model *m, uint64_t seed);
void model_free(struct model *m);
/* Deep copy (for "the state after step k" bookkeeping). */
void model_copy(struct model *dst, const struct model *src);
int model_find(const struct model *m, const char *vid, size_t len);
int model_alive_count(const struct model *m);
/* The index of the k-th alive version (in creation order). */
int model_alive_at(const struct model *m, int k);

/* Apply to the model only. */
void model_update(struct model *m, const char *vid, size_t vidlen, const struct m_op *ops,
		  int nops);
void model_rollback(struct model *m, int idx);
void model_checkout(struct model *m, int idx);
void model_clean(struct model *m, uint32_t keep);

/* Random operations over the model's key space. */
int model_random_ops(const struct model *m, uint64_t *rng, struct m_op *ops, int max);

/* Apply the same update to a store (returns iodb_update's code). */
int model_db_update(iodb *db, const struct model *m, const char *vid, size_t vidlen,
		    const struct m_op *ops, int nops);

/* Check (with Check asserts) that reads through s (NULL: the head) equal st: every key by
 * get and every store by a full forward and backward scan and a few seeks. */
void model_check_state(iodb *db, iodb_snapshot *s, const struct model *m,
		       const struct m_state *st, uint64_t *rng);
/* The version list (IDs, parents, heights, order) and the head equal the model's. */
void model_check_versions(iodb *db, const struct model *m);
/* Versions, head state, and the state of up to `max_versions` alive versions via snapshots
 * (all when max_versions < 0). */
void model_check_all(iodb *db, const struct model *m, int max_versions, uint64_t *rng);
/* 1 if the store's version list and head equal the model's, else 0 (no asserts). */
int model_versions_equal(iodb *db, const struct model *m);



/*
 * A deterministic workload: step s's operation depends only on s and the model's state
 * (an update of a few keys, and now and then a rollback, a checkout or a clean). With db,
 * the operation is applied to the store first and to the model only if the store accepted
 * it; the store's return code is returned. Without db, only the model moves.
 */
int model_step(struct model *m, int s, iodb *db);
#endif
