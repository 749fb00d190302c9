/*
 * test_ref_nets.c — whole networks against PyTorch, node by node
 * (tests/ref/gen_nets.py).
 *
 * For each reference file: build the same network, check that its graph is
 * the reference's (each node's op, module and activations), load every
 * parameter and buffer by its PyTorch name, then run the network's own nodes
 * (nn_net_forward_node, nn_net_backward_node) in order on its own
 * activations and gradient arena, feeding each node the reference's input:
 *
 * - forward (train, then eval): before node i its input activations are set
 *   to the reference values; its output (BatchNorm: also the batch mean and
 *   rstd and the running statistics) is compared with the exact (float64)
 *   result of the node on that input;
 * - backward (in reverse): node i's output gradient is first compared with
 *   the reference (it is the sum of what its consumers added, so this checks
 *   the fan-out accumulation and the sharing of gradient memory), then set to
 *   the reference; BatchNorm's saved mean and rstd are set to the reference's;
 *   every parameter gradient, which starts from random values, must be that
 *   start plus the reference gradient. The gradient arena starts as NaN, and
 *   the first writer of a gradient gets NaN in it, so a missing zeroing shows.
 *
 * So no error is carried from node to node: a ReLU input near zero opens its
 * gate the same way as in the reference, and each tensor can be held to the
 * rounding error its node alone may make. Every element must be within its
 * bound, built from u = 2^-24 and the reduction length n of the element:
 *
 *   τ(n) = min(γ_n, γ̃_n(λ)),  γ_n = nu/(1−nu) (any order of summation),
 *   γ̃_n(λ) = exp(λ√n·u + nu²/(1−u)) − 1 (Higham & Mary 2019: holds with
 *   probability ≥ 1 − 2n·exp(−λ²(1−u)²/2); λ = 10 makes that 1 − 4e-22·n),
 *
 * times the sum of the magnitudes of the terms (Σ|w||x| for a conv output,
 * from the conv itself applied to |w| and |x|); the previous value of an
 * accumulated gradient counts as one more term. BatchNorm's bounds propagate
 * the error of its batch statistics (τ(M) for M = N·H·W terms) to first
 * order, see bn_forward_bound and bn_backward_bound; ReLU and max-pool
 * forward are exact. The test reports, per case, the largest error as a
 * fraction of its bound.
 *
 * The whole network is also run end to end (nn_net_forward, nn_net_backward)
 * and its worst error against the same reference printed, unchecked: there a
 * ReLU input within float32 rounding of zero can take the other side, which
 * moves single gradient elements by percents on one CPU's kernels and not on
 * another's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "nn/models.h"
#include "ref_util.h"
#include "rng.h"

#include "ref_nets_check.h"

/* ---- bounds of the forward pass --------------------------------------- */

struct bn_stats {
	double m, mu, v, r, a, q; /* count, mean, biased var, rstd; mean|x|+|K|, mean(|x|+|K|)² */
};

/* Exact statistics of channel ch of x (N,C,HW), with K the shift (running mean). */
static struct bn_stats bn_stats(const float *x, int n, int ch, int cc, int hw, double k)
{
	struct bn_stats s = { .m = (double)n * hw };
	double sum = 0, sa = 0, sq = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < hw; j++) {
			double v = x[((size_t)i * cc + ch) * hw + j];
			sum += v;
			sa += fabs(v);
			sq += (fabs(v) + fabs(k)) * (fabs(v) + fabs(k));
		}
	s.mu = sum / s.m;
	double var = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < hw; j++) {
			double v = x[((size_t)i * cc + ch) * hw + j] - s.mu;
			var += v * v;
		}
	s.v = var / s.m;
	s.r = 1.0 / sqrt(s.v + BN_EPS);
	s.a = sa / s.m + fabs(k);
	s.q = sq / s.m;
	return s;
}

/*
 * Train-mode BatchNorm output y = γ·(x − μ)·r + β. The batch sums have
 * M = N·HW terms of magnitude ≤ |x| + |K| (byol sums x − K, K the running
 * mean): δμ ≤ τ(M+2)·A + u|μ| with A = mean|x| + |K|; δv ≤ 3τ(M+2)·Q with
 * Q = mean (|x| + |K|)² (one-pass Σ(x−K)² − M·d², or two passes); δr/r ≤
 * ½r²δv + 2u. The normalisation itself rounds a few times terms of size
 * |γ|r(|x| + |μ|) + |β|.
 */
