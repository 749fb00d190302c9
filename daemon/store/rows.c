/*
 * store/rows.c — the store's rows: jobs, metrics, checkpoints, evals and logs
 * written, and their typed reads (see store.h).
 */
#define STORE_INTERNAL
#include "store/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- jobs ------------------------------------------------------------------- */

int store_job_insert(struct store *s, const char *name, const char *spec_json, long total_steps,
		     int paused, long *job_id, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_INSERT];
	if (!name || !spec_json)
		return err_set(e, ERR_INVALID, "%s: missing", name ? "spec" : "name");
	if (total_steps < 0)
		return err_set(e, ERR_INVALID, "total_steps: negative");
	int rc = store_bind_text(st, ":name", name) |
		 store_bind_text(st, ":state", paused ? "paused" : "queued") |
		 store_bind_text(st, ":spec", spec_json) |
		 store_bind_int(st, ":total_steps", total_steps);
	int r = store_run(s, st, rc, e, "insert job", 0);
	if (r == 0)
		*job_id = (long)sqlite3_last_insert_rowid(s->db);
	return r;
}

int store_job_set_state(struct store *s, long job_id, const char *state, const char *error,
			struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_STATE];
	if (!store_state_valid(state))
		return err_set(e, ERR_INVALID, "state: unknown job state '%.32s'",
			       state ? state : "(null)");
	/* On a full disk, once more with the reserve freed; only outside a caller's
	   transaction (SQLITE_FULL may have rolled all of it back). */
	int outside = sqlite3_get_autocommit(s->db), sqlite_rc = 0, r;
	for (int attempt = 0;; attempt++) {
		int rc = store_bind_int(st, ":job_id", job_id) |
			 store_bind_text(st, ":state", state) |
			 store_bind_text(st, ":error", error);
		r = store_run_rc(s, st, rc, e, "job", job_id, &sqlite_rc);
		if (r == 0 || attempt > 0 || !outside || (sqlite_rc & 0xff) != SQLITE_FULL ||
		    !store_reserve_release(s))
			break;
	}
	if (r == 0 && sqlite3_changes(s->db) == 0)
		return err_set(e, ERR_NOTFOUND, "job %ld not found", job_id);
	if (r == 0)
		store_reserve_check(s);
	return r;
}

int store_job_progress(struct store *s, long job_id, long step, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_PROGRESS];
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_int(st, ":step", step);
	return store_run_update(s, st, rc, e, "job", job_id);
}

int store_job_skipped(struct store *s, long job_id, long long n, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_SKIPPED];
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_int(st, ":n", n);
	return store_run_update(s, st, rc, e, "job", job_id);
}

int store_job_final(struct store *s, long job_id, double top1, double top5, double knn_top1,
		    double final_loss, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_FINAL];
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_double(st, ":top1", top1) |
		 store_bind_double(st, ":top5", top5) |
		 store_bind_double(st, ":knn_top1", knn_top1) |
		 store_bind_double(st, ":final_loss", final_loss);
	return store_run_update(s, st, rc, e, "job", job_id);
}

int store_job_delete(struct store *s, long job_id, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_DELETE];
	return store_run_update(s, st, store_bind_int(st, ":job_id", job_id), e, "job", job_id);
}

int store_jobs_in_state(struct store *s, const char *state, long **ids, int *n, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOBS_IN_STATE];
	*ids = NULL;
	*n = 0;
	if (!store_state_valid(state))
		return err_set(e, ERR_INVALID, "state: unknown job state '%.32s'",
			       state ? state : "(null)");
	int r = 0, cap = 0, bind_rc = store_bind_text(st, ":state", state), rc = bind_rc;
	while (bind_rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			long *p = realloc(*ids, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *p);
			if (!p) {
				r = err_set(e, ERR_NOMEM, "store: out of memory");
				break;
			}
			*ids = p;
		}
		(*ids)[(*n)++] = (long)sqlite3_column_int64(st, 0);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, rc, e, "jobs in state %s", state);
	if (r < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return store_reset(st, r);
}

/* ---- metrics ------------------------------------------------------------------ */

/* A finite number, NAN when absent or null; ERR_INVALID for another type. */
static int event_number(const cJSON *ev, const char *key, double *v, struct err *e)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(ev, key);
	*v = NAN;
	if (!x || cJSON_IsNull(x))
		return 0;
	if (!cJSON_IsNumber(x))
		return err_set(e, ERR_INVALID, "%s: must be a number", key);
	*v = x->valuedouble;
	return 0;
}

