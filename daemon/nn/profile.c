/*
 * profile.c — labels, shapes, FLOPs and bytes of a net's nodes (see profile.h).
 */
#include "nn/profile.h"

#include <stdio.h>
#include <string.h>

static const char *const op_names[] = {
	[NN_OP_CONV2D] = "conv2d", [NN_OP_BATCHNORM] = "batchnorm", [NN_OP_RELU] = "relu",
	[NN_OP_MAXPOOL] = "maxpool", [NN_OP_AVGPOOL] = "avgpool", [NN_OP_LINEAR] = "linear",
	[NN_OP_ADD] = "add",
};

/* The module path of a node with parameters ("layer1.0.conv1"), or 0 if it has none. */
static int module_name(const struct nn_net *net, const struct nn_node *nd, char *buf, size_t cap)
{
	if (nd->weight < 0)
		return 0;
	const char *name = net->params[nd->weight].name, *dot = strrchr(name, '.');
	size_t len = dot ? (size_t)(dot - name) : strlen(name);
	snprintf(buf, cap, "%.*s", (int)len, name);
	return 1;
}

static void label(const struct nn_net *net, int i, char *buf, size_t cap)
{
	const struct nn_node *nd = &net->nodes[i];
	char module[NN_NAME_MAX];
	if (module_name(net, nd, buf, cap))
		return;
	for (int j = i - 1; j >= 0; j--) {
		if (module_name(net, &net->nodes[j], module, sizeof module)) {
			snprintf(buf, cap, "%s+%s", module, op_names[nd->op]);
			return;
		}
	}
	snprintf(buf, cap, "%s", op_names[nd->op]);
}

/* "64x16x16", or "4096" for a (C,1,1) activation. */
static void act_shape(const struct nn_act *a, char *buf, size_t cap)
{
	if (a->h == 1 && a->w == 1)
		snprintf(buf, cap, "%d", a->c);
	else
		snprintf(buf, cap, "%dx%dx%d", a->c, a->h, a->w);
}

static void shape(const struct nn_net *net, const struct nn_node *nd, char *buf, size_t cap)
{
	const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	char a[32], b[32];
	act_shape(in, a, sizeof a);
	act_shape(out, b, sizeof b);
	if (nd->op == NN_OP_CONV2D || nd->op == NN_OP_MAXPOOL)
		snprintf(buf, cap, "b%d %s>%s k%d/%d", net->batch, a, b, nd->k, nd->stride);
	else if (nd->op == NN_OP_LINEAR || nd->op == NN_OP_AVGPOOL)
		snprintf(buf, cap, "b%d %s>%s", net->batch, a, b);
	else
		snprintf(buf, cap, "b%d %s", net->batch, a);
}

/* Bytes of an elementwise node's forward and backward (see profile.h). */
static void bytes(const struct nn_net *net, const struct nn_node *nd, int want_din, double *fwd,
		  double *bwd)
{
	const struct nn_act *in = &net->acts[nd->in], *out = &net->acts[nd->out];
	const double n = 4.0 * net->batch * in->c * in->h * in->w;
	const double m = 4.0 * net->batch * out->c * out->h * out->w;
	const double zero = (nd->zero_in && want_din ? n : 0) + (nd->zero_in2 ? n : 0);
	switch (nd->op) {
	case NN_OP_BATCHNORM: /* statistics pass + normalise; sums pass + input gradient */
		*fwd = net->train ? 3 * n : 2 * n;
		*bwd = (net->train ? 6 * n : 4 * n) + zero;
		break;
	case NN_OP_RELU: /* in place */
		*fwd = 2 * n;
		*bwd = 3 * n;
		break;
	case NN_OP_ADD: /* a += b; db += dy */
		*fwd = 3 * n;
		*bwd = 3 * n + zero;
		break;
	case NN_OP_MAXPOOL: /* output and argmax; scatter-add into the input's gradient */
		*fwd = n + 2 * m;
		*bwd = 4 * m + zero;
		break;
	case NN_OP_AVGPOOL:
		*fwd = n + m;
		*bwd = m + 2 * n + zero;
		break;
	default:
		*fwd = *bwd = 0;
	}
}

void nn_node_describe(const struct nn_net *net, int i, struct nn_node_info *info)
{
	const struct nn_node *nd = &net->nodes[i];
	memset(info, 0, sizeof *info);
	label(net, i, info->label, sizeof info->label);
	info->op = op_names[nd->op];
	shape(net, nd, info->shape, sizeof info->shape);
	double f = nn_node_flops(net, nd);
	int want_din = nd->in > 0 || net->grad_mode == NN_GRAD_INPUT;
	info->flops_fwd = f;
	info->flops_bwd_data = want_din ? f : 0;
	info->flops_bwd_weights = f;
	bytes(net, nd, want_din, &info->bytes_fwd, &info->bytes_bwd);
}
