/*
 * engine/evaluate.c — the evaluation sets of a run and the evaluations on
 * them: the kNN monitor, the linear probe, the kNN sweep and (finetune.c)
 * fine-tuning, after training or alone on request (see engine.h).
 *
 * The sets: BYOL trains on `train`; an evaluation fits on `fit` and scores
 * `test`. Without a request's eval_data, fit is the training data and test
 * the spec's eval_data; with one (transfer), fit is that data set's train
 * split and test its split. A split holdout:F scores a seeded, class-balanced
 * fraction F of the train split and fits on the rest; when that train split
 * is the training data itself, BYOL trains on the rest too, so the held-out
 * images stay unseen.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byol/encode.h"
#include "engine/engine_impl.h"
#include "event.h"

#define STREAM_HOLDOUT 0x686f6c646f7574ULL

/* kNN sweep grid (solo-learn's offline kNN: cosine, these k and temperatures). */
static const int sweep_k[] = { 10, 20, 50, 100, 200 };
static const double sweep_t[] = { 0.02, 0.07, 0.1, 0.2 };
#define N_SWEEP_K (sizeof sweep_k / sizeof sweep_k[0])
#define N_SWEEP_T (sizeof sweep_t / sizeof sweep_t[0])

/* ---- the sets ------------------------------------------------------------ */

/* A data set's log line ("skipping PATH: reason"...) as a job log event. */
static void data_log(void *ctx, const char *msg)
{
	engine_log(ctx, "warning", msg);
}

static int keep_set(struct engine *g, struct dataset *ds, struct dataset **out)
{
	g->sets[g->n_sets++] = ds;
	*out = ds;
	return 0;
}

/* Open d (its split replaced by split when not NULL) into *out, kept in g->sets;
   its skipped files summed up in a log line. field names d in messages. */
static int open_set(struct engine *g, struct dataset **out, const struct spec_data *d,
		    const char *split, const char *field, struct err *e)
{
	struct dataset_config c;
	struct dataset *ds;
	if (dataset_config_of(&c, d) != 0)
		return err_set(e, ERR_INVALID, "unknown data format \"%s\"", d->format);
	if (split)
		c.split = split;
	c.log = data_log;
	c.log_ctx = g;
	int rc = dataset_open(&ds, &c, e);
	if (rc)
		return rc;
	if (dataset_skipped(ds)) {
		char msg[4400];
		snprintf(msg, sizeof msg, "%s: %zu files skipped in %s (split %s), %zu images used",
			 field, dataset_skipped(ds), d->path, c.split ? c.split : "", dataset_size(ds));
		engine_log(g, "warning", msg);
	}
	return keep_set(g, ds, out);
}

/* Split src into the rest (*fit) and a held-out fraction (*test) of each class. */
static int hold_out(struct engine *g, struct dataset *src, double fraction, struct dataset **fit,
		    struct dataset **test, struct err *e)
{
	struct dataset_draw d;
	struct dataset *a = NULL, *b = NULL;
	int rc = dataset_draw_balanced(&d, src, fraction, 0, g->s->seed, STREAM_HOLDOUT, e);
	if (!rc && d.n_rest == 0)
		rc = err_set(e, ERR_INVALID, "eval_data.split holdout:%g leaves no image to fit "
			     "on", fraction);
	if (!rc && !(rc = dataset_subset(&a, src, d.rest, d.n_rest, e)))
		keep_set(g, a, fit);
	if (!rc && !(rc = dataset_subset(&b, src, d.picked, d.n_picked, e)))
		keep_set(g, b, test);
	if (!rc) {
		char msg[256];
		snprintf(msg, sizeof msg, "eval_data: %zu of %zu images held out for evaluation "
			 "(holdout:%g, seed %llu)", d.n_picked, dataset_size(src), fraction,
			 (unsigned long long)g->s->seed);
		engine_log(g, "info", msg);
	}
	dataset_draw_free(&d);
	return rc;
}

/* Whether eval_data's train split is the training data itself. */
static int same_data(const struct spec_data *a, const struct spec_data *b)
{
	return !strcmp(a->format, b->format) && !strcmp(a->path, b->path) && a->limit == b->limit &&
	       !strcmp(a->split, "train");
}

int engine_transfer(const struct engine *g)
{
	return g->o->eval_only && g->o->request && g->o->request->transfer;
}

