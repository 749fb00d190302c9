/*
 * store.h — byold's SQLite store: jobs, metrics, checkpoint index, evals, logs
 * and the history query (byold(8): FILES and "JSON-RPC PROTOCOL").
 *
 * One connection, used only from the daemon's loop thread. The database runs
 * in WAL mode with synchronous=FULL, foreign keys on (deleting a job deletes
 * its rows) and a 5 s busy timeout. Every statement is prepared once at open
 * with named parameters; nothing is ever printf'd into SQL. Each write outside
 * store_begin/store_commit is its own atomic statement; writes that belong
 * together (a checkpoint row and the job's step) go inside BEGIN IMMEDIATE:
 *
 *	struct store *s;
 *	struct err e;
 *	long job, ckpt;
 *	if (store_open(&s, "var/byold.db", &e) < 0)
 *		fprintf(stderr, "byold: %s\n", e.msg);
 *	store_job_insert(s, "demo", spec_text, 4680, 0, &job, &e);
 *	store_job_set_state(s, job, "running", NULL, &e);
 *	store_metric_insert(s, job, step_event, &e);   (a "step" event object)
 *	if (store_begin(s, &e) == 0 &&
 *	    store_checkpoint_insert(s, job, 1000, 3, path, bytes, hex, &ckpt, &e) == 0 &&
 *	    store_job_progress(s, job, 1000, &e) == 0 && store_commit(s, &e) == 0)
 *		...;
 *	else
 *		store_rollback(s);
 *	cJSON *r = store_job_get(s, job, &e);          (the job.get result, as is)
 *	store_close(s);
 *
 * Results (cJSON *) are shaped exactly like the JSON-RPC results of byold(8)
 * and belong to the caller (cJSON_Delete). Unknown values are JSON null; times
 * are RFC 3339 UTC with milliseconds ("2026-11-28T02:03:04.567Z"), taken from
 * SQLite's clock. Functions return 0 or a negative ERR_* (NULL for results)
 * with the reason, SQLite's message included, in e: ERR_NOTFOUND for an
 * absent job, checkpoint or eval; ERR_INVALID for bad arguments, its message
 * "field: reason" (the field first, e.g. "metric.top1: unknown operator
 * '=~'"), ready for a −32602 error's data {field, reason}; ERR_IO for the
 * database itself (disk full, I/O error, corruption); ERR_BAD_STATE when busy.
 *
 * Schema v1 (`meta.schema_version`); store_open creates or migrates it step
 * by step and refuses a database newer than this binary.
 */
#ifndef BYOL_STORE_H
#define BYOL_STORE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "err.h"

#define STORE_SCHEMA_VERSION 3
#define STORE_LIMIT_DEFAULT 100   /* job.list / history.query rows, job.logs lines */
#define STORE_LIMIT_MAX 10000

struct store; /* opaque */

/* ---- connection -------------------------------------------------------- */

/* Open (creating if missing) the database at path and bring its schema to
 * STORE_SCHEMA_VERSION. Fails cleanly (nothing left open, *out NULL) on a
 * missing or read-only directory, a file that is not a database or a schema
 * version newer than this binary's (ERR_INVALID). */
int store_open(struct store **out, const char *path, struct err *e);

