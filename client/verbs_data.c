/*
 * verbs_data.c — reading what byold recorded: metrics, history, compare.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "table.h"

/* ---- metrics ------------------------------------------------------------------- */

static const char *const point_keys[] = { "step", "epoch", "loss", "tau", "lr", "img_s", "z_std" };
#define N_POINT_KEYS 7

static void print_csv(const cJSON *points)
{
	const cJSON *p;
	for (int i = 0; i < N_POINT_KEYS; i++)
		printf("%s,", point_keys[i]);
	printf("time\n");
	cJSON_ArrayForEach(p, points) {
		for (int i = 0; i < N_POINT_KEYS; i++) {
			double v = json_num(p, point_keys[i]);
			if (isnan(v))
				printf(",");
			else
				printf("%.9g,", v);
		}
		printf("%s\n", json_str(p, "time") ? json_str(p, "time") : "");
	}
}

static void print_points(struct ctl *c, const cJSON *points)
{
	static const char *const head[] = { "STEP", "EPOCH", "LOSS", "TAU", "LR", "IMG/S",
					    "Z_STD", "TIME" };
	static const char *const fmt[] = { "%.0f", "%.0f", "%.4f", "%.5f", "%.4g", "%.0f", "%.4f" };
	struct table *t = table_new(8, head);
	const cJSON *p;
	char v[64];
	if (!t)
		return;
	for (int i = 0; i < N_POINT_KEYS; i++)
		table_right(t, i);
	cJSON_ArrayForEach(p, points) {
		for (int i = 0; i < N_POINT_KEYS; i++) { /* epochs from 1 here, as in watch */
			fmt_num(v, sizeof v, fmt[i], json_num(p, point_keys[i]) + (i == 1));
			table_cell(t, "%s", v);
		}
		fmt_time(v, sizeof v, json_str(p, "time"));
		table_cell(t, "%s", v);
	}
	table_print(t, stdout, c->width);
	table_free(t);
}

int verb_metrics(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "csv", no_argument, 0, 'c' },
					      { "every", required_argument, 0, 'e' },
					      { 0, 0, 0, 0 } };
	int csv = 0, every = 1, ch, rc;
	long id;
	cJSON *res;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (ch == 'c')
			csv = 1;
		else if (ch == 'e' && (every = atoi(optarg)) < 1)
			return ctl_usage(c, "metrics", "--every wants a positive number of steps");
		else if (ch != 'e')
			return ctl_bad_option(c, "metrics", ch, argv);
	}
	if ((rc = ctl_one_job(c, "metrics", argc, argv, optind, &id)))
		return rc;
	cJSON *params = ctl_job_params(id);
	if (every > 1)
		cJSON_AddNumberToObject(params, "every", every);
	if ((rc = ctl_job_call(c, "job.metrics", id, params, &res)))
		return rc;
	const cJSON *points = cJSON_GetObjectItemCaseSensitive(res, "points");
	if (c->json)
		ctl_print_json(res);
	else if (csv)
		print_csv(points);
	else
		print_points(c, points);
	cJSON_Delete(res);
	return CTL_OK;
}

/* ---- history --------------------------------------------------------------------- */

static const char *const job_keys[] = { "name", "state", "since", "until" };
static const char *const metric_keys[] = { "top1", "top5", "knn_top1", "final_loss" };

static int in_list(const char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

/* parent[key], created as an object if absent. */
static cJSON *child_object(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);
	return o ? o : cJSON_AddObjectToObject(parent, key);
}

