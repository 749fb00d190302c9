/*
 * methods.c — byold's JSON-RPC methods and event persistence (see methods.h).
 */
#include "server/methods.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "engine/launch.h"
#include "jobs/checkpoints.h"
#include "version.h"

#define READ_MAX 524288

static struct daemon_ctx *ctx_of(struct rpc_conn *c)
{
	return ((struct methods_conn *)c->user)->d;
}

/* A store or scheduler failure as a JSON-RPC error. */
static int fail(struct rpc_error *err, const struct err *e)
{
	return rpc_error_from_err(err, e);
}

static int reply(cJSON **result, cJSON *value, struct rpc_error *err, const struct err *e)
{
	if (!value)
		return fail(err, e);
	*result = value;
	return 0;
}

/* ---- server ---------------------------------------------------------------- */

static int m_hello(struct rpc_conn *c, const cJSON *params, cJSON **result,
		   struct rpc_error *err)
{
	(void)c, (void)params, (void)err;
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "protocol", BYOL_PROTOCOL);
	cJSON_AddStringToObject(r, "version", BYOL_VERSION);
	cJSON *caps = cJSON_AddArrayToObject(r, "capabilities");
	cJSON_AddItemToArray(caps, cJSON_CreateString("presets"));
	cJSON_AddItemToArray(caps, cJSON_CreateString("history"));
	cJSON_AddItemToArray(caps, cJSON_CreateString("subscribe"));
	cJSON_AddItemToArray(caps, cJSON_CreateString("eval"));
	*result = r;
	return 0;
}

static int m_status(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	(void)params;
	struct daemon_ctx *d = ctx_of(c);
	struct err e = { 0 };
	cJSON *jobs = store_job_counts(d->jobs.store, &e);
	if (!jobs)
		return fail(err, &e);
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "version", BYOL_VERSION);
	cJSON_AddNumberToObject(r, "uptime_s", (double)(time(NULL) - d->started));
	cJSON_AddNumberToObject(r, "workers", d->workers);
	cJSON_AddNumberToObject(r, "subscriptions", stream_count(d->streams));
	cJSON_AddItemToObject(r, "jobs", jobs);
	*result = r;
	return 0;
}

static int m_auth(struct rpc_conn *c, const cJSON *params, cJSON **result,
		  struct rpc_error *err)
{
	int rc = rpc_auth_check(c, ctx_of(c)->token, rpc_param_string(params, "token", ""), err);
	if (rc)
		return rc;
	*result = cJSON_CreateObject();
	cJSON_AddBoolToObject(*result, "ok", 1);
	return 0;
}

static int m_presets(struct rpc_conn *c, const cJSON *params, cJSON **result,
		     struct rpc_error *err)
{
	(void)c, (void)params;
	cJSON *list = spec_preset_list_json();
	if (!list)
		return rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	*result = cJSON_CreateObject();
	cJSON_AddItemToObject(*result, "presets", list);
	return 0;
}

/* ---- job.submit ------------------------------------------------------------ */

/* A data set's headers and sizes, never its pixels: the loader decodes them on the
   job's worker, under its memory cap. */
static int probe_data(const struct spec_data *d, const char *field, size_t *n,
		      struct rpc_error *err)
{
	struct dataset_config c;
	struct err e = { 0 };
	if (dataset_config_of(&c, d) != 0)
		return rpc_error_param(err, field, "unknown format");
	if (dataset_probe(&c, n, &e) == 0)
		return 0;
	size_t root = strlen(d->path);
	if (!d->skip_bad && e.code == ERR_INVALID && strncmp(e.msg, d->path, root) == 0 &&
	    e.msg[root] == '/') { /* one file of the set: on_error decides, not the path */
		char on_error[64];
		snprintf(on_error, sizeof on_error, "%.*s.on_error", (int)(strlen(field) - 5), field);
		return rpc_error_param(err, on_error, "%s (\"skip\" leaves such files out)", e.msg);
	}
	return rpc_error_param(err, field, "%s", e.msg);
}

