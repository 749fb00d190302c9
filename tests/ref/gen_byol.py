"""Reference BYOL training steps in PyTorch, for byol's step test.

Usage: gen_byol.py OUTDIR

An independent implementation of BYOL (Grill et al. 2020) in float64: online encoder →
projector → predictor and a target encoder → projector that starts equal,
each view forwarded separately (BatchNorm statistics per view, the target's
in training mode on its own statistics), the symmetric normalised-MSE loss
with stop-gradient on the target, LARS (weight decay and trust ratio, skipped
for biases and BatchNorm parameters), linear warm-up then cosine learning
rate, the cosine τ schedule and the EMA of the target's parameters after every
step. For each case it writes OUTDIR/<case>.safetensors with:

  init.<part>.<name>   every parameter and buffer before the first step
                       (part: online.encoder, online.projector,
                       online.predictor; the target starts as their copy)
  view1.<k>, view2.<k> the two views of step k (float32)
  grad<k>.<part>.<name> the gradient of step k
  final.<part>.<name>  parameters and buffers after the last step
                       (also target.encoder and target.projector)
  momentum.<part>.<name> LARS momentum after the last step
  loss, lr, tau        per step

metadata: the network and optimizer settings.
"""
import copy
import math
import os
import sys

import torch
from torch import nn

import models
import stio

# name: (model, width, stem, channels, size, batch, heads (hidden, out), steps, warm-up)
# In a ResNet, now and then a ReLU input lies within float32 rounding of zero and
# its gate opens differently in float32 than in the exact run, which moves later
# gradients by up to percents (PyTorch's own float32 run too, on most seeds), so
# the ResNet case runs one full step; the convnet case runs five.
CASES = {
    "byol-convnet": ("convnet", 0.25, "cifar", 1, 16, 8, (32, 16), 5, 2),
    "byol-resnet18": ("resnet18", 0.125, "cifar", 3, 16, 16, (64, 16), 1, 0),
}
OPTIM = {"base_lr": 8.0, "weight_decay": 0.1, "momentum": 0.9, "eta": 0.02,
         "tau_base": 0.9}


def schedules(k, peak_lr, total, w):
    """lr and tau of step k (0-based) out of total, w of them warm-up (the paper's schedules)."""
    if k < w:
        lr = peak_lr * k / w
    else:
        lr = peak_lr * 0.5 * (1 + math.cos(math.pi * (k - w) / (total - w)))
    tau = 1 - (1 - OPTIM["tau_base"]) * (math.cos(math.pi * k / total) + 1) / 2
    return lr, tau


def normalise(x):
    """x / sqrt(max(sum x^2, 1e-12)) per row."""
    return x / torch.sqrt(torch.clamp((x * x).sum(dim=1, keepdim=True), min=1e-12))


def loss_fn(p, z):
    """Mean over the batch of ||p^ - z^||^2; z carries no gradient."""
    return ((normalise(p) - normalise(z.detach())) ** 2).sum(dim=1).mean()


def lars_step(params, momenta, lr):
    """The paper's LARS: decay, trust ratio, momentum, update; 1-D tensors skip the first two."""
    with torch.no_grad():
        for p, mu in zip(params, momenta):
            g = p.grad.clone()
            if p.ndim > 1:
                g += OPTIM["weight_decay"] * p
                pn, gn = p.norm(), g.norm()
                if pn > 0 and gn > 0:
                    g *= OPTIM["eta"] * pn / gn
            mu.mul_(OPTIM["momentum"]).add_(g)
            p.sub_(lr * mu)


def ema(pairs, tau):
    """target <- tau * target + (1 - tau) * online over (target, online) module pairs."""
    with torch.no_grad():
        for t_mod, o_mod in pairs:
            for tp, op in zip(t_mod.parameters(), o_mod.parameters()):
                tp.mul_(tau).add_((1 - tau) * op)


def state(prefix, module):
    """Parameters and buffers of a module under a prefix, as float32 (counts as int64)."""
    return {f"{prefix}.{k}": (v.float() if v.is_floating_point() else v).clone()
            for k, v in module.state_dict().items()}


def run_case(spec):
    """All tensors of one case."""
    name, width, stem, channels, size, batch, (hidden, out), steps, warmup = spec
    online = {"online.encoder": models.encoder(name, width, stem, channels)}
    dim = online["online.encoder"].out_channels
    online["online.projector"] = models.mlp(dim, hidden, out)
    online["online.predictor"] = models.mlp(out, hidden, out)
    tensors = {}
    for part, module in online.items():
        tensors.update(state("init." + part, module))
        module.double().train()
    target = {"target.encoder": copy.deepcopy(online["online.encoder"]),
              "target.projector": copy.deepcopy(online["online.projector"])}
    params = [p for m in online.values() for p in m.parameters()]
    momenta = [torch.zeros_like(p) for p in params]
    peak_lr = OPTIM["base_lr"] * batch / 256
    losses, lrs, taus = [], [], []
    enc, proj, pred = online.values()
    tenc, tproj = target.values()
    for k in range(steps):
        views = [torch.rand(batch, channels, size, size) for _ in range(2)]
        tensors[f"view1.{k}"], tensors[f"view2.{k}"] = views
        v1, v2 = (v.double() for v in views)
        with torch.no_grad():
            t1, t2 = tproj(tenc(v1)), tproj(tenc(v2))
        for p in params:
            p.grad = None
        loss = loss_fn(pred(proj(enc(v1))), t2) + loss_fn(pred(proj(enc(v2))), t1)
        loss.backward()
        for part, module in online.items():
            tensors.update({f"grad{k}.{part}.{n}": p.grad.float().clone()
                            for n, p in module.named_parameters()})
        lr, tau = schedules(k, peak_lr, steps, warmup)
        lars_step(params, momenta, lr)
        ema(((tenc, enc), (tproj, proj)), tau)
        losses.append(loss.item())
        lrs.append(lr)
        taus.append(tau)
    for part, module in {**online, **target}.items():
        tensors.update(state("final." + part, module))
    i = 0
    for part, module in online.items():
        for n, _ in module.named_parameters():
            tensors[f"momentum.{part}.{n}"] = momenta[i].float()
            i += 1
    tensors["loss"] = torch.tensor(losses, dtype=torch.float64).float()
    tensors["lr"] = torch.tensor(lrs, dtype=torch.float64).float()
    tensors["tau"] = torch.tensor(taus, dtype=torch.float64).float()
    return tensors


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    for seed, (case, spec) in enumerate(CASES.items()):
        torch.manual_seed(seed)
        name, width, stem, channels, size, batch, (hidden, out), steps, warmup = spec
        metadata = {"model": name, "width": width, "stem": stem, "channels": channels,
                    "size": size, "batch": batch, "hidden": hidden, "out": out,
                    "steps": steps, "warmup_steps": warmup, **OPTIM}
        path = os.path.join(outdir, case + ".safetensors")
        stio.save(path, run_case(spec), {k: str(v) for k, v in metadata.items()})
        print(path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gen_byol.py OUTDIR")
    main(sys.argv[1])
