/*
 * json_text.h — parsing a JSON document a person wrote, with an error that
 * says where: "line 3, column 25: unexpected '}'". byolctl and byol-train
 * read spec files through it, so both point at the same place.
 */
#ifndef BYOL_JSON_TEXT_H
#define BYOL_JSON_TEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The value text holds (whitespace around it allowed, nothing else), or NULL
   with msg (cap bytes) saying where parsing stopped and what was there. */
cJSON *json_parse_located(const char *text, char *msg, size_t cap);

#endif
