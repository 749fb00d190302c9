/*
 * jobs/events.c — the event path (see events.h).
 */
#include "jobs/events.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/checkpoints.h"
#include "jobs/state.h"
#include "log.h"

static double num(const cJSON *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_str(cJSON *ev, const char *key, const char *value)
{
	if (cJSON_GetObjectItemCaseSensitive(ev, key))
		cJSON_ReplaceItemInObjectCaseSensitive(ev, key, cJSON_CreateString(value));
	else
		cJSON_AddStringToObject(ev, key, value);
}

/* A state event {from, to} of the scheduler as the state machine's event. */
static int state_event(const cJSON *ev, enum job_event *out)
{
	const char *from = str(ev, "from"), *to = str(ev, "to");
	if (!from || !to)
		return -1;
	if (strcmp(to, "running") == 0)
		*out = JOB_START;
	else if (strcmp(to, "paused") == 0)
		*out = JOB_PAUSE;
	else if (strcmp(to, "queued") == 0)
		*out = strcmp(from, "paused") == 0 ? JOB_RESUME : JOB_REQUEUE;
	else
		return -1;
	return 0;
}

/* An end event's state as the state machine's event ("stopped": the daemon's shutdown). */
static int end_event(const cJSON *ev, enum job_event *out)
{
	static const struct { const char *state; enum job_event ev; } map[] = {
		{ "completed", JOB_COMPLETE }, { "failed", JOB_FAIL },
		{ "cancelled", JOB_CANCEL }, { "stopped", JOB_STOP },
	};
	const char *state = str(ev, "state");
	for (size_t i = 0; state && i < sizeof map / sizeof *map; i++) {
		if (strcmp(state, map[i].state) == 0) {
			*out = map[i].ev;
			return 0;
		}
	}
	return -1;
}

static int store_state(struct jobs *j, long job_id, cJSON *ev, struct err *e)
{
	enum job_event what;
	enum job_state from, to;
	if (state_event(ev, &what) != 0)
		return err_set(e, ERR_INVALID, "job %ld: a state event without from/to", job_id);
	int rc = jobs_transition(j->store, job_id, what, NULL, &from, &to, e);
	if (!rc) { /* subscribers see the states as stored */
		set_str(ev, "from", job_state_name(from));
		set_str(ev, "to", job_state_name(to));
	}
	return rc;
}

static int store_end(struct jobs *j, long job_id, cJSON *ev, struct err *e)
{
	enum job_event what;
	enum job_state to;
	if (end_event(ev, &what) != 0)
		return err_set(e, ERR_INVALID, "job %ld: an end event without a known state", job_id);
	int rc = jobs_transition(j->store, job_id, what, str(ev, "error"), NULL, &to, e);
	if (rc)
		return rc;
	/* The job has ended in the history: its subscribers get the end whatever follows. */
	set_str(ev, "state", job_state_name(to));
	if (num(ev, "step") > 0)
		rc = store_job_progress(j->store, job_id, (long)num(ev, "step"), e);
	if (!rc && num(ev, "skipped_images") > 0)
		rc = store_job_skipped(j->store, job_id, (long long)num(ev, "skipped_images"), e);
	if (!rc && to == JOB_COMPLETED)
		rc = store_job_final(j->store, job_id, num(ev, "top1"), num(ev, "top5"),
				     num(ev, "knn_top1"), num(ev, "final_loss"), e);
	if (rc)
		log_error("job %ld: storing its summary: %s", job_id, e->msg);
	return 0;
}

/* What an eval event found beyond top-1/top-5 (the setting chosen, a sweep's table), as
   JSON text (malloc'd), or NULL when there is nothing. */
static char *eval_result_text(const cJSON *ev)
{
	static const char *const keys[] = { "lr", "labelled_images", "seed", "k", "t", "table",
					     "test_images" };
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < sizeof keys / sizeof keys[0]; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, keys[i]);
		if (v)
			cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(v, 1));
	}
	char *text = o && o->child ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	return text;
}

