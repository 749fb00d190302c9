/*
 * fuzz_spec.c — libFuzzer target for the job spec resolver (common/spec.c),
 * Reliability test 14.
 *
 * Input: a flag byte, then up to three parts separated by NUL bytes: JSON
 * text for the spec object, JSON text for the `set` object, and set strings
 * ("path=value"), one a line. Flag bits 0-1 pick the preset: none,
 * fmnist-quick, fmnist-convnet or an unknown name. Text that is not JSON is
 * passed as no source. A failure must be ERR_INVALID (or ERR_NOMEM) with a
 * reason and a zeroed struct; a resolved spec must survive the round trip
 * spec.h promises: printed, parsed and resolved again on its own, it gives
 * the same struct.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "spec.h"

#define MAX_SET_STRINGS 16

static const char *const presets[] = { NULL, "fmnist-quick", "fmnist-convnet", "fmnist" };
static const struct spec zero; /* what a failed resolve leaves */

/* The next NUL-separated part of [*p, end) as a NUL-terminated copy. */
static char *next_part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	size_t n = (size_t)((nul ? nul : end) - *p);
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, *p, n);
	s[n] = '\0';
	*p = nul ? nul + 1 : end;
	return s;
}

/* Split text at newlines, in place, into at most MAX_SET_STRINGS strings. */
static int split_lines(char *text, const char *out[MAX_SET_STRINGS])
{
	int n = 0;
	for (char *s = text; *s && n < MAX_SET_STRINGS;) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = '\0';
		out[n++] = s;
		if (!nl)
			break;
		s = nl + 1;
	}
	return n;
}

/* A rejection: ERR_INVALID (or ERR_NOMEM) with a reason, no JSON, a zeroed struct. */
static void check_rejection(int rc, const cJSON *resolved, const struct spec *s,
			    const struct spec_error *err)
{
	if ((rc != ERR_INVALID && rc != ERR_NOMEM) || resolved || !err->reason[0] ||
	    memcmp(s, &zero, sizeof *s) != 0)
		abort();
}

/* Print the resolved spec, parse it and resolve it alone: the same struct. */
static void check_round_trip(const struct spec *s, const cJSON *resolved)
{
	char *text = resolved ? cJSON_PrintUnformatted(resolved) : NULL;
	cJSON *again = text ? cJSON_Parse(text) : NULL;
	struct spec t;
	struct spec_error err;
	struct spec_input in = { .spec = again };
	if (!again)
		abort();
	memset(&t, 0, sizeof t);
	if (spec_resolve(&t, NULL, &in, &err) != 0 || memcmp(s, &t, sizeof t) != 0)
		abort();
	cJSON_Delete(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sets[MAX_SET_STRINGS];
	struct spec s;
	struct spec_error err;
	cJSON *resolved = NULL;
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1, *end = data + size;
	char *spec_text = next_part(&p, end), *set_text = next_part(&p, end);
	char *lines = next_part(&p, end);
	struct spec_input in = {
		.preset = presets[data[0] & 3],
		.spec = cJSON_Parse(spec_text),
		.set = cJSON_Parse(set_text),
		.set_strings = sets,
	};
	in.n_set_strings = split_lines(lines, sets);

	memset(&s, 0, sizeof s);
	int rc = spec_resolve(&s, &resolved, &in, &err);
	if (rc == 0)
		check_round_trip(&s, resolved);
	else
		check_rejection(rc, resolved, &s, &err);
	cJSON_Delete(resolved);
	cJSON_Delete((cJSON *)in.spec);
	cJSON_Delete((cJSON *)in.set);
	free(spec_text);
	free(set_text);
	free(lines);
	return 0;
}