/* What job.submit's prepare step makes off the loop: the resolved spec and the
   training set's image count. */
struct submit_prep {
	struct spec s;
	char *text;     /* the resolved spec, compact JSON */
	long per_epoch; /* steps per epoch */
};

static void submit_release(void *prepared)
{
	struct submit_prep *p = prepared;
	free(p->text);
	free(p);
}

static int submit_prepare(const cJSON *params, void **prepared, struct rpc_error *err)
{
	struct submit_prep *p = calloc(1, sizeof *p);
	struct spec_input in = { .preset = rpc_param_string(params, "preset", NULL),
				 .spec = cJSON_GetObjectItemCaseSensitive(params, "spec"),
				 .set = cJSON_GetObjectItemCaseSensitive(params, "set") };
	struct spec_error se;
	cJSON *json = NULL;
	size_t n_train = 0, n_eval = 0;
	int rc;
	if (!p)
		return rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	*prepared = p;
	if (spec_resolve(&p->s, &json, &in, &se) != 0)
		return rpc_error_param(err, se.field, "%s", se.reason);
	struct err le = { 0 };
	if (p->s.distributed.ranks > 1 && launch_check(&p->s, &le)) {
		cJSON_Delete(json);
		return rpc_error_param(err, "distributed", "%s", le.msg);
	}
	rc = probe_data(&p->s.data, "data.path", &n_train, err);
	if (!rc)
		rc = probe_data(&p->s.eval_data, "eval_data.path", &n_eval, err);
	p->per_epoch = loader_steps_per_epoch(n_train, p->s.train.batch_size);
	if (!rc && p->per_epoch < 1)
		rc = rpc_error_param(err, "train.batch_size", "the data set has %zu images, fewer "
				     "than one batch", n_train);
	if (!rc && !(p->text = cJSON_PrintUnformatted(json)))
		rc = rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	cJSON_Delete(json);
	return rc;
}

/* The checkpoint a job resumes from: an id in the index, never a path. */
static int resume_path(struct daemon_ctx *d, const cJSON *params, char *path, size_t cap,
		       struct rpc_error *err)
{
	long id = (long)rpc_param_int(params, "from_checkpoint", 0);
	long job;
	char sha[65];
	long long bytes;
	struct err e = { 0 };
	path[0] = 0;
	if (id == 0)
		return 0;
	if (store_checkpoint_get(d->jobs.store, id, &job, path, cap, sha, &bytes, &e) != 0)
		return e.code == ERR_NOTFOUND
			       ? rpc_error_param(err, "from_checkpoint", "no checkpoint %ld", id)
			       : fail(err, &e);
	return 0;
}

static int m_submit(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	struct submit_prep *p = c->prepared;
	char resume[4200], dir[4200];
	long id = 0;
	int queued, running;
	struct err e = { 0 };
	scheduler_counts(d->jobs.sched, &queued, &running);
	if (queued >= d->max_queued)
		return rpc_error_set(err, RPC_BUSY, "%d jobs are waiting, the limit (max_queued); "
				     "submit again when one has started", queued);
	int rc = resume_path(d, params, resume, sizeof resume, err);
	int paused = rpc_param_bool(params, "paused", 0);
	if (!rc && store_job_insert(d->jobs.store, p->s.name, p->text, p->per_epoch * p->s.train.epochs,
				    paused, &id, &e) != 0)
		rc = fail(err, &e);
	if (!rc && (jobs_checkpoint_dir(&d->jobs, id, dir, sizeof dir, &e) != 0 ||
		    scheduler_submit(d->jobs.sched, id, &p->s, p->text, dir,
				     resume[0] ? resume : NULL, 0, paused, &e) != 0)) {
		rc = fail(err, &e);
		store_job_delete(d->jobs.store, id, &e); /* no row without a job behind it */
	}
	if (rc)
		return rc;
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "job_id", (double)id);
	return 0;
}

