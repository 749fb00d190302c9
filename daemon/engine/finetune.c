/*
 * engine/finetune.c — semi-supervised fine-tuning, the paper's protocol
 * (Grill et al. 2020, appendix D.1) adapted to small images:
 *
 *   1. labels: a class-balanced draw from the fit set (dataset_draw_balanced:
 *      a fraction of each class, or a count spread evenly), seeded;
 *   2. the lr: each of FT_LRS (per batch of 256, scaled to the batch) trains
 *      on 90% of the labelled images and is scored on the other 10% (a
 *      class-balanced split of them); the best top-1 wins, ties to the
 *      smaller lr. With fewer than two labelled images in some class there is
 *      nothing to hold out and FT_DEFAULT_LR is taken;
 *   3. the chosen lr trains on all the labelled images, scored on test.
 * Each training starts from the same encoder (the checkpoint's, or the
 * random initialisation) and a head from the seed: eval.finetune.epochs
 * epochs of eval.finetune.batch_size, crop and flip augmentations (view 1's
 * crop), BN in training mode, SGD with Nesterov momentum 0.9, no weight
 * decay, a cosine lr without warm-up. Batches come from the loader and are a
 * function of (seed, phase, step), so a run stopped and resumed from its
 * state file (engine_options.eval_state: weights, momenta, the phase, the
 * step and the held-out scores so far) continues exactly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byol/classifier.h"
#include "clock.h"
#include "engine/engine_impl.h"
#include "nn/ops.h"
#include "event.h"
#include "rng.h"
#include "safetensors.h"

#define STREAM_LABELS 0x6c6162656c73ULL
#define STREAM_VAL 0x76616cULL
#define STREAM_PHASE 0x7068617365ULL
#define FT_VAL_FRACTION 0.1
#define FT_DEFAULT_LR 0.12 /* per 256 */

static const double ft_lrs[] = { 0.04, 0.12, 0.4 }; /* per batch of 256 */
#define N_LRS (int)(sizeof ft_lrs / sizeof ft_lrs[0])

struct ft {
	struct engine *g;
	double labels;
	uint64_t seed;
	struct dataset *labelled, *tr, *val; /* views of g->fit */
	int phases;                          /* N_LRS + 1, or 1 without a held-out part */
	int phase;                           /* being trained */
	long step;                           /* within the phase */
	size_t hits[N_LRS];                  /* held-out top-1 hits of the phases done */
	int batch;
	struct classifier c;
	double last_save;
};

static double lr_of(const struct ft *f, int phase)
{
	double base = FT_DEFAULT_LR;
	if (f->phases > 1) {
		int best = 0;
		for (int i = 1; i < N_LRS && phase == N_LRS; i++)
			best = f->hits[i] > f->hits[best] ? i : best;
		base = ft_lrs[phase < N_LRS ? phase : best];
	}
	return base * f->batch / 256.0;
}

/* ---- the subsets --------------------------------------------------------- */

static int draw_view(struct ft *f, const struct dataset *from, double fraction, size_t count,
		     uint64_t stream, struct dataset **picked, struct dataset **rest,
		     struct err *e)
{
	struct dataset_draw d;
	int rc = dataset_draw_balanced(&d, from, fraction, count, f->seed, stream, e);
	if (!rc)
		rc = dataset_subset(picked, from, d.picked, d.n_picked, e);
	if (!rc && rest)
		rc = dataset_subset(rest, from, d.rest, d.n_rest, e);
	dataset_draw_free(&d);
	return rc;
}

/* Whether every class present in ds has two images or more (one to hold out). */
static int can_hold_out(const struct dataset *ds)
{
	int classes = dataset_classes(ds), ok = 1;
	int *n = calloc((size_t)classes, sizeof *n);
	if (!n)
		return 0;
	for (size_t i = 0; i < dataset_size(ds); i++)
		n[dataset_label(ds, i)]++;
	for (int c = 0; c < classes; c++)
		ok &= n[c] == 0 || n[c] >= 2;
	free(n);
	return ok;
}

