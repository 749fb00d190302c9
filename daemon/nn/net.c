/*
 * net.c — building, allocating and running a network graph (see net.h).
 */
#include "nn/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "clock.h"
#include "rng.h"

#define NN_MAX_BATCH 65536

/* ---- building --------------------------------------------------------- */

/* Grow *arr (of *n items of size sz) by one zeroed item; returns it or NULL. */
static void *grow(struct nn_net *net, void **arr, int *n, size_t sz)
{
	if (net->err.code)
		return NULL;
	if (net->finalized) {
		err_set(&net->err, ERR_BAD_STATE, "network: layer added after finalize");
		return NULL;
	}
	void *p = realloc(*arr, sz * (size_t)(*n + 1));
	if (!p) {
		err_set(&net->err, ERR_NOMEM, "network: out of memory while building");
		return NULL;
	}
	*arr = p;
	memset((char *)p + sz * (size_t)*n, 0, sz);
	return (char *)p + sz * (size_t)(*n)++;
}

static int valid_act(struct nn_net *net, int x)
{
	if (net->err.code)
		return 0;
	if (x < 0 || x >= net->n_acts) {
		err_set(&net->err, ERR_INVALID, "network: no activation %d", x);
		return 0;
	}
	return 1;
}

static int add_act(struct nn_net *net, int c, int h, int w)
{
	if (c <= 0 || h <= 0 || w <= 0) {
		err_set(&net->err, ERR_INVALID, "network: empty activation %dx%dx%d (input too small?)",
			c, h, w);
		return -1;
	}
	struct nn_act *a = grow(net, (void **)&net->acts, &net->n_acts, sizeof *a);
	if (!a)
		return -1;
	a->c = c;
	a->h = h;
	a->w = w;
	return net->n_acts - 1;
}

/* Append a named tensor of the given shape to the parameter or buffer table. */
static int add_tensor(struct nn_net *net, int is_param, const char *module, const char *leaf,
		      int ndim, const int *shape, enum nn_init init, int fan, unsigned flags)
{
	struct nn_tensor **tab = is_param ? &net->params : &net->buffers;
	int *n = is_param ? &net->n_params : &net->n_buffers;
	size_t *len = is_param ? &net->param_len : &net->buffer_len;
	struct nn_tensor *t = grow(net, (void **)tab, n, sizeof *t);
	if (!t)
		return -1;
	if (snprintf(t->name, sizeof t->name, "%s.%s", module, leaf) >= (int)sizeof t->name) {
		(*n)--;
		err_set(&net->err, ERR_INVALID, "network: name too long: %s.%s", module, leaf);
		return -1;
	}
	t->ndim = ndim;
	t->len = 1;
	for (int i = 0; i < ndim; i++) {
		t->shape[i] = shape[i];
		t->len *= (size_t)shape[i];
	}
	t->offset = *len;
	*len += t->len;
	t->init = init;
	t->fan = fan;
	t->flags = flags;
	return *n - 1;
}

static struct nn_node *add_node(struct nn_net *net, enum nn_op op, int in)
{
	struct nn_node *nd = grow(net, (void **)&net->nodes, &net->n_nodes, sizeof *nd);
	if (!nd)
		return NULL;
	nd->op = op;
	nd->in = in;
	nd->in2 = nd->out = nd->weight = nd->bias = nd->stats = -1;
	return nd;
}

int nn_net_init(struct nn_net *net, struct pool *pool, int c, int h, int w)
{
	memset(net, 0, sizeof *net);
	net->pool = pool;
	return add_act(net, c, h, w);
}

int nn_conv2d(struct nn_net *net, const char *name, int x, int oc, int k, int stride, int pad,
	      int bias)
{
	if (!valid_act(net, x))
		return -1;
	const struct nn_act in = net->acts[x];
	int oh = pool2d_out(in.h, k, stride, pad), ow = pool2d_out(in.w, k, stride, pad);
	int y = add_act(net, oc, oh, ow);
	struct nn_node *nd = add_node(net, NN_OP_CONV2D, x);
	if (y < 0 || !nd)
		return -1;
	*nd = (struct nn_node){ .op = NN_OP_CONV2D, .in = x, .in2 = -1, .out = y, .bias = -1,
				.stats = -1, .k = k, .stride = stride, .pad = pad };
	int wshape[4] = { oc, in.c, k, k };
	nd->weight = add_tensor(net, 1, name, "weight", 4, wshape, NN_INIT_KAIMING_FAN_OUT,
				oc * k * k, 0);
	if (bias)
		nd->bias = add_tensor(net, 1, name, "bias", 1, &oc, NN_INIT_UNIFORM_FAN_IN,
				      in.c * k * k, NN_PARAM_NO_DECAY);
	return net->err.code ? -1 : y;
}

