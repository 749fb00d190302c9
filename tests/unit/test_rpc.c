/*
 * test_rpc.c — byold's JSON-RPC dispatch (line framing: test_rpc_frame.c)
 * through a small method table: every error class with
 * its exact code and id, batches, notifications, parameter checks, the auth
 * gate and lock-out, handler errors, token comparison, and out-of-memory at
 * every allocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/rpc.h"

/* ---- a test method table ------------------------------------------------ */

static const char token[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static int calls; /* handler runs */

static int m_hello(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c, (void)err;
	assert_true(!params || (cJSON_IsObject(params) && !params->child));
	calls++;
	*result = cJSON_CreateObject();
	cJSON_AddStringToObject(*result, "protocol", "byol/1");
	return 0;
}

static int m_auth(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	calls++;
	if (rpc_auth_check(c, token, rpc_param_string(params, "token", NULL), err) < 0)
		return err->code;
	*result = cJSON_CreateObject();
	cJSON_AddTrueToObject(*result, "ok");
	return 0;
}

/* Checks again what the dispatcher promised: job_id is an integer ≥ 1. */
static int m_job_get(struct rpc_conn *c, const cJSON *params, cJSON **result,
		     struct rpc_error *err)
{
	(void)c, (void)err;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(params, "job_id");
	assert_true(cJSON_IsNumber(id));
	assert_true(id->valuedouble >= 1 && id->valuedouble <= RPC_ID_MAX);
	assert_true(id->valuedouble == (double)(int64_t)id->valuedouble);
	assert_int_equal(cJSON_GetArraySize(params), 1);
	calls++;
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "job_id", (double)rpc_param_int(params, "job_id", 0));
	return 0;
}

static int m_echo(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c, (void)err;
	calls++;
	*result = params ? cJSON_Duplicate(params, 1) : cJSON_CreateNull();
	return 0;
}

/* Fails with params.code (and a field when params.field is given), after
 * building a result that the dispatcher must free. */
static int m_fail(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c;
	calls++;
	*result = cJSON_CreateString("discard me");
	rpc_error_set(err, (int)rpc_param_int(params, "code", 0), "boom \xff\xfe");
	if (rpc_param_string(params, "field", NULL)) {
		snprintf(err->field, sizeof err->field, "%s", rpc_param_string(params, "field", ""));
		snprintf(err->reason, sizeof err->reason, "bad");
	}
	return -1;
}

static int m_noresult(struct rpc_conn *c, const cJSON *params, cJSON **result,
		      struct rpc_error *err)
{
	(void)c, (void)params, (void)result, (void)err;
	calls++;
	return 0;
}

static const struct rpc_param p_auth[] = { { "token", RPC_STRING, 1, 1, 64 }, { 0 } };
static const struct rpc_param p_job[] = { { "job_id", RPC_INT, 1, 1, RPC_ID_MAX }, { 0 } };
static const struct rpc_param p_list[] = {
	{ "state", RPC_STRING, 0, 0, 16 },  { "limit", RPC_INT, 0, 1, 1000 },
	{ "all", RPC_BOOL, 0, 0, 0 },       { "ratio", RPC_NUMBER, 0, 0, 1 },
	{ "tags", RPC_ARRAY, 0, 0, 3 },     { "filter", RPC_OBJECT, 0, 0, 0 },
	{ "offset", RPC_INT, 0, 0, 0 },     { "name", RPC_STRING, 0, 0, 0 },
	{ 0 } };
static const struct rpc_param p_submit[] = { { "spec", RPC_OBJECT, 0, 0, 0 },
					     { "paused", RPC_BOOL, 0, 0, 0 }, { 0 } };
static const struct rpc_param p_fail[] = { { "code", RPC_INT, 1, -40000, 40000 },
					   { "field", RPC_STRING, 0, 0, 0 }, { 0 } };

