/*
 * test_rpc_call.c — the stepped dispatch byold's connections use
 * (server/rpc.h, rpc_call_*): a request a step, a method's prepare step run
 * apart from its handler (its failure is the request's error, its data
 * released once), a call abandoned midway, and the output counted as it is
 * built.
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

static int calls;

static int m_hello(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c, (void)params, (void)err;
	calls++;
	*result = cJSON_CreateObject();
	cJSON_AddStringToObject(*result, "protocol", "byol/1");
	return 0;
}

static int m_echo(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c, (void)err;
	calls++;
	*result = params ? cJSON_Duplicate(params, 1) : cJSON_CreateNull();
	return 0;
}

/* "prep": its prepare step doubles params.n (fails for a negative n, with a field);
   the handler returns what was prepared; releases are counted. */
static int releases;

static int prep_prepare(const cJSON *params, void **prepared, struct rpc_error *err)
{
	long n = (long)rpc_param_int(params, "n", 0);
	if (n < 0)
		return rpc_error_param(err, "n", "negative");
	long *p = malloc(sizeof *p);
	assert_non_null(p);
	*p = 2 * n;
	*prepared = p;
	return 0;
}

static void prep_release(void *prepared)
{
	releases++;
	free(prepared);
}

static int m_prep(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)params, (void)err;
	assert_non_null(c->prepared);
	calls++;
	*result = cJSON_CreateNumber((double)*(long *)c->prepared);
	return 0;
}

static const struct rpc_param p_list[] = { { "name", RPC_STRING, 0, 0, 0 }, { 0 } };
static const struct rpc_param p_prep[] = { { "n", RPC_INT, 1, -100, 100 }, { 0 } };

static const struct rpc_method methods[] = {
	{ "server.hello", m_hello, RPC_BEFORE_AUTH, NULL, 0, NULL, NULL },
	{ "job.list", m_echo, 0, p_list, 0, NULL, NULL },
	{ "prep", m_prep, 0, p_prep, 0, prep_prepare, prep_release },
};
#define N_METHODS (sizeof methods / sizeof methods[0])
#define HELLO "{\"jsonrpc\":\"2.0\",\"method\":\"server.hello\",\"id\":1}"
#define JOB_LIST(p) "{\"jsonrpc\":\"2.0\",\"method\":\"job.list\",\"params\":" p ",\"id\":1}"

#define PREP(n, id) "{\"jsonrpc\":\"2.0\",\"method\":\"prep\",\"params\":{\"n\":" #n "},\"id\":" #id "}"

static void test_call_steps(void **state)
{
	(void)state;
	struct rpc_conn c = { .authed = 1 };
	struct rpc_call *k;
	const char *line = "[" HELLO "," PREP(21, 7) "," PREP(-1, 8) "," HELLO "]";
	char *out;
	releases = calls = 0;
	assert_int_equal(rpc_call_begin(&k, methods, N_METHODS, &c, line, strlen(line)), 0);
	assert_int_equal(rpc_call_bytes(k), 0);
	assert_int_equal(rpc_call_step(k), RPC_STEP_MORE); /* hello */
	size_t after_hello = rpc_call_bytes(k);
	assert_true(after_hello > 0);
	assert_int_equal(rpc_call_step(k), RPC_STEP_PREPARE);
	assert_int_equal(rpc_call_step(k), RPC_STEP_PREPARE); /* not prepared yet: again */
	assert_int_equal(calls, 1);
	rpc_call_prepare(k);
	assert_int_equal(rpc_call_step(k), RPC_STEP_MORE);
	assert_int_equal(releases, 1);
	assert_true(rpc_call_bytes(k) > after_hello);
	assert_int_equal(rpc_call_step(k), RPC_STEP_PREPARE);
	rpc_call_prepare(k); /* fails: the request's error, no handler run */
	assert_int_equal(rpc_call_step(k), RPC_STEP_MORE);
	assert_int_equal(calls, 2);
	assert_int_equal(rpc_call_step(k), RPC_STEP_DONE);
	assert_int_equal(rpc_call_finish(k, &out), 0);
	cJSON *r = cJSON_Parse(out);
	assert_int_equal(cJSON_GetArraySize(r), 4);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(r, 1), "result")->valueint, 42);
	const cJSON *err = cJSON_GetObjectItem(cJSON_GetArrayItem(r, 2), "error");
	assert_int_equal(cJSON_GetObjectItem(err, "code")->valueint, RPC_INVALID_PARAMS);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(err, "data"), "field")
				    ->valuestring, "n");
	cJSON_Delete(r);
	free(out);
	assert_int_equal(releases, 1);
}

/* A call abandoned midway (its client closed) frees what it holds, a prepared
   request's data too. */
static void test_call_abandoned(void **state)
{
	(void)state;
	struct rpc_conn c = { .authed = 1 };
	struct rpc_call *k;
	const char *line = "[" PREP(1, 1) "," HELLO "]";
	releases = 0;
	assert_int_equal(rpc_call_begin(&k, methods, N_METHODS, &c, line, strlen(line)), 0);
	assert_int_equal(rpc_call_step(k), RPC_STEP_PREPARE);
	rpc_call_prepare(k);
	rpc_call_free(k); /* prepared, never run */
	assert_int_equal(releases, 1);
	rpc_call_free(NULL);
}

/* Output counted as it is built: a batch of n echoes has, after each step, as many
   bytes as the responses so far (commas included). */
static void test_call_bytes_grow(void **state)
{
	(void)state;
	struct rpc_conn c = { .authed = 1 };
	struct rpc_call *k;
	char line[4096] = "[";
	for (int i = 0; i < 20; i++)
		snprintf(line + strlen(line), sizeof line - strlen(line), "%s" JOB_LIST("{\"name\":"
			 "\"0123456789\"}"), i ? "," : "");
	strcat(line, "]");
	assert_int_equal(rpc_call_begin(&k, methods, N_METHODS, &c, line, strlen(line)), 0);
	size_t last = 0;
	int steps = 0;
	for (int st = RPC_STEP_MORE; st != RPC_STEP_DONE; steps++) {
		st = rpc_call_step(k);
		assert_true(rpc_call_bytes(k) > last);
		last = rpc_call_bytes(k);
	}
	assert_int_equal(steps, 20);
	char *out;
	assert_int_equal(rpc_call_finish(k, &out), 0);
	assert_int_equal(strlen(out), last + 2); /* the batch's brackets */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_steps),
		cmocka_unit_test(test_call_abandoned),
		cmocka_unit_test(test_call_bytes_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
