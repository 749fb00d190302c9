/*
 * test_rpc_frame.c — JSON-RPC line framing (common/rpc_frame.h): splits,
 * \r\n, empty lines, the cap exactly and one over, an endless line at
 * bounded memory, and changing the cap (NUL bytes reaching the dispatch:
 * test_rpc.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_frame.h"

/* ---- framing ------------------------------------------------------------ */

struct lines {
	int n;
	char got[64][128];
	size_t len[64];
};

static void on_line(void *ctx, char *line, size_t len)
{
	struct lines *l = ctx;
	assert_true(l->n < 64 && len < 128);
	assert_int_equal(line[len], '\0');
	memcpy(l->got[l->n], line, len + 1);
	l->len[l->n++] = len;
}

static struct rpc_framer *framer(size_t max)
{
	struct rpc_framer *f;
	struct err e;
	assert_int_equal(rpc_framer_init(&f, max, &e), 0);
	return f;
}

static void feed(struct rpc_framer *f, const char *s, struct lines *l)
{
	assert_int_equal(rpc_framer_feed(f, s, strlen(s), on_line, l), 0);
}

static void test_frame_split_and_many(void **state)
{
	(void)state;
	struct rpc_framer *f = framer(0);
	struct lines l = { 0 };
	const char *text = "{\"a\":1}\n[2,3]\r\n\n\r\n\"x\"\n";
	feed(f, "{\"a\"", &l);
	assert_int_equal(l.n, 0);
	assert_int_equal(rpc_framer_buffered(f), 4);
	feed(f, ":1}\n[2", &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.got[0], "{\"a\":1}");
	feed(f, ",3]\r", &l);
	feed(f, "\n\n\r\n\"x\"\n", &l); /* empty lines, with or without \r, are ignored */
	assert_int_equal(l.n, 3);
	assert_string_equal(l.got[1], "[2,3]");
	assert_int_equal(l.len[1], 5);
	assert_string_equal(l.got[2], "\"x\"");
	assert_int_equal(rpc_framer_feed(f, "", 0, on_line, &l), 0); /* nread 0: nothing */
	assert_int_equal(rpc_framer_buffered(f), 0);
	/* the same text a byte at a time gives the same lines */
	struct lines m = { 0 };
	for (const char *p = text; *p; p++)
		assert_int_equal(rpc_framer_feed(f, p, 1, on_line, &m), 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.got[0], "{\"a\":1}");
	assert_string_equal(m.got[2], "\"x\"");
	/* many lines in one feed; only the last "\r" of a line goes */
	struct lines k = { 0 };
	feed(f, "1\n2\n3\n4\r\r\n5\n6", &k);
	assert_int_equal(k.n, 5);
	assert_string_equal(k.got[3], "4\r");
	assert_int_equal(rpc_framer_buffered(f), 1);
	rpc_framer_free(f);
	rpc_framer_free(NULL);
}

static void test_frame_cap(void **state)
{
	(void)state;
	struct rpc_framer *f = framer(16);
	struct lines l = { 0 };
	feed(f, "0123456789abcdef\n", &l); /* exactly 16 bytes: delivered */
	feed(f, "0123456789abcde\r\n", &l); /* 16 with the \r */
	assert_int_equal(l.n, 2);
	assert_int_equal(l.len[0], 16);
	assert_int_equal(l.len[1], 15);
	assert_true(rpc_framer_allocated(f) <= 17);
	/* a line before the long one in the same feed is delivered; then oversize */
	assert_int_equal(rpc_framer_feed(f, "ok\n0123456789abcdefX", 20, on_line, &l),
			 RPC_FRAME_OVERSIZE);
	assert_int_equal(l.n, 3);
	assert_int_equal(rpc_framer_buffered(f), 0);
	assert_int_equal(rpc_framer_allocated(f), 0);
	/* sticky: later bytes are dropped */
	assert_int_equal(rpc_framer_feed(f, "\n1\n", 3, on_line, &l), RPC_FRAME_OVERSIZE);
	assert_int_equal(l.n, 3);
	rpc_framer_free(f);
	/* over the cap counted across feeds, without waiting for "\n" */
	f = framer(16);
	feed(f, "0123456789", &l);
	feed(f, "abcdef", &l);
	assert_int_equal(rpc_framer_feed(f, "g", 1, on_line, &l), RPC_FRAME_OVERSIZE);
	rpc_framer_free(f);
	/* 16 bytes + \r\n is 17 before "\n": over */
	f = framer(16);
	assert_int_equal(rpc_framer_feed(f, "0123456789abcdef\r\n", 18, on_line, &l),
			 RPC_FRAME_OVERSIZE);
	rpc_framer_free(f);
}