int nn_batchnorm(struct nn_net *net, const char *name, int x)
{
	if (!valid_act(net, x))
		return -1;
	const struct nn_act in = net->acts[x];
	int y = add_act(net, in.c, in.h, in.w);
	struct nn_node *nd = add_node(net, NN_OP_BATCHNORM, x);
	if (y < 0 || !nd)
		return -1;
	nd->out = y;
	nd->weight = add_tensor(net, 1, name, "weight", 1, &in.c, NN_INIT_ONES, 0,
				NN_PARAM_NO_DECAY);
	nd->bias = add_tensor(net, 1, name, "bias", 1, &in.c, NN_INIT_ZEROS, 0, NN_PARAM_NO_DECAY);
	nd->stats = add_tensor(net, 0, name, "running_mean", 1, &in.c, NN_INIT_ZEROS, 0, 0);
	add_tensor(net, 0, name, "running_var", 1, &in.c, NN_INIT_ONES, 0, 0);
	add_tensor(net, 0, name, "num_batches_tracked", 0, NULL, NN_INIT_ZEROS, 0, 0);
	return net->err.code ? -1 : y;
}

int nn_relu(struct nn_net *net, int x)
{
	if (!valid_act(net, x))
		return -1;
	struct nn_node *nd = add_node(net, NN_OP_RELU, x);
	if (!nd)
		return -1;
	nd->out = x;
	return x;
}

int nn_maxpool2d(struct nn_net *net, int x, int k, int stride, int pad)
{
	if (!valid_act(net, x))
		return -1;
	const struct nn_act in = net->acts[x];
	int y = add_act(net, in.c, pool2d_out(in.h, k, stride, pad),
			pool2d_out(in.w, k, stride, pad));
	struct nn_node *nd = add_node(net, NN_OP_MAXPOOL, x);
	if (y < 0 || !nd)
		return -1;
	nd->out = y;
	nd->k = k;
	nd->stride = stride;
	nd->pad = pad;
	return y;
}

int nn_avgpool(struct nn_net *net, int x)
{
	if (!valid_act(net, x))
		return -1;
	int y = add_act(net, net->acts[x].c, 1, 1);
	struct nn_node *nd = add_node(net, NN_OP_AVGPOOL, x);
	if (y < 0 || !nd)
		return -1;
	nd->out = y;
	return y;
}

int nn_linear(struct nn_net *net, const char *name, int x, int out, int bias)
{
	if (!valid_act(net, x))
		return -1;
	const struct nn_act in = net->acts[x];
	int fan_in = in.c * in.h * in.w;
	int y = add_act(net, out, 1, 1);
	struct nn_node *nd = add_node(net, NN_OP_LINEAR, x);
	if (y < 0 || !nd)
		return -1;
	nd->out = y;
	int wshape[2] = { out, fan_in };
	nd->weight = add_tensor(net, 1, name, "weight", 2, wshape, NN_INIT_UNIFORM_FAN_IN, fan_in, 0);
	if (bias)
		nd->bias = add_tensor(net, 1, name, "bias", 1, &out, NN_INIT_UNIFORM_FAN_IN, fan_in,
				      NN_PARAM_NO_DECAY);
	return net->err.code ? -1 : y;
}

int nn_add(struct nn_net *net, int a, int b)
{
	if (!valid_act(net, a) || !valid_act(net, b))
		return -1;
	const struct nn_act *x = &net->acts[a], *y = &net->acts[b];
	if (x->c != y->c || x->h != y->h || x->w != y->w) {
		err_set(&net->err, ERR_INVALID, "network: add of %dx%dx%d and %dx%dx%d", x->c, x->h,
			x->w, y->c, y->h, y->w);
		return -1;
	}
	struct nn_node *nd = add_node(net, NN_OP_ADD, a);
	if (!nd)
		return -1;
	nd->in2 = b;
	nd->out = a;
	return a;
}

