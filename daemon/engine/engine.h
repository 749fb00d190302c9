/*
 * engine.h — one BYOL training job, from a resolved spec to its final
 * evaluation: data sets, loader threads, networks, the step loop with its
 * schedules, step/epoch events, periodic kNN, checkpoints (by steps and by
 * seconds, keep-last-N, always a final one), resume from a checkpoint, and
 * the linear probe at the end. byol-train runs it in the foreground; byold's
 * workers run it on their threads.
 *
 * Events go to hooks->event in order, each the object of event.h. A nonzero
 * *hooks->stop makes the engine write a checkpoint at the next step boundary
 * and return with ENGINE_STOPPED; a stop during the final evaluations ends
 * them at the next batch or probe epoch (the final checkpoint is written, so a
 * run resumed from it goes straight to the evaluations). Pausing is a stop
 * whose caller resumes later from the checkpoint (the scheduler's affair).
 */
#ifndef BYOL_ENGINE_H
#define BYOL_ENGINE_H

#include <stdatomic.h>

#include <cjson/cJSON.h>

#include "byol/model.h"
#include "data/loader.h"
#include "err.h"
#include "eval_request.h"
#include "spec.h"

struct engine_hooks {
	void (*event)(void *ctx, const cJSON *ev); /* may be NULL */
	void (*started)(void *ctx, long total_steps); /* the data are open; may be NULL */
	void *ctx;
	const atomic_int *stop;                    /* may be NULL */
};

struct engine_options {
	const char *checkpoint_dir; /* step-%08d.safetensors go here (created if missing) */
	const char *resume;         /* a checkpoint to continue from, or NULL */
	int loader_threads;         /* 0: one */
	int eval_only;              /* evaluate the starting weights (random, or resumed); no training */
	const struct eval_request *request; /* with eval_only: this evaluation alone (the
				       spec is the request's, eval_request.h); NULL: the
				       spec's final evaluations */
	const char *eval_state;     /* a fine-tuning's progress file: resumed from if it
				       exists, written at stops, removed at the end; NULL: none */
	const struct replica *replica; /* one of the job's ranks (dist.h), or NULL: alone.
				       Each rank trains on its slice of every batch; rank 0
				       alone writes checkpoints and evaluates. Every rank emits
				       its events (the others' steps repeat rank 0's) */
};

enum engine_state { ENGINE_COMPLETED, ENGINE_STOPPED };

struct engine_result {
	enum engine_state state;
	long step;                  /* completed optimizer steps */
	double final_loss;          /* mean loss of the last epoch (or of what ran of it);
				       NaN if no epoch ended in this run */
	double top1, top5;          /* linear probe; negative if it did not run */
	double knn_top1;            /* last kNN; negative if none ran */
	double finetune_top1;       /* fine-tuning at the end; negative if none ran */
	size_t skipped_images;
	double data_wait_ms;        /* time steps spent waiting for the loader */
	char checkpoint[4200];      /* the last checkpoint written */
};

/* The networks and optimizer a spec describes (byol-train --bench builds them alone). */
int engine_model_config(const struct spec *s, struct byol_config *cfg, struct byol_optim *optim,
			struct err *e);

/* The loader a spec's training data wants (batch, size, views, normalisation,
   DCT-scaled decoding), with threads loader threads (0: one). */
void engine_loader_config(const struct spec *s, const struct dataset *ds, int threads,
			  struct loader_config *c);

int engine_run(const struct spec *s, const char *spec_json, const struct engine_options *o,
	       const struct engine_hooks *h, struct engine_result *r, struct err *e);

#endif
