/*
 * rpc.c — JSON-RPC 2.0 dispatch: one request line in, at most one response
 * line out, through a method table (rpc.h has the order of the checks).
 *
 * Sections: text checks (UTF-8, control characters), responses, request shape, parameter
 * checks, dispatch, helpers for handlers, tokens.
 */
#include "rpc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sent when memory runs out while building a response. */
static const char oom_line[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,"
			       "\"message\":\"Internal error: out of memory\"},\"id\":null}";

/* ---- text checks -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0: overlong
 * forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned cp, min;
	size_t len;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1fu, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0fu, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Why a line cannot be JSON text byol accepts, or NULL. It must be UTF-8; it
 * may hold no control character but tab, CR and LF (JSON allows them only as
 * whitespace, while cJSON would take them anywhere), and no NUL escaped as
 * \u0000 (a C string would end there). In valid JSON every backslash starts
 * an escape inside a string, so a byte scan that skips escaped backslashes
 * finds every \u0000. */
static const char *line_problem(const char *line, size_t len)
{
	const unsigned char *s = (const unsigned char *)line;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(s + i, len - i);
		if (k == 0)
			return "invalid UTF-8";
		if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return s[i] ? "control character" : "NUL byte";
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == '\\') {
			i += 2;
			continue;
		}
		if (s[i] == '\\' && len - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0)
			return "\\u0000 is not accepted";
		i += k;
	}
	return NULL;
}

/* Replaces bytes that are not valid UTF-8 by '?' in place. */
static void utf8_sanitize(char *str)
{
	unsigned char *s = (unsigned char *)str;
	size_t n = strlen(str);
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (k == 0) {
			s[i] = '?';
			k = 1;
		}
		i += k;
	}
}

/* ---- responses ---------------------------------------------------------- */

/* v as JSON text: integers below 10^17 in full, others with digits significant
 * digits (17 round-trips every double). */
static void format_number(char *out, size_t size, double v, int digits)
{
	if (v == floor(v) && fabs(v) < 1e17)
		snprintf(out, size, "%.0f", v);
	else
		snprintf(out, size, "%.*g", digits, v);
}

/* The specification's message for a code, or byold's. */
static const char *code_message(int code)
{
	switch (code) {
	case RPC_PARSE_ERROR: return "Parse error";
	case RPC_INVALID_REQUEST: return "Invalid Request";
	case RPC_METHOD_NOT_FOUND: return "Method not found";
	case RPC_INVALID_PARAMS: return "Invalid params";
	case RPC_UNAUTHORIZED: return "Unauthorized";
	case RPC_NOT_FOUND: return "Not found";
	case RPC_BUSY: return "Busy";
	case RPC_BAD_STATE: return "Bad state";
	}
	return "Internal error";
}

/* Adds v to object o under key; v is deleted when it cannot be added. */
static int add(cJSON *o, const char *key, cJSON *v)
{
	if (v && cJSON_AddItemToObject(o, key, v))
		return 0;
	cJSON_Delete(v);
	return ERR_NOMEM;
}

/* A copy of a request's id. A number is copied as its exact text: cJSON
 * 1.7.15 prints some doubles with 15 significant digits, which would change
 * an id like 9007199254740991. */
static cJSON *id_copy(const cJSON *id)
{
	char text[32];
	if (!id)
		return cJSON_CreateNull();
	if (!cJSON_IsNumber(id))
		return cJSON_Duplicate(id, 0);
	format_number(text, sizeof text, id->valuedouble, 17);
	return cJSON_CreateRaw(text);
}

/* {"jsonrpc":"2.0", key: value, "id": id or null}; takes value. */
static cJSON *response(const char *key, cJSON *value, const cJSON *id)
{
	cJSON *r = cJSON_CreateObject();
	if (!r || add(r, "jsonrpc", cJSON_CreateString("2.0")) < 0) {
		cJSON_Delete(value);
		goto out_fail;
	}
	if (add(r, key, value) < 0 ||
	    add(r, "id", id_copy(id)) < 0)
		goto out_fail;
	return r;
out_fail:
	cJSON_Delete(r);
	return NULL;
}

/* The error object for e: code, message (the code's own if empty) and, when a
 * field or reason is set, data {field, reason}. Strings are made UTF-8. */
