/*
 * test_scheduler.c — byold's queue and workers running real (tiny) jobs:
 * priorities, FIFO, cancel of queued and running jobs, pause (the worker is
 * given back) and resume (from the step after the pause), one
 * "end" event per job, and the core budget (a job that asks for more cores
 * than are free waits for them; one that fits runs beside the others).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jobs/scheduler.h"

static char dir[] = "/tmp/byol-sched-XXXXXX";
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t woken = PTHREAD_COND_INITIALIZER;
static int wakes;

static void wake(void *ctx)
{
	(void)ctx;
	pthread_mutex_lock(&mu);
	wakes++;
	pthread_cond_broadcast(&woken);
	pthread_mutex_unlock(&mu);
}

/* A job of 4 steps an epoch on 256 Fashion-MNIST images asking for `threads` cores;
   no evaluation but the final kNN on 64 images. */
static void tiny_spec_of(struct spec *s, char **json, int threads, int epochs)
{
	char th[32], ep[32];
	snprintf(th, sizeof th, "threads=%d", threads);
	snprintf(ep, sizeof ep, "train.epochs=%d", epochs);
	const char *const sets[] = {
		"data.limit=256", "eval_data.limit=64", "model.width=0.125",
		"model.projector={\"hidden\":32,\"out\":16}",
		"model.predictor={\"hidden\":32,\"out\":16}", "train.batch_size=64",
		ep, "optim.warmup_epochs=0", "train.log_every=1", "eval.every_epochs=0",
		"eval.linear.epochs=0", "eval.knn.k=5", th,
	};
	struct spec_input in = { .preset = "fmnist-convnet", .set_strings = sets,
				 .n_set_strings = (int)(sizeof sets / sizeof sets[0]) };
	struct spec_error err;
	cJSON *resolved;
	if (spec_resolve(s, &resolved, &in, &err))
		fail_msg("%s: %s", err.field, err.reason);
	*json = cJSON_PrintUnformatted(resolved);
	cJSON_Delete(resolved);
}

/* Queue job id asking for `threads` cores, for `epochs` epochs (4 steps each). */
static void submit_job(struct scheduler *s, long id, int threads, int epochs, int priority,
		       int paused)
{
	struct spec spec;
	char *json, ckpt[128];
	struct err e;
	tiny_spec_of(&spec, &json, threads, epochs);
	snprintf(ckpt, sizeof ckpt, "%s/%ld", dir, id);
	assert_int_equal(scheduler_submit(s, id, &spec, json, ckpt, NULL, priority, paused, &e), 0);
	free(json);
}

static void submit_sized(struct scheduler *s, long id, int threads, int epochs)
{
	submit_job(s, id, threads, epochs, 0, 0);
}

static void submit(struct scheduler *s, long id, int priority, int paused)
{
	submit_job(s, id, 1, 1, priority, paused);
}

struct log {
	long first_seen[16]; /* order in which jobs produced their first event */
	int n_first;
	char end_state[16][16];
	int ends;
	long seq;          /* events drained so far */
	long first_at[16]; /* per job: position of its first event in the drained order, 0: none */
	long end_at[16];   /* ... of its end event */
	int steps[16];     /* its step events */
	long last_step[16];  /* its last step event's step */
	long first_after_pause[16]; /* the first step after it was paused, 0: none */
	int paused_seen[16]; /* state events to "paused" */
};

/* Wait for a wake-up (50 ms at most), then drain the pending events into l. */
static void drain_once(struct scheduler *s, struct log *l)
{
	struct sched_event *ev;
	int n;
	struct err e;
	pthread_mutex_lock(&mu);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 50 * 1000 * 1000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	pthread_cond_timedwait(&woken, &mu, &ts);
	pthread_mutex_unlock(&mu);
	scheduler_drain(s, &ev, &n, &e);
	for (int i = 0; i < n; i++) {
		long id = ev[i].job_id;
		assert_true(id >= 0 && id < 16);
		l->seq++;
		if (!l->first_at[id]) {
			l->first_at[id] = l->seq;
			l->first_seen[l->n_first++] = id;
		}
		const char *type = cJSON_GetObjectItem(ev[i].ev, "event")->valuestring;
		long step = (long)cJSON_GetObjectItem(ev[i].ev, "step")->valuedouble;
		if (strcmp(type, "step") == 0) {
			l->steps[id]++;
			if (l->paused_seen[id] && !l->first_after_pause[id])
				l->first_after_pause[id] = step;
			l->last_step[id] = step;
		}
		if (strcmp(type, "state") == 0 &&
		    strcmp(cJSON_GetObjectItem(ev[i].ev, "to")->valuestring, "paused") == 0)
			l->paused_seen[id]++;
		if (strcmp(type, "end") == 0) {
			assert_string_equal(l->end_state[id], "");
			snprintf(l->end_state[id], sizeof l->end_state[id], "%s",
				 cJSON_GetObjectItem(ev[i].ev, "state")->valuestring);
			l->end_at[id] = l->seq;
			l->ends++;
		}
		cJSON_Delete(ev[i].ev);
	}
	free(ev);
}