static const struct rpc_method methods[] = {
	{ "server.hello", m_hello, RPC_BEFORE_AUTH, NULL, 0, NULL, NULL },
	{ "auth", m_auth, RPC_BEFORE_AUTH, p_auth, 0, NULL, NULL },
	{ "job.get", m_job_get, 0, p_job, 0, NULL, NULL },
	{ "job.list", m_echo, 0, p_list, 0, NULL, NULL },
	{ "job.submit", m_echo, 0, p_submit, 1, NULL, NULL },
	{ "fail", m_fail, 0, p_fail, 0, NULL, NULL },
	{ "noresult", m_noresult, 0, NULL, 0, NULL, NULL },
};
#define N_METHODS (sizeof methods / sizeof methods[0])

/* ---- helpers ------------------------------------------------------------ */

static int utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
			(*p & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0)
			return 0;
		for (p++; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* Sends line (len bytes) on c; the parsed response or NULL; *rc the result. */
static cJSON *send_len(struct rpc_conn *c, const char *line, size_t len, int *rc)
{
	char *out;
	*rc = rpc_handle_line(methods, N_METHODS, c, line, len, &out);
	if (!out)
		return NULL;
	assert_null(strchr(out, '\n'));
	assert_true(utf8_valid(out));
	cJSON *r = cJSON_Parse(out);
	assert_non_null(r);
	free(out);
	return r;
}

/* Sends line on c, expecting result 0. */
static cJSON *send_on(struct rpc_conn *c, const char *line)
{
	int rc;
	cJSON *r = send_len(c, line, strlen(line), &rc);
	assert_int_equal(rc, 0);
	return r;
}

static cJSON *send_line(const char *line)
{
	struct rpc_conn c = { .authed = 1 };
	return send_on(&c, line);
}

static void assert_id(const cJSON *r, const char *id)
{
	char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "id"));
	assert_non_null(s);
	assert_string_equal(s, id);
	free(s);
}

/* r is an error response with code and id (as compact JSON text). */
static void assert_error(const cJSON *r, int code, const char *id)
{
	assert_non_null(r);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(r, "jsonrpc")->valuestring, "2.0");
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "result"));
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
	assert_true(cJSON_IsObject(e));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "code")->valuedouble, code);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")));
	assert_int_equal(cJSON_GetArraySize(r), 3);
	assert_id(r, id);
}

static void expect_error_on(struct rpc_conn *c, const char *line, int code, const char *id)
{
	cJSON *r = send_on(c, line);
	assert_error(r, code, id);
	cJSON_Delete(r);
}

static void expect_error(const char *line, int code, const char *id)
{
	struct rpc_conn c = { .authed = 1 };
	expect_error_on(&c, line, code, id);
}

/* A −32602 naming field, with the id 1, and no handler run. */
static void expect_param_error(const char *line, const char *field)
{
	int before = calls;
	cJSON *r = send_line(line);
	assert_error(r, RPC_INVALID_PARAMS, "1");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(r, "error"), "data");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(data, "field")->valuestring, field);
	assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(data, "reason")));
	assert_int_equal(calls, before);
	cJSON_Delete(r);
}

/* A success response with id; returns a copy of its result (caller deletes). */
static cJSON *expect_result_on(struct rpc_conn *c, const char *line, const char *id)
{
	cJSON *r = send_on(c, line);
	assert_non_null(r);
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "error"));
	assert_int_equal(cJSON_GetArraySize(r), 3);
	assert_id(r, id);
	cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(r, "result");
	assert_non_null(res);
	cJSON_Delete(r);
	return res;
}

static void expect_ok(const char *line, const char *id)
{
	struct rpc_conn c = { .authed = 1 };
	cJSON_Delete(expect_result_on(&c, line, id));
}

static void expect_nothing_on(struct rpc_conn *c, const char *line)
{
	assert_null(send_on(c, line));
}

/* ---- a NUL byte in a framed line ----------------------------------------- */