static cJSON *error_object(struct rpc_error *e)
{
	cJSON *o = cJSON_CreateObject(), *data;
	utf8_sanitize(e->message);
	utf8_sanitize(e->field);
	utf8_sanitize(e->reason);
	if (!o || add(o, "code", cJSON_CreateNumber(e->code)) < 0 ||
	    add(o, "message", cJSON_CreateString(e->message[0] ? e->message :
						  code_message(e->code))) < 0)
		goto out_fail;
	if (!e->field[0] && !e->reason[0])
		return o;
	data = cJSON_CreateObject();
	if (add(o, "data", data) < 0 || add(data, "field", cJSON_CreateString(e->field)) < 0 ||
	    add(data, "reason", cJSON_CreateString(e->reason)) < 0)
		goto out_fail;
	return o;
out_fail:
	cJSON_Delete(o);
	return NULL;
}

/* Sets *resp to the error response for e; 0 or ERR_NOMEM. */
static int reply_error(const cJSON *id, struct rpc_error *e, cJSON **resp)
{
	cJSON *err = error_object(e);
	*resp = err ? response("error", err, id) : NULL;
	return *resp ? 0 : ERR_NOMEM;
}

/* ---- request shape ------------------------------------------------------ */

enum member { M_JSONRPC, M_METHOD, M_PARAMS, M_ID, M_COUNT };
static const char *const member_names[M_COUNT] = { "jsonrpc", "method", "params", "id" };

struct request {
	const cJSON *member[M_COUNT]; /* first occurrence of each, or NULL */
	const cJSON *id;              /* the id to echo: valid and unrepeated, or NULL */
	const char *method;
	const cJSON *params;
};

static int valid_id(const cJSON *id)
{
	return cJSON_IsString(id) || cJSON_IsNull(id) ||
	       (cJSON_IsNumber(id) && isfinite(id->valuedouble));
}

/* Records a −32600 with its reason; returns −1. */
static int invalid(struct rpc_error *e, const char *why, const char *name)
{
	rpc_error_set(e, RPC_INVALID_REQUEST, "Invalid Request: %s%.64s%s", why,
		      name ? name : "", name ? "\"" : "");
	return -1;
}

/* Fills r from req; 0, or −1 with e set to the −32600 to send (r->id is then
 * the id to echo, when there is a valid one given once). */
static int request_parse(const cJSON *req, struct request *r, struct rpc_error *e)
{
	const cJSON *m, *unknown = NULL;
	int count[M_COUNT] = { 0 }, repeated = -1;
	memset(r, 0, sizeof *r);
	if (!cJSON_IsObject(req))
		return invalid(e, "not an object", NULL);
	cJSON_ArrayForEach(m, req) {
		int k = 0;
		while (k < M_COUNT && strcmp(m->string, member_names[k]) != 0)
			k++;
		if (k == M_COUNT)
			unknown = unknown ? unknown : m;
		else if (count[k]++ == 0)
			r->member[k] = m;
		else if (repeated < 0)
			repeated = k;
	}
	if (count[M_ID] == 1 && valid_id(r->member[M_ID]))
		r->id = r->member[M_ID];
	if (unknown)
		return invalid(e, "unknown member \"", unknown->string);
	if (repeated >= 0)
		return invalid(e, "repeated member \"", member_names[repeated]);
	if (r->member[M_ID] && !r->id)
		return invalid(e, "id must be a string, a number or null", NULL);
	if (!cJSON_IsString(r->member[M_JSONRPC]) ||
	    strcmp(r->member[M_JSONRPC]->valuestring, "2.0") != 0)
		return invalid(e, "jsonrpc must be \"2.0\"", NULL);
	if (!cJSON_IsString(r->member[M_METHOD]))
		return invalid(e, "method must be a string", NULL);
	r->method = r->member[M_METHOD]->valuestring;
	r->params = r->member[M_PARAMS];
	if (r->params && !cJSON_IsObject(r->params) && !cJSON_IsArray(r->params))
		return invalid(e, "params must be an object or an array", NULL);
	return 0;
}

/* ---- parameter checks --------------------------------------------------- */

/* Checks lo ≤ v ≤ hi for param p; what names the unit ("", " bytes", ...). */
static int check_range(const struct rpc_param *p, double v, double lo, double hi,
		       const char *what, struct rpc_error *e)
{
	char b[32];
	if (v < lo) {
		format_number(b, sizeof b, lo, 15);
		return rpc_error_param(e, p->name, "must be at least %s%s", b, what);
	}
	if (v > hi) {
		format_number(b, sizeof b, hi, 15);
		return rpc_error_param(e, p->name, "must be at most %s%s", b, what);
	}
	return 0;
}

