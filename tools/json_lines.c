/*
 * json_lines.c — the iodb tool's layout of a JSON object for people (`iodb DIR stats`).
 *
 * Two passes. The first parses the whole text into a flat list of lines (depth, name,
 * value) and fails on anything outside the small grammar it accepts; the second prints
 * them with the values in one column. So a text it cannot read prints nothing, and the
 * caller can fall back to the text itself.
 *
 * The grammar: an object whose members are numbers, strings, true, false, null, or objects
 * of the same (at most JSON_LINES_MAX_DEPTH deep, the top-level one included); RFC 8259's
 * whitespace between tokens. Every read is checked against the end of the text: the text
 * needs no terminating NUL and may be cut anywhere. Strings must hold no raw control
 * character and only JSON's escapes (\uXXXX with four hex digits), so a printed line never
 * breaks. Duplicate names are printed as they come.
 */
#include <stdlib.h>
#include <string.h>

#include "json_lines.h"

/* One printed line: a member (value set) or an object's heading (value NULL). */
struct jl_line {
	int depth;           /* 0: a member of the top-level object */
	const char *name;    /* the name's characters inside its quotes (escapes as written) */
	size_t name_len;
	const char *value;   /* a string's characters inside its quotes, or a literal */
	size_t value_len;
};

struct jl {
	const char *p, *end;
	struct jl_line *v;
	size_t n, cap;
};

static void skip_ws(struct jl *j)
{
	while (j->p < j->end &&
	       (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* ch is one of the characters of set (never the NUL that ends set). */
static int one_of(char ch, const char *set)
{
	return ch != '\0' && strchr(set, ch) != NULL;
}

static int is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* At a '"': leave j->p past the closing quote, and s, n on the characters between the
 * quotes. */
static int parse_string(struct jl *j, const char **s, size_t *n)
{
	const char *p = j->p + 1;

	if (j->p >= j->end || *j->p != '"')
		return -1;
	while (p < j->end && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return -1;
		if (*p != '\\') {
			p++;
			continue;
		}
		if (j->end - p < 2)
			return -1;
		if (p[1] == 'u') {
			if (j->end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) ||
			    !is_hex(p[5]))
				return -1;
			p += 6;
		} else if (one_of(p[1], "\"\\/bfnrt")) {
			p += 2;
		} else {
			return -1;
		}
	}
	if (p >= j->end)
		return -1;
	*s = j->p + 1;
	*n = (size_t)(p - (j->p + 1));
	j->p = p + 1;
	return 0;
}

static int is_digit(const struct jl *j, const char *p)
{
	return p < j->end && *p >= '0' && *p <= '9';
}

/* A number as RFC 8259 writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct jl *j)
{
	const char *p = j->p;

	if (p < j->end && *p == '-')
		p++;
	if (!is_digit(j, p))
		return -1;
	if (*p == '0')
		p++;
	else
		while (is_digit(j, p))
			p++;
	if (p < j->end && *p == '.') {
		if (!is_digit(j, ++p))
			return -1;
		while (is_digit(j, p))
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(j, p))
			return -1;
		while (is_digit(j, p))
			p++;
	}
	j->p = p;
	return 0;
}

static int parse_literal(struct jl *j)
{
	static const char *const words[] = { "true", "false", "null" };
	size_t left = (size_t)(j->end - j->p);

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);

		if (left >= n && memcmp(j->p, words[i], n) == 0) {
			j->p += n;
			return 0;
		}
	}
	return -1;
}

static struct jl_line *add_line(struct jl *j)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? 2 * j->cap : 64;
		struct jl_line *grown = realloc(j->v, cap * sizeof(*grown));

		if (grown == NULL)
			return NULL;
		j->v = grown;
		j->cap = cap;
	}
	return &j->v[j->n++];
}

/* At a '{' whose members are at `depth`: add their lines, leave j->p after its '}'. */
static int parse_object(struct jl *j, int depth)
{
	if (depth >= JSON_LINES_MAX_DEPTH || j->p >= j->end || *j->p != '{')
		return -1;
	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		struct jl_line *line;
		const char *name, *value;
		size_t name_len;

		skip_ws(j);
		if (parse_string(j, &name, &name_len) != 0)
			return -1;
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return -1;
		j->p++;
		skip_ws(j);
		if (j->p >= j->end || (line = add_line(j)) == NULL)
			return -1;
		*line = (struct jl_line){ depth, name, name_len, NULL, 0 };
		value = j->p;
		if (*j->p == '{') {
			if (parse_object(j, depth + 1) != 0)
				return -1;
		} else if (*j->p == '"') {
			const char *s;
			size_t n;

			if (parse_string(j, &s, &n) != 0)
				return -1;
			line->value = s;
			line->value_len = n;
		} else {
			if ((*j->p == '-' || (*j->p >= '0' && *j->p <= '9') ? parse_number(j)
									    : parse_literal(j)) != 0)
				return -1;
			line->value = value;
			line->value_len = (size_t)(j->p - value);
		}
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return 0;
		}
		return -1;
	}
}

/* The characters a name or string value prints as: \" \\ \/ print as one. */
static size_t shown_len(const char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++, w++)
		if (s[i] == '\\' && i + 1 < n && one_of(s[i + 1], "\"\\/"))
			i++;
	return w;
}

static void print_spaces(FILE *out, size_t n)
{
	while (n-- > 0)
		putc(' ', out);
}

static void print_shown(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && one_of(s[i + 1], "\"\\/"))
			i++;
		putc(s[i], out);
	}
}

int json_lines_print(FILE *out, const char *text, size_t len, size_t *bad_offset)
{
	struct jl j = { text, text + len, NULL, 0, 0 };
	size_t width = 0;
	int rc;

	skip_ws(&j);
	rc = parse_object(&j, 0);
	if (rc == 0) {
		skip_ws(&j);
		rc = j.p == j.end ? 0 : -1;
	}
	if (rc != 0) {
		if (bad_offset != NULL)
			*bad_offset = (size_t)(j.p - text);
		free(j.v);
		return -1;
	}
	/* Values start two columns past the longest indented name. */
	for (size_t i = 0; i < j.n; i++) {
		size_t w = 2 * (size_t)j.v[i].depth + shown_len(j.v[i].name, j.v[i].name_len);

		if (j.v[i].value != NULL && w > width)
			width = w;
	}
	for (size_t i = 0; i < j.n; i++) {
		const struct jl_line *l = &j.v[i];
		size_t w = 2 * (size_t)l->depth + shown_len(l->name, l->name_len);

		print_spaces(out, 2 * (size_t)l->depth);
		print_shown(out, l->name, l->name_len);
		if (l->value != NULL && l->value_len > 0) {
			print_spaces(out, width + 2 - w);
			print_shown(out, l->value, l->value_len);
		}
		putc('\n', out);
	}
	free(j.v);
	return 0;
}
