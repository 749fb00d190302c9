/*
 * models.h — the encoders and heads BYOL trains, built into a struct nn_net
 * with torchvision's module names so an exported encoder loads into
 * torchvision.models.resnet18/34/50 (without fc).
 *
 * - ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, stride on the 3×3),
 *   a 1×1 conv + BN projection shortcut (`downsample`) where the shape
 *   changes; ImageNet stem (7×7/2 conv, BN, ReLU, 3×3/2 max-pool) or CIFAR
 *   stem (3×3/1 conv, BN, ReLU).
 * - convnet: four 3×3 bias-free convs of 32, 64, 128, 256 channels, each with
 *   BN and ReLU, a 2×2 max-pool after the first three (`features.N`).
 * - every encoder ends in global average pooling: output (D,1,1).
 * - width scales every conv's channels: max(1, round(c·width)).
 * - mlp head: Linear(bias) → BN1d → ReLU → Linear(bias), names 0, 1, 3.
 */
#ifndef BYOL_NN_MODELS_H
#define BYOL_NN_MODELS_H

#include "nn/net.h"

enum encoder_arch {
	ENCODER_CONVNET,
	ENCODER_RESNET18,
	ENCODER_RESNET34,
	ENCODER_RESNET50,
};

struct encoder_config {
	enum encoder_arch arch;
	double width;      /* channel multiplier, > 0 */
	int imagenet_stem; /* ResNets: 1 = 7×7/2 + max-pool, 0 = CIFAR 3×3/1 */
	int winograd;      /* 3×3 stride-1 convolutions by Winograd (nn_net.conv_winograd) */
};

/* "convnet", "resnet18", ... ↔ enum; parse returns -1 for an unknown name. */
int encoder_arch_parse(const char *name, enum encoder_arch *out);
const char *encoder_arch_name(enum encoder_arch arch);

/* Channels of a conv that has c at width 1. */
int model_channels(int c, double width);

/* Append the encoder to net after activation x, names prefixed by prefix ("" or
   "online.encoder."); returns the output activation id (D,1,1) or -1. */
int encoder_build(struct nn_net *net, const char *prefix, int x, const struct encoder_config *cfg);

/* Append Linear(in→hidden) → BN → ReLU → Linear(hidden→out) after x. */
int mlp_build(struct nn_net *net, const char *prefix, int x, int hidden, int out);

#endif