/* Drain until `ends` end events have arrived (or 60 s pass). */
static void collect(struct scheduler *s, struct log *l, int ends)
{
	time_t deadline = time(NULL) + 60;
	while (l->ends < ends && time(NULL) < deadline)
		drain_once(s, l);
	assert_int_equal(l->ends, ends);
}

/* Wait (10 s at most) until `want` jobs are running. */
static void wait_running(struct scheduler *s, int want)
{
	int queued, running = 0;
	for (int i = 0; i < 1000 && running != want; i++) {
		scheduler_counts(s, &queued, &running);
		if (running != want)
			usleep(10000);
	}
	assert_int_equal(running, want);
}

/* Job 1 holds the only worker until it is cancelled; 3 (priority 5) then runs before 2,
   queued earlier; 4, cancelled while queued, ends at once. */
static void test_priorities_and_cancel(void **state)
{
	(void)state;
	struct scheduler *s;
	struct err e;
	struct log l = { 0 };
	assert_int_equal(scheduler_start(&s, 1, 1, wake, NULL, &e), 0);
	submit_sized(s, 1, 1, 10000);
	wait_running(s, 1);
	submit(s, 2, 0, 0);
	submit(s, 3, 5, 0);
	submit(s, 4, 0, 0);
	int queued, running;
	scheduler_counts(s, &queued, &running);
	assert_int_equal(running, 1);
	assert_int_equal(queued, 3);
	assert_int_equal(scheduler_cancel(s, 4, &e), 0);
	assert_int_equal(scheduler_cancel(s, 99, &e), ERR_NOTFOUND);
	assert_int_equal(scheduler_cancel(s, 1, &e), 0);
	collect(s, &l, 4);
	assert_string_equal(l.end_state[1], "cancelled");
	assert_string_equal(l.end_state[2], "completed");
	assert_string_equal(l.end_state[3], "completed");
	assert_string_equal(l.end_state[4], "cancelled");
	assert_true(l.first_at[3] > 0 && l.first_at[2] > l.first_at[3]);
	scheduler_stop(s);
}

/* Wait (60 s at most) until the scheduler says job id is in state want. */
static void wait_state(struct scheduler *s, struct log *l, long id, int want)
{
	time_t deadline = time(NULL) + 60;
	while (scheduler_job_state(s, id) != want && time(NULL) < deadline)
		drain_once(s, l);
	assert_int_equal(scheduler_job_state(s, id), want);
}

/* One worker. A running job paused checkpoints and gives the worker back (held: state
   2); the next job runs and completes meanwhile; resumed, the first continues from the
   step after its pause. A job submitted paused never takes the worker. */
static void test_pause_frees_the_worker(void **state)
{
	(void)state;
	struct scheduler *s;
	struct err e;
	struct log l = { 0 };
	assert_int_equal(scheduler_start(&s, 1, 1, wake, NULL, &e), 0);
	submit(s, 5, 0, 1); /* held from the start */
	submit_sized(s, 1, 1, 10000);
	wait_state(s, &l, 1, 1);
	assert_int_equal(scheduler_job_state(s, 5), 2);
	time_t deadline = time(NULL) + 60;
	while (l.steps[1] < 3 && time(NULL) < deadline)
		drain_once(s, &l);
	assert_int_equal(scheduler_pause(s, 1, 1, &e), 0);
	wait_state(s, &l, 1, 2);
	long paused_at = l.last_step[1];
	submit(s, 2, 0, 0);
	collect(s, &l, 1);
	assert_string_equal(l.end_state[2], "completed");
	assert_int_equal(l.paused_seen[1], 1);
	assert_int_equal(scheduler_pause(s, 1, 0, &e), 0);
	deadline = time(NULL) + 60;
	while (!l.first_after_pause[1] && time(NULL) < deadline)
		drain_once(s, &l);
	assert_int_equal(l.first_after_pause[1], paused_at + 1);
	assert_int_equal(scheduler_job_state(s, 5), 2); /* still held */
	assert_int_equal(scheduler_cancel(s, 1, &e), 0);
	assert_int_equal(scheduler_remove(s, 5, &e), 0);
	assert_int_equal(scheduler_job_state(s, 5), -1);
	collect(s, &l, 2);
	assert_string_equal(l.end_state[1], "cancelled");
	assert_string_equal(l.end_state[5], ""); /* removed without an event */
	scheduler_stop(s);
}

/* Two jobs fit beside each other; one cancelled while running ends cancelled, the
   other checkpoints when the scheduler stops. */