int engine_open_sets(struct engine *g, struct err *e)
{
	const struct spec *s = g->s;
	double f;
	int rc = open_set(g, &g->train, &s->data, NULL, "data", e);
	g->fit = g->train;
	if (rc)
		return rc;
	if (spec_holdout(s->eval_data.split, &f) != 1) {
		rc = open_set(g, &g->test, &s->eval_data, NULL, "eval_data", e);
		if (!rc && engine_transfer(g))
			rc = open_set(g, &g->fit, &s->eval_data, "train", "eval_data", e);
		return rc;
	}
	struct dataset *src = g->train;
	if (!same_data(&s->data, &s->eval_data) || engine_transfer(g))
		rc = open_set(g, &src, &s->eval_data, "train", "eval_data", e);
	if (!rc)
		rc = hold_out(g, src, f, &g->fit, &g->test, e);
	if (!rc && src == g->train)
		g->train = g->fit;
	return rc;
}

void engine_free_sets(struct engine *g)
{
	while (g->n_sets > 0) /* views before the sets they borrow */
		dataset_free(g->sets[--g->n_sets]);
	g->train = g->fit = g->test = NULL;
}

size_t engine_sets_skipped(const struct engine *g)
{
	size_t n = 0;
	for (int i = 0; i < g->n_sets; i++)
		n += dataset_skipped(g->sets[i]); /* 0 for views */
	return n;
}

/* ---- features ------------------------------------------------------------ */

const struct spec_data *engine_data_of(const struct engine *g, const struct dataset *ds)
{
	return ds == g->test || engine_transfer(g) ? &g->s->eval_data : &g->s->data;
}

int engine_encode(struct engine *g, struct feature_set *f, const struct dataset *ds,
		  const struct nn_net *encoder, struct err *e)
{
	const struct spec_data *d = engine_data_of(g, ds);
	struct feature_source src = { .arch = &g->arch, .encoder = encoder,
				      .channels = g->s->data.channels,
				      .size = g->s->data.image_size, .mean = d->mean,
				      .std = d->std, .batch = EVAL_BATCH,
				      .stop = engine_stop_flag(g) };
	size_t skipped = 0, *last = &g->eval_bad[ds == g->test]; /* (a fine-tuning's subsets too) */
	int rc = features_extract(f, &src, ds, g->pool, &skipped, e);
	if (!rc && skipped != *last) {
		char msg[4400];
		snprintf(msg, sizeof msg, "evaluation: %zu images of %s could not be decoded and "
			 "were left out", skipped, d->path);
		engine_log(g, "warning", msg);
		*last = skipped;
	}
	return rc;
}

/* ---- the evaluations ----------------------------------------------------- */

/* An eval event of kind with its result and what it ran on. */
static cJSON *eval_event(struct engine *g, enum eval_kind kind, const struct eval_result *res)
{
	const struct spec_data *d = &g->s->eval_data;
	char data[4300];
	cJSON *ev = event_new("eval", g->step, (int)(g->step / (g->per_epoch ? g->per_epoch : 1)));
	snprintf(data, sizeof data, "%s:%s", d->path, d->split);
	cJSON_AddStringToObject(ev, "kind", eval_kind_name(kind));
	cJSON_AddNumberToObject(ev, "top1", res->top1);
	cJSON_AddNumberToObject(ev, "top5", res->top5);
	cJSON_AddStringToObject(ev, "data", data);
	cJSON_AddStringToObject(ev, "from", !g->o->eval_only || g->o->resume ? "checkpoint" : "random");
	cJSON_AddNumberToObject(ev, "test_images", (double)dataset_size(g->test));
	return ev;
}

/* Every (k, t) of the grid on the same features: the best by top-1 and the table. */
static int knn_sweep(struct engine *g, const struct eval_set *a, const struct eval_set *b,
		     int dim, int classes, struct eval_outcome *out, struct err *e)
{
	const atomic_int *stop = engine_stop_flag(g);
	out->table = cJSON_CreateArray();
	out->r.top1 = -1;
	for (size_t i = 0; i < N_SWEEP_K; i++)
		for (size_t j = 0; j < N_SWEEP_T; j++) {
			struct eval_result r;
			int rc = eval_knn(&r, a, b, dim, classes, sweep_k[i], sweep_t[j], g->pool, e);
			if (rc)
				return rc;
			if (stop && atomic_load(stop))
				return err_set(e, ERR_STOPPED, "kNN sweep stopped");
			cJSON *row = cJSON_CreateObject();
			cJSON_AddNumberToObject(row, "k", sweep_k[i]);
			cJSON_AddNumberToObject(row, "t", sweep_t[j]);
			cJSON_AddNumberToObject(row, "top1", r.top1);
			cJSON_AddNumberToObject(row, "top5", r.top5);
			cJSON_AddItemToArray(out->table, row);
			if (r.top1 > out->r.top1) {
				out->r = r;
				out->k = sweep_k[i], out->t = sweep_t[j];
			}
		}
	return 0;
}

