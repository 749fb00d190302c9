/*
 * loader.c — batch producer threads over a ring of slots (see loader.h).
 */
#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

enum slot_state { SLOT_EMPTY, SLOT_FILLING, SLOT_READY };

struct slot {
	enum slot_state state;
	long step;
	float *views;  /* view 1 then view 2 */
	int *labels;   /* the images' labels */
	int failed;    /* a bad image under skip_bad = 0 */
	char error[256];
};

struct worker {
	struct loader *l;
	pthread_t thread;
	struct image img;
	float *scratch;
	size_t scratch_len;
	int started;
};

struct loader {
	struct loader_config cfg;
	size_t n;           /* images */
	long per_epoch;     /* steps per epoch */
	int slice_n;        /* images of each batch built here */
	size_t view_len;    /* floats per view of a batch's slice */
	struct slot *slots;
	struct worker *workers;
	pthread_mutex_t mu;
	pthread_cond_t ready, free_slot;
	long next_fill;     /* next step a worker should build */
	long next_take;     /* next step loader_next hands out */
	int stopping;
	uint8_t *bad;       /* bitmap of the images that could not be decoded */
	size_t skipped;     /* bits set in bad */
	size_t taken;       /* reports handed to loader_take_report */
	char reports[LOADER_MAX_REPORTS][256]; /* the first ones' messages */
	double wait_ms;
};

long loader_steps_per_epoch(size_t n, int batch)
{
	return batch > 0 ? (long)(n / (size_t)batch) : 0;
}

/* Fisher–Yates permutation of [0, n) from (seed, epoch). */
static void permute(size_t *perm, size_t n, uint64_t seed, long epoch)
{
	struct rng r;
	rng_init(&r, seed ^ 0x53485546464c45ULL, (uint64_t)epoch); /* "SHUFFLE" domain */
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_u64(&r) % i);
		size_t t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

/* Record image i as undecodable (each image counted once, the first ones' reasons kept). */
static void mark_bad(struct loader *l, size_t i, const struct err *e)
{
	pthread_mutex_lock(&l->mu);
	if (!(l->bad[i / 8] & (1u << (i % 8)))) {
		l->bad[i / 8] |= (uint8_t)(1u << (i % 8));
		if (l->skipped < LOADER_MAX_REPORTS)
			snprintf(l->reports[l->skipped], sizeof l->reports[0], "%s", e->msg);
		l->skipped++;
	}
	pthread_mutex_unlock(&l->mu);
}

/* Both views' draws for image i of h×w (native size), then the decode scale
   (8/8 for an image that does not scale: a PNG, a WebP). */
static int draw_views(struct worker *w, size_t i, long epoch, int h, int wd,
		      struct augment_draw d[2])
{
	const struct loader_config *c = &w->l->cfg;
	const int scaled = c->dct_scale && dataset_scalable(c->ds, i);
	int scale = 1;
	for (int v = 0; v < 2; v++) {
		struct rng r = augment_rng(c->seed, (uint64_t)epoch, i, v + 1);
		augment_draw(&d[v], &c->view[v], h, wd, &r);
		int m = scaled ? augment_decode_scale(&d[v], h, wd, c->size) : 8;
		scale = m > scale ? m : scale;
	}
	return scale;
}

/* Draw image i's views and decode it at their scale into w->img, the draws mapped to it. */
static int load_one(struct worker *w, size_t i, long epoch, struct augment_draw d[2],
		    struct err *e)
{
	int c, h, wd;
	dataset_shape(w->l->cfg.ds, i, &c, &h, &wd);
	int scale = draw_views(w, i, epoch, h, wd, d);
	int rc = dataset_load_scaled(w->l->cfg.ds, i, &scale, &w->img, e);
	if (rc)
		return rc;
	/* The draws assumed the size listed at open: a file replaced since is bad. */
	if (w->img.h != dataset_scaled_side(h, scale) || w->img.w != dataset_scaled_side(wd, scale))
		return err_set(e, ERR_INVALID, "image %zu: its size changed since the data set was "
			       "opened (%dx%d then)", i, wd, h);
	for (int v = 0; v < 2; v++)
		augment_scale_draw(&d[v], h, wd, scale);
	return 0;
}

