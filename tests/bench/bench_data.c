/*
 * bench_data.c — the data pipeline alone: decode + augment throughput of the
 * training loader (daemon/data/loader.c) for a job spec, with nothing
 * consuming the batches. One JSON line per run.
 *
 *   bench_data [--preset NAME] [--set PATH=VALUE]... [--threads N] [--dct 0|1]
 *              [--min-time S] [--label TEXT]
 *
 * The spec (defaults ← preset ← sets) gives the data set, the batch, the
 * output size and both views' augmentations, as byol-train would use them;
 * --threads is the loader's threads, --dct 0 turns DCT-domain scaling off.
 * After one warm-up batch, batches are taken until min-time (default 3 s)
 * has passed: img_s counts source images (each gives both views), and
 * img_s_per_thread is img_s / threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/dataset.h"
#include "data/loader.h"
#include "engine/engine.h"
#include "spec.h"

#define MAX_SETS 32

struct options {
	const char *preset, *label;
	const char *sets[MAX_SETS];
	int n_sets, threads, dct;
	double min_time;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_data [--preset NAME] [--set PATH=VALUE]... [--threads N] "
		"[--dct 0|1] [--min-time S] [--label TEXT]\n");
	return 64;
}

static int parse(struct options *o, int argc, char **argv)
{
	*o = (struct options){ .threads = 1, .dct = 1, .min_time = 3, .label = "" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return -1;
		if (strcmp(a, "--preset") == 0)
			o->preset = v;
		else if (strcmp(a, "--set") == 0 && o->n_sets < MAX_SETS)
			o->sets[o->n_sets++] = v;
		else if (strcmp(a, "--threads") == 0)
			o->threads = atoi(v);
		else if (strcmp(a, "--dct") == 0)
			o->dct = atoi(v);
		else if (strcmp(a, "--min-time") == 0)
			o->min_time = atof(v);
		else if (strcmp(a, "--label") == 0)
			o->label = v;
		else
			return -1;
		i++;
	}
	return o->threads >= 1 && o->threads <= 64 && o->min_time > 0 ? 0 : -1;
}

/* Take batches from l until min_time has passed after a warm-up one; images per second. */
static int measure(struct loader *l, int batch, double min_time, double *img_s, long *steps)
{
	struct loader_batch b;
	struct err e;
	if (loader_next(l, &b, &e)) {
		fprintf(stderr, "bench_data: %s\n", e.msg);
		return -1;
	}
	loader_release(l);
	double t0 = now_s(), t = t0;
	for (*steps = 0; t - t0 < min_time; ++*steps, t = now_s()) {
		if (loader_next(l, &b, &e)) {
			fprintf(stderr, "bench_data: %s\n", e.msg);
			return -1;
		}
		loader_release(l);
	}
	*img_s = (double)*steps * batch / (t - t0);
	return 0;
}

static int run(const struct options *o, const struct spec *s)
{
	struct dataset_config dc;
	struct dataset *ds;
	struct loader *l;
	struct loader_config lc;
	struct err e;
	if (dataset_config_of(&dc, &s->data) || dataset_open(&ds, &dc, &e)) {
		fprintf(stderr, "bench_data: data: %s\n", e.msg);
		return 1;
	}
	engine_loader_config(s, ds, o->threads, &lc);
	lc.dct_scale = o->dct;
	if (loader_start(&l, &lc, 0, &e)) {
		fprintf(stderr, "bench_data: %s\n", e.msg);
		dataset_free(ds);
		return 1;
	}
	double img_s = 0;
	long steps = 0;
	int rc = measure(l, lc.batch, o->min_time, &img_s, &steps);
	loader_stop(l);
	if (!rc)
		printf("{\"label\":\"%s\",\"format\":\"%s\",\"image_size\":%d,\"batch\":%d,"
		       "\"threads\":%d,\"dct_scale\":%d,\"steps\":%ld,\"img_s\":%.1f,"
		       "\"img_s_per_thread\":%.1f}\n", o->label, s->data.format, lc.size, lc.batch,
		       o->threads, o->dct, steps, img_s, img_s / o->threads);
	dataset_free(ds);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct options o;
	if (parse(&o, argc, argv))
		return usage();
	struct spec_input in = { .preset = o.preset, .set_strings = o.sets,
				 .n_set_strings = o.n_sets };
	struct spec_error err;
	struct spec s;
	if (spec_resolve(&s, NULL, &in, &err)) {
		fprintf(stderr, "bench_data: bad spec: %s: %s\n", err.field, err.reason);
		return 64;
	}
	return run(&o, &s);
}