static void on_line_nul(void *ctx, char *line, size_t len)
{
	int *rc = ctx;
	char *out;
	struct rpc_conn c = { .authed = 1 };
	assert_int_equal(len, 9);
	*rc = rpc_handle_line(methods, N_METHODS, &c, line, len, &out);
	assert_non_null(strstr(out, "-32700"));
	free(out);
}

static void test_frame_nul(void **state)
{
	(void)state;
	struct rpc_framer *f;
	struct err e;
	int rc = -1;
	assert_int_equal(rpc_framer_init(&f, 0, &e), 0);
	assert_int_equal(rpc_framer_feed(f, "{\"a\":\0 1}\n", 10, on_line_nul, &rc), 0);
	assert_int_equal(rc, 0);
	rpc_framer_free(f);
}

/* ---- dispatch: errors --------------------------------------------------- */

static void test_parse_errors(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"{", "[1,", "nul", "{\"jsonrpc\":\"2.0\"} x", "1 2", "{'a':1}", "\"\xff\"",
		"\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"a\\u0000b\"", "\"\\ud800\"", "[" "\x01" "]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_error(bad[i], RPC_PARSE_ERROR, "null");
	int rc;
	cJSON *r = send_len(&(struct rpc_conn){ .authed = 1 }, "{\"id\":1}\0", 9, &rc);
	assert_error(r, RPC_PARSE_ERROR, "null");
	cJSON_Delete(r);
	/* an escaped backslash before u0000 is not a NUL; whitespace around the value is fine */
	expect_error(" \"a\\\\u0000\" \t", RPC_INVALID_REQUEST, "null");
	expect_ok("\t{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":1}  ", "1");
}

static void test_invalid_requests(void **state)
{
	(void)state;
	expect_error("1", RPC_INVALID_REQUEST, "null");
	expect_error("\"x\"", RPC_INVALID_REQUEST, "null");
	expect_error("null", RPC_INVALID_REQUEST, "null");
	expect_error("{}", RPC_INVALID_REQUEST, "null");
	/* the spec's example: no id, but not a valid Request object, so answered */
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}", RPC_INVALID_REQUEST,
		     "null");
	expect_error("{\"jsonrpc\":\"1.0\",\"method\":\"server.hello\",\"id\":1}",
		     RPC_INVALID_REQUEST, "1");
	expect_error("{\"jsonrpc\":2.0,\"method\":\"server.hello\",\"id\":1}",
		     RPC_INVALID_REQUEST, "1");
	expect_error("{\"method\":\"server.hello\",\"id\":\"a\"}", RPC_INVALID_REQUEST, "\"a\"");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":2}", RPC_INVALID_REQUEST, "2");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"params\":\"bar\",\"id\":3}",
		     RPC_INVALID_REQUEST, "3");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"params\":7,\"id\":3}",
		     RPC_INVALID_REQUEST, "3");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"params\":null,\"id\":3}",
		     RPC_INVALID_REQUEST, "3");
	/* ids of the wrong type cannot be echoed */
	static const char *const ids[] = { "true", "false", "{}", "[]", "[1]", "{\"a\":1}" };
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char line[128];
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":%s}", ids[i]);
		expect_error(line, RPC_INVALID_REQUEST, "null");
	}
	/* unknown and repeated members */
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"param\":{\"job_id\":1},\"id\":4}",
		     RPC_INVALID_REQUEST, "4");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":4,\"id\":4}",
		     RPC_INVALID_REQUEST, "null");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"method\":\"x\",\"id\":5}",
		     RPC_INVALID_REQUEST, "5");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":5,\"Id\":5}",
		     RPC_INVALID_REQUEST, "5");
}


static void test_unknown_method(void **state)
{
	(void)state;
	struct rpc_conn c = { .authed = 1 };
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"job.nope\",\"id\":1}",
		     RPC_METHOD_NOT_FOUND, "1");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":\"q\"}",
		     RPC_METHOD_NOT_FOUND, "\"q\"");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"Server.Hello\",\"id\":1}",
		     RPC_METHOD_NOT_FOUND, "1");
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.nope\"}");
}

