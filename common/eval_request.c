/*
 * eval_request.c — requested evaluations, checked and resolved (see eval_request.h).
 */
#include "eval_request.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

#define SEED_MAX 999999999999999.0 /* as the spec's seed */
#define DEFAULT_LABELS 0.01

static const char *const kind_names[EVAL_KINDS] = {
	"knn", "linear", "knn_sweep", "finetune", "embed",
};

const char *eval_kind_name(enum eval_kind k)
{
	return k >= 0 && k < EVAL_KINDS ? kind_names[k] : "?";
}

int eval_kind_parse(const char *name, enum eval_kind *out)
{
	for (int k = 0; name && k < EVAL_KINDS; k++)
		if (!strcmp(name, kind_names[k]) || (k == EVAL_KNN_SWEEP && !strcmp(name, "knn-sweep"))) {
			*out = (enum eval_kind)k;
			return 0;
		}
	return -1;
}

static int read_kind(struct eval_request *r, const cJSON *o, int embed_only,
		     struct spec_error *err)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
	if (!k)
		r->kind = embed_only ? EVAL_EMBED : EVAL_KNN;
	else if (!cJSON_IsString(k) || eval_kind_parse(k->valuestring, &r->kind) != 0)
		return spec_fail(err, "kind", "must be \"knn\", \"linear\", \"knn_sweep\" or \"finetune\"");
	if (embed_only != (r->kind == EVAL_EMBED))
		return spec_fail(err, "kind", embed_only ? "job.embed writes features: kind \"embed\""
				       : "features are written by job.embed, not job.eval");
	return 0;
}

static int read_options(struct eval_request *r, const cJSON *o, const struct spec *job,
			struct spec_error *err)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from");
	const cJSON *seed = cJSON_GetObjectItemCaseSensitive(o, "seed");
	if (labels && r->kind != EVAL_FINETUNE)
		return spec_fail(err, "labels", "only fine-tuning (kind \"finetune\") takes labels");
	r->labels = job->eval.finetune_labels > 0 ? job->eval.finetune_labels : DEFAULT_LABELS;
	if (labels && (!cJSON_IsNumber(labels) || !spec_labels_ok(labels->valuedouble)))
		return spec_fail(err, "labels", "must be a fraction in (0, 1) or a whole number of "
			   "labelled images");
	if (labels)
		r->labels = labels->valuedouble;
	if (from && (!cJSON_IsString(from) || (strcmp(from->valuestring, "checkpoint") &&
					       strcmp(from->valuestring, "random"))))
		return spec_fail(err, "from", "must be \"checkpoint\" or \"random\"");
	r->from_random = from && !strcmp(from->valuestring, "random");
	if (seed && (!cJSON_IsNumber(seed) || seed->valuedouble < 0 ||
		     seed->valuedouble > SEED_MAX || seed->valuedouble != floor(seed->valuedouble)))
		return spec_fail(err, "seed", "must be a whole number in [0, 10^15)");
	r->seed = seed ? (uint64_t)seed->valuedouble : 0;
	return 0;
}

/* The job's spec with eval_data overridden by the request's object. */
static int resolve_data(struct spec *spec, char **spec_text, const cJSON *data,
			const char *job_spec, const char *field, struct spec_error *err)
{
	cJSON *base = cJSON_Parse(job_spec), *set = cJSON_CreateObject(), *json = NULL;
	if (!base || !set || !cJSON_AddItemToObject(set, "eval_data", cJSON_Duplicate(data, 1))) {
		cJSON_Delete(base);
		cJSON_Delete(set);
		spec_fail(err, field, "out of memory");
		return ERR_NOMEM;
	}
	struct spec_input in = { .spec = base, .set = set };
	int rc = spec_resolve(spec, spec_text ? &json : NULL, &in, err);
	if (rc && !strncmp(err->field, "eval_data", 9)) { /* name the request's field */
		char f[sizeof err->field];
		snprintf(f, sizeof f, "%s%s", field, err->field + 9);
		snprintf(err->field, sizeof err->field, "%s", f);
	}
	if (!rc && spec_text && !(*spec_text = cJSON_PrintUnformatted(json)))
		rc = (spec_fail(err, field, "out of memory"), ERR_NOMEM);
	cJSON_Delete(json);
	cJSON_Delete(base);
	cJSON_Delete(set);
	return rc;
}

int eval_request_parse(struct eval_request *r, struct spec *spec, char **spec_text,
		       const cJSON *o, const char *job_spec, int embed_only,
		       struct spec_error *err)
{
	memset(r, 0, sizeof *r);
	if (spec_text)
		*spec_text = NULL;
	const char *field = embed_only ? "data" : "eval_data";
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, field);
	cJSON *job = cJSON_Parse(job_spec);
	struct spec_input in = { .spec = job };
	int rc = job ? spec_resolve(spec, NULL, &in, err) : spec_fail(err, "spec", "not JSON");
	cJSON_Delete(job);
	if (!rc)
		rc = read_kind(r, o, embed_only, err);
	if (!rc)
		rc = read_options(r, o, spec, err);
	if (!rc && embed_only && !data)
		rc = spec_fail(err, "data", "job.embed needs the data set to encode");
	if (!rc && data && !cJSON_IsObject(data))
		rc = spec_fail(err, field, "must be a data object ({\"format\": ..., \"path\": ...})");
	if (!rc && data) {
		r->transfer = 1;
		rc = resolve_data(spec, spec_text, data, job_spec, field, err);
	} else if (!rc && spec_text && !(*spec_text = strdup(job_spec))) {
		rc = (spec_fail(err, field, "out of memory"), ERR_NOMEM);
	}
	if (!rc && r->transfer && !embed_only && !strcmp(spec->eval_data.split, "train"))
		rc = spec_fail(err, "eval_data.split", "\"train\" would score the images the evaluation "
			 "fits on: name the split to score (default \"test\") or holdout:F");
	return rc;
}

cJSON *eval_request_json(const struct eval_request *r, const char *spec_text)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "kind", eval_kind_name(r->kind)) ||
	    !cJSON_AddStringToObject(o, "from", r->from_random ? "random" : "checkpoint") ||
	    !cJSON_AddNumberToObject(o, "seed", (double)r->seed) ||
	    (r->kind == EVAL_FINETUNE && !cJSON_AddNumberToObject(o, "labels", r->labels))) {
		cJSON_Delete(o);
		return NULL;
	}
	if (r->transfer) {
		cJSON *spec = cJSON_Parse(spec_text);
		cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(spec, "eval_data");
		cJSON_Delete(spec);
		if (!data) {
			cJSON_Delete(o);
			return NULL;
		}
		cJSON_AddItemToObject(o, r->kind == EVAL_EMBED ? "data" : "eval_data", data);
	}
	return o;
}

int spec_labels_ok(double labels)
{
	return labels > 0 && (labels < 1 || (labels == floor(labels) && labels <= 1e9));
}

int spec_holdout(const char *split, double *fraction)
{
	static const char prefix[] = "holdout:";
	if (!split || strncmp(split, prefix, sizeof prefix - 1) != 0)
		return 0;
	const char *p = split + sizeof prefix - 1;
	char *end;
	errno = 0;
	double f = strtod(p, &end);
	if (end == p || *end || errno || !(f > 0 && f < 1) || strlen(split) > 32)
		return -1;
	*fraction = f;
	return 1;
}

void eval_labels_text(double labels, char *buf, unsigned long cap)
{
	if (labels < 1)
		snprintf(buf, cap, "%g%% of the labels", labels * 100);
	else
		snprintf(buf, cap, "%.0f labels", labels);
}
