/*
 * args.h — private to the iodb tool: what every command shares. The state of one run,
 * error reporting, byte strings in and out (arguments, hex, files), and the parsing of a
 * command's positionals and options. iodb.c has main, the dispatch and the commands.
 */
#ifndef IODB_TOOLS_ARGS_H
#define IODB_TOOLS_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iodb.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* Longest rendering of a key or ID inside an error message. */
#define SHOW_MAX 80

struct command;

/* One run of the tool: the parsed global options and the command's arguments. */
struct cli {
	const char *dir;
	const char *store; /* NULL: the default store */
	int hex;
	int nosync;
	int no_merkle;
	int no_create;
	int read_only;       /* --read-only: even a writing command opens read-only */
	char **args;         /* args[0] is the command name */
	int nargs;
	int literal_from;    /* args[i] with i >= literal_from came after "--" */
	const struct command *cmd;
	iodb *db;
};

struct command {
	const char *name;
	const char *synopsis; /* its arguments, for usage errors */
	int (*run)(struct cli *c);
	int creates;          /* may create the store when missing */
	int reads;            /* only reads: opens the store read-only (shared lock) */
};

/* A byte string the tool owns; p is never NULL once filled, even when n is 0. */
struct bytes {
	unsigned char *p;
	size_t n;
};

/* Errors: each prints one line on stderr and returns the exit status to use. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int synopsis_error(const struct cli *c);
/* "iodb: <what>: <iodb_strerror(rc)>: <iodb_errmsg()>", EXIT_FAIL. */
int store_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int out_of_memory(void);

/* Bytes in and out. */
void print_bytes(FILE *f, int hex, const void *p, size_t n);
const char *show(const struct cli *c, const void *p, size_t n, char buf[SHOW_MAX + 4]);
int to_bytes(const struct cli *c, const char *what, const char *s, size_t n,
	     struct bytes *out);
int arg_bytes(const struct cli *c, const char *what, const char *s, struct bytes *out);
int hex_arg(const char *what, const char *s, struct bytes *out);
void bytes_free(struct bytes *b);
unsigned char *dup_bytes(const void *p, size_t n);
int read_file(const char *path, struct bytes *out);
int write_file(const char *path, const void *p, size_t n);
int parse_number(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out);
int compare_bytes(const void *a, size_t alen, const void *b, size_t blen);

/* Command arguments. */
enum {
	OPT_VID = 1 << 0,
	OPT_AT = 1 << 1,
	OPT_FROM = 1 << 2,
	OPT_TO = 1 << 3,
	OPT_REVERSE = 1 << 4,
	OPT_LIMIT = 1 << 5,
	OPT_OUT = 1 << 6,
	OPT_PROOF = 1 << 7,
	OPT_ROOT = 1 << 8,
	OPT_JSON = 1 << 9,
	OPT_AT_HEIGHT = 1 << 10, /* implied by OPT_AT: --at-height H wherever --at VID */
	OPT_COMMIT = 1 << 11,	   /* prove's --commit: a proof up to the commit hash */
	OPT_COMMIT_HASH = 1 << 12, /* verify-proof's --commit HASH: checked against HASH */
};

#define MAX_POSITIONAL 2

/* A command's arguments after the name: positionals in order, and its options. */
struct cmd_args {
	const char *pos[MAX_POSITIONAL];
	int npos;
	const char *vid, *at, *at_height, *from, *to, *limit, *out, *proof, *root;
	int reverse, json;
	int commit;		 /* --commit (prove) */
	const char *commit_hash; /* --commit HASH (verify-proof) */
};

int is_option(const struct cli *c, int i);
/* Split args[1..] into between npos_min and npos_max positionals and the options in
 * "allowed" (a later repeat of an option wins). */
int parse_cmd_args(const struct cli *c, unsigned allowed, int npos_min, int npos_max,
		   struct cmd_args *a);

#endif /* IODB_TOOLS_ARGS_H */
