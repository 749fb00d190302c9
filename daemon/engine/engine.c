/*
 * engine.c — the training loop of one job (see engine.h).
 */
#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byol/model.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "engine/checkpoint.h"
#include "engine/engine_impl.h"
#include "clock.h"
#include "event.h"

void engine_emit(struct engine *g, cJSON *ev)
{
	if (ev && g->h && g->h->event)
		g->h->event(g->h->ctx, ev);
	cJSON_Delete(ev);
}

void engine_log(struct engine *g, const char *level, const char *msg)
{
	cJSON *ev = event_new("log", g->step, (int)(g->step / (g->per_epoch ? g->per_epoch : 1)));
	cJSON_AddStringToObject(ev, "level", level);
	cJSON_AddStringToObject(ev, "message", msg);
	engine_emit(g, ev);
}

/* ---- setup -------------------------------------------------------------- */

/* The loader's reports of images it could not decode, as log events. */
static void loader_reports(struct engine *g)
{
	char msg[256], line[320];
	while (g->loader && loader_take_report(g->loader, msg, sizeof msg)) {
		snprintf(line, sizeof line, "skipping %s (another image takes its place)", msg);
		engine_log(g, "warning", line);
	}
}

int engine_model_config(const struct spec *s, struct byol_config *cfg, struct byol_optim *optim,
			struct err *e)
{
	*cfg = (struct byol_config){
		.channels = s->data.channels, .size = s->data.image_size,
		.proj_hidden = s->model.proj_hidden, .proj_out = s->model.proj_out,
		.pred_hidden = s->model.pred_hidden, .pred_out = s->model.pred_out,
		.batch = s->train.batch_size,
		.encoder = { .width = s->model.width, .imagenet_stem = s->model.imagenet_stem,
			     .winograd = s->model.winograd },
	};
	*optim = (struct byol_optim){ .lars = strcmp(s->optim.name, "lars") == 0,
				      .weight_decay = s->optim.weight_decay,
				      .momentum = s->optim.momentum, .eta = s->optim.eta };
	if (encoder_arch_parse(s->model.encoder, &cfg->encoder.arch) != 0)
		return err_set(e, ERR_INVALID, "unknown encoder \"%s\"", s->model.encoder);
	return 0;
}

static int build(struct engine *g, struct err *e)
{
	struct byol_config cfg;
	struct byol_optim optim;
	int rc = engine_model_config(g->s, &cfg, &optim, e);
	g->arch = cfg.encoder;
	if (!rc && cfg.batch % g->ranks != 0)
		rc = err_set(e, ERR_INVALID, "train.batch_size %d does not split evenly over %d "
			     "ranks", cfg.batch, g->ranks);
	cfg.batch /= g->ranks; /* each rank's slice */
	if (!rc && g->s->train.sync_bn == 0 && cfg.batch < 2 && g->ranks > 1)
		rc = err_set(e, ERR_INVALID, "train.batch_size %d over %d ranks leaves %d image per "
			     "rank: BatchNorm without sync_bn needs 2", g->s->train.batch_size,
			     g->ranks, cfg.batch);
	if (!rc)
		rc = pool_init(&g->pool, g->s->threads, e);
	if (!rc)
		rc = byol_model_init(&g->m, &cfg, &optim, g->pool, g->s->seed, e);
	if (!rc)
		byol_model_set_replica(&g->m, g->o->replica, g->s->train.sync_bn);
	return rc;
}

/* What the run will do, in a log line a person reads first. */
static void plan_line(struct engine *g)
{
	const struct spec *s = g->s;
	char msg[9000];
	if (g->rank != 0) /* the same on every rank: said once */
		return;
	if (g->o->eval_only) {
		snprintf(msg, sizeof msg, "evaluating on %zu images of %s (%s split)",
			 dataset_size(g->test), s->eval_data.path, s->eval_data.split);
	} else {
		snprintf(msg, sizeof msg, "training %ld steps: %d epoch%s of %ld steps of batch %d on "
			 "%zu images of %s (%s split); evaluating on %zu images (%s split)",
			 g->total, s->train.epochs, s->train.epochs == 1 ? "" : "s", g->per_epoch,
			 s->train.batch_size,
			 dataset_size(g->train), s->data.path, s->data.split, dataset_size(g->test),
			 s->eval_data.split);
	}
	engine_log(g, "info", msg);
}