static void bn_forward_bound(struct ncase *c, const struct nn_node *nd, int node,
			     const float *x, const float *want, const float *k0, const float *v0)
{
	const struct nn_act *in = &c->net.acts[nd->in];
	const int cc = in->c, hw = in->h * in->w, n = c->batch;
	const float *g = param(c, nd->weight), *b = param(c, nd->bias);
	const float *stats = c->net.buffer + c->net.buffers[nd->stats].offset;
	float *mean_want = get(c, cc, "node.%03d.mean", node);
	float *rstd_want = get(c, cc, "node.%03d.rstd", node);
	double *bm = malloc(4 * (size_t)cc * sizeof *bm);
	for (int ch = 0; ch < cc; ch++) {
		struct bn_stats s = bn_stats(x, n, ch, cc, hw, k0[ch]);
		double emu = tau(s.m + 2) * s.a + U * fabs(s.mu);
		double ev = 3 * tau(s.m + 2) * s.q, er = 0.5 * s.r * s.r * ev + 2 * U;
		if (!(er < 1e-2))
			fail_msg("node %d: channel %d too ill-conditioned for a bound (δr/r ≤ %.2g)",
				 node, ch, er);
		for (int i = 0; i < n; i++)
			for (int j = 0; j < hw; j++) {
				size_t e = ((size_t)i * cc + ch) * hw + j;
				double xh = fabs(x[e] - s.mu) * s.r;
				double terms = fabs(g[ch]) * s.r * (fabs(x[e]) + fabs(s.mu)) + fabs(b[ch]);
				c->want[e] = want[e];
				c->bound[e] = fabs(g[ch]) * (s.r * emu + xh * er) + 4 * U * terms +
					      U * fabs(want[e]);
			}
		double unbiased = s.m > 1 ? s.v * s.m / (s.m - 1) : s.v;
		bm[ch] = emu;
		bm[cc + ch] = s.r * er;
		bm[2 * cc + ch] = 0.1 * emu + 2 * U * (fabs(k0[ch]) + fabs(s.mu));
		bm[3 * cc + ch] = 0.1 * ev * (s.m > 1 ? s.m / (s.m - 1) : 1) +
				  2 * U * (fabs(v0[ch]) + unbiased);
	}
	check(c, node, "output", c->net.acts[nd->out].data, (size_t)n * cc * hw);

	/* The statistics: saved for backward, and the running ones. */
	float *rm_want = get(c, cc, "buffer.%s", c->net.buffers[nd->stats].name);
	float *rv_want = get(c, cc, "buffer.%s", c->net.buffers[nd->stats + 1].name);
	const float *wants[4] = { mean_want, rstd_want, rm_want, rv_want };
	const float *ours[4] = { nd->saved, nd->saved + cc, stats, stats + cc };
	static const char *const what[4] = { "batch mean", "batch rstd", "running_mean",
					     "running_var" };
	for (int t = 0; t < 4; t++) {
		for (int ch = 0; ch < cc; ch++) {
			c->want[ch] = wants[t][ch];
			c->bound[ch] = bm[t * cc + ch] + U * fabs(wants[t][ch]);
		}
		check(c, node, what[t], ours[t], (size_t)cc);
	}
	float *nbt = get(c, 1, "buffer.%s", c->net.buffers[nd->stats + 2].name);
	c->want[0] = nbt[0];
	c->bound[0] = 0;
	check(c, node, "num_batches_tracked", stats + 2 * cc, 1);
	free(nbt);
	free(rm_want);
	free(rv_want);
	free(mean_want);
	free(rstd_want);
	free(bm);
}

/* Eval-mode BatchNorm: an affine map from the running statistics (rstd rounded once). */
static void bn_eval_bound(struct ncase *c, const struct nn_node *nd, const float *x,
			  const float *want)
{
	const struct nn_act *in = &c->net.acts[nd->in];
	const int cc = in->c, hw = in->h * in->w;
	const float *g = param(c, nd->weight), *b = param(c, nd->bias);
	const float *stats = c->net.buffer + c->net.buffers[nd->stats].offset;
	for (int i = 0; i < c->batch; i++)
		for (int ch = 0; ch < cc; ch++) {
			double m = stats[ch], r = 1.0 / sqrt((double)stats[cc + ch] + BN_EPS);
			for (int j = 0; j < hw; j++) {
				size_t e = ((size_t)i * cc + ch) * hw + j;
				double xh = fabs(x[e] - m) * r;
				double terms = fabs(g[ch]) * r * (fabs(x[e]) + fabs(m)) + fabs(b[ch]);
				c->want[e] = want[e];
				c->bound[e] = 2 * U * fabs(g[ch]) * xh + 4 * U * terms + U * fabs(want[e]);
			}
		}
}