static void test_notifications(void **state)
{
	(void)state;
	struct rpc_conn c = { .authed = 1 };
	int before = calls;
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"job_id\":3}}");
	assert_int_equal(calls, before + 1);
	/* errors of every kind stay silent, and nothing runs */
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"job_id\":0}}");
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\"}");
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":[1]}");
	assert_int_equal(calls, before + 1);
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"params\":{\"code\":-32004}}");
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"noresult\"}");
	assert_int_equal(calls, before + 3);
}

/* ---- dispatch: batches -------------------------------------------------- */

static void test_batches(void **state)
{
	(void)state;
	cJSON *r = send_line("[{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":1},"
			     "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"job_id\":2}},"
			     "1,"
			     "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"x\"},"
			     "{\"foo\":\"boo\"},"
			     "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"job_id\":0},"
			     "\"id\":5},"
			     "[]]");
	assert_true(cJSON_IsArray(r));
	assert_int_equal(cJSON_GetArraySize(r), 6);
	assert_id(cJSON_GetArrayItem(r, 0), "1");
	assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 0), "result"));
	assert_error(cJSON_GetArrayItem(r, 1), RPC_INVALID_REQUEST, "null");
	assert_error(cJSON_GetArrayItem(r, 2), RPC_METHOD_NOT_FOUND, "\"x\"");
	assert_error(cJSON_GetArrayItem(r, 3), RPC_INVALID_REQUEST, "null");
	assert_error(cJSON_GetArrayItem(r, 4), RPC_INVALID_PARAMS, "5");
	assert_error(cJSON_GetArrayItem(r, 5), RPC_INVALID_REQUEST, "null");
	cJSON_Delete(r);
	expect_error("[]", RPC_INVALID_REQUEST, "null");
	expect_error(" [ ] ", RPC_INVALID_REQUEST, "null");
	r = send_line("[1,2,3]");
	assert_int_equal(cJSON_GetArraySize(r), 3);
	for (int i = 0; i < 3; i++)
		assert_error(cJSON_GetArrayItem(r, i), RPC_INVALID_REQUEST, "null");
	cJSON_Delete(r);
	/* only notifications: no response at all */
	assert_null(send_line("[{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\"},"
			      "{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}]"));
}

/* A batch of n hello requests with ids. */
static char *batch_of(int n)
{
	static const char one[] = "{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":%d},";
	char *s = malloc((size_t)n * 64 + 3), *p = s;
	*p++ = '[';
	for (int i = 0; i < n; i++)
		p += sprintf(p, one, i);
	p[-1] = ']';
	*p = '\0';
	return s;
}

static void test_batch_cap(void **state)
{
	(void)state;
	char *s = batch_of(RPC_BATCH_MAX);
	int before = calls;
	cJSON *r = send_line(s);
	assert_int_equal(cJSON_GetArraySize(r), RPC_BATCH_MAX);
	assert_id(cJSON_GetArrayItem(r, RPC_BATCH_MAX - 1), "999");
	assert_int_equal(calls, before + RPC_BATCH_MAX);
	cJSON_Delete(r);
	free(s);
	s = batch_of(RPC_BATCH_MAX + 1);
	expect_error(s, RPC_INVALID_REQUEST, "null");
	assert_int_equal(calls, before + RPC_BATCH_MAX);
	free(s);
}

/* ---- dispatch: params --------------------------------------------------- */

#define JOB_GET(p) "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":" p ",\"id\":1}"
#define JOB_LIST(p) "{\"jsonrpc\":\"2.0\",\"method\":\"job.list\",\"params\":" p ",\"id\":1}"

