/*
 * store_query.c — the store's reads, returned as the JSON-RPC results of
 * DESIGN.md (job.get, job.list, job.metrics, job.logs, checkpoint.list) and
 * history.query (see store.h).
 *
 * Each result object is built from its statement's rows: a row becomes an
 * object whose keys are the column names (so the SQL below fixes the shape),
 * NULL becomes null and a column named "spec" is parsed back into an object.
 *
 * history.query has a single prepared statement however many filters it is
 * given: the validated filters travel as one bound JSON array
 * [{"p": "$.train.epochs" | "m": "top1", "op": ">=", "v": 20}, ...] that the
 * statement walks with json_each; a job passes when no filter fails. Paths,
 * operators, metric and order_by names are checked against fixed tables
 * first; no client text ever becomes SQL.
 */
#define STORE_INTERNAL
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define POINT_COLUMNS "step, epoch, loss, tau, lr, img_s, z_std, time"
#define HQ_MAX_FILTERS 64
#define HQ_PATH_MAX 128

/* The value history.query sorts by; :order is one of order_fields. */
#define SORT_KEY \
	"CASE :order WHEN 'top1' THEN top1 WHEN 'top5' THEN top5" \
	" WHEN 'knn_top1' THEN knn_top1 WHEN 'final_loss' THEN final_loss" \
	" WHEN 'created' THEN created WHEN 'finished' THEN finished" \
	" WHEN 'name' THEN name ELSE job_id END"

