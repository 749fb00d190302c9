/*
 * models.c — ResNet, convnet and MLP head builders (see models.h).
 */
#include "nn/models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const arch_names[] = {
	[ENCODER_CONVNET] = "convnet",
	[ENCODER_RESNET18] = "resnet18",
	[ENCODER_RESNET34] = "resnet34",
	[ENCODER_RESNET50] = "resnet50",
};

int encoder_arch_parse(const char *name, enum encoder_arch *out)
{
	for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++) {
		if (strcmp(name, arch_names[i]) == 0) {
			*out = (enum encoder_arch)i;
			return 0;
		}
	}
	return -1;
}

const char *encoder_arch_name(enum encoder_arch arch)
{
	return arch_names[arch];
}

int model_channels(int c, double width)
{
	int n = (int)floor(c * width + 0.5);
	return n < 1 ? 1 : n;
}

/* Module path: prefix + printf(fmt, ...). */
#define PATH(buf, prefix, ...)                                                     \
	(snprintf(buf, sizeof buf, "%s", prefix),                                  \
	 snprintf(buf + strlen(buf), sizeof buf - strlen(buf), __VA_ARGS__), buf)

/* conv → BN, the unit every ResNet layer is made of; names <path>conv<i>, <path>bn<i>. */
static int conv_bn(struct nn_net *net, const char *conv_name, const char *bn_name, int x, int oc,
		   int k, int stride)
{
	x = nn_conv2d(net, conv_name, x, oc, k, stride, k / 2, 0);
	return nn_batchnorm(net, bn_name, x);
}

/*
 * One residual block at module path `path` ("layer2.0."). planes is the
 * block's width-1 base channel count; bottleneck blocks expand it 4×.
 */
static int resnet_block(struct nn_net *net, const char *path, int x, int planes, int stride,
			int bottleneck, double width)
{
	char a[NN_NAME_MAX], b[NN_NAME_MAX];
	const int in_c = x >= 0 ? net->acts[x].c : 0;
	const int mid = model_channels(planes, width);
	const int out_c = model_channels(bottleneck ? planes * 4 : planes, width);
	int y;
	if (bottleneck) {
		y = nn_relu(net, conv_bn(net, PATH(a, path, "conv1"), PATH(b, path, "bn1"), x, mid,
					 1, 1));
		y = nn_relu(net, conv_bn(net, PATH(a, path, "conv2"), PATH(b, path, "bn2"), y, mid,
					 3, stride));
		y = conv_bn(net, PATH(a, path, "conv3"), PATH(b, path, "bn3"), y, out_c, 1, 1);
	} else {
		y = nn_relu(net, conv_bn(net, PATH(a, path, "conv1"), PATH(b, path, "bn1"), x, mid,
					 3, stride));
		y = conv_bn(net, PATH(a, path, "conv2"), PATH(b, path, "bn2"), y, out_c, 3, 1);
	}
	int shortcut = x;
	if (stride != 1 || in_c != out_c)
		shortcut = conv_bn(net, PATH(a, path, "downsample.0"), PATH(b, path, "downsample.1"),
				   x, out_c, 1, stride);
	return nn_relu(net, nn_add(net, y, shortcut));
}

static int resnet_build(struct nn_net *net, const char *prefix, int x,
			const struct encoder_config *cfg)
{
	static const int blocks18[4] = { 2, 2, 2, 2 }, blocks34[4] = { 3, 4, 6, 3 };
	const int bottleneck = cfg->arch == ENCODER_RESNET50;
	const int *blocks = cfg->arch == ENCODER_RESNET18 ? blocks18 : blocks34;
	char a[NN_NAME_MAX], b[NN_NAME_MAX];
	const int stem_c = model_channels(64, cfg->width);
	if (cfg->imagenet_stem) {
		x = nn_conv2d(net, PATH(a, prefix, "conv1"), x, stem_c, 7, 2, 3, 0);
		x = nn_relu(net, nn_batchnorm(net, PATH(b, prefix, "bn1"), x));
		x = nn_maxpool2d(net, x, 3, 2, 1);
	} else {
		x = nn_conv2d(net, PATH(a, prefix, "conv1"), x, stem_c, 3, 1, 1, 0);
		x = nn_relu(net, nn_batchnorm(net, PATH(b, prefix, "bn1"), x));
	}
	for (int stage = 0; stage < 4; stage++) {
		for (int i = 0; i < blocks[stage]; i++) {
			int stride = stage > 0 && i == 0 ? 2 : 1;
			PATH(a, prefix, "layer%d.%d.", stage + 1, i);
			x = resnet_block(net, a, x, 64 << stage, stride, bottleneck, cfg->width);
		}
	}
	return nn_avgpool(net, x);
}

static int convnet_build(struct nn_net *net, const char *prefix, int x, double width)
{
	char a[NN_NAME_MAX], b[NN_NAME_MAX];
	for (int i = 0; i < 4; i++) {
		int oc = model_channels(32 << i, width);
		x = nn_conv2d(net, PATH(a, prefix, "features.%d", 4 * i), x, oc, 3, 1, 1, 0);
		x = nn_relu(net, nn_batchnorm(net, PATH(b, prefix, "features.%d", 4 * i + 1), x));
		if (i < 3)
			x = nn_maxpool2d(net, x, 2, 2, 0);
	}
	return nn_avgpool(net, x);
}

int encoder_build(struct nn_net *net, const char *prefix, int x, const struct encoder_config *cfg)
{
	net->conv_winograd = cfg->winograd;
	if (cfg->arch == ENCODER_CONVNET)
		return convnet_build(net, prefix, x, cfg->width);
	return resnet_build(net, prefix, x, cfg);
}

int mlp_build(struct nn_net *net, const char *prefix, int x, int hidden, int out)
{
	char a[NN_NAME_MAX];
	x = nn_linear(net, PATH(a, prefix, "0"), x, hidden, 1);
	x = nn_relu(net, nn_batchnorm(net, PATH(a, prefix, "1"), x));
	return nn_linear(net, PATH(a, prefix, "3"), x, out, 1);
}
