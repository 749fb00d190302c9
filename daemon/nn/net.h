/*
 * net.h — a network as a static graph of kernels over named parameters.
 *
 * A net is built once by appending layers (nn_conv2d, nn_batchnorm, ...);
 * each returns the id of its output activation. nn_net_finalize allocates
 * the parameter arena, a gradient arena with the same layout (optimizer
 * state can share it too) and a buffer arena for BN running statistics;
 * nn_net_set_batch allocates every activation for one batch size, so
 * forward and backward never allocate.
 *
 *     struct nn_net net;
 *     nn_net_init(&net, pool, 3, 32, 32);                      // input: activation 0
 *     int x = nn_conv2d(&net, "conv1", 0, 64, 3, 1, 1, 0);
 *     x = nn_relu(&net, nn_batchnorm(&net, "bn1", x));
 *     if (nn_net_finalize(&net, &err) || nn_net_set_batch(&net, 128, NN_GRAD_PARAMS, &err)) ...
 *     nn_net_reset_params(&net, seed);
 *     const float *y = nn_net_forward(&net, images, 1);       // train mode
 *     nn_net_zero_grad(&net);
 *     nn_net_backward(&net, dy);                              // grads in net.grad
 *     nn_net_free(&net);
 *
 * Activation gradients share memory: each lives from the first node that
 * writes it in backward to the node that produced the activation, and
 * gradients whose lives do not overlap share a slot of the gradient arena.
 *
 * Profiling (nn_net_profile) times every node with clock_gettime; it is off
 * (net->prof NULL) unless asked for, so normal runs pay one test per node.
 *
 * Builders record the first error in the net and return -1 from then on;
 * nn_net_finalize reports it. ReLU and the residual add work in place: their
 * input activation must have no other consumer (true of every model here).
 * Parameter and buffer names follow PyTorch's state_dict.
 */
#ifndef BYOL_NN_NET_H
#define BYOL_NN_NET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "nn/ops.h"

#define NN_NAME_MAX 128

/* Flags of a parameter. */
enum nn_param_flag {
	NN_PARAM_NO_DECAY = 1, /* bias or BN parameter: no weight decay, no LARS trust ratio */
};

/* How nn_net_reset_params fills a tensor (torchvision's choices). */
enum nn_init {
	NN_INIT_ZEROS,
	NN_INIT_ONES,
	NN_INIT_KAIMING_FAN_OUT, /* N(0, 2/fan_out): convs */
	NN_INIT_UNIFORM_FAN_IN,  /* U(±1/sqrt(fan_in)): nn.Linear weight and bias */
};

/* A named tensor in the parameter or buffer arena. */
struct nn_tensor {
	char name[NN_NAME_MAX];
	size_t offset, len; /* in floats, within its arena */
	int ndim;
	int shape[4];
	unsigned flags;
	enum nn_init init;
	int fan; /* fan_in or fan_out for the init */
};

enum nn_op {
	NN_OP_CONV2D,
	NN_OP_BATCHNORM,
	NN_OP_RELU,
	NN_OP_MAXPOOL,
	NN_OP_AVGPOOL,
	NN_OP_LINEAR,
	NN_OP_ADD,
};

/* What nn_net_set_batch prepares for. */
enum nn_grad_mode {
	NN_GRAD_NONE = 0,   /* forward only */
	NN_GRAD_PARAMS = 1, /* backward into the parameters */
	NN_GRAD_INPUT = 2,  /* ... and into the input (to chain nets) */
};

/* An activation: per-sample shape (C,H,W); data and grad hold batch·C·H·W floats. */
struct nn_act {
	int c, h, w;
	float *data;
	float *grad;
	size_t grad_slot; /* per-sample offset of its gradient in the shared gradient arena */
};

struct nn_node {
	enum nn_op op;
	int in, in2, out;  /* activation ids (in2: the add's second operand) */
	int weight, bias;  /* parameter ids or -1 */
	int stats;         /* BN: buffer id of running_mean; running_var and
			      num_batches_tracked follow */
	int k, stride, pad;
	int zero_in, zero_in2; /* first to write that input's gradient in backward */
	float *saved;      /* BN: mean and rstd (2·C) of the last forward */
	int32_t *argmax;   /* max-pool: winners of the last forward */
};

/* One node's accumulated time in profile mode. Convs and linears time their two
   backward products apart; every other op's whole backward is bwd_data_s. */
struct nn_node_prof {
	double fwd_s, bwd_data_s, bwd_weights_s;
	long fwd_calls, bwd_calls;
};

