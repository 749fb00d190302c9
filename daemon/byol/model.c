/*
 * model.c — building the BYOL networks and running a training step.
 */
#include "byol/model.h"

#include <stdlib.h>
#include <string.h>

#include "byol/loss.h"
#include "byol/optim.h"
#include "clock.h"

static const char *const prefixes[BYOL_PARTS] = {
	"online.encoder.", "online.projector.", "online.predictor.", "target.encoder.",
	"target.projector.",
};

const char *byol_part_prefix(enum byol_part part)
{
	return prefixes[part];
}

/* Build one part's net; heads take a (dim,1,1) input. */
static int build_part(struct nn_net *net, enum byol_part part, const struct byol_config *c,
		      struct pool *pool, int encoder_dim)
{
	switch (part) {
	case BYOL_ENCODER:
	case BYOL_TARGET_ENCODER:
		nn_net_init(net, pool, c->channels, c->size, c->size);
		return encoder_build(net, "", 0, &c->encoder);
	case BYOL_PROJECTOR:
	case BYOL_TARGET_PROJECTOR:
		nn_net_init(net, pool, encoder_dim, 1, 1);
		return mlp_build(net, "", 0, c->proj_hidden, c->proj_out);
	default:
		nn_net_init(net, pool, c->proj_out, 1, 1);
		return mlp_build(net, "", 0, c->pred_hidden, c->pred_out);
	}
}

static enum nn_grad_mode grad_mode(enum byol_part part)
{
	return part == BYOL_ENCODER ? NN_GRAD_PARAMS
	       : part <= BYOL_PREDICTOR ? NN_GRAD_INPUT : NN_GRAD_NONE;
}

static int alloc_buffers(struct byol_model *m, const struct byol_config *c, struct err *e)
{
	const size_t out = (size_t)c->batch * c->proj_out;
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++) {
		m->momentum[p] = calloc(m->net[p].param_len + 1, sizeof(float));
		if (!m->momentum[p])
			return err_set(e, ERR_NOMEM, "byol: out of memory for optimizer state");
	}
	m->dp = malloc(out * sizeof(float));
	m->target_z[0] = malloc(out * sizeof(float));
	m->target_z[1] = malloc(out * sizeof(float));
	m->z_scratch = malloc(2 * (size_t)c->proj_out * sizeof(double));
	if (!m->dp || !m->target_z[0] || !m->target_z[1] || !m->z_scratch)
		return err_set(e, ERR_NOMEM, "byol: out of memory for loss buffers");
	return 0;
}

int byol_model_init(struct byol_model *m, const struct byol_config *cfg,
		    const struct byol_optim *optim, struct pool *pool, uint64_t seed,
		    struct err *e)
{
	memset(m, 0, sizeof *m);
	m->optim = *optim;
	m->batch = cfg->batch;
	if (cfg->pred_out != cfg->proj_out)
		return err_set(e, ERR_INVALID, "byol: predictor output %d must equal projector "
			       "output %d", cfg->pred_out, cfg->proj_out);
	int dim = 0;
	for (int p = 0; p < BYOL_PARTS; p++) {
		if (build_part(&m->net[p], p, cfg, pool, dim) < 0 ||
		    nn_net_finalize(&m->net[p], e) ||
		    nn_net_set_batch(&m->net[p], cfg->batch, grad_mode(p), e)) {
			if (!e->code)
				err_set(e, ERR_INVALID, "byol: %s", m->net[p].err.msg);
			byol_model_free(m);
			return e->code;
		}
		if (p == BYOL_ENCODER)
			dim = nn_net_out_dim(&m->net[p]);
	}
	if (alloc_buffers(m, cfg, e)) {
		byol_model_free(m);
		return e->code;
	}
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		nn_net_reset_params(&m->net[p], seed * BYOL_PARTS + (uint64_t)p);
	byol_model_reset_target(m);
	return 0;
}

void byol_model_reset_target(struct byol_model *m)
{
	for (int p = BYOL_ENCODER; p <= BYOL_PROJECTOR; p++) {
		struct nn_net *on = &m->net[p], *tg = &m->net[p + BYOL_TARGET_ENCODER];
		memcpy(tg->param, on->param, on->param_len * sizeof(float));
		memcpy(tg->buffer, on->buffer, on->buffer_len * sizeof(float));
	}
}

void byol_model_free(struct byol_model *m)
{
	for (int p = 0; p < BYOL_PARTS; p++)
		nn_net_free(&m->net[p]);
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		free(m->momentum[p]);
	free(m->dp);
	free(m->target_z[0]);
	free(m->target_z[1]);
	free(m->z_scratch);
	free(m->prof);
	memset(m, 0, sizeof *m);
}

/* Run stmt; in profile mode add its seconds to m->prof->field. */
#define TIMED(m, field, stmt)                                   \
	do {                                                    \
		double t0_ = (m)->prof ? clock_seconds() : 0;           \
		stmt;                                           \
		if ((m)->prof)                                  \
			(m)->prof->field += clock_seconds() - t0_;      \
	} while (0)

int byol_model_profile(struct byol_model *m, int on)
{
	free(m->prof);
	m->prof = on ? calloc(1, sizeof *m->prof) : NULL;
	int rc = on && !m->prof ? -1 : 0;
	for (int p = 0; p < BYOL_PARTS; p++)
		rc |= nn_net_profile(&m->net[p], on && m->prof);
	return rc;
}