/* ---- allocation ------------------------------------------------------- */

static size_t act_floats(const struct nn_act *a)
{
	return (size_t)a->c * a->h * a->w;
}

/*
 * Mark, for every activation, the node whose backward writes its gradient
 * first (the last consumer in forward order, in-place nodes aside): that node
 * zeroes the gradient just before accumulating into it, while it is about to
 * be in cache anyway, instead of a pass over all gradients per step.
 */
static int mark_first_writers(struct nn_net *net, struct err *e)
{
	char *seen = calloc((size_t)net->n_acts, 1);
	if (!seen)
		return err_set(e, ERR_NOMEM, "network: out of memory");
	for (int i = net->n_nodes - 1; i >= 0; i--) {
		struct nn_node *nd = &net->nodes[i];
		if (nd->out != nd->in) {
			nd->zero_in = !seen[nd->in];
			seen[nd->in] = 1;
		}
		if (nd->in2 >= 0) {
			nd->zero_in2 = !seen[nd->in2];
			seen[nd->in2] = 1;
		}
	}
	free(seen);
	return 0;
}

/*
 * Lifetimes of the activation gradients in backward steps (step s runs node
 * n_nodes−1−s): born at the step of the first writer (the output's at −1),
 * dead after the step of the activation's producer (the input's never).
 */
static void gradient_lifetimes(const struct nn_net *net, int *birth, int *death)
{
	for (int a = 0; a < net->n_acts; a++) {
		birth[a] = net->n_nodes;
		death[a] = net->n_nodes;
	}
	birth[net->n_acts - 1] = -1;
	for (int i = 0; i < net->n_nodes; i++) {
		const struct nn_node *nd = &net->nodes[i];
		int step = net->n_nodes - 1 - i;
		if (nd->zero_in)
			birth[nd->in] = step;
		if (nd->zero_in2)
			birth[nd->in2] = step;
		if (nd->out != nd->in)
			death[nd->out] = step;
	}
}

/* A slot free at step: the smallest that fits need, else the largest (to grow); -1 if none. */
static int pick_slot(const size_t *size, const int *busy_until, int slots, int step, size_t need)
{
	int fit = -1, big = -1;
	for (int s = 0; s < slots; s++) {
		if (busy_until[s] >= step)
			continue; /* still holds a live gradient */
		if (size[s] >= need && (fit < 0 || size[s] < size[fit]))
			fit = s;
		if (big < 0 || size[s] > size[big])
			big = s;
	}
	return fit >= 0 ? fit : big;
}

/* Assign gradient slots greedily in order of birth, reusing the best-fitting dead slot. */
static int plan_gradients(struct nn_net *net, struct err *e)
{
	const int n = net->n_acts;
	int *birth = calloc((size_t)n, sizeof(int)), *death = calloc((size_t)n, sizeof(int));
	int *slot_of = calloc((size_t)n, sizeof(int)), *slot_free = calloc((size_t)n, sizeof(int));
	size_t *slot_size = calloc((size_t)n, sizeof(size_t));
	int slots = 0, rc = 0;
	if (!birth || !death || !slot_of || !slot_free || !slot_size) {
		rc = err_set(e, ERR_NOMEM, "network: out of memory");
		goto out;
	}
	gradient_lifetimes(net, birth, death);
	for (int step = -1; step <= net->n_nodes; step++) {
		for (int a = 0; a < n; a++) {
			if (birth[a] != step)
				continue;
			size_t need = act_floats(&net->acts[a]);
			int best = pick_slot(slot_size, slot_free, slots, step, need);
			if (best < 0)
				best = slots++;
			if (slot_size[best] < need)
				slot_size[best] = need;
			slot_free[best] = death[a];
			slot_of[a] = best;
		}
	}
	size_t *offset = slot_size; /* reuse: sizes become offsets */
	size_t total = 0;
	for (int s = 0; s < slots; s++) {
		size_t size = slot_size[s];
		offset[s] = total;
		total += size;
	}
	for (int a = 0; a < n; a++)
		net->acts[a].grad_slot = offset[slot_of[a]];
	net->grad_len = total;
out:
	free(birth);
	free(death);
	free(slot_of);
	free(slot_free);
	free(slot_size);
	return rc;
}

