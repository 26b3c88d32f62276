/*
 * args.c — what the iodb tool's commands share: error lines, byte strings in and out
 * (arguments as text or hex, files, printing), and a command's positionals and options.
 * See args.h.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

/* ------------------------------------------------------------------------------------ */
/* Errors */

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("iodb: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see iodb --help)\n", stderr);
	return EXIT_USAGE;
}

int synopsis_error(const struct cli *c)
{
	return usage_error("usage: iodb DIR %s%s%s", c->cmd->name, c->cmd->synopsis[0] ? " " : "",
			   c->cmd->synopsis);
}

/* Report the library failure rc about "what". Returns EXIT_FAIL. */
int store_error(int rc, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	/* Copy the detail before any other iodb call can replace it. */
	snprintf(detail, sizeof(detail), "%s", iodb_errmsg());
	fputs("iodb: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", iodb_strerror(rc));
	if (detail[0] != '\0')
		fprintf(stderr, ": %s", detail);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

int out_of_memory(void)
{
	fputs("iodb: out of memory\n", stderr);
	return EXIT_FAIL;
}

/* ------------------------------------------------------------------------------------ */
/* Bytes in and out */

static const char hex_digits[] = "0123456789abcdef";

static int all_printable(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* Write p as hex (--hex), as text when printable, else as 0x + hex. */
void print_bytes(FILE *f, int hex, const void *p, size_t n)
{
	const unsigned char *b = p;

	if (!hex && all_printable(b, n)) {
		fwrite(b, 1, n, f);
		return;
	}
	if (!hex)
		fputs("0x", f);
	for (size_t i = 0; i < n; i++) {
		putc(hex_digits[b[i] >> 4], f);
		putc(hex_digits[b[i] & 15], f);
	}
}

/* Render p like print_bytes into buf for an error message, cut short with "...". */
const char *show(const struct cli *c, const void *p, size_t n, char buf[SHOW_MAX + 4])
{
	const unsigned char *b = p;
	size_t w = 0;
	int text = !c->hex && all_printable(b, n);

	if (n == 0)
		return "\"\"";
	if (!c->hex && !text) {
		buf[w++] = '0';
		buf[w++] = 'x';
	}
	for (size_t i = 0; i < n; i++) {
		if (w + (text ? 1 : 2) > SHOW_MAX) {
			memcpy(buf + w, "...", 3);
			w += 3;
			break;
		}
		if (text) {
			buf[w++] = (char)b[i];
		} else {
			buf[w++] = hex_digits[b[i] >> 4];
			buf[w++] = hex_digits[b[i] & 15];
		}
	}
	buf[w] = '\0';
	return buf;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Fill out from the n hex digits at s (an optional 0x prefix). "what" names the argument
 * in a usage error. */
static int decode_hex(const char *what, const char *s, size_t n, struct bytes *out)
{
	unsigned char *p;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	if (n % 2 != 0)
		return usage_error("bad hex for %s: odd number of digits", what);
	p = malloc(n / 2 ? n / 2 : 1);
	if (p == NULL)
		return out_of_memory();
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(p);
			return usage_error("bad hex for %s: '%c%c'", what, s[2 * i], s[2 * i + 1]);
		}
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	out->p = p;
	out->n = n / 2;
	return EXIT_OK;
}

unsigned char *dup_bytes(const void *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);

	if (d != NULL && n > 0)
		memcpy(d, p, n);
	return d;
}

/* Fill out from the n bytes at s: hex under --hex, else as given. */
int to_bytes(const struct cli *c, const char *what, const char *s, size_t n,
	     struct bytes *out)
{
	if (c->hex)
		return decode_hex(what, s, n, out);
	out->p = dup_bytes(s, n);
	if (out->p == NULL)
		return out_of_memory();
	out->n = n;
	return EXIT_OK;
}

int arg_bytes(const struct cli *c, const char *what, const char *s, struct bytes *out)
{
	return to_bytes(c, what, s, strlen(s), out);
}

/* An argument that is hex whatever --hex says (hashes, proofs). */
int hex_arg(const char *what, const char *s, struct bytes *out)
{
	return decode_hex(what, s, strlen(s), out);
}

void bytes_free(struct bytes *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

static int file_error(const char *doing, const char *path)
{
	fprintf(stderr, "iodb: %s %s: %s\n", doing, path, strerror(errno));
	return EXIT_FAIL;
}

/* Read the whole of file path (or a pipe) into out. */
int read_file(const char *path, struct bytes *out)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	size_t n = 0, cap = 0;
	int st = EXIT_OK;

	if (f == NULL)
		return file_error("reading", path);
	while (st == EXIT_OK && !feof(f) && !ferror(f)) {
		if (n == cap) {
			unsigned char *grown = realloc(p, cap ? 2 * cap : 4096);

			if (grown == NULL) {
				st = out_of_memory();
				break;
			}
			p = grown;
			cap = cap ? 2 * cap : 4096;
		}
		n += fread(p + n, 1, cap - n, f);
	}
	if (st == EXIT_OK && ferror(f))
		st = file_error("reading", path);
	fclose(f);
	if (st != EXIT_OK) {
		free(p);
		return st;
	}
	out->p = p;
	out->n = n;
	return EXIT_OK;
}

/* Create or truncate file path and write the n bytes at p to it. */
int write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return file_error("writing", path);
	ok = fwrite(p, 1, n, f) == n;
	if (fclose(f) != 0)
		ok = 0;
	return ok ? EXIT_OK : file_error("writing", path);
}

