/*
 * profile.h — what a per-layer profile reports about each node of a net:
 * a readable label, the op, the shape, the FLOPs of each product (convs and
 * linears) and the bytes an elementwise op moves. The timings themselves are
 * taken by the net in profile mode (nn_net_profile, net.h).
 *
 * Labels: a node with parameters is named by its module ("layer1.0.conv1");
 * one without is named by the last module before it and its op
 * ("layer1.0.bn1+relu", "layer1.0.downsample.1+add"), unique in every
 * model of models.h.
 *
 * Bytes count each float (or int32) array a kernel pass reads or writes, once
 * per pass (BN's training forward reads its input twice: statistics, then
 * normalisation), including the zeroing of a gradient before it accumulates.
 */
#ifndef BYOL_NN_PROFILE_H
#define BYOL_NN_PROFILE_H

#include "nn/net.h"

struct nn_node_info {
	char label[NN_NAME_MAX + 16];
	const char *op;    /* "conv2d", "batchnorm", "relu", "maxpool", "avgpool", "linear", "add" */
	char shape[80];    /* "b64 64x16x16>256x16x16 k1/1", "b256 512>4096", "b64 256x16x16" */
	/* Per call at the net's batch size and gradient mode. */
	double flops_fwd, flops_bwd_data, flops_bwd_weights;
	double bytes_fwd, bytes_bwd; /* 0 for convs and linears */
};

/* Describe node i of a net allocated for a batch (nn_net_set_batch). */
void nn_node_describe(const struct nn_net *net, int i, struct nn_node_info *info);

#endif
