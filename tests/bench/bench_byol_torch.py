"""A BYOL training step in PyTorch, timed on the same settings as byol-train --bench.

Usage: bench_byol_torch.py --threads N --steps S MODEL WIDTH CHANNELS SIZE BATCH HIDDEN OUT

One step as byol's engine does it: the target encoder and projector forward
both views in training mode without gradients, the online encoder, projector
and predictor forward each view separately, the symmetric normalised-MSE
loss, backward, LARS (decay and trust ratio on weights, plain momentum for
biases and BatchNorm parameters) and the EMA of the target. Synthetic views,
one warm-up step, then S timed steps. Prints one JSON line like byol-train
--bench: {"event": "bench", "impl": "torch", "img_s", "ms_per_step", "peak_rss_mb"}.
"""
import argparse
import copy
import json
import resource
import time

import torch

import models


def loss_fn(p, z):
    """Normalised MSE of prediction p against target z (no gradient)."""
    p = torch.nn.functional.normalize(p, dim=1)
    z = torch.nn.functional.normalize(z.detach(), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()


def lars(params, momenta, lr, wd=1.5e-6, eta=0.02, momentum=0.9):
    """BYOL's LARS update."""
    with torch.no_grad():
        for p, mu in zip(params, momenta):
            g = p.grad
            if p.ndim > 1:
                g = g + wd * p
                pn, gn = p.norm(), g.norm()
                if pn > 0 and gn > 0:
                    g = g * (eta * pn / gn)
            mu.mul_(momentum).add_(g)
            p.sub_(lr * mu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("model")
    ap.add_argument("width", type=float)
    ap.add_argument("channels", type=int)
    ap.add_argument("size", type=int)
    ap.add_argument("batch", type=int)
    ap.add_argument("hidden", type=int)
    ap.add_argument("out", type=int)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    enc = models.encoder(a.model, a.width, "cifar", a.channels)
    proj = models.mlp(enc.out_channels, a.hidden, a.out)
    pred = models.mlp(a.out, a.hidden, a.out)
    tenc, tproj = copy.deepcopy(enc), copy.deepcopy(proj)
    for m in (enc, proj, pred, tenc, tproj):
        m.train()
    params = [p for m in (enc, proj, pred) for p in m.parameters()]
    momenta = [torch.zeros_like(p) for p in params]
    v1 = torch.randn(a.batch, a.channels, a.size, a.size)
    v2 = torch.randn(a.batch, a.channels, a.size, a.size)

    def step():
        with torch.no_grad():
            t1, t2 = tproj(tenc(v1)), tproj(tenc(v2))
        for p in params:
            p.grad = None
        loss = loss_fn(pred(proj(enc(v1))), t2) + loss_fn(pred(proj(enc(v2))), t1)
        loss.backward()
        lars(params, momenta, 0.1)
        with torch.no_grad():
            for t_mod, o_mod in ((tenc, enc), (tproj, proj)):
                for tp, op in zip(t_mod.parameters(), o_mod.parameters()):
                    tp.mul_(0.99).add_(0.01 * op)

    step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"event": "bench", "impl": "torch", "img_s": round(a.steps * a.batch / secs, 1),
                      "ms_per_step": round(1e3 * secs / a.steps, 2),
                      "peak_rss_mb": round(rss, 1), "threads": a.threads}))


if __name__ == "__main__":
    main()