/* RPC_INT: integral, within ±RPC_INT_MAX and the param's bounds. */
static int check_int(const struct rpc_param *p, const cJSON *v, int bounded, struct rpc_error *e)
{
	double lo = -RPC_INT_MAX, hi = RPC_INT_MAX;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble != floor(v->valuedouble))
		return rpc_error_param(e, p->name, "must be an integer");
	if (bounded) {
		lo = fmax(lo, p->min);
		hi = fmin(hi, p->max);
	}
	return check_range(p, v->valuedouble, lo, hi, "", e);
}

/* One value against its param: type, then bounds (unless min = max = 0). */
static int check_value(const struct rpc_param *p, const cJSON *v, struct rpc_error *e)
{
	int bounded = p->min != 0 || p->max != 0;
	switch (p->type) {
	case RPC_INT:
		return check_int(p, v, bounded, e);
	case RPC_NUMBER:
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return rpc_error_param(e, p->name, "must be a number");
		return bounded ? check_range(p, v->valuedouble, p->min, p->max, "", e) : 0;
	case RPC_STRING:
		if (!cJSON_IsString(v))
			return rpc_error_param(e, p->name, "must be a string");
		return bounded ? check_range(p, (double)strlen(v->valuestring), p->min, p->max,
					     " bytes long", e) : 0;
	case RPC_BOOL:
		return cJSON_IsBool(v) ? 0 : rpc_error_param(e, p->name, "must be true or false");
	case RPC_OBJECT:
		return cJSON_IsObject(v) ? 0 : rpc_error_param(e, p->name, "must be an object");
	case RPC_ARRAY:
		if (!cJSON_IsArray(v))
			return rpc_error_param(e, p->name, "must be an array");
		return bounded ? check_range(p, cJSON_GetArraySize(v), p->min, p->max,
					     " elements long", e) : 0;
	}
	return rpc_error_set(e, RPC_INTERNAL_ERROR, "Internal error: bad type for %s", p->name);
}

static const struct rpc_param *find_param(const struct rpc_param *ps, const char *name)
{
	for (; ps && ps->name; ps++)
		if (strcmp(ps->name, name) == 0)
			return ps;
	return NULL;
}

/* Named params against the method's table: every key known (unless open) and
 * given once, every value well typed and bounded, every required key present.
 * Duplicates are found as keys whose first occurrence is another member. */
static int check_object(const struct rpc_method *m, const cJSON *params, struct rpc_error *e)
{
	const cJSON *v;
	cJSON_ArrayForEach(v, params) {
		const struct rpc_param *p = find_param(m->params, v->string);
		if (!p && m->open_params)
			continue;
		if (!p)
			return rpc_error_param(e, v->string, "unknown parameter");
		if (cJSON_GetObjectItemCaseSensitive(params, p->name) != v)
			return rpc_error_param(e, p->name, "given more than once");
		if (check_value(p, v, e) < 0)
			return e->code;
	}
	for (const struct rpc_param *p = m->params; p && p->name; p++)
		if (p->required && !cJSON_GetObjectItemCaseSensitive(params, p->name))
			return rpc_error_param(e, p->name, "required");
	return 0;
}

/* Params as a whole: absent, an object, or (for a method taking none) []. */
static int check_params(const struct rpc_method *m, const cJSON *params, struct rpc_error *e)
{
	int takes_none = !(m->params && m->params->name) && !m->open_params;
	if (cJSON_IsArray(params)) {
		if (!takes_none)
			return rpc_error_param(e, "params", "named parameters required");
		if (params->child)
			return rpc_error_param(e, "params", "this method takes no parameters");
		return 0;
	}
	return check_object(m, params, e);
}

/* ---- dispatch ----------------------------------------------------------- */

struct dispatch {
	const struct rpc_method *table;
	size_t n;
	struct rpc_conn *c;
};

static int locked_out(const struct rpc_conn *c)
{
	unsigned max = c->max_auth_failures ? c->max_auth_failures : RPC_AUTH_MAX_FAILURES;
	return !c->authed && c->auth_failures >= max;
}

static const struct rpc_method *find_method(const struct dispatch *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->table[i].name && strcmp(d->table[i].name, name) == 0)
			return &d->table[i];
	return NULL;
}

/* A failed handler's code if it is one handlers may use, else −32603. */
static int handler_code(const struct rpc_method *m, struct rpc_error *e)
{
	switch (e->code) {
	case RPC_INVALID_PARAMS: case RPC_INTERNAL_ERROR: case RPC_UNAUTHORIZED:
	case RPC_NOT_FOUND: case RPC_BUSY: case RPC_BAD_STATE:
		return e->code;
	}
	return rpc_error_set(e, RPC_INTERNAL_ERROR, "Internal error in %s", m->name);
}

