/*
 * test_web_session.c — the dashboard's sessions (daemon/web/session.h): fresh
 * random secrets, lookup by id only, idle expiry, the least recently used
 * session making room, CSRF checks, and the failed-login window.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "web/session.h"

static struct web_sessions w;

static int setup(void **state)
{
	(void)state;
	web_sessions_init(&w, 100.0);
	return 0;
}

static void test_open_find_close(void **state)
{
	(void)state;
	const struct web_session *a = web_session_open(&w, 0), *b = web_session_open(&w, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(strlen(a->id), WEB_SECRET_LEN);
	assert_int_equal(strspn(a->id, "0123456789abcdef"), WEB_SECRET_LEN);
	assert_string_not_equal(a->id, b->id);
	assert_string_not_equal(a->id, a->csrf);
	char id[WEB_SECRET_LEN + 1];
	memcpy(id, a->id, sizeof id);
	assert_ptr_equal(web_session_find(&w, id, 1), a);
	assert_null(web_session_find(&w, a->csrf, 1)); /* the CSRF token is not an id */
	assert_null(web_session_find(&w, "", 1));
	assert_null(web_session_find(&w, NULL, 1));
	id[5] ^= 1;
	assert_null(web_session_find(&w, id, 1));
	id[5] ^= 1;
	assert_true(web_csrf_ok(a, a->csrf));
	assert_false(web_csrf_ok(a, b->csrf));
	assert_false(web_csrf_ok(a, ""));
	assert_false(web_csrf_ok(NULL, a->csrf));
	web_session_close(&w, id);
	assert_null(web_session_find(&w, id, 1));
}

static void test_idle_sessions_end(void **state)
{
	(void)state;
	const struct web_session *a = web_session_open(&w, 0);
	char id[WEB_SECRET_LEN + 1];
	memcpy(id, a->id, sizeof id);
	assert_non_null(web_session_find(&w, id, 99)); /* used: idle from 99 on */
	assert_non_null(web_session_find(&w, id, 198));
	assert_null(web_session_find(&w, id, 298.5));
	assert_null(web_session_find(&w, id, 299)); /* and gone for good */
}

static void test_the_least_recently_used_makes_room(void **state)
{
	(void)state;
	char ids[WEB_SESSIONS_MAX + 1][WEB_SECRET_LEN + 1];
	for (int i = 0; i < WEB_SESSIONS_MAX; i++)
		memcpy(ids[i], web_session_open(&w, i)->id, WEB_SECRET_LEN + 1);
	assert_non_null(web_session_find(&w, ids[0], 70)); /* 0 is used again: 1 is the oldest */
	memcpy(ids[WEB_SESSIONS_MAX], web_session_open(&w, 71)->id, WEB_SECRET_LEN + 1);
	assert_null(web_session_find(&w, ids[1], 72));
	for (int i = 0; i <= WEB_SESSIONS_MAX; i++)
		if (i != 1)
			assert_non_null(web_session_find(&w, ids[i], 72));
}

static void test_failed_logins_wait_out_the_window(void **state)
{
	(void)state;
	const char *a = "10.0.0.1", *b = "10.0.0.2";
	for (int i = 0; i < WEB_LOGIN_FAILS - 1; i++) {
		web_login_failed(&w, a, 10 + i);
		assert_true(web_login_wait(&w, a, 10 + i) == 0);
	}
	web_login_failed(&w, a, 20); /* the fifth within the window */
	assert_true(web_login_wait(&w, a, 20) == WEB_LOGIN_WINDOW_S - 10);
	assert_true(web_login_wait(&w, b, 20) == 0); /* another address may still log in */
	assert_true(web_login_wait(&w, a, 10 + WEB_LOGIN_WINDOW_S) == 0); /* the first left it */
	web_login_failed(&w, a, 10 + WEB_LOGIN_WINDOW_S);
	assert_true(web_login_wait(&w, a, 10 + WEB_LOGIN_WINDOW_S) > 0); /* the second is 11 */
	assert_true(web_login_wait(&w, a, 1000) == 0);
}

/* More failing addresses than are remembered: the one that failed longest ago goes. */
static void test_failing_addresses_are_bounded(void **state)
{
	(void)state;
	char addr[32];
	for (int i = 0; i < WEB_LOGIN_PEERS + 1; i++) {
		snprintf(addr, sizeof addr, "10.1.%d.%d", i / 256, i % 256);
		for (int k = 0; k < WEB_LOGIN_FAILS; k++)
			web_login_failed(&w, addr, i * 0.01 + k * 0.0001);
	}
	assert_true(web_login_wait(&w, "10.1.0.0", 10) == 0); /* forgotten */
	assert_true(web_login_wait(&w, "10.1.0.1", 10) > 0);
	snprintf(addr, sizeof addr, "10.1.%d.%d", WEB_LOGIN_PEERS / 256, WEB_LOGIN_PEERS % 256);
	assert_true(web_login_wait(&w, addr, 10) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open_find_close, setup),
		cmocka_unit_test_setup(test_idle_sessions_end, setup),
		cmocka_unit_test_setup(test_the_least_recently_used_makes_room, setup),
		cmocka_unit_test_setup(test_failed_logins_wait_out_the_window, setup),
		cmocka_unit_test_setup(test_failing_addresses_are_bounded, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
