"""A BYOL training step in PyTorch, timed on the same settings as byol-train --bench.

Usage: bench_byol_torch.py --threads N --steps S [--stem cifar|imagenet]
                           MODEL WIDTH CHANNELS SIZE BATCH HIDDEN OUT

One step as byol's engine does it: the target encoder and projector forward
both views in training mode without gradients, the online encoder, projector
and predictor forward each view separately, the symmetric normalised-MSE
loss, backward, LARS (decay and trust ratio on weights, plain momentum for
biases and BatchNorm parameters) and the EMA of the target, with the
reference's own functions (gen_byol.py). Synthetic views,
one warm-up step, then S timed steps. Prints one JSON line like byol-train
--bench: {"event": "bench", "impl": "torch", "img_s", "ms_per_step", "peak_rss_mb"}.
"""
import argparse
import copy
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import gen_byol  # noqa: E402
import models  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--stem", choices=("cifar", "imagenet"), default="cifar")
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
    gen_byol.OPTIM.update(weight_decay=1.5e-6, eta=0.02, momentum=0.9)
    enc = models.encoder(a.model, a.width, a.stem, a.channels)
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
        loss = (gen_byol.loss_fn(pred(proj(enc(v1))), t2) +
                gen_byol.loss_fn(pred(proj(enc(v2))), t1))
        loss.backward()
        gen_byol.lars_step(params, momenta, 0.1)
        gen_byol.ema(((tenc, enc), (tproj, proj)), 0.99)

    step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"event": "bench", "impl": "torch",
                      "img_s": round(a.steps * a.batch / secs, 1),
                      "ms_per_step": round(1e3 * secs / a.steps, 2),
                      "peak_rss_mb": round(rss, 1), "threads": a.threads}))


if __name__ == "__main__":
    main()
