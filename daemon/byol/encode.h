/*
 * encode.h — encoder features of a whole data set for evaluation: the
 * centre view of every image (no augmentation), through a copy of the online
 * encoder in eval mode (BN running statistics).
 */
#ifndef BYOL_BYOL_ENCODE_H
#define BYOL_BYOL_ENCODE_H

#include <stdatomic.h>

#include "data/dataset.h"
#include "nn/models.h"

struct feature_set {
	float *x;  /* n × dim */
	int *y;    /* n labels */
	size_t n;
	int dim;
};

struct feature_source {
	const struct encoder_config *arch; /* the encoder's architecture */
	const struct nn_net *encoder;      /* its trained weights */
	int channels, size;                /* input images */
	const float *mean, *std;
	int batch;                         /* images per forward */
	const atomic_int *stop; /* if set and non-zero: give up (may be NULL) */
};

/* Features of every image of ds. Images that cannot be decoded are left out and
   counted in *skipped (may be NULL). ERR_STOPPED when src->stop is raised. */
int features_extract(struct feature_set *out, const struct feature_source *src,
		     const struct dataset *ds, struct pool *pool, size_t *skipped, struct err *e);
void features_free(struct feature_set *f);

#endif