/* One FILTER (KEY OP VALUE) into history.query's params. */
static int add_filter(struct ctl *c, cJSON *params, const char *arg)
{
	size_t k = strcspn(arg, "<>!=");
	char key[160], op[3] = { arg[k], 0, 0 };
	if (k == 0 || !arg[k] || k >= sizeof key)
		return ctl_usage(c, "history", "a filter is KEY OP VALUE (e.g. top1>=80), not '%s'",
				 arg);
	memcpy(key, arg, k);
	key[k] = 0;
	if (arg[k + 1] == '=')
		op[1] = '=';
	const char *value = arg + k + strlen(op);
	if (strcmp(op, "=") == 0)
		strcpy(op, "==");
	if (strcmp(op, "!") == 0)
		return ctl_usage(c, "history", "'%s': the operators are = == != < <= > >=", arg);
	if (in_list(job_keys, 4, key)) {
		if (strcmp(op, "==") != 0)
			return ctl_usage(c, "history", "%s takes =, as in %s=VALUE", key, key);
		cJSON_DeleteItemFromObjectCaseSensitive(params, key);
		cJSON_AddStringToObject(params, key, value);
		return 0;
	}
	cJSON *v = json_from_arg(value);
	int metric = in_list(metric_keys, 4, key);
	if (metric && !cJSON_IsNumber(v)) {
		cJSON_Delete(v);
		return ctl_usage(c, "history", "%s compares with a number, not '%s'", key, value);
	}
	cJSON *conds = child_object(child_object(params, metric ? "metric" : "spec"), key);
	cJSON_DeleteItemFromObjectCaseSensitive(conds, op);
	cJSON_AddItemToObject(conds, op, v);
	return 0;
}

static void print_runs(struct ctl *c, const cJSON *runs, const cJSON *spec_filters)
{
	/* FINAL LOSS: the last epoch's mean (LOSS, in ls, is the newest step point's) */
	static const char *const base[] = { "ID", "NAME", "STATE", "TOP1", "TOP5", "KNN",
					     "FINAL LOSS", "CREATED" };
	const char *head[8 + 16];
	int n = 8, extra = 0;
	const cJSON *f, *r;
	char v[256];
	memcpy(head, base, sizeof base);
	cJSON_ArrayForEach(f, spec_filters) /* a column for each spec path filtered on */
		if (n < 24)
			head[n++] = f->string;
	extra = n - 8;
	struct table *t = table_new(n, head);
	if (!t)
		return;
	table_right(t, 0);
	table_flex(t, 1);
	for (int i = 3; i < 7; i++)
		table_right(t, i);
	cJSON_ArrayForEach(r, runs) {
		static const char *const m[] = { "top1", "top5", "knn_top1" };
		const char *name = json_str(r, "name");
		table_cell(t, "%ld", json_long(r, "job_id"));
		table_cell(t, "%s", name && *name ? name : "-");
		table_cell(t, "%s", json_str(r, "state") ? json_str(r, "state") : "?");
		for (int i = 0; i < 3; i++) {
			fmt_num(v, sizeof v, "%.2f%%", json_num(r, m[i]));
			table_cell(t, "%s", v);
		}
		fmt_num(v, sizeof v, "%.4f", json_num(r, "final_loss"));
		table_cell(t, "%s", v);
		fmt_time(v, sizeof v, json_str(r, "created"));
		table_cell(t, "%s", v);
		for (int i = 0; i < extra; i++) {
			fmt_value(v, sizeof v, json_path(cJSON_GetObjectItemCaseSensitive(r, "spec"),
							 head[8 + i]));
			table_cell(t, "%s", v);
		}
	}
	table_print(t, stdout, c->width);
	table_free(t);
}

