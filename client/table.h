/*
 * table.h — text tables for people, fitted to the terminal's width.
 *
 * Columns take their widest cell; when the row would pass the width, the
 * columns marked flexible give up space first (widest first), then the others,
 * and cut cells end in "…". Numbers read best right-aligned.
 *
 *	static const char *const head[] = {"ID", "NAME", "STATE"};
 *	struct table *t = table_new(3, head);
 *	table_flex(t, 1);
 *	table_right(t, 0);
 *	table_cell(t, "%ld", id); table_cell(t, "%s", name); table_cell(t, "%s", state);
 *	table_print(t, stdout, c->width);
 *	table_free(t);
 */
#ifndef BYOLCTL_TABLE_H
#define BYOLCTL_TABLE_H

#include <stdio.h>

struct table;

/* A table with n columns and these headers (copied); NULL if out of memory. */
struct table *table_new(int n, const char *const *headers);
void table_free(struct table *t);

/* Column col shrinks before the others. */
void table_flex(struct table *t, int col);
/* Column col is right-aligned. */
void table_right(struct table *t, int col);

/* Appends a cell to the current row (a row is full after n cells). */
void table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rows added so far. */
int table_rows(const struct table *t);

/* Prints headers and rows within width columns (0: no limit). */
void table_print(const struct table *t, FILE *f, int width);

#endif
