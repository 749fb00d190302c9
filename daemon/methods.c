/*
 * methods.c — byold's JSON-RPC methods and event persistence (see methods.h).
 */
#include "methods.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "dataset.h"
#include "loader.h"

#define BYOL_VERSION "0.1.0"
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
	cJSON_AddStringToObject(r, "protocol", "byol/1");
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
	cJSON *jobs = store_job_counts(d->store, &e);
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

/* Image counts of data sets opened lately, keyed by their config and the directory's
   change time: opening Fashion-MNIST decodes it (a third of a second), which the loop
   thread should not repeat for every job.submit. Used on the loop thread only. */
#define PROBE_CACHE 8
static struct probe_entry {
	char key[4400];
	struct timespec changed;
	size_t n;
} probe_cache[PROBE_CACHE];
static int probe_next;

static struct probe_entry *probe_find(const char *key, const struct timespec *changed)
{
	for (int i = 0; i < PROBE_CACHE; i++) {
		struct probe_entry *p = &probe_cache[i];
		if (strcmp(p->key, key) == 0 && p->changed.tv_sec == changed->tv_sec &&
		    p->changed.tv_nsec == changed->tv_nsec)
			return p;
	}
	return NULL;
}

/* Open a data set to check it exists and its headers are right; its image count. */
static int probe_data(const struct spec_data *d, const char *field, size_t *n,
		      struct rpc_error *err)
{
	struct dataset_config c = { .path = d->path, .split = d->split, .limit = (size_t)d->limit,
				    .channels = d->channels, .skip_bad = d->skip_bad };
	struct dataset *ds;
	struct err e = { 0 };
	struct stat st;
	char key[4400];
	if (dataset_format_parse(d->format, &c.format) != 0)
		return rpc_error_param(err, field, "unknown format");
	snprintf(key, sizeof key, "%s|%s|%s|%ld|%d|%d", d->format, d->path,
		 d->split, (long)d->limit, d->channels, d->skip_bad);
	int known = stat(d->path, &st) == 0;
	struct probe_entry *hit = known ? probe_find(key, &st.st_ctim) : NULL;
	if (hit) {
		*n = hit->n;
		return 0;
	}
	if (dataset_open(&ds, &c, &e) != 0)
		return rpc_error_param(err, field, "%s", e.msg);
	*n = dataset_size(ds);
	dataset_free(ds);
	if (known) {
		struct probe_entry *p = &probe_cache[probe_next++ % PROBE_CACHE];
		snprintf(p->key, sizeof p->key, "%s", key);
		p->changed = st.st_ctim;
		p->n = *n;
	}
	return 0;
}

static int resolve(const cJSON *params, struct spec *s, cJSON **json, struct rpc_error *err)
{
	struct spec_input in = { .preset = rpc_param_string(params, "preset", NULL),
				 .spec = cJSON_GetObjectItemCaseSensitive(params, "spec"),
				 .set = cJSON_GetObjectItemCaseSensitive(params, "set") };
	struct spec_error se;
	if (spec_resolve(s, json, &in, &se) != 0)
		return rpc_error_param(err, se.field, "%s", se.reason);
	return 0;
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
	if (store_checkpoint_get(d->store, id, &job, path, cap, sha, &bytes, &e) != 0)
		return e.code == ERR_NOTFOUND
			       ? rpc_error_param(err, "from_checkpoint", "no checkpoint %ld", id)
			       : fail(err, &e);
	return 0;
}

static int m_submit(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	struct spec s;
	cJSON *json = NULL;
	char resume[4200], dir[4200];
	size_t n_train = 0, n_eval = 0;
	long id = 0;
	struct err e = { 0 };
	int rc = resolve(params, &s, &json, err);
	if (!rc)
		rc = probe_data(&s.data, "data.path", &n_train, err);
	if (!rc)
		rc = probe_data(&s.eval_data, "eval_data.path", &n_eval, err);
	long per_epoch = loader_steps_per_epoch(n_train, s.train.batch_size);
	if (!rc && per_epoch < 1)
		rc = rpc_error_param(err, "train.batch_size", "the data set has %zu images, fewer "
				     "than one batch", n_train);
	if (!rc)
		rc = resume_path(d, params, resume, sizeof resume, err);
	char *text = rc ? NULL : cJSON_PrintUnformatted(json);
	int paused = rpc_param_bool(params, "paused", 0);
	if (!rc && store_job_insert(d->store, s.name, text, per_epoch * s.train.epochs, paused,
				    &id, &e) != 0)
		rc = fail(err, &e);
	snprintf(dir, sizeof dir, "%s/checkpoints/%ld", d->state_dir, id);
	if (!rc && (mkdir(dir, 0750) != 0 && errno != EEXIST))
		rc = rpc_error_set(err, RPC_INTERNAL_ERROR, "%s: %s", dir, strerror(errno));
	if (!rc && scheduler_submit(d->sched, id, &s, text, dir, resume[0] ? resume : NULL, 0,
				    paused, &e) != 0)
		rc = fail(err, &e);
	free(text);
	cJSON_Delete(json);
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
	return reply(result, store_job_list(ctx_of(c)->store, rpc_param_string(params, "state", NULL),
					    rpc_param_string(params, "name", NULL),
					    (int)rpc_param_int(params, "limit", 100), &e),
		     err, &e);
}

