/*
 * jobs/jobs.h — what the job layer works with: the history (store), the
 * scheduler and the state directory. Used on the loop thread only; the
 * scheduler's workers never see it.
 *
 *	state.h        the job state machine (every transition in one place)
 *	events.h       the event path: drain → store (one transaction) → publish
 *	checkpoints.h  the checkpoint files a job owns: indexed, verified, pruned, removed
 *	recover.h      start-up: interrupted jobs and pending evals queued again
 */
#ifndef BYOL_JOBS_JOBS_H
#define BYOL_JOBS_JOBS_H

#include "jobs/scheduler.h"
#include "spec.h"
#include "store/store.h"

struct jobs {
	struct store *store;
	struct scheduler *sched;
	char state_dir[4096];
};

/* A job's stored spec, resolved again into *s; *text (malloc'd) is its JSON. */
int jobs_spec(struct jobs *j, long job_id, struct spec *s, char **text, struct err *e);

#endif
