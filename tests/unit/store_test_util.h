/*
 * store_test_util.h — what the store's tests share: a fresh database per test
 * in its own mkdtemp directory (setup/teardown), rows added in one call, and
 * checks of result shapes and error fields.
 */
#ifndef BYOL_STORE_TEST_UTIL_H
#define BYOL_STORE_TEST_UTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"

static char dir[64], db_path[96];
static struct store *s;
static struct err e;

static inline int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/byol-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db_path, sizeof db_path, "%s/byold.db", dir);
	return store_open(&s, db_path, &e);
}

static inline int teardown(void **state)
{
	(void)state;
	char cmd[192];
	store_close(s);
	s = NULL;
	snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
	return system(cmd);
}

/* ---- helpers ------------------------------------------------------------- */

/* Run sql on a second connection to the database; the first column of the
 * first row as an integer (0 when there is none). */
static inline long long raw(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = 0;
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int rc = sqlite3_step(st);
	assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static inline long add_job(const char *name, const char *spec)
{
	long id = 0;
	assert_int_equal(store_job_insert(s, name, spec, 100, 0, &id, &e), 0);
	assert_true(id > 0);
	return id;
}

static inline void add_point(long job, long step, double loss)
{
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", "step");
	cJSON_AddNumberToObject(ev, "step", (double)step);
	cJSON_AddNumberToObject(ev, "epoch", (double)(step / 10));
	cJSON_AddNumberToObject(ev, "loss", loss);
	cJSON_AddNumberToObject(ev, "tau", 0.99);
	cJSON_AddNumberToObject(ev, "lr", 0.1);
	cJSON_AddNumberToObject(ev, "img_s", 1234.5);
	cJSON_AddNumberToObject(ev, "z_std", 0.02);
	cJSON_AddStringToObject(ev, "time", "2026-01-01T00:00:00.000Z");
	assert_int_equal(store_metric_insert(s, job, ev, &e), 0);
	cJSON_Delete(ev);
}

static const char sha_a[] __attribute__((unused)) = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char sha_b[] __attribute__((unused)) = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static inline long add_ckpt(long job, long step, const char *path)
{
	long id = 0;
	assert_int_equal(store_checkpoint_insert(s, job, step, 1, path, 4096, sha_a, &id, &e), 0);
	assert_true(id > 0);
	return id;
}

/* o has exactly these keys, in this order. */
static inline void assert_keys(const cJSON *o, const char *keys)
{
	char got[512] = "";
	assert_true(cJSON_IsObject(o));
	for (const cJSON *c = o->child; c; c = c->next) {
		strcat(got, c->string);
		strcat(got, c->next ? " " : "");
	}
	assert_string_equal(got, keys);
}

/* The values of field in the objects of array res[key], space separated. */
static inline const char *column(const cJSON *res, const char *key, const char *field)
{
	static char out[1024];
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(res, key), *it;
	out[0] = 0;
	assert_true(cJSON_IsArray(a));
	cJSON_ArrayForEach(it, a) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, field);
		char one[96];
		if (cJSON_IsNumber(v))
			snprintf(one, sizeof one, "%g", v->valuedouble);
		else if (cJSON_IsString(v))
			snprintf(one, sizeof one, "%s", v->valuestring);
		else
			snprintf(one, sizeof one, "null");
		strcat(out, out[0] ? " " : "");
		strcat(out, one);
	}
	return out;
}

static inline const cJSON *get(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	assert_non_null(v);
	return v;
}

static inline double num(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static inline const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = get(o, key);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

/* "2026-11-28T02:03:04.567Z" */
static inline void assert_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	assert_int_equal(strlen(t), strlen(shape));
	for (int i = 0; shape[i]; i++)
		if (shape[i] == 'd')
			assert_true(t[i] >= '0' && t[i] <= '9');
		else
			assert_int_equal(t[i], shape[i]);
}

static inline void assert_error(int rc, int code, const char *field)
{
	assert_int_equal(rc, code);
	assert_int_equal(e.code, code);
	if (field)
		assert_memory_equal(e.msg, field, strlen(field));
}

#endif
