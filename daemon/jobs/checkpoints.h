/*
 * jobs/checkpoints.h — the checkpoint files of byold's jobs. The engine
 * writes each file (temp, fsync, rename, fsync the directory) and prunes
 * beyond keep_last; everything else about them is here: the directory of a
 * job, the index rows following the engine's pruning, hashing at start-up,
 * removal with the job, and the temp files of interrupted writes.
 */
#ifndef BYOL_JOBS_CHECKPOINTS_H
#define BYOL_JOBS_CHECKPOINTS_H

#include <stddef.h>

#include "eval_request.h"
#include "jobs/jobs.h"

/* <state_dir>/checkpoints/<job_id> into out[cap], created if missing. */
int jobs_checkpoint_dir(struct jobs *j, long job_id, char *out, size_t cap, struct err *e);

/* Drop the index row of a file the engine removed (keep_last). */
int jobs_checkpoint_forget(struct jobs *j, long job_id, const char *removed, struct err *e);

/* The newest checkpoint of a job whose file still has its indexed sha256 (path empty
   and *step 0 if none); damaged ones are logged to the job and dropped from the index.
   It hashes files: for start-up, never on a running loop. */
int jobs_checkpoint_newest_good(struct jobs *j, long job_id, char *path, size_t cap,
				long *step, struct err *e);

/* Queue evaluation eval_id of a job as request says, with spec (the request's,
   eval_request_parse) and its text, on the checkpoint at path (sha256 indexed), or
   with path NULL on the random initialisation. A fine-tuning keeps its progress in
   the job's directory as eval-<eval_id>.state. */
int jobs_eval_queue(struct jobs *j, long job_id, long eval_id, const struct eval_request *request,
		    const struct spec *spec, const char *spec_text, const char *path,
		    const char *sha256, struct err *e);

/* job.delete of a job the scheduler no longer holds: its row (metrics, index, evals and
   logs go with it), then the checkpoint files the index named and their directory. */
int jobs_job_delete(struct jobs *j, long job_id, struct err *e);

#endif
