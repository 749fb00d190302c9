"""PyTorch twins of byol's networks, used to generate references and benchmarks.

resnet() is laid out exactly like torchvision.models.resnet (same module and
parameter names) minus the fc layer; it returns the flattened global-average
pooled features. A width multiplier scales every conv's channel count
independently with width_channels(). convnet() and mlp() are the small
encoder and the projector/predictor head.

Run as a script to execute self_check().
"""
import math

import torch
from torch import nn

STAGE_PLANES = (64, 128, 256, 512)
STAGE_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}
CONVNET_CHANNELS = (32, 64, 128, 256)


def width_channels(channels, width):
    """Channel count of a conv that has `channels` at width 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


def conv(cin, cout, k, stride=1):
    """Bias-free k x k conv with 'same'-style padding k // 2."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def downsample(cin, cout, stride):
    """Projection shortcut (1x1 conv + BN), or None when the identity fits."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3x3 convs; `planes` is the width-1 channel count."""

    def __init__(self, cin, planes, stride, width):
        super().__init__()
        mid = width_channels(planes, width)
        self.out_channels = mid
        self.conv1 = conv(cin, mid, 3, stride)
        self.bn1 = nn.BatchNorm2d(mid)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(mid, mid, 3)
        self.bn2 = nn.BatchNorm2d(mid)
        self.downsample = downsample(cin, mid, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4; `planes` at width 1."""

    def __init__(self, cin, planes, stride, width):
        super().__init__()
        mid = width_channels(planes, width)
        out = width_channels(4 * planes, width)
        self.out_channels = out
        self.conv1 = conv(cin, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = conv(mid, mid, 3, stride)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = conv(mid, out, 1)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample(cin, out, stride)

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def init_weights(model):
    """torchvision's ResNet initialisation (no zero-gamma)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)


class ResNet(nn.Module):
    """torchvision-compatible ResNet trunk without fc; returns [N, D] features."""

    def __init__(self, depth, width, stem, in_channels):
        super().__init__()
        block = Bottleneck if depth == 50 else BasicBlock
        channels = width_channels(64, width)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, channels, 7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        elif stem == "cifar":
            self.conv1 = conv(in_channels, channels, 3)
            self.maxpool = nn.Identity()
        else:
            raise ValueError(f"unknown stem {stem!r}")
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        for stage, (planes, blocks) in enumerate(zip(STAGE_PLANES, STAGE_BLOCKS[depth])):
            layers = []
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(block(channels, planes, stride, width))
                channels = layers[-1].out_channels
            setattr(self, f"layer{stage + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.out_channels = channels
        init_weights(self)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class ConvNet(nn.Module):
    """Four conv-BN-ReLU stages (max-pool between them), then global average pool."""

    def __init__(self, width, in_channels):
        super().__init__()
        layers, cin = [], in_channels
        for index, channels in enumerate(CONVNET_CHANNELS):
            cout = width_channels(channels, width)
            if index > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [conv(cin, cout, 3), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.out_channels = cin
        init_weights(self)

    def forward(self, x):
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)


def resnet(depth, width=1.0, stem="cifar", in_channels=3):
    """ResNet-18/34/50 trunk; see ResNet."""
    if depth not in STAGE_BLOCKS:
        raise ValueError(f"unsupported resnet depth {depth}")
    return ResNet(depth, width, stem, in_channels)


def convnet(width=1.0, in_channels=1):
    """Small 4-stage conv encoder; see ConvNet."""
    return ConvNet(width, in_channels)


def mlp(in_dim, hidden, out):
    """Linear -> BatchNorm1d -> ReLU -> Linear with torch's default init."""
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, out))


def encoder(model, width, stem, channels):
    """Encoder by name as in metadata/shapes.json: convnet or resnet18/34/50."""
    if model == "convnet":
        return convnet(width, channels)
    if model.startswith("resnet"):
        return resnet(int(model[len("resnet"):]), width, stem, channels)
    raise ValueError(f"unknown model {model!r}")


def self_check():
    """Assert resnet18/34/50 at width 1 match torchvision's minus fc.*.

    Compares state_dict keys (in order) and shapes, then loads our weights
    into torchvision's model and compares the pooled features.
    """
    import torchvision
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    for depth in STAGE_BLOCKS:
        theirs = getattr(torchvision.models, f"resnet{depth}")(weights=None)
        theirs.fc = nn.Identity()
        ours = resnet(depth, 1.0, "imagenet", 3)
        expected = [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
        actual = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
        assert actual == expected, f"resnet{depth} state_dict differs from torchvision"
        theirs.load_state_dict(ours.state_dict())
        with torch.no_grad():
            same = torch.allclose(ours.eval()(x), theirs.eval()(x), rtol=1e-5, atol=1e-6)
        assert same, f"resnet{depth} forward differs from torchvision"
    print("models.self_check: resnet18/34/50 match torchvision")


if __name__ == "__main__":
    self_check()
