/*
 * json_text.h — JSON a person wrote: a parse error that says where ("line 3,
 * column 26: not valid after ..."), and the key meant by a mistyped one. byolctl
 * and byol-train read spec files through it, so both point at the same place.
 */
#ifndef BYOL_JSON_TEXT_H
#define BYOL_JSON_TEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The value text holds (whitespace around it allowed, nothing else), or NULL
   with msg (cap bytes) saying where parsing stopped and what was there. */
cJSON *json_parse_located(const char *text, char *msg, size_t cap);

/* The key of obj nearest to a mistyped one (up to 1 edit for keys of 4
   characters or fewer, 2 for longer; a swap of neighbours is one), or NULL. */
const char *json_nearest_key(const cJSON *obj, const char *key);

/* The JSON type of v, true and false as one (a cJSON type bit). */
int json_kind(const cJSON *v);

/* "a number", "a string", "null", ... */
const char *json_kind_name(const cJSON *v);

/* What was given, for "expected a number, got ...": a scalar as JSON (a long
   string cut short, in buf), else its kind. */
const char *json_value_text(const cJSON *v, char *buf, size_t cap);

#endif