int nn_net_finalize(struct nn_net *net, struct err *e)
{
	if (net->err.code)
		return err_set(e, net->err.code, "%s", net->err.msg);
	if (mark_first_writers(net, e) || plan_gradients(net, e))
		return e->code;
	size_t saved = 0;
	for (int i = 0; i < net->n_nodes; i++)
		if (net->nodes[i].op == NN_OP_BATCHNORM)
			saved += 2 * (size_t)net->acts[net->nodes[i].in].c;
	net->param = calloc(net->param_len + 1, sizeof(float));
	net->grad = calloc(net->param_len + 1, sizeof(float));
	net->buffer = calloc(net->buffer_len + 1, sizeof(float));
	net->saved_arena = calloc(saved + 1, sizeof(float));
	if (!net->param || !net->grad || !net->buffer || !net->saved_arena)
		return err_set(e, ERR_NOMEM, "network: cannot allocate %zu parameters",
			       net->param_len);
	float *s = net->saved_arena;
	for (int i = 0; i < net->n_nodes; i++) {
		struct nn_node *nd = &net->nodes[i];
		if (nd->op == NN_OP_BATCHNORM) {
			nd->saved = s;
			s += 2 * (size_t)net->acts[nd->in].c;
		}
	}
	net->finalized = 1;
	return 0;
}

static void free_batch(struct nn_net *net)
{
	free(net->act_arena);
	free(net->grad_arena);
	free(net->argmax_arena);
	free(net->work);
	free(net->dwork);
	net->act_arena = net->grad_arena = net->work = NULL;
	net->argmax_arena = NULL;
	net->dwork = NULL;
	net->batch = 0;
	for (int i = 0; i < net->n_acts; i++)
		net->acts[i].data = net->acts[i].grad = NULL;
}

/* Largest per-kernel workspaces at this batch size (floats, doubles), argmax ints. */
static void batch_needs(const struct nn_net *net, int batch, size_t *work, size_t *dwork,
			size_t *argmax)
{
	int nth = pool_threads(net->pool);
	*work = *dwork = *argmax = 0;
	for (int i = 0; i < net->n_nodes; i++) {
		const struct nn_node *nd = &net->nodes[i];
		const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
		if (nd->op == NN_OP_CONV2D) {
			struct conv2d_dims d;
			nn_net_conv_dims(net, nd, batch, &d);
			size_t need = conv2d_work_floats(&d, nth);
			*work = need > *work ? need : *work;
		} else if (nd->op == NN_OP_BATCHNORM) {
			size_t need = batchnorm_work_doubles(in->c);
			*dwork = need > *dwork ? need : *dwork;
		} else if (nd->op == NN_OP_MAXPOOL) {
			*argmax += (size_t)batch * act_floats(out);
		}
	}
}

int nn_net_set_batch(struct nn_net *net, int batch, enum nn_grad_mode mode, struct err *e)
{
	if (!net->finalized)
		return err_set(e, ERR_BAD_STATE, "network: set_batch before finalize");
	if (batch < 1 || batch > NN_MAX_BATCH)
		return err_set(e, ERR_RANGE, "network: batch %d outside 1..%d", batch, NN_MAX_BATCH);
	if (batch == net->batch && mode == net->grad_mode)
		return 0;
	free_batch(net);
	size_t total = 0, work, dwork, argmax;
	for (int i = 0; i < net->n_acts; i++)
		total += (size_t)batch * act_floats(&net->acts[i]);
	batch_needs(net, batch, &work, &dwork, &argmax);
	net->act_arena = malloc(total * sizeof(float));
	net->grad_arena = mode ? malloc((size_t)batch * net->grad_len * sizeof(float)) : NULL;
	net->work = malloc((work + 1) * sizeof(float));
	net->dwork = malloc((dwork + 1) * sizeof(double));
	net->argmax_arena = malloc((argmax + 1) * sizeof(int32_t));
	if (!net->act_arena || (mode && !net->grad_arena) || !net->work || !net->dwork ||
	    !net->argmax_arena) {
		free_batch(net);
		return err_set(e, ERR_NOMEM, "network: cannot allocate activations for batch %d "
			       "(%.1f MiB)", batch,
			       (double)(total + (mode ? (size_t)batch * net->grad_len : 0)) * 4 / 1048576.0);
	}
	size_t off = 0, am = 0;
	for (int i = 0; i < net->n_acts; i++) {
		net->acts[i].data = net->act_arena + off;
		net->acts[i].grad = mode ? net->grad_arena + (size_t)batch * net->acts[i].grad_slot : NULL;
		off += (size_t)batch * act_floats(&net->acts[i]);
	}
	for (int i = 0; i < net->n_nodes; i++) {
		struct nn_node *nd = &net->nodes[i];
		if (nd->op == NN_OP_MAXPOOL) {
			nd->argmax = net->argmax_arena + am;
			am += (size_t)batch * act_floats(&net->acts[nd->out]);
		}
	}
	net->batch = batch;
	net->grad_mode = mode;
	return 0;
}

