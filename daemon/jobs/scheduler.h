/*
 * scheduler.h — byold's job queue and worker threads.
 *
 * Jobs wait in a queue ordered by priority (higher first), FIFO within a
 * priority. N worker threads each run one job at a time through engine_run,
 * with a compute-thread budget that keeps the sum over running jobs within
 * the machine's cores: a job asks for spec.threads cores (0: cores / workers)
 * and starts only when that many are free. Control requests (cancel, pause,
 * resume, stop) reach the engine as its stop flag, read between steps: a
 * paused job checkpoints, gives its worker and cores back, and waits without
 * a worker until it is resumed; it then continues from that checkpoint, which
 * holds everything an exact resume needs.
 *
 * A job's state changes (queued → running, running → paused, paused →
 * queued, ...) are events like the engine's: the loop applies them in order
 * with the rest.
 *
 * Workers never touch the store or the network: every event of a job, and a
 * final "end" event, goes into one mutex-protected queue, and `wake` is
 * called (the server passes uv_async_send); the loop thread drains the queue
 * with scheduler_drain. A worker never waits for the loop.
 */
#ifndef BYOL_SCHEDULER_H
#define BYOL_SCHEDULER_H

#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "eval_request.h"
#include "spec.h"

struct scheduler;

/* One event of one job; ev is owned by the receiver (cJSON_Delete). An "end"
   event carries "state" (completed|failed|cancelled|stopped), "error", "step",
   and the final metrics. */
struct sched_event {
	long job_id;
	cJSON *ev;
};

int scheduler_start(struct scheduler **out, int workers, int cores, void (*wake)(void *ctx),
		    void *ctx, struct err *e);

/* Queue a job. checkpoint_dir must exist or be creatable; resume may be NULL. */
int scheduler_submit(struct scheduler *s, long job_id, const struct spec *spec,
		     const char *spec_json, const char *checkpoint_dir, const char *resume,
		     int priority, int paused, struct err *e);

/* Queue an evaluation (eval_request.h) of a job's checkpoint, whose sha256 the worker
   checks before reading it (hashing stays off the loop), or with checkpoint NULL of the
   job's random initialisation. It runs on a worker like a job, beside the job's own
   training if that runs, and reports one "eval" event of the job carrying eval_id:
   the results, or "error" if it failed; a fine-tuning's progress goes to state_path
   (may be NULL) and its eval_progress events. Control by job id does not reach it. */
int scheduler_submit_eval(struct scheduler *s, long job_id, long eval_id, const struct spec *spec,
			  const char *spec_json, const char *checkpoint, const char *sha256,
			  const struct eval_request *request, const char *state_path,
			  struct err *e);
/* Cancel an evaluation: a queued one ends at once, a running one at its next batch
   or step; either reports an "eval" event with "cancelled": true. ERR_NOTFOUND if it
   is not queued or running (or not job_id's). */
int scheduler_cancel_eval(struct scheduler *s, long job_id, long eval_id, struct err *e);

/* Control by job id; ERR_NOTFOUND if the job is not queued or running. A queued job
   that is cancelled ends at once (its "end" event says so). */
int scheduler_cancel(struct scheduler *s, long job_id, struct err *e);
/* Stop a running job at its next step boundary and end it as failed with reason (the
   daemon could not record its events). */
void scheduler_fail(struct scheduler *s, long job_id, const char *reason);

/* Pause (pause = 1) or resume a job: queued or held jobs at once, running ones at their
   next step boundary. ERR_NOTFOUND if the scheduler does not hold it, ERR_BAD_STATE while
   it is being cancelled. */
int scheduler_pause(struct scheduler *s, long job_id, int pause, struct err *e);

/* Forget a job that is not running (job.delete), without an event; ERR_BAD_STATE if it
   runs. 0 also when the scheduler does not hold it. */
int scheduler_remove(struct scheduler *s, long job_id, struct err *e);

/* Move every pending event into *out (malloc'd array, *n entries); returns 0. */
int scheduler_drain(struct scheduler *s, struct sched_event **out, int *n, struct err *e);

/* 1 if the job is running, 0 if queued, 2 if paused (held without a worker), -1 if the
   scheduler does not hold it. */
int scheduler_job_state(struct scheduler *s, long job_id);

/* How many evaluations of the job are queued or running. */
int scheduler_evals_of(struct scheduler *s, long job_id);

/* Replace the wake-up callback (the server installs uv_async_send once its loop exists). */
void scheduler_set_wake(struct scheduler *s, void (*wake)(void *ctx), void *ctx);

/* Number of jobs waiting (queued or paused) and running, evaluations not counted. */
void scheduler_counts(struct scheduler *s, int *queued, int *running);

/* Halt: running jobs checkpoint and end as "stopped", queued jobs stay unstarted;
   returns when every worker has finished. Events stay for scheduler_drain. */
void scheduler_halt(struct scheduler *s);

/* Halt if not yet halted, then free everything (events not drained are dropped). */
void scheduler_stop(struct scheduler *s);

#endif
