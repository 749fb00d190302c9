/*
 * verbs_events.c — verbs that follow a job's events (follow.h) for one kind:
 * logs -f (log lines) and eval (its result).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"

/* ---- logs ------------------------------------------------------------------------ */

struct logs {
	struct ctl *c;
	long job_id;
	int tail;
	cJSON *lines; /* the tail printed first, to skip live lines already shown */
};

static void print_log_line(struct ctl *c, const cJSON *l, int as_event)
{
	char t[32];
	const char *level = json_str(l, "level"), *msg = json_str(l, "message");
	if (c->json && as_event) {
		cJSON *ev = cJSON_Duplicate(l, 1);
		cJSON_AddStringToObject(ev, "event", "log");
		ctl_print_json(ev);
		cJSON_Delete(ev);
	} else if (c->json) {
		ctl_print_json(l);
	} else {
		fmt_time(t, sizeof t, json_str(l, "time"));
		printf("%s  %-7s %s\n", t, level ? level : "-", msg ? msg : "");
	}
}

static int fetch_tail(struct logs *g, cJSON **res)
{
	cJSON *params = ctl_job_params(g->job_id);
	cJSON_AddNumberToObject(params, "tail", g->tail);
	return ctl_job_call(g->c, "job.logs", g->job_id, params, res);
}

/* A live line already printed with the tail (same time and message). */
static int in_tail(const struct logs *g, const cJSON *ev)
{
	const cJSON *l;
	const char *t = json_str(ev, "time"), *m = json_str(ev, "message");
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(g->lines, "lines"))
		if (t && m && json_str(l, "time") && json_str(l, "message") &&
		    strcmp(t, json_str(l, "time")) == 0 && strcmp(m, json_str(l, "message")) == 0)
			return 1;
	return 0;
}

/* Subscribed (so nothing is missed): now the tail, once. */
static int logs_subscribed(struct follow *f, const cJSON *job)
{
	struct logs *g = f->user;
	const cJSON *l;
	(void)job;
	if (g->lines)
		return FOLLOW_MORE;
	int rc = fetch_tail(g, &g->lines);
	if (rc)
		return rc;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(g->lines, "lines"))
		print_log_line(g->c, l, 1);
	fflush(stdout);
	return FOLLOW_MORE;
}

static int logs_event(struct follow *f, const cJSON *ev)
{
	struct logs *g = f->user;
	const char *type = json_str(ev, "event");
	if (strcmp(type, "log") == 0 && !in_tail(g, ev)) {
		if (g->c->json)
			ctl_print_json(ev);
		else
			print_log_line(g->c, ev, 0);
		fflush(stdout);
	}
	return strcmp(type, "end") == 0 ? follow_outcome(json_str(ev, "state")) : FOLLOW_MORE;
}

static int logs_follow(struct logs *g)
{
	cJSON *job;
	int rc = ctl_get_job(g->c, g->job_id, &job);
	if (rc)
		return rc;
	struct follow f = { .c = g->c, .job_id = g->job_id, .since_step = json_long(job, "step"),
			    .event = logs_event, .subscribed = logs_subscribed, .user = g };
	cJSON_Delete(job);
	if (f.since_step < 0)
		f.since_step = 0;
	rc = follow_run(&f);
	cJSON_Delete(g->lines);
	if (rc <= CTL_JOB_CANCELLED)
		g->c->err.msg[0] = 0;
	return rc;
}

int verb_logs(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "follow", no_argument, 0, 'f' },
					      { "tail", required_argument, 0, 'n' },
					      { 0, 0, 0, 0 } };
	struct logs g = { .c = c, .tail = 100 };
	int follow = 0, ch, rc;
	while ((ch = getopt_long(argc, argv, ":fn:", opts, NULL)) != -1) {
		if (ch == 'f') {
			follow = 1;
		} else if (ch == 'n') {
			g.tail = atoi(optarg);
			if (g.tail < 1 || g.tail > 100000)
				return ctl_usage(c, "logs", "--tail wants 1 to 100000 lines");
		} else {
			return ctl_bad_option(c, "logs", ch, argv);
		}
	}
	if ((rc = ctl_one_job(c, "logs", argc, argv, optind, &g.job_id)))
		return rc;
	if (follow)
		return logs_follow(&g);
	cJSON *res;
	if ((rc = fetch_tail(&g, &res)))
		return rc;
	const cJSON *l, *lines = cJSON_GetObjectItemCaseSensitive(res, "lines");
	if (c->json)
		ctl_print_json(res);
	else if (cJSON_GetArraySize(lines) == 0)
		fprintf(stderr, "byolctl: job %ld has no log lines\n", g.job_id);
	else
		cJSON_ArrayForEach(l, lines)
			print_log_line(c, l, 0);
	cJSON_Delete(res);
	return CTL_OK;
}

