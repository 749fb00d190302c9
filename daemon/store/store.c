/*
 * store/store.c — byold's SQLite store: connection, schema and migrations,
 * the prepared statements (the writes' SQL here, the reads' in reads.c),
 * transactions and the disk-full reserve (see store.h). The rows' writes and
 * typed reads are in rows.c, the JSON-shaped reads in reads.c, history.query
 * in history.c.
 *
 * Times come from one place, SQLite's clock (NOW below), so every stored
 * time has the same RFC 3339 form and sorts as text.
 */
#define STORE_INTERNAL
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
#define BUSY_TIMEOUT_MS 5000
#define RESERVE_SUFFIX "-reserve"
#define RESERVE_BYTES ((off_t)256 << 10)

/* ---- schema and migrations ----------------------------------------------- */

#define SCHEMA_V1 \
	"CREATE TABLE jobs (\n" \
	"  job_id INTEGER PRIMARY KEY AUTOINCREMENT,\n" \
	"  name TEXT NOT NULL,\n" \
	"  state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'paused', 'completed',\n" \
	"    'failed', 'cancelled', 'interrupted')),\n" \
	"  spec TEXT NOT NULL CHECK (json_valid(spec) AND json_type(spec) = 'object'),\n" \
	"  created TEXT NOT NULL, started TEXT, finished TEXT, error TEXT,\n" \
	"  step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL DEFAULT 0,\n" \
	"  priority INTEGER NOT NULL DEFAULT 0,\n" \
	"  top1 REAL, top5 REAL, knn_top1 REAL, final_loss REAL);\n" \
	"CREATE INDEX jobs_state ON jobs (state);\n" \
	"CREATE INDEX jobs_name ON jobs (name);\n" \
	"CREATE TABLE metrics (\n" \
	"  job_id INTEGER NOT NULL REFERENCES jobs ON DELETE CASCADE,\n" \
	"  step INTEGER NOT NULL, epoch INTEGER, loss REAL, tau REAL, lr REAL, img_s REAL,\n" \
	"  z_std REAL, time TEXT NOT NULL,\n" \
	"  PRIMARY KEY (job_id, step)) WITHOUT ROWID;\n" \
	"CREATE TABLE checkpoints (\n" \
	"  checkpoint_id INTEGER PRIMARY KEY AUTOINCREMENT,\n" \
	"  job_id INTEGER NOT NULL REFERENCES jobs ON DELETE CASCADE,\n" \
	"  step INTEGER NOT NULL, epoch INTEGER NOT NULL, path TEXT NOT NULL UNIQUE,\n" \
	"  bytes INTEGER NOT NULL CHECK (bytes >= 0),\n" \
	"  sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),\n" \
	"  created TEXT NOT NULL);\n" \
	"CREATE INDEX checkpoints_job ON checkpoints (job_id, step);\n" \
	"CREATE TABLE evals (\n" \
	"  eval_id INTEGER PRIMARY KEY AUTOINCREMENT,\n" \
	"  job_id INTEGER NOT NULL REFERENCES jobs ON DELETE CASCADE,\n" \
	"  checkpoint_id INTEGER REFERENCES checkpoints ON DELETE SET NULL,\n" \
	"  kind TEXT NOT NULL CHECK (kind IN ('linear', 'knn')),\n" \
	"  step INTEGER, top1 REAL, top5 REAL,\n" \
	"  state TEXT NOT NULL DEFAULT 'pending'\n" \
	"    CHECK (state IN ('pending', 'done', 'failed')),\n" \
	"  created TEXT NOT NULL);\n" \
	"CREATE INDEX evals_job ON evals (job_id);\n" \
	"CREATE INDEX evals_checkpoint ON evals (checkpoint_id);\n" \
	"CREATE TABLE logs (\n" \
	"  id INTEGER PRIMARY KEY,\n" \
	"  job_id INTEGER NOT NULL REFERENCES jobs ON DELETE CASCADE,\n" \
	"  time TEXT NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL);\n" \
	"CREATE INDEX logs_job ON logs (job_id, id);\n"

/* Version 3: evaluations of every kind (kNN sweep, fine-tuning, embeddings), what
 * was asked (request, JSON), what they ran on (data, labels, init) and what they
 * found beyond top-1/top-5 (result, JSON); an eval may be cancelled. SQLite cannot
 * change a CHECK in place, so the table is rebuilt. */
