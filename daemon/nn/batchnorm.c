/*
 * batchnorm.c — batch normalisation over (N,C,HW), split by channel.
 *
 * Statistics are accumulated in double as count, Σx and Σx² so replicas can
 * sum them (replica.h). The backward pass of training mode needs Σdy and
 * Σdy·x̂ over the whole (replicated) batch; eval mode is a per-channel affine
 * map. Workspace: 2·C + 1 doubles.
 */
#include "ops.h"

#include <math.h>

size_t batchnorm_work_doubles(int c)
{
	return 2 * (size_t)c + 1;
}

struct bn_task {
	float *out, *dinp;
	double *work;
	const float *inp, *dout, *weight, *bias, *mean, *rstd;
	int n, c, hw, train;
};

/* work[ch] = Σx, work[C+ch] = Σx² over the channel. */
static void bn_channel_sums(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->c, tid, nth, &lo, &hi);
	for (size_t ch = lo; ch < hi; ch++) {
		double s = 0, s2 = 0;
		for (int i = 0; i < t->n; i++) {
			const float *x = t->inp + ((size_t)i * t->c + ch) * t->hw;
			for (int j = 0; j < t->hw; j++) {
				s += x[j];
				s2 += (double)x[j] * x[j];
			}
		}
		t->work[ch] = s;
		t->work[t->c + ch] = s2;
	}
}

/* mean, rstd from the summed statistics in work; running stats updated as PyTorch does. */
static void bn_batch_stats(float *mean, float *rstd, float *running_mean, float *running_var,
			   const double *work, int c)
{
	const double count = work[2 * c];
	for (int ch = 0; ch < c; ch++) {
		double m = work[ch] / count;
		double var = work[c + ch] / count - m * m;
		if (var < 0)
			var = 0;
		mean[ch] = (float)m;
		rstd[ch] = (float)(1.0 / sqrt(var + BN_EPS));
		double unbiased = count > 1 ? var * count / (count - 1) : var;
		running_mean[ch] = (float)((1 - BN_MOMENTUM) * running_mean[ch] + BN_MOMENTUM * m);
		running_var[ch] = (float)((1 - BN_MOMENTUM) * running_var[ch] + BN_MOMENTUM * unbiased);
	}
}

static void bn_normalise(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->n * t->c, tid, nth, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		size_t ch = r % (size_t)t->c;
		float scale = t->rstd[ch] * (t->weight ? t->weight[ch] : 1.0f);
		float shift = (t->bias ? t->bias[ch] : 0.0f) - t->mean[ch] * scale;
		const float *x = t->inp + r * t->hw;
		float *y = t->out + r * t->hw;
		for (int j = 0; j < t->hw; j++)
			y[j] = x[j] * scale + shift;
	}
}

void batchnorm_forward(struct pool *p, float *out, float *mean, float *rstd, double *work,
		       const float *inp, const float *weight, const float *bias,
		       float *running_mean, float *running_var, int n, int c, int hw, int train,
		       const struct replica *r)
{
	struct bn_task t = { .out = out, .mean = mean, .rstd = rstd, .work = work, .inp = inp,
			     .weight = weight, .bias = bias, .n = n, .c = c, .hw = hw };
	if (train) {
		pool_run(p, bn_channel_sums, &t);
		work[2 * c] = (double)n * hw;
		replica_sum_f64(r, work, batchnorm_work_doubles(c));
		bn_batch_stats(mean, rstd, running_mean, running_var, work, c);
	} else {
		for (int ch = 0; ch < c; ch++) {
			mean[ch] = running_mean[ch];
			rstd[ch] = (float)(1.0 / sqrt((double)running_var[ch] + BN_EPS));
		}
	}
	pool_run(p, bn_normalise, &t);
}

/* work[ch] = Σdy, work[C+ch] = Σdy·x̂ over the channel. */
static void bn_grad_sums(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->c, tid, nth, &lo, &hi);
	for (size_t ch = lo; ch < hi; ch++) {
		double sdy = 0, sdyx = 0;
		const float m = t->mean[ch], rs = t->rstd[ch];
		for (int i = 0; i < t->n; i++) {
			size_t off = ((size_t)i * t->c + ch) * t->hw;
			const float *x = t->inp + off, *dy = t->dout + off;
			for (int j = 0; j < t->hw; j++) {
				sdy += dy[j];
				sdyx += (double)dy[j] * ((x[j] - m) * rs);
			}
		}
		t->work[ch] = sdy;
		t->work[t->c + ch] = sdyx;
	}
}

/*
 * Training: dx = γ·rstd·(dy − Σdy/M − x̂·Σdy·x̂/M), M the batch count.
 * Eval: dx = γ·rstd·dy (the statistics are constants).
 */
static void bn_input_grad(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	const int train = t->train;
	const double count = t->work[2 * t->c];
	size_t lo, hi;
	pool_split((size_t)t->n * t->c, tid, nth, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		size_t ch = r % (size_t)t->c;
		const float m = t->mean[ch], rs = t->rstd[ch];
		const float g = (t->weight ? t->weight[ch] : 1.0f) * rs;
		const float mdy = train ? (float)(t->work[ch] / count) : 0.0f;
		const float mdyx = train ? (float)(t->work[t->c + ch] / count) : 0.0f;
		const float *x = t->inp + r * t->hw, *dy = t->dout + r * t->hw;
		float *dx = t->dinp + r * t->hw;
		for (int j = 0; j < t->hw; j++)
			dx[j] += g * (dy[j] - mdy - (x[j] - m) * rs * mdyx);
	}
}

void batchnorm_backward(struct pool *p, float *dinp, float *dweight, float *dbias, double *work,
			const float *dout, const float *inp, const float *weight, const float *mean,
			const float *rstd, int n, int c, int hw, int train,
			const struct replica *r)
{
	struct bn_task t = { .dinp = dinp, .work = work, .inp = inp, .dout = dout,
			     .weight = weight, .mean = mean, .rstd = rstd,
			     .n = n, .c = c, .hw = hw, .train = train };
	pool_run(p, bn_grad_sums, &t);
	/* γ and β gradients are this replica's own: the optimizer's reduction sums them. */
	for (int ch = 0; ch < c; ch++) {
		if (dweight)
			dweight[ch] += (float)work[c + ch];
		if (dbias)
			dbias[ch] += (float)work[ch];
	}
	if (!dinp)
		return;
	if (train) {
		work[2 * c] = (double)n * hw;
		replica_sum_f64(r, work, batchnorm_work_doubles(c));
	}
	pool_run(p, bn_input_grad, &t);
}