void nn_net_reset_params(struct nn_net *net, uint64_t seed)
{
	for (int i = 0; i < net->n_params + net->n_buffers; i++) {
		int is_param = i < net->n_params;
		const struct nn_tensor *t = is_param ? &net->params[i] : &net->buffers[i - net->n_params];
		float *x = (is_param ? net->param : net->buffer) + t->offset;
		struct rng r;
		rng_init(&r, seed, (uint64_t)i);
		double bound = t->fan > 0 ? 1.0 / sqrt((double)t->fan) : 0.0;
		double sd = t->fan > 0 ? sqrt(2.0 / t->fan) : 0.0;
		for (size_t j = 0; j < t->len; j++) {
			switch (t->init) {
			case NN_INIT_ZEROS: x[j] = 0.0f; break;
			case NN_INIT_ONES: x[j] = 1.0f; break;
			case NN_INIT_KAIMING_FAN_OUT: x[j] = (float)(sd * rng_normal(&r)); break;
			case NN_INIT_UNIFORM_FAN_IN:
				x[j] = (float)(bound * (2.0 * rng_uniform_f64(&r) - 1.0));
				break;
			}
		}
	}
}

void nn_net_free(struct nn_net *net)
{
	free_batch(net);
	free(net->param);
	free(net->grad);
	free(net->buffer);
	free(net->saved_arena);
	free(net->prof);
	free(net->params);
	free(net->buffers);
	free(net->nodes);
	free(net->acts);
	memset(net, 0, sizeof *net);
}

/* ---- running ---------------------------------------------------------- */

static float *param_ptr(struct nn_net *net, float *arena, int id)
{
	return id < 0 ? NULL : arena + net->params[id].offset;
}

static void forward_node(struct nn_net *net, struct nn_node *nd)
{
	struct pool *p = net->pool;
	const int n = net->batch;
	struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	const float *w = param_ptr(net, net->param, nd->weight);
	const float *b = param_ptr(net, net->param, nd->bias);
	switch (nd->op) {
	case NN_OP_CONV2D: {
		struct conv2d_dims d;
		nn_net_conv_dims(net, nd, n, &d);
		conv2d_forward(p, out->data, net->work, in->data, w, b, &d);
		break;
	}
	case NN_OP_BATCHNORM: {
		float *stats = net->buffer + net->buffers[nd->stats].offset;
		batchnorm_forward(p, out->data, nd->saved, nd->saved + in->c, net->dwork, in->data,
				  w, b, stats, stats + in->c, n, in->c, in->h * in->w, net->train,
				  net->replica);
		if (net->train)
			stats[2 * in->c] += 1.0f; /* num_batches_tracked */
		break;
	}
	case NN_OP_RELU:
		relu_forward(p, out->data, in->data, (size_t)n * act_floats(in));
		break;
	case NN_OP_MAXPOOL:
		maxpool2d_forward(p, out->data, nd->argmax, in->data, n, in->c, in->h, in->w, nd->k,
				  nd->stride, nd->pad);
		break;
	case NN_OP_AVGPOOL:
		avgpool_forward(p, out->data, in->data, n, in->c, in->h * in->w);
		break;
	case NN_OP_LINEAR:
		linear_forward(p, out->data, in->data, w, b, n, (int)act_floats(in), out->c);
		break;
	case NN_OP_ADD:
		add_forward(p, out->data, in->data, net->acts[nd->in2].data,
			    (size_t)n * act_floats(in));
		break;
	}
}

