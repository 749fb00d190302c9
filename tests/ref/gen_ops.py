"""Generate per-op PyTorch reference cases for byol's compute-core tests.

Usage: gen_ops.py OUTDIR

Writes OUTDIR/<op>-<NN>.safetensors (see stio.py) with metadata "op" and
"dims" (a JSON object of integers) and tensors: inputs "x" (and "x2"),
parameters "w", "b", BatchNorm running stats before ("running_mean",
"running_var") and after ("running_mean_out", "running_var_out") the forward,
output "y", upstream gradient "dy", and the gradients of (y * dy).sum():
"dx", "dx2", "dw", "db".

The op builders are also used by tests/bench/bench_torch.py.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

import stio

BN_MOMENTUM = 0.1
BN_EPS = 1e-5

CASES = {
    "conv2d": [  # n, c, h, w, oc, k, stride, pad, bias
        (1, 1, 7, 5, 1, 1, 1, 0, 0),
        (2, 3, 9, 9, 4, 3, 1, 1, 1),
        (1, 5, 13, 11, 7, 3, 2, 1, 0),
        (3, 2, 8, 6, 3, 2, 2, 0, 1),
        (2, 4, 11, 13, 5, 5, 1, 2, 1),
        (1, 3, 16, 15, 8, 7, 2, 3, 0),
        (2, 17, 9, 7, 16, 3, 2, 0, 1),
        (4, 8, 10, 10, 17, 1, 2, 0, 0),
        (2, 6, 5, 4, 3, 3, 1, 2, 1),
        (3, 4, 12, 9, 6, 5, 2, 3, 0),
        (2, 2, 3, 2, 3, 5, 1, 2, 1),   # "same" padding, kernel larger than the image
        (3, 6, 1, 6, 4, 3, 1, 1, 0),   # a single row
        (5, 16, 4, 4, 8, 1, 1, 0, 1),  # pointwise, several images per product
    ],
    "batchnorm": [  # n, c, h, w, train, one
        (2, 3, 5, 7, 1, 0),
        (4, 17, 9, 9, 1, 0),
        (1, 5, 7, 5, 0, 0),
        (3, 8, 13, 11, 0, 0),
        (8, 16, 1, 1, 1, 1),
        (2, 1, 1, 1, 1, 1),
        (1, 7, 1, 1, 0, 1),
        (16, 12, 1, 1, 0, 1),
    ],
    "relu": [  # n, c, h, w
        (1, 1, 7, 5),
        (2, 3, 9, 9),
        (3, 17, 13, 11),
        (1, 8, 4, 16),
        (4, 5, 1, 1),
        (2, 2, 10, 3),
    ],
    "maxpool": [  # n, c, h, w, k, stride, pad
        (1, 1, 7, 5, 2, 2, 0),
        (2, 3, 9, 9, 2, 2, 0),
        (2, 4, 9, 9, 3, 2, 1),
        (1, 5, 13, 11, 3, 2, 1),
        (3, 17, 8, 8, 3, 2, 1),
        (2, 3, 7, 10, 3, 1, 1),
        (1, 2, 11, 7, 3, 2, 0),
        (4, 6, 6, 6, 2, 1, 0),
    ],
    "avgpool": [  # n, c, h, w
        (1, 1, 7, 5),
        (2, 3, 9, 9),
        (3, 17, 13, 11),
        (4, 16, 1, 1),
        (2, 5, 4, 4),
        (1, 8, 2, 7),
    ],
    "linear": [  # n, in, out, bias
        (1, 1, 1, 1),
        (1, 7, 5, 0),
        (4, 16, 9, 1),
        (8, 33, 17, 0),
        (3, 128, 64, 1),
        (16, 50, 100, 1),
        (5, 64, 3, 0),
    ],
    "add": [  # n, c, h, w
        (1, 1, 7, 5),
        (2, 3, 9, 9),
        (3, 17, 13, 11),
        (4, 16, 1, 1),
        (1, 8, 4, 16),
        (2, 5, 6, 6),
    ],
}

DIM_NAMES = {
    "conv2d": ("n", "c", "h", "w", "oc", "k", "stride", "pad", "bias"),
    "batchnorm": ("n", "c", "h", "w", "train", "one"),
    "relu": ("n", "c", "h", "w"),
    "maxpool": ("n", "c", "h", "w", "k", "stride", "pad"),
    "avgpool": ("n", "c", "h", "w"),
    "linear": ("n", "in", "out", "bias"),
    "add": ("n", "c", "h", "w"),
}


def image(d):
    """Random NCHW input for dims d."""
    return torch.randn(d["n"], d["c"], d["h"], d["w"])


def build_conv2d(d):
    fan_in = d["c"] * d["k"] * d["k"]
    leaves = {"x": image(d),
              "w": torch.randn(d["oc"], d["c"], d["k"], d["k"]) / fan_in ** 0.5}
    if d["bias"]:
        leaves["b"] = torch.randn(d["oc"])

    def forward(t):
        return F.conv2d(t["x"], t["w"], t.get("b"), stride=d["stride"], padding=d["pad"])
    return leaves, {}, forward


def build_batchnorm(d):
    shape = (d["n"], d["c"]) if d["one"] else (d["n"], d["c"], d["h"], d["w"])
    leaves = {"x": torch.randn(shape),
              "w": torch.rand(d["c"]) + 0.5,
              "b": 0.1 * torch.randn(d["c"])}
    buffers = {"running_mean": 0.1 * torch.randn(d["c"]),
               "running_var": torch.rand(d["c"]) + 0.5}

    def forward(t):
        return F.batch_norm(t["x"], buffers["running_mean"], buffers["running_var"],
                            t["w"], t["b"], training=bool(d["train"]),
                            momentum=BN_MOMENTUM, eps=BN_EPS)
    return leaves, buffers, forward


def build_relu(d):
    return {"x": image(d)}, {}, lambda t: F.relu(t["x"])


def build_maxpool(d):
    def forward(t):
        return F.max_pool2d(t["x"], d["k"], stride=d["stride"], padding=d["pad"])
    return {"x": image(d)}, {}, forward


def build_avgpool(d):
    return {"x": image(d)}, {}, lambda t: F.adaptive_avg_pool2d(t["x"], 1).flatten(1)


def build_linear(d):
    leaves = {"x": torch.randn(d["n"], d["in"]),
              "w": torch.randn(d["out"], d["in"]) / d["in"] ** 0.5}
    if d["bias"]:
        leaves["b"] = torch.randn(d["out"])
    return leaves, {}, lambda t: F.linear(t["x"], t["w"], t.get("b"))


def build_add(d):
    return {"x": image(d), "x2": image(d)}, {}, lambda t: t["x"] + t["x2"]


BUILDERS = {
    "conv2d": build_conv2d,
    "batchnorm": build_batchnorm,
    "relu": build_relu,
    "maxpool": build_maxpool,
    "avgpool": build_avgpool,
    "linear": build_linear,
    "add": build_add,
}


def build(op, dims):
    """Leaves (requiring grad), buffers and forward function for one op."""
    leaves, buffers, forward = BUILDERS[op](dims)
    for tensor in leaves.values():
        tensor.requires_grad_()
    return leaves, buffers, forward


def reference(op, dims):
    """All tensors of one reference case, in file order."""
    leaves, buffers, forward = build(op, dims)
    tensors = {name: t.detach().clone() for name, t in leaves.items()}
    tensors.update({name: t.clone() for name, t in buffers.items()})
    y = forward(leaves)
    dy = torch.randn_like(y)
    (y * dy).sum().backward()
    tensors.update({name + "_out": t.clone() for name, t in buffers.items()})
    tensors["y"] = y.detach()
    tensors["dy"] = dy
    tensors.update({"d" + name: t.grad for name, t in leaves.items()})
    return tensors


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    for op_index, (op, cases) in enumerate(CASES.items()):
        for index, values in enumerate(cases):
            dims = dict(zip(DIM_NAMES[op], values))
            torch.manual_seed(100 * op_index + index)
            path = os.path.join(outdir, f"{op}-{index:02d}.safetensors")
            stio.save(path, reference(op, dims), {"op": op, "dims": json.dumps(dims)})
            print(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_ops.py OUTDIR")
    main(sys.argv[1])