/* Load image idx with its draws, or under skip_bad the first loadable one after it (wrapping). */
static int load_image(struct worker *w, size_t *idx, long epoch, struct augment_draw d[2],
		      struct err *e)
{
	struct loader *l = w->l;
	for (size_t tries = 0; tries < l->n; tries++) {
		size_t i = (*idx + tries) % l->n;
		if (load_one(w, i, epoch, d, e) == 0) {
			*idx = i;
			return 0;
		}
		if (!l->cfg.skip_bad)
			return e->code;
		mark_bad(l, i, e);
	}
	return err_set(e, ERR_INVALID, "no image of the data set could be decoded");
}

/* Make sure the worker's scratch fits the current image. */
static int ensure_scratch(struct worker *w, struct err *e)
{
	size_t need = augment_scratch_floats(w->l->cfg.size, &w->img);
	if (need <= w->scratch_len)
		return 0;
	float *p = realloc(w->scratch, need * sizeof(float));
	if (!p)
		return err_set(e, ERR_NOMEM, "loader: out of memory");
	w->scratch = p;
	w->scratch_len = need;
	return 0;
}

/* Build the batch of step into slot s (indices from the permutation of its epoch). */
static int fill(struct worker *w, struct slot *s, const size_t *perm, long epoch, struct err *e)
{
	struct loader *l = w->l;
	const struct loader_config *c = &l->cfg;
	const long pos = s->step % l->per_epoch;
	const size_t per_image = l->view_len / (size_t)l->slice_n;
	for (int b = 0; b < l->slice_n; b++) {
		size_t idx = perm[(size_t)pos * (size_t)c->batch + (size_t)(c->slice_lo + b)];
		struct augment_draw d[2];
		if (load_image(w, &idx, epoch, d, e) || ensure_scratch(w, e))
			return e->code;
		s->labels[b] = dataset_label(c->ds, idx);
		for (int v = 0; v < 2; v++) {
			float *out = s->views + (size_t)v * l->view_len + (size_t)b * per_image;
			augment_apply(out, w->scratch, &w->img, &d[v], c->size, c->mean, c->std);
		}
	}
	return 0;
}

