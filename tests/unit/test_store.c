/*
 * test_store.c — byold's SQLite store: job lifecycle and its timestamps;
 * results shaped like the JSON-RPC results; metrics replaced, not
 * duplicated, truncated and ranged; the checkpoint index as the only way to a
 * path; evals, logs, job counts, cascading deletes, transactions, a writer
 * killed with SIGKILL; the typed reads; reopening, newer schemas, read-only
 * and missing directories (history.query: test_store_history.c).
 * Each test gets a fresh database in its own mkdtemp directory.
 */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store_test_util.h"

/* ---- connection ------------------------------------------------------------ */

static void test_open_schema(void **state)
{
	(void)state;
	assert_int_equal(raw("SELECT value FROM meta WHERE key = 'schema_version'"),
			 STORE_SCHEMA_VERSION);
	assert_int_equal(raw("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN"
			     " ('jobs', 'metrics', 'checkpoints', 'evals', 'logs')"), 5);
	assert_int_equal(raw("SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	assert_int_equal(store_integrity_ok(s, &e), 0);
	store_close(NULL);
}

static void test_reopen_keeps_data(void **state)
{
	(void)state;
	long a = add_job("a", "{\"x\": 1}"), b = add_job("b", "{}");
	add_point(a, 10, 1.5);
	assert_int_equal(store_job_delete(s, b, &e), 0);
	store_close(s);
	assert_int_equal(store_open(&s, db_path, &e), 0);
	cJSON *job = store_job_get(s, a, &e);
	assert_non_null(job);
	assert_string_equal(str(job, "name"), "a");
	assert_int_equal(num(get(job, "last"), "step"), 10);
	cJSON_Delete(job);
	assert_true(add_job("c", "{}") > b); /* ids are never reused */
	assert_int_equal(raw("SELECT count(*) FROM meta"), 1);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	store_close(s);
	s = NULL;
	raw("UPDATE meta SET value = 4 WHERE key = 'schema_version'");
	assert_error(store_open(&s, db_path, &e), ERR_INVALID, NULL);
	assert_null(s);
	assert_non_null(strstr(e.msg, "newer"));
	raw("UPDATE meta SET value = 'one' WHERE key = 'schema_version'");
	assert_error(store_open(&s, db_path, &e), ERR_INVALID, NULL);
	assert_null(s);
	raw("UPDATE meta SET value = 3 WHERE key = 'schema_version'");
	assert_int_equal(store_open(&s, db_path, &e), 0);
}

/* A version 1 database (before skipped_images) is migrated at open, its jobs kept. */
static void test_migration_to_v2(void **state)
{
	(void)state;
	long a = add_job("old", "{}");
	store_close(s);
	s = NULL;
	raw("ALTER TABLE jobs DROP COLUMN skipped_images");
	raw("UPDATE meta SET value = 1 WHERE key = 'schema_version'");
	assert_int_equal(store_open(&s, db_path, &e), 0);
	assert_int_equal(raw("SELECT value FROM meta WHERE key = 'schema_version'"), 3);
	cJSON *j = store_job_get(s, a, &e);
	assert_int_equal((int)num(j, "skipped_images"), 0);
	cJSON_Delete(j);
	assert_int_equal(store_job_skipped(s, a, 12, &e), 0);
	j = store_job_get(s, a, &e);
	assert_int_equal((int)num(j, "skipped_images"), 12);
	cJSON_Delete(j);
	assert_error(store_job_skipped(s, 999, 1, &e), ERR_NOTFOUND, NULL);
}

/* A version 2 database (evals of two kinds, no request) is migrated at open: its
   evals kept, ids going on from theirs, the new kinds and states accepted. */
static void test_migration_to_v3(void **state)
{
	(void)state;
	long a = add_job("old", "{}"), id;
	store_close(s);
	s = NULL;
	raw("DROP TABLE evals");
	raw("CREATE TABLE evals (eval_id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT "
	    "NULL REFERENCES jobs ON DELETE CASCADE, checkpoint_id INTEGER REFERENCES checkpoints "
	    "ON DELETE SET NULL, kind TEXT NOT NULL CHECK (kind IN ('linear', 'knn')), step "
	    "INTEGER, top1 REAL, top5 REAL, state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN "
	    "('pending', 'done', 'failed')), created TEXT NOT NULL)");
	raw("INSERT INTO evals (job_id, kind, step, top1, top5, state, created) VALUES "
	    "(1, 'knn', 10, 71.5, 97.0, 'done', '2026-01-01T00:00:00Z')");
	raw("UPDATE meta SET value = 2 WHERE key = 'schema_version'");
	assert_int_equal(store_open(&s, db_path, &e), 0);
	assert_int_equal(raw("SELECT value FROM meta WHERE key = 'schema_version'"), 3);
	assert_int_equal(raw("SELECT count(*) FROM evals WHERE kind = 'knn' AND top1 = 71.5"), 1);
	assert_int_equal(store_eval_insert(s, a, 0, "finetune", "{\"labels\": 0.01}", &id, &e), 0);
	assert_int_equal(id, 2);
	assert_int_equal(raw("SELECT count(*) FROM evals WHERE labels = 0.01 AND "
			     "init = 'checkpoint'"), 1);
	assert_int_equal(store_eval_failed(s, id, 1, &e), 0);
	assert_int_equal(raw("SELECT count(*) FROM evals WHERE state = 'cancelled'"), 1);
}

/* store_open on path in a child that cannot write dir (root drops to
 * nobody); returns the child's store_open result sign: 0 ok, 1 failed. */
static int open_unprivileged(const char *path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *t = NULL;
		struct err ce;
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(2);
		int rc = store_open(&t, path, &ce);
		_exit(rc < 0 && t == NULL ? 1 : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_open_bad_places(void **state)
{
	(void)state;
	char path[160];
	struct store *t = (struct store *)&t;
	snprintf(path, sizeof path, "%s/missing/byold.db", dir);
	assert_error(store_open(&t, path, &e), ERR_IO, NULL);
	assert_null(t);

	snprintf(path, sizeof path, "%s/junk.db", dir); /* not a database */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 512; i++)
		fputs("not sqlite ", f);
	fclose(f);
	assert_true(store_open(&t, path, &e) < 0);
	assert_null(t);

	char ro[80];
	snprintf(ro, sizeof ro, "%s/ro", dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/new.db", ro); /* a new database in a read-only dir */
	assert_int_equal(chmod(ro, 0555), 0);
	assert_int_equal(open_unprivileged(path), 1);
	assert_int_equal(chmod(ro, 0755), 0);
	snprintf(path, sizeof path, "%s/old.db", ro); /* an existing one */
	assert_int_equal(store_open(&t, path, &e), 0);
	store_close(t);
	assert_int_equal(chmod(path, 0444), 0);
	assert_int_equal(chmod(ro, 0555), 0);
	assert_int_equal(open_unprivileged(path), 1);
}

static void test_integrity_ok(void **state)
{
	(void)state;
	long a = add_job("a", "{}");
	add_point(a, 1, 1.0);
	assert_int_equal(store_integrity_ok(s, &e), 0);
	assert_int_equal(store_integrity_ok(s, &e), 0); /* the statement resets */
}

static void test_transactions(void **state)
{
	(void)state;
	long job = add_job("a", "{}");
	char path[128];
	snprintf(path, sizeof path, "%s/step-00000010.safetensors", dir);
	assert_int_equal(store_rollback(s), 0); /* none open */

	assert_int_equal(store_begin(s, &e), 0);
	assert_true(store_begin(s, &e) < 0); /* no nesting */
	add_ckpt(job, 10, path);
	assert_int_equal(store_job_progress(s, job, 10, &e), 0);
	assert_int_equal(store_rollback(s), 0);
	cJSON *j = store_job_get(s, job, &e);
	assert_int_equal(num(j, "step"), 0);
	assert_int_equal(cJSON_GetArraySize(get(j, "checkpoints")), 0);
	cJSON_Delete(j);

	assert_int_equal(store_begin(s, &e), 0);
	add_ckpt(job, 10, path);
	assert_int_equal(store_job_progress(s, job, 10, &e), 0);
	assert_int_equal(store_commit(s, &e), 0);
	j = store_job_get(s, job, &e);
	assert_int_equal(num(j, "step"), 10);
	assert_int_equal(cJSON_GetArraySize(get(j, "checkpoints")), 1);
	cJSON_Delete(j);
	assert_true(store_commit(s, &e) < 0); /* nothing to commit */
}

/* A writer killed with SIGKILL mid-stream leaves a database that passes
 * integrity_check with every committed point and no partial one. */
static void test_kill_during_writes(void **state)
{
	(void)state;
	long job = add_job("a", "{}");
	store_close(s);
	s = NULL;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *w;
		struct err we;
		if (store_open(&w, db_path, &we) < 0)
			_exit(1);
		cJSON *ev = cJSON_Parse("{\"step\": 0, \"loss\": 1.5, \"epoch\": 0}");
		for (long step = 1;; step++) {
			cJSON_SetNumberValue(cJSON_GetObjectItem(ev, "step"), (double)step);
			if (store_metric_insert(w, job, ev, &we) < 0 ||
			    store_job_progress(w, job, step, &we) < 0)
				_exit(1);
		}
	}
	int status, waited = 0;
	while (raw("SELECT count(*) FROM metrics") < 20 && waited++ < 10000 &&
	       waitpid(pid, &status, WNOHANG) == 0)
		usleep(1000);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(store_open(&s, db_path, &e), 0);
	assert_int_equal(store_integrity_ok(s, &e), 0);
	long long n = raw("SELECT count(*) FROM metrics");
	assert_int_equal(raw("SELECT max(step) FROM metrics"), n); /* 1..n, no gaps */
	assert_true(raw("SELECT step FROM jobs") >= n - 1);
}

/* ---- jobs ---------------------------------------------------------------------- */

static void test_job_lifecycle(void **state)
{
	(void)state;
	long a = add_job("a", "{\"train\": {\"epochs\": 2}}"), p;
	assert_int_equal(store_job_insert(s, "p", "{}", 5, 1, &p, &e), 0);
	assert_true(p > a);
	cJSON *j = store_job_get(s, a, &e);
	assert_string_equal(str(j, "state"), "queued");
	assert_time(str(j, "created"));
	assert_true(cJSON_IsNull(get(j, "started")) && cJSON_IsNull(get(j, "finished")));
	assert_true(cJSON_IsNull(get(j, "error")));
	assert_int_equal(num(j, "total_steps"), 100);
	cJSON_Delete(j);
	j = store_job_get(s, p, &e);
	assert_string_equal(str(j, "state"), "paused");
	cJSON_Delete(j);

	assert_int_equal(store_job_set_state(s, a, "running", NULL, &e), 0);
	j = store_job_get(s, a, &e);
	char started[32];
	snprintf(started, sizeof started, "%s", str(j, "started"));
	assert_time(started);
	assert_true(cJSON_IsNull(get(j, "finished")));
	cJSON_Delete(j);
	usleep(3000);
	assert_int_equal(store_job_set_state(s, a, "paused", NULL, &e), 0);
	assert_int_equal(store_job_set_state(s, a, "running", NULL, &e), 0);
	assert_int_equal(store_job_progress(s, a, 42, &e), 0);
	assert_int_equal(store_job_set_state(s, a, "failed", "loss is NaN at step 43", &e), 0);
	j = store_job_get(s, a, &e);
	assert_string_equal(str(j, "started"), started); /* the first start is kept */
	assert_time(str(j, "finished"));
	assert_true(strcmp(str(j, "finished"), started) > 0);
	assert_string_equal(str(j, "state"), "failed");
	assert_string_equal(str(j, "error"), "loss is NaN at step 43");
	assert_int_equal(num(j, "step"), 42);
	cJSON_Delete(j);

	assert_int_equal(store_job_set_state(s, p, "interrupted", "daemon stopped", &e), 0);
	assert_int_equal(store_job_set_state(s, p, "queued", NULL, &e), 0);
	j = store_job_get(s, p, &e);
	assert_true(cJSON_IsNull(get(j, "error")) && cJSON_IsNull(get(j, "finished")));
	assert_true(cJSON_IsNull(get(j, "started")));
	cJSON_Delete(j);

	assert_error(store_job_set_state(s, a, "done", NULL, &e), ERR_INVALID, "state");
	assert_error(store_job_set_state(s, 999, "running", NULL, &e), ERR_NOTFOUND, NULL);
	assert_error(store_job_progress(s, 999, 1, &e), ERR_NOTFOUND, NULL);
	assert_error(store_job_final(s, 999, 1, 2, 3, 4, &e), ERR_NOTFOUND, NULL);
	assert_null(store_job_get(s, 999, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_error(store_job_insert(s, NULL, "{}", 1, 0, &p, &e), ERR_INVALID, "name");
	assert_error(store_job_insert(s, "x", "[1]", 1, 0, &p, &e), ERR_INVALID, NULL);
	assert_error(store_job_insert(s, "x", "{bad", 1, 0, &p, &e), ERR_INVALID, NULL);
	assert_error(store_job_insert(s, "x", "{}", -1, 0, &p, &e), ERR_INVALID, "total_steps");
}

static void test_job_final(void **state)
{
	(void)state;
	long a = add_job("a", "{}");
	assert_int_equal(store_job_final(s, a, NAN, NAN, 55.5, NAN, &e), 0);
	cJSON *r = store_history_query(s, NULL, &e);
	assert_string_equal(column(r, "runs", "knn_top1"), "55.5");
	assert_string_equal(column(r, "runs", "top1"), "null");
	cJSON_Delete(r);
	assert_int_equal(store_job_final(s, a, 80.25, 97.5, NAN, 0.125, &e), 0);
	r = store_history_query(s, NULL, &e);
	const cJSON *run = cJSON_GetArrayItem(get(r, "runs"), 0);
	assert_true(num(run, "top1") == 80.25 && num(run, "top5") == 97.5);
	assert_true(num(run, "knn_top1") == 55.5 && num(run, "final_loss") == 0.125);
	cJSON_Delete(r);
}

static void test_job_get_shape(void **state)
{
	(void)state;
	long a = add_job("shape", "{\"model\": {\"encoder\": \"convnet\"}}");
	cJSON *j = store_job_get(s, a, &e);
	assert_keys(j, "job_id name state spec created started finished error step total_steps"
		       " top1 top5 knn_top1 final_loss skipped_images last checkpoints evals");
	assert_int_equal(num(j, "job_id"), a);
	assert_string_equal(str(get(get(j, "spec"), "model"), "encoder"), "convnet");
	assert_true(cJSON_IsNull(get(j, "last")));
	assert_int_equal(cJSON_GetArraySize(get(j, "checkpoints")), 0);
	assert_int_equal(cJSON_GetArraySize(get(j, "evals")), 0);
	cJSON_Delete(j);

	add_point(a, 10, 2.5);
	add_point(a, 20, 2.25);
	long c = add_ckpt(a, 20, "/state/checkpoints/1/step-00000020.safetensors"), ev;
	assert_int_equal(store_eval_insert(s, a, c, "knn", NULL, &ev, &e), 0);
	j = store_job_get(s, a, &e);
	const cJSON *last = get(j, "last");
	assert_keys(last, "step epoch loss tau lr img_s z_std time");
	assert_int_equal(num(last, "step"), 20);
	assert_true(num(last, "loss") == 2.25);
	assert_keys(cJSON_GetArrayItem(get(j, "checkpoints"), 0),
		    "checkpoint_id step epoch bytes sha256 created");
	assert_keys(cJSON_GetArrayItem(get(j, "evals"), 0),
		    "eval_id checkpoint_id kind state step top1 top5 created data labels from result");
	cJSON_Delete(j);
}

static void test_job_list(void **state)
{
	(void)state;
	const char *evil = "x'; DROP TABLE jobs; --";
	long a = add_job("alpha", "{}"), b = add_job(evil, "{}"), c = add_job("alpha", "{}");
	assert_int_equal(store_job_set_state(s, b, "running", NULL, &e), 0);
	add_point(a, 10, 3.0);
	add_point(a, 20, 2.0);
	assert_int_equal(store_job_final(s, a, 81, NAN, NAN, NAN, &e), 0);
	cJSON *r = store_job_list(s, NULL, NULL, 0, &e);
	assert_keys(r, "jobs");
	assert_string_equal(column(r, "jobs", "job_id"), "3 2 1"); /* newest first */
	assert_keys(cJSON_GetArrayItem(get(r, "jobs"), 0), "job_id name state created started"
		    " finished step total_steps last_loss last_epoch last_img_s top1 knn_top1");
	assert_string_equal(column(r, "jobs", "last_loss"), "null null 2");
	assert_string_equal(column(r, "jobs", "top1"), "null null 81");
	cJSON_Delete(r);
	r = store_job_list(s, "running", NULL, 0, &e);
	assert_string_equal(column(r, "jobs", "job_id"), "2");
	cJSON_Delete(r);
	r = store_job_list(s, NULL, "alpha", 0, &e);
	assert_string_equal(column(r, "jobs", "job_id"), "3 1");
	cJSON_Delete(r);
	r = store_job_list(s, NULL, evil, 0, &e);
	assert_string_equal(column(r, "jobs", "name"), evil);
	cJSON_Delete(r);
	r = store_job_list(s, NULL, "' OR '1'='1", 0, &e);
	assert_string_equal(column(r, "jobs", "job_id"), "");
	cJSON_Delete(r);
	r = store_job_list(s, "queued", NULL, 1, &e);
	assert_string_equal(column(r, "jobs", "job_id"), "3");
	cJSON_Delete(r);
	assert_null(store_job_list(s, "bogus", NULL, 0, &e));
	assert_error(e.code, ERR_INVALID, "state");
	assert_int_equal(raw("SELECT count(*) FROM jobs"), 3);
	(void)c;
}

static void test_jobs_in_state_and_counts(void **state)
{
	(void)state;
	long *ids = (long *)&ids;
	int n = -1;
	long a = add_job("a", "{}"), b = add_job("b", "{}"), c = add_job("c", "{}");
	assert_int_equal(store_jobs_in_state(s, "running", &ids, &n, &e), 0);
	assert_int_equal(n, 0);
	assert_null(ids);
	assert_int_equal(store_job_set_state(s, c, "running", NULL, &e), 0);
	assert_int_equal(store_job_set_state(s, a, "running", NULL, &e), 0);
	assert_int_equal(store_jobs_in_state(s, "running", &ids, &n, &e), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], a);
	assert_int_equal(ids[1], c);
	free(ids);
	for (int i = 0; i < 40; i++)
		add_job("many", "{}");
	assert_int_equal(store_jobs_in_state(s, "queued", &ids, &n, &e), 0);
	assert_int_equal(n, 41);
	assert_int_equal(ids[0], b);
	free(ids);
	assert_error(store_jobs_in_state(s, "RUNNING", &ids, &n, &e), ERR_INVALID, "state");

	assert_int_equal(store_job_set_state(s, b, "completed", NULL, &e), 0);
	cJSON *counts = store_job_counts(s, &e);
	assert_keys(counts, "queued running paused completed failed cancelled interrupted");
	assert_int_equal(num(counts, "queued"), 40);
	assert_int_equal(num(counts, "running"), 2);
	assert_int_equal(num(counts, "completed"), 1);
	assert_int_equal(num(counts, "failed"), 0);
	cJSON_Delete(counts);
}

static void test_job_delete_cascades(void **state)
{
	(void)state;
	long a = add_job("a", "{}"), b = add_job("b", "{}"), ev;
	for (long job = a; job <= b; job++) {
		char path[64];
		snprintf(path, sizeof path, "/ckpt/%ld/step-00000010.safetensors", job);
		add_point(job, 10, 1.0);
		long c = add_ckpt(job, 10, path);
		assert_int_equal(store_eval_insert(s, job, c, "linear", NULL, &ev, &e), 0);
		assert_int_equal(store_log(s, job, "info", "hello", &e), 0);
	}
	assert_int_equal(store_job_delete(s, a, &e), 0);
	assert_int_equal(raw("SELECT (SELECT count(*) FROM metrics WHERE job_id = 1)"
			     " + (SELECT count(*) FROM checkpoints WHERE job_id = 1)"
			     " + (SELECT count(*) FROM evals WHERE job_id = 1)"
			     " + (SELECT count(*) FROM logs WHERE job_id = 1)"), 0);
	assert_int_equal(raw("SELECT (SELECT count(*) FROM metrics) + (SELECT count(*) FROM"
			     " checkpoints) + (SELECT count(*) FROM evals) + (SELECT count(*)"
			     " FROM logs)"), 4);
	assert_null(store_job_get(s, a, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_error(store_job_delete(s, a, &e), ERR_NOTFOUND, NULL);
	assert_int_equal(store_integrity_ok(s, &e), 0);
}

/* ---- metrics ---------------------------------------------------------------------- */

static void test_metrics_replace_truncate(void **state)
{
	(void)state;
	long a = add_job("a", "{}");
	for (long step = 10; step <= 50; step += 10)
		add_point(a, step, 5.0 - (double)step / 10);
	add_point(a, 30, 9.0); /* re-emitted after a resume */
	assert_int_equal(raw("SELECT count(*) FROM metrics"), 5);
	cJSON *r = store_metrics(s, a, 0, 0, 0, 0, &e);
	assert_string_equal(column(r, "points", "step"), "10 20 30 40 50");
	assert_string_equal(column(r, "points", "loss"), "4 3 9 1 0");
	cJSON_Delete(r);

	assert_int_equal(store_metrics_truncate(s, a, 20, &e), 0);
	r = store_metrics(s, a, 0, 0, 0, 0, &e);
	assert_string_equal(column(r, "points", "step"), "10 20");
	cJSON_Delete(r);
	add_point(a, 30, 2.0);
	assert_int_equal(raw("SELECT count(*) FROM metrics"), 3);

	cJSON *ev = cJSON_Parse("{\"event\": \"step\", \"step\": 40, \"loss\": null}");
	assert_int_equal(store_metric_insert(s, a, ev, &e), 0); /* time filled in, loss null */
	r = store_metrics(s, a, 40, 40, 0, 0, &e);
	const cJSON *p = cJSON_GetArrayItem(get(r, "points"), 0);
	assert_true(cJSON_IsNull(get(p, "loss")) && cJSON_IsNull(get(p, "epoch")));
	assert_time(str(p, "time"));
	cJSON_Delete(r);
	cJSON_Delete(ev);

	static const char *const bad[][2] = {
		{ "{\"loss\": 1}", "step" }, { "{\"step\": -1}", "step" },
		{ "{\"step\": 1.5}", "step" }, { "{\"step\": \"7\"}", "step" },
		{ "{\"step\": 1, \"loss\": \"low\"}", "loss" },
		{ "{\"step\": 1, \"epoch\": 0.5}", "epoch" },
		{ "{\"step\": 1, \"time\": 5}", "time" },
		{ "{\"event\": \"epoch\", \"step\": 1}", "event" }, { "[1]", "event" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ev = cJSON_Parse(bad[i][0]);
		assert_error(store_metric_insert(s, a, ev, &e), ERR_INVALID, bad[i][1]);
		cJSON_Delete(ev);
	}
	ev = cJSON_Parse("{\"step\": 1}");
	assert_error(store_metric_insert(s, 999, ev, &e), ERR_NOTFOUND, NULL);
	cJSON_Delete(ev);
	assert_int_equal(raw("SELECT count(*) FROM metrics"), 4);
}

static void test_metrics_ranges(void **state)
{
	(void)state;
	long a = add_job("a", "{}"), b = add_job("b", "{}");
	for (long step = 1; step <= 100; step++)
		add_point(a, step, 1.0);
	add_point(b, 7, 1.0);
	cJSON *r = store_metrics(s, a, 10, 20, 0, 0, &e);
	assert_keys(r, "points");
	assert_int_equal(cJSON_GetArraySize(get(r, "points")), 11);
	assert_keys(cJSON_GetArrayItem(get(r, "points"), 0),
		    "step epoch loss tau lr img_s z_std time");
	cJSON_Delete(r);
	r = store_metrics(s, a, 10, 20, 5, 0, &e);
	assert_string_equal(column(r, "points", "step"), "10 15 20");
	cJSON_Delete(r);
	r = store_metrics(s, a, 0, 0, 25, 0, &e);
	assert_string_equal(column(r, "points", "step"), "25 50 75 100");
	cJSON_Delete(r);
	r = store_metrics(s, a, 98, 0, 1, 0, &e);
	assert_string_equal(column(r, "points", "step"), "98 99 100");
	cJSON_Delete(r);
	r = store_metrics(s, a, 50, 40, 0, 0, &e);
	assert_string_equal(column(r, "points", "step"), "");
	cJSON_Delete(r);
	r = store_metrics(s, b, 0, 0, 0, 0, &e);
	assert_string_equal(column(r, "points", "step"), "7");
	cJSON_Delete(r);
	/* max_points: evenly spread, the first and the last kept, never more than asked */
	r = store_metrics(s, a, 0, 0, 0, 5, &e);
	assert_string_equal(column(r, "points", "step"), "1 26 51 76 100");
	cJSON_Delete(r);
	r = store_metrics(s, a, 0, 0, 0, 4, &e);
	assert_string_equal(column(r, "points", "step"), "1 34 67 100");
	cJSON_Delete(r);
	r = store_metrics(s, a, 91, 0, 0, 3, &e);
	assert_string_equal(column(r, "points", "step"), "91 96 100");
	cJSON_Delete(r);
	r = store_metrics(s, a, 10, 20, 5, 3, &e);
	assert_string_equal(column(r, "points", "step"), "10 15 20");
	cJSON_Delete(r);
	for (long max = 2; max <= 101; max++) {
		r = store_metrics(s, a, 0, 0, 0, max, &e);
		assert_true(cJSON_GetArraySize(get(r, "points")) <= max);
		cJSON_Delete(r);
	}
	assert_null(store_metrics(s, 999, 0, 0, 0, 0, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
}

/* ---- checkpoints and evals ------------------------------------------------------------ */

static void test_checkpoint_index(void **state)
{
	(void)state;
	long a = add_job("a", "{}"), b = add_job("b", "{}"), job = 0, id;
	long c1 = add_ckpt(a, 100, "/s/checkpoints/1/step-00000100.safetensors");
	long c2 = add_ckpt(a, 50, "/s/checkpoints/1/step-00000050.safetensors");
	long c3 = add_ckpt(b, 100, "/s/checkpoints/2/step-00000100.safetensors");
	cJSON *r = store_checkpoint_list(s, a, &e);
	assert_keys(r, "checkpoints");
	assert_string_equal(column(r, "checkpoints", "step"), "50 100");
	assert_string_equal(column(r, "checkpoints", "bytes"), "4096 4096");
	assert_keys(cJSON_GetArrayItem(get(r, "checkpoints"), 0),
		    "checkpoint_id step epoch bytes sha256 created");
	cJSON_Delete(r);

	char path[128], sha[65];
	long long bytes = 0;
	assert_int_equal(store_checkpoint_get(s, c3, &job, path, sizeof path, sha, &bytes, &e), 0);
	assert_int_equal(job, b);
	assert_string_equal(path, "/s/checkpoints/2/step-00000100.safetensors");
	assert_string_equal(sha, sha_a);
	assert_int_equal(bytes, 4096);
	assert_int_equal(store_checkpoint_get(s, c1, NULL, NULL, 0, NULL, NULL, &e), 0);
	assert_error(store_checkpoint_get(s, c1, NULL, path, 10, NULL, NULL, &e), ERR_RANGE, NULL);
	const long unknown[] = { 0, -1, c3 + 1, 1L << 40 }; /* only indexed ids resolve */
	for (int i = 0; i < 4; i++)
		assert_error(store_checkpoint_get(s, unknown[i], &job, path, sizeof path, sha,
						  &bytes, &e), ERR_NOTFOUND, NULL);

	/* the same file written again: the row is replaced, the old id is gone */
	assert_int_equal(store_checkpoint_insert(s, a, 100, 2, "/s/checkpoints/1/step-00000100"
						 ".safetensors", 8192, sha_b, &id, &e), 0);
	assert_true(id > c3);
	assert_error(store_checkpoint_get(s, c1, NULL, NULL, 0, NULL, NULL, &e), ERR_NOTFOUND,
		     NULL);
	assert_int_equal(store_checkpoint_get(s, id, NULL, NULL, 0, sha, &bytes, &e), 0);
	assert_string_equal(sha, sha_b);
	assert_int_equal(bytes, 8192);

	assert_int_equal(store_checkpoint_delete(s, c2, &e), 0);
	assert_error(store_checkpoint_delete(s, c2, &e), ERR_NOTFOUND, NULL);
	r = store_checkpoint_list(s, a, &e);
	assert_string_equal(column(r, "checkpoints", "checkpoint_id"), "4");
	cJSON_Delete(r);

	assert_error(store_checkpoint_insert(s, a, 1, 0, "/p", 1, "E3B0", &id, &e), ERR_INVALID,
		     "sha256");
	char upper[65];
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(i < 64 && sha_a[i] >= 'a' ? sha_a[i] - 32 : sha_a[i]);
	assert_error(store_checkpoint_insert(s, a, 1, 0, "/p", 1, upper, &id, &e), ERR_INVALID,
		     "sha256");
	assert_error(store_checkpoint_insert(s, a, 1, 0, "", 1, sha_a, &id, &e), ERR_INVALID,
		     "path");
	assert_error(store_checkpoint_insert(s, a, 1, 0, "/p", -1, sha_a, &id, &e), ERR_INVALID,
		     "bytes");
	assert_error(store_checkpoint_insert(s, 999, 1, 0, "/p", 1, sha_a, &id, &e), ERR_NOTFOUND,
		     NULL);
	assert_null(store_checkpoint_list(s, 999, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
}

static void test_evals(void **state)
{
	(void)state;
	long a = add_job("a", "{}"), b = add_job("b", "{}"), e1, e2, e3;
	long ca = add_ckpt(a, 10, "/c/1/10"), cb = add_ckpt(b, 10, "/c/2/10");
	assert_int_equal(store_eval_insert(s, a, 0, "knn", NULL, &e1, &e), 0);
	assert_int_equal(store_eval_insert(s, a, ca, "linear", NULL, &e2, &e), 0);
	assert_int_equal(store_eval_insert(s, a, 0, "linear", NULL, &e3, &e), 0);
	assert_true(e1 > 0 && e2 > e1 && e3 > e2);
	cJSON *j = store_job_get(s, a, &e);
	assert_string_equal(column(j, "evals", "state"), "pending pending pending");
	assert_string_equal(column(j, "evals", "checkpoint_id"), "null 1 null");
	assert_string_equal(column(j, "evals", "step"), "null null null");
	cJSON_Delete(j);

	assert_int_equal(store_eval_done(s, e1, 40, 71.5, 96.0, NULL, NULL, &e), 0);
	assert_int_equal(store_eval_done(s, e2, 10, 80.0, NAN, NULL, NULL, &e), 0);
	assert_int_equal(store_eval_failed(s, e3, 0, &e), 0);
	j = store_job_get(s, a, &e);
	assert_string_equal(column(j, "evals", "state"), "done done failed");
	assert_string_equal(column(j, "evals", "kind"), "knn linear linear");
	assert_string_equal(column(j, "evals", "step"), "40 10 null");
	assert_string_equal(column(j, "evals", "top1"), "71.5 80 null");
	assert_string_equal(column(j, "evals", "top5"), "96 null null");
	cJSON_Delete(j);

	/* a deleted checkpoint leaves its eval's result */
	assert_int_equal(store_checkpoint_delete(s, ca, &e), 0);
	j = store_job_get(s, a, &e);
	assert_string_equal(column(j, "evals", "checkpoint_id"), "null null null");
	assert_string_equal(column(j, "evals", "top1"), "71.5 80 null");
	cJSON_Delete(j);

	assert_error(store_eval_insert(s, a, 0, "svm", NULL, &e1, &e), ERR_INVALID, "kind");
	assert_error(store_eval_insert(s, a, cb, "knn", NULL, &e1, &e), ERR_INVALID, "checkpoint_id");
	assert_error(store_eval_insert(s, a, ca, "knn", NULL, &e1, &e), ERR_NOTFOUND, NULL);
	assert_error(store_eval_insert(s, 999, 0, "knn", NULL, &e1, &e), ERR_NOTFOUND, NULL);
	assert_error(store_eval_done(s, 999, 1, 1, 1, NULL, NULL, &e), ERR_NOTFOUND, NULL);
	assert_error(store_eval_failed(s, 999, 0, &e), ERR_NOTFOUND, NULL);
}

/* ---- typed reads ---------------------------------------------------------------------- */

static void test_typed_reads(void **state)
{
	(void)state;
	long a = add_job("a", "{\"seed\": 7}"), b = add_job("b", "{}"), ev1, ev2, ev3;
	long c10 = add_ckpt(a, 10, "/c/1/10"), c30 = add_ckpt(a, 30, "/c/1/30");
	long c20 = add_ckpt(a, 20, "/c/1/20");
	struct store_checkpoint *rows;
	int n;
	assert_int_equal(store_checkpoints_of(s, a, &rows, &n, &e), 0);
	assert_int_equal(n, 3); /* newest step first */
	assert_int_equal(rows[0].checkpoint_id, c30);
	assert_int_equal(rows[1].checkpoint_id, c20);
	assert_int_equal(rows[2].checkpoint_id, c10);
	assert_int_equal(rows[0].step, 30);
	assert_string_equal(rows[2].path, "/c/1/10");
	assert_string_equal(rows[0].sha256, sha_a);
	free(rows);
	assert_int_equal(store_checkpoints_of(s, b, &rows, &n, &e), 0);
	assert_int_equal(n, 0);
	free(rows);

	char state_name[16], *spec;
	assert_int_equal(store_job_state(s, a, state_name, sizeof state_name, &e), 0);
	assert_string_equal(state_name, "queued");
	assert_error(store_job_state(s, 999, state_name, sizeof state_name, &e), ERR_NOTFOUND, NULL);
	assert_int_equal(store_job_spec(s, a, &spec, &e), 0);
	assert_string_equal(spec, "{\"seed\": 7}");
	free(spec);
	assert_error(store_job_spec(s, 999, &spec, &e), ERR_NOTFOUND, NULL);

	assert_int_equal(store_eval_insert(s, a, c10, "knn", NULL, &ev1, &e), 0);
	assert_int_equal(store_eval_insert(s, b, 0, "linear", NULL, &ev2, &e), 0);
	assert_int_equal(store_eval_insert(s, a, c20, "linear", NULL, &ev3, &e), 0);
	assert_int_equal(store_eval_done(s, ev3, 20, 50, 90, NULL, NULL, &e), 0);
	assert_int_equal(store_checkpoint_delete(s, c10, &e), 0);
	struct store_eval *evs;
	assert_int_equal(store_evals_pending(s, &evs, &n, &e), 0);
	assert_int_equal(n, 2); /* oldest first; the done one is not pending */
	assert_int_equal(evs[0].eval_id, ev1);
	assert_int_equal(evs[0].job_id, a);
	assert_int_equal(evs[0].checkpoint_id, 0); /* its checkpoint was deleted */
	assert_string_equal(evs[0].kind, "knn");
	assert_int_equal(evs[1].eval_id, ev2);
	assert_int_equal(evs[1].job_id, b);
	assert_string_equal(evs[1].kind, "linear");
	free(evs);
}

/* ---- logs ----------------------------------------------------------------------------- */

static void test_logs(void **state)
{
	(void)state;
	long a = add_job("a", "{}"), b = add_job("b", "{}");
	char msg[32];
	for (int i = 0; i < 150; i++) {
		snprintf(msg, sizeof msg, "m%d", i);
		assert_int_equal(store_log(s, a, i % 2 ? "info" : "warn", msg, &e), 0);
		if (i % 50 == 0)
			assert_int_equal(store_log(s, b, "error", "other", &e), 0);
	}
	cJSON *r = store_logs(s, a, 0, &e);
	assert_keys(r, "lines");
	const cJSON *lines = get(r, "lines");
	assert_int_equal(cJSON_GetArraySize(lines), 100);
	assert_keys(cJSON_GetArrayItem(lines, 0), "time level message");
	assert_string_equal(str(cJSON_GetArrayItem(lines, 0), "message"), "m50");
	assert_string_equal(str(cJSON_GetArrayItem(lines, 99), "message"), "m149");
	assert_time(str(cJSON_GetArrayItem(lines, 0), "time"));
	cJSON_Delete(r);
	r = store_logs(s, a, 3, &e);
	assert_string_equal(column(r, "lines", "message"), "m147 m148 m149");
	assert_string_equal(column(r, "lines", "level"), "info warn info");
	cJSON_Delete(r);
	r = store_logs(s, b, 10, &e);
	assert_string_equal(column(r, "lines", "message"), "other other other");
	cJSON_Delete(r);
	assert_null(store_logs(s, 999, 10, &e));
	assert_int_equal(e.code, ERR_NOTFOUND);
	assert_error(store_log(s, 999, "info", "x", &e), ERR_NOTFOUND, NULL);
	assert_error(store_log(s, a, "info", NULL, &e), ERR_INVALID, "message");
	assert_error(store_log(s, a, "", "x", &e), ERR_INVALID, "level");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_to_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_to_v3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_bad_places, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integrity_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_during_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_final, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_get_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_in_state_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_job_delete_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_replace_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typed_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
