/*
 * ref_nets_check.h — test_ref_nets' case record and its per-element check:
 * the bound τ(n) on a sum of n float32 terms, the reference tensors of a
 * case, and check(), which holds every element of a node's output to τ(n)
 * times the sum of its terms' magnitudes (see test_ref_nets.c's header).
 * Included by test_ref_nets.c only.
 */
#ifndef BYOL_REF_NETS_CHECK_H
#define BYOL_REF_NETS_CHECK_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "nn/models.h"
#include "ref_util.h"

#define U 0x1p-24      /* unit roundoff of float32 */
#define LAMBDA 10.0    /* of the probabilistic bound */
#define MAX_LABEL 200

/* Bound on the relative error of a sum of n terms (see the top of the file). */
static double tau(double n)
{
	double det = n * U / (1 - n * U);
	double prob = expm1(LAMBDA * sqrt(n) * U + n * U * U / (1 - U));
	return fmin(det, prob);
}

static const char *const OP_NAMES[] = {
	[NN_OP_CONV2D] = "conv2d", [NN_OP_BATCHNORM] = "batchnorm", [NN_OP_RELU] = "relu",
	[NN_OP_MAXPOOL] = "maxpool", [NN_OP_AVGPOOL] = "avgpool",  [NN_OP_LINEAR] = "linear",
	[NN_OP_ADD] = "add",
};

struct ncase {
	struct st_file f;
	struct pool *pool;
	struct nn_net net;
	int batch;
	float **cur;   /* per activation: the reference value its consumers are fed */
	double **acc;  /* per activation: bound on its gradient's error so far */
	size_t max_act, max_param;
	float *abs1, *abs2, *abs3, *sum1, *sum2, *sum3; /* scratch */
	double *want, *bound;
	int checks, failed;
	double worst;
	char worst_what[MAX_LABEL];
};

static const char *meta(const struct st_file *f, const char *key)
{
	const char *v = st_meta(f, key);
	assert_non_null(v);
	return v;
}

/* A new copy of reference tensor printf(fmt, ...) of n elements. */
static float *get(struct ncase *c, size_t n, const char *fmt, ...)
{
	char key[NN_NAME_MAX + 32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(key, sizeof key, fmt, ap);
	va_end(ap);
	float *t = malloc((n ? n : 1) * sizeof *t);
	assert_non_null(t);
	if (ref_copy(t, &c->f, key, n) != 0)
		fail_msg("reference tensor %s", key);
	return t;
}

static size_t act_len(const struct ncase *c, int a)
{
	const struct nn_act *x = &c->net.acts[a];
	return (size_t)c->batch * x->c * x->h * x->w;
}

static float *param(struct ncase *c, int id)
{
	return id < 0 ? NULL : c->net.param + c->net.params[id].offset;
}

static float *grad(struct ncase *c, int id)
{
	return id < 0 ? NULL : c->net.grad + c->net.params[id].offset;
}

/* The module a node belongs to ("layer1.0.conv1"), "" for ReLU, pools and add. */
static void module_name(const struct nn_net *net, const struct nn_node *nd, char *out, size_t cap)
{
	out[0] = '\0';
	if (nd->weight < 0)
		return;
	snprintf(out, cap, "%s", net->params[nd->weight].name);
	char *dot = strrchr(out, '.');
	if (dot)
		*dot = '\0';
}

static float *absolute(float *dst, const float *src, size_t n)
{
	if (!src)
		return NULL;
	for (size_t j = 0; j < n; j++)
		dst[j] = fabsf(src[j]);
	return dst;
}

/*
 * ours within c->bound of c->want, element by element; records the largest
 * error as a fraction of its bound (NaN and a nonzero error against a zero
 * bound count as infinite).
 */
static void check(struct ncase *c, int node, const char *what, const float *ours, size_t n)
{
	const struct nn_node *nd = node >= 0 ? &c->net.nodes[node] : NULL;
	char label[MAX_LABEL], mod[NN_NAME_MAX];
	if (nd) {
		module_name(&c->net, nd, mod, sizeof mod);
		snprintf(label, sizeof label, "node %d %s%s%s: %s", node, OP_NAMES[nd->op],
			 *mod ? " " : "", mod, what);
	} else {
		snprintf(label, sizeof label, "%s", what);
	}
	double worst = 0;
	size_t at = 0;
	for (size_t j = 0; j < n; j++) {
		double d = fabs((double)ours[j] - c->want[j]);
		double r = d == 0 ? 0 : isnan(d) ? INFINITY : d / c->bound[j];
		if (r > worst) {
			worst = r;
			at = j;
		}
	}
	c->checks++;
	if (getenv("REF_VERBOSE"))
		fprintf(stderr, "%-60s %.3f of its bound\n", label, worst);
	if (worst > c->worst || !c->worst_what[0]) {
		c->worst = worst;
		snprintf(c->worst_what, sizeof c->worst_what, "%s", label);
	}
	if (!(worst <= 1)) {
		fprintf(stderr, "%s: element %zu is %.9g, want %.9g within %.3g (error %.3g bounds)\n",
			label, at, ours[at], c->want[at], c->bound[at], worst);
		c->failed = 1;
	}
}

#endif
