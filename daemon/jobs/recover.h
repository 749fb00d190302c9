/*
 * jobs/recover.h — byold's start-up, before the loop runs: temp files of
 * interrupted checkpoint writes are removed; every job found running (its
 * daemon was killed) becomes interrupted; interrupted, queued and paused jobs
 * go back to the scheduler, an interrupted or paused one continuing from its
 * newest checkpoint whose sha256 still matches (damaged ones are dropped from
 * the index), with its metrics after that step deleted so none repeat; and
 * evals left pending are queued again.
 */
#ifndef BYOL_JOBS_RECOVER_H
#define BYOL_JOBS_RECOVER_H

#include "jobs/jobs.h"

/* *requeued receives the number of jobs given back to the scheduler. */
int jobs_recover(struct jobs *j, int *requeued, struct err *e);

#endif