/* ---- reading jobs ----------------------------------------------------------- */

static long job_id_of(const cJSON *params)
{
	return (long)rpc_param_int(params, "job_id", 0);
}

static int m_list(struct rpc_conn *c, const cJSON *params, cJSON **result,
		  struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_job_list(ctx_of(c)->jobs.store, rpc_param_string(params, "state", NULL),
					    rpc_param_string(params, "name", NULL),
					    (int)rpc_param_int(params, "limit", 100), &e),
		     err, &e);
}

static int m_get(struct rpc_conn *c, const cJSON *params, cJSON **result,
		 struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_job_get(ctx_of(c)->jobs.store, job_id_of(params), &e), err, &e);
}

static int m_metrics(struct rpc_conn *c, const cJSON *params, cJSON **result,
		     struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_metrics(ctx_of(c)->jobs.store, job_id_of(params),
					   (long)rpc_param_int(params, "from_step", 0),
					   (long)rpc_param_int(params, "to_step", 0),
					   (long)rpc_param_int(params, "every", 1),
					   (long)rpc_param_int(params, "max_points", 0), &e),
		     err, &e);
}

static int m_logs(struct rpc_conn *c, const cJSON *params, cJSON **result,
		  struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_logs(ctx_of(c)->jobs.store, job_id_of(params),
					(int)rpc_param_int(params, "tail", 100), &e),
		     err, &e);
}

static int m_ckpt_list(struct rpc_conn *c, const cJSON *params, cJSON **result,
		       struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_checkpoint_list(ctx_of(c)->jobs.store, job_id_of(params), &e), err,
		     &e);
}

/* history.query's checks say "field: reason": as a −32602 with data {field, reason}. */
static int m_history(struct rpc_conn *c, const cJSON *params, cJSON **result,
		     struct rpc_error *err)
{
	struct err e = { 0 };
	cJSON *runs = store_history_query(ctx_of(c)->jobs.store, params, &e);
	const char *colon = strstr(e.msg, ": ");
	if (runs || e.code != ERR_INVALID || !colon)
		return reply(result, runs, err, &e);
	char field[128];
	snprintf(field, sizeof field, "%.*s", (int)(colon - e.msg), e.msg);
	return rpc_error_param(err, field, "%s", colon + 2);
}

/* ---- checkpoint.read: only files the index knows, in bounded chunks ---------- */

static char *base64(const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = 0;
	return out;
}

/* path opened for reading if it is a regular file itself, not a symlink to one. */
static FILE *open_regular(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	FILE *f = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "rb") : NULL;
	if (!f)
		close(fd);
	return f;
}

static int m_ckpt_read(struct rpc_conn *c, const cJSON *params, cJSON **result,
		       struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	long id = (long)rpc_param_int(params, "checkpoint_id", 0), job;
	long long offset = rpc_param_int(params, "offset", 0), bytes;
	size_t want = (size_t)rpc_param_int(params, "length", READ_MAX);
	char path[4200], sha[65];
	struct err e = { 0 };
	if (store_checkpoint_get(d->jobs.store, id, &job, path, sizeof path, sha, &bytes, &e) != 0)
		return fail(err, &e);
	FILE *f = open_regular(path);
	if (!f)
		return rpc_error_set(err, RPC_NOT_FOUND,
				     "checkpoint %ld: file is gone or not a regular file", id);
	if (offset > bytes)
		offset = bytes;
	if ((long long)want > bytes - offset)
		want = (size_t)(bytes - offset);
	unsigned char *buf = malloc(want + 1);
	size_t got = buf && fseek(f, (long)offset, SEEK_SET) == 0 ? fread(buf, 1, want, f) : 0;
	fclose(f);
	char *data = buf ? base64(buf, got) : NULL;
	free(buf);
	if (!data)
		return rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "data", data);
	cJSON_AddNumberToObject(r, "offset", (double)offset);
	cJSON_AddNumberToObject(r, "total", (double)bytes);
	cJSON_AddStringToObject(r, "sha256", sha);
	free(data);
	*result = r;
	return 0;
}