/* Node i's output (already run) against want; x its input (x2 the add's second). */
static void forward_check(struct ncase *c, int node, const float *x, const float *x2,
			  const float *want, int train, const float *k0, const float *v0)
{
	struct nn_net *net = &c->net;
	const struct nn_node *nd = &net->nodes[node];
	const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	const size_t nx = act_len(c, nd->in), ny = act_len(c, nd->out);
	const float *y = out->data;
	switch (nd->op) {
	case NN_OP_CONV2D: {
		struct conv2d_dims d;
		conv2d_dims_init(&d, c->batch, in->c, in->h, in->w, out->c, nd->k, nd->stride, nd->pad);
		size_t nw = net->params[nd->weight].len;
		conv2d_forward(c->pool, c->sum1, net->work, absolute(c->abs1, x, nx),
			       absolute(c->abs2, param(c, nd->weight), nw),
			       absolute(c->abs3, param(c, nd->bias), (size_t)out->c), &d);
		const double t = tau((double)in->c * nd->k * nd->k + 1);
		for (size_t j = 0; j < ny; j++) {
			c->want[j] = want[j];
			c->bound[j] = t * c->sum1[j] + U * fabs(want[j]);
		}
		break;
	}
	case NN_OP_LINEAR: {
		const int fan = in->c * in->h * in->w;
		linear_forward(c->pool, c->sum1, absolute(c->abs1, x, nx),
			       absolute(c->abs2, param(c, nd->weight), net->params[nd->weight].len),
			       absolute(c->abs3, param(c, nd->bias), (size_t)out->c), c->batch, fan,
			       out->c);
		const double t = tau(fan + 1.0);
		for (size_t j = 0; j < ny; j++) {
			c->want[j] = want[j];
			c->bound[j] = t * c->sum1[j] + U * fabs(want[j]);
		}
		break;
	}
	case NN_OP_BATCHNORM:
		if (train) {
			bn_forward_bound(c, nd, node, x, want, k0, v0);
			return;
		}
		bn_eval_bound(c, nd, x, want);
		break;
	case NN_OP_AVGPOOL: {
		const int hw = in->h * in->w;
		avgpool_forward(c->pool, c->sum1, absolute(c->abs1, x, nx), c->batch, in->c, hw);
		for (size_t j = 0; j < ny; j++) {
			c->want[j] = want[j];
			c->bound[j] = tau(hw + 1.0) * c->sum1[j] + U * fabs(want[j]);
		}
		break;
	}
	case NN_OP_ADD: /* one rounding */
		for (size_t j = 0; j < ny; j++) {
			c->want[j] = want[j];
			c->bound[j] = U * (fabs(x[j]) + fabs(x2[j]));
		}
		break;
	case NN_OP_RELU: /* exact */
	case NN_OP_MAXPOOL:
		for (size_t j = 0; j < ny; j++) {
			c->want[j] = want[j];
			c->bound[j] = 0;
		}
		break;
	}
	check(c, node, train ? "output" : "eval output", y, ny);
}