int verb_history(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "order-by", required_argument, 0, 'o' },
					      { "limit", required_argument, 0, 'l' },
					      { 0, 0, 0, 0 } };
	cJSON *params = cJSON_CreateObject(), *res = NULL;
	int ch, rc = 0;
	while (!rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (ch == 'o')
			cJSON_AddStringToObject(params, "order_by", optarg);
		else if (ch == 'l' && atoi(optarg) >= 1)
			cJSON_AddNumberToObject(params, "limit", atoi(optarg));
		else if (ch == 'l')
			rc = ctl_usage(c, "history", "--limit wants a positive number");
		else
			rc = ctl_bad_option(c, "history", ch, argv);
	}
	for (int i = optind; !rc && i < argc; i++)
		rc = add_filter(c, params, argv[i]);
	cJSON *spec = rc ? NULL : cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(params, "spec"), 1);
	if (rc) {
		cJSON_Delete(params);
		return rc;
	}
	if (!(rc = ctl_call(c, "history.query", params, &res))) {
		if (c->json)
			ctl_print_json(res);
		else
			print_runs(c, cJSON_GetObjectItemCaseSensitive(res, "runs"), spec);
	}
	cJSON_Delete(spec);
	cJSON_Delete(res);
	return rc;
}

/* ---- compare ---------------------------------------------------------------------- */

#define COMPARE_MAX 16

struct paths {
	char **p;
	int n, cap;
};

static void add_path(void *ctx, const char *path, const cJSON *v)
{
	struct paths *ps = ctx;
	(void)v;
	for (int i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i], path) == 0)
			return;
	if (ps->n == ps->cap) {
		int cap = ps->cap ? 2 * ps->cap : 64;
		char **p = realloc(ps->p, (size_t)cap * sizeof *p);
		if (!p)
			return;
		ps->p = p;
		ps->cap = cap;
	}
	size_t len = strlen(path) + 1;
	if ((ps->p[ps->n] = malloc(len)))
		memcpy(ps->p[ps->n++], path, len);
}

/* The newest finished evaluation of kind in a job.get result, or NULL. */
static const cJSON *last_eval(const cJSON *job, const char *kind)
{
	const cJSON *ev, *found = NULL;
	cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(job, "evals"))
		if (json_str(ev, "kind") && strcmp(json_str(ev, "kind"), kind) == 0 &&
		    isfinite(json_num(ev, "top1")))
			found = ev;
	return found;
}

/* A job's result by name, as a new JSON value (null when unknown): its final
   metrics once it has them, before that its newest evaluation. */
static cJSON *result_value(const cJSON *job, const char *what)
{
	const cJSON *v = NULL;
	if (strcmp(what, "last_loss") == 0) /* the last metric point's */
		v = json_path(job, "last.loss");
	else
		v = cJSON_GetObjectItemCaseSensitive(job, what);
	if (v && !cJSON_IsNull(v))
		return cJSON_Duplicate(v, 1);
	if (strcmp(what, "top1") == 0 || strcmp(what, "top5") == 0)
		v = cJSON_GetObjectItemCaseSensitive(last_eval(job, "linear"), what);
	else if (strcmp(what, "knn_top1") == 0)
		v = cJSON_GetObjectItemCaseSensitive(last_eval(job, "knn"), "top1");
	return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

static const char *const result_rows[] = { "state", "step", "final_loss", "last_loss",
					   "top1",  "top5", "knn_top1" };
#define N_RESULT_ROWS 7

/* {"jobs": [ids], "differences": {path: [values]}, "results": {name: [values]}} */
static cJSON *compare_json(cJSON **jobs, int n, const struct paths *ps)
{
	cJSON *out = cJSON_CreateObject(), *ids = cJSON_AddArrayToObject(out, "jobs");
	cJSON *diff = cJSON_AddObjectToObject(out, "differences");
	cJSON *results = cJSON_AddObjectToObject(out, "results");
	for (int j = 0; j < n; j++)
		cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)json_long(jobs[j], "job_id")));
	for (int i = 0; i < ps->n; i++) {
		cJSON *vals = cJSON_CreateArray();
		int differ = 0;
		for (int j = 0; j < n; j++) {
			const cJSON *v = json_path(cJSON_GetObjectItemCaseSensitive(jobs[j], "spec"),
						   ps->p[i]);
			cJSON_AddItemToArray(vals, v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
			differ |= j > 0 && !cJSON_Compare(cJSON_GetArrayItem(vals, 0),
							  cJSON_GetArrayItem(vals, j), 1);
		}
		if (differ)
			cJSON_AddItemToObject(diff, ps->p[i], vals);
		else
			cJSON_Delete(vals);
	}
	for (int r = 0; r < N_RESULT_ROWS; r++) {
		cJSON *vals = cJSON_AddArrayToObject(results, result_rows[r]);
		for (int j = 0; j < n; j++)
			cJSON_AddItemToArray(vals, result_value(jobs[j], result_rows[r]));
	}
	return out;
}

