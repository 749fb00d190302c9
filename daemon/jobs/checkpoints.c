/*
 * jobs/checkpoints.c — the checkpoint files of byold's jobs (see checkpoints.h).
 */
#include "jobs/checkpoints.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/checkpoint.h"
#include "engine/launch.h"

static void dir_of(struct jobs *j, long job_id, char *out, size_t cap)
{
	snprintf(out, cap, "%s/checkpoints/%ld", j->state_dir, job_id);
}

int jobs_checkpoint_dir(struct jobs *j, long job_id, char *out, size_t cap, struct err *e)
{
	dir_of(j, job_id, out, cap);
	if (mkdir(out, 0750) != 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: %s", out, strerror(errno));
	return 0;
}

int jobs_eval_queue(struct jobs *j, long job_id, long eval_id, const struct eval_request *request,
		    const struct spec *spec, const char *spec_text, const char *path,
		    const char *sha256, struct err *e)
{
	char dir[4200], state[4300];
	int rc = jobs_checkpoint_dir(j, job_id, dir, sizeof dir, e);
	snprintf(state, sizeof state, "%s/eval-%ld.state", dir, eval_id);
	return rc ? rc : scheduler_submit_eval(j->sched, job_id, eval_id, spec, spec_text, path,
					       sha256, request, state, e);
}

int jobs_checkpoint_forget(struct jobs *j, long job_id, const char *removed, struct err *e)
{
	struct store_checkpoint *rows;
	int n, rc = store_checkpoints_of(j->store, job_id, &rows, &n, e);
	for (int i = 0; i < n && !rc; i++)
		if (strcmp(rows[i].path, removed) == 0)
			rc = store_checkpoint_delete(j->store, rows[i].checkpoint_id, e);
	free(rows);
	return rc;
}

int jobs_checkpoint_newest_good(struct jobs *j, long job_id, char *path, size_t cap,
				long *step, struct err *e)
{
	struct store_checkpoint *rows;
	int n, rc = store_checkpoints_of(j->store, job_id, &rows, &n, e);
	path[0] = 0;
	*step = 0;
	for (int i = 0; i < n && !rc && !path[0]; i++) {
		struct err why = { 0 };
		if (checkpoint_verify(rows[i].path, rows[i].sha256, &why) != 0) {
			rc = store_log(j->store, job_id, "warning", why.msg, e);
			if (!rc)
				rc = store_checkpoint_delete(j->store, rows[i].checkpoint_id, e);
			continue;
		}
		*step = rows[i].step;
		snprintf(path, cap, "%s", rows[i].path);
	}
	free(rows);
	return rc;
}

int jobs_job_delete(struct jobs *j, long job_id, struct err *e)
{
	struct store_checkpoint *rows;
	char dir[4200];
	int n, rc = store_checkpoints_of(j->store, job_id, &rows, &n, e);
	if (!rc)
		rc = store_job_delete(j->store, job_id, e);
	for (int i = 0; i < n && !rc; i++)
		unlink(rows[i].path);
	free(rows);
	dir_of(j, job_id, dir, sizeof dir);
	for (int i = 0; !rc && launch_files[i]; i++) { /* a distributed job's (engine/launch.h) */
		char path[4400];
		snprintf(path, sizeof path, "%s/%s", dir, launch_files[i]);
		unlink(path);
	}
	if (!rc)
		rmdir(dir); /* only if empty: files byold did not index stay */
	return rc;
}
