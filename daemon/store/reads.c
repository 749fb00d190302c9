/*
 * store/reads.c — the store's reads, returned as the JSON-RPC results of
 * job.get, job.list, job.metrics, job.logs and checkpoint.list (see
 * store.h), and the SQL of every read statement but history.query's.
 *
 * Each result object is built from its statement's rows: a row becomes an
 * object whose keys are the column names (so the SQL below fixes the shape),
 * NULL becomes null and a column named "spec" is parsed back into an object.
 */
#define STORE_INTERNAL
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define POINT_COLUMNS "step, epoch, loss, tau, lr, img_s, z_std, time"

const char *const store_query_sql[ST_COUNT] = {
	[ST_TIME_NORM] = "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', :time)",
	[ST_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE job_id = :job_id",
	[ST_JOB_STATE_GET] = "SELECT state FROM jobs WHERE job_id = :job_id",
	[ST_JOB_SPEC] = "SELECT spec FROM jobs WHERE job_id = :job_id",
	[ST_JOB_GET] =
		"SELECT job_id, name, state, spec, created, started, finished, error, step,"
		" total_steps, top1, top5, knn_top1, final_loss, skipped_images FROM jobs"
		" WHERE job_id = :job_id",
	[ST_JOB_LAST_POINT] =
		"SELECT " POINT_COLUMNS " FROM metrics WHERE job_id = :job_id"
		" ORDER BY step DESC LIMIT 1",
	[ST_JOB_LIST] =
		"SELECT j.job_id, name, state, created, started, finished, j.step, total_steps,"
		" m.loss AS last_loss, m.epoch AS last_epoch, m.img_s AS last_img_s, top1, knn_top1"
		" FROM jobs AS j LEFT JOIN metrics AS m ON m.job_id = j.job_id"
		" AND m.step = (SELECT max(step) FROM metrics WHERE job_id = j.job_id)"
		" WHERE (:state IS NULL OR state = :state)"
		" AND (:name IS NULL OR name = :name) ORDER BY j.job_id DESC LIMIT :limit",
	[ST_JOB_COUNTS] = "SELECT state, count(*) FROM jobs GROUP BY state",
	/* max_points: the first, every s-th and the last of the n points in range,
	   s = ⌈(n − 1)/(max − 1)⌉, which makes at most max of them */
	[ST_METRICS] =
		"SELECT " POINT_COLUMNS " FROM (SELECT " POINT_COLUMNS ","
		" row_number() OVER (ORDER BY step) - 1 AS i, count(*) OVER () AS n"
		" FROM metrics WHERE job_id = :job_id AND step >= :from"
		" AND (:to <= 0 OR step <= :to) AND (:every <= 1 OR step % :every = 0))"
		" WHERE :max <= 1 OR n <= :max OR i = n - 1 OR i % ((n + :max - 3) / (:max - 1)) = 0"
		" ORDER BY step LIMIT :limit",
	[ST_CKPT_ROWS] =
		"SELECT checkpoint_id, step, path, sha256, bytes FROM checkpoints"
		" WHERE job_id = :job_id ORDER BY step DESC, checkpoint_id DESC",
	[ST_CKPT_LIST] =
		"SELECT checkpoint_id, step, epoch, bytes, sha256, created FROM checkpoints"
		" WHERE job_id = :job_id ORDER BY step, checkpoint_id",
	[ST_EVAL_LIST] =
		"SELECT eval_id, checkpoint_id, kind, state, step, top1, top5, created, data,"
		" labels, init AS \"from\", result FROM evals WHERE job_id = :job_id ORDER BY eval_id",
	[ST_EVALS_PENDING] =
		"SELECT eval_id, job_id, checkpoint_id, kind, request FROM evals"
		" WHERE state = 'pending' ORDER BY eval_id",
	[ST_LOG_TAIL] =
		"SELECT time, level, message FROM (SELECT id, time, level, message FROM logs"
		" WHERE job_id = :job_id ORDER BY id DESC LIMIT :tail) ORDER BY id",
};

/* ---- rows to JSON ----------------------------------------------------------- */

static cJSON *column_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER: return cJSON_CreateNumber((double)sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: return cJSON_CreateNumber(sqlite3_column_double(st, i));
	case SQLITE_TEXT: break;
	default: return cJSON_CreateNull();
	}
	const char *text = (const char *)sqlite3_column_text(st, i);
	if (!strcmp(sqlite3_column_name(st, i), "spec") || !strcmp(sqlite3_column_name(st, i), "result")) {
		cJSON *spec = cJSON_Parse(text);
		if (spec)
			return spec;
	}
	return cJSON_CreateString(text);
}

