/*
 * optim.h — LARS and momentum SGD over a net's parameter arena, the EMA of
 * the target, and the schedules (Grill et al. 2020: LARS, and the cosine τ schedule of the target update).
 */
#ifndef BYOL_BYOL_OPTIM_H
#define BYOL_BYOL_OPTIM_H

#include "byol/model.h"

/*
 * One update of every parameter of net from net->grad, momentum in mom (same
 * layout). Per tensor, in order: g += wd·p; LARS: g *= η‖p‖/‖g‖ (1 if either
 * norm is 0); μ = momentum·μ + g; p −= lr·μ (Nesterov: p −= lr·(g + momentum·μ),
 * as PyTorch's SGD with nesterov=True). Biases and BN parameters
 * (NN_PARAM_NO_DECAY) skip the first two.
 */
void byol_optim_update(struct nn_net *net, float *mom, const struct byol_optim *o, double lr);

/* target ← τ·target + (1 − τ)·online over the parameters (not the BN statistics). */
void byol_ema_update(struct nn_net *target, const struct nn_net *online, double tau);

#endif