static void test_params_ids(void **state)
{
	(void)state;
	static const char *const bad[] = { "0", "-1", "1.5", "\"1\"", "9223372036854775808",
					   "1000000000000000", "1e400", "-1e400", "null", "true",
					   "[1]", "{}" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char line[128];
		snprintf(line, sizeof line, JOB_GET("{\"job_id\":%s}"), bad[i]);
		expect_param_error(line, "job_id");
	}
	cJSON *res;
	struct rpc_conn c = { .authed = 1 };
	res = expect_result_on(&c, JOB_GET("{\"job_id\":999999999999999}"), "1");
	assert_true(rpc_param_int(res, "job_id", 0) == INT64_C(999999999999999));
	cJSON_Delete(res);
	res = expect_result_on(&c, JOB_GET("{\"job_id\":1.0e1}"), "1");
	assert_int_equal(rpc_param_int(res, "job_id", 0), 10);
	cJSON_Delete(res);
	expect_param_error(JOB_GET("{}"), "job_id");
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"id\":1}", "job_id");
	expect_param_error(JOB_GET("{\"job_id\":1,\"extra\":2}"), "extra");
	expect_param_error(JOB_GET("{\"job_id\":1,\"job_id\":2}"), "job_id");
	expect_param_error(JOB_GET("{\"Job_id\":1}"), "Job_id");
	expect_param_error(JOB_GET("[1]"), "params");
	expect_param_error(JOB_GET("[]"), "params");
}

static void test_params_types_and_bounds(void **state)
{
	(void)state;
	expect_ok(JOB_LIST("{}"), "1");
	expect_ok(JOB_LIST("{\"state\":\"0123456789abcdef\",\"limit\":1000,\"all\":false,"
			   "\"ratio\":0.5,\"tags\":[1,2,3],\"filter\":{\"x\":[]},"
			   "\"offset\":-5,\"name\":\"\"}"), "1");
	expect_param_error(JOB_LIST("{\"state\":\"0123456789abcdefg\"}"), "state");
	expect_param_error(JOB_LIST("{\"state\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
				    "\xc3\xa9\xc3\xa9\xc3\xa9\"}"), "state"); /* 18 bytes */
	expect_param_error(JOB_LIST("{\"state\":5}"), "state");
	expect_param_error(JOB_LIST("{\"limit\":0}"), "limit");
	expect_param_error(JOB_LIST("{\"limit\":1001}"), "limit");
	expect_param_error(JOB_LIST("{\"all\":1}"), "all");
	expect_param_error(JOB_LIST("{\"all\":\"true\"}"), "all");
	expect_param_error(JOB_LIST("{\"ratio\":1.0000001}"), "ratio");
	expect_param_error(JOB_LIST("{\"ratio\":-0.1}"), "ratio");
	expect_param_error(JOB_LIST("{\"ratio\":\"0.5\"}"), "ratio");
	expect_param_error(JOB_LIST("{\"tags\":[1,2,3,4]}"), "tags");
	expect_param_error(JOB_LIST("{\"tags\":{}}"), "tags");
	expect_param_error(JOB_LIST("{\"filter\":[]}"), "filter");
	expect_param_error(JOB_LIST("{\"filter\":null}"), "filter");
	expect_param_error(JOB_LIST("{\"offset\":0.5}"), "offset");
	expect_ok(JOB_LIST("{\"offset\":-9007199254740991}"), "1");
	expect_param_error(JOB_LIST("{\"offset\":9007199254740992}"), "offset"); /* ±2^53 − 1 */
	expect_param_error(JOB_LIST("{\"offset\":1e300}"), "offset");
	/* tokens: 1..64 bytes */
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"auth\",\"params\":{\"token\":\"\"},"
			   "\"id\":1}", "token");
	/* a method taking none: [] or {} only */
	expect_ok("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"params\":{},\"id\":1}", "1");
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"params\":[1],"
			   "\"id\":1}", "params");
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"params\":{\"x\":1},"
			   "\"id\":1}", "x");
}

