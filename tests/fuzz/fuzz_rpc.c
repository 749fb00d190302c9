/*
 * fuzz_rpc.c — libFuzzer target for the JSON-RPC layer (reliability test 14).
 *
 * The input's first byte picks the connection's starting auth state and how
 * the rest is cut into feeds; the rest goes through a framer (4096-byte
 * lines) into rpc_handle_line with a small method table, as byold does. Every
 * reply must be one line of JSON text, and the framer must stay within its
 * cap. The whole input is also handled as one line in an exact-size buffer
 * without a NUL, where ASan sees any read past its end.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -Icommon -Idaemon \
 *		daemon/server/rpc*.c common/rpc_frame.c common/utf8.c common/err.c tests/fuzz/fuzz_rpc.c -lcjson -o /tmp/fuzz_rpc
 *	/tmp/fuzz_rpc -max_total_time=60 [corpus dir]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/rpc.h"

#define FUZZ_MAX_LINE 4096

static const char token[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static int m_hello(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c, (void)params, (void)err;
	*result = cJSON_CreateObject();
	return 0;
}

static int m_auth(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	if (rpc_auth_check(c, token, rpc_param_string(params, "token", NULL), err) < 0)
		return err->code;
	*result = cJSON_CreateTrue();
	return 0;
}

/* Echoes its params, and fails with params.code when given. */
static int m_echo(struct rpc_conn *c, const cJSON *params, cJSON **result, struct rpc_error *err)
{
	(void)c;
	if (cJSON_GetObjectItemCaseSensitive(params, "code")) {
		rpc_error_set(err, (int)rpc_param_int(params, "code", 0), "%s",
			      rpc_param_string(params, "message", "failed"));
		snprintf(err->field, sizeof err->field, "%s", rpc_param_string(params, "message", ""));
		return -1;
	}
	*result = params ? cJSON_Duplicate(params, 1) : cJSON_CreateNull();
	return 0;
}

static const struct rpc_param p_auth[] = { { "token", RPC_STRING, 1, 1, 64 }, { 0 } };
static const struct rpc_param p_job[] = {
	{ "job_id", RPC_INT, 1, 1, RPC_ID_MAX }, { "since_step", RPC_INT, 0, 0, 0 },
	{ "ratio", RPC_NUMBER, 0, 0, 1 },         { "all", RPC_BOOL, 0, 0, 0 },
	{ "tags", RPC_ARRAY, 0, 0, 4 },           { "spec", RPC_OBJECT, 0, 0, 0 },
	{ "message", RPC_STRING, 0, 0, 300 },     { "code", RPC_INT, 0, -33000, 33000 },
	{ 0 } };
static const struct rpc_param p_submit[] = { { "spec", RPC_OBJECT, 0, 0, 0 },
					     { "code", RPC_INT, 0, -33000, 33000 }, { 0 } };

static const struct rpc_method methods[] = {
	{ "server.hello", m_hello, RPC_BEFORE_AUTH, NULL, 0, NULL, NULL },
	{ "auth", m_auth, RPC_BEFORE_AUTH, p_auth, 0, NULL, NULL },
	{ "job.get", m_echo, 0, p_job, 0, NULL, NULL },
	{ "job.submit", m_echo, 0, p_submit, 1, NULL, NULL },
	{ "server.status", m_echo, 0, NULL, 0, NULL, NULL },
};

/* A reply must be one line holding one JSON value. */
static void check_reply(const char *out)
{
	if (!out)
		return;
	if (strchr(out, '\n'))
		abort();
	cJSON *r = cJSON_Parse(out);
	if (!r)
		abort();
	cJSON_Delete(r);
}

static void on_line(void *ctx, char *line, size_t len)
{
	struct rpc_conn *c = ctx;
	char *out;
	if (len > FUZZ_MAX_LINE || line[len] != '\0')
		abort();
	int rc = rpc_handle_line(methods, sizeof methods / sizeof methods[0], c, line, len, &out);
	if (rc != 0 && rc != RPC_CLOSE && rc != ERR_NOMEM)
		abort();
	check_reply(out);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rpc_conn c = { 0 };
	struct rpc_framer *f;
	size_t step;
	char *out;
	if (size < 1)
		return 0;
	c.authed = data[0] & 1;
	step = (size_t)(data[0] >> 1) + 1; /* feed sizes 1..128 */
	data++, size--;
	if (rpc_framer_init(&f, FUZZ_MAX_LINE, NULL) < 0)
		return 0;
	for (size_t i = 0; i < size; i += step) {
		size_t n = size - i < step ? size - i : step;
		int rc = rpc_framer_feed(f, (const char *)data + i, n, on_line, &c);
		if (rpc_framer_buffered(f) > FUZZ_MAX_LINE || rpc_framer_allocated(f) > FUZZ_MAX_LINE + 1)
			abort();
		if (rc != 0)
			break;
	}
	rpc_framer_free(f);
	if (size > 0 && size <= FUZZ_MAX_LINE) {
		char *copy = malloc(size); /* exact size, no NUL */
		struct rpc_conn d = { .authed = 1 };
		memcpy(copy, data, size);
		rpc_handle_line(methods, sizeof methods / sizeof methods[0], &d, copy, size, &out);
		check_reply(out);
		free(out);
		free(copy);
	}
	return 0;
}
