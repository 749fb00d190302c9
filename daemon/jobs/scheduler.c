/*
 * scheduler.c — job queue and workers (see scheduler.h).
 */
#include "jobs/scheduler.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "engine/checkpoint.h"
#include "engine/engine.h"
#include "engine/launch.h"
#include "event.h"

struct job {
	long id;
	int priority;
	long seq;                   /* submission order */
	struct spec spec;
	char *spec_json, *ckpt_dir, *resume;
	atomic_int stop;            /* read by the engine between steps */
	int held;                   /* paused and not running: no worker takes it */
	int pausing;                /* a pause asked while running: it checkpoints, then is held */
	int cancelled;
	char failure[256];          /* set by scheduler_fail: the job stops as failed */
	int running;
	int threads;                /* cores granted */
	long eval_id;               /* > 0: an evaluation of resume, not training */
	struct eval_request request;
	char *eval_state;           /* a fine-tuning's progress file */
	char eval_sha256[65];       /* resume's indexed sha256, verified before it is read */
	struct job *next;
};

struct scheduler {
	pthread_mutex_t mu;
	pthread_cond_t work;        /* a job was queued, cores were freed, or stopping */
	pthread_t *workers;
	int n_workers, cores, free_cores;
	struct job *jobs;           /* queued and running */
	long seq;
	int stopping, halted;
	struct sched_event *events;
	int n_events, cap_events;
	void (*wake)(void *ctx);
	void *ctx;
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->spec_json);
	free(j->ckpt_dir);
	free(j->resume);
	free(j->eval_state);
	free(j);
}

/* Append an event (under the lock); drops it if memory runs out. */
static void push_locked(struct scheduler *s, long job_id, cJSON *ev)
{
	if (!ev)
		return;
	if (s->n_events == s->cap_events) {
		int cap = s->cap_events ? 2 * s->cap_events : 64;
		struct sched_event *p = realloc(s->events, (size_t)cap * sizeof *p);
		if (!p) {
			cJSON_Delete(ev);
			return;
		}
		s->events = p;
		s->cap_events = cap;
	}
	s->events[s->n_events++] = (struct sched_event){ job_id, ev };
}

/* Unlock, then (if rc is 0) wake the loop: outside the lock, as the callback may block. */
static int unlock_wake(struct scheduler *s, int rc)
{
	void (*wake)(void *) = s->wake;
	void *ctx = s->ctx;
	pthread_mutex_unlock(&s->mu);
	if (!rc && wake)
		wake(ctx);
	return rc;
}

static void push(struct scheduler *s, long job_id, cJSON *ev)
{
	pthread_mutex_lock(&s->mu);
	push_locked(s, job_id, ev);
	unlock_wake(s, 0);
}

struct job_ctx {
	struct scheduler *s;
	long job_id, eval_id;
};

static void on_event(void *ctx, const cJSON *ev)
{
	struct job_ctx *c = ctx;
	cJSON *copy = cJSON_Duplicate(ev, 1);
	if (copy && c->eval_id)
		cJSON_AddNumberToObject(copy, "eval_id", (double)c->eval_id);
	push(c->s, c->job_id, copy);
}

/* The queued job to run next that fits in the free cores (highest priority, oldest). */
static struct job *next_job_locked(struct scheduler *s)
{
	struct job *best = NULL;
	for (struct job *j = s->jobs; j; j = j->next) {
		if (j->running || j->cancelled || j->held)
			continue;
		if (!best || j->priority > best->priority ||
		    (j->priority == best->priority && j->seq < best->seq))
			best = j;
	}
	if (best && best->threads > s->free_cores && s->free_cores < s->cores)
		return NULL; /* wait for cores; an idle machine always takes the job */
	return best;
}

static void unlink_locked(struct scheduler *s, struct job *j)
{
	for (struct job **p = &s->jobs; *p; p = &(*p)->next) {
		if (*p == j) {
			*p = j->next;
			return;
		}
	}
}

static cJSON *end_event(const char *state, const struct engine_result *r, const char *error)
{
	cJSON *ev = event_new("end", r ? r->step : 0, 0);
	cJSON_AddStringToObject(ev, "state", state);
	if (error)
		cJSON_AddStringToObject(ev, "error", error);
	if (r) {
		if (isfinite(r->final_loss))
			cJSON_AddNumberToObject(ev, "final_loss", r->final_loss);
		if (r->top1 >= 0) {
			cJSON_AddNumberToObject(ev, "top1", r->top1);
			cJSON_AddNumberToObject(ev, "top5", r->top5);
		}
		if (r->knn_top1 >= 0)
			cJSON_AddNumberToObject(ev, "knn_top1", r->knn_top1);
		cJSON_AddNumberToObject(ev, "skipped_images", (double)r->skipped_images);
	}
	return ev;
}