static void test_params_open(void **state)
{
	(void)state;
	struct rpc_conn c = { .authed = 1 };
	cJSON *res = expect_result_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\","
				      "\"params\":{\"preset\":\"x\",\"set\":{\"a.b\":2},"
				      "\"spec\":{\"z\":1}},\"id\":1}", "1");
	assert_string_equal(rpc_param_string(res, "preset", NULL), "x");
	cJSON_Delete(res);
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\",\"params\":"
			   "{\"spec\":[]},\"id\":1}", "spec");
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\",\"params\":"
			   "{\"paused\":true,\"paused\":false},\"id\":1}", "paused");
	expect_param_error("{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\",\"params\":[{}],"
			   "\"id\":1}", "params");
}

/* Client strings echoed in errors are cut on character boundaries. */
static void test_params_long_key(void **state)
{
	(void)state;
	char line[1024], key[600];
	size_t k = 0;
	while (k + 3 < 400)
		k += (size_t)sprintf(key + k, "\xe2\x82\xac"); /* € is 3 bytes; field holds 127 */
	snprintf(line, sizeof line, JOB_GET("{\"%s\":1}"), key);
	cJSON *r = send_line(line); /* send_len checks the whole reply is UTF-8 */
	assert_error(r, RPC_INVALID_PARAMS, "1");
	cJSON_Delete(r);
	snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":1}", key);
	expect_error(line, RPC_METHOD_NOT_FOUND, "1");
	snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"%s\":1,\"id\":1}",
		 key);
	expect_error(line, RPC_INVALID_REQUEST, "1");
}

/* ---- dispatch: handlers and auth ---------------------------------------- */

#define FAIL(c) "{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"params\":{\"code\":" c "},\"id\":9}"

static void test_handler_errors(void **state)
{
	(void)state;
	static const int pass[] = { RPC_NOT_FOUND, RPC_BUSY, RPC_BAD_STATE, RPC_UNAUTHORIZED,
				    RPC_INTERNAL_ERROR, RPC_INVALID_PARAMS };
	for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
		char line[128];
		snprintf(line, sizeof line, FAIL("%d"), pass[i]);
		expect_error(line, pass[i], "9");
	}
	/* codes a handler may not use become −32603 */
	expect_error(FAIL("-5"), RPC_INTERNAL_ERROR, "9");
	expect_error(FAIL("0"), RPC_INTERNAL_ERROR, "9");
	expect_error(FAIL("-32700"), RPC_INTERNAL_ERROR, "9");
	expect_error(FAIL("-32601"), RPC_INTERNAL_ERROR, "9");
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"noresult\",\"id\":9}", RPC_INTERNAL_ERROR, "9");
	/* field and reason become data; a bad byte in the message becomes '?' */
	cJSON *r = send_line("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"params\":{\"code\":-32602,"
			     "\"field\":\"train.epochs\"},\"id\":9}");
	const cJSON *e = cJSON_GetObjectItem(r, "error");
	assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "boom ??");
	const cJSON *data = cJSON_GetObjectItem(e, "data");
	assert_string_equal(cJSON_GetObjectItem(data, "field")->valuestring, "train.epochs");
	assert_string_equal(cJSON_GetObjectItem(data, "reason")->valuestring, "bad");
	cJSON_Delete(r);
}

#define HELLO "{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":1}"
#define AUTH(t) "{\"jsonrpc\":\"2.0\",\"method\":\"auth\",\"params\":{\"token\":\"" t "\"},\"id\":2}"
#define GOOD "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BAD "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF"
#define GET "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"job_id\":1},\"id\":3}"