/* step (a non-negative integer), epoch, and time from a step event. */
static int event_position(const cJSON *ev, double *step, double *epoch, const char **time,
			  struct err *e)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "event");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "time");
	if (!cJSON_IsObject(ev))
		return err_set(e, ERR_INVALID, "event: must be an object");
	if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "step") == 0))
		return err_set(e, ERR_INVALID, "event: not a step event");
	int r = event_number(ev, "step", step, e);
	if (r < 0 || (r = event_number(ev, "epoch", epoch, e)) < 0)
		return r;
	if (!(*step >= 0 && *step <= 9007199254740992.0 && floor(*step) == *step))
		return err_set(e, ERR_INVALID, "step: must be a non-negative integer");
	if (!isnan(*epoch) && floor(*epoch) != *epoch)
		return err_set(e, ERR_INVALID, "epoch: must be an integer");
	if (t && !cJSON_IsString(t) && !cJSON_IsNull(t))
		return err_set(e, ERR_INVALID, "time: must be a string");
	*time = cJSON_IsString(t) ? t->valuestring : NULL;
	return 0;
}

int store_metric_insert(struct store *s, long job_id, const cJSON *step_event, struct err *e)
{
	static const char *const fields[][2] = { { "loss", ":loss" }, { "tau", ":tau" },
		{ "lr", ":lr" }, { "img_s", ":img_s" }, { "z_std", ":z_std" } };
	sqlite3_stmt *st = s->st[ST_METRIC_UPSERT];
	double step, epoch, v;
	const char *time = NULL;
	int r = event_position(step_event, &step, &epoch, &time, e);
	if (r < 0)
		return r;
	int rc = store_bind_int(st, ":job_id", job_id) |
		 store_bind_int(st, ":step", (sqlite3_int64)step) |
		 store_bind_double(st, ":epoch", epoch) | store_bind_text(st, ":time", time);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if ((r = event_number(step_event, fields[i][0], &v, e)) < 0)
			return store_reset(st, r);
		rc |= store_bind_double(st, fields[i][1], v);
	}
	return store_run(s, st, rc, e, "metric of job", job_id);
}

int store_metrics_truncate(struct store *s, long job_id, long after_step, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_METRIC_TRUNCATE];
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_int(st, ":after", after_step);
	return store_run(s, st, rc, e, "truncate metrics of job", job_id);
}

/* ---- checkpoints ----------------------------------------------------------- */

static int sha256_valid(const char *hex)
{
	size_t n = 0;
	for (; hex && hex[n]; n++)
		if (!((hex[n] >= '0' && hex[n] <= '9') || (hex[n] >= 'a' && hex[n] <= 'f')))
			return 0;
	return n == 64;
}

int store_checkpoint_insert(struct store *s, long job_id, long step, int epoch, const char *path,
			    long long bytes, const char *sha256, long *checkpoint_id,
			    struct err *e)
{
	sqlite3_stmt *st = s->st[ST_CKPT_INSERT];
	if (!path || !*path)
		return err_set(e, ERR_INVALID, "path: missing");
	if (!sha256_valid(sha256))
		return err_set(e, ERR_INVALID, "sha256: must be 64 lowercase hex digits");
	if (bytes < 0 || step < 0)
		return err_set(e, ERR_INVALID, "%s: negative", bytes < 0 ? "bytes" : "step");
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_int(st, ":step", step) |
		 store_bind_int(st, ":epoch", epoch) | store_bind_text(st, ":path", path) |
		 store_bind_int(st, ":bytes", bytes) | store_bind_text(st, ":sha256", sha256);
	int r = store_run(s, st, rc, e, "checkpoint of job", job_id);
	if (r == 0 && checkpoint_id)
		*checkpoint_id = (long)sqlite3_last_insert_rowid(s->db);
	return r;
}

/* Copy the text of column i into out[cap]; ERR_RANGE if it does not fit. */
int store_copy_column(sqlite3_stmt *st, int i, char *out, size_t cap, struct err *e)
{
	const char *v = (const char *)sqlite3_column_text(st, i);
	size_t n = v ? strlen(v) : 0;
	if (n >= cap)
		return err_set(e, ERR_RANGE, "store: %s of %zu bytes does not fit %zu",
			       sqlite3_column_name(st, i), n, cap);
	memcpy(out, v ? v : "", n + 1);
	return 0;
}