/* An evaluation's failure or cancellation, as the eval event that carries its id. */
static cJSON *eval_ended_event(const struct job *j, const char *error)
{
	cJSON *ev = event_new("eval", 0, 0);
	cJSON_AddStringToObject(ev, "kind", eval_kind_name(j->request.kind));
	cJSON_AddNumberToObject(ev, "eval_id", (double)j->eval_id);
	if (error)
		cJSON_AddStringToObject(ev, "error", error);
	else
		cJSON_AddBoolToObject(ev, "cancelled", 1);
	return ev;
}

/* Evaluate a checkpoint (or the random initialisation) on this worker (the lock is
   not held). */
static void run_eval(struct scheduler *s, struct job *j)
{
	struct job_ctx ctx = { s, j->id, j->eval_id };
	struct engine_options o = { .checkpoint_dir = j->ckpt_dir, .resume = j->resume,
				    .eval_only = 1, .request = &j->request,
				    .eval_state = j->eval_state };
	struct engine_hooks h = { .event = on_event, .ctx = &ctx, .stop = &j->stop };
	struct engine_result r;
	struct err e = { 0 };
	j->spec.threads = j->threads;
	if ((j->resume && checkpoint_verify(j->resume, j->eval_sha256, &e) != 0) ||
	    engine_run(&j->spec, j->spec_json, &o, &h, &r, &e) != 0)
		push(s, j->id, eval_ended_event(j, e.msg));
	else if (r.state == ENGINE_STOPPED && j->cancelled)
		push(s, j->id, eval_ended_event(j, NULL));
	if (j->cancelled && j->eval_state)
		unlink(j->eval_state);
	/* Stopped by shutdown: the eval stays pending and the next start runs it again
	   (a fine-tuning from its progress file). */
}

/* A state change of a job, for the event path (under the lock). */
static void push_state_locked(struct scheduler *s, long job_id, long step, const char *from,
			      const char *to, const char *reason)
{
	cJSON *st = event_new("state", step, 0);
	cJSON_AddStringToObject(st, "from", from);
	cJSON_AddStringToObject(st, "to", to);
	cJSON_AddStringToObject(st, "reason", reason);
	push_locked(s, job_id, st);
}

/* A job stopped at a step boundary, not by cancel, failure or shutdown, was paused (or
   paused and resumed before it took effect): it waits, without a worker, to continue
   from the checkpoint it wrote. Returns 1 if it was kept. */
static int keep_paused_locked(struct scheduler *s, struct job *j, const struct engine_result *r)
{
	if (r->state != ENGINE_STOPPED || j->cancelled || j->failure[0] ||
	    (s->stopping && !j->pausing) || !r->checkpoint[0])
		return 0;
	char *resume = strdup(r->checkpoint);
	if (!resume)
		return 0;
	free(j->resume);
	j->resume = resume;
	j->running = 0;
	j->held = j->pausing;
	j->pausing = 0;
	atomic_store(&j->stop, 0);
	push_state_locked(s, j->id, r->step, "running", j->held ? "paused" : "queued", "request");
	return 1;
}

/* Run one job until it ends or pauses; returns with the lock held. */
static void run_job(struct scheduler *s, struct job *j)
{
	j->running = 1;
	s->free_cores -= j->threads;
	pthread_mutex_unlock(&s->mu);
	if (j->eval_id) {
		run_eval(s, j);
		pthread_mutex_lock(&s->mu);
		s->free_cores += j->threads;
		unlink_locked(s, j);
		job_free(j);
		pthread_cond_broadcast(&s->work);
		return;
	}

	struct job_ctx ctx = { s, j->id, 0 };
	pthread_mutex_lock(&s->mu);
	push_state_locked(s, j->id, 0, "queued", "running", j->resume ? "resumed" : "started");
	unlock_wake(s, 0);
	struct engine_options o = { .checkpoint_dir = j->ckpt_dir, .resume = j->resume };
	struct engine_hooks h = { .event = on_event, .ctx = &ctx, .stop = &j->stop };
	struct engine_result r;
	struct err e = { 0 };
	j->spec.threads = j->threads;
	int rc = j->spec.distributed.ranks > 1 ? engine_run_mpi(&j->spec, j->spec_json, &o, &h, &r, &e)
					       : engine_run(&j->spec, j->spec_json, &o, &h, &r, &e);

	pthread_mutex_lock(&s->mu);
	s->free_cores += j->threads;
	if (rc || !keep_paused_locked(s, j, &r)) {
		const char *state = rc || j->failure[0] ? "failed"
				    : r.state == ENGINE_COMPLETED ? "completed"
				    : j->cancelled ? "cancelled" : "stopped";
		push_locked(s, j->id, end_event(state, &r, rc ? e.msg
								: j->failure[0] ? j->failure : NULL));
		unlink_locked(s, j);
		job_free(j);
	}
	pthread_cond_broadcast(&s->work);
	if (s->wake)
		s->wake(s->ctx);
}

