/*
 * test_jobs_state.c — the job state machine (daemon/jobs/state.h): every
 * (state, event) pair against the documented diagram, and jobs_transition on a
 * real store applying the allowed ones and refusing the rest without a change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jobs/state.h"

/* The diagram of state.h, written out pair by pair. */
static const struct { enum job_state from; enum job_event ev; enum job_state to; } allowed[] = {
	{ JOB_QUEUED, JOB_START, JOB_RUNNING },      { JOB_QUEUED, JOB_PAUSE, JOB_PAUSED },
	{ JOB_RUNNING, JOB_PAUSE, JOB_PAUSED },      { JOB_PAUSED, JOB_RESUME, JOB_QUEUED },
	{ JOB_RUNNING, JOB_REQUEUE, JOB_QUEUED },    { JOB_RUNNING, JOB_COMPLETE, JOB_COMPLETED },
	{ JOB_RUNNING, JOB_STOP, JOB_INTERRUPTED },  { JOB_RUNNING, JOB_INTERRUPT, JOB_INTERRUPTED },
	{ JOB_INTERRUPTED, JOB_RECOVER, JOB_QUEUED },
	{ JOB_QUEUED, JOB_CANCEL, JOB_CANCELLED },   { JOB_RUNNING, JOB_CANCEL, JOB_CANCELLED },
	{ JOB_PAUSED, JOB_CANCEL, JOB_CANCELLED },   { JOB_QUEUED, JOB_FAIL, JOB_FAILED },
	{ JOB_RUNNING, JOB_FAIL, JOB_FAILED },       { JOB_PAUSED, JOB_FAIL, JOB_FAILED },
};
#define N_ALLOWED (sizeof allowed / sizeof allowed[0])

static int expected(enum job_state from, enum job_event ev)
{
	for (size_t i = 0; i < N_ALLOWED; i++)
		if (allowed[i].from == from && allowed[i].ev == ev)
			return (int)allowed[i].to;
	return -1;
}

static void test_table(void **state)
{
	(void)state;
	int n = 0;
	for (int s = 0; s < JOB_N_STATES; s++) {
		for (int ev = 0; ev < JOB_N_EVENTS; ev++) {
			int want = expected((enum job_state)s, (enum job_event)ev);
			int got = job_state_next((enum job_state)s, (enum job_event)ev);
			if (got != want)
				fail_msg("%s from %s: %d, want %d", job_event_name(ev),
					 job_state_name(s), got, want);
			n += got >= 0;
		}
	}
	assert_int_equal(n, (int)N_ALLOWED);
	/* Finished jobs never move again. */
	for (int ev = 0; ev < JOB_N_EVENTS; ev++) {
		assert_int_equal(job_state_next(JOB_COMPLETED, ev), -1);
		assert_int_equal(job_state_next(JOB_FAILED, ev), -1);
		assert_int_equal(job_state_next(JOB_CANCELLED, ev), -1);
	}
	assert_int_equal(job_state_next(JOB_N_STATES, JOB_START), -1);
	assert_int_equal(job_state_next(JOB_QUEUED, JOB_N_EVENTS), -1);
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < JOB_N_STATES; s++) {
		enum job_state back;
		assert_non_null(job_state_name(s));
		assert_int_equal(job_state_parse(job_state_name(s), &back), 0);
		assert_int_equal(back, s);
	}
	enum job_state x;
	assert_int_equal(job_state_parse("stopped", &x), -1);
	assert_int_equal(job_state_parse(NULL, &x), -1);
	assert_null(job_state_name(JOB_N_STATES));
}

static char *state_of(struct store *st, long id)
{
	static char name[16];
	struct err e = { 0 };
	assert_int_equal(store_job_state(st, id, name, sizeof name, &e), 0);
	return name;
}

static void test_transitions_on_a_store(void **state)
{
	(void)state;
	struct store *st;
	struct err e = { 0 };
	long id;
	enum job_state from, to;
	char dir[] = "/tmp/byol-state-XXXXXX", path[64], cmd[96];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/byold.db", dir);
	assert_int_equal(store_open(&st, path, &e), 0);
	assert_int_equal(store_job_insert(st, "j", "{}", 10, 0, &id, &e), 0);
	assert_int_equal(jobs_transition(st, id, JOB_COMPLETE, NULL, &from, &to, &e), ERR_BAD_STATE);
	assert_int_equal(from, JOB_QUEUED);
	assert_string_equal(state_of(st, id), "queued");
	assert_non_null(strstr(e.msg, "complete is not allowed from queued"));
	assert_int_equal(jobs_transition(st, id, JOB_START, NULL, &from, &to, &e), 0);
	assert_int_equal(to, JOB_RUNNING);
	assert_int_equal(jobs_transition(st, id, JOB_PAUSE, NULL, NULL, NULL, &e), 0);
	assert_string_equal(state_of(st, id), "paused");
	assert_int_equal(jobs_transition(st, id, JOB_START, NULL, NULL, NULL, &e), ERR_BAD_STATE);
	assert_int_equal(jobs_transition(st, id, JOB_RESUME, NULL, NULL, NULL, &e), 0);
	assert_int_equal(jobs_transition(st, id, JOB_START, NULL, NULL, NULL, &e), 0);
	assert_int_equal(jobs_transition(st, id, JOB_FAIL, "boom", NULL, &to, &e), 0);
	assert_int_equal(to, JOB_FAILED);
	assert_string_equal(state_of(st, id), "failed");
	assert_int_equal(jobs_transition(st, id, JOB_RECOVER, NULL, NULL, NULL, &e), ERR_BAD_STATE);
	assert_string_equal(state_of(st, id), "failed");
	assert_int_equal(jobs_transition(st, id + 1, JOB_START, NULL, NULL, NULL, &e), ERR_NOTFOUND);
	store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_transitions_on_a_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