#define SCHEMA_V3_EVALS \
	"CREATE TABLE evals_v3 (\n" \
	"  eval_id INTEGER PRIMARY KEY AUTOINCREMENT,\n" \
	"  job_id INTEGER NOT NULL REFERENCES jobs ON DELETE CASCADE,\n" \
	"  checkpoint_id INTEGER REFERENCES checkpoints ON DELETE SET NULL,\n" \
	"  kind TEXT NOT NULL\n" \
	"    CHECK (kind IN ('linear', 'knn', 'knn_sweep', 'finetune', 'embed')),\n" \
	"  step INTEGER, top1 REAL, top5 REAL,\n" \
	"  state TEXT NOT NULL DEFAULT 'pending'\n" \
	"    CHECK (state IN ('pending', 'done', 'failed', 'cancelled')),\n" \
	"  created TEXT NOT NULL,\n" \
	"  request TEXT CHECK (request IS NULL OR json_valid(request)),\n" \
	"  data TEXT, labels REAL, init TEXT CHECK (init IN ('checkpoint', 'random')),\n" \
	"  result TEXT CHECK (result IS NULL OR json_valid(result)));\n" \
	"INSERT INTO evals_v3 (eval_id, job_id, checkpoint_id, kind, step, top1, top5, state,\n" \
	"  created) SELECT eval_id, job_id, checkpoint_id, kind, step, top1, top5, state,\n" \
	"  created FROM evals;\n" \
	"DROP TABLE evals;\n" \
	"ALTER TABLE evals_v3 RENAME TO evals;\n" \
	"CREATE INDEX evals_job ON evals (job_id);\n" \
	"CREATE INDEX evals_checkpoint ON evals (checkpoint_id);\n"

/* Step i takes a database from version to - 1 to version to. A new schema
 * version appends a step (ALTER TABLE ..., data moves) and raises
 * STORE_SCHEMA_VERSION; steps are never edited once released. */
static const struct migration {
	int to;
	const char *sql;
} migrations[] = {
	{ 1, SCHEMA_V1 },
	{ 2, "ALTER TABLE jobs ADD COLUMN skipped_images INTEGER NOT NULL DEFAULT 0;\n" },
	{ 3, SCHEMA_V3_EVALS },
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration step per schema version");

/* ---- statements: the writes (the reads are in reads.c) ------------- */

static const char *const write_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_INTEGRITY] = "PRAGMA integrity_check",
	[ST_JOB_INSERT] =
		"INSERT INTO jobs (name, state, spec, created, total_steps)"
		" VALUES (:name, :state, :spec, " NOW ", :total_steps)",
	[ST_JOB_STATE] =
		"UPDATE jobs SET state = :state, error = :error,"
		" started = coalesce(started, CASE WHEN :state = 'running' THEN " NOW " END),"
		" finished = CASE WHEN :state IN ('completed', 'failed', 'cancelled')"
		" THEN coalesce(finished, " NOW ") END"
		" WHERE job_id = :job_id",
	[ST_JOB_PROGRESS] = "UPDATE jobs SET step = :step WHERE job_id = :job_id",
	[ST_JOB_SKIPPED] = "UPDATE jobs SET skipped_images = :n WHERE job_id = :job_id",
	[ST_JOB_FINAL] =
		"UPDATE jobs SET top1 = coalesce(:top1, top1), top5 = coalesce(:top5, top5),"
		" knn_top1 = coalesce(:knn_top1, knn_top1),"
		" final_loss = coalesce(:final_loss, final_loss, (SELECT avg(loss) FROM metrics"
		"   WHERE job_id = :job_id AND epoch = (SELECT max(epoch) FROM metrics"
		"   WHERE job_id = :job_id))) WHERE job_id = :job_id",
	[ST_JOB_DELETE] = "DELETE FROM jobs WHERE job_id = :job_id",
	[ST_JOBS_IN_STATE] = "SELECT job_id FROM jobs WHERE state = :state ORDER BY job_id",
	[ST_METRIC_UPSERT] =
		"INSERT INTO metrics (job_id, step, epoch, loss, tau, lr, img_s, z_std, time)"
		" VALUES (:job_id, :step, :epoch, :loss, :tau, :lr, :img_s, :z_std,"
		" coalesce(:time, " NOW "))"
		" ON CONFLICT (job_id, step) DO UPDATE SET epoch = excluded.epoch,"
		" loss = excluded.loss, tau = excluded.tau, lr = excluded.lr,"
		" img_s = excluded.img_s, z_std = excluded.z_std, time = excluded.time",
	[ST_METRIC_TRUNCATE] = "DELETE FROM metrics WHERE job_id = :job_id AND step > :after",
	[ST_CKPT_INSERT] =
		"INSERT OR REPLACE INTO checkpoints"
		" (job_id, step, epoch, path, bytes, sha256, created)"
		" VALUES (:job_id, :step, :epoch, :path, :bytes, :sha256, " NOW ")",
	[ST_CKPT_GET] =
		"SELECT job_id, path, sha256, bytes FROM checkpoints"
		" WHERE checkpoint_id = :checkpoint_id",
	[ST_CKPT_DELETE] = "DELETE FROM checkpoints WHERE checkpoint_id = :checkpoint_id",
	[ST_EVAL_INSERT] =
		"INSERT INTO evals (job_id, checkpoint_id, kind, created, request, labels, init)"
		" VALUES (:job_id, nullif(:checkpoint_id, 0), :kind, " NOW ", :request,"
		" CASE WHEN :kind = 'finetune' THEN json_extract(:request, '$.labels') END,"
		" coalesce(json_extract(:request, '$.from'), 'checkpoint'))",
	[ST_EVAL_DONE] =
		"UPDATE evals SET state = 'done', step = :step, top1 = :top1, top5 = :top5,"
		" data = :data, result = :result WHERE eval_id = :eval_id",
	[ST_EVAL_FAILED] = "UPDATE evals SET state = :state WHERE eval_id = :eval_id",
	[ST_LOG_INSERT] =
		"INSERT INTO logs (job_id, time, level, message)"
		" VALUES (:job_id, " NOW ", :level, :message)",
};