/* Parse a decimal in [min, max] (digits only: no sign, no spaces). */
int parse_number(const char *what, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return usage_error("bad number for %s: '%s'", what, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return usage_error("bad number for %s: '%s' (expected %" PRIu64 "..%" PRIu64 ")",
				   what, s, min, max);
	*out = v;
	return EXIT_OK;
}

int compare_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
	int cmp = memcmp(a, b, alen < blen ? alen : blen);

	if (cmp != 0)
		return cmp;
	return (alen > blen) - (alen < blen);
}

/* ------------------------------------------------------------------------------------ */
/* Command arguments */

static const struct {
	const char *name;
	unsigned flag;
	int takes_value;
} cmd_options[] = {
	{ "--vid", OPT_VID, 1 },
	{ "--at", OPT_AT, 1 },
	{ "--at-height", OPT_AT_HEIGHT, 1 },
	{ "--from", OPT_FROM, 1 },
	{ "--to", OPT_TO, 1 },
	{ "--reverse", OPT_REVERSE, 0 },
	{ "--limit", OPT_LIMIT, 1 },
	{ "--out", OPT_OUT, 1 },
	{ "--proof", OPT_PROOF, 1 },
	{ "--root", OPT_ROOT, 1 },
	{ "--json", OPT_JSON, 0 },
	/* The same name, told apart by the command's allowed options. */
	{ "--commit", OPT_COMMIT, 0 },
	{ "--commit", OPT_COMMIT_HASH, 1 },
};

int is_option(const struct cli *c, int i)
{
	return i < c->literal_from && strncmp(c->args[i], "--", 2) == 0 && c->args[i][2] != '\0';
}

static void set_cmd_option(struct cmd_args *a, unsigned flag, const char *value)
{
	switch (flag) {
	case OPT_VID:
		a->vid = value;
		break;
	case OPT_AT:
		a->at = value;
		break;
	case OPT_AT_HEIGHT:
		a->at_height = value;
		break;
	case OPT_FROM:
		a->from = value;
		break;
	case OPT_TO:
		a->to = value;
		break;
	case OPT_REVERSE:
		a->reverse = 1;
		break;
	case OPT_LIMIT:
		a->limit = value;
		break;
	case OPT_OUT:
		a->out = value;
		break;
	case OPT_PROOF:
		a->proof = value;
		break;
	case OPT_ROOT:
		a->root = value;
		break;
	case OPT_JSON:
		a->json = 1;
		break;
	case OPT_COMMIT:
		a->commit = 1;
		break;
	case OPT_COMMIT_HASH:
		a->commit_hash = value;
		break;
	}
}

int parse_cmd_args(const struct cli *c, unsigned allowed, int npos_min, int npos_max,
		   struct cmd_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < c->nargs; i++) {
		size_t k;

		if (!is_option(c, i)) {
			if (a->npos == npos_max)
				return synopsis_error(c);
			a->pos[a->npos++] = c->args[i];
			continue;
		}
		for (k = 0; k < sizeof(cmd_options) / sizeof(cmd_options[0]); k++)
			if (strcmp(c->args[i], cmd_options[k].name) == 0 &&
			    (!(cmd_options[k].flag & (OPT_COMMIT | OPT_COMMIT_HASH)) ||
			     (cmd_options[k].flag & allowed)))
				break;
		if (k == sizeof(cmd_options) / sizeof(cmd_options[0]) ||
		    !(cmd_options[k].flag & (allowed & OPT_AT ? allowed | OPT_AT_HEIGHT : allowed)))
			return usage_error("%s: unknown option %s", c->cmd->name, c->args[i]);
		if (cmd_options[k].takes_value && i + 1 == c->nargs)
			return usage_error("%s: %s needs a value", c->cmd->name, c->args[i]);
		set_cmd_option(a, cmd_options[k].flag,
			       cmd_options[k].takes_value ? c->args[++i] : NULL);
	}
	if (a->npos < npos_min)
		return synopsis_error(c);
	if (a->at && a->at_height)
		return usage_error("%s: --at and --at-height exclude each other", c->cmd->name);
	return EXIT_OK;
}

