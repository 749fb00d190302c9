/*
 * follow.h — a job's event stream (job.subscribe), kept alive across daemon
 * restarts; watch, wait, logs -f and eval are built on it.
 *
 * follow_run subscribes with since_step, hands each event of the job to the
 * caller, and returns when a callback returns an exit code. When the daemon
 * closes the connection (SIGTERM ends running jobs as `interrupted`, a slow
 * client is cut off), it reconnects every second until the deadline and
 * subscribes again after the last step seen; step points at or before it are
 * not handed on twice. It also keeps an idle connection alive and stops on
 * Ctrl-C (exit 130) or when timeout_s runs out (exit 75).
 */
#ifndef BYOLCTL_FOLLOW_H
#define BYOLCTL_FOLLOW_H

#include <cjson/cJSON.h>

#include "ctl.h"

#define FOLLOW_MORE (-1)            /* a callback's "keep going" */
#define FOLLOW_TICK_MS 250          /* tick() is called at least this often */
#define FOLLOW_RECONNECT_S 600.0    /* how long a lost daemon is waited for without a timeout */
#define FOLLOW_KEEPALIVE_MS 60000   /* silence after which the connection is pinged */
#define FOLLOW_INTERRUPTED 130      /* the exit code after Ctrl-C */

struct follow {
	struct ctl *c;
	long job_id;
	long since_step;   /* the last step seen: replay and hand on only later steps */
	long last_ckpt;    /* the newest checkpoint_id handed on: a replay after a
			      reconnect does not announce it again */
	double timeout_s;  /* > 0: give up (75) after this long */
	/* Each event of the job (job.event params). FOLLOW_MORE, or an exit code to stop. */
	int (*event)(struct follow *f, const cJSON *ev);
	/* After each subscription (NULL: nothing); job is job.get's result at that time.
	   FOLLOW_MORE, or an exit code to stop. */
	int (*subscribed)(struct follow *f, const cJSON *job);
	/* While waiting, every FOLLOW_TICK_MS or so (NULL: nothing). */
	void (*tick)(struct follow *f);
	/* A message for people about the connection (NULL: printed on stderr). */
	void (*notice)(struct follow *f, const char *msg);
	void *user;
	/* state */
	long subscription;
	int subscriptions; /* how many times subscribed */
};

/* Runs until a callback returns an exit code; returns it (or a failure's). */
int follow_run(struct follow *f);

/* 0, 1, 2 for an end state completed, failed, cancelled; FOLLOW_MORE otherwise
   (interrupted: the daemon stopped and will resume the job). */
int follow_outcome(const char *end_state);

#endif
