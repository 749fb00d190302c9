/*
 * loss.h — BYOL's normalised MSE between prediction and target projection (Grill et al. 2020).
 *
 * For one sample L(p, z) = ‖p/‖p‖ − z/‖z‖‖² = 2 − 2·cos(p, z) with
 * ‖x‖ = sqrt(max(Σx², 1e-12)). z is a target projection: no gradient.
 */
#ifndef BYOL_BYOL_LOSS_H
#define BYOL_BYOL_LOSS_H

/* Σ_b L(p_b, z_b) / batch for p, z (batch × dim); dp (batch × dim) += dΣL/dp / batch. */
double byol_loss(float *dp, const float *p, const float *z, int batch, int dim);

/* Mean over dimensions of the batch std of the l2-normalised rows of z (collapse watch:
   about 1/sqrt(dim) when healthy, 0 when collapsed). scratch: 2·dim doubles. */
double byol_z_std(double *scratch, const float *z, int batch, int dim);

/* Softmax cross-entropy of logits z (batch × classes) against labels, mean over the
   batch: returns the loss and turns z into dloss/dz in place (max-subtracted, the
   exponentials summed in double). The linear probe and fine-tuning share it. */
double softmax_xent(float *z, const int *labels, int batch, int classes);

#endif
