/*
 * optim.c — the parameter updates of a BYOL step and its schedules.
 */
#include "byol/optim.h"

#include <math.h>

#define LANES 8

/*
 * Σp² and Σ(g + wd·p)² of a tensor in one pass, each in LANES double partial
 * sums (a fixed order, so the same on every run) that the compiler vectorises:
 * one running sum would wait on each add's latency.
 */
static void norms2(const float *p, const float *g, size_t n, double wd, double *pp, double *dd)
{
	double a[LANES] = { 0 }, b[LANES] = { 0 };
	size_t i = 0;
	for (; i + LANES <= n; i += LANES)
		for (int l = 0; l < LANES; l++) {
			double x = p[i + l], d = g[i + l] + wd * x;
			a[l] += x * x;
			b[l] += d * d;
		}
	for (; i < n; i++) {
		double x = p[i], d = g[i] + wd * x;
		a[0] += x * x;
		b[0] += d * d;
	}
	*pp = *dd = 0;
	for (int l = 0; l < LANES; l++) {
		*pp += a[l];
		*dd += b[l];
	}
}

/* One tensor's update (see optim.h). */
static void update_tensor(float *p, const float *g, float *mu, size_t n, int decay,
			  const struct byol_optim *o, double lr)
{
	const double wd = decay ? o->weight_decay : 0.0;
	double scale = 1.0;
	if (o->lars && decay) {
		double pp, dd;
		norms2(p, g, n, wd, &pp, &dd);
		double pn = sqrt(pp), gn = sqrt(dd);
		if (pn > 0 && gn > 0)
			scale = o->eta * pn / gn;
	}
	const float m = (float)o->momentum;
	for (size_t i = 0; i < n; i++) {
		float d = (float)(scale * (g[i] + wd * p[i]));
		mu[i] = m * mu[i] + d;
		p[i] -= (float)lr * mu[i];
	}
}

void byol_optim_update(struct nn_net *net, float *mom, const struct byol_optim *o, double lr)
{
	for (int i = 0; i < net->n_params; i++) {
		const struct nn_tensor *t = &net->params[i];
		update_tensor(net->param + t->offset, net->grad + t->offset, mom + t->offset, t->len,
			      !(t->flags & NN_PARAM_NO_DECAY), o, lr);
	}
}

void byol_ema_update(struct nn_net *target, const struct nn_net *online, double tau)
{
	const float a = (float)tau, b = (float)(1.0 - tau);
	for (size_t i = 0; i < online->param_len; i++)
		target->param[i] = a * target->param[i] + b * online->param[i];
}

struct byol_hyper byol_hyper_at(const struct byol_schedule *s, long k)
{
	struct byol_hyper h;
	if (k < s->warmup_steps) {
		h.lr = s->peak_lr * (double)k / (double)s->warmup_steps;
	} else {
		long decay = s->total_steps - s->warmup_steps;
		double progress = decay > 0 ? (double)(k - s->warmup_steps) / (double)decay : 1.0;
		h.lr = s->peak_lr * 0.5 * (1.0 + cos(M_PI * (progress < 1 ? progress : 1)));
	}
	double frac = s->total_steps > 0 ? (double)k / (double)s->total_steps : 1.0;
	h.tau = 1.0 - (1.0 - s->tau_base) * (cos(M_PI * (frac < 1 ? frac : 1)) + 1.0) / 2.0;
	return h;
}