static int m_get(struct rpc_conn *c, const cJSON *params, cJSON **result,
		 struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_job_get(ctx_of(c)->store, job_id_of(params), &e), err, &e);
}

static int m_metrics(struct rpc_conn *c, const cJSON *params, cJSON **result,
		     struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_metrics(ctx_of(c)->store, job_id_of(params),
					   (long)rpc_param_int(params, "from_step", 0),
					   (long)rpc_param_int(params, "to_step", 0),
					   (long)rpc_param_int(params, "every", 1), &e),
		     err, &e);
}

static int m_logs(struct rpc_conn *c, const cJSON *params, cJSON **result,
		  struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_logs(ctx_of(c)->store, job_id_of(params),
					(int)rpc_param_int(params, "tail", 100), &e),
		     err, &e);
}

static int m_ckpt_list(struct rpc_conn *c, const cJSON *params, cJSON **result,
		       struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_checkpoint_list(ctx_of(c)->store, job_id_of(params), &e), err,
		     &e);
}

static int m_history(struct rpc_conn *c, const cJSON *params, cJSON **result,
		     struct rpc_error *err)
{
	struct err e = { 0 };
	return reply(result, store_history_query(ctx_of(c)->store, params, &e), err, &e);
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
	if (store_checkpoint_get(d->store, id, &job, path, sizeof path, sha, &bytes, &e) != 0)
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

/* {job_id, state} of a job after a control request, which its subscribers are told. */
static int state_reply(struct daemon_ctx *d, long id, const char *state, cJSON **result,
		       struct rpc_error *err)
{
	struct err e = { 0 };
	cJSON *job = store_job_get(d->store, id, &e);
	if (!job || store_job_set_state(d->store, id, state, NULL, &e) != 0) {
		cJSON_Delete(job);
		return fail(err, &e);
	}
	const char *from = cJSON_GetObjectItem(job, "state")->valuestring;
	cJSON *ev = strcmp(from, state) ? stream_state_event(job, from, state, "request") : NULL;
	if (ev)
		stream_publish(d->streams, id, ev);
	cJSON_Delete(ev);
	cJSON_Delete(job);
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "job_id", (double)id);
	cJSON_AddStringToObject(*result, "state", state);
	return 0;
}

static int m_cancel(struct rpc_conn *c, const cJSON *params, cJSON **result,
		    struct rpc_error *err)
{
	struct err e = { 0 };
	long id = job_id_of(params);
	if (scheduler_cancel(ctx_of(c)->sched, id, &e) != 0)
		return rpc_error_set(err, RPC_BAD_STATE, "job %ld: %s", id,
				     e.code == ERR_STATE ? "already being cancelled"
							 : "not queued or running");
	/* The job's end event records the state once its worker has let go of it. */
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "job_id", (double)id);
	cJSON_AddStringToObject(*result, "state", "cancelled");
	return 0;
}

