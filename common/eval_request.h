/*
 * eval_request.h — what one requested evaluation of a job does (job.eval,
 * job.embed, and the evaluations a spec asks for at the end of training):
 * its kind, the labels a fine-tuning uses, the encoder it starts from, the
 * seed of its draws, and the data set it runs on. byold validates a request
 * with it at the boundary, stores it as JSON beside the eval, and runs (or,
 * after a restart, runs again) exactly what the JSON says.
 *
 * The data: without eval_data an evaluation fits on the job's training data
 * and scores its eval_data; with eval_data (transfer, or embed's data) the
 * object's fields override the job's eval_data, and the evaluation fits on
 * that data set's train split (or the rest of a holdout:F split) and scores
 * its split.
 */
#ifndef BYOL_EVAL_REQUEST_H
#define BYOL_EVAL_REQUEST_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "spec.h"

enum eval_kind { EVAL_KNN, EVAL_LINEAR, EVAL_KNN_SWEEP, EVAL_FINETUNE, EVAL_EMBED, EVAL_KINDS };

struct eval_request {
	enum eval_kind kind;
	double labels;    /* finetune: a fraction in (0, 1) or a whole count */
	int from_random;  /* start from the job's random initialisation, not a checkpoint */
	uint64_t seed;    /* finetune: the labelled subset, the head and the batch order */
	int transfer;     /* eval_data given: the spec's eval_data is the request's */
};

/* "knn", "linear", "knn_sweep", "finetune", "embed". */
const char *eval_kind_name(enum eval_kind k);
/* The kind named (also "knn-sweep"); -1 if none. */
int eval_kind_parse(const char *name, enum eval_kind *out);

/*
 * A request from an object {kind, labels?, from?, seed?, eval_data?} (what
 * job.eval takes, and what eval_request_json gives back) for the job whose
 * resolved spec is job_spec. *spec becomes the spec the evaluation runs
 * with: job_spec itself, or with eval_data its eval_data overridden; with
 * spec_text not NULL, *spec_text its JSON text (malloc'd). embed_only: the
 * kind must be "embed" (job.embed), else it must not be. ERR_INVALID with
 * the field and reason in err; ERR_NOMEM.
 */
int eval_request_parse(struct eval_request *r, struct spec *spec, char **spec_text,
		       const cJSON *o, const char *job_spec, int embed_only,
		       struct spec_error *err);

/* The request as the object eval_request_parse reads, eval_data (when r->transfer)
   taken whole from spec_text, the evaluation's spec; NULL if out of memory. */
cJSON *eval_request_json(const struct eval_request *r, const char *spec_text);

/* A split "holdout:F" (eval_data only: a seeded, class-balanced fraction F of data
   held out from training and evaluated on): 1 and F in *fraction; 0 for another
   split; -1 if it starts "holdout:" but is not holdout:F with F in (0, 1). */
int spec_holdout(const char *split, double *fraction);

/* A labels amount of fine-tuning: a fraction in (0, 1) or a whole count >= 1. */
int spec_labels_ok(double labels);

/* "1% of the labels" / "600 labels" for people: into buf. */
void eval_labels_text(double labels, char *buf, unsigned long cap);

#endif
