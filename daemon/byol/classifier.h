/*
 * classifier.h — an encoder with a linear head, trained end to end on labels:
 * the network of semi-supervised fine-tuning (Grill et al. 2020, §4.1 and
 * appendix D.1: the pretrained online encoder plus a linear classifier, all
 * trained with SGD and Nesterov momentum, no weight decay).
 *
 * The encoder is a copy of a trained one (or of a random initialisation);
 * the head is Linear(dim → classes) with PyTorch's default initialisation
 * from a seed. A step is the forward in training mode (BN on the batch's
 * statistics, the running statistics updated as PyTorch does), softmax
 * cross-entropy, the backward through head and encoder, and one SGD update of
 * both. Scoring runs in eval mode (BN running statistics).
 *
 *	struct classifier c;
 *	classifier_init(&c, &arch, &trained_encoder, 1, 28, 10, 64, seed, pool, &e);
 *	for (...)
 *		loss = classifier_step(&c, images, labels, lr);
 *	const float *logits = classifier_logits(&c, images); // batch × classes
 *	classifier_free(&c);
 */
#ifndef BYOL_BYOL_CLASSIFIER_H
#define BYOL_BYOL_CLASSIFIER_H

#include <stdint.h>

#include "byol/model.h"

#define CLASSIFIER_MOMENTUM 0.9

struct classifier {
	struct nn_net enc, head;
	float *mom_enc, *mom_head; /* SGD momentum, the arenas' layout */
	float *dlogits;            /* batch × classes */
	int batch, classes, dim;
	struct byol_optim optim;
};

/*
 * The encoder of architecture arch for channels × size × size images, its
 * parameters and BN buffers copied from from (a net of that architecture), a
 * head for classes classes initialised from seed, activations for batch
 * images. ERR_INVALID if from's layout differs, ERR_NOMEM.
 */
int classifier_init(struct classifier *c, const struct encoder_config *arch,
		    const struct nn_net *from, int channels, int size, int classes, int batch,
		    uint64_t seed, struct pool *pool, struct err *e);
void classifier_free(struct classifier *c);

/* One SGD step (Nesterov momentum 0.9, no weight decay) on a batch of images
   (batch × channels × size × size) and labels; returns the mean loss. */
double classifier_step(struct classifier *c, const float *images, const int *labels, double lr);

/* Logits (batch × classes) of a batch in eval mode; valid until the next call. */
const float *classifier_logits(struct classifier *c, const float *images);

#endif
