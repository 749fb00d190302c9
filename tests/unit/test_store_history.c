/*
 * test_store_history.c — history.query over a real store: filters on names,
 * states, times, spec paths and metrics, ordering, limits, many filters, and
 * the rejection of bad parameters naming the field.
 */
#include "store_test_util.h"

/* ---- history.query ---------------------------------------------------------------------- */

/* Four runs: 1 alpha convnet 20 epochs completed (top1 80), 2 beta resnet18
 * 30 epochs completed (top1 85), 3 alpha resnet18 20 epochs failed, 4 gamma
 * queued; created on 2026-01-01 .. 04 at noon UTC. */
static void history_fixture(void)
{
	static const char *const specs[] = {
		"{\"train\": {\"epochs\": 20, \"batch_size\": 256}, \"model\": {\"encoder\":"
		" \"convnet\", \"width\": 1.0}, \"optim\": {\"name\": \"lars\"}, \"ok\": true}",
		"{\"train\": {\"epochs\": 30, \"batch_size\": 256}, \"model\": {\"encoder\":"
		" \"resnet18\", \"width\": 0.5}, \"ok\": false}",
		"{\"train\": {\"epochs\": 20.0}, \"model\": {\"encoder\": \"resnet18\"}}",
		"{\"train\": {\"epochs\": 300}, \"model\": {\"encoder\": \"resnet50\"}}",
	};
	static const char *const names[] = { "alpha", "beta", "alpha", "gamma" };
	for (int i = 0; i < 4; i++)
		assert_int_equal(add_job(names[i], specs[i]), i + 1);
	assert_int_equal(store_job_set_state(s, 1, "completed", NULL, &e), 0);
	assert_int_equal(store_job_set_state(s, 2, "completed", NULL, &e), 0);
	assert_int_equal(store_job_set_state(s, 3, "failed", "boom", &e), 0);
	assert_int_equal(store_job_final(s, 1, 80, 98, 70, 0.3, &e), 0);
	assert_int_equal(store_job_final(s, 2, 85, 99, NAN, 0.2, &e), 0);
	raw("UPDATE jobs SET created = '2026-01-0' || job_id || 'T12:00:00.000Z'");
}

/* history.query(params) gives exactly these job ids, in order. */
static void expect_runs(const char *params, const char *ids)
{
	cJSON *p = cJSON_Parse(params);
	assert_non_null(p);
	cJSON *r = store_history_query(s, p, &e);
	if (!r)
		fail_msg("%s: %s", params, e.msg);
	if (strcmp(column(r, "runs", "job_id"), ids) != 0)
		fail_msg("%s: runs %s, want %s", params, column(r, "runs", "job_id"), ids);
	cJSON_Delete(r);
	cJSON_Delete(p);
}

