/*
 * table.c — text tables fitted to the terminal (see table.h).
 */
#include "table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define TABLE_GAP 2     /* spaces between columns */
#define TABLE_MIN_COL 4 /* a column is never cut narrower than this (or its content) */

struct table {
	int n;          /* columns */
	char **cells;   /* headers, then the rows' cells, row-major */
	size_t n_cells, cap;
	unsigned char *flex, *right;
};

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	return d ? memcpy(d, s, n) : NULL;
}

static int push(struct table *t, char *s)
{
	if (!s)
		return -1;
	if (t->n_cells == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		char **c = realloc(t->cells, cap * sizeof *c);
		if (!c) {
			free(s);
			return -1;
		}
		t->cells = c;
		t->cap = cap;
	}
	t->cells[t->n_cells++] = s;
	return 0;
}

struct table *table_new(int n, const char *const *headers)
{
	struct table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->n = n;
	t->flex = calloc((size_t)n, 1);
	t->right = calloc((size_t)n, 1);
	int ok = t->flex && t->right;
	for (int i = 0; ok && i < n; i++)
		ok = push(t, dup_str(headers[i])) == 0;
	if (!ok) {
		table_free(t);
		return NULL;
	}
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_cells; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->flex);
	free(t->right);
	free(t);
}

void table_flex(struct table *t, int col)
{
	t->flex[col] = 1;
}

void table_right(struct table *t, int col)
{
	t->right[col] = 1;
}

void table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char buf[4096];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++) /* one cell, one line */
		if (*p == '\n' || *p == '\t' || *p == '\r')
			*p = ' ';
	push(t, dup_str(buf));
}

int table_rows(const struct table *t)
{
	return (int)(t->n_cells / (size_t)t->n) - 1;
}

/* Narrows the widest column among those allowed (flexible ones first) until the
 * row fits in width; stops when nothing can give. */
static void fit(const struct table *t, size_t *w, const size_t *floor_w, int width)
{
	size_t total = 0;
	for (int i = 0; i < t->n; i++)
		total += w[i] + (i ? TABLE_GAP : 0);
	for (int pass = 0; pass < 2 && total > (size_t)width; pass++) {
		while (total > (size_t)width) {
			int best = -1;
			for (int i = 0; i < t->n; i++)
				if ((pass || t->flex[i]) && w[i] > floor_w[i] &&
				    (best < 0 || w[i] > w[best]))
					best = i;
			if (best < 0)
				break;
			w[best]--;
			total--;
		}
	}
}

static void print_cell(FILE *f, const char *s, size_t w, int right, int last)
{
	size_t cols = utf8_width(s);
	if (cols > w) {
		size_t keep = w ? w - 1 : 0;
		fprintf(f, "%.*s…", (int)utf8_prefix(s, keep), s);
		return;
	}
	if (right)
		fprintf(f, "%*s%s", (int)(w - cols), "", s);
	else
		fprintf(f, "%s%*s", s, last ? 0 : (int)(w - cols), "");
}

void table_print(const struct table *t, FILE *f, int width)
{
	size_t *w = calloc((size_t)t->n, sizeof *w), *floor_w = calloc((size_t)t->n, sizeof *w);
	if (!w || !floor_w)
		goto out;
	for (size_t i = 0; i < t->n_cells; i++) {
		size_t cw = utf8_width(t->cells[i]), col = i % (size_t)t->n;
		if (cw > w[col])
			w[col] = cw;
	}
	for (int i = 0; i < t->n; i++) {
		size_t h = utf8_width(t->cells[i]);
		floor_w[i] = w[i] < TABLE_MIN_COL ? w[i] : h > TABLE_MIN_COL ? (h < w[i] ? h : w[i])
									      : TABLE_MIN_COL;
	}
	if (width > 0)
		fit(t, w, floor_w, width);
	for (size_t i = 0; i + (size_t)t->n <= t->n_cells; i += (size_t)t->n) {
		for (int c = 0; c < t->n; c++) {
			if (c)
				fprintf(f, "%*s", TABLE_GAP, "");
			print_cell(f, t->cells[i + (size_t)c], w[c], t->right[c], c == t->n - 1);
		}
		fputc('\n', f);
	}
out:
	free(w);
	free(floor_w);
}
