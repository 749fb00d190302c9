/*
 * jobs/state.h — the job state machine: every change of a job's state in the
 * history goes through jobs_transition, which checks it against one table.
 *
 *	queued ──start──▶ running ──complete──▶ completed
 *	  │ ▲               │ │ ▲
 *	pause resume    pause │ requeue (a pause withdrawn after the job stopped)
 *	  ▼ │               ▼ │
 *	paused ◀────────────┘ └──stop (shutdown)──▶ interrupted ──recover──▶ queued
 *	cancel: queued | running | paused → cancelled
 *	fail:   queued | running | paused → failed
 *	interrupt (found running at start-up): running → interrupted
 *
 * A job is created queued or paused (store_job_insert). A transition that
 * the table does not allow is refused (ERR_BAD_STATE) and changes nothing: the
 * caller logs it. Loop thread only (it reads and writes the store).
 */
#ifndef BYOL_JOBS_STATE_H
#define BYOL_JOBS_STATE_H

#include "err.h"
#include "store/store.h"

enum job_state {
	JOB_QUEUED, JOB_RUNNING, JOB_PAUSED, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED,
	JOB_INTERRUPTED, JOB_N_STATES
};

enum job_event {
	JOB_START, JOB_PAUSE, JOB_RESUME, JOB_REQUEUE, JOB_CANCEL, JOB_STOP, JOB_FAIL,
	JOB_COMPLETE, JOB_INTERRUPT, JOB_RECOVER, JOB_N_EVENTS
};

/* "queued", ... ; NULL for a value out of range. */
const char *job_state_name(enum job_state s);
const char *job_event_name(enum job_event ev);
/* 0 and *out, or -1 for a name that is no state. */
int job_state_parse(const char *name, enum job_state *out);

/* The state ev leads to from `from`, or -1 if the table does not allow it. */
int job_state_next(enum job_state from, enum job_event ev);

/* Checks ev against the job's stored state and applies it (error is stored with
   the state, NULL clears it). *from and *to (either may be NULL) receive the states.
   ERR_NOTFOUND if the job is gone (deleted), ERR_BAD_STATE if not allowed. */
int jobs_transition(struct store *st, long job_id, enum job_event ev, const char *error,
		    enum job_state *from, enum job_state *to, struct err *e);

#endif
