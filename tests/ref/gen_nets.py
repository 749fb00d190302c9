"""Generate layer-by-layer PyTorch reference cases for byol's network tests.

Usage: gen_nets.py OUTDIR

Runs models.self_check(), then writes OUTDIR/<case>.safetensors (see stio.py)
per case. Metadata: model/width/stem/channels/size/batch (plus in/hidden/out
for mlp) and "graph", byol's node list as JSON: [op, module, in, in2, out]
per node, in the order and with the activation numbering of
daemon/nn/models.c (activation 0 is the input; conv, BN, pools and linear
layers create a new activation, ReLU and the residual add work in place; in2
is -1 but for the add).

The reference is computed node by node in float64, each node fed float32
values: node i's input is the float32 rounding of the reference value of its
input activation, and its output is computed exactly (float64) from that, so
a float32 implementation fed the same input can be held to the rounding
error of that node alone, and a ReLU input near zero opens its gate the same
way in both (a gate that flips in a whole-network float32 run moves later
gradients by percents and says nothing about the kernels). The same holds
backward: node i's upstream gradient is the float32 rounding of the exact sum
of the contributions of its output's consumers. Tensors:

  param.<name>         every state_dict entry before the forward (float32)
  input, dout          the input and the upstream gradient of the output
  node.NNN.y           node NNN's train-mode output from its reference input
  node.NNN.mean/.rstd  BatchNorm: batch mean and 1/sqrt(var + eps) of that input
  node.NNN.dy          the gradient of node NNN's output (all consumers summed)
  grad.<name>          every parameter's gradient from its node
  dinput               the gradient of the input
  buffer.<name>        every BatchNorm buffer after the train-mode forward
  node.NNN.y_eval      node NNN's eval-mode output (running statistics from
                       buffer.*) from its eval-mode reference input
"""
import copy
import json
import os
import sys

import torch
from torch import nn
import torch.nn.functional as F

import models
import stio

# name: (model, width, stem, channels, size, batch)
ENCODERS = {
    "resnet18-w1-cifar": ("resnet18", 1.0, "cifar", 3, 32, 4),
    "resnet50-w1-imagenet": ("resnet50", 1.0, "imagenet", 3, 64, 4),
    "resnet34-w0.5-imagenet": ("resnet34", 0.5, "imagenet", 3, 64, 4),
    "resnet18-w0.25-cifar-1ch": ("resnet18", 0.25, "cifar", 1, 28, 4),
    "convnet-w1": ("convnet", 1.0, "cifar", 1, 28, 4),
    # batch 2 on the test's 2 threads: one image per thread, so every conv takes its
    # one-image paths (product straight into the output; 1x1 input gradient
    # accumulated straight into dinput)
    "resnet50-w0.25-imagenet-b2": ("resnet50", 0.25, "imagenet", 3, 64, 2),
}
# name: (in, hidden, out, batch)
MLPS = {
    "mlp-64-128-32": (64, 128, 32, 8),
}


def randomise_batchnorm(model):
    """Give every BatchNorm non-trivial affine parameters and running stats."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)


class Graph:
    """byol's node list of a model, built as daemon/nn/models.c builds it."""

    def __init__(self, model):
        self.names = {id(m): name for name, m in model.named_modules()}
        self.nodes = []
        self.n_acts = 1

    def _node(self, op, module, x, x2=-1, inplace=False, **attrs):
        out = x if inplace else self.n_acts
        self.n_acts += 0 if inplace else 1
        self.nodes.append({"op": op, "module": module, "in": x, "in2": x2, "out": out, **attrs})
        return out

    def layer(self, module, x):
        """A parametric or pooling module applied to activation x."""
        if isinstance(module, nn.Conv2d):
            return self._node("conv2d", module, x)
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return self._node("batchnorm", module, x)
        if isinstance(module, nn.Linear):
            return self._node("linear", module, x)
        if isinstance(module, nn.MaxPool2d):
            return self._node("maxpool", module, x)
        if isinstance(module, nn.ReLU):
            return self.relu(x)
        raise TypeError(f"no byol node for {module}")

    def relu(self, x):
        return self._node("relu", None, x, inplace=True)

    def add(self, a, b):
        return self._node("add", None, a, b, inplace=True)

    def avgpool(self, x):
        return self._node("avgpool", None, x)

    def describe(self):
        """The "graph" metadata: [op, module name or "", in, in2, out] per node."""
        def name(module):  # byol names the modules with parameters only
            return self.names[id(module)] if list(module.parameters(recurse=False)) else ""
        return json.dumps([[n["op"], name(n["module"]) if n["module"] else "", n["in"],
                            n["in2"], n["out"]] for n in self.nodes], separators=(",", ":"))


def resnet_block(g, block, x):
    """models.c resnet_block: the main branch, then the shortcut, add, ReLU."""
    y = g.relu(g.layer(block.bn1, g.layer(block.conv1, x)))
    y = g.layer(block.bn2, g.layer(block.conv2, y))
    if isinstance(block, models.Bottleneck):
        y = g.layer(block.bn3, g.layer(block.conv3, g.relu(y)))
    shortcut = x
    if block.downsample is not None:
        shortcut = g.layer(block.downsample[1], g.layer(block.downsample[0], x))
    return g.relu(g.add(y, shortcut))


def graph(model):
    """byol's graph of an encoder or MLP head of models.py."""
    g = Graph(model)
    if isinstance(model, models.ResNet):
        x = g.relu(g.layer(model.bn1, g.layer(model.conv1, 0)))
        if isinstance(model.maxpool, nn.MaxPool2d):
            x = g.layer(model.maxpool, x)
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                x = resnet_block(g, block, x)
        g.avgpool(x)
    elif isinstance(model, models.ConvNet):
        x = 0
        for module in model.features:
            x = g.layer(module, x)
        g.avgpool(x)
    else:  # the MLP head
        x = 0
        for module in model:
            x = g.layer(module, x)
    return g


