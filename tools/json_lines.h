/*
 * json_lines.h — private to the iodb tool: a JSON object laid out for people, one member
 * per line (json_lines.c).
 */
#ifndef IODB_TOOLS_JSON_LINES_H
#define IODB_TOOLS_JSON_LINES_H

#include <stddef.h>
#include <stdio.h>

/* Deepest nesting json_lines_print accepts: the top-level object is depth 1. */
#define JSON_LINES_MAX_DEPTH 4

/*
 * Print the JSON object in text[0..len) to out, one member per line: the name, then its
 * value in a column shared by every line. A member that is an object prints its name alone
 * as a heading, and its own members below it, indented two spaces per level. Values:
 * numbers and true/false/null as written; strings without their quotes, with \" \\ and \/
 * decoded (any other escape stays as written, so that a value stays on one line).
 *
 * Returns 0, or -1 when text is not one object of such values and objects (arrays are
 * not accepted), or nests deeper than JSON_LINES_MAX_DEPTH, or out of memory; nothing is
 * written then. *bad_offset (if not NULL) is set to the offset where parsing stopped.
 */
int json_lines_print(FILE *out, const char *text, size_t len, size_t *bad_offset);

#endif /* IODB_TOOLS_JSON_LINES_H */