static int make_subsets(struct ft *f, struct err *e)
{
	const struct engine *g = f->g;
	int rc = draw_view(f, g->fit, f->labels < 1 ? f->labels : 0,
			   f->labels < 1 ? 0 : (size_t)f->labels, STREAM_LABELS, &f->labelled, NULL, e);
	if (rc)
		return rc;
	f->phases = 1;
	if (can_hold_out(f->labelled)) {
		rc = draw_view(f, f->labelled, FT_VAL_FRACTION, 0, STREAM_VAL, &f->val, &f->tr, e);
		f->phases = rc ? 1 : N_LRS + 1;
	}
	int need = f->phases > 1 ? (int)dataset_size(f->tr) : (int)dataset_size(f->labelled);
	f->batch = g->s->eval.finetune_batch < need ? g->s->eval.finetune_batch : need;
	if (!rc && f->batch < 2)
		rc = err_set(e, ERR_INVALID, "fine-tuning: %d labelled image%s to train on; "
			     "BatchNorm needs a batch of 2", need, need == 1 ? "" : "s");
	return rc;
}

/* ---- the state file ------------------------------------------------------ */

static int save_state(struct ft *f, struct err *e)
{
	const char *path = f->g->o->eval_state;
	struct classifier *c = &f->c;
	struct st_writer *w;
	char text[64], hits[256] = "";
	if (!path)
		return 0;
	int rc = st_writer_init(&w, e);
	struct { const char *name; const float *data; size_t n; } t[] = {
		{ "encoder.param", c->enc.param, c->enc.param_len },
		{ "encoder.buffer", c->enc.buffer, c->enc.buffer_len },
		{ "encoder.momentum", c->mom_enc, c->enc.param_len },
		{ "head.param", c->head.param, c->head.param_len },
		{ "head.momentum", c->mom_head, c->head.param_len },
	};
	for (size_t i = 0; !rc && i < sizeof t / sizeof t[0]; i++) {
		int64_t shape[1] = { (int64_t)t[i].n };
		rc = st_writer_add(w, t[i].name, ST_F32, 1, shape, t[i].data, e);
	}
	for (int i = 0; i < f->phase && i < N_LRS; i++)
		snprintf(hits + strlen(hits), sizeof hits - strlen(hits), "%s%zu", i ? "," : "",
			 f->hits[i]);
	snprintf(text, sizeof text, "%d %ld %.17g %llu", f->phase, f->step, f->labels,
		 (unsigned long long)f->seed);
	if (!rc)
		rc = st_writer_meta(w, "finetune", text, e);
	if (!rc)
		rc = st_writer_meta(w, "held_out_hits", hits, e);
	if (!rc)
		rc = st_writer_write(w, path, e);
	st_writer_free(w);
	f->last_save = clock_seconds();
	return rc;
}

/* The phase and step a state file says, if it is this fine-tuning's; 0 if none. */
static int read_state(struct ft *f, struct st_file *sf)
{
	int phase;
	long step;
	double labels;
	unsigned long long seed;
	struct err e = { 0 };
	const char *path = f->g->o->eval_state;
	if (!path || access(path, F_OK) != 0 || st_read(sf, path, 0, &e) != 0)
		return 0;
	const char *m = st_meta(sf, "finetune"), *hits = st_meta(sf, "held_out_hits");
	if (!m || !hits || sscanf(m, "%d %ld %lg %llu", &phase, &step, &labels, &seed) != 4 ||
	    labels != f->labels || seed != f->seed || phase < 0 || phase >= f->phases || step < 0) {
		st_free(sf);
		return 0;
	}
	for (int i = 0; i < phase && i < N_LRS; i++) {
		f->hits[i] = strtoull(hits, (char **)&hits, 10);
		hits += *hits == ',';
	}
	f->phase = phase, f->step = step;
	return 1;
}

/* Copy the state file's tensors into the classifier; -1 if a size differs. */
static int load_state(struct ft *f, const struct st_file *sf)
{
	struct classifier *c = &f->c;
	struct { const char *name; float *data; size_t n; } t[] = {
		{ "encoder.param", c->enc.param, c->enc.param_len },
		{ "encoder.buffer", c->enc.buffer, c->enc.buffer_len },
		{ "encoder.momentum", c->mom_enc, c->enc.param_len },
		{ "head.param", c->head.param, c->head.param_len },
		{ "head.momentum", c->mom_head, c->head.param_len },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		const struct st_tensor *x = st_find(sf, t[i].name);
		if (!x || x->dtype != ST_F32 || x->nbytes != t[i].n * sizeof(float))
			return -1;
		memcpy(t[i].data, st_tensor_data(sf, x), x->nbytes);
	}
	return 0;
}