static void test_cancel_running_and_stop(void **state)
{
	(void)state;
	struct scheduler *s;
	struct err e;
	struct log l = { 0 };
	assert_int_equal(scheduler_start(&s, 2, 2, wake, NULL, &e), 0);
	submit_sized(s, 1, 1, 10000);
	submit_sized(s, 2, 1, 10000);
	wait_running(s, 2); /* one core each: both fit */
	assert_int_equal(scheduler_job_state(s, 1), 1);
	assert_int_equal(scheduler_job_state(s, 99), -1);
	assert_int_equal(scheduler_remove(s, 1, &e), ERR_BAD_STATE);
	assert_int_equal(scheduler_cancel(s, 1, &e), 0);
	collect(s, &l, 1);
	assert_string_equal(l.end_state[1], "cancelled");
	time_t deadline = time(NULL) + 60;
	while (l.steps[2] < 1 && time(NULL) < deadline)
		drain_once(s, &l);
	scheduler_halt(s);
	drain_once(s, &l);
	assert_string_equal(l.end_state[2], "stopped");
	char path[128];
	snprintf(path, sizeof path, "%s/2/step-%08ld.safetensors", dir, l.last_step[2]);
	assert_int_equal(access(path, F_OK), 0);
	scheduler_stop(s);
}

/*
 * The core budget. Two workers share 2 cores. A (job 11) asks for both and
 * trains for long (40000 steps: it only ends when cancelled); B (12) asks for
 * one. A worker is free, but the cores are not, so B stays queued for as long
 * as A runs: while A takes 20 more steps (ample time for the idle worker to
 * take B if the budget let it), B has no event, scheduler_job_state says
 * queued and scheduler_counts 1 queued, 1 running. Once A is cancelled B
 * runs, and its first event comes after A's end in the event order (not
 * timing: the order the scheduler queued them in). Then the control: C (13)
 * and D (14) ask for one core each and fit together: D starts and completes
 * while C still runs. Only submit, cancel, counts, job_state and drain are
 * used (no pause), so the case holds under the scheduler being rewritten.
 */
static struct scheduler *budget_sched; /* stopped by the teardown, also after a failure */

static void test_core_budget(void **state)
{
	(void)state;
	struct scheduler *s;
	struct err e;
	struct log l = { 0 };
	int queued, running;
	assert_int_equal(scheduler_start(&budget_sched, 2, 2, wake, NULL, &e), 0);
	s = budget_sched;
	submit_sized(s, 11, 2, 10000); /* A */
	wait_running(s, 1);
	time_t deadline = time(NULL) + 60;
	while (l.steps[11] < 1 && !l.end_at[11] && time(NULL) < deadline)
		drain_once(s, &l); /* until A is training */
	assert_true(l.steps[11] >= 1);
	submit_sized(s, 12, 1, 1); /* B */
	const int a_steps = l.steps[11];
	deadline = time(NULL) + 60;
	while (l.steps[11] < a_steps + 20 && !l.end_at[11] && time(NULL) < deadline) {
		drain_once(s, &l);
		assert_int_equal(l.first_at[12], 0); /* B: no event, not started */
		assert_int_equal(scheduler_job_state(s, 12), 0);
		scheduler_counts(s, &queued, &running);
		assert_int_equal(queued, 1);
		assert_int_equal(running, 1);
	}
	assert_int_equal(l.end_at[11], 0); /* A was still training all along */
	assert_true(l.steps[11] >= a_steps + 20);
	assert_int_equal(scheduler_job_state(s, 11), 1);
	assert_int_equal(scheduler_cancel(s, 11, &e), 0);
	collect(s, &l, 2);
	assert_string_equal(l.end_state[11], "cancelled");
	assert_string_equal(l.end_state[12], "completed");
	assert_true(l.first_at[12] > l.end_at[11]); /* B started only once A had let go */
	assert_int_equal(l.steps[12], 4);

	/* Control: one core each, both fit. */
	submit_sized(s, 13, 1, 10000); /* C */
	wait_running(s, 1);
	submit_sized(s, 14, 1, 1); /* D */
	collect(s, &l, 3);
	assert_string_equal(l.end_state[14], "completed");
	assert_int_equal(l.end_at[13], 0); /* D ran beside C */
	assert_int_equal(scheduler_job_state(s, 13), 1);
	assert_int_equal(scheduler_cancel(s, 13, &e), 0);
	collect(s, &l, 4);
	assert_string_equal(l.end_state[13], "cancelled");
}

static int stop_budget_sched(void **state)
{
	(void)state;
	scheduler_stop(budget_sched);
	budget_sched = NULL;
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[64];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priorities_and_cancel),
		cmocka_unit_test(test_pause_frees_the_worker),
		cmocka_unit_test(test_cancel_running_and_stop),
		cmocka_unit_test_teardown(test_core_budget, stop_budget_sched),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