void nn_net_forward_node(struct nn_net *net, int i, int train)
{
	net->train = train;
	if (!net->prof) {
		forward_node(net, &net->nodes[i]);
		return;
	}
	double t0 = clock_seconds();
	forward_node(net, &net->nodes[i]);
	net->prof[i].fwd_s += clock_seconds() - t0;
	net->prof[i].fwd_calls++;
}

const float *nn_net_forward(struct nn_net *net, const float *x, int train)
{
	memcpy(net->acts[0].data, x, (size_t)net->batch * act_floats(&net->acts[0]) * sizeof(float));
	for (int i = 0; i < net->n_nodes; i++)
		nn_net_forward_node(net, i, train);
	return net->acts[net->n_acts - 1].data;
}

void nn_net_zero_grad(struct nn_net *net)
{
	memset(net->grad, 0, net->param_len * sizeof(float));
}

/* Which gradients a backward call makes: profile mode splits convs and linears. */
enum { BWD_DATA = 1, BWD_WEIGHTS = 2, BWD_ALL = 3 };

static void backward_node(struct nn_net *net, struct nn_node *nd, int parts)
{
	struct pool *p = net->pool;
	const int n = net->batch;
	struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	const float *w = param_ptr(net, net->param, nd->weight);
	float *dw = parts & BWD_WEIGHTS ? param_ptr(net, net->grad, nd->weight) : NULL;
	float *db = parts & BWD_WEIGHTS ? param_ptr(net, net->grad, nd->bias) : NULL;
	/* The input's gradient is only wanted past the first layer or when asked for. */
	int want_din = nd->in > 0 || net->grad_mode == NN_GRAD_INPUT;
	float *din = want_din && (parts & BWD_DATA) ? in->grad : NULL;
	const size_t in_len = (size_t)n * act_floats(in);
	if (din && nd->zero_in)
		memset(din, 0, in_len * sizeof(float));
	if (nd->in2 >= 0 && nd->zero_in2)
		memset(net->acts[nd->in2].grad, 0, in_len * sizeof(float));
	switch (nd->op) {
	case NN_OP_CONV2D: {
		struct conv2d_dims d;
		nn_net_conv_dims(net, nd, n, &d);
		if (din || dw || db)
			conv2d_backward(p, din, dw, db, net->work, out->grad, in->data, w, &d);
		break;
	}
	case NN_OP_BATCHNORM:
		batchnorm_backward(p, din, dw, db, net->dwork, out->grad, in->data, w, nd->saved,
				   nd->saved + in->c, n, in->c, in->h * in->w, net->train,
				   net->replica);
		break;
	case NN_OP_RELU:
		relu_backward(p, in->grad, out->grad, out->data, in_len);
		break;
	case NN_OP_MAXPOOL:
		if (din)
			maxpool2d_backward(p, din, out->grad, nd->argmax, n, in->c, in->h, in->w,
					   out->h, out->w);
		break;
	case NN_OP_AVGPOOL:
		if (din)
			avgpool_backward(p, din, out->grad, n, in->c, in->h * in->w);
		break;
	case NN_OP_LINEAR:
		if (din || dw || db)
			linear_backward(p, din, dw, db, out->grad, in->data, w, n,
					(int)act_floats(in), out->c);
		break;
	case NN_OP_ADD: /* in place: the first operand's gradient already is the output's */
		add_backward(p, net->acts[nd->in2].grad, out->grad, in_len);
		break;
	}
}

void nn_net_backward_node(struct nn_net *net, int i)
{
	struct nn_node *nd = &net->nodes[i];
	if (!net->prof) {
		backward_node(net, nd, BWD_ALL);
		return;
	}
	struct nn_node_prof *pr = &net->prof[i];
	double t0 = clock_seconds();
	if (nd->op == NN_OP_CONV2D || nd->op == NN_OP_LINEAR) {
		backward_node(net, nd, BWD_DATA);
		double t1 = clock_seconds();
		backward_node(net, nd, BWD_WEIGHTS);
		pr->bwd_data_s += t1 - t0;
		pr->bwd_weights_s += clock_seconds() - t1;
	} else {
		backward_node(net, nd, BWD_ALL);
		pr->bwd_data_s += clock_seconds() - t0;
	}
	pr->bwd_calls++;
}