/* A requested evaluation's result (ev carries its eval_id), or a monitor's new row. */
static int store_eval(struct jobs *j, long job_id, cJSON *ev, struct err *e)
{
	long id = (long)num(ev, "eval_id");
	const cJSON *cancelled = cJSON_GetObjectItemCaseSensitive(ev, "cancelled");
	if (id > 0 && (str(ev, "error") || cJSON_IsTrue(cancelled))) {
		int rc = store_eval_failed(j->store, id, cJSON_IsTrue(cancelled), e);
		const char *msg = str(ev, "error");
		char line[64];
		if (!msg) {
			snprintf(line, sizeof line, "evaluation %ld cancelled", id);
			msg = line;
		}
		return rc ? rc : store_log(j->store, job_id, msg == line ? "info" : "error", msg, e);
	}
	int rc = id > 0 ? 0 : store_eval_insert(j->store, job_id, 0, str(ev, "kind"), NULL, &id, e);
	if (!rc && num(ev, "eval_id") != id)
		cJSON_AddNumberToObject(ev, "eval_id", (double)id);
	char *result = rc ? NULL : eval_result_text(ev);
	if (!rc)
		rc = store_eval_done(j->store, id, (long)num(ev, "step"), num(ev, "top1"),
				     num(ev, "top5"), str(ev, "data"), result, e);
	free(result);
	return rc;
}

static int store_checkpoint(struct jobs *j, long job_id, cJSON *ev, struct err *e)
{
	long id;
	int rc = store_checkpoint_insert(j->store, job_id, (long)num(ev, "step"),
					 (int)num(ev, "epoch"), str(ev, "path"),
					 (long long)num(ev, "bytes"), str(ev, "sha256"), &id, e);
	if (!rc)
		cJSON_AddNumberToObject(ev, "checkpoint_id", (double)id);
	if (!rc && str(ev, "removed"))
		rc = jobs_checkpoint_forget(j, job_id, str(ev, "removed"), e);
	return rc;
}

int jobs_event_store(struct jobs *j, long job_id, cJSON *ev, struct err *e)
{
	const char *type = str(ev, "event");
	if (!type)
		return err_set(e, ERR_INVALID, "job %ld: an event without a type", job_id);
	if (strcmp(type, "step") == 0) {
		int rc = store_metric_insert(j->store, job_id, ev, e);
		return rc ? rc : store_job_progress(j->store, job_id, (long)num(ev, "step"), e);
	}
	if (strcmp(type, "checkpoint") == 0)
		return store_checkpoint(j, job_id, ev, e);
	if (strcmp(type, "eval") == 0)
		return store_eval(j, job_id, ev, e);
	if (strcmp(type, "log") == 0)
		return store_log(j->store, job_id, str(ev, "level"), str(ev, "message"), e);
	if (strcmp(type, "state") == 0)
		return store_state(j, job_id, ev, e);
	if (strcmp(type, "end") == 0)
		return store_end(j, job_id, ev, e);
	return 0; /* epoch summaries are streamed, not stored */
}

/* State changes and ends are stored after the batch's transaction. */
static int is_transition(const cJSON *ev)
{
	const char *type = str(ev, "event");
	return type && (strcmp(type, "state") == 0 || strcmp(type, "end") == 0);
}

/* One event stored, or dropped with the reason logged; a job whose history cannot be
   kept does not train on. */
static void store_one(struct jobs *j, struct sched_event *x)
{
	struct err e = { 0 };
	int rc = jobs_event_store(j, x->job_id, x->ev, &e);
	if (rc == 0)
		return;
	if (rc == ERR_NOTFOUND) /* deleted while its last events were on their way */
		;
	else if (rc == ERR_BAD_STATE)
		log_error("%s", e.msg);
	else {
		log_error("job %ld: storing an event: %s", x->job_id, e.msg);
		scheduler_fail(j->sched, x->job_id, e.msg);
	}
	cJSON_Delete(x->ev);
	x->ev = NULL;
}

void jobs_events_drain(struct jobs *j, struct sched_event **out, int *n)
{
	struct err e = { 0 };
	scheduler_drain(j->sched, out, n, &e);
	struct sched_event *ev = *out;
	int in_tx = *n > 1 && store_begin(j->store, &e) == 0;
	for (int i = 0; i < *n; i++)
		if (!is_transition(ev[i].ev))
			store_one(j, &ev[i]);
	if (in_tx && store_commit(j->store, &e) != 0) {
		log_error("storing %d events: %s", *n, e.msg);
		store_rollback(j->store);
		for (int i = 0; i < *n; i++) {
			if (ev[i].ev && !is_transition(ev[i].ev)) {
				scheduler_fail(j->sched, ev[i].job_id, e.msg);
				cJSON_Delete(ev[i].ev);
				ev[i].ev = NULL;
			}
		}
	}
	for (int i = 0; i < *n; i++)
		if (ev[i].ev && is_transition(ev[i].ev))
			store_one(j, &ev[i]);
}

void jobs_events_free(struct sched_event *ev, int n)
{
	for (int i = 0; i < n; i++)
		cJSON_Delete(ev[i].ev);
	free(ev);
}