static int pause_or_resume(struct rpc_conn *c, const cJSON *params, cJSON **result,
			   struct rpc_error *err, int pause)
{
	struct err e = { 0 };
	long id = job_id_of(params);
	int running = 0;
	if (scheduler_pause(ctx_of(c)->sched, id, pause, &running, &e) != 0)
		return rpc_error_set(err, RPC_BAD_STATE, "job %ld is not queued or running", id);
	return state_reply(ctx_of(c), id, pause ? "paused" : running ? "running" : "queued",
			   result, err);
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
	if (scheduler_job_state(d->sched, id) == 1)
		return rpc_error_set(err, RPC_BAD_STATE, "job %ld is running: cancel it first", id);
	int evals = scheduler_evals_of(d->sched, id);
	if (evals > 0)
		return rpc_error_set(err, RPC_BAD_STATE,
				     "job %ld has %d evaluation%s queued or running: delete it after",
				     id, evals, evals > 1 ? "s" : "");
	cJSON *list = store_checkpoint_list(d->store, id, &e);
	if (!list)
		return fail(err, &e);
	cJSON *ck;
	cJSON_ArrayForEach(ck, cJSON_GetObjectItem(list, "checkpoints")) {
		long cid = (long)cJSON_GetObjectItem(ck, "checkpoint_id")->valuedouble, job;
		char path[4200], sha[65];
		long long bytes;
		if (store_checkpoint_get(d->store, cid, &job, path, sizeof path, sha, &bytes, &e) == 0)
			unlink(path);
	}
	cJSON_Delete(list);
	scheduler_cancel(d->sched, id, &e); /* a queued job leaves the queue */
	if (store_job_delete(d->store, id, &e) != 0)
		return fail(err, &e);
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/checkpoints/%ld", d->state_dir, id);
	rmdir(dir);
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
	long sub = stream_subscribe(mc->d->streams, mc->d->store, mc->sink, mc->client,
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

/* A job's stored spec, resolved again; *text is its JSON (malloc'd). */
static int stored_spec(const cJSON *job, struct spec *s, char **text, struct err *e)
{
	struct spec_input in = { .spec = cJSON_GetObjectItem(job, "spec") };
	struct spec_error se;
	if (!(*text = cJSON_PrintUnformatted(in.spec)))
		return err_set(e, ERR_NOMEM, "out of memory");
	if (spec_resolve(s, NULL, &in, &se) == 0)
		return 0;
	free(*text);
	*text = NULL;
	return err_set(e, ERR_INVALID, "stored spec: %s: %s", se.field, se.reason);
}

static int newest_good_checkpoint(struct daemon_ctx *d, long job_id, char *path, size_t cap,
				  long *step, long *checkpoint_id, struct err *e);

/* The checkpoint an eval reads, verified, and its job: 0, or nonzero with the
   reason in why. */
static int eval_input(struct daemon_ctx *d, long checkpoint_id, long *job, char *path,
		      size_t cap, struct err *why)
{
	char sha[65];
	long long bytes;
	*job = 0;
	if (checkpoint_id <= 0)
		return err_set(why, ERR_NOTFOUND, "its checkpoint was deleted");
	if (store_checkpoint_get(d->store, checkpoint_id, job, path, cap, sha, &bytes, why) != 0)
		return why->code;
	return checkpoint_verify(path, sha, why);
}

/* The checkpoint to evaluate: the one asked for (it must be the job's), else the newest
   intact one. */
static int eval_checkpoint(struct daemon_ctx *d, long job_id, long *cid, char *path,
			   size_t cap, struct rpc_error *err)
{
	struct err e = { 0 };
	long job, step;
	if (*cid == 0) {
		if (newest_good_checkpoint(d, job_id, path, cap, &step, cid, &e) != 0)
			return fail(err, &e);
		return path[0] ? 0
			       : rpc_error_set(err, RPC_BAD_STATE, "job %ld has no checkpoint yet",
					       job_id);
	}
	int rc = eval_input(d, *cid, &job, path, cap, &e);
	if (job != job_id)
		return rpc_error_set(err, RPC_NOT_FOUND, "job %ld has no checkpoint %ld", job_id,
				     *cid);
	return rc ? rpc_error_set(err, RPC_BAD_STATE, "checkpoint %ld: %s", *cid, e.msg) : 0;
}

static int m_eval(struct rpc_conn *c, const cJSON *params, cJSON **result,
		  struct rpc_error *err)
{
	struct daemon_ctx *d = ctx_of(c);
	struct err e = { 0 };
	long id = job_id_of(params), cid = (long)rpc_param_int(params, "checkpoint_id", 0), eval_id;
	const char *kind = rpc_param_string(params, "kind", "knn");
	char path[4200], *text = NULL;
	struct spec s;
	if (strcmp(kind, "knn") != 0 && strcmp(kind, "linear") != 0)
		return rpc_error_param(err, "kind", "must be \"knn\" or \"linear\"");
	cJSON *job = store_job_get(d->store, id, &e);
	int rc = job ? stored_spec(job, &s, &text, &e) : e.code;
	cJSON_Delete(job);
	if (rc)
		return fail(err, &e);
	if (strcmp(kind, "linear") == 0 && s.eval.linear_epochs < 1)
		rc = rpc_error_param(err, "kind", "the job's eval.linear.epochs is 0");
	if (!rc)
		rc = eval_checkpoint(d, id, &cid, path, sizeof path, err);
	if (!rc && (store_eval_insert(d->store, id, cid, kind, &eval_id, &e) != 0 ||
		    scheduler_submit_eval(d->sched, id, eval_id, &s, text, path, kind, &e) != 0))
		rc = fail(err, &e);
	free(text);
	if (rc)
		return rc;
	*result = cJSON_CreateObject();
	cJSON_AddNumberToObject(*result, "eval_id", (double)eval_id);
	return 0;
}

/* ---- the table ---------------------------------------------------------------- */

#define ID(n, req) { n, RPC_INT, req, 1, RPC_ID_MAX }

static const struct rpc_param p_none[] = { { 0 } };
static const struct rpc_param p_auth[] = { { "token", RPC_STRING, 1, 0, 256 }, { 0 } };
static const struct rpc_param p_job[] = { ID("job_id", 1), { 0 } };
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
	{ "to_step", RPC_INT, 0, 0, RPC_INT_MAX }, { "every", RPC_INT, 0, 1, 1e9 }, { 0 },
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
	ID("job_id", 1), ID("checkpoint_id", 0), { "kind", RPC_STRING, 0, 0, 16 }, { 0 },
};

static const struct rpc_method table[] = {
	{ "server.hello", m_hello, RPC_BEFORE_AUTH, p_none, 0 },
	{ "auth", m_auth, RPC_BEFORE_AUTH, p_auth, 0 },
	{ "server.status", m_status, 0, p_none, 0 },
	{ "preset.list", m_presets, 0, p_none, 0 },
	{ "job.submit", m_submit, 0, p_submit, 0 },
	{ "job.list", m_list, 0, p_list, 0 },
	{ "job.get", m_get, 0, p_job, 0 },
	{ "job.cancel", m_cancel, 0, p_job, 0 },
	{ "job.pause", m_pause, 0, p_job, 0 },
	{ "job.resume", m_resume, 0, p_job, 0 },
	{ "job.delete", m_delete, 0, p_job, 0 },
	{ "job.metrics", m_metrics, 0, p_metrics, 0 },
	{ "job.logs", m_logs, 0, p_logs, 0 },
	{ "checkpoint.list", m_ckpt_list, 0, p_job, 0 },
	{ "checkpoint.read", m_ckpt_read, 0, p_read, 0 },
	{ "history.query", m_history, 0, p_history, 0 },
	{ "job.subscribe", m_subscribe, 0, p_subscribe, 0 },
	{ "job.unsubscribe", m_unsubscribe, 0, p_unsubscribe, 0 },
	{ "job.eval", m_eval, 0, p_eval, 0 },
};

const struct rpc_method *methods_table(size_t *n)
{
	*n = sizeof table / sizeof table[0];
	return table;
}

/* ---- persisting events ---------------------------------------------------------- */

static double num(const cJSON *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int apply_end(struct daemon_ctx *d, long job_id, cJSON *ev, struct err *e)
{
	/* A job stopped by the daemon's shutdown is requeued at the next start. */
	if (strcmp(str(ev, "state"), "stopped") == 0)
		cJSON_ReplaceItemInObject(ev, "state", cJSON_CreateString("interrupted"));
	const char *state = str(ev, "state");
	int rc = store_job_set_state(d->store, job_id, state, str(ev, "error"), e);
	if (!rc && num(ev, "step") > 0)
		rc = store_job_progress(d->store, job_id, (long)num(ev, "step"), e);
	if (!rc && strcmp(state, "completed") == 0)
		rc = store_job_final(d->store, job_id, num(ev, "top1"), num(ev, "top5"),
				     num(ev, "knn_top1"), num(ev, "final_loss"), e);
	return rc;
}

/* Drop the index row of a checkpoint file the engine removed (keep_last). */
static int forget_checkpoint(struct daemon_ctx *d, long job_id, const char *removed,
			     struct err *e)
{
	cJSON *list = store_checkpoint_list(d->store, job_id, e), *ck;
	if (!list)
		return e->code;
	int rc = 0;
	cJSON_ArrayForEach(ck, cJSON_GetObjectItem(list, "checkpoints")) {
		long cid = (long)cJSON_GetObjectItem(ck, "checkpoint_id")->valuedouble, job;
		char path[4200];
		if (store_checkpoint_get(d->store, cid, &job, path, sizeof path, NULL, NULL, e) == 0 &&
		    strcmp(path, removed) == 0)
			rc = store_checkpoint_delete(d->store, cid, e);
	}
	cJSON_Delete(list);
	return rc;
}

/* A requested evaluation's result (ev carries its eval_id), or a monitor's new row. */
static int apply_eval(struct daemon_ctx *d, long job_id, cJSON *ev, struct err *e)
{
	long id = (long)num(ev, "eval_id");
	if (id > 0 && str(ev, "error")) {
		int rc = store_eval_failed(d->store, id, e);
		return rc ? rc : store_log(d->store, job_id, "error", str(ev, "error"), e);
	}
	int rc = id > 0 ? 0 : store_eval_insert(d->store, job_id, 0, str(ev, "kind"), &id, e);
	if (!rc && num(ev, "eval_id") != id)
		cJSON_AddNumberToObject(ev, "eval_id", (double)id);
	return rc ? rc : store_eval_done(d->store, id, (long)num(ev, "step"), num(ev, "top1"),
					 num(ev, "top5"), e);
}

int methods_apply_event(struct daemon_ctx *d, long job_id, cJSON *ev, struct err *e)
{
	const char *type = str(ev, "event");
	long step = (long)num(ev, "step");
	if (!type)
		return err_set(e, ERR_INVALID, "event without a type");
	if (strcmp(type, "step") == 0) {
		int rc = store_metric_insert(d->store, job_id, ev, e);
		return rc ? rc : store_job_progress(d->store, job_id, step, e);
	}
	if (strcmp(type, "checkpoint") == 0) {
		long id;
		int rc = store_checkpoint_insert(d->store, job_id, step, (int)num(ev, "epoch"),
						 str(ev, "path"), (long long)num(ev, "bytes"),
						 str(ev, "sha256"), &id, e);
		if (!rc)
			cJSON_AddNumberToObject(ev, "checkpoint_id", (double)id);
		if (!rc && str(ev, "removed"))
			rc = forget_checkpoint(d, job_id, str(ev, "removed"), e);
		return rc;
	}
	if (strcmp(type, "eval") == 0)
		return apply_eval(d, job_id, ev, e);
	if (strcmp(type, "log") == 0)
		return store_log(d->store, job_id, str(ev, "level"), str(ev, "message"), e);
	if (strcmp(type, "state") == 0)
		return store_job_set_state(d->store, job_id, str(ev, "to"), NULL, e);
	if (strcmp(type, "end") == 0)
		return apply_end(d, job_id, ev, e);
	return 0; /* epoch summaries are streamed, not stored */
}

/* ---- recovery at start-up ------------------------------------------------------ */

/* The newest checkpoint of a job whose file still has its indexed sha256 (path empty
   if none); damaged ones are dropped from the index and logged. */
static int newest_good_checkpoint(struct daemon_ctx *d, long job_id, char *path, size_t cap,
				  long *step, long *checkpoint_id, struct err *e)
{
	cJSON *list = store_checkpoint_list(d->store, job_id, e);
	if (!list)
		return e->code;
	path[0] = 0;
	*step = *checkpoint_id = 0;
	const cJSON *arr = cJSON_GetObjectItem(list, "checkpoints"), *ck;
	long best = -1;
	cJSON_ArrayForEach(ck, arr) {
		long cid = (long)cJSON_GetObjectItem(ck, "checkpoint_id")->valuedouble, job;
		long s = (long)cJSON_GetObjectItem(ck, "step")->valuedouble;
		char p[4200], sha[65];
		long long bytes;
		struct err ve = { 0 };
		if (s <= best || store_checkpoint_get(d->store, cid, &job, p, sizeof p, sha, &bytes,
						       e) != 0)
			continue;
		if (checkpoint_verify(p, sha, &ve) != 0) {
			store_log(d->store, job_id, "warning", ve.msg, e);
			store_checkpoint_delete(d->store, cid, e);
			continue;
		}
		best = s;
		*checkpoint_id = cid;
		snprintf(path, cap, "%s", p);
	}
	cJSON_Delete(list);
	*step = best < 0 ? 0 : best;
	return 0;
}

/* Requeue one interrupted job from its newest verified checkpoint. */
static int requeue(struct daemon_ctx *d, long job_id, int paused, struct err *e)
{
	char path[4200], dir[4200], msg[4400], *text = NULL;
	long step = 0, cid;
	struct spec s;
	cJSON *job = store_job_get(d->store, job_id, e);
	if (!job)
		return e->code;
	int rc = newest_good_checkpoint(d, job_id, path, sizeof path, &step, &cid, e);
	if (!rc)
		rc = stored_spec(job, &s, &text, e);
	if (!rc)
		rc = store_metrics_truncate(d->store, job_id, step, e);
	if (!rc)
		rc = store_job_set_state(d->store, job_id, paused ? "paused" : "queued", NULL, e);
	snprintf(dir, sizeof dir, "%s/checkpoints/%ld", d->state_dir, job_id);
	if (!rc)
		rc = scheduler_submit(d->sched, job_id, &s, text, dir, path[0] ? path : NULL, 0,
				      paused, e);
	snprintf(msg, sizeof msg, "interrupted; resuming from %s", path[0] ? path : "the start");
	if (!rc)
		store_log(d->store, job_id, "info", msg, e);
	free(text);
	cJSON_Delete(job);
	return rc;
}

/* Queue again an eval the daemon stopped under; one whose checkpoint or spec is no
   longer usable is marked failed, with the reason in the job's log. */
static int requeue_eval(struct daemon_ctx *d, const cJSON *ev, struct err *e)
{
	long eval_id = (long)num(ev, "eval_id"), job_id = (long)num(ev, "job_id"), owner;
	double cid = num(ev, "checkpoint_id");
	char path[4200], msg[600], *text = NULL;
	struct spec s;
	struct err why = { 0 };
	int rc = eval_input(d, isfinite(cid) ? (long)cid : 0, &owner, path, sizeof path, &why);
	cJSON *job = rc ? NULL : store_job_get(d->store, job_id, &why);
	if (!rc && !job)
		rc = why.code;
	if (!rc)
		rc = stored_spec(job, &s, &text, &why);
	cJSON_Delete(job);
	if (rc) {
		snprintf(msg, sizeof msg, "eval %ld not resumed: %s", eval_id, why.msg);
		rc = store_log(d->store, job_id, "warning", msg, e);
		return rc ? rc : store_eval_failed(d->store, eval_id, e);
	}
	rc = scheduler_submit_eval(d->sched, job_id, eval_id, &s, text, path, str(ev, "kind"), e);
	free(text);
	snprintf(msg, sizeof msg, "eval %ld interrupted; queued again", eval_id);
	return rc ? rc : store_log(d->store, job_id, "info", msg, e);
}

static int requeue_evals(struct daemon_ctx *d, struct err *e)
{
	cJSON *list = store_evals_pending(d->store, e), *ev;
	if (!list)
		return e->code;
	int rc = 0;
	cJSON_ArrayForEach(ev, cJSON_GetObjectItem(list, "evals")) {
		if ((rc = requeue_eval(d, ev, e)) != 0)
			break;
	}
	cJSON_Delete(list);
	return rc;
}

int methods_recover(struct daemon_ctx *d, int *requeued, struct err *e)
{
	/* Found running or paused: the daemon died under them. Every list is read
	   before any job changes state, so none is requeued twice. */
	static const char *const states[] = { "running", "paused", "interrupted", "queued" };
	enum { N_STATES = sizeof states / sizeof states[0] };
	long *ids[N_STATES] = { 0 };
	int n[N_STATES] = { 0 }, rc = 0;
	*requeued = 0;
	for (int k = 0; k < N_STATES && !rc; k++)
		rc = store_jobs_in_state(d->store, states[k], &ids[k], &n[k], e);
	for (int k = 0; k < N_STATES && !rc; k++) {
		for (int i = 0; i < n[k] && !rc; i++) {
			if (k < 2)
				rc = store_job_set_state(d->store, ids[k][i], "interrupted", NULL, e);
			if (!rc)
				rc = requeue(d, ids[k][i], k == 1, e);
			*requeued += !rc;
		}
	}
	for (int k = 0; k < N_STATES; k++)
		free(ids[k]);
	return rc ? rc : requeue_evals(d, e);
}