/* Arena span [*lo, *hi) of node i's parameters; empty (lo = hi = 0) if it has none. */
static void node_params(const struct nn_net *net, int i, size_t *lo, size_t *hi)
{
	const int ids[2] = { net->nodes[i].weight, net->nodes[i].bias };
	*lo = SIZE_MAX, *hi = 0;
	for (int k = 0; k < 2; k++) {
		if (ids[k] < 0)
			continue;
		const struct nn_tensor *t = &net->params[ids[k]];
		*lo = t->offset < *lo ? t->offset : *lo;
		*hi = t->offset + t->len > *hi ? t->offset + t->len : *hi;
	}
	if (*hi == 0)
		*lo = 0;
}

/* Offset from which every gradient is final once nodes [i, n) have run backward:
   the lowest offset of their parameters, provided no earlier node's lie above it
   (parameters are laid out in node order, so they never do). */
static size_t final_from(const struct nn_net *net, int i)
{
	size_t from = net->param_len, lo, hi;
	for (int j = i; j < net->n_nodes; j++) {
		node_params(net, j, &lo, &hi);
		if (hi > lo && lo < from)
			from = lo;
	}
	for (int j = 0; j < i; j++) {
		node_params(net, j, &lo, &hi);
		if (hi > from)
			return net->param_len;
	}
	return from;
}

void nn_net_backward_each(struct nn_net *net, const float *dout,
			  void (*ready)(void *ctx, size_t from), void *ctx)
{
	const struct nn_act *last = &net->acts[net->n_acts - 1];
	memcpy(last->grad, dout, (size_t)net->batch * act_floats(last) * sizeof(float));
	for (int i = net->n_nodes - 1; i >= 0; i--) {
		nn_net_backward_node(net, i);
		if (ready)
			ready(ctx, i == 0 ? 0 : final_from(net, i));
	}
}

void nn_net_backward(struct nn_net *net, const float *dout)
{
	nn_net_backward_each(net, dout, NULL, NULL);
}

int nn_net_profile(struct nn_net *net, int on)
{
	free(net->prof);
	net->prof = on ? calloc((size_t)net->n_nodes + 1, sizeof *net->prof) : NULL;
	return on && !net->prof ? -1 : 0;
}

/* ---- queries ---------------------------------------------------------- */

static const struct nn_tensor *find(const struct nn_tensor *tab, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

const struct nn_tensor *nn_net_param(const struct nn_net *net, const char *name)
{
	return find(net->params, net->n_params, name);
}

const struct nn_tensor *nn_net_buffer(const struct nn_net *net, const char *name)
{
	return find(net->buffers, net->n_buffers, name);
}

int nn_net_out_dim(const struct nn_net *net)
{
	return (int)act_floats(&net->acts[net->n_acts - 1]);
}

void nn_net_conv_dims(const struct nn_net *net, const struct nn_node *nd, int batch,
		      struct conv2d_dims *d)
{
	const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	conv2d_dims_init(d, batch, in->c, in->h, in->w, out->c, nd->k, nd->stride, nd->pad);
	d->winograd = net->conv_winograd;
}

double nn_node_flops(const struct nn_net *net, const struct nn_node *nd)
{
	const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	if (nd->op == NN_OP_LINEAR)
		return 2.0 * net->batch * act_floats(in) * out->c;
	if (nd->op != NN_OP_CONV2D)
		return 0;
	struct conv2d_dims d;
	nn_net_conv_dims(net, nd, net->batch, &d);
	return conv2d_flops(&d);
}

void nn_net_flops(const struct nn_net *net, double *fwd, double *bwd)
{
	*fwd = *bwd = 0;
	for (int i = 0; i < net->n_nodes; i++) {
		const struct nn_node *nd = &net->nodes[i];
		double f = nn_node_flops(net, nd);
		*fwd += f;
		/* the first layer makes no input gradient unless asked to */
		*bwd += nd->in > 0 || net->grad_mode == NN_GRAD_INPUT ? 2 * f : f;
	}
}