/* ---- training and scoring ------------------------------------------------ */

static void progress(struct ft *f, int epoch, int epochs, double loss, double lr)
{
	cJSON *ev = event_new("eval_progress", f->g->step, epoch); /* the fine-tuning's epoch */
	char phase[64];
	if (f->phase < f->phases - 1)
		snprintf(phase, sizeof phase, "lr %g on %zu held-in images", lr_of(f, f->phase),
			 dataset_size(f->tr));
	else
		snprintf(phase, sizeof phase, "lr %g on all %zu labelled images", lr_of(f, f->phase),
			 dataset_size(f->labelled));
	cJSON_AddStringToObject(ev, "kind", "finetune");
	cJSON_AddStringToObject(ev, "phase", phase);
	cJSON_AddNumberToObject(ev, "phase_index", f->phase + 1);
	cJSON_AddNumberToObject(ev, "phases", f->phases);
	cJSON_AddNumberToObject(ev, "epochs", epochs);
	cJSON_AddNumberToObject(ev, "loss", loss);
	cJSON_AddNumberToObject(ev, "lr", lr);
	engine_emit(f->g, ev);
}

static int start_loader(struct ft *f, const struct dataset *ds, struct loader **l,
			struct err *e)
{
	const struct engine *g = f->g;
	const struct spec *s = g->s;
	const struct spec_data *d = engine_data_of(g, g->fit);
	const struct spec_view *v = &s->view[0];
	struct rng r;
	rng_init(&r, f->seed, STREAM_PHASE + (uint64_t)f->phase);
	struct loader_config c = {
		.ds = ds, .batch = f->batch, .size = s->data.image_size, .channels = s->data.channels,
		.seed = rng_u64(&r) >> 12, .depth = LOADER_DEPTH, .skip_bad = d->skip_bad,
		.threads = g->o->loader_threads > 0 ? g->o->loader_threads : 1, .dct_scale = 1,
	};
	memcpy(c.mean, d->mean, sizeof c.mean);
	memcpy(c.std, d->std, sizeof c.std);
	for (int i = 0; i < 2; i++) /* crop and flip only (the second view is not used) */
		c.view[i] = (struct augment_view){ .scale = { v->scale[0], v->scale[1] },
						   .ratio = { v->ratio[0], v->ratio[1] },
						   .flip = 0.5 };
	return loader_start(l, &c, f->step, e);
}

static int stopped(const struct ft *f)
{
	const atomic_int *stop = engine_stop_flag(f->g);
	return stop && atomic_load(stop);
}

/* Train the current phase on ds from f->step to its end. */
static int train(struct ft *f, const struct dataset *ds, struct err *e)
{
	const int epochs = f->g->s->eval.finetune_epochs;
	const long per_epoch = loader_steps_per_epoch(dataset_size(ds), f->batch);
	const long total = per_epoch * epochs;
	const double lr = lr_of(f, f->phase), every = f->g->s->checkpoint.every_seconds;
	struct loader *l;
	double loss = 0;
	int rc = start_loader(f, ds, &l, e);
	while (!rc && f->step < total) {
		if (stopped(f) || (every > 0 && clock_seconds() - f->last_save >= every)) {
			if ((rc = save_state(f, e)) == 0 && stopped(f))
				rc = err_set(e, ERR_STOPPED, "fine-tuning stopped");
			if (rc)
				break;
		}
		struct loader_batch b;
		if ((rc = loader_next(l, &b, e)))
			break;
		double lr_t = lr * 0.5 * (1.0 + cos(M_PI * (double)f->step / (double)total));
		loss += classifier_step(&f->c, b.view1, b.labels, lr_t);
		loader_release(l);
		if (!isfinite(loss))
			rc = err_set(e, ERR_INVALID, "fine-tuning: the loss is not finite at step %ld",
				     f->step + 1);
		if (++f->step % per_epoch == 0) {
			progress(f, (int)(f->step / per_epoch) - 1, epochs, loss / per_epoch, lr_t);
			loss = 0;
		}
	}
	loader_stop(l);
	return rc;
}

