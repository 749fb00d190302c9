/*
 * ref_util.h — shared helpers of the tests against PyTorch reference files
 * (written by tests/ref/gen_*.py into $BUILD/ref, read with safetensors.h).
 */
#ifndef BYOL_REF_UTIL_H
#define BYOL_REF_UTIL_H

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "safetensors.h"

/* Directory of one kind of reference case: $BUILD/ref/<sub> (BUILD defaults to build). */
static inline void ref_dir(char *out, size_t cap, const char *sub)
{
	const char *build = getenv("BUILD");
	snprintf(out, cap, "%s/ref/%s", build && *build ? build : "build", sub);
}

static int ref_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted full paths of the .safetensors files in dir; returns the count (-1 on error). */
static inline int ref_list(const char *dir, char ***out)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	char **paths = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 12 || strcmp(de->d_name + len - 12, ".safetensors") != 0)
			continue;
		paths = realloc(paths, sizeof *paths * (size_t)(n + 1));
		size_t cap = strlen(dir) + len + 2;
		paths[n] = malloc(cap);
		snprintf(paths[n++], cap, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	qsort(paths, (size_t)n, sizeof *paths, ref_cmp_names);
	*out = paths;
	return n;
}

/* Copy tensor `name` (F32, or I64 converted) of exactly n elements into dst; 0 or -1. */
static inline int ref_copy(float *dst, const struct st_file *f, const char *name, size_t n)
{
	const struct st_tensor *t = st_find(f, name);
	if (!t) {
		fprintf(stderr, "reference tensor %s missing\n", name);
		return -1;
	}
	const unsigned char *p = st_tensor_data(f, t);
	size_t size = st_dtype_size(t->dtype);
	if ((t->dtype != ST_F32 && t->dtype != ST_I64) || t->nbytes != n * size) {
		fprintf(stderr, "reference tensor %s: %s of %zu bytes, want %zu elements\n", name,
			st_dtype_name(t->dtype), t->nbytes, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (t->dtype == ST_F32) {
			memcpy(&dst[i], p + 4 * i, 4);
		} else {
			int64_t v;
			memcpy(&v, p + 8 * i, 8);
			dst[i] = (float)v;
		}
	}
	return 0;
}

/* max|a − b| / max(max|b|, floor): the error measure of the reference checks. */
static inline double ref_error_floor(const float *a, const float *b, size_t n, double floor)
{
	double num = 0, den = floor > 1e-30 ? floor : 1e-30;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		num = d > num || isnan(d) ? d : num;
		den = fmax(den, fabs(b[i]));
	}
	return num / den;
}

/* ‖a − b‖ / max(‖b‖, floor): robust to a few outlying elements. */
static inline double ref_error_l2(const float *a, const float *b, size_t n, double floor)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < n; i++) {
		double d = (double)a[i] - b[i];
		num += d * d;
		den += (double)b[i] * b[i];
	}
	return sqrt(num) / fmax(sqrt(den), floor > 1e-30 ? floor : 1e-30);
}

/*
 * main of a reference test: run fn once per .safetensors file of $BUILD/ref/<sub>
 * (the path as the test's state). missing, if given, names what the file set
 * lacks (or returns NULL). Fails when there is nothing to run.
 */
static inline int ref_run_cases(const char *group, const char *sub, CMUnitTestFunction fn,
				const char *(*missing)(char **paths, int n))
{
	char dir[512], **paths;
	ref_dir(dir, sizeof dir, sub);
	int n = ref_list(dir, &paths);
	if (n <= 0) {
		fprintf(stderr, "no reference cases in %s (run make test)\n", dir);
		return 1;
	}
	const char *lack = missing ? missing(paths, n) : NULL;
	int rc = 1;
	struct CMUnitTest *tests = calloc((size_t)n, sizeof *tests);
	if (lack) {
		fprintf(stderr, "no %s case in %s (run make test)\n", lack, dir);
	} else {
		for (int i = 0; i < n; i++)
			tests[i] = (struct CMUnitTest){ .name = strrchr(paths[i], '/') + 1,
							.test_func = fn,
							.initial_state = paths[i] };
		rc = _cmocka_run_group_tests(group, tests, (size_t)n, NULL, NULL);
	}
	for (int i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(tests);
	return rc;
}

#endif