/* A row: label, then each job's value (empty cells when vals is NULL). */
static void compare_row(struct table *t, int n, const char *label, const cJSON *vals,
			const char *fmt)
{
	char s[256];
	table_cell(t, "%s", label);
	for (int j = 0; j < n; j++) {
		const cJSON *v = vals ? cJSON_GetArrayItem(vals, j) : NULL;
		if (!vals)
			s[0] = 0;
		else if (fmt && cJSON_IsNumber(v))
			fmt_num(s, sizeof s, fmt, v->valuedouble);
		else
			fmt_value(s, sizeof s, cJSON_IsNull(v) ? NULL : v);
		table_cell(t, "%s", s);
	}
}

static void print_compare(struct ctl *c, cJSON **jobs, int n, const cJSON *cmp)
{
	static const char *const fmts[N_RESULT_ROWS] = { NULL, "%.0f", "%.4f", "%.4f",
							 "%.2f%%", "%.2f%%", "%.2f%%" };
	const char *head[COMPARE_MAX + 1] = { "FIELD" };
	char names[COMPARE_MAX][32];
	const cJSON *d, *diff = cJSON_GetObjectItemCaseSensitive(cmp, "differences");
	const cJSON *results = cJSON_GetObjectItemCaseSensitive(cmp, "results");
	for (int j = 0; j < n; j++) { /* (the names are a row of their own when they differ) */
		snprintf(names[j], sizeof names[j], "job %ld", json_long(jobs[j], "job_id"));
		head[j + 1] = names[j];
	}
	struct table *t = table_new(n + 1, head);
	if (!t)
		return;
	for (int j = 1; j <= n; j++)
		table_flex(t, j);
	cJSON_ArrayForEach(d, diff)
		compare_row(t, n, d->string, d, NULL);
	if (!cJSON_GetArraySize(diff))
		compare_row(t, n, "(the specs are the same)", NULL, NULL);
	for (int r = 0; r < N_RESULT_ROWS; r++)
		compare_row(t, n, result_rows[r],
			    cJSON_GetObjectItemCaseSensitive(results, result_rows[r]), fmts[r]);
	table_print(t, stdout, c->width);
	table_free(t);
}

int verb_compare(struct ctl *c, int argc, char **argv)
{
	cJSON *jobs[COMPARE_MAX] = { 0 };
	struct paths ps = { 0 };
	int n = argc - 1, rc = 0;
	if (n < 2 || n > COMPARE_MAX)
		return ctl_usage(c, "compare", "compare takes 2 to %d jobs", COMPARE_MAX);
	for (int j = 0; !rc && j < n; j++) {
		long id;
		rc = ctl_parse_id(c, argv[j + 1], "JOB", &id);
		if (!rc)
			rc = ctl_get_job(c, id, &jobs[j]);
		if (!rc)
			json_flatten(cJSON_GetObjectItemCaseSensitive(jobs[j], "spec"), add_path, &ps);
	}
	if (!rc) {
		cJSON *cmp = compare_json(jobs, n, &ps);
		if (c->json)
			ctl_print_json(cmp);
		else
			print_compare(c, jobs, n, cmp);
		cJSON_Delete(cmp);
	}
	for (int j = 0; j < n; j++)
		cJSON_Delete(jobs[j]);
	for (int i = 0; i < ps.n; i++)
		free(ps.p[i]);
	free(ps.p);
	return rc;
}