/* The current row as an object keyed by column name; NULL if out of memory. */
static cJSON *row_object(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; o && i < sqlite3_column_count(st); i++) {
		cJSON *v = column_json(st, i);
		if (!v || !cJSON_AddItemToObject(o, sqlite3_column_name(st, i), v)) {
			cJSON_Delete(v);
			cJSON_Delete(o);
			return NULL;
		}
	}
	return o;
}

/* Step st (parameters bound; bind_rc their result) to the end, appending each
 * row to array; reset st. */
int store_rows_into(struct store *s, sqlite3_stmt *st, int bind_rc, cJSON *array,
		     const char *what, struct err *e)
{
	int r = 0, rc = bind_rc;
	while (bind_rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		cJSON *row = row_object(st);
		if (!row || !cJSON_AddItemToArray(array, row)) {
			cJSON_Delete(row);
			r = err_set(e, ERR_NOMEM, "store: out of memory");
			break;
		}
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, rc, e, "%s", what);
	return store_reset(st, r);
}

/* The one row of a by-job statement as *out (NULL when there is none). */
static int job_row(struct store *s, enum store_stmt id, long job_id, cJSON **out,
		   struct err *e)
{
	sqlite3_stmt *st = s->st[id];
	int r = 0, rc = store_bind_int(st, ":job_id", job_id);
	*out = NULL;
	rc = rc ? rc : sqlite3_step(st);
	if (rc == SQLITE_ROW && !(*out = row_object(st)))
		r = err_set(e, ERR_NOMEM, "store: out of memory");
	else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = store_fail(s, rc, e, "job %ld", job_id);
	return store_reset(st, r);
}

/* Every row of a by-job statement, as an array under key in parent. */
static int job_rows(struct store *s, enum store_stmt id, long job_id, cJSON *parent,
		    const char *key, struct err *e)
{
	cJSON *array = cJSON_AddArrayToObject(parent, key);
	if (!array)
		return err_set(e, ERR_NOMEM, "store: out of memory");
	return store_rows_into(s, s->st[id], store_bind_int(s->st[id], ":job_id", job_id), array, key,
			 e);
}

static int job_check(struct store *s, long job_id, struct err *e)
{
	cJSON *row;
	int r = job_row(s, ST_JOB_EXISTS, job_id, &row, e);
	if (r == 0 && !row)
		r = err_set(e, ERR_NOTFOUND, "job %ld not found", job_id);
	cJSON_Delete(row);
	return r;
}

/* A new {key: []} result and its array. */
cJSON *store_result_with_array(const char *key, cJSON **array, struct err *e)
{
	cJSON *res = cJSON_CreateObject();
	if (!res || !(*array = cJSON_AddArrayToObject(res, key))) {
		cJSON_Delete(res);
		err_set(e, ERR_NOMEM, "store: out of memory");
		return NULL;
	}
	return res;
}

cJSON *store_result_or_null(cJSON *res, int r)
{
	if (r == 0)
		return res;
	cJSON_Delete(res);
	return NULL;
}

static int clamp_limit(long n)
{
	return n <= 0 ? STORE_LIMIT_DEFAULT : n > STORE_LIMIT_MAX ? STORE_LIMIT_MAX : (int)n;
}

/* ---- jobs, metrics, checkpoints, logs -------------------------------------------- */

