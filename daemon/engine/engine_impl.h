/*
 * engine_impl.h — private to daemon/engine: the state of one engine run,
 * shared by the training loop (engine.c), the evaluations (evaluate.c) and
 * fine-tuning (finetune.c).
 */
#ifndef BYOL_ENGINE_IMPL_H
#define BYOL_ENGINE_IMPL_H

#include "byol/encode.h"
#include "byol/eval.h"
#include "byol/model.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/engine.h"

#define EVAL_BATCH 256
#define LOADER_DEPTH 3
#define ENGINE_MAX_SETS 6

struct engine {
	const struct spec *s;
	const char *spec_json;
	const struct engine_options *o;
	const struct engine_hooks *h;
	struct engine_result *r;
	struct pool *pool;
	/* BYOL trains on train; evaluations fit on fit and score test. Each is one of
	   sets[] (opened data sets, and views of them: a held-out split's parts). */
	struct dataset *train, *fit, *test;
	struct dataset *sets[ENGINE_MAX_SETS];
	int n_sets;
	struct byol_model m;
	struct encoder_config arch;
	struct byol_schedule sched;
	struct loader *loader;
	long per_epoch, total, step;
	double last_ckpt_time;
	char (*kept)[4200]; /* checkpoint paths written, oldest first */
	int n_kept;
	size_t eval_bad[2];  /* images of fit, test the last evaluation could not decode */
	int rank, ranks;     /* this replica of the job's */
};

/* Hand an event to the hooks and free it. */
void engine_emit(struct engine *g, cJSON *ev);
/* A log event at the current step. */
void engine_log(struct engine *g, const char *level, const char *msg);
/* The caller's stop flag, or NULL. */
const atomic_int *engine_stop_flag(const struct engine *g);

/* evaluate.c: open data and eval_data into train, fit and test (holdout:F and
   transfer included); release them; the files they skipped at open. */
int engine_open_sets(struct engine *g, struct err *e);
void engine_free_sets(struct engine *g);
size_t engine_sets_skipped(const struct engine *g);
/* Whether the requested evaluation runs on its own eval_data (transfer). */
int engine_transfer(const struct engine *g);
/* The data object whose normalisation ds takes: eval_data's for test and under
   transfer, else data's. */
const struct spec_data *engine_data_of(const struct engine *g, const struct dataset *ds);
/* Features of ds's centre views through encoder (a net of g->arch); images that
   cannot be decoded are left out and said in a log line. */
int engine_encode(struct engine *g, struct feature_set *f, const struct dataset *ds,
		  const struct nn_net *encoder, struct err *e);
/* The kNN monitor on the current weights (an eval event). */
int engine_knn_monitor(struct engine *g, struct err *e);
/* The evaluations after training (the spec's), or the one requested (eval_only). */
int engine_finish(struct engine *g, struct err *e);

/* What an evaluation found: top-1 and top-5, and the setting it chose. */
struct eval_outcome {
	struct eval_result r; /* top1, top5; a probe's lr and wd */
	int k;                /* kNN sweep: the best k and t, and every (k, t) */
	double t;
	cJSON *table;
	size_t labelled;      /* fine-tuning: the labelled images, the lr chosen */
	double lr;
};

/* finetune.c: fine-tune a copy of the online encoder with a linear head on a
   class-balanced draw of labels from fit, scored on test. */
int engine_finetune(struct engine *g, double labels, uint64_t seed, struct eval_outcome *out,
		    struct err *e);

#endif
