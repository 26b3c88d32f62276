/*
 * db.h — the face of lib/db inside the tree: what tests and tools may use beyond iodb.h.
 */
#ifndef IODB_DB_H
#define IODB_DB_H

#include "iodb.h"
#include "lib/base/base.h"

/* iodb_open with a caller-provided env (tests inject faults and crashes through it). The env
 * must outlive the handle. */
int db_open_env(const char *dir, const iodb_options *o, struct env *env, iodb **db);

#endif /* IODB_DB_H */