/* Run every node forward, each from the reference value of its inputs. */
static void forward_nodes(struct ncase *c, int train)
{
	struct nn_net *net = &c->net;
	for (int a = 0; a < net->n_acts; a++) {
		free(c->cur[a]);
		c->cur[a] = NULL;
	}
	c->cur[0] = get(c, act_len(c, 0), "input");
	float *k0 = malloc(c->max_param * sizeof *k0), *v0 = malloc(c->max_param * sizeof *v0);
	for (int i = 0; i < net->n_nodes; i++) {
		const struct nn_node *nd = &net->nodes[i];
		memcpy(net->acts[nd->in].data, c->cur[nd->in], act_len(c, nd->in) * sizeof(float));
		if (nd->in2 >= 0)
			memcpy(net->acts[nd->in2].data, c->cur[nd->in2],
			       act_len(c, nd->in2) * sizeof(float));
		if (nd->op == NN_OP_BATCHNORM) {
			const int cc = net->acts[nd->in].c;
			const float *stats = net->buffer + net->buffers[nd->stats].offset;
			memcpy(k0, stats, cc * sizeof *k0);
			memcpy(v0, stats + cc, cc * sizeof *v0);
		}
		nn_net_forward_node(net, i, train);
		float *want = get(c, act_len(c, nd->out), train ? "node.%03d.y" : "node.%03d.y_eval",
				  i);
		forward_check(c, i, c->cur[nd->in], nd->in2 >= 0 ? c->cur[nd->in2] : NULL, want,
			      train, k0, v0);
		free(c->cur[nd->out]);
		c->cur[nd->out] = want;
	}
	free(k0);
	free(v0);
}

/* ---- bounds of the backward pass -------------------------------------- */

/* acc[a] += τ(n+1)·(sum[j] + |prior[j]|): an accumulation of n terms into the gradient of a. */
static void accumulate_bound(struct ncase *c, int a, double n, const float *sum, const float *prior)
{
	const double t = tau(n + 1);
	for (size_t j = 0; j < act_len(c, a); j++)
		c->acc[a][j] += t * (sum[j] + (prior ? fabs(prior[j]) : 0));
}

/* A parameter gradient: ours against init + reference, n terms of magnitude sum. */
static void param_check(struct ncase *c, int node, int id, const float *init, double n,
			const float *sum, const double *extra)
{
	const size_t len = c->net.params[id].len;
	float *ref = get(c, len, "grad.%s", c->net.params[id].name);
	const float *in0 = init + c->net.params[id].offset;
	const double t = tau(n + 1);
	for (size_t j = 0; j < len; j++) {
		c->want[j] = (double)in0[j] + ref[j];
		c->bound[j] = t * (sum[j] + fabs(in0[j])) + (extra ? extra[j] : 0) + U * fabs(ref[j]);
	}
	const char *leaf = strrchr(c->net.params[id].name, '.');
	char what[NN_NAME_MAX + 8];
	snprintf(what, sizeof what, "grad %s", leaf ? leaf + 1 : c->net.params[id].name);
	check(c, node, what, grad(c, id), len);
	free(ref);
}

/*
 * Train-mode BatchNorm backward with the reference's mean μ and rstd r (as
 * float32): dβ = Σdy, dγ = Σdy·x̂, dx = γr·(dy − a − x̂·b) with a = Σdy/M,
 * b = Σdy·x̂/M. The sums have M terms (τ(M+1), τ(M+3) with the rounding of
 * x − μ and of the product), μ and r as float32 move b by u·r|μ|·mean|dy| + 2u|b|,
 * and dx rounds a few times terms of size |dy| + |a| + (|x̂| + r|μ|)·|b|.
 */
static void bn_backward_bound(struct ncase *c, int node, const float *dy, const float *prior,
			      const float *init)
{
	struct nn_net *net = &c->net;
	const struct nn_node *nd = &net->nodes[node];
	const struct nn_act *in = &net->acts[nd->in];
	const int cc = in->c, hw = in->h * in->w, n = c->batch;
	const float *x = in->data, *g = param(c, nd->weight);
	const float *mu = nd->saved, *rs = nd->saved + cc;
	double *dg_extra = calloc((size_t)cc, sizeof *dg_extra);
	const double m = (double)n * hw;
	for (int ch = 0; ch < cc; ch++) {
		double ady = 0, bx = 0, sa = 0, sb = 0, r = rs[ch], mean = mu[ch];
		for (int i = 0; i < n; i++)
			for (int j = 0; j < hw; j++) {
				size_t e = ((size_t)i * cc + ch) * hw + j;
				double xh = (x[e] - mean) * r;
				ady += fabs(dy[e]);
				bx += fabs(dy[e]) * fabs(xh);
				sa += dy[e];
				sb += dy[e] * xh;
			}
		c->sum1[ch] = (float)ady; /* Σ|dy| for dβ */
		c->sum2[ch] = (float)bx;  /* Σ|dy||x̂| for dγ */
		ady /= m;
		bx /= m;
		const double a = sa / m, b = sb / m;
		const double t2 = tau(m + 3) * bx + U * r * fabs(mean) * ady + 2 * U * fabs(b);
		dg_extra[ch] = m * (U * r * fabs(mean) * ady + 2 * U * fabs(b));
		for (int i = 0; i < n; i++)
			for (int j = 0; j < hw; j++) {
				size_t e = ((size_t)i * cc + ch) * hw + j;
				double xh = fabs(x[e] - mean) * r;
				double terms = fabs(dy[e]) + fabs(a) + (xh + r * fabs(mean)) * fabs(b);
				c->acc[nd->in][e] += fabs(g[ch]) * r *
							     (tau(m + 1) * ady + xh * t2 + 6 * U * terms) +
						     tau(2) * (prior ? fabs(prior[e]) : 0);
			}
	}
	param_check(c, node, nd->bias, init, m, c->sum1, NULL);
	param_check(c, node, nd->weight, init, m + 2, c->sum2, dg_extra);
	free(dg_extra);
}

