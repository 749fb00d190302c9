/*
 * test_scheduler.c — byold's queue and workers running real (tiny) jobs:
 * priorities, FIFO, cancel of queued and running jobs, pause and resume, one
 * "end" event per job, and the core budget.
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

#include "scheduler.h"

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

/* A job of 4 steps on 256 Fashion-MNIST images, no evaluation. */
static void tiny_spec(struct spec *s, char **json)
{
	static const char *const sets[] = {
		"data.limit=256", "eval_data.limit=64", "model.width=0.125",
		"model.projector={\"hidden\":32,\"out\":16}",
		"model.predictor={\"hidden\":32,\"out\":16}", "train.batch_size=64",
		"train.epochs=1", "optim.warmup_epochs=0", "train.log_every=1",
		"eval.linear.epochs=0", "eval.knn.k=5", "threads=1",
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

static void submit(struct scheduler *s, long id, int priority, int paused)
{
	struct spec spec;
	char *json, ckpt[128];
	struct err e;
	tiny_spec(&spec, &json);
	snprintf(ckpt, sizeof ckpt, "%s/%ld", dir, id);
	assert_int_equal(scheduler_submit(s, id, &spec, json, ckpt, NULL, priority, paused, &e), 0);
	free(json);
}

struct log {
	long first_seen[16]; /* order in which jobs produced their first event */
	int n_first;
	char end_state[16][16];
	int ends;
};

/* Drain until `ends` end events have arrived (or 60 s pass). */
static void collect(struct scheduler *s, struct log *l, int ends)
{
	time_t deadline = time(NULL) + 60;
	while (l->ends < ends && time(NULL) < deadline) {
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
			int seen = 0;
			for (int k = 0; k < l->n_first; k++)
				seen |= l->first_seen[k] == id;
			if (!seen)
				l->first_seen[l->n_first++] = id;
			const char *type = cJSON_GetObjectItem(ev[i].ev, "event")->valuestring;
			if (strcmp(type, "end") == 0) {
				assert_string_equal(l->end_state[id], "");
				snprintf(l->end_state[id], sizeof l->end_state[id], "%s",
					 cJSON_GetObjectItem(ev[i].ev, "state")->valuestring);
				l->ends++;
			}
			cJSON_Delete(ev[i].ev);
		}
		free(ev);
	}
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

static void test_priorities_and_cancel(void **state)
{
	(void)state;
	struct scheduler *s;
	struct err e;
	struct log l = { 0 };
	assert_int_equal(scheduler_start(&s, 1, 1, wake, NULL, &e), 0);
	submit(s, 1, 0, 1); /* paused: holds the only worker until resumed */
	wait_running(s, 1);
	submit(s, 2, 0, 0);
	submit(s, 3, 5, 0); /* higher priority: runs before 2 */
	submit(s, 4, 0, 0);
	int queued, running;
	scheduler_counts(s, &queued, &running);
	assert_int_equal(running, 1);
	assert_int_equal(queued, 3);
	assert_int_equal(scheduler_cancel(s, 4, &e), 0); /* queued: ends at once */
	assert_int_equal(scheduler_cancel(s, 99, &e), ERR_NOTFOUND);
	assert_int_equal(scheduler_pause(s, 1, 0, NULL, &e), 0);
	collect(s, &l, 4);
	assert_string_equal(l.end_state[1], "completed");
	assert_string_equal(l.end_state[2], "completed");
	assert_string_equal(l.end_state[3], "completed");
	assert_string_equal(l.end_state[4], "cancelled");
	/* First events: 1 (running), 4 (its end), then 3 before 2. */
	int pos2 = -1, pos3 = -1;
	for (int k = 0; k < l.n_first; k++) {
		pos2 = l.first_seen[k] == 2 ? k : pos2;
		pos3 = l.first_seen[k] == 3 ? k : pos3;
	}
	assert_true(pos3 >= 0 && pos2 > pos3);
	scheduler_stop(s);
}

static void test_cancel_running_and_stop(void **state)
{
	(void)state;
	struct scheduler *s;
	struct err e;
	struct log l = { 0 };
	assert_int_equal(scheduler_start(&s, 2, 2, wake, NULL, &e), 0);
	submit(s, 1, 0, 1);
	submit(s, 2, 0, 1);
	wait_running(s, 2); /* one core each: both fit */
	assert_int_equal(scheduler_job_state(s, 1), 1);
	assert_int_equal(scheduler_job_state(s, 99), -1);
	assert_int_equal(scheduler_cancel(s, 1, &e), 0);
	collect(s, &l, 1);
	assert_string_equal(l.end_state[1], "cancelled");
	scheduler_stop(s); /* job 2, paused, stops with a checkpoint */
	char path[128];
	snprintf(path, sizeof path, "%s/2/step-00000000.safetensors", dir);
	assert_int_equal(access(path, F_OK), 0);
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
		cmocka_unit_test(test_cancel_running_and_stop),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
