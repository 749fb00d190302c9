/*
 * ctl.h — what byolctl's modules share: the invocation (options, output mode,
 * the lazily opened connection to byold), the exit codes of byolctl(1)
 * ("byolctl — contract") and the verbs.
 *
 * Every function that can fail returns an exit code (CTL_OK on success) and,
 * on failure, leaves a message in ctl->err that says what to do; only main
 * prints it and exits. Data goes to stdout, messages to stderr.
 *
 *	int verb_show(struct ctl *c, int argc, char **argv)
 *	{
 *		cJSON *job;
 *		int rc = ctl_call(c, "job.get", job_params(id), &job);
 *		if (rc)
 *			return rc;            // main prints c->err.msg
 *		...print...; cJSON_Delete(job); return CTL_OK;
 *	}
 */
#ifndef BYOLCTL_CTL_H
#define BYOLCTL_CTL_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "rpcclient.h"

#include "version.h"

/* Exit codes (sysexits.h where one fits). */
enum ctl_exit {
	CTL_OK = 0,
	CTL_JOB_FAILED = 1,
	CTL_JOB_CANCELLED = 2,
	CTL_USAGE = 64,       /* bad command line */
	CTL_BAD_SPEC = 65,    /* −32602: bad spec or parameter */
	CTL_NOT_FOUND = 66,   /* −32004: no such job or checkpoint; missing input file */
	CTL_UNAVAILABLE = 69, /* daemon unreachable, or lacks a method */
	CTL_SOFTWARE = 70,    /* internal error, malformed reply */
	CTL_CANTCREAT = 73,   /* cannot write an output file */
	CTL_SHA_MISMATCH = 74,
	CTL_BUSY = 75,        /* −32005, −32009; also a --timeout that ran out */
	CTL_NOPERM = 77,      /* −32001: the token was refused */
};

struct ctl {
	struct rpcc_target target; /* where byold is */
	struct rpcc rpc;           /* open once ctl_rpc has succeeded */
	int connected;
	int json;                  /* --json: results as one compact line, events one per line */
	int tty;                   /* stdout is a terminal */
	int color;                 /* tty and NO_COLOR unset: colour and bars */
	int width;                 /* columns for tables; 0 = unlimited */
	struct ctl_err err;
};

/* The connection, opened (and authenticated over TCP) on first use. */
int ctl_rpc(struct ctl *c, struct rpcc **out);

/* One call: params (may be NULL) is consumed; *result is the caller's. */
int ctl_call(struct ctl *c, const char *method, cJSON *params, cJSON **result);

/* A call whose result is only printed: as one line with --json, else by show(). */
int ctl_call_print(struct ctl *c, const char *method, cJSON *params,
		   void (*show)(struct ctl *c, const cJSON *result));

/* Prints v compactly on one line of stdout. */
void ctl_print_json(const cJSON *v);

/* {"job_id": id} */
cJSON *ctl_job_params(long job_id);

/* Parses a positive id argument ("12"), naming what in the usage error. */
int ctl_parse_id(struct ctl *c, const char *arg, const char *what, long *id);

/* Reports a usage error for verb (returns CTL_USAGE). */
int ctl_usage(struct ctl *c, const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The usage error for getopt_long's ch ('?' unknown option, ':' missing value). */
int ctl_bad_option(struct ctl *c, const char *verb, int ch, char **argv);

/* Parses a verb's one JOB argument (argv[first], the only positional left). */
int ctl_one_job(struct ctl *c, const char *verb, int argc, char **argv, int first, long *id);

/* A call about one job: params (NULL: {"job_id": job_id}) is consumed; when the
 * job does not exist, the message says how to list the jobs. */
int ctl_job_call(struct ctl *c, const char *method, long job_id, cJSON *params,
		 cJSON **result);

/* job.get; *job is the caller's. */
int ctl_get_job(struct ctl *c, long job_id, cJSON **job);

/* A table of checkpoint.list's checkpoints (ckpt.c). */
void ctl_print_checkpoints(struct ctl *c, const cJSON *list);

/* Follows a job's events to its end (watch.c): printed unless quiet; the exit
 * code is the job's outcome (0, 1, 2), or 75 when timeout_s (> 0) runs out. */
int ctl_watch_job(struct ctl *c, long job_id, int quiet, double timeout_s);

/* ---- the verbs (argv[0] is the verb's name) --------------------------------- */

int verb_submit(struct ctl *c, int argc, char **argv);
int verb_ls(struct ctl *c, int argc, char **argv);
int verb_show(struct ctl *c, int argc, char **argv);
int verb_control(struct ctl *c, int argc, char **argv); /* pause, resume, cancel, rm */
int verb_presets(struct ctl *c, int argc, char **argv);
int verb_status(struct ctl *c, int argc, char **argv);
int verb_watch(struct ctl *c, int argc, char **argv);   /* watch, wait */
int verb_logs(struct ctl *c, int argc, char **argv);
int verb_eval(struct ctl *c, int argc, char **argv);
int verb_metrics(struct ctl *c, int argc, char **argv);
int verb_ckpt(struct ctl *c, int argc, char **argv);
int verb_history(struct ctl *c, int argc, char **argv);
int verb_compare(struct ctl *c, int argc, char **argv);
int verb_plot(struct ctl *c, int argc, char **argv);

#endif
