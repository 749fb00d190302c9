/*
 * jobs/recover.c — start-up recovery (see recover.h).
 */
#include "jobs/recover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/checkpoint.h"
#include "jobs/checkpoints.h"
#include "jobs/state.h"
#include "log.h"

/* Give a job back to the scheduler from its newest intact checkpoint. */
static int requeue(struct jobs *j, long job_id, int held, int resumed, struct err *e)
{
	char path[4200], dir[4200], msg[4400], *text = NULL;
	long step = 0;
	struct spec s;
	int rc = jobs_checkpoint_newest_good(j, job_id, path, sizeof path, &step, e);
	if (!rc)
		rc = jobs_spec(j, job_id, &s, &text, e);
	if (!rc)
		rc = store_metrics_truncate(j->store, job_id, step, e);
	if (!rc)
		rc = jobs_checkpoint_dir(j, job_id, dir, sizeof dir, e);
	if (!rc)
		rc = scheduler_submit(j->sched, job_id, &s, text, dir, path[0] ? path : NULL, 0,
				      held, e);
	snprintf(msg, sizeof msg, "interrupted; resuming from %s", path[0] ? path : "the start");
	if (!rc && resumed)
		rc = store_log(j->store, job_id, "info", msg, e);
	free(text);
	return rc;
}

/* An eval row's request (a row from before requests were kept: its kind alone). */
static cJSON *request_of(const struct store_eval *ev)
{
	cJSON *o = ev->request ? cJSON_Parse(ev->request) : cJSON_CreateObject();
	if (o && !ev->request)
		cJSON_AddStringToObject(o, "kind", ev->kind);
	return o;
}

/* The eval's request resolved against its job's spec, and its checkpoint (path empty
   for one from the random initialisation). */
static int eval_inputs(struct jobs *j, const struct store_eval *ev, struct eval_request *r,
		       struct spec *s, char **spec_text, char *path, size_t cap, char sha[65],
		       struct err *why)
{
	long owner;
	long long bytes;
	char *job_text = NULL;
	struct spec_error se;
	cJSON *req = request_of(ev);
	int rc = req ? jobs_spec(j, ev->job_id, s, &job_text, why)
		     : err_set(why, ERR_INVALID, "its request is not JSON");
	if (!rc && eval_request_parse(r, s, spec_text, req, job_text, r->kind == EVAL_EMBED, &se))
		rc = err_set(why, ERR_INVALID, "its request: %s: %s", se.field, se.reason);
	path[0] = 0;
	if (!rc && !r->from_random)
		rc = ev->checkpoint_id <= 0
			     ? err_set(why, ERR_NOTFOUND, "its checkpoint was deleted")
			     : store_checkpoint_get(j->store, ev->checkpoint_id, &owner, path, cap,
						    sha, &bytes, why);
	cJSON_Delete(req);
	free(job_text);
	return rc;
}

/* Queue again an eval the daemon stopped under (its worker verifies the checkpoint);
   one whose checkpoint or spec is gone is marked failed, the reason in the job's log. */
static int requeue_eval(struct jobs *j, const struct store_eval *ev, struct err *e)
{
	char path[4200], sha[65] = "", msg[600], *text = NULL;
	struct spec s;
	struct eval_request r = { .kind = strcmp(ev->kind, "embed") ? EVAL_KNN : EVAL_EMBED };
	struct err why = { 0 };
	int rc = eval_inputs(j, ev, &r, &s, &text, path, sizeof path, sha, &why);
	if (rc) {
		snprintf(msg, sizeof msg, "eval %ld not resumed: %s", ev->eval_id, why.msg);
		free(text);
		rc = store_log(j->store, ev->job_id, "warning", msg, e);
		return rc ? rc : store_eval_failed(j->store, ev->eval_id, 0, e);
	}
	rc = jobs_eval_queue(j, ev->job_id, ev->eval_id, &r, &s, text, path[0] ? path : NULL, sha,
			     e);
	free(text);
	snprintf(msg, sizeof msg, "eval %ld interrupted; queued again", ev->eval_id);
	return rc ? rc : store_log(j->store, ev->job_id, "info", msg, e);
}

static int requeue_evals(struct jobs *j, struct err *e)
{
	struct store_eval *evs;
	int n, rc = store_evals_pending(j->store, &evs, &n, e);
	for (int i = 0; i < n; i++) {
		if (!rc)
			rc = requeue_eval(j, &evs[i], e);
		free(evs[i].request);
	}
	free(evs);
	return rc;
}

/* One job found at start-up in state k of the list below. */
static int recover_job(struct jobs *j, long id, enum job_state state, int *requeued,
		       struct err *e)
{
	int rc = 0;
	if (state == JOB_RUNNING)
		rc = jobs_transition(j->store, id, JOB_INTERRUPT, NULL, NULL, NULL, e);
	if (!rc && (state == JOB_RUNNING || state == JOB_INTERRUPTED))
		rc = jobs_transition(j->store, id, JOB_RECOVER, NULL, NULL, NULL, e);
	if (!rc)
		rc = requeue(j, id, state == JOB_PAUSED, state != JOB_QUEUED && state != JOB_PAUSED, e);
	if (rc == ERR_INVALID) { /* its stored spec no longer resolves: it fails, the rest go on */
		char why[300];
		snprintf(why, sizeof why, "not resumed: %s", e->msg);
		log_error("job %ld %s", id, why);
		return jobs_transition(j->store, id, JOB_FAIL, why, NULL, NULL, e);
	}
	*requeued += !rc;
	return rc;
}

int jobs_recover(struct jobs *j, int *requeued, struct err *e)
{
	/* Every list is read before any job changes state, so none is requeued twice. */
	static const enum job_state states[] = { JOB_RUNNING, JOB_PAUSED, JOB_INTERRUPTED,
						 JOB_QUEUED };
	enum { N_STATES = sizeof states / sizeof states[0] };
	long *ids[N_STATES] = { 0 };
	int n[N_STATES] = { 0 }, rc, temps = 0;
	*requeued = 0;
	rc = checkpoint_clean_temps(j->state_dir, &temps, e);
	if (!rc && temps)
		log_info("removed %d temporary checkpoint file(s) of interrupted writes", temps);
	for (int k = 0; k < N_STATES && !rc; k++)
		rc = store_jobs_in_state(j->store, job_state_name(states[k]), &ids[k], &n[k], e);
	for (int k = 0; k < N_STATES && !rc; k++) {
		for (int i = 0; i < n[k] && !rc; i++) {
			rc = recover_job(j, ids[k][i], states[k], requeued, e);
		}
	}
	for (int k = 0; k < N_STATES; k++)
		free(ids[k]);
	return rc ? rc : requeue_evals(j, e);
}
