/*
 * test_json_text.c — where a JSON document a person wrote goes wrong
 * (common/json_text.h): line and column, counted in characters, and what was
 * there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"

static void located(const char *text, const char *want)
{
	char msg[128] = "";
	cJSON *v = json_parse_located(text, msg, sizeof msg);
	assert_null(v);
	assert_string_equal(msg, want);
}

static void test_errors_say_where(void **state)
{
	(void)state;
	located("{\n  \"train\": {\"epochs\": 3,}\n}",
		"line 2, column 26: not valid after '\"train\": {\"epochs\": 3,}'");
	located("{\n \"name\": \"x\"\n \"seed\": 1}",
		"line 3, column 2: unexpected '\"' (a comma missing before it?)");
	located("{\"a\": 1", "line 1, column 8: the text ends too early");
	located("", "line 1, column 1: the text ends too early");
	located("{\"é\": tru}", "line 1, column 7: not valid after '{\"é\":'"); /* é: one column */
	located("{} x", "line 1, column 4: not valid after '{}'");
}

static void test_good_json_parses(void **state)
{
	(void)state;
	char msg[64] = "untouched";
	cJSON *v = json_parse_located(" {\"a\": [1, 2]}\n", msg, sizeof msg);
	assert_non_null(v);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(v, "a")), 2);
	assert_string_equal(msg, "untouched");
	cJSON_Delete(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors_say_where),
		cmocka_unit_test(test_good_json_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