/* ---- control ---------------------------------------------------------------- */

/* {job_id, state}: the state a control request leads to. The scheduler's state event
   records it and tells subscribers, in order with the job's other events. */
static int state_result(long id, const char *state, cJSON **result)
{
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "job_id", (double)id);
	cJSON_AddStringToObject(*result, "state", state);
	return 0;
}

/* A control request for a job the scheduler does not hold: unknown, or finished. */
static int not_held(struct daemon_ctx *d, long id, const char *what, struct rpc_error *err)
{
	struct err e = { 0 };
	char state[16];
	if (store_job_state(d->jobs.store, id, state, sizeof state, &e) != 0)
		return fail(err, &e);
	return rpc_error_set(err, RPC_BAD_STATE, "job %ld is %s: only a queued, running or "
			     "paused job can be %s", id, state, what);
}

/* job.cancel with eval_id: that evaluation of the job, queued or running. */
static int cancel_eval(struct rpc_conn *c, long id, long eval_id, cJSON **result,
		       struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	struct err e = { 0 };
	if (scheduler_cancel_eval(d->jobs.sched, id, eval_id, &e) != 0)
		return e.code == ERR_BAD_STATE ? rpc_error_set(err, RPC_BAD_STATE, "%s", e.msg)
					   : rpc_error_set(err, RPC_NOT_FOUND, "%s", e.msg);
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "job_id", (double)id);
	cJSON_AddNumberToObject(*result, "eval_id", (double)eval_id);
	cJSON_AddStringToObject(*result, "state", "cancelled");
	return 0;
}

static int m_cancel(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	struct err e = { 0 };
	long id = job_id_of(params), eval_id = (long)rpc_param_int(params, "eval_id", 0);
	if (eval_id)
		return cancel_eval(c, id, eval_id, result, err);
	if (scheduler_cancel(ctx_of(c)->jobs.sched, id, &e) != 0)
		return e.code == ERR_BAD_STATE
			       ? rpc_error_set(err, RPC_BAD_STATE, "job %ld is already being "
					       "cancelled", id)
			       : not_held(ctx_of(c), id, "cancelled", err);
	/* The job's end event records the state once its worker has let go of it. */
	return state_result(id, "cancelled", result);
}

static int pause_or_resume(struct rpc_conn *c, const cJSON *params, cJSON **result,
			   struct rpc_error *err, int pause)
{
	struct daemon_ctx *d = ctx_of(c);
	struct err e = { 0 };
	long id = job_id_of(params);
	int before = scheduler_job_state(d->jobs.sched, id);
	if (scheduler_pause(d->jobs.sched, id, pause, &e) != 0)
		return e.code == ERR_BAD_STATE ? rpc_error_set(err, RPC_BAD_STATE, "job %ld: %s", id, e.msg)
					   : not_held(d, id, pause ? "paused" : "resumed", err);
	return state_result(id, pause ? "paused" : before == 1 ? "running" : "queued", result);
}

static int m_pause(struct rpc_conn *c, const cJSON *params, cJSON **result,
		   struct rpc_error *err)
{
	return pause_or_resume(c, params, result, err, 1);
}

static int m_resume(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	return pause_or_resume(c, params, result, err, 0);
}

static int m_delete(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	struct err e = { 0 };
	long id = job_id_of(params);
	if (scheduler_job_state(d->jobs.sched, id) == 1)
		return rpc_error_set(err, RPC_BAD_STATE, "job %ld is running: cancel it first", id);
	int evals = scheduler_evals_of(d->jobs.sched, id);
	if (evals > 0)
		return rpc_error_set(err, RPC_BAD_STATE,
				     "job %ld has %d evaluation%s queued or running: delete it after",
				     id, evals, evals > 1 ? "s" : "");
	/* Out of the scheduler first (it may have started the job just now), then the row,
	   then the files the row indexed. */
	if (scheduler_remove(d->jobs.sched, id, &e) != 0)
		return rpc_error_set(err, RPC_BAD_STATE, "job %ld is running: cancel it first", id);
	if (jobs_job_delete(&d->jobs, id, &e) != 0)
		return fail(err, &e);
	*result = cJSON_CreateObject();
	cJSON_AddBoolToObject(*result, "ok", 1);
	return 0;
}