static void test_auth_gate(void **state)
{
	(void)state;
	struct rpc_conn c = { 0 };
	int before = calls, rc;
	cJSON_Delete(expect_result_on(&c, HELLO, "1"));
	expect_error_on(&c, GET, RPC_UNAUTHORIZED, "3");
	/* unknown methods and bad params are not revealed before auth */
	expect_error_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":4}", RPC_UNAUTHORIZED, "4");
	expect_error_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"x\":1},\"id\":4}",
			RPC_UNAUTHORIZED, "4");
	expect_nothing_on(&c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"job_id\":1}}");
	assert_int_equal(calls, before + 1);
	/* a malformed request is still −32600, a parse error −32700 */
	expect_error_on(&c, "{\"jsonrpc\":\"2.0\"}", RPC_INVALID_REQUEST, "null");
	expect_error_on(&c, "{", RPC_PARSE_ERROR, "null");
	/* wrong tokens: counted; the last one closes and locks out */
	expect_error_on(&c, AUTH(BAD), RPC_UNAUTHORIZED, "2");
	expect_error_on(&c, AUTH("short"), RPC_UNAUTHORIZED, "2");
	assert_int_equal(c.auth_failures, 2);
	cJSON *r = send_len(&c, AUTH(BAD), strlen(AUTH(BAD)), &rc);
	assert_int_equal(rc, RPC_CLOSE);
	assert_error(r, RPC_UNAUTHORIZED, "2");
	cJSON_Delete(r);
	before = calls;
	r = send_len(&c, AUTH(GOOD), strlen(AUTH(GOOD)), &rc); /* even the right one, now */
	assert_int_equal(rc, RPC_CLOSE);
	assert_error(r, RPC_UNAUTHORIZED, "2");
	cJSON_Delete(r);
	r = send_len(&c, HELLO, strlen(HELLO), &rc);
	assert_int_equal(rc, RPC_CLOSE);
	assert_error(r, RPC_UNAUTHORIZED, "1");
	cJSON_Delete(r);
	assert_int_equal(calls, before);
	assert_false(c.authed);
}

static void test_auth_ok(void **state)
{
	(void)state;
	struct rpc_conn c = { .max_auth_failures = 5 };
	for (int i = 0; i < 4; i++)
		expect_error_on(&c, AUTH(BAD), RPC_UNAUTHORIZED, "2");
	cJSON *res = expect_result_on(&c, AUTH(GOOD), "2");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(res, "ok")));
	cJSON_Delete(res);
	assert_true(c.authed);
	assert_int_equal(c.auth_failures, 0);
	cJSON_Delete(expect_result_on(&c, GET, "3"));
	/* a wrong token on an authenticated connection neither counts nor revokes */
	for (int i = 0; i < 5; i++)
		expect_error_on(&c, AUTH(BAD), RPC_UNAUTHORIZED, "2");
	assert_true(c.authed);
	cJSON_Delete(expect_result_on(&c, GET, "3"));
	/* in a batch, auth authenticates the requests after it */
	struct rpc_conn d = { 0 };
	cJSON *r = send_on(&d, "[" GET "," AUTH(GOOD) "," GET "]");
	assert_error(cJSON_GetArrayItem(r, 0), RPC_UNAUTHORIZED, "3");
	assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 2), "result"));
	cJSON_Delete(r);
	/* a batch cannot try more tokens than the limit */
	struct rpc_conn e = { 0 };
	int rc, before = calls;
	r = send_len(&e, "[" AUTH(BAD) "," AUTH(BAD) "," AUTH(BAD) "," AUTH(BAD) "," AUTH(GOOD) "]",
		     strlen("[" AUTH(BAD) "," AUTH(BAD) "," AUTH(BAD) "," AUTH(BAD) "," AUTH(GOOD) "]"),
		     &rc);
	assert_int_equal(rc, RPC_CLOSE);
	assert_int_equal(calls, before + 3);
	assert_error(cJSON_GetArrayItem(r, 4), RPC_UNAUTHORIZED, "2");
	assert_false(e.authed);
	cJSON_Delete(r);
}