int store_checkpoint_get(struct store *s, long checkpoint_id, long *job_id, char *path,
			 size_t path_cap, char sha256[65], long long *bytes, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_CKPT_GET];
	int r = 0, rc = store_bind_int(st, ":checkpoint_id", checkpoint_id);
	rc = rc ? rc : sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return store_reset(st, err_set(e, ERR_NOTFOUND, "checkpoint %ld not found",
					       checkpoint_id));
	if (rc != SQLITE_ROW)
		return store_reset(st, store_fail(s, rc, e, "checkpoint %ld", checkpoint_id));
	if (job_id)
		*job_id = (long)sqlite3_column_int64(st, 0);
	if (path)
		r = store_copy_column(st, 1, path, path_cap, e);
	if (r == 0 && sha256)
		r = store_copy_column(st, 2, sha256, 65, e);
	if (bytes)
		*bytes = (long long)sqlite3_column_int64(st, 3);
	return store_reset(st, r);
}

int store_checkpoint_delete(struct store *s, long checkpoint_id, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_CKPT_DELETE];
	int rc = store_bind_int(st, ":checkpoint_id", checkpoint_id);
	return store_run_update(s, st, rc, e, "checkpoint", checkpoint_id);
}

/* Steps statement id (its one parameter :job_id) to the job's row: 0 with the row
   current (the caller resets the statement), or an error with it reset. */
static int job_row(struct store *s, enum store_stmt id, long job_id, struct err *e)
{
	sqlite3_stmt *st = s->st[id];
	int rc = store_bind_int(st, ":job_id", job_id);
	rc = rc ? rc : sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return store_reset(st, err_set(e, ERR_NOTFOUND, "job %ld not found", job_id));
	return store_reset(st, store_fail(s, rc, e, "job %ld", job_id));
}

int store_job_state(struct store *s, long job_id, char *state, size_t cap, struct err *e)
{
	int rc = job_row(s, ST_JOB_STATE_GET, job_id, e);
	return rc ? rc : store_reset(s->st[ST_JOB_STATE_GET],
				     store_copy_column(s->st[ST_JOB_STATE_GET], 0, state, cap, e));
}

int store_job_spec(struct store *s, long job_id, char **json, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_JOB_SPEC];
	int rc = job_row(s, ST_JOB_SPEC, job_id, e);
	*json = NULL;
	if (rc)
		return rc;
	const char *text = (const char *)sqlite3_column_text(st, 0);
	if (!(*json = strdup(text ? text : "{}")))
		rc = err_set(e, ERR_NOMEM, "store: out of memory");
	return store_reset(st, rc);
}

/* Every row of st (its parameters bound; rc the binds' result) through fill into a
   growing array of elsize-byte rows: *rows (malloc'd) holds *n; on failure none. */
static int read_rows(struct store *s, sqlite3_stmt *st, int rc, size_t elsize, void **rows,
		     int *n, int (*fill)(sqlite3_stmt *st, void *row, struct err *e),
		     const char *what, struct err *e)
{
	int r = 0, cap = 0;
	*rows = NULL;
	*n = 0;
	for (rc = rc ? rc : sqlite3_step(st); rc == SQLITE_ROW && r == 0; rc = sqlite3_step(st)) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			void *p = realloc(*rows, (size_t)cap * elsize);
			if (!p) {
				r = err_set(e, ERR_NOMEM, "store: out of memory");
				break;
			}
			*rows = p;
		}
		r = fill(st, (char *)*rows + (size_t)(*n)++ * elsize, e);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_fail(s, rc, e, "%s", what);
	if (r) {
		free(*rows);
		*rows = NULL;
		*n = 0;
	}
	return store_reset(st, r);
}

static int fill_eval(sqlite3_stmt *st, void *row, struct err *e)
{
	struct store_eval *v = row;
	v->eval_id = (long)sqlite3_column_int64(st, 0);
	v->job_id = (long)sqlite3_column_int64(st, 1);
	v->checkpoint_id = (long)sqlite3_column_int64(st, 2); /* NULL reads as 0 */
	const unsigned char *request = sqlite3_column_text(st, 4);
	if (request && !(v->request = strdup((const char *)request)))
		return err_set(e, ERR_NOMEM, "store: out of memory");
	return store_copy_column(st, 3, v->kind, sizeof v->kind, e);
}