/* Auth gate, existence, params, handler: 0 with *result, or a negative code
 * with e set. An unauthenticated caller learns nothing of the table past the
 * RPC_BEFORE_AUTH methods: unknown methods are −32001 to it too. */
static int run(const struct dispatch *d, const struct request *r, cJSON **result,
	       struct rpc_error *e)
{
	const struct rpc_method *m = find_method(d, r->method);
	const cJSON *params = cJSON_IsObject(r->params) ? r->params : NULL;
	*result = NULL;
	if (locked_out(d->c))
		return rpc_error_set(e, RPC_UNAUTHORIZED, "Unauthorized: too many failed auth calls");
	if (!d->c->authed && !(m && (m->flags & RPC_BEFORE_AUTH)))
		return rpc_error_set(e, RPC_UNAUTHORIZED, "Unauthorized: call auth first");
	if (!m)
		return rpc_error_set(e, RPC_METHOD_NOT_FOUND, "Method not found: %.100s", r->method);
	if (check_params(m, r->params, e) < 0)
		return e->code;
	memset(e, 0, sizeof *e);
	if (m->fn(d->c, params, result, e) != 0) {
		cJSON_Delete(*result);
		*result = NULL;
		return handler_code(m, e);
	}
	if (!*result)
		return rpc_error_set(e, RPC_INTERNAL_ERROR, "Internal error: %s gave no result",
				     m->name);
	return 0;
}

/* One request → *resp (NULL for a notification); 0 or ERR_NOMEM. */
static int handle_request(const struct dispatch *d, const cJSON *req, cJSON **resp)
{
	struct rpc_error e = { 0 };
	struct request r;
	cJSON *result;
	*resp = NULL;
	if (request_parse(req, &r, &e) < 0)
		return reply_error(r.id, &e, resp);
	if (run(d, &r, &result, &e) < 0)
		return r.member[M_ID] ? reply_error(r.id, &e, resp) : 0;
	if (!r.member[M_ID]) {
		cJSON_Delete(result);
		return 0;
	}
	*resp = response("result", result, r.id);
	return *resp ? 0 : ERR_NOMEM;
}

/* A batch → an array of the responses, or NULL when all were notifications. */
static int handle_batch(const struct dispatch *d, const cJSON *batch, cJSON **resp)
{
	struct rpc_error e = { 0 };
	int n = cJSON_GetArraySize(batch);
	const cJSON *req;
	cJSON *out;
	*resp = NULL;
	if (n == 0 || n > RPC_BATCH_MAX) {
		if (n == 0)
			rpc_error_set(&e, RPC_INVALID_REQUEST, "Invalid Request: empty batch");
		else
			rpc_error_set(&e, RPC_INVALID_REQUEST, "Invalid Request: batch of more "
				      "than %d requests", RPC_BATCH_MAX);
		return reply_error(NULL, &e, resp);
	}
	if (!(out = cJSON_CreateArray()))
		return ERR_NOMEM;
	cJSON_ArrayForEach(req, batch) {
		cJSON *r;
		if (handle_request(d, req, &r) < 0) {
			cJSON_Delete(out);
			return ERR_NOMEM;
		}
		if (r)
			cJSON_AddItemToArray(out, r); /* cannot fail for an array */
	}
	if (out->child)
		*resp = out;
	else
		cJSON_Delete(out);
	return 0;
}

/* Parses the line into *msg; 0, or −32700 with e set to the error to send. */
static int parse_line(const char *line, size_t len, cJSON **msg, struct rpc_error *e)
{
	const char *why = line_problem(line, len), *end = NULL;
	*msg = NULL;
	if (why)
		return rpc_error_set(e, RPC_PARSE_ERROR, "Parse error: %s", why);
	*msg = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (*msg) {
		while (end < line + len && *end && strchr(" \t\r\n", *end))
			end++;
		if (end == line + len)
			return 0;
		cJSON_Delete(*msg);
		*msg = NULL;
		return rpc_error_set(e, RPC_PARSE_ERROR, "Parse error: text after the JSON value");
	}
	/* cJSON_ParseWithLengthOpts reports memory exhaustion as a parse error too. */
	return rpc_error_set(e, RPC_PARSE_ERROR, "Parse error: not valid JSON");
}