static void test_history_filters(void **state)
{
	(void)state;
	history_fixture();
	cJSON *r = store_history_query(s, NULL, &e);
	assert_keys(r, "runs");
	const cJSON *run = cJSON_GetArrayItem(get(r, "runs"), 3);
	assert_keys(run, "job_id name state spec top1 top5 knn_top1 final_loss created finished");
	assert_string_equal(str(get(get(run, "spec"), "model"), "encoder"), "convnet");
	assert_string_equal(str(run, "created"), "2026-01-01T12:00:00.000Z");
	assert_time(str(run, "finished"));
	cJSON_Delete(r);

	expect_runs("{}", "4 3 2 1");
	expect_runs("{\"name\": \"alpha\"}", "3 1");
	expect_runs("{\"name\": \"alpha' OR '1'='1\"}", "");
	expect_runs("{\"state\": \"completed\"}", "2 1");
	expect_runs("{\"name\": \"alpha\", \"state\": \"completed\"}", "1");
	/* spec: equality on nested fields, operators, types */
	expect_runs("{\"spec\": {\"train.epochs\": 20}}", "3 1");
	expect_runs("{\"spec\": {\"model.encoder\": \"convnet\"}}", "1");
	expect_runs("{\"spec\": {\"train.epochs\": 20, \"model.encoder\": \"resnet18\"}}", "3");
	expect_runs("{\"spec\": {\"train.epochs\": {\">\": 20, \"<\": 300}}}", "2");
	expect_runs("{\"spec\": {\"train.epochs\": {\"!=\": 20}}}", "4 2");
	expect_runs("{\"spec\": {\"train.epochs\": {\">=\": 30}}}", "4 2");
	expect_runs("{\"spec\": {\"train.epochs\": {\"<=\": 20}}}", "3 1");
	expect_runs("{\"spec\": {\"train.epochs\": \"20\"}}", ""); /* a string is not a number */
	expect_runs("{\"spec\": {\"model.width\": 0.5}}", "2");
	expect_runs("{\"spec\": {\"ok\": true}}", "1");
	expect_runs("{\"spec\": {\"ok\": false}}", "2");
	expect_runs("{\"spec\": {\"optim.name\": \"lars\"}}", "1");
	expect_runs("{\"spec\": {\"no.such.field\": 1}}", "");
	expect_runs("{\"spec\": {\"model.encoder\": \"x') OR 1=1 --\"}}", "");
	/* metrics: runs without the value never match */
	expect_runs("{\"metric\": {\"top1\": {\">=\": 82}}}", "2");
	expect_runs("{\"metric\": {\"top1\": {\"<\": 90}}}", "2 1");
	expect_runs("{\"metric\": {\"top1\": 80}}", "1");
	expect_runs("{\"metric\": {\"knn_top1\": {\">\": 0}}}", "1");
	expect_runs("{\"metric\": {\"final_loss\": {\"<=\": 0.25}, \"top5\": {\"==\": 99}}}", "2");
	expect_runs("{\"metric\": {\"top1\": {\">\": 70}}, \"spec\": {\"train.epochs\": 20}}", "1");
	/* times: since inclusive, until exclusive, offsets converted */
	expect_runs("{\"since\": \"2026-01-02\"}", "4 3 2");
	expect_runs("{\"until\": \"2026-01-02T12:00:00Z\"}", "1");
	expect_runs("{\"since\": \"2026-01-02T12:00:00.000Z\", \"until\": \"2026-01-04\"}", "3 2");
	expect_runs("{\"since\": \"2026-01-02T13:00:00+01:00\"}", "4 3 2");
	/* ordering: missing values last either way; ties by job_id */
	expect_runs("{\"order_by\": \"-top1\"}", "2 1 4 3");
	expect_runs("{\"order_by\": \"top1\"}", "1 2 3 4");
	expect_runs("{\"order_by\": \"name\"}", "1 3 2 4");
	expect_runs("{\"order_by\": \"-name\"}", "4 2 3 1");
	expect_runs("{\"order_by\": \"created\"}", "1 2 3 4");
	expect_runs("{\"order_by\": \"-created\"}", "4 3 2 1");
	expect_runs("{\"order_by\": \"job_id\"}", "1 2 3 4");
	expect_runs("{\"order_by\": \"final_loss\"}", "2 1 3 4");
	expect_runs("{\"order_by\": \"-knn_top1\"}", "1 4 3 2");
	expect_runs("{\"order_by\": \"top5\", \"state\": \"completed\"}", "1 2");
	expect_runs("{\"order_by\": \"finished\", \"limit\": 3}", "1 2 3");
	/* limit */
	expect_runs("{\"limit\": 2}", "4 3");
	expect_runs("{\"limit\": 10000, \"order_by\": \"-top1\"}", "2 1 4 3");
}

static void test_history_many(void **state)
{
	(void)state;
	assert_int_equal(store_begin(s, &e), 0);
	for (int i = 0; i < 150; i++)
		add_job("bulk", "{\"seed\": 1}");
	assert_int_equal(store_commit(s, &e), 0);
	cJSON *r = store_history_query(s, NULL, &e);
	assert_int_equal(cJSON_GetArraySize(get(r, "runs")), STORE_LIMIT_DEFAULT);
	cJSON_Delete(r);
	r = store_job_list(s, NULL, NULL, 1000000, &e);
	assert_int_equal(cJSON_GetArraySize(get(r, "jobs")), 150);
	cJSON_Delete(r);
}

