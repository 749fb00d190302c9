/*
 * store/history.c — history.query (see store.h).
 *
 * One prepared statement however many filters are given: the validated
 * filters travel as one bound JSON array [{"p": "$.train.epochs" | "m":
 * "top1", "op": ">=", "v": 20}, ...] that the statement walks with
 * json_each; a job passes when no filter fails. Paths, operators, metric and
 * order_by names are checked against fixed tables first; no client text ever
 * becomes SQL.
 */
#define STORE_INTERNAL
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define HQ_MAX_FILTERS 64
#define HQ_PATH_MAX 128

/* The value history.query sorts by; :order is one of order_fields. */
#define SORT_KEY \
	"CASE :order WHEN 'top1' THEN top1 WHEN 'top5' THEN top5" \
	" WHEN 'knn_top1' THEN knn_top1 WHEN 'final_loss' THEN final_loss" \
	" WHEN 'created' THEN created WHEN 'finished' THEN finished" \
	" WHEN 'name' THEN name ELSE job_id END"

const char *const store_history_sql =
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
		" LIMIT :limit";

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
	if (r == 0 && !(res = store_result_with_array("runs", &runs, e)))
		r = ERR_NOMEM;
	if (r == 0) {
		sqlite3_stmt *st = s->st[ST_HISTORY];
		r = store_rows_into(s, st, hq_bind(st, &q, filters), runs, "history", e);
	}
	cJSON_free(filters);
	cJSON_Delete(q.filters);
	return store_result_or_null(res, r);
}