def apply(node, xs, batch_stats_only=False):
    """One node in float64 on its inputs xs, its module in the mode it is in
    (batch_stats_only: train-mode BatchNorm that leaves the running statistics)."""
    op, module = node["op"], node["module"]
    if op == "batchnorm" and batch_stats_only:
        return F.batch_norm(xs[0], None, None, module.weight, module.bias, True, 0.0,
                            module.eps)
    if op in ("conv2d", "batchnorm", "linear", "maxpool"):
        return module(xs[0])
    if op == "relu":
        return F.relu(xs[0])
    if op == "add":
        return xs[0] + xs[1]
    if op == "avgpool":
        return xs[0].mean((2, 3))
    raise ValueError(op)


class Float32Store(dict):
    """The tensors of a case, floating ones kept as float32 (as written) from the start."""

    def __setitem__(self, key, t):
        super().__setitem__(key, t.detach().float() if t.is_floating_point() else t)

    def update(self, items):
        for key, t in dict(items).items():
            self[key] = t


def f32(t):
    """The float32 rounding of t, as float64 (what byol is fed)."""
    return t.detach().float().double()


def reference(model, x):
    """All tensors of one network case, in file order; and its graph."""
    randomise_batchnorm(model)
    tensors = Float32Store({})
    tensors.update({"param." + k: v.clone() for k, v in model.state_dict().items()})
    tensors["input"] = x.clone()
    model64 = copy.deepcopy(model).double()
    with torch.no_grad():
        dout = torch.randn_like(model64.eval()(x.double()).float())
    tensors["dout"] = dout
    g = graph(model64)
    nodes = g.nodes

    # Forward, train mode: each node from the rounded reference value of its inputs.
    model64.train()
    value = {0: f32(x.double())}
    inputs = []  # per node: its inputs, for the backward
    with torch.no_grad():
        for i, node in enumerate(nodes):
            ins = [value[node["in"]]] + ([value[node["in2"]]] if node["in2"] >= 0 else [])
            if node["op"] == "batchnorm":
                dims = (0, 2, 3) if ins[0].dim() == 4 else (0,)
                var = ins[0].var(dims, unbiased=False)
                tensors[f"node.{i:03d}.mean"] = ins[0].mean(dims)
                tensors[f"node.{i:03d}.rstd"] = 1.0 / torch.sqrt(var + node["module"].eps)
            y = apply(node, ins)
            tensors[f"node.{i:03d}.y"] = y
            value[node["out"]] = f32(y)
            inputs.append(ins)

    # Backward: node i gets the rounded sum of its output's consumers' contributions.
    grad = {nodes[-1]["out"]: dout.double()}
    for i in reversed(range(len(nodes))):
        node = nodes[i]
        leaves = [t.clone().requires_grad_() for t in inputs[i]]
        inputs[i] = None
        y = apply(node, leaves, batch_stats_only=True)
        dy = f32(grad.pop(node["out"]))
        tensors[f"node.{i:03d}.dy"] = dy
        params = list(node["module"].parameters()) if node["module"] is not None else []
        got = torch.autograd.grad(y, leaves + params, dy, allow_unused=True)
        for a, d in zip([node["in"], node["in2"]], got[:len(leaves)]):
            grad[a] = grad[a] + d if a in grad else d
        names = [n for n, _ in node["module"].named_parameters()] if params else []
        for pname, d in zip(names, got[len(leaves):]):
            tensors[f"grad.{g.names[id(node['module'])]}.{pname}"] = d
    tensors["dinput"] = grad.pop(0)
    assert not grad, f"gradients never consumed: {sorted(grad)}"
    tensors.update({"buffer." + k: b.clone() for k, b in model64.named_buffers()})

    # Forward, eval mode, with the running statistics the train forward left.
    model64.eval()
    value = {0: f32(x.double())}
    with torch.no_grad():
        for i, node in enumerate(nodes):
            ins = [node["in"]] + ([node["in2"]] if node["in2"] >= 0 else [])
            y = apply(node, [value[a] for a in ins])
            tensors[f"node.{i:03d}.y_eval"] = y
            value[node["out"]] = f32(y)
    return tensors, g


def encoder_case(spec):
    """Model, input and metadata of one encoder case."""
    name, width, stem, channels, size, batch = spec
    model = models.encoder(name, width, stem, channels)
    x = torch.randn(batch, channels, size, size)
    metadata = {"model": name, "width": width, "stem": stem, "channels": channels,
                "size": size, "batch": batch}
    return model, x, metadata


def mlp_case(spec):
    """Model, input and metadata of one MLP case (stem "none", size 1)."""
    in_dim, hidden, out, batch = spec
    model = models.mlp(in_dim, hidden, out)
    x = torch.randn(batch, in_dim)
    metadata = {"model": "mlp", "width": 1.0, "stem": "none", "channels": in_dim,
                "size": 1, "batch": batch, "in": in_dim, "hidden": hidden, "out": out}
    return model, x, metadata


def main(outdir):
    models.self_check()
    os.makedirs(outdir, exist_ok=True)
    cases = [(name, encoder_case, spec) for name, spec in ENCODERS.items()]
    cases += [(name, mlp_case, spec) for name, spec in MLPS.items()]
    for seed, (name, make_case, spec) in enumerate(cases):
        torch.manual_seed(seed)
        model, x, metadata = make_case(spec)
        tensors, g = reference(model, x)
        metadata["graph"] = g.describe()
        path = os.path.join(outdir, name + ".safetensors")
        stio.save(path, tensors, metadata)
        print(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_nets.py OUTDIR")
    main(sys.argv[1])
