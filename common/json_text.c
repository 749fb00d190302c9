/*
 * json_text.c — JSON with error positions (see json_text.h).
 */
#include "json_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *json_parse_located(const char *text, char *msg, size_t cap)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithOpts(text, &end, 1);
	if (v)
		return v;
	if (!end)
		end = text;
	int line = 1, column = 1;
	for (const char *p = text; p < end; p++) {
		if (*p == '\n')
			line++, column = 1;
		else if (((unsigned char)*p & 0xC0) != 0x80) /* a character, not a UTF-8 tail */
			column++;
	}
	/* the text just before the point, on its line: what a reader looks for */
	const char *from = end;
	while (from > text && from[-1] != '\n' && end - from < 24)
		from--;
	while (from < end && (*from == ' ' || *from == '\t'))
		from++;
	int n = (int)(end - from);
	while (n > 0 && (from[n - 1] == ' ' || from[n - 1] == '\t' || from[n - 1] == '\r'))
		n--;
	if (!*end)
		snprintf(msg, cap, "line %d, column %d: the text ends too early", line, column);
	else if (n > 0)
		snprintf(msg, cap, "line %d, column %d: not valid after '%.*s'", line, column, n, from);
	else if ((unsigned char)*end > 0x20 && (unsigned char)*end < 0x7F)
		snprintf(msg, cap, "line %d, column %d: unexpected '%c' (a comma missing before it?)",
			 line, column, *end);
	else
		snprintf(msg, cap, "line %d, column %d: not valid JSON", line, column);
	return NULL;
}

/* Edits (insert, delete, replace, swap of neighbours) from a to b, up to 3. */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40 || (la > lb ? la - lb : lb - la) > 3)
		return 4;
	int d[41][41];
	for (size_t i = 0; i <= la; i++)
		for (size_t j = 0; j <= lb; j++) {
			if (!i || !j) {
				d[i][j] = (int)(i + j);
				continue;
			}
			int best = d[i - 1][j - 1] + ((a[i - 1] | 32) != (b[j - 1] | 32));
			best = d[i - 1][j] + 1 < best ? d[i - 1][j] + 1 : best;
			best = d[i][j - 1] + 1 < best ? d[i][j - 1] + 1 : best;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *json_nearest_key(const cJSON *obj, const char *key)
{
	const cJSON *k, *best = NULL;
	int best_d = 4, allowed = strlen(key) <= 4 ? 1 : 2;
	cJSON_ArrayForEach(k, obj) {
		int d = distance(key, k->string);
		if (d < best_d)
			best_d = d, best = k;
	}
	return best && best_d <= allowed ? best->string : NULL;
}

/* The JSON type, with true and false as one. */
int json_kind(const cJSON *v)
{
	return cJSON_IsBool(v) ? cJSON_True : v->type & 0xFF;
}

const char *json_kind_name(const cJSON *v)
{
	switch (json_kind(v)) {
	case cJSON_True: return "a boolean";
	case cJSON_NULL: return "null";
	case cJSON_Number: return "a number";
	case cJSON_String: return "a string";
	case cJSON_Array: return "an array";
	case cJSON_Object: return "an object";
	}
	return "an invalid value";
}

/* What was given, for "got ...": a scalar as JSON (a long string cut short), else
   its kind. */
const char *json_value_text(const cJSON *v, char *buf, size_t cap)
{
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return json_kind_name(v);
	char *text = cJSON_PrintUnformatted(v);
	if (!text)
		return json_kind_name(v);
	size_t n = strlen(text);
	if (n < cap)
		snprintf(buf, cap, "%s", text);
	else
		snprintf(buf, cap, "%.*s…\"", (int)(cap - 6), text);
	free(text);
	return buf;
}