static void test_token_equal(void **state)
{
	(void)state;
	assert_true(rpc_token_equal(token, GOOD));
	assert_false(rpc_token_equal(token, BAD));
	assert_false(rpc_token_equal(token, "X123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	assert_false(rpc_token_equal(token, GOOD "0"));
	assert_false(rpc_token_equal(token, "0123456789abcdef"));
	assert_false(rpc_token_equal(token, ""));
	assert_false(rpc_token_equal(token, NULL));
	assert_false(rpc_token_equal(NULL, token));
	assert_false(rpc_token_equal("abc", "abc")); /* not a token */
	assert_false(rpc_token_equal("", ""));
}

/* ---- helpers and out of memory ------------------------------------------ */

static void test_helpers(void **state)
{
	(void)state;
	/* the reply to an oversize line */
	char *oversize = rpc_error_line(RPC_INVALID_REQUEST, "line longer than 16 bytes");
	assert_string_equal(oversize, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
			    "\"message\":\"line longer than 16 bytes\"},\"id\":null}");
	free(oversize);
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "subscription", 3);
	cJSON *n = rpc_notification("job.event", p);
	char *line = rpc_format(n);
	assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"method\":\"job.event\","
			    "\"params\":{\"subscription\":3}}");
	free(line);
	cJSON_Delete(n);
	struct rpc_error re;
	struct err e;
	err_set(&e, ERR_NOTFOUND, "no job 4");
	assert_int_equal(rpc_error_from_err(&re, &e), RPC_NOT_FOUND);
	assert_string_equal(re.message, "no job 4");
	err_set(&e, ERR_BAD_STATE, "x");
	assert_int_equal(rpc_error_from_err(&re, &e), RPC_BAD_STATE);
	err_set(&e, ERR_RANGE, "x");
	assert_int_equal(rpc_error_from_err(&re, &e), RPC_INVALID_PARAMS);
	err_set(&e, ERR_IO, "x");
	assert_int_equal(rpc_error_from_err(&re, &e), RPC_INTERNAL_ERROR);
	assert_int_equal(rpc_error_param(&re, "job_id", "must be %s", "positive"),
			 RPC_INVALID_PARAMS);
	assert_string_equal(re.reason, "must be positive");
	assert_int_equal(rpc_param_int(NULL, "x", 7), 7);
	assert_true(rpc_param_number(NULL, "x", 0.5) == 0.5);
	assert_int_equal(rpc_param_bool(NULL, "x", 1), 1);
	assert_null(rpc_param_string(NULL, "x", NULL));
}

static long alloc_budget = -1; /* allocations left before failing; −1: never fail */

static void *failing_malloc(size_t n)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

/* Every cJSON allocation failing in turn: a reply or ERR_NOMEM, never a crash
 * or a leak (under ASan). */
static void test_out_of_memory(void **state)
{
	(void)state;
	static const char *const lines[] = {
		"[" HELLO "," GET ",{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":[]},"
		FAIL("-32602") "," JOB_LIST("{\"x\":1}") ",{\"jsonrpc\":\"2.0\",\"method\":"
		"\"noresult\"}]", "{", "[]",
	};
	cJSON_Hooks hooks = { failing_malloc, free };
	cJSON_InitHooks(&hooks);
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		int replies = 0;
		for (long k = 0; k < 400; k++) {
			struct rpc_conn c = { .authed = 1 };
			char *out;
			alloc_budget = k;
			int rc = rpc_handle_line(methods, N_METHODS, &c, lines[i],
						 strlen(lines[i]), &out);
			alloc_budget = -1;
			assert_true(rc == 0 || rc == ERR_NOMEM);
			assert_true(rc == 0 || !out);
			replies += out != NULL;
			free(out);
		}
		assert_true(replies > 0);
	}
	cJSON_InitHooks(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_nul),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_invalid_requests),
		cmocka_unit_test(test_unknown_method),
		cmocka_unit_test(test_notifications),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_batch_cap),
		cmocka_unit_test(test_params_ids),
		cmocka_unit_test(test_params_types_and_bounds),
		cmocka_unit_test(test_params_open),
		cmocka_unit_test(test_params_long_key),
		cmocka_unit_test(test_handler_errors),
		cmocka_unit_test(test_auth_gate),
		cmocka_unit_test(test_auth_ok),
		cmocka_unit_test(test_token_equal),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_out_of_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