const char *const store_query_sql[ST_COUNT] = {
	[ST_TIME_NORM] = "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', :time)",
	[ST_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE job_id = :job_id",
	[ST_JOB_GET] =
		"SELECT job_id, name, state, spec, created, started, finished, error, step,"
		" total_steps, top1, top5, knn_top1, final_loss FROM jobs WHERE job_id = :job_id",
	[ST_JOB_LAST_POINT] =
		"SELECT " POINT_COLUMNS " FROM metrics WHERE job_id = :job_id"
		" ORDER BY step DESC LIMIT 1",
	[ST_JOB_LIST] =
		"SELECT job_id, name, state, created, started, finished, step, total_steps,"
		" (SELECT loss FROM metrics AS m WHERE m.job_id = j.job_id"
		"  ORDER BY m.step DESC LIMIT 1) AS last_loss, top1"
		" FROM jobs AS j WHERE (:state IS NULL OR state = :state)"
		" AND (:name IS NULL OR name = :name) ORDER BY job_id DESC LIMIT :limit",
	[ST_JOB_COUNTS] = "SELECT state, count(*) FROM jobs GROUP BY state",
	[ST_METRICS] =
		"SELECT " POINT_COLUMNS " FROM metrics WHERE job_id = :job_id AND step >= :from"
		" AND (:to <= 0 OR step <= :to) AND (:every <= 1 OR step % :every = 0)"
		" ORDER BY step LIMIT :limit",
	[ST_CKPT_LIST] =
		"SELECT checkpoint_id, step, epoch, bytes, sha256, created FROM checkpoints"
		" WHERE job_id = :job_id ORDER BY step, checkpoint_id",
	[ST_EVAL_LIST] =
		"SELECT eval_id, checkpoint_id, kind, state, step, top1, top5, created FROM evals"
		" WHERE job_id = :job_id ORDER BY eval_id",
	[ST_EVALS_PENDING] =
		"SELECT eval_id, job_id, checkpoint_id, kind FROM evals WHERE state = 'pending'"
		" ORDER BY eval_id",
	[ST_LOG_TAIL] =
		"SELECT time, level, message FROM (SELECT id, time, level, message FROM logs"
		" WHERE job_id = :job_id ORDER BY id DESC LIMIT :tail) ORDER BY id",
	[ST_HISTORY] =
		"SELECT job_id, name, state, spec, top1, top5, knn_top1, final_loss, created,"
		" finished FROM jobs AS j"
		" WHERE (:name IS NULL OR name = :name) AND (:state IS NULL OR state = :state)"
		" AND (:since IS NULL OR created >= :since)"
		" AND (:until IS NULL OR created < :until)"
		" AND NOT EXISTS (SELECT 1 FROM ("
		"  SELECT json_extract(f.value, '$.op') AS op, json_extract(f.value, '$.v') AS v,"
		"   CASE json_extract(f.value, '$.m') WHEN 'top1' THEN j.top1"
		"    WHEN 'top5' THEN j.top5 WHEN 'knn_top1' THEN j.knn_top1"
		"    WHEN 'final_loss' THEN j.final_loss"
		"    ELSE json_extract(j.spec, json_extract(f.value, '$.p')) END AS a"
		"  FROM json_each(:filters) AS f) AS c"
		" WHERE NOT ifnull(CASE c.op WHEN '==' THEN c.a = c.v WHEN '!=' THEN c.a <> c.v"
		"  WHEN '<' THEN c.a < c.v WHEN '<=' THEN c.a <= c.v"
		"  WHEN '>' THEN c.a > c.v WHEN '>=' THEN c.a >= c.v END, 0))"
		" ORDER BY CASE WHEN :desc THEN NULL ELSE " SORT_KEY " END ASC NULLS LAST,"
		" CASE WHEN :desc THEN " SORT_KEY " END DESC NULLS LAST,"
		" CASE WHEN :desc THEN NULL ELSE job_id END ASC, job_id DESC"
		" LIMIT :limit",
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
	if (strcmp(sqlite3_column_name(st, i), "spec") == 0) {
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
static int rows_into(struct store *s, sqlite3_stmt *st, int bind_rc, cJSON *array,
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
	return rows_into(s, s->st[id], store_bind_int(s->st[id], ":job_id", job_id), array, key,
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
static cJSON *result_with_array(const char *key, cJSON **array, struct err *e)
{
	cJSON *res = cJSON_CreateObject();
	if (!res || !(*array = cJSON_AddArrayToObject(res, key))) {
		cJSON_Delete(res);
		err_set(e, ERR_NOMEM, "store: out of memory");
		return NULL;
	}
	return res;
}

/* Return res, or free it and return NULL when r is an error. */
static cJSON *result_or_null(cJSON *res, int r)
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
	return result_or_null(job, r);
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
	if (!(res = result_with_array("jobs", &jobs, e)))
		return NULL;
	int rc = store_bind_text(st, ":state", state) | store_bind_text(st, ":name", name) |
		 store_bind_int(st, ":limit", clamp_limit(limit));
	return result_or_null(res, rows_into(s, st, rc, jobs, "job list", e));
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
	return result_or_null(counts, store_reset(st, r));
}

static cJSON *metrics_query(struct store *s, long job_id, long from_step, long to_step,
			    long every, long limit, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_METRICS];
	cJSON *points, *res;
	if (job_check(s, job_id, e) < 0 || !(res = result_with_array("points", &points, e)))
		return NULL;
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_int(st, ":from", from_step) |
		 store_bind_int(st, ":to", to_step) | store_bind_int(st, ":every", every) |
		 store_bind_int(st, ":limit", limit);
	return result_or_null(res, rows_into(s, st, rc, points, "metrics", e));
}

cJSON *store_metrics(struct store *s, long job_id, long from_step, long to_step, long every,
		     struct err *e)
{
	return metrics_query(s, job_id, from_step, to_step, every, -1, e);
}

cJSON *store_metrics_page(struct store *s, long job_id, long from_step, long limit,
			  struct err *e)
{
	return metrics_query(s, job_id, from_step, 0, 1, limit, e);
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
	return result_or_null(res, r);
}

cJSON *store_evals_pending(struct store *s, struct err *e)
{
	cJSON *evals, *res = result_with_array("evals", &evals, e);
	if (!res)
		return NULL;
	return result_or_null(res, rows_into(s, s->st[ST_EVALS_PENDING], 0, evals, "evals", e));
}

cJSON *store_logs(struct store *s, long job_id, int tail, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_LOG_TAIL];
	cJSON *lines, *res;
	if (job_check(s, job_id, e) < 0 || !(res = result_with_array("lines", &lines, e)))
		return NULL;
	int rc = store_bind_int(st, ":job_id", job_id) |
		 store_bind_int(st, ":tail", clamp_limit(tail));
	return result_or_null(res, rows_into(s, st, rc, lines, "logs", e));
}

/* ---- history.query: parameters ---------------------------------------------------- */

/* Validated history.query parameters, ready to bind. */
struct hq {
	const char *name, *state;       /* borrowed from params; NULL = any */
	char since[32], until[32];      /* normalised UTC times; "" = unbounded */
	cJSON *filters;                 /* [{p | m, op, v}] */
	const char *order;              /* one of order_fields */
	int desc, limit;
};

static const char *const operators[] = { ">=", ">", "<=", "<", "==", "!=" };
static const char *const metric_fields[] = { "top1", "top5", "knn_top1", "final_loss" };
static const char *const order_fields[] = { "top1", "top5", "knn_top1", "final_loss",
					    "created", "finished", "name", "job_id" };

/* The entry of table equal to name, or NULL. */
static const char *lookup(const char *const *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(table[i], name) == 0)
			return table[i];
	return NULL;
}

#define LOOKUP(table, name) lookup(table, sizeof table / sizeof table[0], name)

static int hq_string(const cJSON *v, const char *field, const char **out, struct err *e)
{
	if (!cJSON_IsString(v))
		return err_set(e, ERR_INVALID, "%s: must be a string", field);
	*out = v->valuestring;
	return 0;
}

static int hq_name(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	(void)s;
	return hq_string(v, "name", &q->name, e);
}

static int hq_state(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	(void)s;
	int r = hq_string(v, "state", &q->state, e);
	if (r == 0 && !store_state_valid(q->state))
		r = err_set(e, ERR_INVALID, "state: unknown job state '%.32s'", q->state);
	return r;
}

/* An RFC 3339 time (or date) as the stored form, via SQLite's own parser. */
static int hq_time(struct store *s, const cJSON *v, const char *field, char out[32],
		   struct err *e)
{
	static const char shape[] = "dddd-dd-dd";
	sqlite3_stmt *st = s->st[ST_TIME_NORM];
	const char *t = "";
	int r = hq_string(v, field, &t, e);
	if (r < 0)
		return r;
	for (int i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != shape[i])
			return err_set(e, ERR_INVALID, "%s: not an RFC 3339 time", field);
	int rc = store_bind_text(st, ":time", t);
	rc = rc ? rc : sqlite3_step(st);
	if (rc != SQLITE_ROW)
		r = store_fail(s, rc, e, "%s", field);
	else if (sqlite3_column_type(st, 0) != SQLITE_TEXT || sqlite3_column_bytes(st, 0) >= 32)
		r = err_set(e, ERR_INVALID, "%s: not an RFC 3339 time", field);
	else
		memcpy(out, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0) + 1);
	return store_reset(st, r);
}