static void test_history_rejects(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ "{\"order_by\": \"bogus\"}", "order_by" },
		{ "{\"order_by\": \"-\"}", "order_by" },
		{ "{\"order_by\": \"--top1\"}", "order_by" },
		{ "{\"order_by\": \"top1; DROP TABLE jobs\"}", "order_by" },
		{ "{\"order_by\": 5}", "order_by" },
		{ "{\"metric\": {\"bogus\": {\">=\": 1}}}", "metric.bogus" },
		{ "{\"metric\": {\"created\": {\">=\": 1}}}", "metric.created" },
		{ "{\"metric\": {\"top1\": {\"=~\": 1}}}", "metric.top1" },
		{ "{\"metric\": {\"top1\": {\"=\": 1}}}", "metric.top1" },
		{ "{\"metric\": {\"top1\": {\">= 0 OR 1\": 1}}}", "metric.top1" },
		{ "{\"metric\": {\"top1\": {\">=\": \"80\"}}}", "metric.top1" },
		{ "{\"metric\": {\"top1\": \"high\"}}", "metric.top1" },
		{ "{\"metric\": {\"top1\": null}}", "metric.top1" },
		{ "{\"metric\": [\"top1\"]}", "metric" },
		{ "{\"spec\": {\"a'b\": 1}}", "spec.a'b" },
		{ "{\"spec\": {\"a\\\"b\": 1}}", "spec.a\"b" },
		{ "{\"spec\": {\"a[0]\": 1}}", "spec.a[0]" },
		{ "{\"spec\": {\"data.mean[0]\": 1}}", "spec.data.mean[0]" },
		{ "{\"spec\": {\"$.train.epochs\": 1}}", "spec.$.train.epochs" },
		{ "{\"spec\": {\"$\": 1}}", "spec.$" },
		{ "{\"spec\": {\"a..b\": 1}}", "spec.a..b" },
		{ "{\"spec\": {\".a\": 1}}", "spec..a" },
		{ "{\"spec\": {\"a.\": 1}}", "spec.a." },
		{ "{\"spec\": {\"\": 1}}", "spec." },
		{ "{\"spec\": {\"a b\": 1}}", "spec.a b" },
		{ "{\"spec\": {\"train.epochs\": null}}", "spec.train.epochs" },
		{ "{\"spec\": {\"train.epochs\": [20]}}", "spec.train.epochs" },
		{ "{\"spec\": {\"train.epochs\": {\"<>\": 20}}}", "spec.train.epochs" },
		{ "{\"spec\": {\"train.epochs\": {\">\": {}}}}", "spec.train.epochs" },
		{ "{\"spec\": \"train.epochs=20\"}", "spec" },
		{ "{\"name\": 5}", "name" },
		{ "{\"state\": \"bogus\"}", "state" },
		{ "{\"state\": 1}", "state" },
		{ "{\"since\": \"yesterday\"}", "since" },
		{ "{\"since\": 20260101}", "since" },
		{ "{\"until\": \"2026-13-45\"}", "until" },
		{ "{\"until\": \"2026-01-01Tnoon\"}", "until" },
		{ "{\"limit\": 0}", "limit" },
		{ "{\"limit\": -5}", "limit" },
		{ "{\"limit\": 10001}", "limit" },
		{ "{\"limit\": 1.5}", "limit" },
		{ "{\"limit\": \"10\"}", "limit" },
		{ "{\"bogus\": 1}", "bogus" },
		{ "[]", "params" },
	};
	history_fixture();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cJSON *p = cJSON_Parse(bad[i][0]);
		assert_non_null(p);
		e = (struct err){ 0 };
		cJSON *r = store_history_query(s, p, &e);
		cJSON_Delete(p);
		size_t n = strlen(bad[i][1]);
		if (r || e.code != ERR_INVALID || strncmp(e.msg, bad[i][1], n) != 0 ||
		    e.msg[n] != ':')
			fail_msg("%s: code %d, message \"%s\"; want invalid \"%s: ...\"", bad[i][0],
				 e.code, e.msg, bad[i][1]);
	}
	char many[4096] = "{\"spec\": {\"a\": {";
	for (int i = 0; i < 70; i++)
		strcat(many, i ? ", \">\": 1" : "\">\": 1");
	strcat(many, "}}}");
	cJSON *p = cJSON_Parse(many);
	assert_null(store_history_query(s, p, &e));
	assert_error(e.code, ERR_INVALID, "spec");
	cJSON_Delete(p);
	assert_int_equal(raw("SELECT count(*) FROM jobs"), 4);
	expect_runs("{}", "4 3 2 1"); /* the statement is usable after every rejection */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_history_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_rejects, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
