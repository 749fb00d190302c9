/*
 * test_config.c — byold's configuration: the defaults, every key from a file,
 * the example config, each rejection (unknown key, wrong type, out of range
 * at both bounds, bad JSON, not an object, missing or oversized file) naming
 * its key, flags over the file, the checks across keys, what a reload may
 * change and what waits for a restart, and --help listing every key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/config.h"

#define LEN(a) (sizeof(a) / sizeof *(a))
#define MIB ((size_t)1 << 20)

static char dir[] = "/tmp/test_config.XXXXXX";
static char path[256]; /* the file write_config wrote */

static int make_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

/* Write text as the config file; returns its path. */
static const char *write_config(const char *text)
{
	snprintf(path, sizeof path, "%s/byold.conf.json", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Load text over the defaults; returns the error code, the message in e. */
static int load_text(struct byold_config *c, const char *text, struct err *e)
{
	config_defaults(c);
	*e = (struct err){ 0 };
	return config_load_file(c, write_config(text), e);
}

/* Assert that text is rejected with a message naming key and containing what. */
static void assert_rejected(const char *text, const char *key, const char *what)
{
	struct byold_config c;
	struct err e;
	if (load_text(&c, text, &e) == 0)
		fail_msg("accepted: %s", text);
	if (!strstr(e.msg, key) || !strstr(e.msg, what))
		fail_msg("%s: message \"%s\" lacks \"%s\" or \"%s\"", text, e.msg, key, what);
}

static void test_defaults(void **state)
{
	(void)state;
	struct byold_config c;
	config_defaults(&c);
	assert_string_equal(c.state_dir, "");
	assert_string_equal(c.socket, "");
	assert_string_equal(c.listen, "");
	assert_int_equal(c.workers, 1);
	assert_int_equal(c.threads, 0);
	assert_int_equal(c.max_clients, 1024);
	assert_int_equal(c.max_line_bytes, MIB);
	assert_true(c.idle_timeout_s == 600);
	assert_int_equal(c.max_output_bytes, 64 * MIB);
	assert_int_equal(c.output_soft_bytes, MIB);
	assert_true(c.output_soft_s == 60);
	struct err e = { 0 };
	assert_int_equal(config_validate(&c, &e), 0);
}

static void test_every_key(void **state)
{
	(void)state;
	struct byold_config c;
	struct err e;
	int rc = load_text(&c,
			   "{\"state-dir\": \"/srv/byold\", \"socket\": \"/run/b.sock\","
			   " \"listen\": \"127.0.0.1:7070\", \"workers\": 2, \"threads\": 8,"
			   " \"max_clients\": 10, \"max_line_bytes\": 4096, \"idle_timeout_s\": 0.5,"
			   " \"max_output_bytes\": 1048576, \"output_soft_bytes\": 65536,"
			   " \"output_soft_s\": 5}",
			   &e);
	if (rc)
		fail_msg("%s", e.msg);
	assert_string_equal(c.state_dir, "/srv/byold");
	assert_string_equal(c.socket, "/run/b.sock");
	assert_string_equal(c.listen, "127.0.0.1:7070");
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.threads, 8);
	assert_int_equal(c.max_clients, 10);
	assert_int_equal(c.max_line_bytes, 4096);
	assert_true(c.idle_timeout_s == 0.5);
	assert_int_equal(c.max_output_bytes, MIB);
	assert_int_equal(c.output_soft_bytes, 65536);
	assert_true(c.output_soft_s == 5);
	assert_int_equal(config_validate(&c, &e), 0);
	/* An empty object keeps the defaults. */
	assert_int_equal(load_text(&c, "{}", &e), 0);
	assert_int_equal(c.max_clients, 1024);
}

/* The example shipped in systemd/ (the tests run from the top of the tree). */
static void test_example_config(void **state)
{
	(void)state;
	struct byold_config c;
	struct err e = { 0 };
	char *argv[] = { "byold", NULL };
	if (config_load(&c, "systemd/byold.conf.json", 1, argv, &e))
		fail_msg("%s", e.msg);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	assert_rejected("{\"max_clients\": 5, \"maxclients\": 5}", "maxclients", "unknown key");
	assert_rejected("{\"state_dir\": \"/x\"}", "state_dir", "unknown key");
	assert_rejected("{\"config\": \"/x\"}", "config", "unknown key");
}

static void test_wrong_types(void **state)
{
	(void)state;
	static const struct { const char *text, *key; } cases[] = {
		{ "{\"max_clients\": \"10\"}", "max_clients" },
		{ "{\"max_clients\": true}", "max_clients" },
		{ "{\"max_clients\": null}", "max_clients" },
		{ "{\"max_line_bytes\": [4096]}", "max_line_bytes" },
		{ "{\"idle_timeout_s\": \"600\"}", "idle_timeout_s" },
		{ "{\"workers\": 1.5}", "workers" },
		{ "{\"socket\": 5}", "socket" },
		{ "{\"listen\": {\"host\": \"x\"}}", "listen" },
	};
	for (size_t i = 0; i < LEN(cases); i++)
		assert_rejected(cases[i].text, cases[i].key, "expected");
	/* Integers may be written with an exponent. */
	struct byold_config c;
	struct err e;
	assert_int_equal(load_text(&c, "{\"max_output_bytes\": 1e6}", &e), 0);
	assert_int_equal(c.max_output_bytes, 1000000);
}

static void test_bounds(void **state)
{
	(void)state;
	static const struct { const char *key; double lo, hi; } cases[] = {
		{ "workers", 1, 64 },
		{ "threads", 0, 1024 },
		{ "max_clients", 1, 100000 },
		{ "max_line_bytes", 1024, 64 * 1048576.0 },
		{ "idle_timeout_s", 0, 86400 },
		{ "max_output_bytes", 65536, 1073741824.0 },
		{ "output_soft_bytes", 4096, 1073741824.0 },
		{ "output_soft_s", 1, 86400 },
	};
	char text[128];
	struct byold_config c;
	struct err e;
	for (size_t i = 0; i < LEN(cases); i++) {
		double ok[] = { cases[i].lo, cases[i].hi }, bad[] = { cases[i].lo - 1, cases[i].hi + 1 };
		for (int j = 0; j < 2; j++) {
			snprintf(text, sizeof text, "{\"%s\": %.17g}", cases[i].key, ok[j]);
			if (load_text(&c, text, &e))
				fail_msg("%s: %s", text, e.msg);
			snprintf(text, sizeof text, "{\"%s\": %.17g}", cases[i].key, bad[j]);
			assert_rejected(text, cases[i].key, "out of range");
		}
	}
}

static void test_bad_files(void **state)
{
	(void)state;
	struct byold_config c;
	struct err e;
	assert_int_not_equal(load_text(&c, "{\"max_clients\": 5,}", &e), 0);
	assert_non_null(strstr(e.msg, "not valid JSON"));
	assert_int_not_equal(load_text(&c, "[1, 2]", &e), 0);
	assert_non_null(strstr(e.msg, "JSON object"));
	assert_int_not_equal(load_text(&c, "", &e), 0);
	assert_int_equal(config_load_file(&c, "/nonexistent/byold.conf.json", &e), ERR_IO);
	assert_non_null(strstr(e.msg, "/nonexistent/byold.conf.json"));
	/* Over 1 MiB: refused before parsing. */
	char *big = malloc(MIB + 16);
	assert_non_null(big);
	memset(big, ' ', MIB + 15);
	big[0] = '{';
	memcpy(big + MIB + 13, "}", 2);
	assert_int_equal(load_text(&c, big, &e), ERR_RANGE);
	free(big);
	/* A string longer than its field. */
	char text[300];
	snprintf(text, sizeof text, "{\"listen\": \"%0260d:1\"}", 0);
	assert_rejected(text, "listen", "longer than");
}

static void test_flags(void **state)
{
	(void)state;
	struct byold_config c;
	struct err e = { 0 };
	const char *conf = write_config("{\"workers\": 3, \"max_clients\": 7, \"threads\": 2}");
	char *argv[] = { "byold", "--workers", "5", "--config", (char *)conf, "--socket", "/tmp/s",
			 NULL };
	const char *found = NULL;
	config_defaults(&c);
	assert_int_equal(config_apply_flags(&c, 7, argv, &found, &e), CONFIG_RUN);
	assert_string_equal(found, conf);
	if (config_load(&c, found, 7, argv, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(c.workers, 5);     /* the flag wins */
	assert_int_equal(c.max_clients, 7); /* from the file */
	assert_int_equal(c.threads, 2);
	assert_string_equal(c.socket, "/tmp/s");

	char *help[] = { "byold", "--workers", "2", "--help", NULL };
	char *version[] = { "byold", "--version", "--bogus", NULL };
	assert_int_equal(config_apply_flags(&c, 4, help, NULL, &e), CONFIG_HELP);
	assert_int_equal(config_apply_flags(&c, 3, version, NULL, &e), CONFIG_VERSION);

	static const struct { const char *a, *v, *what; } bad[] = {
		{ "--workers", "0", "out of range" },
		{ "--workers", "two", "expected a number" },
		{ "--threads", "1.5", "expected an integer" },
		{ "--max_clients", "5", "unknown option" }, /* limits are file keys only */
		{ "--bogus", "1", "unknown option" },
		{ "workers", "1", "unknown option" },
	};
	for (size_t i = 0; i < LEN(bad); i++) {
		char *args[] = { "byold", (char *)bad[i].a, (char *)bad[i].v, NULL };
		assert_true(config_apply_flags(&c, 3, args, NULL, &e) < 0);
		if (!strstr(e.msg, bad[i].a) || !strstr(e.msg, bad[i].what))
			fail_msg("%s %s: \"%s\"", bad[i].a, bad[i].v, e.msg);
	}
	char *missing[] = { "byold", "--state-dir", NULL };
	assert_true(config_apply_flags(&c, 2, missing, NULL, &e) < 0);
	assert_non_null(strstr(e.msg, "needs a value"));
}

static void test_validate(void **state)
{
	(void)state;
	struct byold_config c;
	struct err e = { 0 };
	config_defaults(&c);
	c.output_soft_bytes = c.max_output_bytes + 1;
	assert_int_not_equal(config_validate(&c, &e), 0);
	assert_non_null(strstr(e.msg, "output_soft_bytes"));
	static const char *const bad[] = { "7070", ":7070", "localhost:", "h:70x", "h:65536",
					   "h:123456" };
	static const char *const good[] = { "127.0.0.1:0", "::1:7070", "0.0.0.0:65535" };
	for (size_t i = 0; i < LEN(bad); i++) {
		config_defaults(&c);
		strcpy(c.listen, bad[i]);
		if (config_validate(&c, &e) == 0)
			fail_msg("listen \"%s\" accepted", bad[i]);
		assert_non_null(strstr(e.msg, "listen"));
	}
	for (size_t i = 0; i < LEN(good); i++) {
		config_defaults(&c);
		strcpy(c.listen, good[i]);
		assert_int_equal(config_validate(&c, &e), 0);
	}
	/* config_load validates what the file and flags made. */
	char *argv[] = { "byold", NULL };
	const char *conf = write_config("{\"max_output_bytes\": 65536, \"output_soft_bytes\": 131072}");
	assert_int_not_equal(config_load(&c, conf, 1, argv, &e), 0);
	assert_non_null(strstr(e.msg, "output_soft_bytes"));
}

static void test_runtime_changes(void **state)
{
	(void)state;
	struct byold_config cur, next;
	char restart[128];
	config_defaults(&cur);
	config_defaults(&next);
	config_apply_runtime(&cur, &next, restart, sizeof restart);
	assert_string_equal(restart, "");
	next.max_clients = 2;
	next.idle_timeout_s = 1;
	next.max_line_bytes = 2048;
	next.max_output_bytes = 128 * 1024;
	next.output_soft_bytes = 64 * 1024;
	next.output_soft_s = 3;
	next.workers = 4;
	strcpy(next.listen, "127.0.0.1:1");
	strcpy(next.state_dir, "/elsewhere");
	config_apply_runtime(&cur, &next, restart, sizeof restart);
	assert_string_equal(restart, "state-dir, listen, workers");
	assert_int_equal(cur.max_clients, 2);
	assert_true(cur.idle_timeout_s == 1);
	assert_int_equal(cur.max_line_bytes, 2048);
	assert_int_equal(cur.max_output_bytes, 128 * 1024);
	assert_int_equal(cur.output_soft_bytes, 64 * 1024);
	assert_true(cur.output_soft_s == 3);
	assert_int_equal(cur.workers, 1); /* kept until a restart */
	assert_string_equal(cur.listen, "");
	assert_string_equal(cur.state_dir, "");
	/* A short buffer is cut, never overrun. */
	char tiny[8];
	config_apply_runtime(&cur, &next, tiny, sizeof tiny);
	assert_true(strlen(tiny) < sizeof tiny);
}

static void test_usage(void **state)
{
	(void)state;
	char *text = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&text, &n);
	assert_non_null(f);
	config_usage(f);
	fclose(f);
	static const char *const expect[] = {
		"--config FILE", "--state-dir DIR", "--socket PATH", "--listen HOST:PORT",
		"--workers N", "--threads N", "--version", "--help", "max_clients", "max_line_bytes",
		"idle_timeout_s", "max_output_bytes", "output_soft_bytes", "output_soft_s",
		"1..100000, default 1024", "1 KiB..64 MiB, default 1 MiB", "0..86400, default 600",
		"64 KiB..1 GiB, default 64 MiB", "1..64, default 1",
	};
	for (size_t i = 0; i < LEN(expect); i++)
		if (!strstr(text, expect[i]))
			fail_msg("--help lacks \"%s\":\n%s", expect[i], text);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_runtime_changes),
		cmocka_unit_test(test_usage),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