/* ---- streaming ---------------------------------------------------------------- */

static int m_subscribe(struct rpc_conn *c, const cJSON *params, cJSON **result,
		       struct rpc_error *err)
{
	struct methods_conn *mc = c->user;
	struct err e = { 0 };
	long sub = stream_subscribe(mc->d->streams, mc->d->jobs.store, mc->sink, mc->client,
				    job_id_of(params), (long)rpc_param_int(params, "since_step", 0),
				    &e);
	if (sub < 0)
		return fail(err, &e);
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "subscription", (double)sub);
	return 0;
}

static int m_unsubscribe(struct rpc_conn *c, const cJSON *params, cJSON **result,
			 struct rpc_error *err)
{
	struct methods_conn *mc = c->user;
	struct err e = { 0 };
	if (stream_unsubscribe(mc->d->streams, mc->client,
			       (long)rpc_param_int(params, "subscription", 0), &e) != 0)
		return fail(err, &e);
	*result = cJSON_CreateObject();
	cJSON_AddBoolToObject(*result, "ok", 1);
	return 0;
}

/* ---- job.eval --------------------------------------------------------------------- */

/* The checkpoint an eval reads (its worker verifies the sha256 before reading it):
   the one asked for, which must be the job's, else the job's newest. */
static int eval_checkpoint(struct daemon_ctx *d, long job_id, long *cid, char *path,
			   size_t cap, char sha[65], struct rpc_error *err)
{
	struct err e = { 0 };
	struct store_checkpoint *rows;
	long job;
	long long bytes;
	int n;
	if (*cid == 0) {
		if (store_checkpoints_of(d->jobs.store, job_id, &rows, &n, &e) != 0)
			return fail(err, &e);
		*cid = n ? rows[0].checkpoint_id : 0;
		free(rows);
	}
	if (*cid == 0)
		return rpc_error_set(err, RPC_BAD_STATE, "job %ld has no checkpoint yet", job_id);
	if (store_checkpoint_get(d->jobs.store, *cid, &job, path, cap, sha, &bytes, &e) != 0 ||
	    job != job_id)
		return rpc_error_set(err, RPC_NOT_FOUND, "job %ld has no checkpoint %ld", job_id,
				     *cid);
	return 0;
}

/* The request's data set, as far as the loop may look: its directory exists (the worker
   opens and checks the rest, and an eval that cannot read it fails naming why). */
static int check_eval_data(const struct eval_request *r, const struct spec *s,
			   struct rpc_error *err)
{
	struct stat st;
	const char *field = r->kind == EVAL_EMBED ? "data.path" : "eval_data.path";
	if (r->transfer && (stat(s->eval_data.path, &st) != 0 || !S_ISDIR(st.st_mode)))
		return rpc_error_param(err, field, "%s: no such directory", s->eval_data.path);
	return 0;
}

/* What an eval request says in the job's log. */
static void eval_log_line(struct daemon_ctx *d, long id, const struct eval_request *r,
			  const struct spec *s, long cid, const char *path)
{
	static const char *const what[EVAL_KINDS] = {
		"a kNN evaluation", "a linear probe", "a kNN sweep", "fine-tuning", "embeddings",
	};
	char line[9000], labels[64] = "", from[4300];
	struct err e = { 0 };
	if (r->kind == EVAL_FINETUNE) {
		labels[0] = ' ';
		eval_labels_text(r->labels, labels + 1, sizeof labels - 1);
	}
	if (r->from_random)
		snprintf(from, sizeof from, "the random initialisation");
	else
		snprintf(from, sizeof from, "checkpoint %ld (%s)", cid, path);
	snprintf(line, sizeof line, "%s%s requested on %s, data %s:%s; it waits for a worker",
		 what[r->kind], labels, from, s->eval_data.path, s->eval_data.split);
	store_log(d->jobs.store, id, "info", line, &e); /* (the evaluation runs whatever this says) */
}

