/*
 * rpc.c — JSON-RPC 2.0 dispatch: one request line in, at most one response
 * line out, through a method table (rpc.h has the order of the checks).
 *
 * Sections: text checks (UTF-8, control characters), request shape, parameter
 * checks, dispatch, raw ids, calls. Responses, helpers and tokens: rpc_reply.c.
 */
#include "server/rpc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/rpc_reply.h"
#include "utf8.h"

/* ---- text checks -------------------------------------------------------- */

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
		size_t k = utf8_seq(s + i, len - i, NULL);
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
		rpc_format_number(b, sizeof b, lo, 15);
		return rpc_error_param(e, p->name, "must be at least %s%s", b, what);
	}
	if (v > hi) {
		rpc_format_number(b, sizeof b, hi, 15);
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

static int parse_line(const char *line, size_t len, cJSON **msg, struct rpc_error *e);

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

/* Auth gate, existence, params: the method, or NULL with e set. An unauthenticated
 * caller learns nothing of the table past the RPC_BEFORE_AUTH methods: unknown
 * methods are −32001 to it too. */
static const struct rpc_method *admit(const struct dispatch *d, const struct request *r,
				      struct rpc_error *e)
{
	const struct rpc_method *m = find_method(d, r->method);
	if (locked_out(d->c))
		rpc_error_set(e, RPC_UNAUTHORIZED, "Unauthorized: too many failed auth calls");
	else if (!d->c->authed && !(m && (m->flags & RPC_BEFORE_AUTH)))
		rpc_error_set(e, RPC_UNAUTHORIZED, "Unauthorized: call auth first");
	else if (!m)
		rpc_error_set(e, RPC_METHOD_NOT_FOUND, "Method not found: %.100s", r->method);
	else if (check_params(m, r->params, e) == 0)
		return m;
	return NULL;
}

/* The handler of an admitted request: 0 with *result, or a negative code with e set. */
static int run(const struct dispatch *d, const struct rpc_method *m, const struct request *r,
	       cJSON **result, struct rpc_error *e)
{
	const cJSON *params = cJSON_IsObject(r->params) ? r->params : NULL;
	*result = NULL;
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

/* ---- raw ids -------------------------------------------------------------- */

/* cJSON keeps numbers as doubles, so an id like 2^63 − 1 cannot be echoed from
 * its value; its text is found in the line instead. The line is valid JSON
 * (cJSON parsed it), so these scans need not check syntax. */
static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++)
		if (*p == '\\')
			p++;
	return p < end ? p + 1 : end;
}

static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;
	if (p < end && *p == '"')
		return skip_string(p, end);
	if (p < end && (*p == '{' || *p == '[')) {
		while (p < end) {
			if (*p == '"') {
				p = skip_string(p, end);
				continue;
			}
			if (*p == '{' || *p == '[')
				depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return end;
	}
	while (p < end && !strchr(",]} \t\r\n", *p))
		p++;
	return p;
}