/* ---- helpers shared with rows.c, reads.c and history.c ------------------------------------ */

const char *const store_job_states[] = { "queued", "running", "paused", "completed",
					 "failed", "cancelled", "interrupted" };
const int store_n_job_states = sizeof store_job_states / sizeof store_job_states[0];

int store_state_valid(const char *state)
{
	for (int i = 0; state && i < store_n_job_states; i++)
		if (strcmp(state, store_job_states[i]) == 0)
			return 1;
	return 0;
}

int store_bind_int(sqlite3_stmt *st, const char *name, sqlite3_int64 v)
{
	return sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, name), v);
}

int store_bind_double(sqlite3_stmt *st, const char *name, double v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	return isfinite(v) ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

int store_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(st, name);
	return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int store_reset(sqlite3_stmt *st, int rc)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* The ERR_* code for a SQLite result code. */
static int err_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM: return ERR_NOMEM;
	case SQLITE_CONSTRAINT:
		return rc == SQLITE_CONSTRAINT_FOREIGNKEY ? ERR_NOTFOUND : ERR_INVALID;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return ERR_BAD_STATE;
	case SQLITE_TOOBIG:
	case SQLITE_RANGE: return ERR_RANGE;
	}
	return ERR_IO;
}

int store_fail(struct store *s, int rc, struct err *e, const char *what, ...)
{
	char buf[160];
	va_list ap;
	va_start(ap, what);
	vsnprintf(buf, sizeof buf, what, ap);
	va_end(ap);
	int code = err_code(rc);
	if (code == ERR_NOTFOUND)
		return err_set(e, code, "store: %s: no such job", buf);
	return err_set(e, code, "store: %s: %s", buf,
		       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

/* Step a write statement whose parameters are bound (bind_rc: the binds'
 * result, nonzero if any failed) to its end; reset it. Errors name what and
 * id (when not 0). *sqlite_rc (may be NULL) receives SQLite's result code. */
int store_run_rc(struct store *s, sqlite3_stmt *st, int bind_rc, struct err *e,
		  const char *what, long id, int *sqlite_rc)
{
	int rc = bind_rc ? bind_rc : sqlite3_step(st);
	if (sqlite_rc)
		*sqlite_rc = rc;
	if (rc == SQLITE_DONE)
		return store_reset(st, 0);
	rc = id ? store_fail(s, rc, e, "%s %ld", what, id) : store_fail(s, rc, e, "%s", what);
	return store_reset(st, rc);
}

int store_run(struct store *s, sqlite3_stmt *st, int bind_rc, struct err *e, const char *what,
	       long id)
{
	return store_run_rc(s, st, bind_rc, e, what, id, NULL);
}

/* ---- the disk-full reserve ------------------------------------------------
 * "<database>-reserve" holds RESERVE_BYTES of allocated blocks. When the disk
 * fills, a job's state change (above all "failed: no space left on device")
 * would fail too and leave the job "running" in the history with nothing
 * running it. store_job_set_state then frees the reserve and tries once more,
 * which gives SQLite room for the few WAL pages of that update. The reserve is
 * made at open and remade by later state changes once there is room again;
 * making it is best-effort (no reserve: the disk was full already). */

/* The reserve's path; 0 if the database has no file (":memory:", temporary). */
static int reserve_path(struct store *s, char *out, size_t cap)
{
	const char *db = sqlite3_db_filename(s->db, "main");
	if (!db || !db[0])
		return 0;
	return snprintf(out, cap, "%s" RESERVE_SUFFIX, db) < (int)cap;
}

static void reserve_make(struct store *s)
{
	char path[4200];
	struct stat st;
	if (!reserve_path(s, path, sizeof path))
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0 || (off_t)st.st_blocks * 512 < RESERVE_BYTES) {
		if (posix_fallocate(fd, 0, RESERVE_BYTES) != 0)
			unlink(path); /* no room: nothing half-made is kept */
	}
	close(fd);
}

/* Free the reserve; 1 if there was one. */
int store_reserve_release(struct store *s)
{
	char path[4200];
	return reserve_path(s, path, sizeof path) && unlink(path) == 0;
}

/* Remake the reserve if it was spent (a stat when it was not). */
void store_reserve_check(struct store *s)
{
	char path[4200];
	struct stat st;
	if (reserve_path(s, path, sizeof path) && lstat(path, &st) != 0 && errno == ENOENT)
		reserve_make(s);
}

/* run, then ERR_NOTFOUND if no row was touched. */
int store_run_update(struct store *s, sqlite3_stmt *st, int bind_rc, struct err *e,
		      const char *what, long id)
{
	int rc = store_run(s, st, bind_rc, e, what, id);
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		return err_set(e, ERR_NOTFOUND, "%s %ld not found", what, id);
	return rc;
}

/* ---- open, migrate, close --------------------------------------------------- */

static int exec(struct store *s, const char *sql, struct err *e, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_fail(s, rc, e, "%s", what);
}

/* A statement used once at open, outside the prepared set. */
static int prepare_once(struct store *s, const char *sql, sqlite3_stmt **st, struct err *e)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	return rc == SQLITE_OK ? 0 : store_fail(s, rc, e, "prepare");
}