static int hq_since(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	return hq_time(s, v, "since", q->since, e);
}

static int hq_until(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	return hq_time(s, v, "until", q->until, e);
}

/* Append {target_key: target, op, v} to q->filters. */
static int hq_add(struct hq *q, const char *target_key, const char *target, const char *op,
		  const cJSON *v, struct err *e)
{
	if (cJSON_GetArraySize(q->filters) >= HQ_MAX_FILTERS)
		return err_set(e, ERR_INVALID, "%s: more than %d filters",
			       target_key[0] == 'p' ? "spec" : "metric", HQ_MAX_FILTERS);
	cJSON *f = cJSON_CreateObject();
	cJSON *copy = cJSON_Duplicate(v, 0);
	if (!f || !copy || !cJSON_AddItemToArray(q->filters, f)) {
		cJSON_Delete(f);
		cJSON_Delete(copy);
		return err_set(e, ERR_NOMEM, "store: out of memory");
	}
	if (!cJSON_AddStringToObject(f, target_key, target) ||
	    !cJSON_AddStringToObject(f, "op", op) || !cJSON_AddItemToObject(f, "v", copy)) {
		cJSON_Delete(copy);
		return err_set(e, ERR_NOMEM, "store: out of memory");
	}
	return 0;
}

static int hq_value_ok(const cJSON *v, int numbers_only)
{
	if (cJSON_IsNumber(v))
		return isfinite(v->valuedouble);
	return !numbers_only && (cJSON_IsString(v) || cJSON_IsBool(v));
}

/* The filters of one field: a plain value (==) or {op: value, ...}. field
 * names it in messages ("spec.train.epochs", "metric.top1"). */
