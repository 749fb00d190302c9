"""Load a byol checkpoint's online encoder into PyTorch and compare features.

Usage: check_export.py CHECKPOINT CASE

CHECKPOINT is a byol safetensors checkpoint; its metadata's "spec" names the
encoder. CASE (safetensors) holds "images" (N, C, H, W) and "features"
(N, D) that byol computed with the same encoder in eval mode. The encoder is
built with tests/ref/models.py (torchvision's layout), loaded from the
online.encoder.* tensors with load_state_dict(strict=True), and run in eval
mode; exits 1 unless max|a - b| / max|b| <= 1e-4.
"""
import json
import sys

import torch

import models
import stio


def main(ckpt_path, case_path):
    tensors, meta = stio.load(ckpt_path)
    spec = json.loads(meta["spec"])
    m = spec["model"]
    net = models.encoder(m["encoder"], m["width"], m["stem"], spec["data"]["channels"])
    prefix = "online.encoder."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    net.load_state_dict(state, strict=True)
    net.eval()
    case, _ = stio.load(case_path)
    with torch.no_grad():
        got = net(case["images"])
    want = case["features"]
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"{len(state)} tensors loaded into {m['encoder']}; max|a-b|/max|b| = {err:.2e}")
    sys.exit(0 if err <= 1e-4 else 1)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: check_export.py CHECKPOINT CASE")
    main(sys.argv[1], sys.argv[2])
