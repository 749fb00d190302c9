/*
 * util.c — byolctl's small helpers (see util.h).
 */
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

int ctl_errf(struct ctl_err *e, int exit, const char *fmt, ...)
{
	va_list ap;
	e->exit = exit;
	e->code = 0;
	e->field[0] = e->reason[0] = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return exit;
}

/* ---- reading results ---------------------------------------------------------- */

double json_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

long json_long(const cJSON *o, const char *key)
{
	double v = json_num(o, key);
	return isfinite(v) ? (long)v : -1;
}

cJSON *json_from_arg(const char *text)
{
	cJSON *v = cJSON_ParseWithOpts(text, NULL, 1);
	return v ? v : cJSON_CreateString(text);
}

const cJSON *json_path(const cJSON *o, const char *dotted)
{
	char key[256];
	while (o && *dotted) {
		size_t n = strcspn(dotted, ".");
		if (n >= sizeof key)
			return NULL;
		memcpy(key, dotted, n);
		key[n] = 0;
		o = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
		dotted += n + (dotted[n] == '.');
	}
	return o;
}

static void flatten_at(const cJSON *o, char *path, size_t len, size_t cap,
		       void (*fn)(void *ctx, const char *path, const cJSON *v), void *ctx)
{
	if (!cJSON_IsObject(o)) {
		fn(ctx, path, o);
		return;
	}
	for (const cJSON *c = o->child; c; c = c->next) {
		int n = snprintf(path + len, cap - len, "%s%s", len ? "." : "", c->string);
		if (n > 0 && len + (size_t)n < cap)
			flatten_at(c, path, len + (size_t)n, cap, fn, ctx);
		path[len] = 0;
	}
}

void json_flatten(const cJSON *o, void (*fn)(void *ctx, const char *path, const cJSON *v),
		  void *ctx)
{
	char path[512] = "";
	flatten_at(o, path, 0, sizeof path, fn, ctx);
}

/* ---- formatting ------------------------------------------------------------------ */

void fmt_num(char *out, size_t n, const char *fmt, double v)
{
	if (isnan(v))
		snprintf(out, n, "-");
	else
		snprintf(out, n, fmt, v);
}

void fmt_value(char *out, size_t n, const cJSON *v)
{
	if (!v) {
		snprintf(out, n, "-");
	} else if (cJSON_IsString(v)) {
		snprintf(out, n, "%s", v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		snprintf(out, n, "%.10g", v->valuedouble);
	} else {
		char *text = cJSON_PrintUnformatted(v);
		snprintf(out, n, "%s", text ? text : "?");
		free(text);
	}
}

/* An RFC 3339 UTC time ("2026-11-28T02:03:04.567Z") as seconds since the epoch. */
static int parse_time(const char *s, double *t)
{
	struct tm tm = { 0 };
	double sec = 0;
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%lf", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_sec = (int)sec;
	*t = (double)timegm(&tm) + (sec - floor(sec));
	return 0;
}

void fmt_time(char *out, size_t n, const char *rfc3339)
{
	double t;
	struct tm tm;
	if (parse_time(rfc3339, &t) != 0) {
		snprintf(out, n, "%s", rfc3339 ? rfc3339 : "-");
		return;
	}
	time_t tt = (time_t)t;
	localtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

double time_since(const char *rfc3339)
{
	struct timespec now;
	double t;
	if (parse_time(rfc3339, &t) != 0)
		return NAN;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + now.tv_nsec * 1e-9 - t;
}

double time_between(const char *a, const char *b)
{
	double ta, tb;
	return parse_time(a, &ta) == 0 && parse_time(b, &tb) == 0 ? tb - ta : NAN;
}

void fmt_duration(char *out, size_t n, double s)
{
	if (!isfinite(s) || s < 0) {
		snprintf(out, n, "-");
		return;
	}
	long t = lround(s);
	if (t >= 3600)
		snprintf(out, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(out, n, "%lds", t);
}

void fmt_bytes(char *out, size_t n, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, n, "%.0f B", bytes);
	else
		snprintf(out, n, "%.1f %s", bytes, units[u]);
}

long clock_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- files and the terminal --------------------------------------------------------- */

char *file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 4096 + 1) {
			char *nb = realloc(buf, cap = cap ? 2 * cap : 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int saved = errno;
		free(buf);
		fclose(f);
		errno = saved ? saved : EIO;
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

int term_width(int fd)
{
	struct winsize ws;
	if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *env = getenv("COLUMNS");
	int cols = env ? atoi(env) : 0;
	return cols > 0 ? cols : 0;
}

size_t utf8_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

size_t utf8_prefix(const char *s, size_t max_cols)
{
	size_t i = 0, w = 0;
	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80 && w++ == max_cols)
			break;
	}
	return i;
}