static int resume(struct engine *g, struct err *e)
{
	struct checkpoint_meta meta = { 0 };
	int rc = checkpoint_read(&g->m, g->o->resume, &meta, e);
	if (rc)
		return rc;
	g->step = meta.step;
	checkpoint_meta_free(&meta);
	if (g->step > g->total)
		return err_set(e, ERR_INVALID, "%s: step %ld is past this run's %ld steps",
			       g->o->resume, g->step, g->total);
	char msg[4300];
	snprintf(msg, sizeof msg, "resumed from %s at step %ld", g->o->resume, g->step);
	engine_log(g, "info", msg);
	return 0;
}

static int by_step(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

/* A resumed run keeps counting the checkpoints already in its directory (up to the
   step it resumed at) against keep_last, so the oldest of them go first. */
static void adopt_checkpoints(struct engine *g)
{
	DIR *dir = opendir(g->o->checkpoint_dir);
	long steps[256];
	int n = 0;
	struct dirent *de;
	while (dir && n < 256 && (de = readdir(dir))) {
		long step;
		int len = 0;
		if (sscanf(de->d_name, "step-%8ld.safetensors%n", &step, &len) == 1 &&
		    de->d_name[len] == 0 && len == 25 && step <= g->step)
			steps[n++] = step;
	}
	if (dir)
		closedir(dir);
	qsort(steps, (size_t)n, sizeof steps[0], by_step);
	const int keep_last = g->s->checkpoint.keep_last;
	for (int i = n > keep_last ? n - keep_last : 0; i < n; i++)
		snprintf(g->kept[g->n_kept++], sizeof g->kept[0], "%s/step-%08ld.safetensors",
			 g->o->checkpoint_dir, steps[i]);
}

void engine_loader_config(const struct spec *s, const struct dataset *ds, int threads,
			  struct loader_config *c)
{
	*c = (struct loader_config){
		.ds = ds, .batch = s->train.batch_size, .size = s->data.image_size,
		.channels = s->data.channels, .seed = s->seed, .threads = threads > 0 ? threads : 1,
		.depth = LOADER_DEPTH, .skip_bad = s->data.skip_bad, .dct_scale = 1,
	};
	memcpy(c->mean, s->data.mean, sizeof c->mean);
	memcpy(c->std, s->data.std, sizeof c->std);
	for (int v = 0; v < 2; v++) {
		const struct spec_view *sv = &s->view[v];
		c->view[v] = (struct augment_view){
			.scale = { sv->scale[0], sv->scale[1] }, .ratio = { sv->ratio[0], sv->ratio[1] },
			.flip = sv->flip, .jitter_p = sv->jitter_p, .brightness = sv->brightness,
			.contrast = sv->contrast, .saturation = sv->saturation, .hue = sv->hue,
			.grayscale = sv->grayscale, .blur_p = sv->blur_p,
			.sigma = { sv->sigma[0], sv->sigma[1] }, .solarize = sv->solarize,
		};
	}
}

static int start_loader(struct engine *g, struct err *e)
{
	struct loader_config c;
	engine_loader_config(g->s, g->train, g->o->loader_threads, &c);
	c.slice_n = c.batch / g->ranks;
	c.slice_lo = g->rank * c.slice_n;
	return loader_start(&g->loader, &c, g->step, e);
}

static int setup(struct engine *g, struct err *e)
{
	const struct spec *s = g->s;
	int rc = engine_open_sets(g, e);
	if (!rc)
		rc = build(g, e);
	if (rc)
		return rc;
	g->per_epoch = loader_steps_per_epoch(dataset_size(g->train), s->train.batch_size);
	if (g->per_epoch < 1)
		return err_set(e, ERR_INVALID, "data: %zu images, fewer than one batch of %d",
			       dataset_size(g->train), s->train.batch_size);
	g->total = g->per_epoch * s->train.epochs;
	g->sched = (struct byol_schedule){
		.peak_lr = spec_lr(s), .warmup_steps = (long)(s->optim.warmup_epochs * g->per_epoch),
		.total_steps = g->total, .tau_base = s->train.tau_base,
	};
	if (g->h && g->h->started)
		g->h->started(g->h->ctx, g->total);
	plan_line(g);
	if (g->o->resume && (rc = resume(g, e)))
		return rc;
	/* The ranks may take unequal time to open their data; then they must agree on it. */
	replica_wait_all(g->o->replica);
	uint64_t shape = ((uint64_t)dataset_size(g->train) << 24) ^ (uint64_t)g->total;
	if (!replica_same(g->o->replica, shape))
		return err_set(e, ERR_INVALID, "the ranks see different training data (this rank: "
			       "%zu images, %ld steps): they need the same data set at the same path",
			       dataset_size(g->train), g->total);
	g->kept = calloc((size_t)s->checkpoint.keep_last + 1, sizeof *g->kept);
	if (!g->kept)
		return err_set(e, ERR_NOMEM, "engine: out of memory");
	if (g->o->eval_only)
		return 0;
	if (g->rank == 0 && mkdir(g->o->checkpoint_dir, 0755) != 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: %s", g->o->checkpoint_dir, strerror(errno));
	if (g->o->resume && g->rank == 0)
		adopt_checkpoints(g);
	return start_loader(g, e);
}

/* ---- checkpoints --------------------------------------------------------- */

const atomic_int *engine_stop_flag(const struct engine *g)
{
	return g->h ? g->h->stop : NULL;
}

/* Remember path; remove the oldest file beyond keep_last, naming it in removed
   (empty if none). */
static void keep(struct engine *g, const char *path, char removed[4200])
{
	const int keep_last = g->s->checkpoint.keep_last;
	removed[0] = 0;
	if (g->n_kept == keep_last) {
		unlink(g->kept[0]);
		memcpy(removed, g->kept[0], sizeof g->kept[0]);
		memmove(g->kept[0], g->kept[1], (size_t)(keep_last - 1) * sizeof g->kept[0]);
		g->n_kept--;
	}
	snprintf(g->kept[g->n_kept++], sizeof g->kept[0], "%s", path);
}

/* A hash of the five nets' parameters, and of their buffers (BN's running
   statistics) when those are taken over all ranks. */
static uint64_t model_hash(const struct byol_model *m, int buffers)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (int p = 0; p < BYOL_PARTS; p++) {
		const struct nn_net *net = &m->net[p];
		const float *arrays[2] = { net->param, net->buffer };
		const size_t lens[2] = { net->param_len, buffers ? net->buffer_len : 0 };
		for (int a = 0; a < 2; a++)
			for (size_t i = 0; i < lens[a]; i++) {
				uint32_t w;
				memcpy(&w, &arrays[a][i], sizeof w);
				h = (h ^ w) * 0x100000001b3u;
			}
	}
	return h;
}

/* The ranks' weights must be equal to the bit: checked after a run's first step and
   at each checkpoint. */
static int check_replicas_agree(struct engine *g, struct err *e)
{
	if (g->ranks == 1 || replica_same(g->o->replica, model_hash(&g->m, g->s->train.sync_bn)))
		return 0;
	return err_set(e, ERR_INVALID, "step %ld: the ranks' weights differ (the ranks must run "
		       "the same byol-train build on the same kind of CPU)", g->step);
}

static int save(struct engine *g, struct err *e)
{
	char path[4200], sha[65], removed[4200];
	size_t bytes;
	int epoch = (int)(g->step / g->per_epoch);
	int rc = check_replicas_agree(g, e);
	g->last_ckpt_time = clock_seconds();
	if (rc || g->rank != 0) /* rank 0 writes for all */
		return rc;
	snprintf(path, sizeof path, "%s/step-%08ld.safetensors", g->o->checkpoint_dir, g->step);
	rc = checkpoint_write(&g->m, path, g->spec_json, g->step, epoch, sha, &bytes, e);
	if (rc)
		return rc;
	keep(g, path, removed);
	snprintf(g->r->checkpoint, sizeof g->r->checkpoint, "%s", path);
	g->last_ckpt_time = clock_seconds();
	cJSON *ev = event_new("checkpoint", g->step, epoch);
	cJSON_AddStringToObject(ev, "path", path);
	cJSON_AddStringToObject(ev, "sha256", sha);
	cJSON_AddNumberToObject(ev, "bytes", (double)bytes);
	if (removed[0])
		cJSON_AddStringToObject(ev, "removed", removed);
	engine_emit(g, ev);
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

struct window {          /* what a step point or an epoch summary averages */
	double loss, start;
	long steps;
	double wait_ms;      /* loader_wait_ms at the start */
};

static void step_point(struct engine *g, struct window *w, const struct byol_hyper *hp,
		       const struct byol_stats *st, int epoch)
{
	double t = clock_seconds();
	cJSON *ev = event_new("step", g->step, epoch);
	cJSON_AddNumberToObject(ev, "loss", w->loss / (double)w->steps);
	cJSON_AddNumberToObject(ev, "tau", hp->tau);
	cJSON_AddNumberToObject(ev, "lr", hp->lr);
	cJSON_AddNumberToObject(ev, "img_s",
				(double)w->steps * g->s->train.batch_size / (t - w->start));
	cJSON_AddNumberToObject(ev, "z_std", st->z_std);
	engine_emit(g, ev);
	*w = (struct window){ .start = t };
}

/* The epoch's mean loss, its seconds, and how long of them the loop waited for batches. */
static void epoch_summary(struct engine *g, struct window *w, int epoch)
{
	double t = clock_seconds(), seconds = t - w->start;
	double wait_ms = loader_wait_ms(g->loader), waited = (wait_ms - w->wait_ms) / 1e3;
	cJSON *ev = event_new("epoch", g->step, epoch);
	g->r->final_loss = w->loss / (double)w->steps;
	cJSON_AddNumberToObject(ev, "loss", g->r->final_loss);
	cJSON_AddNumberToObject(ev, "seconds", seconds);
	cJSON_AddNumberToObject(ev, "data_wait_s", waited);
	cJSON_AddNumberToObject(ev, "data_wait_share", seconds > 0 ? waited / seconds : 0);
	engine_emit(g, ev);
	*w = (struct window){ .start = t, .wait_ms = wait_ms };
	loader_reports(g);
}

/* Checkpoint when a step or time period has passed; rank 0's clock decides for
   every rank, so all of them save (and check their weights) at the same step. */
static int periodic_checkpoint(struct engine *g, struct err *e)
{
	const long every = g->s->checkpoint.every_steps;
	const double seconds = g->s->checkpoint.every_seconds;
	int due = every > 0 && g->step % every == 0;
	if (!due && seconds > 0)
		due = replica_any(g->o->replica, g->rank == 0 &&
					     clock_seconds() - g->last_ckpt_time >= seconds);
	return due ? save(g, e) : 0;
}

/* After an epoch: its summary, and the kNN monitor every eval.every_epochs. */
static int end_of_epoch(struct engine *g, struct window *ep, int epoch, struct err *e)
{
	epoch_summary(g, ep, epoch);
	int every = g->s->eval.every_epochs;
	if (every <= 0 || (epoch + 1) % every != 0 || g->step >= g->total)
		return 0;
	int rc = g->rank == 0 ? engine_knn_monitor(g, e) : 0;
	replica_wait_all(g->o->replica); /* the others wait for rank 0, however long it takes */
	return rc;
}

/* Whether to stop now: a stop on any rank stops every rank at the same step. */
static int stop_requested(const struct engine *g)
{
	const atomic_int *stop = engine_stop_flag(g);
	return replica_any(g->o->replica, stop && atomic_load(stop));
}

static int train(struct engine *g, struct err *e)
{
	struct window pt = { .start = clock_seconds() }, ep = pt;
	const long first = g->step;
	g->last_ckpt_time = pt.start;
	while (g->step < g->total) {
		if (stop_requested(g)) {
			g->r->state = ENGINE_STOPPED;
			return save(g, e);
		}
		struct loader_batch b;
		int rc = loader_next(g->loader, &b, e);
		if (rc)
			return rc;
		struct byol_hyper hp = byol_hyper_at(&g->sched, g->step);
		struct byol_stats st;
		byol_step(&g->m, b.view1, b.view2, &hp, &st);
		loader_release(g->loader);
		if (!isfinite(st.loss))
			return err_set(e, ERR_INVALID, "the loss is %f at step %ld", st.loss,
				       g->step + 1);
		g->step++;
		if (g->step == first + 1 && (rc = check_replicas_agree(g, e)))
			return rc;
		pt.loss += st.loss, pt.steps++;
		ep.loss += st.loss, ep.steps++;
		if (g->step % g->s->train.log_every == 0 || g->step == g->total) /* the last one too */
			step_point(g, &pt, &hp, &st, b.epoch);
		if (g->step % g->per_epoch == 0 && (rc = end_of_epoch(g, &ep, b.epoch, e)))
			return rc;
		if (g->step < g->total && (rc = periodic_checkpoint(g, e)))
			return rc;
	}
	if (ep.steps > 0)
		g->r->final_loss = ep.loss / (double)ep.steps;
	g->r->state = ENGINE_COMPLETED;
	if (g->step == first && g->o->resume) { /* resumed at the end: the file is there */
		snprintf(g->r->checkpoint, sizeof g->r->checkpoint, "%s", g->o->resume);
		return 0;
	}
	return save(g, e);
}

static void teardown(struct engine *g)
{
	loader_stop(g->loader);
	byol_model_free(&g->m);
	pool_free(g->pool);
	engine_free_sets(g);
	free(g->kept);
}

int engine_run(const struct spec *s, const char *spec_json, const struct engine_options *o,
	       const struct engine_hooks *h, struct engine_result *r, struct err *e)
{
	struct engine g = { .s = s, .spec_json = spec_json, .o = o, .h = h, .r = r,
			    .rank = o->replica ? o->replica->rank : 0,
			    .ranks = replica_count(o->replica) };
	memset(r, 0, sizeof *r);
	r->top1 = r->top5 = r->knn_top1 = r->finetune_top1 = -1;
	r->final_loss = NAN; /* unknown until an epoch ends in this run */
	int rc = setup(&g, e);
	if (!rc && !o->eval_only)
		rc = train(&g, e);
	r->step = g.step;
	if (!rc && r->state == ENGINE_COMPLETED)
		rc = engine_finish(&g, e);
	/* Images left out: files skipped at open in both data sets, plus the images
	   that could not be decoded (by the loader or the last evaluation). */
	size_t undecoded = g.loader ? loader_skipped(g.loader) : 0;
	r->skipped_images = engine_sets_skipped(&g) +
			    (undecoded > g.eval_bad[0] ? undecoded : g.eval_bad[0]) + g.eval_bad[1];
	if (g.loader) {
		r->data_wait_ms = loader_wait_ms(g.loader);
		loader_reports(&g);
		if (undecoded > LOADER_MAX_REPORTS) {
			char msg[4400];
			snprintf(msg, sizeof msg, "data: %zu images of %s could not be decoded (%d "
				 "named above)", undecoded, s->data.path, LOADER_MAX_REPORTS);
			engine_log(&g, "warning", msg);
		}
	}
	teardown(&g);
	return rc;
}
