/*
 * batchnorm.c — batch normalisation over (N,C,HW), split by channel.
 *
 * Training statistics are accumulated as count, Σ(x−K) and Σ(x−K)² with the
 * shift K = the running mean (the same on every replica, and close to the
 * batch mean, so the variance does not cancel away) so replicas can sum them
 * (replica.h). The backward pass of training mode needs Σdy and Σdy·x̂ over
 * the whole (replicated) batch; eval mode is a per-channel affine map.
 * Rows are summed in float lanes the compiler vectorises, rows into double.
 * 1-D BN (HW = 1) walks rows of channels instead, so its loops stay
 * contiguous. Workspace: 2·C + 1 doubles.
 */
#include "nn/ops.h"

#include <math.h>

#define LANES 8

size_t batchnorm_work_doubles(int c)
{
	return 2 * (size_t)c + 1;
}

struct bn_task {
	float *out, *dinp;
	double *work;
	const float *inp, *dout, *weight, *bias, *mean, *rstd, *shift;
	int n, c, hw, train;
};

/* Σ(x−k) and Σ(x−k)² of one row, in float lanes. */
static void row_moments(const float *restrict x, int len, float k, double *s, double *s2)
{
	float a[LANES] = { 0 }, b[LANES] = { 0 };
	int j = 0;
	for (; j + LANES <= len; j += LANES)
		for (int l = 0; l < LANES; l++) {
			float v = x[j + l] - k;
			a[l] += v;
			b[l] += v * v;
		}
	for (; j < len; j++) {
		float v = x[j] - k;
		a[0] += v;
		b[0] += v * v;
	}
	for (int l = 0; l < LANES; l++) {
		*s += a[l];
		*s2 += b[l];
	}
}

/* Σdy and Σdy·(x−m) of one row, in float lanes. */
static void row_grad_sums(const float *restrict dy, const float *restrict x, int len, float m,
			  double *s, double *sx)
{
	float a[LANES] = { 0 }, b[LANES] = { 0 };
	int j = 0;
	for (; j + LANES <= len; j += LANES)
		for (int l = 0; l < LANES; l++) {
			a[l] += dy[j + l];
			b[l] += dy[j + l] * (x[j + l] - m);
		}
	for (; j < len; j++) {
		a[0] += dy[j];
		b[0] += dy[j] * (x[j] - m);
	}
	for (int l = 0; l < LANES; l++) {
		*s += a[l];
		*sx += b[l];
	}
}

/* work[ch] = Σ(x−K), work[C+ch] = Σ(x−K)² per channel: 2-D layout. */
static void bn_channel_sums(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->c, tid, nth, &lo, &hi);
	for (size_t ch = lo; ch < hi; ch++) {
		double s = 0, s2 = 0;
		for (int i = 0; i < t->n; i++)
			row_moments(t->inp + ((size_t)i * t->c + ch) * t->hw, t->hw, t->shift[ch],
				    &s, &s2);
		t->work[ch] = s;
		t->work[t->c + ch] = s2;
	}
}

/* The same for 1-D BN: each thread owns a band of channels and walks the rows. */
static void bn_channel_sums_1d(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->c, tid, nth, &lo, &hi);
	double *restrict s = t->work, *restrict s2 = t->work + t->c;
	const float *restrict k = t->shift;
	for (size_t ch = lo; ch < hi; ch++)
		s[ch] = s2[ch] = 0;
	for (int i = 0; i < t->n; i++) {
		const float *restrict x = t->inp + (size_t)i * t->c;
		for (size_t ch = lo; ch < hi; ch++) {
			double v = (double)x[ch] - k[ch];
			s[ch] += v;
			s2[ch] += v * v;
		}
	}
}

/* mean, rstd from the summed statistics in work; running stats updated as PyTorch does. */
static void bn_batch_stats(float *mean, float *rstd, float *running_mean, float *running_var,
			   const double *work, int c)
{
	const double count = work[2 * c];
	for (int ch = 0; ch < c; ch++) {
		double d = work[ch] / count; /* batch mean − shift */
		double var = work[c + ch] / count - d * d;
		if (var < 0)
			var = 0;
		double m = running_mean[ch] + d;
		mean[ch] = (float)m;
		rstd[ch] = (float)(1.0 / sqrt(var + BN_EPS));
		double unbiased = count > 1 ? var * count / (count - 1) : var;
		running_mean[ch] = (float)((1 - BN_MOMENTUM) * running_mean[ch] + BN_MOMENTUM * m);
		running_var[ch] = (float)((1 - BN_MOMENTUM) * running_var[ch] + BN_MOMENTUM * unbiased);
	}
}

/* y = x·scale + shift with scale = γ·rstd, shift = β − mean·scale. */
static void bn_normalise(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->n * t->c, tid, nth, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		size_t ch = r % (size_t)t->c;
		float scale = t->rstd[ch] * (t->weight ? t->weight[ch] : 1.0f);
		float shift = (t->bias ? t->bias[ch] : 0.0f) - t->mean[ch] * scale;
		const float *restrict x = t->inp + r * t->hw;
		float *restrict y = t->out + r * t->hw;
		for (int j = 0; j < t->hw; j++)
			y[j] = x[j] * scale + shift;
	}
}

static void bn_normalise_1d(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->n, tid, nth, &lo, &hi);
	const float *restrict m = t->mean, *restrict rs = t->rstd, *restrict g = t->weight;
	const float *restrict b = t->bias;
	for (size_t i = lo; i < hi; i++) {
		const float *restrict x = t->inp + i * t->c;
		float *restrict y = t->out + i * t->c;
		for (int ch = 0; ch < t->c; ch++)
			y[ch] = (x[ch] - m[ch]) * (rs[ch] * (g ? g[ch] : 1.0f)) + (b ? b[ch] : 0.0f);
	}
}

