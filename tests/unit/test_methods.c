/*
 * test_methods.c — byold's methods over a real store and scheduler, driven
 * by JSON-RPC lines as a client would send them: submit a real (tiny) job,
 * follow it to completion through the persisted events, read its metrics,
 * checkpoints (in chunks, checked against the sha256), logs and history;
 * and the error replies: bad spec naming the field, unknown job, bad state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/events.h"
#include "jobs/recover.h"
#include "server/methods.h"
#include "sha256.h"

static char dir[] = "/tmp/byol-methods-XXXXXX";
static struct daemon_ctx d;
static struct methods_conn mc = { &d, NULL, NULL };
static struct rpc_conn conn = { .authed = 1, .user = &mc };

/* Send one request line; returns the parsed response (caller frees). */
static cJSON *call(const char *fmt, ...)
{
	char line[4096], *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	size_t n;
	const struct rpc_method *t = methods_table(&n);
	assert_int_equal(rpc_handle_line(t, n, &conn, line, strlen(line), &out), 0);
	assert_non_null(out);
	cJSON *r = cJSON_Parse(out);
	free(out);
	assert_non_null(r);
	return r;
}

static const cJSON *result(const cJSON *r)
{
	const cJSON *res = cJSON_GetObjectItem(r, "result");
	if (!res)
		fail_msg("error: %s", cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "error")));
	return res;
}

static int error_code(const cJSON *r)
{
	const cJSON *e = cJSON_GetObjectItem(r, "error");
	return e ? cJSON_GetObjectItem(e, "code")->valueint : 0;
}

/* Persist scheduler events until job_id reaches a final state (60 s at most). */
static void pump_until_done(long job_id)
{
	for (int i = 0; i < 6000; i++) {
		struct sched_event *ev;
		int n, done = 0;
		jobs_events_drain(&d.jobs, &ev, &n);
		for (int k = 0; k < n; k++) {
			assert_non_null(ev[k].ev); /* every event stored */
			const cJSON *t = cJSON_GetObjectItem(ev[k].ev, "event");
			done |= ev[k].job_id == job_id && strcmp(t->valuestring, "end") == 0;
		}
		jobs_events_free(ev, n);
		if (done)
			return;
		usleep(10000);
	}
	fail_msg("job %ld did not finish", job_id);
}

static const char *submit_line =
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":{\"preset\":"
	"\"fmnist-convnet\",\"set\":{\"data.limit\":256,\"eval_data.limit\":64,"
	"\"model.width\":0.125,\"model.projector\":{\"hidden\":32,\"out\":16},"
	"\"model.predictor\":{\"hidden\":32,\"out\":16},\"train.batch_size\":64,"
	"\"train.epochs\":2,\"optim.warmup_epochs\":0,\"train.log_every\":1,"
	"\"eval.linear.epochs\":1,\"eval.knn.k\":5,\"threads\":1}}}";

static void test_job_lifecycle(void **state)
{
	(void)state;
	cJSON *r = call("%s", submit_line);
	long id = (long)cJSON_GetObjectItem(result(r), "job_id")->valuedouble;
	cJSON_Delete(r);
	assert_true(id >= 1);
	pump_until_done(id);

	r = call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.get\",\"params\":{\"job_id\":%ld}}", id);
	assert_string_equal(cJSON_GetObjectItem(result(r), "state")->valuestring, "completed");
	assert_int_equal(cJSON_GetObjectItem(result(r), "step")->valueint, 8);
	cJSON_Delete(r);

	r = call("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.metrics\",\"params\":{\"job_id\":%ld}}", id);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(result(r), "points")), 8);
	cJSON_Delete(r);

	r = call("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"checkpoint.list\",\"params\":{\"job_id\":%ld}}", id);
	const cJSON *ck = cJSON_GetArrayItem(cJSON_GetObjectItem(result(r), "checkpoints"), 0);
	assert_non_null(ck);
	long cid = (long)cJSON_GetObjectItem(ck, "checkpoint_id")->valuedouble;
	char sha[65];
	snprintf(sha, sizeof sha, "%s", cJSON_GetObjectItem(ck, "sha256")->valuestring);
	cJSON_Delete(r);

	/* Read the whole file in chunks; the bytes hash to the indexed sha256. */
	struct sha256 h;
	sha256_init(&h);
	long offset = 0, total = 1;
	while (offset < total) {
		r = call("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"checkpoint.read\",\"params\":"
			 "{\"checkpoint_id\":%ld,\"offset\":%ld,\"length\":65536}}", cid, offset);
		const cJSON *res = result(r);
		total = (long)cJSON_GetObjectItem(res, "total")->valuedouble;
		assert_string_equal(cJSON_GetObjectItem(res, "sha256")->valuestring, sha);
		const char *b64 = cJSON_GetObjectItem(res, "data")->valuestring;
		static const char tab[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		size_t len = strlen(b64), got = 0;
		unsigned char *buf = malloc(len);
		for (size_t i = 0; i < len; i += 4) {
			unsigned v = 0;
			int pad = 0;
			for (int k = 0; k < 4; k++) {
				const char *p = strchr(tab, b64[i + k]);
				v = v << 6 | (b64[i + k] == '=' ? 0 : (unsigned)(p - tab));
				pad += b64[i + k] == '=';
			}
			for (int k = 0; k < 3 - pad; k++)
				buf[got++] = (unsigned char)(v >> (16 - 8 * k));
		}
		sha256_update(&h, buf, got);
		offset += (long)got;
		free(buf);
		cJSON_Delete(r);
	}
	char digest[65];
	sha256_hex(&h, digest);
	assert_string_equal(digest, sha);

	r = call("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"history.query\",\"params\":"
		 "{\"spec\":{\"model.encoder\":\"convnet\"},\"order_by\":\"-top1\"}}");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(result(r), "runs")), 1);
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.cancel\",\"params\":{\"job_id\":%ld}}", id);
	assert_int_equal(error_code(r), RPC_BAD_STATE);
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"job.delete\",\"params\":{\"job_id\":%ld}}", id);
	result(r);
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"job.get\",\"params\":{\"job_id\":%ld}}", id);
	assert_int_equal(error_code(r), RPC_NOT_FOUND);
	cJSON_Delete(r);
}