int rpc_handle_line(const struct rpc_method *table, size_t n, struct rpc_conn *c,
		    const char *line, size_t len, char **out)
{
	const struct dispatch d = { table, n, c };
	struct rpc_error e = { 0 };
	cJSON *msg, *resp = NULL;
	int rc;
	*out = NULL;
	if (parse_line(line, len, &msg, &e) < 0)
		rc = reply_error(NULL, &e, &resp);
	else if (cJSON_IsArray(msg))
		rc = handle_batch(&d, msg, &resp);
	else
		rc = handle_request(&d, msg, &resp);
	cJSON_Delete(msg);
	if (rc == 0 && resp && !(*out = rpc_format(resp)))
		rc = ERR_NOMEM;
	cJSON_Delete(resp);
	if (rc < 0 && !(*out = strdup(oom_line)))
		return ERR_NOMEM;
	return locked_out(c) ? RPC_CLOSE : 0;
}

/* ---- helpers for handlers ----------------------------------------------- */

int rpc_error_set(struct rpc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	memset(err, 0, sizeof *err);
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	return code;
}

int rpc_error_param(struct rpc_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;
	memset(err, 0, sizeof *err);
	err->code = RPC_INVALID_PARAMS;
	snprintf(err->field, sizeof err->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return RPC_INVALID_PARAMS;
}

int rpc_error_from_err(struct rpc_error *err, const struct err *e)
{
	int code = RPC_INTERNAL_ERROR;
	switch (e->code) {
	case ERR_NOTFOUND: code = RPC_NOT_FOUND; break;
	case ERR_STATE: code = RPC_BAD_STATE; break;
	case ERR_BUSY: code = RPC_BUSY; break;
	case ERR_INVALID: case ERR_RANGE: code = RPC_INVALID_PARAMS; break;
	}
	return rpc_error_set(err, code, "%s", e->msg);
}

char *rpc_error_line(int code, const char *message)
{
	struct rpc_error e;
	cJSON *resp;
	char *line;
	rpc_error_set(&e, code, "%s", message ? message : "");
	if (reply_error(NULL, &e, &resp) < 0)
		return NULL;
	line = rpc_format(resp);
	cJSON_Delete(resp);
	return line;
}

int64_t rpc_param_int(const cJSON *params, const char *name, int64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) <= RPC_INT_MAX))
		return dflt; /* NaN fails too; the table keeps such values out anyway */
	return (int64_t)v->valuedouble;
}

double rpc_param_number(const cJSON *params, const char *name, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

const char *rpc_param_string(const cJSON *params, const char *name, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	return cJSON_IsString(v) ? v->valuestring : dflt;
}

int rpc_param_bool(const cJSON *params, const char *name, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

cJSON *rpc_notification(const char *method, cJSON *params)
{
	cJSON *n = cJSON_CreateObject();
	if (!n || add(n, "jsonrpc", cJSON_CreateString("2.0")) < 0 ||
	    add(n, "method", cJSON_CreateString(method)) < 0) {
		cJSON_Delete(params);
		cJSON_Delete(n);
		return NULL;
	}
	if (params && add(n, "params", params) < 0) {
		cJSON_Delete(n);
		return NULL;
	}
	return n;
}

char *rpc_format(const cJSON *msg)
{
	return cJSON_PrintUnformatted(msg);
}

/* ---- tokens ------------------------------------------------------------- */

int rpc_token_equal(const char *a, const char *b)
{
	size_t la, lb;
	volatile unsigned diff;
	if (!a || !b)
		return 0;
	la = strnlen(a, RPC_TOKEN_LEN + 1);
	lb = strnlen(b, RPC_TOKEN_LEN + 1);
	diff = (la != RPC_TOKEN_LEN) | (lb != RPC_TOKEN_LEN);
	for (size_t i = 0; i < RPC_TOKEN_LEN; i++) {
		unsigned char x = i < la ? (unsigned char)a[i] : 0;
		unsigned char y = i < lb ? (unsigned char)b[i] : 0;
		diff = diff | (unsigned)(x ^ y);
	}
	return diff == 0;
}

int rpc_auth_check(struct rpc_conn *c, const char *expected, const char *presented,
		   struct rpc_error *err)
{
	if (rpc_token_equal(expected, presented)) {
		c->authed = 1;
		c->auth_failures = 0;
		return 0;
	}
	if (!c->authed)
		c->auth_failures++;
	return rpc_error_set(err, RPC_UNAUTHORIZED, "Unauthorized: invalid token");
}