void batchnorm_forward(struct pool *p, float *out, float *mean, float *rstd, double *work,
		       const float *inp, const float *weight, const float *bias,
		       float *running_mean, float *running_var, int n, int c, int hw, int train,
		       const struct replica *r)
{
	struct bn_task t = { .out = out, .mean = mean, .rstd = rstd, .work = work, .inp = inp,
			     .weight = weight, .bias = bias, .shift = running_mean, .n = n, .c = c,
			     .hw = hw };
	if (train) {
		pool_run(p, hw == 1 ? bn_channel_sums_1d : bn_channel_sums, &t);
		work[2 * c] = (double)n * hw;
		replica_sum_f64(r, work, batchnorm_work_doubles(c));
		bn_batch_stats(mean, rstd, running_mean, running_var, work, c);
	} else {
		for (int ch = 0; ch < c; ch++) {
			mean[ch] = running_mean[ch];
			rstd[ch] = (float)(1.0 / sqrt((double)running_var[ch] + BN_EPS));
		}
	}
	pool_run(p, hw == 1 ? bn_normalise_1d : bn_normalise, &t);
}

/* work[ch] = Σdy, work[C+ch] = Σdy·x̂ per channel: 2-D layout. */
static void bn_grad_sums(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->c, tid, nth, &lo, &hi);
	for (size_t ch = lo; ch < hi; ch++) {
		double sdy = 0, sdyx = 0;
		for (int i = 0; i < t->n; i++) {
			size_t off = ((size_t)i * t->c + ch) * t->hw;
			row_grad_sums(t->dout + off, t->inp + off, t->hw, t->mean[ch], &sdy, &sdyx);
		}
		t->work[ch] = sdy;
		t->work[t->c + ch] = sdyx * t->rstd[ch];
	}
}

static void bn_grad_sums_1d(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	size_t lo, hi;
	pool_split((size_t)t->c, tid, nth, &lo, &hi);
	double *restrict s = t->work, *restrict sx = t->work + t->c;
	const float *restrict m = t->mean;
	for (size_t ch = lo; ch < hi; ch++)
		s[ch] = sx[ch] = 0;
	for (int i = 0; i < t->n; i++) {
		const float *restrict x = t->inp + (size_t)i * t->c, *restrict dy = t->dout + (size_t)i * t->c;
		for (size_t ch = lo; ch < hi; ch++) {
			s[ch] += dy[ch];
			sx[ch] += (double)dy[ch] * (x[ch] - m[ch]);
		}
	}
	for (size_t ch = lo; ch < hi; ch++)
		sx[ch] *= t->rstd[ch];
}

/*
 * Training: dx = γ·rstd·(dy − Σdy/M − x̂·Σdy·x̂/M), M the batch count.
 * Eval: dx = γ·rstd·dy (the statistics are constants).
 */
static void bn_input_grad(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	const double count = t->work[2 * t->c];
	size_t lo, hi;
	pool_split((size_t)t->n * t->c, tid, nth, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		size_t ch = r % (size_t)t->c;
		const float m = t->mean[ch], rs = t->rstd[ch];
		const float g = (t->weight ? t->weight[ch] : 1.0f) * rs;
		const float mdy = t->train ? (float)(t->work[ch] / count) : 0.0f;
		const float k = t->train ? (float)(t->work[t->c + ch] / count) * rs : 0.0f;
		const float *restrict x = t->inp + r * t->hw, *restrict dy = t->dout + r * t->hw;
		float *restrict dx = t->dinp + r * t->hw;
		for (int j = 0; j < t->hw; j++)
			dx[j] += g * (dy[j] - mdy - (x[j] - m) * k);
	}
}

static void bn_input_grad_1d(void *arg, int tid, int nth)
{
	const struct bn_task *t = arg;
	const double count = t->work[2 * t->c];
	const double *restrict s = t->work, *restrict sx = t->work + t->c;
	const float *restrict m = t->mean, *restrict rs = t->rstd, *restrict w = t->weight;
	size_t lo, hi;
	pool_split((size_t)t->n, tid, nth, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		const float *restrict x = t->inp + i * t->c, *restrict dy = t->dout + i * t->c;
		float *restrict dx = t->dinp + i * t->c;
		for (int ch = 0; ch < t->c; ch++) {
			float g = (w ? w[ch] : 1.0f) * rs[ch];
			float mdy = t->train ? (float)(s[ch] / count) : 0.0f;
			float k = t->train ? (float)(sx[ch] / count) * rs[ch] : 0.0f;
			dx[ch] += g * (dy[ch] - mdy - (x[ch] - m[ch]) * k);
		}
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
	pool_run(p, hw == 1 ? bn_grad_sums_1d : bn_grad_sums, &t);
	/* γ and β gradients are this replica's own: the optimizer's reduction sums them. */
	for (int ch = 0; ch < c; ch++) {
		if (dweight)
			dweight[ch] += (float)work[c + ch];
		if (dbias)
			dbias[ch] += (float)work[ch];
	}
	if (!dinp)
		return;
	work[2 * c] = (double)n * hw;
	if (train)
		replica_sum_f64(r, work, batchnorm_work_doubles(c));
	pool_run(p, hw == 1 ? bn_input_grad_1d : bn_input_grad, &t);
}
