/*
 * model.h — the BYOL networks and one training step (Grill et al. 2020).
 *
 * Online: encoder f → projector g → predictor q. Target: encoder f_ξ →
 * projector g_ξ, with the online network's layout and names, starting equal
 * to it. Each is its own nn_net so the pieces chain through their input
 * gradients; the target nets hold no gradients.
 *
 * A step (byol_step): target forward of both views (training-mode BN, so the
 * target keeps its own running statistics), then for each view the online
 * forward, the loss against the target projection of the OTHER view
 * (stop-gradient), and its backward, accumulating gradients; then the
 * gradients are averaged over replicas, the optimizer updates θ, and the EMA
 * moves ξ toward θ. The two views' losses do not share online activations,
 * so one set of activation buffers serves both.
 *
 *     struct byol_model m;
 *     byol_model_init(&m, &cfg, pool, &err);
 *     for (k = 0; k < K; k++) {
 *         struct byol_hyper h = byol_hyper_at(&sched, k);
 *         byol_step(&m, view1, view2, &h, &stats);
 *     }
 *     byol_model_free(&m);
 */
#ifndef BYOL_BYOL_MODEL_H
#define BYOL_BYOL_MODEL_H

#include "nn/models.h"

/* Networks: the encoder and the two heads, at a fixed batch size. */
struct byol_config {
	struct encoder_config encoder;
	int channels, size; /* input images: channels × size × size */
	int proj_hidden, proj_out, pred_hidden, pred_out;
	int batch;
};

/* Optimizer settings (LARS as the BYOL paper uses it, or plain momentum SGD). */
struct byol_optim {
	int lars;            /* 1 = LARS, 0 = SGD */
	double weight_decay; /* not applied to biases and BN parameters */
	double momentum;
	double eta;          /* LARS trust coefficient */
	int nesterov;        /* Nesterov momentum (fine-tuning's SGD) */
};

/* The per-step values of the schedules. */
struct byol_hyper {
	double lr;
	double tau;
};

/* Learning-rate and τ schedules over a run of total_steps optimizer steps. */
struct byol_schedule {
	double peak_lr;     /* base_lr · batch / 256 */
	long warmup_steps;  /* linear from 0 */
	long total_steps;   /* K: cosine decay of the lr to 0 and of 1 − τ to 0 */
	double tau_base;
};

/* lr and τ for step k (0-based: the k-th update uses them). */
struct byol_hyper byol_hyper_at(const struct byol_schedule *s, long k);

/* What a step measured. */
struct byol_stats {
	double loss;  /* mean over the batch of the symmetric loss, in [0, 8] */
	double z_std; /* mean over dimensions of the std of normalised online projections */
};

/* The networks in the order checkpoints list them. */
enum byol_part { BYOL_ENCODER, BYOL_PROJECTOR, BYOL_PREDICTOR, BYOL_TARGET_ENCODER,
		 BYOL_TARGET_PROJECTOR, BYOL_PARTS };

/* Time profiled steps spend outside the nets' nodes (byol_model_profile). */
struct byol_step_prof {
	double loss_s;      /* loss, its gradient and the collapse watch */
	double optim_s;     /* LARS or SGD updates */
	double ema_s;       /* target EMA */
	double zero_grad_s; /* zeroing the parameter gradients */
	double step_s;      /* the whole of byol_step */
	long steps;
};

struct byol_model {
	struct nn_net net[BYOL_PARTS];
	float *momentum[BYOL_PREDICTOR + 1]; /* optimizer state of the online nets */
	float *dp;                           /* loss gradient, batch × out */
	float *target_z[2];                  /* target projections of view 1 and 2 */
	double *z_scratch;                   /* 2 × out, for the collapse watch */
	struct byol_optim optim;
	const struct replica *replica;       /* NULL: one process */
	struct byol_step_prof *prof;         /* profile mode, else NULL */
	int batch;
};

/* Train as one of r's replicas (NULL: alone): gradients and losses averaged over
   them, and with sync_bn BatchNorm's statistics taken over the global batch. */
void byol_model_set_replica(struct byol_model *m, const struct replica *r, int sync_bn);

/* Checkpoint prefix of a part: "online.encoder." ... "target.projector.". */
const char *byol_part_prefix(enum byol_part part);

int byol_model_init(struct byol_model *m, const struct byol_config *cfg,
		    const struct byol_optim *optim, struct pool *pool, uint64_t seed,
		    struct err *e);
void byol_model_free(struct byol_model *m);

/* Make the target (parameters and BN statistics) a copy of the online encoder and projector. */
void byol_model_reset_target(struct byol_model *m);

/* One optimizer step on two augmented views (batch × channels × size × size each). */
void byol_step(struct byol_model *m, const float *view1, const float *view2,
	       const struct byol_hyper *h, struct byol_stats *stats);

/* Profile mode on (timings zeroed, every net's nodes timed too) or off; -1 if out
   of memory. Profiling changes no result. */
int byol_model_profile(struct byol_model *m, int on);

/* Online encoder features of a batch in eval mode (BN running statistics). */
const float *byol_features(struct byol_model *m, const float *images);

#endif
