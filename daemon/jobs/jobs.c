/*
 * jobs/jobs.c — what the job layer shares (see jobs.h).
 */
#include "jobs/jobs.h"

#include <stdlib.h>

int jobs_spec(struct jobs *j, long job_id, struct spec *s, char **text, struct err *e)
{
	struct spec_error se;
	int rc = store_job_spec(j->store, job_id, text, e);
	if (rc)
		return rc;
	struct spec_input in = { .spec = cJSON_Parse(*text) };
	if (!in.spec)
		rc = err_set(e, ERR_INVALID, "job %ld: its stored spec is not JSON", job_id);
	else if (spec_resolve(s, NULL, &in, &se) != 0)
		rc = err_set(e, ERR_INVALID, "stored spec: %s: %s", se.field, se.reason);
	cJSON_Delete((cJSON *)in.spec);
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}
