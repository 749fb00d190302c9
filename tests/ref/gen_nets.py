"""Generate whole-network PyTorch reference cases for byol's encoder tests.

Usage: gen_nets.py OUTDIR

Runs models.self_check(), then writes OUTDIR/<case>.safetensors (see stio.py)
per case with metadata model/width/stem/channels/size/batch (plus
in/hidden/out for mlp) and tensors: "param.<name>" for every state_dict entry
before the forward, "input", the train-mode "output", upstream gradient
"dout", the gradients of (output * dout).sum(): "dinput" and
"grad.<name>" per parameter, "buffer.<name>" for every BatchNorm buffer after
the train forward, and "output_eval", an eval-mode forward of the same input.
"""
import copy
import os
import sys

import torch
from torch import nn

import models
import stio

# name: (model, width, stem, channels, size, batch)
ENCODERS = {
    "resnet18-w1-cifar": ("resnet18", 1.0, "cifar", 3, 32, 4),
    "resnet50-w1-imagenet": ("resnet50", 1.0, "imagenet", 3, 64, 4),
    "resnet34-w0.5-imagenet": ("resnet34", 0.5, "imagenet", 3, 64, 4),
    "resnet18-w0.25-cifar-1ch": ("resnet18", 0.25, "cifar", 1, 28, 4),
    "convnet-w1": ("convnet", 1.0, "cifar", 1, 28, 4),
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


def run(model, x, dout):
    """Train forward, backward of (output * dout).sum(), eval forward."""
    x = x.clone().requires_grad_()
    model.train()
    output = model(x)
    (output * dout).sum().backward()
    tensors = {"output": output.detach(), "dinput": x.grad}
    tensors.update({"grad." + k: p.grad for k, p in model.named_parameters()})
    tensors.update({"buffer." + k: b.clone() for k, b in model.named_buffers()})
    model.eval()
    with torch.no_grad():
        tensors["output_eval"] = model(x)
    return tensors


def reference(model, x):
    """All tensors of one network case, in file order.

    Parameters and input are float32. The reference is computed from them in
    float64, so a test measures byol's float32 error alone; PyTorch's own
    float32 results are stored beside it as "f32.<key>", because in deep nets
    (ResNet-50 above all) BatchNorm cancellations and ReLU gates near zero
    make any float32 result differ from the exact one by more than 1e-3.
    """
    randomise_batchnorm(model)
    tensors = {"param." + k: v.clone() for k, v in model.state_dict().items()}
    tensors["input"] = x.clone()
    model64 = copy.deepcopy(model).double()
    with torch.no_grad():
        dout = torch.randn_like(model64.eval()(x.double()).float())
    exact = run(model64, x.double(), dout.double())
    tensors["dout"] = dout
    tensors.update(exact)
    tensors.update({"f32." + k: v for k, v in run(model, x, dout).items()})
    return tensors


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
        path = os.path.join(outdir, name + ".safetensors")
        tensors = {k: v.float() if v.is_floating_point() else v
                   for k, v in reference(model, x).items()}
        stio.save(path, tensors, metadata)
        print(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_nets.py OUTDIR")
    main(sys.argv[1])