/* Bounds and parameter checks of node i, just run backward from dy. */
static void backward_check(struct ncase *c, int node, const float *dy, const float *prior,
			   const float *prior2, const float *init)
{
	struct nn_net *net = &c->net;
	const struct nn_node *nd = &net->nodes[node];
	const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	const size_t nx = act_len(c, nd->in), ny = act_len(c, nd->out);
	switch (nd->op) {
	case NN_OP_CONV2D: {
		struct conv2d_dims d;
		conv2d_dims_init(&d, c->batch, in->c, in->h, in->w, out->c, nd->k, nd->stride, nd->pad);
		const size_t nw = net->params[nd->weight].len;
		memset(c->sum1, 0, nx * sizeof(float));
		memset(c->sum2, 0, nw * sizeof(float));
		memset(c->sum3, 0, (size_t)out->c * sizeof(float));
		conv2d_backward(c->pool, c->sum1, c->sum2, nd->bias >= 0 ? c->sum3 : NULL, net->work,
				absolute(c->abs1, dy, ny), absolute(c->abs2, in->data, nx),
				absolute(c->abs3, param(c, nd->weight), nw), &d);
		const int taps = (nd->k + nd->stride - 1) / nd->stride;
		accumulate_bound(c, nd->in, (double)out->c * taps * taps, c->sum1, prior);
		const double positions = (double)c->batch * d.oh * d.ow;
		param_check(c, node, nd->weight, init, positions, c->sum2, NULL);
		if (nd->bias >= 0)
			param_check(c, node, nd->bias, init, positions, c->sum3, NULL);
		break;
	}
	case NN_OP_LINEAR: {
		const int fan = in->c * in->h * in->w;
		const size_t nw = net->params[nd->weight].len;
		memset(c->sum1, 0, nx * sizeof(float));
		memset(c->sum2, 0, nw * sizeof(float));
		memset(c->sum3, 0, (size_t)out->c * sizeof(float));
		linear_backward(c->pool, c->sum1, c->sum2, nd->bias >= 0 ? c->sum3 : NULL,
				absolute(c->abs1, dy, ny), absolute(c->abs2, in->data, nx),
				absolute(c->abs3, param(c, nd->weight), nw), c->batch, fan, out->c);
		accumulate_bound(c, nd->in, out->c, c->sum1, prior);
		param_check(c, node, nd->weight, init, c->batch, c->sum2, NULL);
		if (nd->bias >= 0)
			param_check(c, node, nd->bias, init, c->batch, c->sum3, NULL);
		break;
	}
	case NN_OP_BATCHNORM:
		bn_backward_bound(c, node, dy, prior, init);
		break;
	case NN_OP_MAXPOOL: {
		memset(c->sum1, 0, nx * sizeof(float));
		maxpool2d_backward(c->pool, c->sum1, absolute(c->abs1, dy, ny), nd->argmax, c->batch,
				   in->c, in->h, in->w, out->h, out->w);
		const int taps = (nd->k + nd->stride - 1) / nd->stride;
		accumulate_bound(c, nd->in, (double)taps * taps, c->sum1, prior);
		break;
	}
	case NN_OP_AVGPOOL: { /* dx += dy / HW: a division and an add */
		const size_t hw = (size_t)in->h * in->w;
		for (size_t j = 0; j < nx; j++)
			c->sum1[j] = fabsf(dy[j / hw]) / (float)hw;
		accumulate_bound(c, nd->in, 1, c->sum1, prior);
		break;
	}
	case NN_OP_ADD: /* in place: the first operand's gradient is the output's, exactly */
		accumulate_bound(c, nd->in2, 0, absolute(c->abs1, dy, ny), prior2);
		break;
	case NN_OP_RELU: /* in place and exact */
		break;
	}
}