static int hq_conditions(struct hq *q, const char *field, const char *target_key,
			 const char *target, const cJSON *v, int numbers_only, struct err *e)
{
	const char *want = numbers_only ? "a number" : "a string, number or boolean";
	if (!cJSON_IsObject(v)) {
		if (!hq_value_ok(v, numbers_only))
			return err_set(e, ERR_INVALID, "%s: must be %s or {operator: value}", field,
				       want);
		return hq_add(q, target_key, target, "==", v, e);
	}
	for (const cJSON *c = v->child; c; c = c->next) {
		const char *op = LOOKUP(operators, c->string);
		if (!op)
			return err_set(e, ERR_INVALID, "%s: unknown operator '%.16s'", field,
				       c->string);
		if (!hq_value_ok(c, numbers_only))
			return err_set(e, ERR_INVALID, "%s: the value of %s must be %s", field, op,
				       want);
		int r = hq_add(q, target_key, target, op, c, e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* "a.b_1.c" → "$.a.b_1.c"; segments of [A-Za-z0-9_], at least one. */
static int spec_path(const char *dotted, char out[HQ_PATH_MAX + 3])
{
	size_t n = strlen(dotted);
	if (n == 0 || n > HQ_PATH_MAX || dotted[0] == '.' || dotted[n - 1] == '.')
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = dotted[i];
		int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '_';
		if (!word && !(c == '.' && dotted[i + 1] != '.'))
			return -1;
	}
	memcpy(out, "$.", 2);
	memcpy(out + 2, dotted, n + 1);
	return 0;
}

static int hq_spec(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	(void)s;
	char path[HQ_PATH_MAX + 3], field[96];
	if (!cJSON_IsObject(v))
		return err_set(e, ERR_INVALID, "spec: must be an object {\"dotted.path\": value}");
	for (const cJSON *c = v->child; c; c = c->next) {
		snprintf(field, sizeof field, "spec.%.64s", c->string);
		if (spec_path(c->string, path) < 0)
			return err_set(e, ERR_INVALID, "%s: a path is names of [A-Za-z0-9_]"
				       " joined by dots", field);
		int r = hq_conditions(q, field, "p", path, c, 0, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static int hq_metric(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	(void)s;
	char field[96];
	if (!cJSON_IsObject(v))
		return err_set(e, ERR_INVALID, "metric: must be an object {name: {op: value}}");
	for (const cJSON *c = v->child; c; c = c->next) {
		const char *name = LOOKUP(metric_fields, c->string);
		snprintf(field, sizeof field, "metric.%.64s", c->string);
		if (!name)
			return err_set(e, ERR_INVALID, "%s: unknown metric (top1, top5, knn_top1,"
				       " final_loss)", field);
		int r = hq_conditions(q, field, "m", name, c, 1, e);
		if (r < 0)
			return r;
	}
	return 0;
}

static int hq_order(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	(void)s;
	const char *o = "";
	int r = hq_string(v, "order_by", &o, e);
	if (r < 0)
		return r;
	q->desc = o[0] == '-';
	if (!(q->order = LOOKUP(order_fields, o + q->desc)))
		return err_set(e, ERR_INVALID, "order_by: unknown field '%.32s'", o);
	return 0;
}

static int hq_limit(struct store *s, const cJSON *v, struct hq *q, struct err *e)
{
	(void)s;
	double n = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (!(n >= 1 && n <= STORE_LIMIT_MAX && floor(n) == n))
		return err_set(e, ERR_INVALID, "limit: must be an integer from 1 to %d",
			       STORE_LIMIT_MAX);
	q->limit = (int)n;
	return 0;
}

static const struct hq_param {
	const char *key;
	int (*parse)(struct store *s, const cJSON *v, struct hq *q, struct err *e);
} hq_params[] = {
	{ "name", hq_name }, { "state", hq_state }, { "since", hq_since },
	{ "until", hq_until }, { "spec", hq_spec }, { "metric", hq_metric },
	{ "order_by", hq_order }, { "limit", hq_limit },
};

/* Validate params into q (q->filters allocated; the caller frees it). */
static int hq_parse(struct store *s, const cJSON *params, struct hq *q, struct err *e)
{
	*q = (struct hq){ .order = "job_id", .desc = 1, .limit = STORE_LIMIT_DEFAULT };
	if (!(q->filters = cJSON_CreateArray()))
		return err_set(e, ERR_NOMEM, "store: out of memory");
	if (params && !cJSON_IsObject(params))
		return err_set(e, ERR_INVALID, "params: must be an object");
	for (const cJSON *c = params ? params->child : NULL; c; c = c->next) {
		size_t i = 0, n = sizeof hq_params / sizeof hq_params[0];
		while (i < n && strcmp(hq_params[i].key, c->string) != 0)
			i++;
		if (i == n)
			return err_set(e, ERR_INVALID, "%.64s: unknown parameter", c->string);
		int r = hq_params[i].parse(s, c, q, e);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- history.query: the query ------------------------------------------------------ */

static int hq_bind(sqlite3_stmt *st, const struct hq *q, const char *filters)
{
	return store_bind_text(st, ":name", q->name) | store_bind_text(st, ":state", q->state) |
	       store_bind_text(st, ":since", q->since[0] ? q->since : NULL) |
	       store_bind_text(st, ":until", q->until[0] ? q->until : NULL) |
	       store_bind_text(st, ":filters", filters) | store_bind_text(st, ":order", q->order) |
	       store_bind_int(st, ":desc", q->desc) | store_bind_int(st, ":limit", q->limit);
}

cJSON *store_history_query(struct store *s, const cJSON *params, struct err *e)
{
	struct hq q;
	cJSON *runs, *res = NULL;
	char *filters = NULL;
	int r = hq_parse(s, params, &q, e);
	if (r == 0 && !(filters = cJSON_PrintUnformatted(q.filters)))
		r = err_set(e, ERR_NOMEM, "store: out of memory");
	if (r == 0 && !(res = result_with_array("runs", &runs, e)))
		r = ERR_NOMEM;
	if (r == 0) {
		sqlite3_stmt *st = s->st[ST_HISTORY];
		r = rows_into(s, st, hq_bind(st, &q, filters), runs, "history", e);
	}
	cJSON_free(filters);
	cJSON_Delete(q.filters);
	return result_or_null(res, r);
}