/* WAL (checked: it needs a writable directory), synchronous=FULL, foreign
 * keys, busy timeout, defensive mode. */
static int configure(struct store *s, struct err *e)
{
	sqlite3_stmt *st;
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	int r = exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", e, "pragmas");
	if (r < 0 || (r = prepare_once(s, "PRAGMA journal_mode = WAL", &st, e)) < 0)
		return r;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		r = store_fail(s, rc, e, "journal_mode");
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0)
		r = err_set(e, ERR_IO, "store: cannot use WAL (journal_mode is %s)",
			    (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (r == 0 && sqlite3_db_readonly(s->db, "main") == 1)
		r = err_set(e, ERR_IO, "store: database is read-only");
	return r;
}

/* meta.schema_version, 0 in a new database. */
static int schema_version(struct store *s, int *version, struct err *e)
{
	sqlite3_stmt *st;
	int r = prepare_once(s, "SELECT value FROM meta WHERE key = 'schema_version'", &st, e);
	if (r < 0)
		return r;
	*version = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 v = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || v < 1 || v > 1000000)
			r = err_set(e, ERR_INVALID,
				    "store: meta.schema_version '%.32s' is not a version",
				    (const char *)sqlite3_column_text(st, 0));
		*version = (int)v;
	} else if (rc != SQLITE_DONE) {
		r = store_fail(s, rc, e, "schema version");
	}
	sqlite3_finalize(st);
	return r;
}