/*
 * The gradient of activation a, as its consumers left it, against the
 * reference (rounded once more): the bound is what the consumers' bounds
 * added up to. Then a's bound starts again from zero.
 */
static void gradient_check(struct ncase *c, int node, int a, const float *want, const char *what)
{
	const size_t n = act_len(c, a);
	for (size_t j = 0; j < n; j++) {
		c->want[j] = want[j];
		c->bound[j] = c->acc[a][j] + U * fabs(want[j]);
		c->acc[a][j] = 0;
	}
	check(c, node, what, c->net.acts[a].grad, n);
}

static void fill_nan(float *p, size_t n)
{
	for (size_t j = 0; j < n; j++)
		p[j] = NAN;
}

/* Run every node backward, each from the reference gradient of its output. */
static void backward_nodes(struct ncase *c)
{
	struct nn_net *net = &c->net;
	/* Parameter gradients start from random values of their own size. */
	float *init = malloc((net->param_len + 1) * sizeof *init);
	struct rng r;
	rng_init(&r, 20240611, 0);
	for (int p = 0; p < net->n_params; p++) {
		const size_t len = net->params[p].len;
		float *ref = get(c, len, "grad.%s", net->params[p].name);
		double scale = 0;
		for (size_t j = 0; j < len; j++)
			scale = fmax(scale, fabs(ref[j]));
		for (size_t j = 0; j < len; j++)
			init[net->params[p].offset + j] = (float)(scale * (2 * rng_uniform_f64(&r) - 1));
		free(ref);
	}
	memcpy(net->grad, init, net->param_len * sizeof *init);
	fill_nan(net->grad_arena, (size_t)c->batch * net->grad_len);
	for (int a = 0; a < net->n_acts; a++)
		memset(c->acc[a], 0, act_len(c, a) * sizeof(double));
	float *prior = malloc(c->max_act * sizeof *prior);
	float *prior2 = malloc(c->max_act * sizeof *prior2);
	float *dout = get(c, act_len(c, net->n_acts - 1), "dout");
	memcpy(net->acts[net->n_acts - 1].grad, dout, act_len(c, net->n_acts - 1) * sizeof(float));
	free(dout);
	for (int i = net->n_nodes - 1; i >= 0; i--) {
		const struct nn_node *nd = &net->nodes[i];
		const size_t ny = act_len(c, nd->out);
		float *dy = get(c, ny, "node.%03d.dy", i);
		gradient_check(c, i, nd->out, dy, "output gradient (summed over its consumers)");
		memcpy(net->acts[nd->out].grad, dy, ny * sizeof(float));
		if (nd->op == NN_OP_BATCHNORM) {
			const int cc = net->acts[nd->in].c;
			float *mean = get(c, cc, "node.%03d.mean", i);
			float *rstd = get(c, cc, "node.%03d.rstd", i);
			memcpy(nd->saved, mean, cc * sizeof(float));
			memcpy(nd->saved + cc, rstd, cc * sizeof(float));
			free(mean);
			free(rstd);
		}
		const int inplace = nd->in == nd->out;
		float *din = net->acts[nd->in].grad;
		const float *p1 = NULL, *p2 = NULL;
		if (!inplace) {
			if (nd->zero_in) {
				fill_nan(din, act_len(c, nd->in));
			} else {
				memcpy(prior, din, act_len(c, nd->in) * sizeof(float));
				p1 = prior;
			}
		}
		if (nd->in2 >= 0) {
			float *din2 = net->acts[nd->in2].grad;
			if (nd->zero_in2) {
				fill_nan(din2, act_len(c, nd->in2));
			} else {
				memcpy(prior2, din2, act_len(c, nd->in2) * sizeof(float));
				p2 = prior2;
			}
		}
		nn_net_backward_node(net, i);
		backward_check(c, i, dy, p1, p2, init);
		free(dy);
	}
	float *dinput = get(c, act_len(c, 0), "dinput");
	gradient_check(c, -1, 0, dinput, "input gradient");
	free(dinput);
	free(prior);
	free(prior2);
	free(init);
}

