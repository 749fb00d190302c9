/*
 * jobs/state.c — the job state machine (see state.h).
 */
#include "jobs/state.h"

#include <string.h>

static const char *const state_names[JOB_N_STATES] = {
	"queued", "running", "paused", "completed", "failed", "cancelled", "interrupted",
};

static const char *const event_names[JOB_N_EVENTS] = {
	"start", "pause", "resume", "requeue", "cancel", "stop", "fail", "complete",
	"interrupt", "recover",
};

#define FROM(s) (1u << (s))
#define WAITING (FROM(JOB_QUEUED) | FROM(JOB_PAUSED))
#define LIVE (WAITING | FROM(JOB_RUNNING))

/* Each event: the states it may leave, and the state it leads to. */
static const struct {
	unsigned from;
	enum job_state to;
} table[JOB_N_EVENTS] = {
	[JOB_START] = { FROM(JOB_QUEUED), JOB_RUNNING },
	[JOB_PAUSE] = { FROM(JOB_QUEUED) | FROM(JOB_RUNNING), JOB_PAUSED },
	[JOB_RESUME] = { FROM(JOB_PAUSED), JOB_QUEUED },
	[JOB_REQUEUE] = { FROM(JOB_RUNNING), JOB_QUEUED },
	[JOB_CANCEL] = { LIVE, JOB_CANCELLED },
	[JOB_STOP] = { FROM(JOB_RUNNING), JOB_INTERRUPTED },
	[JOB_FAIL] = { LIVE, JOB_FAILED },
	[JOB_COMPLETE] = { FROM(JOB_RUNNING), JOB_COMPLETED },
	[JOB_INTERRUPT] = { FROM(JOB_RUNNING), JOB_INTERRUPTED },
	[JOB_RECOVER] = { FROM(JOB_INTERRUPTED), JOB_QUEUED },
};

const char *job_state_name(enum job_state s)
{
	return (unsigned)s < JOB_N_STATES ? state_names[s] : NULL;
}

const char *job_event_name(enum job_event ev)
{
	return (unsigned)ev < JOB_N_EVENTS ? event_names[ev] : NULL;
}

int job_state_parse(const char *name, enum job_state *out)
{
	for (int i = 0; name && i < JOB_N_STATES; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum job_state)i;
			return 0;
		}
	}
	return -1;
}

int job_state_next(enum job_state from, enum job_event ev)
{
	if ((unsigned)ev >= JOB_N_EVENTS || (unsigned)from >= JOB_N_STATES ||
	    !(table[ev].from & FROM(from)))
		return -1;
	return (int)table[ev].to;
}

int jobs_transition(struct store *st, long job_id, enum job_event ev, const char *error,
		    enum job_state *from, enum job_state *to, struct err *e)
{
	char name[16];
	enum job_state cur;
	int rc = store_job_state(st, job_id, name, sizeof name, e);
	if (rc)
		return rc;
	if (job_state_parse(name, &cur) != 0)
		return err_set(e, ERR_INVALID, "job %ld: stored state \"%s\" is unknown", job_id, name);
	int next = job_state_next(cur, ev);
	if (from)
		*from = cur;
	if (next < 0)
		return err_set(e, ERR_BAD_STATE, "job %ld: %s is not allowed from %s", job_id,
			       job_event_name(ev), name);
	if (to)
		*to = (enum job_state)next;
	return store_job_set_state(st, job_id, state_names[next], error, e);
}
