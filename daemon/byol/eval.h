/*
 * eval.h — evaluation of frozen features (the paper's linear evaluation and a kNN monitor; byol-spec(5) `eval`).
 *
 * Two measures on features that are already computed (encode.h), one row per
 * image:
 *   eval_knn     the kNN monitor: cosine similarity to every train row, the k
 *                nearest vote for their class with weight exp(sim / t).
 *                Cheap enough to run every few epochs.
 *   eval_linear  the linear probe: softmax regression on standardised features
 *                with a small (lr, wd) sweep chosen on a held-out 10% of train,
 *                then retrained on all of train. Runs at the end of training.
 * Both report top-1 and top-5 in percent on the test set (top-5 means top-
 * `classes` when there are fewer than 5 classes). Both allocate their working
 * memory at entry and free it before returning; neither keeps state.
 *
 *	struct eval_set tr = { feat_train, labels_train, 60000 };
 *	struct eval_set te = { feat_test, labels_test, 10000 };
 *	struct eval_result r;
 *	if (eval_knn(&r, &tr, &te, dim, 10, 200, 0.1, pool, &e) < 0)
 *		return e.code;
 *	printf("kNN top-1 %.2f%%\n", r.top1);
 *
 * Errors: ERR_INVALID for a bad argument (sizes, k, t, a label outside
 * [0, classes), a feature that is not finite), ERR_RANGE for sizes beyond
 * what BLAS takes (INT_MAX), ERR_NOMEM; the message says which.
 */
#ifndef BYOL_BYOL_EVAL_H
#define BYOL_BYOL_EVAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "nn/pool.h"

/* Features of a labelled set: n rows of dim floats (row-major), labels in [0, classes). */
struct eval_set {
	const float *x; /* n × dim */
	const int *y;   /* n */
	size_t n;
};

struct eval_result {
	double top1, top5; /* percent of the test set */
	double lr, wd;     /* probe: the chosen setting (kNN: 0) */
};

/*
 * kNN monitor: l2-normalise both sets' features, cosine similarity of every
 * test row to every train row (blocks of test rows through gemm, never the
 * whole n_test × n_train matrix), the k nearest train rows vote for their
 * class with weight exp(sim / t); top-1 and top-5 by vote. k = min(k, n_train).
 * Needs k >= 1 and t > 0. Ties in the vote go to the lower class index.
 */
int eval_knn(struct eval_result *r, const struct eval_set *train, const struct eval_set *test,
	     int dim, int classes, int k, double t, struct pool *pool, struct err *e);

/*
 * Linear probe: standardise features with the train set's per-dimension mean
 * and std; softmax regression (weights dim × classes + bias, from zero) by
 * mini-batch SGD, Nesterov momentum 0.9, batch 256, cosine lr over `epochs`
 * epochs, weight decay wd on the weights. (lr, wd) is chosen from
 * lr ∈ {0.4, 0.1, 0.025} (per batch of 256) × wd ∈ {0, 1e-4, 1e-3} by top-1
 * on a held-out 10% of train (a seeded shuffle; ties go to the earlier
 * setting, in that order), then the probe is retrained on all of train and
 * scored on test. With fewer than 10 train rows there is nothing to hold out
 * and lr 0.1, wd 0 is used. Cost: about 9.1 trainings of `epochs` epochs.
 * Deterministic for a given seed and thread count. Needs epochs >= 1.
 * When *stop (stop may be NULL) becomes non-zero the probe gives up at the end
 * of an epoch and returns ERR_STOPPED.
 */
int eval_linear(struct eval_result *r, const struct eval_set *train, const struct eval_set *test,
		int dim, int classes, int epochs, uint64_t seed, struct pool *pool,
		const atomic_int *stop, struct err *e);

/* Rank of class y among the class scores, 0 = best; ties go to the lower class index
   (so top-1 and top-5 come from one count). */
int eval_rank(const float *score, int classes, int y);

#endif