static int set_schema_version(struct store *s, int version, struct err *e)
{
	sqlite3_stmt *st;
	int r = prepare_once(s, "INSERT INTO meta (key, value) VALUES ('schema_version', :v)"
			     " ON CONFLICT (key) DO UPDATE SET value = excluded.value", &st, e);
	if (r < 0)
		return r;
	int rc = store_bind_int(st, ":v", version);
	rc = rc ? rc : sqlite3_step(st);
	if (rc != SQLITE_DONE)
		r = store_fail(s, rc, e, "set schema version");
	sqlite3_finalize(st);
	return r;
}

/* Bring the schema to STORE_SCHEMA_VERSION in one transaction. */
static int migrate(struct store *s, struct err *e)
{
	int version = 0, r = exec(s, "BEGIN IMMEDIATE", e, "begin migration");
	if (r < 0)
		return r;
	r = exec(s, "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)", e,
		 "create meta");
	if (r == 0)
		r = schema_version(s, &version, e);
	if (r == 0 && version > STORE_SCHEMA_VERSION)
		r = err_set(e, ERR_INVALID,
			    "store: database schema version %d is newer than this byold knows (%d)",
			    version, STORE_SCHEMA_VERSION);
	for (size_t i = 0; r == 0 && i < sizeof migrations / sizeof migrations[0]; i++) {
		if (migrations[i].to <= version)
			continue;
		r = exec(s, migrations[i].sql, e, "migration");
		if (r == 0)
			r = set_schema_version(s, migrations[i].to, e);
	}
	if (r == 0)
		r = exec(s, "COMMIT", e, "commit migration");
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int prepare_all(struct store *s, struct err *e)
{
	for (int i = 0; i < ST_COUNT; i++) {
		const char *sql = i == ST_HISTORY ? store_history_sql
				  : write_sql[i] ? write_sql[i] : store_query_sql[i];
		if (!sql)
			return err_set(e, ERR_INVALID, "store: statement %d has no SQL", i);
		int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
					    NULL);
		if (rc != SQLITE_OK)
			return store_fail(s, rc, e, "prepare statement %d", i);
	}
	return 0;
}

/* "store: <what>: ..." → "store: <path>: <what>: ...". */
static void name_path(struct err *e, const char *path)
{
	char msg[sizeof e->msg];
	if (!e)
		return;
	const char *m = strncmp(e->msg, "store: ", 7) == 0 ? e->msg + 7 : e->msg;
	snprintf(msg, sizeof msg, "%s", m);
	err_set(e, e->code, "store: %.100s: %s", path, msg);
}

int store_open(struct store **out, const char *path, struct err *e)
{
	*out = NULL;
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return err_set(e, ERR_NOMEM, "store: out of memory");
	int r, rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK)
		r = store_fail(s, rc, e, "open");
	else if ((r = configure(s, e)) == 0 && (r = migrate(s, e)) == 0)
		r = prepare_all(s, e);
	if (r < 0) {
		name_path(e, path);
		store_close(s);
		return r;
	}
	reserve_make(s);
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

/* ---- transactions, integrity --------------------------------------------- */

static int run_plain(struct store *s, enum store_stmt id, struct err *e, const char *what)
{
	return store_run(s, s->st[id], 0, e, what, 0);
}

int store_begin(struct store *s, struct err *e)
{
	return run_plain(s, ST_BEGIN, e, "begin");
}

int store_commit(struct store *s, struct err *e)
{
	return run_plain(s, ST_COMMIT, e, "commit");
}

int store_rollback(struct store *s)
{
	if (sqlite3_get_autocommit(s->db))
		return 0; /* none open, or SQLite already rolled it back after an error */
	return run_plain(s, ST_ROLLBACK, NULL, "rollback");
}

int store_integrity_ok(struct store *s, struct err *e)
{
	sqlite3_stmt *st = s->st[ST_INTEGRITY];
	int r = 0, rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		r = store_fail(s, rc, e, "integrity_check");
	else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		r = err_set(e, ERR_IO, "store: integrity_check: %s", sqlite3_column_text(st, 0));
	return store_reset(st, r);
}