/* job.eval and job.embed: check the request, record it, queue it. */
static int queue_eval(struct rpc_conn *c, const cJSON *params, int embed, cJSON **result,
		      struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	struct err e = { 0 };
	long id = job_id_of(params), cid = (long)rpc_param_int(params, "checkpoint_id", 0), eval_id;
	char path[4200] = "", sha[65] = "", *job_text = NULL, *text = NULL, *req_text = NULL;
	struct spec s;
	struct eval_request r;
	struct spec_error se;
	int rc = jobs_spec(&d->jobs, id, &s, &job_text, &e);
	if (rc)
		return fail(err, &e);
	if (eval_request_parse(&r, &s, &text, params, job_text, embed, &se) != 0)
		rc = rpc_error_param(err, se.field, "%s", se.reason);
	if (!rc && r.kind == EVAL_LINEAR && s.eval.linear_epochs < 1)
		rc = rpc_error_param(err, "kind", "the job's eval.linear.epochs is 0");
	if (!rc)
		rc = check_eval_data(&r, &s, err);
	if (!rc && r.from_random && cid)
		rc = rpc_error_param(err, "checkpoint_id", "an evaluation from the random "
				     "initialisation reads no checkpoint");
	if (!rc && !r.from_random)
		rc = eval_checkpoint(d, id, &cid, path, sizeof path, sha, err);
	cJSON *req = rc ? NULL : eval_request_json(&r, text);
	if (!rc && (!req || !(req_text = cJSON_PrintUnformatted(req))))
		rc = rpc_error_set(err, RPC_INTERNAL_ERROR, "out of memory");
	if (!rc && (store_eval_insert(d->jobs.store, id, cid, eval_kind_name(r.kind), req_text,
				      &eval_id, &e) != 0 ||
		    jobs_eval_queue(&d->jobs, id, eval_id, &r, &s, text, path[0] ? path : NULL, sha,
				    &e) != 0))
		rc = fail(err, &e);
	if (!rc)
		eval_log_line(d, id, &r, &s, cid, path);
	cJSON_Delete(req);
	free(req_text);
	free(text);
	free(job_text);
	if (rc)
		return rc;
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "eval_id", (double)eval_id);
	return 0;
}

static int m_eval(struct rpc_conn *c, const cJSON *params, cJSON **result,
		  struct rpc_error *err)
{
	return queue_eval(c, params, 0, result, err);
}

/* ---- the table ---------------------------------------------------------------- */

#define ID(n, req) { n, RPC_INT, req, 1, RPC_ID_MAX }

static const struct rpc_param p_none[] = { { 0 } };
static const struct rpc_param p_auth[] = { { "token", RPC_STRING, 1, 0, 256 }, { 0 } };
static const struct rpc_param p_job[] = { ID("job_id", 1), { 0 } };
static const struct rpc_param p_cancel[] = { ID("job_id", 1), ID("eval_id", 0), { 0 } };
static const struct rpc_param p_submit[] = {
	{ "spec", RPC_OBJECT, 0, 0, 0 }, { "preset", RPC_STRING, 0, 0, 128 },
	{ "set", RPC_OBJECT, 0, 0, 0 }, { "paused", RPC_BOOL, 0, 0, 0 },
	ID("from_checkpoint", 0), { 0 },
};
static const struct rpc_param p_list[] = {
	{ "state", RPC_STRING, 0, 0, 32 }, { "name", RPC_STRING, 0, 0, 128 },
	{ "limit", RPC_INT, 0, 1, 10000 }, { 0 },
};
static const struct rpc_param p_metrics[] = {
	ID("job_id", 1), { "from_step", RPC_INT, 0, 0, RPC_INT_MAX },
	{ "to_step", RPC_INT, 0, 0, RPC_INT_MAX }, { "every", RPC_INT, 0, 1, 1e9 },
	{ "max_points", RPC_INT, 0, 2, 1e6 }, { 0 },
};
static const struct rpc_param p_logs[] = { ID("job_id", 1), { "tail", RPC_INT, 0, 1, 100000 },
					   { 0 } };