/* Whether s[0..n) is a number as JSON writes one (cJSON also takes 01, 1. and .5). */
static int json_number(const char *s, size_t n)
{
	size_t i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0')
		i++;
	else if (i < n && s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		if (++i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* The text of the first "id" member of the object at p, when it is a number. */
static char *object_raw_id(const char *p, const char *end)
{
	char *found = NULL;
	p = skip_ws(p + 1, end);
	while (p < end && *p == '"') {
		const char *k = p, *v;
		p = skip_string(p, end);
		int is_id = p - k == 4 && memcmp(k, "\"id\"", 4) == 0;
		p = skip_ws(p, end);
		v = p = skip_ws(p + 1, end); /* past ':' */
		p = skip_value(p, end);
		if (is_id && !found && v < end && json_number(v, (size_t)(p - v)))
			found = strndup(v, (size_t)(p - v));
		p = skip_ws(p, end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	return found;
}

/* ---- calls ---------------------------------------------------------------- */

enum { PREP_NONE, PREP_WAIT, PREP_READY };

struct rpc_call {
	struct dispatch d;
	cJSON *msg;                 /* the parsed line (NULL after a parse error) */
	const cJSON *next;          /* the next request to answer; NULL when none is left */
	int batch;                  /* the line is an array of requests */
	int index;                  /* position of next in the batch */
	char **raw_ids;             /* per request: the id's text when it is a number */
	int n_raw;
	struct rpc_error line_err;  /* the line's own error (parse, empty batch), or code 0 */
	/* responses so far, formatted: "r1,r2,..." */
	char *buf;
	size_t len, cap;
	int count, nomem;
	/* a request whose method prepares off the loop */
	int stage;
	const struct rpc_method *m;
	struct request r;
	void *prepared;
	int prep_rc;
	struct rpc_error prep_err;
};

/* Appends a response's text to the call's output; takes resp. */
static void append(struct rpc_call *k, cJSON *resp)
{
	char *text = resp ? rpc_format(resp) : NULL;
	cJSON_Delete(resp);
	size_t n = text ? strlen(text) : 0;
	if (!text || k->nomem) {
		k->nomem = 1;
		free(text);
		return;
	}
	if (k->len + n + 2 > k->cap) {
		size_t cap = k->cap ? k->cap : 256;
		while (cap < k->len + n + 2)
			cap *= 2;
		char *buf = realloc(k->buf, cap);
		if (!buf) {
			k->nomem = 1;
			free(text);
			return;
		}
		k->buf = buf;
		k->cap = cap;
	}
	if (k->count++)
		k->buf[k->len++] = ',';
	memcpy(k->buf + k->len, text, n);
	k->len += n;
	free(text);
}

static cJSON *with_raw_id(struct rpc_call *k, const struct request *r, cJSON *resp)
{
	const char *raw = k->index < k->n_raw ? k->raw_ids[k->index] : NULL;
	if (resp && raw && cJSON_IsNumber(r->id)) {
		cJSON *id = cJSON_CreateRaw(raw);
		if (!id || !cJSON_ReplaceItemInObjectCaseSensitive(resp, "id", id)) {
			cJSON_Delete(id);
			cJSON_Delete(resp);
			return NULL;
		}
	}
	return resp;
}

static void answer_error(struct rpc_call *k, const struct request *r, struct rpc_error *e)
{
	cJSON *resp;
	if (rpc_reply_error(r->id, e, &resp) < 0)
		k->nomem = 1;
	else
		append(k, with_raw_id(k, r, resp));
}

static void answer_result(struct rpc_call *k, const struct request *r, cJSON *result)
{
	if (!r->member[M_ID]) {
		cJSON_Delete(result);
		return;
	}
	cJSON *resp = rpc_response("result", result, r->id);
	if (!resp)
		k->nomem = 1;
	else
		append(k, with_raw_id(k, r, resp));
}

static void advance(struct rpc_call *k)
{
	k->next = k->batch ? k->next->next : NULL;
	k->index++;
}

/* Runs the request r admitted for method m (its preparation, if any, done). */
static void answer_run(struct rpc_call *k, const struct rpc_method *m, const struct request *r)
{
	struct rpc_error e = { 0 };
	cJSON *result;
	if (run(&k->d, m, r, &result, &e) < 0) {
		if (r->member[M_ID])
			answer_error(k, r, &e);
	} else {
		answer_result(k, r, result);
	}
}

static void finish_prepared(struct rpc_call *k)
{
	k->stage = PREP_NONE;
	if (k->prep_rc < 0) {
		if (k->r.member[M_ID])
			answer_error(k, &k->r, &k->prep_err);
	} else {
		k->d.c->prepared = k->prepared;
		answer_run(k, k->m, &k->r);
		k->d.c->prepared = NULL;
	}
	if (k->m->release && k->prepared)
		k->m->release(k->prepared);
	k->prepared = NULL;
	advance(k);
}

/* Sets up the line's requests; a line that is not JSON, or an empty or oversized
 * batch, is answered by the first step. */
static void call_parse(struct rpc_call *k, const char *line, size_t len)
{
	const char *end = line + len, *p = line;
	if (len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* a byte order mark, which cJSON skips too */
	p = skip_ws(p, end);
	if (parse_line(line, len, &k->msg, &k->line_err) < 0)
		return;
	k->batch = cJSON_IsArray(k->msg);
	int n = k->batch ? cJSON_GetArraySize(k->msg) : 1;
	if (k->batch && n == 0) {
		rpc_error_set(&k->line_err, RPC_INVALID_REQUEST, "Invalid Request: empty batch");
		return;
	}
	if (n > RPC_BATCH_MAX) {
		rpc_error_set(&k->line_err, RPC_INVALID_REQUEST, "Invalid Request: batch of more "
			      "than %d requests", RPC_BATCH_MAX);
		return;
	}
	k->next = k->batch ? k->msg->child : k->msg;
	if (!(k->raw_ids = calloc((size_t)n, sizeof *k->raw_ids)))
		return; /* ids then come from their values */
	k->n_raw = n;
	if (!k->batch) {
		if (*p == '{')
			k->raw_ids[0] = object_raw_id(p, end);
		return;
	}
	p = skip_ws(p + 1, end);
	int i = 0;
	for (; i < n && p < end && *p != ']'; i++) {
		const char *v = p;
		p = skip_value(p, end);
		if (*v == '{')
			k->raw_ids[i] = object_raw_id(v, p);
		p = skip_ws(p, end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	if (i != n || p >= end || *p != ']') /* out of step with cJSON: use the values */
		for (int j = 0; j < n; j++) {
			free(k->raw_ids[j]);
			k->raw_ids[j] = NULL;
		}
}

int rpc_call_begin(struct rpc_call **call, const struct rpc_method *table, size_t n,
		   struct rpc_conn *c, const char *line, size_t len)
{
	struct rpc_call *k = *call = calloc(1, sizeof *k);
	if (!k)
		return ERR_NOMEM;
	k->d = (struct dispatch){ table, n, c };
	call_parse(k, line, len);
	return 0;
}

int rpc_call_step(struct rpc_call *k)
{
	struct rpc_error e = { 0 };
	struct request r;
	if (k->line_err.code) {
		struct request none = { 0 };
		answer_error(k, &none, &k->line_err);
		k->line_err.code = 0;
		k->batch = 0; /* one error object answers the whole line */
		k->next = NULL;
		return RPC_STEP_DONE;
	}
	if (k->stage == PREP_READY)
		finish_prepared(k);
	else if (k->stage == PREP_WAIT)
		return RPC_STEP_PREPARE; /* rpc_call_prepare has not run yet */
	else if (k->next) {
		const struct rpc_method *m = NULL;
		if (request_parse(k->next, &r, &e) < 0) {
			answer_error(k, &r, &e);
		} else if (!(m = admit(&k->d, &r, &e))) {
			if (r.member[M_ID])
				answer_error(k, &r, &e);
		} else if (m->prepare) {
			k->m = m;
			k->r = r;
			k->stage = PREP_WAIT;
			return RPC_STEP_PREPARE;
		} else {
			answer_run(k, m, &r);
		}
		advance(k);
	}
	return k->next ? RPC_STEP_MORE : RPC_STEP_DONE;
}

void rpc_call_prepare(struct rpc_call *k)
{
	if (k->stage != PREP_WAIT)
		return;
	const cJSON *params = cJSON_IsObject(k->r.params) ? k->r.params : NULL;
	memset(&k->prep_err, 0, sizeof k->prep_err);
	k->prep_rc = k->m->prepare(params, &k->prepared, &k->prep_err);
	if (k->prep_rc < 0)
		handler_code(k->m, &k->prep_err);
	k->stage = PREP_READY;
}

size_t rpc_call_bytes(const struct rpc_call *k)
{
	return k->len;
}

void rpc_call_free(struct rpc_call *k)
{
	if (!k)
		return;
	if (k->prepared && k->m && k->m->release)
		k->m->release(k->prepared);
	for (int i = 0; i < k->n_raw; i++)
		free(k->raw_ids[i]);
	free(k->raw_ids);
	cJSON_Delete(k->msg);
	free(k->buf);
	free(k);
}

int rpc_call_finish(struct rpc_call *k, char **out)
{
	int close = locked_out(k->d.c) ? RPC_CLOSE : 0;
	*out = NULL;
	if (k->nomem) {
		rpc_call_free(k);
		return (*out = strdup(rpc_oom_line)) ? close : ERR_NOMEM;
	}
	if (k->count) {
		size_t extra = k->batch ? 2 : 0;
		*out = malloc(k->len + extra + 1);
		if (!*out) {
			rpc_call_free(k);
			return (*out = strdup(rpc_oom_line)) ? close : ERR_NOMEM;
		}
		char *o = *out;
		if (k->batch)
			*o++ = '[';
		memcpy(o, k->buf, k->len);
		o += k->len;
		if (k->batch)
			*o++ = ']';
		*o = 0;
	}
	rpc_call_free(k);
	return close;
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
	struct rpc_call *k;
	int step;
	*out = NULL;
	if (rpc_call_begin(&k, table, n, c, line, len) < 0)
		return (*out = strdup(rpc_oom_line)) ? 0 : ERR_NOMEM;
	while ((step = rpc_call_step(k)) != RPC_STEP_DONE)
		if (step == RPC_STEP_PREPARE)
			rpc_call_prepare(k);
	return rpc_call_finish(k, out);
}