/* ---- the case --------------------------------------------------------- */

/* Build the network a reference file describes; returns its output activation. */
static int build(struct nn_net *net, struct pool *pool, const struct st_file *f)
{
	const char *model = meta(f, "model");
	int ch = atoi(meta(f, "channels")), size = atoi(meta(f, "size"));
	if (strcmp(model, "mlp") == 0) {
		nn_net_init(net, pool, ch, 1, 1);
		return mlp_build(net, "", 0, atoi(meta(f, "hidden")), atoi(meta(f, "out")));
	}
	struct encoder_config cfg = { .width = atof(meta(f, "width")),
				      .imagenet_stem = strcmp(meta(f, "stem"), "imagenet") == 0 };
	assert_int_equal(encoder_arch_parse(model, &cfg.arch), 0);
	nn_net_init(net, pool, ch, size, size);
	return encoder_build(net, "", 0, &cfg);
}

/* Every "param.*" tensor of the file is a parameter or buffer of net, and vice versa. */
static void load_state(struct nn_net *net, const struct st_file *f, int buffers_only)
{
	char key[NN_NAME_MAX + 16];
	int in_file = 0;
	for (int i = 0; i < f->n_tensors; i++) {
		const char *name = f->tensors[i].name;
		if (strncmp(name, "param.", 6) != 0)
			continue;
		in_file++;
		if (!nn_net_param(net, name + 6) && !nn_net_buffer(net, name + 6))
			fail_msg("PyTorch has %s, byol does not", name + 6);
	}
	assert_int_equal(in_file, net->n_params + net->n_buffers);
	for (int i = buffers_only ? net->n_params : 0; i < net->n_params + net->n_buffers; i++) {
		int is_param = i < net->n_params;
		const struct nn_tensor *t = is_param ? &net->params[i] : &net->buffers[i - net->n_params];
		snprintf(key, sizeof key, "param.%s", t->name);
		float *dst = (is_param ? net->param : net->buffer) + t->offset;
		assert_int_equal(ref_copy(dst, f, key, t->len), 0);
	}
}

/* The buffers as the reference's train-mode forward left them. */
static void load_buffers_after(struct ncase *c)
{
	char key[NN_NAME_MAX + 16];
	for (int i = 0; i < c->net.n_buffers; i++) {
		const struct nn_tensor *t = &c->net.buffers[i];
		snprintf(key, sizeof key, "buffer.%s", t->name);
		assert_int_equal(ref_copy(c->net.buffer + t->offset, &c->f, key, t->len), 0);
	}
}

/* The reference's graph (gen_nets.py "graph") is byol's, node for node. */
static void check_graph(const struct nn_net *net, const struct st_file *f)
{
	cJSON *g = cJSON_Parse(meta(f, "graph"));
	assert_true(cJSON_IsArray(g));
	assert_int_equal(cJSON_GetArraySize(g), net->n_nodes);
	char mod[NN_NAME_MAX];
	for (int i = 0; i < net->n_nodes; i++) {
		const struct nn_node *nd = &net->nodes[i];
		const cJSON *e = cJSON_GetArrayItem(g, i);
		const char *op = cJSON_GetStringValue(cJSON_GetArrayItem(e, 0));
		const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(e, 1));
		module_name(net, nd, mod, sizeof mod);
		if (!op || !name || strcmp(op, OP_NAMES[nd->op]) != 0 || strcmp(name, mod) != 0 ||
		    cJSON_GetArrayItem(e, 2)->valueint != nd->in ||
		    cJSON_GetArrayItem(e, 3)->valueint != nd->in2 ||
		    cJSON_GetArrayItem(e, 4)->valueint != nd->out)
			fail_msg("node %d: byol has %s %s (%d, %d) -> %d, PyTorch %s", i,
				 OP_NAMES[nd->op], mod, nd->in, nd->in2, nd->out, cJSON_PrintUnformatted(e));
	}
	cJSON_Delete(g);
}

/* The end-to-end run, for information: the worst max|a−b| / max(max|b|, floor) of the
   gradients, floor 1e-3 of the largest parameter gradient (a bias before BN has none). */
