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
		p[i] -= (float)lr * (o->nesterov ? d + m * mu[i] : mu[i]);
	}
}

struct optim_task {
	struct nn_net *net;
	float *mom;
	const struct byol_optim *o;
	double lr;
};

/*
 * A thread updates the tensors that start in its share of the arena, each
 * whole: a tensor's norms are summed by one thread in one order, so the
 * result does not depend on the thread count.
 */
static void optim_tensors(void *arg, int tid, int nth)
{
	const struct optim_task *t = arg;
	const struct nn_net *net = t->net;
	size_t lo, hi;
	pool_split(net->param_len, tid, nth, &lo, &hi);
	for (int i = 0; i < net->n_params; i++) {
		const struct nn_tensor *p = &net->params[i];
		if (p->offset < lo || p->offset >= hi)
			continue;
		update_tensor(net->param + p->offset, net->grad + p->offset, t->mom + p->offset,
			      p->len, !(p->flags & NN_PARAM_NO_DECAY), t->o, t->lr);
	}
}

void byol_optim_update(struct nn_net *net, float *mom, const struct byol_optim *o, double lr)
{
	struct optim_task t = { .net = net, .mom = mom, .o = o, .lr = lr };
	pool_run(net->pool, optim_tensors, &t);
}

struct ema_task {
	float *target;
	const float *online;
	size_t len;
	float a, b;
};

static void ema_range(void *arg, int tid, int nth)
{
	const struct ema_task *t = arg;
	size_t lo, hi;
	pool_split(t->len, tid, nth, &lo, &hi);
	for (size_t i = lo; i < hi; i++)
		t->target[i] = t->a * t->target[i] + t->b * t->online[i];
}

void byol_ema_update(struct nn_net *target, const struct nn_net *online, double tau)
{
	struct ema_task t = { .target = target->param, .online = online->param,
			      .len = online->param_len, .a = (float)tau, .b = (float)(1.0 - tau) };
	pool_run(online->pool, ema_range, &t);
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
