/*
 * jobs/events.h — the one event path of byold: the workers' events are
 * drained from the scheduler, stored, and only then handed back to be
 * published to subscribers, in the order they happened.
 *
 * A drained batch is stored in one transaction (one fsync for many step
 * points); state changes and ends follow it, each through the state machine
 * (jobs/state.h), outside the transaction so that a full disk can still
 * record a job as failed. Storing adds what subscribers need (checkpoint_id,
 * eval_id; a state event's from/to as stored; "stopped" becomes
 * "interrupted"). A job whose events cannot be stored is failed; events of a
 * deleted job, and refused transitions, are dropped (logged).
 */
#ifndef BYOL_JOBS_EVENTS_H
#define BYOL_JOBS_EVENTS_H

#include "jobs/jobs.h"

/* Drain and store every pending event. *out (malloc'd) holds *n events in order;
   an entry whose ev is NULL is not to be published. Free with jobs_events_free. */
void jobs_events_drain(struct jobs *j, struct sched_event **out, int *n);

void jobs_events_free(struct sched_event *ev, int n);

/* Store one event (for tests and for the drain): 0, ERR_NOTFOUND if the job is gone,
   ERR_BAD_STATE for a transition the state machine refuses, other errors of the store. */
int jobs_event_store(struct jobs *j, long job_id, cJSON *ev, struct err *e);

#endif