int store_evals_pending(struct store *s, struct store_eval **rows, int *n, struct err *e)
{
	int r = read_rows(s, s->st[ST_EVALS_PENDING], 0, sizeof **rows, (void **)rows, n, fill_eval,
			  "pending evals", e);
	if (r && *rows) {
		for (int i = 0; i < *n; i++)
			free((*rows)[i].request);
	}
	return r;
}

static int fill_checkpoint(sqlite3_stmt *st, void *row, struct err *e)
{
	struct store_checkpoint *c = row;
	c->checkpoint_id = (long)sqlite3_column_int64(st, 0);
	c->step = (long)sqlite3_column_int64(st, 1);
	c->bytes = (long long)sqlite3_column_int64(st, 4);
	int r = store_copy_column(st, 2, c->path, sizeof c->path, e);
	return r ? r : store_copy_column(st, 3, c->sha256, sizeof c->sha256, e);
}

int store_checkpoints_of(struct store *s, long job_id, struct store_checkpoint **rows, int *n,
			 struct err *e)
{
	sqlite3_stmt *st = s->st[ST_CKPT_ROWS];
	return read_rows(s, st, store_bind_int(st, ":job_id", job_id), sizeof **rows,
			 (void **)rows, n, fill_checkpoint, "checkpoints of a job", e);
}

/* ---- evals ------------------------------------------------------------------- */

int store_eval_insert(struct store *s, long job_id, long checkpoint_id, const char *kind,
		      const char *request, long *eval_id, struct err *e)
{
	static const char *const kinds[] = { "linear", "knn", "knn_sweep", "finetune", "embed" };
	sqlite3_stmt *st = s->st[ST_EVAL_INSERT];
	long owner;
	int known = 0;
	for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
		known |= !strcmp(kind, kinds[i]);
	if (!known)
		return err_set(e, ERR_INVALID, "kind: \"%s\" is not an evaluation kind",
			       kind ? kind : "");
	if (checkpoint_id < 0)
		return err_set(e, ERR_INVALID, "checkpoint_id: negative");
	if (checkpoint_id > 0) {
		int r = store_checkpoint_get(s, checkpoint_id, &owner, NULL, 0, NULL, NULL, e);
		if (r < 0)
			return r;
		if (owner != job_id)
			return err_set(e, ERR_INVALID, "checkpoint_id: checkpoint %ld is job %ld's",
				       checkpoint_id, owner);
	}
	int rc = store_bind_int(st, ":job_id", job_id) |
		 store_bind_int(st, ":checkpoint_id", checkpoint_id) |
		 store_bind_text(st, ":kind", kind) | store_bind_text(st, ":request", request);
	int r = store_run(s, st, rc, e, "eval of job", job_id);
	if (r == 0 && eval_id)
		*eval_id = (long)sqlite3_last_insert_rowid(s->db);
	return r;
}

int store_eval_done(struct store *s, long eval_id, long step, double top1, double top5,
		    const char *data, const char *result, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_EVAL_DONE];
	int rc = store_bind_int(st, ":eval_id", eval_id) | store_bind_int(st, ":step", step) |
		 store_bind_double(st, ":top1", top1) | store_bind_double(st, ":top5", top5) |
		 store_bind_text(st, ":data", data) | store_bind_text(st, ":result", result);
	return store_run_update(s, st, rc, e, "eval", eval_id);
}

int store_eval_failed(struct store *s, long eval_id, int cancelled, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_EVAL_FAILED];
	int rc = store_bind_int(st, ":eval_id", eval_id) |
		 store_bind_text(st, ":state", cancelled ? "cancelled" : "failed");
	return store_run_update(s, st, rc, e, "eval", eval_id);
}

/* ---- logs --------------------------------------------------------------------- */

int store_log(struct store *s, long job_id, const char *level, const char *message,
	      struct err *e)
{
	sqlite3_stmt *st = s->st[ST_LOG_INSERT];
	if (!level || !*level || !message)
		return err_set(e, ERR_INVALID, "%s: missing", message ? "level" : "message");
	int rc = store_bind_int(st, ":job_id", job_id) | store_bind_text(st, ":level", level) |
		 store_bind_text(st, ":message", message);
	return store_run(s, st, rc, e, "log of job", job_id);
}
