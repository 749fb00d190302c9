/*
 * follow.c — a job's event stream across daemon restarts (see follow.h).
 */
#include "follow.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

int follow_outcome(const char *end_state)
{
	if (!end_state)
		return FOLLOW_MORE;
	if (strcmp(end_state, "completed") == 0)
		return CTL_OK;
	if (strcmp(end_state, "failed") == 0)
		return CTL_JOB_FAILED;
	if (strcmp(end_state, "cancelled") == 0)
		return CTL_JOB_CANCELLED;
	return FOLLOW_MORE;
}

static void notice(struct follow *f, const char *msg)
{
	if (f->notice)
		f->notice(f, msg);
	else
		fprintf(stderr, "byolctl: %s\n", msg);
}

static void drop_connection(struct ctl *c)
{
	if (c->connected)
		rpcc_close(&c->rpc);
	c->connected = 0;
}

/* job.get, then job.subscribe after the last step seen, then the caller's hook. */
static int subscribe(struct follow *f)
{
	cJSON *job, *res, *params = ctl_job_params(f->job_id);
	int rc = ctl_get_job(f->c, f->job_id, &job);
	if (rc) {
		cJSON_Delete(params);
		return rc;
	}
	cJSON_AddNumberToObject(params, "since_step", (double)f->since_step);
	rc = ctl_call(f->c, "job.subscribe", params, &res);
	if (!rc) {
		f->subscription = json_long(res, "subscription");
		f->subscriptions++;
		cJSON_Delete(res);
		rc = f->subscribed ? f->subscribed(f, job) : FOLLOW_MORE;
	}
	cJSON_Delete(job);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000L };
	nanosleep(&t, NULL); /* Ctrl-C cuts it short */
}

/* The daemon went away: try again every second until it is back or until deadline. */
static int reconnect(struct follow *f, long deadline)
{
	char msg[4600];
	struct ctl *c = f->c;
	snprintf(msg, sizeof msg, "lost the connection to byold at %s; reconnecting every "
		 "second (a stopped byold resumes job %ld when it restarts)", c->target.where,
		 f->job_id);
	notice(f, msg);
	for (;;) {
		drop_connection(c);
		if (interrupted)
			return FOLLOW_MORE; /* the main loop reports it */
		if (clock_ms() >= deadline)
			return ctl_errf(&c->err, CTL_UNAVAILABLE, "byold at %s did not come back "
					"in time — is it running?", c->target.where);
		sleep_ms(1000);
		int rc = subscribe(f);
		if (rc != CTL_UNAVAILABLE) {
			if (rc == FOLLOW_MORE)
				notice(f, "reconnected");
			return rc;
		}
	}
}

/* One notification: the job's events, each step and checkpoint only once. */
static int dispatch(struct follow *f, const cJSON *ev)
{
	long job = json_long(ev, "job_id");
	const char *type = json_str(ev, "event");
	if ((job >= 0 && job != f->job_id) || !type)
		return FOLLOW_MORE;
	if (strcmp(type, "step") == 0) {
		long step = json_long(ev, "step");
		if (step <= f->since_step)
			return FOLLOW_MORE;
		f->since_step = step;
	} else if (strcmp(type, "checkpoint") == 0) {
		long id = json_long(ev, "checkpoint_id");
		if (id > 0 && id <= f->last_ckpt)
			return FOLLOW_MORE;
		f->last_ckpt = id > f->last_ckpt ? id : f->last_ckpt;
	}
	return f->event(f, ev);
}

/* A request the daemon must answer, so an idle connection is not closed as silent. */
static int keepalive(struct follow *f)
{
	cJSON *res;
	int rc = ctl_call(f->c, "server.hello", NULL, &res);
	cJSON_Delete(res);
	return rc ? rc : FOLLOW_MORE;
}

/* Waits for the next event (or a tick) and handles it. */
static int step_loop(struct follow *f, long deadline, long *last_tick, long *last_traffic)
{
	struct ctl *c = f->c;
	cJSON *note = NULL;
	int rc = rpcc_next_note(&c->rpc, FOLLOW_TICK_MS, &note, &c->err);
	long now = clock_ms();
	if (rc == CTL_UNAVAILABLE) {
		long limit = now + (long)(FOLLOW_RECONNECT_S * 1000);
		rc = reconnect(f, limit < deadline ? limit : deadline);
		*last_traffic = clock_ms();
	} else if (!rc && note) {
		rc = dispatch(f, note);
		*last_traffic = now;
	} else if (!rc && now - *last_traffic >= FOLLOW_KEEPALIVE_MS) {
		rc = keepalive(f);
		*last_traffic = now;
		if (rc == CTL_UNAVAILABLE)
			rc = reconnect(f, deadline);
	} else if (!rc) {
		rc = FOLLOW_MORE;
	}
	cJSON_Delete(note);
	if (rc == FOLLOW_MORE && f->tick && now - *last_tick >= FOLLOW_TICK_MS) {
		f->tick(f);
		*last_tick = now;
	}
	return rc;
}

int follow_run(struct follow *f)
{
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	long start = clock_ms(), last_tick = start, last_traffic = start;
	long deadline = f->timeout_s > 0 ? start + (long)(f->timeout_s * 1000) : LONG_MAX;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old); /* no SA_RESTART: poll returns, the loop stops cleanly */
	interrupted = 0;
	int rc = subscribe(f);
	while (rc == FOLLOW_MORE && !interrupted && clock_ms() < deadline)
		rc = step_loop(f, deadline, &last_tick, &last_traffic);
	if (rc == FOLLOW_MORE && interrupted)
		rc = ctl_errf(&f->c->err, FOLLOW_INTERRUPTED, "interrupted; job %ld goes on "
			      "(`byolctl watch %ld` follows it again)", f->job_id, f->job_id);
	else if (rc == FOLLOW_MORE)
		rc = ctl_errf(&f->c->err, CTL_BUSY, "job %ld has not finished after %g s "
			      "(--timeout)", f->job_id, f->timeout_s);
	sigaction(SIGINT, &old, NULL);
	return rc;
}