static const struct rpc_param p_read[] = {
	ID("checkpoint_id", 1), { "offset", RPC_INT, 1, 0, RPC_INT_MAX },
	{ "length", RPC_INT, 1, 1, READ_MAX }, { 0 },
};
static const struct rpc_param p_history[] = {
	{ "name", RPC_STRING, 0, 0, 128 }, { "state", RPC_STRING, 0, 0, 32 },
	{ "since", RPC_STRING, 0, 0, 64 }, { "until", RPC_STRING, 0, 0, 64 },
	{ "spec", RPC_OBJECT, 0, 0, 0 }, { "metric", RPC_OBJECT, 0, 0, 0 },
	{ "order_by", RPC_STRING, 0, 0, 32 }, { "limit", RPC_INT, 0, 1, 10000 }, { 0 },
};

static const struct rpc_param p_subscribe[] = {
	ID("job_id", 1), { "since_step", RPC_INT, 0, 0, RPC_INT_MAX }, { 0 },
};
static const struct rpc_param p_unsubscribe[] = { ID("subscription", 1), { 0 } };
static const struct rpc_param p_eval[] = {
	ID("job_id", 1), ID("checkpoint_id", 0), { "kind", RPC_STRING, 0, 0, 16 },
	{ "labels", RPC_NUMBER, 0, 0, 1e9 }, { "from", RPC_STRING, 0, 0, 16 },
	{ "seed", RPC_INT, 0, 0, 999999999999999.0 }, { "eval_data", RPC_OBJECT, 0, 0, 0 }, { 0 },
};

static const struct rpc_method table[] = {
	{ "server.hello", m_hello, RPC_BEFORE_AUTH, p_none, 0, NULL, NULL },
	{ "auth", m_auth, RPC_BEFORE_AUTH, p_auth, 0, NULL, NULL },
	{ "server.status", m_status, 0, p_none, 0, NULL, NULL },
	{ "preset.list", m_presets, 0, p_none, 0, NULL, NULL },
	{ "job.submit", m_submit, 0, p_submit, 0, submit_prepare, submit_release },
	{ "job.list", m_list, 0, p_list, 0, NULL, NULL },
	{ "job.get", m_get, 0, p_job, 0, NULL, NULL },
	{ "job.cancel", m_cancel, 0, p_cancel, 0, NULL, NULL },
	{ "job.pause", m_pause, 0, p_job, 0, NULL, NULL },
	{ "job.resume", m_resume, 0, p_job, 0, NULL, NULL },
	{ "job.delete", m_delete, 0, p_job, 0, NULL, NULL },
	{ "job.metrics", m_metrics, 0, p_metrics, 0, NULL, NULL },
	{ "job.logs", m_logs, 0, p_logs, 0, NULL, NULL },
	{ "checkpoint.list", m_ckpt_list, 0, p_job, 0, NULL, NULL },
	{ "checkpoint.read", m_ckpt_read, 0, p_read, 0, NULL, NULL },
	{ "history.query", m_history, 0, p_history, 0, NULL, NULL },
	{ "job.subscribe", m_subscribe, 0, p_subscribe, 0, NULL, NULL },
	{ "job.unsubscribe", m_unsubscribe, 0, p_unsubscribe, 0, NULL, NULL },
	{ "job.eval", m_eval, 0, p_eval, 0, NULL, NULL },
};

const struct rpc_method *methods_table(size_t *n)
{
	*n = sizeof table / sizeof table[0];
	return table;
}