static void test_bad_requests(void **state)
{
	(void)state;
	cJSON *r = call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
			"{\"preset\":\"fmnist-convnet\",\"set\":{\"train.batch_size\":1000000000}}}");
	assert_int_equal(error_code(r), RPC_INVALID_PARAMS);
	const cJSON *data = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "data");
	assert_string_equal(cJSON_GetObjectItem(data, "field")->valuestring, "train.batch_size");
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\",\"params\":"
		 "{\"spec\":{\"data\":{\"path\":\"/nonexistent/dir\"}}}}");
	assert_int_equal(error_code(r), RPC_INVALID_PARAMS);
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"checkpoint.read\",\"params\":"
		 "{\"checkpoint_id\":12345,\"offset\":0,\"length\":10}}");
	assert_int_equal(error_code(r), RPC_NOT_FOUND);
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"server.status\"}");
	assert_non_null(cJSON_GetObjectItem(result(r), "jobs"));
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"preset.list\"}");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(result(r), "presets")), 2);
	cJSON_Delete(r);
}

/* A job killed mid-run with a damaged newest checkpoint resumes from the one before,
   and ends with one metric point per step. */
static void test_recovery(void **state)
{
	(void)state;
	char line[2048];
	snprintf(line, sizeof line, "%.*s,\"checkpoint.every_steps\":2}}}",
		 (int)(strlen(submit_line) - 3), submit_line);
	cJSON *r = call("%s", line);
	long id = (long)cJSON_GetObjectItem(result(r), "job_id")->valuedouble;
	cJSON_Delete(r);
	pump_until_done(id);
	struct err e;
	/* As if byold had been killed during the last steps: still "running", and the
	   newest checkpoint (step 8) damaged. */
	assert_int_equal(store_job_set_state(d.jobs.store, id, "running", NULL, &e), 0);
	char path[512];
	snprintf(path, sizeof path, "%s/checkpoints/%ld/step-00000008.safetensors", dir, id);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, -5, SEEK_END);
	fputc('!', f);
	fclose(f);
	int requeued;
	assert_int_equal(jobs_recover(&d.jobs, &requeued, &e), 0);
	assert_int_equal(requeued, 1);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.metrics\",\"params\":{\"job_id\":%ld}}", id);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(result(r), "points")), 6);
	cJSON_Delete(r);
	pump_until_done(id);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.get\",\"params\":{\"job_id\":%ld}}", id);
	assert_string_equal(cJSON_GetObjectItem(result(r), "state")->valuestring, "completed");
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"job.metrics\",\"params\":{\"job_id\":%ld}}", id);
	const cJSON *pts = cJSON_GetObjectItem(result(r), "points"), *p;
	long expect = 1;
	cJSON_ArrayForEach(p, pts)
		assert_int_equal((long)cJSON_GetObjectItem(p, "step")->valuedouble, expect++);
	assert_int_equal(expect, 9);
	cJSON_Delete(r);
	r = call("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"job.logs\",\"params\":{\"job_id\":%ld}}", id);
	char *logs = cJSON_PrintUnformatted(result(r));
	assert_non_null(strstr(logs, "step-00000006"));
	free(logs);
	cJSON_Delete(r);
}

static int setup(void **state)
{
	(void)state;
	struct err e;
	char path[256];
	if (!mkdtemp(dir))
		return -1;
	snprintf(d.jobs.state_dir, sizeof d.jobs.state_dir, "%s", dir);
	snprintf(path, sizeof path, "%s/checkpoints", dir);
	mkdir(path, 0750);
	snprintf(path, sizeof path, "%s/byold.db", dir);
	d.started = time(NULL);
	d.workers = 1;
	d.max_queued = 1000;
	d.streams = streams_new();
	return !d.streams || store_open(&d.jobs.store, path, &e) ||
	       scheduler_start(&d.jobs.sched, 1, 2, NULL, NULL, &e);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[64];
	scheduler_stop(d.jobs.sched);
	streams_free(d.streams);
	store_close(d.jobs.store);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_lifecycle),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_recovery),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