/* Claim the next step to build, waiting for its slot to be free; NULL when stopping. */
static struct slot *claim(struct loader *l)
{
	pthread_mutex_lock(&l->mu);
	struct slot *s = NULL;
	while (!l->stopping) {
		struct slot *cand = &l->slots[l->next_fill % l->cfg.depth];
		if (cand->state == SLOT_EMPTY) {
			s = cand;
			s->state = SLOT_FILLING;
			s->step = l->next_fill++;
			break;
		}
		pthread_cond_wait(&l->free_slot, &l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return s;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loader *l = w->l;
	size_t *perm = malloc(l->n * sizeof *perm);
	long have = -1;
	struct slot *s;
	while (perm && (s = claim(l))) {
		struct err e = { 0 };
		long epoch = s->step / l->per_epoch;
		if (epoch != have) { /* each worker keeps its own: epochs may overlap in the ring */
			permute(perm, l->n, l->cfg.seed, epoch);
			have = epoch;
		}
		int failed = fill(w, s, perm, epoch, &e) != 0;
		pthread_mutex_lock(&l->mu);
		s->failed = failed;
		if (failed)
			snprintf(s->error, sizeof s->error, "%s", e.msg);
		s->state = SLOT_READY;
		pthread_cond_broadcast(&l->ready);
		pthread_mutex_unlock(&l->mu);
	}
	free(perm);
	return NULL;
}

static int start_workers(struct loader *l, struct err *e)
{
	for (int t = 0; t < l->cfg.threads; t++) {
		struct worker *w = &l->workers[t];
		w->l = l;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
			return err_set(e, ERR_NOMEM, "loader: cannot start thread %d", t);
		w->started = 1;
	}
	return 0;
}

int loader_start(struct loader **out, const struct loader_config *cfg, long first_step,
		 struct err *e)
{
	*out = NULL;
	size_t n = dataset_size(cfg->ds);
	long per_epoch = loader_steps_per_epoch(n, cfg->batch);
	if (per_epoch < 1)
		return err_set(e, ERR_INVALID, "the data set has %zu images, fewer than one batch "
			       "of %d", n, cfg->batch);
	const int slice_n = cfg->slice_n ? cfg->slice_n : cfg->batch;
	if (cfg->threads < 1 || cfg->depth < 2 || first_step < 0 || cfg->slice_lo < 0 ||
	    slice_n < 1 || cfg->slice_lo + slice_n > cfg->batch)
		return err_set(e, ERR_INVALID, "loader: bad configuration");
	struct loader *l = calloc(1, sizeof *l);
	if (!l)
		return err_set(e, ERR_NOMEM, "loader: out of memory");
	l->cfg = *cfg;
	l->n = n;
	l->per_epoch = per_epoch;
	l->slice_n = slice_n;
	l->view_len = (size_t)slice_n * (size_t)cfg->channels * (size_t)cfg->size *
		      (size_t)cfg->size;
	l->next_fill = l->next_take = first_step;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->ready, NULL);
	pthread_cond_init(&l->free_slot, NULL);
	l->slots = calloc((size_t)cfg->depth, sizeof *l->slots);
	l->workers = calloc((size_t)cfg->threads, sizeof *l->workers);
	l->bad = calloc(n / 8 + 1, 1);
	int rc = l->slots && l->workers && l->bad ? 0
						  : err_set(e, ERR_NOMEM, "loader: out of memory");
	for (int i = 0; !rc && i < cfg->depth; i++) {
		l->slots[i].views = malloc(2 * l->view_len * sizeof(float));
		l->slots[i].labels = malloc((size_t)slice_n * sizeof(int));
		if (!l->slots[i].views || !l->slots[i].labels)
			rc = err_set(e, ERR_NOMEM, "loader: out of memory for %d batches",
				     cfg->depth);
	}
	if (!rc)
		rc = start_workers(l, e);
	if (rc) {
		loader_stop(l);
		return rc;
	}
	*out = l;
	return 0;
}

int loader_next(struct loader *l, struct loader_batch *b, struct err *e)
{
	struct slot *s = &l->slots[l->next_take % l->cfg.depth];
	pthread_mutex_lock(&l->mu);
	if (!(s->state == SLOT_READY && s->step == l->next_take)) {
		double t0 = clock_seconds();
		while (!(s->state == SLOT_READY && s->step == l->next_take))
			pthread_cond_wait(&l->ready, &l->mu);
		l->wait_ms += 1e3 * (clock_seconds() - t0);
	}
	pthread_mutex_unlock(&l->mu);
	if (s->failed)
		return err_set(e, ERR_INVALID, "%s", s->error);
	b->step = s->step;
	b->epoch = (int)(s->step / l->per_epoch);
	b->view1 = s->views;
	b->view2 = s->views + l->view_len;
	b->labels = s->labels;
	return 0;
}

void loader_release(struct loader *l)
{
	pthread_mutex_lock(&l->mu);
	l->slots[l->next_take % l->cfg.depth].state = SLOT_EMPTY;
	l->next_take++;
	pthread_cond_broadcast(&l->free_slot);
	pthread_mutex_unlock(&l->mu);
}

size_t loader_skipped(struct loader *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->skipped;
	pthread_mutex_unlock(&l->mu);
	return n;
}

int loader_take_report(struct loader *l, char *buf, size_t size)
{
	int got = 0;
	pthread_mutex_lock(&l->mu);
	if (l->taken < l->skipped && l->taken < LOADER_MAX_REPORTS) {
		snprintf(buf, size, "%s", l->reports[l->taken++]);
		got = 1;
	}
	pthread_mutex_unlock(&l->mu);
	return got;
}

double loader_wait_ms(struct loader *l)
{
	return l->wait_ms;
}

void loader_stop(struct loader *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = 1;
	pthread_cond_broadcast(&l->free_slot);
	pthread_mutex_unlock(&l->mu);
	for (int t = 0; l->workers && t < l->cfg.threads; t++) {
		if (l->workers[t].started)
			pthread_join(l->workers[t].thread, NULL);
		image_free(&l->workers[t].img);
		free(l->workers[t].scratch);
	}
	for (int i = 0; l->slots && i < l->cfg.depth; i++) {
		free(l->slots[i].views);
		free(l->slots[i].labels);
	}
	free(l->slots);
	free(l->workers);
	free(l->bad);
	pthread_cond_destroy(&l->ready);
	pthread_cond_destroy(&l->free_slot);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