/* Finalize every statement and close; NULL is fine. */
void store_close(struct store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. store_rollback is a no-op outside a
 * transaction and returns 0 or a negative ERR_*. */
int store_begin(struct store *s, struct err *e);
int store_commit(struct store *s, struct err *e);
int store_rollback(struct store *s);

/* 0 when PRAGMA integrity_check answers "ok"; otherwise ERR_IO with its first
 * complaint in e. */
int store_integrity_ok(struct store *s, struct err *e);

/* ---- jobs ---------------------------------------------------------------- */

/* A new job, state "queued" ("paused" if paused), created now. spec_json is
 * the resolved spec, a JSON object. Ids are positive and never reused. */
int store_job_insert(struct store *s, const char *name, const char *spec_json, long total_steps,
		     int paused, long *job_id, struct err *e);

/* Record a state (queued|running|paused|completed|failed|cancelled|
 * interrupted) and error (NULL clears it). started is set the first time the
 * job runs; finished when it enters completed, failed or cancelled, and is
 * cleared by any other state. The store records; the scheduler decides which
 * transitions are allowed. */
int store_job_set_state(struct store *s, long job_id, const char *state, const char *error,
			struct err *e);

/* The number of completed optimizer steps. */
int store_job_progress(struct store *s, long job_id, long step, struct err *e);

/* How many image files the job's data sets skipped (on_error skip), for its summary. */
int store_job_skipped(struct store *s, long job_id, long long n, struct err *e);

/* Final metrics (percent, and the final mean loss); a NAN argument leaves
 * that column as it is (NULL until known). A final loss that is neither given
 * nor known (a run resumed at its last step) is the mean of the stored step
 * points of the last epoch. */
int store_job_final(struct store *s, long job_id, double top1, double top5, double knn_top1,
		    double final_loss, struct err *e);

/* job.get: {job_id, name, state, spec (object), created, started, finished,
 * error, step, total_steps, top1, top5, knn_top1, final_loss (null until
 * known), last: point | null, checkpoints: [as
 * checkpoint.list], evals: [{eval_id, checkpoint_id, kind, state, step, top1,
 * top5, created}]}. */
cJSON *store_job_get(struct store *s, long job_id, struct err *e);

/* A job's stored spec as JSON text (*json malloc'd; free()); ERR_NOTFOUND if none. */
int store_job_spec(struct store *s, long job_id, char **json, struct err *e);

/* A job's state name into state[cap]; ERR_NOTFOUND if there is no such job. */
int store_job_state(struct store *s, long job_id, char *state, size_t cap, struct err *e);

/* job.list: {jobs: [{job_id, name, state, created, started, finished, step,
 * total_steps, last_loss, last_epoch, last_img_s, top1, knn_top1}]}, newest first. state and name (exact
 * match) may be NULL; limit <= 0 means 100, at most 10000. */
cJSON *store_job_list(struct store *s, const char *state, const char *name, int limit,
		      struct err *e);

/* server.status's jobs: {queued: n, running: n, ..., interrupted: n}, every
 * state present. */
cJSON *store_job_counts(struct store *s, struct err *e);

/* Delete a job and, by cascade, its metrics, checkpoint rows, evals and logs
 * (the files are the caller's). Does not look at the state. */
int store_job_delete(struct store *s, long job_id, struct err *e);

/* The ids of every job in a state, ascending, in a malloc'd array (*ids NULL
 * when *n is 0); the caller frees it. For recovery of 'running' jobs. */
int store_jobs_in_state(struct store *s, const char *state, long **ids, int *n, struct err *e);

/* ---- metrics ------------------------------------------------------------ */

/* Store a "step" event object ({step, epoch, loss, tau, lr, img_s, z_std,
 * time}; "event", if present, must be "step"). step is required; a missing
 * or non-finite number is stored as null, a missing time as now. A step that
 * exists is replaced (a resumed job re-emits the steps after its
 * checkpoint). */
int store_metric_insert(struct store *s, long job_id, const cJSON *step_event, struct err *e);

/* Delete the job's points with step > after_step. */
int store_metrics_truncate(struct store *s, long job_id, long after_step, struct err *e);

/* job.metrics: {points: [{step, epoch, loss, tau, lr, img_s, z_std, time}]}
 * ascending, from_step <= step <= to_step (to_step <= 0: no upper bound),
 * and only steps with step % every == 0 when every > 1. With max_points > 1 at
 * most that many of them, evenly spread, the first and the last included
 * (a dashboard's curve of 10^5 points). */
cJSON *store_metrics(struct store *s, long job_id, long from_step, long to_step, long every,
		     long max_points, struct err *e);

/* At most limit points with step >= from_step, ascending, shaped as store_metrics
 * (a subscription's replay reads the history a page at a time). */
cJSON *store_metrics_page(struct store *s, long job_id, long from_step, long limit,
			  struct err *e);

/* ---- checkpoints ---------------------------------------------------------- */

/* Index a checkpoint file written and fsync'd by the caller. sha256 is 64
 * lowercase hex digits. A row with the same path is replaced (the file was
 * replaced); evals that named it keep their results with checkpoint_id
 * null. */
int store_checkpoint_insert(struct store *s, long job_id, long step, int epoch, const char *path,
			    long long bytes, const char *sha256, long *checkpoint_id,
			    struct err *e);

/* checkpoint.list: {checkpoints: [{checkpoint_id, step, epoch, bytes,
 * sha256, created}]}, ascending by step. */
cJSON *store_checkpoint_list(struct store *s, long job_id, struct err *e);

/* An indexed checkpoint's job, path, sha256 and size: the only way
 * checkpoint.read finds a file. Any output may be NULL; a path that does not
 * fit path_cap is ERR_RANGE. */
int store_checkpoint_get(struct store *s, long checkpoint_id, long *job_id, char *path,
			 size_t path_cap, char sha256[65], long long *bytes, struct err *e);

int store_checkpoint_delete(struct store *s, long checkpoint_id, struct err *e);

/* One index row, typed. */
struct store_checkpoint {
	long checkpoint_id, step;
	long long bytes;
	char sha256[65];
	char path[4200];
};

/* A job's checkpoints, newest step first: *rows (malloc'd; free()) holds *n. */
int store_checkpoints_of(struct store *s, long job_id, struct store_checkpoint **rows, int *n,
			 struct err *e);

/* ---- evals ---------------------------------------------------------------- */

/* A pending eval of kind (eval_request.h's names), of the given checkpoint (0 =
 * none: the job's current weights, or its random initialisation), which must belong
 * to the job. request is the eval's request as JSON text (eval_request_json), kept
 * to run it again after a restart; NULL for a monitor's row. */
int store_eval_insert(struct store *s, long job_id, long checkpoint_id, const char *kind,
		      const char *request, long *eval_id, struct err *e);

/* Mark an eval done with its step and results (percent; NAN = null), the data set it
 * scored ("PATH:SPLIT", may be NULL) and what else it found (JSON text, may be NULL). */
int store_eval_done(struct store *s, long eval_id, long step, double top1, double top5,
		    const char *data, const char *result, struct err *e);

/* Mark an eval failed (cancelled 0) or cancelled (1). */
int store_eval_failed(struct store *s, long eval_id, int cancelled, struct err *e);

/* A pending eval, typed; checkpoint_id 0 when its checkpoint was deleted (or it
 * starts from the random initialisation); request malloc'd (free it), may be NULL. */
struct store_eval {
	long eval_id, job_id, checkpoint_id;
	char kind[16];
	char *request;
};

/* Every eval still pending, of any job, oldest first (at start-up: those a stopped
 * daemon left unfinished): *rows (malloc'd; free() each request, then rows) holds *n. */
int store_evals_pending(struct store *s, struct store_eval **rows, int *n, struct err *e);

/* ---- logs ----------------------------------------------------------------- */

/* Append a log line of a job, timed now. */
int store_log(struct store *s, long job_id, const char *level, const char *message,
	      struct err *e);

/* job.logs: {lines: [{time, level, message}]}, the last tail lines (100 when
 * tail <= 0, at most 10000), oldest first. */
cJSON *store_logs(struct store *s, long job_id, int tail, struct err *e);

/* ---- history ------------------------------------------------------------------ */

/* history.query. params (NULL = {}): {name?, state?, since?, until?, spec?,
 * metric?, order_by?, limit?}:
 *   name, state   exact matches;
 *   since, until  RFC 3339 times (or dates) bounding created: since <= created
 *                 < until; offsets are converted to UTC;
 *   spec          {"dotted.path": value} — value a string, number or boolean
 *                 (equality) or {op: value} with op one of >= > <= < == !=;
 *                 path segments are [A-Za-z0-9_]+ (no array indices);
 *   metric        {name: number or {op: number}}, name one of top1, top5,
 *                 knn_top1, final_loss; a run without the metric never
 *                 matches;
 *   order_by      one of top1, top5, knn_top1, final_loss, created, finished,
 *                 name, job_id, "-" prefixed for descending; runs lacking the
 *                 value come last either way; ties by job_id in the same
 *                 direction. Default "-job_id" (newest first);
 *   limit         integer 1..10000, default 100.
 * Unknown keys, wrong types and bad values are ERR_INVALID naming the field.
 * Result {runs: [{job_id, name, state, spec, top1, top5, knn_top1,
 * final_loss, created, finished}]}. */
cJSON *store_history_query(struct store *s, const cJSON *params, struct err *e);

/* ---- internal: shared by the store's own files only ------------------------
 * Compiled in only where STORE_INTERNAL is defined, so struct store stays
 * opaque to callers. */
#ifdef STORE_INTERNAL
#include <sqlite3.h>

/* The prepared statements, one per query: the writes' SQL is in store.c,
 * the reads' in reads.c and history.c. */
enum store_stmt {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_INTEGRITY, ST_TIME_NORM,
	ST_JOB_INSERT, ST_JOB_STATE, ST_JOB_PROGRESS, ST_JOB_SKIPPED, ST_JOB_FINAL, ST_JOB_DELETE,
	ST_JOB_EXISTS, ST_JOB_STATE_GET, ST_JOB_SPEC, ST_JOB_GET, ST_JOB_LIST, ST_JOB_COUNTS, ST_JOBS_IN_STATE,
	ST_JOB_LAST_POINT,
	ST_METRIC_UPSERT, ST_METRIC_TRUNCATE, ST_METRICS,
	ST_CKPT_INSERT, ST_CKPT_LIST, ST_CKPT_GET, ST_CKPT_DELETE, ST_CKPT_ROWS,
	ST_EVAL_INSERT, ST_EVAL_DONE, ST_EVAL_FAILED, ST_EVAL_LIST, ST_EVALS_PENDING,
	ST_LOG_INSERT, ST_LOG_TAIL,
	ST_HISTORY,
	ST_COUNT
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
};

/* Bind by parameter name; text NULL and non-finite doubles bind NULL.
 * Return SQLite codes. */
int store_bind_int(sqlite3_stmt *st, const char *name, sqlite3_int64 v);
int store_bind_double(sqlite3_stmt *st, const char *name, double v);
int store_bind_text(sqlite3_stmt *st, const char *name, const char *v);

/* Reset a statement and clear its bindings; returns rc unchanged. */
int store_reset(sqlite3_stmt *st, int rc);

/* Translate a failed SQLite rc into e ("store: <what>: <sqlite message>";
 * a foreign-key failure becomes ERR_NOTFOUND "...: no such job"); returns
 * the ERR_* code. */
int store_fail(struct store *s, int rc, struct err *e, const char *what, ...)
	__attribute__((format(printf, 4, 5)));

/* Step a write statement whose parameters are bound (bind_rc: the binds' result,
 * nonzero if any failed) to its end and reset it; errors name what and id (when
 * not 0). *sqlite_rc (may be NULL) receives SQLite's result code. store_run_update
 * also fails with ERR_NOTFOUND when no row changed. */
int store_run_rc(struct store *s, sqlite3_stmt *st, int bind_rc, struct err *e,
		 const char *what, long id, int *sqlite_rc);
int store_run(struct store *s, sqlite3_stmt *st, int bind_rc, struct err *e, const char *what,
	      long id);
int store_run_update(struct store *s, sqlite3_stmt *st, int bind_rc, struct err *e,
		     const char *what, long id);

/* Copy the text of column i into out[cap]; ERR_RANGE if it does not fit. */
int store_copy_column(sqlite3_stmt *st, int i, char *out, size_t cap, struct err *e);

/* The disk-full reserve: free it (1 if there was one), remake it when there is room. */
int store_reserve_release(struct store *s);
void store_reserve_check(struct store *s);

/* 1 if state is one of the job states. */
int store_state_valid(const char *state);

/* The job states, in their documented order, and how many there are. */
extern const char *const store_job_states[];
extern const int store_n_job_states;

/* SQL of the reads, indexed by enum store_stmt (NULL for the writes, whose
 * SQL is in store.c). */
extern const char *const store_query_sql[ST_COUNT];
/* ... and history.query's (history.c). */
extern const char *const store_history_sql;

/* Append each row of st (its parameters bound; bind_rc their result) to array as an
 * object keyed by column name; reset st. 0 or an ERR_* naming what. */
int store_rows_into(struct store *s, sqlite3_stmt *st, int bind_rc, cJSON *array,
		    const char *what, struct err *e);

/* {key: []} with *array pointing at the empty array; NULL (e set) if out of memory. */
cJSON *store_result_with_array(const char *key, cJSON **array, struct err *e);

/* res, or NULL (res freed) when r is an error. */
cJSON *store_result_or_null(cJSON *res, int r);
#endif

#endif