/* kNN, the linear probe or the kNN sweep on frozen features of fit and test. */
static int on_features(struct engine *g, enum eval_kind kind, struct eval_outcome *out,
		       struct err *e)
{
	struct feature_set tr = { 0 }, te = { 0 };
	const struct spec *s = g->s;
	int classes = dataset_classes(g->fit);
	const struct nn_net *enc = &g->m.net[BYOL_ENCODER];
	int rc = engine_encode(g, &tr, g->fit, enc, e);
	if (!rc)
		rc = engine_encode(g, &te, g->test, enc, e);
	if (!rc && dataset_classes(g->test) != classes)
		rc = err_set(e, ERR_INVALID, "eval_data: its splits have %d and %d classes",
			     classes, dataset_classes(g->test));
	struct eval_set a = { tr.x, tr.y, tr.n }, b = { te.x, te.y, te.n };
	if (!rc && kind == EVAL_LINEAR)
		rc = eval_linear(&out->r, &a, &b, tr.dim, classes, s->eval.linear_epochs, s->seed,
				 g->pool, engine_stop_flag(g), e);
	else if (!rc && kind == EVAL_KNN)
		rc = eval_knn(&out->r, &a, &b, tr.dim, classes, s->eval.knn_k, s->eval.knn_t,
			      g->pool, e);
	else if (!rc)
		rc = knn_sweep(g, &a, &b, tr.dim, classes, out, e);
	features_free(&tr);
	features_free(&te);
	return rc;
}

/* One evaluation of the current online encoder; its eval event. */
static int evaluate(struct engine *g, enum eval_kind kind, double labels, uint64_t seed,
		    struct err *e)
{
	struct eval_outcome out = { 0 };
	int rc = kind == EVAL_FINETUNE ? engine_finetune(g, labels, seed, &out, e)
				       : on_features(g, kind, &out, e);
	if (rc) {
		cJSON_Delete(out.table);
		return rc;
	}
	cJSON *ev = eval_event(g, kind, &out.r);
	if (kind == EVAL_FINETUNE) {
		cJSON_AddNumberToObject(ev, "labels", labels);
		cJSON_AddNumberToObject(ev, "labelled_images", (double)out.labelled);
		cJSON_AddNumberToObject(ev, "lr", out.lr);
		cJSON_AddNumberToObject(ev, "seed", (double)seed);
		g->r->finetune_top1 = out.r.top1;
	} else if (kind == EVAL_KNN_SWEEP) {
		cJSON_AddNumberToObject(ev, "k", out.k);
		cJSON_AddNumberToObject(ev, "t", out.t);
		cJSON_AddItemToObject(ev, "table", out.table);
	} else if (kind == EVAL_LINEAR) {
		g->r->top1 = out.r.top1;
		g->r->top5 = out.r.top5;
	} else {
		g->r->knn_top1 = out.r.top1;
	}
	engine_emit(g, ev);
	return 0;
}

int engine_knn_monitor(struct engine *g, struct err *e)
{
	return evaluate(g, EVAL_KNN, 0, 0, e);
}

/* The spec's evaluations after training: kNN, the linear probe unless its epochs are
   0, fine-tuning when eval.finetune.labels asks for it. */
static int final_evaluations(struct engine *g, struct err *e)
{
	const struct spec *s = g->s;
	int rc = evaluate(g, EVAL_KNN, 0, 0, e);
	if (!rc && s->eval.linear_epochs > 0)
		rc = evaluate(g, EVAL_LINEAR, 0, 0, e);
	if (!rc && s->eval.finetune_labels > 0)
		rc = evaluate(g, EVAL_FINETUNE, s->eval.finetune_labels, 0, e);
	return rc;
}

int engine_finish(struct engine *g, struct err *e)
{
	const struct eval_request *q = g->o->eval_only ? g->o->request : NULL;
	if (g->rank != 0)
		return 0;
	int rc;
	if (q)
		rc = evaluate(g, q->kind, q->labels, q->seed, e);
	else
		rc = final_evaluations(g, e);
	if (rc == ERR_STOPPED) { /* the checkpoint is written: a resumed run evaluates it */
		g->r->state = ENGINE_STOPPED;
		rc = 0;
	}
	return rc;
}