static void test_frame_endless_line(void **state)
{
	(void)state;
	const size_t cap = 64 * 1024;
	struct rpc_framer *f = framer(cap);
	struct lines l = { 0 };
	char chunk[1024];
	int rc = 0;
	size_t i;
	memset(chunk, 'a', sizeof chunk);
	for (i = 0; i < 10 * 1024 && rc == 0; i++) { /* 10 MiB, no "\n" */
		rc = rpc_framer_feed(f, chunk, sizeof chunk, on_line, &l);
		assert_true(rpc_framer_buffered(f) <= cap);
		assert_true(rpc_framer_allocated(f) <= cap + 1);
	}
	assert_int_equal(rc, RPC_FRAME_OVERSIZE);
	assert_int_equal(i, cap / sizeof chunk + 1);
	for (; i < 10 * 1024; i++) {
		assert_int_equal(rpc_framer_feed(f, chunk, sizeof chunk, on_line, &l),
				 RPC_FRAME_OVERSIZE);
		assert_int_equal(rpc_framer_allocated(f), 0);
	}
	assert_int_equal(l.n, 0);
	rpc_framer_free(f);
}

static void on_line_count(void *ctx, char *line, size_t len)
{
	size_t *total = ctx;
	assert_int_equal(line[len], '\0');
	*total += len;
}

static void test_frame_memory_released(void **state)
{
	(void)state;
	struct rpc_framer *f = framer(0);
	struct lines l = { 0 };
	size_t n = 200 * 1024, total = 0;
	char *big = malloc(n);
	memset(big, ' ', n);
	big[n - 1] = '\n';
	assert_int_equal(rpc_framer_feed(f, big, n, on_line_count, &total), 0);
	assert_int_equal(total, n - 1);
	assert_int_equal(rpc_framer_allocated(f), 0); /* a line over 64 KiB gives its buffer back */
	feed(f, "{}", &l);
	assert_true(rpc_framer_allocated(f) <= 256);
	free(big);
	rpc_framer_free(f);
}

static void test_frame_init_and_set_max(void **state)
{
	(void)state;
	struct rpc_framer *f;
	struct err e;
	struct lines l = { 0 };
	assert_int_equal(rpc_framer_init(&f, (size_t)2 << 30, &e), ERR_RANGE);
	assert_null(f);
	f = framer(0); /* default 1 MiB: exactly that is a line, one more byte is not */
	size_t total = 0, max = RPC_MAX_LINE_DEFAULT;
	char *line = malloc(max + 2);
	memset(line, '1', max + 1);
	line[max] = '\n';
	assert_int_equal(rpc_framer_feed(f, line, max + 1, on_line_count, &total), 0);
	assert_int_equal(total, max);
	line[max] = '1';
	line[max + 1] = '\n';
	assert_int_equal(rpc_framer_feed(f, line, max + 2, on_line_count, &total),
			 RPC_FRAME_OVERSIZE);
	assert_int_equal(total, max);
	rpc_framer_free(f);
	free(line);
	/* before auth a small cap, raised after; a partial line past a lowered cap is refused */
	f = framer(0);
	rpc_framer_set_max_line(f, 8);
	assert_int_equal(rpc_framer_feed(f, "123456789", 9, on_line, &l), RPC_FRAME_OVERSIZE);
	rpc_framer_free(f);
	f = framer(0);
	rpc_framer_set_max_line(f, 8);
	feed(f, "12345678\n", &l);
	rpc_framer_set_max_line(f, 0);
	feed(f, "123456789012345\n", &l);
	assert_int_equal(l.n, 2);
	feed(f, "1234567890", &l);
	rpc_framer_set_max_line(f, 8);
	assert_int_equal(rpc_framer_feed(f, "\n", 1, on_line, &l), RPC_FRAME_OVERSIZE);
	rpc_framer_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_split_and_many),
		cmocka_unit_test(test_frame_cap),
		cmocka_unit_test(test_frame_endless_line),
		cmocka_unit_test(test_frame_memory_released),
		cmocka_unit_test(test_frame_init_and_set_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