struct nn_net {
	struct pool *pool;
	const struct replica *replica; /* NULL: a single process */
	struct nn_tensor *params, *buffers;
	int n_params, n_buffers;
	float *param, *grad, *buffer; /* arenas */
	size_t param_len, buffer_len;
	struct nn_node *nodes;
	int n_nodes;
	struct nn_act *acts;
	int n_acts;
	int batch;     /* batch size the activations are allocated for; 0 = none */
	enum nn_grad_mode grad_mode;
	float *act_arena, *grad_arena, *work, *saved_arena;
	int32_t *argmax_arena;
	double *dwork;
	size_t grad_len; /* per-sample floats of the gradient arena */
	int train;     /* mode of the last forward */
	int finalized;
	struct nn_node_prof *prof; /* n_nodes entries in profile mode, else NULL */
	int conv_winograd; /* 3×3 stride-1 convolutions by Winograd (spec model.conv) */
	struct err err; /* first build error */
};

int nn_net_init(struct nn_net *net, struct pool *pool, int c, int h, int w);
void nn_net_free(struct nn_net *net);

/* Layers. name is the PyTorch module path ("layer1.0.conv1"); x an activation id. */
int nn_conv2d(struct nn_net *net, const char *name, int x, int oc, int k, int stride, int pad,
	      int bias);
int nn_batchnorm(struct nn_net *net, const char *name, int x);
int nn_relu(struct nn_net *net, int x);
int nn_maxpool2d(struct nn_net *net, int x, int k, int stride, int pad);
int nn_avgpool(struct nn_net *net, int x); /* global: (C,H,W) → (C,1,1) */
int nn_linear(struct nn_net *net, const char *name, int x, int out, int bias);
int nn_add(struct nn_net *net, int a, int b); /* a += b; returns a */

/* Allocate the parameter, gradient and buffer arenas. */
int nn_net_finalize(struct nn_net *net, struct err *e);
/* Allocate activations for batch (re-allocating if anything changed). */
int nn_net_set_batch(struct nn_net *net, int batch, enum nn_grad_mode mode, struct err *e);
/* Initialise parameters as torchvision does, deterministically from seed; reset buffers. */
void nn_net_reset_params(struct nn_net *net, uint64_t seed);

/* Forward a batch (batch·C·H·W floats, copied in); returns the last activation. */
const float *nn_net_forward(struct nn_net *net, const float *x, int train);
void nn_net_zero_grad(struct nn_net *net);
/* Backward from dout (the last activation's gradient); parameter gradients accumulate
   into net->grad, the input's gradient lands in net->acts[0].grad (the only activation
   gradient still valid afterwards: the others share memory). */
void nn_net_backward(struct nn_net *net, const float *dout);
/* The same, calling ready(ctx, from) after each node: the gradients at arena
   offsets [from, param_len) are final from then on (no node left to run writes
   them), so they can be sent while the rest of the backward runs. */
void nn_net_backward_each(struct nn_net *net, const float *dout,
			  void (*ready)(void *ctx, size_t from), void *ctx);

/* Node i alone (0 <= i < n_nodes), as nn_net_forward and nn_net_backward run it, on the
   activations and gradients as they are: for tests that feed each node its own input. */
void nn_net_forward_node(struct nn_net *net, int i, int train);
void nn_net_backward_node(struct nn_net *net, int i);

/* Profile mode on (zeroed timings; -1 if out of memory) or off (timings freed).
   In it, a conv's or linear's backward runs as two kernel calls, the input's
   gradient then the parameters': the products are independent, so the results
   are bit for bit those of a single call. */
int nn_net_profile(struct nn_net *net, int on);

/* Lookups by PyTorch name; NULL if absent. */
const struct nn_tensor *nn_net_param(const struct nn_net *net, const char *name);
const struct nn_tensor *nn_net_buffer(const struct nn_net *net, const char *name);
/* Per-sample output shape and size. */
int nn_net_out_dim(const struct nn_net *net);
/* The dimensions (and algorithm) of conv node nd at batch size batch. */
void nn_net_conv_dims(const struct nn_net *net, const struct nn_node *nd, int batch,
		      struct conv2d_dims *d);
/* FLOPs (2 per multiply-add) of one product of a conv or linear node at the current
   batch size; 0 for other ops. */
double nn_node_flops(const struct nn_net *net, const struct nn_node *nd);
/* FLOPs of one forward and one backward pass at the current batch size (backward:
   the weight products, and the input products wherever an input gradient is made). */
void nn_net_flops(const struct nn_net *net, double *fwd, double *bwd);

#endif
