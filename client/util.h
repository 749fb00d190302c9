/*
 * util.h — byolctl's small helpers: the error it carries to main, reading
 * fields of JSON results, and formatting numbers, times and sizes for people.
 */
#ifndef BYOLCTL_UTIL_H
#define BYOLCTL_UTIL_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* A failure: the exit code, the JSON-RPC error code behind it (0 if none), and
 * a message that says what to do. field/reason: a −32602's data, if any. */
struct ctl_err {
	int exit;
	int code;
	char msg[1024];
	char field[128];
	char reason[256];
};

/* Sets e (code, field and reason cleared) and returns exit. */
int ctl_errf(struct ctl_err *e, int exit, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- reading results ---------------------------------------------------------- */

/* o[key] as a number, NAN when absent, null or not a number. */
double json_num(const cJSON *o, const char *key);
/* o[key] as a string, NULL when absent or not a string. */
const char *json_str(const cJSON *o, const char *key);
/* o[key] as an id or count, -1 when absent. */
long json_long(const cJSON *o, const char *key);
/* An argument as JSON if it parses as JSON, else as a string (--set, history). */
cJSON *json_from_arg(const char *text);
/* The value at a dotted path inside o ("train.epochs"), or NULL. */
const cJSON *json_path(const cJSON *o, const char *dotted);
/* Calls fn for every leaf of o with its dotted path; arrays are leaves. */
void json_flatten(const cJSON *o, void (*fn)(void *ctx, const char *path, const cJSON *v),
		  void *ctx);

/* ---- formatting (out always NUL-terminated) ------------------------------------- */

/* v with fmt, or "-" when v is NAN. */
void fmt_num(char *out, size_t n, const char *fmt, double v);
/* A compact scalar: strings as is, numbers as %g, others as JSON. */
void fmt_value(char *out, size_t n, const cJSON *v);
/* An RFC 3339 UTC time as local "YYYY-MM-DD HH:MM:SS"; "-" for NULL. */
void fmt_time(char *out, size_t n, const char *rfc3339);
/* Seconds since an RFC 3339 UTC time; NAN if it does not parse. */
double time_since(const char *rfc3339);
/* Seconds between two RFC 3339 times (b − a); NAN if either does not parse. */
double time_between(const char *a, const char *b);
/* A duration as "1h02m", "3m05s" or "42s"; "-" for NAN. */
void fmt_duration(char *out, size_t n, double seconds);
/* Bytes as "512 B", "1.5 MiB", ... */
void fmt_bytes(char *out, size_t n, double bytes);

/* Milliseconds on the monotonic clock. */
long clock_ms(void);

/* ---- files and the terminal ------------------------------------------------------ */

/* The whole file at path (NUL-terminated, *len excludes the NUL); NULL with errno. */
char *file_read(const char *path, size_t *len);
/* Columns of the terminal on fd, else $COLUMNS, else 0 (unlimited). */
int term_width(int fd);
/* Columns a UTF-8 string takes (one per code point). */
size_t utf8_width(const char *s);
/* The byte length of s's first max_cols code points. */
size_t utf8_prefix(const char *s, size_t max_cols);

#endif
