/*
 * server/rpc_reply.c — JSON-RPC responses and errors, the helpers handlers use,
 * and token checks (see rpc.h and rpc_reply.h).
 */
#include "server/rpc_reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* Sent when memory runs out while building a response. */
const char rpc_oom_line[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,"
			       "\"message\":\"Internal error: out of memory\"},\"id\":null}";

/* ---- responses ---------------------------------------------------------- */

/* v as JSON text: integers below 10^17 in full, others with digits significant
 * digits (17 round-trips every double). */
void rpc_format_number(char *out, size_t size, double v, int digits)
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
int rpc_add(cJSON *o, const char *key, cJSON *v)
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
	rpc_format_number(text, sizeof text, id->valuedouble, 17);
	return cJSON_CreateRaw(text);
}

/* {"jsonrpc":"2.0", key: value, "id": id or null}; takes value. */
cJSON *rpc_response(const char *key, cJSON *value, const cJSON *id)
{
	cJSON *r = cJSON_CreateObject();
	if (!r || rpc_add(r, "jsonrpc", cJSON_CreateString("2.0")) < 0) {
		cJSON_Delete(value);
		goto out_fail;
	}
	if (rpc_add(r, key, value) < 0 ||
	    rpc_add(r, "id", id_copy(id)) < 0)
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
	if (!o || rpc_add(o, "code", cJSON_CreateNumber(e->code)) < 0 ||
	    rpc_add(o, "message", cJSON_CreateString(e->message[0] ? e->message :
						  code_message(e->code))) < 0)
		goto out_fail;
	if (!e->field[0] && !e->reason[0])
		return o;
	data = cJSON_CreateObject();
	if (rpc_add(o, "data", data) < 0 || rpc_add(data, "field", cJSON_CreateString(e->field)) < 0 ||
	    rpc_add(data, "reason", cJSON_CreateString(e->reason)) < 0)
		goto out_fail;
	return o;
out_fail:
	cJSON_Delete(o);
	return NULL;
}

/* Sets *resp to the error response for e; 0 or ERR_NOMEM. */
int rpc_reply_error(const cJSON *id, struct rpc_error *e, cJSON **resp)
{
	cJSON *err = error_object(e);
	*resp = err ? rpc_response("error", err, id) : NULL;
	return *resp ? 0 : ERR_NOMEM;
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
	case ERR_BAD_STATE: code = RPC_BAD_STATE; break;
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
	if (rpc_reply_error(NULL, &e, &resp) < 0)
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
	if (!n || rpc_add(n, "jsonrpc", cJSON_CreateString("2.0")) < 0 ||
	    rpc_add(n, "method", cJSON_CreateString(method)) < 0) {
		cJSON_Delete(params);
		cJSON_Delete(n);
		return NULL;
	}
	if (params && rpc_add(n, "params", params) < 0) {
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