/* Forward a view through encoder then projector (online or target) in training mode. */
static const float *project(struct byol_model *m, enum byol_part encoder, const float *view)
{
	const float *y = nn_net_forward(&m->net[encoder], view, 1);
	return nn_net_forward(&m->net[encoder + 1], y, 1);
}

/* Gradients of one net summed over replicas in buckets of about BUCKET_FLOATS, each
   started as soon as the last backward has made it final, so the sums travel while
   the earlier layers' backward runs. */
#define BUCKET_FLOATS ((size_t)1 << 20)

struct bucketer {
	const struct replica *r;
	float *grad;
	size_t unsent; /* gradients [0, unsent) not started yet */
};

static void send_ready(void *ctx, size_t from)
{
	struct bucketer *b = ctx;
	if (from < b->unsent && (b->unsent - from >= BUCKET_FLOATS || from == 0)) {
		replica_start_sum_f32(b->r, b->grad + from, b->unsent - from);
		b->unsent = from;
	}
	replica_progress(b->r);
}

/* Backward of net from dout; on the step's last backward with replicas, sending. */
static void backward(struct byol_model *m, enum byol_part p, const float *dout, int last)
{
	struct nn_net *net = &m->net[p];
	if (!last || replica_count(m->replica) == 1) {
		nn_net_backward(net, dout);
		return;
	}
	struct bucketer b = { .r = m->replica, .grad = net->grad, .unsent = net->param_len };
	nn_net_backward_each(net, dout, send_ready, &b);
}

/* The online half for one view: forward, loss against the other view's target, backward
   (the step's last: its gradients are final as they come). */
static double online_view(struct byol_model *m, const float *view, const float *target,
			  double *z_std, int last)
{
	const int dim = nn_net_out_dim(&m->net[BYOL_PREDICTOR]);
	const float *z = project(m, BYOL_ENCODER, view);
	if (z_std)
		TIMED(m, loss_s, *z_std = byol_z_std(m->z_scratch, z, m->batch, dim));
	const float *p = nn_net_forward(&m->net[BYOL_PREDICTOR], z, 1);
	double loss;
	TIMED(m, loss_s, memset(m->dp, 0, (size_t)m->batch * dim * sizeof(float));
	      loss = byol_loss(m->dp, p, target, m->batch, dim));
	backward(m, BYOL_PREDICTOR, m->dp, last);
	backward(m, BYOL_PROJECTOR, m->net[BYOL_PREDICTOR].acts[0].grad, last);
	backward(m, BYOL_ENCODER, m->net[BYOL_PROJECTOR].acts[0].grad, last);
	return loss;
}

/* The mean over replicas of each one's value (its slice's mean loss). */
static double replica_mean(const struct replica *r, double value)
{
	const int n = replica_count(r);
	if (n == 1)
		return value;
	replica_sum_f64(r, &value, 1);
	return value / n;
}

/* The mean of the replicas' gradients (summed by backward): that of the global
   batch's mean loss. */
static void average_grads(const struct replica *r, struct nn_net *net)
{
	const int n = replica_count(r);
	if (n == 1)
		return;
	const float k = 1.0f / (float)n;
	for (size_t i = 0; i < net->param_len; i++)
		net->grad[i] *= k;
}

void byol_model_set_replica(struct byol_model *m, const struct replica *r, int sync_bn)
{
	m->replica = r;
	for (int p = 0; p < BYOL_PARTS; p++)
		m->net[p].replica = sync_bn ? r : NULL;
}

void byol_step(struct byol_model *m, const float *view1, const float *view2,
	       const struct byol_hyper *h, struct byol_stats *stats)
{
	double start = m->prof ? clock_seconds() : 0;
	const size_t out = (size_t)m->batch * nn_net_out_dim(&m->net[BYOL_TARGET_PROJECTOR]);
	memcpy(m->target_z[0], project(m, BYOL_TARGET_ENCODER, view1), out * sizeof(float));
	memcpy(m->target_z[1], project(m, BYOL_TARGET_ENCODER, view2), out * sizeof(float));
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		TIMED(m, zero_grad_s, nn_net_zero_grad(&m->net[p]));
	double loss = online_view(m, view1, m->target_z[1], &stats->z_std, 0);
	loss += online_view(m, view2, m->target_z[0], NULL, 1);
	replica_wait_sums(m->replica);
	stats->loss = replica_mean(m->replica, loss);
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++) {
		average_grads(m->replica, &m->net[p]);
		TIMED(m, optim_s, byol_optim_update(&m->net[p], m->momentum[p], &m->optim, h->lr));
	}
	TIMED(m, ema_s,
	      byol_ema_update(&m->net[BYOL_TARGET_ENCODER], &m->net[BYOL_ENCODER], h->tau);
	      byol_ema_update(&m->net[BYOL_TARGET_PROJECTOR], &m->net[BYOL_PROJECTOR], h->tau));
	if (m->prof) {
		m->prof->step_s += clock_seconds() - start;
		m->prof->steps++;
	}
}

const float *byol_features(struct byol_model *m, const float *images)
{
	return nn_net_forward(&m->net[BYOL_ENCODER], images, 0);
}