cJSON *store_job_get(struct store *s, long job_id, struct err *e)
{
	cJSON *job, *last;
	int r = job_row(s, ST_JOB_GET, job_id, &job, e);
	if (r == 0 && !job)
		r = err_set(e, ERR_NOTFOUND, "job %ld not found", job_id);
	if (r == 0 && (r = job_row(s, ST_JOB_LAST_POINT, job_id, &last, e)) == 0 &&
	    !cJSON_AddItemToObject(job, "last", last ? last : cJSON_CreateNull())) {
		cJSON_Delete(last);
		r = err_set(e, ERR_NOMEM, "store: out of memory");
	}
	if (r == 0)
		r = job_rows(s, ST_CKPT_LIST, job_id, job, "checkpoints", e);
	if (r == 0)
		r = job_rows(s, ST_EVAL_LIST, job_id, job, "evals", e);
	return store_result_or_null(job, r);
}

cJSON *store_job_list(struct store *s, const char *state, const char *name, int limit,
		      struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_LIST];
	cJSON *jobs, *res;
	if (state && !store_state_valid(state)) {
		err_set(e, ERR_INVALID, "state: unknown job state '%.32s'", state);
		return NULL;
	}
	if (!(res = store_result_with_array("jobs", &jobs, e)))
		return NULL;
	int rc = store_bind_text(st, ":state", state) | store_bind_text(st, ":name", name) |
		 store_bind_int(st, ":limit", clamp_limit(limit));
	return store_result_or_null(res, store_rows_into(s, st, rc, jobs, "job list", e));
}

/* Add n to the count of state in counts (every state is there). */
static void count_add(cJSON *counts, const char *state, double n)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(counts, state);
	if (c)
		cJSON_SetNumberValue(c, c->valuedouble + n);
}

cJSON *store_job_counts(struct store *s, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_COUNTS];
	cJSON *counts = cJSON_CreateObject();
	int r = 0, rc;
	for (int i = 0; counts && i < store_n_job_states; i++)
		if (!cJSON_AddNumberToObject(counts, store_job_states[i], 0))
			break;
	if (cJSON_GetArraySize(counts) != store_n_job_states) {
		cJSON_Delete(counts);
		err_set(e, ERR_NOMEM, "store: out of memory");
		return NULL;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		count_add(counts, (const char *)sqlite3_column_text(st, 0),
			  (double)sqlite3_column_int64(st, 1));
	if (rc != SQLITE_DONE)
		r = store_fail(s, rc, e, "job counts");
	return store_result_or_null(counts, store_reset(st, r));
}

static cJSON *metrics_query(struct store *s, long job_id, long from_step, long to_step,
			    long every, long max_points, long limit, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_METRICS];
	cJSON *points, *res;
	if (job_check(s, job_id, e) < 0 || !(res = store_result_with_array("points", &points, e)))
		return NULL;
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_int(st, ":from", from_step) |
		 store_bind_int(st, ":to", to_step) | store_bind_int(st, ":every", every) |
		 store_bind_int(st, ":max", max_points) | store_bind_int(st, ":limit", limit);
	return store_result_or_null(res, store_rows_into(s, st, rc, points, "metrics", e));
}

cJSON *store_metrics(struct store *s, long job_id, long from_step, long to_step, long every,
		     long max_points, struct err *e)
{
	return metrics_query(s, job_id, from_step, to_step, every, max_points, -1, e);
}

cJSON *store_metrics_page(struct store *s, long job_id, long from_step, long limit,
			  struct err *e)
{
	return metrics_query(s, job_id, from_step, 0, 1, 0, limit, e);
}

cJSON *store_checkpoint_list(struct store *s, long job_id, struct err *e)
{
	cJSON *res = cJSON_CreateObject();
	if (!res) {
		err_set(e, ERR_NOMEM, "store: out of memory");
		return NULL;
	}
	int r = job_check(s, job_id, e);
	if (r == 0)
		r = job_rows(s, ST_CKPT_LIST, job_id, res, "checkpoints", e);
	return store_result_or_null(res, r);
}

cJSON *store_logs(struct store *s, long job_id, int tail, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_LOG_TAIL];
	cJSON *lines, *res;
	if (job_check(s, job_id, e) < 0 || !(res = store_result_with_array("lines", &lines, e)))
		return NULL;
	int rc = store_bind_int(st, ":job_id", job_id) |
		 store_bind_int(st, ":tail", clamp_limit(tail));
	return store_result_or_null(res, store_rows_into(s, st, rc, lines, "logs", e));
}