static void *worker_main(void *arg)
{
	struct scheduler *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct job *j = next_job_locked(s);
		if (j)
			run_job(s, j);
		else
			pthread_cond_wait(&s->work, &s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int scheduler_start(struct scheduler **out, int workers, int cores, void (*wake)(void *ctx),
		    void *ctx, struct err *e)
{
	*out = NULL;
	if (workers < 1 || cores < 1)
		return err_set(e, ERR_INVALID, "scheduler: workers and cores must be ≥ 1");
	struct scheduler *s = calloc(1, sizeof *s);
	if (!s || !(s->workers = calloc((size_t)workers, sizeof *s->workers))) {
		free(s);
		return err_set(e, ERR_NOMEM, "scheduler: out of memory");
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	s->cores = s->free_cores = cores;
	s->wake = wake;
	s->ctx = ctx;
	for (int i = 0; i < workers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
			s->n_workers = i;
			scheduler_stop(s);
			return err_set(e, ERR_NOMEM, "scheduler: cannot start worker %d", i);
		}
		s->n_workers = i + 1;
	}
	*out = s;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static struct job *job_new(long job_id, const struct spec *spec, const char *spec_json,
			   const char *checkpoint_dir, const char *resume)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->id = job_id;
	j->spec = *spec;
	j->spec_json = strdup(spec_json);
	j->ckpt_dir = strdup(checkpoint_dir);
	j->resume = dup_or_null(resume);
	if (!j->spec_json || !j->ckpt_dir || (resume && !j->resume)) {
		job_free(j);
		return NULL;
	}
	return j;
}

/* Grant j its cores and queue it. */
static void enqueue(struct scheduler *s, struct job *j)
{
	pthread_mutex_lock(&s->mu);
	int want = j->spec.threads > 0 ? j->spec.threads : s->cores / s->n_workers;
	if (j->spec.distributed.ranks > 1 && !j->eval_id) /* a core at least per local rank */
		want = want > launch_local_ranks(&j->spec) ? want : launch_local_ranks(&j->spec);
	j->threads = want < 1 ? 1 : want > s->cores ? s->cores : want;
	j->seq = s->seq++;
	j->next = s->jobs;
	s->jobs = j;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
}

int scheduler_submit(struct scheduler *s, long job_id, const struct spec *spec,
		     const char *spec_json, const char *checkpoint_dir, const char *resume,
		     int priority, int paused, struct err *e)
{
	struct job *j = job_new(job_id, spec, spec_json, checkpoint_dir, resume);
	if (!j)
		return err_set(e, ERR_NOMEM, "scheduler: out of memory");
	j->priority = priority;
	j->held = paused;
	enqueue(s, j);
	return 0;
}

int scheduler_submit_eval(struct scheduler *s, long job_id, long eval_id, const struct spec *spec,
			  const char *spec_json, const char *checkpoint, const char *sha256,
			  const struct eval_request *request, const char *state_path,
			  struct err *e)
{
	struct job *j = job_new(job_id, spec, spec_json, "", checkpoint);
	if (j && state_path && !(j->eval_state = strdup(state_path))) {
		job_free(j);
		j = NULL;
	}
	if (!j)
		return err_set(e, ERR_NOMEM, "scheduler: out of memory");
	j->eval_id = eval_id;
	j->request = *request;
	snprintf(j->eval_sha256, sizeof j->eval_sha256, "%s", sha256 ? sha256 : "");
	enqueue(s, j);
	return 0;
}

static struct job *find_locked(struct scheduler *s, long job_id)
{
	for (struct job *j = s->jobs; j; j = j->next)
		if (j->id == job_id && !j->eval_id)
			return j;
	return NULL;
}

/* Cancel j (NULL: not found; what and id name it in errors): a queued one ends at once,
   a running one at its next step boundary. Under the lock. */
static int cancel_locked(struct scheduler *s, struct job *j, const char *what, long id,
			 struct err *e)
{
	if (!j)
		return err_set(e, ERR_NOTFOUND, "%s %ld is not queued or running", what, id);
	if (j->cancelled)
		return err_set(e, ERR_BAD_STATE, "%s %ld is being cancelled", what, id);
	if (j->running) {
		j->cancelled = 1;
		atomic_store(&j->stop, 1);
		return 0;
	}
	unlink_locked(s, j);
	push_locked(s, j->id, j->eval_id ? eval_ended_event(j, NULL)
					 : end_event("cancelled", NULL, NULL));
	if (j->eval_state)
		unlink(j->eval_state);
	job_free(j);
	pthread_cond_broadcast(&s->work); /* it may have held the queue's head */
	return 0;
}

int scheduler_cancel(struct scheduler *s, long job_id, struct err *e)
{
	pthread_mutex_lock(&s->mu);
	int rc = cancel_locked(s, find_locked(s, job_id), "job", job_id, e);
	return unlock_wake(s, rc);
}

int scheduler_cancel_eval(struct scheduler *s, long job_id, long eval_id, struct err *e)
{
	pthread_mutex_lock(&s->mu);
	struct job *j = s->jobs;
	while (j && !(j->eval_id == eval_id && j->id == job_id))
		j = j->next;
	int rc = cancel_locked(s, j, "evaluation", eval_id, e);
	return unlock_wake(s, rc);
}

void scheduler_fail(struct scheduler *s, long job_id, const char *reason)
{
	pthread_mutex_lock(&s->mu);
	struct job *j = find_locked(s, job_id);
	if (j && j->running && !j->failure[0]) {
		snprintf(j->failure, sizeof j->failure, "%s", reason);
		atomic_store(&j->stop, 1);
	}
	pthread_mutex_unlock(&s->mu);
}

/* Pause: a waiting job is held at once; a running one checkpoints at its next step
   boundary and gives its worker back. Resume: a held job waits for a worker again; a
   pause not yet in effect is withdrawn (if the engine already stopped, the job simply
   queues again from its checkpoint). */
static int pause_locked(struct scheduler *s, struct job *j, int pause, struct err *e)
{
	if (j->cancelled)
		return err_set(e, ERR_BAD_STATE, "job %ld is being cancelled", j->id);
	if (j->running) {
		if (j->failure[0])
			return 0; /* it stops as failed whatever is asked */
		j->pausing = pause;
		atomic_store(&j->stop, pause);
	} else if (j->held != pause) {
		j->held = pause;
		push_state_locked(s, j->id, 0, pause ? "queued" : "paused", pause ? "paused" : "queued",
				  "request");
		pthread_cond_broadcast(&s->work);
	}
	return 0;
}

int scheduler_pause(struct scheduler *s, long job_id, int pause, struct err *e)
{
	pthread_mutex_lock(&s->mu);
	struct job *j = find_locked(s, job_id);
	int rc = j ? pause_locked(s, j, pause, e)
		   : err_set(e, ERR_NOTFOUND, "job %ld is not queued, running or paused", job_id);
	return unlock_wake(s, rc);
}

int scheduler_remove(struct scheduler *s, long job_id, struct err *e)
{
	pthread_mutex_lock(&s->mu);
	struct job *j = find_locked(s, job_id);
	int rc = 0;
	if (j && j->running)
		rc = err_set(e, ERR_BAD_STATE, "job %ld is running", job_id);
	else if (j) {
		unlink_locked(s, j);
		job_free(j);
		pthread_cond_broadcast(&s->work); /* it may have held the queue's head */
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int scheduler_drain(struct scheduler *s, struct sched_event **out, int *n, struct err *e)
{
	(void)e;
	pthread_mutex_lock(&s->mu);
	*out = s->events;
	*n = s->n_events;
	s->events = NULL;
	s->n_events = s->cap_events = 0;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int scheduler_job_state(struct scheduler *s, long job_id)
{
	pthread_mutex_lock(&s->mu);
	struct job *j = find_locked(s, job_id);
	int state = !j ? -1 : j->running ? 1 : j->held ? 2 : 0;
	pthread_mutex_unlock(&s->mu);
	return state;
}

int scheduler_evals_of(struct scheduler *s, long job_id)
{
	int n = 0;
	pthread_mutex_lock(&s->mu);
	for (struct job *j = s->jobs; j; j = j->next)
		n += j->id == job_id && j->eval_id;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void scheduler_set_wake(struct scheduler *s, void (*wake)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&s->mu);
	s->wake = wake;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->mu);
}

void scheduler_counts(struct scheduler *s, int *queued, int *running)
{
	*queued = *running = 0;
	pthread_mutex_lock(&s->mu);
	for (struct job *j = s->jobs; j; j = j->next)
		if (!j->eval_id) /* jobs only: evaluations are not bounded by max_queued */
			*(j->running ? running : queued) += 1;
	pthread_mutex_unlock(&s->mu);
}

void scheduler_halt(struct scheduler *s)
{
	if (s->halted)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	for (struct job *j = s->jobs; j; j = j->next)
		atomic_store(&j->stop, 1);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->n_workers; i++)
		pthread_join(s->workers[i], NULL);
	s->halted = 1;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	scheduler_halt(s);
	while (s->jobs) {
		struct job *j = s->jobs;
		s->jobs = j->next;
		job_free(j);
	}
	for (int i = 0; i < s->n_events; i++)
		cJSON_Delete(s->events[i].ev);
	free(s->events);
	free(s->workers);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