/* Top-1 and top-5 hits of the classifier on ds (centre views, eval mode). */
static int score(struct ft *f, const struct dataset *ds, size_t *hit1, size_t *hit5,
		 size_t *n, struct err *e)
{
	struct feature_set fs;
	const struct classifier *c = &f->c;
	const int classes = c->classes, top = classes < 5 ? classes : 5;
	int rc = engine_encode(f->g, &fs, ds, &c->enc, e);
	if (rc)
		return rc;
	const float *w = c->head.param + nn_net_param(&c->head, "fc.weight")->offset;
	const float *bias = c->head.param + nn_net_param(&c->head, "fc.bias")->offset;
	float *logits = malloc(fs.n * (size_t)classes * sizeof *logits);
	*hit1 = *hit5 = 0;
	if (logits) /* logits = features · fc.weightᵀ + fc.bias */
		gemm(f->g->pool, 0, 1, (int)fs.n, classes, fs.dim, 1.0f, fs.x, fs.dim, w, fs.dim,
		     0.0f, logits, classes);
	for (size_t i = 0; logits && i < fs.n; i++) {
		float *z = logits + i * (size_t)classes;
		for (int k = 0; k < classes; k++)
			z[k] += bias[k];
		int rank = eval_rank(z, classes, fs.y[i]);
		*hit1 += rank == 0;
		*hit5 += rank < top;
	}
	*n = fs.n;
	rc = logits ? 0 : err_set(e, ERR_NOMEM, "fine-tuning: out of memory");
	free(logits);
	features_free(&fs);
	return rc;
}

/* One phase: a fresh classifier (or the state file's), trained, then scored. */
static int run_phase(struct ft *f, const struct st_file *resume, struct eval_outcome *out,
		     struct err *e)
{
	const struct engine *g = f->g;
	const int last = f->phase == f->phases - 1;
	const struct dataset *fit = last ? f->labelled : f->tr;
	int rc = classifier_init(&f->c, &g->arch, &g->m.net[BYOL_ENCODER], g->s->data.channels,
				 g->s->data.image_size, dataset_classes(g->fit), f->batch,
				 f->seed * 16 + (uint64_t)f->phase, g->pool, e);
	if (!rc && resume && load_state(f, resume) != 0)
		rc = err_set(e, ERR_INVALID, "%s: not this fine-tuning's state", g->o->eval_state);
	if (!rc)
		rc = train(f, fit, e);
	size_t h1, h5, n;
	if (!rc)
		rc = score(f, last ? g->test : f->val, &h1, &h5, &n, e);
	if (!rc && !last)
		f->hits[f->phase] = h1;
	if (!rc && last) {
		out->r.top1 = 100.0 * (double)h1 / (double)n;
		out->r.top5 = 100.0 * (double)h5 / (double)n;
		out->lr = lr_of(f, f->phase);
		out->labelled = dataset_size(f->labelled);
	}
	classifier_free(&f->c);
	return rc;
}

static void plan_line(struct ft *f)
{
	char msg[512], what[64];
	eval_labels_text(f->labels, what, sizeof what);
	snprintf(msg, sizeof msg, "fine-tuning on %s: %zu images (seed %llu), %d epochs of batch "
		 "%d, %s", what, dataset_size(f->labelled), (unsigned long long)f->seed,
		 f->g->s->eval.finetune_epochs, f->batch,
		 f->phases > 1 ? "the lr chosen on a held-out 10% of them" : "lr fixed (too few "
		 "labels to hold any out)");
	engine_log(f->g, "info", msg);
}

int engine_finetune(struct engine *g, double labels, uint64_t seed, struct eval_outcome *out,
		    struct err *e)
{
	struct ft f = { .g = g, .labels = labels, .seed = seed, .last_save = clock_seconds() };
	struct st_file sf = { 0 };
	int rc = make_subsets(&f, e);
	int resumed = !rc && read_state(&f, &sf);
	if (!rc && resumed) {
		char msg[4400];
		snprintf(msg, sizeof msg, "fine-tuning resumed from %s at phase %d, step %ld",
			 g->o->eval_state, f.phase + 1, f.step);
		engine_log(g, "info", msg);
	} else if (!rc) {
		plan_line(&f);
	}
	for (; !rc && f.phase < f.phases; f.phase++, f.step = 0) {
		rc = run_phase(&f, resumed ? &sf : NULL, out, e);
		st_free(&sf);
		resumed = 0;
	}
	if (!rc && g->o->eval_state)
		unlink(g->o->eval_state);
	st_free(&sf);
	dataset_free(f.val);
	dataset_free(f.tr);
	dataset_free(f.labelled);
	return rc;
}
