/*
 * json_text.c — JSON with error positions (see json_text.h).
 */
#include "json_text.h"

#include <stdio.h>
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