static void whole_net(struct ncase *c, double *worst, char *what, size_t cap)
{
	struct nn_net *net = &c->net;
	float *x = get(c, act_len(c, 0), "input");
	float *dout = get(c, act_len(c, net->n_acts - 1), "dout");
	nn_net_forward(net, x, 1);
	nn_net_zero_grad(net);
	nn_net_backward(net, dout);
	double floor = 0;
	for (int p = 0; p < net->n_params; p++) {
		float *ref = get(c, net->params[p].len, "grad.%s", net->params[p].name);
		for (size_t j = 0; j < net->params[p].len; j++)
			floor = fmax(floor, 1e-3 * fabs(ref[j]));
		free(ref);
	}
	snprintf(what, cap, "dinput");
	float *ref = get(c, act_len(c, 0), "dinput");
	*worst = ref_error_floor(net->acts[0].grad, ref, act_len(c, 0), 0);
	free(ref);
	for (int p = 0; p < net->n_params; p++) {
		ref = get(c, net->params[p].len, "grad.%s", net->params[p].name);
		double e = ref_error_floor(grad(c, p), ref, net->params[p].len, floor);
		if (e > *worst) {
			*worst = e;
			snprintf(what, cap, "grad.%s", net->params[p].name);
		}
		free(ref);
	}
	free(x);
	free(dout);
}

static void check_file(void **state)
{
	const char *path = *state;
	struct err e;
	struct ncase *c = calloc(1, sizeof *c);
	assert_non_null(c);
	assert_int_equal(st_read(&c->f, path, 0, &e), 0);
	assert_int_equal(pool_init(&c->pool, 2, &e), 0);
	struct nn_net *net = &c->net;
	assert_true(build(net, c->pool, &c->f) >= 0);
	c->batch = atoi(meta(&c->f, "batch"));
	assert_int_equal(nn_net_finalize(net, &e), 0);
	assert_int_equal(nn_net_set_batch(net, c->batch, NN_GRAD_INPUT, &e), 0);
	check_graph(net, &c->f);
	load_state(net, &c->f, 0);

	c->cur = calloc((size_t)net->n_acts, sizeof *c->cur);
	c->acc = calloc((size_t)net->n_acts, sizeof *c->acc);
	for (int a = 0; a < net->n_acts; a++) {
		c->max_act = act_len(c, a) > c->max_act ? act_len(c, a) : c->max_act;
		c->acc[a] = calloc(act_len(c, a), sizeof(double));
	}
	for (int p = 0; p < net->n_params + net->n_buffers; p++) {
		size_t len = p < net->n_params ? net->params[p].len : net->buffers[p - net->n_params].len;
		c->max_param = len > c->max_param ? len : c->max_param;
	}
	const size_t big = c->max_act > c->max_param ? c->max_act : c->max_param;
	float **scratch[] = { &c->abs1, &c->abs2, &c->abs3, &c->sum1, &c->sum2, &c->sum3 };
	for (size_t s = 0; s < sizeof scratch / sizeof scratch[0]; s++)
		assert_non_null(*scratch[s] = malloc(big * sizeof(float)));
	assert_non_null(c->want = malloc(big * sizeof(double)));
	assert_non_null(c->bound = malloc(big * sizeof(double)));

	double e2e;
	char e2e_what[NN_NAME_MAX + 16];
	whole_net(c, &e2e, e2e_what, sizeof e2e_what);
	load_state(net, &c->f, 1); /* the buffers as they were */

	forward_nodes(c, 1);
	backward_nodes(c);
	load_buffers_after(c);
	forward_nodes(c, 0);

	print_message("%-36s %3d nodes, %4d tensors: worst %.3f of its bound (%s); "
		      "end to end, unchecked: worst %.2e (%s)\n",
		      strrchr(path, '/') + 1, net->n_nodes, c->checks, c->worst, c->worst_what, e2e,
		      e2e_what);
	const int failed = c->failed;
	for (int a = 0; a < net->n_acts; a++) {
		free(c->cur[a]);
		free(c->acc[a]);
	}
	free(c->cur);
	free(c->acc);
	for (size_t s = 0; s < sizeof scratch / sizeof scratch[0]; s++)
		free(*scratch[s]);
	free(c->want);
	free(c->bound);
	nn_net_free(net);
	pool_free(c->pool);
	st_free(&c->f);
	free(c);
	assert_false(failed);
}

int main(void)
{
	return ref_run_cases("ref_nets", "nets", check_file, NULL);
}