/* ---- eval ---------------------------------------------------------------------- */

struct eval {
	struct ctl *c;
	const char *kind;
	long checkpoint_id; /* 0: the job's newest */
	long eval_id;       /* from job.eval; 0 before its reply */
};

/* Subscribed first, so the result cannot slip by: now ask for the evaluation. */
static int eval_subscribed(struct follow *f, const cJSON *job)
{
	struct eval *v = f->user;
	cJSON *params = ctl_job_params(f->job_id), *res;
	(void)job;
	if (v->eval_id)
		return FOLLOW_MORE; /* a reconnect: it was asked for already */
	cJSON_AddStringToObject(params, "kind", v->kind);
	if (v->checkpoint_id)
		cJSON_AddNumberToObject(params, "checkpoint_id", (double)v->checkpoint_id);
	int rc = ctl_call(v->c, "job.eval", params, &res);
	if (rc)
		return rc;
	v->eval_id = json_long(res, "eval_id");
	cJSON_Delete(res);
	fprintf(stderr, "byolctl: %s evaluation %ld of job %ld queued\n", v->kind, v->eval_id,
		f->job_id);
	return FOLLOW_MORE;
}

static int eval_event(struct follow *f, const cJSON *ev)
{
	struct eval *v = f->user;
	long id = json_long(ev, "eval_id");
	const char *kind = json_str(ev, "kind"), *error = json_str(ev, "error");
	char top1[32], top5[32];
	if (strcmp(json_str(ev, "event"), "eval") != 0 || !v->eval_id ||
	    (id >= 0 ? id != v->eval_id : !kind || strcmp(kind, v->kind) != 0))
		return FOLLOW_MORE;
	if (v->c->json) {
		ctl_print_json(ev);
	} else if (error) {
		return ctl_errf(&v->c->err, CTL_JOB_FAILED, "%s evaluation %ld of job %ld failed: %s",
				v->kind, v->eval_id, f->job_id, error);
	} else {
		fmt_num(top1, sizeof top1, "%.2f%%", json_num(ev, "top1"));
		fmt_num(top5, sizeof top5, "%.2f%%", json_num(ev, "top5"));
		printf("job %ld %s eval at step %ld: top-1 %s, top-5 %s\n", f->job_id, v->kind,
		       json_long(ev, "step"), top1, top5);
	}
	return error ? CTL_JOB_FAILED : CTL_OK;
}

int verb_eval(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "kind", required_argument, 0, 'k' },
					      { "checkpoint", required_argument, 0, 'c' },
					      { 0, 0, 0, 0 } };
	struct eval v = { .c = c, .kind = "linear" };
	struct follow f = { .c = c, .event = eval_event, .subscribed = eval_subscribed, .user = &v };
	cJSON *job;
	int ch, rc;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (ch == 'k' && (strcmp(optarg, "knn") == 0 || strcmp(optarg, "linear") == 0))
			v.kind = optarg;
		else if (ch == 'k')
			return ctl_usage(c, "eval", "--kind is knn or linear, not '%s'", optarg);
		else if (ch == 'c' && (rc = ctl_parse_id(c, optarg, "--checkpoint", &v.checkpoint_id)))
			return rc;
		else if (ch != 'c')
			return ctl_bad_option(c, "eval", ch, argv);
	}
	if ((rc = ctl_one_job(c, "eval", argc, argv, optind, &f.job_id)) ||
	    (rc = ctl_get_job(c, f.job_id, &job)))
		return rc;
	f.since_step = json_long(job, "step") > 0 ? json_long(job, "step") : 0;
	cJSON_Delete(job);
	return follow_run(&f);
}
